//! Alerts for `cutoff monitor`: one per event, with a stable key, and the sinks they go to.
//!
//! The key is derived from what identifies the event (AS, kind, upstream or prefix, and the
//! time the condition began), never from when it was detected, so reading the same data again
//! gives the same key and the ledger recognises it.

use crate::config::{ExecSink, FileSink, HttpSink, SinkConfig};
use cutoff_core::asnames::AsNames;
use cutoff_core::detect::Event;
use cutoff_core::lines::{LineCap, LineTooLong};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One alert as sinks receive it (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Always `"alert"`, so alert lines can be told from other JSON Lines.
    #[serde(rename = "type")]
    pub kind: String,
    pub key: String,
    pub asn: u32,
    pub label: String,
    pub event: String,
    /// When the condition began (RFC 3339 UTC).
    pub time: String,
    /// One sentence for people (`report::describe`).
    pub sentence: String,
    /// The event as `cutoff scan --format jsonl` prints it, with its evidence.
    pub details: serde_json::Value,
    /// Names of the ASes the event mentions, from the cached AS-name list (`cutoff names
    /// fetch`); absent without one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub names: BTreeMap<u32, String>,
}

/// `AS26780/disconnected/2008-11-11T21:33:00Z`, with `/AS6939` (upstream) or
/// `/208.66.192.0/22` (prefix) for the kinds that carry one.
pub fn key_of(e: &Event) -> String {
    let mut key = format!("AS{}/{}/{}", e.asn, e.event.name(), e.time.rfc3339());
    if let Some(u) = e.upstream {
        key.push_str(&format!("/AS{u}"));
    }
    if let Some(p) = e.prefix {
        key.push_str(&format!("/{p}"));
    }
    key
}

/// The ASes an event mentions: its own, and the upstreams it names.
fn asns_of(e: &Event) -> BTreeSet<u32> {
    let mut out = BTreeSet::from([e.asn]);
    out.extend(e.upstream);
    for list in [&e.last_upstreams, &e.upstreams].into_iter().flatten() {
        out.extend(list.iter().copied());
    }
    out.extend(e.last_seen_via.keys().copied());
    out
}

impl Alert {
    /// The alert of `e` with the names `names` has for the ASes it mentions.
    pub fn named(e: &Event, label: &str, names: &AsNames) -> Self {
        let mut a = Alert::from_event(e, label);
        a.names = asns_of(e)
            .into_iter()
            .filter_map(|asn| names.name(asn).map(|n| (asn, n.to_string())))
            .collect();
        a
    }

    pub fn from_event(e: &Event, label: &str) -> Self {
        Alert {
            kind: "alert".into(),
            key: key_of(e),
            asn: e.asn,
            label: label.to_string(),
            event: e.event.name().to_string(),
            time: e.time.rfc3339(),
            sentence: cutoff_core::describe::describe(e),
            // Serialising a plain data type to a JSON value cannot fail.
            details: serde_json::to_value(e).unwrap_or(serde_json::Value::Null),
            names: BTreeMap::new(),
        }
    }

    pub fn json_line(&self) -> String {
        // Strings, numbers and an already-built JSON value: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The one-line text of chat messages; the names of the other ASes it mentions at the end.
    pub fn text(&self) -> String {
        let others: Vec<String> = self
            .names
            .iter()
            .filter(|(asn, _)| **asn != self.asn)
            .map(|(asn, n)| format!("AS{asn} {n}"))
            .collect();
        format!(
            "cutoff: {} (AS{}) {} at {}: {}{}",
            self.label,
            self.asn,
            self.event,
            self.time,
            self.sentence,
            if others.is_empty() {
                String::new()
            } else {
                format!(" [{}]", others.join("; "))
            }
        )
    }
}

/// Somewhere alerts go. `deliver` returns only once the alert is safely there (written and
/// synced, accepted with a 2xx, or the command exited 0).
pub trait Sink {
    fn name(&self) -> &str;
    fn deliver(&mut self, alert: &Alert) -> Result<(), String>;
}

pub fn build(config: &SinkConfig) -> Box<dyn Sink> {
    let name = config.name().unwrap_or(config.kind()).to_string();
    match config {
        SinkConfig::Stdout(_) => Box::new(Stdout { name }),
        SinkConfig::File(f) => Box::new(AppendFile::new(name, f)),
        SinkConfig::Webhook(h) => Box::new(Http::new(name, h, Body::Alert)),
        SinkConfig::Slack(h) => Box::new(Http::new(name, h, Body::SlackText)),
        SinkConfig::Exec(e) => Box::new(Exec::new(name, e)),
    }
}

struct Stdout {
    name: String,
}

impl Sink for Stdout {
    fn name(&self) -> &str {
        &self.name
    }
    fn deliver(&mut self, alert: &Alert) -> Result<(), String> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", alert.json_line())
            .and_then(|_| out.flush())
            .map_err(|e| format!("writing to stdout: {e}"))
    }
}

/// An append-only JSON Lines file. Exactly once: before appending, the keys already in the
/// file are read (once per run), so an alert written just before a crash is not written again.
struct AppendFile {
    name: String,
    path: PathBuf,
    keys: Option<HashSet<String>>,
    /// The longest line read back (alert lines are a few kilobytes).
    max_line_bytes: u64,
}

/// The longest line the file sink reads back from its file: far above an alert line, and a
/// bound on memory if the path is not a file of alerts at all.
pub const MAX_ALERT_LINE_BYTES: u64 = 16 << 20;

impl AppendFile {
    fn new(name: String, config: &FileSink) -> Self {
        AppendFile {
            name,
            path: config.path.clone(),
            keys: None,
            max_line_bytes: MAX_ALERT_LINE_BYTES,
        }
    }

    /// Keys of the complete lines already in the file, read line by line (never the whole
    /// file at once). A line cut by a crash does not parse and so does not count as delivered.
    fn existing_keys(&self) -> Result<HashSet<String>, String> {
        let file = match self.open_regular(std::fs::OpenOptions::new().read(true)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
            Err(e) => return Err(self.problem(&e)),
        };
        let mut keys = HashSet::new();
        let lines = BufReader::new(LineCap::new(file, self.max_line_bytes)).split(b'\n');
        for line in lines {
            let line = line.map_err(|e| self.problem(&e))?;
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line)
                && let Some(k) = v.get("key").and_then(|k| k.as_str())
            {
                keys.insert(k.to_string());
            }
        }
        Ok(keys)
    }

    /// Open the sink's file, refusing anything but a regular file: appending alerts to a
    /// device (`/dev/full`, `/dev/zero`) or a pipe cannot be checked for keys or synced.
    /// Looked at before opening, since opening a named pipe waits for its other end.
    fn open_regular(&self, how: &std::fs::OpenOptions) -> std::io::Result<std::fs::File> {
        match std::fs::metadata(&self.path) {
            Ok(m) if !m.is_file() => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file: the file sink appends alert lines to a regular file",
            )),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => how.open(&self.path),
        }
    }

    /// An I/O problem of the sink, named with its file, in words for the usual ones.
    fn problem(&self, e: &std::io::Error) -> String {
        let what = match (LineTooLong::of(e), e.kind()) {
            (Some(long), _) => format!("{long}: not a file of alerts?"),
            (None, std::io::ErrorKind::StorageFull) => "no space left on the device".into(),
            _ => e.to_string(),
        };
        format!("{}: {what}", self.path.display())
    }

    fn append(&self, line: &str) -> std::io::Result<()> {
        let created = !self.path.exists();
        let mut f = self.open_regular(
            std::fs::OpenOptions::new()
                .create(true)
                .read(true)
                .append(true),
        )?;
        // After a torn write the file may end inside a line: start ours on a fresh one.
        let mut text = String::new();
        let len = f.metadata()?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            f.seek(SeekFrom::Start(len - 1))?;
            f.read_exact(&mut last)?;
            if last[0] != b'\n' {
                text.push('\n');
            }
        }
        text.push_str(line);
        text.push('\n');
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        if created && let Some(dir) = self.path.parent() {
            crate::durable::sync_dir(dir)?;
        }
        Ok(())
    }
}

impl Sink for AppendFile {
    fn name(&self) -> &str {
        &self.name
    }
    fn deliver(&mut self, alert: &Alert) -> Result<(), String> {
        if self.keys.is_none() {
            self.keys = Some(self.existing_keys()?);
        }
        if self.keys.as_ref().is_some_and(|k| k.contains(&alert.key)) {
            return Ok(());
        }
        self.append(&alert.json_line())
            .map_err(|e| self.problem(&e))?;
        if let Some(k) = self.keys.as_mut() {
            k.insert(alert.key.clone());
        }
        Ok(())
    }
}

enum Body {
    Alert,
    SlackText,
}

struct Http {
    name: String,
    config: HttpSink,
    body: Body,
    client: Option<reqwest::blocking::Client>,
}

impl Http {
    fn new(name: String, config: &HttpSink, body: Body) -> Self {
        Http {
            name,
            config: config.clone(),
            body,
            client: None,
        }
    }

    fn url(&self) -> Result<String, String> {
        match (&self.config.url, &self.config.url_env) {
            (Some(u), _) => Ok(u.clone()),
            (None, Some(var)) => std::env::var(var)
                .map_err(|_| format!("environment variable {var} (url_env) is not set")),
            (None, None) => Err("no url".into()),
        }
    }

    fn client(&mut self) -> Result<reqwest::blocking::Client, String> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let c = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(self.config.timeout.0.max(1) as u64))
            .user_agent(concat!("cutoff/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        self.client = Some(c.clone());
        Ok(c)
    }

    /// One POST. The URL is not in the messages: it may be a secret (Slack's are).
    fn post(&mut self, alert: &Alert) -> Result<(), String> {
        let url = self.url()?;
        let body = match self.body {
            Body::Alert => alert.json_line(),
            Body::SlackText => serde_json::json!({ "text": alert.text() }).to_string(),
        };
        let mut request = self
            .client()?
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", &alert.key)
            .body(body);
        if let Some(var) = &self.config.bearer_token_env {
            let token = std::env::var(var)
                .map_err(|_| format!("environment variable {var} (bearer_token_env) is not set"))?;
            request = request.bearer_auth(token);
        }
        let response = request.send().map_err(|e| {
            // reqwest's message names the URL; keep only the kind of failure.
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not connect"
            } else {
                "request failed"
            };
            format!("POST {what}")
        })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("POST answered {status}"))
        }
    }
}

impl Sink for Http {
    fn name(&self) -> &str {
        &self.name
    }
    fn deliver(&mut self, alert: &Alert) -> Result<(), String> {
        let mut waits = retry_waits(self.config.retry_backoff.0, self.config.retries);
        let mut last = String::new();
        for attempt in 0..=self.config.retries {
            if attempt > 0 {
                std::thread::sleep(waits.next().unwrap_or(MAX_RETRY_WAIT));
            }
            match self.post(alert) {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
        }
        Err(format!(
            "{last} ({} attempt(s))",
            self.config.retries as u64 + 1
        ))
    }
}

/// The longest single wait between two attempts: an alert not delivered is kept for the next
/// run anyway, so a run never waits hours on one sink.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(300);

/// The waits before each retry: `backoff` seconds, doubled each time, each at most
/// [`MAX_RETRY_WAIT`] (doubling never overflows).
fn retry_waits(backoff: i64, retries: u32) -> impl Iterator<Item = Duration> {
    let first = Duration::from_secs(backoff.max(0).unsigned_abs()).min(MAX_RETRY_WAIT);
    std::iter::successors(Some(first), |w| {
        Some(
            w.checked_mul(2)
                .unwrap_or(MAX_RETRY_WAIT)
                .min(MAX_RETRY_WAIT),
        )
    })
    .take(retries as usize)
}

struct Exec {
    name: String,
    config: ExecSink,
}

impl Exec {
    fn new(name: String, config: &ExecSink) -> Self {
        Exec {
            name,
            config: config.clone(),
        }
    }
}

impl Sink for Exec {
    fn name(&self) -> &str {
        &self.name
    }
    fn deliver(&mut self, alert: &Alert) -> Result<(), String> {
        let program = &self.config.command[0];
        // The command's own output must not mix with the alerts on stdout: it goes to stderr.
        let stdout: Stdio = std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .map_or(Stdio::null(), Stdio::from);
        let mut child = Command::new(program)
            .args(&self.config.command[1..])
            .env("CUTOFF_ALERT_KEY", &alert.key)
            .stdin(Stdio::piped())
            .stdout(stdout)
            .spawn()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A command that exits without reading its input is judged by its exit status.
            let _ = stdin.write_all(alert.json_line().as_bytes());
        }
        let deadline = Instant::now() + Duration::from_secs(self.config.timeout.0 as u64);
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("{program} exited with {status}")),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "{program} did not finish within {}s",
                        self.config.timeout.0
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(format!("waiting for {program}: {e}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutoff_core::detect::{EventKind, Evidence};
    use cutoff_core::model::Timestamp;

    pub fn event(kind: EventKind, asn: u32, secs: i64, upstream: Option<u32>) -> Event {
        let at = Timestamp::from_secs(secs);
        Event {
            upstream,
            ..Event::new(kind, asn, at, Evidence::default())
        }
    }

    #[test]
    fn keys_identify_the_event_not_its_evidence() {
        let a = event(EventKind::Disconnected, 26780, 1226439180, None);
        let mut b = a.clone();
        b.evidence.peers_after = 7;
        assert_eq!(key_of(&a), "AS26780/disconnected/2008-11-11T21:33:00Z");
        assert_eq!(key_of(&a), key_of(&b));
        let lost = event(EventKind::UpstreamLost, 26780, 1226439180, Some(6939));
        assert_eq!(
            key_of(&lost),
            "AS26780/upstream_lost/2008-11-11T21:33:00Z/AS6939"
        );
        let mut dark = event(EventKind::PrefixDark, 17557, 1203886881, None);
        dark.prefix = Some("208.65.153.0/24".parse().expect("prefix"));
        assert!(key_of(&dark).ends_with("/208.65.153.0/24"));
    }

    #[test]
    fn alert_json_carries_label_sentence_and_event() {
        let a = Alert::from_event(
            &event(EventKind::Disconnected, 26780, 1226439180, None),
            "McColo",
        );
        let v: serde_json::Value = serde_json::from_str(&a.json_line()).expect("JSON");
        assert_eq!(v["type"], "alert");
        assert_eq!(v["label"], "McColo");
        assert_eq!(v["details"]["event"], "disconnected");
        assert!(a.sentence.starts_with("AS26780 lost all upstreams"));
        assert!(a.text().contains("McColo (AS26780) disconnected"));
    }

    #[test]
    fn named_alerts_carry_the_names_of_the_ases_they_mention() {
        let mut e = event(EventKind::UpstreamLost, 26780, 1226439180, Some(6939));
        e.upstreams = Some(vec![3549]);
        let names = AsNames::parse("26780 MCCOLO\n6939 HURRICANE\n1299 TELIA\n").expect("names");
        let a = Alert::named(&e, "MCCOLO", &names);
        assert_eq!(
            a.names,
            BTreeMap::from([(6939, "HURRICANE".into()), (26780, "MCCOLO".into())])
        );
        let v: serde_json::Value = serde_json::from_str(&a.json_line()).expect("JSON");
        assert_eq!(v["names"]["6939"], "HURRICANE");
        assert!(a.text().ends_with(" [AS6939 HURRICANE]"), "{}", a.text());
        // Without names the field is left out, and old ledgers without it still load.
        let plain = Alert::from_event(&e, "x");
        assert!(!plain.json_line().contains("\"names\""));
        let back: Alert = serde_json::from_str(&plain.json_line()).expect("reads back");
        assert_eq!(back, plain);
    }

    #[test]
    fn file_sink_writes_each_key_once_and_repairs_torn_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("alerts.jsonl");
        let a = Alert::from_event(&event(EventKind::Disconnected, 1, 1000, None), "x");
        let b = Alert::from_event(&event(EventKind::Restored, 1, 2000, None), "x");
        let config = FileSink {
            name: None,
            path: path.clone(),
        };
        let mut sink = AppendFile::new("file".into(), &config);
        sink.deliver(&a).expect("delivers");
        sink.deliver(&a).expect("delivers again, as a no-op");
        // A crash in the middle of a later write leaves half a line.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(b"{\"type\":\"alert\",\"key\":\"AS1/res"))
            .expect("torn write");
        // A new run (new sink) sees `a` in the file and does not write it again.
        let mut sink = AppendFile::new("file".into(), &config);
        sink.deliver(&a).expect("no-op");
        sink.deliver(&b).expect("delivers");
        let text = std::fs::read_to_string(&path).expect("read");
        let keys: Vec<String> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Alert>(l).ok())
            .map(|a| a.key)
            .collect();
        assert_eq!(keys, vec![a.key.clone(), b.key.clone()]);
        assert_eq!(text.lines().count(), 3, "the torn line stays, on its own");
    }

    /// A file sink at /dev/zero grew to 24 GB reading "the file" whole; /dev/full could
    /// not be written. Both are refused at once, by name (issue 16, item 8).
    #[test]
    fn file_sink_refuses_devices_and_bounds_what_it_reads_back() {
        let a = Alert::from_event(&event(EventKind::Disconnected, 1, 1000, None), "x");
        for dev in ["/dev/zero", "/dev/full"] {
            let config = FileSink {
                name: None,
                path: dev.into(),
            };
            let e = AppendFile::new("file".into(), &config)
                .deliver(&a)
                .expect_err(dev);
            assert_eq!(
                e,
                format!(
                    "{dev}: not a regular file: the file sink appends alert lines to a regular file"
                )
            );
        }
        // A regular file that is not a file of alerts: one line longer than the bound.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big");
        std::fs::write(&path, "{\"key\":\"k\"}\n0123456789abcdef0123456789\n").expect("write");
        let mut sink = AppendFile::new(
            "file".into(),
            &FileSink {
                name: None,
                path: path.clone(),
            },
        );
        sink.max_line_bytes = 16;
        let e = sink.deliver(&a).expect_err("long line");
        assert_eq!(
            e,
            format!(
                "{}: line 2 is longer than 16 bytes: not a file of alerts?",
                path.display()
            )
        );
    }

    #[test]
    fn exec_sink_pipes_json_and_judges_by_exit_status() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("got.json");
        let a = Alert::from_event(&event(EventKind::Disconnected, 1, 1000, None), "x");
        let mut ok = Exec::new(
            "exec".into(),
            &ExecSink {
                name: None,
                command: vec![
                    "sh".into(),
                    "-c".into(),
                    format!(
                        "cat > {} && test \"$CUTOFF_ALERT_KEY\" = AS1/disconnected/1970-01-01T00:16:40Z",
                        out.display()
                    ),
                ],
                timeout: crate::config::Secs(10),
            },
        );
        ok.deliver(&a).expect("delivered");
        let got: Alert =
            serde_json::from_str(&std::fs::read_to_string(&out).expect("written")).expect("JSON");
        assert_eq!(got, a);
        let mut fails = Exec::new(
            "exec".into(),
            &ExecSink {
                name: None,
                command: vec!["false".into()],
                timeout: crate::config::Secs(10),
            },
        );
        assert!(fails.deliver(&a).is_err());
        let mut missing = Exec::new(
            "exec".into(),
            &ExecSink {
                name: None,
                command: vec!["/nonexistent/notify".into()],
                timeout: crate::config::Secs(10),
            },
        );
        let e = missing.deliver(&a).unwrap_err();
        assert!(e.contains("cannot run /nonexistent/notify"), "{e}");
    }

    #[test]
    fn retry_waits_double_and_stay_bounded() {
        let w: Vec<u64> = retry_waits(2, 5).map(|d| d.as_secs()).collect();
        assert_eq!(w, [2, 4, 8, 16, 32]);
        // Many retries of a long backoff: no overflow, no wait above the cap.
        let w: Vec<Duration> = retry_waits(86_400, 40).collect();
        assert_eq!(w.len(), 40);
        assert!(w.iter().all(|d| *d == MAX_RETRY_WAIT));
        assert_eq!(retry_waits(2, 0).count(), 0);
    }
}
