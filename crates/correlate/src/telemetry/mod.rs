//! Spam telemetry: CSV series, JSON Lines of single messages, and Postfix/Exim mail logs,
//! turned into plain [`Series`] of counts per time bin in UTC (docs/METHOD.md §6).
//!
//! **Missing is not zero.** A CSV row that is not there is a missing bin, absent from
//! [`Series::points`]. Per-message input (JSON Lines, mail logs) has no rows, so a bin counts
//! as observed when the input holds any record in it (any kind, any program in a mail log, or a
//! JSON Lines record with `"count": 0` as a heartbeat); inside observed bins a series without
//! messages counts zero, outside them it is missing.
//!
//! Times: RFC 3339 with an offset, or epoch seconds, are taken as they are; a time without a
//! zone (and every syslog line) needs `--tz`; syslog lines have no year, so they need `--year`.
//! Everything is binned in UTC.
//!
//! Per-message input with source IPs can be attributed to origin ASes with the prefix→origin
//! map of a RIB ([`OriginMap`], `--attribute-with RIB`): each kind `K` then also yields the
//! series `K@AS<n>` (longest matching prefix originated by AS n) and `K@unrouted`.
//!
//! The loaders: [`csv_rows`] (one row per bin), [`messages`] (JSON Lines, and the binning every
//! per-message loader shares), [`maillog`] (Postfix and Exim logs); [`origin`] maps source
//! addresses to origin ASes.

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone};
use cutoff_core::lines::{LineCap, LineTooLong};
use cutoff_core::model::Origin;
use cutoff_core::parse::{self, Item, RouteKind};
use cutoff_core::units::{duration_text, size_text};
use ipnet::{Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;

mod csv_rows;
mod maillog;
mod messages;
mod origin;

pub use origin::OriginMap;

/// Accepted names of the time column of a CSV (case-insensitive).
pub const TIME_COLUMNS: &[&str] = &[
    "ts",
    "time",
    "timestamp",
    "hour",
    "datetime",
    "date",
    "bin",
    "bin_start",
];
/// Accepted names of the count column of a CSV.
pub const COUNT_COLUMNS: &[&str] = &[
    "count",
    "value",
    "messages",
    "msgs",
    "n",
    "volume",
    "total",
    "connections",
    "hits",
];
/// Accepted names of the optional series column of a CSV.
pub const SERIES_COLUMNS: &[&str] = &["series", "name", "kind", "metric"];
/// Accepted names of the time field of a JSON Lines record.
pub const TIME_FIELDS: &[&str] = &["ts", "time", "timestamp"];
/// Accepted names of the source IP field of a JSON Lines record.
pub const IP_FIELDS: &[&str] = &["src_ip", "ip", "client_ip", "source_ip"];

/// Epoch seconds above this are not seconds (year 5138): most likely milliseconds.
const MAX_EPOCH_SECS: f64 = 1e11;

/// One telemetry series: counts per bin. `points` maps the start of a bin (UTC epoch
/// seconds) to its count; a missing bin is absent, never zero.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub bin_secs: i64,
    pub points: BTreeMap<i64, f64>,
}

impl Series {
    pub fn new(name: &str, bin_secs: i64) -> Self {
        Series {
            name: name.to_string(),
            bin_secs,
            points: BTreeMap::new(),
        }
    }

    pub fn total(&self) -> f64 {
        self.points.values().sum()
    }

    pub fn first(&self) -> Option<i64> {
        self.points.keys().next().copied()
    }

    pub fn last(&self) -> Option<i64> {
        self.points.keys().next_back().copied()
    }

    /// Bins between the first and the last that have no value.
    pub fn missing_bins(&self) -> usize {
        match (self.first(), self.last()) {
            (Some(a), Some(b)) if self.bin_secs > 0 => {
                ((b - a) / self.bin_secs + 1) as usize - self.points.len()
            }
            _ => 0,
        }
    }
}

/// A problem with a telemetry file: which file, line and column, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct TelemetryError {
    pub file: String,
    pub line: Option<u64>,
    /// Already worded: `column ts`, `field src_ip`, `column 1`.
    pub column: Option<String>,
    pub message: String,
}

impl fmt::Display for TelemetryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(l) = self.line {
            write!(f, " line {l}")?;
        }
        match &self.column {
            Some(c) if self.line.is_some() => write!(f, ", {c}")?,
            Some(c) => write!(f, " {c}")?,
            None => {}
        }
        write!(f, ": {}", self.message)
    }
}

fn error(file: &str, line: Option<u64>, column: Option<String>, message: String) -> TelemetryError {
    TelemetryError {
        file: file.to_string(),
        line,
        column,
        message,
    }
}

/// The kind of a telemetry file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum TelemetryFormat {
    /// From the name (.csv, .jsonl, .ndjson) or the first line (Postfix or Exim log).
    Auto,
    /// `ts,count[,series]` rows, one per bin.
    Csv,
    /// One JSON object per message or connection: `ts`, optional `src_ip`, `kind`, `count`.
    Jsonl,
    /// Postfix syslog lines (smtpd connect, client=, NOQUEUE reject; postscreen CONNECT).
    Postfix,
    /// Exim main log lines (`<=` arrivals, rejections, SMTP connections).
    Exim,
}

/// A time zone for times written without one: a fixed offset or an IANA name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

impl FromStr for Zone {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("utc") || t == "Z" || t.eq_ignore_ascii_case("gmt") {
            return Ok(Zone::Fixed(utc_offset()));
        }
        if let Some(rest) = t.strip_prefix('+').or_else(|| t.strip_prefix('-')) {
            let sign = if t.starts_with('-') { -1 } else { 1 };
            let digits: String = rest.chars().filter(|c| *c != ':').collect();
            let ok = digits.chars().all(|c| c.is_ascii_digit());
            let (h, m) = match digits.len() {
                1 | 2 if ok => (digits.parse::<i32>().ok(), Some(0)),
                4 if ok => (digits[..2].parse().ok(), digits[2..].parse().ok()),
                _ => (None, None),
            };
            if let (Some(h), Some(m)) = (h, m)
                && h <= 18
                && m < 60
                && let Some(off) = FixedOffset::east_opt(sign * (h * 3600 + m * 60))
            {
                return Ok(Zone::Fixed(off));
            }
        }
        t.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
            format!(
                "{s:?} is not a time zone: use UTC, an offset like -08:00, or an IANA name like America/Los_Angeles"
            )
        })
    }
}

/// The zero offset.
fn utc_offset() -> FixedOffset {
    chrono::Utc.fix()
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Fixed(o) => write!(f, "{o}"),
            Zone::Named(z) => write!(f, "{}", z.name()),
        }
    }
}

impl Zone {
    /// UTC epoch seconds of a local time. Around a clock change set back, a local time occurs
    /// twice: the earlier reading is taken unless it would put the line more than five
    /// minutes before the previous one (`prev`), as in a log that goes on through the repeated
    /// hour. A local time skipped by a clock change set forward is an error.
    pub fn to_utc(&self, local: NaiveDateTime, prev: Option<i64>) -> Result<i64, String> {
        let result = match self {
            Zone::Fixed(o) => o.from_local_datetime(&local).map(|d| d.timestamp()),
            Zone::Named(z) => z.from_local_datetime(&local).map(|d| d.timestamp()),
        };
        match result {
            LocalResult::Single(t) => Ok(t),
            LocalResult::Ambiguous(a, b) => Ok(match prev {
                Some(p) if a < p - 300 => b,
                _ => a,
            }),
            LocalResult::None => Err(format!(
                "{local} does not exist in {self} (the clocks jumped forward over it): is --tz right?"
            )),
        }
    }
}

/// How to read a telemetry file.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions<'a> {
    pub format: TelemetryFormat,
    /// Bin width in seconds; `None`: inferred from a CSV (the most common gap), 1 h otherwise.
    pub bin_secs: Option<i64>,
    pub tz: Option<Zone>,
    /// The year of the first syslog line (syslog lines have none).
    pub year: Option<i32>,
    pub origins: Option<&'a OriginMap>,
    /// The longest line read: a longer one (a binary file, `/dev/zero`) is an error naming
    /// the file and line, not memory growing without end.
    pub max_line_bytes: u64,
}

/// The default `--max-line-bytes`: far above any real line of telemetry or events (a few
/// hundred bytes), far below what would strain memory.
pub const DEFAULT_MAX_LINE_BYTES: u64 = 1 << 20;
/// The largest `--max-line-bytes` accepted.
pub const MAX_MAX_LINE_BYTES: u64 = 1 << 30;

impl Default for LoadOptions<'_> {
    fn default() -> Self {
        LoadOptions {
            format: TelemetryFormat::Auto,
            bin_secs: None,
            tz: None,
            year: None,
            origins: None,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }
}

/// Per series: name, observed bins, span and total, for listings and summaries.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SeriesInfo {
    pub name: String,
    pub bins: usize,
    pub missing_bins: usize,
    pub first: Option<String>,
    pub last: Option<String>,
    pub total: f64,
}

/// How source IPs were attributed to origin ASes.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AttributionStats {
    pub rib: String,
    pub rib_time: Option<String>,
    pub prefixes: usize,
    pub origin_ases: usize,
    /// Prefixes seen with more than one origin; the origin most peers saw is used.
    pub multi_origin_prefixes: usize,
    pub messages_attributed: f64,
    pub messages_unrouted: f64,
    pub messages_without_ip: f64,
}

/// A loaded telemetry file: every series it holds.
#[derive(Debug, Clone)]
pub struct Telemetry {
    /// The file as the user named it.
    pub file: String,
    pub format: TelemetryFormat,
    pub bin_secs: i64,
    /// The bin width was inferred from the data (CSV without `--bin`).
    pub bin_inferred: bool,
    counts: BTreeMap<String, BTreeMap<i64, f64>>,
    /// Per-message input: the bins in which the input held any record.
    covered: Option<BTreeSet<i64>>,
    /// Data rows or records read (not lines skipped).
    pub records: u64,
    /// Lines of a mail log that were not connections, arrivals or rejections.
    pub other_lines: u64,
    /// What the reader did that a user should know (bins dropped as incomplete, cells NA).
    pub notes: Vec<String>,
    pub attribution: Option<AttributionStats>,
}

impl Telemetry {
    pub fn names(&self) -> Vec<String> {
        self.counts.keys().cloned().collect()
    }

    /// One series by name: its observed bins, zero where observed without messages.
    pub fn series(&self, name: &str) -> Option<Series> {
        let counts = self.counts.get(name)?;
        let points = match &self.covered {
            None => counts.clone(),
            Some(cov) => cov
                .iter()
                .map(|b| (*b, counts.get(b).copied().unwrap_or(0.0)))
                .collect(),
        };
        Some(Series {
            name: name.to_string(),
            bin_secs: self.bin_secs,
            points,
        })
    }

    /// The series named `name`, or the only one; otherwise an error listing them.
    pub fn pick(&self, name: Option<&str>) -> Result<Series, TelemetryError> {
        let list = || {
            let names = self.names();
            let shown: Vec<&str> = names.iter().take(20).map(String::as_str).collect();
            let more = if names.len() > 20 {
                format!(" and {} more (see --list-series)", names.len() - 20)
            } else {
                String::new()
            };
            format!("{}{more}", shown.join(", "))
        };
        match name {
            Some(n) => self.series(n).ok_or_else(|| {
                error(
                    &self.file,
                    None,
                    None,
                    format!("no series named {n:?}; it holds: {}", list()),
                )
            }),
            None => match self.counts.len() {
                1 => {
                    let only = self.names().remove(0);
                    self.series(&only)
                        .ok_or_else(|| error(&self.file, None, None, "no series".into()))
                }
                0 => Err(error(
                    &self.file,
                    None,
                    None,
                    "holds no data rows or messages".into(),
                )),
                _ => Err(error(
                    &self.file,
                    None,
                    None,
                    format!(
                        "holds several series ({}): choose one with --series",
                        list()
                    ),
                )),
            },
        }
    }

    pub fn info(&self) -> Vec<SeriesInfo> {
        self.names()
            .iter()
            .filter_map(|n| self.series(n))
            .map(|s| SeriesInfo {
                bins: s.points.len(),
                missing_bins: s.missing_bins(),
                first: s.first().map(rfc3339),
                last: s.last().map(rfc3339),
                total: s.total(),
                name: s.name,
            })
            .collect()
    }
}

/// RFC 3339 (UTC, seconds) of epoch seconds.
pub fn rfc3339(secs: i64) -> String {
    cutoff_core::model::Timestamp::from_secs(secs).rfc3339()
}

/// Read a telemetry file (raw, gzip or bzip2).
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Telemetry, TelemetryError> {
    let file = path.display().to_string();
    if let Some(b) = opts.bin_secs
        && b <= 0
    {
        return Err(error(&file, None, None, "--bin must be positive".into()));
    }
    let format = match opts.format {
        TelemetryFormat::Auto => detect_format(path, &file, opts.max_line_bytes)?,
        f => f,
    };
    if opts.origins.is_some() && format == TelemetryFormat::Csv {
        return Err(error(
            &file,
            None,
            None,
            "--attribute-with needs per-message input with source IPs (JSON Lines or a mail log), not counts per bin".into(),
        ));
    }
    if matches!(format, TelemetryFormat::Postfix | TelemetryFormat::Exim) && opts.tz.is_none() {
        return Err(error(
            &file,
            None,
            None,
            "a mail log is in the server's local time: give its zone with --tz (e.g. --tz -08:00 or --tz America/Los_Angeles)".into(),
        ));
    }
    let reader = open(path, &file, opts.max_line_bytes)?;
    match format {
        TelemetryFormat::Csv => csv_rows::load_csv(reader, &file, opts),
        TelemetryFormat::Jsonl => messages::load_jsonl(reader, &file, opts),
        TelemetryFormat::Postfix | TelemetryFormat::Exim => {
            maillog::load_maillog(reader, &file, format, opts)
        }
        TelemetryFormat::Auto => Err(error(&file, None, None, "unknown format".into())),
    }
}

/// The file, decompressed, with its lines bounded to `max_line_bytes`.
fn open(
    path: &Path,
    file: &str,
    max_line_bytes: u64,
) -> Result<Box<dyn Read + Send>, TelemetryError> {
    let raw = parse::decode::open(path)
        .map_err(|e| error(file, None, None, format!("cannot open: {e}")))?;
    Ok(Box::new(LineCap::new(raw, max_line_bytes)))
}

/// A failed read, worded: a line over the limit names its line and the setting.
pub(crate) fn read_error(file: &str, line: Option<u64>, e: &std::io::Error) -> TelemetryError {
    match LineTooLong::of(e) {
        Some(long) => error(
            file,
            Some(long.line),
            None,
            format!(
                "longer than {} (--max-line-bytes): not a text file of this kind? (raise the limit if the line is real)",
                size_text(long.limit)
            ),
        ),
        None => error(file, line, None, format!("cannot read: {e}")),
    }
}

fn detect_format(
    path: &Path,
    file: &str,
    max_line_bytes: u64,
) -> Result<TelemetryFormat, TelemetryError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let stem = name
        .trim_end_matches(".gz")
        .trim_end_matches(".bz2")
        .to_string();
    if stem.ends_with(".csv") {
        return Ok(TelemetryFormat::Csv);
    }
    if stem.ends_with(".jsonl") || stem.ends_with(".ndjson") {
        return Ok(TelemetryFormat::Jsonl);
    }
    let reader = BufReader::new(open(path, file, max_line_bytes)?);
    for line in reader.lines().take(50) {
        let line = line.map_err(|e| read_error(file, None, &e))?;
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if t.starts_with('{') {
            return Ok(TelemetryFormat::Jsonl);
        }
        if t.contains("postfix/") || t.contains("postfix[") {
            return Ok(TelemetryFormat::Postfix);
        }
        if maillog::parse_exim_time(t).is_some() {
            return Ok(TelemetryFormat::Exim);
        }
    }
    Err(error(
        file,
        None,
        None,
        "cannot tell the format from the name or the first lines: give --telemetry-format csv|jsonl|postfix|exim".into(),
    ))
}

/// A time cell or field: epoch seconds, RFC 3339 with an offset, or (with `tz`) a local
/// `YYYY-MM-DD[ HH:MM[:SS]]`.
pub fn parse_time_text(s: &str, tz: Option<&Zone>) -> Result<i64, String> {
    let t = s.trim();
    let expected = "expected RFC 3339 (2008-11-11T21:00:00Z), epoch seconds, or YYYY-MM-DD[ HH:MM[:SS]] with --tz";
    if t.is_empty() {
        return Err(format!("empty: {expected}"));
    }
    if let Ok(v) = t.parse::<f64>() {
        return epoch_secs(v).map_err(|m| format!("{t:?} {m}"));
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.timestamp());
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%dT%H:%M%#z",
        "%Y-%m-%d %H:%M%#z",
    ] {
        if let Ok(d) = DateTime::parse_from_str(t, fmt) {
            return Ok(d.timestamp());
        }
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    });
    match (naive, tz) {
        (Some(local), Some(z)) => z.to_utc(local, None).map_err(|m| format!("{t:?}: {m}")),
        (Some(_), None) => Err(format!(
            "{t:?} has no time zone: write it as RFC 3339 (…Z or …+00:00) or give --tz (UTC, -08:00, America/Los_Angeles)"
        )),
        (None, _) => Err(format!("{t:?} is not a time: {expected}")),
    }
}

fn epoch_secs(v: f64) -> Result<i64, String> {
    if !v.is_finite() || v < 0.0 {
        return Err("is not a time: epoch seconds must be a number ≥ 0".into());
    }
    if v > MAX_EPOCH_SECS {
        return Err(
            "is not epoch seconds (it would be after the year 5000): milliseconds? divide by 1000"
                .into(),
        );
    }
    Ok(v.floor() as i64)
}

/// The column named by one of `names` (case-insensitive); an error if two match.
fn find_column(
    headers: &[String],
    names: &[&str],
    what: &str,
    file: &str,
    line: u64,
) -> Result<Option<usize>, TelemetryError> {
    let hits: Vec<usize> = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
        .map(|(i, _)| i)
        .collect();
    match hits.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        many => Err(error(
            file,
            Some(line),
            None,
            format!(
                "two {what} columns ({}): keep one",
                many.iter()
                    .map(|i| headers[*i].as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.path().join(name);
        let mut f = std::fs::File::create(&p).expect("create");
        f.write_all(text.as_bytes()).expect("write");
        p
    }

    #[test]
    fn times_in_every_accepted_form() {
        let utc: Zone = "UTC".parse().expect("zone");
        let t = 1_226_439_000; // 2008-11-11T21:30:00Z
        assert_eq!(parse_time_text("2008-11-11T21:30:00Z", None), Ok(t));
        assert_eq!(parse_time_text("2008-11-11T13:30:00-08:00", None), Ok(t));
        assert_eq!(parse_time_text("1226439000", None), Ok(t));
        assert_eq!(parse_time_text("2008-11-11 21:30", Some(&utc)), Ok(t));
        let pst: Zone = "-08:00".parse().expect("zone");
        assert_eq!(parse_time_text("2008-11-11 13:30:00", Some(&pst)), Ok(t));
        let err = parse_time_text("2008-11-11 21:30", None).expect_err("naive needs a zone");
        assert!(err.contains("--tz"), "{err}");
        let err = parse_time_text("1226439000000", None).expect_err("milliseconds");
        assert!(err.contains("milliseconds"), "{err}");
        assert!(parse_time_text("2008-13-01", Some(&utc)).is_err());
    }

    #[test]
    fn zones_fixed_and_named_with_dst() {
        let la: Zone = "America/Los_Angeles".parse().expect("zone");
        // 2008-11-02 01:30 happens twice in Los Angeles (PDT, then PST).
        let local = NaiveDate::from_ymd_opt(2008, 11, 2)
            .and_then(|d| d.and_hms_opt(1, 30, 0))
            .expect("valid");
        let first = la.to_utc(local, None).expect("ambiguous resolves");
        assert_eq!(rfc3339(first), "2008-11-02T08:30:00Z");
        // After 01:59 PDT (08:59 UTC) the same local time is the PST one.
        let second = la
            .to_utc(local, Some(first + 29 * 60))
            .expect("ambiguous resolves");
        assert_eq!(rfc3339(second), "2008-11-02T09:30:00Z");
        // 2008-03-09 02:30 never happened in Los Angeles.
        let gap = NaiveDate::from_ymd_opt(2008, 3, 9)
            .and_then(|d| d.and_hms_opt(2, 30, 0))
            .expect("valid");
        assert!(
            la.to_utc(gap, None)
                .expect_err("skipped")
                .contains("jumped forward")
        );
        assert!("Mars/Olympus".parse::<Zone>().is_err());
        assert_eq!(
            "+0530".parse::<Zone>().map(|z| z.to_string()),
            Ok("+05:30".to_string())
        );
    }

    #[test]
    fn csv_bins_inferred_and_missing_rows_stay_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(
            &dir,
            "spam.csv",
            "# a comment\nTime,Messages\n2008-11-11T00:00:00Z,10\n2008-11-11T01:00:00Z,0\n2008-11-11T03:00:00Z,30\n2008-11-11T04:00:00Z,NA\n",
        );
        let t = load(&p, &LoadOptions::default()).expect("loads");
        assert_eq!(t.bin_secs, 3600);
        assert!(t.bin_inferred);
        let s = t.pick(None).expect("one series");
        assert_eq!(s.name, "spam");
        let base = 1_226_361_600;
        assert_eq!(s.points.get(&base), Some(&10.0));
        assert_eq!(
            s.points.get(&(base + 3600)),
            Some(&0.0),
            "a zero row is zero"
        );
        assert_eq!(
            s.points.get(&(base + 7200)),
            None,
            "a missing row is missing"
        );
        assert_eq!(s.points.get(&(base + 4 * 3600)), None, "NA is missing");
        assert_eq!(s.missing_bins(), 1);
    }

    #[test]
    fn csv_several_series_and_aggregation_drops_partial_bins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut text = String::from("ts,count,series\n");
        for m in (0..120).step_by(15) {
            if m == 75 {
                continue; // 01:15 missing
            }
            text.push_str(&format!("{},1,spam\n", 1_226_361_600 + m * 60));
            text.push_str(&format!("{},2,ham\n", 1_226_361_600 + m * 60));
        }
        let p = write(&dir, "mixed.csv", &text);
        let err = load(&p, &LoadOptions::default())
            .and_then(|t| t.pick(None))
            .expect_err("two series need --series");
        assert!(err.message.contains("ham, spam"), "{err}");
        let t = load(
            &p,
            &LoadOptions {
                bin_secs: Some(3600),
                ..LoadOptions::default()
            },
        )
        .expect("loads");
        let spam = t.pick(Some("spam")).expect("spam");
        assert_eq!(spam.points.get(&1_226_361_600), Some(&4.0));
        // 01:00-02:00 has 3 of its 4 rows: missing, not an undercount.
        assert_eq!(spam.points.len(), 1, "{:?}", spam.points);
        assert!(
            t.notes.iter().any(|n| n.contains("dropped as missing")),
            "{:?}",
            t.notes
        );
        let err = load(
            &p,
            &LoadOptions {
                bin_secs: Some(600),
                ..LoadOptions::default()
            },
        )
        .expect_err("finer");
        assert!(err.message.contains("finer"), "{err}");
    }

    #[test]
    fn csv_errors_name_line_and_column() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut text = String::from("ts,count\n");
        for h in 0..15 {
            text.push_str(&format!("2008-11-11T{h:02}:00:00Z,{h}\n"));
        }
        text.push_str("2008-13-01,5\n");
        let p = write(&dir, "spam.csv", &text);
        let err = load(&p, &LoadOptions::default()).expect_err("bad time");
        let msg = err.to_string();
        assert!(
            msg.contains("spam.csv line 17, column ts: \"2008-13-01\""),
            "{msg}"
        );
        let p = write(&dir, "b.csv", "when,count\n2008-11-11T00:00:00Z,1\n");
        let msg = load(&p, &LoadOptions::default())
            .expect_err("no ts")
            .to_string();
        assert!(
            msg.contains("line 1: no time column: expected one of ts, time, timestamp, hour"),
            "{msg}"
        );
        let p = write(&dir, "c.csv", "ts,count\n2008-11-11T00:00:00Z,lots\n");
        let msg = load(&p, &LoadOptions::default())
            .expect_err("bad count")
            .to_string();
        assert!(
            msg.contains("line 2, column count: \"lots\" is not a count"),
            "{msg}"
        );
        let p = write(&dir, "d.csv", "2008-11-11T00:00:00Z,1\n");
        let msg = load(&p, &LoadOptions::default())
            .expect_err("no header")
            .to_string();
        assert!(msg.contains("looks like data, not a header"), "{msg}");
        let p = write(
            &dir,
            "e.csv",
            "ts,count\n2008-11-11T00:00:00Z,1\n2008-11-11T00:00:00Z,2\n",
        );
        let msg = load(&p, &LoadOptions::default())
            .expect_err("duplicate")
            .to_string();
        assert!(
            msg.contains("line 3") && msg.contains("first is on line 2"),
            "{msg}"
        );
    }

    #[test]
    fn jsonl_messages_binned_in_utc_zero_inside_observed_bins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(
            &dir,
            "trap.jsonl",
            concat!(
                "{\"ts\":\"2008-11-11T21:10:00Z\",\"kind\":\"spam\",\"src_ip\":\"192.0.2.1\"}\n",
                "{\"ts\":\"2008-11-11T13:20:00-08:00\",\"kind\":\"spam\"}\n",
                "\n",
                "{\"ts\":1226442600,\"kind\":\"ham\"}\n",
                "{\"ts\":\"2008-11-12T02:00:00Z\",\"count\":0}\n",
            ),
        );
        let t = load(&p, &LoadOptions::default()).expect("loads");
        let spam = t.pick(Some("spam")).expect("spam");
        let h21 = 1_226_437_200;
        assert_eq!(spam.points.get(&h21), Some(&2.0));
        assert_eq!(
            spam.points.get(&(h21 + 3600)),
            Some(&0.0),
            "ham was seen at 22:00: spam 0"
        );
        assert_eq!(
            spam.points.get(&(h21 + 2 * 3600)),
            None,
            "nothing at 23:00: missing"
        );
        assert_eq!(
            spam.points.get(&(h21 + 5 * 3600)),
            Some(&0.0),
            "heartbeat at 02:00"
        );
        let p = write(
            &dir,
            "bad.jsonl",
            "{\"ts\":\"2008-11-11T21:10:00Z\"}\n{\"ts\":\"2008-11-11T21:10:00Z\",\"src_ip\":\"999.1.1.1\"}\n",
        );
        let msg = load(&p, &LoadOptions::default())
            .expect_err("bad ip")
            .to_string();
        assert!(
            msg.contains("bad.jsonl line 2, field src_ip: \"999.1.1.1\" is not an IP address"),
            "{msg}"
        );
        let p = write(&dir, "worse.jsonl", "{\"ts\":1}\nnot json\n");
        let msg = load(&p, &LoadOptions::default())
            .expect_err("not json")
            .to_string();
        assert!(
            msg.contains("worse.jsonl line 2, column 2: not JSON"),
            "{msg}"
        );
    }
}
