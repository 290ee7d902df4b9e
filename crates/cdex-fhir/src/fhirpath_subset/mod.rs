//! A synchronous evaluator for the part of FHIRPath that FHIRPath invariants use (paths,
//! `where`/`select`/`all`/`exists`, boolean logic, equality and ordering of strings,
//! numbers and dates, `isDistinct`, `is(Resource)`...), on borrowed JSON typed by the R4
//! base model. It exists for speed: the project's FHIRPath crate (octofhir-fhirpath, see
//! [`crate::fhirpath`]) costs ~10 us per invariant, its async tree-walker building
//! its own value tree; this costs well under 1 us, so validating with invariants stays
//! above 20,000 resources/s.
//!
//! It never guesses: an expression outside the subset does not [`compile`], and data the
//! subset does not read with certainty make an evaluation [`Unsupported`]; in both cases
//! the caller evaluates with the full engine instead ([`crate::validate::invariant`]).
//! The test `tests/validation.rs` (`the_subset_agrees_with_the_engine`) evaluates every
//! invariant on every example and invalid case both ways and requires the same verdict.

mod datetime;
mod eval;
mod parse;

pub use eval::{Item, Scope, Ty, Unsupported};

use crate::validate::base::Base;
use serde_json::Value;

/// An expression of the subset, parsed once.
#[derive(Debug, Clone)]
pub struct Compiled(parse::Expr);

/// Parse `expression`; `None` when it uses anything outside the subset.
pub fn compile(expression: &str) -> Option<Compiled> {
    parse::parse(expression).map(Compiled)
}

impl Compiled {
    /// Evaluate on `focus` (also `$this`) and say whether the invariant holds: false when
    /// the result holds a `false`, as the full engine's caller reads it.
    pub fn holds<'a>(&'a self, scope: &Scope<'a>, focus: Item<'a>) -> Result<bool, Unsupported> {
        let out = scope.eval(&self.0, std::slice::from_ref(&focus), Some(&focus))?;
        Ok(!out.iter().any(|i| {
            matches!(
                i,
                Item::Bool(false) | Item::Node(Value::Bool(false), Ty::Named("boolean"))
            )
        }))
    }
}

/// `value` as an item: a resource by its `resourceType`, else of the type `type_name` (a
/// datatype or primitive of the base), else the backbone element `def_path` names
/// (`Bundle.entry`). `None` when none of them says its type.
pub fn item<'a>(
    base: &'a Base,
    value: &'a Value,
    type_name: Option<&str>,
    def_path: Option<&str>,
) -> Option<Item<'a>> {
    if let Some(t) = value.get("resourceType").and_then(Value::as_str) {
        return Some(Item::Node(value, Ty::Named(t)));
    }
    if let Some((name, _)) = type_name.and_then(|t| base.types.get_key_value(t)) {
        return Some(Item::Node(value, Ty::Named(name)));
    }
    let def = base.element(def_path?)?;
    (!def.children.list.is_empty()).then_some(Item::Node(value, Ty::Backbone(&def.children)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::LazyLock;

    static BASE: LazyLock<Base> = LazyLock::new(|| Base::load_default().unwrap());

    /// Whether `expr` holds on `value` of type `ty` (a resource when `ty` is empty).
    fn holds(expr: &str, value: &Value, ty: &str) -> Result<bool, Unsupported> {
        let c = compile(expr).unwrap_or_else(|| panic!("{expr} does not compile"));
        let focus = item(&BASE, value, Some(ty).filter(|t| !t.is_empty()), None).unwrap();
        let scope = Scope {
            base: &BASE,
            resource: focus.clone(),
            root: focus.clone(),
        };
        c.holds(&scope, focus)
    }

    const TASK_INV_1: &str =
        "lastModified.exists().not() or authoredOn.exists().not() or lastModified >= authoredOn";

    #[test]
    fn task_inv_1_compares_date_times() {
        let t = |a: &str, m: &str| {
            holds(
                TASK_INV_1,
                &json!({"resourceType": "Task", "authoredOn": a, "lastModified": m}),
                "",
            )
        };
        assert_eq!(
            t("2020-01-02T10:00:00Z", "2020-01-02T11:00:00+01:00"),
            Ok(true)
        );
        assert_eq!(
            t("2020-01-02T10:00:00Z", "2020-01-02T10:59:59+01:00"),
            Ok(false)
        );
        assert_eq!(t("2020-01-02", "2020-01"), Ok(true), "unknown is not false");
        assert_eq!(t("2020-01-02", "2020-01-02T10:00:00Z"), Ok(true));
        assert_eq!(t("2020-01-02", "2020-01-01T10:00:00Z"), Ok(false));
        assert_eq!(
            t("2020-01-02", "2020-01-01T23:30:00-05:00"),
            Err(Unsupported)
        );
        let none = json!({"resourceType": "Task", "authoredOn": "2020-01-02"});
        assert_eq!(holds(TASK_INV_1, &none, ""), Ok(true));
    }

    #[test]
    fn choice_elements_are_found_by_their_name() {
        let inv = "(part.exists() and value.empty() and resource.empty()) or (part.empty() and (value.exists() xor resource.exists()))";
        let params = |p: Value| json!({"resourceType": "Parameters", "parameter": [p]});
        let base = &*BASE;
        let check = |p: Value| {
            let whole = params(p);
            let v = &whole["parameter"][0];
            let focus = item(base, v, None, Some("Parameters.parameter")).unwrap();
            let scope = Scope {
                base,
                resource: Item::Node(&whole, Ty::Named("Parameters")),
                root: Item::Node(&whole, Ty::Named("Parameters")),
            };
            compile(inv).unwrap().holds(&scope, focus)
        };
        assert_eq!(check(json!({"name": "a", "valueString": "x"})), Ok(true));
        assert_eq!(check(json!({"name": "a"})), Ok(false));
        assert_eq!(
            check(
                json!({"name": "a", "valueString": "x", "resource": {"resourceType": "Patient"}})
            ),
            Ok(false)
        );
        assert_eq!(
            check(json!({"name": "a", "_valueString": {"id": "x"}})),
            Err(Unsupported)
        );
    }

    #[test]
    fn cdex_invariants_read_codes() {
        let cdex_9 = "Task.input.type.coding.code.where($this='data-query' or $this='data-code' or $this='questionnaire').count()=1";
        let input = |codes: &[&str]| {
            let list: Vec<Value> = codes
                .iter()
                .map(|c| json!({"type": {"coding": [{"code": c}]}, "valueString": "x"}))
                .collect();
            json!({"resourceType": "Task", "input": list})
        };
        assert_eq!(holds(cdex_9, &input(&["data-code"]), ""), Ok(true));
        assert_eq!(
            holds(cdex_9, &input(&["data-code", "data-query"]), ""),
            Ok(false)
        );
        assert_eq!(holds(cdex_9, &input(&["other"]), ""), Ok(false));
        let cdex_2 = "$this.toString().length() = 10";
        assert_eq!(holds(cdex_2, &json!("2020-01-02"), "date"), Ok(true));
        assert_eq!(holds(cdex_2, &json!("2020-01"), "date"), Ok(false));
    }

    #[test]
    fn bundle_invariants_see_resources_by_type() {
        let b = |first: &str| {
            json!({"resourceType": "Bundle", "type": "message", "entry": [
                {"fullUrl": "urn:uuid:1", "resource": {"resourceType": first}},
                {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient"}}
            ]})
        };
        let bdl_12 = "type = 'message' implies entry.first().resource.is(MessageHeader)";
        assert_eq!(holds(bdl_12, &b("MessageHeader"), ""), Ok(true));
        assert_eq!(holds(bdl_12, &b("Patient"), ""), Ok(false));
        let bdl_7 = "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()";
        assert_eq!(holds(bdl_7, &b("Patient"), ""), Ok(false));
    }

    /// Which of the R4 base's invariants the subset takes (the others go to the full engine).
    #[test]
    fn most_base_invariants_compile() {
        let all: Vec<_> = BASE.invariants.values().flatten().collect();
        let mut declined: Vec<&str> = all
            .iter()
            .filter(|c| c.compiled.is_none())
            .map(|c| c.key.as_str())
            .collect();
        declined.sort();
        assert_eq!(all.len(), 103);
        // iif, toInteger, matches, descendants, intersect.
        assert_eq!(
            declined,
            [
                "cpb-0", "eld-16", "eld-19", "eld-2", "eld-20", "eld-3", "obs-7", "que-0", "que-2"
            ],
        );
    }

    #[test]
    fn what_the_subset_cannot_read_is_unsupported() {
        let task = json!({"resourceType": "Task", "status": "draft", "intent": "order",
            "input": [{"type": {"text": "a"}, "valueString": "x"}, {"type": {"text": "b"}, "valueString": "y"}]});
        // An element the model does not have; a collection where one value is expected;
        // comparing a string with a number; a boolean operator on a string.
        for expr in [
            "nonsense.exists()",
            "input.valueString = 'x'",
            "status = 1",
            "status and true",
            "input.all(valueString)",
        ] {
            assert_eq!(holds(expr, &task, ""), Err(Unsupported), "{expr}");
        }
    }
}
