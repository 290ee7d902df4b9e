//! The CDex Task Attachment Request the reference Payer POSTs to a Provider
//! (cdex-task-attachment-request, 2.1.0; requesting-attachments-code.html and
//! requesting-attachments-questionnaire.html): contained `#patient` (cdex-patient-demographics:
//! member id, name, birth date) and `#practitionerrole` (cdex-practitionerrole: practitioner
//! and/or organization identifier, cdex-3), `identifier:tracking-id`, status `requested`,
//! intent `order`, code `attachment-request-code` or `attachment-request-questionnaire`,
//! requester (the payer, by identifier), reasonCode `claim` | `preauthorization` and
//! reasonReference (the claim or prior authorization, by identifier), a due date, and the
//! inputs: `attachments-needed` (LOINC, with a paLineNumber) or `questionnaire-context`,
//! `payer-url` (its `$submit-attachment` endpoint), `service-date` (a claim: present and to
//! the day, cdex-1/cdex-2, CONF-012/079), `signature-flag` and `purpose-of-use` when asked.

use crate::actors::ActionRequest;
use serde_json::{Value, json};
use std::collections::BTreeSet;

pub const PROFILE: &str =
    "http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-task-attachment-request";
pub const PAS_TEMP: &str = "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes";
pub const PA_LINE_NUMBER: &str =
    "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-paLineNumber";
const CDEX_TEMP: &str = "http://hl7.org/fhir/us/davinci-cdex/CodeSystem/cdex-temp";
const CLAIM_USE: &str = "http://hl7.org/fhir/claim-use";
const V2_0203: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";
const ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
const HREX_TEMP: &str = "http://hl7.org/fhir/us/davinci-hrex/CodeSystem/hrex-temp";

/// The faults of the client side (the Task it POSTs and the endpoint it gives).
pub const CLIENT_FAULTS: &[(&str, &str)] = &[
    (
        "task-without-service-date",
        "leaves the service-date input out of a claim attachment request (cdex-1)",
    ),
    (
        "task-month-service-date",
        "gives a claim attachment request's service-date to the month only (2022-06, cdex-2)",
    ),
    (
        "task-not-attachment-profile",
        "asks for attachments with a CDex Task Data Request (data-request-code, data-code input, no payer-url)",
    ),
    (
        "task-no-tracking-id",
        "POSTs its attachment request without the tracking-id identifier (1..1)",
    ),
    (
        "task-no-line-number",
        "leaves the paLineNumber it was given out of attachments-needed (a must-support element)",
    ),
    (
        "task-drops-signature-flag",
        "leaves the signature-flag input out although it was asked to require signatures (a must-support element)",
    ),
    (
        "task-role-without-identifier",
        "names the Provider in its contained PractitionerRole by name only, no practitioner or organization identifier (cdex-3)",
    ),
    (
        "code-request-without-attachments-needed",
        "POSTs an attachment-request-code Task without an attachments-needed input (cdex-4)",
    ),
    (
        "questionnaire-request-without-context",
        "POSTs an attachment-request-questionnaire Task without a questionnaire-context input (cdex-5)",
    ),
    (
        "task-no-due-date",
        "leaves the due date it was given out of the Task (restriction.period.end, a must-support element)",
    ),
    (
        "questionnaire-with-attachments-needed",
        "adds an attachments-needed input to a questionnaire request (cdex-6)",
    ),
    (
        "endpoint-rejects-submit",
        "its payer-url endpoint answers every $submit-attachment with 501",
    ),
    (
        "endpoint-accepts-bad-signature",
        "its payer-url endpoint accepts attachments whose signature does not verify",
    ),
];

/// Everything the Task says, from the action's `with:`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachmentRequest {
    /// `code`: attachments-needed (LOINC); `questionnaire`: questionnaire-context.
    pub questionnaire: Option<String>,
    pub code: (String, String, Option<String>),
    pub line_item: Option<i64>,
    pub attach_to: String,
    pub tracking_id: (Option<String>, String),
    pub member: (Option<String>, String),
    pub family: String,
    pub given: String,
    pub birthdate: String,
    pub practitioner: Option<(Option<String>, String)>,
    pub organization: Option<(Option<String>, String)>,
    pub payer: (Option<String>, String),
    pub claim: (Option<String>, String),
    pub service_date: Option<String>,
    pub due: Option<String>,
    pub signature_flag: bool,
    pub pou: Option<String>,
}

fn opt<'a>(req: &'a ActionRequest, name: &str) -> Option<&'a str> {
    req.with
        .get(name)
        .map(|s| s.trim())
        .filter(|v| !v.is_empty() && *v != "none")
}

fn need<'a>(req: &'a ActionRequest, name: &str) -> Result<&'a str, String> {
    opt(req, name).ok_or_else(|| format!("action `{}` needs `{name}`", req.action))
}

/// `system|value` -> (Some(system), value); a bare value has no system.
pub fn split(s: &str) -> (Option<String>, String) {
    match s.split_once('|') {
        Some((sys, v)) if !sys.is_empty() => (Some(sys.to_string()), v.to_string()),
        Some((_, v)) => (None, v.to_string()),
        None => (None, s.to_string()),
    }
}

fn identifier((system, value): &(Option<String>, String)) -> Value {
    let mut id = json!({ "value": value });
    if let Some(s) = system {
        id["system"] = json!(s);
    }
    id
}

impl AttachmentRequest {
    pub fn from_action(req: &ActionRequest) -> Result<AttachmentRequest, String> {
        let kind = opt(req, "kind").unwrap_or("code");
        let questionnaire = match kind {
            "code" => None,
            "questionnaire" => Some(need(req, "questionnaire")?.to_string()),
            other => {
                return Err(format!(
                    "action `{}`: kind is `code` or `questionnaire`, not `{other}`",
                    req.action
                ));
            }
        };
        let attach_to = opt(req, "attach_to").unwrap_or("claim").to_string();
        if attach_to != "claim" && attach_to != "preauthorization" {
            return Err(format!(
                "action `{}`: attach_to is `claim` or `preauthorization`, not `{attach_to}`",
                req.action
            ));
        }
        let line_item = match opt(req, "line_item") {
            Some(l) => Some(l.parse::<i64>().map_err(|_| {
                format!("action `{}`: line_item `{l}` is not an integer", req.action)
            })?),
            None => None,
        };
        let practitioner = opt(req, "practitioner").map(split);
        let organization = opt(req, "organization").map(split);
        if practitioner.is_none() && organization.is_none() {
            return Err(format!(
                "action `{}` needs `practitioner` or `organization` (the Provider asked, system|value)",
                req.action
            ));
        }
        let member = match opt(req, "member_system") {
            Some(sys) => (Some(sys.to_string()), need(req, "member_id")?.to_string()),
            None => split(need(req, "member_id")?),
        };
        Ok(AttachmentRequest {
            questionnaire,
            code: (
                opt(req, "code_system")
                    .unwrap_or("http://loinc.org")
                    .to_string(),
                opt(req, "code").unwrap_or("11506-3").to_string(),
                opt(req, "display").map(str::to_string),
            ),
            line_item,
            attach_to,
            tracking_id: split(need(req, "tracking_id")?),
            member,
            family: opt(req, "family").unwrap_or("Shaw").to_string(),
            given: opt(req, "given").unwrap_or("Amy").to_string(),
            birthdate: opt(req, "birthdate").unwrap_or("1987-02-20").to_string(),
            practitioner,
            organization,
            payer: split(need(req, "payer")?),
            claim: split(need(req, "claim")?),
            service_date: opt(req, "service_date").map(str::to_string),
            due: opt(req, "due").map(str::to_string),
            signature_flag: opt(req, "signature_flag")
                .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "1")),
            pou: opt(req, "pou").map(str::to_string),
        })
    }

    /// The Task to POST, naming `payer_url`, with the faults switched on applied.
    pub fn task(&self, payer_url: &str, faults: &BTreeSet<String>, now: &str) -> Value {
        let fault = |f: &str| faults.contains(f);
        if fault("task-not-attachment-profile") {
            return self.data_request_task(now);
        }
        let mut role = json!({ "resourceType": "PractitionerRole", "id": "practitionerrole" });
        if fault("task-role-without-identifier") {
            role["practitioner"] = json!({ "display": "the attending physician" });
        } else {
            if let Some(p) = &self.practitioner {
                role["practitioner"] = json!({ "identifier": identifier(p) });
            }
            if let Some(o) = &self.organization {
                role["organization"] = json!({ "identifier": identifier(o) });
            }
        }
        let mut member = identifier(&self.member);
        member["type"] = json!({
            "coding": [{ "system": V2_0203, "code": "MB", "display": "Member Number" }],
            "text": "Member Number"
        });
        let patient = json!({
            "resourceType": "Patient",
            "id": "patient",
            "identifier": [member],
            "name": [{ "family": self.family, "given": [self.given] }],
            "birthDate": self.birthdate
        });
        let mut inputs = Vec::new();
        let needed = || {
            let (system, code, display) = &self.code;
            let mut coding = json!({ "system": system, "code": code });
            let mut cc = json!({});
            if let Some(d) = display {
                coding["display"] = json!(d);
                cc["text"] = json!(d);
            }
            cc["coding"] = json!([coding]);
            let mut input = json!({
                "type": { "coding": [{ "system": PAS_TEMP, "code": "attachments-needed" }] },
                "valueCodeableConcept": cc
            });
            if let Some(n) = self.line_item.filter(|_| !fault("task-no-line-number")) {
                input["extension"] = json!([{ "url": PA_LINE_NUMBER, "valueInteger": n }]);
            }
            input
        };
        match &self.questionnaire {
            None if fault("code-request-without-attachments-needed") => {}
            None => inputs.push(needed()),
            Some(_) if fault("questionnaire-request-without-context") => {}
            Some(q) => {
                let mut input = json!({
                    "type": { "coding": [{ "system": PAS_TEMP, "code": "questionnaire-context" }] },
                    "valueCanonical": q
                });
                if let Some(n) = self.line_item {
                    input["extension"] = json!([{ "url": PA_LINE_NUMBER, "valueInteger": n }]);
                }
                inputs.push(input);
                if fault("questionnaire-with-attachments-needed") {
                    inputs.push(needed());
                }
            }
        }
        inputs.push(json!({
            "type": { "coding": [{ "system": PAS_TEMP, "code": "payer-url" }] },
            "valueUrl": payer_url
        }));
        if self.attach_to == "claim" || self.service_date.is_some() {
            let date = self
                .service_date
                .clone()
                .unwrap_or_else(|| now[..10].to_string());
            let date = if fault("task-month-service-date") {
                date.chars().take(7).collect()
            } else {
                date
            };
            if !fault("task-without-service-date") {
                inputs.push(json!({
                    "type": { "coding": [{ "system": CDEX_TEMP, "code": "service-date" }] },
                    "valueDate": date
                }));
            }
        }
        if self.signature_flag && !fault("task-drops-signature-flag") {
            inputs.push(json!({
                "type": { "coding": [{ "system": CDEX_TEMP, "code": "signature-flag" }] },
                "valueBoolean": true
            }));
        }
        if let Some(pou) = &self.pou {
            inputs.push(json!({
                "type": { "coding": [{ "system": CDEX_TEMP, "code": "purpose-of-use" }] },
                "valueCodeableConcept": { "coding": [{ "system": ACT_REASON, "code": pou }] }
            }));
        }
        let (code, text) = match self.questionnaire {
            None => ("attachment-request-code", "Coded Attachment Request"),
            Some(_) => (
                "attachment-request-questionnaire",
                "Questionnaire Attachment Request",
            ),
        };
        let mut tracking = identifier(&self.tracking_id);
        tracking["type"] = json!({
            "coding": [{ "system": CDEX_TEMP, "code": "tracking-id", "display": "Tracking Id" }],
            "text": "Re-Association Tracking Control Number"
        });
        let mut task = json!({
            "resourceType": "Task",
            "meta": { "profile": [PROFILE] },
            "contained": [patient, role],
            "identifier": [tracking],
            "status": "requested",
            "intent": "order",
            "code": { "coding": [{ "system": PAS_TEMP, "code": code }], "text": text },
            "for": { "reference": "#patient" },
            "authoredOn": now,
            "requester": { "identifier": identifier(&self.payer) },
            "owner": { "reference": "#practitionerrole" },
            "reasonCode": {
                "coding": [{ "system": CLAIM_USE, "code": self.attach_to }],
                "text": self.attach_to
            },
            "reasonReference": { "identifier": identifier(&self.claim) },
            "input": inputs
        });
        if let Some(due) = self.due.as_ref().filter(|_| !fault("task-no-due-date")) {
            task["restriction"] = json!({ "period": { "end": due } });
        }
        if fault("task-no-tracking-id")
            && let Some(t) = task.as_object_mut()
        {
            t.remove("identifier");
        }
        task
    }

    /// What `task-not-attachment-profile` POSTs: a data request for the same document.
    fn data_request_task(&self, now: &str) -> Value {
        let (system, code, _) = &self.code;
        json!({
            "resourceType": "Task",
            "status": "requested",
            "intent": "order",
            "code": { "coding": [{ "system": CDEX_TEMP, "code": "data-request-code" }] },
            "for": { "identifier": identifier(&self.member) },
            "authoredOn": now,
            "requester": { "identifier": identifier(&self.payer) },
            "owner": { "identifier": identifier(self.practitioner.as_ref().or(self.organization.as_ref()).expect("checked")) },
            "reasonReference": { "identifier": identifier(&self.claim) },
            "input": [{
                "type": { "coding": [{ "system": HREX_TEMP, "code": "data-code" }] },
                "valueCodeableConcept": { "coding": [{ "system": system, "code": code }] }
            }]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::validate::Severity;
    use std::collections::BTreeMap;

    fn action(extra: &[(&str, &str)]) -> ActionRequest {
        let mut with: BTreeMap<String, String> = [
            ("tracking_id", "http://example.org/payer|trackingid123"),
            ("member_system", "http://example.org/cdex/payer/member-ids"),
            ("member_id", "Member123"),
            ("practitioner", "http://hl7.org/fhir/sid/us-npi|9941339100"),
            ("organization", "http://hl7.org/fhir/sid/us-npi|1234567893"),
            ("payer", "http://example.org/cdex/payer/payer-ids|Payer123"),
            ("claim", "http://example.org/cdex/payer/claim-ids|Claim123"),
            ("service_date", "2022-06-13"),
            ("line_item", "1"),
            ("due", "2022-06-21"),
            ("pou", "CLMATTCH"),
            ("signature_flag", "true"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            with.insert(k.to_string(), v.to_string());
        }
        ActionRequest {
            action: "request-attachments".into(),
            scenario: "t".into(),
            base_url: "http://h".into(),
            with,
            payload: None,
            vars: BTreeMap::new(),
        }
    }

    fn errors(task: &Value) -> Vec<String> {
        let v = crate::fhir::conformance::validator().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(v.validate_with_invariants(task, Some(PROFILE)))
            .into_iter()
            .filter(|i| i.severity == Severity::Error)
            .map(|i| format!("{} {}", i.location, i.message))
            .collect()
    }

    const NOW: &str = "2026-01-01T00:00:00Z";

    #[test]
    fn code_and_questionnaire_requests_conform() {
        let none = BTreeSet::new();
        for extra in [
            vec![],
            vec![("attach_to", "preauthorization"), ("service_date", "")],
            vec![
                ("kind", "questionnaire"),
                ("questionnaire", "http://example.org/q1"),
            ],
        ] {
            let r = AttachmentRequest::from_action(&action(&extra)).unwrap();
            let task = r.task("http://p/$submit-attachment", &none, NOW);
            assert_eq!(errors(&task), Vec::<String>::new(), "{extra:?}");
        }
    }

    #[test]
    fn faults_break_the_profile() {
        let r = AttachmentRequest::from_action(&action(&[])).unwrap();
        for f in [
            "task-without-service-date",
            "task-month-service-date",
            "task-not-attachment-profile",
            "task-no-tracking-id",
        ] {
            let faults: BTreeSet<String> = [f.to_string()].into();
            let task = r.task("http://p/$submit-attachment", &faults, NOW);
            assert!(
                !errors(&task).is_empty(),
                "{f} should make the Task invalid"
            );
        }
    }
}
