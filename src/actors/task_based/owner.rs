//! The owner's side (Information Recipient, Information Request Recipient): pull a received
//! Task's focus from the requester and work the Task to an end state, updating it on its own
//! server (where the requester follows it).

use super::{ActionRequest, Role, TaskActor, exchange, now, param, request_headers};
use crate::http::client::HttpClient;
use serde_json::{Value, json};

/// How pulling the focus went.
enum Pulled {
    /// The focus, as read.
    Got(Value),
    /// The focus was not pulled at all (fault `task-no-pull`).
    Skipped,
    /// It could not be had: why.
    Failed(String),
}

/// `process-task`: `with:` `task_id` (the id of the Task on this owner's server).
///
/// Pulls the focus (GET of its absolute reference). When that gives a resource of the
/// expected type, the Task goes `accepted`, `in-progress`, then `completed` with an `output`;
/// otherwise it is `rejected` with a `statusReason`. Returns once the Task is updated.
pub(super) async fn process_task(
    actor: &TaskActor,
    http: &HttpClient,
    req: &ActionRequest,
) -> Result<(), String> {
    let task_id = param(req, "task_id")?;
    let task = actor
        .store
        .read("Task", task_id)
        .ok_or_else(|| format!("there is no Task/{task_id} on this server"))?
        .into_resource();
    let focus_ref = task
        .pointer("/focus/reference")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let pulled = if actor.fault("task-no-pull") {
        Pulled::Skipped
    } else {
        pull(actor.role.focus_type(), http, req, &focus_ref).await
    };
    if actor.fault("task-never-updates") {
        return Ok(());
    }
    match pulled {
        Pulled::Failed(why) => {
            let mut t = task;
            t["status"] = json!("rejected");
            if !actor.fault("task-reject-no-reason") {
                t["statusReason"] = json!({ "text": why });
            }
            save(actor, task_id, t);
        }
        Pulled::Got(_) | Pulled::Skipped => {
            let focus = match pulled {
                Pulled::Got(f) => Some(f),
                _ => None,
            };
            let output = answer(actor, &task, &focus_ref, focus.as_ref());
            let mut t = task;
            if !actor.fault("task-skip-states") {
                for status in ["accepted", "in-progress"] {
                    t["status"] = json!(status);
                    t = save(actor, task_id, t);
                }
            }
            t["status"] = json!("completed");
            if !actor.fault("task-no-output") {
                t["output"] = json!([output]);
            }
            save(actor, task_id, t);
        }
    }
    Ok(())
}

/// GET the focus by its absolute reference.
async fn pull(focus_type: &str, http: &HttpClient, req: &ActionRequest, focus_ref: &str) -> Pulled {
    if !(focus_ref.starts_with("http://") || focus_ref.starts_with("https://")) {
        return Pulled::Failed(format!(
            "the focus `{focus_ref}` is not an absolute reference this system can pull"
        ));
    }
    match exchange(http, "GET", focus_ref, request_headers(req, false), None).await {
        Err(e) => Pulled::Failed(format!("the focus could not be pulled: {e}")),
        Ok(m) => {
            let status = m.status.unwrap_or(0);
            let body = m.json().ok();
            let rtype = body
                .as_ref()
                .and_then(|b| b.get("resourceType"))
                .and_then(Value::as_str)
                .unwrap_or("");
            match body {
                Some(b) if (200..300).contains(&status) && rtype == focus_type => Pulled::Got(b),
                _ => Pulled::Failed(format!(
                    "reading the focus {focus_ref} gave HTTP {status} and no {focus_type}"
                )),
            }
        }
    }
}

/// Store a new version of the Task; returns it as stored.
fn save(actor: &TaskActor, task_id: &str, mut task: Value) -> Value {
    task["lastModified"] = json!(now());
    actor.put("Task", task_id, task).0.into_resource()
}

/// The Task's output: a reference to the owner's copy of the Communication it pulled, or to
/// the Communication it generated to answer the CommunicationRequest (kept on its server).
fn answer(actor: &TaskActor, task: &Value, focus_ref: &str, focus: Option<&Value>) -> Value {
    let communication = match (actor.role, focus) {
        (Role::Recipient, Some(f)) => {
            let mut copy = f.clone();
            if let Some(o) = copy.as_object_mut() {
                o.remove("id");
                o.remove("meta");
            }
            copy
        }
        _ => json!({
            "resourceType": "Communication",
            "status": "completed",
            "basedOn": [{ "reference": focus_ref }],
            "subject": task.get("for").cloned().unwrap_or(Value::Null),
            "sent": now(),
            "sender": task.get("owner").cloned().unwrap_or(Value::Null),
            "recipient": [task.get("requester").cloned().unwrap_or(Value::Null)],
            "payload": [{ "contentString": format!("The information requested by {focus_ref}.") }],
        }),
    };
    let stored = actor.create("Communication", communication);
    let id = stored.id();
    let text = if actor.role == Role::Recipient {
        "the Communication received"
    } else {
        "the Communication answering the request"
    };
    json!({
        "type": { "text": text },
        "valueReference": { "reference": format!("Communication/{id}") },
    })
}
