//! A simulator: a reference actor on its own, on its own port, for a partner to exchange
//! with; every exchange is checked live and told to subscribers (`simulate ACTOR` and the
//! web console's simulators panel both run on this). Several run at once in one process:
//! each has its own server, actor, worker and memory cap.
//!
//! The request path only answers and hands the exchange to a bounded channel: validation,
//! logging, the memory cap and broadcasting happen in the simulator's worker ([`worker`]).
//!
//! ```no_run
//! # async fn f(pack: &cdex_harness::scenario::Pack) -> Result<(), String> {
//! use cdex_harness::simulator::{Simulator, SimulatorOptions};
//! let sim = Simulator::start(SimulatorOptions::new("information-recipient", pack.into())).await?;
//! let mut live = sim.subscribe();
//! println!("give your partner {}", sim.base_url());
//! while let Ok(x) = live.recv().await {
//!     println!("{} {} -> {}: {} check(s)", x.method, x.path, x.status, x.checks.len());
//! }
//! sim.stop().await;
//! # Ok(()) }
//! ```

mod answer;
pub mod auth;
pub mod exchange;
pub mod keep;
pub mod options;
pub mod worker;

pub use exchange::{LiveCheck, LiveExchange};
pub use options::{Log, PackSettings, SimulatorOptions};

use crate::actors::{self, Faults};
use crate::http::RawExchange;
use crate::http::redact::Redactor;
use crate::mock::MockServer;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{broadcast, mpsc, oneshot};

/// How many runtime threads should answer a simulator's requests: one core fewer than the
/// machine has (at least one), since the live check runs on a thread of its own beside them.
/// On 2 cores, one thread answers and the other core checks, rather than two answering
/// threads contending with the live check and each other (docs/performance.md, "The mock
/// server under load").
pub fn answering_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(1).max(1)
}

/// A running simulator. [`stop`](Self::stop) it to finish its log; dropping it stops
/// serving at once.
pub struct Simulator {
    actor: String,
    server: MockServer,
    shared: Arc<worker::Shared>,
    stop: Option<oneshot::Sender<()>>,
    /// Fires when the worker has finished its log.
    done: oneshot::Receiver<()>,
    settings: String,
    authentication: String,
    notes: Vec<String>,
}

/// How many exchanges a simulator answered, checked, and dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub received: u64,
    pub checked: u64,
    /// Answered but not checked: the live check was behind.
    pub unchecked: u64,
    /// Older exchanges dropped from memory past the cap.
    pub dropped_exchanges: u64,
    /// Resources the actor's stores dropped past the cap.
    pub dropped_resources: u64,
}

impl Simulator {
    /// Build the actor, listen, and start checking. Errors name the option at fault.
    pub async fn start(opts: SimulatorOptions) -> Result<Simulator, String> {
        let Some(spec) = actors::find_for(&opts.actor, &opts.options) else {
            let mut names: Vec<&str> = actors::registry().iter().map(|a| a.name).collect();
            names.sort();
            names.dedup();
            return Err(crate::suggest::unknown(
                "actor",
                "reference actors",
                &opts.actor,
                names,
            ));
        };
        if !spec.serves {
            return Err(format!(
                "the reference {} initiates exchanges and serves none: it cannot be simulated as a server",
                spec.name
            ));
        }
        let faults: Vec<String> = opts
            .faults
            .iter()
            .map(|f| format!("{}:{f}", spec.name))
            .collect();
        let faults = Faults::parse(&faults)?;
        let mut vars = opts.pack.vars.clone();
        vars.extend(opts.vars.clone());
        // A thousand partners' connections are a thousand file descriptors.
        crate::mock::accept::raise_open_file_limit();
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", opts.listen))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on {}: {e}", opts.listen))?;
        let scheme = if opts.tls.is_some() { "https" } else { "http" };
        let base = format!("{scheme}://{addr}");
        vars.insert("base_url".into(), base.clone());
        vars.insert("harness_url".into(), base.clone());
        let settings = actors::settings(&opts.pack.reference, spec.name, &vars)?;
        let settings = auth::apply(settings, spec.name, opts.token.as_deref(), opts.no_auth)?;
        if opts.answer_attachments && !spec.actions.contains(&"answer-attachment-request") {
            return Err(
                "--answer-attachments is for the Provider: data-source-server --option attachments"
                    .into(),
            );
        }
        let built = (spec.build)(&settings, faults.for_actor(spec.name))?;
        let handler = built
            .server
            .ok_or_else(|| format!("the reference {} built no server side", spec.name))?;
        let mut notes = Vec::new();
        if spec.options.contains(&"signatures")
            && let Some(ca_file) = &opts.signing_ca
        {
            // It signs what it returns with the harness's test PKI: the partner trusts this CA.
            let written = match ca_file.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir),
                _ => Ok(()),
            }
            .and_then(|_| {
                std::fs::write(ca_file, crate::fhir::signature::TestPki::shared().ca_pem())
            });
            notes.push(match written {
                Ok(()) => format!(
                    "it signs its results; the CA its signing certificates chain to is in {}",
                    ca_file.display()
                ),
                Err(e) => format!("warning: cannot write {}: {e}", ca_file.display()),
            });
        }
        let mut redactor = Redactor::new(
            opts.pack
                .secrets
                .iter()
                .filter_map(|n| vars.get(n).cloned()),
        );
        if let Some(t) = &opts.token {
            redactor.add(t);
        }
        let log: Option<Box<dyn Write + Send>> = match &opts.log {
            options::Log::None => None,
            options::Log::Stdout => Some(Box::new(std::io::BufWriter::with_capacity(
                64 * 1024,
                std::io::stdout(),
            ))),
            options::Log::File(path) => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("cannot write the log {}: {e}", path.display()))?;
                Some(Box::new(std::io::BufWriter::with_capacity(64 * 1024, f)))
            }
        };
        let shared = Arc::new(worker::Shared::new(opts.keep));
        handler.keep_at_most(opts.keep, shared.dropped_resources.clone());
        let (tx, rx) = mpsc::channel(worker::QUEUE);
        let answerer = match built.client {
            Some(client) if opts.answer_attachments => Some(answer::Answerer {
                client,
                base: base.clone(),
                vars: vars.clone(),
                notes: tx.clone(),
            }),
            _ => None,
        };
        let tap = worker::Tap {
            tx,
            shared: shared.clone(),
            answerer,
        };
        let tap: crate::mock::server::Tap = Arc::new(move |x: RawExchange| tap.exchange(x));
        let server = MockServer::start_on(listener, handler, opts.tls.as_ref(), Some(tap))
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        server.set_body_timeout(opts.body_timeout);
        if !addr.ip().is_loopback() {
            notes.push(format!(
                "warning: listening on {addr}: reachable from other machines, not just this one"
            ));
        }
        let worker = worker::Worker {
            rx,
            shared: shared.clone(),
            redactor: redactor.clone(),
            expects: crate::fhir::expected::for_actor(spec.name, spec.options),
            log,
            verbose: opts.verbose,
            resources_said: 0,
            accept_errors: server.accept_errors(),
            accept_errors_said: 0,
        };
        let (stop_tx, stop_rx) = oneshot::channel();
        let (done_tx, done) = oneshot::channel();
        worker::spawn(worker, stop_rx, done_tx, format!("live check {addr}"))?;
        Ok(Simulator {
            actor: spec.name.to_string(),
            server,
            shared,
            stop: Some(stop_tx),
            done,
            settings: redactor.text(&auth::without_token(&settings).to_string()),
            authentication: auth::describe(
                &settings,
                spec.name,
                opts.token.is_some(),
                opts.no_auth,
            ),
            notes,
        })
    }

    /// The FHIR base a partner is given.
    pub fn base_url(&self) -> &str {
        self.server.base_url()
    }

    /// The reference actor it runs.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// Every exchange checked from now on. A subscriber that falls more than
    /// [`worker::BROADCAST`] behind misses some (`RecvError::Lagged` says how many); it never
    /// holds up the simulator.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveExchange> {
        self.shared.events.subscribe()
    }

    /// The last exchanges checked, oldest first (at most `keep`).
    pub fn recent(&self) -> Vec<LiveExchange> {
        self.shared.recent.all()
    }

    pub fn stats(&self) -> Stats {
        let s = &self.shared;
        Stats {
            received: s.received.load(Ordering::Relaxed),
            checked: s.checked.load(Ordering::Relaxed),
            unchecked: s.unchecked.load(Ordering::Relaxed),
            dropped_exchanges: s.recent.dropped(),
            dropped_resources: s.dropped_resources.load(Ordering::Relaxed),
        }
    }

    /// The actor's settings, the token left out and secrets redacted.
    pub fn settings(&self) -> &str {
        &self.settings
    }

    /// What partners must send to authenticate, and how to change it.
    pub fn authentication(&self) -> &str {
        &self.authentication
    }

    /// What to tell the user at start (files written, warnings), one line each.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Stop serving, check what already arrived, and finish the log with a summary.
    pub async fn stop(mut self) {
        drop(self.server);
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.done).await;
    }
}
