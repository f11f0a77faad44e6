//! Downloads into the cache (docs/METHOD.md §5): async at this edge only, bounded per host, retried
//! with backoff and jitter, resumed from `.partial` files, checked (size, end of the
//! compressed stream) and renamed into place. Readers wait on [`Readiness`] for each file, so
//! parsing starts on the first files while later ones download.

use crate::layout::{
    self, ArchiveFile, ArchivePlan, Collector, Layout, ListingEntry, ListingKey, Listings, Planned,
};
use cutoff_core::model::Timestamp;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// How politely and how stubbornly to download.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Downloads at once per host.
    pub jobs_per_host: usize,
    /// Connect timeout, and the longest wait for response headers or for the next bytes.
    pub timeout: Duration,
    /// Tries after the first one, for connection errors, stalls, 5xx and 429.
    pub retries: u32,
    /// First backoff; doubled each retry, with jitter, capped at a minute.
    pub backoff: Duration,
    /// Use only the cache.
    pub offline: bool,
    /// A cached listing of the current month is fetched again when older than this.
    pub listing_max_age: Duration,
    /// Fetch every listing again, even of past months (`monitor` watches for files that
    /// arrive late; a failed fetch still falls back to the cached copy).
    pub relist: bool,
    pub user_agent: String,
    /// A listing larger than this is refused, not buffered (an endless page).
    pub max_listing_size: u64,
    /// A file larger than this (announced or received) is refused and its partial removed.
    pub max_file_size: u64,
    /// Slowest average download rate accepted, in bytes per second: each download must end
    /// within `timeout` plus its size (or what arrived so far) at this rate, so a drip that
    /// keeps restarting the stall timer still ends.
    pub min_rate: u64,
    /// Longest wait before a retry: the backoff's cap, and the most of a server's
    /// `Retry-After` that is honoured.
    pub max_retry_wait: Duration,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            jobs_per_host: 2,
            timeout: Duration::from_secs(60),
            retries: 5,
            backoff: Duration::from_secs(2),
            offline: false,
            listing_max_age: Duration::from_secs(600),
            relist: false,
            user_agent: user_agent(),
            max_listing_size: DEFAULT_MAX_LISTING_SIZE,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            min_rate: DEFAULT_MIN_RATE,
            max_retry_wait: DEFAULT_MAX_RETRY_WAIT,
        }
    }
}

/// Real listings are well under 1 MiB (a month of RouteViews updates is about 3000 lines).
pub const DEFAULT_MAX_LISTING_SIZE: u64 = 16 << 20;
/// Larger than any RIB the archives publish (a full RIS bview is a few hundred MiB).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 4 << 30;
/// 16 KiB/s: a 100 MiB RIB may take almost two hours, a 4-byte-per-second drip fails.
pub const DEFAULT_MIN_RATE: u64 = 16 << 10;
pub const DEFAULT_MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// `cutoff/0.1.0 (+REPOSITORY)`, so archive operators know who is asking; the repository comes
/// from Cargo.toml's `repository` and is left out while that is unset.
pub fn user_agent() -> String {
    let version = env!("CARGO_PKG_VERSION");
    match option_env!("CARGO_PKG_REPOSITORY").filter(|r| !r.is_empty()) {
        Some(repo) => format!("cutoff/{version} (+{repo})"),
        None => format!("cutoff/{version}"),
    }
}

/// How a file came to be in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Got {
    Downloaded(u64),
    Cached(u64),
}

/// Why one attempt failed: try again, or give up now (404 is a gap, not a hiccup).
enum Failure {
    Retry(String),
    Final(String),
}

pub struct Fetcher {
    client: reqwest::Client,
    cfg: FetchConfig,
    hosts: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
    /// (host, what) already said once at the default level: a slow answer, a first retry.
    said: Mutex<std::collections::HashSet<(String, &'static str)>>,
    /// The status line while listings are fetched (hidden off a terminal or with `-q`).
    status: Mutex<indicatif::ProgressBar>,
}

/// How long a request may go unanswered before the wait is said (the timeout itself is
/// 60 s by default, and a dead network retries for minutes).
const SLOW_NOTICE: Duration = Duration::from_secs(5);

impl Fetcher {
    pub fn new(cfg: FetchConfig) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .user_agent(cfg.user_agent.clone())
            .connect_timeout(cfg.timeout)
            .build()
            .map_err(|e| format!("cannot set up HTTP: {e}"))?;
        Ok(Fetcher {
            client,
            cfg,
            hosts: Mutex::new(HashMap::new()),
            said: Mutex::new(std::collections::HashSet::new()),
            status: Mutex::new(indicatif::ProgressBar::hidden()),
        })
    }

    fn status(&self) -> indicatif::ProgressBar {
        // A poisoned lock only means another task panicked while swapping the bar.
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Say `msg` about `url` on the status line, and once per host and kind as a warning,
    /// so a run without a terminal is not silent while it waits (later ones at `-v`).
    fn say_waiting(&self, url: &str, what: &'static str, msg: &str) {
        self.status().set_message(msg.to_string());
        let host = host_key(url);
        let first = self
            .said
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((host, what));
        if first {
            self.status().suspend(|| tracing::warn!("{msg}"));
        } else {
            tracing::debug!("{msg}");
        }
    }

    /// Await a request's answer, saying so when it is slow to come.
    async fn noting_slow<F: std::future::Future>(&self, url: &str, fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        match tokio::time::timeout(SLOW_NOTICE, &mut fut).await {
            Ok(out) => out,
            Err(_) => {
                self.say_waiting(
                    url,
                    "slow",
                    &format!(
                        "{url}: no complete answer after {SLOW_NOTICE:?}; waiting up to {:?} (--timeout), then retrying",
                        self.cfg.timeout
                    ),
                );
                fut.await
            }
        }
    }

    /// Before try `n + 1` of `tries`: say why and how long until it.
    fn say_retry(&self, url: &str, last: &str, n: u32, tries: u32, wait: Duration) {
        self.say_waiting(
            url,
            "retry",
            &format!(
                "{url}: {last}; retrying in {:.1}s (try {} of {tries})",
                wait.as_secs_f64(),
                n + 1
            ),
        );
    }

    pub fn config(&self) -> &FetchConfig {
        &self.cfg
    }

    fn host_limit(&self, url: &str) -> Arc<tokio::sync::Semaphore> {
        let host = host_key(url);
        // A poisoned lock only means another task panicked while inserting; the map is fine.
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts
            .entry(host)
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(self.cfg.jobs_per_host.max(1))))
            .clone()
    }

    /// Backoff before try `n` (1-based): base·2^(n−1), capped, times a random 0.5–1.5; or
    /// the server's `Retry-After` when longer, up to the same cap (a server asking for a day
    /// must not hold the run; the cap is said, so the wait is understood).
    fn backoff(&self, url: &str, n: u32, retry_after: Option<Duration>) -> Duration {
        let cap = self.cfg.max_retry_wait;
        let base = self.cfg.backoff.saturating_mul(1 << (n - 1).min(16));
        let jitter = std::collections::hash_map::RandomState::new().hash_one(n) % 1000;
        let d = base.min(cap).mul_f64(0.5 + jitter as f64 / 1000.0).min(cap);
        match retry_after {
            Some(r) if r > cap => {
                tracing::warn!(
                    "{url}: the server asks to retry after {}s; waiting {:?} instead (--max-retry-wait)",
                    r.as_secs(),
                    cap
                );
                cap
            }
            Some(r) => d.max(r),
            None => d,
        }
    }

    /// A file into `dest` (from the cache if there): `.partial`, resume, check, rename.
    pub async fn file(&self, url: &str, dest: &Path) -> Result<Got, String> {
        self.file_dated(url, dest).await.map(|(got, _)| got)
    }

    /// [`Fetcher::file`], with the server's `Last-Modified` of a download (of its last try).
    pub async fn file_dated(
        &self,
        url: &str,
        dest: &Path,
    ) -> Result<(Got, Option<String>), String> {
        if let Ok(m) = tokio::fs::metadata(dest).await {
            return Ok((Got::Cached(m.len()), None));
        }
        if self.cfg.offline {
            // Name the cache, which is all an offline run uses: the URL may not be where
            // the cache was filled from (a mirror).
            return Err(format!("{}: not in the cache (--offline)", dest.display()));
        }
        if let Some(dir) = dest.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let partial = partial_path(dest);
        let tries = self.cfg.retries + 1;
        let mut last = String::new();
        for n in 1..=tries {
            let permit = self.host_limit(url).acquire_owned().await;
            let result = self.attempt(url, &partial).await;
            drop(permit);
            let retry_after = match result {
                Ok((size, modified)) => match self.finish(&partial, dest).await {
                    Ok(()) => return Ok((Got::Downloaded(size), modified)),
                    Err(e) => {
                        last = e;
                        None
                    }
                },
                Err((Failure::Final(e), _)) => return Err(format!("{url}: {e}")),
                Err((Failure::Retry(e), after)) => {
                    last = e;
                    after
                }
            };
            if n < tries {
                let wait = self.backoff(url, n, retry_after);
                self.say_retry(url, &last, n, tries, wait);
                tokio::time::sleep(wait).await;
            }
        }
        Err(format!("{url}: {last} (gave up after {tries} tries)"))
    }

    /// Check the end of the compressed stream, then move the file into place.
    async fn finish(&self, partial: &Path, dest: &Path) -> Result<(), String> {
        let p = partial.to_path_buf();
        let check = tokio::task::spawn_blocking(move || check_complete(&p))
            .await
            .map_err(|e| format!("checking the download failed: {e}"))?;
        if let Err(e) = check {
            // Bytes that do not decompress cannot be resumed from: start over.
            let _ = tokio::fs::remove_file(partial).await;
            return Err(e);
        }
        tokio::fs::rename(partial, dest)
            .await
            .map_err(|e| format!("{}: {e}", dest.display()))
    }

    /// One request: resume from the partial file if the server allows ranges. Returns the
    /// size and the server's `Last-Modified`.
    async fn attempt(
        &self,
        url: &str,
        partial: &Path,
    ) -> Result<(u64, Option<String>), (Failure, Option<Duration>)> {
        let have = tokio::fs::metadata(partial).await.map_or(0, |m| m.len());
        let mut req = self.client.get(url);
        if have > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
        }
        let send = tokio::time::timeout(self.cfg.timeout, req.send());
        let resp = match self.noting_slow(url, send).await {
            Err(_) => return Err(retry(format!("no response within {:?}", self.cfg.timeout))),
            Ok(Err(e)) => return Err(retry(format!("request failed: {}", error_chain(&e)))),
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        let offset = match status.as_u16() {
            206 => match content_range_start(&resp) {
                Some(start) if start == have => have,
                _ => {
                    let _ = tokio::fs::remove_file(partial).await;
                    return Err(retry(
                        "the server resumed at another offset; starting over".into(),
                    ));
                }
            },
            200 => 0,
            416 => {
                let _ = tokio::fs::remove_file(partial).await;
                return Err(retry(
                    "the partial file is longer than the file; starting over".into(),
                ));
            }
            404 | 410 => return Err((Failure::Final(format!("not found (HTTP {status})")), None)),
            429 | 500..=599 => {
                let after = retry_after(&resp);
                return Err((Failure::Retry(format!("HTTP {status}")), after));
            }
            _ => return Err((Failure::Final(format!("HTTP {status}")), None)),
        };
        let modified = resp
            .headers()
            .get(reqwest::header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let expected = resp.content_length().map(|n| n + offset);
        if let Some(e) = expected.filter(|&e| e > self.cfg.max_file_size) {
            return Err(final_failure(self.too_large(e)));
        }
        let got = self
            .body(resp, partial, offset)
            .await
            .map_err(|e| match e {
                BodyError::Retry(e) => retry(e),
                BodyError::TooLarge(e) => final_failure(e),
            })?;
        match expected {
            Some(e) if e != got => {
                if got > e {
                    let _ = tokio::fs::remove_file(partial).await;
                }
                Err(retry(format!("size mismatch: got {got} of {e} bytes")))
            }
            _ => Ok((got, modified)),
        }
    }

    fn too_large(&self, size: u64) -> String {
        format!(
            "larger than the {} allowed (--max-file-size): {size} bytes",
            cutoff_core::units::size_text(self.cfg.max_file_size)
        )
    }

    /// When a download must have ended: `timeout` for the first bytes, then its size at the
    /// minimum rate (the size announced, else what arrived so far, so an endless trickle of
    /// unknown length is held to the same rate).
    fn deadline(
        &self,
        start: tokio::time::Instant,
        size: Option<u64>,
        got: u64,
    ) -> tokio::time::Instant {
        let rate = self.cfg.min_rate.max(1) as f64;
        let bytes = size.unwrap_or(got) as f64;
        let allowed = Duration::try_from_secs_f64(bytes / rate).unwrap_or(Duration::MAX);
        start
            + self
                .cfg
                .timeout
                .saturating_add(allowed)
                .min(Duration::from_secs(1 << 40))
    }

    /// Append the body to the partial file. A stall longer than the timeout, a rate below
    /// the minimum, or more bytes than the largest file allowed ends it.
    async fn body(
        &self,
        mut resp: reqwest::Response,
        partial: &Path,
        offset: u64,
    ) -> Result<u64, BodyError> {
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(offset > 0)
            .truncate(offset == 0)
            .open(partial)
            .await
            .map_err(|e| BodyError::Retry(format!("{}: {e}", partial.display())))?;
        let size = resp.content_length();
        let start = tokio::time::Instant::now();
        let mut got = offset;
        loop {
            let deadline = self.deadline(start, size, got - offset);
            let wait = deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .min(self.cfg.timeout);
            let chunk = match tokio::time::timeout(wait, resp.chunk()).await {
                Err(_) => {
                    file.flush().await.ok();
                    return Err(BodyError::Retry(self.slow(start, deadline, got, offset)));
                }
                Ok(Err(e)) => {
                    file.flush().await.ok();
                    return Err(BodyError::Retry(format!(
                        "connection lost after {got} bytes: {}",
                        error_chain(&e)
                    )));
                }
                Ok(Ok(None)) => break,
                Ok(Ok(Some(c))) => c,
            };
            got += chunk.len() as u64;
            if got > self.cfg.max_file_size {
                drop(file);
                // Bytes of a file we refuse are no use to a later try.
                let _ = tokio::fs::remove_file(partial).await;
                return Err(BodyError::TooLarge(self.too_large(got)));
            }
            file.write_all(&chunk)
                .await
                .map_err(|e| BodyError::Retry(format!("{}: {e}", partial.display())))?;
        }
        let sync = async {
            file.flush().await?;
            file.sync_all().await
        };
        sync.await
            .map_err(|e| BodyError::Retry(format!("{}: {e}", partial.display())))?;
        Ok(got)
    }

    /// Why a wait for the next bytes ended: the silence, or the overall deadline.
    fn slow(
        &self,
        start: tokio::time::Instant,
        deadline: tokio::time::Instant,
        got: u64,
        offset: u64,
    ) -> String {
        if tokio::time::Instant::now() < deadline {
            return format!(
                "stalled: no data for {:?} after {got} bytes",
                self.cfg.timeout
            );
        }
        format!(
            "too slow: {} bytes in {:.0?}, below the minimum rate of {}/s (--min-rate)",
            got - offset,
            start.elapsed(),
            cutoff_core::units::size_text(self.cfg.min_rate)
        )
    }

    /// A listing page, from the cache when it is still good (a listing fetched a day after its
    /// month ended is final; others are fetched again after `listing_max_age`). Offline without
    /// a cached listing, the cache folder itself is listed. Also says where it came from: the
    /// URL, or the cached copy, so a gap names what was actually read.
    pub async fn listing(
        &self,
        layout: &Layout,
        k: &ListingKey,
        _now: Timestamp,
    ) -> (Result<Vec<ListingEntry>, String>, Option<PathBuf>) {
        let url = layout.url(k.archive, &k.dir);
        let cached = layout.listing_cache(k.archive, &k.dir);
        let modified = tokio::fs::metadata(&cached)
            .await
            .ok()
            .and_then(|m| m.modified().ok());
        let age = modified.and_then(|t| t.elapsed().ok());
        // When the copy was taken matters, not when we ask: a copy taken during its month
        // misses the files published after it.
        let settled = k.month.next().start().plus_secs(86_400).secs;
        let fetched_after_month = modified
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .is_some_and(|d| d.as_secs() as i64 >= settled);
        let fresh = !self.cfg.relist
            && age.is_some_and(|a| fetched_after_month || a <= self.cfg.listing_max_age);
        if fresh || (self.cfg.offline && age.is_some()) {
            // A copy without entries (cached by an older cutoff) is never trusted: ask again.
            if let Some(entries) = read_cached_listing(&cached).await {
                return (Ok(entries), Some(cached));
            }
        }
        if self.cfg.offline {
            let dir = layout.cache_path(k.archive, &k.dir);
            return (list_cache_dir(&dir, &url), Some(dir));
        }
        match self.text(&url).await {
            Ok(html) => {
                let entries = layout::parse_listing(&html);
                // An empty page may be a mirror's hiccup: cached, it would hide the month's
                // files from every later run.
                if entries.is_empty() {
                    tracing::warn!("{url}: the listing has no files; not caching it");
                } else if let Err(e) = write_atomically(&cached, html.as_bytes()).await {
                    tracing::warn!("{}: cannot cache the listing: {e}", cached.display());
                }
                (Ok(entries), None)
            }
            Err(e) => match read_cached_listing(&cached).await {
                Some(entries) => {
                    tracing::warn!(
                        "{e}; using the listing cached earlier at {}",
                        cached.display()
                    );
                    (Ok(entries), Some(cached))
                }
                None => (Err(e), None),
            },
        }
    }

    /// A small text document (a listing), with the same retries as files.
    async fn text(&self, url: &str) -> Result<String, String> {
        let tries = self.cfg.retries + 1;
        let mut last = String::new();
        for n in 1..=tries {
            let permit = self.host_limit(url).acquire_owned().await;
            let result = self.text_once(url).await;
            drop(permit);
            let after = match result {
                Ok(t) => return Ok(t),
                Err((Failure::Final(e), _)) => return Err(format!("{url}: {e}")),
                Err((Failure::Retry(e), after)) => {
                    last = e;
                    after
                }
            };
            if n < tries {
                let wait = self.backoff(url, n, after);
                self.say_retry(url, &last, n, tries, wait);
                tokio::time::sleep(wait).await;
            }
        }
        Err(format!("{url}: {last} (gave up after {tries} tries)"))
    }

    async fn text_once(&self, url: &str) -> Result<String, (Failure, Option<Duration>)> {
        let fetch = async {
            let resp = self
                .client
                .get(url)
                .send()
                .await
                .map_err(|e| retry(format!("request failed: {}", error_chain(&e))))?;
            let status = resp.status();
            match status.as_u16() {
                200..=299 => {}
                404 | 410 => {
                    return Err((Failure::Final(format!("not found (HTTP {status})")), None));
                }
                429 | 500..=599 => {
                    return Err((Failure::Retry(format!("HTTP {status}")), retry_after(&resp)));
                }
                _ => return Err((Failure::Final(format!("HTTP {status}")), None)),
            }
            self.listing_body(resp).await
        };
        // Listings are small: one timeout covers the whole exchange.
        let fetch = tokio::time::timeout(self.cfg.timeout, fetch);
        match self.noting_slow(url, fetch).await {
            Ok(r) => r,
            Err(_) => Err(retry(format!(
                "no complete answer within {:?}",
                self.cfg.timeout
            ))),
        }
    }

    /// A listing's body, at most `max_listing_size` bytes, as text. Refused rather than
    /// buffered when larger, and refused when it is not UTF-8 text (a body still
    /// gzip-encoded, UTF-16): either would parse to no files.
    async fn listing_body(
        &self,
        mut resp: reqwest::Response,
    ) -> Result<String, (Failure, Option<Duration>)> {
        let max = self.cfg.max_listing_size;
        let too_large = || {
            final_failure(format!(
                "the listing is larger than the {} allowed (--max-listing-size)",
                cutoff_core::units::size_text(max)
            ))
        };
        if resp.content_length().is_some_and(|n| n > max) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| retry(format!("reading the listing: {}", error_chain(&e))))?
        {
            if (body.len() + chunk.len()) as u64 > max {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        listing_text(body).map_err(final_failure)
    }

    /// Fetch listings until [from, to] can be planned for `collectors`.
    pub async fn plan(
        &self,
        collectors: &[Collector],
        from: Timestamp,
        to: Timestamp,
        layout: &Layout,
    ) -> ArchivePlan {
        let now = Timestamp::from_secs(chrono::Utc::now().timestamp());
        if to > now {
            tracing::warn!(
                "the range ends in the future ({}): the archives are read up to now ({})",
                to.rfc3339(),
                now.rfc3339()
            );
        }
        let mut listings = Listings::new();
        let mut cached = Vec::new();
        let mut need = layout::first_listings(collectors, from, to);
        let status = spinner("listings");
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = status.clone();
        loop {
            status.set_message(format!("{} more month folder(s)", need.len()));
            let fetched =
                futures_util::future::join_all(need.iter().map(|k| self.listing(layout, k, now)))
                    .await;
            for (k, (r, copy)) in need.drain(..).zip(fetched) {
                if let Some(copy) = copy {
                    cached.push((layout.url(k.archive, &k.dir), copy));
                }
                // Not every failed listing is a gap (the month before is only looked at for
                // a RIB); the plan reports those that are.
                if let Err(e) = &r {
                    tracing::debug!("{e}");
                }
                listings.insert(k, r);
            }
            match layout::plan(collectors, from, to, now, layout, &listings) {
                Planned::Done(p) => {
                    status.finish_and_clear();
                    return name_cached_sources(p, &cached);
                }
                Planned::Need(keys) => need = keys,
            }
        }
    }
}

fn retry(msg: String) -> (Failure, Option<Duration>) {
    (Failure::Retry(msg), None)
}

/// A gap found in a listing read from the cache names that copy, not only the URL it was
/// once taken from: nothing was asked of that URL in this run.
fn name_cached_sources(mut plan: ArchivePlan, cached: &[(String, PathBuf)]) -> ArchivePlan {
    for f in plan.collectors.iter_mut().flat_map(|c| c.files.iter_mut()) {
        let Some(reason) = f.missing.as_mut() else {
            continue;
        };
        for (url, copy) in cached {
            if reason.contains(url.as_str()) {
                let named = format!("{url} (as cached at {})", copy.display());
                *reason = reason.replacen(url.as_str(), &named, 1);
                break;
            }
        }
    }
    plan
}

/// A listing read back from the cache, unless it is missing or lists no files.
async fn read_cached_listing(path: &Path) -> Option<Vec<ListingEntry>> {
    let html = tokio::fs::read_to_string(path).await.ok()?;
    Some(layout::parse_listing(&html)).filter(|e| !e.is_empty())
}

/// A listing's bytes as text: UTF-8 (ASCII in practice), not compressed, not UTF-16.
fn listing_text(body: Vec<u8>) -> Result<String, String> {
    if body.starts_with(&[0x1f, 0x8b]) {
        return Err("the listing came gzip-compressed and was not decoded".into());
    }
    if body.starts_with(&[0xff, 0xfe]) || body.starts_with(&[0xfe, 0xff]) || body.contains(&0) {
        return Err("the listing is not UTF-8 text (UTF-16?)".into());
    }
    String::from_utf8(body).map_err(|_| "the listing is not UTF-8 text".to_string())
}

fn final_failure(msg: String) -> (Failure, Option<Duration>) {
    (Failure::Final(msg), None)
}

/// Why a body could not be had: worth another try, or refused for its size.
enum BodyError {
    Retry(String),
    TooLarge(String),
}

/// The error and its causes (reqwest's own message hides the useful part).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn content_range_start(resp: &reqwest::Response) -> Option<u64> {
    let v = resp
        .headers()
        .get(reqwest::header::CONTENT_RANGE)?
        .to_str()
        .ok()?;
    let range = v.strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}

fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

pub fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    dest.with_file_name(name)
}

async fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let tmp = partial_path(path);
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, path).await
}

/// Offline, no cached listing: the MRT files already in the cache folder.
fn list_cache_dir(dir: &Path, url: &str) -> Result<Vec<ListingEntry>, String> {
    let read = std::fs::read_dir(dir)
        .map_err(|_| format!("{url}: listing not in the cache (--offline)"))?;
    let mut out: Vec<ListingEntry> = read
        .filter_map(|e| e.ok())
        .filter_map(|e| layout::entry_from_name(&e.file_name().to_string_lossy()))
        .collect();
    out.sort_by_key(|a| (a.start, a.kind));
    Ok(out)
}

/// A download is whole when its compressed stream decodes to its end (gzip and bzip2 carry
/// their own end marker and checksum); a raw file is taken as it is.
fn check_complete(path: &Path) -> Result<(), String> {
    let mut reader =
        cutoff_core::parse::decode::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    std::io::copy(&mut reader, &mut std::io::sink())
        .map(|_| ())
        .map_err(|e| {
            format!(
                "incomplete compressed stream: {}",
                cutoff_core::parse::read_error(&e)
            )
        })
}

/// Where each planned file stands, shared between the downloader and the reader threads.
#[derive(Clone, Default)]
pub struct Readiness {
    inner: Arc<(Mutex<HashMap<PathBuf, FileState>>, Condvar)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    Pending,
    Ready,
    /// The reason, naming the URL.
    Failed(String),
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Readiness")
    }
}

impl Readiness {
    /// Every file of the plan pending, its known gaps failed already.
    pub fn for_plan(plan: &ArchivePlan) -> Self {
        let r = Readiness::default();
        for f in plan.files() {
            let state = match &f.missing {
                Some(reason) => FileState::Failed(reason.clone()),
                None => FileState::Pending,
            };
            r.set(&f.path, state);
        }
        r
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, FileState>> {
        // The map stays consistent even if a holder panicked: each update is one insert.
        self.inner.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set(&self, path: &Path, state: FileState) {
        self.lock().insert(path.to_path_buf(), state);
        self.inner.1.notify_all();
    }

    /// Block until `path` is downloaded or failed. Files the plan does not know are local: ready.
    pub fn wait(&self, path: &Path) -> Result<(), String> {
        let mut map = self.lock();
        loop {
            match map.get(path) {
                None | Some(FileState::Ready) => return Ok(()),
                Some(FileState::Failed(reason)) => return Err(reason.clone()),
                Some(FileState::Pending) => {
                    map = self.inner.1.wait(map).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }

    /// Downloaded or failed already (no waiting)? Files the plan does not know are local.
    pub fn settled(&self, path: &Path) -> bool {
        !matches!(self.lock().get(path), Some(FileState::Pending))
    }

    /// Fail whatever is still pending (the downloader stopped early), so no reader waits forever.
    pub fn fail_pending(&self, reason: &str) {
        let mut map = self.lock();
        for state in map.values_mut() {
            if *state == FileState::Pending {
                *state = FileState::Failed(reason.to_string());
            }
        }
        drop(map);
        self.inner.1.notify_all();
    }
}

impl cutoff_core::parse::ahead::Gate for Readiness {
    fn wait(&self, path: &Path) -> Result<(), String> {
        Readiness::wait(self, path)
    }
    fn settled(&self, path: &Path) -> bool {
        Readiness::settled(self, path)
    }
}

/// What happened to one planned file.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub file: ArchiveFile,
    pub result: Result<Got, String>,
}

/// Download every file of the plan, `jobs_per_host` at a time per host and in time order,
/// marking each ready or failed as soon as it is. Known gaps come back as failures.
pub async fn fetch_plan(
    fetcher: &Fetcher,
    plan: &ArchivePlan,
    ready: &Readiness,
    progress: &indicatif::ProgressBar,
) -> Vec<Outcome> {
    use futures_util::StreamExt;
    let mut by_host: Vec<(String, Vec<&ArchiveFile>)> = Vec::new();
    for f in plan.downloads() {
        let host = reqwest::Url::parse(&f.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        match by_host.iter_mut().find(|(h, _)| *h == host) {
            Some((_, list)) => list.push(f),
            None => by_host.push((host, vec![f])),
        }
    }
    let jobs = fetcher.config().jobs_per_host.max(1);
    let per_host = by_host.into_iter().map(|(_, files)| {
        futures_util::stream::iter(files)
            .map(|f| async move {
                let result = fetcher.file(&f.url, &f.path).await;
                ready.set(
                    &f.path,
                    match &result {
                        Ok(_) => FileState::Ready,
                        Err(e) => FileState::Failed(e.clone()),
                    },
                );
                progress.inc(1);
                if let Ok(Got::Downloaded(n)) = result {
                    progress.set_message(format!(
                        "{} ({n} bytes)",
                        f.url.rsplit('/').next().unwrap_or("")
                    ));
                }
                Outcome {
                    file: f.clone(),
                    result,
                }
            })
            .buffer_unordered(jobs)
            .collect::<Vec<Outcome>>()
    });
    let mut out: Vec<Outcome> = futures_util::future::join_all(per_host)
        .await
        .into_iter()
        .flatten()
        .collect();
    out.extend(plan.gaps().map(|f| Outcome {
        file: f.clone(),
        result: Err(f.missing.clone().unwrap_or_default()),
    }));
    out.sort_by(|a, b| {
        (&a.file.collector, a.file.start, a.file.kind).cmp(&(
            &b.file.collector,
            b.file.start,
            b.file.kind,
        ))
    });
    out
}

/// `host:port` of a URL: downloads are limited, and waits said, per host.
fn host_key(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .map(|u| {
            format!(
                "{}:{}",
                u.host_str().unwrap_or(""),
                u.port_or_known_default().unwrap_or(0)
            )
        })
        .unwrap_or_default()
}

/// Progress bars and status lines are drawn (the binary turns them off for `-q`).
static PROGRESS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Allow progress bars and status lines on stderr (still only when it is a terminal).
pub fn set_progress(on: bool) {
    PROGRESS.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether progress is drawn: stderr is a terminal and `-q` was not given.
pub fn progress_shown() -> bool {
    use std::io::IsTerminal;
    PROGRESS.load(std::sync::atomic::Ordering::Relaxed) && std::io::stderr().is_terminal()
}

/// A status line that keeps turning while something unmeasured goes on: on a terminal,
/// nothing otherwise.
pub fn spinner(what: &str) -> indicatif::ProgressBar {
    if !progress_shown() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {prefix} {wide_msg}") {
        bar.set_style(style);
    }
    bar.set_prefix(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A progress bar on a terminal, nothing otherwise.
pub fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    if !progress_shown() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {wide_msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(what.to_string());
    bar
}

/// The cache root: `$CACHE_DIRECTORY` (systemd), else `$XDG_CACHE_HOME/cutoff`, else
/// `~/.cache/cutoff`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("CACHE_DIRECTORY").filter(|d| !d.is_empty()) {
        // systemd may pass several, separated by colons: the first is ours.
        let first = d
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or("")
            .to_string();
        if !first.is_empty() {
            return Some(PathBuf::from(first));
        }
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
    {
        return Some(x.join("cutoff"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".cache").join("cutoff"))
}
