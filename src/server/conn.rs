//! One connection on the webhook port, from accept to close, within the bounds of `server:`: the TLS
//! handshake within `handshakeTimeout`; HTTP/1 or HTTP/2 as ALPN chose (no sniffing, which would wait
//! on the client unbounded); an HTTP/1 request head within `headerTimeout` (hyper's timer, which also
//! closes an idle keep-alive connection); HTTP/2 with at most `maxConcurrentStreams` streams, a
//! bounded header list and hyper's protection against rapid resets; and a connection with no request
//! in flight closed after `headerTimeout` if it never sent one, else after `idleTimeout`. The
//! connection holds one of the `maxConnections` permits until it closes.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
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

/// Requests in flight on a connection, how many it has had, and since when it has had none: counted
/// without waking anything, and read by [`idle`] only when its timer fires (a review costs two atomic
/// updates here, not a wake-up and a timer re-armed).
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    requests: AtomicU64,
    /// Milliseconds from `opened` to when the last request in flight ended.
    idle_since_ms: AtomicU64,
}

impl Activity {
    fn new(opened: Instant) -> Self {
        Self {
            opened,
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            idle_since_ms: AtomicU64::new(0),
        }
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.requests.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// When the connection becomes idle enough to close, as things stand (`None`: a request is in
    /// flight).
    fn closes_at(&self, header_timeout: Duration, idle_timeout: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let limit = if self.requests.load(Ordering::Relaxed) == 0 {
            header_timeout
        } else {
            idle_timeout
        };
        let since = Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire));
        Some(self.opened + since + limit)
    }
}

/// Counts a request in flight for as long as it is.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let ms = u64::try_from(self.0.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.idle_since_ms.fetch_max(ms, Ordering::AcqRel);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Resolves once the connection has had no request in flight for its idle timeout: `header_timeout`
/// before its first request, `idle_timeout` after. Its timer is re-armed only when it fires.
async fn idle(activity: Arc<Activity>, header_timeout: Duration, idle_timeout: Duration) {
    loop {
        let at = match activity.closes_at(header_timeout, idle_timeout) {
            Some(at) if at <= Instant::now() => return,
            Some(at) => at,
            // Busy: look again in a while (a review is answered well within it).
            None => Instant::now() + header_timeout.min(idle_timeout),
        };
        tokio::time::sleep_until(at).await;
    }
}

/// The connection's service: the router, with each request counted in the connection's activity for
/// as long as it is in flight.
#[derive(Clone)]
struct Tracked {
    app: Router,
    activity: Arc<Activity>,
}

impl<B> tower::Service<http::Request<B>> for Tracked
where
    Router: tower::Service<http::Request<B>, Response = axum::response::Response, Error = std::convert::Infallible>,
{
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = TrackedFuture<<Router as tower::Service<http::Request<B>>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower::Service::<http::Request<B>>::poll_ready(&mut self.app, cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let in_flight = self.activity.begin();
        TrackedFuture {
            inner: self.app.call(req),
            _in_flight: in_flight,
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's answer, holding the request's place among those in flight until it is done (or
    /// dropped).
    struct TrackedFuture<F> {
        #[pin]
        inner: F,
        _in_flight: InFlight,
    }
}

impl<F: std::future::Future> std::future::Future for TrackedFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
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
    let activity = Arc::new(Activity::new(Instant::now()));
    let builder = if h2 { &builders.h2 } else { &builders.h1 };
    let service = Tracked {
        app,
        activity: activity.clone(),
    };
    let conn = builder.serve_connection(TokioIo::new(tls), TowerToHyperService::new(service));
    tokio::pin!(conn);
    let idle = idle(activity, limits.header_timeout, limits.idle_timeout);
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
