//! A Task-based data request followed by polling: POST the Task, read it on the CONF-062
//! schedule until it is completed, failed or rejected (then stop), and GET the outputs a
//! completed Task references outside itself (a contained `#...` output needs nothing more).
//!
//! [`Flows`] tells `follow-task` how far the request being followed has got, so a scenario's
//! later steps can wait for it.

use super::schedule::{Schedule, scaled};
use super::task::DataRequest;
use super::{Consumer, opt};
use crate::actors::ActionRequest;
use crate::http::Message;
use serde_json::Value;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How far a followed request has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Requested,
    /// The Task was seen completed, failed or rejected.
    Terminal,
    /// The outputs it references were fetched (or there were none to fetch).
    Fetched,
    /// Nothing more will be sent for it.
    Done,
}

/// The request being followed (the latest one).
#[derive(Default)]
pub struct Flows {
    current: Mutex<Option<watch::Receiver<Stage>>>,
}

/// Held by a running request; says `Done` when dropped, however the request ends.
pub struct Tracker(watch::Sender<Stage>);

impl Tracker {
    pub fn reached(&self, stage: Stage) {
        self.0.send_replace(stage);
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.0.send_replace(Stage::Done);
    }
}

impl Flows {
    pub fn start(&self) -> Tracker {
        let (tx, rx) = watch::channel(Stage::Requested);
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(rx);
        Tracker(tx)
    }

    /// `follow-task`: wait until the request being followed reached `until` (`terminal`,
    /// `fetched`, or `done`, the default). With none being followed there is nothing to wait
    /// for.
    pub async fn wait(&self, req: &ActionRequest) -> Result<(), String> {
        let want = match opt(req, "until") {
            None | Some("done") => Stage::Done,
            Some("terminal") => Stage::Terminal,
            Some("fetched") => Stage::Fetched,
            Some(other) => {
                return Err(format!(
                    "follow-task: `until` is `terminal`, `fetched` or `done`, not `{other}`"
                ));
            }
        };
        let rx = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(mut rx) = rx {
            // The sender says Done before it goes, so an error here means Done.
            let _ = rx.wait_for(|s| *s >= want).await;
        }
        Ok(())
    }
}

/// The statuses after which a Task changes no more (HRex Task state machine).
pub fn is_terminal(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "rejected")
}

/// `request-data-*`: POST the Task, then poll it and fetch its outputs.
pub async fn request_and_poll(me: &Consumer, req: &ActionRequest) -> Result<(), String> {
    let request = DataRequest::from_action(req)?;
    let tracker = me.flows.start();
    let task_ref = post_task(me, req, &request).await?;
    let created = Instant::now();
    if me.fault("never-polls") {
        return Ok(());
    }
    let mut poller = Poller::new(me, req, created);
    let task = poll_until_terminal(me, req, &task_ref, &mut poller, &tracker).await?;
    fetch_outputs(me, req, &task).await?;
    tracker.reached(Stage::Fetched);
    if me.fault("keeps-polling-after-completed") {
        for _ in 0..2 {
            poller.poll(me, req, &task_ref).await;
        }
    }
    Ok(())
}

/// POST the Task; its `Task/id` on the Data Source.
pub async fn post_task(
    me: &Consumer,
    req: &ActionRequest,
    request: &DataRequest,
) -> Result<String, String> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let task = request.task(&me.faults, &now);
    let resp = me.conn.post(req, "Task", &task).await?;
    let status = resp.status.unwrap_or(0);
    if !(200..300).contains(&status) {
        return Err(format!(
            "the Data Source answered {status} to POST Task: {}",
            String::from_utf8_lossy(&resp.body)
                .chars()
                .take(300)
                .collect::<String>()
        ));
    }
    created_task(&resp).ok_or_else(|| {
        "the Data Source's answer to POST Task names no Task (no Location header, no id)".into()
    })
}

/// `Task/id` from a create's Location header (`[base]/Task/id/_history/1`), else its body.
pub fn created_task(resp: &Message) -> Option<String> {
    let from_location = resp.header("Location").and_then(|loc| {
        let segs: Vec<&str> = loc.split(['/', '?']).collect();
        segs.iter()
            .rposition(|s| *s == "Task")
            .and_then(|i| segs.get(i + 1))
            .filter(|id| !id.is_empty())
            .map(|id| format!("Task/{id}"))
    });
    from_location.or_else(|| {
        resp.json().ok().and_then(|b| {
            b.get("id")
                .and_then(Value::as_str)
                .map(|id| format!("Task/{id}"))
        })
    })
}

/// Polls the Task on the schedule (CONF-062, from its creation).
pub struct Poller {
    schedule: Schedule,
    scale: f64,
    created: Instant,
    last: Option<Duration>,
}

impl Poller {
    pub fn new(me: &Consumer, req: &ActionRequest, created: Instant) -> Poller {
        Poller {
            schedule: Schedule::with_faults(&me.faults),
            scale: super::time_scale(req),
            created,
            last: None,
        }
    }

    /// Wait for the next poll's time, then read the Task; its JSON when readable.
    async fn poll(&mut self, me: &Consumer, req: &ActionRequest, task_ref: &str) -> Option<Value> {
        let at = self.schedule.next(self.last);
        self.last = Some(at);
        tokio::time::sleep_until(self.created + scaled(at, self.scale)).await;
        me.conn.get(req, task_ref).await.ok()?.json().ok()
    }
}

/// Read the Task on the schedule until it is terminal; the terminal version. A poll that
/// fails or answers an error is just one poll: the next one follows on schedule.
async fn poll_until_terminal(
    me: &Consumer,
    req: &ActionRequest,
    task_ref: &str,
    poller: &mut Poller,
    tracker: &Tracker,
) -> Result<Value, String> {
    loop {
        if let Some(task) = poller.poll(me, req, task_ref).await {
            check_processable(me, &task)?;
            if is_terminal(task.get("status").and_then(Value::as_str).unwrap_or("")) {
                tracker.reached(Stage::Terminal);
                return Ok(task);
            }
        }
    }
}

/// `chokes-on-business-status`: a Task version with `businessStatus` or an extension it does
/// not know makes it give up (CONF-095/097 say it must carry on).
pub fn check_processable(me: &Consumer, task: &Value) -> Result<(), String> {
    if me.fault("chokes-on-business-status")
        && (task.get("businessStatus").is_some() || task.get("extension").is_some())
    {
        return Err("the Task has elements this client does not understand; it gives up".into());
    }
    Ok(())
}

/// GET each output a completed Task references outside itself.
pub async fn fetch_outputs(me: &Consumer, req: &ActionRequest, task: &Value) -> Result<(), String> {
    if task.get("status").and_then(Value::as_str) != Some("completed")
        || me.fault("never-fetches-output")
    {
        return Ok(());
    }
    let signed = super::flag(req, "signatures");
    for reference in external_outputs(task) {
        me.conn.fetch(req, &reference, signed).await?;
    }
    Ok(())
}

/// The `valueReference`s of `Task.output` that are not contained (`#...`).
pub fn external_outputs(task: &Value) -> Vec<String> {
    task.get("output")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| {
            o.pointer("/valueReference/reference")
                .and_then(Value::as_str)
        })
        .filter(|r| !r.starts_with('#') && !r.is_empty())
        .map(str::to_string)
        .collect()
}

/// How long to wait for something at most, in pack time, scaled (at least `floor`).
pub fn scaled_wait(req: &ActionRequest, pack: Duration, floor: Duration) -> Duration {
    scaled(pack, super::time_scale(req)).max(floor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_created_task_comes_from_location_or_body() {
        let m = |loc: Option<&str>, body: &str| Message {
            status: Some(201),
            headers: loc
                .map(|l| vec![("Location".to_string(), l.to_string())])
                .unwrap_or_default(),
            body: body.as_bytes().to_vec(),
            ..Message::default()
        };
        assert_eq!(
            created_task(&m(Some("http://h/fhir/Task/t1/_history/1"), "")).as_deref(),
            Some("Task/t1")
        );
        assert_eq!(
            created_task(&m(None, r#"{"resourceType":"Task","id":"t2"}"#)).as_deref(),
            Some("Task/t2")
        );
        assert_eq!(created_task(&m(None, "")), None);
    }

    #[test]
    fn only_external_outputs_are_fetched() {
        let task = json!({"output": [
            {"valueReference": {"reference": "#results"}},
            {"valueReference": {"reference": "Bundle/b1"}},
            {"valueString": "x"},
            {"valueReference": {"reference": "http://h/fhir/Condition/c"}}
        ]});
        assert_eq!(
            external_outputs(&task),
            vec!["Bundle/b1", "http://h/fhir/Condition/c"]
        );
        assert!(is_terminal("rejected") && !is_terminal("on-hold"));
    }

    #[tokio::test]
    async fn follow_task_waits_for_the_stage_asked() {
        let flows = Flows::default();
        let req = |until: &str| ActionRequest {
            action: "follow-task".into(),
            scenario: "s".into(),
            base_url: "http://h".into(),
            with: [("until".to_string(), until.to_string())].into(),
            payload: None,
            vars: Default::default(),
        };
        // Nothing followed: nothing to wait for.
        flows.wait(&req("done")).await.unwrap();
        let tracker = flows.start();
        tracker.reached(Stage::Terminal);
        flows.wait(&req("terminal")).await.unwrap();
        drop(tracker);
        flows.wait(&req("done")).await.unwrap();
        assert!(flows.wait(&req("later")).await.is_err());
    }
}
