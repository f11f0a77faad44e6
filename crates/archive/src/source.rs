//! Archive access for one run: the collectors asked for, planning from listings, and the
//! downloads going on while the readers wait for each file.

use crate::fetch::{self, Fetcher, Outcome, Readiness};
use crate::layout::{ArchivePlan, Collector, DEFAULT_COLLECTORS, Layout};
use cutoff_core::error::UsageError;
use cutoff_core::model::Timestamp;
use std::sync::Arc;

/// Collector names from the command line (default set when none), checked against the catalog.
pub fn collectors(
    names: &[String],
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Collector>, UsageError> {
    let names: Vec<String> = if names.is_empty() {
        DEFAULT_COLLECTORS.iter().map(|s| s.to_string()).collect()
    } else {
        names.to_vec()
    };
    let mut out: Vec<Collector> = Vec::new();
    for n in &names {
        let c = Collector::named(n).map_err(UsageError::Invalid)?;
        warn_if_inactive(&c, from, to);
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

fn warn_if_inactive(c: &Collector, from: Timestamp, to: Timestamp) {
    let year = |t: Timestamp| {
        t.to_datetime()
            .format("%Y")
            .to_string()
            .parse::<i32>()
            .unwrap_or(0)
    };
    match c.info() {
        None => tracing::warn!("{}: not in the catalog; trying the archive anyway", c.name),
        Some(i) if year(to) < i.first_year || i.last_year.is_some_and(|l| year(from) > l) => {
            tracing::warn!(
                "{}: the catalog has it active {}–{}; its files for this range are likely missing",
                c.name,
                i.first_year,
                i.last_year.map_or("now".to_string(), |l| l.to_string())
            )
        }
        Some(_) => {}
    }
}

/// Archive access for one run: planning (listings) and downloads.
pub struct ArchiveSource {
    pub layout: Layout,
    pub(crate) fetcher: Arc<Fetcher>,
    pub(crate) rt: tokio::runtime::Runtime,
}

/// Downloads going on in the background of a scan.
pub struct Downloads {
    handle: std::thread::JoinHandle<Vec<Outcome>>,
}

impl Downloads {
    pub fn join(self) -> Vec<Outcome> {
        self.handle.join().unwrap_or_default()
    }
}

impl ArchiveSource {
    pub fn plan(&self, collectors: &[Collector], from: Timestamp, to: Timestamp) -> ArchivePlan {
        let plan = self
            .rt
            .block_on(self.fetcher.plan(collectors, from, to, &self.layout));
        for c in &plan.collectors {
            if let Some(problem) = &c.rib_listing_failed {
                tracing::warn!(
                    "{}: no RIB ({problem}); reading the update files without one, so the baseline is partial",
                    c.collector
                );
            }
            let downloads = c.files.iter().filter(|f| f.missing.is_none()).count();
            let gaps = c.files.len() - downloads;
            tracing::info!(
                "{}: {} file(s) for {} to {}{}{}",
                c.collector,
                downloads,
                from.rfc3339(),
                to.rfc3339(),
                if c.without_rib {
                    ", no RIB at or before the start"
                } else {
                    ""
                },
                if gaps > 0 {
                    format!(", {gaps} gap(s)")
                } else {
                    String::new()
                }
            );
        }
        plan
    }

    /// Download the plan on a thread of its own; readers wait on the returned readiness.
    pub fn start(self, plan: &ArchivePlan) -> (Readiness, Downloads) {
        let ready = Readiness::for_plan(plan);
        let plan = plan.clone();
        let r = ready.clone();
        let handle = std::thread::spawn(move || {
            // Even if this thread panics, no reader may wait for a file forever.
            let _guard = FailPendingOnDrop(r.clone());
            let bar = fetch::progress_bar(plan.downloads().len() as u64, "fetch");
            let out = self
                .rt
                .block_on(fetch::fetch_plan(&self.fetcher, &plan, &r, &bar));
            bar.finish_and_clear();
            out
        });
        (ready, Downloads { handle })
    }

    /// Download the plan and wait.
    pub fn fetch_all(&self, plan: &ArchivePlan) -> Vec<Outcome> {
        let ready = Readiness::for_plan(plan);
        let bar = fetch::progress_bar(plan.downloads().len() as u64, "fetch");
        let out = self
            .rt
            .block_on(fetch::fetch_plan(&self.fetcher, plan, &ready, &bar));
        bar.finish_and_clear();
        out
    }
}

struct FailPendingOnDrop(Readiness);

impl Drop for FailPendingOnDrop {
    fn drop(&mut self) {
        self.0
            .fail_pending("internal error: the downloader stopped");
    }
}
