//! FHIR knowledge: the [`cdex_fhir`] crate (validator, FHIRPath, profiles, signatures,
//! attachments), re-exported here so the harness names it `crate::fhir::...`, plus what only
//! the harness knows: which profile each reference actor expects ([`expected`]) and the
//! simulator's live check of an HTTP request ([`live_check`]).

pub use cdex_fhir::{
    attachment, conformance, fhirpath, fhirpath_subset, profiles, signature, validate,
};

pub mod expected;

use crate::http::Message;

/// What the simulator says of an incoming request: its content type, whether it is JSON,
/// what it was checked against, every issue the validator finds (each with its location and
/// the rule's source: the R4 base structure, the profile the receiving actor expects of a
/// resource of that type (`expects`, from `src/fhir/expected.yaml`), the profiles its
/// `meta.profile` declares, and the FHIRPath invariants of all), and the verdict
/// ([`conformance::check_received`]).
pub async fn live_check(req: &Message, expects: Option<&expected::Expects>) -> Vec<String> {
    live_findings(req, expects)
        .await
        .into_iter()
        .map(|f| f.text)
        .collect()
}

/// One thing [`live_check`] says, with what kind of thing it is (for a simulator's
/// subscribers to show as passed, warned or failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveFinding {
    pub kind: FindingKind,
    /// The line [`live_check`] gives.
    pub text: String,
    /// For an issue: the rule's source.
    pub source: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingKind {
    /// The Content-Type is not FHIR JSON (or missing).
    NotFhirJson,
    /// What the resource was checked against.
    Note,
    /// A validator issue (a body that is not JSON is an error).
    Issue(validate::Severity),
    /// The verdicts.
    Valid,
    Invalid,
    /// Not checked: the validator could not (its data is missing).
    NotChecked,
}

impl LiveFinding {
    fn new(kind: FindingKind, text: String) -> LiveFinding {
        LiveFinding {
            kind,
            text,
            source: None,
        }
    }
}

/// [`live_check`], each line with its kind.
pub async fn live_findings(req: &Message, expects: Option<&expected::Expects>) -> Vec<LiveFinding> {
    use FindingKind as K;
    let mut findings = Vec::new();
    if req.body.is_empty() && req.stored.is_none() {
        return findings;
    }
    match req.header("content-type") {
        Some(ct) if ct.to_ascii_lowercase().starts_with("application/fhir+json") => {}
        Some(ct) => findings.push(LiveFinding::new(
            K::NotFhirJson,
            format!("Content-Type is `{ct}`, FHIR JSON is application/fhir+json"),
        )),
        None => findings.push(LiveFinding::new(
            K::NotFhirJson,
            "no Content-Type header".into(),
        )),
    }
    let value = match req.json_arc() {
        Ok(v) => v,
        Err(e) => {
            findings.push(LiveFinding::new(K::Issue(validate::Severity::Error), e));
            return findings;
        }
    };
    let declared = validate::verdict::declared_profiles(&value);
    let rtype = value
        .get("resourceType")
        .and_then(|t| t.as_str())
        .unwrap_or("");
    let expected = expects.and_then(|e| e.profile_for(rtype, &declared));
    let received = match conformance::check_received(&value, expected).await {
        Ok(r) => r,
        Err(e) => {
            findings.push(LiveFinding::new(
                K::NotChecked,
                format!("not validated: {e}"),
            ));
            return findings;
        }
    };
    if let (Some(name), Some(e)) = (expected, expects) {
        findings.push(LiveFinding::new(
            K::Note,
            format!(
                "checked against {name}, the profile the {} expects of a {rtype}{}",
                e.actor,
                if declared.is_empty() {
                    String::new()
                } else {
                    format!(", and the declared {}", declared.join(", "))
                }
            ),
        ));
    }
    let conformance::Received { issues, verdict } = received;
    for i in issues {
        // `{severity} {location}: {message} [{source}]`, sized once: `format!` here was a
        // tenth of a live check's instructions (benches/live.rs).
        let severity = i.severity.as_str();
        let mut text = String::with_capacity(
            severity.len() + i.location.len() + i.message.len() + i.source.len() + 6,
        );
        for part in [
            severity,
            " ",
            &i.location,
            ": ",
            &i.message,
            " [",
            &i.source,
            "]",
        ] {
            text.push_str(part);
        }
        findings.push(LiveFinding {
            kind: K::Issue(i.severity),
            text,
            source: Some(i.source),
        });
    }
    let kind = match &verdict {
        validate::Verdict::Valid { .. } => K::Valid,
        validate::Verdict::Invalid { .. } => K::Invalid,
        validate::Verdict::NotChecked { .. } => K::NotChecked,
    };
    findings.push(LiveFinding::new(kind, verdict.to_string()));
    findings
}
