//! The patient and clinical data the reference Data Source serves: one member's Patient, the
//! Conditions, HbA1c Observations, documents (with their Binary content) and Provenance the
//! IG's Direct Query and Task examples ask for. Built from the pack's settings (member
//! identifier, demographics, the LOINC document type) so the scenarios and the actor agree.
//! The IG's examples are its structural models; their values are not echoed (they do not
//! agree with each other).

use super::Settings;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// LOINC `34133-9` (Summary of episode note): the C-CDA document type it holds.
pub const CCDA_DOC_TYPE: &str = "34133-9";
/// LOINC `4548-4` (Hemoglobin A1c), the Observations it holds.
pub const HBA1C: &str = "4548-4";

/// A small, well-formed PDF (what `attachment.data` of a progress note decodes to).
pub fn pdf(title: &str) -> Vec<u8> {
    format!(
        "%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\n3 0 obj <</Title ({title})>> endobj\ntrailer <</Root 1 0 R /Info 3 0 R>>\n%%EOF\n"
    )
    .into_bytes()
}

/// A small C-CDA document.
pub fn ccda(patient: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
  <realmCode code="US"/>
  <templateId root="2.16.840.1.113883.10.20.22.1.1" extension="2015-08-01"/>
  <code code="{CCDA_DOC_TYPE}" codeSystem="2.16.840.1.113883.6.1" displayName="Summary of episode note"/>
  <title>Summary of episode note: {patient}</title>
</ClinicalDocument>
"#
    )
    .into_bytes()
}

pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn loinc(code: &str, display: &str) -> Value {
    json!({"coding": [{"system": "http://loinc.org", "code": code, "display": display}], "text": display})
}

/// Every resource it serves at start.
pub fn resources(s: &Settings) -> Vec<Value> {
    let patient = format!("Patient/{}", s.patient_id);
    let mut out = vec![json!({
        "resourceType": "Patient",
        "id": s.patient_id,
        "identifier": [{
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MB", "display": "Member Number"}]},
            "system": s.member_system,
            "value": s.member_id
        }],
        "name": [{"family": s.family, "given": [s.given]}],
        "gender": s.gender,
        "birthDate": s.birthdate
    })];
    let conditions = [
        (
            "cond-diabetes",
            "active",
            "44054006",
            "Type 2 diabetes mellitus",
            "2016-04-02",
        ),
        (
            "cond-hypertension",
            "active",
            "38341003",
            "Hypertensive disorder",
            "2018-11-20",
        ),
        (
            "cond-ankle-sprain",
            "resolved",
            "44465007",
            "Sprain of ankle",
            "2019-07-09",
        ),
    ];
    for (id, status, code, display, onset) in conditions {
        out.push(json!({
            "resourceType": "Condition",
            "id": id,
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}]},
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item", "display": "Problem List Item"}]}],
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": code, "display": display}], "text": display},
            "subject": {"reference": patient},
            "onsetDateTime": onset,
            "recordedDate": onset
        }));
        if status == "active" {
            out.push(json!({
                "resourceType": "Provenance",
                "id": format!("prov-{id}"),
                "target": [{"reference": format!("Condition/{id}")}],
                "recorded": format!("{onset}T09:30:00Z"),
                "agent": [{
                    "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "author", "display": "Author"}]},
                    "who": {"reference": "Practitioner/dss-practitioner-1"},
                    "onBehalfOf": {"reference": "Organization/dss-provider-org"}
                }]
            }));
        }
    }
    let a1c = [
        ("obs-hba1c-2019", "2019-03-12T10:21:08Z", 7.9),
        ("obs-hba1c-2020", "2020-06-18T09:02:11Z", 7.1),
        ("obs-hba1c-2021", "2021-09-02T14:45:00Z", 6.6),
    ];
    for (id, when, value) in a1c {
        out.push(json!({
            "resourceType": "Observation",
            "id": id,
            "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory", "display": "Laboratory"}]}],
            "code": loinc(HBA1C, "Hemoglobin A1c/Hemoglobin.total in Blood"),
            "subject": {"reference": patient},
            "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}
        }));
    }
    let notes = [
        ("doc-note-2020", "2020-06-18T09:30:00Z"),
        ("doc-note-2021", "2021-09-02T15:00:00Z"),
    ];
    for (id, when) in notes {
        let binary = format!("{id}-pdf");
        out.push(json!({
            "resourceType": "Binary",
            "id": binary,
            "contentType": "application/pdf",
            "data": b64(&pdf(&format!("Progress note {when}")))
        }));
        out.push(json!({
            "resourceType": "DocumentReference",
            "id": id,
            "status": "current",
            "type": loinc(&s.doc_type, "Clinical document"),
            "category": [{"coding": [{"system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category", "code": "clinical-note", "display": "Clinical Note"}]}],
            "subject": {"reference": patient},
            "date": when,
            "content": [{"attachment": {"contentType": "application/pdf", "url": format!("Binary/{binary}")}}],
            "context": {"period": {"start": when, "end": when}}
        }));
    }
    out.extend(other_patient(s));
    out.push(json!({
        "resourceType": "DocumentReference",
        "id": "doc-ccda-2021",
        "status": "current",
        "type": loinc(CCDA_DOC_TYPE, "Summary of episode note"),
        "category": [{"coding": [{"system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category", "code": "clinical-note", "display": "Clinical Note"}]}],
        "subject": {"reference": patient},
        "date": "2021-09-03T08:00:00Z",
        "content": [{
            "attachment": {"contentType": "application/xml", "data": b64(&ccda(&s.patient_id))},
            "format": {"system": "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode", "code": "urn:hl7-org:sdwg:ccda-structuredBody:2.1"}
        }],
        "context": {"period": {"start": "2021-09-03T08:00:00Z"}}
    }));
    out
}

/// A second member (`other_patient_id`) with an active Condition: the patient whose data a
/// token scoped to the first must not reach (CONF-015). Its demographics and member id
/// differ from the first's, so no search or `$match` about the first finds it.
fn other_patient(s: &Settings) -> Vec<Value> {
    let id = match s.other_patient_id.as_str() {
        "" | "none" => "cdex-dss-patient-2",
        given => given,
    };
    vec![
        json!({
            "resourceType": "Patient",
            "id": id,
            "identifier": [{
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MB", "display": "Member Number"}]},
                "system": s.member_system,
                "value": format!("{}-other", s.member_id)
            }],
            "name": [{"family": "Okafor", "given": ["Ben"]}],
            "gender": "male",
            "birthDate": "1975-05-11"
        }),
        json!({
            "resourceType": "Condition",
            "id": "cond-other-asthma",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item", "display": "Problem List Item"}]}],
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "195967001", "display": "Asthma"}], "text": "Asthma"},
            "subject": {"reference": format!("Patient/{id}")},
            "onsetDateTime": "2012-03-01",
            "recordedDate": "2012-03-01"
        }),
    ]
}
