//! The scenario pack against the reference actors, and against deliberately faulty ones.
//!
//! One test per scenario (expected: it passes against the correct reference actors) and one
//! per (fault, requirement) pair (expected: that requirement fails, through the assertion
//! kinds named). Meta-tests prove every requirement of the catalog is made to fail (a text or
//! profile SHALL) or to warn (a reading, a SHOULD) by at least one fault, every assertion kind
//! is made to fail, and every declared fault is exercised; one run proves `--strict` turns a
//! reading's warning into a failure.
//! `cargo test --test reference_pack -- --list` lists them by name.

use cdex_harness::actors::{self, Faults};
use cdex_harness::catalog::Catalog;
use cdex_harness::results::{RunResults, Severity, Status};
use cdex_harness::runner::{self, RunConfig, Sut};
use cdex_harness::scenario::{self, Pack};
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// One expected failure: with `actor:fault` on, `requirement` ends `status`, and at least one
/// assertion of each kind in `kinds` on it does (empty when nothing arrives at all).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    fault: String,
    requirement: String,
    status: Status,
    #[serde(default)]
    kinds: Vec<String>,
    /// Filled from the file name.
    #[serde(skip)]
    actor: String,
}

/// Every `tests/faults/<pack>/<actor>.yaml`.
fn expectations(pack: &str) -> Vec<Expected> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/faults")
        .join(pack);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut all = Vec::new();
    for f in files {
        let actor = f
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let text = std::fs::read_to_string(&f).expect("readable");
        let items: Vec<Expected> =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        all.extend(items.into_iter().map(|mut x| {
            x.actor = actor.clone();
            x
        }));
    }
    all
}

/// Every assertion kind of the scenario language.
const KINDS: &[&str] = &[
    "status", "header", "resource", "fhirpath", "profile", "method", "path", "json",
];

/// The packs shipped in `scenarios/` (each with its catalog in `catalog/`).
fn packs() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut names: Vec<String> = std::fs::read_dir(root)
        .expect("scenarios/")
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn load(name: &str) -> (Arc<Catalog>, Arc<Pack>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let catalog = Catalog::load(&root.join("catalog").join(name))
        .unwrap_or_else(|e| panic!("the catalog of {name} loads: {e}"));
    let pack = scenario::load_pack(
        &root.join("scenarios").join(name),
        &catalog,
        &Default::default(),
    )
    .unwrap_or_else(|e| panic!("the pack {name} loads: {e}"));
    (Arc::new(catalog), Arc::new(pack))
}

/// Run the scenarios selected by actor and id pattern against the reference actors.
fn run(
    pack: &Pack,
    catalog: &Catalog,
    actor: Option<&str>,
    pattern: Option<&str>,
    faults: &[&str],
) -> RunResults {
    run_with(pack, catalog, actor, pattern, faults, false)
}

/// [`run`], strict or not (`run --strict`: readings are enforced as their verb says).
fn run_with(
    pack: &Pack,
    catalog: &Catalog,
    actor: Option<&str>,
    pattern: Option<&str>,
    faults: &[&str],
    strict: bool,
) -> RunResults {
    let faults = Faults::parse(&faults.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .expect("known faults");
    let mut cfg = RunConfig::new(Sut::Reference(faults));
    cfg.timeout = Duration::from_secs(5);
    cfg.strict = strict;
    // As `run` does by default: the scenarios of a trial run side by side, so the verdicts
    // are proved with several at once too.
    cfg.jobs = std::thread::available_parallelism().map_or(1, usize::from);
    let patterns: Vec<String> = pattern.map(|p| vec![p.to_string()]).unwrap_or_default();
    let mut selected = runner::select(pack, actor, &patterns);
    // A fault trial needs only the scenarios that check its requirement (`req:REQ-ID`).
    if let Some(req) = pattern.and_then(|p| p.strip_prefix("req:")) {
        selected = runner::select(pack, actor, &[])
            .into_iter()
            .filter(|s| {
                s.steps
                    .iter()
                    .flat_map(|st| &st.asserts)
                    .any(|a| a.requirement.as_deref() == Some(req))
            })
            .collect();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (_tx, rx) = runner::cancel_pair();
    rt.block_on(runner::run(pack, &selected, catalog, &cfg, rx))
}

fn explain(r: &RunResults) -> String {
    let mut out = String::new();
    for s in &r.scenarios {
        for st in &s.steps {
            if let Some(m) = &st.message {
                out.push_str(&format!(
                    "\n  {}/{} {}: {m}",
                    s.id,
                    st.id,
                    st.status.as_str()
                ));
            }
            for a in st.assertions.iter().filter(|a| a.status != Status::Passed) {
                out.push_str(&format!(
                    "\n  {}/{} [{}] {} {}: {}",
                    s.id,
                    st.id,
                    a.requirement.as_deref().unwrap_or("-"),
                    a.status.as_str(),
                    a.description,
                    a.message.as_deref().unwrap_or("")
                ));
            }
        }
    }
    out
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    for name in packs() {
        pack_trials(&name, &mut trials);
    }
    libtest_mimic::run(&args, trials).exit();
}

/// Every trial of one pack; the 2019 pack's are named without a prefix (as they always were),
/// the others `PACK::...`.
fn pack_trials(name: &str, trials: &mut Vec<Trial>) {
    let (catalog, pack) = load(name);
    let expected = Arc::new(expectations(name));
    let prefix = if name == "cdex-2019" {
        String::new()
    } else {
        format!("{name}::")
    };

    for sc in &pack.scenarios {
        let (catalog, pack, id) = (catalog.clone(), pack.clone(), sc.id.clone());
        trials.push(Trial::test(format!("{prefix}reference::{id}"), move || {
            let r = run(&pack, &catalog, None, Some(&id), &[]);
            let s = &r.scenarios[0];
            if s.status == Status::Passed {
                Ok(())
            } else {
                Err(Failed::from(format!(
                    "{id} is {} against the reference actors:{}",
                    s.status.as_str(),
                    explain(&r)
                )))
            }
        }));
    }

    for x in expected.iter() {
        let (catalog, pack, x) = (catalog.clone(), pack.clone(), x.clone());
        let fault = format!("{}:{}", x.actor, x.fault);
        trials.push(Trial::test(
            format!("{prefix}fault::{fault}::{}", x.requirement),
            move || {
                let only = format!("req:{}", x.requirement);
                let r = run(
                    &pack,
                    &catalog,
                    Some(&x.actor),
                    Some(&only),
                    &[fault.as_str()],
                );
                let row = r
                    .requirements
                    .iter()
                    .find(|row| row.id == x.requirement)
                    .ok_or("requirement not in the matrix")?;
                if row.status != x.status {
                    return Err(format!(
                        "with fault {fault}, {} is {} (expected {}):{}",
                        x.requirement,
                        row.status.as_str(),
                        x.status.as_str(),
                        explain(&r)
                    )
                    .into());
                }
                for kind in &x.kinds {
                    let hit = r
                        .scenarios
                        .iter()
                        .flat_map(|s| &s.steps)
                        .flat_map(|st| &st.assertions)
                        .any(|a| {
                            a.requirement.as_deref() == Some(x.requirement.as_str())
                                && a.kind == *kind
                                && a.status == x.status
                        });
                    if !hit {
                        return Err(format!(
                            "with fault {fault}, no `{kind}` assertion on {} is {}:{}",
                            x.requirement,
                            x.status.as_str(),
                            explain(&r)
                        )
                        .into());
                    }
                }
                if r.exit_code() == 0 && matches!(x.status, Status::Skipped | Status::Errored) {
                    return Err(format!(
                        "with fault {fault}, {} could not be judged, yet the run passes",
                        x.requirement
                    )
                    .into());
                }
                if r.exit_code() == 0 && x.status == Status::Failed {
                    return Err("the run's exit code is 0 although a SHALL failed".into());
                }
                Ok(())
            },
        ));
    }

    {
        let (catalog, expected) = (catalog.clone(), expected.clone());
        trials.push(Trial::test(
            format!("{prefix}meta::every-requirement-is-made-to-fail-or-warn"),
            move || {
                // A text or profile SHALL must be made to fail; a reading (or a SHOULD) can
                // only warn, so it must be made to warn.
                let missing: Vec<String> = catalog
                    .requirements
                    .iter()
                    .filter(|r| r.untestable.is_none())
                    .filter_map(|r| {
                        let status = match r.severity() {
                            Severity::Required => Status::Failed,
                            _ => Status::Warned,
                        };
                        let proved = expected
                            .iter()
                            .any(|x| x.requirement == r.id && x.status == status);
                        (!proved).then(|| format!("{} ({})", r.id, status.as_str()))
                    })
                    .collect();
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(format!("no fault proves these end as shown: {missing:?}").into())
                }
            },
        ));
    }
    if name == "cdex-2019" {
        let (catalog, pack) = (catalog.clone(), pack.clone());
        trials.push(Trial::test(
            format!("{prefix}strict::a-reading-fails-under-strict"),
            move || {
                // CDEX-RCP-REFUSE-INVALID is a reading: with the fault it warns (tests/faults);
                // under --strict it fails the run, except its check marked `severity:
                // recommended` in the scenario (the OperationOutcome), which still only warns.
                let faults = ["information-recipient:accept-invalid"];
                let id = "CDEX-RCP-REFUSE-INVALID";
                let r = run_with(
                    &pack,
                    &catalog,
                    Some("information-recipient"),
                    None,
                    &faults,
                    true,
                );
                let row = r
                    .requirements
                    .iter()
                    .find(|row| row.id == id)
                    .ok_or("requirement not in the matrix")?;
                if row.status != Status::Failed || r.exit_code() == 0 {
                    return Err(format!(
                        "under --strict, {id} is {} and the exit code {}:{}",
                        row.status.as_str(),
                        r.exit_code(),
                        explain(&r)
                    )
                    .into());
                }
                let outcome = r
                    .scenarios
                    .iter()
                    .flat_map(|s| &s.steps)
                    .flat_map(|st| &st.assertions)
                    .find(|a| a.requirement.as_deref() == Some(id) && a.kind == "resource")
                    .ok_or("no OperationOutcome check")?;
                if outcome.status != Status::Warned {
                    return Err(format!(
                        "the explicitly recommended check is {} under --strict",
                        outcome.status.as_str()
                    )
                    .into());
                }
                Ok(())
            },
        ));
    }
    {
        let catalog = catalog.clone();
        trials.push(Trial::test(
            format!("{prefix}meta::docs-requirements-gives-each-requirement-its-basis"),
            move || {
                let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/requirements.md");
                let doc = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
                let wrong: Vec<&str> = catalog
                    .requirements
                    .iter()
                    .filter(|r| {
                        let row = format!("| [{}](<{}>) | {} |", r.id, r.url, r.basis);
                        !doc.contains(&row)
                    })
                    .map(|r| r.id.as_str())
                    .collect();
                if wrong.is_empty() {
                    Ok(())
                } else {
                    Err(format!(
                        "docs/requirements.md has no line with the url and basis of: {wrong:?}"
                    )
                    .into())
                }
            },
        ));
    }
    {
        let (pack, expected) = (pack.clone(), expected.clone());
        trials.push(Trial::test(
            format!("{prefix}meta::every-assertion-kind-has-a-failing-fault"),
            move || {
                // Every kind of the scenario language the 2019 pack proves; every kind a
                // later pack uses.
                let mut kinds: Vec<&str> = pack
                    .scenarios
                    .iter()
                    .flat_map(|s| &s.steps)
                    .flat_map(|st| &st.asserts)
                    .map(|a| a.kind.name())
                    .filter(|k| *k != "received")
                    .collect();
                if pack.root.ends_with("cdex-2019") {
                    kinds.extend(KINDS);
                }
                kinds.sort();
                kinds.dedup();
                let missing: Vec<&str> = kinds
                    .into_iter()
                    .filter(|k| !expected.iter().any(|x| x.kinds.iter().any(|y| y == *k)))
                    .collect();
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(format!("no fault makes these assertion kinds fail: {missing:?}").into())
                }
            },
        ));
    }
    {
        let (catalog, expected) = (catalog.clone(), expected.clone());
        trials.push(Trial::test(
            format!("{prefix}meta::every-declared-fault-is-exercised"),
            move || {
                let mut missing = Vec::new();
                for a in actors::registry()
                    .iter()
                    .filter(|a| catalog.actors.contains_key(a.name))
                {
                    for (f, _) in a.faults {
                        if !expected.iter().any(|x| x.actor == a.name && x.fault == *f) {
                            missing.push(format!("{}:{f}", a.name));
                        }
                    }
                }
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(
                        format!("faults without an expected failure in tests/faults/: {missing:?}")
                            .into(),
                    )
                }
            },
        ));
    }
    {
        let (catalog, pack) = (catalog.clone(), pack.clone());
        trials.push(Trial::test(
            format!("{prefix}meta::whole-pack-passes-and-covers-the-catalog"),
            move || {
                let r = run(&pack, &catalog, None, None, &[]);
                if r.exit_code() != 0 {
                    return Err(format!(
                        "the whole pack fails against the reference actors:{}",
                        explain(&r)
                    )
                    .into());
                }
                let uncovered: Vec<&str> = r
                    .requirements
                    .iter()
                    .filter(|x| {
                        catalog
                            .requirement(&x.id)
                            .is_none_or(|q| q.untestable.is_none())
                    })
                    .filter(|x| x.status != Status::Passed)
                    .map(|x| x.id.as_str())
                    .collect();
                if uncovered.is_empty() {
                    Ok(())
                } else {
                    Err(format!("requirements not passed by the pack: {uncovered:?}").into())
                }
            },
        ));
    }
}
