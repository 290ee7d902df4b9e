//! Redaction: secrets never reach the results, the reports or the console.

use super::{Message, RawExchange};
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
}

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| is_secret(s)).collect();
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    pub fn add(&mut self, secret: &str) {
        if is_secret(secret) && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_string());
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    pub fn text(&self, s: &str) -> String {
        let mut out = s.to_string();
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
        let body = if m.body.is_empty() {
            None
        } else {
            let cut = m.body.len() > MAX_REPORTED_BODY;
            let bytes = if cut {
                &m.body[..MAX_REPORTED_BODY]
            } else {
                &m.body[..]
            };
            Some(self.text(&String::from_utf8_lossy(bytes)))
        };
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
        }
    }

    pub fn exchange(&self, x: &RawExchange) -> Exchange {
        Exchange {
            direction: x.direction,
            at: x.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            duration_ms: x.duration.as_secs_f64() * 1000.0,
            request: self.message(&x.request),
            response: x.response.as_ref().map(|r| self.message(r)),
            error: x.error.as_deref().map(|e| self.text(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
