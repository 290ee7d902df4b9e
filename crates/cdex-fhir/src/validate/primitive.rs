//! FHIR R4 primitive datatypes: the JSON type each must have and its lexical format (the
//! regular expressions of the R4 specification's datatype page, as small parsers for the
//! date/time types and the regexes for oid and uuid; the tests check the parsers against
//! the specification's regexes).

use regex::Regex;
use serde_json::Value;
use std::sync::OnceLock;

struct Patterns {
    oid: Regex,
    uuid: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        let re = |s: &str| Regex::new(&format!("^(?:{s})$")).expect("the R4 regexes compile");
        Patterns {
            oid: re(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+"),
            uuid: re(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
        }
    })
}

/// `None` when the JSON value is a valid instance of the primitive type `ty`, else what is
/// wrong with it (a sentence a developer can act on).
pub fn check(ty: &str, v: &Value) -> Option<String> {
    match ty {
        "boolean" => (!v.is_boolean()).then(|| format!("must be a JSON boolean, found {v}")),
        "integer" | "positiveInt" | "unsignedInt" => {
            let Some(n) = v.as_i64() else {
                return Some(format!("must be a JSON integer ({ty}), found {v}"));
            };
            let (lo, hi) = match ty {
                "positiveInt" => (1, i32::MAX as i64),
                "unsignedInt" => (0, i32::MAX as i64),
                _ => (i32::MIN as i64, i32::MAX as i64),
            };
            (n < lo || n > hi).then(|| format!("{n} is out of range for {ty} ({lo}..{hi})"))
        }
        "decimal" => (!v.is_number()).then(|| format!("must be a JSON number, found {v}")),
        _ => {
            let Some(s) = v.as_str() else {
                return Some(format!("must be a JSON string ({ty}), found {v}"));
            };
            check_text(ty, s)
        }
    }
}

/// Whether `s` is a valid `id`: 1 to 64 of A-Z a-z 0-9 - . (what [`check`] asks of an id,
/// without a `Value` to wrap it in: references are parsed by the thousand).
pub fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn check_text(ty: &str, s: &str) -> Option<String> {
    let p = patterns();
    let ok = match ty {
        "string" | "markdown" => !s.trim().is_empty(),
        "id" => is_id(s),
        "code" => valid_code(s),
        "uri" | "url" | "canonical" => !s.is_empty() && !s.chars().any(char::is_whitespace),
        "oid" => p.oid.is_match(s),
        "uuid" => p.uuid.is_match(s),
        "date" => date_time(s.as_bytes(), Shape::Date),
        "dateTime" => date_time(s.as_bytes(), Shape::DateTime),
        "instant" => date_time(s.as_bytes(), Shape::Instant),
        "time" => time(s.as_bytes()) == Some(s.len()),
        "base64Binary" => base64(s.as_bytes()),
        "xhtml" => s.trim_start().starts_with("<div"),
        _ => true,
    };
    if ok {
        return None;
    }
    let expected = match ty {
        "string" | "markdown" => "a non-empty string",
        "id" => "1 to 64 of A-Z a-z 0-9 - .",
        "code" => "no leading, trailing or double whitespace",
        "uri" | "url" | "canonical" => "a non-empty URI without whitespace",
        "oid" => "urn:oid:<dotted digits>",
        "uuid" => "urn:uuid:<lower-case UUID>",
        "date" => "YYYY, YYYY-MM or YYYY-MM-DD",
        "dateTime" => {
            "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss(.sss)+zz:zz with a time zone"
        }
        "instant" => "YYYY-MM-DDThh:mm:ss(.sss)+zz:zz, with seconds and a time zone",
        "time" => "hh:mm:ss(.sss)",
        "base64Binary" => {
            "base64 (RFC 4648): groups of 4 of A-Z a-z 0-9 + /, `=` only as final padding"
        }
        "xhtml" => "an XHTML <div> element",
        _ => "a valid value",
    };
    Some(format!("`{s}` is not a valid {ty}: expected {expected}"))
}

/// R4's base64Binary: its regex `(\s*([0-9a-zA-Z\+/=]){4}\s*)+` (whole groups of four,
/// whitespace only between groups) and RFC 4648, which the datatype names, for the padding:
/// `=` only as the last one or two characters, or the value cannot be decoded.
fn base64(s: &[u8]) -> bool {
    // The common case, no whitespace (attachments can be megabytes): branch-free passes over
    // chunks, which the compiler vectorises, then the padding.
    let chunks_all = |pred: fn(u8) -> bool| {
        s.chunks(64)
            .all(|c| c.iter().fold(true, |ok, &b| ok & pred(b)))
    };
    if chunks_all(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')) {
        let pad = s.iter().rev().take_while(|b| **b == b'=').count();
        let body = &s[..s.len() - pad];
        return !s.is_empty()
            && s.len().is_multiple_of(4)
            && pad <= 2
            && body.chunks(64).all(|c| {
                c.iter().fold(true, |ok, &b| {
                    ok & (b.is_ascii_alphanumeric() | (b == b'+') | (b == b'/'))
                })
            });
    }
    let mut in_group = 0;
    let mut groups = 0;
    let mut padded = false;
    for (i, &b) in s.iter().enumerate() {
        if b.is_ascii_whitespace() {
            if in_group != 0 {
                return false;
            }
            continue;
        }
        if !BASE64[b as usize] || padded && b != b'=' {
            return false;
        }
        if b == b'=' {
            // Padding: in the third or fourth place of the last group, nothing after it.
            if in_group < 2
                || s[i + 1..]
                    .iter()
                    .any(|c| !c.is_ascii_whitespace() && *c != b'=')
            {
                return false;
            }
            padded = true;
        }
        in_group = (in_group + 1) % 4;
        if in_group == 0 {
            groups += 1;
        }
    }
    groups > 0 && in_group == 0
}

/// The bytes base64Binary allows: A-Z a-z 0-9 + / = and whitespace.
static BASE64: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || b == b'+'
            || b == b'/'
            || b == b'='
            || b.is_ascii_whitespace();
        i += 1;
    }
    t
};

/// `code`: no leading, trailing or repeated whitespace; only single spaces inside.
fn valid_code(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && !b[0].is_ascii_whitespace()
        && !b[b.len() - 1].is_ascii_whitespace()
        && !s.contains("  ")
        && !b.iter().any(|&c| matches!(c, b'\t' | b'\n' | b'\r'))
}

/// Which date/time shape a value must have.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Date,
    DateTime,
    Instant,
}

fn two(b: &[u8], at: usize, lo: u8, hi: u8) -> bool {
    b.len() >= at + 2
        && b[at].is_ascii_digit()
        && b[at + 1].is_ascii_digit()
        && (lo..=hi).contains(&((b[at] - b'0') * 10 + (b[at + 1] - b'0')))
}

/// `hh:mm:ss(.f+)?` at the start of `b`: its length, if valid.
fn time(b: &[u8]) -> Option<usize> {
    if !(two(b, 0, 0, 23) && b.get(2) == Some(&b':') && two(b, 3, 0, 59)) {
        return None;
    }
    if !(b.get(5) == Some(&b':') && two(b, 6, 0, 60)) {
        return None;
    }
    let mut i = 8;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    Some(i)
}

/// The R4 regexes for date, dateTime and instant, as a parser (faster than the regexes).
fn date_time(b: &[u8], shape: Shape) -> bool {
    if b.len() < 4 || !b[..4].iter().all(u8::is_ascii_digit) || &b[..4] == b"0000" {
        return false;
    }
    let mut i = 4;
    let mut parts = 1;
    while parts < 3 && b.get(i) == Some(&b'-') {
        let ok = if parts == 1 {
            two(b, i + 1, 1, 12)
        } else {
            two(b, i + 1, 1, 31)
        };
        if !ok {
            return false;
        }
        i += 3;
        parts += 1;
    }
    if i == b.len() {
        return shape != Shape::Instant;
    }
    if shape == Shape::Date || parts < 3 || b[i] != b'T' {
        return false;
    }
    let Some(n) = time(&b[i + 1..]) else {
        return false;
    };
    i += 1 + n;
    match b.get(i) {
        Some(b'Z') => i + 1 == b.len(),
        Some(b'+') | Some(b'-') => {
            i + 6 == b.len()
                && b[i + 3] == b':'
                && ((two(b, i + 1, 0, 13) && two(b, i + 4, 0, 59)) || &b[i + 1..] == b"14:00")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // The R4 specification's regexes, to check the parser against.
    const YEAR: &str = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)";
    const TIME: &str = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?";
    const ZONE: &str = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))";
    const MONTH: &str = r"(0[1-9]|1[0-2])";
    const DAY: &str = r"(0[1-9]|[1-2][0-9]|3[0-1])";

    struct Spec {
        date: Regex,
        date_time: Regex,
        instant: Regex,
    }

    fn spec() -> Spec {
        let re = |s: String| Regex::new(&format!("^(?:{s})$")).unwrap();
        Spec {
            date: re(format!("{YEAR}(-{MONTH}(-{DAY})?)?")),
            date_time: re(format!("{YEAR}(-{MONTH}(-{DAY}(T{TIME}{ZONE})?)?)?")),
            instant: re(format!("{YEAR}-{MONTH}-{DAY}T{TIME}{ZONE}")),
        }
    }

    #[test]
    fn formats() {
        assert!(check("dateTime", &json!("2020-10-12T10:00:00-04:00")).is_none());
        assert!(check("dateTime", &json!("2020-10")).is_none());
        assert!(check("dateTime", &json!("2020-10-12T10:00")).is_some());
        assert!(check("dateTime", &json!("2020-13-01")).is_some());
        assert!(check("instant", &json!("2020-10-12")).is_some());
        assert!(check("instant", &json!("2020-10-12T10:00:00.123Z")).is_none());
        assert!(check("date", &json!("2020-02-30")).is_none());
        assert!(check("id", &json!("a b")).is_some());
        assert!(check("code", &json!("in-progress")).is_none());
        assert!(check("code", &json!(" x")).is_some());
        assert!(check("boolean", &json!("true")).is_some());
        assert!(check("positiveInt", &json!(0)).is_some());
        assert!(check("integer", &json!(1.5)).is_some());
        assert!(check("decimal", &json!(1.5)).is_none());
        assert!(check("uri", &json!("urn:uuid:1")).is_none());
        assert!(check("uri", &json!("a b")).is_some());
        assert!(check("string", &json!("")).is_some());
        assert!(check("dateTime", &json!("2020")).is_none());
        assert!(check("dateTime", &json!("0000")).is_some());
        assert!(check("dateTime", &json!("2020-10-12T10:00:00")).is_some());
        assert!(check("dateTime", &json!("2020-10-12T24:00:00Z")).is_some());
        assert!(check("dateTime", &json!("2020-10-12T10:00:00+14:00")).is_none());
        assert!(check("dateTime", &json!("2020-10-12T10:00:00+14:30")).is_some());
        assert!(check("dateTime", &json!("2020-10-12T10:00:00.Z")).is_some());
        assert!(check("date", &json!("2020-10-12T10:00:00Z")).is_some());
        assert!(check("time", &json!("10:00:00.5")).is_none());
        assert!(check("code", &json!("a  b")).is_some());
        for ok in ["aGk=", "aGVsbG8h", "aGVs bG8h", " aGVsbG8h\n", "aA=="] {
            assert!(check("base64Binary", &json!(ok)).is_none(), "{ok}");
        }
        for bad in [
            "abc", "aGVsbG8", "aG Vs", "a===", "aG=k", "aA==aGk=", "aGk*", "", "  ",
        ] {
            assert!(check("base64Binary", &json!(bad)).is_some(), "{bad}");
        }
        // The parser agrees with the R4 regexes.
        let p = spec();
        for s in [
            "2020",
            "2020-1",
            "2020-01",
            "2020-01-1",
            "2020-01-01",
            "2020-01-01T",
            "2020-02-31",
            "2020-01-01T10:00:00Z",
            "2020-01-01T10:00:00.123-05:00",
            "2020-01-01T10:00Z",
            "2020-01-01T10:00:00+1:00",
            "1999-12-31T23:59:60+13:59",
            "abcd",
            "2020-00",
        ] {
            assert_eq!(
                date_time(s.as_bytes(), Shape::Date),
                p.date.is_match(s),
                "date {s}"
            );
            assert_eq!(
                date_time(s.as_bytes(), Shape::DateTime),
                p.date_time.is_match(s),
                "dateTime {s}"
            );
            assert_eq!(
                date_time(s.as_bytes(), Shape::Instant),
                p.instant.is_match(s),
                "instant {s}"
            );
        }
    }
}
