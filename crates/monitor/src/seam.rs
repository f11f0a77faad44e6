//! The seam to the incremental pipeline: the monitor drives `cutoff_core::pipeline::Pipeline`
//! through [`Incremental`], so tests can script a fake in its place.

use cutoff_core::detect::Event;
use cutoff_core::files::{CollectorFiles, FileKind, MrtFile};
use cutoff_core::model::{CollectorId, Prefix, Timestamp};
use cutoff_core::pipeline::ScanPlan;
use cutoff_core::state::Msg;
use std::collections::BTreeMap;
use std::path::Path;

// The seam to the incremental pipeline.

/// A missing file: a hole in the collector's stream from `time` until its next file.
#[derive(Debug, Clone, PartialEq)]
pub struct MissingData {
    pub collector: CollectorId,
    pub time: Timestamp,
    pub reason: String,
}

pub use cutoff_core::pipeline::Fed;

/// The incremental pipeline as the monitor uses it (`scan::Pipeline` in the real build; a
/// scripted fake in tests).
pub trait Incremental {
    /// Read these files (each collector's in time order, after everything fed before);
    /// `missing` marks where files are known to be missing, between them.
    fn feed(&mut self, collectors: &[CollectorFiles], missing: &[MissingData]) -> Fed;
    /// Everything needed to continue later, as JSON (it carries its own version).
    fn state(&mut self) -> Result<serde_json::Value, String>;
    /// Eligible peer ASNs currently seeing each watched AS.
    fn visible_peers(&self) -> BTreeMap<u32, usize>;
    /// Live input (`monitor --follow`): messages as they arrive.
    fn push_live(&mut self, msgs: Vec<Msg>);
    /// Live input: the clock reads `now`; returns the events confirmed since last asked.
    fn tick_live(&mut self, now: Timestamp) -> Vec<Event>;
    /// Every prefix of the watched ASes known so far (given or learned).
    fn known_prefixes(&self) -> Vec<Prefix>;
}

/// Builds the pipeline for a plan, from a saved state or fresh.
pub type PipelineFactory =
    dyn Fn(&ScanPlan, Option<serde_json::Value>) -> Result<Box<dyn Incremental>, String>;

/// Missing data as a placeholder file at the time the missing file should have started: the
/// reader reports it as a gap at that time, the same hole `scan` finds between local files.
pub fn with_placeholders(
    collectors: &[CollectorFiles],
    missing: &[MissingData],
) -> Vec<CollectorFiles> {
    let mut out: Vec<CollectorFiles> = collectors.to_vec();
    for m in missing {
        let file = MrtFile::missing(m.collector.clone(), m.time, &m.reason);
        match out.iter_mut().find(|c| c.collector == m.collector) {
            Some(c) => c.files.push(file),
            None => out.push(CollectorFiles {
                collector: m.collector.clone(),
                files: vec![file],
            }),
        }
    }
    for c in &mut out {
        c.files.sort_by(|a, b| file_order(a).cmp(&file_order(b)));
    }
    out
}

/// The real incremental pipeline (`scan::Pipeline`) behind the seam.
pub struct RealPipeline(cutoff_core::pipeline::Pipeline);

impl RealPipeline {
    /// Restore from the saved JSON state, or start fresh.
    pub fn factory() -> Box<PipelineFactory> {
        Box::new(|plan, state| {
            let pipeline = match state {
                None => cutoff_core::pipeline::Pipeline::new(plan),
                Some(v) => {
                    let state = serde_json::from_value(v)
                        .map_err(|e| format!("pipeline state does not fit this build: {e}"))?;
                    cutoff_core::pipeline::Pipeline::restore(plan, state)?
                }
            };
            Ok(Box::new(RealPipeline(pipeline)) as Box<dyn Incremental>)
        })
    }
}

impl Incremental for RealPipeline {
    fn feed(&mut self, collectors: &[CollectorFiles], missing: &[MissingData]) -> Fed {
        self.0.feed(&with_placeholders(collectors, missing))
    }

    fn state(&mut self) -> Result<serde_json::Value, String> {
        serde_json::to_value(self.0.state())
            .map_err(|e| format!("cannot save the pipeline state: {e}"))
    }

    fn visible_peers(&self) -> BTreeMap<u32, usize> {
        self.0.visible_peers()
    }

    fn push_live(&mut self, msgs: Vec<Msg>) {
        self.0.push_live(msgs);
    }

    fn tick_live(&mut self, now: Timestamp) -> Vec<Event> {
        self.0.tick_live(now);
        self.0.take_events()
    }

    fn known_prefixes(&self) -> Vec<Prefix> {
        self.0.known_prefixes()
    }
}

/// The order files are read in: time, then RIB before updates, then path.
pub(crate) fn file_order(f: &MrtFile) -> (Option<Timestamp>, FileKind, &Path) {
    (f.start, f.kind, &f.path)
}
