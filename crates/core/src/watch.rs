//! What to watch: flagged ASes and the prefixes that belong to them.
//!
//! Updates are matched by prefix (withdrawals carry no origin), including more-specifics,
//! with a trie; announcements are also matched by origin, so space an AS starts to
//! originate during the window (hijacked space counts) joins its prefix set.

use crate::model::Prefix;
use crate::parse::prefilter::Nlri;
use ipnet::{Ipv4Net, Ipv6Net};
use prefix_trie::PrefixSet;
use std::collections::BTreeSet;

#[derive(Clone, Default)]
pub struct Watch {
    pub asns: BTreeSet<u32>,
    v4: PrefixSet<Ipv4Net>,
    v6: PrefixSet<Ipv6Net>,
    /// One bit per IPv4 /16 that holds watched space: most prefixes of an update are /16 or
    /// longer and fall outside every watched /16, so one bit test answers for them before
    /// any trie walk (the prefix check runs for every prefix of every update).
    v4_slash16: Vec<u64>,
}

const SLASH16_WORDS: usize = (1 << 16) / 64;

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
            Prefix::V4(n) if n.prefix_len() >= 16 && !self.slash16_holds_watched(n) => false,
            Prefix::V4(n) => self.v4.get_spm(n).is_some(),
            Prefix::V6(n) => self.v6.get_spm(n).is_some(),
        }
    }

    /// [`Watch::covers`] for a prefix still in wire form (address family, length, leading
    /// bytes): an IPv4 prefix of /16 or longer outside every watched /16 is ruled out from
    /// its first two bytes, without building a [`Prefix`].
    pub fn covers_nlri(&self, nlri: &Nlri<'_>) -> bool {
        if let (1, 16.., [a, b, ..]) = (nlri.afi, nlri.bits, nlri.bytes)
            && !self.slash16_bit(u16::from_be_bytes([*a, *b]))
        {
            return false;
        }
        nlri.to_prefix().is_some_and(|p| self.covers(&p))
    }

    fn slash16_holds_watched(&self, n: &Ipv4Net) -> bool {
        self.slash16_bit((u32::from(n.network()) >> 16) as u16)
    }

    fn slash16_bit(&self, slash16: u16) -> bool {
        let i = usize::from(slash16);
        self.v4_slash16
            .get(i / 64)
            .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }

    /// Mark every /16 that `n` overlaps.
    fn mark_slash16(&mut self, n: &Ipv4Net) {
        if self.v4_slash16.is_empty() {
            self.v4_slash16 = vec![0; SLASH16_WORDS];
        }
        let first = (u32::from(n.network()) >> 16) as usize;
        let count = 1usize << 16u8.saturating_sub(n.prefix_len());
        for i in first..(first + count).min(1 << 16) {
            self.v4_slash16[i / 64] |= 1u64 << (i % 64);
        }
    }

    pub fn insert(&mut self, p: Prefix) -> bool {
        match p.trunc() {
            Prefix::V4(n) => {
                self.mark_slash16(&n);
                self.v4.insert(n)
            }
            Prefix::V6(n) => self.v6.insert(n),
        }
    }

    /// Every prefix inserted, in order (IPv4 first).
    pub fn prefixes(&self) -> Vec<Prefix> {
        let v4 = self.v4.iter().map(Prefix::V4);
        v4.chain(self.v6.iter().map(Prefix::V6)).collect()
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

    #[test]
    fn short_watched_prefixes_cover_every_slash16_below_them() {
        let w = Watch::new([3549], [p("10.0.0.0/8"), p("192.168.4.0/22")]);
        assert!(w.covers(&p("10.255.255.0/24")));
        assert!(w.covers(&p("10.0.0.0/16")));
        assert!(!w.covers(&p("11.0.0.0/24")));
        assert!(!w.covers(&p("9.255.0.0/16")));
        assert!(w.covers(&p("192.168.7.0/24")));
        assert!(!w.covers(&p("192.168.8.0/24")));
        assert!(!w.covers(&p("192.168.0.0/24")));
        let all = Watch::new([1], [p("0.0.0.0/0")]);
        assert!(all.covers(&p("203.0.113.0/24")));
        assert!(all.covers(&p("128.0.0.0/1")));
    }

    /// A prefix in wire form: length byte's value and the bytes that hold it.
    fn wire(prefix: &Prefix) -> (u16, u8, Vec<u8>) {
        let (afi, bits, octets) = match prefix {
            Prefix::V4(n) => (1, n.prefix_len(), n.network().octets().to_vec()),
            Prefix::V6(n) => (2, n.prefix_len(), n.network().octets().to_vec()),
        };
        (afi, bits, octets[..usize::from(bits).div_ceil(8)].to_vec())
    }

    #[test]
    fn wire_form_check_agrees_with_the_prefix_check() {
        let w = Watch::new(
            [1],
            [p("10.0.0.0/8"), p("208.72.168.0/21"), p("2001:db8::/32")],
        );
        let tried = [
            "10.1.0.0/16",
            "10.0.0.0/7",
            "11.0.0.0/16",
            "208.72.173.0/24",
            "208.72.0.0/16",
            "208.72.160.0/19",
            "208.73.0.0/24",
            "0.0.0.0/0",
            "192.0.2.1/32",
            "2001:db8:1::/48",
            "2001:db9::/32",
            "::/0",
        ];
        for s in tried {
            let prefix = p(s);
            let (afi, bits, bytes) = wire(&prefix);
            let nlri = Nlri {
                afi,
                bits,
                bytes: &bytes,
            };
            assert_eq!(w.covers_nlri(&nlri), w.covers(&prefix), "{s}");
        }
        assert!(w.covers_nlri(&Nlri {
            afi: 1,
            bits: 24,
            bytes: &[208, 72, 171]
        }));
        assert!(!w.covers_nlri(&Nlri {
            afi: 1,
            bits: 24,
            bytes: &[208, 73, 171]
        }));
    }
}
