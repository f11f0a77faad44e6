//! Output of a scan: events and the run summary as table, JSON Lines, JSON, CSV or Markdown;
//! and the full report (`cutoff report`, `scan --report DIR`): HTML, Markdown, charts.
//!
//! The report's parts: [`input`] (what it is made of, from files or a scan), [`content`] (what
//! it says, as [`doc`] blocks), [`plot`] (charts), [`provenance`] (input files and hashes),
//! [`names`] (AS names), [`html`] and [`markdown`] (renderers that escape every input string).

pub mod content;
pub mod doc;
pub mod html;
pub mod input;
pub mod markdown;
pub mod names;
pub mod plot;
pub mod provenance;

use crate::detect::{DetectRules, Event, EventKind};
use crate::error::{ExitStatus, UsageError};
use crate::scan::{FileReport, ScanPlan};
use crate::state::EligibilityRules;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Version of the JSON output; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// A timeline for people (default on a terminal).
    Table,
    /// One JSON object per event, then one summary object (default otherwise).
    Jsonl,
    /// One JSON document with events and summary.
    Json,
    /// One row per event.
    Csv,
    Markdown,
}

/// A gap in the input: a file that could not be read completely.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Gap {
    pub collector: String,
    pub file: String,
    pub problem: String,
}

/// How the events were found: inputs, their problems, thresholds. Printed with every result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    #[serde(rename = "type")]
    pub kind: String,
    pub schema_version: u32,
    pub tool: String,
    pub asns: Vec<u32>,
    pub extra_prefixes: Vec<String>,
    pub collectors: Vec<String>,
    /// Collectors read without a RIB: eligibility and baseline come from announcements.
    pub collectors_without_rib: Vec<String>,
    pub partial_baseline: bool,
    pub files_read: usize,
    pub records: u64,
    pub elements: u64,
    pub truncated_records: u64,
    pub salvaged_withdrawals: u64,
    pub salvaged_announcements: u64,
    pub first_time: Option<crate::model::Timestamp>,
    pub last_time: Option<crate::model::Timestamp>,
    pub gaps: Vec<Gap>,
    pub unparsed_records: u64,
    pub incomplete_input: bool,
    pub sessions: usize,
    pub full_feed_sessions: usize,
    pub events: BTreeMap<String, usize>,
    /// Conditions that began but had not lasted the minimum duration when the input ended.
    pub pending_at_end: Vec<String>,
    pub thresholds: Thresholds,
    pub elapsed_secs: f64,
    pub files: Vec<FileReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Thresholds {
    pub min_duration: String,
    pub max_residual: String,
    pub restore_fraction: f64,
    pub min_peers: usize,
    pub full_feed_fraction: f64,
    pub silence: String,
    pub mass_withdrawal_fraction: f64,
    pub mass_window: String,
    pub assumed_table_size_without_rib: u64,
    pub excluded_peers: Vec<String>,
}

fn duration_text(secs: i64) -> String {
    match secs {
        0 => "0s".into(),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

impl Thresholds {
    pub fn new(d: &DetectRules, e: &EligibilityRules) -> Self {
        Thresholds {
            min_duration: duration_text(d.min_duration_secs),
            max_residual: d.max_residual.to_string(),
            restore_fraction: d.restore_fraction,
            min_peers: d.min_peers,
            full_feed_fraction: e.full_feed_fraction,
            silence: duration_text(e.silence_secs),
            mass_withdrawal_fraction: e.mass_withdrawal_fraction,
            mass_window: duration_text(e.mass_window_secs),
            assumed_table_size_without_rib: e.assumed_table_size,
            excluded_peers: e
                .exclude_asns
                .iter()
                .map(|a| format!("AS{a}"))
                .chain(e.exclude_ips.iter().map(ToString::to_string))
                .collect(),
        }
    }
}

impl RunSummary {
    pub fn new(
        plan: &ScanPlan,
        files: Vec<FileReport>,
        events: &[Event],
        pending_at_end: Vec<String>,
        sessions: usize,
        full_feed_sessions: usize,
        elapsed: std::time::Duration,
    ) -> Self {
        let sum = |f: fn(&FileReport) -> u64| files.iter().map(f).sum::<u64>();
        let collectors: Vec<String> = plan
            .collectors
            .iter()
            .map(|c| c.collector.to_string())
            .collect();
        let collectors_without_rib: Vec<String> = plan
            .collectors
            .iter()
            .filter(|c| {
                !files
                    .iter()
                    .any(|f| f.collector == c.collector.as_str() && f.stats.rib_entries > 0)
            })
            .map(|c| c.collector.to_string())
            .collect();
        let gaps: Vec<Gap> = files
            .iter()
            .filter_map(|f| {
                let skipped = (!f.stats.skipped.is_empty()).then(|| f.stats.skipped.join("; "));
                let problem = f.stats.problem.clone().or(skipped).or_else(|| {
                    (!f.stats.unparsed_records.is_empty()).then(|| {
                        f.stats
                            .unparsed_records
                            .iter()
                            .map(|(r, n)| format!("{n} record(s) not parsed: {r}"))
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                })?;
                Some(Gap {
                    collector: f.collector.clone(),
                    file: f.path.clone(),
                    problem,
                })
            })
            .collect();
        let mut by_kind = BTreeMap::new();
        for e in events {
            *by_kind.entry(e.event.name().to_string()).or_default() += 1;
        }
        RunSummary {
            kind: "summary".into(),
            schema_version: SCHEMA_VERSION,
            tool: format!("cutoff {}", env!("CARGO_PKG_VERSION")),
            asns: plan.asns.clone(),
            extra_prefixes: plan.prefixes.iter().map(ToString::to_string).collect(),
            partial_baseline: !collectors_without_rib.is_empty(),
            collectors,
            collectors_without_rib,
            files_read: files.len(),
            records: sum(|f| f.stats.records),
            elements: sum(|f| f.stats.elems),
            truncated_records: sum(|f| f.stats.truncated_records),
            salvaged_withdrawals: sum(|f| f.stats.salvaged_withdrawals),
            salvaged_announcements: sum(|f| f.stats.salvaged_announcements),
            first_time: files.iter().filter_map(|f| f.stats.first_time).min(),
            last_time: files.iter().filter_map(|f| f.stats.last_time).max(),
            unparsed_records: sum(|f| f.stats.unparsed_records.values().sum()),
            incomplete_input: !gaps.is_empty(),
            gaps,
            sessions,
            full_feed_sessions,
            events: by_kind,
            pending_at_end,
            thresholds: Thresholds::new(&plan.detect, &plan.eligibility),
            elapsed_secs: elapsed.as_secs_f64(),
            files,
        }
    }
}

pub fn write(
    out: &mut dyn Write,
    format: OutputFormat,
    events: &[Event],
    summary: &RunSummary,
) -> std::io::Result<()> {
    match format {
        OutputFormat::Jsonl => {
            for e in events {
                writeln!(out, "{}", serde_json::to_string(e)?)?;
            }
            writeln!(out, "{}", serde_json::to_string(summary)?)
        }
        OutputFormat::Json => {
            let doc = serde_json::json!({ "schema_version": SCHEMA_VERSION, "events": events, "summary": summary });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)
        }
        OutputFormat::Csv => write_csv(out, events),
        OutputFormat::Table => write_table(out, events, summary),
        OutputFormat::Markdown => write_markdown(out, events, summary),
    }
}

/// One sentence per event, for the table and Markdown outputs.
pub fn describe(e: &Event) -> String {
    let a = e.asn;
    let ev = &e.evidence;
    match e.event {
        EventKind::Disconnected => {
            let ups = e.last_upstreams.clone().unwrap_or_default();
            let last: Vec<String> = e
                .last_seen_via
                .iter()
                .map(|(u, l)| {
                    let when = l
                        .until
                        .map(|t| t.to_datetime().format("%H:%M:%S").to_string())
                        .unwrap_or_else(|| "still".into());
                    format!(
                        "AS{u} last at {when} ({} {} path {})",
                        l.collector, l.peer_ip, l.path
                    )
                })
                .collect();
            format!(
                "AS{a} lost all upstreams{}: {} → {} of {} peer ASNs see it. {}",
                if ups.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (last: {})",
                        ups.iter()
                            .map(|u| format!("AS{u}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
                ev.peers_before,
                ev.peers_after,
                ev.eligible_peers,
                last.join("; ")
            )
        }
        EventKind::Restored => format!(
            "AS{a} visible again via {} at {} of {} peer ASNs{}",
            list_asns(e.upstreams.as_deref().unwrap_or(&[])),
            ev.peers_after,
            ev.eligible_peers,
            e.outage_secs
                .map(|s| format!(", after {} dark", human_duration(s)))
                .unwrap_or_default()
        ),
        EventKind::UpstreamLost => format!(
            "AS{} stopped carrying AS{a}: {} → {} peer ASNs via it; still visible via {}{}",
            e.upstream.unwrap_or(0),
            ev.peers_before,
            ev.peers_after,
            list_asns(e.upstreams.as_deref().unwrap_or(&[])),
            last_route_text(e)
        ),
        EventKind::UpstreamGained => format!(
            "AS{} now carries AS{a} ({} peer ASNs via it)",
            e.upstream.unwrap_or(0),
            ev.peers_after
        ),
        EventKind::PrefixDark => format!(
            "{} of AS{a} is dark: {} → {} peer ASNs see it while AS{a} stays visible{}",
            e.prefix.map(|p| p.to_string()).unwrap_or_default(),
            ev.peers_before,
            ev.peers_after,
            last_route_text(e)
        ),
        EventKind::Inconclusive => format!("AS{a}: {}", e.reason.clone().unwrap_or_default()),
    }
}

fn last_route_text(e: &Event) -> String {
    e.last_route
        .as_ref()
        .map(|l| {
            let when = l
                .until
                .unwrap_or(l.announced)
                .to_datetime()
                .format("%H:%M:%S");
            format!(
                "; last route {} {} path {} at {when}",
                l.collector, l.peer_ip, l.path
            )
        })
        .unwrap_or_default()
}

fn list_asns(asns: &[u32]) -> String {
    if asns.is_empty() {
        return "no upstream".into();
    }
    asns.iter()
        .map(|u| format!("AS{u}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn human_duration(secs: i64) -> String {
    let (d, h, m) = (secs / 86400, secs % 86400 / 3600, secs % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h{m:02}m"),
        _ => format!("{d}d{h:02}h{m:02}m"),
    }
}

fn write_table(out: &mut dyn Write, events: &[Event], s: &RunSummary) -> std::io::Result<()> {
    if events.is_empty() {
        writeln!(
            out,
            "No events for {}.",
            s.asns
                .iter()
                .map(|a| format!("AS{a}"))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    for e in events {
        writeln!(
            out,
            "{}  {:<15}  {}",
            e.time.to_datetime().format("%Y-%m-%d %H:%M:%S UTC"),
            e.event.name(),
            describe(e)
        )?;
    }
    writeln!(out)?;
    for line in summary_lines(s) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn summary_lines(s: &RunSummary) -> Vec<String> {
    let t = &s.thresholds;
    let mut lines = vec![
        format!(
            "Read {} files from {} ({} records, {} elements), {} to {}.",
            s.files_read,
            s.collectors.join(", "),
            s.records,
            s.elements,
            s.first_time
                .map(|t| t.rfc3339())
                .unwrap_or_else(|| "-".into()),
            s.last_time
                .map(|t| t.rfc3339())
                .unwrap_or_else(|| "-".into()),
        ),
        format!(
            "Records cut short by the collector: {} (recovered {} withdrawals, {} announcements).",
            s.truncated_records, s.salvaged_withdrawals, s.salvaged_announcements
        ),
        format!(
            "Thresholds: min-duration {}, max-residual {}, restore at {:.0}%, full feed ≥ {:.0}% of the top-10 median, silence {}, mass withdrawal {:.0}% in {}, min {} peers.",
            t.min_duration,
            t.max_residual,
            t.restore_fraction * 100.0,
            t.full_feed_fraction * 100.0,
            t.silence,
            t.mass_withdrawal_fraction * 100.0,
            t.mass_window,
            t.min_peers
        ),
    ];
    if s.partial_baseline {
        lines.push(format!(
            "Partial baseline: no RIB for {}; eligible peers and baseline come from announcements seen in the window.",
            s.collectors_without_rib.join(", ")
        ));
    }
    for g in &s.gaps {
        lines.push(format!("Gap: {}: {}", g.file, g.problem));
    }
    for p in &s.pending_at_end {
        lines.push(format!("Unconfirmed at end of input: {p}"));
    }
    lines
}

fn write_markdown(out: &mut dyn Write, events: &[Event], s: &RunSummary) -> std::io::Result<()> {
    writeln!(out, "| time (UTC) | event | AS | what happened |")?;
    writeln!(out, "|---|---|---|---|")?;
    for e in events {
        writeln!(
            out,
            "| {} | {} | AS{} | {} |",
            e.time.rfc3339(),
            e.event.name(),
            e.asn,
            describe(e).replace('|', "\\|")
        )?;
    }
    writeln!(out)?;
    for line in summary_lines(s) {
        writeln!(out, "- {}", line.replace('|', "\\|"))?;
    }
    Ok(())
}

fn write_csv(out: &mut dyn Write, events: &[Event]) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "event",
        "asn",
        "time",
        "upstream",
        "prefix",
        "last_upstreams",
        "upstreams",
        "peers_before",
        "peers_after",
        "eligible_peers",
        "outage_secs",
        "reason",
        "partial_baseline",
        "description",
    ])?;
    for e in events {
        let join = |v: &Option<Vec<u32>>| {
            v.as_ref()
                .map(|v| {
                    v.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default()
        };
        w.write_record([
            e.event.name().to_string(),
            e.asn.to_string(),
            e.time.rfc3339(),
            e.upstream.map(|u| u.to_string()).unwrap_or_default(),
            e.prefix.map(|p| p.to_string()).unwrap_or_default(),
            join(&e.last_upstreams),
            join(&e.upstreams),
            e.evidence.peers_before.to_string(),
            e.evidence.peers_after.to_string(),
            e.evidence.eligible_peers.to_string(),
            e.outage_secs.map(|s| s.to_string()).unwrap_or_default(),
            e.reason.clone().unwrap_or_default(),
            e.evidence.partial_baseline.to_string(),
            describe(e),
        ])?;
    }
    w.flush()
}

/// `cutoff report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Events and run summary: the JSON Lines of `cutoff scan --format jsonl`.
    #[arg(long, value_name = "FILE")]
    pub events: PathBuf,
    /// Visibility over time: the JSON Lines of `cutoff timeline --format jsonl` (same
    /// arguments as the scan). Without it the visibility charts are omitted, and the report
    /// says so.
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,
    /// AS names: `3549 Global Crossing` lines, or asn.txt style (`AS3549 GBLX-US, US`).
    #[arg(long, value_name = "FILE")]
    pub as_names: Option<PathBuf>,
    /// Directory to write report.html, report.md, events.jsonl, the charts and inputs.sha256.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub telemetry: crate::correlate::TelemetryArgs,
}

fn usage(msg: String) -> anyhow::Error {
    UsageError::Invalid(msg).into()
}

/// Load `--as-names`, or none.
pub fn load_names(path: Option<&Path>) -> anyhow::Result<names::AsNames> {
    match path {
        Some(p) => names::AsNames::from_file(p).map_err(usage),
        None => Ok(names::AsNames::default()),
    }
}

pub fn run_cli(args: ReportArgs) -> anyhow::Result<ExitStatus> {
    let names = load_names(args.as_names.as_deref())?;
    let (events, summary) = input::read_scan_output(&args.events).map_err(usage)?;
    let timeline = match &args.timeline {
        Some(p) => Ok(input::read_timeline(p).map_err(usage)?),
        None => Err(
            "no timeline was given (make one with cutoff timeline, the scan's arguments and --format jsonl, then pass --timeline FILE)"
                .to_string(),
        ),
    };
    let prepared = crate::correlate::Prepared::load(&args.telemetry)?;
    let events_file = args.events.display().to_string();
    let spam = prepared
        .as_ref()
        .map(|p| input::SpamInput::new(p, &events, Some(events_file.clone())));
    let scan = input::scan_command(&summary);
    let mut commands = vec![(
        "The scan, rebuilt from its summary (each collector's files by their directory; --from and --to, if they were used, are not recorded):".to_string(),
        scan.clone(),
    )];
    if args.timeline.is_some() {
        commands.push((
            "The timeline, with the same arguments:".into(),
            scan.replacen("cutoff scan", "cutoff timeline", 1)
                .replace("> events.jsonl", "> timeline.jsonl"),
        ));
    }
    commands.push(("This report:".into(), input::this_command()));
    let mut report_files = vec![("events".to_string(), events_file)];
    for (role, p) in [("timeline", &args.timeline), ("as-names", &args.as_names)] {
        if let Some(p) = p {
            report_files.push((role.into(), p.display().to_string()));
        }
    }
    let incomplete =
        summary.incomplete_input || spam.as_ref().is_some_and(|s| s.correlation.incomplete());
    let input = input::ReportInput {
        events,
        summary,
        timeline,
        spam,
        names,
        commands,
        report_files,
    };
    write_report(&input, &args.out)?;
    Ok(if incomplete {
        ExitStatus::IncompleteInput
    } else {
        ExitStatus::Success
    })
}

/// Write the report into `dir` (created if needed); returns the files written.
pub fn write_report(input: &input::ReportInput, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| {
        anyhow::anyhow!("{}: cannot create the report directory: {e}", dir.display())
    })?;
    let generated = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let content = content::build(input, &generated).map_err(|e| anyhow::anyhow!(e))?;
    let mut written = Vec::new();
    let mut put = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
        let p = dir.join(name);
        std::fs::write(&p, bytes)
            .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", p.display()))?;
        written.push(p);
        Ok(())
    };
    for ch in &content.charts {
        put(&format!("{}.svg", ch.stem), ch.svg.as_bytes())?;
        put(&format!("{}.png", ch.stem), &ch.png)?;
    }
    let mut jsonl = Vec::new();
    write(
        &mut jsonl,
        OutputFormat::Jsonl,
        &input.events,
        &input.summary,
    )?;
    put("events.jsonl", &jsonl)?;
    put(
        "inputs.sha256",
        provenance::sha256sums(&content.files).as_bytes(),
    )?;
    put("report.md", markdown::render(&content).as_bytes())?;
    put("report.html", html::render(&content).as_bytes())?;
    if let Some(h) = content::headline_text(&content.blocks) {
        tracing::info!("{h}");
    }
    tracing::info!(
        "report written to {} ({} files)",
        dir.join("report.html").display(),
        written.len()
    );
    Ok(written)
}
