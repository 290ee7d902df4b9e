//! Coverage: which assertions of a pack prove each requirement of the catalog.

use super::Catalog;
use crate::scenario::Pack;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    pub requirements: Vec<RequirementCoverage>,
    pub total: usize,
    pub covered: usize,
    /// Covered / total, as a percentage.
    pub percent: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequirementCoverage {
    pub id: String,
    pub actor: String,
    pub verb: String,
    pub text: String,
    pub source: String,
    /// `scenario-id/step-id` for each assertion that proves it.
    pub assertions: Vec<String>,
}

/// Compute coverage of the catalog by a scenario pack.
pub fn coverage(catalog: &Catalog, pack: &Pack) -> Coverage {
    let requirements: Vec<RequirementCoverage> = catalog
        .requirements
        .iter()
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
                source: r.source.clone(),
                assertions,
            }
        })
        .collect();
    let total = requirements.len();
    let covered = requirements
        .iter()
        .filter(|r| !r.assertions.is_empty())
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
    }
}
