//! Spam telemetry: CSV series, JSON Lines of single messages, and Postfix/Exim mail logs,
//! turned into plain [`Series`] of counts per time bin in UTC (DESIGN §6).
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

use crate::model::Origin;
use crate::parse::{self, Item, RouteKind};
use chrono::{DateTime, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone};
use ipnet::{Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
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
}

impl Default for LoadOptions<'_> {
    fn default() -> Self {
        LoadOptions {
            format: TelemetryFormat::Auto,
            bin_secs: None,
            tz: None,
            year: None,
            origins: None,
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
    crate::model::Timestamp::from_secs(secs).rfc3339()
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
        TelemetryFormat::Auto => detect_format(path, &file)?,
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
    let reader = open(path, &file)?;
    match format {
        TelemetryFormat::Csv => load_csv(reader, &file, opts),
        TelemetryFormat::Jsonl => load_jsonl(reader, &file, opts),
        TelemetryFormat::Postfix | TelemetryFormat::Exim => {
            load_maillog(reader, &file, format, opts)
        }
        TelemetryFormat::Auto => Err(error(&file, None, None, "unknown format".into())),
    }
}

fn open(path: &Path, file: &str) -> Result<Box<dyn Read + Send>, TelemetryError> {
    parse::decode::open(path).map_err(|e| error(file, None, None, format!("cannot open: {e}")))
}

fn detect_format(path: &Path, file: &str) -> Result<TelemetryFormat, TelemetryError> {
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
    let reader = BufReader::new(open(path, file)?);
    for line in reader.lines().take(50) {
        let line = line.map_err(|e| error(file, None, None, format!("cannot read: {e}")))?;
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
        if parse_exim_time(t).is_some() {
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

struct Row {
    series: String,
    ts: i64,
    count: f64,
    line: u64,
}

fn load_csv(
    reader: Box<dyn Read + Send>,
    file: &str,
    opts: &LoadOptions,
) -> Result<Telemetry, TelemetryError> {
    let mut rdr = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(reader);
    let header_rec = rdr.headers().map_err(|e| csv_error(file, &e))?.clone();
    let header_line = header_rec.position().map(|p| p.line()).unwrap_or(1);
    let headers: Vec<String> = header_rec.iter().map(str::to_string).collect();
    if headers.iter().all(|h| h.is_empty()) {
        return Err(error(
            file,
            None,
            None,
            "is empty: expected a header like ts,count".into(),
        ));
    }
    if let Some(first) = headers.first()
        && parse_time_text(first, Some(&Zone::Fixed(utc_offset()))).is_ok()
    {
        return Err(error(
            file,
            Some(header_line),
            None,
            format!(
                "{first:?} looks like data, not a header: the first line must name the columns, e.g. ts,count[,series]"
            ),
        ));
    }
    let found = headers.join(", ");
    let time_col =
        find_column(&headers, TIME_COLUMNS, "time", file, header_line)?.ok_or_else(|| {
            error(
                file,
                Some(header_line),
                None,
                format!(
                    "no time column: expected one of {} (found: {found})",
                    TIME_COLUMNS.join(", ")
                ),
            )
        })?;
    let count_col =
        find_column(&headers, COUNT_COLUMNS, "count", file, header_line)?.ok_or_else(|| {
            error(
                file,
                Some(header_line),
                None,
                format!(
                    "no count column: expected one of {} (found: {found})",
                    COUNT_COLUMNS.join(", ")
                ),
            )
        })?;
    let series_col = find_column(&headers, SERIES_COLUMNS, "series", file, header_line)?;
    let default_name = Path::new(file)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| file.to_string());
    let default_name = default_name
        .trim_end_matches(".gz")
        .trim_end_matches(".bz2")
        .trim_end_matches(".csv")
        .to_string();

    let mut rows: Vec<Row> = Vec::new();
    let mut na_cells = 0u64;
    for rec in rdr.records() {
        let rec = rec.map_err(|e| csv_error(file, &e))?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let col_err = |col: usize, message: String| {
            error(
                file,
                Some(line),
                Some(format!("column {}", headers[col])),
                message,
            )
        };
        let ts_text = rec.get(time_col).unwrap_or("");
        let ts = parse_time_text(ts_text, opts.tz.as_ref()).map_err(|m| col_err(time_col, m))?;
        let count_text = rec.get(count_col).unwrap_or("");
        let count = match count_text.to_ascii_lowercase().as_str() {
            "" | "na" | "n/a" | "nan" | "null" | "none" | "-" => {
                na_cells += 1;
                continue;
            }
            c => c.parse::<f64>().ok().filter(|v| v.is_finite()),
        };
        let count = count.ok_or_else(|| {
            col_err(
                count_col,
                format!(
                    "{count_text:?} is not a count (a number ≥ 0; leave it empty or NA if missing)"
                ),
            )
        })?;
        if count < 0.0 {
            return Err(col_err(
                count_col,
                format!("{count_text:?} is negative: counts are ≥ 0"),
            ));
        }
        let series = match series_col {
            Some(c) => {
                let s = rec.get(c).unwrap_or("");
                if s.is_empty() {
                    return Err(col_err(c, "empty series name".into()));
                }
                s.to_string()
            }
            None => default_name.clone(),
        };
        rows.push(Row {
            series,
            ts,
            count,
            line,
        });
    }
    let mut tel = Telemetry {
        file: file.to_string(),
        format: TelemetryFormat::Csv,
        bin_secs: 0,
        bin_inferred: opts.bin_secs.is_none(),
        counts: BTreeMap::new(),
        covered: None,
        records: rows.len() as u64,
        other_lines: 0,
        notes: Vec::new(),
        attribution: None,
    };
    if na_cells > 0 {
        tel.notes.push(format!(
            "{na_cells} row(s) with an empty or NA count read as missing bins"
        ));
    }
    if rows.is_empty() {
        tel.bin_secs = opts.bin_secs.unwrap_or(3600);
        return Ok(tel);
    }
    // Duplicate times within a series, and the spacing of the rows (the most common gap).
    let mut by_series: BTreeMap<&str, BTreeMap<i64, u64>> = BTreeMap::new();
    for r in &rows {
        if let Some(first) = by_series.entry(&r.series).or_default().insert(r.ts, r.line) {
            return Err(error(
                file,
                Some(r.line),
                None,
                format!(
                    "a second row for {} at {} (the first is on line {first})",
                    r.series,
                    rfc3339(r.ts)
                ),
            ));
        }
    }
    let mut gaps: BTreeMap<i64, usize> = BTreeMap::new();
    for times in by_series.values() {
        let ts: Vec<i64> = times.keys().copied().collect();
        for w in ts.windows(2) {
            *gaps.entry(w[1] - w[0]).or_default() += 1;
        }
    }
    // Most common gap; ties go to the smallest (BTreeMap order, max_by keeps the last max, so
    // iterate in reverse).
    let native = gaps.iter().rev().max_by_key(|(_, n)| **n).map(|(g, _)| *g);
    let bin = match (opts.bin_secs, native) {
        (Some(b), Some(n)) => {
            if b < n {
                return Err(error(
                    file,
                    None,
                    None,
                    format!(
                        "--bin {} is finer than the data: its rows come every {}",
                        duration(b),
                        duration(n)
                    ),
                ));
            }
            if b % n != 0 {
                return Err(error(
                    file,
                    None,
                    None,
                    format!(
                        "--bin {} is not a multiple of the rows' spacing ({})",
                        duration(b),
                        duration(n)
                    ),
                ));
            }
            b
        }
        (Some(b), None) => b,
        (None, Some(n)) => n,
        (None, None) => {
            return Err(error(
                file,
                None,
                None,
                "one row per series: the bin width cannot be inferred; give --bin (e.g. --bin 1h)"
                    .into(),
            ));
        }
    };
    let native = native.unwrap_or(bin);
    let phase = rows
        .iter()
        .map(|r| r.ts)
        .min()
        .unwrap_or(0)
        .rem_euclid(native);
    let per_bin = (bin / native) as usize;
    let mut acc: BTreeMap<String, BTreeMap<i64, (f64, usize)>> = BTreeMap::new();
    for r in &rows {
        let start = phase + (r.ts - phase).div_euclid(bin) * bin;
        let e = acc
            .entry(r.series.clone())
            .or_default()
            .entry(start)
            .or_default();
        e.0 += r.count;
        e.1 += 1;
    }
    let mut incomplete = 0usize;
    for (name, bins) in acc {
        let mut points = BTreeMap::new();
        for (start, (sum, n)) in bins {
            if n >= per_bin {
                points.insert(start, sum);
            } else {
                incomplete += 1;
            }
        }
        tel.counts.insert(name, points);
    }
    if incomplete > 0 {
        tel.notes.push(format!(
            "{incomplete} bin(s) of {} dropped as missing: fewer than {per_bin} rows of {} in them",
            duration(bin),
            duration(native)
        ));
    }
    tel.bin_secs = bin;
    Ok(tel)
}

fn csv_error(file: &str, e: &csv::Error) -> TelemetryError {
    let line = e.position().map(|p| p.line());
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("expected {expected_len} fields like the header, found {len}")
        }
        csv::ErrorKind::Utf8 { .. } => "not UTF-8 text".to_string(),
        _ => e.to_string(),
    };
    error(file, line, None, message)
}

/// `1h`, `15m`, `1d`, `90s`.
pub fn duration(secs: i64) -> String {
    match secs {
        s if s > 0 && s % 86400 == 0 => format!("{}d", s / 86400),
        s if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Bins of per-message input: what was observed, counts per kind, and per origin AS.
struct MessageBins<'a> {
    bin: i64,
    covered: BTreeSet<i64>,
    counts: HashMap<String, BTreeMap<i64, f64>>,
    by_origin: HashMap<(String, Option<u32>), BTreeMap<i64, f64>>,
    origins: Option<&'a OriginMap>,
    stats: AttributionStats,
    records: u64,
}

impl<'a> MessageBins<'a> {
    fn new(bin: i64, origins: Option<&'a OriginMap>) -> Self {
        MessageBins {
            bin,
            covered: BTreeSet::new(),
            counts: HashMap::new(),
            by_origin: HashMap::new(),
            origins,
            stats: AttributionStats::default(),
            records: 0,
        }
    }

    fn observe(&mut self, ts: i64) -> i64 {
        let b = ts.div_euclid(self.bin) * self.bin;
        self.covered.insert(b);
        b
    }

    fn add(&mut self, ts: i64, kind: &str, ip: Option<IpAddr>, n: f64) {
        let b = self.observe(ts);
        self.records += 1;
        if n == 0.0 {
            return;
        }
        *self
            .counts
            .entry(kind.to_string())
            .or_default()
            .entry(b)
            .or_default() += n;
        if let Some(map) = self.origins {
            let Some(ip) = ip else {
                self.stats.messages_without_ip += n;
                return;
            };
            let origin = map.lookup(ip);
            if origin.is_some() {
                self.stats.messages_attributed += n;
            } else {
                self.stats.messages_unrouted += n;
            }
            *self
                .by_origin
                .entry((kind.to_string(), origin))
                .or_default()
                .entry(b)
                .or_default() += n;
        }
    }

    fn finish(self, file: &str, format: TelemetryFormat, other_lines: u64) -> Telemetry {
        let mut counts: BTreeMap<String, BTreeMap<i64, f64>> = self.counts.into_iter().collect();
        for ((kind, origin), bins) in self.by_origin {
            let name = match origin {
                Some(a) => format!("{kind}@AS{a}"),
                None => format!("{kind}@unrouted"),
            };
            counts.insert(name, bins);
        }
        let attribution = self.origins.map(|m| AttributionStats {
            rib: m.source.clone(),
            rib_time: m.rib_time.map(rfc3339),
            prefixes: m.prefixes,
            origin_ases: m.origin_ases,
            multi_origin_prefixes: m.multi_origin_prefixes,
            ..self.stats
        });
        Telemetry {
            file: file.to_string(),
            format,
            bin_secs: self.bin,
            bin_inferred: false,
            counts,
            covered: Some(self.covered),
            records: self.records,
            other_lines,
            notes: Vec::new(),
            attribution,
        }
    }
}

fn read_lines(
    reader: Box<dyn Read + Send>,
    file: &str,
    mut each: impl FnMut(u64, &str) -> Result<(), TelemetryError>,
) -> Result<(), TelemetryError> {
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| error(file, Some(line_no + 1), None, format!("cannot read: {e}")))?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        let text = std::str::from_utf8(&buf).map_err(|e| {
            error(
                file,
                Some(line_no),
                Some(format!("column {}", e.valid_up_to() + 1)),
                "not UTF-8 text".into(),
            )
        })?;
        each(line_no, text.trim_end_matches(['\n', '\r']))?;
    }
}

fn load_jsonl(
    reader: Box<dyn Read + Send>,
    file: &str,
    opts: &LoadOptions,
) -> Result<Telemetry, TelemetryError> {
    let mut bins = MessageBins::new(opts.bin_secs.unwrap_or(3600), opts.origins);
    read_lines(reader, file, |line, text| {
        if text.trim().is_empty() {
            return Ok(());
        }
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            error(
                file,
                Some(line),
                Some(format!("column {}", e.column())),
                format!("not JSON: {e}"),
            )
        })?;
        let obj = v.as_object().ok_or_else(|| {
            error(file, Some(line), None, "expected a JSON object like {\"ts\":\"2008-11-11T21:30:00Z\",\"src_ip\":\"192.0.2.1\",\"kind\":\"spam\"}".into())
        })?;
        let field_err = |name: &str, message: String| {
            error(file, Some(line), Some(format!("field {name}")), message)
        };
        let (tname, tv) = TIME_FIELDS
            .iter()
            .find_map(|n| obj.get(*n).map(|v| (*n, v)))
            .ok_or_else(|| {
                error(
                    file,
                    Some(line),
                    None,
                    format!("no time field: expected one of {}", TIME_FIELDS.join(", ")),
                )
            })?;
        let ts = match tv {
            serde_json::Value::Number(n) => {
                let v = n.as_f64().unwrap_or(f64::NAN);
                epoch_secs(v).map_err(|m| field_err(tname, format!("{n} {m}")))?
            }
            serde_json::Value::String(s) => {
                parse_time_text(s, opts.tz.as_ref()).map_err(|m| field_err(tname, m))?
            }
            other => {
                return Err(field_err(
                    tname,
                    format!("{other} is not a time: expected a string or epoch seconds"),
                ));
            }
        };
        let kind = match obj.get("kind") {
            None | Some(serde_json::Value::Null) => "messages".to_string(),
            Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
            Some(other) => {
                return Err(field_err(
                    "kind",
                    format!("{other} is not a name: expected a non-empty string"),
                ));
            }
        };
        let ip = match IP_FIELDS.iter().find_map(|n| obj.get(*n).map(|v| (*n, v))) {
            None | Some((_, serde_json::Value::Null)) => None,
            Some((n, serde_json::Value::String(s))) => Some(
                s.trim()
                    .parse::<IpAddr>()
                    .map_err(|_| field_err(n, format!("{s:?} is not an IP address")))?,
            ),
            Some((n, other)) => return Err(field_err(n, format!("{other} is not an IP address"))),
        };
        let count = match obj.get("count") {
            None | Some(serde_json::Value::Null) => 1.0,
            Some(c) => match c.as_f64() {
                Some(v) if v.is_finite() && v >= 0.0 => v,
                _ => {
                    return Err(field_err(
                        "count",
                        format!("{c} is not a count (a number ≥ 0)"),
                    ));
                }
            },
        };
        bins.add(ts, &kind, ip, count);
        Ok(())
    })?;
    Ok(bins.finish(file, TelemetryFormat::Jsonl, 0))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Nov 11 13:30:01` at the start of a syslog line: (month 1-12, day, h, m, s, rest).
fn parse_syslog_time(line: &str) -> Option<(u32, u32, u32, u32, u32, &str)> {
    let mon = MONTHS.iter().position(|m| line.get(..3) == Some(*m))? as u32 + 1;
    let rest = line.get(3..)?.trim_start();
    let (day, rest) = rest.split_once(' ')?;
    let day: u32 = day.parse().ok()?;
    let (clock, rest) = rest.split_once(' ')?;
    let mut it = clock.split(':').map(|p| p.parse::<u32>().ok());
    let (h, m, s) = (it.next()??, it.next()??, it.next()??);
    Some((mon, day, h, m, s, rest))
}

/// `2008-11-11 13:30:01[.123] [-0800]` at the start of an Exim log line.
fn parse_exim_time(line: &str) -> Option<(NaiveDateTime, Option<FixedOffset>, &str)> {
    let stamp = line.get(..19)?;
    let local = NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S").ok()?;
    let mut rest = line.get(19..)?;
    if let Some(r) = rest.strip_prefix('.') {
        rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let rest = rest.trim_start();
    let mut offset = None;
    let mut after = rest;
    if let Some(tok) = rest.split(' ').next()
        && tok.len() == 5
        && (tok.starts_with('+') || tok.starts_with('-'))
        && let Ok(Zone::Fixed(o)) = tok.parse::<Zone>()
    {
        offset = Some(o);
        after = rest[5..].trim_start();
    }
    Some((local, offset, after))
}

/// The first `[…]` holding an IP address (`[192.0.2.1]`, `[IPv6:2001:db8::1]`).
fn bracketed_ip(s: &str) -> Option<IpAddr> {
    let mut rest = s;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let close = after.find(']')?;
        let inner = after[..close].trim_start_matches("IPv6:");
        if let Ok(ip) = inner.parse() {
            return Some(ip);
        }
        rest = &after[close + 1..];
    }
    None
}

/// Connection, arrival or rejection in a Postfix line (after its time and host).
fn classify_postfix(msg: &str) -> Option<(&'static str, Option<IpAddr>)> {
    if !(msg.contains("postfix/") || msg.contains("postfix[") || msg.contains("postfix-")) {
        return None;
    }
    if let Some(i) = msg.find("NOQUEUE: reject: ") {
        let tail = &msg[i..];
        let ip = tail.find(" from ").and_then(|j| bracketed_ip(&tail[j..]));
        return Some(("reject", ip));
    }
    if msg.contains("/smtpd[") || msg.contains("/smtpd:") {
        if let Some(i) = msg
            .find("]: connect from ")
            .or_else(|| msg.find(": connect from "))
        {
            return Some(("connect", bracketed_ip(&msg[i + 2..])));
        }
        if let Some(i) = msg.find(": client=") {
            return Some(("accept", bracketed_ip(&msg[i..])));
        }
    }
    if msg.contains("/postscreen[")
        && let Some(i) = msg.find(": CONNECT from ")
    {
        return Some(("connect", bracketed_ip(&msg[i..])));
    }
    None
}

/// Arrival (`<=`), rejection or SMTP connection in an Exim line (after its time).
fn classify_exim(msg: &str) -> Option<(&'static str, Option<IpAddr>)> {
    let host_ip = || {
        msg.find("H=")
            .and_then(|i| bracketed_ip(&msg[i..]))
            .or_else(|| bracketed_ip(msg))
    };
    let body = msg
        .strip_prefix('[')
        .and_then(|r| r.split_once("] "))
        .map(|(_, r)| r)
        .unwrap_or(msg);
    if body.split(' ').nth(1) == Some("<=") {
        return Some(("accept", host_ip()));
    }
    if body.starts_with("SMTP connection from ") {
        return Some(("connect", bracketed_ip(body)));
    }
    if body.contains(" rejected ") || body.starts_with("rejected ") {
        return Some(("reject", host_ip()));
    }
    None
}

fn load_maillog(
    reader: Box<dyn Read + Send>,
    file: &str,
    format: TelemetryFormat,
    opts: &LoadOptions,
) -> Result<Telemetry, TelemetryError> {
    // `load` checked that a zone is given; the fallback keeps this function total.
    let tz = opts.tz.unwrap_or(Zone::Fixed(utc_offset()));
    let mut bins = MessageBins::new(opts.bin_secs.unwrap_or(3600), opts.origins);
    let mut other = 0u64;
    let mut prev: Option<i64> = None;
    let mut year = opts.year;
    let mut last_month: Option<u32> = None;
    read_lines(reader, file, |line, text| {
        if text.trim().is_empty() {
            return Ok(());
        }
        let at = |message: String| error(file, Some(line), Some("column 1".into()), message);
        let (ts, msg) = match format {
            TelemetryFormat::Exim => {
                let (local, offset, rest) = parse_exim_time(text).ok_or_else(|| {
                    at(format!(
                        "{:?} is not an Exim log time (expected like 2008-11-11 13:30:01)",
                        text.chars().take(19).collect::<String>()
                    ))
                })?;
                let ts = match offset {
                    Some(o) => o
                        .from_local_datetime(&local)
                        .single()
                        .map(|d| d.timestamp())
                        .ok_or_else(|| at(format!("{local} {o} is not a time")))?,
                    None => tz.to_utc(local, prev).map_err(at)?,
                };
                (ts, rest)
            }
            _ => {
                let first = text.split(' ').next().unwrap_or("");
                if let Ok(d) = DateTime::parse_from_rfc3339(first) {
                    (d.timestamp(), text[first.len()..].trim_start())
                } else {
                    let (mon, day, h, m, s, rest) = parse_syslog_time(text).ok_or_else(|| {
                        at(format!(
                            "{:?} is not a syslog time (expected like \"Nov 11 13:30:01\" or RFC 3339)",
                            text.chars().take(15).collect::<String>()
                        ))
                    })?;
                    let y = year.ok_or_else(|| {
                        at("syslog lines carry no year: give the year of the first line with --year".into())
                    })?;
                    // A log running over New Year: December, then January of the next year.
                    let y = match last_month {
                        Some(lm) if mon < lm => {
                            year = Some(y + 1);
                            y + 1
                        }
                        _ => y,
                    };
                    last_month = Some(mon);
                    let local = NaiveDate::from_ymd_opt(y, mon, day)
                        .and_then(|d| d.and_hms_opt(h, m, s))
                        .ok_or_else(|| {
                            at(format!(
                                "{} is not a date in {y}",
                                text.chars().take(15).collect::<String>()
                            ))
                        })?;
                    (tz.to_utc(local, prev).map_err(at)?, rest)
                }
            }
        };
        prev = Some(prev.map_or(ts, |p| p.max(ts)));
        let hit = match format {
            TelemetryFormat::Exim => classify_exim(msg),
            _ => classify_postfix(msg),
        };
        match hit {
            Some((kind, ip)) => bins.add(ts, kind, ip, 1.0),
            None => {
                bins.observe(ts);
                other += 1;
            }
        }
        Ok(())
    })?;
    Ok(bins.finish(file, format, other))
}

/// Prefix → origin AS from a RIB dump, for longest-prefix attribution of source IPs.
pub struct OriginMap {
    v4: PrefixMap<Ipv4Net, u32>,
    v6: PrefixMap<Ipv6Net, u32>,
    pub source: String,
    /// Time of the RIB (its earliest entry).
    pub rib_time: Option<i64>,
    pub prefixes: usize,
    pub origin_ases: usize,
    pub multi_origin_prefixes: usize,
    pub rib_entries: u64,
}

impl fmt::Debug for OriginMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OriginMap")
            .field("source", &self.source)
            .field("prefixes", &self.prefixes)
            .finish()
    }
}

/// Peers' votes for the origin of one prefix: (origin, peers), few per prefix.
type Votes = Vec<(u32, u32)>;

fn vote(votes: &mut Votes, origin: u32) {
    match votes.iter_mut().find(|(o, _)| *o == origin) {
        Some(v) => v.1 += 1,
        None => votes.push((origin, 1)),
    }
}

/// The origin most peers saw (ties: the lowest ASN), and whether there was more than one.
fn winner(votes: &Votes) -> Option<(u32, bool)> {
    votes
        .iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(o, _)| (*o, votes.len() > 1))
}

impl OriginMap {
    /// Read a RIB (TABLE_DUMP v1/v2, raw/gz/bz2) with the crate's own reader, keeping only
    /// prefix → origin votes (never the entries). Routes whose path ends in an AS_SET are
    /// skipped. A file that cannot be read to the end is an error: the map would be partial.
    pub fn from_rib(path: &Path) -> Result<OriginMap, TelemetryError> {
        let source = path.display().to_string();
        let mut v4: PrefixMap<Ipv4Net, Votes> = PrefixMap::new();
        let mut v6: PrefixMap<Ipv6Net, Votes> = PrefixMap::new();
        let mut entries = 0u64;
        let mut rib_time: Option<i64> = None;
        let stats = parse::read_file(path, &mut |item| {
            let Item::Route(r) = item else { return };
            if r.kind != RouteKind::Rib {
                return;
            }
            entries += 1;
            rib_time = Some(rib_time.map_or(r.time.secs, |t| t.min(r.time.secs)));
            let Some(attrs) = &r.attrs else { return };
            let Origin::As(origin) = attrs.path.origin() else {
                return;
            };
            match r.prefix {
                crate::model::Prefix::V4(p) => vote(v4.entry(p.trunc()).or_default(), origin),
                crate::model::Prefix::V6(p) => vote(v6.entry(p.trunc()).or_default(), origin),
            }
        });
        if let Some(p) = &stats.problem {
            return Err(error(
                &source,
                None,
                None,
                format!("{p}; the prefix→origin map would be incomplete, so no attribution"),
            ));
        }
        if entries == 0 {
            return Err(error(
                &source,
                None,
                None,
                "holds no RIB entries: --attribute-with needs a RIB dump (TABLE_DUMP or TABLE_DUMP_V2)".into(),
            ));
        }
        let mut map = OriginMap {
            v4: PrefixMap::new(),
            v6: PrefixMap::new(),
            source,
            rib_time,
            prefixes: 0,
            origin_ases: 0,
            multi_origin_prefixes: 0,
            rib_entries: entries,
        };
        let mut ases = BTreeSet::new();
        for (p, votes) in v4.iter() {
            if let Some((o, multi)) = winner(votes) {
                map.v4.insert(p, o);
                ases.insert(o);
                map.multi_origin_prefixes += usize::from(multi);
            }
        }
        for (p, votes) in v6.iter() {
            if let Some((o, multi)) = winner(votes) {
                map.v6.insert(p, o);
                ases.insert(o);
                map.multi_origin_prefixes += usize::from(multi);
            }
        }
        map.prefixes = map.v4.len() + map.v6.len();
        map.origin_ases = ases.len();
        Ok(map)
    }

    /// Origin AS of the longest prefix covering `ip`.
    pub fn lookup(&self, ip: IpAddr) -> Option<u32> {
        match ip {
            IpAddr::V4(a) => Ipv4Net::new(a, 32)
                .ok()
                .and_then(|n| self.v4.get_lpm(&n))
                .map(|(_, o)| *o),
            IpAddr::V6(a) => Ipv6Net::new(a, 128)
                .ok()
                .and_then(|n| self.v6.get_lpm(&n))
                .map(|(_, o)| *o),
        }
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

    #[test]
    fn postfix_and_exim_lines() {
        let pf = "Nov 11 13:30:01 mx1 postfix/smtpd[123]: connect from unknown[208.66.194.10]";
        assert_eq!(
            classify_postfix(pf.split_at(16).1),
            Some(("connect", "208.66.194.10".parse().ok()))
        );
        let rej = "mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from x.example[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked";
        assert_eq!(
            classify_postfix(rej),
            Some(("reject", "192.0.2.7".parse().ok()))
        );
        let acc = "mx postfix/smtpd[1]: 4A1B2C3D: client=mail.example[2001:db8::5]";
        assert_eq!(
            classify_postfix(acc),
            Some(("accept", "2001:db8::5".parse().ok()))
        );
        assert_eq!(classify_postfix("mx postfix/qmgr[2]: 4A1B: removed"), None);
        let (local, off, rest) = parse_exim_time(
            "2008-11-11 13:30:01 -0800 1KzxyZ-0001Ab-Cd <= a@b.example H=mx.b.example [192.0.2.9]:4312 P=esmtp S=1234",
        )
        .expect("exim time");
        assert_eq!(local.to_string(), "2008-11-11 13:30:01");
        assert_eq!(off.map(|o| o.local_minus_utc()), Some(-8 * 3600));
        assert_eq!(
            classify_exim(rest),
            Some(("accept", "192.0.2.9".parse().ok()))
        );
        assert_eq!(
            classify_exim("H=(helo) [192.0.2.3] F=<a@b> rejected RCPT <c@d>: blocked"),
            Some(("reject", "192.0.2.3".parse().ok()))
        );
        assert_eq!(
            classify_exim("SMTP connection from [192.0.2.4]:1234 (TCP/IP connection count = 1)"),
            Some(("connect", "192.0.2.4".parse().ok()))
        );
    }
}
