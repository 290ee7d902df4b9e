//! The mock FHIR endpoint (axum): every request is recorded, then answered by a canned
//! response a scenario registered, or by the current [`Handler`].

use super::tls::ServerTls;
use super::{Handler, Recorder};
use crate::http::bodies::{BodyStore, MAX_SPILLED_BODY, Spill};
use crate::http::{MAX_BODY_BYTES, Message, RawExchange, StoredBody};
use crate::results::Direction;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A canned answer for requests matching a method and path pattern.
#[derive(Debug, Clone)]
pub struct Override {
    pub method: Option<String>,
    pub path: Option<String>,
    pub response: Message,
}

/// Where every exchange goes instead of the [`Recorder`] (a simulator's live check): called
/// on the request path, so it must not wait.
pub type Tap = Arc<dyn Fn(RawExchange) + Send + Sync>;

struct Shared {
    handler: RwLock<Arc<dyn Handler>>,
    recorder: Arc<Recorder>,
    tap: Option<Tap>,
    overrides: Mutex<Vec<Override>>,
    base_url: String,
    /// How long a request body may take to arrive, in milliseconds (see
    /// [`MockServer::set_body_timeout`]).
    body_timeout_ms: AtomicU64,
    /// Where a large incoming body is written as it arrives (see
    /// [`MockServer::set_body_store`]).
    bodies: RwLock<Option<BodyStore>>,
}

/// How long a request body may take to arrive by default: a client that trickles its body
/// (or announces more than it sends) gets 408 after this, and its connection is closed.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running mock server. Dropping it stops it.
pub struct MockServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    accept_errors: Arc<super::accept::AcceptErrors>,
}

impl MockServer {
    /// Bind `addr` (port 0 for any free port) and serve with `handler`.
    pub async fn start(addr: SocketAddr, handler: Arc<dyn Handler>) -> std::io::Result<MockServer> {
        Self::start_with(addr, handler, None).await
    }

    /// Bind `addr` and serve with `handler`, over TLS when `tls` is given (`https://` base).
    pub async fn start_with(
        addr: SocketAddr,
        handler: Arc<dyn Handler>,
        tls: Option<&ServerTls>,
    ) -> std::io::Result<MockServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        Self::start_on(listener, handler, tls, None).await
    }

    /// Serve on a bound `listener` with `handler`, over TLS when `tls` is given; with a
    /// `tap`, every exchange goes to it and the [`recorder`](Self::recorder) stays empty.
    pub async fn start_on(
        listener: tokio::net::TcpListener,
        handler: Arc<dyn Handler>,
        tls: Option<&ServerTls>,
        tap: Option<Tap>,
    ) -> std::io::Result<MockServer> {
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let shared = Arc::new(Shared {
            handler: RwLock::new(handler),
            recorder: Arc::new(Recorder::default()),
            tap,
            overrides: Mutex::new(Vec::new()),
            base_url: format!("{scheme}://{addr}"),
            body_timeout_ms: AtomicU64::new(DEFAULT_BODY_TIMEOUT.as_millis() as u64),
            bodies: RwLock::new(None),
        });
        let app = axum::Router::new()
            .fallback(serve)
            .with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let accept_errors = Arc::new(super::accept::AcceptErrors::default());
        let tls = tls.map(|t| tokio_rustls::TlsAcceptor::from(t.config.clone()));
        tokio::spawn(super::accept::serve(
            listener,
            tls,
            app,
            rx,
            accept_errors.clone(),
        ));
        Ok(MockServer {
            shared,
            addr,
            stop: Some(tx),
            accept_errors,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections that could not be accepted so far (out of file descriptors...).
    pub fn accept_errors(&self) -> Arc<super::accept::AcceptErrors> {
        self.accept_errors.clone()
    }

    /// How long a request body may take to arrive before the answer is 408 (the run uses its
    /// `--timeout`; [`DEFAULT_BODY_TIMEOUT`] otherwise).
    pub fn set_body_timeout(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1);
        self.shared.body_timeout_ms.store(ms, Ordering::Relaxed);
    }

    /// Write an incoming body longer than the store's threshold to a file as it arrives
    /// (the request's `stored`, its `body` left empty), rather than hold it; a counterpart
    /// that accepts more than the in-memory limit (its `max_body`) may then get up to
    /// [`MAX_SPILLED_BODY`] bytes. `None`: every body is held in memory (up to
    /// [`MAX_BODY_BYTES`]).
    pub fn set_body_store(&self, store: Option<BodyStore>) {
        *self
            .shared
            .bodies
            .write()
            .unwrap_or_else(|p| p.into_inner()) = store;
    }

    /// The FHIR base URL (no path prefix).
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    pub fn recorder(&self) -> &Arc<Recorder> {
        &self.shared.recorder
    }

    /// Answer with a different actor from now on (a fresh one per scenario).
    pub fn set_handler(&self, handler: Arc<dyn Handler>) {
        *self
            .shared
            .handler
            .write()
            .unwrap_or_else(|p| p.into_inner()) = handler;
    }

    pub fn handler(&self) -> Arc<dyn Handler> {
        self.shared
            .handler
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn push_override(&self, o: Override) {
        self.shared
            .overrides
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(o);
    }

    pub fn clear_overrides(&self) {
        self.shared
            .overrides
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Does a request path (relative, no query) match a pattern where `*` is one segment?
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let (pattern, path) = if is_absolute(pattern) == is_absolute(path) {
        (pattern, path)
    } else {
        (without_origin(pattern), without_origin(path))
    };
    let pattern = normalize_path(pattern);
    let path = normalize_path(path);
    let pattern = pattern
        .trim_start_matches('/')
        .split('?')
        .next()
        .unwrap_or("");
    let path = path.trim_start_matches('/');
    let p: Vec<&str> = pattern.split('/').collect();
    let a: Vec<&str> = path.split('/').collect();
    p.len() == a.len() && p.iter().zip(&a).all(|(p, a)| *p == "*" || p == a)
}

fn is_absolute(p: &str) -> bool {
    p.starts_with("http://") || p.starts_with("https://")
}

/// A URL's path (from its first `/` after the host); anything else as it is. A pattern
/// written as an absolute URL (`{{harness_url}}/$submit-attachment`, the address the pack
/// gave a peer) is matched against a relative request path by its path: the harness's
/// endpoint has no path prefix. Two absolute URLs are compared whole.
fn without_origin(pattern: &str) -> &str {
    for scheme in ["http://", "https://"] {
        if let Some(rest) = pattern.strip_prefix(scheme) {
            return match rest.find('/') {
                Some(i) => &rest[i..],
                None => "",
            };
        }
    }
    pattern
}

/// Does a request's method match a pattern: a method, or alternatives `POST|PUT`?
pub fn method_matches(pattern: &str, method: &str) -> bool {
    pattern
        .split('|')
        .any(|m| m.trim().eq_ignore_ascii_case(method))
}

/// Does a request (path and query, relative) match a pattern? The path part must match
/// segment by segment (`*` is any one segment); every `name=value` in the pattern's query
/// must be in the request's, a reference value given as an id matching the same id written
/// `Type/id` or as an absolute URL (R4 search: `patient=23` and `patient=Patient/23` are the
/// same search). `A|B` matches either pattern.
pub fn request_matches(pattern: &str, path_and_query: &str) -> bool {
    if pattern.contains('|') && !pattern.contains('?') {
        return pattern
            .split('|')
            .any(|p| request_matches(p.trim(), path_and_query));
    }
    if pattern.contains('|') && pattern.contains('?') {
        // `|` may be part of a query value (`identifier=system|value`): the whole pattern
        // first, then as alternatives split where a resource type follows (`Bundle/x|Task?a=b`).
        if single_request_matches(pattern, path_and_query) {
            return true;
        }
        let alternatives = split_alternatives(pattern);
        return alternatives.len() > 1
            && alternatives
                .iter()
                .any(|p| single_request_matches(p, path_and_query));
    }
    single_request_matches(pattern, path_and_query)
}

/// Split `A|B` where B starts with a resource type (an upper-case letter, then letters, up to
/// `/`, `?` or the end), leaving a `|` inside a query value alone.
fn split_alternatives(pattern: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, _) in pattern.match_indices('|') {
        let rest = &pattern[i + 1..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        let after = rest[name.len()..].chars().next();
        let is_type = name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && matches!(after, None | Some('/') | Some('?') | Some('|'));
        if is_type {
            parts.push(pattern[start..i].trim());
            start = i + 1;
        }
    }
    parts.push(pattern[start..].trim());
    parts
}

fn single_request_matches(pattern: &str, path_and_query: &str) -> bool {
    let (ppath, pquery) = pattern.split_once('?').unwrap_or((pattern, ""));
    let (apath, aquery) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    if !path_matches(ppath, apath) {
        return false;
    }
    let actual: Vec<(String, String)> = form_urlencoded::parse(aquery.as_bytes())
        .into_owned()
        .collect();
    form_urlencoded::parse(pquery.as_bytes())
        .into_owned()
        .all(|(name, value)| {
            actual
                .iter()
                .any(|(n, v)| *n == name && (*v == value || v.ends_with(&format!("/{value}"))))
        })
}

async fn serve(State(shared): State<Arc<Shared>>, req: Request<Body>) -> Response<Body> {
    let at = chrono::Utc::now();
    let start = Instant::now();
    let (parts, body) = req.into_parts();
    let raw = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    // An operation's `$` may come percent-encoded (`%24submit-attachment`): handlers, canned
    // answers and checks all see it written `$`.
    let path_and_query = normalize_path(raw);
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                crate::http::lossy_text(v.as_bytes()),
            )
        })
        .collect();
    let mut request = Message {
        method: Some(parts.method.as_str().to_string()),
        url: Some(format!("{}{}", shared.base_url, path_and_query)),
        path: Some(path_and_query.trim_start_matches('/').to_string()),
        status: None,
        headers,
        body: Vec::new(),
        truncated: false,
        stored: None,
        parsed: None,
    };
    let method = parts.method.as_str();
    let rel = request.path.clone().unwrap_or_default();
    let canned = canned(&shared, method, &rel);
    // The counterpart's own size limit (a Payer's documented maximum), asked before a byte
    // of the body is read; a canned answer has none.
    let handler_limit = match &canned {
        Some(_) => None,
        None => current_handler(&shared).max_body(method, rel.split('?').next().unwrap_or("")),
    };
    let limit = Duration::from_millis(shared.body_timeout_ms.load(Ordering::Relaxed));
    let store = shared
        .bodies
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let content_type = request.header("content-type").map(str::to_string);
    let mut reading = std::pin::pin!(read_body(
        body,
        handler_limit,
        store,
        content_type.as_deref()
    ));
    // A small body has usually arrived with the headers: read at once, no timer set; only a
    // body still on its way is given the deadline.
    let read =
        match std::future::poll_fn(|cx| std::task::Poll::Ready(reading.as_mut().poll(cx))).await {
            std::task::Poll::Ready(got) => Ok(got),
            std::task::Poll::Pending => tokio::time::timeout(limit, reading).await,
        };
    let (response, error) = match read {
        Ok(Ok(got)) => {
            match got {
                Read::Memory(bytes) => request.body = bytes,
                Read::Stored(s) => request.stored = Some(Arc::new(s)),
            }
            // A JSON body is parsed once here: the handler that answers it and the live check
            // that validates it share the parse.
            if looks_like_json(&request.body) {
                request.parse_once();
            }
            let r = match canned {
                Some(r) => r,
                None => current_handler(&shared).handle(&request),
            };
            (r, None)
        }
        Err(_) => {
            let msg = format!(
                "the request body did not arrive within {}",
                humantime::format_duration(limit)
            );
            request.truncated = true;
            let mut r = super::outcome(408, "timeout", &msg);
            // The rest of the body may still come: the connection is not reused.
            r.headers.push(("Connection".into(), "close".into()));
            (r, Some(msg))
        }
        Ok(Err(BodyError::TooLarge { max, seen, rest })) => {
            let announced = parts
                .headers
                .get(axum::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let size = announced.unwrap_or(seen).max(seen);
            let msg = format!(
                "the request body ({}) is larger than the {max} bytes this endpoint accepts",
                match announced {
                    Some(n) => format!("{n} bytes"),
                    None => format!("over {seen} bytes"),
                }
            );
            request.truncated = true;
            request.stored = Some(Arc::new(crate::http::StoredBody::not_kept(size)));
            // Let the client finish sending (discarded, never kept) so it reads the answer
            // rather than a reset connection; then the connection closes.
            if let Some(rest) = rest {
                tokio::spawn(discard(rest, limit));
            }
            // R4 IssueType `too-long`: "Provided content is too long (typically, this is a denial
            // of service protection type of error)".
            let mut r = super::outcome(413, "too-long", &msg);
            r.headers.push(("Connection".into(), "close".into()));
            (r, Some(msg))
        }
        Ok(Err(BodyError::Unstored(e))) => {
            let msg = format!("the harness could not keep the request body: {e}");
            request.truncated = true;
            (super::outcome(500, "exception", &msg), Some(msg))
        }
        Ok(Err(BodyError::Unreadable(e))) => {
            let msg = format!("request body unreadable: {e}");
            request.truncated = true;
            (super::outcome(400, "structure", &msg), Some(msg))
        }
    };
    let reply = to_axum(&response);
    let exchange = RawExchange {
        direction: Direction::Incoming,
        at,
        duration: start.elapsed(),
        request,
        response: Some(response),
        error,
    };
    match &shared.tap {
        Some(tap) => tap(exchange),
        None => shared.recorder.record(exchange),
    }
    reply
}

/// A body in memory whose first byte past white space opens a JSON object: one worth parsing
/// before the handler asks (a FHIR resource).
fn looks_like_json(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// `%24` (an operation's `$` percent-encoded) written `$` in the path part of a request
/// target; the query is left as it came.
pub fn normalize_path(path_and_query: &str) -> std::borrow::Cow<'_, str> {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    if !path.contains("%24") {
        return std::borrow::Cow::Borrowed(path_and_query);
    }
    let mut out = path.replace("%24", "$");
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    std::borrow::Cow::Owned(out)
}

fn current_handler(shared: &Shared) -> Arc<dyn Handler> {
    shared
        .handler
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

enum BodyError {
    /// Past the limit: how much was read, and the rest of the body (unread).
    TooLarge {
        max: u64,
        seen: u64,
        rest: Option<Body>,
    },
    Unreadable(String),
    /// The body could not be written to disk.
    Unstored(String),
}

/// A body read: in memory, or (past the store's threshold) in a file.
enum Read {
    Memory(Vec<u8>),
    Stored(StoredBody),
}

/// Read a request body up to `handler_limit` (or the mock's own [`MAX_BODY_BYTES`]),
/// refusing it as soon as the announced length or the bytes read pass the limit: the rest is
/// never buffered. With a store, a body past its threshold goes to a file as it arrives (and
/// a handler's limit may then exceed the in-memory one, up to [`MAX_SPILLED_BODY`]).
async fn read_body(
    mut body: Body,
    handler_limit: Option<u64>,
    store: Option<BodyStore>,
    content_type: Option<&str>,
) -> Result<Read, BodyError> {
    use axum::body::HttpBody;
    let max = match (handler_limit, &store) {
        (Some(l), Some(_)) => l.min(MAX_SPILLED_BODY),
        (Some(l), None) => l.min(MAX_BODY_BYTES as u64),
        (None, _) => MAX_BODY_BYTES as u64,
    };
    if let Some(n) = body.size_hint().exact()
        && n > max
    {
        return Err(BodyError::TooLarge {
            max,
            seen: 0,
            rest: Some(body),
        });
    }
    let mut out = Vec::new();
    let mut spill: Option<Spill> = None;
    loop {
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => {
                return match spill {
                    Some(s) => s
                        .finish(content_type)
                        .await
                        .map(Read::Stored)
                        .map_err(BodyError::Unstored),
                    None => Ok(Read::Memory(out)),
                };
            }
            Some(Err(e)) => return Err(BodyError::Unreadable(e.to_string())),
            Some(Ok(f)) => {
                let Ok(data) = f.into_data() else { continue };
                let held = spill.as_ref().map_or(out.len() as u64, Spill::size);
                let seen = held + data.len() as u64;
                if seen > max {
                    if let Some(s) = spill.take() {
                        s.abandon().await;
                    }
                    return Err(BodyError::TooLarge {
                        max,
                        seen,
                        rest: Some(body),
                    });
                }
                match (&mut spill, &store) {
                    (Some(s), _) => s.write(&data).await.map_err(BodyError::Unstored)?,
                    (None, Some(st)) if out.len() + data.len() > st.threshold => {
                        out.extend_from_slice(&data);
                        spill = Some(st.spill(&out).await.map_err(BodyError::Unstored)?);
                        out = Vec::new();
                    }
                    (None, _) => out.extend_from_slice(&data),
                }
            }
        }
    }
}

/// Read and drop what is left of a refused body, for at most `limit` and [`MAX_DISCARDED`]
/// bytes.
async fn discard(mut body: Body, limit: Duration) {
    use axum::body::HttpBody;
    let mut seen: u64 = 0;
    let _ = tokio::time::timeout(limit, async {
        while let Some(Ok(f)) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
        {
            if let Ok(d) = f.into_data() {
                seen += d.len() as u64;
                if seen > MAX_DISCARDED {
                    return;
                }
            }
        }
    })
    .await;
}

/// The most bytes of a refused body read (and dropped) so the client sees the answer.
pub const MAX_DISCARDED: u64 = 4 * 1024 * 1024 * 1024;

/// The canned answer a scenario registered for this method and path, if any.
fn canned(shared: &Shared, method: &str, path: &str) -> Option<Message> {
    let overrides = shared.overrides.lock().unwrap_or_else(|p| p.into_inner());
    overrides
        .iter()
        .find(|o| {
            o.method
                .as_deref()
                .is_none_or(|m| method_matches(m, method))
                && o.path.as_deref().is_none_or(|p| request_matches(p, path))
        })
        .map(|o| o.response.clone())
}

/// The answer on the wire; `m` itself goes to the recorder (or the simulator's live check).
fn to_axum(m: &Message) -> Response<Body> {
    let mut resp = Response::new(Body::from(m.body.clone()));
    *resp.status_mut() =
        StatusCode::from_u16(m.status.unwrap_or(200)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in &m.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(k.as_str()),
            HeaderValue::try_from(v.as_str()),
        ) {
            resp.headers_mut().append(name, value);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::path_matches;

    #[test]
    fn patterns() {
        assert!(path_matches("Condition", "Condition"));
        assert!(path_matches("/Condition/*", "Condition/123"));
        assert!(!path_matches("Condition/*", "Condition"));
        assert!(!path_matches("Condition", "Observation"));
        assert!(super::request_matches(
            "Condition?patient=p1",
            "Condition?_count=5&patient=p1"
        ));
        assert!(super::request_matches(
            "Condition?patient=p%7C1",
            "Condition?patient=p|1"
        ));
        assert!(!super::request_matches("Condition?patient=p1", "Condition"));
        assert!(super::request_matches("Condition", "Condition?patient=p1"));
    }
}

#[cfg(test)]
mod matching_tests {
    use super::{method_matches, request_matches};

    #[test]
    fn alternatives_and_reference_forms_match() {
        assert!(method_matches("POST|PUT", "put"));
        assert!(!method_matches("POST|PUT", "GET"));
        assert!(request_matches(
            "Communication|Communication/*",
            "Communication"
        ));
        assert!(request_matches(
            "Communication|Communication/*",
            "Communication/abc-1"
        ));
        assert!(!request_matches(
            "Communication|Communication/*",
            "Task/abc-1"
        ));
        // A reference search parameter: the id, `Type/id` or an absolute URL.
        let want = "Communication?patient=p1";
        assert!(request_matches(want, "Communication?patient=p1"));
        assert!(request_matches(
            want,
            "Communication?patient=Patient/p1&_count=10"
        ));
        assert!(request_matches(
            want,
            "Communication?patient=http://x/fhir/Patient/p1"
        ));
        assert!(!request_matches(want, "Communication?patient=Patient/p12"));
        assert!(!request_matches(want, "Communication?subject=Patient/p1"));
        // A query with `|` (a token) is not split into alternatives.
        assert!(request_matches(
            "Communication?identifier=urn:x|k1",
            "Communication?identifier=urn%3Ax%7Ck1"
        ));
        // A token whose value starts with a capital is still one pattern.
        assert!(request_matches(
            "Patient?identifier=urn:x|Member123",
            "Patient?identifier=urn%3Ax%7CMember123"
        ));
        assert!(!request_matches(
            "Patient?identifier=urn:x|Member123",
            "Member123"
        ));
        // Alternatives where one has a query: split before each resource type.
        let out = "Bundle/b1|Bundle|Task?_include=Task:output";
        assert!(request_matches(out, "Bundle/b1"));
        assert!(request_matches(out, "Bundle?_id=b1"));
        assert!(request_matches(out, "Task?_id=t1&_include=Task:output"));
        assert!(!request_matches(out, "Task?_id=t1"));
        assert!(!request_matches(out, "Task/t1"));
    }
}
