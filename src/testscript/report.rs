//! One FHIR R4 TestReport per script, from the runner's results: result, score,
//! participants, and setup/test/teardown actions with each assert's result and message.

use super::lower::{ActionRef, Lowered};
use crate::results::{AssertionResult, ScenarioResult, Status, StepResult};
use serde_json::{Value, json};

fn code(s: Status) -> &'static str {
    match s {
        Status::Passed => "pass",
        Status::Warned => "warning",
        Status::Failed => "fail",
        Status::Errored => "error",
        Status::Skipped | Status::NotRun | Status::NotApplicable => "skip",
    }
}

fn step<'a>(r: &'a ScenarioResult, id: &str) -> Option<&'a StepResult> {
    r.steps.iter().find(|s| s.id == id)
}

fn operation(r: &ScenarioResult, id: &str) -> Value {
    match step(r, id) {
        Some(s) => {
            let x = s.exchanges.last();
            let status = match (s.status, x) {
                (Status::Skipped | Status::NotRun | Status::NotApplicable, _) => s.status,
                (_, Some(x)) if x.error.is_some() => Status::Errored,
                (_, Some(_)) => Status::Passed,
                (Status::Errored, None) => Status::Errored,
                _ => Status::Skipped,
            };
            let mut message = match x {
                Some(x) => format!(
                    "{} {} -> {}",
                    x.request.method.clone().unwrap_or_default(),
                    x.request.url.clone().unwrap_or_default(),
                    x.response
                        .as_ref()
                        .and_then(|r| r.status)
                        .map(|c| c.to_string())
                        .or_else(|| x.error.clone())
                        .unwrap_or_default()
                ),
                None => String::new(),
            };
            if let Some(m) = &s.message
                && status != Status::Passed
            {
                message = if message.is_empty() {
                    m.clone()
                } else {
                    format!("{message}: {m}")
                };
            }
            let mut o = json!({"result": code(status)});
            if !message.is_empty() {
                o["message"] = Value::String(message);
            }
            o
        }
        None => json!({"result": "skip", "message": "not run"}),
    }
}

fn assert(a: Option<&AssertionResult>) -> Value {
    match a {
        Some(a) => {
            let mut msg = a.description.clone();
            if let Some(m) = &a.message {
                msg = format!("{msg}: {m}");
            } else if let Some(x) = &a.actual {
                msg = format!("{msg}: found {x}");
            }
            json!({"result": code(a.status), "message": msg})
        }
        None => json!({"result": "skip", "message": "not run"}),
    }
}

/// The TestReport of one script's run.
pub fn test_report(l: &Lowered, r: &ScenarioResult, target: &str, issued: &str) -> Value {
    let mut sections: Vec<(String, Vec<Value>)> = Vec::new();
    let (mut passed, mut total, mut failed) = (0u32, 0u32, false);
    for sec in &l.sections {
        let mut actions = Vec::new();
        for a in &sec.actions {
            let (kind, v) = match a {
                ActionRef::Operation { step: id } => ("operation", operation(r, id)),
                ActionRef::Assert { step: id, index } => {
                    let v = assert(step(r, id).and_then(|s| s.assertions.get(*index)));
                    total += 1;
                    match v["result"].as_str() {
                        Some("pass" | "warning") => passed += 1,
                        Some("fail" | "error") => failed = true,
                        _ => {}
                    }
                    ("assert", v)
                }
                ActionRef::Skipped { why, operation } => (
                    if *operation { "operation" } else { "assert" },
                    json!({"result": "skip", "message": format!("not run (unsupported): {why}")}),
                ),
            };
            // A teardown action is an operation only.
            if sec.path == "teardown" && kind != "operation" {
                continue;
            }
            actions.push(json!({ kind: v }));
        }
        sections.push((sec.path.clone(), actions));
    }
    // Operations that errored fail the report too (nothing could be judged).
    for s in &r.steps {
        if s.status == Status::Errored && !s.id.starts_with("teardown") {
            failed = true;
        }
    }
    let autocreate: Vec<Value> = l
        .autocreate
        .iter()
        .map(|id| json!({"operation": operation(r, id)}))
        .collect();
    let autodelete: Vec<Value> = l
        .autodelete
        .iter()
        .map(|id| json!({"operation": operation(r, id)}))
        .collect();
    let script = &l.loaded.script;
    let reference = match &script.url {
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
            json!({"reference": u, "display": l.scenario.title})
        }
        // A canonical that is not a URL (urn:...) identifies the script.
        Some(u) => {
            json!({"identifier": {"system": "urn:ietf:rfc:3986", "value": u}, "display": l.scenario.title})
        }
        None => json!({"display": format!("{} ({})", l.scenario.title, l.loaded.file.display())}),
    };
    let score = if total == 0 {
        100.0
    } else {
        (f64::from(passed) * 1000.0 / f64::from(total)).round() / 10.0
    };
    let id: String = format!("cdex-harness-{}", l.scenario.id)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    let mut out = json!({
        "resourceType": "TestReport",
        "id": id,
        "name": format!("{} run by cdex-harness", l.scenario.title),
        "status": if r.status == Status::NotRun { "entered-in-error" } else { "completed" },
        "testScript": reference,
        "result": if failed { "fail" } else { "pass" },
        "score": score,
        "tester": "cdex-harness",
        "issued": issued,
        "participant": [
            {"type": "test-engine", "uri": "https://github.com/cdex-harness", "display": format!("cdex-harness {}", env!("CARGO_PKG_VERSION"))},
            {"type": if target.starts_with("client under test") { "client" } else { "server" },
             "uri": if target.starts_with("http") { target.to_string() } else { "urn:cdex-harness:system-under-test".to_string() }, "display": target},
        ],
    });
    let mut setup: Vec<Value> = autocreate;
    let mut tests = Vec::new();
    let mut teardown: Vec<Value> = Vec::new();
    for (path, actions) in sections {
        if path == "setup" {
            setup.extend(actions);
        } else if path == "teardown" {
            teardown.extend(actions);
        } else {
            let i: usize = path[5..path.len() - 1].parse().unwrap_or(0);
            let t = &script.test[i];
            let mut tv = json!({"action": actions});
            if let Some(n) = &t.name {
                tv["name"] = json!(n);
            }
            if let Some(d) = &t.description {
                tv["description"] = json!(d);
            }
            if tv["action"].as_array().is_some_and(Vec::is_empty) {
                continue;
            }
            tests.push(tv);
        }
    }
    teardown.extend(autodelete);
    if !setup.is_empty() {
        out["setup"] = json!({"action": setup});
    }
    if !tests.is_empty() {
        out["test"] = json!(tests);
    }
    if !teardown.is_empty() {
        out["teardown"] = json!({"action": teardown});
    }
    out
}
