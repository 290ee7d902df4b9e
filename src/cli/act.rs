//! `cdex-harness act`: perform one `CDEX_ACTION` as a reference actor, reading the trigger
//! environment. It is a working example of the trigger protocol: pass it as
//! `--trigger "cdex-harness act"` to see a client-role run end to end.

use super::{EXIT_FAIL, EXIT_PASS, EXIT_USAGE};
use crate::actors::{self, ActionRequest, Faults};
use crate::runner::trigger::PROTOCOL_VARS;
use clap::Args;
use std::collections::BTreeMap;

#[derive(Args, Debug)]
pub struct ActArgs {
    /// The reference actor that acts [default: the first one that performs CDEX_ACTION]
    #[arg(long)]
    pub actor: Option<String>,
    /// Switch on a fault of that actor (repeatable; see `list faults`)
    #[arg(long = "fault", value_name = "FAULT")]
    pub faults: Vec<String>,
}

fn fail(code: i32, msg: impl std::fmt::Display) -> i32 {
    eprintln!("error: {msg}");
    code
}

pub async fn act(args: ActArgs) -> i32 {
    let env: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("CDEX_"))
        .collect();
    let get = |k: &str| env.get(&format!("CDEX_{k}")).cloned();
    let (Some(action), Some(base_url)) = (get("ACTION"), get("HARNESS_URL")) else {
        return fail(
            EXIT_USAGE,
            "CDEX_ACTION and CDEX_HARNESS_URL must be set (this command is meant to be run as a --trigger)",
        );
    };
    let spec = match &args.actor {
        Some(name) => actors::find(name),
        None => actors::registry()
            .iter()
            .find(|a| a.actions.contains(&action.as_str())),
    };
    let Some(spec) = spec else {
        return fail(
            EXIT_USAGE,
            format!("no reference actor performs `{action}` (see `cdex-harness list actions`)"),
        );
    };
    if !spec.actions.contains(&action.as_str()) {
        return fail(
            EXIT_USAGE,
            format!("the reference {} does not perform `{action}`", spec.name),
        );
    }
    let faults: Vec<String> = args
        .faults
        .iter()
        .map(|f| format!("{}:{f}", spec.name))
        .collect();
    let faults = match Faults::parse(&faults) {
        Ok(f) => f,
        Err(e) => return fail(EXIT_USAGE, e),
    };
    if let Some(ca) = get("HARNESS_CA") {
        let trusted = std::fs::read(&ca)
            .map_err(|e| e.to_string())
            .and_then(|pem| crate::http::client::HttpClient::trust_in_shared(&pem));
        if let Err(e) = trusted {
            return fail(EXIT_USAGE, format!("CDEX_HARNESS_CA {ca}: {e}"));
        }
    }
    let mut vars = BTreeMap::new();
    let mut with = BTreeMap::new();
    for (k, v) in &env {
        let name = &k["CDEX_".len()..];
        if let Some(var) = name.strip_prefix("VAR_") {
            vars.insert(var.to_ascii_lowercase(), v.clone());
        } else if !PROTOCOL_VARS.contains(&name) {
            with.insert(name.to_ascii_lowercase(), v.clone());
        }
    }
    let payload = match get("PAYLOAD_FILE") {
        Some(path) => match std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        {
            Ok(v) => Some(v),
            Err(e) => return fail(EXIT_FAIL, format!("CDEX_PAYLOAD_FILE {path}: {e}")),
        },
        None => None,
    };
    let client = match (spec.build)(&serde_json::Value::Null, faults.for_actor(spec.name))
        .map(|a| a.client)
    {
        Ok(Some(c)) => c,
        Ok(None) => {
            return fail(
                EXIT_FAIL,
                format!("the reference {} built no client side", spec.name),
            );
        }
        Err(e) => return fail(EXIT_FAIL, e),
    };
    let req = ActionRequest {
        action,
        scenario: get("SCENARIO").unwrap_or_default(),
        base_url,
        with,
        payload,
        vars,
    };
    match client.perform(req).await {
        Ok(()) => EXIT_PASS,
        Err(e) => fail(EXIT_FAIL, e),
    }
}
