//! How the reference Provider sends `$submit-attachment`: FHIR JSON (or, for a fault, XML),
//! with the pack's bearer token when it has one.

use crate::actors::ActionRequest;
use crate::http::client::{HttpClient, OutgoingRequest};
use serde_json::Value;
use std::time::Duration;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Send the Parameters to `url`; the answer's status.
pub async fn post_as(
    req: &ActionRequest,
    method: &str,
    url: &str,
    body: &Value,
    xml: bool,
) -> Result<u16, String> {
    let (content_type, bytes) = if xml {
        ("application/fhir+xml", xml_of(body).into_bytes())
    } else {
        (
            "application/fhir+json",
            serde_json::to_vec(body).map_err(|e| e.to_string())?,
        )
    };
    let mut headers = vec![
        ("Accept".to_string(), "application/fhir+json".to_string()),
        ("Content-Type".to_string(), content_type.to_string()),
    ];
    if let Some(token) = req
        .vars
        .get("token")
        .filter(|t| !t.is_empty() && *t != "none")
    {
        headers.push(("Authorization".into(), format!("Bearer {token}")));
    }
    let out = OutgoingRequest {
        method: method.into(),
        url: url.to_string(),
        path: url.to_string(),
        headers,
        body: Some(bytes),
    };
    let x = HttpClient::shared()?.send(out, REQUEST_TIMEOUT).await;
    match (x.response, x.error) {
        (Some(r), _) => Ok(r.status.unwrap_or(0)),
        (None, e) => Err(format!(
            "{method} {url} failed: {}",
            e.unwrap_or_else(|| "no response".into())
        )),
    }
}

/// A rough FHIR XML rendering of a Parameters' names (the fault `xml-body`).
fn xml_of(resource: &Value) -> String {
    let mut xml = String::from("<Parameters xmlns=\"http://hl7.org/fhir\">");
    for p in resource["parameter"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or("");
        xml.push_str(&format!("<parameter><name value=\"{name}\"/></parameter>"));
    }
    xml.push_str("</Parameters>");
    xml
}
