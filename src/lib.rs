//! scopegate: a Kubernetes admission webhook that checks the Git tokens in Argo CD credential Secrets
//! against the scopes their role needs.
//!
//! Data flows one way; the front ends differ only at the ends:
//!
//! ```text
//! AdmissionReview ─review─▶ SecretObject ─credential─▶ Credential ─providers─▶ Grant ─policy─▶ Verdict ─review/report─▶ response, patch
//! ```

pub mod assess;
pub mod audit;
pub mod cache;
pub mod certs;
pub mod check;
pub mod cli;
pub mod config;
pub mod credential;
pub mod engine;
pub mod kind;
pub mod logfmt;
pub mod logsink;
pub mod metrics;
pub mod policy;
pub mod providers;
pub mod report;
pub mod review;
pub mod server;
pub mod table;
pub mod token;
pub mod upstream;

/// Install ring as rustls's process-wide crypto provider (several crates link rustls; with an explicit
/// provider none of them has to guess). Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
