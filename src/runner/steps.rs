//! The four step kinds: `send` a request, `expect` one from the client under test, `poll`
//! until a condition holds, and `serve` resources for the peer to pull.

use super::RunConfig;
use super::assert;
use super::capture;
use super::env::{Environment, Prepared};
use super::trigger::{self, Fired};
use crate::actors::ActionRequest;
use crate::http::client::OutgoingRequest;
use crate::http::redact::Redactor;
use crate::http::{Message, RawExchange};
use crate::mock::recorder::WaitOutcome;
use crate::mock::server::{Override, request_matches};
use crate::results::{AssertionResult, Exchange, Status, StepResult};
use crate::scenario::AssertKind;
use crate::scenario::template::{Vars, render, render_json};
use crate::scenario::{Body, Expect, Pack, Poll, Request, Scenario, Step, StepKind, Target};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Most poll attempts kept in the results (the first and the latest ones).
const MAX_POLL_EXCHANGES: usize = 10;

pub struct StepCtx<'a> {
    pub pack: &'a Pack,
    pub scenario: &'a Scenario,
    pub cfg: &'a RunConfig,
    pub env: &'a mut Environment,
    pub prepared: &'a Prepared,
    pub redactor: &'a Redactor,
    pub cancel: watch::Receiver<bool>,
    /// Triggers still running, by step id.
    pub triggers: Vec<(String, Fired)>,
    /// Position in the endpoint's record after the last exchange an `expect` step took: the
    /// next `expect` looks from there, so a request the system under test sent on its own
    /// while an earlier step ran is not missed.
    pub consumed: usize,
}

/// A step that did not run.
pub fn skipped(step: &Step, status: Status, why: &str) -> StepResult {
    StepResult {
        id: step.id.clone(),
        title: step.title.clone(),
        kind: step.kind.name().to_string(),
        status,
        duration_ms: 0.0,
        message: if why.is_empty() {
            None
        } else {
            Some(why.to_string())
        },
        exchanges: Vec::new(),
        assertions: step
            .asserts
            .iter()
            .map(|a| assert::not_evaluated(a, why, status, None))
            .collect(),
        captures: BTreeMap::new(),
    }
}

pub async fn run(ctx: &mut StepCtx<'_>, step: &Step, vars: &mut Vars) -> StepResult {
    let clock = Instant::now();
    let mut r = skipped(step, Status::Passed, "");
    r.assertions.clear();
    let outcome = match &step.kind {
        StepKind::Send(req) => send(ctx, req, vars).await.map(|x| vec![x]),
        StepKind::Poll(p) => poll(ctx, p, vars).await,
        StepKind::Expect(e) => expect(ctx, step, e, vars).await,
        StepKind::Serve(bodies) => serve(ctx, bodies, vars).map(|served| {
            r.message = Some(format!("served {}", served.join(", ")));
            Vec::new()
        }),
    };
    match outcome {
        Err(StepError {
            status,
            message,
            exchanges,
        }) => {
            r.status = status;
            r.message = Some(ctx.redactor.text(&message));
            r.exchanges = exchanges.iter().map(|x| ctx.redactor.exchange(x)).collect();
            let why = match status {
                Status::Errored => "the exchange could not be completed",
                _ => "the awaited message never came",
            };
            let verdict = if status == Status::Errored {
                Status::Skipped
            } else {
                Status::Failed
            };
            r.assertions = step
                .asserts
                .iter()
                .map(|a| {
                    redact_assertion(
                        ctx.redactor,
                        assert::not_evaluated(a, why, verdict, Some(vars)),
                    )
                })
                .collect();
        }
        Ok(exchanges) => {
            // The exchange the step is about is the last one.
            let mut capture_failed = false;
            if let Some(x) = exchanges.last() {
                let mut notes = Vec::new();
                for c in &step.captures {
                    match pick(x, c.on) {
                        Some(msg) => match capture::capture(c, msg).await {
                            Ok(v) => {
                                r.captures.insert(c.name.clone(), ctx.redactor.text(&v));
                                vars.insert(c.name.clone(), v);
                            }
                            Err(e) => {
                                notes.push(format!("capture `{}` found nothing: {e}", c.name))
                            }
                        },
                        None => notes.push(format!(
                            "capture `{}`: there is no {} to read",
                            c.name,
                            c.on.as_str()
                        )),
                    }
                }
                for a in &step.asserts {
                    let res = match pick(x, a.on) {
                        Some(msg) => assert::evaluate(a, msg, vars).await,
                        None => assert::not_evaluated(
                            a,
                            "there is no response to check",
                            Status::Failed,
                            Some(vars),
                        ),
                    };
                    r.assertions.push(redact_assertion(ctx.redactor, res));
                }
                if !notes.is_empty() {
                    capture_failed = true;
                    let joined = notes.join("; ");
                    r.message = Some(match r.message.take() {
                        Some(m) => format!("{m}; {joined}"),
                        None => joined,
                    });
                }
            }
            if exchanges.is_empty() {
                // Nothing arrived, as a `received: false` step wants.
                for a in &step.asserts {
                    if !matches!(a.kind, AssertKind::NotReceived) {
                        r.assertions.push(assert::not_evaluated(
                            a,
                            "nothing arrived to check",
                            Status::Failed,
                            Some(vars),
                        ));
                        continue;
                    }
                    r.assertions.push(assert::nothing_arrived(a, vars));
                }
            }
            r.exchanges = exchanges.iter().map(|x| ctx.redactor.exchange(x)).collect();
            r.status = r
                .assertions
                .iter()
                .fold(Status::Passed, |acc, a| acc.worst(a.status));
            // A value later steps need is missing: the scenario cannot be carried out as
            // written, so it must not pass (its dependent checks will be skipped).
            if capture_failed && matches!(r.status, Status::Passed | Status::Warned) {
                r.status = Status::Errored;
            }
        }
    }
    r.duration_ms = clock.elapsed().as_secs_f64() * 1000.0;
    r
}

fn redact_assertion(red: &Redactor, mut a: AssertionResult) -> AssertionResult {
    a.description = red.text(&a.description);
    a.expected = a.expected.map(|t| red.text(&t));
    a.actual = a.actual.map(|t| red.text(&t));
    a.message = a.message.map(|t| red.text(&t));
    a
}

fn pick(x: &RawExchange, on: Target) -> Option<&Message> {
    match on {
        Target::Request => Some(&x.request),
        Target::Response => x.response.as_ref(),
    }
}

struct StepError {
    status: Status,
    message: String,
    exchanges: Vec<RawExchange>,
}

impl StepError {
    fn errored(message: impl Into<String>) -> Self {
        StepError {
            status: Status::Errored,
            message: message.into(),
            exchanges: Vec::new(),
        }
    }
}

/// Render a body template to bytes.
fn body_bytes(body: &Body, vars: &Vars) -> Result<Vec<u8>, String> {
    match body {
        Body::Json(v) => {
            let rendered = render_json(v, vars)?;
            serde_json::to_vec_pretty(&rendered).map_err(|e| e.to_string())
        }
        Body::Text(t) => Ok(render(t, vars)?.into_bytes()),
    }
}

fn set_header(headers: &mut Vec<(String, String)>, name: &str, value: String) {
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    headers.push((name.to_string(), value));
}

fn build_request(ctx: &StepCtx<'_>, req: &Request, vars: &Vars) -> Result<OutgoingRequest, String> {
    let base = ctx
        .prepared
        .target
        .as_deref()
        .ok_or("no server under test to send to")?;
    let path = render(&req.path, vars)?;
    let (url, rel) = if path.starts_with("http://") || path.starts_with("https://") {
        let rel = path
            .strip_prefix(base)
            .map(|p| p.trim_start_matches('/').to_string())
            .unwrap_or_else(|| path.clone());
        (path.clone(), rel)
    } else {
        let rel = path.trim_start_matches('/').to_string();
        (format!("{}/{}", base.trim_end_matches('/'), rel), rel)
    };
    let mut headers = vec![("Accept".to_string(), "application/fhir+json".to_string())];
    for (k, v) in &ctx.pack.headers {
        set_header(&mut headers, k, render(v, vars)?);
    }
    for (k, v) in &ctx.cfg.headers {
        set_header(&mut headers, k, v.clone());
    }
    for (k, v) in &req.headers {
        set_header(&mut headers, k, render(v, vars)?);
    }
    let body = match &req.body {
        Some(b) => {
            if !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            {
                headers.push(("Content-Type".into(), "application/fhir+json".into()));
            }
            Some(body_bytes(b, vars)?)
        }
        None => None,
    };
    headers.retain(|(n, _)| !req.omit_headers.iter().any(|o| o.eq_ignore_ascii_case(n)));
    Ok(OutgoingRequest {
        method: req.method.clone(),
        url,
        path: rel,
        headers,
        body,
    })
}

async fn send(ctx: &mut StepCtx<'_>, req: &Request, vars: &Vars) -> Result<RawExchange, StepError> {
    let out = build_request(ctx, req, vars).map_err(StepError::errored)?;
    let client = ctx.env.client().map_err(StepError::errored)?;
    let mut cancel = ctx.cancel.clone();
    let x = tokio::select! {
        x = client.send(out, ctx.cfg.timeout) => x,
        _ = wait_cancel(&mut cancel) => return Err(StepError::errored("the run was interrupted during this request")),
    };
    if let Some(e) = &x.error {
        return Err(StepError {
            status: Status::Errored,
            message: e.clone(),
            exchanges: vec![x],
        });
    }
    Ok(x)
}

async fn wait_cancel(cancel: &mut watch::Receiver<bool>) {
    loop {
        if *cancel.borrow() {
            return;
        }
        if cancel.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

async fn poll(ctx: &mut StepCtx<'_>, p: &Poll, vars: &Vars) -> Result<Vec<RawExchange>, StepError> {
    let within = p.within.unwrap_or(ctx.cfg.timeout);
    let deadline = Instant::now() + within;
    let mut kept: Vec<RawExchange> = Vec::new();
    let mut attempts = 0usize;
    loop {
        attempts += 1;
        let x = match send(ctx, &p.request, vars).await {
            Ok(x) => x,
            Err(mut e) => {
                kept.append(&mut e.exchanges);
                e.exchanges = kept;
                return Err(e);
            }
        };
        let mut failing: Vec<String> = Vec::new();
        match x.response.as_ref() {
            Some(resp) => {
                for a in &p.until {
                    let r = assert::evaluate(a, resp, vars).await;
                    if r.status != Status::Passed {
                        failing.push(r.message.unwrap_or(r.description));
                    }
                }
            }
            None => failing.push("no response".into()),
        }
        if kept.len() >= MAX_POLL_EXCHANGES {
            kept.remove(1);
        }
        kept.push(x);
        if failing.is_empty() {
            return Ok(kept);
        }
        if Instant::now() + p.every > deadline {
            return Err(StepError {
                status: Status::Failed,
                message: format!(
                    "the condition never held within {} ({attempts} attempts); last time: {}",
                    humantime::format_duration(within),
                    failing.join("; ")
                ),
                exchanges: kept,
            });
        }
        let mut cancel = ctx.cancel.clone();
        tokio::select! {
            _ = tokio::time::sleep(p.every) => {}
            _ = wait_cancel(&mut cancel) => return Err(StepError { status: Status::Errored, message: "the run was interrupted while polling".into(), exchanges: kept }),
        }
    }
}

fn serve(ctx: &mut StepCtx<'_>, bodies: &[Body], vars: &Vars) -> Result<Vec<String>, StepError> {
    let mock = ctx
        .env
        .mock()
        .ok_or_else(|| StepError::errored("the harness has no endpoint to serve from"))?;
    let handler = mock.handler();
    let mut served = Vec::new();
    for b in bodies {
        let Body::Json(v) = b else {
            return Err(StepError::errored("a served resource must be JSON"));
        };
        let resource = render_json(v, vars).map_err(StepError::errored)?;
        served.push(handler.seed(resource).map_err(StepError::errored)?);
    }
    Ok(served)
}

/// What an `expect` step waits for, in words (`path` rendered).
fn describe_awaited(e: &Expect, path: Option<&str>) -> String {
    match (&e.method, path) {
        (Some(m), Some(p)) => format!("{m} {p}"),
        (Some(m), None) => format!("a {m} request"),
        (None, Some(p)) => format!("a request to {p}"),
        (None, None) => "a request".into(),
    }
}

async fn expect(
    ctx: &mut StepCtx<'_>,
    step: &Step,
    e: &Expect,
    vars: &Vars,
) -> Result<Vec<RawExchange>, StepError> {
    let base = ctx
        .prepared
        .harness_url
        .clone()
        .ok_or_else(|| StepError::errored("the harness has no endpoint to receive on"))?;
    let within = e.within.unwrap_or(ctx.cfg.timeout);
    let method = e.method.clone();
    let path = match &e.path {
        Some(p) => Some(render(p, vars).map_err(StepError::errored)?),
        None => None,
    };
    let recorder = ctx
        .env
        .mock()
        .expect("prepared with a mock server")
        .recorder()
        .clone();
    // Look from the last exchange taken, not from now: a peer may have acted already.
    let cursor = ctx.consumed.min(recorder.cursor());
    if let Some(resp) = &step.respond {
        let mut m = Message {
            status: Some(resp.status),
            ..Message::default()
        };
        for (k, v) in &resp.headers {
            m.headers
                .push((k.clone(), render(v, vars).map_err(StepError::errored)?));
        }
        if let Some(b) = &resp.body {
            m.body = body_bytes(b, vars).map_err(StepError::errored)?;
            if !m
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            {
                m.headers
                    .push(("Content-Type".into(), "application/fhir+json".into()));
            }
        }
        ctx.env.mock().expect("mock").push_override(Override {
            method: method.clone(),
            path: path.clone(),
            response: m,
        });
    }

    // Ask the client under test to act.
    let mut with = BTreeMap::new();
    for (k, v) in &e.with {
        with.insert(k.clone(), render(v, vars).map_err(StepError::errored)?);
    }
    let payload = match &e.payload {
        Some(Body::Json(v)) => Some(render_json(v, vars).map_err(StepError::errored)?),
        Some(Body::Text(_)) => return Err(StepError::errored("an action payload must be JSON")),
        None => None,
    };
    let payload_file = match &payload {
        Some(p) => Some(
            write_payload(ctx, &step.id, p)
                .await
                .map_err(StepError::errored)?,
        ),
        None => None,
    };
    let action = ActionRequest {
        action: e.action.clone(),
        scenario: ctx.scenario.id.clone(),
        base_url: base.clone(),
        with,
        payload,
        vars: vars.clone(),
    };
    let env = trigger::environment(
        &action,
        &step.id,
        payload_file.as_ref(),
        within.as_millis(),
        ctx.cfg.server_ca_file.as_deref(),
    );
    let mut fired = match &ctx.prepared.trigger {
        Some(t) => t.fire(action, env, ctx.redactor),
        None => {
            return Err(StepError::errored(format!(
                "nothing can ask the {} to act",
                ctx.scenario.actor
            )));
        }
    };

    let matches = |x: &RawExchange| {
        let m = &x.request;
        let is_metadata = m.method.as_deref() == Some("GET") && m.path_only() == "metadata";
        method
            .as_deref()
            .is_none_or(|want| m.method.as_deref() == Some(want))
            && match &path {
                Some(p) => request_matches(p, m.path.as_deref().unwrap_or("")),
                None => !is_metadata,
            }
    };
    // `received: false`: the request must not arrive (the step waits all of `within`).
    let forbidden = step
        .asserts
        .iter()
        .any(|a| matches!(a.kind, AssertKind::NotReceived));
    let mut cancel = ctx.cancel.clone();
    let mut trigger_error = None;
    let in_process = fired.done_means_finished;
    let outcome = if in_process {
        let handle = fired
            .handle
            .take()
            .expect("in-process trigger has a handle");
        let wait = recorder.wait_for(cursor, within, &mut cancel, matches);
        tokio::pin!(wait);
        tokio::select! {
            o = &mut wait => o,
            done = handle => {
                match done {
                    Ok(Err(err)) => trigger_error = Some(err),
                    Err(join) => trigger_error = Some(format!("the reference client failed: {join}")),
                    Ok(Ok(())) => {}
                }
                // The client is done: whatever it sent is recorded by now.
                let mut c2 = ctx.cancel.clone();
                recorder.wait_for(cursor, Duration::ZERO, &mut c2, matches).await
            }
        }
    } else {
        let o = recorder
            .wait_for(cursor, within, &mut cancel, matches)
            .await;
        ctx.triggers.push((step.id.clone(), fired));
        o
    };
    if step.respond.is_some() {
        ctx.env.mock().expect("mock").clear_overrides();
    }
    match outcome {
        WaitOutcome::Arrived(x, next) => {
            ctx.consumed = next;
            let mut all: Vec<RawExchange> = recorder
                .since(cursor)
                .into_iter()
                .filter(|o| o.at <= x.at && !same(o, &x))
                .collect();
            all.push(*x);
            Ok(all)
        }
        // A request that must not arrive did not: the step's `received: false` checks pass.
        WaitOutcome::TimedOut if forbidden && trigger_error.is_none() => Ok(Vec::new()),
        WaitOutcome::TimedOut => {
            let others = recorder.since(cursor);
            let mut msg = if in_process && trigger_error.is_none() && !others.is_empty() {
                format!("{} never arrived", describe_awaited(e, path.as_deref()))
            } else if in_process {
                format!(
                    "{} never arrived: the client finished without sending it",
                    describe_awaited(e, path.as_deref())
                )
            } else {
                format!(
                    "{} never arrived within {}",
                    describe_awaited(e, path.as_deref()),
                    humantime::format_duration(within)
                )
            };
            if !others.is_empty() {
                let list: Vec<String> = others
                    .iter()
                    .take(5)
                    .map(|o| {
                        format!(
                            "{} /{}",
                            o.request.method.as_deref().unwrap_or("?"),
                            o.request.path.as_deref().unwrap_or("")
                        )
                    })
                    .collect();
                msg.push_str(&format!(
                    "; {} other request(s) arrived: {}",
                    others.len(),
                    list.join(", ")
                ));
            }
            if let Some(err) = trigger_error {
                msg.push_str(&format!("; the client reported: {err}"));
            }
            Err(StepError {
                status: Status::Failed,
                message: msg,
                exchanges: others,
            })
        }
        WaitOutcome::Cancelled => Err(StepError {
            status: Status::Errored,
            message: format!(
                "the run was interrupted while waiting for {}",
                describe_awaited(e, path.as_deref())
            ),
            exchanges: recorder.since(cursor),
        }),
    }
}

fn same(a: &RawExchange, b: &RawExchange) -> bool {
    a.at == b.at && a.request.path == b.request.path && a.request.method == b.request.method
}

async fn write_payload(
    ctx: &StepCtx<'_>,
    step: &str,
    payload: &serde_json::Value,
) -> Result<std::path::PathBuf, String> {
    let dir = &ctx.env.payload_dir;
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let file = dir.join(format!("{}--{}.json", ctx.scenario.id, step));
    let text = serde_json::to_vec_pretty(payload).map_err(|e| e.to_string())?;
    tokio::fs::write(&file, text)
        .await
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    Ok(file)
}

/// Give trigger commands still running a short grace to finish (together, not one after
/// another), then stop them and their children; note the ones that failed.
pub async fn finish_triggers(ctx: &mut StepCtx<'_>, results: &mut [StepResult]) {
    const GRACE: Duration = Duration::from_secs(5);
    // An interrupted run stops its triggers at once.
    let grace = if *ctx.cancel.borrow() {
        Duration::ZERO
    } else {
        GRACE
    };
    let deadline = tokio::time::Instant::now() + grace;
    for (step_id, fired) in ctx.triggers.drain(..) {
        let Some(mut handle) = fired.handle else {
            continue;
        };
        let note = match tokio::time::timeout_at(deadline, &mut handle).await {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(e))) => Some(e),
            Ok(Err(e)) => Some(format!("the trigger failed: {e}")),
            Err(_) => {
                // Dropping the task kills the command's process group.
                handle.abort();
                let _ = handle.await;
                Some(format!(
                    "the trigger command was still running {} after the scenario's last step and was stopped",
                    humantime::format_duration(grace)
                ))
            }
        };
        if let (Some(note), Some(r)) = (note, results.iter_mut().find(|r| r.id == step_id)) {
            let note = ctx.redactor.text(&note);
            r.message = Some(match r.message.take() {
                Some(m) => format!("{m}; {note}"),
                None => note,
            });
        }
    }
}

/// Exchanges, redacted, for a caller outside the runner (the simulator's live log).
pub fn redacted(red: &Redactor, xs: &[RawExchange]) -> Vec<Exchange> {
    xs.iter().map(|x| red.exchange(x)).collect()
}
