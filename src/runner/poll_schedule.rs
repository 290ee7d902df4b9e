//! `poll_schedule`: when the client under test sent matching requests (its polls of a
//! Task), measured from an anchor (the request that created the Task, or a step's request),
//! checked against a schedule: no earlier than `first_after`, no more often than `every`
//! while within `for`, then no more often than `then_every`. The schedule is in the pack's
//! time: the run divides it by its time scale, and allows 10% of each bound plus 20 ms.

use super::assert::failed_status;
use super::observed::Observed;
use crate::http::RawExchange;
use crate::mock::server::{method_matches, request_matches};
use crate::results::{AssertionResult, Status};
use crate::scenario::template::{Vars, render};
use crate::scenario::{Assertion, PollScheduleSpec, Schedule};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;

/// The slack on each bound: a fraction of it, and a fixed amount for scheduling noise.
const SLACK_FRACTION: f64 = 0.10;
const SLACK_FIXED: Duration = Duration::from_millis(20);

/// The least interval a bound allows once the slack is taken off.
fn lenient(bound: Duration) -> Duration {
    bound
        .mul_f64(1.0 - SLACK_FRACTION)
        .saturating_sub(SLACK_FIXED)
}

/// The most a bound extends to once the slack is added.
fn generous(bound: Duration) -> Duration {
    bound.mul_f64(1.0 + SLACK_FRACTION) + SLACK_FIXED
}

/// A created Task: a POST to `Task` (answered 2xx when any such was).
fn creates_task(x: &RawExchange) -> bool {
    x.request.method.as_deref() == Some("POST") && x.request.path_only() == "Task"
}

fn answered_2xx(x: &RawExchange) -> bool {
    x.response
        .as_ref()
        .and_then(|r| r.status)
        .is_some_and(|s| (200..300).contains(&s))
}

/// A duration in the pack's time, shortly (`5m`, `1m 2s`, `150ms`).
fn pack_time(real: Duration, scale: f64) -> String {
    let d = if scale.is_finite() && scale > 0.0 {
        real.mul_f64(scale)
    } else {
        real
    };
    // Millisecond precision only under a minute.
    let d = if d >= Duration::from_secs(60) {
        Duration::from_secs(d.as_secs())
    } else {
        Duration::from_millis(d.as_millis() as u64)
    };
    humantime::format_duration(d).to_string()
}

fn since(t: DateTime<Utc>, anchor: DateTime<Utc>) -> Duration {
    (t - anchor).to_std().unwrap_or_default()
}

/// Check one `poll_schedule` assertion. `step_times`: when each earlier step's exchange
/// happened (its awaited request, for an `expect` step).
pub fn evaluate(
    a: &Assertion,
    spec: &PollScheduleSpec,
    observed: &Observed<'_>,
    step_times: &BTreeMap<String, DateTime<Utc>>,
    time_scale: f64,
    vars: &Vars,
) -> AssertionResult {
    let path = render(&spec.path, vars).unwrap_or_else(|_| spec.path.clone());
    let what = format!("{} {path}", spec.method);
    let description = match &a.title {
        Some(t) => render(t, vars).unwrap_or_else(|_| t.clone()),
        None => format!("when the client sends {what}"),
    };
    let mut result = AssertionResult {
        kind: a.kind.name().to_string(),
        description,
        requirement: a.requirement.clone(),
        severity: a.severity,
        status: Status::Passed,
        expected: Some(describe(&spec.schedule)),
        actual: None,
        message: None,
        hint: a.hint.clone(),
    };
    let fail = |mut r: AssertionResult, why: String| {
        r.status = failed_status(a.severity);
        r.message = Some(why);
        r
    };
    let Some(received) = observed.received else {
        return fail(
            result,
            "the harness ran no endpoint in this scenario, so no request of the client under test was recorded".into(),
        );
    };
    let (anchor, anchor_desc) = match &spec.from {
        Some(step) => match step_times.get(step) {
            Some(t) => (*t, format!("the request of step `{step}`")),
            None => {
                return fail(
                    result,
                    format!("step `{step}` took no request to measure the schedule from"),
                );
            }
        },
        None => {
            let created = received
                .iter()
                .find(|x| creates_task(x) && answered_2xx(x))
                .or_else(|| received.iter().find(|x| creates_task(x)));
            match created {
                Some(x) => (x.at, "the POST that created the Task".to_string()),
                None => {
                    return fail(
                        result,
                        "no request created a Task (POST Task) in this scenario to measure the schedule from; name the step whose request starts it with `from:`".into(),
                    );
                }
            }
        }
    };
    let offsets: Vec<Duration> = received
        .iter()
        .filter(|x| x.at > anchor)
        .filter(|x| {
            method_matches(&spec.method, x.request.method.as_deref().unwrap_or(""))
                && request_matches(&path, x.request.path.as_deref().unwrap_or(""))
        })
        .map(|x| since(x.at, anchor))
        .collect();
    if offsets.is_empty() {
        return fail(
            result,
            format!("no {what} request arrived after {anchor_desc}"),
        );
    }
    let shown: Vec<String> = offsets
        .iter()
        .map(|o| format!("+{}", pack_time(*o, time_scale)))
        .collect();
    result.actual = Some(format!(
        "{} request{} at {} after {anchor_desc}{}",
        offsets.len(),
        if offsets.len() == 1 { "" } else { "s" },
        shown.join(", "),
        if time_scale != 1.0 {
            format!(" (pack time; --time-scale {time_scale})")
        } else {
            String::new()
        }
    ));
    let real = spec.schedule.scaled(time_scale);
    let mut problems = Vec::new();
    if let Some(first) = real.first_after
        && offsets[0] < lenient(first)
    {
        problems.push(format!(
            "the first came {} after {anchor_desc}, sooner than {}",
            pack_time(offsets[0], time_scale),
            pack_time(first, time_scale)
        ));
    }
    for (i, w) in offsets.windows(2).enumerate() {
        let (prev, next) = (w[0], w[1]);
        let within_for = real.for_.is_none_or(|f| prev < generous(f));
        let bound = if within_for {
            real.every.or(real.then_every)
        } else {
            real.then_every
        };
        let Some(bound) = bound else { continue };
        let gap = next.saturating_sub(prev);
        if gap < lenient(bound) {
            let phase = match (within_for, real.for_) {
                (true, Some(f)) => format!(" (within the first {})", pack_time(f, time_scale)),
                (false, Some(f)) => format!(" (after the first {})", pack_time(f, time_scale)),
                _ => String::new(),
            };
            problems.push(format!(
                "request {} came {} after the one before, sooner than every {}{phase}",
                i + 2,
                pack_time(gap, time_scale),
                pack_time(bound, time_scale)
            ));
        }
    }
    if !problems.is_empty() {
        let shown = problems.len().min(3);
        let mut why = problems[..shown].join("; ");
        if problems.len() > shown {
            why.push_str(&format!("; and {} more", problems.len() - shown));
        }
        return fail(result, why);
    }
    result
}

/// The schedule in words.
pub fn describe(s: &Schedule) -> String {
    let f = |d: Duration| humantime::format_duration(d).to_string();
    let mut parts = Vec::new();
    if let Some(d) = s.first_after {
        parts.push(format!("first no sooner than {}", f(d)));
    }
    match (s.every, s.for_, s.then_every) {
        (Some(e), Some(p), Some(t)) => parts.push(format!(
            "then no more often than every {} for {}, then every {}",
            f(e),
            f(p),
            f(t)
        )),
        (Some(e), _, _) | (None, _, Some(e)) => {
            parts.push(format!("no more often than every {}", f(e)))
        }
        _ => {}
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Message;
    use crate::results::{Direction, Severity};
    use crate::scenario::AssertKind;

    const MIN: Duration = Duration::from_secs(60);

    /// A request the client sent, `secs` after time zero, answered `status`.
    fn req(method: &str, path: &str, secs: u64, status: u16) -> RawExchange {
        RawExchange {
            direction: Direction::Incoming,
            at: DateTime::<Utc>::UNIX_EPOCH + Duration::from_secs(secs),
            duration: Duration::ZERO,
            request: Message {
                method: Some(method.into()),
                path: Some(path.into()),
                ..Message::default()
            },
            response: Some(Message {
                status: Some(status),
                ..Message::default()
            }),
            error: None,
        }
    }

    fn spec(schedule: Schedule, from: Option<&str>) -> (Assertion, PollScheduleSpec) {
        let spec = PollScheduleSpec {
            method: "GET".into(),
            path: "Task/{{id}}".into(),
            from: from.map(String::from),
            schedule,
        };
        let a = Assertion {
            kind: AssertKind::PollSchedule(spec.clone()),
            requirement: None,
            severity: Severity::Recommended,
            strict_severity: Severity::Recommended,
            on: crate::scenario::Target::Request,
            title: None,
            hint: None,
            since: None,
            when_status: Vec::new(),
        };
        (a, spec)
    }

    /// The CONF-062 shape: first after 1m, every 5m for 30m, then every hour.
    fn conf_062() -> Schedule {
        Schedule {
            first_after: Some(MIN),
            every: Some(5 * MIN),
            for_: Some(30 * MIN),
            then_every: Some(60 * MIN),
        }
    }

    fn check(received: &[RawExchange], schedule: Schedule, from: Option<&str>) -> AssertionResult {
        let (a, spec) = spec(schedule, from);
        let vars: Vars = [("id".to_string(), "t1".to_string())].into();
        let observed = Observed {
            sent: &[],
            received: Some(received),
        };
        let steps: BTreeMap<String, DateTime<Utc>> =
            [("asked".to_string(), DateTime::<Utc>::UNIX_EPOCH + 600 * MIN)].into();
        evaluate(&a, &spec, &observed, &steps, 1.0, &vars)
    }

    /// Requests of the client: the Task created at 0 (after a refused first try), then reads
    /// at these minutes.
    fn polls(minutes: &[u64]) -> Vec<RawExchange> {
        let mut out = vec![
            req("GET", "metadata", 0, 200),
            req("POST", "Task", 0, 201),
            req("GET", "Patient?name=x", 1, 200),
        ];
        out.extend(minutes.iter().map(|m| req("GET", "Task/t1", m * 60, 200)));
        out
    }

    #[test]
    fn a_client_on_the_schedule_passes() {
        let r = check(
            &polls(&[1, 6, 11, 16, 21, 26, 31, 91, 151]),
            conf_062(),
            None,
        );
        assert_eq!(r.status, Status::Passed, "{r:#?}");
        assert_eq!(
            r.actual.as_deref(),
            Some(
                "9 requests at +1m, +6m, +11m, +16m, +21m, +26m, +31m, +1h 31m, +2h 31m after the POST that created the Task"
            )
        );
        // Within the slack: 10% of each bound.
        let mut received = polls(&[]);
        received.extend([55, 335, 615].map(|s| req("GET", "Task/t1", s, 200)));
        let r = check(&received, conf_062(), None);
        assert_eq!(r.status, Status::Passed, "{r:#?}");
    }

    #[test]
    fn polling_too_early_warns() {
        let received = vec![
            req("POST", "Task", 0, 201),
            req("GET", "Task/t1?_include=Task:output", 20, 200),
        ];
        let r = check(&received, conf_062(), None);
        assert_eq!(r.status, Status::Warned, "{r:#?}");
        assert_eq!(
            r.message.as_deref(),
            Some("the first came 20s after the POST that created the Task, sooner than 1m")
        );
    }

    #[test]
    fn polling_too_often_warns_in_each_phase() {
        // The read after one at 31m (close to the 30m) may still come 5m later; after one at
        // 36m, an hour later.
        let r = check(&polls(&[1, 3, 31, 36, 40, 49]), conf_062(), None);
        assert_eq!(r.status, Status::Warned, "{r:#?}");
        assert_eq!(
            r.message.as_deref(),
            Some(
                "request 2 came 2m after the one before, sooner than every 5m (within the first 30m); request 5 came 4m after the one before, sooner than every 1h (after the first 30m); request 6 came 9m after the one before, sooner than every 1h (after the first 30m)"
            )
        );
    }

    #[test]
    fn no_matching_request_or_no_anchor_warns_clearly() {
        let r = check(&polls(&[]), conf_062(), None);
        assert_eq!(r.status, Status::Warned);
        assert_eq!(
            r.message.as_deref(),
            Some("no GET Task/t1 request arrived after the POST that created the Task")
        );
        let r = check(&[req("GET", "Task/t1", 60, 200)], conf_062(), None);
        assert!(
            r.message
                .as_deref()
                .unwrap()
                .starts_with("no request created a Task (POST Task)"),
            "{r:#?}"
        );
        let r = check(&polls(&[1]), conf_062(), Some("missing"));
        assert_eq!(
            r.message.as_deref(),
            Some("step `missing` took no request to measure the schedule from")
        );
    }

    #[test]
    fn measured_from_a_step_only_later_requests_count() {
        // The step's request came at 600 minutes; reads before it are not counted.
        let r = check(&polls(&[1, 2, 601, 607]), conf_062(), Some("asked"));
        assert_eq!(r.status, Status::Passed, "{r:#?}");
        assert!(
            r.actual
                .as_deref()
                .unwrap()
                .starts_with("2 requests at +1m, +7m after the request of step `asked`"),
            "{r:#?}"
        );
    }

    #[test]
    fn a_scaled_schedule_is_reported_in_pack_time() {
        let (a, spec) = spec(conf_062(), None);
        let vars: Vars = [("id".to_string(), "t1".to_string())].into();
        // At --time-scale 600 a pack minute is 100 ms.
        let ms = |m: u64| {
            let mut x = req("GET", "Task/t1", 0, 200);
            x.at += Duration::from_millis(m);
            x
        };
        let received = vec![req("POST", "Task", 0, 201), ms(100), ms(600), ms(650)];
        let observed = Observed {
            sent: &[],
            received: Some(&received),
        };
        let r = evaluate(&a, &spec, &observed, &BTreeMap::new(), 600.0, &vars);
        assert_eq!(r.status, Status::Warned, "{r:#?}");
        assert_eq!(
            r.actual.as_deref(),
            Some(
                "3 requests at +1m, +6m, +6m 30s after the POST that created the Task (pack time; --time-scale 600)"
            )
        );
        assert_eq!(
            r.message.as_deref(),
            Some(
                "request 3 came 30s after the one before, sooner than every 5m (within the first 30m)"
            )
        );
    }
}
