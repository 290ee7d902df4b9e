//! Digital signature verification (CDex 2.1.0 signatures.md): the resource minus `id`, `meta`
//! and its signature, RFC 8785 canonicalized, signed as a detached compact JWS whose text is
//! base64-encoded into `Signature.data`; the certificate is `x5c[0]`.
//!
//! [`verify`] returns every step with its outcome, so a failure names the step that failed.

pub mod cert;
pub mod jcs;
pub mod jws;
mod steps;

pub use steps::{Outcome, Report, Step, StepResult};

use chrono::{DateTime, Utc};
use serde_json::Value;

/// The `url` of the QuestionnaireResponse signature extension.
pub const QR_SIGNATURE_EXT: &str =
    "http://hl7.org/fhir/StructureDefinition/questionnaireresponse-signature";

/// Verify the resource-level signature of a Bundle (`Bundle.signature`) or a
/// QuestionnaireResponse (its signature extension), judging certificate validity at `at`.
pub fn verify(resource: &Value, at: DateTime<Utc>) -> Report {
    let mut report = Report::default();
    let Some((signature, unsigned, kept)) = split_signature(resource, &mut report) else {
        return report.rest_not_checked();
    };
    let Some(token) = jws::Jws::from_signature_data(&signature, &mut report) else {
        return report.rest_not_checked();
    };
    let Some(certificate) = token.check_header(&mut report) else {
        return report.rest_not_checked();
    };
    token.check_signature(&unsigned, &kept, &certificate, &mut report);
    certificate.check_validity(at, &mut report);
    certificate.check_key_usage(&mut report);
    certificate.check_san(signature.pointer("/who/identifier/value"), &mut report);
    report
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
