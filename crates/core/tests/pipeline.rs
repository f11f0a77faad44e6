//! The pipeline fed in several goes, its state saved to JSON and restored in between (as
//! `monitor` does), finds exactly the events of one scan over the same files.

use cutoff_core::files::{CollectorFiles, discover};
use cutoff_core::pipeline::{self, Pipeline, PipelineState, ScanPlan};

fn mccolo(asn: u32) -> ScanPlan {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/mccolo-2008-11");
    ScanPlan::new(
        &[asn],
        discover(&[sample.to_string()], &[]).expect("the sample is there"),
    )
}

fn plan() -> ScanPlan {
    mccolo(26780)
}

/// The plan's files cut into `n` consecutive batches by time.
fn batches(plan: &ScanPlan, n: usize) -> Vec<Vec<CollectorFiles>> {
    assert_eq!(plan.collectors.len(), 1, "the sample is one collector");
    let all = &plan.collectors[0];
    let size = all.files.len().div_ceil(n);
    all.files
        .chunks(size)
        .map(|chunk| {
            vec![CollectorFiles {
                collector: all.collector.clone(),
                files: chunk.to_vec(),
            }]
        })
        .collect()
}

fn event_lines(events: &[cutoff_core::detect::Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| serde_json::to_string(e).expect("serialises"))
        .collect()
}

#[test]
fn saved_and_restored_in_seven_goes_equals_one_scan() {
    let plan = plan();
    let once = pipeline::run(&plan);
    assert!(
        once.events
            .iter()
            .any(|e| e.event.name() == "disconnected"
                && e.time.rfc3339() == "2008-11-11T21:33:00Z"),
        "the one-shot scan finds the disconnection"
    );

    let mut saved: Option<String> = None;
    let mut events = Vec::new();
    let mut files = 0;
    for batch in batches(&plan, 7) {
        let mut pipeline = match saved.take() {
            None => Pipeline::new(&plan),
            Some(json) => {
                let state: PipelineState = serde_json::from_str(&json).expect("state parses");
                Pipeline::restore(&plan, state).expect("state fits the plan")
            }
        };
        let fed = pipeline.feed(&batch);
        files += fed.files.len();
        events.extend(fed.events);
        saved = Some(serde_json::to_string(&pipeline.state()).expect("state serialises"));
    }
    let state: PipelineState = serde_json::from_str(&saved.expect("saved")).expect("state parses");
    let mut last = Pipeline::restore(&plan, state).expect("restores");
    let (late, _, _) = last.finish();
    events.extend(late);
    assert_eq!(files, once.summary.files_read);
    assert_eq!(event_lines(&events), event_lines(&once.events));
}

#[test]
fn a_state_for_other_ases_or_versions_is_refused() {
    let plan = plan();
    let mut p = Pipeline::new(&plan);
    p.feed(&batches(&plan, 50)[0]);
    let json = serde_json::to_string(&p.state()).expect("serialises");

    let other = mccolo(27595);
    let state: PipelineState = serde_json::from_str(&json).expect("parses");
    let err = Pipeline::restore(&other, state).err().expect("refused");
    assert!(err.contains("27595"), "{err}");

    let bumped = json.replacen("\"version\":1", "\"version\":99", 1);
    let state: PipelineState = serde_json::from_str(&bumped).expect("parses");
    let err = Pipeline::restore(&plan, state).err().expect("refused");
    assert!(err.contains("version 99"), "{err}");
}
