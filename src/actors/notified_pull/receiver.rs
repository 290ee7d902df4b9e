//! A subscriber's rest-hook endpoint: the harness's endpoint when it plays a subscribing
//! client against a server under test (a CDex 2.1 Data Consumer subscribed to a Data Source's
//! Task topic). It takes every notification (a Bundle POSTed to its base) with 200; the
//! scenario's `expect` steps check what arrived. Anything else is not for it (404).

use crate::http::Message;
use crate::mock::{Handler, outcome};
use serde_json::Value;

pub struct Receiver;

impl Handler for Receiver {
    fn handle(&self, req: &Message) -> Message {
        let method = req.method.as_deref().unwrap_or("GET");
        let is_bundle = req
            .json()
            .ok()
            .and_then(|b| {
                b.get("resourceType")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .is_some_and(|t| t == "Bundle");
        if method.eq_ignore_ascii_case("POST") && is_bundle {
            return Message {
                status: Some(200),
                ..Message::default()
            };
        }
        outcome(
            404,
            "not-supported",
            "this endpoint only receives Subscription notifications (a Bundle, by POST)",
        )
    }

    fn seed(&self, _resource: Value) -> Result<String, String> {
        Err("a notification endpoint holds no resources".into())
    }
}
