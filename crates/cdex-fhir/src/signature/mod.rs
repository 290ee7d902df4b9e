//! Digital signature verification (CDex 2.1.0 signatures.md): the resource minus `id`, `meta`
//! and its signature, RFC 8785 canonicalized, signed as a detached compact JWS whose text is
//! base64-encoded into `Signature.data`; the certificate is `x5c[0]`.
//!
//! [`verify_with`] returns every step with its outcome, so a failure names the step that
//! failed; [`sign`] makes signatures (good and deliberately bad) with the harness's test PKI
//! ([`TestPki`]).

pub mod cert;
pub mod jcs;
pub mod jws;
pub mod pki;
pub mod sign;
mod steps;

pub use pki::{CertKind, TestPki};
pub use sign::{SignOptions, sign};
pub use steps::{Outcome, Report, Step, StepResult};

use chrono::{DateTime, Utc};
use serde_json::Value;

/// The `url` of the QuestionnaireResponse signature extension.
pub const QR_SIGNATURE_EXT: &str =
    "http://hl7.org/fhir/StructureDefinition/questionnaireresponse-signature";

/// How to verify: when certificate validity is judged, under which rule set, trusting which
/// anchors.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// Judge the certificate's validity at this time (now, or a past time for archives).
    pub at: DateTime<Utc>,
    /// `"2.1.0"` (the publication: `kty: RS` required, CI-build rules only warn) or
    /// `"ci-build"` (sigT, srCms, sigFormat, targetFormat and SAN = who required; no kty), or
    /// `"all"` (both enforced: a run that judges every requirement as its verb says).
    pub rules: String,
    /// DER trust anchors; none: the chain is checked but trust is not judged. Callers that
    /// trust the harness's own signatures add `TestPki::shared().ca_der()`.
    pub trust: Vec<Vec<u8>>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            at: Utc::now(),
            rules: "2.1.0".to_string(),
            trust: Vec::new(),
        }
    }
}

impl VerifyOptions {
    /// The CI-build rules (sigT, srCms, sigFormat, targetFormat, SAN = who) fail when broken.
    pub fn is_ci_build(&self) -> bool {
        self.rules == "ci-build" || self.rules == "all"
    }

    /// The 2.1.0-only rule `kty: RS` is judged.
    pub fn judges_kty(&self) -> bool {
        self.rules != "ci-build"
    }

    /// The rule set of a run judged by `rules` (RunConfig.rules): `ci-build` when it is among
    /// them, `2.1.0` otherwise, and `all` for a run that names none (every requirement as its
    /// verb says).
    pub fn rules_of_run(rules: &[String]) -> String {
        if rules.is_empty() {
            "all".to_string()
        } else if rules.iter().any(|r| r == "ci-build") {
            "ci-build".to_string()
        } else {
            "2.1.0".to_string()
        }
    }
}

/// Verify under 2.1.0 rules without trust anchors, judging certificate validity at `at`.
pub fn verify(resource: &Value, at: DateTime<Utc>) -> Report {
    verify_with(
        resource,
        &VerifyOptions {
            at,
            ..VerifyOptions::default()
        },
    )
}

/// Verify the resource-level signature of a Bundle (`Bundle.signature`) or a
/// QuestionnaireResponse (its signature extension).
/// A QuestionnaireResponse item (an object with `linkId` and no `resourceType`) is verified as
/// an item-level signature ([`verify_item`]).
pub fn verify_with(resource: &Value, opts: &VerifyOptions) -> Report {
    if resource.get("resourceType").is_none() && resource.get("linkId").is_some() {
        return verify_item(resource, opts);
    }
    let mut report = Report::default();
    let Some((signature, unsigned, kept)) = split_signature(resource, &mut report) else {
        return report.rest_not_checked();
    };
    verify_signature(&signature, &unsigned, &kept, opts, report)
}

/// Verify an item-level signature of a QuestionnaireResponse: `item` (a QR item carrying the
/// signature extension) minus its `id` and that extension (CONF-036).
pub fn verify_item(item: &Value, opts: &VerifyOptions) -> Report {
    let mut report = Report::default();
    let mut unsigned = item.clone();
    let Some(obj) = unsigned.as_object_mut() else {
        report.fail(Step::Parse, "the item is not a JSON object");
        return report.rest_not_checked();
    };
    let Some(signature) = take_qr_signature(obj) else {
        report.fail(Step::Parse, "the item has no signature extension");
        return report.rest_not_checked();
    };
    let kept = unsigned.clone();
    if let Some(obj) = unsigned.as_object_mut() {
        obj.remove("id");
    }
    verify_signature(&signature, &unsigned, &kept, opts, report)
}

fn verify_signature(
    signature: &Value,
    unsigned: &Value,
    kept: &Value,
    opts: &VerifyOptions,
    mut report: Report,
) -> Report {
    let Some(token) = jws::Jws::from_signature_data(signature, &mut report) else {
        return report.rest_not_checked();
    };
    let usable_alg = token.check_alg_kty(opts, &mut report);
    let signer = token.check_x5c(&mut report);
    token.check_ci_rules(signature, opts, &mut report);
    let Some(signer) = signer else {
        return report.rest_not_checked();
    };
    if usable_alg {
        token.check_signature(unsigned, kept, &signer.certificate, &mut report);
    }
    let certificate = &signer.certificate;
    certificate.check_validity(opts.at, &mut report);
    certificate.check_key_usage(&mut report);
    certificate.check_san(
        signature.pointer("/who/identifier/value"),
        opts.is_ci_build(),
        &mut report,
    );
    cert::check_trust(&signer.chain, &opts.trust, &mut report);
    report.rest_not_checked()
}

/// The Signature, the resource as it was signed (minus id, meta and the signature), and the
/// resource minus only the signature (to tell a canonicalization mistake from tampering).
fn split_signature(resource: &Value, report: &mut Report) -> Option<(Value, Value, Value)> {
    let kind = resource.get("resourceType").and_then(Value::as_str);
    let mut unsigned = resource.clone();
    let Some(obj) = unsigned.as_object_mut() else {
        report.fail(Step::Parse, "not a JSON object");
        return None;
    };
    let signature = match kind {
        Some("Bundle") => obj.remove("signature"),
        Some("QuestionnaireResponse") => take_qr_signature(obj),
        Some(other) => {
            report.fail(
                Step::Parse,
                format!("a {other} carries no signature this verifier reads (Bundle or QuestionnaireResponse)"),
            );
            return None;
        }
        None => {
            report.fail(Step::Parse, "not a FHIR resource (no resourceType)");
            return None;
        }
    };
    let Some(signature) = signature else {
        report.fail(
            Step::Parse,
            format!("the {} has no signature", kind.unwrap_or_default()),
        );
        return None;
    };
    let kept = unsigned.clone();
    if let Some(obj) = unsigned.as_object_mut() {
        obj.remove("id");
        obj.remove("meta");
    }
    Some((signature, unsigned, kept))
}

/// Remove the QuestionnaireResponse's signature extension; its `valueSignature`.
fn take_qr_signature(obj: &mut serde_json::Map<String, Value>) -> Option<Value> {
    let extensions = obj.get_mut("extension")?.as_array_mut()?;
    let at = extensions
        .iter()
        .position(|e| e.get("url").and_then(Value::as_str) == Some(QR_SIGNATURE_EXT))?;
    let ext = extensions.remove(at);
    if extensions.is_empty() {
        obj.remove("extension");
    }
    ext.get("valueSignature").cloned()
}
