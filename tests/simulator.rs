//! The simulator as a library (what `simulate ACTOR` and the web console run on): several
//! at once in one process, each exchange checked off the request path and told to
//! subscribers, memory capped.

mod common;

use cdex_harness::results::Status;
use cdex_harness::simulator::{
    LiveExchange, Log, PackSettings, Simulator, SimulatorOptions, Stats,
};
use std::time::Duration;

fn pack() -> PackSettings {
    let (_, pack) = cdex_harness::cli::load(&Default::default(), Vec::new()).expect("the pack");
    PackSettings::from(&pack)
}

/// A Communication the reference Information Recipient keeps (cdex-communication).
const VALID: &str = r#"{"resourceType":"Communication","status":"completed",
    "subject":{"reference":"Patient/p1"},"sent":"2019-06-10T15:00:31-04:00",
    "recipient":[{"reference":"Organization/payer"}],"sender":{"reference":"Organization/provider"},
    "payload":[{"contentString":"Patient stable."}]}"#;

/// One it refuses: no subject, a status not in the value set.
const INVALID: &str = r#"{"resourceType":"Communication","status":"bogus",
    "recipient":[{"reference":"Organization/payer"}],"sender":{"reference":"Organization/provider"},
    "payload":[{"contentString":"x"}]}"#;

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn push(http: &reqwest::Client, sim: &Simulator, body: &str) -> u16 {
    http.post(format!("{}/Communication", sim.base_url()))
        .header("Content-Type", "application/fhir+json")
        .body(body.to_string())
        .send()
        .await
        .expect("the simulator answers")
        .status()
        .as_u16()
}

async fn next(rx: &mut tokio::sync::broadcast::Receiver<LiveExchange>) -> LiveExchange {
    tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("an exchange is told to subscribers")
        .expect("nothing missed")
}

/// Wait (bounded, not a timing check) until the simulator has checked `n` exchanges.
async fn checked(sim: &Simulator, n: u64) -> Stats {
    for _ in 0..600 {
        let s = sim.stats();
        if s.checked + s.unchecked >= n {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not checked: {:?}", sim.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_simulators_at_once_tell_their_own_checked_exchanges() {
    let pack = pack();
    let a = Simulator::start(SimulatorOptions::new("information-recipient", pack.clone()))
        .await
        .unwrap();
    let b = Simulator::start(SimulatorOptions::new("information-recipient", pack))
        .await
        .unwrap();
    assert_ne!(a.base_url(), b.base_url());
    assert!(
        a.base_url().starts_with("http://127.0.0.1:"),
        "{}",
        a.base_url()
    );
    assert_eq!(a.actor(), "information-recipient");
    let (mut live_a, mut live_b) = (a.subscribe(), b.subscribe());
    let http = client();
    assert_eq!(push(&http, &a, VALID).await, 201);
    assert_eq!(push(&http, &b, INVALID).await, 400);

    let x = next(&mut live_a).await;
    assert_eq!(
        (x.seq, x.method.as_str(), x.path.as_str(), x.status),
        (1, "POST", "/Communication", 201)
    );
    assert!(
        x.request_body
            .as_deref()
            .unwrap()
            .contains("Patient stable.")
    );
    assert!(x.response_body.as_deref().unwrap().contains("\"id\""));
    assert!(
        x.checks.iter().all(|c| c.status != Status::Failed),
        "{:?}",
        x.checks
    );
    let verdict = x.checks.last().unwrap();
    assert_eq!(verdict.status, Status::Passed, "{verdict:?}");
    assert!(verdict.message.starts_with("valid against"), "{verdict:?}");

    let y = next(&mut live_b).await;
    assert_eq!((y.seq, y.status), (1, 400));
    let subject = y
        .checks
        .iter()
        .find(|c| c.message.contains("`subject` has 0 occurrence(s)"))
        .expect("the missing subject is found");
    assert_eq!(subject.status, Status::Failed);
    assert_eq!(
        subject.requirement.as_deref(),
        Some(
            "http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-communication#Communication.subject"
        )
    );
    let verdict = y.checks.last().unwrap();
    assert_eq!(verdict.status, Status::Failed);
    assert!(verdict.message.starts_with("INVALID"), "{verdict:?}");

    // Each keeps its own.
    assert_eq!(a.recent().len(), 1);
    assert_eq!(b.recent()[0].status, 400);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_keeps_the_last_exchanges_and_resources_and_says_so() {
    let log = common::tmp("simulator", "cap").join("log.txt");
    let opts = SimulatorOptions {
        keep: 3,
        log: Log::File(log.clone()),
        ..SimulatorOptions::new("information-recipient", pack())
    };
    let sim = Simulator::start(opts).await.unwrap();
    let http = client();
    for _ in 0..5 {
        assert_eq!(push(&http, &sim, VALID).await, 201);
    }
    let stats = checked(&sim, 5).await;
    assert_eq!(stats.unchecked, 0, "{stats:?}");
    let kept: Vec<u64> = sim.recent().iter().map(|x| x.seq).collect();
    assert_eq!(kept, [3, 4, 5]);
    assert_eq!(stats.dropped_exchanges, 2, "{stats:?}");
    assert_eq!(stats.dropped_resources, 2, "{stats:?}");
    // The oldest resources are gone, the last ones still read.
    let read = |id: &str| {
        let url = format!("{}/Communication/{id}", sim.base_url());
        let http = http.clone();
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(read("communication-1").await, 404);
    assert_eq!(read("communication-5").await, 200);
    sim.stop().await;
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        log.matches("POST /Communication -> 201").count(),
        5,
        "{log}"
    );
    assert!(
        log.contains("note: 3 exchange(s) kept in memory: from now on the oldest is dropped"),
        "{log}"
    );
    assert!(
        log.contains("resource(s) dropped from memory so far, the oldest first"),
        "{log}"
    );
    assert!(
        log.lines().last().unwrap().starts_with(
            "note: 7 exchange(s): 7 checked, 0 answered but not checked (the live check was behind); 4 older exchange(s) and 2 resource(s) dropped"
        ),
        "{log}"
    );
}

/// A subscriber that never reads holds nothing up: every request is answered, and the
/// subscriber learns it missed some.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_never_blocks_requests() {
    let sim = Simulator::start(SimulatorOptions::new("information-recipient", pack()))
        .await
        .unwrap();
    let mut idle = sim.subscribe();
    let http = client();
    let per_task = (cdex_harness::simulator::worker::BROADCAST as u64 + 100) / 8;
    let n = per_task * 8;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let http = http.clone();
        let url = format!("{}/Communication", sim.base_url());
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_task {
                let s = http
                    .post(&url)
                    .header("Content-Type", "application/fhir+json")
                    .body(VALID)
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(s.as_u16(), 201);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let stats = checked(&sim, n).await;
    assert_eq!(stats.received, n);
    // Every exchange is either checked or counted as not checked, never lost.
    assert_eq!(stats.checked + stats.unchecked, n, "{stats:?}");
    match idle.recv().await {
        Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => assert!(missed > 0),
        other => panic!("the idle subscriber should have lagged: {other:?}"),
    }
    sim.stop().await;
}

#[tokio::test]
async fn bad_options_are_refused_with_what_to_do() {
    let e = Simulator::start(SimulatorOptions::new("information-recipent", pack()))
        .await
        .err()
        .unwrap();
    assert!(e.contains("did you mean `information-recipient`"), "{e}");
    let e = Simulator::start(SimulatorOptions::new("information-client", pack()))
        .await
        .err()
        .unwrap();
    assert!(e.contains("initiates exchanges"), "{e}");
    let opts = SimulatorOptions {
        faults: vec!["no-such-fault".into()],
        ..SimulatorOptions::new("information-recipient", pack())
    };
    assert!(Simulator::start(opts).await.is_err());
}
