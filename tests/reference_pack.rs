//! The scenario pack against the reference actors, and against deliberately faulty ones.
//!
//! One test per scenario (expected: it passes against the correct reference actors) and one
//! per (fault, requirement) pair (expected: that requirement fails, through the assertion
//! kinds named). Meta-tests prove every requirement of the catalog and every assertion kind
//! is made to fail by at least one fault, and every declared fault is exercised.
//! `cargo test --test reference_pack -- --list` lists them by name.

use cdex_harness::actors::{self, Faults};
use cdex_harness::catalog::Catalog;
use cdex_harness::results::{RunResults, Status};
use cdex_harness::runner::{self, RunConfig, Sut};
use cdex_harness::scenario::{self, Pack};
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// (actor:fault, requirement that must fail, its expected status, assertion kinds that must
/// fail on it). The kind list may be empty when nothing arrives at all.
const EXPECTED: &[(&str, &str, Status, &[&str])] = &[
    (
        "information-server:reject-create",
        "CDEX-IS-PUSH",
        Status::Failed,
        &["status", "resource"],
    ),
    (
        "information-server:reject-update",
        "CDEX-IS-PUSH",
        Status::Failed,
        &["status"],
    ),
    (
        "information-server:no-location",
        "FHIR-CREATE-LOCATION",
        Status::Failed,
        &["header"],
    ),
    (
        "information-server:wrong-content-type",
        "FHIR-JSON-MIME",
        Status::Warned,
        &["header"],
    ),
    (
        "information-server:lose-data",
        "CDEX-PUSH-RECEIVED",
        Status::Failed,
        &["fhirpath", "profile"],
    ),
    (
        "information-server:no-read",
        "CDEX-IS-PULL",
        Status::Failed,
        &["status", "resource"],
    ),
    (
        "information-server:search-empty",
        "CDEX-PULL-RESULTS",
        Status::Failed,
        &["fhirpath"],
    ),
    (
        "information-server:search-not-bundle",
        "CDEX-PULL-RESULTS",
        Status::Failed,
        &["resource", "profile"],
    ),
    (
        "information-server:no-auth",
        "CDEX-PUSH-UNAUTHORIZED",
        Status::Failed,
        &["status", "fhirpath"],
    ),
    (
        "information-server:share-restricted",
        "CDEX-PUSH-PATIENT-NOT-SHAREABLE",
        Status::Failed,
        &["status", "fhirpath"],
    ),
    (
        "information-server:accept-rejected-type",
        "CDEX-PUSH-TYPE-NOT-PERMITTED",
        Status::Failed,
        &["status", "fhirpath"],
    ),
    (
        "information-server:error-but-keep",
        "CDEX-PUSH-PATIENT-NOT-SHAREABLE",
        Status::Failed,
        &["fhirpath"],
    ),
    (
        "information-server:error-but-keep",
        "CDEX-PUSH-TYPE-NOT-PERMITTED",
        Status::Failed,
        &["fhirpath"],
    ),
    (
        "information-server:garbage",
        "CDEX-PULL-RESULTS",
        Status::Failed,
        &["resource", "fhirpath"],
    ),
    (
        "information-client:silent",
        "CDEX-IC-PUSH",
        Status::Failed,
        &[],
    ),
    (
        "information-client:silent",
        "CDEX-IC-PULL",
        Status::Failed,
        &[],
    ),
    (
        "information-client:wrong-content-type",
        "FHIR-CLIENT-JSON-MIME",
        Status::Warned,
        &["header"],
    ),
    (
        "information-client:no-auth",
        "CDEX-CLIENT-AUTHORIZED",
        Status::Warned,
        &["header"],
    ),
    (
        "information-client:post-for-update",
        "CDEX-IC-PUSH",
        Status::Failed,
        &["method", "path"],
    ),
    (
        "information-client:invalid-resource",
        "CDEX-IC-PUSH",
        Status::Failed,
        &["profile"],
    ),
    (
        "information-client:not-json",
        "CDEX-IC-PUSH",
        Status::Failed,
        &["json", "resource"],
    ),
    (
        "information-client:wrong-id",
        "CDEX-IC-PULL",
        Status::Failed,
        &["path"],
    ),
    (
        "information-client:no-search-params",
        "CDEX-IC-PULL",
        Status::Failed,
        &["path"],
    ),
];

/// Every assertion kind of the scenario language.
const KINDS: &[&str] = &[
    "status", "header", "resource", "fhirpath", "profile", "method", "path", "json",
];

fn load() -> (Arc<Catalog>, Arc<Pack>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let catalog =
        Catalog::load(&root.join("catalog/requirements.yaml")).expect("the catalog loads");
    let pack = scenario::load_pack(&root.join("scenarios"), &catalog, &Default::default())
        .expect("the pack loads");
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
    let faults = Faults::parse(&faults.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .expect("known faults");
    let mut cfg = RunConfig::new(Sut::Reference(faults));
    cfg.timeout = Duration::from_secs(5);
    let patterns: Vec<String> = pattern.map(|p| vec![p.to_string()]).unwrap_or_default();
    let selected = runner::select(pack, actor, &patterns);
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
    let (catalog, pack) = load();
    let mut trials = Vec::new();

    for sc in &pack.scenarios {
        let (catalog, pack, id) = (catalog.clone(), pack.clone(), sc.id.clone());
        trials.push(Trial::test(format!("reference::{id}"), move || {
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

    for (fault, req, want, kinds) in EXPECTED {
        let (catalog, pack) = (catalog.clone(), pack.clone());
        let actor = fault.split(':').next().unwrap_or_default().to_string();
        trials.push(Trial::test(format!("fault::{fault}::{req}"), move || {
            let r = run(&pack, &catalog, Some(&actor), None, &[fault]);
            let row = r
                .requirements
                .iter()
                .find(|x| x.id == *req)
                .ok_or("requirement not in the matrix")?;
            if row.status != *want {
                return Err(format!(
                    "with fault {fault}, {req} is {} (expected {}):{}",
                    row.status.as_str(),
                    want.as_str(),
                    explain(&r)
                )
                .into());
            }
            for kind in *kinds {
                let hit = r
                    .scenarios
                    .iter()
                    .flat_map(|s| &s.steps)
                    .flat_map(|st| &st.assertions)
                    .any(|a| {
                        a.requirement.as_deref() == Some(*req)
                            && a.kind == *kind
                            && a.status == *want
                    });
                if !hit {
                    return Err(format!(
                        "with fault {fault}, no `{kind}` assertion on {req} is {}:{}",
                        want.as_str(),
                        explain(&r)
                    )
                    .into());
                }
            }
            if r.exit_code() == 0 && *want == Status::Failed {
                return Err("the run's exit code is 0 although a SHALL failed".into());
            }
            Ok(())
        }));
    }

    {
        let catalog = catalog.clone();
        trials.push(Trial::test(
            "meta::every-requirement-has-a-failing-fault",
            move || {
                let missing: Vec<&str> = catalog
                    .requirements
                    .iter()
                    .map(|r| r.id.as_str())
                    .filter(|id| !EXPECTED.iter().any(|(_, req, _, _)| req == id))
                    .collect();
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(format!("no fault proves these can fail: {missing:?}").into())
                }
            },
        ));
    }
    trials.push(Trial::test(
        "meta::every-assertion-kind-has-a-failing-fault",
        || {
            let missing: Vec<&&str> = KINDS
                .iter()
                .filter(|k| !EXPECTED.iter().any(|(_, _, _, ks)| ks.contains(k)))
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!("no fault makes these assertion kinds fail: {missing:?}").into())
            }
        },
    ));
    trials.push(Trial::test(
        "meta::every-declared-fault-is-exercised",
        || {
            let mut missing = Vec::new();
            for a in actors::registry() {
                for (f, _) in a.faults {
                    let name = format!("{}:{f}", a.name);
                    if !EXPECTED.iter().any(|(x, _, _, _)| *x == name) {
                        missing.push(name);
                    }
                }
            }
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!("faults without an expected failure: {missing:?}").into())
            }
        },
    ));
    {
        let (catalog, pack) = (catalog.clone(), pack.clone());
        trials.push(Trial::test(
            "meta::whole-pack-passes-and-covers-the-catalog",
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

    libtest_mimic::run(&args, trials).exit();
}
