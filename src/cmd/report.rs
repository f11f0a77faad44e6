//! `cutoff report`: the flags, and the report from files a scan and a timeline wrote.

use crate::cmd::correlate::TelemetryArgs;
use anyhow::Result;
use cutoff_core::error::{ExitStatus, UsageError};
use cutoff_report::{input, write_report};
use std::path::PathBuf;

fn usage(msg: String) -> anyhow::Error {
    UsageError::Invalid(msg).into()
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
    /// Without it, the list `cutoff names fetch` cached is used when there is one.
    #[arg(long, value_name = "FILE")]
    pub as_names: Option<PathBuf>,
    #[command(flatten)]
    pub cache: crate::cmd::fetch::CacheArg,
    /// Directory to write report.html, report.md, events.jsonl, the charts and inputs.sha256.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

pub fn run_cli(args: ReportArgs) -> Result<ExitStatus> {
    let (names, names_file) =
        crate::cmd::names::for_report(args.as_names.as_deref(), args.cache.root())?;
    let (events, summary) = input::read_scan_output(&args.events).map_err(usage)?;
    let timeline = match &args.timeline {
        Some(p) => Ok(input::read_timeline(p).map_err(usage)?),
        None => Err(
            "no timeline was given (make one with cutoff timeline, the scan's arguments and --format jsonl, then pass --timeline FILE)"
                .to_string(),
        ),
    };
    let prepared = cutoff_correlate::Prepared::load(&args.telemetry.options())?;
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
    for (role, p) in [("timeline", &args.timeline), ("as-names", &names_file)] {
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
