//! Plain data types shared by every stage: time, collectors, peers, prefixes, AS paths.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

pub use ipnet::IpNet as Prefix;

/// An MRT timestamp: whole seconds plus the microseconds of BGP4MP_ET records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    pub secs: i64,
    pub micros: u32,
}

impl Timestamp {
    pub const fn from_secs(secs: i64) -> Self {
        Timestamp { secs, micros: 0 }
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_opt(self.secs, self.micros * 1000)
            .single()
            .unwrap_or_default()
    }

    /// RFC 3339 in UTC, with microseconds only when the source had them.
    pub fn rfc3339(self) -> String {
        let format = if self.micros == 0 {
            SecondsFormat::Secs
        } else {
            SecondsFormat::Micros
        };
        self.to_datetime().to_rfc3339_opts(format, true)
    }

    pub fn plus_secs(self, secs: i64) -> Self {
        Timestamp {
            secs: self.secs.saturating_add(secs),
            micros: self.micros,
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.rfc3339())
    }
}

impl std::str::FromStr for Timestamp {
    type Err = String;
    /// RFC 3339, the form [`Timestamp::rfc3339`] writes.
    fn from_str(s: &str) -> Result<Self, String> {
        let t = DateTime::parse_from_rfc3339(s).map_err(|e| format!("{s:?}: {e}"))?;
        Ok(Timestamp {
            secs: t.timestamp(),
            micros: t.timestamp_subsec_micros(),
        })
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A route collector such as `route-views2` or `rrc00`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CollectorId(pub Arc<str>);

impl CollectorId {
    pub fn new(name: &str) -> Self {
        CollectorId(Arc::from(name))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CollectorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One BGP session at one collector: the unit that carries routes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PeerId {
    pub collector: CollectorId,
    pub ip: IpAddr,
    pub asn: u32,
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} AS{}", self.collector, self.ip, self.asn)
    }
}

/// One element of an AS path: an AS, or an AS_SET (order-free, uncertain), or a segment of
/// the peer's confederation (RFC 5065), kept so the path reads as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathHop {
    As(u32),
    Set(Vec<u32>),
    /// AS_CONFED_SEQUENCE, printed `(a b)` as bgpdump does.
    ConfedSequence(Vec<u32>),
    /// AS_CONFED_SET, printed `[a,b]` as bgpdump does.
    ConfedSet(Vec<u32>),
}

impl PathHop {
    /// Every AS this hop names.
    pub fn asns(&self) -> &[u32] {
        match self {
            PathHop::As(a) => std::slice::from_ref(a),
            PathHop::Set(v) | PathHop::ConfedSequence(v) | PathHop::ConfedSet(v) => v,
        }
    }

    fn is_confed(&self) -> bool {
        matches!(self, PathHop::ConfedSequence(_) | PathHop::ConfedSet(_))
    }
}

/// An AS path after AS4_PATH merging, as a list of hops.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AsPath(pub Vec<PathHop>);

/// Who originates a route, as far as the path can tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// A plain AS at the end of the path.
    As(u32),
    /// The path ends in an AS_SET: any of these may be the origin.
    Uncertain(Vec<u32>),
    /// Empty path (iBGP or the collector's own route).
    None,
}

impl AsPath {
    /// The hops outside the peer's confederation: confederation segments are internal to the
    /// neighbour and not counted in the path (RFC 5065, 5.3), so they name no origin or upstream.
    fn external(&self) -> impl DoubleEndedIterator<Item = &PathHop> {
        self.0.iter().filter(|h| !h.is_confed())
    }

    /// The path with prepending removed (consecutive repeats of one AS collapsed), without
    /// confederation segments.
    pub fn cleaned(&self) -> Vec<&PathHop> {
        let mut out: Vec<&PathHop> = Vec::with_capacity(self.0.len());
        for hop in self.external() {
            if out.last() != Some(&hop) {
                out.push(hop);
            }
        }
        out
    }

    pub fn origin(&self) -> Origin {
        match self.external().next_back() {
            Some(PathHop::As(a)) => Origin::As(*a),
            Some(PathHop::Set(s)) => Origin::Uncertain(s.clone()),
            _ => Origin::None,
        }
    }

    /// Does this path end in `asn` (plainly, or as one candidate of a final AS_SET)?
    pub fn ends_in(&self, asn: u32) -> bool {
        match self.external().next_back() {
            Some(PathHop::As(a)) => *a == asn,
            Some(PathHop::Set(s)) => s.contains(&asn),
            _ => false,
        }
    }

    /// The upstream of the origin: the AS just before it once prepending is removed.
    /// `None` for a self-view `[A]`, and for paths ending in an AS_SET (uncertain).
    pub fn upstream(&self) -> Option<u32> {
        let cleaned = self.cleaned();
        match cleaned.as_slice() {
            [.., PathHop::As(up), PathHop::As(_)] => Some(*up),
            _ => None,
        }
    }
}

impl fmt::Display for AsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, hop) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            let (open, sep, close) = match hop {
                PathHop::As(a) => {
                    write!(f, "{a}")?;
                    continue;
                }
                PathHop::Set(_) => ("{", ",", "}"),
                PathHop::ConfedSequence(_) => ("(", " ", ")"),
                PathHop::ConfedSet(_) => ("[", ",", "]"),
            };
            f.write_str(open)?;
            for (j, a) in hop.asns().iter().enumerate() {
                if j > 0 {
                    f.write_str(sep)?;
                }
                write!(f, "{a}")?;
            }
            f.write_str(close)?;
        }
        Ok(())
    }
}

/// Paths are saved in bgpdump notation: compact, and readable in a checkpoint.
impl Serialize for AsPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AsPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Maps whose keys are not strings (tuples, sessions) saved as JSON lists of `[key, value]`
/// pairs: JSON objects only have string keys. Use with `#[serde(with = "crate::model::pairs")]`.
pub mod pairs {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<'a, M, K, V, S>(map: &'a M, s: S) -> Result<S::Ok, S::Error>
    where
        &'a M: IntoIterator<Item = (&'a K, &'a V)>,
        K: Serialize + 'a,
        V: Serialize + 'a,
        S: Serializer,
    {
        s.collect_seq(map)
    }

    pub fn deserialize<'de, M, K, V, D>(d: D) -> Result<M, D::Error>
    where
        M: FromIterator<(K, V)>,
        K: Deserialize<'de>,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

/// [`pairs`] for an optional map.
pub mod pairs_opt {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<'a, M, K, V, S>(map: &'a Option<M>, s: S) -> Result<S::Ok, S::Error>
    where
        &'a M: IntoIterator<Item = (&'a K, &'a V)>,
        K: Serialize + 'a,
        V: Serialize + 'a,
        S: Serializer,
    {
        match map {
            Some(m) => s.serialize_some(&m.into_iter().collect::<Vec<_>>()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, M, K, V, D>(d: D) -> Result<Option<M>, D::Error>
    where
        M: FromIterator<(K, V)>,
        K: Deserialize<'de>,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Option::<Vec<(K, V)>>::deserialize(d)?.map(|v| v.into_iter().collect()))
    }
}

impl std::str::FromStr for AsPath {
    type Err = String;
    /// Parses `"(65001 65002) 701 3491 {1,2} [3,4] 17557"`, the notation bgpdump prints.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let asns = |inner: &str, sep: char| {
            inner
                .split(sep)
                .map(|a| a.parse::<u32>().map_err(|e| format!("bad AS {a:?}: {e}")))
                .collect::<Result<Vec<_>, _>>()
        };
        let mut hops = Vec::new();
        let mut rest = s.trim_start();
        while !rest.is_empty() {
            // A confederation sequence is the one hop with spaces inside.
            let end = if rest.starts_with('(') {
                rest.find(')')
                    .map(|i| i + 1)
                    .ok_or("unclosed '(' in path")?
            } else {
                rest.find(char::is_whitespace).unwrap_or(rest.len())
            };
            let tok = &rest[..end];
            rest = rest[end..].trim_start();
            let inner = |o: char, c: char| tok.strip_prefix(o).and_then(|t| t.strip_suffix(c));
            hops.push(if let Some(i) = inner('{', '}') {
                PathHop::Set(asns(i, ',')?)
            } else if let Some(i) = inner('(', ')') {
                PathHop::ConfedSequence(asns(i, ' ')?)
            } else if let Some(i) = inner('[', ']') {
                PathHop::ConfedSet(asns(i, ',')?)
            } else {
                PathHop::As(tok.parse().map_err(|e| format!("bad AS {tok:?}: {e}"))?)
            });
        }
        Ok(AsPath(hops))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> AsPath {
        s.parse().expect("test path parses")
    }

    /// A confederation segment (RFC 5065) was printed as plain ASes or an AS_SET, so a path
    /// with one read as another path: found by tests/fuzz.rs (segment type 2 → 3 or 4).
    #[test]
    fn confederation_segments_are_kept_apart_and_name_no_origin() {
        let path = p("(65001 65002) 701 [64512,64513] 17557 [65003]");
        assert_eq!(
            path.0,
            vec![
                PathHop::ConfedSequence(vec![65001, 65002]),
                PathHop::As(701),
                PathHop::ConfedSet(vec![64512, 64513]),
                PathHop::As(17557),
                PathHop::ConfedSet(vec![65003]),
            ]
        );
        assert_eq!(
            path.to_string(),
            "(65001 65002) 701 [64512,64513] 17557 [65003]"
        );
        assert_eq!(path.origin(), Origin::As(17557));
        assert!(path.ends_in(17557));
        assert_eq!(path.upstream(), Some(701));
        assert_eq!(p("(65001 65002)").origin(), Origin::None);
    }

    #[test]
    fn upstream_skips_prepending() {
        assert_eq!(p("7660 2516 3491 17557 17557").upstream(), Some(3491));
        assert_eq!(p("1299 3491 3491 17557").upstream(), Some(3491));
    }

    #[test]
    fn self_view_and_sets_have_no_upstream() {
        assert_eq!(p("26780").upstream(), None);
        assert_eq!(p("26780 26780").upstream(), None);
        assert_eq!(p("3549 {26780,64512}").upstream(), None);
        assert!(p("3549 {26780,64512}").ends_in(26780));
        assert_eq!(
            p("3549 {26780,64512}").origin(),
            Origin::Uncertain(vec![26780, 64512])
        );
    }

    #[test]
    fn display_round_trips_bgpdump_notation() {
        let s = "701 3491 {7018,3356} 17557";
        assert_eq!(p(s).to_string(), s);
    }

    #[test]
    fn timestamps_and_paths_round_trip_through_json() {
        let t = Timestamp {
            secs: 1226439180,
            micros: 42,
        };
        let json = serde_json::to_string(&t).expect("serialises");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).ok(), Some(t));
        let path = p("3549 {26780,64512}");
        let json = serde_json::to_string(&path).expect("serialises");
        assert_eq!(json, "\"3549 {26780,64512}\"");
        assert_eq!(serde_json::from_str::<AsPath>(&json).ok(), Some(path));
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
    }

    #[test]
    fn timestamps_print_rfc3339_utc() {
        assert_eq!(
            Timestamp::from_secs(1226439000).rfc3339(),
            "2008-11-11T21:30:00Z"
        );
        let t = Timestamp {
            secs: 1445565678,
            micros: 509481,
        };
        assert_eq!(t.rfc3339(), "2015-10-23T02:01:18.509481Z");
    }
}
