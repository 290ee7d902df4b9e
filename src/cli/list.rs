//! `cdex-harness list`, `requirements` and `check`.

use super::{EXIT_FAIL, EXIT_PASS, EXIT_USAGE, PackArgs};
use crate::catalog::Basis;
use crate::catalog::coverage::{Coverage, RequirementCoverage, coverage_of};
use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum What {
    Scenarios,
    Actors,
    Requirements,
    Actions,
    Faults,
    Options,
    Packs,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// What to list
    #[arg(value_enum, default_value = "scenarios")]
    pub what: What,
    #[command(flatten)]
    pub pack: PackArgs,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
    /// Only what concerns this actor (the system under test of a scenario; the actor of a
    /// requirement, action or fault)
    #[arg(long, value_name = "ACTOR")]
    pub actor: Option<String>,
    /// Only the scenarios with this option, e.g. task-based, notified-pull (repeatable: all of them)
    #[arg(long = "option", value_name = "OPTION")]
    pub options: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RequirementsArgs {
    #[command(flatten)]
    pub pack: PackArgs,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when any requirement is not covered by an assertion
    #[arg(long)]
    pub strict: bool,
    /// Only the requirements that bind this actor
    #[arg(long, value_name = "ACTOR")]
    pub actor: Option<String>,
    /// Only the requirements of a system claiming this option: those of no option and those
    /// of the option (`task-based`, `notified-pull`, or `all`; repeatable). Default: all
    #[arg(long = "option", value_name = "OPTION")]
    pub options: Vec<String>,
}

fn json_out(v: &impl serde::Serialize) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: {e}"),
    }
}

/// Print rows as columns, each as wide as its widest cell (tabled, already built for the
/// FHIRPath engine), the last one unpadded.
fn print_table(rows: Vec<Vec<String>>) {
    use tabled::settings::{Padding, Style};
    if rows.is_empty() {
        return;
    }
    let mut table = tabled::builder::Builder::from(rows).build();
    table.with(Style::blank()).with(Padding::new(0, 2, 0, 0));
    for line in table.to_string().lines() {
        println!("{}", line.trim_end());
    }
}

/// Check the filters of `list`: known actor and options, options for scenarios only.
fn check_filters(
    args: &ListArgs,
    catalog: &crate::catalog::Catalog,
    pack: &crate::scenario::Pack,
) -> Result<(), String> {
    if let Some(a) = &args.actor
        && !catalog.actors.contains_key(a)
    {
        let known = catalog.actors.keys().map(String::as_str);
        return Err(format!(
            "--actor: {}",
            crate::suggest::unknown("actor", "actors", a, known)
        ));
    }
    if !args.options.is_empty() && !matches!(args.what, What::Scenarios) {
        return Err("--option filters `list scenarios` only".into());
    }
    let mut known: Vec<&str> = pack
        .scenarios
        .iter()
        .flat_map(|s| s.options.iter().map(String::as_str))
        .chain(
            crate::actors::registry()
                .iter()
                .flat_map(|a| a.options.iter().copied()),
        )
        .collect();
    known.sort();
    known.dedup();
    for o in &args.options {
        if !known.contains(&o.as_str()) {
            return Err(format!(
                "--option: {}",
                crate::suggest::unknown("option", "options", o, known.iter().copied())
            ));
        }
    }
    Ok(())
}

pub fn list(args: ListArgs) -> i32 {
    let Some((catalog, pack)) = super::load(&args.pack, Vec::new()) else {
        return EXIT_USAGE;
    };
    if let Err(e) = check_filters(&args, &catalog, &pack) {
        eprintln!("error: {e}");
        return EXIT_USAGE;
    }
    let actor = args.actor.as_deref();
    let for_actor = |name: &str| actor.is_none_or(|a| a == name);
    match args.what {
        What::Packs => return list_packs(&args),
        What::Scenarios => {
            let scenarios: Vec<&crate::scenario::Scenario> =
                crate::runner::select(&pack, actor, &[])
                    .into_iter()
                    .filter(|s| args.options.iter().all(|o| s.options.contains(o)))
                    .collect();
            if args.json {
                let rows: Vec<serde_json::Value> = scenarios
                    .iter()
                    .map(|s| serde_json::json!({"id": s.id, "title": s.title, "actor": s.actor, "plays": s.plays, "options": s.options, "file": s.file, "steps": s.steps.len()}))
                    .collect();
                json_out(&rows);
            } else {
                let mut rows = vec![vec![
                    "ID".to_string(),
                    "ACTOR".into(),
                    "OPTIONS".into(),
                    "TITLE".into(),
                ]];
                rows.extend(scenarios.iter().map(|s| {
                    let options = if s.options.is_empty() {
                        "-".to_string()
                    } else {
                        s.options.join(",")
                    };
                    vec![s.id.clone(), s.actor.clone(), options, s.title.clone()]
                }));
                print_table(rows);
                println!(
                    "\n{} scenario(s) in {}",
                    scenarios.len(),
                    pack.root.display()
                );
            }
        }
        What::Actors => {
            if args.json {
                let actors: std::collections::BTreeMap<_, _> = catalog
                    .actors
                    .iter()
                    .filter(|(name, _)| for_actor(name))
                    .collect();
                json_out(&actors);
            } else {
                let mut rows = Vec::new();
                for (name, a) in catalog.actors.iter().filter(|(n, _)| for_actor(n)) {
                    let n = pack.scenarios.iter().filter(|s| &s.actor == name).count();
                    let variants: Vec<String> = crate::actors::registry()
                        .iter()
                        .filter(|spec| spec.name == name)
                        .map(|spec| {
                            let sides = match (spec.serves, !spec.actions.is_empty()) {
                                (true, true) => "server+client",
                                (true, false) => "server",
                                (false, true) => "client",
                                (false, false) => "-",
                            };
                            let option = if spec.options.is_empty() {
                                "plain".to_string()
                            } else {
                                spec.options.join("+")
                            };
                            format!("{option}: {sides}")
                        })
                        .collect();
                    let reference = if variants.is_empty() {
                        "no reference actor".to_string()
                    } else {
                        variants.join(", ")
                    };
                    rows.push(vec![
                        name.clone(),
                        format!("{n} scenario(s)"),
                        format!("harness plays {}", a.counterpart),
                        format!("reference {reference}"),
                    ]);
                }
                print_table(rows);
            }
        }
        What::Requirements => {
            let reqs: Vec<_> = catalog
                .requirements
                .iter()
                .filter(|r| for_actor(&r.actor))
                .collect();
            if args.json {
                json_out(&reqs);
            } else {
                print_table(
                    reqs.iter()
                        .map(|r| {
                            vec![
                                r.id.clone(),
                                r.verb.clone(),
                                r.basis.as_str().to_string(),
                                r.actor.clone(),
                                r.text.clone(),
                            ]
                        })
                        .collect(),
                );
            }
        }
        What::Actions => {
            let rows: Vec<(String, String)> = crate::actors::action_table()
                .into_iter()
                .filter(|(a, _)| for_actor(a))
                .collect();
            if args.json {
                json_out(&rows);
            } else {
                print_table(
                    rows.into_iter()
                        .map(|(actor, action)| vec![action, format!("performed by {actor}")])
                        .collect(),
                );
                println!("\nsee docs/actions.md for the environment each action receives");
            }
        }
        What::Options => {
            if args.json {
                json_out(&catalog.options);
            } else {
                let width = catalog.options.keys().map(|k| k.len()).max().unwrap_or(0);
                for (name, o) in &catalog.options {
                    let n = pack
                        .scenarios
                        .iter()
                        .filter(|s| s.options.contains(name))
                        .count();
                    println!(
                        "{name:<width$}  {n:>2} scenario(s)  {} (actors: {})",
                        o.title,
                        o.actors.join(", ")
                    );
                }
                println!(
                    "\na system claims an option with `run --option NAME` (repeatable, or `all`); without one, its scenarios are not applicable"
                );
            }
        }
        What::Faults => {
            let rows: Vec<(String, String, String)> = crate::actors::registry()
                .iter()
                .filter(|a| for_actor(a.name))
                .flat_map(|a| {
                    a.faults
                        .iter()
                        .map(move |(f, d)| (a.name.to_string(), f.to_string(), d.to_string()))
                })
                .collect();
            // An actor's option implementations often share its faults: list each once.
            let mut seen = std::collections::BTreeSet::new();
            let rows: Vec<_> = rows
                .into_iter()
                .filter(|(a, f, _)| seen.insert((a.clone(), f.clone())))
                .collect();
            if args.json {
                json_out(&rows);
            } else {
                print_table(
                    rows.into_iter()
                        .map(|(a, f, d)| vec![format!("{a}:{f}"), d])
                        .collect(),
                );
            }
        }
    }
    EXIT_PASS
}

pub fn requirements(args: RequirementsArgs) -> i32 {
    let Some((catalog, pack)) = super::load(&args.pack, Vec::new()) else {
        return EXIT_USAGE;
    };
    if let Some(actor) = &args.actor
        && !catalog.actors.contains_key(actor)
    {
        let known: Vec<&str> = catalog.actors.keys().map(String::as_str).collect();
        eprintln!(
            "error: --actor `{actor}` is not a CDex actor; the actors are {}",
            known.join(", ")
        );
        if let Some(c) = crate::suggest::closest(actor, known.iter().copied()) {
            eprintln!("  hint: did you mean {c}?");
        }
        return EXIT_USAGE;
    }
    for o in &args.options {
        let known: Vec<&str> = catalog.options.keys().map(String::as_str).collect();
        if o != "all" && !known.contains(&o.as_str()) {
            eprintln!(
                "error: --option `{o}` is not a CDex option; the options are {} (or all)",
                known.join(", ")
            );
            // A typo, or the start of a name (`task` for `task-based`).
            let hint = crate::suggest::closest(o, known.iter().copied())
                .or_else(|| known.iter().copied().find(|k| k.starts_with(o.as_str())));
            if let Some(c) = hint {
                eprintln!("  hint: did you mean {c}?");
            }
            return EXIT_USAGE;
        }
    }
    let all_options = args.options.is_empty() || args.options.iter().any(|o| o == "all");
    let cov = coverage_of(&catalog, &pack, |r| {
        args.actor.as_ref().is_none_or(|a| &r.actor == a)
            && (all_options || r.option.as_ref().is_none_or(|o| args.options.contains(o)))
    });
    if args.json {
        json_out(&cov);
    } else {
        print_requirements(&cov);
    }
    if args.strict && cov.covered < cov.total {
        EXIT_FAIL
    } else {
        EXIT_PASS
    }
}

/// `list packs`: each pack shipped, its actors and how many scenarios and requirements.
fn list_packs(args: &ListArgs) -> i32 {
    let mut rows = vec![vec![
        "PACK".to_string(),
        "SCENARIOS".into(),
        "REQUIREMENTS".into(),
        "ACTORS".into(),
    ]];
    let mut json = Vec::new();
    for name in PackArgs::known_packs() {
        let p = PackArgs {
            pack: Some(name.clone()),
            ..Default::default()
        };
        let Some((catalog, pack)) = super::load(&p, Vec::new()) else {
            return EXIT_USAGE;
        };
        let actors: Vec<&str> = catalog.actors.keys().map(String::as_str).collect();
        let default = if name == super::DEFAULT_PACK {
            " (default)"
        } else {
            ""
        };
        json.push(serde_json::json!({"pack": name, "default": !default.is_empty(), "scenarios": pack.scenarios.len(), "requirements": catalog.requirements.len(), "actors": actors}));
        rows.push(vec![
            format!("{name}{default}"),
            pack.scenarios.len().to_string(),
            catalog.requirements.len().to_string(),
            actors.join(", "),
        ]);
    }
    if args.json {
        json_out(&json);
    } else {
        print_table(rows);
        println!("\npick one with --pack NAME (run, list, requirements, check, simulate)");
    }
    EXIT_PASS
}

/// The text form of `requirements`: one aligned line per requirement (id, verb, basis,
/// actor, option, coverage), then what it says, where it comes from and what proves it.
fn print_requirements(cov: &Coverage) {
    let width = |f: &dyn Fn(&RequirementCoverage) -> usize, title: &str| {
        cov.requirements
            .iter()
            .map(f)
            .chain([title.len()])
            .max()
            .unwrap_or(0)
    };
    let w_id = width(&|r| r.id.len(), "REQUIREMENT");
    let w_verb = width(&|r| r.verb.len(), "VERB");
    let w_basis = width(&|r| r.basis.as_str().len(), "BASIS");
    let w_actor = width(&|r| r.actor.len(), "ACTOR");
    let w_option = width(&|r| r.option.as_deref().unwrap_or("-").len(), "OPTION");
    println!(
        "{:<w_id$}  {:<w_verb$}  {:<w_basis$}  {:<w_actor$}  {:<w_option$}  COVERAGE",
        "REQUIREMENT", "VERB", "BASIS", "ACTOR", "OPTION"
    );
    for r in &cov.requirements {
        let mark = if r.untestable.is_some() {
            "not testable"
        } else if r.assertions.is_empty() {
            "NOT COVERED"
        } else {
            "covered"
        };
        println!(
            "{:<w_id$}  {:<w_verb$}  {:<w_basis$}  {:<w_actor$}  {:<w_option$}  {mark}",
            r.id,
            r.verb,
            r.basis.as_str(),
            r.actor,
            r.option.as_deref().unwrap_or("-"),
        );
        println!("    {}", r.text);
        if let (Some(p), Some(c)) = (&r.profile, &r.constraint) {
            println!("    profile: {p} ({c})");
        }
        if let Some(why) = &r.rationale {
            println!("    reading: {why}");
        }
        if let Some(why) = &r.untestable {
            println!("    not testable: {why}");
        }
        if let Some(since) = &r.since {
            println!("    rule set: {since}");
        }
        println!("    source: {}", r.source);
        println!("    url: {}", r.url);
        for a in &r.assertions {
            println!("    proved by: {a}");
        }
    }
    let readings = cov
        .requirements
        .iter()
        .filter(|r| r.basis == Basis::Reading)
        .count();
    println!(
        "\ncoverage: {}/{} testable requirements covered by at least one assertion ({:.0}%); \
         {readings} of the {} are readings (a warning, unless `run --strict`)",
        cov.covered, cov.total, cov.percent, cov.total
    );
    if cov.untestable > 0 {
        println!(
            "{} more are not testable by a black-box harness (listed above with why)",
            cov.untestable
        );
    }
}

/// `check`: the pack's own options, and the variables a run would get from outside (so
/// that a pack relying on `--var`/the config file does not report them undefined).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CheckArgs {
    #[command(flatten)]
    pub pack: PackArgs,
    /// The config file a run would use (its `vars` count as defined; its `scenarios` is used)
    #[arg(long, value_name = "FILE", env = "CDEX_HARNESS_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    /// A variable a run would set with `--var` (`NAME=VALUE` or just `NAME`; repeatable)
    #[arg(long = "var", value_name = "NAME[=VALUE]")]
    pub vars: Vec<String>,
}

pub fn check(mut args: CheckArgs) -> i32 {
    let mut names: Vec<String> = Vec::new();
    if let Some(path) = &args.config {
        match super::config::load(path) {
            Ok(cfg) => {
                names.extend(cfg.vars.keys().cloned());
                if args.pack.scenarios.is_none() {
                    args.pack.scenarios = cfg.scenarios.map(std::path::PathBuf::from);
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        }
    }
    for v in &args.vars {
        let name = v.split_once('=').map_or(v.as_str(), |(k, _)| k).trim();
        if name.is_empty() {
            eprintln!("error: --var `{v}` has no name; write NAME=VALUE");
            return EXIT_USAGE;
        }
        names.push(name.to_string());
    }
    match super::load(&args.pack, names) {
        Some((_, p)) => {
            println!(
                "ok: {} scenario(s) in {} load without problems",
                p.scenarios.len(),
                p.root.display()
            );
            EXIT_PASS
        }
        None => EXIT_USAGE,
    }
}
