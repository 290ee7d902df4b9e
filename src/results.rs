//! The results model: what a run produced, and the only thing reports read.
//!
//! Data flows one way: scenario -> runner -> [`RunResults`] -> reports. Everything here is
//! plain data, serialisable to the documented `results.json` (see `docs/results-json.md`).
//! Secrets are redacted before anything is stored here.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the `results.json` layout. Bumped on any incompatible change.
pub const RESULTS_SCHEMA_VERSION: u32 = 1;

/// Outcome of an assertion, a step or a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Every required check held.
    Passed,
    /// Only recommended (SHOULD) checks failed.
    Warned,
    /// A required (SHALL) check failed: the system under test did not conform.
    Failed,
    /// The harness could not carry the exchange out (refused connection, garbage it could
    /// not interpret, a problem in the harness itself): no verdict on conformance.
    Errored,
    /// Not run because something it depends on did not succeed.
    Skipped,
    /// Not run because the run was interrupted before reaching it.
    NotRun,
    /// Not run because it tests an option the system under test does not claim, or a
    /// condition that cannot hold for it (a type it permits after all): no verdict.
    NotApplicable,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Warned => "warned",
            Status::Failed => "failed",
            Status::Errored => "errored",
            Status::Skipped => "skipped",
            Status::NotRun => "not-run",
            Status::NotApplicable => "not-applicable",
        }
    }

    /// True when this outcome makes the CI verdict fail.
    pub fn is_blocking(self) -> bool {
        matches!(self, Status::Failed | Status::Errored)
    }

    /// Combine two outcomes of parts into the outcome of the whole: the worst one wins.
    pub fn worst(self, other: Status) -> Status {
        fn rank(s: Status) -> u8 {
            match s {
                Status::Passed => 0,
                Status::NotApplicable => 0,
                Status::Skipped => 1,
                Status::NotRun => 2,
                Status::Warned => 3,
                Status::Failed => 4,
                Status::Errored => 5,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// How much a failed assertion matters, derived from the requirement's conformance verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// SHALL: a failure fails the scenario and the run.
    Required,
    /// SHOULD: a failure is a warning.
    Recommended,
    /// MAY / informational: reported, never fails.
    Optional,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Required => "required",
            Severity::Recommended => "recommended",
            Severity::Optional => "optional",
        }
    }
}

/// The whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResults {
    pub schema_version: u32,
    pub tool: ToolInfo,
    /// Identifies the run (its start time and process id); carried-over results name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// What was run, so that `run --resume` can tell a run of the same thing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<RunSetup>,
    /// RFC 3339 start time.
    pub started_at: String,
    pub duration_ms: f64,
    /// What was tested: the reference actors, a server URL, or a listening mock server.
    pub target: String,
    /// True when the run was stopped (Ctrl-C, SIGTERM) before every scenario ran.
    pub interrupted: bool,
    /// The options the system under test claimed (`--option`): their scenarios ran.
    #[serde(default)]
    pub options: Vec<String>,
    /// What the harness noticed about the system under test before the scenarios (its
    /// CapabilityStatement's hints, variables chosen from it, a server that did not answer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub summary: Summary,
    pub scenarios: Vec<ScenarioResult>,
    /// The requirements matrix: each catalog requirement, the assertions that bear on it and
    /// their combined outcome.
    pub requirements: Vec<RequirementResult>,
}

/// What a run was a run of: `run --resume` carries results over only between runs of the
/// same setup (and the same `options`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSetup {
    /// The scenario pack (`--pack`), or the scenario folder given with `--scenarios`.
    pub pack: String,
    /// The actor selected with `--actor`; `None`: every actor of the pack.
    pub actor: Option<String>,
    /// The system under test: `reference` (the built-in reference actors, with faults or
    /// not), the server's base URL (`--target`), or `client` (a client under test).
    pub sut: String,
    /// The rule sets judged by (`--rules` and the ones before it); empty: every requirement
    /// as its verb says.
    pub rules: Vec<String>,
    /// `--strict`: readings enforced as their verb says.
    pub strict: bool,
    /// `--partition I/N`: this run is shard I of N of the selection (`merge` combines the
    /// shards); absent: the whole selection. Not compared by `run --resume`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
}

/// Where a carried-over scenario result comes from: the run that produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumedFrom {
    pub run_id: String,
    /// RFC 3339 time that run ended (or its last checkpoint was written).
    pub finished_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub scenarios: usize,
    pub passed: usize,
    pub warned: usize,
    pub failed: usize,
    pub errored: usize,
    pub skipped: usize,
    pub not_run: usize,
    /// Scenarios of options the system does not claim, or whose condition cannot hold.
    #[serde(default)]
    pub not_applicable: usize,
    pub assertions: usize,
    pub assertions_failed: usize,
    pub assertions_warned: usize,
    pub requirements: usize,
    pub requirements_covered: usize,
    pub requirements_failed: usize,
    /// Scenarios whose result was carried over from an earlier run (`run --resume`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub carried_over: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Summary {
    /// The overall verdict used for the exit code.
    pub fn is_success(&self) -> bool {
        self.failed == 0 && self.errored == 0
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub id: String,
    pub title: String,
    /// Scenario file, relative to the scenario pack.
    pub file: String,
    /// The actor under test.
    pub actor: String,
    /// The role the harness played.
    pub plays: String,
    pub options: Vec<String>,
    pub status: Status,
    pub duration_ms: f64,
    /// Why the scenario as a whole did not run or could not finish, if so.
    pub message: Option<String>,
    pub steps: Vec<StepResult>,
    /// Set when this result was carried over from an earlier run (`run --resume`) instead of
    /// being produced by this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<ResumedFrom>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepResult {
    pub id: String,
    pub title: String,
    /// `send`, `expect`, `poll` or `serve`.
    pub kind: String,
    pub status: Status,
    pub duration_ms: f64,
    /// Why the step was skipped or errored, or what never arrived.
    pub message: Option<String>,
    pub exchanges: Vec<Exchange>,
    /// Requests the system under test sent during this step besides the awaited one (a
    /// metadata read, a search before a read, a retry): shown, never checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_received: Vec<Exchange>,
    pub assertions: Vec<AssertionResult>,
    /// Values captured by this step (secrets redacted).
    pub captures: BTreeMap<String, String>,
}

/// One HTTP request and its response, as seen on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Exchange {
    /// `outgoing`: the harness sent it to the system under test; `incoming`: the system
    /// under test sent it to the harness's mock server.
    pub direction: Direction,
    /// RFC 3339 time the request started.
    pub at: String,
    pub duration_ms: f64,
    pub request: HttpMessage,
    pub response: Option<HttpMessage>,
    /// Transport-level failure (refused, reset, timed out, body too large...).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    Outgoing,
    Incoming,
}

/// A request (method and url set) or a response (status set).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HttpMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy UTF-8), possibly truncated for display; see `body_truncated`.
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub body_truncated: bool,
    /// A large body (or one refused unread) is not inlined: its size in bytes. `body` is then
    /// a short preview (text types) or absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_size: Option<u64>,
    /// SHA-256 of that body, lower-case hex (absent when it was not kept whole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<String>,
    /// Where that body was written, relative to the results folder (`bodies/NAME`); absent
    /// when it was not kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_file: Option<String>,
}

impl HttpMessage {
    /// First header of that name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssertionResult {
    /// Assertion kind: `status`, `header`, `resource`, `fhirpath`, `profile`, `method`,
    /// `path`, `json`, `received`.
    pub kind: String,
    /// What was checked, in words.
    pub description: String,
    /// The requirement this assertion proves, if any.
    pub requirement: Option<String>,
    pub severity: Severity,
    /// `passed`, `failed`, `warned` or `skipped`.
    pub status: Status,
    pub expected: Option<String>,
    pub actual: Option<String>,
    /// Why it failed, in words a developer can act on.
    pub message: Option<String>,
    /// The likely fix, in one line, when the check knows one (the scenario's `hint:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// A row of the requirements matrix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequirementResult {
    pub id: String,
    pub actor: String,
    pub verb: String,
    pub text: String,
    /// What the requirement rests on: `text`, `profile` or `reading` (a reading warns
    /// unless the run is `--strict`).
    pub basis: crate::catalog::Basis,
    pub source: String,
    /// The published page the requirement comes from.
    pub url: String,
    /// The option the requirement belongs to (catalog `option:`); `None`: core, every system
    /// of its actor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option: Option<String>,
    /// Combined outcome of every assertion that proves it in this run and ran; `skipped`
    /// when none ran, `not-applicable` when only scenarios of options the system does not
    /// claim prove it, `not-run` when no scenario of this run covers it.
    pub status: Status,
    /// Its actor is under test in this run and it applies (counted in the summary).
    #[serde(default)]
    pub in_scope: bool,
    /// Some of its checks ran and others were skipped: the evidence is partial.
    #[serde(default)]
    pub partial: bool,
    /// Why no black-box harness can test it (catalog `untestable:`): never in scope, never
    /// covered; listed apart in the reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub untestable: Option<String>,
    /// (scenario id, step id, assertion status) for each assertion that bears on it.
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evidence {
    pub scenario: String,
    pub step: String,
    pub status: Status,
}

impl RunResults {
    /// Recompute the summary counts from scenarios and requirements.
    pub fn summarize(&mut self) {
        let mut s = Summary {
            scenarios: self.scenarios.len(),
            requirements: self.requirements.iter().filter(|r| r.in_scope).count(),
            ..Summary::default()
        };
        for sc in &self.scenarios {
            if sc.resumed_from.is_some() {
                s.carried_over += 1;
            }
            match sc.status {
                Status::Passed => s.passed += 1,
                Status::Warned => s.warned += 1,
                Status::Failed => s.failed += 1,
                Status::Errored => s.errored += 1,
                Status::Skipped => s.skipped += 1,
                Status::NotRun => s.not_run += 1,
                Status::NotApplicable => s.not_applicable += 1,
            }
            for st in &sc.steps {
                for a in st
                    .assertions
                    .iter()
                    .filter(|a| a.status != Status::NotApplicable)
                {
                    s.assertions += 1;
                    match a.status {
                        Status::Failed => s.assertions_failed += 1,
                        Status::Warned => s.assertions_warned += 1,
                        _ => {}
                    }
                }
            }
        }
        for r in self.requirements.iter().filter(|r| r.in_scope) {
            // Covered: at least one of its checks ran.
            if matches!(r.status, Status::Passed | Status::Warned | Status::Failed) {
                s.requirements_covered += 1;
            }
            if r.status == Status::Failed {
                s.requirements_failed += 1;
            }
        }
        self.summary = s;
    }

    /// Process exit code: 0 when every required check passed, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.summary.is_success() && !self.interrupted {
            0
        } else {
            1
        }
    }
}
