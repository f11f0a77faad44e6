//! Where archives come from and how politely they are fetched: the typed options that
//! `cutoff scan`/`fetch` flags and the monitor's `[source]` table both turn into.

use crate::fetch::{self, FetchConfig, Fetcher};
use crate::layout::{self, Layout};
use crate::source::ArchiveSource;
use cutoff_core::error::UsageError;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Archive roots, cache and download behaviour; `None` is the default.
#[derive(Debug, Clone, Default)]
pub struct ArchiveOptions {
    /// RouteViews archive root [default: http://archive.routeviews.org].
    pub routeviews_url: Option<String>,
    /// RIPE RIS archive root [default: https://data.ris.ripe.net].
    pub ris_url: Option<String>,
    /// Cache of downloaded files [default: $CACHE_DIRECTORY, else $XDG_CACHE_HOME/cutoff,
    /// else ~/.cache/cutoff].
    pub cache_dir: Option<PathBuf>,
    /// Use only the cache: a file that is not there is a gap.
    pub offline: bool,
    /// Downloads at once per archive host [default: 2].
    pub jobs: Option<usize>,
    /// Connect timeout and the longest silence of a server mid-download [default: 60s].
    pub timeout: Option<Duration>,
    /// Tries after the first for a failed download [default: 5].
    pub retries: Option<u32>,
    /// First wait before a retry, doubled each time [default: 2s].
    pub retry_delay: Option<Duration>,
    /// Longest wait before a retry, and the most of a server's Retry-After honoured
    /// [default: 60s].
    pub max_retry_wait: Option<Duration>,
    /// Largest listing page read [default: 16MiB].
    pub max_listing_size: Option<u64>,
    /// Largest file downloaded [default: 4GiB].
    pub max_file_size: Option<u64>,
    /// Slowest average download rate accepted, bytes per second [default: 16KiB].
    pub min_rate: Option<u64>,
}

impl ArchiveOptions {
    /// The cache folder: `--cache-dir`, else the default ([`fetch::default_cache_dir`]).
    pub fn cache_root(&self) -> Result<PathBuf, UsageError> {
        match &self.cache_dir {
            Some(d) => Ok(d.clone()),
            None => fetch::default_cache_dir().ok_or_else(|| {
                UsageError::Invalid(
                    "no cache folder: set --cache-dir, XDG_CACHE_HOME or HOME".into(),
                )
            }),
        }
    }

    pub fn layout(&self) -> Result<Layout, UsageError> {
        let cache = self.cache_root()?;
        let root =
            |given: &Option<String>, archive: layout::Archive| -> Result<String, UsageError> {
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
            routeviews_root: root(&self.routeviews_url, layout::Archive::RouteViews)?,
            ris_root: root(&self.ris_url, layout::Archive::Ris)?,
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
        if let Some(t) = self.timeout {
            cfg.timeout = t;
        }
        if let Some(r) = self.retries {
            cfg.retries = r;
        }
        if let Some(d) = self.retry_delay {
            cfg.backoff = d;
        }
        if let Some(d) = self.max_retry_wait {
            cfg.max_retry_wait = d;
        }
        self.apply_sizes(&mut cfg)?;
        Ok(cfg)
    }

    /// The size and rate limits; none may be zero (nothing could be fetched).
    fn apply_sizes(&self, cfg: &mut FetchConfig) -> Result<(), UsageError> {
        let limits = [
            (
                "--max-listing-size",
                self.max_listing_size,
                &mut cfg.max_listing_size,
            ),
            (
                "--max-file-size",
                self.max_file_size,
                &mut cfg.max_file_size,
            ),
            ("--min-rate", self.min_rate, &mut cfg.min_rate),
        ];
        for (flag, given, field) in limits {
            match given {
                Some(0) => return Err(UsageError::Invalid(format!("{flag} must be above 0"))),
                Some(n) => *field = n,
                None => {}
            }
        }
        Ok(())
    }

    /// The layout, an HTTP client and a small runtime for it.
    pub fn open(&self) -> Result<ArchiveSource, UsageError> {
        self.open_with(self.fetch_config()?)
    }

    /// [`ArchiveOptions::open`] with a fetch configuration adjusted by the caller.
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
