//! Lines of bounded length. Text input read line by line (telemetry, events, the monitor's
//! alert file) is wrapped in [`LineCap`], so an endless line (`/dev/zero`, a binary file, a
//! file cut without newlines) is a named error after `limit` bytes instead of memory growing
//! until the process is killed.

use crate::units::size_text;
use std::fmt;
use std::io::{self, Read};

/// A line longer than the limit: which line (1-based) and the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTooLong {
    pub line: u64,
    pub limit: u64,
}

impl fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {} is longer than {}",
            self.line,
            size_text(self.limit)
        )
    }
}

impl std::error::Error for LineTooLong {}

impl LineTooLong {
    /// The [`LineTooLong`] inside an I/O error from a [`LineCap`], if that is what it is.
    pub fn of(e: &io::Error) -> Option<LineTooLong> {
        e.get_ref()?.downcast_ref::<LineTooLong>().copied()
    }
}

/// A reader that fails with [`LineTooLong`] (as `InvalidData`) once a line runs past `limit`
/// bytes (the newline not counted). Readers above it (`BufReader`, csv) buffer at most one
/// line, so memory stays bounded whatever the input.
pub struct LineCap<R> {
    inner: R,
    limit: u64,
    /// Bytes of the current line read so far.
    run: u64,
    /// Lines completed so far.
    done: u64,
    /// The line over the limit, reported by the next read once the bytes before it are out.
    failed: Option<LineTooLong>,
}

impl<R: Read> LineCap<R> {
    pub fn new(inner: R, limit: u64) -> Self {
        LineCap {
            inner,
            limit,
            run: 0,
            done: 0,
            failed: None,
        }
    }
}

impl<R: Read> Read for LineCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(long) = self.failed {
            return Err(io::Error::new(io::ErrorKind::InvalidData, long));
        }
        let n = self.inner.read(buf)?;
        let mut pos = 0;
        for piece in buf[..n].split_inclusive(|b| *b == b'\n') {
            let ends = piece.last() == Some(&b'\n');
            let len = (piece.len() - usize::from(ends)) as u64;
            if self.run + len > self.limit {
                // Hand out the lines before it and the first `limit` bytes of the long one
                // (a reader above sees whole earlier lines); the next read is the error.
                let keep = pos + usize::try_from(self.limit - self.run).unwrap_or(0);
                self.failed = Some(LineTooLong {
                    line: self.done + 1,
                    limit: self.limit,
                });
                return if keep > 0 { Ok(keep) } else { self.read(buf) };
            }
            self.run += len;
            pos += piece.len();
            if ends {
                self.run = 0;
                self.done += 1;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};

    #[test]
    fn lines_within_the_limit_pass_and_a_longer_one_is_named() {
        let text = "short\nexactly8\n123456789\nafter\n";
        let mut lines = BufReader::new(LineCap::new(text.as_bytes(), 8)).lines();
        assert_eq!(lines.next().map(Result::ok), Some(Some("short".into())));
        assert_eq!(lines.next().map(Result::ok), Some(Some("exactly8".into())));
        let e = lines
            .next()
            .and_then(Result::err)
            .expect("line 3 is too long");
        assert_eq!(LineTooLong::of(&e), Some(LineTooLong { line: 3, limit: 8 }));
        assert_eq!(e.to_string(), "line 3 is longer than 8 bytes");
    }

    #[test]
    fn an_endless_line_stops_at_the_limit() {
        let mut buf = Vec::new();
        let e = BufReader::new(LineCap::new(io::repeat(0), 1 << 20))
            .read_until(b'\n', &mut buf)
            .expect_err("endless");
        assert_eq!(LineTooLong::of(&e).map(|l| l.line), Some(1));
        assert!(buf.len() <= 1 << 20, "{}", buf.len());
    }
}
