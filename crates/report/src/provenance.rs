//! Provenance: every input file with its sha256 computed when the report is written (so a
//! reader can check they hold the same bytes), its time span, records, cut records and
//! problems; and the labels a data set carries about itself (a `README.md` above the files
//! that calls them a RECONSTRUCTION).

use crate::input::ReportInput;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// One input file as the report saw it.
#[derive(Debug, Clone)]
pub struct FileProvenance {
    /// `mrt`, `events`, `timeline`, `telemetry`, `control`, `as-names`.
    pub role: String,
    pub path: String,
    /// `Ok(hex)`, or why there is none (the file is gone, unreadable).
    pub sha256: Result<String, String>,
    pub bytes: Option<u64>,
    pub collector: Option<String>,
    pub kind: Option<String>,
    pub first: Option<String>,
    pub last: Option<String>,
    pub records: Option<u64>,
    pub truncated: Option<u64>,
    /// Problems the scan met in the file (gaps, skipped bytes, unparsed records).
    pub problem: Option<String>,
}

/// A label a data set gives itself: the first line of the `README.md` above its files.
#[derive(Debug, Clone, PartialEq)]
pub struct DataLabel {
    pub readme: String,
    pub line: String,
}

pub fn sha256_file(path: &Path) -> Result<(String, u64), String> {
    let mut f = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "no longer exists at report time".to_string(),
        _ => format!("cannot read at report time: {e}"),
    })?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = f
            .read(&mut buf)
            .map_err(|e| format!("cannot read at report time: {e}"))?;
        if k == 0 {
            break;
        }
        n += k as u64;
        h.update(&buf[..k]);
    }
    Ok((hex::encode(h.finalize()), n))
}

fn blank(role: &str, path: &str) -> FileProvenance {
    let hashed = sha256_file(Path::new(path));
    FileProvenance {
        role: role.into(),
        path: path.into(),
        bytes: hashed.as_ref().ok().map(|h| h.1),
        sha256: hashed.map(|h| h.0),
        collector: None,
        kind: None,
        first: None,
        last: None,
        records: None,
        truncated: None,
        problem: None,
    }
}

/// Every file behind the report: the scan's MRT files (from the summary), then the files the
/// report read itself.
pub fn collect(input: &ReportInput) -> Vec<FileProvenance> {
    let gaps: BTreeMap<&str, &str> = input
        .summary
        .gaps
        .iter()
        .map(|g| (g.file.as_str(), g.problem.as_str()))
        .collect();
    let mut out: Vec<FileProvenance> = input
        .summary
        .files
        .iter()
        .map(|f| {
            let mut p = blank("mrt", &f.path);
            p.collector = Some(f.collector.clone());
            p.kind = Some(format!("{:?}", f.kind).to_lowercase());
            p.first = f.stats.first_time.map(|t| t.rfc3339());
            p.last = f.stats.last_time.map(|t| t.rfc3339());
            p.records = Some(f.stats.records);
            p.truncated = Some(f.stats.truncated_records);
            p.problem = gaps.get(f.path.as_str()).map(|s| s.to_string());
            p
        })
        .collect();
    for (role, path) in &input.report_files {
        out.push(blank(role, path));
    }
    if let Some(spam) = &input.spam {
        let s = &spam.correlation.summary;
        for (role, t) in std::iter::once(("telemetry", &s.telemetry))
            .chain(s.control.as_ref().map(|c| ("control", c)))
        {
            let mut p = blank(role, &t.file);
            p.kind = Some(format!("series {}, bins of {}", t.series, t.bin));
            p.first = t.first.clone();
            p.last = t.last.clone();
            p.records = Some(t.bins as u64);
            p.problem = (t.missing_bins > 0).then(|| format!("{} bin(s) missing", t.missing_bins));
            out.push(p);
        }
    }
    out
}

/// `README.md` files above the inputs whose first line says RECONSTRUCTION or SYNTHETIC: the
/// report must not let such data pass for measurements.
pub fn data_labels(files: &[FileProvenance]) -> Vec<DataLabel> {
    let mut seen = BTreeMap::new();
    for f in files {
        let mut dir = Path::new(&f.path).parent();
        for _ in 0..6 {
            let Some(d) = dir else { break };
            let readme = d.join("README.md");
            if !seen.contains_key(&readme) {
                let label = first_line(&readme).filter(|l| {
                    let u = l.to_uppercase();
                    u.contains("RECONSTRUCTION") || u.contains("SYNTHETIC")
                });
                seen.insert(readme.clone(), label);
            }
            if seen.get(&readme).is_some_and(Option::is_some) {
                break;
            }
            dir = d.parent();
        }
    }
    seen.into_iter()
        .filter_map(|(readme, line)| {
            Some(DataLabel {
                readme: readme.display().to_string(),
                line: line?,
            })
        })
        .collect()
}

fn first_line(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| !l.trim().is_empty())?;
    Some(line.trim_start_matches('#').trim().to_string())
}

/// `sha256sum -c` input for the files that could be hashed, to be checked from inside `dir`
/// (the report folder): each path as seen from there.
pub fn sha256sums(files: &[FileProvenance], dir: &Path) -> String {
    let dir = dir.canonicalize().ok();
    files
        .iter()
        .filter_map(|f| {
            let h = f.sha256.as_ref().ok()?;
            Some(sha256sum_line(h, &seen_from(dir.as_deref(), &f.path)))
        })
        .collect()
}

/// `path` (as given: relative to the working directory) as seen from `dir`: relative inside
/// it, absolute elsewhere, so `sha256sum -c` works from inside the report folder.
fn seen_from(dir: Option<&Path>, path: &str) -> String {
    let p = Path::new(path);
    let Ok(full) = p.canonicalize().or_else(|_| std::path::absolute(p)) else {
        return path.to_string();
    };
    match dir.and_then(|d| full.strip_prefix(d).ok()) {
        Some(inside) => inside.display().to_string(),
        None => full.display().to_string(),
    }
}

/// One line as GNU `sha256sum` writes it: a name with a backslash or a newline is escaped
/// and the line starts with a backslash.
fn sha256sum_line(hash: &str, name: &str) -> String {
    if name.contains(['\\', '\n']) {
        let escaped = name.replace('\\', "\\\\").replace('\n', "\\n");
        format!("\\{hash}  {escaped}\n")
    } else {
        format!("{hash}  {name}\n")
    }
}
