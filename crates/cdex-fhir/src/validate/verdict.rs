//! What one validation concluded, and against what, in words: the verdict line of
//! `cdex-harness validate` and of the simulator's live check. A resource is never called
//! valid without saying what it was checked against, nor when its content was not checked.

use super::Validator;
use super::issue::Issue;
use serde_json::Value;
use std::fmt;

/// The conclusion of a validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Some error.
    Invalid { errors: usize, against: Against },
    /// No error, but nothing of the resource's content was checked: the R4 base definition
    /// of its type is not in the validator's data.
    NotChecked { resource_type: String },
    /// No error against the R4 base and the profiles applied.
    Valid { against: Against },
}

/// What a resource was checked against: the R4 base always, the profiles given or
/// declared that are loaded, and those that are not (reported, not checked).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Against {
    pub profiles: Vec<String>,
    pub not_loaded: Vec<String>,
}

impl Verdict {
    pub fn is_valid(&self) -> bool {
        matches!(self, Verdict::Valid { .. })
    }

    pub fn checked(&self) -> bool {
        !matches!(self, Verdict::NotChecked { .. })
    }

    /// One word, for machines: `valid`, `invalid`, `not-checked`.
    pub fn code(&self) -> &'static str {
        match self {
            Verdict::Invalid { .. } => "invalid",
            Verdict::NotChecked { .. } => "not-checked",
            Verdict::Valid { .. } => "valid",
        }
    }
}

impl Validator {
    /// The verdict on `resource` given the `issues` its validation found and the profiles it
    /// was validated against (given, declared in `meta.profile`, or expected by an actor).
    pub fn verdict(&self, resource: &Value, profiles: &[String], issues: &[Issue]) -> Verdict {
        let mut against = Against::default();
        for p in profiles {
            let list = if self.profile(p).is_some() {
                &mut against.profiles
            } else {
                &mut against.not_loaded
            };
            if !list.contains(p) {
                list.push(p.clone());
            }
        }
        let errors = issues.iter().filter(|i| i.is_error()).count();
        let resource_type = resource.get("resourceType").and_then(Value::as_str);
        if errors > 0 {
            Verdict::Invalid { errors, against }
        } else if let Some(rt) = resource_type.filter(|rt| !self.checks_content_of(rt)) {
            Verdict::NotChecked {
                resource_type: rt.to_string(),
            }
        } else {
            Verdict::Valid { against }
        }
    }

    /// Whether the R4 base definition of this resource type is in the validator's data (the
    /// others are R4 types whose content is not checked; see `docs/validation.md`).
    pub fn checks_content_of(&self, resource_type: &str) -> bool {
        self.base
            .get(resource_type)
            .is_some_and(|t| t.kind == super::base::Kind::Resource)
    }
}

/// The profiles `meta.profile` declares.
pub fn declared_profiles(resource: &Value) -> Vec<String> {
    // `get`, not `pointer("/meta/profile")`, which parses and allocates the pointer.
    resource
        .get("meta")
        .and_then(|m| m.get("profile"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl fmt::Display for Against {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the R4 base")?;
        if !self.profiles.is_empty() {
            write!(f, " and {}", self.profiles.join(", "))?;
        }
        if !self.not_loaded.is_empty() {
            write!(
                f,
                "; not against {} (not loaded: not checked)",
                self.not_loaded.join(", ")
            )?;
        } else if self.profiles.is_empty() {
            write!(f, "; no profile given or declared")?;
        }
        Ok(())
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Invalid { errors, against } => {
                write!(f, "INVALID: {errors} error(s) against {against}")
            }
            Verdict::NotChecked { resource_type } => write!(
                f,
                "not checked: the R4 base definition of {resource_type} is not in the \
                 validator's data (only its JSON syntax and resourceType were read)"
            ),
            Verdict::Valid { against } => write!(f, "valid against {against}"),
        }
    }
}
