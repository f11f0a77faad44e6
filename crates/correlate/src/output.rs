//! Output of `correlate`: a table for people, JSON Lines or one JSON document, and the
//! sentence a journalist can quote.

use crate::analysis::Correlation;
use crate::sentence::{fmt_p, human_rfc, opt_pct};
use crate::telemetry::SeriesInfo;
use crate::{Report, SCHEMA_VERSION};
use cutoff_core::units::rfc3339_secs;
use std::io::Write;

/// How `correlate` prints its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum CorrelateFormat {
    /// One block per event for people (default on a terminal).
    Table,
    /// One JSON object per result, then one summary object (default otherwise).
    Jsonl,
    /// One JSON document with results and summary.
    Json,
}

impl From<cutoff_core::output::OutputFormat> for CorrelateFormat {
    /// The format of `scan`'s output, for `scan --telemetry`.
    fn from(f: cutoff_core::output::OutputFormat) -> Self {
        use cutoff_core::output::OutputFormat as O;
        match f {
            O::Table | O::Markdown => CorrelateFormat::Table,
            O::Jsonl | O::Csv => CorrelateFormat::Jsonl,
            O::Json => CorrelateFormat::Json,
        }
    }
}

pub fn write(out: &mut dyn Write, format: CorrelateFormat, report: &Report) -> std::io::Result<()> {
    match format {
        CorrelateFormat::Jsonl => {
            for r in &report.results {
                writeln!(out, "{}", serde_json::to_string(r)?)?;
            }
            writeln!(out, "{}", serde_json::to_string(&report.summary)?)
        }
        CorrelateFormat::Json => {
            let doc = serde_json::json!({
                "schema_version": SCHEMA_VERSION,
                "results": report.results,
                "summary": report.summary,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)
        }
        CorrelateFormat::Table => write_table(out, report),
    }
}

/// For `scan --telemetry`: the correlations after the scan's own output, in the format that
/// matches it (table and Markdown: a table after a blank line; JSON Lines and CSV: JSON Lines;
/// JSON: a second JSON document).
pub fn write_after_scan(
    out: &mut dyn Write,
    format: cutoff_core::output::OutputFormat,
    report: &Report,
) -> std::io::Result<()> {
    let f = CorrelateFormat::from(format);
    if f == CorrelateFormat::Table {
        writeln!(out)?;
    }
    write(out, f, report)
}

fn write_table(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    for c in &report.results {
        write_block(out, c)?;
        writeln!(out)?;
    }
    let s = &report.summary;
    let t = &s.telemetry;
    writeln!(
        out,
        "Telemetry {} (series {}, {} bins{}): {} bins from {} to {}, {} missing, total {:.0}.",
        t.file,
        t.series,
        t.bin,
        if t.bin_inferred { ", inferred" } else { "" },
        t.bins,
        t.first.as_deref().map_or("–".into(), human_rfc),
        t.last.as_deref().map_or("–".into(), human_rfc),
        t.missing_bins,
        t.total
    )?;
    for n in &t.notes {
        writeln!(out, "  note: {n}")?;
    }
    if let Some(c) = &s.control {
        writeln!(
            out,
            "Control {} (series {}): {} bins from {} to {}, {} missing.",
            c.file,
            c.series,
            c.bins,
            c.first.as_deref().map_or("–".into(), human_rfc),
            c.last.as_deref().map_or("–".into(), human_rfc),
            c.missing_bins
        )?;
    }
    if let Some(a) = &s.attribution {
        writeln!(
            out,
            "Attribution: RIB {} ({} prefixes, {} origin ASes, {} with several origins); messages attributed {:.0}, unrouted {:.0}, without IP {:.0}.",
            a.rib,
            a.prefixes,
            a.origin_ases,
            a.multi_origin_prefixes,
            a.messages_attributed,
            a.messages_unrouted,
            a.messages_without_ip
        )?;
    }
    let o = &s.options;
    writeln!(
        out,
        "Events: {} read, {} correlated. Window {} days, baseline median of {} previous weeks, {} bootstrap resamples, seed {}.",
        s.events_read, s.events_correlated, o.window_days, o.baseline_weeks, o.bootstrap, o.seed
    )?;
    writeln!(
        out,
        "Caveats: one vantage point; a coincidence in time is not proof of cause."
    )
}

fn write_block(out: &mut dyn Write, c: &Correlation) -> std::io::Result<()> {
    let t = rfc3339_secs(&c.event_time).unwrap_or(0);
    let ev_time = chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default();
    let via = c
        .upstream
        .map(|u| format!(" (upstream AS{u})"))
        .unwrap_or_default();
    writeln!(out, "{ev_time}  {:<14} AS{}{via}", c.event, c.asn)?;
    writeln!(
        out,
        "  window        {} → {} ({} of {} bins of {} with data and baseline)",
        human_rfc(&c.window_start),
        human_rfc(&c.window_end),
        c.bins_used,
        c.bins_expected,
        cutoff_core::units::duration_text(c.bin_secs)
    )?;
    if let Some(r) = &c.reason {
        writeln!(out, "  not measured  {r}")?;
    } else {
        writeln!(
            out,
            "  drop          {}  (95% CI {} to {}) vs median of the same bins {} week(s) before",
            opt_pct(c.drop_pct),
            opt_pct(c.ci_low_pct),
            opt_pct(c.ci_high_pct),
            c.baseline_weeks
        )?;
        let days: Vec<String> = c
            .per_day
            .iter()
            .map(|d| format!("{} {}", &d.start[5..10], opt_pct(d.drop_pct)))
            .collect();
        writeln!(out, "  per day       {}", days.join("  "))?;
        writeln!(
            out,
            "  before        {} in the 48 h before the event (same baseline)",
            opt_pct(c.pre_event_drop_pct)
        )?;
        if let Some(cp) = &c.change_point {
            writeln!(
                out,
                "  change point  {} (level {}), lag {:+.1} h (95% CI {:+.1} to {:+.1} h), p {}",
                human_rfc(&cp.time),
                opt_pct(cp.level_change_pct),
                cp.lag_hours,
                c.lag_ci_low_hours.unwrap_or(f64::NAN),
                c.lag_ci_high_hours.unwrap_or(f64::NAN),
                fmt_p(cp.p_value)
            )?;
        }
        writeln!(
            out,
            "  placebos      {} start dates before it, {} as extreme, 95th percentile {}, p {} ({})",
            c.placebos,
            c.placebos_as_extreme,
            opt_pct(c.placebo_p95_pct),
            c.p_value.map_or("–".into(), fmt_p),
            c.p_value_direction
        )?;
    }
    if let Some(b) = &c.blind_change_point {
        writeln!(
            out,
            "  blind check   largest change in the whole series at {} ({}), {:+.1} h from the event{}",
            human_rfc(&b.time),
            opt_pct(b.level_change_pct),
            b.hours_from_event,
            if b.near_event {
                ": at this event"
            } else {
                ": elsewhere"
            }
        )?;
    }
    if let Some(k) = &c.control {
        writeln!(
            out,
            "  control       {}: drop {} (95% CI {} to {}){}",
            k.series,
            opt_pct(k.drop_pct),
            opt_pct(k.ci_low_pct),
            opt_pct(k.ci_high_pct),
            if k.moved { ": MOVED" } else { ": did not move" }
        )?;
    }
    for (i, x) in c.confounders.iter().enumerate() {
        let label = if i == 0 { "confounders" } else { "" };
        writeln!(
            out,
            "  {label:<13} {} ({}): {}",
            x.kind, x.place, x.description
        )?;
    }
    if c.confounder_events_not_listed > 0 {
        writeln!(
            out,
            "  {:<13} and {} more events in the window or its baseline weeks",
            if c.confounders.is_empty() {
                "confounders"
            } else {
                ""
            },
            c.confounder_events_not_listed
        )?;
    }
    writeln!(out, "  quote         {}", c.sentence)
}

pub fn write_listing(
    out: &mut dyn Write,
    format: CorrelateFormat,
    listing: &[(String, Vec<SeriesInfo>)],
) -> std::io::Result<()> {
    for (file, infos) in listing {
        for i in infos {
            match format {
                CorrelateFormat::Table => writeln!(
                    out,
                    "{file}  {:<24} {:>6} bins  {} → {}  missing {:<5} total {:.0}",
                    i.name,
                    i.bins,
                    i.first.as_deref().map_or("–".into(), human_rfc),
                    i.last.as_deref().map_or("–".into(), human_rfc),
                    i.missing_bins,
                    i.total
                )?,
                _ => {
                    let v = serde_json::json!({ "type": "series", "file": file, "series": i });
                    writeln!(out, "{}", serde_json::to_string(&v)?)?;
                }
            }
        }
    }
    Ok(())
}
