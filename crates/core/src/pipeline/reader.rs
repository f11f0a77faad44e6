//! One stream's reader: its files in order, filtered to what the watched ASes need, sent to
//! the pipeline's merge in batches.

use crate::files::{CollectorFiles, FileKind, MrtFile};
use crate::model::{CollectorId, Origin, PeerId, Prefix, Timestamp};
use crate::parse::ahead::Gate;
use crate::parse::{self, FileStats, Item, RouteKind};
use crate::state::{Msg, TableSize};
use crate::summary::FileReport;
use crate::watch::Watch;
use crossbeam_channel::Sender;
// Per-peer counters are updated for every update message; FxHash is several times cheaper
// than SipHash there, and the keys (peer addresses from the collector) need no DoS defence.
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A stream's share of the threads, its memory limit, and the count of files read (shared
/// by every stream, for a progress display).
pub(crate) struct LaneOptions {
    pub helpers: usize,
    pub max_decoded: u64,
    pub done: Option<Arc<AtomicUsize>>,
    /// Keep the stream instead of sending it, for a partial ([`super::partial`]).
    pub capture: bool,
}

/// A stream's reading as a partial keeps it: the messages (without per-minute counters),
/// where each file's messages end, the rises of the stream's minute with the counters they
/// closed, the counters still open at its end, and the prefixes it learned.
#[derive(Default)]
pub(crate) struct Captured {
    pub messages: Vec<Msg>,
    pub file_ends: Vec<usize>,
    pub marks: Vec<super::partial::MinuteMark>,
    pub tail: Vec<super::partial::PeerCount>,
    pub learned: BTreeSet<Prefix>,
}

/// Messages per batch sent over the channel.
pub(crate) const BATCH: usize = 2048;

/// Read one collector's files in order, filter, and send batches of messages. Update files
/// are decompressed into memory by `helpers` other threads (and this one, when it would
/// otherwise wait; see [`parse::ahead`]); RIBs and unknown files are streamed, the blocks of
/// a large bzip2 one decoded on `helpers + 1` threads ([`parse::decode::open_on`]). Every file
/// is read once `gate` says it may be (downloaded, or local).
pub(crate) fn read_collector(
    group: &CollectorFiles,
    base: u32,
    mut watch: Watch,
    tx: Sender<Vec<Msg>>,
    options: LaneOptions,
    gate: Arc<dyn Gate>,
) -> (Vec<FileReport>, Option<Captured>) {
    let LaneOptions {
        helpers,
        max_decoded,
        done,
        capture,
    } = options;
    let mut reports = Vec::new();
    // Per-peer minute counters belong to the stream, not to a file: a minute that two files
    // share is counted once and flushed once, after its last message, wherever the collector
    // cut its files.
    let mut activity = Activity {
        marks: capture.then(Vec::new),
        ..Activity::default()
    };
    let mut learned = capture.then(BTreeSet::new);
    let mut file_ends = Vec::new();
    let mut sender = BatchSender {
        tx,
        batch: Vec::with_capacity(BATCH),
        closed: false,
        pushed: 0,
        kept: capture.then(Vec::new),
    };
    let in_memory = |f: &MrtFile| f.kind == FileKind::Updates && !f.is_missing();
    let jobs = group.files.iter().filter(|f| in_memory(f));
    let mut ahead = parse::ahead::Ahead::start(
        jobs.map(|f| f.path.clone()).collect(),
        parse::ahead::Limits {
            helpers,
            window: helpers + 2,
            max_decoded,
        },
        Arc::clone(&gate),
    );
    for (i, file) in group.files.iter().enumerate() {
        activity.file = i as u32;
        let mut reader = FileReader::new(
            group.collector.clone(),
            base + i as u32,
            &mut watch,
            &mut activity,
            &mut sender,
        );
        reader.learned = learned.as_mut();
        let decoded = if in_memory(file) { ahead.take() } else { None };
        let stats = match decoded {
            // A hole in the collector's stream: nothing to read, a gap where it begins.
            _ if file.is_missing() => FileStats::failed(crate::files::MISSING_PROBLEM.into()),
            Some(parse::ahead::Decoded::Bytes(bytes, err)) => read_decoded(bytes, err, &mut reader),
            Some(parse::ahead::Decoded::Unavailable(reason)) => FileStats::failed(reason),
            // A RIB, an unknown file, or one too large to hold (compressed or expanded):
            // streamed, so its memory stays bounded.
            Some(parse::ahead::Decoded::TooLarge) | None => match gate.wait(&file.path) {
                // Missing from the archive or not downloaded: a gap, named by its URL.
                Err(reason) => FileStats::failed(reason),
                // The helpers are idle once the files ahead are decoded: a large RIB's
                // blocks are decoded on their threads and this one.
                Ok(()) => parse::read_file_on(&file.path, helpers + 1, &mut reader),
            },
        };
        reader.finish(&stats, file);
        file_ends.push(sender.pushed);
        reports.push(FileReport {
            path: file.path.display().to_string(),
            collector: group.collector.to_string(),
            kind: file.kind,
            stats,
        });
        if let Some(done) = &done {
            done.fetch_add(1, Ordering::Relaxed);
        }
    }
    let captured = match activity.marks.take() {
        // A partial leaves the last minute open: the next partition may go on counting it.
        Some(marks) => {
            sender.flush();
            Some(Captured {
                messages: sender.kept.take().unwrap_or_default(),
                file_ends,
                marks,
                tail: activity.drain_sorted(),
                learned: learned.unwrap_or_default(),
            })
        }
        None => {
            activity.flush(&group.collector, &mut sender);
            sender.flush();
            None
        }
    };
    (reports, captured)
}

/// Whether a watched AS originates a path (or may, when it ends in an AS_SET).
fn originated_by_watched(watch: &Watch, path: &crate::model::AsPath) -> bool {
    match path.origin() {
        Origin::As(a) => watch.watches_asn(a),
        Origin::Uncertain(set) => set.iter().any(|a| watch.watches_asn(*a)),
        Origin::None => false,
    }
}

/// Learn, before reading, every prefix a watched AS originates anywhere in `files`.
///
/// Withdrawals name no origin, so a stream keeps one only for a prefix it knows. Files whose
/// names give no time are streams of their own, read side by side: an announcement in one and
/// its withdrawal in another would otherwise lose the withdrawal, and the verdict would depend
/// on how the collector named its files. Files that cannot be had yet are left to the read.
pub(crate) fn learn_prefixes(files: &[MrtFile], watch: &mut Watch, gate: &dyn Gate) {
    for f in files {
        if gate.wait(&f.path).is_ok() {
            parse::read_file_with(&f.path, &mut Learner { watch });
        }
    }
}

/// Parses only records a watched AS originates, and learns their prefixes.
struct Learner<'a> {
    watch: &'a mut Watch,
}

impl parse::Handler for Learner<'_> {
    fn item(&mut self, item: Item) {
        if let Item::Route(r) = item
            && let Some(attrs) = &r.attrs
            && originated_by_watched(self.watch, &attrs.path)
        {
            self.watch.insert(r.prefix);
        }
    }

    fn prefilters(&self) -> bool {
        true
    }

    fn wants(&mut self, _: Timestamp, u: &parse::prefilter::UpdateView<'_>) -> bool {
        let watch = &*self.watch;
        u.any_origin(&mut |a| watch.watches_asn(a))
    }

    fn wants_rib(&mut self, _: Timestamp, rib: &parse::prefilter::RibView<'_>) -> bool {
        let watch = &*self.watch;
        rib.any_origin(&mut |a| watch.watches_asn(a))
    }
}

/// Messages and withdrawals per peer in the current minute of a stream.
#[derive(Default)]
struct Activity {
    /// The minute being counted (`None` before the first message).
    minute: Option<i64>,
    counts: FxHashMap<(IpAddr, u32), (u32, u32)>,
    /// For a partial: each rise of the minute is kept (with the counts it closes) instead of
    /// flushed, so that a merge can go on counting a minute the previous partition left open.
    marks: Option<Vec<super::partial::MinuteMark>>,
    /// The file being read (its place in the stream), for the marks.
    file: u32,
}

impl Activity {
    /// A message at `t`: when its minute is a new one, the previous minute's counts go out
    /// first (stamped with that minute's last second, before `t`, so the stream stays in
    /// time order).
    fn tick(&mut self, t: Timestamp, collector: &CollectorId, out: &mut BatchSender) {
        let minute = t.secs.div_euclid(60);
        let rises = self.minute.is_none_or(|m| m < minute);
        if rises && self.marks.is_some() {
            let counts = self.drain_sorted();
            if let Some(marks) = self.marks.as_mut() {
                marks.push(super::partial::MinuteMark {
                    file: self.file,
                    at: out.pushed,
                    minute,
                    counts,
                });
            }
        } else if self.minute.is_some_and(|m| m < minute) {
            self.flush(collector, out);
        }
        if rises {
            self.minute = Some(minute);
        }
    }

    fn count(&mut self, peer: (IpAddr, u32), messages: u32, withdrawals: u32) {
        let c = self.counts.entry(peer).or_default();
        c.0 += messages;
        c.1 += withdrawals;
    }

    /// The counts of the minute, taken, in peer order.
    fn drain_sorted(&mut self) -> Vec<super::partial::PeerCount> {
        let mut entries: Vec<_> = self.counts.drain().collect();
        entries.sort_unstable();
        entries
    }

    fn flush(&mut self, collector: &CollectorId, out: &mut BatchSender) {
        let Some(minute) = self.minute else { return };
        let time = minute_end(minute);
        for msg in activity_messages(collector, time, self.drain_sorted()) {
            out.push(msg);
        }
    }
}

/// The last second of a minute of the stream: its counters are stamped with it.
pub(crate) fn minute_end(minute: i64) -> Timestamp {
    Timestamp::from_secs(minute * 60 + 59)
}

/// Per-peer counters as messages, stamped `time` (for files, [`minute_end`] of their minute).
pub(crate) fn activity_messages(
    collector: &CollectorId,
    time: Timestamp,
    counts: Vec<super::partial::PeerCount>,
) -> impl Iterator<Item = Msg> + '_ {
    counts
        .into_iter()
        .map(move |((ip, asn), (messages, withdrawals))| Msg::Activity {
            time,
            peer: PeerId {
                collector: collector.clone(),
                ip,
                asn,
            },
            messages,
            withdrawals,
        })
}

/// Parse a file decompressed into memory; a decompression error after some bytes becomes the
/// file's problem, after the records those bytes held.
fn read_decoded(
    bytes: Vec<u8>,
    err: Option<std::io::Error>,
    reader: &mut FileReader<'_>,
) -> FileStats {
    let source = parse::Source::Memory {
        data: bytes::Bytes::from(bytes),
        at: 0,
    };
    let mut stats = parse::read_records(source, reader);
    if let Some(e) = err {
        let note = format!(
            "{}; {} complete records read before it",
            parse::read_error(&e),
            stats.records
        );
        stats.problem = Some(match stats.problem.take() {
            Some(p) => format!("{note}; {p}"),
            None => note,
        });
    }
    stats
}

struct BatchSender {
    tx: Sender<Vec<Msg>>,
    batch: Vec<Msg>,
    closed: bool,
    /// Messages pushed so far (the place of the next one in the stream).
    pushed: usize,
    /// For a partial: the stream is kept here instead of sent.
    kept: Option<Vec<Msg>>,
}

impl BatchSender {
    fn push(&mut self, m: Msg) {
        self.pushed += 1;
        self.batch.push(m);
        if self.batch.len() >= BATCH {
            self.flush();
        }
    }
    fn flush(&mut self) {
        if self.batch.is_empty() || self.closed {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        if let Some(kept) = self.kept.as_mut() {
            kept.extend(batch);
            return;
        }
        if self.tx.send(batch).is_err() {
            self.closed = true;
        }
    }
}

/// Filters one file's items into messages, counting per-peer activity and RIB table sizes.
struct FileReader<'a> {
    collector: CollectorId,
    file: u32,
    watch: &'a mut Watch,
    activity: &'a mut Activity,
    out: &'a mut BatchSender,
    tables: FxHashMap<(IpAddr, u32), TableSize>,
    rib_started: bool,
    last_time: Option<Timestamp>,
    /// For a partial: every prefix seen originated by a watched AS.
    learned: Option<&'a mut BTreeSet<Prefix>>,
}

impl parse::Handler for FileReader<'_> {
    fn item(&mut self, item: Item) {
        self.take(item);
    }

    fn prefilters(&self) -> bool {
        true
    }

    /// Parse an UPDATE in full only if it touches a watched prefix or a watched AS
    /// originates it; otherwise just count it for its peer.
    fn wants(&mut self, time: Timestamp, u: &parse::prefilter::UpdateView<'_>) -> bool {
        let watch = &*self.watch;
        if u.any_origin(&mut |a| watch.watches_asn(a)) || u.nlri().any(|n| watch.covers_nlri(&n)) {
            return true;
        }
        self.last_time = Some(time);
        self.tick(time);
        self.activity.count(
            (u.peer_ip, u.peer_asn),
            u.withdrawals + u.announcements,
            u.withdrawals,
        );
        false
    }

    /// Parse a RIB record in full only if its prefix is watched or a watched AS originates
    /// one of its routes; otherwise just count each peer's table.
    fn wants_rib(&mut self, time: Timestamp, rib: &parse::prefilter::RibView<'_>) -> bool {
        let watch = &*self.watch;
        if watch.covers(&rib.prefix) || rib.any_origin(&mut |a| watch.watches_asn(a)) {
            return true;
        }
        self.last_time = Some(time);
        self.tick(time);
        for e in &rib.entries {
            self.tables
                .entry((e.peer_ip, e.peer_asn))
                .or_default()
                .add(&rib.prefix);
        }
        false
    }
}

impl<'a> FileReader<'a> {
    fn new(
        collector: CollectorId,
        file: u32,
        watch: &'a mut Watch,
        activity: &'a mut Activity,
        out: &'a mut BatchSender,
    ) -> Self {
        FileReader {
            collector,
            file,
            watch,
            activity,
            out,
            tables: FxHashMap::default(),
            rib_started: false,
            last_time: None,
            learned: None,
        }
    }

    fn peer(&self, ip: IpAddr, asn: u32) -> PeerId {
        PeerId {
            collector: self.collector.clone(),
            ip,
            asn,
        }
    }

    fn take(&mut self, item: Item) {
        let t = item.time();
        self.last_time = Some(t);
        match item {
            Item::State(s) => {
                self.tick(t);
                let peer = self.peer(s.peer_ip, s.peer_asn);
                self.out.push(Msg::State {
                    time: t,
                    peer,
                    old: s.old_state,
                    new: s.new_state,
                });
            }
            Item::Route(r) if r.kind == RouteKind::Rib => {
                self.tick(t);
                self.tables
                    .entry((r.peer_ip, r.peer_asn))
                    .or_default()
                    .add(&r.prefix);
                let Some(attrs) = r.attrs else { return };
                if !self.wanted(&r.prefix, Some(&attrs.path)) {
                    return;
                }
                if !self.rib_started {
                    self.rib_started = true;
                    self.out.push(Msg::RibBegin {
                        time: t,
                        collector: self.collector.clone(),
                    });
                }
                let peer = self.peer(r.peer_ip, r.peer_asn);
                self.out.push(Msg::RibRoute {
                    time: t,
                    peer,
                    prefix: r.prefix,
                    attrs,
                    file: self.file,
                });
            }
            Item::Route(r) => {
                self.tick(t);
                let withdrawals = u32::from(r.kind == RouteKind::Withdraw);
                self.activity.count((r.peer_ip, r.peer_asn), 1, withdrawals);
                if !self.wanted(&r.prefix, r.attrs.as_ref().map(|a| &a.path)) {
                    return;
                }
                let peer = self.peer(r.peer_ip, r.peer_asn);
                self.out.push(Msg::Route {
                    time: t,
                    peer,
                    prefix: r.prefix,
                    attrs: r.attrs,
                    file: self.file,
                });
            }
        }
    }

    /// A watched prefix (or more specific), or any route a watched AS originates.
    fn wanted(&mut self, prefix: &Prefix, path: Option<&crate::model::AsPath>) -> bool {
        if path.is_some_and(|p| originated_by_watched(self.watch, p)) {
            self.watch.insert(*prefix);
            if let Some(learned) = self.learned.as_mut() {
                learned.insert(*prefix);
            }
            return true;
        }
        self.watch.covers(prefix)
    }

    /// Flush per-peer activity at each new minute of the stream.
    fn tick(&mut self, t: Timestamp) {
        self.activity.tick(t, &self.collector, self.out);
    }

    fn finish(mut self, stats: &FileStats, file: &MrtFile) {
        let end = self.last_time.or(file.start).unwrap_or_default();
        let rib = file.kind == FileKind::Rib || self.rib_started || !self.tables.is_empty();
        if let (true, Some(reason)) = (rib, &stats.problem) {
            // A RIB cut short is no snapshot: applied, it would withdraw every route it did
            // not get to. It is dropped whole; the updates go on as they were.
            self.tables.clear();
            self.out.push(Msg::Gap {
                time: end,
                collector: self.collector.clone(),
                reason: reason.clone(),
                hole: false,
            });
            return;
        }
        if !self.tables.is_empty() {
            if !self.rib_started {
                self.out.push(Msg::RibBegin {
                    time: end,
                    collector: self.collector.clone(),
                });
            }
            let tables = self.tables.drain();
            self.out.push(Msg::rib_end(end, &self.collector, tables));
        }
        // Update data that stopped early, or is missing: a hole in the stream from here to
        // the collector's next message.
        if let Some(reason) = &stats.problem {
            self.out.push(Msg::Gap {
                time: end,
                collector: self.collector.clone(),
                reason: reason.clone(),
                hole: true,
            });
        }
    }
}
