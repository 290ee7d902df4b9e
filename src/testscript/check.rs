//! `testscript check`: what of a script the harness runs, and for what it does not, the
//! element path and the reason. `run --testscript` refuses a script with unsupported parts
//! (exit 2) unless `--skip-unsupported` makes those actions skips.

use super::load::Loaded;
use super::model::{Assert, Operation};
use super::operators::Operator;
use super::{ops, xpath};
use std::collections::BTreeSet;

/// Says whether a fixture id is usable, pushing what is wrong with it.
type FixtureCheck<'a> = dyn Fn(&str, String, Option<&str>, &mut Vec<Unsupported>) + 'a;

#[derive(Debug, Clone, PartialEq)]
pub struct Unsupported {
    /// The element (`test[0].action[2].operation.type`).
    pub path: String,
    /// The action it belongs to (`test[0].action[2]`), which `--skip-unsupported` skips;
    /// `None` for a part of the script outside the actions (the script cannot run).
    pub action: Option<String>,
    pub reason: String,
}

/// What `check` found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub operations: usize,
    pub asserts: usize,
    pub unsupported: Vec<Unsupported>,
    /// What runs, but differently from what a reader might expect.
    pub notes: Vec<String>,
}

/// Top-level elements that change nothing in how a script runs.
const INERT: &[&str] = &[
    "resourceType",
    "id",
    "meta",
    "implicitRules",
    "language",
    "text",
    "extension",
    "url",
    "identifier",
    "version",
    "name",
    "title",
    "status",
    "experimental",
    "date",
    "publisher",
    "contact",
    "description",
    "useContext",
    "jurisdiction",
    "purpose",
    "copyright",
    "metadata",
    "scope",
    "versionAlgorithmString",
    "versionAlgorithmCoding",
    "copyrightLabel",
];

const INERT_ACTION: &[&str] = &["id", "extension"];

fn unknown(
    other: &std::collections::BTreeMap<String, serde_json::Value>,
    inert: &[&str],
    at: &str,
    action: Option<&str>,
    out: &mut Vec<Unsupported>,
) {
    for k in other.keys() {
        if inert.contains(&k.as_str()) || k.starts_with('_') {
            continue;
        }
        let reason = match k.as_str() {
            "modifierExtension" => {
                "a modifier extension changes the meaning, and the harness does not know it"
                    .to_string()
            }
            "rule" | "ruleset" => "rules (STU3 TestScript) are not run".to_string(),
            _ => format!("`{k}` is not an element the harness reads"),
        };
        out.push(Unsupported {
            path: format!("{at}.{k}").trim_start_matches('.').to_string(),
            action: action.map(str::to_string),
            reason,
        });
    }
}

pub fn check(l: &Loaded) -> Report {
    let s = &l.script;
    let mut r = Report::default();
    let mut out = Vec::new();
    unknown(&s.other, INERT, "", None, &mut out);
    for (p, why) in &l.problems {
        out.push(Unsupported {
            path: p.clone(),
            action: None,
            reason: why.clone(),
        });
    }
    if s.destination.len() > 1 {
        out.push(Unsupported {
            path: "destination".into(),
            action: None,
            reason: format!(
                "{} destinations: the harness tests one server at a time",
                s.destination.len()
            ),
        });
    }
    let missing_fixtures: BTreeSet<String> = l
        .problems
        .iter()
        .filter_map(|(p, _)| {
            let i: usize = p
                .strip_prefix("fixture[")?
                .split(']')
                .next()?
                .parse()
                .ok()?;
            s.fixture.get(i)?.id.clone()
        })
        .collect();
    let mut known: BTreeSet<String> = l.fixtures.keys().cloned().collect();
    for (_, actions) in s.sections() {
        for a in actions {
            if let Some(op) = &a.operation {
                known.extend(op.response_id.iter().cloned());
                known.extend(op.request_id.iter().cloned());
            }
        }
    }
    let fixture_ok = |id: &str, at: String, action: Option<&str>, out: &mut Vec<Unsupported>| {
        if missing_fixtures.contains(id) {
            out.push(Unsupported {
                path: at,
                action: action.map(str::to_string),
                reason: format!("fixture `{id}` could not be read (see its fixture entry)"),
            });
        } else if !known.contains(id) {
            out.push(Unsupported {
                path: at,
                action: action.map(str::to_string),
                reason: format!("no fixture, responseId or requestId is named `{id}`"),
            });
        }
    };
    for (i, v) in s.variable.iter().enumerate() {
        let at = format!("variable[{i}]");
        unknown(&v.other, &["extension", "id"], &at, None, &mut out);
        if let Some(p) = &v.path
            && let Err(e) = xpath::to_fhirpath(p)
        {
            out.push(Unsupported {
                path: format!("{at}.path"),
                action: None,
                reason: e,
            });
        }
        if let Some(e) = &v.expression
            && let Err(why) = crate::fhir::fhirpath::check(e)
        {
            out.push(Unsupported {
                path: format!("{at}.expression"),
                action: None,
                reason: format!("`{e}` does not parse: {why}"),
            });
        }
        if let Some(src) = &v.source_id {
            fixture_ok(src, format!("{at}.sourceId"), None, &mut out);
        }
        if v.hint.is_some()
            && v.default_value.is_none()
            && v.expression.is_none()
            && v.path.is_none()
            && v.header_field.is_none()
        {
            r.notes.push(format!(
                "variable `{}` is a hint ({}): give it with --var {}=VALUE",
                v.name,
                v.hint.as_deref().unwrap_or(""),
                v.name
            ));
        }
    }
    let profiles: BTreeSet<&str> = s.profile.iter().filter_map(|p| p.id.as_deref()).collect();
    for p in &s.profile {
        if let Some(url) = &p.reference
            && !url.starts_with("http://hl7.org/fhir/StructureDefinition/")
            && !crate::fhir::conformance::known(url)
        {
            r.notes.push(format!(
                "profile {url} is not one the harness has: validateProfileId asserts against it are reported not checked (skipped), never passed"
            ));
        }
    }
    for (path, actions) in s.sections() {
        for (i, a) in actions.iter().enumerate() {
            let at = format!("{path}.action[{i}]");
            unknown(&a.other, INERT_ACTION, &at, Some(&at), &mut out);
            if let Some(op) = &a.operation {
                r.operations += 1;
                operation(
                    op,
                    l,
                    &format!("{at}.operation"),
                    &at,
                    &fixture_ok,
                    &mut out,
                );
                if path == "teardown" && a.assert.is_some() {
                    out.push(Unsupported {
                        path: format!("{at}.assert"),
                        action: Some(at.clone()),
                        reason: "a teardown has no asserts".into(),
                    });
                }
            }
            if let Some(asrt) = &a.assert {
                r.asserts += 1;
                assert(
                    asrt,
                    &profiles,
                    &format!("{at}.assert"),
                    &at,
                    &fixture_ok,
                    &mut out,
                );
            }
            if a.operation.is_none() && a.assert.is_none() {
                out.push(Unsupported {
                    path: at.clone(),
                    action: Some(at.clone()),
                    reason: "an action with neither an operation nor an assert".into(),
                });
            }
        }
    }
    // `${name}` of a variable the script does not declare: given with --var, or an error
    // when the action runs.
    let declared: BTreeSet<&str> = s.variable.iter().map(|v| v.name.as_str()).collect();
    let mut used = BTreeSet::new();
    collect_vars(&l.raw, &mut used);
    for name in used.iter().filter(|n| !declared.contains(n.as_str())) {
        r.notes.push(format!(
            "`${{{name}}}` is used and not declared: give it with --var {name}=VALUE"
        ));
    }
    r.unsupported = out;
    r
}

fn collect_vars(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::String(s) => out.extend(super::vars::referenced(s)),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_vars(x, out)),
        serde_json::Value::Object(m) => m
            .iter()
            .filter(|(k, _)| k.as_str() != "text")
            .for_each(|(_, x)| collect_vars(x, out)),
        _ => {}
    }
}

fn operation(
    op: &Operation,
    l: &Loaded,
    at: &str,
    action: &str,
    fixture_ok: &FixtureCheck<'_>,
    out: &mut Vec<Unsupported>,
) {
    let push = |out: &mut Vec<Unsupported>, p: String, reason: String| {
        out.push(Unsupported {
            path: p,
            action: Some(action.into()),
            reason,
        })
    };
    unknown(
        &op.other,
        &["extension", "id", "encodeRequestUrl"],
        at,
        Some(action),
        out,
    );
    if let Err(e) = ops::code(op) {
        push(out, format!("{at}.type"), e);
    }
    if op.destination.is_some_and(|d| d > 1) {
        push(
            out,
            format!("{at}.destination"),
            "a second destination server (the harness tests one)".into(),
        );
    }
    if op.source_id.is_some()
        && op
            .content_type
            .as_deref()
            .is_some_and(|c| c == "xml" || c.contains("xml"))
    {
        push(
            out,
            format!("{at}.contentType"),
            "the harness sends JSON bodies only (contentType xml)".into(),
        );
    }
    for (name, id) in [("sourceId", &op.source_id), ("targetId", &op.target_id)] {
        if let Some(id) = id {
            fixture_ok(id, format!("{at}.{name}"), Some(action), out);
        }
    }
    let dynamic: BTreeSet<String> = BTreeSet::new();
    let fx = ops::Fixtures {
        fixed: &l.fixtures,
        dynamic: &dynamic,
    };
    if ops::code(op).is_ok()
        && op
            .source_id
            .as_ref()
            .is_none_or(|s| l.fixtures.contains_key(s))
        && let Err(e) = ops::request(op, &l.script, &fx)
    {
        push(out, at.to_string(), e);
    }
}

fn assert(
    a: &Assert,
    profiles: &BTreeSet<&str>,
    at: &str,
    action: &str,
    fixture_ok: &FixtureCheck<'_>,
    out: &mut Vec<Unsupported>,
) {
    let push = |out: &mut Vec<Unsupported>, p: String, reason: String| {
        out.push(Unsupported {
            path: p,
            action: Some(action.into()),
            reason,
        })
    };
    unknown(&a.other, &["extension", "id"], at, Some(action), out);
    if let Some(o) = &a.operator
        && Operator::parse(o).is_none()
    {
        push(
            out,
            format!("{at}.operator"),
            format!("unknown operator `{o}`"),
        );
    }
    if let Some(r) = &a.response
        && super::checks::response_code(r).is_none()
    {
        push(
            out,
            format!("{at}.response"),
            format!("unknown response code `{r}`"),
        );
    }
    for (name, p) in [
        ("path", &a.path),
        ("compareToSourcePath", &a.compare_to_source_path),
    ] {
        if let Some(p) = p
            && let Err(e) = xpath::to_fhirpath(p)
        {
            push(out, format!("{at}.{name}"), e);
        }
    }
    for (name, e) in [
        ("expression", &a.expression),
        ("compareToSourceExpression", &a.compare_to_source_expression),
    ] {
        if let Some(e) = e
            && !e.contains("${")
            && let Err(why) = crate::fhir::fhirpath::check(e)
        {
            push(
                out,
                format!("{at}.{name}"),
                format!("`{e}` does not parse: {why}"),
            );
        }
    }
    if a.compare_to_source_id.is_some()
        && a.compare_to_source_expression.is_none()
        && a.compare_to_source_path.is_none()
    {
        push(
            out,
            format!("{at}.compareToSourceId"),
            "compareToSourceId needs compareToSourceExpression or compareToSourcePath".into(),
        );
    }
    if a.compare_to_source_id.is_some() && a.expression.is_none() && a.path.is_none() {
        push(
            out,
            format!("{at}.compareToSourceId"),
            "compareToSourceId needs an expression or path of its own".into(),
        );
    }
    for (name, id) in [
        ("sourceId", &a.source_id),
        ("compareToSourceId", &a.compare_to_source_id),
        ("minimumId", &a.minimum_id),
    ] {
        if let Some(id) = id {
            fixture_ok(id, format!("{at}.{name}"), Some(action), out);
        }
    }
    if let Some(p) = &a.validate_profile_id
        && !profiles.contains(p.as_str())
    {
        push(
            out,
            format!("{at}.validateProfileId"),
            format!("no profile of the script has id `{p}`"),
        );
    }
    let sources = [
        a.response.is_some(),
        a.response_code.is_some(),
        a.content_type.is_some(),
        a.header_field.is_some(),
        a.resource.is_some(),
        a.expression.is_some() || a.path.is_some(),
        a.minimum_id.is_some(),
        a.navigation_links.is_some(),
        a.validate_profile_id.is_some(),
        a.request_url.is_some(),
        a.request_method.is_some(),
    ];
    if !sources.iter().any(|x| *x) {
        push(
            out,
            at.to_string(),
            "the assert names nothing to check".into(),
        );
    }
}
