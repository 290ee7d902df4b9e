//! What to fix first, computed once from the results and rendered by every report that
//! leads with it (the HTML report, the console summary, and later the web console).
//!
//! - [`Findings::failures`]: each failing requirement (a required check that failed), with
//!   every check that made it fail: where (scenario, step, exchange), expected vs actual, why,
//!   and the scenario's one-line `hint:` of the likely fix. Failed checks that prove no
//!   requirement come last, one group.
//! - [`Findings::errors`]: scenarios and steps the harness could not carry out (no verdict on
//!   conformance, but the run fails).
//! - [`Findings::warnings`]: the same shape as the failures, for recommended checks.
//! - [`conformance`]: one statement per option of the actors under test (core first):
//!   `core: pass · task-based: 1 failure · notified-pull: not claimed`.
//!
//! Everything here borrows from the [`RunResults`]; positions are indexes into
//! `results.scenarios`, its steps and their exchanges, so a renderer can build its own links.

use crate::results::{
    AssertionResult, RequirementResult, RunResults, ScenarioResult, Status, StepResult,
};
use serde::Serialize;

/// Where something is in the results: indexes into `scenarios`, its `steps` and the step's
/// `exchanges`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Location {
    pub scenario: usize,
    pub step: Option<usize>,
    /// The exchange the check judged (the step's last one), when the step has any.
    pub exchange: Option<usize>,
}

/// One failed (or warned) check, where it happened.
#[derive(Debug, Clone, Serialize)]
pub struct Check<'a> {
    pub at: Location,
    pub scenario: &'a ScenarioResult,
    pub step: &'a StepResult,
    pub assertion: &'a AssertionResult,
}

/// A requirement that failed (or warned), and the checks that say so.
#[derive(Debug, Clone, Serialize)]
pub struct Finding<'a> {
    /// The requirement's id; `None` for the checks that prove no requirement.
    pub id: Option<&'a str>,
    /// Its row of the matrix (quoted text, verb, source), when the catalog has it.
    pub requirement: Option<&'a RequirementResult>,
    /// Index of that row in `results.requirements`.
    pub requirement_index: Option<usize>,
    pub checks: Vec<Check<'a>>,
}

impl Finding<'_> {
    /// The first check: the one a one-line list shows.
    pub fn first(&self) -> &Check<'_> {
        &self.checks[0]
    }
}

/// A scenario or step the harness could not carry out.
#[derive(Debug, Clone, Serialize)]
pub struct Problem<'a> {
    pub at: Location,
    pub scenario: &'a ScenarioResult,
    pub step: Option<&'a StepResult>,
    /// Why, in words.
    pub message: String,
}

/// What to fix first.
#[derive(Debug, Clone, Serialize)]
pub struct Findings<'a> {
    pub failures: Vec<Finding<'a>>,
    pub errors: Vec<Problem<'a>>,
    pub warnings: Vec<Finding<'a>>,
}

impl Findings<'_> {
    /// Nothing failed and nothing errored.
    pub fn is_clean(&self) -> bool {
        self.failures.is_empty() && self.errors.is_empty()
    }
}

/// Compute the findings of a run, in the order the scenarios ran.
pub fn findings(r: &RunResults) -> Findings<'_> {
    let mut failures: Vec<Finding<'_>> = Vec::new();
    let mut warnings: Vec<Finding<'_>> = Vec::new();
    let mut errors = Vec::new();
    for (i, sc) in r.scenarios.iter().enumerate() {
        let mut step_errored = false;
        for (j, st) in sc.steps.iter().enumerate() {
            let at = Location {
                scenario: i,
                step: Some(j),
                exchange: st.exchanges.len().checked_sub(1),
            };
            if st.status == Status::Errored {
                step_errored = true;
                let message = st
                    .message
                    .clone()
                    .or_else(|| {
                        st.assertions
                            .iter()
                            .find(|a| a.status == Status::Errored)
                            .and_then(|a| a.message.clone())
                    })
                    .unwrap_or_else(|| "the step could not be carried out".to_string());
                errors.push(Problem {
                    at,
                    scenario: sc,
                    step: Some(st),
                    message,
                });
            }
            for a in &st.assertions {
                let into = match a.status {
                    Status::Failed => &mut failures,
                    Status::Warned => &mut warnings,
                    _ => continue,
                };
                let check = Check {
                    at,
                    scenario: sc,
                    step: st,
                    assertion: a,
                };
                let id = a.requirement.as_deref();
                match into.iter_mut().find(|f| f.id == id) {
                    Some(f) => f.checks.push(check),
                    None => {
                        let index =
                            id.and_then(|id| r.requirements.iter().position(|q| q.id == id));
                        into.push(Finding {
                            id,
                            requirement: index.map(|k| &r.requirements[k]),
                            requirement_index: index,
                            checks: vec![check],
                        });
                    }
                }
            }
        }
        if sc.status == Status::Errored && !step_errored {
            errors.push(Problem {
                at: Location {
                    scenario: i,
                    step: None,
                    exchange: None,
                },
                scenario: sc,
                step: None,
                message: sc
                    .message
                    .clone()
                    .unwrap_or_else(|| "the scenario could not be carried out".to_string()),
            });
        }
    }
    // Checks that prove no requirement come after the requirements.
    for list in [&mut failures, &mut warnings] {
        list.sort_by_key(|f| f.id.is_none());
    }
    Findings {
        failures,
        errors,
        warnings,
    }
}

/// How one option (or the core) of the actors under test fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OptionStatement {
    /// The option's name; `core` for the requirements of no option.
    pub option: String,
    /// The system claims it (always true for the core).
    pub claimed: bool,
    /// Requirements of it that failed.
    pub failed: usize,
    /// Requirements of it, and scenarios of it, that errored.
    pub errored: usize,
    /// Requirements of it that warned.
    pub warned: usize,
    /// Requirements of it with at least one check that ran, and scenarios of it that ran.
    pub covered: usize,
}

impl OptionStatement {
    /// The worst status the statement stands for: `failed`, `errored`, `warned`, `passed`,
    /// `not-run` (claimed, nothing of it ran) or `not-applicable` (not claimed).
    pub fn status(&self) -> Status {
        if !self.claimed {
            Status::NotApplicable
        } else if self.failed > 0 {
            Status::Failed
        } else if self.errored > 0 {
            Status::Errored
        } else if self.warned > 0 {
            Status::Warned
        } else if self.covered > 0 {
            Status::Passed
        } else {
            Status::NotRun
        }
    }

    /// `pass`, `1 failure`, `2 failures, 1 errored`, `pass, 3 warnings`, `not tested`,
    /// `not claimed`.
    pub fn words(&self) -> String {
        if !self.claimed {
            return "not claimed".into();
        }
        let n =
            |k: usize, one: &str, many: &str| format!("{k} {}", if k == 1 { one } else { many });
        let mut parts = Vec::new();
        if self.failed > 0 {
            parts.push(n(self.failed, "failure", "failures"));
        }
        if self.errored > 0 {
            parts.push(format!("{} errored", self.errored));
        }
        if parts.is_empty() {
            if self.covered == 0 {
                return "not tested".into();
            }
            parts.push("pass".into());
            if self.warned > 0 {
                parts.push(n(self.warned, "warning", "warnings"));
            }
        }
        parts.join(", ")
    }
}

/// One statement per option of the actors under test, the core first, then the options in
/// catalog order: what failed, errored or warned of each, and which the system does not claim.
pub fn conformance(r: &RunResults) -> Vec<OptionStatement> {
    let under_test: Vec<&str> = r.scenarios.iter().map(|s| s.actor.as_str()).collect();
    let reqs: Vec<&RequirementResult> = r
        .requirements
        .iter()
        .filter(|q| under_test.contains(&q.actor.as_str()) && q.untestable.is_none())
        .collect();
    let mut names: Vec<Option<&str>> = vec![None];
    let options = reqs.iter().map(|q| q.option.as_deref()).chain(
        r.scenarios
            .iter()
            .flat_map(|s| s.options.iter().map(|o| Some(o.as_str()))),
    );
    for o in options {
        if !names.contains(&o) {
            names.push(o);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let claimed = name.is_none_or(|o| r.options.iter().any(|c| c == o));
            let mine: Vec<&&RequirementResult> = reqs
                .iter()
                .filter(|q| q.option.as_deref() == name && q.in_scope)
                .collect();
            let count = |s: Status| mine.iter().filter(|q| q.status == s).count();
            let scenarios: Vec<&ScenarioResult> = r
                .scenarios
                .iter()
                .filter(|s| match name {
                    None => s.options.is_empty(),
                    Some(o) => s.options.iter().any(|x| x == o),
                })
                .collect();
            let scenarios_errored = scenarios
                .iter()
                .filter(|s| s.status == Status::Errored)
                .count();
            // An option may have scenarios and no requirement of its own (they check core
            // requirements in its setting): they count as covering it.
            let scenarios_ran = scenarios
                .iter()
                .filter(|s| matches!(s.status, Status::Passed | Status::Warned | Status::Failed))
                .count();
            OptionStatement {
                option: name.unwrap_or("core").to_string(),
                claimed,
                failed: count(Status::Failed),
                errored: count(Status::Errored).max(scenarios_errored),
                warned: count(Status::Warned),
                covered: mine
                    .iter()
                    .filter(|q| {
                        matches!(q.status, Status::Passed | Status::Warned | Status::Failed)
                    })
                    .count()
                    + scenarios_ran,
            }
        })
        .collect()
}

/// The statements on one line: `core: pass · task-based: 1 failure · notified-pull: not claimed`.
pub fn conformance_line(statements: &[OptionStatement]) -> String {
    statements
        .iter()
        .map(|s| format!("{}: {}", s.option, s.words()))
        .collect::<Vec<_>>()
        .join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(
        claimed: bool,
        failed: usize,
        errored: usize,
        warned: usize,
        covered: usize,
    ) -> OptionStatement {
        OptionStatement {
            option: "task-based".into(),
            claimed,
            failed,
            errored,
            warned,
            covered,
        }
    }

    #[test]
    fn statements_in_words() {
        assert_eq!(statement(false, 3, 0, 0, 3).words(), "not claimed");
        assert_eq!(statement(true, 1, 0, 0, 3).words(), "1 failure");
        assert_eq!(statement(true, 2, 1, 4, 3).words(), "2 failures, 1 errored");
        assert_eq!(statement(true, 0, 0, 3, 3).words(), "pass, 3 warnings");
        assert_eq!(statement(true, 0, 0, 0, 3).words(), "pass");
        assert_eq!(statement(true, 0, 0, 0, 0).words(), "not tested");
        assert_eq!(statement(true, 0, 0, 0, 0).status(), Status::NotRun);
        assert_eq!(statement(false, 0, 0, 0, 0).status(), Status::NotApplicable);
    }
}
