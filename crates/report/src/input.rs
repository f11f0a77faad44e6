//! What a report is made of ([`ReportInput`]), built from files (`cutoff report`) or from a
//! scan in process (`scan … --report DIR`).

use crate::names::AsNames;
use cutoff_core::detect::Event;
use cutoff_core::summary::RunSummary;
use cutoff_core::timeline::VisibilityPoint;
use cutoff_correlate::telemetry::Series;
use cutoff_correlate::{EventRef, Prepared};
use std::path::{Path, PathBuf};

/// Everything a report shows; nothing in it is invented: a part that was not given is `None`
/// and the report says so.
#[derive(Debug, Clone)]
pub struct ReportInput {
    pub events: Vec<Event>,
    pub summary: RunSummary,
    /// Visibility over time; `None` with the reason the charts built from it are omitted.
    pub timeline: Result<Vec<VisibilityPoint>, String>,
    pub spam: Option<SpamInput>,
    pub names: AsNames,
    /// How to reproduce the report: (what it does, shell command).
    pub commands: Vec<(String, String)>,
    /// Files the report itself read besides the scan's inputs: (role, path).
    pub report_files: Vec<(String, String)>,
}

/// Telemetry and what `correlate` found in it.
#[derive(Debug, Clone)]
pub struct SpamInput {
    pub series: Series,
    pub control: Option<Series>,
    pub correlation: cutoff_correlate::Report,
}

impl SpamInput {
    /// Correlate `events` with the loaded telemetry, as `cutoff correlate` would.
    pub fn new(prepared: &Prepared, events: &[Event], events_file: Option<String>) -> Self {
        let refs: Vec<EventRef> = events.iter().map(EventRef::from_event).collect();
        SpamInput {
            series: prepared.series.clone(),
            control: prepared.control.clone(),
            correlation: prepared.report(&refs, &[], events_file),
        }
    }
}

/// Events and the run summary from the JSON Lines `cutoff scan --format jsonl` prints (or its
/// `--format json` document). Lines of other types (correlations, visibility) are skipped;
/// errors name the file and line.
pub fn read_scan_output(path: &Path) -> Result<(Vec<Event>, RunSummary), String> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
    if let Ok(serde_json::Value::Object(doc)) = serde_json::from_str::<serde_json::Value>(&text)
        && let (Some(events), Some(summary)) = (doc.get("events"), doc.get("summary"))
    {
        let events =
            serde_json::from_value(events.clone()).map_err(|e| format!("{name}: events: {e}"))?;
        let summary =
            serde_json::from_value(summary.clone()).map_err(|e| format!("{name}: summary: {e}"))?;
        return Ok((events, summary));
    }
    let mut events = Vec::new();
    let mut summary = None;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |m: String| format!("{name} line {}: {m}", i + 1);
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            at(format!(
                "not JSON ({e}): expected the JSON Lines of cutoff scan --format jsonl"
            ))
        })?;
        if v.get("event").is_some() {
            events.push(serde_json::from_value(v).map_err(|e| at(format!("event: {e}")))?);
        } else if v.get("type").and_then(|t| t.as_str()) == Some("summary") {
            summary = Some(serde_json::from_value(v).map_err(|e| at(format!("summary: {e}")))?);
        }
    }
    let summary = summary.ok_or_else(|| {
        format!(
            "{name}: no summary line (type \"summary\"): expected the output of cutoff scan --format jsonl"
        )
    })?;
    Ok((events, summary))
}

/// Visibility points from the JSON Lines of `cutoff timeline --format jsonl`.
pub fn read_timeline(path: &Path) -> Result<Vec<VisibilityPoint>, String> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
    let points = cutoff_core::timeline::read_jsonl(&text).map_err(|e| format!("{name} {e}"))?;
    if points.is_empty() {
        return Err(format!(
            "{name}: no visibility lines: expected the output of cutoff timeline --format jsonl"
        ));
    }
    Ok(points)
}

/// Quote one shell word so the printed command can be pasted.
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,%+@".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

pub fn shell_line<I: IntoIterator<Item = S>, S: AsRef<str>>(words: I) -> String {
    words
        .into_iter()
        .map(|w| shell_word(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// This process's command line, as typed (the program as `cutoff`).
pub fn this_command() -> String {
    let mut args: Vec<String> = std::env::args().collect();
    if let Some(first) = args.first_mut() {
        *first = "cutoff".into();
    }
    shell_line(args)
}

/// The `cutoff scan` command that gives these events again, rebuilt from the summary: the
/// directory holding each collector's files, the watched ASes and prefixes, every threshold.
/// `--from`/`--to` are not in the summary; the report says the command is rebuilt.
pub fn scan_command(s: &RunSummary) -> String {
    let mut w: Vec<String> = vec!["cutoff".into(), "scan".into()];
    for a in &s.asns {
        w.extend(["--asn".into(), a.to_string()]);
    }
    for p in &s.extra_prefixes {
        w.extend(["--prefix".into(), p.clone()]);
    }
    for c in &s.collectors {
        let dirs: Vec<PathBuf> = s
            .files
            .iter()
            .filter(|f| &f.collector == c)
            .map(|f| PathBuf::from(&f.path))
            .collect();
        if let Some(d) = common_dir(&dirs) {
            w.push(d.display().to_string());
        }
    }
    let t = &s.thresholds;
    let pct = |x: f64| format!("{}%", (x * 1000.0).round() / 10.0);
    w.extend([
        "--min-duration".into(),
        t.min_duration.clone(),
        "--max-residual".into(),
        t.max_residual.clone(),
        "--restore-fraction".into(),
        pct(t.restore_fraction),
        "--full-feed".into(),
        pct(t.full_feed_fraction),
        "--min-peers".into(),
        t.min_peers.to_string(),
        "--silence".into(),
        t.silence.clone(),
        "--mass-withdrawal".into(),
        pct(t.mass_withdrawal_fraction),
        "--mass-window".into(),
        t.mass_window.clone(),
    ]);
    if s.partial_baseline {
        w.extend([
            "--table-size".into(),
            t.assumed_table_size_without_rib.to_string(),
        ]);
    }
    for p in &t.excluded_peers {
        w.extend([
            "--exclude-peer".into(),
            p.trim_start_matches("AS").to_string(),
        ]);
    }
    w.extend(["--format".into(), "jsonl".into()]);
    format!("{} > events.jsonl", shell_line(w))
}

/// The deepest directory holding all `files`.
fn common_dir(files: &[PathBuf]) -> Option<PathBuf> {
    let mut common = files.first()?.parent()?.to_path_buf();
    for f in &files[1..] {
        while !f.starts_with(&common) {
            common = common.parent()?.to_path_buf();
        }
    }
    Some(if common.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        common
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(
            shell_word("samples/mccolo-2008-11"),
            "samples/mccolo-2008-11"
        );
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("$(rm)"), "'$(rm)'");
    }

    #[test]
    fn common_dir_of_files() {
        let f = |s: &str| PathBuf::from(s);
        assert_eq!(
            common_dir(&[f("a/b/RIBS/r.bz2"), f("a/b/UPDATES/u.bz2")]),
            Some(f("a/b"))
        );
        assert_eq!(common_dir(&[f("x.bz2")]), Some(f(".")));
    }
}
