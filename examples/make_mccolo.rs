//! Deterministic generator of the **McColo takedown reconstruction** sample.
//!
//! This writes SYNTHETIC MRT files built to resemble what RouteViews
//! route-views2 recorded around the 2008-11-11 de-peering of McColo (AS26780)
//! by Global Crossing (AS3549) and Hurricane Electric (AS6939). It is a
//! reconstruction, not archive data: the peers (IP + ASN), their AS paths and
//! the background prefixes are real route-views2 values taken from February
//! 2008 update files (see `scripts/mccolo-input.tsv` and
//! `scripts/mccolo-extract.py`), the November 2008 timeline is scripted.
//!
//! ```text
//! cargo run --release --example make_mccolo -- samples/mccolo-2008-11
//! cargo run --release --example make_mccolo -- --verify samples/mccolo-2008-11
//! ```
//!
//! Layout (route-views2 has no collector folder):
//! `OUT/bgpdata/2008.11/RIBS/rib.20081110.0000.bz2` (TABLE_DUMP v1, AFI IPv4)
//! and `OUT/bgpdata/2008.11/UPDATES/updates.YYYYMMDD.HHMM.bz2`, one file per
//! 15 minutes from 2008-11-10 00:00 to 2008-11-16 00:00 UTC (BGP4MP_MESSAGE
//! and BGP4MP_STATE_CHANGE, 2-byte ASNs), plus `OUT/SHA256SUMS`.
//!
//! Determinism: a seeded SplitMix64 PRNG, BTree collections only, no clock.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail, ensure};
use bgpkit_parser::BgpkitParser;
use bgpkit_parser::models::{
    AsPath, Asn, AttributeValue, Attributes, Bgp4MpEnum, Bgp4MpMessage, Bgp4MpStateChange,
    Bgp4MpType, BgpMessage, BgpState, BgpUpdateMessage, EntryType, MrtMessage, NetworkPrefix,
    Origin, TableDumpMessage,
};
use chrono::{DateTime, NaiveDate, Utc};

#[path = "common/mrt.rs"]
mod mrt;
use ipnet::{IpNet, Ipv4Net};
use mrt::record;
use sha2::{Digest, Sha256};

/// Real February 2008 inputs, extracted by `scripts/mccolo-extract.py`.
const INPUT: &str = include_str!("../scripts/mccolo-input.tsv");

/// route-views2's own AS and address (as recorded in its 2008 BGP4MP files).
const LOCAL_ASN: u32 = 6447;
const LOCAL_IP: Ipv4Addr = Ipv4Addr::new(128, 223, 51, 102);

const MCCOLO_ASN: u32 = 26780;
const MCCOLO_PREFIXES: [&str; 3] = ["208.66.192.0/22", "208.72.168.0/21", "208.72.173.0/24"];
/// The peer that keeps a stale McColo route after the cut (path 13237 6939 26780).
const GHOST_IP: Ipv4Addr = Ipv4Addr::new(81, 209, 156, 1);
/// Decoy 1: session reset.
const RESET_IP: Ipv4Addr = Ipv4Addr::new(194, 85, 4, 55);
/// Decoy 2: mass withdrawal without a state change.
const MASS_IP: Ipv4Addr = Ipv4Addr::new(217, 75, 96, 60);
/// How many peers come back through AS1299 on 2008-11-15.
const RETURN_PEERS: usize = 30;
const SEED: u64 = 0x4d63_436f_6c6f_2008; // "McColo" 2008

const FILE_SPAN: i64 = 15 * 60;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, out] if flag == "--verify" => verify(Path::new(out)),
        [out] if !out.starts_with('-') => generate(Path::new(out)),
        _ => bail!("usage: make_mccolo OUT_DIR | make_mccolo --verify OUT_DIR"),
    }
}

// ---------------------------------------------------------------------------
// time helpers

/// Seconds since the epoch of 2008-11-DD HH:MM:SS UTC.
fn at(day: u32, h: u32, m: u32, s: u32) -> Result<i64> {
    let dt = NaiveDate::from_ymd_opt(2008, 11, day)
        .and_then(|d| d.and_hms_opt(h, m, s))
        .ok_or_else(|| anyhow!("bad date 2008-11-{day} {h}:{m}:{s}"))?;
    Ok(dt.and_utc().timestamp())
}

fn fmt_ts(ts: i64) -> String {
    match DateTime::<Utc>::from_timestamp(ts, 0) {
        Some(d) => d.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => format!("@{ts}"),
    }
}

/// The scenario's fixed instants.
struct Times {
    start: i64,
    end: i64,
    reset_down: i64,
    reset_up: i64,
    mass_withdraw: i64,
    mass_reannounce: i64,
    cut3549: i64,
    cut6939: i64,
    ghost_withdraw: i64,
    return_announce: i64,
    return_withdraw: i64,
}

impl Times {
    fn new() -> Result<Self> {
        Ok(Times {
            start: at(10, 0, 0, 0)?,
            end: at(16, 0, 0, 0)?,
            reset_down: at(10, 14, 5, 0)?,
            reset_up: at(10, 14, 27, 0)?,
            mass_withdraw: at(11, 3, 10, 0)?,
            mass_reannounce: at(11, 3, 20, 0)?,
            cut3549: at(11, 21, 24, 10)?,
            cut6939: at(11, 21, 31, 40)?,
            ghost_withdraw: at(12, 3, 0, 0)?,
            return_announce: at(15, 3, 12, 0)?,
            return_withdraw: at(15, 15, 40, 0)?,
        })
    }
}

// ---------------------------------------------------------------------------
// PRNG

/// SplitMix64: tiny, seeded, platform independent.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        let mut r = Rng(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F));
        r.next_u64();
        r
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (requires `lo <= hi`).
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = hi.abs_diff(lo) + 1;
        lo + (self.next_u64() % span) as i64
    }

    fn index(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    fn percent(&mut self, p: u64) -> bool {
        self.next_u64() % 100 < p
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.index(i + 1);
            v.swap(i, j);
        }
    }

    /// `n` sorted offsets in `0..=span`, the first exactly 0 and (n > 1) the last exactly `span`.
    fn spread(&mut self, n: usize, span: i64) -> Vec<i64> {
        let mut v: Vec<i64> = (0..n).map(|_| self.range(1, span - 1)).collect();
        v.sort_unstable();
        if let Some(first) = v.first_mut() {
            *first = 0;
        }
        if n > 1
            && let Some(last) = v.last_mut()
        {
            *last = span;
        }
        v
    }
}

// ---------------------------------------------------------------------------
// input

#[derive(Clone, Debug)]
struct Route {
    prefix: Ipv4Net,
    origin: Origin,
    path: Vec<u32>,
}

#[derive(Debug)]
struct Peer {
    ip: Ipv4Addr,
    asn: u32,
    partial: bool,
    /// Path to McColo at the November baseline (upstream 3549 or 6939).
    base: Vec<u32>,
    base_src: String,
    /// Path via 6939 a 3549-peer moves to at the first cut (else it withdraws).
    reroute: Option<Vec<u32>>,
    /// Longer 6939 path briefly announced during the second cut (path hunting).
    hunt: Option<Vec<u32>>,
    /// Path via 1299 used for the brief return.
    ret: Option<Vec<u32>>,
    bg: Vec<Route>,
}

impl Peer {
    fn base_upstream(&self) -> u32 {
        upstream(&self.base)
    }
}

/// The AS just before the origin (origin prepending skipped).
fn upstream(path: &[u32]) -> u32 {
    let Some(&origin) = path.last() else { return 0 };
    path.iter()
        .rev()
        .find(|&&a| a != origin)
        .copied()
        .unwrap_or(0)
}

fn parse_path(s: &str) -> Result<Vec<u32>> {
    s.split_whitespace()
        .map(|a| {
            let v: u32 = a.parse().with_context(|| format!("bad ASN {a:?}"))?;
            ensure!(
                v <= u32::from(u16::MAX),
                "ASN {v} does not fit a 2-byte AS_PATH"
            );
            Ok(v)
        })
        .collect()
}

fn parse_opt_path(s: &str) -> Result<Option<Vec<u32>>> {
    if s == "-" {
        Ok(None)
    } else {
        parse_path(s).map(Some)
    }
}

/// `i3356 1239 7459` -> (IGP, [peer, 3356, 1239, 7459])
fn parse_route(peer_asn: u32, prefix: &str, s: &str) -> Result<Route> {
    let mut chars = s.chars();
    let origin = match chars.next() {
        Some('i') => Origin::IGP,
        Some('e') => Origin::EGP,
        Some('?') => Origin::INCOMPLETE,
        other => bail!("bad origin code {other:?} in {s:?}"),
    };
    let mut path = vec![peer_asn];
    path.extend(parse_path(chars.as_str())?);
    Ok(Route {
        prefix: prefix
            .parse()
            .with_context(|| format!("bad prefix {prefix:?}"))?,
        origin,
        path,
    })
}

fn load_peers() -> Result<Vec<Peer>> {
    let mut peers: Vec<Peer> = Vec::new();
    for (n, line) in INPUT.lines().enumerate() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let ctx = || format!("scripts/mccolo-input.tsv line {}", n + 1);
        match f[0] {
            "peer" => {
                ensure!(f.len() == 9, "{}: expected 9 fields", ctx());
                let asn: u32 = f[2].parse().with_context(ctx)?;
                peers.push(Peer {
                    ip: f[1].parse().with_context(ctx)?,
                    asn,
                    partial: f[3] == "partial",
                    base: parse_path(f[4]).with_context(ctx)?,
                    base_src: f[5].to_string(),
                    reroute: parse_opt_path(f[6]).with_context(ctx)?,
                    hunt: parse_opt_path(f[7]).with_context(ctx)?,
                    ret: parse_opt_path(f[8]).with_context(ctx)?,
                    bg: Vec::new(),
                });
            }
            "bg" => {
                let full: Vec<usize> = (0..peers.len()).filter(|&i| !peers[i].partial).collect();
                ensure!(
                    f.len() == 2 + full.len(),
                    "{}: expected one path per full-feed peer",
                    ctx()
                );
                for (k, &pi) in full.iter().enumerate() {
                    let r = parse_route(peers[pi].asn, f[1], f[2 + k]).with_context(ctx)?;
                    peers[pi].bg.push(r);
                }
            }
            "pbg" => {
                ensure!(f.len() == 4, "{}: expected 4 fields", ctx());
                let ip: Ipv4Addr = f[1].parse().with_context(ctx)?;
                let p = peers
                    .iter_mut()
                    .find(|p| p.ip == ip)
                    .ok_or_else(|| anyhow!("{}: unknown peer {ip}", ctx()))?;
                let r = parse_route(p.asn, f[2], f[3]).with_context(ctx)?;
                p.bg.push(r);
            }
            other => bail!("{}: unknown row type {other:?}", ctx()),
        }
    }
    for p in &peers {
        ensure!(
            matches!(p.base_upstream(), 3549 | 6939),
            "peer {} baseline upstream must be 3549 or 6939",
            p.ip
        );
        ensure!(
            !p.base.contains(&1299),
            "peer {} baseline path uses 1299",
            p.ip
        );
        ensure!(!p.bg.is_empty(), "peer {} has no background routes", p.ip);
    }
    for ip in [GHOST_IP, RESET_IP, MASS_IP] {
        ensure!(
            peers.iter().any(|p| p.ip == ip && !p.partial),
            "scenario peer {ip} missing"
        );
    }
    Ok(peers)
}

fn mccolo_prefixes() -> Result<Vec<Ipv4Net>> {
    MCCOLO_PREFIXES
        .iter()
        .map(|s| {
            s.parse::<Ipv4Net>()
                .with_context(|| format!("bad prefix {s}"))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// events

#[derive(Clone, Debug)]
enum Kind {
    Announce {
        origin: Origin,
        path: Vec<u32>,
        prefixes: Vec<Ipv4Net>,
    },
    Withdraw(Vec<Ipv4Net>),
    State(BgpState, BgpState),
}

#[derive(Clone, Debug)]
struct Event {
    ts: i64,
    peer: usize,
    kind: Kind,
}

/// Key records worth reporting (time, description).
#[derive(Default)]
struct Notes(Vec<(i64, String)>);

impl Notes {
    fn add(&mut self, ts: i64, s: String) {
        self.0.push((ts, s));
    }
}

/// Most prefixes put into one UPDATE (keeps every message far below 4096 bytes).
const MAX_NLRI_PER_UPDATE: usize = 200;

/// Announce `routes` (grouped by identical attributes) evenly over `from..=to`.
fn burst_announce(events: &mut Vec<Event>, peer: usize, routes: &[Route], from: i64, to: i64) {
    let mut groups: BTreeMap<(u8, Vec<u32>), Vec<Ipv4Net>> = BTreeMap::new();
    for r in routes {
        groups
            .entry((r.origin as u8, r.path.clone()))
            .or_default()
            .push(r.prefix);
    }
    let mut msgs: Vec<(Origin, Vec<u32>, Vec<Ipv4Net>)> = Vec::new();
    for ((o, path), prefixes) in groups {
        let origin = match o {
            0 => Origin::IGP,
            1 => Origin::EGP,
            _ => Origin::INCOMPLETE,
        };
        for chunk in prefixes.chunks(MAX_NLRI_PER_UPDATE) {
            msgs.push((origin, path.clone(), chunk.to_vec()));
        }
    }
    let n = msgs.len() as i64;
    for (i, (origin, path, prefixes)) in msgs.into_iter().enumerate() {
        let ts = spread(from, to, i as i64, n);
        events.push(Event {
            ts,
            peer,
            kind: Kind::Announce {
                origin,
                path,
                prefixes,
            },
        });
    }
}

/// The time of the `i`th of `n` messages spread evenly over `from..=to`.
fn spread(from: i64, to: i64, i: i64, n: i64) -> i64 {
    if n > 1 {
        from + (to - from) * i / (n - 1)
    } else {
        from
    }
}

/// Withdraw `prefixes` in packed UPDATEs evenly over `from..=to`.
fn burst_withdraw(events: &mut Vec<Event>, peer: usize, prefixes: &[Ipv4Net], from: i64, to: i64) {
    let chunks: Vec<&[Ipv4Net]> = prefixes.chunks(100).collect();
    let n = chunks.len() as i64;
    for (i, chunk) in chunks.into_iter().enumerate() {
        let ts = spread(from, to, i as i64, n);
        events.push(Event {
            ts,
            peer,
            kind: Kind::Withdraw(chunk.to_vec()),
        });
    }
}

fn mccolo_route(prefixes: &[Ipv4Net], path: &[u32]) -> Vec<Route> {
    prefixes
        .iter()
        .map(|&prefix| Route {
            prefix,
            origin: Origin::IGP,
            path: path.to_vec(),
        })
        .collect()
}

/// Background churn of one peer for the whole week, including the two decoy
/// outages (which depend on the churn state at the time they start).
fn churn(
    events: &mut Vec<Event>,
    notes: &mut Notes,
    pi: usize,
    peer: &Peer,
    t: &Times,
    mccolo: &[Ipv4Net],
) -> Result<()> {
    let mut rng = Rng::new(SEED, 1000 + pi as u64);
    let (lo, hi) = if peer.partial {
        (900, 2700)
    } else {
        (150, 540)
    };
    let n = peer.bg.len();
    let mut is_down = vec![false; n];
    let mut down: VecDeque<usize> = VecDeque::new();
    // (outage start, resume time, is session reset)
    let mut outage: Option<(i64, i64, bool)> = if peer.ip == RESET_IP {
        Some((t.reset_down, t.reset_up + 120, true))
    } else if peer.ip == MASS_IP {
        Some((t.mass_withdraw, t.mass_reannounce + 120, false))
    } else {
        None
    };
    let mut now = t.start + rng.range(5, 240);
    while now < t.end {
        if let Some((start, resume, reset)) = outage
            && now >= start
        {
            outage = None;
            ensure!(resume < t.cut3549, "decoy outages must precede the cut");
            let mut table: Vec<Route> = peer.bg.clone();
            table.extend(mccolo_route(mccolo, &peer.base));
            if reset {
                events.push(Event {
                    ts: start,
                    peer: pi,
                    kind: Kind::State(BgpState::Established, BgpState::Idle),
                });
                notes.add(
                    start,
                    format!(
                        "decoy 1: {} AS{} STATE Established->Idle",
                        peer.ip, peer.asn
                    ),
                );
                let up = t.reset_up;
                for (ts, a, b) in [
                    (up, BgpState::Idle, BgpState::Connect),
                    (up, BgpState::Connect, BgpState::OpenSent),
                    (up + 1, BgpState::OpenSent, BgpState::OpenConfirm),
                    (up + 1, BgpState::OpenConfirm, BgpState::Established),
                ] {
                    events.push(Event {
                        ts,
                        peer: pi,
                        kind: Kind::State(a, b),
                    });
                }
                notes.add(up, format!("decoy 1: {} AS{} STATE Idle->Connect->OpenSent (14:27:00) ->OpenConfirm->Established (14:27:01)", peer.ip, peer.asn));
                burst_announce(events, pi, &table, up + 2, resume);
                notes.add(
                    up + 2,
                    format!(
                        "decoy 1: {} re-announces its whole table ({} prefixes) until {}",
                        peer.ip,
                        table.len(),
                        fmt_ts(resume)
                    ),
                );
            } else {
                let mut gone: Vec<Ipv4Net> = peer
                    .bg
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !is_down[*i])
                    .map(|(_, r)| r.prefix)
                    .collect();
                gone.extend(mccolo.iter().copied());
                gone.sort_by_key(|p| (u32::from(p.network()), p.prefix_len()));
                let w_end = start + 120;
                burst_withdraw(events, pi, &gone, start, w_end);
                notes.add(start, format!("decoy 2: {} AS{} withdraws its whole table ({} prefixes incl. McColo) until {}, no state change", peer.ip, peer.asn, gone.len(), fmt_ts(w_end)));
                let re = t.mass_reannounce;
                burst_announce(events, pi, &table, re, resume);
                notes.add(
                    re,
                    format!(
                        "decoy 2: {} re-announces everything until {}",
                        peer.ip,
                        fmt_ts(resume)
                    ),
                );
            }
            is_down.iter_mut().for_each(|d| *d = false);
            down.clear();
            now = resume + rng.range(20, 200);
            continue;
        }
        let reannounce_down = !down.is_empty() && (down.len() > 6 || rng.percent(55));
        if reannounce_down {
            if let Some(i) = down.pop_front() {
                is_down[i] = false;
                let r = &peer.bg[i];
                events.push(Event {
                    ts: now,
                    peer: pi,
                    kind: Kind::Announce {
                        origin: r.origin,
                        path: r.path.clone(),
                        prefixes: vec![r.prefix],
                    },
                });
            }
        } else {
            // pick an announced prefix (a few tries; the table is ~1000 wide)
            let mut i = rng.index(n);
            while is_down[i] {
                i = rng.index(n);
            }
            let r = &peer.bg[i];
            if rng.percent(50) {
                is_down[i] = true;
                down.push_back(i);
                events.push(Event {
                    ts: now,
                    peer: pi,
                    kind: Kind::Withdraw(vec![r.prefix]),
                });
            } else {
                // duplicate / implicit-replacement announcement
                events.push(Event {
                    ts: now,
                    peer: pi,
                    kind: Kind::Announce {
                        origin: r.origin,
                        path: r.path.clone(),
                        prefixes: vec![r.prefix],
                    },
                });
            }
        }
        now += rng.range(lo, hi);
    }
    Ok(())
}

fn path_str(p: &[u32]) -> String {
    p.iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The McColo part of the timeline: the two cuts, the ghost, the 1299 return.
fn mccolo_events(
    events: &mut Vec<Event>,
    notes: &mut Notes,
    peers: &[Peer],
    t: &Times,
    mccolo: &[Ipv4Net],
) -> Result<()> {
    let mut rng = Rng::new(SEED, 1);
    let announce = |path: &[u32]| Kind::Announce {
        origin: Origin::IGP,
        path: path.to_vec(),
        prefixes: mccolo.to_vec(),
    };
    let withdraw = || Kind::Withdraw(mccolo.to_vec());

    // --- cut 1: AS3549 stops carrying McColo, 21:24:10 .. 21:25:30
    let mut via3549: Vec<usize> = (0..peers.len())
        .filter(|&i| peers[i].base_upstream() == 3549)
        .collect();
    rng.shuffle(&mut via3549);
    let offs = rng.spread(via3549.len(), 80);
    let mut carriers: Vec<usize> = (0..peers.len())
        .filter(|&i| peers[i].base_upstream() == 6939)
        .collect();
    for (k, &pi) in via3549.iter().enumerate() {
        let p = &peers[pi];
        let ts = t.cut3549 + offs[k];
        let what = match &p.reroute {
            Some(path) if p.asn != 3549 => {
                events.push(Event {
                    ts,
                    peer: pi,
                    kind: announce(path),
                });
                carriers.push(pi);
                format!("re-routes to {}", path_str(path))
            }
            _ => {
                events.push(Event {
                    ts,
                    peer: pi,
                    kind: withdraw(),
                });
                "withdraws".to_string()
            }
        };
        notes.add(
            ts,
            format!(
                "cut 3549: {} AS{} ({}) {}",
                p.ip,
                p.asn,
                path_str(&p.base),
                what
            ),
        );
    }

    // --- cut 2: AS6939 stops, 21:31:40 .. 21:33:00, everyone but the ghost
    let ghost = peers
        .iter()
        .position(|p| p.ip == GHOST_IP)
        .ok_or_else(|| anyhow!("ghost peer missing"))?;
    ensure!(
        carriers.contains(&ghost),
        "ghost must carry McColo via 6939"
    );
    carriers.retain(|&i| i != ghost);
    carriers.sort_unstable();
    let (mut hunters, mut plain): (Vec<usize>, Vec<usize>) =
        carriers.iter().partition(|&&i| peers[i].hunt.is_some());
    rng.shuffle(&mut hunters);
    rng.shuffle(&mut plain);
    // the very last withdrawal is a full-feed peer's
    let last_pos = plain
        .iter()
        .rposition(|&i| !peers[i].partial)
        .ok_or_else(|| anyhow!("no full-feed peer left for the last withdrawal"))?;
    let last = plain.remove(last_pos);
    // partial peers go early, so the final withdrawals are all full-feed and
    // "how many peers are left" reads the same whether partial peers count or not
    plain.sort_by_key(|&i| !peers[i].partial);
    let n = carriers.len();
    let offs = rng.spread(n, 80);
    let mut slots: Vec<Option<usize>> = vec![None; n];
    slots[n - 1] = Some(last);
    let mut eligible: Vec<usize> = (0..n - 1).filter(|&k| offs[k] >= 15).collect();
    rng.shuffle(&mut eligible);
    ensure!(
        eligible.len() >= hunters.len(),
        "not enough late slots for path hunting"
    );
    for (&k, &pi) in eligible.iter().zip(hunters.iter()) {
        slots[k] = Some(pi);
    }
    let mut rest = plain.into_iter();
    for slot in slots.iter_mut() {
        if slot.is_none() {
            *slot = rest.next();
        }
    }
    for (k, slot) in slots.iter().enumerate() {
        let pi = slot.ok_or_else(|| anyhow!("unfilled withdrawal slot"))?;
        let p = &peers[pi];
        let ts = t.cut6939 + offs[k];
        if let Some(h) = &p.hunt {
            let hts = ts - rng.range(3, 12);
            events.push(Event {
                ts: hts,
                peer: pi,
                kind: announce(h),
            });
            notes.add(
                hts,
                format!(
                    "cut 6939: {} AS{} path hunting, announces {}",
                    p.ip,
                    p.asn,
                    path_str(h)
                ),
            );
        }
        events.push(Event {
            ts,
            peer: pi,
            kind: withdraw(),
        });
        let tag = if p.partial { " [partial]" } else { "" };
        notes.add(
            ts,
            format!(
                "cut 6939: {} AS{}{} withdraws (remaining besides ghost: {})",
                p.ip,
                p.asn,
                tag,
                n - 1 - k
            ),
        );
    }

    // --- the ghost gives up
    events.push(Event {
        ts: t.ghost_withdraw,
        peer: ghost,
        kind: withdraw(),
    });
    notes.add(
        t.ghost_withdraw,
        format!(
            "ghost: {} AS{} finally withdraws its stale {}",
            peers[ghost].ip,
            peers[ghost].asn,
            path_str(&peers[ghost].base)
        ),
    );

    // --- brief return through AS1299
    let mut ret: Vec<usize> = (0..peers.len())
        .filter(|&i| peers[i].ret.is_some())
        .collect();
    rng.shuffle(&mut ret);
    ret.truncate(RETURN_PEERS);
    ret.sort_unstable();
    let mut order = ret.clone();
    rng.shuffle(&mut order);
    let offs = rng.spread(order.len(), 120);
    for (k, &pi) in order.iter().enumerate() {
        let p = &peers[pi];
        let path = p.ret.as_deref().ok_or_else(|| anyhow!("no 1299 path"))?;
        let ts = t.return_announce + offs[k];
        events.push(Event {
            ts,
            peer: pi,
            kind: announce(path),
        });
        notes.add(
            ts,
            format!(
                "return 1299: {} AS{} announces {} ({}/{})",
                p.ip,
                p.asn,
                path_str(path),
                k + 1,
                order.len()
            ),
        );
    }
    rng.shuffle(&mut order);
    let offs = rng.spread(order.len(), 120);
    for (k, &pi) in order.iter().enumerate() {
        let p = &peers[pi];
        let ts = t.return_withdraw + offs[k];
        events.push(Event {
            ts,
            peer: pi,
            kind: withdraw(),
        });
        notes.add(
            ts,
            format!(
                "return 1299: {} AS{} withdraws (remaining: {})",
                p.ip,
                p.asn,
                order.len() - 1 - k
            ),
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// encoding

fn attributes(origin: Origin, path: &[u32], next_hop: Ipv4Addr) -> Attributes {
    Attributes::from_iter([
        AttributeValue::Origin(origin),
        AttributeValue::AsPath(AsPath::from_sequence(path)),
        AttributeValue::NextHop(IpAddr::V4(next_hop)),
    ])
}

fn net(p: Ipv4Net) -> NetworkPrefix {
    NetworkPrefix::new(IpNet::V4(p), None)
}

fn encode_event(ev: &Event, peer: &Peer) -> Result<Vec<u8>> {
    let peer_ip = IpAddr::V4(peer.ip);
    let local_ip = IpAddr::V4(LOCAL_IP);
    let update = |u: BgpUpdateMessage| {
        Bgp4MpEnum::Message(Bgp4MpMessage {
            msg_type: Bgp4MpType::Message,
            peer_asn: Asn::from(peer.asn),
            local_asn: Asn::from(LOCAL_ASN),
            interface_index: 0,
            peer_ip,
            local_ip,
            bgp_message: BgpMessage::Update(u),
        })
    };
    let msg = match &ev.kind {
        Kind::State(old, new) => Bgp4MpEnum::StateChange(Bgp4MpStateChange {
            msg_type: Bgp4MpType::StateChange,
            peer_asn: Asn::from(peer.asn),
            local_asn: Asn::from(LOCAL_ASN),
            interface_index: 0,
            peer_ip,
            local_addr: local_ip,
            old_state: *old,
            new_state: *new,
        }),
        Kind::Announce {
            origin,
            path,
            prefixes,
        } => update(BgpUpdateMessage {
            withdrawn_prefixes: vec![],
            attributes: attributes(*origin, path, peer.ip),
            announced_prefixes: prefixes.iter().map(|&p| net(p)).collect(),
        }),
        Kind::Withdraw(prefixes) => update(BgpUpdateMessage {
            withdrawn_prefixes: prefixes.iter().map(|&p| net(p)).collect(),
            attributes: Attributes::default(),
            announced_prefixes: vec![],
        }),
    };
    let subtype = msg.msg_type() as u16;
    record(ev.ts, EntryType::BGP4MP, subtype, &MrtMessage::Bgp4Mp(msg))
}

fn bz2(data: &[u8]) -> Result<Vec<u8>> {
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    enc.write_all(data)?;
    Ok(enc.finish()?)
}

fn write_file(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    fs::write(path, data).with_context(|| format!("writing {}", path.display()))
}

/// TABLE_DUMP v1 (type 12, subtype 1 = AFI_IPv4) RIB of every peer at `ts`.
fn rib_bytes(peers: &[Peer], mccolo: &[Ipv4Net], ts: i64) -> Result<(Vec<u8>, usize)> {
    let mut rng = Rng::new(SEED, 2);
    let mut entries: BTreeMap<(u32, u8, usize), Route> = BTreeMap::new();
    for (pi, p) in peers.iter().enumerate() {
        let mut table = p.bg.clone();
        table.extend(mccolo_route(mccolo, &p.base));
        for r in table {
            entries.insert(
                (u32::from(r.prefix.network()), r.prefix.prefix_len(), pi),
                r,
            );
        }
    }
    let mut out = Vec::new();
    for (seq, ((_, _, pi), r)) in entries.iter().enumerate() {
        let p = &peers[*pi];
        // learned some time in the six weeks before the dump
        let originated = ts - rng.range(3600, 42 * 86400);
        let msg = MrtMessage::TableDumpMessage(TableDumpMessage {
            view_number: 0,
            sequence_number: (seq % 65536) as u16,
            prefix: net(r.prefix),
            status: 1,
            originated_time: u64::try_from(originated).context("originated time")?,
            peer_ip: IpAddr::V4(p.ip),
            peer_asn: Asn::from(p.asn),
            attributes: attributes(r.origin, &r.path, p.ip),
        });
        out.extend(record(ts, EntryType::TABLE_DUMP, 1, &msg)?);
    }
    Ok((out, entries.len()))
}

fn file_name(ts: i64, prefix: &str) -> String {
    match DateTime::<Utc>::from_timestamp(ts, 0) {
        Some(d) => format!("{prefix}.{}.bz2", d.format("%Y%m%d.%H%M")),
        None => format!("{prefix}.{ts}.bz2"),
    }
}

fn generate(out: &Path) -> Result<()> {
    let t = Times::new()?;
    let peers = load_peers()?;
    let mccolo = mccolo_prefixes()?;
    let mut events = Vec::new();
    let mut notes = Notes::default();
    for (pi, p) in peers.iter().enumerate() {
        churn(&mut events, &mut notes, pi, p, &t, &mccolo)?;
    }
    mccolo_events(&mut events, &mut notes, &peers, &t, &mccolo)?;
    // stable: equal timestamps keep their generation order
    events.sort_by_key(|e| e.ts);
    ensure!(
        events.iter().all(|e| e.ts >= t.start && e.ts < t.end),
        "event outside the week"
    );

    let base = out.join("bgpdata").join("2008.11");
    let mut written: Vec<PathBuf> = Vec::new();

    let (rib, rib_entries) = rib_bytes(&peers, &mccolo, t.start)?;
    let rib_path = base.join("RIBS").join(file_name(t.start, "rib"));
    write_file(&rib_path, &bz2(&rib)?)?;
    written.push(rib_path);

    let mut idx = 0;
    let mut slot = t.start;
    while slot < t.end {
        let mut raw = Vec::new();
        while idx < events.len() && events[idx].ts < slot + FILE_SPAN {
            let ev = &events[idx];
            raw.extend(encode_event(ev, &peers[ev.peer])?);
            idx += 1;
        }
        let path = base.join("UPDATES").join(file_name(slot, "updates"));
        write_file(&path, &bz2(&raw)?)?;
        written.push(path);
        slot += FILE_SPAN;
    }
    ensure!(idx == events.len(), "events left over");

    // SHA256SUMS in `sha256sum -c` format, paths relative to OUT
    let mut sums = String::new();
    let mut total = 0u64;
    for p in &written {
        let data = fs::read(p)?;
        total += data.len() as u64;
        let rel = p.strip_prefix(out).unwrap_or(p);
        let _ = writeln!(
            sums,
            "{}  {}",
            hex::encode(Sha256::digest(&data)),
            rel.display()
        );
    }
    write_file(&out.join("SHA256SUMS"), sums.as_bytes())?;

    let full = peers.iter().filter(|p| !p.partial).count();
    eprintln!(
        "wrote {} files ({} bytes): RIB {} entries, {} update records; peers: {} full-feed + {} partial",
        written.len(),
        total,
        rib_entries,
        events.len(),
        full,
        peers.len() - full
    );
    eprintln!("\npeers:");
    for p in &peers {
        eprintln!(
            "  {:<16} AS{:<6} {:<8} {:<30} ({}) upstream {}",
            p.ip.to_string(),
            p.asn,
            if p.partial { "partial" } else { "full" },
            path_str(&p.base),
            p.base_src,
            p.base_upstream()
        );
    }
    notes.0.sort_by_key(|n| n.0);
    eprintln!("\nkey records:");
    for (ts, s) in &notes.0 {
        eprintln!("  {}  {}", fmt_ts(*ts), s);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// verification with bgpkit-parser

fn open_bz2(path: &Path) -> Result<BgpkitParser<Box<dyn Read>>> {
    let f = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader: Box<dyn Read> = Box::new(bzip2::read::BzDecoder::new(f));
    Ok(BgpkitParser::from_reader(reader))
}

fn verify(out: &Path) -> Result<()> {
    let t = Times::new()?;
    let mccolo: BTreeSet<Ipv4Net> = mccolo_prefixes()?.into_iter().collect();
    let base = out.join("bgpdata").join("2008.11");
    let origin = Asn::from(MCCOLO_ASN);

    // peer -> (prefix -> upstream) for McColo, and table sizes from the RIB
    let mut held: BTreeMap<IpAddr, BTreeMap<Ipv4Net, u32>> = BTreeMap::new();
    let mut table: BTreeMap<IpAddr, usize> = BTreeMap::new();
    let rib_path = base.join("RIBS").join(file_name(t.start, "rib"));
    let mut rib_records = 0usize;
    for rec in open_bz2(&rib_path)?.into_fallible_record_iter() {
        let rec = rec.map_err(|e| anyhow!("{}: {e}", rib_path.display()))?;
        rib_records += 1;
        let MrtMessage::TableDumpMessage(m) = rec.message else {
            bail!("unexpected record in RIB: {:?}", rec.common_header);
        };
        *table.entry(m.peer_ip).or_default() += 1;
        if let IpNet::V4(p) = m.prefix.prefix
            && mccolo.contains(&p)
        {
            let path = m
                .attributes
                .as_path()
                .and_then(|a| a.to_u32_vec_opt(false))
                .unwrap_or_default();
            ensure!(
                path.last() == Some(&MCCOLO_ASN),
                "McColo route with wrong origin"
            );
            held.entry(m.peer_ip)
                .or_default()
                .insert(p, upstream(&path));
        }
    }
    let max_table = table.values().copied().max().unwrap_or(0);
    let full: BTreeSet<IpAddr> = table
        .iter()
        .filter(|(_, n)| **n * 2 >= max_table)
        .map(|(ip, _)| *ip)
        .collect();
    println!(
        "RIB: {rib_records} TABLE_DUMP entries, {} peers ({} full-feed, {} partial)",
        table.len(),
        full.len(),
        table.len() - full.len()
    );

    let visible = |held: &BTreeMap<IpAddr, BTreeMap<Ipv4Net, u32>>| -> (usize, BTreeSet<u32>) {
        let mut n = 0;
        let mut ups = BTreeSet::new();
        for (ip, m) in held {
            if full.contains(ip) && !m.is_empty() {
                n += 1;
                ups.extend(m.values().copied());
            }
        }
        (n, ups)
    };
    let (n0, u0) = visible(&held);
    println!("baseline: McColo seen by {n0} full-feed peers, upstreams {u0:?}");

    let mut last_seen: BTreeMap<IpAddr, i64> = BTreeMap::new();
    let mut max_gap: BTreeMap<IpAddr, (i64, i64)> = BTreeMap::new();
    let (mut records, mut announced, mut withdrawn, mut states) = (0usize, 0usize, 0usize, 0usize);
    let mut files = 0usize;
    let mut prev = (n0, u0);
    let mut slot = t.start;
    while slot < t.end {
        let path = base.join("UPDATES").join(file_name(slot, "updates"));
        files += 1;
        for rec in open_bz2(&path)?.into_fallible_record_iter() {
            let rec = rec.map_err(|e| anyhow!("{}: {e}", path.display()))?;
            records += 1;
            let ts = i64::from(rec.common_header.timestamp);
            ensure!(
                ts >= slot && ts < slot + FILE_SPAN,
                "{}: record at {} outside the file window",
                path.display(),
                fmt_ts(ts)
            );
            let MrtMessage::Bgp4Mp(msg) = rec.message else {
                bail!("{}: unexpected record type", path.display());
            };
            let peer = match &msg {
                Bgp4MpEnum::StateChange(s) => s.peer_ip,
                Bgp4MpEnum::Message(m) => m.peer_ip,
            };
            if let Some(prev_ts) = last_seen.insert(peer, ts) {
                let g = max_gap.entry(peer).or_insert((0, 0));
                if ts - prev_ts > g.0 {
                    *g = (ts - prev_ts, prev_ts);
                }
            }
            let mut touched = false;
            match msg {
                Bgp4MpEnum::StateChange(s) => {
                    states += 1;
                    if s.new_state != BgpState::Established {
                        touched |= held.remove(&peer).is_some_and(|m| !m.is_empty());
                    }
                }
                Bgp4MpEnum::Message(m) => {
                    let BgpMessage::Update(u) = m.bgp_message else {
                        bail!("non-UPDATE BGP message");
                    };
                    let path = u
                        .attributes
                        .as_path()
                        .and_then(|a| a.to_u32_vec_opt(false))
                        .unwrap_or_default();
                    for w in &u.withdrawn_prefixes {
                        withdrawn += 1;
                        if let IpNet::V4(p) = w.prefix
                            && mccolo.contains(&p)
                        {
                            touched = true;
                            held.entry(peer).or_default().remove(&p);
                        }
                    }
                    for a in &u.announced_prefixes {
                        announced += 1;
                        if let IpNet::V4(p) = a.prefix
                            && mccolo.contains(&p)
                        {
                            touched = true;
                            ensure!(
                                u.attributes
                                    .as_path()
                                    .is_some_and(|x| x.get_origin_opt() == Some(origin)),
                                "McColo announcement with another origin"
                            );
                            held.entry(peer).or_default().insert(p, upstream(&path));
                        }
                    }
                }
            }
            if touched {
                let now = visible(&held);
                if now != prev {
                    println!(
                        "{}  {:<16} full-feed peers seeing McColo: {:>2}  upstreams {:?}",
                        fmt_ts(ts),
                        peer.to_string(),
                        now.0,
                        now.1
                    );
                    prev = now;
                }
            }
        }
        slot += FILE_SPAN;
    }
    let (worst_peer, (worst_gap, worst_at)) = max_gap
        .iter()
        .filter(|(ip, _)| full.contains(*ip))
        .max_by_key(|(_, g)| g.0)
        .map(|(ip, g)| (*ip, *g))
        .ok_or_else(|| anyhow!("no update records"))?;
    let mut gaps: Vec<(i64, IpAddr)> = max_gap
        .iter()
        .filter(|(ip, _)| full.contains(*ip))
        .map(|(ip, g)| (g.0, *ip))
        .collect();
    gaps.sort_unstable();
    gaps.reverse();
    println!(
        "updates: {files} files, {records} records: {announced} announced prefixes, {withdrawn} withdrawn prefixes, {states} state changes"
    );
    println!(
        "longest silence of a full-feed peer: {worst_gap} s ({worst_peer} from {}); next: {:?}",
        fmt_ts(worst_at),
        gaps.iter().skip(1).take(3).collect::<Vec<_>>()
    );
    println!("bgpkit-parser read every file without error");
    Ok(())
}
