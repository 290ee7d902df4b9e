//! The signer's certificate (`x5c[0]`, DER), read with `x509-parser`: validity, KeyUsage and
//! Subject Alternative Names.

use super::{Report, Step};
use chrono::{DateTime, Utc};
use serde_json::Value;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// What the verifier needs from a certificate.
#[derive(Clone, Debug)]
pub struct Certificate {
    pub subject: String,
    pub not_before: Option<DateTime<Utc>>,
    pub not_after: Option<DateTime<Utc>>,
    /// `Some(digitalSignature)` when the KeyUsage extension is present.
    pub digital_signature: Option<bool>,
    /// Subject Alternative Names as text (`URI:..`, `DNS:..`, `otherName:OID:value`).
    pub sans: Vec<San>,
    /// The subjectPublicKey bits (RSAPublicKey DER, or the EC point), as `ring` takes them.
    pub public_key: Vec<u8>,
}

/// One Subject Alternative Name: its kind and its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct San {
    pub kind: String,
    pub value: String,
}

impl Certificate {
    pub fn parse(der: &[u8]) -> Result<Certificate, String> {
        let (_, x509) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
        let validity = x509.validity();
        let digital_signature = x509
            .key_usage()
            .map_err(|e| format!("KeyUsage: {e}"))?
            .map(|ku| ku.value.digital_signature());
        let sans = x509
            .subject_alternative_name()
            .map_err(|e| format!("SubjectAlternativeName: {e}"))?
            .map(|ext| ext.value.general_names.iter().filter_map(san).collect())
            .unwrap_or_default();
        Ok(Certificate {
            subject: x509.subject().to_string(),
            not_before: DateTime::from_timestamp(validity.not_before.timestamp(), 0),
            not_after: DateTime::from_timestamp(validity.not_after.timestamp(), 0),
            digital_signature,
            sans,
            public_key: x509.public_key().subject_public_key.data.to_vec(),
        })
    }

    /// Reports the certificate-validity step.
    pub fn check_validity(&self, at: DateTime<Utc>, report: &mut Report) {
        let (Some(from), Some(to)) = (self.not_before, self.not_after) else {
            report.fail(
                Step::CertificateValidity,
                "the validity dates are out of range",
            );
            return;
        };
        let period = format!("valid {} to {}", from.to_rfc3339(), to.to_rfc3339());
        if at < from {
            report.fail(
                Step::CertificateValidity,
                format!(
                    "not yet valid at {}: {period}",
                    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            );
        } else if at > to {
            report.fail(
                Step::CertificateValidity,
                format!(
                    "expired at {}: {period}",
                    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            );
        } else {
            report.pass(
                Step::CertificateValidity,
                format!(
                    "{period}, judged at {}",
                    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            );
        }
    }

    /// Reports the key-usage step (KeyUsage, when present, must allow digitalSignature).
    pub fn check_key_usage(&self, report: &mut Report) {
        match self.digital_signature {
            Some(true) => report.pass(Step::KeyUsage, "KeyUsage includes digitalSignature"),
            Some(false) => report.fail(
                Step::KeyUsage,
                "KeyUsage does not include digitalSignature (CONF-051)",
            ),
            None => report.not_checked(Step::KeyUsage, "the certificate has no KeyUsage extension"),
        }
    }

    /// Reports the SAN step: some SAN value equals `Signature.who.identifier.value`. The CI
    /// build says SHALL (CONF-048, 049); 2.1.0 said the Subject or SAN SHOULD match the Data
    /// Source, so a mismatch only warns under 2.1.0.
    pub fn check_san(&self, who: Option<&Value>, ci_build: bool, report: &mut Report) {
        let listed = self
            .sans
            .iter()
            .map(|s| format!("{}:{}", s.kind, s.value))
            .collect::<Vec<_>>()
            .join(", ");
        let mut problem = |msg: String| {
            if ci_build {
                report.fail(Step::SanMatchesWho, msg);
            } else {
                report.warn(
                    Step::SanMatchesWho,
                    format!("{msg} (2.1.0: SHOULD; it fails under --rules ci-build)"),
                );
            }
        };
        let Some(who) = who.and_then(Value::as_str) else {
            if self.sans.is_empty() {
                problem("the certificate has no Subject Alternative Name (CONF-048)".into());
            } else {
                report.not_checked(
                    Step::SanMatchesWho,
                    format!("Signature.who has no identifier.value to compare (SANs: [{listed}])"),
                );
            }
            return;
        };
        if self.sans.is_empty() {
            problem("the certificate has no Subject Alternative Name (CONF-048)".into());
        } else if self.sans.iter().any(|s| san_names(&s.value, who)) {
            report.pass(
                Step::SanMatchesWho,
                format!("a SAN equals who.identifier.value {who:?}"),
            );
        } else {
            problem(format!(
                "no SAN equals who.identifier.value {who:?} (SANs: [{listed}]; CONF-049)"
            ));
        }
    }
}

/// Reports the trust step: each `x5c[i]` is issued by `x5c[i+1]` (name and signature), and the
/// chain reaches a trust anchor (a chain certificate is one, or an anchor issued the last one).
/// Without anchors the chain is still checked, and trust is not judged.
pub fn check_trust(chain: &[Vec<u8>], anchors: &[Vec<u8>], report: &mut Report) {
    let parsed: Vec<X509Certificate> = match chain
        .iter()
        .map(|der| X509Certificate::from_der(der).map(|(_, c)| c))
        .collect::<Result<_, _>>()
    {
        Ok(p) => p,
        Err(e) => {
            report.fail(
                Step::Trust,
                format!("an x5c certificate does not parse: {e}"),
            );
            return;
        }
    };
    for (i, pair) in parsed.windows(2).enumerate() {
        let (cert, issuer) = (&pair[0], &pair[1]);
        if cert.issuer() != issuer.subject() {
            report.fail(
                Step::Trust,
                format!(
                    "x5c[{i}] is issued by {}, but x5c[{}] is {}: not a chain",
                    cert.issuer(),
                    i + 1,
                    issuer.subject()
                ),
            );
            return;
        }
        if let Err(e) = cert.verify_signature(Some(issuer.public_key())) {
            report.fail(
                Step::Trust,
                format!(
                    "x5c[{i}]'s signature does not verify with the key of x5c[{}] ({}): {e}",
                    i + 1,
                    issuer.subject()
                ),
            );
            return;
        }
    }
    let Some(last) = parsed.last() else {
        report.fail(Step::Trust, "x5c is empty");
        return;
    };
    if anchors.is_empty() {
        report.not_checked(
            Step::Trust,
            format!(
                "no trust anchors configured (--trust-anchor); the chain of {} ends at {}",
                parsed.len(),
                last.issuer()
            ),
        );
        return;
    }
    if let Some(i) = chain.iter().position(|der| anchors.contains(der)) {
        report.pass(
            Step::Trust,
            format!("x5c[{i}] ({}) is a trust anchor", parsed[i].subject()),
        );
        return;
    }
    for der in anchors {
        let Ok((_, anchor)) = X509Certificate::from_der(der) else {
            continue;
        };
        if last.issuer() == anchor.subject()
            && last.verify_signature(Some(anchor.public_key())).is_ok()
        {
            report.pass(
                Step::Trust,
                format!("the chain ends at the trust anchor {}", anchor.subject()),
            );
            return;
        }
    }
    report.fail(
        Step::Trust,
        format!(
            "not trusted: the chain ends at {}, which is not among the {} configured trust              anchor(s) (CONF-050)",
            last.issuer(),
            anchors.len()
        ),
    );
}

/// A SAN value names the identifier `who`: equal, or a URI whose last part (after `#`, `|`,
/// `:` or `/`) is it (`urn:oid:2.16.840.1.113883.4.6#1234567893`,
/// `http://hl7.org/fhir/sid/us-npi|1234567893`).
fn san_names(value: &str, who: &str) -> bool {
    value == who
        || value
            .rsplit(['#', '|', ':', '/'])
            .next()
            .is_some_and(|last| last == who && value.len() > who.len())
}

fn san(name: &GeneralName) -> Option<San> {
    let (kind, value) = match name {
        GeneralName::URI(u) => ("URI", u.to_string()),
        GeneralName::DNSName(d) => ("DNS", d.to_string()),
        GeneralName::RFC822Name(e) => ("email", e.to_string()),
        GeneralName::OtherName(oid, bytes) => {
            return Some(San {
                kind: format!("otherName {oid}"),
                value: der_string(bytes)?,
            });
        }
        _ => return None,
    };
    Some(San {
        kind: kind.to_string(),
        value,
    })
}

/// The text inside an otherName value: explicit `[0]` tags descended, then a UTF8String,
/// PrintableString or IA5String read.
fn der_string(mut bytes: &[u8]) -> Option<String> {
    loop {
        let (&tag, rest) = bytes.split_first()?;
        let (&len0, rest) = rest.split_first()?;
        let (len, rest) = if len0 < 0x80 {
            (len0 as usize, rest)
        } else {
            let n = (len0 & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n].iter().fold(0usize, |a, b| (a << 8) | *b as usize);
            (len, &rest[n..])
        };
        let content = rest.get(..len)?;
        match tag {
            0xa0 => bytes = content,
            0x0c | 0x13 | 0x16 => return String::from_utf8(content.to_vec()).ok(),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::der_string;

    #[test]
    fn a_san_names_the_identifier_by_value_or_as_the_end_of_a_uri() {
        use super::san_names;
        assert!(san_names("1234567893", "1234567893"));
        assert!(san_names(
            "urn:oid:2.16.840.1.113883.4.6#1234567893",
            "1234567893"
        ));
        assert!(san_names(
            "http://hl7.org/fhir/sid/us-npi|1234567893",
            "1234567893"
        ));
        assert!(!san_names("11234567893", "1234567893"));
        assert!(!san_names("1234567893x", "1234567893"));
    }

    #[test]
    fn other_name_value_is_read_through_explicit_tag() {
        // [0] { UTF8String "1234567893" }
        let mut der = vec![0xa0, 12, 0x0c, 10];
        der.extend_from_slice(b"1234567893");
        assert_eq!(der_string(&der).as_deref(), Some("1234567893"));
        assert_eq!(der_string(&der[2..]).as_deref(), Some("1234567893"));
        assert_eq!(der_string(&[0x30, 0]), None);
    }
}
