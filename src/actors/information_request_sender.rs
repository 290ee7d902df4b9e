//! Reference Information Request Sender, grouped with an Information Recipient (seeds 000
//! and 003, without the task-based option). Its client side, when asked
//! (`send-communication-request`), POSTs a CDex CommunicationRequest whose `recipient` (a
//! contained Organization) references a contained Endpoint holding the FHIR base where the
//! answer must go (`recipient_address`), and remembers the request (the id it was given and
//! its identifier). Its server side is the Information Recipient
//! ([`super::information_recipient`]) that accepts the answering Communication, with one
//! rule of its own: a Communication whose `basedOn` names a CommunicationRequest this system
//! did not send is refused with 422 and not kept.

use super::information_recipient::InformationRecipient;
use super::messaging::{post, set_answer_address, strip_endpoints};
use super::{ActionRequest, BoxFuture, ClientActor, ReferenceActor};
use crate::http::Message;
use crate::http::client::HttpClient;
use crate::mock::{Handler, outcome};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// The actions this actor performs (see `docs/actions.md`).
pub const ACTIONS: &[&str] = &["send-communication-request"];

pub const FAULTS: &[(&str, &str)] = &[
    ("silent", "does nothing when asked"),
    (
        "no-requester",
        "sends the CommunicationRequest without requester",
    ),
    (
        "no-timeframe",
        "sends the CommunicationRequest without occurrence (the timeframe)",
    ),
    (
        "no-endpoint",
        "sends the CommunicationRequest without the Endpoint of its recipient",
    ),
    (
        "ignore-based-on",
        "accepts a Communication whose basedOn names a request it never sent",
    ),
    (
        "lose-answer",
        "accepts the answering Communication but does not keep it",
    ),
];

/// A CommunicationRequest this system sent.
#[derive(Debug, Clone)]
struct Sent {
    /// The id the Information Request Recipient gave it.
    id: Option<String>,
    /// Its identifiers, as (system, value).
    identifiers: Vec<(String, String)>,
}

struct Shared {
    faults: BTreeSet<String>,
    recipient: InformationRecipient,
    sent: Mutex<Vec<Sent>>,
}

impl Shared {
    fn fault(&self, name: &str) -> bool {
        self.faults.contains(name)
    }

    /// Does this `basedOn` entry name a request this system sent?
    fn knows(&self, based_on: &Value) -> bool {
        let sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let reference = based_on.get("reference").and_then(Value::as_str);
        let identifier = based_on.get("identifier");
        sent.iter().any(|s| {
            let by_id = match (reference, &s.id) {
                (Some(r), Some(id)) => r
                    .split("/_history/")
                    .next()
                    .is_some_and(|r| r.ends_with(&format!("CommunicationRequest/{id}"))),
                _ => false,
            };
            let by_identifier = identifier.is_some_and(|i| {
                let system = i.get("system").and_then(Value::as_str).unwrap_or("");
                let value = i.get("value").and_then(Value::as_str).unwrap_or("");
                s.identifiers
                    .iter()
                    .any(|(sy, v)| v == value && (system.is_empty() || sy == system))
            });
            by_id || by_identifier
        })
    }

    /// The rule of the grouped recipient: every basedOn must name a request it sent.
    fn check_based_on(&self, communication: &Value) -> Result<(), Box<Message>> {
        if self.fault("ignore-based-on") {
            return Ok(());
        }
        let unknown: Vec<String> = communication
            .get("basedOn")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|b| !self.knows(b))
            .map(|b| b.to_string())
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(Box::new(outcome(
                422,
                "business-rule",
                &format!(
                    "basedOn names no CommunicationRequest this system sent: {}",
                    unknown.join(", ")
                ),
            )))
        }
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
        recipient: InformationRecipient::new(BTreeSet::new()),
        sent: Mutex::new(Vec::new()),
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
        let answer = s.recipient.handle_with(req, &|c| s.check_based_on(c));
        if s.fault("lose-answer")
            && answer.status == Some(201)
            && let Ok(kept) = answer.json()
            && kept.get("basedOn").is_some()
            && let Some(id) = kept.get("id").and_then(Value::as_str)
        {
            s.recipient.forget(id);
        }
        answer
    }

    fn seed(&self, resource: Value) -> Result<String, String> {
        self.0.recipient.seed(resource)
    }

    fn keep_at_most(&self, keep: usize, dropped: Arc<std::sync::atomic::AtomicU64>) {
        self.0.recipient.keep_at_most(keep, dropped);
    }
}

impl ClientActor for Client {
    fn perform(&self, req: ActionRequest) -> BoxFuture<Result<(), String>> {
        let shared = self.shared.clone();
        let http = self.http.clone();
        Box::pin(async move {
            if req.action != "send-communication-request" {
                return Err(format!(
                    "the reference Information Request Sender does not perform `{}`",
                    req.action
                ));
            }
            if shared.fault("silent") {
                return Ok(());
            }
            let mut request = req
                .payload
                .clone()
                .ok_or("`send-communication-request` needs a payload (the CommunicationRequest)")?;
            if let Some(address) = req.with.get("recipient_address").filter(|a| !a.is_empty()) {
                set_answer_address(&mut request, address);
            }
            if let Some(o) = request.as_object_mut() {
                if shared.fault("no-requester") {
                    o.remove("requester");
                }
                if shared.fault("no-timeframe") {
                    o.retain(|k, _| !k.starts_with("occurrence"));
                }
            }
            if shared.fault("no-endpoint") {
                strip_endpoints(&mut request);
            }
            let identifiers: Vec<(String, String)> = request
                .get("identifier")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|i| {
                    let value = i.get("value").and_then(Value::as_str)?;
                    let system = i.get("system").and_then(Value::as_str).unwrap_or("");
                    Some((system.to_string(), value.to_string()))
                })
                .collect();
            // Remembered before it goes out: the answer may come before this task resumes.
            let index = {
                let mut sent = shared.sent.lock().unwrap_or_else(|p| p.into_inner());
                sent.push(Sent {
                    id: None,
                    identifiers,
                });
                sent.len() - 1
            };
            let response = post(
                &http,
                &req.base_url,
                &request,
                req.vars.get("token").map(String::as_str),
            )
            .await?;
            let id = response
                .json()
                .ok()
                .and_then(|b| b.get("id").and_then(Value::as_str).map(str::to_string))
                .or_else(|| {
                    response
                        .header("location")
                        .and_then(|l| l.split("CommunicationRequest/").nth(1))
                        .and_then(|rest| rest.split('/').next())
                        .map(str::to_string)
                });
            if let Some(sent) = shared
                .sent
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(index)
            {
                sent.id = id;
            }
            Ok(())
        })
    }
}
