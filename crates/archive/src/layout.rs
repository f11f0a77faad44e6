//! The public archives: which collectors exist, where their files live, and which files cover a
//! time range (docs/METHOD.md §5).
//!
//! Files are found in the archive's own directory listings (one per month and kind), never by
//! computing names: 2008 RouteViews names drift (`updates.20080224.0007`, `.0022`, …) and
//! collectors have holes. Planning is pure: it takes listings already fetched (see
//! `source::fetch`) and gives an [`ArchivePlan`], which a test can also build by hand.

use chrono::{Datelike, TimeZone, Utc};
use cutoff_core::files::{CollectorFiles, FileKind, MrtFile, kind_and_time};
use cutoff_core::model::{CollectorId, Timestamp};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Which archive a collector's files live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Archive {
    RouteViews,
    Ris,
}

impl Archive {
    pub const fn default_root(self) -> &'static str {
        match self {
            Archive::RouteViews => "http://archive.routeviews.org",
            Archive::Ris => "https://data.ris.ripe.net",
        }
    }

    /// The cache folder of this archive; below it the archive's own layout.
    pub const fn cache_name(self) -> &'static str {
        match self {
            Archive::RouteViews => "routeviews",
            Archive::Ris => "ris",
        }
    }

    /// Seconds between update files when a listing is too short to tell.
    const fn nominal_update_secs(self) -> i64 {
        match self {
            Archive::RouteViews => 900,
            Archive::Ris => 300,
        }
    }
}

/// One collector of the catalog. Years are approximate (from the projects' public pages); the
/// archive's listings decide what exists.
#[derive(Debug, Clone, Serialize)]
pub struct CollectorInfo {
    pub name: &'static str,
    pub archive: Archive,
    pub location: &'static str,
    pub first_year: i32,
    /// Last year with data, for retired collectors.
    pub last_year: Option<i32>,
}

const fn rv(name: &'static str, location: &'static str, first_year: i32) -> CollectorInfo {
    CollectorInfo {
        name,
        archive: Archive::RouteViews,
        location,
        first_year,
        last_year: None,
    }
}

const fn ris(
    name: &'static str,
    location: &'static str,
    first_year: i32,
    last_year: Option<i32>,
) -> CollectorInfo {
    CollectorInfo {
        name,
        archive: Archive::Ris,
        location,
        first_year,
        last_year,
    }
}

/// The collectors `cutoff` knows. Other `route-views…` and `rrcNN` names are accepted too.
pub const CATALOG: &[CollectorInfo] = &[
    rv("route-views2", "Eugene, US (multihop)", 2001),
    rv("route-views3", "Eugene, US (multihop)", 2008),
    rv("route-views4", "Eugene, US (multihop)", 2013),
    rv("route-views6", "Eugene, US (multihop, IPv6)", 2008),
    rv("route-views.isc", "Palo Alto, US (PAIX)", 2003),
    rv("route-views.wide", "Tokyo, JP (DIX-IE)", 2003),
    rv("route-views.eqix", "Ashburn, US (Equinix)", 2004),
    rv("route-views.linx", "London, GB (LINX)", 2004),
    rv("route-views.kixp", "Nairobi, KE (KIXP)", 2005),
    rv("route-views.nwax", "Portland, US (NWAX)", 2008),
    rv("route-views.saopaulo", "São Paulo, BR (PTT)", 2011),
    rv("route-views.telxatl", "Atlanta, US (Telx)", 2011),
    rv("route-views.sydney", "Sydney, AU (Equinix)", 2012),
    rv("route-views.jinx", "Johannesburg, ZA (JINX)", 2012),
    rv("route-views.sg", "Singapore, SG (Equinix)", 2015),
    rv("route-views.perth", "Perth, AU (WAIX)", 2016),
    rv(
        "route-views.napafrica",
        "Johannesburg, ZA (NAPAfrica)",
        2017,
    ),
    rv("route-views.chicago", "Chicago, US (Equinix)", 2019),
    rv("route-views.amsix", "Amsterdam, NL (AMS-IX)", 2019),
    ris("rrc00", "Amsterdam, NL (multihop)", 1999, None),
    ris("rrc01", "London, GB (LINX, LONAP)", 2000, None),
    ris("rrc02", "Paris, FR (SFINX)", 2001, Some(2008)),
    ris("rrc03", "Amsterdam, NL (AMS-IX, NL-IX)", 2001, None),
    ris("rrc04", "Geneva, CH (CIXP)", 2001, None),
    ris("rrc05", "Vienna, AT (VIX)", 2001, None),
    ris("rrc06", "Otemachi, JP (DIX-IE, JPIX)", 2001, None),
    ris("rrc07", "Stockholm, SE (Netnod)", 2002, None),
    ris("rrc08", "San Jose, US (MAE-West)", 2002, Some(2004)),
    ris("rrc09", "Zurich, CH (TIX)", 2003, Some(2004)),
    ris("rrc10", "Milan, IT (MIX)", 2003, None),
    ris("rrc11", "New York, US (NYIIX)", 2004, None),
    ris("rrc12", "Frankfurt, DE (DE-CIX)", 2004, None),
    ris("rrc13", "Moscow, RU (MSK-IX)", 2005, None),
    ris("rrc14", "Palo Alto, US (PAIX)", 2004, None),
    ris("rrc15", "São Paulo, BR (PTTMetro)", 2006, None),
    ris("rrc16", "Miami, US (NOTA)", 2008, None),
    ris("rrc18", "Barcelona, ES (CATNIX)", 2015, None),
    ris("rrc19", "Johannesburg, ZA (NAPAfrica)", 2016, None),
    ris("rrc20", "Zurich, CH (SwissIX)", 2015, None),
    ris("rrc21", "Paris, FR (France-IX)", 2015, None),
    ris("rrc22", "Bucharest, RO (InterLAN)", 2015, None),
    ris("rrc23", "Singapore, SG (Equinix)", 2015, None),
    ris("rrc24", "Montevideo, UY (multihop, LACNIC)", 2016, None),
    ris("rrc25", "Amsterdam, NL (multihop)", 2019, None),
    ris("rrc26", "Dubai, AE (UAE-IX)", 2020, None),
];

/// Read when `--collector` is not given: the two oldest multihop collectors, one per archive
/// (both have files since 2001 and peers from every continent). Two keeps a week's fetch
/// polite (about 1,400 files).
pub const DEFAULT_COLLECTORS: &[&str] = &["route-views2", "rrc00"];

/// A collector to read from an archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Collector {
    pub name: String,
    pub archive: Archive,
}

impl Collector {
    /// A catalog name, or any `route-views…` / `rrcNN` name (the catalog may lag the archives).
    pub fn named(name: &str) -> Result<Self, String> {
        if let Some(info) = CATALOG.iter().find(|c| c.name == name) {
            return Ok(Collector {
                name: name.into(),
                archive: info.archive,
            });
        }
        let archive = if name.starts_with("route-views")
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b))
        {
            Archive::RouteViews
        } else if name.len() == 5
            && name.starts_with("rrc")
            && name[3..].bytes().all(|b| b.is_ascii_digit())
        {
            Archive::Ris
        } else {
            return Err(format!(
                "{name:?} is not a RouteViews or RIS collector (`cutoff collectors` lists them)"
            ));
        };
        Ok(Collector {
            name: name.into(),
            archive,
        })
    }

    pub fn info(&self) -> Option<&'static CollectorInfo> {
        CATALOG.iter().find(|c| c.name == self.name)
    }

    /// The collector's folder below the archive root (and the cache's archive folder):
    /// `bgpdata` for route-views2, `route-views.linx/bgpdata`, `rrc00`.
    pub fn root_dir(&self) -> String {
        match self.archive {
            Archive::Ris => self.name.clone(),
            Archive::RouteViews if self.name == "route-views2" => "bgpdata".into(),
            Archive::RouteViews => format!("{}/bgpdata", self.name),
        }
    }

    /// Folder of a month's listing below the archive root, `/`-terminated:
    /// `bgpdata/2008.11/UPDATES/` (route-views2 has no collector folder),
    /// `route-views.linx/bgpdata/2008.11/RIBS/`, `rrc00/2008.11/` (RIS lists both kinds together).
    pub fn month_dir(&self, month: Month, kind: FileKind) -> String {
        match self.archive {
            Archive::Ris => format!("{}/{month}/", self.name),
            Archive::RouteViews => {
                let folder = if kind == FileKind::Rib {
                    "RIBS"
                } else {
                    "UPDATES"
                };
                let prefix = if self.name == "route-views2" {
                    String::new()
                } else {
                    format!("{}/", self.name)
                };
                format!("{prefix}bgpdata/{month}/{folder}/")
            }
        }
    }
}

/// A calendar month (UTC), the unit of the archives' folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    pub fn of(t: Timestamp) -> Self {
        let d = t.to_datetime();
        Month {
            year: d.year(),
            month: d.month(),
        }
    }

    pub fn next(self) -> Self {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    pub fn prev(self) -> Self {
        if self.month == 1 {
            Month {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Month {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    pub fn start(self) -> Timestamp {
        let secs = Utc
            .with_ymd_and_hms(self.year, self.month, 1, 0, 0, 0)
            .single()
            .map_or(0, |d| d.timestamp());
        Timestamp::from_secs(secs)
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}.{:02}", self.year, self.month)
    }
}

/// Where archives are read from and cached.
#[derive(Debug, Clone)]
pub struct Layout {
    pub routeviews_root: String,
    pub ris_root: String,
    pub cache: PathBuf,
}

impl Layout {
    pub fn root(&self, archive: Archive) -> &str {
        let root = match archive {
            Archive::RouteViews => &self.routeviews_root,
            Archive::Ris => &self.ris_root,
        };
        root.trim_end_matches('/')
    }

    pub fn url(&self, archive: Archive, rel: &str) -> String {
        format!("{}/{rel}", self.root(archive))
    }

    /// The cache mirrors the archive: `routeviews/bgpdata/2008.11/UPDATES/…`, `ris/rrc00/2008.11/…`.
    pub fn cache_path(&self, archive: Archive, rel: &str) -> PathBuf {
        let mut p = self.cache.join(archive.cache_name());
        p.extend(rel.split('/').filter(|s| !s.is_empty()));
        p
    }

    /// The cached copy of a folder's listing (a dot file, so local discovery skips it).
    pub fn listing_cache(&self, archive: Archive, dir: &str) -> PathBuf {
        self.cache_path(archive, dir).join(".listing.html")
    }
}

/// One MRT file named in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingEntry {
    pub name: String,
    pub kind: FileKind,
    pub start: Timestamp,
}

/// The MRT files an autoindex page (Apache, nginx) links to. Everything else is ignored:
/// parent and sort links (`?C=N;O=D`), subfolders, checksums, READMEs, odd names.
pub fn parse_listing(html: &str) -> Vec<ListingEntry> {
    let mut out: Vec<ListingEntry> = hrefs(html).filter_map(entry_from_href).collect();
    out.sort_by(|a, b| (a.start, a.kind, &a.name).cmp(&(b.start, b.kind, &b.name)));
    out.dedup_by(|a, b| a.name == b.name);
    out
}

/// The same rule for names found in a local folder (offline, no cached listing).
pub fn entry_from_name(name: &str) -> Option<ListingEntry> {
    let lower = name.to_ascii_lowercase();
    let parts: Vec<&str> = lower.split('.').collect();
    // rib|bview|updates . YYYYMMDD . HHMM . bz2|gz, nothing else.
    let well_formed = parts.len() == 4
        && matches!(parts[0], "rib" | "bview" | "updates")
        && matches!(parts[3], "bz2" | "gz");
    if !well_formed {
        return None;
    }
    match kind_and_time(Path::new(name)) {
        (kind @ (FileKind::Rib | FileKind::Updates), Some(start)) => Some(ListingEntry {
            name: name.to_string(),
            kind,
            start,
        }),
        _ => None,
    }
}

fn entry_from_href(href: &str) -> Option<ListingEntry> {
    let href = href.split(['?', '#']).next()?;
    if href.is_empty() || href.ends_with('/') {
        return None;
    }
    let name = href.rsplit('/').next()?;
    entry_from_name(name)
}

/// Values of `href="…"` / `href='…'` attributes, in order.
fn hrefs(html: &str) -> impl Iterator<Item = &str> {
    let lower = html.to_ascii_lowercase();
    let mut starts = Vec::new();
    let mut from = 0;
    while let Some(i) = lower[from..].find("href=") {
        starts.push(from + i + 5);
        from += i + 5;
    }
    starts.into_iter().filter_map(move |i| {
        let rest = &html[i..];
        let quote = rest.chars().next()?;
        if quote == '"' || quote == '\'' {
            let end = rest[1..].find(quote)?;
            Some(&rest[1..1 + end])
        } else {
            let end = rest.find(|c: char| c.is_whitespace() || c == '>')?;
            Some(&rest[..end])
        }
    })
}

/// A listing to fetch: a month folder of one collector.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ListingKey {
    pub archive: Archive,
    /// Folder below the archive root, `/`-terminated.
    pub dir: String,
    /// The month the folder holds (its listing of the current month still grows).
    pub month: Month,
}

/// Listings fetched so far: entries, or why the listing could not be had.
pub type Listings = BTreeMap<ListingKey, Result<Vec<ListingEntry>, String>>;

/// One planned file, or a known gap in the archive (`missing`).
#[derive(Debug, Clone, Serialize)]
pub struct ArchiveFile {
    pub collector: String,
    /// The file's URL, or for a gap the listing that shows it.
    pub url: String,
    /// Where the file is (or will be) in the cache; for a gap, a name for it there.
    pub path: PathBuf,
    pub kind: FileKind,
    pub start: Timestamp,
    /// Known missing before any download: the listing failed, or it has a hole.
    pub missing: Option<String>,
}

/// One collector's files in the order they are read (RIB first), with its gaps in place.
#[derive(Debug, Clone, Serialize)]
pub struct CollectorPlan {
    pub collector: String,
    pub files: Vec<ArchiveFile>,
    /// No RIB at or before `from` was found: the baseline comes from announcements.
    pub without_rib: bool,
    /// Why no RIB could be looked for, when a RIB listing failed (RouteViews lists RIBs in a
    /// folder of their own; a mirror may not have it). Not a gap: without a RIB the baseline
    /// is partial, as with local files, and the update files are all there is to read.
    pub rib_listing_failed: Option<String>,
}

/// Which files of which collectors cover [from, to]: per collector, the RIB at or before
/// `from`, then every update file up to `to`.
#[derive(Debug, Clone, Serialize)]
pub struct ArchivePlan {
    pub from: Timestamp,
    pub to: Timestamp,
    pub collectors: Vec<CollectorPlan>,
}

impl ArchivePlan {
    /// The same files as local input for `scan` (paths in the cache).
    pub fn collector_files(&self) -> Vec<CollectorFiles> {
        self.collectors
            .iter()
            .map(|c| {
                let collector = CollectorId::new(&c.collector);
                CollectorFiles {
                    files: c
                        .files
                        .iter()
                        .map(|f| MrtFile {
                            path: f.path.clone(),
                            collector: collector.clone(),
                            kind: f.kind,
                            start: Some(f.start),
                        })
                        .collect(),
                    collector,
                }
            })
            .collect()
    }

    pub fn files(&self) -> impl Iterator<Item = &ArchiveFile> {
        self.collectors.iter().flat_map(|c| &c.files)
    }

    /// Files to download, across collectors in time order, so reading can start on the
    /// first ones while later ones download.
    pub fn downloads(&self) -> Vec<&ArchiveFile> {
        let mut out: Vec<&ArchiveFile> = self.files().filter(|f| f.missing.is_none()).collect();
        out.sort_by(|a, b| (a.start, a.kind, &a.collector).cmp(&(b.start, b.kind, &b.collector)));
        out
    }

    pub fn gaps(&self) -> impl Iterator<Item = &ArchiveFile> {
        self.files().filter(|f| f.missing.is_some())
    }
}

/// What planning needs next: listings not fetched yet, or the plan.
pub enum Planned {
    Need(Vec<ListingKey>),
    Done(ArchivePlan),
}

/// Plan [from, to] for `collectors` from the listings fetched so far. Call again after
/// fetching what it says it needs (the month before `from` is asked for only when `from`'s
/// month has no RIB early enough). `now` bounds the end of the span checked for holes.
pub fn plan(
    collectors: &[Collector],
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
    layout: &Layout,
    listings: &Listings,
) -> Planned {
    let mut need = Vec::new();
    let mut plans = Vec::new();
    for c in collectors {
        match plan_collector(c, from, to, now, layout, listings) {
            Ok(p) => plans.push(p),
            Err(keys) => need.extend(keys),
        }
    }
    if need.is_empty() {
        Planned::Done(ArchivePlan {
            from,
            to,
            collectors: plans,
        })
    } else {
        need.sort();
        need.dedup();
        Planned::Need(need)
    }
}

fn key(c: &Collector, month: Month, kind: FileKind) -> ListingKey {
    ListingKey {
        archive: c.archive,
        dir: c.month_dir(month, kind),
        month,
    }
}

/// Listings of the months of [from, to] for both kinds (what planning needs first).
pub fn first_listings(collectors: &[Collector], from: Timestamp, to: Timestamp) -> Vec<ListingKey> {
    let mut out = Vec::new();
    for c in collectors {
        let mut m = Month::of(from);
        while m <= Month::of(to) {
            out.push(key(c, m, FileKind::Rib));
            out.push(key(c, m, FileKind::Updates));
            m = m.next();
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Gaps found while planning, and the files.
struct Builder<'a> {
    c: &'a Collector,
    layout: &'a Layout,
    files: Vec<ArchiveFile>,
    /// Failed listings already reported (RIS lists both kinds in one folder: one gap).
    failed_listings: Vec<ListingKey>,
}

impl Builder<'_> {
    fn file(&mut self, k: &ListingKey, e: &ListingEntry) {
        let rel = format!("{}{}", k.dir, e.name);
        self.files.push(ArchiveFile {
            collector: self.c.name.clone(),
            url: self.layout.url(k.archive, &rel),
            path: self.layout.cache_path(k.archive, &rel),
            kind: e.kind,
            start: e.start,
            missing: None,
        });
    }

    /// A listing that could not be had, reported once from `start`.
    fn listing_gap(&mut self, k: &ListingKey, kind: FileKind, start: Timestamp, reason: &str) {
        if self.failed_listings.contains(k) {
            return;
        }
        self.failed_listings.push(k.clone());
        let reason = listing_problem(self.layout, k, reason);
        self.gap(k, kind, start, reason);
    }

    fn gap(&mut self, k: &ListingKey, kind: FileKind, start: Timestamp, reason: String) {
        let name = format!("(gap from {})", start.rfc3339());
        self.files.push(ArchiveFile {
            collector: self.c.name.clone(),
            url: self.layout.url(k.archive, &k.dir),
            path: self.layout.cache_path(k.archive, &k.dir).join(name),
            kind,
            start,
            missing: Some(reason),
        });
    }
}

fn plan_collector(
    c: &Collector,
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
    layout: &Layout,
    listings: &Listings,
) -> Result<CollectorPlan, Vec<ListingKey>> {
    let get = |k: &ListingKey| listings.get(k).ok_or_else(|| vec![k.clone()]);
    let mut b = Builder {
        c,
        layout,
        files: Vec::new(),
        failed_listings: Vec::new(),
    };
    let this_month = key(c, Month::of(from), FileKind::Rib);
    let mut rib_listing_failed = None;
    let mut note_failure = |k: &ListingKey, listing: &Result<Vec<ListingEntry>, String>| {
        if let Err(reason) = listing {
            rib_listing_failed.get_or_insert_with(|| listing_problem(layout, k, reason));
        }
    };
    note_failure(&this_month, get(&this_month)?);
    let rib = match find_rib(get(&this_month)?, from) {
        Some(e) => Some((this_month.clone(), e)),
        None => {
            // Early in a month the RIB at or before `from` is in the previous month's folder.
            let prev = key(c, Month::of(from).prev(), FileKind::Rib);
            note_failure(&prev, get(&prev)?);
            find_rib(get(&prev)?, from).map(|e| (prev, e))
        }
    };
    if let Some((k, e)) = &rib {
        b.file(k, e);
    }
    let span_start = rib.as_ref().map_or(from, |(_, e)| e.start);
    let updates = plan_updates(&mut b, span_start, to, now, listings)?;
    check_holes(&mut b, &updates, span_start, to.min(now));
    let mut files = b.files;
    // The update file that began before the RIB but runs past it is read right after the RIB:
    // its older messages only replay what the RIB already holds, its newer ones are needed.
    files.sort_by_key(|a| (a.start.max(span_start), a.kind, a.start));
    Ok(CollectorPlan {
        collector: c.name.clone(),
        files,
        without_rib: rib.is_none(),
        // Where one listing serves both kinds (RIS), its failure is the updates' gap already.
        rib_listing_failed: rib_listing_failed
            .filter(|_| rib.is_none() && !b.failed_listings.contains(&this_month)),
    })
}

/// `listing URL: reason`, naming the URL once.
fn listing_problem(layout: &Layout, k: &ListingKey, reason: &str) -> String {
    let url = layout.url(k.archive, &k.dir);
    if reason.starts_with(&url) {
        format!("listing {reason}")
    } else {
        format!("listing {url}: {reason}")
    }
}

/// The latest RIB at or before `t` in a listing (none if the listing failed).
fn find_rib(listing: &Result<Vec<ListingEntry>, String>, t: Timestamp) -> Option<ListingEntry> {
    listing
        .as_ref()
        .ok()?
        .iter()
        .filter(|e| e.kind == FileKind::Rib && e.start <= t)
        .max_by_key(|e| e.start)
        .cloned()
}

/// What the update listings cover: file starts, and stretches whose listing failed.
struct Coverage {
    starts: Vec<Timestamp>,
    failed: Vec<(Timestamp, Timestamp)>,
    interval: i64,
}

/// Add the update files from the one covering `span_start` (the RIB, or `from` when there is
/// no RIB; 2008 names drift, so it may begin a few minutes earlier, even in the month before)
/// up to `to`; a failed listing is a gap from where its month meets the span.
fn plan_updates(
    b: &mut Builder<'_>,
    span_start: Timestamp,
    to: Timestamp,
    now: Timestamp,
    listings: &Listings,
) -> Result<Coverage, Vec<ListingKey>> {
    let mut entries: Vec<(ListingKey, ListingEntry)> = Vec::new();
    let mut failed = Vec::new();
    let mut month = Month::of(span_start.plus_secs(-LOOKBACK_SECS));
    while month <= Month::of(to) {
        let k = key(b.c, month, FileKind::Updates);
        match listings.get(&k) {
            None => return Err(vec![k]),
            Some(Ok(list)) => entries.extend(
                list.iter()
                    .filter(|e| e.kind == FileKind::Updates)
                    .map(|e| (k.clone(), e.clone())),
            ),
            Some(Err(reason)) => {
                let begin = month.start().max(span_start);
                let end = month.next().start().min(to).min(now);
                failed.push((begin, month.next().start()));
                if begin < end {
                    b.listing_gap(&k, FileKind::Updates, begin, reason);
                }
            }
        }
        month = month.next();
    }
    // A file listed in two month folders is one file.
    entries.sort_by_key(|a| a.1.start);
    entries.dedup_by(|a, b| a.1.start == b.1.start);
    let interval = typical_interval(
        &entries.iter().map(|(_, e)| e.start).collect::<Vec<_>>(),
        b.c.archive.nominal_update_secs(),
    );
    let covers_or_follows = |t: Timestamp| t.plus_secs(interval.min(LOOKBACK_SECS)) > span_start;
    let mut starts = Vec::new();
    for (k, e) in entries
        .iter()
        .filter(|(_, e)| covers_or_follows(e.start) && e.start <= to)
    {
        b.file(k, e);
        starts.push(e.start);
    }
    Ok(Coverage {
        starts,
        failed,
        interval,
    })
}

/// How far before the span an update file may begin and still cover its start.
const LOOKBACK_SECS: i64 = 1800;

/// The median gap between consecutive update files (15 min at RouteViews, 5 at RIS, but some
/// collectors and years differ).
fn typical_interval(starts: &[Timestamp], nominal: i64) -> i64 {
    let mut diffs: Vec<i64> = starts
        .windows(2)
        .map(|w| w[1].secs - w[0].secs)
        .filter(|d| *d > 0)
        .collect();
    if diffs.len() < 3 {
        return nominal;
    }
    diffs.sort_unstable();
    diffs[diffs.len() / 2]
}

/// Stretches of [span_start, end] that no update file covers (a file covers one interval
/// from its start) and no failed listing already reports: each is a gap. Half an interval
/// of slack absorbs the drift of 2008 names.
fn check_holes(b: &mut Builder<'_>, cov: &Coverage, span_start: Timestamp, end: Timestamp) {
    let mut covered: Vec<(i64, i64)> = cov
        .starts
        .iter()
        .map(|s| (s.secs, s.secs + cov.interval))
        .chain(cov.failed.iter().map(|(a, z)| (a.secs, z.secs)))
        .collect();
    covered.sort_unstable();
    let slack = cov.interval / 2;
    let mut reached = span_start.secs;
    let mut holes = Vec::new();
    for (a, z) in covered {
        if a - reached > slack && a <= end.secs {
            holes.push((reached, a));
        }
        reached = reached.max(z);
    }
    if end.secs - reached > slack {
        holes.push((reached, end.secs));
    }
    for (a, z) in holes {
        let month = Month::of(Timestamp::from_secs(a));
        let k = key(b.c, month, FileKind::Updates);
        let reason = format!(
            "no update file from {} to {} in the archive listing {}",
            Timestamp::from_secs(a).rfc3339(),
            Timestamp::from_secs(z).rfc3339(),
            b.layout.url(k.archive, &k.dir)
        );
        b.gap(&k, FileKind::Updates, Timestamp::from_secs(a), reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        cutoff_core::units::parse_time(s).expect("test time")
    }

    fn layout() -> Layout {
        Layout {
            routeviews_root: "http://rv.example/".into(),
            ris_root: "https://ris.example".into(),
            cache: PathBuf::from("/cache"),
        }
    }

    const APACHE: &str = r#"<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">
<html><head><title>Index of /bgpdata/2008.02/UPDATES</title></head><body>
<h1>Index of /bgpdata/2008.02/UPDATES</h1><table>
<tr><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th></tr>
<tr><td><a href="/bgpdata/2008.02/">Parent Directory</a></td></tr>
<tr><td><a href="updates.20080224.0007.bz2">updates.20080224.0007.bz2</a></td><td align="right">24-Feb-2008 00:22  </td><td align="right">312K</td></tr>
<tr><td><a href='updates.20080224.0022.bz2'>updates.20080224.0022.bz2</a></td></tr>
<tr><td><a href=updates.20080224.0037.bz2>x</a></td></tr>
<tr><td><a href="updates.20080224.0037.bz2.md5">md5</a></td></tr>
<tr><td><a href="old/">old/</a></td><td><a href="README">README</a></td><td><a href="updates.2008xx24.0052.bz2">bad</a></td></tr>
<tr><td><A HREF="rib.20080224.0000.bz2">rib</A></td></tr>
</table></body></html>"#;

    #[test]
    fn apache_listing_keeps_only_mrt_files() {
        let e = parse_listing(APACHE);
        let names: Vec<&str> = e.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "rib.20080224.0000.bz2",
                "updates.20080224.0007.bz2",
                "updates.20080224.0022.bz2",
                "updates.20080224.0037.bz2"
            ]
        );
        assert_eq!(e[0].kind, FileKind::Rib);
        assert_eq!(e[1].start, t("2008-02-24T00:07:00Z"));
    }

    #[test]
    fn folders_follow_the_archives() {
        let m = Month::of(t("2008-11-11"));
        let c = |n: &str| Collector::named(n).expect("known");
        assert_eq!(
            c("route-views2").month_dir(m, FileKind::Updates),
            "bgpdata/2008.11/UPDATES/"
        );
        assert_eq!(
            c("route-views.linx").month_dir(m, FileKind::Rib),
            "route-views.linx/bgpdata/2008.11/RIBS/"
        );
        assert_eq!(c("rrc00").month_dir(m, FileKind::Rib), "rrc00/2008.11/");
        assert_eq!(
            layout().url(Archive::RouteViews, "bgpdata/2008.11/"),
            "http://rv.example/bgpdata/2008.11/"
        );
        assert!(Collector::named("rrc99").is_ok());
        assert!(Collector::named("linx").is_err());
        assert_eq!(Month::of(t("2008-01-05")).prev().to_string(), "2007.12");
    }

    fn entries(names: &[&str]) -> Result<Vec<ListingEntry>, String> {
        Ok(names.iter().filter_map(|n| entry_from_name(n)).collect())
    }

    fn run_plan(c: &Collector, from: &str, to: &str, listings: &Listings) -> Planned {
        plan(
            std::slice::from_ref(c),
            t(from),
            t(to),
            t("2030-01-01"),
            &layout(),
            listings,
        )
    }

    #[test]
    fn plan_takes_the_rib_at_or_before_from_and_reports_holes() {
        let c = Collector::named("route-views2").expect("known");
        let nov = Month::of(t("2008-11-01"));
        let mut l = Listings::new();
        // Early in the month: planning asks for October's RIBs.
        l.insert(
            key(&c, nov, FileKind::Rib),
            entries(&["rib.20081101.0200.bz2"]),
        );
        let upd = [
            "updates.20081031.2345.bz2",
            "updates.20081101.0000.bz2",
            "updates.20081101.0015.bz2",
            "updates.20081101.0030.bz2",
            // 0045 and 0100 are missing: a hole.
            "updates.20081101.0115.bz2",
            "updates.20081101.0130.bz2",
        ];
        l.insert(key(&c, nov, FileKind::Updates), entries(&upd));
        let Planned::Need(need) = run_plan(&c, "2008-11-01T00:30", "2008-11-01T01:45", &l) else {
            panic!("October's RIB listing is needed");
        };
        assert_eq!(need[0].dir, "bgpdata/2008.10/RIBS/");
        let oct = Month::of(t("2008-10-01"));
        l.insert(
            key(&c, oct, FileKind::Rib),
            entries(&["rib.20081031.2200.bz2"]),
        );
        l.insert(key(&c, oct, FileKind::Updates), entries(&upd[..1]));
        let Planned::Done(p) = run_plan(&c, "2008-11-01T00:30", "2008-11-01T01:45", &l) else {
            panic!("all listings are there");
        };
        let files = &p.collectors[0].files;
        assert_eq!(
            files[0].url,
            "http://rv.example/bgpdata/2008.10/RIBS/rib.20081031.2200.bz2"
        );
        // Oct 31 22:00–23:45 has no update file: a hole right after the RIB.
        let gaps: Vec<&ArchiveFile> = p.gaps().collect();
        assert_eq!(gaps.len(), 2, "{gaps:#?}");
        assert_eq!(gaps[0].start, t("2008-10-31T22:00:00Z"));
        assert_eq!(gaps[1].start, t("2008-11-01T00:45:00Z"));
        assert!(
            gaps[1]
                .missing
                .as_deref()
                .is_some_and(|m| m.contains("01:15"))
        );
        assert_eq!(p.downloads().len(), 7);
        assert_eq!(
            files.last().map(|f| f.path.clone()),
            Some(PathBuf::from(
                "/cache/routeviews/bgpdata/2008.11/UPDATES/updates.20081101.0130.bz2"
            ))
        );
    }

    #[test]
    fn the_update_file_running_past_the_rib_is_read_right_after_it() {
        let c = Collector::named("route-views2").expect("known");
        let feb = Month::of(t("2008-02-01"));
        let mut l = Listings::new();
        l.insert(
            key(&c, feb, FileKind::Rib),
            entries(&["rib.20080224.0000.bz2"]),
        );
        let upd = [
            "updates.20080223.2326.bz2",
            "updates.20080223.2341.bz2",
            "updates.20080223.2356.bz2",
            "updates.20080224.0011.bz2",
            "updates.20080224.0026.bz2",
        ];
        l.insert(key(&c, feb, FileKind::Updates), entries(&upd));
        let Planned::Done(p) = run_plan(&c, "2008-02-24T00:05", "2008-02-24T00:30", &l) else {
            panic!("February has it all");
        };
        let names: Vec<String> = p.collectors[0]
            .files
            .iter()
            .map(|f| f.url.rsplit('/').next().unwrap_or("").to_string())
            .collect();
        assert_eq!(
            names,
            [
                "rib.20080224.0000.bz2",
                "updates.20080223.2356.bz2",
                "updates.20080224.0011.bz2",
                "updates.20080224.0026.bz2"
            ]
        );
        assert_eq!(p.gaps().count(), 0);
    }

    #[test]
    fn a_failed_listing_is_one_gap_not_a_hole_too() {
        let c = Collector::named("rrc00").expect("known");
        let m = Month::of(t("2008-11-01"));
        let mut l = Listings::new();
        l.insert(key(&c, m, FileKind::Rib), Err("HTTP 404".into()));
        // No RIB in November: October is asked for, and has none either.
        l.insert(key(&c, m.prev(), FileKind::Rib), Ok(Vec::new()));
        let Planned::Done(p) = run_plan(&c, "2008-11-10", "2008-11-11", &l) else {
            panic!("one listing serves RIS");
        };
        let gaps: Vec<&ArchiveFile> = p.gaps().collect();
        assert_eq!(gaps.len(), 1, "{gaps:#?}");
        assert_eq!(gaps[0].start, t("2008-11-10"));
        assert!(p.collectors[0].without_rib);
        assert!(
            gaps.iter()
                .all(|g| g.url == "https://ris.example/rrc00/2008.11/")
        );
        assert!(p.downloads().is_empty());
        assert_eq!(p.collectors[0].rib_listing_failed, None, "the gap says it");
    }

    /// RouteViews lists RIBs in a folder of their own: when that listing fails there is no
    /// RIB to read, which is a partial baseline and a warning, not a gap.
    #[test]
    fn a_failed_ribs_listing_is_no_rib_not_a_gap() {
        let c = Collector::named("route-views2").expect("known");
        let feb = Month::of(t("2008-02-24"));
        let mut l = Listings::new();
        l.insert(
            key(&c, feb, FileKind::Rib),
            Err("not found (HTTP 404)".into()),
        );
        l.insert(key(&c, feb.prev(), FileKind::Rib), Ok(Vec::new()));
        l.insert(
            key(&c, feb, FileKind::Updates),
            entries(&["updates.20080224.1807.bz2", "updates.20080224.1824.bz2"]),
        );
        let Planned::Done(p) = run_plan(&c, "2008-02-24T18:10", "2008-02-24T18:30", &l) else {
            panic!("the listings are all there");
        };
        assert_eq!(p.gaps().count(), 0, "{:#?}", p.gaps().collect::<Vec<_>>());
        assert_eq!(p.downloads().len(), 2);
        let cp = &p.collectors[0];
        assert!(cp.without_rib);
        assert_eq!(
            cp.rib_listing_failed.as_deref(),
            Some("listing http://rv.example/bgpdata/2008.02/RIBS/: not found (HTTP 404)")
        );
    }
}
