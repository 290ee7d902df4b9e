//! User scopes limited to one patient (CONF-015): a bearer token of the `scoped_tokens`
//! setting gives its holder the data of one patient only. Reads of another patient's data
//! are refused (403 + OperationOutcome `forbidden`), searches leave it out, `$match` finds
//! only that patient; other interactions (Tasks, Subscriptions) are refused.

use super::{DataSource, direct_query};
use crate::http::Message;
use crate::mock::{fhir_response, outcome};
use serde::Deserialize;
use serde_json::Value;

/// One token of the `scoped_tokens` setting: it gives access to the patient with this
/// member identifier (Patient.identifier value) only.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopedToken {
    pub token: String,
    pub member_id: String,
}

/// What a request's bearer token gives access to.
#[derive(Debug, Clone, PartialEq)]
pub enum Access {
    All,
    /// The data of the Patient with this logical id only.
    Patient(String),
}

/// The logical id of the patient a resource is about, if it is about one.
pub fn patient_of(r: &Value) -> Option<String> {
    if r["resourceType"].as_str() == Some("Patient") {
        return r["id"].as_str().map(str::to_string);
    }
    ["subject", "patient", "for", "beneficiary"]
        .iter()
        .filter_map(|e| r.get(*e))
        .find_map(|el| el.get("reference").and_then(Value::as_str))
        .and_then(|reference| {
            let mut parts = reference.rsplit('/');
            let id = parts.next()?;
            (parts.next()? == "Patient").then(|| id.to_string())
        })
}

/// A resource the holder of a token for `patient` may see.
fn allowed(patient: &str, r: &Value) -> bool {
    patient_of(r).is_none_or(|p| p == patient)
}

/// The Patient whose member identifier a scoped token names (a member it does not know:
/// a patient id nobody has, so the token sees no one's data).
pub fn patient_for(ds: &DataSource, member_id: &str) -> String {
    ds.all_of("Patient")
        .into_iter()
        .find(|p| {
            p["identifier"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|i| i["value"].as_str() == Some(member_id)))
        })
        .and_then(|p| p["id"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("unknown-member-{member_id}"))
}

fn forbidden(why: &str) -> Message {
    outcome(403, "forbidden", why)
}

/// Answer a request made with a token limited to `patient` (`base`: its FHIR base).
pub fn answer(ds: &DataSource, patient: &str, req: &Message, base: &str) -> Message {
    let method = req.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
    let full = req.path.as_deref().unwrap_or("");
    let (path, query) = full.split_once('?').unwrap_or((full, ""));
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let params = crate::actors::store::parse_query(query);
    let (method, segs, params) = (method.as_str(), segs.as_slice(), params.as_slice());
    match (method, segs) {
        ("POST", ["Patient", "$match"]) => {
            let mut m = direct_query::patient_match(ds, req);
            if let Ok(mut b) = m.json()
                && let Some(entries) = b["entry"].as_array_mut()
            {
                entries.retain(|e| allowed(patient, &e["resource"]));
                b["total"] = entries.len().into();
                m = fhir_response(m.status.unwrap_or(200), &b);
            }
            m
        }
        ("GET", [rtype]) if !matches!(*rtype, "Task" | "Subscription") => {
            if !rtype.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
                return direct_query::search(ds, rtype, params, base, query);
            }
            let mut found = direct_query::run(ds, rtype, params);
            let before = found.matches.len();
            found.matches.retain(|r| allowed(patient, r));
            found.total -= before - found.matches.len();
            found.includes.retain(|r| allowed(patient, r));
            fhir_response(200, &direct_query::bundle(ds, rtype, base, &found))
        }
        ("GET", [rtype, id]) if !matches!(*rtype, "Task" | "Subscription") => {
            match ds.get(rtype, id) {
                Some(r) if !allowed(patient, &r) => forbidden(&format!(
                    "the access token's scope does not cover `{rtype}/{id}` (another patient's data)"
                )),
                _ => direct_query::read(ds, rtype, id),
            }
        }
        _ => forbidden(&format!(
            "the access token's scope covers reads and searches of one patient's data, not {method} /{}",
            segs.join("/")
        )),
    }
}
