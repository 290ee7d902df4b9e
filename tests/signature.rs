//! The signature verifier (`fhir::signature`) and `cdex-harness verify-signature`: positive
//! vectors signed here (rcgen certificate, ring RS256 over the RFC 8785 payload), negative ones
//! derived from them, and the IG's signed examples (altered after signing; expired certificate).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use cdex_harness::fhir::signature::{Outcome, Step, VerifyOptions, verify, verify_with};
use chrono::{DateTime, Utc};
use rcgen::{
    CertificateParams, DnType, KeyPair, KeyUsagePurpose, OtherNameValue, PKCS_RSA_SHA256, SanType,
    date_time_ymd,
};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_cdex-harness");
/// A 2048-bit RSA test key (PKCS#8 DER), made with `openssl genpkey` for these tests only.
const RSA_KEY: &[u8] =
    include_bytes!("../crates/cdex-fhir/src/signature/test-keys/TEST-ONLY-signer-rsa-2048.pk8");
const NPI: &str = "1234567893";
/// The NPI otherName type id (CDex signatures.md).
const NPI_OID: [u64; 7] = [2, 16, 840, 1, 113883, 4, 6];

struct CertSpec {
    not_before: (i32, u8, u8),
    not_after: (i32, u8, u8),
    san: &'static str,
    key_usage: Vec<KeyUsagePurpose>,
}

impl Default for CertSpec {
    fn default() -> Self {
        CertSpec {
            not_before: (2024, 1, 1),
            not_after: (2124, 1, 1),
            san: NPI,
            key_usage: vec![KeyUsagePurpose::DigitalSignature],
        }
    }
}

fn certificate(spec: &CertSpec) -> Vec<u8> {
    let key = KeyPair::from_pkcs8_der_and_sign_algo(&RSA_KEY.into(), &PKCS_RSA_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "cdex-harness test signer");
    let (y, m, d) = spec.not_before;
    params.not_before = date_time_ymd(y, m, d);
    let (y, m, d) = spec.not_after;
    params.not_after = date_time_ymd(y, m, d);
    params.subject_alt_names = vec![SanType::OtherName((
        NPI_OID.to_vec(),
        OtherNameValue::Utf8String(spec.san.to_string()),
    ))];
    params.key_usages = spec.key_usage.clone();
    params.self_signed(&key).unwrap().der().to_vec()
}

fn unsigned_bundle() -> Value {
    json!({
        "resourceType": "Bundle",
        "id": "signed-searchset",
        "meta": {"lastUpdated": "2026-01-02T03:04:05Z"},
        "type": "searchset",
        "total": 1,
        "entry": [{
            "fullUrl": "http://example.org/fhir/Condition/c1",
            "resource": {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
                         "code": {"text": "Diabetes \u{e9} \u{20ac}"}, "onsetAge": {"value": 52.5}},
            "search": {"mode": "match"}
        }]
    })
}

/// `Signature.data` for `content`: a detached RS256 JWS over its RFC 8785 form, base64.
fn jws_data(content: &Value, cert_der: &[u8]) -> String {
    let header =
        json!({"alg": "RS256", "kty": "RS", "typ": "JOSE", "x5c": [STANDARD.encode(cert_der)]});
    let header_b64 = URL_SAFE_NO_PAD.encode(header.to_string());
    let payload = URL_SAFE_NO_PAD.encode(serde_jcs::to_string(content).unwrap());
    let key = ring::signature::RsaKeyPair::from_pkcs8(RSA_KEY).unwrap();
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        format!("{header_b64}.{payload}").as_bytes(),
        &mut sig,
    )
    .unwrap();
    STANDARD.encode(format!("{header_b64}..{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// Sign `bundle` as CDex says: the Bundle minus id/meta/signature, JCS, detached RS256 JWS,
/// base64 into Signature.data.
fn sign(mut bundle: Value, cert_der: &[u8]) -> Value {
    let mut content = bundle.clone();
    let obj = content.as_object_mut().unwrap();
    obj.remove("id");
    obj.remove("meta");
    bundle["signature"] = json!({
        "type": [{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.5"}],
        "when": "2026-01-02T03:04:05Z",
        "who": {"identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": NPI}},
        "data": jws_data(&content, cert_der)
    });
    bundle
}

fn now() -> DateTime<Utc> {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

fn outcome(resource: &Value, at: DateTime<Utc>, step: Step) -> (Outcome, String) {
    let report = verify(resource, at);
    let r = report.get(step).expect("every step is reported");
    (r.outcome, r.message.clone())
}

fn write(dir: &str, name: &str, v: &Value) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(v).unwrap()).unwrap();
    path
}

fn cli(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap(), text)
}

#[test]
fn own_signed_bundle_verifies_in_every_step() {
    let signed = sign(unsigned_bundle(), &certificate(&CertSpec::default()));
    let report = verify(&signed, now());
    assert!(report.verified(), "{report:#?}");
    for step in Step::ALL {
        // This hand-made header has the 2.1.0 fields only: the CI-build rules warn, and no
        // trust anchor is given.
        let expected = match step {
            Step::SigT | Step::SrCms | Step::SigFormat | Step::TargetFormat => Outcome::Warn,
            Step::Trust => Outcome::NotChecked,
            _ => Outcome::Pass,
        };
        assert_eq!(report.get(step).unwrap().outcome, expected, "{step:?}");
    }
    // id and meta are outside the signature: changing them keeps it valid.
    let mut moved = signed.clone();
    moved["id"] = json!("another-id");
    moved["meta"]["versionId"] = json!("7");
    assert!(verify(&moved, now()).verified());
}

#[test]
fn independent_script_verifies_own_signature() {
    let signed = sign(unsigned_bundle(), &certificate(&CertSpec::default()));
    let path = write("signature", "own-signed.json", &signed);
    let script = "/work/shared/spec/cdex-2.1.0/notes/verify_signature.py";
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/spec/cdex-2.1.0/notes/verify_signature.py")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(script));
    let out = Command::new("python3").arg(&script).arg(&path).output();
    match out {
        Ok(out) if out.status.success() && script.exists() => {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("rm id,meta,signature VERIFIED"), "{text}");
        }
        _ => eprintln!(
            "skipped: python3 with `cryptography` and {} are needed for the second opinion",
            script.display()
        ),
    }
}

#[test]
fn changed_field_fails_at_signature_as_tampered() {
    let mut signed = sign(unsigned_bundle(), &certificate(&CertSpec::default()));
    signed["entry"][0]["resource"]["code"]["text"] = json!("Hypertension");
    let report = verify(&signed, now());
    assert!(!report.verified());
    assert_eq!(report.first_failure().unwrap().0, Step::Signature);
    let (o, msg) = outcome(&signed, now(), Step::Signature);
    assert_eq!(o, Outcome::Fail);
    assert!(msg.contains("tampered"), "{msg}");
    assert_eq!(
        outcome(&signed, now(), Step::CertificateValidity).0,
        Outcome::Pass
    );
}

#[test]
fn signature_over_id_and_meta_is_named_a_canonicalization_mistake() {
    // A signer that forgot to remove id and meta signs the Bundle with them.
    let cert = certificate(&CertSpec::default());
    let mut wrong = sign(unsigned_bundle(), &cert);
    wrong["signature"]["data"] = json!(jws_data(&unsigned_bundle(), &cert));
    let (o, msg) = outcome(&wrong, now(), Step::Signature);
    assert_eq!(o, Outcome::Fail);
    assert!(msg.contains("verifies with id and meta kept"), "{msg}");
}

#[test]
fn expired_certificate_fails_validity_but_verifies_at_a_time_inside_it() {
    let cert = certificate(&CertSpec {
        not_before: (2020, 1, 1),
        not_after: (2021, 1, 1),
        ..CertSpec::default()
    });
    let signed = sign(unsigned_bundle(), &cert);
    let report = verify(&signed, now());
    assert!(!report.verified());
    assert_eq!(report.first_failure().unwrap().0, Step::CertificateValidity);
    assert!(
        report
            .get(Step::CertificateValidity)
            .unwrap()
            .message
            .contains("expired")
    );
    assert_eq!(report.get(Step::Signature).unwrap().outcome, Outcome::Pass);
    assert!(verify(&signed, "2020-06-01T00:00:00Z".parse().unwrap()).verified());

    let path = write("signature", "expired.json", &signed);
    let path = path.to_str().unwrap();
    let (code, text) = cli(&["verify-signature", path]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("NOT VERIFIED (failed: validity)"), "{text}");
    let (code, text) = cli(&["verify-signature", path, "--at", "2020-06-01T00:00:00Z"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("VERIFIED"), "{text}");
}

#[test]
fn san_mismatch_fails_that_step_only() {
    let cert = certificate(&CertSpec {
        san: "9941339108",
        ..CertSpec::default()
    });
    let signed = sign(unsigned_bundle(), &cert);
    // 2.1.0: the SAN SHOULD match (a warning); the CI build: SHALL.
    let report = verify(&signed, now());
    assert!(report.verified());
    assert_eq!(report.warned().last(), Some(&Step::SanMatchesWho));
    let report = verify_with(
        &signed,
        &VerifyOptions {
            at: now(),
            rules: "ci-build".into(),
            trust: vec![],
        },
    );
    assert!(!report.verified());
    let failed: Vec<Step> = report
        .steps
        .iter()
        .filter(|r| r.outcome == Outcome::Fail)
        .map(|r| r.step)
        .collect();
    // (the hand-made header lacks the CI-build fields too)
    assert_eq!(
        failed,
        [
            Step::SigT,
            Step::SrCms,
            Step::SigFormat,
            Step::TargetFormat,
            Step::SanMatchesWho
        ]
    );
    assert!(
        report
            .get(Step::SanMatchesWho)
            .unwrap()
            .message
            .contains("9941339108")
    );
}

#[test]
fn key_usage_without_digital_signature_fails() {
    let cert = certificate(&CertSpec {
        key_usage: vec![KeyUsagePurpose::KeyEncipherment],
        ..CertSpec::default()
    });
    let signed = sign(unsigned_bundle(), &cert);
    assert_eq!(outcome(&signed, now(), Step::KeyUsage).0, Outcome::Fail);
    let cert = certificate(&CertSpec {
        key_usage: vec![],
        ..CertSpec::default()
    });
    let signed = sign(unsigned_bundle(), &cert);
    let report = verify(&signed, now());
    assert_eq!(
        report.get(Step::KeyUsage).unwrap().outcome,
        Outcome::NotChecked
    );
    assert!(report.verified());
}

#[test]
fn ig_signed_examples_do_not_verify_at_the_signature_step() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec/cdex-2.1.0/examples");
    let dir = if dir.is_dir() {
        dir
    } else {
        PathBuf::from("/work/shared/spec/cdex-2.1.0/examples")
    };
    for name in [
        "cdex-searchbundle-digital-sig-example.json",
        "cdex-document-digital-sig-example.json",
    ] {
        let path = dir.join(name);
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("skipped: {} is not here", path.display());
            continue;
        };
        let example: Value = serde_json::from_str(&text).unwrap();
        let report = verify(&example, now());
        assert!(!report.verified(), "{name}");
        let sig = report.get(Step::Signature).unwrap();
        assert_eq!(sig.outcome, Outcome::Fail, "{name}");
        assert!(sig.message.contains("tampered"), "{name}: {}", sig.message);
        let validity = report.get(Step::CertificateValidity).unwrap();
        assert_eq!(validity.outcome, Outcome::Fail, "{name}");
        assert!(
            validity.message.contains("2022-10-22"),
            "{}",
            validity.message
        );
        // Inside the validity period only the signature fails.
        let report = verify(&example, "2022-01-01T00:00:00Z".parse().unwrap());
        assert_eq!(report.first_failure().unwrap().0, Step::Signature, "{name}");
        assert_eq!(
            report.get(Step::CertificateValidity).unwrap().outcome,
            Outcome::Pass
        );

        let (code, out) = cli(&["verify-signature", path.to_str().unwrap()]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("failed: signature, validity"), "{out}");
    }
}

#[test]
fn questionnaire_response_signature_extension_is_read() {
    let signed = sign(unsigned_bundle(), &certificate(&CertSpec::default()));
    // The same signature moved onto a QR whose content differs: found, and fails as tampered.
    let qr = json!({
        "resourceType": "QuestionnaireResponse", "id": "qr", "status": "completed",
        "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/questionnaireresponse-signature",
                       "valueSignature": signed["signature"]}]
    });
    let report = verify(&qr, now());
    assert_eq!(report.get(Step::Parse).unwrap().outcome, Outcome::Pass);
    assert_eq!(report.first_failure().unwrap().0, Step::Signature);
}

#[test]
fn bad_input_is_named() {
    let no_sig = unsigned_bundle();
    let report = verify(&no_sig, now());
    assert_eq!(report.first_failure().unwrap().0, Step::Parse);
    assert_eq!(report.steps.len(), Step::ALL.len());
    assert!(
        report.steps[1..]
            .iter()
            .all(|r| r.outcome == Outcome::Blocked)
    );

    let mut not_detached = sign(unsigned_bundle(), &certificate(&CertSpec::default()));
    let data = String::from_utf8(
        STANDARD
            .decode(not_detached["signature"]["data"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let attached = data.replacen("..", ".e30.", 1);
    not_detached["signature"]["data"] = json!(STANDARD.encode(attached));
    let (o, msg) = outcome(&not_detached, now(), Step::Parse);
    assert_eq!(o, Outcome::Fail);
    assert!(msg.contains("detached"), "{msg}");

    let mut bad_alg = sign(unsigned_bundle(), &certificate(&CertSpec::default()));
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "x5c": []}).to_string());
    bad_alg["signature"]["data"] = json!(STANDARD.encode(format!("{header}..AAAA")));
    assert_eq!(outcome(&bad_alg, now(), Step::Alg).0, Outcome::Fail);

    let path = write("signature", "not-json.json", &json!(null));
    std::fs::write(&path, "{ not json").unwrap();
    let (code, text) = cli(&["verify-signature", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("line 1"), "{text}");
    let (code, _) = cli(&["verify-signature", "/nonexistent/file.json"]);
    assert_eq!(code, 2);
    let (code, _) = cli(&[
        "verify-signature",
        path.to_str().unwrap(),
        "--at",
        "yesterday",
    ]);
    assert_eq!(code, 2);
}

#[test]
fn es256_signature_verifies() {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .unwrap();
    let key = KeyPair::try_from(pkcs8.as_ref()).unwrap();
    let mut params = CertificateParams::default();
    params.subject_alt_names = vec![SanType::URI(
        "urn:oid:2.16.840.1.113883.4.6".try_into().unwrap(),
    )];
    let cert = params.self_signed(&key).unwrap().der().to_vec();
    let signer = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        pkcs8.as_ref(),
        &rng,
    )
    .unwrap();
    let mut bundle = unsigned_bundle();
    let mut content = bundle.clone();
    content.as_object_mut().unwrap().remove("id");
    content.as_object_mut().unwrap().remove("meta");
    let header = URL_SAFE_NO_PAD
        .encode(json!({"alg": "ES256", "x5c": [STANDARD.encode(&cert)]}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(serde_jcs::to_string(&content).unwrap());
    let sig = signer
        .sign(&rng, format!("{header}.{payload}").as_bytes())
        .unwrap();
    bundle["signature"] = json!({
        "who": {"identifier": {"value": "urn:oid:2.16.840.1.113883.4.6"}},
        "data": STANDARD.encode(format!("{header}..{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
    });
    let report = verify(&bundle, now());
    // No kty (a 2.1.0 SHALL): only that step fails.
    assert_eq!(report.failed(), [Step::Kty], "{report:#?}");
    assert_eq!(report.get(Step::Signature).unwrap().outcome, Outcome::Pass);
    assert_eq!(
        report.get(Step::SanMatchesWho).unwrap().outcome,
        Outcome::Pass
    );
}

// ---- The harness's own signer (fhir::signature::sign) and its test PKI ----

use cdex_harness::fhir::signature::{CertKind, SignOptions, TestPki, sign as harness_sign};

fn trusting(rules: &str) -> VerifyOptions {
    VerifyOptions {
        at: Utc::now(),
        rules: rules.into(),
        trust: vec![TestPki::shared().ca_der()],
    }
}

fn harness_signed(opts: &SignOptions) -> Value {
    let mut bundle = unsigned_bundle();
    harness_sign(&mut bundle, opts).unwrap();
    bundle
}

#[test]
fn harness_signature_passes_every_step_under_both_rule_sets() {
    let signed = harness_signed(&SignOptions::default());
    for rules in ["2.1.0", "ci-build"] {
        let report = verify_with(&signed, &trusting(rules));
        assert!(report.ok(), "{report:#?}");
        for r in &report.steps {
            let expected = if r.step == Step::Kty && rules == "ci-build" {
                Outcome::NotChecked
            } else {
                Outcome::Pass
            };
            assert_eq!(r.outcome, expected, "{rules} {r:?}");
        }
    }
    // Untrusted without anchors: the trust step is not judged.
    let report = verify(&signed, Utc::now());
    assert_eq!(
        report.get(Step::Trust).unwrap().outcome,
        Outcome::NotChecked
    );
}

#[test]
fn harness_signed_questionnaire_response_verifies() {
    let mut qr = json!({
        "resourceType": "QuestionnaireResponse", "id": "qr1", "meta": {"versionId": "1"},
        "status": "completed", "authored": "2026-01-02T03:04:05Z",
        "extension": [{"url": "http://example.org/other", "valueString": "kept"}],
        "item": [{"linkId": "1", "answer": [{"valueBoolean": true}]}]
    });
    harness_sign(&mut qr, &SignOptions::default()).unwrap();
    let report = verify_with(&qr, &trusting("ci-build"));
    assert!(report.ok(), "{report:#?}");
    // Signing again replaces the signature.
    harness_sign(&mut qr, &SignOptions::default()).unwrap();
    assert_eq!(qr["extension"].as_array().unwrap().len(), 2);
    assert!(verify_with(&qr, &trusting("ci-build")).ok());
}

#[test]
fn each_bad_certificate_is_rejected_at_its_own_step() {
    for (kind, step, words) in [
        (CertKind::Expired, Step::CertificateValidity, "expired"),
        (CertKind::WrongSan, Step::SanMatchesWho, "no SAN equals"),
        (
            CertKind::NoDigitalSignature,
            Step::KeyUsage,
            "digitalSignature",
        ),
        (CertKind::Untrusted, Step::Trust, "not trusted"),
        (
            CertKind::NoSan,
            Step::SanMatchesWho,
            "no Subject Alternative Name",
        ),
    ] {
        let signed = harness_signed(&SignOptions {
            cert: kind,
            ..SignOptions::default()
        });
        let report = verify_with(&signed, &trusting("ci-build"));
        assert!(!report.ok(), "{kind:?}");
        assert_eq!(report.failed(), [step], "{kind:?}: {report:#?}");
        let (first, msg) = report.first_failure().unwrap();
        assert_eq!(first, step);
        assert!(msg.contains(words), "{kind:?}: {msg}");
        assert_eq!(report.get(Step::Signature).unwrap().outcome, Outcome::Pass);
    }
}

#[test]
fn harness_signature_verifies_with_the_independent_script() {
    let signed = harness_signed(&SignOptions::default());
    let path = write("signature", "harness-signed.json", &signed);
    let script = PathBuf::from("/work/shared/spec/cdex-2.1.0/notes/verify_signature.py");
    if !script.exists() {
        eprintln!("skipped: {} is not here", script.display());
        return;
    }
    let out = Command::new("python3").arg(&script).arg(&path).output();
    match out {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("rm id,meta,signature VERIFIED"), "{text}");
        }
        Ok(out) => {
            let err = String::from_utf8_lossy(&out.stderr);
            if err.contains("ModuleNotFoundError") {
                eprintln!("skipped: python3 has no `cryptography` module: {err}");
            } else {
                panic!("verify_signature.py failed: {err}");
            }
        }
        Err(e) => eprintln!("skipped: python3 is not runnable: {e}"),
    }
}

fn extra_example(name: &str) -> Option<Value> {
    let path = PathBuf::from("/work/shared/spec/cdex-2.1.0-extra/ci-build/examples").join(name);
    match std::fs::read_to_string(&path) {
        Ok(t) => Some(serde_json::from_str(&t).unwrap()),
        Err(_) => {
            eprintln!("skipped: {} is not here", path.display());
            None
        }
    }
}

#[test]
fn ci_build_examples_verify_under_ci_build_rules_but_are_not_trusted() {
    let at: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().unwrap();
    for (name, npi) in [
        ("cdex-searchbundle-digital-sig-example.json", "1234567893"),
        ("cdex-questionnaireresponse-example4.json", "9941339100"),
    ] {
        let Some(example) = extra_example(name) else {
            continue;
        };
        let opts = VerifyOptions {
            at,
            rules: "ci-build".into(),
            trust: vec![],
        };
        let report = verify_with(&example, &opts);
        assert!(report.ok(), "{name}: {report:#?}");
        for step in [
            Step::Signature,
            Step::Canonicalization,
            Step::SigT,
            Step::SrCms,
            Step::SigFormat,
            Step::TargetFormat,
            Step::SanMatchesWho,
            Step::CertificateValidity,
        ] {
            assert_eq!(
                report.get(step).unwrap().outcome,
                Outcome::Pass,
                "{name} {step:?}: {report:#?}"
            );
        }
        assert!(
            report
                .get(Step::SanMatchesWho)
                .unwrap()
                .message
                .contains(npi)
        );
        // Its CA is nobody's trust anchor here: only the trust step fails.
        let report = verify_with(
            &example,
            &VerifyOptions {
                trust: vec![TestPki::shared().ca_der()],
                ..opts.clone()
            },
        );
        assert_eq!(report.failed(), [Step::Trust], "{name}: {report:#?}");
        assert_eq!(report.get(Step::Signature).unwrap().outcome, Outcome::Pass);
        // Under 2.1.0 rules: kty RS is there too, so it verifies.
        let report = verify_with(
            &example,
            &VerifyOptions {
                rules: "2.1.0".into(),
                ..opts.clone()
            },
        );
        assert!(report.ok(), "{name}: {report:#?}");
        // Edited after signing: the signature step fails, named as such.
        let mut edited = example.clone();
        edited["status"] = json!("amended");
        edited["total"] = json!(99);
        let report = verify_with(&edited, &opts);
        assert_eq!(report.first_failure().unwrap().0, Step::Signature);
    }
}

#[test]
fn verify_signature_cli_takes_rules_and_trust_anchors() {
    let signed = harness_signed(&SignOptions::default());
    let path = write("signature", "cli-harness-signed.json", &signed);
    let path = path.to_str().unwrap();
    let ca = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("signature/other-ca.pem");
    // The CLI is another process with another TestPki: its CA is not this one. Trusting this
    // process's CA makes the chain trusted.
    std::fs::write(&ca, TestPki::shared().ca_pem()).unwrap();
    let ca = ca.to_str().unwrap();
    let (code, text) = cli(&[
        "verify-signature",
        path,
        "--rules",
        "ci-build",
        "--trust-anchor",
        ca,
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("trust         pass"), "{text}");
    assert!(text.contains(": VERIFIED"), "{text}");
    // Another anchor: not trusted, the step named.
    let other = TestPki::generate();
    let other_ca = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("signature/unrelated-ca.pem");
    std::fs::write(&other_ca, other.ca_pem()).unwrap();
    let (code, text) = cli(&[
        "verify-signature",
        path,
        "--trust-anchor",
        other_ca.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("NOT VERIFIED (failed: trust)"), "{text}");
    // A 2.1.0-only rule: no kty fails under 2.1.0, is not checked under ci-build.
    let no_kty = harness_signed(&SignOptions {
        mismatch: vec!["kty".into()],
        ..SignOptions::default()
    });
    let path = write("signature", "cli-no-kty.json", &no_kty);
    let (code, text) = cli(&["verify-signature", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("failed: kty"), "{text}");
    let (code, text) = cli(&[
        "verify-signature",
        path.to_str().unwrap(),
        "--rules",
        "ci-build",
    ]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn every_mismatch_fails_its_own_step() {
    let ci = trusting("ci-build");
    for (mismatch, step) in [
        ("sigT", Step::SigT),
        ("sigT-missing", Step::SigT),
        ("srCms", Step::SrCms),
        ("srCms-missing", Step::SrCms),
        ("type", Step::SrCms),
        ("kty", Step::Kty),
        ("alg", Step::Alg),
        ("x5c-base64url", Step::X5c),
        ("x5c-missing", Step::X5c),
        ("sigFormat", Step::SigFormat),
        ("targetFormat", Step::TargetFormat),
        ("id-meta", Step::Canonicalization),
        ("not-jcs", Step::Canonicalization),
        ("attached", Step::Parse),
        ("data-base64url", Step::Parse),
    ] {
        let signed = harness_signed(&SignOptions {
            mismatch: vec![mismatch.into()],
            ..SignOptions::default()
        });
        let rules = if step == Step::Kty {
            "2.1.0"
        } else {
            "ci-build"
        };
        let report = verify_with(&signed, &trusting(rules));
        assert_eq!(
            report.first_failure().map(|f| f.0),
            Some(step),
            "{mismatch}: {report:#?}"
        );
        // CI-build rules only warn under 2.1.0.
        if matches!(
            step,
            Step::SigT | Step::SrCms | Step::SigFormat | Step::TargetFormat
        ) {
            let report = verify_with(&signed, &trusting("2.1.0"));
            assert!(report.ok(), "{mismatch}: {report:#?}");
            assert_eq!(report.get(step).unwrap().outcome, Outcome::Warn);
        }
    }
    // SHA-512 warns (a SHOULD), and still verifies.
    let signed = harness_signed(&SignOptions {
        mismatch: vec!["RS512".into()],
        ..SignOptions::default()
    });
    let report = verify_with(&signed, &ci);
    assert!(report.ok(), "{report:#?}");
    assert_eq!(report.get(Step::Alg).unwrap().outcome, Outcome::Warn);
    // Tampered: the signature step, as tampering.
    let signed = harness_signed(&SignOptions {
        tamper: true,
        ..SignOptions::default()
    });
    let report = verify_with(&signed, &ci);
    assert_eq!(report.failed(), [Step::Signature], "{report:#?}");
    assert!(report.first_failure().unwrap().1.contains("tampered"));
}

#[test]
fn item_level_signature_excludes_the_item_id() {
    let mut item = json!({"linkId": "sign-here", "id": "item-1", "text": "Attest",
                          "answer": [{"valueBoolean": true}]});
    harness_sign_item(&mut item);
    let qr = json!({"resourceType": "QuestionnaireResponse", "status": "completed",
                    "item": [item.clone()]});
    let mut moved = item.clone();
    moved["id"] = json!("another-id");
    assert!(verify_with(&moved, &trusting("ci-build")).ok());
    // Selected from the QR, as a scenario's `at:` would.
    assert!(verify_with(&qr["item"][0], &trusting("ci-build")).ok());
    let mut changed = item;
    changed["answer"][0]["valueBoolean"] = json!(false);
    assert_eq!(
        verify_with(&changed, &trusting("ci-build"))
            .first_failure()
            .unwrap()
            .0,
        Step::Signature
    );
}

/// Sign a QR item as CONF-036 says: the item minus its id (and any signature extension).
fn harness_sign_item(item: &mut Value) {
    let mut content = item.clone();
    content.as_object_mut().unwrap().remove("id");
    let signature =
        cdex_harness::fhir::signature::sign::signature_for(&content, &SignOptions::default())
            .unwrap();
    item["extension"] = json!([{
        "url": "http://hl7.org/fhir/StructureDefinition/questionnaireresponse-signature",
        "valueSignature": signature
    }]);
}
