//! Report renderers: turn a [`RunResults`] into HTML, JUnit XML, JSON and console text.
//!
//! Reports read the results model only; they never reach back into the runner. Each renderer
//! exposes a `render` function returning the whole document as a `String`, so it can be tested
//! without touching the file system; the HTML and JSON ones also a `write_to` writing the same
//! bytes step by step. [`write_all`] writes the requested files atomically.

pub mod console;
pub mod findings;
pub mod html;
pub mod json;
pub mod junit;
pub mod live;

mod atomic;
pub(crate) mod format;
mod pretty_json;

use crate::results::RunResults;
use std::path::{Path, PathBuf};

pub use atomic::{WriteError, write_atomic, write_atomic_with};

/// Where to write each file report; `None` skips that format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportPaths {
    /// Self-contained HTML report.
    pub html: Option<PathBuf>,
    /// JUnit XML, for CI systems.
    pub junit: Option<PathBuf>,
    /// The documented `results.json` (see `docs/results-json.md`).
    pub json: Option<PathBuf>,
}

impl ReportPaths {
    /// All three reports in `dir` (report.html, junit.xml, results.json), each unless a path
    /// of its own is given (`--html`, `--junit`, `--json`).
    pub fn in_dir(
        dir: &Path,
        html: Option<PathBuf>,
        junit: Option<PathBuf>,
        json: Option<PathBuf>,
    ) -> ReportPaths {
        ReportPaths {
            html: Some(html.unwrap_or_else(|| dir.join("report.html"))),
            junit: Some(junit.unwrap_or_else(|| dir.join("junit.xml"))),
            json: Some(json.unwrap_or_else(|| dir.join("results.json"))),
        }
    }
}

/// Render and write every requested report, returning the paths written, in the order
/// HTML, JUnit, JSON.
///
/// Each file is written atomically (temporary file in the same directory, fsync, rename) and
/// its parent directories are created. The HTML page and `results.json` are written as they
/// are rendered (a large run's page is several megabytes: it is never held whole), the JUnit
/// document is rendered, then written. The first failure, of writing or rendering, stops the
/// sequence and is returned as a [`WriteError`] naming the path and the OS error (or what
/// could not be rendered); files already written stay complete, and no half-written file is
/// ever left at a report path.
pub fn write_all(results: &RunResults, out: &ReportPaths) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::with_capacity(3);
    if let Some(path) = &out.html {
        write_atomic_with(path, |w| html::write_to(results, w))?;
        written.push(path.clone());
    }
    if let Some(path) = &out.junit {
        write_atomic(path, junit::try_render(results)?.as_bytes())?;
        written.push(path.clone());
    }
    if let Some(path) = &out.json {
        write_atomic_with(path, |w| json::write_to(results, w))?;
        written.push(path.clone());
    }
    Ok(written)
}
