//! `cutoff monitor`: one incremental run, for cron or a systemd timer (DESIGN §7).
//!
//! A run takes the lock, loads the checkpoint, picks the files that are new since the
//! cursor of each collector, feeds them to the incremental pipeline, turns new events into
//! alerts, writes the checkpoint (with the new alerts still *pending*), then delivers the
//! alerts sink by sink, recording each delivery in the checkpoint as it happens. A crash at
//! any point therefore loses nothing: a run that dies before the checkpoint is written is
//! simply redone (the pipeline is deterministic, so it finds the same events), and alerts
//! that were pending are delivered by the next run. The one repeat it allows is the moment
//! between a sink accepting an alert and the ledger recording it (see README, Monitoring).

use crate::alert::{self, Alert, Sink};
use crate::config::{MonitorConfig, SinkConfig, SourceMode, Start};
use crate::detect::Event;
use crate::error::ExitStatus;
use crate::model::{CollectorId, Timestamp};
use crate::scan::{FileReport, ScanPlan};
use crate::source::{CollectorFiles, FileKind, MrtFile};
use crate::state::EligibilityRules;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Version of the checkpoint file; a checkpoint of another version is refused, never reset.
pub const CHECKPOINT_VERSION: u32 = 1;

#[derive(Debug, clap::Args)]
pub struct MonitorArgs {
    /// The TOML configuration (see `cutoff config --example`).
    #[arg(long, env = "CUTOFF_CONFIG")]
    pub config: PathBuf,
    /// Exit with status 1 when this run raised alerts.
    #[arg(long)]
    pub exit_code: bool,
    /// Write a Prometheus textfile here (atomically) after the run.
    #[arg(long)]
    pub metrics_file: Option<PathBuf>,
    /// One pass, then exit. This is what every run does (cron and the systemd timer start
    /// each run); the flag lets wrappers say so explicitly.
    #[arg(long)]
    pub once: bool,
}

#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// The configuration file whose effective form (defaults filled in) is printed.
    #[arg(long, env = "CUTOFF_CONFIG", required_unless_present = "example")]
    pub config: Option<PathBuf>,
    /// Print the documented example configuration instead.
    #[arg(long)]
    pub example: bool,
}

pub fn run_config_cli(args: ConfigArgs) -> anyhow::Result<ExitStatus> {
    let text = match &args.config {
        Some(path) if !args.example => MonitorConfig::load(path)?
            .to_toml()
            .map_err(anyhow::Error::msg)?,
        _ => crate::config::EXAMPLE.to_string(),
    };
    print!("{text}");
    Ok(ExitStatus::Success)
}

// ---------------------------------------------------------------------------------------
// The seam to the incremental pipeline.

/// A missing file: the collector's view is unknown from `time` until its next RIB.
#[derive(Debug, Clone, PartialEq)]
pub struct MissingData {
    pub collector: CollectorId,
    pub time: Timestamp,
    pub reason: String,
}

pub use crate::scan::Fed;

/// The incremental pipeline as the monitor uses it (`scan::Pipeline` in the real build; a
/// scripted fake in tests).
pub trait Incremental {
    /// Read these files (each collector's in time order, after everything fed before);
    /// `missing` marks where files are known to be missing, between them.
    fn feed(&mut self, collectors: &[CollectorFiles], missing: &[MissingData]) -> Fed;
    /// Everything needed to continue later, as JSON (it carries its own version).
    fn state(&mut self) -> Result<serde_json::Value, String>;
    /// Eligible peer ASNs currently seeing each watched AS.
    fn visible_peers(&self) -> BTreeMap<u32, usize>;
}

/// Builds the pipeline for a plan, from a saved state or fresh.
pub type PipelineFactory =
    dyn Fn(&ScanPlan, Option<serde_json::Value>) -> Result<Box<dyn Incremental>, String>;

/// How the path of a missing file's placeholder begins.
const PLACEHOLDER: &str = "(missing: ";

/// Missing data as a placeholder file at the time the missing file should have started:
/// reading it fails, which the reader reports as a gap at that time, and the tracker then
/// treats the collector as unknown until its next RIB — the same path as a corrupt file.
pub fn with_placeholders(
    collectors: &[CollectorFiles],
    missing: &[MissingData],
) -> Vec<CollectorFiles> {
    let mut out: Vec<CollectorFiles> = collectors.to_vec();
    for m in missing {
        let file = MrtFile {
            path: PathBuf::from(format!("{PLACEHOLDER}{})", m.reason)),
            collector: m.collector.clone(),
            kind: FileKind::Updates,
            start: Some(m.time),
        };
        match out.iter_mut().find(|c| c.collector == m.collector) {
            Some(c) => c.files.push(file),
            None => out.push(CollectorFiles {
                collector: m.collector.clone(),
                files: vec![file],
            }),
        }
    }
    for c in &mut out {
        c.files.sort_by(|a, b| file_order(a).cmp(&file_order(b)));
    }
    out
}

/// The real incremental pipeline (`scan::Pipeline`) behind the seam.
pub struct RealPipeline(crate::scan::Pipeline);

impl RealPipeline {
    /// Restore from the saved JSON state, or start fresh.
    pub fn factory() -> Box<PipelineFactory> {
        Box::new(|plan, state| {
            let pipeline = match state {
                None => crate::scan::Pipeline::new(plan),
                Some(v) => {
                    let state = serde_json::from_value(v)
                        .map_err(|e| format!("pipeline state does not fit this build: {e}"))?;
                    crate::scan::Pipeline::restore(plan, state)?
                }
            };
            Ok(Box::new(RealPipeline(pipeline)) as Box<dyn Incremental>)
        })
    }
}

impl Incremental for RealPipeline {
    fn feed(&mut self, collectors: &[CollectorFiles], missing: &[MissingData]) -> Fed {
        self.0.feed(&with_placeholders(collectors, missing))
    }

    fn state(&mut self) -> Result<serde_json::Value, String> {
        serde_json::to_value(self.0.state())
            .map_err(|e| format!("cannot save the pipeline state: {e}"))
    }

    fn visible_peers(&self) -> BTreeMap<u32, usize> {
        self.0.visible_peers()
    }
}

/// The order files are read in: time, then RIB before updates, then path.
fn file_order(f: &MrtFile) -> (Option<Timestamp>, FileKind, &Path) {
    (f.start, f.kind, &f.path)
}

// ---------------------------------------------------------------------------------------
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
    fn new(asns: Vec<u32>) -> Self {
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

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
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
    _file: File,
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
            Ok(()) => Ok(Some(Lock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Choosing the files of a run.

/// The files of a run, per collector, and what the choice found on the way.
#[derive(Debug, Default)]
pub struct Selection {
    pub collectors: Vec<CollectorFiles>,
    pub missing: Vec<MissingData>,
    /// Problems worth a line on stderr (each is said once: on the run that finds it).
    pub warnings: Vec<String>,
    /// Input this run could not use: missing or late files.
    pub incomplete: bool,
}

/// The rules of file selection from the configuration.
#[derive(Debug, Clone)]
pub struct SelectRules {
    pub start: Start,
    pub settle: i64,
    pub grace: i64,
    pub retry_for: i64,
}

/// A listed file and how long ago it was last modified.
#[derive(Debug, Clone)]
pub struct Listed {
    pub file: MrtFile,
    pub age: i64,
}

/// List the mirror directories: files by collector, in reading order.
pub fn list_mirror(dirs: &[PathBuf], now: i64) -> Result<BTreeMap<String, Vec<Listed>>, String> {
    let mut out: BTreeMap<String, Vec<Listed>> = BTreeMap::new();
    for dir in dirs {
        if !dir.is_dir() {
            return Err(format!(
                "source.mirror: {} is not a directory",
                dir.display()
            ));
        }
        let groups = match crate::source::discover(&[dir.display().to_string()], &[]) {
            Ok(g) => g,
            // An empty mirror is a mirror that has not filled yet.
            Err(crate::error::UsageError::NoInput(_)) => continue,
            Err(e) => return Err(e.to_string()),
        };
        for g in groups {
            for f in g.files {
                let age = std::fs::metadata(&f.path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(i64::MAX, |d| now - d.as_secs() as i64);
                out.entry(g.collector.to_string())
                    .or_default()
                    .push(Listed { file: f, age });
            }
        }
    }
    for files in out.values_mut() {
        files.sort_by(|a, b| file_order(&a.file).cmp(&file_order(&b.file)));
        files.dedup_by(|a, b| a.file.path == b.file.path);
    }
    Ok(out)
}

fn mark(f: &MrtFile) -> Option<Mark> {
    Some(Mark {
        start: f.start?.secs,
        kind: kind_order_name(f.kind).into(),
        path: f.path.display().to_string(),
    })
}

/// Names that sort like `FileKind` does (RIB before updates before unknown).
fn kind_order_name(k: FileKind) -> &'static str {
    match k {
        FileKind::Rib => "0-rib",
        FileKind::Updates => "1-updates",
        FileKind::Unknown => "2-unknown",
    }
}

/// Expected time between update files: the median gap of the listing, else the archive's
/// cadence (RouteViews 15 min, RIS 5 min), else unknown (no hole detection).
pub fn cadence(collector: &str, files: &[Listed]) -> Option<i64> {
    let starts: Vec<i64> = files
        .iter()
        .filter(|l| l.file.kind == FileKind::Updates)
        .filter_map(|l| l.file.start.map(|t| t.secs))
        .collect();
    let mut gaps: Vec<i64> = starts
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|g| *g > 0)
        .collect();
    if gaps.len() >= 3 {
        gaps.sort_unstable();
        return Some(gaps[gaps.len() / 2]);
    }
    if collector.starts_with("rrc") {
        Some(300)
    } else if collector.starts_with("route-views") {
        Some(900)
    } else {
        None
    }
}

/// Choose this run's files of one collector and move its cursor past them.
pub fn select_collector(
    collector: &str,
    files: &[Listed],
    cursor: &mut Cursor,
    retry: &mut Vec<Missing>,
    rules: &SelectRules,
    now: i64,
    sel: &mut Selection,
) -> Vec<MrtFile> {
    let (timed, untimed): (Vec<&Listed>, Vec<&Listed>) =
        files.iter().partition(|l| l.file.start.is_some());
    for l in untimed {
        let p = l.file.path.display().to_string();
        if cursor.untimed.insert(p.clone()) {
            sel.warnings.push(format!(
                "{p}: the name gives no time, so the file cannot be placed in order; not read"
            ));
        }
    }
    if cursor.last.is_none() {
        cursor.horizon = first_start(&timed, rules.start);
    }
    report_late(collector, &timed, cursor, retry, sel);
    let cadence = cadence(collector, files);
    let mut chosen = Vec::new();
    for l in &timed {
        let f = &l.file;
        let (Some(m), Some(start)) = (mark(f), f.start) else {
            continue;
        };
        if start.secs < cursor.horizon || cursor.last.as_ref().is_some_and(|last| &m <= last) {
            continue;
        }
        if l.age < rules.settle {
            break; // may still be being written: it and what follows wait for the next run
        }
        if f.kind == FileKind::Updates {
            if let (Some(prev), Some(c)) = (cursor.last_update, cadence)
                && (start.secs - prev) * 2 > c * 3
            {
                let waited = cursor
                    .hold
                    .as_ref()
                    .filter(|h| h.next == start.secs)
                    .map_or(0, |h| now - h.since);
                if waited < rules.grace {
                    if cursor.hold.as_ref().is_none_or(|h| h.next != start.secs) {
                        cursor.hold = Some(Hold {
                            next: start.secs,
                            since: now,
                        });
                    }
                    break;
                }
                declare_missing(collector, prev, start.secs, c, now, retry, sel);
            }
            cursor.last_update = Some(start.secs);
        }
        cursor.hold = None;
        cursor.seen.insert(m.path.clone(), m.start);
        cursor.last = Some(m);
        chosen.push(f.clone());
    }
    cursor.horizon = cursor.horizon.max(
        cursor
            .last
            .as_ref()
            .map_or(i64::MIN, |l| l.start - rules.retry_for),
    );
    let horizon = cursor.horizon;
    cursor.seen.retain(|_, start| *start >= horizon);
    chosen
}

/// Where the first run of a collector begins: its latest RIB at or before the start time
/// (or the start time itself when there is none).
fn first_start(timed: &[&Listed], start: Start) -> i64 {
    let limit = match start {
        Start::LatestRib => i64::MAX,
        Start::At(t) => t.secs,
    };
    let rib = timed
        .iter()
        .filter(|l| l.file.kind == FileKind::Rib)
        .filter_map(|l| l.file.start.map(|t| t.secs))
        .filter(|s| *s <= limit)
        .max();
    match (rib, start) {
        (Some(r), _) => r,
        (None, Start::At(t)) => t.secs,
        (None, Start::LatestRib) => i64::MIN,
    }
}

/// Files older than the cursor that were never read: they came too late to be read in order.
fn report_late(
    collector: &str,
    timed: &[&Listed],
    cursor: &mut Cursor,
    retry: &mut Vec<Missing>,
    sel: &mut Selection,
) {
    let Some(last) = cursor.last.clone() else {
        return;
    };
    for l in timed {
        let Some(m) = mark(&l.file) else { continue };
        if m.start < cursor.horizon || m >= last || cursor.seen.contains_key(&m.path) {
            continue;
        }
        let filled = retry
            .iter()
            .position(|r| r.collector == collector && r.after < m.start && m.start < r.before);
        let note = if let Some(i) = filled {
            retry.remove(i);
            "turned up after it was declared missing"
        } else {
            "turned up after newer files were read"
        };
        sel.warnings.push(format!(
            "{}: {note}; not read out of order (the collector's state resynchronises at its next RIB)",
            m.path
        ));
        sel.incomplete = true;
        cursor.seen.insert(m.path.clone(), m.start);
    }
}

fn declare_missing(
    collector: &str,
    prev: i64,
    next: i64,
    cadence: i64,
    now: i64,
    retry: &mut Vec<Missing>,
    sel: &mut Selection,
) {
    let t = |s: i64| Timestamp::from_secs(s).rfc3339();
    let reason = format!(
        "{collector}: no update file between {} and {} (expected every {})",
        t(prev),
        t(next),
        crate::config::duration_text(cadence)
    );
    sel.warnings.push(format!(
        "{reason}: missing; the collector counts as unknown until its next RIB, and the file is looked for on later runs"
    ));
    sel.incomplete = true;
    sel.missing.push(MissingData {
        collector: CollectorId::new(collector),
        time: Timestamp::from_secs(prev + cadence),
        reason,
    });
    retry.push(Missing {
        collector: collector.to_string(),
        after: prev,
        before: next,
        declared: now,
    });
}

/// Missing files waited for long enough are given up on (said once).
fn expire_retries(retry: &mut Vec<Missing>, retry_for: i64, now: i64, warnings: &mut Vec<String>) {
    retry.retain(|r| {
        let keep = now - r.declared < retry_for;
        if !keep {
            warnings.push(format!(
                "{}: gave up waiting for the update file(s) between {} and {}",
                r.collector,
                Timestamp::from_secs(r.after).rfc3339(),
                Timestamp::from_secs(r.before).rfc3339()
            ));
        }
        keep
    });
}

/// Archive mode: bring the collectors' new files (and the retry list's) into the cache laid
/// out like the archive, and return the directories to read as a mirror. This is the one
/// place the archive fetch layer plugs in.
///
/// Per collector the window starts where its last run stopped (or at its oldest missing file,
/// or at `source.start` on the first run) and ends `catch_up` later or now. The plan is the
/// archive's: the RIB at or before the window's start and the update files up to its end, plus
/// the newest RIB of the window (so a newly published RIB resynchronises the state). Listings
/// are fetched again every run (files arrive late). A file that cannot be had is not reported
/// here: it leaves a hole in the cache that the selection holds, then reports once.
pub fn fetch_archive(
    config: &MonitorConfig,
    cursors: &BTreeMap<String, Cursor>,
    retry: &[Missing],
    now: i64,
) -> Result<Vec<PathBuf>, String> {
    use crate::source::archive::Collector;
    let s = &config.source;
    let args = crate::source::command::ArchiveArgs {
        routeviews_url: Some(s.routeviews_url.clone()),
        ris_url: Some(s.ris_url.clone()),
        cache_dir: Some(config.cache_dir().to_path_buf()),
        offline: s.offline,
        ..Default::default()
    };
    let mut cfg = args.fetch_config().map_err(|e| e.to_string())?;
    cfg.relist = true;
    let archive = args.open_with(cfg).map_err(|e| e.to_string())?;
    let mut dirs = Vec::new();
    for name in &s.collectors {
        let collector = Collector::named(name).map_err(|e| format!("source.collectors: {e}"))?;
        let (from, to) = archive_window(config, cursors.get(name), retry, name, now);
        let (from, to) = (Timestamp::from_secs(from), Timestamp::from_secs(to));
        for plan in [
            archive.plan(std::slice::from_ref(&collector), from, to),
            archive.plan(std::slice::from_ref(&collector), to, to),
        ] {
            for o in archive.fetch_all(&plan) {
                if let Err(e) = o.result {
                    tracing::info!("{}: {e}", o.file.url);
                }
            }
        }
        let dir = archive
            .layout
            .cache_path(collector.archive, &collector.root_dir());
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cache_dir: cannot create {}: {e}", dir.display()))?;
        dirs.push(dir);
    }
    Ok(dirs)
}

/// The stretch of archive time one run fetches for a collector (seconds).
fn archive_window(
    config: &MonitorConfig,
    cursor: Option<&Cursor>,
    retry: &[Missing],
    collector: &str,
    now: i64,
) -> (i64, i64) {
    let s = &config.source;
    let resume = cursor.and_then(|c| c.last.as_ref()).map(|m| m.start);
    let start = match (resume, s.start) {
        (Some(t), _) => t,
        (None, Start::At(t)) => t.secs,
        (None, Start::LatestRib) => now,
    };
    let from = retry
        .iter()
        .filter(|r| r.collector == collector)
        .map(|r| r.after)
        .fold(start, i64::min);
    (from, from.saturating_add(s.catch_up.0).min(now).max(from))
}

fn select(config: &MonitorConfig, ck: &mut Checkpoint, now: i64) -> Result<Selection, String> {
    let dirs = match config.source.mode() {
        SourceMode::Mirror => config.source.mirror.clone(),
        SourceMode::Archive => fetch_archive(config, &ck.collectors, &ck.retry, now)?,
    };
    let listing = list_mirror(&dirs, now)?;
    let rules = SelectRules {
        start: config.source.start,
        // Downloads land in the cache checked and renamed whole: nothing there is half-written.
        settle: match config.source.mode() {
            SourceMode::Mirror => config.source.settle.0,
            SourceMode::Archive => 0,
        },
        grace: config.source.grace.0,
        retry_for: config.source.retry_for.0,
    };
    let mut sel = Selection::default();
    expire_retries(&mut ck.retry, rules.retry_for, now, &mut sel.warnings);
    for (collector, files) in &listing {
        let cursor = ck.collectors.entry(collector.clone()).or_default();
        let chosen = select_collector(
            collector,
            files,
            cursor,
            &mut ck.retry,
            &rules,
            now,
            &mut sel,
        );
        if !chosen.is_empty() {
            sel.collectors.push(CollectorFiles {
                collector: CollectorId::new(collector),
                files: chosen,
            });
        }
    }
    Ok(sel)
}

// ---------------------------------------------------------------------------------------
// The run.

/// The scan plan for the configuration's watchlist and thresholds.
pub fn scan_plan(config: &MonitorConfig, collectors: &[CollectorFiles]) -> ScanPlan {
    let t = &config.thresholds;
    let (exclude_asns, exclude_ips) = config.excluded_peers();
    let year = crate::scan::first_file_year(collectors)
        .unwrap_or_else(|| chrono::Datelike::year(&chrono::Utc::now()));
    let mut prefixes: Vec<_> = config
        .watch
        .iter()
        .flat_map(|w| w.prefixes.iter().copied())
        .collect();
    prefixes.sort_unstable();
    prefixes.dedup();
    ScanPlan {
        asns: config.asns(),
        prefixes,
        collectors: collectors.to_vec(),
        eligibility: EligibilityRules {
            full_feed_fraction: t.full_feed.0,
            silence_secs: t.silence.0,
            mass_withdrawal_fraction: t.mass_withdrawal.0,
            mass_window_secs: t.mass_window.0,
            assumed_table_size: t
                .table_size
                .unwrap_or_else(|| crate::scan::typical_table_size(year)),
            exclude_asns,
            exclude_ips,
        },
        detect: crate::detect::DetectRules {
            min_duration_secs: t.min_duration.0,
            max_residual: t.max_residual,
            restore_fraction: t.restore_fraction.0,
            min_peers: t.min_peers,
        },
        from: None,
        to: None,
        helpers: crate::scan::default_helpers(),
        timeline: false,
        downloads: None,
    }
}

/// What a run did, for the exit status and the metrics.
#[derive(Debug, Default)]
pub struct RunReport {
    pub files_processed: usize,
    pub alerts_raised: usize,
    pub undelivered: usize,
    pub incomplete: bool,
    pub visible_peers: BTreeMap<u32, usize>,
}

/// One run with the lock held: everything after loading the configuration.
pub fn run_locked(
    config: &MonitorConfig,
    store: &Store,
    make: &PipelineFactory,
    now: i64,
) -> Result<(RunReport, Checkpoint), String> {
    let asns = config.asns();
    let mut ck = store
        .load()?
        .unwrap_or_else(|| Checkpoint::new(asns.clone()));
    if ck.asns != asns {
        if ck.pipeline.is_some() {
            warn(&format!(
                "the watchlist changed (was {:?}, now {:?}): the routing state starts over from the files read from now on",
                ck.asns, asns
            ));
        }
        ck.pipeline = None;
        ck.asns = asns;
    }
    let sel = select(config, &mut ck, now)?;
    for w in &sel.warnings {
        warn(w);
    }
    let plan = scan_plan(config, &sel.collectors);
    let mut pipeline = make(&plan, ck.pipeline.take()).map_err(|e| {
        format!(
            "{}: {e}; delete it to start over (alerts may then repeat)",
            store.path().display()
        )
    })?;
    let mut report = RunReport {
        incomplete: sel.incomplete,
        ..RunReport::default()
    };
    let fed = if sel.collectors.is_empty() && sel.missing.is_empty() {
        Fed {
            events: Vec::new(),
            files: Vec::new(),
        }
    } else {
        pipeline.feed(&sel.collectors, &sel.missing)
    };
    crash_point("after-feed");
    // The placeholders of missing files were reported when they were declared missing.
    let read: Vec<&FileReport> = fed
        .files
        .iter()
        .filter(|f| !f.path.starts_with(PLACEHOLDER))
        .collect();
    for f in &read {
        report.incomplete |= report_file(f);
    }
    report.files_processed = read.len();
    report.visible_peers = pipeline.visible_peers();
    ck.pipeline = Some(pipeline.state()?);
    ck.counters.files_processed += read.len() as u64;
    report.alerts_raised = raise_alerts(config, &mut ck, &fed.events, now);
    prune_ledger(&mut ck, config.ledger_keep.0, now);
    store
        .save(&mut ck, now)
        .map_err(|e| format!("writing {}: {e}", store.path().display()))?;
    crash_point("after-checkpoint-write");
    report.undelivered = deliver(config, store, &mut ck, now)?;
    ck.counters.runs += 1;
    ck.counters.last_success = Some(now);
    store
        .save(&mut ck, now)
        .map_err(|e| format!("writing {}: {e}", store.path().display()))?;
    Ok((report, ck))
}

fn warn(msg: &str) {
    eprintln!("cutoff monitor: {msg}");
}

/// One stderr line per problem of a file (the routine note about records cut by 2008
/// collectors is left out: a monitor run prints nothing when nothing happened).
fn report_file(f: &FileReport) -> bool {
    let s = &f.stats;
    if let Some(p) = &s.problem {
        warn(&format!("{}: {p}", f.path));
    }
    for k in &s.skipped {
        warn(&format!("{}: {k}", f.path));
    }
    for (reason, n) in &s.unparsed_records {
        warn(&format!("{}: {n} record(s) not parsed: {reason}", f.path));
    }
    s.is_incomplete()
}

/// New events → alerts pending for every sink; an alert already in the ledger is not raised
/// again. Returns how many were raised.
fn raise_alerts(config: &MonitorConfig, ck: &mut Checkpoint, events: &[Event], now: i64) -> usize {
    let sinks: BTreeSet<String> = config
        .sinks
        .iter()
        .filter_map(|s| s.name().map(str::to_string))
        .collect();
    let mut raised = 0;
    for e in events {
        *ck.counters
            .events
            .entry(e.event.name().to_string())
            .or_default() += 1;
        let Some(entry) = config.entry(e.asn) else {
            continue;
        };
        if !entry.alerts_at(e.time) {
            continue;
        }
        let key = alert::key_of(e);
        if ck.alerts.iter().any(|a| a.key == key) {
            continue;
        }
        ck.alerts.push(LedgerEntry {
            key,
            raised: now,
            alert: Alert::from_event(e, &entry.label()),
            pending: sinks.clone(),
            delivered: BTreeMap::new(),
        });
        raised += 1;
    }
    raised
}

fn prune_ledger(ck: &mut Checkpoint, keep: i64, now: i64) {
    ck.alerts
        .retain(|a| !a.pending.is_empty() || now - a.raised < keep);
}

/// Deliver every pending alert, recording each delivery in the checkpoint at once. A sink
/// that fails is not tried again for the rest of this run; its alerts stay pending.
/// Returns the number of (alert, sink) deliveries still pending.
fn deliver(
    config: &MonitorConfig,
    store: &Store,
    ck: &mut Checkpoint,
    now: i64,
) -> Result<usize, String> {
    let mut sinks: BTreeMap<String, Box<dyn Sink>> = config
        .sinks
        .iter()
        .map(|s| (s.name().unwrap_or(s.kind()).to_string(), alert::build(s)))
        .collect();
    let mut failed: BTreeSet<String> = BTreeSet::new();
    let mut dropped = false;
    for i in 0..ck.alerts.len() {
        for name in ck.alerts[i].pending.clone() {
            let Some(sink) = sinks.get_mut(&name) else {
                warn(&format!(
                    "alert {} was pending for sink {name:?}, which is no longer configured; dropped for it",
                    ck.alerts[i].key
                ));
                ck.alerts[i].pending.remove(&name);
                dropped = true;
                continue;
            };
            if failed.contains(&name) {
                continue;
            }
            match sink.deliver(&ck.alerts[i].alert) {
                Ok(()) => {
                    crash_point("after-deliver");
                    let entry = &mut ck.alerts[i];
                    entry.pending.remove(&name);
                    entry.delivered.insert(name, now);
                    store
                        .save(ck, now)
                        .map_err(|e| format!("writing {}: {e}", store.path().display()))?;
                    crash_point("after-ledger-write");
                }
                Err(e) => {
                    warn(&format!(
                        "sink {name:?}: alert {} not delivered: {e}; kept for the next run",
                        ck.alerts[i].key
                    ));
                    failed.insert(name);
                }
            }
        }
    }
    if dropped {
        store
            .save(ck, now)
            .map_err(|e| format!("writing {}: {e}", store.path().display()))?;
    }
    Ok(ck.alerts.iter().map(|a| a.pending.len()).sum())
}

pub fn run_cli(args: MonitorArgs) -> anyhow::Result<ExitStatus> {
    run_with(args, &*RealPipeline::factory())
}

/// The whole command: configuration, lock, run, metrics, exit status.
pub fn run_with(args: MonitorArgs, make: &PipelineFactory) -> anyhow::Result<ExitStatus> {
    let started = std::time::Instant::now();
    let now = chrono::Utc::now().timestamp();
    let config = MonitorConfig::load(&args.config)?;
    let dir = config.state_dir();
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("state_dir {}: {e}", dir.display()))?;
    let Some(_lock) =
        Lock::acquire(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.join("lock").display()))?
    else {
        eprintln!(
            "cutoff monitor: another run holds the lock ({}); this one leaves it to finish",
            dir.join("lock").display()
        );
        return Ok(ExitStatus::Success);
    };
    crash_point("after-lock");
    let store = Store::new(dir);
    let result = run_locked(&config, &store, make, now);
    crash_point("before-metrics");
    if let Some(path) = &args.metrics_file {
        let m = crate::metrics::Metrics::of_run(&config, &result, now, started.elapsed());
        if let Err(e) = write_atomic(path, m.render().as_bytes()) {
            warn(&format!("metrics file {}: {e}", path.display()));
        }
    }
    let (report, _) = result.map_err(anyhow::Error::msg)?;
    Ok(if report.incomplete {
        ExitStatus::IncompleteInput
    } else if args.exit_code && report.alerts_raised > 0 {
        ExitStatus::EventsFound
    } else {
        ExitStatus::Success
    })
}

/// The configured sink names (for tests and metrics).
pub fn sink_names(config: &MonitorConfig) -> Vec<String> {
    config
        .sinks
        .iter()
        .map(|s: &SinkConfig| s.name().unwrap_or(s.kind()).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{EventKind, Evidence};

    fn listed(name: &str, age: i64) -> Listed {
        let path = PathBuf::from(format!("/m/bgpdata/2008.11/UPDATES/{name}"));
        let (kind, start) = crate::source::kind_and_time(&path);
        Listed {
            file: MrtFile {
                path,
                collector: CollectorId::new("route-views2"),
                kind,
                start,
            },
            age,
        }
    }

    fn rules(grace: i64) -> SelectRules {
        SelectRules {
            start: Start::LatestRib,
            settle: 60,
            grace,
            retry_for: 7 * 86400,
        }
    }

    fn names(files: &[MrtFile]) -> Vec<String> {
        files
            .iter()
            .map(|f| {
                f.path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn a_hole_waits_for_the_grace_period_then_is_a_gap_and_a_late_file_is_reported() {
        let mut listing: Vec<Listed> = ["0000", "0015", "0045", "0100", "0115"]
            .iter()
            .map(|t| listed(&format!("updates.20081111.{t}.bz2"), 3600))
            .collect();
        let mut cursor = Cursor::default();
        let mut retry = Vec::new();
        let now = 1_000_000;
        let mut sel = Selection::default();
        let got = select_collector(
            "route-views2",
            &listing,
            &mut cursor,
            &mut retry,
            &rules(3600),
            now,
            &mut sel,
        );
        assert_eq!(
            names(&got),
            ["updates.20081111.0000.bz2", "updates.20081111.0015.bz2"]
        );
        assert!(sel.warnings.is_empty() && sel.missing.is_empty() && !sel.incomplete);
        assert!(cursor.hold.is_some(), "held at the hole");

        // Within the grace period nothing moves and nothing is said.
        let mut sel = Selection::default();
        let got = select_collector(
            "route-views2",
            &listing,
            &mut cursor,
            &mut retry,
            &rules(3600),
            now + 1800,
            &mut sel,
        );
        assert!(got.is_empty() && sel.warnings.is_empty());

        // After it, the hole is a gap and reading goes on.
        let mut sel = Selection::default();
        let got = select_collector(
            "route-views2",
            &listing,
            &mut cursor,
            &mut retry,
            &rules(3600),
            now + 3600,
            &mut sel,
        );
        assert_eq!(
            names(&got),
            [
                "updates.20081111.0045.bz2",
                "updates.20081111.0100.bz2",
                "updates.20081111.0115.bz2"
            ]
        );
        assert_eq!(sel.missing.len(), 1);
        assert_eq!(sel.missing[0].time.rfc3339(), "2008-11-11T00:30:00Z");
        assert!(sel.incomplete);
        assert_eq!(sel.warnings.len(), 1, "{:?}", sel.warnings);
        assert_eq!(retry.len(), 1);

        // Nothing new: silent, and the missing file stays on the retry list.
        let mut sel = Selection::default();
        let got = select_collector(
            "route-views2",
            &listing,
            &mut cursor,
            &mut retry,
            &rules(3600),
            now + 4000,
            &mut sel,
        );
        assert!(got.is_empty() && sel.warnings.is_empty() && !sel.incomplete);
        assert_eq!(retry.len(), 1);

        // The missing file turns up: reported once, not read, off the retry list.
        listing.push(listed("updates.20081111.0030.bz2", 3600));
        listing.sort_by(|a, b| file_order(&a.file).cmp(&file_order(&b.file)));
        let mut sel = Selection::default();
        let got = select_collector(
            "route-views2",
            &listing,
            &mut cursor,
            &mut retry,
            &rules(3600),
            now + 5000,
            &mut sel,
        );
        assert!(got.is_empty());
        assert!(
            sel.warnings[0].contains("turned up after it was declared missing"),
            "{:?}",
            sel.warnings
        );
        assert!(retry.is_empty());
        let mut sel = Selection::default();
        select_collector(
            "route-views2",
            &listing,
            &mut cursor,
            &mut retry,
            &rules(3600),
            now + 6000,
            &mut sel,
        );
        assert!(sel.warnings.is_empty(), "said once");
    }

    #[test]
    fn fresh_files_wait_and_the_first_run_starts_at_the_latest_rib() {
        let listing = vec![
            listed("rib.20081110.0000.bz2", 9999),
            listed("updates.20081110.0000.bz2", 9999),
            listed("rib.20081110.0200.bz2", 9999),
            listed("updates.20081110.0200.bz2", 9999),
            listed("updates.20081110.0215.bz2", 10),
        ];
        let mut cursor = Cursor::default();
        let mut retry = Vec::new();
        let mut sel = Selection::default();
        let got = select_collector(
            "route-views2",
            &listing,
            &mut cursor,
            &mut retry,
            &rules(0),
            0,
            &mut sel,
        );
        assert_eq!(
            names(&got),
            ["rib.20081110.0200.bz2", "updates.20081110.0200.bz2"]
        );
        let mut sel = Selection::default();
        let mut later = listing.clone();
        later[4].age = 120;
        let got = select_collector(
            "route-views2",
            &later,
            &mut cursor,
            &mut retry,
            &rules(0),
            0,
            &mut sel,
        );
        assert_eq!(names(&got), ["updates.20081110.0215.bz2"]);
        assert!(
            sel.warnings.is_empty(),
            "files before the start are not late: {:?}",
            sel.warnings
        );
    }

    #[test]
    fn retries_expire_with_a_message() {
        let mut retry = vec![Missing {
            collector: "rrc00".into(),
            after: 0,
            before: 900,
            declared: 100,
        }];
        let mut w = Vec::new();
        expire_retries(&mut retry, 1000, 1099, &mut w);
        assert_eq!(retry.len(), 1);
        expire_retries(&mut retry, 1000, 1100, &mut w);
        assert!(retry.is_empty());
        assert!(w[0].contains("gave up waiting"), "{w:?}");
    }

    // ----- the run, with a scripted pipeline -----

    /// Emits the scripted events when the file of the same name is fed.
    struct Fake {
        script: BTreeMap<String, Vec<Event>>,
        fed: Vec<String>,
    }

    impl Incremental for Fake {
        fn feed(&mut self, collectors: &[CollectorFiles], missing: &[MissingData]) -> Fed {
            let mut fed = Fed {
                events: Vec::new(),
                files: Vec::new(),
            };
            for f in with_placeholders(collectors, missing)
                .iter()
                .flat_map(|c| &c.files)
            {
                let name = f
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                fed.events
                    .extend(self.script.get(&name).cloned().unwrap_or_default());
                self.fed.push(name);
            }
            fed
        }
        fn state(&mut self) -> Result<serde_json::Value, String> {
            Ok(serde_json::json!({ "fed": self.fed }))
        }
        fn visible_peers(&self) -> BTreeMap<u32, usize> {
            [(26780, 36)].into()
        }
    }

    fn event(kind: EventKind, secs: i64) -> Event {
        Event::new(kind, 26780, Timestamp::from_secs(secs), Evidence::default())
    }

    fn factory(script: BTreeMap<String, Vec<Event>>) -> Box<PipelineFactory> {
        Box::new(move |_plan, state| {
            let fed = state
                .and_then(|s| serde_json::from_value::<Vec<String>>(s["fed"].clone()).ok())
                .unwrap_or_default();
            Ok(Box::new(Fake {
                script: script.clone(),
                fed,
            }) as Box<dyn Incremental>)
        })
    }

    struct Setup {
        dir: tempfile::TempDir,
        config: MonitorConfig,
    }

    fn setup(extra: &str) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("mirror/bgpdata/2008.11/UPDATES")).expect("mkdir");
        let text = format!(
            "state_dir = \"state\"\n[[watch]]\nasn = 26780\nlabel = \"McColo\"\nsince = \"2008-11-11\"\n\
             [source]\nmirror = [\"mirror\"]\nsettle = \"0s\"\n\
             [[sink]]\ntype = \"file\"\npath = \"alerts.jsonl\"\n{extra}"
        );
        let path = dir.path().join("m.toml");
        std::fs::write(&path, text).expect("write config");
        let config = MonitorConfig::load(&path).expect("config");
        std::fs::create_dir_all(config.state_dir()).expect("state dir");
        Setup { dir, config }
    }

    impl Setup {
        fn add(&self, name: &str) {
            std::fs::write(
                self.dir
                    .path()
                    .join("mirror/bgpdata/2008.11/UPDATES")
                    .join(name),
                b"",
            )
            .expect("add file");
        }
        fn alert_keys(&self) -> Vec<String> {
            std::fs::read_to_string(self.dir.path().join("alerts.jsonl"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<Alert>(l).ok())
                .map(|a| a.key)
                .collect()
        }
    }

    #[test]
    fn alerts_are_raised_once_within_since_and_recorded_per_sink() {
        let s = setup("");
        let script: BTreeMap<String, Vec<Event>> = [
            // Before `since`: detected, counted, not alerted.
            (
                "updates.20081110.0000.bz2".to_string(),
                vec![event(EventKind::UpstreamLost, 1226275200)],
            ),
            (
                "updates.20081111.2145.bz2".to_string(),
                vec![event(EventKind::Disconnected, 1226439180)],
            ),
        ]
        .into();
        let make = factory(script);
        let store = Store::new(s.config.state_dir());
        s.add("updates.20081110.0000.bz2");
        let (r, _) = run_locked(&s.config, &store, &*make, 2_000_000_000).expect("run 1");
        assert_eq!(
            (r.alerts_raised, r.files_processed),
            (0, 0),
            "the fake reports no files"
        );
        s.add("updates.20081111.2145.bz2");
        // The second file is far after the first: with the default grace it waits.
        let (r, ck) = run_locked(&s.config, &store, &*make, 2_000_000_000).expect("run 2");
        assert_eq!(r.alerts_raised, 0);
        assert!(ck.collectors["route-views2"].hold.is_some());
        let (r, ck) = run_locked(&s.config, &store, &*make, 2_000_000_000 + 3600).expect("run 3");
        assert!(r.incomplete, "the hole became a gap");
        assert_eq!(r.alerts_raised, 1);
        assert_eq!(ck.alerts.len(), 1);
        assert!(ck.alerts[0].pending.is_empty());
        assert!(ck.alerts[0].delivered.contains_key("file"));
        assert_eq!(ck.counters.events["upstream_lost"], 1);
        assert_eq!(
            s.alert_keys(),
            ["AS26780/disconnected/2008-11-11T21:33:00Z"]
        );
        let (r, _) = run_locked(&s.config, &store, &*make, 2_000_000_000 + 4000).expect("run 4");
        assert_eq!((r.alerts_raised, r.incomplete), (0, false));
        assert_eq!(s.alert_keys().len(), 1);
    }

    #[test]
    fn an_undelivered_alert_stays_pending_and_goes_out_next_run() {
        let s = setup("");
        let flag = s.dir.path().join("ok");
        let mut config = s.config.clone();
        config.sinks.push(SinkConfig::Exec(crate::config::ExecSink {
            name: Some("pager".into()),
            command: vec!["test".into(), "-e".into(), flag.display().to_string()],
            timeout: crate::config::Secs(10),
        }));
        let script = [(
            "updates.20081111.2145.bz2".to_string(),
            vec![event(EventKind::Disconnected, 1226439180)],
        )]
        .into();
        let make = factory(script);
        let store = Store::new(config.state_dir());
        s.add("updates.20081111.2145.bz2");
        let (r, ck) = run_locked(&config, &store, &*make, 2_000_000_000).expect("run 1");
        assert_eq!((r.alerts_raised, r.undelivered), (1, 1));
        assert_eq!(ck.alerts[0].pending.iter().collect::<Vec<_>>(), ["pager"]);
        assert_eq!(s.alert_keys().len(), 1, "the file sink got it");
        std::fs::write(&flag, b"").expect("flag");
        let (r, ck) = run_locked(&config, &store, &*make, 2_000_000_100).expect("run 2");
        assert_eq!((r.alerts_raised, r.undelivered), (0, 0));
        assert!(ck.alerts[0].delivered.contains_key("pager"));
        assert_eq!(s.alert_keys().len(), 1, "not written twice");
    }

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

    #[test]
    fn the_lock_is_exclusive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let held = Lock::acquire(dir.path()).expect("lock").expect("free");
        assert!(Lock::acquire(dir.path()).expect("lock").is_none());
        drop(held);
        assert!(Lock::acquire(dir.path()).expect("lock").is_some());
    }
}
