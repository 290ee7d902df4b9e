//! The console's pages: small handlers that find what they show and render a Handlebars
//! template (`templates/`, embedded). Every value goes through Handlebars' HTML escaping
//! (`{{ }}`; the templates never use `{{{ }}}`), control and bidi characters made visible
//! first, as in the HTML report.

use super::AppState;
use super::events::{findings_json, verdict_status};
use super::form::FormValues;
use super::runs::{self, Found, RunRequest};
use super::security::{REPORT_CSP, Session, query_param};
use crate::results::RunResults;
use crate::runner::operator::Answer;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use handlebars::Handlebars;
use serde::Serialize;
use serde_json::{Value, json};

const LAYOUT: &str = include_str!("templates/layout.html.hbs");
const INDEX: &str = include_str!("templates/index.html.hbs");
const RUN: &str = include_str!("templates/run.html.hbs");
const RUNS: &str = include_str!("templates/runs.html.hbs");
const COMPARE: &str = include_str!("templates/compare.html.hbs");
const MESSAGE: &str = include_str!("templates/message.html.hbs");
const SIMULATORS: &str = include_str!("templates/simulators.html.hbs");
const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// The templates, registered once.
pub struct Templates(Handlebars<'static>);

impl Templates {
    pub fn new() -> Result<Templates, String> {
        let mut hb = Handlebars::new();
        hb.register_escape_fn(|s| {
            handlebars::html_escape(&crate::report::format::visible_controls(s, true))
        });
        let e = |e: handlebars::TemplateError| format!("console template: {e}");
        hb.register_partial("layout", LAYOUT).map_err(e)?;
        for (name, text) in [
            ("index", INDEX),
            ("run", RUN),
            ("runs", RUNS),
            ("compare", COMPARE),
            ("message", MESSAGE),
            ("simulators", SIMULATORS),
        ] {
            hb.register_template_string(name, text).map_err(e)?;
        }
        Ok(Templates(hb))
    }

    /// A page, or (should a template ever fail) the error, escaped.
    pub fn page(&self, name: &str, data: &impl Serialize) -> Html<String> {
        Html(self.0.render(name, data).unwrap_or_else(|e| {
            format!(
                "<!DOCTYPE html><title>Error</title><p>The page could not be rendered: {}</p>",
                handlebars::html_escape(&e.to_string())
            )
        }))
    }
}

fn message(state: &AppState, status: StatusCode, title: &str, text: &str) -> Response {
    (
        status,
        state
            .inner
            .pages
            .page("message", &json!({"title": title, "text": text})),
    )
        .into_response()
}

pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Not found (or not yours: a run is seen by the browser that started it, or through its share link).\n",
    )
        .into_response()
}

pub async fn asset(Path(name): Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return not_found().await,
    };
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

#[derive(Serialize)]
struct Choice {
    name: String,
    title: String,
    pack: String,
    /// The actor a fault is of.
    actor: Option<String>,
    checked: bool,
}

/// The start-a-run form with these values (and a refusal to show, if any).
fn form_page(state: &AppState, values: &FormValues, error: Option<&str>) -> Html<String> {
    let packs = &state.inner.packs;
    let pack = if values.pack.is_empty() {
        crate::cli::DEFAULT_PACK.to_string()
    } else {
        values.pack.clone()
    };
    let mut actors = Vec::new();
    let mut options = Vec::new();
    let mut faults = Vec::new();
    let mut rules = Vec::new();
    for p in packs {
        let here = p.name == pack;
        actors.extend(p.actors.iter().map(|a| Choice {
            name: a.name.clone(),
            title: a.title.clone(),
            pack: p.name.clone(),
            actor: None,
            checked: here && a.name == values.actor,
        }));
        options.extend(p.options.iter().map(|o| Choice {
            name: o.name.clone(),
            title: o.title.clone(),
            pack: p.name.clone(),
            actor: None,
            checked: here && values.options.contains(&o.name),
        }));
        faults.extend(p.faults.iter().map(|f| Choice {
            name: f.name.clone(),
            title: f.title.clone(),
            pack: p.name.clone(),
            actor: f.name.split(':').next().map(str::to_string),
            checked: here && values.faults.contains(&f.name),
        }));
        rules.extend(p.rule_sets.iter().map(|r| Choice {
            name: r.clone(),
            title: r.clone(),
            pack: p.name.clone(),
            actor: None,
            checked: here && *r == values.rules,
        }));
    }
    let packs: Vec<Value> = packs
        .iter()
        .map(|p| json!({"name": p.name, "selected": p.name == pack}))
        .collect();
    state.inner.pages.page(
        "index",
        &json!({
            "title": "Start a run",
            "error": error,
            "packs": packs,
            "actors": actors,
            "options": options,
            "faults": faults,
            "rules": rules,
            "v": values,
            "sut_reference": values.sut == "reference" || values.sut.is_empty(),
            "sut_server": values.sut == "server",
            "sut_client": values.sut == "client",
        }),
    )
}

/// `GET /` (`?from=RUN_ID`: the settings of that run, to change and start again).
pub async fn index(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    RawQuery(query): RawQuery,
) -> Html<String> {
    let from = query_param(query.as_deref(), "from")
        .and_then(|id| runs::find(&state, &id, &session, None))
        .filter(|f| f.owned_by(&state, &session));
    let values = match &from {
        Some(Found::Live(r)) => FormValues::from_request(&r.request),
        Some(Found::Disk(d)) => FormValues::from_request(&request_on_disk(d)),
        None => FormValues {
            sut: "reference".into(),
            ..FormValues::default()
        },
    };
    form_page(&state, &values, None)
}

/// "Fill the form from this config file".
pub async fn config_load(State(state): State<AppState>, body: Bytes) -> Response {
    let form = FormValues::parse(&body);
    match form.load(&form.config) {
        Ok(values) => form_page(&state, &values, None).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, form_page(&state, &form, Some(&e))).into_response(),
    }
}

/// "Save these settings as a config file".
pub async fn config_save(State(state): State<AppState>, body: Bytes) -> Response {
    let form = FormValues::parse(&body);
    match form
        .to_config()
        .and_then(|c| crate::cli::config::to_yaml(&c))
    {
        Ok(yaml) => (
            [
                (header::CONTENT_TYPE, "application/yaml; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"cdex-harness.yaml\"",
                ),
            ],
            yaml,
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, form_page(&state, &form, Some(&e))).into_response(),
    }
}

async fn start_from(
    state: &AppState,
    session: &Session,
    request: RunRequest,
) -> Result<Response, String> {
    let run = runs::start(state, session, request).await?;
    Ok(Redirect::to(&format!("/runs/{}", run.id)).into_response())
}

/// `POST /runs`: start a run from the form.
pub async fn start_run(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    body: Bytes,
) -> Response {
    let form = FormValues::parse(&body);
    let started = match form.to_request() {
        Ok(request) => start_from(&state, &session, request).await,
        Err(e) => Err(format!("error: {e}")),
    };
    match started {
        Ok(r) => r,
        Err(e) => (StatusCode::BAD_REQUEST, form_page(&state, &form, Some(&e))).into_response(),
    }
}

fn counts(r: &RunResults) -> String {
    let s = &r.summary;
    let mut parts = vec![format!("{} passed", s.passed)];
    for (n, word) in [
        (s.failed, "failed"),
        (s.errored, "errored"),
        (s.warned, "warned"),
        (s.not_applicable, "not applicable"),
        (s.skipped + s.not_run, "not run"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    parts.join(" · ")
}

/// `GET /runs`: this browser's runs (and, on a loopback console, the run folders without an
/// owner).
pub async fn runs_list(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> Html<String> {
    let mut rows: Vec<Value> = Vec::new();
    let mut live = state.inner.runs.all();
    live.retain(|r| r.owned_by(&session));
    live.sort_by(|a, b| b.id.cmp(&a.id));
    for r in live {
        let results = r.results();
        rows.push(json!({
            "id": r.id,
            "started_at": r.started_at,
            "pack": r.pack,
            "actor": r.actor,
            "target": r.sut,
            "status": results.as_deref().map(verdict_status).unwrap_or("running"),
            "counts": results.as_deref().map(counts),
        }));
    }
    for d in runs::on_disk(&state, &session) {
        match d.results() {
            Ok(r) => rows.push(json!({
                "id": d.id,
                "started_at": r.started_at,
                "pack": r.setup.as_ref().map(|s| s.pack.clone()),
                "actor": r.setup.as_ref().and_then(|s| s.actor.clone()),
                "target": r.target,
                "status": verdict_status(&r),
                "counts": counts(&r),
                "unowned": d.meta.is_none(),
            })),
            Err(e) => rows.push(json!({"id": d.id, "status": "unreadable", "counts": e})),
        }
    }
    rows.sort_by(|a, b| b["id"].as_str().cmp(&a["id"].as_str()));
    state.inner.pages.page(
        "runs",
        &json!({"title": "Runs", "runs": rows, "loopback": state.inner.loopback}),
    )
}

fn key_of(query: &Option<String>) -> Option<String> {
    query_param(query.as_deref(), "key")
}

/// `?key=K` to carry along the links of a page reached through a share link.
fn key_suffix(key: &Option<String>) -> String {
    key.as_ref()
        .map(|k| {
            format!(
                "?key={}",
                form_urlencoded::byte_serialize(k.as_bytes()).collect::<String>()
            )
        })
        .unwrap_or_default()
}

/// `GET /runs/{id}`: the live page; once the run is finished, its verdict and what failed
/// lead, with the report one click away.
pub async fn run_page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let key = key_of(&query);
    let Some(found) = runs::find(&state, &id, &session, key.as_deref()) else {
        return not_found().await;
    };
    let suffix = key_suffix(&key);
    let owner = found.owned_by(&state, &session);
    let report = format!("/runs/{id}/report{suffix}");
    let results = match found.results() {
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => {
            return message(
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Unreadable run",
                &e,
            );
        }
        None => None,
    };
    let mut view = json!({
        "title": format!("Run {id}"),
        "id": id,
        "owner": owner,
        "key": key,
        "report": report,
        "status": results.as_deref().map(verdict_status).unwrap_or("running"),
        "finished": results.is_some(),
    });
    if owner && let Some(k) = found.share_key() {
        view["share"] = json!(format!("/runs/{id}?key={k}"));
    }
    match &found {
        Found::Live(run) => {
            view["events"] = json!(format!("/runs/{id}/events{suffix}"));
            view["pack"] = json!(run.pack);
            view["actor"] = json!(run.actor);
            view["sut"] = json!(run.sut);
            view["started_at"] = json!(run.started_at);
            view["scenarios"] = json!(run.scenarios);
            view["requirements"] = json!(run.requirements);
        }
        Found::Disk(_) => {}
    }
    if let Some(r) = &results {
        view["pack"] = json!(r.setup.as_ref().map(|s| &s.pack));
        view["actor"] = json!(r.setup.as_ref().and_then(|s| s.actor.as_ref()));
        view["sut"] = json!(r.target);
        view["started_at"] = json!(r.started_at);
        view["counts"] = json!(counts(r));
        view["findings"] = findings_json(r, &report);
        view["scenarios"] = json!(
            r.scenarios
                .iter()
                .map(
                    |s| json!({"id": s.id, "title": s.title, "actor": s.actor, "status": s.status})
                )
                .collect::<Vec<_>>()
        );
        view["requirements"] = json!(
            r.requirements
                .iter()
                .filter(|q| q.in_scope || q.status == crate::results::Status::NotApplicable)
                .filter(|q| q.untestable.is_none())
                .map(|q| json!({"id": q.id, "verb": q.verb, "text": q.text, "option": q.option, "status": q.status}))
                .collect::<Vec<_>>()
        );
        view["failed"] = json!(!r.summary.is_success());
    }
    state.inner.pages.page("run", &view).into_response()
}

/// `GET /runs/{id}/report`: the report the run wrote, as the CLI writes it.
pub async fn report(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(found) = runs::find(&state, &id, &session, key_of(&query).as_deref()) else {
        return not_found().await;
    };
    match std::fs::read(found.dir().join("report.html")) {
        Ok(bytes) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(REPORT_CSP),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => message(
            &state,
            StatusCode::NOT_FOUND,
            "No report yet",
            "The report is written when the run ends.",
        ),
    }
}

/// `GET /runs/{id}/bodies/{name}`: a body too large to inline in the report, downloaded.
pub async fn body_file(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path((id, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(found) = runs::find(&state, &id, &session, key_of(&query).as_deref()) else {
        return not_found().await;
    };
    if !runs::valid_id(&name) {
        return not_found().await;
    }
    match std::fs::read(found.dir().join("bodies").join(&name)) {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => not_found().await,
    }
}

/// The live run `id` if `session` owns it (the actions on a run are its owner's).
fn owned_live(
    state: &AppState,
    session: &Session,
    id: &str,
) -> Option<std::sync::Arc<runs::LiveRun>> {
    state.inner.runs.live(id).filter(|r| r.owned_by(session))
}

/// `POST /runs/{id}/answer` (`answer=done|skip`): the person's answer to the manual step.
pub async fn answer(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(run) = owned_live(&state, &session, &id) else {
        return not_found().await;
    };
    let a = match form_urlencoded::parse(&body)
        .find(|(k, _)| k == "answer")
        .map(|(_, v)| v.into_owned())
        .as_deref()
    {
        Some("done") => Answer::Done,
        Some("skip") => Answer::Skip,
        _ => {
            return message(
                &state,
                StatusCode::BAD_REQUEST,
                "Unknown answer",
                "answer=done or answer=skip",
            );
        }
    };
    if !run.answer(a) {
        return message(
            &state,
            StatusCode::CONFLICT,
            "Nothing is waiting",
            "No step of this run is waiting for a person now.",
        );
    }
    Redirect::to(&format!("/runs/{id}")).into_response()
}

/// `POST /runs/{id}/stop`: stop the run; its report holds what was done.
pub async fn stop(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    let Some(run) = owned_live(&state, &session, &id) else {
        return not_found().await;
    };
    run.stop();
    Redirect::to(&format!("/runs/{id}")).into_response()
}

/// `POST /runs/{id}/rerun`: a new run of what failed, as `run --rerun-failed RUN_DIR` does.
pub async fn rerun(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    let Some(found) = runs::find(&state, &id, &session, None) else {
        return not_found().await;
    };
    if !found.owned_by(&state, &session) {
        return not_found().await;
    }
    let mut request = match &found {
        Found::Live(r) => r.request.clone(),
        Found::Disk(d) => request_on_disk(d),
    };
    request.args.rerun_failed = Some(found.dir().to_path_buf());
    request.args.resume = None;
    match start_from(&state, &session, request).await {
        Ok(r) => r,
        Err(e) => message(&state, StatusCode::BAD_REQUEST, "Cannot rerun", &e),
    }
}

/// The request of a run folder the console did not start now: its config (as written, secrets
/// redacted), else what its results say it was a run of.
fn request_on_disk(d: &runs::DiskRun) -> RunRequest {
    let mut request = RunRequest::default();
    if let Ok(text) = std::fs::read_to_string(d.dir.join("config.yaml"))
        && let Ok(c) = crate::cli::config::parse(&text, "config.yaml")
    {
        request.config = c;
    } else if let Ok(r) = d.results()
        && let Some(s) = r.setup.clone()
    {
        let mut c = crate::cli::config::Config {
            actor: s.actor,
            rules: s.rules.last().cloned(),
            strict: s.strict,
            options: r.options.clone(),
            ..Default::default()
        };
        if std::path::Path::new(&s.pack).is_dir() {
            c.scenarios = Some(s.pack);
        } else {
            c.pack = Some(s.pack);
        }
        if s.sut.starts_with("http") {
            c.target = Some(s.sut);
        } else if s.sut == "client" {
            c.listen = Some("127.0.0.1:0".into());
        }
        request.config = c;
    }
    request
}

/// `GET /compare?a=ID&b=ID`: what newly fails in `b`, what got fixed, what still fails.
pub async fn compare(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    RawQuery(query): RawQuery,
) -> Response {
    let q = query.as_deref();
    let (Some(a), Some(b)) = (query_param(q, "a"), query_param(q, "b")) else {
        return message(
            &state,
            StatusCode::BAD_REQUEST,
            "Compare two runs",
            "Pick two runs on the Runs page (/compare?a=ID&b=ID).",
        );
    };
    let load = |id: &str| -> Result<std::sync::Arc<RunResults>, String> {
        runs::find(&state, id, &session, None)
            .and_then(|f| f.results())
            .unwrap_or_else(|| Err(format!("no finished run {id} of yours")))
    };
    let (ra, rb) = match (load(&a), load(&b)) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) | (_, Err(e)) => {
            return message(&state, StatusCode::NOT_FOUND, "Cannot compare", &e);
        }
    };
    let c = super::compare::compare(&ra, &rb);
    state
        .inner
        .pages
        .page(
            "compare",
            &json!({
                "title": "Compare runs",
                "a": a, "b": b,
                "a_status": verdict_status(&ra), "b_status": verdict_status(&rb),
                "a_started": ra.started_at, "b_started": rb.started_at,
                "c": c,
            }),
        )
        .into_response()
}
