//! The floor of the simulator's load figures: the same HTTP stack (tokio, hyper HTTP/1, the
//! same runtime threads as `simulate`) answering every POST with a fixed 201 and a
//! Communication-sized body, after reading the request body, and doing nothing else: no
//! parse, no validation, no store, no live check. What wrk measures against it on this
//! machine is the most any simulator on this stack could answer here.
//!
//!   cargo build --release --example bare_server
//!   target/release/examples/bare_server 127.0.0.1:18099 &
//!   wrk -t2 -c32 -d10s --latency -s benches/load/post.lua http://127.0.0.1:18099/Communication
//!
//! (`benches/load/simulate.sh` runs it with `BARE=1`.)

use http_body::Body;
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::convert::Infallible;

const ANSWER: &str = r#"{"resourceType":"Communication","id":"communication-1","meta":{"versionId":"1","lastUpdated":"2026-12-02T00:00:00.000Z","profile":["http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-communication"]},"status":"completed","subject":{"reference":"Patient/cdex-patient-1"},"payload":[{"contentString":"Active problems: type 2 diabetes mellitus (SNOMED CT 44054006), since 2019-05-24."}]}"#;

async fn answer(req: Request<Incoming>) -> Result<Response<String>, Infallible> {
    let mut body = req.into_body();
    while let Some(Ok(_)) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {}
    let mut resp = Response::new(ANSWER.to_string());
    *resp.status_mut() = hyper::StatusCode::CREATED;
    resp.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/fhir+json; charset=utf-8"),
    );
    Ok(resp)
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18099".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cdex_harness::simulator::answering_threads())
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
        eprintln!("bare server on http://{addr}/ (Ctrl-C to stop)");
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(
                        hyper_util::rt::TokioIo::new(tcp),
                        hyper::service::service_fn(answer),
                    )
                    .await;
            });
        }
    });
}
