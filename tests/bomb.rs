//! A decompression bomb (one real record repeated, compressing a thousandfold) must cost time,
//! not memory: an update file that expands beyond `--max-in-memory` is streamed. Its own test
//! binary, so the peak memory measured is only the child's.

mod common;

use std::io::{Read, Write};
use std::path::Path;

/// The first MRT record of a real update file.
fn one_record() -> Vec<u8> {
    let path =
        common::sample("routeviews-2008-02-24/bgpdata/2008.02/UPDATES/updates.20080224.2126.bz2");
    let mut raw = Vec::new();
    bzip2::read::MultiBzDecoder::new(std::fs::File::open(path).expect("sample"))
        .read_to_end(&mut raw)
        .expect("sample decodes");
    let len = u32::from_be_bytes([raw[8], raw[9], raw[10], raw[11]]) as usize;
    raw.truncate(12 + len);
    raw
}

/// `streams` bzip2 streams of 8 MiB each (the record repeated), one after the other: a
/// multi-stream file that is quick to make and expands about a thousandfold.
fn write_bomb(path: &Path, streams: usize) -> u64 {
    let record = one_record();
    let plain: Vec<u8> = record.repeat((8 << 20) / record.len());
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    enc.write_all(&plain).expect("compress");
    let stream = enc.finish().expect("compress");
    let mut file = std::fs::File::create(path).expect("bomb file");
    for _ in 0..streams {
        file.write_all(&stream).expect("write bomb");
    }
    (plain.len() * streams) as u64
}

/// Run the binary to its end; its exit code and peak resident memory in bytes (from the
/// kernel's accounting of that one child, not a sample: exact and not timing-dependent).
// The child is reaped by `wait4`, which also gives its resource usage; `Child::wait` cannot.
#[allow(clippy::zombie_processes)]
fn run_measured(args: &[&str]) -> (i32, u64) {
    let bin = assert_cmd::cargo::cargo_bin("cutoff");
    let child = std::process::Command::new(bin)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("cutoff starts");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain out-parameters; the child is ours and not waited for elsewhere.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(got, pid, "wait4 failed");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, usage.ru_maxrss as u64 * 1024)
}

#[test]
fn a_decompression_bomb_is_streamed_in_bounded_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bomb = dir.path().join("updates.20080224.0000.bz2");
    let expanded = write_bomb(&bomb, 24);
    assert!(std::fs::metadata(&bomb).expect("bomb").len() < 2 << 20);
    let path = bomb.display().to_string();
    let (code, peak) = run_measured(&[
        "scan",
        "--asn",
        "17557",
        "--format",
        "jsonl",
        "--max-in-memory",
        "16MiB",
        &path,
    ]);
    assert_eq!(code, 0, "the bomb is read to its end without a problem");
    assert!(
        peak < 96 << 20,
        "peak memory {} MiB for a file expanding to {} MiB",
        peak >> 20,
        expanded >> 20
    );
}
