//! `run --testscript`, `testscript check`, `testscript export`.

use super::check::{self, Unsupported};
use super::load::{self, Loaded};
use super::lower::{self, Lowered};
use crate::cli::run::{RunArgs, parse_var, run_headers};
use crate::cli::{EXIT_USAGE, config};
use crate::runner::{self, RunConfig, Sut};
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum TestscriptCommand {
    /// Say what of each script the harness runs, and for what it does not, the element path
    /// and the reason (exit 2 when something is unsupported)
    Check(CheckArgs),
    /// Write the scenarios where the harness is the client as TestScripts
    Export(super::export::ExportArgs),
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// A TestScript (JSON or XML) or a folder of them
    #[arg(value_name = "FILE|DIR")]
    pub path: PathBuf,
}

pub async fn command(c: TestscriptCommand) -> i32 {
    match c {
        TestscriptCommand::Check(a) => check_command(&a.path),
        TestscriptCommand::Export(a) => super::export::export_command(a).await,
    }
}

fn usage(msg: impl std::fmt::Display) -> i32 {
    eprintln!("error: {msg}");
    EXIT_USAGE
}

fn check_command(path: &Path) -> i32 {
    let scripts = match load::load(path) {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    let mut bad = 0;
    for l in &scripts {
        let r = check::check(l);
        let verdict = if r.unsupported.is_empty() {
            "supported".to_string()
        } else {
            bad += 1;
            format!("{} unsupported element(s)", r.unsupported.len())
        };
        println!(
            "{} (TestScript {}): {verdict}; {} operation(s), {} assert(s)",
            l.file.display(),
            l.id(),
            r.operations,
            r.asserts
        );
        for u in &r.unsupported {
            println!("  unsupported: {}: {}", u.path, u.reason);
        }
        for n in &r.notes {
            println!("  note: {n}");
        }
    }
    if bad > 0 {
        println!(
            "{bad} of {} script(s) use something the harness does not run: `run --testscript` refuses them unless --skip-unsupported",
            scripts.len()
        );
        EXIT_USAGE
    } else {
        0
    }
}

/// Load, check and lower the scripts; `Err` is the message of a refusal (exit 2).
pub async fn prepare(
    path: &Path,
    actor: Option<&str>,
    skip_unsupported: bool,
    client: bool,
) -> Result<(Vec<Lowered>, Vec<String>), String> {
    let scripts: Vec<Loaded> = load::load(path)?;
    let mut lowered = Vec::new();
    let mut notes = Vec::new();
    let mut refusals = Vec::new();
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    for l in scripts {
        let r = check::check(&l);
        let (script_level, actions): (Vec<&Unsupported>, Vec<&Unsupported>) =
            r.unsupported.iter().partition(|u| u.action.is_none());
        if !r.unsupported.is_empty() && !skip_unsupported {
            for u in &r.unsupported {
                refusals.push(format!("{}: {}: {}", l.file.display(), u.path, u.reason));
            }
            continue;
        }
        if !script_level.is_empty() {
            for u in &script_level {
                notes.push(format!(
                    "TestScript {} was not run: {}: {}",
                    l.id(),
                    u.path,
                    u.reason
                ));
            }
            continue;
        }
        for u in &actions {
            notes.push(format!(
                "TestScript {}: skipped {}: {}",
                l.id(),
                u.path,
                u.reason
            ));
        }
        let opts = lower::Options {
            actor: actor
                .unwrap_or(if client {
                    "information-client"
                } else {
                    "information-server"
                })
                .to_string(),
            client,
            actor_given: actor.is_some(),
            unsupported: actions.into_iter().cloned().collect(),
        };
        let mut low = lower::lower(&l, &opts)
            .await
            .map_err(|e| format!("{}: {e}", l.file.display()))?;
        let n = ids.entry(low.scenario.id.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            low.scenario.id = format!("{}-{n}", low.scenario.id);
        }
        lowered.push(low);
    }
    if !refusals.is_empty() {
        return Err(format!(
            "the TestScripts use what the harness does not run (nothing was run; `cdex-harness testscript check` lists it, --skip-unsupported runs the rest):\n  {}",
            refusals.join("\n  ")
        ));
    }
    if lowered.is_empty() {
        return Err(format!(
            "no TestScript in {} could be run:\n  {}",
            path.display(),
            notes.join("\n  ")
        ));
    }
    Ok((lowered, notes))
}

/// `run --testscript`.
pub async fn run(args: RunArgs) -> i32 {
    let cfg_file = match &args.config {
        Some(p) => match config::load(p) {
            Ok(c) => c,
            Err(e) => return usage(e),
        },
        None => config::Config::default(),
    };
    let target = args.target.clone().or(cfg_file.target.clone());
    if let Some(t) = &target
        && !(t.starts_with("http://") || t.starts_with("https://"))
    {
        return usage(format!("--target `{t}` must be an http:// or https:// URL"));
    }
    let mut vars: BTreeMap<String, String> = cfg_file.vars.clone();
    for v in &args.vars {
        match parse_var(v) {
            Ok((k, v)) => {
                vars.insert(super::vars::key(&k), v.clone());
                vars.insert(k, v);
            }
            Err(e) => return usage(e),
        }
    }
    let headers = match run_headers(&cfg_file.headers, &args.headers) {
        Ok(h) => h,
        Err(e) => return usage(e),
    };
    let timeout = match args
        .timeout
        .as_deref()
        .or(cfg_file.timeout.as_deref())
        .map(crate::scenario::load::parse_duration)
    {
        Some(Ok(d)) => d,
        Some(Err(e)) => return usage(format!("--timeout: {e}")),
        None => std::time::Duration::from_secs(10),
    };
    let sut = match &target {
        Some(t) => Sut::External {
            target: Some(t.clone()),
            trigger: None,
        },
        None if args.trigger.is_some() || args.listen.is_some() || cfg_file.trigger.is_some() => {
            Sut::External {
                target: None,
                trigger: args.trigger.clone().or(cfg_file.trigger.clone()),
            }
        }
        None => match crate::actors::Faults::parse(&args.faults) {
            Ok(f) => Sut::Reference(f),
            Err(e) => return usage(e),
        },
    };
    // A pack, when named, gives the reference actors' settings, headers, secrets and
    // variable defaults (how exported scenarios run as they do in their pack).
    let pack_named = args.pack.pack.is_some() || args.pack.scenarios.is_some();
    let mut pack = if pack_named {
        match crate::cli::load(&args.pack, vars.keys().cloned().collect()) {
            Some((_, p)) => p,
            None => return EXIT_USAGE,
        }
    } else {
        crate::scenario::Pack::default()
    };
    let actor = args.actor.clone().or(cfg_file.actor.clone());
    let path = args.testscript.clone().expect("--testscript");
    // A client under test (--listen or --trigger, no --target): the harness awaits each
    // operation at its endpoint instead of sending it.
    let trigger = args.trigger.clone().or(cfg_file.trigger.clone());
    let listen = args.listen.clone().or(cfg_file.listen.clone());
    let client = target.is_none() && (trigger.is_some() || listen.is_some());
    let (lowered, notes) =
        match prepare(&path, actor.as_deref(), args.skip_unsupported, client).await {
            Ok(x) => x,
            Err(e) => return usage(e),
        };
    for n in &notes {
        eprintln!("note: {n}");
    }
    pack.root = if path.is_dir() {
        path.clone()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    pack.scenarios = lowered.iter().map(|l| l.scenario.clone()).collect();
    // A script's own requestHeaders are what it sends: the pack's headers (given with
    // --pack for its reference settings) are not added (they would undo an omitted one).
    pack.headers.clear();
    let catalog = crate::catalog::Catalog {
        actors: Default::default(),
        options: Default::default(),
        rule_sets: Vec::new(),
        requirements: Vec::new(),
    };
    let mut cfg = RunConfig::new(sut);
    // Scripts of an option (the harness's own extension on exported scripts) run unless
    // --option says which options the system claims.
    cfg.options = if args.options.is_empty() {
        runner::Options::All
    } else {
        let set: std::collections::BTreeSet<String> = args
            .options
            .iter()
            .flat_map(|o| o.split(','))
            .map(|o| o.trim().to_string())
            .collect();
        if set.contains("all") {
            runner::Options::All
        } else {
            runner::Options::Only(set)
        }
    };
    cfg.timeout = timeout;
    if let Some(l) = &listen {
        match l.parse() {
            Ok(a) => cfg.listen = a,
            Err(e) => return usage(format!("--listen: {e} (write e.g. 127.0.0.1:8090)")),
        }
    }
    cfg.public_url = args.public_url.clone().or(cfg_file.public_url.clone());
    cfg.vars = vars;
    cfg.headers = headers;
    cfg.secret_names = cfg_file.secrets.clone();
    cfg.client_tls = crate::http::tls::ClientTls {
        ca_files: args.ca_certs.clone(),
        client_cert: args.client_cert.clone(),
        client_key: args.client_key.clone(),
    };
    let selected: Vec<&crate::scenario::Scenario> = pack.scenarios.iter().collect();
    eprintln!(
        "cdex-harness: running {} TestScript(s) against {}",
        selected.len(),
        target.as_deref().unwrap_or("the built-in reference actors")
    );
    let (_tx, cancel) = runner::cancel_pair();
    let mut results = runner::run(&pack, &selected, &catalog, &cfg, cancel).await;
    results.notes.extend(notes);
    if let Err(e) = crate::report::console::print(&results, args.verbose) {
        eprintln!("warning: the console summary could not be printed: {e}");
    }
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports/latest"));
    let paths = crate::report::ReportPaths::in_dir(
        &out_dir,
        args.html.clone(),
        args.junit.clone(),
        args.json.clone(),
    );
    match crate::report::write_all(&results, &paths) {
        Ok(written) => {
            for p in written {
                eprintln!("wrote {}", p.display());
            }
        }
        Err(e) => {
            eprintln!("error: the reports could not be written: {e:#}");
            return crate::cli::EXIT_IO;
        }
    }
    if let Some(dest) = &args.testreport {
        let issued = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let single = lowered.len() == 1 && dest.extension().is_some_and(|e| e == "json");
        for l in &lowered {
            let Some(r) = results.scenarios.iter().find(|s| s.id == l.scenario.id) else {
                continue;
            };
            let report = super::report::test_report(l, r, &results.target, &issued);
            let file = if single {
                dest.clone()
            } else {
                dest.join(format!("{}.testreport.json", l.scenario.id))
            };
            let written = file
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|_| {
                    std::fs::write(
                        &file,
                        serde_json::to_vec_pretty(&report).unwrap_or_default(),
                    )
                });
            match written {
                Ok(()) => eprintln!("wrote {}", file.display()),
                Err(e) => {
                    eprintln!("error: cannot write {}: {e}", file.display());
                    return crate::cli::EXIT_IO;
                }
            }
        }
    }
    results.exit_code()
}
