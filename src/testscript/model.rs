//! The FHIR R4 TestScript resource, as far as the harness reads it (R5's `stopTestOnFail`
//! is read too). Every element the harness does not know lands in `other`, so
//! `testscript check` can name it instead of ignoring it silently.

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::collections::BTreeMap;

/// A JSON value that may be one item or an array of them (an XML script converted without
/// a schema says `<fixture>` once where JSON says `[{...}]`).
fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let v = Value::deserialize(d)?;
    let items = match v {
        Value::Null => Vec::new(),
        Value::Array(a) => a,
        other => vec![other],
    };
    items
        .into_iter()
        .map(|i| serde_json::from_value(i).map_err(serde::de::Error::custom))
        .collect()
}

/// `true`, or `"true"` (XML).
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => Some(b),
        Value::String(s) => Some(s == "true"),
        _ => None,
    })
}

/// `1`, or `"1"` (XML).
fn lenient_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    })
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestScript {
    #[serde(default)]
    pub resource_type: String,
    pub id: Option<String>,
    pub url: Option<String>,
    pub name: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub contained: Vec<Value>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub origin: Vec<Value>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub destination: Vec<Value>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub fixture: Vec<Fixture>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub profile: Vec<Reference>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub variable: Vec<Variable>,
    pub setup: Option<Section>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub test: Vec<Test>,
    pub teardown: Option<Section>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    pub id: Option<String>,
    pub reference: Option<String>,
    pub display: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fixture {
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub autocreate: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub autodelete: Option<bool>,
    pub resource: Option<Reference>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Variable {
    #[serde(default)]
    pub name: String,
    pub default_value: Option<String>,
    pub description: Option<String>,
    pub expression: Option<String>,
    pub header_field: Option<String>,
    pub hint: Option<String>,
    pub path: Option<String>,
    pub source_id: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Section {
    #[serde(default, deserialize_with = "one_or_many")]
    pub action: Vec<Action>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Test {
    pub id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub action: Vec<Action>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    pub operation: Option<Operation>,
    pub assert: Option<Assert>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Coding {
    pub system: Option<String>,
    pub code: Option<String>,
    pub display: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestHeader {
    #[serde(default)]
    pub field: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    #[serde(rename = "type")]
    pub type_: Option<Coding>,
    pub resource: Option<String>,
    pub label: Option<String>,
    pub description: Option<String>,
    pub accept: Option<String>,
    pub content_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_int")]
    pub destination: Option<i64>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub encode_request_url: Option<bool>,
    pub method: Option<String>,
    #[serde(default, deserialize_with = "lenient_int")]
    pub origin: Option<i64>,
    pub params: Option<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub request_header: Vec<RequestHeader>,
    pub request_id: Option<String>,
    pub response_id: Option<String>,
    pub source_id: Option<String>,
    pub target_id: Option<String>,
    pub url: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assert {
    pub label: Option<String>,
    pub description: Option<String>,
    pub direction: Option<String>,
    pub compare_to_source_id: Option<String>,
    pub compare_to_source_expression: Option<String>,
    pub compare_to_source_path: Option<String>,
    pub content_type: Option<String>,
    pub expression: Option<String>,
    pub header_field: Option<String>,
    pub minimum_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub navigation_links: Option<bool>,
    pub operator: Option<String>,
    pub path: Option<String>,
    pub request_method: Option<String>,
    #[serde(rename = "requestURL")]
    pub request_url: Option<String>,
    pub resource: Option<String>,
    pub response: Option<String>,
    pub response_code: Option<String>,
    pub source_id: Option<String>,
    pub validate_profile_id: Option<String>,
    pub value: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub warning_only: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub stop_test_on_fail: Option<bool>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

impl Assert {
    pub fn warning_only(&self) -> bool {
        self.warning_only.unwrap_or(false)
    }
    pub fn stop_test_on_fail(&self) -> bool {
        self.stop_test_on_fail.unwrap_or(false)
    }
    /// `response` unless it says `request`.
    pub fn on_request(&self) -> bool {
        self.direction.as_deref() == Some("request")
    }
}

impl TestScript {
    /// How reports name the script: its id, else its name, else the file stem.
    pub fn display_id(&self, file_stem: &str) -> String {
        self.id
            .clone()
            .or_else(|| self.name.clone())
            .unwrap_or_else(|| file_stem.to_string())
    }

    /// The sections in order, with their element paths: `setup`, `test[i]`, `teardown`.
    pub fn sections(&self) -> Vec<(String, &[Action])> {
        let mut out: Vec<(String, &[Action])> = Vec::new();
        if let Some(s) = &self.setup {
            out.push(("setup".into(), &s.action));
        }
        for (i, t) in self.test.iter().enumerate() {
            out.push((format!("test[{i}]"), &t.action));
        }
        if let Some(s) = &self.teardown {
            out.push(("teardown".into(), &s.action));
        }
        out
    }
}
