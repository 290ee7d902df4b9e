//! `cdex-harness act`: perform one `CDEX_ACTION` as the reference Information Client, reading
//! the trigger environment. It is a working example of the trigger protocol: pass it as
//! `--trigger "cdex-harness act"` to see a client-role run end to end.

use super::{EXIT_FAIL, EXIT_PASS, EXIT_USAGE};
use crate::actors::{self, ActionRequest, Faults};
use clap::Args;
use std::collections::BTreeMap;

#[derive(Args, Debug)]
pub struct ActArgs {
    /// The reference actor that acts
    #[arg(long, default_value = "information-client")]
    pub actor: String,
    /// Switch on a fault of that actor (repeatable; see `list faults`)
    #[arg(long = "fault", value_name = "FAULT")]
    pub faults: Vec<String>,
}

use crate::runner::trigger::PROTOCOL_VARS as PROTOCOL;

pub async fn act(args: ActArgs) -> i32 {
    let env: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("CDEX_"))
        .collect();
    let get = |k: &str| env.get(&format!("CDEX_{k}")).cloned();
    let (Some(action), Some(base_url)) = (get("ACTION"), get("HARNESS_URL")) else {
        eprintln!(
            "error: CDEX_ACTION and CDEX_HARNESS_URL must be set (this command is meant to be run as a --trigger)"
        );
        return EXIT_USAGE;
    };
    let Some(spec) = actors::find(&args.actor) else {
        eprintln!("error: no reference actor `{}`", args.actor);
        return EXIT_USAGE;
    };
    let Some(build) = spec.client else {
        eprintln!(
            "error: the reference {} does not initiate exchanges",
            spec.name
        );
        return EXIT_USAGE;
    };
    let faults: Vec<String> = args
        .faults
        .iter()
        .map(|f| format!("{}:{f}", spec.name))
        .collect();
    let faults = match Faults::parse(&faults) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let mut vars = BTreeMap::new();
    let mut with = BTreeMap::new();
    for (k, v) in &env {
        let name = &k["CDEX_".len()..];
        if let Some(var) = name.strip_prefix("VAR_") {
            vars.insert(var.to_ascii_lowercase(), v.clone());
        } else if !PROTOCOL.contains(&name) {
            with.insert(name.to_ascii_lowercase(), v.clone());
        }
    }
    let payload = match get("PAYLOAD_FILE") {
        Some(path) => match std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        {
            Ok(v) => Some(v),
            Err(e) => {
                eprintln!("error: CDEX_PAYLOAD_FILE {path}: {e}");
                return EXIT_FAIL;
            }
        },
        None => None,
    };
    let client = match build(&serde_json::Value::Null, faults.for_actor(spec.name)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAIL;
        }
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
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_FAIL
        }
    }
}
