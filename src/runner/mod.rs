//! The runner: plays the counterpart for each scenario of a pack and produces the results.
//!
//! [`run`] sets up the environment (the system under test's address, the harness's mock
//! server, the trigger that asks a client under test to act), then [`scenario::run`] runs
//! each scenario's steps ([`steps`]), with [`capture`]s and [`assert`]ions.

pub mod assert;
pub mod capture;
pub mod env;
pub mod observed;
pub mod operator;
pub mod poll_schedule;
pub mod preflight;
pub mod progress;
pub mod scenario;
pub mod schedule;
pub mod signature_check;
pub mod steps;
pub mod task_states;
pub mod trigger;

use crate::actors::Faults;
use crate::catalog::Catalog;
use crate::results::{Evidence, RequirementResult, RunResults, ScenarioResult, Status, ToolInfo};
use crate::scenario::{Pack, Scenario};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Who the system under test is.
#[derive(Debug, Clone)]
pub enum Sut {
    /// The harness's own reference actors, with these faults switched on.
    Reference(Faults),
    /// A real system: a server at `target` and/or a client driven by `trigger` (a command)
    /// or by a person (no trigger).
    External {
        target: Option<String>,
        trigger: Option<String>,
    },
}

/// The options the system under test claims (`--option`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Options {
    /// Every option (`--option all`; the reference actors implement them all).
    All,
    /// These only (none by default).
    Only(std::collections::BTreeSet<String>),
}

impl Options {
    pub fn claims(&self, option: &str) -> bool {
        match self {
            Options::All => true,
            Options::Only(set) => set.contains(option),
        }
    }

    /// The options claimed, by name, among those the catalog knows.
    pub fn names(&self, catalog: &Catalog) -> Vec<String> {
        catalog
            .options
            .keys()
            .filter(|o| self.claims(o))
            .cloned()
            .collect()
    }
}

/// Called with each scenario result as soon as it is known.
pub type ScenarioCallback = Arc<dyn Fn(&ScenarioResult) + Send + Sync>;

/// The time scale of a run against the built-in reference actors when none is given: the
/// pack's minutes pass in a tenth of a second.
pub const REFERENCE_TIME_SCALE: f64 = 600.0;

/// Everything a run needs besides the pack.
#[derive(Clone)]
pub struct RunConfig {
    pub sut: Sut,
    /// The options the system under test claims: scenarios of the others are not applicable.
    pub options: Options,
    /// Where the mock server listens (port 0: any free port). Loopback unless told otherwise.
    pub listen: SocketAddr,
    /// Default limit for every wait and request.
    pub timeout: Duration,
    /// Variables from the config file and `--var` (override pack and scenario defaults).
    pub vars: BTreeMap<String, String>,
    /// Headers from the config file and `--header`, sent with every request.
    pub headers: Vec<(String, String)>,
    /// Values to redact besides the pack's secret variables and secret headers.
    pub secrets: Vec<String>,
    /// Names of variables whose values are secret, besides the pack's `secrets`.
    pub secret_names: Vec<String>,
    /// The harness endpoint's base URL as the peer must reach it, when it differs from the
    /// listening address (a proxy, a container, `--listen 0.0.0.0:8090`).
    pub public_url: Option<String>,
    /// TLS of the harness as a client (extra CAs, client certificate).
    pub client_tls: crate::http::tls::ClientTls,
    /// TLS of the harness's own endpoint (`https://`), if any.
    pub server_tls: Option<crate::mock::tls::ServerTls>,
    /// Where the generated endpoint certificate's CA was written, for triggers to trust.
    pub server_ca_file: Option<std::path::PathBuf>,
    /// Called after each scenario, for live console output.
    pub on_scenario: Option<ScenarioCallback>,
    /// Called as scenarios and steps start and waits begin, for a live display.
    pub on_progress: Option<progress::ProgressCallback>,
    /// How long a person testing by hand (no `--trigger`) gets for each action, at least.
    pub manual_timeout: Duration,
    /// Enforce readings as their verb says (`--strict`): a failed check of a reading fails
    /// the run instead of warning.
    pub strict: bool,
    /// The rule sets judged by (`--rules` and the ones before it); empty: every requirement
    /// counts as its verb says.
    pub rules: Vec<String>,
    /// DER certificates a signer's `x5c` chain may end at (`--trust-anchor`, config
    /// `trust_anchors:`), for `signature:` checks. Against the reference actors the harness's
    /// own signing CA (`TestPki`) is trusted as well.
    pub trust_anchors: Vec<Vec<u8>>,
    /// The pack's clocks run this many times faster (`--time-scale`): Task timelines and
    /// polling schedules divide their durations by it. Given to scenarios as `time_scale`.
    pub time_scale: f64,
    /// The Handler the harness's endpoint answers with, instead of the reference
    /// implementation of the role the scenario plays (an embedding program, a test).
    pub counterpart: Option<Arc<dyn crate::mock::Handler>>,
    /// Results carried over from an earlier run (`run --resume`), by scenario id: reported
    /// as they are instead of running the scenario.
    pub carried: BTreeMap<String, ScenarioResult>,
    /// Where bodies past a size (`--max-inline-body`) are written (OUT/bodies) instead of
    /// inlined in the results; the harness's endpoint also streams such bodies there as they
    /// arrive. `None`: bodies stay in memory and results cut them at 256 KiB.
    pub bodies: Option<crate::http::bodies::BodyStore>,
    /// Where the answers of a person testing by hand come from (the web console's "done" /
    /// "cannot" buttons); `None`: the terminal, when standard input is one.
    pub operator: Option<tokio::sync::broadcast::Sender<operator::Answer>>,
    /// How many scenarios run at once (`--jobs`), each with its own environment (endpoint
    /// and reference server); `serial:`, `locks:` and what cannot be duplicated (a fixed
    /// endpoint address, a person) keep some apart. 1: one after another, in order.
    pub jobs: usize,
}

impl RunConfig {
    pub fn new(sut: Sut) -> Self {
        let reference = matches!(sut, Sut::Reference(_));
        RunConfig {
            // The reference actors implement every option; a real system claims none until
            // it says so.
            options: match sut {
                Sut::Reference(_) => Options::All,
                Sut::External { .. } => Options::Only(Default::default()),
            },
            sut,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            timeout: Duration::from_secs(10),
            vars: BTreeMap::new(),
            headers: Vec::new(),
            secrets: Vec::new(),
            secret_names: Vec::new(),
            public_url: None,
            client_tls: Default::default(),
            server_tls: None,
            server_ca_file: None,
            on_scenario: None,
            on_progress: None,
            manual_timeout: Duration::from_secs(300),
            strict: false,
            rules: Vec::new(),
            trust_anchors: Vec::new(),
            time_scale: if reference { REFERENCE_TIME_SCALE } else { 1.0 },
            counterpart: None,
            carried: BTreeMap::new(),
            bodies: None,
            operator: None,
            jobs: 1,
        }
    }
}

/// What every report of a run repeats, known once the preflight is done: announced with
/// [`progress::Progress::RunStarted`] (for checkpoints) and used for the final results.
#[derive(Debug, Clone)]
pub struct RunHeader {
    pub run_id: String,
    /// RFC 3339.
    pub started_at: String,
    pub target: String,
    pub options: Vec<String>,
    pub notes: Vec<String>,
}

impl RunHeader {
    /// The results of these scenarios: the requirements matrix and the summary computed from
    /// them.
    pub fn results(
        &self,
        catalog: &Catalog,
        scenarios: Vec<ScenarioResult>,
        duration_ms: f64,
        interrupted: bool,
    ) -> RunResults {
        let mut out = RunResults {
            schema_version: crate::results::RESULTS_SCHEMA_VERSION,
            tool: ToolInfo {
                name: "cdex-harness".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            run_id: Some(self.run_id.clone()),
            setup: None,
            started_at: self.started_at.clone(),
            duration_ms,
            target: self.target.clone(),
            interrupted,
            options: self.options.clone(),
            notes: self.notes.clone(),
            summary: Default::default(),
            requirements: matrix(catalog, &scenarios),
            scenarios,
        };
        out.summarize();
        out
    }
}

/// A flag that stops the run: set it (Ctrl-C) and the runner finishes what it can.
pub fn cancel_pair() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(false)
}

/// The lock every scenario holds that needs the harness's endpoint when it has one fixed
/// address (`--listen` with a port, `--public-url`).
pub const ENDPOINT_LOCK: &str = "(the harness endpoint)";
/// The lock every scenario holds in which a person may be asked to act (no `--trigger`).
pub const PERSON_LOCK: &str = "(the person at the terminal)";

/// What a scenario may not share with the ones running beside it: its `serial:`, its
/// `locks:` against a real system (against the built-in reference actors every scenario
/// running has its own, so there is nothing to protect), and the implicit locks.
pub fn claim(cfg: &RunConfig, s: &Scenario) -> schedule::Claim {
    let mut locks = std::collections::BTreeSet::new();
    if matches!(cfg.sut, Sut::External { .. }) {
        locks.extend(s.concurrency.locks.iter().cloned());
    }
    if env::needs_mock(s) && env::fixed_endpoint(cfg) {
        locks.insert(ENDPOINT_LOCK.to_string());
    }
    if env::person_acts(cfg, s) {
        locks.insert(PERSON_LOCK.to_string());
    }
    schedule::Claim {
        serial: s.concurrency.serial,
        locks,
    }
}

/// Run the selected scenarios of a pack: `cfg.jobs` at a time, reported in the order given
/// whatever the order they end in.
pub async fn run(
    pack: &Pack,
    scenarios: &[&Scenario],
    catalog: &Catalog,
    cfg: &RunConfig,
    cancel: watch::Receiver<bool>,
) -> RunResults {
    let started_at = chrono::Utc::now();
    let clock = Instant::now();
    // Does the server under test answer, and what does it say it supports?
    let pf = match cfg.client_tls.client() {
        Ok(client) => preflight::check(cfg, pack, catalog, &client, scenarios).await,
        Err(e) => preflight::Preflight {
            unreachable: Some(e),
            ..Default::default()
        },
    };
    let mut effective = cfg.clone();
    effective.vars.extend(pf.vars.clone());
    let cfg = &effective;
    // Environments free to take a scenario; the first one is made now, for the run's header.
    let mut envs = vec![env::Environment::new(cfg)];
    let run_id = format!(
        "{}-{}",
        started_at.format("%Y%m%d%H%M%S"),
        std::process::id()
    );
    let adjusted: Vec<Scenario>;
    let scenarios: Vec<&Scenario> = if cfg.strict || !cfg.rules.is_empty() {
        adjusted = scenarios
            .iter()
            .map(|s| {
                let s = if cfg.strict { s.strict() } else { (*s).clone() };
                if cfg.rules.is_empty() {
                    s
                } else {
                    s.under_rules(&cfg.rules)
                }
            })
            .collect();
        adjusted.iter().collect()
    } else {
        scenarios.to_vec()
    };
    let mut header = RunHeader {
        run_id: run_id.clone(),
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        target: target(cfg, &envs[0]),
        options: cfg.options.names(catalog),
        notes: pf
            .unreachable
            .iter()
            .chain(pf.notes.iter())
            .cloned()
            .collect(),
    };
    if let Some(cb) = &cfg.on_progress {
        cb(progress::Progress::RunStarted(header.clone()));
    }
    let total = scenarios.len();
    let jobs = cfg.jobs.max(1);
    let fixed_endpoint = env::fixed_endpoint(cfg);
    let mut schedule = schedule::Schedule::new(scenarios.iter().map(|s| claim(cfg, s)).collect());
    let mut results: Vec<Option<ScenarioResult>> = vec![None; total];
    // A fixed endpoint between the scenarios that use it, taking turns.
    let mut endpoint = None;
    let mut running = futures_util::stream::FuturesUnordered::new();
    let mut interrupted = false;
    let mut watch_cancel = cancel.clone();
    let mut cancel_open = true;
    let run_id = run_id.as_str();
    // Why a scenario is reported without running it, if it is.
    let outcome_without_running = |sc: &Scenario, interrupted: bool| -> Option<ScenarioResult> {
        let unclaimed = sc.options.iter().find(|o| !cfg.options.claims(o));
        if let Some(carried) = cfg.carried.get(&sc.id) {
            Some(carried.clone())
        } else if interrupted {
            Some(scenario::not_run(
                sc,
                "the run was interrupted before this scenario",
            ))
        } else if let Some(o) = unclaimed {
            // Before reachability: a scenario of an option not claimed does not apply,
            // whether or not the server answers.
            Some(scenario::not_applicable(
                sc,
                &format!(
                    "tests the {o} option, which the system under test does not claim (claim it with --option {o})"
                ),
            ))
        } else if let (Some(why), true) = (&pf.unreachable, env::sends(sc)) {
            Some(scenario::unreachable(sc, why))
        } else {
            None
        }
    };
    let done = |r: &ScenarioResult| {
        if let Some(cb) = &cfg.on_progress {
            cb(progress::Progress::ScenarioFinished {
                id: r.id.clone(),
                status: r.status,
                message: r.message.clone(),
            });
        }
        if let Some(cb) = &cfg.on_scenario {
            cb(r);
        }
    };
    loop {
        if *cancel.borrow() {
            interrupted = true;
        }
        while running.len() < jobs {
            let Some(i) =
                schedule.next(|i| outcome_without_running(scenarios[i], interrupted).is_none())
            else {
                break;
            };
            let sc = scenarios[i];
            if let Some(cb) = &cfg.on_progress {
                cb(progress::Progress::ScenarioStarted {
                    index: i + 1,
                    total,
                    id: sc.id.clone(),
                });
            }
            if let Some(r) = outcome_without_running(sc, interrupted) {
                done(&r);
                results[i] = Some(r);
                continue;
            }
            let mut env = envs.pop().unwrap_or_else(|| env::Environment::new(cfg));
            if let Some(m) = endpoint.take_if(|_| env::needs_mock(sc)) {
                env.give_mock(m);
            }
            let cancel = cancel.clone();
            running.push(async move {
                let r = scenario::run(pack, sc, cfg, &mut env, run_id, cancel).await;
                (i, env, r)
            });
        }
        if running.is_empty() {
            // Nothing runs, so nothing holds a claim: the schedule is empty.
            break;
        }
        tokio::select! {
            Some((i, mut env, r)) = futures_util::StreamExt::next(&mut running) => {
                schedule.finish(i);
                if fixed_endpoint && let Some(m) = env.take_mock() {
                    endpoint = Some(m);
                }
                envs.push(env);
                done(&r);
                results[i] = Some(r);
            }
            changed = watch_cancel.changed(), if cancel_open && !interrupted => {
                // A dropped sender can no longer cancel.
                cancel_open = changed.is_ok();
            }
        }
    }
    if *cancel.borrow() {
        interrupted = true;
    }
    if let (Some(m), Some(first)) = (endpoint, envs.first_mut()) {
        first.give_mock(m);
    }
    // The endpoint named is the first environment's that has one, as a run of one at a time
    // names its only one.
    let named = envs.iter().find(|e| e.mock().is_some()).unwrap_or(&envs[0]);
    header.target = target(cfg, named);
    let mut task_statuses: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    let mut task_checked = std::collections::BTreeSet::new();
    for env in &mut envs {
        for (actor, shown) in std::mem::take(&mut env.task_statuses) {
            task_statuses.entry(actor).or_default().extend(shown);
        }
        task_checked.append(&mut env.task_checked);
        env.shutdown().await;
    }
    header.notes.extend(task_checked.iter().map(|actor| {
        task_states::note(
            actor,
            task_statuses.get(actor).unwrap_or(&Default::default()),
        )
    }));
    let results = scenarios
        .iter()
        .zip(results)
        .map(|(sc, r)| {
            r.unwrap_or_else(|| scenario::not_run(sc, "the run ended before this scenario"))
        })
        .collect();
    header.results(
        catalog,
        results,
        clock.elapsed().as_secs_f64() * 1000.0,
        interrupted,
    )
}

/// What was tested, in words.
fn target(cfg: &RunConfig, env: &env::Environment) -> String {
    match &cfg.sut {
        Sut::Reference(f) if f.is_empty() => "built-in reference actors".to_string(),
        Sut::Reference(_) => "built-in reference actors (with faults)".to_string(),
        Sut::External {
            target: Some(t), ..
        } => t.clone(),
        Sut::External { target: None, .. } => match env.mock() {
            Some(m) => format!(
                "client under test, harness endpoint {}",
                env.advertised_url(m)
            ),
            None => format!("client under test, harness listening on {}", cfg.listen),
        },
    }
}

/// The requirements matrix: every requirement with the assertions that bear on it.
///
/// A requirement is *in scope* when its actor is under test in this run and it is not only
/// proved by scenarios of options the system does not claim; it is *covered* when at least
/// one of its checks ran (passed, warned or failed: a check skipped because its exchange
/// errored proves nothing); its evidence is *partial* when some of its checks ran and
/// others did not.
pub fn matrix(catalog: &Catalog, scenarios: &[ScenarioResult]) -> Vec<RequirementResult> {
    let under_test: std::collections::BTreeSet<&str> =
        scenarios.iter().map(|s| s.actor.as_str()).collect();
    catalog
        .requirements
        .iter()
        .map(|r| {
            let mut evidence = Vec::new();
            for sc in scenarios {
                for st in &sc.steps {
                    for a in &st.assertions {
                        if a.requirement.as_deref() == Some(r.id.as_str()) {
                            evidence.push(Evidence {
                                scenario: sc.id.clone(),
                                step: st.id.clone(),
                                status: a.status,
                            });
                        }
                    }
                }
            }
            let ran = |e: &&Evidence| {
                matches!(e.status, Status::Passed | Status::Warned | Status::Failed)
            };
            let all_not_applicable =
                !evidence.is_empty() && evidence.iter().all(|e| e.status == Status::NotApplicable);
            let status = if evidence.is_empty() {
                Status::NotRun
            } else if all_not_applicable {
                Status::NotApplicable
            } else if !evidence.iter().any(|e| ran(&e)) {
                // Nothing ran: skipped, or errored when an exchange could not be made.
                evidence
                    .iter()
                    .filter(|e| e.status != Status::NotApplicable)
                    .fold(Status::Skipped, |acc, e| match e.status {
                        Status::Errored => Status::Errored,
                        _ => acc,
                    })
            } else {
                evidence
                    .iter()
                    .filter(ran)
                    .fold(Status::Passed, |acc, e| acc.worst(e.status))
            };
            let in_scope = under_test.contains(r.actor.as_str())
                && !all_not_applicable
                && r.untestable.is_none();
            let partial = evidence.iter().any(|e| ran(&e))
                && evidence
                    .iter()
                    .any(|e| !ran(&e) && e.status != Status::NotApplicable);
            RequirementResult {
                in_scope,
                partial,
                untestable: r.untestable.clone(),
                id: r.id.clone(),
                actor: r.actor.clone(),
                verb: r.verb.clone(),
                text: r.text.clone(),
                basis: r.basis,
                source: r.source.clone(),
                url: r.url.clone(),
                option: r.option.clone(),
                status,
                evidence,
            }
        })
        .collect()
}

/// Select scenarios by actor and by id patterns (`*` wildcard). A pattern `!PATTERN` excludes
/// what it matches (`--skip`); of the others, any matching keeps a scenario (all are kept when
/// there are none).
pub fn select<'a>(pack: &'a Pack, actor: Option<&str>, patterns: &[String]) -> Vec<&'a Scenario> {
    let (skip, keep): (Vec<&String>, Vec<&String>) =
        patterns.iter().partition(|p| p.starts_with('!'));
    pack.scenarios
        .iter()
        .filter(|s| actor.is_none_or(|a| s.actor == a))
        .filter(|s| keep.is_empty() || keep.iter().any(|p| wildcard(p, &s.id)))
        .filter(|s| !skip.iter().any(|p| wildcard(&p[1..], &s.id)))
        .collect()
}

/// `*` matches any run of characters; a pattern without `*` matches as a substring.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    if !pattern.contains('*') {
        return text.contains(pattern);
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            if !rest.starts_with(part) {
                return false;
            }
            rest = &rest[part.len()..];
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(pos) = rest.find(part) {
            rest = &rest[pos + part.len()..];
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::wildcard;
    use super::{ENDPOINT_LOCK, PERSON_LOCK, RunConfig, Sut, claim};

    #[test]
    fn what_a_scenario_may_not_share() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let catalog = crate::catalog::Catalog::load(&root.join("catalog/cdex-2019")).unwrap();
        let pack = crate::scenario::load_pack(
            &root.join("scenarios/cdex-2019"),
            &catalog,
            &Default::default(),
        )
        .unwrap();
        let find = |id: &str| pack.scenarios.iter().find(|s| s.id == id).unwrap();
        let mut server = find("is-push-create").clone();
        server.concurrency.locks = vec!["patient".into()];
        let client = find("ic-push-create");
        let locks = |cfg: &RunConfig, s: &crate::scenario::Scenario| -> Vec<String> {
            claim(cfg, s).locks.into_iter().collect()
        };

        // The reference actors: every scenario running has its own, nothing to protect.
        let reference = RunConfig::new(Sut::Reference(Default::default()));
        assert!(locks(&reference, &server).is_empty());
        assert!(locks(&reference, client).is_empty());
        // A real server: the pack's locks.
        let target = RunConfig::new(Sut::External {
            target: Some("http://127.0.0.1:1".into()),
            trigger: None,
        });
        assert_eq!(locks(&target, &server), ["patient"]);
        // A client driven by a person: one thing at a time.
        let by_hand = RunConfig::new(Sut::External {
            target: None,
            trigger: None,
        });
        assert_eq!(locks(&by_hand, client), [PERSON_LOCK]);
        // A client driven by a command at one fixed address: the endpoint in turn.
        let mut fixed = RunConfig::new(Sut::External {
            target: None,
            trigger: Some("act".into()),
        });
        assert!(locks(&fixed, client).is_empty());
        fixed.listen = "127.0.0.1:8090".parse().unwrap();
        assert_eq!(locks(&fixed, client), [ENDPOINT_LOCK]);
        fixed.listen = "127.0.0.1:0".parse().unwrap();
        fixed.public_url = Some("https://harness.example".into());
        assert_eq!(locks(&fixed, client), [ENDPOINT_LOCK]);
        assert!(!claim(&fixed, client).serial);
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("push", "is-push-create"));
        assert!(wildcard("is-*", "is-push-create"));
        assert!(wildcard("*-create", "is-push-create"));
        assert!(!wildcard("ic-*", "is-push-create"));
        assert!(wildcard("is-*-create", "is-push-create"));
    }

    #[test]
    fn exclusions() {
        use crate::scenario::{Pack, Scenario};
        let scenario = |id: &str| Scenario {
            id: id.into(),
            title: id.into(),
            description: None,
            file: format!("{id}.yaml"),
            actor: "information-server".into(),
            plays: "information-client".into(),
            options: Vec::new(),
            vars: Default::default(),
            requires: Vec::new(),
            concurrency: Default::default(),
            steps: Vec::new(),
        };
        let pack = Pack {
            root: ".".into(),
            scenarios: ["is-push-create", "is-push-update", "is-pull-read"]
                .map(scenario)
                .to_vec(),
            ..Default::default()
        };
        let ids = |patterns: &[&str]| -> Vec<String> {
            let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
            super::select(&pack, None, &patterns)
                .iter()
                .map(|s| s.id.clone())
                .collect()
        };
        assert_eq!(ids(&["!push"]), ["is-pull-read"]);
        assert_eq!(ids(&["push", "!*-update"]), ["is-push-create"]);
        assert_eq!(ids(&["!is-*"]), Vec::<String>::new());
        assert_eq!(ids(&[]).len(), 3);
    }
}
