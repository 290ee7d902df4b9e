//! `cdex-harness simulate ACTOR`: a reference actor on its own, for a partner to exchange
//! with, logging and checking every exchange as it happens (a thin command line over
//! [`crate::simulator`]); or, for an actor that initiates exchanges, one action against a
//! partner, logged and checked the same way.

use super::{EXIT_PASS, EXIT_USAGE, PackArgs};
use crate::actors::{self, Faults};
use crate::http::redact::Redactor;
use crate::simulator::{Log, PackSettings, Simulator, SimulatorOptions};
use clap::Args;
use std::net::SocketAddr;

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// The reference actor to run (see `list actors`)
    pub actor: String,
    /// A scenario option whose variant of the actor to run, e.g. task-based (repeatable)
    #[arg(long = "option", value_name = "OPTION")]
    pub options: Vec<String>,
    /// Address to listen on; loopback unless you say otherwise
    #[arg(long, default_value = "127.0.0.1:8090", value_name = "ADDR")]
    pub listen: String,
    #[command(flatten)]
    pub pack: PackArgs,
    /// Set a variable used by the actor's settings in the pack (repeatable)
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Switch on a fault, to see how a partner copes (repeatable; see `list faults`)
    #[arg(long = "fault", value_name = "FAULT")]
    pub faults: Vec<String>,
    #[command(flatten)]
    pub endpoint_tls: super::run::EndpointTlsArgs,
    /// For an actor that initiates exchanges: the partner's FHIR base to act against
    #[arg(long, value_name = "URL")]
    pub peer: Option<String>,
    /// For an actor that initiates exchanges: the action to perform (see `list actions`)
    #[arg(long, value_name = "ACTION")]
    pub action: Option<String>,
    /// A parameter of the action, NAME=VALUE (repeatable), e.g. resource_type=Condition
    #[arg(long = "with", value_name = "NAME=VALUE")]
    pub with: Vec<String>,
    /// The resource to send (JSON file) for actions that push one
    #[arg(long, value_name = "FILE")]
    pub payload: Option<std::path::PathBuf>,
    /// Print request and response bodies too
    #[arg(short, long)]
    pub verbose: bool,
    /// How long a partner may take to send a request body (served) or to answer (acting),
    /// e.g. 30s, 2m
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub timeout: String,
    /// The bearer token instead of the pack's test token: the one partners must send to a
    /// served actor (shown once at startup, redacted from the exchange log), or the one an
    /// acting actor sends
    #[arg(long, value_name = "TOKEN", conflicts_with = "no_auth")]
    pub token: Option<String>,
    /// No bearer token: a served actor accepts every request, an acting actor sends none
    #[arg(long)]
    pub no_auth: bool,
    /// A served Provider (`data-source-server --option attachments`) answers every
    /// attachment request it accepts at once (`answer-attachment-request`: $submit-attachment
    /// to the Task's payer-url), as a person at the Provider would later; without it, requests
    /// are kept and never answered
    #[arg(long)]
    pub answer_attachments: bool,
    /// Where an actor that signs (option `signatures`) writes the CA its signing certificates
    /// chain to, for the partner to trust (made fresh at each start)
    #[arg(
        long,
        value_name = "PEM",
        default_value = "reports/simulate/harness-signing-ca.pem"
    )]
    pub signing_ca: std::path::PathBuf,
    /// How many exchanges, and resources per store of the actor, are kept in memory; past
    /// it the oldest are dropped (the log says so; a partner reading a dropped resource gets
    /// 404). Memory stays bounded over a connectathon day
    #[arg(long, value_name = "N", default_value_t = crate::simulator::keep::DEFAULT_KEEP)]
    pub keep: usize,
}

pub async fn simulate(args: SimulateArgs) -> i32 {
    let Some(spec) = actors::find_for(&args.actor, &args.options) else {
        return unknown_actor(&args.actor);
    };
    if args.action.is_some() || !spec.serves {
        return act_once(spec, &args).await;
    }
    let usage = |msg: String| {
        eprintln!("error: {msg}");
        EXIT_USAGE
    };
    let body_timeout = match crate::scenario::load::parse_duration(&args.timeout) {
        Ok(t) => t,
        Err(e) => return usage(format!("--timeout: {e}")),
    };
    let listen: SocketAddr = match args.listen.parse() {
        Ok(a) => a,
        Err(e) => return usage(format!("--listen: {e}")),
    };
    if args.keep == 0 {
        return usage("--keep: keep at least 1".into());
    }
    let Some((_, pack)) = super::load(&args.pack, Vec::new()) else {
        return EXIT_USAGE;
    };
    let mut vars = std::collections::BTreeMap::new();
    for v in &args.vars {
        match super::run::parse_var(v) {
            Ok((k, v)) => {
                vars.insert(k, v);
            }
            Err(e) => return usage(e),
        }
    }
    let tls = match super::run::server_tls(&args.endpoint_tls) {
        Ok(t) => t,
        Err(e) => return usage(e),
    };
    if let Some(pem) = tls.as_ref().and_then(|t| t.generated_ca_pem.as_ref()) {
        let ca_file = std::path::PathBuf::from("harness-ca.pem");
        if let Err(e) = std::fs::write(&ca_file, pem) {
            return usage(format!("cannot write {}: {e}", ca_file.display()));
        }
        eprintln!("serving https; the CA to trust is in {}", ca_file.display());
    }
    let opts = SimulatorOptions {
        options: args.options.clone(),
        listen,
        vars,
        faults: args.faults.clone(),
        token: args.token.clone(),
        no_auth: args.no_auth,
        answer_attachments: args.answer_attachments,
        body_timeout,
        tls,
        signing_ca: Some(args.signing_ca.clone()),
        keep: args.keep,
        log: Log::Stdout,
        verbose: args.verbose,
        ..SimulatorOptions::new(&args.actor, PackSettings::from(&pack))
    };
    let sim = match Simulator::start(opts).await {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    for note in sim.notes() {
        eprintln!("{note}");
    }
    // Ctrl-C is caught from its first poll: poll it once before saying how to stop.
    let stop = super::run::interrupted();
    tokio::pin!(stop);
    tokio::select! {
        biased;
        _ = &mut stop => {
            sim.stop().await;
            return EXIT_PASS;
        }
        _ = std::future::ready(()) => {}
    }
    eprintln!(
        "reference {} listening; FHIR base: {}",
        sim.actor(),
        sim.base_url()
    );
    // The token partners must send, shown here once (the log below redacts it): it is the
    // pack's test value or the one typed with --token, not a secret kept from this user.
    eprintln!("authentication: {}", sim.authentication());
    eprintln!("settings: {}", sim.settings());
    eprintln!("every exchange is logged and checked below; Ctrl-C to stop");
    stop.await;
    // What arrived as Ctrl-C did is logged too.
    sim.stop().await;
    eprintln!("stopped");
    EXIT_PASS
}

fn unknown_actor(actor: &str) -> i32 {
    let mut names: Vec<&str> = actors::registry().iter().map(|a| a.name).collect();
    names.sort();
    names.dedup();
    let msg = crate::suggest::unknown("actor", "reference actors", actor, names);
    eprintln!("error: {msg}");
    EXIT_USAGE
}

/// Run an initiating reference actor once against a partner's server: the action is
/// performed, and every request and answer is printed.
async fn act_once(spec: &'static actors::ActorSpec, args: &SimulateArgs) -> i32 {
    let usage = |msg: String| {
        eprintln!("error: {msg}");
        EXIT_USAGE
    };
    let timeout = match crate::scenario::load::parse_duration(&args.timeout) {
        Ok(t) => t,
        Err(e) => return usage(format!("--timeout: {e}")),
    };
    let (Some(peer), Some(action)) = (&args.peer, &args.action) else {
        let actions = if spec.actions.is_empty() {
            "none".to_string()
        } else {
            spec.actions.join(", ")
        };
        return usage(format!(
            "the reference {} initiates exchanges: give --peer URL and --action NAME (its actions: {actions})",
            spec.name
        ));
    };
    if !spec.actions.contains(&action.as_str()) {
        return usage(format!(
            "the reference {} does not perform `{action}` (it performs: {})",
            spec.name,
            spec.actions.join(", ")
        ));
    }
    let mut with = std::collections::BTreeMap::new();
    for w in &args.with {
        match super::run::parse_var(w) {
            Ok((k, v)) => {
                with.insert(k, v);
            }
            Err(e) => return usage(e.replace("--var", "--with")),
        }
    }
    let payload = match &args.payload {
        Some(p) => match std::fs::read(p)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        {
            Ok(v) => Some(v),
            Err(e) => return usage(format!("--payload {}: {e}", p.display())),
        },
        None => None,
    };
    let faults: Vec<String> = args
        .faults
        .iter()
        .map(|f| format!("{}:{f}", spec.name))
        .collect();
    let faults = match Faults::parse(&faults) {
        Ok(f) => f,
        Err(e) => return usage(e),
    };
    // The pack's variables (its token, its patient) unless --var says otherwise.
    let mut vars = super::load(&args.pack, Vec::new())
        .map(|(_, p)| p.vars)
        .unwrap_or_default();
    for v in &args.vars {
        match super::run::parse_var(v) {
            Ok((k, v)) => {
                vars.insert(k, v);
            }
            Err(e) => return usage(e),
        }
    }
    if let Some(t) = &args.token {
        vars.insert("token".into(), t.clone());
    }
    if args.no_auth {
        vars.remove("token");
    }
    let built = match (spec.build)(&serde_json::Value::Null, faults.for_actor(spec.name)) {
        Ok(a) => a,
        Err(e) => return usage(e),
    };
    let Some(client) = built.client else {
        return usage(format!("the reference {} built no client side", spec.name));
    };
    // Every request goes through a recording relay, so it is logged and checked like the
    // requests a partner sends to a simulated server.
    let relay = match relay::Relay::start(peer, timeout).await {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    let req = actors::ActionRequest {
        action: action.clone(),
        scenario: "simulate".into(),
        base_url: relay.base_url().to_string(),
        with,
        payload,
        vars,
    };
    let outcome = client.perform(req).await;
    let redactor = Redactor::new(args.token.clone());
    let mut out = std::io::stdout().lock();
    for (i, x) in relay.exchanges().iter().enumerate() {
        let live = crate::simulator::exchange::check(i as u64 + 1, x, &redactor, None).await;
        let _ = crate::simulator::exchange::write_lines(&mut out, &live, args.verbose);
    }
    match outcome {
        Ok(()) => EXIT_PASS,
        Err(e) => {
            eprintln!("error: {e}");
            super::EXIT_FAIL
        }
    }
}

mod relay {
    //! A loopback endpoint that forwards every request to the partner and records it.
    use crate::http::Message;
    use crate::http::RawExchange;
    use crate::http::client::{HttpClient, OutgoingRequest};
    use crate::mock::{Handler, MockServer};
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::Duration;

    struct Forward {
        peer: String,
        client: HttpClient,
        rt: tokio::runtime::Handle,
        /// How long the partner may take to answer.
        timeout: Duration,
    }

    impl Handler for Forward {
        fn handle(&self, req: &Message) -> Message {
            let out = OutgoingRequest {
                method: req.method.clone().unwrap_or_else(|| "GET".into()),
                url: format!(
                    "{}/{}",
                    self.peer.trim_end_matches('/'),
                    req.path.as_deref().unwrap_or("")
                ),
                path: req.path.clone().unwrap_or_default(),
                headers: req
                    .headers
                    .iter()
                    .filter(|(k, _)| {
                        !matches!(
                            k.to_ascii_lowercase().as_str(),
                            "host" | "content-length" | "connection"
                        )
                    })
                    .cloned()
                    .collect(),
                body: if req.body.is_empty() {
                    None
                } else {
                    Some(req.body.clone())
                },
            };
            let client = self.client.clone();
            let x =
                tokio::task::block_in_place(|| self.rt.block_on(client.send(out, self.timeout)));
            match x.response {
                Some(mut r) => {
                    r.headers.retain(|(k, _)| {
                        !matches!(
                            k.to_ascii_lowercase().as_str(),
                            "content-length" | "transfer-encoding" | "connection"
                        )
                    });
                    r
                }
                None => crate::mock::outcome(
                    502,
                    "transient",
                    &format!(
                        "the partner did not answer: {}",
                        x.error.unwrap_or_default()
                    ),
                ),
            }
        }
        fn seed(&self, _resource: serde_json::Value) -> Result<String, String> {
            Err("a relay holds nothing".into())
        }
    }

    pub struct Relay {
        server: MockServer,
    }

    impl Relay {
        pub async fn start(peer: &str, timeout: Duration) -> Result<Relay, String> {
            if !(peer.starts_with("http://") || peer.starts_with("https://")) {
                return Err(format!(
                    "--peer `{peer}` must be an http:// or https:// URL"
                ));
            }
            let handler = Arc::new(Forward {
                peer: peer.to_string(),
                client: HttpClient::shared()?,
                rt: tokio::runtime::Handle::current(),
                timeout,
            });
            let server = MockServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), handler)
                .await
                .map_err(|e| format!("cannot start the relay: {e}"))?;
            server.set_body_timeout(timeout);
            Ok(Relay { server })
        }

        pub fn base_url(&self) -> &str {
            self.server.base_url()
        }

        pub fn exchanges(&self) -> Vec<RawExchange> {
            self.server.recorder().since(0)
        }
    }
}
