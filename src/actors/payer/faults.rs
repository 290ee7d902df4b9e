//! The named faults of the reference Payer endpoint (`data-consumer-server`): each breaks one
//! requirement the data-consumer-server scenarios check, so the tests can prove that check
//! fails (a SHALL) or warns (a SHOULD, a reading).

/// (fault name, what goes wrong)
pub const FAULTS: &[(&str, &str)] = &[
    // The operation itself
    (
        "accepts-get",
        "answers GET and PUT on $submit-attachment as if they were a POST (200)",
    ),
    (
        "rejects-submit",
        "answers every POST $submit-attachment with 501 (it does not support the operation)",
    ),
    (
        "no-outcome-on-error",
        "answers its 4xx errors with an empty body, no OperationOutcome",
    ),
    // What it accepts
    (
        "accepts-missing-member",
        "does not validate the Parameters against cdex-parameters-submit-attachment (accepts one without MemberId or TrackingId)",
    ),
    (
        "accepts-no-provider",
        "accepts a submission with neither ProviderId nor OrganizationId",
    ),
    (
        "accepts-month-service-date",
        "accepts a claim attachment whose ServiceDate is not precise to the day (2022-06)",
    ),
    (
        "accepts-claim-without-service-date",
        "accepts a claim attachment without a ServiceDate",
    ),
    (
        "rejects-docref-data",
        "refuses (422) a DocumentReference whose attachment carries inline base64 data",
    ),
    (
        "rejects-docref-url",
        "refuses (422) a DocumentReference whose attachment gives a url",
    ),
    (
        "rejects-questionnaire-response",
        "refuses (422) a QuestionnaireResponse as Attachment.Content",
    ),
    (
        "rejects-observation-content",
        "refuses (422) every Attachment.Content that is neither a DocumentReference nor a QuestionnaireResponse",
    ),
    (
        "rejects-unknown-extension",
        "refuses (422) Parameters carrying an extension it does not know",
    ),
    (
        "rejects-not-final",
        "refuses (422) a submission with Final = false (it expects one submission)",
    ),
    (
        "no-held-outcome",
        "accepts attachments for a claim it does not know with a bare 200, no informational OperationOutcome",
    ),
    // Size
    (
        "no-413",
        "has no size limit of its own: a payload over its documented limit is processed (no 413)",
    ),
    (
        "no-size-in-capability",
        "leaves the size limit out of its CapabilityStatement's operation documentation",
    ),
    (
        "no-final-in-capability",
        "leaves Final support out of its CapabilityStatement's operation documentation",
    ),
    (
        "no-operation-in-capability",
        "does not declare $submit-attachment in its CapabilityStatement",
    ),
    // Signatures (signatures required)
    (
        "accepts-unsigned",
        "accepts an unsigned attachment although signatures are required",
    ),
    (
        "accepts-bad-signature",
        "accepts an attachment whose signature does not verify (does not verify signatures at all)",
    ),
    (
        "bad-signature-422",
        "refuses an attachment whose signature does not verify with 422 instead of 400",
    ),
    (
        "rejects-valid-signature",
        "refuses (400) every signed attachment, even one whose signature verifies",
    ),
    (
        "ignores-expiry",
        "does not check the signing certificate's validity period",
    ),
    (
        "ignores-san",
        "does not check that a Subject Alternative Name matches Signature.who.identifier (CONF-053)",
    ),
    (
        "ignores-srcms",
        "does not check that the srCms commitments match Signature.type (CONF-054)",
    ),
    (
        "ignores-sigt",
        "does not check that the sigT header matches Signature.when (CONF-055)",
    ),
    (
        "ignores-trust",
        "accepts a signing certificate from any issuer (no trust anchor check)",
    ),
];
