//! What the four Communication actors share (seeds 002 and 003, without the task-based
//! option): a small FHIR endpoint that admits structurally valid resources of a few types
//! into a [`Store`] and answers read and search, the CDex payload keys that tell which
//! information a payload carries, the way a CommunicationRequest names the address of its
//! Information Recipient, and the HTTP call the client sides make.

use super::store::{Store, parse_query};
use crate::fhir::profiles;
use crate::http::Message;
use crate::http::client::{HttpClient, OutgoingRequest};
use crate::mock::{fhir_response, outcome};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Extension naming the query a payload answers (2019 draft `cdex-payload-query-string`).
pub const QUERY_STRING_EXT: &str =
    "http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-payload-query-string";
/// Extension naming the kind of clinical note a payload carries (`cdex-payload-clinical-note-type`).
pub const NOTE_TYPE_EXT: &str =
    "http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-payload-clinical-note-type";

/// Decides what happens to a resource before it is stored: `Err` is the error answer.
/// It may change the resource (faults do: `Arc::make_mut`, leaving the parse the live check
/// reads as it was received).
pub type Admit<'a> = &'a dyn Fn(&str, &mut Arc<Value>) -> Result<(), Box<Message>>;

/// A FHIR endpoint for a few resource types, each checked against a structural profile.
pub struct ProfiledEndpoint {
    pub store: Store,
    /// (resource type, structural profile name) it accepts by create and update.
    accepts: &'static [(&'static str, &'static str)],
    /// Software name in the CapabilityStatement.
    software: &'static str,
}

impl ProfiledEndpoint {
    pub fn new(accepts: &'static [(&'static str, &'static str)], software: &'static str) -> Self {
        ProfiledEndpoint {
            store: Store::default(),
            accepts,
            software,
        }
    }

    /// The problems of a resource against the profile of its type (empty: it conforms).
    pub fn problems(&self, rtype: &str, resource: &Value) -> Vec<String> {
        self.accepts
            .iter()
            .find(|(t, _)| *t == rtype)
            .and_then(|(_, p)| profiles::find(p))
            .map(|p| profiles::check(p, resource))
            .unwrap_or_default()
    }

    /// Refuse a resource that does not conform to the profile of its type (400).
    pub fn conform(&self, rtype: &str, resource: &Value) -> Result<(), Box<Message>> {
        let problems = self.problems(rtype, resource);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Box::new(outcome(400, "invariant", &problems.join("; "))))
        }
    }

    /// Answer one request; `admit` runs on every resource before it is stored.
    pub fn handle(&self, req: &Message, admit: Admit<'_>) -> Message {
        let method = req.method.as_deref().unwrap_or("GET");
        let full = req.path.as_deref().unwrap_or("");
        let (path, query) = full.split_once('?').unwrap_or((full, ""));
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let base = req.fhir_base();
        let known = |t: &str| self.accepts.iter().any(|(a, _)| *a == t);
        match (method, segs.as_slice()) {
            ("GET", ["metadata"]) => fhir_response(200, &self.capability()),
            ("POST", [t]) if known(t) => self.create(req, t, &base, admit),
            ("PUT", [t, id]) if known(t) => self.update(req, t, id, &base, admit),
            ("GET", [t, id]) if known(t) => self.read(t, id),
            ("GET", [t]) if known(t) => self.search(t, query, &base),
            _ => outcome(
                404,
                "not-supported",
                &format!("{method} /{path} is not an interaction this endpoint supports"),
            ),
        }
    }

    /// Store a resource a scenario serves (`serve` step).
    pub fn seed(&self, resource: Value) -> Result<String, String> {
        self.store.seed(resource)
    }

    fn capability(&self) -> Value {
        let resources: Vec<Value> = self
            .accepts
            .iter()
            .map(|(t, p)| {
                let profile = profiles::find(p).map(|x| x.url.clone()).unwrap_or_default();
                json!({"type": t, "supportedProfile": [profile], "interaction": [
                    {"code": "create"}, {"code": "update"}, {"code": "read"}, {"code": "search-type"}]})
            })
            .collect();
        json!({
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-01-01",
            "kind": "instance",
            "software": {"name": self.software, "version": env!("CARGO_PKG_VERSION")},
            "fhirVersion": "4.0.1",
            "format": ["application/fhir+json"],
            "rest": [{"mode": "server", "resource": resources}]
        })
    }

    fn body(req: &Message, rtype: &str) -> Result<Arc<Value>, Box<Message>> {
        crate::mock::pushed_resource_shared(req, rtype)
    }

    fn create(&self, req: &Message, rtype: &str, base: &str, admit: Admit<'_>) -> Message {
        let mut resource = match Self::body(req, rtype) {
            Ok(r) => r,
            Err(e) => return *e,
        };
        if let Err(e) = admit(rtype, &mut resource) {
            return *e;
        }
        let stored = self.store.create(rtype, resource);
        let id = stored.id();
        let mut m = fhir_response(201, &stored.stamped());
        m.headers.push((
            "Location".into(),
            format!("{base}/{rtype}/{id}/_history/{}", stored.version),
        ));
        m
    }

    fn update(
        &self,
        req: &Message,
        rtype: &str,
        id: &str,
        base: &str,
        admit: Admit<'_>,
    ) -> Message {
        let mut resource = match Self::body(req, rtype) {
            Ok(r) => r,
            Err(e) => return *e,
        };
        if resource.get("id").and_then(Value::as_str) != Some(id) {
            return outcome(
                400,
                "invalid",
                &format!("the body's id must match the URL id `{id}`"),
            );
        }
        if let Err(e) = admit(rtype, &mut resource) {
            return *e;
        }
        let (stored, created) = self.store.put(rtype, id, resource);
        let mut m = fhir_response(if created { 201 } else { 200 }, &stored.stamped());
        if created {
            m.headers.push((
                "Location".into(),
                format!("{base}/{rtype}/{id}/_history/{}", stored.version),
            ));
        }
        m
    }

    fn read(&self, rtype: &str, id: &str) -> Message {
        match self.store.read(rtype, id) {
            Some(s) => fhir_response(200, &s.stamped()),
            None => outcome(404, "not-found", &format!("`{rtype}/{id}` is not known")),
        }
    }

    fn search(&self, rtype: &str, query: &str, base: &str) -> Message {
        let (hits, _unknown) = self.store.search(rtype, &parse_query(query));
        self.bundle(rtype, query, base, &hits)
    }

    /// A searchset Bundle of these matches.
    pub fn bundle(&self, rtype: &str, query: &str, base: &str, hits: &[Value]) -> Message {
        fhir_response(200, &super::store::searchset(base, rtype, query, hits))
    }
}

/// What a payload is about: the query it answers, the note type it carries, or its text.
/// Two payloads with the same key carry the same kind of information.
pub fn payload_key(payload: &Value) -> Option<String> {
    let exts = payload.get("extension").and_then(Value::as_array);
    for ext in exts.into_iter().flatten() {
        match ext.get("url").and_then(Value::as_str) {
            Some(QUERY_STRING_EXT) => {
                if let Some(q) = ext.get("valueString").and_then(Value::as_str) {
                    return Some(format!("query:{q}"));
                }
            }
            Some(NOTE_TYPE_EXT) => {
                let coding = ext.pointer("/valueCodeableConcept/coding/0");
                if let Some(code) = coding.and_then(|c| c.get("code")).and_then(Value::as_str) {
                    let system = coding
                        .and_then(|c| c.get("system"))
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    return Some(format!("note:{system}|{code}"));
                }
            }
            _ => {}
        }
    }
    payload
        .get("contentString")
        .and_then(Value::as_str)
        .map(|s| format!("text:{s}"))
}

/// Where the answer to a CommunicationRequest goes, and how the Communication names its
/// recipient: for each `recipient` that is a contained Organization (`#id`), the `address`
/// of the contained Endpoint its `endpoint` references; the recipient is then named by the
/// Organization's first identifier. Other recipients are copied as they are.
pub struct Addressee {
    /// FHIR base of the Information Recipient, when the request carries one.
    pub address: Option<String>,
    /// `Communication.recipient` entries.
    pub recipients: Vec<Value>,
}

pub fn addressee(request: &Value) -> Addressee {
    let contained: Vec<&Value> = request
        .get("contained")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let local = |reference: &str, rtype: &str| -> Option<&Value> {
        let id = reference.strip_prefix('#')?;
        contained.iter().copied().find(|c| {
            c.get("resourceType").and_then(Value::as_str) == Some(rtype)
                && c.get("id").and_then(Value::as_str) == Some(id)
        })
    };
    let mut address = None;
    let mut recipients = Vec::new();
    for r in request
        .get("recipient")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let reference = r.get("reference").and_then(Value::as_str).unwrap_or("");
        let Some(org) = local(reference, "Organization") else {
            recipients.push(r.clone());
            continue;
        };
        if address.is_none() {
            address = org
                .get("endpoint")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|e| e.get("reference").and_then(Value::as_str))
                .filter_map(|e| local(e, "Endpoint"))
                .find_map(|e| e.get("address").and_then(Value::as_str))
                .map(|a| a.trim_end_matches('/').to_string());
        }
        let mut named = serde_json::Map::new();
        if let Some(id) = org.pointer("/identifier/0") {
            named.insert("identifier".into(), id.clone());
        }
        if let Some(d) = r
            .get("display")
            .or_else(|| org.get("name"))
            .or_else(|| org.pointer("/identifier/0/value"))
        {
            named.insert("display".into(), d.clone());
        }
        recipients.push(Value::Object(named));
    }
    Addressee {
        address,
        recipients,
    }
}

/// Make a CommunicationRequest say where its answer goes: the `address` of the contained
/// Endpoint that its first contained recipient Organization references, created when missing.
pub fn set_answer_address(request: &mut Value, address: &str) {
    let Some(o) = request.as_object_mut() else {
        return;
    };
    let org_id = o
        .get("recipient")
        .and_then(|r| r.pointer("/0/reference"))
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .map(str::to_string);
    let contained = o
        .entry("contained")
        .or_insert_with(|| json!([]))
        .as_array_mut();
    let Some(contained) = contained else { return };
    let is = |c: &Value, t: &str, id: &str| {
        c.get("resourceType").and_then(Value::as_str) == Some(t)
            && c.get("id").and_then(Value::as_str) == Some(id)
    };
    let org_id = match org_id.filter(|id| contained.iter().any(|c| is(c, "Organization", id))) {
        Some(id) => id,
        None => {
            contained.push(json!({"resourceType": "Organization", "id": "answer-recipient"}));
            o.insert(
                "recipient".into(),
                json!([{"reference": "#answer-recipient"}]),
            );
            "answer-recipient".to_string()
        }
    };
    let Some(contained) = o.get_mut("contained").and_then(Value::as_array_mut) else {
        return;
    };
    let endpoint_id = contained
        .iter()
        .find(|c| is(c, "Organization", &org_id))
        .and_then(|org| org.get("endpoint"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("reference").and_then(Value::as_str))
        .filter_map(|r| r.strip_prefix('#'))
        .find(|id| contained.iter().any(|c| is(c, "Endpoint", id)))
        .map(str::to_string);
    match endpoint_id {
        Some(id) => {
            if let Some(ep) = contained.iter_mut().find(|c| is(c, "Endpoint", &id)) {
                ep["address"] = json!(address);
            }
        }
        None => {
            contained.push(json!({
                "resourceType": "Endpoint", "id": "answer-endpoint", "status": "active",
                "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "hl7-fhir-rest"},
                "payloadType": [{"text": "FHIR"}],
                "address": address
            }));
            if let Some(org) = contained
                .iter_mut()
                .find(|c| is(c, "Organization", &org_id))
            {
                let refs = org
                    .as_object_mut()
                    .map(|m| m.entry("endpoint").or_insert_with(|| json!([])));
                if let Some(Value::Array(refs)) = refs {
                    refs.push(json!({"reference": "#answer-endpoint"}));
                }
            }
        }
    }
}

/// Remove the Endpoints a CommunicationRequest carries, and the references to them.
pub fn strip_endpoints(request: &mut Value) {
    if let Some(contained) = request.get_mut("contained").and_then(Value::as_array_mut) {
        contained.retain(|c| c.get("resourceType").and_then(Value::as_str) != Some("Endpoint"));
        for c in contained.iter_mut() {
            if let Some(m) = c.as_object_mut() {
                m.remove("endpoint");
            }
        }
    }
}

/// POST a resource as FHIR JSON to `[base]/[type]`, with the pack's bearer token when the
/// scenario has one. Returns the response, or why there is none or it is not a success.
pub async fn post(
    http: &HttpClient,
    base: &str,
    resource: &Value,
    token: Option<&str>,
) -> Result<Message, String> {
    let rtype = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .ok_or("the resource to send has no resourceType")?;
    let mut headers = vec![
        ("Accept".to_string(), "application/fhir+json".to_string()),
        (
            "Content-Type".to_string(),
            "application/fhir+json".to_string(),
        ),
    ];
    if let Some(t) = token.filter(|t| !t.is_empty()) {
        headers.push(("Authorization".into(), format!("Bearer {t}")));
    }
    let x = http
        .send(
            OutgoingRequest {
                method: "POST".into(),
                url: format!("{}/{rtype}", base.trim_end_matches('/')),
                path: rtype.to_string(),
                headers,
                body: Some(serde_json::to_vec(resource).map_err(|e| e.to_string())?),
            },
            Duration::from_secs(30),
        )
        .await;
    if let Some(e) = x.error {
        return Err(e);
    }
    let resp = x.response.ok_or("no response")?;
    match resp.status {
        Some(s) if (200..300).contains(&s) => Ok(resp),
        s => Err(format!(
            "POST {rtype} was answered {}: {}",
            s.map(|s| s.to_string()).unwrap_or_default(),
            String::from_utf8_lossy(&resp.body)
                .chars()
                .take(300)
                .collect::<String>()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addressee_follows_contained_endpoint() {
        let cr = json!({
            "resourceType": "CommunicationRequest",
            "contained": [
                {"resourceType": "Organization", "id": "payer",
                 "identifier": [{"system": "urn:x", "value": "Payer"}],
                 "endpoint": [{"reference": "#ep"}]},
                {"resourceType": "Endpoint", "id": "ep", "address": "http://h:1/fhir/"}
            ],
            "recipient": [{"reference": "#payer"}]
        });
        let a = addressee(&cr);
        assert_eq!(a.address.as_deref(), Some("http://h:1/fhir"));
        assert_eq!(a.recipients[0]["identifier"]["value"], "Payer");
        let bare = json!({"recipient": [{"reference": "Organization/1"}]});
        let b = addressee(&bare);
        assert!(b.address.is_none());
        assert_eq!(b.recipients[0]["reference"], "Organization/1");
    }

    #[test]
    fn answer_address_is_set_or_created() {
        let mut cr = json!({"resourceType": "CommunicationRequest",
            "contained": [{"resourceType": "Organization", "id": "p", "endpoint": [{"reference": "#e"}]},
                          {"resourceType": "Endpoint", "id": "e", "address": "http://old"}],
            "recipient": [{"reference": "#p"}]});
        set_answer_address(&mut cr, "http://new");
        assert_eq!(addressee(&cr).address.as_deref(), Some("http://new"));
        let mut bare = json!({"resourceType": "CommunicationRequest"});
        set_answer_address(&mut bare, "http://x");
        assert_eq!(addressee(&bare).address.as_deref(), Some("http://x"));
        strip_endpoints(&mut bare);
        assert!(addressee(&bare).address.is_none());
    }

    #[test]
    fn payload_keys() {
        let q =
            json!({"extension": [{"url": QUERY_STRING_EXT, "valueString": "Condition?patient=1"}]});
        assert_eq!(
            payload_key(&q).as_deref(),
            Some("query:Condition?patient=1")
        );
        let n = json!({"extension": [{"url": NOTE_TYPE_EXT, "valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "18842-5"}]}}]});
        assert_eq!(
            payload_key(&n).as_deref(),
            Some("note:http://loinc.org|18842-5")
        );
        assert_eq!(payload_key(&json!({})), None);
    }
}
