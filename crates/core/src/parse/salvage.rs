//! Repair of BGP4MP UPDATE records cut short by the collector.
//!
//! RouteViews collectors of 2008 wrote at most 4096 bytes of a BGP message into the MRT
//! record while the BGP header kept the real (longer) length. bgpkit-parser 0.23 then fails
//! the whole message, silently losing its withdrawals, although the withdrawn-routes field
//! comes first and is intact. No crate repairs this, so it is done here by hand: keep every
//! complete withdrawn prefix, keep the path attributes if they are complete, keep every
//! complete NLRI prefix, rewrite the lengths, and hand the result to bgpkit-parser.

use bytes::{BufMut, Bytes, BytesMut};

const BGP_HEADER: usize = 19;
const BGP_UPDATE: u8 = 2;

/// If `body` (a BGP4MP body of `subtype`) holds an UPDATE cut short, return a consistent,
/// shortened record body holding what survived. `None` when the record is not cut.
pub fn repair_cut_update(subtype: u16, body: &[u8]) -> Option<Bytes> {
    let (asn_len, add_path) = match subtype {
        1 | 6 => (2, false),
        4 | 7 => (4, false),
        8 | 10 => (2, true),
        9 | 11 => (4, true),
        _ => return None,
    };
    let afi_at = 2 * asn_len + 2;
    let afi = u16::from_be_bytes([*body.get(afi_at)?, *body.get(afi_at + 1)?]);
    let ip_len = match afi {
        1 => 4,
        2 => 16,
        _ => return None,
    };
    let bgp_at = afi_at + 2 + 2 * ip_len;
    let bgp = body.get(bgp_at..)?;
    if bgp.len() < BGP_HEADER || bgp[18] != BGP_UPDATE {
        return None;
    }
    let declared = usize::from(u16::from_be_bytes([bgp[16], bgp[17]]));
    if declared <= bgp.len() {
        return None;
    }
    let update = &bgp[BGP_HEADER..];
    let kept = salvage_update(update, add_path, afi);

    let mut out = BytesMut::with_capacity(body.len());
    out.put_slice(&body[..bgp_at + 16]);
    out.put_u16((BGP_HEADER + kept.len()) as u16);
    out.put_u8(BGP_UPDATE);
    out.put_slice(&kept);
    Some(out.freeze())
}

/// The surviving part of a cut UPDATE body, re-encoded with consistent lengths.
fn salvage_update(update: &[u8], add_path: bool, _afi: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(update.len());
    let Some(wd_len) = read_u16(update, 0) else {
        out.extend_from_slice(&[0, 0, 0, 0]);
        return out;
    };
    let wd_len = usize::from(wd_len);
    let wd_avail = &update[2..update.len().min(2 + wd_len)];
    let wd_kept = complete_prefixes(wd_avail, add_path, 32);
    out.extend_from_slice(&(wd_kept as u16).to_be_bytes());
    out.extend_from_slice(&wd_avail[..wd_kept]);

    let attrs_at = 2 + wd_len;
    let attrs = read_u16(update, attrs_at).and_then(|attr_len| {
        let attr_len = usize::from(attr_len);
        update.get(attrs_at + 2..attrs_at + 2 + attr_len)
    });
    match attrs {
        Some(attrs) if wd_kept == wd_len => {
            out.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
            out.extend_from_slice(attrs);
            let nlri = &update[attrs_at + 2 + attrs.len()..];
            let nlri_kept = complete_prefixes(nlri, add_path, 32);
            out.extend_from_slice(&nlri[..nlri_kept]);
        }
        // The attributes are cut: announcements cannot be interpreted without them.
        _ => out.extend_from_slice(&[0, 0]),
    }
    out
}

/// Length in bytes of the leading run of complete, well-formed prefixes in `data`.
fn complete_prefixes(data: &[u8], add_path: bool, max_bits: u8) -> usize {
    let mut at = 0;
    let mut good = 0;
    loop {
        let len_at = at + if add_path { 4 } else { 0 };
        let Some(&bits) = data.get(len_at) else {
            return good;
        };
        if bits > max_bits {
            return good;
        }
        let end = len_at + 1 + usize::from(bits).div_ceil(8);
        if end > data.len() {
            return good;
        }
        at = end;
        good = end;
    }
}

fn read_u16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BGP4MP_MESSAGE (AS2, IPv4) body around `update`, with BGP length `declared`.
    fn record(update: &[u8], declared: u16) -> Vec<u8> {
        let mut b = vec![0, 1, 0, 2, 0, 0, 0, 1];
        b.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        b.extend_from_slice(&[0xff; 16]);
        b.extend_from_slice(&declared.to_be_bytes());
        b.push(BGP_UPDATE);
        b.extend_from_slice(update);
        b
    }

    #[test]
    fn intact_records_are_left_alone() {
        let update = [0, 0, 0, 0];
        assert!(repair_cut_update(1, &record(&update, 23)).is_none());
    }

    #[test]
    fn cut_withdrawals_keep_complete_prefixes() {
        // Withdrawn length 9: 10.0.0.0/8, 192.168.1.0/24, then a /24 cut after 2 bytes.
        let update = [0, 9, 8, 10, 24, 192, 168, 1, 24, 192];
        let fixed = repair_cut_update(1, &record(&update, 4096)).expect("cut record repaired");
        let bgp = &fixed[16..];
        assert_eq!(u16::from_be_bytes([bgp[16], bgp[17]]) as usize, bgp.len());
        assert_eq!(&bgp[19..], &[0, 6, 8, 10, 24, 192, 168, 1, 0, 0]);
    }

    #[test]
    fn complete_attributes_keep_complete_nlri() {
        // No withdrawals, 3 bytes of attributes, NLRI 10/8 then a cut /16.
        let update = [0, 0, 0, 3, 0x40, 1, 0, 8, 10, 16, 172];
        let fixed = repair_cut_update(1, &record(&update, 4096)).expect("cut record repaired");
        assert_eq!(&fixed[16 + 19..], &[0, 0, 0, 3, 0x40, 1, 0, 8, 10]);
    }

    #[test]
    fn cut_attributes_drop_announcements() {
        let update = [0, 2, 8, 10, 0, 50, 0x40, 1];
        let fixed = repair_cut_update(1, &record(&update, 4096)).expect("cut record repaired");
        assert_eq!(&fixed[16 + 19..], &[0, 2, 8, 10, 0, 0]);
    }
}
