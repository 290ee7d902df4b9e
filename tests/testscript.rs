//! TestScript: R4 scripts run on the harness's runner against the reference actors and a
//! generic FHIR server (`ts/server.rs`), every assert kind and operator shown to hold and to
//! fail, the pitfalls of other engines, TestReports validated with the harness's own
//! validator, `testscript check`, the refusal of unsupported scripts, and the round trip of
//! exported scenarios.

mod common;
#[path = "ts/server.rs"]
mod server;

use cdex_harness::results::{RunResults, Status};
use cdex_harness::runner::{self, RunConfig, Sut};
use cdex_harness::testscript::{cli::prepare, lower::Lowered, report::test_report};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const OPS: &str = "http://terminology.hl7.org/CodeSystem/testscript-operation-codes";

fn spec_dir() -> PathBuf {
    common::project().join("tests/fixtures/testscript")
}

async fn start(faults: &[&'static str]) -> cdex_harness::mock::server::MockServer {
    cdex_harness::mock::server::MockServer::start(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(server::Server::with(faults)),
    )
    .await
    .unwrap()
}

/// Run the scripts under `path` against `target` (the reference actors when `None`).
async fn run_path(
    path: &Path,
    target: Option<&str>,
    vars: &[(&str, &str)],
) -> (Vec<Lowered>, RunResults) {
    let (lowered, _) = prepare(path, None, false, false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pack = cdex_harness::scenario::Pack {
        root: path.to_path_buf(),
        scenarios: lowered.iter().map(|l| l.scenario.clone()).collect(),
        ..Default::default()
    };
    let sut = match target {
        Some(t) => Sut::External {
            target: Some(t.into()),
            trigger: None,
        },
        None => Sut::Reference(Default::default()),
    };
    let mut cfg = RunConfig::new(sut);
    for (k, v) in vars {
        cfg.vars.insert(k.to_string(), v.to_string());
    }
    let catalog = cdex_harness::catalog::Catalog {
        actors: Default::default(),
        options: Default::default(),
        rule_sets: Vec::new(),
        requirements: Vec::new(),
    };
    let selected: Vec<_> = pack.scenarios.iter().collect();
    let (_tx, cancel) = runner::cancel_pair();
    let results = runner::run(&pack, &selected, &catalog, &cfg, cancel).await;
    (lowered, results)
}

/// A script of these parts written to a fresh folder (with a Patient fixture).
fn write_script(name: &str, script: Value) -> PathBuf {
    let dir = common::tmp("testscript", name);
    std::fs::write(
        dir.join("patient.json"),
        serde_json::to_string(&json!({"resourceType": "Patient", "id": "p1", "active": true,
            "name": [{"family": "Chalmers", "given": ["Peter", "James"]}], "gender": "male", "birthDate": "1974-12-25"}))
        .unwrap(),
    )
    .unwrap();
    let mut s = json!({"resourceType": "TestScript", "id": name, "name": name, "status": "draft",
        "url": format!("urn:test:{name}"),
        "fixture": [{"id": "patient", "autocreate": false, "autodelete": false, "resource": {"reference": "patient.json"}}],
        "profile": [{"id": "base-patient", "reference": "http://hl7.org/fhir/StructureDefinition/Patient"},
                    {"id": "unknown", "reference": "http://example.org/StructureDefinition/not-here"}]});
    for (k, v) in script.as_object().unwrap() {
        s[k] = v.clone();
    }
    std::fs::write(
        dir.join("script.json"),
        serde_json::to_string_pretty(&s).unwrap(),
    )
    .unwrap();
    dir
}

fn op(code: &str, extra: Value) -> Value {
    let mut o = json!({"type": {"system": OPS, "code": code}});
    for (k, v) in extra.as_object().unwrap() {
        o[k] = v.clone();
    }
    json!({"operation": o})
}

fn asrt(a: Value) -> Value {
    json!({"assert": a})
}

/// Every listed assertion of a run, in order: (description, status).
fn assertions(r: &RunResults) -> Vec<(String, Status)> {
    r.scenarios[0]
        .steps
        .iter()
        .flat_map(|s| {
            s.assertions.iter().map(|a| {
                (
                    format!(
                        "{} [{}]",
                        a.description,
                        a.message.clone().unwrap_or_default()
                    ),
                    a.status,
                )
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_spec_example_passes_against_the_reference_actors_and_a_generic_server() {
    let (_, r) = run_path(&spec_dir().join("spec/testscript-example.json"), None, &[]).await;
    // The reference server sends no Last-Modified: that warningOnly assert warns, no more.
    assert_eq!(
        r.scenarios[0].status,
        Status::Warned,
        "{:#?}",
        assertions(&r)
    );
    assert_eq!(r.exit_code(), 0);
    let srv = start(&[]).await;
    let (_, r) = run_path(
        &spec_dir().join("spec/testscript-example.json"),
        Some(srv.base_url()),
        &[],
    )
    .await;
    assert_eq!(
        r.scenarios[0].status,
        Status::Passed,
        "{:#?}",
        assertions(&r)
    );
    let n = assertions(&r).len();
    assert_eq!(n, 13);
}

/// Faults of the server make the asserts that must catch them fail: a lost family name
/// (path equals, compareToSourceId, minimumId) and an HTML Content-Type.
#[tokio::test(flavor = "multi_thread")]
async fn the_spec_example_fails_against_faulty_servers() {
    let srv = start(&["lose-family"]).await;
    let (_, r) = run_path(
        &spec_dir().join("spec/testscript-example.json"),
        Some(srv.base_url()),
        &[],
    )
    .await;
    assert_eq!(r.scenarios[0].status, Status::Failed);
    let failed: Vec<_> = assertions(&r)
        .into_iter()
        .filter(|(_, s)| *s == Status::Failed)
        .collect();
    assert!(
        failed.iter().any(|(d, _)| d.contains("compareToSourceId")
            || d.contains("same in fixture-patient-create")),
        "{failed:#?}"
    );
    // The setup's compare fails: the tests are skipped, the teardown still runs.
    let steps = &r.scenarios[0].steps;
    assert!(
        steps
            .iter()
            .filter(|s| s.id.starts_with("test"))
            .all(|s| s.status == Status::Skipped)
    );
    let teardown = steps.iter().find(|s| s.id.starts_with("teardown")).unwrap();
    assert_eq!(teardown.status, Status::Passed);
    assert_eq!(teardown.exchanges.len(), 1);
}

/// Each assert kind, and each of the eleven operators, holds on a good answer and fails on
/// a bad one.
#[tokio::test(flavor = "multi_thread")]
async fn every_assert_kind_and_operator_can_hold_and_fail() {
    let cases: Vec<(Value, Status)> = vec![
        (json!({"response": "okay"}), Status::Passed),
        (json!({"response": "created"}), Status::Failed),
        (json!({"responseCode": "200"}), Status::Passed),
        (json!({"responseCode": "404"}), Status::Failed),
        (
            json!({"responseCode": "200,204", "operator": "in"}),
            Status::Passed,
        ),
        (
            json!({"responseCode": "200,204", "operator": "notIn"}),
            Status::Failed,
        ),
        (
            json!({"responseCode": "199", "operator": "greaterThan"}),
            Status::Passed,
        ),
        (
            json!({"responseCode": "200", "operator": "lessThan"}),
            Status::Failed,
        ),
        (
            json!({"responseCode": "404", "operator": "notEquals"}),
            Status::Passed,
        ),
        (json!({"contentType": "json"}), Status::Passed),
        (json!({"contentType": "xml"}), Status::Failed),
        (
            json!({"headerField": "ETag", "operator": "notEmpty"}),
            Status::Passed,
        ),
        (
            json!({"headerField": "X-Nothing", "operator": "notEmpty"}),
            Status::Failed,
        ),
        (
            json!({"headerField": "X-Nothing", "operator": "empty"}),
            Status::Passed,
        ),
        (
            json!({"headerField": "ETag", "operator": "empty"}),
            Status::Failed,
        ),
        (
            json!({"headerField": "ETag", "operator": "contains", "value": "1"}),
            Status::Passed,
        ),
        (
            json!({"headerField": "ETag", "operator": "notContains", "value": "1"}),
            Status::Failed,
        ),
        (json!({"resource": "Patient"}), Status::Passed),
        (json!({"resource": "Observation"}), Status::Failed),
        (
            json!({"expression": "Patient.name.family", "value": "Chalmers"}),
            Status::Passed,
        ),
        (
            json!({"expression": "Patient.name.family", "operator": "equals", "value": "Smith"}),
            Status::Failed,
        ),
        (
            json!({"expression": "Patient.gender", "operator": "notEquals", "value": "female"}),
            Status::Passed,
        ),
        (
            json!({"expression": "Patient.gender", "operator": "notEquals", "value": "male"}),
            Status::Failed,
        ),
        (
            json!({"expression": "Patient.gender", "operator": "in", "value": "male,other"}),
            Status::Passed,
        ),
        (
            json!({"expression": "Patient.gender", "operator": "in", "value": "female,other"}),
            Status::Failed,
        ),
        (
            json!({"expression": "Patient.gender", "operator": "notIn", "value": "female,other"}),
            Status::Passed,
        ),
        (
            json!({"expression": "Patient.gender", "operator": "notIn", "value": "male"}),
            Status::Failed,
        ),
        (
            json!({"expression": "Patient.birthDate", "operator": "greaterThan", "value": "1970-01-01"}),
            Status::Passed,
        ),
        (
            json!({"expression": "Patient.birthDate", "operator": "greaterThan", "value": "1980-01-01"}),
            Status::Failed,
        ),
        (
            json!({"expression": "Patient.birthDate", "operator": "lessThan", "value": "1980-01-01"}),
            Status::Passed,
        ),
        (
            json!({"expression": "Patient.birthDate", "operator": "lessThan", "value": "1970-01-01"}),
            Status::Failed,
        ),
        (
            json!({"expression": "Patient.deceased", "operator": "empty"}),
            Status::Passed,
        ),
        (
            json!({"expression": "Patient.name", "operator": "empty"}),
            Status::Failed,
        ),
        (
            json!({"expression": "Patient.name", "operator": "notEmpty"}),
            Status::Passed,
        ),
        (
            json!({"expression": "Patient.photo", "operator": "notEmpty"}),
            Status::Failed,
        ),
        (
            json!({"expression": "Patient.name.given", "operator": "contains", "value": "Jam"}),
            Status::Passed,
        ),
        (
            json!({"expression": "Patient.name.given", "operator": "contains", "value": "Zed"}),
            Status::Failed,
        ),
        (
            json!({"expression": "Patient.name.given", "operator": "notContains", "value": "Zed"}),
            Status::Passed,
        ),
        (
            json!({"expression": "Patient.name.given", "operator": "notContains", "value": "Pet"}),
            Status::Failed,
        ),
        (
            json!({"expression": "Patient.active = true", "operator": "eval"}),
            Status::Passed,
        ),
        (
            json!({"expression": "Patient.active = false", "operator": "eval"}),
            Status::Failed,
        ),
        (
            json!({"path": "fhir:Patient/fhir:name/fhir:family/@value", "value": "Chalmers"}),
            Status::Passed,
        ),
        (
            json!({"path": "fhir:Patient/fhir:name/fhir:given[2]/@value", "operator": "equals", "value": "Peter"}),
            Status::Failed,
        ),
        (
            json!({"expression": "Patient.name.family", "compareToSourceId": "patient", "compareToSourceExpression": "Patient.name.family"}),
            Status::Passed,
        ),
        (
            json!({"expression": "Patient.gender", "compareToSourceId": "patient", "compareToSourceExpression": "Patient.birthDate"}),
            Status::Failed,
        ),
        (
            json!({"path": "fhir:Patient/fhir:name/fhir:given/@value", "compareToSourceId": "patient", "compareToSourcePath": "fhir:Patient/fhir:name/fhir:given/@value", "operator": "equals"}),
            Status::Passed,
        ),
        (
            json!({"expression": "Patient.gender", "compareToSourceId": "patient", "compareToSourceExpression": "Patient.gender", "operator": "notEquals"}),
            Status::Failed,
        ),
        (json!({"minimumId": "patient"}), Status::Passed),
        (json!({"minimumId": "bigger"}), Status::Failed),
        (json!({"validateProfileId": "base-patient"}), Status::Passed),
        (
            json!({"validateProfileId": "base-patient", "sourceId": "invalid"}),
            Status::Failed,
        ),
        // A profile the harness does not have is not checked: never passed.
        (json!({"validateProfileId": "unknown"}), Status::Skipped),
        (json!({"requestMethod": "get"}), Status::Passed),
        (json!({"requestMethod": "post"}), Status::Failed),
        (json!({"requestURL": "Patient/p1"}), Status::Passed),
        (json!({"requestURL": "Patient/p2"}), Status::Failed),
        (
            json!({"requestURL": "Patient/p", "operator": "contains"}),
            Status::Passed,
        ),
        // warningOnly: a failure warns.
        (
            json!({"response": "notFound", "warningOnly": true}),
            Status::Warned,
        ),
    ];
    let mut actions = vec![
        op(
            "update",
            json!({"resource": "Patient", "params": "/p1", "sourceId": "patient"}),
        ),
        op(
            "read",
            json!({"resource": "Patient", "params": "/p1", "responseId": "read"}),
        ),
    ];
    actions.extend(cases.iter().map(|(a, _)| asrt(a.clone())));
    // navigationLinks on a one-page search result: no next link is needed.
    actions.push(op(
        "search",
        json!({"resource": "Patient", "params": "?family=Chalmers"}),
    ));
    actions.push(asrt(json!({"navigationLinks": true})));
    let dir = write_script(
        "kinds",
        json!({"test": [{"name": "kinds", "action": actions}]}),
    );
    std::fs::write(dir.join("bigger.json"), r#"{"resourceType": "Patient", "name": [{"family": "Chalmers"}], "photo": [{"url": "http://x/p.png"}]}"#).unwrap();
    std::fs::write(
        dir.join("invalid.json"),
        r#"{"resourceType": "Patient", "gender": 3, "birthDate": "yesterday"}"#,
    )
    .unwrap();
    let mut s: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("script.json")).unwrap()).unwrap();
    s["fixture"].as_array_mut().unwrap().extend([
        json!({"id": "bigger", "autocreate": false, "autodelete": false, "resource": {"reference": "bigger.json"}}),
        json!({"id": "invalid", "autocreate": false, "autodelete": false, "resource": {"reference": "invalid.json"}}),
    ]);
    std::fs::write(dir.join("script.json"), s.to_string()).unwrap();
    let srv = start(&[]).await;
    let (_, r) = run_path(&dir, Some(srv.base_url()), &[]).await;
    let got = assertions(&r);
    assert_eq!(got.len(), cases.len() + 1, "{got:#?}");
    for ((a, want), (desc, status)) in cases.iter().zip(&got) {
        assert_eq!(status, want, "{a}: {desc}");
    }
    assert_eq!(
        got.last().unwrap().1,
        Status::Passed,
        "navigationLinks: {:?}",
        got.last()
    );
    // A failed warningOnly assert warns; only the real failures fail the run.
    assert_eq!(r.scenarios[0].status, Status::Failed);
}

/// The operations beyond read: vread, history (instance, type, system), transaction,
/// batch, capabilities, create with responseId and targetId, delete; variables from a
/// response (expression and headerField), a default and a hint given with --var.
#[tokio::test(flavor = "multi_thread")]
async fn operations_and_variables() {
    let bundle = json!({"resourceType": "Bundle", "id": "tx", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "name": [{"family": "Tx"}]}, "request": {"method": "POST", "url": "Patient"}}]});
    let actions = vec![
        op(
            "create",
            json!({"resource": "Patient", "sourceId": "patient", "responseId": "created"}),
        ),
        asrt(json!({"response": "created"})),
        op("vread", json!({"targetId": "created"})),
        asrt(json!({"response": "okay"})),
        asrt(json!({"expression": "Patient.meta.versionId", "value": "1"})),
        op(
            "update",
            json!({"targetId": "created", "sourceId": "patient"}),
        ),
        asrt(json!({"response": "okay"})),
        op("history", json!({"targetId": "created"})),
        asrt(json!({"expression": "Bundle.type", "value": "history"})),
        asrt(json!({"expression": "Bundle.total", "value": "2"})),
        op("history", json!({"resource": "Patient"})),
        asrt(
            json!({"expression": "Bundle.entry.count()", "operator": "greaterThan", "value": "1"}),
        ),
        op(
            "search",
            json!({"resource": "Patient", "params": "?_id=${createdId}"}),
        ),
        asrt(json!({"expression": "Bundle.total", "value": "1"})),
        op("transaction", json!({"sourceId": "tx"})),
        asrt(json!({"expression": "Bundle.type", "value": "transaction-response"})),
        op("batch", json!({"sourceId": "batch"})),
        asrt(json!({"expression": "Bundle.type", "value": "batch-response"})),
        op("capabilities", json!({})),
        asrt(json!({"resource": "CapabilityStatement"})),
        op(
            "read",
            json!({"resource": "Patient", "params": "/${hinted}"}),
        ),
        asrt(json!({"response": "okay"})),
        op("read", json!({"url": "Patient/${defaulted}"})),
        asrt(json!({"response": "notFound"})),
        op(
            "read",
            json!({"resource": "Patient", "params": "/${createdId}", "requestHeader": [{"field": "X-Version", "value": "${etag}"}]}),
        ),
        asrt(json!({"headerField": "ETag", "operator": "notEquals", "value": "${etag}"})),
        asrt(json!({"requestURL": "${createdId}", "operator": "contains"})),
        op("delete", json!({"targetId": "created"})),
        asrt(json!({"responseCode": "204"})),
        op("read", json!({"targetId": "created"})),
        asrt(json!({"response": "notFound"})),
    ];
    let dir = write_script(
        "ops",
        json!({
        "contained": [bundle, {"resourceType": "Bundle", "id": "batch", "type": "batch", "entry": [
            {"resource": {"resourceType": "Patient", "id": "b1"}, "request": {"method": "PUT", "url": "Patient/b1"}}]}],
        "variable": [
            {"name": "createdId", "expression": "Patient.id", "sourceId": "created"},
            {"name": "etag", "headerField": "ETag", "sourceId": "created"},
            {"name": "defaulted", "defaultValue": "nobody"},
            {"name": "hinted", "hint": "a patient id"}],
        "test": [{"name": "ops", "action": actions}]}),
    );
    let mut s: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("script.json")).unwrap()).unwrap();
    s["fixture"].as_array_mut().unwrap().extend([
        json!({"id": "tx", "resource": {"reference": "#tx"}}),
        json!({"id": "batch", "resource": {"reference": "#batch"}}),
    ]);
    std::fs::write(dir.join("script.json"), s.to_string()).unwrap();
    let srv = start(&[]).await;
    srv.handler()
        .seed(json!({"resourceType": "Patient", "id": "given"}))
        .unwrap();
    let (_, r) = run_path(&dir, Some(srv.base_url()), &[("hinted", "given")]).await;
    let got = assertions(&r);
    assert!(got.iter().all(|(_, s)| *s == Status::Passed), "{got:#?}");
    assert_eq!(got.len(), 17);
    let urls: Vec<String> = r.scenarios[0]
        .steps
        .iter()
        .flat_map(|s| {
            s.exchanges.iter().map(|x| {
                format!(
                    "{} {}",
                    x.request.method.clone().unwrap_or_default(),
                    x.request
                        .url
                        .clone()
                        .unwrap_or_default()
                        .splitn(4, '/')
                        .nth(3)
                        .unwrap_or("")
                )
            })
        })
        .collect();
    for want in [
        "POST Patient",
        "GET Patient/gen1/_history/1",
        "PUT Patient/gen1",
        "GET Patient/gen1/_history",
        "GET Patient/_history",
        "POST ",
        "GET metadata",
        "GET Patient/given",
        "GET Patient/nobody",
        "DELETE Patient/gen1",
    ] {
        assert!(urls.iter().any(|u| u == want), "{want} in {urls:#?}");
    }
}

/// stopTestOnFail stops its test (the other tests go on); teardown always runs; a failed
/// setup skips the tests.
#[tokio::test(flavor = "multi_thread")]
async fn stop_test_on_fail_and_teardown() {
    let dir = write_script(
        "stop",
        json!({
        "setup": {"action": [op("update", json!({"resource": "Patient", "params": "/p1", "sourceId": "patient"}))]},
        "test": [
            {"name": "stops", "action": [
                op("read", json!({"resource": "Patient", "params": "/p1"})),
                asrt(json!({"response": "notFound", "stopTestOnFail": true})),
                op("read", json!({"resource": "Patient", "params": "/p1"})),
                asrt(json!({"response": "okay"}))]},
            {"name": "goes on", "action": [
                op("read", json!({"resource": "Patient", "params": "/p1"})),
                asrt(json!({"response": "notFound"})),
                asrt(json!({"response": "okay"})),
                op("read", json!({"resource": "Patient", "params": "/p1"})),
                asrt(json!({"response": "okay"}))]}],
        "teardown": {"action": [op("delete", json!({"resource": "Patient", "params": "/p1"}))]}}),
    );
    let srv = start(&[]).await;
    let (_, r) = run_path(&dir, Some(srv.base_url()), &[]).await;
    let steps = &r.scenarios[0].steps;
    let by = |id: &str| {
        steps.iter().find(|s| s.id == id).unwrap_or_else(|| {
            panic!(
                "{id} in {:?}",
                steps.iter().map(|s| &s.id).collect::<Vec<_>>()
            )
        })
    };
    assert_eq!(by("test1-2").status, Status::Failed);
    assert_eq!(by("test1-3").status, Status::Skipped);
    assert_eq!(by("test2-1").status, Status::Failed);
    assert_eq!(
        by("test2-2").status,
        Status::Passed,
        "a failed assert without stopTestOnFail does not stop the test"
    );
    assert_eq!(by("teardown-1").status, Status::Passed);

    // A failed setup: tests skipped, teardown run.
    let dir = write_script(
        "setup-fails",
        json!({
        "setup": {"action": [op("read", json!({"resource": "Patient", "params": "/absent"})), asrt(json!({"response": "okay"}))]},
        "test": [{"name": "t", "action": [op("read", json!({"resource": "Patient", "params": "/p1"}))]}],
        "teardown": {"action": [op("delete", json!({"resource": "Patient", "params": "/p1"}))]}}),
    );
    let (_, r) = run_path(&dir, Some(srv.base_url()), &[]).await;
    let steps = &r.scenarios[0].steps;
    assert_eq!(
        steps.iter().find(|s| s.id == "test1-1").unwrap().status,
        Status::Skipped
    );
    assert_eq!(
        steps
            .iter()
            .find(|s| s.id == "teardown-1")
            .unwrap()
            .exchanges
            .len(),
        1
    );
}

/// Pitfall: the `contentType` assert reads the RESPONSE's Content-Type, not the request's.
#[tokio::test(flavor = "multi_thread")]
async fn content_type_is_the_responses() {
    let script = json!({"test": [{"name": "ct", "action": [
        op("update", json!({"resource": "Patient", "params": "/p1", "sourceId": "patient", "contentType": "json"})),
        asrt(json!({"contentType": "json"}))]}]});
    let dir = write_script("ct", script);
    let srv = start(&["html"]).await;
    let (_, r) = run_path(&dir, Some(srv.base_url()), &[]).await;
    let got = assertions(&r);
    assert_eq!(got[0].1, Status::Failed, "{got:?}");
    assert!(got[0].0.contains("text/html"), "{got:?}");
    let srv = start(&[]).await;
    let (_, r) = run_path(&dir, Some(srv.base_url()), &[]).await;
    assert_eq!(assertions(&r)[0].1, Status::Passed);
}

/// Pitfall: navigationLinks judges the links present; a malformed one fails.
#[tokio::test(flavor = "multi_thread")]
async fn navigation_links_fail_on_a_relative_link() {
    let dir = write_script(
        "links",
        json!({"test": [{"name": "l", "action": [
        op("search", json!({"resource": "Patient", "params": "?family=X"})),
        asrt(json!({"navigationLinks": true}))]}]}),
    );
    let srv = start(&["relative-links"]).await;
    let (_, r) = run_path(&dir, Some(srv.base_url()), &[]).await;
    assert_eq!(assertions(&r)[0].1, Status::Failed);
}

/// Pitfall: a failed warningOnly assert warns and never fails the report; TestReports
/// validate against R4 TestReport with the harness's own validator.
#[tokio::test(flavor = "multi_thread")]
async fn test_reports_validate_and_warnings_do_not_fail_them() {
    let dir = write_script(
        "warn",
        json!({"test": [{"name": "w", "description": "warns", "action": [
        op("read", json!({"resource": "Patient", "params": "/nobody"})),
        asrt(json!({"response": "okay", "warningOnly": true})),
        asrt(json!({"response": "notFound"}))]}]}),
    );
    let srv = start(&[]).await;
    let (lowered, r) = run_path(&dir, Some(srv.base_url()), &[]).await;
    assert_eq!(r.scenarios[0].status, Status::Warned);
    assert_eq!(r.exit_code(), 0);
    let report = test_report(
        &lowered[0],
        &r.scenarios[0],
        srv.base_url(),
        "2026-12-01T10:00:00Z",
    );
    assert_eq!(report["result"], "pass");
    assert_eq!(
        report["test"][0]["action"][1]["assert"]["result"],
        "warning"
    );
    assert_eq!(report["score"], 100.0);
    let v = cdex_harness::fhir::conformance::validator().unwrap();
    let errors: Vec<String> = v
        .validate_with_invariants(&report, None)
        .await
        .iter()
        .filter(|i| i.is_error())
        .map(|i| i.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The validator does judge TestReports: a wrong one has errors.
    let mut broken = report.clone();
    broken["status"] = json!("finished-maybe");
    broken["score"] = json!("high");
    broken.as_object_mut().unwrap().remove("testScript");
    let errors = v
        .validate_with_invariants(&broken, None)
        .await
        .iter()
        .filter(|i| i.is_error())
        .count();
    assert!(errors >= 3, "{errors}");

    // The spec example's report, and a failing one.
    for faults in [&[][..], &["lose-family"][..]] {
        let srv = start(faults).await;
        let (lowered, r) = run_path(
            &spec_dir().join("spec/testscript-example.json"),
            Some(srv.base_url()),
            &[],
        )
        .await;
        let report = test_report(
            &lowered[0],
            &r.scenarios[0],
            srv.base_url(),
            "2026-12-01T10:00:00Z",
        );
        let errors: Vec<String> = v
            .validate_with_invariants(&report, None)
            .await
            .iter()
            .filter(|i| i.is_error())
            .map(|i| i.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
        assert_eq!(
            report["result"],
            if faults.is_empty() { "pass" } else { "fail" }
        );
        assert_eq!(report["setup"]["action"].as_array().unwrap().len(), 7);
        assert_eq!(report["teardown"]["action"].as_array().unwrap().len(), 1);
    }
}

/// `testscript check` names what is unsupported by element path; `run --testscript`
/// refuses such a script (exit 2, nothing run) unless `--skip-unsupported`, which runs the
/// rest and reports the unsupported action skipped.
#[test]
fn unsupported_scripts_are_refused_or_skipped() {
    let o = common::harness(&["testscript", "check", "tests/fixtures/testscript/spec"]);
    assert_eq!(o.status.code(), Some(0), "{}", common::text(&o));
    assert!(
        common::text(&o).contains("supported; 5 operation(s), 13 assert(s)"),
        "{}",
        common::text(&o)
    );

    // A variable used and not declared is named, with how to give it.
    let hinted = write_script(
        "undeclared",
        json!({"test": [{"name": "u", "action": [
            op("read", json!({"resource": "Patient", "params": "/${patientId}"}))]}]}),
    );
    let o = common::harness(&["testscript", "check", hinted.to_str().unwrap()]);
    let t = common::text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains("`${patientId}` is used and not declared: give it with --var patientId=VALUE"),
        "{t}"
    );

    let dir = write_script(
        "unsupported",
        json!({"test": [{"name": "u", "action": [
        op("apply", json!({"resource": "PlanDefinition", "params": "/x/$apply"})),
        asrt(json!({"response": "okay"})),
        op("read", json!({"resource": "Patient", "params": "/nobody"})),
        asrt(json!({"response": "notFound"})),
        asrt(json!({"response": "notFound", "rule": {"ruleId": "r1"}}))]}]}),
    );
    let script = dir.join("script.json");
    let o = common::harness(&["testscript", "check", script.to_str().unwrap()]);
    let t = common::text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("test[0].action[0].operation.type: operation `apply` is not supported"),
        "{t}"
    );
    assert!(t.contains("test[0].action[4].assert.rule"), "{t}");

    let out = dir.join("out");
    let o = common::harness(&[
        "run",
        "--testscript",
        script.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let t = common::text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("test[0].action[0].operation.type"), "{t}");
    assert!(!out.join("results.json").exists(), "nothing runs");

    let report = dir.join("report.json");
    let o = common::harness(&[
        "run",
        "--testscript",
        script.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--skip-unsupported",
        "--testreport",
        report.to_str().unwrap(),
    ]);
    let t = common::text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let actions = r["test"][0]["action"].as_array().unwrap();
    assert_eq!(actions.len(), 5);
    assert_eq!(actions[0]["operation"]["result"], "skip");
    assert_eq!(actions[1]["assert"]["result"], "skip");
    assert_eq!(actions[2]["operation"]["result"], "pass");
    assert_eq!(actions[3]["assert"]["result"], "pass");
    assert_eq!(actions[4]["assert"]["result"], "skip");
    assert_eq!(r["result"], "pass");
}

fn statuses(results: &Path) -> std::collections::BTreeMap<String, String> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(results).unwrap()).unwrap();
    v["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Round trip: the cdex-2019 information-server scenarios where the harness sends every
/// request, exported as TestScripts and run with --testscript against the reference actors,
/// give the verdicts the YAML pack gives, with the correct actor and with faulty ones.
#[test]
fn exported_scenarios_give_the_packs_verdicts() {
    let dir = common::tmp("testscript", "roundtrip");
    let scripts = dir.join("scripts");
    let o = common::harness(&[
        "testscript",
        "export",
        "--pack",
        "cdex-2019",
        "--actor",
        "information-server",
        "--out",
        scripts.to_str().unwrap(),
    ]);
    let t = common::text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    // What cannot be said is named, never dropped silently.
    assert!(
        t.contains("is-np-subscribe-notify: not exported: step `not-notified` is a `expect` step"),
        "{t}"
    );
    assert!(
        t.contains("not expressed: step `read-communication` needs"),
        "{t}"
    );
    let exported: Vec<String> = std::fs::read_dir(&scripts)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| e.path().file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(exported.len() >= 7, "{exported:?}");
    let update: Value = serde_json::from_str(
        &std::fs::read_to_string(scripts.join("is-push-update.json")).unwrap(),
    )
    .unwrap();
    assert!(
        update["extension"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["url"] == cdex_harness::testscript::export::NOT_EXPRESSED)
    );
    let o = common::harness(&["testscript", "check", scripts.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", common::text(&o));

    for fault in [
        None,
        Some("information-server:reject-update"),
        Some("information-server:lose-data"),
        Some("information-server:no-auth"),
        Some("information-server:search-empty"),
    ] {
        let name = fault
            .map(|f| f.replace(':', "-"))
            .unwrap_or_else(|| "correct".into());
        let (yaml, ts) = (
            dir.join(format!("yaml-{name}")),
            dir.join(format!("ts-{name}")),
        );
        let mut a = vec![
            "run",
            "--pack",
            "cdex-2019",
            "--actor",
            "information-server",
            "--out",
            yaml.to_str().unwrap(),
        ];
        let mut b = vec![
            "run",
            "--testscript",
            scripts.to_str().unwrap(),
            "--pack",
            "cdex-2019",
            "--out",
            ts.to_str().unwrap(),
        ];
        if let Some(f) = fault {
            a.extend(["--fault", f]);
            b.extend(["--fault", f]);
        }
        let (oa, ob) = (common::harness(&a), common::harness(&b));
        assert_eq!(
            oa.status.code(),
            ob.status.code(),
            "{name}: {}\n{}",
            common::text(&oa),
            common::text(&ob)
        );
        let (ya, tb) = (
            statuses(&yaml.join("results.json")),
            statuses(&ts.join("results.json")),
        );
        for (id, st) in &tb {
            assert_eq!(
                ya.get(id),
                Some(st),
                "{name}: {id}: YAML {:?}, TestScript {st}",
                ya.get(id)
            );
        }
        assert_eq!(tb.len(), exported.len());
        if fault.is_some() {
            assert!(tb.values().any(|s| s == "failed"), "{name}: {tb:?}");
        }
    }
}

/// A public R4 script (fhir-crucible/testscript-engine's history example, see
/// docs/testscript.md) against the generic server: its Bundle profile is one the harness does
/// not have, so that assert is skipped (never passed) and the report still passes.
#[tokio::test(flavor = "multi_thread")]
async fn a_public_history_script_runs() {
    let srv = start(&[]).await;
    let (lowered, r) = run_path(&spec_dir().join("public"), Some(srv.base_url()), &[]).await;
    assert_eq!(r.scenarios.len(), 1);
    let got = assertions(&r);
    assert_eq!(got.len(), 7, "{got:#?}");
    let skipped: Vec<_> = got.iter().filter(|(_, s)| *s == Status::Skipped).collect();
    assert_eq!(skipped.len(), 1, "{got:#?}");
    assert!(skipped[0].0.contains("not checked"), "{skipped:?}");
    assert!(
        got.iter()
            .all(|(_, s)| matches!(s, Status::Passed | Status::Skipped)),
        "{got:#?}"
    );
    let report = test_report(
        &lowered[0],
        &r.scenarios[0],
        srv.base_url(),
        "2026-12-01T10:00:00Z",
    );
    assert_eq!(report["result"], "pass");
    assert_eq!(report["test"][0]["action"][3]["assert"]["result"], "skip");
}

/// The XML form of the spec example reads and runs like the JSON one, and fails alike.
#[tokio::test(flavor = "multi_thread")]
async fn an_xml_script_runs_like_json() {
    let xml = spec_dir().join("spec/testscript-example-xml.xml");
    let (_, r) = run_path(&xml, None, &[]).await;
    assert_eq!(
        r.scenarios[0].status,
        Status::Passed,
        "{:#?}",
        assertions(&r)
    );
    assert_eq!(assertions(&r).len(), 8);
    let srv = start(&["lose-family"]).await;
    let (_, r) = run_path(&xml, Some(srv.base_url()), &[]).await;
    let failed: Vec<_> = assertions(&r)
        .into_iter()
        .filter(|(_, s)| *s == Status::Failed)
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert!(
        failed[0].0.contains("Patient.name.family") || failed[0].0.contains("family"),
        "{failed:?}"
    );
}

/// A client-side script (the system under test is a client: `--trigger` or `--listen`, no
/// `--target`): each operation is a request the harness awaits at its endpoint, playing the
/// reference Information Server; `direction: request` asserts read what the client sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_side_script_awaits_the_clients_requests() {
    let dir = write_script(
        "client",
        json!({"test": [{"name": "client pushes and searches", "action": [
        op("create", json!({"resource": "Patient", "sourceId": "patient", "description": "create the Patient"})),
        asrt(json!({"direction": "request", "resource": "Patient"})),
        asrt(json!({"direction": "request", "requestMethod": "post"})),
        asrt(json!({"direction": "request", "contentType": "json"})),
        asrt(json!({"direction": "request", "expression": "Patient.name.family", "value": "Chalmers"})),
        asrt(json!({"direction": "request", "headerField": "Authorization", "operator": "notEmpty"})),
        asrt(json!({"response": "created"})),
        op("search", json!({"resource": "Patient", "params": "?family=Chalmers"})),
        asrt(json!({"direction": "request", "requestURL": "family=Chalmers", "operator": "contains"})),
        asrt(json!({"resource": "Bundle"}))]}]}),
    );
    let trigger = dir.join("client.sh");
    std::fs::write(&trigger, r#"#!/bin/sh
case "$CDEX_ACTION" in
  testscript-create) curl -s -o /dev/null -X POST -H 'Content-Type: application/fhir+json' --data-binary @"$CDEX_PAYLOAD_FILE" "$CDEX_HARNESS_URL/Patient" ;;
  testscript-search) curl -s -o /dev/null "$CDEX_HARNESS_URL/Patient?family=Chalmers" ;;
esac
"#).unwrap();
    let (lowered, _) = prepare(&dir, None, false, true).await.unwrap();
    let pack = cdex_harness::scenario::Pack {
        root: dir.clone(),
        scenarios: lowered.iter().map(|l| l.scenario.clone()).collect(),
        ..Default::default()
    };
    let mut cfg = RunConfig::new(Sut::External {
        target: None,
        trigger: Some(format!("sh {}", trigger.display())),
    });
    cfg.options = runner::Options::All;
    let catalog = cdex_harness::catalog::Catalog {
        actors: Default::default(),
        options: Default::default(),
        rule_sets: Vec::new(),
        requirements: Vec::new(),
    };
    let selected: Vec<_> = pack.scenarios.iter().collect();
    let (_tx, cancel) = runner::cancel_pair();
    let r = runner::run(&pack, &selected, &catalog, &cfg, cancel).await;
    let got = assertions(&r);
    let want = [
        Status::Passed,
        Status::Passed,
        Status::Passed,
        Status::Passed,
        Status::Failed,
        Status::Passed,
        Status::Passed,
        Status::Passed,
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for ((d, s), w) in got.iter().zip(want) {
        assert_eq!(*s, w, "{d}");
    }
    assert_eq!(r.scenarios[0].actor, "information-client");
}

/// autocreate POSTs the fixture before the setup and its server id is the target of the
/// operations naming it; autodelete deletes it after the teardown.
#[tokio::test(flavor = "multi_thread")]
async fn autocreate_and_autodelete() {
    let dir = write_script(
        "auto",
        json!({"test": [{"name": "auto", "action": [
        op("read", json!({"targetId": "patient"})),
        asrt(json!({"response": "okay"})),
        asrt(json!({"expression": "Patient.id", "value": "gen1"}))]}]}),
    );
    let mut s: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("script.json")).unwrap()).unwrap();
    s["fixture"][0]["autocreate"] = json!(true);
    s["fixture"][0]["autodelete"] = json!(true);
    std::fs::write(dir.join("script.json"), s.to_string()).unwrap();
    let srv = start(&[]).await;
    let (lowered, r) = run_path(&dir, Some(srv.base_url()), &[]).await;
    assert_eq!(
        r.scenarios[0].status,
        Status::Passed,
        "{:#?}",
        assertions(&r)
    );
    let calls: Vec<String> = r.scenarios[0]
        .steps
        .iter()
        .flat_map(|s| {
            s.exchanges.iter().map(|x| {
                format!(
                    "{} {}",
                    x.request.method.clone().unwrap_or_default(),
                    x.request.url.clone().unwrap_or_default()
                )
            })
        })
        .collect();
    assert!(
        calls[0].starts_with("POST ") && calls[0].ends_with("/Patient"),
        "{calls:?}"
    );
    assert!(calls[1].ends_with("/Patient/gen1"), "{calls:?}");
    assert!(
        calls[2].starts_with("DELETE ") && calls[2].ends_with("/Patient/gen1"),
        "{calls:?}"
    );
    let report = test_report(
        &lowered[0],
        &r.scenarios[0],
        srv.base_url(),
        "2026-12-01T10:00:00Z",
    );
    assert_eq!(report["setup"]["action"][0]["operation"]["result"], "pass");
    assert_eq!(
        report["teardown"]["action"][0]["operation"]["result"],
        "pass"
    );
}
