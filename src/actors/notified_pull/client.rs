//! Reference Information Client with the notified-pull option: the subscriber. Its client
//! side performs `subscribe` (POST a topic-based Subscription naming its own rest-hook
//! endpoint) and `pull-notified` (GET the focus of the notification it received); its server
//! side is that endpoint: it accepts notification Bundles and keeps them for the pull.
//!
//! The endpoint is where the harness mounts its server side (the harness playing the
//! subscriber), or, when `subscribe` is not given an `endpoint`, a listener of its own that
//! it starts on 127.0.0.1 (a client under test has its own endpoint too). The pull happens
//! when the action asks for it, so that the request is made while the harness waits for it.

use super::{EXT_FILTER_CRITERIA, EXT_PAYLOAD_CONTENT, Notice, read_notification};
use crate::actors::{ActionRequest, BoxFuture, ClientActor, ReferenceActor};
use crate::http::Message;
use crate::http::client::{HttpClient, OutgoingRequest};
use crate::mock::{Handler, MockServer, outcome};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// The actions this actor performs (see `docs/actions.md`).
pub const ACTIONS: &[&str] = &["subscribe", "pull-notified"];

pub const FAULTS: &[(&str, &str)] = &[
    ("no-subscribe", "does nothing when asked to subscribe"),
    (
        "wrong-channel",
        "subscribes on a websocket channel instead of rest-hook",
    ),
    (
        "query-criteria",
        "puts an R4 query (`Task?owner=...`) in `criteria` instead of the topic's canonical URL",
    ),
    (
        "no-id-only",
        "asks for full-resource notifications instead of id-only",
    ),
    (
        "wrong-endpoint",
        "names an endpoint where it does not receive notifications",
    ),
    (
        "relative-endpoint",
        "names its endpoint as a relative URL, without scheme and host",
    ),
    (
        "reject-notification",
        "answers notifications with 500 and drops them",
    ),
    ("never-pulls", "does not GET the focus it was notified of"),
    (
        "pull-wrong-focus",
        "GETs another Task than the notified focus",
    ),
];

/// How long a pull waits for the notification it needs, and how long a request may take.
const NOTICE_WAIT: Duration = Duration::from_secs(4);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What both sides share: the event notifications received, not yet pulled.
#[derive(Default)]
struct Inbox {
    notices: Mutex<Vec<Notice>>,
    arrived: Notify,
}

/// The server side: the subscriber's rest-hook endpoint.
struct Endpoint {
    inbox: Arc<Inbox>,
    faults: BTreeSet<String>,
}

/// The client side: subscribes and pulls (one shared instance).
struct Subscriber {
    inbox: Arc<Inbox>,
    endpoint: Arc<Endpoint>,
    /// Its own listener for the endpoint, once started; stops when the actor is dropped.
    listener: Mutex<Option<MockServer>>,
    faults: BTreeSet<String>,
    http: HttpClient,
}

/// The client side as the harness holds it.
struct SubscriberActor(Arc<Subscriber>);

pub fn build(_settings: &Value, faults: BTreeSet<String>) -> Result<ReferenceActor, String> {
    let inbox = Arc::new(Inbox::default());
    let endpoint = Arc::new(Endpoint {
        inbox: inbox.clone(),
        faults: faults.clone(),
    });
    Ok(ReferenceActor {
        server: Some(endpoint.clone()),
        client: Some(Arc::new(SubscriberActor(Arc::new(Subscriber {
            inbox,
            endpoint,
            listener: Mutex::new(None),
            faults,
            http: HttpClient::shared()?,
        })))),
    })
}

impl Handler for Endpoint {
    fn handle(&self, req: &Message) -> Message {
        let method = req.method.as_deref().unwrap_or("GET");
        let path = req.path_only().trim_matches('/');
        if method != "POST" || !path.is_empty() {
            return outcome(
                404,
                "not-supported",
                "this is a notification endpoint: POST notification Bundles to its root",
            );
        }
        if self.faults.contains("reject-notification") {
            return outcome(500, "exception", "the notification could not be processed");
        }
        let notice = match req.json().and_then(|b| read_notification(&b)) {
            Ok(n) => n,
            Err(e) => return outcome(400, "invalid", &e),
        };
        if notice.kind == "event-notification" && !notice.focus.is_empty() {
            self.inbox
                .notices
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(notice);
            self.inbox.arrived.notify_waiters();
        }
        Message {
            status: Some(200),
            ..Message::default()
        }
    }

    fn seed(&self, _resource: Value) -> Result<String, String> {
        Err("the subscriber's notification endpoint holds no resources".into())
    }
}

impl ClientActor for SubscriberActor {
    fn perform(&self, req: ActionRequest) -> BoxFuture<Result<(), String>> {
        let me = self.0.clone();
        Box::pin(async move {
            match req.action.as_str() {
                "subscribe" => me.subscribe(&req).await,
                "pull-notified" => me.pull_notified(&req).await,
                other => Err(format!(
                    "the reference notified-pull Information Client does not perform `{other}`"
                )),
            }
        })
    }
}

fn param<'a>(req: &'a ActionRequest, name: &str) -> Result<&'a str, String> {
    req.with
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("action `{}` needs `{name}`", req.action))
}

impl Subscriber {
    fn fault(&self, name: &str) -> bool {
        self.faults.contains(name)
    }

    fn headers(&self, req: &ActionRequest) -> Vec<(String, String)> {
        let mut h = vec![("Accept".to_string(), "application/fhir+json".to_string())];
        if let Some(token) = req.vars.get("token").filter(|t| !t.is_empty()) {
            h.push(("Authorization".into(), format!("Bearer {token}")));
        }
        h
    }

    async fn send(&self, out: OutgoingRequest) -> Result<(), String> {
        match self.http.send(out, REQUEST_TIMEOUT).await.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// `subscribe`: POST [base]/Subscription for the topic, with its own endpoint.
    async fn subscribe(&self, req: &ActionRequest) -> Result<(), String> {
        if self.fault("no-subscribe") {
            return Ok(());
        }
        let topic = param(req, "topic")?;
        let endpoint = match req.with.get("endpoint").filter(|e| !e.is_empty()) {
            Some(e) => e.clone(),
            None => self.own_endpoint().await?,
        };
        let filter = req.with.get("filter").filter(|f| !f.is_empty());
        let criteria = match filter {
            Some(f) if self.fault("query-criteria") => f.as_str(),
            _ => topic,
        };
        let mut subscription = json!({
            "resourceType": "Subscription",
            "status": "requested",
            "reason": "cdex-harness reference Information Client: notified pull",
            "criteria": criteria,
            "channel": {
                "type": if self.fault("wrong-channel") { "websocket" } else { "rest-hook" },
                "endpoint": if self.fault("wrong-endpoint") {
                    format!("{}/elsewhere", endpoint.trim_end_matches('/'))
                } else if self.fault("relative-endpoint") {
                    "notifications".to_string()
                } else {
                    endpoint
                },
                "payload": "application/fhir+json",
                "_payload": {"extension": [{
                    "url": EXT_PAYLOAD_CONTENT,
                    "valueCode": if self.fault("no-id-only") { "full-resource" } else { "id-only" }
                }]}
            }
        });
        if let Some(f) = filter {
            subscription["_criteria"] =
                json!({"extension": [{"url": EXT_FILTER_CRITERIA, "valueString": f}]});
        }
        let base = req.base_url.trim_end_matches('/');
        let mut headers = self.headers(req);
        headers.push(("Content-Type".into(), "application/fhir+json".into()));
        self.send(OutgoingRequest {
            method: "POST".into(),
            url: format!("{base}/Subscription"),
            path: "Subscription".into(),
            headers,
            body: Some(serde_json::to_vec(&subscription).map_err(|e| e.to_string())?),
        })
        .await
    }

    /// The base URL of its own notification endpoint, started on first use.
    async fn own_endpoint(&self) -> Result<String, String> {
        if let Some(l) = self
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            return Ok(l.base_url().to_string());
        }
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let server = MockServer::start(addr, self.endpoint.clone())
            .await
            .map_err(|e| format!("the notification endpoint cannot listen: {e}"))?;
        let url = server.base_url().to_string();
        *self.listener.lock().unwrap_or_else(|p| p.into_inner()) = Some(server);
        Ok(url)
    }

    /// `pull-notified`: GET the focus of the event notification received.
    async fn pull_notified(&self, req: &ActionRequest) -> Result<(), String> {
        let notice = self
            .next_notice()
            .await
            .ok_or("no event notification with a focus reached the notification endpoint")?;
        if self.fault("never-pulls") {
            return Ok(());
        }
        let base = req.base_url.trim_end_matches('/');
        for focus in &notice.focus {
            let focus = if self.fault("pull-wrong-focus") {
                format!("{focus}-other")
            } else {
                focus.clone()
            };
            let (url, path) = if focus.starts_with("http://") || focus.starts_with("https://") {
                let path = focus
                    .strip_prefix(base)
                    .map(|p| p.trim_start_matches('/').to_string())
                    .unwrap_or_else(|| focus.clone());
                (focus.clone(), path)
            } else {
                (format!("{base}/{focus}"), focus.clone())
            };
            self.send(OutgoingRequest {
                method: "GET".into(),
                url,
                path,
                headers: self.headers(req),
                body: None,
            })
            .await?;
        }
        Ok(())
    }

    /// The oldest notification not pulled yet, waiting a little for one to arrive.
    async fn next_notice(&self) -> Option<Notice> {
        let deadline = tokio::time::Instant::now() + NOTICE_WAIT;
        loop {
            let arrived = self.inbox.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            {
                let mut notices = self.inbox.notices.lock().unwrap_or_else(|p| p.into_inner());
                if !notices.is_empty() {
                    return Some(notices.remove(0));
                }
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return None;
            }
        }
    }
}
