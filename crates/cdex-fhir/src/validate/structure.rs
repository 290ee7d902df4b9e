//! The R4 base structure of a resource: known elements only, types, cardinality, primitive
//! formats, choice types, required bindings of the base, and references (format, target
//! type, `#id` resolution to contained resources).

use super::base::{BASE_URL, Base, ElementDef, Elements, FastSet, Kind};
use super::invariant::Pending;
use super::issue::{Issue, Severity};
use super::narrative;
use super::primitive;
use super::terminology::{self, Terminology};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Walks one resource (and the resources inside it), pushing issues.
pub struct Walker<'a> {
    base: &'a Base,
    terminology: &'a Terminology,
    issues: &'a mut Vec<Issue>,
    /// The ids of the contained resources of each enclosing resource (innermost last).
    contained: Vec<FastSet<String>>,
    /// Where to collect the base's FHIRPath invariants, when they are to be evaluated.
    pending: Option<&'a mut Vec<Pending>>,
    /// The locations of the enclosing resources (innermost last), kept with invariants only.
    resources: Vec<String>,
}

/// Where an element's rule comes from: `<type url>#<element id>`.
fn source(def_path: &str) -> String {
    let root = def_path.split('.').next().unwrap_or(def_path);
    format!("{BASE_URL}{root}#{def_path}")
}

impl<'a> Walker<'a> {
    pub fn new(base: &'a Base, terminology: &'a Terminology, issues: &'a mut Vec<Issue>) -> Self {
        Walker {
            base,
            terminology,
            issues,
            contained: Vec::new(),
            pending: None,
            resources: Vec::new(),
        }
    }

    /// Also collect the base's FHIRPath invariants (Task inv-1, Bundle bdl-*, Period
    /// per-1...) for [`super::invariant::check_all`].
    pub fn with_invariants(mut self, pending: &'a mut Vec<Pending>) -> Self {
        self.pending = Some(pending);
        self
    }

    fn error(&mut self, code: &'static str, location: &str, message: String, def_path: &str) {
        self.issues.push(Issue::new(
            Severity::Error,
            code,
            location,
            message,
            source(def_path),
        ));
    }

    /// Check a resource at `path` (the root's type name, or e.g. `Bundle.entry[0].resource`).
    pub fn resource(&mut self, v: &Value, path: &str) {
        let mut buf = String::with_capacity(128);
        buf.push_str(path);
        self.resource_inner(v, &mut buf, false);
    }

    fn resource_inner(&mut self, v: &Value, path: &mut String, is_contained: bool) {
        let Some(obj) = v.as_object() else {
            self.error(
                "structure",
                path,
                format!("a resource must be a JSON object, found {}", kind_of(v)),
                "Resource",
            );
            return;
        };
        let Some(rt) = field_in(obj, "resourceType").and_then(Value::as_str) else {
            self.error(
                "required",
                path,
                "the resource has no `resourceType`".into(),
                "Resource",
            );
            return;
        };
        let base = self.base;
        let Some(def) = base.get(rt).filter(|t| t.kind == Kind::Resource) else {
            if base.resource_types.contains(rt) {
                self.issues.push(Issue::new(
                    Severity::Information,
                    "not-supported",
                    path.as_str(),
                    format!(
                        "the base definition of {rt} is not in the extracted R4 data; its content was not checked"
                    ),
                    source(rt),
                ));
            } else {
                self.error(
                    "structure",
                    path,
                    format!("`{rt}` is not an R4 resource type"),
                    "Resource",
                );
            }
            return;
        };
        if !is_contained {
            let ids = obj
                .get("contained")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("id").and_then(Value::as_str))
                .map(str::to_string)
                .collect();
            self.contained.push(ids);
        } else if obj.contains_key("contained") {
            self.error(
                "invariant",
                path,
                "a contained resource must not contain resources (dom-2)".into(),
                "DomainResource",
            );
        }
        if is_contained {
            self.contained_meta(obj, path);
        }
        if self.pending.is_some() {
            self.resources.push(path.clone());
        }
        self.object(obj, &def.elements, path, rt, true);
        if self.pending.is_some() {
            self.resources.pop();
        }
        if !is_contained {
            self.contained_referenced(obj, path);
            self.narrative_present(obj, rt, path);
        }
        if !is_contained {
            self.contained.pop();
        }
    }

    /// Check a JSON object against the elements of its type (or backbone element).
    /// `path` is a buffer holding the object's location; it is restored on return.
    fn object(
        &mut self,
        obj: &Map<String, Value>,
        elements: &Elements,
        path: &mut String,
        def_path: &str,
        is_resource: bool,
    ) {
        if obj.is_empty() {
            self.error(
                "structure",
                path,
                "empty objects are not allowed in FHIR JSON".into(),
                def_path,
            );
            return;
        }
        if let Some(pending) = self.pending.as_deref_mut()
            && let Some(list) = self.base.invariants.get(def_path)
        {
            let root = def_path.split('.').next().unwrap_or(def_path);
            // A datatype's name tells the engine its type; a backbone element needs none.
            let type_name = (!is_resource && root == def_path).then_some(def_path);
            for c in list {
                pending.push(Pending::in_place(
                    c,
                    path,
                    self.resources.last().map_or("", String::as_str),
                    !is_resource,
                    type_name,
                    def_path,
                ));
            }
        }
        // Per element: how many JSON keys named it (low bits) and whether `_name` did (0x80).
        let mut counts = [0u8; 256];
        let len = path.len();
        for (key, value) in obj {
            if is_resource && key == "resourceType" {
                continue;
            }
            path.push('.');
            path.push_str(key);
            if let Some(name) = key.strip_prefix('_') {
                if let Some((i, _, _)) = elements.lookup_idx(name)
                    && let Some(c) = counts.get_mut(i)
                {
                    *c |= 0x80;
                }
                self.primitive_extension(elements, name, value, path, def_path);
                path.truncate(len);
                continue;
            }
            let Some((idx, e, ty)) = elements.lookup_idx(key) else {
                self.error(
                    "structure",
                    path,
                    format!("unknown element `{key}` (not defined in {def_path})"),
                    def_path,
                );
                path.truncate(len);
                continue;
            };
            if let Some(c) = counts.get_mut(idx) {
                *c = (*c & 0x80) | ((*c & 0x7f) + 1).min(0x7f);
            }
            match value {
                Value::Array(items) if e.many => {
                    if items.is_empty() {
                        self.error(
                            "structure",
                            path,
                            "empty arrays are not allowed in FHIR JSON".into(),
                            &elem_path(def_path, e),
                        );
                    }
                    let item_len = path.len();
                    for (i, item) in items.iter().enumerate() {
                        if item.is_null()
                            && self.base.is_primitive(ty)
                            && obj.contains_key(&format!("_{key}"))
                        {
                            continue;
                        }
                        push_index(path, i);
                        self.value(e, ty, item, path, def_path);
                        path.truncate(item_len);
                    }
                }
                Value::Array(_) => self.error(
                    "structure",
                    path,
                    format!("`{key}` allows one value (max 1), found an array"),
                    &elem_path(def_path, e),
                ),
                single if e.many => {
                    self.error(
                        "structure",
                        path,
                        format!("`{key}` repeats (max *): its value must be a JSON array"),
                        &elem_path(def_path, e),
                    );
                    self.value(e, ty, single, path, def_path);
                }
                single => self.value(e, ty, single, path, def_path),
            }
            path.truncate(len);
        }
        for &i in &elements.required {
            if counts.get(i).copied().unwrap_or(1) == 0 {
                let e = &elements.list[i];
                self.error(
                    "required",
                    path,
                    format!("missing required element `{}` (min {})", e.id_name(), e.min),
                    &elem_path(def_path, e),
                );
            }
        }
        if def_path == "Extension" {
            // ext-1: extension.exists() != value.exists()
            let has_ext = obj.contains_key("extension");
            let has_value = obj.keys().any(|k| {
                k.len() > 5 && k.starts_with("value") && k.as_bytes()[5].is_ascii_uppercase()
            });
            if has_ext == has_value {
                self.issues.push(Issue::new(
                    Severity::Error,
                    "invariant",
                    path.as_str(),
                    "ext-1: an extension must have either extensions or a value[x], not both",
                    format!("{BASE_URL}Extension#ext-1"),
                ));
            }
        }
        for &i in &elements.choices {
            if counts.get(i).copied().unwrap_or(0) & 0x7f > 1 {
                let e = &elements.list[i];
                let names: Vec<&str> = obj
                    .keys()
                    .filter(|k| elements.lookup_idx(k).is_some_and(|(x, _, _)| x == i))
                    .map(String::as_str)
                    .collect();
                self.error(
                    "structure",
                    path,
                    format!(
                        "`{}` takes one type only, found {}",
                        e.id_name(),
                        names.join(", ")
                    ),
                    &elem_path(def_path, e),
                );
            }
        }
    }

    /// `_name`: the id/extensions of a primitive element (`path` ends with `._name`).
    fn primitive_extension(
        &mut self,
        elements: &Elements,
        name: &str,
        value: &Value,
        path: &mut String,
        def_path: &str,
    ) {
        let Some((e, _)) = elements
            .lookup(name)
            .filter(|(_, ty)| self.base.is_primitive(ty))
        else {
            self.error(
                "structure",
                path,
                format!(
                    "unknown element `_{name}` (`{name}` is not a primitive element of {def_path})"
                ),
                def_path,
            );
            return;
        };
        let base = self.base;
        let Some(element) = base.get("Element") else {
            return;
        };
        let len = path.len();
        let one = |this: &mut Self, v: &Value, path: &mut String| match v {
            Value::Null if e.many => {}
            Value::Object(o) => this.object(o, &element.elements, path, "Element", false),
            other => this.error(
                "structure",
                path,
                format!(
                    "`_{name}` must hold an object (id, extension), found {}",
                    kind_of(other)
                ),
                &elem_path(def_path, e),
            ),
        };
        match value {
            Value::Array(items) if e.many => {
                for (i, v) in items.iter().enumerate() {
                    push_index(path, i);
                    one(self, v, path);
                    path.truncate(len);
                }
            }
            other => one(self, other, path),
        }
    }

    /// One value of an element, of type `ty` (`def_path`: the id of the element's parent).
    fn value(&mut self, e: &ElementDef, ty: &str, v: &Value, path: &mut String, def_path: &str) {
        if v.is_null() {
            self.error(
                "structure",
                path,
                "null is not allowed in FHIR JSON".into(),
                &elem_path(def_path, e),
            );
            return;
        }
        let base = self.base;
        if let Some(r) = &e.content_ref {
            match (base.element(r), v.as_object()) {
                (Some(target), Some(obj)) => self.object(obj, &target.children, path, r, false),
                (_, None) => self.not_object(v, path, &elem_path(def_path, e)),
                (None, _) => {}
            }
            return;
        }
        if !e.children.list.is_empty() {
            let ep = child_def_path(def_path, e);
            match v.as_object() {
                Some(obj) => self.object(obj, &e.children, path, &ep, false),
                None => self.not_object(v, path, &ep),
            }
            return;
        }
        if ty == "Resource" {
            self.resource_inner(v, path, e.name == "contained");
            return;
        }
        // One lookup of the type for both questions (is it primitive, its elements).
        let def = base.get(ty);
        if def.is_some_and(|t| t.kind == Kind::Primitive) {
            if let Some(problem) = primitive::check(ty, v) {
                self.error("value", path, problem, &elem_path(def_path, e));
            } else if ty == "xhtml"
                && let Some(div) = v.as_str()
            {
                // txt-1, txt-2 (htmlChecks()), natively: see narrative.rs.
                for (key, message) in narrative::check(div) {
                    let issue = if key == narrative::NO_NAMESPACE {
                        Issue::new(
                            Severity::Warning,
                            "value",
                            path.as_str(),
                            message,
                            format!("{BASE_URL}Narrative#Narrative.div"),
                        )
                    } else {
                        Issue::new(
                            Severity::Error,
                            "invariant",
                            path.as_str(),
                            format!("{key}: {message}"),
                            format!("{BASE_URL}Narrative#{key}"),
                        )
                    };
                    self.issues.push(issue);
                }
            }
        } else if let Some(t) = def {
            match v.as_object() {
                Some(obj) => {
                    self.object(obj, &t.elements, path, ty, false);
                    if ty == "Reference" {
                        self.reference(obj, &e.targets, path, def_path, e);
                    }
                }
                None => {
                    self.not_object(v, path, &elem_path(def_path, e));
                    return;
                }
            }
        }
        if let Some(b) = &e.binding
            && b.strength == "required"
        {
            self.binding(&b.value_set, ty, v, path, def_path, e);
        }
    }

    fn not_object(&mut self, v: &Value, path: &str, elem_path: &str) {
        self.error(
            "structure",
            path,
            format!("must be a JSON object, found {}", kind_of(v)),
            elem_path,
        );
    }

    /// dom-6, a warning (best practice): a DomainResource should have a narrative. Not asked
    /// of contained resources, whose narrative is their container's.
    fn narrative_present(&mut self, obj: &Map<String, Value>, rt: &str, path: &str) {
        if matches!(rt, "Bundle" | "Parameters" | "Binary")
            || obj.get("text").and_then(|t| t.get("div")).is_some()
        {
            return;
        }
        self.issues.push(Issue::new(
            Severity::Warning,
            "invariant",
            path,
            "dom-6: A resource should have narrative for robust management (best practice: `text.div`)",
            format!("{BASE_URL}DomainResource#dom-6"),
        ));
    }

    /// dom-4 and dom-5: a contained resource has no meta.versionId, meta.lastUpdated or
    /// meta.security.
    fn contained_meta(&mut self, obj: &Map<String, Value>, path: &str) {
        let Some(meta) = obj.get("meta").and_then(Value::as_object) else {
            return;
        };
        for (key, inv) in [
            ("versionId", "dom-4"),
            ("lastUpdated", "dom-4"),
            ("security", "dom-5"),
        ] {
            if meta.contains_key(key) {
                self.issues.push(Issue::new(
                    Severity::Error,
                    "invariant",
                    format!("{path}.meta.{key}"),
                    format!("{inv}: a contained resource must not have meta.{key}"),
                    format!("{BASE_URL}DomainResource#{inv}"),
                ));
            }
        }
    }

    /// dom-3: every contained resource is referred to (`#id`) from elsewhere in the
    /// resource, or refers to its container (`#`).
    fn contained_referenced(&mut self, obj: &Map<String, Value>, path: &str) {
        let Some(contained) = obj.get("contained").and_then(Value::as_array) else {
            return;
        };
        fn local_refs<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
            match v {
                Value::String(s) if s.starts_with('#') => out.push(s),
                Value::Array(a) => a.iter().for_each(|x| local_refs(x, out)),
                Value::Object(o) => o.values().for_each(|x| local_refs(x, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        for (k, v) in obj {
            if k != "contained" {
                local_refs(v, &mut all);
            }
        }
        let mut inner: Vec<Vec<&str>> = Vec::new();
        for c in contained {
            let mut refs = Vec::new();
            local_refs(c, &mut refs);
            inner.push(refs);
        }
        for (i, c) in contained.iter().enumerate() {
            let Some(id) = c.get("id").and_then(Value::as_str) else {
                continue;
            };
            let referenced = all
                .iter()
                .chain(
                    inner
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .flat_map(|(_, r)| r.iter()),
                )
                .any(|r| r.strip_prefix('#') == Some(id));
            let refers_to_container = inner[i].contains(&"#");
            if !referenced && !refers_to_container {
                self.issues.push(Issue::new(
                    Severity::Error,
                    "invariant",
                    format!("{path}.contained[{i}]"),
                    format!(
                        "dom-3: the contained resource `{id}` is not referred to (`#{id}`) from elsewhere in the resource"
                    ),
                    format!("{BASE_URL}DomainResource#dom-3"),
                ));
            }
        }
    }

    /// A required binding of the base.
    fn binding(
        &mut self,
        vs: &str,
        ty: &str,
        v: &Value,
        path: &str,
        def_path: &str,
        e: &ElementDef,
    ) {
        let codes = terminology::codings(ty, v);
        if codes.is_empty() {
            return;
        }
        if !self.terminology.has(vs) {
            self.issues.push(Issue::new(
                Severity::Information,
                "not-supported",
                path,
                format!(
                    "value set {} is not in the validator's data: the required binding was not checked",
                    terminology::strip_version(vs)
                ),
                source(&elem_path(def_path, e)),
            ));
            return;
        }
        let Some(shown) = self.terminology.none_in(vs, &codes) else {
            return;
        };
        self.error(
            "code-invalid",
            path,
            format!(
                "{} is not in the required value set {}",
                shown,
                terminology::strip_version(vs)
            ),
            &elem_path(def_path, e),
        );
    }

    /// A Reference's `reference`: format, target type, and `#id` resolution.
    fn reference(
        &mut self,
        obj: &Map<String, Value>,
        targets: &[String],
        path: &str,
        def_path: &str,
        e: &ElementDef,
    ) {
        let Some(r) = field_in(obj, "reference").and_then(Value::as_str) else {
            return;
        };
        // Formatted only for an issue: most references have none.
        let loc = || format!("{path}.reference");
        let target_type: Option<&str> = if let Some(id) = r.strip_prefix('#') {
            if id.is_empty() {
                None
            } else if !self.contained.last().is_some_and(|ids| ids.contains(id)) {
                self.error(
                    "structure",
                    &loc(),
                    format!("`{r}` does not resolve to a contained resource (no contained resource has id `{id}`)"),
                    &elem_path(def_path, e),
                );
                return;
            } else {
                None
            }
        } else if r.starts_with("urn:uuid:") {
            if let Some(p) = primitive::check("uuid", &Value::String(r.to_string())) {
                self.error("value", &loc(), p, &elem_path(def_path, e));
            }
            None
        } else if r.starts_with("urn:oid:") {
            if let Some(p) = primitive::check("oid", &Value::String(r.to_string())) {
                self.error("value", &loc(), p, &elem_path(def_path, e));
            }
            None
        } else if is_absolute_url(r) {
            type_from_url(r, self.base)
        } else if r.contains('?') {
            None
        } else {
            match parse_relative(r) {
                Some((t, _)) if self.base.resource_types.contains(t) => Some(t),
                Some((t, _)) => {
                    self.error(
                        "structure",
                        &loc(),
                        format!("`{r}`: `{t}` is not an R4 resource type"),
                        &elem_path(def_path, e),
                    );
                    return;
                }
                None => {
                    self.error(
                        "structure",
                        &loc(),
                        format!("`{r}` is not a valid reference: expected Type/id, an absolute URL, urn:uuid:, or #id"),
                        &elem_path(def_path, e),
                    );
                    return;
                }
            }
        };
        let Some(t) = target_type else { return };
        if !targets.is_empty() && !targets.iter().any(|x| x == "Resource" || *x == t) {
            self.error(
                "structure",
                &loc(),
                format!(
                    "a reference to {t} is not allowed here (allowed: {})",
                    targets.join(", ")
                ),
                &elem_path(def_path, e),
            );
        }
        if let Some(declared) = field_in(obj, "type").and_then(Value::as_str)
            && declared != t
        {
            self.error(
                "structure",
                &format!("{path}.type"),
                format!("`type` is {declared} but the reference points to {t}"),
                &elem_path(def_path, e),
            );
        }
    }
}

/// The id of an element: its parent's id and its name (`Task.input`, `Task.value[x]`).
/// Append `[i]` to a location: the walk does it for every array item, where `write!` and
/// its formatting machinery cost ~5% of a validation.
pub fn push_index(path: &mut String, i: usize) {
    const SMALL: [&str; 10] = [
        "[0]", "[1]", "[2]", "[3]", "[4]", "[5]", "[6]", "[7]", "[8]", "[9]",
    ];
    if let Some(s) = SMALL.get(i) {
        path.push_str(s);
        return;
    }
    let mut digits = [0u8; 20];
    let mut n = i;
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    path.push('[');
    // ASCII digits only.
    path.push_str(std::str::from_utf8(&digits[at..]).unwrap_or("0"));
    path.push(']');
}

fn elem_path(def_path: &str, e: &ElementDef) -> String {
    format!("{def_path}.{}", e.id_name())
}

/// [`elem_path`] of a backbone element, the id its children are defined under: the one the
/// base worked out on load when it is that (always, in the R4 data), else formatted.
fn child_def_path<'e>(def_path: &str, e: &'e ElementDef) -> Cow<'e, str> {
    let id = e.children.parent_id.as_str();
    let same = id
        .strip_prefix(def_path)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_prefix(e.name.as_str()))
        .is_some_and(|rest| rest == if e.choice { "[x]" } else { "" });
    if same {
        Cow::Borrowed(id)
    } else {
        Cow::Owned(elem_path(def_path, e))
    }
}

/// Whether a reference is an absolute URL (`scheme://...`): `str::contains` sets up a
/// substring searcher for each of the thousands of references a run reads.
pub fn is_absolute_url(r: &str) -> bool {
    r.as_bytes().windows(3).any(|w| w == b"://")
}

/// `Type/id` or `Type/id/_history/vid` -> (Type, id), when the id is valid.
pub fn parse_relative(r: &str) -> Option<(&str, &str)> {
    // Where the slashes are (one, or three for `_history`); a byte scan, as `split` is
    // several times slower on these short strings.
    let mut cuts = [0usize; 3];
    let mut n = 0;
    for (i, b) in r.bytes().enumerate() {
        if b == b'/' {
            *cuts.get_mut(n)? = i;
            n += 1;
        }
    }
    let t = &r[..cuts[0]];
    let ok = match n {
        1 => {
            let id = &r[cuts[0] + 1..];
            primitive::is_id(id).then_some(id)
        }
        3 => {
            let id = &r[cuts[0] + 1..cuts[1]];
            let history = &r[cuts[1] + 1..cuts[2]];
            let v = &r[cuts[2] + 1..];
            (history == "_history" && primitive::is_id(id) && primitive::is_id(v)).then_some(id)
        }
        _ => None,
    };
    ok.map(|id| (t, id))
}

/// The resource type an absolute RESTful URL names (`https://x/fhir/Patient/1`), if any.
pub fn type_from_url<'r>(r: &'r str, base: &Base) -> Option<&'r str> {
    // The last four segments, last first: [id, Type, ...] or [vid, _history, id, Type].
    let mut last = [""; 4];
    let mut n = 0;
    for (i, part) in r.rsplit('/').take(4).enumerate() {
        last[i] = part;
        n = i + 1;
    }
    // `n` is the number of segments, up to four.
    let t = if n >= 4 && last[1] == "_history" {
        last[3]
    } else if n >= 2 {
        last[1]
    } else {
        return None;
    };
    base.resource_types.contains(t).then_some(t)
}

/// `v.get(key)`: for a small object, a scan of its keys, cheaper than hashing the key
/// (serde_json's map hashes with SipHash); the same answer, the keys being unique.
pub fn field<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    field_in(v.as_object()?, key)
}

/// [`field`] of an object.
pub fn field_in<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    if obj.len() <= 8 {
        obj.iter().find(|(k, _)| k.as_str() == key).map(|(_, x)| x)
    } else {
        obj.get(key)
    }
}

/// The type of a JSON value, in words.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn relative_references_are_parsed() {
        use super::parse_relative as p;
        assert_eq!(p("Patient/p1"), Some(("Patient", "p1")));
        assert_eq!(p("Patient/p1/_history/2"), Some(("Patient", "p1")));
        assert_eq!(p("/p1"), Some(("", "p1")));
        for bad in [
            "Patient",
            "Patient/",
            "Patient/p 1",
            "Patient/p1/",
            "Patient/p1/x",
            "Patient/p1/_history/",
            "Patient/p1/_history",
            "Patient/p1/x/2",
            "Patient/p1/_history/2/x",
            "a/b/c/d/e",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }

    #[test]
    fn indexes_are_appended() {
        let mut p = String::from("Task.input");
        for (i, want) in [(0, "[0]"), (7, "[7]"), (10, "[10]"), (1234, "[1234]")] {
            p.truncate(10);
            super::push_index(&mut p, i);
            assert_eq!(&p[10..], want);
        }
        super::push_index(&mut p, usize::MAX);
        assert!(p.ends_with(&format!("[{}]", usize::MAX)));
    }
}
