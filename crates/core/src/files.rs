//! Input files. Local input: expanding paths, directories and globs into MRT files, naming
//! their collector, and ordering each collector's files in time (RIB first, then updates).
//! Archive input (the `cutoff-archive` crate) plans and downloads RouteViews / RIS files into
//! a cache laid out like the archives, and hands the same [`CollectorFiles`] to the readers.

use crate::error::UsageError;
use crate::model::{CollectorId, Timestamp};
use chrono::NaiveDateTime;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// RIB dump or update file, from the archive's naming.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum FileKind {
    Rib,
    Updates,
    /// The name says nothing: its records decide.
    Unknown,
}

/// One input file with what its path tells.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MrtFile {
    pub path: PathBuf,
    pub collector: CollectorId,
    pub kind: FileKind,
    /// Start time from the file name (`updates.20080224.0007.bz2`).
    pub start: Option<Timestamp>,
}

/// How the path of a missing file's placeholder begins: `(missing: REASON)`.
pub const MISSING_PREFIX: &str = "(missing: ";

impl MrtFile {
    /// A placeholder for update data known to be missing, at the time it should have started.
    /// Reading it reads nothing; the reader reports it as a gap (a hole in the collector's
    /// stream), never as a file read.
    pub fn missing(collector: CollectorId, start: Timestamp, reason: &str) -> MrtFile {
        MrtFile {
            path: PathBuf::from(format!("{MISSING_PREFIX}{reason})")),
            collector,
            kind: FileKind::Updates,
            start: Some(start),
        }
    }

    pub fn is_missing(&self) -> bool {
        is_missing_path(&self.path.to_string_lossy())
    }
}

/// Whether a path (as reports print it) names a placeholder for missing data.
pub fn is_missing_path(path: &str) -> bool {
    path.starts_with(MISSING_PREFIX)
}

/// How messages name a file: its path, or for a placeholder what is missing.
pub fn display_name(path: &str) -> &str {
    path.strip_prefix(MISSING_PREFIX)
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(path)
}

/// The problem a placeholder for missing data reports.
pub const MISSING_PROBLEM: &str =
    "missing from the input: a gap; a change first seen after it is dated with time bounds";

/// Expected time between update files (seconds): the median step between the starts given
/// (when there are at least three steps), else the archive's cadence by collector name
/// (RouteViews 15 min, RIS 5 min), else unknown (no hole is looked for).
pub fn update_cadence(collector: &str, starts: &[i64]) -> Option<i64> {
    let mut steps: Vec<i64> = starts
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|g| *g > 0)
        .collect();
    if steps.len() >= 3 {
        steps.sort_unstable();
        return Some(steps[steps.len() / 2]);
    }
    if collector.starts_with("rrc") {
        Some(300)
    } else if collector.starts_with("route-views") {
        Some(900)
    } else {
        None
    }
}

/// Whether update files starting at `prev` and then `next` leave a hole: a step of more than
/// one and a half cadences (collectors start files a little late or early, never half a
/// file's span).
pub fn is_hole(prev: i64, next: i64, cadence: i64) -> bool {
    (next - prev) * 2 > cadence * 3
}

/// Put a placeholder ([`MrtFile::missing`]) where a collector's update files leave a hole, so
/// that `scan`, `timeline` and `monitor` all read a hole the same way: as a gap, dated where
/// the missing file should have started. Files must be in reading order.
pub fn mark_holes(group: &mut CollectorFiles) {
    let starts: Vec<i64> = group
        .files
        .iter()
        .filter(|f| f.kind == FileKind::Updates)
        .filter_map(|f| f.start.map(|t| t.secs))
        .collect();
    let Some(cadence) = update_cadence(group.collector.as_str(), &starts) else {
        return;
    };
    let mut files = Vec::with_capacity(group.files.len());
    let mut prev: Option<i64> = None;
    for f in group.files.drain(..) {
        if f.kind == FileKind::Updates
            && let Some(start) = f.start.map(|t| t.secs)
        {
            if let Some(p) = prev
                && is_hole(p, start, cadence)
            {
                let reason = hole_reason(group.collector.as_str(), p, start, cadence);
                let at = Timestamp::from_secs(p + cadence);
                files.push(MrtFile::missing(group.collector.clone(), at, &reason));
            }
            prev = Some(start);
        }
        files.push(f);
    }
    group.files = files;
}

/// How a hole between update files is named, in warnings and in the summary's gaps.
pub fn hole_reason(collector: &str, prev: i64, next: i64, cadence: i64) -> String {
    let t = |s: i64| Timestamp::from_secs(s).rfc3339();
    format!(
        "{collector}: no update file between {} and {} (expected every {})",
        t(prev),
        t(next),
        crate::units::duration_text(cadence)
    )
}

/// One collector's files, in the order they must be read.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectorFiles {
    pub collector: CollectorId,
    pub files: Vec<MrtFile>,
}

/// `NAME=PATH` from `--collector`: files under PATH belong to NAME.
#[derive(Debug, Clone)]
pub struct CollectorOverride {
    pub name: String,
    pub path: PathBuf,
}

/// `--collector` on the command line: `NAME=PATH` names local files, a bare `NAME` picks an
/// archive collector.
#[derive(Debug, Clone)]
pub enum CollectorArg {
    Local(CollectorOverride),
    Archive(String),
}

/// `NAME=PATH`: the files under PATH belong to collector NAME.
pub fn parse_collector_override(s: &str) -> Result<CollectorOverride, String> {
    match s.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => Ok(CollectorOverride {
            name: name.to_string(),
            path: PathBuf::from(path),
        }),
        _ => Err(format!("{s:?}: expected NAME=PATH")),
    }
}

impl std::str::FromStr for CollectorArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once('=') {
            Some((name, path)) if !name.is_empty() && !path.is_empty() => {
                Ok(CollectorArg::Local(CollectorOverride {
                    name: name.to_string(),
                    path: PathBuf::from(path),
                }))
            }
            None if !s.is_empty() => Ok(CollectorArg::Archive(s.to_string())),
            _ => Err(format!(
                "{s:?}: expected NAME=PATH (local files) or a collector NAME (archives)"
            )),
        }
    }
}

/// Expand the command line's paths into files grouped by collector.
pub fn discover(
    inputs: &[String],
    overrides: &[CollectorOverride],
) -> Result<Vec<CollectorFiles>, UsageError> {
    let mut by_collector: BTreeMap<CollectorId, Vec<MrtFile>> = BTreeMap::new();
    for input in inputs {
        let mut found = expand(input)?;
        if found.is_empty() {
            return Err(UsageError::NoInput(input.clone()));
        }
        found.sort();
        let dir_arg = Path::new(input).is_dir().then(|| PathBuf::from(input));
        for path in found {
            let collector = collector_for(&path, dir_arg.as_deref(), overrides);
            let (kind, start) = kind_and_time(&path);
            by_collector
                .entry(collector.clone())
                .or_default()
                .push(MrtFile {
                    path,
                    collector,
                    kind,
                    start,
                });
        }
    }
    Ok(by_collector
        .into_iter()
        .map(|(collector, mut files)| {
            files.sort_by(|a, b| (a.start, a.kind, &a.path).cmp(&(b.start, b.kind, &b.path)));
            files.dedup_by(|a, b| a.path == b.path);
            CollectorFiles { collector, files }
        })
        .collect())
}

fn expand(input: &str) -> Result<Vec<PathBuf>, UsageError> {
    let path = Path::new(input);
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if path.is_dir() {
        let mut out = Vec::new();
        walk(path, &mut out).map_err(|e| UsageError::Invalid(format!("{input}: {e}")))?;
        return Ok(out);
    }
    let pattern = glob::glob(input)
        .map_err(|e| UsageError::Invalid(format!("{input}: not a file, directory or glob: {e}")))?;
    let mut out = Vec::new();
    for entry in pattern {
        let p = entry.map_err(|e| UsageError::Invalid(format!("{input}: {e}")))?;
        if p.is_file() {
            out.push(p);
        } else if p.is_dir() {
            walk(&p, &mut out).map_err(|e| UsageError::Invalid(format!("{}: {e}", p.display())))?;
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name.ends_with(".partial") {
            continue;
        }
        if p.is_dir() {
            walk(&p, out)?;
        } else if looks_like_mrt(name) {
            out.push(p);
        }
    }
    Ok(())
}

/// Skip the README, checksums and other companions that live next to MRT files.
fn looks_like_mrt(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ![
        ".md",
        ".txt",
        ".sha256",
        ".json",
        ".jsonl",
        ".csv",
        ".toml",
        ".html",
        "sha256sums",
    ]
    .iter()
    .any(|ext| lower.ends_with(ext))
}

/// Collector from the archive layout, else the `--collector NAME=PATH` that contains the
/// file, else the directory named on the command line, else the file's own directory.
pub fn collector_for(
    path: &Path,
    dir_arg: Option<&Path>,
    overrides: &[CollectorOverride],
) -> CollectorId {
    if let Some(o) = overrides.iter().find(|o| path.starts_with(&o.path)) {
        return CollectorId::new(&o.name);
    }
    if let Some(name) = collector_from_layout(path) {
        return CollectorId::new(&name);
    }
    let dir = dir_arg.or_else(|| path.parent());
    let name = dir
        .and_then(|d| d.canonicalize().ok().or_else(|| Some(d.to_path_buf())))
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "local".into());
    CollectorId::new(&name)
}

/// `…/route-views.linx/bgpdata/2008.11/UPDATES/f` → route-views.linx;
/// `…/bgpdata/2008.11/RIBS/f` with no collector folder → route-views2;
/// `…/rrc00/2008.11/f` → rrc00.
pub fn collector_from_layout(path: &Path) -> Option<String> {
    let parts: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let n = parts.len();
    if n >= 4
        && is_month_dir(&parts[n - 3])
        && matches!(parts[n - 2].as_str(), "RIBS" | "UPDATES")
        && parts[n - 4] == "bgpdata"
    {
        let parent = n.checked_sub(5).map(|i| parts[i].as_str());
        return Some(match parent {
            Some(p) if p.starts_with("route-views") => p.to_string(),
            _ => "route-views2".to_string(),
        });
    }
    if n >= 3 && is_month_dir(&parts[n - 2]) && is_ris_name(&parts[n - 3]) {
        return Some(parts[n - 3].clone());
    }
    None
}

fn is_month_dir(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 7 && b[4] == b'.' && b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit)
}

fn is_ris_name(s: &str) -> bool {
    s.len() == 5 && s.starts_with("rrc") && s[3..].bytes().all(|b| b.is_ascii_digit())
}

/// File kind and start time from names like `rib.20081110.0000.bz2`, `bview.20080101.0000.gz`,
/// `updates.20080224.0007.bz2`.
pub fn kind_and_time(path: &Path) -> (FileKind, Option<Timestamp>) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let parts: Vec<&str> = name.split('.').collect();
    // `updates.20080224.0007.bz2`, `rrc00.updates.19990903.1041.gz`, `bview.…`, `rib.…`.
    let kind = if parts.iter().any(|p| p.starts_with("rib") || *p == "bview") {
        FileKind::Rib
    } else if parts.contains(&"updates") {
        FileKind::Updates
    } else {
        FileKind::Unknown
    };
    let start = parts.windows(2).find_map(|w| {
        if w[0].len() == 8
            && w[1].len() == 4
            && w.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()))
        {
            NaiveDateTime::parse_from_str(&format!("{}{}", w[0], w[1]), "%Y%m%d%H%M")
                .ok()
                .map(|dt| Timestamp::from_secs(dt.and_utc().timestamp()))
        } else {
            None
        }
    });
    (kind, start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn updates(collector: &str, starts: &[&str]) -> CollectorFiles {
        let files = starts
            .iter()
            .map(|s| {
                let path = PathBuf::from(format!("updates.{s}.bz2"));
                let (kind, start) = kind_and_time(&path);
                MrtFile {
                    path,
                    collector: CollectorId::new(collector),
                    kind,
                    start,
                }
            })
            .collect();
        CollectorFiles {
            collector: CollectorId::new(collector),
            files,
        }
    }

    #[test]
    fn a_missing_update_file_becomes_a_placeholder_where_it_should_have_started() {
        let mut c = updates(
            "route-views2",
            &[
                "20081111.0000",
                "20081111.0015",
                "20081111.0045",
                "20081111.0100",
            ],
        );
        mark_holes(&mut c);
        let missing: Vec<&MrtFile> = c.files.iter().filter(|f| f.is_missing()).collect();
        assert_eq!(missing.len(), 1);
        assert_eq!(
            missing[0].start.map(Timestamp::rfc3339).as_deref(),
            Some("2008-11-11T00:30:00Z")
        );
        assert_eq!(c.files[2].path, missing[0].path, "in reading order");
        assert_eq!(
            display_name(&missing[0].path.display().to_string()),
            "route-views2: no update file between 2008-11-11T00:15:00Z and 2008-11-11T00:45:00Z (expected every 15m)"
        );
    }

    #[test]
    fn files_a_little_late_or_a_stranger_with_unknown_cadence_leave_no_hole() {
        let mut late = updates(
            "route-views2",
            &[
                "20080224.1807",
                "20080224.1822",
                "20080224.1838",
                "20080224.1852",
            ],
        );
        mark_holes(&mut late);
        assert!(late.files.iter().all(|f| !f.is_missing()));
        let mut lab = updates("lab", &["20261123.1500", "20261123.1600"]);
        mark_holes(&mut lab);
        assert_eq!(lab.files.len(), 2, "no cadence known, no hole guessed");
        // RIS files every 5 minutes: a 10-minute step is a hole once the median says so.
        let mut ris = updates(
            "rrc00",
            &[
                "20161102.0000",
                "20161102.0005",
                "20161102.0010",
                "20161102.0020",
            ],
        );
        mark_holes(&mut ris);
        assert_eq!(ris.files.iter().filter(|f| f.is_missing()).count(), 1);
    }

    #[test]
    fn collector_from_archive_layouts() {
        let c = |p: &str| collector_from_layout(Path::new(p));
        assert_eq!(
            c("/x/route-views.linx/bgpdata/2008.11/UPDATES/updates.20081111.2130.bz2").as_deref(),
            Some("route-views.linx")
        );
        assert_eq!(
            c("/mirror/bgpdata/2008.11/RIBS/rib.20081110.0000.bz2").as_deref(),
            Some("route-views2")
        );
        assert_eq!(
            c("/cache/ris/rrc00/2008.11/updates.20081111.2130.gz").as_deref(),
            Some("rrc00")
        );
        assert_eq!(c("/tmp/updates.20080224.0007.bz2"), None);
    }

    #[test]
    fn kinds_and_times_from_names() {
        let (k, t) = kind_and_time(Path::new("updates.20080224.0007.bz2"));
        assert_eq!(k, FileKind::Updates);
        assert_eq!(
            t.map(|t| t.rfc3339()).as_deref(),
            Some("2008-02-24T00:07:00Z")
        );
        let (k, t) = kind_and_time(Path::new("bview.20020722.2337.gz"));
        assert_eq!(
            (k, t.map(|t| t.secs)),
            (FileKind::Rib, Some(1027380 * 1000 + 1020))
        );
        assert_eq!(
            kind_and_time(Path::new("bird_bgp")),
            (FileKind::Unknown, None)
        );
    }
}
