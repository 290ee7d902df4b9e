//! `POST [base]/$submit-attachment`: the checks in order (JSON Parameters, the
//! cdex-parameters-submit-attachment profile, the OperationDefinition's rules, the contents
//! this Payer takes, signatures when required), then 200: empty when the TrackingId is a
//! claim it knows, else with an informational OperationOutcome (held for a future claim or
//! prior authorization, CONF-021).

use super::Endpoint;
use super::checks::{self, Problem};
use crate::http::Message;
use crate::mock::fhir_response;
use serde_json::{Value, json};

pub const PROFILE: &str =
    "http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-parameters-submit-attachment";

/// What the IG's Scenario 1b answers (cdex-operationoutcome-inline-example1).
pub const HELD_TEXT: &str = "The attachments can not be associated with a current claim or prior authorization and are being held for association with a future claim or prior authorization.";

/// An OperationOutcome answer with one issue per problem (or, with the
/// `no-outcome-on-error` fault, an empty body).
pub fn refuse(ep: &Endpoint, status: u16, problems: &[Problem], diagnostics: &str) -> Message {
    if ep.fault("no-outcome-on-error") {
        return Message {
            status: Some(status),
            ..Message::default()
        };
    }
    let issues: Vec<Value> = problems
        .iter()
        .map(|p| {
            json!({
                "severity": "error",
                "code": p.code,
                "details": {"text": p.text},
                "diagnostics": diagnostics,
                "expression": [p.location]
            })
        })
        .collect();
    fhir_response(
        status,
        &json!({"resourceType": "OperationOutcome", "issue": issues}),
    )
}

/// Errors of the Parameters against the profile (structure, slices, bindings, invariants).
fn profile_problems(params: &Value) -> Vec<Problem> {
    let params = params.clone();
    // The validator is async (FHIRPath invariants); the handler is not: a thread of its own.
    let run = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(crate::fhir::conformance::check(&params, PROFILE))
    });
    match run.join() {
        Ok(Ok(issues)) => issues
            .into_iter()
            .filter(|i| i.severity == crate::fhir::validate::issue::Severity::Error)
            .map(|i| Problem::new("invalid", i.location.clone(), i.message.clone()))
            .collect(),
        Ok(Err(e)) => vec![Problem::new(
            "exception",
            "Parameters",
            format!("the validator could not run: {e}"),
        )],
        Err(_) => vec![Problem::new(
            "exception",
            "Parameters",
            "the validator failed",
        )],
    }
}

/// The operation.
pub fn submit(ep: &Endpoint, req: &Message) -> Message {
    if ep.fault("rejects-submit") {
        return refuse(
            ep,
            501,
            &[Problem::new(
                "not-supported",
                "Parameters",
                "$submit-attachment is not supported",
            )],
            "",
        );
    }
    if let Some(limit) = ep.settings.max_payload().filter(|_| !ep.fault("no-413"))
        && (req.body.len() as u64 > limit || req.truncated)
    {
        return refuse(
            ep,
            413,
            &[Problem::new(
                "too-costly",
                "Parameters",
                format!("the payload is larger than this Payer's limit of {limit} bytes"),
            )],
            "Send the document by url (DocumentReference.content.attachment.url) or split the attachments over several operations",
        );
    }
    let params = match req.json() {
        Ok(v) if v.get("resourceType").and_then(Value::as_str) == Some("Parameters") => v,
        Ok(v) => {
            let found = v.get("resourceType").and_then(Value::as_str).unwrap_or("");
            return refuse(
                ep,
                400,
                &[Problem::new(
                    "structure",
                    "",
                    format!(
                        "the body is a `{found}`, $submit-attachment takes a Parameters resource"
                    ),
                )],
                "",
            );
        }
        Err(e) => return refuse(ep, 400, &[Problem::new("structure", "", e)], ""),
    };

    // Malformed: the profile and the OperationDefinition's rules (400).
    let mut problems = Vec::new();
    if !ep.fault("accepts-missing-member") {
        problems.extend(profile_problems(&params));
    }
    if !ep.fault("accepts-no-provider") {
        problems.extend(checks::provider_or_organization(&params));
    }
    problems.extend(checks::service_date(
        &params,
        ep.fault("accepts-claim-without-service-date"),
        ep.fault("accepts-month-service-date"),
    ));
    if !problems.is_empty() {
        return refuse(
            ep,
            400,
            &problems,
            "Correct the $submit-attachment parameters (OperationDefinition submit-attachment) and resubmit",
        );
    }

    // Well-formed, but content this Payer does not take (422).
    let mut refused = Vec::new();
    if ep.fault("rejects-unknown-extension") && checks::has_extension(&params) {
        refused.push(Problem::new(
            "not-supported",
            "Parameters",
            "extensions are not accepted",
        ));
    }
    if ep.fault("rejects-not-final") && !checks::is_final(&params) {
        refused.push(Problem::new(
            "not-supported",
            "Parameters.parameter:Final",
            "only one submission per claim is accepted (Final = false is refused)",
        ));
    }
    for (at, resource) in checks::contents(&params) {
        match resource.get("resourceType").and_then(Value::as_str) {
            Some("DocumentReference") => refused.extend(checks::document_reference(
                &at,
                resource,
                ep.fault("rejects-docref-data"),
                ep.fault("rejects-docref-url"),
            )),
            Some("QuestionnaireResponse")
                if !ep.settings.questionnaires || ep.fault("rejects-questionnaire-response") =>
            {
                refused.push(Problem::new(
                    "not-supported",
                    at,
                    "this Payer does not take QuestionnaireResponse attachments",
                ));
            }
            Some("QuestionnaireResponse") => {}
            Some(other) if ep.fault("rejects-observation-content") => {
                refused.push(Problem::new(
                    "not-supported",
                    at,
                    format!("this Payer takes DocumentReference attachments, not {other}"),
                ));
            }
            _ => {}
        }
    }
    if !refused.is_empty() {
        return refuse(ep, 422, &refused, "");
    }

    // Signatures, when pre-negotiated (400 + business-rule, CONF-025).
    if ep.settings.signatures_required() {
        let bad = super::signatures::problems(&params, &ep.settings, &ep.faults);
        if !bad.is_empty() {
            let status = if ep.fault("bad-signature-422") {
                422
            } else {
                400
            };
            return refuse(ep, status, &bad, "Resubmit with valid digital signature");
        }
    }

    let known = ep.keep(&params);
    if known || ep.fault("no-held-outcome") {
        return Message {
            status: Some(200),
            ..Message::default()
        };
    }
    fhir_response(
        200,
        &json!({
            "resourceType": "OperationOutcome",
            "issue": [{
                "severity": "information",
                "code": "informational",
                "details": {"text": HELD_TEXT}
            }]
        }),
    )
}
