//! `run --resume RUN_DIR`: carry over what an earlier run of the same thing proved, and run
//! the rest again.
//!
//! A Task a person completes in an EHR can take hours; a run interrupted meanwhile (Ctrl-C, a
//! killed process: see the checkpoints in [`super::checkpoint`]) must not redo what passed.
//! The earlier run's `results.json` is read back, checked to be a run of the same pack,
//! actor selection, system under test, options and rules ([`differences`]), and each of its
//! scenarios that passed, warned or did not apply is carried over verbatim ([`plan`]), marked
//! with the run it came from (`resumed_from`). The runner reports carried-over results as they
//! are and runs the others; the requirements matrix and summary are computed from the merged
//! list as for any run.
//!
//! `run --rerun-failed RUN_DIR` is the same machinery in [`Mode::RerunFailed`]: from a finished
//! run, only the scenarios that failed or errored run again; every other result is carried
//! over (an interrupted run is refused: `--resume` finishes it).

use crate::results::{
    RESULTS_SCHEMA_VERSION, ResumedFrom, RunResults, RunSetup, ScenarioResult, Status,
};
use crate::runner::Options;
use crate::scenario::{Pack, Scenario};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What a run does with an earlier run's results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `--resume`: go on; what passed, warned or did not apply is carried over, the rest
    /// (failed, errored, skipped, not run) runs again.
    Resume,
    /// `--rerun-failed`: only what failed or errored runs again, the rest is carried over.
    RerunFailed,
}

impl Mode {
    /// The command-line flag, for messages.
    pub fn flag(self) -> &'static str {
        match self {
            Mode::Resume => "--resume",
            Mode::RerunFailed => "--rerun-failed",
        }
    }

    /// Whether an earlier result, of a scenario selected now whose applicability has not
    /// changed, is carried over.
    fn carries(self, status: Status) -> bool {
        match self {
            Mode::Resume => matches!(
                status,
                Status::Passed | Status::Warned | Status::NotApplicable
            ),
            Mode::RerunFailed => !matches!(status, Status::Failed | Status::Errored),
        }
    }
}

/// Why the earlier run cannot be used this way, if so: `--rerun-failed` takes a finished run
/// (an interrupted one has scenarios that never ran; `--resume` finishes it).
pub fn refusal(earlier: &Earlier, mode: Mode) -> Option<String> {
    (mode == Mode::RerunFailed && earlier.results.interrupted).then(|| {
        format!(
            "--rerun-failed: {} is the results of a run that was interrupted (or of a checkpoint) before every scenario ran, so some never did\n  hint: `cdex-harness run --resume {}` goes on from it (it also reruns what failed)",
            earlier.file.display(),
            earlier.dir.display()
        )
    })
}

/// The results of the run being resumed, and where they were read.
pub struct Earlier {
    /// The `results.json` read.
    pub file: PathBuf,
    /// The folder it is in: the default output folder of the resumed run.
    pub dir: PathBuf,
    pub results: RunResults,
}

/// `--resume PATH`: a run's output folder (its `results.json` is read) or the file itself.
pub fn read(path: &Path) -> Result<Earlier, String> {
    read_for(path, Mode::Resume)
}

/// [`read`], its messages naming the flag of `mode`.
pub fn read_for(path: &Path, mode: Mode) -> Result<Earlier, String> {
    let flag = mode.flag();
    let file = if path.is_dir() {
        path.join("results.json")
    } else {
        path.to_path_buf()
    };
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let text = std::fs::read_to_string(&file).map_err(|e| {
        let hint = if path.is_dir() {
            format!(
                "\n  hint: {flag} takes the --out folder of an earlier `cdex-harness run` (or its results.json)"
            )
        } else {
            String::new()
        };
        format!("{flag}: cannot read {}: {e}{hint}", file.display())
    })?;
    let results = parse(&file, &text).map_err(|e| match e.strip_prefix("--resume:") {
        Some(rest) => format!("{flag}:{rest}"),
        None => e,
    })?;
    Ok(Earlier { file, dir, results })
}

/// Just enough of a `results.json` to tell whose it is.
#[derive(Deserialize)]
struct Probe {
    schema_version: Option<serde_json::Value>,
    tool: Option<ProbeTool>,
}

#[derive(Deserialize)]
struct ProbeTool {
    name: Option<serde_json::Value>,
}

/// Read a `results.json`: a file that is not JSON, not written by `cdex-harness run`, of
/// another schema version, or malformed is refused with its path, line, column and field.
pub fn parse(file: &Path, text: &str) -> Result<RunResults, String> {
    let foreign = |why: &str| {
        format!(
            "--resume: {} is not the results.json of a `cdex-harness run`: {why}",
            file.display()
        )
    };
    let probe: Probe = serde_json::from_str(text).map_err(|e| {
        format!(
            "--resume: {}:{}:{}: not valid JSON: {}",
            file.display(),
            e.line(),
            e.column(),
            without_location(&e)
        )
    })?;
    match probe.tool.and_then(|t| t.name) {
        Some(serde_json::Value::String(n)) if n == "cdex-harness" => {}
        Some(other) => return Err(foreign(&format!("its tool.name is {other}"))),
        None => return Err(foreign("it has no tool.name")),
    }
    match probe.schema_version {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(RESULTS_SCHEMA_VERSION.into()) => {
        }
        Some(v) => {
            return Err(format!(
                "--resume: {}: schema_version is {v}; this harness reads results of schema version {RESULTS_SCHEMA_VERSION} (docs/results-json.md)",
                file.display()
            ));
        }
        None => return Err(foreign("it has no schema_version")),
    }
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        format!(
            "--resume: {}:{}:{}: {}{}",
            file.display(),
            inner.line(),
            inner.column(),
            if field == "." {
                String::new()
            } else {
                format!("{field}: ")
            },
            without_location(&inner)
        )
    })
}

/// serde_json's message without its ` at line L column C` (the location is printed first).
fn without_location(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// What makes two runs runs of the same thing, and the flag that selects each.
fn described(setup: &RunSetup, options: &[String]) -> Vec<(&'static str, String, String)> {
    let sut = match setup.sut.as_str() {
        "reference" => "the built-in reference actors".to_string(),
        "client" => "a client under test".to_string(),
        url => url.to_string(),
    };
    let sut_flag = match setup.sut.as_str() {
        "reference" => "no --target, --listen or --trigger".to_string(),
        "client" => "--listen or --trigger, no --target".to_string(),
        url => format!("--target {url}"),
    };
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    vec![
        ("pack", setup.pack.clone(), format!("--pack {}", setup.pack)),
        (
            "actor",
            setup
                .actor
                .clone()
                .unwrap_or_else(|| "every actor".to_string()),
            match &setup.actor {
                Some(a) => format!("--actor {a}"),
                None => "no --actor".to_string(),
            },
        ),
        ("system under test", sut, sut_flag),
        (
            "options claimed",
            list(options),
            if options.is_empty() {
                "no --option".to_string()
            } else {
                options
                    .iter()
                    .map(|o| format!("--option {o}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            },
        ),
        (
            "rule sets",
            list(&setup.rules),
            match setup.rules.last() {
                Some(r) => format!("--rules {r}"),
                None => "no --rules".to_string(),
            },
        ),
        (
            "strict",
            if setup.strict { "yes" } else { "no" }.to_string(),
            if setup.strict {
                "--strict"
            } else {
                "no --strict"
            }
            .to_string(),
        ),
    ]
}

/// How the run being started differs from the earlier one, one line each, naming the value
/// of each and the flag that repeats the earlier one; empty when they are runs of the same
/// thing. Results without a `setup` (written by an older harness) cannot be compared.
pub fn differences(earlier: &RunResults, now: &RunSetup, options: &[String]) -> Vec<String> {
    let Some(then) = &earlier.setup else {
        return vec![
            "the earlier results do not say what was run (no `setup`: written by a harness before resuming existed)"
                .to_string(),
        ];
    };
    described(then, &earlier.options)
        .into_iter()
        .zip(described(now, options))
        .filter(|(a, b)| a.1 != b.1)
        .map(|((what, then, flag), (_, now, _))| {
            format!(
                "{what}: {then} in the earlier run, {now} in this one (the earlier run had {flag})"
            )
        })
        .collect()
}

/// What the resumed run does with the earlier results.
#[derive(Debug, Default)]
pub struct Plan {
    /// The scenarios to report as they are, by id, marked with where they came from.
    pub carried: BTreeMap<String, ScenarioResult>,
    /// The scenarios of the pack to go through, in the pack's order: the selection, and the
    /// earlier run's scenarios outside it (kept as they were).
    pub scenarios: Vec<String>,
    /// What to tell in the run's notes.
    pub notes: Vec<String>,
}

/// The identity and end time of a run, as carried-over results name it.
pub fn origin(earlier: &RunResults) -> ResumedFrom {
    let finished_at = chrono::DateTime::parse_from_rfc3339(&earlier.started_at)
        .ok()
        .and_then(|t| {
            let ms = earlier.duration_ms;
            (ms.is_finite() && ms >= 0.0)
                .then(|| t + chrono::Duration::microseconds((ms * 1000.0) as i64))
        })
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        })
        .unwrap_or_else(|| earlier.started_at.clone());
    ResumedFrom {
        run_id: earlier
            .run_id
            .clone()
            .unwrap_or_else(|| earlier.started_at.clone()),
        finished_at,
    }
}

/// Decide, scenario by scenario, what the earlier run's results are worth now.
///
/// A selected scenario that passed, warned or did not apply is carried over, unless whether
/// it applies has changed (an option claimed now and not then, or the reverse: only possible
/// with `--force`); every other selected one (failed, errored, skipped, not run, interrupted,
/// absent from the earlier run) runs again. An earlier scenario outside the selection
/// (`--scenario`, `--skip`) keeps its result whatever it was; one the pack no longer has is
/// dropped with a note.
pub fn plan(earlier: &RunResults, pack: &Pack, selected: &[&Scenario], options: &Options) -> Plan {
    plan_for(earlier, pack, selected, options, Mode::Resume)
}

/// [`plan`] for either mode: with [`Mode::RerunFailed`], a selected scenario is carried over
/// unless it failed or errored (or whether it applies has changed).
pub fn plan_for(
    earlier: &RunResults,
    pack: &Pack,
    selected: &[&Scenario],
    options: &Options,
    mode: Mode,
) -> Plan {
    let from = origin(earlier);
    let by_id: BTreeMap<&str, &Scenario> =
        pack.scenarios.iter().map(|s| (s.id.as_str(), s)).collect();
    let chosen: BTreeSet<&str> = selected.iter().map(|s| s.id.as_str()).collect();
    let claimed_then: BTreeSet<&str> = earlier.options.iter().map(String::as_str).collect();
    let mut plan = Plan::default();
    let mut dropped = Vec::new();
    let mut kept_outside = 0;
    for old in &earlier.scenarios {
        let Some(sc) = by_id.get(old.id.as_str()) else {
            dropped.push(old.id.clone());
            continue;
        };
        let carry = if chosen.contains(old.id.as_str()) {
            let then = sc.options.iter().all(|o| claimed_then.contains(o.as_str()));
            let now = sc.options.iter().all(|o| options.claims(o));
            mode.carries(old.status) && then == now
        } else {
            kept_outside += 1;
            true
        };
        if carry {
            let mut r = old.clone();
            if r.resumed_from.is_none() {
                r.resumed_from = Some(from.clone());
            }
            plan.carried.insert(r.id.clone(), r);
        }
    }
    plan.scenarios = pack
        .scenarios
        .iter()
        .filter(|s| chosen.contains(s.id.as_str()) || plan.carried.contains_key(&s.id))
        .map(|s| s.id.clone())
        .collect();
    let again = plan.scenarios.len() - plan.carried.len();
    let mut note = match mode {
        Mode::Resume => format!(
            "resumed run {} (finished {}): {} scenario(s) carried over, {again} run again",
            from.run_id,
            from.finished_at,
            plan.carried.len()
        ),
        Mode::RerunFailed => format!(
            "reran the failed and errored scenarios of run {} (finished {}): {again} run again, {} carried over as they were (`run --rerun-failed`)",
            from.run_id,
            from.finished_at,
            plan.carried.len()
        ),
    };
    if kept_outside > 0 {
        note.push_str(&format!(
            "; {kept_outside} outside this run's selection (--scenario, --skip) kept as they were"
        ));
    }
    plan.notes.push(note);
    if !dropped.is_empty() {
        plan.notes.push(format!(
            "dropped {} scenario(s) of run {} that the pack no longer has: {}",
            dropped.len(),
            from.run_id,
            dropped.join(", ")
        ));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{Summary, ToolInfo};

    fn scenario(id: &str, options: &[&str]) -> Scenario {
        Scenario {
            id: id.into(),
            title: id.into(),
            description: None,
            file: format!("{id}.yaml"),
            actor: "information-server".into(),
            plays: "information-client".into(),
            options: options.iter().map(|o| o.to_string()).collect(),
            vars: Default::default(),
            requires: Vec::new(),
            concurrency: Default::default(),
            steps: Vec::new(),
        }
    }

    fn result(id: &str, status: Status) -> ScenarioResult {
        let mut r = crate::runner::scenario::not_run(&scenario(id, &[]), "");
        r.status = status;
        r
    }

    fn earlier(scenarios: Vec<ScenarioResult>, options: &[&str]) -> RunResults {
        RunResults {
            schema_version: RESULTS_SCHEMA_VERSION,
            tool: ToolInfo {
                name: "cdex-harness".into(),
                version: "0".into(),
            },
            run_id: Some("R1".into()),
            setup: None,
            started_at: "2025-01-02T03:04:05.000Z".into(),
            duration_ms: 61_500.0,
            target: "built-in reference actors".into(),
            interrupted: true,
            options: options.iter().map(|o| o.to_string()).collect(),
            notes: Vec::new(),
            summary: Summary::default(),
            scenarios,
            requirements: Vec::new(),
        }
    }

    fn pack(scenarios: Vec<Scenario>) -> Pack {
        Pack {
            root: ".".into(),
            scenarios,
            ..Default::default()
        }
    }

    #[test]
    fn the_end_of_a_run_is_its_start_plus_its_duration() {
        let from = origin(&earlier(Vec::new(), &[]));
        assert_eq!(from.run_id, "R1");
        assert_eq!(from.finished_at, "2025-01-02T03:05:06.500Z");
    }

    #[test]
    fn what_passed_carries_over_and_the_rest_runs_again() {
        let pack = pack(vec![
            scenario("a", &[]),
            scenario("b", &[]),
            scenario("c", &[]),
            scenario("d", &["task-based"]),
            scenario("e", &[]),
            scenario("f", &[]),
        ]);
        let old = earlier(
            vec![
                result("a", Status::Passed),
                result("b", Status::Failed),
                result("c", Status::Warned),
                // Not applicable then (task-based not claimed), claimed now: runs.
                result("d", Status::NotApplicable),
                result("e", Status::NotRun),
                result("gone", Status::Passed),
            ],
            &[],
        );
        let all: Vec<&Scenario> = pack.scenarios.iter().collect();
        let plan = plan(&old, &pack, &all, &Options::All);
        assert_eq!(
            plan.carried.keys().collect::<Vec<_>>(),
            ["a", "c"],
            "{plan:?}"
        );
        assert!(
            plan.carried
                .values()
                .all(|r| r.resumed_from == Some(origin(&old)))
        );
        assert_eq!(plan.scenarios, ["a", "b", "c", "d", "e", "f"]);
        assert!(
            plan.notes[1].contains("no longer has: gone"),
            "{:?}",
            plan.notes
        );

        // --rerun-failed: only what failed or errored runs again, the rest carries over
        // (a not-applicable one claimed now still runs: whether it applies has changed).
        let rerun = plan_for(&old, &pack, &all, &Options::All, Mode::RerunFailed);
        assert_eq!(
            rerun.carried.keys().collect::<Vec<_>>(),
            ["a", "c", "e"],
            "{rerun:?}"
        );
        assert!(
            rerun.notes[0].contains("--rerun-failed"),
            "{:?}",
            rerun.notes
        );

        // Narrowed to `b`: the others keep their results, whatever they were.
        let plan = super::plan(&old, &pack, &all[1..2], &Options::All);
        assert_eq!(
            plan.carried.keys().collect::<Vec<_>>(),
            ["a", "c", "d", "e"]
        );
        assert_eq!(plan.scenarios, ["a", "b", "c", "d", "e"]);
    }
}
