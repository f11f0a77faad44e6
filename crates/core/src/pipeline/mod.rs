//! The scan pipeline: files → parse → filter → state → detect → events, on local or
//! downloaded files.
//!
//! One thread per collector stream reads that stream's files in order (update files are
//! decompressed ahead on a small pool, [`crate::parse::ahead`]) and filters to watched
//! prefixes before anything crosses a channel ([`reader`]); the calling thread merges the
//! streams by time and runs state and detection. [`plan`] is what a scan is told to do;
//! [`lanes`] how streams and threads are laid out.

pub mod lanes;
pub mod live;
pub mod partial;
pub mod plan;
pub mod reader;
pub mod ris_live;

pub use crate::state::typical_table_size;
pub use plan::{ScanPlan, default_helpers, first_file_year};

use crate::detect::{Detector, Event};
use crate::files::CollectorFiles;
use crate::model::{Prefix, Timestamp};
use crate::parse::FileStats;
use crate::parse::ahead::Gate;
use crate::state::{Msg, Tracker};
use crate::summary::{FileReport, Gap, RunSummary, SCHEMA_VERSION, Thresholds};
use crate::timeline::{Recorder, VisibilityPoint};
use crate::watch::Watch;
use crossbeam_channel::{Receiver, bounded};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::thread;

/// The result of a scan: events, and how they were found.
pub struct ScanOutcome {
    pub events: Vec<Event>,
    pub summary: RunSummary,
    /// Visibility over time, when the plan asked for it (`ScanPlan::timeline`).
    pub timeline: Vec<VisibilityPoint>,
}

/// Run the pipeline over the plan's files, once.
pub fn run(plan: &ScanPlan) -> ScanOutcome {
    let started = std::time::Instant::now();
    let mut pipeline = Pipeline::new(plan);
    let fed = pipeline.feed(&plan.collectors);
    conclude(plan, pipeline, fed, started)
}

/// The end of the input: events still to confirm, those of the plan's range, the summary.
fn conclude(
    plan: &ScanPlan,
    mut pipeline: Pipeline,
    fed: Fed,
    started: std::time::Instant,
) -> ScanOutcome {
    let (late, pending, timeline) = pipeline.finish();
    let mut events = fed.events;
    events.extend(late);
    events.retain(|e| plan.from.is_none_or(|f| e.time >= f) && plan.to.is_none_or(|t| e.time <= t));
    let (sessions, full_feed) = pipeline.tracker.session_counts();
    let summary = RunSummary::new(
        plan,
        fed.files,
        &events,
        pending,
        sessions,
        full_feed,
        started.elapsed(),
    );
    ScanOutcome {
        events,
        summary,
        timeline,
    }
}

/// What one [`Pipeline::feed`] found.
pub struct Fed {
    /// Events confirmed while reading (final, with evidence), in time order.
    pub events: Vec<Event>,
    pub files: Vec<FileReport>,
}

/// Version of [`PipelineState`]; bumped when a saved state can no longer be read.
pub const PIPELINE_STATE_VERSION: u32 = 1;

/// Everything a pipeline needs to go on later where it stopped: routes per session for the
/// watched prefixes, sessions, detector conditions. JSON, so a user can open it.
#[derive(Serialize, Deserialize)]
pub struct PipelineState {
    pub version: u32,
    pub asns: Vec<u32>,
    /// The time of the last message read.
    pub now: Option<Timestamp>,
    tracker: Tracker,
    detector: Detector,
}

/// The scan pipeline (parse → state → detect) as a value that can be fed files in several
/// goes, and saved and restored between them: `scan` feeds it once, `monitor` every run.
pub struct Pipeline {
    asns: Vec<u32>,
    prefixes: Vec<Prefix>,
    helpers: usize,
    max_decoded: u64,
    tracker: Tracker,
    detector: Detector,
    recorder: Option<Recorder>,
    now: Option<Timestamp>,
    /// Archive input: readers wait for each file's download (or its failure).
    downloads: Option<Arc<dyn Gate>>,
    files_done: Option<Arc<AtomicUsize>>,
}

impl Pipeline {
    pub fn new(plan: &ScanPlan) -> Self {
        Pipeline {
            asns: plan.asns.clone(),
            prefixes: plan.prefixes.clone(),
            helpers: plan.helpers,
            max_decoded: plan.max_decoded,
            tracker: Tracker::new(plan.eligibility.clone(), &plan.asns, &plan.prefixes),
            detector: Detector::new(plan.detect.clone()),
            recorder: plan.timeline.then(Recorder::default),
            now: None,
            downloads: plan.downloads.clone(),
            files_done: plan.files_done.clone(),
        }
    }

    /// Go on from a saved state, with the plan's thresholds (they may have changed). Fails if
    /// the state is of another version or watches other ASes.
    pub fn restore(plan: &ScanPlan, state: PipelineState) -> Result<Self, String> {
        if state.version != PIPELINE_STATE_VERSION {
            return Err(format!(
                "saved state has version {}, this cutoff reads version {PIPELINE_STATE_VERSION}",
                state.version
            ));
        }
        if state.asns != plan.asns {
            return Err(format!(
                "saved state watches {:?}, the plan watches {:?}",
                state.asns, plan.asns
            ));
        }
        let mut p = Pipeline::new(plan);
        p.tracker = state.tracker;
        p.tracker.set_rules(plan.eligibility.clone());
        p.detector = state.detector;
        p.detector.set_rules(plan.detect.clone());
        p.now = state.now;
        Ok(p)
    }

    /// Read these files (each collector's in time order, after everything fed before) and
    /// return the events confirmed while reading them.
    pub fn feed(&mut self, collectors: &[CollectorFiles]) -> Fed {
        // Holes between update files are gaps, the same for every command.
        let marked: Vec<CollectorFiles> = collectors
            .iter()
            .cloned()
            .map(|mut c| {
                crate::files::mark_holes(&mut c);
                c
            })
            .collect();
        let collectors = &marked[..];
        let mut prefixes: Vec<Prefix> = self.tracker.known_prefixes().into_iter().collect();
        prefixes.extend(self.prefixes.iter().copied());
        let mut watch = Watch::new(self.asns.iter().copied(), prefixes);
        let gate: Arc<dyn Gate> = self
            .downloads
            .clone()
            .unwrap_or_else(|| Arc::new(crate::parse::ahead::Local));
        for c in collectors {
            if c.files.iter().any(|f| f.start.is_none()) {
                reader::learn_prefixes(&c.files, &mut watch, &*gate);
            }
        }
        let lanes = lanes::lanes(collectors);
        let bases: Vec<u32> = lanes
            .iter()
            .map(|lane| {
                self.tracker
                    .add_files(lane.files.iter().map(|f| f.path.display().to_string()))
            })
            .collect();
        let helpers = lanes::helpers_per_lane(self.helpers, &lanes);
        let files =
            thread::scope(|scope| {
                let mut receivers = Vec::new();
                let mut handles = Vec::new();
                for ((group, base), helpers) in lanes.iter().zip(bases).zip(helpers) {
                    let (tx, rx) = bounded::<Vec<Msg>>(64);
                    let watch = watch.clone();
                    let gate = Arc::clone(&gate);
                    let options = reader::LaneOptions {
                        helpers,
                        max_decoded: self.max_decoded,
                        done: self.files_done.clone(),
                        capture: false,
                    };
                    handles.push(scope.spawn(move || {
                        reader::read_collector(group, base, watch, tx, options, gate)
                    }));
                    receivers.push(rx);
                }
                self.drive(receivers);
                let mut reports: Vec<FileReport> = Vec::new();
                for (h, lane) in handles.into_iter().zip(&lanes) {
                    match h.join() {
                        Ok((r, _)) => reports.extend(r),
                        // A bug, not bad input: say which files it leaves unread rather than lose them.
                        Err(_) => reports.extend(lane.files.iter().map(|f| FileReport {
                            path: f.path.display().to_string(),
                            collector: lane.collector.to_string(),
                            kind: f.kind,
                            stats: FileStats {
                                problem: Some("internal error: reader thread failed".into()),
                                ..FileStats::default()
                            },
                        })),
                    }
                }
                reports
            });
        Fed {
            events: self.detector.take_events(),
            files,
        }
    }

    /// The state to save, with file names no evidence needs forgotten.
    pub fn state(&mut self) -> PipelineState {
        self.tracker.compact_files();
        PipelineState {
            version: PIPELINE_STATE_VERSION,
            asns: self.asns.clone(),
            now: self.now,
            tracker: self.tracker.clone(),
            detector: self.detector.clone(),
        }
    }

    /// Eligible peer ASNs seeing each watched AS as of the last message read.
    pub fn visible_peers(&self) -> BTreeMap<u32, usize> {
        let now = self.now.unwrap_or_default();
        self.asns
            .iter()
            .map(|&a| (a, self.tracker.snapshot(a, now).visible))
            .collect()
    }

    /// The time of the last message read.
    pub fn now(&self) -> Option<Timestamp> {
        self.now
    }

    /// End of input: events still to confirm, the conditions too short to be events, and
    /// the timeline if it was recorded.
    pub fn finish(&mut self) -> (Vec<Event>, Vec<String>, Vec<VisibilityPoint>) {
        let fresh = Detector::new(self.detector.rules().clone());
        let detector = std::mem::replace(&mut self.detector, fresh);
        let (events, pending) = detector.finish(self.now);
        let timeline = self
            .recorder
            .take()
            .map(Recorder::into_points)
            .unwrap_or_default();
        (events, pending, timeline)
    }

    fn observe_changes(&mut self, at: Timestamp) {
        for snap in self.tracker.take_snapshots(at) {
            if let Some(r) = &mut self.recorder {
                r.record(&snap);
            }
            self.detector.observe(snap);
        }
    }

    /// Merge the collectors' streams by time and feed state and detection.
    fn drive(&mut self, receivers: Vec<Receiver<Vec<Msg>>>) {
        let mut queues: Vec<VecDeque<Msg>> = receivers.iter().map(|_| VecDeque::new()).collect();
        let mut open: Vec<bool> = receivers.iter().map(|_| true).collect();
        let mut heap = BinaryHeap::new();
        let refill = |i: usize, queues: &mut Vec<VecDeque<Msg>>, open: &mut Vec<bool>| {
            while queues[i].is_empty() && open[i] {
                match receivers[i].recv() {
                    Ok(batch) => queues[i].extend(batch),
                    Err(_) => open[i] = false,
                }
            }
        };
        for i in 0..receivers.len() {
            refill(i, &mut queues, &mut open);
            if let Some(m) = queues[i].front() {
                heap.push(Reverse((m.time(), i)));
            }
        }
        while let Some(Reverse((_, i))) = heap.pop() {
            let Some(msg) = queues[i].pop_front() else {
                continue;
            };
            self.step(msg);
            refill(i, &mut queues, &mut open);
            if let Some(m) = queues[i].front() {
                heap.push(Reverse((m.time(), i)));
            }
        }
        if let Some(n) = self.now {
            self.observe_changes(n);
            self.detector.advance(n);
            self.detector.fill_evidence(&self.tracker, n);
        }
    }

    /// One message, in time order: the state as of each second that ends is judged before
    /// the first message of the next.
    fn step(&mut self, msg: Msg) {
        let t = msg.time();
        self.pass_time(t);
        self.tracker.apply(msg);
    }

    fn pass_time(&mut self, t: Timestamp) {
        self.judge_seconds_ended_by(t);
        if self.now.is_none_or(|n| t > n) {
            self.now = Some(t);
        }
    }

    /// Live input: messages as they arrive (in arrival order, each stamped on receipt).
    pub fn push_live(&mut self, msgs: impl IntoIterator<Item = Msg>) {
        for m in msgs {
            self.step(m);
        }
    }

    /// Live input: the clock reads `now` and nothing arrived since the last message; the
    /// seconds gone by are judged, so a condition held long enough is confirmed without
    /// waiting for the next message. The state stays dated by its last message (as when a
    /// file is read), so a tick between two messages changes no event's time.
    pub fn tick_live(&mut self, now: Timestamp) {
        self.judge_seconds_ended_by(now);
    }

    /// If `t` is in a later second than the state's time, the state as of that time is judged
    /// and the conditions held until `t` are confirmed.
    fn judge_seconds_ended_by(&mut self, t: Timestamp) {
        if let Some(n) = self.now
            && t.secs > n.secs
        {
            self.observe_changes(n);
            self.detector.advance(t);
            self.detector.fill_evidence(&self.tracker, n);
        }
    }

    /// Every prefix of the watched ASes known so far (given, or seen originated by them).
    pub fn known_prefixes(&self) -> Vec<Prefix> {
        self.tracker.known_prefixes().into_iter().collect()
    }

    /// Events confirmed since last asked (live input).
    pub fn take_events(&mut self) -> Vec<Event> {
        self.detector.take_events()
    }
}

/// The summary is built here, where the plan is known (the summary module stays below the
/// pipeline).
impl RunSummary {
    pub fn new(
        plan: &ScanPlan,
        files: Vec<FileReport>,
        events: &[Event],
        pending_at_end: Vec<String>,
        sessions: usize,
        full_feed_sessions: usize,
        elapsed: std::time::Duration,
    ) -> Self {
        let sum = |f: fn(&FileReport) -> u64| files.iter().map(f).sum::<u64>();
        let collectors: Vec<String> = plan
            .collectors
            .iter()
            .map(|c| c.collector.to_string())
            .collect();
        let collectors_without_rib: Vec<String> = plan
            .collectors
            .iter()
            .filter(|c| {
                !files
                    .iter()
                    .any(|f| f.collector == c.collector.as_str() && f.stats.rib_entries > 0)
            })
            .map(|c| c.collector.to_string())
            .collect();
        let gaps: Vec<Gap> = files
            .iter()
            .filter_map(|f| {
                let skipped = (!f.stats.skipped.is_empty()).then(|| f.stats.skipped.join("; "));
                let problem = f.stats.problem.clone().or(skipped).or_else(|| {
                    (!f.stats.unparsed_records.is_empty()).then(|| {
                        f.stats
                            .unparsed_records
                            .iter()
                            .map(|(r, n)| format!("{n} record(s) not read as written: {r}"))
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                })?;
                Some(Gap {
                    collector: f.collector.clone(),
                    file: f.path.clone(),
                    problem,
                })
            })
            .collect();
        let mut by_kind = BTreeMap::new();
        for e in events {
            *by_kind.entry(e.event.name().to_string()).or_default() += 1;
        }
        RunSummary {
            kind: "summary".into(),
            schema_version: SCHEMA_VERSION,
            tool: format!("cutoff {}", env!("CARGO_PKG_VERSION")),
            asns: plan.asns.clone(),
            extra_prefixes: plan.prefixes.iter().map(ToString::to_string).collect(),
            partial_baseline: !collectors_without_rib.is_empty(),
            collectors,
            collectors_without_rib,
            files_read: files
                .iter()
                .filter(|f| !crate::files::is_missing_path(&f.path))
                .count(),
            records: sum(|f| f.stats.records),
            elements: sum(|f| f.stats.elems),
            truncated_records: sum(|f| f.stats.truncated_records),
            salvaged_withdrawals: sum(|f| f.stats.salvaged_withdrawals),
            salvaged_announcements: sum(|f| f.stats.salvaged_announcements),
            first_time: files.iter().filter_map(|f| f.stats.first_time).min(),
            last_time: files.iter().filter_map(|f| f.stats.last_time).max(),
            unparsed_records: sum(|f| f.stats.unparsed_records.values().sum()),
            incomplete_input: !gaps.is_empty(),
            gaps,
            sessions,
            full_feed_sessions,
            events: by_kind,
            pending_at_end,
            thresholds: Thresholds::new(&plan.detect, &plan.eligibility),
            elapsed_secs: elapsed.as_secs_f64(),
            files,
        }
    }
}
