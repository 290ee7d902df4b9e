//! The reference Payer as Data Consumer client with the `attachments` option: the reference
//! Data Consumer client, plus the action `request-attachments` (POST a CDex Task Attachment
//! Request to the Provider, [`super::request`]) whose `payer-url` is its own
//! `$submit-attachment` endpoint: a listener on 127.0.0.1 it starts on first use, answering
//! with [`Endpoint`] (or the URL given as `with: payer_url`).
//!
//! Its server side (what the harness mounts when it plays the Payer against a Provider under
//! test) is an [`Endpoint`] too.

use super::request::AttachmentRequest;
use super::{Endpoint, Flag, Settings};
use crate::actors::{ActionRequest, BoxFuture, ClientActor, ReferenceActor, data_consumer};
use crate::http::client::{HttpClient, OutgoingRequest};
use crate::mock::MockServer;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

pub const REQUEST_ATTACHMENTS: &str = "request-attachments";

/// The actions of the `attachments` option: the Data Consumer's, and `request-attachments`.
pub const ACTIONS: &[&str] = &[
    data_consumer::QUERY_PATIENT,
    data_consumer::DIRECT_QUERY,
    data_consumer::FETCH_DOCUMENT,
    data_consumer::FETCH_RESOURCE,
    data_consumer::REQUEST_DATA_QUERY,
    data_consumer::REQUEST_DATA_CODE,
    data_consumer::REQUEST_DATA_FREE_TEXT,
    data_consumer::REQUEST_DATA_QUESTIONNAIRE,
    data_consumer::SUBSCRIBE_TASK,
    data_consumer::FOLLOW_TASK,
    REQUEST_ATTACHMENTS,
];

/// The options of its specs.
pub const OPTIONS: &[&str] = &["attachments"];
pub const SIGNED_OPTIONS: &[&str] = &["attachments", "signatures"];

struct Payer {
    consumer: Arc<dyn ClientActor>,
    faults: BTreeSet<String>,
    endpoint: Arc<Endpoint>,
    listener: tokio::sync::Mutex<Option<MockServer>>,
}

/// The endpoint faults its client faults stand for.
fn endpoint_faults(faults: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if faults.contains("endpoint-rejects-submit") {
        out.insert("rejects-submit".to_string());
    }
    if faults.contains("endpoint-accepts-bad-signature") {
        out.insert("accepts-bad-signature".to_string());
    }
    out
}

fn build_with(
    settings: &Value,
    faults: BTreeSet<String>,
    signed: bool,
) -> Result<ReferenceActor, String> {
    let mut s = Settings::parse(settings, "data-consumer-client")?;
    if signed {
        s.signatures_required = Flag::Bool(true);
    }
    let consumer = data_consumer::build(&Value::Object(Default::default()), faults.clone())?
        .client
        .ok_or("the reference Data Consumer has no client side")?;
    // What the harness mounts when it plays the Payer: always the correct endpoint.
    let server = Arc::new(Endpoint::new(s.clone(), BTreeSet::new()));
    let own = Arc::new(Endpoint::new(s, endpoint_faults(&faults)));
    Ok(ReferenceActor {
        server: Some(server),
        client: Some(Arc::new(PayerClient(Arc::new(Payer {
            consumer,
            faults,
            endpoint: own,
            listener: tokio::sync::Mutex::new(None),
        })))),
    })
}

/// Factory of the `data-consumer-client` with the `attachments` option.
pub fn build(settings: &Value, faults: BTreeSet<String>) -> Result<ReferenceActor, String> {
    build_with(settings, faults, false)
}

/// The same with signatures pre-negotiated (its endpoint requires them).
pub fn build_signed(settings: &Value, faults: BTreeSet<String>) -> Result<ReferenceActor, String> {
    build_with(settings, faults, true)
}

pub struct PayerClient(Arc<Payer>);

impl Payer {
    /// Its endpoint's `$submit-attachment` URL, starting the listener on first use.
    async fn payer_url(&self) -> Result<String, String> {
        let mut l = self.listener.lock().await;
        if l.is_none() {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
            let server = MockServer::start(addr, self.endpoint.clone())
                .await
                .map_err(|e| {
                    format!("the Payer's $submit-attachment endpoint cannot listen: {e}")
                })?;
            *l = Some(server);
        }
        let base = l.as_ref().expect("just started").base_url();
        Ok(format!("{}/$submit-attachment", base.trim_end_matches('/')))
    }

    async fn request_attachments(&self, req: &ActionRequest) -> Result<(), String> {
        let ask = AttachmentRequest::from_action(req)?;
        let payer_url = match req.with.get("payer_url").map(|s| s.trim()) {
            Some(u) if !u.is_empty() && u != "none" => u.to_string(),
            _ => self.payer_url().await?,
        };
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let task = ask.task(&payer_url, &self.faults, &now);
        let (system, value) = &ask.tracking_id;
        self.endpoint.issued(&match system {
            Some(s) => format!("{s}|{value}"),
            None => value.clone(),
        });
        let base = req.base_url.trim_end_matches('/');
        let mut headers = vec![
            ("Accept".to_string(), "application/fhir+json".to_string()),
            (
                "Content-Type".to_string(),
                "application/fhir+json".to_string(),
            ),
        ];
        if let Some(token) = req
            .vars
            .get("token")
            .filter(|t| !t.is_empty() && *t != "none")
        {
            headers.push(("Authorization".into(), format!("Bearer {token}")));
        }
        let out = OutgoingRequest {
            method: "POST".into(),
            url: format!("{base}/Task"),
            path: "Task".into(),
            headers,
            body: Some(serde_json::to_vec(&task).map_err(|e| e.to_string())?),
        };
        let x = HttpClient::shared()?
            .send(out, Duration::from_secs(30))
            .await;
        let resp = x
            .response
            .ok_or_else(|| format!("POST {base}/Task failed: {}", x.error.unwrap_or_default()))?;
        let status = resp.status.unwrap_or(0);
        if !(200..300).contains(&status) {
            return Err(format!(
                "the Provider answered {status} to POST Task (attachment request): {}",
                String::from_utf8_lossy(&resp.body)
                    .chars()
                    .take(300)
                    .collect::<String>()
            ));
        }
        Ok(())
    }
}

impl ClientActor for PayerClient {
    fn perform(&self, req: ActionRequest) -> BoxFuture<Result<(), String>> {
        let me = self.0.clone();
        Box::pin(async move {
            if req.action != REQUEST_ATTACHMENTS {
                return me.consumer.perform(req).await;
            }
            if me.faults.contains("silent") {
                return Ok(());
            }
            me.request_attachments(&req).await
        })
    }
}
