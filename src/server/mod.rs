//! The HTTPS server: the axum router for `/validate`, `/mutate`, `/healthz` and `/readyz`, behind
//! rustls, with a graceful stop.

pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::body::{Body, to_bytes};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::engine::Engine;
use crate::review::{self, Webhook};

/// An AdmissionReview for a Secret holds at most two 1 MiB objects, base64-inflated, plus metadata.
pub const MAX_BODY: usize = 8 << 20;
/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stop waits for in-flight reviews.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(25);

/// What `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    pub config: Config,
}

/// Shared by every request.
pub struct AppState {
    pub engine: Engine,
    ready: AtomicBool,
}

/// The webhook's routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .with_state(state)
}

async fn validate(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery, body: Body) -> Response {
    handle(&state, Webhook::Validate, q.as_deref(), body).await
}

async fn mutate(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery, body: Body) -> Response {
    handle(&state, Webhook::Mutate, q.as_deref(), body).await
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(Ordering::Acquire) {
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

/// `timeout` from the query string the API server appends.
fn timeout_param(query: Option<&str>) -> Option<Duration> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "timeout")
        .and_then(|(_, v)| review::parse_go_duration(&v))
}

async fn handle(state: &AppState, webhook: Webhook, query: Option<&str>, body: Body) -> Response {
    let start = Instant::now();
    let bytes = match to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {} MiB or was cut off", MAX_BODY >> 20),
            );
        }
    };
    let req = match review::parse(&bytes) {
        Ok(r) => r,
        Err(e) => {
            warn!(webhook = webhook.as_str(), error = %e, "rejected a body that is not an AdmissionReview");
            return error(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
    let deadline = review::deadline(timeout_param(query), start);
    let (answer, summary) = review::review(&state.engine, webhook, &req, Some(deadline)).await;
    info!(
        uid = %req.uid,
        webhook = webhook.as_str(),
        namespace = %summary.namespace,
        name = %summary.name,
        operation = summary.operation,
        verdict = summary.verdict,
        allowed = summary.allowed,
        dry_run = summary.dry_run,
        duration_ms = start.elapsed().as_secs_f64() * 1000.0,
        "admission review"
    );
    match review::to_json(&answer) {
        Ok(v) => Json(v).into_response(),
        Err(e) => {
            // Not reachable with kube's types; if it were, the API server's failurePolicy decides.
            tracing::error!(uid = %req.uid, error = %e, "cannot serialise the response");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot serialise the response".into(),
            )
        }
    }
}

/// A bound, not yet running, server.
pub struct Server {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    state: Arc<AppState>,
}

impl Server {
    /// Load the configuration's clients and the certificate, and bind the port.
    pub async fn bind(opts: ServeOptions) -> Result<Self> {
        let store = Arc::new(tls::CertStore::load(&opts.tls_cert, &opts.tls_key)?);
        let tls_config = tls::server_config(store)?;
        let engine = Engine::new(opts.config).context("building the provider HTTP client")?;
        let listener = TcpListener::bind(opts.listen)
            .await
            .with_context(|| format!("cannot listen on {}", opts.listen))?;
        Ok(Self {
            listener,
            acceptor: TlsAcceptor::from(Arc::new(tls_config)),
            state: Arc::new(AppState {
                engine,
                ready: AtomicBool::new(false),
            }),
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serve until `stop` completes; then stop accepting, let in-flight reviews finish, and return.
    pub async fn run(self, stop: impl Future<Output = ()>) -> Result<()> {
        let Server {
            listener,
            acceptor,
            state,
        } = self;
        let app = router(state.clone());
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        state.ready.store(true, Ordering::Release);
        info!(addr = %listener.local_addr()?, "serving HTTPS");
        tokio::pin!(stop);
        loop {
            let (tcp, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        warn!(error = %e, "accept failed");
                        continue;
                    }
                },
                () = &mut stop => break,
            };
            let acceptor = acceptor.clone();
            let app = app.clone();
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
                let builder = auto::Builder::new(TokioExecutor::new());
                let conn = builder.serve_connection(TokioIo::new(tls), TowerToHyperService::new(app));
                if let Err(e) = watcher.watch(conn.into_owned()).await {
                    debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
        state.ready.store(false, Ordering::Release);
        drop(listener);
        info!("stopping: no new connections; waiting for in-flight reviews");
        if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
            warn!("in-flight reviews did not finish in time");
        }
        info!("stopped");
        Ok(())
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
