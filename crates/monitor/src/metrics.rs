//! Prometheus textfile for `cutoff monitor --metrics-file` (node_exporter's textfile
//! collector reads `*.prom` files). The exposition format is a few lines of text, so it is
//! written by hand rather than through a client library.

use crate::checkpoint::Checkpoint;
use crate::config::MonitorConfig;
use crate::run::RunReport;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

/// The numbers of one run.
#[derive(Debug, Default)]
pub struct Metrics {
    pub last_run: i64,
    pub last_success: Option<i64>,
    pub duration: f64,
    pub files_processed_total: u64,
    pub files_missing: usize,
    pub alerts_pending: usize,
    pub events_total: BTreeMap<String, u64>,
    /// (asn, label) → eligible peer ASNs seeing it.
    pub visible_peers: Vec<(u32, String, usize)>,
}

/// Every event kind, so a kind that never happened shows as 0 rather than being absent.
const KINDS: [&str; 6] = [
    "upstream_lost",
    "upstream_gained",
    "prefix_dark",
    "disconnected",
    "restored",
    "inconclusive",
];

impl Metrics {
    pub fn of_run(
        config: &MonitorConfig,
        result: &Result<(RunReport, Checkpoint), String>,
        now: i64,
        elapsed: Duration,
    ) -> Self {
        let mut m = Metrics {
            last_run: now,
            duration: elapsed.as_secs_f64(),
            ..Metrics::default()
        };
        let Ok((report, ck)) = result else {
            return m;
        };
        m.last_success = ck.counters.last_success;
        m.files_processed_total = ck.counters.files_processed;
        m.files_missing = ck.retry.len();
        m.alerts_pending = report.undelivered;
        m.events_total = ck.counters.events.clone();
        for w in &config.watch {
            if let Some(n) = report.visible_peers.get(&w.asn.0) {
                m.visible_peers.push((w.asn.0, w.label(), *n));
            }
        }
        m
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
            write_metric(&mut out, name, kind, help, samples)
        };
        let one = |v: String| vec![(String::new(), v)];
        metric(
            "cutoff_last_run_timestamp_seconds",
            "gauge",
            "When the last monitor run started.",
            &one(self.last_run.to_string()),
        );
        metric(
            "cutoff_last_success_timestamp_seconds",
            "gauge",
            "When the last monitor run that completed started.",
            &self
                .last_success
                .map(|t| one(t.to_string()))
                .unwrap_or_default(),
        );
        metric(
            "cutoff_run_duration_seconds",
            "gauge",
            "How long the last run took.",
            &one(format!("{:.3}", self.duration)),
        );
        metric(
            "cutoff_files_processed_total",
            "counter",
            "MRT files read since monitoring began.",
            &one(self.files_processed_total.to_string()),
        );
        metric(
            "cutoff_files_missing",
            "gauge",
            "Holes in the collectors' update files still on the retry list.",
            &one(self.files_missing.to_string()),
        );
        metric(
            "cutoff_alerts_pending",
            "gauge",
            "Alert deliveries (alert × sink) not yet made; retried on the next run.",
            &one(self.alerts_pending.to_string()),
        );
        let events: Vec<(String, String)> = KINDS
            .iter()
            .map(|k| {
                let n = self.events_total.get(*k).copied().unwrap_or(0);
                (format!("{{kind=\"{k}\"}}"), n.to_string())
            })
            .collect();
        metric(
            "cutoff_events_total",
            "counter",
            "Events detected since monitoring began, by kind.",
            &events,
        );
        let peers: Vec<(String, String)> = self
            .visible_peers
            .iter()
            .map(|(asn, label, n)| {
                (
                    format!("{{asn=\"{asn}\",label=\"{}\"}}", escape(label)),
                    n.to_string(),
                )
            })
            .collect();
        metric(
            "cutoff_visible_peers",
            "gauge",
            "Eligible peer ASNs seeing each watched AS.",
            &peers,
        );
        out
    }
}

/// One metric in the exposition format: HELP, TYPE, then each sample as (what follows the
/// name: labels such as `{kind="x"}`, a suffix such as `_sum`, or nothing; the value).
pub(crate) fn write_metric(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: &[(String, String)],
) {
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// Label values escape backslash, double quote and newline.
pub(crate) fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_help_type_and_samples() {
        let m = Metrics {
            last_run: 100,
            last_success: Some(100),
            duration: 1.5,
            files_processed_total: 7,
            files_missing: 1,
            alerts_pending: 0,
            events_total: [("disconnected".to_string(), 2)].into(),
            visible_peers: vec![(26780, "Mc\"Colo".into(), 36)],
        };
        let text = m.render();
        assert!(text.contains("# TYPE cutoff_events_total counter\n"));
        assert!(text.contains("cutoff_events_total{kind=\"disconnected\"} 2\n"));
        assert!(text.contains("cutoff_events_total{kind=\"restored\"} 0\n"));
        assert!(text.contains("cutoff_visible_peers{asn=\"26780\",label=\"Mc\\\"Colo\"} 36\n"));
        assert!(text.contains("cutoff_run_duration_seconds 1.500\n"));
        assert!(text.contains("cutoff_files_missing 1\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().expect("a value");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
