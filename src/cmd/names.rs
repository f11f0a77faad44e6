//! `cutoff names fetch|show`, and which AS names a report uses: `--as-names FILE` when given,
//! else the list `names fetch` cached, else none.

use super::fetch::{CacheArg, RetryArgs};
use anyhow::Result;
use cutoff_archive::options::ArchiveOptions;
use cutoff_core::asnames::{self, AsNames, DEFAULT_LIST_URL};
use cutoff_core::error::{ExitStatus, UsageError};
use cutoff_core::units::{parse_asn_flag, parse_size};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct NamesArgs {
    #[command(subcommand)]
    pub command: NamesCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum NamesCommand {
    /// Download the public AS-name list (RIPE's asn.txt) into the cache.
    ///
    /// The list is checked before it replaces the one cached before: an HTML page, an empty or
    /// cut answer, text that is mostly not `ASN NAME` lines, or a list with less than half the
    /// names of the cached one (without --force) is an error naming the URL, and the earlier
    /// list stays. Lines that are not names are counted and skipped. Stored with
    /// its URL, fetch time and the server's Last-Modified in CACHE/names/asn.json; `report`,
    /// `scan --report` and monitor alerts then use it unless --as-names FILE is given.
    Fetch(FetchNamesArgs),
    /// Print the cached list's source and date, and the names of the ASes given.
    Show(ShowNamesArgs),
}

#[derive(Debug, clap::Args)]
pub struct FetchNamesArgs {
    /// Where to download the list from (asn.txt format: `26780 MCCOLO - McColo Corporation, US`).
    #[arg(long, value_name = "URL", default_value = DEFAULT_LIST_URL)]
    pub url: String,
    #[command(flatten)]
    pub cache: CacheArg,
    #[command(flatten)]
    pub retry: RetryArgs,
    /// Largest list accepted; a larger answer is refused [default: 64MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_file_size: Option<u64>,
    /// Replace the cached list even when the new one has less than half its names (refused
    /// otherwise, as a cut or wrong answer).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, clap::Args)]
pub struct ShowNamesArgs {
    /// AS numbers to name (`26780` or `AS26780`).
    #[arg(value_name = "ASN", value_parser = parse_asn_flag)]
    pub asns: Vec<u32>,
    #[command(flatten)]
    pub cache: CacheArg,
}

pub fn run(args: NamesArgs) -> Result<ExitStatus> {
    match args.command {
        NamesCommand::Fetch(a) => fetch(a),
        NamesCommand::Show(a) => show(a),
    }
}

fn fetch(args: FetchNamesArgs) -> Result<ExitStatus> {
    let options = args.retry.apply(ArchiveOptions {
        cache_dir: args.cache.cache_dir.clone(),
        max_file_size: args.max_file_size,
        ..ArchiveOptions::default()
    })?;
    let stored = cutoff_archive::names::fetch_list(&options, &args.url, args.force)?;
    if stored.bad.count > 0 {
        tracing::warn!("{}: {}", args.url, stored.bad.summary());
    }
    let r = &stored.list.record;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "stored {} AS names ({} bytes{}) from {}",
        r.names,
        r.bytes,
        if r.bad_lines > 0 {
            format!(", {} line(s) skipped", r.bad_lines)
        } else {
            String::new()
        },
        r.url
    )?;
    writeln!(
        out,
        "fetched {}{}",
        r.fetched,
        r.last_modified
            .as_ref()
            .map(|m| format!(", Last-Modified {m}"))
            .unwrap_or_default()
    )?;
    writeln!(out, "list    {}", stored.list.path.display())?;
    Ok(ExitStatus::Success)
}

fn show(args: ShowNamesArgs) -> Result<ExitStatus> {
    let root = args.cache.root().ok_or_else(|| {
        UsageError::Invalid("no cache folder: set --cache-dir, XDG_CACHE_HOME or HOME".into())
    })?;
    let Some(list) = asnames::load_cached(&root).map_err(anyhow::Error::msg)? else {
        return Err(anyhow::anyhow!(
            "no AS-name list in {} (cutoff names fetch downloads one)",
            asnames::cache_folder(&root).display()
        ));
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "# {} names: {}; {}",
        list.names.len(),
        list.record.describe(),
        list.path.display()
    )?;
    for a in args.asns {
        writeln!(
            out,
            "AS{a}\t{}",
            list.names.name(a).unwrap_or("(not in the list)")
        )?;
    }
    Ok(ExitStatus::Success)
}

/// The names a report uses, and the file they came from (for its provenance): `--as-names
/// FILE` wins (an error in it stops the run); else the list cached in `cache` (a broken
/// cached list is a warning: the report goes on with numbers); else none.
pub fn for_report(
    explicit: Option<&Path>,
    cache: Option<PathBuf>,
) -> Result<(AsNames, Option<PathBuf>)> {
    if let Some(p) = explicit {
        return Ok((cutoff_report::load_names(Some(p))?, Some(p.to_path_buf())));
    }
    let Some(root) = cache else {
        return Ok((AsNames::default(), None));
    };
    match asnames::load_cached(&root) {
        Ok(Some(list)) => {
            tracing::debug!("AS names: {}", list.record.describe());
            Ok((list.names, Some(list.path)))
        }
        Ok(None) => Ok((AsNames::default(), None)),
        Err(e) => {
            tracing::warn!(
                "{e}; the report shows AS numbers without names (cutoff names fetch gets the list again)"
            );
            Ok((AsNames::default(), None))
        }
    }
}
