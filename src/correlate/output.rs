//! Output of `correlate`: a table for people, JSON Lines or one JSON document, and the
//! sentence a journalist can quote.

use super::analysis::Correlation;
use super::{EventRef, Report, SCHEMA_VERSION};
use crate::telemetry::SeriesInfo;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CorrelateFormat {
    /// One block per event for people (default on a terminal).
    Table,
    /// One JSON object per result, then one summary object (default otherwise).
    Jsonl,
    /// One JSON document with results and summary.
    Json,
}

impl From<crate::report::OutputFormat> for CorrelateFormat {
    /// The format of `scan`'s output, for `scan --telemetry`.
    fn from(f: crate::report::OutputFormat) -> Self {
        use crate::report::OutputFormat as O;
        match f {
            O::Table | O::Markdown => CorrelateFormat::Table,
            O::Jsonl | O::Csv => CorrelateFormat::Jsonl,
            O::Json => CorrelateFormat::Json,
        }
    }
}

/// `2008-11-11 21:33 UTC` (seconds shown only when not zero).
pub fn human(t: i64) -> String {
    let Some(d) = chrono::DateTime::from_timestamp(t, 0) else {
        return t.to_string();
    };
    if t % 60 == 0 {
        d.format("%Y-%m-%d %H:%M UTC").to_string()
    } else {
        d.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    }
}

fn secs(rfc: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(rfc)
        .ok()
        .map(|d| d.timestamp())
}

fn human_rfc(rfc: &str) -> String {
    secs(rfc).map_or_else(|| rfc.to_string(), human)
}

fn p0(x: f64) -> String {
    format!("{:.0}", x).replace("-0", "0")
}

/// `1.4 hours before` / `0.4 hours after` / `at the same time`.
fn rel_hours(h: f64) -> String {
    if h.abs() < 0.05 {
        "at the same hour as".to_string()
    } else if h < 0.0 {
        format!("{:.1} hours before", -h)
    } else {
        format!("{h:.1} hours after")
    }
}

fn event_phrase(ev: &EventRef, when: &str) -> String {
    match ev.event.as_str() {
        "disconnected" => format!("AS{} lost all its upstreams at {when}", ev.asn),
        "upstream_lost" => match ev.upstream {
            Some(u) => format!("AS{u} stopped carrying AS{} at {when}", ev.asn),
            None => format!("AS{} lost an upstream at {when}", ev.asn),
        },
        "restored" => format!("AS{} became reachable again at {when}", ev.asn),
        other => format!("AS{} had a {other} event at {when}", ev.asn),
    }
}

/// The sentence to quote: what happened, by how much, how sure, compared with what, and the
/// caveats.
pub fn sentence(ev: &EventRef, c: &Correlation) -> String {
    let when = human(ev.time);
    let what = format!("the series \"{}\"", c.series);
    let head = event_phrase(ev, &when);
    let (Some(d), Some(lo), Some(hi)) = (c.drop_pct, c.ci_low_pct, c.ci_high_pct) else {
        let why = c
            .reason
            .clone()
            .unwrap_or_else(|| "too few bins for an interval".into());
        return format!(
            "When {head}, {what} could not be measured: {why}. No conclusion can be drawn from this series."
        );
    };
    let days = c.window_days;
    let base = format!(
        "the same {} of the {} previous week{}",
        if c.bin_secs < 86_400 { "hours" } else { "days" },
        c.baseline_weeks,
        if c.baseline_weeks == 1 { "" } else { "s" }
    );
    let change = if lo > 0.0 {
        format!(
            "{what} fell by {}% in the following {days} days compared with {base} (95% CI {}% to {}%)",
            p0(d),
            p0(lo),
            p0(hi)
        )
    } else if hi < 0.0 {
        format!(
            "{what} rose by {}% in the following {days} days compared with {base} (95% CI {}% to {}%)",
            p0(-d),
            p0(-hi),
            p0(-lo)
        )
    } else {
        format!(
            "{what} showed no clear change in the following {days} days compared with {base} ({} {}%, 95% CI of the drop {}% to {}%)",
            if d >= 0.0 { "down" } else { "up" },
            p0(d.abs()),
            p0(lo),
            p0(hi)
        )
    };
    let dir = c.p_value_direction;
    let wrong_way = if ev.expects_rise() { d > 0.0 } else { d < 0.0 };
    let placebo = match c.p_value {
        Some(p) if wrong_way => format!(
            "; a {dir} was what the event would predict, so this is no sign of an effect of it (p = {} for a {dir}, {} placebo dates)",
            fmt_p(p),
            c.placebos
        ),
        Some(p) if p <= 0.05 => format!(
            "; a {dir} that large came at {} of {} earlier placebo dates (p = {})",
            if c.placebos_as_extreme == 0 {
                "none".to_string()
            } else {
                c.placebos_as_extreme.to_string()
            },
            c.placebos,
            fmt_p(p)
        ),
        Some(p) => format!(
            "; but {} of {} earlier placebo dates showed a {dir} as large (p = {}), so ordinary variation can explain it",
            c.placebos_as_extreme,
            c.placebos,
            fmt_p(p)
        ),
        None => "; the series starts too late before the event for placebo dates, so there is no p-value".to_string(),
    };
    let pre = match c.pre_event_drop_pct {
        Some(pre) if !wrong_way && !ev.expects_rise() && d > 10.0 && pre >= (d / 2.0).max(10.0) => {
            format!(
                "; but it was already {}% below its baseline in the 48 hours before the event, so the fall began earlier",
                p0(pre)
            )
        }
        Some(pre)
            if !wrong_way && ev.expects_rise() && d < -10.0 && pre <= (d / 2.0).min(-10.0) =>
        {
            format!(
                "; but it was already {}% above its baseline in the 48 hours before the event, so the rise began earlier",
                p0(-pre)
            )
        }
        _ => String::new(),
    };
    let control = match &c.control {
        Some(k) => match (k.drop_pct, k.ci_low_pct, k.ci_high_pct) {
            (Some(kd), Some(kl), Some(kh)) if k.moved => format!(
                "; the control \"{}\" moved too (drop {}%, 95% CI {}% to {}%), so something other than the routing change may explain it",
                k.series,
                p0(kd),
                p0(kl),
                p0(kh)
            ),
            (Some(kd), Some(kl), Some(kh)) => format!(
                "; the control \"{}\" did not move (drop {}%, 95% CI {}% to {}%)",
                k.series,
                p0(kd),
                p0(kl),
                p0(kh)
            ),
            _ => format!("; the control \"{}\" has no data in the window", k.series),
        },
        None => String::new(),
    };
    let mut out = format!("When {head}, {change}{pre}{placebo}{control}.");
    if c.change_point.is_none() {
        out.push_str(
            " The change cannot be placed in time: too few bins within 48 hours of the event.",
        );
    }
    if let Some(cp) = &c.change_point {
        let expected = if ev.expects_rise() {
            cp.level_change_pct.is_some_and(|l| l > 0.0)
        } else {
            cp.level_change_pct.is_some_and(|l| l < 0.0)
        };
        if cp.p_value <= 0.05 && expected {
            out.push_str(&format!(
                " The change came {} the routing event (change point {}, 95% CI {} to {}).",
                rel_hours(cp.lag_hours),
                human_rfc(&cp.time),
                human_rfc(&cp.ci_low),
                human_rfc(&cp.ci_high)
            ));
        } else {
            out.push_str(" There is no clear change point within 48 hours of the event.");
        }
    }
    if let Some(b) = &c.blind_change_point {
        // Worth a mention when it is a real change: 10% or more, and at least half this one.
        let big = b
            .level_change_pct
            .is_some_and(|l| l.abs() >= 10.0 && l.abs() >= d.abs() / 2.0);
        if !b.near_event && big {
            let h = b.hours_from_event;
            let rel = if h < 0.0 {
                format!("{:.1} days before", -h / 24.0)
            } else {
                format!("{:.1} days after", h / 24.0)
            };
            out.push_str(&format!(
                " The largest change in the whole series is not at this event but at {} ({rel}, {}%).",
                human_rfc(&b.time),
                b.level_change_pct.map_or("?".into(), p0)
            ));
        }
    }
    let others: Vec<&str> = c
        .confounders
        .iter()
        .filter(|x| x.kind != "gap")
        .map(|x| x.description.as_str())
        .collect();
    if !others.is_empty() {
        let shown: Vec<&str> = others.iter().take(3).copied().collect();
        let more = if others.len() > 3 {
            format!(" and {} more", others.len() - 3)
        } else {
            String::new()
        };
        out.push_str(&format!(
            " Also in the window or its baseline: {}{more}.",
            shown.join("; ")
        ));
    }
    let missing: usize = c.bins_expected.saturating_sub(c.bins_used);
    if missing > 0 {
        out.push_str(&format!(
            " {missing} of {} bins of the window lack data or a baseline and are left out.",
            c.bins_expected
        ));
    }
    out.push_str(
        " This is a single vantage point, and a coincidence in time is not proof that the routing change caused it.",
    );
    out
}

fn fmt_p(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".into()
    } else {
        format!("{p:.3}")
    }
}

fn opt_pct(x: Option<f64>) -> String {
    x.map_or("–".into(), |v| format!("{v:.1}%"))
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
    format: crate::report::OutputFormat,
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
    let t = secs(&c.event_time).unwrap_or(0);
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
        crate::telemetry::duration(c.bin_secs)
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
