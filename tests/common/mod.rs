//! Helpers shared by the integration tests: run the real binary, read its JSON Lines.
#![allow(dead_code)]

pub mod http;

use assert_cmd::Command;
use serde_json::Value;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn sample(rel: &str) -> String {
    root().join("samples").join(rel).display().to_string()
}

/// Something a test needs is not here (`what` says so): a failure when `CUTOFF_REQUIRE_ORACLE`
/// is set (as `.ci/run` does), else a skip said on stderr.
pub fn absent(what: &str) {
    assert!(
        std::env::var_os("CUTOFF_REQUIRE_ORACLE").is_none(),
        "{what}"
    );
    eprintln!("SKIPPED: {what}");
}

/// The first of `paths` that exists; else [`absent`] says `what` is not installed.
pub fn installed(paths: &[&str], what: &str) -> Option<PathBuf> {
    let found = paths.iter().map(PathBuf::from).find(|p| p.exists());
    if found.is_none() {
        absent(&format!("{what} is not installed"));
    }
    found
}

/// `../shared/data/mrt` when present (CI has it); see [`absent`].
pub fn shared_mrt() -> Option<PathBuf> {
    let p = root().join("../shared/data/mrt");
    if p.is_dir() {
        return Some(p);
    }
    absent("../shared/data/mrt is not here");
    None
}

/// Debian's bgpdump, the reference reader, if installed (required under `CUTOFF_REQUIRE_ORACLE`).
pub fn bgpdump() -> Option<PathBuf> {
    installed(&["/usr/bin/bgpdump", "/usr/local/bin/bgpdump"], "bgpdump")
}

/// The fields both tools must agree on, with addresses in one notation (bgpdump prints IPv6
/// with its own inet_ntop, e.g. `2001:668::3:ffff:0:adcd:39ea`).
pub fn key(line: &str) -> String {
    let f: Vec<&str> = line.split('|').collect();
    let n = if f.first().is_some_and(|t| t.ends_with("_AP")) {
        8
    } else {
        7
    };
    f.iter()
        .take(n)
        .enumerate()
        .map(|(i, v)| match i {
            3 => v
                .parse::<IpAddr>()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| v.to_string()),
            5 => match v.split_once('/') {
                Some((a, l)) => a
                    .parse::<IpAddr>()
                    .map(|a| format!("{a}/{l}"))
                    .unwrap_or_else(|_| v.to_string()),
                None => v.to_string(),
            },
            _ => v.to_string(),
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// `bgpdump -m FILE` lines.
pub fn bgpdump_lines(bin: &Path, file: &Path) -> Vec<String> {
    let out = std::process::Command::new(bin)
        .arg("-m")
        .arg(file)
        .output()
        .expect("bgpdump runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The binary, kept away from the developer's own cache (archive files, the AS-name list
/// `cutoff names fetch` stored): the default cache is a folder of this test process's.
pub fn cutoff() -> Command {
    let mut c = Command::cargo_bin("cutoff").expect("the cutoff binary is built");
    c.env_remove("CACHE_DIRECTORY")
        .env("XDG_CACHE_HOME", test_cache());
    c
}

/// The default cache every test's `cutoff` gets: a folder of this test process's.
pub fn test_cache() -> PathBuf {
    std::env::temp_dir().join(format!("cutoff-test-cache-{}", std::process::id()))
}

pub struct ScanResult {
    pub events: Vec<Value>,
    pub summary: Value,
    pub code: i32,
    pub stderr: String,
}

impl ScanResult {
    pub fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["event"] == kind).collect()
    }
    pub fn kinds(&self) -> Vec<String> {
        self.events
            .iter()
            .map(|e| e["event"].as_str().unwrap_or("?").to_string())
            .collect()
    }
}

/// Run `cutoff scan ARGS --format jsonl` and split its output into events and the summary.
pub fn scan(args: &[&str]) -> ScanResult {
    let out = cutoff()
        .arg("scan")
        .args(args)
        .args(["--format", "jsonl"])
        .output()
        .expect("cutoff runs");
    scan_result(out)
}

/// The events and summary of a `scan --format jsonl` (or `merge`) run.
pub fn scan_result(out: std::process::Output) -> ScanResult {
    let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    let mut values: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect();
    let summary = values.pop().expect("a summary line");
    assert_eq!(summary["type"], "summary", "the last line is the summary");
    ScanResult {
        events: values,
        summary,
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Run `c`, assert that it exits 0 (showing its stderr if not), and return its output.
pub fn succeeds(c: &mut Command) -> std::process::Output {
    succeeded(c.output().expect("runs"))
}

/// [`succeeds`] for a program that is not cutoff (`std::process::Command`).
pub fn other_succeeds(c: &mut std::process::Command) -> std::process::Output {
    succeeded(c.output().expect("runs"))
}

/// `out`, asserted to be a success (its stderr is the message if not).
fn succeeded(out: std::process::Output) -> std::process::Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Epoch seconds of an RFC 3339 time.
pub fn epoch(t: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t.as_str().expect("time is a string"))
        .expect("RFC 3339")
        .timestamp()
}

/// Each command line (run from the crate root) exits 2 with a message containing its needle.
pub fn assert_usage_errors<const N: usize>(cases: [(&[&str], &str); N]) {
    for (args, needle) in cases {
        let out = cutoff()
            .current_dir(root())
            .args(args)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

/// The run's output with the one thing allowed to differ, the time it took, removed.
pub fn without_elapsed(stdout: &[u8]) -> String {
    let text = String::from_utf8(stdout.to_vec()).expect("stdout is UTF-8");
    text.lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).expect("JSON line");
            if let Some(o) = v.as_object_mut() {
                o.remove("elapsed_secs");
            }
            v.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The alerts a file sink has written to `path` (none while the file is absent).
pub fn alerts_in(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("an alert is JSON"))
        .collect()
}
