//! The detached compact JWS of `Signature.data`: decode, header checks, and the signature
//! over the re-inserted payload (base64url of the JCS form), verified with `ring`.

use super::cert::Certificate;
use super::jcs::canonicalize;
use super::{Report, Step};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::signature::{self as sig, UnparsedPublicKey};
use serde_json::Value;

/// JWS algorithms the verifier accepts (SHA-256 based, CONF-045).
pub const ALGORITHMS: [&str; 3] = ["RS256", "PS256", "ES256"];

/// A decoded compact JWS with a detached payload.
pub struct Jws {
    header_b64: String,
    header: Value,
    signature: Vec<u8>,
}

impl Jws {
    /// Decode `Signature.data` (base64 of `header..signature`); reports the parse step.
    pub fn from_signature_data(signature: &Value, report: &mut Report) -> Option<Jws> {
        let Some(data) = signature.get("data").and_then(Value::as_str) else {
            report.fail(Step::Parse, "Signature.data is missing");
            return None;
        };
        let compact: String = data.split_whitespace().collect();
        let text = match STANDARD.decode(compact.as_bytes()) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(t) => t,
                Err(_) => {
                    report.fail(Step::Parse, "Signature.data does not decode to text");
                    return None;
                }
            },
            Err(e) => {
                report.fail(Step::Parse, format!("Signature.data is not base64: {e}"));
                return None;
            }
        };
        let parts: Vec<&str> = text.trim().split('.').collect();
        let [header_b64, payload, signature_b64] = parts[..] else {
            report.fail(
                Step::Parse,
                format!(
                    "Signature.data is not a compact JWS (3 dot-separated parts; found {})",
                    parts.len()
                ),
            );
            return None;
        };
        if !payload.is_empty() {
            report.fail(
                Step::Parse,
                "the JWS payload is not detached (the part between the dots must be empty)",
            );
            return None;
        }
        let header = URL_SAFE_NO_PAD
            .decode(header_b64)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .filter(Value::is_object);
        let Some(header) = header else {
            report.fail(Step::Parse, "the JWS header is not base64url JSON object");
            return None;
        };
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature_b64) else {
            report.fail(Step::Parse, "the JWS signature part is not base64url");
            return None;
        };
        report.pass(
            Step::Parse,
            "Signature.data is a base64 detached compact JWS",
        );
        Some(Jws {
            header_b64: header_b64.to_string(),
            header,
            signature,
        })
    }

    fn alg(&self) -> Option<&str> {
        self.header.get("alg").and_then(Value::as_str)
    }

    /// Check `alg` and `x5c` and parse `x5c[0]`; reports the header step.
    pub fn check_header(&self, report: &mut Report) -> Option<Certificate> {
        let alg = match self.alg() {
            Some(a) if ALGORITHMS.contains(&a) => a,
            Some(a) => {
                report.fail(
                    Step::Header,
                    format!("alg {a} is not one of {}", ALGORITHMS.join(", ")),
                );
                return None;
            }
            None => {
                report.fail(Step::Header, "the JWS header has no alg (CONF-040)");
                return None;
            }
        };
        let first = self
            .header
            .get("x5c")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str);
        let Some(first) = first else {
            report.fail(
                Step::Header,
                "the JWS header has no x5c certificate array (CONF-042)",
            );
            return None;
        };
        let der = match STANDARD.decode(first) {
            Ok(der) => der,
            Err(e) => {
                report.fail(
                    Step::Header,
                    format!("x5c[0] is not base64 (standard alphabet, CONF-042): {e}"),
                );
                return None;
            }
        };
        match Certificate::parse(&der) {
            Ok(cert) => {
                report.pass(Step::Header, format!("alg {alg}; x5c[0]: {}", cert.subject));
                Some(cert)
            }
            Err(e) => {
                report.fail(
                    Step::Header,
                    format!("x5c[0] is not a DER certificate: {e}"),
                );
                None
            }
        }
    }

    /// Canonicalize `unsigned`, re-insert it as the payload and verify; on a mismatch, try
    /// with `id` and `meta` kept to tell a canonicalization mistake from tampering.
    pub fn check_signature(
        &self,
        unsigned: &Value,
        with_id_meta: &Value,
        cert: &Certificate,
        report: &mut Report,
    ) {
        let canonical = match canonicalize(unsigned) {
            Ok(c) => c,
            Err(e) => {
                report.fail(Step::Canonicalization, e);
                report.not_checked(Step::Signature, "not checked: no canonical payload");
                return;
            }
        };
        report.pass(
            Step::Canonicalization,
            format!(
                "RFC 8785 form of the resource minus id, meta and signature: {} bytes",
                canonical.len()
            ),
        );
        let alg = self.alg().unwrap_or_default();
        if self.verifies(&canonical, cert, alg) {
            report.pass(
                Step::Signature,
                format!("{alg} signature verifies with the x5c[0] key"),
            );
            return;
        }
        let kept = canonicalize(with_id_meta)
            .map(|c| self.verifies(&c, cert, alg))
            .unwrap_or(false);
        if kept {
            report.fail(
                Step::Signature,
                "does not verify over the resource minus id/meta/signature, but verifies with id \
                 and meta kept: the signer canonicalized the wrong content (CONF-034/035)",
            );
        } else {
            report.fail(
                Step::Signature,
                format!(
                    "{alg} signature does not verify with the x5c[0] key, with or without id and \
                     meta: the content was changed after signing (tampered) or signed by another key"
                ),
            );
        }
    }

    fn verifies(&self, canonical: &str, cert: &Certificate, alg: &str) -> bool {
        let input = format!(
            "{}.{}",
            self.header_b64,
            URL_SAFE_NO_PAD.encode(canonical.as_bytes())
        );
        let algorithm: &dyn sig::VerificationAlgorithm = match alg {
            "RS256" => &sig::RSA_PKCS1_2048_8192_SHA256,
            "PS256" => &sig::RSA_PSS_2048_8192_SHA256,
            "ES256" => &sig::ECDSA_P256_SHA256_FIXED,
            _ => return false,
        };
        UnparsedPublicKey::new(algorithm, &cert.public_key)
            .verify(input.as_bytes(), &self.signature)
            .is_ok()
    }
}
