//! What a Provider attaches (`Attachment.Content`): a DocumentReference carrying a PDF inline
//! (base64, with its size and SHA-1 hash) or by URL, a QuestionnaireResponse (CDex SDC), or
//! Observations; signed when asked (a signed FHIR document Bundle around the document, or the
//! QuestionnaireResponse's own signature: data-source-sig-rules).

use crate::actors::data_source::dataset::{b64, pdf};
use serde_json::{Value, json};

pub const SDC_QR: &str =
    "http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-sdc-questionnaireresponse";

/// The kinds of content the reference Provider can send (`with: content`).
pub const KINDS: &[&str] = &[
    "document",
    "document-url",
    "questionnaire-response",
    "observations",
];

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// SHA-1 of the bytes, base64 (FHIR R4 `Attachment.hash`).
pub fn sha1_b64(bytes: &[u8]) -> String {
    b64(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, bytes).as_ref())
}

/// The LOINC code asked for, as a CodeableConcept (`http://loinc.org` unless a system is given).
pub fn loinc(code: &str) -> Value {
    json!({"coding": [{"system": "http://loinc.org", "code": code}]})
}

/// A DocumentReference about the member, of the type asked, its PDF inline (base64) or, with
/// `url`, by address.
pub fn document(id: &str, member: &Value, doc_type: &Value, url: Option<&str>) -> Value {
    let bytes = pdf("Attachment from the reference Provider (cdex-harness)");
    let attachment = match url {
        Some(u) => json!({"contentType": "application/pdf", "url": u, "title": "attachment.pdf"}),
        None => json!({
            "contentType": "application/pdf",
            "data": b64(&bytes),
            "size": bytes.len(),
            "hash": sha1_b64(&bytes),
            "title": "attachment.pdf"
        }),
    };
    let mut doc_type = doc_type.clone();
    if doc_type.get("coding").is_none() && doc_type.get("text").is_none() {
        doc_type = json!({"text": "Attachment"});
    }
    json!({
        "resourceType": "DocumentReference",
        "id": id,
        "status": "current",
        "type": doc_type,
        "category": [{"coding": [{"system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
            "code": "clinical-note", "display": "Clinical Note"}]}],
        "subject": {"identifier": member},
        "date": now(),
        "content": [{"attachment": attachment}]
    })
}

/// A completed QuestionnaireResponse (CDex SDC) answering the questionnaire for the member.
pub fn questionnaire_response(id: &str, canonical: &str, member: &Value, author: &Value) -> Value {
    json!({
        "resourceType": "QuestionnaireResponse",
        "id": id,
        "meta": {"profile": [SDC_QR]},
        "questionnaire": canonical,
        "status": "completed",
        "subject": {"identifier": member},
        "authored": now(),
        "author": {"identifier": author},
        "item": [
            {"linkId": "1", "text": "Relevant Patient Diagnoses",
                "answer": [{"valueString": "Answered by the reference Provider (cdex-harness)"}]},
            {"linkId": "2", "text": "Order Reason",
                "answer": [{"valueCoding": {"system": "http://example.org", "code": "4", "display": "Replacement"}}]}
        ]
    })
}

/// Observations (laboratory results) about the member: three, as the IG's example 4.
pub fn observations(member: &Value) -> Vec<Value> {
    [
        ("4548-4", "Hemoglobin A1c", 7.2, "%"),
        ("2339-0", "Glucose", 110.0, "mg/dL"),
        ("2093-3", "Cholesterol", 190.0, "mg/dL"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (code, display, value, unit))| {
        json!({
            "resourceType": "Observation",
            "id": format!("attachment-observation-{}", i + 1),
            "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]},
            "subject": {"identifier": member},
            "effectiveDateTime": now(),
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
        })
    })
    .collect()
}

/// A FHIR document Bundle (Composition first) holding the DocumentReference: what a signed
/// document travels in (the signature goes on `Bundle.signature`).
pub fn document_bundle(id: &str, doc: &Value, author: &Value) -> Value {
    let doc_id = doc["id"].as_str().unwrap_or("document");
    json!({
        "resourceType": "Bundle",
        "id": id,
        "identifier": {"system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{}", uuid_like(id))},
        "type": "document",
        "timestamp": now(),
        "entry": [
            {
                "fullUrl": format!("urn:uuid:{}", uuid_like(&format!("{id}-composition"))),
                "resource": {
                    "resourceType": "Composition",
                    "id": format!("{id}-composition"),
                    "status": "final",
                    "type": doc["type"].clone(),
                    "subject": doc["subject"].clone(),
                    "date": now(),
                    "author": [{"identifier": author}],
                    "title": "Attachment",
                    "section": [{"title": "Attachment", "entry": [
                        {"reference": format!("urn:uuid:{}", uuid_like(doc_id))}
                    ]}]
                }
            },
            {
                "fullUrl": format!("urn:uuid:{}", uuid_like(doc_id)),
                "resource": doc
            }
        ]
    })
}

/// A stable UUID-shaped string from a name (the SHA-256 of the name, in UUID layout).
fn uuid_like(name: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, name.as_bytes());
    let h: String = d.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_sha1_base64() {
        // RFC 3174's "abc".
        assert_eq!(sha1_b64(b"abc"), "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
    }

    #[test]
    fn a_document_carries_its_pdf_inline_or_by_url() {
        let m = json!({"system": "urn:m", "value": "1"});
        let d = document("d1", &m, &loinc("11506-3"), None);
        assert!(d.pointer("/content/0/attachment/data").is_some());
        let u = document(
            "d1",
            &m,
            &loinc("11506-3"),
            Some("https://p.example/Binary/1"),
        );
        assert!(u.pointer("/content/0/attachment/data").is_none());
        assert_eq!(uuid_like("x").len(), 36);
    }
}
