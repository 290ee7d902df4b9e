//! The checks a `$submit-attachment` body goes through (OperationDefinition submit-attachment
//! 2.1.0 and the cdex-parameters-submit-attachment profile): each finds problems, answered
//! 400 (the request is malformed) or 422 (well-formed, but content the Payer will not take).

use serde_json::Value;

/// One problem with a submission: the OperationOutcome issue code, where (a FHIRPath-like
/// location), and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub code: &'static str,
    pub location: String,
    pub text: String,
}

impl Problem {
    pub fn new(code: &'static str, location: impl Into<String>, text: impl Into<String>) -> Self {
        Problem {
            code,
            location: location.into(),
            text: text.into(),
        }
    }
}

/// The top-level parameters of a Parameters resource named `name`.
pub fn params<'a>(p: &'a Value, name: &str) -> Vec<&'a Value> {
    p.get("parameter")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|x| x.get("name").and_then(Value::as_str) == Some(name))
        .collect()
}

/// The first top-level parameter named `name`.
pub fn param<'a>(p: &'a Value, name: &str) -> Option<&'a Value> {
    params(p, name).into_iter().next()
}

/// The parts of a parameter named `name`.
pub fn parts<'a>(p: &'a Value, name: &str) -> Vec<&'a Value> {
    p.get("part")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|x| x.get("name").and_then(Value::as_str) == Some(name))
        .collect()
}

/// `system|value` of an Identifier-valued parameter, or its value alone.
pub fn identifier(p: &Value, name: &str) -> Option<(Option<String>, String)> {
    let id = param(p, name)?.get("valueIdentifier")?;
    let value = id.get("value")?.as_str()?.to_string();
    let system = id.get("system").and_then(Value::as_str).map(str::to_string);
    Some((system, value))
}

/// AttachTo: `claim` or `preauthorization` (or whatever was sent).
pub fn attach_to(p: &Value) -> Option<&str> {
    param(p, "AttachTo")?.get("valueCode")?.as_str()
}

/// Final: absent means true (OperationDefinition: "the default meaning").
pub fn is_final(p: &Value) -> bool {
    param(p, "Final")
        .and_then(|f| f.get("valueBoolean"))
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

/// Every `Attachment.Content` resource, with its location.
pub fn contents(p: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for (i, a) in p
        .get("parameter")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if a.get("name").and_then(Value::as_str) != Some("Attachment") {
            continue;
        }
        for (j, part) in a
            .get("part")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if part.get("name").and_then(Value::as_str) == Some("Content")
                && let Some(r) = part.get("resource")
            {
                out.push((format!("Parameters.parameter[{i}].part[{j}].resource"), r));
            }
        }
    }
    out
}

/// A ProviderId parameter, OrganizationId parameter, or both SHALL be present.
pub fn provider_or_organization(p: &Value) -> Option<Problem> {
    (param(p, "ProviderId").is_none() && param(p, "OrganizationId").is_none()).then(|| {
        Problem::new(
            "required",
            "Parameters.parameter",
            "neither ProviderId nor OrganizationId is given: the OperationDefinition requires one of them, or both",
        )
    })
}

/// The ServiceDate parameter SHALL be present and precise to the day for a claim; with
/// `allow_month` / `allow_missing` (faults) the corresponding check is skipped.
pub fn service_date(p: &Value, allow_missing: bool, allow_month: bool) -> Option<Problem> {
    let date = param(p, "ServiceDate");
    let value = date
        .and_then(|d| d.get("valueDateTime"))
        .and_then(Value::as_str);
    if attach_to(p) != Some("claim") {
        return None;
    }
    match value {
        None if date.is_none() && !allow_missing => Some(Problem::new(
            "required",
            "Parameters.parameter",
            "the attachment is for a claim and has no ServiceDate: the OperationDefinition requires it, precise to the day",
        )),
        Some(v) if v.len() < 10 && !allow_month => Some(Problem::new(
            "value",
            "Parameters.parameter:ServiceDate",
            format!("ServiceDate `{v}` is not precise to the day, as a claim attachment requires"),
        )),
        _ => None,
    }
}

/// A DocumentReference's attachments: each needs inline `data` (valid base64) or a `url`;
/// `data` and `url` tell which forms the server refuses (faults).
pub fn document_reference(
    at: &str,
    doc: &Value,
    refuse_data: bool,
    refuse_url: bool,
) -> Vec<Problem> {
    use base64::Engine;
    let mut out = Vec::new();
    let contents = doc
        .get("content")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if contents.is_empty() {
        out.push(Problem::new(
            "required",
            format!("{at}.content"),
            "the DocumentReference has no content",
        ));
    }
    for (k, c) in contents.iter().enumerate() {
        let where_ = format!("{at}.content[{k}].attachment");
        let a = c.get("attachment").cloned().unwrap_or(Value::Null);
        let data = a.get("data").and_then(Value::as_str);
        let url = a.get("url").and_then(Value::as_str);
        match (data, url) {
            (None, None) => out.push(Problem::new(
                "required",
                where_,
                "the attachment has neither data (inline base64) nor url: this Payer needs one of them",
            )),
            (Some(d), _) => {
                let clean: String = d.chars().filter(|c| !c.is_whitespace()).collect();
                if base64::engine::general_purpose::STANDARD
                    .decode(clean.as_bytes())
                    .is_err()
                {
                    out.push(Problem::new(
                        "value",
                        format!("{where_}.data"),
                        "attachment.data is not valid base64",
                    ));
                } else if refuse_data {
                    out.push(Problem::new(
                        "not-supported",
                        format!("{where_}.data"),
                        "this Payer does not take inline attachment data",
                    ));
                }
            }
            (None, Some(u)) => {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    out.push(Problem::new(
                        "value",
                        format!("{where_}.url"),
                        format!("attachment.url `{u}` is not an absolute http(s) URL this Payer can retrieve"),
                    ));
                } else if refuse_url {
                    out.push(Problem::new(
                        "not-supported",
                        format!("{where_}.url"),
                        "this Payer does not retrieve attachments by url",
                    ));
                }
            }
        }
    }
    out
}

/// Is this resource signed (a Bundle with `signature`, a QuestionnaireResponse with the
/// signature extension)?
pub fn is_signed(resource: &Value) -> bool {
    match resource.get("resourceType").and_then(Value::as_str) {
        Some("Bundle") => resource.get("signature").is_some(),
        Some("QuestionnaireResponse") => resource
            .get("extension")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|e| {
                e.get("url").and_then(Value::as_str)
                    == Some(crate::fhir::signature::QR_SIGNATURE_EXT)
            }),
        _ => false,
    }
}

/// Does the body carry an extension anywhere (for the `rejects-unknown-extension` fault)?
pub fn has_extension(v: &Value) -> bool {
    match v {
        Value::Object(m) => m
            .iter()
            .any(|(k, x)| k == "extension" || k == "modifierExtension" || has_extension(x)),
        Value::Array(a) => a.iter().any(has_extension),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn example(attach: &str, date: Option<&str>) -> Value {
        let mut p = vec![
            json!({"name": "TrackingId", "valueIdentifier": {"system": "urn:x", "value": "t1"}}),
            json!({"name": "AttachTo", "valueCode": attach}),
            json!({"name": "ProviderId", "valueIdentifier": {"value": "9941339108"}}),
            json!({"name": "MemberId", "valueIdentifier": {"value": "m1"}}),
        ];
        if let Some(d) = date {
            p.push(json!({"name": "ServiceDate", "valueDateTime": d}));
        }
        p.push(json!({"name": "Attachment", "part": [
            {"name": "Content", "resource": {"resourceType": "DocumentReference", "status": "current",
             "content": [{"attachment": {"contentType": "text/plain", "data": "aGVsbG8="}}]}}
        ]}));
        json!({"resourceType": "Parameters", "parameter": p})
    }

    #[test]
    fn service_date_rules_apply_to_claims_only() {
        assert!(service_date(&example("claim", Some("2022-06-16")), false, false).is_none());
        assert!(service_date(&example("claim", Some("2022-06")), false, false).is_some());
        assert!(service_date(&example("claim", None), false, false).is_some());
        assert!(service_date(&example("preauthorization", None), false, false).is_none());
        assert!(service_date(&example("claim", Some("2022-06")), false, true).is_none());
    }

    #[test]
    fn provider_or_organization_is_needed() {
        let mut p = example("claim", Some("2022-06-16"));
        assert!(provider_or_organization(&p).is_none());
        p["parameter"]
            .as_array_mut()
            .unwrap()
            .retain(|x| x["name"] != "ProviderId");
        assert!(provider_or_organization(&p).is_some());
    }

    #[test]
    fn document_content_needs_data_or_url() {
        let p = example("claim", Some("2022-06-16"));
        let (at, doc) = &contents(&p)[0];
        assert!(document_reference(at, doc, false, false).is_empty());
        assert_eq!(document_reference(at, doc, true, false).len(), 1);
        let bare = json!({"resourceType": "DocumentReference", "content": [{"attachment": {"contentType": "text/plain"}}]});
        assert_eq!(document_reference("x", &bare, false, false).len(), 1);
        let url = json!({"resourceType": "DocumentReference", "content": [{"attachment": {"url": "https://h/doc.xml"}}]});
        assert!(document_reference("x", &url, false, false).is_empty());
        assert_eq!(document_reference("x", &url, false, true).len(), 1);
    }

    #[test]
    fn final_defaults_to_true() {
        let mut p = example("claim", Some("2022-06-16"));
        assert!(is_final(&p));
        p["parameter"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "Final", "valueBoolean": false}));
        assert!(!is_final(&p));
    }
}
