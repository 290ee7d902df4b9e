//! Profiles: a StructureDefinition's differential compiled into a tree of element rules
//! (cardinality, fixed and pattern values, bindings, types and their profiles, must-support,
//! slicing and slices, invariants), keyed by element names as they appear in instances.

use crate::fhirpath_subset::{self, Compiled};
use serde_json::Value;
use std::sync::Arc;

/// Most occurrences an element may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Max {
    Many,
    N(u32),
}

/// A type an element is constrained to, with its profiles.
#[derive(Debug, Clone, Default)]
pub struct TypeRef {
    pub code: String,
    /// Profiles the value must conform to (extensions, datatypes, contained resources).
    pub profiles: Vec<String>,
    /// Profiles the target of a Reference/canonical must conform to.
    pub target_profiles: Vec<String>,
    /// What those are among the loaded profiles (filled by [`link_targets`]).
    pub targets: Targets,
}

/// The target profiles of a type, as the validator's loaded profiles resolve them: worked
/// out once when profiles are loaded, not for every reference validated.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// The resource type each allows, in order: a loaded profile's type, or the type a base
    /// definition's URL names (an unknown profile allows none).
    pub allowed: Vec<String>,
    /// The loaded ones (their URLs as written), in order.
    pub loaded: Vec<String>,
    /// The ones neither loaded nor of the R4 base, joined with `, `; `None` when there are none.
    pub unknown: Option<String>,
}

/// Resolve the target profiles of every type of every profile against the loaded profiles
/// (`Validator::add_resource` calls it after each StructureDefinition it adds: a profile
/// loaded later resolves the targets of those loaded before it).
pub fn link_targets(profiles: &mut super::base::FastMap<String, Profile>) {
    use super::base::BASE_URL;
    use super::terminology::strip_version;
    let types: super::base::FastMap<String, String> = profiles
        .iter()
        .map(|(k, p)| (k.clone(), p.type_name.clone()))
        .collect();
    let resolve = |t: &mut TypeRef| {
        let mut targets = Targets::default();
        let mut unknown = Vec::new();
        for url in &t.target_profiles {
            if let Some(ty) = types.get(strip_version(url)) {
                targets.allowed.push(ty.clone());
                targets.loaded.push(url.clone());
            } else if let Some(name) = url.strip_prefix(BASE_URL) {
                targets.allowed.push(strip_version(name).to_string());
            } else {
                unknown.push(url.as_str());
            }
        }
        targets.unknown = (!unknown.is_empty()).then(|| unknown.join(", "));
        t.targets = targets;
    };
    fn walk(node: &mut Node, f: &dyn Fn(&mut TypeRef)) {
        node.types.iter_mut().for_each(f);
        for n in node.children.iter_mut().chain(node.slices.iter_mut()) {
            walk(n, f);
        }
    }
    for p in profiles.values_mut() {
        walk(&mut p.root, &resolve);
    }
}

/// A binding of the profile.
#[derive(Debug, Clone)]
pub struct Binding {
    pub strength: String,
    pub value_set: String,
}

/// One discriminator of a slicing.
#[derive(Debug, Clone)]
pub struct Discriminator {
    /// value, pattern, type, profile, exists.
    pub kind: String,
    pub path: String,
}

#[derive(Debug, Clone)]
pub struct Slicing {
    pub discriminators: Vec<Discriminator>,
    pub closed: bool,
}

/// A FHIRPath invariant.
#[derive(Debug, Clone)]
pub struct Constraint {
    pub key: String,
    pub severity: String,
    pub human: String,
    pub expression: String,
    /// The element id it is declared on.
    pub element: String,
    /// The definition declaring it (a profile's URL, or the R4 base type's): the source of
    /// the issue it gives when it fails.
    pub source: String,
    /// The expression for the fast evaluator, when it is inside its subset (else the full
    /// FHIRPath engine evaluates it): see [`crate::fhirpath_subset`].
    pub compiled: Option<Arc<Compiled>>,
}

impl Constraint {
    pub fn new(
        key: String,
        severity: String,
        human: String,
        expression: String,
        element: String,
        source: String,
    ) -> Constraint {
        let compiled = fhirpath_subset::compile(&expression).map(Arc::new);
        Constraint {
            key,
            severity,
            human,
            expression,
            element,
            source,
            compiled,
        }
    }
}

/// The rules of one element (or slice) of a profile.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// The element name in the id (`input`, `value[x]`, `valueReference`).
    pub name: String,
    /// The slice name, for a slice.
    pub slice_name: Option<String>,
    /// The element id, for messages and sources.
    pub id: String,
    pub min: Option<u32>,
    pub max: Option<Max>,
    /// (`fixedCode`, value).
    pub fixed: Option<(String, Value)>,
    /// (`patternCodeableConcept`, value).
    pub pattern: Option<(String, Value)>,
    pub binding: Option<Binding>,
    pub must_support: bool,
    pub types: Vec<TypeRef>,
    pub slicing: Option<Slicing>,
    pub slices: Vec<Node>,
    pub children: Vec<Node>,
    /// The types the R4 base gives this element (filled by [`Profile::resolve`]).
    pub base_types: Vec<String>,
    /// FHIRPath invariants declared on this element.
    pub constraints: Vec<Arc<Constraint>>,
}

impl Node {
    fn child_mut(&mut self, name: &str) -> &mut Node {
        if let Some(i) = self.children.iter().position(|c| c.name == name) {
            return &mut self.children[i];
        }
        self.children.push(Node {
            name: name.to_string(),
            ..Node::default()
        });
        self.children.last_mut().expect("just pushed")
    }

    fn slice_mut(&mut self, slice: &str) -> &mut Node {
        if let Some(i) = self
            .slices
            .iter()
            .position(|c| c.slice_name.as_deref() == Some(slice))
        {
            return &mut self.slices[i];
        }
        self.slices.push(Node {
            name: self.name.clone(),
            slice_name: Some(slice.to_string()),
            ..Node::default()
        });
        self.slices.last_mut().expect("just pushed")
    }

    /// The node at a dotted path below this one (`type`, `coding.code`); `$this` is itself.
    pub fn at(&self, path: &str) -> Option<&Node> {
        if path == "$this" {
            return Some(self);
        }
        let mut n = self;
        for part in path.split('.') {
            n = n
                .children
                .iter()
                .find(|c| c.name == part || c.name == format!("{part}[x]"))?;
        }
        Some(n)
    }

    /// Whether the element name matches a JSON key: `value[x]` matches `valueString`.
    pub fn matches_key(&self, key: &str) -> bool {
        name_matches_key(&self.name, key)
    }
}

/// Whether an element name matches a JSON key: `value[x]` matches `valueString`.
pub fn name_matches_key(name: &str, key: &str) -> bool {
    match name.strip_suffix("[x]") {
        Some(prefix) => {
            key.len() > prefix.len()
                && key.starts_with(prefix)
                && key[prefix.len()..].starts_with(|c: char| c.is_ascii_uppercase())
        }
        None => name == key,
    }
}

/// A compiled profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub url: String,
    pub id: String,
    pub name: String,
    /// The constrained type (`Task`, `Extension`, `Signature`).
    pub type_name: String,
    pub base_definition: String,
    pub root: Node,
    pub constraints: Vec<Arc<Constraint>>,
}

impl Profile {
    /// Compile a StructureDefinition (its differential).
    pub fn compile(sd: &Value) -> Result<Profile, String> {
        let s = |k: &str| sd.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let url = s("url");
        if url.is_empty() {
            return Err("a StructureDefinition without url".into());
        }
        let type_name = s("type");
        let mut root = Node {
            name: type_name.clone(),
            id: type_name.clone(),
            ..Node::default()
        };
        let mut constraints = Vec::new();
        let elements = sd
            .pointer("/differential/element")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{url}: no differential"))?;
        for e in elements {
            let id = e
                .get("id")
                .and_then(Value::as_str)
                .or_else(|| e.get("path").and_then(Value::as_str))
                .ok_or_else(|| format!("{url}: an element without id or path"))?;
            let segments = split_id(id);
            let mut node = &mut root;
            let last = segments.len().saturating_sub(1);
            for (i, (name, slice)) in segments.iter().enumerate().skip(1) {
                node = node.child_mut(name);
                let slice = if i == last {
                    e.get("sliceName").and_then(Value::as_str).or(*slice)
                } else {
                    *slice
                };
                if let Some(sl) = slice {
                    node = node.slice_mut(sl);
                }
            }
            node.id = id.to_string();
            read_rules(node, e);
            for c in e
                .get("constraint")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let g = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                if !g("expression").is_empty() {
                    let c = Constraint::new(
                        g("key"),
                        g("severity"),
                        g("human"),
                        g("expression"),
                        id.to_string(),
                        url.clone(),
                    );
                    let c = Arc::new(c);
                    node.constraints.push(c.clone());
                    constraints.push(c);
                }
            }
        }
        Ok(Profile {
            id: s("id"),
            name: s("name"),
            base_definition: s("baseDefinition"),
            url,
            type_name,
            root,
            constraints,
        })
    }
}

impl Profile {
    /// Fill in the base types of every node from the R4 base model (done once, on load).
    pub fn resolve(&mut self, base: &super::base::Base) {
        fn walk(node: &mut Node, path: &str, base: &super::base::Base) {
            for child in node.children.iter_mut() {
                let p = format!("{path}.{}", child.name);
                fill(child, &p, base);
            }
            for slice in node.slices.iter_mut() {
                slice.base_types = node.base_types.clone();
                walk(slice, path, base);
            }
        }
        fn fill(node: &mut Node, path: &str, base: &super::base::Base) {
            if let Some(e) = base.element(path) {
                node.base_types = if !e.children.list.is_empty() || e.content_ref.is_some() {
                    vec!["BackboneElement".to_string()]
                } else {
                    e.types.clone()
                };
            }
            walk(node, path, base);
        }
        let root = self.type_name.clone();
        walk(&mut self.root, &root, base);
    }
}

/// `Task.input:query.value[x]` -> [(Task, None), (input, Some(query)), (value[x], None)].
fn split_id(id: &str) -> Vec<(&str, Option<&str>)> {
    id.split('.')
        .map(|seg| match seg.split_once(':') {
            Some((n, s)) => (n, Some(s)),
            None => (seg, None),
        })
        .collect()
}

fn read_rules(node: &mut Node, e: &Value) {
    if let Some(min) = e.get("min").and_then(Value::as_u64) {
        node.min = Some(min as u32);
    }
    match e.get("max").and_then(Value::as_str) {
        Some("*") => node.max = Some(Max::Many),
        Some(n) => {
            if let Ok(n) = n.parse() {
                node.max = Some(Max::N(n));
            }
        }
        None => {}
    }
    if e.get("mustSupport").and_then(Value::as_bool) == Some(true) {
        node.must_support = true;
    }
    if let Some(obj) = e.as_object() {
        for (k, v) in obj {
            if k.starts_with("fixed") && k.len() > 5 {
                node.fixed = Some((k.clone(), v.clone()));
            } else if k.starts_with("pattern") && k.len() > 7 {
                node.pattern = Some((k.clone(), v.clone()));
            }
        }
    }
    if let Some(b) = e.get("binding") {
        let strength = b.get("strength").and_then(Value::as_str);
        let vs = b.get("valueSet").and_then(Value::as_str);
        if let (Some(strength), Some(vs)) = (strength, vs) {
            node.binding = Some(Binding {
                strength: strength.to_string(),
                value_set: vs.to_string(),
            });
        }
    }
    if let Some(s) = e.get("slicing") {
        let discriminators = s
            .get("discriminator")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|d| Discriminator {
                kind: d
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("value")
                    .to_string(),
                path: d
                    .get("path")
                    .and_then(Value::as_str)
                    .unwrap_or("$this")
                    .to_string(),
            })
            .collect();
        node.slicing = Some(Slicing {
            discriminators,
            closed: s.get("rules").and_then(Value::as_str) == Some("closed"),
        });
    }
    if let Some(types) = e.get("type").and_then(Value::as_array) {
        let strings = |t: &Value, k: &str| -> Vec<String> {
            t.get(k)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        };
        node.types = types
            .iter()
            .map(|t| TypeRef {
                code: t
                    .get("code")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                profiles: strings(t, "profile"),
                target_profiles: strings(t, "targetProfile"),
                targets: Targets::default(),
            })
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_slices_and_children() {
        let sd: Value = serde_json::from_str(include_str!(
            "../../profiles/cdex-2.1.0/structuredefinition-cdex-task-data-request.json"
        ))
        .unwrap();
        let p = Profile::compile(&sd).unwrap();
        assert_eq!(p.type_name, "Task");
        let input = p.root.at("input").unwrap();
        assert!(input.slicing.is_some());
        let query = input
            .slices
            .iter()
            .find(|s| s.slice_name.as_deref() == Some("query"))
            .unwrap();
        assert_eq!(query.max, Some(Max::N(1)));
        assert!(query.at("type").unwrap().pattern.is_some());
        assert!(p.constraints.iter().any(|c| c.key == "cdex-7"));
    }
}
