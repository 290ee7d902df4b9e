//! Redaction: secrets never reach the results, the reports or the console.

use super::{Message, RawExchange, StoredBody};
use crate::results::{Exchange, HttpMessage};

/// Headers whose values are always secret.
pub const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// Bodies longer than this are cut in the results (the full body was still checked).
pub const MAX_REPORTED_BODY: usize = 256 * 1024;

pub const REDACTED: &str = "[REDACTED]";

/// What a pack's variable holds when no value was given (`token: none`): never a secret, so
/// the word is not redacted wherever it appears.
const NO_VALUE: &str = "none";

/// Values short enough, or meaning "no value", that replacing them would mangle reports.
fn is_secret(s: &str) -> bool {
    s.len() >= 4 && !s.eq_ignore_ascii_case(NO_VALUE)
}

/// Replaces every known secret value, and the values of secret headers, with `[REDACTED]`.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
    /// Where bodies past its threshold are written instead of inlined.
    bodies: Option<super::bodies::BodyStore>,
}

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| is_secret(s)).collect();
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor {
            secrets,
            bodies: None,
        }
    }

    /// Write bodies longer than the store's threshold to its folder, and show them by size,
    /// digest, file and preview (`None`: inline them, cut at [`MAX_REPORTED_BODY`]).
    pub fn with_bodies(mut self, store: Option<super::bodies::BodyStore>) -> Self {
        self.bodies = store;
        self
    }

    pub fn add(&mut self, secret: &str) {
        if is_secret(secret) && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_string());
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    pub fn text(&self, s: &str) -> String {
        self.text_owned(s.to_string())
    }

    /// [`Redactor::text`] of a string the caller owns: no copy when it holds no secret.
    pub fn text_owned(&self, mut out: String) -> String {
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    pub fn header(&self, name: &str, value: &str) -> String {
        if SECRET_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
            // Keep the scheme (`Bearer`) so a reader sees what kind of credential was sent.
            match value.split_once(' ') {
                Some((scheme, _)) if !scheme.is_empty() && scheme.len() < 16 => {
                    format!("{scheme} {REDACTED}")
                }
                _ => REDACTED.to_string(),
            }
        } else {
            self.text(value)
        }
    }

    pub fn message(&self, m: &Message) -> HttpMessage {
        if let Some(stored) = &m.stored {
            return self.stored_message(m, stored);
        }
        if let Some(store) = &self.bodies
            && m.body.len() > store.threshold
            && let Ok(stored) = store.keep(&self.body_for_file(&m.body), m.header("content-type"))
        {
            let mut shown = self.stored_message(m, &stored);
            shown.body_truncated = true;
            return shown;
        }
        let body = self.inline_body(m);
        HttpMessage {
            method: m.method.clone(),
            url: m.url.as_deref().map(|u| self.text(u)),
            status: m.status,
            headers: m
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), self.header(k, v)))
                .collect(),
            body_truncated: m.truncated || m.body.len() > MAX_REPORTED_BODY,
            body,
            ..HttpMessage::default()
        }
    }

    /// A body in memory as the results show it inline: redacted, cut at
    /// [`MAX_REPORTED_BODY`].
    fn inline_body(&self, m: &Message) -> Option<String> {
        if m.body.is_empty() {
            return None;
        }
        let bytes = &m.body[..m.body.len().min(MAX_REPORTED_BODY)];
        Some(self.text_owned(super::lossy_text(bytes)))
    }

    /// The body of a message as [`Redactor::message`] shows it, without the rest of the
    /// message (the simulator's live check, per exchange, needs no headers).
    pub fn body(&self, m: &Message) -> Option<String> {
        let inline = m.stored.is_none()
            && self
                .bodies
                .as_ref()
                .is_none_or(|store| m.body.len() <= store.threshold);
        if inline {
            self.inline_body(m)
        } else {
            self.message(m).body
        }
    }

    /// When an exchange happened, as the results say it (RFC 3339, milliseconds, UTC).
    pub fn at(x: &RawExchange) -> String {
        x.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    /// A body as written to a file: with any secret it holds redacted (the file then differs
    /// from the wire, and its digest is the file's).
    fn body_for_file<'b>(&self, body: &'b [u8]) -> std::borrow::Cow<'b, [u8]> {
        let holds_secret = self
            .secrets
            .iter()
            .any(|s| body.windows(s.len()).any(|w| w == s.as_bytes()));
        if holds_secret {
            std::borrow::Cow::Owned(self.text(&String::from_utf8_lossy(body)).into_bytes())
        } else {
            std::borrow::Cow::Borrowed(body)
        }
    }

    /// A body the mock streamed to a file as it arrived: when it holds a secret (a peer
    /// echoing the harness's token, say), the file is rewritten with the secret redacted. The
    /// scan reads the file in chunks; only a file that holds a secret is read whole.
    fn redact_file(&self, file: &std::path::Path) {
        use std::io::Read;
        let longest = self.secrets.iter().map(String::len).max().unwrap_or(0);
        if longest == 0 {
            return;
        }
        let Ok(mut f) = std::fs::File::open(file) else {
            return;
        };
        let mut window: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        let mut found = false;
        loop {
            let n = match f.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            window.extend_from_slice(&chunk[..n]);
            if self
                .secrets
                .iter()
                .any(|s| window.windows(s.len()).any(|w| w == s.as_bytes()))
            {
                found = true;
                break;
            }
            // Keep the tail a secret split across two chunks may start in.
            let keep = window.len().min(longest - 1);
            window.drain(..window.len() - keep);
        }
        if found && let Ok(bytes) = std::fs::read(file) {
            let redacted = self.text(&String::from_utf8_lossy(&bytes));
            let _ = std::fs::write(file, redacted);
        }
    }

    /// A message whose body is not in memory: its size, digest and file, and a preview.
    fn stored_message(&self, m: &Message, stored: &StoredBody) -> HttpMessage {
        let mut out = self.message(&Message {
            method: m.method.clone(),
            url: m.url.clone(),
            path: m.path.clone(),
            status: m.status,
            headers: m.headers.clone(),
            body: Vec::new(),
            truncated: m.truncated,
            stored: None,
            parsed: None,
        });
        if let Some(file) = &stored.file {
            self.redact_file(file);
        }
        out.body = preview(m.header("content-type"), &stored.head).map(|p| self.text(&p));
        out.body_truncated = true;
        out.body_size = Some(stored.size);
        out.body_sha256 = stored.sha256.clone();
        out.body_file = stored.file.as_ref().map(|f| body_file_name(f));
        out
    }

    pub fn exchange(&self, x: &RawExchange) -> Exchange {
        Exchange {
            direction: x.direction,
            at: Redactor::at(x),
            duration_ms: x.duration.as_secs_f64() * 1000.0,
            request: self.message(&x.request),
            response: x.response.as_ref().map(|r| self.message(r)),
            error: x.error.as_deref().map(|e| self.text(e)),
        }
    }
}

/// How many characters of a large text body the results show.
pub const PREVIEW_CHARS: usize = 2000;

/// A short preview of a body's first bytes: its text for a text type (JSON, XML, `text/*`,
/// or bytes that are UTF-8 when the type is unknown), nothing for binary content.
pub fn preview(content_type: Option<&str>, head: &[u8]) -> Option<String> {
    if head.is_empty() {
        return None;
    }
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let texty = ct.starts_with("text/")
        || ct.contains("json")
        || ct.contains("xml")
        || ct.contains("x-www-form-urlencoded");
    // A cut in the middle of a character is not a reason to call text binary.
    let text = match std::str::from_utf8(head) {
        Ok(t) => t.to_string(),
        Err(e) if e.valid_up_to() + 4 >= head.len() && e.valid_up_to() > 0 => {
            String::from_utf8_lossy(&head[..e.valid_up_to()]).into_owned()
        }
        Err(_) if texty => String::from_utf8_lossy(head).into_owned(),
        Err(_) => return None,
    };
    if !texty && !ct.is_empty() {
        return None;
    }
    Some(text.chars().take(PREVIEW_CHARS).collect())
}

/// A body file's name as the results give it: relative to the results folder
/// (`bodies/NAME`) when it is in one named `bodies`, else the path as it is.
pub fn body_file_name(f: &std::path::Path) -> String {
    match (f.parent(), f.file_name()) {
        (Some(dir), Some(name)) if dir.file_name().is_some_and(|d| d == "bodies") => {
            format!("bodies/{}", name.to_string_lossy())
        }
        _ => f.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_streamed_to_a_file_loses_its_secrets() {
        let dir = std::env::temp_dir().join(format!("cdex-redact-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("body.json");
        // The secret straddles the scan's 64 KiB chunk boundary.
        let mut body = "x".repeat(64 * 1024 - 5);
        body.push_str("s3cr3t-token and more");
        std::fs::write(&file, &body).unwrap();
        let clean = dir.join("clean.json");
        std::fs::write(&clean, "nothing secret").unwrap();
        let r = Redactor::new(vec!["s3cr3t-token".to_string()]);
        for f in [&file, &clean] {
            let stored = StoredBody {
                size: 1,
                sha256: None,
                file: Some(f.clone()),
                head: Vec::new(),
            };
            r.stored_message(&Message::default(), &stored);
        }
        let after = std::fs::read_to_string(&file).unwrap();
        assert!(!after.contains("s3cr3t-token"), "still there");
        assert!(after.contains(REDACTED));
        assert_eq!(std::fs::read_to_string(&clean).unwrap(), "nothing secret");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn redacts_headers_and_values() {
        let r = Redactor::new(vec!["s3cr3t-token".to_string()]);
        assert_eq!(
            r.header("Authorization", "Bearer s3cr3t-token"),
            "Bearer [REDACTED]"
        );
        assert_eq!(
            r.header("X-Other", "has s3cr3t-token inside"),
            "has [REDACTED] inside"
        );
        assert_eq!(r.text("no secret"), "no secret");
    }

    #[test]
    fn the_no_value_sentinel_is_not_a_secret() {
        // `scoped_token: none` means no token was given: "options tested: none" stays.
        let mut r = Redactor::new(vec!["none".to_string(), "NONE".to_string()]);
        r.add("none");
        assert_eq!(r.text("options tested: none"), "options tested: none");
    }
}
