//! `cdex-harness merge`: the shards of a run (`run --partition I/N`) merged give the reports
//! of the whole run; shards that are not shards of one run, a scenario in two shards, a file
//! that is not results, a missing file, a missing shard are refused with what is wrong.

mod common;

use common::{harness, text, tmp};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const FAULT: &str = "information-server:no-location";

/// A run of the harness into `out`; its exit code.
fn run(out: &Path, extra: &[&str]) -> i32 {
    let mut args = vec!["run", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = harness(&args);
    o.status.code().unwrap_or(-1)
}

/// The default pack with a fault: run whole, and as 3 shards (each run once for every test).
struct Runs {
    whole: PathBuf,
    whole_code: i32,
    shards: Vec<PathBuf>,
}

fn runs() -> &'static Runs {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    RUNS.get_or_init(|| {
        let dir = tmp("merge", "runs");
        let whole = dir.join("whole");
        let whole_code = run(&whole, &["--fault", FAULT]);
        let shards = (1..=3)
            .map(|i| {
                let out = dir.join(format!("shard{i}"));
                run(&out, &["--fault", FAULT, "--partition", &format!("{i}/3")]);
                out
            })
            .collect();
        Runs {
            whole,
            whole_code,
            shards,
        }
    })
}

/// What differs between two runs of the same thing: times, durations, run ids (also inside
/// ids and bodies), ports, generated UUIDs, lengths that depend on them.
fn redact(text: &str) -> String {
    let rules = [
        (r#""duration_ms": [0-9.e+-]+"#, r#""duration_ms": 0"#),
        (r"\d{14}-\d+", "RUN-ID"),
        (r"\d{4}-\d\d-\d\dT[0-9:.]+(Z|[+-]\d\d:\d\d)", "TIME"),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:PORT"),
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "UUID",
        ),
        (
            r#"(?i)\[\s*"(content-length|date)",\s*"[^"]*"\s*\]"#,
            r#"["$1", "X"]"#,
        ),
        (r#"(time|timestamp)="[^"]*""#, r#"$1="X""#),
    ];
    let mut out = text.to_string();
    for (re, with) in rules {
        out = regex::Regex::new(re)
            .unwrap()
            .replace_all(&out, with)
            .into_owned();
    }
    out
}

/// A poll's attempts depend on timing (a loaded machine takes two where an idle one takes
/// one): of a poll step, only its last exchange is compared, and not how many attempts it
/// took.
fn without_poll_attempts(text: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
    for sc in v["scenarios"].as_array_mut().unwrap() {
        for st in sc["steps"].as_array_mut().unwrap() {
            if st["kind"] != "poll" {
                continue;
            }
            if st["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("the condition held at attempt"))
            {
                st["message"] = serde_json::Value::Null;
            }
            if let Some(xs) = st["exchanges"].as_array_mut()
                && xs.len() > 1
            {
                xs.drain(..xs.len() - 1);
            }
        }
    }
    serde_json::to_string_pretty(&v).unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn merge(args: &[&str]) -> (i32, String) {
    let mut all = vec!["merge"];
    all.extend_from_slice(args);
    let o = harness(&all);
    (o.status.code().unwrap_or(-1), text(&o))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn the_merged_shards_give_the_reports_of_the_whole_run() {
    let runs = runs();
    let out = tmp("merge", "merged");
    // In any order, as folders or as results.json files.
    let third = runs.shards[2].join("results.json");
    let (code, said) = merge(&[
        s(&third),
        s(&runs.shards[0]),
        s(&runs.shards[1]),
        "--out",
        s(&out),
    ]);
    assert_eq!(code, runs.whole_code, "{said}");
    assert_eq!(code, 1, "the fault fails the run: {said}");
    assert!(said.contains("merged 3 shard(s): 29 scenario(s)"), "{said}");
    assert!(said.contains("FAIL"), "the console summary: {said}");
    let attempts = regex::Regex::new(r"the condition held at attempt \d+, \d+ms after").unwrap();
    for name in ["results.json", "junit.xml"] {
        let stable = |text: String| {
            let text = if name == "results.json" {
                without_poll_attempts(&text)
            } else {
                text
            };
            redact(&attempts.replace_all(&text, "the condition held"))
        };
        let whole = stable(read(&runs.whole.join(name)));
        let merged = stable(read(&out.join(name)));
        if whole != merged {
            let at = whole
                .lines()
                .zip(merged.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            panic!(
                "{name} of the merged shards differs from the whole run's at line {}:\n  whole:  {}\n  merged: {}",
                at + 1,
                whole.lines().nth(at).unwrap_or(""),
                merged.lines().nth(at).unwrap_or("")
            );
        }
    }
    let html = read(&out.join("report.html"));
    assert!(html.contains("FHIR-CREATE-LOCATION"), "the HTML report");
    // The merged run says what was run, and is no shard.
    let merged: serde_json::Value = serde_json::from_str(&read(&out.join("results.json"))).unwrap();
    assert_eq!(merged["setup"]["pack"], "cdex-2019");
    assert!(
        merged["setup"].get("partition").is_none(),
        "{}",
        merged["setup"]
    );
    let shard: serde_json::Value =
        serde_json::from_str(&read(&runs.shards[1].join("results.json"))).unwrap();
    assert_eq!(shard["setup"]["partition"], "2/3");
}

#[test]
fn a_missing_shard_or_the_same_shard_twice_is_refused() {
    let runs = runs();
    let out = tmp("merge", "missing-shard");
    let (code, said) = merge(&[s(&runs.shards[0]), s(&runs.shards[2]), "--out", s(&out)]);
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("shard(s) 2/3 missing"), "{said}");
    let (code, said) = merge(&[
        s(&runs.shards[0]),
        s(&runs.shards[0].join("results.json")),
        s(&runs.shards[1]),
        s(&runs.shards[2]),
        "--out",
        s(&out),
    ]);
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("shard 1/3 is given twice"), "{said}");
    let (code, said) = merge(&[s(&runs.whole), s(&runs.shards[0]), "--out", s(&out)]);
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("is not a shard"), "{said}");
    assert!(!out.join("results.json").exists(), "nothing written");
}

#[test]
fn a_scenario_in_two_results_is_refused_naming_both() {
    let dir = tmp("merge", "duplicate");
    let (a, b) = (dir.join("a"), dir.join("b"));
    run(&a, &["--scenario", "is-push-create"]);
    run(&b, &["--scenario", "is-push-*"]);
    let out = dir.join("out");
    let (code, said) = merge(&[s(&a), s(&b), "--out", s(&out)]);
    assert_eq!(code, 2, "{said}");
    assert!(
        said.contains("scenario is-push-create is in")
            && said.contains(s(&a.join("results.json")))
            && said.contains(s(&b.join("results.json"))),
        "{said}"
    );
    // Disjoint selections of the same setup merge.
    let c = dir.join("c");
    run(&c, &["--scenario", "is-pull-*"]);
    let (code, said) = merge(&[s(&b), s(&c), "--out", s(&out)]);
    assert_eq!(code, 0, "{said}");
}

#[test]
fn results_of_other_packs_or_targets_are_refused() {
    let dir = tmp("merge", "different");
    let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
    run(&a, &["--scenario", "is-push-create"]);
    run(&b, &["--scenario", "is-pull-search", "--fault", FAULT]);
    run(
        &c,
        &["--pack", "cdex-2.1", "--scenario", "dcc-att-request-claim"],
    );
    let out = dir.join("out");
    let (code, said) = merge(&[s(&a), s(&b), "--out", s(&out)]);
    assert_eq!(code, 2, "{said}");
    assert!(
        said.contains("target: built-in reference actors in")
            && said.contains("built-in reference actors (with faults) in"),
        "{said}"
    );
    let (code, said) = merge(&[s(&a), s(&c), "--out", s(&out)]);
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("pack: cdex-2019 in"), "{said}");
    assert!(said.contains("cdex-2.1 in"), "{said}");
    // The pack given must be the one the shards ran.
    let (code, said) = merge(&[s(&a), "--pack", "cdex-2.1", "--out", s(&out)]);
    assert_eq!(code, 2, "{said}");
    assert!(
        said.contains("runs of the pack cdex-2019, not cdex-2.1"),
        "{said}"
    );
    assert!(!out.exists(), "nothing written");
}

#[test]
fn garbage_and_missing_files_are_named() {
    let dir = tmp("merge", "garbage");
    let garbage = dir.join("results.json");
    std::fs::write(
        &garbage,
        "{\n  \"schema_version\": 1,\n  \"tool\": oops\n}\n",
    )
    .unwrap();
    let out = dir.join("out");
    let (code, said) = merge(&[s(&garbage), "--out", s(&out)]);
    assert_eq!(code, 2, "{said}");
    assert!(
        said.contains(&format!("merge: {}:3:", garbage.display()))
            && said.contains("not valid JSON"),
        "{said}"
    );
    // Valid JSON of the wrong shape: the field is named.
    let runs = runs();
    let mut shard: serde_json::Value =
        serde_json::from_str(&read(&runs.shards[0].join("results.json"))).unwrap();
    shard["scenarios"][0]["status"] = "great".into();
    std::fs::write(&garbage, serde_json::to_string_pretty(&shard).unwrap()).unwrap();
    let (code, said) = merge(&[s(&garbage), "--out", s(&out)]);
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("scenarios[0].status"), "{said}");

    let missing = dir.join("nowhere").join("results.json");
    let (code, said) = merge(&[s(&missing), "--out", s(&out)]);
    assert_eq!(code, 2, "{said}");
    assert!(
        said.contains(&format!("merge: cannot read {}", missing.display())),
        "{said}"
    );
    assert!(!out.exists(), "nothing written");
}

#[test]
fn bodies_kept_in_files_are_copied_with_the_merged_reports() {
    let dir = tmp("merge", "bodies");
    let shards: Vec<PathBuf> = (1..=2)
        .map(|i| {
            let out = dir.join(format!("shard{i}"));
            run(
                &out,
                &[
                    "--partition",
                    &format!("{i}/2"),
                    "--max-inline-body",
                    "1KiB",
                ],
            );
            out
        })
        .collect();
    let out = dir.join("merged");
    let (code, said) = merge(&[s(&shards[0]), s(&shards[1]), "--out", s(&out)]);
    assert_eq!(code, 0, "{said}");
    let merged = read(&out.join("results.json"));
    let files: Vec<&str> = regex::Regex::new(r#""body_file": "(bodies/[^"]+)""#)
        .unwrap()
        .captures_iter(&merged)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    assert!(!files.is_empty(), "some bodies are past 1 KiB");
    for f in &files {
        let copied = out.join(f);
        assert!(copied.is_file(), "{} is copied", copied.display());
        let from = shards.iter().map(|s| s.join(f)).find(|p| p.is_file());
        assert_eq!(
            std::fs::read(&copied).unwrap(),
            std::fs::read(from.expect("it was in a shard")).unwrap()
        );
    }
}

#[test]
fn an_interrupted_shard_makes_the_merged_run_interrupted() {
    let runs = runs();
    let dir = tmp("merge", "interrupted");
    let mut shard: serde_json::Value =
        serde_json::from_str(&read(&runs.shards[1].join("results.json"))).unwrap();
    shard["interrupted"] = true.into();
    shard["notes"] = serde_json::json!(["checkpoint: 3 of 10 scenario(s) done"]);
    let edited = dir.join("results.json");
    std::fs::write(&edited, serde_json::to_string_pretty(&shard).unwrap()).unwrap();
    let out = dir.join("out");
    let (code, said) = merge(&[
        s(&runs.shards[0]),
        s(&edited),
        s(&runs.shards[2]),
        "--out",
        s(&out),
    ]);
    assert_eq!(code, 1, "{said}");
    let merged: serde_json::Value = serde_json::from_str(&read(&out.join("results.json"))).unwrap();
    assert_eq!(merged["interrupted"], true);
    assert_eq!(
        merged["notes"],
        serde_json::json!(["checkpoint: 3 of 10 scenario(s) done"])
    );
}
