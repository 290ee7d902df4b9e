//! The named faults of the reference Data Source: each breaks one requirement the
//! `data-source-server` scenarios check, so the tests can prove that check fails (or warns).

/// (fault name, what goes wrong)
pub const FAULTS: &[(&str, &str)] = &[
    // Direct Query
    (
        "no-patient-search",
        "finds no Patient by member identifier (an empty searchset)",
    ),
    ("no-match", "answers POST Patient/$match with 501"),
    (
        "capability-xml-only",
        "declares only XML (format [xml]) in its CapabilityStatement",
    ),
    (
        "search-not-searchset",
        "answers searches with a `collection` Bundle",
    ),
    (
        "ignore-search-criteria",
        "ignores search criteria other than the patient (every Condition, Observation, document)",
    ),
    (
        "no-provenance",
        "ignores _revinclude=Provenance:target (no Provenance in results)",
    ),
    (
        "read-allowed-when-signed",
        "answers a read with the resource although signed results were pre-negotiated",
    ),
    (
        "refusal-without-outcome",
        "refuses a read under signatures with a bare 400, no OperationOutcome",
    ),
    (
        "no-read",
        "answers every read of a clinical resource or Patient with 404",
    ),
    (
        "json-as-xml",
        "labels its JSON answers `application/fhir+xml`",
    ),
    (
        "ignore-patient-scope",
        "takes a token scoped to one patient as a token for every patient (CONF-015)",
    ),
    // Task create
    ("reject-task-create", "answers every POST Task with 405"),
    (
        "create-200",
        "answers a Task create with 200 instead of 201",
    ),
    (
        "no-location",
        "answers a Task create without a Location header",
    ),
    (
        "accept-invalid-task",
        "accepts (201) a Task that violates the CDex Task Data Request profile",
    ),
    (
        "reject-unknown-extension",
        "refuses (422) a Task carrying an extension it does not know",
    ),
    // Task progress
    ("never-updates", "leaves every Task `requested` for ever"),
    (
        "status-draft",
        "moves a Task to `draft`, a status outside the HRex Task Status value set",
    ),
    (
        "failed-without-reason",
        "fails or rejects a Task without a statusReason",
    ),
    (
        "reason-without-text",
        "gives a failed or rejected Task's statusReason as a code without text",
    ),
    (
        "reject-reason-reference",
        "refuses (422) every Task whose reasonReference names a Claim or a Coverage",
    ),
    (
        "completed-without-output",
        "completes a Task without an output",
    ),
    (
        "intent-changes",
        "changes the Task's intent to `plan` when it updates it",
    ),
    (
        "output-not-served",
        "completes a Task with an output it does not serve (404 on read)",
    ),
    (
        "drop-requester",
        "loses the Task's requester when it updates it (a mandatory element)",
    ),
    (
        "complete-unknown-member",
        "completes (with an empty result) a Task about a member it does not know",
    ),
    (
        "complete-without-data",
        "completes (with an empty searchset) a query Task that has no data",
    ),
    (
        "no-task-profile-in-capability",
        "leaves CDex Task Data Request out of its CapabilityStatement's Task supportedProfile",
    ),
    // Subscriptions
    (
        "no-topic-in-capability",
        "leaves the SubscriptionTopic canonical extension out of its CapabilityStatement",
    ),
    (
        "reject-subscription",
        "answers every POST Subscription with 405",
    ),
    (
        "accept-unsupported-channel",
        "accepts Subscriptions on channels it cannot deliver on (anything but rest-hook)",
    ),
    ("no-notification", "never sends an event notification"),
    (
        "notify-full-resource",
        "puts the whole Task in notifications although the Subscription asked for id-only",
    ),
    (
        "notify-not-history",
        "sends notifications as `collection` Bundles instead of `history`",
    ),
    (
        "notify-wrong-focus",
        "names a Task that does not exist as the notification's focus",
    ),
    (
        "notify-ignore-filter",
        "notifies every Subscription, also for Tasks its filter excludes",
    ),
    // Signatures (option `signatures`, signing.rs)
    (
        "unsigned-results",
        "returns searchsets without a signature although signed results were pre-negotiated",
    ),
    (
        "signs-with-id-meta",
        "signs the Bundle with its id and meta (not removed before canonicalization)",
    ),
    (
        "tampered-after-signing",
        "changes the Bundle (its timestamp) after signing it",
    ),
    (
        "signs-not-jcs",
        "signs the Bundle's pretty-printed JSON instead of its RFC 8785 form",
    ),
    (
        "expired-cert",
        "signs with a certificate whose validity ended in 2021",
    ),
    (
        "no-san",
        "signs with a certificate without any Subject Alternative Name",
    ),
    (
        "wrong-san",
        "signs with a certificate whose SAN is another NPI than Signature.who.identifier",
    ),
    (
        "no-digital-signature-usage",
        "signs with a certificate whose KeyUsage lacks digitalSignature",
    ),
    (
        "untrusted-ca",
        "signs with a certificate from a CA the consumer does not trust",
    ),
    (
        "x5c-base64url",
        "puts its x5c certificates base64url-encoded instead of base64",
    ),
    ("no-kty", "leaves kty out of the JWS header"),
    ("no-alg", "leaves alg out of the JWS header"),
    (
        "sha512-alg",
        "signs with RS512 (SHA-512) where SHA-256 is recommended",
    ),
    ("no-sigT", "leaves sigT out of the JWS header"),
    ("sigT-mismatch", "puts a sigT an hour after Signature.when"),
    ("srCms-missing", "leaves srCms out of the JWS header"),
    (
        "srCms-wrong-id",
        "names another commitment (1.2.840.10065.1.12.1.1) in srCms than Signature.type",
    ),
    ("no-sigformat", "leaves Signature.sigFormat out"),
    ("no-targetformat", "leaves Signature.targetFormat out"),
    ("no-signature-type", "leaves Signature.type out"),
    (
        "attached-payload",
        "leaves the payload in the JWS (not detached)",
    ),
    (
        "data-not-base64",
        "puts the JWS in Signature.data base64url-encoded, not base64",
    ),
    (
        "ignore-signature-flag",
        "answers a Task whose signature-flag is true with its usual unsigned output",
    ),
];
