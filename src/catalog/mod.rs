//! The requirement catalog: every requirement the harness checks, quoted from its source.
//!
//! Kept as data in `catalog/requirements.yaml`; see [`coverage`] for which assertions of a
//! scenario pack prove each requirement.

pub mod coverage;

use crate::results::Severity;
use crate::scenario::diagnostic::{Diagnostic, Diagnostics};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Default catalog location, relative to the project.
pub const DEFAULT_CATALOG: &str = "catalog/requirements.yaml";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// The CDex actors, by stable name.
    pub actors: BTreeMap<String, Actor>,
    pub requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    pub title: String,
    /// The actor the harness plays when this one is under test.
    pub counterpart: String,
    pub description: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// Stable id, never reused.
    pub id: String,
    /// The actor the requirement binds.
    pub actor: String,
    /// Conformance verb: SHALL, SHOULD, MAY (or SHALL NOT ...).
    pub verb: String,
    /// The text, quoted from the source.
    pub text: String,
    /// Where it comes from: page title and file.
    pub source: String,
    /// Optional note on how the harness interprets or tests it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Requirement {
    /// The severity a failed check of this requirement carries.
    pub fn severity(&self) -> Severity {
        let verb = self.verb.to_ascii_uppercase();
        if verb.starts_with("SHALL") || verb.starts_with("MUST") {
            Severity::Required
        } else if verb.starts_with("SHOULD") {
            Severity::Recommended
        } else {
            Severity::Optional
        }
    }
}

impl Catalog {
    /// Read and check a catalog file.
    pub fn load(path: &Path) -> Result<Catalog, Diagnostics> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Diagnostics(vec![Diagnostic::new(
                path,
                "",
                format!("cannot read the requirement catalog: {e}"),
            )])
        })?;
        let catalog: Catalog = serde_saphyr::from_str(&text).map_err(|e| {
            Diagnostics(vec![
                Diagnostic::new(path, "", crate::scenario::load::saphyr_message(&e))
                    .at(e.location()),
            ])
        })?;
        catalog.check(path)?;
        Ok(catalog)
    }

    fn check(&self, path: &Path) -> Result<(), Diagnostics> {
        let mut problems = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, r) in self.requirements.iter().enumerate() {
            if !seen.insert(r.id.as_str()) {
                problems.push(Diagnostic::new(
                    path,
                    format!("requirements[{i}].id"),
                    format!("duplicate requirement id `{}`", r.id),
                ));
            }
            if !self.actors.contains_key(&r.actor) {
                problems.push(Diagnostic::new(
                    path,
                    format!("requirements[{i}].actor"),
                    format!("unknown actor `{}`", r.actor),
                ));
            }
        }
        for (name, a) in &self.actors {
            if !self.actors.contains_key(&a.counterpart) {
                problems.push(Diagnostic::new(
                    path,
                    format!("actors.{name}.counterpart"),
                    format!("unknown actor `{}`", a.counterpart),
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Diagnostics(problems))
        }
    }

    pub fn requirement(&self, id: &str) -> Option<&Requirement> {
        self.requirements.iter().find(|r| r.id == id)
    }
}

/// Find the catalog: an explicit path, else `catalog/requirements.yaml` in the current
/// folder, else the one in the source tree this binary was built from.
pub fn locate(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    let local = PathBuf::from(DEFAULT_CATALOG);
    if local.exists() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_CATALOG)
}
