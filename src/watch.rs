//! What to watch: flagged ASes and the prefixes that belong to them.
//!
//! Updates are matched by prefix (withdrawals carry no origin), including more-specifics,
//! with a trie; announcements are also matched by origin, so space an AS starts to
//! originate during the window (hijacked space counts) joins its prefix set.

use crate::model::Prefix;
use ipnet::{Ipv4Net, Ipv6Net};
use prefix_trie::PrefixSet;
use std::collections::BTreeSet;

#[derive(Clone, Default)]
pub struct Watch {
    pub asns: BTreeSet<u32>,
    v4: PrefixSet<Ipv4Net>,
    v6: PrefixSet<Ipv6Net>,
}

impl Watch {
    pub fn new(
        asns: impl IntoIterator<Item = u32>,
        prefixes: impl IntoIterator<Item = Prefix>,
    ) -> Self {
        let mut w = Watch {
            asns: asns.into_iter().collect(),
            ..Watch::default()
        };
        for p in prefixes {
            w.insert(p);
        }
        w
    }

    /// Is `p` a watched prefix or more specific than one?
    pub fn covers(&self, p: &Prefix) -> bool {
        match p {
            Prefix::V4(n) => self.v4.get_spm(n).is_some(),
            Prefix::V6(n) => self.v6.get_spm(n).is_some(),
        }
    }

    pub fn insert(&mut self, p: Prefix) -> bool {
        match p.trunc() {
            Prefix::V4(n) => self.v4.insert(n),
            Prefix::V6(n) => self.v6.insert(n),
        }
    }

    pub fn watches_asn(&self, asn: u32) -> bool {
        self.asns.contains(&asn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().expect("test prefix parses")
    }

    #[test]
    fn covers_equal_and_more_specific_only() {
        let w = Watch::new([26780], [p("208.72.168.0/21"), p("2001:db8::/32")]);
        assert!(w.covers(&p("208.72.168.0/21")));
        assert!(w.covers(&p("208.72.173.0/24")));
        assert!(!w.covers(&p("208.72.160.0/19")));
        assert!(!w.covers(&p("208.66.192.0/22")));
        assert!(w.covers(&p("2001:db8:1::/48")));
        assert!(!w.covers(&p("2001:db9::/32")));
    }
}
