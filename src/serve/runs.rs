//! The runs of the console: those it started (live, in memory, with their event log) and
//! those found in its runs folder (`RUNS_DIR/<run-id>/`, written by it earlier or by `run
//! --out`).
//!
//! Who sees what: the browser session that starts a run owns it (a hash of its session
//! cookie is kept with the run, in memory and in `RUN_DIR/console.json`); anyone else needs
//! the run's share link, which carries an unguessable key. A run folder without an owner (a
//! CLI run, or one from before the console kept owners) is shown to everyone on a loopback
//! console (one person's machine) and to nobody on a console reachable from elsewhere.

use super::AppState;
use super::events::{self, EventLog};
use super::security::{Session, random_token, same_secret};
use crate::cli::config::Config;
use crate::cli::run::RunArgs;
use crate::results::{RunResults, ScenarioResult, Status};
use crate::runner::operator::Answer;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, watch};

/// What a run is started from: the command line's arguments and the config file, as the
/// form gave them.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub args: RunArgs,
    pub config: Config,
}

/// What the console keeps with a run folder (`console.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    /// SHA-256 of the owning session (never the cookie itself).
    pub owner: Option<String>,
    pub share_key: String,
}

/// A scenario of a run, as the live page lists it before it runs.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioRow {
    pub id: String,
    pub title: String,
    pub actor: String,
    pub status: &'static str,
}

/// A requirement of a run's matrix, as the live page lists it before its checks run.
#[derive(Debug, Clone, Serialize)]
pub struct RequirementRow {
    pub id: String,
    pub verb: String,
    pub text: String,
    pub option: Option<String>,
    pub status: &'static str,
}

/// A run started by this console.
pub struct LiveRun {
    pub id: String,
    pub dir: PathBuf,
    pub meta: Meta,
    pub events: Arc<EventLog>,
    pub request: RunRequest,
    pub pack: String,
    pub actor: Option<String>,
    pub sut: String,
    pub started_at: String,
    pub scenarios: Vec<ScenarioRow>,
    pub requirements: Vec<RequirementRow>,
    cancel: watch::Sender<bool>,
    operator: broadcast::Sender<Answer>,
    /// The results, once written.
    finished: watch::Sender<Option<Arc<RunResults>>>,
}

impl LiveRun {
    pub fn visible_to(&self, session: &Session, key: Option<&str>) -> bool {
        visible(Some(&self.meta), session, key, false)
    }

    pub fn owned_by(&self, session: &Session) -> bool {
        self.meta.owner.as_deref() == Some(session.owner().as_str())
    }

    /// Stop the run: the scenario running finishes its exchange, the others are not run,
    /// and the reports are written.
    pub fn stop(&self) {
        let _ = self.cancel.send(true);
    }

    /// A person's answer to the manual step waiting now; false when nothing listens.
    pub fn answer(&self, a: Answer) -> bool {
        self.operator.send(a).is_ok()
    }

    pub fn results(&self) -> Option<Arc<RunResults>> {
        self.finished.borrow().clone()
    }

    /// Wait until the reports are written.
    pub async fn wait(&self) -> Arc<RunResults> {
        let mut rx = self.finished.subscribe();
        loop {
            if let Some(r) = rx.borrow_and_update().clone() {
                return r;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

fn visible(meta: Option<&Meta>, session: &Session, key: Option<&str>, loopback: bool) -> bool {
    match meta {
        Some(m) => {
            m.owner.as_deref() == Some(session.owner().as_str())
                || key.is_some_and(|k| same_secret(k, &m.share_key))
        }
        None => loopback,
    }
}

/// The runs this console started, by id.
#[derive(Default)]
pub struct Registry {
    runs: Mutex<HashMap<String, Arc<LiveRun>>>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LiveRun>>> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn live(&self, id: &str) -> Option<Arc<LiveRun>> {
        self.lock().get(id).cloned()
    }

    pub fn all(&self) -> Vec<Arc<LiveRun>> {
        self.lock().values().cloned().collect()
    }

    /// Stop every run still going and wait for their reports.
    pub async fn stop_all(&self) {
        let runs = self.all();
        for r in &runs {
            if r.results().is_none() {
                r.stop();
            }
        }
        for r in runs {
            r.wait().await;
        }
    }
}

/// A run id as the console makes them, or as a folder name may be: letters, digits, `-`,
/// `_`, `.`, not starting with a dot.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A run folder of the runs dir.
pub struct DiskRun {
    pub id: String,
    pub dir: PathBuf,
    pub meta: Option<Meta>,
}

impl DiskRun {
    pub fn results(&self) -> Result<RunResults, String> {
        let file = self.dir.join("results.json");
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        crate::cli::resume::parse(&file, &text)
    }
}

fn read_meta(dir: &Path) -> Option<Meta> {
    let text = std::fs::read_to_string(dir.join("console.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// A run, live or on disk, if `session` (or the share `key`) may see it.
pub enum Found {
    Live(Arc<LiveRun>),
    Disk(DiskRun),
}

impl Found {
    pub fn dir(&self) -> &Path {
        match self {
            Found::Live(r) => &r.dir,
            Found::Disk(d) => &d.dir,
        }
    }

    pub fn share_key(&self) -> Option<&str> {
        match self {
            Found::Live(r) => Some(&r.meta.share_key),
            Found::Disk(d) => d.meta.as_ref().map(|m| m.share_key.as_str()),
        }
    }

    /// The results, once the run is finished.
    pub fn results(&self) -> Option<Result<Arc<RunResults>, String>> {
        match self {
            Found::Live(r) => r.results().map(Ok),
            Found::Disk(d) => {
                if !d.dir.join("results.json").is_file() {
                    return None;
                }
                Some(d.results().map(Arc::new))
            }
        }
    }

    /// Whether the session owns it (actions on a run are its owner's).
    pub fn owned_by(&self, state: &AppState, session: &Session) -> bool {
        match self {
            Found::Live(r) => r.owned_by(session),
            Found::Disk(d) => match &d.meta {
                Some(m) => m.owner.as_deref() == Some(session.owner().as_str()),
                None => state.inner.loopback,
            },
        }
    }
}

pub fn find(state: &AppState, id: &str, session: &Session, key: Option<&str>) -> Option<Found> {
    if !valid_id(id) {
        return None;
    }
    if let Some(r) = state.inner.runs.live(id) {
        return r.visible_to(session, key).then_some(Found::Live(r));
    }
    let dir = state.inner.runs_dir.join(id);
    if !dir.join("results.json").is_file() {
        return None;
    }
    let meta = read_meta(&dir);
    visible(meta.as_ref(), session, key, state.inner.loopback).then(|| {
        Found::Disk(DiskRun {
            id: id.to_string(),
            dir,
            meta,
        })
    })
}

/// The run folders `session` may see, newest first (by id, which starts with the time).
pub fn on_disk(state: &AppState, session: &Session) -> Vec<DiskRun> {
    let mut found: Vec<DiskRun> = std::fs::read_dir(&state.inner.runs_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let id = e.file_name().to_str()?.to_string();
            let dir = e.path();
            if !valid_id(&id) || !dir.join("results.json").is_file() {
                return None;
            }
            if state.inner.runs.live(&id).is_some() {
                return None;
            }
            let meta = read_meta(&dir);
            visible(meta.as_ref(), session, None, state.inner.loopback).then_some(DiskRun {
                id,
                dir,
                meta,
            })
        })
        .collect();
    found.sort_by(|a, b| b.id.cmp(&a.id));
    found
}

/// The config as written into the run's folder: header values and secret variables
/// redacted.
pub fn redacted_config(c: &Config, pack_secrets: &[String]) -> Config {
    let mut c = c.clone();
    for v in c.headers.values_mut() {
        *v = crate::http::redact::REDACTED.to_string();
    }
    for name in c.secrets.iter().chain(pack_secrets.iter()) {
        if let Some(v) = c.vars.get_mut(name) {
            *v = crate::http::redact::REDACTED.to_string();
        }
    }
    c
}

/// Start a run for `session`: prepared as `cdex-harness run` prepares one (a refusal is
/// returned as its message), then run in the background into `RUNS_DIR/<id>/`.
pub async fn start(
    state: &AppState,
    session: &Session,
    request: RunRequest,
) -> Result<Arc<LiveRun>, String> {
    if !state.inner.commands {
        let c = &request.config;
        if c.trigger.is_some() || c.scenarios.is_some() || !c.trust_anchors.is_empty() {
            return Err("error: this console is reachable from other machines, so it runs no trigger command and reads no file named in the form (scenario folder, trust anchors); start it with --allow-commands to allow them".into());
        }
    }
    let id = format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%d-%H%M%S"),
        &random_token()[..8]
    );
    let dir = state.inner.runs_dir.join(&id);
    let mut args = request.args.clone();
    args.out = Some(dir.clone());
    // Never the console's terminal: the page shows what a run says.
    args.verbose = false;
    let notices: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let tell = |m: String| notices.lock().unwrap_or_else(|p| p.into_inner()).push(m);
    let prepared = match crate::cli::run::prepare(&mut args, &request.config, None, &tell).await {
        Ok(p) => p,
        Err(e) => {
            if dir.is_dir() && !dir.join("results.json").exists() {
                let _ = std::fs::remove_dir_all(&dir);
            }
            return Err(e);
        }
    };
    let notices = notices.into_inner().unwrap_or_else(|p| p.into_inner());
    let meta = Meta {
        owner: Some(session.owner()),
        share_key: random_token(),
    };
    let written = std::fs::create_dir_all(&dir)
        .and_then(|_| {
            std::fs::write(
                dir.join("console.json"),
                serde_json::to_vec_pretty(&meta).unwrap_or_default(),
            )
        })
        .and_then(|_| {
            let yaml = crate::cli::config::to_yaml(&redacted_config(
                &request.config,
                &prepared.pack.secrets,
            ))
            .unwrap_or_default();
            std::fs::write(dir.join("config.yaml"), yaml)
        });
    if let Err(e) = written {
        return Err(format!(
            "cannot write the run's folder {}: {e}",
            dir.display()
        ));
    }

    let scenarios: Vec<ScenarioRow> = prepared
        .scenarios()
        .iter()
        .map(|s| ScenarioRow {
            id: s.id.clone(),
            title: s.title.clone(),
            actor: s.actor.clone(),
            status: "pending",
        })
        .collect();
    let actors: std::collections::BTreeSet<&str> =
        scenarios.iter().map(|s| s.actor.as_str()).collect();
    let requirements: Vec<RequirementRow> = prepared
        .catalog
        .requirements
        .iter()
        .filter(|r| actors.contains(r.actor.as_str()) && r.untestable.is_none())
        .map(|r| RequirementRow {
            id: r.id.clone(),
            verb: r.verb.clone(),
            text: r.text.clone(),
            option: r.option.clone(),
            status: "not-run",
        })
        .collect();

    let (cancel_tx, cancel_rx) = crate::runner::cancel_pair();
    let (operator, _) = broadcast::channel(8);
    let (finished, _) = watch::channel(None);
    let log = Arc::new(EventLog::default());
    let run = Arc::new(LiveRun {
        id: id.clone(),
        dir: dir.clone(),
        meta,
        events: log.clone(),
        pack: prepared.setup.pack.clone(),
        actor: prepared.setup.actor.clone(),
        sut: prepared.setup.sut.clone(),
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        request,
        scenarios,
        requirements,
        cancel: cancel_tx,
        operator: operator.clone(),
        finished,
    });
    for n in notices {
        log.push(json!({"type": "notice", "text": n}));
    }

    let mut prepared = prepared;
    prepared.cfg.operator = Some(operator);
    // As `run` does: results.json rewritten as scenarios end, so a console stopped hard
    // leaves a run `run --resume` goes on from.
    let checkpoints = prepared.checkpoints();
    let progress_log = log.clone();
    let cp = checkpoints.clone();
    prepared.cfg.on_progress = Some(Arc::new(move |p| {
        if let crate::runner::progress::Progress::RunStarted(h) = &p {
            cp.started(h);
        }
        if let Some(v) = events::progress_event(&p) {
            progress_log.push(v);
        }
    }));
    let catalog = prepared.catalog.clone();
    let done: Mutex<(Vec<ScenarioResult>, BTreeMap<String, Status>)> = Mutex::default();
    let matrix_log = log.clone();
    let cp = checkpoints.clone();
    prepared.cfg.on_scenario = Some(Arc::new(move |r| {
        cp.scenario_done(r);
        let mut d = done.lock().unwrap_or_else(|p| p.into_inner());
        d.0.push(r.clone());
        let rows = events::requirement_rows(&catalog, &d.0);
        let mut changed = Vec::new();
        for (rid, status) in rows {
            if d.1.get(&rid) != Some(&status) {
                changed.push(json!({"id": rid, "status": status}));
                d.1.insert(rid, status);
            }
        }
        if !changed.is_empty() {
            matrix_log.push(json!({"type": "requirements", "rows": changed}));
        }
    }));

    state.inner.runs.lock().insert(id.clone(), run.clone());
    let task_run = run.clone();
    let report_url = format!("/runs/{id}/report");
    tokio::spawn(async move {
        let scenarios = prepared.scenarios();
        let mut results = crate::runner::run(
            &prepared.pack,
            &scenarios,
            &prepared.catalog,
            &prepared.cfg,
            cancel_rx,
        )
        .await;
        checkpoints.finish();
        prepared.decorate(&mut results);
        if let Err(e) = crate::report::write_all(&results, &prepared.paths) {
            log.push(json!({
                "type": "notice",
                "text": format!("error: the reports could not be written: {e:#}"),
            }));
        }
        log.push(events::finished_event(&results, &report_url));
        log.close();
        task_run.finished.send_replace(Some(Arc::new(results)));
    });
    Ok(run)
}
