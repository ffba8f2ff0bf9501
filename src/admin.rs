//! The plain-HTTP admin port `serve` and `watch` share: `GET /healthz` (the process runs), `GET /readyz`
//! (it is ready to do its job), `GET /metrics` (Prometheus text format).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::metrics::Registry;

/// What the admin port reports.
#[derive(Clone)]
pub struct Admin {
    pub registry: Arc<Registry>,
    /// Set when the process is ready (serving, or watching with its first lists done).
    pub ready: Arc<AtomicBool>,
}

impl Admin {
    pub fn new(registry: Registry) -> Self {
        Self {
            registry: Arc::new(registry),
            ready: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The admin routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .with_state(self.clone())
    }
}

/// Bind the admin port (port 0 picks one; the address bound is logged).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (admin)"))?;
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "serving the admin port");
    }
    Ok(listener)
}

/// Serve the admin routes on `listener` until `stop` completes.
pub async fn serve(listener: TcpListener, admin: Admin, stop: impl Future<Output = ()> + Send + 'static) {
    let serve = axum::serve(listener, admin.router()).with_graceful_shutdown(stop);
    if let Err(e) = serve.await {
        warn!(error = %e, "admin server failed");
    }
}

pub async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(admin): State<Admin>) -> Response {
    if admin.is_ready() {
        "ok".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

/// The Prometheus text format 0.0.4, or OpenMetrics when the scraper asks for it (Prometheus does).
async fn metrics(State(admin): State<Admin>, headers: axum::http::HeaderMap) -> Response {
    let openmetrics = headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let (content_type, body) = if openmetrics {
        (
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            admin.registry.encode_openmetrics(),
        )
    } else {
        ("text/plain; version=0.0.4; charset=utf-8", admin.registry.encode_text())
    };
    ([(axum::http::header::CONTENT_TYPE, content_type)], body).into_response()
}
