//! Any text as a FHIRPath expression for the invariant subset, evaluated on any JSON (the
//! input's first line is the expression, the rest the resource, a built-in Task when it is
//! not JSON): compiling declines or succeeds, evaluating answers or declines, never a panic
//! or a hang. Seeded with every invariant of the project's data (corpus/invariant_subset/).
#![no_main]

use cdex_harness::fhir::fhirpath_subset::{self, Scope};
use cdex_harness::fhir::validate::base::Base;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::OnceLock;

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| Base::load_default().expect("the R4 base loads"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (expression, json) = text.split_once('\n').unwrap_or((text, "{}"));
    let Some(compiled) = fhirpath_subset::compile(expression) else {
        return;
    };
    let resource: Value = serde_json::from_str(json).unwrap_or_else(|_| {
        serde_json::json!({"resourceType": "Task", "status": "draft", "intent": "order",
            "authoredOn": "2020-01-02", "lastModified": "2020-01-02T10:00:00Z",
            "input": [{"type": {"coding": [{"code": "data-code"}]}, "valueString": "x"}]})
    });
    let base = base();
    for type_name in [None, Some("Period"), Some("date"), Some("Coding")] {
        let Some(focus) = fhirpath_subset::item(base, &resource, type_name, None) else {
            continue;
        };
        let scope = Scope {
            base,
            resource: focus.clone(),
            root: focus.clone(),
        };
        let _ = compiled.holds(&scope, focus);
    }
});
