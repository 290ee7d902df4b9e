//! Two runs of the same system side by side: what newly fails, what got fixed and what still
//! fails, by requirement and by scenario. "Fails" is what fails a run (failed or errored,
//! [`Status::is_blocking`]); the statuses come from each run's results as they are.

use crate::results::{RunResults, Status};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub id: String,
    /// The requirement's text or the scenario's title.
    pub text: String,
    pub before: Status,
    pub after: Status,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Changes {
    pub newly_failing: Vec<Row>,
    pub fixed: Vec<Row>,
    pub still_failing: Vec<Row>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub requirements: Changes,
    pub scenarios: Changes,
    /// How the two runs' setups differ (pack, actor, system, options, rules): a comparison of
    /// two different things says so.
    pub differences: Vec<String>,
}

fn changes(rows: BTreeMap<String, (String, Status, Status)>) -> Changes {
    let mut c = Changes::default();
    for (id, (text, before, after)) in rows {
        let row = Row {
            id,
            text,
            before,
            after,
        };
        match (before.is_blocking(), after.is_blocking()) {
            (false, true) => c.newly_failing.push(row),
            (true, false) => c.fixed.push(row),
            (true, true) => c.still_failing.push(row),
            (false, false) => {}
        }
    }
    c
}

/// `before` then `after`.
pub fn compare(before: &RunResults, after: &RunResults) -> Comparison {
    let mut reqs: BTreeMap<String, (String, Status, Status)> = BTreeMap::new();
    for r in before.requirements.iter().filter(|r| r.in_scope) {
        reqs.insert(r.id.clone(), (r.text.clone(), r.status, Status::NotRun));
    }
    for r in after.requirements.iter().filter(|r| r.in_scope) {
        reqs.entry(r.id.clone())
            .or_insert_with(|| (r.text.clone(), Status::NotRun, Status::NotRun))
            .2 = r.status;
    }
    let mut scen: BTreeMap<String, (String, Status, Status)> = BTreeMap::new();
    for s in &before.scenarios {
        scen.insert(s.id.clone(), (s.title.clone(), s.status, Status::NotRun));
    }
    for s in &after.scenarios {
        scen.entry(s.id.clone())
            .or_insert_with(|| (s.title.clone(), Status::NotRun, Status::NotRun))
            .2 = s.status;
    }
    let differences = match &after.setup {
        Some(setup) => crate::cli::resume::differences(before, setup, &after.options),
        None => vec!["the later run does not say what it was a run of".into()],
    };
    Comparison {
        requirements: changes(reqs),
        scenarios: changes(scen),
        differences,
    }
}
