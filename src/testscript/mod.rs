//! TestScript: run FHIR R4 TestScripts on the harness's one runner (lowered to its scenario
//! model, so the console, HTML, JUnit and JSON reports are those of a YAML pack), write a
//! TestReport per script, check what a script uses before running it, and export the
//! harness's own scenarios as TestScripts. See `docs/testscript.md`.
//!
//! [`load`] reads scripts (JSON, or XML through [`xml`]) and their fixtures; [`model`] is the
//! resource; [`check`] says what is supported; [`lower`] builds the scenario, whose steps
//! send the requests [`ops`] plans and whose checks ([`checks`]) evaluate the asserts with
//! the [`operators`], [`xpath`] and [`vars`]; [`report`] writes the TestReport; [`export`]
//! goes the other way; [`cli`] is `run --testscript` and `testscript check|export`.

pub mod check;
pub mod checks;
pub mod cli;
pub mod export;
pub mod load;
pub mod lower;
pub mod model;
pub mod operators;
pub mod ops;
pub mod report;
pub mod vars;
pub mod xml;
pub mod xpath;
