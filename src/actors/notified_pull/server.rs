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

use super::{EXT_PAYLOAD_CONTENT, TASK_TOPIC, filter_criteria, payload_content};
use crate::actors::information_server::{InformationServer, Settings};
use crate::actors::store::{Store, parse_query};
use crate::actors::{ActionRequest, BoxFuture, ClientActor, ReferenceActor};
use crate::http::Message;
use crate::http::client::{HttpClient, OutgoingRequest};
use crate::mock::{Handler, fhir_response, outcome};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
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

/// How long a notification POST may take.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// A topic no one subscribes to (fault `wrong-topic`).
const OTHER_TOPIC: &str = "http://example.org/SubscriptionTopic/other";

/// An accepted Subscription.
struct Sub {
    resource: Value,
    endpoint: String,
    channel: String,
    content: String,
    /// `channel.header` entries, `Name: value`.
    headers: Vec<(String, String)>,
    /// (resource type, search parameters) of each filter.
    filters: Vec<(String, Vec<(String, String)>)>,
    events: u64,
}

/// The notified-pull Information Server.
pub struct NotifiedPullServer {
    inner: InformationServer,
    token: Option<String>,
    faults: BTreeSet<String>,
    http: HttpClient,
    subs: Mutex<Vec<Sub>>,
    next_id: AtomicU64,
    /// Its own FHIR base as peers reach it, learnt from the requests it gets.
    base: Mutex<String>,
}

/// Its client side: makes events happen on the server (shared instance).
struct EventSource(Arc<NotifiedPullServer>);

pub fn build(settings: &Value, faults: BTreeSet<String>) -> Result<ReferenceActor, String> {
    let settings: Settings = serde_json::from_value(settings.clone())
        .map_err(|e| format!("reference settings of information-server: {e}"))?;
    let server = Arc::new(NotifiedPullServer {
        token: settings.token.clone().filter(|t| !t.is_empty()),
        inner: InformationServer::new(settings, faults.clone()),
        faults,
        http: HttpClient::shared()?,
        subs: Mutex::new(Vec::new()),
        next_id: AtomicU64::new(0),
        base: Mutex::new(String::new()),
    });
    Ok(ReferenceActor {
        server: Some(server.clone()),
        client: Some(Arc::new(EventSource(server))),
    })
}

impl NotifiedPullServer {
    fn fault(&self, name: &str) -> bool {
        self.faults.contains(name)
    }

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
            ("POST", ["Subscription"]) => (self.subscribe(req, &base), Vec::new()),
            ("GET", ["Subscription", id]) => (self.read_subscription(id), Vec::new()),
            _ => {
                let answer = self.inner.handle(req);
                let changed = matches!(method, "POST" | "PUT")
                    && matches!(answer.status, Some(200 | 201))
                    && segs.len() <= 2;
                let created = answer.status == Some(201);
                let deliveries = match answer.json() {
                    Ok(resource) if changed => self.on_event(&resource, &base, created),
                    _ => Vec::new(),
                };
                (answer, deliveries)
            }
        }
    }

    fn subscribe(&self, req: &Message, base: &str) -> Message {
        if self.fault("reject-subscription") {
            return outcome(405, "not-supported", "Subscriptions are not supported");
        }
        let mut resource = match req.json() {
            Ok(r) if r.get("resourceType").and_then(Value::as_str) == Some("Subscription") => r,
            Ok(_) => return outcome(400, "invalid", "the body is not a Subscription"),
            Err(e) => return outcome(400, "structure", &e),
        };
        let sub = match self.accept(&resource) {
            Ok(s) => s,
            Err(e) => return *e,
        };
        let id = format!(
            "subscription-{}",
            self.next_id.fetch_add(1, Ordering::Relaxed) + 1
        );
        if let Some(o) = resource.as_object_mut() {
            o.insert("id".into(), json!(id));
            // No handshake is needed to reach the endpoint: it is active at once.
            o.insert("status".into(), json!("active"));
        }
        let mut m = fhir_response(201, &resource);
        m.headers
            .push(("Location".into(), format!("{base}/Subscription/{id}")));
        self.subs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Sub { resource, ..sub });
        m
    }

    /// Check a Subscription against what this server supports.
    fn accept(&self, s: &Value) -> Result<Sub, Box<Message>> {
        let bad = |status: u16, code: &str, text: String| Box::new(outcome(status, code, &text));
        let criteria = s.get("criteria").and_then(Value::as_str).unwrap_or("");
        if criteria != TASK_TOPIC {
            return Err(bad(
                422,
                "not-supported",
                format!("`criteria` must be a topic this server supports: {TASK_TOPIC}"),
            ));
        }
        let channel = s
            .pointer("/channel/type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if channel != "rest-hook" && !self.fault("accept-unsupported-channel") {
            return Err(bad(
                422,
                "not-supported",
                format!("channel type `{channel}` is not supported: only rest-hook"),
            ));
        }
        let endpoint = s
            .pointer("/channel/endpoint")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if channel == "rest-hook"
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(bad(
                400,
                "required",
                "a rest-hook channel needs an http(s) `channel.endpoint`".into(),
            ));
        }
        let content = payload_content(s).unwrap_or("").to_string();
        if !matches!(content.as_str(), "id-only" | "full-resource") {
            return Err(bad(
                422,
                "not-supported",
                format!(
                    "`channel.payload` needs the extension {EXT_PAYLOAD_CONTENT} with id-only or full-resource"
                ),
            ));
        }
        let mut filters = Vec::new();
        for f in filter_criteria(s) {
            match f.split_once('?') {
                Some(("Task", q)) => filters.push(("Task".to_string(), parse_query(q))),
                _ => {
                    return Err(bad(
                        422,
                        "not-supported",
                        format!("filter `{f}` is not a Task search this topic can filter by"),
                    ));
                }
            }
        }
        let headers = s
            .pointer("/channel/header")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(|h| h.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        Ok(Sub {
            resource: Value::Null,
            endpoint,
            channel,
            content,
            headers,
            filters,
            events: 0,
        })
    }

    fn read_subscription(&self, id: &str) -> Message {
        let subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        match subs
            .iter()
            .find(|s| s.resource.get("id").and_then(Value::as_str) == Some(id))
        {
            Some(s) => fhir_response(200, &s.resource),
            None => outcome(
                404,
                "not-found",
                &format!("`Subscription/{id}` is not known"),
            ),
        }
    }

    /// A resource was created or updated: notify every Subscription it matches.
    fn on_event(&self, resource: &Value, base: &str, created: bool) -> Vec<JoinHandle<()>> {
        if self.fault("no-notification") || !topic_trigger(resource) {
            return Vec::new();
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Vec::new();
        };
        let id = resource.get("id").and_then(Value::as_str).unwrap_or("");
        let focus_id = if self.fault("wrong-focus") {
            format!("{id}-other")
        } else {
            id.to_string()
        };
        let focus = if base.is_empty() {
            format!("Task/{focus_id}")
        } else {
            format!("{base}/Task/{focus_id}")
        };
        let mut subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        let mut deliveries = Vec::new();
        for sub in subs.iter_mut() {
            let filtered_out =
                !matches_filters(resource, &sub.filters) && !self.fault("ignore-filter");
            if sub.channel != "rest-hook" || filtered_out {
                continue;
            }
            sub.events += 1;
            let bundle = self.notification(sub, base, &focus, resource, created);
            let mut headers = vec![(
                "Content-Type".to_string(),
                "application/fhir+json".to_string(),
            )];
            headers.extend(sub.headers.iter().cloned());
            let out = OutgoingRequest {
                method: "POST".into(),
                url: sub.endpoint.clone(),
                path: String::new(),
                headers,
                body: serde_json::to_vec_pretty(&bundle).ok(),
            };
            let http = self.http.clone();
            deliveries.push(runtime.spawn(async move {
                let _ = http.send(out, DELIVERY_TIMEOUT).await;
            }));
        }
        deliveries
    }

    /// The notification Bundle of one event for one Subscription.
    fn notification(
        &self,
        sub: &Sub,
        base: &str,
        focus: &str,
        resource: &Value,
        created: bool,
    ) -> Value {
        let sub_id = sub.resource.get("id").and_then(Value::as_str).unwrap_or("");
        let sub_url = format!("{base}/Subscription/{sub_id}");
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let n = sub.events.to_string();
        let status_id = format!("{sub_id}-status-{n}");
        let topic = if self.fault("wrong-topic") {
            OTHER_TOPIC
        } else {
            TASK_TOPIC
        };
        let kind = if self.fault("wrong-notification-type") {
            "heartbeat"
        } else {
            "event-notification"
        };
        let status = json!({
            "fullUrl": format!("urn:uuid:{}", pseudo_uuid(sub_id, sub.events)),
            "resource": {
                "resourceType": "Parameters",
                "id": status_id,
                "meta": {"profile": ["http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4"]},
                "parameter": [
                    {"name": "subscription", "valueReference": {"reference": sub_url}},
                    {"name": "topic", "valueCanonical": topic},
                    {"name": "status", "valueCode": "active"},
                    {"name": "type", "valueCode": kind},
                    {"name": "events-since-subscription-start", "valueString": n},
                    {"name": "notification-event", "part": [
                        {"name": "event-number", "valueString": n},
                        {"name": "timestamp", "valueInstant": now},
                        {"name": "focus", "valueReference": {"reference": focus}}
                    ]}
                ]
            },
            "request": {"method": "GET", "url": format!("{sub_url}/$status")},
            "response": {"status": "200"}
        });
        // A history entry: the interaction that changed the focus, and its outcome.
        let (method, url, result) = if created {
            ("POST", "Task".to_string(), "201 Created")
        } else {
            let id = focus.rsplit('/').next().unwrap_or_default();
            ("PUT", format!("Task/{id}"), "200 OK")
        };
        let mut event = json!({
            "fullUrl": focus,
            "request": {"method": method, "url": url},
            "response": {"status": result}
        });
        if sub.content == "full-resource" || self.fault("full-resource") {
            event["resource"] = resource.clone();
        }
        let entries = if self.fault("no-status-first") {
            vec![event, status]
        } else {
            vec![status, event]
        };
        json!({
            "resourceType": "Bundle",
            "id": format!("{sub_id}-notification-{n}"),
            "meta": {"profile": ["http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-notification-r4"]},
            "type": if self.fault("not-history") { "collection" } else { "history" },
            "timestamp": now,
            "entry": entries
        })
    }
}

impl Handler for NotifiedPullServer {
    fn handle(&self, req: &Message) -> Message {
        // Deliveries go on after the answer (they are detached tasks).
        self.process(req).0
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
            drop(self.on_event(&json, &self.base(), true));
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

/// The HRex Task topic's trigger: a Task created or updated with `status:not=draft` and
/// `intent=order` (its `queryCriteria.current`).
fn topic_trigger(resource: &Value) -> bool {
    resource.get("resourceType").and_then(Value::as_str) == Some("Task")
        && resource.get("status").and_then(Value::as_str) != Some("draft")
        && resource.get("intent").and_then(Value::as_str) == Some("order")
}

/// Every filter holds (the backport: "evaluates to true if all the conditions are met").
fn matches_filters(resource: &Value, filters: &[(String, Vec<(String, String)>)]) -> bool {
    let rtype = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("");
    filters.iter().all(|(t, params)| {
        if t != rtype {
            return false;
        }
        // The store's search semantics, on a store holding this one resource.
        let one = Store::default();
        one.create(rtype, resource.clone());
        !one.search(rtype, params).0.is_empty()
    })
}

/// A stable uuid-shaped id for the status entry's `fullUrl`.
fn pseudo_uuid(seed: &str, n: u64) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes().chain(n.to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let t = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64;
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        (t >> 48) & 0xfff,
        t & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_topic_trigger_and_filters() {
        let task = json!({"resourceType": "Task", "status": "requested", "intent": "order",
            "owner": {"reference": "Organization/o1"}});
        assert!(topic_trigger(&task));
        assert!(!topic_trigger(
            &json!({"resourceType": "Task", "status": "draft", "intent": "order"})
        ));
        let by_owner = vec![("Task".to_string(), parse_query("owner=Organization/o1"))];
        assert!(matches_filters(&task, &by_owner));
        let other = vec![("Task".to_string(), parse_query("owner=Organization/o2"))];
        assert!(!matches_filters(&task, &other));
        assert!(matches_filters(&task, &[]));
    }
}
