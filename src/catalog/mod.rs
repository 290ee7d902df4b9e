//! The requirement catalog: every requirement the harness checks, quoted from its source.
//!
//! Kept as data in `catalog/*.yaml` (merged); see [`coverage`] for which assertions of a
//! scenario pack prove each requirement.

pub mod coverage;

use crate::results::Severity;
use crate::scenario::diagnostic::{Diagnostic, Diagnostics};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// The CDex actors, by stable name.
    pub actors: BTreeMap<String, Actor>,
    /// The options an actor may claim (`task-based`, `notified-pull`), by name.
    #[serde(default)]
    pub options: BTreeMap<String, OptionDef>,
    /// The rule sets a requirement may belong to (`since:`), oldest first; the first is the
    /// default of a run (`--rules`). Empty for a catalog with one rule set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule_sets: Vec<String>,
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
    rule_sets: Vec<String>,
    #[serde(default)]
    requirements: Vec<RequirementDef>,
}

/// A requirement as written in the catalog file, with the places of the fields whose
/// consistency is checked (see [`RequirementDef::check`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequirementDef {
    id: Spanned<String>,
    actor: String,
    verb: Spanned<String>,
    text: String,
    source: String,
    basis: Option<Spanned<String>>,
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    constraint: Option<String>,
    #[serde(default)]
    rationale: Option<String>,
    url: Option<Spanned<String>>,
    #[serde(default)]
    option: Option<Spanned<String>>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    since: Option<Spanned<String>>,
    #[serde(default)]
    untestable: Option<String>,
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
    /// What the requirement rests on: a quoted conformance verb, a profile's constraint, or
    /// the harness's reading.
    pub basis: Basis,
    /// For a `profile` basis: the canonical URL of the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// For a `profile` basis: the constraint (`Communication.subject 1..1`, an invariant id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
    /// For a `reading`: why it is the harness's interpretation and not a quoted rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
    /// Where it comes from, for a person: page title and section.
    pub source: String,
    /// The published page it comes from: canonical URL with the section's anchor.
    pub url: String,
    /// The CDex option it belongs to (`task-based`, `notified-pull`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option: Option<String>,
    /// Optional note on how the harness interprets or tests it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The rule set that introduced it (one of the catalog's `rule_sets`), when the catalog
    /// has several: a run under an earlier rule set only warns on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Why no black-box harness can test it (organisational, UI, internal): listed as "not
    /// testable", never counted as covered, and no assertion may claim it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub untestable: Option<String>,
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

/// What a requirement rests on. Only `text` and `profile` requirements can fail a run; a
/// `reading` warns unless the run is `--strict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// A SHALL, SHALL NOT or MUST (or SHOULD, MAY) quoted from a seed, the IG or FHIR R4.
    Text,
    /// A constraint of a named profile: cardinality, binding, fixed value, invariant.
    Profile,
    /// The harness's interpretation, with its rationale.
    Reading,
}

impl Basis {
    pub const ALL: [&'static str; 3] = ["text", "profile", "reading"];

    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Text => "text",
            Basis::Profile => "profile",
            Basis::Reading => "reading",
        }
    }

    fn parse(s: &str) -> Option<Basis> {
        match s {
            "text" => Some(Basis::Text),
            "profile" => Some(Basis::Profile),
            "reading" => Some(Basis::Reading),
            _ => None,
        }
    }
}

impl std::fmt::Display for Basis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The severity a conformance verb gives: SHALL/MUST required, SHOULD recommended, else
/// optional.
fn verb_severity(verb: &str) -> Severity {
    let verb = verb.to_ascii_uppercase();
    if verb.starts_with("SHALL") || verb.starts_with("MUST") {
        Severity::Required
    } else if verb.starts_with("SHOULD") {
        Severity::Recommended
    } else {
        Severity::Optional
    }
}

impl Requirement {
    /// The severity a failed check of this requirement carries: its verb's, except that a
    /// reading is at most `recommended` (a warning).
    pub fn severity(&self) -> Severity {
        match (self.basis, verb_severity(&self.verb)) {
            (Basis::Reading, Severity::Required) => Severity::Recommended,
            (_, s) => s,
        }
    }

    /// The severity under `--strict`: a reading is enforced as its verb says.
    pub fn strict_severity(&self) -> Severity {
        verb_severity(&self.verb)
    }
}

impl RequirementDef {
    /// Turn the file's form into a requirement, or say every field that is missing or does
    /// not fit the basis.
    fn check(self, file: &Path) -> Result<Requirement, Vec<Diagnostic>> {
        let id = self.id.value.clone();
        let at = Some(self.id.referenced);
        let field = |name: &str| format!("requirements (id {id}).{name}");
        let mut problems = Vec::new();
        let basis = match &self.basis {
            None => {
                problems.push(
                    Diagnostic::new(file, field("basis"), "requirement has no `basis`")
                        .at(at)
                        .hint(
                            "give `basis: text` (a quoted SHALL), `basis: profile` (with \
                             `profile:` and `constraint:`) or `basis: reading` (with \
                             `rationale:`); see docs/requirements.md",
                        ),
                );
                None
            }
            Some(b) => match Basis::parse(b.value.trim()) {
                Some(basis) => Some(basis),
                None => {
                    let mut d = Diagnostic::new(
                        file,
                        field("basis"),
                        format!(
                            "basis `{}` is not one of {}",
                            b.value,
                            Basis::ALL.join(", ")
                        ),
                    )
                    .at(Some(b.referenced));
                    if let Some(c) = crate::suggest::closest(b.value.trim(), Basis::ALL) {
                        d = d.hint(format!("did you mean `{c}`?"));
                    }
                    problems.push(d);
                    None
                }
            },
        };
        let missing = |problems: &mut Vec<Diagnostic>, name: &str, why: &str| {
            problems.push(
                Diagnostic::new(file, field(name), format!("`{name}` is missing: {why}")).at(at),
            );
        };
        match basis {
            Some(Basis::Profile) => {
                if self.profile.as_deref().is_none_or(|p| p.trim().is_empty()) {
                    missing(
                        &mut problems,
                        "profile",
                        "a `profile` basis names the profile's canonical URL",
                    );
                }
                if self
                    .constraint
                    .as_deref()
                    .is_none_or(|c| c.trim().is_empty())
                {
                    missing(
                        &mut problems,
                        "constraint",
                        "a `profile` basis names the constraint (`Communication.subject 1..1`, an invariant id)",
                    );
                }
            }
            Some(Basis::Reading)
                if self
                    .rationale
                    .as_deref()
                    .is_none_or(|r| r.trim().is_empty()) =>
            {
                missing(
                    &mut problems,
                    "rationale",
                    "a `reading` says why it is the harness's interpretation",
                );
            }
            Some(Basis::Text) => {
                let words: &[&str] = match verb_severity(&self.verb.value) {
                    Severity::Required => &["SHALL", "MUST", "REQUIRED"],
                    Severity::Recommended => &["SHOULD", "RECOMMENDED"],
                    Severity::Optional => &["MAY", "OPTIONAL"],
                };
                let quoted = self
                    .text
                    .split(|c: char| !c.is_ascii_alphabetic())
                    .any(|w| words.contains(&w));
                if !quoted {
                    problems.push(
                        Diagnostic::new(
                            file,
                            field("text"),
                            format!(
                                "a `text` basis quotes its verb, but the text holds none of {} (verb {})",
                                words.join(", "),
                                self.verb.value
                            ),
                        )
                        .at(at)
                        .hint("quote the sentence with the verb, or make it `basis: reading` with a `rationale`"),
                    );
                }
            }
            Some(Basis::Reading) | None => {}
        }
        if basis != Some(Basis::Profile) {
            for (name, given) in [("profile", &self.profile), ("constraint", &self.constraint)] {
                if given.is_some() {
                    problems.push(
                        Diagnostic::new(
                            file,
                            field(name),
                            format!("`{name}` belongs to a `profile` basis only"),
                        )
                        .at(at),
                    );
                }
            }
        }
        let url = match &self.url {
            None => {
                missing(
                    &mut problems,
                    "url",
                    "every requirement links the published page it comes from",
                );
                String::new()
            }
            Some(u) => {
                if !(u.value.starts_with("http://") || u.value.starts_with("https://")) {
                    problems.push(
                        Diagnostic::new(
                            file,
                            field("url"),
                            format!("`{}` is not an http(s) URL of a published page", u.value),
                        )
                        .at(Some(u.referenced)),
                    );
                }
                u.value.clone()
            }
        };
        match basis {
            Some(basis) if problems.is_empty() => Ok(Requirement {
                id,
                actor: self.actor,
                verb: self.verb.value,
                text: self.text,
                basis,
                profile: self.profile,
                constraint: self.constraint,
                rationale: self.rationale,
                source: self.source,
                url,
                option: self.option.map(|o| o.value),
                note: self.note,
                since: self.since.map(|s| s.value),
                untestable: self.untestable,
            }),
            _ => Err(problems),
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
            rule_sets: Vec::new(),
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
                    if !part.rule_sets.is_empty() {
                        if !catalog.rule_sets.is_empty() {
                            problems.push(Diagnostic::new(
                                file,
                                "rule_sets",
                                "`rule_sets` is given in two files of the catalog",
                            ));
                        }
                        catalog.rule_sets = part.rule_sets;
                    }
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
                    for def in part.requirements {
                        match def.check(file) {
                            Ok(r) => {
                                origin.push(file.clone());
                                catalog.requirements.push(r);
                            }
                            Err(d) => problems.extend(d),
                        }
                    }
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
            // A requirement's option is one the catalog defines (`options:`, any file).
            if let Some(o) = &r.option
                && !self.options.contains_key(o)
            {
                let known: Vec<&str> = self.options.keys().map(String::as_str).collect();
                let mut d = Diagnostic::new(
                    path_of(i),
                    format!("requirements (id {}).option", r.id),
                    format!("option `{o}` is not one of {}", known.join(", ")),
                );
                if let Some(c) = crate::suggest::closest(o, known.iter().copied()) {
                    d = d.hint(format!("did you mean `{c}`?"));
                }
                problems.push(d);
            }
            if let Some(since) = &r.since
                && !self.rule_sets.contains(since)
            {
                let msg = if self.rule_sets.is_empty() {
                    format!("`since: {since}`, but the catalog has no `rule_sets`")
                } else {
                    crate::suggest::unknown(
                        "rule set",
                        "rule sets",
                        since,
                        self.rule_sets.iter().map(String::as_str),
                    )
                };
                problems.push(Diagnostic::new(
                    path_of(i),
                    format!("requirements (id {}).since", r.id),
                    msg,
                ));
            }
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

    /// The rule sets a run under `rules` judges by: that one and every earlier one (all of
    /// them when the catalog has none). `Err` names the known ones.
    pub fn rules_in_force(&self, rules: Option<&str>) -> Result<Vec<String>, String> {
        match rules {
            None => Ok(self.rule_sets.first().cloned().into_iter().collect()),
            Some(r) => match self.rule_sets.iter().position(|x| x == r) {
                Some(i) => Ok(self.rule_sets[..=i].to_vec()),
                None if self.rule_sets.is_empty() => {
                    Err(format!("--rules {r}: this pack has one rule set only"))
                }
                None => Err(format!(
                    "--rules: {}",
                    crate::suggest::unknown(
                        "rule set",
                        "rule sets",
                        r,
                        self.rule_sets.iter().map(String::as_str)
                    )
                )),
            },
        }
    }
}
