//! Which files a run reads: per collector, what is new since the cursor, settled, in order;
//! holes, grace, retries and late files; the archive mode's catch-up window.

use crate::checkpoint::{Checkpoint, Cursor, Hold, Mark, Missing};
use crate::config::{MonitorConfig, SourceMode, Start};
use crate::seam::{MissingData, file_order};
use cutoff_core::files::{CollectorFiles, FileKind, MrtFile};
use cutoff_core::model::{CollectorId, Timestamp};
use std::collections::BTreeMap;
use std::path::PathBuf;

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
        let groups = match cutoff_core::files::discover(&[dir.display().to_string()], &[]) {
            Ok(g) => g,
            // An empty mirror is a mirror that has not filled yet.
            Err(cutoff_core::error::UsageError::NoInput(_)) => continue,
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

/// Expected time between update files: the median step of the listing, else the archive's
/// cadence (see [`cutoff_core::files::update_cadence`]).
pub fn cadence(collector: &str, files: &[Listed]) -> Option<i64> {
    let starts: Vec<i64> = files
        .iter()
        .filter(|l| l.file.kind == FileKind::Updates)
        .filter_map(|l| l.file.start.map(|t| t.secs))
        .collect();
    cutoff_core::files::update_cadence(collector, &starts)
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
        if l.age.max(0) < rules.settle {
            tracing::debug!(
                "{}: {} old, younger than settle ({}): it and later files of {collector} wait for the next run",
                f.path.display(),
                cutoff_core::units::duration_text(l.age.max(0)),
                cutoff_core::units::duration_text(rules.settle)
            );
            break; // may still be being written: it and what follows wait for the next run
        }
        if f.kind == FileKind::Updates {
            if let (Some(prev), Some(c)) = (cursor.last_update, cadence)
                && cutoff_core::files::is_hole(prev, start.secs, c)
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
    let reason = cutoff_core::files::hole_reason(collector, prev, next, cadence);
    sel.warnings.push(format!(
        "{reason}: missing; a gap (changes that fall in it get time bounds), and the file is looked for on later runs"
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
    use cutoff_archive::layout::Collector;
    let s = &config.source;
    let args = cutoff_archive::options::ArchiveOptions {
        routeviews_url: Some(s.routeviews_url.clone()),
        ris_url: Some(s.ris_url.clone()),
        cache_dir: Some(config.cache_dir().to_path_buf()),
        offline: s.offline,
        max_listing_size: Some(s.max_listing_size.0),
        max_file_size: Some(s.max_file_size.0),
        min_rate: Some(s.min_rate.0),
        max_retry_wait: Some(std::time::Duration::from_secs(
            u64::try_from(s.max_retry_wait.0).unwrap_or(0),
        )),
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

pub(crate) fn select(
    config: &MonitorConfig,
    ck: &mut Checkpoint,
    now: i64,
) -> Result<Selection, String> {
    let dirs = match config.source.mode() {
        SourceMode::Mirror => config.source.mirror.clone(),
        SourceMode::Archive => fetch_archive(config, &ck.collectors, &ck.retry, now)?,
    };
    // Ages are measured when the files are listed, not when the run started: downloads (and a
    // mirror's rsync) may have written files since, and a file written after `now` must not
    // look younger than zero (with `settle = 0`, "younger than 0 s" held back every file
    // downloaded in a later second than the run began, so a slow run read only part of its
    // window).
    let listed_at = chrono::Utc::now().timestamp();
    let listing = list_mirror(&dirs, listed_at)?;
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
    if listing.is_empty() {
        let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        tracing::debug!("no MRT file under {}: nothing to read", dirs.join(", "));
    }
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
        match (chosen.len(), &cursor.last) {
            (0, Some(last)) => {
                tracing::debug!("{collector}: nothing new since {}", last.path)
            }
            (0, None) => tracing::debug!("{collector}: no file to read yet"),
            (n, _) => tracing::debug!("{collector}: {n} new file(s) to read"),
        }
        if !chosen.is_empty() {
            sel.collectors.push(CollectorFiles {
                collector: CollectorId::new(collector),
                files: chosen,
            });
        }
    }
    Ok(sel)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(name: &str, age: i64) -> Listed {
        let path = PathBuf::from(format!("/m/bgpdata/2008.11/UPDATES/{name}"));
        let (kind, start) = cutoff_core::files::kind_and_time(&path);
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

    /// Archive mode (settle 0): files downloaded during the run have a modification time
    /// after the time the run started; they are complete and must all be read.
    #[test]
    fn with_no_settle_time_files_written_after_the_run_began_are_read() {
        let listing = vec![
            listed("rib.20081110.0000.bz2", 5),
            listed("updates.20081110.0000.bz2", 0),
            listed("updates.20081110.0015.bz2", -1),
            listed("updates.20081110.0030.bz2", -7),
        ];
        let rules = SelectRules {
            settle: 0,
            ..rules(3600)
        };
        let got = select_collector(
            "route-views2",
            &listing,
            &mut Cursor::default(),
            &mut Vec::new(),
            &rules,
            0,
            &mut Selection::default(),
        );
        assert_eq!(got.len(), 4, "{:?}", names(&got));
    }

    /// A mirror file listed with a modification time in the future (clock skew, or written
    /// after the listing's clock was read) is as young as can be: it waits for `settle`.
    #[test]
    fn with_a_settle_time_a_file_from_the_future_waits() {
        let listing = vec![
            listed("updates.20081110.0000.bz2", 120),
            listed("updates.20081110.0015.bz2", -30),
        ];
        let got = select_collector(
            "route-views2",
            &listing,
            &mut Cursor::default(),
            &mut Vec::new(),
            &rules(3600),
            0,
            &mut Selection::default(),
        );
        assert_eq!(names(&got), ["updates.20081110.0000.bz2"]);
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
}
