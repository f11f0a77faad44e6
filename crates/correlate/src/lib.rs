//! `cutoff correlate`: did spam fall when the AS was cut off, by how much, how sure are we?
//!
//! docs/METHOD.md §6, "matched-week ratio with placebo dates": for each bin of the W days after an
//! event (default 7), the baseline is the median of the same bin of the week in the K previous
//! weeks (default 2); drop = 1 − Σpost/Σbaseline; 95% CI by moving-block bootstrap with blocks
//! of one day; lag = single change point in mean of log(count+1) within ±48 h; p-value = rank
//! of the drop among placebo start dates in the pre-period. Plus per-day drops, a blind change
//! point over the whole series, a control series, confounders (other events, holidays, clock
//! changes, gaps, baseline weeks that disagree) and a sentence to quote.
//!
//! The library entry points are [`correlate_events`] (events, series, control, options) and
//! [`Prepared`] (load telemetry from [`TelemetryOptions`], then correlate a scan's events).

pub mod analysis;
pub mod calendar;
pub mod output;
pub mod sentence;
pub mod stats;
pub mod telemetry;

pub use analysis::Correlation;
pub use output::{CorrelateFormat, write_after_scan};

use crate::telemetry::{LoadOptions, OriginMap, Series, TelemetryError, TelemetryFormat, Zone};
use cutoff_core::error::UsageError;
use cutoff_core::lines::LineCap;
use cutoff_core::units::{check_count, check_duration_at_most, duration_text};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Fixed default seed of the bootstraps: same input, same numbers.
pub const DEFAULT_SEED: u64 = 2008;

/// Most other events listed as confounders of one event by default: with thousands of events
/// in one window, listing all of them made the output grow with the square of the events.
pub const DEFAULT_MAX_LISTED_EVENTS: usize = 20;

/// Version of the JSON output of `correlate`.
pub const SCHEMA_VERSION: u32 = 1;

/// Event kinds that are correlated; the others only count as confounders.
pub const CORRELATED_KINDS: [&str; 3] = ["disconnected", "restored", "upstream_lost"];

/// Parameters of the method.
#[derive(Debug, Clone, Serialize)]
pub struct Options {
    /// W: days after the event.
    pub window_days: u32,
    /// K: previous weeks whose median is the baseline.
    pub baseline_weeks: u32,
    pub seed: u64,
    /// Bootstrap resamples.
    pub bootstrap: usize,
    /// Change points are looked for within ± this of the event.
    pub lag_radius_secs: i64,
    /// Placebo start dates step back by this.
    pub placebo_step_secs: i64,
    /// Confidence level of the intervals.
    pub level: f64,
    /// Most other events listed as confounders of one event (the nearest in time); the rest
    /// are counted.
    pub max_listed_events: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            window_days: 7,
            baseline_weeks: 2,
            seed: DEFAULT_SEED,
            bootstrap: 2000,
            lag_radius_secs: 48 * 3600,
            placebo_step_secs: 86_400,
            level: 0.95,
            max_listed_events: DEFAULT_MAX_LISTED_EVENTS,
        }
    }
}

/// A routing event as far as correlation needs it: from `cutoff scan`'s JSON or a
/// [`cutoff_core::detect::Event`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRef {
    pub event: String,
    pub asn: u32,
    /// UTC epoch seconds.
    pub time: i64,
    pub upstream: Option<u32>,
}

impl EventRef {
    pub fn from_event(e: &cutoff_core::detect::Event) -> Self {
        EventRef {
            event: e.event.name().to_string(),
            asn: e.asn,
            time: e.time.secs,
            upstream: e.upstream,
        }
    }

    pub fn is_correlated(&self) -> bool {
        CORRELATED_KINDS.contains(&self.event.as_str())
    }

    /// A return should raise spam from the AS, a cut lower it.
    pub fn expects_rise(&self) -> bool {
        self.event == "restored"
    }
}

/// Correlate every `disconnected`, `restored` and `upstream_lost` event with `series` (and
/// `control`); the other events count as confounders. Deterministic for a given seed.
pub fn correlate_events(
    events: &[EventRef],
    series: &Series,
    control: Option<&Series>,
    opts: &Options,
) -> Result<Vec<Correlation>, String> {
    let targets: Vec<&EventRef> = events.iter().filter(|e| e.is_correlated()).collect();
    correlate_some(&targets, events, series, control, opts)
}

/// Correlate `targets`, with `all` events as possible confounders.
fn correlate_some(
    targets: &[&EventRef],
    all: &[EventRef],
    series: &Series,
    control: Option<&Series>,
    opts: &Options,
) -> Result<Vec<Correlation>, String> {
    let grid = analysis::Grid::new(series)?;
    let control_grid = match control {
        Some(c) => Some(analysis::Grid::new(c)?),
        None => None,
    };
    let blind = analysis::blind_change_point(&grid);
    let by_time = analysis::EventsByTime::new(all);
    let cx = analysis::Context {
        grid: &grid,
        control: control_grid.as_ref(),
        blind,
        all_events: &by_time,
        opts,
    };
    Ok(targets
        .iter()
        .map(|e| {
            let mut c = analysis::analyse(e, &cx);
            c.sentence = sentence::sentence(e, &c);
            c
        })
        .collect())
}

/// Where the telemetry comes from and how to read it, with the method's parameters: what
/// `correlate`, `scan --telemetry` and `report` were told.
#[derive(Debug, Clone)]
pub struct TelemetryOptions {
    /// Spam telemetry: CSV `ts,count[,series]`, JSON Lines of messages, or a mail log.
    pub telemetry: Option<PathBuf>,
    pub telemetry_format: TelemetryFormat,
    /// The series to use when the file holds several.
    pub series: Option<String>,
    /// A control series that the routing event should not move (such as ham volume).
    pub control: Option<PathBuf>,
    /// The control's series name, in the control file or else in the telemetry file.
    pub control_series: Option<String>,
    /// Bin width in seconds; inferred from a CSV, 1h for messages.
    pub bin: Option<i64>,
    /// Zone of times written without one, and of mail logs.
    pub tz: Option<Zone>,
    /// Year of the first line of a syslog-format mail log.
    pub year: Option<i32>,
    /// A RIB to attribute each message's source IP to an origin AS.
    pub attribute_with: Option<PathBuf>,
    /// Seconds after the event compared with the baseline (whole days).
    pub window: i64,
    pub baseline_weeks: u32,
    pub seed: u64,
    pub bootstrap: usize,
    /// Most other events listed as confounders of each event.
    pub max_listed_events: usize,
    /// The longest line of telemetry, control and events files.
    pub max_line_bytes: u64,
}

impl Default for TelemetryOptions {
    /// No telemetry, and the method's parameters of [`Options::default`].
    fn default() -> Self {
        let o = Options::default();
        TelemetryOptions {
            telemetry: None,
            telemetry_format: TelemetryFormat::Auto,
            series: None,
            control: None,
            control_series: None,
            bin: None,
            tz: None,
            year: None,
            attribute_with: None,
            window: i64::from(o.window_days) * 86_400,
            baseline_weeks: o.baseline_weeks,
            seed: o.seed,
            bootstrap: o.bootstrap,
            max_listed_events: o.max_listed_events,
            max_line_bytes: telemetry::DEFAULT_MAX_LINE_BYTES,
        }
    }
}

/// What was loaded, for the summary.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesSummary {
    pub file: String,
    pub format: TelemetryFormat,
    pub series: String,
    pub bin: String,
    pub bin_inferred: bool,
    pub first: Option<String>,
    pub last: Option<String>,
    pub bins: usize,
    pub missing_bins: usize,
    pub total: f64,
    pub notes: Vec<String>,
}

fn series_summary(t: &telemetry::Telemetry, s: &Series) -> SeriesSummary {
    SeriesSummary {
        file: t.file.clone(),
        format: t.format,
        series: s.name.clone(),
        bin: duration_text(s.bin_secs),
        bin_inferred: t.bin_inferred,
        first: s.first().map(telemetry::rfc3339),
        last: s.last().map(telemetry::rfc3339),
        bins: s.points.len(),
        missing_bins: s.missing_bins(),
        total: s.total(),
        notes: t.notes.clone(),
    }
}

/// The run summary, last line of JSON Lines.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub schema_version: u32,
    pub tool: String,
    pub events_file: Option<String>,
    pub events_read: usize,
    pub events_correlated: usize,
    /// Events not correlated (other kinds, or other ASes with --asn), by kind.
    pub events_not_correlated: BTreeMap<String, usize>,
    pub telemetry: SeriesSummary,
    pub control: Option<SeriesSummary>,
    pub attribution: Option<telemetry::AttributionStats>,
    pub options: Options,
    pub method: &'static str,
    pub caveats: Vec<&'static str>,
}

pub const METHOD: &str = "matched-week ratio: drop = 1 − Σpost/Σbaseline over the bins of the window, baseline = median of the same bin of the week in the previous weeks; 95% CI by moving-block bootstrap (blocks of one day); lag = least-squares single change point of log(count+1) (less the hour-of-week shape of the 4 weeks before, each week scaled to its mean, median per bin) within ±48 h, CI by residual block bootstrap widened by one bin; p = (1 + placebo drops as extreme) / (1 + placebos), placebo windows start every day before the event";

/// Results and summary of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub results: Vec<Correlation>,
    pub summary: Summary,
}

impl Report {
    /// Some event could not be measured (no telemetry around it): exit status 3.
    pub fn incomplete(&self) -> bool {
        self.results.iter().any(|r| r.drop_pct.is_none())
    }
}

/// Telemetry loaded and checked, ready to correlate events with.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub series: Series,
    pub control: Option<Series>,
    pub opts: Options,
    summary_telemetry: SeriesSummary,
    summary_control: Option<SeriesSummary>,
    attribution: Option<telemetry::AttributionStats>,
    listing: Vec<(String, Vec<telemetry::SeriesInfo>)>,
}

fn usage(msg: String) -> anyhow::Error {
    UsageError::Invalid(msg).into()
}

/// The longest `--window`: every bin of it is resampled `--bootstrap` times, so the work
/// grows with both (100000d never finished).
pub const MAX_WINDOW_SECS: i64 = 90 * 86_400;
/// Most `--baseline-weeks`: the baseline of each bin is a median over them.
pub const MAX_BASELINE_WEEKS: u64 = 52;
/// Fewest and most `--bootstrap` resamples (100000000 never finished).
pub const MIN_BOOTSTRAP: u64 = 100;
pub const MAX_BOOTSTRAP: u64 = 100_000;

/// The method's parameters within their limits, or a usage error that states the limit.
fn check_method(args: &TelemetryOptions) -> anyhow::Result<()> {
    let flag = |name: &'static str| move |m: String| usage(format!("{name} {m}"));
    if args.window <= 0 || args.window % 86_400 != 0 {
        return Err(usage(format!(
            "--window {}: give whole days, like 7d",
            duration_text(args.window)
        )));
    }
    check_duration_at_most(args.window, MAX_WINDOW_SECS).map_err(flag("--window"))?;
    check_count(
        u64::from(args.baseline_weeks),
        1,
        MAX_BASELINE_WEEKS,
        "weeks",
    )
    .map_err(flag("--baseline-weeks"))?;
    check_count(
        u64::try_from(args.bootstrap).unwrap_or(u64::MAX),
        MIN_BOOTSTRAP,
        MAX_BOOTSTRAP,
        "resamples",
    )
    .map_err(flag("--bootstrap"))?;
    Ok(())
}

impl Prepared {
    /// Load and check everything `args` names (exit 2 on any problem). `Ok(None)` when no
    /// `--telemetry` was given (for scan).
    pub fn load(args: &TelemetryOptions) -> anyhow::Result<Option<Prepared>> {
        let Some(path) = &args.telemetry else {
            if args.control.is_some() || args.attribute_with.is_some() {
                return Err(usage(
                    "--control and --attribute-with need --telemetry FILE".into(),
                ));
            }
            return Ok(None);
        };
        check_method(args)?;
        let origins = match &args.attribute_with {
            Some(rib) => Some(OriginMap::from_rib(rib)?),
            None => None,
        };
        let load_opts = LoadOptions {
            format: args.telemetry_format,
            bin_secs: args.bin,
            tz: args.tz,
            year: args.year,
            origins: origins.as_ref(),
            max_line_bytes: args.max_line_bytes,
        };
        let tel = telemetry::load(path, &load_opts)?;
        let series = tel.pick(args.series.as_deref())?;
        let mut listing = vec![(tel.file.clone(), tel.info())];
        let summary_telemetry = series_summary(&tel, &series);
        let attribution = tel.attribution.clone();
        let (control, summary_control) = match (&args.control, &args.control_series) {
            (Some(cpath), name) => {
                let ctel = telemetry::load(cpath, &load_opts)?;
                let c = ctel.pick(name.as_deref())?;
                listing.push((ctel.file.clone(), ctel.info()));
                let s = series_summary(&ctel, &c);
                (Some(c), Some(s))
            }
            (None, Some(name)) => {
                let c = tel.pick(Some(name))?;
                let s = series_summary(&tel, &c);
                (Some(c), Some(s))
            }
            (None, None) => (None, None),
        };
        // Name the file: a series is named after its file's stem, not its path (found by
        // tests/fuzz.rs: a stray year 0008 was refused without saying where).
        let files = [
            Some(&summary_telemetry.file),
            summary_control.as_ref().map(|s| &s.file),
        ];
        let checked = std::iter::once(&series).chain(control.as_ref());
        for (s, file) in checked.zip(files.into_iter().flatten()) {
            analysis::Grid::new(s).map_err(|e| usage(format!("{file}: {e}")))?;
        }
        Ok(Some(Prepared {
            series,
            control,
            opts: Options {
                window_days: (args.window / 86_400) as u32,
                baseline_weeks: args.baseline_weeks,
                seed: args.seed,
                bootstrap: args.bootstrap,
                max_listed_events: args.max_listed_events,
                ..Options::default()
            },
            summary_telemetry,
            summary_control,
            attribution,
            listing,
        }))
    }

    /// What the telemetry (and control) files hold, for `--list-series`.
    pub fn listing(&self) -> &[(String, Vec<telemetry::SeriesInfo>)] {
        &self.listing
    }

    /// Correlate events (those of `asns` only, when given).
    pub fn report(&self, events: &[EventRef], asns: &[u32], events_file: Option<String>) -> Report {
        let mut not = BTreeMap::new();
        let chosen: Vec<&EventRef> = events
            .iter()
            .filter(|e| {
                let keep = e.is_correlated() && (asns.is_empty() || asns.contains(&e.asn));
                if !keep {
                    *not.entry(e.event.clone()).or_insert(0) += 1;
                }
                keep
            })
            .collect();
        // Confounders come from every event. `load` checked that both series lay on a grid,
        // so this cannot fail; an empty result would show as "no events correlated".
        let results = correlate_some(
            &chosen,
            events,
            &self.series,
            self.control.as_ref(),
            &self.opts,
        )
        .unwrap_or_default();
        Report {
            summary: Summary {
                kind: "summary",
                schema_version: SCHEMA_VERSION,
                tool: format!("cutoff {}", env!("CARGO_PKG_VERSION")),
                events_file,
                events_read: events.len(),
                events_correlated: results.len(),
                events_not_correlated: not,
                telemetry: self.summary_telemetry.clone(),
                control: self.summary_control.clone(),
                attribution: self.attribution.clone(),
                options: self.opts.clone(),
                method: METHOD,
                caveats: vec![
                    "one vantage point: a series sees only the mail that reaches its sensors",
                    "a coincidence in time is not proof of cause",
                ],
            },
            results,
        }
    }

    /// For `scan --telemetry`: correlate the scan's own events. Its summary is typed
    /// `correlation_summary`, so it cannot be taken for the scan's `summary` in one stream.
    pub fn report_scan(&self, events: &[cutoff_core::detect::Event]) -> Report {
        let refs: Vec<EventRef> = events.iter().map(EventRef::from_event).collect();
        let mut report = self.report(&refs, &[], None);
        report.summary.kind = "correlation_summary";
        report
    }
}

/// Read events from the JSON Lines (or the JSON document) that `cutoff scan` prints. The
/// summary line and unknown fields are ignored. No line may be longer than `max_line_bytes`.
pub fn read_events(path: &Path, max_line_bytes: u64) -> Result<Vec<EventRef>, TelemetryError> {
    let file = path.display().to_string();
    let err = |line: Option<u64>, message: String| TelemetryError {
        file: file.clone(),
        line,
        column: None,
        message,
    };
    let mut text = String::new();
    LineCap::new(
        cutoff_core::parse::decode::open(path)
            .map_err(|e| err(None, format!("cannot read: {e}")))?,
        max_line_bytes,
    )
    .read_to_string(&mut text)
    .map_err(|e| telemetry::read_error(&file, None, &e))?;
    if let Ok(serde_json::Value::Object(doc)) = serde_json::from_str::<serde_json::Value>(&text)
        && let Some(serde_json::Value::Array(events)) = doc.get("events")
    {
        return events
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                event_from_json(v)
                    .map_err(|m| err(None, format!("event {}: {m}", i + 1)))
                    .transpose()
            })
            .collect();
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            err(
                Some(n),
                format!("not JSON ({e}): expected the JSON Lines of cutoff scan --format jsonl"),
            )
        })?;
        if v.get("type").and_then(|t| t.as_str()) == Some("visibility") {
            return Err(err(
                Some(n),
                "a visibility point of cutoff timeline, not an event: --events wants the JSON Lines of cutoff scan --format jsonl".into(),
            ));
        }
        if let Some(e) = event_from_json(&v).map_err(|m| err(Some(n), m))? {
            out.push(e);
        }
    }
    Ok(out)
}

/// `Ok(None)` for lines that are not events (the summary).
fn event_from_json(v: &serde_json::Value) -> Result<Option<EventRef>, String> {
    let Some(obj) = v.as_object() else {
        return Err("expected a JSON object with event, asn, time".into());
    };
    let Some(kind) = obj.get("event") else {
        if obj.contains_key("type") {
            return Ok(None);
        }
        return Err(
            "not an event: expected an object with event, asn, time (as cutoff scan prints)".into(),
        );
    };
    let kind = kind
        .as_str()
        .ok_or_else(|| format!("event: {kind} is not a name"))?
        .to_string();
    let asn = obj
        .get("asn")
        .and_then(serde_json::Value::as_u64)
        .and_then(|a| u32::try_from(a).ok())
        .ok_or_else(|| "asn: expected an AS number".to_string())?;
    let time = match obj.get("time") {
        Some(serde_json::Value::String(s)) => {
            telemetry::parse_time_text(s, None).map_err(|m| format!("time: {m}"))?
        }
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| format!("time: {n} is not epoch seconds"))?,
        _ => return Err("time: expected an RFC 3339 time".into()),
    };
    let upstream = obj
        .get("upstream")
        .and_then(serde_json::Value::as_u64)
        .and_then(|a| u32::try_from(a).ok());
    Ok(Some(EventRef {
        event: kind,
        asn,
        time,
        upstream,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step_series(bin: i64) -> Series {
        let t = 1_226_437_200; // 2008-11-11T21:00:00Z
        let mut s = Series::new("spam", bin);
        for i in 0..(6 * 7 * 86_400 / bin) {
            let time = t - 5 * 7 * 86_400 + i * bin;
            // A day/night cycle, a 60% drop at t, a little deterministic wobble.
            let day = 1.0 + 0.2 * ((time % 86_400) as f64 / 86_400.0 * std::f64::consts::TAU).sin();
            let level = if time >= t { 0.4 } else { 1.0 };
            s.points.insert(
                time,
                1000.0 * day * level * (1.0 + 0.01 * ((i * 7) % 5) as f64),
            );
        }
        s
    }

    #[test]
    fn correlate_events_is_deterministic_and_finds_the_step() {
        let s = step_series(3600);
        let events = [
            EventRef {
                event: "disconnected".into(),
                asn: 64500,
                time: 1_226_437_200,
                upstream: None,
            },
            EventRef {
                event: "upstream_gained".into(),
                asn: 64500,
                time: 1_226_437_000,
                upstream: Some(1),
            },
        ];
        let opts = Options {
            bootstrap: 300,
            ..Options::default()
        };
        let a = correlate_events(&events, &s, None, &opts).expect("hourly grid");
        let b = correlate_events(&events, &s, None, &opts).expect("hourly grid");
        assert_eq!(a.len(), 1, "only the disconnection is correlated");
        assert_eq!(
            serde_json::to_string(&a[0]).ok(),
            serde_json::to_string(&b[0]).ok()
        );
        let drop = a[0].drop_pct.expect("measured");
        assert!((59.0..=61.0).contains(&drop), "{drop}");
        assert_eq!(
            a[0].confounders
                .iter()
                .filter(|c| c.kind == "event")
                .count(),
            1
        );
        // Bins of 7 hours do not divide a day.
        let err =
            correlate_events(&events, &step_series(7 * 3600), None, &opts).expect_err("7h bins");
        assert!(err.contains("do not divide a day"), "{err}");
    }

    #[test]
    fn events_from_scan_json_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("ev.jsonl");
        std::fs::write(
            &p,
            "{\"event\":\"disconnected\",\"asn\":26780,\"time\":\"2008-11-11T21:33:00Z\",\"evidence\":{}}\n\
             {\"event\":\"upstream_lost\",\"asn\":17557,\"time\":\"2008-02-24T21:01:51Z\",\"upstream\":3491,\"x\":1}\n\
             {\"type\":\"summary\",\"files_read\":3}\n",
        )
        .expect("write");
        let ev = read_events(&p, 1 << 20).expect("reads");
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].time, 1_226_439_180);
        assert_eq!(ev[1].upstream, Some(3491));
        std::fs::write(&p, "{\"event\":\"disconnected\",\"asn\":1,\"time\":\"2008-11-11T21:33:00Z\"}\n{\"event\":\"restored\",\"time\":\"x\"}\n")
            .expect("write");
        let e = read_events(&p, 1 << 20).expect_err("no asn").to_string();
        assert!(e.contains("line 2: asn"), "{e}");
    }
}
