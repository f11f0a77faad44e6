//! AS names, so a reader sees "AS3549 (Global Crossing)": from a hand-made file
//! (`--as-names FILE`, read strictly) or from the public list `cutoff names fetch` keeps in the
//! cache (RIPE's `asn.txt`, read tolerantly), with where the names came from.
//!
//! Accepted lines, one AS each:
//! - `3549 Global Crossing` (a number, then the name);
//! - `AS3549   GBLX-US, US` (potaroo/RIPE `asn.txt`: `AS` prefix, name, trailing country code);
//! - `26780 MCCOLO - McColo Corporation, US` (RIPE's `asn.txt` today).
//!
//! A trailing `, CC` country code (two capital letters) is dropped: it is not part of the name.
//!
//! The cached list lives in `CACHE/names/`: the list as downloaded (`asn-<time>.txt`) and
//! `asn.json`, the record of which list is current, where and when it was fetched. The record
//! is written last, atomically, so it always names a whole, checked list; a failed fetch leaves
//! the previous list and record as they were.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct AsNames {
    names: BTreeMap<u32, String>,
    /// Where the names came from, in words for a report's provenance.
    source: Option<String>,
    /// From a registry's list as it is today (not a file chosen for the events' time).
    registry: bool,
}

/// Lines of a fetched list that were not `ASN NAME`: counted, a few kept for the message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BadLines {
    pub count: usize,
    /// The first few: (line number, problem).
    pub examples: Vec<(usize, String)>,
}

impl BadLines {
    const EXAMPLES: usize = 3;

    fn push(&mut self, line: usize, msg: String) {
        self.count += 1;
        if self.examples.len() < Self::EXAMPLES {
            self.examples.push((line, msg));
        }
    }

    /// `2 line(s) skipped (line 4: "x" is not an AS number; …)`, or empty.
    pub fn summary(&self) -> String {
        if self.count == 0 {
            return String::new();
        }
        let shown: Vec<String> = self
            .examples
            .iter()
            .map(|(l, m)| format!("line {l}: {m}"))
            .collect();
        format!(
            "{} line(s) skipped ({}{})",
            self.count,
            shown.join("; "),
            if self.count > shown.len() {
                "; …"
            } else {
                ""
            }
        )
    }
}

impl AsNames {
    /// A hand-made names file: every line must be a name (an error names the file and line).
    pub fn from_file(path: &Path) -> Result<AsNames, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let names = Self::parse(&text)
            .map_err(|(line, msg)| format!("{} line {line}: {msg}", path.display()))?;
        Ok(names.with_source(format!("{} (--as-names)", path.display())))
    }

    /// Parse the text of a names file; an error carries the line number.
    pub fn parse(text: &str) -> Result<AsNames, (usize, String)> {
        let mut names = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let (asn, name) = parse_line(line).map_err(|m| (i + 1, m))?;
            names.insert(asn, name);
        }
        Ok(AsNames {
            names,
            ..AsNames::default()
        })
    }

    /// A published list (RIPE's `asn.txt`): lines that are not `ASN NAME` are counted, not
    /// fatal (the list has over 100,000 lines written by many hands). Text that is not such a
    /// list at all (an HTML page, an empty answer, mostly bad lines) or that stops in the
    /// middle of a line (a cut download) is an error.
    pub fn parse_list(text: &str) -> Result<(AsNames, BadLines), String> {
        let start = text.trim_start();
        if start.starts_with('<') {
            return Err("an HTML page, not an AS-name list".into());
        }
        if start.is_empty() {
            return Err("empty: no AS names".into());
        }
        if !text.ends_with('\n') {
            return Err("stops in the middle of a line (a cut download?)".into());
        }
        let mut names = BTreeMap::new();
        let mut bad = BadLines::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            // Only whole-line comments: a `#` inside a registered name is part of it.
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match parse_line(line) {
                Ok((asn, name)) => {
                    names.insert(asn, name);
                }
                Err(m) => bad.push(i + 1, m),
            }
        }
        if bad.count > names.len() {
            return Err(format!(
                "not an AS-name list: {} line(s) are not `ASN NAME` against {} that are ({})",
                bad.count,
                names.len(),
                bad.summary()
            ));
        }
        Ok((
            AsNames {
                names,
                ..AsNames::default()
            },
            bad,
        ))
    }

    /// The same names, saying where they came from.
    pub fn with_source(mut self, source: String) -> AsNames {
        self.source = Some(source);
        self
    }

    /// The same names, from a registry's list as fetched (`record`): their date matters.
    pub fn with_registry_source(mut self, record: &ListRecord) -> AsNames {
        self.source = Some(record.describe());
        self.registry = true;
        self
    }

    /// Where the names came from (`samples/as-names.txt (--as-names)`, or the fetched list
    /// with its URL and date); `None` when there are none.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// From a registry's list as it was when fetched: the names are today's, and an AS may
    /// have been registered to someone else at the time of the events.
    pub fn from_registry(&self) -> bool {
        self.registry
    }

    pub fn insert(&mut self, asn: u32, name: &str) {
        self.names.insert(asn, name.to_string());
    }

    pub fn name(&self, asn: u32) -> Option<&str> {
        self.names.get(&asn).map(String::as_str)
    }

    /// `AS3549 (Global Crossing)`, or `AS3549` when the name is unknown.
    pub fn label(&self, asn: u32) -> String {
        match self.name(asn) {
            Some(n) => format!("AS{asn} ({n})"),
            None => format!("AS{asn}"),
        }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

fn parse_line(line: &str) -> Result<(u32, String), String> {
    let (first, rest) = line
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("{line:?}: expected an AS number and a name"))?;
    let digits = first
        .strip_prefix("AS")
        .or_else(|| first.strip_prefix("as"))
        .unwrap_or(first);
    let asn: u32 = digits
        .parse()
        .map_err(|_| format!("{first:?} is not an AS number (expected 3549 or AS3549)"))?;
    let name = strip_country(rest.trim());
    if name.is_empty() {
        return Err(format!("AS{asn} has no name"));
    }
    Ok((asn, name.to_string()))
}

/// `GBLX-US, US` → `GBLX-US`: asn.txt ends each name with the registry's country code.
fn strip_country(name: &str) -> &str {
    match name.rsplit_once(',') {
        Some((head, cc))
            if cc.trim().len() == 2 && cc.trim().chars().all(|c| c.is_ascii_uppercase()) =>
        {
            head.trim()
        }
        _ => name,
    }
}

/// The default list: RIPE NCC's names of every AS number (about 120,000 lines).
pub const DEFAULT_LIST_URL: &str = "https://ftp.ripe.net/ripe/asnames/asn.txt";

/// Which list is current in the cache, and where and when it was fetched (`names/asn.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListRecord {
    /// The list's file, in the same folder.
    pub file: String,
    pub url: String,
    /// When it was fetched (RFC 3339 UTC).
    pub fetched: String,
    /// The server's `Last-Modified`, when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    pub names: usize,
    pub bad_lines: usize,
    pub bytes: u64,
}

impl ListRecord {
    /// `asn.txt fetched 2026-11-30 12:26 UTC from URL (Last-Modified: …)`, for provenance.
    pub fn describe(&self) -> String {
        let name = self
            .url
            .rsplit('/')
            .find(|s| !s.is_empty())
            .unwrap_or("list");
        let fetched = chrono::DateTime::parse_from_rfc3339(&self.fetched)
            .map(|t| t.to_utc().format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|_| self.fetched.clone());
        let modified = self
            .last_modified
            .as_ref()
            .map(|m| format!(" (Last-Modified: {m})"))
            .unwrap_or_default();
        format!("{name} fetched {fetched} from {}{modified}", self.url)
    }
}

/// The current cached list: its names (with their source set), record and file.
#[derive(Debug, Clone)]
pub struct CachedList {
    pub names: AsNames,
    pub record: ListRecord,
    pub path: PathBuf,
}

/// `CACHE/names`.
pub fn cache_folder(cache: &Path) -> PathBuf {
    cache.join("names")
}

/// `CACHE/names/asn.json`.
pub fn record_path(cache: &Path) -> PathBuf {
    cache_folder(cache).join("asn.json")
}

/// Where a list fetched at `fetched_unix` is downloaded to: a name no file has yet (a second
/// fetch within the same second gets `-2`, …), so the current list is never written over.
pub fn new_list_path(cache: &Path, fetched_unix: i64) -> PathBuf {
    let t = chrono::DateTime::from_timestamp(fetched_unix, 0).unwrap_or_default();
    let stem = format!("asn-{}", t.format("%Y%m%dT%H%M%SZ"));
    let folder = cache_folder(cache);
    (1..)
        .map(|n| match n {
            1 => folder.join(format!("{stem}.txt")),
            n => folder.join(format!("{stem}-{n}.txt")),
        })
        .find(|p| !p.exists())
        // `find` on an endless range returns only once a free name is found.
        .unwrap_or_default()
}

/// The list the cache holds, if any. A record that names a missing or broken list is an
/// error naming the file (the caller decides whether that stops it).
pub fn load_cached(cache: &Path) -> Result<Option<CachedList>, String> {
    let rec_path = record_path(cache);
    let text = match std::fs::read_to_string(&rec_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: cannot read: {e}", rec_path.display())),
    };
    let record: ListRecord = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: not a record of a cached AS-name list: {e}",
            rec_path.display()
        )
    })?;
    let path = cache_folder(cache).join(&record.file);
    let (names, _) = read_list(&path)?;
    let names = names.with_registry_source(&record);
    Ok(Some(CachedList {
        names,
        record,
        path,
    }))
}

/// A list file, read tolerantly (invalid UTF-8 replaced, not fatal); errors name the file.
pub fn read_list(path: &Path) -> Result<(AsNames, BadLines), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    AsNames::parse_list(&String::from_utf8_lossy(&bytes))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Make the downloaded list at `list` (read and checked: `names`, `bad`) the current one:
/// write the record atomically, then remove older lists. On an error nothing current
/// changes; the caller removes the download.
pub fn commit(
    cache: &Path,
    list: &Path,
    (names, bad): (AsNames, BadLines),
    url: &str,
    fetched_unix: i64,
    last_modified: Option<String>,
) -> Result<(CachedList, BadLines), String> {
    let file = list
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("{}: not a file name", list.display()))?;
    let fetched = chrono::DateTime::from_timestamp(fetched_unix, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let record = ListRecord {
        file: file.clone(),
        url: url.to_string(),
        fetched,
        last_modified,
        names: names.len(),
        bad_lines: bad.count,
        bytes: std::fs::metadata(list).map_or(0, |m| m.len()),
    };
    // A struct of strings and numbers always serialises.
    let json = serde_json::to_string_pretty(&record).unwrap_or_default() + "\n";
    let rec_path = record_path(cache);
    write_atomically(&rec_path, json.as_bytes())
        .map_err(|e| format!("{}: cannot write: {e}", rec_path.display()))?;
    remove_other_lists(&cache_folder(cache), &file);
    let names = names.with_registry_source(&record);
    let path = list.to_path_buf();
    Ok((
        CachedList {
            names,
            record,
            path,
        },
        bad,
    ))
}

/// Temporary file, fsync, rename, fsync of the folder: the record is old or new, never half.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("json.partial");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Lists no record names any more (older fetches, downloads of failed or killed fetches).
fn remove_other_lists(dir: &Path, keep: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.map_while(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with("asn-") && name.contains(".txt");
        if ours && name != keep {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_asn_txt_styles() {
        let n = AsNames::parse(
            "# names\n3549 Global Crossing\nAS6939   HURRICANE - Hurricane Electric, Inc., US\n\n\
             1299 TELIANET TeliaSonera, SE # comment\n",
        )
        .expect("parses");
        assert_eq!(n.label(3549), "AS3549 (Global Crossing)");
        assert_eq!(n.name(6939), Some("HURRICANE - Hurricane Electric, Inc."));
        assert_eq!(n.name(1299), Some("TELIANET TeliaSonera"));
        assert_eq!(n.label(1), "AS1");
        assert_eq!(n.len(), 3);
    }

    #[test]
    fn bad_lines_name_the_line() {
        let (line, msg) = AsNames::parse("3549 Global Crossing\nGBLX 3549\n").expect_err("bad");
        assert_eq!(line, 2);
        assert!(msg.contains("\"GBLX\" is not an AS number"), "{msg}");
        let (line, msg) = AsNames::parse("\n\n3549\n").expect_err("no name");
        assert_eq!(line, 3);
        assert!(msg.contains("expected an AS number and a name"), "{msg}");
        let (_, msg) = AsNames::parse("99999999999 Big\n").expect_err("too big");
        assert!(msg.contains("not an AS number"), "{msg}");
    }

    #[test]
    fn a_published_list_counts_bad_lines() {
        let (n, bad) = AsNames::parse_list(
            "0 -Reserved AS-, ZZ\n26780 MCCOLO - McColo Corporation, US\n\
             6939 HURRICANE - Hurricane Electric LLC, US\ngarbage here\n\
             3549 LVLT-3549 #1 carrier, US\n42\n",
        )
        .expect("a list");
        assert_eq!(n.name(26780), Some("MCCOLO - McColo Corporation"));
        assert_eq!(n.name(3549), Some("LVLT-3549 #1 carrier"));
        assert_eq!(n.len(), 4);
        assert_eq!(bad.count, 2);
        assert_eq!(bad.examples[0].0, 4);
        assert!(
            bad.summary().starts_with("2 line(s) skipped (line 4:"),
            "{}",
            bad.summary()
        );
    }

    #[test]
    fn what_is_not_a_list_is_an_error() {
        let html = "<!DOCTYPE html>\n<html><body>Not Found</body></html>\n";
        let e = AsNames::parse_list(html).expect_err("html");
        assert!(e.contains("HTML page"), "{e}");
        let e = AsNames::parse_list("").expect_err("empty");
        assert!(e.contains("empty"), "{e}");
        let e = AsNames::parse_list("26780 MCCOLO - McColo Corporation, US\n6939 HURRI")
            .expect_err("cut");
        assert!(e.contains("middle of a line"), "{e}");
        let e = AsNames::parse_list("a b\nc d\n1 One\n").expect_err("mostly bad");
        assert!(e.contains("2 line(s) are not"), "{e}");
    }

    #[test]
    fn commit_keeps_one_current_list_and_its_record() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = dir.path();
        assert!(load_cached(cache).expect("no list is fine").is_none());
        let first = new_list_path(cache, 1_700_000_000);
        std::fs::create_dir_all(first.parent().expect("folder")).expect("mkdir");
        std::fs::write(&first, "26780 MCCOLO - McColo Corporation, US\n").expect("write");
        let read = read_list(&first).expect("a list");
        let (c, _) =
            commit(cache, &first, read, "http://x/asn.txt", 1_700_000_000, None).expect("ok");
        assert_eq!(c.record.names, 1);
        // The same second again: a new name, never the current list's.
        assert_ne!(new_list_path(cache, 1_700_000_000), first);
        let second = new_list_path(cache, 1_700_086_400);
        std::fs::write(&second, "6939 HURRICANE, US\n1 LVLT-1, US\n").expect("write");
        let lm = Some("Tue, 14 Nov 2023 00:00:00 GMT".to_string());
        let read = read_list(&second).expect("a list");
        commit(cache, &second, read, "http://x/asn.txt", 1_700_086_400, lm).expect("ok");
        assert!(!first.exists(), "the older list is removed");
        let c = load_cached(cache).expect("loads").expect("a list");
        assert_eq!(c.path, second);
        assert_eq!(c.names.name(6939), Some("HURRICANE"));
        assert_eq!(
            c.names.source(),
            Some(
                "asn.txt fetched 2023-11-15 22:13 UTC from http://x/asn.txt (Last-Modified: Tue, 14 Nov 2023 00:00:00 GMT)"
            )
        );
        // A record naming a list that is gone is an error naming the file.
        std::fs::remove_file(&second).expect("rm");
        let e = load_cached(cache).expect_err("gone");
        assert!(e.contains("asn-20231115T221320Z.txt: cannot read"), "{e}");
    }
}
