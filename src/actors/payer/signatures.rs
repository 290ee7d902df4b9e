//! The Payer's signature check (signatures pre-negotiated): every `Attachment.Content` must
//! be a signed Bundle or QuestionnaireResponse whose signature verifies, trusting the
//! harness's test CA. A missing or failing signature is answered 400 + OperationOutcome
//! `business-rule` naming the failed step (sending-attachments.html, CONF-025; the IG's
//! unsolicited-attachment-scenario4 and 7).

use super::checks::{Problem, contents, is_signed};
use crate::fhir::signature::{Outcome, Step, TestPki, VerifyOptions, verify_with};
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

/// The first verifier step that failed and was not skipped by a fault (a step that only
/// warns under the rule set, a CI-build rule judged under 2.1.0, does not refuse).
fn failure(resource: &Value, rules: &str, faults: &BTreeSet<String>) -> Option<(String, String)> {
    let opts = VerifyOptions {
        at: chrono::Utc::now(),
        rules: rules.to_string(),
        trust: vec![TestPki::shared().ca_der()],
    };
    let report = verify_with(resource, &opts);
    report
        .steps
        .iter()
        .filter(|s| s.outcome == Outcome::Fail && !ignored(faults, s.step))
        .map(|s| (s.step.name().to_string(), s.message.clone()))
        .next()
}
