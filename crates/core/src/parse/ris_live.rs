//! RIS Live (<https://ris-live.ripe.net/manual/>) messages as the pipeline needs them: the
//! routes of each UPDATE as the same [`RouteElem`]s MRT files give, a peer's session going up
//! or down, and its keepalives (signs of life when only the watched prefixes are subscribed).
//! Deserialising is bgpkit-parser's (`RisLiveMessage`, `parse_ris_live_message_iter`).
//!
//! Times are the collector's (the message's `timestamp`), as in the MRT files RIS and
//! RouteViews publish from the same sessions: an alert from the live feed and a scan of the
//! archive later date the same withdrawal alike.

use super::{MrtKind, RouteElem, convert_elem};
use crate::model::Timestamp;
use bgpkit_parser::parser::rislive::messages::{RisLiveMessage, RisMessageEnum};
use std::net::IpAddr;

/// One RIS Live peer of one collector (`host`: `rrc00`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RisPeer {
    pub host: String,
    pub ip: IpAddr,
    pub asn: u32,
}

/// What one server message says.
#[derive(Debug)]
pub enum RisEvent {
    /// An UPDATE: every prefix it announces or withdraws.
    Update {
        peer: RisPeer,
        time: Timestamp,
        routes: Vec<RouteElem>,
    },
    /// `RIS_PEER_STATE` (sent as `STATE`): the session is `connected` (true) or `down`.
    PeerState {
        peer: RisPeer,
        time: Timestamp,
        up: bool,
    },
    /// A KEEPALIVE, OPEN or NOTIFICATION: the session is alive, nothing else.
    Alive { peer: RisPeer, time: Timestamp },
    /// `ris_subscribe_ok`: the server took a subscription.
    Subscribed,
    /// `ris_error`: the server refused something.
    ServerError(String),
    /// `pong`, `ris_rrc_list`: nothing to use.
    Other,
}

/// Decode one text frame of the server.
pub fn decode(text: &str) -> Result<RisEvent, String> {
    let msg: RisLiveMessage = serde_json::from_str(text).map_err(|e| {
        format!(
            "not a RIS Live message ({e}): {}",
            text.chars().take(80).collect::<String>()
        )
    })?;
    let m = match msg {
        RisLiveMessage::RisMessage(m) => m,
        RisLiveMessage::RisError(e) => return Ok(RisEvent::ServerError(e.message)),
        RisLiveMessage::RisSubscribeOk(_) => return Ok(RisEvent::Subscribed),
        RisLiveMessage::RisRrcList(_) | RisLiveMessage::Pong(_) => return Ok(RisEvent::Other),
    };
    let time = timestamp_of(m.timestamp)?;
    let peer = RisPeer {
        host: m.host,
        ip: m.peer,
        asn: u32::from(m.peer_asn),
    };
    Ok(match m.msg {
        Some(RisMessageEnum::UPDATE { .. }) => {
            let elems = bgpkit_parser::parser::rislive::parse_ris_live_message_iter(text)
                .map_err(|e| format!("RIS Live UPDATE from {} not read: {e}", peer.host))?;
            let routes = elems
                .map(|e| convert_elem(e, time, MrtKind::Bgp4mp, false, false))
                .collect();
            RisEvent::Update { peer, time, routes }
        }
        Some(RisMessageEnum::RIS_PEER_STATE { state }) => match state.as_str() {
            "connected" => RisEvent::PeerState {
                peer,
                time,
                up: true,
            },
            "down" => RisEvent::PeerState {
                peer,
                time,
                up: false,
            },
            other => {
                return Err(format!(
                    "RIS_PEER_STATE {other:?} from {} not known",
                    peer.host
                ));
            }
        },
        Some(
            RisMessageEnum::KEEPALIVE {}
            | RisMessageEnum::OPEN { .. }
            | RisMessageEnum::NOTIFICATION { .. },
        ) => RisEvent::Alive { peer, time },
        None => {
            return Err(format!(
                "RIS Live message from {} of a type not known: {}",
                peer.host,
                text.chars().take(80).collect::<String>()
            ));
        }
    })
}

/// Seconds since the epoch, with a fraction, as a [`Timestamp`].
fn timestamp_of(t: f64) -> Result<Timestamp, String> {
    if !t.is_finite() || !(0.0..=1e11).contains(&t) {
        return Err(format!("RIS Live timestamp {t} is not a time"));
    }
    let secs = t.floor();
    // Rounded to the microsecond; 0.9999996 rounds up into the next second.
    let micros = ((t - secs) * 1e6).round() as u32;
    Ok(if micros >= 1_000_000 {
        Timestamp {
            secs: secs as i64 + 1,
            micros: 0,
        }
    } else {
        Timestamp {
            secs: secs as i64,
            micros,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::RouteKind;

    const UPDATE: &str = r#"{"type":"ris_message","data":{"timestamp":1203886881.25,"peer":"62.72.136.2","peer_asn":"5413","id":"x","host":"rrc00","type":"UPDATE","path":[5413,3491,17557,17557],"origin":"IGP","announcements":[{"next_hop":"62.72.136.2","prefixes":["208.65.153.0/24","208.65.152.0/22"]}],"withdrawals":["10.0.0.0/8"]}}"#;

    #[test]
    fn an_update_gives_its_announcements_and_withdrawals_at_the_collector_s_time() {
        let RisEvent::Update { peer, time, routes } = decode(UPDATE).expect("read") else {
            panic!("not an update");
        };
        assert_eq!(peer.host, "rrc00");
        assert_eq!(peer.asn, 5413);
        assert_eq!(
            time,
            Timestamp {
                secs: 1_203_886_881,
                micros: 250_000
            }
        );
        let kinds: Vec<_> = routes
            .iter()
            .map(|r| (r.prefix.to_string(), r.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("208.65.153.0/24".to_string(), RouteKind::Announce),
                ("208.65.152.0/22".to_string(), RouteKind::Announce),
                ("10.0.0.0/8".to_string(), RouteKind::Withdraw),
            ]
        );
        let path = &routes[0].attrs.as_ref().expect("attrs").path;
        assert_eq!(path.to_string(), "5413 3491 17557 17557");
        assert!(routes[2].attrs.is_none());
    }

    #[test]
    fn peer_states_as_the_live_stream_and_the_schema_name_them() {
        for ty in ["STATE", "RIS_PEER_STATE"] {
            for (state, want) in [("connected", true), ("down", false)] {
                let text = format!(
                    r#"{{"type":"ris_message","data":{{"timestamp":1.5,"peer":"192.0.2.1","peer_asn":"64500","id":"x","host":"rrc21","type":"{ty}","state":"{state}"}}}}"#
                );
                match decode(&text) {
                    Ok(RisEvent::PeerState { up, .. }) => assert_eq!(up, want, "{text}"),
                    other => panic!("{text}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn garbage_and_server_errors_are_named() {
        let e = decode("{not json").expect_err("garbage");
        assert!(e.contains("not a RIS Live message"), "{e}");
        match decode(r#"{"type":"ris_error","data":{"message":"Unknown host"}}"#) {
            Ok(RisEvent::ServerError(m)) => assert_eq!(m, "Unknown host"),
            other => panic!("{other:?}"),
        }
        let bad_time = UPDATE.replace("1203886881.25", "-3");
        assert!(decode(&bad_time).expect_err("time").contains("not a time"));
    }
}
