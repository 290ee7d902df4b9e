//! The harness as an HTTP server: a mock FHIR endpoint that records every exchange and
//! answers through a [`Handler`] (a reference actor), or with a canned answer a scenario gives.

pub mod accept;
pub mod recorder;
pub mod server;
pub mod tls;

use crate::http::Message;

pub use recorder::Recorder;
pub use server::MockServer;

/// Something that answers FHIR requests: the reference actors implement it.
pub trait Handler: Send + Sync {
    /// Answer one request. `req.path` is relative to the FHIR base.
    fn handle(&self, req: &Message) -> Message;

    /// Put a resource in place for the peer to pull (a scenario's `serve` step). Returns the
    /// resource's `Type/id`.
    fn seed(&self, resource: serde_json::Value) -> Result<String, String>;

    /// The largest request body this counterpart takes for `method` and `path` (relative to
    /// the base, no query, `$` written as such), asked before the body is read. Past it the
    /// mock answers 413 with an OperationOutcome itself, without reading the rest, and records
    /// the exchange with the body "not kept". `None` (the default): the mock's own limit.
    fn max_body(&self, method: &str, path: &str) -> Option<u64> {
        let _ = (method, path);
        None
    }

    /// Take a script that says how to behave from now on (a scenario's `timeline` step hands
    /// `task-timeline`: see docs/scenarios.md). A counterpart that takes no such script
    /// refuses it, and the step errors with this message.
    /// Keep at most `keep` resources in memory (per store), dropping the oldest past it and
    /// counting each in `dropped` (a simulator running for a day). The default keeps
    /// everything: an actor whose memory does not grow with what partners send.
    fn keep_at_most(&self, keep: usize, dropped: std::sync::Arc<std::sync::atomic::AtomicU64>) {
        let _ = (keep, dropped);
    }

    fn script(&self, name: &str, script: &serde_json::Value) -> Result<(), String> {
        let _ = script;
        Err(format!(
            "this counterpart takes no script (`{name}`): the reference actor the harness plays here cannot follow a timeline"
        ))
    }
}

/// A FHIR JSON response.
pub fn fhir_response(status: u16, body: &(impl serde::Serialize + ?Sized)) -> Message {
    Message {
        status: Some(status),
        headers: vec![(
            "Content-Type".into(),
            "application/fhir+json; charset=utf-8".into(),
        )],
        body: {
            // Room for a typical resource at once (serde_json starts at 128 bytes and grows).
            let mut out = Vec::with_capacity(1024);
            match serde_json::to_writer_pretty(&mut out, body) {
                Ok(()) => out,
                Err(_) => Vec::new(),
            }
        },
        ..Message::default()
    }
}

/// An OperationOutcome response with one issue.
pub fn outcome(status: u16, code: &str, text: &str) -> Message {
    fhir_response(
        status,
        &serde_json::json!({
            "resourceType": "OperationOutcome",
            "issue": [{ "severity": "error", "code": code, "diagnostics": text }]
        }),
    )
}

/// The resource a client pushed (POST/PUT body), checked to be JSON of the type the URL
/// names; otherwise the 400 OperationOutcome to answer with.
pub fn pushed_resource(req: &Message, rtype: &str) -> Result<serde_json::Value, Box<Message>> {
    pushed_resource_shared(req, rtype).map(std::sync::Arc::unwrap_or_clone)
}

/// [`pushed_resource`], shared with whoever else reads the request's parse (the live check).
pub fn pushed_resource_shared(
    req: &Message,
    rtype: &str,
) -> Result<std::sync::Arc<serde_json::Value>, Box<Message>> {
    let resource = req
        .json_arc()
        .map_err(|e| Box::new(outcome(400, "structure", &e)))?;
    let found = resource
        .get("resourceType")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    if found != rtype {
        return Err(Box::new(outcome(
            400,
            "invalid",
            &format!("the body is a `{found}`, the URL names `{rtype}`"),
        )));
    }
    Ok(resource)
}
