//! Conformance of a resource to a profile, as the `profile:` assertion and the simulator's
//! live checks see it: the full validator (R4 base structure, the profile's differential,
//! bindings, invariants) plus the structural rules of `profiles/structural.yaml` for the
//! short names defined there.

use super::profiles;
use super::validate::Validator;
use super::validate::issue::{Issue, Severity};
use serde_json::Value;
use std::sync::OnceLock;

/// The validator with every definition shipped in the binary, loaded once.
pub fn validator() -> Result<&'static Validator, String> {
    static V: OnceLock<Result<Validator, String>> = OnceLock::new();
    V.get_or_init(Validator::load_default)
        .as_ref()
        .map_err(Clone::clone)
}

/// The profiles a scenario may name: structural short names, then the validator's.
pub fn known(name: &str) -> bool {
    profiles::find(name).is_some() || validator().is_ok_and(|v| v.profile(name).is_some())
}

/// Every name a scenario may use, for hints.
pub fn names() -> Vec<String> {
    let mut all: Vec<String> = profiles::names().into_iter().map(str::to_string).collect();
    if let Ok(v) = validator() {
        all.extend(v.profile_urls().into_iter().map(str::to_string));
    }
    all
}

/// The canonical URL a name stands for (for reports).
pub fn canonical(name: &str) -> String {
    if let Some(p) = profiles::find(name) {
        return p.url.clone();
    }
    validator()
        .ok()
        .and_then(|v| v.profile(name).map(|p| p.url.clone()))
        .unwrap_or_else(|| name.to_string())
}

/// Check a resource against a profile: errors make it fail; warnings and information are
/// returned too.
pub async fn check(resource: &Value, name: &str) -> Result<Vec<Issue>, String> {
    let mut issues: Vec<Issue> = Vec::new();
    let structural = profiles::find(name);
    if let Some(p) = structural {
        for problem in profiles::check(p, resource) {
            issues.push(Issue::new(
                Severity::Error,
                "required",
                p.resource.clone(),
                problem,
                format!("profiles/structural.yaml#{}", p.name),
            ));
        }
    }
    let v = validator()?;
    // The full profile: the name itself, or the canonical URL a structural profile names.
    let full = v
        .profile(name)
        .map(|p| p.url.clone())
        .or_else(|| structural.and_then(|p| v.profile(&p.url).map(|q| q.url.clone())));
    issues.extend(v.validate_with_invariants(resource, full.as_deref()).await);
    Ok(issues)
}
