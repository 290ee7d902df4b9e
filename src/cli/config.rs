//! The config file (`--config FILE`): settings for one system under test, so a vendor's CI
//! keeps patient ids, tokens and addresses out of the command line.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Every key is optional; command-line options win over the file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub actor: Option<String>,
    pub target: Option<String>,
    pub listen: Option<String>,
    pub trigger: Option<String>,
    pub public_url: Option<String>,
    pub timeout: Option<String>,
    pub scenarios: Option<String>,
    /// The scenario pack (`--pack`): `cdex-2019`, `cdex-2.1`.
    pub pack: Option<String>,
    /// The rule set the checks follow (`--rules`), for a pack that has several.
    pub rules: Option<String>,
    /// Run the pack's clocks this many times faster (`--time-scale`).
    pub time_scale: Option<f64>,
    /// How many scenarios run at once (`--jobs`).
    pub jobs: Option<usize>,
    /// The options the system claims (`--option`): `task-based`, `notified-pull`, `all`.
    #[serde(default)]
    pub options: Vec<String>,
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Headers sent with every request (values are treated as secrets).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Names of variables (here or in the pack) whose values are secrets.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Enforce readings as their verb says (`--strict`).
    #[serde(default)]
    pub strict: bool,
    /// CA certificate files (PEM or DER) a signer's x5c chain may end at (`--trust-anchor`),
    /// relative to the config file's folder.
    #[serde(default)]
    pub trust_anchors: Vec<String>,
}

pub fn load(path: &Path) -> Result<Config, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read config file: {e}", path.display()))?;
    serde_saphyr::from_str(&text).map_err(|e| {
        let loc = e
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default();
        let (msg, hint) = crate::scenario::load::yaml_problem(&e);
        let hint = hint.map(|h| format!("\n  hint: {h}")).unwrap_or_default();
        format!("{}{loc}: {msg}{hint}", path.display())
    })
}
