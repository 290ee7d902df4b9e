//! Before the first scenario: does the server under test answer, and what does its
//! CapabilityStatement say? One clear message instead of every step erroring when it is
//! down; hints about the options it seems to support; variables chosen from what it lists.

use super::{Options, RunConfig, Sut};
use crate::catalog::Catalog;
use crate::http::client::{HttpClient, OutgoingRequest};
use crate::scenario::Pack;
use serde_json::Value;
use std::collections::BTreeMap;

/// What the preflight found.
#[derive(Debug, Default)]
pub struct Preflight {
    /// The server did not answer at all: why (every scenario that sends to it errors).
    pub unreachable: Option<String>,
    /// Its CapabilityStatement, when it publishes one.
    pub capability: Option<Value>,
    /// Variables chosen from the CapabilityStatement (the user set none of them).
    pub vars: BTreeMap<String, String>,
    /// What a person should know: option hints, chosen variables.
    pub notes: Vec<String>,
}

/// `GET [target]/metadata` once, when a real server is under test.
pub async fn check(
    cfg: &RunConfig,
    pack: &Pack,
    catalog: &Catalog,
    client: &HttpClient,
    selected: &[&crate::scenario::Scenario],
) -> Preflight {
    let mut out = Preflight::default();
    let Sut::External {
        target: Some(target),
        ..
    } = &cfg.sut
    else {
        return out;
    };
    let base = target.trim_end_matches('/');
    let mut headers = vec![("Accept".to_string(), "application/fhir+json".to_string())];
    headers.extend(cfg.headers.iter().cloned());
    let x = client
        .send(
            OutgoingRequest {
                method: "GET".into(),
                url: format!("{base}/metadata"),
                path: "metadata".into(),
                headers,
                body: None,
            },
            cfg.timeout,
        )
        .await;
    if let Some(e) = x.error {
        out.unreachable = Some(format!(
            "the server under test at {base} did not answer (GET {base}/metadata: {e}); check --target and that the server is running"
        ));
        return out;
    }
    out.capability = x
        .response
        .as_ref()
        .filter(|r| r.status.is_some_and(|s| (200..300).contains(&s)))
        .and_then(|r| serde_json::from_slice::<Value>(&r.body).ok())
        .filter(|v| v.get("resourceType").and_then(Value::as_str) == Some("CapabilityStatement"));
    let Some(cs) = &out.capability else {
        out.notes.push(format!(
            "the server at {base} publishes no CapabilityStatement at /metadata: no option hints, and the variables it could suggest keep their pack defaults"
        ));
        return out;
    };
    let actors: Vec<&str> = selected.iter().map(|s| s.actor.as_str()).collect();
    option_hints(cs, &cfg.options, catalog, &actors, &mut out.notes).await;
    let cs = cs.clone();
    choose_vars(&cs, cfg, pack, &mut out);
    out
}

/// The options whose `capability_hint` (FHIRPath over the CapabilityStatement) holds, said
/// next to what the system claims. A hint, never a verdict.
async fn option_hints(
    cs: &Value,
    claimed: &Options,
    catalog: &Catalog,
    actors: &[&str],
    notes: &mut Vec<String>,
) {
    // Only the options of the actors under test.
    for (name, o) in catalog
        .options
        .iter()
        .filter(|(_, o)| o.actors.iter().any(|a| actors.contains(&a.as_str())))
    {
        let Some(expr) = &o.capability_hint else {
            continue;
        };
        let seems = crate::fhir::fhirpath::evaluate(expr, cs)
            .await
            .is_ok_and(|v| crate::fhir::fhirpath::is_true(&v));
        match (seems, claimed.claims(name)) {
            (true, false) => notes.push(format!(
                "the server's CapabilityStatement suggests the {name} option ({}); claim it with --option {name} to test it",
                o.hint_text.as_deref().unwrap_or("see `list options`")
            )),
            (false, true) => notes.push(format!(
                "the {name} option is claimed, but the server's CapabilityStatement does not show it ({} is missing)",
                o.hint_text.as_deref().unwrap_or("what `list options` names")
            )),
            _ => {}
        }
    }
}

/// The resource types a CapabilityStatement lists for its server; `None` when it lists a
/// wildcard `Resource` or nothing (every type may be accepted).
fn listed_types(cs: &Value) -> Option<Vec<String>> {
    let types: Vec<String> = cs
        .get("rest")?
        .as_array()?
        .iter()
        .filter(|r| r.get("mode").and_then(Value::as_str) != Some("client"))
        .filter_map(|r| r.get("resource").and_then(Value::as_array))
        .flatten()
        .filter_map(|r| r.get("type").and_then(Value::as_str).map(str::to_string))
        .collect();
    if types.is_empty() || types.iter().any(|t| t == "Resource") {
        None
    } else {
        Some(types)
    }
}

fn choose_vars(cs: &Value, cfg: &RunConfig, pack: &Pack, out: &mut Preflight) {
    let Some(types) = listed_types(cs) else {
        return;
    };
    for (var, rule) in &pack.capability_vars {
        if cfg.vars.contains_key(var) {
            continue;
        }
        let value = rule
            .first_type_not_listed
            .iter()
            .find(|t| !types.contains(t))
            .cloned()
            .unwrap_or_else(|| rule.otherwise.clone());
        let why = if rule.first_type_not_listed.contains(&value) {
            format!(
                "the first of {} the server's CapabilityStatement does not list",
                rule.first_type_not_listed.join(", ")
            )
        } else {
            format!(
                "the server's CapabilityStatement lists every one of {}; set --var {var}=TYPE to name one it refuses",
                rule.first_type_not_listed.join(", ")
            )
        };
        out.notes.push(format!("{var} = {value}: {why}"));
        out.vars.insert(var.clone(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::CapabilityVarDef;
    use serde_json::json;

    fn pack() -> Pack {
        Pack {
            root: ".".into(),
            capability_vars: [(
                "rejected_type".to_string(),
                CapabilityVarDef {
                    first_type_not_listed: vec!["Basic".into(), "Linkage".into()],
                    otherwise: "none".into(),
                },
            )]
            .into(),
            ..Default::default()
        }
    }

    fn cs(types: &[&str]) -> Value {
        json!({"resourceType": "CapabilityStatement", "rest": [{"mode": "server",
            "resource": types.iter().map(|t| json!({"type": t})).collect::<Vec<_>>()}]})
    }

    fn chosen(cs: &Value, cfg: &RunConfig) -> Option<String> {
        let mut out = Preflight::default();
        choose_vars(cs, cfg, &pack(), &mut out);
        out.vars.get("rejected_type").cloned()
    }

    #[test]
    fn a_type_the_server_does_not_list_is_chosen() {
        let cfg = RunConfig::new(Sut::External {
            target: None,
            trigger: None,
        });
        assert_eq!(
            chosen(&cs(&["Basic", "Task"]), &cfg).as_deref(),
            Some("Linkage")
        );
        assert_eq!(chosen(&cs(&["Task"]), &cfg).as_deref(), Some("Basic"));
        // Every candidate listed: no type to refuse.
        assert_eq!(
            chosen(&cs(&["Basic", "Linkage"]), &cfg).as_deref(),
            Some("none")
        );
        // A wildcard or no list says nothing: the pack default stays.
        assert_eq!(chosen(&cs(&["Resource"]), &cfg), None);
        assert_eq!(
            chosen(&json!({"resourceType": "CapabilityStatement"}), &cfg),
            None
        );
        // What the user set wins.
        let mut given = cfg.clone();
        given.vars.insert("rejected_type".into(), "Basic".into());
        assert_eq!(chosen(&cs(&["Basic"]), &given), None);
    }
}
