//! `cutoff scan` and `cutoff timeline`: flags → [`ScanPlan`], then the pipeline, then (for
//! `--telemetry` and `--report`) the correlation and the report composed on its result.

use crate::cmd::correlate::TelemetryArgs;
use crate::cmd::fetch::ArchiveArgs;
use crate::cmd::problems::report_cut_records;
use anyhow::Result;
use cutoff_archive::source::{Downloads, collectors};
use cutoff_core::detect::DetectRules;
use cutoff_core::detect::Residual;
use cutoff_core::error::{ExitStatus, UsageError};
use cutoff_core::files::{self, CollectorArg, CollectorOverride};
use cutoff_core::model::{Prefix, Timestamp};
use cutoff_core::output::{self, OutputFormat};
use cutoff_core::pipeline::plan::{first_file_year, read_watchlist, split_peers, year_of};
use cutoff_core::pipeline::{self, ScanOutcome, ScanPlan, default_helpers};
use cutoff_core::state::{DEFAULT_YEAR, EligibilityRules, typical_table_size};
use cutoff_core::timeline::TimelineFormat;
use cutoff_core::units::{
    parse_asn, parse_asn_flag, parse_duration_flag, parse_fraction, parse_size, parse_time,
};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// What to read and how to judge it: the flags `scan` and `timeline` share.
#[derive(Debug, clap::Args)]
pub struct ReadArgs {
    /// MRT files, directories (one collector each, unless the archive layout names it) or globs.
    /// Without PATH, --from and --to read the RouteViews / RIS archives (see --collector).
    pub paths: Vec<String>,
    /// AS to watch (repeatable).
    #[arg(long = "asn", value_parser = parse_asn_flag)]
    pub asns: Vec<u32>,
    /// Extra prefix of the watched ASes (repeatable); more-specifics are included.
    #[arg(long = "prefix")]
    pub prefixes: Vec<Prefix>,
    /// File with one watched AS (`AS26780` or `26780`) or prefix per line; `#` comments.
    #[arg(long)]
    pub watchlist: Option<PathBuf>,
    /// Report only events at or after this time (input before it still builds the baseline).
    /// Without PATH: read the archives from the RIB at or before this time.
    #[arg(long, value_parser = parse_time)]
    pub from: Option<Timestamp>,
    /// Report only events at or before this time (without PATH: read update files up to it).
    #[arg(long, value_parser = parse_time)]
    pub to: Option<Timestamp>,
    /// With PATH: NAME=PATH names the collector of files under PATH. Without PATH: a collector
    /// to read from the archives, e.g. route-views2, route-views.linx, rrc00 (`cutoff
    /// collectors` lists them) [default: route-views2 and rrc00]. Repeatable.
    #[arg(long = "collector", value_name = "NAME[=PATH]")]
    pub collectors: Vec<CollectorArg>,
    /// Archive sources, cache and downloads (only without PATH).
    #[command(flatten)]
    pub archive: ArchiveArgs,
    /// A condition must hold this long to become an event (e.g. 15m, 90s, 0s).
    #[arg(long, default_value = "15m", value_parser = parse_duration_flag)]
    pub min_duration: i64,
    /// Visibility still counted as "gone": a peer count (2) or a share of eligible peers (5%).
    #[arg(long, default_value = "5%")]
    pub max_residual: Residual,
    /// Restored when visible at this share of the visibility before the outage.
    #[arg(long, default_value = "50%", value_parser = parse_fraction)]
    pub restore_fraction: f64,
    /// Full-feed peers: table at least this share of the median of a RIB's 10 largest tables.
    #[arg(long, default_value = "80%", value_parser = parse_fraction)]
    pub full_feed: f64,
    /// Fewer eligible peer ASNs than this and nothing is concluded (`inconclusive`).
    #[arg(long, default_value_t = 3)]
    pub min_peers: usize,
    /// A peer silent for longer than this stops counting.
    #[arg(long, default_value = "1h", value_parser = parse_duration_flag)]
    pub silence: i64,
    /// A peer withdrawing this share of its whole table within --mass-window is having a
    /// local event, not evidence.
    #[arg(long, default_value = "10%", value_parser = parse_fraction)]
    pub mass_withdrawal: f64,
    /// The window of --mass-withdrawal.
    #[arg(long, default_value = "5m", value_parser = parse_duration_flag)]
    pub mass_window: i64,
    /// Table size assumed for peers of collectors read without a RIB (default: by year).
    #[arg(long)]
    pub table_size: Option<u64>,
    /// Do not count this peer (IP or ASN; repeatable).
    #[arg(long = "exclude-peer")]
    pub exclude_peers: Vec<String>,
    /// Threads that decompress and parse: each collector's parser, plus helpers decompressing
    /// its next update files, and the blocks of a large bzip2 file such as a RIB, with what is
    /// left of N; a parser decompresses too rather than wait, so N cores stay busy and no more
    /// (default: the number of cores; 1 does everything on one thread).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Largest decompressed size of one update file held in memory to be parsed on another
    /// core; a file that expands further (a decompression bomb) is streamed instead, so
    /// memory stays bounded whatever the compression ratio.
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = parse_size)]
    pub max_in_memory: u64,
}

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub out: OutputArgs,
    /// Read the input as one partition of a larger scan and write what the detector needs
    /// from it to this Parquet file, judging nothing; `cutoff merge` joins the partitions'
    /// files into exactly this scan's result (docs/PARTIALS.md).
    #[arg(
        long,
        value_name = "OUT.parquet",
        conflicts_with_all = ["format", "exit_code", "report", "as_names", "telemetry", "control"]
    )]
    pub partial: Option<PathBuf>,
    /// With --partial: read the archive files of this partition (a line `cutoff plan` printed,
    /// in a file) into the cache, instead of planning from --from/--to, which stay the range
    /// of the whole scan.
    #[arg(long, value_name = "FILE", requires = "partial")]
    pub partition: Option<PathBuf>,
    /// With --partial: a prefix the partitions before this one saw a watched AS originate,
    /// watched from the start (repeatable). `cutoff merge` says which, when they are needed.
    #[arg(long = "known-prefix", value_name = "PREFIX", requires = "partial")]
    pub known_prefixes: Vec<Prefix>,
}

/// What to do with a scan's result: the flags `scan` and `merge` share.
#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Output format (default: table on a terminal, jsonl otherwise).
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// Exit with status 1 when events were found.
    #[arg(long)]
    pub exit_code: bool,
    /// Also write the full report into this directory: report.html, report.md, the charts
    /// (SVG and PNG), events.jsonl, inputs.sha256 (see `cutoff report`).
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// AS names for the report: `3549 Global Crossing` lines, or asn.txt style. Without it,
    /// the list `cutoff names fetch` cached is used when there is one.
    #[arg(long, value_name = "FILE")]
    pub as_names: Option<PathBuf>,
    /// Spam telemetry to correlate the events with (see `cutoff correlate`).
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

#[derive(Debug, clap::Args)]
pub struct TimelineArgs {
    #[command(flatten)]
    pub read: ReadArgs,
    /// Output format (default: csv on a terminal, jsonl otherwise).
    #[arg(long, value_enum)]
    pub format: Option<TimelineFormat>,
}

impl ReadArgs {
    /// No PATH: the files come from the archives.
    pub fn archive_mode(&self) -> bool {
        self.paths.is_empty()
    }

    fn local_overrides(&self) -> Vec<CollectorOverride> {
        self.collectors
            .iter()
            .filter_map(|c| match c {
                CollectorArg::Local(o) => Some(o.clone()),
                CollectorArg::Archive(_) => None,
            })
            .collect()
    }

    /// Archive collector names, after checking that the mode fits the `--collector` forms.
    pub fn archive_collectors(&self) -> Result<Vec<String>, UsageError> {
        let names: Vec<String> = self
            .collectors
            .iter()
            .filter_map(|c| match c {
                CollectorArg::Archive(n) => Some(n.clone()),
                CollectorArg::Local(_) => None,
            })
            .collect();
        match (self.archive_mode(), names.is_empty()) {
            (false, false) => Err(UsageError::Invalid(format!(
                "--collector {}: a bare collector name reads the archives, which needs --from and --to and no PATH; with PATH use NAME=PATH",
                names[0]
            ))),
            (true, _) if !self.local_overrides().is_empty() => Err(UsageError::Invalid(
                "--collector NAME=PATH needs PATH arguments; without PATH give collector names"
                    .into(),
            )),
            (true, _) if self.from.is_none() || self.to.is_none() => Err(UsageError::Invalid(
                "give MRT files (PATH …), or --from and --to to read the RouteViews / RIS archives"
                    .into(),
            )),
            _ => Ok(names),
        }
    }
}

impl ReadArgs {
    /// The plan these flags describe, checked before anything runs. Archive files are
    /// planned later, from the listings (`plan_archive`).
    pub fn plan(&self) -> Result<ScanPlan, UsageError> {
        let args = self;
        let mut asns = args.asns.clone();
        let mut prefixes = args.prefixes.clone();
        if let Some(path) = &args.watchlist {
            let (a, p) = read_watchlist(path)?;
            asns.extend(a);
            prefixes.extend(p);
        }
        asns.sort_unstable();
        asns.dedup();
        if asns.is_empty() {
            return Err(UsageError::Invalid(
                "say which AS to watch: --asn 26780 (or --watchlist FILE)".into(),
            ));
        }
        if let (Some(f), Some(t)) = (args.from, args.to)
            && f > t
        {
            return Err(UsageError::Invalid("--from is after --to".into()));
        }
        let (exclude_asns, exclude_ips) =
            // `i` indexes the list it was found in.
            split_peers(&args.exclude_peers, parse_asn).map_err(|i| {
                UsageError::Invalid(format!(
                    "--exclude-peer {:?}: expected an IP address or an AS number",
                    args.exclude_peers[i]
                ))
            })?;
        args.archive_collectors()?;
        // Archive files are planned (from the archives' listings) by `run_cli`, not here.
        let collectors = if args.archive_mode() {
            Vec::new()
        } else {
            files::discover(&args.paths, &args.local_overrides())?
        };
        let first_year = first_file_year(&collectors)
            // Archive files are planned later; the start of the range tells the year.
            .or(args.from.map(year_of))
            .unwrap_or(DEFAULT_YEAR);
        Ok(ScanPlan {
            asns,
            prefixes,
            collectors,
            eligibility: EligibilityRules {
                full_feed_fraction: args.full_feed,
                silence_secs: args.silence,
                mass_withdrawal_fraction: args.mass_withdrawal,
                mass_window_secs: args.mass_window,
                assumed_table_size: args
                    .table_size
                    .unwrap_or_else(|| typical_table_size(first_year)),
                exclude_asns,
                exclude_ips,
            },
            detect: DetectRules {
                min_duration_secs: args.min_duration,
                max_residual: args.max_residual,
                restore_fraction: args.restore_fraction,
                min_peers: args.min_peers,
            },
            from: args.from,
            to: args.to,
            helpers: match args.threads {
                Some(0) => return Err(UsageError::Invalid("--threads must be at least 1".into())),
                Some(n) => n - 1,
                None => default_helpers(),
            },
            max_decoded: args.max_in_memory,
            timeline: false,
            downloads: None,
            files_done: None,
        })
    }
}

pub fn run(args: ScanArgs) -> Result<ExitStatus> {
    let mut plan = args.read.plan()?;
    if let Some(out) = &args.partial {
        let partition = args.partition.as_deref();
        return crate::cmd::merge::write_partial(
            &args.read,
            &mut plan,
            partition,
            &args.known_prefixes,
            out,
        );
    }
    let cache = args.read.archive.cache.root();
    let out = &args.out;
    present(out, &mut plan, cache, |plan, gaps_on_stdout| {
        run_reporting_problems(&args.read, plan, gaps_on_stdout)
    })
}

/// Run a scan (by `run_scan`, told whether stdout will list the gaps) and present its
/// result as `out` asks: the report, correlation, events and summary, the exit status.
pub fn present(
    out: &OutputArgs,
    plan: &mut ScanPlan,
    cache: Option<PathBuf>,
    run_scan: impl FnOnce(&mut ScanPlan, bool) -> Result<ScanOutcome>,
) -> Result<ExitStatus> {
    // The report's charts need the visibility timeline.
    plan.timeline = out.report.is_some();
    // Bad telemetry or names stop the run before the scan, not after it.
    let telemetry = cutoff_correlate::Prepared::load(&out.telemetry.options())?;
    if out.as_names.is_some() && out.report.is_none() {
        return Err(
            UsageError::Invalid("--as-names is for the report: add --report DIR".into()).into(),
        );
    }
    // --as-names wins; else the list `cutoff names fetch` cached (the archives' cache).
    let (names, names_file) = match &out.report {
        Some(_) => crate::cmd::names::for_report(out.as_names.as_deref(), cache)?,
        None => Default::default(),
    };
    let format = out.format.unwrap_or(if std::io::stdout().is_terminal() {
        OutputFormat::Table
    } else {
        OutputFormat::Jsonl
    });
    // The table and Markdown list the gaps in their summary: stderr does not repeat them.
    let gaps_on_stdout = matches!(format, OutputFormat::Table | OutputFormat::Markdown);
    let outcome = run_scan(plan, gaps_on_stdout)?;
    let correlations = telemetry.as_ref().map(|t| t.report_scan(&outcome.events));
    let correlation_incomplete = correlations.as_ref().is_some_and(|c| c.incomplete());
    // The report first: a reader of stdout that stops early must not cost it.
    if let Some(dir) = &out.report {
        let spam = telemetry.as_ref().zip(correlations.clone()).map(|(t, c)| {
            cutoff_report::input::SpamInput {
                series: t.series.clone(),
                control: t.control.clone(),
                correlation: c,
            }
        });
        let input = cutoff_report::input::ReportInput {
            events: outcome.events.clone(),
            summary: outcome.summary.clone(),
            timeline: Ok(outcome.timeline.clone()),
            spam,
            names,
            commands: vec![(
                "The command that wrote this report:".into(),
                cutoff_report::input::this_command(),
            )],
            report_files: names_file
                .iter()
                .map(|p| ("as-names".to_string(), p.display().to_string()))
                .collect(),
        };
        cutoff_report::write_report(&input, dir)?;
    }
    let stdout = std::io::stdout();
    let mut stdout = stdout.lock();
    output::write(&mut stdout, format, &outcome.events, &outcome.summary)?;
    if let Some(c) = &correlations {
        cutoff_correlate::write_after_scan(&mut stdout, format, c)?;
    }
    let status = if outcome.summary.incomplete_input || correlation_incomplete {
        ExitStatus::IncompleteInput
    } else if out.exit_code && !outcome.events.is_empty() {
        ExitStatus::EventsFound
    } else {
        ExitStatus::Success
    };
    Ok(status)
}

/// A range that misses the data entirely is said, not left to look like a quiet period.
fn warn_if_range_misses_the_data(plan: &ScanPlan, summary: &cutoff_core::summary::RunSummary) {
    let (Some(first), Some(last)) = (summary.first_time, summary.last_time) else {
        return;
    };
    if let Some(from) = plan.from.filter(|f| *f > last) {
        tracing::warn!(
            "--from {from} is after the input's last record ({last}): no event can be reported"
        );
    }
    if let Some(to) = plan.to.filter(|t| *t < first) {
        tracing::warn!(
            "--to {to} is before the input's first record ({first}): no event can be reported"
        );
    }
}

/// Run the plan (first planning and starting the downloads in archive mode), then say on
/// stderr what went wrong with the files, once: unless stdout lists the gaps, one line per
/// gap or run of consecutive gaps alike (a month offline is not thousands of lines).
pub(crate) fn run_reporting_problems(
    args: &ReadArgs,
    plan: &mut ScanPlan,
    gaps_on_stdout: bool,
) -> Result<ScanOutcome> {
    let downloads = if args.archive_mode() {
        Some(plan_archive(args, plan)?)
    } else {
        None
    };
    // Downloads show their own bar; a local scan shows the files it has read.
    let progress = downloads.is_none().then(|| ScanProgress::start(plan));
    let outcome = pipeline::run(plan);
    drop(progress);
    if let Some(d) = downloads {
        d.join();
    }
    for f in &outcome.summary.files {
        report_cut_records(&f.path, &f.stats);
    }
    if !gaps_on_stdout {
        for line in outcome.summary.gap_lines() {
            tracing::error!("{line}");
        }
    }
    warn_if_range_misses_the_data(plan, &outcome.summary);
    Ok(outcome)
}

/// `cutoff timeline`: the scan, printing visibility points instead of events.
pub fn run_timeline(args: TimelineArgs) -> Result<ExitStatus> {
    let mut plan = args.read.plan()?;
    plan.timeline = true;
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        TimelineFormat::Csv
    } else {
        TimelineFormat::Jsonl
    });
    // Arguments are all checked before anything is downloaded.
    let outcome = run_reporting_problems(&args.read, &mut plan, false)?;
    let mut points = outcome.timeline;
    points.retain(|p| plan.from.is_none_or(|f| p.time >= f) && plan.to.is_none_or(|t| p.time <= t));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    cutoff_core::timeline::write(&mut out, format, &points)?;
    if format == TimelineFormat::Jsonl {
        writeln!(out, "{}", serde_json::to_string(&outcome.summary)?)?;
    }
    Ok(if outcome.summary.incomplete_input {
        ExitStatus::IncompleteInput
    } else {
        ExitStatus::Success
    })
}

/// How many files a local scan has read, on a terminal once it has taken a second (a long
/// scan is not silence); stopped and cleared when dropped.
struct ScanProgress {
    stop: Arc<std::sync::atomic::AtomicBool>,
    drawer: Option<std::thread::JoinHandle<()>>,
}

impl ScanProgress {
    fn start(plan: &mut ScanPlan) -> ScanProgress {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let stop = Arc::new(AtomicBool::new(false));
        if !cutoff_archive::fetch::progress_shown() {
            return ScanProgress { stop, drawer: None };
        }
        let done = Arc::new(AtomicUsize::new(0));
        plan.files_done = Some(Arc::clone(&done));
        let total: usize = plan.collectors.iter().map(|c| c.files.len()).sum();
        let halt = Arc::clone(&stop);
        let drawer = std::thread::spawn(move || {
            let begun = std::time::Instant::now();
            let mut bar = None;
            while !halt.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(200));
                if begun.elapsed() < std::time::Duration::from_secs(1) {
                    continue;
                }
                let n = done.load(Ordering::Relaxed);
                let b = bar.get_or_insert_with(|| {
                    cutoff_archive::fetch::progress_bar(total as u64, "scan")
                });
                // Holes found while reading add placeholder files to the count.
                b.set_length(total.max(n) as u64);
                b.set_position(n as u64);
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        ScanProgress {
            stop,
            drawer: Some(drawer),
        }
    }
}

impl Drop for ScanProgress {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(d) = self.drawer.take() {
            let _ = d.join();
        }
    }
}

/// Archive mode: plan the files of [from, to] from the archives' listings and start
/// downloading them; the readers wait for each.
pub(crate) fn plan_archive(args: &ReadArgs, plan: &mut ScanPlan) -> Result<Downloads> {
    let (Some(from), Some(to)) = (args.from, args.to) else {
        return Err(
            UsageError::Invalid("--from and --to are needed to read the archives".into()).into(),
        );
    };
    let names = args.archive_collectors()?;
    let collectors = collectors(&names, from, to)?;
    let archive = args.archive.options()?.open()?;
    let files = archive.plan(&collectors, from, to);
    plan.collectors = files.collector_files();
    let (ready, downloads) = archive.start(&files);
    plan.downloads = Some(Arc::new(ready));
    Ok(downloads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Scan {
        #[command(flatten)]
        args: ReadArgs,
    }

    fn cli_plan(argv: &[&str]) -> ScanPlan {
        let args = Scan::try_parse_from(std::iter::once("scan").chain(argv.iter().copied()))
            .expect("parses")
            .args;
        args.plan().expect("plans")
    }

    fn mccolo() -> String {
        concat!(env!("CARGO_MANIFEST_DIR"), "/samples/mccolo-2008-11").to_string()
    }

    /// The flags' defaults, the monitor configuration's defaults, the core's rule defaults
    /// and the library constructor are one set of values: a default changed in one place
    /// and not the others fails here.
    #[test]
    fn cli_config_and_core_defaults_are_the_same_values() {
        let cli = cli_plan(&["--asn", "26780", &mccolo()]);
        let year = first_file_year(&cli.collectors).expect("dated files");
        assert_eq!(year, 2008);
        assert_eq!(cli.detect, DetectRules::default());
        assert_eq!(
            cli.eligibility,
            EligibilityRules {
                assumed_table_size: typical_table_size(year),
                ..EligibilityRules::default()
            }
        );

        let library = ScanPlan::new(&[26780], cli.collectors.clone());
        assert_eq!(library.asns, cli.asns);
        assert_eq!(library.prefixes, cli.prefixes);
        assert_eq!(library.collectors, cli.collectors);
        assert_eq!(library.detect, cli.detect);
        assert_eq!(library.eligibility, cli.eligibility);
        assert_eq!(library.helpers, cli.helpers);
        assert_eq!((library.from, library.to), (cli.from, cli.to));
        assert_eq!(library.timeline, cli.timeline);

        let config = cutoff_monitor::config::MonitorConfig::parse(
            "[[watch]]\nasn = 26780\n[source]\nmirror = [\"m\"]\n",
        )
        .expect("a minimal configuration");
        let monitor = cutoff_monitor::run::scan_plan(&config, &cli.collectors);
        assert_eq!(monitor.detect, cli.detect);
        assert_eq!(monitor.eligibility, cli.eligibility);
        assert_eq!(monitor.asns, cli.asns);
    }

    /// Every threshold flag reaches the rules (so the test above compares something).
    #[test]
    fn threshold_flags_change_the_rules() {
        let plan = cli_plan(&[
            "--asn",
            "26780",
            &mccolo(),
            "--min-duration",
            "90s",
            "--max-residual",
            "2",
            "--restore-fraction",
            "60%",
            "--full-feed",
            "0.7",
            "--min-peers",
            "5",
            "--silence",
            "2h",
            "--mass-withdrawal",
            "20%",
            "--mass-window",
            "10m",
            "--table-size",
            "1000",
            "--exclude-peer",
            "AS3277",
            "--exclude-peer",
            "10.0.0.1",
        ]);
        assert_eq!(
            plan.detect,
            DetectRules {
                min_duration_secs: 90,
                max_residual: Residual::Peers(2),
                restore_fraction: 0.6,
                min_peers: 5,
            }
        );
        assert_eq!(
            plan.eligibility,
            EligibilityRules {
                full_feed_fraction: 0.7,
                silence_secs: 7200,
                mass_withdrawal_fraction: 0.2,
                mass_window_secs: 600,
                assumed_table_size: 1000,
                exclude_asns: vec![3277],
                exclude_ips: vec!["10.0.0.1".parse().expect("ip")],
            }
        );
    }
}
