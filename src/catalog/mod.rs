//! The requirement catalog: every requirement the harness checks, quoted from its source.
//!
//! Kept as data in `catalog/*.yaml` (merged); see [`coverage`] for which assertions of a
//! scenario pack prove each requirement.

pub mod coverage;

use crate::results::Severity;
use crate::scenario::diagnostic::{Diagnostic, Diagnostics};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Default catalog location, relative to the project: a folder of YAML files.
pub const DEFAULT_CATALOG: &str = "catalog";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// The CDex actors, by stable name.
    pub actors: BTreeMap<String, Actor>,
    /// The options an actor may claim (`task-based`, `notified-pull`), by name.
    #[serde(default)]
    pub options: BTreeMap<String, OptionDef>,
    pub requirements: Vec<Requirement>,
}

/// An option of the IG: a part of an actor's behaviour a system claims or not. Scenarios
/// of an option the system under test does not claim are not applicable to it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OptionDef {
    pub title: String,
    pub description: String,
    /// The actors that may claim it.
    pub actors: Vec<String>,
    /// A FHIRPath expression over a server's CapabilityStatement that holds when the server
    /// seems to support the option (a hint in the console and report, never a verdict).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability_hint: Option<String>,
    /// What the hint looks for, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint_text: Option<String>,
}

/// One file of the catalog folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    actors: BTreeMap<String, Actor>,
    #[serde(default)]
    options: BTreeMap<String, OptionDef>,
    #[serde(default)]
    requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    pub title: String,
    /// The actor the harness plays when this one is under test.
    pub counterpart: String,
    /// `server` when the system under test answers the harness's requests (`--target`),
    /// `client` when it sends them (`--listen`, `--trigger`).
    pub role: Role,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Server,
    Client,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
        }
    }
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
    /// Read and check the catalog: a folder of YAML files (merged, in name order), or one
    /// file. Every problem in every file is reported.
    pub fn load(path: &Path) -> Result<Catalog, Diagnostics> {
        let files: Vec<PathBuf> = if path.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| {
                    Diagnostics(vec![Diagnostic::new(
                        path,
                        "",
                        format!("cannot list the requirement catalog: {e}"),
                    )])
                })?
                .flatten()
                .map(|e| e.path())
                .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
                .collect();
            v.sort();
            v
        } else {
            vec![path.to_path_buf()]
        };
        let mut catalog = Catalog {
            actors: BTreeMap::new(),
            options: BTreeMap::new(),
            requirements: Vec::new(),
        };
        let mut problems = Vec::new();
        let mut origin: Vec<PathBuf> = Vec::new();
        for file in &files {
            let part: Result<CatalogFile, Box<Diagnostic>> = std::fs::read_to_string(file)
                .map_err(|e| {
                    Box::new(Diagnostic::new(
                        file,
                        "",
                        format!("cannot read the requirement catalog: {e}"),
                    ))
                })
                .and_then(|text| {
                    serde_saphyr::from_str(&text).map_err(|e| {
                        Box::new(
                            Diagnostic::new(file, "", crate::scenario::load::saphyr_message(&e))
                                .at(e.location()),
                        )
                    })
                });
            match part {
                Ok(part) => {
                    for (name, actor) in part.actors {
                        if catalog.actors.insert(name.clone(), actor).is_some() {
                            problems.push(Diagnostic::new(
                                file,
                                format!("actors.{name}"),
                                format!("actor `{name}` is defined twice"),
                            ));
                        }
                    }
                    for (name, option) in part.options {
                        if catalog.options.insert(name.clone(), option).is_some() {
                            problems.push(Diagnostic::new(
                                file,
                                format!("options.{name}"),
                                format!("option `{name}` is defined twice"),
                            ));
                        }
                    }
                    origin.extend(std::iter::repeat_n(file.clone(), part.requirements.len()));
                    catalog.requirements.extend(part.requirements);
                }
                Err(d) => problems.push(*d),
            }
        }
        if files.is_empty() {
            problems.push(Diagnostic::new(
                path,
                "",
                "the requirement catalog holds no YAML file",
            ));
        }
        if let Err(d) = catalog.check(&origin) {
            problems.extend(d.0);
        }
        if problems.is_empty() {
            Ok(catalog)
        } else {
            Err(Diagnostics(problems))
        }
    }

    fn check(&self, origin: &[PathBuf]) -> Result<(), Diagnostics> {
        let unknown = PathBuf::from("catalog");
        let path_of = |i: usize| origin.get(i).unwrap_or(&unknown).clone();
        let mut problems = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, r) in self.requirements.iter().enumerate() {
            if !seen.insert(r.id.as_str()) {
                problems.push(Diagnostic::new(
                    path_of(i),
                    "requirements.id",
                    format!("duplicate requirement id `{}`", r.id),
                ));
            }
            if !self.actors.contains_key(&r.actor) {
                problems.push(Diagnostic::new(
                    path_of(i),
                    format!("requirements (id {}).actor", r.id),
                    format!("unknown actor `{}`", r.actor),
                ));
            }
        }
        for (name, a) in &self.actors {
            if !self.actors.contains_key(&a.counterpart) {
                problems.push(Diagnostic::new(
                    "catalog",
                    format!("actors.{name}.counterpart"),
                    format!("unknown actor `{}`", a.counterpart),
                ));
            }
        }
        for (name, o) in &self.options {
            for a in o.actors.iter().filter(|a| !self.actors.contains_key(*a)) {
                problems.push(Diagnostic::new(
                    "catalog",
                    format!("options.{name}.actors"),
                    format!("unknown actor `{a}`"),
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

/// Find the catalog: an explicit path, else `catalog/` in the current folder, else the one
/// in the source tree this binary was built from.
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
