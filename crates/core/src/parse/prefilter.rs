//! A cheap look at a BGP4MP UPDATE before full parsing: who sent it, which prefixes it
//! withdraws and announces, and which AS originates them. A scan watching a handful of
//! prefixes skips full attribute parsing for the other 99.9% of records.
//!
//! Written by hand because it must not allocate per record and must stop at the first
//! thing it is unsure of (then the record is parsed in full, so nothing is lost): no crate
//! offers a zero-copy walk over an UPDATE's prefix fields.

use crate::model::Prefix;
use ipnet::{Ipv4Net, Ipv6Net};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const AS_PATH: u8 = 2;
const MP_REACH: u8 = 14;
const MP_UNREACH: u8 = 15;
const AS4_PATH: u8 = 17;
const AS_SET: u8 = 1;
const AS_CONFED_SEQUENCE: u8 = 3;
const AS_CONFED_SET: u8 = 4;
const AS_TRANS: u32 = 23456;

/// What an UPDATE holds, read without parsing its attributes.
#[derive(Debug, Clone, Copy)]
pub struct UpdateView<'a> {
    pub peer_ip: IpAddr,
    pub peer_asn: u32,
    withdrawn_v4: &'a [u8],
    nlri_v4: &'a [u8],
    mp_unreach: Option<(u16, &'a [u8])>,
    mp_reach: Option<(u16, &'a [u8])>,
    as_path: Option<&'a [u8]>,
    as4_path: Option<&'a [u8]>,
    asn_len: usize,
    pub withdrawals: u32,
    pub announcements: u32,
}

/// Read the UPDATE inside a BGP4MP record body. `None` for anything else (state changes,
/// OPEN/KEEPALIVE, cut or odd records, ADD-PATH, non-unicast): those take the full path.
pub fn view_bgp4mp(subtype: u16, body: &[u8]) -> Option<UpdateView<'_>> {
    let asn_len = match subtype {
        1 | 6 => 2,
        4 | 7 => 4,
        _ => return None,
    };
    let mut at = 0;
    let peer_asn = read_asn(body, &mut at, asn_len)?;
    at += asn_len + 2; // local AS, interface index
    let afi = read_u16(body, at)?;
    at += 2;
    let ip_len = match afi {
        1 => 4,
        2 => 16,
        _ => return None,
    };
    let peer_ip = read_ip(body.get(at..at + ip_len)?)?;
    at += 2 * ip_len;
    view_bgp_message(body.get(at..)?, peer_ip, peer_asn, asn_len)
}

/// Read a whole BGP message (header included) that must be an UPDATE, as BMP's Route
/// Monitoring carries it. `None` as for [`view_bgp4mp`].
pub fn view_bgp_message(
    bgp: &[u8],
    peer_ip: IpAddr,
    peer_asn: u32,
    asn_len: usize,
) -> Option<UpdateView<'_>> {
    if bgp.len() < 19 || bgp[18] != 2 || usize::from(read_u16(bgp, 16)?) != bgp.len() {
        return None;
    }
    view_update(&bgp[19..], peer_ip, peer_asn, asn_len)
}

fn view_update(u: &[u8], peer_ip: IpAddr, peer_asn: u32, asn_len: usize) -> Option<UpdateView<'_>> {
    let wd_len = usize::from(read_u16(u, 0)?);
    let withdrawn_v4 = u.get(2..2 + wd_len)?;
    let attr_len = usize::from(read_u16(u, 2 + wd_len)?);
    let attrs = u.get(4 + wd_len..4 + wd_len + attr_len)?;
    let nlri_v4 = &u[4 + wd_len + attr_len..];
    let mut view = UpdateView {
        peer_ip,
        peer_asn,
        withdrawn_v4,
        nlri_v4,
        mp_unreach: None,
        mp_reach: None,
        as_path: None,
        as4_path: None,
        asn_len,
        withdrawals: count_prefixes(withdrawn_v4, 32)?,
        announcements: count_prefixes(nlri_v4, 32)?,
    };
    for attr in Attributes(attrs) {
        let (code, value) = attr?;
        match code {
            AS_PATH => view.as_path = Some(value),
            AS4_PATH => view.as4_path = Some(value),
            MP_REACH => {
                let (afi, nlri) = mp_reach_nlri(value)?;
                view.announcements += count_prefixes(nlri, max_bits(afi)?)?;
                view.mp_reach = Some((afi, nlri));
            }
            MP_UNREACH => {
                let afi = read_u16(value, 0)?;
                if *value.get(2)? != 1 {
                    return None;
                }
                let nlri = &value[3..];
                view.withdrawals += count_prefixes(nlri, max_bits(afi)?)?;
                view.mp_unreach = Some((afi, nlri));
            }
            _ => {}
        }
    }
    Some(view)
}

/// The path attributes of a block as (type code, value); `Some(None)` marks a malformed one
/// (then the walk stops).
pub(super) struct Attributes<'a>(pub(super) &'a [u8]);

impl<'a> Iterator for Attributes<'a> {
    type Item = Option<(u8, &'a [u8])>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let attr = (|| {
            let (flags, code) = (*self.0.first()?, *self.0.get(1)?);
            let (len, hdr) = if flags & 0x10 != 0 {
                (usize::from(read_u16(self.0, 2)?), 4)
            } else {
                (usize::from(*self.0.get(2)?), 3)
            };
            let value = self.0.get(hdr..hdr + len)?;
            Some((code, value, hdr + len))
        })();
        match attr {
            Some((code, value, used)) => {
                self.0 = &self.0[used..];
                Some(Some((code, value)))
            }
            None => {
                self.0 = &[];
                Some(None)
            }
        }
    }
}

/// AFI and NLRI of an MP_REACH_NLRI value (unicast only).
fn mp_reach_nlri(v: &[u8]) -> Option<(u16, &[u8])> {
    let afi = read_u16(v, 0)?;
    if *v.get(2)? != 1 {
        return None;
    }
    let nh_len = usize::from(*v.get(3)?);
    let nlri = v.get(4 + nh_len + 1..)?;
    Some((afi, nlri))
}

fn max_bits(afi: u16) -> Option<u8> {
    match afi {
        1 => Some(32),
        2 => Some(128),
        _ => None,
    }
}

impl<'a> UpdateView<'a> {
    /// Every prefix the UPDATE withdraws or announces, in wire order.
    pub fn prefixes(&self) -> impl Iterator<Item = Prefix> + '_ {
        self.nlri().filter_map(|n| n.to_prefix())
    }

    /// The same prefixes as they sit in the message, not yet made into [`Prefix`] values: a
    /// caller can rule most of them out from their first bytes.
    pub fn nlri(&self) -> impl Iterator<Item = Nlri<'_>> + '_ {
        let mp = |field: Option<(u16, &'a [u8])>| {
            field
                .map(|(afi, n)| Prefixes::new(n, afi))
                .into_iter()
                .flatten()
        };
        Prefixes::new(self.withdrawn_v4, 1)
            .chain(mp(self.mp_unreach))
            .chain(Prefixes::new(self.nlri_v4, 1))
            .chain(mp(self.mp_reach))
    }

    /// The prefixes it announces, IPv4 then IPv6 (a BMP station counts a router's initial
    /// table from them without parsing it).
    pub fn announced_by_family(&self) -> (u64, u64) {
        let mut by = [Prefixes::new(self.nlri_v4, 1).count() as u64, 0];
        if let Some((afi, n)) = self.mp_reach {
            let count = Prefixes::new(n, afi).count() as u64;
            by[usize::from(afi == 2)] += count;
        }
        (by[0], by[1])
    }

    /// Does any AS that may originate the announced routes satisfy `f`? Looks at the end
    /// of AS_PATH and of AS4_PATH (which holds the real origin behind an AS_TRANS).
    pub fn any_origin(&self, f: &mut dyn FnMut(u32) -> bool) -> bool {
        if self.announcements == 0 {
            return false;
        }
        let from_path = self
            .as_path
            .is_some_and(|p| last_segment_any(p, self.asn_len, f));
        from_path || self.as4_path.is_some_and(|p| last_segment_any(p, 4, f))
    }

    /// True when no path attribute names the origin the usual way (empty or malformed path,
    /// AS_TRANS without AS4_PATH): the caller should parse in full to be sure.
    pub fn origin_unclear(&self) -> bool {
        if self.announcements == 0 {
            return false;
        }
        match self.as_path {
            None => true,
            Some(p) => {
                let trans = last_segment_any(p, self.asn_len, &mut |a| a == AS_TRANS);
                p.is_empty() || (trans && self.as4_path.is_none())
            }
        }
    }
}

/// Apply `f` to the origin candidates of a path: the last AS of a final AS_SEQUENCE, or every
/// member of a final AS_SET; confederation segments name no origin (as `AsPath::origin`).
/// Returns whether `f` returned true for any, and true for a path it cannot read (a segment
/// of unknown type or running past the end): the caller then parses in full and names the
/// damage, rather than skipping a route whose origin is unknown.
fn last_segment_any(path: &[u8], asn_len: usize, f: &mut dyn FnMut(u32) -> bool) -> bool {
    let mut at = 0;
    let mut last: Option<(u8, &[u8])> = None;
    while at < path.len() {
        let (Some(&kind), Some(&n)) = (path.get(at), path.get(at + 1)) else {
            return true;
        };
        let n = usize::from(n);
        let Some(asns) = path.get(at + 2..at + 2 + n * asn_len) else {
            return true;
        };
        if !(AS_SET..=AS_CONFED_SET).contains(&kind) {
            return true;
        }
        if n > 0 && kind != AS_CONFED_SEQUENCE && kind != AS_CONFED_SET {
            last = Some((kind, asns));
        }
        at += 2 + n * asn_len;
    }
    let Some((kind, asns)) = last else {
        return false;
    };
    let asn_at = |i: usize| -> u32 {
        let b = &asns[i * asn_len..(i + 1) * asn_len];
        b.iter().fold(0u32, |acc, x| (acc << 8) | u32::from(*x))
    };
    let n = asns.len() / asn_len;
    if kind == AS_SET {
        (0..n).any(|i| f(asn_at(i)))
    } else {
        f(asn_at(n - 1))
    }
}

/// Count prefixes in an NLRI field; `None` if it does not end exactly at the field's end.
fn count_prefixes(data: &[u8], max_bits: u8) -> Option<u32> {
    let mut at = 0;
    let mut n = 0;
    while at < data.len() {
        let bits = data[at];
        if bits > max_bits {
            return None;
        }
        at += 1 + usize::from(bits).div_ceil(8);
        n += 1;
    }
    (at == data.len()).then_some(n)
}

/// One prefix of an NLRI field: address family (1 IPv4, 2 IPv6), length in bits, and the
/// `ceil(bits / 8)` bytes that hold it.
#[derive(Debug, Clone, Copy)]
pub struct Nlri<'a> {
    pub afi: u16,
    pub bits: u8,
    pub bytes: &'a [u8],
}

impl Nlri<'_> {
    pub fn to_prefix(&self) -> Option<Prefix> {
        let n = self.bytes.len();
        Some(match self.afi {
            1 => {
                let mut a = [0u8; 4];
                a.get_mut(..n)?.copy_from_slice(self.bytes);
                Prefix::V4(Ipv4Net::new(Ipv4Addr::from(a), self.bits).ok()?.trunc())
            }
            _ => {
                let mut a = [0u8; 16];
                a.get_mut(..n)?.copy_from_slice(self.bytes);
                Prefix::V6(Ipv6Net::new(Ipv6Addr::from(a), self.bits).ok()?.trunc())
            }
        })
    }
}

struct Prefixes<'a> {
    data: &'a [u8],
    at: usize,
    afi: u16,
}

impl<'a> Prefixes<'a> {
    fn new(data: &'a [u8], afi: u16) -> Self {
        Prefixes { data, at: 0, afi }
    }
}

impl<'a> Iterator for Prefixes<'a> {
    type Item = Nlri<'a>;
    fn next(&mut self) -> Option<Nlri<'a>> {
        let bits = *self.data.get(self.at)?;
        let n = usize::from(bits).div_ceil(8);
        let bytes = self.data.get(self.at + 1..self.at + 1 + n)?;
        self.at += 1 + n;
        Some(Nlri {
            afi: self.afi,
            bits,
            bytes,
        })
    }
}

pub(super) fn read_u16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

fn read_asn(d: &[u8], at: &mut usize, len: usize) -> Option<u32> {
    let b = d.get(*at..*at + len)?;
    *at += len;
    Some(b.iter().fold(0u32, |acc, x| (acc << 8) | u32::from(*x)))
}

fn read_ip(b: &[u8]) -> Option<IpAddr> {
    Some(match b.len() {
        4 => IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            IpAddr::V6(Ipv6Addr::from(a))
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BGP4MP_MESSAGE (AS2, IPv4) from 10.0.0.1 AS1 holding `update`.
    fn record(update: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 1, 0, 2, 0, 0, 0, 1, 10, 0, 0, 1, 10, 0, 0, 2];
        b.extend_from_slice(&[0xff; 16]);
        b.extend_from_slice(&((19 + update.len()) as u16).to_be_bytes());
        b.push(2);
        b.extend_from_slice(update);
        b
    }

    #[test]
    fn reads_prefixes_and_origin_without_full_parsing() {
        // Withdraw 10.0.0.0/8; announce 192.0.2.0/24 with AS_PATH [1 3549 26780].
        let attrs = [0x40, 2, 8, 2, 3, 0, 1, 0x0d, 0xdd, 0x68, 0x9c];
        let mut u = vec![0, 2, 8, 10, 0, attrs.len() as u8];
        u.extend_from_slice(&attrs);
        u.extend_from_slice(&[24, 192, 0, 2]);
        let body = record(&u);
        let v = view_bgp4mp(1, &body).expect("an UPDATE");
        assert_eq!(
            (v.peer_asn, v.peer_ip.to_string()),
            (1, "10.0.0.1".to_string())
        );
        assert_eq!((v.withdrawals, v.announcements), (1, 1));
        let p: Vec<String> = v.prefixes().map(|p| p.to_string()).collect();
        assert_eq!(p, ["10.0.0.0/8", "192.0.2.0/24"]);
        assert!(v.any_origin(&mut |a| a == 26780));
        assert!(!v.any_origin(&mut |a| a == 3549));
        assert!(!v.origin_unclear());
    }

    /// A path ending in a confederation segment: the origin is the AS before it (as
    /// `AsPath::origin` says), or the prefilter would skip the route the full parse keeps.
    #[test]
    fn a_final_confederation_segment_names_no_origin() {
        // AS_PATH [3549 26780] then AS_CONFED_SEQUENCE (64512), AS_CONFED_SET {64513}.
        let attrs = [
            0x40, 2, 14, 2, 2, 0x0d, 0xdd, 0x68, 0x9c, 3, 1, 0xfc, 0x00, 4, 1, 0xfc, 0x01,
        ];
        let mut u = vec![0, 0, 0, attrs.len() as u8];
        u.extend_from_slice(&attrs);
        u.extend_from_slice(&[24, 192, 0, 2]);
        let body = record(&u);
        let v = view_bgp4mp(1, &body).expect("an UPDATE");
        assert!(v.any_origin(&mut |a| a == 26780));
        assert!(!v.any_origin(&mut |a| a == 64512 || a == 64513));
    }

    /// Found by tests/fuzz.rs: a segment of unknown type was read as a sequence, so `scan`
    /// skipped a RIB entry whose path `dump` (parsing in full) reports as unreadable.
    #[test]
    fn a_path_it_cannot_read_is_left_to_the_full_parse() {
        let unknown_type = [127, 2, 0x0d, 0xdd, 0x68, 0x9c];
        assert!(last_segment_any(&unknown_type, 2, &mut |_| false));
        let past_the_end = [2, 3, 0x0d, 0xdd, 0x68, 0x9c];
        assert!(last_segment_any(&past_the_end, 2, &mut |_| false));
        let stray_byte = [2, 1, 0x0d, 0xdd, 2];
        assert!(last_segment_any(&stray_byte, 2, &mut |_| false));
        let fine = [2, 2, 0x0d, 0xdd, 0x68, 0x9c];
        assert!(!last_segment_any(&fine, 2, &mut |_| false));
    }

    #[test]
    fn anything_odd_takes_the_full_path() {
        // NLRI whose last prefix runs past the end.
        let body = record(&[0, 0, 0, 0, 24, 192, 0]);
        assert!(view_bgp4mp(1, &body).is_none());
        // A cut record (declared length longer than the bytes).
        let mut body = record(&[0, 0, 0, 0]);
        body[33] = 200;
        assert!(view_bgp4mp(1, &body).is_none());
        // ADD-PATH subtypes are left to the full parser.
        assert!(view_bgp4mp(9, &record(&[0, 0, 0, 0])).is_none());
    }
}

/// One route of a RIB record, read without parsing its attributes.
#[derive(Debug, Clone, Copy)]
pub struct RibEntryView<'a> {
    pub peer_ip: IpAddr,
    pub peer_asn: u32,
    as_path: Option<&'a [u8]>,
    as4_path: Option<&'a [u8]>,
}

/// A RIB record: one prefix and the routes of each peer to it.
#[derive(Debug, Clone)]
pub struct RibView<'a> {
    pub prefix: Prefix,
    pub entries: Vec<RibEntryView<'a>>,
    asn_len: usize,
}

impl RibView<'_> {
    /// Does an AS that may originate any of the routes satisfy `f`?
    pub fn any_origin(&self, f: &mut dyn FnMut(u32) -> bool) -> bool {
        self.entries.iter().any(|e| {
            e.as_path
                .is_some_and(|p| last_segment_any(p, self.asn_len, f))
                || e.as4_path.is_some_and(|p| last_segment_any(p, 4, f))
        })
    }
}

/// A TABLE_DUMP (v1) record holding exactly one entry; `None` for anything else.
pub fn view_table_dump(subtype: u16, body: &[u8]) -> Option<RibView<'_>> {
    let (ip_len, afi) = match subtype {
        1 => (4, 1),
        2 => (16, 2),
        _ => return None,
    };
    let mut at = 4; // view, sequence
    let prefix_ip = body.get(at..at + ip_len)?;
    at += ip_len;
    let bits = *body.get(at)?;
    at += 2 + 4; // length, status, originated
    let peer_ip = read_ip(body.get(at..at + ip_len)?)?;
    at += ip_len;
    let peer_asn = u32::from(read_u16(body, at)?);
    let attr_len = usize::from(read_u16(body, at + 2)?);
    let attrs = body.get(at + 4..at + 4 + attr_len)?;
    if at + 4 + attr_len != body.len() {
        return None;
    }
    let prefix = prefix_from(prefix_ip, bits, afi)?;
    let (as_path, as4_path) = paths(attrs)?;
    Some(RibView {
        prefix,
        entries: vec![RibEntryView {
            peer_ip,
            peer_asn,
            as_path,
            as4_path,
        }],
        asn_len: 2,
    })
}

/// A TABLE_DUMP_V2 RIB_IPV4/IPV6_UNICAST record (ADD-PATH too); peers from `peers`, the
/// record's PEER_INDEX_TABLE by index. `None` for anything else.
pub fn view_table_dump_v2<'a>(
    subtype: u16,
    body: &'a [u8],
    peers: &[Option<(IpAddr, u32)>],
) -> Option<RibView<'a>> {
    let (afi, add_path) = match subtype {
        2 => (1, false),
        4 => (2, false),
        8 => (1, true),
        10 => (2, true),
        _ => return None,
    };
    let bits = *body.get(4)?;
    let n = usize::from(bits).div_ceil(8);
    let prefix_bytes = body.get(5..5 + n)?;
    let prefix = prefix_from(prefix_bytes, bits, afi)?;
    let count = usize::from(read_u16(body, 5 + n)?);
    let mut at = 7 + n;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let index = usize::from(read_u16(body, at)?);
        at += 6 + if add_path { 4 } else { 0 };
        let attr_len = usize::from(read_u16(body, at)?);
        let attrs = body.get(at + 2..at + 2 + attr_len)?;
        at += 2 + attr_len;
        let (peer_ip, peer_asn) = (*peers.get(index)?)?;
        let (as_path, as4_path) = paths(attrs)?;
        entries.push(RibEntryView {
            peer_ip,
            peer_asn,
            as_path,
            as4_path,
        });
    }
    (at == body.len()).then_some(RibView {
        prefix,
        entries,
        asn_len: 4,
    })
}

/// The AS_PATH and AS4_PATH values of an attribute block, if present.
type Paths<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// AS_PATH and AS4_PATH values of an attribute block.
fn paths(attrs: &[u8]) -> Option<Paths<'_>> {
    let (mut as_path, mut as4_path) = (None, None);
    for attr in Attributes(attrs) {
        match attr? {
            (AS_PATH, value) => as_path = Some(value),
            (AS4_PATH, value) => as4_path = Some(value),
            _ => {}
        }
    }
    Some((as_path, as4_path))
}

fn prefix_from(bytes: &[u8], bits: u8, afi: u16) -> Option<Prefix> {
    let n = usize::from(bits).div_ceil(8).min(bytes.len());
    match afi {
        1 => {
            let mut a = [0u8; 4];
            a[..n.min(4)].copy_from_slice(&bytes[..n.min(4)]);
            Some(Prefix::V4(
                Ipv4Net::new(Ipv4Addr::from(a), bits).ok()?.trunc(),
            ))
        }
        _ => {
            let mut a = [0u8; 16];
            a[..n.min(16)].copy_from_slice(&bytes[..n.min(16)]);
            Some(Prefix::V6(
                Ipv6Net::new(Ipv6Addr::from(a), bits).ok()?.trunc(),
            ))
        }
    }
}
