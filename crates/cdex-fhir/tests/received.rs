//! `check_received` with an expected profile the resource does not declare: what the two
//! validations it stands for (as declared, then against the expected profile) find,
//! deduplicated together, though it walks the R4 base once.

use cdex_fhir::conformance::{check_received, validator};
use cdex_fhir::validate::{Severity, issue};
use serde_json::Value;

const TAR: &str =
    "http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-task-attachment-request";

/// The expected profile's invariant cdex-2 (a service date has 10 characters) fails on a
/// date the R4 walk already reported as malformed: in the expected profile's validation, that
/// failure is information, not a second error, because that validation's issues include the
/// walk's. Sharing the walk must keep it so (a validation that applied the expected profile
/// after the walk without its issues would count two errors).
#[tokio::test]
async fn an_expected_profiles_invariant_over_a_malformed_value_is_not_a_second_error() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/validation/examples/cdex-task-example19.json"
    );
    let mut task: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    task.as_object_mut().unwrap().remove("meta");
    let date = task["input"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find_map(|i| i.get_mut("valueDate"))
        .expect("a service date");
    *date = "2020-1-5".into();

    let got = check_received(&task, Some(TAR)).await.unwrap();

    let v = validator().unwrap();
    let mut want = v.validate_with_invariants(&task, None).await;
    want.extend(v.validate_with_invariants(&task, Some(TAR)).await);
    issue::dedupe(&mut want);
    assert_eq!(got.issues, want);
    let errors: Vec<_> = got.issues.iter().filter(|i| i.is_error()).collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].message.contains("is not a valid date"));
    assert!(
        got.issues
            .iter()
            .any(|i| i.severity == Severity::Information
                && i.message.starts_with("cdex-2 fails, but it reads"))
    );
    assert_eq!(got.verdict.to_string().split(':').next(), Some("INVALID"));
}
