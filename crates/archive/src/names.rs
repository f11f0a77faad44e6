//! `cutoff names fetch`: a public AS-name list (RIPE's `asn.txt`) into the cache, with the
//! archive files' downloader (retries, limits, `.partial` files renamed into place), checked
//! before it replaces the list cached before. The list's format and the cache record are
//! `cutoff_core::asnames`.

use crate::fetch::Fetcher;
use crate::options::ArchiveOptions;
use cutoff_core::asnames::{self, AsNames, BadLines, CachedList};
use cutoff_core::error::UsageError;
use std::path::Path;

/// RIPE's list is about 5 MiB; anything far larger is not it (and must not fill the disk).
pub const DEFAULT_MAX_LIST_SIZE: u64 = 64 << 20;

/// What a fetch stored.
#[derive(Debug)]
pub struct Stored {
    pub list: CachedList,
    pub bad: BadLines,
}

/// Download `url` into the cache `options` name, check it is an AS-name list, and make it the
/// current one. A list with less than half the names of the one cached before is refused
/// unless `force` (registries do not halve: it is a cut or wrong answer). Every error names
/// the URL and says the list cached before (if any) is kept.
pub fn fetch_list(
    options: &ArchiveOptions,
    url: &str,
    force: bool,
) -> Result<Stored, anyhow::Error> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {}
        _ => return Err(UsageError::Invalid(format!("{url:?} is not an http(s) URL")).into()),
    }
    let cache = options.cache_root()?;
    let mut cfg = options.fetch_config()?;
    if options.max_file_size.is_none() {
        cfg.max_file_size = DEFAULT_MAX_LIST_SIZE;
    }
    let fetcher = Fetcher::new(cfg).map_err(UsageError::Invalid)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| UsageError::Invalid(format!("cannot start the downloader: {e}")))?;
    let now = chrono::Utc::now().timestamp();
    let dest = asnames::new_list_path(&cache, now);
    // A leftover partial download under this new name is not of this list: not resumable.
    let _ = std::fs::remove_file(crate::fetch::partial_path(&dest));
    let result = rt
        .block_on(fetcher.file_dated(url, &dest))
        .and_then(|(_, modified)| store(&cache, &dest, url, now, modified, force));
    result.map_err(|e| {
        let _ = std::fs::remove_file(&dest);
        let _ = std::fs::remove_file(crate::fetch::partial_path(&dest));
        anyhow::anyhow!("{e}{}", kept(&cache))
    })
}

/// Check the download and make it current.
fn store(
    cache: &Path,
    dest: &Path,
    url: &str,
    now: i64,
    modified: Option<String>,
    force: bool,
) -> Result<Stored, String> {
    let bytes = std::fs::read(dest).map_err(|e| format!("{}: cannot read: {e}", dest.display()))?;
    let parsed =
        AsNames::parse_list(&String::from_utf8_lossy(&bytes)).map_err(|e| format!("{url}: {e}"))?;
    if !force {
        check_not_much_smaller(cache, url, parsed.0.len())?;
    }
    let (list, bad) = asnames::commit(cache, dest, parsed, url, now, modified)?;
    Ok(Stored { list, bad })
}

/// A new list with under half the names of the current one is refused (`--force` takes it).
fn check_not_much_smaller(cache: &Path, url: &str, names: usize) -> Result<(), String> {
    // The record alone says how many names the current list has: no need to read it.
    let Some(before) = std::fs::read_to_string(asnames::record_path(cache))
        .ok()
        .and_then(|t| serde_json::from_str::<asnames::ListRecord>(&t).ok())
    else {
        return Ok(());
    };
    if names * 2 >= before.names {
        return Ok(());
    }
    Err(format!(
        "{url}: only {names} name(s), against {} in the list cached before: a cut or wrong answer? Not replacing it (--force does)",
        before.names
    ))
}

/// "; the list cached before (asn.txt fetched …) is kept", or that there is none.
fn kept(cache: &Path) -> String {
    match asnames::load_cached(cache) {
        Ok(Some(c)) => format!("; the list cached before ({}) is kept", c.record.describe()),
        Ok(None) => format!(
            "; no AS-name list is cached in {}",
            asnames::cache_folder(cache).display()
        ),
        Err(e) => format!("; the list cached before cannot be read either: {e}"),
    }
}
