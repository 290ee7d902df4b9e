//! Reference Information Sender (seeds 000 and 002, without the task-based option): when
//! asked (`send-communication`), pushes a CDex Communication by POST to the Information
//! Recipient; when it answers a CommunicationRequest, the Communication's `basedOn` carries
//! the request's reference and identifier.

use super::messaging::post;
use super::{ActionRequest, BoxFuture, ClientActor, ReferenceActor};
use crate::http::client::HttpClient;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The actions this actor performs (see `docs/actions.md`).
pub const ACTIONS: &[&str] = &["send-communication"];

pub const FAULTS: &[(&str, &str)] = &[
    ("silent", "does nothing when asked"),
    ("no-subject", "sends the Communication without its subject"),
    (
        "omit-request-id",
        "leaves out basedOn (the CommunicationRequest answered)",
    ),
    (
        "wrong-payload",
        "sends a payload other than the agreed information",
    ),
];

pub struct InformationSender {
    faults: BTreeSet<String>,
    http: HttpClient,
}

pub fn build(_settings: &Value, faults: BTreeSet<String>) -> Result<ReferenceActor, String> {
    Ok(ReferenceActor {
        server: None,
        client: Some(Arc::new(InformationSender {
            faults,
            http: HttpClient::shared()?,
        })),
    })
}

impl ClientActor for InformationSender {
    fn perform(&self, req: ActionRequest) -> BoxFuture<Result<(), String>> {
        let faults = self.faults.clone();
        let http = self.http.clone();
        Box::pin(async move {
            if faults.contains("silent") {
                return Ok(());
            }
            if req.action != "send-communication" {
                return Err(format!(
                    "the reference Information Sender does not perform `{}`",
                    req.action
                ));
            }
            let communication = communication(&req, &faults)?;
            post(
                &http,
                &req.base_url,
                &communication,
                req.vars.get("token").map(String::as_str),
            )
            .await
            .map(|_| ())
        })
    }
}

/// `basedOn` naming the CommunicationRequest answered: `based_on` is its reference,
/// `based_on_identifier` its identifier as `system|value`.
pub fn based_on(reference: Option<&str>, identifier: Option<&str>) -> Option<Value> {
    let mut entry = serde_json::Map::new();
    if let Some(r) = reference.filter(|r| !r.is_empty()) {
        entry.insert("reference".into(), json!(r));
    }
    if let Some(i) = identifier.filter(|i| !i.is_empty()) {
        let (system, value) = i.split_once('|').unwrap_or(("", i));
        let mut id = serde_json::Map::new();
        if !system.is_empty() {
            id.insert("system".into(), json!(system));
        }
        id.insert("value".into(), json!(value));
        entry.insert("identifier".into(), Value::Object(id));
    }
    (!entry.is_empty()).then(|| json!([entry]))
}

/// The Communication to send: the suggested payload, answering the request named by `with:`.
fn communication(req: &ActionRequest, faults: &BTreeSet<String>) -> Result<Value, String> {
    let mut c = req
        .payload
        .clone()
        .ok_or("`send-communication` needs a payload (the Communication to send)")?;
    let o = c
        .as_object_mut()
        .ok_or("the payload of `send-communication` is not a JSON object")?;
    let answered = based_on(
        req.with.get("based_on").map(String::as_str),
        req.with.get("based_on_identifier").map(String::as_str),
    );
    if let Some(b) = answered {
        o.insert("basedOn".into(), b);
    }
    if faults.contains("omit-request-id") {
        o.remove("basedOn");
    }
    if faults.contains("no-subject") {
        o.remove("subject");
    }
    if faults.contains("wrong-payload") {
        o.insert(
            "payload".into(),
            json!([{"contentString": "No information is available."}]),
        );
    }
    Ok(c)
}
