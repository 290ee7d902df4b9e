//! The four Communication actors with the **task-based workflow option** (seed 000, seed 003,
//! HRex "CommunicationRequest plus Task").
//!
//! How the exchange goes (the draft's Option G: the Task is pushed to its owner):
//!
//! 1. The requester (Information Sender, or Information Request Sender) keeps the focus
//!    (a Communication, or a CommunicationRequest) on its own FHIR server and POSTs a Task
//!    (`intent` order, `code` task-code#fulfill, `focus` = the absolute URL of that resource)
//!    to the owner (Information Recipient, or Information Request Recipient).
//! 2. The Task lives on the owner, and only the owner updates it. The owner pulls the focus by
//!    GET from the requester's server, then moves the Task `requested -> accepted ->
//!    in-progress -> completed` (with `output`), or `requested -> rejected` (with
//!    `statusReason`) when it cannot get the focus.
//! 3. A Communication Task's `output` references the owner's copy of the Communication it
//!    pulled. A Communication Request Task's `output` references the Communication that
//!    answers the request, kept on the owner's server (`basedOn` = the CommunicationRequest):
//!    the requester reads the Task (polling) and then reads that Communication.
//!
//! Each actor is one [`TaskActor`]: its server side (a small FHIR server that keeps every
//! version of what it stores, so `GET [type]/[id]/_history` shows a Task's status history)
//! and its client side (the `CDEX_ACTION`s below) share one store.

mod owner;
mod requester;
mod server;

use super::store::{Store, Stored};
use super::{ActionRequest, BoxFuture, ClientActor, ReferenceActor};
use crate::http::Message;
use crate::http::client::{HttpClient, OutgoingRequest};
use crate::mock::Handler;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The option these specs implement.
pub const OPTIONS: &[&str] = &["task-based"];

/// `http://hl7.org/fhir/CodeSystem/task-code`, the system of `Task.code` (`fulfill`).
pub const TASK_CODE_SYSTEM: &str = "http://hl7.org/fhir/CodeSystem/task-code";

/// Action of the Information Sender: push a Communication Task.
pub const SEND_COMMUNICATION_TASK: &str = "send-communication-task";
/// Action of the Information Request Sender: push a Communication Request Task.
pub const SEND_COMMUNICATION_REQUEST_TASK: &str = "send-communication-request-task";
/// Action of both owners: pull the Task's focus and work the Task to an end state.
pub const PROCESS_TASK: &str = "process-task";

pub const SENDER_ACTIONS: &[&str] = &[SEND_COMMUNICATION_TASK];
pub const REQUEST_SENDER_ACTIONS: &[&str] = &[SEND_COMMUNICATION_REQUEST_TASK];
pub const OWNER_ACTIONS: &[&str] = &[PROCESS_TASK];

/// Faults of the task-based Information Sender.
pub const SENDER_FAULTS: &[(&str, &str)] = &[
    ("task-silent", "pushes no Communication Task when asked"),
    ("task-no-focus", "pushes a Task without a focus"),
    ("task-intent-plan", "pushes a Task with intent `plan`"),
    (
        "task-invalid-focus",
        "shares a Communication without its payload",
    ),
    (
        "task-focus-not-served",
        "answers a read of the Task's focus with 404",
    ),
];

/// Faults of the task-based Information Request Sender.
pub const REQUEST_SENDER_FAULTS: &[(&str, &str)] = &[
    (
        "task-silent",
        "pushes no Communication Request Task when asked",
    ),
    ("task-no-focus", "pushes a Task without a focus"),
    ("task-intent-plan", "pushes a Task with intent `plan`"),
    (
        "task-invalid-focus",
        "shares a CommunicationRequest without its payload",
    ),
    (
        "task-focus-not-served",
        "answers a read of the Task's focus with 404",
    ),
];

/// Faults of the task-based Information Recipient.
pub const RECIPIENT_FAULTS: &[(&str, &str)] = &[
    ("task-reject-push", "answers a pushed Task with 405"),
    (
        "task-no-pull",
        "never pulls the Task's focus (but completes the Task)",
    ),
    (
        "task-skip-states",
        "jumps from requested straight to completed",
    ),
    ("task-no-output", "completes the Task without an output"),
    (
        "task-reject-no-reason",
        "rejects a Task without a statusReason",
    ),
];

/// Faults of the task-based Information Request Recipient.
pub const REQUEST_RECIPIENT_FAULTS: &[(&str, &str)] = &[
    ("task-reject-push", "answers a pushed Task with 405"),
    (
        "task-no-pull",
        "never pulls the Task's focus (but completes the Task)",
    ),
    (
        "task-skip-states",
        "jumps from requested straight to completed",
    ),
    ("task-no-output", "completes the Task without an output"),
    (
        "task-reject-no-reason",
        "rejects a Task without a statusReason",
    ),
    (
        "task-never-updates",
        "pulls the focus but never updates the Task",
    ),
];

/// Which of the four actors an instance is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Sender,
    Recipient,
    RequestSender,
    RequestRecipient,
}

impl Role {
    /// The resource type a Task of this actor's flow focuses on.
    pub fn focus_type(self) -> &'static str {
        match self {
            Role::Sender | Role::Recipient => "Communication",
            Role::RequestSender | Role::RequestRecipient => "CommunicationRequest",
        }
    }

    /// True for the actor that receives the Task and updates it.
    pub fn is_owner(self) -> bool {
        matches!(self, Role::Recipient | Role::RequestRecipient)
    }

    fn name(self) -> &'static str {
        match self {
            Role::Sender => "Information Sender",
            Role::Recipient => "Information Recipient",
            Role::RequestSender => "Information Request Sender",
            Role::RequestRecipient => "Information Request Recipient",
        }
    }
}

/// One task-based actor: its FHIR server and its client side share this state.
pub struct TaskActor {
    role: Role,
    faults: BTreeSet<String>,
    store: Store,
    /// Every version of every stored resource, oldest first, by (type, id).
    history: Mutex<BTreeMap<(String, String), Vec<Value>>>,
}

impl TaskActor {
    fn new(role: Role, faults: BTreeSet<String>) -> Self {
        TaskActor {
            role,
            faults,
            store: Store::default(),
            history: Mutex::default(),
        }
    }

    fn fault(&self, name: &str) -> bool {
        self.faults.contains(name)
    }

    /// Create with a server-assigned id, keeping the version.
    fn create(&self, rtype: &str, resource: Value) -> Stored {
        let stored = self.store.create(rtype, resource);
        self.remember(rtype, &stored);
        stored
    }

    /// Create or replace at an id, keeping the version.
    fn put(&self, rtype: &str, id: &str, resource: Value) -> (Stored, bool) {
        let (stored, created) = self.store.put(rtype, id, resource);
        self.remember(rtype, &stored);
        (stored, created)
    }

    fn remember(&self, rtype: &str, stored: &Stored) {
        let id = stored.id().to_string();
        let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        h.entry((rtype.to_string(), id))
            .or_default()
            .push(Value::clone(stored.resource()));
    }

    /// Every version of a resource, oldest first.
    fn versions(&self, rtype: &str, id: &str) -> Vec<Value> {
        let h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        h.get(&(rtype.to_string(), id.to_string()))
            .cloned()
            .unwrap_or_default()
    }
}

/// A handle shared by the server and client sides.
#[derive(Clone)]
struct Shared(Arc<TaskActor>);

impl Handler for Shared {
    fn handle(&self, req: &Message) -> Message {
        server::handle(&self.0, req)
    }

    fn seed(&self, resource: Value) -> Result<String, String> {
        server::seed(&self.0, resource)
    }

    fn keep_at_most(&self, keep: usize, dropped: Arc<std::sync::atomic::AtomicU64>) {
        self.0.store.keep_at_most(keep, dropped);
    }
}

impl ClientActor for Shared {
    fn perform(&self, req: ActionRequest) -> BoxFuture<Result<(), String>> {
        let actor = self.0.clone();
        Box::pin(async move {
            let http = HttpClient::shared()?;
            match (actor.role, req.action.as_str()) {
                (Role::Sender, SEND_COMMUNICATION_TASK)
                | (Role::RequestSender, SEND_COMMUNICATION_REQUEST_TASK) => {
                    requester::send_task(&actor, &http, &req).await
                }
                (Role::Recipient | Role::RequestRecipient, PROCESS_TASK) => {
                    owner::process_task(&actor, &http, &req).await
                }
                (role, other) => Err(format!(
                    "the reference task-based {} does not perform `{other}`",
                    role.name()
                )),
            }
        })
    }
}

fn build_role(role: Role, faults: BTreeSet<String>) -> ReferenceActor {
    let shared = Shared(Arc::new(TaskActor::new(role, faults)));
    ReferenceActor {
        server: Some(Arc::new(shared.clone())),
        client: Some(Arc::new(shared)),
    }
}

// The pack's `reference:` settings of these actor names belong to the plain actors too; the
// task-based actors need none of them, so they are ignored here.

/// Factory of the task-based Information Sender.
pub fn build_sender(_settings: &Value, faults: BTreeSet<String>) -> Result<ReferenceActor, String> {
    Ok(build_role(Role::Sender, faults))
}

/// Factory of the task-based Information Recipient.
pub fn build_recipient(
    _settings: &Value,
    faults: BTreeSet<String>,
) -> Result<ReferenceActor, String> {
    Ok(build_role(Role::Recipient, faults))
}

/// Factory of the task-based Information Request Sender.
pub fn build_request_sender(
    _settings: &Value,
    faults: BTreeSet<String>,
) -> Result<ReferenceActor, String> {
    Ok(build_role(Role::RequestSender, faults))
}

/// Factory of the task-based Information Request Recipient.
pub fn build_request_recipient(
    _settings: &Value,
    faults: BTreeSet<String>,
) -> Result<ReferenceActor, String> {
    Ok(build_role(Role::RequestRecipient, faults))
}

/// Headers of a request the actor makes: FHIR JSON, and the pack's bearer token if any.
fn request_headers(req: &ActionRequest, with_body: bool) -> Vec<(String, String)> {
    let mut h = vec![("Accept".to_string(), "application/fhir+json".to_string())];
    if let Some(token) = req.vars.get("token").filter(|t| !t.is_empty()) {
        h.push(("Authorization".into(), format!("Bearer {token}")));
    }
    if with_body {
        h.push(("Content-Type".into(), "application/fhir+json".into()));
    }
    h
}

/// Send one request and return the answer, or why there is none.
async fn exchange(
    http: &HttpClient,
    method: &str,
    url: &str,
    headers: Vec<(String, String)>,
    body: Option<&Value>,
) -> Result<Message, String> {
    let body = match body {
        Some(b) => Some(serde_json::to_vec(b).map_err(|e| e.to_string())?),
        None => None,
    };
    let x = http
        .send(
            OutgoingRequest {
                method: method.into(),
                url: url.to_string(),
                path: url.to_string(),
                headers,
                body,
            },
            Duration::from_secs(30),
        )
        .await;
    match (x.error, x.response) {
        (Some(e), _) => Err(e),
        (None, Some(r)) => Ok(r),
        (None, None) => Err(format!("{method} {url} got no response")),
    }
}

/// The value of a `with:` parameter, or an error naming it.
fn param<'a>(req: &'a ActionRequest, name: &str) -> Result<&'a str, String> {
    req.with
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("action `{}` needs `{name}`", req.action))
}

/// Now, as a FHIR instant.
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
