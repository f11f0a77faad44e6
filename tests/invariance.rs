//! What must not change the verdict, tested on the real data: where the collector cut its
//! files, how it named them, whether it wrote one file or many, and the order files are given
//! on the command line. Each variant holds exactly the real records in their real order; only
//! the file boundaries and names differ. Every event (kind, time, upstream, prefix, peer
//! counts) and every count of the summary must be the same.

mod common;

use common::{sample, scan};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const YOUTUBE_DAY: &str = "routeviews-2008-02-24/bgpdata/2008.02/UPDATES";
const MCCOLO: &str = "mccolo-2008-11/bgpdata/2008.11/UPDATES";

/// One MRT record: its header's timestamp and its bytes (header included).
struct Record {
    secs: i64,
    bytes: Vec<u8>,
}

/// Every record of every update file in `dir`, in file-name order (the archive's time order).
fn records(dir: &Path) -> Vec<Record> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("sample folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".bz2"))
        .collect();
    files.sort();
    let out: Vec<Record> = files.iter().flat_map(|f| records_of(f)).collect();
    assert!(out.len() > 1000, "the sample has records");
    out
}

/// The records of one MRT file (bzip2, gzip or raw), in file order.
fn records_of(f: &Path) -> Vec<Record> {
    let file = std::fs::File::open(f).expect("open");
    let mut data = Vec::new();
    let name = f.to_string_lossy();
    if name.ends_with(".bz2") {
        bzip2::read::MultiBzDecoder::new(file).read_to_end(&mut data)
    } else if name.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(file).read_to_end(&mut data)
    } else {
        std::io::BufReader::new(file).read_to_end(&mut data)
    }
    .expect("the sample decompresses");
    let mut out = Vec::new();
    let mut at = 0;
    while at + 12 <= data.len() {
        let secs = u32::from_be_bytes(data[at..at + 4].try_into().expect("4 bytes"));
        let len = u32::from_be_bytes(data[at + 8..at + 12].try_into().expect("4 bytes"));
        let end = at + 12 + len as usize;
        assert!(end <= data.len(), "{}: a whole record", f.display());
        out.push(Record {
            secs: i64::from(secs),
            bytes: data[at..end].to_vec(),
        });
        at = end;
    }
    out
}

fn write_bz2(path: &Path, records: &[&Record]) {
    let file = std::fs::File::create(path).expect("create");
    let mut enc = bzip2::write::BzEncoder::new(file, bzip2::Compression::fast());
    for r in records {
        enc.write_all(&r.bytes).expect("write");
    }
    enc.finish().expect("finish");
}

/// RouteViews' name of an update file starting at `secs`.
fn archive_name(secs: i64) -> String {
    let t = chrono::DateTime::from_timestamp(secs, 0).expect("a time");
    t.format("updates.%Y%m%d.%H%M.bz2").to_string()
}

/// The records cut into files of `span` seconds (by record time), written into `dir` with
/// names from `name(index, start)`. Like a collector rotating its files, a quiet interval
/// still gets its (empty) file: a missing one is a hole. Returns the paths in time order.
fn cut(
    records: &[Record],
    span: i64,
    dir: &Path,
    name: &dyn Fn(usize, i64) -> String,
) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).expect("mkdir");
    let mut groups: Vec<(i64, Vec<&Record>)> = Vec::new();
    for r in records {
        let start = r.secs - r.secs.rem_euclid(span);
        while groups.last().is_some_and(|(s, _)| s + span < start) {
            let next = groups.last().map_or(start, |(s, _)| s + span);
            groups.push((next, Vec::new()));
        }
        match groups.last_mut() {
            Some((s, g)) if *s == start => g.push(r),
            _ => groups.push((start, vec![r])),
        }
    }
    groups
        .iter()
        .enumerate()
        .map(|(i, (start, g))| {
            let p = dir.join(name(i, *start));
            write_bz2(&p, g);
            p
        })
        .collect()
}

/// What must stay the same: each event's identity and counts, and the summary's counts.
fn verdict(args: &[&str]) -> (Vec<String>, Vec<String>) {
    let r = scan(args);
    assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    let events = r
        .events
        .iter()
        .map(|e| {
            let ev = &e["evidence"];
            format!(
                "{} {} bounds={} up={} prefix={} peers {}→{} of {}",
                e["event"],
                e["time"],
                e["time_bounds"],
                e["upstream"],
                e["prefix"],
                ev["peers_before"],
                ev["peers_after"],
                ev["eligible_peers"]
            )
        })
        .collect();
    let s = &r.summary;
    let counts = [
        "records",
        "elements",
        "events",
        "sessions",
        "full_feed_sessions",
        "first_time",
        "last_time",
        "collectors",
        "incomplete_input",
        "pending_at_end",
    ]
    .iter()
    .map(|k| format!("{k}={}", s[*k]))
    .collect();
    (events, counts)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// `paths` in a fixed shuffled order: i ↦ (i·k + 3) mod n with k coprime to n, a permutation.
fn shuffle(paths: &[String]) -> Vec<String> {
    let n = paths.len();
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let k = (7..).find(|k| gcd(*k, n) == 1).expect("a coprime");
    let out: Vec<String> = (0..n).map(|i| paths[(i * k + 3) % n].clone()).collect();
    let mut sorted = out.clone();
    sorted.sort();
    assert_eq!(sorted, paths, "a permutation of sorted paths");
    assert_ne!(out, paths, "shuffled");
    out
}

/// Bytes of the files in `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").metadata().expect("size").len())
        .sum()
}

/// Every variant of one collector's update files gives the verdict of the files as published.
/// `blocks_in_parallel`: whether the sample in one file is large enough to have its bzip2
/// blocks decoded on several threads.
fn assert_invariant(sample_dir: &str, asn: &str, blocks_in_parallel: bool) {
    let src = PathBuf::from(sample(sample_dir));
    let recs = records(&src);
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = ["--asn", asn, "--min-duration", "0s"];
    let with = |paths: &[String], extra: &[&str]| {
        let mut args: Vec<&str> = base.to_vec();
        args.extend(extra);
        args.extend(paths.iter().map(String::as_str));
        verdict(&args)
    };
    let published = with(&[s(&src)], &[]);
    assert!(!published.0.is_empty(), "{sample_dir}: events to compare");

    // The archive layout below the sample's folder (bgpdata/YYYY.MM/UPDATES) names the collector.
    let below = sample_dir.split_once('/').expect("a layout").1;
    let layout = |name: &str| tmp.path().join(name).join(below);
    for minutes in [1, 5, 60] {
        let dir = layout(&format!("cut{minutes}"));
        cut(&recs, minutes * 60, &dir, &|_, start| archive_name(start));
        assert_eq!(
            with(&[s(&dir)], &[]),
            published,
            "{sample_dir} re-cut every {minutes} min"
        );
    }

    let one = layout("one");
    std::fs::create_dir_all(&one).expect("mkdir");
    write_bz2(
        &one.join(archive_name(recs[0].secs)),
        &recs.iter().collect::<Vec<_>>(),
    );
    assert_eq!(with(&[s(&one)], &[]), published, "{sample_dir} as one file");
    // Too large to hold: streamed, its bzip2 blocks decoded on two threads or on one.
    let size = dir_bytes(&one);
    let parallel = size >= cutoff_core::parse::decode::PARALLEL_MIN;
    assert_eq!(
        parallel, blocks_in_parallel,
        "{sample_dir}: one file of {size} bytes"
    );
    for threads in ["2", "1"] {
        assert_eq!(
            with(
                &[s(&one)],
                &["--max-in-memory", "1MiB", "--threads", threads]
            ),
            published,
            "{sample_dir} as one file, streamed, {threads} threads"
        );
    }

    // Names without a time, numbered against time order: each file is a stream of its own.
    let untimed = tmp.path().join("untimed");
    let files = cut(&recs, 5 * 60, &untimed, &|i, _| {
        format!("dump-{:04}.mrt.bz2", 9999 - i)
    });
    assert!(files.len() > 10);
    let collector = format!("route-views2={}", s(&untimed));
    assert_eq!(
        with(&[s(&untimed)], &["--collector", &collector]),
        published,
        "{sample_dir} cut every 5 min, names without a time"
    );

    // The files of the 5-minute cut given one by one, in a shuffled order.
    let mut paths: Vec<String> = std::fs::read_dir(layout("cut5"))
        .expect("cut5")
        .map(|e| s(&e.expect("entry").path()))
        .collect();
    paths.sort();
    let shuffled = shuffle(&paths);
    assert_eq!(
        with(&shuffled, &[]),
        published,
        "{sample_dir} files given in a shuffled order"
    );
}

#[test]
fn the_youtube_day_verdict_does_not_depend_on_how_files_are_cut_named_or_ordered() {
    assert_invariant(YOUTUBE_DAY, "17557", true);
}

#[test]
fn the_mccolo_verdict_does_not_depend_on_how_files_are_cut_named_or_ordered() {
    assert_invariant(MCCOLO, "26780", false);
}

/// The lab's collections, written by real daemons (GoBGP rotating its update file every 60 s,
/// FRR and BIRD writing one; RIB dumps every 30 s falling inside them; a session that drops
/// without a STATE record at GoBGP): their message files re-cut every 20 s under names without
/// a time, each as one file, and the pieces given one by one in a shuffled order, with the RIB
/// dumps as they are, give the verdict of the files as written.
#[test]
fn the_lab_verdicts_do_not_depend_on_how_files_are_cut_named_or_ordered() {
    for implementation in ["gobgp", "frr", "bird"] {
        let src = PathBuf::from(sample(&format!("lab/{implementation}")));
        let mut ribs = Vec::new();
        let mut streams = Vec::new();
        for entry in std::fs::read_dir(&src).expect("lab folder") {
            let path = entry.expect("entry").path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            match name {
                Some(n) if n.starts_with("rib.") => ribs.push(path),
                Some(n) if n.ends_with(".mrt.gz") => streams.push(path),
                _ => {}
            }
        }
        streams.sort();
        assert!(!ribs.is_empty() && !streams.is_empty(), "{implementation}");
        let tmp = tempfile::tempdir().expect("tempdir");
        let with = |paths: &[String]| {
            let mut args = vec!["--asn", "64500", "--min-duration", "0s"];
            args.extend(paths.iter().map(String::as_str));
            verdict(&args)
        };
        let published = with(&[s(&src)]);
        assert!(published.0.len() >= 2, "{implementation}: {published:?}");
        // Each variant is a folder named like the collection, so the collector keeps its name.
        let variant = |name: &str| {
            let dir = tmp.path().join(name).join(implementation);
            std::fs::create_dir_all(&dir).expect("mkdir");
            for rib in &ribs {
                std::fs::copy(rib, dir.join(rib.file_name().expect("name"))).expect("copy");
            }
            dir
        };

        let cut20 = variant("cut20");
        for (k, stream) in streams.iter().enumerate() {
            cut(&records_of(stream), 20, &cut20, &|i, _| {
                format!("stream{k}-piece-{:04}.mrt.bz2", 9999 - i)
            });
        }
        assert_eq!(
            with(&[s(&cut20)]),
            published,
            "{implementation} re-cut every 20 s"
        );

        let one = variant("one");
        for (k, stream) in streams.iter().enumerate() {
            let recs = records_of(stream);
            write_bz2(
                &one.join(format!("stream{k}.mrt.bz2")),
                &recs.iter().collect::<Vec<_>>(),
            );
        }
        assert_eq!(
            with(&[s(&one)]),
            published,
            "{implementation}, each stream one file"
        );

        let mut paths: Vec<String> = std::fs::read_dir(&cut20)
            .expect("cut20")
            .map(|e| s(&e.expect("entry").path()))
            .collect();
        paths.sort();
        let shuffled = shuffle(&paths);
        assert_eq!(
            with(&shuffled),
            published,
            "{implementation}, files in a shuffled order"
        );
    }
}

/// Each loss is dated by the message that made it true: with no residual allowed, the latest
/// route in its evidence ends at the event's time, unless the moment is not in the data; then
/// the event carries `time_bounds` and its time is their end. On every real collection here.
#[test]
fn loss_events_are_dated_by_the_message_that_made_them_true() {
    let collections = [
        (YOUTUBE_DAY, "17557"),
        (MCCOLO, "26780"),
        ("lab/gobgp", "64500"),
        ("lab/frr", "64500"),
        ("lab/bird", "64500"),
    ];
    let mut exact = 0;
    let mut bounded = 0;
    for (dir, asn) in collections {
        let r = scan(&[
            "--asn",
            asn,
            "--min-duration",
            "0s",
            "--max-residual",
            "0",
            &sample(dir),
        ]);
        for e in r.events.iter().filter(|e| {
            ["upstream_lost", "prefix_dark", "disconnected"]
                .contains(&e["event"].as_str().unwrap_or(""))
        }) {
            let json = serde_json::to_string(e).unwrap_or_default();
            let ends: Vec<&Value> = match e.get("last_seen_via") {
                Some(via) => via
                    .as_object()
                    .map(|m| m.values().map(|r| &r["until"]).collect())
                    .unwrap_or_default(),
                None => vec![&e["last_route"]["until"]],
            };
            let latest = ends
                .iter()
                .filter_map(|u| u.as_str())
                .max()
                .unwrap_or_else(|| panic!("{dir}: an until in {json}"));
            match e.get("time_bounds").and_then(Value::as_array) {
                None => {
                    assert_eq!(e["time"], latest, "{dir}: {json}");
                    exact += 1;
                }
                Some(b) => {
                    assert_eq!(e["time"], b[1], "{dir}: {json}");
                    assert!(b[0].as_str() <= b[1].as_str(), "{dir}: {json}");
                    bounded += 1;
                }
            }
        }
    }
    assert!(exact >= 10, "{exact} exact");
    assert!(
        bounded >= 1,
        "the lab's drop without a STATE record is bounded"
    );
}

/// The routing state of every session (all prefixes) after the sample's RIB and every update
/// before `t`, as bgpkit-parser reads them: a session leaving Established loses its routes.
fn state_before(sample_root: &Path, t: i64) -> Vec<bgpkit_parser::BgpElem> {
    use bgpkit_parser::models::{Bgp4MpEnum, BgpState, ElemType, MrtMessage};
    let mut files: Vec<PathBuf> = ["RIBS", "UPDATES"]
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(sample_root.join("bgpdata/2008.11").join(d))
                .expect("sample folder")
                .map(|e| e.expect("entry").path())
                .collect::<Vec<_>>()
        })
        .collect();
    files.sort_by_key(|p| p.file_name().map(|n| n.to_owned()));
    // rib.* sorts before updates.*; the RIB is the first file in time too.
    let mut routes: std::collections::HashMap<(std::net::IpAddr, String), bgpkit_parser::BgpElem> =
        std::collections::HashMap::new();
    let mut elementor = bgpkit_parser::Elementor::new();
    for f in files {
        let reader = bzip2::read::MultiBzDecoder::new(std::fs::File::open(&f).expect("open"));
        for record in bgpkit_parser::BgpkitParser::from_reader(reader).into_record_iter() {
            if i64::from(record.common_header.timestamp) >= t {
                return routes.into_values().collect();
            }
            if let MrtMessage::Bgp4Mp(Bgp4MpEnum::StateChange(sc)) = &record.message {
                if sc.old_state == BgpState::Established && sc.new_state != BgpState::Established {
                    routes.retain(|(ip, _), _| *ip != sc.peer_ip);
                }
                continue;
            }
            for elem in elementor.record_to_elems(record) {
                let key = (elem.peer_ip, elem.prefix.to_string());
                match elem.elem_type {
                    ElemType::ANNOUNCE => {
                        routes.insert(key, elem);
                    }
                    ElemType::WITHDRAW => {
                        routes.remove(&key);
                    }
                }
            }
        }
    }
    routes.into_values().collect()
}

/// A RIB of `routes` dumped at `t`, written with bgpkit-parser's encoder.
fn write_rib(path: &Path, routes: &[bgpkit_parser::BgpElem], t: i64) {
    let mut encoder = bgpkit_parser::encoder::MrtRibEncoder::new();
    let mut sorted: Vec<&bgpkit_parser::BgpElem> = routes.iter().collect();
    sorted.sort_by_key(|e| (e.prefix.to_string(), e.peer_ip));
    for e in sorted {
        let mut at_dump = e.clone();
        at_dump.timestamp = t as f64;
        encoder.process_elem(&at_dump).expect("a peer index fits");
    }
    let bytes = encoder.export_bytes().expect("the RIB encodes");
    let file = std::fs::File::create(path).expect("create");
    let mut enc = bzip2::write::BzEncoder::new(file, bzip2::Compression::fast());
    enc.write_all(&bytes).expect("write");
    enc.finish().expect("finish");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let p = e.expect("entry").path();
        let dest = to.join(p.file_name().expect("a name"));
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).expect("copy");
        }
    }
}

/// A RIB consistent with the updates (the state they built, dumped at T) changes nothing,
/// wherever it is inserted: before the cut, while the AS is dark, after it came back, in the
/// middle of a 15-minute file and at a file boundary. It must neither undo a later update nor
/// disagree with the earlier ones.
#[test]
fn a_consistent_rib_inserted_mid_stream_changes_no_event() {
    let root = PathBuf::from(sample("mccolo-2008-11"));
    let base = ["--asn", "26780", "--min-duration", "0s"];
    let published = {
        let mut a = base.to_vec();
        let r = s(&root);
        a.push(&r);
        verdict(&a)
    };
    assert!(published.0.len() >= 4, "{published:#?}");
    let tmp = tempfile::tempdir().expect("tempdir");
    for at in [
        "2008-11-10T14:07:30Z",
        "2008-11-11T08:00:00Z",
        "2008-11-11T21:40:00Z",
        "2008-11-12T03:07:13Z",
        "2008-11-13T12:00:00Z",
    ] {
        let t = chrono::DateTime::parse_from_rfc3339(at)
            .expect("a time")
            .timestamp();
        let copy = tmp.path().join(at.replace(':', ""));
        copy_dir(&root, &copy);
        let name = chrono::DateTime::from_timestamp(t, 0)
            .expect("a time")
            .format("rib.%Y%m%d.%H%M.bz2")
            .to_string();
        write_rib(
            &copy.join("bgpdata/2008.11/RIBS").join(name),
            &state_before(&root, t),
            t,
        );
        let mut a = base.to_vec();
        let c = s(&copy);
        a.push(&c);
        let (events, counts) = verdict(&a);
        assert_eq!(events, published.0, "a consistent RIB at {at}");
        // The RIB's own records and elements are more to read; every other count is the same.
        let same = |c: &[String]| -> Vec<String> {
            c.iter()
                .filter(|k| !k.starts_with("records=") && !k.starts_with("elements="))
                .cloned()
                .collect()
        };
        assert_eq!(
            same(&counts),
            same(&published.1),
            "a consistent RIB at {at}"
        );
    }
}
