//! The CDex Task Data Request the reference Data Consumer POSTs (cdex-task-data-request):
//! status `requested`, intent `order`, a code of cdex-data-request-task-code, the member,
//! authoredOn, requester and owner, exactly one of the data-query / data-code / questionnaire
//! inputs (cdex-7/8/9/12), the purpose of use when given (with an alternate code for a
//! `*-noe` one, CONF-083), and the claim behind the request in `reasonReference` (CONF-058).

use super::{REQUEST_DATA_CODE, REQUEST_DATA_FREE_TEXT, REQUEST_DATA_QUESTIONNAIRE, opt, param};
use crate::actors::ActionRequest;
use serde_json::{Value, json};
use std::collections::BTreeSet;

pub const PROFILE: &str =
    "http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-task-data-request";
pub const CDEX_TEMP: &str = "http://hl7.org/fhir/us/davinci-cdex/CodeSystem/cdex-temp";
pub const HREX_TEMP: &str = "http://hl7.org/fhir/us/davinci-hrex/CodeSystem/hrex-temp";
pub const SDC_TEMP: &str = "http://hl7.org/fhir/uv/sdc/CodeSystem/temp";
pub const ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
const V2_0203: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";

/// What is asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Ask {
    /// A FHIR query after the base (`Condition?patient=...`).
    Query(String),
    /// A coded document or data type (LOINC by default).
    Code {
        system: String,
        code: String,
        display: Option<String>,
    },
    /// Free text (a data-code with text only).
    FreeText(String),
    /// The canonical URL of a (DTR) Questionnaire.
    Questionnaire(String),
}

impl Ask {
    fn task_code(&self) -> &'static str {
        match self {
            Ask::Query(_) => "data-request-query",
            Ask::Code { .. } | Ask::FreeText(_) => "data-request-code",
            Ask::Questionnaire(_) => "data-request-questionnaire",
        }
    }
}

/// Everything the Task says, from the action's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct DataRequest {
    pub ask: Ask,
    /// Member identifier (system, value): `Task.for.identifier`.
    pub member: (String, String),
    /// `requester` and `owner`: `system|value` (an identifier) or `Type/id` (a reference).
    pub requester: String,
    pub owner: String,
    /// The claim behind the request (`system|value`), when known.
    pub claim: Option<String>,
    /// Else the coverage behind it (`system|value`): `reasonReference` of type Coverage.
    pub coverage: Option<String>,
    /// Purpose of use: a code (of cdex-temp for the `*-noe` and CDex codes, else v3-ActReason).
    pub pou: Option<String>,
    /// The alternate code a `*-noe` purpose of use comes with (default: its HIPAA parent).
    pub pou_alternate: Option<String>,
    /// The `signature-flag` input (the results must be signed).
    pub signature_flag: bool,
}

impl DataRequest {
    /// From an action's `with:` (see `docs/actions.md`).
    pub fn from_action(req: &ActionRequest) -> Result<DataRequest, String> {
        let ask = match req.action.as_str() {
            REQUEST_DATA_CODE => Ask::Code {
                system: opt(req, "code_system")
                    .unwrap_or("http://loinc.org")
                    .to_string(),
                code: param(req, "code")?.to_string(),
                display: opt(req, "display").map(str::to_string),
            },
            REQUEST_DATA_FREE_TEXT => Ask::FreeText(param(req, "text")?.to_string()),
            REQUEST_DATA_QUESTIONNAIRE => {
                Ask::Questionnaire(param(req, "questionnaire")?.to_string())
            }
            _ => Ask::Query(param(req, "query")?.to_string()),
        };
        Ok(DataRequest {
            ask,
            member: (
                param(req, "member_system")?.to_string(),
                param(req, "member_id")?.to_string(),
            ),
            requester: param(req, "requester")?.to_string(),
            owner: param(req, "owner")?.to_string(),
            claim: opt(req, "claim").map(str::to_string),
            coverage: opt(req, "coverage").map(str::to_string),
            pou: opt(req, "pou").map(str::to_string),
            pou_alternate: opt(req, "pou_alternate").map(str::to_string),
            signature_flag: super::flag(req, "signature_flag"),
        })
    }

    /// The Task to POST, with the faults switched on applied; `now` is its authoredOn.
    pub fn task(&self, faults: &BTreeSet<String>, now: &str) -> Value {
        let fault = |f: &str| faults.contains(f);
        let mut inputs = vec![self.ask_input(fault)];
        if fault("two-data-inputs") {
            inputs.push(match &self.ask {
                Ask::Query(q) => data_code(json!({ "text": q })),
                _ => data_query("DocumentReference?status=current"),
            });
        }
        if let Some(pou) = self.pou.as_deref().filter(|_| !fault("no-pou")) {
            inputs.push(self.pou_input(pou, fault("pou-noe-without-alternate")));
        }
        if self.signature_flag {
            inputs.push(json!({
                "type": { "coding": [{ "system": CDEX_TEMP, "code": "signature-flag" }] },
                "valueBoolean": true
            }));
        }
        let mut task = json!({
            "resourceType": "Task",
            "meta": { "profile": [PROFILE] },
            "status": if fault("status-draft") { "draft" } else { "requested" },
            "intent": if fault("no-intent-order") { "plan" } else { "order" },
            "code": { "coding": [{ "system": CDEX_TEMP, "code": self.ask.task_code() }] },
            "for": { "identifier": {
                "system": self.member.0,
                "type": { "coding": [{ "system": V2_0203, "code": "MB", "display": "Member Number" }],
                          "text": "Member Number" },
                "value": self.member.1
            }},
            "authoredOn": now,
            "requester": party(&self.requester),
            "owner": party(&self.owner),
            "input": inputs,
        });
        if fault("no-authored-on")
            && let Some(t) = task.as_object_mut()
        {
            t.remove("authoredOn");
        }
        if !fault("no-reason-reference")
            && let Some(reason) = self.reason(fault("claim-only"))
        {
            task["reasonReference"] = reason;
        }
        task
    }

    /// `reasonReference`: the claim (by identifier), else the coverage.
    fn reason(&self, claim_only: bool) -> Option<Value> {
        let (kind, text, given) = match (&self.claim, &self.coverage) {
            (Some(c), _) => ("Claim", "Payer Claim ID", c),
            (None, Some(c)) if !claim_only => ("Coverage", "Coverage ID", c),
            _ => return None,
        };
        let (system, value) = split_identifier(given);
        let mut id = json!({
            "type": { "coding": [{ "system": V2_0203, "code": "FILL", "display": "Filler Identifier" }],
                      "text": text },
            "value": value
        });
        if let Some(s) = system {
            id["system"] = json!(s);
        }
        Some(json!({ "type": kind, "identifier": id }))
    }

    fn ask_input(&self, fault: impl Fn(&str) -> bool) -> Value {
        match &self.ask {
            Ask::Query(q) if fault("query-request-with-code") => data_code(json!({ "text": q })),
            Ask::Query(q) => data_query(q),
            Ask::Code { system, code, .. } if fault("code-request-with-query") => {
                data_query(&format!("DocumentReference?type={system}|{code}"))
            }
            Ask::Code {
                system,
                code,
                display,
            } => {
                let mut coding = json!({ "system": system, "code": code });
                let mut cc = json!({});
                if let Some(d) = display {
                    coding["display"] = json!(d);
                    cc["text"] = json!(d);
                }
                cc["coding"] = json!([coding]);
                data_code(cc)
            }
            Ask::FreeText(t) => data_code(json!({ "text": t })),
            Ask::Questionnaire(q) if fault("questionnaire-request-with-code") => {
                data_code(json!({ "text": format!("the answers to {q}") }))
            }
            Ask::Questionnaire(q) => json!({
                "type": { "coding": [{ "system": SDC_TEMP, "code": "questionnaire" }] },
                "valueCanonical": q
            }),
        }
    }

    fn pou_input(&self, pou: &str, drop_alternate: bool) -> Value {
        let mut codings = vec![json!({ "system": pou_system(pou), "code": pou })];
        let alternate = self.pou_alternate.as_deref().or(match pou {
            "payment-noe" => Some("HPAYMT"),
            "treatment-noe" => Some("TREAT"),
            "operations-noe" => Some("HOPERAT"),
            _ => None,
        });
        if let Some(alt) = alternate.filter(|_| !drop_alternate) {
            codings.push(json!({ "system": pou_system(alt), "code": alt }));
        }
        json!({
            "type": { "coding": [{ "system": CDEX_TEMP, "code": "purpose-of-use" }] },
            "valueCodeableConcept": { "coding": codings }
        })
    }
}

fn data_query(q: &str) -> Value {
    json!({
        "type": { "coding": [{ "system": HREX_TEMP, "code": "data-query" }] },
        "valueString": q
    })
}

fn data_code(cc: Value) -> Value {
    json!({
        "type": { "coding": [{ "system": HREX_TEMP, "code": "data-code" }] },
        "valueCodeableConcept": cc
    })
}

/// The CDex POU codes are lower-case with hyphens (cdex-temp); the HL7 ones are upper-case.
fn pou_system(code: &str) -> &'static str {
    if code.chars().any(|c| c.is_ascii_lowercase()) {
        CDEX_TEMP
    } else {
        ACT_REASON
    }
}

/// `system|value` -> (Some(system), value); a bare value has no system.
fn split_identifier(s: &str) -> (Option<&str>, &str) {
    match s.split_once('|') {
        Some((sys, v)) if !sys.is_empty() => (Some(sys), v),
        Some((_, v)) => (None, v),
        None => (None, s),
    }
}

/// A requester or owner: a reference (`Organization/x`, a URL) or an identifier
/// (`system|value`).
fn party(s: &str) -> Value {
    if s.contains('|') {
        let (system, value) = split_identifier(s);
        let mut id = json!({ "value": value });
        if let Some(sys) = system {
            id["system"] = json!(sys);
        }
        json!({ "identifier": id })
    } else {
        json!({ "reference": s })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::validate::Severity;

    fn request(ask: Ask) -> DataRequest {
        DataRequest {
            ask,
            member: (
                "http://example.org/cdex/payer/member-ids".into(),
                "Member123".into(),
            ),
            requester: "http://example.org/cdex/payer/payer-ids|Payer123".into(),
            owner: "http://hl7.org/fhir/sid/us-npi|9941339108".into(),
            claim: Some("http://example.org/cdex/payer/claim-ids|Claim123".into()),
            coverage: None,
            pou: Some("payment-noe".into()),
            pou_alternate: None,
            signature_flag: false,
        }
    }

    fn errors(task: &Value) -> Vec<String> {
        let v = crate::fhir::conformance::validator().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(v.validate_with_invariants(task, Some("cdex-task-data-request")))
            .into_iter()
            .filter(|i| i.severity == Severity::Error)
            .map(|i| format!("{} {}", i.location, i.message))
            .collect()
    }

    fn asks() -> Vec<Ask> {
        vec![
            Ask::Query("Condition?patient=p1&clinical-status=active".into()),
            Ask::Code {
                system: "http://loinc.org".into(),
                code: "11506-3".into(),
                display: Some("Progress note".into()),
            },
            Ask::FreeText("the patient's active conditions".into()),
            Ask::Questionnaire("http://example.org/cdex-questionnaire-example1".into()),
        ]
    }

    #[test]
    fn every_request_validates_against_cdex_task_data_request() {
        for ask in asks() {
            let task = request(ask.clone()).task(&BTreeSet::new(), "2026-01-01T00:00:00Z");
            assert_eq!(errors(&task), Vec::<String>::new(), "{ask:?}");
            assert_eq!(task["status"], "requested");
            assert_eq!(task["intent"], "order");
            assert_eq!(task["reasonReference"]["identifier"]["value"], "Claim123");
            let pou = &task["input"][1]["valueCodeableConcept"]["coding"];
            assert_eq!(pou[0]["code"], "payment-noe");
            assert_eq!(pou[1]["code"], "HPAYMT");
        }
    }

    #[test]
    fn input_faults_break_their_invariant() {
        let cases = [
            ("two-data-inputs", 0, "cdex-9"),
            ("query-request-with-code", 0, "cdex-12"),
            ("code-request-with-query", 1, "cdex-7"),
            ("questionnaire-request-with-code", 3, "cdex-8"),
        ];
        for (fault, ask, key) in cases {
            let faults = BTreeSet::from([fault.to_string()]);
            let task = request(asks()[ask].clone()).task(&faults, "2026-01-01T00:00:00Z");
            let errs = errors(&task);
            assert!(errs.iter().any(|e| e.contains(key)), "{fault}: {errs:?}");
        }
    }

    #[test]
    fn content_faults() {
        let t = |f: &str| {
            request(asks()[0].clone()).task(&BTreeSet::from([f.to_string()]), "2026-01-01")
        };
        assert_eq!(t("status-draft")["status"], "draft");
        assert_eq!(t("no-intent-order")["intent"], "plan");
        assert!(t("no-reason-reference").get("reasonReference").is_none());
        let mut by_coverage = request(asks()[0].clone());
        by_coverage.claim = None;
        by_coverage.coverage = Some("urn:cov|C1".into());
        let task = by_coverage.task(&BTreeSet::new(), "2026-01-01");
        assert_eq!(task["reasonReference"]["type"], "Coverage");
        assert_eq!(errors(&task), Vec::<String>::new());
        let only = by_coverage.task(&BTreeSet::from(["claim-only".to_string()]), "2026-01-01");
        assert!(only.get("reasonReference").is_none());
        assert_eq!(t("no-pou")["input"].as_array().unwrap().len(), 1);
        let pou = &t("pou-noe-without-alternate")["input"][1]["valueCodeableConcept"]["coding"];
        assert_eq!(pou.as_array().unwrap().len(), 1);
    }

    #[test]
    fn parties_are_identifiers_or_references() {
        assert_eq!(
            party("Organization/o1"),
            json!({"reference": "Organization/o1"})
        );
        assert_eq!(
            party("urn:x|v"),
            json!({"identifier": {"system": "urn:x", "value": "v"}})
        );
        assert_eq!(pou_system("COVERAGE"), ACT_REASON);
        assert_eq!(pou_system("payment-noe"), CDEX_TEMP);
    }
}
