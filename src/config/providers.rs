//! `providers:` — the Git hosts scopegate may ask, and where their APIs are. Only these hosts are
//! ever called: a Secret names a host, never where scopegate connects.

use std::net::IpAddr;

use serde::Deserialize;
use url::Url;

use super::{ConfigError, invalid};

/// The Git hosting products scopegate can ask. The names are the configuration's `kind` values and
/// the `scopegate.dev/provider` annotation's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum ProviderKind {
    Github,
    Gitlab,
    BitbucketCloud,
    /// Bitbucket Data Center / Server.
    BitbucketServer,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The product name, for messages.
    pub fn display_name(self) -> &'static str {
        match self {
            ProviderKind::Github => "GitHub",
            ProviderKind::Gitlab => "GitLab",
            ProviderKind::BitbucketCloud => "Bitbucket Cloud",
            ProviderKind::BitbucketServer => "Bitbucket Data Center",
        }
    }
}

/// One Git host scopegate knows, and where its API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub kind: ProviderKind,
    /// Lower-case host, with `:port` when the Secret URLs carry one.
    pub host: String,
    /// API base URL.
    pub api_url: Url,
    /// Where the host serves Git over HTTPS (for the Git-protocol probes); `https://HOST` by default.
    pub git_url: Url,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawProvider {
    kind: ProviderKind,
    host: String,
    api_url: String,
    #[serde(default)]
    git_url: Option<String>,
}

/// The built-in providers; a configured entry with the same host replaces one of them.
pub const DEFAULT_PROVIDERS: [(ProviderKind, &str, &str); 3] = [
    (ProviderKind::Github, "github.com", "https://api.github.com"),
    (ProviderKind::Gitlab, "gitlab.com", "https://gitlab.com/api/v4"),
    (
        ProviderKind::BitbucketCloud,
        "bitbucket.org",
        "https://api.bitbucket.org/2.0",
    ),
];

/// The configured entries, then the defaults whose host no entry names.
pub(super) fn validate(raw: &[RawProvider]) -> Result<Vec<Provider>, ConfigError> {
    let mut providers: Vec<Provider> = Vec::new();
    for (i, p) in raw.iter().enumerate() {
        let key = format!("providers[{i}]");
        let host = normalize_host(&p.host)
            .ok_or_else(|| invalid(format!("{key}.host"), format!("not a host name: {:?}", p.host)))?;
        let api_url = parse_api_url(&p.api_url).map_err(|m| invalid(format!("{key}.apiUrl"), m))?;
        let git_url = match &p.git_url {
            Some(g) => parse_api_url(g).map_err(|m| invalid(format!("{key}.gitUrl"), m))?,
            None => default_git_url(&host).map_err(|m| invalid(format!("{key}.host"), m))?,
        };
        if providers.iter().any(|q| q.host == host) {
            return Err(invalid(
                format!("{key}.host"),
                format!("{host} is configured more than once"),
            ));
        }
        providers.push(Provider {
            kind: p.kind,
            host,
            api_url,
            git_url,
        });
    }
    for (kind, host, api) in DEFAULT_PROVIDERS {
        if !providers.iter().any(|p| p.host == host) {
            let api_url = parse_api_url(api).map_err(|m| invalid("providers", m))?;
            let git_url = default_git_url(host).map_err(|m| invalid("providers", m))?;
            providers.push(Provider {
                kind,
                host: host.to_string(),
                api_url,
                git_url,
            });
        }
    }
    Ok(providers)
}

/// Lower-case a host name, drop a trailing dot; `None` when it is not a plain `host[:port]`.
pub fn normalize_host(host: &str) -> Option<String> {
    let h = host.trim().trim_end_matches('.').to_ascii_lowercase();
    if h.is_empty() || h.contains(['/', '@', '?', '#', ' ']) || h.contains("://") {
        return None;
    }
    // Reuse the URL parser's host rules.
    let parsed = Url::parse(&format!("https://{h}/")).ok()?;
    parsed.host_str()?;
    Some(h)
}

fn default_git_url(host: &str) -> Result<Url, String> {
    Url::parse(&format!("https://{host}")).map_err(|e| format!("not a host name ({e}): {host:?}"))
}

/// An API base URL: `https://`, or `http://` on a loopback address; no credentials, query or fragment.
pub fn parse_api_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s.trim()).map_err(|e| format!("not a URL ({e}): {s:?}"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(format!(
                "must use https:// (http:// is allowed only on a loopback address), got {s}"
            ));
        }
        other => return Err(format!("must use https://, got scheme {other}:")),
    }
    if url.host_str().is_none() {
        return Err(format!("has no host: {s}"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("must not have a query or fragment: {s}"));
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}
