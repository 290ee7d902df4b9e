//! What every request and response goes through (one middleware, [`guard`]):
//!
//! - The token, when the console requires one (it listens beyond loopback, or `--token`):
//!   `Authorization: Bearer T`, or the `cdex_token` cookie, or `?token=T` once (which sets
//!   that cookie, HttpOnly and SameSite=Strict, and redirects to the same address without
//!   it, so the token stays out of the history and of links). EventSource cannot send
//!   headers: the cookie is what it carries.
//! - Without a token (loopback), the Host header must name this machine (`localhost`,
//!   `127.0.0.1`, `[::1]`): a page of another site whose name was rebound to 127.0.0.1 (DNS
//!   rebinding) is refused.
//! - A POST from another origin is refused (`Origin`, `Sec-Fetch-Site`): CSRF.
//! - The per-browser session (`cdex_session` cookie, random): it owns the runs it starts.
//! - On every response: a strict Content-Security-Policy (no inline script or style, nothing
//!   fetched from elsewhere), `X-Content-Type-Options: nosniff`, no referrer, no framing.

use super::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The policy of every page of the console.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The policy of a run's static report (the file the CLI writes): its styles are inline, and
/// it has no script at all.
pub const REPORT_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

const SESSION_COOKIE: &str = "cdex_session";
const TOKEN_COOKIE: &str = "cdex_token";

/// The browser's session: who owns the runs it starts.
#[derive(Debug, Clone)]
pub struct Session(pub String);

impl Session {
    /// What is stored with a run (on disk too): a hash of the session, never the cookie.
    pub fn owner(&self) -> String {
        sha256_hex(self.0.as_bytes())
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// 128 random bits, hex.
pub fn random_token() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    // The system's generator does not fail on the platforms the harness supports; should it,
    // a token from the clock would be guessable, so refuse to go on.
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random generator works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compare secrets in constant time.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A query parameter of the request, decoded.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text.to_string(),
    )
        .into_response()
}

/// Whether `host` (a Host header) names this machine.
fn is_local_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether a POST (or any request that changes something) comes from a page of this console.
fn same_origin(headers: &HeaderMap) -> bool {
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        // The browser says so (a page cannot set this header). Its `Origin` is `null` then:
        // a form POST from a page under `Referrer-Policy: no-referrer` carries no origin.
        Some("same-origin" | "none") => return true,
        Some(_) => return false,
        None => {}
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        // Not a browser's cross-site request (a browser always sends Origin with a POST).
        None => true,
        Some(origin) => {
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            origin == format!("http://{host}") || origin == format!("https://{host}")
        }
    }
}

/// The token of this request, if it carries one, and whether it came in the query.
fn given_token(req: &Request) -> Option<(String, bool)> {
    let headers = req.headers();
    if let Some(t) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some((t.trim().to_string(), false));
    }
    if let Some(t) = cookie(headers, TOKEN_COOKIE) {
        return Some((t.to_string(), false));
    }
    query_param(req.uri().query(), "token").map(|t| (t, true))
}

/// The address without its `token` parameter.
fn without_token(req: &Request) -> String {
    let path = req.uri().path();
    let rest: Vec<(String, String)> =
        form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .filter(|(k, _)| k != "token")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    if rest.is_empty() {
        return path.to_string();
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(rest)
        .finish();
    format!("{path}?{query}")
}

fn set_cookie(name: &str, value: &str) -> HeaderValue {
    // 30 days: a run started today is still this browser's at the end of the connectathon.
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub async fn guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let mut set_token_cookie = None;
    match &state.inner.token {
        Some(expected) => match given_token(&req) {
            Some((t, from_query)) if same_secret(&t, expected) => {
                if from_query {
                    if req.method() == Method::GET {
                        let mut r =
                            axum::response::Redirect::to(&without_token(&req)).into_response();
                        r.headers_mut()
                            .append(header::SET_COOKIE, set_cookie(TOKEN_COOKIE, expected));
                        return with_headers(r);
                    }
                    set_token_cookie = Some(expected.clone());
                }
            }
            _ => {
                let mut r = plain(
                    StatusCode::UNAUTHORIZED,
                    "This console requires its token: open the address with ?token=... printed when it started, or send Authorization: Bearer ...\n",
                );
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"cdex-harness\""),
                );
                return with_headers(r);
            }
        },
        None => {
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !is_local_host(host) {
                return with_headers(plain(
                    StatusCode::FORBIDDEN,
                    "This console answers only to its own address (localhost, 127.0.0.1); start it with --listen and a token to reach it from elsewhere.\n",
                ));
            }
        }
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) && !same_origin(req.headers()) {
        return with_headers(plain(
            StatusCode::FORBIDDEN,
            "Refused: this request comes from another site's page.\n",
        ));
    }
    let (session, new_session) = match cookie(req.headers(), SESSION_COOKIE) {
        Some(s) if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
            (s.to_string(), false)
        }
        _ => (random_token(), true),
    };
    req.extensions_mut().insert(Session(session.clone()));
    let mut r = next.run(req).await;
    if new_session {
        r.headers_mut()
            .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, &session));
    }
    if let Some(t) = set_token_cookie {
        r.headers_mut()
            .append(header::SET_COOKIE, set_cookie(TOKEN_COOKIE, &t));
    }
    with_headers(r)
}

/// The headers of every response; a handler that set its own policy (the static report)
/// keeps it.
fn with_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hosts() {
        for h in [
            "localhost:8080",
            "127.0.0.1:1",
            "[::1]:80",
            "localhost",
            "127.0.0.2",
        ] {
            assert!(is_local_host(h), "{h}");
        }
        for h in [
            "evil.example:8080",
            "10.0.0.1:80",
            "",
            "localhost.evil.example",
        ] {
            assert!(!is_local_host(h), "{h}");
        }
    }

    #[test]
    fn secrets_compare() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert_eq!(random_token().len(), 32);
    }
}
