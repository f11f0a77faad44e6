//! Decompressing a stream's update files ahead of its parser, on every core but without
//! over-subscribing them.
//!
//! `helpers` threads take the next file not yet started and decode it into memory; the
//! parser takes the files back in order. When the file it needs next is still being decoded,
//! the parser does not sit idle: it decodes a later file of the window itself (or the file it
//! needs, if nobody has started it). So `helpers + 1` threads are busy until the end and never
//! more: on the 2-core bench machine a third decoder competing for the cores cost about 30%
//! more CPU (decoders thrash each other's caches).
//!
//! At most `window` files are decoded or being decoded beyond the last one handed out, and
//! none is held whole beyond `max_decoded` bytes (a file that expands further is streamed
//! instead), which bounds memory to `window + 1` times that, whatever the compression ratio.
//!
//! Hand-written (a mutex, a condition variable and a map) rather than on a thread-pool crate:
//! the pool has to hand results back in order, bound the read-ahead, and let the consumer
//! take part without ever blocking on a job it does not need yet.

use super::decode;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;

/// A decompressed file, or the error that stopped decompression (with the bytes before it).
#[derive(Debug)]
pub enum Decoded {
    Bytes(Vec<u8>, Option<std::io::Error>),
    /// Larger than [`MAX_IN_MEMORY`] compressed, or than the decoding limit decompressed:
    /// read it as a stream instead.
    TooLarge,
    /// The file never became available (a failed download): the reason.
    Unavailable(String),
}

/// Compressed size above which a file is streamed rather than decoded into memory (a RIB
/// named like an update file, a day of updates in one file).
pub const MAX_IN_MEMORY: u64 = 16 * 1024 * 1024;

/// Waits until a file may be read (downloaded), or says why it never will be; and says
/// without waiting whether that is already settled.
pub trait Gate: Send + Sync {
    fn wait(&self, path: &std::path::Path) -> Result<(), String>;
    fn settled(&self, path: &std::path::Path) -> bool;
}

/// Local files: always there.
pub struct Local;

impl Gate for Local {
    fn wait(&self, _: &std::path::Path) -> Result<(), String> {
        Ok(())
    }
    fn settled(&self, _: &std::path::Path) -> bool {
        true
    }
}

struct Shared {
    files: Vec<PathBuf>,
    window: usize,
    max_decoded: u64,
    gate: Arc<dyn Gate>,
    state: Mutex<Progress>,
    changed: Condvar,
}

#[derive(Default)]
struct Progress {
    /// The first file nobody has started.
    next_start: usize,
    /// The next file the parser will take.
    next_take: usize,
    /// Decoded, not taken yet.
    done: BTreeMap<usize, Decoded>,
    /// The parser stopped early: helpers stop too.
    closed: bool,
}

/// How many threads decode, how far ahead, and how large a file may be held whole.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub helpers: usize,
    pub window: usize,
    /// Decompressed bytes of one file held in memory; beyond, it is streamed.
    pub max_decoded: u64,
}

/// Files decoded ahead on helper threads; take them back in order with [`Ahead::take`].
pub struct Ahead {
    shared: Arc<Shared>,
    helpers: Vec<thread::JoinHandle<()>>,
}

impl Ahead {
    /// Start `helpers` threads decoding `files` (in the order they will be taken), at most
    /// `window` (at least `helpers + 1`) beyond the last file taken, each at most
    /// `limits.max_decoded` bytes decompressed.
    pub fn start(files: Vec<PathBuf>, limits: Limits, gate: Arc<dyn Gate>) -> Self {
        let Limits {
            helpers,
            window,
            max_decoded,
        } = limits;
        let shared = Arc::new(Shared {
            files,
            window: window.max(helpers + 1),
            max_decoded,
            gate,
            state: Mutex::new(Progress::default()),
            changed: Condvar::new(),
        });
        let helpers = (0..helpers)
            .map(|_| {
                let shared = Arc::clone(&shared);
                thread::spawn(move || shared.help())
            })
            .collect();
        Ahead { shared, helpers }
    }

    /// The next file, decoded. `None` once every file has been taken.
    pub fn take(&mut self) -> Option<Decoded> {
        let shared = &self.shared;
        let mut progress = shared.lock();
        let wanted = progress.next_take;
        if wanted >= shared.files.len() {
            return None;
        }
        loop {
            if let Some(decoded) = progress.done.remove(&wanted) {
                progress.next_take += 1;
                drop(progress);
                shared.changed.notify_all();
                return Some(decoded);
            }
            // Nobody started it: decode it here. Started elsewhere: decode a later one
            // meanwhile if one is free and its file is there, else wait.
            let own = progress.next_start == wanted;
            let spare = progress.next_start < shared.files.len()
                && shared.has_room(&progress)
                && shared.gate.settled(&shared.files[progress.next_start]);
            if own || spare {
                progress = shared.decode_next(progress);
            } else {
                progress = shared.wait(progress);
            }
        }
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
        for h in self.helpers.drain(..) {
            // A helper that panicked has nothing left to clean up.
            let _ = h.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Progress> {
        // Every change under the lock is a single step, so the state is whole even if a
        // holder panicked.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, Progress>) -> MutexGuard<'a, Progress> {
        self.changed.wait(guard).unwrap_or_else(|e| e.into_inner())
    }

    fn has_room(&self, p: &Progress) -> bool {
        p.next_start < p.next_take + self.window
    }

    /// Claim the next file, decode it with the lock released, and file the result.
    fn decode_next<'a>(
        &'a self,
        mut progress: MutexGuard<'a, Progress>,
    ) -> MutexGuard<'a, Progress> {
        let i = progress.next_start;
        progress.next_start += 1;
        drop(progress);
        // A panic must still file a result, or the parser would wait for this file forever.
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.decode(i)))
            .unwrap_or_else(|_| {
                let bug = std::io::Error::other("decompression failed unexpectedly (a bug)");
                Decoded::Bytes(Vec::new(), Some(bug))
            });
        let mut progress = self.lock();
        progress.done.insert(i, decoded);
        self.changed.notify_all();
        progress
    }

    fn decode(&self, i: usize) -> Decoded {
        let path = &self.files[i];
        if let Err(reason) = self.gate.wait(path) {
            return Decoded::Unavailable(reason);
        }
        match std::fs::metadata(path) {
            Ok(m) if m.len() > MAX_IN_MEMORY => Decoded::TooLarge,
            _ => match decode::read_all_within(path, self.max_decoded) {
                decode::Whole::Bytes(bytes, err) => Decoded::Bytes(bytes, err),
                decode::Whole::TooLarge => Decoded::TooLarge,
            },
        }
    }

    fn help(&self) {
        let mut progress = self.lock();
        loop {
            if progress.closed || progress.next_start >= self.files.len() {
                return;
            }
            progress = if self.has_room(&progress) {
                self.decode_next(progress)
            } else {
                self.wait(progress)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn bz2_file(dir: &std::path::Path, name: &str, content: &[u8]) -> PathBuf {
        let path = dir.join(name);
        let mut enc = bzip2::write::BzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            bzip2::Compression::fast(),
        );
        enc.write_all(content).unwrap();
        enc.finish().unwrap();
        path
    }

    fn limits(helpers: usize, window: usize) -> Limits {
        Limits {
            helpers,
            window,
            max_decoded: decode::DEFAULT_MAX_DECODED,
        }
    }

    fn contents(helpers: usize, window: usize, files: &[PathBuf]) -> Vec<Vec<u8>> {
        let mut ahead = Ahead::start(files.to_vec(), limits(helpers, window), Arc::new(Local));
        let mut out = Vec::new();
        while let Some(d) = ahead.take() {
            match d {
                Decoded::Bytes(b, None) => out.push(b),
                other => panic!("unexpected {other:?}"),
            }
        }
        out
    }

    #[test]
    fn hands_files_back_in_order_whatever_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let expected: Vec<Vec<u8>> = (0..23)
            .map(|i| format!("file {i} ").repeat(1 + i * 97).into_bytes())
            .collect();
        let files: Vec<PathBuf> = expected
            .iter()
            .enumerate()
            .map(|(i, c)| bz2_file(dir.path(), &format!("{i}.bz2"), c))
            .collect();
        for (helpers, window) in [(0, 1), (1, 2), (3, 4), (2, 9)] {
            assert_eq!(
                contents(helpers, window, &files),
                expected,
                "{helpers} helpers"
            );
        }
    }

    #[test]
    fn a_failed_download_and_a_corrupt_file_come_back_in_their_place() {
        struct Failing(PathBuf);
        impl Gate for Failing {
            fn wait(&self, p: &std::path::Path) -> Result<(), String> {
                if p == self.0 {
                    Err("404 at http://example/x".into())
                } else {
                    Ok(())
                }
            }
            fn settled(&self, _: &std::path::Path) -> bool {
                true
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let good = bz2_file(dir.path(), "good.bz2", b"hello");
        let gone = dir.path().join("gone.bz2");
        let bad = dir.path().join("bad.bz2");
        let mut truncated = std::fs::read(&good).unwrap();
        truncated.truncate(truncated.len() - 8);
        std::fs::write(&bad, truncated).unwrap();
        let files = vec![good.clone(), gone.clone(), bad, good];
        let mut ahead = Ahead::start(files, limits(1, 2), Arc::new(Failing(gone)));
        assert!(matches!(ahead.take(), Some(Decoded::Bytes(b, None)) if b == b"hello"));
        assert!(matches!(ahead.take(), Some(Decoded::Unavailable(r)) if r.contains("404")));
        assert!(matches!(ahead.take(), Some(Decoded::Bytes(_, Some(_)))));
        assert!(matches!(ahead.take(), Some(Decoded::Bytes(b, None)) if b == b"hello"));
        assert!(ahead.take().is_none());
    }

    #[test]
    fn a_panic_while_decoding_is_an_error_for_that_file_not_a_hang() {
        struct Panicking(PathBuf);
        impl Gate for Panicking {
            fn wait(&self, p: &std::path::Path) -> Result<(), String> {
                assert_ne!(p, self.0, "simulated bug");
                Ok(())
            }
            fn settled(&self, _: &std::path::Path) -> bool {
                true
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<PathBuf> = (0..6)
            .map(|i| bz2_file(dir.path(), &format!("{i}.bz2"), b"x"))
            .collect();
        for helpers in [0, 1, 2] {
            let gate = Arc::new(Panicking(files[2].clone()));
            let mut ahead = Ahead::start(files.clone(), limits(helpers, helpers + 2), gate);
            for i in 0..6 {
                match ahead.take() {
                    Some(Decoded::Bytes(b, None)) if i != 2 => assert_eq!(b, b"x"),
                    Some(Decoded::Bytes(b, Some(e))) if i == 2 => {
                        assert!(b.is_empty() && e.to_string().contains("a bug"), "{e}");
                    }
                    other => panic!("file {i} with {helpers} helpers: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn never_starts_a_file_beyond_the_window() {
        /// Records the highest file index whose decoding has started.
        struct Watching(Vec<PathBuf>, std::sync::atomic::AtomicUsize);
        impl Gate for Watching {
            fn wait(&self, p: &std::path::Path) -> Result<(), String> {
                let i = self.0.iter().position(|f| f == p).unwrap_or(usize::MAX);
                self.1.fetch_max(i, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            }
            fn settled(&self, _: &std::path::Path) -> bool {
                true
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<PathBuf> = (0..30)
            .map(|i| bz2_file(dir.path(), &format!("{i}.bz2"), b"x"))
            .collect();
        let gate = Arc::new(Watching(files.clone(), Default::default()));
        let mut ahead = Ahead::start(files, limits(2, 4), gate.clone());
        for taken in 0..30 {
            std::thread::sleep(std::time::Duration::from_millis(2));
            let started = gate.1.load(std::sync::atomic::Ordering::SeqCst);
            assert!(
                started < taken + 4,
                "file {started} started with {taken} taken"
            );
            assert!(ahead.take().is_some());
        }
        assert!(ahead.take().is_none());
    }

    #[test]
    fn dropping_early_stops_the_helpers() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<PathBuf> = (0..50)
            .map(|i| bz2_file(dir.path(), &format!("{i}.bz2"), b"x"))
            .collect();
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut ahead = Ahead::start(files, limits(2, 3), Arc::new(Local));
            let first = ahead.take().is_some();
            drop(ahead); // joins the helpers
            done.send(first).unwrap();
        });
        // Generous: this checks the helpers end at all, not how fast.
        let first = finished.recv_timeout(std::time::Duration::from_secs(60));
        assert_eq!(first, Ok(true), "helpers still running after the drop");
    }

    #[test]
    fn a_file_expanding_beyond_the_limit_is_handed_back_to_be_streamed() {
        let dir = tempfile::tempdir().unwrap();
        let small = bz2_file(dir.path(), "small.bz2", &[7u8; 1000]);
        let bomb = bz2_file(dir.path(), "bomb.bz2", &vec![0u8; 4 << 20]);
        let gz = dir.path().join("bomb.gz");
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        enc.write_all(&vec![0u8; 4 << 20]).unwrap();
        enc.finish().unwrap();
        let files = vec![small.clone(), bomb, gz, small];
        let limits = Limits {
            helpers: 1,
            window: 2,
            max_decoded: 1 << 20,
        };
        let mut ahead = Ahead::start(files, limits, Arc::new(Local));
        assert!(matches!(ahead.take(), Some(Decoded::Bytes(b, None)) if b.len() == 1000));
        assert!(matches!(ahead.take(), Some(Decoded::TooLarge)));
        assert!(matches!(ahead.take(), Some(Decoded::TooLarge)));
        assert!(matches!(ahead.take(), Some(Decoded::Bytes(b, None)) if b.len() == 1000));
    }
}
