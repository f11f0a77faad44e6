//! Reading the archives through a real HTTP/1.1 server on 127.0.0.1 that serves the samples in
//! the RouteViews and RIS layouts, with autoindex listings, and misbehaves on demand. Nothing
//! here touches the internet.

mod common;
use common::http::*;
use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

const MCCOLO: &str = "mccolo-2008-11";
const UPD: &str = "/rv/bgpdata/2008.11/UPDATES/";

fn rv_server() -> Server {
    Server::start(&[("/rv/", root().join("samples").join(MCCOLO))])
}

/// The YouTube sample recompressed with gzip in the RIS layout (`rrc00/2008.02/…gz`).
fn ris_copy(dir: &Path) -> PathBuf {
    let month = dir.join("ris/rrc00/2008.02");
    std::fs::create_dir_all(&month).expect("mkdir");
    let src = root().join("samples/routeviews-2008-02-24/bgpdata/2008.02/UPDATES");
    for e in std::fs::read_dir(&src)
        .expect("sample")
        .map_while(Result::ok)
    {
        let name = e.file_name().to_string_lossy().replace(".bz2", ".gz");
        let mut raw = Vec::new();
        bzip2::read::MultiBzDecoder::new(std::fs::File::open(e.path()).expect("open"))
            .read_to_end(&mut raw)
            .expect("sample decompresses");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).expect("gzip");
        std::fs::write(month.join(name), gz.finish().expect("gzip")).expect("write");
    }
    dir.join("ris")
}

/// `cutoff ARGS --format jsonl` with quick timeouts and retries for tests.
fn scan_archive(args: &[&str], cache: &Path) -> ScanResult {
    let mut all: Vec<&str> = args.to_vec();
    let cache = cache.display().to_string();
    all.extend([
        "--cache-dir",
        &cache,
        "--timeout",
        "1s",
        "--retry-delay",
        "20ms",
    ]);
    scan(&all)
}

/// Events without the paths of the files they came from (local and cache paths differ).
fn comparable(events: &[Value]) -> Vec<Value> {
    fn strip(v: &Value) -> Value {
        match v {
            Value::String(s) if s.contains('/') => {
                Value::String(s.rsplit('/').next().unwrap_or("").to_string())
            }
            Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
            Value::Object(o) => {
                Value::Object(o.iter().map(|(k, v)| (k.clone(), strip(v))).collect())
            }
            other => other.clone(),
        }
    }
    events.iter().map(strip).collect()
}

fn same_counts(a: &ScanResult, b: &ScanResult) {
    for key in [
        "files_read",
        "records",
        "elements",
        "truncated_records",
        "sessions",
    ] {
        assert_eq!(a.summary[key], b.summary[key], "{key}");
    }
}

#[test]
fn scan_through_a_misbehaving_server_matches_the_local_scan() {
    let server = rv_server();
    let cache = tempfile::tempdir().expect("tempdir");
    let cut = format!("{UPD}updates.20081111.2115.bz2");
    let cut_len = std::fs::metadata(
        root()
            .join("samples")
            .join(MCCOLO)
            .join("bgpdata/2008.11/UPDATES/updates.20081111.2115.bz2"),
    )
    .expect("sample")
    .len();
    server.trick(
        &format!("{UPD}updates.20081111.2130.bz2"),
        &[Trick::Status(500), Trick::Status(503)],
    );
    server.trick(&cut, &[Trick::Cut(cut_len as usize / 2)]);
    server.trick(
        &format!("{UPD}updates.20081111.2145.bz2"),
        &[Trick::Stall(Duration::from_secs(4))],
    );
    server.trick(
        &format!("{UPD}updates.20081112.0000.bz2"),
        &[Trick::WrongLength(100)],
    );
    server.trick(
        &format!("{UPD}updates.20081112.0015.bz2"),
        &[Trick::WrongLength(-100)],
    );
    server.trick("/rv/bgpdata/2008.11/RIBS/", &[Trick::Status(502)]);
    let range = [
        "--asn",
        "26780",
        "--from",
        "2008-11-10",
        "--to",
        "2008-11-16T00:00:00Z",
    ];

    let mut args = range.to_vec();
    let rv = server.url("/rv");
    args.extend(["--collector", "route-views2", "--routeviews-url", &rv]);
    let remote = scan_archive(&args, cache.path());
    let mut local_args = range.to_vec();
    let samples = sample(MCCOLO);
    local_args.push(&samples);
    let local = scan(&local_args);

    assert_eq!(remote.code, 0, "{}", remote.stderr);
    assert_eq!(
        remote.summary["gaps"],
        Value::Array(vec![]),
        "{}",
        remote.stderr
    );
    assert_eq!(comparable(&remote.events), comparable(&local.events));
    assert_eq!(remote.kinds()[0], "disconnected");
    assert_eq!(remote.events[0]["time"], "2008-11-11T21:33:00Z");
    same_counts(&remote, &local);
    assert_eq!(remote.summary["files_read"], 577);

    // Every file was asked for once, the tricked ones again, and no more.
    assert_eq!(
        server
            .requests(&format!("{UPD}updates.20081111.2130.bz2"))
            .len(),
        3
    );
    assert_eq!(
        server
            .requests(&format!("{UPD}updates.20081111.1000.bz2"))
            .len(),
        1
    );
    // The cut file resumed where it was cut, and is byte-identical.
    assert_eq!(server.requests(&cut), vec![None, Some(cut_len / 2)]);
    let cached = std::fs::read(
        cache
            .path()
            .join("routeviews/bgpdata/2008.11/UPDATES/updates.20081111.2115.bz2"),
    )
    .expect("cached");
    let original = std::fs::read(
        root()
            .join("samples")
            .join(MCCOLO)
            .join("bgpdata/2008.11/UPDATES/updates.20081111.2115.bz2"),
    )
    .expect("sample");
    assert!(
        cached == original,
        "the resumed file differs from the original"
    );
    // Claimed too long: resumed at the end (416), then fetched whole.
    assert_eq!(
        server
            .requests(&format!("{UPD}updates.20081112.0000.bz2"))
            .len(),
        3
    );
    assert_eq!(
        server
            .requests(&format!("{UPD}updates.20081112.0015.bz2"))
            .len(),
        2
    );
    let partials = walk_names(cache.path())
        .into_iter()
        .filter(|n| n.ends_with(".partial"))
        .count();
    assert_eq!(partials, 0);

    // Offline, from the cache, without the server: the same answer.
    let before = server.total_requests();
    let offline = scan_archive(
        &[
            &range[..],
            &[
                "--collector",
                "route-views2",
                "--offline",
                "--routeviews-url",
                "http://127.0.0.1:9/",
            ],
        ]
        .concat(),
        cache.path(),
    );
    assert_eq!(offline.code, 0, "{}", offline.stderr);
    assert_eq!(comparable(&offline.events), comparable(&local.events));
    same_counts(&offline, &local);
    assert_eq!(server.total_requests(), before);
}

fn walk_names(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("dir").map_while(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_names(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

#[test]
fn missing_files_and_listings_are_named_gaps_and_exit_3() {
    let server = rv_server();
    let cache = tempfile::tempdir().expect("tempdir");
    let lost = format!("{UPD}updates.20081111.2300.bz2");
    let broken = format!("{UPD}updates.20081111.2315.bz2");
    server.gone(&lost);
    server.trick(&broken, &[Trick::Status(500); 3]);
    let (rv, ris) = (server.url("/rv"), server.url("/ris"));
    let r = scan_archive(
        &[
            "--asn",
            "26780",
            "--from",
            "2008-11-10",
            "--to",
            "2008-11-12",
            "--collector",
            "route-views2",
            "--collector",
            "rrc00",
            "--routeviews-url",
            &rv,
            "--ris-url",
            &ris,
            "--retries",
            "2",
        ],
        cache.path(),
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    let gaps = r.summary["gaps"].as_array().expect("gaps");
    let problem = |needle: &str| {
        gaps.iter()
            .filter(|g| g["problem"].as_str().unwrap_or("").contains(needle))
            .count()
    };
    assert_eq!(
        problem(&format!(
            "{rv}/bgpdata/2008.11/UPDATES/updates.20081111.2300.bz2: not found (HTTP 404"
        )),
        1,
        "{gaps:#?}"
    );
    assert_eq!(
        problem("updates.20081111.2315.bz2: HTTP 500"),
        1,
        "{gaps:#?}"
    );
    assert_eq!(problem("gave up after 3 tries"), 1, "{gaps:#?}");
    // RIS has no rrc00/2008.11 here: the missing listing is one gap of rrc00.
    assert_eq!(
        problem(&format!("listing {ris}/rrc00/2008.11/")),
        1,
        "{gaps:#?}"
    );
    assert_eq!(gaps.len(), 3, "{gaps:#?}");
    assert!(gaps.iter().any(|g| g["collector"] == "rrc00"));
    assert!(
        r.stderr.contains("updates.20081111.2300.bz2"),
        "{}",
        r.stderr
    );
    // 404 is not retried; 500 is, as often as asked.
    assert_eq!(server.requests(&lost).len(), 1);
    assert_eq!(server.requests(&broken).len(), 3);
    // The cut-off before the gaps is still found; the files after them were still read.
    assert_eq!(r.events[0]["event"], "disconnected");
    assert_eq!(r.events[0]["time"], "2008-11-11T21:33:00Z");
    // route-views2: the RIB and 193 update files (00:00 on the 12th included), failed ones
    // too; rrc00: its missing listing.
    assert_eq!(r.summary["files_read"], 1 + 193 + 1);
}

#[test]
fn fetch_then_offline_scan_of_a_ris_layout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&[("/ris/", ris_copy(dir.path()))]);
    let cache = dir.path().join("cache");
    let cache_s = cache.display().to_string();
    let ris = server.url("/ris");
    let range = [
        "--from",
        "2008-02-24T18:00:00Z",
        "--to",
        "2008-02-24T22:15:00Z",
    ];
    let fetch = |to: &str, extra: &[&str]| {
        let out = cutoff()
            .arg("fetch")
            .args([range[0], range[1], "--to", to])
            .args([
                "--collector",
                "rrc00",
                "--ris-url",
                &ris,
                "--cache-dir",
                &cache_s,
                "--retry-delay",
                "10ms",
            ])
            .args(extra)
            .output()
            .expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = fetch(range[3], &[]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("got ")).count(),
        16,
        "{text}"
    );
    assert!(
        text.lines().last().unwrap_or("").contains("16 downloaded"),
        "{text}"
    );
    let (code, text) = fetch(range[3], &["--offline"]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("cached ")).count(),
        16,
        "{text}"
    );

    let offline = scan(&[
        "--asn",
        "17557",
        range[0],
        range[1],
        range[2],
        range[3],
        "--collector",
        "rrc00",
        "--offline",
        "--cache-dir",
        &cache_s,
        "--ris-url",
        "http://127.0.0.1:9/",
    ]);
    let youtube = sample("routeviews-2008-02-24");
    let local = scan(&[
        "--asn", "17557", range[0], range[1], range[2], range[3], &youtube,
    ]);
    assert_eq!(offline.code, 0, "{}", offline.stderr);
    assert!(!offline.events.is_empty());
    let when = |r: &ScanResult| -> Vec<(Value, Value)> {
        r.events
            .iter()
            .map(|e| (e["event"].clone(), e["time"].clone()))
            .collect()
    };
    assert_eq!(when(&offline), when(&local));
    same_counts(&offline, &local);
    assert_eq!(offline.summary["collectors"], serde_json::json!(["rrc00"]));

    // Asking for hours the archive does not have: a named gap, exit 3.
    let (code, text) = fetch("2008-02-25T02:00:00Z", &["--offline"]);
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains(
            "missing  rrc00  no update file from 2008-02-24T22:11:00Z to 2008-02-25T02:00:00Z"
        ),
        "{text}"
    );
}

#[test]
fn collectors_lists_the_catalog() {
    let out = cutoff()
        .args(["collectors", "--format", "jsonl"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let rows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let default: Vec<&str> = rows
        .iter()
        .filter(|r| r["default"] == true)
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(default, ["route-views2", "rrc00"]);
    assert!(
        rows.iter()
            .any(|r| r["name"] == "rrc02" && r["last_year"] == 2008)
    );
    let bad = cutoff()
        .args([
            "fetch",
            "--from",
            "2008-11-10",
            "--to",
            "2008-11-11",
            "--collector",
            "linx",
            "--offline",
        ])
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("\"linx\" is not a RouteViews or RIS collector")
    );
}

#[test]
fn cache_location_and_mode_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let fetch = |env: &[(&str, String)]| {
        let mut cmd = cutoff();
        cmd.args([
            "fetch",
            "--from",
            "2008-11-10",
            "--to",
            "2008-11-10T01:00:00Z",
        ])
        .args(["--collector", "rrc00", "--offline"])
        .env_remove("CACHE_DIRECTORY")
        .env_remove("XDG_CACHE_HOME");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    // Nothing cached offline: the listing is missing, a gap, exit 3; the cache is systemd's first.
    let (code, text) = fetch(&[("CACHE_DIRECTORY", format!("{d}/sd:{d}/other"))]);
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("listing not in the cache (--offline)"),
        "{text}"
    );
    assert!(
        text.trim_end().ends_with(&format!("cache {d}/sd")),
        "{text}"
    );
    let (_, text) = fetch(&[("XDG_CACHE_HOME", format!("{d}/xdg"))]);
    assert!(
        text.trim_end().ends_with(&format!("cache {d}/xdg/cutoff")),
        "{text}"
    );
    let (_, text) = fetch(&[("HOME", d.clone())]);
    assert!(
        text.trim_end()
            .ends_with(&format!("cache {d}/.cache/cutoff")),
        "{text}"
    );

    let cases: [(&[&str], &str); 3] = [
        (&["scan", "--asn", "1"], "--from and --to"),
        (
            &[
                "scan",
                "--asn",
                "1",
                "--collector",
                "rrc00",
                "samples/mccolo-2008-11",
            ],
            "with PATH use NAME=PATH",
        ),
        (
            &[
                "scan",
                "--asn",
                "1",
                "--from",
                "2008-11-10",
                "--to",
                "2008-11-11",
                "--jobs",
                "0",
            ],
            "--jobs must be at least 1",
        ),
    ];
    assert_usage_errors(cases);
}

/// A cached listing is final only if it was taken a day after its month ended: one taken
/// during the month misses the files published after it and is asked for again.
#[test]
fn a_listing_cached_during_its_month_is_fetched_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&[("/ris/", ris_copy(dir.path()))]);
    let cache = dir.path().join("cache");
    let cache_s = cache.display().to_string();
    let ris = server.url("/ris");
    let fetch = || {
        let out = cutoff()
            .args(["fetch", "--from", "2008-02-24T18:00:00Z", "--to"])
            .args(["2008-02-24T18:30:00Z", "--collector", "rrc00"])
            .args(["--ris-url", &ris, "--cache-dir", &cache_s])
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(0));
    };
    let listing_path = "/ris/rrc00/2008.02/";
    fetch();
    assert_eq!(server.requests(listing_path).len(), 1);
    let copy = cache.join("ris/rrc00/2008.02/.listing.html");
    let set_taken = |t: std::time::SystemTime| {
        std::fs::File::options()
            .write(true)
            .open(&copy)
            .expect("cached listing")
            .set_modified(t)
            .expect("set mtime");
    };
    // Taken now (long after February 2008): final, not asked for again.
    fetch();
    assert_eq!(server.requests(listing_path).len(), 1);
    // Taken on 2008-02-25, during its month: asked for again.
    set_taken(std::time::UNIX_EPOCH + Duration::from_secs(1_203_897_600));
    fetch();
    assert_eq!(server.requests(listing_path).len(), 2);
}

/// A mirror of the update files without the RIBS folder: its listing answers 404. Without a
/// RIB the baseline is partial (as with local files), said once on stderr; it is not a gap
/// that blinds the collector, so the scan finds what the same files read locally find.
#[test]
fn a_mirror_without_a_ribs_folder_is_read_without_a_rib_not_as_a_gap() {
    let server = Server::start(&[("/rv/", root().join("samples/routeviews-2008-02-24"))]);
    let cache = tempfile::tempdir().expect("tempdir");
    let rv = server.url("/rv");
    let range = [
        "--asn",
        "17557",
        "--from",
        "2008-02-24T18:00:00Z",
        "--to",
        "2008-02-24T22:10:00Z",
    ];
    let mut args = range.to_vec();
    args.extend(["--collector", "route-views2", "--routeviews-url", &rv]);
    let remote = scan_archive(&args, cache.path());
    assert_eq!(remote.code, 0, "{}", remote.stderr);
    assert_eq!(
        remote.summary["gaps"],
        Value::Array(vec![]),
        "{}",
        remote.stderr
    );
    assert_eq!(remote.summary["partial_baseline"], true);
    assert_eq!(
        remote.summary["collectors_without_rib"],
        serde_json::json!(["route-views2"])
    );
    let warning = format!("no RIB (listing {rv}/bgpdata/2008.02/RIBS/: not found (HTTP 404");
    assert!(remote.stderr.contains(&warning), "{}", remote.stderr);

    let samples = sample("routeviews-2008-02-24");
    let mut local_args = range.to_vec();
    local_args.push(&samples);
    let local = scan(&local_args);
    assert!(
        local.kinds().contains(&"upstream_lost".to_string()),
        "PCCW's cut is found: {:?}",
        local.kinds()
    );
    assert_eq!(comparable(&remote.events), comparable(&local.events));
    same_counts(&remote, &local);
}

/// `cutoff fetch` of rrc00 2008-02-24 18:00–18:45 (three files) from `ris` into `cache`, with quick limits
/// for tests and `extra` flags; stdout and stderr together, and the exit code.
fn fetch_ris(ris: &str, cache: &Path, extra: &[&str]) -> (String, i32) {
    let out = cutoff()
        .args(["fetch", "--from", "2008-02-24T18:00:00Z", "--to"])
        .args([
            "2008-02-24T18:45:00Z",
            "--collector",
            "rrc00",
            "--ris-url",
            ris,
        ])
        .arg("--cache-dir")
        .arg(cache)
        .args(["--timeout", "1s", "--retry-delay", "20ms", "--retries", "1"])
        .args(extra)
        // A hang is the failure these tests look for: stop it well before a CI timeout.
        .timeout(Duration::from_secs(60))
        .output()
        .expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (text, out.status.code().unwrap_or(-1))
}

#[test]
fn a_drip_an_endless_body_and_a_long_retry_after_end_as_named_problems() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&[("/ris/", ris_copy(dir.path()))]);
    let ris = server.url("/ris");
    let month = "/ris/rrc00/2008.02/";
    let (drip, endless, busy) = (
        format!("{month}updates.20080224.1807.gz"),
        format!("{month}updates.20080224.1824.gz"),
        format!("{month}updates.20080224.1839.gz"),
    );
    // Every 100 ms: never silent for the 1 s timeout, so only the rate ends it.
    server.trick(&drip, &[Trick::Drip(Duration::from_millis(100)); 2]);
    server.trick(&endless, &[Trick::Endless; 2]);
    server.trick(&busy, &[Trick::RetryAfter(100_000)]);
    let started = std::time::Instant::now();
    let (out, code) = fetch_ris(
        &ris,
        &dir.path().join("cache"),
        &[
            "--min-rate",
            "1MiB",
            "--max-file-size",
            "2MiB",
            "--max-retry-wait",
            "1s",
        ],
    );
    assert_eq!(code, 3, "{out}");
    assert!(started.elapsed() < Duration::from_secs(40), "{out}");
    let missing = |name: &str, needle: &str| {
        out.lines()
            .any(|l| l.starts_with("missing") && l.contains(name) && l.contains(needle))
    };
    assert!(missing(&drip, "too slow"), "{out}");
    assert!(missing(&drip, "--min-rate"), "{out}");
    assert!(
        missing(&endless, "larger than the 2MiB allowed (--max-file-size)"),
        "{out}"
    );
    // A file refused for its size is not retried, and leaves no partial download behind.
    assert_eq!(server.requests(&endless).len(), 1);
    assert!(
        !walk_names(&dir.path().join("cache"))
            .iter()
            .any(|n| n.ends_with(".partial") && n.contains("1824"))
    );
    // Retry-After is honoured up to the cap, and the cap is said.
    assert!(out.contains("asks to retry after 100000s"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("got") && l.contains("1839")),
        "{out}"
    );
}

#[test]
fn an_endless_listing_is_a_named_gap_not_buffered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&[("/ris/", ris_copy(dir.path()))]);
    let ris = server.url("/ris");
    server.trick("/ris/rrc00/2008.02/", &[Trick::Endless; 2]);
    let (out, code) = fetch_ris(
        &ris,
        &dir.path().join("cache"),
        &["--max-listing-size", "64KiB"],
    );
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains(&format!("listing {ris}/rrc00/2008.02/"))
            && out.contains("larger than the 64KiB allowed (--max-listing-size)"),
        "{out}"
    );
    // Refused once, not fetched again on each retry.
    assert_eq!(server.requests("/ris/rrc00/2008.02/").len(), 1);
}

#[test]
fn an_empty_or_undecodable_listing_is_not_cached() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&[("/ris/", ris_copy(dir.path()))]);
    let ris = server.url("/ris");
    let listing = "/ris/rrc00/2008.02/";
    let cache = dir.path().join("cache");
    let bad: [&'static [u8]; 3] = [
        b"<html><body>No files</body></html>",
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03",
        b"\xff\xfe<\x00a\x00>\x00",
    ];
    for (i, body) in bad.into_iter().enumerate() {
        server.trick(listing, &[Trick::Body(body)]);
        let (out, code) = fetch_ris(&ris, &cache, &[]);
        assert_eq!(code, 3, "{out}");
        assert!(out.contains(&format!("{ris}/rrc00/2008.02/")), "{out}");
        // A healthy server next: asked again (a past month's good listing would be final).
        let (out, code) = fetch_ris(&ris, &cache, &[]);
        assert_eq!(code, 0, "{out}");
        assert_eq!(server.requests(listing).len(), 2 * (i + 1), "{out}");
        std::fs::remove_dir_all(&cache).expect("clear the cache");
    }
}

#[test]
fn a_gap_found_in_a_cached_listing_names_the_copy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&[("/ris/", ris_copy(dir.path()))]);
    let ris = server.url("/ris");
    let cache = dir.path().join("cache");
    assert_eq!(fetch_ris(&ris, &cache, &[]).1, 0);
    // The copy loses a file (as a copy taken from a mirror that lacked it would).
    let copy = cache.join("ris/rrc00/2008.02/.listing.html");
    let html = std::fs::read_to_string(&copy).expect("cached listing");
    let kept: Vec<&str> = html.lines().filter(|l| !l.contains("1824")).collect();
    std::fs::write(&copy, kept.join("\n")).expect("write");
    std::fs::remove_file(cache.join("ris/rrc00/2008.02/updates.20080224.1824.gz")).expect("rm");
    let (out, code) = fetch_ris(&ris, &cache, &[]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains(&format!("as cached at {}", copy.display())),
        "{out}"
    );
}

/// A stretch of files missing from a cache filled from a mirror: offline, the gap names the
/// cache (not the archive's URL, which was never used), and the stretch is one line, printed
/// once: in the table's summary, or on stderr when stdout is JSON.
#[test]
fn an_offline_stretch_of_missing_files_is_one_line_naming_the_cache() {
    let server = rv_server();
    let cache = tempfile::tempdir().expect("tempdir");
    let range = ["--from", "2008-11-10", "--to", "2008-11-11T12:00:00Z"];
    let fetched = cutoff()
        .arg("fetch")
        .args(range)
        .args(["--collector", "route-views2", "--routeviews-url"])
        .arg(server.url("/rv"))
        .arg("--cache-dir")
        .arg(cache.path())
        .timeout(Duration::from_secs(60))
        .output()
        .expect("runs");
    assert_eq!(fetched.status.code(), Some(0), "{fetched:?}");
    // The morning of the 11th (00:00 to 05:45, 24 files) goes missing.
    let dir = cache.path().join("routeviews/bgpdata/2008.11/UPDATES");
    for h in 0..6 {
        for m in ["00", "15", "30", "45"] {
            std::fs::remove_file(dir.join(format!("updates.20081111.{h:02}{m}.bz2")))
                .expect("cached file");
        }
    }
    let offline = |format: &str| {
        cutoff()
            .args(["scan", "--asn", "26780", "--collector", "route-views2"])
            .args(range)
            .args(["--offline", "--format", format, "--cache-dir"])
            .arg(cache.path())
            .timeout(Duration::from_secs(60))
            .output()
            .expect("runs")
    };
    let first = dir.join("updates.20081111.0000.bz2");
    let run_line = format!(
        "route-views2: 24 consecutive files from {} to updates.20081111.0545.bz2: not in the cache (--offline)",
        first.display()
    );
    let table = offline("table");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&table.stdout),
        String::from_utf8_lossy(&table.stderr),
    );
    assert_eq!(table.status.code(), Some(3), "{stderr}");
    let gaps: Vec<&str> = stdout.lines().filter(|l| l.starts_with("Gap: ")).collect();
    assert_eq!(gaps, [format!("Gap: {run_line}")], "{stdout}");
    assert!(!stderr.contains("updates.20081111"), "said twice: {stderr}");
    for text in [&stdout, &stderr] {
        assert!(!text.contains("routeviews.org"), "{text}");
    }
    let json = offline("jsonl");
    let stdout = String::from_utf8_lossy(&json.stdout);
    let stderr = String::from_utf8_lossy(&json.stderr);
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.contains("updates.2008"))
            .count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains(&run_line), "{stderr}");
    // The summary still lists every file, each naming its place in the cache.
    let summary: Value =
        serde_json::from_str(stdout.lines().last().expect("summary")).expect("JSON");
    let listed = summary["gaps"].as_array().expect("gaps");
    assert_eq!(listed.len(), 24);
    assert_eq!(
        listed[0]["problem"],
        format!("{}: not in the cache (--offline)", first.display())
    );
}

/// A range that ends in the future is read up to now, and that is said once.
#[test]
fn a_range_ending_in_the_future_says_it_is_read_up_to_now() {
    let empty = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&[("/rv/", empty.path().to_path_buf())]);
    let now = chrono::Utc::now();
    let from = (now - chrono::Duration::hours(2)).format("%Y-%m-%dT%H:%M:00Z");
    let to = (now + chrono::Duration::days(40)).format("%Y-%m-%d");
    let out = cutoff()
        .args(["fetch", "--collector", "route-views2", "--routeviews-url"])
        .arg(server.url("/rv"))
        .args(["--from", &from.to_string(), "--to", &to.to_string()])
        .arg("--cache-dir")
        .arg(empty.path().join("cache"))
        .args(["--timeout", "1s", "--retry-delay", "20ms", "--retries", "1"])
        .timeout(Duration::from_secs(60))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr
            .matches(&format!("the range ends in the future ({to}T00:00:00Z)"))
            .count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("read up to now"), "{stderr}");
}

/// Run `cutoff ARGS` until its stderr says `want` or `limit` passes; then stop it. Returns
/// what stderr said and how long that took.
fn stderr_until(args: &[String], want: &str, limit: Duration) -> (String, Duration) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cutoff"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    let err = child.stderr.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let start = std::time::Instant::now();
    let mut said = String::new();
    while !said.contains(want) {
        let left = limit.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => said.push_str(&(line + "\n")),
            Err(_) => break,
        }
    }
    let took = start.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    (said, took)
}

fn unanswered_scan(url: &str, cache: &Path) -> Vec<String> {
    [
        "scan",
        "--asn",
        "26780",
        "--from",
        "2008-11-10",
        "--to",
        "2008-11-11",
        "--collector",
        "route-views2",
        "--routeviews-url",
        url,
        "--timeout",
        "60s",
        "--retry-delay",
        "30s",
        "--cache-dir",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([cache.display().to_string()])
    .collect()
}

/// Without a terminal (no status line), a run whose server refuses or never answers says
/// which URL it waits for and that it will retry, long before the retries run out (minutes).
#[test]
fn a_server_that_refuses_or_never_answers_is_said_before_the_retries() {
    let cache = tempfile::tempdir().expect("tempdir");
    // Refused: a port that was just free.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let refused = format!("http://127.0.0.1:{port}");
    let (said, took) = stderr_until(
        &unanswered_scan(&refused, cache.path()),
        "retrying in",
        Duration::from_secs(20),
    );
    assert!(took < Duration::from_secs(10), "{took:?}: {said}");
    assert!(
        said.contains(&format!("{refused}/bgpdata/2008.11/")),
        "{said}"
    );
    assert!(said.contains("(try 2 of 6)"), "{said}");
    // Never answers: connections are taken (the backlog) and nothing is ever said.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", silent.local_addr().expect("addr"));
    let (said, took) = stderr_until(
        &unanswered_scan(&url, cache.path()),
        "then retrying",
        Duration::from_secs(30),
    );
    assert!(took < Duration::from_secs(15), "{took:?}: {said}");
    assert!(said.contains(&format!("{url}/bgpdata/2008.11/")), "{said}");
    assert!(said.contains("waiting up to 60s"), "{said}");
    drop(silent);
}
