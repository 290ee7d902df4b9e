//! Reference Information Server with the notified-pull option: the plain reference
//! [`InformationServer`] for its data, plus topic-based Subscriptions (R4 backport) to the
//! HRex Task topic. When a Task matching an active Subscription is created or updated, it
//! POSTs a notification Bundle (`history`, a SubscriptionStatus `Parameters` first, then one
//! entry per focus, `fullUrl` only for `id-only`) to the subscriber's rest-hook endpoint,
//! after answering the request that caused the event.
//!
//! Its client side performs `trigger-event`: the event happens on the server itself (a Task
//! is created as if by its own users), and the action ends when the notifications it caused
//! have been answered.

use super::hub::{Hub, HubFaults};
use crate::actors::information_server::{InformationServer, Settings};
use crate::actors::{ActionRequest, BoxFuture, ClientActor, ReferenceActor};
use crate::http::Message;
use crate::mock::{Handler, outcome};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// The actions its client side performs (see `docs/actions.md`).
pub const ACTIONS: &[&str] = &["trigger-event"];

/// Faults of the notified-pull part (the plain server's faults apply to its data too).
pub const FAULTS: &[(&str, &str)] = &[
    (
        "reject-subscription",
        "answers every POST Subscription with 405",
    ),
    (
        "accept-unsupported-channel",
        "accepts Subscriptions on channels it cannot deliver on (anything but rest-hook)",
    ),
    ("no-notification", "never sends a notification"),
    (
        "full-resource",
        "puts the whole resource in notifications although the Subscription asked for id-only",
    ),
    (
        "not-history",
        "sends the notification as a `collection` Bundle instead of a `history` one",
    ),
    (
        "no-status-first",
        "puts the SubscriptionStatus Parameters last in the notification instead of first",
    ),
    (
        "wrong-notification-type",
        "labels event notifications `heartbeat`",
    ),
    ("wrong-topic", "names another topic in its notifications"),
    (
        "wrong-focus",
        "names a Task that does not exist as the focus",
    ),
    (
        "ignore-filter",
        "notifies every Subscription to the topic, also for Tasks its filter excludes",
    ),
];

/// The notified-pull Information Server.
pub struct NotifiedPullServer {
    inner: InformationServer,
    token: Option<String>,
    hub: Hub,
    /// Its own FHIR base as peers reach it, learnt from the requests it gets.
    base: Mutex<String>,
}

/// Its client side: makes events happen on the server (shared instance).
struct EventSource(Arc<NotifiedPullServer>);

pub fn build(settings: &Value, faults: BTreeSet<String>) -> Result<ReferenceActor, String> {
    let settings: Settings = serde_json::from_value(settings.clone())
        .map_err(|e| format!("reference settings of information-server: {e}"))?;
    let f = |name: &str| faults.contains(name);
    let hub_faults = HubFaults {
        reject_subscription: f("reject-subscription"),
        accept_unsupported_channel: f("accept-unsupported-channel"),
        no_notification: f("no-notification"),
        full_resource: f("full-resource"),
        not_history: f("not-history"),
        no_status_first: f("no-status-first"),
        wrong_notification_type: f("wrong-notification-type"),
        wrong_topic: f("wrong-topic"),
        wrong_focus: f("wrong-focus"),
        ignore_filter: f("ignore-filter"),
        accept_unknown_topic: false,
    };
    let server = Arc::new(NotifiedPullServer {
        token: settings.token.clone().filter(|t| !t.is_empty()),
        inner: InformationServer::new(settings, faults.clone()),
        // No handshake: a Subscription is active at once.
        hub: Hub::new(hub_faults, false)?,
        base: Mutex::new(String::new()),
    });
    Ok(ReferenceActor {
        server: Some(server.clone()),
        client: Some(Arc::new(EventSource(server))),
    })
}

impl NotifiedPullServer {
    fn authorized(&self, req: &Message) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        req.header("authorization")
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .is_some_and(|t| t.trim() == token)
    }

    fn base(&self) -> String {
        self.base.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Answer a request; return the deliveries it started (notifications in flight).
    fn process(&self, req: &Message) -> (Message, Vec<JoinHandle<()>>) {
        let method = req.method.as_deref().unwrap_or("GET");
        let full = req.path.as_deref().unwrap_or("");
        let path = full.split('?').next().unwrap_or("");
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let base = req.fhir_base();
        if !base.is_empty() {
            *self.base.lock().unwrap_or_else(|p| p.into_inner()) = base.clone();
        }
        match (method, segs.as_slice()) {
            ("POST", ["Subscription"]) | ("GET", ["Subscription", _]) if !self.authorized(req) => {
                let mut m = outcome(401, "login", "a valid bearer token is required");
                m.headers.push(("WWW-Authenticate".into(), "Bearer".into()));
                (m, Vec::new())
            }
            ("POST", ["Subscription"]) => self.hub.subscribe(req, &base),
            ("GET", ["Subscription", id]) => (self.hub.read(id), Vec::new()),
            _ => {
                let answer = self.inner.handle(req);
                let changed = matches!(method, "POST" | "PUT")
                    && matches!(answer.status, Some(200 | 201))
                    && segs.len() <= 2;
                let created = answer.status == Some(201);
                let deliveries = match answer.json() {
                    Ok(resource) if changed => self.hub.notify(&resource, &base, created),
                    _ => Vec::new(),
                };
                (answer, deliveries)
            }
        }
    }
}

impl Handler for NotifiedPullServer {
    fn handle(&self, req: &Message) -> Message {
        // Deliveries go on after the answer (they are detached tasks).
        self.process(req).0
    }

    fn keep_at_most(&self, keep: usize, dropped: std::sync::Arc<std::sync::atomic::AtomicU64>) {
        self.inner.keep_at_most(keep, dropped);
    }

    /// A resource put in place (a `serve` step) is new on this server: an event, notified
    /// to the Subscriptions it matches, as a create would be.
    fn seed(&self, resource: Value) -> Result<String, String> {
        let served = self.inner.seed(resource)?;
        if let Some((rtype, id)) = served.split_once('/')
            && let Ok(json) = self
                .inner
                .handle(&internal_read(&self.base(), rtype, id, &self.token))
                .json()
        {
            drop(self.hub.notify(&json, &self.base(), true));
        }
        Ok(served)
    }
}

impl ClientActor for EventSource {
    fn perform(&self, req: ActionRequest) -> BoxFuture<Result<(), String>> {
        let server = self.0.clone();
        Box::pin(async move { trigger_event(&server, req).await })
    }
}

/// `trigger-event`: create the suggested resource on the server itself (an internal event,
/// as a user of the server would cause), then wait for the notifications it caused.
async fn trigger_event(server: &NotifiedPullServer, req: ActionRequest) -> Result<(), String> {
    if req.action != "trigger-event" {
        return Err(format!(
            "the reference notified-pull Information Server does not perform `{}`",
            req.action
        ));
    }
    let resource = req
        .payload
        .clone()
        .ok_or("action `trigger-event` needs a payload: the resource to create")?;
    let rtype = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .ok_or("the payload has no resourceType")?
        .to_string();
    let base = server.base();
    let mut headers = vec![(
        "Content-Type".to_string(),
        "application/fhir+json".to_string(),
    )];
    if let Some(t) = &server.token {
        headers.push(("Authorization".into(), format!("Bearer {t}")));
    }
    let internal = Message {
        method: Some("POST".into()),
        url: Some(format!("{base}/{rtype}")),
        path: Some(rtype.clone()),
        headers,
        body: serde_json::to_vec(&resource).map_err(|e| e.to_string())?,
        ..Message::default()
    };
    let (answer, deliveries) = server.process(&internal);
    if !matches!(answer.status, Some(200 | 201)) {
        return Err(format!(
            "the server refused to create the {rtype}: {}",
            String::from_utf8_lossy(&answer.body)
        ));
    }
    for d in deliveries {
        d.await.map_err(|e| format!("a notification failed: {e}"))?;
    }
    Ok(())
}

/// A GET of one resource, as the server's own code would make it.
fn internal_read(base: &str, rtype: &str, id: &str, token: &Option<String>) -> Message {
    let mut headers = Vec::new();
    if let Some(t) = token {
        headers.push(("Authorization".to_string(), format!("Bearer {t}")));
    }
    Message {
        method: Some("GET".into()),
        url: Some(format!("{base}/{rtype}/{id}")),
        path: Some(format!("{rtype}/{id}")),
        headers,
        ..Message::default()
    }
}
