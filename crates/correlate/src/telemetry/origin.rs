//! Source addresses to origin ASes: the longest matching prefix of a RIB and its origin.

// Shares the parent's imports and error helpers.
use super::*;

/// Prefix → origin AS from a RIB dump, for longest-prefix attribution of source IPs.
pub struct OriginMap {
    v4: PrefixMap<Ipv4Net, u32>,
    v6: PrefixMap<Ipv6Net, u32>,
    pub source: String,
    /// Time of the RIB (its earliest entry).
    pub rib_time: Option<i64>,
    pub prefixes: usize,
    pub origin_ases: usize,
    pub multi_origin_prefixes: usize,
    pub rib_entries: u64,
}

impl fmt::Debug for OriginMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OriginMap")
            .field("source", &self.source)
            .field("prefixes", &self.prefixes)
            .finish()
    }
}

/// Peers' votes for the origin of one prefix: (origin, peers), few per prefix.
type Votes = Vec<(u32, u32)>;

fn vote(votes: &mut Votes, origin: u32) {
    match votes.iter_mut().find(|(o, _)| *o == origin) {
        Some(v) => v.1 += 1,
        None => votes.push((origin, 1)),
    }
}

/// The origin most peers saw (ties: the lowest ASN), and whether there was more than one.
fn winner(votes: &Votes) -> Option<(u32, bool)> {
    votes
        .iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(o, _)| (*o, votes.len() > 1))
}

impl OriginMap {
    /// Read a RIB (TABLE_DUMP v1/v2, raw/gz/bz2) with the crate's own reader, keeping only
    /// prefix → origin votes (never the entries). Routes whose path ends in an AS_SET are
    /// skipped. A file that cannot be read to the end is an error: the map would be partial.
    pub fn from_rib(path: &Path) -> Result<OriginMap, TelemetryError> {
        let source = path.display().to_string();
        let mut v4: PrefixMap<Ipv4Net, Votes> = PrefixMap::new();
        let mut v6: PrefixMap<Ipv6Net, Votes> = PrefixMap::new();
        let mut entries = 0u64;
        let mut rib_time: Option<i64> = None;
        let stats = parse::read_file(path, &mut |item| {
            let Item::Route(r) = item else { return };
            if r.kind != RouteKind::Rib {
                return;
            }
            entries += 1;
            rib_time = Some(rib_time.map_or(r.time.secs, |t| t.min(r.time.secs)));
            let Some(attrs) = &r.attrs else { return };
            let Origin::As(origin) = attrs.path.origin() else {
                return;
            };
            match r.prefix {
                cutoff_core::model::Prefix::V4(p) => vote(v4.entry(p.trunc()).or_default(), origin),
                cutoff_core::model::Prefix::V6(p) => vote(v6.entry(p.trunc()).or_default(), origin),
            }
        });
        if let Some(p) = &stats.problem {
            return Err(error(
                &source,
                None,
                None,
                format!("{p}; the prefix→origin map would be incomplete, so no attribution"),
            ));
        }
        if entries == 0 {
            return Err(error(
                &source,
                None,
                None,
                "holds no RIB entries: --attribute-with needs a RIB dump (TABLE_DUMP or TABLE_DUMP_V2)".into(),
            ));
        }
        let mut map = OriginMap {
            v4: PrefixMap::new(),
            v6: PrefixMap::new(),
            source,
            rib_time,
            prefixes: 0,
            origin_ases: 0,
            multi_origin_prefixes: 0,
            rib_entries: entries,
        };
        let mut ases = BTreeSet::new();
        for (p, votes) in v4.iter() {
            if let Some((o, multi)) = winner(votes) {
                map.v4.insert(p, o);
                ases.insert(o);
                map.multi_origin_prefixes += usize::from(multi);
            }
        }
        for (p, votes) in v6.iter() {
            if let Some((o, multi)) = winner(votes) {
                map.v6.insert(p, o);
                ases.insert(o);
                map.multi_origin_prefixes += usize::from(multi);
            }
        }
        map.prefixes = map.v4.len() + map.v6.len();
        map.origin_ases = ases.len();
        Ok(map)
    }

    /// Origin AS of the longest prefix covering `ip`.
    pub fn lookup(&self, ip: IpAddr) -> Option<u32> {
        match ip {
            IpAddr::V4(a) => Ipv4Net::new(a, 32)
                .ok()
                .and_then(|n| self.v4.get_lpm(&n))
                .map(|(_, o)| *o),
            IpAddr::V6(a) => Ipv6Net::new(a, 128)
                .ok()
                .and_then(|n| self.v6.get_lpm(&n))
                .map(|(_, o)| *o),
        }
    }
}
