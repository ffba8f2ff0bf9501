//! The HTTPS server: the axum router for `/validate`, `/mutate`, `/healthz` and `/readyz`, behind
//! rustls with certificate hot-reload; the plain-HTTP admin port (`/healthz`, `/readyz`, `/metrics`);
//! a graceful stop that loses no accepted review.
//!
//! [`wire`] reads and writes the admission wire format; [`review`] answers one request with the
//! engine's judgement; [`tls`] serves and reloads the certificate.

mod conn;
pub mod review;
pub mod tls;
pub mod wire;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

use crate::admin::Admin;
use crate::config::Config;
use crate::engine::{Engine, Origin};
use crate::metrics::{
    AdmissionLabels, BudgetLabels, EngineMetrics, Registry, ResultLabels, SecretLabels, ServeMetrics, WebhookLabels,
    flag,
};
use crate::policy::Outcome;
use review::Webhook;
use wire::WebhookQuery;

/// An AdmissionReview for a Secret holds at most two 1 MiB objects, base64-inflated, plus metadata.
pub const MAX_BODY: usize = 8 << 20;
/// The most memory the request bodies being read and judged may take together, in bytes. Each body
/// takes room as its bytes arrive (a connection that declares a large body and sends nothing takes
/// none) and gives it back when its answer is sent; a chunk that does not fit waits for room.
/// Reviews from the API server are a few KiB: this bounds what large bodies on many connections at
/// once can take, which `maxConnections` alone does not (1024 × 8 MiB).
const BODY_MEMORY: usize = 48 << 20;
/// How long a body may take to arrive, waits for room included; then it is answered 408 and its
/// room given back.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the accept loop pauses after an accept fails.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// How long a stop waits for in-flight reviews.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(25);

/// What `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// The plain-HTTP admin port (`/healthz`, `/readyz`, `/metrics`); `None` serves none.
    pub admin_listen: Option<SocketAddr>,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// Require and verify client certificates against this CA bundle.
    pub client_ca: Option<PathBuf>,
    /// How often the certificate files are checked for a change.
    pub tls_reload_interval: Duration,
    pub config: Config,
}

impl ServeOptions {
    pub fn new(listen: SocketAddr, tls_cert: PathBuf, tls_key: PathBuf, config: Config) -> Self {
        Self {
            listen,
            admin_listen: None,
            tls_cert,
            tls_key,
            client_ca: None,
            tls_reload_interval: Duration::from_secs(5),
            config,
        }
    }
}

/// Shared by every request.
struct AppState {
    engine: Engine,
    metrics: Arc<ServeMetrics>,
    admin: Admin,
    /// Room for request bodies, in bytes ([`BODY_MEMORY`]).
    bodies: tokio::sync::Semaphore,
}

/// What a connection's requests share: the server's state, and where the connection came from, for
/// the invalid-token budgets (an address, where no client certificate is required).
#[derive(Clone)]
struct PerConnection {
    state: Arc<AppState>,
    origin: Origin,
}

/// The webhook's routes; each connection gets them with its own [`PerConnection`] state.
fn router() -> Router<PerConnection> {
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .route("/healthz", get(crate::admin::healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
}

/// The API server's query (`?timeout=10s`); one that cannot be read gives no timeout.
type WebhookParams = Result<Query<WebhookQuery>, QueryRejection>;

async fn validate(State(conn): State<PerConnection>, query: WebhookParams, body: Body) -> Response {
    // Boxed once here: the review's state (the request, the Secret, the judgement) is a kilobyte or
    // so, and the router's futures around this one would otherwise move it several times per review.
    Box::pin(handle(&conn.state, Webhook::Validate, conn.origin, query, body)).await
}

async fn mutate(State(conn): State<PerConnection>, query: WebhookParams, body: Body) -> Response {
    Box::pin(handle(&conn.state, Webhook::Mutate, conn.origin, query, body)).await
}

async fn readyz(State(conn): State<PerConnection>) -> Response {
    if conn.state.admin.is_ready() {
        "ok".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such endpoint: scopegate serves POST /validate, POST /mutate, GET /healthz and GET /readyz".into(),
    )
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn handle(state: &AppState, webhook: Webhook, origin: Origin, query: WebhookParams, body: Body) -> Response {
    let start = Instant::now();
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {} MiB or was cut off", MAX_BODY >> 20),
        )
    };
    if axum::body::HttpBody::size_hint(&body)
        .exact()
        .is_some_and(|n| n > MAX_BODY as u64)
    {
        // Declared too large: answered without reading it.
        return too_large();
    }
    let (bytes, _room) = match tokio::time::timeout_at(start + BODY_TIMEOUT, read_body(body, &state.bodies)).await {
        Ok(Ok(read)) => read,
        Ok(Err(BodyError::TooLarge)) => return too_large(),
        Ok(Err(BodyError::Broken)) => {
            return error(StatusCode::BAD_REQUEST, "the body was cut off".into());
        }
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the body did not arrive within {}",
                    humantime::format_duration(BODY_TIMEOUT)
                ),
            );
        }
    };
    let req = match wire::parse(&bytes) {
        Ok(r) => r,
        Err(e) => {
            warn!(webhook = webhook.as_str(), error = %e, "rejected a body that is not an AdmissionReview");
            return error(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
    let timeout = query.ok().and_then(|Query(q)| q.timeout());
    let deadline = wire::deadline(timeout, start);
    let (answer, summary) = review::review(&state.engine, webhook, req, Some(deadline), origin).await;
    let elapsed = start.elapsed();
    record(&state.metrics, webhook, &summary, elapsed);
    info!(
        uid = summary.uid.as_str(),
        webhook = webhook.as_str(),
        namespace = summary.namespace.as_str(),
        name = summary.name.as_str(),
        operation = review::operation_name(&summary.operation),
        verdict = summary.verdict.as_str(),
        allowed = summary.allowed,
        dry_run = summary.dry_run,
        cache_hit = summary.cache_hit,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "admission review"
    );
    match wire::to_json(&answer) {
        Ok(bytes) => ([(axum::http::header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => {
            // Not reachable with kube's types; if it were, the API server's failurePolicy decides.
            tracing::error!(uid = %summary.uid, error = %e, "cannot serialise the response");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot serialise the response".into(),
            )
        }
    }
}

enum BodyError {
    TooLarge,
    Broken,
}

/// A request body, at most [`MAX_BODY`], taking room in `room` for each chunk as it arrives; the
/// room is held until the returned permit is dropped. A body that came in one chunk (the usual
/// review) is returned as it came, without a copy.
async fn read_body(
    body: Body,
    room: &tokio::sync::Semaphore,
) -> Result<(Bytes, tokio::sync::SemaphorePermit<'_>), BodyError> {
    use futures::StreamExt as _;
    let mut stream = body.into_data_stream();
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut len = 0;
    let mut held = room.acquire_many(0).await.map_err(|_| BodyError::Broken)?;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BodyError::Broken)?;
        len += chunk.len();
        if len > MAX_BODY {
            return Err(BodyError::TooLarge);
        }
        let n = u32::try_from(chunk.len()).map_err(|_| BodyError::TooLarge)?;
        held.merge(room.acquire_many(n).await.map_err(|_| BodyError::Broken)?);
        chunks.push(chunk);
    }
    let bytes = match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.swap_remove(0),
        _ => {
            let mut buf = bytes::BytesMut::with_capacity(len);
            for c in &chunks {
                buf.extend_from_slice(c);
            }
            buf.freeze()
        }
    };
    Ok((bytes, held))
}

fn record(m: &ServeMetrics, webhook: Webhook, s: &review::Summary, elapsed: Duration) {
    m.admission_requests
        .get_or_create(&AdmissionLabels {
            webhook: webhook.as_str(),
            operation: review::operation_name(&s.operation),
            verdict: s.verdict.as_str(),
            allowed: flag(s.allowed),
            dry_run: flag(s.dry_run),
        })
        .inc();
    m.admission_duration
        .get_or_create(&WebhookLabels {
            webhook: webhook.as_str(),
        })
        .observe(elapsed.as_secs_f64());
    if let Some(spent) = s.budget_spent {
        m.budget_refusals
            .get_or_create(&BudgetLabels { budget: spent.as_str() })
            .inc();
    }
    // The expiry of Secrets that are stored: admitted, not a dry run, handled by scopegate.
    if s.allowed && !s.dry_run && s.verdict != Outcome::Ignored && !s.name.is_empty() {
        let labels = SecretLabels {
            namespace: s.namespace.clone(),
            name: s.name.clone(),
        };
        match s.expires_at {
            Some(t) => {
                m.token_expiry.get_or_create(&labels).set(t.as_second() as f64);
            }
            // Only an update can drop an expiry a Secret had; a create has no series to remove (and
            // removing takes the family's write lock).
            None if s.operation == kube::core::admission::Operation::Update => {
                m.token_expiry.remove(&labels);
            }
            None => {}
        }
    }
}

/// A bound, not yet running, server.
pub struct Server {
    listener: TcpListener,
    admin: Option<TcpListener>,
    acceptor: TlsAcceptor,
    store: Arc<tls::CertStore>,
    reload_interval: Duration,
    state: Arc<AppState>,
    /// User names are only claimed (no client certificate is required of the API server): the client
    /// address keeps an invalid-token budget too.
    claimed: bool,
}

impl Server {
    /// Load the configuration's clients and the certificate, and bind the ports.
    pub async fn bind(opts: ServeOptions) -> Result<Self> {
        let store = Arc::new(tls::CertStore::load(&opts.tls_cert, &opts.tls_key)?);
        let tls_config = tls::server_config(store.clone(), opts.client_ca.as_deref())?;
        let mut registry = Registry::new();
        let engine_metrics = Arc::new(EngineMetrics::register(&mut registry));
        let metrics = Arc::new(ServeMetrics::register(&mut registry));
        let engine = Engine::with_observers(opts.config, engine_metrics.clone(), engine_metrics.clone())
            .context("building the engine")?;
        engine_metrics.initialise(&engine.config().providers);
        metrics.initialise();
        if let Some(t) = tls::not_after(&store.current()) {
            metrics.certificate_expiry.set(t as f64);
        }
        let listener = listen(opts.listen).with_context(|| format!("cannot listen on {}", opts.listen))?;
        let admin = match opts.admin_listen {
            Some(a) => Some(crate::admin::bind(a).await?),
            None => None,
        };
        Ok(Self {
            listener,
            admin,
            acceptor: TlsAcceptor::from(Arc::new(tls_config)),
            store,
            reload_interval: opts.tls_reload_interval,
            claimed: opts.client_ca.is_none(),
            state: Arc::new(AppState {
                engine,
                metrics,
                admin: Admin::new(registry),
                bodies: tokio::sync::Semaphore::new(BODY_MEMORY),
            }),
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|a| a.local_addr().ok())
    }

    /// Serve until `stop` completes; then stop accepting, let in-flight reviews finish, and return.
    pub async fn run(self, stop: impl Future<Output = ()>) -> Result<()> {
        let Server {
            listener,
            admin,
            acceptor,
            store,
            reload_interval,
            state,
            claimed,
        } = self;
        let app = router();
        let limits = state.engine.config().server.clone();
        let builders = conn::Builders::new(&limits);
        let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
        let (stopping, stop_rx) = tokio::sync::watch::channel(false);
        let (admin_stop, admin_stopped) = tokio::sync::watch::channel(false);
        let admin_task = admin.map(|l| {
            let mut rx = admin_stopped.clone();
            tokio::spawn(crate::admin::serve(l, state.admin.clone(), async move {
                let _ = rx.wait_for(|stopped| *stopped).await;
            }))
        });
        let reloader = tokio::spawn(reload_loop(store, reload_interval, state.clone()));
        state.admin.set_ready(true);
        info!(addr = %listener.local_addr()?, max_connections = limits.max_connections, "serving HTTPS");
        tokio::pin!(stop);
        loop {
            // A slot first: beyond maxConnections, new connections wait in the listen backlog (and the
            // wait is counted), not in memory.
            let permit = match permits.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    state.metrics.connections_limited.inc();
                    tokio::select! {
                        p = permits.clone().acquire_owned() => match p {
                            Ok(p) => p,
                            Err(_) => break,
                        },
                        () = &mut stop => break,
                    }
                }
            };
            let (tcp, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors or memory: retrying at once would spin; the
                        // connection waits in the backlog meanwhile.
                        warn!(error = %e, "accept failed");
                        drop(permit);
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                },
                () = &mut stop => break,
            };
            let per_connection = PerConnection {
                state: state.clone(),
                origin: if claimed {
                    Origin::Address(peer.ip())
                } else {
                    Origin::Verified
                },
            };
            tokio::spawn(conn::serve(conn::Conn {
                tcp,
                peer,
                acceptor: acceptor.clone(),
                app: app.clone().with_state(per_connection),
                builders: builders.clone(),
                limits: limits.clone(),
                metrics: state.metrics.clone(),
                stop: stop_rx.clone(),
                permit,
            }));
        }
        state.admin.set_ready(false);
        drop(listener);
        info!("stopping: no new connections; waiting for in-flight reviews");
        let _ = stopping.send(true);
        // Every connection holds a permit until it has closed: all of them back means all closed.
        let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
        if tokio::time::timeout(DRAIN_TIMEOUT, permits.acquire_many(all))
            .await
            .is_err()
        {
            warn!("in-flight reviews did not finish in time");
        }
        reloader.abort();
        let _ = admin_stop.send(true);
        if let Some(t) = admin_task {
            let _ = t.await;
        }
        info!("stopped");
        Ok(())
    }
}

/// The listen backlog asked for: connections beyond `server.maxConnections` wait here (the kernel
/// caps it at `net.core.somaxconn`, 4096 on current Linux). The standard library's 128 would drop
/// connections under a burst, leaving clients to retransmit for seconds.
const LISTEN_BACKLOG: u32 = 4096;

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Check the certificate files at an interval; swap in a changed pair that loads.
async fn reload_loop(store: Arc<tls::CertStore>, interval: Duration, state: Arc<AppState>) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let s = store.clone();
        let Ok(outcome) = tokio::task::spawn_blocking(move || s.reload_if_changed()).await else {
            continue;
        };
        let m = &state.metrics;
        match outcome {
            tls::Reload::Unchanged => {}
            tls::Reload::Reloaded => {
                m.tls_reloads.get_or_create(&ResultLabels { result: "ok" }).inc();
                if let Some(t) = tls::not_after(&store.current()) {
                    m.certificate_expiry.set(t as f64);
                }
                info!("serving a new TLS certificate");
            }
            tls::Reload::Failed(why) => {
                m.tls_reloads.get_or_create(&ResultLabels { result: "error" }).inc();
                tracing::error!(error = %why, "the new TLS certificate does not load; still serving the previous one");
            }
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
