//! How the reference Data Consumer talks to a Data Source: FHIR JSON, its bearer token, and,
//! when signed results were agreed, a search in place of a read (CONF-009).

use crate::actors::ActionRequest;
use crate::http::Message;
use crate::http::client::{HttpClient, OutgoingRequest};
use std::collections::BTreeSet;
use std::time::Duration;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Conn {
    http: HttpClient,
    faults: BTreeSet<String>,
}

impl Conn {
    pub fn new(faults: BTreeSet<String>) -> Result<Conn, String> {
        Ok(Conn {
            http: HttpClient::shared()?,
            faults,
        })
    }

    fn headers(&self, req: &ActionRequest) -> Vec<(String, String)> {
        let accept = if self.faults.contains("xml-accept") {
            "application/fhir+xml"
        } else {
            "application/fhir+json"
        };
        let mut h = vec![("Accept".to_string(), accept.to_string())];
        if let Some(token) = req.vars.get("token").filter(|t| !t.is_empty()) {
            h.push(("Authorization".into(), format!("Bearer {token}")));
        }
        h
    }

    async fn send(&self, out: OutgoingRequest) -> Result<Message, String> {
        let what = format!("{} {}", out.method, out.url);
        let x = self.http.send(out, REQUEST_TIMEOUT).await;
        match (x.response, x.error) {
            (Some(r), _) => Ok(r),
            (None, e) => Err(format!(
                "{what} failed: {}",
                e.unwrap_or_else(|| "no response".into())
            )),
        }
    }

    /// GET a reference or URL: `Type/id`, `Type?query`, or an absolute URL.
    pub async fn get(&self, req: &ActionRequest, target: &str) -> Result<Message, String> {
        let (url, path) = resolve(&req.base_url, target);
        self.send(OutgoingRequest {
            method: "GET".into(),
            url,
            path,
            headers: self.headers(req),
            body: None,
        })
        .await
    }

    /// Fetch one resource by reference: a read, or with signed results agreed a search by
    /// `_id` (a read gets no signature; a document Bundle is a signed whole and is read).
    pub async fn fetch(
        &self,
        req: &ActionRequest,
        reference: &str,
        signed: bool,
    ) -> Result<Message, String> {
        let target = if signed && !self.faults.contains("reads-when-signed") {
            search_instead_of_read(&req.base_url, reference)
        } else {
            None
        };
        self.get(req, target.as_deref().unwrap_or(reference)).await
    }

    /// POST a FHIR JSON resource to `[base]/path`.
    pub async fn post(
        &self,
        req: &ActionRequest,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Message, String> {
        let (url, path) = resolve(&req.base_url, path);
        let mut headers = self.headers(req);
        let xml = self.faults.contains("xml-task") && path == "Task";
        let (content_type, bytes) = if xml {
            ("application/fhir+xml", xml_of(body).into_bytes())
        } else {
            (
                "application/fhir+json",
                serde_json::to_vec(body).map_err(|e| e.to_string())?,
            )
        };
        headers.push(("Content-Type".into(), content_type.into()));
        self.send(OutgoingRequest {
            method: "POST".into(),
            url,
            path,
            headers,
            body: Some(bytes),
        })
        .await
    }
}

/// A rough FHIR XML rendering of a resource's top-level primitives (`xml-task`).
fn xml_of(resource: &serde_json::Value) -> String {
    let rtype = resource
        .get("resourceType")
        .and_then(|v| v.as_str())
        .unwrap_or("Resource");
    let mut xml = format!("<{rtype} xmlns=\"http://hl7.org/fhir\">");
    for key in ["status", "intent", "authoredOn"] {
        if let Some(v) = resource.get(key).and_then(|v| v.as_str()) {
            xml.push_str(&format!("<{key} value=\"{v}\"/>"));
        }
    }
    xml.push_str(&format!("</{rtype}>"));
    xml
}

/// (absolute URL, path relative to the base) of a reference or URL.
pub fn resolve(base: &str, target: &str) -> (String, String) {
    let base = base.trim_end_matches('/');
    if target.starts_with("http://") || target.starts_with("https://") {
        let path = target
            .strip_prefix(base)
            .map(|p| p.trim_start_matches('/').to_string())
            .unwrap_or_else(|| target.to_string());
        (target.to_string(), path)
    } else {
        let path = target.trim_start_matches('/');
        (format!("{base}/{path}"), path.to_string())
    }
}

/// `Type?_id=id` for a read of `Type/id` (relative, or absolute on `base`), except a Bundle
/// (a signed document is read whole) and a Binary (raw content, not a FHIR search).
pub fn search_instead_of_read(base: &str, reference: &str) -> Option<String> {
    let (_, path) = resolve(base, reference);
    if path.contains("://") || path.contains('?') {
        return None;
    }
    let mut parts = path.split('/');
    let (Some(rtype), Some(id), None) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let is_type = rtype.chars().next().is_some_and(|c| c.is_ascii_uppercase());
    if !is_type || id.is_empty() || rtype == "Bundle" || rtype == "Binary" {
        return None;
    }
    Some(format!("{rtype}?_id={id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_and_absolute_references() {
        assert_eq!(
            resolve("http://h/fhir/", "Task/1"),
            ("http://h/fhir/Task/1".into(), "Task/1".into())
        );
        assert_eq!(
            resolve("http://h/fhir", "http://h/fhir/Bundle/b"),
            ("http://h/fhir/Bundle/b".into(), "Bundle/b".into())
        );
        assert_eq!(
            resolve("http://h/fhir", "https://elsewhere/x").1,
            "https://elsewhere/x"
        );
    }

    #[test]
    fn a_signed_fetch_searches_single_resources_only() {
        let b = "http://h/fhir";
        assert_eq!(
            search_instead_of_read(b, "Condition/858").as_deref(),
            Some("Condition?_id=858")
        );
        assert_eq!(
            search_instead_of_read(b, "http://h/fhir/Observation/o1").as_deref(),
            Some("Observation?_id=o1")
        );
        assert_eq!(search_instead_of_read(b, "Bundle/doc"), None);
        assert_eq!(search_instead_of_read(b, "Binary/pdf"), None);
        assert_eq!(search_instead_of_read(b, "Condition?patient=1"), None);
        assert_eq!(search_instead_of_read(b, "https://other/Condition/1"), None);
    }
}
