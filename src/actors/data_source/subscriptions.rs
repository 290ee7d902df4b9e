//! Task subscriptions of the reference Data Source: the shared backport machinery
//! ([`crate::actors::notified_pull::hub`]) with a handshake, its faults named as this
//! actor's.

use crate::actors::notified_pull::hub::HubFaults;
use std::collections::BTreeSet;

/// The hub's faults from the Data Source's fault names.
pub fn hub_faults(faults: &BTreeSet<String>) -> HubFaults {
    let f = |name: &str| faults.contains(name);
    HubFaults {
        reject_subscription: f("reject-subscription"),
        accept_unsupported_channel: f("accept-unsupported-channel"),
        no_notification: f("no-notification"),
        full_resource: f("notify-full-resource"),
        not_history: f("notify-not-history"),
        wrong_focus: f("notify-wrong-focus"),
        ignore_filter: f("notify-ignore-filter"),
        ..HubFaults::default()
    }
}
