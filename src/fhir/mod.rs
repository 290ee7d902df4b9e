//! FHIR knowledge: FHIRPath evaluation ([`fhirpath`]), structural profiles ([`profiles`]), and
//! the live checks the simulator applies to what a partner sends.

pub mod fhirpath;
pub mod profiles;
pub mod validate;

use crate::http::Message;

/// What a quick look at an incoming request finds: content type, JSON, the structural
/// profile named in `meta.profile` (or the base one for its type).
pub fn live_check(req: &Message) -> Vec<String> {
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
    let rtype = value
        .get("resourceType")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let named: Vec<&str> = value
        .pointer("/meta/profile")
        .and_then(|p| p.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let profiles: Vec<&profiles::Profile> = if named.is_empty() {
        profiles::all()
            .iter()
            .filter(|p| p.resource == rtype && p.name.starts_with("fhir-"))
            .collect()
    } else {
        named.iter().filter_map(|n| profiles::find(n)).collect()
    };
    for n in named.iter().filter(|n| profiles::find(n).is_none()) {
        findings.push(format!(
            "profile {n} is not one the harness knows; not checked"
        ));
    }
    for p in profiles {
        let problems = profiles::check(p, &value);
        if problems.is_empty() {
            findings.push(format!("conforms to {} (structural check)", p.name));
        }
        findings.extend(problems);
    }
    findings
}
