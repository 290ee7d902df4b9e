//! The Payer's signature check (signatures pre-negotiated): every `Attachment.Content` must
//! be a signed Bundle or QuestionnaireResponse whose signature verifies, trusting the
//! harness's test CA. A missing or failing signature is answered 400 + OperationOutcome
//! `business-rule` naming the failed step (sending-attachments.html, CONF-025; the IG's
//! unsolicited-attachment-scenario4 and 7).

use super::Settings;
use super::checks::{Problem, contents, is_signed};
use crate::fhir::signature::{Outcome, Step, VerifyOptions, verify_with};
use serde_json::Value;
use std::collections::BTreeSet;

/// The verifier steps a fault makes the Payer skip.
fn ignored(faults: &BTreeSet<String>, step: Step) -> bool {
    let f = |n: &str| faults.contains(n);
    match step {
        Step::CertificateValidity => f("ignores-expiry"),
        Step::SanMatchesWho => f("ignores-san"),
        Step::SrCms => f("ignores-srcms"),
        Step::SigT => f("ignores-sigt"),
        Step::Trust => f("ignores-trust"),
        _ => false,
    }
}

/// Problems with the signatures of a submission's contents (empty: every one verifies).
pub fn problems(params: &Value, settings: &Settings, faults: &BTreeSet<String>) -> Vec<Problem> {
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
        if let Some((step, why)) = failure(resource, settings, faults) {
            out.push(Problem::new(
                "business-rule",
                at,
                format!("The signature cannot be verified (failed: {step}): {why}"),
            ));
        }
    }
    out
}

/// The verifier steps that failed and were not skipped by a fault (a step that only warns
/// under the rule set, a CI-build rule judged under 2.1.0, does not refuse), as
/// ("step, step", "step: why; step: why"); None when the signature verifies.
fn failure(
    resource: &Value,
    settings: &Settings,
    faults: &BTreeSet<String>,
) -> Option<(String, String)> {
    let opts = VerifyOptions {
        at: chrono::Utc::now(),
        rules: settings.signature_rules.clone(),
        trust: settings.trust(),
    };
    let report = verify_with(resource, &opts);
    let failed: Vec<_> = report
        .steps
        .iter()
        .filter(|s| s.outcome == Outcome::Fail && !ignored(faults, s.step))
        .collect();
    if failed.is_empty() {
        return None;
    }
    let steps: Vec<&str> = failed.iter().map(|s| s.step.name()).collect();
    let why: Vec<String> = failed
        .iter()
        .map(|s| format!("{}: {}", s.step.name(), s.message))
        .collect();
    Some((steps.join(", "), why.join("; ")))
}
