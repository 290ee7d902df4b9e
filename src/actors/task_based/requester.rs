//! The requester's side (Information Sender, Information Request Sender): keep the focus on
//! its own FHIR server and push a Task about it to the owner.

use super::{ActionRequest, TASK_CODE_SYSTEM, TaskActor, exchange, now, param, request_headers};
use crate::http::client::HttpClient;
use serde_json::{Value, json};

/// `send-communication-task` / `send-communication-request-task`.
///
/// `with:` `owner` (reference of the Task's owner, required), `requester` (optional: default
/// the focus's `sender` for a Communication, `requester` for a CommunicationRequest),
/// `task_key` (optional: the Task's identifier value). The payload is the focus resource.
/// The reference actor's own FHIR base comes from the scenario's `base_url`.
pub(super) async fn send_task(
    actor: &TaskActor,
    http: &HttpClient,
    req: &ActionRequest,
) -> Result<(), String> {
    if actor.fault("task-silent") {
        return Ok(());
    }
    let focus_type = actor.role.focus_type();
    let owner = param(req, "owner")?;
    let own_base = req
        .vars
        .get("base_url")
        .map(|b| b.trim_end_matches('/').to_string())
        .filter(|b| !b.is_empty())
        .ok_or("the reference requester needs its own FHIR base (`base_url`)")?;
    let mut focus = req
        .payload
        .clone()
        .ok_or_else(|| format!("action `{}` needs a payload: the {focus_type}", req.action))?;
    if focus.get("resourceType").and_then(Value::as_str) != Some(focus_type) {
        return Err(format!(
            "the payload of `{}` must be a {focus_type}",
            req.action
        ));
    }
    if actor.fault("task-invalid-focus")
        && let Some(o) = focus.as_object_mut()
    {
        o.remove("payload");
    }
    let stored = match focus.get("id").and_then(Value::as_str).map(str::to_string) {
        Some(id) => actor.put(focus_type, &id, focus.clone()).0,
        None => actor.create(focus_type, focus.clone()),
    };
    let focus_id = stored.id();
    let focus_url = format!("{own_base}/{focus_type}/{focus_id}");

    let requester = match req.with.get("requester").filter(|r| !r.is_empty()) {
        Some(r) => json!({ "reference": r }),
        None => {
            let from = if focus_type == "Communication" {
                "sender"
            } else {
                "requester"
            };
            focus.get(from).cloned().unwrap_or(Value::Null)
        }
    };
    let key = req
        .with
        .get("task_key")
        .cloned()
        .unwrap_or_else(|| format!("task-{focus_id}"));
    let system = req
        .vars
        .get("identifier_system")
        .cloned()
        .unwrap_or_else(|| "urn:cdex-harness:task".to_string());
    let mut task = json!({
        "resourceType": "Task",
        "identifier": [{ "system": system, "value": key }],
        "status": "requested",
        "intent": if actor.fault("task-intent-plan") { "plan" } else { "order" },
        "code": { "coding": [{ "system": TASK_CODE_SYSTEM, "code": "fulfill" }] },
        "focus": { "reference": focus_url },
        "for": focus.get("subject").cloned().unwrap_or(Value::Null),
        "authoredOn": now(),
        "requester": requester,
        "owner": { "reference": owner },
    });
    if let Some(o) = task.as_object_mut() {
        if actor.fault("task-no-focus") {
            o.remove("focus");
        }
        o.retain(|_, v| !v.is_null());
    }
    let url = format!("{}/Task", req.base_url.trim_end_matches('/'));
    exchange(http, "POST", &url, request_headers(req, true), Some(&task))
        .await
        .map(|_| ())
}
