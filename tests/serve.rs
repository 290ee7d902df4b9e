//! `cdex-harness serve`, in process, over HTTP: a run started from the form and followed over
//! Server-Sent Events to its verdict; a failing run's failure in the events; the token beyond
//! loopback (header, query then cookie); the Content-Security-Policy; a hostile peer's text
//! escaped in the live page and in the events; two browsers' runs kept apart (and shared by
//! link); a comparison naming a newly failing requirement; "rerun failed"; a manual step
//! answered over HTTP, and "stop".
//!
//! A browser is a reqwest client that keeps the console's cookies (the session, the token).

mod common;

use cdex_harness::serve::{self, ServeHandle, ServeOptions};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Long enough for a few scenarios on a shared, busy machine; a hang still ends the test.
const LIMIT: Duration = Duration::from_secs(180);

async fn console(name: &str, listen: &str, token: Option<&str>) -> (ServeHandle, PathBuf) {
    let dir = common::tmp("serve", name);
    let h = serve::start(ServeOptions {
        listen: listen.parse().unwrap(),
        runs_dir: dir.clone(),
        token: token.map(str::to_string),
        ..ServeOptions::default()
    })
    .await
    .expect("the console starts");
    (h, dir)
}

/// A browser: its own cookies, no redirects followed (the tests read them).
struct Browser {
    client: reqwest::Client,
    base: String,
    cookies: std::sync::Mutex<Vec<(String, String)>>,
}

impl Browser {
    fn new(h: &ServeHandle) -> Browser {
        // reqwest is built without a default TLS provider; the harness installs ring's.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // The console's port on loopback, whatever address it listens on.
        let base = format!("http://127.0.0.1:{}", h.addr().port());
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base,
            cookies: Default::default(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&self, r: &reqwest::Response) {
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (kv, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = kv.split_once('=').unwrap();
            let mut c = self.cookies.lock().unwrap();
            c.retain(|(n, _)| n != k);
            c.push((k.to_string(), val.to_string()));
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&r);
        r
    }

    async fn text(&self, path: &str) -> (u16, String) {
        let r = self.get(path).await;
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("origin", self.base.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        self.keep(&r);
        r
    }

    /// Start a run from the form; its id.
    async fn start(&self, form: &[(&str, &str)]) -> String {
        if self.cookies.lock().unwrap().is_empty() {
            self.get("/").await;
        }
        let r = self.post("/runs", form).await;
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string());
        let Some(location) = location else {
            panic!(
                "the run did not start ({status}): {}",
                r.text().await.unwrap()
            );
        };
        location.strip_prefix("/runs/").unwrap().to_string()
    }

    /// The run's events, read until `until` holds for one (or the stream ends).
    async fn events_until(&self, id: &str, until: impl Fn(&Value) -> bool) -> (Vec<Value>, String) {
        let mut r = self.get(&format!("/runs/{id}/events")).await;
        assert_eq!(r.status().as_u16(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let mut raw = String::new();
        let mut events = Vec::new();
        let read = async {
            while let Some(chunk) = r.chunk().await.unwrap() {
                raw.push_str(&String::from_utf8_lossy(&chunk));
                let fresh: Vec<Value> = parse_events(&raw).into_iter().skip(events.len()).collect();
                for e in fresh {
                    let stop = until(&e);
                    events.push(e);
                    if stop {
                        return;
                    }
                }
            }
        };
        tokio::time::timeout(LIMIT, read)
            .await
            .expect("the awaited event came in time");
        (events, raw)
    }
}

/// The `data:` of every complete event in an SSE text.
fn parse_events(raw: &str) -> Vec<Value> {
    let complete = match raw.rfind("\n\n") {
        Some(i) => &raw[..i],
        None => return Vec::new(),
    };
    complete
        .split("\n\n")
        .filter_map(|block| {
            let data: Vec<&str> = block
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            (!data.is_empty()).then(|| serde_json::from_str(&data.join("\n")).unwrap())
        })
        .collect()
}

fn finished(e: &Value) -> bool {
    e["type"] == "finished"
}

fn of_type<'a>(events: &'a [Value], t: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == t).collect()
}

fn results(dir: &Path, id: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(id).join("results.json")).unwrap())
        .unwrap()
}

const REFERENCE: &[(&str, &str)] = &[
    ("pack", "cdex-2019"),
    ("actor", "information-server"),
    ("sut", "reference"),
    ("scenario", "is-push-create"),
];

fn with<'a>(base: &[(&'a str, &'a str)], more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    base.iter().chain(more.iter()).copied().collect()
}

#[tokio::test]
async fn a_run_started_over_http_streams_until_its_verdict() {
    let (h, dir) = console("live", "127.0.0.1:0", None).await;
    let b = Browser::new(&h);
    let (status, form) = b.text("/").await;
    assert_eq!(status, 200);
    for hook in [
        "id=\"start-run\"",
        "select name=\"pack\"",
        "select name=\"actor\"",
        "id=\"start\"",
        "href=\"/simulators\"",
    ] {
        assert!(form.contains(hook), "the form has {hook}");
    }
    let id = b.start(REFERENCE).await;
    let (page_status, page) = b.text(&format!("/runs/{id}")).await;
    assert_eq!(page_status, 200);
    assert!(page.contains("data-scenario=\"is-push-create\""), "{page}");
    assert!(page.contains("id=\"run-status\""));

    let (events, _) = b.events_until(&id, finished).await;
    let last = events.last().unwrap();
    assert_eq!(last["type"], "finished");
    assert_eq!(last["status"], "passed", "{last}");
    assert_eq!(last["report"], format!("/runs/{id}/report"));
    assert_eq!(of_type(&events, "run-started").len(), 1);
    assert_eq!(
        of_type(&events, "scenario-started")[0]["id"],
        "is-push-create"
    );
    let exchanges = of_type(&events, "exchange");
    assert!(!exchanges.is_empty());
    assert!(exchanges[0]["exchange"]["request"]["method"].is_string());
    let steps = of_type(&events, "step-finished");
    assert!(steps.iter().any(|s| {
        s["step"]["assertions"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    }));
    assert_eq!(of_type(&events, "scenario-finished")[0]["status"], "passed");
    assert!(!of_type(&events, "requirements").is_empty());

    // A late subscriber gets it all again; Last-Event-ID takes up after it.
    let (again, _) = b.events_until(&id, finished).await;
    assert_eq!(again.len(), events.len());

    for f in [
        "results.json",
        "report.html",
        "junit.xml",
        "config.yaml",
        "console.json",
    ] {
        assert!(dir.join(&id).join(f).is_file(), "{f} is written");
    }
    let (report_status, report) = b.text(&format!("/runs/{id}/report")).await;
    assert_eq!(report_status, 200);
    assert_eq!(
        report,
        std::fs::read_to_string(dir.join(&id).join("report.html")).unwrap()
    );
    let (_, page) = b.text(&format!("/runs/{id}")).await;
    assert!(
        page.contains("data-status=\"passed\""),
        "the page shows the verdict"
    );
    let (_, list) = b.text("/runs").await;
    assert!(list.contains(&format!("data-run=\"{id}\"")));
    // The same settings again, to change and start.
    let (_, again) = b.text(&format!("/?from={id}")).await;
    assert!(
        again.contains("name=\"scenario\" value=\"is-push-create\""),
        "{again}"
    );
    h.stop().await;
}

#[tokio::test]
async fn the_form_saves_and_loads_the_config_file_run_takes() {
    let (h, _dir) = console("config", "127.0.0.1:0", None).await;
    let b = Browser::new(&h);
    b.get("/").await;
    let r = b
        .post(
            "/config/save",
            &[
                ("pack", "cdex-2019"),
                ("actor", "information-server"),
                ("sut", "server"),
                ("target", "http://127.0.0.1:9/fhir"),
                ("option", "task-based"),
                ("vars", "patient_id=p1"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let yaml = r.text().await.unwrap();
    let config = cdex_harness::cli::config::parse(&yaml, "saved").expect("run --config reads it");
    assert_eq!(config.actor.as_deref(), Some("information-server"));
    assert_eq!(config.target.as_deref(), Some("http://127.0.0.1:9/fhir"));
    assert_eq!(config.options, ["task-based"]);
    assert_eq!(config.vars["patient_id"], "p1");
    let r = b.post("/config/load", &[("config", &yaml)]).await;
    assert_eq!(r.status().as_u16(), 200);
    let form = r.text().await.unwrap();
    assert!(form.contains("value=\"http://127.0.0.1:9/fhir\""), "{form}");
    assert!(form.contains("patient_id&#x3D;p1") || form.contains("patient_id=p1"));
    let r = b.post("/config/load", &[("config", "actor: [\n")]).await;
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("the config file:"));
    h.stop().await;
}

#[tokio::test]
async fn a_failing_run_ends_failed_with_the_failure_in_the_events() {
    let (h, _dir) = console("fault", "127.0.0.1:0", None).await;
    let b = Browser::new(&h);
    let id = b
        .start(&with(
            REFERENCE,
            &[("fault", "information-server:lose-data")],
        ))
        .await;
    let (events, _) = b.events_until(&id, finished).await;
    let last = events.last().unwrap();
    assert_eq!(last["status"], "failed");
    let failures = last["findings"]["failures"].as_array().unwrap();
    assert!(!failures.is_empty(), "{last}");
    assert!(
        failures[0]["checks"][0]["link"]
            .as_str()
            .unwrap()
            .contains("/report#")
    );
    let failed_check = of_type(&events, "step-finished").into_iter().any(|s| {
        s["step"]["assertions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["status"] == "failed")
    });
    assert!(failed_check, "a failed check is in the events");
    let (_, page) = b.text(&format!("/runs/{id}")).await;
    assert!(page.contains("data-status=\"failed\""));
    assert!(
        page.contains("class=\"finding\""),
        "what failed leads the page"
    );
    h.stop().await;
}

#[tokio::test]
async fn beyond_loopback_every_request_needs_the_token() {
    let (h, _dir) = console("token", "0.0.0.0:0", None).await;
    let token = h.token().expect("a token is generated").to_string();
    let b = Browser::new(&h);
    assert_eq!(b.get("/").await.status().as_u16(), 401);
    assert_eq!(b.get("/runs").await.status().as_u16(), 401);
    assert_eq!(b.get("/assets/console.js").await.status().as_u16(), 401);
    assert_eq!(
        b.get("/?token=wrong-wrong-wrong-wrong")
            .await
            .status()
            .as_u16(),
        401
    );
    let bearer = b
        .client
        .get(format!("{}/runs", b.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status().as_u16(), 200);
    // ?token= once: a cookie, and the address without the token.
    let r = b.get(&format!("/runs?token={token}")).await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/runs");
    let set: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let cookie = set.iter().find(|c| c.starts_with("cdex_token=")).unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert_eq!(b.get("/runs").await.status().as_u16(), 200);
    assert_eq!(b.get("/").await.status().as_u16(), 200);
    // Whoever has the token does not get a shell: no trigger command beyond loopback.
    let r = b
        .post(
            "/runs",
            &[
                ("pack", "cdex-2019"),
                ("actor", "information-client"),
                ("sut", "client"),
                ("trigger", "touch /tmp/never"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("--allow-commands"));
    h.stop().await;
}

#[tokio::test]
async fn every_response_carries_a_strict_content_security_policy() {
    let (h, _dir) = console("csp", "127.0.0.1:0", None).await;
    let b = Browser::new(&h);
    for path in [
        "/",
        "/runs",
        "/assets/console.js",
        "/assets/console.css",
        "/nowhere",
    ] {
        let r = b.get(path).await;
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert_eq!(csp, serve::security::CSP, "{path}");
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    }
    // A page of another site cannot make the console act, nor a name rebound to it.
    let r = b
        .client
        .post(format!("{}/runs", b.base))
        .header("origin", "http://evil.example")
        .body("pack=cdex-2019")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = b
        .client
        .get(format!("{}/", b.base))
        .header("host", "evil.example:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(
        b.get("/runs/..%2F..%2Fetc/report").await.status().as_u16(),
        404
    );
    h.stop().await;
}

const HOSTILE_SCENARIO: &str = r#"id: hostile-read
title: read a Condition from a hostile server
actor: information-server
steps:
  - id: read
    send: { method: GET, path: Condition/1 }
    assert:
      - status: 200
        req: CDEX-IS-PULL
      - resource: Condition
        req: CDEX-IS-PULL
"#;

/// A server under test answering everything with markup in its headers and body.
async fn hostile_server() -> String {
    use axum::response::IntoResponse;
    let app = axum::Router::new().fallback(|| async {
        (
            [
                ("content-type", "application/fhir+json"),
                ("x-evil", "<script>alert('header')</script>"),
            ],
            r#"{"resourceType":"<script>alert('body')</script>","id":"<img src=x onerror=alert(1)>"}"#,
        )
            .into_response()
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_hostile_peer_is_escaped_in_the_live_page_and_the_events() {
    let (h, _dir) = console("hostile", "127.0.0.1:0", None).await;
    let pack = common::pack_dir("serve", "hostile-pack", HOSTILE_SCENARIO);
    let target = hostile_server().await;
    let b = Browser::new(&h);
    let id = b
        .start(&[
            ("pack", "cdex-2019"),
            ("scenarios_dir", pack.to_str().unwrap()),
            ("actor", "information-server"),
            ("sut", "server"),
            ("target", &target),
        ])
        .await;
    let (events, raw) = b.events_until(&id, finished).await;
    assert_eq!(events.last().unwrap()["status"], "failed");
    // The payloads reached the events, as text: escaped in the JSON, never markup.
    let all = serde_json::to_string(&events).unwrap();
    assert!(
        all.contains("<script>alert('body')</script>"),
        "the body is shown"
    );
    assert!(
        all.contains("<script>alert('header')</script>"),
        "the header is shown"
    );
    assert!(
        !raw.contains('<') && !raw.contains('>'),
        "no markup in the stream"
    );
    let (_, page) = b.text(&format!("/runs/{id}")).await;
    assert!(
        page.contains("&lt;script&gt;alert("),
        "the finding shows the peer's text"
    );
    assert!(!page.contains("<script>alert"), "and never as markup");
    assert!(!page.contains("<img src=x"));
    h.stop().await;
}

#[tokio::test]
async fn each_browser_sees_only_its_own_runs_unless_shared() {
    let (h, _dir) = console("isolation", "127.0.0.1:0", None).await;
    let alice = Browser::new(&h);
    let bob = Browser::new(&h);
    bob.get("/").await;
    let id = alice.start(REFERENCE).await;
    alice.events_until(&id, finished).await;
    let (_, list) = bob.text("/runs").await;
    assert!(!list.contains(&id), "another browser's run is not listed");
    for path in ["", "/events", "/report"] {
        let (status, _) = bob.text(&format!("/runs/{id}{path}")).await;
        assert_eq!(status, 404, "{path}");
    }
    assert_eq!(
        bob.post(&format!("/runs/{id}/rerun"), &[])
            .await
            .status()
            .as_u16(),
        404
    );
    // Alice's page gives the share link; with it Bob sees the run (and only sees it).
    let (_, page) = alice.text(&format!("/runs/{id}")).await;
    let share = page
        .split("<code id=\"share\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the owner's page has a share link")
        .replace("&#x3D;", "=")
        .replace("&amp;", "&");
    let (status, shared) = bob.text(&share).await;
    assert_eq!(status, 200, "{share}");
    assert!(shared.contains("data-status=\"passed\""));
    assert!(
        !shared.contains("id=\"share\""),
        "a viewer does not get the owner's actions"
    );
    let key = share.split("key=").nth(1).unwrap();
    let (status, _) = bob.text(&format!("/runs/{id}/report?key={key}")).await;
    assert_eq!(status, 200);
    let (status, _) = bob.text(&format!("/runs/{id}/report?key=0{key}")).await;
    assert_eq!(status, 404);
    assert_eq!(
        bob.post(&format!("/runs/{id}/stop"), &[])
            .await
            .status()
            .as_u16(),
        404
    );
    h.stop().await;
}

#[tokio::test]
async fn compare_shows_a_newly_failing_requirement_and_rerun_failed_reruns_it() {
    let (h, dir) = console("compare", "127.0.0.1:0", None).await;
    let b = Browser::new(&h);
    let scenarios = [
        ("scenario", "is-push-create"),
        ("scenario", "is-pull-search"),
    ];
    let good = b.start(&with(&REFERENCE[..3], &scenarios)).await;
    b.events_until(&good, finished).await;
    let bad = b
        .start(&with(
            &REFERENCE[..3],
            &[
                scenarios[0],
                scenarios[1],
                ("fault", "information-server:lose-data"),
            ],
        ))
        .await;
    let (events, _) = b.events_until(&bad, finished).await;
    assert_eq!(events.last().unwrap()["status"], "failed");
    let failing: Vec<String> = results(&dir, &bad)["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "failed")
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!failing.is_empty());

    let (status, page) = b.text(&format!("/compare?a={good}&b={bad}")).await;
    assert_eq!(status, 200);
    let requirements = page
        .split("<section class=\"changes\" id=\"requirements\">")
        .nth(1)
        .unwrap();
    let newly = requirements.split("<h3>Fixed</h3>").next().unwrap();
    for id in &failing {
        assert!(
            newly.contains(&format!("data-id=\"{id}\"")),
            "{id} newly fails: {newly}"
        );
    }
    // The other way round, it got fixed.
    let (_, back) = b.text(&format!("/compare?a={bad}&b={good}")).await;
    let fixed = back.split("<h3>Fixed</h3>").nth(1).unwrap();
    assert!(fixed.contains(&format!("data-id=\"{}\"", failing[0])));

    // Rerun what failed: a new run, of the failed scenarios only, the others carried over.
    let r = b.post(&format!("/runs/{bad}/rerun"), &[]).await;
    assert_eq!(r.status().as_u16(), 303, "{:?}", r.text().await);
    let rerun = r.headers()["location"]
        .to_str()
        .unwrap()
        .trim_start_matches("/runs/")
        .to_string();
    assert_ne!(rerun, bad);
    b.events_until(&rerun, finished).await;
    let before = results(&dir, &bad);
    let after = results(&dir, &rerun);
    for s in after["scenarios"].as_array().unwrap() {
        let earlier = before["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == s["id"])
            .unwrap();
        let carried = s.get("resumed_from").is_some();
        assert_eq!(carried, earlier["status"] != "failed", "{}", s["id"]);
    }
    h.stop().await;
}

#[tokio::test]
async fn a_manual_step_is_answered_over_http_and_a_run_can_be_stopped() {
    let (h, dir) = console("manual", "127.0.0.1:0", None).await;
    let b = Browser::new(&h);
    let id = b
        .start(&[
            ("pack", "cdex-2019"),
            ("actor", "information-client"),
            ("sut", "client"),
            ("scenario", "ic-push-create"),
        ])
        .await;
    let (events, _) = b
        .events_until(&id, |e| e["type"] == "waiting" && e["manual"] == true)
        .await;
    let waiting = events.last().unwrap();
    assert!(
        waiting["instruction"]
            .as_str()
            .unwrap()
            .contains("ic-push-create"),
        "{waiting}"
    );
    let (_, page) = b.text(&format!("/runs/{id}")).await;
    assert!(page.contains("data-answer=\"done\"") && page.contains("data-answer=\"skip\""));
    let r = b
        .post(&format!("/runs/{id}/answer"), &[("answer", "skip")])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    // The wait ends at once (not after its five minutes): the step is skipped.
    let step = waiting["step"].as_str().unwrap().to_string();
    let (events, _) = b
        .events_until(&id, |e| {
            e["type"] == "step-finished" && e["step"]["id"] == step.as_str()
        })
        .await;
    let done = events.last().unwrap();
    assert_ne!(done["step"]["status"], "passed", "{done}");
    assert!(!of_type(&events, "wait-ended").is_empty());

    let r = b.post(&format!("/runs/{id}/stop"), &[]).await;
    assert_eq!(r.status().as_u16(), 303);
    let (events, _) = b.events_until(&id, finished).await;
    assert_eq!(events.last().unwrap()["status"], "interrupted");
    assert_eq!(
        results(&dir, &id)["interrupted"],
        true,
        "the report of what was done"
    );
    h.stop().await;
}
