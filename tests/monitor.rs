//! `cutoff monitor` with real parts: a mirror directory that fills up between runs, a webhook
//! listener on loopback that fails and then succeeds, the lock held by another process, a
//! corrupt checkpoint, and runs killed with SIGKILL at many points.

mod common;

use common::{cutoff, sample, test_cache};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MCCOLO_UPDATES: &str = "mccolo-2008-11/bgpdata/2008.11/UPDATES";

/// A monitor set up in a temporary directory: mirror, state, config, alert file.
struct Mon {
    dir: tempfile::TempDir,
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Mon {
    fn new(sinks: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["RIBS", "UPDATES"] {
            std::fs::create_dir_all(dir.path().join("mirror/bgpdata/2008.11").join(sub))
                .expect("mirror dirs");
        }
        let config = format!(
            "state_dir = \"state\"\n\
             [[watch]]\nasn = 26780\nlabel = \"McColo\"\n\
             [source]\nmirror = [\"mirror\"]\nsettle = \"0s\"\n\
             [[sink]]\ntype = \"file\"\npath = \"alerts.jsonl\"\n{sinks}"
        );
        std::fs::write(dir.path().join("monitor.toml"), config).expect("config");
        Mon { dir }
    }

    /// Replace `from` by `to` in the configuration file.
    fn edit_config(&self, from: &str, to: &str) {
        let cfg = self.path("monitor.toml");
        let text = std::fs::read_to_string(&cfg).expect("config");
        assert!(text.contains(from), "{from:?} is in the configuration");
        std::fs::write(&cfg, text.replace(from, to)).expect("config");
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Copy the McColo RIB (when `rib`) and the update files with names in [from, to).
    fn copy(&self, rib: bool, from: &str, to: &str) -> usize {
        if rib {
            let name = "rib.20081110.0000.bz2";
            std::fs::copy(
                Path::new(&sample("mccolo-2008-11/bgpdata/2008.11/RIBS")).join(name),
                self.path("mirror/bgpdata/2008.11/RIBS").join(name),
            )
            .expect("copy RIB");
        }
        let mut n = usize::from(rib);
        let src = PathBuf::from(sample(MCCOLO_UPDATES));
        let mut names: Vec<String> = std::fs::read_dir(&src)
            .expect("samples")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.as_str() >= from && n.as_str() < to)
            .collect();
        names.sort();
        for name in names {
            std::fs::copy(
                src.join(&name),
                self.path("mirror/bgpdata/2008.11/UPDATES").join(&name),
            )
            .expect("copy update file");
            n += 1;
        }
        n
    }

    fn command(&self, extra: &[&str]) -> Command {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("cutoff"));
        // Away from the developer's cache, as `cutoff()` (an AS-name list there names ASes).
        c.env_remove("CACHE_DIRECTORY")
            .env("XDG_CACHE_HOME", test_cache())
            .arg("monitor")
            .arg("--config")
            .arg(self.path("monitor.toml"))
            .args(extra)
            .env_remove("CUTOFF_CRASH_AT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn run(&self, extra: &[&str]) -> Run {
        let out = self.command(extra).output().expect("cutoff runs");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn alert_file_keys(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("state/alerts.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| v["key"].as_str().map(str::to_string))
            .collect()
    }

    fn checkpoint(&self) -> Value {
        let text = std::fs::read(self.path("state/checkpoint.json")).expect("checkpoint");
        serde_json::from_slice(&text).expect("checkpoint parses")
    }

    /// Every checkpoint on disk parses and has the right version; the current one exists
    /// whenever a previous one does.
    fn assert_checkpoints_whole(&self, when: &str) {
        let cur = self.path("state/checkpoint.json");
        let prev = self.path("state/checkpoint.json.prev");
        assert!(
            cur.exists() || !prev.exists(),
            "{when}: checkpoint.json missing while .prev exists"
        );
        for p in [cur, prev] {
            if let Ok(bytes) = std::fs::read(&p) {
                let v: Value = serde_json::from_slice(&bytes)
                    .unwrap_or_else(|e| panic!("{when}: {} does not parse: {e}", p.display()));
                assert_eq!(v["version"], 1, "{when}: {}", p.display());
            }
        }
    }
}

/// The alert key of a `cutoff scan` event line.
fn scan_key(e: &Value) -> String {
    let mut key = format!(
        "AS{}/{}/{}",
        e["asn"],
        e["event"].as_str().expect("event"),
        e["time"].as_str().expect("time")
    );
    if let Some(u) = e["upstream"].as_u64() {
        key.push_str(&format!("/AS{u}"));
    }
    if let Some(p) = e["prefix"].as_str() {
        key.push_str(&format!("/{p}"));
    }
    key
}

fn scan_keys(mirror: &Path) -> BTreeSet<String> {
    let r = common::scan(&["--asn", "26780", &mirror.display().to_string()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.events.iter().map(scan_key).collect()
}

#[test]
fn a_mirror_that_fills_up_alerts_once_per_event_and_agrees_with_scan() {
    let mon = Mon::new("[[sink]]\ntype = \"stdout\"\n");
    let metrics = mon.path("cutoff.prom");
    let metrics_arg = metrics.display().to_string();
    let args = ["--exit-code", "--metrics-file", metrics_arg.as_str()];
    // (files copied up to this name, alerts expected on stdout)
    let steps: [(&str, &[&str]); 7] = [
        ("updates.20081111.0000", &[]),
        ("updates.20081111.2100", &[]),
        // 21:30–21:44: AS26780 went dark at 21:33 but the 15 minutes have not passed.
        ("updates.20081111.2145", &[]),
        // The 21:45 file covers 21:48: confirmed.
        (
            "updates.20081111.2200",
            &["AS26780/disconnected/2008-11-11T21:33:00Z"],
        ),
        ("updates.20081112.2200", &[]),
        (
            "updates.20081115.0400",
            &[
                "AS26780/upstream_gained/2008-11-15T03:12:17Z/AS1299",
                "AS26780/restored/2008-11-15T03:13:18Z",
            ],
        ),
        (
            "updates.20081116",
            &["AS26780/disconnected/2008-11-15T15:41:53Z"],
        ),
    ];
    let mut from = "updates.00000000".to_string();
    let mut copied = 0;
    for (i, (to, expected)) in steps.iter().enumerate() {
        copied += mon.copy(i == 0, &from, to);
        from = to.to_string();
        let r = mon.run(&args);
        let keys: Vec<String> = r
            .stdout
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("stdout is JSON Lines");
                v["key"].as_str().expect("key").to_string()
            })
            .collect();
        assert_eq!(keys, *expected, "run {i} (files before {to}): {}", r.stderr);
        assert_eq!(r.stderr, "", "run {i}: stderr must stay quiet");
        let want = if expected.is_empty() { 0 } else { 1 };
        assert_eq!(r.code, Some(want), "run {i}: --exit-code status");
        // Running again with nothing new says nothing and raises nothing.
        let again = mon.run(&args);
        assert_eq!(
            (again.stdout.as_str(), again.stderr.as_str(), again.code),
            ("", "", Some(0))
        );
    }
    let all: BTreeSet<String> = mon.alert_file_keys().into_iter().collect();
    assert_eq!(
        mon.alert_file_keys().len(),
        all.len(),
        "the file has no duplicate"
    );
    assert_eq!(
        all,
        scan_keys(&mon.path("mirror")),
        "same events as one scan over the files"
    );

    let m = std::fs::read_to_string(&metrics).expect("metrics file");
    assert!(
        m.contains(&format!("cutoff_files_processed_total {copied}\n")),
        "{m}"
    );
    assert!(
        m.contains("cutoff_events_total{kind=\"disconnected\"} 2\n"),
        "{m}"
    );
    assert!(m.contains("cutoff_files_missing 0\n"), "{m}");
    assert!(
        m.contains("cutoff_visible_peers{asn=\"26780\",label=\"McColo\"} "),
        "{m}"
    );
    assert!(
        m.contains("# TYPE cutoff_last_success_timestamp_seconds gauge"),
        "{m}"
    );
}

#[test]
fn a_missing_file_is_a_gap_reported_once_and_a_late_one_is_not_read_out_of_order() {
    let mon = Mon::new("");
    mon.edit_config("settle = \"0s\"", "settle = \"0s\"\ngrace = \"0s\"");
    mon.copy(true, "updates.20081110.0000", "updates.20081110.0100");
    mon.copy(false, "updates.20081110.0115", "updates.20081110.0200");
    let r = mon.run(&[]);
    assert_eq!(r.code, Some(3), "incomplete input: {}", r.stderr);
    assert!(
        r.stderr
            .contains("no update file between 2008-11-10T00:45:00Z and 2008-11-10T01:15:00Z"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, "");
    assert_eq!(mon.checkpoint()["retry"].as_array().map(Vec::len), Some(1));
    let r = mon.run(&[]);
    assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""), "said once");
    mon.copy(false, "updates.20081110.0100", "updates.20081110.0115");
    let r = mon.run(&[]);
    assert_eq!(r.code, Some(3));
    assert!(
        r.stderr
            .contains("updates.20081110.0100.bz2: turned up after it was declared missing"),
        "{}",
        r.stderr
    );
    assert_eq!(mon.checkpoint()["retry"].as_array().map(Vec::len), Some(0));
}

/// A run that did nothing is silent, and says why with -v: an empty mirror, files younger than
/// `settle`, nothing new.
#[test]
fn a_run_that_did_nothing_says_why_at_v() {
    let mon = Mon::new("");
    let quiet = mon.run(&[]);
    assert_eq!((quiet.code, quiet.stderr.as_str()), (Some(0), ""));
    let r = mon.run(&["-v"]);
    assert!(r.stderr.contains("no MRT file under"), "{}", r.stderr);
    mon.copy(true, "updates.20081110.0000", "updates.20081110.0100");
    mon.edit_config("settle = \"0s\"", "settle = \"1d\"");
    let r = mon.run(&["-v"]);
    assert!(
        r.stderr.contains("younger than settle (1d)"),
        "{}",
        r.stderr
    );
    mon.edit_config("settle = \"1d\"", "settle = \"0s\"");
    assert_eq!(mon.run(&[]).code, Some(0));
    let r = mon.run(&["-v"]);
    assert!(
        r.stderr.contains(": nothing new since ") && r.stderr.contains("updates.20081110.0045.bz2"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, "");
}

/// One rule for holes: a missing update file is a gap (exit 3) in `scan` and in `monitor`
/// alike, and neither goes blind until a RIB that never comes. With one file missing before
/// the cut and one while McColo was dark, both find the same four events, and no
/// `inconclusive` (visibility did not change across either hole).
#[test]
fn a_hole_is_the_same_gap_in_scan_and_monitor_and_blinds_neither() {
    let mon = Mon::new("");
    mon.edit_config("settle = \"0s\"", "settle = \"0s\"\ngrace = \"0s\"");
    let updates = mon.path("mirror/bgpdata/2008.11/UPDATES");
    let mut keys = BTreeSet::new();
    for (i, (from, to, hole)) in [
        (
            "updates.00000000",
            "updates.20081112",
            "updates.20081111.1000.bz2",
        ),
        (
            "updates.20081112",
            "updates.20081116",
            "updates.20081113.1200.bz2",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        mon.copy(i == 0, from, to);
        std::fs::remove_file(updates.join(hole)).expect("remove one file");
        let r = mon.run(&[]);
        assert_eq!(r.code, Some(3), "run {i}: a gap: {}", r.stderr);
        assert!(r.stderr.contains("no update file between"), "{}", r.stderr);
        keys.extend(mon.alert_file_keys());
    }
    let scan = common::scan(&["--asn", "26780", &mon.path("mirror").display().to_string()]);
    assert_eq!(scan.code, 3, "scan reports the holes too: {}", scan.stderr);
    let gaps: Vec<String> = scan.summary["gaps"]
        .as_array()
        .expect("gaps")
        .iter()
        .map(|g| g["file"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(gaps.len(), 2, "{gaps:?}");
    assert!(gaps[0].contains("between 2008-11-11T09:45:00Z and 2008-11-11T10:15:00Z"));
    assert_eq!(
        scan.summary["files_read"], 575,
        "placeholders are not files read"
    );
    let scanned: BTreeSet<String> = scan.events.iter().map(scan_key).collect();
    assert_eq!(keys, scanned, "monitor and scan agree");
    assert_eq!(
        scanned,
        BTreeSet::from([
            "AS26780/disconnected/2008-11-11T21:33:00Z".to_string(),
            "AS26780/upstream_gained/2008-11-15T03:12:17Z/AS1299".to_string(),
            "AS26780/restored/2008-11-15T03:13:18Z".to_string(),
            "AS26780/disconnected/2008-11-15T15:41:53Z".to_string(),
        ]),
        "the events of the whole sample"
    );
}

/// A webhook on loopback: answers with the scripted statuses (then 200) and records every
/// request's headers and body.
struct Listener {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

/// Headers (lower-case names), body, and the status answered.
type Request = (BTreeMap<String, String>, String, u16);

fn listener(mut statuses: Vec<u16>) -> Listener {
    let socket = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let url = format!("http://{}/hook", socket.local_addr().expect("addr"));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = requests.clone();
    statuses.reverse();
    std::thread::spawn(move || {
        for stream in socket.incoming().take(1000) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut headers = BTreeMap::new();
            let mut line = String::new();
            reader.read_line(&mut line).ok();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                }
            }
            let len: usize = headers
                .get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            reader.read_exact(&mut body).ok();
            let status = statuses.pop().unwrap_or(200);
            log.lock().expect("log").push((
                headers,
                String::from_utf8_lossy(&body).into_owned(),
                status,
            ));
            let reason = if status == 200 {
                "OK"
            } else {
                "Internal Server Error"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    Listener { url, requests }
}

#[test]
fn an_alert_the_webhook_refused_stays_in_the_outbox_and_goes_out_once_next_run() {
    let hook = listener(vec![500]);
    let mon = Mon::new(&format!(
        "[[sink]]\ntype = \"webhook\"\nurl = \"{}\"\nbearer_token_env = \"CUTOFF_TEST_TOKEN\"\nretries = 0\n",
        hook.url
    ));
    mon.copy(true, "updates.20081111.2000", "updates.20081111.2300");
    let run = |mon: &Mon| {
        let out = mon
            .command(&[])
            .env("CUTOFF_TEST_TOKEN", "s3cret")
            .output()
            .expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = run(&mon);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("sink \"webhook\": alert AS26780/disconnected/2008-11-11T21:33:00Z not delivered: POST answered 500"), "{stderr}");
    assert!(stderr.contains("kept for the next run"), "{stderr}");
    let ck = mon.checkpoint();
    assert_eq!(ck["alerts"][0]["pending"], serde_json::json!(["webhook"]));
    assert_eq!(
        mon.alert_file_keys().len(),
        1,
        "the file sink is not held up by the webhook"
    );

    let (code, stderr) = run(&mon);
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
    assert_eq!(
        mon.checkpoint()["alerts"][0]["pending"],
        serde_json::json!([])
    );
    let (code, _) = run(&mon);
    assert_eq!(code, Some(0));

    let requests = hook.requests.lock().expect("log").clone();
    let statuses: Vec<u16> = requests.iter().map(|r| r.2).collect();
    assert_eq!(
        statuses,
        [500, 200],
        "one refused, one accepted, nothing after"
    );
    for (headers, body, _) in &requests {
        let alert: Value = serde_json::from_str(body).expect("body is the alert JSON");
        assert_eq!(alert["key"], "AS26780/disconnected/2008-11-11T21:33:00Z");
        assert_eq!(alert["label"], "McColo");
        assert_eq!(
            headers["idempotency-key"],
            alert["key"].as_str().expect("key")
        );
        assert_eq!(headers["authorization"], "Bearer s3cret");
        assert_eq!(headers["content-type"], "application/json");
    }
}

#[test]
fn a_second_run_while_the_lock_is_held_leaves_quietly() {
    let mon = Mon::new("");
    mon.copy(true, "updates.20081111.2000", "updates.20081111.2300");
    std::fs::create_dir_all(mon.path("state")).expect("state");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(mon.path("state/lock"))
        .expect("lock file");
    lock.try_lock().expect("the test takes the lock");
    let r = mon.run(&["--exit-code"]);
    assert_eq!(r.code, Some(0));
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr.contains("another run holds the lock"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1);
    assert!(
        !mon.path("state/checkpoint.json").exists(),
        "it did nothing"
    );
    // Unlock explicitly: a flock belongs to the open file description, which a child forked
    // by another test at this moment (between its fork and exec) still shares, so dropping
    // our descriptor alone need not release the lock.
    lock.unlock().expect("unlock");
    drop(lock);
    let r = mon.run(&["--exit-code"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
}

#[test]
fn a_corrupt_checkpoint_stops_the_run_with_a_message() {
    let mon = Mon::new("");
    mon.copy(true, "updates.20081111.2000", "updates.20081111.2100");
    assert_eq!(mon.run(&[]).code, Some(0));
    let cp = mon.path("state/checkpoint.json");
    let text = std::fs::read_to_string(&cp).expect("checkpoint");
    std::fs::write(&cp, &text[..text.len() / 2]).expect("truncate");
    let r = mon.run(&[]);
    assert_eq!(r.code, Some(2));
    assert!(
        r.stderr.contains("checkpoint.json: corrupt checkpoint"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("checkpoint.json.prev"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(&cp).expect("kept"),
        &text[..text.len() / 2],
        "left as it was"
    );
}

#[test]
fn config_prints_the_effective_configuration_and_names_bad_keys() {
    let mon = Mon::new("");
    let out = cutoff()
        .arg("config")
        .arg("--config")
        .arg(mon.path("monitor.toml"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("min_duration = \"15m\""), "{text}");
    assert!(
        text.contains(&format!("state_dir = \"{}\"", mon.path("state").display())),
        "{text}"
    );
    let bad = mon.path("bad.toml");
    std::fs::write(
        &bad,
        "[[watch]]\nasn = 1\n[source]\nmirror = [\"m\"]\ngrase = \"1h\"\n",
    )
    .expect("write");
    let out = cutoff()
        .args(["monitor", "--config"])
        .arg(&bad)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("line 5") && err.contains("grase"),
        "{err}"
    );
    let out = cutoff()
        .args(["config", "--example"])
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&out.stdout).contains("[[sink]]"));
}

/// `cutoff config --config /dev/zero` reached 12.7 GB in 20 s, and `monitor` read its
/// configuration the same way; both now stop after 1 MiB with the file named (issue 16, item 8).
#[test]
fn a_config_that_never_ends_is_refused_at_once() {
    for command in ["config", "monitor"] {
        let out = cutoff()
            .args([command, "--config", "/dev/zero"])
            .timeout(Duration::from_secs(20))
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{command}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("/dev/zero: larger than 1MiB: a configuration is a few kilobytes"),
            "{command}: {err}"
        );
    }
}

/// Tiny deterministic generator for kill delays.
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn runs_killed_at_any_point_lose_no_alert_and_repeat_none() {
    let hook = listener(Vec::new());
    let mon = Mon::new(&format!(
        "[[sink]]\ntype = \"webhook\"\nurl = \"{}\"\nretries = 0\n",
        hook.url
    ));
    let points = [
        "after-lock",
        "after-feed",
        "before-checkpoint-rename",
        "after-checkpoint-write",
        "after-deliver",
        "after-ledger-write",
        "before-checkpoint-rename:2",
        "after-deliver:2",
        "after-ledger-write:2",
        "after-deliver:3",
        "before-metrics",
    ];
    let metrics = mon.path("m.prom").display().to_string();
    let mut rng = Lcg(2008);
    let mut kills = 0;
    let mut hit = BTreeSet::new();
    let chunks = [
        (true, "updates.20081115.0200", "updates.20081115.0400"),
        (false, "updates.20081115.0400", "updates.20081115.1700"),
    ];
    for (rib, from, to) in chunks {
        mon.copy(rib, from, to);
        for point in points {
            let out = mon
                .command(&["--metrics-file", &metrics])
                .env("CUTOFF_CRASH_AT", point)
                .output()
                .expect("runs");
            match out.status.signal() {
                Some(9) => {
                    kills += 1;
                    hit.insert(point);
                }
                None => assert_eq!(
                    out.status.code(),
                    Some(0),
                    "{point}: {}",
                    String::from_utf8_lossy(&out.stderr)
                ),
                Some(s) => panic!("{point}: killed by signal {s}"),
            }
            mon.assert_checkpoints_whole(point);
        }
        for _ in 0..8 {
            let mut child = mon
                .command(&["--metrics-file", &metrics])
                .spawn()
                .expect("spawn");
            std::thread::sleep(Duration::from_millis(rng.below(400)));
            let _ = child.kill(); // SIGKILL on Unix
            let status = child.wait().expect("wait");
            if status.signal() == Some(9) {
                kills += 1;
            }
            mon.assert_checkpoints_whole("random kill");
        }
    }
    for point in [
        "after-lock",
        "after-feed",
        "before-checkpoint-rename",
        "after-checkpoint-write",
        "after-deliver",
        "after-ledger-write",
        "before-metrics",
    ] {
        assert!(
            hit.contains(point),
            "the crash hook never fired at {point}: {hit:?}"
        );
    }
    for _ in 0..2 {
        let r = mon.run(&[]);
        assert_eq!(r.code, Some(0), "{}", r.stderr);
    }
    let pending: usize = mon.checkpoint()["alerts"]
        .as_array()
        .expect("ledger")
        .iter()
        .map(|a| a["pending"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(pending, 0);

    let expected = scan_keys(&mon.path("mirror"));
    assert!(expected.len() >= 2, "{expected:?}");
    let file_keys = mon.alert_file_keys();
    assert_eq!(file_keys.iter().cloned().collect::<BTreeSet<_>>(), expected);
    assert_eq!(
        file_keys.len(),
        expected.len(),
        "each alert in the file exactly once: {file_keys:?}"
    );

    let requests = hook.requests.lock().expect("log").clone();
    let mut got: BTreeMap<String, usize> = BTreeMap::new();
    for (headers, body, _) in &requests {
        let alert: Value = serde_json::from_str(body).expect("alert JSON");
        let key = alert["key"].as_str().expect("key").to_string();
        assert_eq!(
            headers["idempotency-key"], key,
            "a repeat carries the same Idempotency-Key"
        );
        *got.entry(key).or_default() += 1;
    }
    assert_eq!(
        got.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "every alert reached the webhook"
    );
    let repeats: usize = got.values().map(|n| n - 1).sum();
    eprintln!(
        "{kills} runs killed; webhook repeats {repeats} (only a kill between delivery and ledger write can cause one)"
    );
    assert!(repeats <= kills);
}

#[test]
fn archive_mode_follows_a_loopback_archive_whose_files_appear_between_runs() {
    let mon = Mon::new("");
    // The folder `Mon::copy` fills is served as the RouteViews archive (route-views2 layout).
    let server = common::http::Server::start(&[("/rv/", mon.path("mirror"))]);
    let config = format!(
        "state_dir = \"state\"\ncache_dir = \"cache\"\n\
         [[watch]]\nasn = 26780\nlabel = \"McColo\"\n\
         [source]\nmode = \"archive\"\ncollectors = [\"route-views2\"]\n\
         routeviews_url = \"{}\"\nstart = \"2008-11-10T00:00:00Z\"\n\
         [[sink]]\ntype = \"file\"\npath = \"alerts.jsonl\"\n\
         [[sink]]\ntype = \"stdout\"\n",
        server.url("/rv")
    );
    std::fs::write(mon.path("monitor.toml"), config).expect("config");
    let upd = "/rv/bgpdata/2008.11/UPDATES/";
    // (files published up to this name, alerts expected)
    let steps: [(&str, &[&str]); 4] = [
        ("updates.20081111.0000", &[]),
        ("updates.20081111.2145", &[]),
        (
            "updates.20081111.2200",
            &["AS26780/disconnected/2008-11-11T21:33:00Z"],
        ),
        ("updates.20081111.2200", &[]),
    ];
    let mut from = "updates.00000000".to_string();
    for (i, (to, expected)) in steps.iter().enumerate() {
        mon.copy(i == 0, &from, to);
        from = to.to_string();
        let before = server.total_requests();
        let r = mon.run(&[]);
        let keys: Vec<String> = r
            .stdout
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("stdout is JSON Lines");
                v["key"].as_str().expect("key").to_string()
            })
            .collect();
        assert_eq!(
            keys, *expected,
            "run {i} (published before {to}): {}",
            r.stderr
        );
        assert_eq!(r.stderr, "", "run {i}: stderr must stay quiet");
        assert_eq!(r.code, Some(0), "run {i}");
        // Every file is downloaded once: a run asks again for listings, not for cached files.
        let st = server.state.lock().expect("server state");
        let files: Vec<&String> = st.log[before..]
            .iter()
            .map(|(p, _)| p)
            .filter(|p| !p.ends_with('/'))
            .collect();
        let fresh = files.iter().collect::<BTreeSet<_>>();
        assert_eq!(files.len(), fresh.len(), "run {i}: a file fetched twice");
        if i == 3 {
            assert!(files.is_empty(), "nothing new was published: {files:?}");
        }
    }
    let served: usize = std::fs::read_dir(mon.path("mirror/bgpdata/2008.11/UPDATES"))
        .expect("served")
        .count();
    let st = server.state.lock().expect("server state");
    let fetched: BTreeSet<&String> = st
        .log
        .iter()
        .map(|(p, _)| p)
        .filter(|p| p.starts_with(upd) && !p.ends_with('/'))
        .collect();
    assert_eq!(
        fetched.len(),
        served,
        "every published update file fetched once"
    );
    assert_eq!(
        mon.alert_file_keys(),
        vec!["AS26780/disconnected/2008-11-11T21:33:00Z".to_string()]
    );
    assert_eq!(mon.checkpoint()["version"], 1);
}
