//! `cutoff scan`: the whole pipeline on local files.
//!
//! One thread per collector reads that collector's files in order (update files are
//! decompressed ahead on a small pool, [`parse::ahead`]) and filters to watched prefixes
//! before anything crosses a channel; the calling thread merges the collectors by time and
//! runs state and detection.

use crate::cli::parse_time;
use crate::detect::{DetectRules, Detector, Event, Residual};
use crate::error::{ExitStatus, UsageError};
use crate::model::{CollectorId, Origin, PeerId, Prefix, Timestamp};
use crate::parse::{self, FileStats, Item, RouteKind};
use crate::report::{self, OutputFormat, RunSummary};
use crate::source::fetch::Readiness;
use crate::source::{self, CollectorArg, CollectorFiles, CollectorOverride, FileKind, MrtFile};
use crate::state::{EligibilityRules, Msg, Tracker};
use crate::timeline::{Recorder, VisibilityPoint};
use crate::watch::Watch;
use crossbeam_channel::{Receiver, Sender, bounded};
// Per-peer counters are updated for every update message; FxHash is several times cheaper
// than SipHash there, and the keys (peer addresses from the collector) need no DoS defence.
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::io::{IsTerminal, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// MRT files, directories (one collector each, unless the archive layout names it) or globs.
    /// Without PATH, --from and --to read the RouteViews / RIS archives (see --collector).
    pub paths: Vec<String>,
    /// AS to watch (repeatable).
    #[arg(long = "asn")]
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
    pub archive: source::command::ArchiveArgs,
    /// A condition must hold this long to become an event (e.g. 15m, 90s, 0s).
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
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
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub silence: i64,
    /// A peer withdrawing this share of its whole table within --mass-window is having a
    /// local event, not evidence.
    #[arg(long, default_value = "10%", value_parser = parse_fraction)]
    pub mass_withdrawal: f64,
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub mass_window: i64,
    /// Table size assumed for peers of collectors read without a RIB (default: by year).
    #[arg(long)]
    pub table_size: Option<u64>,
    /// Do not count this peer (IP or ASN; repeatable).
    #[arg(long = "exclude-peer")]
    pub exclude_peers: Vec<String>,
    /// Output format (default: table on a terminal, jsonl otherwise).
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// Exit with status 1 when events were found.
    #[arg(long)]
    pub exit_code: bool,
    /// Threads that decompress and parse: each collector's parser, plus helpers decompressing
    /// its next update files with what is left of N; a parser decompresses too rather than
    /// wait, so N cores stay busy and no more (default: the number of cores; 1 with one
    /// collector does everything on one thread).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Also write the full report into this directory: report.html, report.md, the charts
    /// (SVG and PNG), events.jsonl, inputs.sha256 (see `cutoff report`).
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// AS names for the report: `3549 Global Crossing` lines, or asn.txt style.
    #[arg(long, value_name = "FILE")]
    pub as_names: Option<PathBuf>,
    /// Spam telemetry to correlate the events with (see `cutoff correlate`).
    #[command(flatten)]
    pub telemetry: crate::correlate::TelemetryArgs,
}

impl ScanArgs {
    /// The arguments of `cutoff scan --asn A … PATH …` with every default, for library users
    /// and benchmarks.
    pub fn for_paths(asns: &[&str], paths: &[String]) -> Self {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: ScanArgs,
        }
        let mut argv = vec!["scan".to_string()];
        for a in asns {
            argv.extend(["--asn".to_string(), a.to_string()]);
        }
        argv.extend(paths.iter().cloned());
        match Wrapper::try_parse_from(&argv) {
            Ok(w) => w.args,
            // The defaults are constants of this file; a failure here is a bug in them.
            Err(e) => panic!("default scan arguments do not parse: {e}"),
        }
    }
}

impl ScanArgs {
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

/// `26780`, `AS26780` or `as26780`.
fn parse_asn(s: &str) -> Option<u32> {
    s.trim_start_matches("AS")
        .trim_start_matches("as")
        .parse()
        .ok()
}

/// `15m`, `90s`, `1h30m`, `2d`, `0s`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return if n >= 0 {
            Ok(n)
        } else {
            Err(format!("{s:?}: a duration cannot be negative"))
        };
    }
    let mut total: i64 = 0;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return Err(format!("{s:?}: use a duration like 15m, 90s, 1h30m or 0s")),
        };
        let n: i64 = num
            .parse()
            .map_err(|_| format!("{s:?}: use a duration like 15m, 90s, 1h30m or 0s"))?;
        total += n * unit;
        num.clear();
    }
    if !num.is_empty() || s.is_empty() {
        return Err(format!(
            "{s:?}: use a duration like 15m, 90s, 1h30m or 0s (with a unit)"
        ));
    }
    Ok(total)
}

/// `10%` or `0.1`.
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let v = match s.trim().strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => s.trim().parse::<f64>(),
    }
    .map_err(|_| format!("{s:?}: expected a share like 10% or 0.1"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s:?}: must be between 0% and 100%"))
    }
}

/// Everything a scan needs, validated.
#[derive(Debug, Clone)]
pub struct ScanPlan {
    pub asns: Vec<u32>,
    pub prefixes: Vec<Prefix>,
    pub collectors: Vec<CollectorFiles>,
    pub eligibility: EligibilityRules,
    pub detect: DetectRules,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Threads decompressing update files beside the streams' parsers, shared among the
    /// streams; 0 = each parser decompresses its files itself.
    pub helpers: usize,
    /// Record visibility over time (`cutoff timeline`, reports).
    pub timeline: bool,
    /// Archive input: readers wait for each file's download (or its failure) before reading.
    pub downloads: Option<Readiness>,
}

impl ScanPlan {
    pub fn from_args(args: &ScanArgs) -> Result<Self, UsageError> {
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
        let mut exclude_asns = Vec::new();
        let mut exclude_ips = Vec::new();
        for p in &args.exclude_peers {
            if let Ok(ip) = p.parse::<IpAddr>() {
                exclude_ips.push(ip);
            } else if let Some(a) = parse_asn(p) {
                exclude_asns.push(a);
            } else {
                return Err(UsageError::Invalid(format!(
                    "--exclude-peer {p:?}: expected an IP address or an AS number"
                )));
            }
        }
        args.archive_collectors()?;
        // Archive files are planned (from the archives' listings) by `run_cli`, not here.
        let collectors = if args.archive_mode() {
            Vec::new()
        } else {
            source::discover(&args.paths, &args.local_overrides())?
        };
        let first_year = first_file_year(&collectors)
            // Archive files are planned later; the start of the range tells the year.
            .or(args.from.map(year_of))
            .unwrap_or(2008);
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
            timeline: false,
            downloads: None,
        })
    }
}

/// Decompression helpers by default: one per core beside a parser's, which decompresses too
/// when it would otherwise wait. More only adds contention: on the 2-core bench machine a third
/// decoder took about 30% more CPU for the 2008-02-24 day.
pub fn default_helpers() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get()) - 1
}

/// The year the earliest dated file starts in: it sets the table size assumed without a RIB.
pub fn first_file_year(collectors: &[CollectorFiles]) -> Option<i32> {
    collectors
        .iter()
        .flat_map(|c| c.files.iter().filter_map(|f| f.start))
        .min()
        .map(year_of)
}

fn year_of(t: Timestamp) -> i32 {
    chrono::Datelike::year(&t.to_datetime())
}

/// Approximate IPv4 full-table size by year, used only for the mass-withdrawal rule when no
/// RIB gives a peer's real table size (the summary says so).
pub fn typical_table_size(year: i32) -> u64 {
    const POINTS: [(i32, u64); 8] = [
        (1999, 60_000),
        (2002, 110_000),
        (2005, 160_000),
        (2008, 250_000),
        (2011, 350_000),
        (2014, 500_000),
        (2020, 800_000),
        (2026, 1_050_000),
    ];
    let y = year.clamp(POINTS[0].0, POINTS[POINTS.len() - 1].0);
    POINTS
        .windows(2)
        .find(|w| y >= w[0].0 && y <= w[1].0)
        .map(|w| {
            let (y0, v0) = w[0];
            let (y1, v1) = w[1];
            v0 + (v1 - v0) * (y - y0) as u64 / (y1 - y0) as u64
        })
        .unwrap_or(250_000)
}

fn read_watchlist(path: &std::path::Path) -> Result<(Vec<u32>, Vec<Prefix>), UsageError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError::Invalid(format!("{}: {e}", path.display())))?;
    let mut asns = Vec::new();
    let mut prefixes = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let word = line.split_whitespace().next().unwrap_or("");
        if let Ok(p) = word.parse::<Prefix>() {
            prefixes.push(p);
        } else if let Some(a) = parse_asn(word) {
            asns.push(a);
        } else {
            return Err(UsageError::Invalid(format!(
                "{} line {}: {word:?} is neither an AS number nor a prefix",
                path.display(),
                i + 1
            )));
        }
    }
    Ok((asns, prefixes))
}

/// What reading one file found, for the summary and provenance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileReport {
    pub path: String,
    pub collector: String,
    pub kind: FileKind,
    #[serde(flatten)]
    pub stats: FileStats,
}

/// The result of a scan: events, and how they were found.
pub struct ScanOutcome {
    pub events: Vec<Event>,
    pub summary: RunSummary,
    /// Visibility over time, when the plan asked for it (`ScanPlan::timeline`).
    pub timeline: Vec<VisibilityPoint>,
}

pub fn run_cli(args: ScanArgs) -> anyhow::Result<ExitStatus> {
    let mut plan = ScanPlan::from_args(&args)?;
    // The report's charts need the visibility timeline.
    plan.timeline = args.report.is_some();
    // Bad telemetry or names stop the run before the scan, not after it.
    let telemetry = crate::correlate::Prepared::load(&args.telemetry)?;
    let names = report::load_names(args.as_names.as_deref())?;
    if args.as_names.is_some() && args.report.is_none() {
        return Err(
            UsageError::Invalid("--as-names is for the report: add --report DIR".into()).into(),
        );
    }
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        OutputFormat::Table
    } else {
        OutputFormat::Jsonl
    });
    let outcome = run_reporting_problems(&args, &mut plan)?;
    let correlations = telemetry.as_ref().map(|t| t.report_scan(&outcome.events));
    let correlation_incomplete = correlations.as_ref().is_some_and(|c| c.incomplete());
    // The report first: a reader of stdout that stops early must not cost it.
    if let Some(dir) = &args.report {
        let spam =
            telemetry
                .as_ref()
                .zip(correlations.clone())
                .map(|(t, c)| report::input::SpamInput {
                    series: t.series.clone(),
                    control: t.control.clone(),
                    correlation: c,
                });
        let input = report::input::ReportInput {
            events: outcome.events.clone(),
            summary: outcome.summary.clone(),
            timeline: Ok(outcome.timeline.clone()),
            spam,
            names,
            commands: vec![(
                "The command that wrote this report:".into(),
                report::input::this_command(),
            )],
            report_files: args
                .as_names
                .iter()
                .map(|p| ("as-names".to_string(), p.display().to_string()))
                .collect(),
        };
        report::write_report(&input, dir)?;
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    report::write(&mut out, format, &outcome.events, &outcome.summary)?;
    if let Some(c) = &correlations {
        crate::correlate::write_after_scan(&mut out, format, c)?;
    }
    let status = if outcome.summary.incomplete_input || correlation_incomplete {
        ExitStatus::IncompleteInput
    } else if args.exit_code && !outcome.events.is_empty() {
        ExitStatus::EventsFound
    } else {
        ExitStatus::Success
    };
    Ok(status)
}

/// Run the plan (first planning and starting the downloads in archive mode), then say on
/// stderr what went wrong with each file.
fn run_reporting_problems(args: &ScanArgs, plan: &mut ScanPlan) -> anyhow::Result<ScanOutcome> {
    let downloads = if args.archive_mode() {
        Some(plan_archive(args, plan)?)
    } else {
        None
    };
    let outcome = run(plan);
    if let Some(d) = downloads {
        d.join();
    }
    for f in &outcome.summary.files {
        crate::cli::report_file_problems(&f.path, &f.stats);
    }
    Ok(outcome)
}

/// `cutoff timeline`: the scan, printing visibility points instead of events.
pub fn run_timeline_cli(args: ScanArgs) -> anyhow::Result<ExitStatus> {
    use crate::timeline::TimelineFormat;
    let mut plan = ScanPlan::from_args(&args)?;
    plan.timeline = true;
    if args.report.is_some() || args.as_names.is_some() {
        return Err(UsageError::Invalid(
            "timeline writes no report: use scan --report DIR, or cutoff report --timeline FILE"
                .into(),
        )
        .into());
    }
    let format = match args.format {
        None if std::io::stdout().is_terminal() => TimelineFormat::Csv,
        None | Some(OutputFormat::Jsonl) => TimelineFormat::Jsonl,
        Some(OutputFormat::Csv) => TimelineFormat::Csv,
        Some(other) => {
            return Err(UsageError::Invalid(format!(
                "timeline prints csv or jsonl, not {other:?}"
            ))
            .into());
        }
    };
    // Arguments are all checked before anything is downloaded.
    let outcome = run_reporting_problems(&args, &mut plan)?;
    let mut points = outcome.timeline;
    points.retain(|p| plan.from.is_none_or(|f| p.time >= f) && plan.to.is_none_or(|t| p.time <= t));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    crate::timeline::write(&mut out, format, &points)?;
    if format == TimelineFormat::Jsonl {
        writeln!(out, "{}", serde_json::to_string(&outcome.summary)?)?;
    }
    Ok(if outcome.summary.incomplete_input {
        ExitStatus::IncompleteInput
    } else {
        ExitStatus::Success
    })
}

/// Archive mode: plan the files of [from, to] from the archives' listings and start
/// downloading them; the readers wait for each.
fn plan_archive(
    args: &ScanArgs,
    plan: &mut ScanPlan,
) -> anyhow::Result<source::command::Downloads> {
    let (Some(from), Some(to)) = (args.from, args.to) else {
        return Err(
            UsageError::Invalid("--from and --to are needed to read the archives".into()).into(),
        );
    };
    let names = args.archive_collectors()?;
    let collectors = source::command::collectors(&names, from, to)?;
    let archive = args.archive.open()?;
    let files = archive.plan(&collectors, from, to);
    plan.collectors = files.collector_files();
    let (ready, downloads) = archive.start(&files);
    plan.downloads = Some(ready);
    Ok(downloads)
}

const BATCH: usize = 2048;

/// Run the pipeline over the plan's files, once.
pub fn run(plan: &ScanPlan) -> ScanOutcome {
    let started = std::time::Instant::now();
    let mut pipeline = Pipeline::new(plan);
    let fed = pipeline.feed(&plan.collectors);
    let (late, pending, timeline) = pipeline.finish();
    let mut events = fed.events;
    events.extend(late);
    events.retain(|e| plan.from.is_none_or(|f| e.time >= f) && plan.to.is_none_or(|t| e.time <= t));
    let (sessions, full_feed) = pipeline.tracker.session_counts();
    let summary = RunSummary::new(
        plan,
        fed.files,
        &events,
        pending,
        sessions,
        full_feed,
        started.elapsed(),
    );
    ScanOutcome {
        events,
        summary,
        timeline,
    }
}

/// What one [`Pipeline::feed`] found.
pub struct Fed {
    /// Events confirmed while reading (final, with evidence), in time order.
    pub events: Vec<Event>,
    pub files: Vec<FileReport>,
}

/// Version of [`PipelineState`]; bumped when a saved state can no longer be read.
pub const PIPELINE_STATE_VERSION: u32 = 1;

/// Everything a pipeline needs to go on later where it stopped: routes per session for the
/// watched prefixes, sessions, detector conditions. JSON, so a user can open it.
#[derive(Serialize, Deserialize)]
pub struct PipelineState {
    pub version: u32,
    pub asns: Vec<u32>,
    /// The time of the last message read.
    pub now: Option<Timestamp>,
    tracker: Tracker,
    detector: Detector,
}

/// The scan pipeline (parse → state → detect) as a value that can be fed files in several
/// goes, and saved and restored between them: `scan` feeds it once, `monitor` every run.
pub struct Pipeline {
    asns: Vec<u32>,
    prefixes: Vec<Prefix>,
    helpers: usize,
    tracker: Tracker,
    detector: Detector,
    recorder: Option<Recorder>,
    now: Option<Timestamp>,
    /// Archive input: readers wait for each file's download (or its failure).
    downloads: Option<Readiness>,
}

impl Pipeline {
    pub fn new(plan: &ScanPlan) -> Self {
        Pipeline {
            asns: plan.asns.clone(),
            prefixes: plan.prefixes.clone(),
            helpers: plan.helpers,
            tracker: Tracker::new(plan.eligibility.clone(), &plan.asns, &plan.prefixes),
            detector: Detector::new(plan.detect.clone()),
            recorder: plan.timeline.then(Recorder::default),
            now: None,
            downloads: plan.downloads.clone(),
        }
    }

    /// Go on from a saved state, with the plan's thresholds (they may have changed). Fails if
    /// the state is of another version or watches other ASes.
    pub fn restore(plan: &ScanPlan, state: PipelineState) -> Result<Self, String> {
        if state.version != PIPELINE_STATE_VERSION {
            return Err(format!(
                "saved state has version {}, this cutoff reads version {PIPELINE_STATE_VERSION}",
                state.version
            ));
        }
        if state.asns != plan.asns {
            return Err(format!(
                "saved state watches {:?}, the plan watches {:?}",
                state.asns, plan.asns
            ));
        }
        let mut p = Pipeline::new(plan);
        p.tracker = state.tracker;
        p.tracker.set_rules(plan.eligibility.clone());
        p.detector = state.detector;
        p.detector.set_rules(plan.detect.clone());
        p.now = state.now;
        Ok(p)
    }

    /// Read these files (each collector's in time order, after everything fed before) and
    /// return the events confirmed while reading them.
    pub fn feed(&mut self, collectors: &[CollectorFiles]) -> Fed {
        let mut prefixes: Vec<Prefix> = self.tracker.known_prefixes().into_iter().collect();
        prefixes.extend(self.prefixes.iter().copied());
        let watch = Watch::new(self.asns.iter().copied(), prefixes);
        let lanes = lanes(collectors);
        let bases: Vec<u32> = lanes
            .iter()
            .map(|lane| {
                self.tracker
                    .add_files(lane.files.iter().map(|f| f.path.display().to_string()))
            })
            .collect();
        let helpers = helpers_per_lane(self.helpers, &lanes);
        let ready = self.downloads.clone();
        let files = thread::scope(|scope| {
            let mut receivers = Vec::new();
            let mut handles = Vec::new();
            for ((group, base), helpers) in lanes.iter().zip(bases).zip(helpers) {
                let (tx, rx) = bounded::<Vec<Msg>>(64);
                let watch = watch.clone();
                let ready = ready.as_ref();
                handles.push(
                    scope.spawn(move || read_collector(group, base, watch, tx, helpers, ready)),
                );
                receivers.push(rx);
            }
            self.drive(receivers);
            let mut reports: Vec<FileReport> = Vec::new();
            for (h, lane) in handles.into_iter().zip(&lanes) {
                match h.join() {
                    Ok(r) => reports.extend(r),
                    // A bug, not bad input: say which files it leaves unread rather than lose them.
                    Err(_) => reports.extend(lane.files.iter().map(|f| FileReport {
                        path: f.path.display().to_string(),
                        collector: lane.collector.to_string(),
                        kind: f.kind,
                        stats: FileStats {
                            problem: Some("internal error: reader thread failed".into()),
                            ..FileStats::default()
                        },
                    })),
                }
            }
            reports
        });
        Fed {
            events: self.detector.take_events(),
            files,
        }
    }

    /// The state to save, with file names no evidence needs forgotten.
    pub fn state(&mut self) -> PipelineState {
        self.tracker.compact_files();
        PipelineState {
            version: PIPELINE_STATE_VERSION,
            asns: self.asns.clone(),
            now: self.now,
            tracker: self.tracker.clone(),
            detector: self.detector.clone(),
        }
    }

    /// Eligible peer ASNs seeing each watched AS as of the last message read.
    pub fn visible_peers(&self) -> BTreeMap<u32, usize> {
        let now = self.now.unwrap_or_default();
        self.asns
            .iter()
            .map(|&a| (a, self.tracker.snapshot(a, now).visible))
            .collect()
    }

    /// The time of the last message read.
    pub fn now(&self) -> Option<Timestamp> {
        self.now
    }

    /// End of input: events still to confirm, the conditions too short to be events, and
    /// the timeline if it was recorded.
    pub fn finish(&mut self) -> (Vec<Event>, Vec<String>, Vec<VisibilityPoint>) {
        let fresh = Detector::new(self.detector.rules().clone());
        let detector = std::mem::replace(&mut self.detector, fresh);
        let (events, pending) = detector.finish(self.now);
        let timeline = self
            .recorder
            .take()
            .map(Recorder::into_points)
            .unwrap_or_default();
        (events, pending, timeline)
    }

    fn observe_changes(&mut self, at: Timestamp) {
        for snap in self.tracker.take_snapshots(at) {
            if let Some(r) = &mut self.recorder {
                r.record(&snap);
            }
            self.detector.observe(snap);
        }
    }

    /// Merge the collectors' streams by time and feed state and detection.
    fn drive(&mut self, receivers: Vec<Receiver<Vec<Msg>>>) {
        let mut queues: Vec<VecDeque<Msg>> = receivers.iter().map(|_| VecDeque::new()).collect();
        let mut open: Vec<bool> = receivers.iter().map(|_| true).collect();
        let mut heap = BinaryHeap::new();
        let refill = |i: usize, queues: &mut Vec<VecDeque<Msg>>, open: &mut Vec<bool>| {
            while queues[i].is_empty() && open[i] {
                match receivers[i].recv() {
                    Ok(batch) => queues[i].extend(batch),
                    Err(_) => open[i] = false,
                }
            }
        };
        for i in 0..receivers.len() {
            refill(i, &mut queues, &mut open);
            if let Some(m) = queues[i].front() {
                heap.push(Reverse((m.time(), i)));
            }
        }
        while let Some(Reverse((_, i))) = heap.pop() {
            let Some(msg) = queues[i].pop_front() else {
                continue;
            };
            let t = msg.time();
            if let Some(n) = self.now
                && t.secs > n.secs
            {
                self.observe_changes(n);
                self.detector.advance(t);
                self.detector.fill_evidence(&self.tracker, n);
            }
            if self.now.is_none_or(|n| t > n) {
                self.now = Some(t);
            }
            self.tracker.apply(msg);
            refill(i, &mut queues, &mut open);
            if let Some(m) = queues[i].front() {
                heap.push(Reverse((m.time(), i)));
            }
        }
        if let Some(n) = self.now {
            self.observe_changes(n);
            self.detector.advance(n);
            self.detector.fill_evidence(&self.tracker, n);
        }
    }
}

/// Split collectors into streams read in order by one thread each. Files named in the archive
/// way (`updates.20080224.0007`) follow each other in time: one stream. A file whose name
/// gives no time (a daemon's own dump file) may overlap the others, so it is a stream of its
/// own; all streams are merged by time.
fn lanes(collectors: &[CollectorFiles]) -> Vec<CollectorFiles> {
    let mut out = Vec::new();
    for c in collectors {
        let (timed, untimed): (Vec<&MrtFile>, Vec<&MrtFile>) =
            c.files.iter().partition(|f| f.start.is_some());
        if !timed.is_empty() {
            out.push(CollectorFiles {
                collector: c.collector.clone(),
                files: timed.into_iter().cloned().collect(),
            });
        }
        for f in untimed {
            out.push(CollectorFiles {
                collector: c.collector.clone(),
                files: vec![f.clone()],
            });
        }
    }
    out
}

/// Share the decompression helpers among the streams with update files, which are read at
/// the same time: each stream's own thread counts against the budget of `helpers + 1`, so two
/// collectors on two cores get no helper each (each parser decodes its own files) instead of
/// four threads contending for two cores.
fn helpers_per_lane(helpers: usize, lanes: &[CollectorFiles]) -> Vec<usize> {
    let decoding = |l: &CollectorFiles| l.files.iter().any(|f| f.kind == FileKind::Updates);
    let busy = lanes.iter().filter(|l| decoding(l)).count();
    let spare = (helpers + 1).saturating_sub(busy);
    let mut nth = 0;
    lanes
        .iter()
        .map(|l| {
            if !decoding(l) {
                return 0;
            }
            nth += 1;
            spare / busy + usize::from(nth <= spare % busy)
        })
        .collect()
}

/// Read one collector's files in order, filter, and send batches of messages. Update files
/// are decompressed into memory by `helpers` other threads (and this one, when it would
/// otherwise wait; see [`parse::ahead`]); RIBs and unknown files are streamed.
fn read_collector(
    group: &CollectorFiles,
    base: u32,
    mut watch: Watch,
    tx: Sender<Vec<Msg>>,
    helpers: usize,
    ready: Option<&Readiness>,
) -> Vec<FileReport> {
    let mut reports = Vec::new();
    let mut sender = BatchSender {
        tx,
        batch: Vec::with_capacity(BATCH),
        closed: false,
    };
    let in_memory = |f: &MrtFile| f.kind == FileKind::Updates;
    let gate: Arc<dyn parse::ahead::Gate> = match ready {
        Some(r) => Arc::new(r.clone()),
        None => Arc::new(parse::ahead::Local),
    };
    let jobs = group.files.iter().filter(|f| in_memory(f));
    let mut ahead = parse::ahead::Ahead::start(
        jobs.map(|f| f.path.clone()).collect(),
        helpers,
        helpers + 2,
        Arc::clone(&gate),
    );
    for (i, file) in group.files.iter().enumerate() {
        let mut reader = FileReader::new(
            group.collector.clone(),
            base + i as u32,
            &mut watch,
            &mut sender,
        );
        let decoded = if in_memory(file) { ahead.take() } else { None };
        let stats = match decoded {
            Some(parse::ahead::Decoded::Bytes(bytes, err)) => read_decoded(bytes, err, &mut reader),
            Some(parse::ahead::Decoded::Unavailable(reason)) => FileStats::failed(reason),
            // A RIB, an unknown file, or one too large to hold: streamed.
            Some(parse::ahead::Decoded::TooLarge) | None => match gate.wait(&file.path) {
                // Missing from the archive or not downloaded: a gap, named by its URL.
                Err(reason) => FileStats::failed(reason),
                Ok(()) => parse::read_file_with(&file.path, &mut reader),
            },
        };
        reader.finish(&stats, file);
        reports.push(FileReport {
            path: file.path.display().to_string(),
            collector: group.collector.to_string(),
            kind: file.kind,
            stats,
        });
    }
    sender.flush();
    reports
}

/// Parse a file decompressed into memory; a decompression error after some bytes becomes the
/// file's problem, after the records those bytes held.
fn read_decoded(
    bytes: Vec<u8>,
    err: Option<std::io::Error>,
    reader: &mut FileReader<'_>,
) -> FileStats {
    let source = parse::Source::Memory {
        data: bytes::Bytes::from(bytes),
        at: 0,
    };
    let mut stats = parse::read_records(source, reader);
    if let Some(e) = err {
        let note = format!(
            "{}; {} complete records read before it",
            parse::read_error(&e),
            stats.records
        );
        stats.problem = Some(match stats.problem.take() {
            Some(p) => format!("{note}; {p}"),
            None => note,
        });
    }
    stats
}

struct BatchSender {
    tx: Sender<Vec<Msg>>,
    batch: Vec<Msg>,
    closed: bool,
}

impl BatchSender {
    fn push(&mut self, m: Msg) {
        self.batch.push(m);
        if self.batch.len() >= BATCH {
            self.flush();
        }
    }
    fn flush(&mut self) {
        if self.batch.is_empty() || self.closed {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        if self.tx.send(batch).is_err() {
            self.closed = true;
        }
    }
}

/// Filters one file's items into messages, counting per-peer activity and RIB table sizes.
struct FileReader<'a> {
    collector: CollectorId,
    file: u32,
    watch: &'a mut Watch,
    out: &'a mut BatchSender,
    minute: i64,
    activity: FxHashMap<(IpAddr, u32), (u32, u32)>,
    tables: FxHashMap<(IpAddr, u32), u64>,
    rib_started: bool,
    last_time: Option<Timestamp>,
}

impl parse::Handler for FileReader<'_> {
    fn item(&mut self, item: Item) {
        self.take(item);
    }

    fn prefilters(&self) -> bool {
        true
    }

    /// Parse an UPDATE in full only if it touches a watched prefix or a watched AS
    /// originates it; otherwise just count it for its peer.
    fn wants(&mut self, time: Timestamp, u: &parse::prefilter::UpdateView<'_>) -> bool {
        let watch = &*self.watch;
        if u.any_origin(&mut |a| watch.watches_asn(a)) || u.nlri().any(|n| watch.covers_nlri(&n)) {
            return true;
        }
        self.last_time = Some(time);
        self.tick(time);
        let counts = self.activity.entry((u.peer_ip, u.peer_asn)).or_default();
        counts.0 += u.withdrawals + u.announcements;
        counts.1 += u.withdrawals;
        false
    }

    /// Parse a RIB record in full only if its prefix is watched or a watched AS originates
    /// one of its routes; otherwise just count each peer's table.
    fn wants_rib(&mut self, time: Timestamp, rib: &parse::prefilter::RibView<'_>) -> bool {
        let watch = &*self.watch;
        if watch.covers(&rib.prefix) || rib.any_origin(&mut |a| watch.watches_asn(a)) {
            return true;
        }
        self.last_time = Some(time);
        for e in &rib.entries {
            *self.tables.entry((e.peer_ip, e.peer_asn)).or_default() += 1;
        }
        false
    }
}

impl<'a> FileReader<'a> {
    fn new(
        collector: CollectorId,
        file: u32,
        watch: &'a mut Watch,
        out: &'a mut BatchSender,
    ) -> Self {
        FileReader {
            collector,
            file,
            watch,
            out,
            minute: i64::MIN,
            activity: FxHashMap::default(),
            tables: FxHashMap::default(),
            rib_started: false,
            last_time: None,
        }
    }

    fn peer(&self, ip: IpAddr, asn: u32) -> PeerId {
        PeerId {
            collector: self.collector.clone(),
            ip,
            asn,
        }
    }

    fn take(&mut self, item: Item) {
        let t = item.time();
        self.last_time = Some(t);
        match item {
            Item::State(s) => {
                self.tick(t);
                let peer = self.peer(s.peer_ip, s.peer_asn);
                self.out.push(Msg::State {
                    time: t,
                    peer,
                    old: s.old_state,
                    new: s.new_state,
                });
            }
            Item::Route(r) if r.kind == RouteKind::Rib => {
                *self.tables.entry((r.peer_ip, r.peer_asn)).or_default() += 1;
                let Some(attrs) = r.attrs else { return };
                if !self.wanted(&r.prefix, Some(&attrs.path)) {
                    return;
                }
                if !self.rib_started {
                    self.rib_started = true;
                    self.out.push(Msg::RibBegin {
                        time: t,
                        collector: self.collector.clone(),
                    });
                }
                let peer = self.peer(r.peer_ip, r.peer_asn);
                self.out.push(Msg::RibRoute {
                    time: t,
                    peer,
                    prefix: r.prefix,
                    attrs,
                    file: self.file,
                });
            }
            Item::Route(r) => {
                self.tick(t);
                let counts = self.activity.entry((r.peer_ip, r.peer_asn)).or_default();
                counts.0 += 1;
                if r.kind == RouteKind::Withdraw {
                    counts.1 += 1;
                }
                if !self.wanted(&r.prefix, r.attrs.as_ref().map(|a| &a.path)) {
                    return;
                }
                let peer = self.peer(r.peer_ip, r.peer_asn);
                self.out.push(Msg::Route {
                    time: t,
                    peer,
                    prefix: r.prefix,
                    attrs: r.attrs,
                    file: self.file,
                });
            }
        }
    }

    /// A watched prefix (or more specific), or any route a watched AS originates.
    fn wanted(&mut self, prefix: &Prefix, path: Option<&crate::model::AsPath>) -> bool {
        let originated = path.is_some_and(|p| match p.origin() {
            Origin::As(a) => self.watch.watches_asn(a),
            Origin::Uncertain(set) => set.iter().any(|a| self.watch.watches_asn(*a)),
            Origin::None => false,
        });
        if originated {
            self.watch.insert(*prefix);
            return true;
        }
        self.watch.covers(prefix)
    }

    /// Flush per-peer activity at each new minute.
    fn tick(&mut self, t: Timestamp) {
        let minute = t.secs.div_euclid(60);
        if minute != self.minute {
            self.flush_activity();
            self.minute = minute;
        }
    }

    fn flush_activity(&mut self) {
        if self.minute == i64::MIN {
            return;
        }
        let time = Timestamp::from_secs(self.minute * 60 + 59);
        let mut entries: Vec<_> = self.activity.drain().collect();
        entries.sort_unstable();
        for ((ip, asn), (messages, withdrawals)) in entries {
            let peer = PeerId {
                collector: self.collector.clone(),
                ip,
                asn,
            };
            self.out.push(Msg::Activity {
                time,
                peer,
                messages,
                withdrawals,
            });
        }
    }

    fn finish(mut self, stats: &FileStats, file: &MrtFile) {
        self.flush_activity();
        let end = self.last_time.or(file.start).unwrap_or_default();
        if !self.tables.is_empty() {
            if !self.rib_started {
                self.out.push(Msg::RibBegin {
                    time: end,
                    collector: self.collector.clone(),
                });
            }
            let mut tables: Vec<(PeerId, u64)> = self
                .tables
                .drain()
                .map(|((ip, asn), n)| {
                    (
                        PeerId {
                            collector: self.collector.clone(),
                            ip,
                            asn,
                        },
                        n,
                    )
                })
                .collect();
            tables.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            self.out.push(Msg::RibEnd {
                time: end,
                collector: self.collector.clone(),
                tables,
            });
        }
        // A file that stopped early leaves this collector's view unknown from here on.
        if let Some(reason) = &stats.problem {
            self.out.push(Msg::Gap {
                time: end,
                collector: self.collector.clone(),
                reason: reason.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(kinds: &[FileKind]) -> CollectorFiles {
        let collector = crate::model::CollectorId::new("c");
        CollectorFiles {
            collector: collector.clone(),
            files: kinds
                .iter()
                .map(|&kind| MrtFile {
                    path: PathBuf::from("f"),
                    collector: collector.clone(),
                    kind,
                    start: None,
                })
                .collect(),
        }
    }

    #[test]
    fn helpers_are_shared_so_no_more_threads_than_the_budget_decode() {
        use FileKind::{Rib, Unknown, Updates};
        let one = [lane(&[Rib, Updates, Updates])];
        assert_eq!(helpers_per_lane(1, &one), [1]);
        assert_eq!(helpers_per_lane(0, &one), [0]);
        let two = [lane(&[Rib, Updates]), lane(&[Updates])];
        assert_eq!(helpers_per_lane(1, &two), [0, 0]);
        assert_eq!(helpers_per_lane(3, &two), [1, 1]);
        // A daemon dump or a lone RIB decodes nothing ahead and takes no share.
        let mixed = [
            lane(&[Updates]),
            lane(&[Unknown]),
            lane(&[Updates]),
            lane(&[Rib]),
            lane(&[Updates]),
        ];
        assert_eq!(helpers_per_lane(7, &mixed), [2, 0, 2, 0, 1]);
    }
}
