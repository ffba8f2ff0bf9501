//! Test kit for scopegate: Secrets shaped as `kubectl create secret generic --dry-run=client -o json`
//! writes them, AdmissionReviews shaped as kube-apiserver sends them, and loopback stand-ins for the Git
//! provider APIs whose answers follow the documented ones (status, headers, bodies).
//!
//! None of this is linked into the scopegate binary: it serves the tests and `make demo` only.

/// The document (relative to the repository's root) whose table lists every request scopegate can
/// send that is not a `GET` (generated from the code; tests hold what scopegate sends to it).
pub const WHAT_SCOPEGATE_SENDS: &str = "docs/reference/requests.md";

pub mod examples;
pub mod git_server;
pub mod held;
pub mod kube_api;
pub mod network;
pub mod procs;
pub mod review;
pub mod secret;
pub mod standin;

/// A GitHub token of the given prefix (`ghp_`, `gho_`, …) whose 30 random characters are `body`
/// (letters and digits, padded with `0` or cut to 30) and whose last six are the checksum GitHub's
/// tokens carry (CRC-32, base62 `0-9A-Za-z`; `src/credential/kind.rs`), so that scopegate takes it
/// for one GitHub could have issued.
pub fn github_token(prefix: &str, body: &str) -> String {
    const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut random: String = body.chars().filter(char::is_ascii_alphanumeric).take(30).collect();
    while random.len() < 30 {
        random.push('0');
    }
    let mut crc = crc32fast::hash(random.as_bytes());
    let mut checksum = [b'0'; 6];
    for slot in checksum.iter_mut().rev() {
        *slot = BASE62[(crc % 62) as usize];
        crc /= 62;
    }
    format!("{prefix}{random}{}", String::from_utf8_lossy(&checksum))
}

/// Install ring as rustls's process-wide crypto provider, as scopegate does (the test kit does not link
/// scopegate). Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = crypto_provider().install_default();
}

/// ring's provider; rustls 0.23.48 deprecates it for lacking post-quantum key exchange, which loopback
/// tests do not need (scopegate's own `crypto_provider` says why it keeps ring).
#[allow(deprecated)]
pub fn crypto_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// A reqwest client that trusts only the given CA (PEM) and offers HTTP/2 and HTTP/1.1.
pub fn https_client(ca_pem: &[u8]) -> anyhow::Result<reqwest::Client> {
    install_crypto_provider();
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
