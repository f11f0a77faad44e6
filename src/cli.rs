//! Command line: clap definitions, validated into plans before anything runs.

use crate::dump::{DumpFilter, bgpdump_line, json_line};
use crate::error::{ExitStatus, UsageError};
use crate::model::{Prefix, Timestamp};
use crate::source::{self, CollectorOverride};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

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
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Find when the watched ASes lost upstreams, went dark, and came back.
    Scan(Box<crate::scan::ScanArgs>),
    /// Visibility over time: eligible peers seeing each watched AS, per upstream and prefix.
    ///
    /// One point per change (each holds until the next point of its AS), as CSV (one column
    /// per upstream; the default on a terminal) or JSON Lines (with prefixes and peers not
    /// counted, then the run summary). Takes the same arguments as `scan`.
    Timeline(Box<crate::scan::ScanArgs>),
    /// Print the routing messages behind a claim (bgpdump -m format by default).
    Dump(DumpArgs),
    /// Did spam fall when the AS was cut off? Correlate scan events with spam telemetry.
    ///
    /// For each disconnected, restored and upstream_lost event: the drop of the series in the W days
    /// after it against the median of the same hours of the K previous weeks, with a 95% CI, per-day
    /// drops, the lag, a blind change point, a placebo p-value, a control series, confounders and a
    /// sentence to quote (DESIGN §6). Exit status: 0 fine; 2 usage or bad input; 3 some event could
    /// not be measured (no telemetry around it).
    Correlate(crate::correlate::CorrelateArgs),
    /// Download RouteViews / RIS files of a time range into the cache, for offline work.
    ///
    /// Per collector: the RIB at or before --from, then every update file up to --to, found in
    /// the archives' monthly listings. Prints each file (got, cached, missing) and a summary
    /// line. Exit status: 0 all there; 2 usage error; 3 something is missing.
    Fetch(crate::source::command::FetchArgs),
    /// List the archive collectors cutoff knows (name, archive, years active, location).
    Collectors(crate::source::command::CollectorsArgs),
    /// Watch ASes incrementally, for cron or a systemd timer: read only new files, alert once.
    ///
    /// Takes a lock, loads the checkpoint from the state directory, reads the files that are new
    /// since the last run, raises each event once to the configured sinks, and writes the
    /// checkpoint atomically. Prints nothing when nothing happened. Exit status: 0 fine (also when
    /// another run holds the lock); 1 alerts raised (only with --exit-code); 2 configuration or
    /// fatal error (a corrupt checkpoint included); 3 input incomplete (missing or corrupt files).
    Monitor(crate::monitor::MonitorArgs),
    /// Print the effective monitor configuration (defaults filled in), or the example.
    Config(crate::monitor::ConfigArgs),
    /// Write a report a journalist can cite: report.html (one self-contained file), report.md,
    /// the charts as SVG and PNG, events.jsonl and inputs.sha256.
    ///
    /// Reads the events `scan --format jsonl` printed, optionally the visibility `timeline
    /// --format jsonl` printed (for the charts) and spam telemetry (as for `correlate`).
    /// Exit status: 0 fine; 2 usage or bad input; 3 the scan's input was incomplete or an
    /// event could not be measured.
    Report(Box<crate::report::ReportArgs>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DumpFormat {
    /// bgpdump's one-line `-m` format, to check against the reference reader.
    Bgpdump,
    Jsonl,
}

#[derive(Debug, clap::Args)]
pub struct DumpArgs {
    /// MRT files, directories or globs.
    #[arg(required = true)]
    pub paths: Vec<String>,
    /// Only this prefix and its more-specifics (repeatable).
    #[arg(long = "prefix")]
    pub prefixes: Vec<Prefix>,
    /// Only routes with this AS on the path, the origin included (repeatable).
    #[arg(long = "asn")]
    pub asns: Vec<u32>,
    /// Only this peer IP (repeatable).
    #[arg(long = "peer")]
    pub peers: Vec<IpAddr>,
    /// Only messages at or after this time (RFC 3339, date, or epoch seconds).
    #[arg(long, value_parser = parse_time)]
    pub from: Option<Timestamp>,
    /// Only messages at or before this time.
    #[arg(long, value_parser = parse_time)]
    pub to: Option<Timestamp>,
    #[arg(long, value_enum, default_value_t = DumpFormat::Bgpdump)]
    pub format: DumpFormat,
    /// Name the collector of files under PATH: NAME=PATH (repeatable).
    #[arg(long = "collector", value_parser = parse_collector_override)]
    pub collectors: Vec<CollectorOverride>,
}

/// RFC 3339, `YYYY-MM-DD` (midnight UTC), `YYYY-MM-DDTHH:MM` (UTC) or epoch seconds.
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    if let Ok(secs) = s.parse::<i64>() {
        return Ok(Timestamp::from_secs(secs));
    }
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(Timestamp {
            secs: dt.timestamp(),
            micros: dt.timestamp_subsec_micros(),
        });
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(Timestamp::from_secs(dt.and_utc().timestamp()));
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(Timestamp::from_secs(
            d.and_hms_opt(0, 0, 0)
                .map(|dt| dt.and_utc().timestamp())
                .unwrap_or(0),
        ));
    }
    Err(format!(
        "{s:?} is not a time: use RFC 3339 (2008-11-11T21:30:00Z), a date (2008-11-11), or epoch seconds"
    ))
}

pub fn parse_collector_override(s: &str) -> Result<CollectorOverride, String> {
    match s.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => Ok(CollectorOverride {
            name: name.to_string(),
            path: PathBuf::from(path),
        }),
        _ => Err(format!("{s:?}: expected NAME=PATH")),
    }
}

pub fn main() -> ExitStatus {
    let cli = Cli::parse();
    // A monitor prints nothing unless something happened (cron mails any output): its
    // informational messages are off unless CUTOFF_LOG asks for them.
    let quiet = match cli.command {
        Command::Monitor(_) => cli.quiet.max(1),
        _ => cli.quiet,
    };
    init_logging(quiet);
    let result = match cli.command {
        Command::Scan(args) => crate::scan::run_cli(*args),
        Command::Timeline(args) => crate::scan::run_timeline_cli(*args),
        Command::Dump(args) => run_dump(args),
        Command::Correlate(args) => crate::correlate::run_cli(args),
        Command::Fetch(args) => crate::source::command::run_fetch(args),
        Command::Collectors(args) => crate::source::command::run_collectors(args),
        Command::Monitor(args) => crate::monitor::run_cli(args),
        Command::Config(args) => crate::monitor::run_config_cli(args),
        Command::Report(args) => crate::report::run_cli(*args),
    };
    match result {
        Ok(status) => status,
        Err(e) => {
            eprintln!("cutoff: error: {e:#}");
            ExitStatus::Fatal
        }
    }
}

fn init_logging(quiet: u8) {
    let level = match quiet {
        0 => "info",
        1 => "warn",
        _ => "error",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUTOFF_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("cutoff={level},warn")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .try_init();
}

fn run_dump(args: DumpArgs) -> anyhow::Result<ExitStatus> {
    if let (Some(f), Some(t)) = (args.from, args.to)
        && f > t
    {
        return Err(UsageError::Invalid("--from is after --to".into()).into());
    }
    let groups = source::discover(&args.paths, &args.collectors)?;
    let mut filter = DumpFilter::new(args.prefixes, args.asns, args.peers, args.from, args.to);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut status = ExitStatus::Success;
    let mut write_error = None;
    for group in groups {
        for file in group.files {
            let name = file.path.display().to_string();
            let mut sink = |item: crate::parse::Item| {
                if write_error.is_some() || !filter.matches(&item) {
                    return;
                }
                let line = match args.format {
                    DumpFormat::Bgpdump => bgpdump_line(&item),
                    DumpFormat::Jsonl => json_line(&item, &name),
                };
                if let Err(e) = writeln!(out, "{line}") {
                    write_error = Some(e);
                }
            };
            // Update files are read whole, so a torn record can be skipped (see parse).
            let stats = if file.kind == crate::source::FileKind::Updates {
                let (bytes, err) = crate::parse::decode::read_all(&file.path);
                let source = crate::parse::Source::Memory {
                    data: bytes.into(),
                    at: 0,
                };
                let mut stats =
                    crate::parse::read_records(source, &mut crate::parse::Sink(&mut sink));
                if let Some(e) = err {
                    stats
                        .problem
                        .get_or_insert_with(|| crate::parse::read_error(&e));
                }
                stats
            } else {
                crate::parse::read_file(&file.path, &mut sink)
            };
            if let Some(e) = write_error.take() {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(status);
                }
                return Err(anyhow::anyhow!("writing to stdout: {e}"));
            }
            report_file_problems(&name, &stats);
            if stats.is_incomplete() {
                status = ExitStatus::IncompleteInput;
            }
        }
    }
    out.flush()?;
    Ok(status)
}

/// One clear stderr line per problem of a file; counts of cut records as a note.
pub fn report_file_problems(name: &str, stats: &crate::parse::FileStats) {
    if let Some(p) = &stats.problem {
        tracing::error!("{name}: {p}");
    }
    for s in &stats.skipped {
        tracing::error!("{name}: {s}");
    }
    for (reason, n) in &stats.unparsed_records {
        tracing::error!("{name}: {n} record(s) not parsed: {reason}");
    }
    if stats.truncated_records > 0 {
        tracing::info!(
            "{name}: {} record(s) cut short by the collector; recovered {} withdrawal(s) and {} announcement(s) from them",
            stats.truncated_records,
            stats.salvaged_withdrawals,
            stats.salvaged_announcements
        );
    }
}
