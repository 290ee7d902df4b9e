//! `poll`: repeat a request until a condition holds or time runs out, at a fixed interval
//! (`every`) or on a schedule in the pack's time (`schedule`, divided by the run's time
//! scale). With a `prompt`, a person is told what to do on the system under test first; the
//! poll still ends by itself when the condition holds.

use super::send::send;
use super::{Done, StepCtx, StepError, wait_cancel};
use crate::http::RawExchange;
use crate::results::Status;
use crate::runner::Sut;
use crate::runner::assert;
use crate::runner::operator::{self, Answer};
use crate::runner::progress::Progress;
use crate::scenario::template::{Vars, render};
use crate::scenario::{Poll, Step};
use std::time::{Duration, Instant};

/// Most poll attempts kept in the step's results. Every attempt whose answer differs from
/// the one before is kept (each version of a polled Task shows), of a run of identical
/// answers the first and the latest, and beyond this many the oldest after the first go.
/// (The checks over the whole scenario, `task_states`, see every attempt regardless.)
const MAX_POLL_EXCHANGES: usize = 100;

/// The answer of an attempt, to tell a changed one from a repeat.
fn same_answer(a: &RawExchange, b: &RawExchange) -> bool {
    match (&a.response, &b.response) {
        (Some(x), Some(y)) => x.status == y.status && x.body == y.body,
        (None, None) => a.error == b.error,
        _ => false,
    }
}

fn keep(kept: &mut Vec<RawExchange>, x: RawExchange) {
    let n = kept.len();
    if n >= 2 && same_answer(&kept[n - 1], &x) && same_answer(&kept[n - 2], &x) {
        kept[n - 1] = x;
        return;
    }
    if n >= MAX_POLL_EXCHANGES {
        kept.remove(1);
    }
    kept.push(x);
}

/// How a wait between attempts ended.
enum Waited {
    /// The time passed, or the person says they are done: attempt now.
    Attempt,
    Skip,
    Cancelled,
}

async fn pause(
    d: Duration,
    cancel: &mut tokio::sync::watch::Receiver<bool>,
    answers: &mut Option<tokio::sync::broadcast::Receiver<Answer>>,
) -> Waited {
    tokio::select! {
        _ = tokio::time::sleep(d) => Waited::Attempt,
        _ = wait_cancel(cancel) => Waited::Cancelled,
        a = operator::next(answers) => match a {
            Answer::Done => Waited::Attempt,
            Answer::Skip => Waited::Skip,
        },
    }
}

pub(super) async fn poll(
    ctx: &mut StepCtx<'_>,
    step: &Step,
    p: &Poll,
    vars: &Vars,
) -> Result<Done, StepError> {
    let schedule = p.schedule.as_ref().map(|s| s.scaled(ctx.cfg.time_scale));
    // A person acts on a real system; the reference actors act by themselves.
    let manual = p.prompt.is_some() && matches!(ctx.cfg.sut, Sut::External { .. });
    let mut within = p.within.unwrap_or(ctx.cfg.timeout);
    if manual {
        within = within.max(ctx.cfg.manual_timeout);
    }
    let start = Instant::now();
    let deadline = start + within;
    let mut answers = if manual {
        operator::answers_for(ctx.cfg.operator.as_ref())
    } else {
        None
    };
    if let Some(prompt) = &p.prompt {
        let text = render(prompt, vars).unwrap_or_else(|_| prompt.clone());
        if manual {
            let place = match ctx.prepared.target.as_deref() {
                Some(t) => format!("on your system at {t}"),
                None => format!("on the {} under test", ctx.scenario.actor),
            };
            let mut line = format!(
                "\n>>> [{} / {}] {place}: {text}\n    the harness polls {} {} until it sees the result",
                ctx.scenario.id,
                step.id,
                p.request.method,
                render(&p.request.path, vars).unwrap_or_else(|_| p.request.path.clone()),
            );
            if answers.is_some() && ctx.cfg.operator.is_none() {
                line.push_str(&format!(
                    "\n    waiting up to {}: press Enter to poll at once, or s then Enter to skip this step",
                    humantime::format_duration(within)
                ));
            }
            eprintln!("{}", ctx.redactor.text(&line));
        }
        ctx.progress(Progress::Waiting {
            scenario: ctx.scenario.id.clone(),
            step: step.id.clone(),
            what: ctx.redactor.text(&text),
            within,
            manual,
            instruction: manual.then(|| ctx.redactor.text(&text)),
        });
    }
    let result = attempts(
        ctx,
        p,
        vars,
        schedule,
        start,
        deadline,
        within,
        &mut answers,
    )
    .await;
    if p.prompt.is_some() {
        ctx.progress(Progress::WaitEnded {
            scenario: ctx.scenario.id.clone(),
        });
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn attempts(
    ctx: &mut StepCtx<'_>,
    p: &Poll,
    vars: &Vars,
    schedule: Option<crate::scenario::Schedule>,
    start: Instant,
    deadline: Instant,
    within: Duration,
    answers: &mut Option<tokio::sync::broadcast::Receiver<Answer>>,
) -> Result<Done, StepError> {
    let mut kept: Vec<RawExchange> = Vec::new();
    let mut cancel = ctx.cancel.clone();
    let interrupted = |kept: Vec<RawExchange>| StepError {
        exchanges: kept,
        ..StepError::errored("the run was interrupted while polling")
    };
    let skipped = |kept: Vec<RawExchange>| StepError {
        status: Status::Skipped,
        exchanges: kept,
        ..StepError::errored("skipped by the person testing (they pressed s)")
    };
    if let Some(first) = schedule.as_ref().and_then(|s| s.first_after) {
        if Instant::now() + first > deadline {
            return Err(StepError::errored(format!(
                "the schedule's first attempt (after {}) would come after the poll's limit of {}: give a longer `within`",
                humantime::format_duration(first),
                humantime::format_duration(within)
            )));
        }
        match pause(first, &mut cancel, answers).await {
            Waited::Attempt => {}
            Waited::Skip => return Err(skipped(kept)),
            Waited::Cancelled => return Err(interrupted(kept)),
        }
    }
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
        keep(&mut kept, x);
        if failing.is_empty() {
            let message = (attempts > 1).then(|| {
                format!(
                    "the condition held at attempt {attempts}, {} after the poll began",
                    humantime::format_duration(Duration::from_millis(
                        start.elapsed().as_millis() as u64
                    ))
                )
            });
            return Ok(Done {
                message,
                ..Done::of(kept)
            });
        }
        let every = schedule
            .as_ref()
            .and_then(|s| s.interval_after(start.elapsed()))
            .unwrap_or(p.every);
        if Instant::now() + every > deadline {
            // Not a verdict: the system may be slower than the limit (a person acting on
            // it), and no requirement gives a time bound. The step errors and names what to
            // do; its checks are not evaluated, so no requirement is said to fail.
            let hint = if p.prompt.is_some() {
                " (if a person acts on the system under test, give them longer with --timeout)"
            } else {
                " (a slower system needs a longer --timeout)"
            };
            return Err(StepError {
                exchanges: kept,
                ..StepError::errored(format!(
                    "the condition never held within {} ({attempts} attempts), so the result could not be judged{hint}; last time: {}",
                    humantime::format_duration(within),
                    failing.join("; ")
                ))
            });
        }
        match pause(every, &mut cancel, answers).await {
            Waited::Attempt => {}
            Waited::Skip => return Err(skipped(kept)),
            Waited::Cancelled => return Err(interrupted(kept)),
        }
    }
}
