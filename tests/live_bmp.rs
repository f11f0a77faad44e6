//! `cutoff monitor --follow` fed by a real router over BMP: GoBGP (AS65000) exports its
//! pre-policy Adj-RIB-In to the station; six ExaBGP peers (AS65001–AS65006, on
//! 127.0.0.21–26) announce and withdraw what the test writes to their command files. The
//! McColo-like sequence: a session reset and a peer withdrawing its whole table (no alert),
//! the AS losing one upstream, then its last, then its return; then the router restarts
//! (no alert). Every alert is checked: its kind, its time against the withdrawal's, once each.

mod common;

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const AS: u32 = 64511;
const WATCHED: &str = "100.64.0.0/24";
const FILLERS: usize = 20;
const PEERS: usize = 6;
/// Peers 1–3 reach the AS through AS3549, peers 4–6 through AS6939.
fn first_upstream(i: usize) -> u32 {
    if i <= 3 { 3549 } else { 6939 }
}

/// A process group, killed when dropped (ExaBGP's command-file readers with it).
struct Group(Child);

impl Group {
    fn spawn(cmd: &mut Command) -> Group {
        Group(cmd.process_group(0).spawn().expect("spawns"))
    }
    fn kill(&mut self) {
        // SAFETY: kill(2) on our own child's process group.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

fn tool(path: &str) -> Option<PathBuf> {
    if Path::new(path).exists() {
        return Some(PathBuf::from(path));
    }
    assert!(
        std::env::var_os("CUTOFF_REQUIRE_ORACLE").is_none(),
        "{path} is not installed (apt-get install gobgpd exabgp)"
    );
    eprintln!("SKIPPED: {path} is not installed");
    None
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("address").port()
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

struct Lab {
    dir: PathBuf,
    gobgpd: PathBuf,
    exabgp: PathBuf,
    bgp_port: u16,
    api_port: u16,
    bmp_port: u16,
    router: Option<Group>,
    peers: Vec<Option<Group>>,
    monitor: Option<Group>,
    stderr: mpsc::Receiver<String>,
    said: Vec<String>,
}

impl Lab {
    fn peer_ip(i: usize) -> String {
        format!("127.0.0.{}", 20 + i)
    }
    fn peer_as(i: usize) -> u32 {
        65000 + i as u32
    }
    fn cmd_file(&self, i: usize) -> PathBuf {
        self.dir.join(format!("cmd-{i}"))
    }

    /// Write a command for peer `i`'s ExaBGP (it follows the file with `tail -F`).
    fn say(&self, i: usize, line: &str) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.cmd_file(i))
            .expect("command file");
        writeln!(f, "{line}").expect("written");
    }

    fn announce(&self, i: usize, upstream: u32) {
        let nh = format!("198.18.0.{}", 20 + i);
        self.say(
            i,
            &format!(
                "announce route {WATCHED} next-hop {nh} as-path [ {} {upstream} {AS} ]",
                Self::peer_as(i)
            ),
        );
    }

    fn withdraw(&self, i: usize) {
        let nh = format!("198.18.0.{}", 20 + i);
        self.say(i, &format!("withdraw route {WATCHED} next-hop {nh}"));
    }

    fn fillers() -> String {
        (1..=FILLERS)
            .map(|j| format!("198.51.{j}.0/24"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn start_router(&mut self) {
        let mut conf = format!(
            "[global.config]\n  as = 65000\n  router-id = \"10.0.0.1\"\n  port = {}\n  local-address-list = [\"127.0.0.1\"]\n\
             [[bmp-servers]]\n  [bmp-servers.config]\n    address = \"127.0.0.1\"\n    port = {}\n    route-monitoring-policy = \"pre-policy\"\n",
            self.bgp_port, self.bmp_port
        );
        for i in 1..=PEERS {
            conf.push_str(&format!(
                "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{}\"\n    peer-as = {}\n  [neighbors.transport.config]\n    local-address = \"127.0.0.1\"\n    passive-mode = true\n",
                Self::peer_ip(i),
                Self::peer_as(i)
            ));
        }
        let path = self.dir.join("router.toml");
        std::fs::write(&path, conf).expect("router config");
        let log = std::fs::File::create(self.dir.join("router.log")).expect("log");
        self.router = Some(Group::spawn(
            Command::new(&self.gobgpd)
                .arg("-f")
                .arg(&path)
                .args(["--api-hosts", &format!("127.0.0.1:{}", self.api_port)])
                .args(["-l", "info"])
                .stdout(log.try_clone().expect("log"))
                .stderr(log),
        ));
    }

    fn start_peer(&mut self, i: usize) {
        let conf = format!(
            "process ctl {{\n    run /usr/bin/tail -n +1 -F {};\n    encoder text;\n}}\n\
             neighbor 127.0.0.1 {{\n    router-id {ip};\n    local-address {ip};\n    local-as {asn};\n    peer-as 65000;\n    connect {port};\n    hold-time 90;\n    group-updates true;\n    family {{ ipv4 unicast; }}\n    api {{ processes [ ctl ]; }}\n}}\n",
            self.cmd_file(i).display(),
            ip = Self::peer_ip(i),
            asn = Self::peer_as(i),
            port = self.bgp_port
        );
        let path = self.dir.join(format!("peer{i}.conf"));
        std::fs::write(&path, conf).expect("peer config");
        let log = std::fs::File::create(self.dir.join(format!("peer{i}.log"))).expect("log");
        self.peers[i] = Some(Group::spawn(
            Command::new(&self.exabgp)
                .arg(&path)
                .envs([
                    ("exabgp_daemon_user", "root"),
                    ("exabgp_daemon_drop", "false"),
                    ("exabgp_daemon_daemonize", "false"),
                    ("exabgp_api_ack", "false"),
                    ("exabgp_api_cli", "false"),
                    ("exabgp_log_destination", "stdout"),
                ])
                .stdout(log.try_clone().expect("log"))
                .stderr(log),
        ));
    }

    /// Sessions established at the router (`gobgp neighbor`).
    fn established(&self) -> usize {
        let out = Command::new("gobgp")
            .args(["-p", &self.api_port.to_string(), "neighbor"])
            .output();
        out.map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.contains("Establ"))
                .count()
        })
        .unwrap_or(0)
    }

    fn wait_established(&self, within: Duration) {
        let end = Instant::now() + within;
        while self.established() < PEERS && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(self.established(), PEERS, "every session is up");
    }

    /// Wait for a stderr line of the monitor containing `needle`.
    fn wait_said(&mut self, needle: &str, within: Duration) -> String {
        let end = Instant::now() + within;
        if let Some(l) = self.said.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.said.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "the monitor did not say {needle:?} within {within:?}; it said:\n{}",
            self.said.join("\n")
        );
    }

    fn alerts(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("alerts.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("an alert is JSON"))
            .collect()
    }

    /// Wait until `n` alerts have been written.
    fn wait_alerts(&self, n: usize, within: Duration) -> Vec<Value> {
        let end = Instant::now() + within;
        loop {
            let a = self.alerts();
            if a.len() >= n || Instant::now() > end {
                return a;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn alert_time(a: &Value) -> f64 {
    chrono::DateTime::parse_from_rfc3339(a["time"].as_str().expect("time"))
        .expect("RFC 3339")
        .timestamp_micros() as f64
        / 1e6
}

/// Alerts as `event` or `event/ASupstream`.
fn kinds(alerts: &[Value]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| match a["details"]["upstream"].as_u64() {
            Some(u) => format!("{}/AS{u}", a["event"].as_str().unwrap_or("?")),
            None => a["event"].as_str().unwrap_or("?").to_string(),
        })
        .collect()
}

#[test]
fn a_router_over_bmp_alerts_on_the_cut_within_seconds_and_not_on_noise() {
    let (Some(gobgpd), Some(exabgp)) = (tool("/usr/bin/gobgpd"), tool("/usr/sbin/exabgp")) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    std::fs::write(
        dir.join("monitor.toml"),
        format!(
            "state_dir = \"{d}/state\"\ncache_dir = \"{d}/cache\"\n\
             [[watch]]\nasn = {AS}\nprefixes = [\"{WATCHED}\"]\n\
             [source]\nbmp_listen = \"127.0.0.1:0\"\nbmp_dump_deadline = \"60s\"\n\
             [thresholds]\nmin_duration = \"0s\"\nmass_window = \"8s\"\n\
             [[sink]]\ntype = \"file\"\npath = \"{d}/alerts.jsonl\"\n",
            d = dir.display()
        ),
    )
    .expect("config");

    // The monitor first: the station's port goes into the router's configuration.
    let monitor = Group::spawn(
        Command::new(env!("CARGO_BIN_EXE_cutoff"))
            .env_remove("CACHE_DIRECTORY")
            .env("XDG_CACHE_HOME", common::test_cache())
            .args(["monitor", "--follow", "--config"])
            .arg(dir.join("monitor.toml"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let (tx, rx) = mpsc::channel();
    let mut monitor = monitor;
    let err = monitor.0.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut lab = Lab {
        dir: dir.clone(),
        gobgpd,
        exabgp,
        bgp_port: free_port(),
        api_port: free_port(),
        bmp_port: 0,
        router: None,
        peers: (0..=PEERS).map(|_| None).collect(),
        monitor: Some(monitor),
        stderr: rx,
        said: Vec::new(),
    };
    let listening = lab.wait_said("BMP station listening on", Duration::from_secs(30));
    lab.bmp_port = listening
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .expect("the station's port");

    // Baseline: each peer a table of 21 routes, AS64511 through its first upstream.
    for i in 1..=PEERS {
        lab.say(
            i,
            &format!(
                "announce attributes next-hop 198.18.0.{} as-path [ {} 1299 64600 ] nlri {}",
                20 + i,
                Lab::peer_as(i),
                Lab::fillers()
            ),
        );
        lab.announce(i, first_upstream(i));
    }
    lab.start_router();
    for i in 1..=PEERS {
        lab.start_peer(i);
    }
    lab.wait_said(
        "initial table read (6 sessions, 6 watched routes)",
        Duration::from_secs(60),
    );
    assert_eq!(lab.established(), PEERS);

    // A session reset (peer 6's speaker restarts) and a peer withdrawing its whole table
    // (peer 5, then announcing it again): no alert.
    lab.peers[6].take();
    std::thread::sleep(Duration::from_secs(2));
    lab.start_peer(6);
    lab.wait_established(Duration::from_secs(30));
    let nh5 = "next-hop 198.18.0.25";
    lab.say(
        5,
        &format!(
            "withdraw attributes {nh5} nlri {} {WATCHED}",
            Lab::fillers()
        ),
    );
    std::thread::sleep(Duration::from_secs(2));
    lab.say(
        5,
        &format!(
            "announce attributes {nh5} as-path [ 65005 1299 64600 ] nlri {}",
            Lab::fillers()
        ),
    );
    lab.announce(5, 6939);
    // Both settle (8 s mass window; a session up again counts after the same).
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(
        kinds(&lab.alerts()),
        Vec::<String>::new(),
        "noise is no alert"
    );

    // AS3549 stops carrying it: upstream_lost, at the time of the last withdrawal.
    lab.withdraw(1);
    lab.withdraw(2);
    std::thread::sleep(Duration::from_millis(300));
    let cut = now_secs();
    lab.withdraw(3);
    let a = lab.wait_alerts(1, Duration::from_secs(10));
    assert_eq!(kinds(&a), ["upstream_lost/AS3549"]);
    let lag = alert_time(&a[0]) - cut;
    assert!(
        (0.0..1.0).contains(&lag),
        "alert dated {lag:.3} s after the withdrawal"
    );

    // The last upstream goes: disconnected.
    lab.withdraw(4);
    lab.withdraw(5);
    std::thread::sleep(Duration::from_millis(300));
    let last = now_secs();
    lab.withdraw(6);
    let a = lab.wait_alerts(2, Duration::from_secs(10));
    assert_eq!(kinds(&a)[1..], ["disconnected"]);
    let lag = alert_time(&a[1]) - last;
    assert!(
        (0.0..1.0).contains(&lag),
        "alert dated {lag:.3} s after the withdrawal"
    );

    // It comes back through AS174 (peers 1–3): restored, and AS174 gained.
    for i in 1..=3 {
        lab.announce(i, 174);
    }
    let a = lab.wait_alerts(4, Duration::from_secs(10));
    let mut back = kinds(&a[2..]);
    back.sort();
    assert_eq!(back, ["restored", "upstream_gained/AS174"]);

    // The router restarts: its sessions are unknown, then its table is read again. No alert.
    lab.router.take();
    lab.wait_said("disconnected", Duration::from_secs(10));
    lab.start_router();
    lab.wait_established(Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(12));
    let a = lab.alerts();
    assert_eq!(
        kinds(&a).len(),
        4,
        "no alert from the restart: {:?}",
        kinds(&a)
    );

    // Each alert once, with its own key.
    let keys: std::collections::BTreeSet<&str> =
        a.iter().filter_map(|x| x["key"].as_str()).collect();
    assert_eq!(keys.len(), 4);

    // SIGTERM: the checkpoint is written and the monitor exits 0.
    let mut m = lab.monitor.take().expect("monitor");
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(m.0.id() as i32, libc::SIGTERM) };
    let status = m.0.wait().expect("exits");
    assert!(status.success(), "{status:?}");
    let ck: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("state/checkpoint.json")).expect("checkpoint"),
    )
    .expect("JSON");
    assert_eq!(ck["alerts"].as_array().map(Vec::len), Some(4));
}
