//! The `signature:` assertion: verify the digital signature of the body (or of the Bundles and
//! QuestionnaireResponses a FHIRPath selects) under the run's rule set and trust anchors, or
//! judge one verifier step, so each signature requirement gets its own check.

use crate::fhir::signature::{self, Outcome, Report, Step, VerifyOptions};
use crate::http::Message;
use crate::results::{AssertionResult, Status};
use crate::scenario::Assertion;
use crate::scenario::template::{Vars, render};
use base64::Engine as _;
use serde_json::Value;

/// The built-in variable holding the run's signature rule set (`2.1.0` or `ci-build`).
pub const RULES_VAR: &str = "signature_rules";
/// The built-in variable holding the run's trust anchors: base64 DER, space-separated.
pub const TRUST_VAR: &str = "signature_trust_anchors";

/// The verification options of a scenario: from the built-in variables the run sets.
pub fn options(vars: &Vars) -> VerifyOptions {
    let trust = vars
        .get(TRUST_VAR)
        .map(|s| {
            s.split_whitespace()
                .filter_map(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .collect()
        })
        .unwrap_or_default();
    VerifyOptions {
        at: chrono::Utc::now(),
        rules: vars
            .get(RULES_VAR)
            .cloned()
            .unwrap_or_else(|| "2.1.0".into()),
        trust,
    }
}

/// The value of [`TRUST_VAR`] for these DER anchors.
pub fn trust_var(anchors: &[Vec<u8>]) -> String {
    anchors
        .iter()
        .map(|d| base64::engine::general_purpose::STANDARD.encode(d))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn describe(at: &Option<String>, step: &Option<Step>) -> String {
    let what = match at {
        Some(at) => format!("the signature of {at}"),
        None => "the body's signature".to_string(),
    };
    match step {
        Some(s) => format!("{what}: verifier step `{s}` passes"),
        None => format!("{what} verifies"),
    }
}

/// One selected resource's verdict: status, what was found, why it did not pass.
fn judge(report: &Report, step: Option<Step>) -> (Status, String, Option<String>) {
    match step {
        None => {
            if report.ok() {
                (Status::Passed, report.summary(), None)
            } else {
                let why = match report.first_failure() {
                    Some((s, m)) => format!("the {s} step failed: {m}"),
                    None => "the signature could not be verified".to_string(),
                };
                (Status::Failed, "not verified".into(), Some(why))
            }
        }
        Some(step) => {
            let Some(r) = report.get(step) else {
                return (
                    Status::Failed,
                    "not reported".into(),
                    Some(format!("the verifier did not report the {step} step")),
                );
            };
            match r.outcome {
                Outcome::Pass => (Status::Passed, r.message.clone(), None),
                Outcome::Fail => (Status::Failed, "FAIL".into(), Some(r.message.clone())),
                Outcome::Warn => (Status::Warned, "warn".into(), Some(r.message.clone())),
                Outcome::NotChecked => (
                    Status::NotApplicable,
                    "not checked".into(),
                    Some(r.message.clone()),
                ),
                Outcome::Blocked => {
                    let why = match report.first_failure() {
                        Some((s, m)) => format!("could not be checked: the {s} step failed: {m}"),
                        None => r.message.clone(),
                    };
                    (Status::Failed, "not checked".into(), Some(why))
                }
            }
        }
    }
}

/// Evaluate a `signature:` assertion against a message.
pub async fn evaluate(
    a: &Assertion,
    msg: &Message,
    vars: &Vars,
    at: &Option<String>,
    step: Option<Step>,
) -> AssertionResult {
    let description = match &a.title {
        Some(t) => render(t, vars).unwrap_or_else(|_| t.clone()),
        None => describe(at, &step),
    };
    let opts = options(vars);
    let expected = Some(match step {
        Some(s) => format!("step {s} passes (rules {})", opts.rules),
        None => format!("verified (rules {})", opts.rules),
    });
    let mut result = AssertionResult {
        hint: None,
        kind: a.kind.name().to_string(),
        description,
        requirement: a.requirement.clone(),
        severity: a.severity,
        status: Status::Passed,
        expected,
        actual: None,
        message: None,
    };
    let failed = super::assert::failed_status(a.severity);
    let body = match msg.json() {
        Ok(v) => v,
        Err(e) => {
            result.status = failed;
            result.message = Some(e);
            return result;
        }
    };
    let selected: Vec<Value> = match at {
        None => vec![body],
        Some(expr) => {
            let expr = match render(expr, vars) {
                Ok(e) => e,
                Err(e) => {
                    result.status = failed;
                    result.message = Some(e);
                    return result;
                }
            };
            match crate::fhir::fhirpath::evaluate(&expr, &body).await {
                Ok(v) if v.is_empty() => {
                    result.status = failed;
                    result.message = Some(format!(
                        "`{expr}` selects nothing: there is no signed resource to check"
                    ));
                    return result;
                }
                Ok(v) => v,
                Err(e) => {
                    result.status = failed;
                    result.message = Some(format!("`{expr}` could not be evaluated: {e}"));
                    return result;
                }
            }
        }
    };
    let many = selected.len() > 1;
    let mut actual = Vec::new();
    let mut messages = Vec::new();
    let mut worst = Status::NotApplicable;
    for (i, resource) in selected.iter().enumerate() {
        let report = signature::verify_with(resource, &opts);
        let (status, found, why) = judge(&report, step);
        let label = if many {
            format!(
                "[{i}] {}: ",
                resource
                    .get("resourceType")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
            )
        } else {
            String::new()
        };
        actual.push(format!("{label}{found}"));
        if let Some(w) = why {
            messages.push(format!("{label}{w}"));
        }
        let status = if status == Status::Failed {
            failed
        } else {
            status
        };
        worst = worst_of(worst, status);
    }
    result.status = worst;
    result.actual = Some(actual.join("; "));
    if !messages.is_empty() {
        result.message = Some(messages.join("; "));
    }
    result
}

/// Failed > Warned > Passed > NotApplicable (not applicable only when nothing else).
fn worst_of(a: Status, b: Status) -> Status {
    let rank = |s: Status| match s {
        Status::NotApplicable => 0,
        Status::Passed => 1,
        Status::Warned => 2,
        _ => 3,
    };
    if rank(b) > rank(a) { b } else { a }
}
