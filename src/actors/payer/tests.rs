//! The Payer endpoint answering requests directly (no mock server, no scenario).

use super::*;
use crate::fhir::signature::{SignOptions, sign};
use serde_json::json;

fn endpoint(settings: Value, faults: &[&str]) -> Endpoint {
    Endpoint::new(
        Settings::parse(&settings, "test").unwrap(),
        faults.iter().map(|f| f.to_string()).collect(),
    )
}

fn request(method: &str, path: &str, body: &Value) -> Message {
    Message {
        method: Some(method.into()),
        path: Some(path.into()),
        url: Some(format!("http://payer.example/{path}")),
        body: serde_json::to_vec(body).unwrap(),
        ..Message::default()
    }
}

/// The IG's cdex-parameters-example1 shape, with `content` as Attachment.Content.
fn parameters(tracking: &str, content: Value) -> Value {
    json!({"resourceType": "Parameters", "parameter": [
        {"name": "TrackingId", "valueIdentifier": {"system": "urn:t", "value": tracking}},
        {"name": "AttachTo", "valueCode": "claim"},
        {"name": "ProviderId", "valueIdentifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": "9941339108"}},
        {"name": "MemberId", "valueIdentifier": {"system": "urn:m", "value": "m1"}},
        {"name": "ServiceDate", "valueDateTime": "2022-06-16"},
        {"name": "Attachment", "part": [{"name": "Content", "resource": content}]}
    ]})
}

fn document_reference() -> Value {
    json!({"resourceType": "DocumentReference", "status": "current",
           "content": [{"attachment": {"contentType": "text/plain", "data": "aGVsbG8="}}]})
}

fn document_bundle() -> Value {
    json!({"resourceType": "Bundle", "type": "document", "timestamp": "2022-06-16T10:30:00Z",
           "identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:1"},
           "entry": [{"fullUrl": "urn:uuid:2", "resource": {"resourceType": "Composition",
               "status": "final", "type": {"text": "note"}, "date": "2022-06-16",
               "author": [{"display": "x"}], "title": "t"}}]})
}

#[test]
fn only_post_is_allowed() {
    let ep = endpoint(json!({}), &[]);
    let m = ep.handle(&request("GET", "$submit-attachment", &json!({})));
    assert_eq!(m.status, Some(405));
    assert_eq!(m.header("Allow"), Some("POST"));
    assert_eq!(m.json().unwrap()["resourceType"], "OperationOutcome");
    let m = ep.handle(&request("PUT", "%24submit-attachment", &json!({})));
    assert_eq!(m.status, Some(405));
}

#[test]
fn an_unknown_claim_is_held_and_a_known_one_accepted_quietly() {
    let ep = endpoint(json!({"known_claims": ["urn:t|known"]}), &[]);
    let m = ep.handle(&request(
        "POST",
        "$submit-attachment",
        &parameters("other", document_reference()),
    ));
    assert_eq!(m.status, Some(200));
    assert_eq!(m.json().unwrap()["issue"][0]["severity"], "information");
    let m = ep.handle(&request(
        "POST",
        "$submit-attachment",
        &parameters("known", document_reference()),
    ));
    assert_eq!(m.status, Some(200));
    assert!(m.body.is_empty());
    assert_eq!(ep.received().len(), 2);
}

#[test]
fn the_size_limit_is_asked_for_submissions_only() {
    let ep = endpoint(json!({"max_payload": "1048576"}), &[]);
    assert_eq!(ep.max_body("POST", "$submit-attachment"), Some(1048576));
    assert_eq!(ep.max_body("GET", "metadata"), None);
    let none = endpoint(json!({"max_payload": "none"}), &[]);
    assert_eq!(none.max_body("POST", "$submit-attachment"), None);
    let faulty = endpoint(json!({"max_payload": 10}), &["no-413"]);
    assert_eq!(faulty.max_body("POST", "$submit-attachment"), None);
}

#[test]
fn with_signatures_required_a_good_signature_passes_and_a_bad_one_is_400() {
    let ep = endpoint(
        json!({"signatures_required": true, "signature_rules": "ci-build"}),
        &[],
    );
    let unsigned = ep.handle(&request(
        "POST",
        "$submit-attachment",
        &parameters("t1", document_reference()),
    ));
    assert_eq!(unsigned.status, Some(400));
    let mut good = document_bundle();
    sign(&mut good, &SignOptions::default()).unwrap();
    let m = ep.handle(&request(
        "POST",
        "$submit-attachment",
        &parameters("t2", good),
    ));
    assert_eq!(m.status, Some(200), "{}", String::from_utf8_lossy(&m.body));
    let mut bad = document_bundle();
    sign(
        &mut bad,
        &SignOptions {
            tamper: true,
            ..SignOptions::default()
        },
    )
    .unwrap();
    let m = ep.handle(&request(
        "POST",
        "$submit-attachment",
        &parameters("t3", bad),
    ));
    assert_eq!(m.status, Some(400));
    let oo = m.json().unwrap();
    assert_eq!(oo["issue"][0]["code"], "business-rule");
    assert!(
        oo["issue"][0]["details"]["text"]
            .as_str()
            .unwrap()
            .contains("signature")
    );
}

#[test]
fn the_capability_statement_documents_size_and_final() {
    let ep = endpoint(json!({"max_payload": "1048576"}), &[]);
    let m = ep.handle(&request("GET", "metadata", &json!({})));
    let cs = m.json().unwrap();
    let op = &cs["rest"][0]["operation"][0];
    assert_eq!(op["definition"], capability::SUBMIT_ATTACHMENT);
    let doc = op["documentation"].as_str().unwrap();
    assert!(
        doc.contains("1048576 bytes") && doc.contains("Final"),
        "{doc}"
    );
}
