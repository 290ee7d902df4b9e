//! `answer_attachments`: a served Provider answers every attachment request it accepts at
//! once (`answer-attachment-request`: $submit-attachment to the Task's payer-url), as a
//! person at the Provider would later. Runs on the request path (it only looks at the answer
//! and spawns), so no request is left unanswered when the live check is behind.

use crate::actors::{self, ClientActor};
use crate::http::RawExchange;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc;

pub struct Answerer {
    pub client: Arc<dyn ClientActor>,
    pub base: String,
    pub vars: BTreeMap<String, String>,
    /// Where to say what happened (the log).
    pub notes: mpsc::Sender<super::worker::Item>,
}

impl Answerer {
    /// An attachment request just accepted is answered, in the background (the answer's own
    /// exchange goes to the Payer, not through this server).
    pub fn observe(&self, x: &RawExchange) {
        let accepted = x.request.method.as_deref() == Some("POST")
            && x.request.path_only().trim_matches('/') == "Task"
            && x.response
                .as_ref()
                .and_then(|r| r.status)
                .is_some_and(|s| (200..300).contains(&s));
        if !accepted {
            return;
        }
        let task = x.response.as_ref().and_then(|r| r.json().ok());
        let Some(task) = task.filter(|t| {
            actors::provider::request::is_attachment_request(t) && t.get("id").is_some()
        }) else {
            return;
        };
        let id = task["id"].as_str().unwrap_or_default().to_string();
        let req = actors::ActionRequest {
            action: "answer-attachment-request".into(),
            scenario: "simulate".into(),
            base_url: self.base.clone(),
            with: [("task".to_string(), format!("Task/{id}"))].into(),
            payload: None,
            vars: self.vars.clone(),
        };
        let fut = self.client.perform(req);
        let notes = self.notes.clone();
        tokio::spawn(async move {
            let note = match fut.await {
                Ok(()) => format!("answered the attachment request Task/{id}"),
                Err(e) => format!("could not answer the attachment request Task/{id}: {e}"),
            };
            let _ = notes.send(super::worker::Item::Note(note)).await;
        });
    }
}
