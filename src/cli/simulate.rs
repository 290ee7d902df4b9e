//! `cdex-harness simulate ACTOR`: a reference actor on its own, for a partner to exchange
//! with, logging and checking every exchange as it happens.

use super::{EXIT_PASS, EXIT_USAGE, PackArgs};
use crate::actors::{self, Faults};
use crate::http::RawExchange;
use crate::http::redact::Redactor;
use crate::mock::MockServer;
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
    /// Print request and response bodies too
    #[arg(short, long)]
    pub verbose: bool,
}

pub async fn simulate(args: SimulateArgs) -> i32 {
    let Some(spec) = actors::find_for(&args.actor, &args.options) else {
        let names: Vec<&str> = actors::registry().iter().map(|a| a.name).collect();
        eprintln!(
            "error: no reference actor `{}` (there are: {})",
            args.actor,
            names.join(", ")
        );
        return EXIT_USAGE;
    };
    if !spec.serves {
        eprintln!(
            "error: the reference {} initiates exchanges and serves none; run its scenarios with `cdex-harness run --actor {}`",
            spec.name, spec.name
        );
        return EXIT_USAGE;
    }
    let listen: SocketAddr = match args.listen.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: --listen: {e}");
            return EXIT_USAGE;
        }
    };
    let faults: Vec<String> = args
        .faults
        .iter()
        .map(|f| format!("{}:{f}", spec.name))
        .collect();
    let faults = match Faults::parse(&faults) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let Some((_, pack)) = super::load(&args.pack, Vec::new()) else {
        return EXIT_USAGE;
    };
    let mut vars = pack.vars.clone();
    for v in &args.vars {
        match super::run::parse_var(v) {
            Ok((k, v)) => {
                vars.insert(k, v);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        }
    }
    let scheme = if args.endpoint_tls.tls_self_signed || args.endpoint_tls.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let base = format!("{scheme}://{listen}");
    vars.insert("base_url".into(), base.clone());
    vars.insert("harness_url".into(), base.clone());
    let settings = match actors::settings(&pack.reference, spec.name, &vars) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let handler = match (spec.build)(&settings, faults.for_actor(spec.name)).map(|a| a.server) {
        Ok(Some(h)) => h,
        Ok(None) => {
            eprintln!("error: the reference {} built no server side", spec.name);
            return EXIT_USAGE;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let tls = match super::run::server_tls(&args.endpoint_tls) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if let Some(pem) = tls.as_ref().and_then(|t| t.generated_ca_pem.as_ref()) {
        let ca_file = std::path::PathBuf::from("harness-ca.pem");
        if let Err(e) = std::fs::write(&ca_file, pem) {
            eprintln!("error: cannot write {}: {e}", ca_file.display());
            return EXIT_USAGE;
        }
        eprintln!("serving https; the CA to trust is in {}", ca_file.display());
    }
    let server = match MockServer::start_with(listen, handler, tls.as_ref()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return EXIT_USAGE;
        }
    };
    if !listen.ip().is_loopback() {
        eprintln!(
            "warning: listening on {listen}: reachable from other machines, not just this one"
        );
    }
    let redactor = Redactor::new(pack.secrets.iter().filter_map(|n| vars.get(n).cloned()));
    eprintln!(
        "reference {} listening; FHIR base: {}",
        spec.name,
        server.base_url()
    );
    eprintln!("settings: {}", redactor.text(&settings.to_string()));
    eprintln!("every exchange is logged and checked below; Ctrl-C to stop");

    let recorder = server.recorder().clone();
    let mut cursor = recorder.cursor();
    let (_never_tx, mut never) = tokio::sync::watch::channel(false);
    let stop = super::run::interrupted();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            out = recorder.wait_for(cursor, std::time::Duration::from_secs(3600), &mut never, |_| true) => {
                if let crate::mock::recorder::WaitOutcome::Arrived(x, next) = out {
                    cursor = next;
                    log_exchange(&x, &redactor, args.verbose);
                }
            }
        }
    }
    eprintln!("stopped");
    EXIT_PASS
}

/// One line per exchange, then what the live checks found.
fn log_exchange(x: &RawExchange, redactor: &Redactor, verbose: bool) {
    let shown = redactor.exchange(x);
    let status = shown.response.as_ref().and_then(|r| r.status).unwrap_or(0);
    println!(
        "{} {} /{} -> {} ({:.1} ms)",
        shown.at,
        shown.request.method.as_deref().unwrap_or("?"),
        x.request
            .path
            .as_deref()
            .map(|p| redactor.text(p))
            .unwrap_or_default(),
        status,
        shown.duration_ms
    );
    for finding in crate::fhir::live_check(&x.request) {
        println!("    check: {finding}");
    }
    if verbose {
        if let Some(b) = &shown.request.body {
            println!(
                "    request body: {}",
                b.chars().take(2000).collect::<String>()
            );
        }
        if let Some(b) = shown.response.as_ref().and_then(|r| r.body.as_ref()) {
            println!(
                "    response body: {}",
                b.chars().take(2000).collect::<String>()
            );
        }
    }
}
