//! The server side of a task-based actor: a small FHIR server (create, read, update, search,
//! instance history) over the actor's store. The owner receives Tasks here and the requester
//! serves the Task's focus here.

use super::TaskActor;
use crate::actors::store::parse_query;
use crate::http::Message;
use crate::mock::{fhir_response, outcome};
use serde_json::{Value, json};

/// Answer one request.
pub(super) fn handle(actor: &TaskActor, req: &Message) -> Message {
    let method = req.method.as_deref().unwrap_or("GET");
    let full = req.path.as_deref().unwrap_or("");
    let (path, query) = full.split_once('?').unwrap_or((full, ""));
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let base = req.fhir_base();
    let valid_type = |t: &str| {
        t.starts_with(|c: char| c.is_ascii_uppercase())
            && t.chars().all(|c| c.is_ascii_alphanumeric())
    };
    match (method, segs.as_slice()) {
        ("GET", ["metadata"]) => fhir_response(200, &capability(actor)),
        ("POST", [t]) if valid_type(t) => create(actor, req, t, &base),
        ("GET", [t]) if valid_type(t) => search(actor, t, query, &base),
        ("GET", [t, id]) if valid_type(t) => read(actor, t, id),
        ("GET", [t, id, "_history"]) if valid_type(t) => history(actor, t, id, &base),
        ("PUT", [t, id]) if valid_type(t) => update(actor, req, t, id),
        _ => outcome(
            404,
            "not-supported",
            &format!("{method} /{path} is not an interaction this server supports"),
        ),
    }
}

/// Put a resource in place (a scenario's `serve` step).
pub(super) fn seed(actor: &TaskActor, resource: Value) -> Result<String, String> {
    let rtype = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .ok_or("a served resource needs a resourceType")?
        .to_string();
    let stored = match resource.get("id").and_then(Value::as_str) {
        Some(id) => actor.put(&rtype, id, resource.clone()).0,
        None => actor.create(&rtype, resource),
    };
    Ok(format!("{rtype}/{}", stored.id()))
}

fn capability(actor: &TaskActor) -> Value {
    let interactions = json!([{"code":"create"},{"code":"read"},{"code":"update"},{"code":"search-type"},{"code":"history-instance"}]);
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-01-01",
        "kind": "instance",
        "software": {"name": format!("cdex-harness reference {} (task-based)", actor.role.name()), "version": env!("CARGO_PKG_VERSION")},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "rest": [{"mode": "server", "resource": [
            {"type": "Task", "interaction": interactions},
            {"type": actor.role.focus_type(), "interaction": interactions},
        ]}]
    })
}

/// The pushed body, checked against the URL's type.
fn body_of(req: &Message, rtype: &str) -> Result<Value, Box<Message>> {
    crate::mock::pushed_resource(req, rtype)
}

/// An owner only takes Tasks it can work on: one with a focus to pull.
fn check_task(actor: &TaskActor, task: &Value) -> Result<(), Box<Message>> {
    if !actor.role.is_owner() {
        return Ok(());
    }
    if actor.fault("task-reject-push") {
        return Err(Box::new(outcome(
            405,
            "not-supported",
            "Tasks are not accepted here",
        )));
    }
    if task
        .pointer("/focus/reference")
        .and_then(Value::as_str)
        .is_none()
    {
        return Err(Box::new(outcome(
            422,
            "business-rule",
            "a Task needs a focus reference to the resource to fulfil",
        )));
    }
    Ok(())
}

fn create(actor: &TaskActor, req: &Message, rtype: &str, base: &str) -> Message {
    let resource = match body_of(req, rtype) {
        Ok(r) => r,
        Err(e) => return *e,
    };
    if rtype == "Task"
        && let Err(e) = check_task(actor, &resource)
    {
        return *e;
    }
    let stored = actor.create(rtype, resource);
    let id = stored.id().to_string();
    let mut m = fhir_response(201, &stored.stamped());
    m.headers.push((
        "Location".into(),
        format!("{base}/{rtype}/{id}/_history/{}", stored.version),
    ));
    m.headers
        .push(("ETag".into(), format!("W/\"{}\"", stored.version)));
    m
}

fn update(actor: &TaskActor, req: &Message, rtype: &str, id: &str) -> Message {
    let resource = match body_of(req, rtype) {
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
    let (stored, created) = actor.put(rtype, id, resource);
    let mut m = fhir_response(if created { 201 } else { 200 }, &stored.stamped());
    m.headers
        .push(("ETag".into(), format!("W/\"{}\"", stored.version)));
    m
}

fn read(actor: &TaskActor, rtype: &str, id: &str) -> Message {
    let hidden = !actor.role.is_owner()
        && rtype == actor.role.focus_type()
        && actor.fault("task-focus-not-served");
    match actor.store.read(rtype, id) {
        Some(s) if !hidden => {
            let mut m = fhir_response(200, &s.stamped());
            m.headers
                .push(("ETag".into(), format!("W/\"{}\"", s.version)));
            m
        }
        _ => outcome(404, "not-found", &format!("`{rtype}/{id}` is not known")),
    }
}

fn search(actor: &TaskActor, rtype: &str, query: &str, base: &str) -> Message {
    let params: Vec<(String, String)> = parse_query(query)
        .into_iter()
        .map(|(k, v)| {
            let v = if k == "_lastUpdated" {
                day_to_instant(&v)
            } else {
                v
            };
            (k, v)
        })
        .collect();
    let (hits, _unknown) = actor.store.search(rtype, &params);
    fhir_response(
        200,
        &crate::actors::store::searchset(base, rtype, query, &hits),
    )
}

/// A `_lastUpdated` value precise to the day (`ge2026-01-15`) as the instant the store
/// compares: the start of the day for `ge`/`lt`/`eq`, its end for `gt`/`le`.
fn day_to_instant(value: &str) -> String {
    let (prefix, date) = match value.get(..2) {
        Some(p @ ("gt" | "ge" | "lt" | "le" | "eq")) => (p, &value[2..]),
        _ => ("", value),
    };
    if chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_err() {
        return value.to_string();
    }
    let time = if matches!(prefix, "gt" | "le") {
        "T23:59:59.999Z"
    } else {
        "T00:00:00Z"
    };
    format!("{prefix}{date}{time}")
}

/// `GET [type]/[id]/_history`: every version, newest first.
fn history(actor: &TaskActor, rtype: &str, id: &str, base: &str) -> Message {
    let versions = actor.versions(rtype, id);
    if versions.is_empty() {
        return outcome(404, "not-found", &format!("`{rtype}/{id}` is not known"));
    }
    let entries: Vec<Value> = versions
        .iter()
        .rev()
        .map(|r| {
            let v = r.pointer("/meta/versionId").and_then(Value::as_str).unwrap_or("1");
            json!({
                "fullUrl": format!("{base}/{rtype}/{id}"),
                "resource": r,
                "request": {"method": if v == "1" { "POST" } else { "PUT" }, "url": format!("{rtype}/{id}/_history/{v}")},
            })
        })
        .collect();
    fhir_response(
        200,
        &json!({
            "resourceType": "Bundle",
            "type": "history",
            "total": entries.len(),
            "entry": entries,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::super::{Role, TaskActor};
    use super::*;

    fn request(method: &str, path: &str, body: Option<Value>) -> Message {
        Message {
            method: Some(method.into()),
            url: Some(format!("http://owner.test/{path}")),
            path: Some(path.into()),
            body: body
                .map(|b| serde_json::to_vec(&b).unwrap_or_default())
                .unwrap_or_default(),
            ..Message::default()
        }
    }

    #[test]
    fn a_day_becomes_an_instant() {
        assert_eq!(day_to_instant("ge2026-01-15"), "ge2026-01-15T00:00:00Z");
        assert_eq!(day_to_instant("le2026-01-15"), "le2026-01-15T23:59:59.999Z");
        assert_eq!(
            day_to_instant("gt2026-01-15T10:00:00Z"),
            "gt2026-01-15T10:00:00Z"
        );
        assert_eq!(day_to_instant("é"), "é");
    }

    #[test]
    fn history_lists_every_status_newest_first() {
        let owner = TaskActor::new(Role::Recipient, Default::default());
        let task = json!({"resourceType": "Task", "status": "requested",
            "focus": {"reference": "http://sender.test/Communication/c1"}});
        let created = handle(&owner, &request("POST", "Task", Some(task)));
        assert_eq!(created.status, Some(201));
        let mut t = created.json().expect("a Task");
        for status in ["accepted", "in-progress", "completed"] {
            t["status"] = json!(status);
            let id = t["id"].as_str().unwrap_or_default().to_string();
            let updated = handle(&owner, &request("PUT", &format!("Task/{id}"), Some(t)));
            assert_eq!(updated.status, Some(200));
            t = updated.json().expect("a Task");
        }
        let id = t["id"].as_str().unwrap_or_default();
        let h = handle(
            &owner,
            &request("GET", &format!("Task/{id}/_history"), None),
        );
        let bundle = h.json().expect("a Bundle");
        let statuses: Vec<&str> = bundle["entry"]
            .as_array()
            .map(|e| {
                e.iter()
                    .filter_map(|x| x["resource"]["status"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            statuses,
            ["completed", "in-progress", "accepted", "requested"]
        );
    }

    #[test]
    fn an_owner_refuses_a_task_without_focus() {
        let owner = TaskActor::new(Role::RequestRecipient, Default::default());
        let task = json!({"resourceType": "Task", "status": "requested"});
        assert_eq!(
            handle(&owner, &request("POST", "Task", Some(task))).status,
            Some(422)
        );
    }
}
