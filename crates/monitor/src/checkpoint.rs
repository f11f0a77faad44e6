//! The checkpoint: cursors per collector, held holes, the retry list and the alert ledger,
//! saved atomically with the previous one kept.

use crate::alert::Alert;
use crate::durable::{crash_point, sync_dir, write_synced};
use cutoff_core::model::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Version of the checkpoint file; a checkpoint of another version is refused, never reset.
pub const CHECKPOINT_VERSION: u32 = 1;

// The checkpoint.

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    pub written_at: String,
    /// The watched ASes the pipeline state is for.
    pub asns: Vec<u32>,
    pub collectors: BTreeMap<String, Cursor>,
    /// The incremental pipeline's own state (versioned by the pipeline).
    pub pipeline: Option<serde_json::Value>,
    /// Files declared missing, looked for again on every run until they turn up or expire.
    pub retry: Vec<Missing>,
    /// Every alert raised (until `ledger_keep` after it was fully delivered), per sink
    /// delivered or pending.
    pub alerts: Vec<LedgerEntry>,
    pub counters: Counters,
}

/// Where a collector's reading stands.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Cursor {
    /// The last file read: (start, kind, path) orders every file of the collector.
    pub last: Option<Mark>,
    /// Start of the last update file read (holes are measured from it).
    pub last_update: Option<i64>,
    /// Files before this time are not this run's business (before monitoring began, or
    /// older than the retry period).
    pub horizon: i64,
    /// Files read at or after `horizon`, so a file that shows up late is recognised.
    pub seen: BTreeMap<String, i64>,
    /// A hole in the update files being waited for: the file after it, and since when.
    pub hold: Option<Hold>,
    /// Files whose name gives no time (reported once, not read).
    pub untimed: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Mark {
    pub start: i64,
    pub kind: String,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hold {
    pub next: i64,
    pub since: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Missing {
    pub collector: String,
    /// The update files on either side of the hole (start times).
    pub after: i64,
    pub before: i64,
    /// When it was declared missing (wall clock).
    pub declared: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub key: String,
    /// When the alert was raised (wall clock).
    pub raised: i64,
    pub alert: Alert,
    pub pending: BTreeSet<String>,
    pub delivered: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counters {
    pub runs: u64,
    pub files_processed: u64,
    pub events: BTreeMap<String, u64>,
    pub last_success: Option<i64>,
}

impl Checkpoint {
    pub(crate) fn new(asns: Vec<u32>) -> Self {
        Checkpoint {
            version: CHECKPOINT_VERSION,
            written_at: String::new(),
            asns,
            collectors: BTreeMap::new(),
            pipeline: None,
            retry: Vec::new(),
            alerts: Vec::new(),
            counters: Counters::default(),
        }
    }
}

/// The state directory: checkpoint (and its previous version), lock.
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(dir: &Path) -> Self {
        Store {
            dir: dir.to_path_buf(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join("checkpoint.json")
    }

    fn prev_path(&self) -> PathBuf {
        self.dir.join("checkpoint.json.prev")
    }

    /// The saved checkpoint, `None` on the very first run. Anything unreadable is an error:
    /// starting over silently would forget the alert ledger and repeat alerts.
    pub fn load(&self) -> Result<Option<Checkpoint>, String> {
        let path = self.path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if self.prev_path().exists() {
                    return Err(format!(
                        "{} is missing but {} exists: restore it (mv {1} {0}) or delete both to start over",
                        path.display(),
                        self.prev_path().display()
                    ));
                }
                return Ok(None);
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let fix = format!(
            "the previous checkpoint is {}; delete both to start over (alerts may then repeat)",
            self.prev_path().display()
        );
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{}: corrupt checkpoint: {e}; {fix}", path.display()))?;
        let version = value.get("version").and_then(|v| v.as_u64());
        if version != Some(CHECKPOINT_VERSION as u64) {
            return Err(format!(
                "{}: checkpoint version {} but this build reads version {CHECKPOINT_VERSION}; {fix}",
                path.display(),
                version.map_or("missing".to_string(), |v| v.to_string())
            ));
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| format!("{}: corrupt checkpoint: {e}; {fix}", path.display()))
    }

    /// Write atomically: a temporary file in the same directory, fsynced, the current one
    /// kept as `.prev` (by a hard link, so `checkpoint.json` never stops existing), a rename
    /// over the current one, and an fsync of the directory.
    pub fn save(&self, ck: &mut Checkpoint, now: i64) -> std::io::Result<()> {
        ck.written_at = Timestamp::from_secs(now).rfc3339();
        let bytes = serde_json::to_vec_pretty(ck).map_err(std::io::Error::other)?;
        let path = self.path();
        let tmp = self.dir.join("checkpoint.json.tmp");
        write_synced(&tmp, &bytes)?;
        crash_point("before-checkpoint-rename");
        if path.exists() {
            let link = self.dir.join("checkpoint.json.prev.tmp");
            let _ = std::fs::remove_file(&link);
            std::fs::hard_link(&path, &link)?;
            std::fs::rename(&link, self.prev_path())?;
        }
        std::fs::rename(&tmp, &path)?;
        sync_dir(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_refuse_corruption_and_keep_the_previous_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path());
        assert!(store.load().expect("empty").is_none());
        let mut ck = Checkpoint::new(vec![1]);
        store.save(&mut ck, 1).expect("save");
        ck.counters.runs = 5;
        store.save(&mut ck, 2).expect("save");
        let prev: Checkpoint = serde_json::from_slice(
            &std::fs::read(dir.path().join("checkpoint.json.prev")).expect("prev"),
        )
        .expect("parses");
        assert_eq!(prev.counters.runs, 0);
        assert_eq!(
            store.load().expect("loads").map(|c| c.counters.runs),
            Some(5)
        );

        std::fs::write(store.path(), b"{\"version\": 1, \"asns\": [").expect("corrupt");
        let e = store.load().unwrap_err();
        assert!(
            e.contains("corrupt checkpoint") && e.contains("checkpoint.json.prev"),
            "{e}"
        );
        std::fs::write(store.path(), b"{\"version\": 99}").expect("other version");
        let e = store.load().unwrap_err();
        assert!(e.contains("checkpoint version 99"), "{e}");
        std::fs::remove_file(store.path()).expect("rm");
        let e = store.load().unwrap_err();
        assert!(e.contains("is missing but"), "{e}");
    }
}
