//! `cutoff dump`: the routing messages behind a claim, in bgpdump's `-m` format or JSON Lines.

use crate::model::{Prefix, Timestamp};
use crate::parse::{Item, MrtKind, RouteElem, RouteKind, StateElem};
use serde_json::json;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::IpAddr;

/// Which messages to print. Every filter given narrows the output; empty lists match all.
#[derive(Debug, Clone, Default)]
pub struct DumpFilter {
    /// Prefixes; a message matches if its prefix is one of these or more specific.
    pub prefixes: Vec<Prefix>,
    /// AS numbers; an announcement (or RIB entry) matches if one is on its path, the origin
    /// included; a withdrawal matches if it withdraws a route of that peer that matched.
    pub asns: Vec<u32>,
    pub peers: Vec<IpAddr>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Routes (peer, prefix) whose last announcement matched `asns`, so that their
    /// withdrawals, which carry no path, can be matched too.
    matched_routes: HashSet<(IpAddr, Prefix)>,
}

impl DumpFilter {
    pub fn new(
        prefixes: Vec<Prefix>,
        asns: Vec<u32>,
        peers: Vec<IpAddr>,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Self {
        DumpFilter {
            prefixes,
            asns,
            peers,
            from,
            to,
            matched_routes: HashSet::new(),
        }
    }

    /// Must see every item in order (also those outside the time window) to follow routes.
    pub fn matches(&mut self, item: &Item) -> bool {
        let t = item.time();
        let in_window = !(self.from.is_some_and(|f| t < f) || self.to.is_some_and(|to| t > to));
        match item {
            Item::Route(r) => self.matches_route(r) && in_window,
            Item::State(s) => {
                in_window
                    && (self.peers.is_empty() || self.peers.contains(&s.peer_ip))
                    && (self.prefixes.is_empty() && self.asns.is_empty() || !self.peers.is_empty())
            }
        }
    }

    fn matches_route(&mut self, r: &RouteElem) -> bool {
        if !self.peers.is_empty() && !self.peers.contains(&r.peer_ip) {
            return false;
        }
        if !self.prefixes.is_empty() && !self.prefixes.iter().any(|p| p.contains(&r.prefix)) {
            return false;
        }
        if self.asns.is_empty() {
            return true;
        }
        let key = (r.peer_ip, r.prefix);
        match &r.attrs {
            None => self.matched_routes.remove(&key),
            Some(a) => {
                let on_path = a
                    .path
                    .0
                    .iter()
                    .any(|hop| hop.asns().iter().any(|x| self.asns.contains(x)));
                if on_path {
                    self.matched_routes.insert(key);
                } else if self.matched_routes.remove(&key) {
                    // A matching route replaced by another: the change is part of the story.
                    return true;
                }
                on_path
            }
        }
    }
}

fn time_field(t: Timestamp, mrt: MrtKind) -> String {
    if mrt == MrtKind::Bgp4mpEt {
        format!("{}.{:06}", t.secs, t.micros)
    } else {
        t.secs.to_string()
    }
}

/// One line in bgpdump's `-m` (one line per route, pipe separated) format.
pub fn bgpdump_line(item: &Item) -> String {
    match item {
        Item::Route(r) => route_line(r),
        Item::State(s) => state_line(s),
    }
}

fn state_line(s: &StateElem) -> String {
    format!(
        "{}|{}|STATE|{}|{}|{}|{}",
        s.mrt.bgpdump_name(),
        time_field(s.time, s.mrt),
        s.peer_ip,
        s.peer_asn,
        s.old_state,
        s.new_state
    )
}

fn route_line(r: &RouteElem) -> String {
    let mut line = format!(
        "{}|{}|{}|{}|{}|{}",
        r.mrt.bgpdump_name(),
        time_field(r.time, r.mrt),
        r.kind.letter(),
        r.peer_ip,
        r.peer_asn,
        r.prefix
    );
    if matches!(r.mrt, MrtKind::TableDump2AddPath | MrtKind::Bgp4mpAddPath) {
        let _ = write!(line, "|{}", r.path_id.unwrap_or(0));
    }
    let Some(a) = &r.attrs else {
        return line;
    };
    let next_hop = a.next_hop.map(|n| n.to_string()).unwrap_or_default();
    let aggregator = a
        .aggregator
        .map(|(asn, ip)| format!("{asn} {ip}"))
        .unwrap_or_default();
    let _ = write!(
        line,
        "|{}|{}|{}|{}|{}|{}|{}|{}|",
        a.path,
        a.origin_code.unwrap_or(""),
        next_hop,
        a.local_pref.unwrap_or(0),
        a.med.unwrap_or(0),
        a.communities.join(" "),
        if a.atomic_aggregate { "AG" } else { "NAG" },
        aggregator
    );
    line
}

/// One JSON object per message, for scripts.
pub fn json_line(item: &Item, file: &str) -> String {
    let v = match item {
        Item::Route(r) => {
            let attrs = r.attrs.as_deref();
            json!({
                "type": match r.kind { RouteKind::Announce => "announce", RouteKind::Withdraw => "withdraw", RouteKind::Rib => "rib" },
                "mrt": r.mrt.bgpdump_name(),
                "time": r.time,
                "peer_ip": r.peer_ip,
                "peer_asn": r.peer_asn,
                "prefix": r.prefix.to_string(),
                "path_id": r.path_id,
                "as_path": attrs.map(|a| a.path.to_string()),
                "origin_asn": attrs.and_then(|a| match a.path.origin() { crate::model::Origin::As(x) => Some(x), _ => None }),
                "next_hop": attrs.and_then(|a| a.next_hop),
                "communities": attrs.map(|a| &a.communities),
                "salvaged_from_cut_record": r.salvaged,
                "file": file,
            })
        }
        Item::State(s) => json!({
            "type": "state",
            "mrt": s.mrt.bgpdump_name(),
            "time": s.time,
            "peer_ip": s.peer_ip,
            "peer_asn": s.peer_asn,
            "old_state": s.old_state,
            "new_state": s.new_state,
            "file": file,
        }),
    };
    v.to_string()
}
