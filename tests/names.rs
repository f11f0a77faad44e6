//! `cutoff names fetch` against a real HTTP server on 127.0.0.1 serving a small asn.txt, and
//! the reports and monitor alerts that then name ASes from it. Nothing here touches the
//! internet.

mod common;
use common::http::*;
use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// RIPE's format, names unlike those of samples/as-names.txt (so a test can tell which list a
/// report used), a line that is not a name, and a comment.
const ASN_TXT: &str = "# test list\n\
0 -Reserved AS-, ZZ\n\
26780 MCCOLO - McColo Corporation, US\n\
6939 HURRICANE - Hurricane Electric LLC, US\n\
3549 LVLT-3549 - Level 3 Parent, LLC, US\n\
1299 TWELVE99 Arelion, fka Telia Carrier, SE\n\
not a name line\n";

const MODIFIED: &str = "Sun, 29 Nov 2026 06:00:00 GMT";

struct Setup {
    dir: tempfile::TempDir,
    server: Server,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let www = dir.path().join("www");
        std::fs::create_dir_all(&www).expect("mkdir");
        std::fs::write(www.join("asn.txt"), ASN_TXT).expect("write");
        let server = Server::start(&[("/ripe/", www)]);
        Setup { dir, server }
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    fn url(&self) -> String {
        self.server.url("/ripe/asn.txt")
    }

    /// `cutoff names fetch` from `url` into the cache, quick to give up.
    fn fetch(&self, url: &str) -> (i32, String, String) {
        let o = cutoff()
            .args(["names", "fetch", "--url", url, "--cache-dir"])
            .arg(self.cache())
            .args(["--timeout", "2s", "--retries", "0"])
            .timeout(Duration::from_secs(60))
            .output()
            .expect("runs");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    fn show(&self, asns: &[&str]) -> String {
        let o = cutoff()
            .args(["names", "show"])
            .args(asns)
            .arg("--cache-dir")
            .arg(self.cache())
            .output()
            .expect("runs");
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Files in CACHE/names.
    fn stored(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.cache().join("names"))
            .expect("names folder")
            .map_while(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

#[test]
fn fetch_stores_the_list_with_its_source_and_date() {
    let s = Setup::new();
    s.server
        .trick("/ripe/asn.txt", &[Trick::LastModified(MODIFIED)]);
    let (code, out, err) = s.fetch(&s.url());
    assert_eq!(code, 0, "{err}");
    // Five names (AS0 included); the line that is not one is counted and named, not fatal.
    assert!(out.starts_with("stored 5 AS names ("), "{out}");
    assert!(out.contains("1 line(s) skipped"), "{out}");
    assert!(out.contains(&format!("Last-Modified {MODIFIED}")), "{out}");
    assert!(err.contains("line 7: \"not\" is not an AS number"), "{err}");
    let files = s.stored();
    assert_eq!(files.len(), 2, "one list and its record: {files:?}");
    assert!(
        files[0].starts_with("asn-") && files[1] == "asn.json",
        "{files:?}"
    );
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(s.cache().join("names/asn.json")).expect("record"),
    )
    .expect("JSON");
    assert_eq!(record["url"], s.url());
    assert_eq!(record["names"], 5);
    assert_eq!(record["bad_lines"], 1);
    assert_eq!(record["last_modified"], MODIFIED);
    assert_eq!(record["bytes"], ASN_TXT.len());
    let fetched = record["fetched"].as_str().expect("a time");
    let age = chrono::Utc::now()
        - chrono::DateTime::parse_from_rfc3339(fetched)
            .expect("RFC 3339")
            .to_utc();
    assert!(age.num_seconds().abs() < 120, "fetched {fetched}");
    assert_eq!(
        std::fs::read_to_string(s.cache().join("names").join(&files[0])).expect("list"),
        ASN_TXT,
        "the list is kept as downloaded"
    );

    let shown = s.show(&["26780", "AS1299", "64500"]);
    assert!(
        shown.contains("AS26780\tMCCOLO - McColo Corporation\n"),
        "{shown}"
    );
    assert!(
        shown.contains("AS1299\tTWELVE99 Arelion, fka Telia Carrier\n"),
        "{shown}"
    );
    assert!(shown.contains("AS64500\t(not in the list)\n"), "{shown}");
    assert!(shown.contains(&format!("from {}", s.url())), "{shown}");

    // A second fetch replaces the first: still one list.
    let (code, _, err) = s.fetch(&s.url());
    assert_eq!(code, 0, "{err}");
    assert_eq!(s.stored().len(), 2, "{:?}", s.stored());
    assert_ne!(s.stored()[0], files[0], "a new file, the old one removed");
}

#[test]
fn a_failed_fetch_names_the_url_and_keeps_the_earlier_list() {
    let s = Setup::new();
    assert_eq!(s.fetch(&s.url()).0, 0);
    let before = s.stored();
    let record = std::fs::read(s.cache().join("names/asn.json")).expect("record");
    // A port nobody listens on: bound, then let go.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}/asn.txt", l.local_addr().expect("addr"))
    };
    let html: &[u8] = b"<!DOCTYPE html>\n<html><body><h1>Maintenance</h1></body></html>\n";
    let cut_line: &[u8] = b"26780 MCCOLO - McColo Corporation, US\n6939 HURRIC";
    let cases: Vec<(&str, Option<Trick>, String, &str)> = vec![
        (
            "404",
            None,
            s.server.url("/ripe/gone.txt"),
            "not found (HTTP 404",
        ),
        ("unreachable", None, closed.clone(), "request failed"),
        (
            "HTML",
            Some(Trick::Body(html)),
            s.url(),
            "an HTML page, not an AS-name list",
        ),
        (
            "cut",
            Some(Trick::Cut(60)),
            s.url(),
            "connection lost after 60 bytes",
        ),
        // Told a shorter length, the body ends where it says: in the middle of a line.
        (
            "short",
            Some(Trick::WrongLength(-10)),
            s.url(),
            "middle of a line",
        ),
        (
            "cut at a line",
            Some(Trick::Body(cut_line)),
            s.url(),
            "middle of a line",
        ),
        (
            "server error",
            Some(Trick::Status(503)),
            s.url(),
            "HTTP 503",
        ),
        (
            "empty",
            Some(Trick::Body(b"")),
            s.url(),
            "empty: no AS names",
        ),
        // A page that happens to read as one name is not the list of five.
        (
            "much smaller",
            Some(Trick::Body(b"404 Not Found\n")),
            s.url(),
            "only 1 name(s), against 5",
        ),
    ];
    for (what, trick, url, want) in cases {
        if let Some(t) = trick {
            s.server.trick("/ripe/asn.txt", &[t]);
        }
        let (code, out, err) = s.fetch(&url);
        assert_eq!(code, 2, "{what}: {out}{err}");
        assert!(
            err.contains(&format!("{url}: ")),
            "{what}: the URL is named: {err}"
        );
        assert!(err.contains(want), "{what}: {want:?} not in {err}");
        assert!(
            err.contains("the list cached before (asn.txt fetched ") && err.contains("is kept"),
            "{what}: {err}"
        );
        assert_eq!(s.stored(), before, "{what}: nothing added or left behind");
        assert_eq!(
            std::fs::read(s.cache().join("names/asn.json")).expect("record"),
            record,
            "{what}: the record is untouched"
        );
        assert!(
            s.show(&["26780"]).contains("MCCOLO - McColo Corporation"),
            "{what}"
        );
    }
    // --force takes a smaller list.
    s.server
        .trick("/ripe/asn.txt", &[Trick::Body(b"26780 McColo Corp.\n")]);
    let o = cutoff()
        .args([
            "names",
            "fetch",
            "--force",
            "--retries",
            "0",
            "--url",
            &s.url(),
        ])
        .arg("--cache-dir")
        .arg(s.cache())
        .output()
        .expect("runs");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(s.show(&["26780"]).contains("AS26780\tMcColo Corp.\n"));
    // With nothing cached before, the message says so.
    let other = s.dir.path().join("empty-cache");
    let o = cutoff()
        .args([
            "names",
            "fetch",
            "--retries",
            "0",
            "--url",
            &closed,
            "--cache-dir",
        ])
        .arg(&other)
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("no AS-name list is cached in"), "{err}");
    // And a URL that is not one is a usage error.
    let o = cutoff()
        .args(["names", "fetch", "--url", "ftp://example.org/asn.txt"])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not an http(s) URL"));
}

/// The McColo scan's JSON Lines, for `cutoff report --events`.
fn mccolo_events(dir: &Path) -> PathBuf {
    let o = cutoff()
        .args(["scan", "--asn", "26780", "--format", "jsonl"])
        .arg(sample("mccolo-2008-11"))
        .output()
        .expect("scan runs");
    assert_eq!(o.status.code(), Some(0));
    let p = dir.join("events.jsonl");
    std::fs::write(&p, &o.stdout).expect("write");
    p
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn reports_use_the_cached_list_unless_as_names_is_given() {
    let s = Setup::new();
    s.server
        .trick("/ripe/asn.txt", &[Trick::LastModified(MODIFIED)]);
    assert_eq!(s.fetch(&s.url()).0, 0);
    let list = s.cache().join("names").join(&s.stored()[0]);
    let events = mccolo_events(s.dir.path());
    let report = |out: &Path, extra: &[&str]| {
        let o = cutoff()
            .current_dir(root())
            .arg("report")
            .arg("--events")
            .arg(&events)
            .arg("--out")
            .arg(out)
            .args(extra)
            .output()
            .expect("runs");
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        (
            read(&out.join("report.md")),
            read(&out.join("inputs.sha256")),
        )
    };
    let cache = s.cache().display().to_string();

    // The cached list: names in the text, the list, its URL and date in the provenance,
    // and its file among the inputs.
    let (md, sums) = report(&s.dir.path().join("r1"), &["--cache-dir", &cache]);
    assert!(
        md.contains("AS6939 (HURRICANE - Hurricane Electric LLC)"),
        "{md}"
    );
    assert!(md.contains("AS26780 (MCCOLO - McColo Corporation)"), "{md}");
    let line = md
        .lines()
        .find(|l| l.contains("AS names"))
        .expect("a provenance line for the names");
    for want in [
        "5 names from asn.txt fetched ",
        &format!("from {}", s.url()),
        &format!("(Last-Modified: {MODIFIED})"),
        "not necessarily at the time of the events",
    ] {
        assert!(line.contains(want), "{want:?} not in {line}");
    }
    assert!(sums.contains(&list.display().to_string()), "{sums}");

    // --as-names wins over the cached list.
    let (md, sums) = report(
        &s.dir.path().join("r2"),
        &["--cache-dir", &cache, "--as-names", "samples/as-names.txt"],
    );
    assert!(md.contains("AS6939 (Hurricane Electric)"), "{md}");
    assert!(!md.contains("HURRICANE"), "the cached list is not used");
    let line = md
        .lines()
        .find(|l| l.contains("AS names"))
        .expect("names line");
    assert!(line.contains("samples/as-names.txt (--as-names)"), "{line}");
    assert!(!sums.contains(&list.display().to_string()), "{sums}");

    // No list anywhere: numbers, and the report says so.
    let none = s.dir.path().join("no-cache").display().to_string();
    let (md, _) = report(&s.dir.path().join("r3"), &["--cache-dir", &none]);
    assert!(
        md.contains("AS6939") && !md.contains("AS6939 ("),
        "numbers only"
    );
    assert!(md.contains("none given: ASes are shown by number"), "{md}");
}

#[test]
fn scan_report_finds_the_list_in_the_default_cache() {
    let s = Setup::new();
    assert_eq!(s.fetch(&s.url()).0, 0);
    let out = s.dir.path().join("scan-report");
    let scan_report = |extra: &[&str]| {
        let o = cutoff()
            .current_dir(root())
            .env("CACHE_DIRECTORY", s.cache())
            .args(["scan", "--asn", "26780", "--format", "jsonl", "--report"])
            .arg(&out)
            .arg(sample("mccolo-2008-11"))
            .args(extra)
            .output()
            .expect("runs");
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        read(&out.join("report.md"))
    };
    let md = scan_report(&[]);
    assert!(
        md.contains("AS6939 (HURRICANE - Hurricane Electric LLC)"),
        "{md}"
    );
    let md = scan_report(&["--as-names", "samples/as-names.txt"]);
    assert!(md.contains("AS6939 (Hurricane Electric)") && !md.contains("HURRICANE"));
}

#[test]
fn monitor_alerts_name_ases_from_the_cached_list() {
    let s = Setup::new();
    let mon = s.dir.path().join("mon");
    let updates = mon.join("mirror/bgpdata/2008.11/UPDATES");
    let ribs = mon.join("mirror/bgpdata/2008.11/RIBS");
    for d in [&updates, &ribs] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let src = PathBuf::from(sample("mccolo-2008-11/bgpdata/2008.11"));
    std::fs::copy(
        src.join("RIBS/rib.20081110.0000.bz2"),
        ribs.join("rib.20081110.0000.bz2"),
    )
    .expect("copy RIB");
    for e in std::fs::read_dir(src.join("UPDATES"))
        .expect("samples")
        .map_while(Result::ok)
    {
        let name = e.file_name().to_string_lossy().into_owned();
        // Up to 2008-11-12: the first disconnection, from its last upstream AS6939.
        if name.as_str() < "updates.20081112" {
            std::fs::copy(e.path(), updates.join(&name)).expect("copy");
        }
    }
    // No label: the alert takes the AS's name from the list.
    std::fs::write(
        mon.join("monitor.toml"),
        "state_dir = \"state\"\ncache_dir = \"cache\"\n[[watch]]\nasn = 26780\n\
         [source]\nmirror = [\"mirror\"]\nsettle = \"0s\"\n[[sink]]\ntype = \"stdout\"\n",
    )
    .expect("config");
    let o = cutoff()
        .args([
            "names",
            "fetch",
            "--retries",
            "0",
            "--url",
            &s.url(),
            "--cache-dir",
        ])
        .arg(mon.join("cache"))
        .output()
        .expect("runs");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = cutoff()
        .arg("monitor")
        .arg("--config")
        .arg(mon.join("monitor.toml"))
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let alert: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "disconnected")
        .unwrap_or_else(|| panic!("a disconnected alert in {stdout}"));
    assert_eq!(alert["label"], "MCCOLO - McColo Corporation");
    assert_eq!(alert["names"]["26780"], "MCCOLO - McColo Corporation");
    assert_eq!(alert["names"]["6939"], "HURRICANE - Hurricane Electric LLC");
}
