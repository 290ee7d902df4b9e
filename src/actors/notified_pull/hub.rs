//! The server side of R4 topic-based Subscriptions (Subscriptions R5 Backport) to the HRex
//! Task topic, shared by the reference servers that offer them (the 2019 notified-pull
//! Information Server, the CDex 2.1 Data Source): it accepts and keeps Subscriptions, sends
//! the optional handshake, and when a Task matching one is created or updated POSTs a
//! notification Bundle (`history`, a SubscriptionStatus `Parameters` first, then one entry per
//! focus, `fullUrl` only for `id-only`) to the subscriber's rest-hook endpoint.
//!
//! Each server names its own faults; [`HubFaults`] is what they switch on here.

use super::{EXT_PAYLOAD_CONTENT, TASK_TOPIC, filter_criteria, payload_content};
use crate::actors::store::{Store, parse_query};
use crate::http::Message;
use crate::http::client::{HttpClient, OutgoingRequest};
use crate::mock::{fhir_response, outcome};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long a notification POST may take.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// A topic no one subscribes to (fault `wrong_topic`).
const OTHER_TOPIC: &str = "http://example.org/SubscriptionTopic/other";

/// What goes wrong in a faulty server's Subscriptions.
#[derive(Debug, Clone, Default)]
pub struct HubFaults {
    /// Answer every POST Subscription with 405.
    pub reject_subscription: bool,
    /// Accept channels it cannot deliver on.
    pub accept_unsupported_channel: bool,
    /// Never notify.
    pub no_notification: bool,
    /// Put the resource in notifications although the Subscription asked for id-only.
    pub full_resource: bool,
    /// `collection` instead of `history`.
    pub not_history: bool,
    /// SubscriptionStatus last instead of first.
    pub no_status_first: bool,
    /// Event notifications labelled `heartbeat`.
    pub wrong_notification_type: bool,
    /// Another topic named in notifications.
    pub wrong_topic: bool,
    /// A focus that does not exist.
    pub wrong_focus: bool,
    /// Notify also what the filter excludes.
    pub ignore_filter: bool,
    /// Accept a Subscription to a topic it does not know.
    pub accept_unknown_topic: bool,
}

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

/// The Subscriptions of one server instance.
pub struct Hub {
    faults: HubFaults,
    /// Send a handshake when a Subscription is created (it is `requested` until then);
    /// without, a Subscription is `active` at once.
    handshake: bool,
    http: HttpClient,
    subs: Arc<Mutex<Vec<Sub>>>,
    next_id: AtomicU64,
}

impl Hub {
    pub fn new(faults: HubFaults, handshake: bool) -> Result<Hub, String> {
        Ok(Hub {
            faults,
            handshake,
            http: HttpClient::shared()?,
            subs: Arc::new(Mutex::new(Vec::new())),
            next_id: AtomicU64::new(0),
        })
    }

    /// `POST Subscription`: check it, keep it, answer 201 (and start the handshake).
    pub fn subscribe(&self, req: &Message, base: &str) -> (Message, Vec<JoinHandle<()>>) {
        if self.faults.reject_subscription {
            return (
                outcome(405, "not-supported", "Subscriptions are not supported"),
                Vec::new(),
            );
        }
        let mut resource = match req.json() {
            Ok(r) if r.get("resourceType").and_then(Value::as_str) == Some("Subscription") => r,
            Ok(_) => {
                return (
                    outcome(400, "invalid", "the body is not a Subscription"),
                    Vec::new(),
                );
            }
            Err(e) => return (outcome(400, "structure", &e), Vec::new()),
        };
        let sub = match self.accept(&resource) {
            Ok(s) => s,
            Err(e) => return (*e, Vec::new()),
        };
        let id = format!(
            "subscription-{}",
            self.next_id.fetch_add(1, Ordering::Relaxed) + 1
        );
        let handshake = self.handshake && sub.channel == "rest-hook";
        if let Some(o) = resource.as_object_mut() {
            o.insert("id".into(), json!(id));
            o.insert(
                "status".into(),
                json!(if handshake { "requested" } else { "active" }),
            );
        }
        let mut m = fhir_response(201, &resource);
        m.headers
            .push(("Location".into(), format!("{base}/Subscription/{id}")));
        let sub = Sub { resource, ..sub };
        let mut deliveries = Vec::new();
        if handshake && let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let bundle = self.status_bundle(&sub, base, "handshake", None);
            let out = delivery(&sub, &bundle);
            let http = self.http.clone();
            let subs = self.subs.clone();
            let id = id.clone();
            deliveries.push(runtime.spawn(async move {
                let x = http.send(out, DELIVERY_TIMEOUT).await;
                // Reached: active; unreachable: error (the backport's handshake outcome).
                let status = if x.response.is_some() {
                    "active"
                } else {
                    "error"
                };
                let mut subs = subs.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(s) = subs
                    .iter_mut()
                    .find(|s| s.resource.get("id").and_then(Value::as_str) == Some(&id))
                {
                    s.resource["status"] = json!(status);
                }
            }));
        }
        self.subs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(sub);
        (m, deliveries)
    }

    /// Check a Subscription against what this server supports.
    fn accept(&self, s: &Value) -> Result<Sub, Box<Message>> {
        let bad = |status: u16, code: &str, text: String| Box::new(outcome(status, code, &text));
        let criteria = s.get("criteria").and_then(Value::as_str).unwrap_or("");
        if criteria != TASK_TOPIC && !self.faults.accept_unknown_topic {
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
        if channel != "rest-hook" && !self.faults.accept_unsupported_channel {
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

    /// `GET Subscription/[id]`.
    pub fn read(&self, id: &str) -> Message {
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

    /// A resource was created or updated: notify every Subscription it matches. Returns the
    /// deliveries in flight (detached tasks; await them to know they were answered).
    pub fn notify(&self, resource: &Value, base: &str, created: bool) -> Vec<JoinHandle<()>> {
        if self.faults.no_notification || !topic_trigger(resource) {
            return Vec::new();
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Vec::new();
        };
        let id = resource.get("id").and_then(Value::as_str).unwrap_or("");
        let focus_id = if self.faults.wrong_focus {
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
                !matches_filters(resource, &sub.filters) && !self.faults.ignore_filter;
            let off = sub.resource.get("status").and_then(Value::as_str) == Some("off");
            if sub.channel != "rest-hook" || filtered_out || off {
                continue;
            }
            sub.events += 1;
            let bundle = self.notification(sub, base, &focus, resource, created);
            let out = delivery(sub, &bundle);
            let http = self.http.clone();
            deliveries.push(runtime.spawn(async move {
                let _ = http.send(out, DELIVERY_TIMEOUT).await;
            }));
        }
        deliveries
    }

    /// A notification Bundle with only its SubscriptionStatus (a handshake), or with the
    /// event of `event` (focus, the event's history entry).
    fn status_bundle(
        &self,
        sub: &Sub,
        base: &str,
        kind: &str,
        event: Option<(&str, Value)>,
    ) -> Value {
        let sub_id = sub.resource.get("id").and_then(Value::as_str).unwrap_or("");
        let sub_url = format!("{base}/Subscription/{sub_id}");
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let n = sub.events.to_string();
        let topic = if self.faults.wrong_topic {
            OTHER_TOPIC
        } else {
            TASK_TOPIC
        };
        let mut parameters = vec![
            json!({"name": "subscription", "valueReference": {"reference": sub_url}}),
            json!({"name": "topic", "valueCanonical": topic}),
            json!({"name": "status", "valueCode": "active"}),
            json!({"name": "type", "valueCode": kind}),
            json!({"name": "events-since-subscription-start", "valueString": n}),
        ];
        if let Some((focus, _)) = &event {
            parameters.push(json!({"name": "notification-event", "part": [
                {"name": "event-number", "valueString": n},
                {"name": "timestamp", "valueInstant": now},
                {"name": "focus", "valueReference": {"reference": focus}}
            ]}));
        }
        let status = json!({
            "fullUrl": format!("urn:uuid:{}", pseudo_uuid(sub_id, sub.events)),
            "resource": {
                "resourceType": "Parameters",
                "id": format!("{sub_id}-status-{n}"),
                "meta": {"profile": ["http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4"]},
                "parameter": parameters
            },
            "request": {"method": "GET", "url": format!("{sub_url}/$status")},
            "response": {"status": "200"}
        });
        let mut entries = vec![status];
        if let Some((_, entry)) = event {
            if self.faults.no_status_first {
                entries.insert(0, entry);
            } else {
                entries.push(entry);
            }
        }
        json!({
            "resourceType": "Bundle",
            "id": format!("{sub_id}-notification-{n}-{kind}"),
            "meta": {"profile": ["http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-notification-r4"]},
            "type": if self.faults.not_history { "collection" } else { "history" },
            "timestamp": now,
            "entry": entries
        })
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
        let kind = if self.faults.wrong_notification_type {
            "heartbeat"
        } else {
            "event-notification"
        };
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
        if sub.content == "full-resource" || self.faults.full_resource {
            event["resource"] = resource.clone();
        }
        self.status_bundle(sub, base, kind, Some((focus, event)))
    }
}

/// The POST of a notification to a Subscription's endpoint.
fn delivery(sub: &Sub, bundle: &Value) -> OutgoingRequest {
    let mut headers = vec![(
        "Content-Type".to_string(),
        "application/fhir+json".to_string(),
    )];
    headers.extend(sub.headers.iter().cloned());
    OutgoingRequest {
        method: "POST".into(),
        url: sub.endpoint.clone(),
        path: String::new(),
        headers,
        body: serde_json::to_vec_pretty(bundle).ok(),
    }
}

/// The HRex Task topic's trigger: a Task created or updated with `status:not=draft` and
/// `intent=order` (its `queryCriteria.current`).
pub fn topic_trigger(resource: &Value) -> bool {
    resource.get("resourceType").and_then(Value::as_str) == Some("Task")
        && resource.get("status").and_then(Value::as_str) != Some("draft")
        && resource.get("intent").and_then(Value::as_str) == Some("order")
}

/// Every filter holds (the backport: "evaluates to true if all the conditions are met").
/// A parameter with the `:identifier` modifier (the HRex topic allows it on `owner` and
/// `requester`) compares the reference's `identifier` (`system|value` or `value`).
pub fn matches_filters(resource: &Value, filters: &[(String, Vec<(String, String)>)]) -> bool {
    let rtype = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("");
    filters.iter().all(|(t, params)| {
        if t != rtype {
            return false;
        }
        let (by_identifier, plain): (Vec<_>, Vec<_>) = params
            .iter()
            .cloned()
            .partition(|(k, _)| k.ends_with(":identifier"));
        let identifiers_hold = by_identifier.iter().all(|(k, v)| {
            let element = k.trim_end_matches(":identifier");
            reference_identifier_matches(resource.get(element), v)
        });
        // The store's search semantics, on a store holding this one resource.
        let one = Store::default();
        one.create(rtype, resource.clone());
        identifiers_hold && !one.search(rtype, &plain).0.is_empty()
    })
}

/// Does a Reference's `identifier` match `system|value` (or `value`; comma = OR)?
pub fn reference_identifier_matches(reference: Option<&Value>, wanted: &str) -> bool {
    let Some(id) = reference.and_then(|r| r.get("identifier")) else {
        return false;
    };
    let system = id.get("system").and_then(Value::as_str).unwrap_or("");
    let value = id.get("value").and_then(Value::as_str).unwrap_or("");
    wanted.split(',').any(|w| match w.split_once('|') {
        Some((s, v)) => (s.is_empty() || s == system) && v == value,
        None => w == value,
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
            "owner": {"reference": "Organization/o1"},
            "requester": {"identifier": {"system": "urn:payers", "value": "p1"}}});
        assert!(topic_trigger(&task));
        assert!(!topic_trigger(
            &json!({"resourceType": "Task", "status": "draft", "intent": "order"})
        ));
        let by_owner = vec![("Task".to_string(), parse_query("owner=Organization/o1"))];
        assert!(matches_filters(&task, &by_owner));
        let other = vec![("Task".to_string(), parse_query("owner=Organization/o2"))];
        assert!(!matches_filters(&task, &other));
        assert!(matches_filters(&task, &[]));
        let by_requester = vec![(
            "Task".to_string(),
            parse_query("requester:identifier=urn:payers|p1"),
        )];
        assert!(matches_filters(&task, &by_requester));
        let other_requester = vec![(
            "Task".to_string(),
            parse_query("requester:identifier=urn:payers|p2"),
        )];
        assert!(!matches_filters(&task, &other_requester));
    }
}
