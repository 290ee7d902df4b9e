//! The reference CDex 2.1.0 **Payer**: its `$submit-attachment` endpoint (the Data Consumer
//! server, [`Endpoint`]) and, with the `attachments` option, the Data Consumer client that
//! asks a Provider for attachments with a CDex Task Attachment Request ([`request`],
//! [`client`]) and gives its own endpoint as the Task's `payer-url`.
//!
//! The endpoint ([`submit`]): `POST [base]/$submit-attachment` only (any other method 405 +
//! `Allow: POST`); the body checked against cdex-parameters-submit-attachment and the
//! OperationDefinition's rules ([`checks`]: ProviderId or OrganizationId, ServiceDate to the
//! day for claims, DocumentReference content with data or url); 200 (with an informational
//! OperationOutcome when the claim is not known: held for a future claim), 400/422 +
//! OperationOutcome on bad input, 400 + OperationOutcome `business-rule` when signatures are
//! required and a Content's signature is missing or does not verify ([`signatures`]), 413
//! past `max_payload`. `GET [base]/metadata` declares the operation ([`capability`]).

pub mod capability;
pub mod checks;
pub mod client;
pub mod faults;
pub mod request;
pub mod signatures;
pub mod submit;

pub use faults::FAULTS;

use super::ReferenceActor;
use crate::http::Message;
use crate::mock::{Handler, fhir_response, outcome};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// The options of the spec that forces signatures on.
pub const SIGNATURES_OPTIONS: &[&str] = &["signatures"];

/// A setting given as a YAML boolean or as rendered text (`"{{flag}}"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Flag {
    Bool(bool),
    Text(String),
}

impl Default for Flag {
    fn default() -> Self {
        Flag::Bool(false)
    }
}

impl Flag {
    pub fn on(&self) -> bool {
        match self {
            Flag::Bool(b) => *b,
            Flag::Text(t) => matches!(t.trim().to_ascii_lowercase().as_str(), "true" | "yes" | "1"),
        }
    }
}

/// A byte count given as a number or as rendered text; `none` or empty: no limit.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Bytes {
    Number(u64),
    Text(String),
}

impl Default for Bytes {
    fn default() -> Self {
        Bytes::Text("none".into())
    }
}

/// The pack's `reference: data-consumer-server:` settings (and the same for the
/// `data-consumer-client` of the `attachments` option, whose endpoint this is).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Signatures pre-negotiated: every Attachment.Content is a signed Bundle or
    /// QuestionnaireResponse that verifies (trusting the harness's test CA).
    pub signatures_required: Flag,
    /// The rule set signatures are verified under (`2.1.0`, the default, or `ci-build`: sigT,
    /// srCms, SAN = who are then required too). Trust: the harness's test CA.
    pub signature_rules: String,
    /// The largest request body it takes, in bytes (`none`: no limit of its own); past it,
    /// 413 + OperationOutcome. Documented in its CapabilityStatement.
    pub max_payload: Bytes,
    /// TrackingIds (`value` or `system|value`) of claims and prior authorizations it knows;
    /// attachments for any other are accepted and held (200 + informational
    /// OperationOutcome).
    pub known_claims: Vec<String>,
    /// It supports requesting attachments with questionnaires: QuestionnaireResponse
    /// contents are taken (default true).
    pub questionnaires: bool,
    /// PEM files of further trust anchors for signatures (a real Provider's CA, when the
    /// reference Payer is simulated against it); the harness's test CA is always trusted.
    pub trust_anchors: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            signatures_required: Flag::default(),
            signature_rules: "2.1.0".into(),
            max_payload: Bytes::default(),
            known_claims: Vec::new(),
            questionnaires: true,
            trust_anchors: Vec::new(),
        }
    }
}

impl Settings {
    pub fn parse(settings: &Value, actor: &str) -> Result<Settings, String> {
        serde_json::from_value(settings.clone())
            .map_err(|e| format!("reference settings of {actor}: {e}"))
    }

    /// The DER trust anchors signatures are verified against: the harness's test CA and the
    /// certificates of `trust_anchors` (a file that cannot be read is skipped; `none` and
    /// empty entries are ignored).
    pub fn trust(&self) -> Vec<Vec<u8>> {
        let mut out = vec![crate::fhir::signature::TestPki::shared().ca_der()];
        for path in self
            .trust_anchors
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty() && *p != "none")
        {
            if let Ok(text) = std::fs::read(path)
                && let Ok(certs) = crate::fhir::signature::pki::certificates_from_pem(&text)
            {
                out.extend(certs);
            }
        }
        out
    }

    pub fn signatures_required(&self) -> bool {
        self.signatures_required.on()
    }

    /// The size limit in bytes, if it has one.
    pub fn max_payload(&self) -> Option<u64> {
        match &self.max_payload {
            Bytes::Number(n) => Some(*n),
            Bytes::Text(t) => t.trim().replace('_', "").parse().ok(),
        }
    }
}

/// One accepted submission.
#[derive(Debug, Clone)]
pub struct Submission {
    pub tracking_id: String,
    pub is_final: bool,
    pub parameters: Value,
}

/// The Payer's `$submit-attachment` endpoint.
pub struct Endpoint {
    pub settings: Settings,
    faults: BTreeSet<String>,
    received: Mutex<Vec<Submission>>,
    /// TrackingIds of the attachment requests its client side sent (solicited: known).
    issued: Mutex<Vec<String>>,
    base: Mutex<String>,
}

impl Endpoint {
    pub fn new(settings: Settings, faults: BTreeSet<String>) -> Endpoint {
        Endpoint {
            settings,
            faults,
            received: Mutex::new(Vec::new()),
            issued: Mutex::new(Vec::new()),
            base: Mutex::new(String::new()),
        }
    }

    pub fn fault(&self, name: &str) -> bool {
        self.faults.contains(name)
    }

    pub fn base(&self) -> String {
        self.base.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// What it accepted so far, oldest first.
    pub fn received(&self) -> Vec<Submission> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Remember the TrackingId (`system|value` or value) of an attachment request sent: a
    /// submission answering it is for a claim it knows.
    pub fn issued(&self, tracking_id: &str) {
        self.issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tracking_id.to_string());
    }

    /// Keep an accepted submission; true when its TrackingId names a claim it knows.
    fn keep(&self, params: &Value) -> bool {
        let (system, value) = checks::identifier(params, "TrackingId").unwrap_or_default();
        let full = match &system {
            Some(s) => format!("{s}|{value}"),
            None => value.clone(),
        };
        let issued = self
            .issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let known = self
            .settings
            .known_claims
            .iter()
            .chain(issued.iter())
            .any(|k| !k.is_empty() && (*k == value || *k == full));
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Submission {
                tracking_id: full,
                is_final: checks::is_final(params),
                parameters: params.clone(),
            });
        known
    }

    fn process(&self, req: &Message) -> Message {
        let method = req.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
        let base = req.fhir_base();
        if !base.is_empty() {
            *self.base.lock().unwrap_or_else(|p| p.into_inner()) = base;
        }
        let path = req.path_only().trim_matches('/');
        if is_submit_attachment(path) {
            return match method.as_str() {
                "POST" => submit::submit(self, req),
                _ if self.fault("accepts-get") => Message {
                    status: Some(200),
                    ..Message::default()
                },
                other => {
                    let mut m = submit::refuse(
                        self,
                        405,
                        &[checks::Problem::new(
                            "not-supported",
                            "",
                            format!("{other} is not allowed: $submit-attachment takes POST only"),
                        )],
                        "",
                    );
                    m.headers.push(("Allow".into(), "POST".into()));
                    m
                }
            };
        }
        if path == "metadata" && method == "GET" {
            return fhir_response(200, &capability::statement(self));
        }
        outcome(
            404,
            "not-supported",
            &format!(
                "{method} /{path} is not an interaction of this Payer endpoint: POST [base]/$submit-attachment"
            ),
        )
    }
}

/// `$submit-attachment`, written literally or percent-encoded, at the end of the path
/// (system level, at any base).
pub fn is_submit_attachment(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or(path);
    last == "$submit-attachment" || last.eq_ignore_ascii_case("%24submit-attachment")
}

impl Handler for Endpoint {
    fn handle(&self, req: &Message) -> Message {
        self.process(req)
    }

    /// Its documented size limit, on `$submit-attachment` (the mock answers 413 past it
    /// without reading the rest); none with the `no-413` fault.
    fn max_body(&self, method: &str, path: &str) -> Option<u64> {
        let path = path.split('?').next().unwrap_or(path).trim_matches('/');
        (method.eq_ignore_ascii_case("POST") && is_submit_attachment(path) && !self.fault("no-413"))
            .then(|| self.settings.max_payload())
            .flatten()
    }

    fn seed(&self, _resource: Value) -> Result<String, String> {
        Err("the Payer's $submit-attachment endpoint holds no resources to serve".into())
    }
}

/// Factory of the plain Payer endpoint (`data-consumer-server`).
pub fn build(settings: &Value, faults: BTreeSet<String>) -> Result<ReferenceActor, String> {
    let s = Settings::parse(settings, "data-consumer-server")?;
    Ok(ReferenceActor {
        server: Some(Arc::new(Endpoint::new(s, faults))),
        client: None,
    })
}

/// Factory for scenarios of the `signatures` option: signatures pre-negotiated.
pub fn build_signed(settings: &Value, faults: BTreeSet<String>) -> Result<ReferenceActor, String> {
    let mut s = Settings::parse(settings, "data-consumer-server")?;
    s.signatures_required = Flag::Bool(true);
    Ok(ReferenceActor {
        server: Some(Arc::new(Endpoint::new(s, faults))),
        client: None,
    })
}

#[cfg(test)]
mod tests;
