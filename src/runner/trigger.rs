//! How a client under test is asked to act: an in-process reference actor, a command the
//! vendor provides (`--trigger CMD`, run through `sh -c` with `CDEX_*` variables), or a
//! person (the instruction is printed and the harness waits).

use crate::actors::{ActionRequest, ClientActor};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use tokio::task::JoinHandle;

#[derive(Clone)]
pub enum Trigger {
    Reference(Arc<dyn ClientActor>),
    Command(String),
    Manual,
}

/// A fired trigger: finishes with `Err(why)` when the client reported a failure.
pub struct Fired {
    pub handle: Option<JoinHandle<Result<(), String>>>,
    /// True when the trigger finishing means the client is done (in-process actors).
    pub done_means_finished: bool,
}

/// `CDEX_*` names the harness itself sets for every trigger (without the prefix).
pub const PROTOCOL_VARS: &[&str] = &[
    "HARNESS_URL",
    "SCENARIO",
    "STEP",
    "ACTION",
    "TIMEOUT_MS",
    "PAYLOAD_FILE",
    "HARNESS_CONFIG",
    "HARNESS_CA",
];

/// The environment a trigger command receives (see `docs/actions.md`).
pub fn environment(
    req: &ActionRequest,
    step: &str,
    payload_file: Option<&PathBuf>,
    timeout_ms: u128,
    ca_file: Option<&std::path::Path>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    if let Some(ca) = ca_file {
        env.insert("CDEX_HARNESS_CA".into(), ca.display().to_string());
    }
    env.insert("CDEX_HARNESS_URL".into(), req.base_url.clone());
    env.insert("CDEX_SCENARIO".into(), req.scenario.clone());
    env.insert("CDEX_STEP".into(), step.to_string());
    env.insert("CDEX_ACTION".into(), req.action.clone());
    env.insert("CDEX_TIMEOUT_MS".into(), timeout_ms.to_string());
    for (k, v) in &req.vars {
        env.insert(format!("CDEX_VAR_{}", env_name(k)), v.clone());
    }
    for (k, v) in &req.with {
        env.insert(format!("CDEX_{}", env_name(k)), v.clone());
    }
    if let Some(p) = payload_file {
        env.insert("CDEX_PAYLOAD_FILE".into(), p.display().to_string());
    }
    env
}

/// `resource_type` -> `RESOURCE_TYPE`; anything not alphanumeric becomes `_`.
pub fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

impl Trigger {
    pub fn fire(&self, req: ActionRequest, env: BTreeMap<String, String>) -> Fired {
        match self {
            Trigger::Reference(actor) => {
                let fut = actor.perform(req);
                Fired {
                    handle: Some(tokio::spawn(fut)),
                    done_means_finished: true,
                }
            }
            Trigger::Command(cmd) => {
                let cmd = cmd.clone();
                let handle = tokio::spawn(async move { run_command(&cmd, env).await });
                Fired {
                    handle: Some(handle),
                    done_means_finished: false,
                }
            }
            // The person was shown what to do by the step (runner::steps::expect).
            Trigger::Manual => Fired {
                handle: None,
                done_means_finished: false,
            },
        }
    }
}

/// Kills the trigger's whole process group when dropped: when the command finishes, when
/// the harness stops waiting for it, or when the run ends. Children the command left behind
/// (a `curl`, a `sleep`) go with it.
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            // SAFETY: kill(2) with a negative pid signals the process group `pid`, which
            // the command leads (it was started with process_group(0)); no memory is touched.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
}

async fn run_command(cmd: &str, env: BTreeMap<String, String>) -> Result<(), String> {
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(cmd)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    let child = command
        .spawn()
        .map_err(|e| format!("could not start the trigger command: {e}"))?;
    let _guard = GroupGuard(child.id());
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| format!("the trigger command failed: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: String = stderr
            .chars()
            .rev()
            .take(2000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Err(format!(
            "the trigger command exited with {}: {}",
            out.status,
            tail.trim()
        ))
    }
}
