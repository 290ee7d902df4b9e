//! The reference Data Source's CapabilityStatement (`GET metadata`): what it supports, in
//! the terms of the IG's data-source-server CapabilityStatement (Task supportedProfile CDex
//! Task Data Request, Patient `$match`, the SubscriptionTopic canonical extension on
//! Subscription when it offers subscriptions).

use super::DataSource;
use crate::actors::notified_pull::TASK_TOPIC;
use serde_json::{Value, json};

/// The backport's CapabilityStatement extension naming a supported topic.
pub const EXT_TOPIC_CANONICAL: &str = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/capabilitystatement-subscriptiontopic-canonical";
pub const TASK_DATA_REQUEST: &str =
    "http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-task-data-request";

fn interactions(codes: &[&str]) -> Value {
    Value::Array(codes.iter().map(|c| json!({"code": c})).collect())
}

fn params(list: &[(&str, &str)]) -> Value {
    Value::Array(
        list.iter()
            .map(|(n, t)| json!({"name": n, "type": t}))
            .collect(),
    )
}

/// The Task profiles it declares: CDex Task Data Request, and CDex Task Attachment Request
/// when it takes attachment requests.
fn task_profiles(ds: &DataSource) -> Value {
    let mut list = Vec::new();
    if !ds.fault("no-task-profile-in-capability") {
        list.push(TASK_DATA_REQUEST);
    }
    if ds.settings.attachments && !ds.fault("no-attachment-profile-in-capability") {
        list.push(crate::actors::provider::request::TASK_ATTACHMENT_REQUEST);
    }
    json!(list)
}

pub fn statement(ds: &DataSource) -> Value {
    let read_search = ["read", "search-type"];
    let mut resources = vec![
        json!({
            "type": "Patient",
            "supportedProfile": ["http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-patient-demographics"],
            "interaction": interactions(&read_search),
            "searchParam": params(&[("identifier", "token"), ("name", "string"), ("family", "string"),
                ("given", "string"), ("birthdate", "date"), ("gender", "token")]),
            "operation": [{"name": "match", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-match"}]
        }),
        json!({
            "type": "Condition",
            "interaction": interactions(&read_search),
            "searchParam": params(&[("patient", "reference"), ("clinical-status", "token"), ("code", "token"), ("category", "token")]),
            "searchRevInclude": ["Provenance:target"]
        }),
        json!({
            "type": "Observation",
            "interaction": interactions(&read_search),
            "searchParam": params(&[("patient", "reference"), ("code", "token"), ("date", "date"), ("category", "token")]),
            "searchRevInclude": ["Provenance:target"]
        }),
        json!({
            "type": "DocumentReference",
            "interaction": interactions(&read_search),
            "searchParam": params(&[("patient", "reference"), ("type", "token"), ("category", "token"), ("date", "date"), ("period", "date")]),
            "searchRevInclude": ["Provenance:target"]
        }),
        json!({
            "type": "Provenance",
            "interaction": interactions(&read_search),
            "searchParam": params(&[("target", "reference")])
        }),
        json!({"type": "Binary", "interaction": interactions(&["read"])}),
        json!({
            "type": "Bundle",
            "interaction": interactions(&["read"]),
            "documentation": "Results of Task-based data requests (searchset Bundles)."
        }),
        json!({
            "type": "QuestionnaireResponse",
            "supportedProfile": ["http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-sdc-questionnaireresponse"],
            "interaction": interactions(&["read"])
        }),
        json!({
            "type": "Task",
            "supportedProfile": task_profiles(ds),
            "documentation": "Task-based data requests SHALL use the CDex Task Data Request profile. A Task is moved requested -> accepted -> in-progress -> completed, or failed/rejected with a statusReason.",
            "interaction": interactions(&["create", "read", "vread", "search-type", "history-instance"]),
            "searchParam": params(&[("_id", "token"), ("_lastUpdated", "date"), ("owner", "reference"),
                ("requester", "reference"), ("status", "token"), ("code", "token"), ("patient", "reference")]),
            "searchInclude": ["Task:output"]
        }),
    ];
    if ds.settings.attachments {
        resources.push(json!({
            "type": "PractitionerRole",
            "supportedProfile": ["http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-practitionerrole"],
            "documentation": "Contained in CDex Task Attachment Requests (the Provider asked)."
        }));
    }
    if ds.settings.subscriptions {
        let mut sub = json!({
            "type": "Subscription",
            "supportedProfile": ["http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription"],
            "interaction": interactions(&["create", "read"])
        });
        if !ds.fault("no-topic-in-capability") {
            sub["extension"] = json!([{"url": EXT_TOPIC_CANONICAL, "valueCanonical": TASK_TOPIC}]);
        }
        resources.push(sub);
    }
    let mut documentation = String::from("Reference CDex 2.1.0 Data Source (cdex-harness).");
    if ds.settings.signatures_required {
        documentation.push_str(
            " Signed results are pre-negotiated: reads of single resources are refused; use search.",
        );
    }
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-01-01",
        "kind": "instance",
        "software": {"name": "cdex-harness reference Data Source"},
        "implementation": {"description": documentation, "url": ds.base()},
        "instantiates": ["http://hl7.org/fhir/us/davinci-cdex/CapabilityStatement/data-source-server"],
        "fhirVersion": "4.0.1",
        "format": if ds.fault("capability-xml-only") { json!(["xml"]) } else { json!(["json"]) },
        "rest": [{
            "mode": "server",
            "resource": resources
        }]
    })
}
