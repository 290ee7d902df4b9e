//! The scenario language's signature keys: `send.sign` (the harness signs a resource inside a
//! request body, with its test PKI, well or deliberately badly) and the assertion `signature:`
//! (whole verification, or one verifier step), judged under the run's rule set and trust
//! anchors. The system under test here echoes what it receives, so each signed body comes back
//! to be checked: every check passes on a good signature and fails (or warns) on a bad one.

mod common;

use cdex_harness::catalog::Catalog;
use cdex_harness::fhir::signature::TestPki;
use cdex_harness::http::Message;
use cdex_harness::mock::{self, Handler, MockServer};
use cdex_harness::results::{RunResults, Status};
use cdex_harness::runner::{self, RunConfig, Sut};
use cdex_harness::scenario;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// Answers every POST with its own body (200).
struct Echo;

impl Handler for Echo {
    fn handle(&self, req: &Message) -> Message {
        match req.json() {
            Ok(v) => mock::fhir_response(200, &v),
            Err(e) => mock::outcome(400, "invalid", &e),
        }
    }
    fn seed(&self, _resource: Value) -> Result<String, String> {
        Err("no seeding".into())
    }
}

fn run(name: &str, yaml: &str, rules: &[&str], anchors: Vec<Vec<u8>>) -> RunResults {
    let catalog =
        Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/cdex-2.1")).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(MockServer::start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            Arc::new(Echo),
        ))
        .unwrap();
    let mut cfg = RunConfig::new(Sut::External {
        target: Some(server.base_url().to_string()),
        trigger: None,
    });
    cfg.rules = rules.iter().map(|r| r.to_string()).collect();
    cfg.trust_anchors = anchors;
    let dir = common::pack_dir("sigscen", name, yaml);
    let pack = scenario::load_pack(&dir, &catalog, &Default::default())
        .unwrap_or_else(|d| panic!("the pack loads: {d}"));
    let selected = runner::select(&pack, None, &[]);
    let (_tx, rx) = runner::cancel_pair();
    let r = rt.block_on(runner::run(&pack, &selected, &catalog, &cfg, rx));
    drop(server);
    r
}

/// The statuses of the `signature` assertions of step `post`, in order.
fn statuses(r: &RunResults) -> Vec<(Status, String)> {
    r.scenarios[0]
        .steps
        .iter()
        .find(|s| s.id == "post")
        .expect("step post")
        .assertions
        .iter()
        .filter(|a| a.kind == "signature")
        .map(|a| {
            (
                a.status,
                format!(
                    "{} [{:?}]",
                    a.message.clone().unwrap_or_default(),
                    a.expected
                ),
            )
        })
        .collect()
}

fn scenario(sign: &str, checks: &str) -> String {
    format!(
        r#"id: sig
title: a signed Bundle sent and echoed
actor: data-source-server
steps:
  - id: post
    send:
      method: POST
      path: Bundle
      body:
        json:
          resourceType: Bundle
          id: b1
          meta: {{ lastUpdated: "2026-01-01T00:00:00Z" }}
          type: collection
          entry:
            - fullUrl: "urn:uuid:1"
              resource:
                resourceType: QuestionnaireResponse
                status: completed
                authored: "2026-01-02T03:04:05Z"
      sign: {sign}
    assert:
{checks}
"#
    )
}

fn ca() -> Vec<Vec<u8>> {
    vec![TestPki::shared().ca_der()]
}

#[test]
fn a_good_signature_passes_every_check() {
    let checks = "      - signature: {}\n      - signature: { step: trust }\n      - signature: { step: san }\n      - signature: { step: sigT }";
    let r = run(
        "good",
        &scenario("{}", checks),
        &["2.1.0", "ci-build"],
        ca(),
    );
    let s = statuses(&r);
    assert_eq!(s.len(), 4);
    assert!(s.iter().all(|(st, _)| *st == Status::Passed), "{s:#?}");
    // The CA written for partners is the one that signed.
    assert!(TestPki::shared().ca_pem().contains("BEGIN CERTIFICATE"));
}

#[test]
fn bad_certificates_fail_their_step_only() {
    let checks = "      - signature: { step: signature }\n      - signature: { step: validity }\n      - signature: { step: trust }\n      - signature: {}";
    let r = run(
        "expired",
        &scenario("{ cert: expired }", checks),
        &["2.1.0", "ci-build"],
        ca(),
    );
    let s = statuses(&r);
    assert_eq!(s[0].0, Status::Passed, "{s:#?}");
    assert_eq!(s[1].0, Status::Failed, "{s:#?}");
    assert!(s[1].1.contains("expired"), "{s:#?}");
    assert_eq!(s[2].0, Status::Passed, "{s:#?}");
    assert_eq!(s[3].0, Status::Failed, "{s:#?}");
    assert!(s[3].1.contains("the validity step failed"), "{s:#?}");

    let r = run(
        "untrusted",
        &scenario("{ cert: untrusted }", checks),
        &["2.1.0"],
        ca(),
    );
    let s = statuses(&r);
    assert_eq!(s[2].0, Status::Failed, "{s:#?}");
    assert!(s[2].1.contains("not trusted"), "{s:#?}");
    // Without any trust anchor the trust step does not apply.
    let r = run(
        "untrusted-no-anchor",
        &scenario("{ cert: untrusted }", checks),
        &["2.1.0"],
        vec![],
    );
    let s = statuses(&r);
    assert_eq!(s[2].0, Status::NotApplicable, "{s:#?}");
    assert_eq!(s[3].0, Status::Passed, "{s:#?}");
}

#[test]
fn ci_build_rules_warn_under_2_1_0_and_fail_under_ci_build() {
    let checks = "      - signature: { step: sigT }\n      - signature: { step: kty }";
    let sign = "{ mismatch: [sigT] }";
    let s = statuses(&run("sigt-210", &scenario(sign, checks), &["2.1.0"], ca()));
    assert_eq!(s[0].0, Status::Warned, "{s:#?}");
    assert_eq!(s[1].0, Status::Passed, "{s:#?}");
    let s = statuses(&run(
        "sigt-ci",
        &scenario(sign, checks),
        &["2.1.0", "ci-build"],
        ca(),
    ));
    assert_eq!(s[0].0, Status::Failed, "{s:#?}");
    // kty is a 2.1.0 rule: not applicable under ci-build.
    assert_eq!(s[1].0, Status::NotApplicable, "{s:#?}");
}

#[test]
fn a_resource_inside_the_body_is_signed_and_selected() {
    let checks = "      - signature: { at: \"entry.resource\" }\n      - signature: { at: \"entry.resource\", step: canonical }";
    let r = run(
        "nested",
        &scenario("{ at: /entry/0/resource, tamper: true }", checks),
        &["2.1.0", "ci-build"],
        ca(),
    );
    let s = statuses(&r);
    assert_eq!(s[0].0, Status::Failed, "{s:#?}");
    assert!(s[0].1.contains("tampered"), "{s:#?}");
    assert_eq!(s[1].0, Status::NotApplicable, "{s:#?}");
    let r = run(
        "nested-good",
        &scenario("{ at: /entry/0/resource }", checks),
        &["2.1.0", "ci-build"],
        ca(),
    );
    let s = statuses(&r);
    assert!(s.iter().all(|(st, _)| *st == Status::Passed), "{s:#?}");
}

#[test]
fn unknown_keys_and_values_are_load_errors() {
    let catalog =
        Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/cdex-2.1")).unwrap();
    for (sign, checks, words) in [
        (
            "{ cert: forged }",
            "      - signature: {}",
            "unknown certificate `forged`",
        ),
        (
            "{ mismatch: [nonsense] }",
            "      - signature: {}",
            "unknown mismatch `nonsense`",
        ),
        (
            "{ at: entry }",
            "      - signature: {}",
            "is not a JSON Pointer",
        ),
        (
            "{}",
            "      - signature: { step: everything }",
            "unknown verifier step `everything`",
        ),
    ] {
        let dir = common::pack_dir("sigscen", "bad", &scenario(sign, checks));
        let err = scenario::load_pack(&dir, &catalog, &Default::default())
            .err()
            .unwrap_or_else(|| panic!("{sign} {checks} should not load"));
        assert!(err.to_string().contains(words), "{err}");
    }
}
