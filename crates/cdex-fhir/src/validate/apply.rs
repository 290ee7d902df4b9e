//! Applying a compiled profile to an instance: cardinality, fixed and pattern values,
//! bindings (required: error; extensible: warning), types and type profiles, must-support
//! (reported as information), and slicing by value, pattern and type.

use super::base::{BASE_URL, Base, FastMap};
use super::invariant::Pending;
use super::issue::concat;
use super::issue::{Issue, Severity};
use super::profile::{Discriminator, Max, Node, Profile, Slicing, TypeRef};
use super::structure::{field, is_absolute_url, parse_relative, type_from_url};
use super::terminology::{self, Membership, Terminology};
use serde_json::{Map, Value};
use smallvec::SmallVec;
use std::borrow::Cow;

/// What applying profiles needs: the base model, the terminology and the loaded profiles.
pub struct Context<'a> {
    pub base: &'a Base,
    pub terminology: &'a Terminology,
    pub profiles: &'a FastMap<String, Profile>,
    /// Collect the FHIRPath invariants to evaluate (see [`super::invariant`]).
    pub invariants: bool,
    /// The resource handed to the validator: an invariant's value found in it at its own
    /// location is evaluated in place, without a copy (see [`Pending::target`]).
    pub top: &'a Value,
}

/// The occurrences of an element in one parent: most have a few, kept on the stack.
type Items<'v> = SmallVec<[Item<'v>; 4]>;

/// One occurrence of an element in the instance; its location is built only when needed.
#[derive(Clone, Copy)]
struct Item<'v> {
    parent: &'v str,
    key: &'v str,
    index: Option<usize>,
    value: &'v Value,
    /// For a primitive, its `_key` companion (id, extensions), if any.
    ext: Option<&'v Value>,
}

impl Item<'_> {
    /// `Task.input[1]`.
    fn path(&self) -> String {
        let mut p = String::with_capacity(self.parent.len() + self.key.len() + 6);
        p.push_str(self.parent);
        p.push('.');
        p.push_str(self.key);
        if let Some(i) = self.index {
            super::structure::push_index(&mut p, i);
        }
        p
    }
}

/// Profiles may name each other (base definitions, type profiles): stop at this depth.
const MAX_DEPTH: usize = 8;

impl<'a> Context<'a> {
    fn profile(&self, url: &str) -> Option<&'a Profile> {
        let key = terminology::strip_version(url);
        self.profiles.get(key)
    }

    /// Apply the profile named by `url` to `resource`, or say it is not loaded.
    pub fn apply_named(
        &self,
        url: &str,
        resource: &Value,
        path: &str,
        out: &mut Vec<Issue>,
        pending: &mut Vec<Pending>,
    ) {
        let found = self.profile(url).or_else(|| {
            self.profiles
                .values()
                .find(|p| p.id == url || p.name == url)
        });
        match found {
            Some(p) => Run {
                ctx: self,
                resource,
                root_path: path,
                out,
                pending,
                depth: 0,
                applied: Vec::new(),
                noted: Vec::new(),
            }
            .profile(p, resource, path),
            None => out.push(Issue::new(
                Severity::Information,
                "not-supported",
                path,
                format!(
                    "profile {url} is not loaded: the resource was checked against the R4 base only"
                ),
                url,
            )),
        }
    }

    /// Apply every profile in the resource's `meta.profile`.
    pub fn apply_meta_profiles(
        &self,
        resource: &Value,
        path: &str,
        out: &mut Vec<Issue>,
        pending: &mut Vec<Pending>,
    ) {
        for url in resource
            .get("meta")
            .and_then(|m| m.get("profile"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            self.apply_named(url, resource, path, out, pending);
        }
    }

    /// Apply the `meta.profile`s of the resources nested in this one (Bundle entries,
    /// contained resources, Parameters), at any depth.
    pub fn apply_nested(
        &self,
        v: &Value,
        path: &str,
        out: &mut Vec<Issue>,
        pending: &mut Vec<Pending>,
    ) {
        let mut buf = String::with_capacity(128);
        buf.push_str(path);
        self.nested(v, &mut buf, out, pending);
    }

    /// Walk `v` (at `path`, a buffer restored on return) for nested resources.
    fn nested(
        &self,
        v: &Value,
        path: &mut String,
        out: &mut Vec<Issue>,
        pending: &mut Vec<Pending>,
    ) {
        let len = path.len();
        match v {
            Value::Object(obj) => {
                for (k, child) in obj {
                    match child {
                        Value::Array(items) => {
                            for (i, item) in items.iter().enumerate().filter(|(_, x)| x.is_object())
                            {
                                path.push('.');
                                path.push_str(k);
                                super::structure::push_index(path, i);
                                self.nested_value(item, path, out, pending);
                                path.truncate(len);
                            }
                        }
                        Value::Object(_) => {
                            path.push('.');
                            path.push_str(k);
                            self.nested_value(child, path, out, pending);
                            path.truncate(len);
                        }
                        _ => {}
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    super::structure::push_index(path, i);
                    self.nested_value(item, path, out, pending);
                    path.truncate(len);
                }
            }
            _ => {}
        }
    }

    fn nested_value(
        &self,
        v: &Value,
        path: &mut String,
        out: &mut Vec<Issue>,
        pending: &mut Vec<Pending>,
    ) {
        if field(v, "resourceType").and_then(Value::as_str).is_some() && field(v, "meta").is_some()
        {
            self.apply_meta_profiles(v, path, out, pending);
        }
        self.nested(v, path, out, pending);
    }
}

/// One application of profiles to one resource.
struct Run<'a, 'r> {
    ctx: &'r Context<'a>,
    /// The resource being checked (for `#id` references to its contained resources).
    resource: &'r Value,
    /// Where that resource is (`Task`, `Bundle.entry[0].resource`).
    root_path: &'r str,
    out: &'r mut Vec<Issue>,
    /// Invariants to evaluate (collected only when the context asks for them).
    pending: &'r mut Vec<Pending>,
    depth: usize,
    /// (profile, value) pairs already applied in this run, by address: a contained resource
    /// reached both as a slice and as a reference target is checked once.
    applied: Vec<(*const Profile, *const Value)>,
    /// Target-profile lists (by address) whose "not checked" note is already out: the note
    /// is the same for every value of the element, and [`super::issue::dedupe`] would keep
    /// one anyway, so the others are not even formatted.
    noted: Vec<*const String>,
}

impl Run<'_, '_> {
    fn push(
        &mut self,
        severity: Severity,
        code: &'static str,
        path: &str,
        msg: String,
        src: String,
    ) {
        self.out.push(Issue::new(severity, code, path, msg, src));
    }

    /// Apply a profile to a resource or a datatype value at `path`.
    fn profile(&mut self, p: &Profile, v: &Value, path: &str) {
        if self.depth > MAX_DEPTH {
            return;
        }
        let key = (p as *const Profile, v as *const Value);
        if self.applied.contains(&key) {
            return;
        }
        self.applied.push(key);
        let Some(obj) = v.as_object() else {
            return;
        };
        if let Some(rt) = obj.get("resourceType").and_then(Value::as_str)
            && rt != p.type_name
        {
            self.push(
                Severity::Error,
                "structure",
                path,
                format!("{} constrains {}, this is a {rt}", p.url, p.type_name),
                p.url.clone(),
            );
            return;
        }
        if !p.base_definition.is_empty() && !p.base_definition.starts_with(BASE_URL) {
            match self.ctx.profile(&p.base_definition) {
                Some(b) => {
                    self.depth += 1;
                    self.profile(b, v, path);
                    self.depth -= 1;
                }
                None => self.push(
                    Severity::Information,
                    "not-supported",
                    path,
                    format!(
                        "{} is based on {}, which is not loaded: only {}'s own rules and the R4 base were checked",
                        p.url, p.base_definition, p.id
                    ),
                    p.url.clone(),
                ),
            }
        }
        if self.ctx.invariants {
            for c in &p.root.constraints {
                self.pending.push(Pending::new(
                    c,
                    path.to_string(),
                    self.root_path,
                    v,
                    self.ctx.top,
                    obj.get("resourceType").is_none(),
                    &p.type_name,
                ));
            }
        }
        self.children(&p.root, obj, path, p);
    }

    fn source(p: &Profile, node: &Node) -> String {
        concat(&[&p.url, "#", &node.id])
    }

    /// The rules of `node`'s children, over one object.
    fn children(&mut self, node: &Node, obj: &Map<String, Value>, path: &str, p: &Profile) {
        for child in &node.children {
            let items = collect(obj, child, path);
            self.element(child, &items, path, p);
        }
    }

    /// The rules of one element (or slice) over its occurrences in one parent.
    fn element(&mut self, node: &Node, items: &[Item<'_>], parent: &str, p: &Profile) {
        let n = items.len();
        let what = || match &node.slice_name {
            Some(s) => format!("slice `{s}` of `{}`", node.name),
            None => format!("`{}`", node.name),
        };
        if let Some(min) = node.min
            && (n as u32) < min
        {
            self.push(
                Severity::Error,
                "required",
                parent,
                format!(
                    "{} has {n} occurrence(s), the profile requires at least {min}",
                    what()
                ),
                Self::source(p, node),
            );
        }
        if let Some(Max::N(max)) = node.max
            && n as u32 > max
        {
            let at = items
                .get(max as usize)
                .map(Item::path)
                .unwrap_or_else(|| parent.to_string());
            self.push(
                Severity::Error,
                "structure",
                &at,
                format!(
                    "{} has {n} occurrence(s), the profile allows at most {max}",
                    what()
                ),
                Self::source(p, node),
            );
        }
        if node.must_support && n == 0 && node.min.unwrap_or(0) == 0 {
            // Many per validation (every absent one): built without `format!`.
            let message = match &node.slice_name {
                Some(s) => concat(&[
                    "must-support element slice `",
                    s,
                    "` of `",
                    &node.name,
                    "` is absent",
                ]),
                None => concat(&["must-support element `", &node.name, "` is absent"]),
            };
            self.push(
                Severity::Information,
                "informational",
                parent,
                message,
                Self::source(p, node),
            );
        }
        for item in items {
            self.item(node, item, p);
        }
        if !node.slices.is_empty() {
            self.slices(node, items, parent, p);
        }
    }

    /// The type of one occurrence: from a choice key's suffix, else the base type.
    fn item_type<'n>(&self, node: &'n Node, item: &Item<'n>) -> Cow<'n, str> {
        if let Some(prefix) = node.name.strip_suffix("[x]")
            && let Some(suffix) = item.key.strip_prefix(prefix)
        {
            let lower = lower_first(suffix);
            return if self.ctx.base.is_primitive(&lower) {
                Cow::Owned(lower)
            } else {
                Cow::Borrowed(suffix)
            };
        }
        match node.base_types.as_slice() {
            [t] => Cow::Borrowed(t),
            _ => Cow::Borrowed(""),
        }
    }

    fn item(&mut self, node: &Node, item: &Item<'_>, p: &Profile) {
        let ty = self.item_type(node, item);
        let src = || Self::source(p, node);
        if !node.types.is_empty()
            && node.name.ends_with("[x]")
            && !node.types.iter().any(|t| t.code == ty)
        {
            let allowed: Vec<&str> = node.types.iter().map(|t| t.code.as_str()).collect();
            self.push(
                Severity::Error,
                "structure",
                &item.path(),
                format!(
                    "`{}` is a {ty}; the profile allows {} here",
                    item.key,
                    allowed.join(" or ")
                ),
                src(),
            );
        }
        if let Some((k, want)) = &node.fixed
            && item.value != want
        {
            self.push(
                Severity::Error,
                "value",
                &item.path(),
                format!("must be exactly {want} ({k}), found {}", item.value),
                src(),
            );
        }
        if let Some((k, want)) = &node.pattern
            && !pattern_matches(want, item.value)
        {
            self.push(
                Severity::Error,
                "value",
                &item.path(),
                format!("must match {k} {want}, found {}", item.value),
                src(),
            );
        }
        if let Some(b) = &node.binding {
            self.binding(b, &ty, item, &src);
        }
        for t in &node.types {
            for url in &t.profiles {
                self.type_profile(url, item, &src);
            }
            if !t.target_profiles.is_empty() {
                self.target_profiles(t, item, &src);
            }
        }
        if self.ctx.invariants {
            for c in &node.constraints {
                self.pending.push(Pending::new(
                    c,
                    item.path(),
                    self.root_path,
                    item.value,
                    self.ctx.top,
                    true,
                    &ty,
                ));
            }
        }
        // A primitive without `_key` has no children: its rules below it still apply (to
        // nothing), so that required extensions are reported missing.
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        let below = match item.value {
            Value::Object(o) => Some(o),
            Value::Array(_) | Value::Null => None,
            _ => Some(
                item.ext
                    .and_then(Value::as_object)
                    .unwrap_or_else(|| EMPTY.get_or_init(Map::new)),
            ),
        };
        if let Some(obj) = below
            && !node.children.is_empty()
        {
            self.children(node, obj, &item.path(), p);
        }
    }

    fn binding(
        &mut self,
        b: &super::profile::Binding,
        ty: &str,
        item: &Item<'_>,
        src: &dyn Fn() -> String,
    ) {
        let severity = match b.strength.as_str() {
            "required" => Severity::Error,
            "extensible" => Severity::Warning,
            _ => return,
        };
        let codes = terminology::codings(ty, item.value);
        if codes.is_empty() {
            return;
        }
        let vs = terminology::strip_version(&b.value_set);
        if !self.ctx.terminology.has(vs) {
            self.push(
                Severity::Information,
                "not-supported",
                &item.path(),
                format!(
                    "value set {vs} is not in the validator's data: the {} binding was not checked",
                    b.strength
                ),
                src(),
            );
            return;
        }
        let Some(shown) = self.ctx.terminology.none_in(vs, &codes) else {
            return;
        };
        self.push(
            severity,
            "code-invalid",
            &item.path(),
            format!("{} is not in the {} value set {vs}", shown, b.strength),
            src(),
        );
    }

    /// A profile on the value's type (an extension, a datatype, a contained resource).
    fn type_profile(&mut self, url: &str, item: &Item<'_>, src: &dyn Fn() -> String) {
        match self.ctx.profile(url) {
            Some(prof) => {
                self.depth += 1;
                self.profile(prof, item.value, &item.path());
                self.depth -= 1;
            }
            None => self.push(
                Severity::Information,
                "not-supported",
                &item.path(),
                format!("profile {url} is not available: the value was not checked against it"),
                src(),
            ),
        }
    }

    /// The target of a Reference must be of a type its target profiles allow; contained
    /// targets are checked against loaded target profiles.
    fn target_profiles(&mut self, t: &TypeRef, item: &Item<'_>, src: &dyn Fn() -> String) {
        let targets = &t.target_profiles;
        let first_note = !self.noted.contains(&targets.as_ptr());
        if first_note {
            self.noted.push(targets.as_ptr());
        }
        if t.code != "Reference" {
            if !first_note {
                return;
            }
            self.push(
                Severity::Information,
                "not-supported",
                &item.path(),
                format!(
                    "target profiles of {} values are not checked ({})",
                    t.code,
                    targets.join(", ")
                ),
                src(),
            );
            return;
        }
        let linked = &t.targets;
        // The unknown ones are noted once per element; only then do they excuse the type.
        let unknown = if first_note {
            linked.unknown.as_deref()
        } else {
            None
        };
        if let Some(list) = unknown {
            self.push(
                Severity::Information,
                "not-supported",
                &item.path(),
                format!(
                    "target profile(s) {list} not available: the target's conformance to them was not checked"
                ),
                src(),
            );
        }
        let Some(reference) = field(item.value, "reference").and_then(Value::as_str) else {
            return;
        };
        let resource = self.resource;
        let contained = contained(resource, reference);
        let target_type = match contained {
            Some((_, c)) => c.get("resourceType").and_then(Value::as_str),
            None => reference_type(reference, self.ctx.base),
        };
        if let Some(t) = target_type
            && unknown.is_none()
            && !linked.allowed.iter().any(|a| a == t || a == "Resource")
        {
            self.push(
                Severity::Error,
                "structure",
                &format!("{}.reference", item.path()),
                format!(
                    "points to a {t}; the profile allows {}",
                    linked.allowed.join(" or ")
                ),
                src(),
            );
            return;
        }
        if let Some((i, c)) = contained {
            let path = format!("{}.contained[{i}]", self.root_path);
            for url in &linked.loaded {
                let Some(prof) = self.ctx.profile(url) else {
                    continue;
                };
                if Some(prof.type_name.as_str()) != target_type {
                    continue;
                }
                self.depth += 1;
                self.profile(prof, c, &path);
                self.depth -= 1;
            }
        }
    }

    /// Sort the occurrences into slices and check each slice; closed slicing rejects the rest.
    fn slices(&mut self, node: &Node, items: &[Item<'_>], parent: &str, p: &Profile) {
        // Extensions are sliced by url unless the profile says otherwise.
        static BY_URL: std::sync::OnceLock<Slicing> = std::sync::OnceLock::new();
        let slicing = match &node.slicing {
            Some(s) => s,
            None if node.name == "extension" || node.name == "modifierExtension" => BY_URL
                .get_or_init(|| Slicing {
                    discriminators: vec![Discriminator {
                        kind: "value".into(),
                        path: "url".into(),
                    }],
                    closed: false,
                }),
            None => return,
        };
        if let Some(d) = slicing.discriminators.iter().find(|d| {
            !matches!(
                d.kind.as_str(),
                "value" | "pattern" | "type" | "exists" | "profile"
            )
        }) {
            self.push(
                Severity::Information,
                "not-supported",
                parent,
                format!(
                    "slicing of `{}` by {} ({}) is not supported: its slices were not checked",
                    node.name, d.kind, d.path
                ),
                Self::source(p, node),
            );
            return;
        }
        // The slice each occurrence belongs to (the first it matches), if any.
        let mut owner: SmallVec<[Option<usize>; 8]> = SmallVec::with_capacity(items.len());
        let mut undecidable: SmallVec<[bool; 8]> = smallvec::smallvec![false; node.slices.len()];
        for item in items {
            let mut hit = None;
            for (s, slice) in node.slices.iter().enumerate() {
                match self.slice_matches(slice, slicing, item) {
                    Some(true) => {
                        hit = Some(s);
                        break;
                    }
                    Some(false) => {}
                    None => undecidable[s] = true,
                }
            }
            owner.push(hit);
        }
        for (s, slice) in node.slices.iter().enumerate() {
            let its: Items<'_> = items
                .iter()
                .zip(&owner)
                .filter(|(_, o)| **o == Some(s))
                .map(|(item, _)| *item)
                .collect();
            if undecidable[s] && its.is_empty() {
                self.push(
                    Severity::Information,
                    "not-supported",
                    parent,
                    format!(
                        "slice `{}` of `{}` cannot be recognised ({}): not checked",
                        slice.slice_name.as_deref().unwrap_or(""),
                        node.name,
                        if slicing.discriminators.iter().any(|d| d.kind == "profile") {
                            "whether a value conforms to its profile depends on a resource that is not at hand"
                        } else {
                            "its discriminator value is not in the data"
                        }
                    ),
                    Self::source(p, slice),
                );
                continue;
            }
            self.element(slice, &its, parent, p);
        }
        if slicing.closed {
            for (item, _) in items.iter().zip(&owner).filter(|(_, o)| o.is_none()) {
                self.push(
                    Severity::Error,
                    "structure",
                    &item.path(),
                    format!(
                        "matches no slice of `{}` (the slicing is closed: allowed {})",
                        node.name,
                        node.slices
                            .iter()
                            .filter_map(|s| s.slice_name.as_deref())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Self::source(p, node),
                );
            }
        }
    }

    /// Whether an occurrence belongs to a slice; `None` when the slice's discriminator
    /// value cannot be known.
    fn slice_matches(&self, slice: &Node, slicing: &Slicing, item: &Item<'_>) -> Option<bool> {
        for d in &slicing.discriminators {
            let ok = match d.kind.as_str() {
                "type" => self.type_discriminator(slice, d, item)?,
                "exists" => exists_discriminator(slice, d, item)?,
                "profile" => self.profile_discriminator(slice, d, item)?,
                _ => self.value_discriminator(slice, d, item)?,
            };
            if !ok {
                return Some(false);
            }
        }
        Some(true)
    }

    /// `profile`: the value at the path conforms to the profile the slice gives it (a type
    /// profile), or, for `resolve()` and a Reference's `reference` (as the 2019
    /// cdex-communication writes it), the referenced resource conforms to the slice's
    /// target profile. A contained target is checked against the profile; another one is
    /// only known not to match when its type differs (its content is not at hand).
    fn profile_discriminator(
        &self,
        slice: &Node,
        d: &Discriminator,
        item: &Item<'_>,
    ) -> Option<bool> {
        if d.path == "resolve()" || (d.path == "reference" && slice.at(&d.path).is_none()) {
            let wanted: Vec<&String> = slice
                .types
                .iter()
                .flat_map(|t| &t.target_profiles)
                .collect();
            let reference = item.value.get("reference").and_then(Value::as_str)?;
            if reference.starts_with('#') {
                let (_, target) = contained(self.resource, reference)?;
                return self.any_conforms(&wanted, &[target]);
            }
            let actual = reference_type(reference, self.ctx.base)?;
            let same_type = wanted.iter().any(|url| match self.ctx.profile(url) {
                Some(p) => p.type_name == actual,
                None => url.strip_prefix(BASE_URL) == Some(actual),
            });
            // Of another type: not this slice. Of the type: its content would tell.
            return if same_type { None } else { Some(false) };
        }
        let wanted: Vec<&String> = match d.path.as_str() {
            "$this" => slice.types.iter().flat_map(|t| &t.profiles).collect(),
            path => slice
                .at(path)?
                .types
                .iter()
                .flat_map(|t| &t.profiles)
                .collect(),
        };
        self.any_conforms(&wanted, &values_at(item.value, &d.path))
    }

    /// Whether one of `values` conforms to one of the profiles `urls`: `None` when none is
    /// known to, and one could not be checked (its profile is not loaded).
    fn any_conforms(&self, urls: &[&String], values: &[&Value]) -> Option<bool> {
        let mut any = Some(false);
        for url in urls {
            for v in values {
                match self.conforms(url, v) {
                    Some(true) => return Some(true),
                    Some(false) => {}
                    None => any = None,
                }
            }
        }
        any
    }

    /// Whether `value` conforms to the profile `url` (its rules, without invariants);
    /// `None` when the profile is not loaded.
    fn conforms(&self, url: &str, value: &Value) -> Option<bool> {
        let prof = self.ctx.profile(url)?;
        if self.depth >= MAX_DEPTH {
            return None;
        }
        let (mut out, mut pending) = (Vec::new(), Vec::new());
        Run {
            ctx: self.ctx,
            resource: if value.get("resourceType").is_some() {
                value
            } else {
                self.resource
            },
            root_path: self.root_path,
            out: &mut out,
            pending: &mut pending,
            depth: self.depth + 1,
            applied: Vec::new(),
            noted: Vec::new(),
        }
        .profile(prof, value, self.root_path);
        Some(!out.iter().any(Issue::is_error))
    }

    fn type_discriminator(&self, slice: &Node, d: &Discriminator, item: &Item<'_>) -> Option<bool> {
        if d.path != "resolve()" && d.path != "$this" {
            // A resource below the item (`Bundle.entry` sliced on `resource`).
            let want = &slice.at(&d.path)?.types.first()?.code;
            return Some(
                values_at(item.value, &d.path)
                    .iter()
                    .any(|v| v.get("resourceType").and_then(Value::as_str) == Some(want.as_str())),
            );
        }
        let t = slice.types.first()?;
        if d.path == "$this" {
            let rt = item.value.get("resourceType").and_then(Value::as_str)?;
            return Some(rt == t.code);
        }
        if d.path == "resolve()" {
            let r = item.value.get("reference").and_then(Value::as_str)?;
            let actual = reference_type(r, self.ctx.base)?;
            let mut any = false;
            for tp in &t.target_profiles {
                let want = match self.ctx.profile(tp) {
                    Some(p) => p.type_name.clone(),
                    None => tp.strip_prefix(BASE_URL)?.to_string(),
                };
                any |= want == actual;
            }
            return Some(any);
        }
        None
    }

    fn value_discriminator(
        &self,
        slice: &Node,
        d: &Discriminator,
        item: &Item<'_>,
    ) -> Option<bool> {
        let actual = values_at(item.value, &d.path);
        if let Some(target) = slice.at(&d.path) {
            if let Some((_, want)) = &target.fixed {
                return Some(actual.contains(&want));
            }
            if let Some((_, want)) = &target.pattern {
                return Some(actual.iter().any(|v| pattern_matches(want, v)));
            }
            if let Some(b) = &target.binding
                && self.ctx.terminology.has(&b.value_set)
            {
                let ty = match target.base_types.as_slice() {
                    [t] => t.as_str(),
                    _ => "",
                };
                return Some(actual.iter().any(|v| {
                    terminology::codings(ty, v).iter().any(|(s, c)| {
                        self.ctx.terminology.member(&b.value_set, *s, c) == Membership::In
                    })
                }));
            }
        }
        if d.path == "url" {
            let url = slice.types.first()?.profiles.first()?;
            return Some(actual.iter().any(|v| v.as_str() == Some(url.as_str())));
        }
        None
    }
}

/// The occurrences of `node`'s element in `obj` (arrays flattened).
fn collect<'v>(obj: &'v Map<String, Value>, node: &Node, path: &'v str) -> Items<'v> {
    let mut items = Items::new();
    for (k, v) in obj {
        if !node.matches_key(k) {
            continue;
        }
        // A primitive's extensions live in `_key`: needed only when rules go below it.
        let ext = if node.children.is_empty() || v.is_object() {
            None
        } else {
            obj.get(&format!("_{k}"))
        };
        match v {
            Value::Array(list) => {
                for (i, x) in list.iter().enumerate() {
                    items.push(Item {
                        parent: path,
                        key: k,
                        index: Some(i),
                        value: x,
                        ext: ext.and_then(|e| e.get(i)),
                    });
                }
            }
            other => items.push(Item {
                parent: path,
                key: k,
                index: None,
                value: other,
                ext,
            }),
        }
    }
    items
}

/// The values at a dotted path below a value (`$this`, `type`, `coding.code`), arrays
/// flattened, `name[x]` matching choice keys.
/// The contained resource of `resource` that a `#id` reference names, with its index.
fn contained<'v>(resource: &'v Value, reference: &str) -> Option<(usize, &'v Value)> {
    let id = reference.strip_prefix('#')?;
    resource
        .get("contained")
        .and_then(Value::as_array)?
        .iter()
        .enumerate()
        .find(|(_, c)| c.get("id").and_then(Value::as_str) == Some(id))
}

/// `exists`: the slice whose element at the path has a minimum of 1 takes the values that
/// have it; the one whose maximum is 0 takes those that do not.
fn exists_discriminator(slice: &Node, d: &Discriminator, item: &Item<'_>) -> Option<bool> {
    let target = slice.at(&d.path)?;
    let present = !values_at(item.value, &d.path).is_empty();
    if target.min.is_some_and(|m| m >= 1) {
        Some(present)
    } else if matches!(target.max, Some(Max::N(0))) {
        Some(!present)
    } else {
        None
    }
}

fn values_at<'v>(v: &'v Value, path: &str) -> Vec<&'v Value> {
    let mut current = vec![v];
    if path == "$this" {
        return current;
    }
    for part in path.split('.') {
        let mut next = Vec::new();
        for c in current {
            let Some(obj) = c.as_object() else { continue };
            for (k, x) in obj {
                if super::profile::name_matches_key(part, k) {
                    match x {
                        Value::Array(list) => next.extend(list.iter()),
                        other => next.push(other),
                    }
                }
            }
        }
        current = next;
    }
    current
}

/// FHIR pattern matching: every property of the pattern is in the value (recursively);
/// every item of a pattern array matches some item of the value's array.
pub fn pattern_matches(pattern: &Value, value: &Value) -> bool {
    match (pattern, value) {
        (Value::Object(p), Value::Object(v)) => p
            .iter()
            .all(|(k, pv)| v.get(k).is_some_and(|vv| pattern_matches(pv, vv))),
        (Value::Array(p), Value::Array(v)) => p
            .iter()
            .all(|pi| v.iter().any(|vi| pattern_matches(pi, vi))),
        (p, v) => p == v,
    }
}

/// The resource type a reference names: `Type/id`, or a RESTful absolute URL.
fn reference_type<'r>(r: &'r str, base: &Base) -> Option<&'r str> {
    if is_absolute_url(r) {
        return type_from_url(r, base);
    }
    parse_relative(r)
        .map(|(t, _)| t)
        .filter(|t| base.resource_types.contains(*t))
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
        None => String::new(),
    }
}
