//! The command line, end to end: the README's main command, exit codes, the client role
//! through --trigger, secrets, and load errors that name file, line and field.

mod common;
use common::*;
use std::path::PathBuf;
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    common::tmp("cli", name)
}

#[test]
fn main_command_passes_and_writes_every_report() {
    let out = tmp("main");
    let o = harness(&["run", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for f in ["report.html", "junit.xml", "results.json"] {
        assert!(out.join(f).is_file(), "{f} written");
    }
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["summary"]["failed"], 0);
    assert_eq!(
        results["summary"]["requirements_covered"],
        results["summary"]["requirements"]
    );
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    insta::assert_snapshot!("junit_reference_run", stable(&junit));
    insta::assert_snapshot!(
        "console_reference_run",
        stable(&String::from_utf8_lossy(&o.stdout))
    );
}

#[test]
fn one_scenario_results_json_is_stable() {
    let out = tmp("one");
    let o = harness(&[
        "run",
        "--scenario",
        "is-push-create",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let json = std::fs::read_to_string(out.join("results.json")).unwrap();
    insta::assert_snapshot!("results_is_push_create", stable(&json));
}

#[test]
fn a_failed_shall_exits_1() {
    let out = tmp("fault");
    let o = harness(&[
        "run",
        "--actor",
        "information-server",
        "--fault",
        "information-server:no-location",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(
        junit.contains("FHIR-CREATE-LOCATION"),
        "the failure names the requirement"
    );
}

#[test]
fn a_failed_should_only_warns_and_exits_0() {
    let out = tmp("warn");
    let o = harness(&[
        "run",
        "--actor",
        "information-server",
        "--fault",
        "information-server:wrong-content-type",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("warned"));
}

#[test]
fn client_role_through_a_trigger_command() {
    let out = tmp("trigger");
    let trigger = format!("{BIN} act");
    let o = harness(&[
        "run",
        "--actor",
        "information-client",
        "--scenario",
        "ic-push",
        "--scenario",
        "ic-pull",
        "--trigger",
        &trigger,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let faulty = format!("{BIN} act --fault no-search-params");
    let o = harness(&[
        "run",
        "--actor",
        "information-client",
        "--scenario",
        "ic-push",
        "--scenario",
        "ic-pull",
        "--trigger",
        &faulty,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let results = std::fs::read_to_string(out.join("results.json")).unwrap();
    assert!(results.contains("the search names the patient asked for"));
}

#[test]
fn a_client_that_never_sends_fails_at_the_timeout_and_says_what_never_arrived() {
    let out = tmp("silent");
    let o = harness(&[
        "run",
        "--actor",
        "information-client",
        "--scenario",
        "ic-push-create",
        "--trigger",
        "exit 0",
        "--timeout",
        "300ms",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let results = std::fs::read_to_string(out.join("results.json")).unwrap();
    assert!(
        results.contains("POST Communication never arrived within 300ms"),
        "{results}"
    );
}

#[test]
fn a_failing_trigger_command_is_reported_in_the_step() {
    let out = tmp("trigger-fails");
    let o = harness(&[
        "run",
        "--actor",
        "information-client",
        "--scenario",
        "ic-pull-read",
        "--trigger",
        "echo adapter broke >&2; exit 3",
        "--timeout",
        "300ms",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let results = std::fs::read_to_string(out.join("results.json")).unwrap();
    assert!(results.contains("adapter broke"), "{results}");
}

#[test]
fn secrets_never_reach_reports_logs_or_console() {
    let out = tmp("secrets");
    let token = "SuperSecretToken-4f9a2c";
    let api_key = "ApiKey-77e1d0b5";
    let o = harness(&[
        "run",
        "-v",
        "--var",
        &format!("token={token}"),
        "--header",
        &format!("X-Api-Key: {api_key}"),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mut everything = text(&o);
    for f in ["report.html", "junit.xml", "results.json"] {
        everything.push_str(&std::fs::read_to_string(out.join(f)).unwrap());
    }
    assert!(
        everything.contains("Bearer [REDACTED]"),
        "the credential is shown redacted"
    );
    assert!(!everything.contains(token), "the token leaked");
    assert!(!everything.contains(api_key), "the API key leaked");
}

#[test]
fn scenario_mistakes_exit_2_naming_file_line_and_field() {
    let pack = tmp("bad-pack");
    std::fs::copy(
        project().join("scenarios/cdex-2019/pack.yaml"),
        pack.join("pack.yaml"),
    )
    .unwrap();
    std::fs::create_dir_all(pack.join("a")).unwrap();
    std::fs::write(pack.join("secret.json"), "{}").unwrap();
    std::fs::write(
        pack.join("a/bad.yaml"),
        "id: bad-one\ntitle: Bad\nactor: information-server\nsteps:\n  - id: s1\n    send:\n      method: POST\n      path: \"Condition/{{nope}}\"\n      body: { fixture: ../../outside.json }\n    assert:\n      - status: 201\n        req: NOT-A-REQUIREMENT\n",
    )
    .unwrap();
    std::fs::write(
        pack.join("a/typo.yaml"),
        "id: typo\ntitle: Typo\nactor: information-server\nsteps:\n  - sned: {}\n",
    )
    .unwrap();
    std::fs::write(
        pack.join("a/more.yaml"),
        concat!(
            "id: bad-one\ntitle: More\nactor: information-client\n",
            "vars:\n  run_id: mine\n  a: \"{{b}}\"\n  b: \"{{a}}\"\n",
            "steps:\n",
            "  - serve:\n      resources: [{ text: not json }]\n    assert:\n      - status: 200\n",
            "  - expect:\n      action: push-create\n      with: { action: x }\n      path: \"Condition/{{missing}}\"\n",
            "  - poll:\n      send: { method: GET, path: Task/1 }\n      until:\n        - fhirpath: \"status = 'completed'\"\n          req: CDEX-IS-PULL\n",
            "    assert:\n      - fhirpath: \"status = = 'x'\"\n",
        ),
    )
    .unwrap();
    std::fs::create_dir_all(pack.join("a/fixtures")).unwrap();
    std::fs::write(pack.join("a/fixtures/ignored.yaml"), "not: a scenario").unwrap();
    let o = harness(&["run", "--scenarios", pack.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr).replace(pack.to_str().unwrap(), "<pack>");
    insta::assert_snapshot!("scenario_mistakes", err);
}

#[test]
fn check_counts_variables_given_from_outside_as_defined() {
    let pack = tmp("check-vars");
    std::fs::copy(
        project().join("scenarios/cdex-2019/pack.yaml"),
        pack.join("pack.yaml"),
    )
    .unwrap();
    std::fs::write(
        pack.join("uses-var.yaml"),
        "id: uses-var\ntitle: Uses a variable from outside\nactor: information-server\nsteps:\n  - send: { method: GET, path: \"Patient/{{their_patient}}\" }\n    assert:\n      - status: 200\n        req: CDEX-IS-PULL\n",
    )
    .unwrap();
    let dir = pack.to_str().unwrap();
    let o = harness(&["check", "--scenarios", dir]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("their_patient"), "{}", text(&o));
    let o = harness(&["check", "--scenarios", dir, "--var", "their_patient=p1"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let cfg = tmp("check-vars-config").join("sut.yaml");
    std::fs::write(&cfg, "vars:\n  their_patient: p1\n").unwrap();
    let o = harness(&[
        "check",
        "--scenarios",
        dir,
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn requirements_are_fully_covered() {
    let o = harness(&["requirements", "--json", "--strict"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let cov: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(cov["covered"], cov["total"]);
    assert!(cov["total"].as_u64().unwrap() >= 13);
}

#[test]
fn requirements_show_their_basis_filtered_by_actor_and_option() {
    let o = harness(&[
        "requirements",
        "--actor",
        "information-sender",
        "--option",
        "task-based",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    insta::assert_snapshot!("requirements_sender_task_based", text(&o));

    let o = harness(&["requirements", "--json", "--option", "notified-pull"]);
    let cov: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = cov["requirements"].as_array().unwrap();
    assert!(
        rows.iter()
            .all(|r| r["basis"].is_string() && r["url"].is_string())
    );
    assert!(rows.iter().any(|r| r["option"] == "notified-pull"));
    assert!(
        rows.iter()
            .all(|r| r["option"].is_null() || r["option"] == "notified-pull")
    );
    let reading = rows.iter().find(|r| r["basis"] == "reading").unwrap();
    assert!(reading["rationale"].is_string());

    let o = harness(&["requirements", "--actor", "information-sendr"]);
    assert_eq!(o.status.code(), Some(2));
    insta::assert_snapshot!("requirements_unknown_actor", text(&o));
    let o = harness(&["requirements", "--option", "task"]);
    assert_eq!(o.status.code(), Some(2));
    insta::assert_snapshot!("requirements_unknown_option", text(&o));
}

#[test]
fn bad_command_lines_exit_2() {
    assert_eq!(harness(&["run", "--var", "novalue"]).status.code(), Some(2));
    assert_eq!(
        harness(&["run", "--timeout", "soon"]).status.code(),
        Some(2)
    );
    assert_eq!(
        harness(&["run", "--fault", "information-server:nope"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        harness(&["run", "--target", "ftp://x"]).status.code(),
        Some(2)
    );
    assert_eq!(
        harness(&["run", "--scenario", "no-such-scenario"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(harness(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn unreachable_server_is_an_error_not_a_panic() {
    let out = tmp("refused");
    // Port 9 on loopback: nothing listens there.
    let o = harness(&[
        "run",
        "--actor",
        "information-server",
        "--scenario",
        "is-push-create",
        "--target",
        "http://127.0.0.1:9",
        "--timeout",
        "2s",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let results = std::fs::read_to_string(out.join("results.json")).unwrap();
    assert!(results.contains("could not connect"), "{results}");
    // One clear message, before any scenario: the server does not answer.
    assert!(
        results.contains("the server under test at http://127.0.0.1:9 did not answer"),
        "{results}"
    );
    assert!(results.contains("\"errored\""));
}

#[test]
fn ctrl_c_mid_run_writes_every_report_and_marks_the_rest_not_run() {
    let out = tmp("sigint");
    let mut child = Command::new(BIN)
        .args([
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
            // One at a time: the scenario waiting is interrupted, the others never start
            // (tests/jobs.rs interrupts several at once).
            "--jobs",
            "1",
            "--out",
            out.to_str().unwrap(),
        ])
        .current_dir(project())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the first scenario is waiting (the run has started and installed its
    // Ctrl-C handler), however long a loaded machine takes to get there.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let mut readers = Vec::new();
    for pipe in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || {
            use std::io::BufRead;
            let mut all = String::new();
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line.clone());
                all.push_str(&line);
                all.push('\n');
            }
            all
        }));
    }
    drop(tx);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("waiting up to") => break,
            Ok(_) => {}
            Err(_) => panic!("the run never started waiting for the client"),
        }
    }
    // SAFETY: kill(2) on the child we just started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let started = std::time::Instant::now();
    let status = child.wait().unwrap();
    let output: String = readers.into_iter().map(|r| r.join().unwrap()).collect();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "stopped promptly"
    );
    assert_eq!(status.code(), Some(130), "{output}");
    assert!(output.contains("interrupted"), "{output}");
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["interrupted"], true);
    let statuses: Vec<&str> = results["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses[0], "errored", "{statuses:?}");
    assert!(
        statuses[1..].iter().all(|s| *s == "not-run"),
        "{statuses:?}"
    );
    for f in ["report.html", "junit.xml"] {
        assert!(out.join(f).is_file());
    }
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no half-written files");
}

#[test]
fn an_unwritable_report_folder_is_a_clear_error() {
    let dir = tmp("unwritable");
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = file.join("reports");
    let o = harness(&[
        "run",
        "--scenario",
        "is-push-create",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("could not be written") && err.contains("a-file"),
        "{err}"
    );
}

/// The simulator tells partners how to authenticate: the pack's test token, shown once
/// (not `[REDACTED]`, which left a partner's first request with a 401), and how to change it.
#[test]
fn the_simulator_says_how_partners_authenticate() {
    let sim = simulated("information-server", &[]);
    let banner = sim.banner.clone();
    let (_, all) = stop(sim);
    assert_eq!(
        all.matches("cdex-reference-token-8c1f").count(),
        1,
        "the token is shown once: {all}"
    );
    assert!(!all.contains("[REDACTED]"), "{all}");
    insta::assert_snapshot!("simulator_banner", stable(&banner));
}

/// A simulated actor on a free loopback port, once it has said how to stop it (it then
/// catches Ctrl-C).
struct Simulated {
    child: std::process::Child,
    port: u16,
    /// What it printed on stderr until then.
    banner: String,
    /// The rest of its stderr.
    rest: std::thread::JoinHandle<String>,
}

fn simulated(actor: &str, extra: &[&str]) -> Simulated {
    use std::io::{BufRead, Read};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .args(["simulate", actor, "--listen", &listen])
        .args(extra)
        .current_dir(project())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut banner = String::new();
    let mut line = String::new();
    while err.read_line(&mut line).unwrap_or(0) > 0 {
        banner.push_str(&line);
        if line.contains("Ctrl-C to stop") {
            break;
        }
        line.clear();
    }
    assert!(banner.contains("Ctrl-C to stop"), "{banner}");
    let rest = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    Simulated {
        child,
        port,
        banner,
        rest,
    }
}

/// POST FHIR JSON to a local port, with a bearer token or none: the status code.
fn post_fhir(port: u16, path: &str, body: &str, token: Option<&str>) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("the simulator listens");
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "POST /{path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n{auth}\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let answer = String::from_utf8_lossy(&out).to_string();
    answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"))
}

/// Stop a simulator with Ctrl-C: what it printed (stdout, all of stderr).
fn stop(sim: Simulated) -> (String, String) {
    // SAFETY: kill(2) on a child this test started.
    unsafe {
        libc::kill(sim.child.id() as i32, libc::SIGINT);
    }
    let o = sim.child.wait_with_output().unwrap();
    let rest = sim.rest.join().unwrap_or_default();
    (
        String::from_utf8_lossy(&o.stdout).to_string(),
        format!("{}{rest}", sim.banner),
    )
}

/// `--token` sets the token partners must send (shown once at startup, redacted from the
/// exchange log); `--no-auth` accepts any request; `--token` for an actor that checks none
/// is refused.
#[test]
fn the_simulator_takes_a_token_or_no_auth() {
    let token = "my-own-token-42";
    let condition = format!(
        r#"{{"resourceType":"Condition","subject":{{"reference":"Patient/p1"}},"note":[{{"text":"{token}"}}]}}"#
    );
    let server = simulated("information-server", &["--token", token, "--verbose"]);
    let port = server.port;
    assert_eq!(post_fhir(port, "Condition", &condition, None), 401);
    assert_eq!(
        post_fhir(
            port,
            "Condition",
            &condition,
            Some("cdex-reference-token-8c1f")
        ),
        401
    );
    assert_eq!(post_fhir(port, "Condition", &condition, Some(token)), 201);
    let (log, banner) = stop(server);
    assert!(
        banner.contains(&format!(
            "send `Authorization: Bearer {token}` (given with --token"
        )),
        "{banner}"
    );
    assert_eq!(banner.matches(token).count(), 1, "{banner}");
    assert!(log.contains("POST /Condition -> 201"), "{log}");
    assert!(log.contains("request body:"), "{log}");
    assert!(
        !log.contains(token),
        "the exchange log shows --token: {log}"
    );

    let server = simulated("information-server", &["--no-auth"]);
    assert_eq!(post_fhir(server.port, "Condition", &condition, None), 201);
    let (_, banner) = stop(server);
    assert!(
        banner.contains("authentication: none (--no-auth)"),
        "{banner}"
    );

    let o = harness(&["simulate", "information-recipient", "--token", "x"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("checks no bearer token"), "{}", text(&o));
}

/// The live check validates what a partner sends against the profile the actor expects of
/// it (profiles/expected.yaml), not only the R4 base, and logs every issue with its
/// location; the answers do not change: the Information Server stores a Communication
/// without subject (201), the Information Recipient refuses it (400), and both logs say
/// what cdex-communication requires.
#[test]
fn the_simulator_checks_what_the_actor_expects() {
    let comm = r#"{"resourceType":"Communication","status":"bogus",
        "sender":{"reference":"Organization/1"},"recipient":[{"reference":"Organization/2"}],
        "payload":[{"contentString":"x"}]}"#;
    let server = simulated("information-server", &[]);
    assert_eq!(
        post_fhir(
            server.port,
            "Communication",
            comm,
            Some("cdex-reference-token-8c1f")
        ),
        201
    );
    let (server_log, _) = stop(server);
    let recipient = simulated("information-recipient", &[]);
    assert_eq!(post_fhir(recipient.port, "Communication", comm, None), 400);
    let (recipient_log, _) = stop(recipient);
    for log in [&server_log, &recipient_log] {
        assert!(
            log.contains(
                "check: error Communication: `subject` has 0 occurrence(s), the profile requires \
                 at least 1 [http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-communication#Communication.subject]"
            ),
            "{log}"
        );
        assert!(
            log.contains("check: error Communication.status: `bogus`"),
            "{log}"
        );
    }
    let checks: Vec<&str> = recipient_log
        .lines()
        .filter(|l| l.trim_start().starts_with("check:"))
        .collect();
    insta::assert_snapshot!("simulator_live_check", checks.join("\n"));
}

/// A simulated information-server on a free loopback port, once it accepts connections:
/// the process, and the port.
fn simulated_server(extra: &[&str]) -> (std::process::Child, u16) {
    use std::io::BufRead;
    // The simulator picks its own port (0) and says which: a port found free here and handed
    // to it could be taken by another test's simulator in between, and this test would then
    // talk to that one.
    let mut server = Command::new(BIN)
        .args(["simulate", "information-server", "--listen", "127.0.0.1:0"])
        .args(extra)
        .current_dir(project())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = std::io::BufReader::new(server.stderr.take().unwrap());
    let mut line = String::new();
    let port = loop {
        line.clear();
        let n = said.read_line(&mut line).unwrap();
        assert!(n > 0, "the simulator ended without saying where it listens");
        if let Some((_, base)) = line.trim_end().split_once("FHIR base: http://127.0.0.1:") {
            break base.trim_end_matches('/').parse::<u16>().expect("a port");
        }
    };
    // Keep reading what it says, so it never waits on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut said, &mut std::io::sink()));
    (server, port)
}

#[test]
fn simulated_client_acts_against_a_simulated_server() {
    let (mut server, port) = simulated_server(&[]);
    let dir = tmp("simulate-client");
    let payload = dir.join("condition.json");
    std::fs::write(&payload, r#"{"resourceType":"Condition","subject":{"reference":"Patient/p1"},"code":{"text":"Asthma"}}"#).unwrap();
    let peer = format!("http://127.0.0.1:{port}");
    let o = harness(&[
        "simulate",
        "information-client",
        "--peer",
        &peer,
        "--action",
        "push-create",
        "--with",
        "resource_type=Condition",
        "--payload",
        payload.to_str().unwrap(),
    ]);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("POST /Condition -> 201"), "{}", text(&o));
}

/// The simulator checks what a partner sends live, FHIRPath invariants included: a Task
/// whose lastModified is before its authoredOn gets inv-1 in the server's log.
#[test]
fn the_simulator_checks_invariants_live() {
    let (server, port) = simulated_server(&[]);
    let dir = tmp("simulate-invariants");
    let payload = dir.join("task.json");
    std::fs::write(
        &payload,
        r#"{"resourceType":"Task","status":"requested","intent":"order",
            "authoredOn":"2020-10-26T10:00:00Z","lastModified":"2020-10-25T10:00:00Z"}"#,
    )
    .unwrap();
    let o = harness(&[
        "simulate",
        "information-client",
        "--peer",
        &format!("http://127.0.0.1:{port}"),
        "--action",
        "push-create",
        "--with",
        "resource_type=Task",
        "--payload",
        payload.to_str().unwrap(),
    ]);
    // SAFETY: kill(2) on the child we started.
    unsafe {
        libc::kill(server.id() as i32, libc::SIGINT);
    }
    let log = server.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&log.stdout).to_string();
    assert!(text(&o).contains("POST /Task"), "{}", text(&o));
    assert!(
        log.contains("check: error Task: inv-1"),
        "the server's log: {log}"
    );
}

/// `simulate --timeout` bounds how long a partner may take to send a request body: a body
/// announced and never finished gets a 408 after it, not after the default 30 s.
#[test]
fn the_simulator_takes_a_body_deadline() {
    use std::io::{Read, Write};
    let (mut server, port) = simulated_server(&["--timeout", "500ms"]);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("the simulator listens");
    // Well under the 30 s default, however loaded the machine: a 408 before this can only
    // come from the deadline given (this is not a timing test).
    s.set_read_timeout(Some(std::time::Duration::from_secs(25)))
        .unwrap();
    s.write_all(b"POST /Condition HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .unwrap();
    // Read until the answer names the deadline (the server may keep the connection open).
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&out).contains("500ms") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    let answer = String::from_utf8_lossy(&out).to_string();
    let _ = server.kill();
    let _ = server.wait();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("500ms"), "{answer}");
    let bad = harness(&["simulate", "information-server", "--timeout", "soon"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
}

/// `cdex-harness list | head -1`: a reader that goes away ends the command quietly, as it
/// ends Unix tools; never a panic ("failed printing to stdout") and exit 101.
#[test]
fn a_closed_stdout_ends_quietly() {
    use std::process::Stdio;
    for args in [
        &["list"][..],
        &["list", "--json"],
        &["list", "requirements"],
        &["requirements"],
        &["validate", "crates/cdex-fhir/tests/validation/examples"],
    ] {
        let mut child = Command::new(BIN)
            .args(args)
            .current_dir(project())
            .env_remove("CDEX_HARNESS_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        // Close the reading end before the command has loaded anything to print.
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panic"), "{args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
        assert_ne!(o.status.code(), Some(101), "{args:?}: {err}");
        assert!(
            o.status.success() || o.status.code().is_none() || o.status.code() == Some(141),
            "{args:?}: {:?} {err}",
            o.status
        );
    }
}

/// A command line and its environment.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);

/// `$ cdex-harness ARGS`, then what it printed and its exit code, for a snapshot of messages.
fn transcript(cases: &[Case]) -> String {
    let mut out = String::new();
    for (args, env) in cases {
        let o = Command::new(BIN)
            .args(*args)
            .current_dir(project())
            .env("NO_COLOR", "1")
            .env_remove("CDEX_HARNESS_CONFIG")
            .envs(env.iter().copied())
            .output()
            .expect("the binary runs");
        let env: String = env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
        out.push_str(&format!(
            "$ {env}cdex-harness {}\n{}(exit {})\n\n",
            args.join(" "),
            text(&o),
            o.status.code().map_or("signal".into(), |c| c.to_string())
        ));
    }
    out
}

/// Every refusal of the command line says what was given, what is allowed and the closest
/// valid value, in words (no Rust debug formatting).
#[test]
fn refusals_name_the_closest_valid_value() {
    let act = [
        ("CDEX_ACTION", "trigger-event"),
        ("CDEX_HARNESS_URL", "http://127.0.0.1:9"),
    ];
    let out = transcript(&[
        (&["run", "--actor", "information-sever"], &[]),
        (&["run", "--fault", "information-server:no-locaton"], &[]),
        (&["run", "--scenario", "is-push-craete"], &[]),
        (&["run", "--scenario", "is-push", "--skip", "is-push"], &[]),
        (&["list", "--actor", "information-sever"], &[]),
        (&["list", "--option", "task-base"], &[]),
        (&["simulate", "information-sever"], &[]),
        (&["act"], &act),
        (&["act", "--actor", "information-server"], &[act[0], act[1]]),
    ]);
    assert!(!out.contains("[\""), "{out}");
    assert!(!out.contains("(exit 0)"), "{out}");
    insta::assert_snapshot!(out);
}

/// Durations: a bare number is seconds (as curl and hurl take it); zero and nonsense are
/// refused with what to write instead.
#[test]
fn durations_take_bare_seconds_and_refuse_zero() {
    let out = transcript(&[
        (&["run", "--timeout", "garbage"], &[]),
        (&["run", "--timeout", "0s"], &[]),
        (&["run", "--timeout", "0"], &[]),
        (&["run", "--timeout", "10sx"], &[]),
        (&["simulate", "information-server", "--timeout", "0"], &[]),
    ]);
    insta::assert_snapshot!(out);
    let dir = tmp("bare-timeout");
    let o = harness(&[
        "run",
        "--timeout",
        "2",
        "--scenario",
        "is-push-create",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// A `--var` that nothing uses is a warning (with the closest name), not an error.
#[test]
fn an_unused_var_is_a_warning() {
    let dir = tmp("unused-var");
    let o = harness(&[
        "run",
        "--var",
        "nonsense=1",
        "--var",
        "patient_idd=2",
        "--var",
        "patient_id=p",
        "--scenario",
        "is-push-create",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let warnings: Vec<&str> = std::str::from_utf8(&o.stderr)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    insta::assert_snapshot!(warnings.join("\n"));
}

/// `list`: every column starts at the same place on every line, whatever the names' lengths;
/// the options show in text; --actor and --option filter.
#[test]
fn list_aligns_columns_and_filters() {
    let o = harness(&["list"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stdout = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().take_while(|l| !l.is_empty()).collect();
    for column in ["ACTOR", "OPTIONS", "TITLE"] {
        let at = lines[0].find(column).unwrap();
        for l in &lines[1..] {
            assert_eq!(&l[at - 2..at], "  ", "{column} starts at {at} in\n{l}");
            assert_ne!(&l[at..at + 1], " ", "{column} starts at {at} in\n{l}");
        }
    }
    assert!(stdout.contains("task-based"), "{stdout}");

    let o = harness(&[
        "list",
        "--actor",
        "information-server",
        "--option",
        "notified-pull",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stdout = String::from_utf8(o.stdout).unwrap();
    let rows: Vec<&str> = stdout
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(!rows.is_empty(), "{stdout}");
    for r in rows {
        assert!(
            r.contains("  information-server  ") && r.contains("notified-pull"),
            "{r}"
        );
    }
}

/// `run --skip` and `--scenario '!PATTERN'` leave scenarios out.
#[test]
fn run_takes_exclusions() {
    let dir = tmp("skip");
    let o = harness(&[
        "run",
        "--scenario",
        "is-push",
        "--scenario",
        "!*-update",
        "--skip",
        "unauthorized",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    let ids: Vec<&str> = results["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(!ids.is_empty());
    for id in ids {
        assert!(id.contains("is-push"), "{id}");
        assert!(
            !id.ends_with("-update") && !id.contains("unauthorized"),
            "{id}"
        );
    }
}

/// `--partition I/N`: the N shards run every selected scenario exactly once between them,
/// each passing on its own; a malformed shard is a usage error.
#[test]
fn partitions_split_the_pack_without_overlap() {
    let ids = |dir: &PathBuf| -> Vec<String> {
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
        r["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    let whole = tmp("partition-whole");
    let o = harness(&[
        "run",
        "--actor",
        "information-server",
        "--out",
        whole.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mut all = ids(&whole);
    let mut shards = Vec::new();
    for i in 1..=3 {
        let out = tmp(&format!("partition-{i}"));
        let o = harness(&[
            "run",
            "--actor",
            "information-server",
            "--partition",
            &format!("{i}/3"),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        shards.extend(ids(&out));
    }
    all.sort();
    shards.sort();
    assert_eq!(shards, all, "every scenario in exactly one shard");
    for bad in ["0/3", "4/3", "1/0", "two"] {
        let o = harness(&["run", "--partition", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o));
    }
}
