//! Telemetry loaders as users meet them: mail logs across clock changes, missing hours,
//! attribution of source IPs to origin ASes with a RIB, and errors that name line and column.

mod common;
use chrono::TimeZone;
use common::*;
use cutoff_correlate::telemetry::{self, LoadOptions, OriginMap, TelemetryFormat, Zone};
use serde_json::Value;
use std::path::{Path, PathBuf};

const MCCOLO_RIB: &str = "samples/mccolo-2008-11/bgpdata/2008.11/RIBS/rib.20081110.0000.bz2";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

fn zone(s: &str) -> Zone {
    s.parse().expect("a zone")
}

/// A Postfix log written in Los Angeles time: one `connect` every 10 minutes (UTC) from
/// `from` for `hours` hours, as syslog prints it (`Nov  2 01:30:00`, no year, local time).
fn postfix_log(from: i64, hours: i64) -> String {
    let la = chrono_tz::America::Los_Angeles;
    let mut text = String::new();
    for k in 0..hours * 6 {
        let t = from + k * 600;
        let local = la.timestamp_opt(t, 0).single().expect("valid instant");
        text.push_str(&format!(
            "{} mx1 postfix/smtpd[{}]: connect from unknown[192.0.2.{}]\n",
            local.format("%b %e %H:%M:%S"),
            1000 + k,
            k % 250
        ));
        if k % 6 == 0 {
            text.push_str(&format!(
                "{} mx1 postfix/smtpd[{}]: NOQUEUE: reject: RCPT from unknown[192.0.2.9]: 554 5.7.1 blocked; from=<a@b> to=<c@d>\n",
                local.format("%b %e %H:%M:%S"),
                1000 + k
            ));
            text.push_str(&format!(
                "{} mx1 postfix/qmgr[77]: 4A1B2C: removed\n",
                local.format("%b %e %H:%M:%S")
            ));
        }
    }
    text
}

#[test]
fn a_mail_log_across_the_end_of_daylight_saving_time_bins_evenly_in_utc() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 2008-10-31 00:00 UTC for six days: US daylight saving time ends 2008-11-02 09:00 UTC,
    // and the log repeats 01:00-01:59 local time.
    let from = 1_225_411_200;
    let log = write(dir.path(), "mail.log", &postfix_log(from, 144));
    assert!(
        std::fs::read_to_string(&log)
            .expect("read")
            .matches("Nov  2 01:30:00")
            .count()
            == 2
    );
    let opts = LoadOptions {
        format: TelemetryFormat::Auto,
        tz: Some(zone("America/Los_Angeles")),
        year: Some(2008),
        ..LoadOptions::default()
    };
    let t = telemetry::load(&log, &opts).expect("loads");
    assert_eq!(t.format, TelemetryFormat::Postfix, "recognised by content");
    assert_eq!(t.names(), ["connect", "reject"]);
    assert_eq!(t.other_lines, 144);
    let connect = t.pick(Some("connect")).expect("connect");
    assert_eq!(connect.first(), Some(from));
    assert_eq!(
        connect.points.len(),
        144,
        "one bin per UTC hour, none doubled or lost"
    );
    assert!(
        connect.points.values().all(|v| *v == 6.0),
        "{:?}",
        connect.points
    );
    let reject = t.pick(Some("reject")).expect("reject");
    assert!(reject.points.values().all(|v| *v == 1.0));
    // With a fixed offset the summer-time hours land an hour late: one UTC hour gets 12.
    let fixed = telemetry::load(
        &log,
        &LoadOptions {
            tz: Some(zone("-08:00")),
            ..opts
        },
    )
    .expect("loads")
    .pick(Some("connect"))
    .expect("connect");
    assert_eq!(fixed.points.values().copied().fold(0.0, f64::max), 12.0);
    assert_eq!(fixed.first(), Some(from + 3600));
}

#[test]
fn mail_logs_need_a_zone_and_a_year_and_reject_impossible_local_times() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = write(
        dir.path(),
        "mail.log",
        "Mar  9 01:59:00 mx postfix/smtpd[1]: connect from a[192.0.2.1]\nMar  9 02:30:00 mx postfix/smtpd[2]: connect from a[192.0.2.1]\n",
    );
    let run = |args: &[&str]| {
        let out = cutoff()
            .args(["correlate", "--list-series", "--telemetry"])
            .arg(&log)
            .args(args)
            .output()
            .expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["--year", "2008"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("give its zone with --tz"), "{err}");
    let (code, err) = run(&["--tz", "UTC"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("mail.log line 1, column 1: syslog lines carry no year"),
        "{err}"
    );
    let (code, err) = run(&["--tz", "America/Los_Angeles", "--year", "2008"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains(
            "mail.log line 2, column 1: 2008-03-09 02:30:00 does not exist in America/Los_Angeles"
        ),
        "{err}"
    );
    // In UTC those times exist.
    let (code, err) = run(&["--tz", "UTC", "--year", "2008", "--format", "jsonl"]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_syslog_running_over_new_year_moves_to_the_next_year() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = write(
        dir.path(),
        "mail.log",
        "Dec 31 23:50:00 mx postfix/smtpd[1]: connect from a[192.0.2.1]\nJan  1 00:10:00 mx postfix/smtpd[2]: connect from a[192.0.2.1]\n",
    );
    let opts = LoadOptions {
        tz: Some(zone("UTC")),
        year: Some(2008),
        ..LoadOptions::default()
    };
    let s = telemetry::load(&log, &opts)
        .expect("loads")
        .pick(None)
        .expect("one series");
    let keys: Vec<String> = s.points.keys().map(|t| telemetry::rfc3339(*t)).collect();
    assert_eq!(keys, ["2008-12-31T23:00:00Z", "2009-01-01T00:00:00Z"]);
}

#[test]
fn exim_lines_use_their_own_offset_or_the_given_zone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = write(
        dir.path(),
        "exim_mainlog",
        "2008-11-11 13:30:01 -0800 1KzxyZ-0001Ab-Cd <= a@b.example H=mx.b.example [192.0.2.9]:4312 P=esmtp S=1234\n\
         2008-11-11 13:40:00 H=(helo) [192.0.2.3] F=<a@b> rejected RCPT <c@d>: blocked\n\
         2008-11-11 13:45:00 1KzxyZ-0001Ab-Cd Completed\n",
    );
    let t = telemetry::load(
        &log,
        &LoadOptions {
            tz: Some(zone("-08:00")),
            ..LoadOptions::default()
        },
    )
    .expect("loads");
    assert_eq!(t.format, TelemetryFormat::Exim);
    let accept = t.pick(Some("accept")).expect("accept");
    assert_eq!(
        accept.points.get(&1_226_437_200),
        Some(&1.0),
        "13:30 -0800 is in the 21:00 UTC bin"
    );
    assert_eq!(t.pick(Some("reject")).expect("reject").total(), 1.0);
    assert_eq!(t.other_lines, 1);
}

#[test]
fn garbage_input_names_the_file_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut csv = String::from("ts,count\n");
    for h in 0..15 {
        csv.push_str(&format!("2008-11-11T{h:02}:00:00Z,{}\n", 100 + h));
    }
    csv.push_str("2008-13-01,5\n");
    let bad_time = write(dir.path(), "spam.csv", &csv);
    let bad_count = write(
        dir.path(),
        "count.csv",
        "hour,messages\n2008-11-11T00:00:00Z,12\n2008-11-11T01:00:00Z,1e\n",
    );
    let bad_header = write(
        dir.path(),
        "header.csv",
        "when,how_many\n2008-11-11T00:00:00Z,12\n",
    );
    let bad_json = write(
        dir.path(),
        "trap.jsonl",
        "{\"ts\":\"2008-11-11T00:00:00Z\"}\n{\"ts\":\"yesterday\",\"src_ip\":\"192.0.2.1\"}\n",
    );
    let ragged = write(
        dir.path(),
        "ragged.csv",
        "ts,count\n2008-11-11T00:00:00Z,12\n2008-11-11T01:00:00Z,1,extra\n",
    );
    let naive = write(
        dir.path(),
        "naive.csv",
        "ts,count\n2008-11-11 00:00,12\n2008-11-11 01:00,13\n",
    );
    let cases: [(&Path, &str); 6] = [
        (
            &bad_time,
            "spam.csv line 17, column ts: \"2008-13-01\" is not a time",
        ),
        (
            &bad_count,
            "count.csv line 3, column messages: \"1e\" is not a count",
        ),
        (
            &bad_header,
            "header.csv line 1: no time column: expected one of ts, time, timestamp, hour, datetime, date, bin, bin_start (found: when, how_many)",
        ),
        (
            &bad_json,
            "trap.jsonl line 2, field ts: \"yesterday\" is not a time",
        ),
        (
            &ragged,
            "ragged.csv line 3: expected 2 fields like the header, found 3",
        ),
        (
            &naive,
            "naive.csv line 2, column ts: \"2008-11-11 00:00\" has no time zone",
        ),
    ];
    for (file, needle) in cases {
        let out = cutoff()
            .args(["correlate", "--list-series", "--telemetry"])
            .arg(file)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{needle}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "expected {needle:?} in {err}");
    }
    // The zone-less file reads with --tz.
    let out = cutoff()
        .args([
            "correlate",
            "--list-series",
            "--format",
            "jsonl",
            "--tz",
            "UTC",
            "--telemetry",
        ])
        .arg(&naive)
        .output()
        .expect("runs");
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(v["series"]["bins"], 2);
}

/// A routed prefix of the sample RIB whose origin is not McColo: (an address in it, origin).
fn other_origin() -> (String, u32) {
    let mut found = None;
    cutoff_core::parse::read_file(&root().join(MCCOLO_RIB), &mut |item| {
        if found.is_some() {
            return;
        }
        if let cutoff_core::parse::Item::Route(r) = item
            && let (Some(a), cutoff_core::model::Prefix::V4(p)) = (&r.attrs, r.prefix)
            && let cutoff_core::model::Origin::As(o) = a.path.origin()
            && o != 26780
            && p.prefix_len() <= 24
        {
            let ip = std::net::Ipv4Addr::from(u32::from(p.network()) + 1);
            found = Some((ip.to_string(), o));
        }
    });
    found.expect("the sample RIB has other origins")
}

#[test]
fn messages_attributed_to_origin_ases_make_their_own_series() {
    let map = OriginMap::from_rib(&root().join(MCCOLO_RIB)).expect("RIB reads");
    assert_eq!(map.lookup("208.66.193.7".parse().expect("ip")), Some(26780));
    assert_eq!(
        map.lookup("208.72.173.200".parse().expect("ip")),
        Some(26780),
        "the /24 inside the /21"
    );
    assert_eq!(
        map.lookup("192.0.2.1".parse().expect("ip")),
        None,
        "TEST-NET is not routed"
    );
    let (other_ip, other_as) = other_origin();
    assert_eq!(map.lookup(other_ip.parse().expect("ip")), Some(other_as));
    assert!(map.prefixes > 1000, "{}", map.prefixes);

    // A spam trap: each hour 3 messages from McColo space, 6 from elsewhere, 1 unrouted; McColo
    // goes silent at the event.
    let t_event: i64 = 1_226_437_200; // 2008-11-11T21:00:00Z
    let from = t_event - 42 * 86_400;
    let to = t_event + 14 * 86_400;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = String::new();
    for h in (from..to).step_by(3600) {
        let ts = |m: i64| telemetry::rfc3339(h + m * 60);
        if h < t_event {
            for (k, ip) in ["208.66.193.7", "208.72.169.20", "208.72.173.9"]
                .iter()
                .enumerate()
            {
                text.push_str(&format!(
                    "{{\"ts\":\"{}\",\"src_ip\":\"{ip}\",\"kind\":\"spam\"}}\n",
                    ts(k as i64)
                ));
            }
        }
        for k in 0..6 {
            text.push_str(&format!(
                "{{\"ts\":\"{}\",\"src_ip\":\"{other_ip}\",\"kind\":\"spam\"}}\n",
                ts(10 + k)
            ));
        }
        text.push_str(&format!(
            "{{\"ts\":\"{}\",\"src_ip\":\"192.0.2.1\",\"kind\":\"spam\"}}\n",
            ts(30)
        ));
    }
    let trap = write(dir.path(), "trap.jsonl", &text);
    let events = write(
        dir.path(),
        "events.jsonl",
        "{\"event\":\"disconnected\",\"asn\":26780,\"time\":\"2008-11-11T21:00:00Z\"}\n",
    );
    let out = common::succeeds(
        cutoff()
            .current_dir(root())
            .args([
                "correlate",
                "--list-series",
                "--format",
                "jsonl",
                "--attribute-with",
                MCCOLO_RIB,
                "--telemetry",
            ])
            .arg(&trap),
    );
    let listed: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let total = |name: &str| {
        listed
            .iter()
            .find(|v| v["series"]["name"] == name)
            .map(|v| v["series"]["total"].as_f64().unwrap_or(-1.0))
    };
    let hours_before = ((t_event - from) / 3600) as f64;
    let hours = ((to - from) / 3600) as f64;
    assert_eq!(total("spam@AS26780"), Some(3.0 * hours_before));
    assert_eq!(total(&format!("spam@AS{other_as}")), Some(6.0 * hours));
    assert_eq!(total("spam@unrouted"), Some(hours));
    assert_eq!(total("spam"), Some(3.0 * hours_before + 7.0 * hours));

    let correlate = |series: &str| {
        let out = cutoff()
            .current_dir(root())
            .args([
                "correlate",
                "--format",
                "jsonl",
                "--attribute-with",
                MCCOLO_RIB,
                "--series",
                series,
                "--events",
            ])
            .arg(&events)
            .arg("--telemetry")
            .arg(&trap)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let first = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .map(str::to_string)
            .expect("a result");
        serde_json::from_str::<Value>(&first).expect("JSON")
    };
    // McColo's own space went silent: observed hours with no message from it count zero.
    let own = correlate("spam@AS26780");
    assert_eq!(own["drop_pct"], 100.0, "{own}");
    assert_eq!(own["bins_used"], 168);
    assert!(own["p_value"].as_f64().is_some_and(|p| p <= 0.05), "{own}");
    // All spam fell by McColo's share, 3 of 10.
    let all = correlate("spam");
    assert_eq!(all["drop_pct"], 30.0, "{all}");
    // Another origin did not move.
    let other = correlate(&format!("spam@AS{other_as}"));
    assert_eq!(other["drop_pct"], 0.0, "{other}");
}

#[test]
fn a_truncated_rib_is_refused_for_attribution() {
    let out = cutoff()
        .current_dir(root())
        .args([
            "correlate",
            "--list-series",
            "--attribute-with",
            "samples/awkward/rib.20080501.0644_firstMB.bz2",
            "--telemetry",
            "samples/spam-2008/spam-hourly.csv",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rib.20080501.0644_firstMB.bz2") && err.contains("incomplete"),
        "{err}"
    );
}

/// One line of October after a line of November 1 moved every later line a year on, so the
/// event was "not measured" (issue 16, item 6). Now the year moves only at a real new year;
/// the stray line is counted where it belongs and named in a note.
#[test]
fn an_out_of_order_syslog_line_keeps_its_year_and_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = write(
        dir.path(),
        "mail.log",
        "Nov  1 00:10:00 mx postfix/smtpd[1]: connect from a[192.0.2.1]\n\
         Oct 31 23:50:00 mx postfix/smtpd[2]: connect from a[192.0.2.1]\n\
         Nov  1 00:20:00 mx postfix/smtpd[3]: connect from a[192.0.2.1]\n\
         Nov  1 00:19:00 mx postfix/smtpd[4]: connect from a[192.0.2.1]\n",
    );
    let opts = LoadOptions {
        tz: Some(zone("UTC")),
        year: Some(2008),
        ..LoadOptions::default()
    };
    let t = telemetry::load(&log, &opts).expect("loads");
    let s = t.pick(None).expect("one series");
    let bins: Vec<(String, f64)> = s
        .points
        .iter()
        .map(|(t, c)| (telemetry::rfc3339(*t), *c))
        .collect();
    assert_eq!(
        bins,
        [
            ("2008-10-31T23:00:00Z".to_string(), 1.0),
            ("2008-11-01T00:00:00Z".to_string(), 3.0)
        ]
    );
    // A minute back (line 4) is within the tolerance; twenty minutes back (line 2) is not.
    assert_eq!(t.notes.len(), 1, "{:?}", t.notes);
    assert!(
        t.notes[0]
            .contains("mail.log: 1 line(s) more than 5m earlier than a line before them (line 2)"),
        "{:?}",
        t.notes
    );
    // A straggler of December 31 after the new year stays in December.
    let log = write(
        dir.path(),
        "newyear.log",
        "Dec 31 23:59:50 mx postfix/smtpd[1]: connect from a[192.0.2.1]\n\
         Jan  1 00:00:10 mx postfix/smtpd[2]: connect from a[192.0.2.1]\n\
         Dec 31 23:59:59 mx postfix/smtpd[3]: connect from a[192.0.2.1]\n\
         Jan  1 01:00:00 mx postfix/smtpd[4]: connect from a[192.0.2.1]\n",
    );
    let t = telemetry::load(&log, &opts).expect("loads");
    let keys: Vec<String> = t
        .pick(None)
        .expect("one series")
        .points
        .keys()
        .map(|t| telemetry::rfc3339(*t))
        .collect();
    assert_eq!(
        keys,
        [
            "2008-12-31T23:00:00Z",
            "2009-01-01T00:00:00Z",
            "2009-01-01T01:00:00Z"
        ]
    );
    assert!(t.notes.is_empty(), "{:?}", t.notes);
}

/// The same in `correlate`: the event after the stray line is measured, and the summary says
/// which line was out of order.
#[test]
fn correlate_measures_an_event_after_an_out_of_order_mail_log_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let event = 1_226_437_200; // 2008-11-11T21:00:00Z
    let mut text = String::new();
    for line in postfix_log(event - 28 * 86_400, 36 * 24).lines() {
        text.push_str(line);
        text.push('\n');
        if line.starts_with("Nov  1 00:10:00") {
            text.push_str(
                "Oct 31 23:40:00 mx1 postfix/smtpd[9]: connect from unknown[192.0.2.9]\n",
            );
        }
    }
    let log = write(dir.path(), "mail.log", &text);
    let events = write(
        dir.path(),
        "events.jsonl",
        "{\"event\":\"disconnected\",\"asn\":26780,\"time\":\"2008-11-11T21:00:00Z\"}\n",
    );
    let out = cutoff()
        .args(["correlate", "--events"])
        .arg(&events)
        .arg("--telemetry")
        .arg(&log)
        .args(["--series", "connect", "--tz", "America/Los_Angeles"])
        .args(["--year", "2008", "--bootstrap", "100", "--format", "jsonl"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert!(lines[0]["drop_pct"].is_number(), "{}", lines[0]);
    let notes = lines[1]["telemetry"]["notes"].to_string();
    assert!(notes.contains("1 line(s) more than 5m earlier"), "{notes}");
}

/// `/dev/zero` as telemetry grew to 4.2 GB and aborted; as events it would too. Every reader
/// now stops at `--max-line-bytes` with the file and line named (issue 16, item 8).
#[test]
fn endless_lines_stop_at_max_line_bytes_with_the_file_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = write(
        dir.path(),
        "events.jsonl",
        "{\"event\":\"disconnected\",\"asn\":26780,\"time\":\"2008-11-11T21:00:00Z\"}\n",
    );
    let long = write(
        dir.path(),
        "long.csv",
        &format!("ts,count\n2008-11-11T00:00:00Z,1\n{}\n", "9".repeat(100)),
    );
    let events_arg = events.display().to_string();
    let long_arg = long.display().to_string();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["--events", &events_arg, "--telemetry", "/dev/zero"],
            "/dev/zero line 1: longer than 64KiB (--max-line-bytes)".into(),
        ),
        (
            vec!["--events", "/dev/zero", "--telemetry", &long_arg],
            "/dev/zero line 1: longer than 64KiB (--max-line-bytes)".into(),
        ),
        (
            vec![
                "--events",
                &events_arg,
                "--telemetry",
                &long_arg,
                "--max-line-bytes",
                "80",
            ],
            format!("{long_arg} line 3: longer than 80 bytes (--max-line-bytes)"),
        ),
    ];
    let formats = ["csv", "jsonl", "postfix", "exim"];
    let all = cases
        .iter()
        .map(|(a, n)| (a.clone(), n.clone(), None))
        .chain(formats.iter().map(|f| {
            (
                vec![
                    "--events",
                    &events_arg,
                    "--telemetry",
                    "/dev/zero",
                    "--tz",
                    "UTC",
                ],
                "/dev/zero line 1: longer than 64KiB".to_string(),
                Some(*f),
            )
        }));
    for (args, needle, format) in all {
        let mut cmd = cutoff();
        cmd.arg("correlate").args(&args);
        if let Some(f) = format {
            cmd.args(["--telemetry-format", f]);
        }
        if !args.contains(&"--max-line-bytes") {
            cmd.args(["--max-line-bytes", "64KiB"]);
        }
        let out = cmd
            .timeout(std::time::Duration::from_secs(20))
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} {format:?}: {err}");
        assert!(err.contains(&needle), "{args:?} {format:?}: {err}");
    }
}
