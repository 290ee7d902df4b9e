//! `run --resume`: a run interrupted or failed part-way goes on without redoing what passed;
//! checkpoints survive a killed process; a malformed or foreign results.json and a run of
//! another setup are refused with exit 2.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn tmp(name: &str) -> PathBuf {
    common::tmp("resume", name)
}

fn results(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap()
}

/// (id, status, run id it was carried over from) of each scenario, in order.
fn scenarios(r: &Value) -> Vec<(String, String, Option<String>)> {
    r["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
                s["resumed_from"]["run_id"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// The information-server scenarios but the slow subscription one.
const SERVER: &[&str] = &[
    "--actor",
    "information-server",
    "--skip",
    "is-np-subscribe-notify",
];

#[test]
fn a_failed_scenario_runs_again_and_the_rest_carry_over() {
    let out = tmp("fault");
    let dir = out.to_str().unwrap();
    let first = harness(
        &[
            &["run"],
            SERVER,
            &["--fault", "information-server:reject-update", "--out", dir],
        ]
        .concat()[..],
    );
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));
    let before = results(&out);
    let run_id = before["run_id"].as_str().expect("a run id").to_string();
    assert_eq!(before["setup"]["sut"], "reference");
    let failed: Vec<String> = scenarios(&before)
        .into_iter()
        .filter(|(_, status, _)| status != "passed")
        .map(|(id, ..)| id)
        .collect();
    assert_eq!(failed, ["is-push-update"], "the fault fails one scenario");

    // Without the fault, resumed in place (the default output folder is the run's own).
    let second = harness(&[&["run"], SERVER, &["--resume", dir]].concat()[..]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    let console = text(&second);
    let after = results(&out);
    let merged = scenarios(&after);
    assert_eq!(
        merged.iter().map(|s| &s.0).collect::<Vec<_>>(),
        scenarios(&before).iter().map(|s| &s.0).collect::<Vec<_>>(),
        "same scenarios, in the pack's order"
    );
    for (id, status, from) in &merged {
        assert_eq!(status, "passed", "{id}");
        if failed.contains(id) {
            assert_eq!(from, &None, "{id} ran again");
        } else {
            assert_eq!(from.as_deref(), Some(run_id.as_str()), "{id} carried over");
        }
    }
    let carried = merged.len() - failed.len();
    assert_eq!(after["summary"]["carried_over"], carried);
    assert_eq!(after["summary"]["failed"], 0);
    assert_eq!(after["interrupted"], false);
    assert_ne!(after["run_id"], before["run_id"], "a run of its own");
    // The matrix is recomputed from the merged results: nothing fails any more.
    assert_eq!(after["summary"]["requirements_failed"], 0);
    assert!(
        after["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] != "failed"),
        "{after}"
    );
    assert!(
        console.contains(&format!("{carried} carried over from run {run_id}")),
        "{console}"
    );
    assert!(console.contains("1 to run"), "{console}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains(&format!("carried over from run {run_id}")));

    // Resumed again: everything carries over, each result naming the run that produced it.
    let second_id = after["run_id"].as_str().unwrap().to_string();
    let third = harness(&[&["run"], SERVER, &["--resume", dir]].concat()[..]);
    assert_eq!(third.status.code(), Some(0), "{}", text(&third));
    for (id, _, from) in scenarios(&results(&out)) {
        let expected = if failed.contains(&id) {
            &second_id
        } else {
            &run_id
        };
        assert_eq!(from.as_ref(), Some(expected), "{id}");
    }
    assert!(text(&third).contains("0 to run"), "{}", text(&third));
}

#[test]
fn a_killed_run_leaves_a_checkpoint_to_resume_from() {
    let out = tmp("kill");
    let dir = out.to_str().unwrap();
    let json = out.join("results.json");
    // The client acts in the first scenario only; in the second the harness waits (up to a
    // minute) for a request that never comes, and is killed meanwhile.
    let first_only = format!("case \"$CDEX_SCENARIO\" in ic-pull-read) exec {BIN} act;; esac");
    let args = |trigger: &str| -> Vec<String> {
        [
            "run",
            "--actor",
            "information-client",
            "--scenario",
            "ic-pull-read",
            "--scenario",
            "ic-push-create",
            "--timeout",
            "60s",
            "--trigger",
            trigger,
            "--out",
            dir,
        ]
        .map(str::to_string)
        .to_vec()
    };
    let mut child = command(&[])
        .args(args(&first_only))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The checkpoint of the first scenario arrives about a second in.
    let deadline = Instant::now() + Duration::from_secs(45);
    while !json.is_file() {
        assert!(Instant::now() < deadline, "no checkpoint was written");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL: no chance to write anything more
    child.wait().unwrap();

    let checkpoint = results(&out);
    assert_eq!(checkpoint["interrupted"], true);
    assert_eq!(
        scenarios(&checkpoint)
            .into_iter()
            .map(|(id, status, _)| (id, status))
            .collect::<Vec<_>>(),
        [
            ("ic-pull-read".to_string(), "passed".to_string()),
            ("ic-push-create".to_string(), "not-run".to_string())
        ]
    );
    assert!(
        checkpoint["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("checkpoint: 1 of 2")),
        "{checkpoint}"
    );
    assert_eq!(checkpoint["setup"]["sut"], "client");

    // Resumed with a client that acts every time: only the second scenario runs.
    let every = format!("{BIN} act");
    let mut resumed = args(&every);
    resumed.retain(|a| a != "--out" && a != dir);
    resumed.extend(["--resume".to_string(), dir.to_string()]);
    let o = command(&[]).args(&resumed).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = results(&out);
    let merged = scenarios(&r);
    assert_eq!(
        merged[0].2.as_ref(),
        checkpoint["run_id"].as_str().map(str::to_string).as_ref()
    );
    assert_eq!(
        (merged[1].1.as_str(), merged[1].2.as_ref()),
        ("passed", None)
    );
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .map(|e| e.file_name())
        .collect();
    // A kill may catch a checkpoint half-written: its temporary file may stay, never the
    // report itself.
    assert!(leftovers.len() <= 3, "{leftovers:?}");
}

#[test]
fn a_malformed_or_foreign_results_file_is_refused_naming_file_line_and_field() {
    let dir = tmp("malformed");
    let run = |file: &Path| {
        let o = harness(&[
            "run",
            "--actor",
            "information-server",
            "--resume",
            file.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };

    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "{\n  \"schema_version\": 1,\n  oops\n}\n").unwrap();
    let msg = run(&garbage);
    assert!(
        msg.contains(&format!("{}:3:3: not valid JSON", garbage.display())),
        "{msg}"
    );

    let foreign = dir.join("foreign.json");
    std::fs::write(&foreign, r#"{"resourceType": "Bundle"}"#).unwrap();
    let msg = run(&foreign);
    assert!(
        msg.contains("is not the results.json of a `cdex-harness run`"),
        "{msg}"
    );

    // A real results file with one bad value.
    let out = tmp("malformed-run");
    let o = harness(&[
        "run",
        "--actor",
        "information-server",
        "--scenario",
        "is-push-create",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let good = std::fs::read_to_string(out.join("results.json")).unwrap();
    let bad = dir.join("bad.json");
    let first_status = good.find("\"status\": \"passed\"").unwrap();
    let line = good[..first_status].lines().count();
    std::fs::write(
        &bad,
        good.replacen("\"status\": \"passed\"", "\"status\": \"great\"", 1),
    )
    .unwrap();
    let msg = run(&bad);
    assert!(
        msg.contains(&format!("{}:{line}:", bad.display()))
            && msg.contains("scenarios[0].status: unknown variant `great`"),
        "{msg}"
    );

    let msg = run(&dir);
    assert!(msg.contains("results.json"), "{msg}");
}

#[test]
fn a_run_of_another_setup_is_refused_unless_forced() {
    let out = tmp("mismatch");
    let dir = out.to_str().unwrap();
    let o = harness(&[
        "run",
        "--actor",
        "information-server",
        "--scenario",
        "is-push-create",
        "--out",
        dir,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let before = std::fs::read(out.join("results.json")).unwrap();

    // Another actor, another pack.
    let o = harness(&["run", "--actor", "information-client", "--resume", dir]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(msg.contains("is not a run of the same thing"), "{msg}");
    assert!(
        msg.contains("actor: information-server in the earlier run, information-client in this one (the earlier run had --actor information-server)"),
        "{msg}"
    );
    // Another pack: a copy of the scenarios, elsewhere.
    let copy = tmp("mismatch-pack");
    let status = Command::new("cp")
        .args(["-r", "scenarios/cdex-2019/."])
        .arg(&copy)
        .current_dir(project())
        .status()
        .unwrap();
    assert!(status.success());
    let o = harness(&[
        "run",
        "--scenarios",
        copy.to_str().unwrap(),
        "--actor",
        "information-server",
        "--resume",
        dir,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(
        msg.contains("pack: cdex-2019 in the earlier run") && !msg.contains("actor:"),
        "{msg}"
    );
    assert_eq!(
        std::fs::read(out.join("results.json")).unwrap(),
        before,
        "a refused resume writes nothing"
    );

    // --force: carried over anyway, and the report says from what.
    let o = harness(&[
        "run",
        "--actor",
        "information-server",
        "--scenario",
        "is-push-create",
        "--strict",
        "--force",
        "--resume",
        dir,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = results(&out);
    assert_eq!(r["summary"]["carried_over"], 1);
    assert!(
        r["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("--force")
                && n.as_str().unwrap().contains("strict")),
        "{r}"
    );
}

#[test]
fn scenarios_the_pack_no_longer_has_are_dropped_with_a_note() {
    let out = tmp("dropped");
    let dir = out.to_str().unwrap();
    let o = harness(&[
        "run",
        "--actor",
        "information-server",
        "--scenario",
        "is-push-create",
        "--scenario",
        "is-push-update",
        "--out",
        dir,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // As if the pack had renamed a scenario since.
    let file = out.join("results.json");
    let renamed = std::fs::read_to_string(&file)
        .unwrap()
        .replace("\"id\": \"is-push-update\"", "\"id\": \"is-push-gone\"");
    std::fs::write(&file, renamed).unwrap();
    let o = harness(&[
        "run",
        "--actor",
        "information-server",
        "--scenario",
        "is-push-create",
        "--scenario",
        "is-push-update",
        "--resume",
        dir,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = results(&out);
    let merged = scenarios(&r);
    assert_eq!(merged.len(), 2, "{merged:?}");
    assert!(merged[0].2.is_some(), "is-push-create carried over");
    assert_eq!(merged[1].0, "is-push-update");
    assert!(merged[1].2.is_none(), "is-push-update ran");
    assert!(
        r["notes"].as_array().unwrap().iter().any(|n| n
            .as_str()
            .unwrap()
            .contains("pack no longer has: is-push-gone")),
        "{r}"
    );
}

/// `--rerun-failed`: from a finished run, only what failed or errored runs again; the rest
/// is carried over whatever it was; the report says so.
#[test]
fn rerun_failed_runs_only_what_failed_and_carries_the_rest_over() {
    let out = tmp("rerun-failed");
    let dir = out.to_str().unwrap();
    let fault = ["--fault", "information-server:reject-update"];
    let first = harness(&[&["run"], SERVER, &fault, &["--out", dir]].concat()[..]);
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));
    let before = results(&out);
    let run_id = before["run_id"].as_str().unwrap().to_string();
    let earlier = scenarios(&before);
    let failed: Vec<&String> = earlier
        .iter()
        .filter(|(_, status, _)| status == "failed" || status == "errored")
        .map(|(id, ..)| id)
        .collect();
    assert_eq!(failed, ["is-push-update"], "the fault fails one scenario");

    // The fault still on: it runs again and fails again; the others carry over.
    let again = harness(&[&["run"], SERVER, &fault, &["--rerun-failed", dir]].concat()[..]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    let console = text(&again);
    assert!(console.contains("rerunning what failed"), "{console}");
    assert!(console.contains("1 to run"), "{console}");
    let r = results(&out);
    for (id, status, from) in scenarios(&r) {
        if id == "is-push-update" {
            assert_eq!((status.as_str(), from), ("failed", None), "{id} ran again");
        } else {
            assert_eq!(from.as_deref(), Some(run_id.as_str()), "{id} carried over");
        }
    }
    let note = r["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .find(|n| n.contains("--rerun-failed"))
        .unwrap_or_else(|| panic!("a note on the rerun: {r}"))
        .to_string();
    assert!(
        note.contains(&format!("failed and errored scenarios of run {run_id}"))
            && note.contains("1 run again"),
        "{note}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("1 run again"), "the note is in the report");

    // Fixed: rerun what failed, and the run passes.
    let fixed = harness(&[&["run"], SERVER, &["--rerun-failed", dir]].concat()[..]);
    assert_eq!(fixed.status.code(), Some(0), "{}", text(&fixed));
    let r = results(&out);
    assert_eq!(r["summary"]["failed"], 0);
    assert_eq!(r["summary"]["requirements_failed"], 0);
    assert_eq!(r["summary"]["carried_over"], earlier.len() - 1);

    // Nothing failed any more: everything carries over, nothing runs.
    let nothing = harness(&[&["run"], SERVER, &["--rerun-failed", dir]].concat()[..]);
    assert_eq!(nothing.status.code(), Some(0), "{}", text(&nothing));
    assert!(text(&nothing).contains("0 to run"), "{}", text(&nothing));
}

#[test]
fn rerun_failed_refuses_an_interrupted_run_and_another_setup() {
    let out = tmp("rerun-interrupted");
    let dir = out.to_str().unwrap();
    let o = harness(&[
        "run",
        "--actor",
        "information-server",
        "--scenario",
        "is-push-create",
        "--out",
        dir,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Another actor: refused, naming the flag.
    let o = harness(&[
        "run",
        "--actor",
        "information-client",
        "--rerun-failed",
        dir,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(
        msg.contains("--rerun-failed:") && msg.contains("is not a run of the same thing"),
        "{msg}"
    );
    // As if the run had been interrupted (or were a checkpoint).
    let file = out.join("results.json");
    let cut = std::fs::read_to_string(&file)
        .unwrap()
        .replace("\"interrupted\": false", "\"interrupted\": true");
    std::fs::write(&file, &cut).unwrap();
    let o = harness(&[
        "run",
        "--actor",
        "information-server",
        "--scenario",
        "is-push-create",
        "--rerun-failed",
        dir,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(
        msg.contains("interrupted") && msg.contains("--resume"),
        "{msg}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        cut,
        "nothing written"
    );
    // --force alone, and both flags at once, are usage errors.
    let o = harness(&["run", "--actor", "information-server", "--force"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = harness(&["run", "--resume", dir, "--rerun-failed", dir]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // A folder without results.
    let empty = tmp("rerun-empty");
    let o = harness(&["run", "--rerun-failed", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("hint: --rerun-failed takes the --out folder"),
        "{}",
        text(&o)
    );
}
