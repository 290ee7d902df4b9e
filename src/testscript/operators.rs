//! The assert operators of TestScript (`equals` ... `eval`), each usable with every source
//! an assert reads (an expression, a path, a header, the response code, the request URL...).
//! What an operator compares is always a collection of texts: what the source found.

use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equals,
    NotEquals,
    In,
    NotIn,
    GreaterThan,
    LessThan,
    Empty,
    NotEmpty,
    Contains,
    NotContains,
    Eval,
}

pub const ALL: &[&str] = &[
    "equals",
    "notEquals",
    "in",
    "notIn",
    "greaterThan",
    "lessThan",
    "empty",
    "notEmpty",
    "contains",
    "notContains",
    "eval",
];

impl Operator {
    pub fn parse(s: &str) -> Option<Operator> {
        Some(match s {
            "equals" => Operator::Equals,
            "notEquals" => Operator::NotEquals,
            "in" => Operator::In,
            "notIn" => Operator::NotIn,
            "greaterThan" => Operator::GreaterThan,
            "lessThan" => Operator::LessThan,
            "empty" => Operator::Empty,
            "notEmpty" => Operator::NotEmpty,
            "contains" => Operator::Contains,
            "notContains" => Operator::NotContains,
            "eval" => Operator::Eval,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        ALL[self as usize]
    }

    /// Whether the operator needs a value to compare with.
    pub fn needs_value(self) -> bool {
        !matches!(self, Operator::Empty | Operator::NotEmpty | Operator::Eval)
    }
}

/// Numbers as numbers, everything else (dates and instants in ISO 8601 included) as text.
fn order(a: &str, b: &str) -> Ordering {
    match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.cmp(b),
    }
}

fn same(a: &str, b: &str) -> bool {
    a == b || order(a, b) == Ordering::Equal && a.trim().parse::<f64>().is_ok()
}

fn shown(values: &[String]) -> String {
    match values {
        [] => "nothing".into(),
        [one] => format!("`{one}`"),
        many => format!(
            "[{}]",
            many.iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `actual` (what the source found) against the assert's `value`.
pub fn compare(op: Operator, actual: &[String], expected: Option<&str>) -> Result<(), String> {
    let found = shown(actual);
    let want = || -> Result<&str, String> {
        expected.ok_or_else(|| format!("operator {} needs a value", op.as_str()))
    };
    let nothing = || {
        Err(format!(
            "found nothing to compare with `{}`",
            expected.unwrap_or("")
        ))
    };
    match op {
        Operator::Empty => match actual.is_empty() {
            true => Ok(()),
            false => Err(format!("expected nothing, found {found}")),
        },
        Operator::NotEmpty => match actual.is_empty() {
            true => Err("expected a value, found nothing".into()),
            false => Ok(()),
        },
        Operator::Equals => {
            let w = want()?;
            if actual.is_empty() {
                return nothing();
            }
            match actual.iter().any(|a| same(a, w)) {
                true => Ok(()),
                false => Err(format!("found {found}, expected `{w}`")),
            }
        }
        Operator::NotEquals => {
            let w = want()?;
            if actual.is_empty() {
                return nothing();
            }
            match actual.iter().any(|a| same(a, w)) {
                true => Err(format!("found {found}, expected anything but `{w}`")),
                false => Ok(()),
            }
        }
        Operator::In | Operator::NotIn => {
            let w = want()?;
            let list: Vec<&str> = w.split(',').map(str::trim).collect();
            if actual.is_empty() {
                return nothing();
            }
            let inside = actual.iter().all(|a| list.iter().any(|l| same(a, l)));
            let any_inside = actual.iter().any(|a| list.iter().any(|l| same(a, l)));
            match (op, inside, any_inside) {
                (Operator::In, true, _) => Ok(()),
                (Operator::In, false, _) => Err(format!("found {found}, not in [{w}]")),
                (_, _, false) => Ok(()),
                _ => Err(format!("found {found}, expected none of [{w}]")),
            }
        }
        Operator::GreaterThan | Operator::LessThan => {
            let w = want()?;
            if actual.is_empty() {
                return nothing();
            }
            let wanted = if op == Operator::GreaterThan {
                Ordering::Greater
            } else {
                Ordering::Less
            };
            match actual.iter().all(|a| order(a, w) == wanted) {
                true => Ok(()),
                false => Err(format!(
                    "found {found}, expected {} `{w}`",
                    if op == Operator::GreaterThan {
                        "greater than"
                    } else {
                        "less than"
                    }
                )),
            }
        }
        Operator::Contains => {
            let w = want()?;
            match actual.iter().any(|a| a.contains(w)) {
                true => Ok(()),
                false => Err(format!("found {found}, which does not contain `{w}`")),
            }
        }
        Operator::NotContains => {
            let w = want()?;
            match actual.iter().any(|a| a.contains(w)) {
                true => Err(format!("found {found}, which contains `{w}`")),
                false => Ok(()),
            }
        }
        Operator::Eval => {
            // Evaluated by the caller (the expression's truth); here: a boolean result.
            match actual {
                [] => Err("the expression is empty (false)".into()),
                all if all.iter().all(|a| a == "true") => Ok(()),
                all if all.iter().any(|a| a == "false") => {
                    Err(format!("the expression is {found}"))
                }
                _ => Ok(()),
            }
        }
    }
}

/// `compareToSourceId`: what the source found against what the other fixture holds, value
/// by value. Both sides must have found something: two empty results compare nothing.
pub fn compare_sources(op: Operator, actual: &[String], source: &[String]) -> Result<(), String> {
    let (a, s) = (shown(actual), shown(source));
    if source.is_empty() && !matches!(op, Operator::Empty | Operator::NotEmpty) {
        return Err(format!(
            "the compared fixture has nothing there (found {a} in the checked one)"
        ));
    }
    let equal = actual.len() == source.len() && actual.iter().zip(source).all(|(x, y)| same(x, y));
    match op {
        Operator::Equals => match (actual.is_empty(), equal) {
            (true, _) => Err(format!("found nothing, expected {s}")),
            (false, true) => Ok(()),
            (false, false) => Err(format!("found {a}, the compared fixture has {s}")),
        },
        Operator::NotEquals => match equal {
            true => Err(format!("both have {a}, expected them to differ")),
            false => Ok(()),
        },
        Operator::In => {
            match !actual.is_empty() && actual.iter().all(|x| source.iter().any(|y| same(x, y))) {
                true => Ok(()),
                false => Err(format!("found {a}, not all among {s}")),
            }
        }
        Operator::NotIn => match actual.iter().any(|x| source.iter().any(|y| same(x, y))) {
            true => Err(format!("found {a}, some among {s}")),
            false => Ok(()),
        },
        Operator::Contains => match source
            .iter()
            .all(|y| actual.iter().any(|x| x.contains(y.as_str())))
        {
            true => Ok(()),
            false => Err(format!("found {a}, which does not contain all of {s}")),
        },
        Operator::NotContains => match source
            .iter()
            .any(|y| actual.iter().any(|x| x.contains(y.as_str())))
        {
            true => Err(format!("found {a}, which contains some of {s}")),
            false => Ok(()),
        },
        Operator::GreaterThan | Operator::LessThan => {
            let (Some(x), Some(y)) = (actual.first(), source.first()) else {
                return Err(format!("found {a}, nothing to compare with {s}"));
            };
            compare(op, std::slice::from_ref(x), Some(y))
        }
        Operator::Empty | Operator::NotEmpty | Operator::Eval => compare(op, actual, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_operator_holds_and_fails() {
        use Operator::*;
        let cases: &[(Operator, &[&str], Option<&str>, bool)] = &[
            (Equals, &["a"], Some("a"), true),
            (Equals, &["b"], Some("a"), false),
            (Equals, &[], Some("a"), false),
            (Equals, &["1.0"], Some("1"), true),
            (NotEquals, &["b"], Some("a"), true),
            (NotEquals, &["a"], Some("a"), false),
            (In, &["200"], Some("200,204"), true),
            (In, &["404"], Some("200,204"), false),
            (NotIn, &["404"], Some("200,204"), true),
            (NotIn, &["204"], Some("200,204"), false),
            (GreaterThan, &["10"], Some("9"), true),
            (GreaterThan, &["9"], Some("10"), false),
            (GreaterThan, &["2020-02-01"], Some("2020-01-31"), true),
            (LessThan, &["9"], Some("10"), true),
            (LessThan, &["10"], Some("10"), false),
            (Empty, &[], None, true),
            (Empty, &["x"], None, false),
            (NotEmpty, &["x"], None, true),
            (NotEmpty, &[], None, false),
            (
                Contains,
                &["application/fhir+json"],
                Some("fhir+json"),
                true,
            ),
            (Contains, &["text/html"], Some("fhir+json"), false),
            (NotContains, &["text/html"], Some("fhir+json"), true),
            (NotContains, &["a fhir+json"], Some("fhir+json"), false),
            (Eval, &["true"], None, true),
            (Eval, &["false"], None, false),
            (Eval, &[], None, false),
        ];
        for (op, actual, want, holds) in cases {
            let got = compare(*op, &v(actual), *want);
            assert_eq!(got.is_ok(), *holds, "{op:?} {actual:?} {want:?}: {got:?}");
        }
        assert_eq!(ALL.len(), 11);
        for name in ALL {
            assert_eq!(Operator::parse(name).unwrap().as_str(), *name);
        }
    }

    /// A pitfall of other engines: compareToSourceId passing whenever the expression
    /// returns one value. The values are compared.
    #[test]
    fn compare_to_source_compares_values() {
        use Operator::*;
        assert!(compare_sources(Equals, &v(&["Chalmers"]), &v(&["Chalmers"])).is_ok());
        assert!(compare_sources(Equals, &v(&["Other"]), &v(&["Chalmers"])).is_err());
        assert!(compare_sources(Equals, &v(&["Chalmers"]), &v(&[])).is_err());
        assert!(compare_sources(Equals, &v(&[]), &v(&["Chalmers"])).is_err());
        assert!(compare_sources(NotEquals, &v(&["a"]), &v(&["b"])).is_ok());
        assert!(compare_sources(NotEquals, &v(&["a"]), &v(&["a"])).is_err());
        assert!(compare_sources(In, &v(&["a"]), &v(&["a", "b"])).is_ok());
        assert!(compare_sources(NotIn, &v(&["c"]), &v(&["a", "b"])).is_ok());
        assert!(compare_sources(Contains, &v(&["abc"]), &v(&["b"])).is_ok());
        assert!(compare_sources(GreaterThan, &v(&["3"]), &v(&["2"])).is_ok());
        assert!(compare_sources(LessThan, &v(&["3"]), &v(&["2"])).is_err());
    }
}
