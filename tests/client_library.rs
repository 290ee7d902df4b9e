//! A real FHIR client library as the client under test: Python `fhirclient` driven through
//! `--trigger` by tools/adapters/fhirclient_adapter.py, as Information Client, Information
//! Sender and Information Request Sender. Whatever the library does on its own
//! (its CapabilityStatement fetch, its headers) must not fail a scenario.
//!
//! The interpreter comes from `CDEX_FHIRCLIENT_PYTHON` (`.ci/run` makes a venv at target/pyenv
//! and sets it), else target/pyenv/bin/python. Without one the tests skip, saying so, except
//! in CI (`CI` set), where they fail.

#[path = "peers/support.rs"]
mod support;

use std::path::PathBuf;

use support::{Server, assert_passes, project, run_harness};

fn fhirclient_python(test: &str) -> Option<String> {
    let python = std::env::var_os("CDEX_FHIRCLIENT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| project().join("target/pyenv/bin/python"));
    let works = std::process::Command::new(&python)
        .args(["-c", "import fhirclient.client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        return Some(python.display().to_string());
    }
    let why = format!(
        "{} cannot import fhirclient (run .ci/run, or set CDEX_FHIRCLIENT_PYTHON to a Python with fhirclient 4.x)",
        python.display()
    );
    assert!(std::env::var_os("CI").is_none(), "{test}: in CI: {why}");
    println!("SKIPPED {test}: {why}");
    None
}

fn adapter(python: &str) -> String {
    format!(
        "{python} {}",
        project()
            .join("tools/adapters/fhirclient_adapter.py")
            .display()
    )
}

/// The library's own `GET metadata` reached the harness and was recorded (so the test does
/// try what the library does by itself).
fn library_read_the_capability_statement(run: &support::Run) -> bool {
    run.results["scenarios"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["steps"].as_array().into_iter().flatten())
        .flat_map(|step| {
            // The awaited request is an exchange; what came besides it is "also received".
            ["exchanges", "also_received"]
                .into_iter()
                .flat_map(|key| step[key].as_array().into_iter().flatten())
        })
        .any(|e| {
            e["request"]["method"] == "GET"
                && e["request"]["url"]
                    .as_str()
                    .is_some_and(|u| u.ends_with("/metadata"))
        })
}

#[test]
fn fhirclient_as_information_client_passes() {
    let Some(python) = fhirclient_python("fhirclient_as_information_client_passes") else {
        return;
    };
    let run = run_harness(
        "fhirclient-ic",
        &[
            "--actor",
            "information-client",
            "--trigger",
            &adapter(&python),
        ],
    );
    assert_passes("fhirclient as Information Client", &run);
    assert!(
        library_read_the_capability_statement(&run),
        "fhirclient fetches the CapabilityStatement before it acts; no GET metadata was recorded:\n{}",
        run.console
    );
}

#[test]
fn fhirclient_as_information_sender_passes() {
    let Some(python) = fhirclient_python("fhirclient_as_information_sender_passes") else {
        return;
    };
    let run = run_harness(
        "fhirclient-isnd",
        &[
            "--actor",
            "information-sender",
            "--trigger",
            &adapter(&python),
        ],
    );
    assert_passes("fhirclient as Information Sender", &run);
}

#[test]
fn fhirclient_as_information_request_sender_passes() {
    let Some(python) = fhirclient_python("fhirclient_as_information_request_sender_passes") else {
        return;
    };
    // The library sends the request; its grouped Information Recipient, where the harness
    // posts the answer, is the independent peer server (standard library only).
    let token = "fhirclient-peer-token-3b9e";
    let recipient = Server::start(&python, &["--token", token]);
    let run = run_harness(
        "fhirclient-irs",
        &[
            "--actor",
            "information-request-sender",
            "--target",
            &recipient.base,
            "--var",
            &format!("token={token}"),
            "--trigger",
            &adapter(&python),
        ],
    );
    assert_passes("fhirclient as Information Request Sender", &run);
}
