//! The partial file: one partition's reading, in Parquet (schema in docs/PARTIALS.md).
//!
//! One row per message of a segment's stream (routes, withdrawals, RIB routes, session
//! states, RIB boundaries, gaps) and per counter of its minutes; the key-value metadata
//! `cutoff.partial` holds, as JSON, what the scan was told (ASes, prefixes, rules, range)
//! and per segment its collector, files (with what reading each found), and the prefixes it
//! watched and learned. Routes keep their whole attributes as JSON beside readable columns
//! (path, origin, upstream), so a merge rebuilds them exactly.

use arrow_array::builder::{
    BooleanBuilder, Int64Builder, StringBuilder, UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, UInt16Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use cutoff_core::detect::DetectRules;
use cutoff_core::files::FileKind;
use cutoff_core::model::{CollectorId, Origin, PeerId, Prefix, Timestamp};
use cutoff_core::parse::{FileStats, RouteAttrs};
use cutoff_core::pipeline::ScanPlan;
use cutoff_core::pipeline::partial::{MinuteMark, PeerCount, Segment, SegmentFile};
use cutoff_core::state::{EligibilityRules, Msg, TableSize};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Version of the partial's rows and metadata; bumped when a partial can no longer be read
/// as before.
pub const PARTIAL_SCHEMA_VERSION: u32 = 2;

/// The metadata key holding the JSON header.
const HEADER_KEY: &str = "cutoff.partial";

#[derive(Debug, thiserror::Error)]
pub enum PartialError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a readable Parquet file: {source}", path.display())]
    Parquet {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    #[error("{}: {problem}", path.display())]
    Format { path: PathBuf, problem: String },
}

/// What a scan was told, recorded in each partial so that their merge judges by the same
/// rules, and refuses partials of different scans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanParams {
    pub asns: Vec<u32>,
    pub prefixes: Vec<Prefix>,
    /// Prefixes given to this partition to watch from its start (learned by the partitions
    /// before it); not part of what the scan was told.
    pub known_prefixes: Vec<Prefix>,
    pub eligibility: EligibilityRules,
    pub detect: DetectRules,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// The assumed table size came from the first file's year (no --table-size): the merge
    /// takes it from the first year of all the partitions' files.
    pub table_size_by_year: bool,
}

impl ScanParams {
    pub fn of_plan(plan: &ScanPlan, known_prefixes: &[Prefix], table_size_by_year: bool) -> Self {
        ScanParams {
            asns: plan.asns.clone(),
            prefixes: plan.prefixes.clone(),
            known_prefixes: known_prefixes.to_vec(),
            eligibility: plan.eligibility.clone(),
            detect: plan.detect.clone(),
            from: plan.from,
            to: plan.to,
            table_size_by_year,
        }
    }

    /// Whether two partials belong to the same scan (the year-given table size and the
    /// prefixes given to one partition may differ).
    pub fn same_scan(&self, other: &ScanParams) -> bool {
        let norm = |p: &ScanParams| {
            let mut p = p.clone();
            p.known_prefixes.clear();
            if p.table_size_by_year {
                p.eligibility.assumed_table_size = 0;
            }
            p
        };
        norm(self) == norm(other)
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    version: u32,
    tool: String,
    scan: ScanParams,
    segments: Vec<SegmentHeader>,
}

#[derive(Serialize, Deserialize)]
struct SegmentHeader {
    collector: String,
    timed: bool,
    files: Vec<FileHeader>,
    watched_from_start: Vec<Prefix>,
    learned: Vec<Prefix>,
}

#[derive(Serialize, Deserialize)]
struct FileHeader {
    path: String,
    kind: FileKind,
    start: Option<Timestamp>,
    messages_end: usize,
    #[serde(flatten)]
    stats: FileStats,
}

/// A partial: what the scan was told, and its segments.
pub struct PartialFile {
    pub scan: ScanParams,
    pub segments: Vec<Segment>,
}

/// Rows per record batch written.
const BATCH_ROWS: usize = 65_536;

fn schema() -> Arc<Schema> {
    let f = |name: &str, t: DataType, nullable: bool| Field::new(name, t, nullable);
    Arc::new(Schema::new(vec![
        f("segment", DataType::UInt32, false),
        f("seq", DataType::UInt64, false),
        f("kind", DataType::Utf8, false),
        f("collector", DataType::Utf8, false),
        f("file", DataType::UInt32, true),
        f("time", DataType::Int64, false),
        f("micros", DataType::UInt32, false),
        f("peer_ip", DataType::Utf8, true),
        f("peer_asn", DataType::UInt32, true),
        f("prefix", DataType::Utf8, true),
        f("as_path", DataType::Utf8, true),
        f("origin_asn", DataType::UInt32, true),
        f("upstream", DataType::UInt32, true),
        f("attrs", DataType::Utf8, true),
        f("old_state", DataType::UInt16, true),
        f("new_state", DataType::UInt16, true),
        f("count", DataType::UInt64, true),
        f("count_v6", DataType::UInt64, true),
        f("withdrawals", DataType::UInt64, true),
        f("reason", DataType::Utf8, true),
        f("hole", DataType::Boolean, true),
    ]))
}

/// One row, before it goes into the columns.
#[derive(Default)]
struct Row {
    segment: u32,
    seq: u64,
    kind: &'static str,
    file: Option<u32>,
    time: Timestamp,
    peer: Option<(IpAddr, u32)>,
    prefix: Option<Prefix>,
    attrs: Option<Arc<RouteAttrs>>,
    states: Option<(u16, u16)>,
    count: Option<u64>,
    count_v6: Option<u64>,
    withdrawals: Option<u64>,
    reason: Option<String>,
    hole: Option<bool>,
}

#[derive(Default)]
struct Columns {
    segment: UInt32Builder,
    seq: UInt64Builder,
    kind: StringBuilder,
    collector: StringBuilder,
    file: UInt32Builder,
    time: Int64Builder,
    micros: UInt32Builder,
    peer_ip: StringBuilder,
    peer_asn: UInt32Builder,
    prefix: StringBuilder,
    as_path: StringBuilder,
    origin_asn: UInt32Builder,
    upstream: UInt32Builder,
    attrs: StringBuilder,
    old_state: UInt16Builder,
    new_state: UInt16Builder,
    count: UInt64Builder,
    count_v6: UInt64Builder,
    withdrawals: UInt64Builder,
    reason: StringBuilder,
    hole: BooleanBuilder,
    rows: usize,
}

impl Columns {
    fn push(&mut self, collector: &str, r: Row) {
        self.segment.append_value(r.segment);
        self.seq.append_value(r.seq);
        self.kind.append_value(r.kind);
        self.collector.append_value(collector);
        self.file.append_option(r.file);
        self.time.append_value(r.time.secs);
        self.micros.append_value(r.time.micros);
        self.peer_ip.append_option(r.peer.map(|p| p.0.to_string()));
        self.peer_asn.append_option(r.peer.map(|p| p.1));
        self.prefix.append_option(r.prefix.map(|p| p.to_string()));
        let path = r.attrs.as_ref().map(|a| &a.path);
        self.as_path.append_option(path.map(ToString::to_string));
        self.origin_asn
            .append_option(path.and_then(|p| match p.origin() {
                Origin::As(a) => Some(a),
                _ => None,
            }));
        self.upstream.append_option(path.and_then(|p| p.upstream()));
        // Serialising plain data to a string cannot fail.
        self.attrs.append_option(
            r.attrs
                .as_ref()
                .map(|a| serde_json::to_string(&**a).unwrap_or_default()),
        );
        self.old_state.append_option(r.states.map(|s| s.0));
        self.new_state.append_option(r.states.map(|s| s.1));
        self.count.append_option(r.count);
        self.count_v6.append_option(r.count_v6);
        self.withdrawals.append_option(r.withdrawals);
        self.reason.append_option(r.reason);
        self.hole.append_option(r.hole);
        self.rows += 1;
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        self.rows = 0;
        vec![
            Arc::new(self.segment.finish()),
            Arc::new(self.seq.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.collector.finish()),
            Arc::new(self.file.finish()),
            Arc::new(self.time.finish()),
            Arc::new(self.micros.finish()),
            Arc::new(self.peer_ip.finish()),
            Arc::new(self.peer_asn.finish()),
            Arc::new(self.prefix.finish()),
            Arc::new(self.as_path.finish()),
            Arc::new(self.origin_asn.finish()),
            Arc::new(self.upstream.finish()),
            Arc::new(self.attrs.finish()),
            Arc::new(self.old_state.finish()),
            Arc::new(self.new_state.finish()),
            Arc::new(self.count.finish()),
            Arc::new(self.count_v6.finish()),
            Arc::new(self.withdrawals.finish()),
            Arc::new(self.reason.finish()),
            Arc::new(self.hole.finish()),
        ]
    }
}

/// The rows of one message (a RIB's end is a row and one row per session's table).
fn message_rows(segment: u32, seq: u64, msg: &Msg, mut emit: impl FnMut(Row)) {
    let base = Row {
        segment,
        seq,
        ..Row::default()
    };
    let peer_of = |p: &PeerId| Some((p.ip, p.asn));
    match msg {
        Msg::Route {
            time,
            peer,
            prefix,
            attrs,
            file,
        } => emit(Row {
            kind: if attrs.is_some() {
                "announcement"
            } else {
                "withdrawal"
            },
            file: Some(*file),
            time: *time,
            peer: peer_of(peer),
            prefix: Some(*prefix),
            attrs: attrs.clone(),
            ..base
        }),
        Msg::RibRoute {
            time,
            peer,
            prefix,
            attrs,
            file,
        } => emit(Row {
            kind: "rib_route",
            file: Some(*file),
            time: *time,
            peer: peer_of(peer),
            prefix: Some(*prefix),
            attrs: Some(attrs.clone()),
            ..base
        }),
        Msg::State {
            time,
            peer,
            old,
            new,
        } => emit(Row {
            kind: "state",
            time: *time,
            peer: peer_of(peer),
            states: Some((*old, *new)),
            ..base
        }),
        Msg::RibBegin { time, .. } => emit(Row {
            kind: "rib_begin",
            time: *time,
            ..base
        }),
        Msg::RibEnd { time, tables, .. } => {
            emit(Row {
                kind: "rib_end",
                time: *time,
                ..Row { ..base }
            });
            for (peer, size) in tables {
                emit(Row {
                    segment,
                    seq,
                    kind: "rib_table",
                    time: *time,
                    peer: peer_of(peer),
                    count: Some(size.v4),
                    count_v6: Some(size.v6),
                    ..Row::default()
                });
            }
        }
        Msg::Gap {
            time, reason, hole, ..
        } => emit(Row {
            kind: "gap",
            time: *time,
            reason: Some(reason.clone()),
            hole: Some(*hole),
            ..base
        }),
        // A segment's per-minute counters are marks, not messages (see `mark_rows`).
        Msg::Activity { .. } => {}
    }
}

fn count_row(segment: u32, seq: u64, kind: &'static str, time: Timestamp, c: &PeerCount) -> Row {
    let ((ip, asn), (messages, withdrawals)) = *c;
    Row {
        segment,
        seq,
        kind,
        time,
        peer: Some((ip, asn)),
        count: Some(u64::from(messages)),
        withdrawals: Some(u64::from(withdrawals)),
        ..Row::default()
    }
}

impl PartialFile {
    /// Write the partial to `path` (created or replaced).
    pub fn write(&self, path: &Path) -> Result<(), PartialError> {
        let io = |source| PartialError::Io {
            path: path.to_path_buf(),
            source,
        };
        let pq = |source| PartialError::Parquet {
            path: path.to_path_buf(),
            source,
        };
        let header = Header {
            version: PARTIAL_SCHEMA_VERSION,
            tool: format!("cutoff {}", env!("CARGO_PKG_VERSION")),
            scan: self.scan.clone(),
            segments: self.segments.iter().map(segment_header).collect(),
        };
        // Serialising plain data to a string cannot fail.
        let json = serde_json::to_string(&header).unwrap_or_default();
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_key_value_metadata(Some(vec![KeyValue::new(HEADER_KEY.into(), json)]))
            .build();
        // Written beside and renamed into place: a reader never sees half a partial.
        let part = path.with_file_name(format!(
            ".{}.writing",
            path.file_name()
                .map_or("partial".into(), |n| n.to_string_lossy())
        ));
        let file = std::fs::File::create(&part).map_err(io)?;
        let schema = schema();
        let mut writer =
            ArrowWriter::try_new(file, Arc::clone(&schema), Some(props)).map_err(pq)?;
        let mut columns = Columns::default();
        let flush = |columns: &mut Columns, writer: &mut ArrowWriter<std::fs::File>| {
            let batch = RecordBatch::try_new(Arc::clone(&schema), columns.finish())
                .map_err(|e| pq(e.into()))?;
            writer.write(&batch).map_err(pq)
        };
        for (i, s) in self.segments.iter().enumerate() {
            let i = i as u32;
            let collector = s.collector.as_str();
            let mut marks = s.marks.iter().peekable();
            for (seq, msg) in s.messages.iter().enumerate() {
                while let Some(m) = marks.next_if(|m| m.at <= seq) {
                    mark_rows(i, m, |r| columns.push(collector, r));
                }
                message_rows(i, seq as u64, msg, |r| columns.push(collector, r));
                if columns.rows >= BATCH_ROWS {
                    flush(&mut columns, &mut writer)?;
                }
            }
            for m in marks {
                mark_rows(i, m, |r| columns.push(collector, r));
            }
            let end = s.messages.len() as u64;
            for c in &s.tail {
                let open = Timestamp::default();
                columns.push(collector, count_row(i, end, "open_count", open, c));
            }
        }
        flush(&mut columns, &mut writer)?;
        let file = writer.into_inner().map_err(pq)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&part, path).map_err(io)
    }

    /// Read a partial written by [`PartialFile::write`].
    pub fn read(path: &Path) -> Result<PartialFile, PartialError> {
        let pq = |source| PartialError::Parquet {
            path: path.to_path_buf(),
            source,
        };
        let bad = |problem: String| PartialError::Format {
            path: path.to_path_buf(),
            problem,
        };
        let file = std::fs::File::open(path).map_err(|source| PartialError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(pq)?;
        let json = builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|k| k.key == HEADER_KEY))
            .and_then(|k| k.value.clone())
            .ok_or_else(|| bad(format!("no `{HEADER_KEY}` metadata: not a cutoff partial")))?;
        let header: Header =
            serde_json::from_str(&json).map_err(|e| bad(format!("`{HEADER_KEY}`: {e}")))?;
        if header.version != PARTIAL_SCHEMA_VERSION {
            return Err(bad(format!(
                "partial of schema version {} (written by {}); this cutoff reads version {PARTIAL_SCHEMA_VERSION}",
                header.version, header.tool
            )));
        }
        let mut segments: Vec<Segment> = header.segments.into_iter().map(segment_of).collect();
        let mut rebuild = Rebuild::default();
        for batch in builder.build().map_err(pq)? {
            let batch = batch.map_err(|e| pq(e.into()))?;
            rebuild.batch(&batch, &mut segments).map_err(bad)?;
        }
        rebuild.close(&mut segments);
        Ok(PartialFile {
            scan: header.scan,
            segments,
        })
    }
}

fn mark_rows(segment: u32, m: &MinuteMark, mut emit: impl FnMut(Row)) {
    let time = Timestamp::from_secs(m.minute * 60);
    emit(Row {
        segment,
        seq: m.at as u64,
        kind: "minute",
        file: Some(m.file),
        time,
        ..Row::default()
    });
    for c in &m.counts {
        emit(count_row(segment, m.at as u64, "minute_count", time, c));
    }
}

fn segment_header(s: &Segment) -> SegmentHeader {
    SegmentHeader {
        collector: s.collector.clone(),
        timed: s.timed,
        files: s
            .files
            .iter()
            .map(|f| FileHeader {
                path: f.path.clone(),
                kind: f.kind,
                start: f.start,
                messages_end: f.messages_end,
                stats: f.stats.clone(),
            })
            .collect(),
        watched_from_start: s.watched_from_start.clone(),
        learned: s.learned.clone(),
    }
}

fn segment_of(h: SegmentHeader) -> Segment {
    Segment {
        collector: h.collector,
        timed: h.timed,
        files: h
            .files
            .into_iter()
            .map(|f| SegmentFile {
                path: f.path,
                kind: f.kind,
                start: f.start,
                stats: f.stats,
                messages_end: f.messages_end,
            })
            .collect(),
        messages: Vec::new(),
        marks: Vec::new(),
        tail: Vec::new(),
        watched_from_start: h.watched_from_start,
        learned: h.learned,
        read: true,
    }
}

/// Rows back into segments: a RIB's end and a minute mark gather the rows after them.
#[derive(Default)]
struct Rebuild {
    open: Option<(usize, Open)>,
}

enum Open {
    RibEnd(Msg),
    Mark(MinuteMark),
}

impl Rebuild {
    fn close(&mut self, segments: &mut [Segment]) {
        if let Some((i, open)) = self.open.take() {
            match open {
                Open::RibEnd(m) => segments[i].messages.push(m),
                Open::Mark(m) => segments[i].marks.push(m),
            }
        }
    }

    fn batch(&mut self, b: &RecordBatch, segments: &mut [Segment]) -> Result<(), String> {
        let col = |name: &str| {
            b.column_by_name(name)
                .ok_or_else(|| format!("no column `{name}`"))
        };
        let segment = col("segment")?.as_primitive_opt::<UInt32Type>();
        let seq = col("seq")?.as_primitive_opt::<UInt64Type>();
        let kind = col("kind")?.as_string_opt::<i32>();
        let file = col("file")?.as_primitive_opt::<UInt32Type>();
        let time = col("time")?.as_primitive_opt::<Int64Type>();
        let micros = col("micros")?.as_primitive_opt::<UInt32Type>();
        let peer_ip = col("peer_ip")?.as_string_opt::<i32>();
        let peer_asn = col("peer_asn")?.as_primitive_opt::<UInt32Type>();
        let prefix = col("prefix")?.as_string_opt::<i32>();
        let attrs = col("attrs")?.as_string_opt::<i32>();
        let old_state = col("old_state")?.as_primitive_opt::<UInt16Type>();
        let new_state = col("new_state")?.as_primitive_opt::<UInt16Type>();
        let count = col("count")?.as_primitive_opt::<UInt64Type>();
        let count_v6 = col("count_v6")?.as_primitive_opt::<UInt64Type>();
        let withdrawals = col("withdrawals")?.as_primitive_opt::<UInt64Type>();
        let reason = col("reason")?.as_string_opt::<i32>();
        let hole = col("hole")?.as_boolean_opt();
        let (
            Some(segment),
            Some(seq),
            Some(kind),
            Some(file),
            Some(time),
            Some(micros),
            Some(peer_ip),
            Some(peer_asn),
            Some(prefix),
            Some(attrs),
            Some(old_state),
            Some(new_state),
            Some(count),
            Some(count_v6),
            Some(withdrawals),
            Some(reason),
            Some(hole),
        ) = (
            segment,
            seq,
            kind,
            file,
            time,
            micros,
            peer_ip,
            peer_asn,
            prefix,
            attrs,
            old_state,
            new_state,
            count,
            count_v6,
            withdrawals,
            reason,
            hole,
        )
        else {
            return Err("a column has another type than the schema's".into());
        };
        for r in 0..b.num_rows() {
            let at = |what: &str| format!("row {r} of a batch: {what}");
            let opt = |a: &dyn Array| a.is_valid(r);
            let s = segment.value(r) as usize;
            let Some(seg) = segments.get(s) else {
                return Err(at(&format!(
                    "segment {s}, but the metadata lists {}",
                    segments.len()
                )));
            };
            let collector = CollectorId::new(&seg.collector);
            let t = Timestamp {
                secs: time.value(r),
                micros: micros.value(r),
            };
            let peer = || -> Result<PeerId, String> {
                if !opt(peer_ip) || !opt(peer_asn) {
                    return Err(at("no peer"));
                }
                let ip: IpAddr = peer_ip
                    .value(r)
                    .parse()
                    .map_err(|e| at(&format!("peer_ip: {e}")))?;
                Ok(PeerId {
                    collector: collector.clone(),
                    ip,
                    asn: peer_asn.value(r),
                })
            };
            let the_prefix = || -> Result<Prefix, String> {
                prefix
                    .value(r)
                    .parse()
                    .map_err(|e| at(&format!("prefix: {e:?}")))
            };
            let the_attrs = || -> Result<Arc<RouteAttrs>, String> {
                serde_json::from_str(attrs.value(r))
                    .map(Arc::new)
                    .map_err(|e| at(&format!("attrs: {e}")))
            };
            let the_file = || {
                opt(file)
                    .then(|| file.value(r))
                    .ok_or_else(|| at("no file"))
            };
            let counts = || -> Result<PeerCount, String> {
                let p = peer()?;
                let n = |v: u64| u32::try_from(v).map_err(|_| at("count out of range"));
                Ok((
                    (p.ip, p.asn),
                    (n(count.value(r))?, n(withdrawals.value(r))?),
                ))
            };
            let kind = kind.value(r);
            // Rows that belong to the RIB's end or the mark before them.
            match (kind, &mut self.open) {
                ("rib_table", Some((i, Open::RibEnd(Msg::RibEnd { tables, .. })))) if *i == s => {
                    let size = TableSize {
                        v4: count.value(r),
                        v6: count_v6.value(r),
                    };
                    tables.push((peer()?, size));
                    continue;
                }
                ("minute_count", Some((i, Open::Mark(m)))) if *i == s => {
                    m.counts.push(counts()?);
                    continue;
                }
                ("rib_table" | "minute_count", _) => {
                    return Err(at(&format!("`{kind}` row without the row it belongs to")));
                }
                _ => self.close(segments),
            }
            let seg = &mut segments[s];
            let msg = match kind {
                "announcement" | "withdrawal" => Msg::Route {
                    time: t,
                    peer: peer()?,
                    prefix: the_prefix()?,
                    attrs: if kind == "announcement" {
                        Some(the_attrs()?)
                    } else {
                        None
                    },
                    file: the_file()?,
                },
                "rib_route" => Msg::RibRoute {
                    time: t,
                    peer: peer()?,
                    prefix: the_prefix()?,
                    attrs: the_attrs()?,
                    file: the_file()?,
                },
                "state" => Msg::State {
                    time: t,
                    peer: peer()?,
                    old: old_state.value(r),
                    new: new_state.value(r),
                },
                "rib_begin" => Msg::RibBegin { time: t, collector },
                "rib_end" => {
                    let m = Msg::RibEnd {
                        time: t,
                        collector,
                        tables: Vec::new(),
                    };
                    self.open = Some((s, Open::RibEnd(m)));
                    continue;
                }
                "gap" => Msg::Gap {
                    time: t,
                    collector,
                    reason: reason.value(r).to_string(),
                    hole: hole.value(r),
                },
                "minute" => {
                    let m = MinuteMark {
                        file: the_file()?,
                        at: seq.value(r) as usize,
                        minute: t.secs.div_euclid(60),
                        counts: Vec::new(),
                    };
                    self.open = Some((s, Open::Mark(m)));
                    continue;
                }
                "open_count" => {
                    seg.tail.push(counts()?);
                    continue;
                }
                other => return Err(at(&format!("unknown kind `{other}`"))),
            };
            if seg.messages.len() as u64 != seq.value(r) {
                return Err(at(&format!(
                    "message {} of segment {s} where {} was expected",
                    seq.value(r),
                    seg.messages.len()
                )));
            }
            seg.messages.push(msg);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty(scan: ScanParams) -> PartialFile {
        PartialFile {
            scan,
            segments: Vec::new(),
        }
    }

    fn params() -> ScanParams {
        ScanParams {
            asns: vec![26780],
            prefixes: Vec::new(),
            known_prefixes: Vec::new(),
            eligibility: EligibilityRules::default(),
            detect: DetectRules::default(),
            from: None,
            to: None,
            table_size_by_year: true,
        }
    }

    #[test]
    fn a_partial_that_cannot_be_written_is_named_and_nothing_is_left_at_its_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("no-such-folder/x.parquet");
        let err = empty(params()).write(&missing).expect_err("fails");
        assert!(err.to_string().contains("x.parquet"), "{err}");
        assert!(!missing.exists());
        let ok = dir.path().join("y.parquet");
        empty(params()).write(&ok).expect("written");
        let back = PartialFile::read(&ok).expect("read back");
        assert_eq!(back.scan, params());
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["y.parquet"], "no half-written file left beside it");
    }

    #[test]
    fn partials_of_one_scan_agree_whatever_their_year_and_known_prefixes() {
        let mut a = params();
        a.eligibility.assumed_table_size = 1;
        a.known_prefixes = vec!["10.0.0.0/8".parse().expect("prefix")];
        assert!(a.same_scan(&params()));
        let mut b = params();
        b.detect.min_duration_secs = 0;
        assert!(!b.same_scan(&params()));
        let mut c = params();
        c.table_size_by_year = false;
        c.eligibility.assumed_table_size = 1;
        let mut d = c.clone();
        d.eligibility.assumed_table_size = 2;
        assert!(!c.same_scan(&d), "a table size given by flag must agree");
    }
}
