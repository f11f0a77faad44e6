//! `cutoff names fetch|show`, and which AS names a report uses: `--as-names FILE` when given,
//! else the list `names fetch` cached, else none.

use anyhow::Result;
use cutoff_archive::options::ArchiveOptions;
use cutoff_core::asnames::{self, AsNames, DEFAULT_LIST_URL};
use cutoff_core::error::{ExitStatus, UsageError};
use cutoff_core::units::{parse_asn_flag, parse_size, parse_wait};
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
    /// Connect timeout and the longest silence of the server mid-download [default: 60s].
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Tries after the first (errors, stalls, cut downloads, HTTP 5xx/429; not 404) [default: 5].
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// First wait before a retry; doubled each time, with jitter [default: 2s].
    #[arg(long, value_name = "DURATION")]
    pub retry_delay: Option<String>,
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

/// The cache folder, shared with the archive downloads.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CacheArg {
    /// Cache folder; the list is kept in its names/ folder [default: $CACHE_DIRECTORY, else
    /// $XDG_CACHE_HOME/cutoff, else ~/.cache/cutoff].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

impl CacheArg {
    /// The cache folder, or `None` when neither the flag nor the environment gives one.
    pub fn root(&self) -> Option<PathBuf> {
        ArchiveOptions {
            cache_dir: self.cache_dir.clone(),
            ..ArchiveOptions::default()
        }
        .cache_root()
        .ok()
    }
}

pub fn run(args: NamesArgs) -> Result<ExitStatus> {
    match args.command {
        NamesCommand::Fetch(a) => fetch(a),
        NamesCommand::Show(a) => show(a),
    }
}

fn fetch(args: FetchNamesArgs) -> Result<ExitStatus> {
    let wait = |flag: &str, v: &Option<String>| {
        v.as_deref()
            .map(parse_wait)
            .transpose()
            .map_err(|e| UsageError::Invalid(format!("{flag} {e}")))
    };
    let options = ArchiveOptions {
        cache_dir: args.cache.cache_dir.clone(),
        timeout: wait("--timeout", &args.timeout)?,
        retries: args.retries,
        retry_delay: wait("--retry-delay", &args.retry_delay)?,
        max_file_size: args.max_file_size,
        ..ArchiveOptions::default()
    };
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
