//! The baseline `scripts/bench.sh` compares `cutoff scan` with: a plain bgpkit-parser loop
//! over every element of the given files (buffered multi-stream decoding, as cutoff does),
//! keeping those whose origin is the given AS. `cargo run --release --example bgpkit_loop -- ASN FILE…`

use bgpkit_parser::BgpkitParser;
use std::io::BufReader;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let asn: u32 = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: bgpkit_loop ASN FILE…"))?
        .parse()?;
    let (mut elems, mut hits) = (0u64, 0u64);
    for path in args {
        let reader = cutoff_core::parse::decode::open(std::path::Path::new(&path))?;
        for elem in BgpkitParser::from_reader(BufReader::new(reader)) {
            elems += 1;
            if elem
                .origin_asns
                .as_ref()
                .is_some_and(|o| o.iter().any(|a| u32::from(*a) == asn))
            {
                hits += 1;
            }
        }
    }
    println!("{elems} elements, {hits} originated by AS{asn}");
    Ok(())
}
