//! Per-file problems as stderr lines, named by file (`dump`; `scan` prints its gaps from
//! the summary, runs of them as one line).

/// One clear stderr line per problem of a file; counts of cut records as a note.
pub fn report_file_problems(name: &str, stats: &cutoff_core::parse::FileStats) {
    let name = cutoff_core::files::display_name(name);
    if let Some(p) = &stats.problem {
        tracing::error!("{name}: {p}");
    }
    for s in &stats.skipped {
        tracing::error!("{name}: {s}");
    }
    for (reason, n) in &stats.unparsed_records {
        tracing::error!("{name}: {n} record(s) not read as written: {reason}");
    }
    report_cut_records(name, stats);
}

/// The note on records the collector cut short (they were repaired, so not a gap).
pub fn report_cut_records(name: &str, stats: &cutoff_core::parse::FileStats) {
    let name = cutoff_core::files::display_name(name);
    if stats.truncated_records > 0 {
        tracing::info!(
            "{name}: {} record(s) cut short by the collector; recovered {} withdrawal(s) and {} announcement(s) from them",
            stats.truncated_records,
            stats.salvaged_withdrawals,
            stats.salvaged_announcements
        );
    }
}
