//! How a scan's files become streams, and how the thread budget is shared among them.

use crate::files::{CollectorFiles, FileKind, MrtFile};

/// Split collectors into streams read in order by one thread each. Files named in the archive
/// way (`updates.20080224.0007`) follow each other in time: one stream. A file whose name
/// gives no time (a daemon's own dump file) may overlap the others, so it is a stream of its
/// own; all streams are merged by time.
pub(crate) fn lanes(collectors: &[CollectorFiles]) -> Vec<CollectorFiles> {
    let mut out = Vec::new();
    for c in collectors {
        let (timed, untimed): (Vec<&MrtFile>, Vec<&MrtFile>) =
            c.files.iter().partition(|f| f.start.is_some());
        if !timed.is_empty() {
            out.push(CollectorFiles {
                collector: c.collector.clone(),
                files: timed.into_iter().cloned().collect(),
            });
        }
        for f in untimed {
            out.push(CollectorFiles {
                collector: c.collector.clone(),
                files: vec![f.clone()],
            });
        }
    }
    out
}

/// Whether reading `file` puts helper threads to work: update files are decoded ahead, and a
/// large file is streamed with its bzip2 blocks decoded on the helpers' threads too. A file
/// not downloaded yet has no size: a RIB is large.
fn uses_helpers(file: &MrtFile) -> bool {
    use crate::parse::decode::PARALLEL_MIN;
    file.kind == FileKind::Updates
        || std::fs::metadata(&file.path)
            .map_or(file.kind == FileKind::Rib, |m| m.len() >= PARALLEL_MIN)
}

/// Share the decompression helpers among the streams that use them ([`uses_helpers`]), read at
/// the same time: each stream's own thread counts against the budget of `helpers + 1`, so two
/// collectors on two cores get no helper each (each parser decodes its own files) instead of
/// four threads contending for two cores.
pub(crate) fn helpers_per_lane(helpers: usize, lanes: &[CollectorFiles]) -> Vec<usize> {
    let decoding = |l: &CollectorFiles| l.files.iter().any(uses_helpers);
    let busy = lanes.iter().filter(|l| decoding(l)).count();
    let spare = (helpers + 1).saturating_sub(busy);
    let mut nth = 0;
    lanes
        .iter()
        .map(|l| {
            if !decoding(l) {
                return 0;
            }
            nth += 1;
            spare / busy + usize::from(nth <= spare % busy)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn lane(kinds: &[FileKind]) -> CollectorFiles {
        let collector = crate::model::CollectorId::new("c");
        CollectorFiles {
            collector: collector.clone(),
            files: kinds
                .iter()
                .map(|&kind| MrtFile {
                    path: PathBuf::from("f"),
                    collector: collector.clone(),
                    kind,
                    start: None,
                })
                .collect(),
        }
    }

    #[test]
    fn helpers_are_shared_so_no_more_threads_than_the_budget_decode() {
        use FileKind::{Rib, Unknown, Updates};
        let one = [lane(&[Rib, Updates, Updates])];
        assert_eq!(helpers_per_lane(1, &one), [1]);
        assert_eq!(helpers_per_lane(0, &one), [0]);
        let two = [lane(&[Rib, Updates]), lane(&[Updates])];
        assert_eq!(helpers_per_lane(1, &two), [0, 0]);
        assert_eq!(helpers_per_lane(3, &two), [1, 1]);
        // A small daemon dump decodes nothing ahead and takes no share; a RIB (here one not
        // downloaded yet) has its bzip2 blocks decoded on its share.
        let mixed = [
            lane(&[Updates]),
            lane(&[Unknown]),
            lane(&[Updates]),
            lane(&[Rib]),
            lane(&[Updates]),
        ];
        assert_eq!(helpers_per_lane(7, &mixed), [1, 0, 1, 1, 1]);
        assert_eq!(helpers_per_lane(8, &mixed), [2, 0, 1, 1, 1]);
        assert_eq!(helpers_per_lane(1, &[lane(&[Rib])]), [1]);
    }
}
