//! Scenarios: the YAML language ([`model`]), its loader and checks ([`load`]), variables and
//! templates ([`template`]), and the checked form the runner executes (this module).

pub mod diagnostic;
pub mod external;
pub mod load;
pub mod model;
pub mod template;

use crate::results::Severity;
use regex::Regex;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub use load::load_pack;
pub use model::Target;

/// A loaded, checked scenario pack.
#[derive(Debug, Clone, Default)]
pub struct Pack {
    /// The pack's folder.
    pub root: PathBuf,
    /// Variables every scenario starts with (pack defaults).
    pub vars: BTreeMap<String, String>,
    /// Names of variables holding secrets.
    pub secrets: Vec<String>,
    /// Headers sent with every request (templates).
    pub headers: BTreeMap<String, String>,
    /// Reference actor settings, by actor name (templated JSON).
    pub reference: BTreeMap<String, serde_json::Value>,
    /// Variables chosen from the server's CapabilityStatement when not set from outside.
    pub capability_vars: BTreeMap<String, model::CapabilityVarDef>,
    /// Values of some variables for runs against the built-in reference actors only.
    pub reference_vars: BTreeMap<String, String>,
    pub scenarios: Vec<Scenario>,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    /// File, relative to the pack root.
    pub file: String,
    pub actor: String,
    pub plays: String,
    pub options: Vec<String>,
    pub vars: BTreeMap<String, String>,
    /// Conditions for the scenario to apply (see [`model::RequireDef`]).
    pub requires: Vec<model::RequireDef>,
    /// What it may not share with scenarios running at the same time (`run --jobs`).
    pub concurrency: Concurrency,
    pub steps: Vec<Step>,
}

/// `serial:` and `locks:` of a scenario (its pack's defaults included): what a run with
/// several scenarios at once (`run --jobs`) must not overlap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Concurrency {
    /// Runs alone: nothing else at the same time.
    pub serial: bool,
    /// Scenarios sharing one of these names never overlap.
    pub locks: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub title: String,
    /// Steps that must have passed for this one to run (explicit `needs`).
    pub needs: Vec<String>,
    /// Variables this step uses that earlier steps capture: (variable, capturing step).
    pub uses_captures: Vec<(String, String)>,
    pub kind: StepKind,
    pub respond: Option<Respond>,
    pub captures: Vec<Capture>,
    pub asserts: Vec<Assertion>,
}

#[derive(Debug, Clone)]
pub enum StepKind {
    Send(Request),
    Expect(Expect),
    Poll(Poll),
    Serve(Vec<Body>),
    Timeline(Timeline),
    /// No exchange: only [`AssertKind::External`] checks, over what earlier steps
    /// exchanged (a TestScript assert that follows another assert, not an operation).
    Checks,
}

impl StepKind {
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Send(_) => "send",
            StepKind::Expect(_) => "expect",
            StepKind::Poll(_) => "poll",
            StepKind::Serve(_) => "serve",
            StepKind::Timeline(_) => "timeline",
            StepKind::Checks => "checks",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub omit_headers: Vec<String>,
    pub body: Option<Body>,
    /// `sign:` sign a resource inside the body before sending.
    pub sign: Option<SignSpec>,
    /// `body.grow`: one string of the JSON body grown to the base64 of many bytes, streamed.
    pub grow: Option<Grow>,
}

/// `send.sign:` checked.
#[derive(Debug, Clone)]
pub struct SignSpec {
    /// JSON Pointer into the body ("" = the body).
    pub at: String,
    pub cert: crate::fhir::signature::CertKind,
    pub tamper: bool,
    pub mismatch: Vec<String>,
    pub who: Option<serde_json::Value>,
}

/// `send.body.grow`, as written (templates rendered when the step runs).
#[derive(Debug, Clone)]
pub struct Grow {
    /// JSON Pointer (template) to a string of the rendered body.
    pub at: String,
    /// Number of raw bytes (template), units allowed (`100MB`).
    pub bytes: String,
}

/// A body template: JSON (from a fixture or inline, rendered value by value) or text.
#[derive(Debug, Clone)]
pub enum Body {
    Json(serde_json::Value),
    Text(String),
}

#[derive(Debug, Clone)]
pub struct Expect {
    pub action: String,
    pub prompt: Option<String>,
    /// The request by which the harness makes the event happen itself, if any.
    pub cause: Option<Box<Request>>,
    /// What to read to explain a request that never came: (path, FHIRPath).
    pub if_missing: Option<(String, String)>,
    /// Only a request arriving once the step has begun is the awaited one.
    pub only_new: bool,
    pub with: BTreeMap<String, String>,
    pub payload: Option<Body>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub within: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct Poll {
    pub request: Request,
    pub until: Vec<Assertion>,
    /// Interval between attempts (when there is no `schedule`).
    pub every: Duration,
    /// A schedule in the pack's time (divided by the run's time scale) instead of `every`.
    pub schedule: Option<Schedule>,
    pub within: Option<Duration>,
    /// What a person must do for the condition to hold (template).
    pub prompt: Option<String>,
}

/// A polling schedule in the pack's time: the run divides it by its time scale.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schedule {
    pub first_after: Option<Duration>,
    pub every: Option<Duration>,
    /// How long `every` applies, from the start; `then_every` after that.
    pub for_: Option<Duration>,
    pub then_every: Option<Duration>,
}

impl Schedule {
    /// The same schedule with every duration divided by `scale` (a run's `--time-scale`).
    pub fn scaled(&self, scale: f64) -> Schedule {
        let f = |d: Option<Duration>| d.map(|d| scale_duration(d, scale));
        Schedule {
            first_after: f(self.first_after),
            every: f(self.every),
            for_: f(self.for_),
            then_every: f(self.then_every),
        }
    }

    /// The interval to wait after an attempt made `elapsed` after the start.
    pub fn interval_after(&self, elapsed: Duration) -> Option<Duration> {
        match (self.for_, self.then_every) {
            (Some(f), Some(then)) if elapsed >= f => Some(then),
            _ => self.every.or(self.then_every),
        }
    }
}

/// `d` divided by a time scale (a scale that is not a positive number leaves it as is).
pub fn scale_duration(d: Duration, scale: f64) -> Duration {
    if scale.is_finite() && scale > 0.0 {
        Duration::from_secs_f64(d.as_secs_f64() / scale)
    } else {
        d
    }
}

/// `timeline:` the script handed to the harness endpoint's Handler.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// `{"task": ..., "changes": [...]}` as a JSON template (rendered when the step runs,
    /// then given `time_scale`).
    pub script: serde_json::Value,
}

/// The name under which a `timeline` step's script is handed to the Handler.
pub const TIMELINE_SCRIPT: &str = "task-timeline";

#[derive(Debug, Clone)]
pub struct Respond {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Body>,
}

#[derive(Debug, Clone)]
pub struct Capture {
    pub name: String,
    pub source: CaptureSource,
    pub regex: Option<Regex>,
    pub on: Target,
}

#[derive(Debug, Clone)]
pub enum CaptureSource {
    Header(String),
    FhirPath(String),
    Body,
}

#[derive(Debug, Clone)]
pub struct Assertion {
    pub kind: AssertKind,
    pub requirement: Option<String>,
    pub severity: Severity,
    /// The severity under `--strict`: differs from `severity` only for an assertion that
    /// proves a reading with its default severity (recommended, required when strict).
    pub strict_severity: Severity,
    pub on: Target,
    pub title: Option<String>,
    /// The likely fix when the check fails, in one line (`hint:`).
    pub hint: Option<String>,
    /// The rule set of the requirement it proves (catalog `since:`), when the catalog has
    /// several: under an earlier rule set (`--rules`) a failure only warns.
    pub since: Option<String>,
    /// Check only responses with one of these statuses (`when_status:`); empty: always.
    pub when_status: Vec<std::ops::RangeInclusive<u16>>,
}

impl Scenario {
    /// The scenario as a `--strict` run checks it: every assertion carries its strict
    /// severity (a reading is enforced as its verb says).
    pub fn strict(&self) -> Scenario {
        let mut sc = self.clone();
        for st in &mut sc.steps {
            for a in &mut st.asserts {
                a.severity = a.strict_severity;
            }
        }
        sc
    }

    /// The scenario as a run under these rule sets checks it: a check of a requirement from
    /// a later rule set is at most recommended (a warning).
    pub fn under_rules(&self, in_force: &[String]) -> Scenario {
        let mut sc = self.clone();
        for st in &mut sc.steps {
            for a in &mut st.asserts {
                if let Some(since) = &a.since
                    && !in_force.contains(since)
                    && a.severity == Severity::Required
                {
                    a.severity = Severity::Recommended;
                }
            }
        }
        sc
    }
}

#[derive(Debug, Clone)]
pub enum AssertKind {
    /// Accepted status codes and classes (`2xx` stored as 200..=299).
    Status(Vec<std::ops::RangeInclusive<u16>>),
    Header {
        name: String,
        check: TextCheck,
    },
    Resource(String),
    FhirPath(String),
    Profile(String),
    Method(String),
    Path(String),
    Json,
    /// `received: false`: the request an `expect` step describes must not arrive.
    NotReceived,
    /// The versions of one Task the scenario observed (id template; statuses it must reach).
    TaskStates {
        id: String,
        reaches: Vec<String>,
    },
    /// The times of the client under test's matching requests follow a schedule.
    PollSchedule(PollScheduleSpec),
    /// The FHIR Attachments a FHIRPath expression (template) selects in the body carry what
    /// they say (`attachment:`).
    Attachment(String),
    /// The digital signature of the body, or of the resources a FHIRPath selects, verifies
    /// (or one verifier step passes).
    Signature {
        at: Option<String>,
        step: Option<crate::fhir::signature::Step>,
    },
    /// A check defined outside the scenario language (a TestScript assert, see
    /// `crate::testscript`): it sees the whole exchange and may set variables.
    External(external::ExternalCheck),
}

/// `poll_schedule:` checked.
#[derive(Debug, Clone)]
pub struct PollScheduleSpec {
    pub method: String,
    /// Path pattern (template).
    pub path: String,
    /// The step whose request is the anchor; the request that created a Task when absent.
    pub from: Option<String>,
    /// In the pack's time (divided by the run's time scale when checked).
    pub schedule: Schedule,
}

impl AssertKind {
    pub fn name(&self) -> &'static str {
        match self {
            AssertKind::Status(_) => "status",
            AssertKind::Header { .. } => "header",
            AssertKind::Resource(_) => "resource",
            AssertKind::FhirPath(_) => "fhirpath",
            AssertKind::Profile(_) => "profile",
            AssertKind::Method(_) => "method",
            AssertKind::Path(_) => "path",
            AssertKind::Json => "json",
            AssertKind::NotReceived => "received",
            AssertKind::TaskStates { .. } => "task_states",
            AssertKind::PollSchedule(_) => "poll_schedule",
            AssertKind::Attachment(_) => "attachment",
            AssertKind::Signature { .. } => "signature",
            AssertKind::External(c) => c.0.kind(),
        }
    }

    /// Kinds that look at everything the scenario exchanged so far, not at one message.
    pub fn is_scenario_wide(&self) -> bool {
        matches!(
            self,
            AssertKind::TaskStates { .. } | AssertKind::PollSchedule(_)
        )
    }
}

#[derive(Debug, Clone)]
pub enum TextCheck {
    Present,
    Absent,
    Equals(String),
    Contains(String),
    Matches(String),
}

/// Built-in variables every scenario can use without declaring them.
pub const BUILTIN_VARS: &[(&str, &str)] = &[
    (
        "base_url",
        "the FHIR base URL of the system under test, or of the harness's mock server",
    ),
    (
        "target_url",
        "the FHIR base URL of the system under test (--target), empty when none was given",
    ),
    (
        "harness_url",
        "the FHIR base URL of the harness's own endpoint (mock server) when it runs one",
    ),
    (
        "run_id",
        "a value unique to this run, for identifiers that must not collide across runs",
    ),
    ("scenario_id", "the id of the running scenario"),
    (
        "time_scale",
        "how many times faster the pack's clocks run (--time-scale, default 1)",
    ),
];

/// The HRex Task Status value set (a required binding of the Task profiles HRex and CDex
/// use): the statuses `task_states` and `timeline` accept.
pub const TASK_STATUSES: &[&str] = &[
    "requested",
    "accepted",
    "rejected",
    "in-progress",
    "on-hold",
    "failed",
    "completed",
];

/// The canonical URL of that value set, named when a status falls outside it.
pub const TASK_STATUS_VALUE_SET: &str =
    "http://hl7.org/fhir/us/davinci-hrex/ValueSet/hrex-task-status";
