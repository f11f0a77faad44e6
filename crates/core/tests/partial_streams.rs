//! Partitions read on their own and joined by the merge give state and detection the very
//! streams one scan gives, message for message (per-minute counters included), on real
//! files: a stronger check than equal output, which counters that change no verdict would
//! pass.

use cutoff_core::files::{CollectorFiles, discover};
use cutoff_core::model::Prefix;
use cutoff_core::pipeline::ScanPlan;
use cutoff_core::pipeline::partial::{Sourced, capture, streams_of_merge, streams_of_scan};
use std::collections::BTreeSet;

fn sample(rel: &str) -> String {
    format!("{}/../../samples/{rel}", env!("CARGO_MANIFEST_DIR"))
}

fn plan_of(asn: u32, collectors: Vec<CollectorFiles>) -> ScanPlan {
    let mut plan = ScanPlan::new(&[asn], collectors);
    plan.helpers = 0;
    plan
}

/// The streams as text: `Msg` has no equality, its debug form says everything it holds.
fn text(streams: &[Vec<cutoff_core::state::Msg>]) -> Vec<Vec<String>> {
    streams
        .iter()
        .map(|s| s.iter().map(|m| format!("{m:?}")).collect())
        .collect()
}

/// Read each piece of the one collector's files as a partition, in order, each given what
/// the pieces before it learned (as the merge asks), and rebuild the streams.
fn merged_streams(asn: u32, all: &CollectorFiles, sizes: &[usize]) -> Vec<Vec<String>> {
    let mut known: BTreeSet<Prefix> = BTreeSet::new();
    let mut segments = Vec::new();
    let mut rest = &all.files[..];
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes.get(i).copied().unwrap_or(rest.len()).min(rest.len());
        let (piece, after) = rest.split_at(n);
        rest = after;
        let plan = plan_of(
            asn,
            vec![CollectorFiles {
                collector: all.collector.clone(),
                files: piece.to_vec(),
            }],
        );
        let known_now: Vec<Prefix> = known.iter().copied().collect();
        for s in capture(&plan, &known_now) {
            known.extend(s.learned.iter().copied());
            segments.push(Sourced {
                source: format!("piece {i}"),
                segment: s,
            });
        }
        i += 1;
    }
    let mut plan = plan_of(asn, Vec::new());
    text(&streams_of_merge(&mut plan, segments).expect("the pieces merge"))
}

fn one_collector(path: &str) -> CollectorFiles {
    let mut c = discover(&[sample(path)], &[]).expect("the sample is there");
    assert_eq!(c.len(), 1, "{path} is one collector");
    c.remove(0)
}

fn assert_same_streams(asn: u32, all: &CollectorFiles, sizes: &[usize], what: &str) {
    let scan = text(&streams_of_scan(&plan_of(asn, vec![all.clone()])));
    let merged = merged_streams(asn, all, sizes);
    assert_eq!(scan.len(), merged.len(), "{what}: streams");
    for (a, b) in scan.iter().zip(&merged) {
        assert!(
            a.len() > 100,
            "{what}: a stream worth comparing ({} messages)",
            a.len()
        );
        if let Some(i) = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i)) {
            panic!(
                "{what}: message {i} differs:\n scan:  {:?}\n merge: {:?}",
                a.get(i),
                b.get(i)
            );
        }
    }
}

#[test]
fn mccolo_streams_are_the_same_in_any_pieces() {
    let all = one_collector("mccolo-2008-11");
    assert_same_streams(26780, &all, &[1; 577], "one file each");
    assert_same_streams(26780, &all, &[5, 4], "two small pieces, then the rest");
    assert_same_streams(26780, &all, &[2, 13, 100, 7, 1, 300], "uneven");
}

/// Real route-views2 files cut where the collector cut them: minutes run across files.
#[test]
fn the_youtube_hijack_day_streams_are_the_same_file_by_file() {
    let all = one_collector("routeviews-2008-02-24");
    for asn in [17557, 36561] {
        assert_same_streams(asn, &all, &[1; 16], &format!("AS{asn} one file each"));
        assert_same_streams(asn, &all, &[3, 1, 9], &format!("AS{asn} uneven"));
    }
}

/// A hole between two partitions is found on their union, as one scan finds it.
#[test]
fn a_hole_between_partitions_is_the_scan_s_hole() {
    let mut all = one_collector("routeviews-2008-02-24");
    // Leave out the 5th update file: a hole between the 4th and the 6th.
    let left_out = all.files.remove(4);
    assert!(
        left_out
            .path
            .to_string_lossy()
            .contains("updates.20080224.1909")
    );
    let scan = text(&streams_of_scan(&plan_of(17557, vec![all.clone()])));
    let holes = |s: &[Vec<String>]| {
        s.iter()
            .flatten()
            .filter(|m| m.starts_with("Gap") && m.contains("hole: true"))
            .count()
    };
    assert_eq!(holes(&scan), 1, "the scan sees one hole");
    assert_same_streams(17557, &all, &[4, 11], "cut at the hole");
}

/// A segment whose minute marks or message counts fit none of its files (a partial damaged or
/// written by something else) is refused, naming it, not merged into something else.
#[test]
fn a_segment_that_does_not_fit_its_files_is_refused() {
    let all = one_collector("routeviews-2008-02-24");
    let two = CollectorFiles {
        collector: all.collector.clone(),
        files: all.files[..2].to_vec(),
    };
    let segment = capture(&plan_of(17557, vec![two]), &[]).remove(0);
    let mut bad_mark = segment.clone();
    bad_mark.marks[0].file = 99;
    let mut bad_count = segment;
    bad_count.files[1].messages_end = 0;
    for bad in [bad_mark, bad_count] {
        let sourced = Sourced {
            source: "p.parquet".into(),
            segment: bad,
        };
        let err =
            streams_of_merge(&mut plan_of(17557, Vec::new()), vec![sourced]).expect_err("refused");
        let text = err.to_string();
        assert!(
            text.contains("p.parquet") && text.contains("do not fit"),
            "{text}"
        );
    }
}
