//! The scenario language: the YAML a scenario author writes, as Rust types.
//!
//! Documented for authors in `docs/scenarios.md`. Every struct refuses unknown keys so a typo
//! is reported (with file, line and column) instead of silently ignored.

use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// One scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioDef {
    /// Stable, unique id (used in reports, JUnit names and `--scenario` patterns).
    pub id: Spanned<String>,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The CDex actor under test (a name from the catalog's `actors`).
    pub actor: Spanned<String>,
    /// The role the harness plays; defaults to the actor's counterpart in the catalog.
    #[serde(default)]
    pub plays: Option<Spanned<String>>,
    /// Options such as `task-based`.
    #[serde(default)]
    pub options: Vec<String>,
    /// Variables with their default values; `--var` and the config file override them.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Conditions the system under test must meet for the scenario to apply to it; when one
    /// does not hold, the scenario is reported not applicable, with its reason.
    #[serde(default)]
    pub requires: Vec<RequireDef>,
    /// Run alone: no other scenario at the same time (`run --jobs`); the pack's
    /// `serial:` when absent.
    #[serde(default)]
    pub serial: Option<Serial>,
    /// Names of what the scenario uses exclusively on the system under test (a fixed resource
    /// id, a count of what a search finds): scenarios sharing a name never overlap.
    #[serde(default)]
    pub locks: Vec<Spanned<String>>,
    pub steps: Vec<Spanned<StepDef>>,
}

/// `serial:` `true` or `false`, nothing else. YAML 1.1 spellings (`yes`, `on`) and quoted
/// text are refused with the key named, instead of being read as one or the other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Serial(pub bool);

impl<'de> Deserialize<'de> for Serial {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Strict;
        impl serde::de::Visitor<'_> for Strict {
            type Value = bool;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`serial: true` or `serial: false`")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<bool, E> {
                Ok(v)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<bool, E> {
                Err(E::custom(format!(
                    "`serial` takes true or false (unquoted), not the text `{v}`"
                )))
            }
        }
        d.deserialize_any(Strict).map(Serial)
    }
}

/// `requires:` one condition on a variable (rendered): its value must not be one of `not`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequireDef {
    pub var: String,
    /// Values that mean the condition cannot hold (e.g. `none`).
    pub not: Vec<String>,
    /// Why the scenario does not apply then (templated), for the report.
    pub otherwise: String,
}

/// `capability_vars:` how a variable the user did not set is chosen from the server under
/// test's CapabilityStatement.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityVarDef {
    /// The first of these resource types that the CapabilityStatement does not list.
    pub first_type_not_listed: Vec<String>,
    /// The value when it lists them all.
    pub otherwise: String,
}

/// One step. Exactly one of `send`, `expect`, `poll`, `serve`, `timeline` is given.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDef {
    pub id: Option<String>,
    pub title: Option<String>,
    /// Steps that must have passed for this one to run.
    #[serde(default)]
    pub needs: Vec<String>,
    pub send: Option<SendDef>,
    pub expect: Option<ExpectDef>,
    pub poll: Option<PollDef>,
    pub serve: Option<ServeDef>,
    /// Script the Task the harness's endpoint serves (the harness plays a server for a
    /// client under test): status changes its Handler applies over time.
    pub timeline: Option<TimelineDef>,
    /// For `expect`: answer the awaited request with this instead of the reference actor's
    /// answer (to play a counterpart that says no, for example).
    pub respond: Option<RespondDef>,
    /// Values to take from the exchange for later steps: `{{name}}`.
    #[serde(default)]
    pub capture: BTreeMap<String, CaptureDef>,
    #[serde(default, rename = "assert")]
    pub asserts: Vec<Spanned<AssertDef>>,
}

/// An HTTP request the harness sends to the system under test.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendDef {
    pub method: String,
    /// Path relative to the target's FHIR base, query included (`Condition`,
    /// `Condition?patient={{patient_id}}`), or an absolute `http(s)://` URL (a captured
    /// `Location`, for instance).
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Default headers (from the pack, the config file or `--header`) to leave out.
    #[serde(default)]
    pub omit_headers: Vec<String>,
    pub body: Option<BodyDef>,
    /// Sign a Bundle or QuestionnaireResponse inside the (JSON) body before sending, with the
    /// harness's test PKI.
    pub sign: Option<SignDef>,
}

/// `send.sign:` which resource of the body to sign, and how (deliberately bad for negative
/// tests).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignDef {
    /// A JSON Pointer into the body (`/parameter/3/part/1/resource`); "" or absent: the body.
    #[serde(default)]
    pub at: String,
    /// `valid` (default), `expired`, `wrong-san`, `no-digital-signature`, `untrusted`, `no-san`.
    pub cert: Option<String>,
    /// Alter the content after signing.
    #[serde(default)]
    pub tamper: bool,
    /// Header or element faults (`sigT`, `srCms`, `kty`, `alg`, `x5c-base64url`, ...).
    #[serde(default)]
    pub mismatch: Vec<String>,
    /// `Signature.who` (a Reference with identifier and display); the certificate's SAN is made
    /// to match its `identifier.value`. Default: NPI 9941339108.
    pub who: Option<serde_json::Value>,
}

/// A request body or served resource: a fixture file, inline JSON, or text. Fixtures and
/// text are rendered as handlebars templates with the scenario's variables.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyDef {
    /// Path of a JSON file, relative to the scenario's folder; it may not leave the pack.
    pub fixture: Option<Spanned<String>>,
    pub json: Option<serde_json::Value>,
    pub text: Option<String>,
    /// `send` only: replace one string of the (JSON) body with the base64 of that many
    /// generated bytes, streamed (a large attachment without holding it in memory).
    pub grow: Option<GrowDef>,
}

/// `grow:` which string of the rendered body to grow, and to how many (raw) bytes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrowDef {
    /// A JSON Pointer to a string in the rendered body (`/parameter/3/part/1/resource/content/0/attachment/data`).
    pub at: String,
    /// How many bytes to generate (templated): `110000000`, `{{max_payload}}`, `100MB`, `64KiB`.
    pub bytes: String,
}

/// Wait for the client under test to send a request to the harness's mock server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectDef {
    /// The CDEX_ACTION the client under test is asked to perform (see `docs/actions.md`).
    pub action: String,
    /// What a person testing by hand is asked to do, in words (templated); the action's name
    /// when absent.
    pub prompt: Option<String>,
    /// Extra parameters for the action, given to a trigger as `CDEX_<NAME>` variables.
    #[serde(default, rename = "with")]
    pub with_: BTreeMap<String, String>,
    /// A suggested payload for the action, written to a file named by `CDEX_PAYLOAD_FILE`.
    pub payload: Option<BodyDef>,
    /// The request awaited: method (any when absent).
    pub method: Option<String>,
    /// The request awaited: a path pattern relative to the base, `*` matching one segment.
    pub path: Option<String>,
    /// How long to wait, e.g. `10s`, `500ms`; defaults to `--timeout`.
    pub within: Option<String>,
    /// The harness makes the event happen itself with this request to the server under test
    /// (it is that server's client); only when the server refuses it (not 2xx) is the system
    /// asked to act through `action`.
    pub cause: Option<SendDef>,
    /// When the awaited request never comes, read this (a GET path on the server under test)
    /// and say what it shows, to explain why.
    pub if_missing: Option<IfMissingDef>,
    /// Take only a request that arrives once this step has begun (not one the system sent
    /// earlier on its own, such as a Subscription's handshake).
    #[serde(default)]
    pub only_new: bool,
}

/// `if_missing:` what to read on the server under test to explain a request that never came.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IfMissingDef {
    /// Path relative to the server's FHIR base (templated), e.g. `Subscription/{{id}}`.
    pub read: String,
    /// FHIRPath over what it returns, e.g. `status`.
    pub show: String,
}

/// Repeat a request until a condition holds or time runs out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollDef {
    pub send: SendDef,
    /// The condition, given as assertions on the response; all must hold.
    pub until: Vec<AssertDef>,
    /// Interval between attempts, default `200ms`.
    pub every: Option<String>,
    /// A polling schedule instead of `every` (durations divided by `--time-scale`).
    pub schedule: Option<ScheduleDef>,
    /// Give up after this long (real time, not scaled); defaults to `--timeout`.
    pub within: Option<String>,
    /// What a person must do on the system under test for the condition to hold (templated),
    /// shown as for a manual wait; the poll still ends by itself when the condition holds.
    pub prompt: Option<String>,
}

/// A polling schedule: the first attempt after `first_after`, then one every `every` until
/// `for` has passed since the start, then one every `then_every`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDef {
    pub first_after: Option<String>,
    pub every: Option<String>,
    #[serde(rename = "for")]
    pub for_: Option<String>,
    pub then_every: Option<String>,
}

/// `timeline:` the status changes of one Task the harness's endpoint serves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineDef {
    /// `next` (the next Task the client creates; the default) or `Task/ID` (templated).
    pub task: Option<String>,
    pub changes: Vec<Spanned<TimelineChangeDef>>,
}

/// One status change of a `timeline`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineChangeDef {
    /// The new Task.status.
    pub status: String,
    /// Applied once the client has read the Task this many more times.
    pub after_polls: Option<u32>,
    /// Applied this long after the previous change (divided by `--time-scale`).
    pub after: Option<String>,
    /// Task.output (templated JSON).
    pub output: Option<serde_json::Value>,
    /// Task.statusReason (templated JSON).
    #[serde(rename = "statusReason")]
    pub status_reason: Option<serde_json::Value>,
    /// Task.businessStatus (templated JSON).
    #[serde(rename = "businessStatus")]
    pub business_status: Option<serde_json::Value>,
    /// Resources contained in the Task (templated JSON list).
    pub contained: Option<serde_json::Value>,
}

/// Put resources on the harness's mock server for the client under test to pull.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeDef {
    pub resources: Vec<BodyDef>,
}

/// A canned answer to the awaited request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RespondDef {
    pub status: u16,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<BodyDef>,
}

/// Where a captured value comes from; `regex` (first group, or whole match) refines it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureDef {
    pub header: Option<String>,
    pub fhirpath: Option<String>,
    /// The whole body as text.
    #[serde(default)]
    pub body: bool,
    pub regex: Option<String>,
    /// Read from the request the client sent (default in `expect` steps) or the response.
    pub on: Option<Target>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Request,
    Response,
}

impl Target {
    /// As a scenario writes it (`on: request`).
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Request => "request",
            Target::Response => "response",
        }
    }
}

/// One check. Exactly one of the kind keys (`status`, `header`, `resource`, `fhirpath`,
/// `profile`, `method`, `path`, `json`, `received`, `task_states`, `poll_schedule`,
/// `attachment`) is given.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssertDef {
    /// The requirement this check proves (an id of the catalog).
    pub req: Option<Spanned<String>>,
    /// Override the severity the requirement's verb implies: `required`, `recommended`,
    /// `optional`.
    pub severity: Option<String>,
    /// Which message to check: the response (default in `send`/`poll`) or the request the
    /// client under test sent (default in `expect`).
    pub on: Option<Target>,
    /// A short human description shown in reports instead of the generated one.
    pub title: Option<String>,
    /// One line telling a developer the likely fix when the check fails (shown next to the
    /// failure in the reports' "What failed" list).
    pub hint: Option<String>,

    /// Status code: `201`, a class `2xx`/`4xx`, or a list of either.
    pub status: Option<StatusSpec>,
    /// Header name; refine with `equals`, `contains`, `matches`, or `absent: true`.
    pub header: Option<String>,
    /// The body is a FHIR resource of this type (`Bundle`, `OperationOutcome`...).
    pub resource: Option<String>,
    /// A FHIRPath expression over the body that must be true (or yield a non-empty
    /// collection whose members are all true).
    pub fhirpath: Option<String>,
    /// The body conforms to this profile (canonical URL or short name).
    pub profile: Option<String>,
    /// The request used this HTTP method.
    pub method: Option<String>,
    /// The request path (relative to the base) matches this pattern, `*` matching a segment.
    pub path: Option<String>,
    /// The body is well-formed JSON (`json: true`).
    pub json: Option<bool>,
    /// In an `expect` step: `received: false`, the awaited request must *not* arrive (the
    /// step waits its `within`, or until an in-process peer has finished acting).
    pub received: Option<bool>,
    /// The versions of one Task observed in the scenario so far: every status in the HRex
    /// Task Status value set, the last one among `reaches`.
    pub task_states: Option<TaskStatesDef>,
    /// The times the client under test sent matching requests in the scenario follow a
    /// schedule (no earlier, no more often).
    pub poll_schedule: Option<PollScheduleDef>,
    /// FHIRPath over the body selecting FHIR Attachments: each carries valid base64 `data`
    /// decoding to what its `contentType` says, `size`/`hash` match, a `url` is absolute.
    pub attachment: Option<String>,
    /// The digital signature of the body (or of the Bundle/QuestionnaireResponse `at` selects)
    /// verifies under the run's rules and trust anchors; with `step:` only that verifier step
    /// is judged.
    pub signature: Option<SignatureCheckDef>,

    pub equals: Option<String>,
    pub contains: Option<String>,
    pub matches: Option<String>,
    #[serde(default)]
    pub absent: bool,

    /// Check only a response whose status is one of these (codes or classes); any other
    /// status leaves the check passed, with a note (e.g. "nothing of patient B" applies to a
    /// search that was answered, not to one that was refused).
    pub when_status: Option<StatusSpec>,
}

/// `signature:` where the signed resource is, and which verifier step to judge.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureCheckDef {
    /// A FHIRPath selecting the signed Bundle(s) or QuestionnaireResponse(s); default: the
    /// body. Every selected resource is checked.
    pub at: Option<String>,
    /// One verifier step (`parse`, `alg`, `kty`, `x5c`, `sigT`, `srCms`, `sigFormat`,
    /// `targetFormat`, `canonical`, `signature`, `validity`, `key-usage`, `san`, `trust`);
    /// absent: the whole verification.
    pub step: Option<String>,
}

/// `task_states:` which Task, and the statuses it must end in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskStatesDef {
    /// The Task's id (templated): `abc`, `Task/abc` or a URL ending in it.
    pub id: String,
    /// The last observed status must be one of these (any when absent).
    #[serde(default)]
    pub reaches: Vec<String>,
}

/// `poll_schedule:` which requests, measured from when, on which schedule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollScheduleDef {
    /// Method of the requests (default GET).
    pub method: Option<String>,
    /// Path pattern of the requests (templated), `*` matching one segment.
    pub path: String,
    /// Measure from the request this step took (default: the request that created a Task).
    pub from: Option<String>,
    pub first_after: Option<String>,
    pub every: Option<String>,
    #[serde(rename = "for")]
    pub for_: Option<String>,
    pub then_every: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StatusSpec {
    One(StatusItem),
    Many(Vec<StatusItem>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StatusItem {
    Code(u16),
    Class(String),
}

/// `scenarios/PACK/pack.yaml`: settings shared by every scenario of a pack.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackDef {
    /// Default variables for every scenario.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Names of variables whose values are secrets: redacted from every report and log.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Headers sent with every request (templated), e.g. `Authorization: Bearer {{token}}`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Settings of the built-in reference actors, by actor name (templated values).
    #[serde(default)]
    pub reference: BTreeMap<String, serde_json::Value>,
    /// Variables chosen from the server's CapabilityStatement when not set from outside.
    #[serde(default)]
    pub capability_vars: BTreeMap<String, CapabilityVarDef>,
    /// Values of some `vars` that apply only when the run is against the built-in reference
    /// actors (no `--target`): over the pack's `vars`, under the scenario's, the config's and
    /// `--var`. Each name must also be in `vars` (its default for a real system).
    #[serde(default)]
    pub reference_vars: BTreeMap<String, String>,
    /// Every scenario runs alone (`run --jobs`) unless it says `serial: false`.
    #[serde(default)]
    pub serial: Option<Serial>,
    /// Lock names every scenario of the pack holds, besides its own `locks:`.
    #[serde(default)]
    pub locks: Vec<String>,
}
