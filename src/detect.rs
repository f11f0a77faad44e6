//! Detection (DESIGN §3): pure and deterministic, from [`Snapshot`]s to [`Event`]s.
//!
//! A condition (an upstream carrying nothing, a prefix dark, the AS invisible) becomes an
//! event once it has held for the minimum duration; the event's time is when it began.

use crate::model::{Prefix, Timestamp};
use crate::state::{LastRoute, Noise, Snapshot};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// How much visibility may remain for "no longer visible": a peer count or a percentage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Residual {
    Peers(usize),
    Percent(f64),
}

impl Residual {
    /// Largest number of visible peer ASNs that still counts as "not visible".
    pub fn peers(self, eligible: usize) -> usize {
        match self {
            Residual::Peers(n) => n,
            Residual::Percent(p) => ((p / 100.0) * eligible as f64).floor() as usize,
        }
    }
}

impl std::str::FromStr for Residual {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some(pct) = s.strip_suffix('%') {
            let v: f64 = pct.trim().parse().map_err(|_| {
                format!("{s:?}: expected a peer count like 2 or a percentage like 5%")
            })?;
            if !(0.0..=100.0).contains(&v) {
                return Err(format!("{s:?}: a percentage must be between 0% and 100%"));
            }
            return Ok(Residual::Percent(v));
        }
        s.parse::<usize>()
            .map(Residual::Peers)
            .map_err(|_| format!("{s:?}: expected a peer count like 2 or a percentage like 5%"))
    }
}

impl std::fmt::Display for Residual {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Residual::Peers(n) => write!(f, "{n}"),
            Residual::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for Residual {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DetectRules {
    /// A condition must hold this long (seconds) to become an event.
    pub min_duration_secs: i64,
    pub max_residual: Residual,
    /// Restored: visible at ≥ this fraction of the visibility before the outage.
    pub restore_fraction: f64,
    /// Fewer eligible peer ASNs than this, or than half the usual number, and no conclusion
    /// is drawn (`inconclusive`).
    pub min_peers: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    UpstreamLost,
    UpstreamGained,
    PrefixDark,
    Disconnected,
    Restored,
    Inconclusive,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::UpstreamLost => "upstream_lost",
            EventKind::UpstreamGained => "upstream_gained",
            EventKind::PrefixDark => "prefix_dark",
            EventKind::Disconnected => "disconnected",
            EventKind::Restored => "restored",
            EventKind::Inconclusive => "inconclusive",
        }
    }
}

/// One finding, with the evidence behind it. Serialised as one JSON Lines object.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub event: EventKind,
    pub asn: u32,
    /// When the condition began (not when it was confirmed).
    pub time: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Prefix>,
    /// `disconnected`: the upstreams that carried the AS just before it went dark.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_upstreams: Option<Vec<u32>>,
    /// `disconnected`, `upstream_lost`, `prefix_dark`: the last route seen, per upstream
    /// (or for the prefix): when it ended, who carried it, its path and file.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub last_seen_via: BTreeMap<u32, LastRoute>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_route: Option<LastRoute>,
    /// `restored`: upstreams carrying the AS again; `upstream_gained`: all current ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstreams: Option<Vec<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outage_secs: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub evidence: Evidence,
}

/// Peer counts before and after, so a reader can judge the strength of a finding.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Evidence {
    /// Eligible peer ASNs seeing the AS (or the prefix, or via the upstream): the most seen
    /// before the condition began, and the number when it was confirmed.
    pub peers_before: usize,
    pub peers_after: usize,
    pub eligible_peers: usize,
    /// Upstream → peer ASNs, before and after.
    pub upstreams_before: BTreeMap<u32, usize>,
    pub upstreams_after: BTreeMap<u32, usize>,
    pub collectors_before: Vec<String>,
    /// Sessions still seeing it afterwards (tolerated by the residual).
    pub residual_sessions: Vec<String>,
    /// Peer ASNs not counted at that time, by reason.
    pub not_counted: BTreeMap<Noise, usize>,
    /// When the condition was confirmed (time + minimum duration).
    pub confirmed_at: Timestamp,
    pub partial_baseline: bool,
}

/// A condition being watched until it has held long enough.
#[derive(Debug, Clone)]
struct Pending {
    since: Timestamp,
    before: Snapshot,
    at: Snapshot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Active,
    Lost,
}

#[derive(Default)]
struct AsDetect {
    ready: bool,
    disconnected: Option<Timestamp>,
    peak_visible: usize,
    peak_eligible: usize,
    upstreams: BTreeMap<u32, Status>,
    dark: BTreeSet<Prefix>,
    lit: BTreeSet<Prefix>,
    /// Most peer ASNs seen per prefix / per upstream while tracked: "before" in evidence.
    prefix_peak: BTreeMap<Prefix, usize>,
    upstream_peak: BTreeMap<u32, usize>,
    ever_disconnected: bool,
    prev: Option<Snapshot>,
    latest: Option<Snapshot>,
    disc: Option<Pending>,
    restore: Option<Pending>,
    inconclusive: Option<Pending>,
    inconclusive_reported: bool,
    lost: BTreeMap<u32, Pending>,
    gained: BTreeMap<u32, Pending>,
    dark_pending: BTreeMap<Prefix, Pending>,
}

pub struct Detector {
    rules: DetectRules,
    per_as: BTreeMap<u32, AsDetect>,
    events: Vec<Event>,
}

impl Detector {
    pub fn new(rules: DetectRules) -> Self {
        Detector {
            rules,
            per_as: BTreeMap::new(),
            events: Vec::new(),
        }
    }

    /// Take in a new visibility snapshot of one AS.
    pub fn observe(&mut self, snap: Snapshot) {
        let rules = self.rules.clone();
        let d = self.per_as.entry(snap.asn).or_default();
        // The residual is taken of the usual number of eligible peers, so that it does not
        // jitter as single peers come and go.
        let r = rules
            .max_residual
            .peers(snap.eligible.len().max(d.peak_eligible));
        if !d.ready {
            if snap.visible.len() <= r || snap.eligible.is_empty() {
                d.prev = Some(snap);
                return;
            }
            d.ready = true;
            for (u, peers) in &snap.support {
                if peers.len() > r {
                    d.upstreams.insert(*u, Status::Active);
                }
            }
        }
        let prev = d
            .latest
            .take()
            .or_else(|| d.prev.take())
            .unwrap_or_default();
        d.observe(&snap, &prev, r, &rules);
        d.prev = Some(prev);
        d.latest = Some(snap.clone());
        if rules.min_duration_secs == 0 {
            self.advance(snap.time);
        }
    }

    /// Confirm every condition that has held for the minimum duration by `now`.
    pub fn advance(&mut self, now: Timestamp) {
        let min = self.rules.min_duration_secs;
        for (asn, d) in self.per_as.iter_mut() {
            d.confirm(*asn, now, min, &self.rules, &mut self.events);
        }
    }

    /// All events, in time order.
    pub fn finish(mut self, end: Option<Timestamp>) -> (Vec<Event>, Vec<String>) {
        if let Some(end) = end {
            self.advance(end);
        }
        let mut pending = Vec::new();
        for (asn, d) in &self.per_as {
            if let Some(p) = &d.disc {
                pending.push(format!("AS{asn}: not visible since {} but for less than the minimum duration before the input ends", p.since));
            }
            for (u, p) in &d.lost {
                pending.push(format!("AS{asn}: upstream AS{u} carries nothing since {} (shorter than the minimum duration)", p.since));
            }
            for (pfx, p) in &d.dark_pending {
                pending.push(format!(
                    "AS{asn}: {pfx} dark since {} (shorter than the minimum duration)",
                    p.since
                ));
            }
            if let Some(p) = &d.restore {
                pending.push(format!(
                    "AS{asn}: visible again since {} (shorter than the minimum duration)",
                    p.since
                ));
            }
        }
        self.events
            .sort_by(|a, b| (a.time, a.asn, a.event).cmp(&(b.time, b.asn, b.event)));
        (self.events, pending)
    }
}

impl AsDetect {
    fn observe(&mut self, snap: &Snapshot, prev: &Snapshot, r: usize, rules: &DetectRules) {
        let visible = snap.visible.len();
        let eligible = snap.eligible.len();
        let too_few = eligible < rules.min_peers.max(self.peak_eligible.div_ceil(2));
        let connected = self.disconnected.is_none();
        if connected && self.disc.is_none() && !too_few {
            self.peak_visible = self.peak_visible.max(visible);
            self.peak_eligible = self.peak_eligible.max(eligible);
        }
        // Too few peers count to conclude anything: say so once, decide nothing else.
        track(
            &mut self.inconclusive,
            too_few && visible < self.peak_visible,
            snap,
            prev,
        );
        if !too_few {
            self.inconclusive_reported = false;
        }
        // "Lost all upstreams" needs an AS that was seen by enough peers in the first place.
        let not_visible = visible <= r && !too_few && self.peak_visible >= rules.min_peers;
        if connected {
            track(&mut self.disc, not_visible, snap, prev);
            self.track_upstreams(snap, prev, r, not_visible || too_few, rules.min_peers);
            self.track_prefixes(snap, prev, r, not_visible || too_few, rules.min_peers);
        } else {
            let need =
                ((rules.restore_fraction * self.peak_visible as f64).ceil() as usize).max(r + 1);
            track(&mut self.restore, visible >= need && !too_few, snap, prev);
        }
        self.track_new_upstreams(snap, prev, r);
    }

    fn track_upstreams(
        &mut self,
        snap: &Snapshot,
        prev: &Snapshot,
        r: usize,
        suppressed: bool,
        min_peers: usize,
    ) {
        let active: Vec<u32> = self
            .upstreams
            .iter()
            .filter(|(_, s)| **s == Status::Active)
            .map(|(u, _)| *u)
            .collect();
        for u in active {
            let support = snap.support.get(&u).map_or(0, BTreeSet::len);
            let peak = self.upstream_peak.entry(u).or_default();
            *peak = (*peak).max(support);
            // Only an upstream that carried the AS beyond the residual can be lost; one learned
            // while few peers counted may never have.
            let carried = *peak > r && *peak >= min_peers;
            let mut slot = self.lost.remove(&u);
            track(
                &mut slot,
                carried && support <= r && !suppressed,
                snap,
                prev,
            );
            if let Some(p) = slot {
                self.lost.insert(u, p);
            }
        }
    }

    fn track_new_upstreams(&mut self, snap: &Snapshot, prev: &Snapshot, r: usize) {
        for (u, peers) in &snap.support {
            if self.upstreams.contains_key(u) {
                if self.upstreams[u] == Status::Lost
                    && peers.len() > r
                    && self.disconnected.is_none()
                {
                    // A known upstream carrying the AS again: not news.
                    self.upstreams.insert(*u, Status::Active);
                }
                continue;
            }
            if snap.partial && !self.ever_disconnected && self.disconnected.is_none() {
                // Without a RIB the baseline is learned from announcements.
                if peers.len() > r {
                    self.upstreams.insert(*u, Status::Active);
                }
                continue;
            }
            let mut slot = self.gained.remove(u);
            track(&mut slot, peers.len() > r, snap, prev);
            if let Some(p) = slot {
                self.gained.insert(*u, p);
            }
        }
        let gone: Vec<u32> = self
            .gained
            .keys()
            .filter(|u| !snap.support.contains_key(u))
            .copied()
            .collect();
        for u in gone {
            self.gained.remove(&u);
        }
    }

    fn track_prefixes(
        &mut self,
        snap: &Snapshot,
        prev: &Snapshot,
        r: usize,
        suppressed: bool,
        min_peers: usize,
    ) {
        // A prefix is watched for darkness once it is seen widely: by more than the residual
        // and by at least half as many peers as see the AS at its best. Prefixes only a few
        // peers ever see (partial transit, local routes) say nothing when they flicker.
        let wide = (self.peak_visible.div_ceil(2)).max(r + 1).max(min_peers);
        for (p, peers) in &snap.per_prefix {
            let lit = peers.len() > r;
            if self.lit.contains(p) {
                let peak = self.prefix_peak.entry(*p).or_default();
                *peak = (*peak).max(peers.len());
            }
            if self.dark.contains(p) {
                if peers.len() >= wide {
                    self.dark.remove(p);
                    self.lit.insert(*p);
                }
                continue;
            }
            if !self.lit.contains(p) {
                if peers.len() >= wide {
                    self.lit.insert(*p);
                    self.prefix_peak.insert(*p, peers.len());
                }
                continue;
            }
            let mut slot = self.dark_pending.remove(p);
            track(&mut slot, !lit && !suppressed, snap, prev);
            if let Some(pend) = slot {
                self.dark_pending.insert(*p, pend);
            }
        }
    }

    fn confirm(
        &mut self,
        asn: u32,
        now: Timestamp,
        min: i64,
        rules: &DetectRules,
        events: &mut Vec<Event>,
    ) {
        let due = |p: &Option<Pending>| p.as_ref().is_some_and(|p| now.secs - p.since.secs >= min);
        let first_new = events.len();
        if due(&self.inconclusive) && !self.inconclusive_reported {
            if let Some(p) = self.inconclusive.take() {
                self.inconclusive_reported = true;
                events.push(inconclusive_event(asn, &p, p.since.plus_secs(min), rules));
            }
        }
        if due(&self.disc) {
            if let Some(p) = self.disc.take() {
                let mut e = disconnected_event(asn, &p, p.since.plus_secs(min));
                e.evidence.peers_before = e.evidence.peers_before.max(self.peak_visible);
                // Every upstream that carried the AS at its baseline: when each was last seen.
                for (u, status) in &self.upstreams {
                    if *status == Status::Active {
                        if let Some(l) = p.at.last_via.get(u) {
                            e.last_seen_via.entry(*u).or_insert_with(|| l.clone());
                        }
                    }
                }
                events.push(e);
                self.disconnected = Some(p.since);
                self.ever_disconnected = true;
                for s in self.upstreams.values_mut() {
                    *s = Status::Lost;
                }
                self.lost.clear();
                self.dark_pending.clear();
            }
        }
        if due(&self.restore) {
            if let Some(p) = self.restore.take() {
                let outage = self.disconnected.map(|d| p.since.secs - d.secs);
                events.push(restored_event(asn, &p, p.since.plus_secs(min), outage));
                self.disconnected = None;
                self.peak_visible = p.at.visible.len();
                for (u, peers) in &p.at.support {
                    if !peers.is_empty() && self.upstreams.contains_key(u) {
                        self.upstreams.insert(*u, Status::Active);
                    }
                }
            }
        }
        let due_lost: Vec<u32> = self
            .lost
            .iter()
            .filter(|(_, p)| now.secs - p.since.secs >= min)
            .map(|(u, _)| *u)
            .collect();
        for u in due_lost {
            if let Some(p) = self.lost.remove(&u) {
                let peak = self.upstream_peak.remove(&u).unwrap_or(0);
                let mut e = upstream_event(
                    EventKind::UpstreamLost,
                    asn,
                    u,
                    &p,
                    p.since.plus_secs(min),
                    r_of(&p, rules),
                );
                e.evidence.peers_before = e.evidence.peers_before.max(peak);
                events.push(e);
                self.upstreams.insert(u, Status::Lost);
            }
        }
        let due_gained: Vec<u32> = self
            .gained
            .iter()
            .filter(|(_, p)| now.secs - p.since.secs >= min)
            .map(|(u, _)| *u)
            .collect();
        for u in due_gained {
            if let Some(p) = self.gained.remove(&u) {
                events.push(upstream_event(
                    EventKind::UpstreamGained,
                    asn,
                    u,
                    &p,
                    p.since.plus_secs(min),
                    r_of(&p, rules),
                ));
                self.upstreams.insert(u, Status::Active);
            }
        }
        let due_dark: Vec<Prefix> = self
            .dark_pending
            .iter()
            .filter(|(_, p)| now.secs - p.since.secs >= min)
            .map(|(x, _)| *x)
            .collect();
        for pfx in due_dark {
            if let Some(p) = self.dark_pending.remove(&pfx) {
                let peak = self.prefix_peak.remove(&pfx).unwrap_or(0);
                let mut e = prefix_event(asn, pfx, &p, p.since.plus_secs(min));
                e.evidence.peers_before = e.evidence.peers_before.max(peak);
                events.push(e);
                self.lit.remove(&pfx);
                self.dark.insert(pfx);
            }
        }
        if let Some(latest) = &self.latest {
            for e in &mut events[first_new..] {
                e.evidence.peers_after = match (e.event, e.upstream, e.prefix) {
                    (EventKind::UpstreamLost | EventKind::UpstreamGained, Some(u), _) => {
                        latest.support.get(&u).map_or(0, BTreeSet::len)
                    }
                    (EventKind::PrefixDark, _, Some(p)) => latest.per_prefix.get(&p).map_or(0, BTreeSet::len),
                    _ => latest.visible.len(),
                };
            }
        }
    }
}

/// Start, keep or drop a pending condition.
fn track(slot: &mut Option<Pending>, holds: bool, snap: &Snapshot, prev: &Snapshot) {
    match (holds, slot.is_some()) {
        (true, false) => {
            *slot = Some(Pending {
                since: snap.time,
                before: prev.clone(),
                at: snap.clone(),
            });
        }
        (false, true) => *slot = None,
        _ => {}
    }
}

fn evidence(p: &Pending, confirmed: Timestamp, before: usize, after: usize) -> Evidence {
    Evidence {
        peers_before: before,
        peers_after: after,
        eligible_peers: p.at.eligible.len(),
        upstreams_before: p
            .before
            .support
            .iter()
            .map(|(u, s)| (*u, s.len()))
            .filter(|(_, n)| *n > 0)
            .collect(),
        upstreams_after: p
            .at
            .support
            .iter()
            .map(|(u, s)| (*u, s.len()))
            .filter(|(_, n)| *n > 0)
            .collect(),
        collectors_before: p.before.collectors.iter().cloned().collect(),
        residual_sessions: p.at.visible_sessions.clone(),
        not_counted: p.at.noise.iter().map(|(k, v)| (*k, v.len())).collect(),
        confirmed_at: confirmed,
        partial_baseline: p.at.partial,
    }
}

fn base_event(kind: EventKind, asn: u32, p: &Pending, ev: Evidence) -> Event {
    Event {
        event: kind,
        asn,
        time: p.since,
        upstream: None,
        prefix: None,
        last_upstreams: None,
        last_seen_via: BTreeMap::new(),
        last_route: None,
        upstreams: None,
        outage_secs: None,
        reason: None,
        evidence: ev,
    }
}

fn disconnected_event(asn: u32, p: &Pending, now: Timestamp) -> Event {
    let last_upstreams: Vec<u32> = p
        .before
        .support
        .iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(u, _)| *u)
        .collect();
    let mut e = base_event(
        EventKind::Disconnected,
        asn,
        p,
        evidence(p, now, p.before.visible.len(), p.at.visible.len()),
    );
    e.last_seen_via =
        p.at.last_via
            .iter()
            .filter(|(u, _)| p.before.support.contains_key(u) || last_upstreams.is_empty())
            .map(|(u, l)| (*u, l.clone()))
            .collect();
    e.last_upstreams = Some(last_upstreams);
    e
}

fn restored_event(asn: u32, p: &Pending, now: Timestamp, outage: Option<i64>) -> Event {
    let mut e = base_event(
        EventKind::Restored,
        asn,
        p,
        evidence(p, now, p.before.visible.len(), p.at.visible.len()),
    );
    e.upstreams = Some(
        p.at.support
            .iter()
            .filter(|(_, s)| !s.is_empty())
            .map(|(u, _)| *u)
            .collect(),
    );
    e.outage_secs = outage;
    e
}

/// The residual in force when a pending condition began.
fn r_of(p: &Pending, rules: &DetectRules) -> usize {
    rules.max_residual.peers(p.at.eligible.len())
}

fn upstream_event(
    kind: EventKind,
    asn: u32,
    u: u32,
    p: &Pending,
    now: Timestamp,
    r: usize,
) -> Event {
    let count = |s: &Snapshot| s.support.get(&u).map_or(0, BTreeSet::len);
    let mut e = base_event(
        kind,
        asn,
        p,
        evidence(p, now, count(&p.before), count(&p.at)),
    );
    e.upstream = Some(u);
    e.evidence.residual_sessions =
        p.at.sessions_by_upstream
            .get(&u)
            .cloned()
            .unwrap_or_default();
    e.last_route = p.at.last_via.get(&u).cloned();
    // The upstreams that carry the AS now (beyond the residual).
    e.upstreams = Some(
        p.at.support
            .iter()
            .filter(|(x, s)| s.len() > r || (**x == u && kind == EventKind::UpstreamGained))
            .map(|(x, _)| *x)
            .collect(),
    );
    e
}

fn prefix_event(asn: u32, pfx: Prefix, p: &Pending, now: Timestamp) -> Event {
    let count = |s: &Snapshot| s.per_prefix.get(&pfx).map_or(0, BTreeSet::len);
    let mut e = base_event(
        EventKind::PrefixDark,
        asn,
        p,
        evidence(p, now, count(&p.before), count(&p.at)),
    );
    e.prefix = Some(pfx);
    e.evidence.residual_sessions =
        p.at.sessions_by_prefix
            .get(&pfx)
            .cloned()
            .unwrap_or_default();
    e.last_route = p.at.last_prefix.get(&pfx).cloned();
    e
}

fn inconclusive_event(asn: u32, p: &Pending, now: Timestamp, rules: &DetectRules) -> Event {
    let reason =
        p.at.noise
            .iter()
            .max_by_key(|(_, v)| v.len())
            .map(|(k, v)| match k {
                Noise::SessionDown => format!("{} peer(s) had their sessions down", v.len()),
                Noise::MassWithdrawal => format!(
                    "{} peer(s) withdrew a large share of their whole table",
                    v.len()
                ),
                Noise::Silent => format!("{} peer(s) went silent", v.len()),
                Noise::MissingFiles => {
                    format!("files are missing or unreadable for {} peer(s)", v.len())
                }
            })
            .unwrap_or_else(|| format!("fewer than {} eligible peers", rules.min_peers));
    let mut e = base_event(
        EventKind::Inconclusive,
        asn,
        p,
        evidence(p, now, p.before.visible.len(), p.at.visible.len()),
    );
    e.reason = Some(format!(
        "visibility fell, but only {} peer ASNs count: {reason}",
        p.at.eligible.len()
    ));
    e
}
