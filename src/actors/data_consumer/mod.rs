//! Reference CDex 2.1.0 Data Consumer client (the payer asking a Data Source for data).
//!
//! It performs the `data-consumer-client` actions (see `docs/actions.md`): Direct Query
//! ([`query`]: patient id discovery, a search, a document or resource fetch), Task-based data
//! requests followed by polling ([`follow`]: POST a CDex Task Data Request built by
//! [`task`], poll it on the CONF-062 schedule of [`schedule`] until it is terminal, then GET
//! its external outputs), and the same followed by a Task subscription ([`subscribe`]).
//!
//! A data request is one long action: the harness takes the POST it awaits while the client
//! goes on polling in the background; later steps ask `follow-task`, which for this actor
//! waits until the request it follows has reached the stage the step needs (a client under
//! test that polls on its own has nothing to do for it).

mod follow;
mod http;
mod query;
pub mod schedule;
mod subscribe;
pub mod task;

use super::{ActionRequest, BoxFuture, ClientActor, ReferenceActor};
use follow::Flows;
use http::Conn;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

pub const QUERY_PATIENT: &str = "query-patient";
pub const DIRECT_QUERY: &str = "direct-query";
pub const FETCH_DOCUMENT: &str = "fetch-document";
pub const FETCH_RESOURCE: &str = "fetch-resource";
pub const REQUEST_DATA_QUERY: &str = "request-data-query";
pub const REQUEST_DATA_CODE: &str = "request-data-code";
pub const REQUEST_DATA_FREE_TEXT: &str = "request-data-free-text";
pub const REQUEST_DATA_QUESTIONNAIRE: &str = "request-data-questionnaire";
pub const SUBSCRIBE_TASK: &str = "subscribe-task";
pub const FOLLOW_TASK: &str = "follow-task";

/// The actions this actor performs (see `docs/actions.md`).
pub const ACTIONS: &[&str] = &[
    QUERY_PATIENT,
    DIRECT_QUERY,
    FETCH_DOCUMENT,
    FETCH_RESOURCE,
    REQUEST_DATA_QUERY,
    REQUEST_DATA_CODE,
    REQUEST_DATA_FREE_TEXT,
    REQUEST_DATA_QUESTIONNAIRE,
    SUBSCRIBE_TASK,
    FOLLOW_TASK,
];

pub const FAULTS: &[(&str, &str)] = &[
    ("silent", "does nothing when asked"),
    (
        "xml-accept",
        "asks for XML (Accept: application/fhir+xml) on every request",
    ),
    (
        "no-identifier-search",
        "looks the patient up by name only, without the member identifier",
    ),
    (
        "xml-task",
        "POSTs its Task as XML (Content-Type application/fhir+xml)",
    ),
    (
        "reads-when-signed",
        "reads single resources (GET [type]/[id]) even when signed results were agreed",
    ),
    (
        "two-data-inputs",
        "POSTs a data request with both a data-query and a data-code input (cdex-9)",
    ),
    (
        "code-request-with-query",
        "POSTs a data-request-code Task whose input is a data-query (cdex-7)",
    ),
    (
        "query-request-with-code",
        "POSTs a data-request-query Task whose input is a data-code (cdex-12)",
    ),
    (
        "questionnaire-request-with-code",
        "POSTs a data-request-questionnaire Task whose input is a data-code (cdex-8)",
    ),
    (
        "no-authored-on",
        "POSTs its Task without authoredOn (1..1 in the profile)",
    ),
    ("no-intent-order", "POSTs its Task with intent `plan`"),
    (
        "status-draft",
        "POSTs its Task with status `draft` (not in the HRex Task Status value set)",
    ),
    (
        "no-reason-reference",
        "leaves the claim it was given out of the Task (no reasonReference)",
    ),
    (
        "claim-only",
        "names the claim behind a request, but not a Coverage (it supports one reasonReference target)",
    ),
    (
        "no-pou",
        "leaves the purpose of use it was given out of the Task",
    ),
    (
        "pou-noe-without-alternate",
        "sends a *-noe purpose of use without the alternate code",
    ),
    ("never-polls", "POSTs the Task, then never reads it again"),
    (
        "first-poll-immediately",
        "polls the Task at once after creating it instead of after a minute",
    ),
    (
        "polls-too-often",
        "polls the Task every minute instead of every five (then hourly)",
    ),
    (
        "keeps-polling-after-completed",
        "goes on polling the Task after it completed",
    ),
    (
        "never-fetches-output",
        "stops at the completed Task without fetching its outputs",
    ),
    (
        "chokes-on-business-status",
        "gives up on a Task carrying businessStatus or an extension it does not know",
    ),
    (
        "subscription-full-resource",
        "asks for full-resource notifications instead of id-only",
    ),
    (
        "subscription-websocket",
        "subscribes on a websocket channel instead of rest-hook",
    ),
    (
        "subscription-query-criteria",
        "puts an R4 query in Subscription.criteria instead of the topic's canonical URL",
    ),
    (
        "never-reads-notified-task",
        "does not GET the Task it was notified of",
    ),
];

/// What every action shares: the faults, the HTTP client, the requests being followed.
struct Consumer {
    faults: BTreeSet<String>,
    conn: Conn,
    flows: Flows,
    endpoint: subscribe::Endpoint,
}

pub struct DataConsumer(Arc<Consumer>);

pub fn build(_settings: &Value, faults: BTreeSet<String>) -> Result<ReferenceActor, String> {
    let conn = Conn::new(faults.clone())?;
    Ok(ReferenceActor {
        server: None,
        client: Some(Arc::new(DataConsumer(Arc::new(Consumer {
            faults,
            conn,
            flows: Flows::default(),
            endpoint: subscribe::Endpoint::default(),
        })))),
    })
}

impl ClientActor for DataConsumer {
    fn perform(&self, req: ActionRequest) -> BoxFuture<Result<(), String>> {
        let me = self.0.clone();
        Box::pin(async move {
            if me.fault("silent") {
                return Ok(());
            }
            match req.action.as_str() {
                QUERY_PATIENT => query::query_patient(&me, &req).await,
                DIRECT_QUERY => query::direct_query(&me, &req).await,
                FETCH_DOCUMENT => query::fetch_document(&me, &req).await,
                FETCH_RESOURCE => query::fetch_resource(&me, &req).await,
                REQUEST_DATA_QUERY
                | REQUEST_DATA_CODE
                | REQUEST_DATA_FREE_TEXT
                | REQUEST_DATA_QUESTIONNAIRE => follow::request_and_poll(&me, &req).await,
                SUBSCRIBE_TASK => subscribe::subscribe_and_request(&me, &req).await,
                FOLLOW_TASK => me.flows.wait(&req).await,
                other => Err(format!(
                    "the reference data-consumer-client does not perform `{other}`; it performs {}",
                    ACTIONS.join(", ")
                )),
            }
        })
    }
}

impl Consumer {
    fn fault(&self, name: &str) -> bool {
        self.faults.contains(name)
    }
}

/// A parameter of the action, empty counting as absent.
fn opt<'a>(req: &'a ActionRequest, name: &str) -> Option<&'a str> {
    req.with
        .get(name)
        .map(String::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// A parameter the action needs.
fn param<'a>(req: &'a ActionRequest, name: &str) -> Result<&'a str, String> {
    opt(req, name).ok_or_else(|| format!("action `{}` needs `{name}`", req.action))
}

/// `true`, `yes`, `1` (any case) as a flag.
fn flag(req: &ActionRequest, name: &str) -> bool {
    opt(req, name).is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "1"))
}

/// The run's time scale (`time_scale`, `CDEX_VAR_TIME_SCALE`): a pack minute lasts
/// 60 s / scale. 1 when absent or not a positive number.
fn time_scale(req: &ActionRequest) -> f64 {
    req.vars
        .get("time_scale")
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f > 0.0)
        .unwrap_or(1.0)
}
