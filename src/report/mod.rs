//! Report renderers: turn a [`RunResults`] into HTML, JUnit XML, JSON and console text.
//!
//! Reports read the results model only; they never reach back into the runner. Each renderer
//! exposes a `render` function returning the whole document as a `String`, so it can be tested
//! without touching the file system. [`write_all`] writes the requested files atomically.

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

pub use atomic::{WriteError, write_atomic};

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
/// its parent directories are created. Every document is rendered before any file is written,
/// so a rendering problem writes nothing. The first write failure stops the sequence and is
/// returned as a [`WriteError`] naming the path and the OS error; files already written stay
/// complete, and no half-written file is ever left at a report path.
pub fn write_all(results: &RunResults, out: &ReportPaths) -> anyhow::Result<Vec<PathBuf>> {
    let mut documents: Vec<(&PathBuf, String)> = Vec::new();
    if let Some(path) = &out.html {
        documents.push((path, html::try_render(results)?));
    }
    if let Some(path) = &out.junit {
        documents.push((path, junit::try_render(results)?));
    }
    if let Some(path) = &out.json {
        documents.push((path, json::try_render(results)?));
    }

    let mut written = Vec::with_capacity(documents.len());
    for (path, contents) in documents {
        write_atomic(path, contents.as_bytes())?;
        written.push(path.clone());
    }
    Ok(written)
}
