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
    if let Some(done) = substitute(template, vars) {
        return done;
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

/// The common case without handlebars: text and plain `{{name}}` placeholders, each name
/// a variable. `None` when the template holds anything else (a helper, a block, a path, a
/// triple or escaped mustache, whitespace control...): handlebars renders it then.
///
/// Written by hand because handlebars compiles the template and turns every variable into
/// JSON for each string it renders: a 600-step scenario spent an eighth of its run there,
/// more with each capture added to the variables. The result is the same as handlebars's
/// for what it accepts (a test compares them).
fn substitute(template: &str, vars: &Vars) -> Option<Result<String, String>> {
    if template.contains("\\{{") || template.contains("{{{") {
        return None;
    }
    let mut out = String::with_capacity(template.len() + 32);
    // The first variable not defined; the rest is still read, since a part only handlebars
    // reads (a helper, a syntax error) decides what handlebars would say.
    let mut missing: Option<&str> = None;
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let (text, tail) = rest.split_at(open);
        if text.contains("}}") {
            return None;
        }
        out.push_str(text);
        let tail = &tail[2..];
        let close = tail.find("}}")?;
        let name = tail[..close].trim_matches(|c: char| c == ' ');
        let plain = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !is_reserved(name);
        if !plain {
            return None;
        }
        match vars.get(name) {
            Some(v) => out.push_str(v),
            None => {
                missing.get_or_insert(name);
            }
        }
        rest = &tail[close + 2..];
    }
    if rest.contains("}}") {
        return None;
    }
    if let Some(name) = missing {
        return Some(Err(format!("variable `{name}` is not defined")));
    }
    out.push_str(rest);
    Some(Ok(out))
}

/// Words a handlebars expression does not read as a variable: keywords, literals, and the
/// built-in helpers (`{{len}}` calls the helper even where a variable `len` exists).
fn is_reserved(name: &str) -> bool {
    matches!(
        name,
        "this"
            | "true"
            | "false"
            | "null"
            | "undefined"
            | "else"
            | "if"
            | "unless"
            | "each"
            | "with"
            | "lookup"
            | "raw"
            | "log"
            | "len"
            | "eq"
            | "ne"
            | "gt"
            | "gte"
            | "lt"
            | "lte"
            | "and"
            | "or"
            | "not"
    )
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

    /// The hand-written substitution says what handlebars says, for what it takes on, and
    /// hands the rest to handlebars.
    #[test]
    fn substitution_agrees_with_handlebars() {
        let mut v = Vars::new();
        v.insert("id".into(), "a\"b<&>".into());
        v.insert("base_url".into(), "http://h/fhir".into());
        v.insert("x_1".into(), "".into());
        let by_handlebars = |t: &str| {
            engine()
                .render_template(t, &v)
                .map_err(|e| match e.reason() {
                    handlebars::RenderErrorReason::MissingVariable(Some(name)) => {
                        format!("variable `{name}` is not defined")
                    }
                    other => other.to_string(),
                })
        };
        let taken = [
            "Patient/{{id}}",
            "{{base_url}}/Task/{{id}}?_count=1",
            "{{ id }}",
            "{{id}}{{x_1}}{{id}}",
            "{{x_1}}",
            "no close {{",
            "{{nope}}",
            "a {{id}} then {{missing_one}}",
            "}} stray",
        ];
        for t in taken {
            match substitute(t, &v) {
                Some(fast) => assert_eq!(fast, by_handlebars(t), "{t}"),
                None => assert!(
                    ["no close {{", "}} stray"].contains(&t),
                    "{t} should be substituted"
                ),
            }
        }
        let handed_on = [
            "{{{id}}}",
            "{{#if id}}y{{/if}}",
            "{{a.b}}",
            "{{this}}",
            "{{~id~}}",
            "\\{{id}}",
            "{{! note }}",
            "{{> partial}}",
            "{{id\n}}",
            "{{len}}",
            "{{nope}} then {{#if id}}y{{/if}}",
        ];
        for t in handed_on {
            assert!(substitute(t, &v).is_none(), "{t} is for handlebars");
        }
        for t in taken.iter().chain(&handed_on) {
            if let (Ok(a), Ok(b)) = (render(t, &v), by_handlebars(t)) {
                assert_eq!(a, b, "{t}");
            }
        }
    }
}
