//! `task_states`: the versions of one Task the scenario observed, checked against the HRex
//! Task Status value set, the statuses it must reach, and the state machine of the
//! task-based flow (transitions outside it are named, never failed: a system may move a
//! Task through more states than the diagram shows).

use super::assert::failed_status;
use super::observed::{Body, Observed};
use crate::results::{AssertionResult, Status};
use crate::scenario::template::{Vars, render};
use crate::scenario::{Assertion, TASK_STATUS_VALUE_SET, TASK_STATUSES};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// The transitions the task-based flow's state diagram draws.
const DRAWN: &[(&str, &str)] = &[
    ("requested", "accepted"),
    ("requested", "rejected"),
    ("accepted", "in-progress"),
    ("in-progress", "on-hold"),
    ("on-hold", "in-progress"),
    ("in-progress", "completed"),
    ("in-progress", "failed"),
];

/// Where transitions outside the diagram are allowed, named with them.
const EXTRA_ALLOWED_BY: &str = "CONF-060";

/// One version of the Task.
#[derive(Debug, Clone)]
struct Version {
    status: Option<String>,
    version_id: Option<String>,
    last_updated: Option<chrono::DateTime<chrono::FixedOffset>>,
}

/// Every version of one Task seen in `bodies`, oldest first, and how many times it was read.
struct History {
    versions: Vec<Version>,
    reads: usize,
}

/// The Task id a reference names: `abc`, `Task/abc`, `http://x/fhir/Task/abc/_history/2`.
pub fn task_id(reference: &str) -> &str {
    let r = reference.split(['?', '#']).next().unwrap_or("").trim();
    let r = r.split("/_history").next().unwrap_or(r);
    let r = match r.rfind("Task/") {
        Some(i) => &r[i + "Task/".len()..],
        None => r,
    };
    r.trim_matches('/')
}

/// Every Task in a body: the resource itself, or a Bundle's entries (a history Bundle lists
/// the newest first: its entries are taken oldest first).
fn tasks_in<'v>(v: &'v Value, out: &mut Vec<&'v Value>) {
    match v.get("resourceType").and_then(Value::as_str) {
        Some("Task") => out.push(v),
        Some("Bundle") => {
            let entries: Vec<&Value> = v
                .get("entry")
                .and_then(Value::as_array)
                .map(|e| e.iter().filter_map(|e| e.get("resource")).collect())
                .unwrap_or_default();
            let history = v.get("type").and_then(Value::as_str) == Some("history");
            let ordered: Box<dyn Iterator<Item = &&Value>> = if history {
                Box::new(entries.iter().rev())
            } else {
                Box::new(entries.iter())
            };
            for r in ordered {
                tasks_in(r, out);
            }
        }
        _ => {}
    }
}

fn history<'b>(bodies: impl Iterator<Item = &'b Body>, id: &str) -> History {
    let mut seen: HashSet<String> = HashSet::new();
    let mut versions = Vec::new();
    let mut reads = 0;
    for b in bodies {
        let mut tasks = Vec::new();
        tasks_in(&b.json, &mut tasks);
        for t in tasks {
            if t.get("id").and_then(Value::as_str) != Some(id) {
                continue;
            }
            reads += 1;
            let version_id = t
                .pointer("/meta/versionId")
                .and_then(Value::as_str)
                .map(str::to_string);
            let status = t.get("status").and_then(Value::as_str).map(str::to_string);
            // A version id, with the status in case a server changes the status without a
            // new version id (a change must not be lost); else the whole content.
            let key = match &version_id {
                Some(v) => format!("v:{v}:{}", status.as_deref().unwrap_or("")),
                None => format!("c:{t}"),
            };
            if !seen.insert(key) {
                continue;
            }
            versions.push(Version {
                status,
                version_id,
                last_updated: t
                    .pointer("/meta/lastUpdated")
                    .and_then(Value::as_str)
                    .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok()),
            });
        }
    }
    // Oldest first: by version number when every version has one, else by lastUpdated when
    // every version has it, else as observed.
    let numbers: Option<Vec<u64>> = versions
        .iter()
        .map(|v| v.version_id.as_deref().and_then(|s| s.parse().ok()))
        .collect();
    if let Some(numbers) = numbers {
        let mut paired: Vec<(u64, Version)> = numbers.into_iter().zip(versions).collect();
        paired.sort_by_key(|(n, _)| *n);
        versions = paired.into_iter().map(|(_, v)| v).collect();
    } else if versions.iter().all(|v| v.last_updated.is_some()) {
        versions.sort_by_key(|v| v.last_updated);
    }
    History { versions, reads }
}

/// The statuses a sequence of versions went through, a status repeated across versions
/// counting once.
fn states(versions: &[Version]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in versions {
        let s = v.status.clone().unwrap_or_else(|| "(none)".into());
        if out.last() != Some(&s) {
            out.push(s);
        }
    }
    out
}

/// Check one `task_states` assertion against what the scenario observed.
pub fn evaluate(
    a: &Assertion,
    id: &str,
    reaches: &[String],
    observed: &Observed<'_>,
    vars: &Vars,
) -> AssertionResult {
    let rendered = render(id, vars).unwrap_or_else(|_| id.to_string());
    let id = task_id(&rendered).to_string();
    let description = match &a.title {
        Some(t) => render(t, vars).unwrap_or_else(|_| t.clone()),
        None => format!("the statuses Task/{id} goes through"),
    };
    let mut expected = format!("every status in {TASK_STATUS_VALUE_SET}");
    if !reaches.is_empty() {
        expected.push_str(&format!("; the last one {}", reaches.join(" or ")));
    }
    let mut result = AssertionResult {
        kind: a.kind.name().to_string(),
        description,
        requirement: a.requirement.clone(),
        severity: a.severity,
        status: Status::Passed,
        expected: Some(expected),
        actual: None,
        message: None,
        hint: a.hint.clone(),
    };
    let bodies = observed.bodies();
    let h = history(bodies.iter(), &id);
    if h.versions.is_empty() {
        result.status = failed_status(a.severity);
        result.message = Some(format!(
            "no version of Task/{id} was observed in this scenario"
        ));
        return result;
    }
    let states = states(&h.versions);
    result.actual = Some(format!(
        "{} ({} version{} from {} read{})",
        states.join(" -> "),
        h.versions.len(),
        if h.versions.len() == 1 { "" } else { "s" },
        h.reads,
        if h.reads == 1 { "" } else { "s" },
    ));
    let mut problems = Vec::new();
    let outside: BTreeSet<String> = h
        .versions
        .iter()
        .filter_map(|v| match &v.status {
            Some(s) if TASK_STATUSES.contains(&s.as_str()) => None,
            Some(s) => Some(format!("`{s}`")),
            None => Some("no status".to_string()),
        })
        .collect();
    if !outside.is_empty() {
        let verb = if outside.len() == 1 { "is" } else { "are" };
        problems.push(format!(
            "{} {verb} not in the HRex Task Status value set ({TASK_STATUS_VALUE_SET}), which allows {}",
            outside.into_iter().collect::<Vec<_>>().join(", "),
            TASK_STATUSES.join(", ")
        ));
    }
    let last = states.last().cloned().unwrap_or_default();
    if !reaches.is_empty() && !reaches.contains(&last) {
        problems.push(format!(
            "the last status observed is `{last}`, expected {}",
            reaches
                .iter()
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        ));
    }
    let extras: Vec<String> = states
        .windows(2)
        .filter(|w| !DRAWN.contains(&(w[0].as_str(), w[1].as_str())))
        .map(|w| format!("{} -> {}", w[0], w[1]))
        .collect();
    let extra_note = (!extras.is_empty()).then(|| {
        format!(
            "extra (allowed by {EXTRA_ALLOWED_BY}): {}",
            extras.join(", ")
        )
    });
    if !problems.is_empty() {
        result.status = failed_status(a.severity);
        problems.extend(extra_note);
        result.message = Some(problems.join("; "));
    } else {
        result.message = extra_note;
    }
    result
}

/// True when the system under test itself wrote some version of Task `id` (`id` as a
/// `task_states` check gives it, rendered): only then do its statuses count as the ones it
/// demonstrated (a client under test reads the versions the harness wrote).
pub fn written_by_sut(observed: &Observed<'_>, id: &str) -> bool {
    let id = task_id(id);
    let bodies = observed.bodies();
    !history(bodies.iter().filter(|b| b.by_sut), id)
        .versions
        .is_empty()
}

/// The Task statuses the system under test showed in what the scenario observed (of every
/// Task), for the run's note on the statuses each actor demonstrated.
pub fn demonstrated(observed: &Observed<'_>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    observed.each_body(|b| {
        if !b.by_sut {
            return;
        }
        let mut tasks = Vec::new();
        tasks_in(&b.json, &mut tasks);
        for t in tasks {
            if let Some(s) = t.get("status").and_then(Value::as_str) {
                out.insert(s.to_string());
            }
        }
    });
    out
}

/// The run's note for one actor: the statuses it demonstrated and the ones not seen.
pub fn note(actor: &str, statuses: &BTreeSet<String>) -> String {
    let shown: Vec<&str> = TASK_STATUSES
        .iter()
        .copied()
        .filter(|s| statuses.contains(*s))
        .collect();
    let missing: Vec<&str> = TASK_STATUSES
        .iter()
        .copied()
        .filter(|s| !statuses.contains(*s))
        .collect();
    let others: Vec<&str> = statuses
        .iter()
        .map(String::as_str)
        .filter(|s| !TASK_STATUSES.contains(s))
        .collect();
    let mut text = format!(
        "Task statuses {actor} demonstrated (CONF-059): {}",
        if shown.is_empty() {
            "none".to_string()
        } else {
            shown.join(", ")
        }
    );
    if !missing.is_empty() {
        text.push_str(&format!("; not seen: {}", missing.join(", ")));
    }
    if !others.is_empty() {
        text.push_str(&format!(
            "; outside the HRex Task Status value set: {}",
            others.join(", ")
        ));
    }
    text
}

/// The statuses a note written by [`note`] names as demonstrated by its actor (and the ones
/// outside the value set), or `None` for any other note.
fn read_note(text: &str) -> Option<(String, BTreeSet<String>)> {
    let rest = text.strip_prefix("Task statuses ")?;
    let (actor, rest) = rest.split_once(" demonstrated (CONF-059): ")?;
    let mut parts = rest.split("; ");
    let mut statuses: BTreeSet<String> = match parts.next()? {
        "none" => BTreeSet::new(),
        shown => shown.split(", ").map(str::to_string).collect(),
    };
    for part in parts {
        if let Some(others) = part.strip_prefix("outside the HRex Task Status value set: ") {
            statuses.extend(others.split(", ").map(str::to_string));
        } else if !part.starts_with("not seen: ") {
            return None;
        }
    }
    Some((actor.to_string(), statuses))
}

/// The notes of several runs of parts of one selection (`merge` of `run --partition`
/// shards) as the notes of one run: each note once, in order of first appearance, and the
/// Task-status notes ([`note`]) of one actor combined into one over every shard, at the end
/// in actor order (where a single run puts them).
pub fn combine_notes<'a>(notes: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut statuses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for n in notes {
        if let Some((actor, shown)) = read_note(n) {
            statuses.entry(actor).or_default().extend(shown);
        } else if !out.contains(n) {
            out.push(n.clone());
        }
    }
    out.extend(statuses.iter().map(|(actor, shown)| note(actor, shown)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::AssertionResult;
    use serde_json::json;

    fn body(json: Value) -> Body {
        Body {
            at: chrono::Utc::now(),
            by_sut: true,
            json,
        }
    }

    fn task(v: &str, status: &str) -> Value {
        json!({"resourceType": "Task", "id": "t1", "status": status, "meta": {"versionId": v}})
    }

    #[test]
    fn ids_from_references() {
        assert_eq!(task_id("t1"), "t1");
        assert_eq!(task_id("Task/t1"), "t1");
        assert_eq!(task_id("http://x/fhir/Task/t1/_history/3"), "t1");
        assert_eq!(task_id("http://x/fhir/Task/t1?_include=Task:output"), "t1");
    }

    #[test]
    fn versions_dedupe_and_sort_with_history_bundles() {
        let bodies = [
            body(task("1", "requested")),
            body(task("1", "requested")),
            body(task("3", "in-progress")),
            body(
                json!({"resourceType": "Bundle", "type": "history", "entry": [
                    {"resource": task("4", "completed")},
                    {"resource": task("3", "in-progress")},
                    {"resource": task("2", "accepted")},
                    {"resource": task("1", "requested")},
                ]}),
            ),
        ];
        let h = history(bodies.iter(), "t1");
        assert_eq!(h.versions.len(), 4);
        assert_eq!(h.reads, 7);
        assert_eq!(
            states(&h.versions),
            ["requested", "accepted", "in-progress", "completed"]
        );
    }

    #[test]
    fn without_version_ids_content_decides() {
        let t = |s: &str| json!({"resourceType": "Task", "id": "t1", "status": s});
        let bodies = [t("requested"), t("requested"), t("accepted"), t("accepted")]
            .map(body)
            .to_vec();
        let h = history(bodies.iter(), "t1");
        assert_eq!(h.versions.len(), 2);
        assert_eq!(h.reads, 4);
    }

    #[test]
    fn a_status_change_without_a_new_version_id_is_kept() {
        let bodies = [task("1", "requested"), task("1", "completed")].map(body);
        let h = history(bodies.iter(), "t1");
        assert_eq!(states(&h.versions), ["requested", "completed"]);
    }

    fn check(bodies: &[Body], id: &str, reaches: &[&str]) -> AssertionResult {
        let a = Assertion {
            kind: crate::scenario::AssertKind::TaskStates {
                id: id.into(),
                reaches: reaches.iter().map(|r| r.to_string()).collect(),
            },
            requirement: Some("TASK-STATUS-VS".into()),
            severity: crate::results::Severity::Required,
            strict_severity: crate::results::Severity::Required,
            on: crate::scenario::Target::Response,
            title: None,
            hint: None,
            since: None,
            when_status: Vec::new(),
        };
        // The bodies as responses to the harness's reads.
        let sent: Vec<crate::http::RawExchange> = bodies
            .iter()
            .map(|b| crate::http::RawExchange {
                direction: crate::results::Direction::Outgoing,
                at: b.at,
                duration: std::time::Duration::ZERO,
                request: Default::default(),
                response: Some(crate::http::Message {
                    status: Some(200),
                    body: b.json.to_string().into_bytes(),
                    ..Default::default()
                }),
                error: None,
            })
            .collect();
        let observed = Observed {
            sent: &sent,
            received: None,
        };
        let vars: Vars = [("id".to_string(), id.to_string())].into();
        evaluate(&a, "{{id}}", &a_reaches(&a), &observed, &vars)
    }

    fn a_reaches(a: &Assertion) -> Vec<String> {
        match &a.kind {
            crate::scenario::AssertKind::TaskStates { reaches, .. } => reaches.clone(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn no_version_observed_fails_naming_the_task() {
        let r = check(&[body(task("1", "requested"))], "Task/other", &[]);
        assert_eq!(r.status, Status::Failed);
        assert_eq!(
            r.message.as_deref(),
            Some("no version of Task/other was observed in this scenario")
        );
        assert_eq!(r.description, "the statuses Task/other goes through");
    }

    #[test]
    fn a_searchset_and_a_history_bundle_make_one_sequence() {
        let search = json!({"resourceType": "Bundle", "type": "searchset", "entry": [
            {"resource": task("2", "accepted")},
            {"resource": {"resourceType": "Task", "id": "t2", "status": "requested"}},
        ]});
        let hist = json!({"resourceType": "Bundle", "type": "history", "entry": [
            {"resource": task("3", "rejected")},
            {"resource": task("2", "accepted")},
            {"resource": task("1", "requested")},
        ]});
        let r = check(
            &[body(search), body(hist)],
            "t1",
            &["rejected", "completed"],
        );
        assert_eq!(r.status, Status::Passed, "{r:#?}");
        assert_eq!(
            r.actual.as_deref(),
            Some("requested -> accepted -> rejected (3 versions from 4 reads)")
        );
        assert_eq!(
            r.message.as_deref(),
            Some("extra (allowed by CONF-060): accepted -> rejected")
        );
    }

    #[test]
    fn the_note_lists_shown_and_missing() {
        let s: BTreeSet<String> = ["completed", "requested", "draft"].map(String::from).into();
        let n = note("data-source-server", &s);
        assert_eq!(
            n,
            "Task statuses data-source-server demonstrated (CONF-059): requested, completed; not seen: accepted, rejected, in-progress, on-hold, failed; outside the HRex Task Status value set: draft"
        );
    }

    #[test]
    fn the_task_notes_of_shards_combine_into_the_note_of_one_run() {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let a = note("data-source-server", &set(&["requested", "completed"]));
        let b = note("data-source-server", &set(&["rejected", "draft-ish"]));
        let other = "the server did not answer".to_string();
        let c = note("information-server", &set(&[]));
        let notes = [other.clone(), a, c.clone(), other.clone(), b];
        assert_eq!(
            combine_notes(&notes),
            [
                other,
                note(
                    "data-source-server",
                    &set(&["requested", "completed", "rejected", "draft-ish"])
                ),
                c,
            ]
        );
    }
}
