//! The simulator's live check of one exchange: `cargo bench --bench live` (add
//! `-- --seconds N` to change the time; `-- --passes N` makes exactly N exchanges, for
//! `valgrind --tool=callgrind`, whose instruction counts a busy machine does not move).
//!
//! How it maps to the simulator: `simulate information-recipient` hands every exchange it
//! answered to one worker thread (src/simulator/worker.rs), which for each one runs
//! `exchange::check` (the live check: `fhir::live_findings` on the request, i.e. the R4 base,
//! cdex-communication and their FHIRPath invariants, and the redaction of the exchange),
//! writes its lines to the log (`exchange::write_lines`, here into a 64 KiB buffer over a
//! sink), keeps it in `recent` and broadcasts it. This bench does exactly that, on one
//! thread, for the exchange `benches/load/simulate.sh` floods the simulator with: the POST of
//! `benches/load/communication.json` answered 201 with the stored resource. It prints
//! exchanges per second and microseconds each: the worker keeps up with N pushes/s when
//! this is well above N (it shares the 2 cores with the request path and wrk).

use cdex_harness::fhir::expected;
use cdex_harness::http::redact::Redactor;
use cdex_harness::http::{Message, RawExchange};
use cdex_harness::results::Direction;
use cdex_harness::simulator::exchange;
use cdex_harness::simulator::keep::Recent;
use std::io::Write;
use std::time::{Duration, Instant};

fn the_exchange() -> RawExchange {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read(root.join("benches/load/communication.json")).expect("body");
    let mut stored: serde_json::Value = serde_json::from_slice(&body).expect("json");
    stored["id"] = "17".into();
    stored["meta"] =
        serde_json::json!({"versionId": "1", "lastUpdated": "2026-12-02T04:40:00.000Z"});
    let response = serde_json::to_vec(&stored).expect("json");
    let h = |k: &str, v: &str| (k.to_string(), v.to_string());
    RawExchange {
        direction: Direction::Incoming,
        at: chrono::Utc::now(),
        duration: Duration::from_micros(120),
        request: Message {
            method: Some("POST".into()),
            url: Some("http://127.0.0.1:8080/fhir/Communication".into()),
            path: Some("Communication".into()),
            headers: vec![
                h("host", "127.0.0.1:8080"),
                h("content-type", "application/fhir+json"),
                h("content-length", &body.len().to_string()),
            ],
            body,
            ..Message::default()
        },
        response: Some(Message {
            status: Some(201),
            headers: vec![
                h("content-type", "application/fhir+json"),
                h(
                    "location",
                    "http://127.0.0.1:8080/fhir/Communication/17/_history/1",
                ),
                h("content-length", &response.len().to_string()),
            ],
            body: response,
            ..Message::default()
        }),
        error: None,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let seconds = arg("--seconds").unwrap_or(5);
    let passes = arg("--passes");
    let x = the_exchange();
    let expects = expected::for_actor("information-recipient", &[]);
    assert!(
        expects.is_some(),
        "the Information Recipient expects a profile"
    );
    let redactor = Redactor::new(Vec::<String>::new());
    let recent = Recent::new(1000);
    let (events, _keep_open) = tokio::sync::broadcast::channel(1024);
    let mut log = std::io::BufWriter::with_capacity(64 * 1024, std::io::sink());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");

    let mut one = |seq: u64| {
        let live = rt.block_on(exchange::check(seq, &x, &redactor, expects));
        exchange::write_lines(&mut log, &live, false).expect("log");
        recent.push(live.clone());
        let _ = events.send(live);
    };
    // Warm-up: the validator's data load once, and the verdict is what the log shows.
    let first = rt.block_on(exchange::check(0, &x, &redactor, expects));
    let mut lines = Vec::new();
    exchange::write_lines(&mut lines, &first, false).expect("lines");
    eprint!("{}", String::from_utf8_lossy(&lines));
    for seq in 1..=100 {
        one(seq);
    }

    let start = Instant::now();
    let mut n = 0u64;
    match passes {
        Some(p) => {
            while n < p {
                n += 1;
                one(n);
            }
        }
        None => {
            let budget = Duration::from_secs(seconds);
            while start.elapsed() < budget {
                for _ in 0..100 {
                    n += 1;
                    one(n);
                }
            }
        }
    }
    let t = start.elapsed().as_secs_f64();
    log.flush().expect("flush");
    println!(
        "live check: {n} exchanges in {t:.2} s: {:.0} exchanges/s, {:.1} µs each",
        n as f64 / t,
        t * 1e6 / n as f64
    );
}
