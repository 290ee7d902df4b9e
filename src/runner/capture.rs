//! Captures: values taken from an exchange for later steps.

use crate::http::Message;
use crate::scenario::{Capture, CaptureSource};

/// The captured value, or why nothing was found.
pub async fn capture(c: &Capture, msg: &Message) -> Result<String, String> {
    let raw = match &c.source {
        CaptureSource::Header(h) => msg
            .header(h)
            .map(str::to_string)
            .ok_or_else(|| format!("no `{h}` header"))?,
        CaptureSource::Body => String::from_utf8_lossy(&msg.body_bytes()?).into_owned(),
        CaptureSource::FhirPath(expr) => {
            let json = msg.json()?;
            let values = crate::fhir::fhirpath::evaluate(expr, &json).await?;
            let first = values
                .first()
                .ok_or_else(|| format!("`{expr}` found nothing"))?;
            match first {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            }
        }
    };
    match &c.regex {
        None => Ok(raw),
        Some(re) => {
            let caps = re
                .captures(&raw)
                .ok_or_else(|| format!("`{}` does not match {:?}", re.as_str(), truncate(&raw)))?;
            Ok(caps
                .get(1)
                .or_else(|| caps.get(0))
                .map(|m| m.as_str().to_string())
                .unwrap_or_default())
        }
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(120).collect()
}
