//! A TestScript operation as the runner's request: method and URL from the operation type
//! (any of the three code systems scripts use), `resource`, `params`, `url`, `targetId`;
//! headers from `accept`, `contentType`, `requestHeader`; the body from `sourceId`.

use super::model::{Operation, TestScript};
use super::vars::{key, template, template_json};
use crate::scenario::{Body, Request};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The operation-type code systems read (the R4 one, the older one, and RESTful interactions).
pub const SYSTEMS: &[&str] = &[
    "http://terminology.hl7.org/CodeSystem/testscript-operation-codes",
    "http://hl7.org/fhir/testscript-operation-codes",
    "http://hl7.org/fhir/restful-interaction",
];

/// The operation codes the harness performs.
pub const CODES: &[&str] = &[
    "read",
    "vread",
    "search",
    "search-type",
    "search-system",
    "create",
    "update",
    "updateCreate",
    "delete",
    "deleteCondSingle",
    "deleteCondMultiple",
    "history",
    "history-instance",
    "history-type",
    "history-system",
    "capabilities",
    "transaction",
    "batch",
    "patch",
    "validate",
];

/// The runner variable holding a fixture's `Type/id` (the target of a read, an update...).
pub fn target_var(fixture: &str) -> String {
    format!("tsT_{}", key(fixture))
}
/// ... its `meta.versionId` (vread).
pub fn version_var(fixture: &str) -> String {
    format!("tsV_{}", key(fixture))
}
/// ... its body as JSON text (a response sent on as a request body).
pub fn body_var(fixture: &str) -> String {
    format!("tsB_{}", key(fixture))
}

/// `json` -> `application/fhir+json`, `xml` -> `application/fhir+xml`, a MIME type as is.
pub fn mime(code: &str) -> String {
    match code {
        "json" => "application/fhir+json".into(),
        "xml" => "application/fhir+xml".into(),
        "ttl" => "text/turtle".into(),
        "none" => String::new(),
        other => other.into(),
    }
}

/// What the harness knows of the fixtures when it plans a request.
pub struct Fixtures<'a> {
    /// Static fixtures (files, contained resources).
    pub fixed: &'a BTreeMap<String, Value>,
    /// Fixtures only known at run time (responseId, requestId), and autocreated ones.
    pub dynamic: &'a BTreeSet<String>,
}

impl Fixtures<'_> {
    fn resource_type(&self, id: &str) -> Option<String> {
        self.fixed
            .get(id)
            .and_then(|v| v.get("resourceType"))
            .and_then(Value::as_str)
            .map(str::to_string)
    }
}

/// The operation's code (`read`...), when its system is one the harness reads.
pub fn code(op: &Operation) -> Result<Option<String>, String> {
    let Some(t) = &op.type_ else {
        return Ok(None);
    };
    if let Some(s) = &t.system
        && !SYSTEMS.contains(&s.as_str())
    {
        return Err(format!(
            "operation type system `{s}` is not one the harness reads"
        ));
    }
    let c = t.code.clone().ok_or("an operation type without a code")?;
    if !CODES.contains(&c.as_str()) {
        return Err(format!(
            "operation `{c}` is not supported (the harness performs {})",
            CODES.join(", ")
        ));
    }
    Ok(Some(c))
}

/// The request an operation sends, its path and body as runner templates.
pub fn request(op: &Operation, script: &TestScript, fx: &Fixtures<'_>) -> Result<Request, String> {
    let code = code(op)?;
    let params = op.params.as_deref().map(template).unwrap_or_default();
    let rtype = op
        .resource
        .clone()
        .or_else(|| op.source_id.as_deref().and_then(|s| fx.resource_type(s)))
        .or_else(|| op.target_id.as_deref().and_then(|s| fx.resource_type(s)));
    let typed = |suffix: &str| -> Result<String, String> {
        let t = rtype.clone().ok_or_else(|| {
            "the operation names no resource type (resource, or a fixture's)".to_string()
        })?;
        Ok(format!("{t}{suffix}"))
    };
    let target = |extra: &str| -> Option<String> {
        op.target_id
            .as_deref()
            .map(|t| format!("{{{{{}}}}}{extra}", target_var(t)))
    };
    let method_of = |m: &str| m.to_ascii_uppercase();
    let by_url = op.url.as_ref().map(|u| {
        let m = match code.as_deref() {
            Some("create" | "transaction" | "batch" | "validate") => "POST".to_string(),
            Some("update" | "updateCreate") => "PUT".to_string(),
            Some("delete" | "deleteCondSingle" | "deleteCondMultiple") => "DELETE".to_string(),
            Some("patch") => "PATCH".to_string(),
            Some(_) => "GET".to_string(),
            None => op
                .method
                .as_deref()
                .map(method_of)
                .unwrap_or_else(|| "GET".into()),
        };
        (m, template(u))
    });
    let (method, path): (String, String) = if let Some(x) = by_url {
        x
    } else {
        match code.as_deref() {
            Some("read") => ("GET".into(), target("").map_or_else(|| typed(&params), Ok)?),
            Some("vread") => (
                "GET".into(),
                match &op.target_id {
                    Some(t) => format!(
                        "{{{{{}}}}}/_history/{{{{{}}}}}",
                        target_var(t),
                        version_var(t)
                    ),
                    None => typed(&params)?,
                },
            ),
            Some("search" | "search-type") => ("GET".into(), typed(&params)?),
            Some("search-system") => ("GET".into(), params.trim_start_matches('/').to_string()),
            Some("create") => ("POST".into(), typed(&params)?),
            Some("update" | "updateCreate" | "patch") => {
                let m = if code.as_deref() == Some("patch") {
                    "PATCH"
                } else {
                    "PUT"
                };
                let path =
                    match target("") {
                        Some(p) if params.is_empty() => p,
                        _ if !params.is_empty() => typed(&params)?,
                        _ => {
                            // The body's own id.
                            let id = op
                        .source_id
                        .as_deref()
                        .and_then(|s| fx.fixed.get(s))
                        .and_then(|v| v.get("id"))
                        .and_then(Value::as_str)
                        .ok_or("an update needs targetId, params or a source fixture with an id")?;
                            typed(&format!("/{id}"))?
                        }
                    };
                (m.into(), path)
            }
            Some("delete") => (
                "DELETE".into(),
                match target("") {
                    Some(p) if params.is_empty() => p,
                    _ => typed(&params)?,
                },
            ),
            Some("deleteCondSingle" | "deleteCondMultiple") => ("DELETE".into(), typed(&params)?),
            Some("history" | "history-instance" | "history-type" | "history-system") => (
                "GET".into(),
                match (target("/_history"), &rtype) {
                    (Some(p), _) => p,
                    (None, Some(t)) => {
                        let (p, q) = params.split_once('?').unwrap_or((&params, ""));
                        let q = if q.is_empty() {
                            String::new()
                        } else {
                            format!("?{q}")
                        };
                        format!("{t}{p}/_history{q}")
                    }
                    (None, None) => format!("_history{params}"),
                },
            ),
            Some("capabilities") => ("GET".into(), format!("metadata{params}")),
            Some("transaction" | "batch") => ("POST".into(), params.trim_start_matches('/').into()),
            Some("validate") => ("POST".into(), typed(&format!("/$validate{params}"))?),
            Some(other) => return Err(format!("operation `{other}` is not supported")),
            None => {
                let m = op
                    .method
                    .as_deref()
                    .ok_or("an operation with neither a type nor a method")?;
                let path = match (&op.url, &rtype) {
                    (Some(_), _) => String::new(),
                    (None, Some(_)) => typed(&params)?,
                    (None, None) => params.trim_start_matches('/').into(),
                };
                (method_of(m), path)
            }
        }
    };
    let mut headers = Vec::new();
    if let Some(a) = &op.accept {
        let m = mime(a);
        if !m.is_empty() {
            headers.push(("Accept".to_string(), m));
        }
    }
    let body = match &op.source_id {
        Some(s) if fx.dynamic.contains(s) => {
            Some(Body::Text(format!("{{{{{{{}}}}}}}", body_var(s))))
        }
        Some(s) => {
            Some(Body::Json(template_json(fx.fixed.get(s).ok_or_else(
                || format!("sourceId `{s}` names no fixture"),
            )?)))
        }
        None => None,
    };
    if body.is_some() {
        let ct = match (&op.content_type, &body) {
            (Some(c), _) => mime(c),
            (None, Some(Body::Json(Value::Array(_)))) => "application/json-patch+json".into(),
            _ => "application/fhir+json".into(),
        };
        if !ct.is_empty() {
            headers.push(("Content-Type".to_string(), ct));
        }
    } else if let Some(c) = &op.content_type {
        let m = mime(c);
        if !m.is_empty() && !matches!(method.as_str(), "GET" | "DELETE") {
            headers.push(("Content-Type".to_string(), m));
        }
    }
    for h in &op.request_header {
        headers.push((h.field.clone(), template(&h.value)));
    }
    let _ = script;
    Ok(Request {
        grow: None,
        sign: None,
        method,
        path,
        headers,
        omit_headers: Vec::new(),
        body,
    })
}
