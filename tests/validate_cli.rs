//! The `validate` command (the cdex-fhir validator behind the command line): its text and JSON
//! output, exit codes, invariant listing, and what it says it checked against, over the
//! validator's own test data (crates/cdex-fhir/tests/validation/).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/cdex-fhir/tests/validation")
        .join(name)
}

fn read(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

const TASK_DATA_REQUEST: &str =
    "http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-task-data-request";

fn cli(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cdex-harness"))
        .arg("validate")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

#[test]
fn validate_command_text_json_and_exit_codes() {
    let good = dir("examples").join("cdex-task-example1.json");
    let (code, text) = cli(&[
        "--profile",
        "cdex-task-data-request",
        good.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(": valid"), "{text}");

    // A corpus case holds the resource under "resource": write it out as a plain file.
    let case = read(&dir("invalid").join("profile-fixed.json"));
    let tmp = std::env::temp_dir().join(format!("cdex-validate-{}.json", std::process::id()));
    std::fs::write(&tmp, case["resource"].to_string()).unwrap();
    let (code, text) = cli(&["--profile", TASK_DATA_REQUEST, tmp.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("error       Task.intent: must be exactly \"order\""),
        "{text}"
    );
    assert!(
        text.contains("cdex-task-data-request#Task.intent"),
        "{text}"
    );

    let (code, text) = cli(&[
        "--json",
        "--profile",
        TASK_DATA_REQUEST,
        tmp.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    let doc: Value = serde_json::from_str(&text).unwrap();
    let issue = &doc[0]["outcome"]["issue"][0];
    assert_eq!(doc[0]["valid"], false);
    assert_eq!(doc[0]["outcome"]["resourceType"], "OperationOutcome");
    assert_eq!(issue["severity"], "error");
    assert_eq!(issue["expression"][0], "Task.intent");
    let _ = std::fs::remove_file(&tmp);

    let (code, _) = cli(&["--profile", "no-such-profile", good.to_str().unwrap()]);
    assert_eq!(code, 2);
    let (code, _) = cli(&["/no/such/file.json"]);
    assert_eq!(code, 2);
    let (code, text) = cli(&[dir("examples").to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("71 file(s): 0 error(s)"), "{text}");
}

/// `--invariants` lists each invariant with its outcome and evaluator; `--invariants-by
/// engine` has the full engine evaluate them all, and its date reading differs.
#[test]
fn validate_command_lists_invariants_and_their_evaluator() {
    let mut task = read(&dir("examples").join("cdex-task-example1.json"));
    // The same instant in two zones: lastModified is not before authoredOn.
    task["authoredOn"] = "2020-10-26T02:58:55Z".into();
    task["lastModified"] = "2020-10-26T01:58:55-01:00".into();
    let tmp = std::env::temp_dir().join(format!("cdex-invariants-{}.json", std::process::id()));
    std::fs::write(&tmp, task.to_string()).unwrap();
    let file = tmp.to_str().unwrap();

    let (code, text) = cli(&["--invariants", "--profile", TASK_DATA_REQUEST, file]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("invariant inv-1 at Task: holds (subset)"),
        "{text}"
    );
    assert!(
        text.contains("invariant cdex-9 at Task: holds (subset)"),
        "{text}"
    );

    let (code, text) = cli(&[
        "--json",
        "--invariants",
        "--profile",
        TASK_DATA_REQUEST,
        file,
    ]);
    assert_eq!(code, 0, "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    let inv = doc[0]["invariants"].as_array().unwrap();
    assert!(inv.len() >= 8, "{inv:?}");
    assert!(
        inv.iter()
            .all(|i| i["outcome"] == "holds" && i["by_subset"] == true),
        "{inv:?}"
    );

    // The full engine alone compares the two dateTimes as text, and fails inv-1.
    let (code, text) = cli(&[
        "--invariants",
        "--invariants-by",
        "engine",
        "--profile",
        TASK_DATA_REQUEST,
        file,
    ]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("invariant inv-1 at Task: FAILS (engine)"),
        "{text}"
    );
    let _ = std::fs::remove_file(&tmp);
}

/// What `validate` says of a file names what it was checked against: the R4 base alone
/// (with how to check a profile), a profile, or nothing at all when the base definition of
/// the type is not in the data (not "valid"); malformed JSON is located by line and column.
#[test]
fn validate_says_what_it_checked_against() {
    let tmp = std::env::temp_dir().join(format!("cdex-verdicts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let files = [
        (
            "a-patient.json",
            r#"{"resourceType":"Patient"}"#.to_string(),
        ),
        (
            "b-basic.json",
            r#"{"resourceType":"Basic","code":{"text":"x"}}"#.to_string(),
        ),
        (
            "c-task-declared.json",
            read(&dir("examples").join("cdex-task-example1.json"))
                .as_object()
                .map(|o| {
                    let mut o = o.clone();
                    o.insert(
                        "meta".into(),
                        serde_json::json!({"profile": [TASK_DATA_REQUEST]}),
                    );
                    Value::Object(o).to_string()
                })
                .unwrap(),
        ),
        (
            "d-malformed.json",
            "{\"resourceType\": \"Task\",\n  \"status\" \"requested\"}".to_string(),
        ),
    ];
    for (name, text) in &files {
        std::fs::write(tmp.join(name), text).unwrap();
    }
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_cdex-harness"))
            .arg("validate")
            .args(args)
            .current_dir(&tmp)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    let (code, text) = run(&names);
    assert_eq!(code, 1, "{text}");
    insta::assert_snapshot!("validate_verdicts", text);

    // Not checked is not an error, and says so in the summary too.
    let (code, text) = run(&["b-basic.json"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("b-basic.json: not checked"), "{text}");
    assert!(!text.contains(": valid"), "{text}");

    let (_, json) = run(&["--json", "b-basic.json", "d-malformed.json"]);
    let doc: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc[0]["verdict"], "not-checked");
    assert_eq!(doc[0]["checked"], false);
    let issue = &doc[1]["outcome"]["issue"][0];
    assert_eq!(issue["location"][0], "line 2, column 12");
    // A place in the text is not a FHIRPath expression.
    assert!(issue.get("expression").is_none(), "{issue}");
    let _ = std::fs::remove_dir_all(&tmp);
}
