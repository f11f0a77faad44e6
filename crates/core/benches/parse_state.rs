//! The parse → state path on a real route-views2 update file (2008-02-24 20:56, the PCCW
//! cut-off), decompressed once up front so only parsing, filtering, state and detection are
//! timed. `cargo bench --bench parse_state`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use cutoff_core::files::discover;
use cutoff_core::parse::{self, Item, Source};
use cutoff_core::pipeline::{self, ScanPlan};
use std::path::PathBuf;

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(
        "../../samples/routeviews-2008-02-24/bgpdata/2008.02/UPDATES/updates.20080224.2056.bz2",
    )
}

/// Full parse of every record into items (what `dump` does), for comparison.
fn full_parse(c: &mut Criterion) {
    let (bytes, err) = parse::decode::read_all(&sample());
    assert!(err.is_none());
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    let data = bytes::Bytes::from(bytes);
    g.bench_function("all items (dump)", |b| {
        b.iter(|| {
            let mut n = 0u64;
            let stats = parse::read_records(
                Source::Memory {
                    data: data.clone(),
                    at: 0,
                },
                &mut parse::Sink(&mut |_i: Item| n += 1),
            );
            assert!(stats.problem.is_none());
            n
        })
    });
    g.finish();
}

/// The whole scan pipeline (prefilter, state, detection) on the same file, twice: an AS with
/// few routes (McColo) and one with thousands of changes (Pakistan Telecom, the hijacker).
fn scan(c: &mut Criterion) {
    let mut g = c.benchmark_group("scan");
    g.sample_size(20);
    for asn in [26780, 17557] {
        let files = discover(&[sample().display().to_string()], &[]).expect("sample");
        let plan = ScanPlan::new(&[asn], files);
        g.bench_function(format!("AS{asn}"), |b| {
            b.iter(|| pipeline::run(&plan).events.len())
        });
    }
    g.finish();
}

criterion_group!(benches, full_parse, scan);
criterion_main!(benches);
