//! Report renderers against a hand-built `RunResults` covering every status: snapshots of the
//! JUnit XML, JSON, console text and HTML, HTML safety checks (escaping, self-containment) and
//! the basics of atomic report writing.

use cdex_harness::catalog::Basis;
use cdex_harness::report::{self, ReportPaths, WriteError, console, html, json, junit};
use cdex_harness::results::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SCRIPT: &str = "<script>alert(1)</script>";
const IMG: &str = r#""><img src=x onerror=alert(1)>"#;

fn header(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

fn request(method: &str, url: &str, body: Option<&str>) -> HttpMessage {
    HttpMessage {
        method: Some(method.to_owned()),
        url: Some(url.to_owned()),
        status: None,
        headers: vec![header("Accept", "application/fhir+json")],
        body: body.map(str::to_owned),
        body_truncated: false,
        ..HttpMessage::default()
    }
}

fn response(status: u16, content_type: &str, body: &str) -> HttpMessage {
    HttpMessage {
        method: None,
        url: None,
        status: Some(status),
        headers: vec![header("Content-Type", content_type)],
        body: Some(body.to_owned()),
        body_truncated: false,
        ..HttpMessage::default()
    }
}

fn exchange(direction: Direction, req: HttpMessage, resp: Option<HttpMessage>) -> Exchange {
    Exchange {
        direction,
        at: "2025-01-02T03:04:06.250Z".to_owned(),
        duration_ms: 42.0,
        request: req,
        response: resp,
        error: None,
    }
}

#[allow(clippy::too_many_arguments)]
fn assertion(
    kind: &str,
    description: &str,
    requirement: Option<&str>,
    severity: Severity,
    status: Status,
    expected: Option<&str>,
    actual: Option<&str>,
    message: Option<&str>,
) -> AssertionResult {
    AssertionResult {
        kind: kind.to_owned(),
        description: description.to_owned(),
        requirement: requirement.map(str::to_owned),
        severity,
        status,
        expected: expected.map(str::to_owned),
        actual: actual.map(str::to_owned),
        message: message.map(str::to_owned),
        hint: None,
    }
}

fn step(id: &str, kind: &str, status: Status) -> StepResult {
    StepResult {
        id: id.to_owned(),
        title: format!("Step {id}"),
        kind: kind.to_owned(),
        status,
        duration_ms: 120.0,
        message: None,
        exchanges: vec![],
        also_received: vec![],
        assertions: vec![],
        captures: BTreeMap::new(),
    }
}

fn scenario(id: &str, title: &str, actor: &str, plays: &str, status: Status) -> ScenarioResult {
    ScenarioResult {
        id: id.to_owned(),
        title: title.to_owned(),
        file: format!("{actor}/{id}.yaml"),
        actor: actor.to_owned(),
        plays: plays.to_owned(),
        options: vec![],
        status,
        duration_ms: 250.0,
        message: None,
        steps: vec![],
        resumed_from: None,
    }
}

fn requirement(id: &str, actor: &str, verb: &str, text: &str, status: Status) -> RequirementResult {
    RequirementResult {
        id: id.to_owned(),
        actor: actor.to_owned(),
        verb: verb.to_owned(),
        text: text.to_owned(),
        basis: Basis::Text,
        source: "Task Based Approach".to_owned(),
        url: "https://hl7.org/fhir/us/davinci-cdex/STU2/task-based-approach.html".to_owned(),
        option: None,
        status,
        in_scope: true,
        partial: false,
        untestable: None,
        evidence: vec![],
    }
}

fn evidence(scenario: &str, step: &str, status: Status) -> Evidence {
    Evidence {
        scenario: scenario.to_owned(),
        step: step.to_owned(),
        status,
    }
}

/// A run with one scenario of each outcome, hostile content from the server, a skipped step,
/// a not-run scenario (the run was interrupted) and an uncovered requirement.
fn fixture() -> RunResults {
    // 1. Passed: a query with a JSON response and a capture.
    let mut query = step("search-conditions", "send", Status::Passed);
    query.exchanges.push(exchange(
        Direction::Outgoing,
        request(
            "GET",
            "http://ehr.example/fhir/Condition?patient=123",
            None,
        ),
        Some(response(
            200,
            "application/fhir+json",
            r#"{"resourceType":"Bundle","type":"searchset","total":1,"entry":[{"resource":{"resourceType":"Condition","id":"c1"}}]}"#,
        )),
    ));
    query.assertions.push(assertion(
        "status",
        "response status is 200",
        Some("CDEX-DS-1"),
        Severity::Required,
        Status::Passed,
        Some("200"),
        Some("200"),
        None,
    ));
    query
        .captures
        .insert("bundle_total".to_owned(), "1".to_owned());
    let mut passed = scenario(
        "ds-query-001",
        "Direct query for conditions",
        "data-source",
        "data-consumer",
        Status::Passed,
    );
    passed.options = vec!["us-core".to_owned()];
    passed.steps.push(query);
    // Carried over from an earlier run (`run --resume`).
    passed.resumed_from = Some(ResumedFrom {
        run_id: "20250101120000-1717".to_owned(),
        finished_at: "2025-01-01T12:30:00.000Z".to_owned(),
    });

    // 2. Failed: SHALL assertion fails, response body is hostile; the next step is skipped.
    let mut submit = step("submit-task", "send", Status::Failed);
    let mut hostile = response(400, "text/html", &format!("<html>{SCRIPT}{IMG}</html>"));
    hostile.headers.push(header("X-Evil", IMG));
    submit.exchanges.push(exchange(
        Direction::Outgoing,
        request(
            "POST",
            "http://ehr.example/fhir/Task",
            Some(r#"{"resourceType":"Task","status":"requested"}"#),
        ),
        Some(hostile),
    ));
    submit.assertions.push(assertion(
        "status",
        "Task creation returns 201 Created",
        Some("CDEX-DS-2"),
        Severity::Required,
        Status::Failed,
        Some("201"),
        Some(&format!("400 {IMG}")),
        Some(&format!("the server rejected the Task: {SCRIPT}")),
    ));
    let mut poll = step("poll-task", "poll", Status::Skipped);
    poll.message = Some("depends on submit-task, which did not succeed".to_owned());
    let mut failed = scenario(
        "ds-task-002",
        &format!("Task-based request {SCRIPT}"),
        "data-source",
        "data-consumer",
        Status::Failed,
    );
    failed.steps.extend([submit, poll]);

    // 3. Warned: the SUT calls the harness's mock; a SHOULD check fails.
    let mut receive = step("receive-task", "expect", Status::Warned);
    let mut incoming = exchange(
        Direction::Incoming,
        request(
            "POST",
            "http://127.0.0.1:8080/fhir/Task",
            Some(r#"{"resourceType":"Task","status":"requested","input":[]}"#),
        ),
        Some(response(201, "application/fhir+json", "")),
    );
    incoming.duration_ms = 3.0;
    receive.exchanges.push(incoming);
    // A request the client sent besides the awaited one: shown, not checked; escaped.
    receive.also_received.push(exchange(
        Direction::Incoming,
        request(
            "GET",
            &format!("http://127.0.0.1:8080/fhir/Patient?name={SCRIPT}"),
            None,
        ),
        Some(response(
            200,
            "application/fhir+json",
            r#"{"resourceType":"Bundle"}"#,
        )),
    ));
    receive.assertions.push(assertion(
        "fhirpath",
        "Task.input is not empty",
        Some("CDEX-DC-1"),
        Severity::Recommended,
        Status::Warned,
        Some("at least one input"),
        Some("0 inputs"),
        Some("a Task without input gives the data source nothing to act on"),
    ));
    let mut warned = scenario(
        "dc-task-003",
        "Consumer sends a Task",
        "data-consumer",
        "data-source",
        Status::Warned,
    );
    warned.steps.push(receive);

    // 4. Errored: transport failure; the message carries a terminal escape sequence.
    let mut attach = step("fetch-attachment", "send", Status::Errored);
    attach.message = Some("could not connect to the server \u{1b}[2J".to_owned());
    attach.exchanges.push(Exchange {
        error: Some("connection refused (os error 111)".to_owned()),
        ..exchange(
            Direction::Outgoing,
            request("GET", "http://ehr.example/fhir/Binary/b1", None),
            None,
        )
    });
    let mut errored = scenario(
        "ds-attach-004",
        "Attachment retrieval",
        "data-source",
        "data-consumer",
        Status::Errored,
    );
    errored.duration_ms = 1500.0;
    errored.steps.push(attach);

    // 5. Not run: interrupted.
    let mut not_run = scenario(
        "ds-late-005",
        "Never reached",
        "data-source",
        "data-consumer",
        Status::NotRun,
    );
    not_run.duration_ms = 0.0;
    not_run.message = Some("the run was interrupted before this scenario started".to_owned());
    let mut nr_step = step("only-step", "send", Status::NotRun);
    nr_step.duration_ms = 0.0;
    not_run.steps.push(nr_step);

    let mut r1 = requirement(
        "CDEX-DS-1",
        "data-source",
        "SHALL",
        "support direct query",
        Status::Passed,
    );
    r1.evidence.push(evidence(
        "ds-query-001",
        "search-conditions",
        Status::Passed,
    ));
    let mut r2 = requirement(
        "CDEX-DS-2",
        "data-source",
        "SHALL",
        "accept Task-based requests",
        Status::Failed,
    );
    r2.evidence
        .push(evidence("ds-task-002", "submit-task", Status::Failed));
    let mut r3 = requirement(
        "CDEX-DC-1",
        "data-consumer",
        "SHOULD",
        "populate Task.input",
        Status::Warned,
    );
    r3.evidence
        .push(evidence("dc-task-003", "receive-task", Status::Warned));
    // A reading; its url is escaped in the link.
    r3.basis = Basis::Reading;
    r3.url = "https://example.org/page.html?a=1&b=\"2\"#x".to_owned();
    let mut r4 = requirement(
        "CDEX-DS-9",
        "data-source",
        "SHALL",
        &format!("support signatures {SCRIPT}"),
        Status::NotRun,
    );
    // Never another scheme than http(s) in a link: shown, not linked.
    r4.url = "javascript:alert(1)".to_owned();

    let mut results = RunResults {
        schema_version: RESULTS_SCHEMA_VERSION,
        tool: ToolInfo {
            name: "cdex-harness".to_owned(),
            version: "0.1.0".to_owned(),
        },
        run_id: Some("20250102030405-4242".to_owned()),
        setup: Some(RunSetup {
            pack: "cdex-2019".to_owned(),
            actor: Some("information-server".to_owned()),
            sut: "http://ehr.example/fhir".to_owned(),
            rules: vec![],
            strict: false,
            partition: None,
        }),
        started_at: "2025-01-02T03:04:05.000Z".to_owned(),
        duration_ms: 2125.0,
        target: "http://ehr.example/fhir".to_owned(),
        options: vec!["task-based".to_owned()],
        notes: vec![format!(
            "the server's CapabilityStatement suggests the notified-pull option {SCRIPT}"
        )],
        interrupted: true,
        summary: Summary::default(),
        scenarios: vec![passed, failed, warned, errored, not_run],
        requirements: vec![r1, r2, r3, r4],
    };
    results.summarize();
    results
}

#[test]
fn junit_snapshot() {
    insta::assert_snapshot!("junit", junit::render(&fixture()));
}

#[test]
fn json_snapshot() {
    let text = json::render(&fixture());
    let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    insta::assert_json_snapshot!("json", value, {
        ".started_at" => "[started_at]",
        ".**.at" => "[at]",
        ".**.duration_ms" => "[duration_ms]",
    });
}

#[test]
fn json_round_trips() {
    let original = fixture();
    assert!(json::render(&original).starts_with("{\n  \"schema_version\": 1,\n"));
    let back: RunResults = serde_json::from_str(&json::render(&original)).expect("parses back");
    assert_eq!(back.summary, original.summary);
    assert_eq!(json::render(&back), json::render(&original));
}

#[test]
fn console_snapshot() {
    insta::assert_snapshot!("console", console::render(&fixture(), false));
}

#[test]
fn console_verbose_snapshot() {
    insta::assert_snapshot!("console_verbose", console::render(&fixture(), true));
}

#[test]
fn console_plain_text_has_no_escape_sequences() {
    for verbose in [false, true] {
        let text = console::render(&fixture(), verbose);
        assert!(
            !text.contains('\u{1b}'),
            "ANSI escape in plain console text"
        );
    }
    assert!(console::render_styled(&fixture(), false).contains('\u{1b}'));
}

#[test]
fn html_snapshot() {
    insta::assert_snapshot!("html", html::render(&fixture()));
}

/// The page is written step by step (`html::write_to`) around what the templates render: no
/// stand-in for the matrix's rows, the scenarios or the steps is ever left in it, with or
/// without requirements, scenarios and steps.
#[test]
fn html_streamed_around_scenarios_and_steps() {
    let full = fixture();
    let page = html::render(&full);
    assert!(!page.contains('\0'), "no stand-in left in the page");
    let mut no_steps = fixture();
    for s in &mut no_steps.scenarios {
        s.steps.clear();
    }
    let page = html::render(&no_steps);
    assert!(!page.contains('\0'));
    assert!(page.contains("<section id=\"scenarios\">"));
    let mut empty = fixture();
    empty.scenarios.clear();
    let page = html::render(&empty);
    assert!(!page.contains('\0'));
    assert!(page.contains("No scenarios in this run."), "{page}");
    assert!(!html::render(&full).contains("No scenarios in this run."));
    let mut no_requirements = fixture();
    no_requirements.requirements.clear();
    let page = html::render(&no_requirements);
    assert!(!page.contains('\0'));
    assert!(page.contains("No requirements in this run."), "{page}");
    assert!(!html::render(&full).contains("No requirements in this run."));
}

/// A writer that takes `room` bytes, then fails as a full disk does.
struct FullAfter {
    room: usize,
    taken: Vec<u8>,
}

impl std::io::Write for FullAfter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.room == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::StorageFull));
        }
        let n = buf.len().min(self.room);
        self.room -= n;
        self.taken.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writing the HTML page or results.json stops at the first write error and returns it.
#[test]
fn streamed_reports_stop_at_a_full_disk() {
    let results = fixture();
    let page = html::render(&results);
    let mut out = FullAfter {
        room: page.len() / 2,
        taken: Vec::new(),
    };
    let err = html::write_to(&results, &mut out).expect_err("the disk is full");
    assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
    assert_eq!(out.taken, page.as_bytes()[..page.len() / 2]);
    let doc = json::render(&results);
    let mut out = FullAfter {
        room: doc.len() / 2,
        taken: Vec::new(),
    };
    let err = json::write_to(&results, &mut out).expect_err("the disk is full");
    assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
    let mut whole = Vec::new();
    json::write_to(&results, &mut whole).unwrap();
    assert_eq!(String::from_utf8(whole).unwrap(), doc);
}

#[test]
fn html_escapes_model_data() {
    let page = html::render(&fixture());
    assert!(
        !page.contains("<script"),
        "a script element made it into the page"
    );
    assert!(
        !page.contains("<img"),
        "an img element made it into the page"
    );
    assert!(!page.contains("onerror="));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("&quot;&gt;&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt;"));
    // Terminal escapes from the server are shown, not embedded.
    assert!(!page.contains('\u{1b}'));
    assert!(page.contains(r"could not connect to the server \u{1b}[2J"));
}

#[test]
fn html_is_self_contained() {
    let page = html::render(&fixture());
    let tag = regex::Regex::new(r"(?i)<([a-z][a-z0-9]*)\b([^>]*)>").unwrap();
    let attr =
        regex::Regex::new(r#"(?i)\b(src|href|action|poster|srcset|data)\s*=\s*["']?([^"'\s>]*)"#)
            .unwrap();
    let mut links = 0;
    for t in tag.captures_iter(&page) {
        for cap in attr.captures_iter(&t[2]) {
            let value = cap[2].to_ascii_lowercase();
            let external = value.starts_with("http:")
                || value.starts_with("https:")
                || value.starts_with("//");
            // A link a person follows (a requirement's published page) loads nothing.
            if t[1].eq_ignore_ascii_case("a") && cap[1].eq_ignore_ascii_case("href") {
                links += usize::from(external);
                continue;
            }
            assert!(!external, "external reference in {}", &t[0]);
        }
    }
    assert!(links > 0, "the requirements matrix links no published page");
    // Only http(s) pages are linked; another scheme is shown as text.
    assert!(!page.to_ascii_lowercase().contains("href=\"javascript:"));
    let lower = page.to_ascii_lowercase();
    assert!(!lower.contains("@import"));
    assert!(!lower.contains("url("));
    assert!(!lower.contains("<link"));
    assert!(!lower.contains("<iframe"));
    assert!(lower.contains("content-security-policy"));
}

#[test]
fn html_has_key_sections() {
    let page = html::render(&fixture());
    for needle in [
        "<!DOCTYPE html>",
        "Verdict: FAIL",
        "Interrupted",
        r#"id="summary""#,
        r#"id="requirements""#,
        r#"id="scenarios""#,
        "CDEX-DS-9",
        "Not covered by any scenario in this run.",
        r##"<a href="#sc-1-st-0"><span class="mono nowrap">ds-task-002</span> › submit-task</a>"##,
        "harness → SUT",
        "SUT → harness",
        "Transport error: connection refused",
        "depends on submit-task, which did not succeed",
        "bundle_total",
    ] {
        assert!(page.contains(needle), "missing {needle:?}");
    }
    for id in [
        "ds-query-001",
        "ds-task-002",
        "dc-task-003",
        "ds-attach-004",
        "ds-late-005",
    ] {
        assert!(page.contains(id), "missing scenario {id}");
    }
    // Passed scenarios are collapsed, the others open.
    assert!(page.contains(r#"<details class="scenario status-passed" id="sc-0">"#));
    assert!(page.contains(r#"<details class="scenario status-failed" id="sc-1" open>"#));
    assert!(page.contains(r#"<details class="scenario status-not-run" id="sc-4">"#));
    assert!(
        page.contains("— the run was interrupted before this scenario started</span></summary>")
    );
    // JSON bodies are pretty-printed.
    assert!(page.contains("{\n  &quot;resourceType&quot;: &quot;Bundle&quot;,"));
    // Sections come in the documented order: what to fix first.
    let pos = |s: &str| page.find(s).unwrap();
    assert!(pos(r#"id="conformance""#) < pos(r#"id="what-failed""#));
    assert!(pos(r#"id="what-failed""#) < pos(r#"id="warnings""#));
    assert!(pos(r#"id="warnings""#) < pos(r#"id="summary""#));
    assert!(pos(r#"id="summary""#) < pos(r#"id="requirements""#));
    assert!(pos(r#"id="requirements""#) < pos(r#"id="scenarios""#));
}

#[test]
fn html_leads_with_what_failed() {
    let mut r = fixture();
    // A hint on the failing check, and a second check failing the same requirement.
    r.scenarios[1].steps[0].assertions[0].hint =
        Some(format!("Answer a valid Task with 201 Created {SCRIPT}"));
    let same = r.scenarios[1].steps[0].assertions[0].clone();
    let mut again = same.clone();
    again.description = "the second check".into();
    r.scenarios[1].steps[0].assertions.push(again);
    // The same failure once more: one line.
    r.scenarios[1].steps[0].assertions.push(same);
    let page = html::render(&r);
    let lead =
        &page[page.find(r#"id="what-failed""#).unwrap()..page.find(r#"id="summary""#).unwrap()];
    // The failing requirement once, its quoted text, both checks, where, expected vs actual,
    // the exchange one click away, the hint (escaped).
    assert_eq!(
        lead.matches("<article class=\"finding").count(),
        2,
        "{lead}"
    );
    assert_eq!(lead.matches(">CDEX-DS-2<").count(), 1, "{lead}");
    assert!(lead.contains("accept Task-based requests"), "{lead}");
    assert!(lead.contains("the second check"), "{lead}");
    assert!(
        lead.contains(r##"<a href="#sc-1-st-0"><span class="mono nowrap">ds-task-002</span>"##)
    );
    assert!(
        lead.contains("<dt>Expected</dt><dd><pre>201</pre></dd>"),
        "{lead}"
    );
    assert!(lead.contains(r##"<a href="#sc-1-st-0-x-0">Exchange: <span class="mono">POST http://ehr.example/fhir/Task → 400</span></a>"##), "{lead}");
    assert!(page.contains(r#"<details class="exchange" id="sc-1-st-0-x-0" open>"#));
    // The hint all its checks share, once, on top.
    assert_eq!(
        lead.matches(
            "<strong>Likely fix:</strong> Answer a valid Task with 201 Created &lt;script&gt;"
        )
        .count(),
        1,
        "{lead}"
    );
    assert_eq!(
        lead.matches(r#"<li class="check repeat">"#).count(),
        1,
        "{lead}"
    );
    // The errored step, linked.
    assert!(lead.contains(r##"<a href="#sc-3-st-0"><span class="mono nowrap">ds-attach-004</span> › <span class="mono nowrap">fetch-attachment</span></a>"##), "{lead}");
    // The warning comes in its own section; the verdict and the counts link to What failed.
    assert!(
        page.contains(
            r##"<a class="verdict fail" role="status" href="#what-failed">Verdict: FAIL"##
        )
    );
    assert!(page.contains(r##"<a class="count failed" href="#what-failed"><span class="value">1</span><span class="label">Failed</span></a>"##));
    assert!(page.contains(r##"<a class="count warned" href="#warnings"><span class="value">1</span><span class="label">Warned</span></a>"##));
    // The statement per option: the core fails, an option not claimed says so.
    assert!(
        page.contains("us-core: <span class=\"pill status-not-applicable\">– not claimed</span>"),
        "{page}"
    );
    // A passing run has no What failed section, and its verdict links nowhere.
    let mut ok = fixture();
    ok.scenarios.truncate(1);
    ok.requirements.truncate(1);
    ok.interrupted = false;
    ok.summarize();
    let page = html::render(&ok);
    assert!(!page.contains("id=\"what-failed\""));
    assert!(!page.contains("href=\"#what-failed\""));
    assert!(page.contains("<div class=\"verdict pass\" role=\"status\">Verdict: PASS</div>"));
}

#[test]
fn passing_run_verdicts() {
    let mut r = fixture();
    r.scenarios.truncate(1);
    r.requirements.truncate(1);
    r.interrupted = false;
    r.summarize();
    assert!(html::render(&r).contains("Verdict: PASS"));
    assert!(console::render(&r, false).ends_with("\nPASS\n"));
    assert!(!junit::render(&r).contains("<failure"));
}

/// A fresh, empty directory under Cargo's per-target temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("report_snapshots")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn write_all_writes_every_file_without_leftovers() {
    let dir = scratch("write_all_ok");
    let out = ReportPaths {
        html: Some(dir.join("nested/deeper/report.html")),
        junit: Some(dir.join("nested/junit.xml")),
        json: Some(dir.join("results.json")),
    };
    // An existing file is replaced.
    std::fs::write(dir.join("results.json"), "old").unwrap();
    let results = fixture();
    let written = report::write_all(&results, &out).expect("written");
    assert_eq!(
        written,
        vec![
            out.html.clone().unwrap(),
            out.junit.clone().unwrap(),
            out.json.clone().unwrap()
        ]
    );
    assert_eq!(
        std::fs::read_to_string(out.html.as_ref().unwrap()).unwrap(),
        html::render(&results)
    );
    assert_eq!(
        std::fs::read_to_string(out.junit.as_ref().unwrap()).unwrap(),
        junit::render(&results)
    );
    assert_eq!(
        std::fs::read_to_string(out.json.as_ref().unwrap()).unwrap(),
        json::render(&results)
    );

    let mut names = Vec::new();
    for d in [dir.clone(), dir.join("nested"), dir.join("nested/deeper")] {
        for entry in std::fs::read_dir(d).unwrap() {
            names.push(entry.unwrap().file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    assert_eq!(
        names,
        [
            "deeper",
            "junit.xml",
            "nested",
            "report.html",
            "results.json"
        ]
    );
}

#[test]
fn write_all_skips_unrequested_formats() {
    let dir = scratch("write_all_some");
    let out = ReportPaths {
        json: Some(dir.join("results.json")),
        ..ReportPaths::default()
    };
    let written = report::write_all(&fixture(), &out).unwrap();
    assert_eq!(written, vec![dir.join("results.json")]);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
}

#[test]
fn write_all_reports_unwritable_path() {
    let dir = scratch("write_all_blocked");
    let blocker = dir.join("blocker");
    std::fs::write(&blocker, "a file, not a directory").unwrap();
    let target = blocker.join("sub/report.html");
    let out = ReportPaths {
        html: Some(target.clone()),
        ..ReportPaths::default()
    };
    let err = report::write_all(&fixture(), &out).expect_err("parent is a file");
    let text = format!("{err:#}");
    assert!(text.contains(&target.display().to_string()), "{text}");
    assert!(text.contains("os error"), "{text}");
    let write_error = err.downcast_ref::<WriteError>().expect("a WriteError");
    assert_eq!(write_error.path, target);
    // Nothing was left next to the blocker.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
}

#[test]
fn write_all_reports_directory_in_the_way() {
    let dir = scratch("write_all_dir");
    let target = dir.join("results.json");
    std::fs::create_dir(&target).unwrap();
    let out = ReportPaths {
        json: Some(target.clone()),
        ..ReportPaths::default()
    };
    let err = report::write_all(&fixture(), &out).expect_err("a directory is in the way");
    assert!(
        err.to_string().contains(&target.display().to_string()),
        "{err}"
    );
    // The temporary file was cleaned up.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
}

#[test]
fn untestable_requirements_are_listed_apart_never_covered() {
    let mut r = fixture();
    let actor = r.scenarios[0].actor.clone();
    let mut q = requirement(
        "CONF-016",
        &actor,
        "SHALL",
        "Audit mechanisms SHALL be in place",
        Status::NotRun,
    );
    q.untestable = Some("internal to the system: <no exchange shows it>".into());
    q.in_scope = false;
    r.requirements.push(q);
    r.summarize();
    let console = console::render(&r, false);
    assert!(
        console.contains("(1 more not testable)"),
        "console summary: {console}"
    );
    let page = html::render(&r);
    assert!(page.contains("1 requirement(s) of the actors under test are not testable"));
    assert!(page.contains("internal to the system: &lt;no exchange shows it&gt;"));
    // Not in the matrix, not counted as uncovered.
    let matrix = &page[page.find(r#"id="requirements""#).unwrap()..];
    let matrix = &matrix[..matrix.find("</table>").unwrap()];
    assert!(!matrix.contains("CONF-016"));
}

#[test]
fn an_interrupted_run_with_nothing_failed_says_why_it_fails() {
    let mut r = fixture();
    // Only the passed scenario and the not-run one: nothing failed, but the run was cut.
    r.scenarios = vec![r.scenarios[0].clone(), r.scenarios[4].clone()];
    r.requirements.truncate(1);
    r.summarize();
    let page = html::render(&r);
    assert!(page.contains(r##"href="#what-failed">Verdict: FAIL"##));
    let lead = &page[page
        .find(r#"id="what-failed""#)
        .expect("a What failed section")..];
    assert!(
        lead.contains("No check failed: the verdict is FAIL because the run was interrupted"),
        "{lead}"
    );
    let console = console::render(&r, false);
    assert!(!console.contains("What failed"), "{console}");
    assert!(console.ends_with("\nFAIL\n"), "{console}");
}
