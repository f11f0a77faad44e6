//! Generator of a **modern-size collector-day**, to measure a scan at today's scale (issue 14).
//!
//! SYNTHETIC: the addresses, ASNs and paths are made up (documentation and benchmarking
//! ranges); only the sizes and the shape of a day follow a RouteViews collector of the 2020s.
//!
//! ```text
//! cargo run --release --example make_modern_day -- OUT [--v4 1000000] [--v6 200000]
//!     [--peers 300] [--full-feeds 30] [--rate 150] [--threads 2] [--seed 1]
//! ```
//!
//! Writes `OUT/route-views.synthetic/bgpdata/2026.11/RIBS/rib.20261101.0000.bz2` (TABLE_DUMP_V2)
//! and `UPDATES/updates.20261101.HHMM.bz2`, 96 files of 15 minutes (BGP4MP, 4-byte ASNs),
//! with bgpkit-parser's MRT encoder, bzip2 level 9 as RouteViews compresses. Files are
//! compressed on `--threads` threads; the RIB is cut into that many bzip2 streams one after
//! another (as pbzip2 writes), which every bzip2 reader decodes as one file.
//!
//! - **Prefixes:** `--v4` distinct /24s and `--v6` distinct /48s, each with an origin from
//!   60,000 ASes.
//! - **Peers:** `--peers` sessions; every fifth is IPv6 (carries the IPv6 table), the others
//!   IPv4. The first `--full-feeds` carry their whole table; the rest carry one prefix in 50.
//! - **Churn:** `--rate` UPDATEs a second over the day: a random route of a random session
//!   changes its path (88%) or is withdrawn (12%); full feeds send 70% of them.
//! - **The watched AS64511** (16 /24s and 4 /48s, upstreams AS64500 and AS64501; every full
//!   feed reaches it, half through each upstream):
//!   - 06:00 the first full feed's session resets (STATE down, up 40 s later, its whole
//!     table re-sent over the next 2 minutes): not a takedown;
//!   - 10:00 AS64500 stops carrying it: the peers that used it move to AS64501 within 30 s;
//!   - 14:30 AS64501 stops too: every peer withdraws it within 30 s. AS64511 is disconnected.
//!
//! Deterministic: a seeded SplitMix64 per file, no clock.

use anyhow::{Context, Result, bail};
use bgpkit_parser::models::{
    AsPath, Asn, AttributeValue, Attributes, Bgp4MpEnum, Bgp4MpMessage, Bgp4MpStateChange,
    Bgp4MpType, BgpMessage, BgpState, BgpUpdateMessage, EntryType, MrtMessage, NetworkPrefix, Nlri,
    Origin, Peer, PeerIndexTable, RibAfiEntries, RibEntry, TableDumpV2Message, TableDumpV2Type,
};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

#[path = "common/mrt.rs"]
mod mrt;
use mrt::record;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

const DAY_START: i64 = 1_793_491_200; // 2026-11-01T00:00:00Z
const FILE_SECS: i64 = 15 * 60;
const WATCHED: u32 = 64511;
const UPSTREAMS: [u32; 2] = [64500, 64501];
const TRANSITS: [u32; 6] = [3356, 1299, 174, 2914, 6762, 6453];
const RESET_AT: i64 = 6 * 3600;
const FIRST_CUT_AT: i64 = 10 * 3600;
const LAST_CUT_AT: i64 = 14 * 3600 + 30 * 60;
const PARTIAL_SHARE: usize = 50;

#[derive(Clone, Copy)]
struct Config {
    v4: usize,
    v6: usize,
    peers: usize,
    full_feeds: usize,
    rate: usize,
    threads: usize,
    seed: u64,
}

fn main() -> Result<()> {
    let (out, config) = parse_args()?;
    let dir = out.join("route-views.synthetic/bgpdata/2026.11");
    std::fs::create_dir_all(dir.join("RIBS"))?;
    std::fs::create_dir_all(dir.join("UPDATES"))?;
    let day = Day::new(config);
    let rib = dir.join("RIBS/rib.20261101.0000.bz2");
    write_rib(&day, &rib)?;
    let files: Vec<i64> = (0..96).collect();
    on_threads(&files, config.threads, |_, _, chunk| {
        for &i in chunk {
            let start = DAY_START + i * FILE_SECS;
            let name = chrono::DateTime::from_timestamp(start, 0)
                .context("a time")?
                .format("UPDATES/updates.%Y%m%d.%H%M.bz2")
                .to_string();
            write_updates(&day, i, &dir.join(name))?;
        }
        Ok(())
    })?;
    eprintln!("wrote {}", dir.display());
    Ok(())
}

fn parse_args() -> Result<(PathBuf, Config)> {
    let mut args = std::env::args().skip(1);
    let mut out = None;
    let mut c = Config {
        v4: 1_000_000,
        v6: 200_000,
        peers: 300,
        full_feeds: 30,
        rate: 150,
        threads: 2,
        seed: 1,
    };
    while let Some(a) = args.next() {
        let mut value = || -> Result<u64> {
            let v = args.next().with_context(|| format!("{a} needs a value"))?;
            v.parse().with_context(|| format!("{a} {v}: not a number"))
        };
        match a.as_str() {
            "--v4" => c.v4 = value()? as usize,
            "--v6" => c.v6 = value()? as usize,
            "--peers" => c.peers = value()? as usize,
            "--full-feeds" => c.full_feeds = value()? as usize,
            "--rate" => c.rate = value()? as usize,
            "--threads" => c.threads = (value()? as usize).max(1),
            "--seed" => c.seed = value()?,
            _ if a.starts_with("--") => bail!("unknown option {a}"),
            _ => out = Some(PathBuf::from(a)),
        }
    }
    if c.v4 > 1 << 22 || c.v6 > 1 << 22 || c.peers > 60_000 || c.full_feeds > c.peers {
        bail!("--v4 and --v6 up to 4194304, --peers up to 60000, --full-feeds up to --peers");
    }
    Ok((out.context("usage: make_modern_day OUT [options]")?, c))
}

/// Run `job(k, first, chunk)` on `items` cut into at most `threads` chunks, chunk `k` (whose
/// first item is `items[first]`) on a thread of its own. Returns how many chunks there were,
/// or the first error.
fn on_threads<T: Sync>(
    items: &[T],
    threads: usize,
    job: impl Fn(usize, usize, &[T]) -> Result<()> + Sync,
) -> Result<usize> {
    let per = items.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(per)
            .enumerate()
            .map(|(k, chunk)| {
                let job = &job;
                s.spawn(move || job(k, k * per, chunk))
            })
            .collect();
        let chunks = handles.len();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a writer panicked"))??;
        }
        Ok(chunks)
    })
}

/// SplitMix64: small, fast, and the same on every platform.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        Rng(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mix(a: u64, b: u64) -> u64 {
    Rng::new(a, b).next()
}

struct Day {
    c: Config,
    v4_peers: Vec<usize>,
    v6_peers: Vec<usize>,
}

/// A route's destination: a background prefix of one family, or a watched one.
#[derive(Clone, Copy)]
enum Dest {
    V4(usize),
    V6(usize),
    Watched(usize),
}

impl Day {
    fn new(c: Config) -> Self {
        let (v6_peers, v4_peers) = (0..c.peers).partition(|p| is_v6_peer(*p));
        Day {
            c,
            v4_peers,
            v6_peers,
        }
    }

    fn full(&self, peer: usize) -> bool {
        peer < self.c.full_feeds
    }

    /// Whether `peer` carries background prefix `i` of its family.
    fn carries(&self, peer: usize, i: usize) -> bool {
        self.full(peer) || i % PARTIAL_SHARE == peer % PARTIAL_SHARE
    }

    /// The watched prefixes a peer of this family reaches (full feeds only).
    fn watched_of(&self, peer: usize) -> std::ops::Range<usize> {
        match (self.full(peer), is_v6_peer(peer)) {
            (false, _) => 0..0,
            (true, false) => 0..16,
            (true, true) => 16..20,
        }
    }

    fn prefix(&self, d: Dest) -> IpNet {
        match d {
            // An odd multiplier permutes 22-bit numbers: distinct /24s from 16.0.0.0 to 79.255.255.0.
            Dest::V4(i) => {
                let n = ((i as u32).wrapping_mul(2_654_435_761) & 0x3F_FFFF) + 0x10_0000;
                IpNet::V4(Ipv4Net::new(Ipv4Addr::from(n << 8), 24).expect("/24"))
            }
            Dest::V6(i) => {
                let n = u128::from((i as u32).wrapping_mul(2_654_435_761) & 0x3F_FFFF);
                let addr = (0x2a00_u128 << 112) | (n << 80);
                IpNet::V6(Ipv6Net::new(Ipv6Addr::from(addr), 48).expect("/48"))
            }
            // 100.64.0.0/10 (shared address space) and 2001:db8::/32: outside the background.
            Dest::Watched(i) if i < 16 => {
                IpNet::V4(Ipv4Net::new(Ipv4Addr::new(100, 64, i as u8, 0), 24).expect("/24"))
            }
            Dest::Watched(i) => IpNet::V6(
                Ipv6Net::new(Ipv6Addr::new(0x2001, 0xdb8, 0x64, i as u16, 0, 0, 0, 0), 48)
                    .expect("/48"),
            ),
        }
    }

    /// The path `peer` has to `d`; `variant` changes the transit part as churn does.
    /// `upstream` is the watched AS's upstream for a watched prefix.
    fn path(&self, peer: usize, d: Dest, variant: u64, upstream: u32) -> Vec<u32> {
        let h = mix(peer as u64 ^ variant << 32, dest_key(d));
        let mut path = vec![peer_asn(peer), TRANSITS[(h % 6) as usize]];
        if h >> 8 & 1 == 1 {
            path.push(TRANSITS[((h >> 16) % 6) as usize]);
        }
        match d {
            Dest::Watched(_) => path.extend([upstream, WATCHED]),
            Dest::V4(i) | Dest::V6(i) => {
                if h >> 24 & 3 != 0 {
                    path.push(10_000 + (h >> 32) as u32 % 40_000);
                }
                path.push(1000 + (i as u32).wrapping_mul(40_503) % 60_000);
            }
        }
        path.dedup();
        path
    }

    /// The upstream a full feed uses for the watched AS at the start of the day.
    fn first_upstream(&self, peer: usize) -> u32 {
        UPSTREAMS[peer % 2]
    }
}

fn dest_key(d: Dest) -> u64 {
    match d {
        Dest::V4(i) => i as u64,
        Dest::V6(i) => (1 << 40) | i as u64,
        Dest::Watched(i) => (2 << 40) | i as u64,
    }
}

fn is_v6_peer(peer: usize) -> bool {
    peer % 5 == 4
}

fn peer_asn(peer: usize) -> u32 {
    400_000 + peer as u32
}

fn peer_ip(peer: usize) -> IpAddr {
    if is_v6_peer(peer) {
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            0xffff,
            0,
            0,
            0,
            0,
            peer as u16 + 1,
        ))
    } else {
        // 198.18.0.0/15: benchmarking addresses.
        IpAddr::V4(Ipv4Addr::new(198, 18, (peer >> 8) as u8, peer as u8))
    }
}

fn bz2_writer(path: &Path) -> Result<bzip2::write::BzEncoder<BufWriter<std::fs::File>>> {
    let file = std::fs::File::create(path).with_context(|| format!("{}", path.display()))?;
    Ok(bzip2::write::BzEncoder::new(
        BufWriter::with_capacity(1 << 20, file),
        bzip2::Compression::best(),
    ))
}

// ---------------------------------------------------------------------------------------------
// The RIB

/// The RIB at 00:00: its prefixes cut into `threads` ranges, each a bzip2 stream written on
/// its own thread, then joined in order (the peer index table first).
fn write_rib(day: &Day, path: &Path) -> Result<()> {
    let c = day.c;
    let dests: Vec<Dest> = (0..20)
        .map(Dest::Watched)
        .chain((0..c.v4).map(Dest::V4))
        .chain((0..c.v6).map(Dest::V6))
        .collect();
    let mut table = PeerIndexTable {
        collector_bgp_id: Ipv4Addr::new(198, 18, 255, 254),
        view_name: String::new(),
        ..PeerIndexTable::default()
    };
    for p in 0..c.peers {
        let id = match peer_ip(p) {
            IpAddr::V4(ip) => ip,
            IpAddr::V6(_) => Ipv4Addr::from(0x0A00_0000 + p as u32),
        };
        table.add_peer(Peer::new(id, peer_ip(p), Asn::from(peer_asn(p))))?;
    }
    let part = |k: usize| path.with_extension(format!("part{k}"));
    let parts = on_threads(&dests, c.threads, |k, first, chunk| {
        let mut w = bz2_writer(&part(k))?;
        if k == 0 {
            let msg =
                MrtMessage::TableDumpV2Message(TableDumpV2Message::PeerIndexTable(table.clone()));
            let subtype = TableDumpV2Type::PeerIndexTable as u16;
            w.write_all(&record(DAY_START, EntryType::TABLE_DUMP_V2, subtype, &msg)?)?;
        }
        for (j, d) in chunk.iter().enumerate() {
            if let Some(bytes) = rib_record(day, *d, (first + j) as u32)? {
                w.write_all(&bytes)?;
            }
        }
        w.finish()?.flush()?;
        Ok(())
    })?;
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    for k in 0..parts {
        std::io::copy(&mut std::fs::File::open(part(k))?, &mut out)?;
        std::fs::remove_file(part(k))?;
    }
    out.flush()?;
    Ok(())
}

/// One prefix's RIB record: an entry per peer that carries it.
fn rib_record(day: &Day, d: Dest, seq: u32) -> Result<Option<Vec<u8>>> {
    let v6 = day.prefix(d).addr().is_ipv6();
    let peers = if v6 { &day.v6_peers } else { &day.v4_peers };
    let entries: Vec<RibEntry> = peers
        .iter()
        .filter(|&&p| match d {
            Dest::V4(i) | Dest::V6(i) => day.carries(p, i),
            Dest::Watched(i) => day.watched_of(p).contains(&i),
        })
        .map(|&p| RibEntry {
            peer_index: p as u16,
            originated_time: (DAY_START - 86_400 + (mix(p as u64, dest_key(d)) % 86_400) as i64)
                as u32,
            path_id: None,
            attributes: rib_attributes(&day.path(p, d, 0, day.first_upstream(p)), p),
        })
        .collect();
    if entries.is_empty() {
        return Ok(None);
    }
    let rib_type = if v6 {
        TableDumpV2Type::RibIpv6Unicast
    } else {
        TableDumpV2Type::RibIpv4Unicast
    };
    let msg = MrtMessage::TableDumpV2Message(TableDumpV2Message::RibAfi(RibAfiEntries {
        rib_type,
        sequence_number: seq,
        prefix: NetworkPrefix::new(day.prefix(d), None),
        rib_entries: entries,
    }));
    Ok(Some(record(
        DAY_START,
        EntryType::TABLE_DUMP_V2,
        rib_type as u16,
        &msg,
    )?))
}

fn rib_attributes(path: &[u32], peer: usize) -> Attributes {
    let mut values = vec![
        AttributeValue::Origin(Origin::IGP),
        AttributeValue::AsPath(AsPath::from_sequence(path)),
    ];
    if let IpAddr::V4(ip) = peer_ip(peer) {
        values.push(AttributeValue::NextHop(IpAddr::V4(ip)));
    }
    Attributes::from_iter(values)
}

// ---------------------------------------------------------------------------------------------
// The update files

/// One message of an update file.
enum Msg {
    Announce(usize, Dest, Vec<u32>),
    Withdraw(usize, Dest),
    State(usize, BgpState, BgpState),
}

/// File `index` of the day: churn at `--rate` a second, and the watched AS's moments that
/// fall inside it, in time order.
fn write_updates(day: &Day, index: i64, path: &Path) -> Result<()> {
    let c = day.c;
    let from = index * FILE_SECS;
    let mut rng = Rng::new(c.seed, index as u64 + 1);
    let mut timed: Vec<(i64, Msg)> = Vec::new();
    for sec in from..from + FILE_SECS {
        for _ in 0..c.rate {
            timed.push((sec, churn(day, &mut rng)));
        }
    }
    timed.extend(scripted(day, from, from + FILE_SECS));
    // Stable: churn and scripted messages of one second keep their order.
    timed.sort_by_key(|(t, _)| *t);
    let mut w = bz2_writer(path)?;
    for (t, m) in &timed {
        w.write_all(&encode(day, DAY_START + t, m)?)?;
    }
    w.finish()?.flush()?;
    Ok(())
}

fn churn(day: &Day, rng: &mut Rng) -> Msg {
    let c = day.c;
    let peer = if rng.below(100) < 70 {
        rng.below(c.full_feeds)
    } else {
        c.full_feeds + rng.below(c.peers - c.full_feeds)
    }
    .min(c.peers - 1);
    let table = if is_v6_peer(peer) { c.v6 } else { c.v4 };
    let mut i = rng.below(table);
    if !day.full(peer) {
        i = i - i % PARTIAL_SHARE + peer % PARTIAL_SHARE;
        if i >= table {
            i = peer % PARTIAL_SHARE;
        }
    }
    let d = if is_v6_peer(peer) {
        Dest::V6(i)
    } else {
        Dest::V4(i)
    };
    if rng.below(100) < 12 {
        Msg::Withdraw(peer, d)
    } else {
        Msg::Announce(peer, d, day.path(peer, d, 1 + rng.below(3) as u64, 0))
    }
}

/// The scripted moments between `from` and `to` (seconds into the day).
fn scripted(day: &Day, from: i64, to: i64) -> Vec<(i64, Msg)> {
    let mut out = Vec::new();
    let inside = |t: i64| (from..to).contains(&t);
    let full: Vec<usize> = (0..day.c.full_feeds).collect();
    // The session reset: down, up 40 s later, the whole table re-sent over 2 minutes.
    if let Some(&peer) = full.first() {
        if inside(RESET_AT) {
            out.push((
                RESET_AT,
                Msg::State(peer, BgpState::Established, BgpState::Idle),
            ));
        }
        if inside(RESET_AT + 40) {
            out.push((
                RESET_AT + 40,
                Msg::State(peer, BgpState::OpenConfirm, BgpState::Established),
            ));
        }
        let table = if is_v6_peer(peer) { day.c.v6 } else { day.c.v4 };
        let dests = day
            .watched_of(peer)
            .map(Dest::Watched)
            .chain((0..table).map(|i| {
                if is_v6_peer(peer) {
                    Dest::V6(i)
                } else {
                    Dest::V4(i)
                }
            }));
        let n = day.watched_of(peer).len() + table;
        for (k, d) in dests.enumerate() {
            let t = RESET_AT + 40 + (k as i64 * 120) / n.max(1) as i64;
            if inside(t) {
                let up = day.first_upstream(peer);
                out.push((t, Msg::Announce(peer, d, day.path(peer, d, 0, up))));
            }
        }
    }
    // AS64500 stops carrying the watched AS: its peers move to AS64501.
    for (k, &peer) in full.iter().enumerate() {
        let spread = (k as i64 * 30) / full.len().max(1) as i64;
        for i in day.watched_of(peer) {
            let d = Dest::Watched(i);
            if day.first_upstream(peer) == UPSTREAMS[0] && inside(FIRST_CUT_AT + spread) {
                out.push((
                    FIRST_CUT_AT + spread,
                    Msg::Announce(peer, d, day.path(peer, d, 0, UPSTREAMS[1])),
                ));
            }
            if inside(LAST_CUT_AT + spread) {
                out.push((LAST_CUT_AT + spread, Msg::Withdraw(peer, d)));
            }
        }
    }
    out
}

fn encode(day: &Day, ts: i64, m: &Msg) -> Result<Vec<u8>> {
    let peer = match m {
        Msg::Announce(p, ..) | Msg::Withdraw(p, _) | Msg::State(p, ..) => *p,
    };
    let ip = peer_ip(peer);
    let local = match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(198, 18, 255, 254)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 0xfffe)),
    };
    let update = |u: BgpUpdateMessage| {
        Bgp4MpEnum::Message(Bgp4MpMessage {
            msg_type: Bgp4MpType::MessageAs4,
            peer_asn: Asn::new_32bit(peer_asn(peer)),
            local_asn: Asn::new_32bit(6447),
            interface_index: 0,
            peer_ip: ip,
            local_ip: local,
            bgp_message: BgpMessage::Update(u),
        })
    };
    let msg = match m {
        Msg::State(_, old, new) => Bgp4MpEnum::StateChange(Bgp4MpStateChange {
            msg_type: Bgp4MpType::StateChangeAs4,
            peer_asn: Asn::new_32bit(peer_asn(peer)),
            local_asn: Asn::new_32bit(6447),
            interface_index: 0,
            peer_ip: ip,
            local_addr: local,
            old_state: *old,
            new_state: *new,
        }),
        Msg::Announce(_, d, path) => {
            let prefix = NetworkPrefix::new(day.prefix(*d), None);
            let mut values = vec![
                AttributeValue::Origin(Origin::IGP),
                AttributeValue::AsPath(AsPath::from_sequence(path)),
            ];
            let announced = match ip {
                IpAddr::V4(_) => {
                    values.push(AttributeValue::NextHop(ip));
                    vec![prefix]
                }
                IpAddr::V6(_) => {
                    values.push(AttributeValue::MpReachNlri(Nlri::new_reachable(
                        prefix,
                        Some(ip),
                    )));
                    vec![]
                }
            };
            update(BgpUpdateMessage {
                withdrawn_prefixes: vec![],
                attributes: Attributes::from_iter(values),
                announced_prefixes: announced,
            })
        }
        Msg::Withdraw(_, d) => {
            let prefix = NetworkPrefix::new(day.prefix(*d), None);
            match ip {
                IpAddr::V4(_) => update(BgpUpdateMessage {
                    withdrawn_prefixes: vec![prefix],
                    attributes: Attributes::default(),
                    announced_prefixes: vec![],
                }),
                IpAddr::V6(_) => update(BgpUpdateMessage {
                    withdrawn_prefixes: vec![],
                    attributes: Attributes::from_iter([AttributeValue::MpUnreachNlri(
                        Nlri::new_unreachable(prefix),
                    )]),
                    announced_prefixes: vec![],
                }),
            }
        }
    };
    let subtype = msg.msg_type() as u16;
    record(ts, EntryType::BGP4MP, subtype, &MrtMessage::Bgp4Mp(msg))
}
