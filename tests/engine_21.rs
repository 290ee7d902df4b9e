//! The scenario language's additions for CDex 2.1 (issue 11): `timeline` steps handed to
//! the endpoint's Handler, `task_states` over the versions of a Task a scenario observed,
//! `poll_schedule` over when a client polled, and `poll`'s `schedule` and `prompt`. Each
//! check is shown to pass on a correct sequence and to fail on a wrong one, against small
//! Handlers of this test's own (not the reference actors).

mod common;

use cdex_harness::catalog::Catalog;
use cdex_harness::http::Message;
use cdex_harness::mock::{self, Handler, MockServer};
use cdex_harness::results::{AssertionResult, RunResults, ScenarioResult, Status};
use cdex_harness::runner::{self, RunConfig, Sut};
use cdex_harness::scenario;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

fn catalog() -> Catalog {
    Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/cdex-2.1")).unwrap()
}

fn run(dir: &Path, cfg: &RunConfig) -> RunResults {
    let catalog = catalog();
    let pack = scenario::load_pack(dir, &catalog, &Default::default())
        .unwrap_or_else(|d| panic!("the pack loads: {d}"));
    let selected = runner::select(&pack, None, &[]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (_tx, rx) = runner::cancel_pair();
    rt.block_on(runner::run(&pack, &selected, &catalog, cfg, rx))
}

fn assertion<'a>(s: &'a ScenarioResult, step: &str, kind: &str) -> &'a AssertionResult {
    s.steps
        .iter()
        .find(|st| st.id == step)
        .unwrap_or_else(|| panic!("step {step}"))
        .assertions
        .iter()
        .find(|a| a.kind == kind)
        .unwrap_or_else(|| panic!("a {kind} assertion in step {step}: {s:#?}"))
}

fn task(id: &str, version: u32, status: &str) -> Value {
    json!({
        "resourceType": "Task",
        "id": id,
        "meta": { "versionId": version.to_string() },
        "status": status,
        "intent": "order"
    })
}

// ---------------------------------------------------------------------------------------
// A server under test: the harness creates a Task and polls it; each read moves it on.

/// A Data Source of this test: `POST Task` creates `t1` in the first status; each read of
/// it moves it one status on, through `statuses`.
struct SteppingServer {
    statuses: Vec<&'static str>,
    at: Mutex<Option<usize>>,
}

impl Handler for SteppingServer {
    fn handle(&self, req: &Message) -> Message {
        let mut at = self.at.lock().unwrap();
        match (req.method.as_deref(), req.path_only()) {
            (Some("POST"), "Task") => {
                *at = Some(0);
                mock::fhir_response(201, &task("t1", 1, self.statuses[0]))
            }
            (Some("GET"), "Task/t1") => match *at {
                Some(i) => {
                    let next = (i + 1).min(self.statuses.len() - 1);
                    *at = Some(next);
                    mock::fhir_response(200, &task("t1", next as u32 + 1, self.statuses[next]))
                }
                None => mock::outcome(404, "not-found", "no Task t1"),
            },
            _ => mock::outcome(404, "not-found", "not here"),
        }
    }
    fn seed(&self, _resource: Value) -> Result<String, String> {
        Err("no seeding".into())
    }
}

const SERVER_SCENARIO: &str = r#"id: ds-task
title: a Task is created and polled until it ends
actor: data-source-server
steps:
  - id: create
    send:
      method: POST
      path: Task
      body: { json: { resourceType: Task, status: requested, intent: order } }
    capture:
      task_id: { fhirpath: id }
  - id: poll
    poll:
      send: { method: GET, path: "Task/{{task_id}}" }
      until:
        - fhirpath: "status = 'completed' or status = 'failed' or status = 'rejected' or status = 'draft'"
      schedule: { first_after: 1m, every: 5m, for: 30m, then_every: 1h }
      prompt: "complete Task {{task_id}} in your EHR"
    assert:
      - task_states: { id: "Task/{{task_id}}", reaches: [completed] }
"#;

fn run_server(name: &str, statuses: Vec<&'static str>) -> RunResults {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(MockServer::start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            Arc::new(SteppingServer {
                statuses,
                at: Mutex::new(None),
            }),
        ))
        .unwrap();
    let mut cfg = RunConfig::new(Sut::External {
        target: Some(server.base_url().to_string()),
        trigger: None,
    });
    // A pack hour in 100 ms: the schedule's first wait is 10 ms, its interval 50 ms.
    cfg.time_scale = 36_000.0;
    let r = run(&common::pack_dir("engine21", name, SERVER_SCENARIO), &cfg);
    drop(server);
    r
}

#[test]
fn task_states_pass_on_the_flow_and_note_the_statuses_shown() {
    let r = run_server(
        "states-ok",
        vec!["requested", "accepted", "in-progress", "completed"],
    );
    let s = &r.scenarios[0];
    let a = assertion(s, "poll", "task_states");
    assert_eq!(a.status, Status::Passed, "{a:#?}");
    assert_eq!(
        a.actual.as_deref(),
        Some("requested -> accepted -> in-progress -> completed (4 versions from 4 reads)"),
        "{a:#?}"
    );
    assert_eq!(a.message, None, "no extra transition: {a:#?}");
    // Every version the poll saw is in the step's results.
    let poll = s.steps.iter().find(|st| st.id == "poll").unwrap();
    assert_eq!(poll.exchanges.len(), 3, "{poll:#?}");
    assert!(
        r.notes.iter().any(|n| n
            == "Task statuses data-source-server demonstrated (CONF-059): requested, accepted, in-progress, completed; not seen: rejected, on-hold, failed"),
        "{:?}",
        r.notes
    );
}

#[test]
fn transitions_off_the_diagram_are_named_never_failed() {
    let r = run_server(
        "states-extra",
        vec!["requested", "in-progress", "on-hold", "completed"],
    );
    let a = assertion(&r.scenarios[0], "poll", "task_states");
    assert_eq!(a.status, Status::Passed, "{a:#?}");
    assert_eq!(
        a.message.as_deref(),
        Some("extra (allowed by CONF-060): requested -> in-progress, on-hold -> completed"),
        "{a:#?}"
    );
}

#[test]
fn a_status_outside_the_value_set_fails_naming_it() {
    let r = run_server("states-draft", vec!["requested", "draft"]);
    let a = assertion(&r.scenarios[0], "poll", "task_states");
    assert_eq!(a.status, Status::Failed, "{a:#?}");
    let m = a.message.as_deref().unwrap();
    assert!(
        m.contains("`draft` is not in the HRex Task Status value set"),
        "{m}"
    );
    assert!(
        m.contains("http://hl7.org/fhir/us/davinci-hrex/ValueSet/hrex-task-status"),
        "{m}"
    );
    assert!(m.contains("the last status observed is `draft`"), "{m}");
}

#[test]
fn a_task_that_does_not_reach_the_status_fails() {
    let r = run_server(
        "states-failed",
        vec!["requested", "accepted", "in-progress", "failed"],
    );
    let a = assertion(&r.scenarios[0], "poll", "task_states");
    assert_eq!(a.status, Status::Failed, "{a:#?}");
    assert_eq!(
        a.message.as_deref(),
        Some("the last status observed is `failed`, expected `completed`"),
        "{a:#?}"
    );
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("in-progress, failed; not seen: rejected, on-hold, completed")),
        "{:?}",
        r.notes
    );
}

// ---------------------------------------------------------------------------------------
// A client under test: the harness's endpoint follows a timeline; this test is the client.

/// The endpoint's counterpart: takes `task-timeline` scripts (or refuses every script), and
/// applies the first script's next change on each read of the Task.
struct ScriptedSource {
    takes_scripts: bool,
    scripts: Mutex<Vec<Value>>,
    /// Signalled when the first script arrives: the client starts then.
    scripted: Condvar,
    state: Mutex<(u32, Vec<String>)>,
}

impl ScriptedSource {
    fn new(takes_scripts: bool) -> Arc<ScriptedSource> {
        Arc::new(ScriptedSource {
            takes_scripts,
            scripts: Mutex::new(Vec::new()),
            scripted: Condvar::new(),
            state: Mutex::new((0, Vec::new())),
        })
    }

    /// Wait until the scenario has handed a script (at once for a handler that takes none).
    fn wait_for_script(&self) {
        let mut scripts = self.scripts.lock().unwrap();
        while self.takes_scripts && scripts.is_empty() {
            scripts = self.scripted.wait(scripts).unwrap();
        }
    }
}

impl Handler for ScriptedSource {
    fn handle(&self, req: &Message) -> Message {
        let scripts = self.scripts.lock().unwrap();
        let mut state = self.state.lock().unwrap();
        match (req.method.as_deref(), req.path_only()) {
            (Some("POST"), "Task") => {
                *state = (1, vec!["requested".into()]);
                mock::fhir_response(201, &task("t9", 1, "requested"))
            }
            (Some("GET"), "Task/t9") if !state.1.is_empty() => {
                let changes = scripts
                    .first()
                    .and_then(|s| s["changes"].as_array().cloned())
                    .unwrap_or_default();
                let applied = state.1.len() - 1;
                if let Some(c) = changes.get(applied) {
                    state.0 += 1;
                    state.1.push(c["status"].as_str().unwrap().to_string());
                }
                mock::fhir_response(200, &task("t9", state.0, state.1.last().unwrap()))
            }
            _ => mock::outcome(404, "not-found", "not here"),
        }
    }
    fn seed(&self, _resource: Value) -> Result<String, String> {
        Err("no seeding".into())
    }
    fn script(&self, name: &str, script: &Value) -> Result<(), String> {
        if !self.takes_scripts {
            return Err(format!("no script here (`{name}`)"));
        }
        assert_eq!(name, "task-timeline");
        self.scripts.lock().unwrap().push(script.clone());
        self.scripted.notify_all();
        Ok(())
    }
}

const CLIENT_SCENARIO: &str = r#"id: dc-task
title: the client creates a Task, polls it until it is completed, and fetches the output
actor: data-consumer-client
steps:
  - id: timeline
    timeline:
      changes:
        - { status: accepted, after_polls: 1 }
        - { status: in-progress, after: 5m }
        - status: completed
          output:
            - type: { text: "the data of {{scenario_id}}" }
              valueReference: { reference: "Bundle/b1" }
  - id: create
    expect: { action: request-data-with-task, method: POST, path: Task }
    capture:
      task_id: { fhirpath: id, on: response }
  - id: fetched
    expect:
      action: fetch-output
      method: GET
      path: Bundle/b1
      within: 20s
    assert:
      - task_states: { id: "{{task_id}}", reaches: [completed] }
      - poll_schedule: { path: "Task/{{task_id}}", every: 1h }
  - id: no-more
    timeline:
      task: "Task/{{task_id}}"
      changes:
        - { status: failed, statusReason: { text: "the end" } }
    assert:
      - poll_schedule: { path: "Task/*", from: create, first_after: 1h }
"#;

/// The client under test: once the scenario has scripted the endpoint, creates the Task,
/// reads it until it is completed (or a good many times), then fetches the output.
fn client(base: String, source: Arc<ScriptedSource>) {
    source.wait_for_script();
    let addr = base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    // The client gives up past this: a run that ended before the client's first request
    // (its server stopped) must not leave the test waiting on a client that retries forever.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let call = |method: &str, path: &str, body: &str| -> String {
        let mut s = loop {
            match TcpStream::connect(&addr) {
                Ok(s) => break s,
                Err(_) if std::time::Instant::now() > deadline => return String::new(),
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        };
        let req = format!(
            "{method} /{path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/fhir+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    // The endpoint answers 503 until the scenario installs its counterpart (a handler that
    // takes no script has had no timeline to wait for).
    let task = r#"{"resourceType":"Task","status":"requested","intent":"order"}"#;
    while call("POST", "Task", task).starts_with("HTTP/1.1 503")
        && std::time::Instant::now() < deadline
    {
        std::thread::yield_now();
    }
    for _ in 0..50 {
        if call("GET", "Task/t9", "").contains("\"completed\"") {
            break;
        }
    }
    call("GET", "Bundle/b1", "");
}

fn run_client(name: &str, handler: Arc<ScriptedSource>) -> RunResults {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg = RunConfig::new(Sut::External {
        target: None,
        trigger: None,
    });
    cfg.listen = SocketAddr::from(([127, 0, 0, 1], port));
    cfg.counterpart = Some(handler.clone());
    cfg.time_scale = 600.0;
    cfg.manual_timeout = Duration::from_secs(20);
    let base = format!("http://127.0.0.1:{port}");
    let c = std::thread::spawn(move || client(base, handler));
    let r = run(&common::pack_dir("engine21", name, CLIENT_SCENARIO), &cfg);
    c.join().unwrap();
    r
}

#[test]
fn a_timeline_is_handed_to_the_handler_rendered_and_with_the_time_scale() {
    let handler = ScriptedSource::new(true);
    let r = run_client("timeline-ok", handler.clone());
    let s = &r.scenarios[0];
    let timeline = &s.steps[0];
    assert_eq!(timeline.status, Status::Passed, "{timeline:#?}");
    assert_eq!(
        timeline.message.as_deref(),
        Some(
            "scripted the next Task the client creates: accepted (after 1 read), in-progress (after 5m), completed"
        )
    );
    let scripts = handler.scripts.lock().unwrap().clone();
    assert_eq!(scripts.len(), 2);
    assert_eq!(
        scripts[0],
        json!({
            "task": "next",
            "changes": [
                { "status": "accepted", "after_polls": 1 },
                { "status": "in-progress", "after": "5m", "after_ms": 300000 },
                { "status": "completed", "output": [{
                    "type": { "text": "the data of dc-task" },
                    "valueReference": { "reference": "Bundle/b1" }
                }] }
            ],
            "time_scale": 600.0
        })
    );
    assert_eq!(scripts[1]["task"], "Task/t9");
    assert_eq!(scripts[1]["changes"][0]["statusReason"]["text"], "the end");
    assert_eq!(
        s.steps[3].message.as_deref(),
        Some("scripted Task/t9: failed")
    );

    // task_states over what the endpoint served the client.
    let a = assertion(s, "fetched", "task_states");
    assert_eq!(a.status, Status::Passed, "{a:#?}");
    assert_eq!(
        a.actual.as_deref(),
        Some("requested -> accepted -> in-progress -> completed (4 versions from 4 reads)")
    );
    // The versions were the harness's: no note on statuses the client demonstrated.
    assert!(
        r.notes.iter().all(|n| !n.contains("Task statuses")),
        "{:?}",
        r.notes
    );
    // The client read at once, again and again: far sooner than every pack hour.
    let p = assertion(s, "fetched", "poll_schedule");
    assert_eq!(p.status, Status::Failed, "{p:#?}");
    assert!(
        p.message.as_deref().unwrap().contains("request 2 came"),
        "{p:#?}"
    );
    assert!(
        p.actual.as_deref().unwrap().starts_with("3 requests at +"),
        "{p:#?}"
    );
    // Measured from a step's request, with a first wait longer than the client took.
    let p = assertion(s, "no-more", "poll_schedule");
    assert_eq!(p.status, Status::Failed, "{p:#?}");
    assert!(
        p.message.as_deref().unwrap().starts_with("the first came "),
        "{p:#?}"
    );
}

#[test]
fn a_handler_that_takes_no_script_makes_the_timeline_step_error() {
    let r = run_client("timeline-refused", ScriptedSource::new(false));
    let step = &r.scenarios[0].steps[0];
    assert_eq!(step.status, Status::Errored, "{step:#?}");
    assert_eq!(
        step.message.as_deref(),
        Some("the data-source-server refused the timeline: no script here (`task-timeline`)")
    );
}

// ---------------------------------------------------------------------------------------
// The loader: every problem with its file, line and field.

fn problems(name: &str, text: &str) -> Vec<String> {
    let dir = common::pack_dir(
        "engine21",
        name,
        "id: placeholder\ntitle: t\nactor: data-consumer-client\nsteps: [{ serve: { resources: [] } }]\n",
    );
    let file = dir.join("bad.yaml");
    match scenario::load::check_scenario_text(&dir, &file, text, &catalog()) {
        Ok(_) => Vec::new(),
        Err(d) => {
            d.0.iter()
                .map(|p| {
                    let shown = p.to_string();
                    let name = file.display().to_string();
                    assert!(shown.starts_with(&name), "names the file: {shown}");
                    shown[name.len()..].to_string()
                })
                .collect()
        }
    }
}

#[test]
fn an_unknown_key_in_a_timeline_change_is_named_at_its_line() {
    let p = problems(
        "bad-key",
        r#"id: bad-key
title: a typo in a change
actor: data-consumer-client
steps:
  - timeline:
      changes:
        - status: completed
          outptu: []
  - expect: { action: x, method: POST, path: Task }
"#,
    );
    assert_eq!(
        p,
        [
            ":8:11: unknown key `outptu`; the keys here are status, after_polls, after, output, statusReason, businessStatus, contained; did you mean `output`?\n  hint: docs/scenarios.md lists every key"
        ]
    );
}

#[test]
fn bad_values_of_the_new_keys_are_named_with_line_and_field() {
    let p = problems(
        "bad-values",
        r#"id: bad-values
title: every new key wrong
actor: data-consumer-client
steps:
  - id: timeline
    timeline:
      task: Patient/1
      changes:
        - { status: accepted, after: 1x }
        - { status: complete, after_polls: 1, after: 1m }
  - id: create
    expect: { action: x, method: POST, path: Task }
    assert:
      - task_states: { id: "{{task}}", reaches: [done] }
      - poll_schedule: { path: "Task/*", from: later, every: 5q }
      - poll_schedule: { path: "Task/*", for: 30m, every: 5m }
  - id: poll
    poll:
      send: { method: GET, path: Task/1 }
      until:
        - task_states: { id: "1" }
      every: 1s
      schedule: { first_after: 1 minute }
"#,
    );
    let expected = [
        ":5:5: steps[0].timeline.task: `Patient/1` names no Task: write `next` (the next Task the client creates) or `Task/ID`",
        ":9:11: steps[0].timeline.changes[0].after: `1x` has an unknown time unit `x`; the units are ms, s, m (or min), h, d",
        ":10:11: steps[0].timeline.changes[1].status: unknown Task status `complete`; the statuses of the HRex Task Status value set are requested, accepted, rejected, in-progress, on-hold, failed, completed; did you mean `completed`?",
        ":10:11: steps[0].timeline.changes[1]: a change takes `after` (a time) or `after_polls` (a number of reads), not both",
        ":14:9: steps[1].assert[0].task_states.id: variable `task` is not defined",
        ":14:9: steps[1].assert[0].task_states.reaches: unknown Task status `done`; the statuses of the HRex Task Status value set are requested, accepted, rejected, in-progress, on-hold, failed, completed",
        ":15:9: steps[1].assert[1].poll_schedule.every: `5q` has an unknown time unit `q`; the units are ms, s, m (or min), h, d",
        ":15:9: steps[1].assert[1].poll_schedule.from: `later` is not the id of an earlier step",
        ":16:9: steps[1].assert[2].poll_schedule: `for` and `then_every` go together: `every` applies for `for`, then `then_every`",
        ":17:5: steps[2].poll.until[0]: `task_states` and `poll_schedule` look at the whole scenario, not at one response: they cannot end a poll",
        ":17:5: steps[2].poll.every: a poll takes `every` or `schedule`, not both",
    ];
    for e in expected {
        assert!(
            p.iter().any(|x| x.starts_with(e)),
            "missing {e:?} in:\n{}",
            p.join("\n")
        );
    }
    assert_eq!(p.len(), expected.len(), "{}", p.join("\n"));
}

#[test]
fn a_timeline_needs_the_harness_endpoint() {
    let p = problems(
        "no-endpoint",
        r#"id: no-endpoint
title: a timeline with no client to follow it
actor: data-source-server
steps:
  - send: { method: GET, path: Task/1 }
  - timeline:
      changes: [{ status: completed }]
"#,
    );
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with(":6:5: steps[1].timeline: a `timeline` scripts the harness's endpoint for a client under test, and this scenario has no `expect` step"),
        "{p:?}"
    );
}

#[test]
fn schedule_durations_read_as_people_write_them() {
    use scenario::load::parse_duration;
    for (text, secs) in [
        ("1m", 60),
        ("5m", 300),
        ("30m", 1800),
        ("1h", 3600),
        ("1h 30m", 5400),
        ("90", 90),
    ] {
        assert_eq!(
            parse_duration(text),
            Ok(Duration::from_secs(secs)),
            "{text}"
        );
    }
}
