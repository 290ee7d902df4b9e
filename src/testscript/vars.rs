//! TestScript variables: `${name}` in a script becomes the runner's `{{name}}`; each
//! variable's value is computed from a fixture or a response when it can be (expression,
//! path, headerField; defaultValue otherwise), or given with `--var` (hint).

use regex::Regex;
use std::sync::OnceLock;

/// The runner's name for a TestScript variable (handlebars takes letters, digits, `_`).
pub fn key(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        s.insert(0, '_');
    }
    s
}

fn dollar() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\$\{([^}]+)\}").expect("valid regex"))
}

/// `Patient/${id}` -> `Patient/{{id}}`.
pub fn template(text: &str) -> String {
    dollar()
        .replace_all(text, |c: &regex::Captures<'_>| {
            format!("{{{{{}}}}}", key(&c[1]))
        })
        .into_owned()
}

/// The names a text refers to with `${...}`.
pub fn referenced(text: &str) -> Vec<String> {
    dollar()
        .captures_iter(text)
        .map(|c| c[1].to_string())
        .collect()
}

/// Every string of a JSON value made a template.
pub fn template_json(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(template(s)),
        Value::Array(a) => Value::Array(a.iter().map(template_json).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), template_json(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The variable's value as text: the first value of a FHIRPath result.
pub fn first_text(values: &[serde_json::Value]) -> Option<String> {
    values.first().map(|v| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert_eq!(
            template("Patient/${id}?x=${a-b}"),
            "Patient/{{id}}?x={{a_b}}"
        );
        assert_eq!(referenced("/${a}/${b}"), vec!["a", "b"]);
        assert_eq!(key("1x"), "_1x");
    }
}
