//! FHIRPath, through the `octofhir-fhirpath` crate (pinned: newer releases need a newer
//! rustc). The engine runs without a FHIR model, so paths, functions and operators work, while
//! `ofType()`/`as()` with FHIR type names do not: scenarios filter with `resourceType = 'X'`.

use octofhir_fhirpath::{
    Collection, EmptyModelProvider, EvaluationContext, FhirPathEngine, FhirPathValue,
    ModelProvider, create_function_registry,
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
    let ctx = context(engine, resource).await?;
    let expr = rewrite_all(expr);
    let result = engine
        .evaluate(&expr, &ctx)
        .await
        .map_err(|e| clean_error(&e.to_string()))?;
    Ok(match result.value.to_json_value() {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        other => vec![other],
    })
}

/// The evaluation context of `resource`, built as the engine's `prepare_context` builds it
/// for a resource (the root value typed by the model provider) but without its cache of
/// prepared roots: that cache is keyed by the address of the resource's `Arc`, which is new
/// at every call here, so it never hit and only kept every resource evaluated (up to 32 MiB
/// by the crate's estimate: 6.8 MB of a 600-exchange run's 27 MB heap peak). Anything that is
/// not a JSON object goes through `prepare_context` as before (it does not cache those).
async fn context(engine: &FhirPathEngine, resource: &Value) -> Result<EvaluationContext, String> {
    let json = Arc::new(resource.clone());
    if !json.is_object() {
        return engine
            .prepare_context(json, None, &HashMap::new())
            .await
            .map_err(|e| clean_error(&e.to_string()));
    }
    let provider = engine.get_model_provider();
    let mut value = FhirPathValue::resource_from_arc(json.clone());
    if let Some(name) = json.get("resourceType").and_then(Value::as_str)
        && let Ok(Some(info)) = provider.get_type(name).await
        && let FhirPathValue::Resource(node, _, _) = value
    {
        value = FhirPathValue::Resource(node, Arc::new(info), None);
    }
    Ok(EvaluationContext::new_with_server(
        Collection::single(value),
        provider,
        engine.get_terminology_provider(),
        engine.get_validation_provider(),
        engine.get_trace_provider(),
        engine.get_server_provider(),
    ))
}

/// `X.all(C)` written as `X.where(iif((C) = true, false, true)).empty()`.
///
/// The pinned crate answers an empty collection for any method called on an empty
/// collection, `all()` included, where FHIRPath says `all()` over nothing is `true`: a check
/// such as `entry.skip(1).all(resource.empty())` would fail a notification with one entry.
/// The rewrite means the same (an element passes only when C is `true`; an empty C fails it)
/// and `where`/`empty` behave on empty input. String literals and backtick-quoted names are
/// left alone; nested `all` calls are rewritten too.
pub fn rewrite_all(expr: &str) -> String {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = String::with_capacity(expr.len() + 32);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' || c == '`' {
            let end = skip_quoted(&chars, i);
            out.extend(&chars[i..end]);
            i = end;
            continue;
        }
        let ident_before = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if !ident_before
            && chars[i..].starts_with(&['a', 'l', 'l', '('])
            && let Some(close) = matching_paren(&chars, i + 3)
        {
            let inner: String = chars[i + 4..close].iter().collect();
            out.push_str("where(iif((");
            out.push_str(&rewrite_all(&inner));
            out.push_str(") = true, false, true)).empty()");
            i = close + 1;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// The index just past the quoted literal starting at `start` (its quote char repeated, `\\`
/// escapes), or the end of the text.
fn skip_quoted(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    chars.len()
}

/// The index of the `)` closing the `(` at `open`, skipping literals.
fn matching_paren(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < chars.len() {
        match chars[i] {
            '\'' | '`' => {
                i = skip_quoted(chars, i);
                continue;
            }
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
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

    #[test]
    fn all_is_rewritten_outside_literals() {
        assert_eq!(
            rewrite_all("entry.skip(1).all(resource.empty())"),
            "entry.skip(1).where(iif((resource.empty()) = true, false, true)).empty()"
        );
        assert_eq!(
            rewrite_all("a.all(b.all(c = 'x.all(y)')) and allTrue() and call(d)"),
            "a.where(iif((b.where(iif((c = 'x.all(y)') = true, false, true)).empty()) = true, false, true)).empty() and allTrue() and call(d)"
        );
        assert_eq!(rewrite_all("name = 'all('"), "name = 'all('");
    }

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
        // FHIRPath: all() over an empty collection is true.
        let bundle = json!({"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Patient"}}]});
        assert_eq!(
            evaluate("entry.skip(1).all(resource.empty())", &bundle)
                .await
                .unwrap(),
            vec![json!(true)]
        );
        assert!(is_true(
            &evaluate("entry.skip(1).all(resource.empty())", &bundle)
                .await
                .unwrap()
        ));
        // ... and false when one element fails, or when its criterion is empty.
        assert!(!is_true(
            &evaluate("entry.all(resource.empty())", &bundle)
                .await
                .unwrap()
        ));
        let two =
            json!({"resourceType":"Bundle","type":"searchset","link":[{"url":"#a"},{"url":"#b"}]});
        assert!(is_true(
            &evaluate("link.all(url.startsWith('#'))", &two)
                .await
                .unwrap()
        ));
        assert!(!is_true(
            &evaluate("link.all(url.startsWith('#a'))", &two)
                .await
                .unwrap()
        ));
        assert!(is_true(
            &evaluate("link.where(url.all(startsWith('#'))).count() = 2", &two)
                .await
                .unwrap()
        ));
        assert!(check("status = = 1").is_err());
        assert!(check("entry.where(resource.resourceType = 'Condition').count() = 1").is_ok());
    }
}
