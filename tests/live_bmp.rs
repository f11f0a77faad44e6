//! `cutoff monitor --follow` fed by two real routers over BMP: GoBGP 3.10 (127.0.0.1) and FRR
//! 8.4 (`bgpd -M bmp`, 127.0.0.2), both AS65000, export their pre-policy Adj-RIB-In to the
//! station; six ExaBGP peers (AS65001–AS65006, on 127.0.0.21–26) peer with both and announce
//! and withdraw what the test writes to their command files. The McColo-like sequence: a
//! session reset and a peer withdrawing its whole table (no alert), the AS losing one upstream,
//! then its last, then its return; then each router restarts in turn (no alert). Every alert is
//! checked: its kind, its time against the withdrawal's, once each.

mod common;

use serde_json::Value;
use std::collections::BTreeMap;
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
    common::installed(
        &[path],
        &format!("{path} (apt-get install gobgpd exabgp frr)"),
    )
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
    frr_bgpd: PathBuf,
    bgp_port: u16,
    api_port: u16,
    frr_port: u16,
    bmp_port: u16,
    metrics_port: u16,
    router: Option<Group>,
    frr: Option<Group>,
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
            "[global.config]\n  as = 65000\n  router-id = \"10.0.0.1\"\n  port = {}\n  local-address-list = [\"127.0.0.1\"]\n",
            self.bgp_port
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

    fn exabgp_neighbor(i: usize, router: &str, port: u16) -> String {
        format!(
            "neighbor {router} {{\n    router-id {ip};\n    local-address {ip};\n    local-as {asn};\n    peer-as 65000;\n    connect {port};\n    hold-time 90;\n    group-updates true;\n    family {{ ipv4 unicast; }}\n    api {{ processes [ ctl ]; }}\n}}\n",
            ip = Self::peer_ip(i),
            asn = Self::peer_as(i),
        )
    }

    /// FRR's bgpd without zebra, BMP loaded; `soft-reconfiguration inbound` on each neighbor,
    /// without which FRR sends every pre-policy announcement as a withdrawal (FRR issue 10240).
    fn start_frr(&mut self) {
        let run = self.dir.join("frr");
        std::fs::create_dir_all(&run).expect("frr dir");
        let mut conf = format!(
            "frr defaults traditional\nhostname lab-frr\nlog file {}/bgpd.log informational\n\
             bgp route-map delay-timer 0\nroute-map ALL permit 10\nexit\n\
             router bgp 65000\n bgp router-id 10.0.0.2\n no bgp ebgp-requires-policy\n",
            run.display()
        );
        for i in 1..=PEERS {
            let ip = Self::peer_ip(i);
            conf.push_str(&format!(
                " neighbor {ip} remote-as {}\n neighbor {ip} passive\n neighbor {ip} update-source 127.0.0.2\n neighbor {ip} disable-connected-check\n",
                Self::peer_as(i)
            ));
        }
        conf.push_str(" address-family ipv4 unicast\n");
        for i in 1..=PEERS {
            let ip = Self::peer_ip(i);
            conf.push_str(&format!(
                "  neighbor {ip} soft-reconfiguration inbound\n  neighbor {ip} route-map ALL in\n"
            ));
        }
        conf.push_str(
            " exit-address-family\n bmp targets cutoff\n  bmp monitor ipv4 unicast pre-policy\n exit\nexit\n",
        );
        let path = run.join("bgpd.conf");
        std::fs::write(&path, conf).expect("frr config");
        let log = std::fs::File::create(run.join("stdout.log")).expect("log");
        self.frr = Some(Group::spawn(
            Command::new(&self.frr_bgpd)
                .arg("-f")
                .arg(&path)
                .arg("-i")
                .arg(run.join("bgpd.pid"))
                .arg("--vty_socket")
                .arg(&run)
                .arg("-z")
                .arg(run.join("zserv.api"))
                .args(["-Z", "-n", "-l", "127.0.0.2", "-S", "-P", "0", "-M", "bmp"])
                .args(["-p", &self.frr_port.to_string()])
                .stdout(log.try_clone().expect("log"))
                .stderr(log),
        ));
    }

    fn start_peer(&mut self, i: usize) {
        let conf = format!(
            "process ctl {{\n    run /usr/bin/tail -n +1 -F {};\n    encoder text;\n}}\n{}{}",
            self.cmd_file(i).display(),
            Self::exabgp_neighbor(i, "127.0.0.1", self.bgp_port),
            Self::exabgp_neighbor(i, "127.0.0.2", self.frr_port),
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
    /// Point GoBGP at the station (`gobgp bmp add`, pre-policy): it connects at once and sends
    /// its table with End-of-RIB markers. Configured in `gobgpd.toml` instead, GoBGP retries a
    /// station that is not up yet with a growing backoff, which made the start time vary.
    fn gobgp_bmp_add(&self) {
        common::other_succeeds(
            Command::new("gobgp")
                .args(["-p", &self.api_port.to_string(), "bmp", "add"])
                .arg(format!("127.0.0.1:{}", self.bmp_port))
                .arg("pre"),
        );
    }

    /// Point FRR at the station (`bmp connect`, through vtysh) once its sessions are up, for
    /// the same reason as [`Lab::gobgp_bmp_add`].
    fn frr_bmp_connect(&self) {
        common::other_succeeds(
            Command::new("vtysh")
                .arg("--vty_socket")
                .arg(self.dir.join("frr"))
                .args(["-c", "configure terminal", "-c", "router bgp 65000"])
                .args(["-c", "bmp targets cutoff"])
                .arg("-c")
                .arg(format!(
                    "bmp connect 127.0.0.1 port {} min-retry 100 max-retry 1000",
                    self.bmp_port
                )),
        );
    }

    /// Sessions established at both routers (`gobgp neighbor`, `vtysh … summary`).
    fn established(&self) -> usize {
        let lines = |out: std::io::Result<std::process::Output>| -> Vec<String> {
            out.map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
        };
        let gobgp = lines(
            Command::new("gobgp")
                .args(["-p", &self.api_port.to_string(), "neighbor"])
                .output(),
        );
        let frr = lines(
            Command::new("vtysh")
                .arg("--vty_socket")
                .arg(self.dir.join("frr"))
                .args(["-c", "show bgp ipv4 unicast summary"])
                .output(),
        );
        // FRR: a neighbor line whose State/PfxRcd column is a count is Established.
        let frr_up = frr.iter().filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.first().is_some_and(|a| a.starts_with("127.0.0.2"))
                && f.get(9).is_some_and(|c| c.parse::<u32>().is_ok())
        });
        gobgp.iter().filter(|l| l.contains("Establ")).count() + frr_up.count()
    }

    fn wait_established(&self, within: Duration) {
        let end = Instant::now() + within;
        while self.established() < 2 * PEERS && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(self.established(), 2 * PEERS, "every session is up");
    }

    /// Wait for a stderr line of the monitor containing `needle`.
    fn wait_said(&mut self, needle: &str, within: Duration) -> String {
        self.wait_said_n(needle, 1, within)
    }

    /// Wait for the `n`th stderr line of the monitor containing `needle` (counting from the
    /// start).
    fn wait_said_n(&mut self, needle: &str, n: usize, within: Duration) -> String {
        let end = Instant::now() + within;
        let found = |said: &[String]| {
            said.iter()
                .filter(|l| l.contains(needle))
                .nth(n - 1)
                .cloned()
        };
        if let Some(l) = found(&self.said) {
            return l;
        }
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.said.push(line);
                    if let Some(l) = found(&self.said) {
                        return l;
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

    /// Peers `peers` withdraw the AS, the last one 0.3 s after the others: the next alert is
    /// `kind`, in the file within 10 s, dated 0–1 s after the last withdrawal was written.
    fn cut(&self, peers: std::ops::RangeInclusive<usize>, kind: &str) {
        let before = self.alerts().len();
        let last = *peers.end();
        for i in *peers.start()..last {
            self.withdraw(i);
        }
        std::thread::sleep(Duration::from_millis(300));
        let written = now_secs();
        self.withdraw(last);
        let a = self.wait_alerts(before + 1, Duration::from_secs(10));
        // For scripts/bench-live.sh: from writing the last withdrawal to the alert in the file.
        let event = kind.split('/').next().unwrap_or(kind);
        println!("latency {event} {:.3} s", now_secs() - written);
        assert_eq!(kinds(&a)[before..], [kind]);
        let lag = alert_time(&a[before]) - written;
        assert!(
            (0.0..1.0).contains(&lag),
            "alert dated {lag:.3} s after the withdrawal"
        );
    }

    /// The monitor's Prometheus metrics, as (series, value) lines (a plain HTTP/1.0 GET).
    fn metrics(&self) -> BTreeMap<String, f64> {
        use std::io::Read;
        let mut c =
            std::net::TcpStream::connect(("127.0.0.1", self.metrics_port)).expect("metrics");
        c.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .expect("request");
        let mut text = String::new();
        c.read_to_string(&mut text).expect("response");
        assert!(
            text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200"),
            "{text}"
        );
        text.lines()
            .filter(|l| l.starts_with("cutoff_"))
            .filter_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect()
    }

    fn alerts(&self) -> Vec<Value> {
        common::alerts_in(&self.dir.join("alerts.jsonl"))
    }

    /// Wait until `n` alerts have been written.
    fn wait_alerts(&self, n: usize, within: Duration) -> Vec<Value> {
        let end = Instant::now() + within;
        loop {
            let a = self.alerts();
            if a.len() >= n || Instant::now() > end {
                return a;
            }
            std::thread::sleep(Duration::from_millis(2));
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

/// The monitor, the router and the six peers with their baseline, once the station has read
/// the router's initial table; `None` where the daemons are not installed.
fn start_lab(tmp: &Path) -> Option<Lab> {
    let (Some(gobgpd), Some(exabgp), Some(frr_bgpd)) = (
        tool("/usr/bin/gobgpd"),
        tool("/usr/sbin/exabgp"),
        tool("/usr/lib/frr/bgpd"),
    ) else {
        return None;
    };
    let dir = tmp.to_path_buf();
    let bmp_port = free_port();
    let metrics_port = free_port();
    std::fs::write(
        dir.join("monitor.toml"),
        format!(
            "state_dir = \"{d}/state\"\ncache_dir = \"{d}/cache\"\n\
             metrics_listen = \"127.0.0.1:{metrics_port}\"\n\
             [[watch]]\nasn = {AS}\nprefixes = [\"{WATCHED}\"]\n\
             [source]\nbmp_listen = \"127.0.0.1:{bmp_port}\"\nbmp_dump_deadline = \"60s\"\n\
             [thresholds]\nmin_duration = \"0s\"\nmass_window = \"8s\"\n\
             [[sink]]\ntype = \"file\"\npath = \"{d}/alerts.jsonl\"\n",
            d = dir.display()
        ),
    )
    .expect("config");
    let (tx, rx) = mpsc::channel();
    let mut lab = Lab {
        dir: dir.clone(),
        gobgpd,
        exabgp,
        frr_bgpd,
        bgp_port: free_port(),
        api_port: free_port(),
        frr_port: free_port(),
        bmp_port,
        metrics_port,
        router: None,
        frr: None,
        peers: (0..=PEERS).map(|_| None).collect(),
        monitor: None,
        stderr: rx,
        said: Vec::new(),
    };

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
    // The routers and their sessions first, then the station, then each router is pointed at
    // it: it sends its whole table (GoBGP with End-of-RIB markers, FRR without).
    lab.start_router();
    lab.start_frr();
    for i in 1..=PEERS {
        lab.start_peer(i);
    }
    lab.wait_established(Duration::from_secs(60));
    let monitor = Group::spawn(
        Command::new(env!("CARGO_BIN_EXE_cutoff"))
            .env_remove("CACHE_DIRECTORY")
            .env("XDG_CACHE_HOME", common::test_cache())
            .args(["monitor", "--follow", "--config"])
            .arg(dir.join("monitor.toml"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let mut monitor = monitor;
    let err = monitor.0.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    lab.monitor = Some(monitor);
    lab.wait_said("BMP station listening on", Duration::from_secs(30));
    lab.gobgp_bmp_add();
    lab.frr_bmp_connect();
    for n in 1..=2 {
        lab.wait_said_n(
            "initial table read (6 sessions, 6 watched routes)",
            n,
            Duration::from_secs(90),
        );
    }
    Some(lab)
}

#[test]
fn a_router_over_bmp_alerts_on_the_cut_within_seconds_and_not_on_noise() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(mut lab) = start_lab(tmp.path()) else {
        return;
    };
    let dir = tmp.path().to_path_buf();

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
    lab.cut(1..=3, "upstream_lost/AS3549");
    // The last upstream goes: disconnected.
    lab.cut(4..=6, "disconnected");

    // The metrics: both routers connected and heard from, the alerts' latency.
    let m = lab.metrics();
    for r in ["bmp:GoBGP@10.0.0.1", "bmp:lab-frr@10.0.0.2"] {
        assert_eq!(
            m[&format!("cutoff_source_connected{{source=\"{r}\"}}")],
            1.0
        );
        let heard = m[&format!("cutoff_last_message_timestamp_seconds{{collector=\"{r}\"}}")];
        assert!((now_secs() - heard).abs() < 30.0, "{r} heard at {heard}");
    }
    assert_eq!(m["cutoff_alerts_total"], 2.0);
    assert_eq!(m["cutoff_alert_latency_seconds_count"], 2.0);
    // Judged when the second of the last withdrawal ends: under 1.1 s after it.
    assert!(m["cutoff_alert_latency_max_seconds"] < 1.1, "{m:?}");
    assert_eq!(m["cutoff_events_total{kind=\"disconnected\"}"], 1.0);

    // It comes back through AS174 (peers 1–3): restored, and AS174 gained.
    for i in 1..=3 {
        lab.announce(i, 174);
    }
    let a = lab.wait_alerts(4, Duration::from_secs(10));
    let mut back = kinds(&a[2..]);
    back.sort();
    assert_eq!(back, ["restored", "upstream_gained/AS174"]);

    // Each router restarts in turn: its sessions are unknown, then its table is read again.
    // No alert.
    lab.router.take();
    lab.wait_said(
        "router bmp:GoBGP@10.0.0.1 disconnected",
        Duration::from_secs(10),
    );
    assert_eq!(
        lab.metrics()["cutoff_source_connected{source=\"bmp:GoBGP@10.0.0.1\"}"],
        0.0
    );
    lab.start_router();
    lab.wait_established(Duration::from_secs(60));
    lab.gobgp_bmp_add();
    lab.wait_said_n("initial table read (6 sessions", 3, Duration::from_secs(90));
    lab.frr.take();
    lab.wait_said(
        "router bmp:lab-frr@10.0.0.2 disconnected",
        Duration::from_secs(10),
    );
    lab.start_frr();
    lab.wait_established(Duration::from_secs(60));
    lab.frr_bmp_connect();
    lab.wait_said_n("initial table read (6 sessions", 4, Duration::from_secs(90));
    std::thread::sleep(Duration::from_secs(10));
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
