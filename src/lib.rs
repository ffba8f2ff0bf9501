//! scopegate: a Kubernetes admission webhook that checks the Git tokens in Argo CD credential Secrets
//! against the scopes their role needs.
//!
//! Data flows one way; the front ends differ only at the ends (docs/contributing/architecture.md has
//! the module map):
//!
//! ```text
//! front ends   server (serve) · check · audit        where Secrets come from, where answers go
//!      │
//! rendering    render · metrics                      a Judgement as a response, patch, table, JSON,
//!      │                                             PolicyReport, metric
//! engine       engine                                Secret → Judgement, typed; repository reach
//!      │
//! lower        policy · providers · cache · grant    pure rules · provider I/O · reuse of answers
//!      │
//! bottom       credential · config · requirements · repo_url · token
//! ```
//!
//! Lower modules never import higher ones: providers and the cache report through observer traits
//! they own, which `metrics` implements. The crate's API is what the binary, the tests and the fuzz
//! targets use: [`run`] (each command), [`cli`], [`config`], [`certs`], [`server`] and [`fuzzing`].
#![forbid(unsafe_code)]

pub(crate) mod admin;
pub(crate) mod audit;
pub(crate) mod cache;
pub mod certs;
pub(crate) mod check;
pub mod cli;
pub(crate) mod cluster;
pub mod config;
pub(crate) mod credential;
pub(crate) mod engine;
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod grant;
pub(crate) mod logfmt;
pub(crate) mod logsink;
pub(crate) mod metrics;
pub(crate) mod policy;
pub(crate) mod providers;
#[doc(hidden)]
pub mod reference;
pub(crate) mod render;
pub(crate) mod repo_url;
pub(crate) mod requirements;
pub mod run;
pub mod server;
pub(crate) mod token;
pub(crate) mod uses;
pub(crate) mod watch;

/// Install ring as rustls's process-wide crypto provider (several crates link rustls; with an explicit
/// provider none of them has to guess). Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = crypto_provider().install_default();
}

/// The one rustls crypto provider scopegate uses: ring, which builds with a C compiler alone (no cmake, no
/// Go) on every target the image and CI use. rustls 0.23.48 marks ring's `default_provider` deprecated
/// because ring offers no post-quantum key exchange; the classical groups it offers (X25519, P-256, P-384)
/// are what the API server and the providers negotiate today, so the deprecation is acknowledged here, in
/// one place, rather than silenced wherever a provider is built.
#[allow(deprecated)]
pub fn crypto_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}
