//! The simulators panel of the console (`/simulators`): start a reference actor on its own
//! port for a partner (as `cdex-harness simulate ACTOR` does), give them its URL, and watch
//! every exchange they have with it and its live validation as it happens; several at once.
//!
//! The simulators are [`crate::simulator::Simulator`]s, the same as `simulate` runs: nothing
//! here checks anything. Each belongs to the browser session that started it, as a run does
//! ([`registry`]). Its exchanges reach the page as Server-Sent Events (`/simulators/{id}/events`:
//! those kept so far, then each as it is checked), JSON that `assets/simulators.js` puts in the
//! page with `textContent` only.
//!
//! - [`start`]: the start form, to the options of `simulate`, and where a simulator listens.
//! - [`registry`]: the running simulators and who owns them.

pub mod registry;
pub mod start;

use super::AppState;
use super::events::json_text;
use super::security::Session;
use crate::simulator::{LiveExchange, Simulator};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use registry::Info;
use serde_json::{Value, json};
use start::StartForm;
use std::collections::VecDeque;
use std::convert::Infallible;
use tokio::sync::broadcast;

const JS: &str = include_str!("assets/simulators.js");
const CSS: &str = include_str!("assets/simulators.css");

/// The panel's routes, merged into the console's by [`super::app`].
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/simulators", get(page).post(start))
        .route("/simulators/{id}/stop", post(stop))
        .route("/simulators/{id}/events", get(events))
        .route("/assets/simulators.js", get(script))
        .route("/assets/simulators.css", get(style))
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        JS,
    )
        .into_response()
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response()
}

/// The reference actors that serve (a simulator answers a partner's requests), by pack, with
/// the options and faults the form offers.
fn offer(state: &AppState, form: &StartForm) -> Value {
    let serves = |name: &str| {
        crate::actors::registry()
            .iter()
            .any(|a| a.name == name && a.serves)
    };
    let pack = form.pack_name();
    let mut actors = Vec::new();
    let mut options = Vec::new();
    let mut faults = Vec::new();
    for p in &state.inner.packs {
        let here = p.name == pack;
        // The actor chosen, else the pack's first: a choice of the pack shown is selected.
        let chosen = if form.actor.is_empty() {
            p.actors.iter().map(|a| a.name.as_str()).find(|a| serves(a))
        } else {
            Some(form.actor.as_str())
        };
        for a in p.actors.iter().filter(|a| serves(&a.name)) {
            actors.push(json!({"name": a.name, "title": a.title, "pack": p.name,
                "checked": here && Some(a.name.as_str()) == chosen}));
        }
        for o in &p.options {
            options.push(json!({"name": o.name, "title": o.title, "pack": p.name,
                "checked": here && form.options.contains(&o.name)}));
        }
        for f in p
            .faults
            .iter()
            .filter(|f| f.name.split(':').next().is_some_and(serves))
        {
            faults.push(json!({"name": f.name, "title": f.title, "pack": p.name,
                "checked": here && form.faults.contains(&f.name)}));
        }
    }
    let packs: Vec<Value> = state
        .inner
        .packs
        .iter()
        .map(|p| json!({"name": p.name, "selected": p.name == pack}))
        .collect();
    json!({"packs": packs, "actors": actors, "options": options, "faults": faults})
}

fn render(
    state: &AppState,
    session: &Session,
    form: &StartForm,
    error: Option<&str>,
) -> axum::response::Html<String> {
    let sims = state.inner.simulators.of(session);
    state.inner.pages.page(
        "simulators",
        &json!({
            "title": "Simulators",
            "error": error,
            "offer": offer(state, form),
            "v": form,
            "simulators": sims,
            "loopback": state.inner.loopback,
        }),
    )
}

/// `GET /simulators`: the form, and this browser's simulators with their exchanges.
async fn page(State(state): State<AppState>, Extension(session): Extension<Session>) -> Response {
    render(&state, &session, &StartForm::default(), None).into_response()
}

/// `POST /simulators`: start one; back to the panel, or the form again with why not.
async fn start(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = StartForm::parse(&body);
    let host_header = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let host = start::listen_host(state.inner.listen, host_header.as_deref());
    let packs: Vec<String> = state.inner.packs.iter().map(|p| p.name.clone()).collect();
    let f = form.clone();
    // Loading a pack reads and parses files: off the async workers.
    let opts = tokio::task::spawn_blocking(move || f.to_options(&packs, host))
        .await
        .unwrap_or_else(|e| Err(format!("the simulator could not be prepared: {e}")));
    let refused = |e: String| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            render(&state, &session, &form, Some(&e)),
        )
            .into_response()
    };
    let opts = match opts {
        Ok(o) => o,
        Err(e) => return refused(e),
    };
    let sim = match Simulator::start(opts).await {
        Ok(s) => s,
        Err(e) => return refused(e),
    };
    let (url, mut notes) = start::partner_url(sim.base_url(), host_header.as_deref());
    notes.extend(sim.notes().iter().cloned());
    let info = Info {
        id: String::new(),
        pack: form.pack_name().to_string(),
        actor: sim.actor().to_string(),
        options: form.options.clone(),
        faults: form.faults.clone(),
        url,
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        authentication: sim.authentication().to_string(),
        settings: sim.settings().to_string(),
        notes,
    };
    let id = state.inner.simulators.add(&session, sim, info);
    Redirect::to(&format!("/simulators#{id}")).into_response()
}

/// `POST /simulators/{id}/stop`
async fn stop(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    if state.inner.simulators.stop(&session, &id).await {
        Redirect::to("/simulators").into_response()
    } else {
        super::pages::not_found().await
    }
}

/// `GET /simulators/{id}/events`: the exchanges kept so far (after `Last-Event-ID`), then
/// each one as it is checked; a `lagged` event when this subscriber fell behind and missed
/// some, a `stopped` event at the end.
async fn events(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some((recent, rx)) = state.inner.simulators.follow(&session, &id) else {
        return super::pages::not_found().await;
    };
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    struct St {
        backlog: VecDeque<LiveExchange>,
        rx: Option<broadcast::Receiver<LiveExchange>>,
        last: u64,
    }
    let st = St {
        backlog: recent.into_iter().filter(|x| x.seq > after).collect(),
        rx: Some(rx),
        last: after,
    };
    let stream = futures_util::stream::unfold(st, |mut st| async move {
        loop {
            if let Some(x) = st.backlog.pop_front() {
                st.last = st.last.max(x.seq);
                return Some((Ok::<Event, Infallible>(exchange_event(&x)), st));
            }
            let rx = st.rx.as_mut()?;
            match rx.recv().await {
                Ok(x) if x.seq > st.last => st.backlog.push_back(x),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    let ev = Event::default().event("lagged").data(n.to_string());
                    return Some((Ok(ev), st));
                }
                Err(broadcast::error::RecvError::Closed) => {
                    st.rx = None;
                    let ev = Event::default().event("stopped").data("{}");
                    return Some((Ok(ev), st));
                }
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// One exchange as an SSE event: JSON with `<`, `>` and `&` escaped.
fn exchange_event(x: &LiveExchange) -> Event {
    let v = serde_json::to_value(x).unwrap_or(Value::Null);
    Event::default()
        .event("exchange")
        .id(x.seq.to_string())
        .data(json_text(&v))
}
