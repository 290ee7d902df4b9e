//! `cdex-harness serve`: the web console. A page to start a run (the same settings, and the
//! same config file, as `cdex-harness run`), a live page per run fed by Server-Sent Events
//! from the runner's progress events, past runs and their reports, a comparison of two runs,
//! "rerun failed", "stop" and the "done" / "cannot" answers of a manual step.
//!
//! Nothing here judges anything: a run is prepared by [`crate::cli::run::prepare`], run by
//! [`crate::runner::run`] and written by [`crate::report::write_all`], as on the command line.
//!
//! - [`security`]: token, per-browser session, CSP and the other headers, CSRF and Host
//!   checks (one middleware).
//! - [`runs`]: the runs of this console (live or on disk), who owns them, starting one.
//! - [`events`]: a run's event log (bounded, replayed to late subscribers) and its SSE stream.
//! - [`form`]: the start-a-run form, to and from the config file format.
//! - [`pages`]: the handlers and the Handlebars templates (`templates/`), the embedded CSS and JS
//!   (`assets/`).
//! - [`compare`]: what newly fails and what got fixed between two runs.
//! - [`simulators`]: the simulators panel.

pub mod compare;
pub mod events;
pub mod form;
pub mod pages;
pub mod runs;
pub mod security;
pub mod simulators;

use axum::Router;
use axum::routing::{get, post};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// What `serve` is started with.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where to listen (port 0: any free port). Loopback by default.
    pub listen: SocketAddr,
    /// Where each run's folder goes (`RUNS_DIR/<run-id>/`).
    pub runs_dir: PathBuf,
    /// The token every request must carry; generated when the console listens beyond
    /// loopback and none is given.
    pub token: Option<String>,
    /// Beyond loopback, let the form run trigger commands and read files of this machine
    /// (a scenario folder, trust anchors): whoever has the token may then run commands here.
    /// On loopback they are always allowed (the console is its user's).
    pub allow_commands: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            runs_dir: PathBuf::from("reports/console"),
            token: None,
            allow_commands: false,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub inner: Arc<Inner>,
}

pub struct Inner {
    pub runs_dir: PathBuf,
    /// Required on every request when set.
    pub token: Option<String>,
    /// The console listens on loopback only: runs found on disk without an owner are shown
    /// to everyone, and the Host header must name the machine itself.
    pub loopback: bool,
    /// Where the console listens (as given: port 0 stays 0): simulators listen on its address.
    pub listen: SocketAddr,
    /// Trigger commands and this machine's files may be named by the form.
    pub commands: bool,
    pub runs: runs::Registry,
    /// The simulators started from the console's panel.
    pub simulators: simulators::registry::Registry,
    pub pages: pages::Templates,
    pub packs: Vec<form::PackInfo>,
}

impl AppState {
    pub fn new(opts: &ServeOptions) -> Result<AppState, String> {
        Ok(AppState {
            inner: Arc::new(Inner {
                runs_dir: opts.runs_dir.clone(),
                token: opts.token.clone(),
                loopback: opts.listen.ip().is_loopback(),
                listen: opts.listen,
                commands: opts.listen.ip().is_loopback() || opts.allow_commands,
                runs: runs::Registry::default(),
                simulators: Default::default(),
                pages: pages::Templates::new()?,
                packs: form::PackInfo::shipped(),
            }),
        })
    }
}

/// The console's routes, a table of contents.
pub async fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::index))
        .route("/config/load", post(pages::config_load))
        .route("/config/save", post(pages::config_save))
        .route("/runs", get(pages::runs_list).post(pages::start_run))
        .route("/runs/{id}", get(pages::run_page))
        .route("/runs/{id}/events", get(events::sse))
        .route("/runs/{id}/report", get(pages::report))
        .route("/runs/{id}/bodies/{name}", get(pages::body_file))
        .route("/runs/{id}/answer", post(pages::answer))
        .route("/runs/{id}/stop", post(pages::stop))
        .route("/runs/{id}/rerun", post(pages::rerun))
        .route("/compare", get(pages::compare))
        .route("/assets/{name}", get(pages::asset))
        .merge(simulators::routes())
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        .with_state(state)
}

/// A console listening.
pub struct ServeHandle {
    addr: SocketAddr,
    token: Option<String>,
    state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl ServeHandle {
    /// `http://ADDR/`
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The token requests must carry, when one is required.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve until the server ends (it does not, unless it fails).
    pub async fn wait(self) {
        let _ = self.task.await;
    }

    /// Stop the running runs (their reports are written) and the simulators, then the server.
    pub async fn stop(mut self) {
        self.state.inner.runs.stop_all().await;
        self.state.inner.simulators.stop_all().await;
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.task.await;
    }
}

/// Listen and serve. Beyond loopback a token is required (generated when not given).
pub async fn start(mut opts: ServeOptions) -> Result<ServeHandle, String> {
    if !opts.listen.ip().is_loopback() && opts.token.is_none() {
        opts.token = Some(security::random_token());
    }
    if let Some(t) = &opts.token
        && (t.len() < 16 || !t.chars().all(|c| c.is_ascii_graphic()))
    {
        return Err(
            "--token: give at least 16 printable characters (or none: one is generated)".into(),
        );
    }
    std::fs::create_dir_all(&opts.runs_dir)
        .map_err(|e| format!("--runs-dir {}: {e}", opts.runs_dir.display()))?;
    let state = AppState::new(&opts)?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| format!("--listen {}: {e}", opts.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let router = app(state.clone()).await;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await;
        if let Err(e) = served {
            eprintln!("cdex-harness serve: {e}");
        }
    });
    Ok(ServeHandle {
        addr,
        token: opts.token,
        state,
        stop: Some(stop_tx),
        task,
    })
}
