//! What a simulator is started with: the same knobs `simulate ACTOR` takes.

use crate::mock::tls::ServerTls;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How to start a [`Simulator`](super::Simulator).
#[derive(Clone)]
pub struct SimulatorOptions {
    /// The reference actor to run (see `list actors`); it must serve requests.
    pub actor: String,
    /// Scenario options whose variant of the actor to run, e.g. `task-based`.
    pub options: Vec<String>,
    /// Where to listen: loopback by default; port 0 takes a free port.
    pub listen: SocketAddr,
    /// The pack's variables, reference-actor settings and secret names.
    pub pack: PackSettings,
    /// Variables over the pack's (`--var`).
    pub vars: BTreeMap<String, String>,
    /// Faults to switch on, by name (see `list faults`).
    pub faults: Vec<String>,
    /// The bearer token partners must send instead of the pack's test token.
    pub token: Option<String>,
    /// No bearer token: every request is accepted.
    pub no_auth: bool,
    /// A served Provider answers every attachment request it accepts at once.
    pub answer_attachments: bool,
    /// How long a partner may take to send a request body.
    pub body_timeout: Duration,
    /// Serve https with this configuration.
    pub tls: Option<ServerTls>,
    /// Where an actor that signs writes the CA its signing certificates chain to.
    pub signing_ca: Option<PathBuf>,
    /// How many exchanges, and resources per store of the actor, are kept in memory; older
    /// ones are dropped (the log says so).
    pub keep: usize,
    /// Where the log of every exchange and its checks goes.
    pub log: Log,
    /// The log shows request and response bodies too.
    pub verbose: bool,
}

/// Where a simulator writes its log: one line per exchange, its checks, notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Log {
    /// No log (subscribers still get every checked exchange).
    None,
    /// Standard output (`simulate`).
    Stdout,
    /// Appended to a file.
    File(PathBuf),
}

/// What a simulator takes from a scenario pack.
#[derive(Debug, Clone, Default)]
pub struct PackSettings {
    /// Variables every scenario starts with (the test token, the patient...).
    pub vars: BTreeMap<String, String>,
    /// Reference actor settings, by actor name (templated JSON).
    pub reference: BTreeMap<String, serde_json::Value>,
    /// Names of variables holding secrets (redacted from the log).
    pub secrets: Vec<String>,
}

impl From<&crate::scenario::Pack> for PackSettings {
    fn from(p: &crate::scenario::Pack) -> PackSettings {
        PackSettings {
            vars: p.vars.clone(),
            reference: p.reference.clone(),
            secrets: p.secrets.clone(),
        }
    }
}

impl SimulatorOptions {
    /// `actor` on a free loopback port, with the pack's settings, every other knob at its
    /// default (as `simulate ACTOR` without flags, but port 0 and no log).
    pub fn new(actor: &str, pack: PackSettings) -> SimulatorOptions {
        SimulatorOptions {
            actor: actor.to_string(),
            options: Vec::new(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            pack,
            vars: BTreeMap::new(),
            faults: Vec::new(),
            token: None,
            no_auth: false,
            answer_attachments: false,
            body_timeout: crate::mock::server::DEFAULT_BODY_TIMEOUT,
            tls: None,
            signing_ca: None,
            keep: super::keep::DEFAULT_KEEP,
            log: Log::None,
            verbose: false,
        }
    }
}
