//! A planned scan cut into partitions for scale-out (`cutoff plan`): per collector, stretches
//! of its planned files, each read on its own (`cutoff scan --partition`) into a partial.
//!
//! Cuts fall between update files, at multiples of the stretch length since the Unix epoch
//! (so two plans of overlapping ranges cut alike); the RIB at the start goes with the first
//! stretch, and a gap stays where it falls. Files are named by URL and by their place in the
//! cache relative to its root, so a worker with a cache of its own downloads them there.

use crate::layout::{ArchiveFile, ArchivePlan, CollectorPlan};
use cutoff_core::files::FileKind;
use cutoff_core::model::Timestamp;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One partition: one collector's files for a stretch of the scan's range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partition {
    /// `COLLECTOR.NNNN`, in reading order.
    pub id: String,
    pub collector: String,
    /// The stretch of time whose update files it holds (the RIB may be older).
    pub from: Timestamp,
    pub to: Timestamp,
    /// Whether the collector had no RIB at or before the scan's start (only the first
    /// partition of a collector can hold one).
    pub without_rib: bool,
    pub files: Vec<PartitionFile>,
    /// Set by a driver for a partition that could not be read (every try failed): why.
    /// `cutoff merge --failed` makes its files named gaps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionFile {
    pub url: String,
    /// Where it goes in the cache, relative to the cache's root.
    pub cache_path: PathBuf,
    pub kind: FileKind,
    pub start: Timestamp,
    /// Known missing when planned (a listing failed or has a hole): a gap.
    pub missing: Option<String>,
}

/// Cut a plan into partitions of `every` seconds of update files per collector. Paths are made
/// relative to `cache_root` (where the plan put them).
pub fn partitions(plan: &ArchivePlan, every: i64, cache_root: &Path) -> Vec<Partition> {
    let every = every.max(1);
    let mut out = Vec::new();
    for c in &plan.collectors {
        // (slot, files); a RIB has no slot of its own and joins the piece it is read with.
        let mut pieces: Vec<(Option<i64>, Vec<&ArchiveFile>)> = Vec::new();
        for f in &c.files {
            let slot = (f.kind != FileKind::Rib).then(|| f.start.secs.div_euclid(every));
            match pieces.last_mut() {
                Some((s, files)) if slot.is_none() || s.is_none() || *s == slot => {
                    if s.is_none() {
                        *s = slot;
                    }
                    files.push(f);
                }
                _ => pieces.push((slot, vec![f])),
            }
        }
        let last = pieces.len().saturating_sub(1);
        for (i, (slot, files)) in pieces.into_iter().enumerate() {
            // The first stretch starts with the range, the last ends with it.
            let from = match slot {
                Some(s) if i > 0 => Timestamp::from_secs(s * every),
                _ => plan.from,
            };
            let to = match slot {
                Some(s) if i < last => Timestamp::from_secs((s + 1) * every - 1),
                _ => plan.to,
            };
            out.push(Partition {
                id: format!("{}.{i:04}", c.collector),
                collector: c.collector.clone(),
                from,
                to,
                without_rib: c.without_rib,
                files: files.into_iter().map(|f| file(f, cache_root)).collect(),
                failed: None,
            });
        }
    }
    out
}

fn file(f: &ArchiveFile, cache_root: &Path) -> PartitionFile {
    PartitionFile {
        url: f.url.clone(),
        cache_path: f
            .path
            .strip_prefix(cache_root)
            .unwrap_or(&f.path)
            .to_path_buf(),
        kind: f.kind,
        start: f.start,
        missing: f.missing.clone(),
    }
}

impl Partition {
    /// The partition as a plan to download and read, into the cache at `cache_root`, for the
    /// scan's range.
    pub fn plan(&self, cache_root: &Path, from: Timestamp, to: Timestamp) -> ArchivePlan {
        ArchivePlan {
            from,
            to,
            collectors: vec![CollectorPlan {
                collector: self.collector.clone(),
                files: self
                    .files
                    .iter()
                    .map(|f| ArchiveFile {
                        collector: self.collector.clone(),
                        url: f.url.clone(),
                        path: cache_root.join(&f.cache_path),
                        kind: f.kind,
                        start: f.start,
                        missing: f.missing.clone(),
                    })
                    .collect(),
                without_rib: self.without_rib,
                rib_listing_failed: None,
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(kind: FileKind, secs: i64) -> ArchiveFile {
        ArchiveFile {
            collector: "route-views2".into(),
            url: format!("http://a/{secs}"),
            path: PathBuf::from(format!("/cache/routeviews/{secs}")),
            kind,
            start: Timestamp::from_secs(secs),
            missing: None,
        }
    }

    fn plan(files: Vec<ArchiveFile>) -> ArchivePlan {
        ArchivePlan {
            from: Timestamp::from_secs(3600),
            to: Timestamp::from_secs(4 * 3600),
            collectors: vec![CollectorPlan {
                collector: "route-views2".into(),
                files,
                without_rib: false,
                rib_listing_failed: None,
            }],
        }
    }

    #[test]
    fn the_rib_goes_with_the_first_stretch_and_cuts_fall_on_the_hour() {
        let mut files = vec![f(FileKind::Rib, 0)];
        files.extend((4..16).map(|q| f(FileKind::Updates, q * 900)));
        let parts = partitions(&plan(files), 3600, Path::new("/cache"));
        let starts: Vec<Vec<i64>> = parts
            .iter()
            .map(|p| p.files.iter().map(|f| f.start.secs).collect())
            .collect();
        assert_eq!(
            starts,
            vec![
                vec![0, 3600, 4500, 5400, 6300],
                vec![7200, 8100, 9000, 9900],
                vec![10800, 11700, 12600, 13500],
            ]
        );
        assert_eq!(parts[0].files[0].cache_path, PathBuf::from("routeviews/0"));
        assert_eq!(parts[1].id, "route-views2.0001");
        assert_eq!((parts[1].from.secs, parts[1].to.secs), (7200, 10799));
        assert_eq!(parts[2].to.secs, 4 * 3600, "the last ends with the range");
    }

    #[test]
    fn a_partition_plans_its_files_into_another_cache() {
        let parts = partitions(
            &plan(vec![f(FileKind::Rib, 0), f(FileKind::Updates, 3600)]),
            3600,
            Path::new("/cache"),
        );
        let p = parts[0].plan(
            Path::new("/worker"),
            Timestamp::from_secs(1),
            Timestamp::from_secs(2),
        );
        let paths: Vec<&Path> = p.files().map(|f| f.path.as_path()).collect();
        assert_eq!(
            paths,
            [
                Path::new("/worker/routeviews/0"),
                Path::new("/worker/routeviews/3600")
            ]
        );
        let line = serde_json::to_string(&parts[0]).expect("serialises");
        let back: Partition = serde_json::from_str(&line).expect("reads back");
        assert_eq!(back, parts[0]);
    }
}
