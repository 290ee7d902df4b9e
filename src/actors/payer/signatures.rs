//! The Payer's signature check (signatures pre-negotiated): every `Attachment.Content` must
//! be a signed Bundle or QuestionnaireResponse whose signature verifies, trusting the
//! harness's test CA. A missing or failing signature is answered 400 + OperationOutcome
//! `business-rule` naming the failed step (sending-attachments.html, CONF-025; the IG's
//! unsolicited-attachment-scenario4 and 7).

use super::checks::{Problem, contents, is_signed};
use serde_json::Value;
use std::collections::BTreeSet;

/// The verifier steps a fault makes the Payer skip (matched on the step's name).
fn ignored(faults: &BTreeSet<String>, step: &str) -> bool {
    let step = step.to_ascii_lowercase();
    let f = |n: &str| faults.contains(n);
    (f("ignores-expiry") && (step.contains("validity") || step.contains("expir")))
        || (f("ignores-san") && step.contains("san"))
        || (f("ignores-srcms") && step.contains("srcms"))
        || (f("ignores-sigt") && step.contains("sigt"))
        || (f("ignores-trust") && (step.contains("trust") || step.contains("chain")))
}

/// Problems with the signatures of a submission's contents (empty: every one verifies).
pub fn problems(params: &Value, rules: &str, faults: &BTreeSet<String>) -> Vec<Problem> {
    if faults.contains("accepts-bad-signature") {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (at, resource) in contents(params) {
        if !is_signed(resource) {
            if !faults.contains("accepts-unsigned") {
                out.push(Problem::new(
                    "business-rule",
                    at,
                    "This health care attachments transactions requires a digital signature: the content is not a signed Bundle or QuestionnaireResponse",
                ));
            }
            continue;
        }
        if faults.contains("rejects-valid-signature") {
            out.push(Problem::new(
                "business-rule",
                at,
                "signed attachments are not accepted",
            ));
            continue;
        }
        if let Some((step, why)) = failure(resource, rules, faults) {
            out.push(Problem::new(
                "business-rule",
                at,
                format!("The signature cannot be verified: step `{step}` failed: {why}"),
            ));
        }
    }
    out
}

/// The first verifier step that failed and was not skipped by a fault.
fn failure(resource: &Value, rules: &str, faults: &BTreeSet<String>) -> Option<(String, String)> {
    let report = verify(resource, rules);
    report
        .steps
        .iter()
        .filter(|s| s.outcome == crate::fhir::signature::Outcome::Fail)
        .map(|s| (s.step.name().to_string(), s.message.clone()))
        .find(|(step, _)| !ignored(faults, step))
}

fn verify(resource: &Value, _rules: &str) -> crate::fhir::signature::Report {
    crate::fhir::signature::verify(resource, chrono::Utc::now())
}
