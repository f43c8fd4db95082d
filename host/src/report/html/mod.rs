//! `report.html`: one self-contained page per run (`--html`, or
//! `ktstr-vm report RUN_DIR` for any past run), built only from the
//! run's artifacts ([`model`]), so it works for runs made before it
//! existed and for CI artifacts downloaded elsewhere. [`write_index`]
//! links several runs' pages (`compare`, `matrix`).
//!
//! No JS library: the plots are inline SVG drawn here ([`svg`],
//! [`plots`]); the page's own script only sorts the worker table and
//! shows what the pointer is over.

mod analysis;
mod model;
mod page;
mod plots;
mod svg;
#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::exit::ExitCode;
pub use model::Run;
use svg::esc;

/// The page's file name in the artifacts.
pub const REPORT_FILE: &str = "report.html";

/// `ktstr-vm report RUN_DIR`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// A run's artifact directory (it holds result.json)
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,
    /// Where to write the page [default: RUN_DIR/report.html]
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum HtmlError {
    #[error("{dir} has no result.json: pass a run's artifact directory (see --artifacts, or ~/.cache/ktstr-vm/runs/)")]
    NoResult { dir: PathBuf },
    #[error("{path} is not a ktstr-vm result: {reason}")]
    BadResult { path: PathBuf, reason: String },
    #[error("writing {path}: {source}; check the directory is writable")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl crate::exit::ExitClass for HtmlError {
    fn exit_code(&self) -> ExitCode {
        match self {
            HtmlError::NoResult { .. } | HtmlError::BadResult { .. } => ExitCode::Usage,
            HtmlError::Write { .. } => ExitCode::Environment,
        }
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), HtmlError> {
    std::fs::write(path, text).map_err(|source| HtmlError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Title of a run's page: outcome, scheduler, artifact directory name.
fn title(run: &Run, dir: &Path) -> String {
    let sched = run
        .result
        .scheduler
        .as_ref()
        .map_or("EEVDF", |s| s.name.as_str());
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("ktstr-vm: {sched} ({name})")
}

/// Writes `dir/report.html`; returns its path.
pub fn write_report(dir: &Path) -> Result<PathBuf, HtmlError> {
    write_report_to(dir, &dir.join(REPORT_FILE))
}

/// Writes the page for the run in `dir` to `out`.
pub fn write_report_to(dir: &Path, out: &Path) -> Result<PathBuf, HtmlError> {
    let run = Run::load(dir)?;
    write_file(out, &page::render(&run, &title(&run, dir)))?;
    Ok(out.to_path_buf())
}

/// `ktstr-vm report`: prints the page's path.
pub fn cli(args: &ReportArgs) -> Result<ExitCode, HtmlError> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.run_dir.join(REPORT_FILE));
    let path = write_report_to(&args.run_dir, &out)?;
    println!("{}", path.display());
    Ok(ExitCode::Pass)
}

/// One row of an index page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// What the run was (e.g. `A run 3`, `scx_simple x 2n4l2c1t`).
    pub label: String,
    /// `pass`, `fail`, `inconclusive`...
    pub outcome: String,
    /// The run's page, relative to the index (so the set can be moved).
    pub href: String,
    /// A short line of context (findings, wall time).
    pub detail: String,
}

/// Writes an index page at `path` linking `entries`' pages.
pub fn write_index(path: &Path, title: &str, entries: &[IndexEntry]) -> Result<(), HtmlError> {
    write_file(path, &index_html(title, entries))
}

pub fn index_html(title: &str, entries: &[IndexEntry]) -> String {
    let mut s = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>body{{font:14px system-ui,sans-serif;margin:1.5em}}td,th{{border:1px solid #ddd;padding:3px 8px}}table{{border-collapse:collapse}}.pass{{color:#2a7d3b}}.fail{{color:#b3261e}}.inconclusive{{color:#8a6d00}}</style></head><body><h1>{t}</h1><table><thead><tr><th>run</th><th>outcome</th><th>detail</th></tr></thead><tbody>",
        t = esc(title)
    );
    for e in entries {
        let _ = write!(
            s,
            "<tr><td><a href=\"{}\">{}</a></td><td class=\"{}\">{}</td><td>{}</td></tr>",
            esc(&e.href),
            esc(&e.label),
            esc(&e.outcome),
            esc(&e.outcome),
            esc(&e.detail)
        );
    }
    s.push_str("</tbody></table></body></html>");
    s
}
