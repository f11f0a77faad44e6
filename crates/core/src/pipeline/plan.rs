//! What a scan is told to do: the watched ASes, the files, the rules, the threads. Built by
//! the `cutoff` binary from flags, by the monitor from its configuration, or by library users
//! with [`ScanPlan::new`].

use crate::detect::DetectRules;
use crate::error::UsageError;
use crate::files::CollectorFiles;
use crate::model::{Prefix, Timestamp};
use crate::parse::ahead::Gate;
use crate::state::{DEFAULT_YEAR, EligibilityRules, typical_table_size};
use crate::units::parse_asn;
use std::sync::Arc;
use std::thread;

/// Everything a scan needs, validated.
#[derive(Clone)]
pub struct ScanPlan {
    pub asns: Vec<u32>,
    pub prefixes: Vec<Prefix>,
    pub collectors: Vec<CollectorFiles>,
    pub eligibility: EligibilityRules,
    pub detect: DetectRules,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Threads decompressing update files beside the streams' parsers, shared among the
    /// streams; 0 = each parser decompresses its files itself.
    pub helpers: usize,
    /// Decompressed bytes of one update file held in memory; a file expanding further is
    /// streamed, so a decompression bomb costs time, not memory.
    pub max_decoded: u64,
    /// Record visibility over time (`cutoff timeline`, reports).
    pub timeline: bool,
    /// Archive input: readers wait for each file's download (or its failure) before reading.
    pub downloads: Option<Arc<dyn Gate>>,
    /// Counts the files read so far, for a progress display.
    pub files_done: Option<Arc<std::sync::atomic::AtomicUsize>>,
}

impl std::fmt::Debug for ScanPlan {
    // By hand: the download gate is a trait object with nothing to show but its presence.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanPlan")
            .field("asns", &self.asns)
            .field("prefixes", &self.prefixes)
            .field("collectors", &self.collectors)
            .field("eligibility", &self.eligibility)
            .field("detect", &self.detect)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("helpers", &self.helpers)
            .field("max_decoded", &self.max_decoded)
            .field("timeline", &self.timeline)
            .field("downloads", &self.downloads.is_some())
            .field("files_done", &self.files_done)
            .finish()
    }
}

impl ScanPlan {
    /// A scan of `asns` over these files with every default rule (the same values as the
    /// `cutoff scan` flags' defaults), the assumed table size of the first file's year, and
    /// the default threads: what `cutoff scan --asn A … PATH …` does.
    pub fn new(asns: &[u32], collectors: Vec<CollectorFiles>) -> Self {
        let mut asns = asns.to_vec();
        asns.sort_unstable();
        asns.dedup();
        let year = first_file_year(&collectors).unwrap_or(DEFAULT_YEAR);
        ScanPlan {
            asns,
            prefixes: Vec::new(),
            collectors,
            eligibility: EligibilityRules {
                assumed_table_size: typical_table_size(year),
                ..EligibilityRules::default()
            },
            detect: DetectRules::default(),
            from: None,
            to: None,
            helpers: default_helpers(),
            max_decoded: crate::parse::decode::DEFAULT_MAX_DECODED,
            timeline: false,
            downloads: None,
            files_done: None,
        }
    }
}

/// Excluded peers as written (`62.72.136.2`, `AS3277`), split into AS numbers and IPs with
/// `parse_asn`; the index of the first entry that is neither comes back as the error.
pub fn split_peers(
    peers: &[String],
    parse_asn: fn(&str) -> Option<u32>,
) -> Result<(Vec<u32>, Vec<std::net::IpAddr>), usize> {
    let mut asns = Vec::new();
    let mut ips = Vec::new();
    for (i, p) in peers.iter().enumerate() {
        if let Ok(ip) = p.parse() {
            ips.push(ip);
        } else if let Some(a) = parse_asn(p) {
            asns.push(a);
        } else {
            return Err(i);
        }
    }
    Ok((asns, ips))
}

/// Decompression helpers by default: one per core beside a parser's, which decompresses too
/// when it would otherwise wait. More only adds contention: on the 2-core bench machine a third
/// decoder took about 30% more CPU for the 2008-02-24 day.
pub fn default_helpers() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get()) - 1
}

/// The year the earliest dated file starts in: it sets the table size assumed without a RIB.
pub fn first_file_year(collectors: &[CollectorFiles]) -> Option<i32> {
    collectors
        .iter()
        .flat_map(|c| c.files.iter().filter_map(|f| f.start))
        .min()
        .map(year_of)
}

pub fn year_of(t: Timestamp) -> i32 {
    chrono::Datelike::year(&t.to_datetime())
}

pub fn read_watchlist(path: &std::path::Path) -> Result<(Vec<u32>, Vec<Prefix>), UsageError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError::Invalid(format!("{}: {e}", path.display())))?;
    let mut asns = Vec::new();
    let mut prefixes = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let word = line.split_whitespace().next().unwrap_or("");
        if let Ok(p) = word.parse::<Prefix>() {
            prefixes.push(p);
        } else if let Some(a) = parse_asn(word) {
            asns.push(a);
        } else {
            return Err(UsageError::Invalid(format!(
                "{} line {}: {word:?} is neither an AS number nor a prefix",
                path.display(),
                i + 1
            )));
        }
    }
    Ok((asns, prefixes))
}
