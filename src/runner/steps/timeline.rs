//! `timeline`: hand the harness endpoint's Handler (the counterpart the harness plays for a
//! client under test) a script of Task status changes. The Handler applies them; the engine
//! renders the script's templates and adds the run's time scale (`time_scale`), by which the
//! Handler divides each change's `after_ms`.

use super::{StepCtx, StepError};
use crate::scenario::template::{Vars, render_json};
use crate::scenario::{TIMELINE_SCRIPT, Timeline};

/// Hand the script over; returns what the step did, in words.
pub(super) fn timeline(
    ctx: &mut StepCtx<'_>,
    t: &Timeline,
    vars: &Vars,
) -> Result<String, StepError> {
    let mut script = render_json(&t.script, vars).map_err(StepError::errored)?;
    if let Some(obj) = script.as_object_mut() {
        obj.insert("time_scale".into(), serde_json::json!(ctx.cfg.time_scale));
    }
    let mock = ctx.env.mock().ok_or_else(|| {
        StepError::errored("the harness runs no endpoint in this scenario to follow a timeline")
    })?;
    mock.handler()
        .script(TIMELINE_SCRIPT, &script)
        .map_err(|e| {
            StepError::errored(format!(
                "the {} refused the timeline: {e}",
                ctx.scenario.plays
            ))
        })?;
    Ok(describe(&script))
}

/// `Task next: accepted (after 1 read), in-progress (after 1m), completed`.
fn describe(script: &serde_json::Value) -> String {
    let task = script
        .get("task")
        .and_then(|v| v.as_str())
        .unwrap_or("next");
    let task = if task == "next" {
        "the next Task the client creates".to_string()
    } else {
        task.to_string()
    };
    let changes: Vec<String> = script
        .get("changes")
        .and_then(|c| c.as_array())
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let status = c.get("status").and_then(|v| v.as_str()).unwrap_or("?");
                    if let Some(n) = c.get("after_polls").and_then(|v| v.as_u64()) {
                        format!("{status} (after {n} read{})", if n == 1 { "" } else { "s" })
                    } else if let Some(a) = c.get("after").and_then(|v| v.as_str()) {
                        format!("{status} (after {a})")
                    } else {
                        status.to_string()
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    format!("scripted {task}: {}", changes.join(", "))
}
