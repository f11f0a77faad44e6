//! Opening MRT files: raw, gzip or bzip2, recognised by their first bytes (not the name).
//!
//! oneio (bgpkit-parser's reader) reads only the first stream of a multi-stream bz2 or a
//! multi-member gz file and reads raw and gz files unbuffered, so we decode ourselves.
//!
//! bzip2 is decoded by mibz2 rather than libbzip2: it makes every check libbzip2 makes (each
//! block's CRC before any of its bytes are handed out, each stream's CRC at its end), decoded
//! the real archive files here byte for byte like libbzip2, and is about 2.5 times faster on
//! one core. It also decodes the blocks of one file on several threads, which a single large
//! file (a RIB) needs to use more than one core.

use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

const BUF: usize = 256 * 1024;

/// Compressed size from which a bzip2 file is worth decoding on several threads: about ten
/// blocks of MRT at level 9. Below, the threads would cost more than they save.
pub const PARALLEL_MIN: u64 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
}

pub fn sniff(head: &[u8]) -> Compression {
    match head {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [b'B', b'Z', b'h', ..] => Compression::Bzip2,
        _ => Compression::None,
    }
}

/// A buffered reader over the decompressed content of `path`, decoded on this thread.
pub fn open(path: &Path) -> std::io::Result<Box<dyn Read + Send>> {
    open_on(path, 1)
}

/// Like [`open`], but a bzip2 file of [`PARALLEL_MIN`] bytes or more has its blocks decoded
/// by `threads` worker threads (while this thread reads what they decoded, in order).
pub fn open_on(path: &Path, threads: usize) -> std::io::Result<Box<dyn Read + Send>> {
    let (kind, file) = open_sniffed(path)?;
    let size = file.get_ref().metadata().map_or(0, |m| m.len());
    Ok(match kind {
        Compression::Gzip => Box::new(BufReader::with_capacity(BUF, MultiGzDecoder::new(file))),
        Compression::Bzip2 if in_parallel(size, threads) => Box::new(BufReader::with_capacity(
            BUF,
            mibz2::BzReader::parallel(file, threads),
        )),
        Compression::Bzip2 => Box::new(BufReader::with_capacity(BUF, mibz2::BzReader::new(file))),
        Compression::None => Box::new(file),
    })
}

/// Whether a bzip2 file of `size` bytes is decoded on `threads` threads rather than one.
fn in_parallel(size: u64, threads: usize) -> bool {
    threads > 1 && size >= PARALLEL_MIN
}

fn open_sniffed(path: &Path) -> std::io::Result<(Compression, BufReader<File>)> {
    let mut file = BufReader::with_capacity(BUF, File::open(path)?);
    let head = {
        use std::io::BufRead;
        file.fill_buf()?
            .get(..3)
            .map(<[u8]>::to_vec)
            .unwrap_or_default()
    };
    Ok((sniff(&head), file))
}

/// Decompressed bytes one file may take in memory before it is streamed instead
/// [default of `--max-in-memory`]. Real update files expand 5–12 times, so a file under the
/// 16 MiB compressed limit stays below this; a decompression bomb (one record repeated) does
/// not, and must not be held whole whatever its ratio.
pub const DEFAULT_MAX_DECODED: u64 = 256 * 1024 * 1024;

/// A file decompressed into memory, or why it was not.
#[derive(Debug)]
pub enum Whole {
    /// The content; on a decoding error, the bytes before it and the error.
    Bytes(Vec<u8>, Option<std::io::Error>),
    /// It expands beyond the limit: read it as a stream.
    TooLarge,
}

/// Decompress a whole file into memory (used to decompress update files ahead of the parser
/// on another core), unless it expands beyond `limit` bytes: then [`Whole::TooLarge`], having
/// never held more than about `limit`. The decoder writes straight into a vector sized for
/// the usual MRT compression ratio, so the bytes are not copied through an extra buffer.
pub fn read_all_within(path: &Path, limit: u64) -> Whole {
    let compressed = match std::fs::read(path) {
        Ok(c) => c,
        Err(e) => return Whole::Bytes(Vec::new(), Some(e)),
    };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let guess = compressed.len().saturating_mul(12).min(limit).min(1 << 30);
    let mut out = Vec::with_capacity(guess);
    let result = match sniff(&compressed) {
        Compression::Gzip => expand_into(MultiGzDecoder::new(&compressed[..]), &mut out, limit),
        Compression::Bzip2 => expand_into(mibz2::BzReader::new(&compressed[..]), &mut out, limit),
        Compression::None if compressed.len() > limit => return Whole::TooLarge,
        Compression::None => return Whole::Bytes(compressed, None),
    };
    match result {
        Err(Expand::TooLarge) => Whole::TooLarge,
        Err(Expand::Io(e)) => Whole::Bytes(out, Some(e)),
        Ok(()) => Whole::Bytes(out, None),
    }
}

/// [`read_all_within`] without a limit that matters (tools and benches on trusted files).
pub fn read_all(path: &Path) -> (Vec<u8>, Option<std::io::Error>) {
    match read_all_within(path, u64::MAX) {
        Whole::Bytes(b, e) => (b, e),
        Whole::TooLarge => (Vec::new(), Some(std::io::Error::other("too large"))),
    }
}

/// Why decompressing into memory stopped.
enum Expand {
    TooLarge,
    Io(std::io::Error),
}

impl From<std::io::Error> for Expand {
    fn from(e: std::io::Error) -> Self {
        Expand::Io(e)
    }
}

/// Everything `decoder` yields into `out`, stopping once it passes `limit`. The decoders
/// read every gzip member or bzip2 stream of the input, one after another.
fn expand_into(decoder: impl Read, out: &mut Vec<u8>, limit: usize) -> Result<(), Expand> {
    // One byte more than the limit tells "exactly the limit" from "beyond it"; `take` keeps
    // a decompression bomb from making us allocate more than that.
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    decoder.take(cap).read_to_end(out)?;
    if out.len() > limit {
        return Err(Expand::TooLarge);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// `len` bytes of 6-bit noise: they compress to about three quarters, so a few MB make a
    /// file of many bzip2 blocks and more than [`PARALLEL_MIN`].
    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 58) as u8
            })
            .collect()
    }

    /// Two bzip2 streams one after the other (as pbzip2 writes), at level 1 (100 kB blocks).
    fn two_streams(a: &[u8], b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for part in [a, b] {
            let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            enc.write_all(part).expect("in memory");
            out.extend(enc.finish().expect("in memory"));
        }
        out
    }

    fn read_through(path: &Path, threads: usize) -> (Vec<u8>, Option<std::io::Error>) {
        let mut out = Vec::new();
        let err = open_on(path, threads)
            .and_then(|mut r| r.read_to_end(&mut out))
            .err();
        (out, err)
    }

    #[test]
    fn bzip2_decoded_on_several_threads_equals_the_original() {
        let (a, b) = (noise(3 << 20, 1), noise(1 << 20, 2));
        let compressed = two_streams(&a, &b);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("rib.bz2");
        std::fs::write(&path, &compressed).expect("write");
        assert!(
            in_parallel(compressed.len() as u64, 2),
            "the file is large enough"
        );
        let whole = [a, b].concat();
        for threads in [1, 2, 3] {
            let (out, err) = read_through(&path, threads);
            assert!(err.is_none(), "{threads} threads: {err:?}");
            assert!(out == whole, "{threads} threads: the bytes written");
        }
        let (out, err) = read_all(&path);
        assert!(
            err.is_none() && out == whole,
            "in memory: the bytes written"
        );
    }

    #[test]
    fn a_damaged_or_cut_bzip2_file_yields_the_blocks_before_the_damage_and_says_what() {
        let original = noise(3 << 20, 3);
        let compressed = two_streams(&original, &[]);
        let dir = tempfile::tempdir().expect("tempdir");
        let damaged = dir.path().join("damaged.bz2");
        let mut bytes = compressed.clone();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x10;
        std::fs::write(&damaged, &bytes).expect("write");
        let cut = dir.path().join("cut.bz2");
        std::fs::write(&cut, &compressed[..middle]).expect("write");

        for (path, says) in [
            (&damaged, "compressed data is corrupt"),
            (&cut, "truncated"),
        ] {
            let results: Vec<_> = [1, 2].iter().map(|t| read_through(path, *t)).collect();
            let (in_memory, memory_err) = read_all(path);
            for (out, err) in results
                .iter()
                .map(|(o, e)| (o, e.as_ref()))
                .chain([(&in_memory, memory_err.as_ref())])
            {
                let err = err.expect("an error");
                assert!(
                    super::super::read_error(err).contains(says),
                    "{}: {}",
                    path.display(),
                    super::super::read_error(err)
                );
                // The blocks before the damage (in the middle), and nothing after it.
                assert!(out.len() > 100_000 && out.len() < original.len() * 3 / 4);
                assert!(original.starts_with(out));
            }
            assert_eq!(
                results[0].0, results[1].0,
                "one thread or two: the same bytes"
            );
            assert_eq!(
                results[0].0, in_memory,
                "streamed or in memory: the same bytes"
            );
        }
    }
}
