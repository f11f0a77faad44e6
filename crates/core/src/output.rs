//! A scan's events and run summary as a table, JSON Lines, JSON, CSV or Markdown.

use crate::describe::describe;
use crate::detect::Event;
use crate::summary::{RunSummary, SCHEMA_VERSION};
use std::io::Write;

/// How `scan` prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum OutputFormat {
    /// A timeline for people (default on a terminal).
    Table,
    /// One JSON object per event, then one summary object (default otherwise).
    Jsonl,
    /// One JSON document with events and summary.
    Json,
    /// One row per event.
    Csv,
    /// A Markdown table of the events, then the summary.
    Markdown,
}

pub fn write(
    out: &mut dyn Write,
    format: OutputFormat,
    events: &[Event],
    summary: &RunSummary,
) -> std::io::Result<()> {
    match format {
        OutputFormat::Jsonl => {
            for e in events {
                writeln!(out, "{}", serde_json::to_string(e)?)?;
            }
            writeln!(out, "{}", serde_json::to_string(summary)?)
        }
        OutputFormat::Json => {
            let doc = serde_json::json!({ "schema_version": SCHEMA_VERSION, "events": events, "summary": summary });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)
        }
        OutputFormat::Csv => write_csv(out, events),
        OutputFormat::Table => write_table(out, events, summary),
        OutputFormat::Markdown => write_markdown(out, events, summary),
    }
}

fn write_table(out: &mut dyn Write, events: &[Event], s: &RunSummary) -> std::io::Result<()> {
    if events.is_empty() {
        let who = s
            .asns
            .iter()
            .map(|a| format!("AS{a}"))
            .collect::<Vec<_>>()
            .join(", ");
        if s.records == 0 {
            // "No events" would read as "nothing happened" when nothing was looked at.
            writeln!(
                out,
                "Nothing read: no MRT records in the input, so nothing can be said about {who}."
            )?;
        } else {
            writeln!(out, "No events for {who}.")?;
        }
    }
    for e in events {
        writeln!(
            out,
            "{}  {:<15}  {}",
            e.time.to_datetime().format("%Y-%m-%d %H:%M:%S UTC"),
            e.event.name(),
            describe(e)
        )?;
    }
    writeln!(out)?;
    for line in summary_lines(s) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn summary_lines(s: &RunSummary) -> Vec<String> {
    let t = &s.thresholds;
    let mut lines = vec![
        format!(
            "Read {} file{} from {} ({} records, {} elements), {} to {}.",
            s.files_read,
            if s.files_read == 1 { "" } else { "s" },
            s.collectors.join(", "),
            s.records,
            s.elements,
            s.first_time
                .map(|t| t.rfc3339())
                .unwrap_or_else(|| "-".into()),
            s.last_time
                .map(|t| t.rfc3339())
                .unwrap_or_else(|| "-".into()),
        ),
        format!(
            "Records cut short by the collector: {} (recovered {} withdrawals, {} announcements).",
            s.truncated_records, s.salvaged_withdrawals, s.salvaged_announcements
        ),
        format!(
            "Thresholds: min-duration {}, max-residual {}, restore at {:.0}%, full feed ≥ {:.0}% of the top-10 median, silence {}, mass withdrawal {:.0}% in {}, min {} peers.",
            t.min_duration,
            t.max_residual,
            t.restore_fraction * 100.0,
            t.full_feed_fraction * 100.0,
            t.silence,
            t.mass_withdrawal_fraction * 100.0,
            t.mass_window,
            t.min_peers
        ),
    ];
    if s.partial_baseline {
        lines.push(format!(
            "Partial baseline: no RIB for {}; eligible peers and baseline come from announcements seen in the window.",
            s.collectors_without_rib.join(", ")
        ));
    }
    for g in s.gap_lines() {
        lines.push(format!("Gap: {g}"));
    }
    for p in &s.pending_at_end {
        lines.push(format!("Unconfirmed at end of input: {p}"));
    }
    lines
}

fn write_markdown(out: &mut dyn Write, events: &[Event], s: &RunSummary) -> std::io::Result<()> {
    writeln!(out, "| time (UTC) | event | AS | what happened |")?;
    writeln!(out, "|---|---|---|---|")?;
    for e in events {
        writeln!(
            out,
            "| {} | {} | AS{} | {} |",
            e.time.rfc3339(),
            e.event.name(),
            e.asn,
            describe(e).replace('|', "\\|")
        )?;
    }
    writeln!(out)?;
    for line in summary_lines(s) {
        writeln!(out, "- {}", line.replace('|', "\\|"))?;
    }
    Ok(())
}

fn write_csv(out: &mut dyn Write, events: &[Event]) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "event",
        "asn",
        "time",
        "upstream",
        "prefix",
        "last_upstreams",
        "upstreams",
        "peers_before",
        "peers_after",
        "eligible_peers",
        "outage_secs",
        "reason",
        "partial_baseline",
        "description",
    ])?;
    for e in events {
        let join = |v: &Option<Vec<u32>>| {
            v.as_ref()
                .map(|v| {
                    v.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default()
        };
        w.write_record([
            e.event.name().to_string(),
            e.asn.to_string(),
            e.time.rfc3339(),
            e.upstream.map(|u| u.to_string()).unwrap_or_default(),
            e.prefix.map(|p| p.to_string()).unwrap_or_default(),
            join(&e.last_upstreams),
            join(&e.upstreams),
            e.evidence.peers_before.to_string(),
            e.evidence.peers_after.to_string(),
            e.evidence.eligible_peers.to_string(),
            e.outage_secs.map(|s| s.to_string()).unwrap_or_default(),
            e.reason.clone().unwrap_or_default(),
            e.evidence.partial_baseline.to_string(),
            describe(e),
        ])?;
    }
    w.flush()
}
