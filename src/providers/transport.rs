//! How calls reach one provider: an HTTP client with the provider's CA bundle (trusted beside the
//! system's roots, for that provider only) and its proxy, rebuilt when the bundle file changes — as
//! kubelet updates a mounted ConfigMap or Secret — so that no restart is needed. Certificate
//! verification is never switched off.

use std::path::PathBuf;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, SystemTime};

use tracing::{info, warn};

use crate::config::{Provider, ProxyChoice, load_ca_bundle};

/// Why a transport could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("building the HTTP client for {host} failed: {source}")]
    Client { host: String, source: reqwest::Error },
    #[error("the CA bundle for {host}: {message}")]
    CaBundle { host: String, message: String },
}

const USER_AGENT: &str = concat!("scopegate/", env!("CARGO_PKG_VERSION"));

/// What identifies a version of the CA bundle file without reading it: where it resolves to, its
/// size and modification time (a kubelet update swaps a symlink, which changes the inode).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<SystemTime>,
}

fn stamp(path: &std::path::Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        dev: m.dev(),
        ino: m.ino(),
        len: m.len(),
        modified: m.modified().ok(),
    })
}

/// One provider's way out.
pub(super) struct Transport {
    host: String,
    timeout: Duration,
    proxy: ProxyChoice,
    /// The CA bundle file, if any.
    ca_file: Option<PathBuf>,
    /// The version of it the client was built with (or last failed to load).
    seen: Mutex<Option<FileStamp>>,
    http: RwLock<reqwest::Client>,
}

fn read<T: Clone>(l: &RwLock<T>) -> T {
    l.read().unwrap_or_else(|p| p.into_inner()).clone()
}

impl Transport {
    pub fn new(provider: &Provider, timeout: Duration) -> Result<Self, TransportError> {
        let seen = provider.ca_file.as_deref().and_then(stamp);
        let roots = match &provider.ca_file {
            None => None,
            Some(path) => Some(load_ca_bundle(path).map_err(|message| TransportError::CaBundle {
                host: provider.host.clone(),
                message,
            })?),
        };
        let http = build(&provider.host, timeout, &provider.proxy, roots)?;
        Ok(Self {
            host: provider.host.clone(),
            timeout,
            proxy: provider.proxy.clone(),
            ca_file: provider.ca_file.clone(),
            seen: Mutex::new(seen),
            http: RwLock::new(http),
        })
    }

    /// Whether this transport serves `provider` as configured.
    pub fn serves(&self, provider: &Provider) -> bool {
        self.proxy == provider.proxy && self.ca_file == provider.ca_file
    }

    /// The client to call with: rebuilt first when the CA bundle file changed since it was built. A
    /// file that no longer loads is logged once and the last good client kept.
    pub fn client(&self) -> reqwest::Client {
        if let Some(path) = &self.ca_file {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            let now = stamp(path);
            if now != *seen {
                *seen = now;
                match load_ca_bundle(path)
                    .map_err(|message| TransportError::CaBundle {
                        host: self.host.clone(),
                        message,
                    })
                    .and_then(|roots| build(&self.host, self.timeout, &self.proxy, Some(roots)))
                {
                    Ok(http) => {
                        *self.http.write().unwrap_or_else(|p| p.into_inner()) = http;
                        info!(provider = self.host.as_str(), file = %path.display(), "reloaded the provider's CA bundle");
                    }
                    Err(e) => warn!(
                        provider = self.host.as_str(),
                        error = %e,
                        "the provider's CA bundle changed and does not load; the previous one stays in use"
                    ),
                }
            }
        }
        read(&self.http)
    }

    /// The proxy password, to keep out of error texts.
    pub fn proxy_password(&self) -> Option<String> {
        match &self.proxy {
            ProxyChoice::Via(p) => p.password(),
            _ => None,
        }
    }
}

/// The HTTP client for a provider: no redirects, a timeout per request, pooled connections (HTTP/2
/// where offered), the proxy as configured, and the extra CA roots beside the system's.
fn build(
    host: &str,
    timeout: Duration,
    proxy: &ProxyChoice,
    roots: Option<Vec<rustls_pki_types::CertificateDer<'static>>>,
) -> Result<reqwest::Client, TransportError> {
    let fail = |source| TransportError::Client {
        host: host.to_owned(),
        source,
    };
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT)
        .timeout(timeout)
        .connect_timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(32);
    match proxy {
        // reqwest reads HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY unless told otherwise.
        ProxyChoice::Environment => {}
        ProxyChoice::Direct => b = b.no_proxy(),
        ProxyChoice::Via(p) => {
            let no_proxy = (!p.no_proxy.is_empty())
                .then(|| reqwest::NoProxy::from_string(&p.no_proxy.join(",")))
                .flatten();
            b = b.proxy(reqwest::Proxy::all(p.url.as_str()).map_err(fail)?.no_proxy(no_proxy));
        }
    }
    if let Some(roots) = roots {
        let certs = roots
            .iter()
            .map(|c| reqwest::Certificate::from_der(c))
            .collect::<Result<Vec<_>, _>>()
            .map_err(fail)?;
        b = b.tls_certs_merge(certs);
    }
    b.build().map_err(fail)
}
