//! Reference Information Client: initiates Push (POST create, PUT update) and Pull (GET read,
//! GET search) when asked with a `CDEX_ACTION` (seed 000: "SHALL support initiating ...").

use super::{ActionRequest, BoxFuture, ClientActor, ReferenceActor};
use crate::http::client::{HttpClient, OutgoingRequest};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// The actions this actor performs (see `docs/actions.md`).
pub const ACTIONS: &[&str] = &["push-create", "push-update", "pull-read", "pull-search"];

pub const FAULTS: &[(&str, &str)] = &[
    ("silent", "does nothing when asked"),
    ("wrong-content-type", "sends pushed resources as text/plain"),
    ("no-auth", "sends no Authorization header"),
    ("post-for-update", "uses POST where an update needs PUT"),
    ("invalid-resource", "pushes resources without their subject"),
    (
        "bad-datetime",
        "pushes resources whose sent or authoredOn is not a FHIR dateTime",
    ),
    ("not-json", "pushes a body that is not JSON"),
    ("wrong-id", "reads a different id than the one asked for"),
    (
        "no-search-params",
        "searches without the parameters asked for",
    ),
];

pub struct InformationClient {
    faults: BTreeSet<String>,
    http: HttpClient,
}

pub fn build(_settings: &Value, faults: BTreeSet<String>) -> Result<ReferenceActor, String> {
    let http = HttpClient::shared()?;
    Ok(ReferenceActor {
        server: None,
        client: Some(Arc::new(InformationClient { faults, http })),
    })
}

impl ClientActor for InformationClient {
    fn perform(&self, req: ActionRequest) -> BoxFuture<Result<(), String>> {
        let faults = self.faults.clone();
        let http = self.http.clone();
        Box::pin(async move { perform(&faults, &http, req).await })
    }
}

fn param<'a>(req: &'a ActionRequest, name: &str) -> Result<&'a str, String> {
    req.with
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| format!("action `{}` needs `{name}`", req.action))
}

async fn perform(
    faults: &BTreeSet<String>,
    http: &HttpClient,
    req: ActionRequest,
) -> Result<(), String> {
    let fault = |f: &str| faults.contains(f);
    if fault("silent") {
        return Ok(());
    }
    let base = req.base_url.trim_end_matches('/').to_string();
    let mut headers = vec![("Accept".to_string(), "application/fhir+json".to_string())];
    if let Some(token) = req.vars.get("token").filter(|t| !t.is_empty())
        && !fault("no-auth")
    {
        headers.push(("Authorization".into(), format!("Bearer {token}")));
    }
    let body = |id: Option<&str>| -> Result<Vec<u8>, String> {
        if fault("not-json") {
            return Ok(b"resourceType=Communication; this is not JSON".to_vec());
        }
        let mut resource = req
            .payload
            .clone()
            .ok_or_else(|| format!("action `{}` needs a payload", req.action))?;
        if let (Some(id), Some(o)) = (id, resource.as_object_mut()) {
            o.insert("id".into(), Value::String(id.to_string()));
        }
        if fault("bad-datetime")
            && let Some(o) = resource.as_object_mut()
        {
            // The dateTime of each CDex profile: a Communication's `sent`, a request's or a
            // Task's `authoredOn`.
            let field = if o.get("resourceType").and_then(Value::as_str) == Some("Communication") {
                "sent"
            } else {
                "authoredOn"
            };
            o.insert(field.into(), Value::String("yesterday".into()));
        }
        if fault("invalid-resource")
            && let Some(o) = resource.as_object_mut()
        {
            o.remove("subject");
        }
        serde_json::to_vec(&resource).map_err(|e| e.to_string())
    };
    let content_type = if fault("wrong-content-type") {
        "text/plain"
    } else {
        "application/fhir+json"
    };
    let (method, path, body) = match req.action.as_str() {
        "push-create" => {
            let t = param(&req, "resource_type")?;
            ("POST", t.to_string(), Some(body(None)?))
        }
        "push-update" => {
            let t = param(&req, "resource_type")?;
            let id = param(&req, "resource_id")?;
            if fault("post-for-update") {
                ("POST", t.to_string(), Some(body(Some(id))?))
            } else {
                ("PUT", format!("{t}/{id}"), Some(body(Some(id))?))
            }
        }
        "pull-read" => {
            let t = param(&req, "resource_type")?;
            let id = param(&req, "resource_id")?;
            let id = if fault("wrong-id") {
                format!("{id}-other")
            } else {
                id.to_string()
            };
            ("GET", format!("{t}/{id}"), None)
        }
        "pull-search" => {
            let t = param(&req, "resource_type")?;
            let q = req.with.get("search").map(String::as_str).unwrap_or("");
            if q.is_empty() || fault("no-search-params") {
                ("GET", t.to_string(), None)
            } else {
                ("GET", format!("{t}?{q}"), None)
            }
        }
        other => {
            return Err(format!(
                "the reference Information Client does not perform `{other}`"
            ));
        }
    };
    if body.is_some() {
        headers.push(("Content-Type".into(), content_type.into()));
    }
    let x = http
        .send(
            OutgoingRequest {
                method: method.into(),
                url: format!("{base}/{path}"),
                path,
                headers,
                body,
            },
            Duration::from_secs(30),
        )
        .await;
    match x.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
