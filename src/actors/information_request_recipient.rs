//! Reference Information Request Recipient, grouped with an Information Sender (seeds 000
//! and 003, without the task-based option). Its server side receives a CDex
//! CommunicationRequest by POST (refusing one that does not conform to
//! `cdex-communicationrequest`) and keeps it. Its client side, asked later
//! (`answer-communication-request`), answers a request it holds: a Communication about the
//! request's subject, `basedOn` the request (reference and identifier), carrying only the
//! requested information, POSTed to the Information Recipient the request names: the FHIR
//! base of the Endpoint its contained recipient Organization references, or else the
//! configured `recipient_address`.

use super::messaging::{ProfiledEndpoint, addressee, payload_key, post};
use super::{ActionRequest, BoxFuture, ClientActor, ReferenceActor};
use crate::http::Message;
use crate::http::client::HttpClient;
use crate::mock::{Handler, outcome};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The actions this actor performs (see `docs/actions.md`).
pub const ACTIONS: &[&str] = &["answer-communication-request"];

pub const FAULTS: &[(&str, &str)] = &[
    (
        "reject-request",
        "answers every POST of a CommunicationRequest with 405",
    ),
    (
        "accept-invalid-request",
        "accepts a CommunicationRequest that does not conform to cdex-communicationrequest",
    ),
    (
        "lose-request-payload",
        "keeps a received CommunicationRequest without its payload",
    ),
    ("never-answers", "does nothing when asked to answer"),
    ("no-based-on", "answers without basedOn"),
    (
        "ignore-endpoint",
        "ignores the Endpoint the request names and sends to the configured address only",
    ),
    (
        "wrong-recipient",
        "names the request's sender, not its recipient, as the Communication's recipient",
    ),
    (
        "extra-payload",
        "sends every piece of information it holds, requested or not",
    ),
    ("wrong-subject", "answers about another patient"),
];

const ACCEPTS: &[(&str, &str)] = &[("CommunicationRequest", "cdex-communicationrequest")];

/// What the server side and the client side share.
struct Shared {
    faults: BTreeSet<String>,
    endpoint: ProfiledEndpoint,
}

impl Shared {
    fn fault(&self, name: &str) -> bool {
        self.faults.contains(name)
    }
}

struct Server(Arc<Shared>);

struct Client {
    shared: Arc<Shared>,
    http: HttpClient,
}

pub fn build(_settings: &Value, faults: BTreeSet<String>) -> Result<ReferenceActor, String> {
    let shared = Arc::new(Shared {
        faults,
        endpoint: ProfiledEndpoint::new(
            ACCEPTS,
            "cdex-harness reference Information Request Recipient",
        ),
    });
    Ok(ReferenceActor {
        server: Some(Arc::new(Server(shared.clone()))),
        client: Some(Arc::new(Client {
            shared,
            http: HttpClient::shared()?,
        })),
    })
}

impl Handler for Server {
    fn handle(&self, req: &Message) -> Message {
        let s = &self.0;
        if req.method.as_deref() == Some("POST") && s.fault("reject-request") {
            return outcome(405, "not-supported", "create is not supported");
        }
        let admit = |rtype: &str, resource: &mut Arc<Value>| -> Result<(), Box<Message>> {
            if !s.fault("accept-invalid-request") {
                s.endpoint.conform(rtype, resource)?;
            }
            if s.fault("lose-request-payload")
                && let Some(o) = Arc::make_mut(resource).as_object_mut()
            {
                o.remove("payload");
            }
            Ok(())
        };
        s.endpoint.handle(req, &admit)
    }

    fn seed(&self, resource: Value) -> Result<String, String> {
        self.0.endpoint.seed(resource)
    }

    fn keep_at_most(&self, keep: usize, dropped: Arc<std::sync::atomic::AtomicU64>) {
        self.0.endpoint.store.keep_at_most(keep, dropped);
    }
}

impl ClientActor for Client {
    fn perform(&self, req: ActionRequest) -> BoxFuture<Result<(), String>> {
        let shared = self.shared.clone();
        let http = self.http.clone();
        Box::pin(async move {
            if req.action != "answer-communication-request" {
                return Err(format!(
                    "the reference Information Request Recipient does not perform `{}`",
                    req.action
                ));
            }
            if shared.fault("never-answers") {
                return Ok(());
            }
            let id = req
                .with
                .get("communication_request_id")
                .ok_or("`answer-communication-request` needs `communication_request_id`")?;
            let request = shared
                .endpoint
                .store
                .read("CommunicationRequest", id)
                .ok_or_else(|| format!("no CommunicationRequest `{id}` was received"))?
                .into_resource();
            let to = addressee(&request);
            let fallback = req
                .with
                .get("recipient_address")
                .filter(|a| !a.is_empty())
                .map(|a| a.trim_end_matches('/').to_string());
            let address = if shared.fault("ignore-endpoint") {
                fallback
            } else {
                to.address.clone().or(fallback)
            }
            .ok_or("the request names no Endpoint for its recipient and no `recipient_address` was given")?;
            let answer = answer(&shared, &req, id, &request, to.recipients)?;
            post(
                &http,
                &address,
                &answer,
                req.vars.get("token").map(String::as_str),
            )
            .await
            .map(|_| ())
        })
    }
}

/// The Communication answering `request` (received as `CommunicationRequest/<id>`), built
/// from the information the system holds (the action's payload: a Communication whose
/// payloads are what it could send). Only the payloads the request asks for are sent.
fn answer(
    shared: &Shared,
    req: &ActionRequest,
    id: &str,
    request: &Value,
    recipients: Vec<Value>,
) -> Result<Value, String> {
    let mut c = req.payload.clone().unwrap_or_else(|| json!({}));
    let o = c
        .as_object_mut()
        .ok_or("the payload of `answer-communication-request` is not a JSON object")?;
    let held: Vec<Value> = o
        .remove("payload")
        .and_then(|p| p.as_array().cloned())
        .unwrap_or_default();
    let requested: BTreeSet<String> = request
        .get("payload")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(payload_key)
        .collect();
    let payload: Vec<Value> = if shared.fault("extra-payload") {
        held
    } else {
        held.into_iter()
            .filter(|p| payload_key(p).is_some_and(|k| requested.contains(&k)))
            .collect()
    };
    if payload.is_empty() {
        return Err("none of the information held is what the request asks for".into());
    }
    o.insert("resourceType".into(), json!("Communication"));
    o.remove("id");
    o.remove("meta");
    // The narrative described what the system holds, not this answer.
    o.remove("text");
    o.insert("status".into(), json!("completed"));
    let mut based_on = serde_json::Map::new();
    based_on.insert(
        "reference".into(),
        json!(format!("CommunicationRequest/{id}")),
    );
    if let Some(identifier) = request.pointer("/identifier/0") {
        based_on.insert("identifier".into(), identifier.clone());
    }
    if shared.fault("no-based-on") {
        o.remove("basedOn");
    } else {
        o.insert("basedOn".into(), json!([based_on]));
    }
    let subject = if shared.fault("wrong-subject") {
        json!({"reference": "Patient/another-patient"})
    } else {
        request.get("subject").cloned().unwrap_or(Value::Null)
    };
    o.insert("subject".into(), subject);
    if let Some(about) = request.get("about") {
        o.insert("about".into(), about.clone());
    }
    let sender = request.get("sender").cloned();
    let recipients = if shared.fault("wrong-recipient") {
        sender.clone().into_iter().collect()
    } else {
        recipients
    };
    o.insert("recipient".into(), Value::Array(recipients));
    // The request's sender is the one it asks to send; else the system's own identity (the
    // suggested payload's sender) stays.
    if let Some(s) = sender {
        o.insert("sender".into(), s);
    }
    o.insert(
        "sent".into(),
        json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    );
    o.insert("payload".into(), Value::Array(payload));
    Ok(c)
}
