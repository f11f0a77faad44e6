//! `cutoff correlate`: the flags, and the run over scan events and telemetry.

use anyhow::Result;
use cutoff_core::error::{ExitStatus, UsageError};
use cutoff_core::units::{check_count, parse_asn_flag, parse_duration_flag, parse_size};
use cutoff_correlate::output::{self, CorrelateFormat};
use cutoff_correlate::telemetry::{
    self, LoadOptions, MAX_MAX_LINE_BYTES, OriginMap, TelemetryFormat, Zone,
};
use cutoff_correlate::{
    DEFAULT_MAX_LISTED_EVENTS, DEFAULT_SEED, Prepared, TelemetryOptions, read_events,
};
use std::io::IsTerminal;
use std::path::PathBuf;

fn usage(msg: String) -> anyhow::Error {
    UsageError::Invalid(msg).into()
}

/// Where the telemetry comes from and how to read it; shared by `correlate` and (flattened)
/// `scan --telemetry`. No option here may clash with scan's own.
#[derive(Debug, Clone, clap::Args)]
pub struct TelemetryArgs {
    /// Spam telemetry: CSV `ts,count[,series]`, JSON Lines of messages, or a Postfix/Exim log
    /// (raw, gz or bz2).
    #[arg(long, value_name = "FILE")]
    pub telemetry: Option<PathBuf>,
    /// Format of the telemetry (and control) file.
    #[arg(long, value_enum, default_value_t = TelemetryFormat::Auto)]
    pub telemetry_format: TelemetryFormat,
    /// The series to use when the file holds several (`cutoff correlate --list-series` shows
    /// them).
    #[arg(long, value_name = "NAME")]
    pub series: Option<String>,
    /// A control series that the routing event should not move (such as ham volume).
    #[arg(long, value_name = "FILE")]
    pub control: Option<PathBuf>,
    /// The control's series name, in the control file or else in the telemetry file.
    #[arg(long, value_name = "NAME")]
    pub control_series: Option<String>,
    /// Bin width (`1h`, `15m`, `1d`); inferred from a CSV, 1h for messages.
    #[arg(long, value_parser = parse_duration_flag)]
    pub bin: Option<i64>,
    /// Zone of times written without one, and of mail logs (required for them): UTC, -08:00,
    /// America/Los_Angeles.
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<Zone>,
    /// Year of the first line of a syslog-format mail log (syslog has no year).
    #[arg(long)]
    pub year: Option<i32>,
    /// Attribute each message's source IP to the origin AS of its longest matching prefix in
    /// this RIB: adds the series KIND@AS<n> and KIND@unrouted.
    #[arg(long, value_name = "RIB")]
    pub attribute_with: Option<PathBuf>,
    /// Days after the event compared with the baseline (whole days, at most 90d).
    #[arg(long, default_value = "7d", value_parser = parse_duration_flag)]
    pub window: i64,
    /// Previous weeks whose median, bin by bin of the week, is the baseline (1 to 52).
    #[arg(long, default_value_t = 2)]
    pub baseline_weeks: u32,
    /// Seed of the bootstraps (same input and seed, same numbers).
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Bootstrap resamples (100 to 100000).
    #[arg(long, default_value_t = 2000)]
    pub bootstrap: usize,
    /// Most other events listed as confounders of each event (the nearest in time); the rest
    /// are counted.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_LISTED_EVENTS)]
    pub max_listed_events: usize,
    /// The longest line of a telemetry, control or events file (up to 1GiB): a longer one
    /// is an error naming the file and line, so a binary file or /dev/zero cannot fill memory.
    #[arg(long, value_name = "SIZE", default_value = "1MiB", value_parser = parse_line_cap)]
    pub max_line_bytes: u64,
}

/// A `--max-line-bytes` size, within its limits.
fn parse_line_cap(s: &str) -> Result<u64, String> {
    check_count(parse_size(s)?, 1, MAX_MAX_LINE_BYTES, "bytes")
}

/// `cutoff correlate`.
#[derive(Debug, clap::Args)]
pub struct CorrelateArgs {
    /// Events: the JSON Lines (or JSON) that `cutoff scan` prints.
    #[arg(long, value_name = "EVENTS")]
    pub events: Option<PathBuf>,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
    /// Only events of this AS (repeatable).
    #[arg(long = "asn", value_parser = parse_asn_flag)]
    pub asns: Vec<u32>,
    /// Output format (default: table on a terminal, jsonl otherwise).
    #[arg(long, value_enum)]
    pub format: Option<CorrelateFormat>,
    /// List the series in the telemetry (and control) file and exit.
    #[arg(long)]
    pub list_series: bool,
}

impl TelemetryArgs {
    pub fn options(&self) -> TelemetryOptions {
        TelemetryOptions {
            telemetry: self.telemetry.clone(),
            telemetry_format: self.telemetry_format,
            series: self.series.clone(),
            control: self.control.clone(),
            control_series: self.control_series.clone(),
            bin: self.bin,
            tz: self.tz,
            year: self.year,
            attribute_with: self.attribute_with.clone(),
            window: self.window,
            baseline_weeks: self.baseline_weeks,
            seed: self.seed,
            bootstrap: self.bootstrap,
            max_listed_events: self.max_listed_events,
            max_line_bytes: self.max_line_bytes,
        }
    }
}

pub fn run_cli(args: CorrelateArgs) -> Result<ExitStatus> {
    if args.telemetry.telemetry.is_none() {
        return Err(usage(
            "--telemetry FILE is required (CSV ts,count[,series], JSON Lines of messages, or a mail log)".into(),
        ));
    }
    if args.events.is_none() && !args.list_series {
        return Err(usage(
            "--events FILE is required: the JSON Lines of `cutoff scan --format jsonl`".into(),
        ));
    }
    let events = match &args.events {
        Some(p) if !args.list_series => Some(read_events(p, args.telemetry.max_line_bytes)?),
        _ => None,
    };
    let prepared = match Prepared::load(&args.telemetry.options()) {
        Ok(Some(p)) => p,
        Ok(None) => return Err(usage("--telemetry FILE is required".into())),
        // `--list-series` should work even when the default series choice fails.
        Err(e) if args.list_series => return list_only(&args, e),
        Err(e) => return Err(e),
    };
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        CorrelateFormat::Table
    } else {
        CorrelateFormat::Jsonl
    });
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.list_series {
        return finish(
            output::write_listing(&mut out, format, prepared.listing()),
            ExitStatus::Success,
        );
    }
    let events = events.unwrap_or_default();
    let report = prepared.report(
        &events,
        &args.asns,
        args.events.as_ref().map(|p| p.display().to_string()),
    );
    if report.results.is_empty() {
        tracing::warn!(
            "no disconnected, restored or upstream_lost events{} in the events file",
            if args.asns.is_empty() {
                ""
            } else {
                " of the chosen ASes"
            }
        );
    }
    let status = if report.incomplete() {
        ExitStatus::IncompleteInput
    } else {
        ExitStatus::Success
    };
    finish(output::write(&mut out, format, &report), status)
}

/// The status, once everything is written (a closed stdout is `main`'s to judge).
fn finish(written: std::io::Result<()>, status: ExitStatus) -> Result<ExitStatus> {
    written.map_err(|e| anyhow::Error::new(e).context("writing to stdout"))?;
    Ok(status)
}

/// `--list-series` when no series could be chosen yet: list what the files hold.
fn list_only(args: &CorrelateArgs, original: anyhow::Error) -> Result<ExitStatus> {
    let t = &args.telemetry;
    let origins = match &t.attribute_with {
        Some(rib) => Some(OriginMap::from_rib(rib)?),
        None => None,
    };
    let opts = LoadOptions {
        format: t.telemetry_format,
        bin_secs: t.bin,
        tz: t.tz,
        year: t.year,
        origins: origins.as_ref(),
        max_line_bytes: t.max_line_bytes,
    };
    let mut listing = Vec::new();
    for p in t.telemetry.iter().chain(t.control.iter()) {
        let tel = telemetry::load(p, &opts).map_err(|_| anyhow::anyhow!("{original:#}"))?;
        listing.push((tel.file.clone(), tel.info()));
    }
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        CorrelateFormat::Table
    } else {
        CorrelateFormat::Jsonl
    });
    finish(
        output::write_listing(&mut std::io::stdout().lock(), format, &listing),
        ExitStatus::Success,
    )
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    /// `scan` can flatten [`TelemetryArgs`] without clashing options.
    #[derive(Parser)]
    struct ScanWithTelemetry {
        /// `scan` carries the telemetry arguments itself (`scan … --telemetry FILE`).
        #[command(flatten)]
        scan: crate::cmd::scan::ScanArgs,
    }

    #[test]
    fn telemetry_args_fit_into_scan() {
        ScanWithTelemetry::command().debug_assert();
        let parsed = ScanWithTelemetry::try_parse_from([
            "scan",
            "--asn",
            "26780",
            "dir",
            "--telemetry",
            "spam.csv",
            "--window",
            "3d",
        ])
        .expect("parses");
        assert_eq!(parsed.scan.out.telemetry.window, 3 * 86_400);
        assert_eq!(
            parsed.scan.out.telemetry.telemetry.as_deref(),
            Some(std::path::Path::new("spam.csv"))
        );
        assert_eq!(parsed.scan.read.asns, vec![26780]);
    }

    /// The telemetry flags' defaults are the library's.
    #[test]
    fn telemetry_flag_defaults_are_the_library_defaults() {
        #[derive(Parser)]
        struct Correlate {
            #[command(flatten)]
            args: super::CorrelateArgs,
        }
        let parsed = Correlate::try_parse_from(["correlate"]).expect("parses");
        let flags = parsed.args.telemetry.options();
        let library = cutoff_correlate::TelemetryOptions::default();
        assert_eq!(
            (
                flags.window,
                flags.baseline_weeks,
                flags.seed,
                flags.bootstrap,
                flags.max_listed_events,
                flags.max_line_bytes,
            ),
            (
                library.window,
                library.baseline_weeks,
                library.seed,
                library.bootstrap,
                library.max_listed_events,
                library.max_line_bytes,
            )
        );
        assert_eq!(flags.telemetry_format, library.telemetry_format);
    }
}
