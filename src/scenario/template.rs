//! Variables in scenario text: `{{name}}` placeholders rendered with handlebars.
//!
//! Rendering never HTML-escapes (these are HTTP requests and FHIR JSON, not pages), and an
//! undefined variable is an error rather than an empty string. JSON bodies are rendered one
//! string value at a time, so a value containing quotes can never break the JSON.

use handlebars::Handlebars;
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::OnceLock;

pub type Vars = BTreeMap<String, String>;

fn engine() -> &'static Handlebars<'static> {
    static ENGINE: OnceLock<Handlebars<'static>> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut h = Handlebars::new();
        h.set_strict_mode(true);
        h.register_escape_fn(handlebars::no_escape);
        h
    })
}

/// Render one template string.
pub fn render(template: &str, vars: &Vars) -> Result<String, String> {
    if !template.contains("{{") {
        return Ok(template.to_string());
    }
    engine()
        .render_template(template, vars)
        .map_err(|e| match e.reason() {
            handlebars::RenderErrorReason::MissingVariable(Some(name)) => {
                format!("variable `{name}` is not defined")
            }
            other => other.to_string(),
        })
}

/// Render every string (and object key) inside a JSON value.
pub fn render_json(value: &serde_json::Value, vars: &Vars) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    Ok(match value {
        Value::String(s) => Value::String(render(s, vars)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_json(v, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = serde_json::Map::with_capacity(map.len());
            for (k, v) in map {
                out.insert(render(k, vars)?, render_json(v, vars)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

fn placeholder() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\{\{\{?\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}?\}\}").expect("valid regex")
    })
}

/// Names of the variables a template refers to.
pub fn referenced(template: &str) -> Vec<String> {
    placeholder()
        .captures_iter(template)
        .map(|c| c[1].to_string())
        .collect()
}

/// Names of the variables referenced anywhere inside a JSON value.
pub fn referenced_in_json(value: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match value {
        Value::String(s) => out.extend(referenced(s)),
        Value::Array(items) => items.iter().for_each(|v| referenced_in_json(v, out)),
        Value::Object(map) => {
            for (k, v) in map {
                out.extend(referenced(k));
                referenced_in_json(v, out);
            }
        }
        _ => {}
    }
}

/// Check a template compiles, returning the parser's message if not.
pub fn check_syntax(template: &str) -> Result<(), String> {
    if !template.contains("{{") {
        return Ok(());
    }
    handlebars::Template::compile(template)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_refuses_undefined() {
        let mut v = Vars::new();
        v.insert("id".into(), "a\"b".into());
        assert_eq!(render("Patient/{{id}}", &v).unwrap(), "Patient/a\"b");
        assert!(render("{{nope}}", &v).unwrap_err().contains("nope"));
        let j = serde_json::json!({"ref": "Patient/{{id}}"});
        let out = render_json(&j, &v).unwrap();
        assert_eq!(out["ref"], "Patient/a\"b");
        assert_eq!(referenced("x {{a}} {{ b }} {{{c}}}"), vec!["a", "b", "c"]);
    }
}
