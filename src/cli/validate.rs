//! `cdex-harness validate FILE|DIR... [--profile URL] [--json]`: validate FHIR JSON resources
//! against the R4 base and the CDex profiles, offline, with OperationOutcome-style issues.

use crate::fhir::validate::{Evaluator, Issue, Outcome, Severity, Validator, issue};
use clap::Args;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// FHIR JSON files, or folders (their *.json files, not recursive)
    #[arg(required_unless_present = "list_profiles", value_name = "FILE|DIR")]
    pub paths: Vec<PathBuf>,
    /// Validate against this profile (canonical URL or id) instead of the ones meta.profile names
    #[arg(long, value_name = "URL")]
    pub profile: Option<String>,
    /// Load more StructureDefinitions, ValueSets and CodeSystems (JSON) from this folder
    #[arg(long, value_name = "DIR")]
    pub definitions: Vec<PathBuf>,
    /// Print one JSON document: [{file, valid, outcome: OperationOutcome}]
    #[arg(long)]
    pub json: bool,
    /// Also print information issues (must-support absent, rules that could not be checked)
    #[arg(long, short)]
    pub verbose: bool,
    /// Also list every FHIRPath invariant evaluated: where, its outcome, and which evaluator
    /// gave it (the fast subset, or the full engine)
    #[arg(long)]
    pub invariants: bool,
    /// Who evaluates the FHIRPath invariants: the fast subset, with the full engine for what
    /// it does not cover (the default), or the full engine for all (slower; it reads
    /// dateTimes as text)
    #[arg(long, value_enum, default_value = "subset", value_name = "BY")]
    pub invariants_by: InvariantsBy,
    /// List the loaded profiles and exit
    #[arg(long)]
    pub list_profiles: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvariantsBy {
    Subset,
    Engine,
}

/// Run the command; exit 0 when no file has an error, 1 when one has, 2 on usage problems.
pub async fn validate(args: ValidateArgs) -> i32 {
    let mut validator = match Validator::load_default() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: the validator's data does not load: {e}");
            return super::EXIT_USAGE;
        }
    };
    for dir in &args.definitions {
        if let Err(e) = validator.load_dir(dir) {
            eprintln!("error: {e}");
            return super::EXIT_USAGE;
        }
    }
    if args.list_profiles {
        for url in validator.profile_urls() {
            println!("{url}");
        }
        return super::EXIT_PASS;
    }
    if let Some(p) = &args.profile
        && validator.profile(p).is_none()
    {
        eprintln!(
            "error: profile `{p}` is not loaded (see `cdex-harness validate --list-profiles`)"
        );
        return super::EXIT_USAGE;
    }
    let files = match expand(&args.paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return super::EXIT_USAGE;
        }
    };
    let mut any_error = false;
    let mut reports = Vec::new();
    let (mut errors, mut warnings) = (0, 0);
    for file in &files {
        let evaluator = match args.invariants_by {
            InvariantsBy::Subset => Evaluator::Subset,
            InvariantsBy::Engine => Evaluator::Engine,
        };
        let profile = args.profile.as_deref();
        let (issues, invariants) = match read_resource(file) {
            Err(issue) => (vec![issue], Vec::new()),
            Ok(r) if args.invariants => {
                validator
                    .validate_explaining_invariants(&r, profile, evaluator)
                    .await
            }
            Ok(r) => (
                validator
                    .validate_with_invariants_by(&r, profile, evaluator)
                    .await,
                Vec::new(),
            ),
        };
        let file_errors = issues.iter().filter(|i| i.is_error()).count();
        errors += file_errors;
        warnings += issues
            .iter()
            .filter(|i| i.severity == Severity::Warning)
            .count();
        any_error |= file_errors > 0;
        if args.json {
            let mut report = json!({
                "file": file.display().to_string(),
                "valid": file_errors == 0,
                "outcome": issue::outcome(&issues),
            });
            if args.invariants {
                report["invariants"] = json!(invariants);
            }
            reports.push(report);
        } else {
            print_text(file, &issues, args.verbose);
            for i in &invariants {
                let by = if i.by_subset { "subset" } else { "engine" };
                let outcome = match &i.outcome {
                    Outcome::Holds => "holds".to_string(),
                    Outcome::Fails => "FAILS".to_string(),
                    Outcome::NotEvaluated(e) => format!("not evaluated: {e}"),
                };
                println!("  invariant {} at {}: {outcome} ({by})", i.key, i.location);
            }
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&Value::Array(reports)).unwrap_or_default()
        );
    } else {
        println!(
            "{} file(s): {} error(s), {} warning(s)",
            files.len(),
            errors,
            warnings
        );
    }
    if any_error {
        super::EXIT_FAIL
    } else {
        super::EXIT_PASS
    }
}

/// Read and parse one file; unreadable or non-JSON content is the file's error issue.
fn read_resource(file: &Path) -> Result<Value, Issue> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| file_issue(format!("cannot read the file: {e}")))?;
    serde_json::from_str(&text).map_err(|e| file_issue(format!("not JSON: {e}")))
}

fn file_issue(message: String) -> Issue {
    Issue::new(Severity::Error, "structure", "", message, "json")
}

/// Files as given, folders as their *.json files (sorted).
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("{}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().and_then(|e| e.to_str()) == Some("json"))
                .collect();
            files.sort();
            out.extend(files);
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            return Err(format!("{}: no such file or folder", p.display()));
        }
    }
    Ok(out)
}

fn print_text(file: &Path, issues: &[Issue], verbose: bool) {
    let errors = issues.iter().filter(|i| i.is_error()).count();
    let shown: Vec<&Issue> = issues
        .iter()
        .filter(|i| verbose || i.severity != Severity::Information)
        .collect();
    let hidden = issues.len() - shown.len();
    let verdict = if errors == 0 { "valid" } else { "INVALID" };
    let note = if hidden > 0 {
        format!(" ({hidden} information issue(s); -v shows them)")
    } else {
        String::new()
    };
    println!("{}: {verdict}{note}", file.display());
    for i in shown {
        println!("  {i}");
    }
}
