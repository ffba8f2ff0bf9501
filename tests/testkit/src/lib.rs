//! Test kit for scopegate: Secrets shaped as `kubectl create secret generic --dry-run=client -o json`
//! writes them, AdmissionReviews shaped as kube-apiserver sends them, and loopback stand-ins for the Git
//! provider APIs whose answers follow the documented ones (status, headers, bodies).
//!
//! None of this is linked into the scopegate binary: it serves the tests and `make demo` only.

pub mod examples;
pub mod held;
pub mod kube_api;
pub mod network;
pub mod review;
pub mod secret;
pub mod standin;

/// A reqwest client that trusts only the given CA (PEM) and offers HTTP/2 and HTTP/1.1.
pub fn https_client(ca_pem: &[u8]) -> anyhow::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = reqwest::Certificate::from_pem(ca_pem)?;
    Ok(reqwest::Client::builder()
        .tls_certs_only([ca])
        .pool_max_idle_per_host(64)
        .build()?)
}

/// Serve `app` over TLS (HTTP/2 or HTTP/1.1, as the client's ALPN chooses) on every connection
/// `listener` accepts, until accepting fails. A failed handshake drops that connection only.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    app: axum::Router,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto;
    use hyper_util::service::TowerToHyperService;
    loop {
        let (tcp, _) = listener.accept().await?;
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else { return };
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                .await;
        });
    }
}
