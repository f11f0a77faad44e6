//! A BMP router with full tables, for measuring the station's memory
//! (`scripts/bench-bmp-memory.sh`): it connects to `cutoff monitor --follow`'s station and
//! sends a real GoBGP's Initiation and Peer Up messages (from `samples/bmp/`, the peer
//! addresses renumbered to make `PEERS` sessions), then for each peer an initial table of
//! `PREFIXES` SYNTHETIC IPv4 prefixes (100 per UPDATE, path `<peer AS> 3356 <origin>`, encoded
//! with bgpkit-parser) and an End-of-RIB, then holds the connection open for `HOLD` seconds.
//!
//! cargo run --release --example bmp_full_table -- 127.0.0.1:11019 10 1000000 30

use anyhow::{Context, Result, bail};
use bgpkit_parser::models::{
    AsPath, AsnLength, AttributeValue, Attributes, BgpMessage, BgpUpdateMessage, NetworkPrefix,
    Origin,
};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, TcpStream};

const CAPTURE: &str = "samples/bmp/gobgp-3.10-initial-table.bmp";
/// BMP message types (RFC 7854 §4.1).
const ROUTE_MONITORING: u8 = 0;
const PEER_UP: u8 = 3;
const INITIATION: u8 = 4;
/// The common header (6 bytes) and the per-peer header's fields before its address.
const HEADER: usize = 6;
const ADDRESS_AT: usize = HEADER + 10;
const PER_PEER_LEN: usize = 42;
const PER_UPDATE: u32 = 100;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, peers, prefixes, hold] = args.as_slice() else {
        bail!("usage: bmp_full_table ADDR:PORT PEERS PREFIXES HOLD_SECS");
    };
    let peers: u32 = peers.parse().context("PEERS")?;
    let prefixes: u32 = prefixes.parse().context("PREFIXES")?;
    let hold: u64 = hold.parse().context("HOLD_SECS")?;
    let capture = std::fs::read(CAPTURE).with_context(|| CAPTURE.to_string())?;
    let messages = split(&capture)?;
    let initiation = messages
        .iter()
        .find(|m| m[5] == INITIATION)
        .context("no Initiation in the capture")?;
    let peer_up = messages
        .iter()
        .find(|m| m[5] == PEER_UP)
        .context("no Peer Up in the capture")?;
    let monitored = messages
        .iter()
        .find(|m| m[5] == ROUTE_MONITORING)
        .context("no Route Monitoring in the capture")?;
    let per_peer: Vec<u8> = monitored[HEADER..HEADER + PER_PEER_LEN].to_vec();

    let mut out = std::io::BufWriter::with_capacity(1 << 20, TcpStream::connect(addr)?);
    out.write_all(initiation)?;
    for p in 0..peers {
        out.write_all(&renumbered(peer_up, p))?;
    }
    let started = std::time::Instant::now();
    let mut bytes = 0usize;
    for p in 0..peers {
        let mut header = per_peer.clone();
        header[ADDRESS_AT - HEADER..ADDRESS_AT - HEADER + 16].copy_from_slice(&peer_address(p));
        for first in (0..prefixes).step_by(PER_UPDATE as usize) {
            let last = (first + PER_UPDATE).min(prefixes);
            let m = route_monitoring(&header, &update(p, first..last)?);
            bytes += m.len();
            out.write_all(&m)?;
        }
        let eor = BgpMessage::Update(BgpUpdateMessage::default())
            .encode(AsnLength::Bits32)
            .map_err(|e| anyhow::anyhow!("End-of-RIB: {e:?}"))?;
        out.write_all(&route_monitoring(&header, &eor))?;
    }
    out.flush()?;
    eprintln!(
        "sent {peers} tables of {prefixes} prefixes ({} MB of Route Monitoring) in {:.1} s",
        bytes / 1_000_000,
        started.elapsed().as_secs_f64()
    );
    std::thread::sleep(std::time::Duration::from_secs(hold));
    Ok(())
}

/// The messages of a BMP stream, framed by their common headers.
fn split(data: &[u8]) -> Result<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + HEADER <= data.len() {
        let len = u32::from_be_bytes([data[at + 1], data[at + 2], data[at + 3], data[at + 4]]);
        let end = at + len as usize;
        if len < HEADER as u32 || end > data.len() {
            bail!("{CAPTURE}: message at byte {at} is cut short");
        }
        out.push(&data[at..end]);
        at = end;
    }
    Ok(out)
}

/// Peer `p`'s address in a per-peer header: 127.1.x.y as an IPv4-mapped 16 bytes.
fn peer_address(p: u32) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[12] = 127;
    a[13] = 1;
    a[14] = (p >> 8) as u8;
    a[15] = p as u8;
    a
}

fn renumbered(peer_up: &[u8], p: u32) -> Vec<u8> {
    let mut m = peer_up.to_vec();
    m[ADDRESS_AT..ADDRESS_AT + 16].copy_from_slice(&peer_address(p));
    m
}

fn route_monitoring(per_peer: &[u8], bgp: &[u8]) -> Vec<u8> {
    let len = (HEADER + per_peer.len() + bgp.len()) as u32;
    let mut m = Vec::with_capacity(len as usize);
    m.push(3);
    m.extend_from_slice(&len.to_be_bytes());
    m.push(ROUTE_MONITORING);
    m.extend_from_slice(per_peer);
    m.extend_from_slice(bgp);
    m
}

/// One UPDATE of prefixes `range` (the i-th /24 from 1.0.0.0), originated by AS 10000 + i/256.
fn update(peer: u32, range: std::ops::Range<u32>) -> Result<Vec<u8>> {
    let announced: Vec<NetworkPrefix> = range
        .clone()
        .map(|i| {
            let net = Ipv4Addr::from((1u32 << 24) + (i << 8));
            NetworkPrefix::new(ipnet::Ipv4Net::new(net, 24).expect("/24").into(), None)
        })
        .collect();
    let origin = 10_000 + range.start / 256;
    let attributes = Attributes::from_iter([
        AttributeValue::Origin(Origin::IGP),
        AttributeValue::AsPath(AsPath::from_sequence([65_001 + peer, 3356, origin])),
        AttributeValue::NextHop(IpAddr::V4(Ipv4Addr::new(127, 1, 0, 1))),
    ]);
    BgpMessage::Update(BgpUpdateMessage {
        withdrawn_prefixes: vec![],
        attributes,
        announced_prefixes: announced,
    })
    .encode(AsnLength::Bits32)
    .map(|b| b.to_vec())
    .map_err(|e| anyhow::anyhow!("UPDATE: {e:?}"))
}
