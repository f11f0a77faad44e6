//! The modern-size collector-day generator (`examples/make_modern_day.rs`, which
//! `scripts/bench-modern.sh` measures at full size), run here small: its files are MRT that the
//! reference reader reads entry for entry, a scan finds exactly the day it scripts (a session
//! reset that is not a takedown, the first upstream lost at 10:00, the last at 14:30), and the
//! day in four partitions merges into what the scan printed.

mod common;

use common::{bgpdump, bgpdump_lines, cutoff, epoch, scan_result, succeeds, without_elapsed};
use std::path::{Path, PathBuf};

/// `cargo test` builds the examples beside the test binaries (`target/<profile>/examples`).
fn generator() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let g = profile.join("examples/make_modern_day");
    assert!(g.exists(), "{} is built by cargo test", g.display());
    g
}

/// Small, and on one thread: then the RIB is one bzip2 stream, which bgpdump needs (it reads
/// only the first stream of a file; the generator writes one stream per thread).
const SMALL: &[&str] = &[
    "--v4",
    "20000",
    "--v6",
    "4000",
    "--peers",
    "60",
    "--full-feeds",
    "10",
    "--rate",
    "5",
    "--threads",
    "1",
];

fn generate(out: &Path) -> PathBuf {
    let status = std::process::Command::new(generator())
        .arg(out)
        .args(SMALL)
        .status()
        .expect("the generator runs");
    assert!(status.success());
    out.join("route-views.synthetic/bgpdata/2026.11")
}

/// Seconds of 2026-11-01 (UTC) at `h:m`.
fn at(h: i64, m: i64) -> i64 {
    1_793_491_200 + h * 3600 + m * 60
}

/// The time of the last withdrawal of a watched prefix by a full feed (the generator's
/// peers 0–9, AS400000–AS400009), in `bgpdump -m` lines.
fn last_full_feed_withdrawal(lines: &[String]) -> Option<i64> {
    lines
        .iter()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            let full = f.get(4)?.parse::<u32>().ok().is_some_and(|a| a < 400_010);
            let watched = f.get(5)?.starts_with("100.64.") || f[5].starts_with("2001:db8:64:");
            (f.get(2) == Some(&"W") && full && watched).then(|| f[1].parse().ok())?
        })
        .max()
}

#[test]
fn a_generated_day_reads_as_scripted_and_merges_from_partitions_into_the_scan() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = generate(&tmp.path().join("day"));
    let root = tmp.path().join("day").display().to_string();

    // Kept whole to compare with the merge below; read as events and summary here.
    let whole = succeeds(cutoff().args(["scan", "--asn", "64511", "--format", "jsonl", &root]));
    let r = scan_result(whole.clone());
    let s = &r.summary;
    assert_eq!(s["files_read"], 97);
    assert_eq!(s["incomplete_input"], false);
    assert_eq!(s["gaps"].as_array().map(Vec::len), Some(0));
    assert_eq!(s["sessions"], 60);
    // The ten full feeds, two of them IPv6-only sessions with a full IPv6 table: full feeds
    // are judged per address family, and the eight partial IPv6 feeds are not full.
    assert_eq!(s["full_feed_sessions"], 10);
    assert_eq!(
        r.kinds(),
        ["upstream_lost", "disconnected"],
        "{:?}",
        r.events
    );
    let lost = &r.events[0];
    assert_eq!(lost["upstream"], 64500);
    assert_eq!(lost["upstreams"], serde_json::json!([64501]));
    let t = epoch(&lost["time"]);
    assert!((at(10, 0)..at(10, 1)).contains(&t), "{}", lost["time"]);
    let gone = &r.events[1];
    assert_eq!(gone["last_upstreams"], serde_json::json!([64501]));
    assert_eq!(gone["evidence"]["eligible_peers"], 10);
    let t = epoch(&gone["time"]);
    assert!((at(14, 30)..at(14, 31)).contains(&t), "{}", gone["time"]);

    // The reference reader reads every RIB entry the scan counted.
    let rib = data.join("RIBS/rib.20261101.0000.bz2");
    if let Some(bin) = bgpdump() {
        let lines = bgpdump_lines(&bin, &rib);
        let first = &s["files"][0];
        assert_eq!(first["kind"], "Rib");
        assert_eq!(serde_json::json!(lines.len()), first["rib_entries"]);
        assert!(
            lines.iter().any(|l| l.contains(" 64500 64511|")),
            "a route via AS64500"
        );
        // Disconnected when the last full feed, of either family, withdrew the AS.
        let cut = data.join("UPDATES/updates.20261101.1430.bz2");
        assert_eq!(
            Some(t),
            last_full_feed_withdrawal(&bgpdump_lines(&bin, &cut))
        );
    }

    // Four partitions of six hours, the later ones given the watched prefixes (as the first
    // partition learns them); merged in a shuffled order.
    let mut updates: Vec<PathBuf> = std::fs::read_dir(data.join("UPDATES"))
        .expect("updates")
        .map(|e| e.expect("entry").path())
        .collect();
    updates.sort();
    let mut known: Vec<String> = (0..16)
        .flat_map(|i| ["--known-prefix".into(), format!("100.64.{i}.0/24")])
        .collect();
    known.extend((0..4).flat_map(|i| ["--known-prefix".into(), format!("2001:db8:64:{i}::/48")]));
    let mut partials = Vec::new();
    for (p, files) in updates.chunks(24).enumerate() {
        let out = tmp.path().join(format!("p{p}.parquet"));
        let mut c = cutoff();
        c.args(["scan", "--asn", "64511", "--partial"]).arg(&out);
        if p == 0 {
            c.arg(&rib);
        } else {
            c.args(&known);
        }
        succeeds(c.args(files));
        partials.push(out);
    }
    partials.swap(0, 3);
    let merged = succeeds(
        cutoff()
            .args(["merge", "--format", "jsonl"])
            .args(&partials),
    );
    assert_eq!(
        without_elapsed(&merged.stdout),
        without_elapsed(&whole.stdout)
    );
}
