//! `cutoff scan --partial` (one partition of a scan into a Parquet file) and `cutoff merge`
//! (the partitions' files into the scan's result).

use crate::cmd::fetch::CacheArg;
use crate::cmd::problems::report_cut_records;
use crate::cmd::scan::{OutputArgs, ReadArgs, plan_archive, present};
use anyhow::{Context, Result, bail};
use cutoff_archive::partition::Partition;
use cutoff_archive::source::Downloads;
use cutoff_core::error::ExitStatus;
use cutoff_core::model::Prefix;
use cutoff_core::model::Timestamp;
use cutoff_core::pipeline::partial::{self, MergeError, Segment, Sourced};
use cutoff_core::pipeline::{ScanPlan, default_helpers};
use cutoff_core::units::{parse_duration_flag, parse_time};
use cutoff_scale::{PartialFile, ScanParams};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// Partial files written by `cutoff scan --partial`, in any order.
    #[arg(required = true, value_name = "PARTIAL")]
    pub partials: Vec<PathBuf>,
    /// A partition that could not be read (its `cutoff plan` line, with a `"failed"` reason
    /// added by the driver; repeatable): its files are named gaps in the summary (exit 3).
    #[arg(long = "failed", value_name = "PARTITION.json")]
    pub failed: Vec<PathBuf>,
    #[command(flatten)]
    pub out: OutputArgs,
    #[command(flatten)]
    pub cache: CacheArg,
}

/// Read the plan's files as one partition and write the partial.
pub fn write_partial(
    read: &ReadArgs,
    plan: &mut ScanPlan,
    partition: Option<&Path>,
    known: &[Prefix],
    out: &Path,
) -> Result<ExitStatus> {
    let downloads = match partition {
        Some(file) => Some(start_partition(read, plan, file)?),
        None if read.archive_mode() => Some(plan_archive(read, plan)?),
        None => None,
    };
    let segments = partial::capture(plan, known);
    if let Some(d) = downloads {
        d.join();
    }
    let mut incomplete = false;
    for f in segments.iter().flat_map(|s| &s.files) {
        report_cut_records(&f.path, &f.stats);
        if let Some(problem) = &f.stats.problem {
            tracing::error!("{}: {problem}", f.path);
        }
        incomplete |= f.stats.problem.is_some()
            || !f.stats.skipped.is_empty()
            || !f.stats.unparsed_records.is_empty();
    }
    let file = PartialFile {
        scan: ScanParams::of_plan(plan, known, read.table_size.is_none()),
        segments,
    };
    file.write(out)?;
    tracing::info!("{}: {}", out.display(), describe(&file.segments));
    Ok(if incomplete {
        ExitStatus::IncompleteInput
    } else {
        ExitStatus::Success
    })
}

/// Start downloading a partition's files (a line of `cutoff plan`) into this machine's cache;
/// the plan's files become them.
fn start_partition(read: &ReadArgs, plan: &mut ScanPlan, file: &Path) -> Result<Downloads> {
    let (Some(from), Some(to)) = (read.from, read.to) else {
        bail!(
            "--partition needs the scan's --from and --to (the whole scan's, not the partition's)"
        );
    };
    if !read.paths.is_empty() {
        bail!("--partition reads the archive files it names: give no PATH");
    }
    let text = std::fs::read_to_string(file).with_context(|| file.display().to_string())?;
    let partition: Partition = serde_json::from_str(text.trim())
        .with_context(|| format!("{}: not a partition line of `cutoff plan`", file.display()))?;
    let options = read.archive.options()?;
    let archive_plan = partition.plan(&options.cache_root()?, from, to);
    plan.collectors = archive_plan.collector_files();
    let (ready, downloads) = options.open()?.start(&archive_plan);
    plan.downloads = Some(std::sync::Arc::new(ready));
    Ok(downloads)
}

fn describe(segments: &[Segment]) -> String {
    let files: usize = segments.iter().map(|s| s.files.len()).sum();
    let messages: usize = segments.iter().map(|s| s.messages.len()).sum();
    format!(
        "{} stream(s), {files} file(s), {messages} message(s) for the watched ASes",
        segments.len()
    )
}

/// `cutoff merge`: the partials' union through state and detection, presented as `scan`
/// presents its result.
pub fn run(args: MergeArgs) -> Result<ExitStatus> {
    let mut params: Option<(PathBuf, ScanParams)> = None;
    let mut segments = Vec::new();
    for path in &args.partials {
        let file = PartialFile::read(path)?;
        match &params {
            None => params = Some((path.clone(), file.scan.clone())),
            Some((first, p)) if !p.same_scan(&file.scan) => bail!(
                "{} and {} are partials of different scans (ASes, prefixes, thresholds or range differ)",
                first.display(),
                path.display()
            ),
            Some(_) => {}
        }
        let source = path.display().to_string();
        segments.extend(file.segments.into_iter().map(|segment| Sourced {
            source: source.clone(),
            segment,
        }));
    }
    for path in &args.failed {
        segments.push(failed_partition(path)?);
    }
    let Some((_, params)) = params else {
        bail!("no partial given");
    };
    let mut plan = ScanPlan {
        asns: params.asns.clone(),
        prefixes: params.prefixes.clone(),
        collectors: Vec::new(),
        eligibility: params.eligibility.clone(),
        detect: params.detect.clone(),
        from: params.from,
        to: params.to,
        helpers: default_helpers(),
        max_decoded: 0,
        timeline: false,
        downloads: None,
        files_done: None,
    };
    present(
        &args.out,
        &mut plan,
        args.cache.root(),
        |plan, gaps_on_stdout| {
            let outcome = match partial::merge(plan, segments, params.table_size_by_year) {
                Ok(outcome) => outcome,
                Err(MergeError::Reread(rereads)) => return Err(reread_error(rereads)),
                Err(e) => return Err(e.into()),
            };
            if !gaps_on_stdout {
                for line in outcome.summary.gap_lines() {
                    tracing::error!("{line}");
                }
            }
            Ok(outcome)
        },
    )
}

/// The segment of a partition a driver could not have read: every file a gap.
fn failed_partition(path: &Path) -> Result<Sourced> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let p: Partition = serde_json::from_str(text.trim())
        .with_context(|| format!("{}: not a partition line of `cutoff plan`", path.display()))?;
    let reason = p.failed.as_deref().unwrap_or("no reason given");
    let problem = format!("partition {} could not be read: {reason}", p.id);
    let files = p
        .files
        .iter()
        .map(|f| (f.cache_path.display().to_string(), f.kind, f.start))
        .collect();
    Ok(Sourced {
        source: path.display().to_string(),
        segment: partial::unread_segment(&p.collector, files, &problem),
    })
}

/// Partitions to read again: one JSON line each on stdout (for a driver), and the commands
/// on stderr (for a person).
fn reread_error(rereads: Vec<partial::Reread>) -> anyhow::Error {
    let mut lines = Vec::new();
    for r in &rereads {
        let prefixes: Vec<String> = r.known_prefixes.iter().map(ToString::to_string).collect();
        println!(
            "{}",
            serde_json::json!({
                "kind": "reread",
                "partial": r.source,
                "collector": r.collector,
                "known_prefixes": prefixes,
            })
        );
        let flags: String = prefixes
            .iter()
            .map(|p| format!(" --known-prefix {p}"))
            .collect();
        lines.push(format!(
            "  {} ({}): read its files again with --partial{flags}",
            r.source, r.collector
        ));
    }
    anyhow::anyhow!("{}\n{}", MergeError::Reread(rereads), lines.join("\n"))
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Start of the scan: each collector's RIB at or before it is in its first partition.
    #[arg(long, value_parser = parse_time)]
    pub from: Timestamp,
    /// End of the scan: update files up to it.
    #[arg(long, value_parser = parse_time)]
    pub to: Timestamp,
    /// An archive collector (repeatable) [default: route-views2 and rrc00].
    #[arg(long = "collector", value_name = "NAME")]
    pub collectors: Vec<String>,
    /// Every collector the catalog has active in the range (`cutoff collectors`).
    #[arg(long, conflicts_with = "collectors")]
    pub all_collectors: bool,
    /// Update files per partition, by time: cuts fall at multiples of this since the epoch.
    #[arg(long, default_value = "2h", value_parser = parse_duration_flag)]
    pub every: i64,
    #[command(flatten)]
    pub archive: crate::cmd::fetch::ArchiveArgs,
}

/// `cutoff plan`: the scan's archive files, found in the listings, as partitions (one JSON
/// line each) for `scan --partition … --partial`.
pub fn run_plan(args: PlanArgs) -> Result<ExitStatus> {
    if args.from > args.to {
        bail!(cutoff_core::error::UsageError::Invalid(
            "--from is after --to".into()
        ));
    }
    if args.every <= 0 {
        bail!(cutoff_core::error::UsageError::Invalid(
            "--every must be longer than 0s".into()
        ));
    }
    let names: Vec<String> = if args.all_collectors {
        active_collectors(args.from, args.to)
    } else {
        args.collectors.clone()
    };
    let collectors = cutoff_archive::source::collectors(&names, args.from, args.to)?;
    let options = args.archive.options()?;
    let cache_root = options.cache_root()?;
    let archive_plan = options.open()?.plan(&collectors, args.from, args.to);
    let partitions = cutoff_archive::partition::partitions(&archive_plan, args.every, &cache_root);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for p in &partitions {
        // Serialising plain data to a string cannot fail.
        writeln!(out, "{}", serde_json::to_string(p).unwrap_or_default())?;
    }
    let gaps = archive_plan.gaps().count();
    tracing::info!(
        "{} partition(s) of {} collector(s), {} file(s), {gaps} gap(s)",
        partitions.len(),
        archive_plan.collectors.len(),
        archive_plan.files().count()
    );
    Ok(if gaps > 0 {
        ExitStatus::IncompleteInput
    } else {
        ExitStatus::Success
    })
}

/// Collectors of the catalog with data in the range's years.
fn active_collectors(from: Timestamp, to: Timestamp) -> Vec<String> {
    let (first, last) = (
        cutoff_core::pipeline::plan::year_of(from),
        cutoff_core::pipeline::plan::year_of(to),
    );
    cutoff_archive::layout::CATALOG
        .iter()
        .filter(|c| c.first_year <= last && c.last_year.is_none_or(|l| l >= first))
        .map(|c| c.name.to_string())
        .collect()
}
