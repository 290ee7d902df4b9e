//! `cdex-harness validate FILE|DIR... [--profile URL] [--json]`: validate FHIR JSON resources
//! against the R4 base and the CDex profiles, offline, with OperationOutcome-style issues.

use crate::fhir::validate::{Evaluator, Issue, Outcome, Severity, Validator, Verdict, issue};
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
    let (mut errors, mut warnings, mut not_checked) = (0, 0, 0);
    for file in &files {
        let evaluator = match args.invariants_by {
            InvariantsBy::Subset => Evaluator::Subset,
            InvariantsBy::Engine => Evaluator::Engine,
        };
        let profile = args.profile.as_deref();
        let resource = read_resource(file);
        let (issues, invariants) = match &resource {
            Err(issue) => (vec![issue.clone()], Vec::new()),
            Ok(r) if args.invariants => {
                validator
                    .validate_explaining_invariants(r, profile, evaluator)
                    .await
            }
            Ok(r) => (
                validator
                    .validate_with_invariants_by(r, profile, evaluator)
                    .await,
                Vec::new(),
            ),
        };
        // Against what: the profile given, else the ones meta.profile declares.
        let verdict = resource.as_ref().ok().map(|r| {
            let against = match profile {
                Some(p) => vec![p.to_string()],
                None => crate::fhir::validate::verdict::declared_profiles(r),
            };
            validator.verdict(r, &against, &issues)
        });
        not_checked += usize::from(verdict.as_ref().is_some_and(|v| !v.checked()));
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
                "checked": verdict.as_ref().is_some_and(Verdict::checked),
                "verdict": verdict.as_ref().map_or("invalid", Verdict::code),
                "summary": verdict.as_ref().map_or_else(|| "INVALID".to_string(), |v| v.to_string()),
                "outcome": issue::outcome(&issues),
            });
            if args.invariants {
                report["invariants"] = json!(invariants);
            }
            reports.push(report);
        } else {
            print_text(file, verdict.as_ref(), &issues, args.verbose);
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
        let not_checked = if not_checked > 0 {
            format!(", {not_checked} not checked (their type's R4 definition is not in the data)")
        } else {
            String::new()
        };
        println!(
            "{} file(s): {} error(s), {} warning(s){not_checked}",
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

/// Read and parse one file; unreadable or non-JSON content is the file's error issue,
/// located by line and column when the JSON is malformed.
fn read_resource(file: &Path) -> Result<Value, Issue> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| file_issue("", format!("cannot read the file: {e}")))?;
    serde_json::from_str(&text).map_err(|e| json_issue(&e))
}

fn file_issue(location: &str, message: String) -> Issue {
    Issue::new(Severity::Error, "structure", location, message, "json")
}

/// A JSON syntax error at its line and column (serde_json's message without the position
/// it appends, which becomes the issue's location).
fn json_issue(e: &serde_json::Error) -> Issue {
    let position = format!(" at line {} column {}", e.line(), e.column());
    let message = e.to_string();
    let message = message.strip_suffix(&position).unwrap_or(&message);
    file_issue(
        &format!("line {}, column {}", e.line(), e.column()),
        format!("not JSON: {message}"),
    )
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

/// The file's verdict (`None`: it could not be read as JSON), then its issues.
fn print_text(file: &Path, verdict: Option<&Verdict>, issues: &[Issue], verbose: bool) {
    let shown: Vec<&Issue> = issues
        .iter()
        .filter(|i| verbose || i.severity != Severity::Information)
        .collect();
    let hidden = issues.len() - shown.len();
    let verdict = match verdict {
        None => "INVALID".to_string(),
        // Valid against the base alone: say how to check a profile too.
        Some(v @ Verdict::Valid { against })
            if against.profiles.is_empty() && against.not_loaded.is_empty() =>
        {
            format!("{v} (--profile URL checks one; --list-profiles lists those loaded)")
        }
        Some(v) => v.to_string(),
    };
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
