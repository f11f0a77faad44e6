//! `cutoff fetch` and `cutoff collectors`, and the archive flags `scan` shares.

use anyhow::Result;
use clap::ValueEnum;
use cutoff_archive::fetch::Got;
use cutoff_archive::layout::{self, CATALOG, DEFAULT_COLLECTORS};
use cutoff_archive::options::ArchiveOptions;
use cutoff_archive::source::collectors;
use cutoff_core::error::{ExitStatus, UsageError};
use cutoff_core::model::Timestamp;
use cutoff_core::units::{parse_size, parse_time, parse_wait};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// Where archives come from and how politely they are fetched (`scan` without PATH, `fetch`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ArchiveArgs {
    /// RouteViews archive root, for a mirror or a test server [default: http://archive.routeviews.org].
    #[arg(long, value_name = "URL")]
    pub routeviews_url: Option<String>,
    /// RIPE RIS archive root [default: https://data.ris.ripe.net].
    #[arg(long, value_name = "URL")]
    pub ris_url: Option<String>,
    #[command(flatten)]
    pub cache: CacheArg,
    /// Use only the cache: a file that is not there is a gap.
    #[arg(long)]
    pub offline: bool,
    /// Downloads at once per archive host [default: 2].
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub retry: RetryArgs,
    /// Longest wait before a retry, and the most of a server's Retry-After that is honoured
    /// (a longer one is capped, with a warning) [default: 60s].
    #[arg(long, value_name = "DURATION")]
    pub max_retry_wait: Option<String>,
    /// Largest archive listing page read; a larger one is a failed listing (a gap), not
    /// buffered [default: 16MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_listing_size: Option<u64>,
    /// Largest file downloaded; a larger one (announced or received) is a gap and its partial
    /// download is removed [default: 4GiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_file_size: Option<u64>,
    /// Slowest average download rate accepted, per second: a download must end within
    /// --timeout plus its size at this rate, or it is retried [default: 16KiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub min_rate: Option<u64>,
}

/// The cache folder, shared by archive downloads and the AS-name list (`names fetch`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CacheArg {
    /// Cache of downloaded files, laid out like the archives; the AS-name list is in its
    /// names/ folder [default: $CACHE_DIRECTORY, else $XDG_CACHE_HOME/cutoff, else
    /// ~/.cache/cutoff].
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

/// How a download waits and retries (archives and the AS-name list).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RetryArgs {
    /// Connect timeout and the longest silence of a server mid-download, e.g. 60s, 500ms
    /// [default: 60s].
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Tries after the first for a failed download (errors, stalls, cut downloads, HTTP
    /// 5xx/429; not 404) [default: 5].
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// First wait before a retry; doubled each time, with jitter [default: 2s].
    #[arg(long, value_name = "DURATION")]
    pub retry_delay: Option<String>,
}

impl RetryArgs {
    /// `options` with these settings; a duration that does not parse names its flag.
    pub fn apply(&self, options: ArchiveOptions) -> Result<ArchiveOptions, UsageError> {
        Ok(ArchiveOptions {
            timeout: wait_flag("--timeout", &self.timeout)?,
            retries: self.retries,
            retry_delay: wait_flag("--retry-delay", &self.retry_delay)?,
            ..options
        })
    }
}

/// A duration flag's value; one that does not parse is a usage error naming the flag.
fn wait_flag(flag: &str, value: &Option<String>) -> Result<Option<Duration>, UsageError> {
    value
        .as_deref()
        .map(parse_wait)
        .transpose()
        .map_err(|e| UsageError::Invalid(format!("{flag} {e}")))
}

impl ArchiveArgs {
    /// The typed options; a duration that does not parse is a usage error naming its flag.
    pub fn options(&self) -> Result<ArchiveOptions, UsageError> {
        self.retry.apply(ArchiveOptions {
            routeviews_url: self.routeviews_url.clone(),
            ris_url: self.ris_url.clone(),
            cache_dir: self.cache.cache_dir.clone(),
            offline: self.offline,
            jobs: self.jobs,
            max_retry_wait: wait_flag("--max-retry-wait", &self.max_retry_wait)?,
            max_listing_size: self.max_listing_size,
            max_file_size: self.max_file_size,
            min_rate: self.min_rate,
            ..ArchiveOptions::default()
        })
    }
}

/// `cutoff fetch`: download a range into the cache for offline work.
#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// Start of the range (the RIB at or before it is fetched too).
    #[arg(long, value_parser = parse_time)]
    pub from: Timestamp,
    /// End of the range.
    #[arg(long, value_parser = parse_time)]
    pub to: Timestamp,
    /// Collector to fetch (repeatable; `cutoff collectors` lists them) [default: route-views2, rrc00].
    #[arg(long = "collector", value_name = "NAME")]
    pub collectors: Vec<String>,
    #[command(flatten)]
    pub archive: ArchiveArgs,
}

pub fn run_fetch(args: FetchArgs) -> Result<ExitStatus> {
    if args.from > args.to {
        return Err(UsageError::Invalid("--from is after --to".into()).into());
    }
    let collectors = collectors(&args.collectors, args.from, args.to)?;
    let source = args.archive.options()?.open()?;
    let plan = source.plan(&collectors, args.from, args.to);
    let outcomes = source.fetch_all(&plan);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let (mut got, mut bytes, mut cached, mut missing) = (0, 0, 0, 0);
    for o in &outcomes {
        match &o.result {
            Ok(Got::Downloaded(n)) => {
                got += 1;
                bytes += n;
                writeln!(
                    out,
                    "got      {}  {n} bytes  {}",
                    o.file.collector,
                    o.file.path.display()
                )?;
            }
            Ok(Got::Cached(_)) => {
                cached += 1;
                writeln!(
                    out,
                    "cached   {}  {}",
                    o.file.collector,
                    o.file.path.display()
                )?;
            }
            Err(e) => {
                missing += 1;
                writeln!(out, "missing  {}  {e}", o.file.collector)?;
            }
        }
    }
    writeln!(
        out,
        "{} file(s) for {} to {}: {got} downloaded ({bytes} bytes), {cached} already cached, {missing} missing; cache {}",
        outcomes.len(),
        args.from.rfc3339(),
        args.to.rfc3339(),
        source.layout.cache.display()
    )?;
    Ok(if missing > 0 {
        ExitStatus::IncompleteInput
    } else {
        ExitStatus::Success
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CatalogFormat {
    Table,
    Jsonl,
}

/// `cutoff collectors`: the catalog.
#[derive(Debug, clap::Args)]
pub struct CollectorsArgs {
    #[arg(long, value_enum, default_value_t = CatalogFormat::Table)]
    pub format: CatalogFormat,
}

pub fn run_collectors(args: CollectorsArgs) -> Result<ExitStatus> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.format == CatalogFormat::Table {
        writeln!(
            out,
            "{:<22} {:<10} {:<11} {:<8} LOCATION",
            "NAME", "ARCHIVE", "YEARS", "DEFAULT"
        )?;
    }
    for c in CATALOG {
        let years = format!(
            "{}–{}",
            c.first_year,
            c.last_year.map_or("".into(), |y| y.to_string())
        );
        let default = DEFAULT_COLLECTORS.contains(&c.name);
        let archive = match c.archive {
            layout::Archive::RouteViews => "routeviews",
            layout::Archive::Ris => "ris",
        };
        match args.format {
            CatalogFormat::Table => writeln!(
                out,
                "{:<22} {:<10} {:<11} {:<8} {}",
                c.name,
                archive,
                years,
                if default { "yes" } else { "" },
                c.location
            )?,
            CatalogFormat::Jsonl => {
                let v = serde_json::json!({
                    "name": c.name,
                    "archive": archive,
                    "location": c.location,
                    "first_year": c.first_year,
                    "last_year": c.last_year,
                    "default": default,
                    "root": c.archive.default_root(),
                });
                writeln!(out, "{v}")?;
            }
        }
    }
    Ok(ExitStatus::Success)
}
