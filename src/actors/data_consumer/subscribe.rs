//! A Task-based data request followed by a Task subscription (task-based-approach.html
//! "Subscription", HRex task.md, Subscriptions R5 Backport): discover the HRex Task topic in
//! the Data Source's CapabilityStatement, POST a backport Subscription (the topic's canonical
//! URL, a filter, rest-hook to its own endpoint, id-only), POST the Task, and on each
//! notification GET the Task it names, until it is terminal; then GET its outputs.
//!
//! The endpoint is a listener of its own on 127.0.0.1, started on first use (a client under
//! test has its own endpoint too; the Data Source POSTs to whatever the Subscription names).

use super::follow::{Stage, fetch_outputs, is_terminal, post_task, scaled_wait};
use super::task::DataRequest;
use super::{Consumer, opt};
use crate::actors::ActionRequest;
use crate::actors::notified_pull::{
    EXT_FILTER_CRITERIA, EXT_PAYLOAD_CONTENT, Notice, TASK_TOPIC, read_notification,
};
use crate::http::Message;
use crate::mock::{Handler, MockServer, outcome};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// The CapabilityStatement extension naming a supported SubscriptionTopic (backport).
pub const EXT_TOPIC_CANONICAL: &str = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/capabilitystatement-subscriptiontopic-canonical";

/// How long to wait for each notification, in pack time (scaled; at least a few seconds).
const NOTICE_WAIT: Duration = Duration::from_secs(2 * 3600);
const NOTICE_FLOOR: Duration = Duration::from_secs(5);

/// The notifications received, not yet handled.
#[derive(Default)]
struct Inbox {
    notices: Mutex<Vec<Notice>>,
    arrived: Notify,
}

/// The rest-hook endpoint as a FHIR-ish handler: POSTed notification Bundles go to the inbox.
struct Hook(Arc<Inbox>);

impl Handler for Hook {
    fn handle(&self, req: &Message) -> Message {
        if req.method.as_deref() != Some("POST") || !req.path_only().trim_matches('/').is_empty() {
            return outcome(
                404,
                "not-supported",
                "this is a notification endpoint: POST notification Bundles to its root",
            );
        }
        let notice = match req.json().and_then(|b| read_notification(&b)) {
            Ok(n) => n,
            Err(e) => return outcome(400, "invalid", &e),
        };
        self.0
            .notices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(notice);
        self.0.arrived.notify_waiters();
        Message {
            status: Some(200),
            ..Message::default()
        }
    }

    fn seed(&self, _resource: Value) -> Result<String, String> {
        Err("the Data Consumer's notification endpoint holds no resources".into())
    }
}

/// The endpoint: its inbox and, once started, its listener (stops with the actor).
#[derive(Default)]
pub struct Endpoint {
    inbox: Arc<Inbox>,
    listener: tokio::sync::Mutex<Option<MockServer>>,
}

impl Endpoint {
    /// Its base URL, starting it on first use.
    async fn url(&self) -> Result<String, String> {
        let mut l = self.listener.lock().await;
        if let Some(server) = l.as_ref() {
            return Ok(server.base_url().to_string());
        }
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let server = MockServer::start(addr, Arc::new(Hook(self.inbox.clone())))
            .await
            .map_err(|e| format!("the notification endpoint cannot listen: {e}"))?;
        let url = server.base_url().to_string();
        *l = Some(server);
        Ok(url)
    }

    /// The next event notification naming `task_id`, waiting up to `wait`.
    async fn next_event(&self, task_id: &str, wait: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let arrived = self.inbox.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            {
                let mut notices = self.inbox.notices.lock().unwrap_or_else(|p| p.into_inner());
                let found = notices.iter().position(|n| {
                    n.kind == "event-notification" && n.focus.iter().any(|f| names(f, task_id))
                });
                if let Some(i) = found {
                    let n = notices.remove(i);
                    return n.focus.into_iter().find(|f| names(f, task_id));
                }
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return None;
            }
        }
    }
}

/// Does a focus reference (`Task/1`, `http://.../Task/1`, `.../Task/1/_history/2`) name
/// the Task `Task/id`?
fn names(focus: &str, task_ref: &str) -> bool {
    let focus = focus.split("/_history").next().unwrap_or(focus);
    focus == task_ref || focus.ends_with(&format!("/{task_ref}"))
}

/// The topic the CapabilityStatement advertises for Subscriptions, if it names the HRex one.
pub fn discovered_topic(capability: &Value) -> Option<String> {
    capability
        .get("rest")?
        .as_array()?
        .iter()
        .flat_map(|r| {
            r.get("resource")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter(|r| r.get("type").and_then(Value::as_str) == Some("Subscription"))
        .flat_map(|r| {
            r.get("extension")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter(|e| e.get("url").and_then(Value::as_str) == Some(EXT_TOPIC_CANONICAL))
        .filter_map(|e| e.get("valueCanonical").and_then(Value::as_str))
        .find(|t| t.split('|').next() == Some(TASK_TOPIC))
        .map(str::to_string)
}

/// The backport Subscription this actor POSTs.
fn subscription(me: &Consumer, topic: &str, filter: Option<&str>, endpoint: &str) -> Value {
    let criteria = match filter {
        Some(f) if me.fault("subscription-query-criteria") => f,
        _ => topic,
    };
    let mut s = json!({
        "resourceType": "Subscription",
        "meta": { "profile": ["http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription"] },
        "status": "requested",
        "reason": "cdex-harness reference Data Consumer: follow its Task data requests",
        "criteria": criteria,
        "channel": {
            "type": if me.fault("subscription-websocket") { "websocket" } else { "rest-hook" },
            "endpoint": endpoint,
            "payload": "application/fhir+json",
            "_payload": { "extension": [{
                "url": EXT_PAYLOAD_CONTENT,
                "valueCode": if me.fault("subscription-full-resource") { "full-resource" } else { "id-only" }
            }]}
        }
    });
    if let Some(f) = filter {
        s["_criteria"] = json!({ "extension": [{ "url": EXT_FILTER_CRITERIA, "valueString": f }] });
    }
    s
}

/// `subscribe-task`: subscribe, POST the Task, follow it by its notifications.
pub async fn subscribe_and_request(me: &Consumer, req: &ActionRequest) -> Result<(), String> {
    let mut request_action = req.clone();
    request_action.action = match opt(req, "code") {
        Some(_) => super::REQUEST_DATA_CODE.into(),
        None => super::REQUEST_DATA_QUERY.into(),
    };
    let request = DataRequest::from_action(&request_action)?;
    let tracker = me.flows.start();

    // Discovery (CONF-067/068): the topic the CapabilityStatement names, else the one given.
    let metadata = me.conn.get(req, "metadata").await?;
    let topic = metadata
        .json()
        .ok()
        .and_then(|c| discovered_topic(&c))
        .or_else(|| opt(req, "topic").map(str::to_string))
        .unwrap_or_else(|| TASK_TOPIC.to_string());
    let endpoint = me.endpoint.url().await?;
    let sub = subscription(me, &topic, opt(req, "filter"), &endpoint);
    let resp = me.conn.post(req, "Subscription", &sub).await?;
    let status = resp.status.unwrap_or(0);
    if !(200..300).contains(&status) {
        return Err(format!(
            "the Data Source answered {status} to POST Subscription"
        ));
    }

    let task_ref = post_task(me, req, &request).await?;
    let wait = scaled_wait(req, NOTICE_WAIT, NOTICE_FLOOR);
    loop {
        let Some(focus) = me.endpoint.next_event(&task_ref, wait).await else {
            return Err(format!(
                "no notification about {task_ref} reached the endpoint {endpoint} within {}",
                humantime::format_duration(wait)
            ));
        };
        if me.fault("never-reads-notified-task") {
            return Ok(());
        }
        let Ok(task) = me.conn.get(req, &focus).await.and_then(|r| r.json()) else {
            continue;
        };
        super::follow::check_processable(me, &task)?;
        if is_terminal(task.get("status").and_then(Value::as_str).unwrap_or("")) {
            tracker.reached(Stage::Terminal);
            fetch_outputs(me, req, &task).await?;
            tracker.reached(Stage::Fetched);
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hrex_topic_is_found_in_the_capability_statement() {
        let cs = json!({"resourceType": "CapabilityStatement", "rest": [{"mode": "server", "resource": [
            {"type": "Task"},
            {"type": "Subscription", "extension": [{"url": EXT_TOPIC_CANONICAL, "valueCanonical": TASK_TOPIC}]}
        ]}]});
        assert_eq!(discovered_topic(&cs).as_deref(), Some(TASK_TOPIC));
        assert_eq!(discovered_topic(&json!({"rest": []})), None);
    }

    #[tokio::test]
    async fn the_endpoint_keeps_event_notifications_for_the_task_followed() {
        let endpoint = Endpoint::default();
        let hook = Hook(endpoint.inbox.clone());
        let bundle = |kind: &str, focus: &str| {
            Message {
            method: Some("POST".into()),
            path: Some(String::new()),
            body: serde_json::to_vec(&json!({"resourceType": "Bundle", "type": "history", "entry": [{"resource": {
                "resourceType": "Parameters", "parameter": [{"name": "type", "valueCode": kind},
                {"name": "notification-event", "part": [{"name": "focus", "valueReference": {"reference": focus}}]}]}}]}))
            .unwrap(),
            ..Message::default()
        }
        };
        assert_eq!(hook.handle(&bundle("handshake", "")).status, Some(200));
        assert_eq!(
            hook.handle(&bundle("event-notification", "http://h/Task/2"))
                .status,
            Some(200)
        );
        assert_eq!(
            hook.handle(&bundle("event-notification", "http://h/Task/1"))
                .status,
            Some(200)
        );
        let not_a_bundle = Message {
            method: Some("POST".into()),
            path: Some(String::new()),
            body: b"{}".to_vec(),
            ..Message::default()
        };
        assert_eq!(hook.handle(&not_a_bundle).status, Some(400));
        let found = endpoint.next_event("Task/1", Duration::ZERO).await;
        assert_eq!(found.as_deref(), Some("http://h/Task/1"));
        assert_eq!(endpoint.next_event("Task/1", Duration::ZERO).await, None);
        assert!(
            endpoint
                .next_event("Task/2", Duration::ZERO)
                .await
                .is_some()
        );
    }

    #[test]
    fn a_focus_names_its_task_however_written() {
        assert!(names("Task/1", "Task/1"));
        assert!(names("http://h/fhir/Task/1", "Task/1"));
        assert!(names("http://h/fhir/Task/1/_history/3", "Task/1"));
        assert!(!names("http://h/fhir/Task/11", "Task/1"));
    }
}
