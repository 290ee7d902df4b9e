//! Direct Query (CDex 2.1.0 direct-query.html): searches, reads and `Patient/$match`.
//!
//! The search parameters are the few the IG's queries use (and the Task searches of HRex):
//! Patient identifier/name/family/given/birthdate/gender, `patient`, Condition
//! clinical-status, Observation code/date, DocumentReference type/period with `_sort` and
//! `_count`, Provenance target, Task owner/requester (`:identifier`)/status/code/
//! `_lastUpdated`, `_id`; `_revinclude=Provenance:target` and `_include=Task:output`.
//! Parameters it does not know are ignored, as FHIR allows, and left out of the self link.

use super::{DataSource, tasks};
use crate::actors::notified_pull::hub::reference_identifier_matches;
use crate::http::Message;
use crate::mock::{fhir_response, outcome};
use serde_json::{Value, json};

/// Result parameters: they do not filter.
const RESULT_PARAMS: &[&str] = &[
    "_count",
    "_sort",
    "_include",
    "_revinclude",
    "_format",
    "_summary",
    "_elements",
    "_total",
    "_pretty",
];

/// What a search found.
pub struct Found {
    pub matches: Vec<Value>,
    pub total: usize,
    pub includes: Vec<Value>,
    /// The parameters it used (for the self link).
    pub used: Vec<(String, String)>,
}

/// Resource types a read of which is refused when signed results were pre-negotiated (the
/// Task workflow, Subscriptions, documents and attachment content stay readable).
fn signed_read_refused(rtype: &str) -> bool {
    !matches!(rtype, "Task" | "Subscription" | "Bundle" | "Binary")
}

/// `GET [type]/[id]`.
pub fn read(ds: &DataSource, rtype: &str, id: &str) -> Message {
    if ds.settings.signatures_required
        && signed_read_refused(rtype)
        && !ds.fault("read-allowed-when-signed")
    {
        if ds.fault("refusal-without-outcome") {
            return Message {
                status: Some(400),
                ..Message::default()
            };
        }
        // CONF-010: the IG's OperationOutcome.
        return fhir_response(
            400,
            &json!({
                "resourceType": "OperationOutcome",
                "issue": [{
                    "severity": "error",
                    "code": "business-rule",
                    "details": {"text": "signed FHIR RESTful read response is not supported"},
                    "diagnostics": "Resubmit the request as a FHIR RESTful search"
                }]
            }),
        );
    }
    if ds.fault("no-read") && signed_read_refused(rtype) {
        return outcome(404, "not-found", &format!("`{rtype}/{id}` is not known"));
    }
    match ds.get(rtype, id) {
        Some(r) => fhir_response(200, &r),
        None => outcome(404, "not-found", &format!("`{rtype}/{id}` is not known")),
    }
}

/// `GET [type]?...`.
pub fn search(
    ds: &DataSource,
    rtype: &str,
    params: &[(String, String)],
    base: &str,
    _query: &str,
) -> Message {
    if !rtype.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
        return outcome(
            404,
            "not-supported",
            &format!("`{rtype}` is not a resource type"),
        );
    }
    // A Task search is a poll of each Task it could find: those Tasks move first.
    if rtype == "Task" {
        let plain: Vec<(String, String)> = params
            .iter()
            .filter(|(k, _)| k != "_lastUpdated")
            .cloned()
            .collect();
        for t in ds.all_of("Task") {
            if matches_all(ds, &t, &plain) {
                tasks::polled(ds, t["id"].as_str().unwrap_or_default());
            }
        }
    }
    let found = run(ds, rtype, params);
    let mut bundle = bundle(ds, rtype, base, &found);
    super::signing::sign_results(ds, &mut bundle);
    fhir_response(200, &bundle)
}

/// Run a search (also for a Task's `data-query` input).
pub fn run(ds: &DataSource, rtype: &str, params: &[(String, String)]) -> Found {
    let mut matches: Vec<Value> = ds
        .all_of(rtype)
        .into_iter()
        .filter(|r| matches_all(ds, r, params))
        .collect();
    if let Some((_, sort)) = params.iter().find(|(k, _)| k == "_sort") {
        sort_by(&mut matches, sort);
    }
    let total = matches.len();
    if let Some(n) = params
        .iter()
        .find(|(k, _)| k == "_count")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        matches.truncate(n);
    }
    let mut includes = Vec::new();
    for (k, v) in params {
        match (k.as_str(), v.as_str()) {
            ("_revinclude", "Provenance:target") if !ds.fault("no-provenance") => {
                for m in &matches {
                    let target = format!(
                        "{}/{}",
                        m["resourceType"].as_str().unwrap_or_default(),
                        m["id"].as_str().unwrap_or_default()
                    );
                    for p in ds.all_of("Provenance") {
                        let hits = p["target"].as_array().is_some_and(|ts| {
                            ts.iter().any(|t| {
                                t["reference"].as_str().is_some_and(|r| {
                                    r == target || r.ends_with(&format!("/{target}"))
                                })
                            })
                        });
                        if hits && !includes.contains(&p) {
                            includes.push(p);
                        }
                    }
                }
            }
            ("_include", "Task:output") if rtype == "Task" => {
                for m in &matches {
                    for r in tasks::output_resources(ds, m) {
                        if !includes.contains(&r) {
                            includes.push(r);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let used = params
        .iter()
        .filter(|(k, _)| {
            let name = k.split(':').next().unwrap_or("");
            RESULT_PARAMS.contains(&name) || known(rtype, name)
        })
        .cloned()
        .collect();
    Found {
        matches,
        total,
        includes,
        used,
    }
}

/// A searchset Bundle (or, fault `search-not-searchset`, a collection).
pub fn bundle(ds: &DataSource, rtype: &str, base: &str, found: &Found) -> Value {
    let full_url = |r: &Value| {
        format!(
            "{base}/{}/{}",
            r["resourceType"].as_str().unwrap_or_default(),
            r["id"].as_str().unwrap_or_default()
        )
    };
    let mut entries: Vec<Value> = found
        .matches
        .iter()
        .map(|r| json!({"fullUrl": full_url(r), "resource": r, "search": {"mode": "match"}}))
        .collect();
    entries.extend(
        found
            .includes
            .iter()
            .map(|r| json!({"fullUrl": full_url(r), "resource": r, "search": {"mode": "include"}})),
    );
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(found.used.iter())
        .finish();
    let kind = if ds.fault("search-not-searchset") {
        "collection"
    } else {
        "searchset"
    };
    json!({
        "resourceType": "Bundle",
        "id": ds.new_id("search"),
        "meta": {"lastUpdated": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)},
        "type": kind,
        "total": found.total,
        "link": [{"relation": "self", "url": format!("{base}/{rtype}?{query}")}],
        "entry": entries
    })
}

/// `POST Patient/$match`: the Patient of the Parameters' `resource`, matched on its
/// identifiers, or its name and birth date.
pub fn patient_match(ds: &DataSource, req: &Message) -> Message {
    if ds.fault("no-match") {
        return outcome(501, "not-supported", "$match is not supported");
    }
    let body = match req.json() {
        Ok(b) => b,
        Err(e) => return outcome(400, "structure", &e),
    };
    let patient = match body.get("resourceType").and_then(Value::as_str) {
        Some("Parameters") => body["parameter"]
            .as_array()
            .and_then(|ps| {
                ps.iter()
                    .find(|p| p["name"].as_str() == Some("resource"))
                    .map(|p| p["resource"].clone())
            })
            .unwrap_or(Value::Null),
        _ => Value::Null,
    };
    if patient.get("resourceType").and_then(Value::as_str) != Some("Patient") {
        return outcome(
            400,
            "required",
            "$match takes a Parameters resource whose `resource` parameter is a Patient",
        );
    }
    let only_certain = body["parameter"].as_array().is_some_and(|ps| {
        ps.iter().any(|p| {
            p["name"].as_str() == Some("onlyCertainMatches") && p["valueBoolean"] == json!(true)
        })
    });
    let mut entries = Vec::new();
    for candidate in ds.all_of("Patient") {
        let by_identifier = patient["identifier"].as_array().is_some_and(|ids| {
            ids.iter().any(|i| {
                candidate["identifier"].as_array().is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c["value"] == i["value"]
                            && (i["system"].is_null() || c["system"] == i["system"])
                    })
                })
            })
        });
        let family = |p: &Value| {
            p.pointer("/name/0/family")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_ascii_lowercase()
        };
        let by_demographics = !family(&patient).is_empty()
            && family(&patient) == family(&candidate)
            && patient["birthDate"] == candidate["birthDate"];
        let score = match (by_identifier, by_demographics) {
            (true, true) => 1.0,
            (true, false) => 0.9,
            (false, true) => 0.7,
            (false, false) => continue,
        };
        if only_certain && score < 0.9 {
            continue;
        }
        let grade = if score >= 0.9 { "certain" } else { "probable" };
        entries.push(json!({
            "fullUrl": format!("{}/Patient/{}", ds.base(), candidate["id"].as_str().unwrap_or_default()),
            "resource": candidate,
            "search": {"mode": "match", "score": score, "extension": [{
                "url": "http://hl7.org/fhir/StructureDefinition/match-grade",
                "valueCode": grade
            }]}
        }));
    }
    let mut bundle = json!({
        "resourceType": "Bundle",
        "id": ds.new_id("match"),
        "type": "searchset",
        "total": entries.len(),
        "entry": entries
    });
    super::signing::sign_results(ds, &mut bundle);
    fhir_response(200, &bundle)
}

/// Parameters it understands per type (the others are ignored).
fn known(rtype: &str, name: &str) -> bool {
    let common = ["_id", "_lastUpdated"];
    let per_type: &[&str] = match rtype {
        "Patient" => &[
            "identifier",
            "name",
            "family",
            "given",
            "birthdate",
            "gender",
        ],
        "Condition" => &["patient", "subject", "clinical-status", "code", "category"],
        "Observation" => &["patient", "subject", "code", "date", "category", "status"],
        "DocumentReference" => &[
            "patient", "subject", "type", "category", "date", "period", "status",
        ],
        "Provenance" => &["target", "patient"],
        "Task" => &[
            "owner",
            "requester",
            "status",
            "code",
            "patient",
            "subject",
            "for",
        ],
        _ => &[],
    };
    common.contains(&name) || per_type.contains(&name)
}

/// Every parameter holds (comma = OR inside one).
pub fn matches_all(ds: &DataSource, r: &Value, params: &[(String, String)]) -> bool {
    let rtype = r["resourceType"].as_str().unwrap_or_default();
    params.iter().all(|(k, v)| {
        let (name, modifier) = match k.split_once(':') {
            Some((n, m)) => (n, Some(m)),
            None => (k.as_str(), None),
        };
        if RESULT_PARAMS.contains(&name) || !known(rtype, name) {
            return true;
        }
        if rtype == "Patient" && name == "identifier" && ds.fault("no-patient-search") {
            return false;
        }
        let ignore =
            ds.fault("ignore-search-criteria") && !matches!(name, "patient" | "subject" | "_id");
        ignore || matches_one(r, rtype, name, modifier, v)
    })
}

fn matches_one(r: &Value, rtype: &str, name: &str, modifier: Option<&str>, value: &str) -> bool {
    match (rtype, name) {
        (_, "_id") => value.split(',').any(|v| r["id"].as_str() == Some(v)),
        (_, "_lastUpdated") => date_matches(r.pointer("/meta/lastUpdated"), value),
        ("Patient", "identifier") => any_token(r.get("identifier"), value),
        ("Patient", "gender") => any_token(r.get("gender"), value),
        ("Patient", "birthdate") => date_matches(r.get("birthDate"), value),
        ("Patient", "name" | "family" | "given") => {
            let exact = modifier == Some("exact");
            let mut names = Vec::new();
            for n in r["name"].as_array().into_iter().flatten() {
                if name != "given" {
                    names.extend(n["family"].as_str());
                }
                if name != "family" {
                    names.extend(
                        n["given"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str),
                    );
                }
                if name == "name" {
                    names.extend(n["text"].as_str());
                }
            }
            value.split(',').any(|v| {
                names.iter().any(|n| {
                    if exact {
                        *n == v
                    } else {
                        n.to_lowercase().starts_with(&v.to_lowercase())
                    }
                })
            })
        }
        (_, "patient" | "subject" | "for") => {
            let element = ["subject", "patient", "for"].iter().find_map(|e| r.get(*e));
            if modifier == Some("identifier") {
                return reference_identifier_matches(element, value);
            }
            reference_matches(element, value, "Patient")
        }
        ("Provenance", "target") => r["target"]
            .as_array()
            .is_some_and(|ts| ts.iter().any(|t| reference_matches(Some(t), value, ""))),
        ("Condition", "clinical-status") => any_token(r.get("clinicalStatus"), value),
        ("Observation" | "Condition" | "DocumentReference", "category") => {
            any_token(r.get("category"), value)
        }
        (_, "code") => any_token(r.get("code"), value),
        ("DocumentReference", "type") => any_token(r.get("type"), value),
        (_, "status") => any_token(r.get("status"), value),
        ("Observation", "date") => date_matches(
            r.get("effectiveDateTime")
                .or_else(|| r.pointer("/effectivePeriod/start")),
            value,
        ),
        ("DocumentReference", "date") => date_matches(r.get("date"), value),
        ("DocumentReference", "period") => date_matches(r.pointer("/context/period/start"), value),
        ("Task", "owner" | "requester") => {
            let element = r.get(name);
            if modifier == Some("identifier") {
                reference_identifier_matches(element, value)
            } else {
                reference_matches(element, value, "")
            }
        }
        _ => true,
    }
}

/// A Reference (or list of them) matches `Type/id`, `id` or an absolute URL ending so.
fn reference_matches(element: Option<&Value>, wanted: &str, default_type: &str) -> bool {
    let Some(el) = element else { return false };
    if let Some(items) = el.as_array() {
        return items
            .iter()
            .any(|i| reference_matches(Some(i), wanted, default_type));
    }
    let Some(reference) = el.get("reference").and_then(Value::as_str) else {
        return false;
    };
    wanted.split(',').any(|w| {
        let w = w.trim_end_matches('/');
        let tail = |s: &str| {
            let parts: Vec<&str> = s.rsplitn(3, '/').collect();
            match parts.as_slice() {
                [id, ty, ..] => format!("{ty}/{id}"),
                [id] if !default_type.is_empty() => format!("{default_type}/{id}"),
                [id] => id.to_string(),
                _ => String::new(),
            }
        };
        reference == w
            || tail(reference) == tail(w)
            || (!w.contains('/') && reference.ends_with(&format!("/{w}")))
    })
}

/// A token (`system|code`, `code`, `|code`, `system|`) in any code, Coding, CodeableConcept
/// or Identifier under the element (comma = OR).
fn any_token(element: Option<&Value>, wanted: &str) -> bool {
    wanted
        .split(',')
        .any(|w| element.is_some_and(|e| token_matches(e, w)))
}

fn token_matches(el: &Value, wanted: &str) -> bool {
    let (system, code) = match wanted.split_once('|') {
        Some((s, c)) => (Some(s), c),
        None => (None, wanted),
    };
    let pair = |s: &str, c: &str| {
        system.is_none_or(|want| want.is_empty() || want == s) && (code.is_empty() || code == c)
    };
    match el {
        Value::String(s) => system.is_none_or(str::is_empty) && s == code,
        Value::Array(items) => items.iter().any(|i| token_matches(i, wanted)),
        Value::Object(o) => {
            if let Some(codings) = o.get("coding").and_then(Value::as_array) {
                return codings.iter().any(|c| token_matches(c, wanted));
            }
            let s = o.get("system").and_then(Value::as_str).unwrap_or("");
            if let Some(c) = o.get("code").and_then(Value::as_str) {
                return pair(s, c);
            }
            if let Some(v) = o.get("value").and_then(Value::as_str) {
                return pair(s, v);
            }
            false
        }
        _ => false,
    }
}

/// A date parameter (`ge2020-01-01`, `gt2021`, `2020-06-18`...) against a date/dateTime,
/// compared at the precision of the parameter.
fn date_matches(element: Option<&Value>, wanted: &str) -> bool {
    let Some(have) = element.and_then(Value::as_str) else {
        return false;
    };
    let (op, date) = match wanted.get(..2) {
        Some(p @ ("gt" | "ge" | "lt" | "le" | "eq" | "ne" | "sa" | "eb")) => (p, &wanted[2..]),
        _ => ("eq", wanted),
    };
    // An instant with a time compares as an instant; a date at its precision.
    if date.len() > 10
        && let (Ok(a), Ok(b)) = (
            chrono::DateTime::parse_from_rfc3339(have),
            chrono::DateTime::parse_from_rfc3339(date),
        )
    {
        return match op {
            "gt" | "sa" => a > b,
            "ge" => a >= b,
            "lt" | "eb" => a < b,
            "le" => a <= b,
            "ne" => a != b,
            _ => a == b,
        };
    }
    let have: String = have.chars().take(date.len()).collect();
    let have = have.as_str();
    match op {
        "gt" | "sa" => have > date,
        "ge" => have >= date,
        "lt" | "eb" => have < date,
        "le" => have <= date,
        "ne" => have != date,
        _ => have == date,
    }
}

/// `_sort` by `period`, `date` or `_lastUpdated` (a leading `-`: descending).
fn sort_by(items: &mut [Value], sort: &str) {
    let first = sort.split(',').next().unwrap_or("");
    let (desc, key) = match first.strip_prefix('-') {
        Some(k) => (true, k),
        None => (false, first),
    };
    let value = |r: &Value| -> String {
        let v = match key {
            "period" => r.pointer("/context/period/start"),
            "date" => r
                .get("date")
                .or_else(|| r.get("effectiveDateTime"))
                .or_else(|| r.get("authoredOn")),
            "_lastUpdated" => r.pointer("/meta/lastUpdated"),
            _ => None,
        };
        v.and_then(Value::as_str).unwrap_or("").to_string()
    };
    items.sort_by_key(value);
    if desc {
        items.reverse();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_references_and_dates() {
        let cc = json!({"coding": [{"system": "http://loinc.org", "code": "4548-4"}]});
        assert!(token_matches(&cc, "4548-4"));
        assert!(token_matches(&cc, "http://loinc.org|4548-4"));
        assert!(!token_matches(&cc, "http://snomed.info/sct|4548-4"));
        let r = json!({"reference": "http://x/fhir/Patient/p1"});
        assert!(reference_matches(Some(&r), "p1", "Patient"));
        assert!(reference_matches(Some(&r), "Patient/p1", "Patient"));
        assert!(!reference_matches(Some(&r), "p2", "Patient"));
        assert!(date_matches(
            Some(&json!("2020-06-18T09:02:11Z")),
            "gt2020-01-01"
        ));
        assert!(!date_matches(
            Some(&json!("2019-03-12T10:21:08Z")),
            "gt2020-01-01"
        ));
        assert!(date_matches(Some(&json!("1987-02-20")), "1987-02-20"));
        assert!(!date_matches(Some(&json!("2020-01-01")), "gt2020-01-01"));
    }
}
