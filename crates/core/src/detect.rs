//! Detection (docs/METHOD.md §3, §4): pure and deterministic, from [`Snapshot`]s to [`Event`]s.
//!
//! A condition (an upstream carrying nothing, a prefix dark, the AS invisible) becomes an
//! event once it has held for the minimum duration; the event's time is when it began.

use crate::model::{Prefix, Timestamp};
use crate::state::{EvidenceSource, LastRoute, Noise, Scope, Snapshot};
use serde::{Deserialize, Serialize};
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

impl<'de> Deserialize<'de> for Residual {
    /// `"5%"`, `"2"`, or a bare peer count `2` (as TOML and JSON numbers are written).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Text {
            Int(i64),
            Str(String),
        }
        match Text::deserialize(d)? {
            Text::Int(n) => n.to_string().parse(),
            Text::Str(s) => s.parse(),
        }
        .map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

impl Default for DetectRules {
    /// The one place the detection defaults are written (`cutoff scan` flags, the monitor's
    /// `[thresholds]` and library users all start here).
    fn default() -> Self {
        DetectRules {
            min_duration_secs: 15 * 60,
            max_residual: Residual::Percent(5.0),
            restore_fraction: 0.5,
            min_peers: 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub event: EventKind,
    pub asn: u32,
    /// When the condition began (not when it was confirmed): the message that made it true,
    /// or, where the moment is known only to an interval, its latest bound.
    pub time: Timestamp,
    /// `[earliest, latest]` when the change is known only to an interval: it was first seen
    /// after a hole in a collector's data, or where a RIB disagreed with the updates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_bounds: Option<[Timestamp; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Prefix>,
    /// `disconnected`: the upstreams that carried the AS just before it went dark.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_upstreams: Option<Vec<u32>>,
    /// `disconnected`, `upstream_lost`, `prefix_dark`: the last route seen, per upstream
    /// (or for the prefix): when it ended, who carried it, its path and file.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
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
    /// Upstreams whose last route `last_seen_via` is to show (filled from the tracker).
    #[serde(skip)]
    pub evidence_upstreams: Vec<u32>,
}

impl Event {
    /// An event of `kind` for `asn` at `time` with its evidence; the kind-specific fields
    /// (upstream, prefix, last routes, outage) empty, for the caller to fill in.
    pub fn new(kind: EventKind, asn: u32, time: Timestamp, evidence: Evidence) -> Event {
        Event {
            event: kind,
            asn,
            time,
            time_bounds: None,
            upstream: None,
            prefix: None,
            last_upstreams: None,
            last_seen_via: BTreeMap::new(),
            last_route: None,
            upstreams: None,
            outage_secs: None,
            reason: None,
            evidence,
            evidence_upstreams: Vec::new(),
        }
    }
}

/// Peer counts before and after, so a reader can judge the strength of a finding.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Evidence {
    /// Eligible peer ASNs seeing the AS (or the prefix, or via the upstream): the most seen
    /// before the condition began (for `restored`: the fewest while it was dark), and the
    /// number when it was confirmed.
    pub peers_before: usize,
    pub peers_after: usize,
    pub eligible_peers: usize,
    /// Upstream → peer ASNs, before (as `peers_before`) and when confirmed (as
    /// `peers_after`).
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
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    since: Timestamp,
    before: Snapshot,
    at: Snapshot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Status {
    Active,
    Lost,
}

#[derive(Clone, Default, Serialize, Deserialize)]
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
    /// The baseline learned from announcements (no RIB): see [`Warmup`].
    #[serde(default)]
    warmup: Warmup,
    /// A hole in some collector's data began here and conclusions wait for its end.
    #[serde(default)]
    blind_from: Option<Timestamp>,
    /// While disconnected: the fewest peer ASNs that saw the AS, and via which upstreams, so
    /// `restored` counts from the outage (not from the climb back, already half way up).
    #[serde(default)]
    dark_low: Option<(usize, BTreeMap<u32, usize>)>,
}

/// Without a RIB, who sees an AS is learned from announcements, and the number of eligible
/// peers known to see it climbs for a while (on the real 2008-02-24 excerpt from 3 to 36 in
/// the first 45 minutes). Visibility measured against a baseline still climbing is not a
/// loss: with `--min-duration 0s` that excerpt reported AS17557 `disconnected` at 18:21 and
/// 18:24, 14 minutes into the data, while it was visible throughout. So no loss is concluded
/// until the number of eligible peers has not grown for [`WARMUP_STABLE_SECS`] of data; after
/// that the baseline stays established.
#[derive(Clone, Default, Serialize, Deserialize)]
struct Warmup {
    /// Most eligible peers seen so far, and when that number last grew.
    most_eligible: usize,
    grew_at: Option<Timestamp>,
    established: bool,
}

/// How long the eligible count must hold still before a baseline learned without a RIB is
/// trusted: one RouteViews update file's span.
pub const WARMUP_STABLE_SECS: i64 = 15 * 60;

impl Warmup {
    /// Whether the baseline is still forming at this snapshot.
    fn forming(&mut self, snap: &Snapshot) -> bool {
        if !snap.partial || self.established {
            return false;
        }
        if snap.eligible > self.most_eligible || self.grew_at.is_none() {
            self.most_eligible = self.most_eligible.max(snap.eligible);
            self.grew_at = Some(snap.time);
        }
        let stable = self
            .grew_at
            .is_some_and(|t| snap.time.secs - t.secs >= WARMUP_STABLE_SECS);
        self.established = stable;
        !stable
    }
}

/// Serialisable so that `monitor` can stop between runs and go on where it was.
#[derive(Clone, Serialize, Deserialize)]
pub struct Detector {
    rules: DetectRules,
    per_as: BTreeMap<u32, AsDetect>,
    events: Vec<Event>,
    /// Events before this index have their evidence filled.
    filled: usize,
}

impl Detector {
    pub fn new(rules: DetectRules) -> Self {
        Detector {
            rules,
            per_as: BTreeMap::new(),
            events: Vec::new(),
            filled: 0,
        }
    }

    /// Take in a new visibility snapshot of one AS.
    pub fn observe(&mut self, snap: Snapshot) {
        let rules = self.rules.clone();
        let d = self.per_as.entry(snap.asn).or_default();
        // While a collector whose peers count has a hole, nothing changes: no condition starts
        // or ends on data known to be incomplete. The first look after the hole sees what
        // changed in it, dated with bounds from the hole's start.
        if let Some(since) = snap.blind_since {
            // A RIB's bound arriving meanwhile is kept too: the earlier one wins.
            let earliest = snap.uncertain_since.map_or(since, |u| u.min(since));
            d.blind_from = Some(d.blind_from.map_or(earliest, |b| b.min(earliest)));
            return;
        }
        let mut snap = snap;
        if let Some(hole) = d.blind_from.take() {
            snap.uncertain_since = Some(snap.uncertain_since.map_or(hole, |u| u.min(hole)));
        }
        // The residual is taken of the usual number of eligible peers, so that it does not
        // jitter as single peers come and go.
        let r = rules.max_residual.peers(snap.eligible.max(d.peak_eligible));
        if !d.ready {
            if snap.visible <= r || snap.eligible == 0 {
                d.prev = Some(snap);
                return;
            }
            d.ready = true;
            for (u, peers) in &snap.support {
                if *peers > r {
                    d.activate(*u, *peers);
                }
            }
        }
        let prev = d
            .latest
            .take()
            .or_else(|| d.prev.take())
            .unwrap_or_default();
        d.observe(&snap, &prev, r, &rules);
        if d.disconnected.is_some() {
            d.note_dark(&snap);
        }
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

    /// Give events confirmed since the last call the evidence only the tracker has, as it
    /// stands at `now` (their confirmation).
    pub fn fill_evidence(&mut self, src: &dyn EvidenceSource, now: Timestamp) {
        for e in &mut self.events[self.filled..] {
            let scope = match (e.event, e.upstream, e.prefix) {
                (EventKind::UpstreamLost | EventKind::UpstreamGained, Some(u), _) => {
                    Scope::Upstream(u)
                }
                (EventKind::PrefixDark, _, Some(p)) => Scope::Prefix(p),
                _ => Scope::All,
            };
            e.evidence.residual_sessions = src.sessions_seeing(e.asn, scope, now);
            match scope {
                Scope::Upstream(u) => e.last_route = src.last_via(e.asn, u),
                Scope::Prefix(p) => e.last_route = src.last_prefix(e.asn, p),
                Scope::All => {
                    for u in &e.evidence_upstreams {
                        if let Some(l) = src.last_via(e.asn, *u) {
                            e.last_seen_via.insert(*u, l);
                        }
                    }
                }
            }
        }
        self.filled = self.events.len();
    }

    /// The events confirmed (and given their evidence) so far, in time order; they are not
    /// returned again.
    pub fn take_events(&mut self) -> Vec<Event> {
        let mut done: Vec<Event> = self.events.drain(..self.filled).collect();
        self.filled = 0;
        done.sort_by_key(|e| (e.time, e.asn, e.event));
        done
    }

    pub fn rules(&self) -> &DetectRules {
        &self.rules
    }

    /// Replace the rules (a monitor's thresholds may change between runs).
    pub fn set_rules(&mut self, rules: DetectRules) {
        self.rules = rules;
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
        self.events.sort_by_key(|e| (e.time, e.asn, e.event));
        (self.events, pending)
    }
}

impl AsDetect {
    fn observe(&mut self, snap: &Snapshot, prev: &Snapshot, r: usize, rules: &DetectRules) {
        let visible = snap.visible;
        let eligible = snap.eligible;
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
        let forming = self.warmup.forming(snap);
        if connected {
            track(&mut self.disc, not_visible && !forming, snap, prev);
            let floor = self.noise_floor(rules);
            let suppressed = not_visible || too_few || forming;
            self.track_upstreams(snap, prev, r, suppressed, floor);
            self.track_prefixes(snap, prev, r, suppressed, floor);
        } else {
            let need =
                ((rules.restore_fraction * self.peak_visible as f64).ceil() as usize).max(r + 1);
            track(&mut self.restore, visible >= need && !too_few, snap, prev);
        }
        self.track_new_upstreams(snap, prev, r);
    }

    /// Keep the lowest visibility seen while disconnected.
    fn note_dark(&mut self, snap: &Snapshot) {
        if self
            .dark_low
            .as_ref()
            .is_none_or(|(n, _)| snap.visible < *n)
        {
            self.dark_low = Some((snap.visible, snap.carrying()));
        }
    }

    /// How many peers must have seen an upstream (or a prefix) for its loss to be news:
    /// `--min-peers`, or half the usual number of eligible peers when that is fewer. An
    /// upstream half the peers use is an upstream however few peers a collector has; one
    /// peer's alternate path among forty is not.
    fn noise_floor(&self, rules: &DetectRules) -> usize {
        rules.min_peers.min(self.peak_eligible.div_ceil(2)).max(1)
    }

    /// An upstream counts as carrying the AS (again) with `peers` behind it: its peak starts
    /// there, so that losing it is an event even when no snapshot comes between its return and
    /// its loss (all its routes withdrawn within one second: the lab's BMP routers did that).
    fn activate(&mut self, u: u32, peers: usize) {
        self.upstreams.insert(u, Status::Active);
        let peak = self.upstream_peak.entry(u).or_default();
        *peak = (*peak).max(peers);
    }

    fn track_upstreams(
        &mut self,
        snap: &Snapshot,
        prev: &Snapshot,
        r: usize,
        suppressed: bool,
        floor: usize,
    ) {
        let active: Vec<u32> = self
            .upstreams
            .iter()
            .filter(|(_, s)| **s == Status::Active)
            .map(|(u, _)| *u)
            .collect();
        for u in active {
            let support = snap.support_of(u);
            let peak = self.upstream_peak.entry(u).or_default();
            *peak = (*peak).max(support);
            // Only an upstream that carried the AS beyond the residual can be lost; one learned
            // while few peers counted may never have.
            let carried = *peak > r && *peak >= floor;
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
                if self.upstreams[u] == Status::Lost && *peers > r && self.disconnected.is_none() {
                    // A known upstream carrying the AS again: not news.
                    self.activate(*u, *peers);
                }
                continue;
            }
            if snap.partial && !self.ever_disconnected && self.disconnected.is_none() {
                // Without a RIB the baseline is learned from announcements.
                if *peers > r {
                    self.activate(*u, *peers);
                }
                continue;
            }
            let mut slot = self.gained.remove(u);
            track(&mut slot, *peers > r, snap, prev);
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
        floor: usize,
    ) {
        // A prefix is watched for darkness once it is seen widely: by more than the residual
        // and by at least half as many peers as see the AS at its best. Prefixes only a few
        // peers ever see (partial transit, local routes) say nothing when they flicker.
        let wide = (self.peak_visible.div_ceil(2)).max(r + 1).max(floor);
        for (p, peers) in &snap.per_prefix {
            let lit = *peers > r;
            if self.lit.contains(p) {
                let peak = self.prefix_peak.entry(*p).or_default();
                *peak = (*peak).max(*peers);
            }
            if self.dark.contains(p) {
                if *peers >= wide {
                    self.dark.remove(p);
                    self.lit.insert(*p);
                }
                continue;
            }
            if !self.lit.contains(p) {
                if *peers >= wide {
                    self.lit.insert(*p);
                    self.prefix_peak.insert(*p, *peers);
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
        if due(&self.inconclusive)
            && !self.inconclusive_reported
            && let Some(p) = self.inconclusive.take()
        {
            self.inconclusive_reported = true;
            events.push(inconclusive_event(asn, &p, p.since.plus_secs(min), rules));
        }
        if due(&self.disc)
            && let Some(p) = self.disc.take()
        {
            let mut e = disconnected_event(asn, &p, p.since.plus_secs(min));
            e.evidence.peers_before = e.evidence.peers_before.max(self.peak_visible);
            // Every upstream that carried the AS at its baseline: when each was last seen.
            for (u, status) in &self.upstreams {
                if *status == Status::Active && !e.evidence_upstreams.contains(u) {
                    e.evidence_upstreams.push(*u);
                }
            }
            events.push(e);
            self.disconnected = Some(p.since);
            self.ever_disconnected = true;
            self.dark_low = None;
            self.note_dark(&p.at);
            for s in self.upstreams.values_mut() {
                *s = Status::Lost;
            }
            self.lost.clear();
            self.dark_pending.clear();
        }
        if due(&self.restore)
            && let Some(p) = self.restore.take()
        {
            let outage = self.disconnected.map(|d| p.since.secs - d.secs);
            let mut e = restored_event(asn, &p, p.since.plus_secs(min), outage);
            if let Some((visible, upstreams)) = self.dark_low.take() {
                e.evidence.peers_before = visible;
                e.evidence.upstreams_before = upstreams;
            }
            events.push(e);
            self.disconnected = None;
            self.peak_visible = p.at.visible;
            for (u, peers) in &p.at.support {
                if *peers > 0 && self.upstreams.contains_key(u) {
                    self.activate(*u, *peers);
                }
            }
        }
        for u in due_keys(&self.lost, now, min) {
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
        for u in due_keys(&self.gained, now, min) {
            if let Some(p) = self.gained.remove(&u) {
                events.push(upstream_event(
                    EventKind::UpstreamGained,
                    asn,
                    u,
                    &p,
                    p.since.plus_secs(min),
                    r_of(&p, rules),
                ));
                self.activate(u, p.at.support.get(&u).copied().unwrap_or(0));
            }
        }
        for pfx in due_keys(&self.dark_pending, now, min) {
            if let Some(p) = self.dark_pending.remove(&pfx) {
                let peak = self.prefix_peak.remove(&pfx).unwrap_or(0);
                let mut e = prefix_event(asn, pfx, &p, p.since.plus_secs(min));
                e.evidence.peers_before = e.evidence.peers_before.max(peak);
                events.push(e);
                self.lit.remove(&pfx);
                self.dark.insert(pfx);
            }
        }
        // "After" is at confirmation for every count, so the per-upstream numbers agree with
        // the total beside them.
        if let Some(latest) = &self.latest {
            for e in &mut events[first_new..] {
                e.evidence.upstreams_after = latest.carrying();
                e.evidence.peers_after = match (e.event, e.upstream, e.prefix) {
                    (EventKind::UpstreamLost | EventKind::UpstreamGained, Some(u), _) => {
                        latest.support_of(u)
                    }
                    (EventKind::PrefixDark, _, Some(p)) => latest.prefix_count(&p),
                    _ => latest.visible,
                };
            }
        }
    }
}

/// The keys of conditions that have held for `min` seconds by `now`.
fn due_keys<K: Copy + Ord>(pending: &BTreeMap<K, Pending>, now: Timestamp, min: i64) -> Vec<K> {
    pending
        .iter()
        .filter(|(_, p)| now.secs - p.since.secs >= min)
        .map(|(k, _)| *k)
        .collect()
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
        eligible_peers: p.at.eligible,
        upstreams_before: p.before.carrying(),
        upstreams_after: p.at.carrying(),
        collectors_before: p
            .before
            .collectors
            .iter()
            .map(ToString::to_string)
            .collect(),
        residual_sessions: Vec::new(),
        not_counted: p.at.noise.clone(),
        confirmed_at: confirmed,
        partial_baseline: p.at.partial,
    }
}

fn base_event(kind: EventKind, asn: u32, p: &Pending, ev: Evidence) -> Event {
    let mut e = Event::new(kind, asn, p.since, ev);
    e.time_bounds =
        p.at.uncertain_since
            .filter(|earliest| *earliest < p.since)
            .map(|earliest| [earliest, p.since]);
    e
}

fn disconnected_event(asn: u32, p: &Pending, now: Timestamp) -> Event {
    let last_upstreams: Vec<u32> = p.before.carrying().into_keys().collect();
    let mut e = base_event(
        EventKind::Disconnected,
        asn,
        p,
        evidence(p, now, p.before.visible, p.at.visible),
    );
    e.evidence_upstreams = last_upstreams.clone();
    e.last_upstreams = Some(last_upstreams);
    e
}

fn restored_event(asn: u32, p: &Pending, now: Timestamp, outage: Option<i64>) -> Event {
    let mut e = base_event(
        EventKind::Restored,
        asn,
        p,
        evidence(p, now, p.before.visible, p.at.visible),
    );
    e.upstreams = Some(p.at.carrying().into_keys().collect());
    e.outage_secs = outage;
    e
}

/// The residual in force when a pending condition began.
fn r_of(p: &Pending, rules: &DetectRules) -> usize {
    rules.max_residual.peers(p.at.eligible)
}

fn upstream_event(
    kind: EventKind,
    asn: u32,
    u: u32,
    p: &Pending,
    now: Timestamp,
    r: usize,
) -> Event {
    let count = |s: &Snapshot| s.support_of(u);
    let mut e = base_event(
        kind,
        asn,
        p,
        evidence(p, now, count(&p.before), count(&p.at)),
    );
    e.upstream = Some(u);
    // The upstreams that carry the AS now (beyond the residual).
    e.upstreams = Some(
        p.at.support
            .iter()
            .filter(|(x, s)| **s > r || (**x == u && kind == EventKind::UpstreamGained))
            .map(|(x, _)| *x)
            .collect(),
    );
    e
}

fn prefix_event(asn: u32, pfx: Prefix, p: &Pending, now: Timestamp) -> Event {
    let count = |s: &Snapshot| s.prefix_count(&pfx);
    let mut e = base_event(
        EventKind::PrefixDark,
        asn,
        p,
        evidence(p, now, count(&p.before), count(&p.at)),
    );
    e.prefix = Some(pfx);
    e
}

fn inconclusive_event(asn: u32, p: &Pending, now: Timestamp, rules: &DetectRules) -> Event {
    let reason =
        p.at.noise
            .iter()
            .max_by_key(|(_, v)| **v)
            .map(|(k, v)| match k {
                Noise::SessionDown => format!("{v} peer(s) had their sessions down"),
                Noise::MassWithdrawal => {
                    format!("{v} peer(s) withdrew a large share of their whole table")
                }
                Noise::Silent => format!("{v} peer(s) went silent"),
                Noise::MissingFiles => {
                    format!("files are missing or unreadable for {v} peer(s)")
                }
            })
            .unwrap_or_else(|| format!("fewer than {} eligible peers", rules.min_peers));
    let mut e = base_event(
        EventKind::Inconclusive,
        asn,
        p,
        evidence(p, now, p.before.visible, p.at.visible),
    );
    e.reason = Some(format!(
        "visibility fell, but only {} peer ASNs count: {reason}",
        p.at.eligible
    ));
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CollectorId, PeerId};
    use crate::parse::RouteAttrs;
    use crate::state::{EligibilityRules, Msg, TableSize, Tracker};
    use std::sync::Arc;

    const A: u32 = 64500;

    fn peer(i: u32) -> PeerId {
        PeerId {
            collector: CollectorId::new("c"),
            ip: format!("10.0.0.{i}").parse().expect("ip"),
            asn: 65000 + i,
        }
    }

    fn attrs(path: &str) -> Arc<RouteAttrs> {
        Arc::new(RouteAttrs {
            path: path.parse().expect("path"),
            ..RouteAttrs::default()
        })
    }

    fn pfx() -> Prefix {
        "192.0.2.0/24".parse().expect("prefix")
    }

    fn v4_table(n: u64) -> TableSize {
        TableSize { v4: n, v6: 0 }
    }

    /// Feeds messages to the tracker and detector as `scan` does.
    struct Harness {
        tracker: Tracker,
        detector: Detector,
        now: Timestamp,
        /// Peers that keep talking every minute.
        peers: u32,
    }

    impl Harness {
        /// `n` full-feed peers with 1000-route tables; peer i reaches A via `upstream(i)`.
        fn new(n: u32, upstream: impl Fn(u32) -> u32, min_duration_secs: i64) -> Self {
            let rules = EligibilityRules {
                full_feed_fraction: 0.8,
                silence_secs: 3600,
                mass_withdrawal_fraction: 0.1,
                mass_window_secs: 300,
                assumed_table_size: 1000,
                exclude_asns: vec![],
                exclude_ips: vec![],
            };
            let detect = DetectRules {
                min_duration_secs,
                max_residual: Residual::Peers(0),
                restore_fraction: 0.5,
                min_peers: 3,
            };
            let mut h = Harness {
                tracker: Tracker::new(rules, &[A], &[]),
                detector: Detector::new(detect),
                now: Timestamp::from_secs(0),
                peers: n,
            };
            h.send(Msg::RibBegin {
                time: h.now,
                collector: CollectorId::new("c"),
            });
            for i in 1..=n {
                let a = attrs(&format!("{} {} {A}", 65000 + i, upstream(i)));
                h.send(Msg::RibRoute {
                    time: h.now,
                    peer: peer(i),
                    prefix: pfx(),
                    attrs: a,
                    file: 0,
                });
            }
            let tables = (1..=n).map(|i| (peer(i), v4_table(1000))).collect();
            h.send(Msg::RibEnd {
                time: h.now,
                collector: CollectorId::new("c"),
                tables,
            });
            h
        }

        fn send(&mut self, m: Msg) {
            let t = m.time();
            if t.secs > self.now.secs {
                for s in self.tracker.take_snapshots(self.now) {
                    self.detector.observe(s);
                }
                self.detector.advance(t);
                self.detector.fill_evidence(&self.tracker, self.now);
                self.now = t;
            }
            self.tracker.apply(m);
        }

        /// Every peer says something each minute (it is alive), withdrawing `wd(i)` routes.
        fn minute(&mut self, n: u32, wd: impl Fn(u32) -> u32) {
            let t = self.now.plus_secs(60);
            for i in 1..=n {
                self.send(Msg::Activity {
                    time: t,
                    peer: peer(i),
                    messages: 1 + wd(i),
                    withdrawals: wd(i),
                });
            }
        }

        fn withdraw(&mut self, i: u32, at: i64) {
            self.send(Msg::Route {
                time: Timestamp::from_secs(at),
                peer: peer(i),
                prefix: pfx(),
                attrs: None,
                file: 0,
            });
        }

        fn announce(&mut self, i: u32, at: i64, path: &str) {
            self.send(Msg::Route {
                time: Timestamp::from_secs(at),
                peer: peer(i),
                prefix: pfx(),
                attrs: Some(attrs(path)),
                file: 0,
            });
        }

        fn finish(mut self, until: i64) -> Vec<Event> {
            while self.now.secs < until {
                self.minute(self.peers, |_| 0);
            }
            for s in self.tracker.take_snapshots(self.now) {
                self.detector.observe(s);
            }
            self.detector.advance(self.now);
            self.detector.fill_evidence(&self.tracker, self.now);
            self.detector.finish(Some(self.now)).0
        }
    }

    fn kinds(events: &[Event]) -> Vec<&'static str> {
        events.iter().map(|e| e.event.name()).collect()
    }

    #[test]
    fn everyone_withdrawing_is_a_disconnection_dated_by_the_last_withdrawal() {
        let mut h = Harness::new(6, |i| if i <= 3 { 3549 } else { 6939 }, 900);
        h.minute(6, |_| 0);
        for i in 1..=6 {
            h.withdraw(i, 100 + i64::from(i));
        }
        let events = h.finish(3000);
        assert_eq!(kinds(&events), ["disconnected"]);
        assert_eq!(events[0].time, Timestamp::from_secs(106));
        assert_eq!(events[0].last_upstreams, Some(vec![6939]));
        assert_eq!(
            events[0].last_seen_via.get(&3549).and_then(|l| l.until),
            Some(Timestamp::from_secs(103))
        );
        assert_eq!(
            events[0].evidence.confirmed_at,
            Timestamp::from_secs(106 + 900)
        );
    }

    #[test]
    fn a_flap_shorter_than_the_minimum_duration_is_no_event() {
        let mut h = Harness::new(6, |_| 3549, 900);
        for i in 1..=6 {
            h.withdraw(i, 100);
        }
        h.minute(6, |_| 0);
        for i in 1..=6 {
            h.announce(i, 400, &format!("{} 3549 {A}", 65000 + i));
        }
        assert!(h.finish(3000).is_empty());
    }

    #[test]
    fn one_upstream_going_while_another_carries_on_is_upstream_lost() {
        let mut h = Harness::new(6, |i| if i <= 3 { 3549 } else { 6939 }, 900);
        for i in 1..=3 {
            h.announce(i, 100 + i64::from(i), &format!("{} 6939 {A}", 65000 + i));
        }
        let events = h.finish(3000);
        assert_eq!(kinds(&events), ["upstream_lost"]);
        assert_eq!(events[0].upstream, Some(3549));
        assert_eq!(events[0].time, Timestamp::from_secs(103));
        assert_eq!(events[0].upstreams, Some(vec![6939]));
        assert_eq!(events[0].evidence.peers_before, 3);
    }

    /// An upstream that came back and is lost again within one second (no snapshot between
    /// its return and its loss) is lost again.
    #[test]
    fn an_upstream_back_and_lost_again_at_once_is_lost_again() {
        let mut h = Harness::new(6, |i| if i <= 3 { 3549 } else { 6939 }, 0);
        for i in 1..=3 {
            h.withdraw(i, 100);
        }
        for i in 1..=3 {
            h.announce(i, 200, &format!("{} 3549 {A}", 65000 + i));
        }
        for i in 1..=3 {
            h.withdraw(i, 300);
        }
        let events = h.finish(3000);
        assert_eq!(
            kinds(&events),
            ["upstream_lost", "upstream_lost"],
            "{events:#?}"
        );
        assert_eq!(events[1].time, Timestamp::from_secs(300));
        assert_eq!(events[1].evidence.peers_before, 3);
    }

    fn hole(h: &mut Harness, at: i64) {
        h.send(Msg::Gap {
            time: Timestamp::from_secs(at),
            collector: CollectorId::new("c"),
            reason: "missing".into(),
            hole: true,
        });
    }

    /// Jump to `at`, every peer speaking there: the collector's first words after a hole.
    fn speak_at(h: &mut Harness, at: i64) {
        for i in 1..=h.peers {
            h.send(Msg::Activity {
                time: Timestamp::from_secs(at),
                peer: peer(i),
                messages: 1,
                withdrawals: 0,
            });
        }
    }

    /// A hole in the only collector's data blinds nothing for hours and raises no
    /// `inconclusive`: visibility was the same before and after it.
    #[test]
    fn a_hole_with_nothing_changed_across_it_is_no_event() {
        let mut h = Harness::new(6, |_| 3549, 900);
        h.minute(6, |_| 0);
        hole(&mut h, 120);
        speak_at(&mut h, 1020);
        let events = h.finish(5000);
        assert!(events.is_empty(), "{events:#?}");
    }

    /// What changed inside a hole is first seen after it: the event is dated by its latest
    /// bound and carries the interval.
    #[test]
    fn a_change_first_seen_after_a_hole_has_time_bounds() {
        let mut h = Harness::new(6, |i| if i <= 3 { 3549 } else { 6939 }, 900);
        h.minute(6, |_| 0);
        hole(&mut h, 120);
        // The last three routes via AS3549 are found gone when the collector speaks again.
        for i in 1..=3 {
            h.announce(i, 1020, &format!("{} 6939 {A}", 65000 + i));
        }
        let events = h.finish(5000);
        assert_eq!(kinds(&events), ["upstream_lost"], "{events:#?}");
        assert_eq!(events[0].time, Timestamp::from_secs(1020));
        assert_eq!(
            events[0].time_bounds,
            Some([Timestamp::from_secs(120), Timestamp::from_secs(1020)])
        );
    }

    /// A change seen by its own message, away from any hole, has an exact time.
    #[test]
    fn a_change_after_the_collector_spoke_again_is_exact() {
        let mut h = Harness::new(6, |i| if i <= 3 { 3549 } else { 6939 }, 900);
        h.minute(6, |_| 0);
        hole(&mut h, 120);
        speak_at(&mut h, 1020);
        h.minute(6, |_| 0);
        for i in 1..=3 {
            h.announce(i, 1200 + i64::from(i), &format!("{} 6939 {A}", 65000 + i));
        }
        let events = h.finish(5000);
        assert_eq!(kinds(&events), ["upstream_lost"], "{events:#?}");
        assert_eq!(events[0].time, Timestamp::from_secs(1203));
        assert_eq!(events[0].time_bounds, None);
    }

    /// Peers 1–3 re-send a 1000-route table (`per_minute` announcements in each of the
    /// minutes ending at `minutes`), then everyone speaks at the ordinary rate.
    fn resend(h: &mut Harness, minutes: &[i64], per_minute: u32) {
        for &at in minutes {
            for i in 1..=3 {
                h.send(Msg::Activity {
                    time: Timestamp::from_secs(at),
                    peer: peer(i),
                    messages: per_minute,
                    withdrawals: 0,
                });
            }
        }
        h.minute(6, |_| 0);
    }

    /// A table re-sent without the watched route (a session reset the collector did not
    /// record) withdraws it implicitly: at an unknown moment between the peers' last
    /// ordinary minute and the end of the re-send.
    #[test]
    fn a_table_resent_without_the_route_withdraws_it_with_bounds() {
        let mut h = Harness::new(6, |i| if i <= 3 { 3549 } else { 6939 }, 900);
        h.minute(6, |_| 0);
        resend(&mut h, &[179, 239], 300);
        let events = h.finish(5000);
        assert_eq!(kinds(&events), ["upstream_lost"], "{events:#?}");
        assert_eq!(events[0].upstream, Some(3549));
        assert_eq!(events[0].time, Timestamp::from_secs(299));
        assert_eq!(
            events[0].time_bounds,
            Some([Timestamp::from_secs(60), Timestamp::from_secs(299)])
        );
        let last = events[0].last_route.as_ref().expect("evidence");
        assert_eq!(last.until, Some(Timestamp::from_secs(299)));
        assert_eq!(last.file, None, "no message ended it");
    }

    /// Routes re-sent during the run stay; so do all routes after a burst too small to be a
    /// whole table (a path change re-announces only what changed).
    #[test]
    fn a_route_resent_or_a_burst_short_of_a_table_withdraws_nothing() {
        let mut h = Harness::new(6, |_| 3549, 900);
        h.minute(6, |_| 0);
        for i in 1..=3 {
            h.announce(i, 150, &format!("{} 3549 {A}", 65000 + i));
        }
        resend(&mut h, &[179, 239], 300);
        resend(&mut h, &[419], 400);
        let events = h.finish(5000);
        assert!(events.is_empty(), "{events:#?}");
    }

    /// A re-send followed by silence ends when the stream moves a minute past it.
    #[test]
    fn a_resend_followed_by_silence_still_ends() {
        let mut h = Harness::new(6, |i| if i <= 3 { 3549 } else { 6939 }, 900);
        h.minute(6, |_| 0);
        for at in [179, 239] {
            for i in 1..=3 {
                h.send(Msg::Activity {
                    time: Timestamp::from_secs(at),
                    peer: peer(i),
                    messages: 300,
                    withdrawals: 0,
                });
            }
        }
        for i in 4..=6 {
            h.send(Msg::Activity {
                time: Timestamp::from_secs(359),
                peer: peer(i),
                messages: 1,
                withdrawals: 0,
            });
        }
        let events = h.finish(5000);
        assert_eq!(kinds(&events), ["upstream_lost"], "{events:#?}");
        assert_eq!(events[0].time, Timestamp::from_secs(359));
    }

    /// Where a RIB disagrees with the updates, the change happened between the last message
    /// for the route and the dump.
    #[test]
    fn a_rib_that_disagrees_with_the_updates_dates_the_change_with_bounds() {
        let mut h = Harness::new(6, |i| if i <= 3 { 3549 } else { 6939 }, 900);
        h.minute(6, |_| 0);
        for i in 1..=3 {
            h.announce(i, 200, &format!("{} 3549 {A}", 65000 + i));
        }
        h.minute(6, |_| 0);
        let dump = Timestamp::from_secs(7200);
        h.send(Msg::RibBegin {
            time: dump,
            collector: CollectorId::new("c"),
        });
        for i in 1..=6 {
            h.send(Msg::RibRoute {
                time: dump,
                peer: peer(i),
                prefix: pfx(),
                attrs: attrs(&format!("{} 6939 {A}", 65000 + i)),
                file: 0,
            });
        }
        let tables = (1..=6).map(|i| (peer(i), v4_table(1000))).collect();
        h.send(Msg::RibEnd {
            time: dump,
            collector: CollectorId::new("c"),
            tables,
        });
        let events = h.finish(10_000);
        let lost: Vec<&Event> = events
            .iter()
            .filter(|e| e.event == EventKind::UpstreamLost)
            .collect();
        assert_eq!(lost.len(), 1, "{events:#?}");
        assert_eq!(lost[0].time, dump);
        assert_eq!(lost[0].time_bounds, Some([Timestamp::from_secs(200), dump]));
    }

    /// With few eligible peers an upstream half of them use is still an upstream: its loss is
    /// news even though fewer than `--min-peers` (3) peers ever saw it.
    #[test]
    fn an_upstream_half_of_few_peers_use_can_be_lost() {
        let mut h = Harness::new(4, |i| if i <= 2 { 3549 } else { 6939 }, 900);
        for i in 1..=2 {
            h.announce(i, 100 + i64::from(i), &format!("{} 6939 {A}", 65000 + i));
        }
        let events = h.finish(3000);
        assert_eq!(kinds(&events), ["upstream_lost"], "{events:#?}");
        assert_eq!(events[0].upstream, Some(3549));
        assert_eq!(events[0].time, Timestamp::from_secs(102));
    }

    /// One peer's alternate path among forty is not an upstream whose loss is news.
    #[test]
    fn one_peers_alternate_path_among_forty_is_not_news() {
        let mut h = Harness::new(40, |i| if i == 1 { 35908 } else { 3549 }, 900);
        h.announce(1, 100, &format!("{} 3549 {A}", 65001));
        let events = h.finish(3000);
        assert!(events.is_empty(), "{events:#?}");
    }

    /// The same floor for prefixes: with four peers a prefix two of them see going dark is
    /// news; with forty, a prefix one peer sees is not.
    #[test]
    fn the_prefix_noise_floor_scales_with_the_peers() {
        let other: Prefix = "198.51.100.0/24".parse().expect("prefix");
        let run = |n: u32, seeing: u32| {
            let mut h = Harness::new(n, |_| 3549, 900);
            for i in 1..=seeing {
                h.send(Msg::Route {
                    time: Timestamp::from_secs(30),
                    peer: peer(i),
                    prefix: other,
                    attrs: Some(attrs(&format!("{} 3549 {A}", 65000 + i))),
                    file: 0,
                });
            }
            h.minute(n, |_| 0);
            for i in 1..=seeing {
                h.send(Msg::Route {
                    time: Timestamp::from_secs(200),
                    peer: peer(i),
                    prefix: other,
                    attrs: None,
                    file: 0,
                });
            }
            h.finish(3000)
        };
        let few = run(4, 2);
        assert_eq!(kinds(&few), ["prefix_dark"], "{few:#?}");
        assert_eq!(few[0].prefix, Some(other));
        let many = run(40, 1);
        assert!(many.is_empty(), "{many:#?}");
    }

    /// Without a RIB the baseline is learned from announcements: while the number of peers
    /// known to see the AS is still climbing, withdrawals are no loss; once it has held still
    /// for `WARMUP_STABLE_SECS`, the same withdrawals are a disconnection.
    #[test]
    fn no_loss_while_a_baseline_without_a_rib_is_forming() {
        let detect = DetectRules {
            min_duration_secs: 0,
            max_residual: Residual::Peers(0),
            restore_fraction: 0.5,
            min_peers: 3,
        };
        let mut h = Harness {
            tracker: Tracker::new(EligibilityRules::default(), &[A], &[]),
            detector: Detector::new(detect),
            now: Timestamp::from_secs(0),
            peers: 6,
        };
        let path = |i: u32| format!("{} 3549 {A}", 65000 + i);
        // Peers are heard from one a minute: the baseline climbs to 6.
        for i in 1..=6 {
            h.announce(i, 60 * i64::from(i), &path(i));
        }
        // Four minutes later, before it held still for 15: everyone withdraws, then returns.
        for i in 1..=6 {
            h.withdraw(i, 600 + i64::from(i));
        }
        for i in 1..=6 {
            h.announce(i, 700 + i64::from(i), &path(i));
        }
        // Long after it settled, the same withdrawals are news.
        h.minute(6, |_| 0);
        for i in 1..=6 {
            h.withdraw(i, 3000 + i64::from(i));
        }
        let events = h.finish(4000);
        assert_eq!(kinds(&events), ["disconnected"], "{events:#?}");
        assert_eq!(events[0].time, Timestamp::from_secs(3006));
        assert!(events[0].evidence.partial_baseline);
    }

    #[test]
    fn session_resets_are_not_withdrawals() {
        let mut h = Harness::new(6, |_| 3549, 0);
        // Four of six sessions drop: their routes go, but they leave the count too.
        for i in 1..=4 {
            h.send(Msg::State {
                time: Timestamp::from_secs(100),
                peer: peer(i),
                old: 6,
                new: 1,
            });
        }
        let events = h.finish(3000);
        assert!(!kinds(&events).contains(&"disconnected"), "{events:#?}");
        assert_eq!(
            kinds(&events),
            ["inconclusive"],
            "too few peers left to judge"
        );
        assert!(
            events[0]
                .reason
                .as_deref()
                .unwrap_or("")
                .contains("sessions down")
        );
    }

    #[test]
    fn mass_withdrawals_are_local_events_not_evidence() {
        // Four of six peers withdraw their whole table (A included) within a minute, as a
        // peer does when its router restarts without the session dropping; then the last two
        // withdraw A. Counting the four as evidence would make that a disconnection.
        let mut h = Harness::new(6, |_| 3549, 0);
        h.minute(6, |_| 0);
        for i in 1..=4 {
            h.withdraw(i, 130);
        }
        h.minute(6, |i| if i <= 4 { 1000 } else { 0 });
        for i in 5..=6 {
            h.withdraw(i, 200);
        }
        for i in 1..=4 {
            h.announce(i, 400, &format!("{} 3549 {A}", 65000 + i));
        }
        let events = h.finish(3000);
        assert_eq!(kinds(&events), ["inconclusive"], "{events:#?}");
        assert!(
            events[0]
                .reason
                .as_deref()
                .unwrap_or("")
                .contains("withdrew a large share")
        );
        // Two of six stopping for a local reason leaves enough peers: the four others
        // withdrawing A alone is evidence.
        let mut h = Harness::new(6, |_| 3549, 900);
        h.minute(6, |_| 0);
        for i in 1..=2 {
            h.withdraw(i, 130);
        }
        h.minute(6, |i| if i <= 2 { 1000 } else { 0 });
        for i in 3..=6 {
            h.withdraw(i, 200);
        }
        let events = h.finish(3000);
        assert_eq!(kinds(&events), ["disconnected"]);
        assert_eq!(events[0].time, Timestamp::from_secs(200));
    }

    #[test]
    fn a_return_through_a_new_upstream_is_restored_and_gained() {
        let mut h = Harness::new(6, |_| 3549, 900);
        for i in 1..=6 {
            h.withdraw(i, 100);
        }
        for _ in 0..20 {
            h.minute(6, |_| 0);
        }
        for i in 1..=5 {
            h.announce(i, 5000 + i64::from(i), &format!("{} 1299 {A}", 65000 + i));
        }
        let events = h.finish(9000);
        assert_eq!(
            kinds(&events),
            ["disconnected", "upstream_gained", "restored"],
            "{events:#?}"
        );
        assert_eq!(events[1].upstream, Some(1299));
        assert_eq!(events[1].time, Timestamp::from_secs(5001));
        assert_eq!(
            events[2].time,
            Timestamp::from_secs(5003),
            "3 of 6 is half the baseline"
        );
        assert_eq!(events[2].outage_secs, Some(4903));
        // Counted from the outage (0 peers), not from the climb back; the per-upstream
        // numbers are those of the total beside them, at confirmation.
        let ev = &events[2].evidence;
        assert_eq!((ev.peers_before, ev.peers_after), (0, 5));
        assert!(ev.upstreams_before.is_empty(), "{ev:?}");
        assert_eq!(ev.upstreams_after.get(&1299), Some(&5));
        let gained = &events[1].evidence;
        assert_eq!(gained.upstreams_after.get(&1299), Some(&gained.peers_after));
    }

    #[test]
    fn residuals_parse_as_counts_or_shares() {
        assert_eq!("2".parse::<Residual>(), Ok(Residual::Peers(2)));
        assert_eq!("5%".parse::<Residual>(), Ok(Residual::Percent(5.0)));
        assert_eq!(Residual::Percent(5.0).peers(45), 2);
        assert_eq!(Residual::Peers(0).peers(45), 0);
        assert!("x".parse::<Residual>().is_err());
        assert!("150%".parse::<Residual>().is_err());
    }
}
