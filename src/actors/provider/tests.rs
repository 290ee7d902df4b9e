//! The reference Provider end to end: an attachment request POSTed, kept without being
//! answered, then answered to a listening "Payer" with an echoing Parameters.

use super::*;
use crate::http::Message;
use crate::mock::{Handler, MockServer, fhir_response};
use serde_json::json;

/// A Payer endpoint that takes anything with 200.
struct Payer;

impl Handler for Payer {
    fn handle(&self, _req: &Message) -> Message {
        fhir_response(
            200,
            &json!({"resourceType": "OperationOutcome", "issue": [
            {"severity": "information", "code": "informational", "diagnostics": "received"}]}),
        )
    }
    fn seed(&self, _r: Value) -> Result<String, String> {
        Err("no".into())
    }
}

fn task(payer_url: &str, member: &str, signed: bool) -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/cdex-2.1/data-source-server/attachments/fixtures/att-claim.json"
    );
    let text = std::fs::read_to_string(path).expect("the fixture");
    let text = [
        (
            "{{member_system}}",
            "http://example.org/cdex/payer/member-ids",
        ),
        ("{{prov_member_id}}", member),
        ("{{patient_family}}", "Shaw"),
        ("{{patient_given}}", "Amy"),
        ("{{patient_birthdate}}", "1987-02-20"),
        ("{{prov_provider_npi}}", "9941339108"),
        ("{{prov_organization_npi}}", "1407071236"),
        ("{{prov_tracking_system}}", "urn:t"),
        ("{{prov_tracking_id}}", "track-1"),
        ("{{prov_payer_system}}", "urn:p"),
        ("{{prov_payer_id}}", "payer-1"),
        ("{{prov_claim_system}}", "urn:c"),
        ("{{prov_claim_id}}", "claim-1"),
        ("{{prov_loinc}}", "11506-3"),
        ("{{prov_service_date}}", "2026-01-02"),
        ("{{harness_url}}/$submit-attachment", payer_url),
    ]
    .iter()
    .fold(text, |t, (k, v)| t.replace(k, v));
    let mut t: Value = serde_json::from_str(&text).expect("JSON");
    if signed {
        t["input"].as_array_mut().unwrap().push(json!({
            "type": {"coding": [{"system": request::CDEX_TEMP, "code": "signature-flag"}]},
            "valueBoolean": true}));
    }
    t
}

fn post_task(h: &Arc<dyn Handler>, t: &Value) -> Message {
    h.handle(&Message {
        method: Some("POST".into()),
        path: Some("Task".into()),
        headers: vec![("Content-Type".into(), "application/fhir+json".into())],
        body: serde_json::to_vec(t).unwrap(),
        ..Message::default()
    })
}

fn get(h: &Arc<dyn Handler>, path: &str) -> Value {
    h.handle(&Message {
        method: Some("GET".into()),
        path: Some(path.into()),
        ..Message::default()
    })
    .json()
    .expect("JSON")
}

fn action(task: &str) -> ActionRequest {
    ActionRequest {
        action: "answer-attachment-request".into(),
        scenario: "t".into(),
        base_url: String::new(),
        with: [("task".to_string(), task.to_string())].into(),
        payload: None,
        vars: Default::default(),
    }
}

fn param<'a>(p: &'a Value, name: &str) -> &'a Value {
    p["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == name)
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn an_attachment_request_is_kept_then_answered_with_an_echo() {
    let payer = MockServer::start("127.0.0.1:0".parse().unwrap(), Arc::new(Payer))
        .await
        .expect("listens");
    let url = format!("{}/$submit-attachment", payer.base_url());
    let actor = build_server(&json!({}), Default::default()).expect("builds");
    let h = actor.server.clone().unwrap();
    let created = post_task(&h, &task(&url, "cdex-member-1", false));
    assert_eq!(
        created.status,
        Some(201),
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let location = created.header("location").expect("Location").to_string();
    assert!(location.ends_with("/_history/1"), "{location}");
    let id = created.json().unwrap()["id"].as_str().unwrap().to_string();
    // Never answered by itself.
    for _ in 0..3 {
        assert_eq!(get(&h, &format!("Task/{id}"))["status"], "requested");
    }
    assert!(payer.recorder().since(0).is_empty());
    actor
        .client
        .clone()
        .unwrap()
        .perform(action(&format!("Task/{id}")))
        .await
        .expect("answered");
    let sent = payer.recorder().since(0);
    assert_eq!(sent.len(), 1);
    let p = sent[0].request.json().unwrap();
    assert_eq!(
        param(&p, "TrackingId")["valueIdentifier"]["value"],
        "track-1"
    );
    assert_eq!(param(&p, "AttachTo")["valueCode"], "claim");
    assert_eq!(param(&p, "PayerId")["valueIdentifier"]["value"], "payer-1");
    assert_eq!(
        param(&p, "ProviderId")["valueIdentifier"]["value"],
        "9941339108"
    );
    assert_eq!(
        param(&p, "OrganizationId")["valueIdentifier"]["value"],
        "1407071236"
    );
    assert_eq!(
        param(&p, "MemberId")["valueIdentifier"]["value"],
        "cdex-member-1"
    );
    assert_eq!(param(&p, "ServiceDate")["valueDateTime"], "2026-01-02");
    let errors: Vec<_> = crate::fhir::conformance::check(&p, "cdex-parameters-submit-attachment")
        .await
        .expect("validator")
        .into_iter()
        .filter(|i| i.severity == crate::fhir::validate::issue::Severity::Error)
        .map(|i| format!("{}: {}", i.location, i.message))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let done = get(&h, &format!("Task/{id}"));
    assert_eq!(done["status"], "completed");
    let errors: Vec<_> = crate::fhir::conformance::check(&done, request::TASK_ATTACHMENT_REQUEST)
        .await
        .expect("validator")
        .into_iter()
        .filter(|i| i.severity == crate::fhir::validate::issue::Severity::Error)
        .map(|i| format!("{}: {}", i.location, i.message))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let history = get(&h, &format!("Task/{id}/_history"));
    assert_eq!(history["total"], 3);
}

#[tokio::test]
async fn an_unknown_member_is_rejected_and_nothing_is_sent() {
    let payer = MockServer::start("127.0.0.1:0".parse().unwrap(), Arc::new(Payer))
        .await
        .expect("listens");
    let url = format!("{}/$submit-attachment", payer.base_url());
    let actor = build_server(&json!({}), Default::default()).expect("builds");
    let h = actor.server.clone().unwrap();
    let created = post_task(&h, &task(&url, "nobody", false));
    assert_eq!(created.status, Some(201));
    actor
        .client
        .clone()
        .unwrap()
        .perform(action("next"))
        .await
        .expect("answered");
    assert!(payer.recorder().since(0).is_empty());
    let id = created.json().unwrap()["id"].as_str().unwrap().to_string();
    let t = get(&h, &format!("Task/{id}"));
    assert_eq!(t["status"], "rejected");
    assert!(t.pointer("/statusReason/text").is_some());
}

#[test]
fn a_claim_without_service_date_is_refused() {
    let actor = build_server(&json!({}), Default::default()).expect("builds");
    let h = actor.server.clone().unwrap();
    let mut t = task(
        "http://127.0.0.1:9/$submit-attachment",
        "cdex-member-1",
        false,
    );
    t["input"]
        .as_array_mut()
        .unwrap()
        .retain(|i| i.pointer("/type/coding/0/code") != Some(&json!("service-date")));
    assert_eq!(post_task(&h, &t).status, Some(422));
    // The plain Data Source does not take attachment requests.
    let plain = crate::actors::data_source::build(&json!({}), Default::default())
        .unwrap()
        .server
        .unwrap();
    let ok = task(
        "http://127.0.0.1:9/$submit-attachment",
        "cdex-member-1",
        false,
    );
    assert_eq!(post_task(&plain, &ok).status, Some(422));
}

#[test]
fn an_unsolicited_submission_is_built_from_the_steps_with() {
    let with: std::collections::BTreeMap<String, String> = [
        ("attach_to", "preauthorization"),
        ("tracking_id", "urn:t|t-1"),
        ("member_id", "urn:m|m-1"),
        ("payer_id", "urn:p|p-1"),
        ("code", "18842-5"),
        ("line_item", "1, 2"),
        ("content", "observations"),
        ("final", "false"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let req = ActionRequest {
        action: "submit-attachment".into(),
        scenario: "t".into(),
        base_url: "http://127.0.0.1:9".into(),
        with,
        payload: None,
        vars: Default::default(),
    };
    let sub = client::submission(&client::Settings::default(), &req).expect("built");
    let p = sub.to_parameters();
    assert_eq!(param(&p, "AttachTo")["valueCode"], "preauthorization");
    assert_eq!(param(&p, "TrackingId")["valueIdentifier"]["value"], "t-1");
    assert_eq!(param(&p, "ServiceDate"), &Value::Null);
    assert_eq!(param(&p, "Final")["valueBoolean"], false);
    let attachments: Vec<&Value> = p["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["name"] == "Attachment")
        .collect();
    assert_eq!(attachments.len(), 3, "one per Observation");
    assert_eq!(attachments[0]["part"][1]["valueString"], "2");
    let mut bad = req.clone();
    bad.with.insert("content".into(), "video".into());
    assert!(client::submission(&client::Settings::default(), &bad).is_err());
}
