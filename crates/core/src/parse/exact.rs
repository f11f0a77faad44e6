//! Our own reading of what bgpkit-parser 0.23 reads wrongly or drops without a trace: the
//! prefix fields of a plain (non-ADD-PATH) BGP4MP UPDATE and the entries of a TABLE_DUMP_V2
//! RIB record. Its result is laid over bgpkit-parser's message before elements are made.
//!
//! - bgpkit-parser guesses ADD-PATH whenever a prefix field starts with a zero byte
//!   (`parse_nlri_list`), so a plain UPDATE whose first prefix is 0.0.0.0/0 comes out as
//!   garbage. The BGP4MP subtype says whether ADD-PATH is in use; we believe it, and fall back
//!   to ADD-PATH only when the plain reading is impossible and the ADD-PATH one is exact (BIRD
//!   writes ADD-PATH sessions under subtype 4).
//! - It drops a whole field (MP_REACH_NLRI / MP_UNREACH_NLRI included) at its first bad prefix.
//!   We keep the prefixes before it, as bgpdump does, and name what was skipped.
//! - An attribute whose length runs past the attribute block ends its attribute parsing: the
//!   announcements then lack their path and next hop. We drop them and say so.
//! - A RIB entry that does not fit its record ends the record, and one naming a peer the
//!   PEER_INDEX_TABLE lacks ends the record's elements: we keep every readable entry and count
//!   the others.
//!
//! Every departure from the bytes as written is returned as a reason for
//! [`super::FileStats::unparsed_records`]; none is only logged.

use super::prefilter::{Attributes, read_u16};
use bgpkit_parser::models::{
    Afi, AttrFlags, Attribute, AttributeValue, BgpUpdateMessage, NetworkPrefix, NextHopAddress,
    Nlri, RibEntry, Safi,
};
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const MP_REACH: u8 = 14;
const MP_UNREACH: u8 = 15;

/// Reasons, one per kind of damage (they key the per-file counts, so they hold no numbers).
pub const BAD_WITHDRAWN: &str = "UPDATE with a malformed withdrawn NLRI field: the prefixes from the first bad one on were skipped";
pub const BAD_ANNOUNCED: &str = "UPDATE with a malformed announced NLRI field: the prefixes from the first bad one on were skipped";
pub const BAD_MP_UNREACH: &str = "UPDATE with a malformed MP_UNREACH_NLRI attribute: the withdrawals from the first bad prefix on were skipped";
pub const BAD_MP_REACH: &str = "UPDATE with a malformed MP_REACH_NLRI attribute: the announcements from the first bad prefix on were skipped";
pub const BAD_ATTRIBUTES: &str = "UPDATE whose path attributes overrun their block (no trustworthy path or next hop): its announcements were skipped";
pub const RIB_CUT_ENTRY: &str = "TABLE_DUMP_V2 RIB record with an entry that runs past the record's end: that entry and the ones after it were skipped";
pub const RIB_UNKNOWN_PEER: &str = "TABLE_DUMP_V2 RIB entry naming a peer missing from the PEER_INDEX_TABLE: the entry was skipped";
pub const BAD_NEXT_HOP: &str = "UPDATE whose MP_REACH_NLRI next hop has a length no unicast next hop has: its announcements were skipped";
pub const BAD_MARKER: &str =
    "BGP4MP message whose BGP marker is not all ones (a garbled message): the record was skipped";
pub const RIB_BAD_ATTRIBUTES: &str =
    "TABLE_DUMP_V2 RIB entry whose path attributes overrun their block: the entry was skipped";

/// A plain UPDATE's prefix fields as we read them, and what could not be read.
#[derive(Debug, Default)]
pub struct UpdateReading {
    withdrawn: Vec<NetworkPrefix>,
    announced: Vec<NetworkPrefix>,
    mp_unreach: Mp,
    mp_reach: Mp,
    /// The attribute block is broken: announcements cannot be trusted.
    drop_announcements: bool,
    pub problems: Vec<&'static str>,
}

/// An MP_(UN)REACH_NLRI attribute: absent, left to bgpkit-parser (not IPv4/IPv6 unicast), or ours.
#[derive(Debug, Default)]
enum Mp {
    #[default]
    Absent,
    Theirs,
    Ours(Nlri),
}

/// Read the UPDATE of a plain BGP4MP body of `subtype` (MESSAGE, _AS4, _LOCAL, _AS4_LOCAL).
/// `None` for anything else, or when the UPDATE's own framing is off (bgpkit-parser then
/// fails the record, which is counted where it is parsed).
pub fn read_update(subtype: u16, body: &[u8]) -> Option<UpdateReading> {
    let u = plain_update(subtype, body)?;
    let wd_len = usize::from(read_u16(u, 0)?);
    let withdrawn = u.get(2..2 + wd_len)?;
    let attr_len = usize::from(read_u16(u, 2 + wd_len)?);
    let attrs = u.get(4 + wd_len..4 + wd_len + attr_len)?;
    let nlri = u.get(4 + wd_len + attr_len..)?;
    let mut r = UpdateReading::default();
    r.withdrawn = r.field(withdrawn, Afi::Ipv4, BAD_WITHDRAWN);
    r.announced = r.field(nlri, Afi::Ipv4, BAD_ANNOUNCED);
    for attr in Attributes(attrs) {
        let Some((code, value)) = attr else {
            r.drop_announcements = true;
            r.problems.push(BAD_ATTRIBUTES);
            break;
        };
        match code {
            MP_REACH => r.mp_reach = r.mp_field(value, true),
            MP_UNREACH => r.mp_unreach = r.mp_field(value, false),
            _ => {}
        }
    }
    Some(r)
}

/// Is the BGP message inside a BGP4MP MESSAGE-type body (any of its subtypes) garbled, its
/// 16-byte marker not all ones? bgpkit-parser reads past the marker; bgpdump skips such a
/// message, and so do we, naming it: found by tests/fuzz.rs (one flipped marker bit turned a
/// message into a withdrawal read with exit 0).
pub fn marker_broken(subtype: u16, body: &[u8]) -> bool {
    let asn_len = match subtype {
        1 | 6 | 8 | 10 => 2,
        4 | 7 | 9 | 11 => 4,
        _ => return false,
    };
    let afi_at = 2 * asn_len + 2;
    let ip_len = match read_u16(body, afi_at) {
        Some(1) => 4,
        Some(2) => 16,
        _ => return false,
    };
    let at = afi_at + 2 + 2 * ip_len;
    body.get(at..at + 16)
        .is_some_and(|marker| marker.iter().any(|b| *b != 0xff))
}

/// The BGP UPDATE body (after the 19-byte header) inside a plain BGP4MP message body.
fn plain_update(subtype: u16, body: &[u8]) -> Option<&[u8]> {
    let asn_len = match subtype {
        1 | 6 => 2,
        4 | 7 => 4,
        _ => return None,
    };
    let afi_at = 2 * asn_len + 2;
    let ip_len = match read_u16(body, afi_at)? {
        1 => 4,
        2 => 16,
        _ => return None,
    };
    let bgp = body.get(afi_at + 2 + 2 * ip_len..)?;
    let declared = usize::from(read_u16(bgp, 16)?);
    if *bgp.get(18)? != 2 || declared < 19 {
        return None;
    }
    bgp.get(19..declared)
}

impl UpdateReading {
    /// One prefix field, noting `reason` when it could not be read to its end.
    fn field(&mut self, data: &[u8], afi: Afi, reason: &'static str) -> Vec<NetworkPrefix> {
        let (prefixes, complete) = read_prefixes(data, afi);
        if !complete {
            self.problems.push(reason);
        }
        prefixes
    }

    /// An MP_REACH_NLRI (`reach`) or MP_UNREACH_NLRI value.
    fn mp_field(&mut self, v: &[u8], reach: bool) -> Mp {
        let afi = match read_u16(v, 0) {
            Some(1) => Afi::Ipv4,
            Some(2) => Afi::Ipv6,
            _ => return Mp::Theirs,
        };
        if v.get(2) != Some(&1) {
            return Mp::Theirs;
        }
        let reason = if reach { BAD_MP_REACH } else { BAD_MP_UNREACH };
        let (next_hop, nlri) = if reach {
            let nh_len = v.get(3).map_or(0, |n| usize::from(*n));
            // IPv4 next hops are 4 bytes (16 or 32 for IPv6 ones, RFC 8950); IPv6 16 or 32
            // (RFC 2545). Any other length shifts the NLRI: what follows would be read as
            // prefixes that were never announced (found by tests/fuzz.rs: 16 → 17 read one
            // real announcement as 401:4c5b:e000::/40 with exit 0; bgpdump skips it).
            if !matches!(
                (afi, nh_len),
                (Afi::Ipv4, 4 | 16 | 32) | (Afi::Ipv6, 16 | 32)
            ) {
                self.problems.push(BAD_NEXT_HOP);
                return Mp::Ours(mp_nlri(afi, None, Vec::new()));
            }
            (v.get(4..4 + nh_len).and_then(next_hop), v.get(5 + nh_len..))
        } else {
            (None, v.get(3..))
        };
        let Some(nlri) = nlri else {
            self.problems.push(reason);
            return Mp::Ours(mp_nlri(afi, None, Vec::new()));
        };
        let prefixes = self.field(nlri, afi, reason);
        Mp::Ours(mp_nlri(afi, next_hop, prefixes))
    }

    /// Put our reading into bgpkit-parser's message.
    pub fn apply(self, u: &mut BgpUpdateMessage) {
        u.withdrawn_prefixes = self.withdrawn;
        u.announced_prefixes = if self.drop_announcements {
            Vec::new()
        } else {
            self.announced
        };
        let reach = match self.mp_reach {
            _ if self.drop_announcements => Mp::Ours(mp_nlri(Afi::Ipv4, None, Vec::new())),
            other => other,
        };
        let replace = |mp: &Mp| matches!(mp, Mp::Ours(_));
        let (new_reach, new_unreach) = (replace(&reach), replace(&self.mp_unreach));
        if !new_reach && !new_unreach {
            return;
        }
        let old = std::mem::take(&mut u.attributes);
        let kept = old.into_attributes_iter().filter(|a| {
            let code = a.value.attr_code();
            !((code == MP_REACH && new_reach) || (code == MP_UNREACH && new_unreach))
        });
        let ours = [
            mp_attr(reach, AttributeValue::MpReachNlri),
            mp_attr(self.mp_unreach, AttributeValue::MpUnreachNlri),
        ];
        u.attributes = kept.chain(ours.into_iter().flatten()).collect();
    }
}

/// Our attribute for a field we read, unless it is empty (an empty one adds nothing).
fn mp_attr(mp: Mp, make: fn(Nlri) -> AttributeValue) -> Option<Attribute> {
    match mp {
        Mp::Ours(n) if !n.prefixes.is_empty() => Some(Attribute {
            value: make(n),
            flag: AttrFlags::OPTIONAL,
        }),
        _ => None,
    }
}

fn mp_nlri(afi: Afi, next_hop: Option<NextHopAddress>, prefixes: Vec<NetworkPrefix>) -> Nlri {
    Nlri {
        afi,
        safi: Safi::Unicast,
        next_hop,
        prefixes,
        labeled_prefixes: None,
        link_state_nlris: None,
        flowspec_nlris: None,
    }
}

/// The next hop of an MP_REACH_NLRI: IPv4, IPv6, or IPv6 global and link-local.
fn next_hop(b: &[u8]) -> Option<NextHopAddress> {
    let v6 = |b: &[u8]| <[u8; 16]>::try_from(b).ok().map(Ipv6Addr::from);
    Some(match b.len() {
        4 => NextHopAddress::Ipv4(Ipv4Addr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => NextHopAddress::Ipv6(v6(b)?),
        32 => NextHopAddress::Ipv6LinkLocal(v6(&b[..16])?, v6(&b[16..])?),
        _ => return None,
    })
}

/// A prefix field read plainly when that reads it to its end; else as ADD-PATH when that
/// does with small path identifiers (a record mislabelled by its writer, as BIRD does);
/// else plainly up to the first bad prefix, as bgpdump does. Whether it was read to its end.
fn read_prefixes(data: &[u8], afi: Afi) -> (Vec<NetworkPrefix>, bool) {
    let plain = decode(data, afi, false);
    if plain.1 || data.first() != Some(&0) {
        return plain;
    }
    // Damage can make any field read as ADD-PATH by chance; real path identifiers are small
    // (their first byte is 0), garbage ones rarely all are.
    let add_path = decode(data, afi, true);
    let small_ids = add_path
        .0
        .iter()
        .all(|p| p.path_id.is_some_and(|id| id < 1 << 24));
    if add_path.1 && small_ids {
        add_path
    } else {
        plain
    }
}

/// Decode prefixes until the end or the first one that cannot be (too long or cut).
fn decode(data: &[u8], afi: Afi, add_path: bool) -> (Vec<NetworkPrefix>, bool) {
    let mut out = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let Some((prefix, used)) = one_prefix(&data[at..], afi, add_path) else {
            return (out, false);
        };
        out.push(prefix);
        at += used;
    }
    (out, true)
}

/// One prefix at the start of `d` and the bytes it takes. Host bits are kept, as written.
fn one_prefix(d: &[u8], afi: Afi, add_path: bool) -> Option<(NetworkPrefix, usize)> {
    let (path_id, at) = if add_path {
        (Some(u32::from_be_bytes(d.get(..4)?.try_into().ok()?)), 4)
    } else {
        (None, 0)
    };
    let bits = *d.get(at)?;
    let n = usize::from(bits).div_ceil(8);
    let bytes = d.get(at + 1..at + 1 + n)?;
    let addr = match afi {
        Afi::Ipv4 => {
            let mut a = [0u8; 4];
            a.get_mut(..n)?.copy_from_slice(bytes);
            IpAddr::V4(Ipv4Addr::from(a))
        }
        _ => {
            let mut a = [0u8; 16];
            a.get_mut(..n)?.copy_from_slice(bytes);
            IpAddr::V6(Ipv6Addr::from(a))
        }
    };
    let net = IpNet::new(addr, bits).ok()?;
    Some((NetworkPrefix::new(net, path_id), at + 1 + n))
}

/// Which entries of a TABLE_DUMP_V2 RIB record can be read as written.
#[derive(Debug)]
pub struct RibCheck {
    declared: usize,
    /// Per entry that frames, in order: its peer is known and its attributes walk.
    entries: Vec<Result<(), &'static str>>,
}

/// Walk the entries of a RIB_IPV4/IPV6 (multicast, ADD-PATH too) record body; `peers` is the
/// last PEER_INDEX_TABLE by index. `None` for other subtypes or a record whose head is cut.
pub fn check_rib(subtype: u16, body: &[u8], peers: &[Option<(IpAddr, u32)>]) -> Option<RibCheck> {
    let add_path = match subtype {
        2..=5 => false,
        8..=11 => true,
        _ => return None,
    };
    let n = usize::from(*body.get(4)?).div_ceil(8);
    let declared = usize::from(read_u16(body, 5 + n)?);
    let mut at = 7 + n;
    let mut entries = Vec::with_capacity(declared);
    for _ in 0..declared {
        // A record ending before its declared count is cut, not unreadable (fuzzing found a
        // count of 279 over 23 entries read with exit 0 when this returned None).
        let Some(index) = read_u16(body, at).map(usize::from) else {
            break;
        };
        at += 6 + if add_path { 4 } else { 0 };
        let Some(attrs) =
            read_u16(body, at).and_then(|len| body.get(at + 2..at + 2 + usize::from(len)))
        else {
            break;
        };
        at += 2 + attrs.len();
        entries.push(if peers.get(index).is_none_or(Option::is_none) {
            Err(RIB_UNKNOWN_PEER)
        } else if Attributes(attrs).any(|a| a.is_none()) {
            Err(RIB_BAD_ATTRIBUTES)
        } else {
            Ok(())
        });
    }
    Some(RibCheck { declared, entries })
}

impl RibCheck {
    /// Keep the entries bgpkit-parser read that can be trusted; the reasons for the others.
    pub fn apply(&self, parsed: &mut Vec<RibEntry>) -> Vec<&'static str> {
        let mut problems = Vec::new();
        if parsed.len() < self.declared {
            problems.push(RIB_CUT_ENTRY);
        }
        let mut verdicts = self.entries.iter();
        parsed.retain(|_| match verdicts.next() {
            Some(Ok(())) => true,
            Some(Err(reason)) => {
                problems.push(reason);
                false
            }
            // bgpkit-parser read an entry we could not frame: it cannot be trusted either.
            None => false,
        });
        problems.sort_unstable();
        problems.dedup();
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BGP4MP_MESSAGE_AS4 body (IPv4 peer) holding `update` (the part after the header).
    fn body(update: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 0xfc, 0x9b, 0, 0, 0x19, 0x2f, 0, 0, 0, 1];
        b.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        b.extend_from_slice(&[0xff; 16]);
        b.extend_from_slice(&((19 + update.len()) as u16).to_be_bytes());
        b.push(2);
        b.extend_from_slice(update);
        b
    }

    fn texts(p: &[NetworkPrefix]) -> Vec<String> {
        p.iter().map(|p| p.prefix.to_string()).collect()
    }

    /// 0.0.0.0/0 then six /24s, as written by a plain session.
    const DEFAULT_FIRST: [u8; 25] = [
        0, 24, 10, 0, 29, 24, 10, 0, 79, 24, 10, 0, 179, 24, 10, 0, 0, 24, 10, 0, 1, 24, 10, 0, 2,
    ];

    #[test]
    fn a_default_route_first_is_read_plainly() {
        let mut u = vec![0, DEFAULT_FIRST.len() as u8];
        u.extend_from_slice(&DEFAULT_FIRST);
        u.extend_from_slice(&[0, 0]);
        let r = read_update(4, &body(&u)).expect("a plain UPDATE");
        assert_eq!(
            texts(&r.withdrawn),
            [
                "0.0.0.0/0",
                "10.0.29.0/24",
                "10.0.79.0/24",
                "10.0.179.0/24",
                "10.0.0.0/24",
                "10.0.1.0/24",
                "10.0.2.0/24"
            ]
        );
        assert!(r.problems.is_empty());
    }

    #[test]
    fn add_path_ids_in_a_plain_subtype_are_read_when_nothing_else_fits() {
        // BIRD: path id 1 then 172.17.0.0/24, twice.
        let f = [0, 0, 0, 1, 24, 172, 17, 0, 0, 0, 0, 1, 24, 172, 17, 1];
        let (p, complete) = read_prefixes(&f, Afi::Ipv4);
        assert!(complete);
        assert_eq!(texts(&p), ["172.17.0.0/24", "172.17.1.0/24"]);
        assert_eq!(p[0].path_id, Some(1));
    }

    #[test]
    fn a_bad_prefix_keeps_those_before_it_and_is_named() {
        // MP_UNREACH_NLRI IPv6: 2001:db8::/32, then a length of 129.
        let attr = [
            0x80, 15, 11, 0, 2, 1, 32, 0x20, 0x01, 0x0d, 0xb8, 129, 0x20, 0x01,
        ];
        let mut u = vec![0, 0, 0, attr.len() as u8];
        u.extend_from_slice(&attr);
        let r = read_update(4, &body(&u)).expect("a plain UPDATE");
        let Mp::Ours(n) = &r.mp_unreach else {
            panic!("read by us: {:?}", r.mp_unreach)
        };
        assert_eq!(texts(&n.prefixes), ["2001:db8::/32"]);
        assert_eq!(r.problems, [BAD_MP_UNREACH]);
    }

    #[test]
    fn an_attribute_overrunning_its_block_drops_the_announcements() {
        // ORIGIN, then AS_PATH declaring 255 bytes; NLRI 192.0.2.0/24; withdraws 10.0.0.0/8.
        let attrs = [0x40, 1, 1, 0, 0x40, 2, 255, 2, 1, 0, 0, 0xfc, 0x9b];
        let mut u = vec![0, 2, 8, 10, 0, attrs.len() as u8];
        u.extend_from_slice(&attrs);
        u.extend_from_slice(&[24, 192, 0, 2]);
        let r = read_update(4, &body(&u)).expect("a plain UPDATE");
        assert_eq!(r.problems, [BAD_ATTRIBUTES]);
        let mut msg = BgpUpdateMessage::default();
        r.apply(&mut msg);
        assert!(msg.announced_prefixes.is_empty());
        assert_eq!(texts(&msg.withdrawn_prefixes), ["10.0.0.0/8"]);
    }

    #[test]
    fn a_next_hop_of_an_impossible_length_drops_the_announcements() {
        // MP_REACH_NLRI IPv6 unicast: next hop 2001:db8::1 (16 bytes), reserved 0, 2001::/16
        // and 2002::/16; then the same with the next-hop length damaged to 17, which shifted
        // reads as the one prefix 110:2002::/32.
        let mut attr = vec![0x80, 14, 27, 0, 2, 1, 16, 0x20, 0x01, 0x0d, 0xb8];
        attr.extend_from_slice(&[0; 11]);
        attr.extend_from_slice(&[1, 0, 16, 0x20, 0x01, 16, 0x20, 0x02]);
        let update = |attr: &[u8]| {
            let mut u = vec![0, 0, 0, attr.len() as u8];
            u.extend_from_slice(attr);
            let mut msg = BgpUpdateMessage::default();
            let r = read_update(4, &body(&u)).expect("a plain UPDATE");
            let problems = r.problems.clone();
            r.apply(&mut msg);
            let reach = msg
                .attributes
                .get_reachable_nlri()
                .map(|n| texts(&n.prefixes));
            (problems, reach)
        };
        let both = vec!["2001::/16".to_string(), "2002::/16".to_string()];
        assert_eq!(update(&attr), (vec![], Some(both)));
        attr[6] = 17;
        assert_eq!(update(&attr), (vec![BAD_NEXT_HOP], None));
    }

    #[test]
    fn a_bad_length_never_turns_a_field_into_add_path() {
        // Six /24s whose first length byte was damaged to 79: read as ADD-PATH, the bytes
        // could give plausible but wrong prefixes.
        let mut f = DEFAULT_FIRST[1..].to_vec();
        f[0] = 79;
        let (p, complete) = read_prefixes(&f, Afi::Ipv4);
        assert!(!complete);
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn a_marker_not_all_ones_is_broken() {
        let mut b = body(&[0, 0, 0, 0]);
        assert!(!marker_broken(4, &b));
        b[20] = 0xfe; // the marker's first byte (after 4+4+2+2+4+4)
        assert!(marker_broken(4, &b));
        assert!(!marker_broken(5, &b), "a state change has no marker");
    }

    #[test]
    fn add_path_subtypes_are_left_alone() {
        assert!(read_update(9, &body(&[0, 0, 0, 0])).is_none());
    }

    /// A RIB_IPV4_UNICAST body for 192.0.2.0/24 with entries (peer index, attributes).
    fn rib(entries: &[(u16, &[u8])]) -> Vec<u8> {
        let mut b = vec![0, 0, 0, 1, 24, 192, 0, 2];
        b.extend_from_slice(&(entries.len() as u16).to_be_bytes());
        for (peer, attrs) in entries {
            b.extend_from_slice(&peer.to_be_bytes());
            b.extend_from_slice(&[0, 0, 0, 0]);
            b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
            b.extend_from_slice(attrs);
        }
        b
    }

    fn entry(peer: u16) -> RibEntry {
        RibEntry {
            peer_index: peer,
            originated_time: 0,
            path_id: None,
            attributes: Default::default(),
        }
    }

    #[test]
    fn rib_entries_of_unknown_peers_are_skipped_alone() {
        let peers = vec![Some((IpAddr::V4(Ipv4Addr::LOCALHOST), 1)); 2];
        let origin: &[u8] = &[0x40, 1, 1, 0];
        let body = rib(&[(0, origin), (7, origin), (1, origin)]);
        let check = check_rib(2, &body, &peers).expect("a RIB record");
        let mut parsed = vec![entry(0), entry(7), entry(1)];
        assert_eq!(check.apply(&mut parsed), [RIB_UNKNOWN_PEER]);
        let left: Vec<u16> = parsed.iter().map(|e| e.peer_index).collect();
        assert_eq!(left, [0, 1]);
    }

    #[test]
    fn a_rib_entry_past_the_record_end_is_counted() {
        let peers = vec![Some((IpAddr::V4(Ipv4Addr::LOCALHOST), 1))];
        let origin: &[u8] = &[0x40, 1, 1, 0];
        let mut body = rib(&[(0, origin), (0, origin), (0, origin)]);
        // The second entry's attribute length: 0xFFFF.
        body[22 + 6..22 + 8].copy_from_slice(&[0xff, 0xff]);
        let check = check_rib(2, &body, &peers).expect("a RIB record");
        let mut parsed = vec![entry(0)];
        assert_eq!(check.apply(&mut parsed), [RIB_CUT_ENTRY]);
        assert_eq!(parsed.len(), 1);
    }

    #[test]
    fn a_record_ending_before_its_declared_entries_is_counted() {
        let peers = vec![Some((IpAddr::V4(Ipv4Addr::LOCALHOST), 1))];
        let origin: &[u8] = &[0x40, 1, 1, 0];
        let mut body = rib(&[(0, origin), (0, origin)]);
        body[9] = 3; // three entries declared, two written
        let check = check_rib(2, &body, &peers).expect("a RIB record");
        let mut parsed = vec![entry(0), entry(0)];
        assert_eq!(check.apply(&mut parsed), [RIB_CUT_ENTRY]);
        assert_eq!(parsed.len(), 2);
    }
}
