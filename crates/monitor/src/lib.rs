//! `cutoff monitor`: one incremental run, for cron or a systemd timer (README, Monitoring).
//!
//! A run takes the lock, loads the checkpoint, picks the files that are new since the
//! cursor of each collector, feeds them to the incremental pipeline, turns new events into
//! alerts, writes the checkpoint (with the new alerts still *pending*), then delivers the
//! alerts sink by sink, recording each delivery in the checkpoint as it happens. A crash at
//! any point therefore loses nothing: a run that dies before the checkpoint is written is
//! simply redone (the pipeline is deterministic, so it finds the same events), and alerts
//! that were pending are delivered by the next run. The one repeat it allows is the moment
//! between a sink accepting an alert and the ledger recording it (see README, Monitoring).

pub mod alert;
pub mod checkpoint;
pub mod config;
pub mod durable;
pub mod follow;
pub mod live_metrics;
pub mod metrics;
pub mod run;
pub mod seam;
pub mod select;

use crate::checkpoint::Store;
use crate::config::MonitorConfig;
use crate::durable::{Lock, crash_point, write_atomic};
use crate::run::{run_locked, warn};
use crate::seam::PipelineFactory;
use cutoff_core::error::ExitStatus;
use std::path::PathBuf;

/// What `cutoff monitor` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The TOML configuration.
    pub config: PathBuf,
    /// Exit with status 1 when this run raised alerts.
    pub exit_code: bool,
    /// Write a Prometheus textfile here (atomically) after the run.
    pub metrics_file: Option<PathBuf>,
}

/// The whole command: configuration, lock, run, metrics, exit status.
pub fn run_with(args: &RunOptions, make: &PipelineFactory) -> anyhow::Result<ExitStatus> {
    let started = std::time::Instant::now();
    let now = chrono::Utc::now().timestamp();
    let config = MonitorConfig::load(&args.config)?;
    if config.source.live_only() {
        anyhow::bail!(
            "{}: the only source is live (source.bmp_listen or RIS Live): run `cutoff monitor --follow`",
            args.config.display()
        );
    }
    let dir = config.state_dir();
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("state_dir {}: {e}", dir.display()))?;
    let Some(_lock) =
        Lock::acquire(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.join("lock").display()))?
    else {
        eprintln!(
            "cutoff monitor: another run holds the lock ({}); this one leaves it to finish",
            dir.join("lock").display()
        );
        return Ok(ExitStatus::Success);
    };
    crash_point("after-lock");
    let store = Store::new(dir);
    let result = run_locked(&config, &store, make, now);
    crash_point("before-metrics");
    if let Some(path) = &args.metrics_file {
        let m = crate::metrics::Metrics::of_run(&config, &result, now, started.elapsed());
        if let Err(e) = write_atomic(path, m.render().as_bytes()) {
            warn(&format!("metrics file {}: {e}", path.display()));
        }
    }
    let (report, _) = result.map_err(anyhow::Error::msg)?;
    Ok(if report.incomplete {
        ExitStatus::IncompleteInput
    } else if args.exit_code && report.alerts_raised > 0 {
        ExitStatus::EventsFound
    } else {
        ExitStatus::Success
    })
}
