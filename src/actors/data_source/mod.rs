//! The reference CDex 2.1.0 **Data Source** (server): it stands in for a Data Source under
//! test, and it is the harness's own endpoint when a Data Consumer client is under test.
//!
//! - Direct Query ([`direct_query`]): Patient id discovery by identifier and demographics,
//!   `Patient/$match`, the IG's Condition, Observation and DocumentReference searches,
//!   `_revinclude=Provenance:target`, reads (refused with 400 + OperationOutcome when signed
//!   results were pre-negotiated, CONF-010), JSON only, a CapabilityStatement at `metadata`
//!   ([`capability`]).
//! - Task-based data requests ([`tasks`]): `POST Task` validated against CDex Task Data
//!   Request, then moved `requested -> accepted -> in-progress -> completed` (with an output
//!   per request kind), or `failed`/`rejected` with a statusReason; one change per read of
//!   the Task by default, or the scenario's timeline ([`Handler::script`] `task-timeline`);
//!   every version kept (`_history`), Task searches with `_include=Task:output`.
//! - Subscriptions ([`subscriptions`]): R4 backport Subscriptions to the HRex Task topic,
//!   handshake, id-only notifications of every Task create and update.
//!
//! The data it serves ([`dataset`]) comes from the pack's `reference:` settings, so the
//! scenarios and the actor agree.

pub mod capability;
pub mod dataset;
pub mod direct_query;
pub mod faults;
pub mod scope;
pub mod signing;
pub mod subscriptions;
pub mod tasks;

pub use faults::FAULTS;

use super::notified_pull::hub::Hub;
use super::{ActionRequest, BoxFuture, ClientActor, ReferenceActor};
use crate::http::Message;
use crate::mock::{Handler, fhir_response, outcome};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// The options of the specs that force a setting on.
pub const SIGNATURES_OPTIONS: &[&str] = &["signatures"];
pub const CONTAINED_OPTIONS: &[&str] = &["contained-output"];

/// The actions its client side performs: make a Task appear as its own users would.
pub const ACTIONS: &[&str] = &["trigger-event"];

/// The pack's `reference: data-source-server:` settings (rendered with the pack's vars).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// When set and not empty, every request but `GET metadata` needs this bearer token.
    pub token: Option<String>,
    /// The member identifier (Patient.identifier) of the patient it holds.
    pub member_system: String,
    pub member_id: String,
    /// The Patient's logical id on this server.
    pub patient_id: String,
    pub family: String,
    pub given: String,
    pub birthdate: String,
    pub gender: String,
    /// The LOINC document type of its progress notes (PDF).
    pub doc_type: String,
    /// Signed results were pre-negotiated: reads of single resources are refused, searchsets
    /// are signed.
    pub signatures_required: bool,
    /// The NPI of the organisation that signs (`Signature.who.identifier.value`, the
    /// certificate's SAN).
    pub signer_npi: String,
    /// The organisation's name (`Signature.who.display`).
    pub signer_name: String,
    /// It offers Subscriptions to the HRex Task topic.
    pub subscriptions: bool,
    /// Completed query Tasks carry their results as a contained `#results` Bundle.
    pub contained_output: bool,
    /// Bearer tokens whose (SMART user) scope covers one patient only, named by member
    /// identifier (CONF-015). A token of `none` or empty is left out.
    pub scoped_tokens: Vec<scope::ScopedToken>,
    /// The logical id of a second Patient it holds (another member, with a Condition), whose
    /// data a token scoped to the first must not reach (`none`: `cdex-dss-patient-2`).
    pub other_patient_id: String,
    /// It takes CDex Task Attachment Requests (the Provider of the `attachments` option,
    /// [`crate::actors::provider`]).
    pub attachments: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            token: None,
            member_system: "http://example.org/cdex/payer/member-ids".into(),
            member_id: "cdex-member-1".into(),
            patient_id: "cdex-dss-patient-1".into(),
            family: "Shaw".into(),
            given: "Amy".into(),
            birthdate: "1987-02-20".into(),
            gender: "female".into(),
            doc_type: "11506-3".into(),
            signatures_required: false,
            signer_npi: "1234567893".into(),
            signer_name: "cdex-harness reference Data Source organization".into(),
            subscriptions: true,
            contained_output: false,
            scoped_tokens: Vec::new(),
            other_patient_id: "cdex-dss-patient-2".into(),
            attachments: false,
        }
    }
}

/// The reference Data Source.
pub struct DataSource {
    pub(crate) settings: Settings,
    faults: BTreeSet<String>,
    /// Everything but Tasks, by (type, id).
    resources: Mutex<BTreeMap<(String, String), Value>>,
    pub(crate) tasks: tasks::Tasks,
    hub: Hub,
    next_id: AtomicU64,
    /// Its own FHIR base as peers reach it, learnt from the requests it gets.
    base: Mutex<String>,
    /// Itself, for the timers of scripted Task changes.
    me: Weak<DataSource>,
}

pub(crate) fn parse_settings(settings: &Value) -> Result<Settings, String> {
    serde_json::from_value(settings.clone())
        .map_err(|e| format!("reference settings of data-source-server: {e}"))
}

/// A new Data Source with these settings and faults.
pub(crate) fn new_data_source(
    s: Settings,
    faults: BTreeSet<String>,
) -> Result<Arc<DataSource>, String> {
    let hub = Hub::new(subscriptions::hub_faults(&faults), true)?;
    let data = dataset::resources(&s);
    Ok(Arc::new_cyclic(|me| DataSource {
        settings: s,
        faults,
        resources: Mutex::new(
            data.into_iter()
                .map(|r| {
                    let key = (
                        r["resourceType"].as_str().unwrap_or_default().to_string(),
                        r["id"].as_str().unwrap_or_default().to_string(),
                    );
                    (key, r)
                })
                .collect(),
        ),
        tasks: tasks::Tasks::default(),
        hub,
        next_id: AtomicU64::new(0),
        base: Mutex::new(String::new()),
        me: me.clone(),
    }))
}

fn build_with(s: Settings, faults: BTreeSet<String>) -> Result<ReferenceActor, String> {
    let server = new_data_source(s, faults)?;
    Ok(ReferenceActor {
        server: Some(server.clone()),
        client: Some(Arc::new(EventSource(server))),
    })
}

/// Factory of the plain Data Source (its settings as the pack gives them).
pub fn build(settings: &Value, faults: BTreeSet<String>) -> Result<ReferenceActor, String> {
    build_with(parse_settings(settings)?, faults)
}

/// Factory for scenarios of the `signatures` option: signed results pre-negotiated.
pub fn build_signed(settings: &Value, faults: BTreeSet<String>) -> Result<ReferenceActor, String> {
    let mut s = parse_settings(settings)?;
    s.signatures_required = true;
    build_with(s, faults)
}

/// Factory for scenarios of the `contained-output` option.
pub fn build_contained(
    settings: &Value,
    faults: BTreeSet<String>,
) -> Result<ReferenceActor, String> {
    let mut s = parse_settings(settings)?;
    s.contained_output = true;
    build_with(s, faults)
}

impl DataSource {
    pub(crate) fn fault(&self, name: &str) -> bool {
        self.faults.contains(name)
    }

    pub(crate) fn base(&self) -> String {
        self.base.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn new_id(&self, prefix: &str) -> String {
        format!(
            "{prefix}-{}",
            self.next_id.fetch_add(1, Ordering::Relaxed) + 1
        )
    }

    /// What the request's bearer token gives access to (`None`: it needs a valid one).
    fn access(&self, req: &Message) -> Option<scope::Access> {
        let given = req
            .header("authorization")
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let usable = |t: &&str| !t.is_empty() && *t != "none";
        if let Some(given) = given
            && !self.fault("ignore-patient-scope")
            && let Some(st) = self
                .settings
                .scoped_tokens
                .iter()
                .find(|st| usable(&st.token.as_str()) && st.token == given)
        {
            return Some(scope::Access::Patient(scope::patient_for(
                self,
                &st.member_id,
            )));
        }
        let Some(token) = self.settings.token.as_deref().filter(usable) else {
            return Some(scope::Access::All);
        };
        let scoped_as_all = self.fault("ignore-patient-scope")
            && self
                .settings
                .scoped_tokens
                .iter()
                .any(|st| usable(&st.token.as_str()) && Some(st.token.as_str()) == given);
        (given == Some(token) || scoped_as_all).then_some(scope::Access::All)
    }

    /// A resource other than a Task.
    pub(crate) fn get(&self, rtype: &str, id: &str) -> Option<Value> {
        self.resources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(rtype.to_string(), id.to_string()))
            .cloned()
    }

    pub(crate) fn put(&self, resource: Value) {
        let key = (
            resource["resourceType"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            resource["id"].as_str().unwrap_or_default().to_string(),
        );
        self.resources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, resource);
    }

    /// Every resource of one type (Tasks: their current versions).
    pub(crate) fn all_of(&self, rtype: &str) -> Vec<Value> {
        if rtype == "Task" {
            return self.tasks.current_all();
        }
        self.resources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|((t, _), _)| t == rtype)
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// Answer one request.
    fn process(&self, req: &Message) -> Message {
        let method = req.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
        let full = req.path.as_deref().unwrap_or("");
        let (path, query) = full.split_once('?').unwrap_or((full, ""));
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let params = super::store::parse_query(query);
        let base = req.fhir_base();
        if !base.is_empty() {
            *self.base.lock().unwrap_or_else(|p| p.into_inner()) = base.clone();
        }
        if let Some(refusal) = not_json(req, &params) {
            return refusal;
        }
        if segs.as_slice() == ["metadata"] && method == "GET" {
            return fhir_response(200, &capability::statement(self));
        }
        let Some(access) = self.access(req) else {
            let mut m = outcome(401, "login", "a valid bearer token is required");
            m.headers.push(("WWW-Authenticate".into(), "Bearer".into()));
            return m;
        };
        if let scope::Access::Patient(patient) = &access {
            return scope::answer(self, patient, req, &base);
        }
        // A form-encoded search by POST is a search too.
        match (method.as_str(), segs.as_slice()) {
            ("POST", ["Patient", "$match"]) => direct_query::patient_match(self, req),
            ("POST", ["Task"]) => tasks::create(self, req, &base),
            ("POST", ["Subscription"]) if self.settings.subscriptions => {
                self.hub.subscribe(req, &base).0
            }
            ("GET", ["Subscription", id]) if self.settings.subscriptions => self.hub.read(id),
            ("GET", ["Task", id]) => tasks::read(self, id),
            ("GET", ["Task", id, "_history"]) => tasks::history(self, id, &base),
            ("GET", ["Task", id, "_history", vid]) => tasks::version(self, id, vid),
            ("GET", [rtype]) => direct_query::search(self, rtype, &params, &base, query),
            ("GET", [rtype, id]) => direct_query::read(self, rtype, id),
            ("PUT" | "PATCH" | "DELETE", [rtype, ..]) => outcome(
                405,
                "not-supported",
                &format!("{method} of {rtype} is not supported by this Data Source"),
            ),
            _ => outcome(
                404,
                "not-supported",
                &format!("{method} /{path} is not an interaction of this Data Source"),
            ),
        }
    }

    /// Apply a scripted timeline (`Handler::script("task-timeline", ...)`).
    pub fn script_timeline(&self, json: &Value) -> Result<(), String> {
        tasks::script(self, json)
    }
}

/// A request for another format than JSON: 406 (this server speaks JSON only, as every CDex
/// CapabilityStatement requires).
fn not_json(req: &Message, params: &[(String, String)]) -> Option<Message> {
    let format = params
        .iter()
        .find(|(k, _)| k == "_format")
        .map(|(_, v)| v.to_ascii_lowercase());
    let accept = req.header("accept").unwrap_or("").to_ascii_lowercase();
    let wants_xml = match format {
        Some(f) => f.contains("xml"),
        None => accept.contains("xml") && !accept.contains("json") && !accept.contains("*/*"),
    };
    wants_xml.then(|| {
        outcome(
            406,
            "not-supported",
            "this Data Source answers in FHIR JSON only (application/fhir+json)",
        )
    })
}

impl Handler for DataSource {
    fn handle(&self, req: &Message) -> Message {
        let mut answer = self.process(req);
        if self.fault("json-as-xml") {
            for (k, v) in answer.headers.iter_mut() {
                if k.eq_ignore_ascii_case("content-type") {
                    *v = "application/fhir+xml; charset=utf-8".into();
                }
            }
        }
        answer
    }

    /// `task-timeline`: the status changes of the next Task created, or of a named one,
    /// instead of the default pace (see [`tasks`]).
    fn script(&self, name: &str, script: &Value) -> Result<(), String> {
        match name {
            "task-timeline" => self.script_timeline(script),
            other => Err(format!(
                "the reference Data Source takes a `task-timeline` script, not `{other}`"
            )),
        }
    }

    /// A resource put in place by a `serve` step: stored as it is (a Task is a new Task,
    /// notified to the Subscriptions it matches).
    fn seed(&self, resource: Value) -> Result<String, String> {
        let rtype = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .ok_or("a served resource needs a resourceType")?
            .to_string();
        if rtype == "Task" {
            let id = tasks::store_new(self, resource, &self.base());
            return Ok(format!("Task/{id}"));
        }
        let mut resource = resource;
        let id = match resource.get("id").and_then(Value::as_str) {
            Some(id) => id.to_string(),
            None => {
                let id = self.new_id(&rtype.to_ascii_lowercase());
                resource["id"] = json!(id);
                id
            }
        };
        self.put(resource);
        Ok(format!("{rtype}/{id}"))
    }
}

/// Its client side: makes a Task appear on the server, as its own users would.
pub(crate) struct EventSource(pub(crate) Arc<DataSource>);

impl ClientActor for EventSource {
    fn perform(&self, req: ActionRequest) -> BoxFuture<Result<(), String>> {
        let server = self.0.clone();
        Box::pin(async move {
            if req.action != "trigger-event" {
                return Err(format!(
                    "the reference Data Source does not perform `{}`",
                    req.action
                ));
            }
            let resource = req
                .payload
                .clone()
                .ok_or("action `trigger-event` needs a payload: the Task to create")?;
            if resource.get("resourceType").and_then(Value::as_str) != Some("Task") {
                return Err("the payload of `trigger-event` is a Task".into());
            }
            let base = server.base();
            let (_, deliveries) = tasks::store_new_notified(&server, resource, &base);
            for d in deliveries {
                d.await.map_err(|e| format!("a notification failed: {e}"))?;
            }
            Ok(())
        })
    }
}
