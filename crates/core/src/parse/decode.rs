//! Opening MRT files: raw, gzip or bzip2, recognised by their first bytes (not the name).
//!
//! oneio (bgpkit-parser's reader) reads only the first stream of a multi-stream bz2 or a
//! multi-member gz file and reads raw and gz files unbuffered, so we decode ourselves.

use bzip2::read::MultiBzDecoder;
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

const BUF: usize = 256 * 1024;

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

/// A buffered reader over the decompressed content of `path`.
pub fn open(path: &Path) -> std::io::Result<Box<dyn Read + Send>> {
    let (kind, file) = open_sniffed(path)?;
    Ok(match kind {
        Compression::Gzip => Box::new(BufReader::with_capacity(BUF, MultiGzDecoder::new(file))),
        Compression::Bzip2 => Box::new(BufReader::with_capacity(BUF, MultiBzDecoder::new(file))),
        Compression::None => Box::new(file),
    })
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
        Compression::Gzip => gunzip_into(&compressed, &mut out, limit),
        Compression::Bzip2 => bunzip2_into(&compressed, &mut out, limit),
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

/// Every gzip member of `input` into `out`, stopping once it passes `limit`.
fn gunzip_into(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), Expand> {
    // One byte more than the limit tells "exactly the limit" from "beyond it".
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    MultiGzDecoder::new(input).take(cap).read_to_end(out)?;
    if out.len() > limit {
        return Err(Expand::TooLarge);
    }
    Ok(())
}

/// Decode every bzip2 stream of `input` into the spare capacity of `out`, growing it as
/// needed but never beyond `limit` (plus one step). By hand rather than through `Read`:
/// `read_to_end` zeroes the buffer before the decoder overwrites it, which cost a few percent
/// of a scan.
fn bunzip2_into(mut input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), Expand> {
    use bzip2::{Decompress, Status};
    const STEP: usize = 1 << 16;
    let corrupt = |e: bzip2::Error| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("bzip2 data invalid: {e}"),
        )
    };
    let mut decoder = Decompress::new(false);
    loop {
        if out.len() > limit {
            return Err(Expand::TooLarge);
        }
        if out.capacity() - out.len() < STEP {
            // Grow by half, as a vector would, but not far past the limit: the capacity,
            // not the length, is what a bomb would make us allocate.
            let room = limit.saturating_sub(out.len()).saturating_add(STEP);
            out.reserve((out.len() / 2).max(1 << 20).min(room));
        }
        let (in_before, out_before) = (decoder.total_in(), decoder.total_out());
        let status = decoder.decompress_vec(input, out).map_err(corrupt)?;
        let used = usize::try_from(decoder.total_in() - in_before).unwrap_or(input.len());
        input = input.get(used..).unwrap_or_default();
        match status {
            // A multi-stream file (pbzip2, concatenated dumps): the next stream follows.
            Status::StreamEnd if input.is_empty() => return Ok(()),
            Status::StreamEnd => decoder = Decompress::new(false),
            _ if input.is_empty() && decoder.total_out() == out_before => {
                return Err(Expand::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "bzip2 stream ends early",
                )));
            }
            _ => {}
        }
    }
}
