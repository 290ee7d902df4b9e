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

/// The reference actors `act` can play, with their actions: those that only initiate.
fn playable() -> String {
    let list: Vec<String> = actors::registry()
        .iter()
        .filter(|a| !a.serves && !a.actions.is_empty())
        .map(|a| format!("{} ({})", a.name, a.actions.join(", ")))
        .collect();
    format!("`act` plays {}", list.join("; "))
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
        // The implementation of that actor that performs the action (an option's), if any.
        Some(name) => match actors::registry()
            .iter()
            .filter(|a| a.name == name && a.actions.contains(&action.as_str()))
            .min_by_key(|a| a.serves)
            .or_else(|| actors::find(name))
        {
            Some(spec) => Some(spec),
            None => {
                let mut names: Vec<&str> = actors::registry().iter().map(|a| a.name).collect();
                names.sort();
                names.dedup();
                return fail(
                    EXIT_USAGE,
                    crate::suggest::unknown("actor", "reference actors", name, names),
                );
            }
        },
        // The one `act` can play first (see below), else the first that performs it.
        None => actors::registry()
            .iter()
            .filter(|a| a.actions.contains(&action.as_str()))
            .min_by_key(|a| a.serves),
    };
    let Some(spec) = spec else {
        let mut msg = format!("no reference actor performs `{action}`");
        let known = actors::action_table();
        if let Some(d) =
            crate::suggest::did_you_mean(&action, known.iter().map(|(_, a)| a.as_str()))
        {
            msg.push_str(&format!("; {d}"));
        }
        msg.push_str(" (see `cdex-harness list actions`)");
        return fail(EXIT_USAGE, msg);
    };
    if !spec.actions.contains(&action.as_str()) {
        let does = if spec.actions.is_empty() {
            "performs no action (it only answers requests)".to_string()
        } else {
            format!("performs {}", spec.actions.join(", "))
        };
        return fail(
            EXIT_USAGE,
            format!(
                "the reference {} does not perform `{action}`: it {does}; {}",
                spec.name,
                playable()
            ),
        );
    }
    // An actor that also serves keeps what it receives and acts on it (ReferenceActor: both
    // sides share state): its actions need its server running, in this process. `act` is a
    // new process for each action, without that server, so it would act on nothing.
    if spec.serves {
        return fail(
            EXIT_USAGE,
            format!(
                "`cdex-harness act` cannot perform `{action}` as the reference {name}: that actor \
                 also serves requests, and its actions work on what its server side holds (what \
                 it received, its subscriptions, its own data), while `act` is a new process for \
                 each action, with no such server. To see the reference {name} at work, run the \
                 scenarios without --trigger (the harness plays it in one process), or serve it \
                 with `cdex-harness simulate {name}{options}`. {}",
                playable(),
                name = spec.name,
                options = spec
                    .options
                    .iter()
                    .map(|o| format!(" --option {o}"))
                    .collect::<String>(),
            ),
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
    // No pack here: the settings a pack without a `reference:` section gives.
    let settings = serde_json::Value::Object(Default::default());
    let client = match (spec.build)(&settings, faults.for_actor(spec.name)).map(|a| a.client) {
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
