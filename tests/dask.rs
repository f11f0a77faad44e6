//! The Dask driver (`scripts/dask/cutoff_dask.py`) on a real `LocalCluster` (a scheduler and
//! two worker processes) reading the McColo week from a loopback archive: the same output as
//! one archive scan; a worker killed mid-run changes nothing (Dask retries its task); a
//! partition that fails on every try is a named gap, exit 3.

mod common;

use common::{cutoff, root, without_elapsed};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Python with dask.distributed and pyarrow (scripts/dask/requirements.txt), required under
/// `CUTOFF_REQUIRE_ORACLE` (as `.ci/run` sets).
fn python() -> Option<&'static str> {
    let ok = Command::new("python3")
        .args(["-c", "import dask.distributed, pyarrow"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some("python3");
    }
    common::absent(
        "python3 with dask.distributed and pyarrow is not installed (pip install -r scripts/dask/requirements.txt)",
    );
    None
}

fn binary() -> String {
    assert_cmd::cargo::cargo_bin("cutoff").display().to_string()
}

/// Run the driver on the McColo week; `env` adds fault injection. Exit code and stdout.
fn drive(
    python: &str,
    url: &str,
    cache: &Path,
    work: &Path,
    env: &[(&str, String)],
) -> (i32, String, String) {
    let out = Command::new(python)
        .current_dir(root())
        .arg("scripts/dask/cutoff_dask.py")
        .args([
            "--asn",
            "26780",
            "--from",
            "2008-11-10",
            "--to",
            "2008-11-16",
        ])
        .args([
            "--collector",
            "route-views2",
            "--every",
            "1d",
            "--local-workers",
            "2",
        ])
        .args(["--routeviews-url", url, "--timeout", "2s"])
        .arg("--cutoff")
        .arg(binary())
        .arg("--worker-cache")
        .arg(cache)
        .arg("--planner-cache")
        .arg(cache)
        .arg("--work-dir")
        .arg(work)
        .envs(env.iter().map(|(k, v)| (k.to_string(), v.clone())))
        .env_remove("CACHE_DIRECTORY")
        .env("XDG_CACHE_HOME", common::test_cache())
        .output()
        .expect("python3 runs");
    (
        out.status.code().unwrap_or(-1),
        without_elapsed(&out.stdout),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_local_dask_cluster_gives_the_scan_even_when_a_worker_dies_and_names_a_lost_partition() {
    let Some(python) = python() else { return };
    let server = common::http::Server::start(&[("/rv/", root().join("samples/mccolo-2008-11"))]);
    let url = server.url("/rv");
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");
    let scan = cutoff()
        .args([
            "scan",
            "--asn",
            "26780",
            "--from",
            "2008-11-10",
            "--to",
            "2008-11-16",
        ])
        .args([
            "--collector",
            "route-views2",
            "--routeviews-url",
            &url,
            "--timeout",
            "2s",
        ])
        .arg("--cache-dir")
        .arg(&cache)
        .args(["--format", "jsonl"])
        .output()
        .expect("cutoff runs");
    assert_eq!(scan.status.code(), Some(0));
    let expected = without_elapsed(&scan.stdout);
    assert!(expected.contains("\"disconnected\""), "{expected}");

    let (code, out, err) = drive(python, &url, &cache, &dir.path().join("w1"), &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, expected, "the cluster's merge is the scan");
    assert!(err.contains("6 partition(s)"), "{err}");
    assert!(
        !err.contains("read again"),
        "the later days were told what the first learned: {err}"
    );

    let marker = dir.path().join("killed");
    let env = [("CUTOFF_DASK_KILL_ONCE", marker.display().to_string())];
    let (code, out, err) = drive(python, &url, &cache, &dir.path().join("w2"), &env);
    assert!(marker.exists(), "a worker was killed");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, expected, "Dask retried the dead worker's task");

    let env = [("CUTOFF_DASK_FAIL", "route-views2.0002".to_string())];
    let (code, out, err) = drive(python, &url, &cache, &dir.path().join("w3"), &env);
    assert_eq!(code, 3, "{err}");
    let summary: Value =
        serde_json::from_str(out.lines().last().expect("a summary")).expect("JSON");
    let gaps = summary["gaps"].as_array().expect("gaps");
    assert_eq!(
        gaps.len(),
        96,
        "every file of the lost day is a gap: {gaps:?}"
    );
    assert!(
        gaps.iter().all(|g| g["problem"]
            .as_str()
            .is_some_and(|p| p.contains("partition route-views2.0002 could not be read"))),
        "{gaps:?}"
    );
    assert!(
        gaps[0]["file"]
            .as_str()
            .is_some_and(|f| f.contains("updates.20081112.0000"))
    );
}
