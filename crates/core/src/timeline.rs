//! Visibility over time (`cutoff timeline`, and the charts of `cutoff report`): every change
//! of a watched AS's visibility as the detector saw it, one point per change.
//!
//! A point holds until the next point of the same AS, so the series plots as steps.

use crate::model::{Prefix, Timestamp};
use crate::state::{Noise, Snapshot};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;

/// Visibility of one watched AS from `time` until its next point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisibilityPoint {
    /// Always `"visibility"`, so the lines can be told from events and summaries.
    #[serde(rename = "type")]
    pub kind: String,
    pub asn: u32,
    pub time: Timestamp,
    /// Peer ASNs that count (docs/METHOD.md §2).
    pub eligible: usize,
    /// Eligible peer ASNs with a route to any prefix of the AS.
    pub visible: usize,
    /// Upstream → eligible peer ASNs whose route goes through it (upstreams carrying nothing
    /// are left out).
    pub upstreams: BTreeMap<u32, usize>,
    /// Prefix → eligible peer ASNs with a route to it.
    pub prefixes: BTreeMap<Prefix, usize>,
    /// Peer ASNs that carried the AS but did not count, by reason.
    pub not_counted: BTreeMap<Noise, usize>,
    /// Collectors whose peers saw the AS.
    pub collectors: usize,
    pub partial_baseline: bool,
}

impl VisibilityPoint {
    pub fn from_snapshot(s: &Snapshot) -> Self {
        VisibilityPoint {
            kind: "visibility".into(),
            asn: s.asn,
            time: s.time,
            eligible: s.eligible,
            visible: s.visible,
            upstreams: s.carrying(),
            prefixes: s.per_prefix.clone(),
            not_counted: s.noise.clone(),
            collectors: s.collectors.len(),
            partial_baseline: s.partial,
        }
    }

    /// Same visibility, whatever the time.
    fn same_as(&self, other: &VisibilityPoint) -> bool {
        self.eligible == other.eligible
            && self.visible == other.visible
            && self.upstreams == other.upstreams
            && self.prefixes == other.prefixes
            && self.not_counted == other.not_counted
            && self.collectors == other.collectors
            && self.partial_baseline == other.partial_baseline
    }
}

/// Collects points from the snapshots the detector observes, dropping those that change
/// nothing (the tracker re-evaluates every minute, most minutes change nothing).
#[derive(Debug, Default)]
pub struct Recorder {
    points: Vec<VisibilityPoint>,
    latest: HashMap<u32, usize>,
}

impl Recorder {
    pub fn record(&mut self, snap: &Snapshot) {
        let point = VisibilityPoint::from_snapshot(snap);
        if let Some(&i) = self.latest.get(&point.asn)
            && self.points[i].same_as(&point)
        {
            return;
        }
        self.latest.insert(point.asn, self.points.len());
        self.points.push(point);
    }

    pub fn into_points(self) -> Vec<VisibilityPoint> {
        self.points
    }
}

/// Timeline formats: JSON Lines (everything) or CSV (one row per point, one column per
/// upstream seen anywhere in the run, for spreadsheets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum TimelineFormat {
    /// One JSON object per point (with prefixes and peers not counted), then the run summary.
    Jsonl,
    /// One row per point, one column per upstream (for spreadsheets).
    Csv,
}

pub fn write(
    out: &mut dyn Write,
    format: TimelineFormat,
    points: &[VisibilityPoint],
) -> std::io::Result<()> {
    match format {
        TimelineFormat::Jsonl => {
            for p in points {
                writeln!(out, "{}", serde_json::to_string(p)?)?;
            }
            Ok(())
        }
        TimelineFormat::Csv => write_csv(out, points),
    }
}

fn write_csv(out: &mut dyn Write, points: &[VisibilityPoint]) -> std::io::Result<()> {
    let upstreams: BTreeSet<u32> = points
        .iter()
        .flat_map(|p| p.upstreams.keys().copied())
        .collect();
    let mut w = csv::Writer::from_writer(out);
    let mut header: Vec<String> = [
        "time",
        "asn",
        "eligible",
        "visible",
        "prefixes_visible",
        "prefixes_known",
        "not_counted",
        "collectors",
        "partial_baseline",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    header.extend(upstreams.iter().map(|u| format!("via_AS{u}")));
    w.write_record(&header)?;
    for p in points {
        let mut row = vec![
            p.time.rfc3339(),
            p.asn.to_string(),
            p.eligible.to_string(),
            p.visible.to_string(),
            p.prefixes.values().filter(|n| **n > 0).count().to_string(),
            p.prefixes.len().to_string(),
            p.not_counted.values().sum::<usize>().to_string(),
            p.collectors.to_string(),
            p.partial_baseline.to_string(),
        ];
        row.extend(
            upstreams
                .iter()
                .map(|u| p.upstreams.get(u).copied().unwrap_or(0).to_string()),
        );
        w.write_record(&row)?;
    }
    w.flush()
}

/// Read points back from JSON Lines (other lines, such as events, are skipped).
pub fn read_jsonl(text: &str) -> Result<Vec<VisibilityPoint>, String> {
    let mut points = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || !line.contains("\"visibility\"") {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        if value.get("type").and_then(|t| t.as_str()) != Some("visibility") {
            continue;
        }
        points.push(serde_json::from_value(value).map_err(|e| format!("line {}: {e}", i + 1))?);
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(secs: i64, visible: usize, via: &[(u32, usize)]) -> Snapshot {
        Snapshot {
            asn: 26780,
            time: Timestamp::from_secs(secs),
            eligible: 40,
            visible,
            support: via.iter().copied().collect(),
            ..Snapshot::default()
        }
    }

    #[test]
    fn unchanged_snapshots_make_no_point() {
        let mut r = Recorder::default();
        r.record(&snap(0, 38, &[(3549, 20), (6939, 18)]));
        r.record(&snap(60, 38, &[(3549, 20), (6939, 18)]));
        r.record(&snap(120, 18, &[(3549, 0), (6939, 18)]));
        let points = r.into_points();
        assert_eq!(points.len(), 2);
        assert_eq!(points[1].time, Timestamp::from_secs(120));
        // An upstream carrying nothing is left out.
        assert_eq!(points[1].upstreams.keys().collect::<Vec<_>>(), vec![&6939]);
    }

    #[test]
    fn csv_has_a_column_per_upstream_and_jsonl_round_trips() {
        let mut r = Recorder::default();
        r.record(&snap(0, 38, &[(3549, 20), (6939, 18)]));
        r.record(&snap(120, 18, &[(6939, 18)]));
        let points = r.into_points();
        let mut csv = Vec::new();
        write(&mut csv, TimelineFormat::Csv, &points).expect("writes");
        let csv = String::from_utf8(csv).expect("utf-8");
        let lines: Vec<&str> = csv.lines().collect();
        assert!(lines[0].ends_with("via_AS3549,via_AS6939"), "{}", lines[0]);
        assert!(lines[2].ends_with(",0,18"), "{}", lines[2]);
        let mut jsonl = Vec::new();
        write(&mut jsonl, TimelineFormat::Jsonl, &points).expect("writes");
        let back = read_jsonl(&String::from_utf8(jsonl).expect("utf-8")).expect("parses");
        assert_eq!(back, points);
    }
}
