//! Every kind of mistake a scenario author makes is reported before anything runs, with
//! file, line, column, field and a hint; one test per kind, the message snapshot-tested.

use cdex_harness::catalog::Catalog;
use cdex_harness::scenario::{self, load::LoadOptions};
use std::path::{Path, PathBuf};

const GOOD: &str = "id: ok\ntitle: Fine\nactor: information-server\nsteps:\n  - id: read\n    send: { method: GET, path: Condition/1 }\n    assert:\n      - status: 200\n        req: CDEX-IS-PULL\n";

/// Load a pack made of `files` (name, text); return the problems, the pack folder shown as
/// `<pack>`.
fn problems(case: &str, files: &[(&str, &str)]) -> String {
    let dir: PathBuf =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bad-{case}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("fixtures")).unwrap();
    std::fs::write(
        dir.join("fixtures/patient.json"),
        r#"{"resourceType":"Patient","id":"p1"}"#,
    )
    .unwrap();
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let catalog =
        Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/cdex-2019")).unwrap();
    match scenario::load_pack(&dir, &catalog, &LoadOptions::default()) {
        Ok(_) => panic!("{case}: the pack loaded although it is wrong"),
        Err(d) => d.to_string().replace(dir.to_str().unwrap(), "<pack>"),
    }
}

#[test]
fn yaml_syntax_error() {
    insta::assert_snapshot!(problems(
        "syntax",
        &[(
            "s.yaml",
            "id: s\ntitle: \"unclosed\nactor: information-server\n"
        )]
    ));
}

#[test]
fn unknown_key() {
    insta::assert_snapshot!(problems(
        "unknown-key",
        &[("s.yaml", &GOOD.replace("title: Fine", "titel: Fine"))]
    ));
}

#[test]
fn wrong_type() {
    insta::assert_snapshot!(problems(
        "wrong-type",
        &[(
            "s.yaml",
            &GOOD.replace("steps:\n", "options: task-based\nsteps:\n")
        )]
    ));
}

#[test]
fn unknown_step_kind() {
    insta::assert_snapshot!(problems(
        "step-kind",
        &[("s.yaml", &GOOD.replace("send:", "fetch:"))]
    ));
}

#[test]
fn undefined_variable() {
    insta::assert_snapshot!(problems(
        "undefined-var",
        &[(
            "s.yaml",
            &GOOD.replace("path: Condition/1", "path: \"Condition/{{condition_id}}\"")
        )]
    ));
}

#[test]
fn missing_fixture() {
    let text = GOOD.replace(
        "send: { method: GET, path: Condition/1 }",
        "send: { method: POST, path: Patient, body: { fixture: fixtures/nope.json } }",
    );
    insta::assert_snapshot!(problems("missing-fixture", &[("s.yaml", &text)]));
}

#[test]
fn fixture_path_leaving_the_pack() {
    let text = GOOD.replace(
        "send: { method: GET, path: Condition/1 }",
        "send: { method: POST, path: Patient, body: { fixture: ../../../etc/passwd } }",
    );
    insta::assert_snapshot!(problems("escape", &[("s.yaml", &text)]));
}

#[test]
fn absolute_fixture_path() {
    let text = GOOD.replace(
        "send: { method: GET, path: Condition/1 }",
        "send: { method: POST, path: Patient, body: { fixture: /etc/passwd } }",
    );
    insta::assert_snapshot!(problems("absolute", &[("s.yaml", &text)]));
}

#[test]
fn requirement_not_in_the_catalog() {
    insta::assert_snapshot!(problems(
        "unknown-req",
        &[("s.yaml", &GOOD.replace("CDEX-IS-PULL", "CDEX-NOPE-1"))]
    ));
}

#[test]
fn duplicate_scenario_id() {
    insta::assert_snapshot!(problems(
        "duplicate",
        &[("a.yaml", GOOD), ("b/b.yaml", GOOD)]
    ));
}

#[test]
fn invalid_fhirpath() {
    let text = GOOD.replace(
        "      - status: 200\n",
        "      - fhirpath: \"status = = 'x'\"\n",
    );
    insta::assert_snapshot!(problems("fhirpath", &[("s.yaml", &text)]));
}

#[test]
fn invalid_regex() {
    let text = GOOD.replace(
        "    assert:\n",
        "    capture:\n      x: { header: Location, regex: '([' }\n    assert:\n",
    );
    insta::assert_snapshot!(problems("regex", &[("s.yaml", &text)]));
}

#[test]
fn unknown_actor() {
    insta::assert_snapshot!(problems(
        "actor",
        &[(
            "s.yaml",
            &GOOD.replace("actor: information-server", "actor: information-sever")
        )]
    ));
}

#[test]
fn bad_duration() {
    let text = "id: d\ntitle: D\nactor: information-client\nsteps:\n  - expect: { action: push-create, within: soon }\n";
    insta::assert_snapshot!(problems("duration", &[("s.yaml", text)]));
}

#[test]
fn received_false_misused() {
    // In a `send` step, and beside another check in an `expect` step; `received: true`.
    let text = concat!(
        "id: r\ntitle: R\nactor: information-client\nsteps:\n",
        "  - id: a\n    send: { method: GET, path: Task/1 }\n    assert:\n      - received: false\n",
        "  - id: b\n    expect: { action: push-create, within: 1s }\n    assert:\n      - received: false\n      - method: POST\n",
        "  - id: c\n    expect: { action: push-create }\n    assert:\n      - received: true\n",
    );
    insta::assert_snapshot!(problems("received", &[("s.yaml", text)]));
}

#[test]
fn every_problem_at_once() {
    let many = problems(
        "many",
        &[
            ("a.yaml", &GOOD.replace("CDEX-IS-PULL", "CDEX-NOPE-1")),
            (
                "b.yaml",
                &GOOD
                    .replace("id: ok", "id: ok2")
                    .replace("path: Condition/1", "path: \"Condition/{{nope}}\""),
            ),
            ("c.yaml", "id: c\ntitle: [unclosed\n"),
        ],
    );
    assert_eq!(many.matches("error: ").count(), 3, "{many}");
}

#[test]
fn bad_indentation_is_named_at_its_line() {
    // `path` is indented less than `method` and more than `send`: a structural mistake,
    // which the field check would report as "missing field `path`" at `send`'s line.
    let text = GOOD.replace(
        "    send: { method: GET, path: Condition/1 }\n",
        "    send:\n      method: GET\n     path: Condition/1\n",
    );
    let out = problems("indentation", &[("s.yaml", &text)]);
    assert!(out.contains("s.yaml:8:"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn status_that_is_not_a_code() {
    insta::assert_snapshot!(problems(
        "status",
        &[("s.yaml", &GOOD.replace("status: 200", "status: twohundred"))]
    ));
}

#[test]
fn zero_duration() {
    let text = "id: d\ntitle: D\nactor: information-client\nsteps:\n  - expect: { action: push-create, within: 0s }\n";
    insta::assert_snapshot!(problems("zero-duration", &[("s.yaml", text)]));
}

#[test]
fn a_bare_number_duration_is_seconds() {
    let text = "id: d\ntitle: D\nactor: information-client\nsteps:\n  - expect: { action: push-create, within: 2 }\n";
    let catalog =
        Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/cdex-2019")).unwrap();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let s = scenario::load::check_scenario_text(root, &root.join("d.yaml"), text, &catalog)
        .unwrap_or_else(|d| panic!("{d}"));
    match &s.steps[0].kind {
        scenario::StepKind::Expect(e) => {
            assert_eq!(e.within, Some(std::time::Duration::from_secs(2)))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn typos_get_the_closest_valid_name() {
    let text = concat!(
        "id: t\ntitle: T\nactor: information-server\nvars:\n  condition_id: c1\nsteps:\n",
        "  - id: read\n    send: { method: GET, path: \"Condition/{{conditon_id}}\" }\n",
        "    assert:\n      - status: 200\n        req: CDEX-IS-PUL\n        severity: recomended\n",
        "  - id: again\n    needs: [raed]\n    send: { method: GET, path: Condition/1 }\n",
    );
    let value = GOOD.replace("status: 200", "status: 200\n        on: reponse");
    insta::assert_snapshot!(problems("typos", &[("a.yaml", text), ("b.yaml", &value)]));
}

/// A scenario proving a requirement whose basis is `reading` (the harness's interpretation).
fn proving_a_reading(severity: &str) -> String {
    GOOD.replace(
        "        req: CDEX-IS-PULL\n",
        &format!("        req: CDEX-RCP-REFUSE-INVALID\n{severity}"),
    )
}

#[test]
fn required_assertion_on_a_reading() {
    let text = proving_a_reading("        severity: required\n");
    insta::assert_snapshot!(problems("required-reading", &[("s.yaml", &text)]));
}

#[test]
fn default_severity_on_a_reading_is_recommended() {
    use cdex_harness::results::Severity;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("reading-default-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("s.yaml"), proving_a_reading("")).unwrap();
    let catalog =
        Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/cdex-2019")).unwrap();
    let pack = scenario::load_pack(&dir, &catalog, &LoadOptions::default())
        .unwrap_or_else(|d| panic!("a reading with the default severity is refused: {d}"));
    let a = &pack.scenarios[0].steps[0].asserts[0];
    assert_eq!(a.severity, Severity::Recommended);
    assert_eq!(a.strict_severity, Severity::Required);
    let strict = pack.scenarios[0].strict();
    assert_eq!(strict.steps[0].asserts[0].severity, Severity::Required);
}

/// Load a catalog made of the shipped actors and `requirements` (YAML items); return the
/// problems, the catalog folder shown as `<catalog>`.
fn catalog_problems(case: &str, requirements: &str) -> String {
    let dir: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bad-catalog-{case}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/cdex-2019/actors.yaml");
    std::fs::copy(shipped, dir.join("actors.yaml")).unwrap();
    std::fs::write(
        dir.join("requirements.yaml"),
        format!("requirements:\n{requirements}"),
    )
    .unwrap();
    match Catalog::load(&dir) {
        Ok(_) => panic!("{case}: the catalog loaded although it is wrong"),
        Err(d) => d.to_string().replace(dir.to_str().unwrap(), "<catalog>"),
    }
}

const REQUIREMENT: &str = "  - id: X-1
    actor: information-server
    verb: SHALL
    text: The server SHALL answer.
    source: Somewhere, a section
    url: https://example.org/page.html#section
";

#[test]
fn profile_basis_without_profile() {
    insta::assert_snapshot!(catalog_problems(
        "profile-without-profile",
        &format!("{REQUIREMENT}    basis: profile\n    constraint: Communication.subject 1..1\n")
    ));
}

#[test]
fn reading_without_rationale() {
    insta::assert_snapshot!(catalog_problems(
        "reading-without-rationale",
        &format!("{REQUIREMENT}    basis: reading\n")
    ));
}

#[test]
fn unknown_basis() {
    insta::assert_snapshot!(catalog_problems(
        "unknown-basis",
        &format!("{REQUIREMENT}    basis: txt\n")
    ));
}

#[test]
fn text_basis_without_its_verb() {
    insta::assert_snapshot!(catalog_problems(
        "text-without-verb",
        &REQUIREMENT
            .replace("The server SHALL answer.", "The server answers.")
            .replace("    url:", "    basis: text\n    url:")
    ));
}
