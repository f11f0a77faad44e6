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

/// The longest duration anyone can mean, 100 years: beyond it, sums of times overflow (a
/// wrapped `--min-duration` once acted as 0 s).
pub const MAX_DURATION_SECS: i64 = 100 * 366 * 86_400;

/// Seconds up to [`MAX_DURATION_SECS`], or why not.
pub fn check_duration(secs: i64) -> Result<i64, String> {
    match secs {
        s if s < 0 => Err(format!("{s}: a duration cannot be negative")),
        s if s > MAX_DURATION_SECS => Err(format!("{s} s: a duration is at most 100 years")),
        s => Ok(s),
    }
}

/// Seconds up to `max` (a limit of one setting, below [`MAX_DURATION_SECS`]), or why not,
/// stating the limit so the user knows what is allowed.
pub fn check_duration_at_most(secs: i64, max: i64) -> Result<i64, String> {
    let secs = check_duration(secs)?;
    if secs > max {
        return Err(format!(
            "{} is more than the limit of {}",
            duration_text(secs),
            duration_text(max)
        ));
    }
    Ok(secs)
}

/// A count within `min..=max` (resamples, lines, items), or why not, stating the bounds.
pub fn check_count(n: u64, min: u64, max: u64, unit: &str) -> Result<u64, String> {
    match n {
        n if n < min => Err(format!("{n} {unit}: at least {min} {unit}")),
        n if n > max => Err(format!("{n} {unit}: at most {max} {unit}")),
        n => Ok(n),
    }
}

/// A duration given as a flag: like [`parse_duration`], but a number needs its unit (is
/// `--min-duration 15` fifteen seconds or minutes?), except 0.
pub fn parse_duration_flag(s: &str) -> Result<i64, String> {
    match s.trim().parse::<i64>() {
        Ok(n) if n != 0 => Err(format!(
            "{s:?}: give a unit, like {n}m or {n}s (a number alone is ambiguous)"
        )),
        _ => parse_duration(s),
    }
}

/// `15m`, `90s`, `1h30m`, `2d`, `0s`, or plain seconds; at most 100 years.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return check_duration(n).map_err(|e| format!("{s:?}: {e}"));
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
        total = n
            .checked_mul(unit)
            .and_then(|part| total.checked_add(part))
            .filter(|t| *t <= MAX_DURATION_SECS)
            .ok_or_else(|| format!("{s:?}: a duration is at most 100 years"))?;
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

/// `4096`, `64KiB`, `64k`, `1MiB`, `1M`, `1GiB`: a number of bytes, units of 1024 (memory
/// and files are counted in powers of two).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" | "byte" | "bytes" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("{s:?}: use a size like 4096, 64KiB or 1MiB")),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| format!("{s:?}: use a size like 4096, 64KiB or 1MiB"))
}

/// `1MiB`, `64KiB`, or `1000 bytes`: a size as [`parse_size`] reads it.
pub fn size_text(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{}GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{}MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{}KiB", n >> 10),
        n => format!("{n} bytes"),
    }
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

/// An AS number flag: `26780`, `AS26780` or `as26780`, as every output writes it.
pub fn parse_asn_flag(s: &str) -> Result<u32, String> {
    parse_asn_strict(s).ok_or_else(|| format!("{s:?} is not an AS number (26780 or AS26780)"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_counts_within_limits() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("16M"), Ok(16 << 20));
        assert_eq!(parse_size("2 GiB"), Ok(2 << 30));
        assert!(parse_size("lots").is_err() && parse_size("5TB").is_err());
        assert!(parse_size("99999999999999GiB").is_err());
        assert_eq!(size_text(16 << 20), "16MiB");
        assert_eq!(size_text(1000), "1000 bytes");
        assert_eq!(parse_size(&size_text(1000)), Ok(1000));
        assert_eq!(parse_size(&size_text(3 << 30)), Ok(3 << 30));
    }

    #[test]
    fn durations_read_as_written_and_never_wrap() {
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("0s"), Ok(0));
        assert_eq!(parse_duration("90"), Ok(90));
        assert_eq!(parse_duration("36600d"), Ok(MAX_DURATION_SECS));
        // 106751991167301 days wrapped to a negative number of seconds and acted as 0 s.
        for huge in [
            "106751991167301d",
            "36601d",
            "9223372036854775807",
            "99999999999999999999s",
        ] {
            let e = parse_duration(huge).expect_err(huge);
            assert!(
                e.contains("at most 100 years") || e.contains("use a duration"),
                "{e}"
            );
        }
        assert!(parse_duration("-5").is_err());
        assert!(check_duration(MAX_DURATION_SECS + 1).is_err());
    }

    #[test]
    fn limits_are_stated_when_exceeded() {
        assert_eq!(
            check_duration_at_most(7 * 86_400, 90 * 86_400),
            Ok(7 * 86_400)
        );
        let e = check_duration_at_most(36_600 * 86_400, 90 * 86_400).expect_err("too long");
        assert_eq!(e, "36600d is more than the limit of 90d");
        assert!(check_duration_at_most(-1, 10).is_err());
        assert_eq!(check_count(2000, 100, 100_000, "resamples"), Ok(2000));
        let e = check_count(100_000_000, 100, 100_000, "resamples").expect_err("too many");
        assert_eq!(e, "100000000 resamples: at most 100000 resamples");
        let e = check_count(5, 100, 100_000, "resamples").expect_err("too few");
        assert_eq!(e, "5 resamples: at least 100 resamples");
    }

    #[test]
    fn sizes_read_and_print_back() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64KiB"), Ok(65_536));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size(" 2gib "), Ok(2 << 30));
        assert!(parse_size("1.5M").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
        assert_eq!(size_text(1 << 20), "1MiB");
        assert_eq!(size_text(65_536), "64KiB");
        assert_eq!(size_text(1000), "1000 bytes");
    }

    #[test]
    fn a_duration_flag_needs_its_unit() {
        let e = parse_duration_flag("15").expect_err("ambiguous");
        assert!(e.contains("15m or 15s"), "{e}");
        assert_eq!(parse_duration_flag("15m"), Ok(900));
        assert_eq!(parse_duration_flag("0"), Ok(0));
        assert_eq!(parse_duration_flag("0s"), Ok(0));
    }

    #[test]
    fn as_numbers_with_or_without_the_prefix() {
        assert_eq!(parse_asn_strict("AS26780"), Some(26780));
        assert_eq!(parse_asn_strict("as26780"), Some(26780));
        assert_eq!(parse_asn_strict(" 26780 "), Some(26780));
        assert_eq!(parse_asn_strict("ASAS1"), None);
        assert_eq!(parse_asn_strict("AS"), None);
        assert_eq!(parse_asn_strict("4294967296"), None);
    }
}
