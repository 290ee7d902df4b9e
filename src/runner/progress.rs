//! What the runner is doing now, as events for a live display (the console's status line,
//! the web console's live page). The runner emits them; it never knows who listens, and a
//! listener ignores what it does not need.

use crate::results::{Exchange, Status, StepResult};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub enum Progress {
    /// The run has begun (the preflight is done): what every report of it repeats.
    RunStarted(super::RunHeader),
    /// A scenario starts (`index` is its place in the run, from 1). With `--jobs`, several
    /// may be running at once, and they may start out of order (a lock they wait for).
    ScenarioStarted {
        index: usize,
        total: usize,
        id: String,
    },
    /// A step starts.
    StepStarted {
        scenario: String,
        step: String,
        title: String,
    },
    /// A step waits for the system under test (a request to arrive, a person to act).
    Waiting {
        scenario: String,
        step: String,
        /// What is awaited, in words.
        what: String,
        within: Duration,
        /// A person is to act (no `--trigger`): they may press Enter (done) or `s` (skip).
        manual: bool,
        /// What the person is to do, in words (redacted), when `manual`.
        instruction: Option<String>,
    },
    /// The wait of this scenario is over (arrived, timed out, or the person answered).
    WaitEnded { scenario: String },
    /// An exchange a step shows (its own, or one the system under test sent besides),
    /// redacted as in the reports; sent when the step ends, before [`Progress::StepFinished`].
    Exchange {
        scenario: String,
        step: String,
        exchange: Box<Exchange>,
    },
    /// A step ended (or was skipped): its result, with its assertions; its exchanges came
    /// as [`Progress::Exchange`] events, so `exchanges` and `also_received` are empty here.
    StepFinished {
        scenario: String,
        result: Box<StepResult>,
    },
    /// A scenario ended (ran, was carried over, or could not run).
    ScenarioFinished {
        id: String,
        status: Status,
        message: Option<String>,
    },
}

pub type ProgressCallback = Arc<dyn Fn(Progress) + Send + Sync>;

/// The events of a step that ended: each exchange it shows, then its result without them.
pub fn step_finished(scenario: &str, r: &StepResult) -> Vec<Progress> {
    let mut events: Vec<Progress> = r
        .exchanges
        .iter()
        .chain(r.also_received.iter())
        .map(|x| Progress::Exchange {
            scenario: scenario.to_string(),
            step: r.id.clone(),
            exchange: Box::new(x.clone()),
        })
        .collect();
    let result = StepResult {
        exchanges: Vec::new(),
        also_received: Vec::new(),
        assertions: r.assertions.clone(),
        captures: Default::default(),
        id: r.id.clone(),
        title: r.title.clone(),
        kind: r.kind.clone(),
        status: r.status,
        duration_ms: r.duration_ms,
        message: r.message.clone(),
    };
    events.push(Progress::StepFinished {
        scenario: scenario.to_string(),
        result: Box::new(result),
    });
    events
}
