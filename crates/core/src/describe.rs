//! One sentence per event, for the table and Markdown outputs, the report and alerts.

use crate::detect::{Event, EventKind};

/// One sentence per event, for the table and Markdown outputs; an event whose moment is
/// known only to an interval says so first.
pub fn describe(e: &Event) -> String {
    match e.time_bounds {
        Some(bounds) => format!("{} {}", between(bounds), describe_event(e)),
        None => describe_event(e),
    }
}

/// "Between 21:15:00 and 21:30:12 (not seen in the data):" for an event dated by an interval.
pub fn between(bounds: [crate::model::Timestamp; 2]) -> String {
    let [earliest, latest] = bounds;
    let same_day = earliest.secs.div_euclid(86_400) == latest.secs.div_euclid(86_400);
    let first = if same_day {
        earliest.to_datetime().format("%H:%M:%S").to_string()
    } else {
        earliest
            .to_datetime()
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    format!(
        "Between {first} and {} (the moment itself is not in the data: a hole, or a RIB that disagreed with the updates):",
        latest.to_datetime().format("%H:%M:%S")
    )
}

fn describe_event(e: &Event) -> String {
    let a = e.asn;
    let ev = &e.evidence;
    match e.event {
        EventKind::Disconnected => {
            let ups = e.last_upstreams.clone().unwrap_or_default();
            let last: Vec<String> = e
                .last_seen_via
                .iter()
                .map(|(u, l)| {
                    let when = l
                        .until
                        .map(|t| t.to_datetime().format("%H:%M:%S").to_string())
                        .unwrap_or_else(|| "still".into());
                    format!(
                        "AS{u} last at {when} ({} {} path {})",
                        l.collector, l.peer_ip, l.path
                    )
                })
                .collect();
            format!(
                "AS{a} lost all upstreams{}: {} → {} of {} peer ASNs see it. {}",
                if ups.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (last: {})",
                        ups.iter()
                            .map(|u| format!("AS{u}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
                ev.peers_before,
                ev.peers_after,
                ev.eligible_peers,
                last.join("; ")
            )
        }
        EventKind::Restored => format!(
            "AS{a} visible again via {} at {} of {} peer ASNs{}",
            list_asns(e.upstreams.as_deref().unwrap_or(&[])),
            ev.peers_after,
            ev.eligible_peers,
            e.outage_secs
                .map(|s| format!(", after {} dark", human_duration(s)))
                .unwrap_or_default()
        ),
        EventKind::UpstreamLost => format!(
            "AS{} stopped carrying AS{a}: {} → {} peer ASNs via it; still visible via {}{}",
            e.upstream.unwrap_or(0),
            ev.peers_before,
            ev.peers_after,
            list_asns(e.upstreams.as_deref().unwrap_or(&[])),
            last_route_text(e)
        ),
        EventKind::UpstreamGained => format!(
            "AS{} now carries AS{a} ({} peer ASNs via it)",
            e.upstream.unwrap_or(0),
            ev.peers_after
        ),
        EventKind::PrefixDark => format!(
            "{} of AS{a} is dark: {} → {} peer ASNs see it while AS{a} stays visible{}",
            e.prefix.map(|p| p.to_string()).unwrap_or_default(),
            ev.peers_before,
            ev.peers_after,
            last_route_text(e)
        ),
        EventKind::Inconclusive => format!("AS{a}: {}", e.reason.clone().unwrap_or_default()),
    }
}

fn last_route_text(e: &Event) -> String {
    e.last_route
        .as_ref()
        .map(|l| {
            let when = l
                .until
                .unwrap_or(l.announced)
                .to_datetime()
                .format("%H:%M:%S");
            format!(
                "; last route {} {} path {} at {when}",
                l.collector, l.peer_ip, l.path
            )
        })
        .unwrap_or_default()
}

fn list_asns(asns: &[u32]) -> String {
    if asns.is_empty() {
        return "no upstream".into();
    }
    asns.iter()
        .map(|u| format!("AS{u}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `45m`, `3h05m`, `2d03h05m`: how long an AS was dark.
pub fn human_duration(secs: i64) -> String {
    let (d, h, m) = (secs / 86400, secs % 86400 / 3600, secs % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h{m:02}m"),
        _ => format!("{d}d{h:02}h{m:02}m"),
    }
}
