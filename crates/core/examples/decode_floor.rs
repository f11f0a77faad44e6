//! The floor `scripts/bench.sh` measures `cutoff scan` against: the given files decompressed
//! into memory with cutoff's own decoder and nothing else, one file at a time per thread, on
//! THREADS threads. `cargo run --release --example decode_floor -- THREADS FILE…`

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let threads: usize = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: decode_floor THREADS FILE…"))?
        .parse()?;
    let files: Vec<std::path::PathBuf> = args.map(Into::into).collect();
    let (next, bytes) = (AtomicUsize::new(0), AtomicU64::new(0));
    let failures = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut failures = Vec::new();
                    while let Some(path) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let (out, err) = cutoff_core::parse::decode::read_all(path);
                        bytes.fetch_add(out.len() as u64, Ordering::Relaxed);
                        if let Some(e) = err {
                            failures.push(format!("{}: {e}", path.display()));
                        }
                    }
                    failures
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                w.join()
                    .unwrap_or_else(|_| vec!["a worker panicked".into()])
            })
            .collect::<Vec<_>>()
    });
    println!("{} bytes decompressed", bytes.into_inner());
    anyhow::ensure!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}
