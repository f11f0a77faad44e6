//! `cutoff monitor --follow`: one long-running process fed by live sources (a BMP station
//! for routers, RIS Live), with the watchlist, thresholds, sinks, checkpoint and alert ledger
//! of the cron mode. It runs until SIGTERM or SIGINT, then writes its checkpoint and exits 0.
//!
//! The routing state is judged as of each second that ends: by the first message of the next,
//! or by the clock (checked ten times a second), which is the latest message's time plus the
//! time gone by since it arrived: the wall clock for BMP (stamped on receipt), the collector's
//! for RIS Live (so a replay of the past is judged in its own time). An event confirmed raises
//! its alert at once: the ledger is written with the alert pending, then the sinks are tried
//! (as a cron run does). The routing state is also written once a minute, so a restart goes on
//! from it; what routers or RIS sent while the monitor was away is never replayed, but each
//! router resends its table on reconnecting, and where that table disagrees with the saved
//! state the change is dated with bounds.

use crate::RunOptions;
use crate::checkpoint::{Checkpoint, Store};
use crate::config::MonitorConfig;
use crate::durable::Lock;
use crate::live_metrics::LiveMetrics;
use crate::run::{deliver, open_checkpoint, prune_ledger, raise_alerts, scan_plan, warn};
use crate::seam::{Incremental, PipelineFactory};
use anyhow::{Context, anyhow, bail};
use cutoff_core::error::ExitStatus;
use cutoff_core::model::Timestamp;
use cutoff_core::state::Msg;
use cutoff_core::watch::Watch;
use cutoff_live::bmp_station::now;
use cutoff_live::{LiveUpdate, RisLiveOptions, Station, StationOptions};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

/// How often the routing state is written when nothing else writes it.
const SAVE_EVERY: Duration = Duration::from_secs(60);

/// The whole `--follow` command.
pub fn follow_with(args: &RunOptions, make: &PipelineFactory) -> anyhow::Result<ExitStatus> {
    let config = MonitorConfig::load(&args.config)?;
    if !config.source.is_live() {
        bail!(
            "{}: --follow needs a live source: [source] bmp_listen = \"ADDR:PORT\" for routers, or ris_live = true for RIS Live",
            args.config.display()
        );
    }
    let dir = config.state_dir();
    std::fs::create_dir_all(dir).map_err(|e| anyhow!("state_dir {}: {e}", dir.display()))?;
    let Some(_lock) =
        Lock::acquire(dir).map_err(|e| anyhow!("{}: {e}", dir.join("lock").display()))?
    else {
        bail!(
            "another run holds the lock ({}); --follow holds it for as long as it runs",
            dir.join("lock").display()
        );
    };
    let store = Store::new(dir);
    let mut ck = open_checkpoint(&config, &store).map_err(anyhow::Error::msg)?;
    let plan = scan_plan(&config, &[]);
    let pipeline = make(&plan, ck.pipeline.take()).map_err(|e| {
        anyhow!(
            "{}: {e}; delete it to start over (alerts may then repeat)",
            store.path().display()
        )
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let mut follower = Follower {
        config: &config,
        store: &store,
        ck,
        pipeline,
        last_save: Instant::now(),
        metrics: Arc::default(),
        clock: None,
    };
    runtime.block_on(follower.run(&plan.prefixes))?;
    Ok(ExitStatus::Success)
}

struct Follower<'a> {
    config: &'a MonitorConfig,
    store: &'a Store,
    ck: Checkpoint,
    pipeline: Box<dyn Incremental>,
    last_save: Instant,
    metrics: Arc<Mutex<LiveMetrics>>,
    /// The latest message time, and when it arrived: the clock the state is judged by is that
    /// time plus the time gone by since. A BMP station stamps messages on receipt, so this is
    /// the wall clock; RIS Live stamps them with the collector's clock, so a feed replaying
    /// the past is judged in its own time.
    clock: Option<(Timestamp, Instant)>,
}

impl Follower<'_> {
    async fn run(&mut self, given: &[cutoff_core::model::Prefix]) -> anyhow::Result<()> {
        let mut prefixes = self.pipeline.known_prefixes();
        prefixes.extend_from_slice(given);
        let watch = Arc::new(RwLock::new(Watch::new(self.config.asns(), prefixes)));
        let (tx, mut rx) = mpsc::channel(256);
        let source = &self.config.source;
        if let Some(listen) = source.bmp_listen {
            let options = StationOptions {
                listen,
                dump_deadline_secs: source.bmp_dump_deadline.0,
            };
            let station = Station::start(options, Arc::clone(&watch), tx.clone())
                .await
                .with_context(|| format!("BMP station on {listen}"))?;
            eprintln!(
                "cutoff monitor: BMP station listening on {}",
                station.local_addr
            );
        }
        if let Some(url) = source.ris_live_endpoint() {
            let options = RisLiveOptions {
                url: url.to_string(),
                hosts: source.ris_live_hosts.clone(),
                asns: self.config.asns(),
                silence: Duration::from_secs(source.ris_live_silence.0.unsigned_abs()),
            };
            let what = if options.hosts.is_empty() {
                "the watched prefixes and ASes".to_string()
            } else {
                format!("all of {}", options.hosts.join(", "))
            };
            eprintln!(
                "cutoff monitor: RIS Live from {url} ({what}); no initial table: eligible peers are learned from the announcements seen (a partial baseline)"
            );
            cutoff_live::ris_live::spawn(options, Arc::clone(&watch), tx.clone());
        }
        drop(tx);
        if let Some(addr) = self.config.metrics_listen {
            let bound = crate::live_metrics::serve(addr, Arc::clone(&self.metrics))
                .await
                .with_context(|| format!("metrics on {addr}"))?;
            eprintln!("cutoff monitor: metrics on http://{bound}/metrics");
        }
        // systemd (`Type=notify`): ready once every source is up; the watchdog is fed from
        // the loop that judges, so a hung judge is restarted. Without NOTIFY_SOCKET, nothing.
        let _ = sd_notify::notify(&[
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status("following"),
        ]);
        let watchdog = sd_notify::watchdog_enabled().map(|d| d / 2);
        let mut fed = Instant::now();
        let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
        // The state is judged per second of the clock (as per second of MRT time): checking
        // ten times a second judges a second at most 0.1 s after it ends.
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                update = rx.recv() => match update {
                    Some(u) => self.take(u)?,
                    None => bail!("every live source stopped"),
                },
                _ = tick.tick() => {
                    self.judge()?;
                    if watchdog.is_some_and(|every| fed.elapsed() >= every) {
                        let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                        fed = Instant::now();
                    }
                }
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        }
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        self.save().map_err(anyhow::Error::msg)
    }

    fn take(&mut self, update: LiveUpdate) -> anyhow::Result<()> {
        match update {
            LiveUpdate::Messages { msgs, .. } | LiveUpdate::Feed { msgs } => {
                self.note_messages(&msgs);
                self.pipeline.push_live(msgs);
                return self.judge();
            }
            LiveUpdate::Connected { collector, remote } => {
                eprintln!("cutoff monitor: router {collector} connected from {remote}");
                self.set_connected(collector.as_str(), true);
            }
            LiveUpdate::Disconnected { collector, reason } => {
                self.set_connected(collector.as_str(), false);
                warn(&format!(
                    "router {collector} disconnected ({reason}); its sessions are unknown until it is back"
                ));
            }
            LiveUpdate::FeedUp { source, detail } => {
                eprintln!("cutoff monitor: {source}: {detail}");
                self.set_connected(&source, true);
            }
            LiveUpdate::FeedDown { source, reason } => {
                self.set_connected(&source, false);
                warn(&format!("{source} lost: {reason}"));
            }
            LiveUpdate::Note(note) => warn(&note),
        }
        Ok(())
    }

    fn set_connected(&self, source: &str, up: bool) {
        if let Ok(mut m) = self.metrics.lock() {
            m.connected.insert(source.to_string(), up);
        }
    }

    /// The clock moves to the latest message; each collector's last message time is kept for
    /// the metrics.
    fn note_messages(&mut self, msgs: &[Msg]) {
        let Some(latest) = msgs.iter().map(Msg::time).max() else {
            return;
        };
        if self.clock.is_none_or(|(t, _)| latest > t) {
            self.clock = Some((latest, Instant::now()));
        }
        let Ok(mut m) = self.metrics.lock() else {
            return;
        };
        for msg in msgs {
            let t = msg.time();
            let secs = t.secs as f64 + f64::from(t.micros) / 1e6;
            let last = m
                .last_message
                .entry(msg.collector().to_string())
                .or_insert(secs);
            *last = last.max(secs);
        }
    }

    /// The time the state is judged as of: the latest message's, plus the time gone by since
    /// it arrived. None before the first message.
    fn clock_now(&self) -> Option<Timestamp> {
        let (t, at) = self.clock?;
        let gone = at.elapsed();
        let micros = i64::from(t.micros) + i64::from(gone.subsec_micros());
        Some(Timestamp {
            secs: t.secs + gone.as_secs() as i64 + micros / 1_000_000,
            micros: (micros % 1_000_000) as u32,
        })
    }

    /// Judge the state as of the clock; alert on what was confirmed.
    fn judge(&mut self) -> anyhow::Result<()> {
        let Some(clock) = self.clock_now() else {
            return Ok(());
        };
        let events = self.pipeline.tick_live(clock);
        if !events.is_empty() {
            let t = chrono::Utc::now().timestamp();
            self.ck.pipeline = Some(self.pipeline.state().map_err(anyhow::Error::msg)?);
            let raised = raise_alerts(self.config, &mut self.ck, &events, t);
            self.note_alerts(&events, raised);
            prune_ledger(&mut self.ck, self.config.ledger_keep.0, t);
            self.write(t)?;
            deliver(self.config, self.store, &mut self.ck, t).map_err(anyhow::Error::msg)?;
            self.write(t)?;
        } else if self.last_save.elapsed() >= SAVE_EVERY {
            self.save().map_err(anyhow::Error::msg)?;
        }
        Ok(())
    }

    /// Alert latency (now − the time of the message that confirmed each event), event counts,
    /// visibility, for the metrics.
    fn note_alerts(&mut self, events: &[cutoff_core::detect::Event], raised: usize) {
        let clock = now();
        let Ok(mut m) = self.metrics.lock() else {
            return;
        };
        m.alerts_total += raised as u64;
        for e in events {
            *m.events_total
                .entry(e.event.name().to_string())
                .or_default() += 1;
            let lag = (clock.secs - e.time.secs) as f64
                + (f64::from(clock.micros) - f64::from(e.time.micros)) / 1e6;
            m.latency_sum += lag;
            m.latency_count += 1;
            m.latency_max = m.latency_max.max(lag);
        }
        let visible = self.pipeline.visible_peers();
        m.visible_peers = self
            .config
            .watch
            .iter()
            .filter_map(|w| visible.get(&w.asn.0).map(|n| (w.asn.0, w.label(), *n)))
            .collect();
    }

    /// The routing state and the ledger, written.
    fn save(&mut self) -> Result<(), String> {
        self.ck.pipeline = Some(self.pipeline.state()?);
        let t = chrono::Utc::now().timestamp();
        self.write(t).map_err(|e| e.to_string())
    }

    fn write(&mut self, t: i64) -> anyhow::Result<()> {
        self.last_save = Instant::now();
        self.store
            .save(&mut self.ck, t)
            .map_err(|e| anyhow!("writing {}: {e}", self.store.path().display()))
    }
}
