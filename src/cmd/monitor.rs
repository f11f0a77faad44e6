//! `cutoff monitor` and `cutoff config`: the flags, and the monitor crate's run.

use anyhow::Result;
use cutoff_core::error::ExitStatus;
use cutoff_monitor::config::{EXAMPLE, MonitorConfig};
use cutoff_monitor::seam::RealPipeline;
use cutoff_monitor::{RunOptions, run_with};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct MonitorArgs {
    /// The TOML configuration (see `cutoff config --example`; at most 1MiB).
    #[arg(long, env = "CUTOFF_CONFIG")]
    pub config: PathBuf,
    /// Exit with status 1 when this run raised alerts.
    #[arg(long)]
    pub exit_code: bool,
    /// Write a Prometheus textfile here (atomically) after the run.
    #[arg(long)]
    pub metrics_file: Option<PathBuf>,
    /// One pass, then exit. This is what every run does (cron and the systemd timer start
    /// each run); the flag lets wrappers say so explicitly.
    #[arg(long, conflicts_with = "follow")]
    pub once: bool,
    /// Run until SIGTERM or SIGINT, fed by the live sources of the configuration (`[source]
    /// bmp_listen`), alerting within seconds; then write the checkpoint and exit 0.
    #[arg(long, conflicts_with_all = ["exit_code", "metrics_file"])]
    pub follow: bool,
}

#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// The configuration file whose effective form (defaults filled in) is printed (at most
    /// 1MiB).
    #[arg(long, env = "CUTOFF_CONFIG", required_unless_present = "example")]
    pub config: Option<PathBuf>,
    /// Print the documented example configuration instead.
    #[arg(long)]
    pub example: bool,
}

pub fn run_config(args: ConfigArgs) -> Result<ExitStatus> {
    let text = match &args.config {
        Some(path) if !args.example => MonitorConfig::load(path)?
            .to_toml()
            .map_err(anyhow::Error::msg)?,
        _ => EXAMPLE.to_string(),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitStatus::Success)
}

pub fn run(args: MonitorArgs) -> Result<ExitStatus> {
    let options = RunOptions {
        config: args.config,
        exit_code: args.exit_code,
        metrics_file: args.metrics_file,
    };
    if args.follow {
        return cutoff_monitor::follow::follow_with(&options, &*RealPipeline::factory());
    }
    run_with(&options, &*RealPipeline::factory())
}
