//! One connection on the webhook port, from accept to close, within the bounds of `server:`: the TLS
//! handshake within `handshakeTimeout`; HTTP/1 or HTTP/2 as ALPN chose (no sniffing, which would wait
//! on the client unbounded); an HTTP/1 request head within `headerTimeout` (hyper's timer, which also
//! closes an idle keep-alive connection); HTTP/2 with at most `maxConcurrentStreams` streams, a
//! bounded header list and hyper's protection against rapid resets; and a connection with no request
//! in flight closed after `headerTimeout` if it never sent one, else after `idleTimeout`. The
//! connection holds one of the `maxConnections` permits until it closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tracing::debug;

use crate::config::ServerConfig;
use crate::metrics::{PhaseLabels, ServeMetrics};

/// The largest HTTP/2 header list accepted, and the HTTP/1 read buffer: an AdmissionReview's headers
/// are a few hundred bytes.
const MAX_HEADER_LIST: u32 = 64 * 1024;
const MAX_H1_BUFFER: usize = 64 * 1024;
/// HTTP/2 streams a client may reset before hyper has answered them, and streams hyper may reset for
/// the client's errors, before the connection is closed (CVE-2023-44487, "rapid reset";
/// RUSTSEC-2024-0003).
const MAX_PENDING_RESETS: usize = 20;
const MAX_ERROR_RESETS: usize = 256;

/// The HTTP builders, made once: one for HTTP/1.1 and one for HTTP/2.
#[derive(Clone)]
pub(super) struct Builders {
    h1: auto::Builder<TokioExecutor>,
    h2: auto::Builder<TokioExecutor>,
}

impl Builders {
    pub fn new(limits: &ServerConfig) -> Self {
        let mut h1 = auto::Builder::new(TokioExecutor::new()).http1_only();
        h1.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_buf_size(MAX_H1_BUFFER);
        let mut h2 = auto::Builder::new(TokioExecutor::new()).http2_only();
        h2.http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(limits.max_concurrent_streams)
            .max_header_list_size(MAX_HEADER_LIST)
            .max_pending_accept_reset_streams(MAX_PENDING_RESETS)
            .max_local_error_reset_streams(MAX_ERROR_RESETS);
        Self { h1, h2 }
    }
}

/// Requests in flight on a connection, and since when it has had none.
#[derive(Debug, Clone, Copy)]
struct Activity {
    in_flight: usize,
    idle_since: Instant,
    requests: u64,
}

/// Counts a request in flight for as long as it is.
struct InFlight(watch::Sender<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|a| {
            a.in_flight -= 1;
            if a.in_flight == 0 {
                a.idle_since = Instant::now();
            }
        });
    }
}

async fn track(
    axum::extract::State(activity): axum::extract::State<watch::Sender<Activity>>,
    req: Request,
    next: Next,
) -> Response {
    activity.send_modify(|a| {
        a.in_flight += 1;
        a.requests += 1;
    });
    let _in_flight = InFlight(activity);
    next.run(req).await
}

/// Resolves once the connection has had no request in flight for its idle timeout: `header_timeout`
/// before its first request, `idle_timeout` after.
async fn idle(mut activity: watch::Receiver<Activity>, header_timeout: Duration, idle_timeout: Duration) {
    loop {
        let a = *activity.borrow_and_update();
        if a.in_flight > 0 {
            if activity.changed().await.is_err() {
                return std::future::pending().await;
            }
            continue;
        }
        let limit = if a.requests == 0 { header_timeout } else { idle_timeout };
        tokio::select! {
            () = tokio::time::sleep_until(a.idle_since + limit) => return,
            changed = activity.changed() => if changed.is_err() {
                return std::future::pending().await;
            },
        }
    }
}

/// An open connection: counted in `scopegate_connections_open`, holding its permit until dropped.
struct Open {
    metrics: Arc<ServeMetrics>,
    _permit: OwnedSemaphorePermit,
}

impl Open {
    fn new(metrics: Arc<ServeMetrics>, permit: OwnedSemaphorePermit) -> Self {
        metrics.connections_open.inc();
        Self {
            metrics,
            _permit: permit,
        }
    }

    fn timed_out(&self, phase: &'static str) {
        self.metrics
            .connections_timed_out
            .get_or_create(&PhaseLabels { phase })
            .inc();
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.metrics.connections_open.dec();
    }
}

/// Sleep until `at`, or for ever without one.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What a connection needs from the server.
pub(super) struct Conn {
    pub tcp: TcpStream,
    pub peer: SocketAddr,
    pub acceptor: TlsAcceptor,
    pub app: Router,
    pub builders: Builders,
    pub limits: ServerConfig,
    pub metrics: Arc<ServeMetrics>,
    pub stop: watch::Receiver<bool>,
    pub permit: OwnedSemaphorePermit,
}

/// Serve one connection until it closes (or the server stops: then it finishes its in-flight
/// requests and closes).
pub(super) async fn serve(c: Conn) {
    let Conn {
        tcp,
        peer,
        acceptor,
        app,
        builders,
        limits,
        metrics,
        mut stop,
        permit,
    } = c;
    let open = Open::new(metrics, permit);
    let tls = match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            open.timed_out("handshake");
            debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let now = Instant::now();
    let (activity, watching) = watch::channel(Activity {
        in_flight: 0,
        idle_since: now,
        requests: 0,
    });
    let app = app.layer(axum::middleware::from_fn_with_state(activity, track));
    let builder = if h2 { &builders.h2 } else { &builders.h1 };
    let conn = builder.serve_connection(TokioIo::new(tls), TowerToHyperService::new(app));
    tokio::pin!(conn);
    let idle = idle(watching, limits.header_timeout, limits.idle_timeout);
    tokio::pin!(idle);
    let mut closing = false;
    // An idle connection is asked to close, and dropped if it has not within a header timeout more
    // (an HTTP/2 client that never sent its preface cannot take part in a graceful close).
    let mut drop_at: Option<Instant> = None;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = &mut idle, if !closing => {
                open.timed_out("idle");
                debug!(%peer, "closing an idle connection");
                closing = true;
                drop_at = Some(Instant::now() + limits.header_timeout);
                conn.as_mut().graceful_shutdown();
            }
            () = sleep_until_some(drop_at) => {
                debug!(%peer, "dropping an idle connection that did not close");
                return;
            }
            changed = stop.changed(), if !closing => {
                if changed.is_err() || *stop.borrow() {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
