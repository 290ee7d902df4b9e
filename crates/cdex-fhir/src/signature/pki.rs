//! The harness's test PKI: a CA made fresh in every process, and leaf certificates it issues
//! for signing (a good one and deliberately bad ones), so the harness can play a signing Data
//! Source or Provider and a partner can trust its CA (`OUT/harness-signing-ca.pem`).
//!
//! Keys: the CAs are ECDSA P-256 keys generated per process by `rcgen` (with `ring`), so no CA
//! key is ever stored and a partner trusts one run's CA only. The leaves sign RS256 (the CDex
//! algorithm), which needs RSA, and `ring` cannot generate RSA keys: the leaves use a fixed,
//! public, TEST-ONLY RSA key shipped in `test-keys/` (see its README). The certificates around
//! that key are issued here, so their SANs, dates and usages are whatever a test needs.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    OtherNameValue, PKCS_RSA_SHA256, SanType, date_time_ymd,
};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// The TEST-ONLY RSA key of every leaf certificate (PKCS#8 DER; public, never use it for
/// anything real).
pub const TEST_ONLY_SIGNER_KEY: &[u8] = include_bytes!("test-keys/TEST-ONLY-signer-rsa-2048.pk8");

/// The NPI otherName type id (CDex signatures.md: "otherName NPI 2.16.840.1.113883.4.6").
pub const NPI_OID: [u64; 7] = [2, 16, 840, 1, 113883, 4, 6];

/// Which certificate signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum CertKind {
    /// Issued by the harness CA, valid now, KeyUsage digitalSignature, SAN = the signer's id.
    #[default]
    Valid,
    /// As Valid, but its validity period ended (2020-01-01 to 2021-01-01).
    Expired,
    /// As Valid, but its SAN is another NPI than the signer's `who.identifier.value`.
    WrongSan,
    /// As Valid, but KeyUsage lacks digitalSignature (keyEncipherment only).
    NoDigitalSignature,
    /// As Valid, but issued by another CA, one nobody is told to trust.
    Untrusted,
    /// As Valid, but without any Subject Alternative Name (an extension of the agreed list).
    NoSan,
}

impl CertKind {
    pub const ALL: [CertKind; 6] = [
        CertKind::Valid,
        CertKind::Expired,
        CertKind::WrongSan,
        CertKind::NoDigitalSignature,
        CertKind::Untrusted,
        CertKind::NoSan,
    ];

    /// The scenario-language name (`valid`, `expired`, `wrong-san`, `no-digital-signature`,
    /// `untrusted`).
    pub fn name(self) -> &'static str {
        match self {
            CertKind::Valid => "valid",
            CertKind::Expired => "expired",
            CertKind::WrongSan => "wrong-san",
            CertKind::NoDigitalSignature => "no-digital-signature",
            CertKind::Untrusted => "untrusted",
            CertKind::NoSan => "no-san",
        }
    }

    pub fn parse(name: &str) -> Option<CertKind> {
        CertKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// The SAN the WrongSan certificate carries whatever the signer's identifier.
pub const WRONG_SAN: &str = "1111111112";

/// A leaf certificate with the chain a signer puts in `x5c` (leaf first, then its CA).
#[derive(Clone, Debug)]
pub struct Leaf {
    pub chain: Vec<Vec<u8>>,
}

/// The test PKI: the harness CA, an untrusted second CA, and leaves issued on demand.
pub struct TestPki {
    ca: Issuer<'static, KeyPair>,
    ca_der: Vec<u8>,
    untrusted: Issuer<'static, KeyPair>,
    untrusted_der: Vec<u8>,
    leaves: Mutex<HashMap<(CertKind, String), Leaf>>,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPki").finish_non_exhaustive()
    }
}

fn make_ca(name: &str) -> (Issuer<'static, KeyPair>, Vec<u8>) {
    let key = KeyPair::generate().expect("ECDSA P-256 key generation");
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "cdex-harness (TEST ONLY)");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = date_time_ymd(2019, 1, 1);
    params.not_after = date_time_ymd(2099, 1, 1);
    let der = params
        .self_signed(&key)
        .expect("self-signed test CA")
        .der()
        .to_vec();
    (Issuer::new(params, key), der)
}

impl TestPki {
    /// The process-wide test PKI, generated on first use.
    pub fn shared() -> &'static TestPki {
        static PKI: OnceLock<TestPki> = OnceLock::new();
        PKI.get_or_init(TestPki::generate)
    }

    /// A fresh test PKI (two new CA keys).
    pub fn generate() -> TestPki {
        let (ca, ca_der) = make_ca("cdex-harness signing test CA");
        let (untrusted, untrusted_der) = make_ca("cdex-harness UNTRUSTED signing test CA");
        TestPki {
            ca,
            ca_der,
            untrusted,
            untrusted_der,
            leaves: Mutex::new(HashMap::new()),
        }
    }

    /// The CA a partner must trust (PEM).
    pub fn ca_pem(&self) -> String {
        pem("CERTIFICATE", &self.ca_der)
    }

    /// The CA a partner must trust (DER).
    pub fn ca_der(&self) -> Vec<u8> {
        self.ca_der.clone()
    }

    /// The CA that issues the Untrusted leaf (DER); never a trust anchor.
    pub fn untrusted_ca_der(&self) -> Vec<u8> {
        self.untrusted_der.clone()
    }

    /// The PKCS#8 DER of the key every leaf certifies (TEST ONLY).
    pub fn signer_key(&self) -> &'static [u8] {
        TEST_ONLY_SIGNER_KEY
    }

    /// The leaf of `kind` for the signer identified by `npi` (its SAN otherName NPI, except
    /// WrongSan), with its chain (leaf, issuing CA). Made once per (kind, npi).
    pub fn leaf(&self, kind: CertKind, npi: &str) -> Result<Leaf, String> {
        let mut leaves = self.leaves.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = leaves.get(&(kind, npi.to_string())) {
            return Ok(l.clone());
        }
        let key =
            KeyPair::from_pkcs8_der_and_sign_algo(&TEST_ONLY_SIGNER_KEY.into(), &PKCS_RSA_SHA256)
                .map_err(|e| format!("test signer key: {e}"))?;
        let mut params = CertificateParams::default();
        params.distinguished_name.push(
            DnType::CommonName,
            format!("cdex-harness test signer {npi} ({})", kind.name()),
        );
        params
            .distinguished_name
            .push(DnType::OrganizationName, "cdex-harness (TEST ONLY)");
        let san = if kind == CertKind::WrongSan {
            WRONG_SAN
        } else {
            npi
        };
        if kind != CertKind::NoSan {
            params.subject_alt_names = vec![SanType::OtherName((
                NPI_OID.to_vec(),
                OtherNameValue::Utf8String(san.to_string()),
            ))];
        }
        params.key_usages = if kind == CertKind::NoDigitalSignature {
            vec![KeyUsagePurpose::KeyEncipherment]
        } else {
            vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::ContentCommitment,
            ]
        };
        params.use_authority_key_identifier_extension = true;
        if kind == CertKind::Expired {
            params.not_before = date_time_ymd(2020, 1, 1);
            params.not_after = date_time_ymd(2021, 1, 1);
        } else {
            params.not_before = date_time_ymd(2024, 1, 1);
            params.not_after = date_time_ymd(2036, 1, 1);
        }
        let (issuer, issuer_der) = if kind == CertKind::Untrusted {
            (&self.untrusted, &self.untrusted_der)
        } else {
            (&self.ca, &self.ca_der)
        };
        let cert = params
            .signed_by(&key, issuer)
            .map_err(|e| format!("issuing the {} test certificate: {e}", kind.name()))?;
        let leaf = Leaf {
            chain: vec![cert.der().to_vec(), issuer_der.clone()],
        };
        leaves.insert((kind, npi.to_string()), leaf.clone());
        Ok(leaf)
    }
}

/// PEM text of one DER block.
pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Every `CERTIFICATE` block of a PEM text, as DER (for `--trust-anchor` files); a file that is
/// not PEM is taken as one DER certificate.
pub fn certificates_from_pem(text: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    use base64::Engine as _;
    let Ok(s) = std::str::from_utf8(text) else {
        return Ok(vec![text.to_vec()]);
    };
    if !s.contains("-----BEGIN") {
        return Ok(vec![text.to_vec()]);
    }
    let mut out = Vec::new();
    let mut body: Option<String> = None;
    for line in s.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN CERTIFICATE") {
            body = Some(String::new());
        } else if line.starts_with("-----END CERTIFICATE") {
            if let Some(b) = body.take() {
                out.push(
                    base64::engine::general_purpose::STANDARD
                        .decode(b.as_bytes())
                        .map_err(|e| format!("a CERTIFICATE block is not base64: {e}"))?,
                );
            }
        } else if let Some(b) = body.as_mut() {
            b.push_str(line);
        }
    }
    if out.is_empty() {
        return Err("no CERTIFICATE block in the PEM text".to_string());
    }
    Ok(out)
}
