//! The method of docs/METHOD.md §6 on one event and one series: matched-week ratio with a block
//! bootstrap CI, per-day drops, lag by change point, blind change point, placebo dates,
//! control series, confounders.

use crate::calendar;
use crate::stats::{self, ChangePoint, Rng, Tail};
use crate::telemetry::{Series, rfc3339};
use crate::{EventRef, Options};
use cutoff_core::units::{duration_text, human};
use serde::Serialize;

/// Seconds per day and week.
pub const DAY: i64 = 86_400;
pub const WEEK: i64 = 7 * DAY;

/// A series laid on a regular grid of bins from its first bin to its last.
#[derive(Debug, Clone)]
pub struct Grid {
    pub name: String,
    pub start: i64,
    pub bin: i64,
    pub v: Vec<Option<f64>>,
}

impl Grid {
    /// Most bins a grid may hold (about 1,100 years of hourly bins): more means a stray time.
    pub const MAX_BINS: i64 = 10_000_000;

    /// An error for an empty series, bins that do not divide a day, or a span too long to lay
    /// out (a stray time in the input).
    pub fn new(s: &Series) -> Result<Grid, String> {
        let (Some(first), Some(last)) = (s.first(), s.last()) else {
            return Err(format!("series {} has no data", s.name));
        };
        if s.bin_secs <= 0 || DAY % s.bin_secs != 0 {
            return Err(format!(
                "series {} has bins of {}, which do not divide a day: give --bin 1h (or another divisor of 24 h)",
                s.name,
                duration_text(s.bin_secs)
            ));
        }
        let n = (last - first) / s.bin_secs + 1;
        if n > Self::MAX_BINS {
            return Err(format!(
                "series {} runs from {} to {}: {n} bins of {}; is one of its times wrong?",
                s.name,
                rfc3339(first),
                rfc3339(last),
                duration_text(s.bin_secs)
            ));
        }
        let mut v = vec![None; n as usize];
        for (t, c) in &s.points {
            let i = ((t - first) / s.bin_secs) as usize;
            if let Some(slot) = v.get_mut(i) {
                *slot = Some(*c);
            }
        }
        Ok(Grid {
            name: s.name.clone(),
            start: first,
            bin: s.bin_secs,
            v,
        })
    }

    pub fn get(&self, i: i64) -> Option<f64> {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.v.get(i).copied().flatten())
    }

    pub fn time(&self, i: i64) -> i64 {
        self.start + i * self.bin
    }

    /// Index of the bin containing `t`.
    pub fn index_of(&self, t: i64) -> i64 {
        (t - self.start).div_euclid(self.bin)
    }

    /// Index of the first bin starting at or after `t`.
    pub fn index_at_or_after(&self, t: i64) -> i64 {
        -(self.start - t).div_euclid(self.bin)
    }

    pub fn per_day(&self) -> i64 {
        DAY / self.bin
    }

    pub fn per_week(&self) -> i64 {
        WEEK / self.bin
    }

    pub fn end(&self) -> i64 {
        self.time(self.v.len() as i64)
    }
}

/// The matched-week ratio on one grid.
struct Matched<'a> {
    g: &'a Grid,
    weeks: i64,
}

type Pair = Option<(f64, f64)>;

impl Matched<'_> {
    /// Median of the same bin of the week in the `weeks` previous weeks (those present).
    fn baseline(&self, i: i64) -> Option<f64> {
        let w = self.g.per_week();
        let vals: Vec<f64> = (1..=self.weeks)
            .filter_map(|k| self.g.get(i - k * w))
            .collect();
        (!vals.is_empty()).then(|| stats::median(&vals))
    }

    fn pairs(&self, from: i64, n: i64) -> Vec<Pair> {
        (from..from + n)
            .map(|i| Some((self.g.get(i)?, self.baseline(i)?)))
            .collect()
    }
}

/// The matched-week baseline of every bin starting in `from..to` (for the report's chart): the
/// median of the same bin of the week in the `weeks` previous weeks, `None` where none has data.
pub fn baseline_between(g: &Grid, weeks: u32, from: i64, to: i64) -> Vec<(i64, Option<f64>)> {
    let m = Matched {
        g,
        weeks: i64::from(weeks),
    };
    (g.index_at_or_after(from)..g.index_at_or_after(to))
        .map(|i| (g.time(i), m.baseline(i)))
        .collect()
}

/// 1 − Σpost / Σbaseline over the bins that have both; NaN if the baseline sums to 0.
fn drop_of(pairs: &[Pair]) -> f64 {
    let (post, base) = pairs
        .iter()
        .flatten()
        .fold((0.0, 0.0), |(p, b), (x, y)| (p + x, b + y));
    if base > 0.0 {
        1.0 - post / base
    } else {
        f64::NAN
    }
}

fn pct(x: f64) -> Option<f64> {
    x.is_finite().then(|| (x * 1000.0).round() / 10.0)
}

fn hours(secs: i64) -> f64 {
    (secs as f64 / 360.0).round() / 10.0
}

/// A matched-week drop and its bootstrap interval.
#[derive(Debug, Clone)]
struct DropEstimate {
    drop: f64,
    ci: Option<(f64, f64)>,
    used: usize,
    post_total: f64,
    base_total: f64,
    pairs: Vec<Pair>,
}

fn estimate(g: &Grid, t: i64, opts: &Options, rng: &mut Rng) -> DropEstimate {
    let m = Matched {
        g,
        weeks: i64::from(opts.baseline_weeks),
    };
    let a = g.index_at_or_after(t);
    let n = i64::from(opts.window_days) * g.per_day();
    let pairs = m.pairs(a, n);
    let drop = drop_of(&pairs);
    let used = pairs.iter().flatten().count();
    let (post_total, base_total) = pairs
        .iter()
        .flatten()
        .fold((0.0, 0.0), |(p, b), (x, y)| (p + x, b + y));
    let ci = if drop.is_finite() {
        let reps = stats::moving_block_bootstrap(
            &pairs,
            g.per_day() as usize,
            opts.bootstrap,
            rng,
            drop_of,
        );
        stats::percentile_interval(&reps, opts.level)
    } else {
        None
    };
    DropEstimate {
        drop,
        ci,
        used,
        post_total,
        base_total,
        pairs,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DayDrop {
    /// UTC start of the day-long slice of the window.
    pub start: String,
    pub drop_pct: Option<f64>,
    pub bins: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChangePointReport {
    /// Start of the first bin after the change.
    pub time: String,
    pub lag_hours: f64,
    /// 95% interval of the change time: bootstrap percentiles widened by one bin on each side
    /// (a change inside a bin shows at either of its edges).
    pub ci_low: String,
    pub ci_high: String,
    /// exp(mean after − mean before) − 1 of the deseasonalised log series.
    pub level_change_pct: Option<f64>,
    /// Share of block-bootstrap resamples without a change whose largest split explains as
    /// much: is there a change at all?
    pub p_value: f64,
    /// What was taken out of log(count+1) before looking for the change: the hour-of-week
    /// shape of the 4 weeks before the window, else the hour-of-day shape of 14 days, else
    /// nothing.
    pub deseasonalised: Deseasonalised,
}

#[derive(Debug, Clone, Serialize)]
pub struct BlindChangePoint {
    pub time: String,
    pub level_change_pct: Option<f64>,
    pub hours_from_event: f64,
    /// Within the lag radius (±48 h) of the event.
    pub near_event: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ControlReport {
    pub series: String,
    pub drop_pct: Option<f64>,
    pub ci_low_pct: Option<f64>,
    pub ci_high_pct: Option<f64>,
    pub bins_used: usize,
    /// Its interval excludes 0 and it changed by 10% or more.
    pub moved: bool,
    /// The drop of the series relative to the control: 1 − (1 − drop) / (1 − control drop).
    pub net_drop_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Confounder {
    /// `event`, `holiday`, `clock_change`, `gap`, `baseline_shift`.
    pub kind: &'static str,
    pub start: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// `baseline weeks`, `post window` or `both`.
    pub place: &'static str,
    pub description: String,
}

/// One event correlated with one series. The JSON of `cutoff correlate`.
#[derive(Debug, Clone, Serialize)]
pub struct Correlation {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub event: String,
    pub asn: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<u32>,
    pub event_time: String,
    pub series: String,
    pub bin_secs: i64,
    /// First bin of the window: the first bin starting at or after the event.
    pub window_start: String,
    pub window_end: String,
    pub window_days: u32,
    pub baseline_weeks: u32,
    /// 1 − Σpost / Σbaseline, in percent (negative: a rise).
    pub drop_pct: Option<f64>,
    pub ci_low_pct: Option<f64>,
    pub ci_high_pct: Option<f64>,
    pub post_total: f64,
    pub baseline_total: f64,
    /// The same drop over the 48 hours before the event: was the series already down?
    pub pre_event_drop_pct: Option<f64>,
    pub bins_used: usize,
    pub bins_expected: usize,
    pub per_day: Vec<DayDrop>,
    pub lag_hours: Option<f64>,
    pub lag_ci_low_hours: Option<f64>,
    pub lag_ci_high_hours: Option<f64>,
    pub change_point: Option<ChangePointReport>,
    pub blind_change_point: Option<BlindChangePoint>,
    /// Rank of the drop among placebo start dates before the event, in the direction the
    /// event predicts (`drop` for lost upstreams, `rise` for a return).
    pub p_value: Option<f64>,
    pub p_value_direction: &'static str,
    pub placebos: usize,
    pub placebos_as_extreme: usize,
    pub placebo_p95_pct: Option<f64>,
    pub placebo_p5_pct: Option<f64>,
    pub placebo_step_hours: f64,
    pub control: Option<ControlReport>,
    pub confounders: Vec<Confounder>,
    /// Other events in the window or its baseline weeks beyond the nearest
    /// `max_listed_events` listed as confounders.
    #[serde(skip_serializing_if = "is_zero")]
    pub confounder_events_not_listed: usize,
    pub caveats: Vec<String>,
    pub sentence: String,
    pub seed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The strongest change in mean over a whole series, deseasonalised by the median of each
/// bin of the week (log(count+1)). Computed once per series.
pub fn blind_change_point(g: &Grid) -> Option<(i64, ChangePoint)> {
    let w = g.per_week();
    let phase = g.start.div_euclid(g.bin);
    let slot = |i: i64| (phase + i).rem_euclid(w) as usize;
    let mut by_slot: Vec<Vec<f64>> = vec![Vec::new(); w as usize];
    for (i, v) in g.v.iter().enumerate() {
        if let Some(y) = v {
            by_slot[slot(i as i64)].push((y + 1.0).ln());
        }
    }
    let med: Vec<f64> = by_slot.iter().map(|s| stats::median(s)).collect();
    let mut idx = Vec::new();
    let mut z = Vec::new();
    for (i, v) in g.v.iter().enumerate() {
        if let Some(y) = v {
            idx.push(i as i64);
            z.push((y + 1.0).ln() - med[slot(i as i64)]);
        }
    }
    let cp = stats::change_point(&z, g.per_day() as usize)?;
    Some((g.time(idx[cp.split]), cp))
}

/// How the ±48 h series was freed of its cycles before looking for a change point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Deseasonalised {
    /// Median over the 4 weeks before the window of each bin of the week, each week divided by
    /// its own mean (a step inside one of those weeks cannot carry over: the median ignores it).
    HourOfWeek,
    /// Too few complete weeks: median hour-of-day shape of the 14 days before the window.
    HourOfDay,
    /// Too little data before the window: raw log(count+1).
    None,
}

/// Shape of `len` bins (mean 1 in each reference period) from the periods of `len` bins
/// before index `a`: the median, bin by bin, over the periods with at least 90% of their bins
/// and a mean above 0. `None` with fewer than `min_periods` such periods.
fn shape(g: &Grid, a: i64, len: i64, periods: i64, min_periods: usize) -> Option<Vec<f64>> {
    let phase = g.start.div_euclid(g.bin);
    let mut by_slot: Vec<Vec<f64>> = vec![Vec::new(); len as usize];
    let mut used = 0;
    for j in 1..=periods {
        let from = a - j * len;
        let vals: Vec<(i64, f64)> = (from..from + len)
            .filter_map(|i| g.get(i).map(|y| (i, y)))
            .collect();
        if (vals.len() as i64) * 10 < len * 9 {
            continue;
        }
        let mean = vals.iter().map(|(_, y)| y).sum::<f64>() / vals.len() as f64;
        if mean <= 0.0 {
            continue;
        }
        used += 1;
        for (i, y) in vals {
            by_slot[(phase + i).rem_euclid(len) as usize].push(y / mean);
        }
    }
    (used >= min_periods).then(|| {
        by_slot
            .iter()
            .map(|s| {
                if s.is_empty() {
                    1.0
                } else {
                    stats::median(s).max(1e-3)
                }
            })
            .collect()
    })
}

/// Change point within ±radius of `t`, with its bootstrap interval and significance.
fn lag_change_point(g: &Grid, t: i64, opts: &Options, rng: &mut Rng) -> Option<ChangePointReport> {
    let a = g.index_at_or_after(t - opts.lag_radius_secs);
    let b = g.index_at_or_after(t + opts.lag_radius_secs);
    let d = g.per_day();
    let (profile, how) = match shape(g, a, g.per_week(), 4, 3) {
        Some(s) => (Some(s), Deseasonalised::HourOfWeek),
        None => match shape(g, a, d, 14, 3) {
            Some(s) => (Some(s), Deseasonalised::HourOfDay),
            None => (None, Deseasonalised::None),
        },
    };
    let phase = g.start.div_euclid(g.bin);
    let mut idx = Vec::new();
    let mut z = Vec::new();
    for i in a..b {
        if let Some(y) = g.get(i) {
            let s = profile.as_ref().map_or(1.0, |sh| {
                sh[(phase + i).rem_euclid(sh.len() as i64) as usize]
            });
            idx.push(i);
            z.push((y + 1.0).ln() - s.ln());
        }
    }
    let min_seg = 3;
    let cp = stats::change_point(&z, min_seg)?;
    let m = z.len();
    let block = (d as usize).min(m / 4).max(1);
    // The fitted step and what is left around it.
    let fitted: Vec<f64> = (0..m)
        .map(|k| {
            if k < cp.split {
                cp.mean_before
            } else {
                cp.mean_after
            }
        })
        .collect();
    let resid: Vec<f64> = z.iter().zip(&fitted).map(|(v, f)| v - f).collect();
    // Significance: series without a change, made of resampled residual blocks; how often
    // does their best split explain as much as the observed one?
    let null = stats::moving_block_bootstrap(&resid, block, opts.bootstrap, rng, |r| {
        stats::change_point(r, min_seg).map_or(f64::NAN, |c| c.stat)
    });
    let as_large = null.iter().filter(|s| **s >= cp.stat).count();
    let p_value = (1 + as_large) as f64 / (1 + null.len()) as f64;
    // Interval: fitted step plus resampled residual blocks, split re-estimated.
    let mut buf = vec![0.0; m];
    let splits = stats::moving_block_bootstrap(&resid, block, opts.bootstrap, rng, |r| {
        for (k, slot) in buf.iter_mut().enumerate() {
            *slot = fitted[k] + r[k];
        }
        stats::change_point(&buf, min_seg).map_or(f64::NAN, |c| c.split as f64)
    });
    let (lo, hi) = stats::percentile_interval(&splits, opts.level)
        .unwrap_or((cp.split as f64, cp.split as f64));
    let at = |k: f64| idx[(k.max(0.0) as usize).min(m - 1)];
    let time = g.time(idx[cp.split]);
    let lo_t = g.time(at(lo.floor())) - g.bin;
    let hi_t = g.time(at(hi.ceil())) + g.bin;
    Some(ChangePointReport {
        time: rfc3339(time),
        lag_hours: hours(time - t),
        ci_low: rfc3339(lo_t.min(time - g.bin)),
        ci_high: rfc3339(hi_t.max(time + g.bin)),
        level_change_pct: pct((cp.mean_after - cp.mean_before).exp() - 1.0),
        p_value: (p_value * 10_000.0).round() / 10_000.0,
        deseasonalised: how,
    })
}

/// Everything the analysis needs besides the event.
pub struct Context<'a> {
    pub grid: &'a Grid,
    pub control: Option<&'a Grid>,
    pub blind: Option<(i64, ChangePoint)>,
    pub all_events: &'a EventsByTime<'a>,
    pub opts: &'a Options,
}

/// Every event, sorted by time once, so the events near one event are found by binary search
/// rather than by a pass over all of them (that pass, for each of n events, made `correlate`
/// quadratic: 20,000 events did not finish in a minute).
pub struct EventsByTime<'a> {
    sorted: Vec<&'a EventRef>,
}

/// The events listed as confounders of one event, and how many more were in its span.
pub struct NearEvents<'a> {
    pub listed: Vec<&'a EventRef>,
    pub not_listed: usize,
}

/// The order of [`EventsByTime`]: by time, then by what the event is, so copies of one event
/// lie side by side.
fn order_key(e: &EventRef) -> (i64, &str, u32, Option<u32>) {
    (e.time, e.event.as_str(), e.asn, e.upstream)
}

impl<'a> EventsByTime<'a> {
    pub fn new(all: &'a [EventRef]) -> Self {
        let mut sorted: Vec<&EventRef> = all.iter().collect();
        sorted.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
        EventsByTime { sorted }
    }

    /// The events other than `ev` (and its copies) in `from..to`: at most `max` of them, those
    /// nearest `ev` in time, listed in time order, and the count of the rest. Work:
    /// O(log n + max).
    pub fn near(&self, ev: &EventRef, from: i64, to: i64, max: usize) -> NearEvents<'a> {
        let lo = self.sorted.partition_point(|e| e.time < from);
        let hi = self.sorted.partition_point(|e| e.time < to).max(lo);
        let span = &self.sorted[lo..hi];
        let key = order_key(ev);
        let first_copy = span.partition_point(|e| order_key(e) < key);
        let copies = span[first_copy..].partition_point(|e| order_key(e) == key);
        let (mut left, mut right) = (first_copy, first_copy + copies);
        let mut listed = Vec::new();
        // Two pointers growing outwards from the event's place: nearest first.
        while listed.len() < max && (left > 0 || right < span.len()) {
            let take_left = right == span.len()
                || (left > 0 && ev.time - span[left - 1].time <= span[right].time - ev.time);
            if take_left {
                left -= 1;
                listed.push(span[left]);
            } else {
                listed.push(span[right]);
                right += 1;
            }
        }
        listed.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
        NearEvents {
            not_listed: span.len() - copies - listed.len(),
            listed,
        }
    }
}

/// Correlate one event with the series of `cx`.
pub fn analyse(ev: &EventRef, cx: &Context) -> Correlation {
    let g = cx.grid;
    let opts = cx.opts;
    let t = ev.time;
    let seed = stats::derive_seed(opts.seed, t, u64::from(ev.asn));
    let mut rng = Rng::new(seed);
    let a = g.index_at_or_after(t);
    let day = g.per_day();
    let n = i64::from(opts.window_days) * day;
    let t0 = g.time(a);
    let t_end = g.time(a + n);
    let tail = if ev.expects_rise() {
        Tail::Lower
    } else {
        Tail::Upper
    };
    let est = estimate(g, t, opts, &mut rng);
    let (confounders, confounder_events_not_listed) = confounders(ev, cx, t0, t_end, &est);
    let mut c = Correlation {
        kind: "correlation",
        event: ev.event.clone(),
        asn: ev.asn,
        upstream: ev.upstream,
        event_time: rfc3339(t),
        series: g.name.clone(),
        bin_secs: g.bin,
        window_start: rfc3339(t0),
        window_end: rfc3339(t_end),
        window_days: opts.window_days,
        baseline_weeks: opts.baseline_weeks,
        drop_pct: pct(est.drop),
        ci_low_pct: est.ci.and_then(|c| pct(c.0)),
        ci_high_pct: est.ci.and_then(|c| pct(c.1)),
        post_total: est.post_total,
        baseline_total: est.base_total,
        pre_event_drop_pct: {
            let m = Matched {
                g,
                weeks: i64::from(opts.baseline_weeks),
            };
            let pre_n = opts.lag_radius_secs / g.bin;
            pct(drop_of(&m.pairs(a - pre_n, pre_n)))
        },
        bins_used: est.used,
        bins_expected: n as usize,
        per_day: Vec::new(),
        lag_hours: None,
        lag_ci_low_hours: None,
        lag_ci_high_hours: None,
        change_point: None,
        blind_change_point: None,
        p_value: None,
        p_value_direction: if tail == Tail::Lower { "rise" } else { "drop" },
        placebos: 0,
        placebos_as_extreme: 0,
        placebo_p95_pct: None,
        placebo_p5_pct: None,
        placebo_step_hours: hours(opts.placebo_step_secs),
        control: None,
        confounders,
        confounder_events_not_listed,
        caveats: Vec::new(),
        sentence: String::new(),
        seed: opts.seed,
        reason: None,
    };
    if !est.drop.is_finite() {
        c.reason = Some(if est.used == 0 {
            format!(
                "no bins in the window {} to {} have both data and a baseline {} week(s) earlier (series {} to {})",
                rfc3339(t0),
                rfc3339(t_end),
                opts.baseline_weeks,
                rfc3339(g.start),
                rfc3339(g.end())
            )
        } else {
            "the baseline sums to zero".to_string()
        });
    } else {
        for d in 0..i64::from(opts.window_days.min(7)) {
            let slice = &est.pairs[(d * day) as usize..((d + 1) * day) as usize];
            c.per_day.push(DayDrop {
                start: rfc3339(t0 + d * DAY),
                drop_pct: pct(drop_of(slice)),
                bins: slice.iter().flatten().count(),
            });
        }
        // Placebo start dates: whole windows before the event with a full baseline.
        let m = Matched {
            g,
            weeks: i64::from(opts.baseline_weeks),
        };
        let step = (opts.placebo_step_secs / g.bin).max(1);
        let mut placebo = Vec::new();
        let mut p = a - n;
        while p - i64::from(opts.baseline_weeks) * g.per_week() >= 0 {
            let pairs = m.pairs(p, n);
            if pairs.iter().flatten().count() * 2 >= n as usize {
                let d = drop_of(&pairs);
                if d.is_finite() {
                    placebo.push(d);
                }
            }
            p -= step;
        }
        c.placebos = placebo.len();
        if let Some((pv, extreme)) = stats::placebo_p(est.drop, &placebo, tail) {
            c.p_value = Some((pv * 10_000.0).round() / 10_000.0);
            c.placebos_as_extreme = extreme;
            c.placebo_p95_pct = pct(stats::quantile(&placebo, 0.95));
            c.placebo_p5_pct = pct(stats::quantile(&placebo, 0.05));
        }
        if let Some(cp) = lag_change_point(g, t, opts, &mut rng) {
            let parse = |s: &str| {
                chrono::DateTime::parse_from_rfc3339(s)
                    .map(|d| d.timestamp())
                    .unwrap_or(t)
            };
            c.lag_hours = Some(cp.lag_hours);
            c.lag_ci_low_hours = Some(hours(parse(&cp.ci_low) - t));
            c.lag_ci_high_hours = Some(hours(parse(&cp.ci_high) - t));
            c.change_point = Some(cp);
        }
    }
    c.blind_change_point = cx.blind.map(|(time, cp)| BlindChangePoint {
        time: rfc3339(time),
        level_change_pct: pct((cp.mean_after - cp.mean_before).exp() - 1.0),
        hours_from_event: hours(time - t),
        near_event: (time - t).abs() <= opts.lag_radius_secs,
    });
    if let Some(cg) = cx.control {
        let mut crng = Rng::new(stats::derive_seed(
            opts.seed,
            t,
            u64::from(ev.asn) ^ 0xC0_47_20_1A,
        ));
        let ce = estimate(cg, t, opts, &mut crng);
        let moved = ce
            .ci
            .is_some_and(|(lo, hi)| (lo > 0.0 || hi < 0.0) && ce.drop.abs() >= 0.10);
        c.control = Some(ControlReport {
            series: cg.name.clone(),
            drop_pct: pct(ce.drop),
            ci_low_pct: ce.ci.and_then(|c| pct(c.0)),
            ci_high_pct: ce.ci.and_then(|c| pct(c.1)),
            bins_used: ce.used,
            moved,
            net_drop_pct: (est.drop.is_finite() && ce.drop.is_finite() && ce.drop < 1.0)
                .then(|| 1.0 - (1.0 - est.drop) / (1.0 - ce.drop))
                .and_then(pct),
        });
    }
    c.caveats = caveats(&c, cx);
    c
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn place(t: i64, ev_time: i64) -> &'static str {
    if t < ev_time {
        "baseline weeks"
    } else {
        "post window"
    }
}

fn confounders(
    ev: &EventRef,
    cx: &Context,
    t0: i64,
    t_end: i64,
    est: &DropEstimate,
) -> (Vec<Confounder>, usize) {
    let g = cx.grid;
    let opts = cx.opts;
    let from = t0 - i64::from(opts.baseline_weeks) * WEEK;
    let mut out = Vec::new();
    let near = cx.all_events.near(ev, from, t_end, opts.max_listed_events);
    for e in near.listed {
        let via = e
            .upstream
            .map(|u| format!(" (upstream AS{u})"))
            .unwrap_or_default();
        out.push(Confounder {
            kind: "event",
            start: rfc3339(e.time),
            end: None,
            place: place(e.time, ev.time),
            description: format!("{} AS{}{via} at {}", e.event, e.asn, human(e.time)),
        });
    }
    for m in calendar::markers(from, t_end, g.bin < DAY) {
        out.push(Confounder {
            kind: m.kind,
            start: rfc3339(m.start),
            end: (m.end > m.start).then(|| rfc3339(m.end)),
            place: place(m.start, ev.time),
            description: m.name,
        });
    }
    // Missing bins the estimate needed: in the window, or in its baseline weeks.
    let a = g.index_of(t0);
    let n = est.pairs.len() as i64;
    let w = g.per_week();
    let mut missing: Vec<i64> = Vec::new();
    for i in a..a + n {
        if g.get(i).is_none() {
            missing.push(i);
        }
        for k in 1..=i64::from(opts.baseline_weeks) {
            if g.get(i - k * w).is_none() {
                missing.push(i - k * w);
            }
        }
    }
    missing.sort_unstable();
    missing.dedup();
    let mut k = 0;
    while k < missing.len() {
        let mut j = k;
        while j + 1 < missing.len() && missing[j + 1] == missing[j] + 1 {
            j += 1;
        }
        let (s, e) = (g.time(missing[k]), g.time(missing[j] + 1));
        let outside = e <= g.start || s >= g.end();
        out.push(Confounder {
            kind: "gap",
            start: rfc3339(s),
            end: Some(rfc3339(e)),
            place: if s >= t0 {
                "post window"
            } else if e <= t0 {
                "baseline weeks"
            } else {
                "both"
            },
            description: format!(
                "{} bin(s) {} from {} to {}",
                j - k + 1,
                if outside {
                    "outside the series"
                } else {
                    "missing"
                },
                human(s),
                human(e)
            ),
        });
        k = j + 1;
    }
    // Baseline weeks that disagree: the level changed before the event.
    if opts.baseline_weeks >= 2 {
        let mut sums = vec![0.0; opts.baseline_weeks as usize];
        for i in a..a + n {
            let vals: Option<Vec<f64>> = (1..=i64::from(opts.baseline_weeks))
                .map(|k| g.get(i - k * w))
                .collect();
            if let Some(vals) = vals {
                for (s, v) in sums.iter_mut().zip(vals) {
                    *s += v;
                }
            }
        }
        let max = sums.iter().copied().fold(f64::MIN, f64::max);
        let min = sums.iter().copied().fold(f64::MAX, f64::min);
        if min >= 0.0 && max > 0.0 && (min == 0.0 || max / min > 1.25) {
            let listed: Vec<String> = sums
                .iter()
                .enumerate()
                .map(|(k, s)| format!("week −{}: {:.0}", k + 1, s))
                .collect();
            out.push(Confounder {
                kind: "baseline_shift",
                start: rfc3339(t0 - i64::from(opts.baseline_weeks) * WEEK),
                end: Some(rfc3339(t0)),
                place: "baseline weeks",
                description: format!(
                    "the baseline weeks differ by more than 25% ({}): the level changed before the event, and the baseline mixes two levels",
                    listed.join(", ")
                ),
            });
        }
    }
    (out, near.not_listed)
}

fn caveats(c: &Correlation, cx: &Context) -> Vec<String> {
    let mut out = vec![
        "one vantage point: this series sees only the mail that reaches its sensors".to_string(),
        "a coincidence in time, not proof that the routing change caused the change in the series"
            .to_string(),
    ];
    if c.drop_pct.is_some() && c.bins_used * 2 < c.bins_expected {
        out.push(format!(
            "only {} of {} bins of the window have data and a baseline",
            c.bins_used, c.bins_expected
        ));
    }
    if c.drop_pct.is_some() {
        if c.placebos == 0 {
            out.push(format!(
                "no placebo dates: the series needs {} week(s) of baseline plus {} days before the event",
                cx.opts.baseline_weeks, cx.opts.window_days
            ));
        } else if c.placebos < 19 {
            out.push(format!(
                "with {} placebo dates the p-value cannot be below {:.3}",
                c.placebos,
                1.0 / (c.placebos + 1) as f64
            ));
        }
    }
    if cx.control.is_none() {
        out.push(
            "no control series (such as ham volume): a fall of all mail cannot be ruled out"
                .to_string(),
        );
    }
    if c.confounders.iter().any(|x| x.kind == "gap") {
        out.push(
            "gaps in the series (listed as confounders) are left out, not counted as zero"
                .to_string(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, asn: u32, time: i64) -> EventRef {
        EventRef {
            event: kind.into(),
            asn,
            time,
            upstream: None,
        }
    }

    #[test]
    fn near_events_are_the_nearest_in_the_span_and_the_rest_are_counted() {
        let all: Vec<EventRef> = (0..100)
            .map(|i| ev("restored", i, 1000 * i64::from(i)))
            .collect();
        let by_time = EventsByTime::new(&all);
        let me = &all[50];
        // Span 40_000..60_000 holds events 40..59: 19 besides event 50, the 4 nearest listed.
        let near = by_time.near(me, 40_000, 60_000, 4);
        let asns: Vec<u32> = near.listed.iter().map(|e| e.asn).collect();
        assert_eq!(asns, [48, 49, 51, 52]);
        assert_eq!(near.not_listed, 15);
        // The event itself and its copies are never its own confounders.
        let mut with_copy = all.clone();
        with_copy.push(all[50].clone());
        let by_time = EventsByTime::new(&with_copy);
        let near = by_time.near(me, 49_000, 52_000, 10);
        let asns: Vec<u32> = near.listed.iter().map(|e| e.asn).collect();
        assert_eq!(asns, [49, 51]);
        assert_eq!(near.not_listed, 0);
        // A span with nothing in it, and one before every event.
        assert!(by_time.near(me, 200_000, 300_000, 10).listed.is_empty());
        assert_eq!(by_time.near(me, -10, 0, 10).not_listed, 0);
    }
}
