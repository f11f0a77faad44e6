//! Live input from one router's BMP session (RFC 7854): its messages become the pipeline's
//! [`Msg`]s as a file's reader makes them (filtered to watched prefixes, counted per peer).
//!
//! - The router is the collector; each monitored peer of it is a session.
//! - The table the router sends on connecting, up to every peer's End-of-RIB (or
//!   [`DUMP_QUIET_SECS`] without a message, or the deadline), is a RIB dump (`RibBegin` …
//!   `RibEnd`, with each session's table size per family). A connection that comes back
//!   replaces what the router said before, and where it disagrees the change is dated with
//!   bounds, as for a RIB read after a hole.
//! - Peer Up and Peer Down after that dump are session state changes; a Peer Down is never a
//!   withdrawal of the routes it takes away.
//! - A router that goes away ([`LiveCollector::disconnected`]) takes its sessions down (their
//!   routes set aside, not withdrawn) and leaves a hole: nothing is concluded from it until it
//!   is back and has sent its table.
//! - Counters go out with each batch of messages and at each new second (the MRT path counts
//!   per minute), stamped with the last message they count: a mass withdrawal is known before
//!   any snapshot judges the routes it took.

use crate::model::{CollectorId, PeerId, Prefix, Timestamp};
use crate::parse::bmp::{BmpEvent, BmpPeer};
use crate::parse::{ESTABLISHED, RouteAttrs, RouteElem, RouteKind};
use crate::state::{Msg, TableSize};
use crate::watch::Watch;
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

/// BGP FSM state 1, for a session that went down.
const IDLE: u16 = 1;

/// The initial table of a connection, until every peer up has sent End-of-RIB, or the
/// router has sent nothing for [`DUMP_QUIET_SECS`], or the deadline.
struct Dump {
    waiting: BTreeSet<(IpAddr, u32)>,
    tables: FxHashMap<(IpAddr, u32), TableSize>,
    /// The watched routes of the table so far (a withdrawal in the table takes one back).
    routes: BTreeMap<(IpAddr, u32, Prefix), Arc<RouteAttrs>>,
    last_message: Timestamp,
    until: Timestamp,
}

/// A router that has said nothing for this long has sent its table: GoBGP sends End-of-RIB
/// only for the sessions up when the station connected, and FRR 8.4 sent none in our runs.
pub const DUMP_QUIET_SECS: i64 = 3;

/// One router connection's conversion of BMP events into messages.
pub struct LiveCollector {
    collector: CollectorId,
    watch: Arc<RwLock<Watch>>,
    dump: Option<Dump>,
    /// Sessions up, as the router said.
    up: BTreeSet<(IpAddr, u32)>,
    /// Sessions whose routes are refused (ADD-PATH negotiated: not read right), named once.
    refused: BTreeSet<(IpAddr, u32)>,
    second: Option<i64>,
    counts: FxHashMap<(IpAddr, u32), (u32, u32)>,
    /// When the last message counted in `second` arrived: its counters are stamped with it,
    /// so a snapshot of that second is dated by the last message in it, not by the second's
    /// end.
    last_counted: Option<Timestamp>,
    /// Things the station should say once (refused sessions, a dump closed by its deadline).
    pub notes: Vec<String>,
}

impl LiveCollector {
    /// A router that has just connected and said who it is, at `now`. Its dump is closed at
    /// the latest `dump_deadline_secs` later, whatever End-of-RIB markers are missing.
    pub fn connected(
        collector: CollectorId,
        watch: Arc<RwLock<Watch>>,
        now: Timestamp,
        dump_deadline_secs: i64,
        out: &mut Vec<Msg>,
    ) -> Self {
        out.push(Msg::RibBegin {
            time: now,
            collector: collector.clone(),
        });
        LiveCollector {
            collector,
            watch,
            dump: Some(Dump {
                waiting: BTreeSet::new(),
                tables: FxHashMap::default(),
                routes: BTreeMap::new(),
                last_message: now,
                until: now.plus_secs(dump_deadline_secs),
            }),
            up: BTreeSet::new(),
            refused: BTreeSet::new(),
            second: None,
            counts: FxHashMap::default(),
            last_counted: None,
            notes: Vec::new(),
        }
    }

    pub fn collector(&self) -> &CollectorId {
        &self.collector
    }

    /// Is the initial table still being received?
    pub fn in_dump(&self) -> bool {
        self.dump.is_some()
    }

    fn peer_id(&self, p: &BmpPeer) -> PeerId {
        self.session(p.ip, p.asn)
    }

    fn session(&self, ip: IpAddr, asn: u32) -> PeerId {
        PeerId {
            collector: self.collector.clone(),
            ip,
            asn,
        }
    }

    /// Whether a Route Monitoring UPDATE must be parsed: it touches a watched prefix or a
    /// watched AS originates it. Else only its counts are taken. In the initial table, this
    /// counts the session's table from the view, so the table is never parsed whole.
    pub fn wants(&mut self, view: &crate::parse::prefilter::UpdateView<'_>) -> bool {
        if let Some(d) = self.dump.as_mut() {
            let (v4, v6) = view.announced_by_family();
            let t = d.tables.entry((view.peer_ip, view.peer_asn)).or_default();
            t.v4 += v4;
            t.v6 += v6;
        }
        let Ok(w) = self.watch.read() else {
            return true;
        };
        view.any_origin(&mut |a| w.watches_asn(a)) || view.nlri().any(|n| w.covers_nlri(&n))
    }

    /// One BMP event received at `now`.
    pub fn take(&mut self, event: BmpEvent, now: Timestamp, out: &mut Vec<Msg>) {
        self.tick(now, out);
        if let Some(d) = self.dump.as_mut() {
            d.last_message = now;
        }
        match event {
            BmpEvent::PeerUp { peer, add_path, .. } => {
                let key = (peer.ip, peer.asn);
                self.up.insert(key);
                if add_path && self.refused.insert(key) {
                    self.notes.push(format!(
                        "{}: session {} AS{} negotiated ADD-PATH, which BMP route monitoring cannot be read right with; its routes are not used",
                        self.collector, peer.ip, peer.asn
                    ));
                }
                match self.dump.as_mut() {
                    Some(d) => {
                        d.waiting.insert(key);
                        d.tables.entry(key).or_default();
                    }
                    None => out.push(Msg::State {
                        time: now,
                        peer: self.peer_id(&peer),
                        old: IDLE,
                        new: ESTABLISHED,
                    }),
                }
            }
            BmpEvent::PeerDown { peer } => {
                let key = (peer.ip, peer.asn);
                self.up.remove(&key);
                match self.dump.as_mut() {
                    Some(d) => {
                        d.waiting.remove(&key);
                        d.tables.remove(&key);
                        d.routes.retain(|(ip, asn, _), _| (*ip, *asn) != key);
                    }
                    None => out.push(Msg::State {
                        time: now,
                        peer: self.peer_id(&peer),
                        old: ESTABLISHED,
                        new: IDLE,
                    }),
                }
            }
            BmpEvent::Routes {
                peer,
                routes,
                end_of_rib,
                viewed,
            } => self.routes(peer, routes, end_of_rib, viewed, now, out),
            // The initial table is a RIB: counted as tables (by `wants`), not as activity.
            BmpEvent::Counted { .. } if self.dump.is_some() => {}
            BmpEvent::Counted {
                peer,
                messages,
                withdrawals,
            } => {
                let c = self.counts.entry((peer.ip, peer.asn)).or_default();
                c.0 += messages;
                c.1 += withdrawals;
                self.last_counted = Some(now);
            }
            BmpEvent::Initiation { .. } | BmpEvent::Termination | BmpEvent::Ignored(_) => {}
        }
        self.close_dump_if_done(now, out);
    }

    fn routes(
        &mut self,
        peer: BmpPeer,
        routes: Vec<RouteElem>,
        end_of_rib: bool,
        viewed: bool,
        now: Timestamp,
        out: &mut Vec<Msg>,
    ) {
        let key = (peer.ip, peer.asn);
        if self.refused.contains(&key) {
            return;
        }
        if let Some(d) = self.dump.as_mut() {
            if end_of_rib {
                d.waiting.remove(&key);
                return;
            }
            let table = d.tables.entry(key).or_default();
            if !viewed {
                for r in routes.iter().filter(|r| r.kind != RouteKind::Withdraw) {
                    table.add(&r.prefix);
                }
            }
        } else {
            let withdrawals = routes
                .iter()
                .filter(|r| r.kind == RouteKind::Withdraw)
                .count() as u32;
            let c = self.counts.entry(key).or_default();
            c.0 += routes.len() as u32;
            c.1 += withdrawals;
            self.last_counted = Some(now);
        }
        for r in routes {
            if !wanted(&self.watch, &r) {
                continue;
            }
            if let Some(d) = self.dump.as_mut() {
                let k = (peer.ip, peer.asn, r.prefix);
                match r.attrs {
                    Some(attrs) => d.routes.insert(k, attrs),
                    None => d.routes.remove(&k),
                };
                continue;
            }
            out.push(Msg::Route {
                time: now,
                peer: self.peer_id(&peer),
                prefix: r.prefix,
                attrs: r.attrs,
                file: 0,
            });
        }
    }

    /// Close the initial table once every peer up has sent End-of-RIB, or the router has
    /// been quiet a while since a peer came up, or at its deadline.
    fn close_dump_if_done(&mut self, now: Timestamp, out: &mut Vec<Msg>) {
        let Some(d) = self.dump.as_ref() else { return };
        let some_peer = !d.tables.is_empty();
        let complete = some_peer && d.waiting.is_empty();
        let quiet = some_peer && now.secs - d.last_message.secs >= DUMP_QUIET_SECS;
        if !complete && !quiet && now < d.until {
            return;
        }
        if !complete && !quiet {
            self.notes.push(format!(
                "{}: no End-of-RIB from {} session(s) by the deadline; their tables so far are the baseline",
                self.collector,
                d.waiting.len()
            ));
        }
        let Some(d) = self.dump.take() else { return };
        self.notes.push(format!(
            "{}: initial table read ({} sessions, {} watched routes): the baseline is set",
            self.collector,
            d.tables.len(),
            d.routes.len()
        ));
        for ((ip, asn, prefix), attrs) in d.routes {
            if self.refused.contains(&(ip, asn)) {
                continue;
            }
            out.push(Msg::RibRoute {
                time: now,
                peer: self.session(ip, asn),
                prefix,
                attrs,
                file: 0,
            });
        }
        let tables = d
            .tables
            .into_iter()
            .filter(|(k, _)| !self.refused.contains(k));
        out.push(Msg::rib_end(now, &self.collector, tables));
    }

    /// Time passes at `now` with or without a message: each second's counters go out when
    /// the second is over (stamped with its last microsecond), and a dump past its deadline
    /// closes.
    pub fn tick(&mut self, now: Timestamp, out: &mut Vec<Msg>) {
        if self.second.is_some_and(|s| s < now.secs) {
            self.flush(out);
        }
        if self.second.is_none_or(|s| s < now.secs) {
            self.second = Some(now.secs);
        }
        self.close_dump_if_done(now, out);
    }

    /// The end of a batch of messages (one read from the router): the counters go out with
    /// the routes they count, so no snapshot, of this router's or another's next message, can
    /// judge a withdrawal without the mass withdrawal it is part of.
    pub fn end_batch(&mut self, out: &mut Vec<Msg>) {
        self.flush(out);
    }

    fn flush(&mut self, out: &mut Vec<Msg>) {
        let Some(second) = self.second else { return };
        let mut counts: Vec<_> = self.counts.drain().collect();
        counts.sort_unstable();
        let time = self.last_counted.take().unwrap_or(Timestamp {
            secs: second,
            micros: 999_999,
        });
        out.extend(super::reader::activity_messages(
            &self.collector,
            time,
            counts,
        ));
    }

    /// The connection is gone at `now` (closed, cut, or unreadable): what the router's
    /// sessions carry is unknown from here until it is back.
    pub fn disconnected(mut self, now: Timestamp, reason: &str, out: &mut Vec<Msg>) {
        self.flush(out);
        // Its sessions are down as far as the station knows: each keeps what the last table
        // said of it, and counts again once the router says it is up (in its next table, or
        // by a Peer Up after it). Before the hole, which a state change would end.
        for (ip, asn) in std::mem::take(&mut self.up) {
            out.push(Msg::State {
                time: now,
                peer: self.session(ip, asn),
                old: ESTABLISHED,
                new: IDLE,
            });
        }
        if self.dump.is_some() {
            // An initial table cut short is no snapshot (as a RIB file cut short).
            out.push(Msg::Gap {
                time: now,
                collector: self.collector.clone(),
                reason: reason.to_string(),
                hole: false,
            });
        }
        out.push(Msg::Gap {
            time: now,
            collector: self.collector.clone(),
            reason: reason.to_string(),
            hole: true,
        });
    }
}

/// A watched prefix (or more specific), or any route a watched AS originates (which makes its
/// prefix watched from now on, for every live source).
pub(crate) fn wanted(watch: &RwLock<Watch>, r: &RouteElem) -> bool {
    let originated = |w: &Watch| {
        r.attrs.as_ref().is_some_and(|a| match a.path.origin() {
            crate::model::Origin::As(o) => w.watches_asn(o),
            crate::model::Origin::Uncertain(set) => set.iter().any(|o| w.watches_asn(*o)),
            crate::model::Origin::None => false,
        })
    };
    let (covered, learn) = match watch.read() {
        Ok(w) => (w.covers(&r.prefix), originated(&w)),
        Err(_) => return true,
    };
    if learn
        && !covered
        && let Ok(mut w) = watch.write()
    {
        w.insert(r.prefix);
    }
    covered || learn
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::bmp;

    const AS: u32 = 64511;

    /// The messages of the GoBGP capture (samples/bmp/README.md), framed by their headers.
    fn captured() -> Vec<bytes::Bytes> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../samples/bmp/gobgp-3.10-initial-table.bmp"
        );
        let data = bytes::Bytes::from(std::fs::read(path).expect("the capture"));
        let mut out = Vec::new();
        let mut at = 0;
        while at < data.len() {
            let header: [u8; bmp::COMMON_HEADER_LEN] = data[at..at + bmp::COMMON_HEADER_LEN]
                .try_into()
                .expect("a header");
            let len = bmp::message_len(&header).expect("BMP v3");
            out.push(data.slice(at..at + len));
            at += len;
        }
        out
    }

    fn t(secs: i64) -> Timestamp {
        Timestamp { secs, micros: 0 }
    }

    /// Feed the capture, one message a second from `start`, into a new collector.
    fn replay(messages: &[bytes::Bytes], start: i64) -> (LiveCollector, Vec<Msg>) {
        let watch = Watch::new([AS], ["100.64.0.0/24".parse().expect("prefix")]);
        let mut out = Vec::new();
        let mut c = LiveCollector::connected(
            CollectorId::new("bmp:GoBGP@10.0.0.1"),
            Arc::new(RwLock::new(watch)),
            t(start),
            300,
            &mut out,
        );
        for (i, m) in messages.iter().enumerate() {
            let now = t(start + i as i64);
            let e = bmp::decode(m.clone(), now, &mut |v| c.wants(v)).expect("decodes");
            c.take(e, now, &mut out);
            c.end_batch(&mut out);
        }
        (c, out)
    }

    #[test]
    fn a_real_routers_initial_table_is_a_rib_dump_ended_by_its_end_of_rib_markers() {
        let messages = captured();
        assert_eq!(messages.len(), 92);
        let (c, out) = replay(&messages, 1_000);
        assert!(!c.in_dump(), "every peer sent End-of-RIB");
        let kinds: Vec<&str> = out
            .iter()
            .map(|m| match m {
                Msg::RibBegin { .. } => "begin",
                Msg::RibRoute { .. } => "route",
                Msg::RibEnd { .. } => "end",
                Msg::Activity { .. } => "activity",
                _ => "other",
            })
            .collect();
        // The table is a RIB, not activity: nothing but the dump.
        assert_eq!(kinds, ["begin", "route", "route", "route", "end"]);
        let Some(Msg::RibEnd { tables, time, .. }) = out.last() else {
            panic!("a RIB end")
        };
        // Closed by the last End-of-RIB, the capture's last message.
        assert_eq!(*time, t(1_000 + 91));
        let sizes: Vec<(u32, u64, u64)> = tables.iter().map(|(p, s)| (p.asn, s.v4, s.v6)).collect();
        assert_eq!(
            sizes,
            [
                (65001, 21, 0),
                (65002, 21, 0),
                (65003, 21, 0),
                (65004, 20, 0)
            ]
        );
        let upstreams: Vec<(u32, Option<u32>)> = out
            .iter()
            .filter_map(|m| match m {
                Msg::RibRoute { peer, attrs, .. } => Some((peer.asn, attrs.path.upstream())),
                _ => None,
            })
            .collect();
        assert_eq!(
            upstreams,
            [
                (65001, Some(3549)),
                (65002, Some(3549)),
                (65003, Some(6939))
            ]
        );
    }

    #[test]
    fn only_the_watched_routes_are_parsed() {
        let mut counted = 0;
        let mut parsed = 0;
        for m in captured() {
            let event = bmp::decode(m, t(0), &mut |v| {
                v.prefixes()
                    .any(|p| p == "100.64.0.0/24".parse::<Prefix>().expect("prefix"))
            })
            .expect("decodes");
            match event {
                BmpEvent::Counted { .. } => counted += 1,
                BmpEvent::Routes { end_of_rib, .. } if !end_of_rib => parsed += 1,
                _ => {}
            }
        }
        assert_eq!(
            (counted, parsed),
            (80, 3),
            "the 80 fillers are only counted"
        );
    }

    #[test]
    fn without_end_of_rib_the_table_ends_when_the_router_goes_quiet() {
        // The capture without its End-of-RIB markers (GoBGP sends none for sessions that come
        // up after the station connected).
        let end_of_rib = bmp::COMMON_HEADER_LEN + 42 + 23;
        let messages: Vec<_> = captured()
            .into_iter()
            .filter(|m| !(m[5] == 0 && m.len() == end_of_rib))
            .collect();
        assert_eq!(messages.len(), 88);
        let (mut c, mut out) = replay(&messages, 0);
        assert!(c.in_dump());
        c.tick(t(87 + DUMP_QUIET_SECS - 1), &mut out);
        assert!(c.in_dump(), "not yet quiet long enough");
        c.tick(t(87 + DUMP_QUIET_SECS), &mut out);
        assert!(!c.in_dump(), "quiet for {DUMP_QUIET_SECS} s");
        assert!(matches!(out.last(), Some(Msg::RibEnd { tables, .. }) if tables.len() == 4));
    }

    #[test]
    fn a_withdrawal_inside_the_table_takes_its_route_back_and_a_lost_router_leaves_a_hole() {
        let messages = captured();
        // Up to peer 1's End-of-RIB, then peer 1 withdraws the watched prefix, a second after
        // its last message (within the quiet time).
        let (mut c, mut out) = replay(&messages[..26], 0);
        assert!(c.in_dump());
        let peer1 = BmpPeer {
            ip: "127.0.0.21".parse().expect("ip"),
            asn: 65001,
            bgp_id: "127.0.0.21".parse().expect("id"),
            distinguisher: 0,
        };
        let withdrawal = RouteElem {
            time: t(26),
            mrt: crate::parse::MrtKind::Bgp4mp,
            kind: RouteKind::Withdraw,
            peer_ip: peer1.ip,
            peer_asn: peer1.asn,
            prefix: "100.64.0.0/24".parse().expect("prefix"),
            path_id: None,
            attrs: None,
            salvaged: false,
        };
        c.take(
            BmpEvent::Routes {
                peer: peer1,
                routes: vec![withdrawal],
                end_of_rib: false,
                viewed: false,
            },
            t(26),
            &mut out,
        );
        c.tick(t(40), &mut out);
        assert!(!c.in_dump());
        let dumped: Vec<u32> = out
            .iter()
            .filter_map(|m| match m {
                Msg::RibRoute { peer, .. } => Some(peer.asn),
                _ => None,
            })
            .collect();
        assert_eq!(dumped, Vec::<u32>::new(), "peer 1's route was taken back");
        // The connection drops: every session it had up goes down, then the hole.
        let mut tail = Vec::new();
        c.disconnected(t(50), "closed", &mut tail);
        let downs = tail
            .iter()
            .filter(|m| matches!(m, Msg::State { new: IDLE, .. }))
            .count();
        assert_eq!(downs, 4);
        assert!(matches!(tail.last(), Some(Msg::Gap { hole: true, .. })));
    }
}
