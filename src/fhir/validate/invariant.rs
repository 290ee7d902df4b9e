//! FHIRPath invariants of the applied profiles (cdex-*, tdr-*), evaluated with the project's
//! FHIRPath crate (octofhir-fhirpath, async, no FHIR model: see [`crate::fhir::fhirpath`]).
//! Applying a profile collects the invariants to check with the values they apply to
//! ([`Pending`]); [`check_all`] evaluates them.

use super::issue::{Issue, Severity};
use super::profile::Constraint;
use octofhir_fhirpath::{
    EmptyModelProvider, FhirPathEngine, ModelProvider, create_function_registry,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// An invariant to evaluate on one value.
#[derive(Debug, Clone)]
pub struct Pending {
    pub constraint: Constraint,
    /// The profile declaring it.
    pub profile: String,
    /// Where the value is (`Task`, `Task.input[2].valueDate`).
    pub location: String,
    pub value: Value,
    /// Declared on an element below the root: evaluated with `$this` = the value.
    pub element_level: bool,
}

/// The FHIRPath engine for invariants (no FHIR model, like [`crate::fhir::fhirpath`]; its
/// own instance so one prepared context serves every invariant of a value).
async fn engine() -> Result<&'static FhirPathEngine, String> {
    static ENGINE: OnceCell<FhirPathEngine> = OnceCell::const_new();
    ENGINE
        .get_or_try_init(|| async {
            let provider: Arc<dyn ModelProvider + Send + Sync> = Arc::new(EmptyModelProvider);
            FhirPathEngine::new(Arc::new(create_function_registry()), provider)
                .await
                .map_err(|e| format!("the FHIRPath engine could not start: {e}"))
        })
        .await
}

/// Evaluate the invariants, preparing each value once for the invariants that share it
/// (consecutive entries with the same location). A false result is an issue of the
/// invariant's severity; an evaluation error an informational one (not checked).
pub async fn check_all(pending: &[Pending], out: &mut Vec<Issue>) {
    let engine = match engine().await {
        Ok(e) => e,
        Err(e) => {
            for p in pending {
                not_checked(p, &e, out);
            }
            return;
        }
    };
    let mut start = 0;
    while start < pending.len() {
        let first = &pending[start];
        let mut end = start + 1;
        while end < pending.len()
            && pending[end].location == first.location
            && pending[end].element_level == first.element_level
        {
            end += 1;
        }
        // The engine takes a resource-like root: an element's value is wrapped so that
        // `x.select(expr)` evaluates with `$this` = the value.
        let root = if first.element_level {
            json!({ "x": first.value })
        } else {
            first.value.clone()
        };
        match engine
            .prepare_context(Arc::new(root), None, &HashMap::new())
            .await
        {
            Ok(ctx) => {
                for p in &pending[start..end] {
                    let c = &p.constraint;
                    let expr = if p.element_level {
                        format!("x.select({})", c.expression)
                    } else {
                        c.expression.clone()
                    };
                    match engine.evaluate(&expr, &ctx).await {
                        Ok(result) => {
                            let values = match result.value.to_json_value() {
                                Value::Null => Vec::new(),
                                Value::Array(items) => items,
                                other => vec![other],
                            };
                            if values.contains(&Value::Bool(false)) {
                                failed(p, out);
                            }
                        }
                        Err(e) => not_checked(p, &e.to_string(), out),
                    }
                }
            }
            Err(e) => {
                for p in &pending[start..end] {
                    not_checked(p, &e.to_string(), out);
                }
            }
        }
        start = end;
    }
}

fn failed(p: &Pending, out: &mut Vec<Issue>) {
    let c = &p.constraint;
    let severity = if c.severity == "warning" {
        Severity::Warning
    } else {
        Severity::Error
    };
    out.push(Issue::new(
        severity,
        "invariant",
        p.location.as_str(),
        format!("{}: {} ({})", c.key, c.human, c.expression),
        format!("{}#{}", p.profile, c.key),
    ));
}

fn not_checked(p: &Pending, error: &str, out: &mut Vec<Issue>) {
    let c = &p.constraint;
    out.push(Issue::new(
        Severity::Information,
        "not-supported",
        p.location.as_str(),
        format!("invariant {} could not be evaluated: {error}", c.key),
        format!("{}#{}", p.profile, c.key),
    ));
}
