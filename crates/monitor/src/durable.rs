//! Durable files: written and synced, renamed atomically, the state directory's lock, and
//! the `CUTOFF_CRASH_AT` points crash tests stop the process at.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;

pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Make a directory's entries (a rename, a new file) durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replace `path` with `bytes` atomically (temporary file, fsync, rename, fsync of the dir).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    write_synced(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// Test hook: `CUTOFF_CRASH_AT=point[:n],…` makes the process SIGKILL itself the n-th time
/// (default the first) it passes the named point, so tests can show that a `kill -9` there
/// loses and repeats nothing. Points: after-lock, after-feed, before-checkpoint-rename,
/// after-checkpoint-write, after-deliver, after-ledger-write, before-metrics.
pub fn crash_point(name: &str) {
    use std::sync::Mutex;
    static PASSED: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());
    let Ok(spec) = std::env::var("CUTOFF_CRASH_AT") else {
        return;
    };
    let count = {
        let mut passed = PASSED.lock().unwrap_or_else(|p| p.into_inner());
        let n = passed.entry(name.to_string()).or_default();
        *n += 1;
        *n
    };
    let hit = spec.split(',').any(|p| match p.split_once(':') {
        Some((point, n)) => point == name && n.parse() == Ok(count),
        None => p == name && count == 1,
    });
    if hit {
        // SAFETY: kill(2) on our own pid with a constant signal has no memory effects.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// The run lock: an exclusive `flock` on `state_dir/lock`, released by the kernel when the
/// process ends, however it ends.
pub struct Lock {
    file: File,
}

impl Drop for Lock {
    /// Unlock explicitly: the lock belongs to the open file description, which a child being
    /// forked at this moment (an exec sink, or another thread's command) shares until it
    /// execs, so closing our descriptor alone might leave the lock held a little longer.
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

impl Lock {
    /// `Ok(None)` when another run holds it.
    pub fn acquire(dir: &Path) -> std::io::Result<Option<Lock>> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Lock { file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_is_exclusive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let held = Lock::acquire(dir.path()).expect("lock").expect("free");
        assert!(Lock::acquire(dir.path()).expect("lock").is_none());
        drop(held);
        assert!(Lock::acquire(dir.path()).expect("lock").is_some());
    }
}
