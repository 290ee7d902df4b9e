//! FHIRPath, through the `octofhir-fhirpath` crate (pinned: newer releases need a newer
//! rustc). The engine runs without a FHIR model, so paths, functions and operators work, while
//! `ofType()`/`as()` with FHIR type names do not: scenarios filter with `resourceType = 'X'`.

use octofhir_fhirpath::{
    EmptyModelProvider, FhirPathEngine, ModelProvider, create_function_registry,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::OnceCell;

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

/// Check an expression's syntax (the loader calls this before anything runs).
pub fn check(expr: &str) -> Result<(), String> {
    octofhir_fhirpath::parse_ast(expr)
        .map(|_| ())
        .map_err(|e| clean_error(&e.to_string()))
}

/// Evaluate an expression over a resource; the result collection as JSON values.
pub async fn evaluate(expr: &str, resource: &Value) -> Result<Vec<Value>, String> {
    let engine = engine().await?;
    let ctx = engine
        .prepare_context(Arc::new(resource.clone()), None, &HashMap::new())
        .await
        .map_err(|e| clean_error(&e.to_string()))?;
    let result = engine
        .evaluate(expr, &ctx)
        .await
        .map_err(|e| clean_error(&e.to_string()))?;
    Ok(match result.value.to_json_value() {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        other => vec![other],
    })
}

/// FHIRPath truth for an assertion: an empty collection is false; booleans must all be
/// true; any other non-empty collection is true (it exists).
pub fn is_true(values: &[Value]) -> bool {
    if values.is_empty() {
        return false;
    }
    let booleans: Vec<bool> = values.iter().filter_map(Value::as_bool).collect();
    if booleans.len() == values.len() {
        booleans.iter().all(|b| *b)
    } else {
        true
    }
}

/// The crate prints its error code twice (`FP0001: FP0001: ...`); say it once.
fn clean_error(text: &str) -> String {
    let mut t = text.trim().to_string();
    if let Some((code, rest)) = t.split_once(": ")
        && rest.starts_with(code)
    {
        t = rest.to_string();
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn evaluates_and_checks() {
        let task = json!({"resourceType":"Task","status":"requested","input":[{"valueString":"a"},{"valueString":"b"}],
            "for":{"reference":"Patient/p1"}});
        assert_eq!(
            evaluate("status", &task).await.unwrap(),
            vec![json!("requested")]
        );
        assert!(is_true(
            &evaluate("input.count() = 2", &task).await.unwrap()
        ));
        assert!(!is_true(
            &evaluate("status = 'completed'", &task).await.unwrap()
        ));
        assert!(is_true(
            &evaluate("for.reference.startsWith('Patient/')", &task)
                .await
                .unwrap()
        ));
        assert!(!is_true(&evaluate("missingElement", &task).await.unwrap()));
        assert!(check("status = = 1").is_err());
        assert!(check("entry.where(resource.resourceType = 'Condition').count() = 1").is_ok());
    }
}
