//! Reference Information Server: accepts Push (POST create, PUT update) and answers Pull
//! (GET read and search), enforcing the business rules of the Push page: only authorized
//! clients, only permitted resource types, only patients that may be shared (seed 001).

use super::ReferenceActor;
use super::store::{Store, parse_query};
use crate::http::Message;
use crate::mock::{Handler, fhir_response, outcome};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Faults the tests switch on to prove each check can fail.
pub const FAULTS: &[(&str, &str)] = &[
    ("reject-create", "answers every POST create with 405"),
    ("reject-update", "answers every PUT update with 405"),
    ("no-location", "omits the Location header on create"),
    ("wrong-content-type", "labels FHIR responses text/html"),
    (
        "lose-data",
        "drops the subject of pushed resources before storing them",
    ),
    ("no-read", "answers every read by id with 404"),
    ("search-empty", "answers every search with an empty Bundle"),
    (
        "search-not-bundle",
        "answers a search with a bare resource instead of a Bundle",
    ),
    ("no-auth", "accepts requests without a valid bearer token"),
    (
        "share-restricted",
        "accepts data about patients that may not be shared",
    ),
    (
        "accept-rejected-type",
        "accepts resource types its rules do not permit",
    ),
    (
        "error-but-keep",
        "answers a rule violation with an error but keeps the data",
    ),
    ("garbage", "answers with a body that is not JSON"),
];

/// Business rules, from the pack's `reference: information-server:` settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Resource types accepted by Push; empty means every type not rejected.
    #[serde(default)]
    pub accepted_types: Vec<String>,
    /// Resource types refused by Push.
    #[serde(default)]
    pub rejected_types: Vec<String>,
    /// Patient ids whose data may not be shared with this server.
    #[serde(default)]
    pub restricted_patients: Vec<String>,
    /// When set, every request must carry `Authorization: Bearer <token>`.
    #[serde(default)]
    pub token: Option<String>,
}

pub struct InformationServer {
    settings: Settings,
    faults: BTreeSet<String>,
    store: Store,
}

pub fn build(settings: &Value, faults: BTreeSet<String>) -> Result<ReferenceActor, String> {
    let settings: Settings = serde_json::from_value(settings.clone())
        .map_err(|e| format!("reference settings of information-server: {e}"))?;
    Ok(ReferenceActor {
        server: Some(Arc::new(InformationServer::new(settings, faults))),
        client: None,
    })
}

impl InformationServer {
    pub fn new(settings: Settings, faults: BTreeSet<String>) -> Self {
        InformationServer {
            settings,
            faults,
            store: Store::default(),
        }
    }

    fn fault(&self, name: &str) -> bool {
        self.faults.contains(name)
    }

    fn respond(&self, status: u16, body: &impl serde::Serialize) -> Message {
        let mut m = fhir_response(status, body);
        if self.fault("garbage") {
            m.body = b"<html><body>Internal state dump</body></html>".to_vec();
            m.headers = vec![("Content-Type".into(), "text/html".into())];
        } else if self.fault("wrong-content-type") {
            m.headers = vec![("Content-Type".into(), "text/html".into())];
        }
        m
    }

    fn authorized(&self, req: &Message) -> bool {
        let Some(token) = self.settings.token.as_deref().filter(|t| !t.is_empty()) else {
            return true;
        };
        if self.fault("no-auth") {
            return true;
        }
        req.header("authorization")
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .is_some_and(|t| t.trim() == token)
    }

    fn permitted_type(&self, rtype: &str) -> bool {
        if self.fault("accept-rejected-type") {
            return true;
        }
        !self.settings.rejected_types.iter().any(|t| t == rtype)
            && (self.settings.accepted_types.is_empty()
                || self.settings.accepted_types.iter().any(|t| t == rtype))
    }

    fn shareable(&self, resource: &Value) -> bool {
        if self.fault("share-restricted") {
            return true;
        }
        let patient = patient_of(resource);
        !patient.is_some_and(|p| self.settings.restricted_patients.contains(&p))
    }

    fn capability(&self) -> Value {
        let types: Vec<&String> = self.settings.accepted_types.iter().collect();
        let resources: Vec<Value> = if types.is_empty() {
            vec![
                json!({"type": "Resource", "interaction": [{"code":"create"},{"code":"update"},{"code":"read"},{"code":"search-type"}]}),
            ]
        } else {
            types.iter().map(|t| json!({"type": t, "interaction": [{"code":"create"},{"code":"update"},{"code":"read"},{"code":"search-type"}]})).collect()
        };
        json!({
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-01-01",
            "kind": "instance",
            "software": {"name": "cdex-harness reference Information Server", "version": env!("CARGO_PKG_VERSION")},
            "fhirVersion": "4.0.1",
            "format": ["application/fhir+json"],
            "rest": [{"mode": "server", "resource": resources}]
        })
    }

    /// Check a pushed body; returns the resource or an error response.
    fn pushed(&self, req: &Message, rtype: &str, id: Option<&str>) -> Result<Value, Box<Message>> {
        let resource = crate::mock::pushed_resource(req, rtype)?;
        if let Some(id) = id
            && resource.get("id").and_then(Value::as_str) != Some(id)
        {
            return Err(Box::new(outcome(
                400,
                "invalid",
                &format!("the body's id must match the URL id `{id}`"),
            )));
        }
        Ok(resource)
    }

    /// Apply the server's rules after storing: a violation is an error and the data is
    /// deleted again (the Push page's post-conditions).
    fn enforce(&self, rtype: &str, id: &str, resource: &Value) -> Option<Message> {
        let violation = if !self.permitted_type(rtype) {
            Some(outcome(
                422,
                "business-rule",
                &format!("this server does not accept `{rtype}` resources"),
            ))
        } else if !self.shareable(resource) {
            Some(outcome(
                403,
                "forbidden",
                "data about this patient may not be shared with this server",
            ))
        } else {
            None
        };
        if violation.is_some() && !self.fault("error-but-keep") {
            self.store.delete(rtype, id);
        }
        violation
    }

    fn create(&self, req: &Message, rtype: &str, base: &str) -> Message {
        if self.fault("reject-create") {
            return outcome(405, "not-supported", "create is not supported");
        }
        let mut resource = match self.pushed(req, rtype, None) {
            Ok(r) => r,
            Err(e) => return *e,
        };
        if self.fault("lose-data") {
            strip_subject(&mut resource);
        }
        let stored = self.store.create(rtype, resource.clone());
        let id = stored.id().to_string();
        if let Some(err) = self.enforce(rtype, &id, &resource) {
            return err;
        }
        let mut m = self.respond(201, &stored.stamped());
        if !self.fault("no-location") {
            m.headers.push((
                "Location".into(),
                format!("{base}/{rtype}/{id}/_history/{}", stored.version),
            ));
        }
        m.headers
            .push(("ETag".into(), format!("W/\"{}\"", stored.version)));
        m
    }

    fn update(&self, req: &Message, rtype: &str, id: &str, base: &str) -> Message {
        if self.fault("reject-update") {
            return outcome(405, "not-supported", "update is not supported");
        }
        let mut resource = match self.pushed(req, rtype, Some(id)) {
            Ok(r) => r,
            Err(e) => return *e,
        };
        if self.fault("lose-data") {
            strip_subject(&mut resource);
        }
        let existed = self.store.read(rtype, id);
        let (stored, created) = self.store.put(rtype, id, resource.clone());
        if let Some(err) = self.enforce(rtype, id, &resource) {
            // Put back what was there before the refused update.
            if let Some(old) = existed.filter(|_| !self.fault("error-but-keep")) {
                self.store.put(rtype, id, old.into_resource());
            }
            return err;
        }
        let mut m = self.respond(if created { 201 } else { 200 }, &stored.stamped());
        if created && !self.fault("no-location") {
            m.headers.push((
                "Location".into(),
                format!("{base}/{rtype}/{id}/_history/{}", stored.version),
            ));
        }
        m.headers
            .push(("ETag".into(), format!("W/\"{}\"", stored.version)));
        m
    }

    fn read(&self, rtype: &str, id: &str) -> Message {
        match self.store.read(rtype, id) {
            Some(s) if !self.fault("no-read") => {
                let mut m = self.respond(200, &s.stamped());
                m.headers
                    .push(("ETag".into(), format!("W/\"{}\"", s.version)));
                m
            }
            _ => outcome(404, "not-found", &format!("`{rtype}/{id}` is not known")),
        }
    }

    fn search(&self, rtype: &str, query: &str, base: &str) -> Message {
        let params = parse_query(query);
        let (hits, unknown) = self.store.search(rtype, &params);
        let hits = if self.fault("search-empty") {
            Vec::new()
        } else {
            hits
        };
        if self.fault("search-not-bundle")
            && let Some(first) = hits.first()
        {
            return self.respond(200, first);
        }
        let mut bundle = super::store::searchset(base, rtype, query, &hits);
        if !unknown.is_empty() {
            bundle["entry"].as_array_mut().expect("entries array").push(json!({
                "resource": {"resourceType": "OperationOutcome", "issue": [{"severity": "warning", "code": "not-supported",
                    "diagnostics": format!("search parameters ignored: {}", unknown.join(", "))}]},
                "search": {"mode": "outcome"}
            }));
        }
        self.respond(200, &bundle)
    }
}

impl Handler for InformationServer {
    fn handle(&self, req: &Message) -> Message {
        let method = req.method.as_deref().unwrap_or("GET");
        let full = req.path.as_deref().unwrap_or("");
        let (path, query) = full.split_once('?').unwrap_or((full, ""));
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if segs.as_slice() == ["metadata"] && method == "GET" {
            return self.respond(200, &self.capability());
        }
        if !self.authorized(req) {
            let mut m = outcome(401, "login", "a valid bearer token is required");
            m.headers.push(("WWW-Authenticate".into(), "Bearer".into()));
            return m;
        }
        let base = req.fhir_base();
        let valid_type = |t: &str| {
            t.starts_with(|c: char| c.is_ascii_uppercase())
                && t.chars().all(|c| c.is_ascii_alphanumeric())
        };
        match (method, segs.as_slice()) {
            ("POST", [t]) if valid_type(t) => self.create(req, t, &base),
            ("GET", [t]) if valid_type(t) => self.search(t, query, &base),
            ("POST", [t, "_search"]) if valid_type(t) => {
                let form = String::from_utf8_lossy(&req.body).into_owned();
                let q = if query.is_empty() {
                    form
                } else {
                    format!("{query}&{form}")
                };
                self.search(t, &q, &base)
            }
            ("GET", [t, id]) if valid_type(t) => self.read(t, id),
            ("PUT", [t, id]) if valid_type(t) => self.update(req, t, id, &base),
            ("DELETE", [t, id]) if valid_type(t) => {
                self.store.delete(t, id);
                Message {
                    status: Some(204),
                    ..Message::default()
                }
            }
            _ => outcome(
                404,
                "not-supported",
                &format!("{method} /{path} is not an interaction this server supports"),
            ),
        }
    }

    fn seed(&self, resource: Value) -> Result<String, String> {
        self.store.seed(resource)
    }

    fn keep_at_most(&self, keep: usize, dropped: std::sync::Arc<std::sync::atomic::AtomicU64>) {
        self.store.keep_at_most(keep, dropped);
    }
}

/// The patient a resource is about: its own id for a Patient, else the id in
/// `subject`/`patient`/`for` when that references a Patient.
pub fn patient_of(resource: &Value) -> Option<String> {
    if resource.get("resourceType").and_then(Value::as_str) == Some("Patient") {
        return resource
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    ["subject", "patient", "for"].iter().find_map(|k| {
        resource
            .get(*k)
            .and_then(|r| r.get("reference"))
            .and_then(Value::as_str)
            .and_then(|r| {
                r.strip_prefix("Patient/")
                    .or_else(|| r.split("/Patient/").nth(1))
            })
            .map(|id| id.split('/').next().unwrap_or(id).to_string())
    })
}

fn strip_subject(resource: &mut Value) {
    if let Some(o) = resource.as_object_mut() {
        o.remove("subject");
        o.remove("patient");
    }
}
