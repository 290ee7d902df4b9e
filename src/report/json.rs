//! The `results.json` report: the results model as pretty-printed JSON.
//!
//! The layout is documented field by field in `docs/results-json.md` and versioned by
//! `schema_version` ([`crate::results::RESULTS_SCHEMA_VERSION`]).

use crate::results::RunResults;
use std::io;

/// The results as pretty-printed JSON.
///
/// Serialising the model cannot fail in practice (every map has string keys); should it ever,
/// the output is a JSON object with a single `error` field rather than a panic. Use
/// [`try_render`] to get the error instead.
pub fn render(results: &RunResults) -> String {
    try_render(results).unwrap_or_else(|e| {
        serde_json::json!({ "error": format!("cannot serialise results: {e}") }).to_string()
    })
}

/// The results as pretty-printed JSON, or the serialisation error. Non-finite durations
/// (which the runner never produces) serialise as `null`.
pub fn try_render(results: &RunResults) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(results)?;
    text.push('\n');
    Ok(text)
}

/// Write the same bytes as [`try_render`] to `out` as they are serialised, without holding the
/// document (as large as the results themselves) in memory.
pub fn write_to(results: &RunResults, out: &mut dyn io::Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, results)?;
    out.write_all(b"\n")
}
