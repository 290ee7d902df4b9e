//! What a scenario has observed so far, for the checks that look at all of it
//! (`task_states`, `poll_schedule`) rather than at one message: the exchanges the harness
//! made with the system under test, and the requests the system sent to the harness's
//! endpoint.

use crate::http::RawExchange;

/// The scenario's exchanges so far, each side of the conversation.
pub struct Observed<'a> {
    /// Exchanges the harness made (its `send`, `poll`, `cause` and `if_missing` requests),
    /// in order.
    pub sent: &'a [RawExchange],
    /// Exchanges the system under test made with the harness's endpoint, in order; `None`
    /// when the harness runs no endpoint in this scenario.
    pub received: Option<&'a [RawExchange]>,
}

/// One JSON body the scenario saw, with when and from whom.
#[derive(Debug, Clone)]
pub struct Body {
    pub at: chrono::DateTime<chrono::Utc>,
    /// The system under test wrote it (a response it gave, a request it sent); otherwise the
    /// harness's endpoint did (its own answers to the client under test).
    pub by_sut: bool,
    pub json: serde_json::Value,
}

impl Observed<'_> {
    /// Every JSON body, in the order they were exchanged: responses to the harness's
    /// requests; requests the system sent to the endpoint and the endpoint's answers.
    pub fn bodies(&self) -> Vec<Body> {
        let mut out = Vec::new();
        self.each_body(|b| out.push(b));
        // Stable: a request comes before its own response.
        out.sort_by_key(|b| b.at);
        out
    }

    /// Every JSON body, parsed one at a time and handed to `f` (the harness's requests'
    /// responses first, then the endpoint's exchanges): for the checks that need no order,
    /// without holding every body of the scenario parsed at once.
    pub fn each_body(&self, mut f: impl FnMut(Body)) {
        for x in self.sent {
            if let Some(json) = x.response.as_ref().and_then(|r| r.json().ok()) {
                f(Body {
                    at: x.at,
                    by_sut: true,
                    json,
                });
            }
        }
        for x in self.received.unwrap_or_default() {
            if let Ok(json) = x.request.json() {
                f(Body {
                    at: x.at,
                    by_sut: true,
                    json,
                });
            }
            if let Some(json) = x.response.as_ref().and_then(|r| r.json().ok()) {
                f(Body {
                    at: x.at,
                    by_sut: false,
                    json,
                });
            }
        }
    }
}
