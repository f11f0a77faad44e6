//! `cutoff dump`: the routing messages behind a claim, as bgpdump `-m` lines or JSON Lines.

use crate::cmd::problems::report_file_problems;
use clap::ValueEnum;
use cutoff_core::dump::{DumpFilter, bgpdump_line, json_line};
use cutoff_core::error::{ExitStatus, UsageError};
use cutoff_core::files::{self, CollectorOverride, FileKind, parse_collector_override};
use cutoff_core::model::{Prefix, Timestamp};
use cutoff_core::parse;
use cutoff_core::units::{parse_asn_flag, parse_time};
use std::io::Write;
use std::net::IpAddr;

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
    #[arg(long = "asn", value_parser = parse_asn_flag)]
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

pub fn run(args: DumpArgs) -> anyhow::Result<ExitStatus> {
    if let (Some(f), Some(t)) = (args.from, args.to)
        && f > t
    {
        return Err(UsageError::Invalid("--from is after --to".into()).into());
    }
    let groups = files::discover(&args.paths, &args.collectors)?;
    let mut filter = DumpFilter::new(args.prefixes, args.asns, args.peers, args.from, args.to);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut status = ExitStatus::Success;
    let mut write_error = None;
    for group in groups {
        for file in group.files {
            let name = file.path.display().to_string();
            let mut sink = |item: parse::Item| {
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
            // Update files are read whole, so a torn record can be skipped (see parse), unless
            // they expand beyond what memory should hold: then streamed like a RIB.
            let whole = if file.kind == FileKind::Updates {
                use parse::decode::{DEFAULT_MAX_DECODED, read_all_within};
                read_all_within(&file.path, DEFAULT_MAX_DECODED)
            } else {
                parse::decode::Whole::TooLarge
            };
            let stats = match whole {
                parse::decode::Whole::Bytes(bytes, err) => {
                    let source = parse::Source::Memory {
                        data: bytes.into(),
                        at: 0,
                    };
                    let mut stats = parse::read_records(source, &mut parse::Sink(&mut sink));
                    if let Some(e) = err {
                        stats.problem.get_or_insert_with(|| parse::read_error(&e));
                    }
                    stats
                }
                parse::decode::Whole::TooLarge => parse::read_file(&file.path, &mut sink),
            };
            if let Some(e) = write_error.take() {
                return Err(anyhow::Error::new(e).context("writing to stdout"));
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
