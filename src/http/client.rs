//! The harness as an HTTP client of a system under test (reqwest over rustls).

use super::{MAX_BODY_BYTES, Message, RawExchange};
use crate::results::Direction;
use std::time::{Duration, Instant};

/// A request ready to go.
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    pub method: String,
    pub url: String,
    /// Path relative to the base (for display and path assertions).
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

/// Extra CAs the shared client trusts (a generated endpoint certificate's CA).
static SHARED_ROOTS: std::sync::OnceLock<Vec<reqwest::Certificate>> = std::sync::OnceLock::new();

#[derive(Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
}

/// Install the process-wide TLS crypto provider (ring) once.
pub fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl HttpClient {
    /// One client for the whole process: building one loads the system's trusted
    /// certificates, which costs milliseconds; clones share the connection pool.
    pub fn shared() -> Result<HttpClient, String> {
        static SHARED: std::sync::OnceLock<Result<HttpClient, String>> = std::sync::OnceLock::new();
        SHARED
            .get_or_init(|| {
                let roots = SHARED_ROOTS.get().cloned().unwrap_or_default();
                HttpClient::build(roots, None)
                    .map_err(|e| format!("cannot build the HTTP client: {e}"))
            })
            .clone()
    }

    /// Make the shared client (the one the reference actors use) trust these CAs as well.
    /// Only effective before its first use; returns false when too late.
    pub fn trust_in_shared(pem: &[u8]) -> Result<bool, String> {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| format!("not a PEM certificate bundle: {e}"))?;
        Ok(SHARED_ROOTS.set(certs).is_ok())
    }

    pub fn new() -> anyhow::Result<Self> {
        Self::build(Vec::new(), None)
    }

    /// A client trusting `roots` besides the system's CAs, presenting `identity` if given.
    pub fn build(
        roots: Vec<reqwest::Certificate>,
        identity: Option<reqwest::Identity>,
    ) -> anyhow::Result<Self> {
        init_tls();
        let mut builder = reqwest::Client::builder()
            .redirect(redirect_policy())
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("cdex-harness/", env!("CARGO_PKG_VERSION")));
        for root in roots {
            builder = builder.add_root_certificate(root);
        }
        if let Some(id) = identity {
            builder = builder.identity(id);
        }
        Ok(HttpClient {
            inner: builder.build()?,
        })
    }

    /// Send a request; never fails: a transport problem is recorded in the exchange.
    pub async fn send(&self, mut req: OutgoingRequest, timeout: Duration) -> RawExchange {
        let bytes = req.body.take();
        let body = bytes.clone().map(reqwest::Body::from);
        let mut x = self.send_with(req, body, timeout).await;
        x.request.body = bytes.unwrap_or_default();
        x
    }

    /// Send a request whose body is generated and streamed ([`Grown`]): the body is never
    /// whole in memory, and the exchange shows it by size, digest and first bytes.
    pub async fn send_streamed(
        &self,
        req: OutgoingRequest,
        body: &super::grow::Grown,
        timeout: Duration,
    ) -> RawExchange {
        let mut x = self
            .send_with(
                OutgoingRequest { body: None, ..req },
                Some(reqwest::Body::wrap(body.body())),
                timeout,
            )
            .await;
        x.request.stored = Some(std::sync::Arc::new(body.stored()));
        x
    }

    /// Send with the body given apart (bytes, or a stream), recording the exchange.
    async fn send_with(
        &self,
        req: OutgoingRequest,
        body: Option<reqwest::Body>,
        timeout: Duration,
    ) -> RawExchange {
        let at = chrono::Utc::now();
        let start = Instant::now();
        let request = Message {
            method: Some(req.method.clone()),
            url: Some(req.url.clone()),
            path: Some(req.path.clone()),
            status: None,
            headers: req.headers.clone(),
            body: Vec::new(),
            truncated: false,
            stored: None,
            parsed: None,
        };
        let outcome = tokio::time::timeout(timeout, self.exchange_with(req, body)).await;
        let (response, error) = match outcome {
            Ok(Ok(resp)) => (Some(resp), None),
            Ok(Err(e)) => (None, Some(e)),
            Err(_) => (
                None,
                Some(format!(
                    "no complete response within {}",
                    humantime::format_duration(timeout)
                )),
            ),
        };
        RawExchange {
            direction: Direction::Outgoing,
            at,
            duration: start.elapsed(),
            request,
            response,
            error,
        }
    }

    async fn exchange_with(
        &self,
        req: OutgoingRequest,
        body: Option<reqwest::Body>,
    ) -> Result<Message, String> {
        let method =
            reqwest::Method::from_bytes(req.method.as_bytes()).map_err(|e| e.to_string())?;
        let mut builder = self.inner.request(method, &req.url);
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        if let Some(b) = body {
            builder = builder.body(b);
        }
        let mut resp = builder.send().await.map_err(describe)?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = resp.chunk().await.map_err(describe)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                let room = MAX_BODY_BYTES - body.len();
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Message {
            method: None,
            url: None,
            path: None,
            status: Some(status),
            headers,
            body,
            truncated,
            stored: None,
            parsed: None,
        })
    }
}

/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;

/// Follow at most [`MAX_REDIRECTS`] redirects, and only to the same scheme, host and port: a
/// system under test must not be able to send the harness (and its credentials) elsewhere.
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
        }
        let first = attempt.previous().first().cloned();
        let same_origin = first.is_some_and(|f| {
            f.scheme() == attempt.url().scheme()
                && f.host_str() == attempt.url().host_str()
                && f.port_or_known_default() == attempt.url().port_or_known_default()
        });
        if same_origin {
            attempt.follow()
        } else {
            let to = attempt.url().to_string();
            attempt.error(format!(
                "refused to follow a redirect to another origin ({to})"
            ))
        }
    })
}

/// A transport error in words, with its underlying cause.
fn describe(e: reqwest::Error) -> String {
    use std::error::Error;
    let what = if e.is_connect() {
        "could not connect"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_redirect() {
        "a redirect was refused"
    } else if e.is_body() || e.is_decode() {
        "the response body could not be read"
    } else {
        "the request failed"
    };
    let mut cause = String::new();
    let mut src = e.source();
    while let Some(s) = src {
        cause = s.to_string();
        src = s.source();
    }
    if cause.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {cause}")
    }
}
