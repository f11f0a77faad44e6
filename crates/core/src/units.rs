//! How people write times, durations, shares and AS numbers, on the command line and in the
//! monitor's configuration, and how we print them back. The lowest module: it imports only
//! [`crate::model::Timestamp`], so every layer above may use it.

use crate::model::Timestamp;
use std::time::Duration;

/// RFC 3339, `YYYY-MM-DD` (midnight UTC), `YYYY-MM-DDTHH:MM` (UTC) or epoch seconds.
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    if let Ok(secs) = s.parse::<i64>() {
        return Ok(Timestamp::from_secs(secs));
    }
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(Timestamp {
            secs: dt.timestamp(),
            micros: dt.timestamp_subsec_micros(),
        });
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(Timestamp::from_secs(dt.and_utc().timestamp()));
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(Timestamp::from_secs(
            d.and_hms_opt(0, 0, 0)
                .map(|dt| dt.and_utc().timestamp())
                .unwrap_or(0),
        ));
    }
    Err(format!(
        "{s:?} is not a time: use RFC 3339 (2008-11-11T21:30:00Z), a date (2008-11-11), or epoch seconds"
    ))
}

/// `15m`, `90s`, `1h30m`, `2d`, `0s`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return if n >= 0 {
            Ok(n)
        } else {
            Err(format!("{s:?}: a duration cannot be negative"))
        };
    }
    let mut total: i64 = 0;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return Err(format!("{s:?}: use a duration like 15m, 90s, 1h30m or 0s")),
        };
        let n: i64 = num
            .parse()
            .map_err(|_| format!("{s:?}: use a duration like 15m, 90s, 1h30m or 0s"))?;
        total += n * unit;
        num.clear();
    }
    if !num.is_empty() || s.is_empty() {
        return Err(format!(
            "{s:?}: use a duration like 15m, 90s, 1h30m or 0s (with a unit)"
        ));
    }
    Ok(total)
}

/// `500ms`, or a duration as [`parse_duration`] reads it (`90s`, `1m`).
pub fn parse_wait(s: &str) -> Result<Duration, String> {
    if let Some(ms) = s.trim().strip_suffix("ms") {
        return ms
            .trim()
            .parse()
            .map(Duration::from_millis)
            .map_err(|_| format!("{s:?}: use a duration like 500ms, 30s or 2m"));
    }
    parse_duration(s).map(|secs| Duration::from_secs(secs.unsigned_abs()))
}

/// `10%` or `0.1`.
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let v = match s.trim().strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => s.trim().parse::<f64>(),
    }
    .map_err(|_| format!("{s:?}: expected a share like 10% or 0.1"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s:?}: must be between 0% and 100%"))
    }
}

/// `26780`, `AS26780` or `as26780` (watchlists and `--exclude-peer`; lenient: any run of
/// leading `AS`/`as` is dropped).
pub fn parse_asn(s: &str) -> Option<u32> {
    s.trim_start_matches("AS")
        .trim_start_matches("as")
        .parse()
        .ok()
}

/// `26780`, `AS26780` or `as26780`, surrounding spaces allowed, one prefix at most (the
/// monitor's configuration).
pub fn parse_asn_strict(s: &str) -> Option<u32> {
    let s = s.trim();
    let digits = s
        .strip_prefix("AS")
        .or_else(|| s.strip_prefix("as"))
        .unwrap_or(s);
    digits.parse().ok()
}

/// `15m` rather than `900s`, so a printed configuration reads like the one written; days
/// where whole (`1d`).
pub fn duration_text(secs: i64) -> String {
    match secs {
        0 => "0s".into(),
        s if s % 86400 == 0 => format!("{}d", s / 86400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Like [`duration_text`] but never in days (`24h`): the run summary's thresholds, whose
/// text is part of the JSON schema.
pub fn duration_text_hours(secs: i64) -> String {
    match secs {
        0 => "0s".into(),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
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

/// Epoch seconds of an RFC 3339 time, if it is one.
pub fn rfc3339_secs(rfc: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(rfc)
        .ok()
        .map(|d| d.timestamp())
}
