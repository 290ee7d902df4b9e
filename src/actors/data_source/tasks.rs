//! Task-based data requests (CDex 2.1.0 task-based-approach.html): `POST Task` validated
//! against CDex Task Data Request, then the Task's life on the Data Source.
//!
//! Each Task has a plan: the status changes still to come. By default (a change on each read
//! of the Task, so a polling client sees every state) the plan follows the request:
//! - an unknown member or patient: `rejected` with a statusReason;
//! - a `data-query`: `accepted`, `in-progress`, then `completed` with an output referencing
//!   the results (a searchset Bundle on the server, or a contained `#results` one), or
//!   `failed` with a statusReason when the query finds nothing;
//! - a `data-code` with a coding (a LOINC document type): `completed` with a DocumentReference
//!   whose attachment carries the document (base64 PDF or C-CDA), or `failed`;
//! - a `data-code` with text only (free text): `completed` when it understands the text (a
//!   request for conditions), otherwise `failed` with a statusReason;
//! - a `questionnaire`: `completed` with a QuestionnaireResponse.
//!
//! A scenario's timeline (`Handler::script("task-timeline", ...)`) replaces the plan of the
//! next Task created, or of a named one. A change applies when its conditions hold: after N
//! more reads of the Task (`after_polls`) and/or some time after the previous change
//! (`after`, divided by the run's time scale; a background timer applies it, so subscribers
//! are notified without a read). Every change is a new version (`meta.versionId`,
//! `lastUpdated`, `_history`) and a notification to matching Subscriptions.

use super::dataset::CCDA_DOC_TYPE;
use super::{DataSource, capability::TASK_DATA_REQUEST, direct_query};
use crate::http::Message;
use crate::mock::{fhir_response, outcome};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const HREX_TEMP: &str = "http://hl7.org/fhir/us/davinci-hrex/CodeSystem/hrex-temp";
const SDC_TEMP: &str = "http://hl7.org/fhir/uv/sdc/CodeSystem/temp";

/// One status change to come.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub status: String,
    /// Reads of the Task since the previous change.
    pub after_polls: Option<u32>,
    /// Time since the previous change (already divided by the time scale).
    pub after: Option<Duration>,
    pub output: Option<Value>,
    pub status_reason: Option<Value>,
    pub business_status: Option<Value>,
    pub contained: Option<Value>,
    /// Resources put on the server when the change applies (the results).
    pub serve: Vec<Value>,
}

impl Change {
    fn on_read(status: &str) -> Change {
        Change {
            status: status.into(),
            after_polls: Some(1),
            ..Change::default()
        }
    }
}

struct TaskState {
    versions: Vec<Value>,
    plan: VecDeque<Change>,
    /// Reads since the last change.
    polls: u32,
    since: Instant,
    /// Bumped when the plan is replaced, so a stale timer does nothing.
    generation: u64,
}

#[derive(Default)]
struct Inner {
    tasks: BTreeMap<String, TaskState>,
    /// The timeline of the next Task created.
    next: Option<Vec<Change>>,
    next_id: u64,
}

/// Every Task of one Data Source.
#[derive(Default)]
pub struct Tasks(Mutex<Inner>);

impl Tasks {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current version of every Task.
    pub fn current_all(&self) -> Vec<Value> {
        self.lock()
            .tasks
            .values()
            .filter_map(|t| t.versions.last().cloned())
            .collect()
    }

    pub(crate) fn current(&self, id: &str) -> Option<Value> {
        self.lock()
            .tasks
            .get(id)
            .and_then(|t| t.versions.last().cloned())
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Errors of the Task against a CDex Task profile (structure, bindings, invariants).
pub(crate) fn profile_errors(task: &Value, profile: &'static str) -> Vec<String> {
    let task = task.clone();
    // The validator is async (FHIRPath invariants); the handler is not: a thread of its own.
    let run = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(crate::fhir::conformance::check(&task, profile))
    });
    match run.join() {
        Ok(Ok(issues)) => issues
            .into_iter()
            .filter(|i| i.severity == crate::fhir::validate::issue::Severity::Error)
            .map(|i| format!("{}: {}", i.location, i.message))
            .collect(),
        Ok(Err(e)) => vec![format!("the validator could not run: {e}")],
        Err(_) => vec!["the validator failed".into()],
    }
}

/// `POST Task`.
pub fn create(ds: &DataSource, req: &Message, base: &str) -> Message {
    if ds.fault("reject-task-create") {
        return outcome(405, "not-supported", "Task create is not supported");
    }
    let task = match crate::mock::pushed_resource(req, "Task") {
        Ok(t) => t,
        Err(m) => return *m,
    };
    // An attachment request (the Provider of the `attachments` option) is checked against its
    // own profile, with its own faults.
    let attachment =
        ds.settings.attachments && crate::actors::provider::request::is_attachment_request(&task);
    if attachment && let Some(refusal) = crate::actors::provider::admit::refusal(ds, &task) {
        return refusal;
    }
    if !ds.fault("accept-invalid-task") {
        let errors = if attachment {
            crate::actors::provider::admit::profile_errors(ds, &task)
        } else {
            profile_errors(&task, TASK_DATA_REQUEST)
        };
        let what = if attachment {
            "CDex Task Attachment Request"
        } else {
            "CDex Task Data Request"
        };
        if !errors.is_empty() {
            return fhir_response(
                422,
                &json!({
                    "resourceType": "OperationOutcome",
                    "issue": errors.iter().take(20).map(|e| json!({
                        "severity": "error", "code": "processing",
                        "diagnostics": format!("not a valid {what}: {e}")
                    })).collect::<Vec<_>>()
                }),
            );
        }
    }
    if ds.fault("reject-reason-reference") && task.get("reasonReference").is_some() {
        return outcome(422, "not-supported", "reasonReference is not supported");
    }
    if ds.fault("reject-unknown-extension") && task.get("extension").is_some() {
        return outcome(422, "not-supported", "extensions are not supported on Task");
    }
    let (stored, _) = store_new_notified(ds, task, base);
    let id = stored["id"].as_str().unwrap_or_default().to_string();
    let status = if ds.fault("create-200") { 200 } else { 201 };
    let mut m = fhir_response(status, &stored);
    if !ds.fault("no-location") {
        m.headers
            .push(("Location".into(), format!("{base}/Task/{id}/_history/1")));
    }
    m
}

/// Store a new Task (its plan: the scripted timeline of the next Task, or the default), and
/// notify; returns its id.
pub fn store_new(ds: &DataSource, task: Value, base: &str) -> String {
    let (stored, _) = store_new_notified(ds, task, base);
    stored["id"].as_str().unwrap_or_default().to_string()
}

/// [`store_new`], returning the stored Task and the notifications in flight.
pub fn store_new_notified(
    ds: &DataSource,
    mut task: Value,
    base: &str,
) -> (Value, Vec<tokio::task::JoinHandle<()>>) {
    let (id, scripted) = {
        let mut inner = ds.tasks.lock();
        inner.next_id += 1;
        (format!("task-{}", inner.next_id), inner.next.take())
    };
    task["id"] = json!(id);
    let meta = task
        .as_object_mut()
        .map(|o| o.entry("meta").or_insert_with(|| json!({})));
    if let Some(m) = meta.and_then(Value::as_object_mut) {
        m.insert("versionId".into(), json!("1"));
        m.insert("lastUpdated".into(), json!(now()));
    }
    let plan: VecDeque<Change> = if ds.fault("never-updates") {
        VecDeque::new()
    } else {
        scripted
            .unwrap_or_else(|| default_plan(ds, &task, &id))
            .into()
    };
    ds.tasks.lock().tasks.insert(
        id.clone(),
        TaskState {
            versions: vec![task.clone()],
            plan,
            polls: 0,
            since: Instant::now(),
            generation: 0,
        },
    );
    let deliveries = ds.hub.notify(&task, base, true);
    advance(ds, &id);
    (task, deliveries)
}

/// `GET Task/[id]`: a poll (the next change may apply), then the current version.
pub fn read(ds: &DataSource, id: &str) -> Message {
    polled(ds, id);
    match ds.tasks.current(id) {
        Some(t) => fhir_response(200, &t),
        None => outcome(404, "not-found", &format!("`Task/{id}` is not known")),
    }
}

/// The Task was read (or found by a search): count it and apply what is due.
pub fn polled(ds: &DataSource, id: &str) {
    if let Some(t) = ds.tasks.lock().tasks.get_mut(id) {
        t.polls += 1;
    }
    advance(ds, id);
}

/// Apply every change whose conditions hold, in order; arm a timer for the next timed one.
fn advance(ds: &DataSource, id: &str) {
    loop {
        let (version, change) = {
            let mut inner = ds.tasks.lock();
            let Some(t) = inner.tasks.get_mut(id) else {
                return;
            };
            let Some(head) = t.plan.front() else { return };
            let polls_ok = head.after_polls.is_none_or(|n| t.polls >= n);
            let time_ok = head.after.is_none_or(|d| t.since.elapsed() >= d);
            if !(polls_ok && time_ok) {
                let timer = match head.after {
                    Some(d) if !time_ok => {
                        Some((d.saturating_sub(t.since.elapsed()), t.generation))
                    }
                    _ => None,
                };
                drop(inner);
                if let Some((wait, generation)) = timer {
                    arm(ds, id, wait, generation);
                }
                return;
            }
            let change = t.plan.pop_front().expect("a head");
            let current = t.versions.last().cloned().unwrap_or(Value::Null);
            let next = apply(ds, &current, &change);
            t.versions.push(next.clone());
            t.polls = 0;
            t.since = Instant::now();
            t.generation += 1;
            (next, change)
        };
        if !ds.fault("output-not-served") {
            for r in change.serve {
                ds.put(r);
            }
        }
        drop(ds.hub.notify(&version, &ds.base(), false));
    }
}

/// A timer for a timed change: when it fires, apply what is due (if the plan is the same).
fn arm(ds: &DataSource, id: &str, wait: Duration, generation: u64) {
    let (Some(me), Ok(runtime)) = (ds.me.upgrade(), tokio::runtime::Handle::try_current()) else {
        return;
    };
    let id = id.to_string();
    runtime.spawn(async move {
        tokio::time::sleep(wait).await;
        let current = me.tasks.lock().tasks.get(&id).map(|t| t.generation);
        if current == Some(generation) {
            advance(&me, &id);
        }
    });
}

/// The next version of a Task after one change.
fn apply(ds: &DataSource, current: &Value, change: &Change) -> Value {
    let mut next = current.clone();
    let status = if ds.fault("status-draft") && change.status == "accepted" {
        "draft"
    } else {
        change.status.as_str()
    };
    next["status"] = json!(status);
    let obj = next.as_object_mut().expect("a Task is an object");
    match &change.status_reason {
        Some(r) => {
            obj.insert("statusReason".into(), r.clone());
        }
        None if !matches!(status, "failed" | "rejected") => {
            obj.remove("statusReason");
        }
        None => {}
    }
    if ds.fault("failed-without-reason") && matches!(status, "failed" | "rejected") {
        obj.remove("statusReason");
    }
    if ds.fault("reason-without-text") && matches!(status, "failed" | "rejected") {
        obj.insert(
            "statusReason".into(),
            json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/task-status-reason", "code": "no-data"}]}),
        );
    }
    if let Some(b) = &change.business_status {
        obj.insert("businessStatus".into(), b.clone());
    }
    if let Some(c) = &change.contained {
        let list = obj.entry("contained").or_insert_with(|| json!([]));
        if let Some(items) = list.as_array_mut() {
            match c {
                Value::Array(cs) => items.extend(cs.iter().cloned()),
                other => items.push(other.clone()),
            }
        }
    }
    if let Some(o) = &change.output
        && !(ds.fault("completed-without-output") && status == "completed")
    {
        obj.insert("output".into(), o.clone());
    }
    if ds.fault("drop-requester") {
        obj.remove("requester");
    }
    if ds.fault("drop-tracking-id") {
        obj.remove("identifier");
    }
    if ds.fault("intent-changes") {
        obj.insert("intent".into(), json!("plan"));
    }
    let stamp = now();
    obj.insert("lastModified".into(), json!(stamp));
    let version = current
        .pointer("/meta/versionId")
        .and_then(Value::as_str)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1)
        + 1;
    let meta = obj.entry("meta").or_insert_with(|| json!({}));
    meta["versionId"] = json!(version.to_string());
    meta["lastUpdated"] = json!(stamp);
    next
}

/// `GET Task/[id]/_history`: every version, newest first.
pub fn history(ds: &DataSource, id: &str, base: &str) -> Message {
    let versions = match ds.tasks.lock().tasks.get(id) {
        Some(t) => t.versions.clone(),
        None => return outcome(404, "not-found", &format!("`Task/{id}` is not known")),
    };
    let entries: Vec<Value> = versions
        .iter()
        .rev()
        .map(|v| {
            let vid = v
                .pointer("/meta/versionId")
                .and_then(Value::as_str)
                .unwrap_or("1");
            let (method, url, status) = if vid == "1" {
                ("POST", "Task".to_string(), "201 Created")
            } else {
                ("PUT", format!("Task/{id}"), "200 OK")
            };
            json!({
                "fullUrl": format!("{base}/Task/{id}"),
                "resource": v,
                "request": {"method": method, "url": url},
                "response": {"status": status, "etag": format!("W/\"{vid}\""),
                    "lastModified": v.pointer("/meta/lastUpdated").cloned().unwrap_or(Value::Null)}
            })
        })
        .collect();
    fhir_response(
        200,
        &json!({
            "resourceType": "Bundle",
            "id": ds.new_id("history"),
            "type": "history",
            "total": entries.len(),
            "entry": entries
        }),
    )
}

/// `GET Task/[id]/_history/[vid]`.
pub fn version(ds: &DataSource, id: &str, vid: &str) -> Message {
    let found = ds.tasks.lock().tasks.get(id).and_then(|t| {
        t.versions
            .iter()
            .find(|v| v.pointer("/meta/versionId").and_then(Value::as_str) == Some(vid))
            .cloned()
    });
    match found {
        Some(v) => fhir_response(200, &v),
        None => outcome(
            404,
            "not-found",
            &format!("`Task/{id}/_history/{vid}` is not known"),
        ),
    }
}

/// The resources on this server a Task's outputs reference (`_include=Task:output`).
pub fn output_resources(ds: &DataSource, task: &Value) -> Vec<Value> {
    task["output"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            o.pointer("/valueReference/reference")
                .and_then(Value::as_str)
        })
        .filter(|r| !r.starts_with('#'))
        .filter_map(|r| {
            let mut parts = r.rsplit('/');
            let id = parts.next()?;
            let rtype = parts.next()?;
            ds.get(rtype, id)
        })
        .collect()
}

/// `task-timeline`: `{task: next | Task/id, changes: [...], time_scale}`.
pub fn script(ds: &DataSource, spec: &Value) -> Result<(), String> {
    let scale = match spec.get("time_scale") {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(1.0),
        Some(Value::String(s)) => s
            .parse::<f64>()
            .map_err(|_| format!("task-timeline: time_scale `{s}` is not a number"))?,
        _ => 1.0,
    };
    let scale = if scale > 0.0 { scale } else { 1.0 };
    let changes = spec
        .get("changes")
        .and_then(Value::as_array)
        .ok_or("task-timeline: `changes` must be a list")?
        .iter()
        .enumerate()
        .map(|(i, c)| change_of(c, scale).map_err(|e| format!("task-timeline: changes[{i}]: {e}")))
        .collect::<Result<Vec<Change>, String>>()?;
    let target = spec.get("task").and_then(Value::as_str).unwrap_or("next");
    if target == "next" {
        ds.tasks.lock().next = Some(changes);
        return Ok(());
    }
    let id = target
        .rsplit('/')
        .next()
        .filter(|_| target.contains("Task/"))
        .ok_or_else(|| format!("task-timeline: `task` is `next` or `Task/[id]`, not `{target}`"))?
        .to_string();
    {
        let mut inner = ds.tasks.lock();
        let t = inner
            .tasks
            .get_mut(&id)
            .ok_or_else(|| format!("task-timeline: `Task/{id}` is not known"))?;
        t.plan = changes.into();
        t.polls = 0;
        t.since = Instant::now();
        t.generation += 1;
    }
    advance(ds, &id);
    Ok(())
}

fn change_of(c: &Value, scale: f64) -> Result<Change, String> {
    let status = c
        .get("status")
        .and_then(Value::as_str)
        .ok_or("a change needs a `status`")?
        .to_string();
    let after_polls = match c.get("after_polls") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.as_u64().ok_or("`after_polls` is a count")? as u32),
        Some(Value::String(s)) => Some(
            s.parse()
                .map_err(|_| format!("`after_polls` `{s}` is not a count"))?,
        ),
        Some(other) => return Err(format!("`after_polls` {other} is not a count")),
    };
    // The engine passes `after` as written and `after_ms` unscaled: both divided here.
    let after_ms = c.get("after_ms").and_then(Value::as_f64);
    let after = match c.get("after") {
        _ if after_ms.is_some() => after_ms.map(|ms| Duration::from_secs_f64(ms / 1000.0)),
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(crate::scenario::load::parse_duration(s)?),
        Some(Value::Number(n)) => Some(Duration::from_secs_f64(n.as_f64().unwrap_or(0.0))),
        Some(other) => return Err(format!("`after` {other} is not a duration")),
    }
    .map(|d| d.div_f64(scale));
    let text = |v: &Value| match v {
        Value::String(s) => json!({"text": s}),
        other => other.clone(),
    };
    let output = c.get("output").map(|o| match o {
        Value::Array(_) => o.clone(),
        single => json!([single]),
    });
    Ok(Change {
        status,
        after_polls,
        after,
        output,
        status_reason: c.get("statusReason").map(text),
        business_status: c.get("businessStatus").map(text),
        contained: c.get("contained").cloned(),
        serve: Vec::new(),
    })
}

/// The input of a given type code.
fn input<'a>(task: &'a Value, code: &str) -> Option<&'a Value> {
    task["input"].as_array()?.iter().find(|i| {
        i.pointer("/type/coding")
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(|c| c["code"].as_str() == Some(code)))
    })
}

/// The patient a Task is for: by reference, or by member identifier.
fn patient_of(ds: &DataSource, task: &Value) -> Option<String> {
    let f = task.get("for")?;
    if let Some(r) = f.get("reference").and_then(Value::as_str) {
        let mut parts = r.rsplit('/');
        let id = parts.next()?;
        let ty = parts.next().unwrap_or("Patient");
        return (ty == "Patient" && ds.get("Patient", id).is_some()).then(|| id.to_string());
    }
    let ident = f.get("identifier")?;
    let value = ident.get("value").and_then(Value::as_str)?;
    let system = ident.get("system").and_then(Value::as_str);
    ds.all_of("Patient").into_iter().find_map(|p| {
        let hit = p["identifier"].as_array().is_some_and(|ids| {
            ids.iter().any(|i| {
                i["value"].as_str() == Some(value)
                    && system.is_none_or(|s| i["system"].as_str() == Some(s))
            })
        });
        hit.then(|| p["id"].as_str().unwrap_or_default().to_string())
    })
}

fn data_value(reference: &str) -> Value {
    json!([{
        "type": {"coding": [{"system": HREX_TEMP, "code": "data-value"}]},
        "valueReference": {"reference": reference}
    }])
}

/// The Task asks for signed data (`signature-flag` input true).
fn signature_flag(task: &Value) -> bool {
    input(task, "signature-flag").and_then(|i| i["valueBoolean"].as_bool()) == Some(true)
}

/// The plan of a new Task, from its request; with `signature-flag` true, its completed output
/// becomes a signed FHIR document Bundle holding what it would have returned.
fn default_plan(ds: &DataSource, task: &Value, id: &str) -> Vec<Change> {
    // An attachment request waits for the Provider's answer (the action
    // `answer-attachment-request`, crate::actors::provider::answer).
    if ds.settings.attachments && crate::actors::provider::request::is_attachment_request(task) {
        return Vec::new();
    }
    let mut plan = unsigned_plan(ds, task, id);
    if signature_flag(task)
        && !ds.fault("ignore-signature-flag")
        && let Some(patient) = patient_of(ds, task)
        && let Some(done) = plan.last_mut()
        && done.status == "completed"
    {
        sign_output(ds, id, &patient, done);
    }
    plan
}

/// Replace a completed change's output by a signed document Bundle of the same data.
fn sign_output(ds: &DataSource, id: &str, patient: &str, done: &mut Change) {
    // What the output held: the served (or contained) results Bundle's entries, or the
    // served/contained resource itself.
    let held: Vec<Value> = done
        .serve
        .iter()
        .chain(
            done.contained
                .iter()
                .flat_map(|c| c.as_array().into_iter().flatten()),
        )
        .flat_map(|r| {
            if r["resourceType"] == "Bundle" {
                r["entry"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.get("resource").cloned())
                    .collect::<Vec<_>>()
            } else {
                vec![r.clone()]
            }
        })
        .filter(|r| !(r["resourceType"] == "Patient" && r["id"] == patient))
        .collect();
    let mut doc = super::signing::document(ds, id, patient, &held);
    if ds.settings.contained_output {
        doc["id"] = json!("signed-document");
        if let Some(o) = doc.as_object_mut() {
            o.remove("meta");
        }
        super::signing::sign_bundle(ds, &mut doc);
        done.contained = Some(json!([doc]));
        done.output = Some(data_value("#signed-document"));
        done.serve = Vec::new();
    } else {
        super::signing::sign_bundle(ds, &mut doc);
        let bid = doc["id"].as_str().unwrap_or_default().to_string();
        done.contained = None;
        done.output = Some(data_value(&format!("Bundle/{bid}")));
        done.serve = vec![doc];
    }
}

/// The plan of a new Task, from its request, before any signing.
fn unsigned_plan(ds: &DataSource, task: &Value, id: &str) -> Vec<Change> {
    let failed = |why: &str| {
        vec![
            Change::on_read("accepted"),
            Change::on_read("in-progress"),
            Change {
                status_reason: Some(json!({"text": why})),
                ..Change::on_read("failed")
            },
        ]
    };
    let Some(patient) = patient_of(ds, task) else {
        if ds.fault("complete-unknown-member") {
            return results(ds, id, Vec::new(), Vec::new(), "Patient?_id=none");
        }
        return vec![Change {
            status_reason: Some(
                json!({"text": "Unknown member: no patient of this Data Source matches Task.for"}),
            ),
            ..Change::on_read("rejected")
        }];
    };
    if let Some(q) = input(task, "data-query").and_then(|i| i["valueString"].as_str()) {
        let q = q.trim_start_matches('/');
        let (rtype, query) = q.split_once('?').unwrap_or((q, ""));
        let rtype = rtype.rsplit('/').next().unwrap_or(rtype);
        let params = crate::actors::store::parse_query(query);
        let found = direct_query::run(ds, rtype, &params);
        if found.matches.is_empty() && !ds.fault("complete-without-data") {
            return failed("No matching results");
        }
        return results(ds, id, found.matches, found.includes, q);
    }
    if let Some(code) = input(task, "data-code").and_then(|i| i.get("valueCodeableConcept")) {
        let codings: Vec<&str> = code["coding"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["code"].as_str())
            .collect();
        if codings.is_empty() {
            // Free text: it understands a request for conditions.
            let text = code["text"].as_str().unwrap_or("").to_lowercase();
            if text.contains("condition") || text.contains("problem") {
                let params = vec![
                    ("patient".to_string(), patient.clone()),
                    ("clinical-status".to_string(), "active".to_string()),
                ];
                let found = direct_query::run(ds, "Condition", &params);
                return results(
                    ds,
                    id,
                    found.matches,
                    found.includes,
                    "Condition?clinical-status=active",
                );
            }
            return failed(
                "The free-text request could not be fulfilled automatically; a person must review it",
            );
        }
        let params = vec![
            ("patient".to_string(), patient.clone()),
            ("type".to_string(), codings.join(",")),
            ("_sort".to_string(), "-period".to_string()),
            ("_count".to_string(), "1".to_string()),
        ];
        let found = direct_query::run(ds, "DocumentReference", &params);
        let Some(doc) = found.matches.first() else {
            return failed(&format!("No document of type {}", codings.join(", ")));
        };
        return document(ds, id, doc);
    }
    if let Some(q) = input(task, "questionnaire").and_then(|i| i["valueCanonical"].as_str()) {
        return questionnaire(id, &patient, q);
    }
    failed("The request has no input this Data Source can answer")
}

/// accepted, in-progress, completed: a searchset of the results as output.
fn results(
    ds: &DataSource,
    id: &str,
    matches: Vec<Value>,
    includes: Vec<Value>,
    query: &str,
) -> Vec<Change> {
    let base = ds.base();
    let found = direct_query::Found {
        total: matches.len(),
        matches,
        includes,
        used: Vec::new(),
    };
    let rtype = query.split('?').next().unwrap_or("");
    let mut bundle = direct_query::bundle(ds, rtype, &base, &found);
    bundle["link"] = json!([{"relation": "self", "url": format!("{base}/{query}")}]);
    let mut done = Change::on_read("completed");
    if ds.settings.contained_output {
        bundle["id"] = json!("results");
        if let Some(o) = bundle.as_object_mut() {
            o.remove("meta");
        }
        done.contained = Some(json!([bundle]));
        done.output = Some(data_value("#results"));
    } else {
        let bid = format!("results-{id}");
        bundle["id"] = json!(bid);
        done.output = Some(data_value(&format!("Bundle/{bid}")));
        done.serve = vec![bundle];
    }
    vec![
        Change::on_read("accepted"),
        Change::on_read("in-progress"),
        done,
    ]
}

/// accepted, in-progress, completed: the document (its content inline, base64) as output.
fn document(ds: &DataSource, id: &str, doc: &Value) -> Vec<Change> {
    let mut copy = doc.clone();
    // The content inline: the Binary's data where the document points to it.
    if let Some(att) = copy.pointer_mut("/content/0/attachment")
        && att.get("data").is_none()
        && let Some(url) = att.get("url").and_then(Value::as_str).map(str::to_string)
        && let Some(bin) = url.rsplit('/').next().and_then(|b| ds.get("Binary", b))
    {
        att["data"] = bin["data"].clone();
        if let Some(o) = att.as_object_mut() {
            o.remove("url");
        }
    }
    let is_ccda = doc
        .pointer("/type/coding")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["code"].as_str() == Some(CCDA_DOC_TYPE)));
    let mut done = Change::on_read("completed");
    if ds.settings.contained_output {
        copy["id"] = json!("document");
        if let Some(o) = copy.as_object_mut() {
            o.remove("meta");
        }
        done.contained = Some(json!([copy]));
        done.output = Some(data_value("#document"));
    } else {
        let did = format!("{}-{id}", doc["id"].as_str().unwrap_or("document"));
        copy["id"] = json!(did);
        done.output = Some(data_value(&format!("DocumentReference/{did}")));
        done.serve = vec![copy];
    }
    if is_ccda {
        done.business_status = Some(json!({"text": "C-CDA document released"}));
    } else {
        done.business_status = Some(json!({"text": "Document reviewed for release"}));
    }
    // A document is released after a review: the Task waits on hold for it (every HRex
    // status shows in the pack, CONF-059).
    vec![
        Change::on_read("accepted"),
        Change::on_read("in-progress"),
        Change {
            business_status: Some(json!({"text": "Awaiting release review"})),
            ..Change::on_read("on-hold")
        },
        Change {
            business_status: Some(json!({"text": "Release approved"})),
            ..Change::on_read("in-progress")
        },
        done,
    ]
}

/// accepted, in-progress, completed: a QuestionnaireResponse as output.
fn questionnaire(id: &str, patient: &str, canonical: &str) -> Vec<Change> {
    let qid = format!("qr-{id}");
    let qr = json!({
        "resourceType": "QuestionnaireResponse",
        "id": qid,
        "meta": {"profile": ["http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-sdc-questionnaireresponse"]},
        "questionnaire": canonical,
        "status": "completed",
        "subject": {"reference": format!("Patient/{patient}")},
        "authored": now(),
        "author": {"reference": "Organization/dss-provider-org"},
        "item": [{"linkId": "1", "text": "Answered by the reference Data Source",
            "answer": [{"valueString": "See the patient's record"}]}]
    });
    let done = Change {
        output: Some(json!([{
            "type": {"coding": [{"system": SDC_TEMP, "code": "questionnaire-response"}]},
            "valueReference": {"reference": format!("QuestionnaireResponse/{qid}")}
        }])),
        serve: vec![qr],
        ..Change::on_read("completed")
    };
    vec![
        Change::on_read("accepted"),
        Change::on_read("in-progress"),
        done,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::Handler;

    fn data_source() -> std::sync::Arc<dyn Handler> {
        super::super::build(&json!({}), Default::default())
            .expect("builds")
            .server
            .expect("serves")
    }

    fn get(h: &std::sync::Arc<dyn Handler>, path: &str) -> Value {
        let m = Message {
            method: Some("GET".into()),
            path: Some(path.into()),
            ..Message::default()
        };
        h.handle(&m).json().expect("JSON")
    }

    fn task() -> Value {
        json!({"resourceType": "Task", "status": "requested", "intent": "order",
            "for": {"identifier": {"system": "http://example.org/cdex/payer/member-ids", "value": "cdex-member-1"}},
            "input": [{"type": {"coding": [{"system": HREX_TEMP, "code": "data-query"}]},
                "valueString": "Condition?patient=cdex-dss-patient-1&clinical-status=active"}]})
    }

    #[test]
    fn the_default_pace_is_one_change_per_read() {
        let h = data_source();
        let id = h.seed(task()).expect("stored");
        let seen: Vec<String> = (0..4)
            .map(|_| get(&h, &id)["status"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(seen, ["accepted", "in-progress", "completed", "completed"]);
        let done = get(&h, &id);
        let output = done
            .pointer("/output/0/valueReference/reference")
            .and_then(Value::as_str)
            .expect("an output");
        let results = get(&h, output);
        assert_eq!(results["type"], "searchset");
        assert_eq!(results["total"], 2);
        let history = get(&h, &format!("{id}/_history"));
        assert_eq!(history["total"], 4);
        assert_eq!(
            history.pointer("/entry/0/resource/status"),
            Some(&json!("completed"))
        );
    }

    #[test]
    fn a_timeline_replaces_the_plan_of_the_next_task() {
        let h = data_source();
        h.script(
            "task-timeline",
            &json!({"task": "next", "time_scale": 600, "changes": [
                {"status": "accepted", "after_polls": 2},
                {"status": "on-hold", "businessStatus": "waiting for a signature"},
                {"status": "failed", "after_polls": 1, "statusReason": "no consent"}
            ]}),
        )
        .expect("taken");
        let id = h.seed(task()).expect("stored");
        assert_eq!(get(&h, &id)["status"], "requested");
        let second = get(&h, &id);
        assert_eq!(second["status"], "on-hold");
        assert_eq!(
            second.pointer("/businessStatus/text"),
            Some(&json!("waiting for a signature"))
        );
        let last = get(&h, &id);
        assert_eq!(last["status"], "failed");
        assert_eq!(
            last.pointer("/statusReason/text"),
            Some(&json!("no consent"))
        );
        assert_eq!(last.pointer("/meta/versionId"), Some(&json!("4")));
        assert!(
            h.script(
                "task-timeline",
                &json!({"task": "Task/nope", "changes": []})
            )
            .is_err()
        );
        assert!(h.script("other", &json!({})).is_err());
    }

    #[test]
    fn an_unknown_member_is_rejected_with_a_reason() {
        let h = data_source();
        let mut t = task();
        t["for"]["identifier"]["value"] = json!("someone-else");
        let id = h.seed(t).expect("stored");
        let r = get(&h, &id);
        assert_eq!(r["status"], "rejected");
        assert!(r.pointer("/statusReason/text").is_some());
    }
}

#[cfg(test)]
mod conformance_tests {
    use super::*;
    use crate::mock::Handler;

    fn get(h: &std::sync::Arc<dyn Handler>, path: &str) -> Value {
        let m = Message {
            method: Some("GET".into()),
            path: Some(path.into()),
            ..Message::default()
        };
        h.handle(&m).json().expect("JSON")
    }

    async fn errors(resource: &Value, profile: &str) -> Vec<String> {
        crate::fhir::conformance::check(resource, profile)
            .await
            .expect("the validator loads")
            .into_iter()
            .filter(|i| i.severity == crate::fhir::validate::issue::Severity::Error)
            .map(|i| format!("{}: {}", i.location, i.message))
            .collect()
    }

    /// Every version the reference serves of each kind of request validates against CDex
    /// Task Data Request, and its outputs against their profiles.
    #[tokio::test]
    async fn every_version_and_output_conforms() {
        let h = super::super::build(&json!({}), Default::default())
            .expect("builds")
            .server
            .expect("serves");
        let base = |input: Value, code: &str| {
            json!({"resourceType": "Task", "status": "requested", "intent": "order",
                "code": {"coding": [{"system": "http://hl7.org/fhir/us/davinci-cdex/CodeSystem/cdex-temp", "code": code}]},
                "for": {"identifier": {"system": "http://example.org/cdex/payer/member-ids", "value": "cdex-member-1"}},
                "authoredOn": "2026-01-05T10:00:00Z",
                "requester": {"identifier": {"system": "urn:payers", "value": "p1"}},
                "owner": {"identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": "9941339108"}},
                "input": [input]})
        };
        let requests = [
            base(
                json!({"type": {"coding": [{"system": HREX_TEMP, "code": "data-query"}]},
                    "valueString": "Observation?patient=cdex-dss-patient-1&code=2339-0"}),
                "data-request-query",
            ),
            base(
                json!({"type": {"coding": [{"system": HREX_TEMP, "code": "data-code"}]},
                    "valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "11506-3"}]}}),
                "data-request-code",
            ),
            base(
                json!({"type": {"coding": [{"system": SDC_TEMP, "code": "questionnaire"}]},
                    "valueCanonical": "http://example.org/Questionnaire/q1"}),
                "data-request-questionnaire",
            ),
        ];
        // The check does see errors.
        assert!(
            !errors(&json!({"resourceType": "Task"}), TASK_DATA_REQUEST)
                .await
                .is_empty()
        );
        let bad_qr = json!({"resourceType": "QuestionnaireResponse", "status": "bogus"});
        assert!(
            !errors(&bad_qr, "cdex-sdc-questionnaireresponse")
                .await
                .is_empty()
        );
        for t in requests {
            let id = h.seed(t).expect("stored");
            for _ in 0..6 {
                let v = get(&h, &id);
                let e = errors(&v, TASK_DATA_REQUEST).await;
                assert!(
                    e.is_empty(),
                    "{id} version {}: {e:?}",
                    v["meta"]["versionId"]
                );
            }
            let done = get(&h, &id);
            if let Some(r) = done
                .pointer("/output/0/valueReference/reference")
                .and_then(Value::as_str)
            {
                let out = get(&h, r);
                let profile = match out["resourceType"].as_str() {
                    Some("QuestionnaireResponse") => "cdex-sdc-questionnaireresponse",
                    Some(other) => other,
                    None => panic!("{r} is not served"),
                };
                let e = errors(&out, profile).await;
                assert!(e.is_empty(), "{r}: {e:?}");
            }
        }
    }
}
