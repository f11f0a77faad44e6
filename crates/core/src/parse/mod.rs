//! MRT reading: decompression, record framing, conversion to plain [`Item`]s.
//!
//! Records are framed here and their bodies parsed by bgpkit-parser. Framing is done by hand
//! (12-byte header, plus 4 for BGP4MP_ET) because we need the byte offset and record index of
//! every problem for the per-file report, and because BGP4MP records that RouteViews cut at
//! 4096 bytes in 2008 must be repaired before bgpkit-parser sees them (see [`salvage`]).

pub mod ahead;
pub mod bmp;
pub mod decode;
pub mod exact;
pub mod prefilter;
pub mod ris_live;
pub mod salvage;

use crate::model::{AsPath, PathHop, Prefix, Timestamp};
use bgpkit_parser::Elementor;
use bgpkit_parser::error::BgpValidationWarning;
use bgpkit_parser::models::{
    AsPathSegment, Bgp4MpEnum, BgpElem, CommonHeader, ElemType, EntryType, LegacyBgp,
    MetaCommunity, MrtMessage, MrtRecord, TableDumpV2Message,
};
use bgpkit_parser::models::{AttributeValue, BgpMessage, BgpUpdateMessage};
use bgpkit_parser::parser::mrt::mrt_record::parse_mrt_body;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

/// Largest MRT body we accept; anything larger is a corrupt length field.
const MAX_RECORD_BODY: u32 = 16 * 1024 * 1024;

/// Which MRT record family an item came from; it names the bgpdump `-m` line type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MrtKind {
    TableDump,
    TableDump2,
    TableDump2AddPath,
    Bgp4mp,
    /// BGP4MP ADD-PATH subtypes (RFC 8050).
    Bgp4mpAddPath,
    Bgp4mpEt,
    /// Deprecated type 5 (BGP) records of 1999-2000 RIS files.
    LegacyBgp,
}

impl MrtKind {
    /// The first field of a bgpdump `-m` line.
    pub fn bgpdump_name(self) -> &'static str {
        match self {
            MrtKind::TableDump => "TABLE_DUMP",
            MrtKind::TableDump2 => "TABLE_DUMP2",
            MrtKind::TableDump2AddPath => "TABLE_DUMP2_AP",
            MrtKind::Bgp4mp => "BGP4MP",
            MrtKind::Bgp4mpAddPath => "BGP4MP_AP",
            MrtKind::LegacyBgp => "BGP",
            MrtKind::Bgp4mpEt => "BGP4MP_ET",
        }
    }
}

/// Announcement, withdrawal, or a route in a RIB dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RouteKind {
    Announce,
    Withdraw,
    Rib,
}

impl RouteKind {
    pub fn letter(self) -> &'static str {
        match self {
            RouteKind::Announce => "A",
            RouteKind::Withdraw => "W",
            RouteKind::Rib => "B",
        }
    }
}

/// Path attributes of one route (absent for withdrawals).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct RouteAttrs {
    pub path: AsPath,
    /// ORIGIN attribute: IGP, EGP or INCOMPLETE.
    pub origin_code: Option<&'static str>,
    pub next_hop: Option<IpAddr>,
    pub local_pref: Option<u32>,
    pub med: Option<u32>,
    pub communities: Vec<String>,
    pub atomic_aggregate: bool,
    pub aggregator: Option<(u32, IpAddr)>,
}

/// One route element: a prefix announced, withdrawn, or dumped by one peer.
#[derive(Debug, Clone)]
pub struct RouteElem {
    pub time: Timestamp,
    pub mrt: MrtKind,
    pub kind: RouteKind,
    pub peer_ip: IpAddr,
    pub peer_asn: u32,
    pub prefix: Prefix,
    pub path_id: Option<u32>,
    pub attrs: Option<Arc<RouteAttrs>>,
    /// Recovered from a record cut short by the collector.
    pub salvaged: bool,
}

/// A BGP session state change (BGP4MP_STATE_CHANGE or legacy type 5).
#[derive(Debug, Clone)]
pub struct StateElem {
    pub time: Timestamp,
    pub mrt: MrtKind,
    pub peer_ip: IpAddr,
    pub peer_asn: u32,
    pub old_state: u16,
    pub new_state: u16,
}

/// What a file yields, in file order.
#[derive(Debug, Clone)]
pub enum Item {
    Route(RouteElem),
    State(StateElem),
}

impl Item {
    pub fn time(&self) -> Timestamp {
        match self {
            Item::Route(r) => r.time,
            Item::State(s) => s.time,
        }
    }
}

/// BGP FSM state 6.
pub const ESTABLISHED: u16 = 6;

/// What reading one file found: counts, cut records, and the problem that stopped it, if any.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FileStats {
    pub records: u64,
    pub elems: u64,
    pub announcements: u64,
    pub withdrawals: u64,
    pub rib_entries: u64,
    pub state_changes: u64,
    /// BGP4MP records whose BGP message was longer than the record (cut by the collector).
    pub truncated_records: u64,
    /// Withdrawals and announcements recovered from those records.
    pub salvaged_withdrawals: u64,
    pub salvaged_announcements: u64,
    /// Records not read completely as written, by reason: skipped because no parser
    /// understands them, or read in part (the prefixes or RIB entries that could be read were
    /// kept; see [`exact`]).
    pub unparsed_records: BTreeMap<String, u64>,
    pub first_time: Option<Timestamp>,
    pub last_time: Option<Timestamp>,
    /// Decompressed bytes read.
    pub bytes: u64,
    /// Why reading stopped before the end, if it did. Items before it were delivered.
    pub problem: Option<String>,
    /// Damaged stretches skipped to reach the next intact record (torn writes), as messages.
    pub skipped: Vec<String>,
}

impl FileStats {
    /// A file that could not be read at all, and why.
    pub fn failed(problem: String) -> Self {
        FileStats {
            problem: Some(problem),
            ..FileStats::default()
        }
    }

    fn note_time(&mut self, t: Timestamp) {
        if self.first_time.is_none_or(|f| t < f) {
            self.first_time = Some(t);
        }
        if self.last_time.is_none_or(|l| t > l) {
            self.last_time = Some(t);
        }
    }

    fn unparsed(&mut self, reason: String) {
        *self.unparsed_records.entry(reason).or_default() += 1;
    }

    /// Anything that means this file was not read completely and correctly.
    pub fn is_incomplete(&self) -> bool {
        self.problem.is_some() || !self.unparsed_records.is_empty() || !self.skipped.is_empty()
    }
}

/// Read a whole MRT file (raw, gz or bz2), handing every item to `sink` in file order.
pub fn read_file(path: &Path, sink: &mut dyn FnMut(Item)) -> FileStats {
    match decode::open(path) {
        Ok(mut reader) => read_mrt(&mut reader, sink),
        Err(e) => FileStats {
            problem: Some(format!("cannot open: {e}")),
            ..FileStats::default()
        },
    }
}

/// Like [`read_file`], with a [`Handler`] that may skip UPDATEs it does not need.
pub fn read_file_with(path: &Path, handler: &mut dyn Handler) -> FileStats {
    read_file_on(path, 1, handler)
}

/// Like [`read_file_with`], a large bzip2 file decoded on `threads` threads
/// ([`decode::open_on`]).
pub fn read_file_on(path: &Path, threads: usize, handler: &mut dyn Handler) -> FileStats {
    match decode::open_on(path, threads) {
        Ok(mut reader) => read_records(Source::Stream(&mut reader), handler),
        Err(e) => FileStats {
            problem: Some(format!("cannot open: {e}")),
            ..FileStats::default()
        },
    }
}

/// Read MRT records from an already decompressed stream.
pub fn read_mrt(input: &mut dyn Read, sink: &mut dyn FnMut(Item)) -> FileStats {
    read_records(Source::Stream(input), &mut Sink(sink))
}

/// Receives what a file holds. A handler that filters can look at each BGP4MP UPDATE
/// cheaply first and skip its full parse.
pub trait Handler {
    fn item(&mut self, item: Item);
    /// Return true to parse the UPDATE and deliver its items; false to skip it (the handler
    /// takes what it needs, such as per-peer counts, from the view). Only asked when
    /// `prefilters` is true.
    fn wants(&mut self, _time: Timestamp, _update: &prefilter::UpdateView<'_>) -> bool {
        true
    }
    fn prefilters(&self) -> bool {
        false
    }
    /// Like `wants`, for one RIB record (a prefix and each peer's route to it).
    fn wants_rib(&mut self, _time: Timestamp, _rib: &prefilter::RibView<'_>) -> bool {
        true
    }
}

/// Every item to a closure.
pub struct Sink<'a>(pub &'a mut dyn FnMut(Item));

impl Handler for Sink<'_> {
    fn item(&mut self, item: Item) {
        (self.0)(item)
    }
}

/// Read MRT records from a stream, or from a whole decompressed file in memory (records
/// are then slices of it, not copies), handing items to `handler`.
pub fn read_records(mut source: Source<'_>, handler: &mut dyn Handler) -> FileStats {
    let mut stats = FileStats::default();
    let mut elementor = Elementor::new();
    // The last PEER_INDEX_TABLE, by index, for the RIB prefilter.
    let mut peers: Vec<Option<(IpAddr, u32)>> = Vec::new();
    loop {
        let offset = stats.bytes;
        let raw = match next_record(&mut source, &mut stats) {
            Ok(Some(raw)) => raw,
            Ok(None) => break,
            Err(e) => {
                // A torn write in a file held in memory: skip to the next intact record.
                let resumed = if stats.records > 0 {
                    source.resync(offset as usize, stats.last_time)
                } else {
                    None
                };
                if let Some(resumed) = resumed {
                    stats.skipped.push(format!(
                        "{e} at offset {offset} (after record {}): skipped {} damaged bytes to the next intact record",
                        stats.records,
                        resumed - offset as usize
                    ));
                    stats.bytes = resumed as u64;
                    continue;
                }
                stats.problem = Some(format!(
                    "{e} (record {}, offset {offset}); {} records read before it",
                    stats.records + 1,
                    stats.records
                ));
                break;
            }
        };
        stats.records += 1;
        let time = Timestamp {
            secs: i64::from(raw.header.timestamp),
            micros: raw.header.microsecond_timestamp.unwrap_or(0),
        };
        stats.note_time(time);
        if handler.prefilters() && skip_unwanted(&raw, time, &peers, handler, &mut stats) {
            continue;
        }
        if raw.header.entry_type == EntryType::TABLE_DUMP_V2 && raw.header.entry_subtype == 1 {
            peers = peer_index(&raw.body);
        }
        let unparsed_before: u64 = stats.unparsed_records.values().sum();
        let record_end = stats.bytes as usize;
        handle_record(raw, time, &peers, &mut elementor, &mut stats, &mut |item| {
            handler.item(item)
        });
        // A record whose body does not parse may be a torn header that swallowed intact
        // records: if intact records start inside it, resume there.
        if stats.unparsed_records.values().sum::<u64>() > unparsed_before
            && let Some(resumed) =
                source.resync_within(offset as usize, record_end, stats.last_time)
        {
            stats.skipped.push(format!(
                "record {} at offset {offset} is damaged; intact records resume {} bytes into it",
                stats.records,
                resumed - offset as usize
            ));
            stats.bytes = resumed as u64;
        }
    }
    stats
}

/// Where records come from.
pub enum Source<'a> {
    Stream(&'a mut dyn Read),
    Memory { data: Bytes, at: usize },
}

/// Skip an UPDATE the prefilter does not want, counting its elements as if parsed.
fn skip_unwanted(
    raw: &RawRecord,
    time: Timestamp,
    peers: &[Option<(IpAddr, u32)>],
    pf: &mut dyn Handler,
    stats: &mut FileStats,
) -> bool {
    let subtype = raw.header.entry_subtype;
    let rib = match raw.header.entry_type {
        EntryType::TABLE_DUMP => prefilter::view_table_dump(subtype, &raw.body),
        EntryType::TABLE_DUMP_V2 => prefilter::view_table_dump_v2(subtype, &raw.body, peers),
        _ => None,
    };
    if let Some(rib) = rib {
        if pf.wants_rib(time, &rib) {
            return false;
        }
        stats.elems += rib.entries.len() as u64;
        stats.rib_entries += rib.entries.len() as u64;
        return true;
    }
    if !matches!(
        raw.header.entry_type,
        EntryType::BGP4MP | EntryType::BGP4MP_ET
    ) {
        return false;
    }
    let Some(view) = prefilter::view_bgp4mp(raw.header.entry_subtype, &raw.body) else {
        return false;
    };
    if view.origin_unclear() || pf.wants(time, &view) {
        return false;
    }
    stats.elems += u64::from(view.withdrawals + view.announcements);
    stats.withdrawals += u64::from(view.withdrawals);
    stats.announcements += u64::from(view.announcements);
    true
}

struct RawRecord {
    header: CommonHeader,
    entry_type: u16,
    body: Bytes,
}

/// Frame the next record. `Ok(None)` at a clean end of input.
fn next_record(
    source: &mut Source<'_>,
    stats: &mut FileStats,
) -> Result<Option<RawRecord>, String> {
    let mut head = [0u8; 12];
    match source.read(&mut head)? {
        0 => return Ok(None),
        12 => {}
        n => {
            return Err(format!(
                "file ends inside a record header ({n} of 12 bytes)"
            ));
        }
    }
    stats.bytes += 12;
    let timestamp = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let entry_type = u16::from_be_bytes([head[4], head[5]]);
    let entry_subtype = u16::from_be_bytes([head[6], head[7]]);
    let mut length = u32::from_be_bytes([head[8], head[9], head[10], head[11]]);
    let known_type = EntryType::try_from(entry_type).is_ok();
    if stats.records == 0 && (!known_type || length > MAX_RECORD_BODY) {
        return Err(format!(
            "not an MRT file: the first record has type {entry_type} and declares {length} bytes"
        ));
    }
    if length > MAX_RECORD_BODY {
        return Err(format!(
            "record declares a {length}-byte body (type {entry_type}), larger than any real MRT record: corrupt length"
        ));
    }
    if !known_type {
        return Err(format!(
            "record of unknown MRT type {entry_type}: corrupt header"
        ));
    }
    let mut micros = None;
    if entry_type == EntryType::BGP4MP_ET as u16 {
        if length < 4 {
            return Err("BGP4MP_ET record shorter than its microsecond field".into());
        }
        let mut us = [0u8; 4];
        if source.read(&mut us)? != 4 {
            return Err("file ends inside a BGP4MP_ET header".into());
        }
        stats.bytes += 4;
        micros = Some(u32::from_be_bytes(us));
        length -= 4;
    }
    let body = source.take(length as usize)?;
    stats.bytes += body.len() as u64;
    if body.len() < length as usize {
        return Err(format!(
            "truncated: record body has {} of {length} bytes",
            body.len()
        ));
    }
    let entry_type_enum = EntryType::try_from(entry_type).unwrap_or(EntryType::NULL);
    Ok(Some(RawRecord {
        header: CommonHeader {
            timestamp,
            microsecond_timestamp: micros,
            entry_type: entry_type_enum,
            entry_subtype,
            length,
        },
        entry_type,
        body,
    }))
}

/// Does a run of plausible MRT records start at `p`?
fn chain_ok(data: &[u8], mut p: usize, last: Option<Timestamp>) -> bool {
    for _ in 0..RESYNC_CHAIN {
        if p == data.len() {
            return true;
        }
        let Some(h) = data.get(p..p + 12) else {
            return false;
        };
        let time = i64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]]));
        let kind = u16::from_be_bytes([h[4], h[5]]);
        let subtype = u16::from_be_bytes([h[6], h[7]]);
        let len = u32::from_be_bytes([h[8], h[9], h[10], h[11]]) as usize;
        let plausible_type = match kind {
            5 => subtype <= 4,
            12 => subtype <= 2,
            13 => (1..=12).contains(&subtype),
            16 | 17 => subtype <= 11,
            _ => false,
        };
        if !plausible_type || len > 1 << 16 || p + 12 + len > data.len() {
            return false;
        }
        if last.is_some_and(|t| (time - t.secs).abs() > 86_400) {
            return false;
        }
        p += 12 + len;
    }
    true
}

/// Bytes searched after a damaged record for the next intact one.
const RESYNC_WINDOW: usize = 1 << 20;
/// Intact records that must follow each other before a resumption point is trusted.
const RESYNC_CHAIN: usize = 3;

impl Source<'_> {
    /// After a framing error at `from`, find where intact records resume: the first offset
    /// from which `RESYNC_CHAIN` plausible records follow each other (or run to the end of
    /// the file), with times within a day of the last good record. Only for files in memory;
    /// `None` when nothing trustworthy is found.
    /// Like `resync`, but only accepts a resumption point before `end` (inside a record that
    /// framed but did not parse); the position is left alone otherwise.
    fn resync_within(&mut self, from: usize, end: usize, last: Option<Timestamp>) -> Option<usize> {
        let Source::Memory { data, at } = self else {
            return None;
        };
        let found = (from + 1..end.min(data.len())).find(|&p| chain_ok(data, p, last))?;
        *at = found;
        Some(found)
    }

    fn resync(&mut self, from: usize, last: Option<Timestamp>) -> Option<usize> {
        let Source::Memory { data, at } = self else {
            return None;
        };
        let end = data.len().min(from + RESYNC_WINDOW);
        let found = (from + 1..end).find(|&p| chain_ok(data, p, last))?;
        *at = found;
        Some(found)
    }

    /// Fill `buf` as far as the input goes; how much was read.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, String> {
        match self {
            Source::Stream(r) => read_full(*r, buf).map_err(|e| read_error(&e)),
            Source::Memory { data, at } => {
                let n = buf.len().min(data.len() - *at);
                buf[..n].copy_from_slice(&data[*at..*at + n]);
                *at += n;
                Ok(n)
            }
        }
    }

    /// The next `len` bytes (fewer at the end of input), without copying from memory.
    fn take(&mut self, len: usize) -> Result<Bytes, String> {
        match self {
            Source::Stream(r) => {
                let mut body = vec![0u8; len];
                let got = read_full(*r, &mut body).map_err(|e| read_error(&e))?;
                body.truncate(got);
                Ok(Bytes::from(body))
            }
            Source::Memory { data, at } => {
                let end = (*at + len).min(data.len());
                let out = data.slice(*at..end);
                *at = end;
                Ok(out)
            }
        }
    }
}

/// Like `read_exact`, but reports how much was read when the input ends early.
/// Decoder errors in words a user can act on.
pub fn read_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    let bzip2 = e.get_ref().and_then(|i| i.downcast_ref::<mibz2::Error>());
    let truncated = bzip2.is_some_and(|b| b.kind == mibz2::ErrorKind::Truncated);
    if truncated || e.kind() == std::io::ErrorKind::UnexpectedEof {
        "compressed stream ends early: the file is truncated".into()
    } else if bzip2.is_some() || text.contains("corrupt") || text.contains("invalid") {
        format!("compressed data is corrupt ({text})")
    } else {
        format!("read error: {text}")
    }
}

fn read_full(input: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn handle_record(
    raw: RawRecord,
    time: Timestamp,
    peers: &[Option<(IpAddr, u32)>],
    elementor: &mut Elementor,
    stats: &mut FileStats,
    sink: &mut dyn FnMut(Item),
) {
    let header = raw.header;
    let mut body = raw.body;
    let subtype = header.entry_subtype;
    let mut salvaged = false;
    if matches!(header.entry_type, EntryType::BGP4MP | EntryType::BGP4MP_ET)
        && let Some(repaired) = salvage::repair_cut_update(header.entry_subtype, &body)
    {
        stats.truncated_records += 1;
        body = repaired;
        salvaged = true;
    }
    if matches!(header.entry_type, EntryType::BGP4MP | EntryType::BGP4MP_ET)
        && exact::marker_broken(subtype, &body)
    {
        stats.unparsed(exact::BAD_MARKER.into());
        return;
    }
    let exact = match header.entry_type {
        EntryType::BGP4MP | EntryType::BGP4MP_ET => {
            Exact::Update(exact::read_update(subtype, &body).map(Box::new))
        }
        EntryType::TABLE_DUMP_V2 => Exact::Rib(exact::check_rib(subtype, &body, peers)),
        _ => Exact::None,
    };
    let mut message = match parse_mrt_body(raw.entry_type, subtype, body) {
        Ok(m) => m,
        Err(e) => {
            stats.unparsed(match (raw.entry_type, header.entry_subtype) {
                (13, 6 | 12) => "TABLE_DUMP_V2 RIB_GENERIC (not unicast IPv4/IPv6)".to_string(),
                (t, st) => format!("type {t} subtype {st}: {e}"),
            });
            return;
        }
    };
    let mrt = match (&header.entry_type, &message) {
        (EntryType::TABLE_DUMP, _) => MrtKind::TableDump,
        (EntryType::TABLE_DUMP_V2, _) => {
            if matches!(header.entry_subtype, 8..=12) {
                MrtKind::TableDump2AddPath
            } else {
                MrtKind::TableDump2
            }
        }
        (EntryType::BGP4MP_ET, _) => MrtKind::Bgp4mpEt,
        (EntryType::BGP, _) => MrtKind::LegacyBgp,
        (EntryType::BGP4MP, _) if matches!(header.entry_subtype, 8..=11) => MrtKind::Bgp4mpAddPath,
        _ => MrtKind::Bgp4mp,
    };

    // State changes never become elements in bgpkit-parser: take them from the record.
    let state = match &message {
        MrtMessage::Bgp4Mp(Bgp4MpEnum::StateChange(s)) => Some((
            s.peer_ip,
            u32::from(s.peer_asn),
            s.old_state as u16,
            s.new_state as u16,
        )),
        MrtMessage::LegacyBgp(LegacyBgp::StateChange(s)) => Some((
            s.peer_ip,
            u32::from(s.peer_asn),
            s.old_state as u16,
            s.new_state as u16,
        )),
        _ => None,
    };
    if let Some((peer_ip, peer_asn, old_state, new_state)) = state {
        stats.state_changes += 1;
        sink(Item::State(StateElem {
            time,
            mrt,
            peer_ip,
            peer_asn,
            old_state,
            new_state,
        }));
        return;
    }
    if let MrtMessage::TableDumpV2Message(TableDumpV2Message::PeerIndexTable(table)) = message {
        *elementor = Elementor::with_peer_table(table);
        return;
    }
    // Multicast RIBs (RIB_IPV4/IPV6_MULTICAST, with or without ADD-PATH) say nothing about
    // unicast reachability; bgpkit-parser would hand their entries out as unicast routes.
    if raw.entry_type == EntryType::TABLE_DUMP_V2 as u16
        && matches!(header.entry_subtype, 3 | 5 | 9 | 11)
    {
        stats.unparsed(format!(
            "TABLE_DUMP_V2 subtype {} (a multicast RIB, not unicast)",
            header.entry_subtype
        ));
        return;
    }
    if let MrtMessage::TableDumpV2Message(TableDumpV2Message::RibGeneric(_)) = &message {
        stats.unparsed("TABLE_DUMP_V2 RIB_GENERIC (not unicast)".into());
        return;
    }
    let bad_update = unreadable_update_attributes(&mut message, stats);
    correct(&mut message, exact, stats);
    if bad_update {
        drop_announcements(&mut message);
    }
    if !drop_unreadable_rib_entries(&mut message, stats) {
        return;
    }
    // Elementor drops the path identifiers of ADD-PATH RIB entries; keep them (same order).
    let rib_path_ids: Vec<Option<u32>> = match &message {
        MrtMessage::TableDumpV2Message(TableDumpV2Message::RibAfi(r)) => {
            r.rib_entries.iter().map(|e| e.path_id).collect()
        }
        _ => Vec::new(),
    };
    let record = MrtRecord {
        common_header: header,
        message,
    };
    let elems = match elementor.record_to_elems_iter(record) {
        Ok(it) => it,
        Err(bgpkit_parser::parser::mrt::mrt_elem::ElemError::MissingPeerTable) => {
            stats.unparsed(
                "TABLE_DUMP_V2 RIB record with no PEER_INDEX_TABLE before it (peers unknown)"
                    .into(),
            );
            return;
        }
        Err(e) => {
            stats.unparsed(format!(
                "type {} subtype {}: {e}",
                raw.entry_type, header.entry_subtype
            ));
            return;
        }
    };
    let is_rib = matches!(
        mrt,
        MrtKind::TableDump | MrtKind::TableDump2 | MrtKind::TableDump2AddPath
    );
    // bgpkit-parser yields an UPDATE's announcements first; bgpdump (and the wire order of an
    // UPDATE) puts withdrawals first. Follow the wire so `dump` lines up with bgpdump.
    let mut routes: Vec<RouteElem> = elems
        .map(|e| convert_elem(e, time, mrt, is_rib, salvaged))
        .collect();
    if rib_path_ids.len() == routes.len() {
        for (r, id) in routes.iter_mut().zip(rib_path_ids) {
            r.path_id = r.path_id.or(id);
        }
    }
    routes.sort_by_key(|r| r.kind != RouteKind::Withdraw);
    for route in routes {
        stats.elems += 1;
        match route.kind {
            RouteKind::Announce => stats.announcements += 1,
            RouteKind::Withdraw => stats.withdrawals += 1,
            RouteKind::Rib => stats.rib_entries += 1,
        }
        if salvaged {
            match route.kind {
                RouteKind::Withdraw => stats.salvaged_withdrawals += 1,
                _ => stats.salvaged_announcements += 1,
            }
        }
        sink(Item::Route(route));
    }
}

/// Peers of a PEER_INDEX_TABLE body by index (parsed by bgpkit-parser; `None` if it fails).
fn peer_index(body: &Bytes) -> Vec<Option<(IpAddr, u32)>> {
    let Ok(MrtMessage::TableDumpV2Message(TableDumpV2Message::PeerIndexTable(t))) =
        parse_mrt_body(13, 1, body.clone())
    else {
        return Vec::new();
    };
    let max = t
        .id_peer_map
        .keys()
        .copied()
        .max()
        .map_or(0, |m| usize::from(m) + 1);
    let mut out = vec![None; max];
    for (id, p) in &t.id_peer_map {
        out[usize::from(*id)] = Some((p.peer_ip, u32::from(p.peer_asn)));
    }
    out
}

/// Our own reading of a record's parts that bgpkit-parser misreads or drops (see [`exact`]).
enum Exact {
    // Boxed: a reading is large and most records are not updates read here.
    Update(Option<Box<exact::UpdateReading>>),
    Rib(Option<exact::RibCheck>),
    None,
}

/// Lay our reading over bgpkit-parser's message, counting every departure from the bytes.
fn correct(message: &mut MrtMessage, exact: Exact, stats: &mut FileStats) {
    let problems = match (message, exact) {
        (MrtMessage::Bgp4Mp(Bgp4MpEnum::Message(m)), Exact::Update(Some(mut reading))) => {
            match &mut m.bgp_message {
                BgpMessage::Update(u) => {
                    let problems = std::mem::take(&mut reading.problems);
                    reading.apply(u);
                    problems
                }
                _ => Vec::new(),
            }
        }
        (
            MrtMessage::TableDumpV2Message(TableDumpV2Message::RibAfi(r)),
            Exact::Rib(Some(check)),
        ) => check.apply(&mut r.rib_entries),
        (message, _) => return note_malformed_nlri(message, stats),
    };
    for reason in problems {
        stats.unparsed(reason.to_string());
    }
}

/// ORIGIN, AS_PATH or NEXT_HOP unreadable: no trustworthy path. (One reason per kind, no numbers.)
const UPDATE_BAD_MANDATORY: &str = "UPDATE whose ORIGIN, AS_PATH or NEXT_HOP cannot be read (no trustworthy path): its announcements were skipped";
const UPDATE_BAD_OPTIONAL: &str =
    "UPDATE with an optional path attribute that cannot be read: the attribute was left out";
const RIB_BAD_MANDATORY: &str =
    "RIB entry whose ORIGIN, AS_PATH or NEXT_HOP cannot be read: the entry was skipped";
const RIB_BAD_OPTIONAL: &str =
    "RIB entry with an optional path attribute that cannot be read: the attribute was left out";

/// What bgpkit-parser could not read in a set of path attributes. It keeps an unreadable
/// attribute as raw bytes and says so only in a validation warning, so an AS_PATH segment of
/// an unknown type used to come out as an empty path. Attributes of types it does not know
/// are not damage, and MP_(UN)REACH_NLRI are checked by [`exact`] and [`note_malformed_nlri`].
#[derive(Debug, Default, Clone, Copy)]
struct Unreadable {
    mandatory: bool,
    optional: bool,
}

fn unreadable(attrs: &bgpkit_parser::models::Attributes) -> Unreadable {
    use bgpkit_parser::models::AttrType;
    let mut u = Unreadable::default();
    for w in attrs.validation_warnings() {
        match w {
            BgpValidationWarning::MalformedAttributeList { .. } => u.mandatory = true,
            BgpValidationWarning::OptionalAttributeError { attr_type, reason }
            | BgpValidationWarning::PartialAttributeError { attr_type, reason } => {
                let nlri = matches!(
                    attr_type,
                    AttrType::MP_REACHABLE_NLRI | AttrType::MP_UNREACHABLE_NLRI
                );
                u.optional |= !nlri && !reason.contains("unsupported attribute type");
            }
            _ => {}
        }
    }
    u
}

/// The UPDATE inside a BGP4MP or legacy BGP message, if it is one.
fn update_of(message: &mut MrtMessage) -> Option<&mut BgpUpdateMessage> {
    let bgp = match message {
        MrtMessage::Bgp4Mp(Bgp4MpEnum::Message(m)) => &mut m.bgp_message,
        MrtMessage::LegacyBgp(LegacyBgp::Message(m)) => &mut m.bgp_message,
        _ => return None,
    };
    match bgp {
        BgpMessage::Update(u) => Some(u),
        _ => None,
    }
}

/// Count an UPDATE's unreadable attributes; true when its announcements must be dropped.
/// (Read before [`correct`], which may rebuild the attributes without their warnings.)
fn unreadable_update_attributes(message: &mut MrtMessage, stats: &mut FileStats) -> bool {
    let Some(u) = update_of(message) else {
        return false;
    };
    let bad = unreadable(&u.attributes);
    if bad.optional {
        stats.unparsed(UPDATE_BAD_OPTIONAL.into());
    }
    if bad.mandatory && (!u.announced_prefixes.is_empty() || has_mp_reach(u)) {
        stats.unparsed(UPDATE_BAD_MANDATORY.into());
    }
    bad.mandatory
}

fn has_mp_reach(u: &BgpUpdateMessage) -> bool {
    u.attributes
        .iter()
        .any(|a| matches!(a, AttributeValue::MpReachNlri(_)))
}

/// Drop an UPDATE's announcements (its withdrawals stand), as for attributes overrunning
/// their block.
fn drop_announcements(message: &mut MrtMessage) {
    if let Some(u) = update_of(message) {
        u.announced_prefixes.clear();
        let old = std::mem::take(&mut u.attributes);
        u.attributes = old
            .into_attributes_iter()
            .filter(|a| !matches!(a.value, AttributeValue::MpReachNlri(_)))
            .collect();
    }
}

/// Count unreadable attributes of RIB entries and drop the entries without a trustworthy
/// path; false when the record's only entry (TABLE_DUMP) is dropped.
fn drop_unreadable_rib_entries(message: &mut MrtMessage, stats: &mut FileStats) -> bool {
    let mut check = |attrs: &bgpkit_parser::models::Attributes| {
        let bad = unreadable(attrs);
        if bad.optional {
            stats.unparsed(RIB_BAD_OPTIONAL.into());
        }
        if bad.mandatory {
            stats.unparsed(RIB_BAD_MANDATORY.into());
        }
        !bad.mandatory
    };
    match message {
        MrtMessage::TableDumpV2Message(TableDumpV2Message::RibAfi(r)) => {
            r.rib_entries.retain(|e| check(&e.attributes));
            true
        }
        MrtMessage::TableDumpMessage(t) => check(&t.attributes),
        MrtMessage::TableDumpMessageBatch(b) => {
            b.retain(|t| check(&t.attributes));
            true
        }
        _ => true,
    }
}

/// bgpkit-parser drops the prefixes of an NLRI field it cannot read and only notes it as a
/// validation warning: surface that, so no prefix is lost silently (records we do not read
/// ourselves: legacy type 5, ADD-PATH subtypes).
fn note_malformed_nlri(message: &MrtMessage, stats: &mut FileStats) {
    let update = match message {
        MrtMessage::Bgp4Mp(Bgp4MpEnum::Message(m)) => &m.bgp_message,
        MrtMessage::LegacyBgp(LegacyBgp::Message(m)) => &m.bgp_message,
        _ => return,
    };
    if let BgpMessage::Update(u) = update {
        for w in u.attributes.validation_warnings() {
            if let BgpValidationWarning::MalformedNlri {
                nlri_type, reason, ..
            } = w
            {
                stats.unparsed(format!(
                    "UPDATE with a malformed {nlri_type} NLRI field; its prefixes were dropped ({reason})"
                ));
            }
        }
    }
}

fn convert_elem(
    elem: BgpElem,
    time: Timestamp,
    mrt: MrtKind,
    is_rib: bool,
    salvaged: bool,
) -> RouteElem {
    let kind = match (is_rib, elem.elem_type) {
        (true, _) => RouteKind::Rib,
        (false, ElemType::ANNOUNCE) => RouteKind::Announce,
        (false, ElemType::WITHDRAW) => RouteKind::Withdraw,
    };
    let attrs = (kind != RouteKind::Withdraw).then(|| Arc::new(convert_attrs(&elem)));
    RouteElem {
        time,
        mrt,
        kind,
        peer_ip: elem.peer_ip,
        peer_asn: u32::from(elem.peer_asn),
        prefix: elem.prefix.prefix,
        path_id: elem.prefix.path_id,
        attrs,
        salvaged,
    }
}

fn convert_attrs(elem: &BgpElem) -> RouteAttrs {
    let path = elem
        .as_path
        .as_ref()
        .map(|p| {
            let mut hops = Vec::new();
            for seg in p.iter_segments() {
                match seg {
                    AsPathSegment::AsSequence(v) => {
                        hops.extend(v.iter().map(|a| PathHop::As(u32::from(*a))));
                    }
                    AsPathSegment::AsSet(v) => {
                        hops.push(PathHop::Set(v.iter().map(|a| u32::from(*a)).collect()));
                    }
                    AsPathSegment::ConfedSequence(v) => {
                        hops.push(PathHop::ConfedSequence(
                            v.iter().map(|a| u32::from(*a)).collect(),
                        ));
                    }
                    AsPathSegment::ConfedSet(v) => {
                        hops.push(PathHop::ConfedSet(
                            v.iter().map(|a| u32::from(*a)).collect(),
                        ));
                    }
                }
            }
            AsPath(hops)
        })
        .unwrap_or_default();
    let communities = elem
        .communities
        .as_ref()
        .map(|cs| cs.iter().map(community_text).collect())
        .unwrap_or_default();
    RouteAttrs {
        path,
        origin_code: elem.origin.map(|o| match o {
            bgpkit_parser::models::Origin::IGP => "IGP",
            bgpkit_parser::models::Origin::EGP => "EGP",
            bgpkit_parser::models::Origin::INCOMPLETE => "INCOMPLETE",
        }),
        next_hop: elem.next_hop,
        local_pref: elem.local_pref,
        med: elem.med,
        communities,
        atomic_aggregate: elem.atomic,
        aggregator: elem.aggr_asn.map(|a| {
            (
                u32::from(a),
                elem.aggr_ip
                    .map(IpAddr::V4)
                    .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
            )
        }),
    }
}

fn community_text(c: &MetaCommunity) -> String {
    match c {
        MetaCommunity::Plain(p) => p.to_string(),
        MetaCommunity::Extended(e) => e.to_string(),
        MetaCommunity::Ipv6Extended(e) => e.to_string(),
        MetaCommunity::Large(l) => l.to_string(),
    }
}

/// [`RouteAttrs`] as saved: the ORIGIN name owned, mapped back to one of its three names.
#[derive(Deserialize)]
struct SavedAttrs {
    path: AsPath,
    origin_code: Option<String>,
    next_hop: Option<IpAddr>,
    local_pref: Option<u32>,
    med: Option<u32>,
    communities: Vec<String>,
    atomic_aggregate: bool,
    aggregator: Option<(u32, IpAddr)>,
}

// By hand: a derive would tie the `&'static str` field to the input's lifetime.
impl<'de> Deserialize<'de> for RouteAttrs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RouteAttrs::try_from(SavedAttrs::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<SavedAttrs> for RouteAttrs {
    type Error = String;
    fn try_from(a: SavedAttrs) -> Result<Self, String> {
        let origin_code = match a.origin_code.as_deref() {
            None => None,
            Some("IGP") => Some("IGP"),
            Some("EGP") => Some("EGP"),
            Some("INCOMPLETE") => Some("INCOMPLETE"),
            Some(other) => {
                return Err(format!("ORIGIN {other:?}: expected IGP, EGP or INCOMPLETE"));
            }
        };
        Ok(RouteAttrs {
            path: a.path,
            origin_code,
            next_hop: a.next_hop,
            local_pref: a.local_pref,
            med: a.med,
            communities: a.communities,
            atomic_aggregate: a.atomic_aggregate,
            aggregator: a.aggregator,
        })
    }
}
