//! A CDex Task Attachment Request (cdex-task-attachment-request) read as what the Provider
//! echoes in its `$submit-attachment` (requesting-attachments-code.html, "Provider Submits
//! Solicited Attachments"): TrackingId <- `identifier:tracking-id`, AttachTo <- `reasonCode`,
//! PayerId <- `requester.identifier`, ProviderId / OrganizationId <- the contained
//! PractitionerRole's practitioner / organization identifiers, MemberId <- the contained
//! Patient's identifier, ServiceDate <- the `service-date` input, Attachment.Code <- each
//! `attachments-needed` input, Attachment.LineItem <- its paLineNumber extension.

use serde_json::Value;

pub const PAS_TEMP: &str = "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes";
pub const CDEX_TEMP: &str = "http://hl7.org/fhir/us/davinci-cdex/CodeSystem/cdex-temp";
pub const PA_LINE_NUMBER: &str =
    "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-paLineNumber";
pub const TASK_ATTACHMENT_REQUEST: &str =
    "http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-task-attachment-request";

/// One thing asked for: an attachment code (LOINC / PWK01) or a questionnaire, and the claim
/// line it is for.
#[derive(Debug, Clone, PartialEq)]
pub enum Asked {
    Code {
        code: Value,
        line: Option<String>,
    },
    Questionnaire {
        canonical: String,
        line: Option<String>,
    },
}

/// The request, as the Provider needs it to answer.
#[derive(Debug, Clone, Default)]
pub struct AttachmentRequest {
    pub tracking_id: Option<Value>,
    /// `claim` or `preauthorization`.
    pub attach_to: Option<String>,
    pub payer_id: Option<Value>,
    pub provider_id: Option<Value>,
    pub organization_id: Option<Value>,
    /// Every identifier of the contained Patient (the first is echoed).
    pub member_ids: Vec<Value>,
    pub service_date: Option<String>,
    pub asked: Vec<Asked>,
    pub payer_url: Option<String>,
    pub signature_flag: bool,
}

fn has_code(concept: &Value, code: &str) -> bool {
    concept["coding"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["code"].as_str() == Some(code)))
}

/// Whether a Task is an attachment request (its code is one of PASTempCodes'
/// `attachment-request-code` / `attachment-request-questionnaire`, or it claims the profile).
pub fn is_attachment_request(task: &Value) -> bool {
    let by_code = has_code(&task["code"], "attachment-request-code")
        || has_code(&task["code"], "attachment-request-questionnaire");
    let by_profile = task
        .pointer("/meta/profile")
        .and_then(Value::as_array)
        .is_some_and(|ps| {
            ps.iter().any(|p| {
                p.as_str()
                    .is_some_and(|p| p.split('|').next() == Some(TASK_ATTACHMENT_REQUEST))
            })
        });
    by_code || by_profile
}

/// The inputs of a given type code.
pub fn inputs<'a>(task: &'a Value, code: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    task["input"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |i| has_code(&i["type"], code))
}

/// The contained resource a local reference (`#id`) names.
fn contained<'a>(task: &'a Value, reference: Option<&str>, rtype: &str) -> Option<&'a Value> {
    let items = task["contained"].as_array()?;
    let wanted = reference.and_then(|r| r.strip_prefix('#'));
    items
        .iter()
        .find(|c| {
            c["resourceType"].as_str() == Some(rtype)
                && wanted.is_none_or(|w| c["id"].as_str() == Some(w))
        })
        .or_else(|| {
            items
                .iter()
                .find(|c| c["resourceType"].as_str() == Some(rtype))
        })
}

fn line_of(input: &Value) -> Option<String> {
    input["extension"].as_array()?.iter().find_map(|e| {
        (e["url"].as_str() == Some(PA_LINE_NUMBER)).then(|| match &e["valueInteger"] {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => String::new(),
        })
    })
}

impl AttachmentRequest {
    pub fn of(task: &Value) -> AttachmentRequest {
        let tracking_id = task["identifier"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| has_code(&i["type"], "tracking-id"))
            .or_else(|| task.pointer("/identifier/0"))
            .map(clean_identifier);
        let attach_to = task["reasonCode"]["coding"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["code"].as_str())
            .find(|c| matches!(*c, "claim" | "preauthorization"))
            .map(str::to_string);
        let role = contained(
            task,
            task.pointer("/owner/reference").and_then(Value::as_str),
            "PractitionerRole",
        );
        let patient = contained(
            task,
            task.pointer("/for/reference").and_then(Value::as_str),
            "Patient",
        );
        let member_ids = patient
            .and_then(|p| p["identifier"].as_array())
            .map(|ids| ids.iter().map(clean_identifier).collect())
            .unwrap_or_default();
        let service_date = inputs(task, "service-date")
            .find_map(|i| i["valueDate"].as_str().or(i["valueDateTime"].as_str()))
            .map(str::to_string);
        let mut asked: Vec<Asked> = inputs(task, "attachments-needed")
            .filter_map(|i| {
                i.get("valueCodeableConcept").map(|c| Asked::Code {
                    code: c.clone(),
                    line: line_of(i),
                })
            })
            .collect();
        asked.extend(inputs(task, "questionnaire-context").filter_map(|i| {
            i["valueCanonical"].as_str().map(|q| Asked::Questionnaire {
                canonical: q.to_string(),
                line: line_of(i),
            })
        }));
        AttachmentRequest {
            tracking_id,
            attach_to,
            payer_id: task.pointer("/requester/identifier").map(clean_identifier),
            provider_id: role
                .and_then(|r| r.pointer("/practitioner/identifier"))
                .map(clean_identifier),
            organization_id: role
                .and_then(|r| r.pointer("/organization/identifier"))
                .map(clean_identifier),
            member_ids,
            service_date,
            asked,
            payer_url: inputs(task, "payer-url")
                .find_map(|i| i["valueUrl"].as_str().or(i["valueUri"].as_str()))
                .map(str::to_string),
            signature_flag: inputs(task, "signature-flag")
                .any(|i| i["valueBoolean"].as_bool() == Some(true)),
        }
    }

    /// Whether the request asks for a questionnaire to be filled in.
    pub fn by_questionnaire(&self) -> bool {
        self.asked
            .iter()
            .any(|a| matches!(a, Asked::Questionnaire { .. }))
    }
}

/// An identifier as echoed: its system and value (the type and use of a Task's identifier are
/// the request's business, not the submission's).
pub fn clean_identifier(i: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for k in ["system", "value"] {
        if let Some(v) = i.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example19() -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/spec/cdex-2.1.0/examples/cdex-task-example19.json"
        );
        match std::fs::read_to_string(path) {
            Ok(t) => serde_json::from_str(&t).expect("JSON"),
            Err(_) => serde_json::json!({
                "resourceType": "Task",
                "code": {"coding": [{"system": PAS_TEMP, "code": "attachment-request-code"}]}
            }),
        }
    }

    #[test]
    fn reads_the_ig_example_as_the_echo_table_says() {
        let t = example19();
        assert!(is_attachment_request(&t));
        if t.get("input").is_none() {
            return;
        }
        let r = AttachmentRequest::of(&t);
        assert_eq!(r.tracking_id.unwrap()["value"], "trackingid123");
        assert_eq!(r.attach_to.as_deref(), Some("claim"));
        assert_eq!(r.payer_id.unwrap()["value"], "Payer123");
        assert_eq!(r.provider_id.unwrap()["value"], "9941339100");
        assert_eq!(r.organization_id.unwrap()["value"], "1234567893");
        assert_eq!(r.member_ids[0]["value"], "Member123");
        assert_eq!(r.service_date.as_deref(), Some("2022-06-13"));
        assert!(r.signature_flag);
        assert_eq!(
            r.asked,
            vec![Asked::Code {
                code: t["input"][0]["valueCodeableConcept"].clone(),
                line: Some("1".into())
            }]
        );
        assert!(r.payer_url.unwrap().ends_with("$submit-attachment"));
    }

    #[test]
    fn a_data_request_is_not_an_attachment_request() {
        let t = serde_json::json!({"resourceType": "Task", "code": {"coding": [
            {"system": "http://hl7.org/fhir/us/davinci-cdex/CodeSystem/cdex-temp", "code": "data-request-query"}]}});
        assert!(!is_attachment_request(&t));
    }
}
