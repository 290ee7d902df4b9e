//! Pretty-printing of JSON message bodies for display.
//!
//! The body is validated with `serde_json`, then re-indented token by token rather than
//! round-tripped through `serde_json::Value`: a report must show what was on the wire, and a
//! `Value` round trip would silently drop duplicate keys and rewrite numbers that do not fit
//! an `f64` (`12345678901234567890123` would become `1.2345678901234568e22`). The layout
//! matches `serde_json::to_string_pretty` (two-space indent, `"key": value`).

/// The body re-indented when it is a complete, valid JSON object or array; `None` otherwise
/// (not JSON, a bare scalar, or cut short by truncation).
pub fn pretty_json(body: &str) -> Option<String> {
    let trimmed = body.trim();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return None;
    }
    serde_json::from_str::<serde::de::IgnoredAny>(trimmed).ok()?;
    Some(reindent(trimmed))
}

/// Re-indent valid JSON text without changing any token.
fn reindent(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + json.len() / 4);
    let mut depth = 0usize;
    let mut chars = json.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push('"');
                let mut escaped = false;
                for s in chars.by_ref() {
                    out.push(s);
                    if escaped {
                        escaped = false;
                    } else if s == '\\' {
                        escaped = true;
                    } else if s == '"' {
                        break;
                    }
                }
            }
            '{' | '[' => {
                while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
                    chars.next();
                }
                out.push(c);
                if matches!(chars.peek(), Some('}' | ']')) {
                    out.extend(chars.next());
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::pretty_json;

    #[test]
    fn matches_serde_json_layout() {
        let body = r#" {"a":1,"b":[true, null,{}],"c":{"d":"x, y: {z}","e":[]},"f":"q\"}"} "#;
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            pretty_json(body).unwrap(),
            serde_json::to_string_pretty(&value).unwrap()
        );
    }

    #[test]
    fn keeps_tokens_as_sent() {
        let pretty = pretty_json(r#"{"n":12345678901234567890123,"k":1,"k":2}"#).unwrap();
        assert_eq!(
            pretty,
            "{\n  \"n\": 12345678901234567890123,\n  \"k\": 1,\n  \"k\": 2\n}"
        );
    }

    #[test]
    fn rejects_non_json_and_truncated() {
        assert_eq!(pretty_json("<html/>"), None);
        assert_eq!(pretty_json(r#"{"a": [1, 2"#), None);
        assert_eq!(pretty_json("42"), None);
    }
}
