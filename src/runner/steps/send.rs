//! `send`: the harness, as a client, sends one request to the system under test.

use super::{StepCtx, StepError, wait_cancel};
use crate::fhir::signature::SignOptions;
use crate::http::RawExchange;
use crate::http::client::OutgoingRequest;
use crate::http::grow::Grown;
use crate::scenario::template::{Vars, render, render_json};
use crate::scenario::{Body, Request, SignSpec};

/// Render a body template to bytes.
pub(super) fn body_bytes(body: &Body, vars: &Vars) -> Result<Vec<u8>, String> {
    match body {
        Body::Json(v) => {
            let rendered = render_json(v, vars)?;
            serde_json::to_vec_pretty(&rendered).map_err(|e| e.to_string())
        }
        Body::Text(t) => Ok(render(t, vars)?.into_bytes()),
    }
}

/// `sign:` sign the Bundle or QuestionnaireResponse at `spec.at` inside `body`.
fn sign_inside(body: &mut serde_json::Value, spec: &SignSpec) -> Result<(), String> {
    let target = body
        .pointer_mut(&spec.at)
        .ok_or_else(|| format!("sign.at `{}` is not in the body", spec.at))?;
    let mut opts = SignOptions {
        cert: spec.cert,
        tamper: spec.tamper,
        mismatch: spec.mismatch.clone(),
        ..SignOptions::default()
    };
    if let Some(who) = &spec.who {
        opts.who = who.clone();
    }
    crate::fhir::signature::sign(target, &opts).map_err(|e| format!("sign: {e}"))
}

fn set_header(headers: &mut Vec<(String, String)>, name: &str, value: String) {
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    headers.push((name.to_string(), value));
}

fn is_absolute(path: &str) -> bool {
    path.starts_with("http://") || path.starts_with("https://")
}

/// The grown body of a `send` with `body.grow`: the rendered JSON with its string replaced.
fn grown(req: &Request, vars: &Vars) -> Result<Option<Grown>, String> {
    let Some(g) = &req.grow else {
        return Ok(None);
    };
    let value = match &req.body {
        Some(Body::Json(v)) => render_json(v, vars)?,
        _ => return Err("`grow` needs a JSON body".into()),
    };
    let at = render(&g.at, vars)?;
    let bytes = crate::http::grow::parse_size(&render(&g.bytes, vars)?)
        .map_err(|e| format!("`grow.bytes`: {e}"))?;
    Grown::new(&value, &at, bytes).map(Some)
}

fn build_request(ctx: &StepCtx<'_>, req: &Request, vars: &Vars) -> Result<OutgoingRequest, String> {
    let path = render(&req.path, vars)?;
    let base = ctx.prepared.target.as_deref();
    let (url, rel) = if is_absolute(&path) {
        // An address the peer gave (a Task's focus, the Endpoint a request names): no
        // --target needed.
        let rel = base
            .and_then(|b| path.strip_prefix(b))
            .map(|p| p.trim_start_matches('/').to_string())
            .unwrap_or_else(|| path.clone());
        (path.clone(), rel)
    } else {
        let base = base.ok_or_else(|| {
            format!(
                "this step sends `{} {}` to the {} under test, relative to its FHIR base, and nothing it sent gives that address: give it with --target",
                req.method, path, ctx.scenario.actor
            )
        })?;
        let rel = path.trim_start_matches('/').to_string();
        (format!("{}/{}", base.trim_end_matches('/'), rel), rel)
    };
    let mut headers = vec![("Accept".to_string(), "application/fhir+json".to_string())];
    for (k, v) in &ctx.pack.headers {
        // A header whose value comes out empty or ends in `none` (`Bearer {{token}}` with
        // `token: none`, a server that takes no credentials) is not sent.
        let value = render(v, vars)?;
        if value.trim().is_empty() || value.split_whitespace().last() == Some("none") {
            continue;
        }
        set_header(&mut headers, k, value);
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
            // A grown body is streamed instead (see `send`).
            match (&req.grow, &req.sign, b) {
                (Some(_), _, _) => None,
                (None, Some(spec), Body::Json(v)) => {
                    let mut rendered = render_json(v, vars)?;
                    sign_inside(&mut rendered, spec)?;
                    Some(serde_json::to_vec_pretty(&rendered).map_err(|e| e.to_string())?)
                }
                _ => Some(body_bytes(b, vars)?),
            }
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

pub(super) async fn send(
    ctx: &mut StepCtx<'_>,
    req: &Request,
    vars: &Vars,
) -> Result<RawExchange, StepError> {
    let out = build_request(ctx, req, vars).map_err(StepError::errored)?;
    let grown = grown(req, vars).map_err(StepError::errored)?;
    let client = ctx.env.client().map_err(StepError::errored)?;
    let mut cancel = ctx.cancel.clone();
    let sending = async {
        match &grown {
            Some(g) => client.send_streamed(out, g, ctx.cfg.timeout).await,
            None => client.send(out, ctx.cfg.timeout).await,
        }
    };
    let x = tokio::select! {
        x = sending => x,
        _ = wait_cancel(&mut cancel) => return Err(StepError::errored("the run was interrupted during this request")),
    };
    ctx.sent.push(x.clone());
    if let Some(e) = &x.error {
        return Err(StepError {
            exchanges: vec![x.clone()],
            ..StepError::errored(e.clone())
        });
    }
    Ok(x)
}
