//! Acceptance on the real RouteViews files of February 2008 (`../shared/data/mrt`).

mod common;
use common::*;

/// Pakistan Telecom's YouTube hijack day: PCCW (AS3491) cuts AS17557 off in the evening and
/// the hijacked /24 goes dark for AS17557, which stays visible through its other upstreams.
#[test]
fn youtube_day_full_files() {
    let Some(dir) = shared_mrt() else { return };
    let glob = dir
        .join("routeviews-2008/updates.20080224.*")
        .display()
        .to_string();
    let r = scan(&["--asn", "17557", &glob]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.of_kind("disconnected").is_empty(), "{:#?}", r.events);
    let lost = r.of_kind("upstream_lost");
    assert_eq!(lost.len(), 1, "{:#?}", r.events);
    assert_eq!(lost[0]["upstream"], 3491);
    assert_eq!(lost[0]["time"], "2008-02-24T21:01:51Z");
    // The condition began when support fell to the residual (one peer); the very last route
    // via AS3491, AS16150's, ended five seconds later.
    assert_eq!(lost[0]["last_route"]["peer_ip"], "217.75.96.60");
    assert_eq!(lost[0]["last_route"]["until"], "2008-02-24T21:01:56Z");
    let hijacked: Vec<_> = r
        .of_kind("prefix_dark")
        .into_iter()
        .filter(|e| e["prefix"] == "208.65.153.0/24")
        .collect();
    assert_eq!(hijacked.len(), 1, "{:#?}", r.events);
    assert_eq!(hijacked[0]["time"], "2008-02-24T21:01:21Z");
    // 21:01:21 left one peer (the residual); its route went at 21:01:34.
    assert_eq!(hijacked[0]["last_route"]["peer_ip"], "62.72.136.2");
    assert_eq!(hijacked[0]["last_route"]["until"], "2008-02-24T21:01:34Z");
    assert_eq!(r.summary["files_read"], 95);
    assert_eq!(r.summary["records"], 2_570_072);
    assert_eq!(
        r.summary["elements"], 6_352_955,
        "the same element count as bgpdump -m"
    );
    assert_eq!(r.summary["truncated_records"], 4);
}

/// Single peers (AS3277 on 02-20, AS16150 on 02-23 and 02-24) withdraw McColo's and Atrivo's
/// routes while ~40 others keep them: no upstream loss, no disconnection.
#[test]
fn february_2008_single_peer_withdrawals_are_not_takedowns() {
    let Some(dir) = shared_mrt() else { return };
    let r = scan(&[
        "--asn",
        "26780",
        "--asn",
        "27595",
        &dir.join("routeviews-2008").display().to_string(),
    ]);
    // The folder holds a few files of 02-20 and 02-23, then all of 02-24: the steps between
    // them are holes, named as gaps (exit 3), and none hides or invents an event.
    assert_eq!(r.code, 3, "{}", r.stderr);
    let holes: Vec<&str> = r.summary["gaps"]
        .as_array()
        .expect("gaps")
        .iter()
        .filter_map(|g| g["file"].as_str())
        .collect();
    assert_eq!(holes.len(), 4, "{holes:?}");
    assert!(holes[0].contains("between 2008-02-20T15:36:00Z and 2008-02-20T21:11:00Z"));
    assert!(holes[3].contains("between 2008-02-23T23:35:00Z and 2008-02-24T00:07:00Z"));
    assert_eq!(
        r.summary["files_read"], 99,
        "placeholders are not files read"
    );
    for kind in ["disconnected", "upstream_lost", "inconclusive"] {
        assert!(r.of_kind(kind).is_empty(), "{kind}: {:#?}", r.events);
    }
    // The withdrawals the test is about are really there (recovered from cut records too).
    let out = cutoff()
        .args([
            "dump",
            "--prefix",
            "208.72.173.0/24",
            "--prefix",
            "208.66.192.0/22",
        ])
        .arg(dir.join("routeviews-2008"))
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    for peer in ["|W|194.85.4.55|3277|", "|W|217.75.96.60|16150|"] {
        assert!(
            text.lines().any(|l| l.contains(peer)),
            "{peer} withdraws McColo"
        );
    }
    assert_eq!(r.summary["truncated_records"], 85);
}

/// Route-views2 records no session resets in 2008. On 2008-02-20 AS3277 (194.85.4.55)
/// re-sends its whole table from 23:29 to 23:40 (378k announcements, about a table and a half)
/// and leaves out McColo's 208.72.173.0/24, last announced at 21:26:00 via AS1299. The
/// re-send withdraws it implicitly; before, the stale route stayed "seen" until a RIB.
/// 208.66.192.0/22, re-sent at 23:30:26, stays.
#[test]
fn a_table_resent_without_a_route_withdraws_it() {
    let Some(dir) = shared_mrt() else { return };
    let files: Vec<String> = ["2111", "2328"]
        .iter()
        .map(|t| {
            dir.join(format!("routeviews-2008/updates.20080220.{t}.bz2"))
                .display()
                .to_string()
        })
        .collect();
    let out = cutoff()
        .args(["timeline", "--asn", "26780", &files[0], &files[1]])
        .output()
        .expect("cutoff runs");
    let lines = String::from_utf8_lossy(&out.stdout);
    let seen = |prefix: &str, at: &str| -> Option<u64> {
        lines
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .rfind(|v| v["type"] == "visibility" && v["time"].as_str() <= Some(at))
            .and_then(|v| v["prefixes"][prefix].as_u64())
    };
    assert_eq!(seen("208.72.173.0/24", "2008-02-20T23:41:58Z"), Some(1));
    assert_eq!(seen("208.72.173.0/24", "2008-02-20T23:41:59Z"), Some(0));
    assert_eq!(seen("208.66.192.0/22", "2008-02-20T23:43:59Z"), Some(1));

    let mut args = vec!["--asn", "26780", "--min-duration", "0s", "--min-peers", "1"];
    args.extend(files.iter().map(String::as_str));
    let r = scan(&args);
    let dark: Vec<_> = r
        .of_kind("prefix_dark")
        .into_iter()
        .filter(|e| e["prefix"] == "208.72.173.0/24")
        .collect();
    assert_eq!(dark.len(), 1, "{:#?}", r.events);
    let last = &dark[0]["last_route"];
    assert_eq!(last["peer_ip"], "194.85.4.55");
    assert_eq!(last["announced"], "2008-02-20T21:26:00Z");
    assert_eq!(
        last["until"], "2008-02-20T23:41:59Z",
        "the end of the re-send"
    );
    assert!(last["file"].is_null(), "no message withdrew it: {last}");
}
