//! The JUnit XML report, for CI systems.
//!
//! Mapping: one `<testsuite>` per actor under test (named after the actor, in order of first
//! appearance), one `<testcase>` per scenario (`classname` = `cdex.<actor>`, `name` = scenario
//! id). `failed` becomes `<failure>`, `errored` becomes `<error>`, `skipped` and `not-run`
//! become `<skipped>`; `warned` passes with its warnings in `<system-out>`. Every element
//! carries `time` in seconds; counts are computed by quick-junit.

use super::format::std_duration;
use crate::results::{AssertionResult, RunResults, ScenarioResult, Status};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::fmt::Write as _;

/// Longest `message` attribute; the full details are in the element text.
const MAX_MESSAGE_CHARS: usize = 300;

/// The JUnit XML document. Serialising to memory cannot fail in practice; should it ever, the
/// output is an XML comment saying why. Use [`try_render`] to get the error instead.
pub fn render(results: &RunResults) -> String {
    try_render(results).unwrap_or_else(|e| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- cannot render JUnit report: {} -->\n",
            e.to_string().replace("--", "- -")
        )
    })
}

/// The JUnit XML document, or the serialisation error.
pub fn try_render(results: &RunResults) -> Result<String, quick_junit::SerializeError> {
    report(results).to_string()
}

/// Build the quick-junit model of the run.
fn report(results: &RunResults) -> Report {
    let timestamp = chrono::DateTime::parse_from_rfc3339(&results.started_at).ok();
    let mut report = Report::new(results.tool.name.as_str());
    report.set_time(std_duration(results.duration_ms));
    if let Some(ts) = timestamp {
        report.set_timestamp(ts);
    }

    for (actor, scenarios) in by_actor(&results.scenarios) {
        let mut suite = TestSuite::new(actor);
        if let Some(ts) = timestamp {
            suite.set_timestamp(ts);
        }
        suite.set_time(std_duration(scenarios.iter().map(|s| s.duration_ms).sum()));
        suite.add_property(Property::new("target", results.target.as_str()));
        suite.add_property(Property::new("tool-version", results.tool.version.as_str()));
        if results.interrupted {
            suite.add_property(Property::new("interrupted", "true"));
        }
        suite.add_test_cases(scenarios.into_iter().map(test_case));
        report.add_test_suite(suite);
    }
    report
}

/// Scenarios grouped by actor under test, actors in order of first appearance.
fn by_actor(scenarios: &[ScenarioResult]) -> Vec<(&str, Vec<&ScenarioResult>)> {
    let mut groups: Vec<(&str, Vec<&ScenarioResult>)> = Vec::new();
    for s in scenarios {
        match groups.iter_mut().find(|(actor, _)| *actor == s.actor) {
            Some((_, list)) => list.push(s),
            None => groups.push((&s.actor, vec![s])),
        }
    }
    groups
}

/// One scenario as a test case.
fn test_case(s: &ScenarioResult) -> TestCase {
    let status = match s.status {
        Status::Passed | Status::Warned => TestCaseStatus::success(),
        Status::Failed => non_success(
            NonSuccessKind::Failure,
            first_failure(s, Status::Failed),
            problems(s),
        ),
        Status::Errored => non_success(
            NonSuccessKind::Error,
            first_failure(s, Status::Errored),
            problems(s),
        ),
        Status::Skipped | Status::NotRun | Status::NotApplicable => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(one_line(&skip_message(s)));
            st
        }
    };
    let mut case = TestCase::new(s.id.as_str(), status);
    case.set_classname(format!("cdex.{}", s.actor));
    case.set_time(std_duration(s.duration_ms));
    case.set_assertions(s.steps.iter().map(|st| st.assertions.len()).sum());
    let warnings = warnings(s);
    if !warnings.is_empty() {
        case.set_system_out(warnings);
    }
    case
}

fn non_success(kind: NonSuccessKind, message: String, description: String) -> TestCaseStatus {
    let mut st = TestCaseStatus::non_success(kind);
    st.set_message(one_line(&message));
    st.set_type(match kind {
        NonSuccessKind::Failure => "failed",
        NonSuccessKind::Error => "errored",
    });
    st.set_description(description);
    st
}

/// The summary of the first thing that went wrong with the given status: an assertion, else a
/// step message, else the scenario message.
fn first_failure(s: &ScenarioResult, status: Status) -> String {
    let assertion = s.steps.iter().find_map(|st| {
        st.assertions
            .iter()
            .find(|a| a.status == status)
            .map(|a| format!("step {}: {}", st.id, assertion_summary(a)))
    });
    let step = || {
        s.steps.iter().find_map(|st| {
            (st.status == status)
                .then_some(st.message.as_ref())
                .flatten()
                .map(|m| format!("step {}: {m}", st.id))
        })
    };
    assertion
        .or_else(step)
        .or_else(|| s.message.clone())
        .unwrap_or_else(|| format!("scenario {}", s.status.as_str()))
}

/// One-line summary of an assertion: `[REQ] description: expected X, got Y`.
fn assertion_summary(a: &AssertionResult) -> String {
    let mut out = String::new();
    if let Some(req) = &a.requirement {
        let _ = write!(out, "[{req}] ");
    }
    out.push_str(&a.description);
    match (&a.expected, &a.actual) {
        (Some(e), Some(g)) => {
            let _ = write!(out, ": expected {e}, got {g}");
        }
        (Some(e), None) => {
            let _ = write!(out, ": expected {e}");
        }
        (None, Some(g)) => {
            let _ = write!(out, ": got {g}");
        }
        (None, None) => {}
    }
    if let Some(m) = &a.message {
        let _ = write!(out, " ({m})");
    }
    out
}

/// The text of a `<failure>`/`<error>`: the scenario message, every step message of a step that
/// did not pass, and every failed or errored assertion with its details.
fn problems(s: &ScenarioResult) -> String {
    let mut out = String::new();
    if let Some(m) = &s.message {
        let _ = writeln!(out, "scenario {}: {m}", s.status.as_str());
    }
    for st in &s.steps {
        if let (false, Some(m)) = (st.status == Status::Passed, &st.message) {
            let _ = writeln!(out, "step {} {}: {m}", st.id, st.status.as_str());
        }
        for a in st.assertions.iter().filter(|a| a.status.is_blocking()) {
            assertion_details(&mut out, &st.id, a);
        }
    }
    out
}

/// Warned assertions, for `<system-out>`; empty when there are none.
fn warnings(s: &ScenarioResult) -> String {
    let mut out = String::new();
    for st in &s.steps {
        for a in st.assertions.iter().filter(|a| a.status == Status::Warned) {
            assertion_details(&mut out, &st.id, a);
        }
    }
    out
}

/// A multi-line description of one assertion outcome.
fn assertion_details(out: &mut String, step: &str, a: &AssertionResult) {
    let _ = writeln!(
        out,
        "{} step {step}, {}: {}",
        a.status.as_str().to_uppercase(),
        a.kind,
        a.description
    );
    let requirement = a.requirement.as_deref().unwrap_or("(none)");
    let _ = writeln!(
        out,
        "  requirement: {requirement} ({})",
        a.severity.as_str()
    );
    for (label, value) in [
        ("expected", &a.expected),
        ("actual", &a.actual),
        ("message", &a.message),
        ("likely fix", &a.hint),
    ] {
        if let Some(v) = value {
            let _ = writeln!(out, "  {label}: {}", v.replace('\n', "\n    "));
        }
    }
}

/// Why a scenario did not run.
fn skip_message(s: &ScenarioResult) -> String {
    match (&s.message, s.status) {
        (Some(m), _) => m.clone(),
        (None, Status::NotRun) => "not run: the run was interrupted before reaching it".to_owned(),
        (None, Status::NotApplicable) => "not applicable to the system under test".to_owned(),
        (None, _) => "skipped: something it depends on did not succeed".to_owned(),
    }
}

/// A single line of at most [`MAX_MESSAGE_CHARS`] characters, for attributes.
fn one_line(s: &str) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= MAX_MESSAGE_CHARS {
        return flat;
    }
    let mut cut: String = flat.chars().take(MAX_MESSAGE_CHARS - 1).collect();
    cut.push('…');
    cut
}
