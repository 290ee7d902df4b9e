//! `expect`: ask the system under test to act, then pick the awaited request among
//! everything it sent.
//!
//! Real clients do more than a scenario asks: they read `/metadata`, look a patient up,
//! search before a read, retry. None of that fails a step. The awaited request is the first
//! one of the step's window (everything since the scenario began that no earlier step took)
//! with the method and path the step names (its `method:`/`path:`, or else its `method` and
//! `path` assertions); the others are kept as "also received" for the report. Only when no
//! such request comes does the step fail, listing what came instead.

use super::send::body_bytes;
use super::{Done, StepCtx, StepError};
use crate::actors::ActionRequest;
use crate::http::{Message, RawExchange};
use crate::mock::recorder::WaitOutcome;
use crate::mock::server::{Override, method_matches, request_matches};
use crate::results::Status;
use crate::runner::operator::{self, Answer};
use crate::runner::progress::Progress;
use crate::runner::trigger::{self, Fired, Trigger};
use crate::scenario::template::{Vars, render, render_json};
use crate::scenario::{AssertKind, Body, Expect, Step, Target};
use std::collections::BTreeMap;
use std::time::Duration;

/// The request an `expect` step waits for.
struct Awaited {
    method: Option<String>,
    path: Option<String>,
}

impl Awaited {
    /// From the step's `method`/`path`, or else from its `method`/`path` assertions on the
    /// request (the shape the scenario checks is the shape it waits for).
    fn of(step: &Step, e: &Expect, vars: &Vars) -> Result<Awaited, String> {
        let on_request = |k: &AssertKind| {
            step.asserts
                .iter()
                .filter(|a| a.on == Target::Request)
                .find_map(|a| match (&a.kind, k) {
                    (AssertKind::Method(m), AssertKind::Method(_)) => Some(m.clone()),
                    (AssertKind::Path(p), AssertKind::Path(_)) => Some(p.clone()),
                    _ => None,
                })
        };
        let method = e
            .method
            .clone()
            .or_else(|| on_request(&AssertKind::Method(String::new())));
        let path = match e
            .path
            .clone()
            .or_else(|| on_request(&AssertKind::Path(String::new())))
        {
            Some(p) => Some(render(&p, vars)?),
            None => None,
        };
        Ok(Awaited { method, path })
    }

    fn matches(&self, m: &Message) -> bool {
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|want| method_matches(want, m.method.as_deref().unwrap_or("")));
        let path_ok = match &self.path {
            Some(p) => request_matches(p, m.path.as_deref().unwrap_or("")),
            // Reading the server's CapabilityStatement is never the awaited request.
            None => !(m.method.as_deref() == Some("GET") && m.path_only() == "metadata"),
        };
        method_ok && path_ok
    }

    fn describe(&self) -> String {
        match (&self.method, &self.path) {
            (Some(m), Some(p)) => format!("{m} {p}"),
            (Some(m), None) => format!("a {m} request"),
            (None, Some(p)) => format!("a request to {p}"),
            (None, None) => "a request".into(),
        }
    }
}

/// `GET /Patient?x (200)` for a list of what arrived.
fn brief(x: &RawExchange) -> String {
    let status = x
        .response
        .as_ref()
        .and_then(|r| r.status)
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    format!(
        "{} /{}{status}",
        x.request.method.as_deref().unwrap_or("?"),
        x.request.path.as_deref().unwrap_or("")
    )
}

fn list(xs: &[RawExchange]) -> String {
    let mut shown: Vec<String> = xs.iter().take(5).map(brief).collect();
    if xs.len() > 5 {
        shown.push(format!("and {} more", xs.len() - 5));
    }
    shown.join(", ")
}

/// Install the step's canned answer (`respond:`) for the awaited request.
fn install_override(
    ctx: &StepCtx<'_>,
    step: &Step,
    awaited: &Awaited,
    vars: &Vars,
) -> Result<(), String> {
    let Some(resp) = &step.respond else {
        return Ok(());
    };
    let mut m = Message {
        status: Some(resp.status),
        ..Message::default()
    };
    for (k, v) in &resp.headers {
        m.headers.push((k.clone(), render(v, vars)?));
    }
    if let Some(b) = &resp.body {
        m.body = body_bytes(b, vars)?;
        if !m
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            m.headers
                .push(("Content-Type".into(), "application/fhir+json".into()));
        }
    }
    if let Some(mock) = ctx.env.mock() {
        mock.push_override(Override {
            method: awaited.method.clone(),
            path: awaited.path.clone(),
            response: m,
        });
    }
    Ok(())
}

/// How long to wait: the step's `within`, or `--timeout`; a person gets at least the manual
/// wait (minutes), except where the request must *not* come.
fn wait_limit(ctx: &StepCtx<'_>, e: &Expect, manual: bool, forbidden: bool) -> Duration {
    let within = e.within.unwrap_or(ctx.cfg.timeout);
    if manual && !forbidden {
        within.max(ctx.cfg.manual_timeout)
    } else {
        within
    }
}

/// What the person is asked to do, with the address that matters: their own server's for a
/// server under test, the harness's for a client under test.
fn prompt(ctx: &StepCtx<'_>, step: &Step, e: &Expect, req: &ActionRequest, vars: &Vars) -> String {
    let task = match &e.prompt {
        Some(p) => render(p, vars).unwrap_or_else(|_| p.clone()),
        None => format!("perform `{}`", e.action),
    };
    let place = match ctx.prepared.target.as_deref() {
        Some(t) => format!("on your system at {t}"),
        None => format!(
            "on the {} under test, against the harness at {}",
            ctx.scenario.actor, req.base_url
        ),
    };
    let mut line = format!("\n>>> [{} / {}] {place}: {task}", ctx.scenario.id, step.id);
    for (k, v) in &req.with {
        line.push_str(&format!("\n    {k} = {}", ctx.redactor.text(v)));
    }
    line
}

pub(super) async fn expect(
    ctx: &mut StepCtx<'_>,
    step: &Step,
    e: &Expect,
    vars: &Vars,
) -> Result<Done, StepError> {
    let base = ctx
        .prepared
        .harness_url
        .clone()
        .ok_or_else(|| StepError::errored("the harness has no endpoint to receive on"))?;
    let awaited = Awaited::of(step, e, vars).map_err(StepError::errored)?;
    let recorder = ctx
        .env
        .mock()
        .ok_or_else(|| StepError::errored("the harness has no endpoint to receive on"))?
        .recorder()
        .clone();
    // `received: false`: the request must not arrive (the step waits all of `within`), and
    // only what arrives from now on counts.
    let forbidden = step
        .asserts
        .iter()
        .any(|a| matches!(a.kind, AssertKind::NotReceived));
    let step_start = recorder.cursor();
    let window_start = if forbidden || e.only_new {
        step_start
    } else {
        0
    };
    install_override(ctx, step, &awaited, vars).map_err(StepError::errored)?;

    // Ask the system under test to act.
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
            super::write_payload(ctx, &step.id, p)
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
    // The harness, as the server's client, makes the event happen itself when it can.
    let mut caused: Vec<RawExchange> = Vec::new();
    let mut refused = None;
    if let Some(req) = &e.cause {
        match super::send::send(ctx, req, vars).await {
            Ok(x)
                if x.response
                    .as_ref()
                    .and_then(|r| r.status)
                    .is_some_and(|s| (200..300).contains(&s)) =>
            {
                caused.push(x);
            }
            Ok(x) => {
                refused = Some(format!(
                    "the server answered {} to the harness's {} {}",
                    x.response
                        .as_ref()
                        .and_then(|r| r.status)
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "nothing".into()),
                    req.method,
                    x.request.path.as_deref().unwrap_or("")
                ));
                caused.push(x);
            }
            Err(err) => {
                refused = Some(err.message);
                caused.extend(err.exchanges);
            }
        }
    }
    let harness_acted = !caused.is_empty() && refused.is_none();
    let trig = if harness_acted {
        None
    } else {
        match ctx.prepared.trigger.clone() {
            Some(t) => Some(t),
            None => {
                return Err(StepError::errored(format!(
                    "nothing can ask the {} to act",
                    ctx.scenario.actor
                )));
            }
        }
    };
    let manual = matches!(trig, Some(Trigger::Manual));
    let within = wait_limit(ctx, e, manual, forbidden);
    let env = trigger::environment(
        &action,
        &step.id,
        payload_file.as_ref(),
        within.as_millis(),
        ctx.cfg.server_ca_file.as_deref(),
    );
    let mut instruction = None;
    if manual {
        let mut text = prompt(ctx, step, e, &action, vars);
        if let Some(why) = &refused {
            text.push_str(&format!(
                "\n    (the harness could not do it itself: {why})"
            ));
        }
        if let Some(p) = env.get("CDEX_PAYLOAD_FILE") {
            text.push_str(&format!("\n    suggested payload: {p}"));
        }
        instruction = Some(
            ctx.redactor
                .text(text.trim_start().trim_start_matches(">>> ")),
        );
        text.push_str(&format!(
            "\n    (`--trigger CMD` automates this step: see docs/actions.md, action `{}`)",
            e.action
        ));
        if ctx.cfg.operator.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            text.push_str(&format!(
                "\n    waiting up to {}: press Enter when done, or s then Enter to skip this step",
                humantime::format_duration(within)
            ));
        }
        eprintln!("{text}");
    }
    let mut fired = match trig {
        Some(t) => t.fire(action, env),
        None => Fired {
            handle: None,
            done_means_finished: false,
        },
    };
    ctx.progress(Progress::Waiting {
        scenario: ctx.scenario.id.clone(),
        step: step.id.clone(),
        what: ctx.redactor.text(&awaited.describe()),
        within,
        manual,
        instruction,
    });

    let taken = ctx.taken.clone();
    let matches = |i: usize, x: &RawExchange| {
        i >= window_start && !taken.contains(&i) && awaited.matches(&x.request)
    };
    let mut cancel = ctx.cancel.clone();
    let mut answers = if manual {
        operator::answers_for(ctx.cfg.operator.as_ref())
    } else {
        None
    };
    let mut trigger_error = None;
    let mut skipped_by_person = false;
    let mut said_done = false;
    let in_process = fired.done_means_finished;
    let outcome = {
        let wait = recorder.wait_for_at(0, within, &mut cancel, matches);
        tokio::pin!(wait);
        let handle = fired.handle.as_mut();
        let finished = async {
            match handle {
                Some(h) => h.await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(finished);
        tokio::select! {
            o = &mut wait => o,
            done = &mut finished => {
                let failed = match done {
                    Ok(Err(err)) => Some(err),
                    Err(join) => Some(format!("the client failed: {join}")),
                    Ok(Ok(())) => None,
                };
                if in_process || failed.is_some() {
                    // The client is done, or says it could not act: whatever it sent is
                    // recorded by now, and nothing more will come.
                    trigger_error = failed;
                    fired.handle = None;
                    let mut c2 = ctx.cancel.clone();
                    recorder.wait_for_at(0, Duration::ZERO, &mut c2, matches).await
                } else {
                    // A command that exited 0 may have started something that acts later.
                    fired.handle = None;
                    wait.await
                }
            }
            answer = operator::next(&mut answers) => {
                skipped_by_person = answer == Answer::Skip;
                said_done = answer == Answer::Done;
                let mut c2 = ctx.cancel.clone();
                recorder.wait_for_at(0, Duration::ZERO, &mut c2, matches).await
            }
        }
    };
    ctx.progress(Progress::WaitEnded {
        scenario: ctx.scenario.id.clone(),
    });
    if step.respond.is_some()
        && let Some(m) = ctx.env.mock()
    {
        m.clear_overrides();
    }
    if fired.handle.is_some() {
        ctx.triggers.push((step.id.clone(), fired));
    }

    // Everything that arrived during this step (and before it, not yet shown) that it did
    // not take: shown in the report as "also received".
    let also = |ctx: &mut StepCtx<'_>, took: Option<usize>| -> Vec<RawExchange> {
        let upto = recorder.cursor();
        let from = ctx.shown_upto.min(step_start);
        let xs = recorder
            .since_indexed(from)
            .into_iter()
            .filter(|(i, _)| Some(*i) != took && !ctx.taken.contains(i) && *i < upto)
            .map(|(_, x)| x)
            .collect();
        ctx.shown_upto = upto;
        xs
    };
    match outcome {
        WaitOutcome::Arrived(x, next) => {
            let index = next - 1;
            let also_received = also(ctx, Some(index));
            ctx.taken.insert(index);
            Ok(Done {
                before: caused,
                exchanges: vec![*x],
                also_received,
                message: None,
            })
        }
        _ if skipped_by_person => Err(StepError {
            status: Status::Skipped,
            also_received: also(ctx, None),
            ..StepError::errored("skipped by the person testing (they pressed s)")
        }),
        WaitOutcome::TimedOut if forbidden && trigger_error.is_none() => {
            // A request that must not arrive did not: the step's `received: false` checks pass.
            Ok(Done {
                before: caused,
                exchanges: Vec::new(),
                also_received: also(ctx, None),
                message: None,
            })
        }
        WaitOutcome::TimedOut if forbidden => Err(StepError {
            also_received: also(ctx, None),
            ..StepError::errored(format!(
                "the {} could not carry out `{}`, so whether {} stays away could not be checked: {}",
                ctx.scenario.actor,
                e.action,
                awaited.describe(),
                trigger_error.unwrap_or_default()
            ))
        }),
        WaitOutcome::TimedOut => {
            let others = also(ctx, None);
            let mut msg = if in_process || trigger_error.is_some() {
                format!(
                    "{} never arrived: the {} finished without sending it",
                    awaited.describe(),
                    ctx.scenario.actor
                )
            } else if said_done {
                format!(
                    "{} never arrived (the person testing said it was done)",
                    awaited.describe()
                )
            } else {
                format!(
                    "{} never arrived within {}",
                    awaited.describe(),
                    humantime::format_duration(within)
                )
            };
            if !others.is_empty() {
                msg.push_str(&format!(
                    "; {} other request(s) arrived instead: {}",
                    others.len(),
                    list(&others)
                ));
            }
            if let Some(err) = trigger_error {
                msg.push_str(&format!("; the client reported: {err}"));
            }
            if let Some(why) = &refused {
                msg.push_str(&format!(
                    "; the harness could not cause the event itself ({why}) and asked through `{}`",
                    e.action
                ));
            }
            let mut exchanges = caused;
            if let Some((path, show)) = &e.if_missing {
                let (said, x) = explain(ctx, path, show, vars).await;
                msg.push_str(&format!("; {said}"));
                exchanges.extend(x);
            }
            Err(StepError {
                status: Status::Failed,
                exchanges,
                also_received: others,
                ..StepError::errored(msg)
            })
        }
        WaitOutcome::Cancelled => Err(StepError {
            also_received: also(ctx, None),
            ..StepError::errored(format!(
                "the run was interrupted while waiting for {}",
                awaited.describe()
            ))
        }),
    }
}

/// Read `path` on the server under test and say what `show` (FHIRPath) finds there: why an
/// awaited request may never have come (a Subscription left `requested`, say).
async fn explain(
    ctx: &mut StepCtx<'_>,
    path: &str,
    show: &str,
    vars: &Vars,
) -> (String, Option<RawExchange>) {
    let req = crate::scenario::Request {
        method: "GET".into(),
        path: path.to_string(),
        headers: Vec::new(),
        omit_headers: Vec::new(),
        sign: None,
        body: None,
        grow: None,
    };
    let shown = render(path, vars).unwrap_or_else(|_| path.to_string());
    match super::send::send(ctx, &req, vars).await {
        Ok(x) => {
            let value = match x.response.as_ref().map(|r| serde_json::from_slice(&r.body)) {
                Some(Ok(json)) => match crate::fhir::fhirpath::evaluate(show, &json).await {
                    Ok(v) if v.is_empty() => "nothing".to_string(),
                    Ok(v) => v
                        .iter()
                        .map(|v| {
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string())
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                    Err(e) => format!("nothing readable ({e})"),
                },
                _ => "no FHIR resource".to_string(),
            };
            let status = x
                .response
                .as_ref()
                .and_then(|r| r.status)
                .map(|s| s.to_string())
                .unwrap_or_default();
            (
                format!("GET {shown} ({status}) shows {show} = {value}"),
                Some(x),
            )
        }
        Err(e) => (
            format!("GET {shown} to explain it failed: {}", e.message),
            None,
        ),
    }
}
