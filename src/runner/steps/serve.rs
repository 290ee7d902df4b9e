//! `serve`: put resources on the harness's endpoint for the client under test to pull.

use super::{StepCtx, StepError};
use crate::scenario::Body;
use crate::scenario::template::{Vars, render_json};

/// Seed each resource; returns their `Type/id`s.
pub(super) fn serve(
    ctx: &mut StepCtx<'_>,
    bodies: &[Body],
    vars: &Vars,
) -> Result<Vec<String>, StepError> {
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
