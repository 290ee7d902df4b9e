//! Assertions: check one message (a response, or a request a client under test sent) and
//! say what was expected, what was found, and why it failed.

use crate::http::Message;
use crate::mock::server::request_matches;
use crate::results::{AssertionResult, Severity, Status};
use crate::scenario::template::{Vars, render};
use crate::scenario::{AssertKind, Assertion, TextCheck};
use serde_json::Value;

/// What one check found: `Ok(actual)` when it held, `Err((actual, why))` when not.
type Outcome = Result<Option<String>, (Option<String>, String)>;

/// Evaluate an assertion against a message.
pub async fn evaluate(a: &Assertion, msg: &Message, vars: &Vars) -> AssertionResult {
    if let Some(s) = msg.status
        && !a.when_status.is_empty()
        && !a.when_status.iter().any(|r| r.contains(&s))
    {
        return not_checked_for_status(a, s, vars);
    }
    if let AssertKind::Signature { at, step } = &a.kind {
        return super::signature_check::evaluate(a, msg, vars, at, *step).await;
    }
    let (description, expected, outcome) = match check(&a.kind, msg, vars).await {
        Ok(x) => x,
        Err(e) => (describe(&a.kind), None, Err((None, e))),
    };
    let (status, actual, message) = match outcome {
        Ok(actual) => (Status::Passed, actual, None),
        Err((actual, why)) => (failed_status(a.severity), actual, Some(why)),
    };
    let description = match &a.title {
        Some(t) => render(t, vars).unwrap_or_else(|_| t.clone()),
        None => description,
    };
    AssertionResult {
        kind: a.kind.name().to_string(),
        description,
        requirement: a.requirement.clone(),
        severity: a.severity,
        status,
        expected,
        actual,
        message,
        hint: a.hint.clone(),
    }
}

/// An assertion limited by `when_status:` to other statuses than the response's: it holds
/// (what it checks is not there to check), and says why it looked no further.
fn not_checked_for_status(a: &Assertion, status: u16, vars: &Vars) -> AssertionResult {
    let description = match &a.title {
        Some(t) => render(t, vars).unwrap_or_else(|_| t.clone()),
        None => describe(&a.kind),
    };
    let wanted = statuses(&a.when_status);
    AssertionResult {
        kind: a.kind.name().to_string(),
        description,
        requirement: a.requirement.clone(),
        severity: a.severity,
        status: Status::Passed,
        expected: None,
        actual: Some(format!("status {status}")),
        message: Some(format!(
            "not checked: it applies to a {wanted} answer, and the status was {status}"
        )),
        hint: a.hint.clone(),
    }
}

/// An assertion that could not be evaluated because its message never came. `vars`, when
/// known, fill the placeholders of the description.
pub fn not_evaluated(
    a: &Assertion,
    why: &str,
    status: Status,
    vars: Option<&Vars>,
) -> AssertionResult {
    let description = a.title.clone().unwrap_or_else(|| describe(&a.kind));
    let description = match vars {
        Some(v) => render(&description, v).unwrap_or(description),
        None => description,
    };
    AssertionResult {
        kind: a.kind.name().to_string(),
        description,
        requirement: a.requirement.clone(),
        severity: a.severity,
        status: match status {
            Status::Failed => failed_status(a.severity),
            s => s,
        },
        expected: None,
        actual: None,
        message: Some(why.to_string()),
        hint: a.hint.clone(),
    }
}

/// A `received: false` check when nothing arrived: it holds.
pub fn nothing_arrived(a: &Assertion, vars: &Vars) -> AssertionResult {
    AssertionResult {
        expected: Some("nothing".into()),
        actual: Some("nothing arrived".into()),
        message: None,
        ..not_evaluated(a, "", Status::Passed, Some(vars))
    }
}

pub fn failed_status(severity: Severity) -> Status {
    match severity {
        Severity::Required => Status::Failed,
        Severity::Recommended | Severity::Optional => Status::Warned,
    }
}

fn describe(kind: &AssertKind) -> String {
    match kind {
        AssertKind::Status(_) => "HTTP status".into(),
        AssertKind::Header { name, .. } => format!("header {name}"),
        AssertKind::Resource(t) => format!("body is {} {t}", article(t)),
        AssertKind::FhirPath(e) => format!("FHIRPath {e}"),
        AssertKind::Profile(p) => format!("conforms to {p}"),
        AssertKind::Method(m) => format!("method is {m}"),
        AssertKind::Path(p) => format!("path matches {p}"),
        AssertKind::Json => "body is JSON".into(),
        AssertKind::NotReceived => "no such request arrives".into(),
        AssertKind::TaskStates { id, .. } => format!("the statuses {id} goes through"),
        AssertKind::PollSchedule(p) => format!("when the client sends {} {}", p.method, p.path),
        AssertKind::Attachment(e) => format!("the attachments at {e}"),
        AssertKind::Signature { at, step } => super::signature_check::describe(at, step),
        AssertKind::External(c) => c.0.describe(),
    }
}

async fn check(
    kind: &AssertKind,
    msg: &Message,
    vars: &Vars,
) -> Result<(String, Option<String>, Outcome), String> {
    let desc = describe(kind);
    Ok(match kind {
        AssertKind::Status(ranges) => {
            let expected = statuses(ranges);
            let outcome = match msg.status {
                Some(s) if ranges.iter().any(|r| r.contains(&s)) => Ok(Some(s.to_string())),
                Some(s) => Err((
                    Some(s.to_string()),
                    format!("status {s} is not {expected}{}", outcome_hint(msg)),
                )),
                None => Err((None, "there is no status (this is a request)".into())),
            };
            (desc, Some(expected), outcome)
        }
        AssertKind::Header { name, check } => {
            let value = msg.header(name).map(str::to_string);
            let (expected, outcome) = match check {
                TextCheck::Present => (
                    "present".to_string(),
                    value
                        .clone()
                        .map(Some)
                        .ok_or((None, format!("no `{name}` header"))),
                ),
                TextCheck::Absent => (
                    "absent".to_string(),
                    match &value {
                        None => Ok(None),
                        Some(v) => Err((Some(v.clone()), format!("`{name}` should not be sent"))),
                    },
                ),
                TextCheck::Equals(want) => {
                    let want = render(want, vars)?;
                    let out = match &value {
                        Some(v) if *v == want => Ok(Some(v.clone())),
                        Some(v) => Err((
                            Some(v.clone()),
                            format!("`{name}` is `{v}`, expected `{want}`"),
                        )),
                        None => Err((None, format!("no `{name}` header"))),
                    };
                    (format!("= {want}"), out)
                }
                TextCheck::Contains(want) => {
                    let want = render(want, vars)?;
                    let out = match &value {
                        Some(v) if v.to_ascii_lowercase().contains(&want.to_ascii_lowercase()) => {
                            Ok(Some(v.clone()))
                        }
                        Some(v) => Err((
                            Some(v.clone()),
                            format!("`{name}` is `{v}`, which does not contain `{want}`"),
                        )),
                        None => Err((None, format!("no `{name}` header"))),
                    };
                    (format!("contains {want}"), out)
                }
                TextCheck::Matches(pattern) => {
                    let pattern = render(pattern, vars)?;
                    let re = regex::Regex::new(&pattern)
                        .map_err(|e| format!("invalid regex `{pattern}`: {e}"))?;
                    let out = match &value {
                        Some(v) if re.is_match(v) => Ok(Some(v.clone())),
                        Some(v) => Err((
                            Some(v.clone()),
                            format!("`{name}` is `{v}`, which does not match /{pattern}/"),
                        )),
                        None => Err((None, format!("no `{name}` header"))),
                    };
                    (format!("matches /{pattern}/"), out)
                }
            };
            (desc, Some(expected), outcome)
        }
        AssertKind::Signature { .. } => {
            // Judged by `signature_check::evaluate` (it can warn or not apply, not just fail).
            return Err("`signature` is judged on its own".to_string());
        }
        AssertKind::External(_) => {
            // Evaluated over the whole exchange (see `runner::steps`), never one message.
            return Err(format!(
                "`{}` is evaluated over the whole exchange",
                kind.name()
            ));
        }
        AssertKind::TaskStates { .. } | AssertKind::PollSchedule(_) => {
            // Checked over the whole scenario (see `runner::steps`), never one message.
            return Err(format!(
                "`{}` looks at the whole scenario, not at one message",
                kind.name()
            ));
        }
        AssertKind::NotReceived => {
            // Called only when a request did arrive (see `runner::steps::expect`).
            let got = format!(
                "{} /{}",
                msg.method.as_deref().unwrap_or("?"),
                msg.path.as_deref().unwrap_or("")
            );
            let outcome = Err((
                Some(got.clone()),
                "it arrived, and no such request should have".to_string(),
            ));
            (desc, Some("nothing".into()), outcome)
        }
        AssertKind::Json => {
            let outcome = match msg.json() {
                Ok(_) => Ok(None),
                Err(e) => Err((None, e)),
            };
            (desc, Some("well-formed JSON".into()), outcome)
        }
        AssertKind::Resource(t) => {
            let outcome = match msg.json() {
                Ok(v) => match v.get("resourceType").and_then(Value::as_str) {
                    Some(rt) if rt == t => Ok(Some(rt.to_string())),
                    Some(rt) => Err((
                        Some(rt.to_string()),
                        format!(
                            "the body is {} {rt}, expected {} {t}{}",
                            article(rt),
                            article(t),
                            outcome_detail(&v)
                        ),
                    )),
                    None => Err((None, "the JSON body has no resourceType".into())),
                },
                Err(e) => Err((None, e)),
            };
            (desc, Some(t.clone()), outcome)
        }
        AssertKind::FhirPath(expr) => {
            let expr = render(expr, vars)?;
            let outcome = match msg.json() {
                Ok(v) => match crate::fhir::fhirpath::evaluate(&expr, &v).await {
                    Ok(values) => {
                        let shown = show(&values);
                        if crate::fhir::fhirpath::is_true(&values) {
                            Ok(Some(shown))
                        } else {
                            Err((Some(shown), format!("`{expr}` is not true for this body")))
                        }
                    }
                    Err(e) => Err((None, format!("`{expr}` could not be evaluated: {e}"))),
                },
                Err(e) => Err((None, e)),
            };
            (format!("FHIRPath {expr}"), Some("true".into()), outcome)
        }
        AssertKind::Profile(name) => {
            let outcome = match msg.json() {
                Ok(v) => {
                    let issues = crate::fhir::conformance::check(&v, name).await?;
                    let errors: Vec<String> = issues
                        .iter()
                        .filter(|i| i.is_error())
                        .map(|i| format!("{}: {}", i.location, i.message))
                        .collect();
                    if errors.is_empty() {
                        Ok(None)
                    } else {
                        Err((
                            Some(format!("{} error(s)", errors.len())),
                            errors.join("; "),
                        ))
                    }
                }
                Err(e) => Err((None, e)),
            };
            (
                desc,
                Some(format!(
                    "conforms to {name} ({})",
                    crate::fhir::conformance::canonical(name)
                )),
                outcome,
            )
        }
        AssertKind::Method(m) => {
            let got = msg.method.clone();
            let outcome = match &got {
                Some(g) if crate::mock::server::method_matches(m, g) => Ok(got.clone()),
                Some(g) => Err((got.clone(), format!("the request used {g}, expected {m}"))),
                None => Err((None, "there is no method (this is a response)".into())),
            };
            (desc, Some(m.clone()), outcome)
        }
        AssertKind::Attachment(expr) => {
            let expr = render(expr, vars)?;
            let outcome = match msg.json() {
                Ok(v) => match crate::fhir::attachment::check(&expr, &v).await {
                    Ok(f) => {
                        let actual = Some(f.summary.join("; "));
                        if f.problems.is_empty() {
                            Ok(actual)
                        } else {
                            Err((actual, f.problems.join("; ")))
                        }
                    }
                    Err(e) => Err((None, format!("`{expr}` could not be evaluated: {e}"))),
                },
                Err(e) => Err((None, e)),
            };
            (
                format!("the attachments at {expr}"),
                Some("each: base64 data of its contentType; size and SHA-1 hash matching when given; an absolute url when given".into()),
                outcome,
            )
        }
        AssertKind::Path(p) => {
            let p = render(p, vars)?;
            let got = msg.path.clone().unwrap_or_default();
            let outcome = if msg.path.is_none() {
                Err((None, "there is no path (this is a response)".into()))
            } else if request_matches(&p, &got) {
                Ok(Some(got))
            } else {
                Err((
                    Some(got.clone()),
                    format!("the request went to `{got}`, expected `{p}`"),
                ))
            };
            (format!("path matches {p}"), Some(p), outcome)
        }
    })
}

/// `a` or `an` before a resource type name.
fn article(word: &str) -> &'static str {
    if word.starts_with(['A', 'E', 'I', 'O', 'U', 'a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// FHIRPath results, shortly.
fn show(values: &[Value]) -> String {
    let text = match values {
        [] => "{}".to_string(),
        [one] => one.to_string(),
        many => format!(
            "[{}]",
            many.iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    if text.chars().count() > 200 {
        format!("{}…", text.chars().take(200).collect::<String>())
    } else {
        text
    }
}

/// When a response is an OperationOutcome, its diagnostics explain a status.
fn outcome_hint(msg: &Message) -> String {
    msg.json().map(|v| outcome_detail(&v)).unwrap_or_default()
}

fn outcome_detail(v: &Value) -> String {
    if v.get("resourceType").and_then(Value::as_str) != Some("OperationOutcome") {
        return String::new();
    }
    let texts: Vec<String> = v
        .get("issue")
        .and_then(Value::as_array)
        .map(|issues| {
            issues
                .iter()
                .filter_map(|i| {
                    i.get("diagnostics")
                        .and_then(Value::as_str)
                        .or_else(|| i.pointer("/details/text").and_then(Value::as_str))
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    if texts.is_empty() {
        String::new()
    } else {
        format!(" (OperationOutcome: {})", texts.join("; "))
    }
}

/// Status codes and classes as a scenario writes them: `201 or 4xx`.
fn statuses(ranges: &[std::ops::RangeInclusive<u16>]) -> String {
    ranges
        .iter()
        .map(|r| {
            if r.start() == r.end() {
                r.start().to_string()
            } else {
                format!("{}xx", r.start() / 100)
            }
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::Target;

    fn nothing_of_b() -> Assertion {
        Assertion {
            kind: AssertKind::FhirPath("entry.resource.where(id = 'b').empty()".into()),
            requirement: None,
            severity: Severity::Required,
            strict_severity: Severity::Required,
            on: Target::Response,
            title: None,
            hint: None,
            since: None,
            when_status: vec![200..=299],
        }
    }

    fn response(status: u16, body: &str) -> Message {
        Message {
            status: Some(status),
            body: body.as_bytes().to_vec(),
            ..Message::default()
        }
    }

    fn eval(a: &Assertion, m: &Message) -> AssertionResult {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(evaluate(a, m, &Vars::new()))
    }

    /// `when_status: 2xx`: a refusal (even with no body) is not checked and holds; an answer
    /// is checked.
    #[test]
    fn when_status_checks_only_the_statuses_named() {
        let a = nothing_of_b();
        let refused = eval(&a, &response(401, ""));
        assert_eq!(refused.status, Status::Passed);
        assert!(
            refused
                .message
                .as_deref()
                .is_some_and(|m| m.contains("not checked") && m.contains("401")),
            "{refused:?}"
        );
        let leaks = r#"{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Patient","id":"b"}}]}"#;
        assert_eq!(eval(&a, &response(200, leaks)).status, Status::Failed);
        let clean = r#"{"resourceType":"Bundle","type":"searchset","entry":[]}"#;
        assert_eq!(eval(&a, &response(200, clean)).status, Status::Passed);
        // Without `when_status`, an empty body cannot be checked: the check fails.
        let mut always = nothing_of_b();
        always.when_status.clear();
        assert_eq!(eval(&always, &response(401, "")).status, Status::Failed);
    }
}
