//! The run's environment: the system under test's address, the harness's mock server, and
//! the trigger, set up afresh for every scenario from the actor registry. A run with several
//! scenarios at once (`run --jobs`) has one environment per scenario running: its own
//! endpoint (any free port) and its own reference server.

use super::trigger::Trigger;
use super::{RunConfig, Sut};
use crate::actors;
use crate::http::Message;
use crate::http::client::HttpClient;
use crate::mock::{Handler, MockServer};
use crate::scenario::template::Vars;
use crate::scenario::{Pack, Scenario, Step, StepKind};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Answers 503 until a scenario installs its actor.
struct Idle;

impl Handler for Idle {
    fn handle(&self, _req: &Message) -> Message {
        crate::mock::outcome(503, "transient", "the harness is between scenarios")
    }
    fn seed(&self, _resource: serde_json::Value) -> Result<String, String> {
        Err("no scenario is running".into())
    }
}

static NEXT_ENV: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

pub struct Environment {
    cfg: RunConfig,
    pub http: Option<HttpClient>,
    /// The harness's own endpoint (it plays a server role).
    mock: Option<MockServer>,
    /// The reference actor standing in for a server under test.
    sut_server: Option<MockServer>,
    /// Where suggested payloads for triggers are written.
    pub payload_dir: PathBuf,
    /// The Task statuses each actor under test showed, across the run, for the actors a
    /// `task_states` check looked at.
    pub task_statuses: std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
    /// The actors some `task_states` check looked at a Task of (one they wrote).
    pub task_checked: std::collections::BTreeSet<String>,
}

/// What one scenario runs against.
pub struct Prepared {
    /// FHIR base of the server under test, if the scenario sends requests.
    pub target: Option<String>,
    /// FHIR base of the harness's endpoint, if the scenario waits for or serves requests.
    pub harness_url: Option<String>,
    pub trigger: Option<Trigger>,
}

/// True when a step sends a request relative to the server under test's FHIR base. A
/// request to an absolute URL, or to an address the peer gave (a captured `{{focus}}`, the
/// Endpoint a request names), needs no `--target`.
pub fn needs_target(s: &Scenario) -> bool {
    s.steps.iter().any(step_needs_target)
}

fn step_needs_target(st: &Step) -> bool {
    let path = match &st.kind {
        StepKind::Send(r) => &r.path,
        StepKind::Poll(p) => &p.request.path,
        _ => return false,
    };
    !(path.starts_with("http://") || path.starts_with("https://") || path.starts_with("{{"))
}

/// True when a step sends a request at all.
pub fn sends(s: &Scenario) -> bool {
    s.steps
        .iter()
        .any(|st| matches!(st.kind, StepKind::Send(_) | StepKind::Poll(_)))
}

pub fn needs_mock(s: &Scenario) -> bool {
    s.steps.iter().any(|st| {
        matches!(
            st.kind,
            StepKind::Expect(_) | StepKind::Serve(_) | StepKind::Timeline(_)
        )
    })
}

/// True when the harness's endpoint must be at one address the peer was told (`--listen`
/// with a port, `--public-url`): one server for the whole run, so the scenarios that need it
/// take turns with it (`run --jobs`).
pub fn fixed_endpoint(cfg: &RunConfig) -> bool {
    cfg.listen.port() != 0 || cfg.public_url.is_some()
}

/// True when a person may be asked to act in this scenario (a system under test driven by
/// hand, no `--trigger`): an `expect` step, or a `poll` with a `prompt`. A person does one
/// thing at a time, so such scenarios never overlap (`run --jobs`).
pub fn person_acts(cfg: &RunConfig, s: &Scenario) -> bool {
    matches!(cfg.sut, Sut::External { trigger: None, .. })
        && s.steps.iter().any(|st| match &st.kind {
            StepKind::Expect(_) => true,
            StepKind::Poll(p) => p.prompt.is_some(),
            _ => false,
        })
}

impl Environment {
    pub fn new(cfg: &RunConfig) -> Self {
        Environment {
            cfg: cfg.clone(),
            http: None,
            mock: None,
            sut_server: None,
            // One folder per environment: runs in the same process must not share (and
            // clean up) each other's payload files.
            payload_dir: std::env::temp_dir().join(format!(
                "cdex-harness-{}-{}",
                std::process::id(),
                NEXT_ENV.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            )),
            task_statuses: Default::default(),
            task_checked: Default::default(),
        }
    }

    pub fn mock(&self) -> Option<&MockServer> {
        self.mock.as_ref()
    }

    /// Hand the harness's endpoint over, to give it to the environment of the next scenario
    /// that needs it (a [`fixed_endpoint`] is one server for all the run's environments).
    pub fn take_mock(&mut self) -> Option<MockServer> {
        self.mock.take()
    }

    /// Take the harness's endpoint another environment handed over.
    pub fn give_mock(&mut self, server: MockServer) {
        self.mock = Some(server);
    }

    /// The harness endpoint's FHIR base as the peer must reach it.
    pub fn advertised_url(&self, m: &MockServer) -> String {
        match &self.cfg.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => m.base_url().to_string(),
        }
    }

    pub fn client(&mut self) -> Result<HttpClient, String> {
        if self.http.is_none() {
            self.http = Some(self.cfg.client_tls.client()?);
        }
        Ok(self.http.clone().expect("just set"))
    }

    async fn ensure_mock(&mut self) -> Result<&MockServer, String> {
        if self.mock.is_none() {
            let server = MockServer::start_with(
                self.cfg.listen,
                Arc::new(Idle),
                self.cfg.server_tls.as_ref(),
            )
            .await
            .map_err(|e| {
                format!(
                    "the harness's mock server cannot listen on {}: {e}",
                    self.cfg.listen
                )
            })?;
            server.set_body_timeout(self.cfg.timeout);
            server.set_body_store(self.cfg.bodies.clone());
            self.mock = Some(server);
        }
        Ok(self.mock.as_ref().expect("just set"))
    }

    async fn ensure_sut_server(&mut self) -> Result<&MockServer, String> {
        if self.sut_server.is_none() {
            let addr = SocketAddr::from(([127, 0, 0, 1], 0));
            let server = MockServer::start(addr, Arc::new(Idle))
                .await
                .map_err(|e| format!("the reference server cannot listen: {e}"))?;
            self.sut_server = Some(server);
        }
        Ok(self.sut_server.as_ref().expect("just set"))
    }

    /// Start what the scenario needs and return the addresses (handlers come in [`install`]).
    pub async fn prepare(&mut self, s: &Scenario) -> Result<Prepared, String> {
        let mut p = Prepared {
            target: None,
            harness_url: None,
            trigger: None,
        };
        if needs_mock(s) {
            self.ensure_mock().await?;
            let m = self.mock.as_ref().expect("just started");
            m.recorder().clear();
            m.clear_overrides();
            p.harness_url = Some(self.advertised_url(m));
        }
        if sends(s) {
            p.target = match &self.cfg.sut {
                Sut::Reference(_) => Some(self.ensure_sut_server().await?.base_url().to_string()),
                Sut::External {
                    target: Some(t), ..
                } => Some(t.trim_end_matches('/').to_string()),
                Sut::External { target: None, .. } if needs_target(s) => {
                    let step = s
                        .steps
                        .iter()
                        .find(|st| step_needs_target(st))
                        .map(|st| st.id.as_str())
                        .unwrap_or_default();
                    return Err(format!(
                        "step `{step}` of scenario `{}` sends a request to the {} under test, relative to its FHIR base, and nothing the system sends gives that address: give it with --target",
                        s.id, s.actor
                    ));
                }
                // Every request goes to an address the peer gives.
                Sut::External { target: None, .. } => None,
            };
        }
        Ok(p)
    }

    /// Install fresh reference actors for a scenario, their settings rendered with `vars`.
    pub fn install(
        &mut self,
        pack: &Pack,
        s: &Scenario,
        vars: &Vars,
        p: &mut Prepared,
    ) -> Result<(), String> {
        if let (Some(m), Some(handler)) = (&self.mock, &self.cfg.counterpart)
            && p.harness_url.is_some()
        {
            m.set_handler(handler.clone());
        } else if let Some(m) = &self.mock
            && p.harness_url.is_some()
        {
            let spec = actors::find_for(&s.plays, &s.options).ok_or_else(|| {
                format!("there is no reference implementation of the {}", s.plays)
            })?;
            let settings = actors::settings(&pack.reference, &s.plays, vars)?;
            // The counterpart the harness plays is always the correct one.
            let played = (spec.build)(&settings, Default::default())?;
            let handler = played
                .server
                .ok_or_else(|| format!("the reference {} does not serve requests", s.plays))?;
            m.set_handler(handler);
        }
        if let Sut::Reference(faults) = &self.cfg.sut {
            let spec = actors::find_for(&s.actor, &s.options).ok_or_else(|| {
                format!("there is no reference implementation of the {}", s.actor)
            })?;
            let settings = actors::settings(&pack.reference, &s.actor, vars)?;
            // One instance for both sides, so what it receives and what it sends agree.
            let sut = (spec.build)(&settings, faults.for_actor(&s.actor))?;
            // A client under test has no server of its own to mount; its scenario's `send`
            // steps go to addresses it gives (a Task's payer-url), never to a base.
            if p.target.is_some() && (sut.server.is_some() || needs_target(s)) {
                let handler = sut.server.clone().ok_or_else(|| {
                    format!("there is no reference {} that serves requests", s.actor)
                })?;
                self.sut_server
                    .as_ref()
                    .expect("prepared")
                    .set_handler(handler);
            }
            if needs_mock(s) {
                p.trigger = sut.client.map(Trigger::Reference);
            }
        } else if let Sut::External { trigger, .. } = &self.cfg.sut {
            p.trigger = Some(match trigger {
                Some(cmd) => Trigger::Command(cmd.clone()),
                None => Trigger::Manual,
            });
        }
        Ok(())
    }

    /// Put the servers back to idle between scenarios.
    pub fn idle(&self) {
        for s in [&self.mock, &self.sut_server].into_iter().flatten() {
            s.set_handler(Arc::new(Idle));
            s.clear_overrides();
        }
    }

    pub async fn shutdown(&mut self) {
        self.mock = None;
        self.sut_server = None;
        let _ = tokio::fs::remove_dir_all(&self.payload_dir).await;
    }
}
