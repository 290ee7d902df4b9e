//! Signed results (option `signatures`): every searchset Bundle is signed by the organisation
//! (a system signature, TestPki Valid, `Signature.who` = its NPI), and a Task data request whose
//! `signature-flag` input is true completes with a signed FHIR document Bundle. Faults break
//! one signer rule each (signatures.md, CONF-027..052, SIG-KTY); they are listed in
//! [`super::FAULTS`] under `// Signatures`.

use super::DataSource;
use crate::fhir::signature::{CertKind, SignOptions, sign};
use serde_json::{Value, json};

/// The organisation's `Signature.who`: its NPI identifier and name (cdex-13).
pub fn who(ds: &DataSource) -> Value {
    json!({
        "identifier": {
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NPI"}]},
            "system": "http://hl7.org/fhir/sid/us-npi",
            "value": ds.settings.signer_npi
        },
        "display": ds.settings.signer_name
    })
}

/// How it signs, its faults applied.
fn options(ds: &DataSource) -> SignOptions {
    let cert = [
        ("expired-cert", CertKind::Expired),
        ("no-san", CertKind::NoSan),
        ("wrong-san", CertKind::WrongSan),
        ("no-digital-signature-usage", CertKind::NoDigitalSignature),
        ("untrusted-ca", CertKind::Untrusted),
    ]
    .into_iter()
    .find(|(f, _)| ds.fault(f))
    .map(|(_, k)| k)
    .unwrap_or(CertKind::Valid);
    let mismatch = [
        ("signs-with-id-meta", "id-meta"),
        ("signs-not-jcs", "not-jcs"),
        ("x5c-base64url", "x5c-base64url"),
        ("no-kty", "kty"),
        ("no-alg", "alg"),
        ("sha512-alg", "RS512"),
        ("no-sigT", "sigT-missing"),
        ("sigT-mismatch", "sigT"),
        ("srCms-missing", "srCms-missing"),
        ("srCms-wrong-id", "srCms"),
        ("no-sigformat", "sigFormat"),
        ("no-targetformat", "targetFormat"),
        ("no-signature-type", "type"),
        ("attached-payload", "attached"),
        ("data-not-base64", "data-base64url"),
    ]
    .into_iter()
    .filter(|(f, _)| ds.fault(f))
    .map(|(_, m)| m.to_string())
    .collect();
    SignOptions {
        cert,
        who: who(ds),
        when: chrono::Utc::now(),
        tamper: ds.fault("tampered-after-signing"),
        mismatch,
    }
}

/// Sign a searchset (signed results pre-negotiated) in place.
pub fn sign_results(ds: &DataSource, bundle: &mut Value) {
    if !ds.settings.signatures_required || ds.fault("unsigned-results") {
        return;
    }
    sign_bundle(ds, bundle);
}

/// Sign a Bundle in place with the organisation's certificate (faults applied).
pub fn sign_bundle(ds: &DataSource, bundle: &mut Value) {
    if let Err(e) = sign(bundle, &options(ds)) {
        // The test PKI and the key are built in: this is a harness bug, shown in the data.
        bundle["signature"] = json!({"data": "", "_error": e});
    }
}

/// A FHIR document Bundle holding `resources` (a Composition first), about `patient`.
pub fn document(ds: &DataSource, id: &str, patient: &str, resources: &[Value]) -> Value {
    let base = ds.base();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let full_url = |r: &Value| {
        format!(
            "{base}/{}/{}",
            r["resourceType"].as_str().unwrap_or_default(),
            r["id"].as_str().unwrap_or_default()
        )
    };
    let patient_resource = ds.get("Patient", patient);
    let mut section_refs = Vec::new();
    let mut entries = Vec::new();
    for r in resources {
        section_refs.push(json!({"reference": full_url(r)}));
        entries.push(json!({"fullUrl": full_url(r), "resource": r}));
    }
    let composition = json!({
        "resourceType": "Composition",
        "id": format!("composition-{id}"),
        "status": "final",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11503-0", "display": "Medical records"}]},
        "subject": {"reference": format!("{base}/Patient/{patient}")},
        "date": now,
        "author": [{"display": ds.settings.signer_name}],
        "title": "Records released for the data request",
        "section": [{"title": "Requested data", "entry": section_refs}]
    });
    let mut all = vec![json!({
        "fullUrl": format!("{base}/Composition/composition-{id}"),
        "resource": composition
    })];
    if let Some(p) = patient_resource {
        all.push(json!({"fullUrl": format!("{base}/Patient/{patient}"), "resource": p}));
    }
    all.extend(entries);
    json!({
        "resourceType": "Bundle",
        "id": format!("signed-{id}"),
        "meta": {"lastUpdated": now},
        "identifier": {"system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{}", uuid_like(id))},
        "type": "document",
        "timestamp": now,
        "entry": all
    })
}

/// A stable UUID-shaped identifier from a Task id (no uuid crate needed for this).
fn uuid_like(id: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, id.as_bytes());
    let h: String = d.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
