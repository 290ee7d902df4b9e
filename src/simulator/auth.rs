//! How partners authenticate to a simulated actor: the `token` of its settings (the
//! pack's test token), replaced by `--token`, or taken away by `--no-auth`.

use serde_json::Value;

const KEY: &str = "token";

/// The settings with `--token` or `--no-auth` applied. `--token` for an actor whose
/// settings have no token is refused: it would check nothing.
pub fn apply(
    mut settings: Value,
    actor: &str,
    token: Option<&str>,
    no_auth: bool,
) -> Result<Value, String> {
    if let Some(t) = token {
        match settings.as_object_mut() {
            Some(o) if o.contains_key(KEY) => {
                o.insert(KEY.into(), Value::String(t.to_string()));
            }
            _ => {
                return Err(format!(
                    "--token: the reference {actor} checks no bearer token (its settings in \
                     the pack have no `{KEY}`): it accepts every request as it is"
                ));
            }
        }
    }
    if no_auth && let Some(o) = settings.as_object_mut() {
        o.remove(KEY);
    }
    Ok(settings)
}

/// The token partners must send, if any.
pub fn token(settings: &Value) -> Option<&str> {
    settings
        .get(KEY)
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
}

/// The settings to print: the token is told by [`describe`].
pub fn without_token(settings: &Value) -> Value {
    let mut shown = settings.clone();
    if let Some(o) = shown.as_object_mut() {
        o.remove(KEY);
    }
    shown
}

/// One line: what a partner must send, where the value comes from, and how to change it.
pub fn describe(settings: &Value, actor: &str, given: bool, no_auth: bool) -> String {
    match token(settings) {
        Some(t) if given => format!(
            "partners send `Authorization: Bearer {t}` (given with --token; the log \
             below redacts it)"
        ),
        Some(t) => format!(
            "partners send `Authorization: Bearer {t}` (the pack's test token; --token \
             VALUE sets another, --no-auth accepts any request)"
        ),
        None if no_auth => {
            "none (--no-auth): every request is accepted, with or without a token".into()
        }
        None => format!("none: the reference {actor} accepts every request"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn token_and_no_auth_change_the_settings() {
        let pack = json!({"token": "pack-token", "rejected_types": ["Basic"]});
        let s = apply(pack.clone(), "information-server", Some("mine"), false).unwrap();
        assert_eq!(token(&s), Some("mine"));
        let s = apply(pack.clone(), "information-server", None, true).unwrap();
        assert_eq!(token(&s), None);
        assert_eq!(s["rejected_types"], json!(["Basic"]));
        assert_eq!(without_token(&pack), json!({"rejected_types": ["Basic"]}));
        let e = apply(json!({}), "information-recipient", Some("x"), false).unwrap_err();
        assert!(e.contains("checks no bearer token"), "{e}");
        assert!(apply(json!({}), "information-recipient", None, true).is_ok());
    }
}
