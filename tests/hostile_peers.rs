//! Servers under test that misbehave. Each case starts a deliberately broken peer on
//! loopback (plain threads and raw TCP, so it can break HTTP in ways a real server library
//! won't), runs a two-scenario pack against it, and checks the harness ends the first
//! scenario with a clear failed check or error naming what it received, goes on to the
//! second, and never panics or hangs past its timeout.

use cdex_harness::catalog::Catalog;
use cdex_harness::results::{RunResults, Status};
use cdex_harness::runner::{self, RunConfig, Sut};
use cdex_harness::scenario;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the peer does once it has read a request's head.
type Behaviour = fn(&mut TcpStream, &str);

const SCENARIOS: &str = r#"id: hostile-read
title: read a Condition from a hostile server
actor: information-server
steps:
  - id: read
    send: { method: GET, path: Condition/1 }
    assert:
      - status: 200
        req: CDEX-IS-PULL
      - resource: Condition
        req: CDEX-IS-PULL
"#;

const NEXT: &str = r#"id: next-scenario
title: the run goes on after a hostile answer
actor: information-server
steps:
  - id: read-again
    send: { method: GET, path: Condition/2 }
"#;

fn pack_dir() -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("hostile-pack-{}", std::process::id()));
    if !dir.join("b.yaml").exists() {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.yaml"), SCENARIOS).unwrap();
        std::fs::write(dir.join("b.yaml"), NEXT).unwrap();
    }
    dir
}

/// Start a peer; every connection gets `behaviour` after its request head is read, except
/// the harness's preflight `GET /metadata`, which gets a plain 404 (a server without a
/// CapabilityStatement), so that what is tested is how a scenario's step takes the fault.
fn peer(behaviour: Behaviour) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let head = read_head(&mut stream);
                if head.starts_with("GET /metadata ") {
                    respond(&mut stream, "404 Not Found", "text/plain", b"no metadata");
                    return;
                }
                behaviour(&mut stream, &head);
            });
        }
    });
    format!("http://{addr}")
}

fn read_head(s: &mut TcpStream) -> String {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") && buf.len() < 65536 {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn respond(s: &mut TcpStream, status: &str, content_type: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
}

fn run_against(url: &str, timeout: Duration) -> (RunResults, Duration) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let catalog = Catalog::load(&root.join("catalog/cdex-2019")).unwrap();
    let pack = scenario::load_pack(&pack_dir(), &catalog, &Default::default()).unwrap();
    let mut cfg = RunConfig::new(Sut::External {
        target: Some(url.to_string()),
        trigger: None,
    });
    cfg.timeout = timeout;
    let selected = runner::select(&pack, None, &[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_tx, rx) = runner::cancel_pair();
    let start = Instant::now();
    let r = rt.block_on(runner::run(&pack, &selected, &catalog, &cfg, rx));
    (r, start.elapsed())
}

/// The first scenario ends `status` with `needle` in its step message or an assertion
/// message; the second scenario ran too.
fn check(r: &RunResults, status: Status, needle: &str) {
    let first = r
        .scenarios
        .iter()
        .find(|s| s.id == "hostile-read")
        .expect("first scenario");
    let step = &first.steps[0];
    let mut said = step.message.clone().unwrap_or_default();
    for a in &step.assertions {
        said.push_str(" | ");
        said.push_str(a.message.as_deref().unwrap_or(""));
    }
    for x in &step.exchanges {
        if let Some(e) = &x.error {
            said.push_str(" | ");
            said.push_str(e);
        }
    }
    assert_eq!(step.status, status, "step status; it said: {said}");
    assert!(said.contains(needle), "expected {needle:?} in: {said}");
    assert!(
        r.scenarios
            .iter()
            .any(|s| s.id == "next-scenario" && s.status != Status::NotRun),
        "the run went on"
    );
    assert_eq!(r.exit_code(), 1);
}

#[test]
fn connection_refused() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (r, _) = run_against(&format!("http://127.0.0.1:{port}"), Duration::from_secs(2));
    // The preflight finds it: one clear message, every scenario errored without a step run.
    let first = r
        .scenarios
        .iter()
        .find(|s| s.id == "hostile-read")
        .expect("first scenario");
    assert_eq!(first.status, Status::Errored);
    let said = first.message.clone().unwrap_or_default();
    assert!(
        said.contains("did not answer") && said.contains("could not connect"),
        "{said}"
    );
    assert!(
        r.notes.iter().any(|n| n.contains("did not answer")),
        "{:?}",
        r.notes
    );
    assert!(r.scenarios.iter().all(|s| s.status == Status::Errored));
    assert_eq!(r.exit_code(), 1);
}

#[test]
fn reset_mid_response() {
    let url = peer(|s, _| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: 500\r\n\r\n{\"resourceType\":");
        let _ = s.shutdown(std::net::Shutdown::Both);
    });
    let (r, _) = run_against(&url, Duration::from_secs(2));
    check(&r, Status::Errored, "the response body could not be read");
}

#[test]
fn response_that_never_comes() {
    let url = peer(|_, _| std::thread::sleep(Duration::from_secs(30)));
    let (r, took) = run_against(&url, Duration::from_millis(600));
    check(&r, Status::Errored, "no complete response within 600ms");
    assert!(
        took < Duration::from_secs(10),
        "bounded by the timeouts: {took:?}"
    );
}

#[test]
fn response_that_trickles_a_byte_at_a_time() {
    let url = peer(|s, _| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: 100000\r\n\r\n");
        for _ in 0..100 {
            if s.write_all(b" ").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let (r, took) = run_against(&url, Duration::from_millis(700));
    check(&r, Status::Errored, "no complete response within 700ms");
    assert!(
        took < Duration::from_secs(10),
        "bounded by the timeouts: {took:?}"
    );
}

#[test]
fn body_that_is_not_json() {
    let url = peer(|s, _| respond(s, "200 OK", "application/fhir+json", b"this is not json"));
    let (r, _) = run_against(&url, Duration::from_secs(2));
    check(&r, Status::Failed, "the body is not JSON");
}

#[test]
fn truncated_json() {
    let url = peer(|s, _| {
        respond(
            s,
            "200 OK",
            "application/fhir+json",
            b"{\"resourceType\":\"Condition\",\"id\":",
        )
    });
    let (r, _) = run_against(&url, Duration::from_secs(2));
    check(&r, Status::Failed, "the body is not JSON");
}

#[test]
fn json_of_the_wrong_resource_type() {
    let url = peer(|s, _| {
        respond(
            s,
            "200 OK",
            "application/fhir+json",
            b"{\"resourceType\":\"Patient\",\"id\":\"1\"}",
        )
    });
    let (r, _) = run_against(&url, Duration::from_secs(2));
    check(
        &r,
        Status::Failed,
        "the body is a Patient, expected a Condition",
    );
}

#[test]
fn html_claiming_to_be_fhir_json() {
    let url = peer(|s, _| {
        respond(
            s,
            "200 OK",
            "application/fhir+json",
            b"<!doctype html><html><body>Login</body></html>",
        )
    });
    let (r, _) = run_against(&url, Duration::from_secs(2));
    check(&r, Status::Failed, "it starts with \"<!doctype html>");
}

#[test]
fn a_fifty_megabyte_body_is_cut_at_the_limit() {
    let url = peer(|s, _| {
        let size = 50 * 1024 * 1024;
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: {size}\r\n\r\n"
        );
        let _ = s.write_all(head.as_bytes());
        let chunk = vec![b' '; 1024 * 1024];
        for _ in 0..50 {
            if s.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let (r, _) = run_against(&url, Duration::from_secs(20));
    check(
        &r,
        Status::Failed,
        "larger than the 16 MiB the harness reads",
    );
    let x = &r.scenarios[0].steps[0].exchanges[0];
    let resp = x.response.as_ref().expect("a response");
    assert!(resp.body_truncated, "marked truncated in the results");
    assert!(
        resp.body.as_ref().map(|b| b.len()).unwrap_or(0) <= 256 * 1024,
        "the report keeps at most 256 KiB"
    );
}

#[test]
fn endless_redirects() {
    let url = peer(|s, head| {
        let n: u32 = head
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.rsplit('/').next())
            .and_then(|x| x.parse().ok())
            .unwrap_or(0);
        let resp = format!(
            "HTTP/1.1 302 Found\r\nLocation: /Condition/{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            n + 1
        );
        let _ = s.write_all(resp.as_bytes());
    });
    let (r, _) = run_against(&url, Duration::from_secs(2));
    check(&r, Status::Errored, "more than 5 redirects");
}

#[test]
fn redirect_to_another_host_is_not_followed() {
    let url = peer(|s, _| {
        let _ = s.write_all(b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.2:9/steal\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    });
    let (r, _) = run_against(&url, Duration::from_secs(2));
    check(
        &r,
        Status::Errored,
        "refused to follow a redirect to another origin",
    );
}

#[test]
fn content_length_that_lies() {
    let url = peer(|s, _| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: 1000\r\n\r\n{\"resourceType\":\"Condition\"}");
        let _ = s.shutdown(std::net::Shutdown::Write);
        std::thread::sleep(Duration::from_millis(200));
    });
    let (r, _) = run_against(&url, Duration::from_secs(2));
    check(&r, Status::Errored, "the response body could not be read");
}

#[test]
fn invalid_utf8() {
    let url = peer(|s, _| {
        respond(
            s,
            "200 OK",
            "application/fhir+json",
            b"{\"resourceType\":\"Condition\",\"note\":[{\"text\":\"\xff\xfe\xfd\"}]}",
        )
    });
    let (r, _) = run_against(&url, Duration::from_secs(2));
    check(&r, Status::Failed, "the body is not JSON");
    let body = r.scenarios[0].steps[0].exchanges[0]
        .response
        .as_ref()
        .unwrap()
        .body
        .clone()
        .unwrap();
    assert!(
        body.contains('\u{fffd}'),
        "shown with replacement characters: {body}"
    );
}
