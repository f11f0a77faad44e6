//! `cutoff monitor` configuration: a TOML file → a validated [`MonitorConfig`].
//!
//! Unknown keys are errors (a typo must not silently fall back to a default), every error
//! names the file and the line or key, and `cutoff config` prints the effective configuration
//! with every default filled in, so what a run will do is never a guess.

use cutoff_core::detect::{DetectRules, Residual};
use cutoff_core::model::{Prefix, Timestamp};
use cutoff_core::pipeline::plan::split_peers;
use cutoff_core::state::EligibilityRules;
use cutoff_core::units::{
    check_duration, duration_text, parse_asn_strict as parse_asn, parse_duration, parse_fraction,
    parse_size, parse_time, size_text,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The example configuration shipped with the project (`cutoff config --example`).
pub const EXAMPLE: &str = include_str!("../../../samples/monitor.example.toml");

/// A length of time written like the scan flags: `15m`, `90s`, `1h30m`, `7d` (or seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Secs(pub i64);

impl Serialize for Secs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&duration_text(self.0))
    }
}

impl<'de> Deserialize<'de> for Secs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match StrOrInt::deserialize(d)? {
            StrOrInt::Int(n) => check_duration(n)
                .map(Secs)
                .map_err(serde::de::Error::custom),
            StrOrInt::Str(s) => parse_duration(&s)
                .map(Secs)
                .map_err(serde::de::Error::custom),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StrOrInt {
    Int(i64),
    Str(String),
}

/// A size written like the archive flags: `16MiB`, `4GiB`, `64KiB` (or bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&size_text(self.0))
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = match StrOrInt::deserialize(d)? {
            StrOrInt::Int(n) => u64::try_from(n).map_err(|_| format!("{n} is not a size")),
            StrOrInt::Str(s) => parse_size(&s),
        };
        match n {
            Ok(0) => Err(serde::de::Error::custom("must be above 0")),
            Ok(n) => Ok(Size(n)),
            Err(e) => Err(serde::de::Error::custom(e)),
        }
    }
}

/// A share written `10%` or `0.1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Share(pub f64);

impl Serialize for Share {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}%", (self.0 * 1e6).round() / 1e4))
    }
}

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = match ShareInput::deserialize(d)? {
            ShareInput::Num(v) => v.to_string(),
            ShareInput::Str(s) => s,
        };
        parse_fraction(&text)
            .map(Share)
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ShareInput {
    Num(f64),
    Str(String),
}

/// A point in time: RFC 3339, a date (midnight UTC) or epoch seconds, as on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time(pub Timestamp);

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.rfc3339())
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = match TimeInput::deserialize(d)? {
            TimeInput::Int(n) => n.to_string(),
            TimeInput::Str(s) => s,
            // An unquoted TOML date or date-time: its text is the same as the quoted one.
            TimeInput::Toml(t) => t.to_string(),
        };
        parse_time(&text)
            .map(Time)
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TimeInput {
    Int(i64),
    Str(String),
    Toml(toml::value::Datetime),
}

/// An AS number written `26780` or `"AS26780"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Asn(pub u32);

impl Serialize for Asn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for Asn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match StrOrInt::deserialize(d)? {
            StrOrInt::Int(n) => u32::try_from(n)
                .map(Asn)
                .map_err(|_| serde::de::Error::custom(format!("{n} is not an AS number"))),
            StrOrInt::Str(s) => parse_asn(&s)
                .map(Asn)
                .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not an AS number"))),
        }
    }
}

/// The whole configuration file. Field order is the printing order (values before tables).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorConfig {
    /// Checkpoint, lock and alert ledger. Default: `$STATE_DIRECTORY`, else
    /// `$XDG_STATE_HOME/cutoff`, else `~/.local/state/cutoff`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<PathBuf>,
    /// Downloaded archive files, and the AS-name list `cutoff names fetch` keeps. Default:
    /// `$CACHE_DIRECTORY`, else `$XDG_CACHE_HOME/cutoff`, else `~/.cache/cutoff`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<PathBuf>,
    /// Alerts already delivered are remembered this long (so a re-run never repeats one).
    #[serde(default = "default_ledger_keep")]
    pub ledger_keep: Secs,
    #[serde(default)]
    pub watch: Vec<WatchEntry>,
    #[serde(default)]
    pub source: SourceConfig,
    #[serde(default)]
    pub thresholds: ThresholdsConfig,
    #[serde(default = "default_sinks", rename = "sink")]
    pub sinks: Vec<SinkConfig>,
    /// `monitor --follow`: serve Prometheus metrics on this address (`/metrics`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

fn default_ledger_keep() -> Secs {
    Secs(90 * 86400)
}

fn default_sinks() -> Vec<SinkConfig> {
    vec![SinkConfig::Stdout(StdoutSink { name: None })]
}

/// One watched AS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchEntry {
    pub asn: Asn,
    /// A name for people (alerts and metrics); default `AS<asn>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Alert only on events that began at or after this time (the AS is tracked throughout,
    /// so its baseline is ready).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Time>,
    /// Alert only on events that began at or before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Time>,
    /// Extra prefixes of this AS (more-specifics included).
    #[serde(default)]
    pub prefixes: Vec<Prefix>,
}

impl WatchEntry {
    pub fn label(&self) -> String {
        self.label
            .clone()
            .unwrap_or_else(|| format!("AS{}", self.asn.0))
    }

    /// The label for alerts: the configured one, else the AS's name in `names` (the cached
    /// AS-name list), else `AS<asn>`.
    pub fn label_named(&self, names: &cutoff_core::asnames::AsNames) -> String {
        match (&self.label, names.name(self.asn.0)) {
            (Some(l), _) => l.clone(),
            (None, Some(n)) => n.to_string(),
            (None, None) => format!("AS{}", self.asn.0),
        }
    }

    /// Does an event that began at `t` fall inside this entry's alerting window?
    pub fn alerts_at(&self, t: Timestamp) -> bool {
        self.since.is_none_or(|s| t >= s.0) && self.until.is_none_or(|u| t <= u.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceMode {
    /// A local directory that a mirror (rsync, wget, the archive fetcher) fills up.
    Mirror,
    /// Download from the RouteViews and RIS archives into the cache.
    Archive,
}

/// Where the first run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Each collector's latest RIB (and the updates after it).
    LatestRib,
    At(Timestamp),
}

impl Serialize for Start {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Start::LatestRib => s.serialize_str("latest-rib"),
            Start::At(t) => s.serialize_str(&t.rfc3339()),
        }
    }
}

impl<'de> Deserialize<'de> for Start {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = match TimeInput::deserialize(d)? {
            TimeInput::Int(n) => n.to_string(),
            TimeInput::Str(s) => s,
            TimeInput::Toml(t) => t.to_string(),
        };
        if text == "latest-rib" {
            return Ok(Start::LatestRib);
        }
        parse_time(&text)
            .map(Start::At)
            .map_err(|e| serde::de::Error::custom(format!("{e}, or \"latest-rib\"")))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// `mirror` or `archive`; default: `mirror` when `mirror` is set, else `archive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<SourceMode>,
    /// Mirror mode: directories in the archive layout (`…/bgpdata/YYYY.MM/UPDATES/…`,
    /// `rrcNN/YYYY.MM/…`) or plain directories (one collector each, named after it).
    #[serde(default)]
    pub mirror: Vec<PathBuf>,
    /// Archive mode: collectors to follow (`route-views2`, `route-views.linx`, `rrc00`, …).
    #[serde(default)]
    pub collectors: Vec<String>,
    #[serde(default = "default_routeviews_url")]
    pub routeviews_url: String,
    #[serde(default = "default_ris_url")]
    pub ris_url: String,
    /// Archive mode: read only what is already in the cache.
    #[serde(default)]
    pub offline: bool,
    /// First run: `latest-rib` or a time.
    #[serde(default = "default_start")]
    pub start: Start,
    /// A file modified less than this long ago may still be being written: wait for it.
    #[serde(default = "default_settle")]
    pub settle: Secs,
    /// A hole in a collector's update files holds back what follows for this long before the
    /// missing file is declared a gap.
    #[serde(default = "default_grace")]
    pub grace: Secs,
    /// A missing file stays on the retry list this long.
    #[serde(default = "default_retry_for")]
    pub retry_for: Secs,
    /// Archive mode: the most archive time one run fetches past where the last run stopped, so a
    /// monitor that was off for a while catches up over several polite runs.
    #[serde(default = "default_catch_up")]
    pub catch_up: Secs,
    /// Archive mode: the largest listing page read (a larger one is a failed listing).
    #[serde(default = "default_max_listing_size")]
    pub max_listing_size: Size,
    /// Archive mode: the largest file downloaded (a larger one is a gap).
    #[serde(default = "default_max_file_size")]
    pub max_file_size: Size,
    /// Archive mode: the slowest average download rate accepted, per second.
    #[serde(default = "default_min_rate")]
    pub min_rate: Size,
    /// Archive mode: the longest wait before a retry, and the most of a server's
    /// Retry-After honoured.
    #[serde(default = "default_max_retry_wait")]
    pub max_retry_wait: Secs,
    /// Largest decompressed size of one update file held in memory; a file expanding further
    /// is streamed (`cutoff scan --max-in-memory`).
    #[serde(default = "default_max_in_memory")]
    pub max_in_memory: Size,
    /// `monitor --follow`: the address the BMP station listens on for routers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bmp_listen: Option<std::net::SocketAddr>,
    /// `monitor --follow`: a router's initial table is closed this long after it connected,
    /// whatever End-of-RIB markers are missing.
    #[serde(default = "default_bmp_dump_deadline")]
    pub bmp_dump_deadline: Secs,
    /// `monitor --follow`: read RIS Live from RIPE's public endpoint ([`DEFAULT_RIS_LIVE_URL`]).
    #[serde(default)]
    pub ris_live: bool,
    /// `monitor --follow`: read RIS Live from this endpoint (`wss://…` or `ws://…`); setting it
    /// turns RIS Live on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ris_live_url: Option<String>,
    /// RIS Live: take these collectors whole (`rrc00`, …): every message counted, so a peer
    /// withdrawing its whole table is seen as such. Empty: only the watched prefixes and ASes,
    /// peer states and keepalives.
    #[serde(default)]
    pub ris_live_hosts: Vec<String>,
    /// RIS Live: a feed silent this long is lost (its collectors unknown, one warning) and
    /// connected again.
    #[serde(default = "default_ris_live_silence")]
    pub ris_live_silence: Secs,
}

/// RIPE NCC's public RIS Live endpoint.
pub const DEFAULT_RIS_LIVE_URL: &str = "wss://ris-live.ripe.net/v1/ws/";

fn default_ris_live_silence() -> Secs {
    Secs(300)
}

fn default_bmp_dump_deadline() -> Secs {
    Secs(300)
}

fn default_max_in_memory() -> Size {
    Size(cutoff_core::parse::decode::DEFAULT_MAX_DECODED)
}

fn default_max_listing_size() -> Size {
    Size(cutoff_archive::fetch::DEFAULT_MAX_LISTING_SIZE)
}
fn default_max_file_size() -> Size {
    Size(cutoff_archive::fetch::DEFAULT_MAX_FILE_SIZE)
}
fn default_min_rate() -> Size {
    Size(cutoff_archive::fetch::DEFAULT_MIN_RATE)
}
fn default_max_retry_wait() -> Secs {
    Secs(cutoff_archive::fetch::DEFAULT_MAX_RETRY_WAIT.as_secs() as i64)
}

fn default_routeviews_url() -> String {
    cutoff_archive::layout::Archive::RouteViews
        .default_root()
        .into()
}
fn default_ris_url() -> String {
    cutoff_archive::layout::Archive::Ris.default_root().into()
}
fn default_start() -> Start {
    Start::LatestRib
}
fn default_settle() -> Secs {
    Secs(60)
}
fn default_grace() -> Secs {
    Secs(3600)
}
fn default_retry_for() -> Secs {
    Secs(7 * 86400)
}
fn default_catch_up() -> Secs {
    Secs(86400)
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            mode: None,
            mirror: Vec::new(),
            collectors: Vec::new(),
            routeviews_url: default_routeviews_url(),
            ris_url: default_ris_url(),
            offline: false,
            start: default_start(),
            settle: default_settle(),
            grace: default_grace(),
            retry_for: default_retry_for(),
            catch_up: default_catch_up(),
            max_listing_size: default_max_listing_size(),
            max_file_size: default_max_file_size(),
            min_rate: default_min_rate(),
            max_retry_wait: default_max_retry_wait(),
            max_in_memory: default_max_in_memory(),
            bmp_listen: None,
            bmp_dump_deadline: default_bmp_dump_deadline(),
            ris_live: false,
            ris_live_url: None,
            ris_live_hosts: Vec::new(),
            ris_live_silence: default_ris_live_silence(),
        }
    }
}

impl SourceConfig {
    /// Only a live source is configured: there are no files for a cron run to read.
    pub fn live_only(&self) -> bool {
        self.is_live() && self.mirror.is_empty() && self.collectors.is_empty()
    }

    /// A live source is configured (BMP or RIS Live).
    pub fn is_live(&self) -> bool {
        self.bmp_listen.is_some() || self.ris_live_endpoint().is_some()
    }

    /// The RIS Live endpoint, if RIS Live is on.
    pub fn ris_live_endpoint(&self) -> Option<&str> {
        match (&self.ris_live_url, self.ris_live) {
            (Some(u), _) => Some(u),
            (None, true) => Some(DEFAULT_RIS_LIVE_URL),
            (None, false) => None,
        }
    }

    pub fn mode(&self) -> SourceMode {
        self.mode.unwrap_or(if self.mirror.is_empty() {
            SourceMode::Archive
        } else {
            SourceMode::Mirror
        })
    }
}

/// The scan thresholds, same names and meaning as the `cutoff scan` flags.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThresholdsConfig {
    pub min_duration: Secs,
    pub max_residual: Residual,
    pub restore_fraction: Share,
    pub full_feed: Share,
    pub min_peers: usize,
    pub silence: Secs,
    pub mass_withdrawal: Share,
    pub mass_window: Secs,
    /// Table size assumed for peers of collectors read without a RIB (default: by year).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_size: Option<u64>,
    /// Peers not counted: IP addresses or AS numbers.
    pub exclude_peers: Vec<String>,
}

impl Default for ThresholdsConfig {
    /// The core's rule defaults, written as the configuration writes them.
    fn default() -> Self {
        let d = DetectRules::default();
        let e = EligibilityRules::default();
        ThresholdsConfig {
            min_duration: Secs(d.min_duration_secs),
            max_residual: d.max_residual,
            restore_fraction: Share(d.restore_fraction),
            full_feed: Share(e.full_feed_fraction),
            min_peers: d.min_peers,
            silence: Secs(e.silence_secs),
            mass_withdrawal: Share(e.mass_withdrawal_fraction),
            mass_window: Secs(e.mass_window_secs),
            table_size: None,
            exclude_peers: Vec::new(),
        }
    }
}

/// Where alerts go. Each sink has a name (default: its type, numbered when repeated) under
/// which the ledger records what it was sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkConfig {
    /// One JSON object per line on stdout (cron mails it).
    Stdout(StdoutSink),
    /// Appended to a file, one JSON object per line, fsynced; never twice.
    File(FileSink),
    /// POST of the alert JSON.
    Webhook(HttpSink),
    /// POST of `{"text": …}` (Slack, Mattermost, Rocket.Chat incoming webhooks).
    Slack(HttpSink),
    /// A command run with the alert JSON on its standard input.
    Exec(ExecSink),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutSink {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSink {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub path: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSink {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The URL, or `url_env`: the environment variable holding it (webhook URLs are often
    /// secrets themselves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_env: Option<String>,
    /// Environment variable holding a token sent as `Authorization: Bearer …`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_env: Option<String>,
    #[serde(default = "default_http_timeout")]
    pub timeout: Secs,
    /// Further attempts within one run after a failure.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one.
    #[serde(default = "default_backoff")]
    pub retry_backoff: Secs,
}

fn default_http_timeout() -> Secs {
    Secs(10)
}
/// Most retries of a webhook within one run (each wait is at most 5 minutes).
pub const MAX_RETRIES: u32 = 10;

fn default_retries() -> u32 {
    3
}
fn default_backoff() -> Secs {
    Secs(2)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecSink {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Program and arguments (no shell).
    pub command: Vec<String>,
    #[serde(default = "default_exec_timeout")]
    pub timeout: Secs,
}

fn default_exec_timeout() -> Secs {
    Secs(30)
}

impl SinkConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            SinkConfig::Stdout(_) => "stdout",
            SinkConfig::File(_) => "file",
            SinkConfig::Webhook(_) => "webhook",
            SinkConfig::Slack(_) => "slack",
            SinkConfig::Exec(_) => "exec",
        }
    }

    pub fn name(&self) -> Option<&str> {
        match self {
            SinkConfig::Stdout(s) => s.name.as_deref(),
            SinkConfig::File(s) => s.name.as_deref(),
            SinkConfig::Webhook(s) | SinkConfig::Slack(s) => s.name.as_deref(),
            SinkConfig::Exec(s) => s.name.as_deref(),
        }
    }

    fn set_name(&mut self, name: String) {
        let slot = match self {
            SinkConfig::Stdout(s) => &mut s.name,
            SinkConfig::File(s) => &mut s.name,
            SinkConfig::Webhook(s) | SinkConfig::Slack(s) => &mut s.name,
            SinkConfig::Exec(s) => &mut s.name,
        };
        *slot = Some(name);
    }
}

/// A configuration problem: the file and what is wrong, including the line or key.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct ConfigError {
    pub path: PathBuf,
    pub problem: String,
}

/// The largest configuration file read: a real one is a few kilobytes, and reading no more
/// than this keeps a wrong path (`/dev/zero`, a disk image) from filling memory.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The text of a file of at most [`MAX_CONFIG_BYTES`].
fn read_small(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(format!(
            "larger than {}: a configuration is a few kilobytes; is this the right file?",
            cutoff_core::units::size_text(MAX_CONFIG_BYTES)
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 text (byte {}): a configuration is TOML",
            e.utf8_error().valid_up_to()
        )
    })
}

impl MonitorConfig {
    /// Read, parse and validate a file; relative paths in it are taken from its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let err = |problem: String| ConfigError {
            path: path.to_path_buf(),
            problem,
        };
        let text = read_small(path).map_err(err)?;
        let mut config = Self::parse(&text).map_err(err)?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve(base, &Env::from_process()).map_err(err)?;
        Ok(config)
    }

    /// Parse and validate TOML text (without resolving paths).
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: MonitorConfig = toml::from_str(text).map_err(|e| {
            // toml's message already says "TOML parse error at line L, column C" and shows
            // the line; keep it on one line for logs.
            e.to_string().trim_end().replace('\n', "\n  ")
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if self.watch.is_empty() {
            return Err(
                "no [[watch]] entry: say which AS to watch (asn = 26780, label = \"McColo\")"
                    .into(),
            );
        }
        let mut seen = BTreeSet::new();
        for (i, w) in self.watch.iter().enumerate() {
            if !seen.insert(w.asn) {
                return Err(format!("watch[{i}].asn: AS{} is listed twice", w.asn.0));
            }
            if let (Some(s), Some(u)) = (w.since, w.until)
                && s > u
            {
                return Err(format!("watch[{i}]: since is after until"));
            }
        }
        self.validate_source()?;
        if let Err(i) = split_peers(&self.thresholds.exclude_peers, parse_asn) {
            return Err(format!(
                "thresholds.exclude_peers[{i}]: {:?} is neither an IP address nor an AS number",
                self.thresholds.exclude_peers[i]
            ));
        }
        for (i, s) in self.sinks.iter().enumerate() {
            validate_sink(i, s)?;
        }
        Ok(())
    }

    fn validate_source(&self) -> Result<(), String> {
        let s = &self.source;
        match s.mode() {
            SourceMode::Mirror if s.mirror.is_empty() => Err(
                "source.mirror: mode is \"mirror\" but no directory is given (mirror = [\"/srv/mrt\"])"
                    .into(),
            ),
            SourceMode::Archive if s.collectors.is_empty() && !s.is_live() => Err(
                "source: give source.mirror = [\"DIR\"] for a local mirror, source.collectors = [\"route-views2\"] for the archives, or a live source for monitor --follow: source.bmp_listen = \"ADDR:PORT\" for routers, source.ris_live = true for RIS Live"
                    .into(),
            ),
            _ => {
                for (key, url) in [("routeviews_url", &s.routeviews_url), ("ris_url", &s.ris_url)] {
                    check_http_url(&format!("source.{key}"), url)?;
                }
                if let Some(u) = &s.ris_live_url
                    && !(u.starts_with("ws://") || u.starts_with("wss://"))
                {
                    return Err(format!(
                        "source.ris_live_url: {u:?} is not a WebSocket URL (ws://… or wss://…)"
                    ));
                }
                if s.ris_live_silence.0 <= 0 {
                    return Err("source.ris_live_silence: must be longer than 0s".into());
                }
                Ok(())
            }
        }
    }

    /// Fill defaults that depend on the environment, name the sinks, and make relative paths
    /// relative to `base` (the configuration file's directory), except a file sink's, which
    /// is relative to the state directory.
    pub fn resolve(&mut self, base: &Path, env: &Env) -> Result<(), String> {
        let abs = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        self.state_dir = Some(match &self.state_dir {
            Some(p) => abs(p),
            None => env.state_dir().ok_or(
                "state_dir: not set, and neither $STATE_DIRECTORY, $XDG_STATE_HOME nor $HOME is",
            )?,
        });
        self.cache_dir = Some(match &self.cache_dir {
            Some(p) => abs(p),
            None => env.cache_dir().ok_or(
                "cache_dir: not set, and neither $CACHE_DIRECTORY, $XDG_CACHE_HOME nor $HOME is",
            )?,
        });
        self.source.mode = Some(self.source.mode());
        self.source.mirror = self.source.mirror.iter().map(|p| abs(p)).collect();
        // A file sink is written on every run: a relative path is taken from the state
        // directory, which the monitor must be able to write (under the shipped unit the
        // configuration's directory, /etc/cutoff, is read-only).
        let state_dir = self.state_dir().to_path_buf();
        for s in &mut self.sinks {
            if let SinkConfig::File(f) = s
                && f.path.is_relative()
            {
                f.path = state_dir.join(&f.path);
            }
        }
        self.name_sinks()
    }

    fn name_sinks(&mut self) -> Result<(), String> {
        let mut counts = std::collections::BTreeMap::<&str, usize>::new();
        for s in &self.sinks {
            *counts.entry(s.kind()).or_default() += 1;
        }
        let mut numbered = std::collections::BTreeMap::<&str, usize>::new();
        let mut names = BTreeSet::new();
        for (i, s) in self.sinks.iter_mut().enumerate() {
            let kind = s.kind();
            let name = match s.name() {
                Some(n) => n.to_string(),
                None if counts[kind] == 1 => kind.to_string(),
                None => {
                    let n = numbered.entry(kind).or_default();
                    *n += 1;
                    format!("{kind}-{n}")
                }
            };
            if !names.insert(name.clone()) {
                return Err(format!(
                    "sink[{i}].name: {name:?} is used twice (give each sink its own name)"
                ));
            }
            s.set_name(name);
        }
        Ok(())
    }

    pub fn state_dir(&self) -> &Path {
        // `resolve` always fills it; before that the current directory is the honest answer.
        self.state_dir.as_deref().unwrap_or(Path::new("."))
    }

    pub fn cache_dir(&self) -> &Path {
        self.cache_dir.as_deref().unwrap_or(Path::new("."))
    }

    pub fn asns(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.watch.iter().map(|w| w.asn.0).collect();
        v.sort_unstable();
        v
    }

    pub fn entry(&self, asn: u32) -> Option<&WatchEntry> {
        self.watch.iter().find(|w| w.asn.0 == asn)
    }

    /// The effective configuration as TOML, every default filled in.
    pub fn to_toml(&self) -> Result<String, String> {
        toml::to_string(self).map_err(|e| format!("cannot print the configuration: {e}"))
    }

    /// Peers excluded from counting, split into ASNs and IPs.
    /// (`load` has checked every entry, so none is dropped here.)
    pub fn excluded_peers(&self) -> (Vec<u32>, Vec<std::net::IpAddr>) {
        split_peers(&self.thresholds.exclude_peers, parse_asn).unwrap_or_default()
    }
}

fn validate_sink(i: usize, s: &SinkConfig) -> Result<(), String> {
    let key = format!("sink[{i}] ({})", s.kind());
    match s {
        SinkConfig::Webhook(h) | SinkConfig::Slack(h) => {
            match (&h.url, &h.url_env) {
                (Some(u), None) => check_http_url(&format!("{key}.url"), u)?,
                (None, Some(_)) => {}
                _ => return Err(format!("{key}: give exactly one of url and url_env")),
            }
            if let Some(v) = &h.bearer_token_env
                && v.is_empty()
            {
                return Err(format!("{key}.bearer_token_env: empty variable name"));
            }
            if h.retries > MAX_RETRIES {
                return Err(format!(
                    "{key}.retries: {} is too many (at most {MAX_RETRIES}; an undelivered alert is kept for the next run)",
                    h.retries
                ));
            }
            Ok(())
        }
        SinkConfig::Exec(e) if e.command.is_empty() || e.command[0].is_empty() => Err(format!(
            "{key}.command: give the program and its arguments, e.g. [\"/usr/local/bin/notify\", \"--urgent\"]"
        )),
        _ => Ok(()),
    }
}

fn check_http_url(key: &str, url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(_) => Err(format!("{key}: {url:?} is not an http(s) URL")),
        Err(e) => Err(format!("{key}: {url:?} is not a URL: {e}")),
    }
}

/// The environment variables that choose default directories (a struct so tests need not
/// change the process environment).
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub state_directory: Option<String>,
    pub cache_directory: Option<String>,
    pub xdg_state_home: Option<String>,
    pub xdg_cache_home: Option<String>,
    pub home: Option<String>,
}

impl Env {
    pub fn from_process() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Env {
            state_directory: var("STATE_DIRECTORY"),
            cache_directory: var("CACHE_DIRECTORY"),
            xdg_state_home: var("XDG_STATE_HOME"),
            xdg_cache_home: var("XDG_CACHE_HOME"),
            home: var("HOME"),
        }
    }

    /// systemd sets `$STATE_DIRECTORY` (colon-separated when several are configured: the
    /// first is ours).
    pub fn state_dir(&self) -> Option<PathBuf> {
        Self::pick(
            &self.state_directory,
            &self.xdg_state_home,
            &self.home,
            ".local/state",
        )
    }

    pub fn cache_dir(&self) -> Option<PathBuf> {
        Self::pick(
            &self.cache_directory,
            &self.xdg_cache_home,
            &self.home,
            ".cache",
        )
    }

    fn pick(
        systemd: &Option<String>,
        xdg: &Option<String>,
        home: &Option<String>,
        under_home: &str,
    ) -> Option<PathBuf> {
        if let Some(s) = systemd {
            return s.split(':').next().map(PathBuf::from);
        }
        if let Some(x) = xdg {
            return Some(Path::new(x).join("cutoff"));
        }
        home.as_ref()
            .map(|h| Path::new(h).join(under_home).join("cutoff"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[[watch]]\nasn = 26780\n[source]\nmirror = [\"mrt\"]\n";

    fn resolved(text: &str) -> MonitorConfig {
        let mut c = MonitorConfig::parse(text).expect("parses");
        let env = Env {
            home: Some("/home/op".into()),
            ..Env::default()
        };
        c.resolve(Path::new("/etc/cutoff"), &env).expect("resolves");
        c
    }

    /// `--config /dev/zero` reached 12.7 GB in 20 s; now at most 1 MiB is read (issue 16,
    /// item 8).
    #[test]
    fn an_endless_or_huge_config_is_refused_after_1_mib() {
        let e = MonitorConfig::load(Path::new("/dev/zero")).expect_err("endless");
        assert_eq!(
            e.to_string(),
            "/dev/zero: larger than 1MiB: a configuration is a few kilobytes; is this the right file?"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let binary = dir.path().join("c.toml");
        std::fs::write(&binary, b"asn = \xff\n").expect("write");
        let e = MonitorConfig::load(&binary).expect_err("binary");
        assert!(
            e.to_string()
                .ends_with("not UTF-8 text (byte 6): a configuration is TOML"),
            "{e}"
        );
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = resolved(MINIMAL);
        assert_eq!(c.asns(), vec![26780]);
        assert_eq!(c.thresholds.min_duration, Secs(900));
        assert_eq!(c.thresholds.max_residual, Residual::Percent(5.0));
        assert_eq!(c.source.mode(), SourceMode::Mirror);
        assert_eq!(c.source.mirror, vec![PathBuf::from("/etc/cutoff/mrt")]);
        assert_eq!(
            c.state_dir(),
            Path::new("/home/op/.local/state/cutoff"),
            "state dir from $HOME"
        );
        assert_eq!(c.cache_dir(), Path::new("/home/op/.cache/cutoff"));
        assert_eq!(c.sinks.len(), 1);
        assert_eq!(c.sinks[0].name(), Some("stdout"));
        assert_eq!(
            c.entry(26780).map(|w| w.label()).as_deref(),
            Some("AS26780")
        );
    }

    #[test]
    fn systemd_directories_win() {
        let env = Env {
            state_directory: Some("/var/lib/cutoff:/var/lib/other".into()),
            cache_directory: Some("/var/cache/cutoff".into()),
            xdg_state_home: Some("/x".into()),
            home: Some("/h".into()),
            ..Env::default()
        };
        assert_eq!(env.state_dir(), Some(PathBuf::from("/var/lib/cutoff")));
        assert_eq!(env.cache_dir(), Some(PathBuf::from("/var/cache/cutoff")));
        let xdg = Env {
            xdg_state_home: Some("/x".into()),
            home: Some("/h".into()),
            ..Env::default()
        };
        assert_eq!(xdg.state_dir(), Some(PathBuf::from("/x/cutoff")));
    }

    #[test]
    fn unknown_keys_are_errors_with_line() {
        let e = MonitorConfig::parse("[[watch]]\nasn = 1\nlable = \"x\"\n").unwrap_err();
        assert!(e.contains("line 3"), "{e}");
        assert!(e.contains("lable"), "{e}");
        let e = MonitorConfig::parse(&format!("{MINIMAL}[thresholds]\nmin_duraton = \"1m\"\n"))
            .unwrap_err();
        assert!(e.contains("min_duraton"), "{e}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = MonitorConfig::parse(&format!("{MINIMAL}[thresholds]\nmax_residual = \"x\"\n"))
            .unwrap_err();
        assert!(e.contains("max_residual") && e.contains("line 6"), "{e}");
        let e =
            MonitorConfig::parse(&format!("{MINIMAL}[[sink]]\ntype = \"webhook\"\n")).unwrap_err();
        assert!(e.contains("sink[0] (webhook)"), "{e}");
        let e = MonitorConfig::parse(&format!(
            "{MINIMAL}[[sink]]\ntype = \"webhook\"\nurl = \"ftp://x\"\n"
        ))
        .unwrap_err();
        assert!(e.contains("not an http(s) URL"), "{e}");
        let e = MonitorConfig::parse("[[watch]]\nasn = 1\n[[watch]]\nasn = \"AS1\"\n").unwrap_err();
        assert!(e.contains("watch[1].asn"), "{e}");
        let e = MonitorConfig::parse("[[watch]]\nasn = 1\n").unwrap_err();
        assert!(e.contains("source"), "{e}");
        let e =
            MonitorConfig::parse(&format!("{MINIMAL}[[sink]]\ntype = \"pager\"\n")).unwrap_err();
        assert!(e.contains("pager"), "{e}");
    }

    #[test]
    fn values_in_every_spelling() {
        let c = resolved(
            "[[watch]]\nasn = \"AS26780\"\nsince = 2008-11-01\nuntil = \"2008-12-01T00:00:00Z\"\n\
             prefixes = [\"208.66.192.0/22\"]\n[source]\nmirror = [\"/m\"]\nstart = \"2008-11-10\"\n\
             [thresholds]\nmin_duration = 0\nmax_residual = 2\nrestore_fraction = 0.6\n",
        );
        let w = &c.watch[0];
        assert_eq!(
            w.since.map(|t| t.0.rfc3339()).as_deref(),
            Some("2008-11-01T00:00:00Z")
        );
        assert!(w.alerts_at(Timestamp::from_secs(1226440380)));
        assert!(!w.alerts_at(Timestamp::from_secs(1_000_000_000)));
        assert_eq!(c.thresholds.min_duration, Secs(0));
        assert_eq!(c.thresholds.max_residual, Residual::Peers(2));
        assert_eq!(c.thresholds.restore_fraction, Share(0.6));
        assert!(matches!(c.source.start, Start::At(_)));
    }

    #[test]
    fn repeated_sinks_are_numbered_and_names_unique() {
        let c = resolved(&format!(
            "{MINIMAL}[[sink]]\ntype = \"file\"\npath = \"a.jsonl\"\n[[sink]]\ntype = \"file\"\npath = \"/b.jsonl\"\n"
        ));
        let names: Vec<_> = c.sinks.iter().filter_map(|s| s.name()).collect();
        assert_eq!(names, vec!["file-1", "file-2"]);
        let SinkConfig::File(f) = &c.sinks[0] else {
            panic!("a file sink")
        };
        // Relative to the state directory (writable), not to /etc/cutoff (read-only under
        // the shipped unit); an absolute path stays as written.
        assert_eq!(
            f.path,
            PathBuf::from("/home/op/.local/state/cutoff/a.jsonl")
        );
        let SinkConfig::File(b) = &c.sinks[1] else {
            panic!("a file sink")
        };
        assert_eq!(b.path, PathBuf::from("/b.jsonl"));
        let mut dup = MonitorConfig::parse(&format!(
            "{MINIMAL}[[sink]]\ntype = \"stdout\"\nname = \"x\"\n[[sink]]\ntype = \"exec\"\nname = \"x\"\ncommand = [\"true\"]\n"
        ))
        .expect("parses");
        let e = dup
            .resolve(Path::new("/"), &Env::default())
            .expect_err("no state dir without env");
        assert!(e.contains("state_dir"), "{e}");
        dup.state_dir = Some("/s".into());
        dup.cache_dir = Some("/c".into());
        let e = dup.resolve(Path::new("/"), &Env::default()).unwrap_err();
        assert!(e.contains("used twice"), "{e}");
    }

    #[test]
    fn effective_config_round_trips() {
        let c = resolved(MINIMAL);
        let text = c.to_toml().expect("prints");
        let again = MonitorConfig::parse(&text).expect("the printed config parses");
        assert_eq!(again.to_toml().expect("prints"), text);
        assert!(text.contains("min_duration = \"15m\""), "{text}");
        assert!(text.contains("state_dir = "), "{text}");
    }

    #[test]
    fn example_parses() {
        let c = MonitorConfig::parse(EXAMPLE).unwrap_or_else(|e| panic!("example: {e}"));
        assert!(!c.watch.is_empty());
        // The example shows the defaults, not other values that look like them.
        assert_eq!(c.source.routeviews_url, default_routeviews_url());
        assert_eq!(c.source.ris_url, default_ris_url());
    }

    /// Every key the effective configuration can have (all sink types configured) is
    /// documented in the example, commented or not.
    #[test]
    fn example_documents_every_key() {
        let c = resolved(&format!(
            "{MINIMAL}[[watch]]\nasn = 1\nlabel = \"l\"\nsince = 0\nuntil = 1\n\
             [thresholds]\ntable_size = 5\n\
             [[sink]]\ntype = \"stdout\"\n[[sink]]\ntype = \"file\"\npath = \"f\"\n\
             [[sink]]\ntype = \"webhook\"\nurl = \"http://h/\"\nbearer_token_env = \"T\"\n\
             [[sink]]\ntype = \"slack\"\nurl_env = \"U\"\n\
             [[sink]]\ntype = \"exec\"\ncommand = [\"true\"]\n"
        ));
        let value: toml::Value = toml::from_str(&c.to_toml().expect("prints")).expect("TOML");
        let mut keys = BTreeSet::new();
        collect_keys(&value, &mut keys);
        keys.insert("url".into());
        keys.insert("url_env".into());
        keys.insert("mode".into());
        for k in keys {
            let documented = EXAMPLE
                .lines()
                .map(|l| l.trim_start_matches(['#', ' ']))
                .any(|l| {
                    l.starts_with(&format!("{k} ="))
                        || l.starts_with(&format!("[{k}]"))
                        || l.starts_with(&format!("[[{k}]]"))
                });
            assert!(
                documented,
                "key {k:?} is not documented in samples/monitor.example.toml"
            );
        }
        for kind in ["stdout", "file", "webhook", "slack", "exec"] {
            assert!(
                EXAMPLE.contains(&format!("type = \"{kind}\"")),
                "sink {kind} not in the example"
            );
        }
    }

    fn collect_keys(v: &toml::Value, out: &mut BTreeSet<String>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    out.insert(k.clone());
                    collect_keys(v, out);
                }
            }
            toml::Value::Array(a) => a.iter().for_each(|v| collect_keys(v, out)),
            _ => {}
        }
    }

    /// A duration too long to hold is refused, written as text or as seconds (it wrapped to a
    /// negative number before and acted as 0 s).
    #[test]
    fn durations_beyond_a_century_are_refused() {
        let base = "[[watch]]\nasn = 26780\n[source]\nmirror = [\"m\"]\n";
        for bad in [
            "ledger_keep = \"106751991167301d\"\n",
            "ledger_keep = 9223372036854775807\n",
        ] {
            let e = MonitorConfig::parse(&format!("{bad}{base}")).expect_err(bad);
            assert!(e.contains("at most 100 years"), "{e}");
        }
        assert!(MonitorConfig::parse(&format!("ledger_keep = \"3650d\"\n{base}")).is_ok());
    }

    #[test]
    fn webhook_retries_are_bounded() {
        let base = "[[watch]]\nasn = 26780\n[source]\nmirror = [\"m\"]\n[[sink]]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\n";
        let e =
            MonitorConfig::parse(&format!("{base}retries = 4294967295\n")).expect_err("too many");
        assert!(e.contains("retries") && e.contains("at most 10"), "{e}");
        assert!(MonitorConfig::parse(&format!("{base}retries = 10\n")).is_ok());
    }

    #[test]
    fn a_bad_excluded_peer_is_named_with_its_index() {
        let text = "[[watch]]\nasn = 26780\n[source]\nmirror = [\"m\"]\n\
                    [thresholds]\nexclude_peers = [\"AS3277\", \"nobody\"]\n";
        let e = MonitorConfig::parse(text).expect_err("bad peer");
        assert!(
            e.contains(
                "thresholds.exclude_peers[1]: \"nobody\" is neither an IP address nor an AS number"
            ),
            "{e}"
        );
    }
}
