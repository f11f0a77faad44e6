//! Postfix and Exim mail logs: connections, arrivals and rejections per bin.

// The loaders share the parent's types and helpers (errors, rows, zones, series).
use super::messages::{MessageBins, read_lines};
use super::*;

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
pub(super) fn parse_exim_time(line: &str) -> Option<(NaiveDateTime, Option<FixedOffset>, &str)> {
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

/// How much earlier than a line before it a line may be without being reported: processes
/// write to syslog a moment apart, so a few seconds back is normal.
pub const OUT_OF_ORDER_TOLERANCE_SECS: i64 = 300;

/// Lines earlier than a line before them by more than the tolerance: counted and named.
#[derive(Default)]
struct Order {
    latest: Option<i64>,
    count: u64,
    lines: Vec<u64>,
}

impl Order {
    /// Lines named in the note; the rest are counted.
    const NAMED: usize = 5;

    fn see(&mut self, line: u64, ts: i64) {
        if let Some(l) = self.latest
            && ts < l - OUT_OF_ORDER_TOLERANCE_SECS
        {
            self.count += 1;
            if self.lines.len() < Self::NAMED {
                self.lines.push(line);
            }
        }
        self.latest = Some(self.latest.map_or(ts, |l| l.max(ts)));
    }

    fn note(&self, file: &str) -> Option<String> {
        let named: Vec<String> = self.lines.iter().map(u64::to_string).collect();
        let more = match self.count.saturating_sub(self.lines.len() as u64) {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        (self.count > 0).then(|| {
            format!(
                "{file}: {} line(s) more than {} earlier than a line before them (line {}{more}), counted at their own times: is the log out of order?",
                self.count,
                duration_text(OUT_OF_ORDER_TOLERANCE_SECS),
                named.join(", ")
            )
        })
    }
}

/// The year of a syslog line, which carries none: the one of `latest.year() - 1 ..= + 1` that
/// puts the line nearest the latest line before it. So the year moves on only at a real new
/// year (Dec 31 → Jan 1), and a line a little out of order (Oct 31 after Nov 1) keeps its
/// year instead of moving it, and every line after it, a year on.
fn nearest_year(
    latest: NaiveDateTime,
    (mon, day, h, m, s): (u32, u32, u32, u32, u32),
) -> Option<NaiveDateTime> {
    use chrono::Datelike;
    let y = latest.year();
    [y - 1, y, y + 1]
        .into_iter()
        .filter_map(|c| NaiveDate::from_ymd_opt(c, mon, day).and_then(|d| d.and_hms_opt(h, m, s)))
        .min_by_key(|t| (*t - latest).num_seconds().abs())
}

/// The clock of a mail log: zone, the year of syslog lines, the order of lines.
struct MailClock {
    tz: Zone,
    year: Option<i32>,
    /// Local time of the latest syslog line so far.
    latest_local: Option<NaiveDateTime>,
    order: Order,
}

impl MailClock {
    fn exim<'t>(&self, text: &'t str) -> Result<(i64, &'t str), String> {
        let (local, offset, rest) = parse_exim_time(text).ok_or_else(|| {
            format!(
                "{:?} is not an Exim log time (expected like 2008-11-11 13:30:01)",
                text.chars().take(19).collect::<String>()
            )
        })?;
        let ts = match offset {
            Some(o) => o
                .from_local_datetime(&local)
                .single()
                .map(|d| d.timestamp())
                .ok_or_else(|| format!("{local} {o} is not a time"))?,
            None => self.tz.to_utc(local, self.order.latest)?,
        };
        Ok((ts, rest))
    }

    fn syslog<'t>(&mut self, text: &'t str) -> Result<(i64, &'t str), String> {
        let first = text.split(' ').next().unwrap_or("");
        if let Ok(d) = DateTime::parse_from_rfc3339(first) {
            return Ok((d.timestamp(), text[first.len()..].trim_start()));
        }
        let stamp = || text.chars().take(15).collect::<String>();
        let (mon, day, h, m, s, rest) = parse_syslog_time(text).ok_or_else(|| {
            format!(
                "{:?} is not a syslog time (expected like \"Nov 11 13:30:01\" or RFC 3339)",
                stamp()
            )
        })?;
        let local = match self.latest_local {
            Some(latest) => nearest_year(latest, (mon, day, h, m, s)),
            None => {
                let y = self.year.ok_or(
                    "syslog lines carry no year: give the year of the first line with --year",
                )?;
                NaiveDate::from_ymd_opt(y, mon, day).and_then(|d| d.and_hms_opt(h, m, s))
            }
        }
        .ok_or_else(|| format!("{} is not a date in {}", stamp(), self.year_text()))?;
        let ts = self.tz.to_utc(local, self.order.latest)?;
        if self.latest_local.is_none_or(|l| local > l) {
            self.latest_local = Some(local);
        }
        Ok((ts, rest))
    }

    fn year_text(&self) -> String {
        use chrono::Datelike;
        self.latest_local
            .map(|l| l.year())
            .or(self.year)
            .map_or("any year".into(), |y| y.to_string())
    }
}

pub(super) fn load_maillog(
    reader: Box<dyn Read + Send>,
    file: &str,
    format: TelemetryFormat,
    opts: &LoadOptions,
) -> Result<Telemetry, TelemetryError> {
    let mut bins = MessageBins::new(opts.bin_secs.unwrap_or(3600), opts.origins);
    let mut other = 0u64;
    let mut clock = MailClock {
        // `load` checked that a zone is given; the fallback keeps this function total.
        tz: opts.tz.unwrap_or(Zone::Fixed(utc_offset())),
        year: opts.year,
        latest_local: None,
        order: Order::default(),
    };
    read_lines(reader, file, |line, text| {
        if text.trim().is_empty() {
            return Ok(());
        }
        let (ts, msg) = match format {
            TelemetryFormat::Exim => clock.exim(text),
            _ => clock.syslog(text),
        }
        .map_err(|m| error(file, Some(line), Some("column 1".into()), m))?;
        clock.order.see(line, ts);
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
    let mut tel = bins.finish(file, format, other);
    tel.notes.extend(clock.order.note(file));
    Ok(tel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_year_of_a_syslog_line_is_the_one_nearest_the_latest_line() {
        let at = |y, mo, d, h, mi| {
            NaiveDate::from_ymd_opt(y, mo, d)
                .and_then(|d| d.and_hms_opt(h, mi, 0))
                .expect("valid")
        };
        let nov1 = at(2008, 11, 1, 0, 10);
        // A step back of minutes is the same year, not the next one.
        assert_eq!(
            nearest_year(nov1, (10, 31, 23, 50, 0)),
            Some(at(2008, 10, 31, 23, 50))
        );
        // December to January is a new year; a December straggler after it is not.
        assert_eq!(
            nearest_year(at(2008, 12, 31, 23, 59), (1, 1, 0, 1, 0)),
            Some(at(2009, 1, 1, 0, 1))
        );
        assert_eq!(
            nearest_year(at(2009, 1, 1, 0, 1), (12, 31, 23, 59, 0)),
            Some(at(2008, 12, 31, 23, 59))
        );
        // February 29 exists only in a leap year nearby.
        assert_eq!(
            nearest_year(at(2008, 2, 28, 0, 0), (2, 29, 0, 0, 0)),
            Some(at(2008, 2, 29, 0, 0))
        );
        assert_eq!(nearest_year(at(2010, 6, 1, 0, 0), (2, 29, 0, 0, 0)), None);
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
