//! The view of the report's lead: the per-option conformance statement, "What failed" and
//! the warnings, built from [`crate::report::findings`] (computed once, shared with the
//! console summary). Links point at the anchors [`super`] gives steps, exchanges and matrix
//! rows.

use super::{Pill, exchange_anchor, requirement_anchor, scenario_anchor, step_anchor};
use crate::report::findings::{self, Check, Finding, Findings, OptionStatement, Problem};
use crate::results::{RunResults, Status};
use serde::Serialize;

/// Checks shown per requirement before the rest go under "N more".
const SHOWN_CHECKS: usize = 5;

#[derive(Serialize)]
pub(super) struct Lead<'a> {
    /// `core: pass · task-based: 1 failure · ...`, one item per option.
    pub statements: Vec<Statement>,
    /// Present when the verdict is FAIL: what to fix first.
    pub what_failed: Option<WhatFailed<'a>>,
    pub warnings: Vec<FindingView<'a>>,
    /// How many warned checks there are in all (a requirement may warn in several places).
    pub warned_checks: usize,
    /// Open the warnings by default (a few of them).
    pub warnings_open: bool,
}

#[derive(Serialize)]
pub(super) struct Statement {
    pub option: String,
    pub words: String,
    pub status: Pill,
    /// Where its failures are listed, when it has some.
    pub href: Option<&'static str>,
}

#[derive(Serialize)]
pub(super) struct WhatFailed<'a> {
    pub failures: Vec<FindingView<'a>>,
    pub errors: Vec<ProblemView<'a>>,
    /// Nothing failed or errored: the verdict is FAIL because the run was interrupted.
    pub only_interrupted: bool,
}

#[derive(Serialize)]
pub(super) struct FindingView<'a> {
    pub id: Option<&'a str>,
    pub verb: Option<&'a str>,
    pub basis: Option<&'static str>,
    pub text: Option<&'a str>,
    pub source: Option<&'a str>,
    pub url: Option<&'a str>,
    /// Its row of the requirements matrix.
    pub row: Option<String>,
    /// The status word of its first check (the item's colour).
    pub worst: &'static str,
    /// The likely fix, when every check of it gives the same one (shown once, on top).
    pub hint: Option<&'a str>,
    pub checks: Vec<CheckView<'a>>,
    pub more_checks: Vec<CheckView<'a>>,
}

#[derive(Serialize)]
pub(super) struct CheckView<'a> {
    pub status: Pill,
    pub scenario: &'a str,
    pub scenario_title: &'a str,
    pub step: &'a str,
    pub step_title: &'a str,
    pub step_anchor: String,
    pub exchange_anchor: Option<String>,
    /// `GET http://.../metadata → 200`
    pub exchange: Option<String>,
    pub kind: &'a str,
    pub description: &'a str,
    pub expected: Option<&'a str>,
    pub actual: Option<&'a str>,
    pub message: Option<&'a str>,
    /// Its own hint, when the finding has no common one.
    pub hint: Option<&'a str>,
    /// Same description, expected, actual and message as the first check: one line.
    pub repeat: bool,
}

#[derive(Serialize)]
pub(super) struct ProblemView<'a> {
    pub status: Pill,
    pub scenario: &'a str,
    pub scenario_title: &'a str,
    pub step: Option<&'a str>,
    pub anchor: String,
    pub message: String,
}

pub(super) fn lead<'a>(r: &'a RunResults, failing_verdict: bool) -> Lead<'a> {
    let f: Findings<'a> = findings::findings(r);
    let warned_checks = f.warnings.iter().map(|w| w.checks.len()).sum();
    Lead {
        statements: findings::conformance(r).iter().map(statement).collect(),
        what_failed: failing_verdict.then(|| WhatFailed {
            only_interrupted: f.is_clean(),
            failures: f.failures.iter().map(|x| finding(r, x)).collect(),
            errors: f.errors.iter().map(problem).collect(),
        }),
        warnings_open: f.warnings.len() <= 5,
        warnings: f.warnings.iter().map(|x| finding(r, x)).collect(),
        warned_checks,
    }
}

fn statement(s: &OptionStatement) -> Statement {
    let status = s.status();
    Statement {
        option: s.option.clone(),
        words: s.words(),
        status: status.into(),
        href: match status {
            Status::Failed | Status::Errored => Some("#what-failed"),
            Status::Warned => Some("#warnings"),
            _ => None,
        },
    }
}

fn finding<'a>(r: &'a RunResults, f: &Finding<'a>) -> FindingView<'a> {
    let q = f.requirement;
    let first: &'a crate::results::AssertionResult = f.checks[0].assertion;
    let common_hint = first.hint.as_deref().filter(|h| {
        f.checks
            .iter()
            .all(|c| c.assertion.hint.as_deref() == Some(*h))
    });
    let mut checks: Vec<CheckView<'a>> = f
        .checks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let a = c.assertion;
            let mut v = check(c);
            v.repeat = i > 0
                && (&a.description, &a.expected, &a.actual, &a.message)
                    == (
                        &first.description,
                        &first.expected,
                        &first.actual,
                        &first.message,
                    );
            if common_hint.is_some() {
                v.hint = None;
            }
            v
        })
        .collect();
    let more_checks = checks.split_off(checks.len().min(SHOWN_CHECKS));
    FindingView {
        id: f.id,
        verb: q.map(|q| q.verb.as_str()),
        basis: q.map(|q| q.basis.as_str()),
        text: q.map(|q| q.text.as_str()),
        source: q.map(|q| q.source.as_str()),
        url: q
            .map(|q| q.url.as_str())
            .filter(|u| u.starts_with("https://") || u.starts_with("http://")),
        // Only rows the matrix shows are linked.
        row: f
            .requirement_index
            .filter(|&k| super::in_matrix(r, &r.requirements[k]))
            .map(requirement_anchor),
        worst: first.status.as_str(),
        hint: common_hint,
        checks,
        more_checks,
    }
}

fn check<'a>(c: &Check<'a>) -> CheckView<'a> {
    let step = c.at.step.unwrap_or(0);
    let a = c.assertion;
    let x = c.at.exchange.and_then(|k| c.step.exchanges.get(k));
    CheckView {
        status: a.status.into(),
        scenario: &c.scenario.id,
        scenario_title: &c.scenario.title,
        step: &c.step.id,
        step_title: &c.step.title,
        step_anchor: step_anchor(c.at.scenario, step),
        exchange_anchor: c
            .at
            .exchange
            .map(|k| exchange_anchor(c.at.scenario, step, k)),
        exchange: x.map(|x| {
            let status = match (&x.response, &x.error) {
                (Some(resp), _) => resp
                    .status
                    .map_or_else(|| "?".to_owned(), |s| s.to_string()),
                (None, Some(_)) => "no response".to_owned(),
                (None, None) => "—".to_owned(),
            };
            format!(
                "{} {} → {status}",
                x.request.method.as_deref().unwrap_or("?"),
                x.request.url.as_deref().unwrap_or("?")
            )
        }),
        kind: &a.kind,
        description: &a.description,
        expected: a.expected.as_deref(),
        actual: a.actual.as_deref(),
        message: a.message.as_deref(),
        hint: a.hint.as_deref(),
        repeat: false,
    }
}

fn problem<'a>(p: &Problem<'a>) -> ProblemView<'a> {
    ProblemView {
        status: Status::Errored.into(),
        scenario: &p.scenario.id,
        scenario_title: &p.scenario.title,
        step: p.step.map(|s| s.id.as_str()),
        anchor: match p.at.step {
            Some(j) => step_anchor(p.at.scenario, j),
            None => scenario_anchor(p.at.scenario),
        },
        message: p.message.clone(),
    }
}
