//! `cdex-harness merge`: one set of reports from the shards of a run (`run --partition I/N`
//! on several machines). The combining is [`crate::shards`]; this reads the shards, checks
//! they are shards of the same run, loads the pack they ran and writes the reports as `run`
//! does.

use super::{EXIT_IO, EXIT_USAGE, PackArgs, resume};
use crate::report::{self, ReportPaths};
use crate::shards::{self, Shard};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug, Clone, Default)]
pub struct MergeArgs {
    /// The shards' results: each a `results.json`, or the --out folder of a run (its
    /// results.json is read)
    #[arg(value_name = "RESULTS", required = true)]
    pub results: Vec<PathBuf>,
    /// The pack, scenario folder or catalog of the shards, when not the one their results
    /// record (a run with --scenarios and --catalog: give the same here)
    #[command(flatten)]
    pub pack: PackArgs,
    /// A variable the shards were run with, for a pack that needs it to load (NAME or
    /// NAME=VALUE; repeatable)
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Folder for report.html, junit.xml and results.json [default: reports/latest]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write the JUnit XML here instead
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Write the HTML report here instead
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Write the JSON results here instead
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Show every exchange in the console
    #[arg(short, long)]
    pub verbose: bool,
}

fn usage(msg: impl std::fmt::Display) -> i32 {
    eprintln!("error: merge: {msg}");
    EXIT_USAGE
}

pub fn merge(args: MergeArgs) -> i32 {
    let mut shards = Vec::new();
    for path in &args.results {
        match resume::read_as(path, "merge") {
            Ok(e) => shards.push(Shard {
                file: e.file,
                dir: e.dir,
                results: e.results,
            }),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        }
    }
    // Shard order: by shard number when recorded, so the order of the arguments does not
    // change the merged notes.
    shards.sort_by_key(|s| s.partition().map(|(i, _)| i));
    if let Err(e) = same_run(&shards) {
        return usage(e);
    }
    let Some(setup) = shards[0].results.setup.clone() else {
        return EXIT_USAGE;
    };
    let pack_args = match which_pack(&args.pack, &setup.pack) {
        Ok(p) => p,
        Err(e) => return usage(e),
    };
    let vars = args
        .vars
        .iter()
        .map(|v| {
            v.split_once('=')
                .map_or(v.as_str(), |(k, _)| k)
                .trim()
                .to_string()
        })
        .collect();
    let Some((catalog, pack)) = super::load(&pack_args, vars) else {
        return EXIT_USAGE;
    };
    let results = match shards::combine(&shards, &pack, &catalog) {
        Ok(r) => r,
        Err(e) => return usage(e),
    };

    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports/latest"));
    for shard in &shards {
        match shards::copy_bodies(shard, &out_dir) {
            Ok(missing) => {
                for m in missing {
                    eprintln!("warning: a body file the results refer to is missing: {m}");
                }
            }
            Err(e) => {
                eprintln!("error: the reports could not be written: {e}");
                return EXIT_IO;
            }
        }
    }
    eprintln!(
        "cdex-harness: merged {} shard(s): {} scenario(s){}",
        shards.len(),
        results.scenarios.len(),
        if results.interrupted {
            " (a shard was interrupted, so the merged run is too)"
        } else {
            ""
        }
    );
    if let Err(e) = report::console::print(&results, args.verbose) {
        eprintln!("warning: the console summary could not be printed: {e}");
    }
    let paths = ReportPaths::in_dir(&out_dir, args.html, args.junit, args.json);
    match report::write_all(&results, &paths) {
        Ok(written) => {
            for p in written {
                eprintln!("wrote {}", p.display());
            }
        }
        Err(e) => {
            eprintln!("error: the reports could not be written: {e:#}");
            return EXIT_IO;
        }
    }
    results.exit_code()
}

/// Whether the shards are shards of one run: each says what was run (`setup`), all the same
/// pack, actor, system under test, options and rules, the same target (faults of the
/// reference actors or not), and, when they record partitions, every shard of one split once.
fn same_run(shards: &[Shard]) -> Result<(), String> {
    for s in shards {
        if s.results.setup.is_none() {
            return Err(format!(
                "{} does not say what was run (no `setup`: written by an older harness), so it cannot be checked to be a shard of the same run; rerun it with this harness",
                s.file.display()
            ));
        }
    }
    let first = &shards[0];
    let Some(a) = &first.results.setup else {
        return Ok(());
    };
    let mut problems = Vec::new();
    for s in &shards[1..] {
        let Some(b) = &s.results.setup else { continue };
        for d in resume::setup_differences((a, &first.results.options), (b, &s.results.options)) {
            problems.push(format!(
                "{}: {} in {}, {} in {}",
                d.what,
                d.first,
                first.file.display(),
                d.second,
                s.file.display()
            ));
        }
        // A client under test's target names the harness endpoint's port, which differs
        // from shard to shard; otherwise it tells faults of the reference actors apart.
        if a.sut != "client" && s.results.target != first.results.target {
            problems.push(format!(
                "target: {} in {}, {} in {}",
                first.results.target,
                first.file.display(),
                s.results.target,
                s.file.display()
            ));
        }
    }
    problems.extend(shards::partition_problems(shards));
    if problems.is_empty() {
        return Ok(());
    }
    Err(format!(
        "these are not shards of one run:\n  - {}\n  hint: merge the results of `run --partition I/N` with the same pack, actor, target, options and rules",
        problems.join("\n  - ")
    ))
}

/// The pack to load: the one the shards recorded, or the one given. A pack named with
/// `--pack` must be the recorded one; a folder given with `--scenarios` is used as it is (the
/// shards may have run it from another path on another machine; their scenarios must all be
/// in it). `--catalog` alone only replaces the catalog.
fn which_pack(given: &PackArgs, recorded: &str) -> Result<PackArgs, String> {
    if given.scenarios.is_some() {
        let named = given.recorded_name();
        if named != recorded {
            eprintln!(
                "warning: merge: the shards recorded the scenarios {recorded}; using {named} as given"
            );
        }
        return Ok(given.clone());
    }
    if let Some(named) = &given.pack {
        if named != recorded {
            return Err(format!(
                "the shards are runs of the pack {recorded}, not {named} (leave out --pack to use the recorded one)"
            ));
        }
        return Ok(given.clone());
    }
    let mut pack = given.clone();
    if std::path::Path::new(recorded).is_absolute() {
        pack.scenarios = Some(PathBuf::from(recorded));
    } else {
        pack.pack = Some(recorded.to_string());
    }
    Ok(pack)
}
