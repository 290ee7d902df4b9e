//! `POST Task` of a CDex Task Attachment Request on the reference Provider (the Data Source
//! server of the `attachments` option): validated against cdex-task-attachment-request (its
//! contained PractitionerRole and Patient with it), then stored like any Task, to wait for
//! the Provider's answer ([`super::answer`]). It never submits by itself.

use super::request::TASK_ATTACHMENT_REQUEST;
use crate::actors::data_source::DataSource;
use crate::actors::data_source::tasks;
use crate::http::Message;
use crate::mock::outcome;
use serde_json::Value;

/// A refusal decided before validation (the faults that refuse good requests).
pub fn refusal(ds: &DataSource, _task: &Value) -> Option<Message> {
    ds.fault("rejects-attachment-request").then(|| {
        outcome(
            422,
            "not-supported",
            "attachment requests are not supported by this Data Source",
        )
    })
}

/// Errors of the request against CDex Task Attachment Request (the contained resources'
/// profiles included: the validator follows the slices' types and the invariants cdex-1..6).
pub fn profile_errors(ds: &DataSource, task: &Value) -> Vec<String> {
    let errors = tasks::profile_errors(task, TASK_ATTACHMENT_REQUEST);
    if ds.fault("accepts-claim-without-service-date") {
        return errors
            .into_iter()
            .filter(|e| !e.contains("cdex-1"))
            .collect();
    }
    errors
}
