//! What the runner is doing now, as events for a live display (the console's status line,
//! later a web console). The runner emits them; it never knows who listens.

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
    },
    /// The wait of this scenario is over (arrived, timed out, or the person answered).
    WaitEnded { scenario: String },
}

pub type ProgressCallback = Arc<dyn Fn(Progress) + Send + Sync>;
