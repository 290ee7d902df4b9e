//! Right verdicts on systems the harness did not write (issue 10): options a system does not
//! claim are not applicable, an `expect` takes the awaited request among everything a client
//! sends, conditions that cannot hold make a scenario not applicable, a step asks for
//! `--target` only when it needs one, and coverage counts what is in scope and ran.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    common::tmp("verdicts", name)
}

/// Run with `args` plus `--out DIR`; the exit code and results.json.
fn run(name: &str, args: &[&str]) -> (Option<i32>, Value, String) {
    let out = tmp(name);
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", out.to_str().unwrap()]);
    let o = harness(&all);
    let json = std::fs::read_to_string(out.join("results.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(Value::Null);
    (o.status.code(), json, text(&o))
}

fn scenario<'a>(r: &'a Value, id: &str) -> &'a Value {
    r["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("scenario {id} in {r}"))
}

#[test]
fn options_not_claimed_are_not_applicable_never_failed() {
    let (code, r, out) = run(
        "no-option",
        &["--actor", "information-sender", "--option", "none"],
    );
    assert_eq!(code, Some(0), "{out}");
    let tb = scenario(&r, "tb-sender-communication-task");
    assert_eq!(tb["status"], "not-applicable");
    assert!(
        tb["message"]
            .as_str()
            .unwrap()
            .contains("--option task-based"),
        "{tb}"
    );
    assert_eq!(r["summary"]["not_applicable"], 1);
    assert_eq!(r["options"], serde_json::json!([]));
    assert!(out.contains("options tested: none"), "{out}");
    // The task-based requirements are out of scope: the summary counts only the others.
    for q in r["requirements"].as_array().unwrap() {
        if q["id"].as_str().unwrap().starts_with("CDEX-TASK-SENDER") {
            assert_eq!(q["in_scope"], false, "{q}");
        }
    }
    // JUnit: skipped, with the reason.
    let junit = std::fs::read_to_string(tmp_path("no-option").join("junit.xml")).unwrap();
    assert!(junit.contains("<skipped"), "{junit}");
    assert!(junit.contains("does not claim"), "{junit}");

    // Claimed, it runs.
    let (code, r, out) = run(
        "task-option",
        &["--actor", "information-sender", "--option", "task-based"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        scenario(&r, "tb-sender-communication-task")["status"],
        "passed"
    );
    assert_eq!(r["options"], serde_json::json!(["task-based"]));
}

fn tmp_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("verdicts-{name}-{}", std::process::id()))
}

#[test]
fn an_unknown_option_is_refused_with_the_closest() {
    let o = harness(&["run", "--option", "taskbased"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("did you mean `task-based`?"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_target_without_an_actor_is_refused() {
    let o = harness(&["run", "--target", "http://127.0.0.1:9"]);
    assert_eq!(o.status.code(), Some(2));
    let t = text(&o);
    assert!(t.contains("say which actor it is with --actor"), "{t}");
    assert!(t.contains("information-server"), "{t}");
}

/// A client that reads /metadata and looks the patient up before it pushes.
const CHATTY: &str = r#"curl -s -o /dev/null "$CDEX_HARNESS_URL/metadata"; curl -s -o /dev/null -H "Authorization: Bearer $CDEX_VAR_TOKEN" "$CDEX_HARNESS_URL/Patient?_id=$CDEX_PATIENT_ID"; curl -s -o /dev/null -X POST -H 'Content-Type: application/fhir+json; charset=utf-8' -H "Authorization: Bearer $CDEX_VAR_TOKEN" --data-binary @"$CDEX_PAYLOAD_FILE" "$CDEX_HARNESS_URL/$CDEX_RESOURCE_TYPE""#;

#[test]
fn an_expect_takes_the_awaited_request_among_everything_the_client_sends() {
    let (code, r, out) = run(
        "chatty",
        &[
            "--actor",
            "information-client",
            "--scenario",
            "ic-push-create",
            "--trigger",
            CHATTY,
            "--timeout",
            "20s",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    let s = scenario(&r, "ic-push-create");
    assert_eq!(s["status"], "passed", "{s}");
    let step = &s["steps"][1];
    assert_eq!(step["id"], "receive-communication");
    assert_eq!(step["exchanges"].as_array().unwrap().len(), 1);
    let also: Vec<&str> = step["also_received"]
        .as_array()
        .expect("also_received")
        .iter()
        .map(|x| x["request"]["url"].as_str().unwrap())
        .collect();
    assert!(also.iter().any(|u| u.ends_with("/metadata")), "{also:?}");
    assert!(also.iter().any(|u| u.contains("/Patient?_id=")), "{also:?}");
}

#[test]
fn when_the_awaited_request_never_comes_the_step_lists_what_came_instead() {
    let only_lookups = r#"curl -s -o /dev/null "$CDEX_HARNESS_URL/Patient?_id=$CDEX_PATIENT_ID""#;
    let (code, r, out) = run(
        "lookups-only",
        &[
            "--actor",
            "information-client",
            "--scenario",
            "ic-push-create",
            "--trigger",
            only_lookups,
            "--timeout",
            "1s",
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    let step = &scenario(&r, "ic-push-create")["steps"][1];
    assert_eq!(step["status"], "failed");
    let msg = step["message"].as_str().unwrap();
    assert!(msg.contains("POST Communication never arrived"), "{msg}");
    assert!(msg.contains("arrived instead: GET /Patient?_id="), "{msg}");
    // The requirement is named: its checks failed because the request never came.
    let a = &step["assertions"][0];
    assert_eq!(a["requirement"], "CDEX-IC-PUSH");
    assert_eq!(a["status"], "failed");
}

#[test]
fn a_trigger_that_fails_ends_the_wait_and_says_why() {
    let (code, r, out) = run(
        "trigger-fails",
        &[
            "--actor",
            "information-client",
            "--scenario",
            "ic-push-create",
            "--trigger",
            "echo 'cannot reach the EHR' >&2; exit 3",
            "--timeout",
            "60s",
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    let msg = scenario(&r, "ic-push-create")["steps"][1]["message"]
        .as_str()
        .unwrap()
        .to_string();
    // Not "within 60s": the wait ended when the command failed.
    assert!(msg.contains("finished without sending it"), "{msg}");
    assert!(msg.contains("cannot reach the EHR"), "{msg}");
}

#[test]
fn a_condition_that_cannot_hold_makes_the_scenario_not_applicable() {
    let (code, r, out) = run(
        "no-rejected-type",
        &[
            "--actor",
            "information-server",
            "--var",
            "rejected_type=none",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    let s = scenario(&r, "is-push-type-not-permitted");
    assert_eq!(s["status"], "not-applicable");
    assert!(
        s["message"].as_str().unwrap().contains("rejected_type"),
        "{s}"
    );
    let q = r["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["id"] == "CDEX-PUSH-TYPE-NOT-PERMITTED")
        .unwrap();
    assert_eq!(q["status"], "not-applicable");
    assert_eq!(q["in_scope"], false);
}

#[test]
fn a_step_asks_for_target_only_when_it_needs_one() {
    // A request sender's scenarios send only to the address its own request names.
    let (_, r, out) = run(
        "no-target-needed",
        &[
            "--actor",
            "information-request-sender",
            "--scenario",
            "irs-request-and-answer",
            "--trigger",
            "exit 0",
            "--timeout",
            "300ms",
        ],
    );
    let s = scenario(&r, "irs-request-and-answer");
    assert!(!s.to_string().contains("--target"), "{s}\n{out}");
    assert_eq!(s["steps"][0]["status"], "failed", "{s}");

    // A server's scenarios send relative to its base: the step that needs it is named.
    let (code, r, out) = run(
        "target-needed",
        &[
            "--actor",
            "information-server",
            "--scenario",
            "is-push-create",
            "--trigger",
            "exit 0",
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    let msg = scenario(&r, "is-push-create")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("step `create-communication`") && msg.contains("--target"),
        "{msg}"
    );
}

#[test]
fn coverage_counts_only_what_is_in_scope_and_ran() {
    let (_, r, _) = run(
        "coverage-unreachable",
        &[
            "--actor",
            "information-server",
            "--target",
            "http://127.0.0.1:9",
            "--timeout",
            "2s",
        ],
    );
    // Every scenario errored before a step ran: nothing is covered.
    assert_eq!(r["summary"]["requirements_covered"], 0, "{}", r["summary"]);
    assert!(r["summary"]["requirements"].as_u64().unwrap() > 0);
    // Only the information-server's requirements are in scope.
    for q in r["requirements"].as_array().unwrap() {
        if q["in_scope"] == true {
            assert_eq!(q["actor"], "information-server", "{q}");
        }
    }
}

/// A simulated information-server (notified pull) on a free loopback port, once it listens.
fn simulated_server() -> (std::process::Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Command::new(BIN)
        .args([
            "simulate",
            "information-server",
            "--option",
            "notified-pull",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..400 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (server, port)
}

#[test]
fn a_notifying_server_needs_no_adapter_the_harness_creates_the_task() {
    let (mut server, port) = simulated_server();
    let target = format!("http://127.0.0.1:{port}");
    // No --trigger: without the harness creating the Task itself, this would wait for a
    // person (and fail when nobody comes).
    let (code, r, out) = run(
        "notified-no-adapter",
        &[
            "--actor",
            "information-server",
            "--option",
            "notified-pull",
            "--scenario",
            "is-np-subscribe-notify",
            "--target",
            &target,
            "--timeout",
            "10s",
        ],
    );
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(code, Some(0), "{out}");
    let s = scenario(&r, "is-np-subscribe-notify");
    assert_eq!(s["status"], "passed", "{s}");
    // The step shows the harness's own POST Task before the notification it checks.
    let notified = s["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|st| st["id"] == "notified")
        .unwrap();
    let first = &notified["exchanges"][0];
    assert_eq!(first["direction"], "outgoing", "{notified}");
    assert!(first["request"]["url"].as_str().unwrap().ends_with("/Task"));
}

#[test]
fn when_no_notification_comes_the_subscription_status_is_said() {
    let (code, r, out) = run(
        "no-notification",
        &[
            "--actor",
            "information-server",
            "--scenario",
            "is-np-subscribe-notify",
            "--fault",
            "information-server:no-notification",
            "--timeout",
            "2s",
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    let s = scenario(&r, "is-np-subscribe-notify");
    let notified = s["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|st| st["id"] == "notified")
        .unwrap();
    let msg = notified["message"].as_str().unwrap();
    assert!(msg.contains("never arrived"), "{msg}");
    assert!(msg.contains("shows status = active"), "{msg}");
}
