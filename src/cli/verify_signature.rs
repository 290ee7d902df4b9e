//! `cdex-harness verify-signature FILE [--at TIME] [--trust-anchor PEM]... [--rules R]`: verify
//! the digital signature of a Bundle or QuestionnaireResponse; one line per step, then the
//! verdict.

use crate::fhir::signature::{self, VerifyOptions, pki};
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
    /// A CA certificate (PEM or DER file) the signer's x5c chain must end at; repeatable.
    /// Without one the chain is checked but trust is not judged
    #[arg(long = "trust-anchor", value_name = "PEM")]
    pub trust_anchor: Vec<PathBuf>,
    /// The rule set: 2.1.0 (kty required; CI-build header rules only warn) or ci-build (sigT,
    /// srCms, sigFormat, targetFormat and SAN = who required)
    #[arg(long, value_name = "R", default_value = "2.1.0", value_parser = ["2.1.0", "ci-build"])]
    pub rules: String,
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
    let mut trust = Vec::new();
    for path in &args.trust_anchor {
        let loaded = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| pki::certificates_from_pem(&bytes));
        match loaded {
            Ok(certs) => trust.extend(certs),
            Err(e) => {
                eprintln!("error: --trust-anchor {}: {e}", path.display());
                return super::EXIT_USAGE;
            }
        }
    }
    let opts = VerifyOptions {
        at: args.at.unwrap_or_else(Utc::now),
        rules: args.rules.clone(),
        trust,
    };
    let report = signature::verify_with(&resource, &opts);
    println!("rules {}", opts.rules);
    for r in &report.steps {
        println!("{:<13} {:<11} {}", r.step.name(), r.outcome, r.message);
    }
    let name = |steps: Vec<signature::Step>| {
        steps
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if report.ok() {
        let warned = report.warned();
        if warned.is_empty() {
            println!("{file}: VERIFIED");
        } else {
            println!("{file}: VERIFIED (warnings: {})", name(warned));
        }
        super::EXIT_PASS
    } else {
        println!("{file}: NOT VERIFIED (failed: {})", name(report.failed()));
        super::EXIT_FAIL
    }
}
