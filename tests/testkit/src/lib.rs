//! Test kit for scopegate: Secrets shaped as `kubectl create secret generic --dry-run=client -o json`
//! writes them, AdmissionReviews shaped as kube-apiserver sends them, and loopback stand-ins for the Git
//! provider APIs whose answers follow the documented ones (status, headers, bodies).
//!
//! None of this is linked into the scopegate binary: it serves the tests and `make demo` only.

pub mod examples;
pub mod kube_api;
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
