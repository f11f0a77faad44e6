//! BMP (RFC 7854, RFC 9069 Loc-RIB) messages as the station needs them: who the router is,
//! which of its peers are up, and the routes of each peer, as the same [`RouteElem`]s MRT
//! files give. Decoding is bgpkit-parser's (`parse_bmp_msg`); this module adds what it leaves
//! to its caller: framing on a byte stream, the choice of routes that count (pre-policy
//! Adj-RIB-In, or Loc-RIB), and ADD-PATH, which bgpkit-parser parses without the session's
//! capabilities (its issue 202) and which a session that negotiated it is refused for.
//!
//! Times are the station's receipt time, never the per-peer header's: FRR stamps a changed
//! path with the time it first learned the prefix and its Peer Up/Down with time since boot
//! (README, Live sources), so one clock is used for every router.

use super::{MrtKind, RouteElem, convert_elem};
use crate::model::Timestamp;
use bgpkit_parser::models::capabilities::BgpCapabilityType;
use bgpkit_parser::models::{Asn, BgpMessage, BgpOpenMessage, ParamValue};
use bgpkit_parser::parser::bmp::messages::{
    BmpMessageBody, BmpPeerType, BmpPerPeerHeader, InitiationTlvType, PerPeerFlags,
};
use bytes::Bytes;
use std::net::{IpAddr, Ipv4Addr};

/// The common header: version (1 byte), message length (4), type (1).
pub const COMMON_HEADER_LEN: usize = 6;
/// Messages above this are refused as corrupt: a BMP message carries one BGP message (at most
/// 64 KiB with extended messages) and a few headers and TLVs.
pub const MAX_MESSAGE_LEN: usize = 1 << 20;

/// The length of the whole message that starts with `header`, or why the stream is not BMP.
pub fn message_len(header: &[u8; COMMON_HEADER_LEN]) -> Result<usize, String> {
    if header[0] != 3 {
        return Err(format!(
            "BMP version {} (only version 3, RFC 7854, is read)",
            header[0]
        ));
    }
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if !(COMMON_HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len) {
        return Err(format!("BMP message length {len} is not plausible"));
    }
    Ok(len)
}

/// One monitored session of a router: the peer as the per-peer header names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BmpPeer {
    pub ip: IpAddr,
    pub asn: u32,
    pub bgp_id: Ipv4Addr,
    pub distinguisher: u64,
}

/// What one BMP message means to the station.
#[derive(Debug)]
pub enum BmpEvent {
    /// The router says who it is (sysName, sysDescr), first on every connection.
    Initiation {
        sys_name: Option<String>,
        sys_descr: Option<String>,
    },
    /// A session came up; `add_path` when both OPENs offered ADD-PATH (its routes cannot be
    /// read right and are refused). `router_id` is the BGP ID the router sent.
    PeerUp {
        peer: BmpPeer,
        router_id: Ipv4Addr,
        add_path: bool,
    },
    PeerDown {
        peer: BmpPeer,
    },
    /// Routes of one UPDATE (announcements and withdrawals), or its End-of-RIB marker.
    /// `viewed`: `wanted` saw the UPDATE first (so whatever it counts is counted).
    Routes {
        peer: BmpPeer,
        routes: Vec<RouteElem>,
        end_of_rib: bool,
        viewed: bool,
    },
    /// Only the UPDATE's counts were wanted (see [`decode`]'s `wanted`).
    Counted {
        peer: BmpPeer,
        messages: u32,
        withdrawals: u32,
    },
    /// The router closes the session.
    Termination,
    /// Read and not used: statistics, route mirroring, post-policy or Adj-RIB-Out routes.
    Ignored(&'static str),
}

/// Decode one whole message (common header included), received at `now`. `wanted` is asked
/// with a cheap view of each Route Monitoring UPDATE (as the MRT path's prefilter) and
/// returns false for one that only needs counting: then it is not parsed.
pub fn decode(
    msg: Bytes,
    now: Timestamp,
    wanted: &mut dyn FnMut(&super::prefilter::UpdateView<'_>) -> bool,
) -> Result<BmpEvent, String> {
    let viewed = match counted_only(&msg, wanted) {
        Prefiltered::Counted(event) => return Ok(event),
        Prefiltered::Wanted => true,
        Prefiltered::NotViewed => false,
    };
    let mut data = msg;
    let m = bgpkit_parser::parser::bmp::parse_bmp_msg(&mut data)
        .map_err(|e| format!("BMP message not read: {e}"))?;
    let peer = m.per_peer_header.as_ref().map(peer_of);
    Ok(match (m.message_body, peer) {
        (BmpMessageBody::InitiationMessage(i), _) => {
            let tlv = |t: InitiationTlvType| {
                i.tlvs
                    .iter()
                    .find(|x| x.info_type == t)
                    .map(|x| x.info.clone())
            };
            BmpEvent::Initiation {
                sys_name: tlv(InitiationTlvType::SysName),
                sys_descr: tlv(InitiationTlvType::SysDescr),
            }
        }
        (BmpMessageBody::PeerUpNotification(up), Some(peer)) => {
            let (sent, received) = (open_of(&up.sent_open), open_of(&up.received_open));
            BmpEvent::PeerUp {
                peer,
                router_id: sent.map_or(Ipv4Addr::UNSPECIFIED, |o| o.bgp_identifier),
                add_path: sent.is_some_and(offers_add_path)
                    && received.is_some_and(offers_add_path),
            }
        }
        (BmpMessageBody::PeerDownNotification(_), Some(peer)) => BmpEvent::PeerDown { peer },
        (BmpMessageBody::RouteMonitoring(rm), Some(peer)) => {
            let header = m.per_peer_header.unwrap_or_default();
            if let Some(why) = not_counted(&header) {
                return Ok(BmpEvent::Ignored(why));
            }
            let BgpMessage::Update(update) = rm.bgp_message else {
                return Ok(BmpEvent::Ignored(
                    "a Route Monitoring message without an UPDATE",
                ));
            };
            let end_of_rib = update.is_end_of_rib();
            let secs = now.secs as f64 + f64::from(now.micros) / 1e6;
            let routes = bgpkit_parser::Elementor::bgp_update_to_elems(
                update,
                secs,
                &peer.ip,
                &Asn::from(peer.asn),
            )
            .into_iter()
            .map(|e| convert_elem(e, now, MrtKind::Bgp4mp, false, false))
            .collect();
            BmpEvent::Routes {
                peer,
                routes,
                end_of_rib,
                viewed,
            }
        }
        (BmpMessageBody::TerminationMessage(_), _) => BmpEvent::Termination,
        (BmpMessageBody::StatsReport(_), _) => BmpEvent::Ignored("a statistics report"),
        (BmpMessageBody::RouteMirroring(_), _) => BmpEvent::Ignored("a route mirroring message"),
        (_, None) => return Err("BMP message without its per-peer header".into()),
    })
}

/// What the prefilter made of a message.
enum Prefiltered {
    /// Not a Route Monitoring UPDATE it can read (then it is parsed in full).
    NotViewed,
    Wanted,
    /// Turned down by `wanted`: read only as far as its counts.
    Counted(BmpEvent),
}

fn counted_only(
    msg: &[u8],
    wanted: &mut dyn FnMut(&super::prefilter::UpdateView<'_>) -> bool,
) -> Prefiltered {
    view_and_count(msg, wanted).unwrap_or(Prefiltered::NotViewed)
}

fn view_and_count(
    msg: &[u8],
    wanted: &mut dyn FnMut(&super::prefilter::UpdateView<'_>) -> bool,
) -> Option<Prefiltered> {
    const PER_PEER_LEN: usize = 42;
    const ROUTE_MONITORING: u8 = 0;
    if msg.get(5) != Some(&ROUTE_MONITORING) {
        return Some(Prefiltered::NotViewed);
    }
    let pp = msg.get(COMMON_HEADER_LEN..COMMON_HEADER_LEN + PER_PEER_LEN)?;
    let (peer_type, flags) = (pp[0], pp[1]);
    let loc_rib = peer_type == BmpPeerType::LocalRib as u8;
    // Post-policy or Adj-RIB-Out routes are ignored whole by `decode`; leave them to it.
    if (!loc_rib && flags & 0b0101_0000 != 0) || peer_type > 3 {
        return Some(Prefiltered::NotViewed);
    }
    let v6 = !loc_rib && flags & 0b1000_0000 != 0;
    let asn_len = if !loc_rib && flags & 0b0010_0000 != 0 {
        2
    } else {
        4
    };
    let ip = if v6 {
        IpAddr::from(<[u8; 16]>::try_from(&pp[10..26]).ok()?)
    } else {
        IpAddr::from(<[u8; 4]>::try_from(&pp[22..26]).ok()?)
    };
    let asn = u32::from_be_bytes(pp[26..30].try_into().ok()?);
    let view = super::prefilter::view_bgp_message(
        &msg[COMMON_HEADER_LEN + PER_PEER_LEN..],
        ip,
        asn,
        asn_len,
    )?;
    // An End-of-RIB marker (an UPDATE with nothing in it) ends a session's initial table:
    // it is parsed to be recognised, never counted away.
    if view.withdrawals + view.announcements == 0 {
        return Some(Prefiltered::NotViewed);
    }
    if wanted(&view) {
        return Some(Prefiltered::Wanted);
    }
    let bgp_id = Ipv4Addr::from(<[u8; 4]>::try_from(&pp[30..34]).ok()?);
    let distinguisher = u64::from_be_bytes(pp[2..10].try_into().ok()?);
    Some(Prefiltered::Counted(BmpEvent::Counted {
        peer: BmpPeer {
            ip,
            asn,
            bgp_id,
            distinguisher,
        },
        messages: view.withdrawals + view.announcements,
        withdrawals: view.withdrawals,
    }))
}

fn peer_of(h: &BmpPerPeerHeader) -> BmpPeer {
    BmpPeer {
        ip: h.peer_ip,
        asn: u32::from(h.peer_asn),
        bgp_id: h.peer_bgp_id,
        distinguisher: h.peer_distinguisher,
    }
}

/// Why the routes of a Route Monitoring message do not count, if they do not: the verdict
/// is about what peers send (pre-policy Adj-RIB-In) or what the router chose (Loc-RIB).
fn not_counted(h: &BmpPerPeerHeader) -> Option<&'static str> {
    match (h.peer_type, h.peer_flags) {
        (BmpPeerType::LocalRib, _) => None,
        (_, PerPeerFlags::PeerFlags(f)) if f.is_adj_rib_out() => Some("Adj-RIB-Out routes"),
        (_, PerPeerFlags::PeerFlags(f)) if f.is_post_policy() => Some("post-policy routes"),
        _ => None,
    }
}

fn open_of(m: &BgpMessage) -> Option<&BgpOpenMessage> {
    match m {
        BgpMessage::Open(o) => Some(o),
        _ => None,
    }
}

fn offers_add_path(open: &BgpOpenMessage) -> bool {
    open.opt_params.iter().any(|p| match &p.param_value {
        ParamValue::Capacities(caps) => caps
            .iter()
            .any(|c| c.ty == BgpCapabilityType::ADD_PATH_CAPABILITY),
        ParamValue::Raw(_) => false,
    })
}
