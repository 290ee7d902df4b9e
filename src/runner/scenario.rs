//! Running one scenario: its variables, its steps in order, and what skips what.

use super::env::{Environment, Prepared};
use super::steps::{self, StepCtx};
use super::{RunConfig, Sut};
use crate::http::redact::Redactor;
use crate::results::{ScenarioResult, Status, StepResult};
use crate::scenario::template::{Vars, render};
use crate::scenario::{Pack, Scenario};
use std::collections::BTreeMap;
use std::time::Instant;
use tokio::sync::watch;

/// A scenario that did not run at all.
pub fn not_run(s: &Scenario, why: &str) -> ScenarioResult {
    ScenarioResult {
        id: s.id.clone(),
        title: s.title.clone(),
        file: s.file.clone(),
        actor: s.actor.clone(),
        plays: s.plays.clone(),
        options: s.options.clone(),
        status: Status::NotRun,
        duration_ms: 0.0,
        message: Some(why.to_string()),
        steps: s
            .steps
            .iter()
            .map(|st| steps::skipped(st, Status::NotRun, why))
            .collect(),
        resumed_from: None,
    }
}

/// A scenario that could not start because the server under test does not answer.
pub fn unreachable(s: &Scenario, why: &str) -> ScenarioResult {
    let mut r = not_run(s, why);
    r.status = Status::Errored;
    for st in &mut r.steps {
        st.status = Status::Skipped;
        st.message = Some("the server under test did not answer".into());
    }
    r
}

/// A scenario that does not apply to the system under test (an option it does not claim).
pub fn not_applicable(s: &Scenario, why: &str) -> ScenarioResult {
    let mut r = not_run(s, why);
    r.status = Status::NotApplicable;
    for st in &mut r.steps {
        st.status = Status::NotApplicable;
        st.message = None;
        for a in &mut st.assertions {
            a.status = Status::NotApplicable;
            a.message = None;
        }
    }
    r
}

/// Why the scenario does not apply to the system under test, if one of its `requires:`
/// conditions does not hold.
fn unmet_requirement(s: &Scenario, vars: &Vars) -> Option<String> {
    s.requires.iter().find_map(|r| {
        let value = vars.get(&r.var).map(String::as_str).unwrap_or("");
        r.not
            .iter()
            .any(|v| v == value)
            .then(|| render(&r.otherwise, vars).unwrap_or_else(|_| r.otherwise.clone()))
    })
}

/// The variables a scenario starts with: pack < pack `reference_vars` (only in a run against
/// the built-in reference actors) < scenario < config/`--var` < built-ins. Scenario variables
/// may refer to the others (`condition_key: "create-{{run_id}}"`).
pub fn variables(pack: &Pack, s: &Scenario, cfg: &RunConfig, p: &Prepared, run_id: &str) -> Vars {
    let mut vars: Vars = cfg.vars.clone();
    let base = p
        .target
        .clone()
        .or_else(|| p.harness_url.clone())
        .unwrap_or_default();
    vars.insert("base_url".into(), base);
    vars.insert("target_url".into(), p.target.clone().unwrap_or_default());
    vars.insert(
        "harness_url".into(),
        p.harness_url.clone().unwrap_or_default(),
    );
    vars.insert("run_id".into(), run_id.to_string());
    vars.insert("time_scale".into(), cfg.time_scale.to_string());
    vars.insert("scenario_id".into(), s.id.clone());
    // What `signature:` checks judge by: the run's rule set and trust anchors (the harness's
    // own signing CA too when the reference actors sign).
    vars.insert(
        super::signature_check::RULES_VAR.into(),
        crate::fhir::signature::VerifyOptions::rules_of_run(&cfg.rules),
    );
    let mut anchors = cfg.trust_anchors.clone();
    if matches!(cfg.sut, Sut::Reference(_)) {
        anchors.push(crate::fhir::signature::TestPki::shared().ca_der());
    }
    vars.insert(
        super::signature_check::TRUST_VAR.into(),
        super::signature_check::trust_var(&anchors),
    );
    // Pack and scenario variables may be templates; outside values are taken as given.
    let mut layered: BTreeMap<&String, &String> = pack.vars.iter().collect();
    if matches!(cfg.sut, Sut::Reference(_)) {
        layered.extend(pack.reference_vars.iter());
    }
    layered.extend(s.vars.iter());
    let mut pending: Vec<(&String, String)> = layered
        .into_iter()
        .filter(|(k, _)| !cfg.vars.contains_key(*k))
        .map(|(k, v)| (k, v.clone()))
        .collect();
    // Render in passes so variables can build on each other, in any order.
    for _ in 0..=pending.len() {
        let mut progressed = false;
        pending.retain(|(k, v)| match render(v, &vars) {
            Ok(value) => {
                vars.insert((*k).clone(), value);
                progressed = true;
                false
            }
            Err(_) => true,
        });
        if pending.is_empty() || !progressed {
            break;
        }
    }
    // What cannot be rendered (a cycle) is kept as written; the step that uses it says so.
    for (k, v) in pending {
        vars.insert(k.clone(), v);
    }
    vars
}

/// Everything whose value must never appear in results.
pub fn redactor(pack: &Pack, cfg: &RunConfig, vars: &Vars) -> Redactor {
    let mut secrets: Vec<String> = pack
        .secrets
        .iter()
        .chain(cfg.secret_names.iter())
        .filter_map(|n| vars.get(n).cloned())
        .collect();
    secrets.extend(cfg.secrets.iter().cloned());
    for (_, v) in &cfg.headers {
        secrets.push(v.clone());
        // The credential alone, without its scheme.
        if let Some((_, cred)) = v.split_once(' ') {
            secrets.push(cred.to_string());
        }
    }
    Redactor::new(secrets).with_bodies(cfg.bodies.clone())
}

pub async fn run(
    pack: &Pack,
    s: &Scenario,
    cfg: &RunConfig,
    env: &mut Environment,
    run_id: &str,
    cancel: watch::Receiver<bool>,
) -> ScenarioResult {
    let clock = Instant::now();
    let mut result = not_run(s, "");
    result.message = None;

    let mut prepared = match env.prepare(s).await {
        Ok(p) => p,
        Err(e) => return errored(result, s, &e, clock),
    };
    let mut vars = variables(pack, s, cfg, &prepared, run_id);
    if let Some(why) = unmet_requirement(s, &vars) {
        env.idle();
        let mut r = not_applicable(s, &why);
        r.duration_ms = clock.elapsed().as_secs_f64() * 1000.0;
        return r;
    }
    let redactor = redactor(pack, cfg, &vars);
    if let Err(e) = env.install(pack, s, &vars, &mut prepared) {
        env.idle();
        return errored(result, s, &e, clock);
    }

    let mut outcomes: BTreeMap<String, Status> = BTreeMap::new();
    let mut step_results = Vec::new();
    let mut ctx = StepCtx {
        pack,
        scenario: s,
        cfg,
        env,
        prepared: &prepared,
        redactor: &redactor,
        cancel,
        triggers: Vec::new(),
        taken: Default::default(),
        shown_upto: 0,
        sent: Vec::new(),
        step_times: Default::default(),
    };
    for step in &s.steps {
        let skip_reason = if *ctx.cancel.borrow() {
            Some((Status::NotRun, "the run was interrupted".to_string()))
        } else if let Some(n) = step
            .needs
            .iter()
            .find(|n| !matches!(outcomes.get(*n), Some(Status::Passed | Status::Warned)))
        {
            Some((
                Status::Skipped,
                format!("needs step `{n}`, which did not pass"),
            ))
        } else if let Some((var, from)) = step
            .uses_captures
            .iter()
            .find(|(v, _)| !vars.contains_key(v))
        {
            Some((
                Status::Skipped,
                format!("uses `{{{{{var}}}}}`, which step `{from}` did not capture"),
            ))
        } else {
            None
        };
        let r: StepResult = match skip_reason {
            Some((status, why)) => steps::skipped(step, status, &why),
            None => steps::run(&mut ctx, step, &mut vars).await,
        };
        if let Some(cb) = &cfg.on_progress {
            super::progress::step_finished(&s.id, &r)
                .into_iter()
                .for_each(|p| cb(p));
        }
        outcomes.insert(step.id.clone(), r.status);
        step_results.push(r);
    }
    steps::finish_triggers(&mut ctx, &mut step_results).await;
    steps::show_leftovers(&mut ctx, &mut step_results);
    steps::note_task_statuses(&mut ctx);
    ctx.env.idle();

    result.status =
        step_results
            .iter()
            .map(|r| r.status)
            .fold(Status::Passed, |acc, st| match st {
                Status::Skipped => acc.worst(Status::Passed),
                other => acc.worst(other),
            });
    if step_results.iter().any(|r| r.status == Status::NotRun) && result.status == Status::Passed {
        result.status = Status::NotRun;
    }
    result.steps = step_results;
    result.duration_ms = clock.elapsed().as_secs_f64() * 1000.0;
    result
}

fn errored(mut result: ScenarioResult, s: &Scenario, why: &str, clock: Instant) -> ScenarioResult {
    result.status = Status::Errored;
    result.message = Some(why.to_string());
    result.steps = s
        .steps
        .iter()
        .map(|st| steps::skipped(st, Status::Skipped, "the scenario could not start"))
        .collect();
    result.duration_ms = clock.elapsed().as_secs_f64() * 1000.0;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::runner::Sut;
    use std::path::Path;

    fn cdex21() -> Pack {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let catalog = Catalog::load(&root.join("catalog/cdex-2.1")).expect("the catalog loads");
        crate::scenario::load_pack(
            &root.join("scenarios/cdex-2.1"),
            &catalog,
            &Default::default(),
        )
        .unwrap_or_else(|d| panic!("the pack loads: {d}"))
    }

    fn prepared(target: &str) -> Prepared {
        Prepared {
            target: Some(target.into()),
            harness_url: None,
            trigger: None,
        }
    }

    /// CONF-015's scenario: its scoped token comes from `reference_vars` in a run against the
    /// reference actors only; against a real target it is `none` (not applicable, never a
    /// pass) until the run gives one.
    #[test]
    fn reference_vars_apply_only_against_the_reference_actors() {
        let pack = cdex21();
        let s = pack
            .scenarios
            .iter()
            .find(|s| s.id == "dss-sec-patient-scope")
            .expect("the scenario is in the pack");
        let given = pack.reference_vars.get("scoped_token").expect("a value");
        assert_ne!(given, "none");

        let reference = RunConfig::new(Sut::Reference(Default::default()));
        let vars = variables(&pack, s, &reference, &prepared("http://127.0.0.1:1"), "r");
        assert_eq!(vars.get("scoped_token"), Some(given));
        assert_eq!(unmet_requirement(s, &vars), None);

        let mut target = RunConfig::new(Sut::External {
            target: Some("http://127.0.0.1:1".into()),
            trigger: None,
        });
        let vars = variables(&pack, s, &target, &prepared("http://127.0.0.1:1"), "r");
        assert_eq!(vars.get("scoped_token").map(String::as_str), Some("none"));
        assert_eq!(
            vars.get("other_patient_id").map(String::as_str),
            Some("none")
        );
        let why = unmet_requirement(s, &vars).expect("not applicable without a scoped token");
        assert!(why.contains("scoped_token"), "{why}");

        // Values given for the run win, against a real system and the reference alike.
        target.vars.insert("scoped_token".into(), "theirs".into());
        target.vars.insert("other_patient_id".into(), "p2".into());
        let vars = variables(&pack, s, &target, &prepared("http://127.0.0.1:1"), "r");
        assert_eq!(vars.get("scoped_token").map(String::as_str), Some("theirs"));
        assert_eq!(unmet_requirement(s, &vars), None);
        let mut reference = reference;
        reference.vars.insert("scoped_token".into(), "mine".into());
        let vars = variables(&pack, s, &reference, &prepared("http://127.0.0.1:1"), "r");
        assert_eq!(vars.get("scoped_token").map(String::as_str), Some("mine"));
    }

    /// A name under `reference_vars` needs its real-system default under `vars`.
    #[test]
    fn a_reference_var_without_a_default_is_refused() {
        let dir = std::env::temp_dir().join(format!("reference-vars-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("pack.yaml"),
            "vars:\n  a: none\nreference_vars:\n  a: x\n  b: y\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("s.yaml"),
            "id: s\ntitle: t\nactor: data-source-server\nsteps:\n  - send: { method: GET, path: \"Patient/{{a}}\" }\n",
        )
        .unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let catalog = Catalog::load(&root.join("catalog/cdex-2.1")).unwrap();
        let err = crate::scenario::load_pack(&dir, &catalog, &Default::default())
            .expect_err("`b` has no default")
            .to_string();
        assert!(err.contains("reference_vars.b"), "{err}");
        assert!(!err.contains("reference_vars.a"), "{err}");
    }
}
