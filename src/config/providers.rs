//! `providers:` — the Git hosts scopegate may ask, and where their APIs are. Only these hosts are
//! ever called: a Secret names a host, never where scopegate connects.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;
use url::Url;

use super::proxy::{ProxyChoice, RawProxy};
use super::{ConfigError, invalid};

/// The Git hosting products scopegate can ask. The names are the configuration's `kind` values and
/// the `scopegate.dev/provider` annotation's.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumIter,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum ProviderKind {
    /// GitHub and GitHub Enterprise Server.
    Github,
    /// GitLab.com and self-managed GitLab.
    Gitlab,
    /// Bitbucket Cloud.
    BitbucketCloud,
    /// Bitbucket Data Center / Server.
    BitbucketServer,
    /// Gitea and Forgejo (the same API); no default host.
    Gitea,
    /// Azure DevOps Services (`dev.azure.com`, `{org}.visualstudio.com`) and Azure DevOps Server.
    AzureDevops,
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
            ProviderKind::Gitea => "Gitea",
            ProviderKind::AzureDevops => "Azure DevOps",
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
    /// A PEM bundle of CAs trusted, beside the system's roots, for this provider's `apiUrl` and
    /// `gitUrl` only (re-read when it changes).
    pub ca_file: Option<PathBuf>,
    /// How calls to this provider leave: its own `proxy`, else the top-level one, else the environment.
    pub proxy: ProxyChoice,
    /// `writeProbes`: whether scopegate may send this provider the requests built to be refused
    /// (`providers::refusal`); `false` keeps it to `GET` and `HEAD`. Only GitHub has them, and there
    /// they are on by default.
    pub write_probes: bool,
}

impl Provider {
    /// A provider entry with no CA bundle of its own and the environment's proxy settings.
    pub fn new(kind: ProviderKind, host: impl Into<String>, api_url: Url, git_url: Url) -> Self {
        Self {
            kind,
            host: host.into(),
            api_url,
            git_url,
            ca_file: None,
            proxy: ProxyChoice::Environment,
            write_probes: kind == ProviderKind::Github,
        }
    }
}

/// A Git host scopegate may call.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawProvider {
    /// Which product answers at this host.
    kind: ProviderKind,
    /// The host Secret URLs name (with `:port` when they carry one), e.g. `ghe.corp.example`.
    host: String,
    /// The API's base URL: `https://HOST/api/v3` for GitHub Enterprise Server,
    /// `https://HOST/api/v4` for GitLab, `https://HOST/rest/api/1.0` for Bitbucket Data Center,
    /// `https://HOST/api/v1` for Gitea and Forgejo, the service root for Azure DevOps. `https://`,
    /// or `http://` on a loopback address.
    api_url: String,
    /// Where Git over HTTPS is served (for the Git-protocol probes); `https://HOST` when unset.
    #[serde(default)]
    git_url: Option<String>,
    /// A PEM bundle of CAs trusted, beside the system's roots, for this provider's `apiUrl` and
    /// `gitUrl` only; re-read when it changes.
    #[serde(default)]
    ca_file: Option<String>,
    /// This provider's own proxy (wins over the top-level `proxy`).
    #[serde(default)]
    proxy: Option<RawProxy>,
    /// GitHub only: whether scopegate may send the requests built to be refused that establish a
    /// fine-grained token's Webhooks, Commit statuses and Pull requests write levels; `false` keeps
    /// the provider to `GET` and `HEAD`, and those levels stay unverified. Refused on other kinds.
    #[serde(default)]
    #[schemars(extend("default" = true))]
    write_probes: Option<bool>,
}

impl RawProvider {
    pub(super) fn has_proxy(&self) -> bool {
        self.proxy.is_some()
    }
}

/// The most a CA bundle file may hold.
const MAX_CA_FILE: u64 = 1 << 20;

/// Read a PEM bundle of CA certificates: every `CERTIFICATE` block, each one a certificate that can
/// serve as a trust anchor. `Err` says why not, without quoting the file.
pub fn load_ca_bundle(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.len() > MAX_CA_FILE {
        return Err(format!("{} is larger than 1 MiB", path.display()));
    }
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{} is not a PEM bundle: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    let mut roots = rustls::RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        roots
            .add(cert.clone())
            .map_err(|e| format!("certificate {} of {} cannot be a CA: {e}", i + 1, path.display()))?;
    }
    Ok(certs)
}

/// The built-in providers; a configured entry with the same host replaces one of them.
pub const DEFAULT_PROVIDERS: [(ProviderKind, &str, &str); 4] = [
    (ProviderKind::Github, "github.com", "https://api.github.com"),
    (ProviderKind::Gitlab, "gitlab.com", "https://gitlab.com/api/v4"),
    (
        ProviderKind::BitbucketCloud,
        "bitbucket.org",
        "https://api.bitbucket.org/2.0",
    ),
    // The service root: the organisation and project from a repository's URL are appended to it.
    (ProviderKind::AzureDevops, AZURE_DEVOPS_HOST, "https://dev.azure.com"),
];

/// Azure DevOps Services' host. Repository URLs on `{org}.visualstudio.com` (the older form, which
/// names the organisation in the host) are served by the provider configured for this host.
pub const AZURE_DEVOPS_HOST: &str = "dev.azure.com";

/// The organisation a `{org}.visualstudio.com` host names.
pub fn visualstudio_org(host: &str) -> Option<&str> {
    host.strip_suffix(".visualstudio.com")
        .filter(|o| !o.is_empty() && !o.contains('.'))
}

/// The configured entries, then the defaults whose host no entry names. `proxy` is what applies to an
/// entry without a proxy of its own.
pub(super) fn validate(raw: &[RawProvider], proxy: &ProxyChoice) -> Result<Vec<Provider>, ConfigError> {
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
        let ca_file = match &p.ca_file {
            None => None,
            Some(f) => {
                let path = PathBuf::from(f.trim());
                load_ca_bundle(&path).map_err(|m| invalid(format!("{key}.caFile"), m))?;
                Some(path)
            }
        };
        let proxy = match &p.proxy {
            Some(raw) => ProxyChoice::Via(raw.validate(&format!("{key}.proxy"))?),
            None => proxy.clone(),
        };
        let write_probes = match (p.kind, p.write_probes) {
            (ProviderKind::Github, choice) => choice.unwrap_or(true),
            (_, None) => false,
            (kind, Some(_)) => {
                return Err(invalid(
                    format!("{key}.writeProbes"),
                    format!(
                        "only GitHub providers have requests built to be refused; a {} provider is only ever sent GET and HEAD",
                        kind.as_str()
                    ),
                ));
            }
        };
        providers.push(Provider {
            kind: p.kind,
            host,
            api_url,
            git_url,
            ca_file,
            proxy,
            write_probes,
        });
    }
    for (kind, host, api) in DEFAULT_PROVIDERS {
        if !providers.iter().any(|p| p.host == host) {
            let api_url = parse_api_url(api).map_err(|m| invalid("providers", m))?;
            let git_url = default_git_url(host).map_err(|m| invalid("providers", m))?;
            let mut p = Provider::new(kind, host, api_url, git_url);
            p.proxy = proxy.clone();
            providers.push(p);
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
