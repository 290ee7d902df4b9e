//! Value sets and code systems for binding checks: the R4 value sets bound `required` in the
//! base (from `profiles/r4/valuesets.json`) and the ValueSets and CodeSystems of the loaded
//! profile data (enumerated concepts, or whole code systems when those are loaded too).

use super::base::{Base, FastMap, FastSet};
use serde_json::Value;

/// One value set, as the codes it holds.
#[derive(Debug, Default)]
struct ValueSetCodes {
    /// system -> codes.
    codes: FastMap<String, FastSet<String>>,
    /// Systems included whole whose codes are not loaded: their codes cannot be checked.
    open_systems: FastSet<String>,
    /// Code systems included whole, to expand once every code system is loaded.
    whole_systems: Vec<String>,
}

impl ValueSetCodes {
    fn add(&mut self, system: &str, code: &str) {
        self.codes
            .entry(system.to_string())
            .or_default()
            .insert(code.to_string());
    }
}

/// Whether a code is in a value set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    In,
    NotIn,
    /// The value set (or the part of it for this system) is not in the data.
    Unknown,
}

#[derive(Debug, Default)]
pub struct Terminology {
    value_sets: FastMap<String, ValueSetCodes>,
    code_systems: FastMap<String, Vec<String>>,
}

impl Terminology {
    /// The base R4 value sets compiled into the binary.
    pub fn with_base(_base: &Base) -> Result<Terminology, String> {
        let raw: Value = serde_json::from_str(include_str!("../../profiles/r4/valuesets.json"))
            .map_err(|e| format!("profiles/r4/valuesets.json: {e}"))?;
        let mut t = Terminology::default();
        for (url, systems) in raw
            .get("valueSets")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let mut vs = ValueSetCodes::default();
            for s in systems.as_array().into_iter().flatten() {
                let system = s.get("system").and_then(Value::as_str).unwrap_or("");
                for c in s
                    .get("codes")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(code) = c.as_str() {
                        vs.add(system, code);
                    }
                }
            }
            t.value_sets.insert(url.clone(), vs);
        }
        Ok(t)
    }

    /// Add a ValueSet resource (its `compose.include`: enumerated concepts or whole systems).
    pub fn add_value_set(&mut self, vs: &Value) -> Result<(), String> {
        let url = vs
            .get("url")
            .and_then(Value::as_str)
            .ok_or("a ValueSet without url")?;
        let mut out = ValueSetCodes::default();
        for inc in vs
            .pointer("/compose/include")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let system = inc.get("system").and_then(Value::as_str).unwrap_or("");
            match inc.get("concept").and_then(Value::as_array) {
                Some(concepts) => {
                    for c in concepts {
                        if let Some(code) = c.get("code").and_then(Value::as_str) {
                            out.add(system, code);
                        }
                    }
                }
                None if inc.get("filter").is_none() => out.whole_systems.push(system.to_string()),
                None => {
                    out.open_systems.insert(system.to_string());
                }
            }
        }
        self.value_sets.insert(url.to_string(), out);
        Ok(())
    }

    /// Add a CodeSystem resource (its concepts, nested ones included).
    pub fn add_code_system(&mut self, cs: &Value) -> Result<(), String> {
        let url = cs
            .get("url")
            .and_then(Value::as_str)
            .ok_or("a CodeSystem without url")?;
        fn collect(concepts: Option<&Value>, out: &mut Vec<String>) {
            for c in concepts.and_then(Value::as_array).into_iter().flatten() {
                if let Some(code) = c.get("code").and_then(Value::as_str) {
                    out.push(code.to_string());
                }
                collect(c.get("concept"), out);
            }
        }
        let mut codes = Vec::new();
        collect(cs.get("concept"), &mut codes);
        self.code_systems.insert(url.to_string(), codes);
        Ok(())
    }

    /// Expand whole-system includes with the code systems loaded so far.
    pub fn finish(&mut self) {
        for vs in self.value_sets.values_mut() {
            for system in std::mem::take(&mut vs.whole_systems) {
                match self.code_systems.get(&system) {
                    Some(codes) => {
                        for c in codes {
                            vs.add(&system, c);
                        }
                    }
                    None => {
                        vs.open_systems.insert(system);
                    }
                }
            }
        }
    }

    /// Whether a value set is in the data.
    pub fn has(&self, url: &str) -> bool {
        self.value_sets.contains_key(strip_version(url))
    }

    /// The codes of a value bound to a value set, shown as an issue names them
    /// (`system#code`, or `` `code` `` without a system), when none of them is in it; `None`
    /// when one is in it or cannot be judged (an open system).
    pub fn none_in(&self, url: &str, codes: &[(Option<&str>, &str)]) -> Option<String> {
        let judged = !codes.is_empty()
            && codes
                .iter()
                .map(|(s, c)| self.member(url, *s, c))
                .all(|m| m == Membership::NotIn);
        judged.then(|| {
            codes
                .iter()
                .map(|(s, c)| match s {
                    Some(s) => format!("{s}#{c}"),
                    None => format!("`{c}`"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
    }

    /// Whether `code` (from `system`, if known) is in the value set.
    pub fn member(&self, url: &str, system: Option<&str>, code: &str) -> Membership {
        let Some(vs) = self.value_sets.get(strip_version(url)) else {
            return Membership::Unknown;
        };
        match system {
            Some(s) => {
                if vs.codes.get(s).is_some_and(|c| c.contains(code)) {
                    Membership::In
                } else if vs.open_systems.contains(s) {
                    Membership::Unknown
                } else {
                    Membership::NotIn
                }
            }
            None => {
                if vs.codes.values().any(|c| c.contains(code)) {
                    Membership::In
                } else if vs.open_systems.is_empty() {
                    Membership::NotIn
                } else {
                    Membership::Unknown
                }
            }
        }
    }
}

/// `http://...|4.0.1` -> `http://...`.
pub fn strip_version(url: &str) -> &str {
    url.split('|').next().unwrap_or(url)
}

/// (system, code) pairs, borrowed from the value: most values carry one or two.
pub type Codings<'v> = smallvec::SmallVec<[(Option<&'v str>, &'v str); 2]>;

/// The (system, code) pairs a bound value carries: a `code` string, a Coding, a
/// CodeableConcept, a Quantity (system + code), or a string (no system).
pub fn codings<'v>(ty: &str, v: &'v Value) -> Codings<'v> {
    let pair = |c: &'v Value| {
        c.get("code")
            .and_then(Value::as_str)
            .map(|code| (c.get("system").and_then(Value::as_str), code))
    };
    match ty {
        "code" | "string" | "uri" => v.as_str().map(|s| (None, s)).into_iter().collect(),
        "Coding" | "Quantity" => pair(v).into_iter().collect(),
        "CodeableConcept" => v
            .get("coding")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(pair)
            .collect(),
        _ => Codings::new(),
    }
}
