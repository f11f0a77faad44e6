//! Routing state: per session, per watched prefix, the current route, its origin and
//! upstream; per session, whether it counts (docs/METHOD.md §2: eligible peers). Its output is a
//! [`Snapshot`] of one watched AS's visibility, the border type the detector consumes.

use crate::model::{CollectorId, Origin, PeerId, Prefix, Timestamp};
use crate::parse::{ESTABLISHED, RouteAttrs};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

/// What the parse threads send, already filtered to watched prefixes (plus per-peer counters
/// and session events). One collector's messages arrive in file order.
#[derive(Debug, Clone)]
pub enum Msg {
    /// Announcement (`attrs` set) or withdrawal (`attrs` None) of a watched prefix.
    Route {
        time: Timestamp,
        peer: PeerId,
        prefix: Prefix,
        attrs: Option<Arc<RouteAttrs>>,
        file: u32,
    },
    /// A route of a RIB dump (between `RibBegin` and `RibEnd` of its collector).
    RibRoute {
        time: Timestamp,
        peer: PeerId,
        prefix: Prefix,
        attrs: Arc<RouteAttrs>,
        file: u32,
    },
    State {
        time: Timestamp,
        peer: PeerId,
        old: u16,
        new: u16,
    },
    RibBegin {
        time: Timestamp,
        collector: CollectorId,
    },
    /// End of a RIB dump, with every session's table size (all prefixes, not only watched).
    RibEnd {
        time: Timestamp,
        collector: CollectorId,
        tables: Vec<(PeerId, TableSize)>,
    },
    /// One minute of one session's messages (all prefixes): liveness and mass withdrawals.
    Activity {
        time: Timestamp,
        peer: PeerId,
        messages: u32,
        withdrawals: u32,
    },
    /// Part of a collector's input is missing or unreadable from `time` on. A `hole` in the
    /// update stream lasts until the collector speaks again; otherwise (a RIB cut short) the
    /// dump being read is dropped and the updates go on.
    Gap {
        time: Timestamp,
        collector: CollectorId,
        reason: String,
        hole: bool,
    },
}

impl Msg {
    /// The end of `collector`'s RIB dump with each session's table size, sessions in order
    /// (so a dump's message is the same however its table was counted).
    pub fn rib_end(
        time: Timestamp,
        collector: &CollectorId,
        sizes: impl IntoIterator<Item = ((std::net::IpAddr, u32), TableSize)>,
    ) -> Msg {
        let mut tables: Vec<(PeerId, TableSize)> = sizes
            .into_iter()
            .map(|((ip, asn), size)| {
                let peer = PeerId {
                    collector: collector.clone(),
                    ip,
                    asn,
                };
                (peer, size)
            })
            .collect();
        tables.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Msg::RibEnd {
            time,
            collector: collector.clone(),
            tables,
        }
    }

    pub fn time(&self) -> Timestamp {
        match self {
            Msg::Route { time, .. }
            | Msg::RibRoute { time, .. }
            | Msg::State { time, .. }
            | Msg::RibBegin { time, .. }
            | Msg::RibEnd { time, .. }
            | Msg::Activity { time, .. }
            | Msg::Gap { time, .. } => *time,
        }
    }

    /// The collector the message comes from.
    pub fn collector(&self) -> &CollectorId {
        match self {
            Msg::Route { peer, .. }
            | Msg::RibRoute { peer, .. }
            | Msg::State { peer, .. }
            | Msg::Activity { peer, .. } => &peer.collector,
            Msg::RibBegin { collector, .. }
            | Msg::RibEnd { collector, .. }
            | Msg::Gap { collector, .. } => collector,
        }
    }
}

/// A session's table in a RIB dump: its prefixes in each address family. A full feed is judged
/// per family (an IPv6 table is a fifth of an IPv4 one), so the two are counted apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSize {
    pub v4: u64,
    pub v6: u64,
}

impl TableSize {
    /// Count one prefix of the table.
    pub fn add(&mut self, prefix: &Prefix) {
        match prefix {
            Prefix::V4(_) => self.v4 += 1,
            Prefix::V6(_) => self.v6 += 1,
        }
    }
    pub fn total(&self) -> u64 {
        self.v4 + self.v6
    }
}

/// The address families of a watched AS's prefixes: the full feeds that count for it are those
/// of these families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Families {
    v4: bool,
    v6: bool,
}

impl Families {
    /// The families of `prefixes`; both while none is known yet (any full feed may see it).
    fn of<'a>(prefixes: impl IntoIterator<Item = &'a Prefix>) -> Self {
        let mut f = Families {
            v4: false,
            v6: false,
        };
        for p in prefixes {
            match p {
                Prefix::V4(_) => f.v4 = true,
                Prefix::V6(_) => f.v6 = true,
            }
            if f.v4 && f.v6 {
                break;
            }
        }
        if !f.v4 && !f.v6 {
            f = Families { v4: true, v6: true };
        }
        f
    }
}

/// The rules that decide which sessions count (docs/METHOD.md §2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EligibilityRules {
    /// Full feed: table ≥ this fraction of the median of the 10 largest tables of the RIB, in
    /// the same address family.
    pub full_feed_fraction: f64,
    /// A session silent for longer than this (seconds) stops counting.
    pub silence_secs: i64,
    /// A session withdrawing at least this fraction of its table within `mass_window_secs`
    /// is having a local event.
    pub mass_withdrawal_fraction: f64,
    pub mass_window_secs: i64,
    /// Table size assumed for sessions without a RIB (for the mass-withdrawal rule).
    pub assumed_table_size: u64,
    /// Peers excluded by the user, by ASN or IP.
    pub exclude_asns: Vec<u32>,
    pub exclude_ips: Vec<std::net::IpAddr>,
}

/// The year whose table size is assumed when neither files nor `--from` tell one.
pub const DEFAULT_YEAR: i32 = 2008;

/// Approximate IPv4 full-table size by year, used only for the mass-withdrawal rule when no
/// RIB gives a peer's real table size (the summary says so).
pub fn typical_table_size(year: i32) -> u64 {
    const POINTS: [(i32, u64); 8] = [
        (1999, 60_000),
        (2002, 110_000),
        (2005, 160_000),
        (2008, 250_000),
        (2011, 350_000),
        (2014, 500_000),
        (2020, 800_000),
        (2026, 1_050_000),
    ];
    let y = year.clamp(POINTS[0].0, POINTS[POINTS.len() - 1].0);
    POINTS
        .windows(2)
        .find(|w| y >= w[0].0 && y <= w[1].0)
        .map(|w| {
            let (y0, v0) = w[0];
            let (y1, v1) = w[1];
            v0 + (v1 - v0) * (y - y0) as u64 / (y1 - y0) as u64
        })
        .unwrap_or(250_000)
}

impl Default for EligibilityRules {
    /// The one place the eligibility defaults are written. The assumed table size is that of
    /// [`DEFAULT_YEAR`]; scans set the one of their first file's year.
    fn default() -> Self {
        EligibilityRules {
            full_feed_fraction: 0.8,
            silence_secs: 3600,
            mass_withdrawal_fraction: 0.1,
            mass_window_secs: 300,
            assumed_table_size: typical_table_size(DEFAULT_YEAR),
            exclude_asns: Vec::new(),
            exclude_ips: Vec::new(),
        }
    }
}

/// Why a session that would carry a watched AS does not count right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Noise {
    SessionDown,
    MassWithdrawal,
    Silent,
    MissingFiles,
}

/// The last route seen via an upstream (or to a prefix), for evidence.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LastRoute {
    /// When the route stopped being carried; `None` while it still is.
    pub until: Option<Timestamp>,
    pub announced: Timestamp,
    pub collector: String,
    pub peer_ip: String,
    pub peer_asn: u32,
    pub path: String,
    /// The file of the message that ended it (or announced it, while carried).
    pub file: Option<String>,
}

/// Visibility of one watched AS at one moment: what the detector reasons about. Counts are
/// of distinct peer ASNs; who exactly, and the last routes, are asked of the tracker
/// ([`EvidenceSource`]) only when an event is confirmed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub asn: u32,
    pub time: Timestamp,
    /// Peer ASNs that count (eligible) for this AS.
    pub eligible: usize,
    /// Eligible peer ASNs with a route to any prefix of the AS.
    pub visible: usize,
    /// Upstream → eligible peer ASNs whose route goes through it.
    pub support: BTreeMap<u32, usize>,
    /// Prefix → eligible peer ASNs with a route to it (originated by the AS).
    pub per_prefix: BTreeMap<Prefix, usize>,
    /// Peer ASNs that carried the AS but do not count now, by reason.
    pub noise: BTreeMap<Noise, usize>,
    /// Collectors whose peers see the AS.
    pub collectors: BTreeSet<CollectorId>,
    /// No RIB was read for some collector: eligibility and baseline come from announcements.
    pub partial: bool,
    /// A collector whose peers would count has had a hole in its data since this time: no
    /// conclusion can be drawn until it speaks again.
    #[serde(default)]
    pub blind_since: Option<Timestamp>,
    /// A change first seen in this snapshot may have happened at any moment since this time
    /// (after a hole, or where a RIB disagreed with the updates): its time has bounds.
    #[serde(default)]
    pub uncertain_since: Option<Timestamp>,
}

impl Snapshot {
    pub fn support_of(&self, upstream: u32) -> usize {
        self.support.get(&upstream).copied().unwrap_or(0)
    }
    pub fn prefix_count(&self, prefix: &Prefix) -> usize {
        self.per_prefix.get(prefix).copied().unwrap_or(0)
    }
    /// Upstreams carrying the AS at at least one peer, with their support.
    pub fn carrying(&self) -> BTreeMap<u32, usize> {
        self.support
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(u, n)| (*u, *n))
            .collect()
    }
}

/// The last route seen via an upstream or to a prefix, kept cheaply until an event needs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LastSeen {
    session: usize,
    attrs: Arc<RouteAttrs>,
    announced: Timestamp,
    until: Option<Timestamp>,
    file: u32,
}

#[derive(Clone, Serialize, Deserialize)]
struct RouteInfo {
    origin: Origin,
    upstream: Option<u32>,
    attrs: Arc<RouteAttrs>,
    time: Timestamp,
}

#[derive(Clone, Serialize, Deserialize)]
struct Session {
    id: PeerId,
    /// All prefixes of its table in the last RIB (for the mass-withdrawal rule).
    table_size: Option<u64>,
    /// A full IPv4 table in the last RIB (named as before IPv6 was judged apart, so that a
    /// monitor's saved state still reads).
    #[serde(rename = "full_feed")]
    full_feed_v4: Option<bool>,
    /// A full IPv6 table in the last RIB.
    #[serde(default)]
    full_feed_v6: Option<bool>,
    established: bool,
    /// After a reset or a mass withdrawal: counts again from this time on.
    settling_until: Option<Timestamp>,
    settling_reason: Option<Noise>,
    last_activity: Option<Timestamp>,
    withdrawals: VecDeque<(Timestamp, u32)>,
    /// The run of busy minutes this session is in, if any (see [`AnnouncementRun`]).
    #[serde(default)]
    run: Option<AnnouncementRun>,
    /// The end of the last minute in which this session spoke at its ordinary rate.
    #[serde(default)]
    last_calm: Option<Timestamp>,
}

impl Session {
    /// Whether it has a full table in one of `families`: `None` while no RIB has said (and one
    /// family is unknown without the other saying yes).
    fn full_feed_in(&self, families: Families) -> Option<bool> {
        let judged = [
            (families.v4, self.full_feed_v4),
            (families.v6, self.full_feed_v6),
        ];
        let wanted = judged.iter().filter(|(w, _)| *w).map(|(_, f)| *f);
        if wanted.clone().any(|f| f == Some(true)) {
            Some(true)
        } else if wanted.clone().any(|f| f.is_none()) {
            None
        } else {
            Some(false)
        }
    }
}

/// A peer that re-sends its table after a session reset the collector did not record (no
/// STATE_CHANGE: route-views2 in 2008, GoBGP) re-announces its whole table in a few minutes;
/// the routes it does not re-send are gone, though nothing withdraws them. On the real
/// route-views2 data of 2008-02-20 and 2008-02-24 (docs/METHOD.md §4), AS3277's re-sends
/// announce 243k and 378k prefixes in runs of 4 and 12 minutes of at least 8.7k a minute,
/// about one to one and a half tables; the largest burst of any other peer on those days
/// (path changes, which leave the routes not re-announced in place) is 66k in 30 minutes,
/// 27% of a table, and at most 51k (20%) in one run. A run of minutes with at least
/// [`BUSY_MINUTE_SHARE`] of the table each that adds up to [`RESEND_SHARE`] of it is a re-send.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct AnnouncementRun {
    /// The start of its first minute: routes last announced before this were not re-sent.
    start: Timestamp,
    last_minute: i64,
    announced: u64,
    /// The end of the session's last ordinary minute before the run.
    calm_before: Option<Timestamp>,
}

/// A busy minute: at least this share of the session's table announced in it.
const BUSY_MINUTE_SHARE: f64 = 0.01;
/// A run of busy minutes announcing at least this share of the table re-sent it.
const RESEND_SHARE: f64 = 0.5;
/// Evidence of a route that no message ended (an implicit withdrawal) names no file.
const NO_FILE: u32 = u32::MAX;

#[derive(Clone, Default, Serialize, Deserialize)]
struct CollectorState {
    has_rib: bool,
    /// A hole in the update stream began here; it ends when the collector speaks again.
    missing_since: Option<Timestamp>,
    /// When this collector's view was last known whole: its first message, or its last RIB.
    #[serde(default)]
    known_since: Option<Timestamp>,
    #[serde(with = "crate::model::pairs_opt")]
    rib_pending: Option<HashMap<(usize, Prefix), RouteInfo>>,
}

#[derive(Clone, Default, Serialize, Deserialize)]
struct WatchedAs {
    prefixes: BTreeSet<Prefix>,
    /// Sessions seen carrying this AS (eligibility without a RIB).
    carriers: BTreeSet<usize>,
    last_via: BTreeMap<u32, LastSeen>,
    last_prefix: BTreeMap<Prefix, LastSeen>,
    dirty: bool,
    /// A RIB disagreed with the updates for this AS's routes: the change it made happened at
    /// an unknown moment since this time (taken by the next snapshot).
    #[serde(default)]
    uncertain_since: Option<Timestamp>,
}

/// The routing state of every session for the watched prefixes. Serialisable so that
/// `monitor` can stop between runs and go on where it was.
#[derive(Clone, Serialize, Deserialize)]
pub struct Tracker {
    rules: EligibilityRules,
    sessions: Vec<Session>,
    #[serde(with = "crate::model::pairs")]
    session_index: HashMap<PeerId, usize>,
    routes: HashMap<Prefix, HashMap<usize, RouteInfo>>,
    collectors: HashMap<CollectorId, CollectorState>,
    watched: BTreeMap<u32, WatchedAs>,
    files: Vec<String>,
    last_eval_minute: i64,
    /// Sessions in a run of busy minutes (a possible table re-send), until it ends.
    #[serde(default)]
    open_runs: BTreeSet<usize>,
}

impl Tracker {
    pub fn new(rules: EligibilityRules, asns: &[u32], prefixes: &[Prefix]) -> Self {
        let mut watched = BTreeMap::new();
        for &a in asns {
            let w: &mut WatchedAs = watched.entry(a).or_default();
            w.prefixes.extend(prefixes.iter().copied());
        }
        Tracker {
            rules,
            sessions: Vec::new(),
            session_index: HashMap::new(),
            routes: HashMap::new(),
            collectors: HashMap::new(),
            watched,
            files: Vec::new(),
            last_eval_minute: i64::MIN,
            open_runs: BTreeSet::new(),
        }
    }

    /// Register the names of the files about to be read; `Msg::Route::file` indices count
    /// from the returned base.
    pub fn add_files(&mut self, names: impl IntoIterator<Item = String>) -> u32 {
        let base = self.files.len() as u32;
        self.files.extend(names);
        base
    }

    /// Forget the names of files no evidence refers to, so a state kept for months by
    /// `monitor` does not grow with every file read. Call between reads, never during one.
    pub fn compact_files(&mut self) {
        let mut keep: BTreeMap<u32, u32> = BTreeMap::new();
        for w in self.watched.values() {
            for l in w.last_via.values().chain(w.last_prefix.values()) {
                if l.file != NO_FILE {
                    keep.insert(l.file, 0);
                }
            }
        }
        let mut names = Vec::with_capacity(keep.len());
        for (old, new) in keep.iter_mut() {
            *new = names.len() as u32;
            names.push(self.files.get(*old as usize).cloned().unwrap_or_default());
        }
        for w in self.watched.values_mut() {
            for l in w.last_via.values_mut().chain(w.last_prefix.values_mut()) {
                if l.file != NO_FILE {
                    l.file = keep.get(&l.file).copied().unwrap_or(0);
                }
            }
        }
        self.files = names;
    }

    /// Every prefix of the watched ASes known so far (given, or seen originated by them): the
    /// filter of a later read must keep their withdrawals, which name no origin.
    pub fn known_prefixes(&self) -> BTreeSet<Prefix> {
        self.watched
            .values()
            .flat_map(|w| w.prefixes.iter().copied())
            .collect()
    }

    /// Replace the rules (a monitor's thresholds may change between runs).
    pub fn set_rules(&mut self, rules: EligibilityRules) {
        self.rules = rules;
    }

    fn session(&mut self, peer: &PeerId) -> usize {
        if let Some(&i) = self.session_index.get(peer) {
            return i;
        }
        let i = self.sessions.len();
        self.sessions.push(Session {
            id: peer.clone(),
            table_size: None,
            full_feed_v4: None,
            full_feed_v6: None,
            established: true,
            settling_until: None,
            settling_reason: None,
            last_activity: None,
            withdrawals: VecDeque::new(),
            run: None,
            last_calm: None,
        });
        self.session_index.insert(peer.clone(), i);
        i
    }

    pub fn apply(&mut self, msg: Msg) {
        match msg {
            Msg::Route {
                time,
                peer,
                prefix,
                attrs,
                file,
            } => self.apply_route(time, &peer, prefix, attrs, file),
            Msg::RibRoute {
                time,
                peer,
                prefix,
                attrs,
                ..
            } => {
                let s = self.session(&peer);
                let info = route_info(attrs, time);
                self.note_prefix_owner(&info, prefix);
                if let Some(pending) = self
                    .collectors
                    .entry(peer.collector.clone())
                    .or_default()
                    .rib_pending
                    .as_mut()
                {
                    pending.insert((s, prefix), info);
                }
            }
            Msg::State {
                time,
                peer,
                old,
                new,
            } => self.apply_state(time, &peer, old, new),
            Msg::RibBegin { collector, .. } => {
                self.collectors.entry(collector).or_default().rib_pending = Some(HashMap::new());
            }
            Msg::RibEnd {
                time,
                collector,
                tables,
            } => self.apply_rib_end(time, collector, tables),
            Msg::Activity {
                time,
                peer,
                messages,
                withdrawals,
            } => self.apply_activity(time, &peer, messages, withdrawals),
            Msg::Gap {
                time,
                collector,
                hole,
                ..
            } => {
                let c = self.collectors.entry(collector).or_default();
                if hole {
                    c.missing_since.get_or_insert(time);
                } else {
                    c.rib_pending = None;
                }
                self.mark_all_dirty();
            }
        }
    }

    /// Announcements originated by a watched AS add their prefix to its set.
    fn note_prefix_owner(&mut self, info: &RouteInfo, prefix: Prefix) {
        let owners: Vec<u32> = match &info.origin {
            Origin::As(a) => vec![*a],
            Origin::Uncertain(set) => set.clone(),
            Origin::None => vec![],
        };
        for a in owners {
            if let Some(w) = self.watched.get_mut(&a)
                && w.prefixes.insert(prefix)
            {
                w.dirty = true;
            }
        }
    }

    fn apply_route(
        &mut self,
        time: Timestamp,
        peer: &PeerId,
        prefix: Prefix,
        attrs: Option<Arc<RouteAttrs>>,
        file: u32,
    ) {
        self.end_hole(&peer.collector, time);
        let s = self.session(peer);
        self.touch(s, time);
        let new = attrs.map(|a| route_info(a, time));
        if let Some(info) = &new {
            self.note_prefix_owner(info, prefix);
        }
        let old = match &new {
            Some(_) => None,
            None => self.routes.get_mut(&prefix).and_then(|m| m.remove(&s)),
        };
        let replaced = match new {
            Some(info) => self.routes.entry(prefix).or_default().insert(s, info),
            None => old,
        };
        // Evidence: when a route of a watched AS ends, remember it as the last one seen.
        if let Some(gone) = replaced {
            self.remember_end(s, prefix, &gone, time, file);
        }
        let current = self.routes.get(&prefix).and_then(|m| m.get(&s));
        if let Some(info) = current {
            let ann = LastSeen {
                session: s,
                attrs: info.attrs.clone(),
                announced: info.time,
                until: None,
                file,
            };
            for w in self
                .watched
                .iter_mut()
                .filter(|(a, _)| info_ends_in(info, **a))
                .map(|(_, w)| w)
            {
                w.carriers.insert(s);
                if let Some(u) = info.upstream {
                    w.last_via.insert(u, ann.clone());
                }
                w.last_prefix.insert(prefix, ann.clone());
            }
        }
        for w in self.watched.values_mut() {
            if w.prefixes.contains(&prefix) {
                w.dirty = true;
            }
        }
    }

    fn remember_end(
        &mut self,
        s: usize,
        prefix: Prefix,
        gone: &RouteInfo,
        time: Timestamp,
        file: u32,
    ) {
        let ended = LastSeen {
            session: s,
            attrs: gone.attrs.clone(),
            announced: gone.time,
            until: Some(time),
            file,
        };
        for (a, w) in self.watched.iter_mut() {
            if !info_ends_in(gone, *a) {
                continue;
            }
            if let Some(u) = gone.upstream {
                w.last_via.insert(u, ended.clone());
            }
            w.last_prefix.insert(prefix, ended.clone());
        }
    }

    fn last_route(&self, l: &LastSeen) -> LastRoute {
        let id = &self.sessions[l.session].id;
        LastRoute {
            until: l.until,
            announced: l.announced,
            collector: id.collector.to_string(),
            peer_ip: id.ip.to_string(),
            peer_asn: id.asn,
            path: l.attrs.path.to_string(),
            file: self.files.get(l.file as usize).cloned(),
        }
    }

    fn touch(&mut self, s: usize, time: Timestamp) {
        let sess = &mut self.sessions[s];
        if sess.last_activity.is_none_or(|t| t < time) {
            sess.last_activity = Some(time);
        }
    }

    /// A collector that speaks again after a hole counts again. Its first words must fall in
    /// a later minute than the hole began: a stream's per-minute counters are stamped at the
    /// end of their minute and may still belong to the data before the hole.
    fn end_hole(&mut self, collector: &CollectorId, time: Timestamp) {
        let Some(c) = self.collectors.get_mut(collector) else {
            // First words of this collector (looking first spares a clone per message).
            let first = CollectorState {
                known_since: Some(time),
                ..CollectorState::default()
            };
            self.collectors.insert(collector.clone(), first);
            return;
        };
        c.known_since.get_or_insert(time);
        let ended = c
            .missing_since
            .is_some_and(|t| time.secs / 60 > t.secs / 60);
        if ended {
            c.missing_since = None;
            self.mark_all_dirty();
        }
    }

    fn apply_state(&mut self, time: Timestamp, peer: &PeerId, old: u16, new: u16) {
        self.end_hole(&peer.collector, time);
        // BIRD writes some state changes with an unspecified peer address: if one session of
        // that collector has that ASN, it is that session's.
        let s = if peer.ip.is_unspecified() {
            let same_asn: Vec<usize> = self
                .sessions
                .iter()
                .enumerate()
                .filter(|(_, x)| {
                    x.id.collector == peer.collector
                        && x.id.asn == peer.asn
                        && !x.id.ip.is_unspecified()
                })
                .map(|(i, _)| i)
                .collect();
            match same_asn.as_slice() {
                [only] => *only,
                _ => self.session(peer),
            }
        } else {
            self.session(peer)
        };
        self.touch(s, time);
        let sess = &mut self.sessions[s];
        if new == ESTABLISHED {
            sess.established = true;
            // It counts again once it has had time to re-send its table.
            sess.settling_until = Some(time.plus_secs(self.rules.mass_window_secs));
            sess.settling_reason = Some(Noise::SessionDown);
        } else if old == ESTABLISHED || sess.established {
            // The session's routes are gone with it: not withdrawals, not evidence.
            sess.established = false;
            for m in self.routes.values_mut() {
                m.remove(&s);
            }
        }
        self.mark_all_dirty();
    }

    fn apply_activity(&mut self, time: Timestamp, peer: &PeerId, messages: u32, withdrawals: u32) {
        self.end_hole(&peer.collector, time);
        let s = self.session(peer);
        if messages > 0 {
            self.touch(s, time);
        }
        let window = self.rules.mass_window_secs;
        let table = self.sessions[s]
            .table_size
            .unwrap_or(self.rules.assumed_table_size)
            .max(1);
        let fraction = self.rules.mass_withdrawal_fraction;
        let sess = &mut self.sessions[s];
        sess.withdrawals.push_back((time, withdrawals));
        while sess
            .withdrawals
            .front()
            .is_some_and(|(t, _)| t.secs <= time.secs - window)
        {
            sess.withdrawals.pop_front();
        }
        let burst: u64 = sess.withdrawals.iter().map(|(_, n)| u64::from(*n)).sum();
        if burst as f64 >= fraction * table as f64 {
            // A local event at this peer: its withdrawals say nothing about the watched ASes.
            sess.settling_until = Some(time.plus_secs(window));
            sess.settling_reason = Some(Noise::MassWithdrawal);
            self.mark_all_dirty();
        }
        self.follow_run(s, time, messages.saturating_sub(withdrawals), table);
        // Re-evaluate time-based eligibility (silence, settling) once per minute of data.
        let minute = time.secs / 60;
        if minute != self.last_eval_minute {
            self.last_eval_minute = minute;
            self.close_quiet_runs(time);
            self.mark_all_dirty();
        }
    }

    /// Follow session `s`'s runs of busy minutes: one minute of its activity, `announced`
    /// prefixes in it. A calm minute, or a minute not next to the run's last, ends the run.
    fn follow_run(&mut self, s: usize, time: Timestamp, announced: u32, table: u64) {
        let minute = time.secs.div_euclid(60);
        let busy = f64::from(announced) >= BUSY_MINUTE_SHARE * table as f64;
        let sess = &mut self.sessions[s];
        if busy
            && let Some(run) = sess.run.as_mut()
            && (minute == run.last_minute || minute == run.last_minute + 1)
        {
            run.last_minute = minute;
            run.announced += u64::from(announced);
            return;
        }
        if sess.run.is_some() {
            self.close_run(s, time, table);
        }
        let sess = &mut self.sessions[s];
        if busy {
            sess.run = Some(AnnouncementRun {
                start: Timestamp::from_secs(minute * 60),
                last_minute: minute,
                announced: u64::from(announced),
                calm_before: sess.last_calm,
            });
            self.open_runs.insert(s);
        } else {
            sess.last_calm = Some(time);
        }
    }

    /// Runs whose session fell silent end when the stream has moved a minute past them.
    fn close_quiet_runs(&mut self, now: Timestamp) {
        let minute = now.secs.div_euclid(60);
        let over: Vec<usize> = self
            .open_runs
            .iter()
            .copied()
            .filter(|&s| {
                self.sessions[s]
                    .run
                    .as_ref()
                    .is_some_and(|r| r.last_minute < minute - 1)
            })
            .collect();
        for s in over {
            let table = self.table_of(s);
            self.close_run(s, now, table);
        }
    }

    fn table_of(&self, s: usize) -> u64 {
        self.sessions[s]
            .table_size
            .unwrap_or(self.rules.assumed_table_size)
            .max(1)
    }

    /// End session `s`'s run at `now`. If it re-sent the table, every watched route the
    /// session announced before the run and did not re-send is implicitly withdrawn: at an
    /// unknown moment between its last sign of life (the later of the route's announcement
    /// and the session's last ordinary minute) and now.
    fn close_run(&mut self, s: usize, now: Timestamp, table: u64) {
        self.open_runs.remove(&s);
        let Some(run) = self.sessions[s].run.take() else {
            return;
        };
        if (run.announced as f64) < RESEND_SHARE * table as f64 {
            return;
        }
        let mut stale: Vec<(Prefix, RouteInfo)> = self
            .routes
            .iter_mut()
            .filter_map(|(p, by_session)| {
                let old = by_session.get(&s).is_some_and(|i| i.time < run.start);
                old.then(|| by_session.remove(&s).map(|i| (*p, i)))
                    .flatten()
            })
            .collect();
        // In prefix order, not the map's (random) order: when several routes via one upstream
        // end together, the evidence names the same one on every run.
        stale.sort_unstable_by_key(|(p, _)| *p);
        for (prefix, gone) in stale {
            self.remember_end(s, prefix, &gone, now, NO_FILE);
            let since = run.calm_before.map_or(gone.time, |c| c.max(gone.time));
            for (_, w) in self
                .watched
                .iter_mut()
                .filter(|(a, _)| info_ends_in(&gone, **a))
            {
                w.uncertain_since = Some(w.uncertain_since.map_or(since, |u| u.min(since)));
                w.dirty = true;
            }
        }
    }

    fn apply_rib_end(
        &mut self,
        time: Timestamp,
        collector: CollectorId,
        tables: Vec<(PeerId, TableSize)>,
    ) {
        let v4_threshold = self.full_table_threshold(tables.iter().map(|(_, t)| t.v4));
        let v6_threshold = self.full_table_threshold(tables.iter().map(|(_, t)| t.v6));
        let in_rib: BTreeSet<usize> = tables
            .iter()
            .map(|(peer, t)| {
                let s = self.session(peer);
                let sess = &mut self.sessions[s];
                sess.table_size = Some(t.total());
                sess.full_feed_v4 = Some(t.v4 > 0 && t.v4 as f64 >= v4_threshold);
                sess.full_feed_v6 = Some(t.v6 > 0 && t.v6 as f64 >= v6_threshold);
                sess.established = true;
                sess.settling_until = None;
                sess.last_activity = Some(time);
                s
            })
            .collect();
        for (i, sess) in self.sessions.iter_mut().enumerate() {
            // A session that is down at dump time is absent from the dump whatever its table:
            // it keeps what the last RIB said of it, until a RIB sees it up.
            if sess.id.collector == collector && !in_rib.contains(&i) && sess.established {
                sess.full_feed_v4 = Some(false);
                sess.full_feed_v6 = Some(false);
            }
        }
        let state = self.collectors.entry(collector.clone()).or_default();
        state.has_rib = true;
        state.missing_since = None;
        let known_since = state.known_since.replace(time);
        let pending = state.rib_pending.take().unwrap_or_default();
        // Replace this collector's routes by the dump's.
        let of_collector: BTreeSet<usize> = self
            .sessions
            .iter()
            .enumerate()
            .filter(|(_, s)| s.id.collector == collector)
            .map(|(i, _)| i)
            .collect();
        self.note_rib_disagreement(&of_collector, &pending, known_since);
        for m in self.routes.values_mut() {
            m.retain(|s, _| !of_collector.contains(s));
        }
        for ((s, prefix), info) in pending {
            for w in self
                .watched
                .iter_mut()
                .filter(|(a, _)| info_ends_in(&info, **a))
                .map(|(_, w)| w)
            {
                w.carriers.insert(s);
            }
            self.routes.entry(prefix).or_default().insert(s, info);
        }
        self.mark_all_dirty();
    }

    /// The size a table of one address family must reach to be full: the set fraction of the
    /// median of the 10 largest tables of that family in the RIB, leaving out tables under a
    /// quarter of the largest. The median resists one inflated table (a leak of
    /// more-specifics); leaving out the small ones keeps it right where a family has fewer
    /// than six full feeds (IPv6 at many collectors): otherwise the median of the 10 largest
    /// would be a partial table, and every partial feed would count as full.
    fn full_table_threshold(&self, sizes: impl Iterator<Item = u64>) -> f64 {
        let mut sizes: Vec<u64> = sizes.filter(|n| *n > 0).collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        let largest = sizes.first().copied().unwrap_or(0);
        sizes.truncate(10);
        sizes.retain(|n| n.saturating_mul(4) >= largest);
        let median = sizes.get(sizes.len() / 2).copied().unwrap_or(0);
        self.rules.full_feed_fraction * median as f64
    }

    /// Where a RIB says otherwise than the updates read before it, the change happened at an
    /// unknown moment between the last message for that route (or, for a route the updates
    /// never showed, since the collector's view was last known whole) and the dump. Each
    /// watched AS affected remembers the earliest such moment for its next snapshot.
    fn note_rib_disagreement(
        &mut self,
        of_collector: &BTreeSet<usize>,
        dump: &HashMap<(usize, Prefix), RouteInfo>,
        known_since: Option<Timestamp>,
    ) {
        let mut dumped: HashMap<Prefix, HashMap<usize, &RouteInfo>> = HashMap::new();
        for ((s, p), info) in dump {
            dumped.entry(*p).or_default().insert(*s, info);
        }
        let (empty_old, empty_new) = (HashMap::new(), HashMap::new());
        for (&asn, w) in self.watched.iter_mut() {
            let mut earliest: Option<Timestamp> = None;
            for p in &w.prefixes {
                let before = self.routes.get(p).unwrap_or(&empty_old);
                let after = dumped.get(p).unwrap_or(&empty_new);
                let sessions: BTreeSet<usize> = before
                    .keys()
                    .filter(|s| of_collector.contains(s))
                    .chain(after.keys())
                    .copied()
                    .collect();
                for s in sessions {
                    let (old, new) = (before.get(&s), after.get(&s).copied());
                    let concerns = old.into_iter().chain(new).any(|i| info_ends_in(i, asn));
                    let same =
                        matches!((old, new), (Some(a), Some(b)) if a.attrs.path == b.attrs.path);
                    if concerns && !same {
                        let from = old.map(|i| i.time).or(known_since);
                        earliest = match (earliest, from) {
                            (Some(e), Some(f)) => Some(e.min(f)),
                            (e, f) => e.or(f),
                        };
                    }
                }
            }
            if let Some(e) = earliest {
                w.uncertain_since = Some(w.uncertain_since.map_or(e, |u| u.min(e)));
            }
        }
    }

    fn mark_all_dirty(&mut self) {
        for w in self.watched.values_mut() {
            w.dirty = true;
        }
    }

    /// Why session `s` does not count for `asn` at `now`, or `None` if it counts. `families`
    /// are those of the AS's prefixes (`Families::of(&w.prefixes)`, computed once by the caller).
    fn exclusion(
        &self,
        s: usize,
        asn: u32,
        now: Timestamp,
        w: &WatchedAs,
        families: Families,
    ) -> Option<Exclusion> {
        let sess = &self.sessions[s];
        let id = &sess.id;
        if id.asn == asn
            || self.rules.exclude_asns.contains(&id.asn)
            || self.rules.exclude_ips.contains(&id.ip)
        {
            return Some(Exclusion::NotAPeer);
        }
        match sess.full_feed_in(families) {
            Some(false) => return Some(Exclusion::NotAPeer),
            None if !w.carriers.contains(&s) => return Some(Exclusion::NotAPeer),
            _ => {}
        }
        if self
            .collectors
            .get(&id.collector)
            .is_some_and(|c| c.missing_since.is_some_and(|t| t <= now))
        {
            return Some(Exclusion::Noise(Noise::MissingFiles));
        }
        if !sess.established {
            return Some(Exclusion::Noise(Noise::SessionDown));
        }
        if let (Some(until), Some(reason)) = (sess.settling_until, sess.settling_reason)
            && now < until
        {
            return Some(Exclusion::Noise(reason));
        }
        if sess
            .last_activity
            .is_none_or(|t| now.secs - t.secs > self.rules.silence_secs)
        {
            return Some(Exclusion::Noise(Noise::Silent));
        }
        None
    }

    /// Snapshots of every watched AS whose visibility may have changed, as of `now`.
    pub fn take_snapshots(&mut self, now: Timestamp) -> Vec<Snapshot> {
        let dirty: Vec<u32> = self
            .watched
            .iter()
            .filter(|(_, w)| w.dirty)
            .map(|(a, _)| *a)
            .collect();
        let snaps = dirty.iter().map(|&a| self.snapshot(a, now)).collect();
        for a in dirty {
            if let Some(w) = self.watched.get_mut(&a) {
                w.dirty = false;
                w.uncertain_since = None;
            }
        }
        snaps
    }

    pub fn snapshot(&self, asn: u32, now: Timestamp) -> Snapshot {
        let empty = WatchedAs::default();
        let w = self.watched.get(&asn).unwrap_or(&empty);
        let mut snap = Snapshot {
            asn,
            time: now,
            partial: self.collectors.values().any(|c| !c.has_rib) || self.collectors.is_empty(),
            ..Snapshot::default()
        };
        let families = Families::of(&w.prefixes);
        let mut counted: HashMap<usize, Option<Exclusion>> = HashMap::new();
        let mut eligible: Vec<u32> = Vec::new();
        let mut noise: BTreeMap<Noise, Vec<u32>> = BTreeMap::new();
        for s in w
            .carriers
            .iter()
            .copied()
            .chain(self.full_feed_sessions(families))
        {
            let ex = *counted
                .entry(s)
                .or_insert_with(|| self.exclusion(s, asn, now, w, families));
            match ex {
                None => eligible.push(self.sessions[s].id.asn),
                Some(Exclusion::Noise(n)) => {
                    noise.entry(n).or_default().push(self.sessions[s].id.asn)
                }
                Some(Exclusion::NotAPeer) => {}
            }
        }
        let mut visible: Vec<u32> = Vec::new();
        let mut support: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        let mut seeing: Vec<u32> = Vec::new();
        for p in &w.prefixes {
            seeing.clear();
            if let Some(by_session) = self.routes.get(p) {
                for (&s, info) in by_session {
                    if !info_ends_in(info, asn) {
                        continue;
                    }
                    let ex = *counted
                        .entry(s)
                        .or_insert_with(|| self.exclusion(s, asn, now, w, families));
                    if ex.is_some() {
                        continue;
                    }
                    let id = &self.sessions[s].id;
                    seeing.push(id.asn);
                    if let Some(u) = info.upstream {
                        support.entry(u).or_default().push(id.asn);
                    }
                    if !snap.collectors.contains(&id.collector) {
                        snap.collectors.insert(id.collector.clone());
                    }
                }
            }
            visible.extend_from_slice(&seeing);
            snap.per_prefix.insert(*p, distinct(&mut seeing));
        }
        eligible.extend_from_slice(&visible);
        snap.eligible = distinct(&mut eligible);
        snap.visible = distinct(&mut visible);
        snap.support = support
            .into_iter()
            .map(|(u, mut v)| (u, distinct(&mut v)))
            .collect();
        snap.noise = noise
            .into_iter()
            .map(|(k, mut v)| (k, distinct(&mut v)))
            .collect();
        if snap.noise.contains_key(&Noise::MissingFiles) {
            snap.blind_since = self
                .collectors
                .values()
                .filter_map(|c| c.missing_since)
                .filter(|t| *t <= now)
                .min();
        }
        snap.uncertain_since = w.uncertain_since;
        snap
    }

    /// Sessions (as "collector ip ASn") that count and see `asn` now, within `scope`.
    fn sessions_seeing_now(&self, asn: u32, scope: Scope, now: Timestamp) -> Vec<String> {
        let Some(w) = self.watched.get(&asn) else {
            return Vec::new();
        };
        let families = Families::of(&w.prefixes);
        let mut found = BTreeSet::new();
        for p in &w.prefixes {
            if matches!(scope, Scope::Prefix(q) if q != *p) {
                continue;
            }
            let Some(by_session) = self.routes.get(p) else {
                continue;
            };
            for (&s, info) in by_session {
                let in_scope = match scope {
                    Scope::Upstream(u) => info.upstream == Some(u),
                    _ => true,
                };
                if in_scope
                    && info_ends_in(info, asn)
                    && self.exclusion(s, asn, now, w, families).is_none()
                {
                    found.insert(s);
                }
            }
        }
        found
            .into_iter()
            .map(|s| self.sessions[s].id.to_string())
            .collect()
    }

    /// Sessions with a full table in one of `families`.
    fn full_feed_sessions(&self, families: Families) -> impl Iterator<Item = usize> + '_ {
        self.sessions
            .iter()
            .enumerate()
            .filter(move |(_, s)| s.full_feed_in(families) == Some(true))
            .map(|(i, _)| i)
    }

    /// Sessions known, and how many are full feeds (in either address family), for the summary.
    pub fn session_counts(&self) -> (usize, usize) {
        let either = Families { v4: true, v6: true };
        (self.sessions.len(), self.full_feed_sessions(either).count())
    }
}

#[derive(Debug, Clone, Copy)]
enum Exclusion {
    /// Never counts for this AS (partial feed, the AS itself, excluded by the user).
    NotAPeer,
    Noise(Noise),
}

/// Number of distinct values (sorts `v` in place).
fn distinct(v: &mut [u32]) -> usize {
    v.sort_unstable();
    v.iter()
        .enumerate()
        .filter(|(i, x)| *i == 0 || v[i - 1] != **x)
        .count()
}

/// Where events get the evidence that snapshots do not carry: who exactly still sees the AS
/// and the last routes seen. Asked once per event, at confirmation, by the detector
/// (declared here, below it, so detection depends on state and not the reverse).
pub trait EvidenceSource {
    fn last_via(&self, asn: u32, upstream: u32) -> Option<LastRoute>;
    fn last_prefix(&self, asn: u32, prefix: Prefix) -> Option<LastRoute>;
    fn sessions_seeing(&self, asn: u32, scope: Scope, now: Timestamp) -> Vec<String>;
}

/// Which routes of an AS a question is about.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scope {
    All,
    Prefix(Prefix),
    Upstream(u32),
}

impl EvidenceSource for Tracker {
    fn last_via(&self, asn: u32, upstream: u32) -> Option<LastRoute> {
        self.watched
            .get(&asn)?
            .last_via
            .get(&upstream)
            .map(|l| self.last_route(l))
    }
    fn last_prefix(&self, asn: u32, prefix: Prefix) -> Option<LastRoute> {
        self.watched
            .get(&asn)?
            .last_prefix
            .get(&prefix)
            .map(|l| self.last_route(l))
    }
    fn sessions_seeing(&self, asn: u32, scope: Scope, now: Timestamp) -> Vec<String> {
        self.sessions_seeing_now(asn, scope, now)
    }
}

fn route_info(attrs: Arc<RouteAttrs>, time: Timestamp) -> RouteInfo {
    RouteInfo {
        origin: attrs.path.origin(),
        upstream: attrs.path.upstream(),
        attrs,
        time,
    }
}

fn info_ends_in(info: &RouteInfo, asn: u32) -> bool {
    match &info.origin {
        Origin::As(a) => *a == asn,
        Origin::Uncertain(set) => set.contains(&asn),
        Origin::None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AS: u32 = 64511;
    const DUMP: Timestamp = Timestamp {
        secs: 1_000_000,
        micros: 0,
    };

    fn peer(i: u32) -> PeerId {
        let ip = if i > 10 {
            format!("2001:db8::{i}")
        } else {
            format!("192.0.2.{i}")
        };
        PeerId {
            collector: CollectorId::new("c"),
            ip: ip.parse().expect("ip"),
            asn: 65000 + i,
        }
    }

    /// A collector's RIB: peers 1–10 with IPv4 tables of 1000 (peer 10 also sends 5 IPv6
    /// prefixes), peers 11–13 IPv6-only with 200; peers 4 and 11 carry `AS`'s `prefixes`.
    fn tracker_after_rib(prefixes: &[&str]) -> Tracker {
        let prefixes: Vec<Prefix> = prefixes.iter().map(|p| p.parse().expect("pfx")).collect();
        let mut t = Tracker::new(EligibilityRules::default(), &[AS], &prefixes);
        t.apply(Msg::RibBegin {
            time: DUMP,
            collector: CollectorId::new("c"),
        });
        for i in [4, 11] {
            for p in prefixes.iter().filter(|p| p.addr().is_ipv6() == (i > 10)) {
                t.apply(Msg::RibRoute {
                    time: DUMP,
                    peer: peer(i),
                    prefix: *p,
                    attrs: Arc::new(RouteAttrs {
                        path: format!("{} 3549 {AS}", 65000 + i).parse().expect("path"),
                        ..RouteAttrs::default()
                    }),
                    file: 0,
                });
            }
        }
        let size = |i: u32| match i {
            10 => TableSize { v4: 1000, v6: 5 },
            11.. => TableSize { v4: 0, v6: 200 },
            _ => TableSize { v4: 1000, v6: 0 },
        };
        t.apply(Msg::RibEnd {
            time: DUMP,
            collector: CollectorId::new("c"),
            tables: (1..=13).map(|i| (peer(i), size(i))).collect(),
        });
        t
    }

    fn counts(t: &Tracker) -> (usize, usize) {
        let s = t.snapshot(AS, DUMP);
        (s.eligible, s.visible)
    }

    #[test]
    fn full_feeds_are_judged_per_address_family() {
        // An IPv6 table a fifth of the IPv4 ones is full; five IPv6 prefixes beside a full
        // IPv4 table are not.
        let v6 = tracker_after_rib(&["2001:db8:64::/48"]);
        assert_eq!(counts(&v6), (3, 1), "the three IPv6 full feeds count");
        let v4 = tracker_after_rib(&["100.64.0.0/24"]);
        assert_eq!(counts(&v4), (10, 1), "only the IPv4 full feeds count");
        let both = tracker_after_rib(&["100.64.0.0/24", "2001:db8:64::/48"]);
        assert_eq!(counts(&both), (13, 2));
        assert_eq!(v6.session_counts(), (13, 13));
    }

    #[test]
    fn a_family_with_few_full_feeds_does_not_make_partial_feeds_full() {
        // Two full IPv6 tables (4000) and eight partial ones (80): the median of the 10
        // largest is a partial table, which must not make the partial feeds full.
        let mut t = Tracker::new(EligibilityRules::default(), &[AS], &[]);
        let tables = (11..=20)
            .map(|i| {
                let v6 = if i <= 12 { 4000 } else { 80 };
                (peer(i), TableSize { v4: 0, v6 })
            })
            .collect();
        t.apply(Msg::RibBegin {
            time: DUMP,
            collector: CollectorId::new("c"),
        });
        t.apply(Msg::RibEnd {
            time: DUMP,
            collector: CollectorId::new("c"),
            tables,
        });
        assert_eq!(t.session_counts(), (10, 2));
        // One inflated table (three times the others) does not raise the bar over them.
        let mut t = Tracker::new(EligibilityRules::default(), &[AS], &[]);
        let tables = (1..=10)
            .map(|i| {
                let v4 = if i == 1 { 3000 } else { 1000 };
                (peer(i), TableSize { v4, v6: 0 })
            })
            .collect();
        t.apply(Msg::RibEnd {
            time: DUMP,
            collector: CollectorId::new("c"),
            tables,
        });
        assert_eq!(t.session_counts(), (10, 10));
    }

    #[test]
    fn an_as_without_known_prefixes_counts_full_feeds_of_either_family() {
        let t = tracker_after_rib(&[]);
        assert_eq!(counts(&t), (13, 0));
    }

    #[test]
    fn a_saved_state_from_before_the_families_still_reads() {
        let t = tracker_after_rib(&["100.64.0.0/24"]);
        let mut json = serde_json::to_value(&t).expect("serialises");
        for s in json["sessions"].as_array_mut().expect("sessions") {
            let s = s.as_object_mut().expect("a session");
            assert!(s.contains_key("full_feed"), "IPv4 keeps its old name");
            s.remove("full_feed_v6");
        }
        let old: Tracker = serde_json::from_value(json).expect("reads");
        assert_eq!(counts(&old), (10, 1));
    }
}
