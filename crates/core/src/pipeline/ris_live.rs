//! Live input from RIS Live: its messages become the pipeline's [`Msg`]s as a file's reader
//! makes them (filtered to watched prefixes, counted per peer).
//!
//! - Each RIS collector (`host`) is a collector, each of its peers a session; times are the
//!   collector's, so events are dated as a scan of its archive files dates them.
//! - `RIS_PEER_STATE` is session state: a session going down is never a withdrawal of the
//!   routes it takes away.
//! - There is no initial table: eligible peers are learned from the announcements seen
//!   (a partial baseline, as a scan of update files without a RIB).
//! - Counters go out with each batch of messages, stamped with the last message they count.
//!   With a subscription to whole collectors they count every message, as update files do;
//!   with one to the watched prefixes only, they count what was sent (the watched routes and
//!   keepalives): enough to tell a session alive, never enough to call a withdrawal a mass
//!   withdrawal.
//! - A feed that is lost (closed, unreadable, or silent too long) leaves a hole in every
//!   collector it carried: nothing is concluded from them until they speak again, and what
//!   happened meanwhile is never replayed.

use super::live::wanted;
use crate::model::{CollectorId, PeerId, Timestamp};
use crate::parse::ris_live::{RisEvent, RisPeer};
use crate::parse::{ESTABLISHED, RouteKind};
use crate::state::Msg;
use crate::watch::Watch;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// BGP FSM state 1, for a session that went down.
const IDLE: u16 = 1;

/// One RIS Live connection's conversion of events into messages.
pub struct RisLiveFeed {
    watch: Arc<RwLock<Watch>>,
    /// Every collector this feed has carried, for the holes it leaves when lost.
    collectors: BTreeMap<String, CollectorId>,
    counts: FxHashMap<PeerId, (u32, u32)>,
    last_counted: Option<Timestamp>,
}

impl RisLiveFeed {
    pub fn new(watch: Arc<RwLock<Watch>>) -> Self {
        RisLiveFeed {
            watch,
            collectors: BTreeMap::new(),
            counts: FxHashMap::default(),
            last_counted: None,
        }
    }

    /// The collectors heard from so far.
    pub fn collectors(&self) -> impl Iterator<Item = &CollectorId> {
        self.collectors.values()
    }

    fn session(&mut self, p: &RisPeer) -> PeerId {
        let collector = match self.collectors.get(&p.host) {
            Some(c) => c.clone(),
            None => self
                .collectors
                .entry(p.host.clone())
                .or_insert_with(|| CollectorId::new(&p.host))
                .clone(),
        };
        PeerId {
            collector,
            ip: p.ip,
            asn: p.asn,
        }
    }

    fn count(&mut self, peer: &PeerId, time: Timestamp, messages: u32, withdrawals: u32) {
        let c = self.counts.entry(peer.clone()).or_default();
        c.0 += messages;
        c.1 += withdrawals;
        if self.last_counted.is_none_or(|t| t < time) {
            self.last_counted = Some(time);
        }
    }

    /// One event of the feed.
    pub fn take(&mut self, event: RisEvent, out: &mut Vec<Msg>) {
        match event {
            RisEvent::Update { peer, time, routes } => {
                let id = self.session(&peer);
                let withdrawals = routes
                    .iter()
                    .filter(|r| r.kind == RouteKind::Withdraw)
                    .count() as u32;
                self.count(&id, time, routes.len() as u32, withdrawals);
                for r in routes {
                    if wanted(&self.watch, &r) {
                        out.push(Msg::Route {
                            time,
                            peer: id.clone(),
                            prefix: r.prefix,
                            attrs: r.attrs,
                            file: 0,
                        });
                    }
                }
            }
            RisEvent::PeerState { peer, time, up } => {
                let id = self.session(&peer);
                let (old, new) = if up {
                    (IDLE, ESTABLISHED)
                } else {
                    (ESTABLISHED, IDLE)
                };
                out.push(Msg::State {
                    time,
                    peer: id,
                    old,
                    new,
                });
            }
            RisEvent::Alive { peer, time } => {
                let id = self.session(&peer);
                self.count(&id, time, 1, 0);
            }
            RisEvent::Subscribed | RisEvent::ServerError(_) | RisEvent::Other => {}
        }
    }

    /// The end of a batch of messages: the counters go out with the routes they count, so no
    /// snapshot judges a withdrawal without the rest of its peer's burst.
    pub fn end_batch(&mut self, out: &mut Vec<Msg>) {
        let Some(time) = self.last_counted.take() else {
            return;
        };
        let mut by_collector: FxHashMap<CollectorId, Vec<super::partial::PeerCount>> =
            FxHashMap::default();
        for (peer, c) in self.counts.drain() {
            by_collector
                .entry(peer.collector)
                .or_default()
                .push(((peer.ip, peer.asn), c));
        }
        let mut by_collector: Vec<_> = by_collector.into_iter().collect();
        by_collector.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (collector, mut counts) in by_collector {
            counts.sort_unstable();
            out.extend(super::reader::activity_messages(&collector, time, counts));
        }
    }

    /// The feed is lost at `at` (`why`): every collector it carried has a hole from then on.
    pub fn lost(&mut self, at: Timestamp, why: &str, out: &mut Vec<Msg>) {
        self.end_batch(out);
        for c in self.collectors.values() {
            out.push(Msg::Gap {
                time: at,
                collector: c.clone(),
                reason: why.to_string(),
                hole: true,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Prefix;
    use crate::parse::ris_live::decode;

    fn feed() -> RisLiveFeed {
        let p: Prefix = "208.65.153.0/24".parse().expect("prefix");
        RisLiveFeed::new(Arc::new(RwLock::new(Watch::new(vec![17557], vec![p]))))
    }

    fn update(time: f64, prefixes: &str, withdrawals: &str, path: &str) -> String {
        format!(
            r#"{{"type":"ris_message","data":{{"timestamp":{time},"peer":"62.72.136.2","peer_asn":"5413","id":"x","host":"route-views2","type":"UPDATE","path":[{path}],"announcements":[{{"next_hop":"62.72.136.2","prefixes":[{prefixes}]}}],"withdrawals":[{withdrawals}]}}}}"#
        )
    }

    fn run(texts: &[String]) -> Vec<Msg> {
        let mut f = feed();
        let mut out = Vec::new();
        for t in texts {
            f.take(decode(t).expect("read"), &mut out);
        }
        f.end_batch(&mut out);
        out
    }

    #[test]
    fn only_watched_routes_cross_and_every_message_is_counted() {
        let out = run(&[
            update(
                100.0,
                r#""10.0.0.0/8""#,
                r#""11.0.0.0/8""#,
                "5413,701,64500",
            ),
            update(101.5, r#""208.65.153.0/24""#, "", "5413,3491,17557"),
        ]);
        let routes: Vec<_> = out
            .iter()
            .filter_map(|m| match m {
                Msg::Route { prefix, .. } => Some(prefix.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(routes, ["208.65.153.0/24"]);
        let activity: Vec<_> = out
            .iter()
            .filter_map(|m| match m {
                Msg::Activity {
                    time,
                    messages,
                    withdrawals,
                    ..
                } => Some((time.secs, *messages, *withdrawals)),
                _ => None,
            })
            .collect();
        assert_eq!(activity, [(101, 3, 1)]);
    }

    #[test]
    fn a_route_the_watched_as_originates_makes_its_prefix_watched() {
        let out = run(&[
            update(100.0, r#""203.0.113.0/24""#, "", "5413,3491,17557"),
            update(101.0, "", r#""203.0.113.0/24""#, ""),
        ]);
        let routes = out
            .iter()
            .filter(|m| matches!(m, Msg::Route { .. }))
            .count();
        assert_eq!(routes, 2, "the withdrawal of a learned prefix is kept too");
    }

    #[test]
    fn a_peer_going_down_is_a_state_change_and_a_lost_feed_leaves_a_hole() {
        let mut f = feed();
        let mut out = Vec::new();
        let down = r#"{"type":"ris_message","data":{"timestamp":200.0,"peer":"62.72.136.2","peer_asn":"5413","id":"x","host":"rrc00","type":"STATE","state":"down"}}"#;
        f.take(decode(down).expect("read"), &mut out);
        f.lost(Timestamp::from_secs(300), "closed", &mut out);
        assert!(matches!(
            out.as_slice(),
            [
                Msg::State { old: ESTABLISHED, new: IDLE, .. },
                Msg::Gap { hole: true, collector, .. },
            ] if collector.as_str() == "rrc00"
        ));
    }
}
