//! `cdex-harness verify-signature FILE [--at TIME]`: verify the digital signature of a
//! Bundle or QuestionnaireResponse; one line per step, then the verdict.

use crate::fhir::signature::{self, Outcome};
use chrono::{DateTime, Utc};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct VerifySignatureArgs {
    /// A signed FHIR JSON Bundle (Bundle.signature) or QuestionnaireResponse (its signature
    /// extension)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Judge the certificate's validity at this time (RFC 3339, e.g. 2022-01-01T00:00:00Z),
    /// for archived signatures [default: now]
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub at: Option<DateTime<Utc>>,
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time ({e}); e.g. 2022-01-01T00:00:00Z"))
}

/// Exit 0 when verified, 1 when not (the failing step named), 2 when the file is unreadable.
pub fn verify_signature(args: VerifySignatureArgs) -> i32 {
    let file = args.file.display();
    let text = match std::fs::read_to_string(&args.file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {file}: {e}");
            return super::EXIT_USAGE;
        }
    };
    let resource: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            eprintln!(
                "error: {file}: line {}, column {}: not JSON: {e}",
                e.line(),
                e.column()
            );
            return super::EXIT_USAGE;
        }
    };
    let report = signature::verify(&resource, args.at.unwrap_or_else(Utc::now));
    for r in &report.steps {
        println!("{:<22} {:<11} {}", r.step.name(), r.outcome, r.message);
    }
    if report.verified() {
        println!("{file}: VERIFIED");
        super::EXIT_PASS
    } else {
        let failed: Vec<&str> = report
            .steps
            .iter()
            .filter(|r| r.outcome == Outcome::Fail)
            .map(|r| r.step.name())
            .collect();
        println!("{file}: NOT VERIFIED (failed: {})", failed.join(", "));
        super::EXIT_FAIL
    }
}
