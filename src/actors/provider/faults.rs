//! The named faults of the reference Provider: each breaks one requirement the attachments
//! scenarios check, so the tests can prove that check fails (or warns). The submission faults
//! ([`SUBMISSION_FAULTS`]) apply to both sides: the answer to an attachment request
//! (data-source-server) and the unsolicited submission (data-source-client).

use super::parameters::Submission;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Faults of the Provider's Data Source server (attachment requests and their answers).
pub const SERVER_FAULTS: &[(&str, &str)] = &[
    (
        "rejects-attachment-request",
        "refuses (422) every CDex Task Attachment Request",
    ),
    (
        "accepts-claim-without-service-date",
        "accepts a claim attachment request without a service-date input (cdex-1) and answers it",
    ),
    (
        "never-submits",
        "asked to answer an attachment request, does nothing (no $submit-attachment, the Task stays requested)",
    ),
    (
        "ignores-payer-url",
        "POSTs $submit-attachment to its own configured Payer endpoint ([origin]/fhir/$submit-attachment) instead of the Task's payer-url",
    ),
    (
        "fails-task-after-submit",
        "submits the attachments (the Payer takes them), then marks the Task failed",
    ),
    (
        "submits-for-unknown-member",
        "answers (and completes) a request about a member it does not know, with a made-up document",
    ),
    (
        "unsigned-when-flagged",
        "ignores the signature-flag input: the content it submits is not signed",
    ),
    (
        "drop-tracking-id",
        "loses the Task's tracking-id identifier (a mandatory element) when it updates the Task",
    ),
    (
        "no-attachment-profile-in-capability",
        "leaves CDex Task Attachment Request out of its CapabilityStatement's Task supportedProfile",
    ),
    (
        "document-for-questionnaire",
        "answers a questionnaire request with a DocumentReference instead of a QuestionnaireResponse",
    ),
    (
        "no-questionnaire-output",
        "completes a questionnaire request without the questionnaire-context output (cdex-10)",
    ),
    (
        "wrong-tracking-id",
        "echoes a tracking id of its own instead of the Task's tracking-id",
    ),
    (
        "wrong-attach-to",
        "submits a claim attachment as `preauthorization` (and the other way round)",
    ),
    (
        "wrong-payer-id",
        "echoes a payer identifier of its own instead of the Task's requester",
    ),
    (
        "wrong-member-id",
        "echoes a member identifier of its own instead of the contained Patient's",
    ),
    (
        "wrong-provider-ids",
        "swaps ProviderId and OrganizationId (the practitioner's and the organization's identifiers)",
    ),
    (
        "wrong-service-date",
        "submits the day after the Task's service-date",
    ),
    (
        "no-code",
        "leaves Attachment.Code out (the attachment code asked for)",
    ),
    (
        "no-line-item",
        "leaves Attachment.LineItem out (the claim line the code was asked for)",
    ),
    (
        "month-service-date",
        "gives ServiceDate to the month only (2026-01) for a claim",
    ),
    (
        "no-provider-or-org",
        "sends neither ProviderId nor OrganizationId",
    ),
    (
        "content-not-base64",
        "puts text that is not base64 in the DocumentReference's attachment.data",
    ),
];

/// Faults of the Provider's Data Source client (unsolicited `$submit-attachment`).
pub const CLIENT_FAULTS: &[(&str, &str)] = &[
    (
        "no-code",
        "leaves Attachment.Code out of unsolicited submissions",
    ),
    (
        "month-service-date",
        "gives ServiceDate to the month only (2026-01) for a claim",
    ),
    (
        "no-provider-or-org",
        "sends neither ProviderId nor OrganizationId",
    ),
    (
        "no-member-id",
        "leaves MemberId (1..1 in cdex-parameters-submit-attachment) out",
    ),
    (
        "xml-body",
        "sends the Parameters as FHIR XML (application/fhir+xml)",
    ),
    (
        "put-not-post",
        "invokes $submit-attachment with PUT instead of POST",
    ),
    (
        "empty-document",
        "sends a DocumentReference whose attachment has neither data nor url (us-core-6)",
    ),
    (
        "content-not-base64",
        "puts text that is not base64 in the DocumentReference's attachment.data",
    ),
    (
        "resubmits-after-4xx",
        "resubmits the unaltered Parameters at once when the Payer answers 4xx",
    ),
    (
        "unsigned-when-required",
        "sends its content unsigned although signed attachments were agreed (`signed: true`)",
    ),
];

/// Break the submission as the faults say.
pub fn apply(sub: &mut Submission, faults: &BTreeSet<String>) {
    let on = |f: &str| faults.contains(f);
    if on("wrong-tracking-id") {
        sub.tracking_id =
            json!({"system": "urn:cdex-harness:provider-tracking", "value": "provider-own-1"});
    }
    if on("wrong-attach-to") {
        sub.attach_to = if sub.attach_to == "claim" {
            "preauthorization".into()
        } else {
            "claim".into()
        };
    }
    if on("wrong-payer-id") {
        sub.payer_id =
            Some(json!({"system": "urn:cdex-harness:provider-payers", "value": "some-payer"}));
    }
    if on("wrong-member-id") {
        sub.member_id =
            json!({"system": "urn:cdex-harness:provider-accounts", "value": "account-42"});
    }
    if on("no-member-id") {
        sub.member_id = Value::Null;
    }
    if on("wrong-provider-ids") {
        std::mem::swap(&mut sub.provider_id, &mut sub.organization_id);
        if sub.provider_id.is_none() || sub.organization_id.is_none() {
            let one = sub.provider_id.take().or(sub.organization_id.take());
            sub.provider_id =
                Some(json!({"system": "http://hl7.org/fhir/sid/us-npi", "value": "1111111112"}));
            sub.organization_id = one;
        }
    }
    if on("no-provider-or-org") {
        sub.provider_id = None;
        sub.organization_id = None;
    }
    if on("wrong-service-date")
        && let Some(d) = &sub.service_date
        && let Ok(day) = chrono::NaiveDate::parse_from_str(&d[..d.len().min(10)], "%Y-%m-%d")
    {
        sub.service_date = Some((day + chrono::Days::new(1)).format("%Y-%m-%d").to_string());
    }
    if on("month-service-date") {
        let d = sub
            .service_date
            .clone()
            .unwrap_or_else(|| "2026-01-15".into());
        sub.service_date = Some(d.chars().take(7).collect());
    }
    for part in &mut sub.parts {
        if on("no-code") {
            part.code = None;
        }
        if on("no-line-item") {
            part.line_items.clear();
        }
        if let Some(att) = part.content.pointer_mut("/content/0/attachment") {
            if on("content-not-base64") && att.get("data").is_some() {
                att["data"] = json!("this is not base64: %PDF-1.4 ...");
            }
            if on("empty-document")
                && let Some(o) = att.as_object_mut()
            {
                o.remove("data");
                o.remove("url");
                o.remove("size");
                o.remove("hash");
            }
        }
    }
}
