//! What the sample generators share (`#[path]`-included, not an example of its own).

use anyhow::{Context, Result};
use bgpkit_parser::models::{CommonHeader, EntryType, MrtMessage};

/// One MRT record at `ts`: the common header and `msg` encoded by bgpkit-parser.
pub fn record(ts: i64, entry_type: EntryType, subtype: u16, msg: &MrtMessage) -> Result<Vec<u8>> {
    let body = msg.encode(subtype).context("encoding MRT message")?;
    let header = CommonHeader {
        timestamp: u32::try_from(ts).context("timestamp out of range")?,
        microsecond_timestamp: None,
        entry_type,
        entry_subtype: subtype,
        length: u32::try_from(body.len()).context("record too long")?,
    };
    let mut out = header.encode().to_vec();
    out.extend_from_slice(&body);
    Ok(out)
}
