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

/// Decompress a whole file into memory (used to decompress update files ahead of the parser
/// on another core). On a decoding error the bytes decoded so far are returned with it.
/// The decoder writes straight into a vector sized for the usual MRT compression ratio, so
/// the bytes are not copied through an extra buffer or a growing vector.
pub fn read_all(path: &Path) -> (Vec<u8>, Option<std::io::Error>) {
    let compressed = match std::fs::read(path) {
        Ok(c) => c,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut out = Vec::with_capacity(compressed.len().saturating_mul(12).min(1 << 30));
    let result = match sniff(&compressed) {
        Compression::Gzip => MultiGzDecoder::new(compressed.as_slice())
            .read_to_end(&mut out)
            .map(drop),
        Compression::Bzip2 => bunzip2_into(&compressed, &mut out),
        Compression::None => return (compressed, None),
    };
    (out, result.err())
}

/// Decode every bzip2 stream of `input` into the spare capacity of `out`, growing it as
/// needed. By hand rather than through `Read`: `read_to_end` zeroes the buffer before the
/// decoder overwrites it, which cost a few percent of a scan.
fn bunzip2_into(mut input: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
    use bzip2::{Decompress, Status};
    let corrupt = |e: bzip2::Error| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("bzip2 data invalid: {e}"),
        )
    };
    let mut decoder = Decompress::new(false);
    loop {
        if out.capacity() - out.len() < (1 << 16) {
            out.reserve((out.len() / 2).max(1 << 20));
        }
        let (in_before, out_before) = (decoder.total_in(), decoder.total_out());
        let status = decoder.decompress_vec(input, out).map_err(corrupt)?;
        input = &input[(decoder.total_in() - in_before) as usize..];
        match status {
            // A multi-stream file (pbzip2, concatenated dumps): the next stream follows.
            Status::StreamEnd if input.is_empty() => return Ok(()),
            Status::StreamEnd => decoder = Decompress::new(false),
            _ if input.is_empty() && decoder.total_out() == out_before => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "bzip2 stream ends early",
                ));
            }
            _ => {}
        }
    }
}
