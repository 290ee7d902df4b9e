//! The step kinds, one module each: [`send`] a request, [`expect`] one from the system
//! under test, [`poll`] until a condition holds, [`serve`] resources for the peer to pull,
//! and hand the endpoint a [`timeline`] to follow. This module runs a step of any kind:
//! captures, assertions, and what a failure skips.

mod expect;
mod poll;
mod send;
mod serve;
mod timeline;

use super::RunConfig;
use super::assert;
use super::capture;
use super::env::{Environment, Prepared};
use super::observed::Observed;
use super::progress::Progress;
use super::trigger::Fired;
use super::{poll_schedule, task_states};
use crate::http::redact::Redactor;
use crate::http::{Message, RawExchange};
use crate::results::{AssertionResult, Exchange, Status, StepResult};
use crate::scenario::AssertKind;
use crate::scenario::template::Vars;
use crate::scenario::{Pack, Scenario, Step, StepKind, Target};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use tokio::sync::watch;

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
    /// Positions in the endpoint's record of the exchanges `expect` steps took: a later
    /// `expect` never takes one again, and looks at all the others, so a request the system
    /// under test sent on its own, or earlier than asked, is not missed.
    pub taken: BTreeSet<usize>,
    /// Position up to which received exchanges have been shown in some step's results.
    pub shown_upto: usize,
    /// Every exchange the harness made with the system under test in this scenario (each
    /// poll attempt included), for the checks over the whole scenario.
    pub sent: Vec<RawExchange>,
    /// When each step's exchange (an `expect` step's awaited request) happened.
    pub step_times: BTreeMap<String, chrono::DateTime<chrono::Utc>>,
}

impl StepCtx<'_> {
    fn progress(&self, p: Progress) {
        if let Some(cb) = &self.cfg.on_progress {
            cb(p);
        }
    }

    /// What the system under test sent to the harness's endpoint in this scenario; `None`
    /// when the harness runs no endpoint here.
    fn received(&self) -> Option<Vec<RawExchange>> {
        self.prepared.harness_url.as_ref()?;
        Some(self.env.mock()?.recorder().since(0))
    }

    /// Check an assertion over everything the scenario observed so far.
    fn scenario_wide(&mut self, a: &crate::scenario::Assertion, vars: &Vars) -> AssertionResult {
        let received = self.received();
        let observed = Observed {
            sent: &self.sent,
            received: received.as_deref(),
        };
        match &a.kind {
            AssertKind::TaskStates { id, reaches } => {
                // The run's note on the statuses an actor demonstrated is for an actor that
                // wrote the Task checked.
                let rendered =
                    crate::scenario::template::render(id, vars).unwrap_or_else(|_| id.clone());
                if task_states::written_by_sut(&observed, &rendered) {
                    self.env.task_checked.insert(self.scenario.actor.clone());
                }
                task_states::evaluate(a, id, reaches, &observed, vars)
            }
            AssertKind::PollSchedule(spec) => poll_schedule::evaluate(
                a,
                spec,
                &observed,
                &self.step_times,
                self.cfg.time_scale,
                vars,
            ),
            _ => assert::not_evaluated(
                a,
                "not a check over the whole scenario",
                Status::Errored,
                Some(vars),
            ),
        }
    }
}

/// At the end of a scenario: the Task statuses its system under test showed, for the run's
/// note (CONF-059), given for the actors whose Tasks some `task_states` check looked at.
pub fn note_task_statuses(ctx: &mut StepCtx<'_>) {
    let received = ctx.received();
    let observed = Observed {
        sent: &ctx.sent,
        received: received.as_deref(),
    };
    let shown = task_states::demonstrated(&observed);
    let actor = ctx.scenario.actor.clone();
    if !shown.is_empty() {
        ctx.env
            .task_statuses
            .entry(actor)
            .or_default()
            .extend(shown);
    }
}

/// What a step that ran produced: the exchanges it is about (the last one is checked), and
/// the requests the system under test sent besides, which are shown, never checked.
struct Done {
    /// Exchanges the step made before the one it is about (the request by which the harness
    /// caused an event): shown, not checked.
    before: Vec<RawExchange>,
    exchanges: Vec<RawExchange>,
    also_received: Vec<RawExchange>,
    /// What to say about the step that passed (how many attempts a poll took, say).
    message: Option<String>,
}

impl Done {
    fn of(exchanges: Vec<RawExchange>) -> Done {
        Done {
            before: Vec::new(),
            exchanges,
            also_received: Vec::new(),
            message: None,
        }
    }
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
        also_received: Vec::new(),
        assertions: step
            .asserts
            .iter()
            .filter(|a| !is_hidden(a))
            .map(|a| assert::not_evaluated(a, why, status, None))
            .collect(),
        captures: BTreeMap::new(),
    }
}

/// An external check that is bookkeeping only (never listed).
fn is_hidden(a: &crate::scenario::Assertion) -> bool {
    matches!(&a.kind, AssertKind::External(c) if c.0.hidden())
}

/// Evaluate the step's external checks over its exchange (or none); hidden ones are not
/// listed.
async fn external_checks(
    ctx: &StepCtx<'_>,
    step: &Step,
    x: Option<&RawExchange>,
    vars: &mut Vars,
    out: &mut Vec<AssertionResult>,
) {
    for a in &step.asserts {
        if let AssertKind::External(c) = &a.kind
            && let Some(res) = c.0.evaluate(x, vars).await
        {
            out.push(redact_assertion(ctx.redactor, res));
        }
    }
}

pub async fn run(ctx: &mut StepCtx<'_>, step: &Step, vars: &mut Vars) -> StepResult {
    let clock = Instant::now();
    let mut r = skipped(step, Status::Passed, "");
    r.assertions.clear();
    ctx.progress(Progress::StepStarted {
        scenario: ctx.scenario.id.clone(),
        step: step.id.clone(),
        title: step.title.clone(),
    });
    let outcome = match &step.kind {
        StepKind::Send(req) => send::send(ctx, req, vars).await.map(|x| Done::of(vec![x])),
        StepKind::Poll(p) => poll::poll(ctx, step, p, vars).await,
        StepKind::Expect(e) => expect::expect(ctx, step, e, vars).await,
        StepKind::Serve(bodies) => serve::serve(ctx, bodies, vars).map(|served| {
            r.message = Some(format!("served {}", served.join(", ")));
            Done::of(Vec::new())
        }),
        StepKind::Timeline(t) => timeline::timeline(ctx, t, vars).map(|said| {
            r.message = Some(said);
            Done::of(Vec::new())
        }),
        StepKind::Checks => Ok(Done::of(Vec::new())),
    };
    match outcome {
        Err(StepError {
            status,
            message,
            exchanges,
            also_received,
        }) => {
            r.status = status;
            r.message = Some(ctx.redactor.text(&message));
            r.exchanges = exchanges.iter().map(|x| ctx.redactor.exchange(x)).collect();
            r.also_received = redacted(ctx.redactor, &also_received);
            let why = match status {
                Status::Errored => "the exchange could not be completed",
                Status::Skipped => "the step was skipped",
                _ => "the awaited message never came",
            };
            let verdict = if status == Status::Failed {
                Status::Failed
            } else {
                Status::Skipped
            };
            r.assertions = step
                .asserts
                .iter()
                .filter(|a| !matches!(a.kind, AssertKind::External(_)))
                .map(|a| {
                    redact_assertion(
                        ctx.redactor,
                        assert::not_evaluated(a, why, verdict, Some(vars)),
                    )
                })
                .collect();
            // External checks judge the failed exchange themselves (a TestScript records
            // that its operation got no response).
            let mut external = Vec::new();
            external_checks(ctx, step, exchanges.last(), vars, &mut external).await;
            r.assertions.extend(external);
        }
        Ok(Done {
            before,
            exchanges,
            also_received,
            message,
        }) => {
            if let Some(m) = message {
                r.message = Some(ctx.redactor.text(&m));
            }
            if let Some(x) = exchanges.last() {
                ctx.step_times.insert(step.id.clone(), x.at);
            }
            r.also_received = redacted(ctx.redactor, &also_received);
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
                external_checks(ctx, step, Some(x), vars, &mut r.assertions).await;
                for a in step
                    .asserts
                    .iter()
                    .filter(|a| !a.kind.is_scenario_wide())
                    .filter(|a| !matches!(a.kind, AssertKind::External(_)))
                {
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
                // Nothing arrived, as a `received: false` step wants (or nothing is
                // exchanged: a `timeline` step).
                external_checks(ctx, step, None, vars, &mut r.assertions).await;
                for a in step
                    .asserts
                    .iter()
                    .filter(|a| !a.kind.is_scenario_wide())
                    .filter(|a| !matches!(a.kind, AssertKind::External(_)))
                {
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
            for a in step.asserts.iter().filter(|a| a.kind.is_scenario_wide()) {
                let res = ctx.scenario_wide(a, vars);
                r.assertions.push(redact_assertion(ctx.redactor, res));
            }
            r.exchanges = before
                .iter()
                .chain(exchanges.iter())
                .map(|x| ctx.redactor.exchange(x))
                .collect();
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
    also_received: Vec<RawExchange>,
}

impl StepError {
    fn errored(message: impl Into<String>) -> Self {
        StepError {
            status: Status::Errored,
            message: message.into(),
            exchanges: Vec::new(),
            also_received: Vec::new(),
        }
    }
}

pub(super) async fn wait_cancel(cancel: &mut watch::Receiver<bool>) {
    loop {
        if *cancel.borrow() {
            return;
        }
        if cancel.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

pub(super) async fn write_payload(
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

/// Requests that arrived after the last `expect` took its own, and that no step showed: the
/// last `expect` step shows them as "also received".
pub fn show_leftovers(ctx: &mut StepCtx<'_>, results: &mut [StepResult]) {
    let Some(mock) = ctx.env.mock() else {
        return;
    };
    let left: Vec<RawExchange> = mock
        .recorder()
        .since_indexed(ctx.shown_upto)
        .into_iter()
        .filter(|(i, _)| !ctx.taken.contains(i))
        .map(|(_, x)| x)
        .collect();
    let last_expect = ctx
        .scenario
        .steps
        .iter()
        .rposition(|s| matches!(s.kind, StepKind::Expect(_)));
    if let (false, Some(i)) = (left.is_empty(), last_expect)
        && let Some(r) = results.get_mut(i)
    {
        r.also_received.extend(redacted(ctx.redactor, &left));
    }
}

/// Exchanges, redacted, for a caller outside the runner (the simulator's live log).
pub fn redacted(red: &Redactor, xs: &[RawExchange]) -> Vec<Exchange> {
    xs.iter().map(|x| red.exchange(x)).collect()
}
