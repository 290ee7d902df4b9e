//! Small formatting helpers shared by the renderers.

use crate::results::{Direction, HttpMessage, RunResults, Status};

/// The run's verdict as a word: `PASS` exactly when the process exit code is 0.
pub fn verdict(results: &RunResults) -> &'static str {
    if results.exit_code() == 0 {
        "PASS"
    } else {
        "FAIL"
    }
}

/// A symbol for a status; always shown next to the status word, never alone.
pub fn status_symbol(status: Status) -> &'static str {
    match status {
        Status::Passed => "✓",
        Status::Warned => "⚠",
        Status::Failed => "✗",
        Status::Errored => "‼",
        Status::Skipped => "⊘",
        Status::NotRun => "○",
        Status::NotApplicable => "–",
    }
}

/// Who sent the request, in words.
pub fn direction_label(direction: Direction) -> &'static str {
    match direction {
        Direction::Outgoing => "harness → SUT",
        Direction::Incoming => "SUT → harness",
    }
}

/// Milliseconds as a short human duration: `45 ms`, `1.23 s`, `2m 05s`. Negative or
/// non-finite values (which a well-formed model never has) show as `0 ms`.
pub fn duration(ms: f64) -> String {
    let ms = if ms.is_finite() && ms > 0.0 { ms } else { 0.0 };
    if ms < 1000.0 {
        format!("{} ms", ms.round() as u64)
    } else if ms < 60_000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        let secs = (ms / 1000.0).round() as u64;
        format!("{}m {:02}s", secs / 60, secs % 60)
    }
}

/// Milliseconds as a [`std::time::Duration`], clamping negative and non-finite values to zero
/// (`Duration::from_secs_f64` would panic on them).
pub fn std_duration(ms: f64) -> std::time::Duration {
    std::time::Duration::try_from_secs_f64(ms / 1000.0).unwrap_or_default()
}

/// At most `max_bytes` of `s`, cut on a character boundary; the flag says whether it was cut.
pub fn truncate(s: &str, max_bytes: usize) -> (&str, bool) {
    if s.len() <= max_bytes {
        return (s, false);
    }
    let mut end = max_bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (&s[..end], true)
}

/// Text with invisible or reordering characters made visible as `\u{..}` escapes: control
/// characters other than newline and tab (carriage return too, unless `keep_cr`) and Unicode
/// bidirectional overrides. Keeps a hostile server from driving a terminal with escape
/// sequences or disguising text in a report.
pub fn visible_controls(s: &str, keep_cr: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let kept = matches!(c, '\n' | '\t') || (keep_cr && c == '\r');
        let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if (c.is_control() && !kept) || bidi {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// A body kept out of the results (`body_size` set), in words: `104857600 bytes,
/// application/pdf, SHA-256 5f1c…, in bodies/5f1c….json` or `… bytes, not kept`. `None` for
/// a body shown inline.
pub fn stored_body(m: &HttpMessage) -> Option<String> {
    let size = m.body_size?;
    let mut parts = vec![format!("{size} bytes")];
    if let Some(ct) = m.header("content-type") {
        parts.push(ct.to_string());
    }
    if let Some(sha) = &m.body_sha256 {
        parts.push(format!("SHA-256 {sha}"));
    }
    parts.push(match &m.body_file {
        Some(f) => format!("in {f}"),
        None => "not kept".to_string(),
    });
    Some(parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_made_visible() {
        assert_eq!(
            visible_controls("a\x1b[31mb\u{202e}c\n\td\r", false),
            "a\\u{1b}[31mb\\u{202e}c\n\td\\u{d}"
        );
        assert_eq!(visible_controls("a\r\n", true), "a\r\n");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(0.4), "0 ms");
        assert_eq!(duration(45.4), "45 ms");
        assert_eq!(duration(1234.0), "1.23 s");
        assert_eq!(duration(125_000.0), "2m 05s");
        assert_eq!(duration(-3.0), "0 ms");
        assert_eq!(duration(f64::NAN), "0 ms");
        assert_eq!(std_duration(f64::NAN), std::time::Duration::ZERO);
        assert_eq!(std_duration(-1.0), std::time::Duration::ZERO);
        assert_eq!(std_duration(1500.0), std::time::Duration::from_millis(1500));
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), ("h", true));
        assert_eq!(truncate("abc", 3), ("abc", false));
    }
}
