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
    let mut findings = Vec::new();
    if req.body.is_empty() && req.stored.is_none() {
        return findings;
    }
    match req.header("content-type") {
        Some(ct) if ct.to_ascii_lowercase().starts_with("application/fhir+json") => {}
        Some(ct) => findings.push(format!(
            "Content-Type is `{ct}`, FHIR JSON is application/fhir+json"
        )),
        None => findings.push("no Content-Type header".into()),
    }
    let value = match req.json() {
        Ok(v) => v,
        Err(e) => {
            findings.push(e);
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
            findings.push(format!("not validated: {e}"));
            return findings;
        }
    };
    if let (Some(name), Some(e)) = (expected, expects) {
        findings.push(format!(
            "checked against {name}, the profile the {} expects of a {rtype}{}",
            e.actor,
            if declared.is_empty() {
                String::new()
            } else {
                format!(", and the declared {}", declared.join(", "))
            }
        ));
    }
    for i in &received.issues {
        findings.push(format!(
            "{} {}: {} [{}]",
            i.severity.as_str(),
            i.location,
            i.message,
            i.source
        ));
    }
    findings.push(received.verdict.to_string());
    findings
}
