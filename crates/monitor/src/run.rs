//! One run: the scan plan from the configuration, the pipeline fed with the selected files,
//! new events raised as alerts (pending, saved, then delivered sink by sink).

use crate::alert::{self, Alert, Sink};
use crate::checkpoint::{Checkpoint, LedgerEntry, Store};
use crate::config::MonitorConfig;
use crate::durable::crash_point;
use crate::seam::{Fed, PipelineFactory};
use crate::select::select;
use cutoff_core::asnames::AsNames;
use cutoff_core::detect::Event;
use cutoff_core::files::CollectorFiles;
use cutoff_core::pipeline::ScanPlan;
use cutoff_core::state::EligibilityRules;
use cutoff_core::summary::FileReport;
use std::collections::{BTreeMap, BTreeSet};

// The run.

/// The scan plan for the configuration's watchlist and thresholds.
pub fn scan_plan(config: &MonitorConfig, collectors: &[CollectorFiles]) -> ScanPlan {
    let t = &config.thresholds;
    let (exclude_asns, exclude_ips) = config.excluded_peers();
    let year = cutoff_core::pipeline::first_file_year(collectors)
        .unwrap_or_else(|| chrono::Datelike::year(&chrono::Utc::now()));
    let mut prefixes: Vec<_> = config
        .watch
        .iter()
        .flat_map(|w| w.prefixes.iter().copied())
        .collect();
    prefixes.sort_unstable();
    prefixes.dedup();
    ScanPlan {
        asns: config.asns(),
        prefixes,
        collectors: collectors.to_vec(),
        eligibility: EligibilityRules {
            full_feed_fraction: t.full_feed.0,
            silence_secs: t.silence.0,
            mass_withdrawal_fraction: t.mass_withdrawal.0,
            mass_window_secs: t.mass_window.0,
            assumed_table_size: t
                .table_size
                .unwrap_or_else(|| cutoff_core::pipeline::typical_table_size(year)),
            exclude_asns,
            exclude_ips,
        },
        detect: cutoff_core::detect::DetectRules {
            min_duration_secs: t.min_duration.0,
            max_residual: t.max_residual,
            restore_fraction: t.restore_fraction.0,
            min_peers: t.min_peers,
        },
        from: None,
        to: None,
        helpers: cutoff_core::pipeline::default_helpers(),
        max_decoded: config.source.max_in_memory.0,
        timeline: false,
        downloads: None,
        files_done: None,
    }
}

/// What a run did, for the exit status and the metrics.
#[derive(Debug, Default)]
pub struct RunReport {
    pub files_processed: usize,
    pub alerts_raised: usize,
    pub undelivered: usize,
    pub incomplete: bool,
    pub visible_peers: BTreeMap<u32, usize>,
}

/// One run with the lock held: everything after loading the configuration.
pub fn run_locked(
    config: &MonitorConfig,
    store: &Store,
    make: &PipelineFactory,
    now: i64,
) -> Result<(RunReport, Checkpoint), String> {
    let mut ck = open_checkpoint(config, store)?;
    let sel = select(config, &mut ck, now)?;
    for w in &sel.warnings {
        warn(w);
    }
    let plan = scan_plan(config, &sel.collectors);
    let mut pipeline = make(&plan, ck.pipeline.take()).map_err(|e| {
        format!(
            "{}: {e}; delete it to start over (alerts may then repeat)",
            store.path().display()
        )
    })?;
    let mut report = RunReport {
        incomplete: sel.incomplete,
        ..RunReport::default()
    };
    let fed = if sel.collectors.is_empty() && sel.missing.is_empty() {
        Fed {
            events: Vec::new(),
            files: Vec::new(),
        }
    } else {
        pipeline.feed(&sel.collectors, &sel.missing)
    };
    crash_point("after-feed");
    // The placeholders of missing files were reported when they were declared missing.
    let read: Vec<&FileReport> = fed
        .files
        .iter()
        .filter(|f| !cutoff_core::files::is_missing_path(&f.path))
        .collect();
    for f in &read {
        report.incomplete |= report_file(f);
    }
    report.files_processed = read.len();
    report.visible_peers = pipeline.visible_peers();
    ck.pipeline = Some(pipeline.state()?);
    ck.counters.files_processed += read.len() as u64;
    report.alerts_raised = raise_alerts(config, &mut ck, &fed.events, now);
    prune_ledger(&mut ck, config.ledger_keep.0, now);
    store
        .save(&mut ck, now)
        .map_err(|e| format!("writing {}: {e}", store.path().display()))?;
    crash_point("after-checkpoint-write");
    report.undelivered = deliver(config, store, &mut ck, now)?;
    ck.counters.runs += 1;
    ck.counters.last_success = Some(now);
    store
        .save(&mut ck, now)
        .map_err(|e| format!("writing {}: {e}", store.path().display()))?;
    Ok((report, ck))
}

/// The checkpoint, or a new one; a changed watchlist starts the routing state over.
pub(crate) fn open_checkpoint(config: &MonitorConfig, store: &Store) -> Result<Checkpoint, String> {
    let asns = config.asns();
    let mut ck = store
        .load()?
        .unwrap_or_else(|| Checkpoint::new(asns.clone()));
    if ck.asns != asns {
        if ck.pipeline.is_some() {
            warn(&format!(
                "the watchlist changed (was {:?}, now {:?}): the routing state starts over from what is read from now on",
                ck.asns, asns
            ));
        }
        ck.pipeline = None;
        ck.asns = asns;
    }
    Ok(ck)
}

pub(crate) fn warn(msg: &str) {
    eprintln!("cutoff monitor: {msg}");
}

/// One stderr line per problem of a file (the routine note about records cut by 2008
/// collectors is left out: a monitor run prints nothing when nothing happened).
fn report_file(f: &FileReport) -> bool {
    let s = &f.stats;
    if let Some(p) = &s.problem {
        warn(&format!("{}: {p}", f.path));
    }
    for k in &s.skipped {
        warn(&format!("{}: {k}", f.path));
    }
    for (reason, n) in &s.unparsed_records {
        warn(&format!(
            "{}: {n} record(s) not read as written: {reason}",
            f.path
        ));
    }
    s.is_incomplete()
}

/// New events → alerts pending for every sink; an alert already in the ledger is not raised
/// again. Returns how many were raised.
pub(crate) fn raise_alerts(
    config: &MonitorConfig,
    ck: &mut Checkpoint,
    events: &[Event],
    now: i64,
) -> usize {
    let sinks: BTreeSet<String> = config
        .sinks
        .iter()
        .filter_map(|s| s.name().map(str::to_string))
        .collect();
    let mut raised = 0;
    let names = if events.is_empty() {
        AsNames::default()
    } else {
        cached_names(config)
    };
    for e in events {
        *ck.counters
            .events
            .entry(e.event.name().to_string())
            .or_default() += 1;
        let Some(entry) = config.entry(e.asn) else {
            continue;
        };
        if !entry.alerts_at(e.time) {
            continue;
        }
        let key = alert::key_of(e);
        if ck.alerts.iter().any(|a| a.key == key) {
            continue;
        }
        ck.alerts.push(LedgerEntry {
            key,
            raised: now,
            alert: Alert::named(e, &entry.label_named(&names), &names),
            pending: sinks.clone(),
            delivered: BTreeMap::new(),
        });
        raised += 1;
    }
    raised
}

/// The AS-name list `cutoff names fetch` keeps in the cache, if any; a broken one is said
/// and alerts go out with numbers only.
fn cached_names(config: &MonitorConfig) -> AsNames {
    match cutoff_core::asnames::load_cached(config.cache_dir()) {
        Ok(Some(list)) => list.names,
        Ok(None) => AsNames::default(),
        Err(e) => {
            warn(&format!("{e}; alerts name ASes by number only"));
            AsNames::default()
        }
    }
}

pub(crate) fn prune_ledger(ck: &mut Checkpoint, keep: i64, now: i64) {
    ck.alerts
        .retain(|a| !a.pending.is_empty() || now - a.raised < keep);
}

/// Deliver every pending alert, recording each delivery in the checkpoint at once. A sink
/// that fails is not tried again for the rest of this run; its alerts stay pending.
/// Returns the number of (alert, sink) deliveries still pending.
pub(crate) fn deliver(
    config: &MonitorConfig,
    store: &Store,
    ck: &mut Checkpoint,
    now: i64,
) -> Result<usize, String> {
    let mut sinks: BTreeMap<String, Box<dyn Sink>> = config
        .sinks
        .iter()
        .map(|s| (s.name().unwrap_or(s.kind()).to_string(), alert::build(s)))
        .collect();
    let mut failed: BTreeSet<String> = BTreeSet::new();
    let mut dropped = false;
    for i in 0..ck.alerts.len() {
        for name in ck.alerts[i].pending.clone() {
            let Some(sink) = sinks.get_mut(&name) else {
                warn(&format!(
                    "alert {} was pending for sink {name:?}, which is no longer configured; dropped for it",
                    ck.alerts[i].key
                ));
                ck.alerts[i].pending.remove(&name);
                dropped = true;
                continue;
            };
            if failed.contains(&name) {
                continue;
            }
            match sink.deliver(&ck.alerts[i].alert) {
                Ok(()) => {
                    crash_point("after-deliver");
                    let entry = &mut ck.alerts[i];
                    entry.pending.remove(&name);
                    entry.delivered.insert(name, now);
                    store
                        .save(ck, now)
                        .map_err(|e| format!("writing {}: {e}", store.path().display()))?;
                    crash_point("after-ledger-write");
                }
                Err(e) => {
                    warn(&format!(
                        "sink {name:?}: alert {} not delivered: {e}; kept for the next run",
                        ck.alerts[i].key
                    ));
                    failed.insert(name);
                }
            }
        }
    }
    if dropped {
        store
            .save(ck, now)
            .map_err(|e| format!("writing {}: {e}", store.path().display()))?;
    }
    Ok(ck.alerts.iter().map(|a| a.pending.len()).sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SinkConfig;
    use crate::seam::{Incremental, MissingData, with_placeholders};
    use cutoff_core::detect::{EventKind, Evidence};
    use cutoff_core::model::Timestamp;

    /// Emits the scripted events when the file of the same name is fed.
    struct Fake {
        script: BTreeMap<String, Vec<Event>>,
        fed: Vec<String>,
    }

    impl Incremental for Fake {
        fn feed(&mut self, collectors: &[CollectorFiles], missing: &[MissingData]) -> Fed {
            let mut fed = Fed {
                events: Vec::new(),
                files: Vec::new(),
            };
            for f in with_placeholders(collectors, missing)
                .iter()
                .flat_map(|c| &c.files)
            {
                let name = f
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                fed.events
                    .extend(self.script.get(&name).cloned().unwrap_or_default());
                self.fed.push(name);
            }
            fed
        }
        fn state(&mut self) -> Result<serde_json::Value, String> {
            Ok(serde_json::json!({ "fed": self.fed }))
        }
        fn visible_peers(&self) -> BTreeMap<u32, usize> {
            [(26780, 36)].into()
        }
        fn push_live(&mut self, _: Vec<cutoff_core::state::Msg>) {}
        fn tick_live(&mut self, _: Timestamp) -> Vec<Event> {
            Vec::new()
        }
        fn known_prefixes(&self) -> Vec<cutoff_core::model::Prefix> {
            Vec::new()
        }
    }

    fn event(kind: EventKind, secs: i64) -> Event {
        Event::new(kind, 26780, Timestamp::from_secs(secs), Evidence::default())
    }

    fn factory(script: BTreeMap<String, Vec<Event>>) -> Box<PipelineFactory> {
        Box::new(move |_plan, state| {
            let fed = state
                .and_then(|s| serde_json::from_value::<Vec<String>>(s["fed"].clone()).ok())
                .unwrap_or_default();
            Ok(Box::new(Fake {
                script: script.clone(),
                fed,
            }) as Box<dyn Incremental>)
        })
    }

    struct Setup {
        dir: tempfile::TempDir,
        config: MonitorConfig,
    }

    fn setup(extra: &str) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("mirror/bgpdata/2008.11/UPDATES")).expect("mkdir");
        let text = format!(
            "state_dir = \"state\"\n[[watch]]\nasn = 26780\nlabel = \"McColo\"\nsince = \"2008-11-11\"\n\
             [source]\nmirror = [\"mirror\"]\nsettle = \"0s\"\n\
             [[sink]]\ntype = \"file\"\npath = \"alerts.jsonl\"\n{extra}"
        );
        let path = dir.path().join("m.toml");
        std::fs::write(&path, text).expect("write config");
        let config = MonitorConfig::load(&path).expect("config");
        std::fs::create_dir_all(config.state_dir()).expect("state dir");
        Setup { dir, config }
    }

    impl Setup {
        fn add(&self, name: &str) {
            std::fs::write(
                self.dir
                    .path()
                    .join("mirror/bgpdata/2008.11/UPDATES")
                    .join(name),
                b"",
            )
            .expect("add file");
        }
        fn alert_keys(&self) -> Vec<String> {
            std::fs::read_to_string(self.dir.path().join("state/alerts.jsonl"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<Alert>(l).ok())
                .map(|a| a.key)
                .collect()
        }
    }

    #[test]
    fn alerts_are_raised_once_within_since_and_recorded_per_sink() {
        let s = setup("");
        let script: BTreeMap<String, Vec<Event>> = [
            // Before `since`: detected, counted, not alerted.
            (
                "updates.20081110.0000.bz2".to_string(),
                vec![event(EventKind::UpstreamLost, 1226275200)],
            ),
            (
                "updates.20081111.2145.bz2".to_string(),
                vec![event(EventKind::Disconnected, 1226439180)],
            ),
        ]
        .into();
        let make = factory(script);
        let store = Store::new(s.config.state_dir());
        s.add("updates.20081110.0000.bz2");
        let (r, _) = run_locked(&s.config, &store, &*make, 2_000_000_000).expect("run 1");
        assert_eq!(
            (r.alerts_raised, r.files_processed),
            (0, 0),
            "the fake reports no files"
        );
        s.add("updates.20081111.2145.bz2");
        // The second file is far after the first: with the default grace it waits.
        let (r, ck) = run_locked(&s.config, &store, &*make, 2_000_000_000).expect("run 2");
        assert_eq!(r.alerts_raised, 0);
        assert!(ck.collectors["route-views2"].hold.is_some());
        let (r, ck) = run_locked(&s.config, &store, &*make, 2_000_000_000 + 3600).expect("run 3");
        assert!(r.incomplete, "the hole became a gap");
        assert_eq!(r.alerts_raised, 1);
        assert_eq!(ck.alerts.len(), 1);
        assert!(ck.alerts[0].pending.is_empty());
        assert!(ck.alerts[0].delivered.contains_key("file"));
        assert_eq!(ck.counters.events["upstream_lost"], 1);
        assert_eq!(
            s.alert_keys(),
            ["AS26780/disconnected/2008-11-11T21:33:00Z"]
        );
        let (r, _) = run_locked(&s.config, &store, &*make, 2_000_000_000 + 4000).expect("run 4");
        assert_eq!((r.alerts_raised, r.incomplete), (0, false));
        assert_eq!(s.alert_keys().len(), 1);
    }

    #[test]
    fn an_undelivered_alert_stays_pending_and_goes_out_next_run() {
        let s = setup("");
        let flag = s.dir.path().join("ok");
        let mut config = s.config.clone();
        config.sinks.push(SinkConfig::Exec(crate::config::ExecSink {
            name: Some("pager".into()),
            command: vec!["test".into(), "-e".into(), flag.display().to_string()],
            timeout: crate::config::Secs(10),
        }));
        let script = [(
            "updates.20081111.2145.bz2".to_string(),
            vec![event(EventKind::Disconnected, 1226439180)],
        )]
        .into();
        let make = factory(script);
        let store = Store::new(config.state_dir());
        s.add("updates.20081111.2145.bz2");
        let (r, ck) = run_locked(&config, &store, &*make, 2_000_000_000).expect("run 1");
        assert_eq!((r.alerts_raised, r.undelivered), (1, 1));
        assert_eq!(ck.alerts[0].pending.iter().collect::<Vec<_>>(), ["pager"]);
        assert_eq!(s.alert_keys().len(), 1, "the file sink got it");
        std::fs::write(&flag, b"").expect("flag");
        let (r, ck) = run_locked(&config, &store, &*make, 2_000_000_100).expect("run 2");
        assert_eq!((r.alerts_raised, r.undelivered), (0, 0));
        assert!(ck.alerts[0].delivered.contains_key("pager"));
        assert_eq!(s.alert_keys().len(), 1, "not written twice");
    }
}
