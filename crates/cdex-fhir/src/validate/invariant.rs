//! FHIRPath invariants, of the applied profiles (cdex-*, tdr-*) and of the R4 base (Task
//! inv-1, Bundle bdl-*...). Applying a profile and walking the base collect the invariants
//! to check with where their values are ([`Pending`]); [`check_all`] evaluates them.
//!
//! Two evaluators: the fast subset ([`crate::fhirpath_subset`], synchronous, on the
//! borrowed JSON, well under 1 us per invariant) for every invariant inside it, and the
//! project's FHIRPath crate (octofhir-fhirpath, async, no FHIR model: see
//! [`crate::fhirpath`]) for the others and for whatever data the subset declines.
//! [`Evaluator::Engine`] sends everything to the crate: the test that proves the two agree
//! uses it, and so does the benchmark that measures the difference.
//!
//! With the crate, each resource is converted to the engine's tree once per validation
//! (`Root`, from the borrowed JSON, without the engine's prepared-root cache, which
//! deep-copies and keeps every resource), each value is reached in that tree by its JSON
//! pointer, and each expression is parsed once per process (the engine's plan cache). What
//! remains is the engine's evaluation, ~10 us per invariant.

use super::base::Base;
use super::issue::{Issue, Severity};
use super::profile::Constraint;
use crate::fhirpath_subset::{self, Scope};
use octofhir_fhirpath::{
    Collection, EmptyModelProvider, EvaluationContext, FhirPathEngine, FhirPathValue,
    ModelProvider, core::TraceProvider, core::model_provider::TypeInfo, core::node::FhirNode,
    create_function_registry,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// An invariant to evaluate on one value.
#[derive(Debug, Clone)]
pub struct Pending {
    pub constraint: Arc<Constraint>,
    /// Where the value is (`Task`, `Task.input[2].valueDate`).
    pub location: String,
    /// How the engine reaches the value.
    pub target: Target,
    /// Declared on an element below the root: evaluated with `$this` = the value.
    pub element_level: bool,
    /// The value's FHIR type when known (`date`, `Reference`): the engine needs it to read
    /// a JSON string as a date or a code rather than as an opaque value.
    pub type_name: Option<String>,
    /// For a backbone element of the base (`Bundle.entry`, which has no type name), its
    /// path: the fast evaluator types its children from it.
    pub def_path: Option<String>,
}

/// Where an invariant's value is for the engine.
#[derive(Debug, Clone)]
pub enum Target {
    /// In the validated resource (the usual case: no copy): `resource` is the JSON pointer of
    /// the resource the value belongs to (empty for the validated resource itself; a Bundle
    /// entry's or a contained resource's otherwise: `%resource` is that one), `within` the
    /// value's pointer inside it.
    Pointer { resource: String, within: String },
    /// A value that is not at its location in the validated resource (a profile applied to
    /// a resource resolved elsewhere): a copy, converted on its own.
    Value(Value),
}

impl Pending {
    /// The invariant `c` on `value`, found at `location` (a path such as
    /// `Task.input[2]`) in `top`, the resource being validated, inside the resource at
    /// `resource_location` (`Task`, `Bundle.entry[0].resource`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        c: &Arc<Constraint>,
        location: String,
        resource_location: &str,
        value: &Value,
        top: &Value,
        element_level: bool,
        type_name: &str,
    ) -> Pending {
        let full = pointer(&location);
        let target = match top.pointer(&full) {
            Some(found) if std::ptr::eq(found, value) => split(&full, resource_location),
            _ => Target::Value(value.clone()),
        };
        let type_name = (!type_name.is_empty()).then_some(type_name);
        Pending::with_target(c, location, target, element_level, type_name)
    }

    /// An invariant of the R4 base on the value at `location` in the validated resource
    /// (the structure walker reaches only values inside it).
    /// `def_path` is the element's path in the base (`Bundle.entry`, `Period`).
    pub fn in_place(
        c: &Arc<Constraint>,
        location: &str,
        resource_location: &str,
        element_level: bool,
        type_name: Option<&str>,
        def_path: &str,
    ) -> Pending {
        let target = split(&pointer(location), resource_location);
        let mut p = Pending::with_target(c, location.to_string(), target, element_level, type_name);
        if element_level && type_name.is_none() {
            p.def_path = Some(def_path.to_string());
        }
        p
    }

    fn with_target(
        c: &Arc<Constraint>,
        location: String,
        target: Target,
        element_level: bool,
        type_name: Option<&str>,
    ) -> Pending {
        Pending {
            constraint: c.clone(),
            location,
            target,
            element_level,
            type_name: type_name.map(str::to_string),
            def_path: None,
        }
    }
}

/// The target at `full` (a pointer) in the resource at `resource_location`.
fn split(full: &str, resource_location: &str) -> Target {
    let resource = pointer(resource_location);
    match full
        .strip_prefix(resource.as_str())
        .filter(|w| w.is_empty() || w.starts_with('/'))
    {
        Some(within) => Target::Pointer {
            resource,
            within: within.to_string(),
        },
        None => Target::Pointer {
            resource: String::new(),
            within: full.to_string(),
        },
    }
}

/// `Task.input[2].valueDate` -> `/input/2/valueDate` (the first segment is the resource).
/// FHIR element names hold no `/`, `~`, `.` or `[`, so nothing needs escaping; a pointer
/// that misses is caught by [`Pending::new`]'s identity check.
fn pointer(location: &str) -> String {
    let rest = location.split_once('.').map_or("", |(_, r)| r);
    let mut out = String::with_capacity(rest.len() + 4);
    for seg in rest.split('.') {
        if seg.is_empty() {
            continue;
        }
        let mut parts = seg.split('[');
        if let Some(name) = parts.next() {
            out.push('/');
            out.push_str(name);
        }
        for idx in parts {
            out.push('/');
            out.push_str(idx.trim_end_matches(']'));
        }
    }
    out
}

/// The FHIRPath engine for invariants (no FHIR model, like [`crate::fhirpath`]).
async fn engine() -> Result<&'static FhirPathEngine, String> {
    static ENGINE: OnceCell<FhirPathEngine> = OnceCell::const_new();
    ENGINE
        .get_or_try_init(|| async {
            let provider: Arc<dyn ModelProvider + Send + Sync> = Arc::new(EmptyModelProvider);
            FhirPathEngine::new(Arc::new(create_function_registry()), provider)
                .await
                .map(|e| e.with_trace_provider(Arc::new(Silent)))
                .map_err(|e| format!("the FHIRPath engine could not start: {e}"))
        })
        .await
}

/// Some R4 invariants call `trace()` (que-1, dom-3): without a provider the engine would
/// print to stderr in the middle of a run's output.
struct Silent;

impl TraceProvider for Silent {
    fn trace(&self, _: &str, _: usize, _: &str) {}
    fn trace_simple(&self, _: &str, _: &str) {}
    fn collect_traces(&self) -> Vec<String> {
        Vec::new()
    }
    fn clear_traces(&self) {}
}

/// Which evaluator [`check_all`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Evaluator {
    /// The fast subset for what it evaluates, the full engine for the rest (the default).
    #[default]
    Subset,
    /// The full engine for every invariant: the reference the subset is tested against.
    Engine,
}

/// What evaluating one invariant gave.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Holds,
    Fails,
    /// The engine could not evaluate it (the error).
    NotEvaluated(String),
}

/// Evaluate the invariants of `resource` (the resource the [`Pending`]s were collected on).
/// A false result is an issue of the invariant's severity; an evaluation error an
/// informational one (not checked).
pub async fn check_all(
    base: &Base,
    resource: &Value,
    pending: &[Pending],
    evaluator: Evaluator,
    out: &mut Vec<Issue>,
) {
    let outcomes = evaluate(base, resource, pending, evaluator).await;
    report(pending, &outcomes, out);
}

/// The issues the outcomes of `pending` give: a failure is an issue of the invariant's
/// severity, an evaluation error an informational one. `out` holds the issues found so far:
/// a failure of an invariant that reads a value already reported as malformed (a
/// primitive-format error: `authoredOn` = `2020-13-45`) is information, not a second
/// error (see [`reads_malformed`]).
pub fn report(pending: &[Pending], outcomes: &[(Outcome, bool)], out: &mut Vec<Issue>) {
    let malformed: Vec<String> = out
        .iter()
        .filter(|i| i.is_error() && i.code == "value")
        .map(|i| i.location.clone())
        .collect();
    for (p, (outcome, _)) in pending.iter().zip(outcomes) {
        match outcome {
            Outcome::Holds => {}
            Outcome::Fails => match reads_malformed(p, &malformed) {
                Some(at) => failed_on_malformed(p, at, out),
                None => failed(p, out),
            },
            Outcome::NotEvaluated(e) => not_checked(p, e, out),
        }
    }
}

/// The malformed value (its location, among `malformed`) that `p`'s expression reads, if
/// any: the value itself, or one below it whose every element name on the way from `p`'s
/// location is a name the expression mentions (`authoredOn` for `Task` with
/// `lastModified >= authoredOn`; `value` stands for `valueDateTime`). An invariant over a
/// value that is already wrong says nothing new when it fails, and may say something
/// false (a date that does not parse compares as text), so its failure is not an error.
/// Judged from the names alone, not by evaluating the paths: an invariant that names the
/// element for another reason is downgraded too, which only ever happens in a resource
/// that already has an error.
fn reads_malformed<'m>(p: &Pending, malformed: &'m [String]) -> Option<&'m str> {
    let names = identifiers(&p.constraint.expression);
    malformed.iter().map(String::as_str).find(|at| {
        let Some(rest) = at.strip_prefix(p.location.as_str()) else {
            return false;
        };
        if rest.is_empty() {
            return true;
        }
        let Some(rest) = rest.strip_prefix('.') else {
            return false;
        };
        rest.split('.').all(|seg| {
            let name = seg.split('[').next().unwrap_or(seg);
            names.iter().any(|n| {
                name == *n
                    || name
                        .strip_prefix(n)
                        .is_some_and(|t| t.starts_with(|c: char| c.is_ascii_uppercase()))
            })
        })
    })
}

/// The identifiers of a FHIRPath expression (element and function names; string literals
/// skipped; `` `quoted` `` ones unquoted). By hand: a token scan, a dozen lines, where the
/// FHIRPath crate exposes no AST walk and the fast subset parses only part of the language.
fn identifiers(expression: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = expression.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\'' || c == b'`' {
            let end = expression[i + 1..]
                .find(c as char)
                .map_or(bytes.len(), |e| i + 1 + e);
            if c == b'`' {
                out.push(&expression[i + 1..end]);
            }
            i = end + 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push(&expression[start..i]);
        } else {
            i += 1;
        }
    }
    out
}

/// The outcome of each of `pending`, in order, and whether the fast subset gave it.
pub async fn evaluate(
    base: &Base,
    resource: &Value,
    pending: &[Pending],
    evaluator: Evaluator,
) -> Vec<(Outcome, bool)> {
    let mut outcomes = Vec::with_capacity(pending.len());
    let mut rest = Vec::new();
    for (i, p) in pending.iter().enumerate() {
        let verdict = match evaluator {
            Evaluator::Subset => by_subset(base, resource, p),
            Evaluator::Engine => None,
        };
        outcomes.push(match verdict {
            Some(true) => (Outcome::Holds, true),
            Some(false) => (Outcome::Fails, true),
            None => {
                rest.push(i);
                (Outcome::Holds, false)
            }
        });
    }
    let refs: Vec<&Pending> = rest.iter().map(|&i| &pending[i]).collect();
    for (i, o) in rest.into_iter().zip(by_engine(resource, &refs).await) {
        outcomes[i].0 = o;
    }
    outcomes
}

/// Whether `p` holds, by the fast subset; `None` when the subset does not evaluate it
/// (its expression or its data are outside the subset).
fn by_subset(base: &Base, top: &Value, p: &Pending) -> Option<bool> {
    let compiled = p.constraint.compiled.as_ref()?;
    let root = fhirpath_subset::item(base, top, None, None)?;
    // The value, and the resource it belongs to (`%resource`; for a value checked away from
    // its place, the value itself, typed as the value).
    let (owner, value) = match &p.target {
        Target::Pointer { resource, within } => {
            let owner = top.pointer(resource)?;
            (owner, owner.pointer(within)?)
        }
        Target::Value(v) => (v, v),
    };
    let focus = fhirpath_subset::item(base, value, p.type_name.as_deref(), p.def_path.as_deref())?;
    let resource = match p.target {
        Target::Pointer { .. } => fhirpath_subset::item(base, owner, None, None)?,
        Target::Value(_) => focus.clone(),
    };
    let scope = Scope {
        base,
        resource,
        root,
    };
    compiled.holds(&scope, focus).ok()
}

/// Evaluate `pending` with the full engine, preparing each value once for the invariants
/// that share it (consecutive entries with the same location).
async fn by_engine(resource: &Value, pending: &[&Pending]) -> Vec<Outcome> {
    let mut out = Vec::with_capacity(pending.len());
    if pending.is_empty() {
        return out;
    }
    let engine = match engine().await {
        Ok(e) => e,
        Err(e) => {
            out.resize(pending.len(), Outcome::NotEvaluated(e));
            return out;
        }
    };
    // One tree per resource the values belong to (the validated one, and each nested
    // resource that has invariants), each converted once, straight from the borrowed JSON.
    let mut roots: HashMap<String, Option<Root>> = HashMap::new();
    let mut start = 0;
    while start < pending.len() {
        let first = pending[start];
        let mut end = start + 1;
        while end < pending.len()
            && pending[end].location == first.location
            && pending[end].element_level == first.element_level
        {
            end += 1;
        }
        let group = &pending[start..end];
        start = end;
        let ctx = match &first.target {
            Target::Pointer {
                resource: at,
                within,
            } => {
                let root = roots
                    .entry(at.clone())
                    .or_insert_with(|| resource.pointer(at).map(|r| Root::new(engine, r)));
                match root {
                    Some(r) => {
                        r.context_at(engine, within, first.type_name.as_deref())
                            .await
                    }
                    None => Err(format!("no value at {at}")),
                }
            }
            Target::Value(v) => standalone(engine, v, first.type_name.as_deref()).await,
        };
        let ctx = match ctx {
            Ok(c) => c,
            Err(e) => {
                out.extend(group.iter().map(|_| Outcome::NotEvaluated(e.clone())));
                continue;
            }
        };
        for &p in group {
            let result = match engine.compile_plan(&p.constraint.expression) {
                Ok(plan) => engine.evaluate_plan(&plan, &ctx.nest()).await,
                Err(e) => Err(e),
            };
            out.push(match result {
                Ok(r)
                    if r.value
                        .iter()
                        .any(|v| matches!(v, FhirPathValue::Boolean(false, _, _))) =>
                {
                    Outcome::Fails
                }
                Ok(_) => Outcome::Holds,
                Err(e) => Outcome::NotEvaluated(e.to_string()),
            });
        }
    }
    out
}

/// One resource as the engine's tree, with its root context (`%resource`, `%rootResource`).
/// Built without the engine's prepared-root cache, which would keep a copy of every
/// resource validated (up to 32 MB) and costs a deep copy of the JSON each time.
struct Root {
    node: FhirNode,
    ctx: EvaluationContext,
}

impl Root {
    fn new(engine: &FhirPathEngine, resource: &Value) -> Root {
        let node = FhirNode::from_json(resource);
        let value = FhirPathValue::resource_from_node(node.clone());
        let ctx = EvaluationContext::new(
            Collection::single(value.clone()),
            engine.get_model_provider(),
            None,
            None,
            engine.get_trace_provider(),
        );
        ctx.set_variable("rootResource".into(), value);
        Root { node, ctx }
    }

    /// A context whose input and `$this` are the value at `pointer` (of FHIR type
    /// `type_name` when known), as the engine's own validation session makes it.
    async fn context_at(
        &self,
        engine: &FhirPathEngine,
        pointer: &str,
        type_name: Option<&str>,
    ) -> Result<EvaluationContext, String> {
        if pointer.is_empty() {
            let ctx = self
                .ctx
                .create_child_context(self.ctx.input_collection().clone());
            if let Some(focus) = self.ctx.input_collection().first() {
                ctx.set_this(focus.clone());
            }
            return Ok(ctx);
        }
        let node = self
            .node
            .pointer(pointer)
            .ok_or_else(|| format!("no value at {pointer}"))?;
        let collection = if node.is_object() {
            let declared = node
                .get("resourceType")
                .and_then(FhirNode::as_str)
                .or(type_name);
            let value = match declared {
                Some(name) => FhirPathValue::Resource(
                    node.clone(),
                    Arc::new(TypeInfo {
                        type_name: name.into(),
                        singleton: Some(true),
                        namespace: Some("FHIR".into()),
                        name: Some(name.into()),
                        is_empty: Some(false),
                    }),
                    None,
                ),
                None => FhirPathValue::resource_from_node(node.clone()),
            };
            Collection::single(value)
        } else {
            Collection::from_json_typed_arc(
                Arc::new(node.to_json()),
                type_name,
                Some(engine.get_model_provider()),
            )
            .await
            .map_err(|e| e.to_string())?
        };
        let ctx = self.ctx.create_child_context(collection.clone());
        if let Some(focus) = collection.first() {
            ctx.set_this(focus.clone());
        }
        Ok(ctx)
    }
}

/// A context for a value outside the validated resource, `$this` = the value.
async fn standalone(
    engine: &FhirPathEngine,
    v: &Value,
    type_name: Option<&str>,
) -> Result<EvaluationContext, String> {
    let ctx = engine
        .prepare_context(Arc::new(v.clone()), type_name, &HashMap::new())
        .await
        .map_err(|e| e.to_string())?;
    if let Some(focus) = ctx.input_collection().first() {
        ctx.set_this(focus.clone());
    }
    Ok(ctx)
}

fn failed(p: &Pending, out: &mut Vec<Issue>) {
    let c = &p.constraint;
    let severity = if c.severity == "warning" {
        Severity::Warning
    } else {
        Severity::Error
    };
    out.push(Issue::new(
        severity,
        "invariant",
        p.location.as_str(),
        format!("{}: {} ({})", c.key, c.human, c.expression),
        format!("{}#{}", c.source, c.key),
    ));
}

/// A failure of `p` on a value already reported malformed at `at`: information.
fn failed_on_malformed(p: &Pending, at: &str, out: &mut Vec<Issue>) {
    let c = &p.constraint;
    out.push(Issue::new(
        Severity::Information,
        "informational",
        p.location.as_str(),
        format!(
            "{} fails, but it reads {at}, whose value is already reported as invalid: \
             not counted as another error ({})",
            c.key, c.expression
        ),
        format!("{}#{}", c.source, c.key),
    ));
}

fn not_checked(p: &Pending, error: &str, out: &mut Vec<Issue>) {
    let c = &p.constraint;
    out.push(Issue::new(
        Severity::Information,
        "not-supported",
        p.location.as_str(),
        format!("invariant {} could not be evaluated: {error}", c.key),
        format!("{}#{}", c.source, c.key),
    ));
}

#[cfg(test)]
mod tests {
    use super::{Target, identifiers, pointer, split};

    #[test]
    fn identifiers_skip_literals_and_unquote() {
        assert_eq!(
            identifiers("lastModified.exists().not() or lastModified >= authoredOn"),
            [
                "lastModified",
                "exists",
                "not",
                "or",
                "lastModified",
                "authoredOn"
            ]
        );
        assert_eq!(
            identifiers("code = 'authoredOn' and `div`.exists()"),
            ["code", "and", "div", "exists"]
        );
    }

    #[test]
    fn an_invariant_reads_a_malformed_value_by_the_names_on_its_way() {
        use super::super::profile::Constraint;
        use std::sync::Arc;
        let c = |expr: &str| {
            Arc::new(Constraint::new(
                "k".into(),
                "error".into(),
                "h".into(),
                expr.into(),
                "Task".into(),
                "s".into(),
            ))
        };
        let at = |expr: &str, location: &str| {
            let p = super::Pending::with_target(
                &c(expr),
                location.to_string(),
                Target::Value(serde_json::Value::Null),
                false,
                None,
            );
            let malformed = [
                "Task.authoredOn".to_string(),
                "Task.input[0].valueDateTime".to_string(),
            ];
            super::reads_malformed(&p, &malformed).map(str::to_string)
        };
        let inv1 = "lastModified.exists().not() or lastModified >= authoredOn";
        assert_eq!(at(inv1, "Task").as_deref(), Some("Task.authoredOn"));
        // A choice element by its name without the type.
        assert_eq!(
            at("input.value.exists()", "Task").as_deref(),
            Some("Task.input[0].valueDateTime")
        );
        assert_eq!(
            at("value.exists()", "Task.input[0]").as_deref(),
            Some("Task.input[0].valueDateTime")
        );
        // The value itself.
        assert_eq!(
            at("hasValue()", "Task.authoredOn").as_deref(),
            Some("Task.authoredOn")
        );
        // Neither name read, nor a value below this one.
        assert_eq!(at("lastModified.exists()", "Task"), None);
        assert_eq!(at("input.type.exists()", "Task"), None);
        assert_eq!(at("authoredOn.exists()", "Task.input[0]"), None);
        // `Task.authored` is not below `Task.author`: the prefix must end at a segment.
        assert_eq!(at("x", "Task.author"), None);
    }

    #[test]
    fn locations_become_pointers() {
        assert_eq!(pointer("Task"), "");
        assert_eq!(pointer("Task.input[2].valueDate"), "/input/2/valueDate");
        assert_eq!(
            pointer("Bundle.entry[0].resource.contained[1]"),
            "/entry/0/resource/contained/1"
        );
        assert_eq!(pointer("Task.code"), "/code");
    }

    #[test]
    fn values_belong_to_their_resource() {
        let t = |full: &str, at: &str| match split(full, at) {
            Target::Pointer { resource, within } => (resource, within),
            Target::Value(_) => unreachable!(),
        };
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(t("/code", "Task"), s("", "/code"));
        assert_eq!(
            t("/entry/0/resource/period", "Bundle.entry[0].resource"),
            s("/entry/0/resource", "/period")
        );
        assert_eq!(
            t("/contained/1", "Task.contained[1]"),
            s("/contained/1", "")
        );
        // Not inside `contained[1]`: `contained[10]` is another resource.
        assert_eq!(
            t("/contained/10/x", "Task.contained[1]"),
            s("", "/contained/10/x")
        );
    }
}
