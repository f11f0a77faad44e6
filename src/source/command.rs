//! The archive side of the command line: shared arguments (`ArchiveArgs`, also readable from a
//! config file), `cutoff fetch`, `cutoff collectors`, and what `scan` needs to read archives.

use super::archive::{self, ArchivePlan, CATALOG, Collector, DEFAULT_COLLECTORS, Layout};
use super::fetch::{self, FetchConfig, Fetcher, Got, Outcome, Readiness};
use crate::cli::parse_time;
use crate::error::{ExitStatus, UsageError};
use crate::model::Timestamp;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where archives come from and how politely they are fetched. The same fields serve a config
/// file (`routeviews_url = "…"`, `offline = true`, `timeout = "30s"`, …).
#[derive(Debug, Clone, Default, clap::Args, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveArgs {
    /// RouteViews archive root, for a mirror or a test server [default: http://archive.routeviews.org].
    #[arg(long, value_name = "URL")]
    pub routeviews_url: Option<String>,
    /// RIPE RIS archive root [default: https://data.ris.ripe.net].
    #[arg(long, value_name = "URL")]
    pub ris_url: Option<String>,
    /// Cache of downloaded files, laid out like the archives [default: $CACHE_DIRECTORY, else
    /// $XDG_CACHE_HOME/cutoff, else ~/.cache/cutoff].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Use only the cache: a file that is not there is a gap.
    #[arg(long)]
    pub offline: bool,
    /// Downloads at once per archive host [default: 2].
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Connect timeout and the longest silence of a server mid-download, e.g. 60s, 500ms
    /// [default: 60s].
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Tries after the first for a failed download (errors, stalls, HTTP 5xx/429; not 404)
    /// [default: 5].
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// First wait before a retry; doubled each time, with jitter [default: 2s].
    #[arg(long, value_name = "DURATION")]
    pub retry_delay: Option<String>,
}

/// `500ms`, or a duration of `cutoff scan` (`90s`, `1m`).
fn parse_wait(s: &str) -> Result<Duration, String> {
    if let Some(ms) = s.trim().strip_suffix("ms") {
        return ms
            .trim()
            .parse()
            .map(Duration::from_millis)
            .map_err(|_| format!("{s:?}: use a duration like 500ms, 30s or 2m"));
    }
    crate::scan::parse_duration(s).map(|secs| Duration::from_secs(secs.unsigned_abs()))
}

impl ArchiveArgs {
    pub fn layout(&self) -> Result<Layout, UsageError> {
        let cache = match &self.cache_dir {
            Some(d) => d.clone(),
            None => fetch::default_cache_dir().ok_or_else(|| {
                UsageError::Invalid(
                    "no cache folder: set --cache-dir, XDG_CACHE_HOME or HOME".into(),
                )
            })?,
        };
        let root =
            |given: &Option<String>, archive: archive::Archive| -> Result<String, UsageError> {
                let url = given
                    .clone()
                    .unwrap_or_else(|| archive.default_root().to_string());
                match reqwest::Url::parse(&url) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(url),
                    _ => Err(UsageError::Invalid(format!(
                        "{url:?} is not an http(s) URL"
                    ))),
                }
            };
        Ok(Layout {
            routeviews_root: root(&self.routeviews_url, archive::Archive::RouteViews)?,
            ris_root: root(&self.ris_url, archive::Archive::Ris)?,
            cache,
        })
    }

    pub fn fetch_config(&self) -> Result<FetchConfig, UsageError> {
        let mut cfg = FetchConfig {
            offline: self.offline,
            ..FetchConfig::default()
        };
        if let Some(j) = self.jobs {
            if j == 0 {
                return Err(UsageError::Invalid("--jobs must be at least 1".into()));
            }
            cfg.jobs_per_host = j;
        }
        if let Some(t) = &self.timeout {
            cfg.timeout =
                parse_wait(t).map_err(|e| UsageError::Invalid(format!("--timeout {e}")))?;
        }
        if let Some(r) = self.retries {
            cfg.retries = r;
        }
        if let Some(d) = &self.retry_delay {
            cfg.backoff =
                parse_wait(d).map_err(|e| UsageError::Invalid(format!("--retry-delay {e}")))?;
        }
        Ok(cfg)
    }

    /// The layout, an HTTP client and a small runtime for it.
    pub fn open(&self) -> Result<ArchiveSource, UsageError> {
        self.open_with(self.fetch_config()?)
    }

    /// [`ArchiveArgs::open`] with a fetch configuration adjusted by the caller.
    pub fn open_with(&self, cfg: FetchConfig) -> Result<ArchiveSource, UsageError> {
        let layout = self.layout()?;
        let fetcher = Fetcher::new(cfg).map_err(UsageError::Invalid)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| UsageError::Invalid(format!("cannot start the downloader: {e}")))?;
        Ok(ArchiveSource {
            layout,
            fetcher: Arc::new(fetcher),
            rt,
        })
    }
}

/// Collector names from the command line (default set when none), checked against the catalog.
pub fn collectors(
    names: &[String],
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Collector>, UsageError> {
    let names: Vec<String> = if names.is_empty() {
        DEFAULT_COLLECTORS.iter().map(|s| s.to_string()).collect()
    } else {
        names.to_vec()
    };
    let mut out: Vec<Collector> = Vec::new();
    for n in &names {
        let c = Collector::named(n).map_err(UsageError::Invalid)?;
        warn_if_inactive(&c, from, to);
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

fn warn_if_inactive(c: &Collector, from: Timestamp, to: Timestamp) {
    let year = |t: Timestamp| {
        t.to_datetime()
            .format("%Y")
            .to_string()
            .parse::<i32>()
            .unwrap_or(0)
    };
    match c.info() {
        None => tracing::warn!("{}: not in the catalog; trying the archive anyway", c.name),
        Some(i) if year(to) < i.first_year || i.last_year.is_some_and(|l| year(from) > l) => {
            tracing::warn!(
                "{}: the catalog has it active {}–{}; its files for this range are likely missing",
                c.name,
                i.first_year,
                i.last_year.map_or("now".to_string(), |l| l.to_string())
            )
        }
        Some(_) => {}
    }
}

/// Archive access for one run: planning (listings) and downloads.
pub struct ArchiveSource {
    pub layout: Layout,
    fetcher: Arc<Fetcher>,
    rt: tokio::runtime::Runtime,
}

/// Downloads going on in the background of a scan.
pub struct Downloads {
    handle: std::thread::JoinHandle<Vec<Outcome>>,
}

impl Downloads {
    pub fn join(self) -> Vec<Outcome> {
        self.handle.join().unwrap_or_default()
    }
}

impl ArchiveSource {
    pub fn plan(&self, collectors: &[Collector], from: Timestamp, to: Timestamp) -> ArchivePlan {
        let plan = self
            .rt
            .block_on(self.fetcher.plan(collectors, from, to, &self.layout));
        for c in &plan.collectors {
            let downloads = c.files.iter().filter(|f| f.missing.is_none()).count();
            let gaps = c.files.len() - downloads;
            tracing::info!(
                "{}: {} file(s) for {} to {}{}{}",
                c.collector,
                downloads,
                from.rfc3339(),
                to.rfc3339(),
                if c.without_rib {
                    ", no RIB at or before the start"
                } else {
                    ""
                },
                if gaps > 0 {
                    format!(", {gaps} gap(s)")
                } else {
                    String::new()
                }
            );
        }
        plan
    }

    /// Download the plan on a thread of its own; readers wait on the returned readiness.
    pub fn start(self, plan: &ArchivePlan) -> (Readiness, Downloads) {
        let ready = Readiness::for_plan(plan);
        let plan = plan.clone();
        let r = ready.clone();
        let handle = std::thread::spawn(move || {
            // Even if this thread panics, no reader may wait for a file forever.
            let _guard = FailPendingOnDrop(r.clone());
            let bar = fetch::progress_bar(plan.downloads().len() as u64, "fetch");
            let out = self
                .rt
                .block_on(fetch::fetch_plan(&self.fetcher, &plan, &r, &bar));
            bar.finish_and_clear();
            out
        });
        (ready, Downloads { handle })
    }

    /// Download the plan and wait.
    pub fn fetch_all(&self, plan: &ArchivePlan) -> Vec<Outcome> {
        let ready = Readiness::for_plan(plan);
        let bar = fetch::progress_bar(plan.downloads().len() as u64, "fetch");
        let out = self
            .rt
            .block_on(fetch::fetch_plan(&self.fetcher, plan, &ready, &bar));
        bar.finish_and_clear();
        out
    }
}

struct FailPendingOnDrop(Readiness);

impl Drop for FailPendingOnDrop {
    fn drop(&mut self) {
        self.0
            .fail_pending("internal error: the downloader stopped");
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

pub fn run_fetch(args: FetchArgs) -> anyhow::Result<ExitStatus> {
    if args.from > args.to {
        return Err(UsageError::Invalid("--from is after --to".into()).into());
    }
    let collectors = collectors(&args.collectors, args.from, args.to)?;
    let source = args.archive.open()?;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
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

pub fn run_collectors(args: CollectorsArgs) -> anyhow::Result<ExitStatus> {
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
            archive::Archive::RouteViews => "routeviews",
            archive::Archive::Ris => "ris",
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
