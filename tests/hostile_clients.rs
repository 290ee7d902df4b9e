//! Clients under test that misbehave towards the harness's mock server: garbage, oversized
//! and never-ending requests, and a hundred connections at once. The server answers what it
//! can, records what arrived, stays up, and keeps serving the next request.

use cdex_harness::actors;
use cdex_harness::mock::MockServer;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

async fn server() -> MockServer {
    let spec = actors::find("information-server").unwrap();
    let actor = (spec.build)(&serde_json::json!({}), Default::default()).unwrap();
    MockServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), actor.server.unwrap())
        .await
        .unwrap()
}

/// Send raw bytes, return what came back (until close or 3 s).
fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn get_metadata(addr: SocketAddr) -> String {
    raw(
        addr,
        b"GET /metadata HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_gets_a_400_and_the_server_stays_up() {
    let m = server().await;
    let addr = m.addr();
    let answer =
        tokio::task::spawn_blocking(move || raw(addr, b"\x00\x01\x02 NOT HTTP AT ALL\r\n\r\n"))
            .await
            .unwrap();
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    let ok = tokio::task::spawn_blocking(move || get_metadata(addr))
        .await
        .unwrap();
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_gets_413_and_is_recorded() {
    let m = server().await;
    let addr = m.addr();
    let answer = tokio::task::spawn_blocking(move || {
        let size = 20 * 1024 * 1024;
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let head = format!("POST /Condition HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n");
        s.write_all(head.as_bytes()).unwrap();
        let chunk = vec![b' '; 1024 * 1024];
        for _ in 0..20 {
            if s.write_all(&chunk).is_err() {
                break;
            }
        }
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "{}",
        answer.chars().take(200).collect::<String>()
    );
    let recorded = m.recorder().since(0);
    assert_eq!(recorded.len(), 1);
    assert!(
        recorded[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("larger than")
    );
    assert!(
        recorded[0].request.body.len() <= 16 * 1024 * 1024,
        "memory stays bounded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_never_ends_does_not_block_others() {
    let m = server().await;
    let addr = m.addr();
    // Announce 1000 bytes, send 10, and keep the connection open.
    let hold = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(
            b"POST /Condition HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789",
        )
        .unwrap();
        std::thread::sleep(Duration::from_secs(2));
    });
    let ok = tokio::task::spawn_blocking(move || get_metadata(addr))
        .await
        .unwrap();
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    hold.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_trickles_past_the_deadline_gets_408_and_is_recorded() {
    let m = server().await;
    m.set_body_timeout(Duration::from_millis(300));
    let addr = m.addr();
    // Announce 1000 bytes, send 10, then a byte now and then: never done in time.
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(
            b"POST /Condition HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789",
        )
        .unwrap();
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(150));
            let _ = s.write_all(b"x");
        }
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive within 300ms"), "{answer}");
    let seen = m.recorder().since(0);
    assert_eq!(seen.len(), 1);
    assert!(seen[0].request.truncated);
    assert!(
        seen[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("did not arrive")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_connections_at_once_are_all_answered() {
    let m = server().await;
    let addr = m.addr();
    let answers = tokio::task::spawn_blocking(move || {
        let handles: Vec<_> = (0..100)
            .map(|_| std::thread::spawn(move || get_metadata(addr)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let ok = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 200"))
        .count();
    assert_eq!(ok, 100);
    assert_eq!(m.recorder().since(0).len(), 100, "every exchange recorded");
}
