//! FHIR knowledge: FHIRPath evaluation ([`fhirpath`]), structural profiles ([`profiles`]), and
//! the live checks the simulator applies to what a partner sends.

pub mod conformance;
pub mod fhirpath;
pub mod fhirpath_subset;
pub mod profiles;
pub mod validate;

use crate::http::Message;

/// What the simulator says of an incoming request: its content type, whether it is JSON,
/// and every issue the validator finds (R4 base structure, the profiles its `meta.profile`
/// names, and the FHIRPath invariants of both).
pub async fn live_check(req: &Message) -> Vec<String> {
    let mut findings = Vec::new();
    if req.body.is_empty() {
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
    let validator = match conformance::validator() {
        Ok(v) => v,
        Err(e) => {
            findings.push(format!("not validated: {e}"));
            return findings;
        }
    };
    let issues = validator.validate_with_invariants(&value, None).await;
    let errors = issues.iter().filter(|i| i.is_error()).count();
    for i in &issues {
        findings.push(format!(
            "{} {}: {}",
            i.severity.as_str(),
            i.location,
            i.message
        ));
    }
    let named: Vec<&str> = value
        .pointer("/meta/profile")
        .and_then(|p| p.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    if errors == 0 {
        let against = if named.is_empty() {
            "the R4 base".to_string()
        } else {
            format!("the R4 base and {}", named.join(", "))
        };
        findings.push(format!("valid against {against}"));
    }
    findings
}
