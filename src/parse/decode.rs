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
    let compressed = std::fs::metadata(path).map_or(0, |m| m.len() as usize);
    let mut out = Vec::with_capacity(compressed.saturating_mul(12).min(1 << 30));
    let result = open_sniffed(path).and_then(|(kind, mut file)| match kind {
        Compression::Gzip => MultiGzDecoder::new(file).read_to_end(&mut out),
        Compression::Bzip2 => MultiBzDecoder::new(file).read_to_end(&mut out),
        Compression::None => file.read_to_end(&mut out),
    });
    (out, result.err())
}
