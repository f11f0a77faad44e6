//! The command line: clap definitions, dispatch, logging, and the one place a command's
//! result becomes the process's exit status. Flags exist only in this module and its
//! children; each command turns them into the library crates' typed options.

pub mod correlate;
pub mod dump;
pub mod fetch;
pub mod merge;
pub mod monitor;
pub mod names;
pub mod problems;
pub mod report;
pub mod scan;

use clap::{Parser, Subcommand};
use cutoff_core::error::ExitStatus;

#[derive(Debug, Parser)]
#[command(
    name = "cutoff",
    version,
    about = "When did an AS lose its last upstream, who cut it off, and what happened to spam.",
    long_about = "cutoff reads RouteViews and RIPE RIS MRT files (RIB dumps and BGP4MP updates; raw, gz, bz2) and \
reports when an AS lost upstreams or all of them, with the routing messages as evidence.\n\n\
Data goes to stdout, messages to stderr. Exit status: 0 ran fine; 1 events found (only with --exit-code); \
2 usage or fatal error; 3 finished but input was incomplete (missing, corrupt or truncated files)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Print less on stderr (repeat for nothing but errors).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,
    /// Print more on stderr: -v says what each step decided (a monitor run that did nothing
    /// says why), -vv traces.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Find when the watched ASes lost upstreams, went dark, and came back.
    Scan(Box<scan::ScanArgs>),
    /// Visibility over time: eligible peers seeing each watched AS, per upstream and prefix.
    ///
    /// One point per change (each holds until the next point of its AS), as CSV (one column
    /// per upstream; the default on a terminal) or JSON Lines (with prefixes and peers not
    /// counted, then the run summary). Reads the same input and takes the same thresholds as `scan`.
    Timeline(Box<scan::TimelineArgs>),
    /// Join the partials of a scan cut into partitions (`scan --partial`) into the scan's result.
    ///
    /// Prints exactly what `cutoff scan` over all the partitions' files prints (but the time
    /// it took), whatever the partitioning: by collector, by RIB, by hour or uneven
    /// (docs/PARTIALS.md). Takes the output flags of `scan`. When a partition was read
    /// without prefixes the partitions before it learned, prints one `reread` JSON line per
    /// partition to read again (with `--known-prefix`) and exits 2. Exit status: as `scan`.
    Merge(Box<merge::MergeArgs>),
    /// Cut an archive scan into partitions: per collector, stretches of its files (JSON Lines).
    ///
    /// Finds the files as `scan --from --to` does (listings, not names) and prints one line per
    /// partition: its id, collector, stretch, and files (URL, place in the cache, kind, start,
    /// known gaps). Each line, saved to a file, is read on any machine with `cutoff scan --asn …
    /// --from … --to … --partition LINE.json --partial OUT.parquet`; `cutoff merge` joins the
    /// partials (docs/PARTIALS.md). Exit status: 0 fine; 2 usage error; 3 gaps in the archive.
    Plan(Box<merge::PlanArgs>),
    /// Print the routing messages behind a claim (bgpdump -m format by default).
    Dump(dump::DumpArgs),
    /// Did spam fall when the AS was cut off? Correlate scan events with spam telemetry.
    ///
    /// For each disconnected, restored and upstream_lost event: the drop of the series in the W days
    /// after it against the median of the same hours of the K previous weeks, with a 95% CI, per-day
    /// drops, the lag, a blind change point, a placebo p-value, a control series, confounders and a
    /// sentence to quote (docs/METHOD.md §6). Exit status: 0 fine; 2 usage or bad input; 3 some event could
    /// not be measured (no telemetry around it).
    Correlate(correlate::CorrelateArgs),
    /// Download RouteViews / RIS files of a time range into the cache, for offline work.
    ///
    /// Per collector: the RIB at or before --from, then every update file up to --to, found in
    /// the archives' monthly listings. Prints each file (got, cached, missing) and a summary
    /// line. Exit status: 0 all there; 2 usage error; 3 something is missing.
    Fetch(fetch::FetchArgs),
    /// List the archive collectors cutoff knows (name, archive, years active, location).
    Collectors(fetch::CollectorsArgs),
    /// AS names for reports and alerts: fetch the public list (RIPE's asn.txt) into the cache,
    /// or show what it holds.
    ///
    /// `report`, `scan --report` and monitor alerts use the cached list when present;
    /// `--as-names FILE` wins over it. Exit status: 0 fine; 2 usage error, or the list could
    /// not be had (the earlier list is kept).
    Names(names::NamesArgs),
    /// Watch ASes incrementally, for cron or a systemd timer: read only new files, alert once.
    ///
    /// Takes a lock, loads the checkpoint from the state directory, reads the files that are new
    /// since the last run, raises each event once to the configured sinks, and writes the
    /// checkpoint atomically. Prints nothing when nothing happened. Exit status: 0 fine (also when
    /// another run holds the lock); 1 alerts raised (only with --exit-code); 2 configuration or
    /// fatal error (a corrupt checkpoint included); 3 input incomplete (missing or corrupt files).
    Monitor(monitor::MonitorArgs),
    /// Print the effective monitor configuration (defaults filled in), or the example.
    Config(monitor::ConfigArgs),
    /// Write a report a journalist can cite: report.html (one self-contained file), report.md,
    /// the charts as SVG and PNG, events.jsonl and inputs.sha256.
    ///
    /// Reads the events `scan --format jsonl` printed, optionally the visibility `timeline
    /// --format jsonl` printed (for the charts) and spam telemetry (as for `correlate`).
    /// Exit status: 0 fine; 2 usage or bad input; 3 the scan's input was incomplete or an
    /// event could not be measured.
    Report(Box<report::ReportArgs>),
}

/// Parse the command line, run the command, and decide the exit status.
pub fn main() -> ExitStatus {
    let cli = Cli::parse();
    // A monitor prints nothing unless something happened (cron mails any output): its
    // informational messages are off unless CUTOFF_LOG asks for them.
    let quiet = match cli.command {
        Command::Monitor(_) if cli.verbose == 0 => cli.quiet.max(1),
        _ => cli.quiet,
    };
    init_logging(cli.verbose, quiet);
    cutoff_archive::fetch::set_progress(quiet == 0);
    exit_status(run(cli.command))
}

fn run(command: Command) -> anyhow::Result<ExitStatus> {
    match command {
        Command::Scan(args) => scan::run(*args),
        Command::Timeline(args) => scan::run_timeline(*args),
        Command::Merge(args) => merge::run(*args),
        Command::Plan(args) => merge::run_plan(*args),
        Command::Dump(args) => dump::run(args),
        Command::Correlate(args) => correlate::run_cli(args),
        Command::Fetch(args) => fetch::run_fetch(args),
        Command::Collectors(args) => fetch::run_collectors(args),
        Command::Names(args) => names::run(args),
        Command::Monitor(args) => monitor::run(args),
        Command::Config(args) => monitor::run_config(args),
        Command::Report(args) => report::run_cli(*args),
    }
}

/// The exit-status policy, for every command: the command's own status when it finished;
/// 0 when stdout was closed by its reader (`| head`: stopping early is not an error, and
/// nothing more is said); otherwise the error on stderr and 2.
fn exit_status(result: anyhow::Result<ExitStatus>) -> ExitStatus {
    match result {
        Ok(status) => status,
        Err(e) if is_broken_pipe(&e) => ExitStatus::Success,
        Err(e) => {
            eprintln!("cutoff: error: {e:#}");
            ExitStatus::Fatal
        }
    }
}

/// Whether an error comes from writing to a pipe whose reader has gone.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_logging(verbose: u8, quiet: u8) {
    // The binary's own messages, and the library crates' (whose info lines stay off unless -v).
    let (ours, libraries) = match (verbose, quiet) {
        (0, 0) => ("info", "warn"),
        (0, 1) => ("warn", "warn"),
        (0, _) => ("error", "error"),
        (1, _) => ("debug", "debug"),
        _ => ("trace", "trace"),
    };
    // bgpkit-parser logs what it skips (through `log`, bridged into tracing) without saying in
    // which file; core::parse counts each of those cases per file and reason itself, and the
    // commands name them with the file (problems.rs). So its own lines are off unless
    // CUTOFF_LOG asks for them.
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUTOFF_LOG").unwrap_or_else(|_| {
        let crates = ["cutoff_core", "cutoff_archive", "cutoff_correlate"]
            .iter()
            .chain(&["cutoff_report", "cutoff_monitor"])
            .map(|c| format!("{c}={libraries}"))
            .collect::<Vec<_>>()
            .join(",");
        tracing_subscriber::EnvFilter::new(format!(
            "cutoff={ours},{crates},bgpkit_parser=off,{libraries}"
        ))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .try_init();
}
