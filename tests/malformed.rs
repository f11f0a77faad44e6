//! Issue 16, items 1-5: records that are not read as written are never lost silently. Each
//! input is a real record with bytes changed (or a minimal valid record built here); every
//! departure must be counted per file and reason, named on stderr with the file, and give
//! exit status 3; what can be read exactly must be read as bgpdump reads it.

mod common;
use common::*;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The decompressed bytes of a shared data file, or `None` (skipped) when absent.
fn shared(rel: &str) -> Option<Vec<u8>> {
    let path = shared_mrt()?.join(rel);
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).expect("shared file"))
        .read_to_end(&mut out)
        .expect("gzip");
    Some(out)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write test input");
    p
}

/// The first `n` fields of each `-m` line (the ones both tools print the same way).
fn fields(lines: &[String], n: usize) -> Vec<String> {
    lines
        .iter()
        .map(|l| l.split('|').take(n).collect::<Vec<_>>().join("|"))
        .collect()
}

struct Run {
    code: i32,
    stdout: Vec<String>,
    stderr: String,
}

fn dump(file: &Path) -> Run {
    let out = cutoff().arg("dump").arg(file).output().expect("runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Exit 3, the reason on stderr naming the file, and no raw library log line.
fn assert_named(run: &Run, file: &Path, reason: &str) {
    let name = file.display().to_string();
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains(&name) && l.contains(reason)),
        "{reason:?} naming {name}: {}",
        run.stderr
    );
    for raw in [
        "early break",
        "not found in peer_index",
        "Skipping remaining",
    ] {
        assert!(!run.stderr.contains(raw), "library line: {}", run.stderr);
    }
}

/// The scan summary's count of records not read as written, and the exit status.
fn scan_unparsed(file: &Path, asn: &str) -> (i64, bool, i32) {
    let r = scan(&["--asn", asn, &file.display().to_string()]);
    let s = &r.summary;
    (
        s["unparsed_records"].as_i64().unwrap_or(-1),
        s["incomplete_input"].as_bool().unwrap_or(false),
        r.code,
    )
}

/// One MRT record: BGP4MP_MESSAGE_AS4 from 10.0.0.1 AS64500 at 1700000000 holding `update`.
fn bgp4mp_as4(update: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 0, 0xfb, 0xf4, 0, 0, 0x19, 0x2f, 0, 0, 0, 1];
    body.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    body.extend_from_slice(&[0xff; 16]);
    body.extend_from_slice(&((19 + update.len()) as u16).to_be_bytes());
    body.push(2);
    body.extend_from_slice(update);
    let mut rec = vec![0x65, 0x53, 0xf1, 0x00, 0, 16, 0, 4];
    rec.extend_from_slice(&(body.len() as u32).to_be_bytes());
    rec.extend_from_slice(&body);
    rec
}

/// 0.0.0.0/0 followed by six /24s.
const DEFAULT_FIRST: [u8; 25] = [
    0, 24, 10, 0, 29, 24, 10, 0, 79, 24, 10, 0, 179, 24, 10, 0, 0, 24, 10, 0, 1, 24, 10, 0, 2,
];
const SEVEN: [&str; 7] = [
    "0.0.0.0/0",
    "10.0.29.0/24",
    "10.0.79.0/24",
    "10.0.179.0/24",
    "10.0.0.0/24",
    "10.0.1.0/24",
    "10.0.2.0/24",
];

/// Item 1: an announcement of the seven by AS64699 (path 64500 64699), then their withdrawal.
fn default_route_first_file() -> Vec<u8> {
    let attrs = [
        0x40, 1, 1, 0, // ORIGIN IGP
        0x40, 2, 10, 2, 2, 0, 0, 0xfb, 0xf4, 0, 0, 0xfc, 0x9b, // AS_PATH 64500 64699
        0x40, 3, 4, 10, 0, 0, 1, // NEXT_HOP
    ];
    let mut announce = vec![0, 0, 0, attrs.len() as u8];
    announce.extend_from_slice(&attrs);
    announce.extend_from_slice(&DEFAULT_FIRST);
    let mut withdraw = vec![0, DEFAULT_FIRST.len() as u8];
    withdraw.extend_from_slice(&DEFAULT_FIRST);
    withdraw.extend_from_slice(&[0, 0]);
    let mut file = bgp4mp_as4(&announce);
    let mut second = bgp4mp_as4(&withdraw);
    second[3] += 60;
    file.extend_from_slice(&second);
    file
}

#[test]
fn a_default_route_first_in_the_nlri_is_read_as_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "default-first.mrt", &default_route_first_file());
    let run = dump(&file);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let prefix_of = |kind: &str| -> Vec<String> {
        run.stdout
            .iter()
            .filter(|l| l.contains(kind))
            .map(|l| l.split('|').nth(5).unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(prefix_of("|A|"), SEVEN);
    assert_eq!(prefix_of("|W|"), SEVEN);
    if let Some(bin) = bgpdump() {
        assert_eq!(
            fields(&run.stdout, 7),
            fields(&bgpdump_lines(&bin, &file), 7)
        );
    }
    // Item 5: read in full (watched origin) or only counted (prefiltered), the same 7 each.
    for asn in ["64699", "64501"] {
        let r = scan(&["--asn", asn, &file.display().to_string()]);
        let f = &r.summary["files"][0];
        let counts = (f["announcements"].as_i64(), f["withdrawals"].as_i64());
        assert_eq!(counts, (Some(7), Some(7)), "--asn {asn}");
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
}

#[test]
fn a_bad_prefix_in_mp_unreach_is_counted_and_the_ones_before_it_kept() {
    let Some(data) = shared("bgpdump/updates.20160811.1600.gz") else {
        return;
    };
    // A real BGP4MP_MESSAGE_AS4 withdrawing 2804:2468:8000::/33 and 2804:2468::/32 in an
    // MP_UNREACH_NLRI; its prefix lengths sit at bytes 86 and 92.
    let record = &data[134_800..134_897];
    let dir = tempfile::tempdir().expect("tempdir");
    for (at, kept) in [(86, 0), (92, 1)] {
        let mut bad = record.to_vec();
        bad[at] = 129;
        let file = write(dir.path(), &format!("mp-unreach-{at}.mrt"), &bad);
        let run = dump(&file);
        assert_named(&run, &file, "malformed MP_UNREACH_NLRI");
        assert_eq!(run.stdout.len(), kept, "{:?}", run.stdout);
        if let Some(bin) = bgpdump() {
            assert_eq!(
                fields(&run.stdout, 6),
                fields(&bgpdump_lines(&bin, &file), 6)
            );
        }
        assert_eq!(scan_unparsed(&file, "8218"), (1, true, 3));
    }
}

#[test]
fn a_bad_prefix_in_a_long_withdrawal_keeps_the_prefixes_before_it() {
    let Some(mut data) = shared("bgpdump/updates.long_withdrawal.gz") else {
        return;
    };
    // 4,096 IPv6 /64 withdrawals of 9 bytes each from byte 86: damage the 101st length.
    data[86 + 9 * 100] = 151;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "long.mrt", &data);
    let run = dump(&file);
    assert_named(&run, &file, "malformed MP_UNREACH_NLRI");
    assert_eq!(run.stdout.len(), 100);
    if let Some(bin) = bgpdump() {
        // bgpdump reads on past the bad length and prints garbage; the first 100 agree.
        let theirs = bgpdump_lines(&bin, &file);
        assert_eq!(fields(&run.stdout, 6), fields(&theirs[..100], 6));
    }
}

/// The real PEER_INDEX_TABLE and 23-entry RIB_IPV6_UNICAST record, with the 11th entry's
/// bytes at `field` (0: peer index, 6: attribute length) set to 0xFFFF.
fn rib_with_bad_entry(field: usize) -> Option<Vec<u8>> {
    let mut data = shared("bgpdump/bview.64k_stream_overflow.gz")?;
    let rib = 998;
    let mut at = rib + 12 + 4 + 1 + 6 + 2; // header, sequence, prefix /46, entry count
    for _ in 0..10 {
        let attr_len = u16::from_be_bytes([data[at + 6], data[at + 7]]);
        at += 8 + usize::from(attr_len);
    }
    data[at + field..at + field + 2].copy_from_slice(&[0xff, 0xff]);
    Some(data)
}

#[test]
fn rib_entries_that_cannot_be_read_are_counted_and_the_others_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (6, "runs past the record's end", 10),
        (0, "peer missing from the PEER_INDEX_TABLE", 22),
    ];
    for (field, reason, kept) in cases {
        let Some(data) = rib_with_bad_entry(field) else {
            return;
        };
        let file = write(dir.path(), &format!("rib-{field}.mrt"), &data);
        let run = dump(&file);
        assert_named(&run, &file, reason);
        assert_eq!(run.stdout.len(), kept, "{reason}");
        assert_eq!(scan_unparsed(&file, "22773"), (1, true, 3), "{reason}");
    }
}

#[test]
fn an_attribute_overrunning_its_block_drops_the_announcement_and_says_so() {
    // Item 4, IPv4: a real UPDATE of the lab (six /24s) whose AS_PATH length byte (at 61)
    // says 255.
    let Some(lab) = lab_update(425, 107) else {
        return;
    };
    let mut bad = lab.clone();
    bad[61] = 255;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "as-path-255.mrt", &bad);
    let run = dump(&file);
    assert_named(&run, &file, "path attributes overrun their block");
    assert!(run.stdout.is_empty(), "{:?}", run.stdout);
    assert_eq!(scan_unparsed(&file, "64600"), (1, true, 3));
}

#[test]
fn dump_and_scan_agree_on_a_malformed_nlri() {
    // Item 5: the same real UPDATE with its first NLRI length set to 79.
    let Some(lab) = lab_update(425, 107) else {
        return;
    };
    let mut bad = lab.clone();
    bad[83] = 79;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "nlri-79.mrt", &bad);
    let run = dump(&file);
    assert_named(&run, &file, "malformed announced NLRI");
    assert!(run.stdout.is_empty(), "{:?}", run.stdout);
    for asn in ["64699", "64600"] {
        assert_eq!(scan_unparsed(&file, asn), (1, true, 3), "--asn {asn}");
    }
}

/// One record of an FRR update file from the lab (decompressed offset and length); a copy
/// kept apart from `samples/lab`, which changes when the lab runs again.
fn lab_update(at: usize, len: usize) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let path = root().join("samples/lab-2026-11-23/frr-updates.20261123.mrt.gz");
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).ok()?)
        .read_to_end(&mut data)
        .ok()?;
    let record = data.get(at..at + len)?.to_vec();
    assert_eq!(&record[4..8], &[0, 16, 0, 4], "a BGP4MP_MESSAGE_AS4");
    Some(record)
}

/// Found by tests/fuzz.rs: an AS_PATH segment of an unknown type (127) came out as an empty
/// path with exit 0 (bgpkit-parser keeps the attribute as raw bytes and only warns); bgpdump
/// prints `! Error !`. Now the announcements are dropped and the record named.
#[test]
fn an_unreadable_as_path_drops_the_announcement_and_says_so() {
    let Some(lab) = lab_update(425, 107) else {
        return;
    };
    let mut bad = lab.clone();
    bad[62] = 127; // the first AS_PATH segment's type
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "as-path-type-127.mrt", &bad);
    let run = dump(&file);
    assert_named(&run, &file, "ORIGIN, AS_PATH or NEXT_HOP cannot be read");
    assert!(run.stdout.is_empty(), "{:?}", run.stdout);
    assert_eq!(scan_unparsed(&file, "64600"), (1, true, 3));
}

/// Found by tests/fuzz.rs: confederation segments (types 3 and 4) were printed as plain ASes
/// and as an AS_SET; they are printed as bgpdump prints them, `(a b)` and `[a,b]`.
#[test]
fn confederation_segments_are_printed_as_bgpdump_prints_them() {
    let Some(lab) = lab_update(425, 107) else {
        return;
    };
    let Some(bin) = bgpdump() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    for (kind, open) in [(3u8, '('), (4, '[')] {
        let mut bytes = lab.clone();
        bytes[62] = kind;
        let file = write(dir.path(), &format!("confed-{kind}.mrt"), &bytes);
        let run = dump(&file);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stdout
                .iter()
                .all(|l| l.split('|').nth(6).is_some_and(|p| p.starts_with(open))),
            "{:?}",
            run.stdout
        );
        assert_eq!(
            fields(&run.stdout, 7),
            fields(&bgpdump_lines(&bin, &file), 7),
            "segment type {kind}"
        );
    }
}

/// Found by tests/fuzz.rs: one flipped bit in a BGP marker, and the message was read with exit
/// 0 (bgpdump skips it). Now it is skipped and named.
#[test]
fn a_garbled_bgp_marker_skips_the_message_and_says_so() {
    let Some(lab) = lab_update(425, 107) else {
        return;
    };
    let mut bad = lab.clone();
    bad[12 + 20] ^= 1; // the marker's first byte, after the MRT and BGP4MP_AS4 headers
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "marker.mrt", &bad);
    let run = dump(&file);
    assert_named(&run, &file, "BGP marker is not all ones");
    assert!(run.stdout.is_empty(), "{:?}", run.stdout);
    assert_eq!(
        run.stdout.len(),
        bgpdump().map_or(0, |b| bgpdump_lines(&b, &file).len())
    );
}

/// Found by tests/fuzz.rs: a RIB record declaring 279 entries and holding 23 was read with
/// exit 0. Now the shortfall is counted as a cut entry.
#[test]
fn a_rib_record_with_fewer_entries_than_declared_says_so() {
    let Some(mut data) = shared("bgpdump/bview.64k_stream_overflow.gz") else {
        return;
    };
    let count = 998 + 12 + 4 + 1 + 6; // the RIB record's entry count, after its /46 prefix
    assert_eq!(&data[count..count + 2], &[0, 23]);
    data[count] = 1;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "rib-279.mrt", &data);
    let run = dump(&file);
    assert_named(&run, &file, "runs past the record's end");
    assert_eq!(run.stdout.len(), 23);
}

/// Found by tests/fuzz.rs: one bit turning a RIB_IPV4_UNICAST_ADDPATH record (subtype 8) into
/// RIB_IPV4_MULTICAST_ADDPATH (9) was read as unicast routes with exit 0; bgpdump skips it.
#[test]
fn a_multicast_rib_record_is_not_read_as_unicast_routes() {
    let mut bytes = Vec::new();
    flate2::read::MultiGzDecoder::new(
        std::fs::File::open(sample("awkward/bview.ipv4_unicast_add_path.gz")).expect("sample"),
    )
    .read_to_end(&mut bytes)
    .expect("gzip");
    let dir = tempfile::tempdir().expect("tempdir");
    let clean = dump(&write(dir.path(), "clean.mrt", &bytes));
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    // The record holding 10.0.1.0/24 (the fuzzer's case): its subtype's low byte is 8.
    let mut at = 0;
    let mut changed = None;
    while at + 12 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at + 8..at + 12].try_into().expect("4 bytes")) as usize;
        let body = &bytes[at + 12..at + 12 + len];
        if bytes[at + 5] == 13 && bytes[at + 7] == 8 && body.get(4..8) == Some(&[24, 10, 0, 1]) {
            bytes[at + 7] = 9;
            changed = Some(at);
        }
        at += 12 + len;
    }
    assert!(
        changed.is_some(),
        "the sample holds 10.0.1.0/24 in an ADD-PATH RIB record"
    );
    let file = write(dir.path(), "multicast.mrt", &bytes);
    let run = dump(&file);
    assert_named(&run, &file, "multicast RIB");
    let gone: Vec<&String> = clean
        .stdout
        .iter()
        .filter(|l| !run.stdout.contains(l))
        .collect();
    assert!(
        !gone.is_empty() && gone.iter().all(|l| l.contains("|10.0.1.0/24|")),
        "only the multicast record's routes are left out: {gone:?}"
    );
}
