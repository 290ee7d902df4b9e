//! Coverage: which assertions of a pack prove each requirement of the catalog.

use super::{Basis, Catalog};
use crate::scenario::Pack;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    pub requirements: Vec<RequirementCoverage>,
    /// Requirements a black-box harness can test.
    pub total: usize,
    pub covered: usize,
    /// Covered / total, as a percentage.
    pub percent: f64,
    /// Requirements no black-box harness can test (catalog `untestable:`): listed with why,
    /// never counted as covered.
    pub untestable: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequirementCoverage {
    pub id: String,
    pub actor: String,
    pub verb: String,
    pub text: String,
    pub basis: Basis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
    pub source: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub option: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Why no black-box harness can test it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untestable: Option<String>,
    /// `scenario-id/step-id` for each assertion that proves it.
    pub assertions: Vec<String>,
}

/// Compute coverage of the catalog by a scenario pack.
pub fn coverage(catalog: &Catalog, pack: &Pack) -> Coverage {
    coverage_of(catalog, pack, |_| true)
}

/// Coverage of the requirements `keep` selects.
pub fn coverage_of(
    catalog: &Catalog,
    pack: &Pack,
    keep: impl Fn(&super::Requirement) -> bool,
) -> Coverage {
    let requirements: Vec<RequirementCoverage> = catalog
        .requirements
        .iter()
        .filter(|r| keep(r))
        .map(|r| {
            let mut assertions = Vec::new();
            for sc in &pack.scenarios {
                for st in &sc.steps {
                    for a in &st.asserts {
                        if a.requirement.as_deref() == Some(r.id.as_str()) {
                            let at = format!("{}/{}", sc.id, st.id);
                            if !assertions.contains(&at) {
                                assertions.push(at);
                            }
                        }
                    }
                }
            }
            RequirementCoverage {
                id: r.id.clone(),
                actor: r.actor.clone(),
                verb: r.verb.clone(),
                text: r.text.clone(),
                basis: r.basis,
                profile: r.profile.clone(),
                constraint: r.constraint.clone(),
                rationale: r.rationale.clone(),
                source: r.source.clone(),
                url: r.url.clone(),
                option: r.option.clone(),
                since: r.since.clone(),
                untestable: r.untestable.clone(),
                assertions,
            }
        })
        .collect();
    let untestable = requirements
        .iter()
        .filter(|r| r.untestable.is_some())
        .count();
    let total = requirements.len() - untestable;
    let covered = requirements
        .iter()
        .filter(|r| r.untestable.is_none() && !r.assertions.is_empty())
        .count();
    let percent = if total == 0 {
        100.0
    } else {
        covered as f64 * 100.0 / total as f64
    };
    Coverage {
        requirements,
        total,
        covered,
        percent,
        untestable,
    }
}
