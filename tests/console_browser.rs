//! The web console (`cdex-harness serve`) in a real headless Chromium, driven through the
//! Chrome DevTools Protocol (tests/common/cdp.rs): a run started from the page shows its
//! exchanges live and then its failure; a hostile server under test gets no markup into the
//! live page; a simulator started from the page shows a partner's exchange and its checks;
//! a console that requires a token works from `?token=` on through its cookie.
//!
//! The console runs in-process (`serve::start` on a free loopback port). Waits poll the page
//! with generous timeouts (a loaded 2-core machine); nothing asserts on a fixed sleep.
//! `CDEX_UPDATE_SCREENSHOTS=1` also writes docs/console-running.png and
//! docs/console-failed.png. CDEX_SKIP_BROWSER=1 skips these tests.

mod common;

use cdex_harness::serve::{self, ServeHandle, ServeOptions};
use common::cdp::{Browser, Page, update_screenshots};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a page may take to show what the test waits for.
const WAIT: Duration = Duration::from_secs(180);

/// A console listening on a free loopback port, stopped when dropped.
struct Console {
    rt: tokio::runtime::Runtime,
    handle: Option<ServeHandle>,
    url: String,
    dir: PathBuf,
}

impl Console {
    fn start(name: &str, token: Option<&str>) -> Console {
        let dir = common::tmp("console", name);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let opts = ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            runs_dir: dir.join("runs"),
            token: token.map(str::to_string),
            ..ServeOptions::default()
        };
        let handle = rt.block_on(serve::start(opts)).expect("the console starts");
        let url = handle.url();
        Console {
            rt,
            handle: Some(handle),
            url,
            dir,
        }
    }

    /// The console's address for `path` (`/runs`).
    fn at(&self, path: &str) -> String {
        format!("{}{}", self.url.trim_end_matches('/'), path)
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(60), h.stop()).await });
        }
    }
}

/// Wait for `condition`, or fail naming it, with what the page says.
fn wait(page: &Page, condition: &str) -> Value {
    page.wait_for(condition, WAIT).unwrap_or_else(|e| {
        let text = page
            .eval("document.body ? document.body.innerText.slice(0, 3000) : ''")
            .unwrap_or_default();
        panic!("{e}\n--- the page says:\n{}", text.as_str().unwrap_or(""))
    })
}

/// Set the fields of the form `form` (a selector): `name` to `value` for selects and text;
/// checkboxes and radios whose value is listed are checked.
fn fill(page: &Page, form: &str, fields: &[(&str, &str)]) {
    let fields = serde_json::to_string(fields).unwrap();
    let js = format!(
        r#"(() => {{
          const form = document.querySelector({form:?});
          if (!form) throw new Error('no form {form}');
          for (const [name, value] of {fields}) {{
            const inputs = [...form.querySelectorAll('[name="' + name + '"]')];
            if (!inputs.length) throw new Error('no field ' + name);
            for (const i of inputs) {{
              if (i.type === 'checkbox' || i.type === 'radio') {{
                if (i.value === value) i.checked = true; else continue;
              }} else {{
                i.value = value;
                if (i.value !== value) throw new Error(name + ' has no choice ' + value);
              }}
              i.dispatchEvent(new Event('change', {{ bubbles: true }}));
            }}
          }}
          return true;
        }})()"#
    );
    page.eval(&js)
        .unwrap_or_else(|e| panic!("fill {form}: {e}"));
}

fn screenshot(page: &Page, name: &str) {
    if update_screenshots() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs")
            .join(name);
        page.screenshot(&path);
        eprintln!("wrote {}", path.display());
    }
}

/// The status of `#run-status`, `live` while it runs and shows an exchange.
const RUN_STATE: &str = r#"(() => {
  const s = document.querySelector('#run-status');
  if (!s) return '';
  const st = s.getAttribute('data-status');
  if (st === 'running') return document.querySelector('.exchange') ? 'live' : '';
  return st || '';
})()"#;

#[test]
fn the_driver_loads_a_page_and_reads_it() {
    let dir = common::tmp("console", "driver");
    let Some(browser) = Browser::launch(&dir) else {
        return;
    };
    let page = browser.page();
    page.navigate("data:text/html,<title>t</title><p id=x>hello</p>");
    assert_eq!(
        page.eval("document.getElementById('x').textContent")
            .unwrap(),
        "hello"
    );
    assert_eq!(
        page.eval("[innerWidth, innerHeight]").unwrap(),
        json!([1400, 900])
    );
    assert_eq!(
        page.eval("new Promise(r => setTimeout(() => r(42), 10))")
            .unwrap(),
        42
    );
    page.eval("setTimeout(() => document.body.dataset.late = 'yes', 300)")
        .unwrap();
    page.wait_for("document.body.dataset.late", Duration::from_secs(30))
        .unwrap();
    assert!(page.eval("nope()").is_err());
    let shot = dir.join("shot.png");
    page.screenshot(&shot);
    assert_eq!(&std::fs::read(&shot).unwrap()[1..4], b"PNG");
}

#[test]
fn a_run_started_from_the_page_shows_exchanges_live_then_the_failure() {
    let console = Console::start("run", None);
    let Some(browser) = Browser::launch(&console.dir) else {
        return;
    };
    let page = browser.page();
    // The run takes a few seconds (a notification wait of 2 s among them): the page is to
    // catch it running with an exchange shown. Should a loaded machine be so slow to show the
    // page that the run is over first, it is started again (three tries).
    let mut caught = false;
    for attempt in 1..=3 {
        page.navigate(&console.url);
        fill(
            &page,
            "#start-run",
            &[
                ("pack", "cdex-2019"),
                ("actor", "information-server"),
                ("sut", "reference"),
                ("fault", "information-server:lose-data"),
            ],
        );
        page.eval("document.querySelector('#start-run button#start').click()")
            .unwrap();
        let state = wait(&page, RUN_STATE);
        if state == "live" {
            screenshot(&page, "console-running.png");
            if page.eval(RUN_STATE).unwrap() == "live" {
                caught = true;
                break;
            }
        }
        eprintln!("attempt {attempt}: the run was over before the page showed it ({state})");
    }
    assert!(
        caught,
        "the page never showed the run running with an exchange"
    );
    let status = wait(
        &page,
        "document.querySelector('#run-status:not([data-status=running])')?.getAttribute('data-status')",
    );
    assert_eq!(status, "failed");
    wait(
        &page,
        "document.querySelector('.check[data-status=failed]')",
    );
    assert!(
        page.eval("document.querySelectorAll('.exchange').length")
            .unwrap()
            .as_u64()
            .unwrap()
            > 5,
        "the exchanges stay on the page"
    );
    page.eval("window.scrollTo(0, 0)").unwrap();
    screenshot(&page, "console-failed.png");
}

// ---- A hostile server under test -------------------------------------------------------

/// What a hostile peer puts in every field it can.
const PAYLOADS: &[&str] = &[
    "<script>document.body.setAttribute('data-pwned','script')</script>",
    "\"><img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">",
    "' onmouseover='document.body.setAttribute(\"data-pwned\",\"attr\")' x='",
    "</pre></td></table><svg onload=\"document.body.setAttribute('data-pwned','svg')\">",
    "<iframe srcdoc=\"<script>parent.document.body.setAttribute('data-pwned','iframe')</script>\">",
    "javascript:document.body.setAttribute('data-pwned','url')",
];

/// A FHIR server (raw TCP, a thread per connection) answering every request, `/metadata`
/// too, with the payloads in its body (ids, status, text, references), its headers and its
/// Location.
fn hostile_peer() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve_hostile(stream));
        }
    });
    format!("http://{addr}")
}

fn serve_hostile(mut s: TcpStream) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
    let mut reader = BufReader::new(s.try_clone().unwrap());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" || h == "\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("GET").to_string();
        let path = parts.next().unwrap_or("/").to_string();
        let (status, body) = hostile_answer(&method, &path);
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/fhir+json\r\nContent-Length: {}\r\nX-Peer: {}{}\r\nLocation: {}Communication/{}/_history/1\r\nETag: W/\"{}\"\r\n\r\n",
            body.len(),
            PAYLOADS[0],
            PAYLOADS[1],
            PAYLOADS[5],
            PAYLOADS[2],
            PAYLOADS[1].replace('"', "'"),
        );
        if s.write_all(head.as_bytes()).is_err() || s.write_all(body.as_bytes()).is_err() {
            return;
        }
    }
}

fn hostile_resource(kind: &str, n: usize) -> Value {
    let p = |k: usize| PAYLOADS[(n + k) % PAYLOADS.len()];
    json!({
        "resourceType": kind,
        "id": p(0),
        "status": p(1),
        "text": { "status": "generated", "div": format!("<div>{}</div>", p(2)) },
        "subject": { "reference": format!("Patient/{}", p(3)), "display": p(4) },
        "identifier": [{ "system": p(5), "value": p(0) }],
        "payload": [{ "contentString": p(1) }],
        "issue": [{ "severity": "error", "code": "invalid", "diagnostics": p(3) }],
    })
}

fn hostile_answer(method: &str, path: &str) -> (&'static str, String) {
    let kind = path
        .trim_start_matches('/')
        .split(['/', '?'])
        .next()
        .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphabetic()))
        .unwrap_or("Communication");
    let body = if path.starts_with("/metadata") {
        json!({
            "resourceType": "CapabilityStatement",
            "status": "active", "kind": "instance", "fhirVersion": "4.0.1",
            "format": ["json"],
            "software": { "name": PAYLOADS[0], "version": PAYLOADS[1] },
            "rest": [{ "mode": "server", "resource": [
                { "type": "Communication" }, { "type": "Patient" }, { "type": PAYLOADS[3] }
            ]}],
        })
    } else if method == "GET" && path.contains('?') {
        json!({
            "resourceType": "Bundle", "type": "searchset", "total": 2,
            "entry": [
                { "fullUrl": PAYLOADS[5], "resource": hostile_resource(kind, 1) },
                { "fullUrl": PAYLOADS[2], "resource": hostile_resource(kind, 4) },
            ],
        })
    } else {
        hostile_resource(kind, 0)
    };
    let status = if method == "POST" {
        "201 Created"
    } else {
        "200 OK"
    };
    (status, body.to_string())
}

/// Records, from the start of every document, what the Content-Security-Policy blocked.
const CSP_PROBE: &str = r#"
  window.__violations = [];
  document.addEventListener('securitypolicyviolation',
    e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || '')));
"#;

/// What a page shows of peer markup: elements or handlers that could only come from it, and
/// what the CSP had to block.
const INJECTED: &str = r#"(() => ({
  pwned: document.querySelectorAll('[data-pwned]').length,
  elements: [...document.querySelectorAll('img, svg, iframe, object, embed')].map(e => e.outerHTML.slice(0, 200)),
  inline_scripts: [...document.querySelectorAll('script')].filter(s => !s.src).length,
  handlers: [...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).map(e => e.outerHTML.slice(0, 200)),
  js_links: [...document.querySelectorAll('a[href]')].filter(a => a.getAttribute('href').trim().toLowerCase().startsWith('javascript:')).length,
  violations: window.__violations || ['no probe'],
}))()"#;

fn assert_nothing_injected(page: &Page, what: &str) {
    let v = page.eval(INJECTED).unwrap();
    assert_eq!(v["pwned"], 0, "{what}: a payload ran: {v}");
    assert_eq!(
        v["elements"],
        json!([]),
        "{what}: elements from a peer: {v}"
    );
    assert_eq!(v["inline_scripts"], 0, "{what}: an inline script: {v}");
    assert_eq!(
        v["handlers"],
        json!([]),
        "{what}: event-handler attributes: {v}"
    );
    assert_eq!(v["js_links"], 0, "{what}: javascript: links: {v}");
    assert_eq!(
        v["violations"],
        json!([]),
        "{what}: the CSP had to block something: {v}"
    );
}

#[test]
fn a_hostile_server_under_test_gets_no_markup_into_the_live_page() {
    let console = Console::start("hostile", None);
    let Some(browser) = Browser::launch(&console.dir) else {
        return;
    };
    let peer = hostile_peer();
    let page = browser.page();
    page.on_new_document(CSP_PROBE);
    page.navigate(&console.url);
    fill(
        &page,
        "#start-run",
        &[
            ("pack", "cdex-2019"),
            ("actor", "information-server"),
            ("sut", "server"),
            ("target", &peer),
            ("timeout", "3s"),
        ],
    );
    page.eval("document.querySelector('#start-run button#start').click()")
        .unwrap();
    wait(&page, "document.querySelector('.exchange')");
    let status = wait(
        &page,
        "document.querySelector('#run-status:not([data-status=running])')?.getAttribute('data-status')",
    );
    assert_eq!(status, "failed", "a server answering garbage fails");
    // Everything open, so that every text of the peer is rendered.
    page.eval("document.querySelectorAll('details').forEach(d => d.open = true); true")
        .unwrap();
    assert_nothing_injected(&page, "the live page");
    let shown = page.eval("document.body.innerText").unwrap();
    let shown = shown.as_str().unwrap();
    for p in [
        PAYLOADS[0],
        "onerror=\"document.body.setAttribute('data-pwned','img')",
    ] {
        assert!(shown.contains(p), "the payload is shown as text: {p}");
    }
    let csp = page
        .eval("fetch(location.href).then(r => r.headers.get('content-security-policy'))")
        .unwrap();
    let csp = csp.as_str().unwrap_or_default();
    let script_src = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src"))
        .unwrap_or_else(|| panic!("no script-src: {csp}"));
    assert_eq!(script_src, "script-src 'self'", "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");

    // The run's static report, as the console serves it.
    let report = page
        .eval("location.pathname.replace(/\\/$/, '') + '/report'")
        .unwrap();
    page.navigate(&console.at(report.as_str().unwrap()));
    wait(&page, "document.body.innerText.includes('cdex-harness')");
    page.eval("document.querySelectorAll('details').forEach(d => d.open = true); true")
        .unwrap();
    assert_nothing_injected(&page, "the report");
}

// ---- Simulators ------------------------------------------------------------------------

fn communication(with_subject: bool) -> String {
    let text =
        std::fs::read_to_string(common::project().join(
            "scenarios/cdex-2019/information-recipient/fixtures/communication-unsolicited.json",
        ))
        .unwrap()
        .replace("{{communication_key}}", "console-test-1")
        .replace("{{patient_id}}", "cdex-patient-1");
    let mut v: Value = serde_json::from_str(&text).unwrap();
    if !with_subject {
        v.as_object_mut().unwrap().remove("subject");
    }
    v.to_string()
}

/// POST a Communication to a simulator; the status it answered.
fn post_communication(console: &Console, base: &str, body: String) -> u16 {
    let url = format!("{}/Communication", base.trim_end_matches('/'));
    cdex_harness::http::client::init_tls();
    console.rt.block_on(async move {
        reqwest::Client::new()
            .post(&url)
            .header("Content-Type", "application/fhir+json")
            .header("Authorization", "Bearer cdex-reference-token-8c1f")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"))
            .status()
            .as_u16()
    })
}

/// Start a simulator of `actor` from the panel; its URL.
fn start_simulator(page: &Page, actor: &str) -> String {
    let before = page
        .eval("document.querySelectorAll('.simulator').length")
        .unwrap()
        .as_u64()
        .unwrap_or(0);
    fill(
        page,
        "#start-simulator",
        &[("pack", "cdex-2019"), ("actor", actor)],
    );
    page.eval("document.querySelector('#start-simulator [type=submit]').click()")
        .unwrap();
    wait(
        page,
        &format!("document.querySelectorAll('.simulator[data-url]').length > {before}"),
    );
    let url = page
        .eval(&format!(
            "[...document.querySelectorAll('.simulator[data-actor={actor:?}]')].pop().dataset.url"
        ))
        .unwrap();
    url.as_str().unwrap().to_string()
}

#[test]
fn a_simulator_started_from_the_page_shows_a_partners_exchange_and_its_checks() {
    let console = Console::start("simulator", None);
    let Some(browser) = Browser::launch(&console.dir) else {
        return;
    };
    let page = browser.page();
    page.on_new_document(CSP_PROBE);
    page.navigate(&console.at("/simulators"));
    let recipient = start_simulator(&page, "information-recipient");
    let server = start_simulator(&page, "information-server");
    assert_ne!(
        recipient, server,
        "two simulators at once, each on its port"
    );
    for url in [&recipient, &server] {
        assert!(url.starts_with("http://127.0.0.1:"), "on loopback: {url}");
    }
    let sim = format!(".simulator[data-url={recipient:?}]");
    wait(
        &page,
        &format!("document.querySelector('{sim}')?.dataset.state === 'live'"),
    );

    assert_eq!(
        post_communication(&console, &recipient, communication(true)),
        201
    );
    let first = wait(
        &page,
        &format!(
            "document.querySelector('{sim} .sim-exchange .check') && document.querySelector('{sim} .sim-exchange').innerText"
        ),
    );
    let first = first.as_str().unwrap();
    assert!(first.contains("POST /Communication"), "{first}");
    assert!(first.contains("201"), "{first}");
    // The live checks of a conforming Communication: green, with what they trace to.
    let checks = page
        .eval(&format!(
            "[...document.querySelectorAll('{sim} .sim-exchange .check')].map(c => [c.dataset.status, c.innerText])"
        ))
        .unwrap();
    assert!(
        checks.as_array().unwrap().iter().all(|c| c[0] != "failed"),
        "{checks}"
    );

    // One without its subject: a red check naming the profile rule.
    post_communication(&console, &recipient, communication(false));
    let failed = wait(
        &page,
        &format!(
            "document.querySelector('{sim} .sim-exchange .check[data-status=failed]')?.innerText"
        ),
    );
    let failed = failed.as_str().unwrap();
    assert!(failed.contains("subject"), "{failed}");
    let reqs = page
        .eval(&format!(
            "[...document.querySelectorAll('{sim} .sim-exchange .check .req')].map(r => r.textContent)"
        ))
        .unwrap();
    assert!(
        !reqs.as_array().unwrap().is_empty(),
        "the checks name their requirement: {checks}"
    );
    assert_eq!(
        page.eval(&format!(
            "document.querySelectorAll('.simulator[data-url={server:?}] .sim-exchange').length"
        ))
        .unwrap(),
        0,
        "each simulator shows its own exchanges"
    );

    page.eval("window.scrollTo(0, 0)").unwrap();
    screenshot(&page, "console-simulators.png");

    // A reload replays what arrived.
    page.navigate(&console.at("/simulators"));
    wait(
        &page,
        &format!("document.querySelectorAll('{sim} .sim-exchange').length === 2"),
    );
    assert_nothing_injected(&page, "the simulators panel");

    // Another browser (another session) sees none of them.
    let other = browser.other_user_page();
    other.navigate(&console.at("/simulators"));
    assert_eq!(
        other
            .eval("document.querySelectorAll('.simulator').length")
            .unwrap(),
        0
    );

    // Stop: gone from the page, and the port refuses the partner.
    page.eval(&format!(
        "document.querySelector('{sim} .sim-stop').click()"
    ))
    .unwrap();
    wait(
        &page,
        &format!(
            "document.readyState === 'complete' && !document.querySelector('{sim}') && document.querySelectorAll('.simulator').length === 1"
        ),
    );
    let refused = console.rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{recipient}/metadata"))
            .timeout(Duration::from_secs(10))
            .send()
            .await
    });
    assert!(refused.is_err(), "the stopped simulator still answers");
}

// ---- A console that requires a token ---------------------------------------------------

#[test]
fn with_a_token_the_page_loads_from_the_link_and_works_through_the_cookie() {
    let token = "console-test-token-0123456789";
    let console = Console::start("token", Some(token));
    let Some(browser) = Browser::launch(&console.dir) else {
        return;
    };
    let page = browser.page();
    page.navigate(&console.url);
    let refused = page.eval("document.body.innerText").unwrap();
    assert!(
        refused.as_str().unwrap().contains("requires its token"),
        "{refused}"
    );
    page.navigate(&format!("{}?token={token}", console.url));
    wait(&page, "document.querySelector('#start-run')");
    assert_eq!(
        page.eval("location.search").unwrap(),
        "",
        "the token leaves the address bar"
    );
    // The cookie carries it from here: a run and its live events, the simulators' too.
    fill(
        &page,
        "#start-run",
        &[
            ("pack", "cdex-2019"),
            ("actor", "information-server"),
            ("sut", "reference"),
        ],
    );
    page.eval("document.querySelector('#start-run button#start').click()")
        .unwrap();
    let status = wait(
        &page,
        "document.querySelector('.exchange') && document.querySelector('#run-status:not([data-status=running])')?.getAttribute('data-status')",
    );
    assert_eq!(status, "passed");
    page.navigate(&console.at("/simulators"));
    let url = start_simulator(&page, "information-recipient");
    wait(
        &page,
        &format!(
            "document.querySelector('.simulator[data-url={url:?}]')?.dataset.state === 'live'"
        ),
    );
    post_communication(&console, &url, communication(true));
    wait(&page, "document.querySelector('.sim-exchange .check')");
    // Without the cookie, nothing.
    let status = page
        .eval("fetch('/runs', { credentials: 'omit' }).then(r => r.status)")
        .unwrap();
    assert_eq!(status, 401);
}
