//! The config file (`--config FILE`): settings for one system under test, so a vendor's CI
//! keeps patient ids, tokens and addresses out of the command line.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Every key is optional; command-line options win over the file.
/// Serialised back (`serve`'s "save as a config file"), keys left unset are left out.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenarios: Option<String>,
    /// The scenario pack (`--pack`): `cdex-2019`, `cdex-2.1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pack: Option<String>,
    /// The rule set the checks follow (`--rules`), for a pack that has several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<String>,
    /// Run the pack's clocks this many times faster (`--time-scale`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_scale: Option<f64>,
    /// How many scenarios run at once (`--jobs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs: Option<usize>,
    /// The options the system claims (`--option`): `task-based`, `notified-pull`, `all`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,
    /// Headers sent with every request (values are treated as secrets).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Names of variables (here or in the pack) whose values are secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// Enforce readings as their verb says (`--strict`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strict: bool,
    /// CA certificate files (PEM or DER) a signer's x5c chain may end at (`--trust-anchor`),
    /// relative to the config file's folder.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trust_anchors: Vec<String>,
}

pub fn load(path: &Path) -> Result<Config, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read config file: {e}", path.display()))?;
    parse(&text, &path.display().to_string())
}

/// A config file's text; `origin` names it in messages (its path, or where it was pasted).
pub fn parse(text: &str, origin: &str) -> Result<Config, String> {
    serde_saphyr::from_str(text).map_err(|e| {
        let loc = e
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default();
        let (msg, hint) = crate::scenario::load::yaml_problem(&e);
        let hint = hint.map(|h| format!("\n  hint: {h}")).unwrap_or_default();
        format!("{origin}{loc}: {msg}{hint}")
    })
}

/// The config as a file's text (YAML), keys left unset left out.
pub fn to_yaml(c: &Config) -> Result<String, String> {
    serde_saphyr::to_string(c).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_written_out_reads_back_the_same() {
        let mut c = Config {
            actor: Some("information-server".into()),
            target: Some("http://127.0.0.1:9/fhir".into()),
            options: vec!["task-based".into()],
            strict: true,
            ..Config::default()
        };
        c.vars
            .insert("patient_id".into(), "p: 1 # not a comment".into());
        c.headers.insert("Authorization".into(), "Bearer x".into());
        let text = to_yaml(&c).unwrap();
        assert!(!text.contains("listen"), "{text}");
        let back = parse(&text, "saved").unwrap();
        assert_eq!(back.actor, c.actor);
        assert_eq!(back.target, c.target);
        assert_eq!(back.options, c.options);
        assert_eq!(back.vars, c.vars);
        assert_eq!(back.headers, c.headers);
        assert!(back.strict);
        let err = parse("actor: [\n", "pasted").unwrap_err();
        assert!(err.starts_with("pasted:"), "{err}");
    }
}
