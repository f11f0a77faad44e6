//! The run summary: how the events were found (inputs, their problems, thresholds). Printed
//! with every result, and read back by `cutoff report`.

use crate::detect::DetectRules;
use crate::files::FileKind;
use crate::parse::FileStats;
use crate::state::EligibilityRules;
use crate::units::duration_text_hours;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the JSON output; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// What reading one file found, for the summary and provenance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileReport {
    pub path: String,
    pub collector: String,
    pub kind: FileKind,
    #[serde(flatten)]
    pub stats: FileStats,
}

/// A gap in the input: a file that could not be read completely.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Gap {
    pub collector: String,
    pub file: String,
    pub problem: String,
}

/// How the events were found: inputs, their problems, thresholds. Printed with every result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    #[serde(rename = "type")]
    pub kind: String,
    pub schema_version: u32,
    pub tool: String,
    pub asns: Vec<u32>,
    pub extra_prefixes: Vec<String>,
    pub collectors: Vec<String>,
    /// Collectors read without a RIB: eligibility and baseline come from announcements.
    pub collectors_without_rib: Vec<String>,
    pub partial_baseline: bool,
    pub files_read: usize,
    pub records: u64,
    pub elements: u64,
    pub truncated_records: u64,
    pub salvaged_withdrawals: u64,
    pub salvaged_announcements: u64,
    pub first_time: Option<crate::model::Timestamp>,
    pub last_time: Option<crate::model::Timestamp>,
    pub gaps: Vec<Gap>,
    pub unparsed_records: u64,
    pub incomplete_input: bool,
    pub sessions: usize,
    pub full_feed_sessions: usize,
    pub events: BTreeMap<String, usize>,
    /// Conditions that began but had not lasted the minimum duration when the input ended.
    pub pending_at_end: Vec<String>,
    pub thresholds: Thresholds,
    pub elapsed_secs: f64,
    pub files: Vec<FileReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Thresholds {
    pub min_duration: String,
    pub max_residual: String,
    pub restore_fraction: f64,
    pub min_peers: usize,
    pub full_feed_fraction: f64,
    pub silence: String,
    pub mass_withdrawal_fraction: f64,
    pub mass_window: String,
    pub assumed_table_size_without_rib: u64,
    pub excluded_peers: Vec<String>,
}

impl Thresholds {
    pub fn new(d: &DetectRules, e: &EligibilityRules) -> Self {
        Thresholds {
            min_duration: duration_text_hours(d.min_duration_secs),
            max_residual: d.max_residual.to_string(),
            restore_fraction: d.restore_fraction,
            min_peers: d.min_peers,
            full_feed_fraction: e.full_feed_fraction,
            silence: duration_text_hours(e.silence_secs),
            mass_withdrawal_fraction: e.mass_withdrawal_fraction,
            mass_window: duration_text_hours(e.mass_window_secs),
            assumed_table_size_without_rib: e.assumed_table_size,
            excluded_peers: e
                .exclude_asns
                .iter()
                .map(|a| format!("AS{a}"))
                .chain(e.exclude_ips.iter().map(ToString::to_string))
                .collect(),
        }
    }
}

/// Consecutive files of one collector missing for the same reason from this many on are
/// printed as one line (a month offline is ~2900 RouteViews files).
const GAP_RUN: usize = 3;

impl RunSummary {
    /// The gaps as lines to print: one per gap, but a run of consecutive files of one
    /// collector that failed for the same reason (apart from the file's own name) is one line
    /// naming its first and last file and how many there are.
    pub fn gap_lines(&self) -> Vec<String> {
        let position = self.file_positions();
        let mut runs: Vec<Vec<&Gap>> = Vec::new();
        for g in &self.gaps {
            let follows = runs.last().and_then(|r| r.last()).is_some_and(|prev| {
                prev.collector == g.collector
                    && gap_reason(prev) == gap_reason(g)
                    && matches!(
                        (position.get(prev.file.as_str()), position.get(g.file.as_str())),
                        (Some(a), Some(b)) if a + 1 == *b
                    )
            });
            match runs.last_mut() {
                Some(run) if follows => run.push(g),
                _ => runs.push(vec![g]),
            }
        }
        runs.into_iter().flat_map(run_lines).collect()
    }

    /// Each file's place among its collector's files, in the order they were read.
    fn file_positions(&self) -> BTreeMap<&str, usize> {
        let mut next: BTreeMap<&str, usize> = BTreeMap::new();
        let mut out = BTreeMap::new();
        for f in &self.files {
            let n = next.entry(f.collector.as_str()).or_default();
            out.insert(f.path.as_str(), *n);
            *n += 1;
        }
        out
    }
}

/// The last part of a path or URL.
fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Why a gap's file failed, without the file's own path in front and with its name in a URL
/// as `*`, so files that failed alike compare equal.
fn gap_reason(g: &Gap) -> String {
    let problem = g
        .problem
        .strip_prefix(&format!("{}: ", g.file))
        .unwrap_or(&g.problem);
    match base_name(&g.file) {
        "" => problem.to_string(),
        name => problem.replace(name, "*"),
    }
}

fn run_lines(run: Vec<&Gap>) -> Vec<String> {
    let name = |g: &Gap| crate::files::display_name(&g.file).to_string();
    match run.as_slice() {
        [first, .., last] if run.len() >= GAP_RUN => vec![format!(
            "{}: {} consecutive files from {} to {}: {}",
            first.collector,
            run.len(),
            name(first),
            base_name(&last.file),
            gap_reason(first)
        )],
        _ => run
            .iter()
            .map(|g| {
                let problem = g.problem.strip_prefix(&format!("{}: ", g.file));
                format!("{}: {}", name(g), problem.unwrap_or(&g.problem))
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A summary of `files` (collector, path, in reading order) and `gaps` (path, problem).
    fn summary(files: &[(&str, &str)], gaps: &[(&str, &str)]) -> RunSummary {
        let collector_of = |path: &str| {
            files
                .iter()
                .find(|(_, p)| *p == path)
                .map_or("?", |(c, _)| *c)
                .to_string()
        };
        RunSummary {
            kind: "summary".into(),
            schema_version: SCHEMA_VERSION,
            tool: String::new(),
            asns: Vec::new(),
            extra_prefixes: Vec::new(),
            collectors: Vec::new(),
            collectors_without_rib: Vec::new(),
            partial_baseline: false,
            files_read: 0,
            records: 0,
            elements: 0,
            truncated_records: 0,
            salvaged_withdrawals: 0,
            salvaged_announcements: 0,
            first_time: None,
            last_time: None,
            gaps: gaps
                .iter()
                .map(|(file, problem)| Gap {
                    collector: collector_of(file),
                    file: (*file).into(),
                    problem: format!("{file}: {problem}"),
                })
                .collect(),
            unparsed_records: 0,
            incomplete_input: !gaps.is_empty(),
            sessions: 0,
            full_feed_sessions: 0,
            events: BTreeMap::new(),
            pending_at_end: Vec::new(),
            thresholds: Thresholds::new(&DetectRules::default(), &EligibilityRules::default()),
            elapsed_secs: 0.0,
            files: files
                .iter()
                .map(|(collector, path)| FileReport {
                    path: (*path).into(),
                    collector: (*collector).into(),
                    kind: FileKind::Updates,
                    stats: FileStats::default(),
                })
                .collect(),
        }
    }

    const FILES: [(&str, &str); 6] = [
        ("rv2", "c/u1.bz2"),
        ("rv2", "c/u2.bz2"),
        ("rv2", "c/u3.bz2"),
        ("rv2", "c/u4.bz2"),
        ("rv2", "c/u5.bz2"),
        ("rrc00", "c/r1.gz"),
    ];

    fn not_found(file: &str) -> String {
        let name = file.rsplit('/').next().unwrap_or(file);
        format!("HTTP 404 for http://archive/{name}")
    }

    #[test]
    fn consecutive_files_missing_alike_are_one_line() {
        let problems: Vec<(&str, String)> = ["c/u2.bz2", "c/u3.bz2", "c/u4.bz2"]
            .iter()
            .map(|f| (*f, not_found(f)))
            .collect();
        let gaps: Vec<(&str, &str)> = problems.iter().map(|(f, p)| (*f, p.as_str())).collect();
        assert_eq!(
            summary(&FILES, &gaps).gap_lines(),
            ["rv2: 3 consecutive files from c/u2.bz2 to u4.bz2: HTTP 404 for http://archive/*"]
        );
    }

    #[test]
    fn fewer_than_a_run_or_different_reasons_or_collectors_stay_apart() {
        // Two alike: each its own line.
        let two = [("c/u2.bz2", "cut short"), ("c/u3.bz2", "cut short")];
        assert_eq!(
            summary(&FILES, &two).gap_lines(),
            ["c/u2.bz2: cut short", "c/u3.bz2: cut short"]
        );
        // Three in a row, but the middle one failed otherwise.
        let mixed = [
            ("c/u2.bz2", "cut short"),
            ("c/u3.bz2", "bad CRC"),
            ("c/u4.bz2", "cut short"),
        ];
        assert_eq!(summary(&FILES, &mixed).gap_lines().len(), 3);
        // Alike, but not next to each other in the collector's files, or of another collector.
        let apart = [
            ("c/u1.bz2", "cut short"),
            ("c/u3.bz2", "cut short"),
            ("c/u5.bz2", "cut short"),
            ("c/r1.gz", "cut short"),
        ];
        assert_eq!(summary(&FILES, &apart).gap_lines().len(), 4);
    }
}
