//! The notified-pull option (seed 004: "FHIR Subscriptions, or the Notified-Pull pattern"):
//! R4 topic-based Subscriptions as the Subscriptions R5 Backport guide defines them. The
//! Information Server accepts a Subscription to the HRex Task topic and, when a matching Task
//! is created or updated, POSTs an `id-only` notification Bundle to the subscriber's
//! rest-hook endpoint; the Information Client subscribes, receives the notification and pulls
//! its focus by GET.
//!
//! [`server`] and [`client`] are the two reference actors; this module holds what both know
//! about the backport's resources.

pub mod client;
pub mod hub;
pub mod receiver;
pub mod server;

use serde_json::Value;

/// The HRex Task Subscription Topic (shared/spec/hrex/subscriptiontopic-Task.json), the topic
/// CDex Data Sources SHALL support (CDex 2.1.0 CONF-065).
pub const TASK_TOPIC: &str = "http://hl7.org/fhir/us/davinci-hrex/SubscriptionTopic/Task";
/// `Subscription.channel.payload` extension: how much content a notification carries.
pub const EXT_PAYLOAD_CONTENT: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content";
/// `Subscription.criteria` extension: search-style filters narrowing the topic.
pub const EXT_FILTER_CRITERIA: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria";

/// The `valueCode` of the payload-content extension (`empty`, `id-only`, `full-resource`).
pub fn payload_content(subscription: &Value) -> Option<&str> {
    extensions(subscription.pointer("/channel/_payload"))
        .find(|e| e.get("url").and_then(Value::as_str) == Some(EXT_PAYLOAD_CONTENT))
        .and_then(|e| e.get("valueCode"))
        .and_then(Value::as_str)
}

/// The filter criteria (`Task?owner=...`) on `Subscription.criteria`.
pub fn filter_criteria(subscription: &Value) -> Vec<String> {
    extensions(subscription.get("_criteria"))
        .filter(|e| e.get("url").and_then(Value::as_str) == Some(EXT_FILTER_CRITERIA))
        .filter_map(|e| e.get("valueString").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

fn extensions(element: Option<&Value>) -> impl Iterator<Item = &Value> {
    element
        .and_then(|p| p.get("extension"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// One parameter of a SubscriptionStatus `Parameters` by name.
pub fn parameter<'a>(status: &'a Value, name: &str) -> Option<&'a Value> {
    status
        .get("parameter")
        .and_then(Value::as_array)?
        .iter()
        .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
}

/// A notification as the subscriber reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// `type` of the SubscriptionStatus: `event-notification`, `handshake`, `heartbeat`...
    pub kind: String,
    /// Focus references of its `notification-event`s.
    pub focus: Vec<String>,
}

/// Read a notification Bundle: `history`, its first entry a SubscriptionStatus `Parameters`.
pub fn read_notification(bundle: &Value) -> Result<Notice, String> {
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err("a notification is a Bundle".into());
    }
    if bundle.get("type").and_then(Value::as_str) != Some("history") {
        return Err("a notification Bundle has type `history`".into());
    }
    let status = bundle
        .pointer("/entry/0/resource")
        .filter(|r| r.get("resourceType").and_then(Value::as_str) == Some("Parameters"))
        .ok_or("the first entry of a notification is a SubscriptionStatus Parameters")?;
    let kind = parameter(status, "type")
        .and_then(|p| p.get("valueCode"))
        .and_then(Value::as_str)
        .ok_or("the SubscriptionStatus has no `type`")?
        .to_string();
    let focus = status
        .get("parameter")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|p| p.get("name").and_then(Value::as_str) == Some("notification-event"))
        .flat_map(|p| {
            p.get("part")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter(|p| p.get("name").and_then(Value::as_str) == Some("focus"))
        .filter_map(|p| {
            p.pointer("/valueReference/reference")
                .and_then(Value::as_str)
        })
        .map(str::to_string)
        .collect();
    Ok(Notice { kind, focus })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_backport_subscription_and_notification() {
        let sub = json!({"resourceType": "Subscription", "criteria": TASK_TOPIC,
            "_criteria": {"extension": [{"url": EXT_FILTER_CRITERIA, "valueString": "Task?owner=Organization/1"}]},
            "channel": {"type": "rest-hook", "_payload": {"extension": [{"url": EXT_PAYLOAD_CONTENT, "valueCode": "id-only"}]}}});
        assert_eq!(payload_content(&sub), Some("id-only"));
        assert_eq!(filter_criteria(&sub), vec!["Task?owner=Organization/1"]);
        let bundle = json!({"resourceType": "Bundle", "type": "history", "entry": [{"resource": {
            "resourceType": "Parameters", "parameter": [{"name": "type", "valueCode": "event-notification"},
            {"name": "notification-event", "part": [{"name": "focus", "valueReference": {"reference": "Task/1"}}]}]}}]});
        let n = read_notification(&bundle).unwrap();
        assert_eq!(n.kind, "event-notification");
        assert_eq!(n.focus, vec!["Task/1"]);
        assert!(
            read_notification(&json!({"resourceType": "Bundle", "type": "collection"})).is_err()
        );
    }
}
