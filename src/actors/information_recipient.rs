//! Reference Information Recipient (seeds 000 and 002, without the task-based option):
//! receives a CDex Communication pushed by POST (create) or PUT (update), refuses one that
//! does not conform to `cdex-communication` (400 + OperationOutcome), keeps it, and answers
//! read and search (`based-on`, `subject`/`patient`, `identifier`...).
//!
//! On its own it stores `basedOn` as it is given: it sent no CommunicationRequest, so it
//! cannot judge one. Grouped with an Information Request Sender
//! ([`super::information_request_sender`]) the same logic runs with a check of `basedOn`
//! against the requests that system sent.

use super::ReferenceActor;
use super::messaging::ProfiledEndpoint;
use crate::http::Message;
use crate::mock::{Handler, outcome};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

pub const FAULTS: &[(&str, &str)] = &[
    ("reject-create", "answers every POST create with 405"),
    ("reject-update", "answers every PUT update with 405"),
    (
        "accept-invalid",
        "accepts a Communication that does not conform to cdex-communication (no subject)",
    ),
    (
        "lose-payload",
        "drops the payload of a received Communication before storing it",
    ),
    (
        "lose-based-on",
        "drops basedOn before storing a Communication",
    ),
    ("search-empty", "answers every search with an empty Bundle"),
];

/// The types it accepts, with the structural profile each must conform to.
const ACCEPTS: &[(&str, &str)] = &[("Communication", "cdex-communication")];

/// A check the grouped Information Request Sender adds before a Communication is kept.
pub type Extra<'a> = &'a dyn Fn(&Value) -> Result<(), Box<Message>>;

pub struct InformationRecipient {
    faults: BTreeSet<String>,
    endpoint: ProfiledEndpoint,
}

pub fn build(_settings: &Value, faults: BTreeSet<String>) -> Result<ReferenceActor, String> {
    Ok(ReferenceActor {
        server: Some(Arc::new(InformationRecipient::new(faults))),
        client: None,
    })
}

impl InformationRecipient {
    pub fn new(faults: BTreeSet<String>) -> Self {
        InformationRecipient {
            faults,
            endpoint: ProfiledEndpoint::new(
                ACCEPTS,
                "cdex-harness reference Information Recipient",
            ),
        }
    }

    fn fault(&self, name: &str) -> bool {
        self.faults.contains(name)
    }

    /// Answer a request, running `extra` on every Communication before it is kept.
    pub fn handle_with(&self, req: &Message, extra: Extra<'_>) -> Message {
        let method = req.method.as_deref().unwrap_or("GET");
        let full = req.path.as_deref().unwrap_or("");
        let (path, query) = full.split_once('?').unwrap_or((full, ""));
        match method {
            "POST" if self.fault("reject-create") => {
                return outcome(405, "not-supported", "create is not supported");
            }
            "PUT" if self.fault("reject-update") => {
                return outcome(405, "not-supported", "update is not supported");
            }
            "GET" if self.fault("search-empty") && !path.contains('/') && path != "metadata" => {
                return self.endpoint.bundle(path, query, &req.fhir_base(), &[]);
            }
            _ => {}
        }
        let admit = |rtype: &str, resource: &mut Arc<Value>| -> Result<(), Box<Message>> {
            if !self.fault("accept-invalid") {
                self.endpoint.conform(rtype, resource)?;
            }
            extra(resource)?;
            let lose_payload = self.fault("lose-payload");
            let lose_based_on = self.fault("lose-based-on");
            if (lose_payload || lose_based_on)
                && let Some(o) = Arc::make_mut(resource).as_object_mut()
            {
                if lose_payload {
                    o.remove("payload");
                }
                if lose_based_on {
                    o.remove("basedOn");
                }
            }
            Ok(())
        };
        self.endpoint.handle(req, &admit)
    }

    /// Forget a Communication it holds.
    pub fn forget(&self, id: &str) {
        self.endpoint.store.delete("Communication", id);
    }
}

impl Handler for InformationRecipient {
    fn handle(&self, req: &Message) -> Message {
        self.handle_with(req, &|_| Ok(()))
    }

    fn seed(&self, resource: Value) -> Result<String, String> {
        self.endpoint.seed(resource)
    }

    fn keep_at_most(&self, keep: usize, dropped: Arc<std::sync::atomic::AtomicU64>) {
        self.endpoint.store.keep_at_most(keep, dropped);
    }
}
