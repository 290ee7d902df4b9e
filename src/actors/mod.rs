//! The reference CDex actors: correct implementations the harness plays as counterparts,
//! runs as stand-ins for a system under test (`cdex-harness run` with no target), and serves
//! standalone (`cdex-harness simulate`). Each can be made deliberately faulty, by named
//! faults, so the tests can prove every check fails when it should.

pub mod data_consumer;
pub mod data_source;
pub mod information_client;
pub mod information_recipient;
pub mod information_request_recipient;
pub mod information_request_sender;
pub mod information_sender;
pub mod information_server;
pub mod messaging;
pub mod notified_pull;
pub mod payer;
pub mod provider;
pub mod store;
pub mod task_based;

use crate::mock::Handler;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a client-role actor is asked to do: one `CDEX_ACTION` with its parameters.
#[derive(Debug, Clone)]
pub struct ActionRequest {
    pub action: String,
    pub scenario: String,
    /// FHIR base URL to act against (the harness's mock server).
    pub base_url: String,
    /// The step's `with:` parameters, rendered.
    pub with: BTreeMap<String, String>,
    /// The suggested payload, rendered.
    pub payload: Option<Value>,
    /// Every scenario variable.
    pub vars: BTreeMap<String, String>,
}

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A reference actor that initiates exchanges when asked.
pub trait ClientActor: Send + Sync {
    fn perform(&self, req: ActionRequest) -> BoxFuture<Result<(), String>>;
}

/// Named faults switched on, per actor.
#[derive(Debug, Clone, Default)]
pub struct Faults(BTreeMap<String, BTreeSet<String>>);

impl Faults {
    /// Parse `actor:fault` items, checking each against the actor's declared faults.
    pub fn parse(items: &[String]) -> Result<Faults, String> {
        let mut f = Faults::default();
        for item in items {
            let (actor, fault) = item
                .split_once(':')
                .ok_or_else(|| format!("fault `{item}` should be written ACTOR:FAULT"))?;
            let specs: Vec<&ActorSpec> = registry().iter().filter(|a| a.name == actor).collect();
            if specs.is_empty() {
                let mut names: Vec<&str> = registry().iter().map(|a| a.name).collect();
                names.sort();
                names.dedup();
                return Err(format!(
                    "fault `{item}`: {}",
                    crate::suggest::unknown("actor", "actors with faults", actor, names)
                ));
            }
            if !specs
                .iter()
                .any(|s| s.faults.iter().any(|(n, _)| *n == fault))
            {
                let known: Vec<&str> = specs
                    .iter()
                    .flat_map(|s| s.faults.iter().map(|(n, _)| *n))
                    .collect();
                let guess = crate::suggest::did_you_mean(fault, known.iter().copied())
                    .map(|d| format!("; {d}"))
                    .unwrap_or_default();
                return Err(format!(
                    "fault `{item}`: {actor} has no fault `{fault}`; its faults are {}{guess}",
                    known.join(", ")
                ));
            }
            f.0.entry(actor.to_string())
                .or_default()
                .insert(fault.to_string());
        }
        Ok(f)
    }

    pub fn for_actor(&self, actor: &str) -> BTreeSet<String> {
        self.0.get(actor).cloned().unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.0.values().all(|s| s.is_empty())
    }
}

/// A built reference actor: the side that answers requests, the side that initiates them,
/// or both (sharing state, as an actor that receives a request and answers it later does).
#[derive(Clone, Default)]
pub struct ReferenceActor {
    pub server: Option<Arc<dyn Handler>>,
    pub client: Option<Arc<dyn ClientActor>>,
}

/// Builds a fresh actor from its settings (the pack's `reference:` section, rendered) and
/// the faults switched on.
pub type Factory = fn(&Value, BTreeSet<String>) -> Result<ReferenceActor, String>;

/// One reference actor: how to build it, what it can do, and its faults. An actor can have
/// several specs: a plain one and ones for options (`task-based`, `notified-pull`); a
/// scenario gets the spec whose options it has, the most specific first.
pub struct ActorSpec {
    pub name: &'static str,
    /// Scenario options this implementation is for (empty: the plain actor).
    pub options: &'static [&'static str],
    pub build: Factory,
    /// It answers requests (it can stand in for a server under test, or be played by the
    /// harness's endpoint).
    pub serves: bool,
    /// The `CDEX_ACTION`s it performs when asked (it can stand in for a client under test).
    pub actions: &'static [&'static str],
    /// (fault name, what goes wrong)
    pub faults: &'static [(&'static str, &'static str)],
}

/// Every reference actor.
pub fn registry() -> &'static [ActorSpec] {
    static REGISTRY: &[ActorSpec] = &[
        ActorSpec {
            name: "information-server",
            options: &[],
            build: information_server::build,
            serves: true,
            actions: &[],
            faults: information_server::FAULTS,
        },
        ActorSpec {
            name: "information-client",
            options: &[],
            build: information_client::build,
            serves: false,
            actions: information_client::ACTIONS,
            faults: information_client::FAULTS,
        },
        ActorSpec {
            name: "information-sender",
            options: &[],
            build: information_sender::build,
            serves: false,
            actions: information_sender::ACTIONS,
            faults: information_sender::FAULTS,
        },
        ActorSpec {
            name: "information-recipient",
            options: &[],
            build: information_recipient::build,
            serves: true,
            actions: &[],
            faults: information_recipient::FAULTS,
        },
        ActorSpec {
            name: "information-request-sender",
            options: &[],
            build: information_request_sender::build,
            serves: true,
            actions: information_request_sender::ACTIONS,
            faults: information_request_sender::FAULTS,
        },
        ActorSpec {
            name: "information-request-recipient",
            options: &[],
            build: information_request_recipient::build,
            serves: true,
            actions: information_request_recipient::ACTIONS,
            faults: information_request_recipient::FAULTS,
        },
        ActorSpec {
            name: "information-sender",
            options: task_based::OPTIONS,
            build: task_based::build_sender,
            serves: true,
            actions: task_based::SENDER_ACTIONS,
            faults: task_based::SENDER_FAULTS,
        },
        ActorSpec {
            name: "information-recipient",
            options: task_based::OPTIONS,
            build: task_based::build_recipient,
            serves: true,
            actions: task_based::OWNER_ACTIONS,
            faults: task_based::RECIPIENT_FAULTS,
        },
        ActorSpec {
            name: "information-request-sender",
            options: task_based::OPTIONS,
            build: task_based::build_request_sender,
            serves: true,
            actions: task_based::REQUEST_SENDER_ACTIONS,
            faults: task_based::REQUEST_SENDER_FAULTS,
        },
        ActorSpec {
            name: "information-request-recipient",
            options: task_based::OPTIONS,
            build: task_based::build_request_recipient,
            serves: true,
            actions: task_based::OWNER_ACTIONS,
            faults: task_based::REQUEST_RECIPIENT_FAULTS,
        },
        ActorSpec {
            name: "information-server",
            options: &["notified-pull"],
            build: notified_pull::server::build,
            serves: true,
            actions: notified_pull::server::ACTIONS,
            faults: notified_pull::server::FAULTS,
        },
        ActorSpec {
            name: "information-client",
            options: &["notified-pull"],
            build: notified_pull::client::build,
            serves: true,
            actions: notified_pull::client::ACTIONS,
            faults: notified_pull::client::FAULTS,
        },
        ActorSpec {
            name: "data-source-server",
            options: &[],
            build: data_source::build,
            serves: true,
            actions: data_source::ACTIONS,
            faults: data_source::FAULTS,
        },
        ActorSpec {
            name: "data-source-server",
            options: data_source::SIGNATURES_OPTIONS,
            build: data_source::build_signed,
            serves: true,
            actions: data_source::ACTIONS,
            faults: data_source::FAULTS,
        },
        ActorSpec {
            name: "data-source-server",
            options: data_source::CONTAINED_OPTIONS,
            build: data_source::build_contained,
            serves: true,
            actions: data_source::ACTIONS,
            faults: data_source::FAULTS,
        },
        // The Provider of the attachments option: the Data Source taking attachment requests
        // and answering them ($submit-attachment to the Task's payer-url).
        ActorSpec {
            name: "data-source-server",
            options: provider::OPTIONS,
            build: provider::build_server,
            serves: true,
            actions: provider::SERVER_ACTIONS,
            faults: provider::SERVER_FAULTS,
        },
        ActorSpec {
            name: "data-source-server",
            options: provider::SIGNED_OPTIONS,
            build: provider::build_server_signed,
            serves: true,
            actions: provider::SERVER_ACTIONS,
            faults: provider::SERVER_FAULTS,
        },
        // The Provider sending unsolicited attachments.
        ActorSpec {
            name: "data-source-client",
            options: &[],
            build: provider::build_client,
            serves: false,
            actions: provider::CLIENT_ACTIONS,
            faults: provider::CLIENT_FAULTS,
        },
        // The Payer's $submit-attachment endpoint (Attachments), plain and with signatures
        // pre-negotiated.
        ActorSpec {
            name: "data-consumer-server",
            options: &[],
            build: payer::build,
            serves: true,
            actions: &[],
            faults: payer::FAULTS,
        },
        ActorSpec {
            name: "data-consumer-server",
            options: payer::SIGNATURES_OPTIONS,
            build: payer::build_signed,
            serves: true,
            actions: &[],
            faults: payer::FAULTS,
        },
        // The Payer asking for attachments: the Data Consumer client plus
        // `request-attachments`; its server side (what the harness mounts when it plays the
        // Payer against a Provider) is the Payer's $submit-attachment endpoint.
        ActorSpec {
            name: "data-consumer-client",
            options: payer::client::OPTIONS,
            build: payer::client::build,
            serves: true,
            actions: payer::client::ACTIONS,
            faults: payer::request::CLIENT_FAULTS,
        },
        ActorSpec {
            name: "data-consumer-client",
            options: payer::client::SIGNED_OPTIONS,
            build: payer::client::build_signed,
            serves: true,
            actions: payer::client::ACTIONS,
            faults: payer::request::CLIENT_FAULTS,
        },
        // With subscriptions: the same client, and (the harness playing a subscribed Data
        // Consumer against a Data Source under test) its endpoint receiving the notifications.
        ActorSpec {
            name: "data-consumer-client",
            options: &["subscriptions"],
            build: consumer_with_receiver,
            serves: true,
            actions: data_consumer::ACTIONS,
            faults: data_consumer::FAULTS,
        },
        ActorSpec {
            name: "data-consumer-client",
            options: &[],
            build: data_consumer::build,
            serves: false,
            actions: data_consumer::ACTIONS,
            faults: data_consumer::FAULTS,
        },
    ];
    REGISTRY
}

/// The reference Data Consumer client with, as its server side, a subscriber's rest-hook
/// endpoint (what the harness mounts when it plays the subscribed Data Consumer; the client
/// under test keeps its own endpoint).
fn consumer_with_receiver(
    settings: &Value,
    faults: BTreeSet<String>,
) -> Result<ReferenceActor, String> {
    Ok(ReferenceActor {
        server: Some(Arc::new(notified_pull::receiver::Receiver)),
        client: data_consumer::build(settings, faults)?.client,
    })
}

/// The plain implementation of an actor (or its first one).
pub fn find(name: &str) -> Option<&'static ActorSpec> {
    find_for(name, &[])
}

/// The implementation of an actor for a scenario with these options: the spec with the most
/// options, all of which the scenario has.
pub fn find_for(name: &str, options: &[String]) -> Option<&'static ActorSpec> {
    registry()
        .iter()
        .filter(|a| a.name == name && a.options.iter().all(|o| options.iter().any(|x| x == o)))
        .max_by_key(|a| a.options.len())
        .or_else(|| registry().iter().find(|a| a.name == name))
}

/// Settings of one reference actor from a pack's `reference:` section, rendered with the
/// given variables.
pub fn settings(
    reference: &BTreeMap<String, Value>,
    actor: &str,
    vars: &crate::scenario::template::Vars,
) -> Result<Value, String> {
    match reference.get(actor) {
        Some(v) => crate::scenario::template::render_json(v, vars),
        None => Ok(Value::Object(Default::default())),
    }
}

/// (actor, action) for every action a reference actor performs.
pub fn action_table() -> Vec<(String, String)> {
    // An actor's option implementations often perform the same actions: each pair once.
    let mut seen = BTreeSet::new();
    registry()
        .iter()
        .flat_map(|a| {
            a.actions
                .iter()
                .map(move |x| (a.name.to_string(), x.to_string()))
        })
        .filter(|pair| seen.insert(pair.clone()))
        .collect()
}
