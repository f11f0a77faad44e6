//! Per-file problems as stderr lines, named by file.

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
    if stats.truncated_records > 0 {
        tracing::info!(
            "{name}: {} record(s) cut short by the collector; recovered {} withdrawal(s) and {} announcement(s) from them",
            stats.truncated_records,
            stats.salvaged_withdrawals,
            stats.salvaged_announcements
        );
    }
}
