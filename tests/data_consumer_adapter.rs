//! The CDex 2.1.0 Data Consumer client driven through the trigger protocol (`--trigger
//! "cdex-harness act"`): a data request is one long action that keeps polling in its own
//! process while the harness's later steps (`follow-task`) await its polls and its output's
//! GET; a subscription's endpoint lives in that process too.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_cdex-harness");

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cdex-dcc-adapter-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn run(trigger: &str, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "--pack",
        "cdex-2.1",
        "--actor",
        "data-consumer-client",
        "--trigger",
        trigger,
        "--time-scale",
        "600",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Command::new(BIN)
        .args(&args)
        .env("NO_COLOR", "1")
        .env("CDEX_SKIP_BROWSER", "1")
        .output()
        .expect("the harness runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn polling_and_subscribing_work_through_act() {
    let out = tmp("pass");
    let trigger = format!("{BIN} act");
    let o = run(
        &trigger,
        &out,
        &[
            "--scenario",
            "dcc-task-query-polling",
            "--scenario",
            "dcc-task-subscription",
            "--option",
            "subscriptions",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let results = std::fs::read_to_string(out.join("results.json")).unwrap();
    assert!(
        results.contains("after the POST that created the Task"),
        "{results}"
    );
}

#[test]
fn a_fault_of_the_acting_process_is_seen() {
    let out = tmp("fault");
    let trigger = format!("{BIN} act --fault no-reason-reference");
    let o = run(&trigger, &out, &["--scenario", "dcc-task-query-polling"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let results = std::fs::read_to_string(out.join("results.json")).unwrap();
    assert!(
        results.contains("the claim behind the request is named"),
        "{results}"
    );
}
