//! `run --jobs N`: the reports are the same whatever N; a pack bound by a slow peer's latency
//! finishes in about its longest chain instead of the sum; `serial:` and `locks:` keep
//! scenarios apart (and only those); one fixed endpoint address is shared in turn; a wrong
//! `serial:` is refused with file, line and key.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn tmp(name: &str) -> PathBuf {
    common::tmp("jobs", name)
}

fn results(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap()
}

/// Run the harness with `args` plus `--jobs N --out DIR`; the folder and the output.
fn run(name: &str, jobs: usize, args: &[&str]) -> (PathBuf, String, Option<i32>) {
    let out = tmp(&format!("{name}-{jobs}"));
    let jobs = jobs.to_string();
    let mut all = vec!["run", "--jobs", &jobs, "--out", out.to_str().unwrap()];
    all.extend_from_slice(args);
    let o = harness(&all);
    (out, text(&o), o.status.code())
}

/// results.json and junit.xml as two runs of the same thing must share them: what changes
/// from run to run is replaced ([`stable`]: times, durations, ports, run ids), and so is what
/// depends on timing rather than on the order of scenarios: the times a `poll_schedule` check
/// measured, how many attempts a poll took (its message, and only its last exchange, the one
/// checked, is kept), requests that arrived besides the awaited ones, and bodies (signatures
/// and uuids are made afresh). Each exchange is kept as its method, URL and status, so one
/// scenario's exchanges showing up in another's would still differ.
fn comparable(dir: &Path) -> (String, String) {
    let mut r = results(dir);
    for s in r["scenarios"].as_array_mut().unwrap() {
        for st in s["steps"].as_array_mut().unwrap() {
            let st = st.as_object_mut().unwrap();
            st.shift_remove("also_received");
            let mut xs = st["exchanges"].as_array().cloned().unwrap_or_default();
            if st["kind"] == "poll" {
                st.insert("message".into(), Value::Null);
                xs = xs.split_off(xs.len().saturating_sub(1));
            }
            let xs: Vec<Value> = xs
                .iter()
                .map(|x| {
                    serde_json::json!([
                        x["request"]["method"],
                        x["request"]["url"],
                        x["response"]["status"]
                    ])
                })
                .collect();
            st.insert("exchanges".into(), Value::Array(xs));
        }
    }
    let measured = regex::Regex::new(r"\+\d+m \d+s").unwrap();
    let json = stable(&serde_json::to_string_pretty(&r).unwrap());
    let json = measured.replace_all(&json, "+[measured]").into_owned();
    let junit = stable(&std::fs::read_to_string(dir.join("junit.xml")).unwrap());
    (
        json,
        measured.replace_all(&junit, "+[measured]").into_owned(),
    )
}

/// Equal texts, or the first line that differs with a little context.
fn assert_same(what: &str, a: &str, b: &str) {
    if a == b {
        return;
    }
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let at = la
        .iter()
        .zip(&lb)
        .position(|(x, y)| x != y)
        .unwrap_or(la.len().min(lb.len()));
    let around = |l: &[&str]| l[at.saturating_sub(5)..(at + 3).min(l.len())].join("\n");
    panic!(
        "{what} differ at line {}:\n--- one at a time\n{}\n--- several at once\n{}",
        at + 1,
        around(&la),
        around(&lb)
    );
}

/// The same pack, one scenario at a time and four at once: the same reports.
fn same_reports(name: &str, args: &[&str]) {
    let (one, out1, code1) = run(name, 1, args);
    let (many, out4, code4) = run(name, 4, args);
    assert_eq!(code1, code4, "{out1}\n{out4}");
    let (json1, junit1) = comparable(&one);
    let (json4, junit4) = comparable(&many);
    assert_same("results.json", &json1, &json4);
    assert_same("junit.xml", &junit1, &junit4);
    // The console's [n/N] lines come in the pack's order too.
    let places = |out: &str| -> Vec<usize> {
        let re = regex::Regex::new(r"(?m)^  \[(\d+)/\d+\] ").unwrap();
        re.captures_iter(out)
            .map(|c| c[1].parse().unwrap())
            .collect()
    };
    let total = results(&one)["scenarios"].as_array().unwrap().len();
    assert_eq!(places(&out4), (1..=total).collect::<Vec<_>>(), "{out4}");
}

#[test]
fn the_default_pack_reports_the_same_whatever_jobs() {
    same_reports("default", &[]);
}

#[test]
fn failures_are_reported_the_same_whatever_jobs() {
    same_reports(
        "faults",
        &[
            "--fault",
            "information-server:reject-create",
            "--fault",
            "information-recipient:reject-create",
            "--fault",
            "information-client:wrong-id",
        ],
    );
}

#[test]
fn the_cdex_2_1_pack_reports_the_same_whatever_jobs() {
    same_reports("cdex-2.1", &["--pack", "cdex-2.1"]);
}

/// A peer FHIR server that answers every request after `delay`, noting when each request
/// for `Patient/<scenario>-<n>` began and ended.
struct Peer {
    url: String,
    hits: Arc<Mutex<Vec<(String, Instant, Instant)>>>,
    _rt: tokio::runtime::Runtime,
}

fn slow_peer(delay: Duration) -> Peer {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(Mutex::new(Vec::new()));
    let noted = hits.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let noted = noted.clone();
        async move {
            let began = Instant::now();
            tokio::time::sleep(delay).await;
            let path = uri.path().trim_start_matches('/');
            let body = if path == "metadata" {
                serde_json::json!({"resourceType": "CapabilityStatement", "status": "active",
                    "kind": "instance", "fhirVersion": "4.0.1", "format": ["json"]})
            } else {
                let id = path.rsplit('/').next().unwrap_or_default();
                if let Some((scenario, _)) = id.rsplit_once('-') {
                    noted
                        .lock()
                        .unwrap()
                        .push((scenario.to_string(), began, Instant::now()));
                }
                serde_json::json!({"resourceType": "Patient", "id": id})
            };
            (
                [("content-type", "application/fhir+json")],
                body.to_string(),
            )
        }
    });
    rt.spawn(async move { axum::serve(listener, app).await });
    Peer { url, hits, _rt: rt }
}

/// A pack of scenarios that each read two Patients from the server under test, one after
/// the other; `(id, extra keys)`.
fn reading_pack(name: &str, scenarios: &[(String, &str)]) -> PathBuf {
    let dir = tmp(name);
    for (id, extra) in scenarios {
        let text = format!(
            "id: {id}\ntitle: two reads\nactor: information-server\n{extra}steps:\n  - send: {{ method: GET, path: \"Patient/{{{{scenario_id}}}}-1\" }}\n    assert:\n      - status: 200\n  - send: {{ method: GET, path: \"Patient/{{{{scenario_id}}}}-2\" }}\n    assert:\n      - status: 200\n"
        );
        std::fs::write(dir.join(format!("{id}.yaml")), text).unwrap();
    }
    dir
}

fn against(peer: &Peer, pack: &Path) -> Vec<String> {
    [
        "--scenarios",
        pack.to_str().unwrap(),
        "--actor",
        "information-server",
        "--target",
        &peer.url,
    ]
    .map(String::from)
    .to_vec()
}

fn run_against(name: &str, jobs: usize, peer: &Peer, pack: &Path) -> Value {
    let args = against(peer, pack);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, output, code) = run(name, jobs, &args);
    assert_eq!(code, Some(0), "{output}");
    results(&out)
}

#[test]
fn a_latency_bound_pack_takes_about_its_longest_chain_not_the_sum() {
    const LATENCY: Duration = Duration::from_millis(100);
    let peer = slow_peer(LATENCY);
    let scenarios: Vec<(String, &str)> = (1..=30).map(|i| (format!("lat-{i:02}"), "")).collect();
    let pack = reading_pack("latency-pack", &scenarios);
    // 30 scenarios of two exchanges, each answered after 100 ms.
    let sum = LATENCY.as_secs_f64() * 1000.0 * 60.0;

    let serial = run_against("latency", 1, &peer, &pack);
    let took = serial["duration_ms"].as_f64().unwrap();
    assert!(
        took >= sum,
        "one at a time took {took} ms, less than {sum} ms"
    );

    let parallel = run_against("latency", 30, &peer, &pack);
    let took = parallel["duration_ms"].as_f64().unwrap();
    assert!(
        took < 0.4 * sum,
        "30 at once took {took} ms, not well under the {sum} ms of one at a time"
    );
    assert_eq!(parallel["summary"]["passed"], 30);
}

#[test]
fn serial_and_locks_keep_scenarios_apart_and_others_overlap() {
    let peer = slow_peer(Duration::from_millis(100));
    let scenarios: Vec<(String, &str)> = [
        ("01-a1", "locks: [a]\n"),
        ("02-f1", ""),
        ("03-f2", ""),
        ("04-a2", "locks: [a, b]\n"),
        ("05-s1", "serial: true\n"),
        ("06-f3", ""),
        ("07-a3", "locks: [a]\n"),
        ("08-f4", ""),
    ]
    .map(|(id, extra)| (id.to_string(), extra))
    .to_vec();
    let pack = reading_pack("locks-pack", &scenarios);
    let r = run_against("locks", 4, &peer, &pack);
    assert_eq!(r["summary"]["passed"], 8);

    // When each scenario was talking to the peer: its first request's start to its last's end.
    let hits = peer.hits.lock().unwrap().clone();
    let span = |id: &str| {
        let mine: Vec<_> = hits.iter().filter(|(s, _, _)| s == id).collect();
        assert_eq!(mine.len(), 2, "{id}: {hits:?}");
        let began = mine.iter().map(|h| h.1).min().unwrap();
        let ended = mine.iter().map(|h| h.2).max().unwrap();
        (began, ended)
    };
    let overlap = |a: &str, b: &str| {
        let (x, y) = (span(a), span(b));
        x.0 < y.1 && y.0 < x.1
    };
    for (a, b) in [("01-a1", "04-a2"), ("01-a1", "07-a3"), ("04-a2", "07-a3")] {
        assert!(!overlap(a, b), "{a} and {b} share lock a, yet overlapped");
    }
    for (other, _) in &scenarios {
        if other != "05-s1" {
            assert!(
                !overlap("05-s1", other),
                "05-s1 is serial, yet overlapped {other}"
            );
        }
    }
    // The first ones start together: nothing keeps them apart.
    assert!(overlap("01-a1", "02-f1") && overlap("02-f1", "03-f2"));
}

#[test]
fn one_fixed_endpoint_address_is_shared_in_turn() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let trigger = format!("{BIN} act");
    let (out, output, code) = run(
        "fixed-endpoint",
        4,
        &[
            "--actor",
            "information-client",
            "--trigger",
            &trigger,
            "--listen",
            &listen,
        ],
    );
    assert_eq!(code, Some(0), "{output}");
    let r = results(&out);
    assert!(
        r["target"].as_str().unwrap().contains(&listen),
        "{}",
        r["target"]
    );
}

#[test]
fn a_serial_that_is_not_true_or_false_is_refused_with_file_line_and_key() {
    let dir = pack_dir(
        "jobs",
        "serial-yes",
        "id: s\ntitle: t\nactor: information-server\nserial: \"yes\"\nsteps:\n  - send: { method: GET, path: metadata }\n",
    );
    let o = harness(&["check", "--scenarios", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("s.yaml:4:") && t.contains("`serial` takes true or false"),
        "{t}"
    );
}

#[test]
fn ctrl_c_lets_the_scenarios_running_end_and_the_queued_ones_are_not_run() {
    let out = tmp("sigint");
    let mut child = command(&[
        "run",
        "--actor",
        "information-client",
        "--scenario",
        "ic-push",
        "--scenario",
        "ic-pull",
        "--trigger",
        "sleep 30",
        "--timeout",
        "20s",
        "--jobs",
        "2",
        "--out",
        out.to_str().unwrap(),
    ])
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    // Interrupt once a scenario waits for the client (the Ctrl-C handler is in place).
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains("waiting up to") => break,
            Ok(_) => {}
            Err(_) => panic!("the run never started waiting for the client"),
        }
    }
    // SAFETY: kill(2) on the child we just started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    let output = reader.join().unwrap();
    assert_eq!(status.code(), Some(130), "{output}");
    let r = results(&out);
    assert_eq!(r["interrupted"], true);
    let statuses: Vec<&str> = r["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    // The two running were cut short (the one waiting errs; the other, if it had not begun a
    // step yet, did not run); the queued ones never started.
    assert_eq!(statuses[0], "errored", "{statuses:?}");
    assert!(matches!(statuses[1], "errored" | "not-run"), "{statuses:?}");
    assert!(statuses.len() > 2, "{statuses:?}");
    assert!(
        statuses[2..].iter().all(|s| *s == "not-run"),
        "{statuses:?}"
    );
}
