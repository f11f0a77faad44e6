//! CSV series: `ts,count[,series]`, one row per bin; a missing row is a missing bin.

// The loaders share the parent's types and helpers (errors, rows, zones, series).
use super::*;

struct Row {
    series: String,
    ts: i64,
    count: f64,
    line: u64,
}

pub(super) fn load_csv(
    reader: Box<dyn Read + Send>,
    file: &str,
    opts: &LoadOptions,
) -> Result<Telemetry, TelemetryError> {
    let mut rdr = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(reader);
    let header_rec = rdr.headers().map_err(|e| csv_error(file, &e))?.clone();
    let header_line = header_rec.position().map(|p| p.line()).unwrap_or(1);
    let headers: Vec<String> = header_rec.iter().map(str::to_string).collect();
    if headers.iter().all(|h| h.is_empty()) {
        return Err(error(
            file,
            None,
            None,
            "is empty: expected a header like ts,count".into(),
        ));
    }
    if let Some(first) = headers.first()
        && parse_time_text(first, Some(&Zone::Fixed(utc_offset()))).is_ok()
    {
        return Err(error(
            file,
            Some(header_line),
            None,
            format!(
                "{first:?} looks like data, not a header: the first line must name the columns, e.g. ts,count[,series]"
            ),
        ));
    }
    let found = headers.join(", ");
    let time_col =
        find_column(&headers, TIME_COLUMNS, "time", file, header_line)?.ok_or_else(|| {
            error(
                file,
                Some(header_line),
                None,
                format!(
                    "no time column: expected one of {} (found: {found})",
                    TIME_COLUMNS.join(", ")
                ),
            )
        })?;
    let count_col =
        find_column(&headers, COUNT_COLUMNS, "count", file, header_line)?.ok_or_else(|| {
            error(
                file,
                Some(header_line),
                None,
                format!(
                    "no count column: expected one of {} (found: {found})",
                    COUNT_COLUMNS.join(", ")
                ),
            )
        })?;
    let series_col = find_column(&headers, SERIES_COLUMNS, "series", file, header_line)?;
    let default_name = Path::new(file)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| file.to_string());
    let default_name = default_name
        .trim_end_matches(".gz")
        .trim_end_matches(".bz2")
        .trim_end_matches(".csv")
        .to_string();

    let mut rows: Vec<Row> = Vec::new();
    let mut na_cells = 0u64;
    for rec in rdr.records() {
        let rec = rec.map_err(|e| csv_error(file, &e))?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let col_err = |col: usize, message: String| {
            error(
                file,
                Some(line),
                Some(format!("column {}", headers[col])),
                message,
            )
        };
        let ts_text = rec.get(time_col).unwrap_or("");
        let ts = parse_time_text(ts_text, opts.tz.as_ref()).map_err(|m| col_err(time_col, m))?;
        let count_text = rec.get(count_col).unwrap_or("");
        let count = match count_text.to_ascii_lowercase().as_str() {
            "" | "na" | "n/a" | "nan" | "null" | "none" | "-" => {
                na_cells += 1;
                continue;
            }
            c => c.parse::<f64>().ok().filter(|v| v.is_finite()),
        };
        let count = count.ok_or_else(|| {
            col_err(
                count_col,
                format!(
                    "{count_text:?} is not a count (a number ≥ 0; leave it empty or NA if missing)"
                ),
            )
        })?;
        if count < 0.0 {
            return Err(col_err(
                count_col,
                format!("{count_text:?} is negative: counts are ≥ 0"),
            ));
        }
        let series = match series_col {
            Some(c) => {
                let s = rec.get(c).unwrap_or("");
                if s.is_empty() {
                    return Err(col_err(c, "empty series name".into()));
                }
                s.to_string()
            }
            None => default_name.clone(),
        };
        rows.push(Row {
            series,
            ts,
            count,
            line,
        });
    }
    let mut tel = Telemetry {
        file: file.to_string(),
        format: TelemetryFormat::Csv,
        bin_secs: 0,
        bin_inferred: opts.bin_secs.is_none(),
        counts: BTreeMap::new(),
        covered: None,
        records: rows.len() as u64,
        other_lines: 0,
        notes: Vec::new(),
        attribution: None,
    };
    if na_cells > 0 {
        tel.notes.push(format!(
            "{na_cells} row(s) with an empty or NA count read as missing bins"
        ));
    }
    if rows.is_empty() {
        tel.bin_secs = opts.bin_secs.unwrap_or(3600);
        return Ok(tel);
    }
    // Duplicate times within a series, and the spacing of the rows (the most common gap).
    let mut by_series: BTreeMap<&str, BTreeMap<i64, u64>> = BTreeMap::new();
    for r in &rows {
        if let Some(first) = by_series.entry(&r.series).or_default().insert(r.ts, r.line) {
            return Err(error(
                file,
                Some(r.line),
                None,
                format!(
                    "a second row for {} at {} (the first is on line {first})",
                    r.series,
                    rfc3339(r.ts)
                ),
            ));
        }
    }
    let mut gaps: BTreeMap<i64, usize> = BTreeMap::new();
    for times in by_series.values() {
        let ts: Vec<i64> = times.keys().copied().collect();
        for w in ts.windows(2) {
            *gaps.entry(w[1] - w[0]).or_default() += 1;
        }
    }
    // Most common gap; ties go to the smallest (BTreeMap order, max_by keeps the last max, so
    // iterate in reverse).
    let native = gaps.iter().rev().max_by_key(|(_, n)| **n).map(|(g, _)| *g);
    let bin = match (opts.bin_secs, native) {
        (Some(b), Some(n)) => {
            if b < n {
                return Err(error(
                    file,
                    None,
                    None,
                    format!(
                        "--bin {} is finer than the data: its rows come every {}",
                        duration_text(b),
                        duration_text(n)
                    ),
                ));
            }
            if b % n != 0 {
                return Err(error(
                    file,
                    None,
                    None,
                    format!(
                        "--bin {} is not a multiple of the rows' spacing ({})",
                        duration_text(b),
                        duration_text(n)
                    ),
                ));
            }
            b
        }
        (Some(b), None) => b,
        (None, Some(n)) => n,
        (None, None) => {
            return Err(error(
                file,
                None,
                None,
                "one row per series: the bin width cannot be inferred; give --bin (e.g. --bin 1h)"
                    .into(),
            ));
        }
    };
    let native = native.unwrap_or(bin);
    let phase = rows
        .iter()
        .map(|r| r.ts)
        .min()
        .unwrap_or(0)
        .rem_euclid(native);
    let per_bin = (bin / native) as usize;
    let mut acc: BTreeMap<String, BTreeMap<i64, (f64, usize)>> = BTreeMap::new();
    for r in &rows {
        let start = phase + (r.ts - phase).div_euclid(bin) * bin;
        let e = acc
            .entry(r.series.clone())
            .or_default()
            .entry(start)
            .or_default();
        e.0 += r.count;
        e.1 += 1;
    }
    let mut incomplete = 0usize;
    for (name, bins) in acc {
        let mut points = BTreeMap::new();
        for (start, (sum, n)) in bins {
            if n >= per_bin {
                points.insert(start, sum);
            } else {
                incomplete += 1;
            }
        }
        tel.counts.insert(name, points);
    }
    if incomplete > 0 {
        tel.notes.push(format!(
            "{incomplete} bin(s) of {} dropped as missing: fewer than {per_bin} rows of {} in them",
            duration_text(bin),
            duration_text(native)
        ));
    }
    tel.bin_secs = bin;
    Ok(tel)
}

fn csv_error(file: &str, e: &csv::Error) -> TelemetryError {
    let line = e.position().map(|p| p.line());
    if let csv::ErrorKind::Io(io) = e.kind() {
        return read_error(file, line, io);
    }
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("expected {expected_len} fields like the header, found {len}")
        }
        csv::ErrorKind::Utf8 { .. } => "not UTF-8 text".to_string(),
        _ => e.to_string(),
    };
    error(file, line, None, message)
}
