//! A scan cut into partitions (`scan --partial`) and merged (`merge`) prints exactly what
//! one scan of the same files prints, however the files are partitioned, on the real data:
//! the McColo reconstruction, route-views2 on the YouTube hijack day, and the lab's routers
//! (RIB dumps between update files, files without a time).

mod common;

use common::{cutoff, root, sample, without_elapsed};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `cutoff scan ARGS FILES --format jsonl`: exit code and output.
fn whole(args: &[&str], files: &[String]) -> (i32, String) {
    let out = cutoff()
        .current_dir(root())
        .arg("scan")
        .args(args)
        .args(files)
        .args(["--format", "jsonl"])
        .output()
        .expect("cutoff runs");
    (
        out.status.code().unwrap_or(-1),
        without_elapsed(&out.stdout),
    )
}

fn read_partition(args: &[&str], files: &[String], out: &Path, known: &[String]) {
    let mut c = cutoff();
    c.current_dir(root())
        .args(["-q", "scan"])
        .args(args)
        .args(files)
        .arg("--partial")
        .arg(out);
    for p in known {
        c.args(["--known-prefix", p]);
    }
    let run = c.output().expect("cutoff runs");
    let code = run.status.code();
    assert!(
        matches!(code, Some(0 | 3)),
        "scan --partial exits 0 or 3, got {code:?}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// What a merge said: exit code, stdout, stderr.
fn merge(partials: &[PathBuf]) -> (i32, Vec<u8>, String) {
    let out = cutoff()
        .current_dir(root())
        .arg("merge")
        .args(partials)
        .args(["--format", "jsonl"])
        .output()
        .expect("cutoff runs");
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Read each partition into a partial, merge them (in reverse order), read again the
/// partitions the merge names with the prefixes it gives, and merge again: as a driver
/// (scripts/dask) does. Returns the merge's exit code and output, and the partitions re-read.
fn partitioned(args: &[&str], partitions: &[Vec<String>]) -> (i32, String, usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let paths: Vec<PathBuf> = (0..partitions.len())
        .map(|i| dir.path().join(format!("part-{i:04}.parquet")))
        .collect();
    for (files, out) in partitions.iter().zip(&paths) {
        read_partition(args, files, out, &[]);
    }
    let mut order = paths.clone();
    order.reverse();
    let (code, stdout, stderr) = merge(&order);
    if code != 2 {
        return (code, without_elapsed(&stdout), 0);
    }
    let rereads: Vec<Value> = String::from_utf8_lossy(&stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("reread line is JSON"))
        .collect();
    assert!(
        !rereads.is_empty() && rereads.iter().all(|r| r["kind"] == "reread"),
        "a merge that stops lists the partitions to read again: {stderr}"
    );
    for r in &rereads {
        let partial = PathBuf::from(r["partial"].as_str().expect("partial"));
        let i = paths
            .iter()
            .position(|p| *p == partial)
            .expect("a partial of ours");
        let known: Vec<String> = r["known_prefixes"]
            .as_array()
            .expect("known_prefixes")
            .iter()
            .map(|p| p.as_str().expect("prefix").to_string())
            .collect();
        assert!(!known.is_empty(), "a re-read is given prefixes: {r}");
        read_partition(args, &partitions[i], &paths[i], &known);
    }
    let (code, stdout, stderr) = merge(&order);
    assert_ne!(code, 2, "the second merge needs no third round: {stderr}");
    (code, without_elapsed(&stdout), rereads.len())
}

/// Files of a sample folder, in name order, relative to the crate root.
fn files_under(rel: &str) -> Vec<String> {
    let mut files = Vec::new();
    let mut dirs = vec![root().join(rel)];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("sample folder").flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if !p.extension().is_some_and(|x| x == "md" || x == "json") {
                let rel = p.strip_prefix(root()).expect("under root");
                files.push(rel.display().to_string());
            }
        }
    }
    files.retain(|f| !f.ends_with("SHA256SUMS"));
    files.sort_by_key(|f| name_of(f));
    files
}

/// A file's name without its folder.
fn name_of(path: &str) -> String {
    Path::new(path)
        .file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

/// Cut `files` into consecutive pieces of these sizes (the last takes the rest).
fn pieces(files: &[String], sizes: &[usize]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = files;
    for &n in sizes {
        if rest.is_empty() {
            break;
        }
        let (a, b) = rest.split_at(n.min(rest.len()));
        out.push(a.to_vec());
        rest = b;
    }
    if !rest.is_empty() {
        out.push(rest.to_vec());
    }
    out
}

/// Group files by a key of their name (files named alike go together).
fn grouped(files: &[String], key: impl Fn(&str) -> String) -> Vec<Vec<String>> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in files {
        groups.entry(key(&name_of(f))).or_default().push(f.clone());
    }
    groups.into_values().collect()
}

/// `updates.20081110.0015.bz2` → `20081110.00` (its hour); a RIB goes with its hour.
fn hour_of(name: &str) -> String {
    let parts: Vec<&str> = name.split('.').collect();
    format!("{}.{}", parts[1], &parts[2][..2])
}

fn assert_same(args: &[&str], files: &[String], partitions: &[Vec<String>], what: &str) -> usize {
    let n: usize = partitions.iter().map(Vec::len).sum();
    assert_eq!(n, files.len(), "{what}: every file in one partition");
    let (code, expected) = whole(args, files);
    assert!(
        expected.lines().count() > 1,
        "{what}: the scan found events"
    );
    let (merged_code, merged, rereads) = partitioned(args, partitions);
    assert_eq!(merged, expected, "{what}: merge and scan differ");
    assert_eq!(merged_code, code, "{what}: exit codes differ");
    rereads
}

#[test]
fn mccolo_partitioned_by_hour_by_day_and_unevenly_merges_to_the_scan() {
    let files = files_under("samples/mccolo-2008-11/bgpdata");
    assert_eq!(files.len(), 577);
    // The RIB sorts first by name (rib. < updates.) but belongs to the first hour.
    let mut files_in_order = files.clone();
    files_in_order.sort_by_key(|f| {
        let name = name_of(f);
        (hour_of(&name), !name.starts_with("rib"), name)
    });
    let args = ["--asn", "26780"];
    let by_hour = grouped(&files_in_order, hour_of);
    assert_eq!(by_hour.len(), 144);
    let rereads = assert_same(&args, &files_in_order, &by_hour, "by hour");
    // Every hour after the first starts without the prefixes the RIB taught.
    assert_eq!(rereads, 143);
    let by_day = grouped(&files_in_order, |n| hour_of(n)[..8].to_string());
    assert_eq!(by_day.len(), 6);
    assert_same(&args, &files_in_order, &by_day, "by day");
    let uneven = pieces(&files_in_order, &[1, 7, 60, 3, 200, 1, 90]);
    assert_same(&args, &files_in_order, &uneven, "uneven");
    // One partition is the scan itself: nothing to re-read.
    assert_eq!(
        assert_same(&args, &files_in_order, &[files_in_order.clone()], "whole"),
        0
    );
}

#[test]
fn the_youtube_hijack_day_partitioned_per_file_by_hour_and_unevenly_merges_to_the_scan() {
    let files = files_under("samples/routeviews-2008-02-24/bgpdata");
    assert_eq!(files.len(), 16);
    for asn in ["17557", "36561"] {
        let args = ["--asn", asn, "--min-duration", "0s"];
        let singles: Vec<Vec<String>> = files.iter().map(|f| vec![f.clone()]).collect();
        assert_same(&args, &files, &singles, &format!("AS{asn} per file"));
        let uneven = pieces(&files, &[3, 1, 9]);
        assert_same(&args, &files, &uneven, &format!("AS{asn} uneven"));
        let by_hour = grouped(&files, hour_of);
        assert_eq!(by_hour.len(), 4);
        assert_same(&args, &files, &by_hour, &format!("AS{asn} by hour"));
    }
}

/// GoBGP's RIB dumps fall between its update files: partitions by RIB, each starting at
/// one. FRR's and BIRD's updates are files without a time (streams of their own, their
/// prefixes learned before reading), beside timed RIBs.
#[test]
fn the_lab_partitioned_by_rib_merges_to_the_scan() {
    let args = ["--asn", "64500", "--min-duration", "0s"];
    let gobgp = files_under("samples/lab/gobgp");
    let mut in_order = gobgp.clone();
    // Reading order: by the time in the name, a RIB before the updates of its minute.
    in_order.sort_by_key(|f| {
        let n = name_of(f);
        let parts: Vec<&str> = n.split('.').collect();
        (format!("{}{}", parts[1], parts[2]), !n.starts_with("rib"))
    });
    let mut by_rib: Vec<Vec<String>> = vec![Vec::new()];
    for f in &in_order {
        if f.contains("/rib.") {
            by_rib.push(Vec::new());
        }
        by_rib.last_mut().expect("a partition").push(f.clone());
    }
    assert_eq!(by_rib.len(), 6);
    assert_same(&args, &in_order, &by_rib, "gobgp by RIB");
    for daemon in ["frr", "bird"] {
        let files = files_under(&format!("samples/lab/{daemon}"));
        let (ribs, other): (Vec<String>, Vec<String>) =
            files.iter().cloned().partition(|f| f.contains("/rib."));
        let mut partitions: Vec<Vec<String>> = other.iter().map(|f| vec![f.clone()]).collect();
        partitions.extend(pieces(&ribs, &[4, 4]));
        assert_same(&args, &files, &partitions, daemon);
    }
}

#[test]
fn merge_refuses_overlapping_partitions_other_scans_and_files_that_are_not_partials() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = files_under("samples/routeviews-2008-02-24/bgpdata");
    let args = ["--asn", "17557"];
    let a = dir.path().join("a.parquet");
    let b = dir.path().join("b.parquet");
    let other = dir.path().join("other.parquet");
    read_partition(&args, &files[..6], &a, &[]);
    read_partition(&args, &files[4..], &b, &[]);
    read_partition(&["--asn", "36561"], &files[6..], &other, &[]);
    let (code, _, stderr) = merge(&[a.clone(), b.clone()]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("must not overlap") && stderr.contains(&files[4]),
        "{stderr}"
    );
    let (code, _, stderr) = merge(&[a.clone(), other.clone()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("different scans"), "{stderr}");
    let not_partial = root().join(sample("spam-2008/spam-hourly.csv"));
    let (code, _, stderr) = merge(&[a.clone(), not_partial]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("spam-hourly.csv") && stderr.contains("not a readable Parquet file"),
        "{stderr}"
    );
    let cut = dir.path().join("cut.parquet");
    let bytes = std::fs::read(&a).expect("partial");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let (code, _, stderr) = merge(&[cut]);
    assert_eq!(code, 2);
    assert!(stderr.contains("cut.parquet"), "{stderr}");
}

/// The partition after a RIB does not know what the RIB taught: the merge names it and the
/// prefixes, as JSON for a driver and as flags for a person.
#[test]
fn merge_names_the_partitions_to_read_again_and_the_prefixes_to_give_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = files_under("samples/mccolo-2008-11/bgpdata");
    let (rib, updates): (Vec<String>, Vec<String>) =
        files.iter().cloned().partition(|f| f.contains("/rib."));
    let first: Vec<String> = rib.iter().chain(&updates[..4]).cloned().collect();
    let a = dir.path().join("a.parquet");
    let b = dir.path().join("b.parquet");
    read_partition(&["--asn", "26780"], &first, &a, &[]);
    read_partition(&["--asn", "26780"], &updates[4..8], &b, &[]);
    let (code, stdout, stderr) = merge(&[a, b.clone()]);
    assert_eq!(code, 2);
    let line: Value = serde_json::from_slice(&stdout).expect("one JSON line");
    assert_eq!(line["partial"], b.display().to_string());
    assert_eq!(line["collector"], "route-views2");
    assert_eq!(
        line["known_prefixes"],
        serde_json::json!(["208.66.192.0/22", "208.72.168.0/21", "208.72.173.0/24"])
    );
    assert!(
        stderr.contains("--known-prefix 208.72.168.0/21") && stderr.contains("b.parquet"),
        "{stderr}"
    );
}

/// Flags a partial would ignore are refused, not ignored.
#[test]
fn flags_a_partial_would_ignore_are_refused() {
    let mccolo = "samples/mccolo-2008-11";
    common::assert_usage_errors([
        (
            &[
                "scan",
                "--asn",
                "26780",
                mccolo,
                "--partial",
                "x.parquet",
                "--format",
                "table",
            ],
            "cannot be used with",
        ),
        (
            &[
                "scan",
                "--asn",
                "26780",
                mccolo,
                "--partial",
                "x.parquet",
                "--telemetry",
                "s.csv",
            ],
            "cannot be used with",
        ),
        (
            &[
                "scan",
                "--asn",
                "26780",
                mccolo,
                "--known-prefix",
                "10.0.0.0/8",
            ],
            "--partial",
        ),
        (&["merge"], "PARTIAL"),
    ]);
    assert!(!root().join("x.parquet").exists(), "nothing written");
}

/// `cutoff plan` cuts an archive scan into partitions (here: days) that workers with caches of
/// their own read with `--partition`; the merge is the archive scan, file locations aside.
#[test]
fn planned_partitions_read_by_workers_with_their_own_caches_merge_to_the_archive_scan() {
    let server = common::http::Server::start(&[("/rv/", root().join("samples/mccolo-2008-11"))]);
    let url = server.url("/rv");
    let dir = tempfile::tempdir().expect("temp dir");
    let range = ["--from", "2008-11-10", "--to", "2008-11-16"];
    let net = |cache: &Path| -> Vec<String> {
        vec![
            "--collector".into(),
            "route-views2".into(),
            "--routeviews-url".into(),
            url.clone(),
            "--cache-dir".into(),
            cache.display().to_string(),
            "--timeout".into(),
            "2s".into(),
        ]
    };
    let planner = dir.path().join("planner-cache");
    let out = cutoff()
        .arg("plan")
        .args(range)
        .args(["--every", "1d"])
        .args(net(&planner))
        .output()
        .expect("cutoff runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 6, "six days");
    assert!(
        !planner
            .join("routeviews/bgpdata/2008.11/UPDATES")
            .read_dir()
            .is_ok_and(|mut d| d
                .any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "bz2")))),
        "planning downloads no MRT file"
    );
    let files: Vec<usize> = lines
        .iter()
        .map(|l| l["files"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(
        files,
        [97, 96, 96, 96, 96, 96],
        "the RIB goes with the first day"
    );
    assert_eq!(lines[0]["files"][0]["kind"], "Rib");
    let mut partitions = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let file = dir.path().join(format!("partition-{i}.json"));
        std::fs::write(&file, line.to_string()).expect("write");
        let mut args: Vec<String> = vec!["--partition".into(), file.display().to_string()];
        args.extend(net(&dir.path().join(format!("worker-{i}"))));
        partitions.push(args);
    }
    let mut common_args = vec!["--asn", "26780"];
    common_args.extend(range);
    let (code, merged, rereads) = partitioned(&common_args, &partitions);
    assert_eq!(rereads, 5, "every day after the RIB's is read again");
    let scan_cache = dir.path().join("scan-cache");
    let (scan_code, scanned) = whole(&common_args, &net(&scan_cache));
    assert_eq!(code, scan_code);
    // The same, but for where each machine keeps its cache.
    let mut located = merged.clone();
    for i in 0..partitions.len() {
        located = located.replace(
            &dir.path().join(format!("worker-{i}")).display().to_string(),
            "CACHE",
        );
    }
    let scanned = scanned.replace(&scan_cache.display().to_string(), "CACHE");
    assert!(scanned.contains("disconnected"), "{scanned}");
    assert_eq!(located, scanned);
}
