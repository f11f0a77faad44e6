//! The sentence a journalist can quote about one correlation, and the small number formats
//! the printed outputs share with it.

use crate::EventRef;
use crate::analysis::Correlation;
use cutoff_core::units::{human, rfc3339_secs};

/// An RFC 3339 time as [`human`] writes it (kept as written if it is not one).
pub(crate) fn human_rfc(rfc: &str) -> String {
    rfc3339_secs(rfc).map_or_else(|| rfc.to_string(), human)
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
    let hidden = others.len().saturating_sub(3) + c.confounder_events_not_listed;
    if !others.is_empty() {
        let shown: Vec<&str> = others.iter().take(3).copied().collect();
        let more = if hidden > 0 {
            format!(" and {hidden} more")
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

pub(crate) fn fmt_p(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".into()
    } else {
        format!("{p:.3}")
    }
}

pub(crate) fn opt_pct(x: Option<f64>) -> String {
    x.map_or("–".into(), |v| format!("{v:.1}%"))
}
