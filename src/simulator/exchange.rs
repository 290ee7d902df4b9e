//! What a simulator tells its subscribers of one exchange: [`LiveExchange`], with the
//! [`LiveCheck`]s the live validation found, redacted and with bodies capped.

use crate::fhir::{LiveFinding, expected::Expects};
use crate::http::RawExchange;
use crate::http::redact::Redactor;
use crate::results::Status;

/// The most characters of a body a [`LiveExchange`] carries (the log prints fewer).
pub const MAX_LIVE_BODY: usize = 64 * 1024;

/// One exchange a partner had with a simulator, as the live check saw it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LiveExchange {
    /// Its place among every exchange the simulator answered (from 1). A gap means the
    /// exchanges in it were answered but not checked: see `unchecked_before`.
    pub seq: u64,
    /// When the request arrived, RFC 3339 (milliseconds, UTC).
    pub at: String,
    pub method: String,
    /// Path and query relative to the FHIR base, from its `/` (redacted): `/Communication`.
    pub path: String,
    pub status: u16,
    /// Redacted, at most [`MAX_LIVE_BODY`] characters.
    pub request_body: Option<String>,
    pub response_body: Option<String>,
    pub checks: Vec<LiveCheck>,
    /// How long the simulator took to answer, in milliseconds.
    pub duration_ms: f64,
    /// Exchanges answered since the previous one this simulator checked that were not
    /// checked: the live check was behind and the request path does not wait for it.
    pub unchecked_before: u64,
}

/// One thing the live check says of a request.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LiveCheck {
    /// `failed` for an error (and the INVALID verdict), `warned` for a warning or a
    /// Content-Type that is not FHIR JSON, `passed` for the VALID verdict and for notes and
    /// information (nothing wrong), `errored` when the harness could not check.
    pub status: Status,
    /// The rule it traces to: for a profile issue, the rule's source (the StructureDefinition
    /// URL and element, or `profiles/structural.yaml#name`).
    pub requirement: Option<String>,
    /// What it says, as the log prints it after `check: ` (redacted).
    pub message: String,
}

/// The live check of one exchange: what the actor serving it (`expects`) expects of what it
/// receives. Verdicts come from [`crate::fhir::live_findings`], unchanged.
pub async fn check(
    seq: u64,
    x: &RawExchange,
    redactor: &Redactor,
    expects: Option<&Expects>,
) -> LiveExchange {
    let findings = crate::fhir::live_findings(&x.request, expects).await;
    // What `redactor.exchange(x)` shows of it, without the headers a live exchange does not
    // carry (copying and redacting them was a tenth of the redaction's cost).
    let cap = |b: Option<String>| {
        b.map(|b| {
            // Bytes bound characters: most bodies are not walked char by char.
            if b.len() <= MAX_LIVE_BODY {
                return b;
            }
            match b.char_indices().nth(MAX_LIVE_BODY) {
                Some((i, _)) => b[..i].to_string(),
                None => b,
            }
        })
    };
    LiveExchange {
        seq,
        at: Redactor::at(x),
        method: x.request.method.clone().unwrap_or_else(|| "?".into()),
        path: format!(
            "/{}",
            x.request
                .path
                .as_deref()
                .map(|p| redactor.text(p))
                .unwrap_or_default()
        ),
        status: x.response.as_ref().and_then(|r| r.status).unwrap_or(0),
        request_body: cap(redactor.body(&x.request)),
        response_body: cap(x.response.as_ref().and_then(|r| redactor.body(r))),
        checks: findings
            .into_iter()
            .map(|f| LiveCheck::from_finding(f, redactor))
            .collect(),
        duration_ms: x.duration.as_secs_f64() * 1000.0,
        unchecked_before: 0,
    }
}

impl LiveCheck {
    fn from_finding(f: LiveFinding, redactor: &Redactor) -> LiveCheck {
        use crate::fhir::FindingKind as K;
        use crate::fhir::validate::Severity as S;
        let status = match f.kind {
            K::Issue(S::Error) | K::Invalid => Status::Failed,
            K::Issue(S::Warning) | K::NotFhirJson => Status::Warned,
            K::Issue(S::Information) | K::Note | K::Valid => Status::Passed,
            K::NotChecked => Status::Errored,
        };
        LiveCheck {
            status,
            requirement: f.source,
            message: redactor.text_owned(f.text),
        }
    }
}

/// The lines the log shows for one exchange: one for the exchange, one per check, and with
/// `verbose` the bodies (their first 2,000 characters).
pub fn write_lines(
    out: &mut impl std::io::Write,
    x: &LiveExchange,
    verbose: bool,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{} {} {} -> {} ({:.1} ms)",
        x.at, x.method, x.path, x.status, x.duration_ms
    )?;
    for c in &x.checks {
        writeln!(out, "    check: {}", c.message)?;
    }
    if verbose {
        if let Some(b) = &x.request_body {
            writeln!(
                out,
                "    request body: {}",
                b.chars().take(2000).collect::<String>()
            )?;
        }
        if let Some(b) = &x.response_body {
            writeln!(
                out,
                "    response body: {}",
                b.chars().take(2000).collect::<String>()
            )?;
        }
    }
    Ok(())
}
