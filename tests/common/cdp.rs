//! A small Chrome DevTools Protocol driver for the browser tests: headless Chromium with
//! `--remote-debugging-pipe` (JSON messages separated by NUL bytes on the browser's file
//! descriptors 3, to it, and 4, from it), one page per [`Page`] through a flattened session.
//!
//! Hand-written rather than a crate: chromiumoxide and headless_chrome pull in a WebSocket
//! stack and generated bindings for the whole protocol (minutes of compile time on the CI's
//! two cores) where the tests need six commands. No `unsafe` either: the shell that starts
//! Chromium moves our pipes (its stdin and stdout) to fds 3 and 4 with `3<&0 4>&1`.
//!
//! `Browser::launch` returns `None` (the test is skipped, with a message) when
//! CDEX_SKIP_BROWSER=1; without Chromium and without that variable it panics saying how to get
//! one, as tests/html_browser.rs does.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one protocol command may take (a loaded 2-core machine running the whole suite
/// can stall a renderer for many seconds).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// The Chromium binary, if there is one.
pub fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
}

/// Whether the browser tests are to be skipped (CDEX_SKIP_BROWSER=1).
pub fn skipped() -> bool {
    std::env::var("CDEX_SKIP_BROWSER").is_ok_and(|v| v == "1")
}

/// Whether the test should (re)write the screenshots in docs/ (CDEX_UPDATE_SCREENSHOTS=1).
pub fn update_screenshots() -> bool {
    std::env::var("CDEX_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1")
}

struct Conn {
    to_browser: ChildStdin,
    next_id: u64,
    from_browser: Receiver<Value>,
    /// Events received while waiting for replies, oldest first.
    events: Vec<Value>,
}

impl Conn {
    fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to_browser
            .write_all(&bytes)
            .and_then(|_| self.to_browser.flush())
            .map_err(|e| format!("{method}: the browser's pipe is closed: {e}"))?;
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = match self.from_browser.recv_timeout(left) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("{method}: no answer in {COMMAND_TIMEOUT:?}"));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!("{method}: the browser went away"));
                }
            };
            if m.get("id").and_then(Value::as_u64) == Some(id) {
                return match m.get("error") {
                    Some(e) => Err(format!("{method}: {e}")),
                    None => Ok(m.get("result").cloned().unwrap_or(Value::Null)),
                };
            }
            if m.get("method").is_some() {
                self.events.push(m);
            }
        }
    }
}

/// A headless Chromium, ended (with its children) when dropped.
pub struct Browser {
    conn: Arc<Mutex<Conn>>,
    child: Child,
    dir: PathBuf,
}

impl Browser {
    /// Start a headless Chromium with a fresh profile under `dir`; `None` when the browser
    /// tests are skipped.
    pub fn launch(dir: &Path) -> Option<Browser> {
        if skipped() {
            eprintln!("skipped: CDEX_SKIP_BROWSER=1");
            return None;
        }
        let Some(chromium) = chromium() else {
            panic!(
                "Chromium is needed for this test: `apt-get install chromium` (or set CDEX_SKIP_BROWSER=1)"
            );
        };
        let profile = dir.join("chromium-profile");
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap();
        let log = std::fs::File::create(dir.join("chromium.log")).unwrap();
        // `exec` keeps one process; its stdin and stdout become fds 3 and 4, and then
        // /dev/null, so that nothing else writes into the protocol's pipe.
        let script = r#"exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null"#;
        use std::os::unix::process::CommandExt as _;
        let mut child = Command::new("sh")
            .args(["-c", script, chromium])
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-features=Translate,MediaRouter,OptimizationHints",
                "--disable-renderer-backgrounding",
                "--disable-background-timer-throttling",
                "--disable-backgrounding-occluded-windows",
                "--remote-debugging-pipe",
                "--window-size=1400,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            // Its own process group: dropping the browser ends its renderers too.
            .process_group(0)
            .spawn()
            .expect("start Chromium");
        let to_browser = child.stdin.take().unwrap();
        let from = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(from);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(0, &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if buf.last() == Some(&0) {
                    buf.pop();
                }
                let Ok(v) = serde_json::from_slice::<Value>(&buf) else {
                    continue;
                };
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        let browser = Browser {
            conn: Arc::new(Mutex::new(Conn {
                to_browser,
                next_id: 0,
                from_browser: rx,
                events: Vec::new(),
            })),
            child,
            dir: dir.to_path_buf(),
        };
        let version = browser
            .call(None, "Browser.getVersion", json!({}))
            .unwrap_or_else(|e| {
                panic!(
                    "Chromium answers no protocol command ({e}): {}",
                    browser.log()
                )
            });
        eprintln!("browser: {}", version["product"]);
        Some(browser)
    }

    fn call(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value, String> {
        self.conn.lock().unwrap().call(session, method, params)
    }

    /// Chromium's standard error so far (for a failure message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("chromium.log")).unwrap_or_default()
    }

    /// A new tab, 1400×900, attached through a flattened session.
    pub fn page(&self) -> Page {
        self.tab(json!({ "url": "about:blank" }))
    }

    /// A tab of a new browser context: its own cookies (another user of the same server).
    pub fn other_user_page(&self) -> Page {
        let context = self
            .call(None, "Target.createBrowserContext", json!({}))
            .expect("create a browser context");
        self.tab(json!({ "url": "about:blank", "browserContextId": context["browserContextId"] }))
    }

    fn tab(&self, params: Value) -> Page {
        let target = self
            .call(None, "Target.createTarget", params)
            .expect("create a tab");
        let target_id = target["targetId"].as_str().unwrap().to_string();
        let attached = self
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target_id, "flatten": true }),
            )
            .expect("attach to the tab");
        let page = Page {
            conn: self.conn.clone(),
            session: attached["sessionId"].as_str().unwrap().to_string(),
        };
        page.call("Page.enable", json!({})).unwrap();
        page.call("Runtime.enable", json!({})).unwrap();
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 1400, "height": 900, "deviceScaleFactor": 1, "mobile": false }),
        )
        .unwrap();
        page
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.call(None, "Browser.close", json!({}));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The whole group by its id (renderers, the zygote), whatever is left of it.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// One tab of the browser.
pub struct Page {
    conn: Arc<Mutex<Conn>>,
    session: String,
}

impl Page {
    /// A protocol command in this tab's session.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        self.conn
            .lock()
            .unwrap()
            .call(Some(&self.session), method, params)
    }

    /// Go to `url` and wait until its document has loaded.
    pub fn navigate(&self, url: &str) {
        // A mark on the current document: the new one does not have it.
        let _ = self.eval("window.__cdpLeaving = true");
        let r = self
            .call("Page.navigate", json!({ "url": url }))
            .unwrap_or_else(|e| panic!("navigate to {url}: {e}"));
        if let Some(e) = r.get("errorText").and_then(Value::as_str) {
            panic!("navigate to {url}: {e}");
        }
        self.wait_for(
            "!window.__cdpLeaving && document.readyState === 'complete' && document.body !== null",
            Duration::from_secs(120),
        )
        .unwrap_or_else(|e| panic!("{url} did not load: {e}"));
    }

    /// Run `js` in every document this tab loads from now on, before the page's own scripts
    /// (a probe: it records what happens from the start).
    pub fn on_new_document(&self, js: &str) {
        self.call(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": js }),
        )
        .expect("add a script to new documents");
    }

    /// The value of a JavaScript expression (a promise is awaited), or the exception it threw.
    pub fn eval(&self, js: &str) -> Result<Value, String> {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": js, "awaitPromise": true, "returnByValue": true }),
        )?;
        if let Some(e) = r.get("exceptionDetails") {
            let text = e
                .pointer("/exception/description")
                .and_then(Value::as_str)
                .or_else(|| e.get("text").and_then(Value::as_str))
                .unwrap_or("exception");
            return Err(format!("{js}: {text}"));
        }
        Ok(r.pointer("/result/value").cloned().unwrap_or(Value::Null))
    }

    /// Poll `condition` (a JavaScript expression) until it is truthy; its value, or an error
    /// naming the condition and its last value after `timeout`.
    pub fn wait_for(&self, condition: &str, timeout: Duration) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        let mut last;
        loop {
            last = self.eval(condition);
            if let Ok(v) = &last
                && truthy(v)
            {
                return Ok(v.clone());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "still not true after {timeout:?}: {condition} (last: {last:?})"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A PNG of the visible 1400×900 viewport, written to `path`.
    pub fn screenshot(&self, path: &Path) {
        let r = self
            .call(
                "Page.captureScreenshot",
                json!({ "format": "png", "captureBeyondViewport": false }),
            )
            .expect("capture a screenshot");
        use base64::Engine as _;
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// The protocol events received so far for this tab (console messages, exceptions...).
    pub fn events(&self, method: &str) -> Vec<Value> {
        self.conn
            .lock()
            .unwrap()
            .events
            .iter()
            .filter(|e| {
                e["method"] == method && e["sessionId"].as_str() == Some(self.session.as_str())
            })
            .cloned()
            .collect()
    }
}

/// JavaScript's truthiness of a returned value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}
