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
}

pub async fn simulate(args: SimulateArgs) -> i32 {
    let Some(spec) = actors::find_for(&args.actor, &args.options) else {
        let mut names: Vec<&str> = actors::registry().iter().map(|a| a.name).collect();
        names.sort();
        names.dedup();
        let msg = crate::suggest::unknown("actor", "reference actors", &args.actor, names);
        eprintln!("error: {msg}");
        return EXIT_USAGE;
    };
    if args.action.is_some() || !spec.serves {
        return act_once(spec, &args).await;
    }
    let timeout = match crate::scenario::load::parse_duration(&args.timeout) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: --timeout: {e}");
            return EXIT_USAGE;
        }
    };
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
    let settings = match auth::apply(settings, spec.name, args.token.as_deref(), args.no_auth) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if args.answer_attachments && !spec.actions.contains(&"answer-attachment-request") {
        eprintln!(
            "error: --answer-attachments is for the Provider: data-source-server --option attachments"
        );
        return EXIT_USAGE;
    }
    let built = (spec.build)(&settings, faults.for_actor(spec.name));
    let answerer = match &built {
        Ok(a) if args.answer_attachments => a.client.clone(),
        _ => None,
    };
    let handler = match built.map(|a| a.server) {
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
    if spec.options.contains(&"signatures") {
        // It signs what it returns with the harness's test PKI: the partner trusts this CA.
        let ca_file = &args.signing_ca;
        let written = match ca_file.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir),
            _ => Ok(()),
        }
        .and_then(|_| std::fs::write(ca_file, crate::fhir::signature::TestPki::shared().ca_pem()));
        match written {
            Ok(()) => eprintln!(
                "it signs its results; the CA its signing certificates chain to is in {}",
                ca_file.display()
            ),
            Err(e) => eprintln!("warning: cannot write {}: {e}", ca_file.display()),
        }
    }
    let server = match MockServer::start_with(listen, handler, tls.as_ref()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return EXIT_USAGE;
        }
    };
    server.set_body_timeout(timeout);
    if !listen.ip().is_loopback() {
        eprintln!(
            "warning: listening on {listen}: reachable from other machines, not just this one"
        );
    }
    // Ctrl-C is caught from its first poll: poll it once before saying how to stop.
    let stop = super::run::interrupted();
    tokio::pin!(stop);
    tokio::select! {
        biased;
        _ = &mut stop => return EXIT_PASS,
        _ = std::future::ready(()) => {}
    }
    let mut redactor = Redactor::new(pack.secrets.iter().filter_map(|n| vars.get(n).cloned()));
    if let Some(t) = &args.token {
        redactor.add(t);
    }
    eprintln!(
        "reference {} listening; FHIR base: {}",
        spec.name,
        server.base_url()
    );
    // The token partners must send, shown here once (the log below redacts it): it is the
    // pack's test value or the one typed with --token, not a secret kept from this user.
    eprintln!(
        "authentication: {}",
        auth::describe(&settings, spec.name, args.token.is_some(), args.no_auth)
    );
    eprintln!(
        "settings: {}",
        redactor.text(&auth::without_token(&settings).to_string())
    );
    eprintln!("every exchange is logged and checked below; Ctrl-C to stop");

    let expects = crate::fhir::expected::for_actor(spec.name, spec.options);
    let recorder = server.recorder().clone();
    // From the first exchange: a partner may have sent one while the banner was printed.
    let mut cursor = 0;
    let (_never_tx, mut never) = tokio::sync::watch::channel(false);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            out = recorder.wait_for(cursor, std::time::Duration::from_secs(3600), &mut never, |_| true) => {
                if let crate::mock::recorder::WaitOutcome::Arrived(x, next) = out {
                    cursor = next;
                    log_exchange(&x, &redactor, args.verbose, expects).await;
                    if let Some(client) = &answerer {
                        answer_attachment_request(client, &x, &base, &vars);
                    }
                }
            }
        }
    }
    // What arrived as Ctrl-C did is logged too.
    for x in recorder.since(cursor) {
        log_exchange(&x, &redactor, args.verbose, expects).await;
    }
    eprintln!("stopped");
    EXIT_PASS
}

/// `--answer-attachments`: an attachment request just accepted is answered, in the
/// background (the answer's own exchange goes to the Payer, not through this server).
fn answer_attachment_request(
    client: &std::sync::Arc<dyn actors::ClientActor>,
    x: &RawExchange,
    base: &str,
    vars: &std::collections::BTreeMap<String, String>,
) {
    let accepted = x.request.method.as_deref() == Some("POST")
        && x.request.path_only().trim_matches('/') == "Task"
        && x.response
            .as_ref()
            .and_then(|r| r.status)
            .is_some_and(|s| (200..300).contains(&s));
    let task = x.response.as_ref().and_then(|r| r.json().ok());
    let Some(task) = task.filter(|t| {
        accepted && actors::provider::request::is_attachment_request(t) && t.get("id").is_some()
    }) else {
        return;
    };
    let id = task["id"].as_str().unwrap_or_default().to_string();
    let req = actors::ActionRequest {
        action: "answer-attachment-request".into(),
        scenario: "simulate".into(),
        base_url: base.to_string(),
        with: [("task".to_string(), format!("Task/{id}"))].into(),
        payload: None,
        vars: vars.clone(),
    };
    let fut = client.perform(req);
    tokio::spawn(async move {
        match fut.await {
            Ok(()) => eprintln!("answered the attachment request Task/{id}"),
            Err(e) => eprintln!("could not answer the attachment request Task/{id}: {e}"),
        }
    });
}

/// One line per exchange, then what the live checks found (`expects`: what the actor
/// serving the exchange expects of what it receives).
async fn log_exchange(
    x: &RawExchange,
    redactor: &Redactor,
    verbose: bool,
    expects: Option<&crate::fhir::expected::Expects>,
) {
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
    for finding in crate::fhir::live_check(&x.request, expects).await {
        println!("    check: {}", redactor.text(&finding));
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
    for x in relay.exchanges() {
        log_exchange(&x, &redactor, args.verbose, None).await;
    }
    match outcome {
        Ok(()) => EXIT_PASS,
        Err(e) => {
            eprintln!("error: {e}");
            super::EXIT_FAIL
        }
    }
}

mod auth {
    //! How partners authenticate to a simulated actor: the `token` of its settings (the
    //! pack's test token), replaced by `--token`, or taken away by `--no-auth`.
    use serde_json::Value;

    const KEY: &str = "token";

    /// The settings with `--token` or `--no-auth` applied. `--token` for an actor whose
    /// settings have no token is refused: it would check nothing.
    pub fn apply(
        mut settings: Value,
        actor: &str,
        token: Option<&str>,
        no_auth: bool,
    ) -> Result<Value, String> {
        if let Some(t) = token {
            match settings.as_object_mut() {
                Some(o) if o.contains_key(KEY) => {
                    o.insert(KEY.into(), Value::String(t.to_string()));
                }
                _ => {
                    return Err(format!(
                        "--token: the reference {actor} checks no bearer token (its settings in \
                         the pack have no `{KEY}`): it accepts every request as it is"
                    ));
                }
            }
        }
        if no_auth && let Some(o) = settings.as_object_mut() {
            o.remove(KEY);
        }
        Ok(settings)
    }

    /// The token partners must send, if any.
    pub fn token(settings: &Value) -> Option<&str> {
        settings
            .get(KEY)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
    }

    /// The settings to print: the token is told by [`describe`].
    pub fn without_token(settings: &Value) -> Value {
        let mut shown = settings.clone();
        if let Some(o) = shown.as_object_mut() {
            o.remove(KEY);
        }
        shown
    }

    /// One line: what a partner must send, where the value comes from, and how to change it.
    pub fn describe(settings: &Value, actor: &str, given: bool, no_auth: bool) -> String {
        match token(settings) {
            Some(t) if given => format!(
                "partners send `Authorization: Bearer {t}` (given with --token; the log \
                 below redacts it)"
            ),
            Some(t) => format!(
                "partners send `Authorization: Bearer {t}` (the pack's test token; --token \
                 VALUE sets another, --no-auth accepts any request)"
            ),
            None if no_auth => {
                "none (--no-auth): every request is accepted, with or without a token".into()
            }
            None => format!("none: the reference {actor} accepts every request"),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use serde_json::json;

        #[test]
        fn token_and_no_auth_change_the_settings() {
            let pack = json!({"token": "pack-token", "rejected_types": ["Basic"]});
            let s = apply(pack.clone(), "information-server", Some("mine"), false).unwrap();
            assert_eq!(token(&s), Some("mine"));
            let s = apply(pack.clone(), "information-server", None, true).unwrap();
            assert_eq!(token(&s), None);
            assert_eq!(s["rejected_types"], json!(["Basic"]));
            assert_eq!(without_token(&pack), json!({"rejected_types": ["Basic"]}));
            let e = apply(json!({}), "information-recipient", Some("x"), false).unwrap_err();
            assert!(e.contains("checks no bearer token"), "{e}");
            assert!(apply(json!({}), "information-recipient", None, true).is_ok());
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
