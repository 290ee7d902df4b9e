//! The mock server's listener: accept connections (plain or TLS) and serve each over HTTP/1
//! until stopped. A connection that cannot be accepted is counted with its error, never
//! passed over in silence: when the process is out of file descriptors, the loop waits a
//! moment for connections to close rather than spin, and whoever runs the server (a
//! simulator's log) says what happened and what to do.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// Connections that could not be accepted, and the last error.
#[derive(Default)]
pub struct AcceptErrors {
    count: AtomicU64,
    last: Mutex<Option<String>>,
}

impl AcceptErrors {
    fn record(&self, e: &std::io::Error) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let what = match e.raw_os_error() {
            Some(libc::EMFILE) | Some(libc::ENFILE) => {
                format!("{e}: the process is out of file descriptors (raise the limit: ulimit -n)")
            }
            _ => e.to_string(),
        };
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(what);
    }

    /// How many so far, and the last error.
    pub fn get(&self) -> (u64, Option<String>) {
        (
            self.count.load(Ordering::Relaxed),
            self.last.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        )
    }
}

/// An error about one connection (it went away before it was accepted): the next one may
/// be accepted at once.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset | Interrupted
    )
}

/// How long to wait after an accept error that is not about one connection (out of file
/// descriptors or memory) before trying again.
const BACKOFF: Duration = Duration::from_millis(20);

/// How long a TLS handshake may take.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// Accept until `stop`, then let the connections in progress finish what they are doing
/// (idle keep-alive connections are closed).
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: axum::Router,
    mut stop: oneshot::Receiver<()>,
    errors: std::sync::Arc<AcceptErrors>,
) {
    let (closing_tx, closing) = watch::channel(false);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut stop => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                errors.record(&e);
                if !is_connection_error(&e) {
                    tokio::select! {
                        _ = tokio::time::sleep(BACKOFF) => {}
                        _ = &mut stop => break,
                    }
                }
                continue;
            }
        };
        // Small answers go out at once, not held back by Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let closing = closing.clone();
        match &tls {
            None => {
                tokio::spawn(connection(tcp, app, closing));
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A failed handshake (a peer that does not trust the certificate, or
                    // speaks plain HTTP) ends that connection only.
                    if let Ok(Ok(stream)) =
                        tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await
                    {
                        connection(stream, app, closing).await;
                    }
                });
            }
        }
    }
    drop(listener);
    let _ = closing_tx.send(true);
}

/// Serve one connection until it closes, or until `closing` (then after the request in
/// progress).
async fn connection<S>(stream: S, app: axum::Router, mut closing: watch::Receiver<bool>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper_util::service::TowerToHyperService::new(app);
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = closing.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Raise this process's soft limit on open files to its hard limit (as servers do): each
/// connection is a file descriptor, and the usual soft limit (1,024) is reached by a
/// thousand partners' connections. Returns the limit now in force.
pub fn raise_open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit with a pointer to a local rlimit.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return None;
            }
            if lim.rlim_cur < lim.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: lim.rlim_max,
                    rlim_max: lim.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    lim = raised;
                }
            }
        }
        Some(lim.rlim_cur)
    }
    #[cfg(not(unix))]
    None
}
