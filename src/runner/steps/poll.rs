//! `poll`: repeat a request until a condition holds or time runs out.

use super::send::send;
use super::{StepCtx, StepError, wait_cancel};
use crate::http::RawExchange;
use crate::results::Status;
use crate::runner::assert;
use crate::scenario::Poll;
use crate::scenario::template::Vars;
use std::time::Instant;

/// Most poll attempts kept in the results (the first and the latest ones).
const MAX_POLL_EXCHANGES: usize = 10;

pub(super) async fn poll(
    ctx: &mut StepCtx<'_>,
    p: &Poll,
    vars: &Vars,
) -> Result<Vec<RawExchange>, StepError> {
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
                exchanges: kept,
                ..StepError::errored(format!(
                    "the condition never held within {} ({attempts} attempts); last time: {}",
                    humantime::format_duration(within),
                    failing.join("; ")
                ))
            });
        }
        let mut cancel = ctx.cancel.clone();
        tokio::select! {
            _ = tokio::time::sleep(p.every) => {}
            _ = wait_cancel(&mut cancel) => return Err(StepError {
                exchanges: kept,
                ..StepError::errored("the run was interrupted while polling")
            }),
        }
    }
}
