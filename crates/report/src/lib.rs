//! cutoff-report: the report a journalist can cite (`cutoff report`, `scan --report DIR`):
//! HTML, Markdown, charts, provenance.
//!
//! The report's parts: [`input`] (what it is made of, from files or a scan), [`content`] (what
//! it says, as [`doc`] blocks), [`plot`] (charts), [`provenance`] (input files and hashes),
//! [`names`] (AS names), [`html`] and [`markdown`] (renderers that escape every input string).

pub mod content;
pub mod doc;
pub mod html;
pub mod input;
pub mod markdown;
pub mod names;
pub mod plot;
pub mod provenance;

use cutoff_core::error::UsageError;
use cutoff_core::output::{OutputFormat, write};
use std::path::{Path, PathBuf};

fn usage(msg: String) -> anyhow::Error {
    UsageError::Invalid(msg).into()
}

/// Load `--as-names`, or none.
pub fn load_names(path: Option<&Path>) -> anyhow::Result<names::AsNames> {
    match path {
        Some(p) => names::AsNames::from_file(p).map_err(usage),
        None => Ok(names::AsNames::default()),
    }
}

/// Write the report into `dir` (created if needed); returns the files written.
pub fn write_report(input: &input::ReportInput, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| {
        anyhow::anyhow!("{}: cannot create the report directory: {e}", dir.display())
    })?;
    let generated = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let content = content::build(input, &generated).map_err(|e| anyhow::anyhow!(e))?;
    let mut written = Vec::new();
    let mut put = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
        let p = dir.join(name);
        std::fs::write(&p, bytes)
            .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", p.display()))?;
        written.push(p);
        Ok(())
    };
    for ch in &content.charts {
        put(&format!("{}.svg", ch.stem), ch.svg.as_bytes())?;
        put(&format!("{}.png", ch.stem), &ch.png)?;
    }
    let mut jsonl = Vec::new();
    write(
        &mut jsonl,
        OutputFormat::Jsonl,
        &input.events,
        &input.summary,
    )?;
    put("events.jsonl", &jsonl)?;
    put(
        "inputs.sha256",
        provenance::sha256sums(&content.files, dir).as_bytes(),
    )?;
    put("report.md", markdown::render(&content).as_bytes())?;
    put("report.html", html::render(&content).as_bytes())?;
    if let Some(h) = content::headline_text(&content.blocks) {
        tracing::info!("{h}");
    }
    tracing::info!(
        "report written to {} ({} files)",
        dir.join("report.html").display(),
        written.len()
    );
    Ok(written)
}
