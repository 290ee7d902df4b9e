//! The engine pieces the Attachments flows stand on (issue 12): `$submit-attachment` paths
//! (`$` or `%24`, at any base) in `send`, `expect` and the mock's routing; `send` to an
//! address a client under test gave, mixed with `expect` in one scenario; a counterpart's
//! body limit (`Handler::max_body`: 413 before the rest is read); large generated bodies
//! (`send.body.grow`); large bodies kept on disk and shown by size and digest; the
//! `attachment:` check. Each is run against small Handlers of this test's own, and each check
//! is shown failing against a faulty one.

mod common;

use cdex_harness::catalog::Catalog;
use cdex_harness::http::Message;
use cdex_harness::http::redact::Redactor;
use cdex_harness::mock::{self, Handler, MockServer};
use cdex_harness::results::{AssertionResult, Direction, RunResults, ScenarioResult, Status};
use cdex_harness::runner::{self, RunConfig, Sut};
use cdex_harness::scenario;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn catalog() -> Catalog {
    Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/cdex-2.1")).unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn run_in(rt: &tokio::runtime::Runtime, dir: &Path, cfg: &RunConfig) -> RunResults {
    let catalog = catalog();
    let pack = scenario::load_pack(dir, &catalog, &Default::default())
        .unwrap_or_else(|d| panic!("the pack loads: {d}"));
    let selected = runner::select(&pack, None, &[]);
    let (_tx, rx) = runner::cancel_pair();
    rt.block_on(runner::run(&pack, &selected, &catalog, cfg, rx))
}

fn step<'a>(s: &'a ScenarioResult, id: &str) -> &'a cdex_harness::results::StepResult {
    s.steps
        .iter()
        .find(|st| st.id == id)
        .unwrap_or_else(|| panic!("step {id}: {s:#?}"))
}

fn assertion<'a>(s: &'a ScenarioResult, id: &str, kind: &str) -> &'a AssertionResult {
    step(s, id)
        .assertions
        .iter()
        .find(|a| a.kind == kind)
        .unwrap_or_else(|| panic!("a {kind} assertion in step {id}: {s:#?}"))
}

/// Send one raw HTTP/1.1 request, return the whole answer (status line first).
fn raw(addr: &str, method: &str, path: &str, body: &str) -> String {
    let mut s = loop {
        match TcpStream::connect(addr) {
            Ok(s) => break s,
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/fhir+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn host_of(url: &str) -> String {
    url.split("://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string()
}

// ---------------------------------------------------------------------------------------
// A Payer-like endpoint: answers `POST .../$submit-attachment` (at any base) with 200 and
// keeps what it received; anything else is 404. Its body limit is `limit`.

#[derive(Default)]
struct Submissions {
    limit: Option<u64>,
    got: Mutex<Vec<(String, Vec<u8>)>>,
}

impl Handler for Submissions {
    fn handle(&self, req: &Message) -> Message {
        let path = req.path_only().to_string();
        let last = path.rsplit('/').next().unwrap_or("");
        match (req.method.as_deref(), last) {
            (Some("POST"), "$submit-attachment") => {
                // A large body may be on disk: read it through body_bytes().
                let body = req.body_bytes().unwrap().into_owned();
                self.got.lock().unwrap().push((path, body));
                mock::fhir_response(
                    200,
                    &json!({ "resourceType": "OperationOutcome", "issue": [
                        { "severity": "information", "code": "informational", "diagnostics": "held" }
                    ]}),
                )
            }
            (Some("POST"), "Task") => {
                let mut task = req.json().unwrap_or(Value::Null);
                task["id"] = json!("t1");
                mock::fhir_response(201, &task)
            }
            _ => mock::outcome(404, "not-found", &format!("nothing at {path}")),
        }
    }
    fn seed(&self, _resource: Value) -> Result<String, String> {
        Err("no seeding".into())
    }
    fn max_body(&self, method: &str, path: &str) -> Option<u64> {
        (method == "POST" && path.ends_with("$submit-attachment"))
            .then_some(self.limit)
            .flatten()
    }
}

fn serve(rt: &tokio::runtime::Runtime, h: Arc<Submissions>) -> MockServer {
    rt.block_on(MockServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), h))
        .unwrap()
}

const PARAMETERS: &str = r#"{ resourceType: Parameters, parameter: [ { name: TrackingId, valueIdentifier: { system: "urn:x", value: "t-1" } } ] }"#;

fn server_scenario(base_path_note: &str) -> String {
    format!(
        r#"id: op-paths
title: $submit-attachment written both ways ({base_path_note})
actor: data-consumer-server
steps:
  - id: literal
    send:
      method: POST
      path: "$submit-attachment"
      body: {{ json: {PARAMETERS} }}
    assert:
      - status: 200
      - path: "$submit-attachment"
        on: request
  - id: encoded
    send:
      method: POST
      path: "%24submit-attachment"
      body: {{ json: {PARAMETERS} }}
    assert:
      - status: 200
      - path: "$submit-attachment"
        on: request
      - path: "%24submit-attachment"
        on: request
"#
    )
}

/// `send.path` names the operation with `$` or `%24`, relative to a base with or without a
/// path; the endpoint sees it written `$` both times, and `path` checks match either way.
#[test]
fn submit_attachment_paths_reach_the_operation_at_any_base() {
    let rt = rt();
    for prefix in ["", "/fhir/r4"] {
        let h = Arc::new(Submissions::default());
        let server = serve(&rt, h.clone());
        let cfg = RunConfig::new(Sut::External {
            target: Some(format!("{}{prefix}", server.base_url())),
            trigger: None,
        });
        let r = run_in(
            &rt,
            &common::pack_dir(
                "attach-engine",
                &format!("paths{}", prefix.len()),
                &server_scenario(prefix),
            ),
            &cfg,
        );
        let s = &r.scenarios[0];
        assert_eq!(s.status, Status::Passed, "{s:#?}");
        let got = h.got.lock().unwrap();
        let want = format!("{prefix}/$submit-attachment")
            .trim_start_matches('/')
            .to_string();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.iter().all(|(p, _)| *p == want), "{got:?}");
        // The mock recorded both with `$` (the handler saw them so).
        let seen: Vec<String> = server
            .recorder()
            .since(0)
            .iter()
            .map(|x| x.request.path.clone().unwrap())
            .filter(|p| !p.ends_with("metadata"))
            .collect();
        assert_eq!(seen, vec![want.clone(), want]);
        // On the wire, the second went encoded.
        let sent = &step(s, "encoded").exchanges[0].request;
        assert!(
            sent.url
                .as_deref()
                .unwrap()
                .ends_with("/%24submit-attachment"),
            "{sent:?}"
        );
    }
}

/// A `path` check that names another operation fails, so the checks above are not vacuous.
#[test]
fn a_path_check_on_another_operation_fails() {
    let rt = rt();
    let h = Arc::new(Submissions::default());
    let server = serve(&rt, h);
    let cfg = RunConfig::new(Sut::External {
        target: Some(server.base_url().to_string()),
        trigger: None,
    });
    let yaml = server_scenario("wrong").replace(
        "      - path: \"%24submit-attachment\"",
        "      - path: \"%24submit-claim\"",
    );
    let r = run_in(
        &rt,
        &common::pack_dir("attach-engine", "wrong-op", &yaml),
        &cfg,
    );
    let s = &r.scenarios[0];
    let a = step(s, "encoded")
        .assertions
        .iter()
        .find(|a| a.expected.as_deref() == Some("%24submit-claim"))
        .unwrap();
    assert_eq!(a.status, Status::Failed, "{a:#?}");
}

// ---------------------------------------------------------------------------------------
// A client under test (a Payer): it pushes a Task to the harness naming its own endpoint;
// the harness submits there (`send` to the captured URL), then the client submits to the
// harness's own `$submit-attachment` written `%24`.

const CLIENT_SCENARIO: &str = r#"id: payer-flow
title: a Task names the client's endpoint; the harness submits there; the client submits back
actor: data-consumer-client
vars:
  wanted: "t-1"
steps:
  - id: task
    expect: { action: request-attachments, method: POST, path: Task }
    capture:
      payer_url: { fhirpath: "input.where(type.text = 'payer-url').valueUrl" }
  - id: submit
    send:
      method: POST
      path: "{{payer_url}}"
      body: { json: { resourceType: Parameters, parameter: [ { name: TrackingId, valueIdentifier: { system: "urn:x", value: "{{wanted}}" } } ] } }
    assert:
      - status: 200
      - resource: OperationOutcome
      - path: "{{payer_url}}"
        on: request
  - id: back
    expect:
      action: submit-attachment
      method: POST
      path: "{{harness_url}}/$submit-attachment"
    assert:
      - path: "$submit-attachment"
      - fhirpath: "parameter.where(name = 'TrackingId').valueIdentifier.value = 't-2'"
"#;

#[test]
fn a_client_scenario_sends_to_the_address_the_client_gave_and_expects_between() {
    let rt = rt();
    // The client under test's own endpoint, with a path prefix.
    let own = Arc::new(Submissions::default());
    let own_server = serve(&rt, own.clone());
    let payer_url = format!("{}/payer/$submit-attachment", own_server.base_url());

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
    cfg.counterpart = Some(Arc::new(Submissions::default()));
    cfg.manual_timeout = Duration::from_secs(20);
    let harness = format!("127.0.0.1:{port}");
    let client_own = own.clone();
    let client = std::thread::spawn(move || {
        let task = json!({ "resourceType": "Task", "status": "requested", "intent": "order",
            "input": [ { "type": { "text": "payer-url" }, "valueUrl": payer_url } ] })
        .to_string();
        while raw(&harness, "POST", "/Task", &task).starts_with("HTTP/1.1 503") {
            std::thread::sleep(Duration::from_millis(5));
        }
        // Once the harness has submitted to us, submit back to it.
        while client_own.got.lock().unwrap().is_empty() {
            std::thread::sleep(Duration::from_millis(5));
        }
        let p = r#"{"resourceType":"Parameters","parameter":[{"name":"TrackingId","valueIdentifier":{"system":"urn:x","value":"t-2"}}]}"#;
        raw(&harness, "POST", "/%24submit-attachment", p)
    });
    let r = run_in(
        &rt,
        &common::pack_dir("attach-engine", "client-flow", CLIENT_SCENARIO),
        &cfg,
    );
    let answer = client.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let s = &r.scenarios[0];
    assert_eq!(s.status, Status::Passed, "{s:#?}");
    let submit = step(s, "submit");
    assert_eq!(submit.exchanges.len(), 1);
    assert_eq!(submit.exchanges[0].direction, Direction::Outgoing);
    // It went to the client's endpoint, with the rendered body.
    let got = own.got.lock().unwrap();
    assert_eq!(got[0].0, "payer/$submit-attachment");
    assert!(String::from_utf8_lossy(&got[0].1).contains("\"t-1\""));
    assert_eq!(step(s, "back").exchanges[0].direction, Direction::Incoming);
    drop(own_server);
}

// ---------------------------------------------------------------------------------------
// The counterpart's body limit.

fn limited(rt: &tokio::runtime::Runtime, limit: u64) -> (Arc<Submissions>, MockServer) {
    let h = Arc::new(Submissions {
        limit: Some(limit),
        ..Default::default()
    });
    let server = serve(rt, h.clone());
    (h, server)
}

/// Past `max_body` the mock answers 413 with a `too-long` OperationOutcome, does not hand the
/// request to the Handler, keeps none of the body, and records it as "N bytes, not kept";
/// under it, the Handler answers. A chunked body (no length announced) is cut the same way.
#[test]
fn a_body_past_the_handlers_limit_gets_413_unread() {
    let rt = rt();
    let (h, server) = limited(&rt, 1000);
    let addr = host_of(server.base_url());
    let big = "x".repeat(3 * 1024 * 1024);
    let answer = raw(&addr, "POST", "/%24submit-attachment", &big);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:.300}");
    assert!(answer.contains("\"too-long\""), "{answer:.600}");
    assert!(h.got.lock().unwrap().is_empty(), "the handler never saw it");
    let small = raw(&addr, "POST", "/$submit-attachment", "{}");
    assert!(small.starts_with("HTTP/1.1 200"), "{small:.300}");
    // Other paths have no limit of the handler's.
    let task = format!(
        "{{\"resourceType\":\"Task\",\"note\":\"{}\"}}",
        "y".repeat(5000)
    );
    assert!(raw(&addr, "POST", "/Task", &task).starts_with("HTTP/1.1 201"));

    // Chunked, with no Content-Length.
    let chunked = {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(format!("POST /$submit-attachment HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
        let chunk = format!("{:x}\r\n{}\r\n", 600, "z".repeat(600));
        for _ in 0..4 {
            let _ = s.write_all(chunk.as_bytes());
        }
        let _ = s.write_all(b"0\r\n\r\n");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked:.300}");

    let recorded = server.recorder().since(0);
    assert_eq!(recorded.len(), 4);
    let refused = &recorded[0];
    assert_eq!(refused.response.as_ref().and_then(|r| r.status), Some(413));
    assert!(refused.request.body.is_empty(), "nothing of it kept");
    let shown = Redactor::default().message(&refused.request);
    assert_eq!(shown.body_size, Some(big.len() as u64));
    assert_eq!(shown.body_file, None);
    assert_eq!(shown.body, None);
    assert!(
        refused.error.as_deref().unwrap().contains("1000 bytes"),
        "{:?}",
        refused.error
    );
    let cut = &recorded[3];
    assert_eq!(cut.response.as_ref().and_then(|r| r.status), Some(413));
    assert!(cut.request.body.is_empty());
}

/// The same request with a limit of none: the Handler takes it (the check above is not the
/// mock's own limit at work).
#[test]
fn without_a_limit_the_same_body_is_taken() {
    let rt = rt();
    let h = Arc::new(Submissions::default());
    let server = serve(&rt, h.clone());
    let addr = host_of(server.base_url());
    let big = "x".repeat(3 * 1024 * 1024);
    let answer = raw(&addr, "POST", "/%24submit-attachment", &big);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.300}");
    assert_eq!(h.got.lock().unwrap()[0].1.len(), big.len());
}

// ---------------------------------------------------------------------------------------
// `attachment:` over what a server answers: a correct one, and faulty ones.

/// Answers `GET DocumentReference/d1` with the DocumentReference it was given.
struct Documents(Value);

impl Handler for Documents {
    fn handle(&self, req: &Message) -> Message {
        match (req.method.as_deref(), req.path_only()) {
            (Some("GET"), "DocumentReference/d1") => mock::fhir_response(200, &self.0),
            _ => mock::outcome(404, "not-found", "not here"),
        }
    }
    fn seed(&self, _resource: Value) -> Result<String, String> {
        Err("no seeding".into())
    }
}

const ATTACHMENT_SCENARIO: &str = r#"id: doc-content
title: the document's attachments carry what they say
actor: data-source-server
steps:
  - id: read
    send: { method: GET, path: DocumentReference/d1 }
    assert:
      - attachment: "content.attachment"
"#;

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn sha1_b64(bytes: &[u8]) -> String {
    b64(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, bytes).as_ref())
}

fn attachment_result(name: &str, attachments: Value) -> AssertionResult {
    let rt = rt();
    let doc = json!({ "resourceType": "DocumentReference", "id": "d1", "status": "current",
        "content": attachments });
    let server = rt
        .block_on(MockServer::start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            Arc::new(Documents(doc)),
        ))
        .unwrap();
    let cfg = RunConfig::new(Sut::External {
        target: Some(server.base_url().to_string()),
        trigger: None,
    });
    let r = run_in(
        &rt,
        &common::pack_dir("attach-engine", name, ATTACHMENT_SCENARIO),
        &cfg,
    );
    assertion(&r.scenarios[0], "read", "attachment").clone()
}

#[test]
fn attachment_passes_on_correct_content_and_fails_naming_each_fault() {
    let pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << >> endobj\n";
    let cda = b"<?xml version=\"1.0\"?><ClinicalDocument xmlns=\"urn:hl7-org:v3\"/>";
    let good = json!([
        { "attachment": { "contentType": "application/pdf", "data": b64(pdf),
            "size": pdf.len(), "hash": sha1_b64(pdf), "title": "Op note" } },
        { "attachment": { "contentType": "application/hl7-v3+xml", "data": b64(cda) } },
        { "attachment": { "contentType": "application/pdf", "url": "https://ehr.example/d/1.pdf" } }
    ]);
    let a = attachment_result("att-good", good);
    assert_eq!(a.status, Status::Passed, "{a:#?}");
    assert!(
        a.actual.as_deref().unwrap().contains("size matches"),
        "{a:#?}"
    );

    let faulty = [
        (
            "att-b64",
            json!([{ "attachment": { "contentType": "application/pdf", "data": "JVBERi0%%%" } }]),
            "Attachment (application/pdf): `data` is not valid base64",
        ),
        (
            "att-type",
            json!([{ "attachment": { "contentType": "application/pdf", "data": b64(cda) } }]),
            "does not start with %PDF",
        ),
        (
            "att-cda",
            json!([{ "attachment": { "contentType": "application/hl7-v3+xml", "data": b64(b"<Bundle/>") } }]),
            "root element is <Bundle>, not <ClinicalDocument>",
        ),
        (
            "att-hash",
            json!([
                { "attachment": { "contentType": "application/pdf", "data": b64(pdf) } },
                { "attachment": { "contentType": "application/pdf", "data": b64(pdf), "hash": sha1_b64(b"another") } }
            ]),
            "Attachment 2 of 2 (application/pdf): `hash`",
        ),
        (
            "att-size",
            json!([{ "attachment": { "contentType": "application/pdf", "data": b64(pdf), "size": 1 } }]),
            "`size` is 1",
        ),
        (
            "att-url",
            json!([{ "attachment": { "contentType": "application/pdf", "url": "Binary/b1" } }]),
            "`url` `Binary/b1` is not an absolute URL",
        ),
        ("att-none", json!([]), "no attachment"),
    ];
    for (name, content, want) in faulty {
        let a = attachment_result(name, content);
        assert_eq!(a.status, Status::Failed, "{name}: {a:#?}");
        let m = a.message.as_deref().unwrap_or("");
        assert!(m.contains(want), "{name}: {m:?} lacks {want:?}");
    }
}

// ---------------------------------------------------------------------------------------
// `send.body.grow`: a large attachment generated and streamed.

const GROW_SCENARIO: &str = r#"id: grow
title: a large attachment, and one past the limit
actor: data-consumer-server
vars:
  small: "100000"
  big: "20MB"
steps:
  - id: small
    send:
      method: POST
      path: "$submit-attachment"
      body:
        json:
          resourceType: Parameters
          parameter:
            - name: Attachment
              part:
                - name: Content
                  resource:
                    resourceType: DocumentReference
                    status: current
                    content: [ { attachment: { contentType: application/pdf, data: "" } } ]
        grow: { at: /parameter/0/part/0/resource/content/0/attachment/data, bytes: "{{small}}" }
    assert:
      - status: 200
  - id: big
    send:
      method: POST
      path: "$submit-attachment"
      body:
        json:
          resourceType: Parameters
          parameter:
            - name: Attachment
              part:
                - name: Content
                  resource:
                    resourceType: DocumentReference
                    status: current
                    content: [ { attachment: { contentType: application/pdf, data: "" } } ]
        grow: { at: /parameter/0/part/0/resource/content/0/attachment/data, bytes: "{{big}}" }
    assert:
      - status: 413
      - resource: OperationOutcome
"#;

/// The grown body arrives whole and right (its attachment passes the `attachment` check,
/// which proves the base64 and the PDF header); past the endpoint's limit it is refused with
/// 413 before it is read; both are shown by size and SHA-256, the JSON's start as preview.
#[test]
fn a_grown_body_is_streamed_and_shown_by_size_and_digest() {
    let rt = rt();
    let (h, server) = limited(&rt, 1024 * 1024);
    let cfg = RunConfig::new(Sut::External {
        target: Some(server.base_url().to_string()),
        trigger: None,
    });
    let r = run_in(
        &rt,
        &common::pack_dir("attach-engine", "grow", GROW_SCENARIO),
        &cfg,
    );
    let s = &r.scenarios[0];
    assert_eq!(s.status, Status::Passed, "{s:#?}");
    let got = h.got.lock().unwrap();
    assert_eq!(got.len(), 1, "only the small one reached the handler");
    let body: Value = serde_json::from_slice(&got[0].1).unwrap();
    let f = rt
        .block_on(cdex_harness::fhir::attachment::check(
            "parameter.where(name='Attachment').part.where(name='Content').resource.content.attachment",
            &body,
        ))
        .unwrap();
    assert!(f.problems.is_empty(), "{f:?}");
    assert!(f.summary[0].contains("100000 bytes"), "{f:?}");

    let small = &step(s, "small").exchanges[0].request;
    assert_eq!(small.body_size, Some(got[0].1.len() as u64));
    let digest = ring::digest::digest(&ring::digest::SHA256, &got[0].1);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(small.body_sha256.as_deref(), Some(hex.as_str()));
    assert!(
        small
            .body
            .as_deref()
            .unwrap()
            .starts_with("{\n  \"resourceType\": \"Parameters\"")
    );
    assert!(small.body.as_deref().unwrap().len() <= 4096);
    let big = &step(s, "big").exchanges[0].request;
    assert!(big.body_size.unwrap() > 20_000_000 * 4 / 3, "{big:?}");
}

// ---------------------------------------------------------------------------------------
// Large bodies on disk.

fn store(name: &str, threshold: usize) -> cdex_harness::http::bodies::BodyStore {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("attach-bodies-{name}-{}", std::process::id()))
        .join("bodies");
    let _ = std::fs::remove_dir_all(&dir);
    cdex_harness::http::bodies::BodyStore::new(dir, threshold)
}

/// With a store, the endpoint writes a body past the threshold to a file as it arrives; the
/// Handler reads it whole (body_bytes), the recorded request holds none of it in memory, and
/// results show its size, digest, file and start. A Handler's limit past the in-memory one
/// (16 MiB) then holds; without a store that body is refused.
#[test]
fn the_endpoint_streams_a_large_body_to_disk() {
    let rt = rt();
    let (h, server) = limited(&rt, 40 * 1024 * 1024);
    let st = store("spill", 64 * 1024);
    server.set_body_store(Some(st.clone()));
    let addr = host_of(server.base_url());
    let note = "n".repeat(20 * 1024 * 1024);
    let big = format!("{{\"resourceType\":\"Parameters\",\"id\":\"{note}\"}}");
    let answer = raw(&addr, "POST", "/$submit-attachment", &big);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.300}");
    assert_eq!(
        h.got.lock().unwrap()[0].1.len(),
        big.len(),
        "the handler read it whole"
    );
    let recorded = server.recorder().since(0);
    let req = &recorded[0].request;
    assert!(req.body.is_empty(), "not held in memory");
    let stored = req.stored.as_ref().unwrap();
    assert_eq!(stored.size, big.len() as u64);
    let file = stored.file.as_ref().unwrap();
    assert_eq!(std::fs::read(file).unwrap(), big.as_bytes());
    assert_eq!(req.json().unwrap()["resourceType"], "Parameters");
    let shown = Redactor::default().message(req);
    assert_eq!(shown.body_size, Some(big.len() as u64));
    let digest = ring::digest::digest(&ring::digest::SHA256, big.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(shown.body_sha256.as_deref(), Some(hex.as_str()));
    assert_eq!(
        shown.body_file.as_deref(),
        Some(format!("bodies/{}.json", &hex[..16]).as_str())
    );
    let preview = shown.body.unwrap();
    assert!(
        preview.starts_with("{\"resourceType\":\"Parameters\""),
        "{preview:.100}"
    );
    assert!(preview.len() <= 4096);
    // A small one stays in memory.
    assert!(raw(&addr, "POST", "/$submit-attachment", "{}").starts_with("HTTP/1.1 200"));
    let small = &server.recorder().since(0)[1].request;
    assert!(small.stored.is_none() && small.body == b"{}");

    // Without a store, the same body passes the in-memory limit: 413.
    server.set_body_store(None);
    let answer = raw(&addr, "POST", "/$submit-attachment", &big);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:.300}");
}

fn big_bundle(n: usize) -> Value {
    let entries: Vec<Value> = (0..n)
        .map(|i| {
            json!({ "resource": { "resourceType": "Observation", "id": format!("o{i}"),
            "status": "final", "code": { "text": "x".repeat(100) } } })
        })
        .collect();
    json!({ "resourceType": "Bundle", "type": "searchset", "entry": entries })
}

struct Searches(Value);

impl Handler for Searches {
    fn handle(&self, _req: &Message) -> Message {
        mock::fhir_response(200, &self.0)
    }
    fn seed(&self, _resource: Value) -> Result<String, String> {
        Err("no seeding".into())
    }
}

const SEARCH_SCENARIO: &str = r#"id: big-search
title: a large answer is checked whole and shown by its digest
actor: data-source-server
steps:
  - id: search
    send: { method: GET, path: "Observation?patient=p1" }
    assert:
      - fhirpath: "entry.count() = 3000"
      - fhirpath: "entry.last().resource.id = 'o2999'"
"#;

/// A response past `--max-inline-body`: the checks see it whole; results.json, the HTML
/// page and the console show its size, digest and file (which holds it), not the body.
#[test]
fn a_large_answer_is_checked_whole_and_reported_by_reference() {
    let rt = rt();
    let server = rt
        .block_on(MockServer::start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            Arc::new(Searches(big_bundle(3000))),
        ))
        .unwrap();
    let st = store("search", 256 * 1024);
    let mut cfg = RunConfig::new(Sut::External {
        target: Some(server.base_url().to_string()),
        trigger: None,
    });
    cfg.bodies = Some(st.clone());
    let r = run_in(
        &rt,
        &common::pack_dir("attach-engine", "big-search", SEARCH_SCENARIO),
        &cfg,
    );
    let s = &r.scenarios[0];
    assert_eq!(s.status, Status::Passed, "{s:#?}");
    let resp = step(s, "search").exchanges[0].response.as_ref().unwrap();
    let size = resp.body_size.expect("kept out of the results");
    assert!(size > 256 * 1024);
    let file = resp.body_file.as_deref().unwrap();
    let on_disk = std::fs::read(st.dir.parent().unwrap().join(file)).unwrap();
    assert_eq!(on_disk.len() as u64, size);
    assert!(resp.body.as_deref().unwrap().len() <= 4096);

    // Smaller than the body it would hold if the body were inlined (the report also carries
    // the whole catalog's requirements, which grow with the catalog).
    let json = cdex_harness::report::json::render(&r);
    assert!(
        json.contains("\"body_file\"") && (json.len() as u64) < size,
        "{} (body {size})",
        json.len()
    );
    let html = cdex_harness::report::html::render(&r);
    assert!(
        html.contains(&format!("href=\"{file}\"")),
        "a link to the file"
    );
    assert!(html.contains("Body not inline") && html.len() < 200_000);
    let console = cdex_harness::report::console::render(&r, true);
    assert!(console.contains("body not inline") && console.contains(file));
    assert!(console.len() < 50_000);

    // Without a store (no --out), the old way: inline, cut at 256 KiB.
    let r = run_in(
        &rt,
        &common::pack_dir("attach-engine", "big-search-inline", SEARCH_SCENARIO),
        &RunConfig::new(Sut::External {
            target: Some(server.base_url().to_string()),
            trigger: None,
        }),
    );
    let resp = step(&r.scenarios[0], "search").exchanges[0]
        .response
        .clone()
        .unwrap();
    assert!(resp.body_size.is_none() && resp.body_truncated);
}

/// A client's large request to the harness's endpoint: checks over it read the file.
#[test]
fn checks_of_a_request_kept_on_disk_read_it_back() {
    let rt = rt();
    let own = Arc::new(Submissions::default());
    let own_server = serve(&rt, own.clone());
    let payer_url = format!("{}/payer/$submit-attachment", own_server.base_url());
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
    cfg.counterpart = Some(Arc::new(Submissions::default()));
    cfg.manual_timeout = Duration::from_secs(20);
    cfg.bodies = Some(store("client", 64));
    let harness = format!("127.0.0.1:{port}");
    let client_own = own.clone();
    let client = std::thread::spawn(move || {
        let task = json!({ "resourceType": "Task", "status": "requested", "intent": "order",
            "input": [ { "type": { "text": "payer-url" }, "valueUrl": payer_url } ] })
        .to_string();
        while raw(&harness, "POST", "/Task", &task).starts_with("HTTP/1.1 503") {
            std::thread::sleep(Duration::from_millis(5));
        }
        while client_own.got.lock().unwrap().is_empty() {
            std::thread::sleep(Duration::from_millis(5));
        }
        let p = r#"{"resourceType":"Parameters","parameter":[{"name":"TrackingId","valueIdentifier":{"system":"urn:x","value":"t-2"}}]}"#;
        raw(&harness, "POST", "/%24submit-attachment", p)
    });
    let r = run_in(
        &rt,
        &common::pack_dir("attach-engine", "client-disk", CLIENT_SCENARIO),
        &cfg,
    );
    client.join().unwrap();
    let s = &r.scenarios[0];
    assert_eq!(s.status, Status::Passed, "{s:#?}");
    let back = &step(s, "back").exchanges[0].request;
    assert!(back.body_file.is_some(), "{back:?}");
    let task = &step(s, "task").exchanges[0].request;
    assert!(
        task.body_file.is_some(),
        "the capture read it from the file too"
    );
}

/// The new keys are checked when the pack loads.
#[test]
fn grow_and_attachment_mistakes_are_reported_at_load() {
    let cases = [
        (
            "serve:\n      resources:\n        - json: { resourceType: Binary, data: \"\" }\n          grow: { at: /data, bytes: \"10\" }",
            "it is for a `send` step's body only",
        ),
        (
            "send:\n      method: POST\n      path: x\n      body: { json: { a: \"\" }, grow: { at: a, bytes: \"10\" } }",
            "is not a JSON Pointer",
        ),
        (
            "send:\n      method: POST\n      path: x\n      body: { json: { a: \"\" }, grow: { at: /a, bytes: lots } }",
            "is not a number of bytes",
        ),
        (
            "send:\n      method: POST\n      path: x\n      body: { text: \"a\", grow: { at: /a, bytes: \"1\" } }",
            "not of `text:`",
        ),
        (
            "send: { method: GET, path: x }\n    assert:\n      - attachment: \"content.where(\"",
            "invalid FHIRPath",
        ),
    ];
    for (i, (step, want)) in cases.iter().enumerate() {
        let yaml =
            format!("id: bad{i}\ntitle: t\nactor: data-consumer-server\nsteps:\n  - {step}\n");
        let dir = common::pack_dir("attach-engine", &format!("bad{i}"), &yaml);
        let err = scenario::load_pack(&dir, &catalog(), &Default::default())
            .err()
            .unwrap_or_else(|| panic!("case {i} loads"))
            .to_string();
        assert!(err.contains(want), "case {i}: {err}");
    }
}
