//! The signer: a Bundle (`Bundle.signature`) or a QuestionnaireResponse (its signature
//! extension) signed as CDex 2.1.0 and the CI build say (signatures.md, "Sender/Signer Steps"):
//! the resource minus `id`, `meta` and the signature, RFC 8785 canonical form, detached compact
//! JWS RS256 whose header carries `alg`, `kty` (2.1.0), `typ`, `x5c` (leaf then CA, base64 DER),
//! `sigT` (= `Signature.when`), `srCms` (= `Signature.type`) and `kid`; the JWS text base64
//! encoded into `Signature.data`. Options make deliberately wrong signatures for negative tests.

use super::jcs::canonicalize;
use super::pki::{CertKind, TestPki};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// `Signature.type` system and code (Verification Signature, ASTM E1762-95(2013)).
pub const SIGNATURE_TYPE_SYSTEM: &str = "urn:iso-astm:E1762-95:2013";
pub const VERIFICATION_SIGNATURE: &str = "1.2.840.10065.1.12.1.5";
/// `Signature.sigFormat` (CI build: fixed).
pub const SIG_FORMAT: &str = "application/jose";
/// `Signature.targetFormat` (CI build: fixed): JSON canonicalized by RFC 8785.
pub const TARGET_FORMAT: &str =
    "application/fhir+json;canonicalization=http://hl7.org/fhir/canonicalization/json#document";
/// The NPI of the default signer.
pub const DEFAULT_SIGNER_NPI: &str = "9941339108";

/// The deliberate faults `SignOptions::mismatch` knows (for negative vectors).
pub const MISMATCHES: [&str; 16] = [
    "sigT",           // header sigT differs from Signature.when (one hour later)
    "sigT-missing",   // no sigT header
    "srCms",          // srCms names another commitment (1.2.840.10065.1.12.1.1) than Signature.type
    "srCms-missing",  // no srCms header
    "kty",            // no kty header
    "alg",            // no alg header
    "RS512",          // alg RS512 (SHA-512, where SHA-256 is a SHOULD)
    "x5c-base64url",  // x5c certificates base64url-encoded instead of base64
    "x5c-missing",    // no x5c header
    "sigFormat",      // no Signature.sigFormat
    "targetFormat",   // no Signature.targetFormat
    "type",           // no Signature.type
    "id-meta",        // id and meta kept in the signed content (a canonicalization mistake)
    "not-jcs",        // the payload serialized as is, not RFC 8785 canonical
    "attached",       // the payload left in the JWS (not detached)
    "data-base64url", // Signature.data base64url-encoded (the JWS text not base64 encoded again)
];

/// How to sign.
#[derive(Clone, Debug)]
pub struct SignOptions {
    /// Which certificate signs.
    pub cert: CertKind,
    /// `Signature.who` (a Reference bearing an identifier); the leaf's SAN is made to match
    /// `who.identifier.value` (except WrongSan).
    pub who: Value,
    /// `Signature.when` and the `sigT` header.
    pub when: DateTime<Utc>,
    /// Alter the content after signing.
    pub tamper: bool,
    /// Header and element faults, names from [`MISMATCHES`].
    pub mismatch: Vec<String>,
}

impl Default for SignOptions {
    fn default() -> Self {
        SignOptions {
            cert: CertKind::Valid,
            who: json!({
                "identifier": {
                    "type": {"coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                        "code": "NPI"
                    }]},
                    "system": "http://hl7.org/fhir/sid/us-npi",
                    "value": DEFAULT_SIGNER_NPI
                },
                "display": "cdex-harness test signer"
            }),
            when: Utc::now(),
            tamper: false,
            mismatch: Vec::new(),
        }
    }
}

impl SignOptions {
    fn has(&self, m: &str) -> bool {
        self.mismatch.iter().any(|x| x == m)
    }
}

/// Sign a Bundle (Bundle.signature) or a QuestionnaireResponse (its signature extension) in
/// place, replacing any signature it had.
pub fn sign(resource: &mut Value, opts: &SignOptions) -> Result<(), String> {
    if let Some(unknown) = opts
        .mismatch
        .iter()
        .find(|m| !MISMATCHES.contains(&m.as_str()))
    {
        return Err(format!(
            "unknown signature mismatch {unknown:?} (known: {})",
            MISMATCHES.join(", ")
        ));
    }
    let kind = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let obj = resource
        .as_object_mut()
        .ok_or("only a JSON object can be signed")?;
    match kind.as_str() {
        "Bundle" => {
            obj.remove("signature");
        }
        "QuestionnaireResponse" => {
            remove_qr_signature(obj);
        }
        other => {
            return Err(format!(
                "only a Bundle or a QuestionnaireResponse can be signed, not {other:?}"
            ));
        }
    }
    let mut content = Value::Object(obj.clone());
    if !opts.has("id-meta")
        && let Some(c) = content.as_object_mut()
    {
        c.remove("id");
        c.remove("meta");
    }
    let signature = signature_for(&content, opts)?;
    match kind.as_str() {
        "Bundle" => {
            obj.insert("signature".into(), signature);
        }
        _ => {
            let ext = json!({"url": super::QR_SIGNATURE_EXT, "valueSignature": signature});
            match obj.get_mut("extension").and_then(Value::as_array_mut) {
                Some(list) => list.push(ext),
                None => {
                    obj.insert("extension".into(), json!([ext]));
                }
            }
        }
    }
    if opts.tamper {
        tamper(resource, &kind);
    }
    Ok(())
}

/// Remove the QR signature extension (and an `extension` array left empty).
fn remove_qr_signature(obj: &mut serde_json::Map<String, Value>) {
    if let Some(list) = obj.get_mut("extension").and_then(Value::as_array_mut) {
        list.retain(|e| e.get("url").and_then(Value::as_str) != Some(super::QR_SIGNATURE_EXT));
        if list.is_empty() {
            obj.remove("extension");
        }
    }
}

/// Change the signed content the way a careless intermediary would: a changed timestamp
/// (Bundle) or authored date (QuestionnaireResponse).
fn tamper(resource: &mut Value, kind: &str) {
    let field = if kind == "Bundle" {
        "timestamp"
    } else {
        "authored"
    };
    resource[field] = json!("2001-02-03T04:05:06Z");
}

/// The `Signature` (with `data`) over `content` (already without id/meta/signature).
pub fn signature_for(content: &Value, opts: &SignOptions) -> Result<Value, String> {
    let npi = opts
        .who
        .pointer("/identifier/value")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_SIGNER_NPI);
    let leaf = TestPki::shared().leaf(opts.cert, npi)?;
    let when = opts.when.to_rfc3339_opts(SecondsFormat::Millis, true);
    let encode = |der: &Vec<u8>| {
        if opts.has("x5c-base64url") {
            URL_SAFE_NO_PAD.encode(der)
        } else {
            STANDARD.encode(der)
        }
    };
    let mut header = serde_json::Map::new();
    let rs512 = opts.has("RS512");
    if !opts.has("alg") {
        header.insert("alg".into(), json!(if rs512 { "RS512" } else { "RS256" }));
    }
    if !opts.has("kty") {
        header.insert("kty".into(), json!("RS"));
    }
    header.insert("typ".into(), json!("JOSE"));
    if !opts.has("x5c-missing") {
        header.insert(
            "x5c".into(),
            json!(leaf.chain.iter().map(encode).collect::<Vec<_>>()),
        );
    }
    header.insert(
        "kid".into(),
        json!(hex(ring::digest::digest(
            &ring::digest::SHA256,
            &leaf.chain[0]
        )
        .as_ref())),
    );
    if !opts.has("sigT-missing") {
        let sig_t = if opts.has("sigT") {
            (opts.when + chrono::Duration::hours(1)).to_rfc3339_opts(SecondsFormat::Millis, true)
        } else {
            when.clone()
        };
        header.insert("sigT".into(), json!(sig_t));
    }
    if !opts.has("srCms-missing") {
        let id = if opts.has("srCms") {
            "urn:oid:1.2.840.10065.1.12.1.1"
        } else {
            "urn:oid:1.2.840.10065.1.12.1.5"
        };
        header.insert(
            "srCms".into(),
            json!([{"commId": {"id": id, "desc": "Verification Signature"}}]),
        );
    }
    let header_b64 = URL_SAFE_NO_PAD.encode(Value::Object(header).to_string());
    let payload = if opts.has("not-jcs") {
        serde_json::to_string_pretty(content).map_err(|e| e.to_string())?
    } else {
        canonicalize(content)?
    };
    let payload_b64 = URL_SAFE_NO_PAD.encode(payload.as_bytes());
    let key = ring::signature::RsaKeyPair::from_pkcs8(TestPki::shared().signer_key())
        .map_err(|e| format!("test signer key: {e}"))?;
    let mut sig = vec![0; key.public().modulus_len()];
    let padding: &dyn ring::signature::RsaEncoding = if rs512 {
        &ring::signature::RSA_PKCS1_SHA512
    } else {
        &ring::signature::RSA_PKCS1_SHA256
    };
    key.sign(
        padding,
        &ring::rand::SystemRandom::new(),
        format!("{header_b64}.{payload_b64}").as_bytes(),
        &mut sig,
    )
    .map_err(|e| format!("RS256 signing failed: {e}"))?;
    let middle = if opts.has("attached") {
        payload_b64.as_str()
    } else {
        ""
    };
    let jws = format!("{header_b64}.{middle}.{}", URL_SAFE_NO_PAD.encode(sig));
    let data = if opts.has("data-base64url") {
        URL_SAFE_NO_PAD.encode(jws)
    } else {
        STANDARD.encode(jws)
    };
    let mut signature = serde_json::Map::new();
    if !opts.has("type") {
        signature.insert(
            "type".into(),
            json!([{
                "system": SIGNATURE_TYPE_SYSTEM,
                "code": VERIFICATION_SIGNATURE,
                "display": "Verification Signature"
            }]),
        );
    }
    signature.insert("when".into(), json!(when));
    signature.insert("who".into(), opts.who.clone());
    if !opts.has("targetFormat") {
        signature.insert("targetFormat".into(), json!(TARGET_FORMAT));
    }
    if !opts.has("sigFormat") {
        signature.insert("sigFormat".into(), json!(SIG_FORMAT));
    }
    signature.insert("data".into(), json!(data));
    Ok(Value::Object(signature))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
