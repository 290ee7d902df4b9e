//! Signing what the Provider submits when signatures are asked for (the Task's
//! `signature-flag`, or signed attachments agreed): the harness's test PKI
//! ([`crate::fhir::signature::TestPki`]), its valid certificate, `Signature.who` = the
//! identifier of the practitioner (or organization) the request names, so the certificate's
//! SAN matches it.

use crate::fhir::signature::{CertKind, SignOptions};
use serde_json::{Value, json};

/// Sign a document Bundle (`Bundle.signature`) or a QuestionnaireResponse (its signature
/// extension) in place, as `who` (an Identifier).
pub fn sign(resource: &mut Value, who: &Value) -> Result<(), String> {
    let opts = SignOptions {
        cert: CertKind::Valid,
        who: json!({"identifier": who}),
        ..SignOptions::default()
    };
    crate::fhir::signature::sign(resource, &opts)
}
