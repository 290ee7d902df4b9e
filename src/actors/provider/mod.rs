//! The reference CDex 2.1.0 **Provider** for Attachments: what the harness stands in for when
//! a Provider is under test, and plays when a Payer is.
//!
//! - As **Data Source server** with the `attachments` option (`data-source-server`
//!   [attachments]): the reference Data Source ([`crate::actors::data_source`]) that also takes
//!   CDex Task Attachment Requests ([`admit`]): validated against the profile, stored,
//!   answered 201 + Location, readable and searchable like any Task. It never submits by
//!   itself: the action `answer-attachment-request` ([`answer`]) answers one as a person at
//!   the Provider would: `$submit-attachment` to the Task's `payer-url`, echoing the request
//!   ([`request`], [`parameters`]) with the attachments ([`content`], signed when the Task's
//!   `signature-flag` says so: [`sign`]), the Task moved `in-progress -> completed`, or
//!   `rejected` with a statusReason for a member it does not know.
//! - As **Data Source client** (`data-source-client`, [`client`]): unsolicited attachments,
//!   the action `submit-attachment`.
//!
//! Each side can be made faulty by name ([`faults`]).

pub mod admit;
pub mod answer;
pub mod client;
pub mod content;
pub mod faults;
pub mod http;
pub mod parameters;
pub mod request;
pub mod sign;

use super::data_source::{self, EventSource};
use super::{ActionRequest, BoxFuture, ClientActor, ReferenceActor};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The options of the Provider's Data Source server spec.
pub const OPTIONS: &[&str] = &["attachments"];
pub const SIGNED_OPTIONS: &[&str] = &["attachments", "signatures"];

/// The actions of the Provider's Data Source server: the Data Source's own, and the answer.
pub const SERVER_ACTIONS: &[&str] = &["trigger-event", "answer-attachment-request"];

pub use client::ACTIONS as CLIENT_ACTIONS;
pub use faults::{CLIENT_FAULTS, SERVER_FAULTS};

fn build_with(
    settings: &Value,
    faults: BTreeSet<String>,
    signatures: bool,
) -> Result<ReferenceActor, String> {
    let mut s = data_source::parse_settings(settings)?;
    s.attachments = true;
    if signatures {
        s.signatures_required = true;
    }
    let ds = data_source::new_data_source(s, faults)?;
    Ok(ReferenceActor {
        server: Some(ds.clone()),
        client: Some(Arc::new(Provider {
            events: EventSource(ds.clone()),
            ds,
        })),
    })
}

/// Factory of the Provider's Data Source server (`data-source-server` [attachments]).
pub fn build_server(settings: &Value, faults: BTreeSet<String>) -> Result<ReferenceActor, String> {
    build_with(settings, faults, false)
}

/// The same, with signed results pre-negotiated (`data-source-server` [attachments, signatures]).
pub fn build_server_signed(
    settings: &Value,
    faults: BTreeSet<String>,
) -> Result<ReferenceActor, String> {
    build_with(settings, faults, true)
}

pub use client::build as build_client;

/// The Provider's client side: the Data Source's events, and its answers to attachment
/// requests.
struct Provider {
    ds: Arc<data_source::DataSource>,
    events: EventSource,
}

impl ClientActor for Provider {
    fn perform(&self, req: ActionRequest) -> BoxFuture<Result<(), String>> {
        match req.action.as_str() {
            "answer-attachment-request" => Box::pin(answer::perform(self.ds.clone(), req)),
            _ => self.events.perform(req),
        }
    }
}

#[cfg(test)]
mod tests;
