//! `proxy:` — how scopegate's calls to a provider leave the cluster: through an HTTP(S) proxy (HTTPS
//! tunnelled with CONNECT), straight, or as the environment says. Only the configuration chooses: a
//! Secret's own `proxy` and `noProxy` fields are Argo CD's, and are never read.

use std::net::IpAddr;

use serde::Deserialize;
use url::Url;

use super::{ConfigError, invalid};

/// A proxy as configured: where it is and which hosts bypass it.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// `http://` or `https://`, possibly with credentials (sent to the proxy, never logged).
    pub url: Url,
    /// Hosts (and their subdomains), IP addresses, CIDR ranges, or `*`, reached without the proxy.
    pub no_proxy: Vec<String>,
}

impl Proxy {
    /// The URL with any password replaced, for logs and messages.
    pub fn redacted(&self) -> String {
        let mut u = self.url.clone();
        if u.password().is_some() {
            let _ = u.set_password(Some("<redacted>"));
        }
        u.to_string()
    }

    /// The password in the URL, to scrub from error texts.
    pub fn password(&self) -> Option<String> {
        self.url
            .password()
            .map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned())
    }
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("url", &self.redacted())
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

/// Where a provider's calls go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProxyChoice {
    /// No `proxy` key anywhere in the configuration: `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` (or
    /// their lower-case forms) from the environment, as for every Kubernetes component.
    #[default]
    Environment,
    /// Straight to the provider: the configuration names proxies, none for this provider.
    Direct,
    Via(Proxy),
}

/// An HTTP proxy (CONNECT for HTTPS; the TLS session stays end to end).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawProxy {
    /// `http://HOST:PORT` or `https://HOST:PORT`, with `USER:PASSWORD@` if the proxy needs it (sent
    /// in `Proxy-Authorization`, never logged or shown).
    url: String,
    /// Hosts (each covering its subdomains, a leading dot allowed), IP addresses, CIDR ranges and
    /// `*`, called directly.
    #[serde(default)]
    no_proxy: Vec<String>,
}

impl RawProxy {
    pub(super) fn validate(&self, key: &str) -> Result<Proxy, ConfigError> {
        let url = Url::parse(self.url.trim()).map_err(|_| {
            // The text may hold credentials: not quoted.
            invalid(
                format!("{key}.url"),
                "not a URL (write http://HOST:PORT, or http://USER:PASSWORD@HOST:PORT)",
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(
                format!("{key}.url"),
                format!("must be http:// or https://, not {}://", url.scheme()),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid(format!("{key}.url"), "has no host"));
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(
                format!("{key}.url"),
                "must be only scheme, host and port (with credentials if the proxy needs them)",
            ));
        }
        let mut no_proxy = Vec::new();
        for (i, entry) in self.no_proxy.iter().enumerate() {
            let e = entry.trim();
            if !no_proxy_entry(e) {
                return Err(invalid(
                    format!("{key}.noProxy[{i}]"),
                    format!("not a host name, IP address, CIDR range or *: {entry:?}"),
                ));
            }
            no_proxy.push(e.to_ascii_lowercase());
        }
        Ok(Proxy { url, no_proxy })
    }
}

/// A `noProxy` entry as reqwest (and Go, and curl) read one: `*`, an IP address, a CIDR range, or a
/// domain (with an optional leading dot) that also covers its subdomains.
fn no_proxy_entry(e: &str) -> bool {
    if e == "*" {
        return true;
    }
    if let Some((ip, bits)) = e.split_once('/') {
        return match (ip.parse::<IpAddr>(), bits.parse::<u8>()) {
            (Ok(IpAddr::V4(_)), Ok(b)) => b <= 32,
            (Ok(IpAddr::V6(_)), Ok(b)) => b <= 128,
            _ => false,
        };
    }
    if e.parse::<IpAddr>().is_ok() {
        return true;
    }
    let d = e.strip_prefix('.').unwrap_or(e);
    !d.is_empty()
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(url: &str, no_proxy: &[&str]) -> RawProxy {
        RawProxy {
            url: url.into(),
            no_proxy: no_proxy.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn a_proxy_with_credentials_never_shows_them() {
        let p = raw(
            "http://scopegate:s3cr%40t@proxy.corp:3128",
            &["internal.corp", ".corp.example", "10.0.0.0/8", "::1", "*"],
        )
        .validate("proxy")
        .unwrap();
        assert_eq!(p.redacted(), "http://scopegate:%3Credacted%3E@proxy.corp:3128/");
        assert!(!format!("{p:?}").contains("s3cr"));
        assert_eq!(p.password().as_deref(), Some("s3cr@t"));
        assert_eq!(p.no_proxy.len(), 5);
    }

    #[test]
    fn bad_proxies_are_refused_naming_the_key() {
        let cases = [
            (raw("proxy.corp:3128", &[]), "proxy.url"),
            (raw("socks5://proxy.corp:1080", &[]), "proxy.url"),
            (raw("http://proxy.corp:3128/path", &[]), "proxy.url"),
            (raw("http://proxy.corp:3128", &["10.0.0.0/33"]), "proxy.noProxy[0]"),
            (
                raw("http://proxy.corp:3128", &["ok.example", "bad host"]),
                "proxy.noProxy[1]",
            ),
            (raw("http://proxy.corp:3128", &["*.corp"]), "proxy.noProxy[0]"),
        ];
        for (r, key) in cases {
            match r.validate("proxy") {
                Err(ConfigError::Invalid { key: k, message }) => {
                    assert_eq!(k, key);
                    assert!(!message.contains("s3cr"));
                }
                other => panic!("{key}: {other:?}"),
            }
        }
        // A URL that does not parse is not quoted (it may hold a password).
        match raw("http://user:hunter2@[bad", &[]).validate("proxy") {
            Err(ConfigError::Invalid { message, .. }) => assert!(!message.contains("hunter2")),
            other => panic!("{other:?}"),
        }
    }
}
