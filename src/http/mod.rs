//! HTTP on the harness's client side: raw messages as seen on the wire, the client that
//! sends them, and redaction of secrets before anything reaches the results.

pub mod bodies;
pub mod client;
pub mod grow;
pub mod redact;
pub mod smart;
pub mod tls;

use crate::results::Direction;
use std::time::Duration;

/// How many first bytes of a body not kept in memory are kept for a preview.
pub const HEAD_BYTES: usize = 4096;

/// Largest body the harness reads from a peer; a larger one is cut off and reported.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Bytes as text, each invalid UTF-8 sequence replaced by U+FFFD, as
/// `String::from_utf8_lossy` writes it. Valid UTF-8 (nearly every body and header) is checked
/// by `str::from_utf8`, which reads ASCII a word at a time: `from_utf8_lossy` walks it byte by
/// byte, and that was a tenth of the simulator's live check.
pub fn lossy_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// An HTTP request or response as the harness saw it, with the raw body.
#[derive(Debug, Clone, Default)]
pub struct Message {
    pub method: Option<String>,
    /// Full URL (requests).
    pub url: Option<String>,
    /// Path and query relative to the FHIR base, without a leading `/` (requests).
    pub path: Option<String>,
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body was larger than [`MAX_BODY_BYTES`] and was cut off.
    pub truncated: bool,
    /// The body is not (all) in `body`: kept in a file, or not kept at all (its size only).
    pub stored: Option<std::sync::Arc<StoredBody>>,
    /// The body parsed as JSON once, for everyone who reads it ([`parse_once`](Self::parse_once)):
    /// the mock server parses a pushed resource once, and the handler that answers it and the
    /// simulator's live check that validates it share that parse. Set only by `parse_once`,
    /// after the body is final.
    pub parsed: Option<Result<std::sync::Arc<serde_json::Value>, String>>,
}

/// A body not held in memory: its size and digest, and the file that holds it when it was
/// kept. (`body` of its [`Message`] is then empty, or a preview.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredBody {
    pub size: u64,
    /// SHA-256 of the body, lower-case hex; `None` when not kept whole.
    pub sha256: Option<String>,
    /// Where the body is; `None` when it was not kept (a refused upload).
    pub file: Option<std::path::PathBuf>,
    /// The first bytes of the body (for a report's preview).
    pub head: Vec<u8>,
}

impl StoredBody {
    /// A body that was refused and dropped: only its size is known.
    pub fn not_kept(size: u64) -> StoredBody {
        StoredBody {
            size,
            ..StoredBody::default()
        }
    }
}

impl Message {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The whole body: `body`, or read back from the file it was kept in (a large body the
    /// harness's endpoint wrote to disk as it arrived). Handlers and checks read bodies
    /// through this (or [`json`](Self::json)), never `body` alone.
    pub fn body_bytes(&self) -> Result<std::borrow::Cow<'_, [u8]>, String> {
        match &self.stored {
            Some(s) if self.body.is_empty() => bodies::read_stored(s).map(std::borrow::Cow::Owned),
            _ => Ok(std::borrow::Cow::Borrowed(&self.body)),
        }
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Result<serde_json::Value, String> {
        self.json_arc().map(std::sync::Arc::unwrap_or_clone)
    }

    /// The body parsed as JSON, shared: the parse [`parse_once`](Self::parse_once) kept, or a
    /// new one. Readers that do not change the resource take this, not [`json`](Self::json).
    pub fn json_arc(&self) -> Result<std::sync::Arc<serde_json::Value>, String> {
        match &self.parsed {
            Some(parsed) => parsed.clone(),
            None => self.parse_json().map(std::sync::Arc::new),
        }
    }

    /// Parse the body now and keep the result (or the reason it is not JSON) for every later
    /// [`json`](Self::json) and [`json_arc`](Self::json_arc). Call it once the body is final.
    pub fn parse_once(&mut self) {
        self.parsed = Some(self.parse_json().map(std::sync::Arc::new));
    }

    fn parse_json(&self) -> Result<serde_json::Value, String> {
        if let Some(s) = &self.stored
            && self.body.is_empty()
        {
            let bytes = bodies::read_stored(s)?;
            return serde_json::from_slice(&bytes).map_err(|e| {
                let snippet: String = String::from_utf8_lossy(&s.head).chars().take(80).collect();
                format!("the body is not JSON ({e}); it starts with {snippet:?}")
            });
        }
        if self.body.is_empty() {
            return Err("the body is empty".into());
        }
        if self.truncated {
            return Err(format!(
                "the body is larger than the {} MiB the harness reads; it was cut there and not parsed",
                MAX_BODY_BYTES / (1024 * 1024)
            ));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            let snippet: String = String::from_utf8_lossy(&self.body)
                .chars()
                .take(80)
                .collect();
            format!("the body is not JSON ({e}); it starts with {snippet:?}")
        })
    }

    /// The FHIR base a request was sent to: its URL without the relative path (requests
    /// the mock server recorded); empty when unknown.
    pub fn fhir_base(&self) -> String {
        let full = self.path.as_deref().unwrap_or("");
        self.url
            .as_deref()
            .and_then(|u| u.strip_suffix(full))
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_default()
    }

    /// Just the path part (no query) relative to the base.
    pub fn path_only(&self) -> &str {
        let p = self.path.as_deref().unwrap_or("");
        p.split('?').next().unwrap_or("")
    }
}

/// One request and its response (or the transport error that stopped it).
#[derive(Debug, Clone)]
pub struct RawExchange {
    pub direction: Direction,
    pub at: chrono::DateTime<chrono::Utc>,
    pub duration: Duration,
    pub request: Message,
    pub response: Option<Message>,
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `parse_once` keeps one parse that every later reader shares, and keeps the reason a
    /// body is not JSON just as a fresh parse gives it.
    #[test]
    fn parse_once_is_shared() {
        let mut m = Message {
            body: br#"{"resourceType":"Communication"}"#.to_vec(),
            ..Message::default()
        };
        let fresh = m.json_arc().unwrap();
        assert!(!std::sync::Arc::ptr_eq(&fresh, &m.json_arc().unwrap()));
        m.parse_once();
        let a = m.json_arc().unwrap();
        assert!(std::sync::Arc::ptr_eq(&a, &m.json_arc().unwrap()));
        assert_eq!(m.json().unwrap(), *fresh);

        let mut bad = Message {
            body: b"{not json".to_vec(),
            ..Message::default()
        };
        let before = bad.json().unwrap_err();
        bad.parse_once();
        assert_eq!(bad.json_arc().unwrap_err(), before);
        assert!(before.starts_with("the body is not JSON"), "{before}");
    }

    #[test]
    fn lossy_text_is_from_utf8_lossy() {
        for b in [
            &b"plain ascii"[..],
            "d\u{e9}j\u{e0} vu \u{1f600}".as_bytes(),
            b"bad \xff byte",
            b"cut \xe2\x82",
            b"",
        ] {
            assert_eq!(lossy_text(b), String::from_utf8_lossy(b));
        }
    }
}
