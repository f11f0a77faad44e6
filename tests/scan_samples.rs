//! `cutoff scan` on the bundled samples: the McColo reconstruction, the real YouTube-hijack
//! excerpt, and MRT written by real BGP daemons.

mod common;
use common::*;
use serde_json::Value;

const MCCOLO: &str = "mccolo-2008-11";

#[test]
fn mccolo_reconstruction_gives_the_scripted_timeline_and_ignores_the_decoys() {
    let r = scan(&["--asn", "26780", &sample(MCCOLO)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.kinds(),
        [
            "disconnected",
            "upstream_gained",
            "restored",
            "disconnected"
        ],
        "{:#?}",
        r.events
    );

    // The cut-off: the withdrawal at 21:33:00 leaves only the ghost route (tolerated residual).
    let cut = &r.events[0];
    assert_eq!(cut["time"], "2008-11-11T21:33:00Z");
    assert_eq!(cut["last_upstreams"], serde_json::json!([6939]));
    assert_eq!(
        cut["last_seen_via"]["3549"]["until"],
        "2008-11-11T21:25:30Z"
    );
    assert_eq!(cut["last_seen_via"]["3549"]["peer_ip"], "207.45.223.244");
    assert_eq!(
        cut["last_seen_via"]["6939"]["until"],
        "2008-11-11T21:33:00Z"
    );
    assert_eq!(cut["last_seen_via"]["6939"]["peer_ip"], "62.72.136.2");
    assert_eq!(
        cut["evidence"]["residual_sessions"],
        serde_json::json!(["route-views2 81.209.156.1 AS13237"])
    );
    assert!(cut["evidence"]["peers_before"].as_u64().unwrap_or(0) >= 30);

    // The brief return through TeliaSonera, then the second cut.
    let gained = &r.events[1];
    assert_eq!(gained["upstream"], 1299);
    let t = epoch(&gained["time"]);
    assert!(
        (epoch(&"2008-11-15T03:12:00Z".into())..=epoch(&"2008-11-15T03:14:00Z".into()))
            .contains(&t)
    );
    let restored = &r.events[2];
    assert_eq!(restored["upstreams"], serde_json::json!([1299]));
    assert!(restored["outage_secs"].as_i64().unwrap_or(0) > 3 * 86400);
    let again = epoch(&r.events[3]["time"]);
    assert!(
        (epoch(&"2008-11-15T15:40:00Z".into())..=epoch(&"2008-11-15T15:42:00Z".into()))
            .contains(&again)
    );

    let s = &r.summary;
    assert_eq!(s["collectors"], serde_json::json!(["route-views2"]));
    assert_eq!(s["partial_baseline"], false);
    assert_eq!(s["files_read"], 577);
    assert_eq!(s["gaps"], serde_json::json!([]));
    assert_eq!(s["thresholds"]["min_duration"], "15m");
    assert_eq!(s["thresholds"]["max_residual"], "5%");
    // 42 full-feed peers; the 3 partial peers of the RIB are not counted.
    assert_eq!(s["full_feed_sessions"], 42);
}

#[test]
fn zero_min_duration_reports_the_seven_minutes_mccolo_hung_on_one_upstream() {
    let r = scan(&[
        "--asn",
        "26780",
        "--min-duration",
        "0s",
        "--max-residual",
        "0",
        &sample(MCCOLO),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lost = r.of_kind("upstream_lost");
    assert_eq!(lost.len(), 1, "{:#?}", r.events);
    assert_eq!(lost[0]["upstream"], 3549);
    assert_eq!(lost[0]["time"], "2008-11-11T21:25:30Z");
    assert_eq!(lost[0]["upstreams"], serde_json::json!([6939]));
    // Decoys (session reset 2008-11-10 14:05, mass withdrawal 2008-11-11 03:10) stay silent
    // even without a hold-down: nothing happens before the cut.
    let first = r
        .events
        .iter()
        .map(|e| epoch(&e["time"]))
        .min()
        .unwrap_or(0);
    assert!(
        first >= epoch(&"2008-11-11T21:24:00Z".into()),
        "{:#?}",
        r.events
    );
}

#[test]
fn a_residual_of_zero_waits_for_the_ghost_route_to_go() {
    let r = scan(&["--asn", "26780", "--max-residual", "0", &sample(MCCOLO)]);
    let disc = r.of_kind("disconnected");
    assert_eq!(disc[0]["time"], "2008-11-12T03:00:00Z", "{:#?}", r.events);
    assert_eq!(r.summary["thresholds"]["max_residual"], "0");
}

#[test]
fn excluding_the_ghost_peer_moves_nothing_but_the_residual() {
    let r = scan(&[
        "--asn",
        "26780",
        "--max-residual",
        "0",
        "--exclude-peer",
        "81.209.156.1",
        &sample(MCCOLO),
    ]);
    assert_eq!(
        r.of_kind("disconnected")[0]["time"],
        "2008-11-11T21:33:00Z",
        "{:#?}",
        r.events
    );
}

fn youtube_sample() -> String {
    sample("routeviews-2008-02-24")
}

#[test]
fn youtube_hijack_excerpt_pccw_cuts_pakistan_telecom() {
    let r = scan(&["--asn", "17557", &youtube_sample()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.of_kind("disconnected").is_empty(), "{:#?}", r.events);
    let lost = r.of_kind("upstream_lost");
    assert_eq!(lost.len(), 1, "{:#?}", r.events);
    assert_eq!(lost[0]["upstream"], 3491);
    assert_eq!(lost[0]["time"], "2008-02-24T21:01:51Z");
    let dark = r.of_kind("prefix_dark");
    assert_eq!(dark.len(), 1, "{:#?}", r.events);
    assert_eq!(dark[0]["prefix"], "208.65.153.0/24");
    assert_eq!(dark[0]["time"], "2008-02-24T21:01:21Z");
    assert_eq!(r.summary["collectors"], serde_json::json!(["route-views2"]));
    assert_eq!(
        r.summary["partial_baseline"], true,
        "no RIB: the baseline is partial"
    );
    assert_eq!(
        r.summary["collectors_without_rib"],
        serde_json::json!(["route-views2"])
    );
}

/// The event times are times of real messages: bgpdump shows the withdrawal that ended the
/// last route, and no route of the kind claimed gone afterwards.
#[test]
fn youtube_event_times_match_the_reference_reader() {
    let Some(bgpdump) = bgpdump() else { return };
    let r = scan(&["--asn", "17557", &youtube_sample()]);
    let mut lines = Vec::new();
    let mut files: Vec<_> =
        std::fs::read_dir(root().join("samples/routeviews-2008-02-24/bgpdata/2008.02/UPDATES"))
            .expect("sample dir")
            .map(|e| e.expect("entry").path())
            .collect();
    files.sort();
    for f in &files {
        lines.extend(bgpdump_lines(&bgpdump, f));
    }
    let fields = |l: &str| l.split('|').map(str::to_string).collect::<Vec<_>>();

    let dark = r.of_kind("prefix_dark")[0];
    let t = epoch(&dark["time"]);
    let changes_at = |t: i64, peer: Option<&str>| {
        lines.iter().map(|l| fields(l)).any(|f| {
            f[1] == t.to_string() && f[5] == "208.65.153.0/24" && peer.is_none_or(|p| f[3] == p)
        })
    };
    assert!(
        changes_at(t, None),
        "bgpdump shows 208.65.153.0/24 changing at {t}"
    );
    let peer = dark["last_route"]["peer_ip"].as_str().expect("peer");
    let until = epoch(&dark["last_route"]["until"]);
    assert!(
        until >= t && changes_at(until, Some(peer)),
        "bgpdump shows {peer} ending the last route at {until}"
    );
    let later_17557 = lines.iter().map(|l| fields(l)).filter(|f| {
        f[2] == "A"
            && f[5] == "208.65.153.0/24"
            && f[1].parse::<i64>().unwrap_or(0) > t
            && f[6].ends_with(" 17557")
    });
    assert_eq!(
        later_17557.count(),
        0,
        "nobody announces AS17557's route after the event"
    );

    let lost = r.of_kind("upstream_lost")[0];
    let t = epoch(&lost["time"]);
    // A route of AS17557's own (the path ends in it) whose upstream is AS3491.
    let via_3491 = |path: &str| {
        let mut hops: Vec<&str> = path.split(' ').collect();
        hops.dedup();
        hops.ends_with(&["3491", "17557"])
    };
    let via_3491_later = lines
        .iter()
        .map(|l| fields(l))
        .filter(|f| f[2] == "A" && f[1].parse::<i64>().unwrap_or(0) > t && via_3491(&f[6]));
    assert_eq!(
        via_3491_later.count(),
        0,
        "no AS17557 route via AS3491 after the event"
    );
    let before: Vec<_> = lines
        .iter()
        .map(|l| fields(l))
        .filter(|f| f[2] == "A" && f[1].parse::<i64>().unwrap_or(0) <= t && via_3491(&f[6]))
        .collect();
    assert!(before.len() > 100, "AS3491 did carry AS17557 before");
}

/// The lab's facts as `scripts/lab/collect.py` read them with `bgpdump -m` from the samples:
/// the moments the lab made things happen, as the files record them.
fn lab_facts() -> Value {
    let text = std::fs::read_to_string(root().join("samples/lab/facts.json")).expect("facts.json");
    serde_json::from_str(&text).expect("facts.json is JSON")
}

fn lab_t0() -> i64 {
    lab_facts()["t0"].as_i64().expect("t0 in facts.json")
}

fn secs(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("a unix time: {v}"))
}

/// MRT written by GoBGP, FRR and BIRD collecting from ExaBGP peers on loopback: a session
/// reset and a mass withdrawal (decoys); then AS64510 is cut, and the session of one peer
/// that used it drops at that moment and comes back without the routes (never withdrawn);
/// then AS64500 is disconnected, and another origin announces one of its prefixes (not a
/// restoration). RIB dumps every 30 s fall inside the update files; GoBGP rotates its
/// update file every 60 s. Event times are the moments `bgpdump -m` reads in the files.
#[test]
fn real_daemons_upstream_cut_then_disconnection() {
    let facts = lab_facts();
    let t0 = lab_t0();
    for implementation in ["gobgp", "frr", "bird"] {
        let f = &facts[implementation];
        let r = scan(&[
            "--asn",
            "64500",
            "--min-duration",
            "30s",
            &sample(&format!("lab/{implementation}")),
        ]);
        assert_eq!(r.code, 0, "{implementation}: {}", r.stderr);
        assert_eq!(
            r.kinds(),
            ["upstream_lost", "disconnected"],
            "{implementation}: the foreign origin is no restoration: {:#?}",
            r.events
        );
        let lost = &r.events[0];
        assert_eq!(lost["upstream"], 64510, "{implementation}");
        assert_eq!(
            lost["upstreams"],
            serde_json::json!([64520]),
            "{implementation}"
        );
        // The last replacement of a 64510 path (AS65003's), as bgpdump reads it.
        let last_replacement = f["cut_replacements"]
            .as_array()
            .and_then(|c| c.iter().map(secs).max())
            .expect("replacements");
        assert!((t0 + 181..=t0 + 183).contains(&last_replacement), "{f}");
        match implementation {
            // The drop is a STATE record: AS65001's routes end with its session, so the
            // loss is the last replacement, exactly.
            "frr" | "bird" => {
                assert_eq!(
                    epoch(&lost["time"]),
                    last_replacement,
                    "{implementation}: {lost:#}"
                );
                assert!(
                    lost.get("time_bounds").is_none(),
                    "{implementation}: {lost:#}"
                );
            }
            // No STATE record: nothing in the files says when AS65001's route went. The loss
            // is bounded: not after it had certainly happened, and known by the re-sent table
            // at the latest by the first RIB dump after AS65001 came back.
            _ => {
                let back = secs(&f["as65001_back"]);
                let next_rib = f["rib_dump_times"]
                    .as_array()
                    .and_then(|t| t.iter().map(secs).find(|&t| t >= back))
                    .expect("a RIB after AS65001 came back");
                let bounds = lost["time_bounds"].as_array().expect("time_bounds");
                let (from, to) = (epoch(&bounds[0]), epoch(&bounds[1]));
                assert!(
                    from <= last_replacement && last_replacement <= to,
                    "{lost:#}"
                );
                assert!(to <= next_rib, "{lost:#} after the RIB at {next_rib}");
                assert_eq!(epoch(&lost["time"]), to, "{lost:#}");
            }
        }
        let disc = &r.events[1];
        assert_eq!(
            epoch(&disc["time"]),
            secs(&f["last_flagged_withdrawal"]),
            "{implementation}: the last withdrawal, by AS65006"
        );
        assert!(
            disc.get("time_bounds").is_none(),
            "{implementation}: {disc:#}"
        );
        assert_eq!(
            disc["last_upstreams"],
            serde_json::json!([64520]),
            "{implementation}"
        );
        assert_eq!(
            disc["last_seen_via"]["64520"]["peer_asn"], 65006,
            "{implementation}"
        );
    }
}

/// The foreign origin's announcement is in every lab collection, and after the
/// disconnection: what the scan above must not take for a return of AS64500.
#[test]
fn the_lab_foreign_origin_comes_after_the_disconnection() {
    let facts = lab_facts();
    for implementation in ["gobgp", "frr", "bird"] {
        let f = &facts[implementation];
        let foreign = f["foreign_origin_announced"].as_array().expect("list");
        assert!(!foreign.is_empty(), "{implementation}");
        assert!(
            foreign
                .iter()
                .map(secs)
                .all(|t| t > secs(&f["last_flagged_withdrawal"])),
            "{f}"
        );
        let r = scan(&[
            "--asn",
            "64500",
            "--min-duration",
            "0s",
            &sample(&format!("lab/{implementation}")),
        ]);
        assert!(
            !r.kinds()
                .iter()
                .any(|k| k == "restored" || k == "upstream_gained"),
            "{implementation}: {:#?}",
            r.events
        );
    }
}

#[test]
fn real_daemons_state_changes_are_read() {
    // FRR writes them in its `dump bgp all` file, BIRD in its only file; GoBGP writes none.
    let facts = lab_facts();
    for implementation in ["gobgp", "frr", "bird"] {
        let f = &facts[implementation];
        let mut states = 0;
        for file in f["message_files"].as_array().expect("files") {
            let file = format!("lab/{implementation}/{}", file.as_str().expect("name"));
            let out = cutoff()
                .args(["dump", &sample(&file)])
                .output()
                .expect("runs");
            assert!(out.status.success(), "{file}");
            let text = String::from_utf8_lossy(&out.stdout);
            states += text.lines().filter(|l| l.contains("|STATE|")).count();
        }
        assert_eq!(
            states as u64,
            f["state_lines"].as_u64().expect("count"),
            "{implementation}"
        );
        assert_eq!(states == 0, implementation == "gobgp", "{implementation}");
    }
}

/// Without the session-down record, a reset peer's silence would look like a withdrawal.
#[test]
fn a_session_reset_is_not_evidence() {
    let r = scan(&[
        "--asn",
        "64500",
        "--min-duration",
        "0s",
        "--max-residual",
        "0",
        &sample("lab/frr"),
    ]);
    let before_cut: Vec<_> = r
        .events
        .iter()
        .filter(|e| epoch(&e["time"]) < lab_t0() + 180)
        .collect();
    assert!(before_cut.is_empty(), "{before_cut:#?}");
}

/// Without a RIB the baseline is learned from announcements; while it is still climbing a
/// dip is no loss. AS17557 was visible all evening: with no hold-down at all, nothing says it
/// was disconnected (the first 20 minutes said so twice), and no loss is dated before the
/// number of peers known to see it held still for 15 minutes.
#[test]
fn no_loss_is_concluded_while_the_baseline_is_forming_on_the_youtube_day() {
    let r = scan(&[
        "--asn",
        "17557",
        "--min-duration",
        "0s",
        &sample("routeviews-2008-02-24"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.summary["partial_baseline"], true);
    assert!(r.of_kind("disconnected").is_empty(), "{:#?}", r.kinds());
    let first = epoch(&r.summary["first_time"]);
    for e in &r.events {
        if ["disconnected", "upstream_lost", "prefix_dark"]
            .contains(&e["event"].as_str().unwrap_or(""))
        {
            assert!(
                epoch(&e["time"]) >= first + 15 * 60,
                "a loss in the first 15 minutes: {e}"
            );
        }
    }
    // The evening's real losses are still there.
    assert!(r.events.iter().any(|e| e["event"] == "upstream_lost"
        && e["upstream"] == 3491
        && e["time"] == "2008-02-24T21:01:51Z"));
}
