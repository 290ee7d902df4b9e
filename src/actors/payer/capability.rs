//! The reference Payer's CapabilityStatement (`GET metadata`): the `$submit-attachment`
//! operation with, in its documentation, the payload size limit and Final support
//! (sending-attachments.html "Large Payloads", CONF-022), what it does with a payload too big
//! (CONF-024), and which contents it takes (OperationDefinition: "These capabilities SHOULD
//! be discoverable and documented by the server").

use super::Endpoint;
use serde_json::{Value, json};

pub const SUBMIT_ATTACHMENT: &str =
    "http://hl7.org/fhir/us/davinci-cdex/OperationDefinition/submit-attachment";
pub const DATA_CONSUMER_SERVER: &str =
    "http://hl7.org/fhir/us/davinci-cdex/CapabilityStatement/data-consumer-server";

/// The operation's documentation: size limit, Final, what to do when too big, contents.
pub fn documentation(ep: &Endpoint) -> String {
    let mut doc = String::from(
        "Submit claim and prior-authorization attachments (solicited and unsolicited). ",
    );
    if !ep.fault("no-size-in-capability") {
        match ep.settings.max_payload() {
            Some(n) => doc.push_str(&format!(
                "Payload size limit: {n} bytes ({}); a larger request is answered 413 Content Too Large. ",
                human(n)
            )),
            None => doc.push_str("Payload size limit: none of its own beyond the HTTP server's. "),
        }
        doc.push_str("When a payload is (or is anticipated to be) too big, send the document by url (DocumentReference.content.attachment.url) or split the attachments over several operations. ");
    }
    if !ep.fault("no-final-in-capability") {
        doc.push_str("The Final parameter is supported: Final = false announces more submissions for the same TrackingId; absent means true. ");
    }
    doc.push_str(
        "Attachment.Content: DocumentReference (attachment.data base64 or attachment.url), ",
    );
    if ep.settings.questionnaires {
        doc.push_str("QuestionnaireResponse (SDC), ");
    }
    doc.push_str("and any other FHIR resource.");
    if ep.settings.signatures_required() {
        doc.push_str(" Signatures are required: every Content is a signed Bundle or QuestionnaireResponse (JWS, x5c); one that is unsigned or does not verify is answered 400 + OperationOutcome.");
    }
    doc
}

pub fn statement(ep: &Endpoint) -> Value {
    let mut rest = json!({
        "mode": "server",
        "documentation": if ep.fault("no-operation-in-capability") {
            "Reference CDex 2.1.0 Payer (cdex-harness). JSON only."
        } else {
            "Reference CDex 2.1.0 Payer: the $submit-attachment endpoint for claim and prior-authorization attachments (cdex-harness). JSON only."
        },
        "resource": [
            {"type": "Parameters", "documentation": "The $submit-attachment input."},
            {"type": "DocumentReference", "documentation": "Attachment.Content (data or url)."},
            {"type": "QuestionnaireResponse", "supportedProfile": ["http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-sdc-questionnaireresponse"]}
        ]
    });
    if !ep.fault("no-operation-in-capability") {
        rest["operation"] = json!([{
            "name": "submit-attachment",
            "definition": SUBMIT_ATTACHMENT,
            "documentation": documentation(ep)
        }]);
    }
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-01-01",
        "kind": "instance",
        "software": {"name": "cdex-harness reference Payer"},
        "implementation": {"description": "Reference CDex 2.1.0 Payer (Data Consumer server)", "url": ep.base()},
        "instantiates": [DATA_CONSUMER_SERVER],
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [rest]
    })
}

/// 1048576 -> "1 MiB", 2000000 -> "1.91 MiB".
fn human(n: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= MIB {
        format!("{:.2} MiB", n as f64 / MIB as f64)
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}
