//! A scan in pieces: each partition of the input is read on its own into [`Segment`]s (what
//! its streams' readers sent, filtered to the watched ASes), and [`merge`] runs state and
//! detection over the union, giving exactly what one scan of all the files gives.
//!
//! Exactness needs three things a reader carries from one file to the next to be carried
//! across partitions too, and the merge does it:
//! - **Per-minute counters.** A stream counts each minute once, wherever files are cut. A
//!   segment keeps every rise of its minute ([`MinuteMark`]) with the counts it closed, and
//!   its last minute open ([`Segment::tail`]); the merge replays the counters as one stream.
//! - **Holes between update files** are found on the union of a collector's files (a hole
//!   can lie between two partitions); segments are read without looking for them.
//! - **Learned prefixes.** A withdrawal names no origin, so a stream keeps one only for a
//!   prefix it already saw a watched AS originate. A partition read on its own does not know
//!   what the partitions before it learned; each segment says what it watched from its start
//!   and what it learned, and the merge checks that every segment started from exactly what a
//!   single scan would have known there. Where not, it names the partitions to read again and
//!   the prefixes to give them ([`MergeError::Reread`]); a second round always suffices, since
//!   what a file teaches does not depend on what the reader knew.

use super::lanes;
use super::plan::{ScanPlan, first_file_year, year_of};
use super::reader::{self, Captured, LaneOptions, activity_messages, minute_end};
use super::{Fed, Pipeline, ScanOutcome};
use crate::files::{CollectorFiles, FileKind, MISSING_PROBLEM, MrtFile, mark_holes};
use crate::model::{CollectorId, Prefix, Timestamp};
use crate::parse::FileStats;
use crate::parse::ahead::Gate;
use crate::state::{DEFAULT_YEAR, Msg, typical_table_size};
use crate::summary::FileReport;
use crate::watch::Watch;
use crossbeam_channel::bounded;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;

/// One peer's counters in one minute: ((peer IP, peer ASN), (messages, withdrawals)).
pub type PeerCount = ((IpAddr, u32), (u32, u32));

/// The stream's minute rose (or was first set) here: before the message at `at` (a place in
/// the segment's stream), while reading file `file` of the segment. `counts` are those of
/// the minute it closed.
#[derive(Debug, Clone, PartialEq)]
pub struct MinuteMark {
    pub file: u32,
    pub at: usize,
    pub minute: i64,
    pub counts: Vec<PeerCount>,
}

/// One file of a segment, as read.
#[derive(Debug, Clone)]
pub struct SegmentFile {
    pub path: String,
    pub kind: FileKind,
    pub start: Option<Timestamp>,
    pub stats: FileStats,
    /// The place in the segment's stream after this file's last message.
    pub messages_end: usize,
}

/// What one stream of one partition's reading sent, in the form a merge can join to the
/// segments before and after it.
#[derive(Debug, Clone)]
pub struct Segment {
    pub collector: String,
    /// Files named with a time follow each other in one stream; a file without is a stream
    /// of its own (see [`lanes::lanes`]).
    pub timed: bool,
    pub files: Vec<SegmentFile>,
    /// The stream, without per-minute counters; `file` fields count files of this segment.
    pub messages: Vec<Msg>,
    pub marks: Vec<MinuteMark>,
    /// Counters of the last minute, left open.
    pub tail: Vec<PeerCount>,
    /// The prefixes the reader watched from its first record.
    pub watched_from_start: Vec<Prefix>,
    /// Prefixes seen originated by a watched AS.
    pub learned: Vec<Prefix>,
    /// False for a partition that could not be read at all ([`unread_segment`]): its files
    /// are gaps, and what it watched is not checked.
    pub read: bool,
}

/// The segment of a partition that could not be read (a cluster task that failed on every
/// try): each file a gap for `problem`, as a scan reads a file it could not download.
pub fn unread_segment(
    collector: &str,
    files: Vec<(String, FileKind, Timestamp)>,
    problem: &str,
) -> Segment {
    let id = CollectorId::new(collector);
    let mut messages = Vec::new();
    let files = files
        .into_iter()
        .map(|(path, kind, start)| {
            messages.push(Msg::Gap {
                time: start,
                collector: id.clone(),
                reason: problem.to_string(),
                // A RIB that could not be read is dropped; missing updates are a hole.
                hole: kind != FileKind::Rib,
            });
            SegmentFile {
                path,
                kind,
                start: Some(start),
                stats: FileStats::failed(problem.to_string()),
                messages_end: messages.len(),
            }
        })
        .collect();
    Segment {
        collector: collector.to_string(),
        timed: true,
        files,
        messages,
        marks: Vec::new(),
        tail: Vec::new(),
        watched_from_start: Vec::new(),
        learned: Vec::new(),
        read: false,
    }
}

/// Read the plan's files as a partition: one segment per stream, nothing judged. `known`
/// prefixes are watched from the start besides the plan's (what earlier partitions learned).
pub fn capture(plan: &ScanPlan, known: &[Prefix]) -> Vec<Segment> {
    let mut watch = Watch::new(
        plan.asns.iter().copied(),
        plan.prefixes.iter().chain(known).copied(),
    );
    let gate: Arc<dyn Gate> = plan
        .downloads
        .clone()
        .unwrap_or_else(|| Arc::new(crate::parse::ahead::Local));
    for c in &plan.collectors {
        if c.files.iter().any(|f| f.start.is_none()) {
            reader::learn_prefixes(&c.files, &mut watch, &*gate);
        }
    }
    let watched_from_start = watch.prefixes();
    let lanes = lanes::lanes(&plan.collectors);
    let helpers = lanes::helpers_per_lane(plan.helpers, &lanes);
    thread::scope(|scope| {
        let handles: Vec<_> = lanes
            .iter()
            .zip(helpers)
            .map(|(group, helpers)| {
                // Nothing is sent: the stream is kept. The receiver goes unused.
                let (tx, _) = bounded::<Vec<Msg>>(1);
                let watch = watch.clone();
                let gate = Arc::clone(&gate);
                let options = LaneOptions {
                    helpers,
                    max_decoded: plan.max_decoded,
                    done: plan.files_done.clone(),
                    capture: true,
                };
                scope.spawn(move || reader::read_collector(group, 0, watch, tx, options, gate))
            })
            .collect();
        handles
            .into_iter()
            .zip(&lanes)
            .map(|(h, lane)| {
                let (reports, captured) = match h.join() {
                    Ok(done) => done,
                    // A bug, not bad input: the files are named as unread, not lost.
                    Err(_) => (unread(lane), None),
                };
                segment(
                    lane,
                    reports,
                    captured.unwrap_or_default(),
                    &watched_from_start,
                )
            })
            .collect()
    })
}

fn unread(lane: &CollectorFiles) -> Vec<FileReport> {
    lane.files
        .iter()
        .map(|f| FileReport {
            path: f.path.display().to_string(),
            collector: lane.collector.to_string(),
            kind: f.kind,
            stats: FileStats::failed("internal error: reader thread failed".into()),
        })
        .collect()
}

fn segment(
    lane: &CollectorFiles,
    reports: Vec<FileReport>,
    captured: Captured,
    watched_from_start: &[Prefix],
) -> Segment {
    let files = lane
        .files
        .iter()
        .zip(reports)
        .enumerate()
        .map(|(i, (f, r))| SegmentFile {
            path: r.path,
            kind: f.kind,
            start: f.start,
            stats: r.stats,
            messages_end: captured
                .file_ends
                .get(i)
                .copied()
                .unwrap_or(captured.messages.len()),
        })
        .collect();
    Segment {
        collector: lane.collector.to_string(),
        timed: lane.files.iter().all(|f| f.start.is_some()),
        files,
        messages: captured.messages,
        marks: captured.marks,
        tail: captured.tail,
        watched_from_start: watched_from_start.to_vec(),
        learned: captured.learned.into_iter().collect(),
        read: true,
    }
}

/// A segment and where it came from (a partial file's name), for messages.
pub struct Sourced {
    pub source: String,
    pub segment: Segment,
}

/// A partition to read again, with the prefixes to watch from its start.
#[derive(Debug, Clone, PartialEq)]
pub struct Reread {
    pub source: String,
    pub collector: String,
    pub known_prefixes: Vec<Prefix>,
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error(
        "{first} and {second} both hold {collector} files from {file}: partitions must not overlap"
    )]
    Overlap {
        collector: String,
        first: String,
        second: String,
        file: String,
    },
    #[error("{partial}: {problem}")]
    Inconsistent { partial: String, problem: String },
    #[error("no partial holds any file")]
    Empty,
    #[error(
        "{} partition(s) were read without the prefixes the partitions before them learned; read them again with those prefixes (see `cutoff merge --help`)",
        .0.len()
    )]
    Reread(Vec<Reread>),
}

/// Run state and detection over the segments of every partition, as one scan of all their
/// files would. `plan` gives what to watch and the rules; its files are replaced by the
/// segments'. Where the plan's assumed table size came from the files' year
/// (`table_size_by_year`), it is taken again from the first year of all the files.
pub fn merge(
    plan: &mut ScanPlan,
    segments: Vec<Sourced>,
    table_size_by_year: bool,
) -> Result<ScanOutcome, MergeError> {
    let started = std::time::Instant::now();
    let built = rebuild(plan, segments)?;
    if table_size_by_year {
        let year = first_file_year(&plan.collectors)
            .or(plan.from.map(year_of))
            .unwrap_or(DEFAULT_YEAR);
        plan.eligibility.assumed_table_size = typical_table_size(year);
    }
    let mut pipeline = Pipeline::new(plan);
    let fed = pipeline.replay(built);
    Ok(super::conclude(plan, pipeline, fed, started))
}

/// The streams the segments make, in the order a scan lays its streams out; the plan's
/// files become theirs.
fn rebuild(plan: &mut ScanPlan, segments: Vec<Sourced>) -> Result<Vec<ReplayLane>, MergeError> {
    let collectors = arrange(segments)?;
    check_watch(plan, &collectors)?;
    let mut built = Vec::new();
    plan.collectors.clear();
    for (name, c) in &collectors {
        let id = CollectorId::new(name);
        let mut files = CollectorFiles {
            collector: id.clone(),
            files: c
                .timed
                .iter()
                .flat_map(|s| mrt_files(&id, &s.segment))
                .collect(),
        };
        mark_holes(&mut files);
        if !c.timed.is_empty() {
            built.push(build_lane(&id, &files.files, &c.timed)?);
        }
        for s in &c.untimed {
            let own = mrt_files(&id, &s.segment);
            built.push(build_lane(&id, &own, std::slice::from_ref(s))?);
            files.files.extend(own);
        }
        plan.collectors.push(files);
    }
    Ok(built)
}

/// The streams a merge of these segments feeds to state and detection (`file` fields count
/// in each stream), for tests that compare them with [`streams_of_scan`].
#[doc(hidden)]
pub fn streams_of_merge(
    plan: &mut ScanPlan,
    segments: Vec<Sourced>,
) -> Result<Vec<Vec<Msg>>, MergeError> {
    Ok(rebuild(plan, segments)?
        .into_iter()
        .map(|l| l.messages)
        .collect())
}

/// The streams one scan of the plan's files feeds to state and detection (`file` fields
/// count in each stream).
#[doc(hidden)]
pub fn streams_of_scan(plan: &ScanPlan) -> Vec<Vec<Msg>> {
    let mut collectors = plan.collectors.clone();
    collectors.iter_mut().for_each(mark_holes);
    let mut watch = Watch::new(plan.asns.iter().copied(), plan.prefixes.iter().copied());
    let gate: Arc<dyn Gate> = Arc::new(crate::parse::ahead::Local);
    for c in &collectors {
        if c.files.iter().any(|f| f.start.is_none()) {
            reader::learn_prefixes(&c.files, &mut watch, &*gate);
        }
    }
    let lanes = lanes::lanes(&collectors);
    thread::scope(|scope| {
        let receivers: Vec<_> = lanes
            .iter()
            .map(|group| {
                let (tx, rx) = bounded::<Vec<Msg>>(64);
                let (watch, gate) = (watch.clone(), Arc::clone(&gate));
                let options = LaneOptions {
                    helpers: 0,
                    max_decoded: plan.max_decoded,
                    done: None,
                    capture: false,
                };
                scope.spawn(move || reader::read_collector(group, 0, watch, tx, options, gate));
                rx
            })
            .collect();
        receivers
            .iter()
            .map(|rx| rx.iter().flatten().collect())
            .collect()
    })
}

/// One collector's segments: the timed ones in reading order, and the untimed.
#[derive(Default)]
struct Arranged {
    timed: Vec<Sourced>,
    untimed: Vec<Sourced>,
}

/// Where a file falls in its collector's reading order.
fn order_key(f: &SegmentFile) -> (Option<Timestamp>, FileKind, &str) {
    (f.start, f.kind, &f.path)
}

fn arrange(segments: Vec<Sourced>) -> Result<BTreeMap<String, Arranged>, MergeError> {
    let mut collectors: BTreeMap<String, Arranged> = BTreeMap::new();
    for s in segments.into_iter().filter(|s| !s.segment.files.is_empty()) {
        let c = collectors.entry(s.segment.collector.clone()).or_default();
        if s.segment.timed {
            c.timed.push(s);
        } else {
            c.untimed.push(s);
        }
    }
    if collectors.is_empty() {
        return Err(MergeError::Empty);
    }
    for (name, c) in collectors.iter_mut() {
        // Files without a time sort by path, as a scan lists them.
        c.untimed
            .sort_by(|a, b| order_key(&a.segment.files[0]).cmp(&order_key(&b.segment.files[0])));
        c.timed
            .sort_by(|a, b| order_key(&a.segment.files[0]).cmp(&order_key(&b.segment.files[0])));
        for w in c.timed.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            // Checked above: no segment without files is kept.
            let last = a.segment.files.last().map(order_key);
            let next = order_key(&b.segment.files[0]);
            if last.is_some_and(|l| l >= next) {
                return Err(MergeError::Overlap {
                    collector: name.clone(),
                    first: a.source.clone(),
                    second: b.source.clone(),
                    file: next.2.to_string(),
                });
            }
        }
    }
    Ok(collectors)
}

/// The smallest set of prefixes that covers what `prefixes` covers.
fn cover(prefixes: impl IntoIterator<Item = Prefix>) -> BTreeSet<Prefix> {
    let all: BTreeSet<Prefix> = prefixes.into_iter().map(|p| p.trunc()).collect();
    all.iter()
        .filter(|p| !all.iter().any(|q| q != *p && q.contains(*p)))
        .copied()
        .collect()
}

/// Every segment must have started from what a single scan would have watched at its
/// start: the plan's prefixes, what files without a time taught before reading (for
/// collectors with such files), and what the stream's earlier segments learned.
fn check_watch(plan: &ScanPlan, collectors: &BTreeMap<String, Arranged>) -> Result<(), MergeError> {
    let learned = |s: &Sourced| s.segment.learned.clone();
    let prelearned: BTreeSet<Prefix> = collectors
        .values()
        .filter(|c| !c.untimed.is_empty())
        .flat_map(|c| c.timed.iter().chain(&c.untimed).flat_map(learned))
        .collect();
    let given: BTreeSet<Prefix> = plan.prefixes.iter().map(|p| p.trunc()).collect();
    let mut rereads = Vec::new();
    for (name, c) in collectors {
        let mut known: BTreeSet<Prefix> = given.union(&prelearned).copied().collect();
        let lanes = c
            .timed
            .iter()
            .map(|s| (s, true))
            .chain(c.untimed.iter().map(|s| (s, false)));
        for (s, timed) in lanes {
            if !timed {
                known = given.union(&prelearned).copied().collect();
            }
            let expected = cover(known.iter().copied());
            let watched = cover(s.segment.watched_from_start.iter().copied());
            if s.segment.read && watched != expected {
                rereads.push(Reread {
                    source: s.source.clone(),
                    collector: name.clone(),
                    known_prefixes: known.difference(&given).copied().collect(),
                });
            }
            known.extend(learned(s));
        }
    }
    if rereads.is_empty() {
        Ok(())
    } else {
        Err(MergeError::Reread(rereads))
    }
}

fn mrt_files(collector: &CollectorId, s: &Segment) -> Vec<MrtFile> {
    s.files
        .iter()
        .map(|f| MrtFile {
            path: PathBuf::from(&f.path),
            collector: collector.clone(),
            kind: f.kind,
            start: f.start,
        })
        .collect()
}

/// One stream rebuilt from its segments, ready to replay.
pub(crate) struct ReplayLane {
    pub names: Vec<String>,
    pub reports: Vec<FileReport>,
    /// `file` fields count from the lane's first file.
    pub messages: Vec<Msg>,
}

/// The per-minute counters of one stream, replayed as its reader counts them.
struct Minutes {
    collector: CollectorId,
    minute: Option<i64>,
    counts: BTreeMap<(IpAddr, u32), (u32, u32)>,
}

impl Minutes {
    fn add(&mut self, counts: &[PeerCount]) {
        for (peer, (m, w)) in counts {
            let c = self.counts.entry(*peer).or_default();
            c.0 += m;
            c.1 += w;
        }
    }

    /// A mark of a segment: its counts join the open minute; a minute later than the open
    /// one closes it.
    fn mark(&mut self, mark: &MinuteMark, out: &mut Vec<Msg>) {
        self.add(&mark.counts);
        if self.minute.is_none_or(|m| m < mark.minute) {
            self.close(out);
            self.minute = Some(mark.minute);
        }
    }

    fn close(&mut self, out: &mut Vec<Msg>) {
        let counts: Vec<PeerCount> = std::mem::take(&mut self.counts).into_iter().collect();
        if let Some(minute) = self.minute {
            out.extend(activity_messages(
                &self.collector,
                minute_end(minute),
                counts,
            ));
        }
    }
}

/// Join a stream's segments (in reading order) into the stream one reader would have sent:
/// `files` is the stream's file list with placeholders for holes, the segments' files in it
/// in the same order.
fn build_lane(
    collector: &CollectorId,
    files: &[MrtFile],
    segments: &[Sourced],
) -> Result<ReplayLane, MergeError> {
    let mut lane = ReplayLane {
        names: Vec::new(),
        reports: Vec::new(),
        messages: Vec::new(),
    };
    let mut minutes = Minutes {
        collector: collector.clone(),
        minute: None,
        counts: BTreeMap::new(),
    };
    let mut wanted = files.iter();
    for sourced in segments {
        let s = &sourced.segment;
        let mut begin = 0;
        let mut marks = s.marks.iter().peekable();
        for (i, f) in s.files.iter().enumerate() {
            // Placeholders for holes before this file.
            for placeholder in wanted
                .by_ref()
                .take_while(|m| m.path.as_path() != std::path::Path::new(&f.path))
            {
                lane.names.push(placeholder.path.display().to_string());
                lane.reports.push(missing_report(collector, placeholder));
                lane.messages.push(Msg::Gap {
                    time: placeholder.start.unwrap_or_default(),
                    collector: collector.clone(),
                    reason: MISSING_PROBLEM.into(),
                    hole: true,
                });
            }
            let index = lane.names.len() as u32;
            lane.names.push(f.path.clone());
            lane.reports.push(FileReport {
                path: f.path.clone(),
                collector: collector.to_string(),
                kind: f.kind,
                stats: f.stats.clone(),
            });
            let end = f.messages_end.min(s.messages.len());
            for at in begin..=end {
                while let Some(m) = marks.next_if(|m| m.file as usize == i && m.at == at) {
                    minutes.mark(m, &mut lane.messages);
                }
                if at < end {
                    lane.messages.push(in_lane(s.messages[at].clone(), index));
                }
            }
            begin = end;
        }
        // Marks name a file and a place in it; one that fits no file is not a partial's.
        if marks.next().is_some() || begin != s.messages.len() {
            return Err(MergeError::Inconsistent {
                partial: sourced.source.clone(),
                problem: format!(
                    "its minute marks or message counts do not fit its {} files",
                    s.files.len()
                ),
            });
        }
        minutes.add(&s.tail);
    }
    minutes.close(&mut lane.messages);
    Ok(lane)
}

/// A message with its file counted in the lane.
fn in_lane(mut msg: Msg, index: u32) -> Msg {
    if let Msg::Route { file, .. } | Msg::RibRoute { file, .. } = &mut msg {
        *file = index;
    }
    msg
}

fn missing_report(collector: &CollectorId, f: &MrtFile) -> FileReport {
    FileReport {
        path: f.path.display().to_string(),
        collector: collector.to_string(),
        kind: f.kind,
        stats: FileStats::failed(MISSING_PROBLEM.into()),
    }
}

impl Pipeline {
    /// Feed rebuilt streams (from partials) through state and detection, as
    /// [`Pipeline::feed`] feeds the readers' streams.
    pub(crate) fn replay(&mut self, lanes: Vec<ReplayLane>) -> Fed {
        let mut files = Vec::new();
        let mut receivers = Vec::new();
        thread::scope(|scope| {
            for lane in lanes {
                let base = self.tracker.add_files(lane.names);
                files.extend(lane.reports);
                let (tx, rx) = bounded::<Vec<Msg>>(64);
                receivers.push(rx);
                scope.spawn(move || {
                    let mut messages = lane.messages.into_iter().map(|m| match m {
                        Msg::Route { file, .. } | Msg::RibRoute { file, .. } => {
                            in_lane(m, base + file)
                        }
                        other => other,
                    });
                    loop {
                        let batch: Vec<Msg> = messages.by_ref().take(reader::BATCH).collect();
                        if batch.is_empty() || tx.send(batch).is_err() {
                            break;
                        }
                    }
                });
            }
            self.drive(std::mem::take(&mut receivers));
        });
        Fed {
            events: self.detector.take_events(),
            files,
        }
    }
}
