//! Structural profile checks: resource type, required elements and fixed values, from the
//! profile data in `profiles/structural.yaml` (compiled into the binary).

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Short name usable in scenarios (`profile: cdex-communication`).
    pub name: String,
    /// Canonical URL, also usable in scenarios.
    pub url: String,
    /// The resource type the profile constrains.
    pub resource: String,
    /// Where the rules come from.
    pub source: String,
    /// Element paths that must be present.
    #[serde(default)]
    pub required: Vec<String>,
    /// Element path -> value at least one occurrence must have.
    #[serde(default)]
    pub fixed: BTreeMap<String, String>,
}

/// Every structural profile the harness knows.
pub fn all() -> &'static [Profile] {
    static PROFILES: OnceLock<Vec<Profile>> = OnceLock::new();
    PROFILES.get_or_init(|| {
        serde_saphyr::from_str(include_str!("../profiles/structural.yaml"))
            .expect("profiles/structural.yaml is valid (checked by the unit tests)")
    })
}

/// Find a profile by short name or canonical URL (a `|version` suffix is ignored).
pub fn find(name_or_url: &str) -> Option<&'static Profile> {
    let key = name_or_url.split('|').next().unwrap_or("");
    all().iter().find(|p| p.name == key || p.url == key)
}

pub fn names() -> Vec<&'static str> {
    all().iter().map(|p| p.name.as_str()).collect()
}

/// Check a resource against a profile; returns the problems found (empty when it conforms).
pub fn check(profile: &Profile, resource: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    match resource.get("resourceType").and_then(Value::as_str) {
        Some(t) if t == profile.resource => {}
        Some(t) => {
            problems.push(format!(
                "resourceType is `{t}`, the profile `{}` constrains `{}`",
                profile.name, profile.resource
            ));
            return problems;
        }
        None => {
            problems.push("the body has no `resourceType`".to_string());
            return problems;
        }
    }
    if let Some(id) = resource.get("id")
        && !id.as_str().is_some_and(valid_id)
    {
        problems.push(format!(
            "`id` {id} is not a valid FHIR id ([A-Za-z0-9-.]{{1,64}})"
        ));
    }
    for path in &profile.required {
        if values(resource, path).is_empty() {
            problems.push(format!(
                "`{}.{path}` is required by {} but missing",
                profile.resource, profile.name
            ));
        }
    }
    for (path, want) in &profile.fixed {
        let found = values(resource, path);
        if !found.iter().any(|v| v.as_str() == Some(want.as_str())) {
            let got: Vec<String> = found.iter().map(|v| v.to_string()).collect();
            problems.push(format!(
                "`{}.{path}` must be `{want}` ({}), found {}",
                profile.resource,
                profile.name,
                if got.is_empty() {
                    "nothing".to_string()
                } else {
                    got.join(", ")
                }
            ));
        }
    }
    problems
}

/// FHIR `id` datatype: 1 to 64 of `[A-Za-z0-9\-\.]`.
pub fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Every value at a dotted path, flattening arrays; `name[x]` matches choice elements.
pub fn values<'a>(root: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut current = vec![root];
    for seg in path.split('.') {
        let mut next = Vec::new();
        for v in current {
            let Some(obj) = v.as_object() else { continue };
            if let Some(prefix) = seg.strip_suffix("[x]") {
                for (k, val) in obj {
                    if k.len() > prefix.len()
                        && k.starts_with(prefix)
                        && k[prefix.len()..].starts_with(|c: char| c.is_ascii_uppercase())
                    {
                        push_flat(val, &mut next);
                    }
                }
            } else if let Some(val) = obj.get(seg) {
                push_flat(val, &mut next);
            }
        }
        current = next;
    }
    current.retain(|v| !is_empty(v));
    current
}

fn push_flat<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => out.extend(items.iter()),
        other => out.push(other),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn profile_data_loads_and_checks() {
        assert!(all().len() >= 5);
        let p = find("cdex-task").unwrap();
        let ok = json!({"resourceType":"Task","identifier":[{"value":"1"}],"status":"requested","intent":"order",
            "code":{"coding":[{"code":"fulfill"}]},"focus":{"reference":"Communication/1"},"for":{"reference":"Patient/1"},
            "requester":{"reference":"Organization/1"},"owner":{"reference":"Organization/2"}});
        assert!(check(p, &ok).is_empty(), "{:?}", check(p, &ok));
        let mut bad = ok.clone();
        bad["intent"] = json!("plan");
        bad.as_object_mut().unwrap().remove("focus");
        let problems = check(p, &bad);
        assert_eq!(problems.len(), 2, "{problems:?}");
        let c =
            find("http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-communication|0.1")
                .unwrap();
        let comm = json!({"resourceType":"Communication","status":"completed","subject":{"reference":"Patient/1"},
            "sender":{"reference":"Organization/1"},"recipient":[{"reference":"Organization/2"}],"payload":[{"contentString":"x"}]});
        assert!(check(c, &comm).is_empty());
        assert!(!check(c, &json!({"resourceType":"Communication","id":"bad id!"})).is_empty());
    }
}
