//! FHIR knowledge: the [`cdex_fhir`] crate (validator, FHIRPath, profiles, signatures,
//! attachments), re-exported here so the harness names it `crate::fhir::...`, plus what only
//! the harness knows: which profile each reference actor expects ([`expected`], its data in
//! `src/fhir/expected.yaml`) and the simulator's live check of an HTTP request ([`live_check`]).

pub use cdex_fhir::{
    attachment, conformance, fhirpath, fhirpath_subset, profiles, signature, validate,
};

pub mod expected;

use crate::http::Message;

/// What the simulator says of an incoming request: its content type, whether it is JSON,
/// what it was checked against, every issue the validator finds (each with its location and
/// the rule's source: the R4 base structure, the profile the receiving actor expects of a
/// resource of that type (`expects`, from `profiles/expected.yaml`), the profiles its
/// `meta.profile` declares, and the FHIRPath invariants of all), and the verdict.
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
    let validator = match conformance::validator() {
        Ok(v) => v,
        Err(e) => {
            findings.push(format!("not validated: {e}"));
            return findings;
        }
    };
    let declared = validate::verdict::declared_profiles(&value);
    let rtype = value
        .get("resourceType")
        .and_then(|t| t.as_str())
        .unwrap_or("");
    let expected = expects.and_then(|e| e.profile_for(rtype, &declared));
    // The R4 base and what meta.profile declares; then the expected profile: the validator's
    // when it has one, else the structural rules of that short name.
    let mut issues = validator.validate_with_invariants(&value, None).await;
    let mut against = declared.clone();
    let mut structural_only = None;
    if let Some(name) = expected {
        if let Some(p) = validator
            .profile(name)
            .or_else(|| profiles::find(name).and_then(|s| validator.profile(&s.url)))
        {
            let url = p.url.clone();
            issues.extend(validator.validate_with_invariants(&value, Some(&url)).await);
            against.push(url);
        } else if let Some(p) = profiles::find(name) {
            for problem in profiles::check(p, &value) {
                issues.push(validate::Issue::new(
                    validate::Severity::Error,
                    "required",
                    p.resource.clone(),
                    problem,
                    format!("profiles/structural.yaml#{}", p.name),
                ));
            }
            structural_only = Some(p.url.clone());
        }
    }
    validate::issue::dedupe(&mut issues);
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
    for i in &issues {
        findings.push(format!(
            "{} {}: {} [{}]",
            i.severity.as_str(),
            i.location,
            i.message,
            i.source
        ));
    }
    let mut verdict = validator.verdict(&value, &against, &issues);
    if let Some(url) = structural_only {
        match &mut verdict {
            validate::Verdict::Valid { against } | validate::Verdict::Invalid { against, .. } => {
                against.profiles.push(url)
            }
            validate::Verdict::NotChecked { .. } => {}
        }
    }
    findings.push(verdict.to_string());
    findings
}
