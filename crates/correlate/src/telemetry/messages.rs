//! Per-message input: JSON Lines of messages, and the bins every per-message loader shares.

// The loaders share the parent's types and helpers (errors, rows, zones, series).
use super::*;

/// Bins of per-message input: what was observed, counts per kind, and per origin AS.
pub(super) struct MessageBins<'a> {
    bin: i64,
    covered: BTreeSet<i64>,
    counts: HashMap<String, BTreeMap<i64, f64>>,
    by_origin: HashMap<(String, Option<u32>), BTreeMap<i64, f64>>,
    origins: Option<&'a OriginMap>,
    stats: AttributionStats,
    records: u64,
}

impl<'a> MessageBins<'a> {
    pub(super) fn new(bin: i64, origins: Option<&'a OriginMap>) -> Self {
        MessageBins {
            bin,
            covered: BTreeSet::new(),
            counts: HashMap::new(),
            by_origin: HashMap::new(),
            origins,
            stats: AttributionStats::default(),
            records: 0,
        }
    }

    pub(super) fn observe(&mut self, ts: i64) -> i64 {
        let b = ts.div_euclid(self.bin) * self.bin;
        self.covered.insert(b);
        b
    }

    pub(super) fn add(&mut self, ts: i64, kind: &str, ip: Option<IpAddr>, n: f64) {
        let b = self.observe(ts);
        self.records += 1;
        if n == 0.0 {
            return;
        }
        *self
            .counts
            .entry(kind.to_string())
            .or_default()
            .entry(b)
            .or_default() += n;
        if let Some(map) = self.origins {
            let Some(ip) = ip else {
                self.stats.messages_without_ip += n;
                return;
            };
            let origin = map.lookup(ip);
            if origin.is_some() {
                self.stats.messages_attributed += n;
            } else {
                self.stats.messages_unrouted += n;
            }
            *self
                .by_origin
                .entry((kind.to_string(), origin))
                .or_default()
                .entry(b)
                .or_default() += n;
        }
    }

    pub(super) fn finish(self, file: &str, format: TelemetryFormat, other_lines: u64) -> Telemetry {
        let mut counts: BTreeMap<String, BTreeMap<i64, f64>> = self.counts.into_iter().collect();
        for ((kind, origin), bins) in self.by_origin {
            let name = match origin {
                Some(a) => format!("{kind}@AS{a}"),
                None => format!("{kind}@unrouted"),
            };
            counts.insert(name, bins);
        }
        let attribution = self.origins.map(|m| AttributionStats {
            rib: m.source.clone(),
            rib_time: m.rib_time.map(rfc3339),
            prefixes: m.prefixes,
            origin_ases: m.origin_ases,
            multi_origin_prefixes: m.multi_origin_prefixes,
            ..self.stats
        });
        Telemetry {
            file: file.to_string(),
            format,
            bin_secs: self.bin,
            bin_inferred: false,
            counts,
            covered: Some(self.covered),
            records: self.records,
            other_lines,
            notes: Vec::new(),
            attribution,
        }
    }
}

pub(super) fn read_lines(
    reader: Box<dyn Read + Send>,
    file: &str,
    mut each: impl FnMut(u64, &str) -> Result<(), TelemetryError>,
) -> Result<(), TelemetryError> {
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| read_error(file, Some(line_no + 1), &e))?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        let text = std::str::from_utf8(&buf).map_err(|e| {
            error(
                file,
                Some(line_no),
                Some(format!("column {}", e.valid_up_to() + 1)),
                "not UTF-8 text".into(),
            )
        })?;
        each(line_no, text.trim_end_matches(['\n', '\r']))?;
    }
}

pub(super) fn load_jsonl(
    reader: Box<dyn Read + Send>,
    file: &str,
    opts: &LoadOptions,
) -> Result<Telemetry, TelemetryError> {
    let mut bins = MessageBins::new(opts.bin_secs.unwrap_or(3600), opts.origins);
    read_lines(reader, file, |line, text| {
        if text.trim().is_empty() {
            return Ok(());
        }
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            error(
                file,
                Some(line),
                Some(format!("column {}", e.column())),
                format!("not JSON: {e}"),
            )
        })?;
        let obj = v.as_object().ok_or_else(|| {
            error(file, Some(line), None, "expected a JSON object like {\"ts\":\"2008-11-11T21:30:00Z\",\"src_ip\":\"192.0.2.1\",\"kind\":\"spam\"}".into())
        })?;
        let field_err = |name: &str, message: String| {
            error(file, Some(line), Some(format!("field {name}")), message)
        };
        let (tname, tv) = TIME_FIELDS
            .iter()
            .find_map(|n| obj.get(*n).map(|v| (*n, v)))
            .ok_or_else(|| {
                error(
                    file,
                    Some(line),
                    None,
                    format!("no time field: expected one of {}", TIME_FIELDS.join(", ")),
                )
            })?;
        let ts = match tv {
            serde_json::Value::Number(n) => {
                let v = n.as_f64().unwrap_or(f64::NAN);
                epoch_secs(v).map_err(|m| field_err(tname, format!("{n} {m}")))?
            }
            serde_json::Value::String(s) => {
                parse_time_text(s, opts.tz.as_ref()).map_err(|m| field_err(tname, m))?
            }
            other => {
                return Err(field_err(
                    tname,
                    format!("{other} is not a time: expected a string or epoch seconds"),
                ));
            }
        };
        let kind = match obj.get("kind") {
            None | Some(serde_json::Value::Null) => "messages".to_string(),
            Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
            Some(other) => {
                return Err(field_err(
                    "kind",
                    format!("{other} is not a name: expected a non-empty string"),
                ));
            }
        };
        let ip = match IP_FIELDS.iter().find_map(|n| obj.get(*n).map(|v| (*n, v))) {
            None | Some((_, serde_json::Value::Null)) => None,
            Some((n, serde_json::Value::String(s))) => Some(
                s.trim()
                    .parse::<IpAddr>()
                    .map_err(|_| field_err(n, format!("{s:?} is not an IP address")))?,
            ),
            Some((n, other)) => return Err(field_err(n, format!("{other} is not an IP address"))),
        };
        let count = match obj.get("count") {
            None | Some(serde_json::Value::Null) => 1.0,
            Some(c) => match c.as_f64() {
                Some(v) if v.is_finite() && v >= 0.0 => v,
                _ => {
                    return Err(field_err(
                        "count",
                        format!("{c} is not a count (a number ≥ 0)"),
                    ));
                }
            },
        };
        bins.add(ts, &kind, ip, count);
        Ok(())
    })?;
    Ok(bins.finish(file, TelemetryFormat::Jsonl, 0))
}
