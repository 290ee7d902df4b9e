//! `cdex-harness list`, `requirements` and `check`.

use super::{EXIT_FAIL, EXIT_PASS, EXIT_USAGE, PackArgs};
use crate::catalog::coverage::coverage;
use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum What {
    Scenarios,
    Actors,
    Requirements,
    Actions,
    Faults,
    Options,
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
}

fn json_out(v: &impl serde::Serialize) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: {e}"),
    }
}

pub fn list(args: ListArgs) -> i32 {
    let Some((catalog, pack)) = super::load(&args.pack, Vec::new()) else {
        return EXIT_USAGE;
    };
    match args.what {
        What::Scenarios => {
            if args.json {
                let rows: Vec<serde_json::Value> = pack
                    .scenarios
                    .iter()
                    .map(|s| serde_json::json!({"id": s.id, "title": s.title, "actor": s.actor, "plays": s.plays, "options": s.options, "file": s.file, "steps": s.steps.len()}))
                    .collect();
                json_out(&rows);
            } else {
                for s in &pack.scenarios {
                    println!("{:<40} {:<22} {}", s.id, s.actor, s.title);
                }
                println!(
                    "\n{} scenario(s) in {}",
                    pack.scenarios.len(),
                    pack.root.display()
                );
            }
        }
        What::Actors => {
            if args.json {
                json_out(&catalog.actors);
            } else {
                for (name, a) in &catalog.actors {
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
                    println!(
                        "{name:<30} {n:>3} scenario(s)  harness plays {:<30} reference {reference}",
                        a.counterpart
                    );
                }
            }
        }
        What::Requirements => {
            if args.json {
                json_out(&catalog.requirements);
            } else {
                for r in &catalog.requirements {
                    println!("{:<20} {:<8} {:<24} {}", r.id, r.verb, r.actor, r.text);
                }
            }
        }
        What::Actions => {
            let rows = crate::actors::action_table();
            if args.json {
                json_out(&rows);
            } else {
                for (actor, action) in rows {
                    println!("{action:<28} performed by {actor}");
                }
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
                .flat_map(|a| {
                    a.faults
                        .iter()
                        .map(move |(f, d)| (a.name.to_string(), f.to_string(), d.to_string()))
                })
                .collect();
            if args.json {
                json_out(&rows);
            } else {
                for (a, f, d) in rows {
                    println!("{:<44} {d}", format!("{a}:{f}"));
                }
            }
        }
    }
    EXIT_PASS
}

pub fn requirements(args: RequirementsArgs) -> i32 {
    let Some((catalog, pack)) = super::load(&args.pack, Vec::new()) else {
        return EXIT_USAGE;
    };
    let cov = coverage(&catalog, &pack);
    if args.json {
        json_out(&cov);
    } else {
        for r in &cov.requirements {
            let mark = if r.assertions.is_empty() {
                "NOT COVERED"
            } else {
                "covered"
            };
            println!("{} [{}] {} — {}", r.id, r.verb, r.actor, mark);
            println!("    {}", r.text);
            println!("    source: {}", r.source);
            for a in &r.assertions {
                println!("    proved by: {a}");
            }
        }
        println!(
            "\ncoverage: {}/{} requirements covered by at least one assertion ({:.0}%)",
            cov.covered, cov.total, cov.percent
        );
    }
    if args.strict && cov.covered < cov.total {
        EXIT_FAIL
    } else {
        EXIT_PASS
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
