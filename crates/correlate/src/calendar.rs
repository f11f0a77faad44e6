//! Days that move mail volumes for reasons other than routing: a small built-in list of
//! holidays and the clock changes of the US and the EU (hour-of-week matching in UTC is off by
//! an hour for local-time rhythms across them).

use chrono::{Datelike, NaiveDate, Weekday};

/// A calendar day (local dates, compared as whole UTC days) or a clock change (UTC instant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// Start, UTC epoch seconds.
    pub start: i64,
    /// End (exclusive), UTC epoch seconds.
    pub end: i64,
    pub name: String,
    /// `holiday` or `clock_change`.
    pub kind: &'static str,
}

fn nth_weekday(year: i32, month: u32, wd: Weekday, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, wd, n)
}

fn last_weekday(year: i32, month: u32, wd: Weekday) -> Option<NaiveDate> {
    nth_weekday(year, month, wd, 5).or_else(|| nth_weekday(year, month, wd, 4))
}

/// Western Easter Sunday (anonymous Gregorian algorithm, Meeus/Jones/Butcher).
pub fn easter(year: i32) -> Option<NaiveDate> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32)
}

fn day_secs(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp())
        .unwrap_or(0)
}

fn holidays(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let mut out = Vec::new();
    let mut add = |d: Option<NaiveDate>, name: &'static str| {
        if let Some(d) = d {
            out.push((d, name));
        }
    };
    let ymd = |m, d| NaiveDate::from_ymd_opt(year, m, d);
    add(ymd(1, 1), "New Year's Day");
    add(ymd(12, 31), "New Year's Eve");
    add(ymd(12, 24), "Christmas Eve");
    add(ymd(12, 25), "Christmas Day");
    add(ymd(12, 26), "Boxing Day / St Stephen's Day");
    add(ymd(7, 4), "US Independence Day");
    add(last_weekday(year, 5, Weekday::Mon), "US Memorial Day");
    add(nth_weekday(year, 9, Weekday::Mon, 1), "US Labor Day");
    let thanksgiving = nth_weekday(year, 11, Weekday::Thu, 4);
    add(thanksgiving, "US Thanksgiving");
    add(
        thanksgiving.and_then(|d| d.succ_opt()),
        "Black Friday (day after US Thanksgiving)",
    );
    if let Some(e) = easter(year) {
        add(e.pred_opt().and_then(|d| d.pred_opt()), "Good Friday");
        add(Some(e), "Easter Sunday");
        add(e.succ_opt(), "Easter Monday");
    }
    out
}

/// US and EU clock changes of a year, as UTC instants.
fn clock_changes(year: i32) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    // EU (since 1996): last Sunday of March and of October, 01:00 UTC.
    if let (Some(spring), Some(autumn)) = (
        last_weekday(year, 3, Weekday::Sun),
        last_weekday(year, 10, Weekday::Sun),
    ) {
        out.push((
            day_secs(spring) + 3600,
            format!("EU summer time begins {spring} (clocks forward)"),
        ));
        out.push((
            day_secs(autumn) + 3600,
            format!("EU summer time ends {autumn} (clocks back)"),
        ));
    }
    // US: since 2007 second Sunday of March to first Sunday of November; 1987-2006 first
    // Sunday of April to last Sunday of October; 02:00 local (10:00 UTC in Pacific time,
    // 07:00 UTC in Eastern time: the Eastern instant is given).
    let (spring, autumn) = if year >= 2007 {
        (
            nth_weekday(year, 3, Weekday::Sun, 2),
            nth_weekday(year, 11, Weekday::Sun, 1),
        )
    } else {
        (
            nth_weekday(year, 4, Weekday::Sun, 1),
            last_weekday(year, 10, Weekday::Sun),
        )
    };
    if let Some(d) = spring {
        out.push((
            day_secs(d) + 7 * 3600,
            format!("US daylight saving time begins {d} (clocks forward)"),
        ));
    }
    if let Some(d) = autumn {
        out.push((
            day_secs(d) + 6 * 3600,
            format!("US daylight saving time ends {d} (clocks back)"),
        ));
    }
    out
}

/// Holidays and clock changes overlapping `[from, to)` (UTC epoch seconds).
pub fn markers(from: i64, to: i64, with_clock_changes: bool) -> Vec<Marker> {
    let year = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.year())
            .unwrap_or(1970)
    };
    let mut out = Vec::new();
    for y in year(from)..=year(to) {
        for (d, name) in holidays(y) {
            let start = day_secs(d);
            let end = start + 86400;
            if start < to && end > from {
                out.push(Marker {
                    start,
                    end,
                    name: format!("{name} {d}"),
                    kind: "holiday",
                });
            }
        }
        if with_clock_changes {
            for (t, name) in clock_changes(y) {
                if t >= from && t < to {
                    out.push(Marker {
                        start: t,
                        end: t,
                        name,
                        kind: "clock_change",
                    });
                }
            }
        }
    }
    out.sort_by_key(|m| m.start);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn easter_and_thanksgiving_dates() {
        assert_eq!(easter(2008), NaiveDate::from_ymd_opt(2008, 3, 23));
        assert_eq!(easter(2009), NaiveDate::from_ymd_opt(2009, 4, 12));
        assert_eq!(easter(2011), NaiveDate::from_ymd_opt(2011, 4, 24));
        let h = holidays(2008);
        assert!(h.contains(&(
            NaiveDate::from_ymd_opt(2008, 11, 27).expect("date"),
            "US Thanksgiving"
        )));
        assert!(h.contains(&(
            NaiveDate::from_ymd_opt(2008, 5, 26).expect("date"),
            "US Memorial Day"
        )));
    }

    #[test]
    fn markers_in_the_mccolo_window() {
        // 2008-10-28 .. 2008-11-18: US DST ended 2008-11-02; no holiday.
        let from = 1_225_152_000;
        let to = from + 21 * 86400;
        let m = markers(from, to, true);
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].name
                .contains("US daylight saving time ends 2008-11-02")
        );
        assert!(markers(from, to, false).is_empty());
        // Late November to early January: Thanksgiving, Black Friday, Christmas, New Year.
        let names: Vec<String> = markers(1_227_484_800, 1_231_113_600, false)
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert!(
            names.iter().any(|n| n == "US Thanksgiving 2008-11-27"),
            "{names:?}"
        );
        assert!(
            names.iter().any(|n| n == "New Year's Day 2009-01-01"),
            "{names:?}"
        );
    }
}
