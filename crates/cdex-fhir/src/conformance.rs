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
        issues.extend(structural_issues(p, resource));
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

/// What the structural rules of a profile (profiles/structural.yaml) find wrong: errors.
fn structural_issues<'a>(
    p: &'a profiles::Profile,
    resource: &Value,
) -> impl Iterator<Item = Issue> + 'a {
    profiles::check(p, resource)
        .into_iter()
        .map(move |problem| {
            Issue::new(
                Severity::Error,
                "required",
                p.resource.clone(),
                problem,
                format!("profiles/structural.yaml#{}", p.name),
            )
        })
}

/// What a receiver finds in a resource it was sent: every issue (the R4 base, the profiles its
/// `meta.profile` declares, and the `expected` profile, each with its invariants) and the
/// verdict over all of them.
#[derive(Debug)]
pub struct Received {
    pub issues: Vec<Issue>,
    pub verdict: super::validate::Verdict,
}

/// Check a received resource against the R4 base, what it declares, and the profile the
/// receiver expects of it (a short name or a canonical URL; the validator's profile when it
/// has one, else the structural rules of that short name). Errs when the validator's data do
/// not load.
pub async fn check_received(value: &Value, expected: Option<&str>) -> Result<Received, String> {
    use super::validate::{Evaluator, Verdict, issue, verdict};
    let validator = validator()?;
    let declared = verdict::declared_profiles(value);
    let mut against = declared;
    let mut structural_only = None;
    let loaded = expected.and_then(|name| {
        validator
            .profile(name)
            .or_else(|| profiles::find(name).and_then(|s| validator.profile(&s.url)))
    });
    // A resource that declares the expected profile was already checked against it (with
    // the R4 base, the same walk): a second validation would only find the same issues
    // again, which `dedupe` drops. The simulator's live check of a CDex Communication saves
    // a quarter of its work. Otherwise both validations share one walk of the R4 base.
    let mut issues = match loaded.filter(|p| !against.contains(&p.url)) {
        Some(p) => validator
            .validate_with_invariants_each(value, &[None, Some(&p.url)], Evaluator::default())
            .await
            .into_iter()
            .flatten()
            .collect(),
        None => validator.validate_with_invariants(value, None).await,
    };
    if let Some(p) = loaded {
        against.push(p.url.clone());
    } else if let Some(p) = expected.and_then(profiles::find) {
        issues.extend(structural_issues(p, value));
        structural_only = Some(p.url.clone());
    }
    issue::dedupe(&mut issues);
    let mut verdict = validator.verdict(value, &against, &issues);
    if let Some(url) = structural_only {
        match &mut verdict {
            Verdict::Valid { against } | Verdict::Invalid { against, .. } => {
                against.profiles.push(url)
            }
            Verdict::NotChecked { .. } => {}
        }
    }
    Ok(Received { issues, verdict })
}
