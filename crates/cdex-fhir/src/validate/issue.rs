//! One validation finding, shaped like an OperationOutcome issue.

use serde::Serialize;
use serde_json::{Value, json};
use std::fmt;

/// The sets [`dedupe`] keeps what it has seen in.
type Seen<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

/// How bad a finding is. Errors fail validation; warnings (extensible bindings) and
/// information (must-support absent, rules not checked) do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Information,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }
}

/// A finding: where, what, and which rule says so.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Issue {
    pub severity: Severity,
    /// OperationOutcome issue type: structure, required, value, invalid, code-invalid,
    /// not-supported, informational, business-rule.
    pub code: &'static str,
    /// FHIRPath-like location, e.g. `Task.input[1].type`.
    pub location: String,
    pub message: String,
    /// The rule's source: `<definition url>#<element id>` (or `...#<invariant key>`).
    pub source: String,
}

impl Issue {
    pub fn new(
        severity: Severity,
        code: &'static str,
        location: impl Into<String>,
        message: impl Into<String>,
        source: impl Into<String>,
    ) -> Issue {
        Issue {
            severity,
            code,
            location: location.into(),
            message: message.into(),
            source: source.into(),
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// This issue as an OperationOutcome.issue entry. `expression` is FHIRPath: only a
    /// location in the resource (`Task.status`) is one; a place in the text (`line 2,
    /// column 11`, for JSON that does not parse) is given in `location` alone, as the HL7
    /// validator does.
    pub fn to_outcome_issue(&self) -> Value {
        let mut issue = json!({
            "severity": self.severity.as_str(),
            "code": self.code,
            "diagnostics": self.message,
            "location": [self.location],
            "expression": [self.location],
            "extension": [{
                "url": "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-source",
                "valueString": self.source,
            }],
        });
        if !self.location.starts_with(|c: char| c.is_ascii_uppercase())
            && let Some(o) = issue.as_object_mut()
        {
            o.remove("expression");
        }
        issue
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<11} {}: {} [{}]",
            self.severity.as_str(),
            self.location,
            self.message,
            self.source
        )
    }
}

/// The parts joined, in one allocation: what an issue's message or source is built with on
/// the paths every validation takes (`format!` costs several times more).
pub fn concat(parts: &[&str]) -> String {
    let mut s = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        s.push_str(p);
    }
    s
}

/// An OperationOutcome holding these issues (an `information` "no issues" one when empty).
pub fn outcome(issues: &[Issue]) -> Value {
    let list: Vec<Value> = if issues.is_empty() {
        vec![
            json!({"severity": "information", "code": "informational", "diagnostics": "no issues"}),
        ]
    } else {
        issues.iter().map(Issue::to_outcome_issue).collect()
    };
    json!({"resourceType": "OperationOutcome", "issue": list})
}

/// Up to how many issues [`dedupe`] compares them pairwise rather than hashing them.
const SMALL: usize = 24;

/// Drop repeated issues (the same rule can be reached twice, e.g. a contained resource
/// checked as a slice and as a reference target) and repeated information issues (same
/// message and source, any location), keeping the first; order errors first, then
/// warnings, then information, stable within each.
pub fn dedupe(issues: &mut Vec<Issue>) {
    let keep = if issues.len() <= SMALL {
        first_seen_small(issues)
    } else {
        first_seen_hashed(issues)
    };
    let mut keep = keep.into_iter();
    issues.retain(|_| keep.next().unwrap_or(true));
    issues.sort_by_key(|i| i.severity);
}

/// Whether two issues are the same for [`dedupe`]: equal, or information with the same
/// message and source.
fn same(a: &Issue, b: &Issue) -> bool {
    if a.severity == Severity::Information {
        b.severity == Severity::Information && a.message == b.message && a.source == b.source
    } else {
        a == b
    }
}

/// For each issue, whether no issue before it is the same: a validation finds a handful,
/// and comparing each with those before it is cheaper than hashing them all (their messages
/// and sources are long; most pairs differ in length or in the first bytes).
fn first_seen_small(issues: &[Issue]) -> Vec<bool> {
    (0..issues.len())
        .map(|j| !issues[..j].iter().any(|p| same(&issues[j], p)))
        .collect()
}

/// [`first_seen_small`] for many issues.
fn first_seen_hashed(issues: &[Issue]) -> Vec<bool> {
    // Sized once (growing them was 4% of a validation's instructions), and hashed with
    // foldhash, seeded per process: issues carry what a peer sent (locations, values),
    // so an unseeded hash (the model maps' FNV) could be flooded, and FNV is slow on long
    // messages.
    let mut seen = Seen::with_capacity_and_hasher(issues.len(), Default::default());
    let mut seen_info = Seen::with_capacity_and_hasher(issues.len(), Default::default());
    issues
        .iter()
        .map(|i| {
            if i.severity == Severity::Information {
                seen_info.insert((i.message.as_str(), i.source.as_str()))
            } else {
                seen.insert(i)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_and_hashed_keep_the_same_issues() {
        let sev = [Severity::Error, Severity::Warning, Severity::Information];
        // Issues differing in one field at a time, each several times, interleaved.
        let mut issues = Vec::new();
        for round in 0..3 {
            for (n, s) in sev.iter().enumerate() {
                for k in 0..4 {
                    let field = |f: usize| {
                        if k == f {
                            format!("x{round}")
                        } else {
                            "x".into()
                        }
                    };
                    issues.push(Issue::new(
                        *s,
                        if n == 0 && k == 3 {
                            "value"
                        } else {
                            "structure"
                        },
                        field(0),
                        field(1),
                        field(2),
                    ));
                }
            }
        }
        assert!(issues.len() > SMALL);
        for len in 0..=issues.len() {
            let part = &issues[..len];
            assert_eq!(first_seen_small(part), first_seen_hashed(part), "{len}");
        }
        let kept = first_seen_small(&issues).iter().filter(|k| **k).count();
        // Information issues at other locations are the same; the others are not.
        assert!(kept < issues.len() && kept > issues.len() / 2, "{kept}");
    }
}
