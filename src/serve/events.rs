//! A run's live events: the runner's [`Progress`] as JSON, kept in a bounded log and
//! broadcast, served as Server-Sent Events at `/runs/{id}/events`.
//!
//! A subscriber that comes late (or reconnects with `Last-Event-ID`) gets the log from
//! where it is, then what follows; nothing falls between the two (the log is read and the
//! broadcast joined under one lock). A subscriber that lags behind the broadcast reads the
//! log again from where it was. The stream ends after the run's last event.
//!
//! Bounded: past [`MAX_BYTES`] the oldest exchanges lose their headers and bodies (a stub
//! keeps what was sent, and where); past [`MAX_EVENTS`] the oldest events are dropped and a
//! replay starts with a `truncated` event.
//!
//! Every value a peer sent reaches the page as JSON text, which the page's script puts in
//! the DOM with `textContent` only; `<`, `>` and `&` are escaped in the JSON as well
//! (`\u003c`...), so no text of a peer is ever markup, even read as HTML.

use super::AppState;
use super::security::Session;
use crate::results::{RunResults, Status};
use crate::runner::progress::Progress;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// The most events a run keeps.
pub const MAX_EVENTS: usize = 50_000;
/// The most bytes of events a run keeps before the oldest exchanges are cut to a stub.
pub const MAX_BYTES: usize = 64 * 1024 * 1024;

/// One event of the log.
#[derive(Debug)]
pub struct Entry {
    pub id: u64,
    pub data: Arc<str>,
}

struct Slot {
    id: u64,
    data: Arc<str>,
    /// What an exchange becomes once cut (`None`: not an exchange, or already cut).
    stub: Option<Arc<str>>,
}

#[derive(Default)]
struct Log {
    slots: VecDeque<Slot>,
    next_id: u64,
    bytes: usize,
    /// Slots before this index have been cut already.
    cut_upto: usize,
    /// Events were dropped from the front.
    truncated: bool,
    sender: Option<broadcast::Sender<Arc<Entry>>>,
}

/// A run's events.
pub struct EventLog {
    log: Mutex<Log>,
}

impl Default for EventLog {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(1024);
        EventLog {
            log: Mutex::new(Log {
                next_id: 1,
                sender: Some(tx),
                ..Log::default()
            }),
        }
    }
}

/// JSON text with `<`, `>` and `&` escaped (valid JSON, never markup).
pub fn json_text(v: &Value) -> String {
    let text = v.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c => out.push(c),
        }
    }
    out
}

impl EventLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Add an event (no-op once closed).
    pub fn push(&self, v: Value) {
        let stub = (v["type"] == "exchange").then(|| {
            let x = &v["exchange"];
            let mut s = json!({
                "type": "exchange",
                "scenario": v["scenario"],
                "step": v["step"],
                "elided": true,
                "exchange": {
                    "direction": x["direction"],
                    "at": x["at"],
                    "duration_ms": x["duration_ms"],
                    "error": x["error"],
                    "request": {"method": x["request"]["method"], "url": x["request"]["url"], "headers": []},
                },
            });
            if let Some(status) = x["response"]["status"].as_u64() {
                s["exchange"]["response"] = json!({"status": status, "headers": []});
            }
            Arc::<str>::from(json_text(&s))
        });
        let data: Arc<str> = Arc::from(json_text(&v));
        let mut log = self.lock();
        let Some(sender) = log.sender.clone() else {
            return;
        };
        let id = log.next_id;
        log.next_id += 1;
        log.bytes += data.len();
        log.slots.push_back(Slot {
            id,
            data: data.clone(),
            stub,
        });
        while log.bytes > MAX_BYTES && log.cut_upto < log.slots.len() {
            let i = log.cut_upto;
            log.cut_upto += 1;
            let slot = &mut log.slots[i];
            if let Some(stub) = slot.stub.take() {
                let saved = slot.data.len().saturating_sub(stub.len());
                slot.data = stub;
                log.bytes -= saved;
            }
        }
        while log.slots.len() > MAX_EVENTS {
            if let Some(s) = log.slots.pop_front() {
                log.bytes -= s.data.len();
            }
            log.cut_upto = log.cut_upto.saturating_sub(1);
            log.truncated = true;
        }
        let _ = sender.send(Arc::new(Entry { id, data }));
    }

    /// No more events: subscribers end once they have read the log.
    pub fn close(&self) {
        self.lock().sender = None;
    }

    pub fn is_closed(&self) -> bool {
        self.lock().sender.is_none()
    }

    /// The events after `after`, and the live ones from there (`None` when closed).
    pub fn subscribe(
        &self,
        after: u64,
    ) -> (Vec<Arc<Entry>>, Option<broadcast::Receiver<Arc<Entry>>>) {
        let log = self.lock();
        let mut backlog = Vec::new();
        if log.truncated && log.slots.front().is_some_and(|s| s.id > after + 1) {
            backlog.push(Arc::new(Entry {
                id: after,
                data: Arc::from(json_text(&json!({"type": "truncated"}))),
            }));
        }
        backlog.extend(log.slots.iter().filter(|s| s.id > after).map(|s| {
            Arc::new(Entry {
                id: s.id,
                data: s.data.clone(),
            })
        }));
        (backlog, log.sender.as_ref().map(|s| s.subscribe()))
    }

    /// Every event so far, as JSON values (for tests and the server-rendered page).
    pub fn snapshot(&self) -> Vec<Value> {
        self.lock()
            .slots
            .iter()
            .filter_map(|s| serde_json::from_str(&s.data).ok())
            .collect()
    }
}

/// The runner's progress event as the page's event, if the page shows it.
pub fn progress_event(p: &Progress) -> Option<Value> {
    Some(match p {
        Progress::RunStarted(h) => json!({
            "type": "run-started",
            "run_id": h.run_id,
            "started_at": h.started_at,
            "target": h.target,
            "options": h.options,
            "notes": h.notes,
        }),
        Progress::ScenarioStarted { index, total, id } => json!({
            "type": "scenario-started", "index": index, "total": total, "id": id,
        }),
        Progress::StepStarted {
            scenario,
            step,
            title,
        } => json!({
            "type": "step-started", "scenario": scenario, "step": step, "title": title,
        }),
        Progress::Waiting {
            scenario,
            step,
            what,
            within,
            manual,
            instruction,
        } => json!({
            "type": "waiting",
            "scenario": scenario,
            "step": step,
            "what": what,
            "within_ms": within.as_millis() as u64,
            "manual": manual,
            "instruction": instruction,
        }),
        Progress::WaitEnded { scenario } => json!({"type": "wait-ended", "scenario": scenario}),
        Progress::Exchange {
            scenario,
            step,
            exchange,
        } => json!({
            "type": "exchange", "scenario": scenario, "step": step, "exchange": exchange,
        }),
        Progress::StepFinished { scenario, result } => json!({
            "type": "step-finished", "scenario": scenario, "step": result,
        }),
        Progress::ScenarioFinished {
            id,
            status,
            message,
        } => json!({
            "type": "scenario-finished", "id": id, "status": status, "message": message,
        }),
    })
}

/// The word of the page's `#run-status` for finished results.
pub fn verdict_status(r: &RunResults) -> &'static str {
    if r.interrupted {
        "interrupted"
    } else if r.summary.is_success() {
        "passed"
    } else {
        "failed"
    }
}

/// What to fix first, for the page: [`crate::report::findings`], with links into the report.
pub fn findings_json(r: &RunResults, report: &str) -> Value {
    use crate::report::html::{exchange_anchor, requirement_anchor, step_anchor};
    let f = crate::report::findings::findings(r);
    let check = |c: &crate::report::findings::Check<'_>| {
        let step = c.at.step.unwrap_or(0);
        json!({
            "scenario": c.scenario.id,
            "step": c.step.id,
            "step_title": c.step.title,
            "description": c.assertion.description,
            "expected": c.assertion.expected,
            "actual": c.assertion.actual,
            "message": c.assertion.message,
            "hint": c.assertion.hint,
            "link": format!("{report}#{}", match c.at.exchange {
                Some(k) => exchange_anchor(c.at.scenario, step, k),
                None => step_anchor(c.at.scenario, step),
            }),
        })
    };
    let finding = |x: &crate::report::findings::Finding<'_>| {
        json!({
            "requirement": x.id,
            "text": x.requirement.map(|q| q.text.as_str()),
            "verb": x.requirement.map(|q| q.verb.as_str()),
            "link": x.requirement_index.map(|k| format!("{report}#{}", requirement_anchor(k))),
            "checks": x.checks.iter().map(check).collect::<Vec<_>>(),
        })
    };
    json!({
        "failures": f.failures.iter().map(finding).collect::<Vec<_>>(),
        "errors": f.errors.iter().map(|p| json!({
            "scenario": p.scenario.id,
            "step": p.step.map(|s| s.id.as_str()),
            "message": p.message,
        })).collect::<Vec<_>>(),
        "warnings": f.warnings.iter().map(finding).collect::<Vec<_>>(),
        "conformance": crate::report::findings::conformance_line(
            &crate::report::findings::conformance(r)),
    })
}

/// The run's last event: its verdict, counts, what failed, and where the report is.
pub fn finished_event(r: &RunResults, report: &str) -> Value {
    json!({
        "type": "finished",
        "status": verdict_status(r),
        "summary": r.summary,
        "findings": findings_json(r, report),
        "report": report,
    })
}

/// The requirements matrix of the scenarios done so far, as `{id, status}` rows.
pub fn requirement_rows(
    catalog: &crate::catalog::Catalog,
    done: &[crate::results::ScenarioResult],
) -> Vec<(String, Status)> {
    crate::runner::matrix(catalog, done)
        .into_iter()
        .map(|r| (r.id, r.status))
        .collect()
}

/// `GET /runs/{id}/events`: the run's events as Server-Sent Events, from the start (or
/// after `Last-Event-ID`, or `?after=N`).
pub async fn sse(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    axum::Extension(session): axum::Extension<Session>,
    headers: HeaderMap,
) -> Response {
    let key = super::security::query_param(query.as_deref(), "key");
    let Some(run) = state.inner.runs.live(&id) else {
        return super::pages::not_found().await.into_response();
    };
    if !run.visible_to(&session, key.as_deref()) {
        return super::pages::not_found().await.into_response();
    }
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or_else(|| {
            super::security::query_param(query.as_deref(), "after")?
                .parse()
                .ok()
        })
        .unwrap_or(0);
    let log = run.events.clone();
    let (backlog, rx) = log.subscribe(after);
    struct St {
        backlog: VecDeque<Arc<Entry>>,
        rx: Option<broadcast::Receiver<Arc<Entry>>>,
        last: u64,
        log: Arc<EventLog>,
    }
    let st = St {
        backlog: backlog.into(),
        rx,
        last: after,
        log,
    };
    let stream = futures_util::stream::unfold(st, |mut st| async move {
        loop {
            if let Some(e) = st.backlog.pop_front() {
                st.last = st.last.max(e.id);
                let ev = Event::default().id(e.id.to_string()).data(&*e.data);
                return Some((Ok::<Event, Infallible>(ev), st));
            }
            let rx = st.rx.as_mut()?;
            match rx.recv().await {
                Ok(e) if e.id > st.last => st.backlog.push_back(e),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_))
                | Err(broadcast::error::RecvError::Closed) => {
                    // Read the log again from where this subscriber was.
                    let (missed, rx) = st.log.subscribe(st.last);
                    st.backlog = missed.into_iter().filter(|e| e.id > st.last).collect();
                    st.rx = rx;
                }
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_text_is_never_markup() {
        let v = json!({"body": "<script>alert(1)</script> & co"});
        let t = json_text(&v);
        assert!(
            !t.contains('<') && !t.contains('>') && !t.contains('&'),
            "{t}"
        );
        let back: Value = serde_json::from_str(&t).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn a_late_subscriber_gets_everything_then_the_rest() {
        let log = EventLog::default();
        log.push(json!({"type": "a"}));
        log.push(json!({"type": "b"}));
        let (backlog, rx) = log.subscribe(0);
        assert_eq!(backlog.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 2]);
        let mut rx = rx.unwrap();
        log.push(json!({"type": "c"}));
        assert_eq!(rx.try_recv().unwrap().id, 3);
        let (after, _) = log.subscribe(2);
        assert_eq!(after.len(), 1);
        log.close();
        assert!(log.subscribe(0).1.is_none());
        log.push(json!({"type": "ignored"}));
        assert_eq!(log.snapshot().len(), 3);
    }
}
