//! A generic in-memory FHIR R4 server for the TestScript tests: read, vread, search, create,
//! update, delete, history (instance, type, system), capabilities, transaction and batch,
//! with versions, ETag and Last-Modified. Faults make the asserts that must catch them fail.

use cdex_harness::http::Message;
use cdex_harness::mock::{Handler, fhir_response, outcome};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// (type, id) -> versions (None: deleted).
type Store = BTreeMap<(String, String), Vec<Option<Value>>>;

#[derive(Default)]
pub struct Server {
    store: Mutex<Store>,
    /// All writes, in order: (type, id, version).
    log: Mutex<Vec<(String, String, usize)>>,
    next: Mutex<u64>,
    pub faults: BTreeSet<&'static str>,
}

const MODIFIED: &str = "Tue, 01 Dec 2026 10:00:00 GMT";

impl Server {
    pub fn with(faults: &[&'static str]) -> Server {
        Server {
            faults: faults.iter().copied().collect(),
            ..Default::default()
        }
    }

    fn respond(&self, status: u16, body: &Value) -> Message {
        let mut m = fhir_response(status, body);
        if self.faults.contains("html") {
            m.headers = vec![("Content-Type".into(), "text/html".into())];
        }
        if !self.faults.contains("no-last-modified") {
            m.headers.push(("Last-Modified".into(), MODIFIED.into()));
        }
        m
    }

    fn put(&self, t: &str, id: &str, mut r: Value) -> (Value, usize, bool) {
        let mut store = self.store.lock().unwrap();
        let versions = store.entry((t.into(), id.into())).or_default();
        let created = versions.last().is_none_or(|v| v.is_none());
        let v = versions.len() + 1;
        r["id"] = json!(id);
        r["meta"] = json!({"versionId": v.to_string(), "lastUpdated": "2026-12-01T10:00:00Z"});
        if self.faults.contains("lose-family")
            && let Some(names) = r.get_mut("name").and_then(Value::as_array_mut)
        {
            for n in names {
                if let Some(o) = n.as_object_mut() {
                    o.remove("family");
                }
            }
        }
        versions.push(Some(r.clone()));
        self.log.lock().unwrap().push((t.into(), id.into(), v));
        (r, v, created)
    }

    fn current(&self, t: &str, id: &str) -> Option<Value> {
        self.store
            .lock()
            .unwrap()
            .get(&(t.into(), id.into()))
            .and_then(|v| v.last().cloned().flatten())
    }

    fn new_id(&self) -> String {
        let mut n = self.next.lock().unwrap();
        *n += 1;
        format!("gen{n}")
    }

    fn located(
        &self,
        base: &str,
        status: u16,
        t: &str,
        id: &str,
        v: usize,
        body: &Value,
    ) -> Message {
        let mut m = self.respond(status, body);
        m.headers
            .push(("Location".into(), format!("{base}/{t}/{id}/_history/{v}")));
        m.headers.push(("ETag".into(), format!("W/\"{v}\"")));
        m
    }

    fn history(&self, base: &str, filter: impl Fn(&str, &str) -> bool) -> Value {
        let store = self.store.lock().unwrap();
        let log = self.log.lock().unwrap();
        let entries: Vec<Value> = log
            .iter()
            .rev()
            .filter(|(t, id, _)| filter(t, id))
            .filter_map(|(t, id, v)| {
                let r = store.get(&(t.clone(), id.clone()))?.get(v - 1)?.clone()?;
                Some(json!({"fullUrl": format!("{base}/{t}/{id}"), "resource": r,
                    "request": {"method": if *v == 1 { "POST" } else { "PUT" }, "url": format!("{t}/{id}")},
                    "response": {"status": "200"}}))
            })
            .collect();
        json!({"resourceType": "Bundle", "type": "history", "total": entries.len(),
            "link": [{"relation": "self", "url": format!("{base}/_history")}], "entry": entries})
    }

    fn search(&self, base: &str, t: &str, query: &str) -> Value {
        let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .filter(|(k, _)| !k.starts_with('_') || k == "_id")
            .collect();
        let store = self.store.lock().unwrap();
        let hits: Vec<Value> = store
            .iter()
            .filter(|((rt, _), _)| rt == t)
            .filter_map(|(_, v)| v.last().cloned().flatten())
            .filter(|r| {
                let text = r.to_string().to_ascii_lowercase();
                params.iter().all(|(k, v)| match k.as_str() {
                    "_id" => r["id"] == json!(v),
                    _ => text.contains(
                        &v.to_ascii_lowercase()
                            .rsplit('|')
                            .next()
                            .unwrap_or("")
                            .to_string(),
                    ),
                })
            })
            .collect();
        let mut links = vec![json!({"relation": "self", "url": format!("{base}/{t}?{query}")})];
        if self.faults.contains("relative-links") {
            links = vec![json!({"relation": "self", "url": format!("{t}?{query}")})];
        }
        json!({"resourceType": "Bundle", "type": "searchset", "total": hits.len(), "link": links,
            "entry": hits.iter().map(|r| json!({"fullUrl": format!("{base}/{t}/{}", r["id"].as_str().unwrap_or("")), "resource": r, "search": {"mode": "match"}})).collect::<Vec<_>>()})
    }

    fn bundle(&self, base: &str, b: &Value, transaction: bool) -> Message {
        let mut out = Vec::new();
        for e in b["entry"].as_array().cloned().unwrap_or_default() {
            let r = e["resource"].clone();
            let method = e["request"]["method"].as_str().unwrap_or("POST");
            let url = e["request"]["url"].as_str().unwrap_or("");
            let t = r["resourceType"].as_str().unwrap_or("").to_string();
            let (id, status) = match method {
                "PUT" => (url.rsplit('/').next().unwrap_or("").to_string(), "200 OK"),
                _ => (self.new_id(), "201 Created"),
            };
            let (_, v, _) = self.put(&t, &id, r);
            out.push(json!({"response": {"status": status, "location": format!("{t}/{id}/_history/{v}"), "etag": format!("W/\"{v}\"")}}));
        }
        let kind = if transaction {
            "transaction-response"
        } else {
            "batch-response"
        };
        self.respond(200, &json!({"resourceType": "Bundle", "type": kind, "link": [{"relation": "self", "url": base}], "entry": out}))
    }
}

impl Handler for Server {
    fn handle(&self, req: &Message) -> Message {
        let method = req.method.as_deref().unwrap_or("GET");
        let full = req.path.as_deref().unwrap_or("");
        let (path, query) = full.split_once('?').unwrap_or((full, ""));
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let base = req.fhir_base();
        let body = || serde_json::from_slice::<Value>(&req.body).unwrap_or(Value::Null);
        match (method, segs.as_slice()) {
            ("GET", ["metadata"]) => self.respond(200, &json!({"resourceType": "CapabilityStatement", "status": "active",
                "date": "2026-12-01", "kind": "instance", "fhirVersion": "4.0.1", "format": ["json"],
                "rest": [{"mode": "server", "resource": [{"type": "Patient", "interaction": [{"code": "read"}, {"code": "vread"}, {"code": "update"}, {"code": "delete"}, {"code": "create"}, {"code": "search-type"}, {"code": "history-instance"}]}]}]})),
            ("GET", ["_history"]) => self.respond(200, &self.history(&base, |_, _| true)),
            ("POST", []) => {
                let b = body();
                match b["type"].as_str() {
                    Some("transaction") => self.bundle(&base, &b, true),
                    Some("batch") => self.bundle(&base, &b, false),
                    _ => outcome(400, "invalid", "POST to the base takes a transaction or batch Bundle"),
                }
            }
            ("GET", [t, "_history"]) => {
                let t = t.to_string();
                self.respond(200, &self.history(&base, |rt, _| rt == t))
            }
            ("GET", [t, id, "_history"]) => {
                let (t, id) = (t.to_string(), id.to_string());
                self.respond(200, &self.history(&base, |rt, rid| rt == t && rid == id))
            }
            ("GET", [t, id, "_history", v]) => {
                let store = self.store.lock().unwrap();
                let found = v.parse::<usize>().ok().and_then(|v| {
                    store.get(&(t.to_string(), id.to_string()))?.get(v.checked_sub(1)?)?.clone()
                });
                drop(store);
                match found {
                    Some(r) => self.respond(200, &r),
                    None => outcome(404, "not-found", "no such version"),
                }
            }
            ("GET", [t]) => self.respond(200, &self.search(&base, t, query)),
            ("POST", [t]) => {
                let id = self.new_id();
                let (r, v, _) = self.put(t, &id, body());
                self.located(&base, 201, t, &id, v, &r)
            }
            ("GET", [t, id]) => match self.current(t, id) {
                Some(r) => {
                    let v = r["meta"]["versionId"].as_str().unwrap_or("1").to_string();
                    let mut m = self.respond(200, &r);
                    m.headers.push(("ETag".into(), format!("W/\"{v}\"")));
                    m
                }
                None => outcome(404, "not-found", &format!("{t}/{id} is not here")),
            },
            ("PUT", [t, id]) => {
                let (r, v, created) = self.put(t, id, body());
                self.located(&base, if created { 201 } else { 200 }, t, id, v, &r)
            }
            ("DELETE", [t, id]) => {
                if let Some(v) = self.store.lock().unwrap().get_mut(&(t.to_string(), id.to_string())) {
                    v.push(None);
                }
                Message { status: Some(204), ..Message::default() }
            }
            _ => outcome(400, "not-supported", &format!("{method} /{path}")),
        }
    }

    fn seed(&self, r: Value) -> Result<String, String> {
        let t = r["resourceType"].as_str().unwrap_or("").to_string();
        let id = r["id"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| self.new_id());
        self.put(&t, &id, r);
        Ok(format!("{t}/{id}"))
    }
}
