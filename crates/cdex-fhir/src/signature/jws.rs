//! The detached compact JWS of `Signature.data`: decode, header checks, and the signature
//! over the re-inserted payload (base64url of the JCS form), verified with `ring`.

use super::cert::Certificate;
use super::jcs::canonicalize;
use super::sign::{SIG_FORMAT, TARGET_FORMAT, VERIFICATION_SIGNATURE};
use super::{Report, Step, VerifyOptions};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::DateTime;
use ring::signature::{self as sig, UnparsedPublicKey};
use serde_json::Value;

/// JWS algorithms the verifier accepts with SHA-256 (CONF-045).
pub const ALGORITHMS: [&str; 3] = ["RS256", "PS256", "ES256"];
/// Other JWA signature algorithms it can still verify (they warn: SHA-256 is a SHOULD).
pub const OTHER_ALGORITHMS: [&str; 7] =
    ["RS384", "RS512", "PS384", "PS512", "ES384", "EdDSA", "RS1"];

/// A decoded compact JWS with a detached payload.
pub struct Jws {
    header_b64: String,
    header: Value,
    signature: Vec<u8>,
}

/// What the header gave: the signer's certificate and the whole `x5c` chain (DER).
pub struct Signer {
    pub certificate: Certificate,
    pub chain: Vec<Vec<u8>>,
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
                let hint = if compact.contains('.') {
                    " (it holds the JWS text itself: the JWS must be base64-encoded again, \
                     CONF-046)"
                } else if URL_SAFE_NO_PAD.decode(compact.as_bytes()).is_ok() {
                    " (it is base64url: Signature.data is base64Binary, standard alphabet)"
                } else {
                    ""
                };
                report.fail(
                    Step::Parse,
                    format!("Signature.data is not base64: {e}{hint}"),
                );
                return None;
            }
        };
        let parts: Vec<&str> = text.trim().split('.').collect();
        let [header_b64, payload, signature_b64] = parts[..] else {
            report.fail(
                Step::Parse,
                format!(
                    "Signature.data is not a compact JWS (3 dot-separated parts; found {}; CONF-046)",
                    parts.len()
                ),
            );
            return None;
        };
        if !payload.is_empty() {
            report.fail(
                Step::Parse,
                "the JWS payload is not detached (the part between the dots must be empty; \
                 FHIR JSON signature rules, CONF-028)",
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

    pub fn header(&self) -> &Value {
        &self.header
    }

    fn alg(&self) -> Option<&str> {
        self.header.get("alg").and_then(Value::as_str)
    }

    /// `alg` (CONF-040, 045) and, under 2.1.0, `kty` (SIG-KTY).
    pub fn check_alg_kty(&self, opts: &VerifyOptions, report: &mut Report) -> bool {
        let usable = match self.alg() {
            Some(a) if ALGORITHMS.contains(&a) => {
                report.pass(Step::Alg, format!("alg {a}"));
                true
            }
            Some(a) if OTHER_ALGORITHMS.contains(&a) => {
                report.warn(
                    Step::Alg,
                    format!("alg {a} does not hash with SHA-256 (SHOULD, CONF-045)"),
                );
                true
            }
            Some(a) => {
                report.fail(
                    Step::Alg,
                    format!(
                        "alg {a} is not a JWA signature algorithm with a certificate key ({})",
                        ALGORITHMS.join(", ")
                    ),
                );
                false
            }
            None => {
                report.fail(Step::Alg, "the JWS header has no alg (CONF-040)");
                false
            }
        };
        let kty = self.header.get("kty");
        if !opts.judges_kty() {
            report.not_checked(
                Step::Kty,
                format!(
                    "kty is a 2.1.0 rule (the CI build dropped it); header kty: {}",
                    kty.map(Value::to_string).unwrap_or("absent".into())
                ),
            );
        } else {
            match kty.and_then(Value::as_str) {
                Some("RS") => report.pass(Step::Kty, "kty RS"),
                Some("RSA") => report.warn(
                    Step::Kty,
                    "kty is \"RSA\" (the JWK name of the family); 2.1.0 writes \"kty\": \"RS\"",
                ),
                Some(other) => report.fail(
                    Step::Kty,
                    format!("kty is {other:?}; 2.1.0 says the header SHALL have \"kty\": \"RS\""),
                ),
                None => report.fail(
                    Step::Kty,
                    "the JWS header has no kty; 2.1.0 says it SHALL have \"kty\": \"RS\"",
                ),
            }
        }
        usable
    }

    /// `x5c`: an array of base64 DER certificates (CONF-042); the first one parsed. A
    /// base64url certificate fails the step but is still read, so later steps can run.
    pub fn check_x5c(&self, report: &mut Report) -> Option<Signer> {
        let Some(list) = self.header.get("x5c").and_then(Value::as_array) else {
            report.fail(
                Step::X5c,
                "the JWS header has no x5c certificate array (CONF-042)",
            );
            return None;
        };
        if list.is_empty() {
            report.fail(Step::X5c, "x5c is an empty array (CONF-042)");
            return None;
        }
        let mut chain = Vec::new();
        let mut problems = Vec::new();
        for (i, v) in list.iter().enumerate() {
            let Some(s) = v.as_str() else {
                problems.push(format!("x5c[{i}] is not a string"));
                continue;
            };
            match STANDARD.decode(s) {
                Ok(der) => chain.push(der),
                Err(e) => match URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')) {
                    Ok(der) => {
                        problems.push(format!(
                            "x5c[{i}] is base64url, not base64 (standard alphabet, CONF-042)"
                        ));
                        chain.push(der);
                    }
                    Err(_) => problems.push(format!("x5c[{i}] is not base64: {e}")),
                },
            }
        }
        let Some(first) = chain.first() else {
            report.fail(Step::X5c, problems.join("; "));
            return None;
        };
        let certificate = match Certificate::parse(first) {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!("x5c[0] is not a DER certificate: {e}"));
                report.fail(Step::X5c, problems.join("; "));
                return None;
            }
        };
        if problems.is_empty() {
            report.pass(
                Step::X5c,
                format!(
                    "{} base64 DER certificate(s); x5c[0]: {}",
                    chain.len(),
                    certificate.subject
                ),
            );
        } else {
            report.fail(Step::X5c, problems.join("; "));
        }
        Some(Signer { certificate, chain })
    }

    /// `sigT` (CONF-043, 055), `srCms` (CONF-037, 038, 039, 044, 054), `sigFormat` (CONF-029)
    /// and `targetFormat` (CONF-031): CI-build rules, failures only under `--rules ci-build`.
    pub fn check_ci_rules(&self, signature: &Value, opts: &VerifyOptions, report: &mut Report) {
        let mut judge = |step: Step, problem: Option<String>, ok: String| match problem {
            None => report.pass(step, ok),
            Some(p) if opts.is_ci_build() => report.fail(step, p),
            Some(p) => report.warn(
                step,
                format!("{p} (a CI-build rule: it fails under --rules ci-build)"),
            ),
        };
        // sigT
        let when = signature.get("when").and_then(Value::as_str);
        let (problem, ok) = match self.header.get("sigT").and_then(Value::as_str) {
            None => (
                Some("the JWS header has no sigT timestamp (CONF-043)".to_string()),
                String::new(),
            ),
            Some(t) => match when {
                None => (
                    Some(format!(
                        "sigT {t:?} but Signature.when is absent (CONF-055)"
                    )),
                    String::new(),
                ),
                Some(w) if same_instant(t, w) => (None, format!("sigT {t} = Signature.when")),
                Some(w) => (
                    Some(format!(
                        "sigT {t:?} does not match Signature.when {w:?} (CONF-055)"
                    )),
                    String::new(),
                ),
            },
        };
        judge(Step::SigT, problem, ok);
        // srCms
        let types: Vec<String> = signature
            .get("type")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.get("code").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let (problem, ok) = match self.header.get("srCms").and_then(Value::as_array) {
            None => (
                Some("the JWS header has no srCms signer commitments (CONF-037, CONF-044)".into()),
                String::new(),
            ),
            Some(list) => {
                let ids: Vec<String> = list
                    .iter()
                    .filter_map(|c| c.pointer("/commId/id").and_then(Value::as_str))
                    .map(|id| id.strip_prefix("urn:oid:").unwrap_or(id).to_string())
                    .collect();
                let mut a = ids.clone();
                a.sort();
                a.dedup();
                let mut b = types.clone();
                b.sort();
                b.dedup();
                if !ids.iter().any(|i| i == VERIFICATION_SIGNATURE) {
                    (
                        Some(format!(
                            "srCms ids {ids:?} lack urn:oid:{VERIFICATION_SIGNATURE} \
                             (Verification Signature, CONF-038)"
                        )),
                        String::new(),
                    )
                } else if a != b {
                    (
                        Some(format!(
                            "srCms ids {ids:?} differ from the Signature.type codes {types:?} \
                             (CONF-039, CONF-054)"
                        )),
                        String::new(),
                    )
                } else {
                    (None, format!("srCms ids {ids:?} = Signature.type codes"))
                }
            }
        };
        judge(Step::SrCms, problem, ok);
        for (step, field, fixed, conf) in [
            (Step::SigFormat, "sigFormat", SIG_FORMAT, "CONF-029"),
            (
                Step::TargetFormat,
                "targetFormat",
                TARGET_FORMAT,
                "CONF-031",
            ),
        ] {
            let problem = match signature.get(field).and_then(Value::as_str) {
                Some(v) if v == fixed => None,
                Some(v) => Some(format!(
                    "Signature.{field} is {v:?}, not {fixed:?} ({conf})"
                )),
                None => Some(format!(
                    "Signature.{field} is absent; it SHALL be {fixed:?} ({conf})"
                )),
            };
            judge(step, problem, format!("Signature.{field} {fixed}"));
        }
    }

    /// Canonicalize `unsigned`, re-insert it as the payload and verify; on a mismatch, try the
    /// usual signer mistakes (id and meta kept; not RFC 8785) to tell them from tampering.
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
                report.blocked(Step::Signature, "not checked: no canonical payload");
                return;
            }
        };
        let alg = self.alg().unwrap_or_default();
        if self.verifies(&canonical, cert, alg) {
            report.pass(
                Step::Canonicalization,
                format!(
                    "signed content = RFC 8785 form of the resource minus id, meta and signature \
                     ({} bytes)",
                    canonical.len()
                ),
            );
            report.pass(
                Step::Signature,
                format!("{alg} signature verifies with the x5c[0] key"),
            );
            return;
        }
        let kept = canonicalize(with_id_meta)
            .map(|c| self.verifies(&c, cert, alg))
            .unwrap_or(false);
        let not_jcs = [
            serde_json::to_string(unsigned),
            serde_json::to_string_pretty(unsigned),
        ]
        .into_iter()
        .flatten()
        .any(|c| self.verifies(&c, cert, alg));
        if kept {
            report.fail(
                Step::Canonicalization,
                "the signer kept id and/or meta in the signed content: the signature verifies \
                 only with them (CONF-034/035)",
            );
            report.fail(
                Step::Signature,
                "does not verify over the resource minus id/meta/signature, but verifies with id \
                 and meta kept: the signer canonicalized the wrong content (CONF-034/035)",
            );
        } else if not_jcs {
            report.fail(
                Step::Canonicalization,
                "the signed payload is the resource serialized as is, not its RFC 8785 (JCS) \
                 canonical form (CONF-030)",
            );
            report.fail(
                Step::Signature,
                "does not verify over the RFC 8785 form; verifies over a non-canonical \
                 serialization (CONF-030)",
            );
        } else {
            report.not_checked(
                Step::Canonicalization,
                "cannot tell: the signature verifies over no known form of the content",
            );
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
            "RS384" => &sig::RSA_PKCS1_2048_8192_SHA384,
            "RS512" => &sig::RSA_PKCS1_2048_8192_SHA512,
            "RS1" => &sig::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            "PS256" => &sig::RSA_PSS_2048_8192_SHA256,
            "PS384" => &sig::RSA_PSS_2048_8192_SHA384,
            "PS512" => &sig::RSA_PSS_2048_8192_SHA512,
            "ES256" => &sig::ECDSA_P256_SHA256_FIXED,
            "ES384" => &sig::ECDSA_P384_SHA384_FIXED,
            "EdDSA" => &sig::ED25519,
            _ => return false,
        };
        UnparsedPublicKey::new(algorithm, &cert.public_key)
            .verify(input.as_bytes(), &self.signature)
            .is_ok()
    }
}

/// Two instants name the same moment (or are the same text). JAdES writes `sigT` to the
/// second while `Signature.when` may carry milliseconds: equal to the second is a match.
fn same_instant(a: &str, b: &str) -> bool {
    a == b
        || matches!(
            (DateTime::parse_from_rfc3339(a), DateTime::parse_from_rfc3339(b)),
            (Ok(x), Ok(y)) if x.timestamp() == y.timestamp()
        )
}

#[cfg(test)]
mod tests {
    use super::same_instant;

    #[test]
    fn sig_t_matches_when_to_the_second() {
        assert!(same_instant(
            "2020-10-23T04:54:56Z",
            "2020-10-23T04:54:56.048+00:00"
        ));
        assert!(same_instant(
            "2020-10-23T06:54:56+02:00",
            "2020-10-23T04:54:56Z"
        ));
        assert!(!same_instant(
            "2020-10-23T04:54:57Z",
            "2020-10-23T04:54:56.048Z"
        ));
    }
}
