//! What the peer tests share: start a Python peer, run the harness against it, read
//! `results.json`, and judge the run.

#![allow(dead_code)] // each test binary uses its own part

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_cdex-harness");

pub fn project() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A peer script, by absolute path (a trigger command runs in the harness's working folder).
pub fn script(name: &str) -> String {
    project()
        .join("tests/peers")
        .join(name)
        .display()
        .to_string()
}

/// The Python interpreter to run the peers with, or why there is none.
pub fn python3() -> Result<String, String> {
    match Command::new("python3").arg("--version").output() {
        Ok(out) if out.status.success() => Ok("python3".to_owned()),
        Ok(out) => Err(format!("`python3 --version` exited with {}", out.status)),
        Err(e) => Err(format!("python3 cannot be started: {e}")),
    }
}

/// A peer server, stopped (by its own pid) when dropped.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    /// Starts `python3 tests/peers/server.py --port 0 ARGS` and waits for the port it prints.
    pub fn start(python: &str, args: &[&str]) -> Server {
        let mut child = Command::new(python)
            .arg(script("server.py"))
            .args(["--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the peer server starts");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the peer prints its port");
        let port: u16 = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the peer server printed {line:?} instead of its port")
        });
        Server {
            child,
            base: format!("http://127.0.0.1:{port}/fhir"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One run of the harness: its exit code, console and results.json.
pub struct Run {
    pub code: Option<i32>,
    pub console: String,
    pub results: Value,
}

/// Runs `cdex-harness run ARGS --out <fresh folder>` from the project folder.
pub fn run_harness(name: &str, args: &[&str]) -> Run {
    let out = out_dir(name);
    let output = Command::new(BIN)
        .arg("run")
        .args(args)
        .arg("--out")
        .arg(&out)
        .current_dir(project())
        .env("NO_COLOR", "1")
        .env_remove("CDEX_HARNESS_CONFIG")
        .output()
        .expect("the harness runs");
    let console = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(out.join("results.json"))
        .unwrap_or_else(|e| panic!("no results.json ({e}); the console said:\n{console}"));
    Run {
        code: output.status.code(),
        console,
        results: serde_json::from_str(&text).expect("results.json is JSON"),
    }
}

fn out_dir(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("peers-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a fresh report folder");
    dir
}

fn scenarios(run: &Run) -> &[Value] {
    run.results["scenarios"]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

fn field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// Prints each scenario and its status; asserts exit 0, no scenario failed or errored, and a
/// reason for every scenario that did not run.
pub fn assert_passes(label: &str, run: &Run) {
    println!("{label}: the harness ran");
    let mut wrong = Vec::new();
    let mut ran = 0;
    for s in scenarios(run) {
        let (id, status, message) = (field(s, "id"), field(s, "status"), field(s, "message"));
        println!("  {status:<15} {id}  {message}");
        match status {
            "passed" | "warned" => ran += 1,
            "not-applicable" | "skipped" if !message.is_empty() => {}
            _ => wrong.push(format!("{id} is {status}: {message}\n{}", failures(s))),
        }
    }
    assert!(
        wrong.is_empty() && run.code == Some(0),
        "{label}: a correct peer must pass (exit {:?}); wrong:\n{}\n\nconsole:\n{}",
        run.code,
        wrong.join("\n"),
        run.console
    );
    assert!(ran > 0, "{label}: no scenario ran:\n{}", run.console);
}

/// What failed in a scenario, for the message of a broken assertion.
fn failures(scenario: &Value) -> String {
    let mut lines = Vec::new();
    for step in scenario["steps"].as_array().into_iter().flatten() {
        if let Some(m) = step["message"].as_str()
            && field(step, "status") != "passed"
        {
            lines.push(format!("    step {}: {m}", field(step, "id")));
        }
        for a in step["assertions"].as_array().into_iter().flatten() {
            if field(a, "status") == "failed" {
                lines.push(format!(
                    "    step {} [{}] {}: {}",
                    field(step, "id"),
                    field(a, "requirement"),
                    field(a, "description"),
                    field(a, "message")
                ));
            }
        }
    }
    lines.join("\n")
}

/// Asserts the run fails, and that scenario `scenario` fails an assertion proving `requirement`.
pub fn assert_fails_naming(label: &str, run: &Run, scenario: &str, requirement: &str) {
    assert_ne!(
        run.code,
        Some(0),
        "{label}: a faulty peer must fail the run:\n{}",
        run.console
    );
    let s = scenarios(run)
        .iter()
        .find(|s| field(s, "id") == scenario)
        .unwrap_or_else(|| panic!("{label}: scenario {scenario} did not run:\n{}", run.console));
    let named = s["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|step| step["assertions"].as_array().into_iter().flatten())
        .any(|a| field(a, "status") == "failed" && field(a, "requirement") == requirement);
    println!(
        "{label}: {scenario} is {}:\n{}",
        field(s, "status"),
        failures(s)
    );
    assert!(
        field(s, "status") == "failed" && named,
        "{label}: {scenario} must fail naming {requirement}; it is {}:\n{}",
        field(s, "status"),
        failures(s)
    );
}
