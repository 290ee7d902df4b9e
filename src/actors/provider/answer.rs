//! The action `answer-attachment-request`: the reference Provider answers a CDex Task
//! Attachment Request it holds, as a person at the Provider would after reviewing it
//! (requesting-attachments-code.html, requesting-attachments-questionnaire.html):
//!
//! - a member it does not know: the Task is `rejected` with a statusReason, nothing is sent;
//! - otherwise the Task goes `in-progress`, the Provider POSTs `$submit-attachment` to the
//!   Task's `payer-url` with a Parameters echoing the request (see [`super::request`]) and the
//!   attachments (a DocumentReference per attachment code, a QuestionnaireResponse per
//!   questionnaire; signed when the `signature-flag` input is true), then `completed` with
//!   outputs referencing what it sent (or `failed` with a statusReason when the Payer refused).

use super::content;
use super::faults;
use super::parameters::{Part, Submission};
use super::request::{Asked, AttachmentRequest, PAS_TEMP, is_attachment_request};
use super::sign;
use crate::actors::ActionRequest;
use crate::actors::data_source::{DataSource, tasks};
use serde_json::{Value, json};
use std::sync::Arc;

/// The id of the Task `with: task` names (`abc`, `Task/abc`, a URL, or `next`: the oldest
/// attachment request still `requested`); `None` when it names no Task of this server.
fn task_id(ds: &DataSource, named: &str) -> Option<String> {
    if named.is_empty() || named == "next" {
        let mut open: Vec<(u64, String)> = ds
            .tasks
            .current_all()
            .into_iter()
            .filter(|t| is_attachment_request(t) && t["status"] == "requested")
            .filter_map(|t| {
                let id = t["id"].as_str()?.to_string();
                let n = id.rsplit('-').next()?.parse().ok()?;
                Some((n, id))
            })
            .collect();
        open.sort();
        return open.into_iter().next().map(|(_, id)| id);
    }
    let id = named
        .split(['?', '#'])
        .next()
        .unwrap_or(named)
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(named);
    ds.tasks.current(id).map(|_| id.to_string())
}

/// Apply one change to a Task now (a new version, notified to subscribers).
fn change(ds: &DataSource, id: &str, change: Value) -> Result<(), String> {
    tasks::script(
        ds,
        &json!({"task": format!("Task/{id}"), "changes": [change]}),
    )
}

/// The member's Patient on this Data Source, by an identifier of the contained Patient.
fn knows_member(ds: &DataSource, request: &AttachmentRequest) -> bool {
    ds.all_of("Patient").iter().any(|p| {
        p["identifier"].as_array().is_some_and(|ids| {
            ids.iter().any(|i| {
                request.member_ids.iter().any(|m| {
                    m["value"] == i["value"]
                        && (m.get("system").is_none() || m["system"] == i["system"])
                })
            })
        })
    })
}

/// `answer-attachment-request`.
pub async fn perform(ds: Arc<DataSource>, req: ActionRequest) -> Result<(), String> {
    let named = req.with.get("task").cloned().unwrap_or_default();
    let Some(id) = task_id(&ds, &named) else {
        if named.contains("Task") {
            return Err(format!(
                "no attachment request `{named}` on this Data Source"
            ));
        }
        // The request was refused when it was POSTed: nothing to answer.
        return Ok(());
    };
    if ds.fault("never-submits") {
        return Ok(());
    }
    let task = ds.tasks.current(&id).ok_or("the Task went away")?;
    if !is_attachment_request(&task) {
        return Err(format!("Task/{id} is not an attachment request"));
    }
    let request = AttachmentRequest::of(&task);
    if !knows_member(&ds, &request) && !ds.fault("submits-for-unknown-member") {
        return change(
            &ds,
            &id,
            json!({"status": "rejected",
                "statusReason": "Unknown member: no patient of this Provider has the member identifier of the request"}),
        );
    }
    let Some(payer_url) = request.payer_url.clone() else {
        return change(
            &ds,
            &id,
            json!({"status": "rejected", "statusReason": "The request names no payer-url to submit the attachments to"}),
        );
    };
    change(&ds, &id, json!({"status": "in-progress"}))?;
    let (submission, outputs) = build(&ds, &id, &request)?;
    let body = submission.to_parameters();
    let url = if ds.fault("ignores-payer-url") {
        configured_endpoint(&payer_url)
    } else {
        payer_url
    };
    let answer = super::http::post_as(&req, "POST", &url, &body, false).await;
    let done = match answer {
        Ok(status) if (200..300).contains(&status) => {
            if ds.fault("fails-task-after-submit") {
                return change(
                    &ds,
                    &id,
                    json!({"status": "failed", "statusReason": "Closed by the reference Provider's fault"}),
                );
            }
            let mut c = json!({"status": "completed"});
            if !outputs.is_empty() {
                c["output"] = Value::Array(outputs);
            }
            c
        }
        Ok(status) => json!({"status": "failed",
            "statusReason": format!("The Payer refused the attachments (HTTP {status})")}),
        Err(e) => json!({"status": "failed",
            "statusReason": format!("The attachments could not be sent to the Payer: {e}")}),
    };
    change(&ds, &id, done)
}

/// What a Provider with a configured Payer endpoint would use: `[origin]/fhir/$submit-attachment`
/// (the fault `ignores-payer-url`).
fn configured_endpoint(payer_url: &str) -> String {
    let origin: String = match payer_url.find("://") {
        Some(i) => {
            let rest = &payer_url[i + 3..];
            let host_end = rest.find('/').map(|j| i + 3 + j).unwrap_or(payer_url.len());
            payer_url[..host_end].to_string()
        }
        None => payer_url.to_string(),
    };
    format!("{origin}/fhir/$submit-attachment")
}

/// The submission answering the request, and the Task outputs naming what it holds (the
/// attachments are kept on this server too).
fn build(
    ds: &DataSource,
    id: &str,
    request: &AttachmentRequest,
) -> Result<(Submission, Vec<Value>), String> {
    let member = request
        .member_ids
        .first()
        .cloned()
        .unwrap_or_else(|| json!({"value": "unknown"}));
    let author = request
        .provider_id
        .clone()
        .or(request.organization_id.clone())
        .unwrap_or_else(
            || json!({"system": "http://hl7.org/fhir/sid/us-npi", "value": "9941339108"}),
        );
    let signed = request.signature_flag && !ds.fault("unsigned-when-flagged");
    let mut parts = Vec::new();
    let mut outputs = Vec::new();
    for (n, asked) in request.asked.iter().enumerate() {
        let n = n + 1;
        match asked {
            Asked::Code { code, line } => {
                let doc_id = format!("att-doc-{id}-{n}");
                let doc = content::document(&doc_id, &member, code, None);
                ds.put(doc.clone());
                outputs.push(json!({
                    "type": {"coding": [{"system": PAS_TEMP, "code": "attachments-needed"}]},
                    "valueReference": {"reference": format!("DocumentReference/{doc_id}")}
                }));
                let content = if signed {
                    let mut bundle =
                        content::document_bundle(&format!("att-bundle-{id}-{n}"), &doc, &author);
                    sign::sign(&mut bundle, &author)?;
                    bundle
                } else {
                    doc
                };
                parts.push(Part {
                    line_items: line.iter().cloned().collect(),
                    code: Some(code.clone()),
                    content,
                });
            }
            Asked::Questionnaire { line, .. } if ds.fault("document-for-questionnaire") => {
                let doc = content::document(
                    &format!("att-doc-{id}-{n}"),
                    &member,
                    &content::loinc("11506-3"),
                    None,
                );
                parts.push(Part {
                    line_items: line.iter().cloned().collect(),
                    code: None,
                    content: doc,
                });
            }
            Asked::Questionnaire { canonical, line } => {
                let qr_id = format!("att-qr-{id}-{n}");
                let mut qr = content::questionnaire_response(&qr_id, canonical, &member, &author);
                if signed {
                    sign::sign(&mut qr, &author)?;
                }
                ds.put(qr.clone());
                if !ds.fault("no-questionnaire-output") {
                    outputs.push(json!({
                    "type": {"coding": [{"system": PAS_TEMP, "code": "questionnaire-context"}]},
                    "valueReference": {"reference": format!("QuestionnaireResponse/{qr_id}")}
                    }));
                }
                parts.push(Part {
                    line_items: line.iter().cloned().collect(),
                    code: None,
                    content: qr,
                });
            }
        }
    }
    if parts.is_empty() {
        return Err(format!(
            "Task/{id} asks for no attachment code and no questionnaire"
        ));
    }
    let mut submission = Submission {
        tracking_id: request
            .tracking_id
            .clone()
            .ok_or_else(|| format!("Task/{id} has no tracking-id"))?,
        attach_to: request.attach_to.clone().unwrap_or_else(|| "claim".into()),
        payer_id: request.payer_id.clone(),
        organization_id: request.organization_id.clone(),
        provider_id: request.provider_id.clone(),
        member_id: member,
        service_date: request.service_date.clone(),
        parts,
        final_submission: None,
    };
    faults::apply(&mut submission, &ds_faults(ds));
    Ok((submission, outputs))
}

fn ds_faults(ds: &DataSource) -> std::collections::BTreeSet<String> {
    faults::SERVER_FAULTS
        .iter()
        .map(|(n, _)| n.to_string())
        .filter(|n| ds.fault(n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_endpoint_is_on_the_payer_urls_origin() {
        assert_eq!(
            configured_endpoint("http://127.0.0.1:4000/$submit-attachment"),
            "http://127.0.0.1:4000/fhir/$submit-attachment"
        );
    }
}
