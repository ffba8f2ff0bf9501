//! Configuration: one YAML file, every key optional, unknown keys and bad values refused with a message
//! that names the key. `watch:` is in [`watch`].

mod providers;
mod proxy;
mod server;
mod watch;

pub use providers::{
    AZURE_DEVOPS_HOST, DEFAULT_PROVIDERS, Provider, ProviderKind, load_ca_bundle, normalize_host, parse_api_url,
    visualstudio_org,
};
pub use proxy::{Proxy, ProxyChoice};
pub use server::{ServerConfig, TokenBudget};
pub use watch::{Follow, WatchConfig};

use crate::requirements::{RawRequirements, Requirements};

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// What a violation does at admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deny what the policy refuses.
    #[default]
    Enforce,
    /// Admit, and return the denial text as warnings.
    Warn,
    /// Admit silently; the verdict is only recorded in annotations, logs and metrics.
    Audit,
}

/// What to do when a token cannot be checked because the provider failed (unreachable, 5xx, timeout,
/// rate limited).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Refuse the Secret until the token can be checked.
    #[default]
    Deny,
    /// Admit it with a warning.
    Allow,
}

/// What to do when the provider answered but cannot tell what the token may do (a token kind with no
/// introspection API, a permission with no side-effect-free probe).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnUnverified {
    /// Admit with a warning that says what could not be verified.
    #[default]
    Allow,
    /// Treat it like a policy denial.
    Deny,
}

/// What to do with scopes or permissions beyond the role's needs that are dangerous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExcessPolicy {
    /// Admit, with a warning naming them.
    #[default]
    Warn,
    /// Deny, as for missing scopes.
    Deny,
    /// Record them (annotations, reports) without a word at admission.
    Ignore,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkipValidation {
    pub allowed_users: BTreeSet<String>,
    pub allowed_groups: BTreeSet<String>,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub mode: Mode,
    pub on_provider_error: OnFailure,
    pub on_unverified: OnUnverified,
    pub providers: Vec<Provider>,
    pub skip_validation: SkipValidation,
    pub allow_existing_violations: bool,
    /// How long one provider call may take.
    pub provider_timeout: Duration,
    /// Warn when a token expires within this many days.
    pub expiry_warning_days: u32,
    pub excess_privileges: ExcessPolicy,
    /// Provider logins that are service or robot accounts ("Git tokens for GitOps" recommends one for runtime tokens).
    pub service_accounts: BTreeSet<String>,
    /// The Shared Configuration Repository (a repository URL), which the runtime token must be able to
    /// write; probed for credential templates whose prefix covers it.
    pub shared_configuration_repo: Option<String>,
    pub cache: CacheConfig,
    /// At most this many calls in flight to one provider.
    pub provider_concurrency: usize,
    pub circuit_breaker: BreakerConfig,
    pub watch: WatchConfig,
    /// The requirement table in force: the built-in one with `requirements` overrides.
    pub requirements: Requirements,
    /// The webhook port's bounds (`serve`).
    pub server: ServerConfig,
}

/// The grant cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// How long a provider's answer about a valid token is reused.
    pub ttl: Duration,
    /// How long a refusal (invalid token) is reused.
    pub negative_ttl: Duration,
    /// The most answers kept.
    pub max_entries: u64,
    /// While a provider fails, answer from the last known grant if it is at most this old (0 disables).
    pub stale_if_error: Duration,
}

/// When to stop calling a failing provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long an open circuit stays open before one call may try again.
    pub cooldown: Duration,
}

impl Default for Config {
    fn default() -> Self {
        // The defaults are valid by construction; the unit tests assert it.
        Self::from_raw(RawConfig::default()).unwrap_or_else(|_| unreachable!("default configuration is valid"))
    }
}

/// A configuration error, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("configuration: {0}")]
    Parse(String),
    #[error("configuration: {key}: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// The configuration file (`--config`): every key optional, unknown keys refused.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "scopegate configuration")]
struct RawConfig {
    /// What a policy violation does at the validating webhook: deny it (`enforce`), admit it with the
    /// denial as warnings (`warn`), or admit it silently, recording the verdict in annotations, logs
    /// and metrics (`audit`).
    #[serde(default)]
    #[schemars(extend("default" = "enforce"))]
    mode: Mode,
    /// What to do when the provider could not be asked (unreachable, 5xx, timing out, rate limiting).
    #[serde(default)]
    #[schemars(extend("default" = "deny"))]
    on_provider_error: OnFailure,
    /// What to do when the provider answered but cannot tell what the token may do (e.g. an Azure
    /// DevOps PAT's push, a permission no request can establish).
    #[serde(default)]
    #[schemars(extend("default" = "allow"))]
    on_unverified: OnUnverified,
    /// The Git hosts scopegate may call. An entry whose host is a default's (github.com, gitlab.com,
    /// bitbucket.org, dev.azure.com) replaces it; the others are added to them.
    #[serde(default)]
    providers: Vec<providers::RawProvider>,
    /// The proxy for every provider without its own. With no `proxy` key anywhere, the environment's
    /// HTTPS_PROXY, HTTP_PROXY and NO_PROXY apply.
    #[serde(default)]
    proxy: Option<proxy::RawProxy>,
    /// Who may skip validation with the `scopegate.dev/skip-validation: "true"` annotation.
    #[serde(default)]
    skip_validation: RawSkipValidation,
    /// An UPDATE that leaves the credential as it was is not denied for a problem of that
    /// credential: the annotations are refreshed and a warning says what is wrong.
    #[serde(default = "yes")]
    #[schemars(extend("default" = true))]
    allow_existing_violations: bool,
    /// How long one provider call may take (more than 0s, at most 30s).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<HumanDuration>", extend("default" = "2s"))]
    provider_timeout: Option<Duration>,
    /// Warn when a token expires within this many days.
    #[serde(default = "default_expiry_warning_days")]
    #[schemars(extend("default" = 14))]
    expiry_warning_days: u32,
    /// What dangerous scopes the role does not need do: warn, deny or ignore.
    #[serde(default)]
    #[schemars(extend("default" = "warn"))]
    excess_privileges: ExcessPolicy,
    /// Provider logins that are service or robot accounts (runtime tokens should be one; a runtime
    /// token acting as anyone else gets a warning).
    #[serde(default)]
    service_accounts: Vec<String>,
    /// The Shared Configuration Repository (a repository URL): probed for credential templates whose
    /// prefix covers it, and the runtime token must be able to push to it.
    #[serde(default)]
    shared_configuration_repo: Option<String>,
    /// The grant cache: provider answers, keyed by an HMAC of the API URL, username and token.
    #[serde(default)]
    cache: RawCache,
    /// HTTP calls in flight to one provider at most; more wait (within the deadline).
    #[serde(default = "default_provider_concurrency")]
    #[schemars(extend("default" = 16))]
    provider_concurrency: usize,
    /// When scopegate stops calling a failing provider.
    #[serde(default)]
    circuit_breaker: RawBreaker,
    /// `scopegate watch` only.
    #[serde(default)]
    watch: watch::RawWatch,
    /// Cells replacing the requirement table's: role → token family → scopes or permissions.
    #[serde(default)]
    #[schemars(schema_with = "crate::requirements::overrides_schema")]
    requirements: RawRequirements,
    /// The webhook port's bounds (`scopegate serve`).
    #[serde(default)]
    server: server::RawServer,
}

/// A duration as written in the configuration (humantime): `2s`, `500ms`, `5m`, `1h30m`, `7d`.
pub(crate) struct HumanDuration;

impl schemars::JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration: numbers with units, as 2s, 500ms, 5m, 1h30m or 7d.",
            "pattern": "^\\s*([0-9]+\\s*(ns|us|µs|ms|msec|s|sec|secs|second|seconds|m|min|mins|minute|minutes|h|hr|hrs|hour|hours|d|day|days|w|week|weeks|M|month|months|y|year|years)\\s*)+$",
            "examples": ["2s", "5m"]
        })
    }
}

/// The JSON Schema of the configuration file, from the types that parse it.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RawConfig)).unwrap_or_default()
}

fn default_provider_concurrency() -> usize {
    16
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawCache {
    /// How long an answer about a valid token is reused (never past the token's expiry).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<HumanDuration>", extend("default" = "5m"))]
    ttl: Option<Duration>,
    /// How long a refusal (an invalid, revoked or expired token) is reused.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<HumanDuration>", extend("default" = "30s"))]
    negative_ttl: Option<Duration>,
    /// The most answers kept (about 400 bytes each).
    #[serde(default)]
    #[schemars(range(min = 1), extend("default" = 100000))]
    max_entries: Option<u64>,
    /// While a provider fails, answer from the last known grant this old at most (0s: never).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<HumanDuration>", extend("default" = "1h"))]
    stale_if_error: Option<Duration>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawBreaker {
    /// Consecutive provider failures that stop calls to it.
    #[serde(default)]
    #[schemars(range(min = 1), extend("default" = 5))]
    failure_threshold: Option<u32>,
    /// Then, after this (or the provider's retry-after), one call tries again.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<HumanDuration>", extend("default" = "30s"))]
    cooldown: Option<Duration>,
}

fn default_expiry_warning_days() -> u32 {
    14
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            mode: Mode::default(),
            on_provider_error: OnFailure::default(),
            on_unverified: OnUnverified::default(),
            providers: Vec::new(),
            proxy: None,
            skip_validation: RawSkipValidation::default(),
            allow_existing_violations: true,
            provider_timeout: None,
            expiry_warning_days: default_expiry_warning_days(),
            excess_privileges: ExcessPolicy::default(),
            service_accounts: Vec::new(),
            shared_configuration_repo: None,
            cache: RawCache::default(),
            provider_concurrency: default_provider_concurrency(),
            circuit_breaker: RawBreaker::default(),
            watch: watch::RawWatch::default(),
            requirements: RawRequirements::default(),
            server: server::RawServer::default(),
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSkipValidation {
    /// Users (`request.userInfo.username`) whose `scopegate.dev/skip-validation` annotation is honoured.
    #[serde(default)]
    allowed_users: Vec<String>,
    /// Groups whose members' `scopegate.dev/skip-validation` annotation is honoured.
    #[serde(default)]
    allowed_groups: Vec<String>,
}

impl Config {
    /// Load from a YAML file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml(&text)
    }

    /// Parse and validate YAML text. An empty document gives the defaults.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        if text.trim().is_empty() {
            return Self::from_raw(RawConfig::default());
        }
        let raw: RawConfig = serde_norway::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: RawConfig) -> Result<Self, ConfigError> {
        // With no `proxy` key anywhere the environment's proxy variables apply; once the configuration
        // names a proxy, it alone decides.
        let proxy = match &raw.proxy {
            Some(p) => ProxyChoice::Via(p.validate("proxy")?),
            None if raw.providers.iter().any(providers::RawProvider::has_proxy) => ProxyChoice::Direct,
            None => ProxyChoice::Environment,
        };
        let providers = providers::validate(&raw.providers, &proxy)?;
        let skip_validation = SkipValidation {
            allowed_users: non_empty_set(&raw.skip_validation.allowed_users, "skipValidation.allowedUsers")?,
            allowed_groups: non_empty_set(&raw.skip_validation.allowed_groups, "skipValidation.allowedGroups")?,
        };
        let provider_timeout = raw.provider_timeout.unwrap_or(DEFAULT_PROVIDER_TIMEOUT);
        if provider_timeout.is_zero() || provider_timeout > Duration::from_secs(30) {
            return Err(invalid(
                "providerTimeout",
                "must be more than 0s and at most 30s (the API server's longest webhook timeout)",
            ));
        }
        let service_accounts = non_empty_set(&raw.service_accounts, "serviceAccounts")?;
        let shared_configuration_repo = match &raw.shared_configuration_repo {
            None => None,
            Some(s) => {
                let u = crate::repo_url::RepoUrl::parse(s)
                    .filter(|u| !u.path.is_empty())
                    .ok_or_else(|| invalid("sharedConfigurationRepo", format!("not a repository URL: {s:?}")))?;
                Some(u.display())
            }
        };
        let cache = CacheConfig {
            ttl: raw.cache.ttl.unwrap_or(Duration::from_secs(300)),
            negative_ttl: raw.cache.negative_ttl.unwrap_or(Duration::from_secs(30)),
            max_entries: raw.cache.max_entries.unwrap_or(100_000),
            stale_if_error: raw.cache.stale_if_error.unwrap_or(Duration::from_secs(3600)),
        };
        if cache.max_entries == 0 {
            return Err(invalid("cache.maxEntries", "must be at least 1"));
        }
        if raw.provider_concurrency == 0 {
            return Err(invalid("providerConcurrency", "must be at least 1"));
        }
        let circuit_breaker = BreakerConfig {
            failure_threshold: raw.circuit_breaker.failure_threshold.unwrap_or(5),
            cooldown: raw.circuit_breaker.cooldown.unwrap_or(Duration::from_secs(30)),
        };
        if circuit_breaker.failure_threshold == 0 {
            return Err(invalid("circuitBreaker.failureThreshold", "must be at least 1"));
        }
        Ok(Config {
            mode: raw.mode,
            on_provider_error: raw.on_provider_error,
            on_unverified: raw.on_unverified,
            providers,
            skip_validation,
            allow_existing_violations: raw.allow_existing_violations,
            provider_timeout,
            expiry_warning_days: raw.expiry_warning_days,
            excess_privileges: raw.excess_privileges,
            service_accounts,
            shared_configuration_repo,
            cache,
            provider_concurrency: raw.provider_concurrency,
            circuit_breaker,
            watch: raw.watch.validate()?,
            requirements: Requirements::with_overrides(&raw.requirements).map_err(|e| invalid(e.key, e.message))?,
            server: raw.server.validate()?,
        })
    }

    /// The provider serving a Git host (`host` or `host:port`, lower case).
    pub fn provider_for_host(&self, host: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.host == host).or_else(|| {
            // `{org}.visualstudio.com`: Azure DevOps Services, as `dev.azure.com/{org}`.
            providers::visualstudio_org(host)?;
            self.providers
                .iter()
                .find(|p| p.host == providers::AZURE_DEVOPS_HOST && p.kind == ProviderKind::AzureDevops)
        })
    }
}

/// How long a provider call may take unless configured.
pub const DEFAULT_PROVIDER_TIMEOUT: Duration = Duration::from_secs(2);

/// A duration as people write it (`2s`, `500ms`, `5m`, `30d`), more than zero: for command-line flags.
pub fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("not a duration ({e}): {s:?}; write e.g. 2s, 500ms or 5m"))?;
    if d.is_zero() {
        return Err("must be more than 0s".into());
    }
    Ok(d)
}

fn non_empty_set(values: &[String], key: &str) -> Result<BTreeSet<String>, ConfigError> {
    let mut out = BTreeSet::new();
    for (i, v) in values.iter().enumerate() {
        if v.trim().is_empty() {
            return Err(invalid(format!("{key}[{i}]"), "must not be empty"));
        }
        out.insert(v.clone());
    }
    Ok(out)
}

/// The configured GitHub provider whose API base URL is `api` (for `githubAppEnterpriseBaseUrl`).
impl Config {
    pub fn provider_for_api(&self, api: &str) -> Option<&Provider> {
        let want = api.trim().trim_end_matches('/');
        self.providers
            .iter()
            .find(|p| p.api_url.as_str().trim_end_matches('/').eq_ignore_ascii_case(want))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_serve_without_a_file() {
        let c = Config::default();
        assert_eq!(c.mode, Mode::Enforce);
        assert_eq!(c.on_provider_error, OnFailure::Deny);
        assert!(c.allow_existing_violations);
        assert_eq!(c.providers.len(), 4);
        let az = c.provider_for_host("dev.azure.com").unwrap();
        assert_eq!(
            (az.kind, az.api_url.as_str()),
            (ProviderKind::AzureDevops, "https://dev.azure.com/")
        );
        let gh = c.provider_for_host("github.com").unwrap();
        assert_eq!(gh.api_url.as_str(), "https://api.github.com/");
        assert_eq!(
            c.provider_for_host("gitlab.com").unwrap().api_url.as_str(),
            "https://gitlab.com/api/v4"
        );

        assert_eq!(
            c.provider_for_host("bitbucket.org").unwrap().kind,
            ProviderKind::BitbucketCloud
        );
        assert_eq!(Config::from_yaml("").unwrap(), c);
        assert_eq!(Config::from_yaml("# nothing\n").unwrap(), c);
    }

    #[test]
    fn the_documented_example_parses() {
        let c = Config::from_yaml(
            r#"
mode: warn
onProviderError: allow
providers:
  - kind: github
    host: github.com
    apiUrl: https://api.github.com
  - kind: github
    host: GHE.example.com
    apiUrl: https://ghe.example.com/api/v3/
  - kind: gitlab
    host: gitlab.com
    apiUrl: https://gitlab.com/api/v4
  - kind: bitbucket-cloud
    host: bitbucket.org
    apiUrl: https://api.bitbucket.org/2.0
skipValidation:
  allowedUsers: [alice]
  allowedGroups: [platform-admins]
"#,
        )
        .unwrap();
        assert_eq!(c.mode, Mode::Warn);
        assert_eq!(c.on_provider_error, OnFailure::Allow);
        assert_eq!(c.providers.len(), 5);
        let ghe = c.provider_for_host("ghe.example.com").unwrap();
        assert_eq!(ghe.api_url.as_str(), "https://ghe.example.com/api/v3/");
        assert!(c.skip_validation.allowed_users.contains("alice"));
        assert!(c.skip_validation.allowed_groups.contains("platform-admins"));
    }

    #[test]
    fn an_entry_replaces_the_default_for_its_host() {
        let c = Config::from_yaml(
            "providers:\n  - kind: github\n    host: github.com\n    apiUrl: http://127.0.0.1:9999\n",
        )
        .unwrap();
        assert_eq!(c.providers.len(), 4);
        assert_eq!(
            c.provider_for_host("github.com").unwrap().api_url.as_str(),
            "http://127.0.0.1:9999/"
        );
    }

    fn err(yaml: &str) -> String {
        Config::from_yaml(yaml).unwrap_err().to_string()
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        assert!(err("mdoe: enforce\n").contains("mdoe"), "{}", err("mdoe: enforce\n"));
        let e = err("mode: block\n");
        assert!(e.contains("mode") && e.contains("block"), "{e}");
        let e = err("onProviderError: maybe\n");
        assert!(e.contains("onProviderError") && e.contains("maybe"), "{e}");
        let e = err("providers:\n  - kind: gogs\n    host: x.org\n    apiUrl: https://x.org\n");
        assert!(e.contains("providers[0]") && e.contains("gogs"), "{e}");
        let e = err("providers:\n  - kind: github\n    host: x.org\n    apiurl: https://x.org\n");
        assert!(e.contains("apiurl"), "{e}");
        let e = err("skipValidation:\n  allowedUser: [a]\n");
        assert!(e.contains("allowedUser"), "{e}");
    }

    #[test]
    fn api_urls_must_be_https_except_on_loopback() {
        let e = err("providers:\n  - kind: github\n    host: ghe.corp\n    apiUrl: http://ghe.corp/api/v3\n");
        assert!(e.contains("providers[0].apiUrl") && e.contains("https://"), "{e}");
        for ok in ["http://127.0.0.1:8080", "http://[::1]:8080/x", "http://localhost:1"] {
            Config::from_yaml(&format!(
                "providers:\n  - kind: gitlab\n    host: g.corp\n    apiUrl: {ok}\n"
            ))
            .unwrap();
        }
        let e = err("providers:\n  - kind: gitlab\n    host: g.corp\n    apiUrl: https://u:p@g.corp/api/v4\n");
        assert!(e.contains("credentials"), "{e}");
        let e = err("providers:\n  - kind: gitlab\n    host: g.corp\n    apiUrl: ftp://g.corp\n");
        assert!(e.contains("https"), "{e}");
        let e = err("providers:\n  - kind: gitlab\n    host: 'a/b'\n    apiUrl: https://g.corp\n");
        assert!(e.contains("providers[0].host"), "{e}");
    }

    #[test]
    fn token_kind_keys() {
        let c = Config::from_yaml(
            "expiryWarningDays: 30\nexcessPrivileges: deny\nserviceAccounts: [gitops-bot]\nsharedConfigurationRepo: https://github.com/acme/isc.git\nproviders:\n  - kind: bitbucket-server\n    host: bitbucket.corp\n    apiUrl: https://bitbucket.corp/rest/api/1.0\n    gitUrl: https://bitbucket.corp/git\n",
        )
        .unwrap();
        assert_eq!(c.expiry_warning_days, 30);
        assert_eq!(c.excess_privileges, ExcessPolicy::Deny);
        assert!(c.service_accounts.contains("gitops-bot"));
        assert_eq!(
            c.shared_configuration_repo.as_deref(),
            Some("https://github.com/acme/isc.git")
        );
        let dc = c.provider_for_host("bitbucket.corp").unwrap();
        assert_eq!(dc.kind, ProviderKind::BitbucketServer);
        assert_eq!(dc.git_url.as_str(), "https://bitbucket.corp/git");
        assert_eq!(
            c.provider_for_host("github.com").unwrap().git_url.as_str(),
            "https://github.com/"
        );
        assert_eq!(Config::default().expiry_warning_days, 14);
        assert_eq!(Config::default().excess_privileges, ExcessPolicy::Warn);
        assert!(c.provider_for_api("https://bitbucket.corp/rest/api/1.0/").is_some());
        let e = err("sharedConfigurationRepo: https://github.com\n");
        assert!(e.contains("sharedConfigurationRepo"), "{e}");
        let e = err("excessPrivileges: sometimes\n");
        assert!(e.contains("excessPrivileges"), "{e}");
        let e = err(
            "providers:\n  - {kind: github, host: g.corp, apiUrl: https://g.corp/api/v3, gitUrl: 'http://g.corp'}\n",
        );
        assert!(e.contains("providers[0].gitUrl"), "{e}");
    }

    #[test]
    fn cache_and_upstream_keys() {
        let c = Config::default();
        assert_eq!(c.cache.ttl, Duration::from_secs(300));
        assert_eq!(c.cache.negative_ttl, Duration::from_secs(30));
        assert_eq!(c.cache.max_entries, 100_000);
        assert_eq!(c.provider_concurrency, 16);
        assert_eq!(c.circuit_breaker.failure_threshold, 5);
        let c = Config::from_yaml(
            "cache:\n  ttl: 10m\n  negativeTtl: 5s\n  maxEntries: 10\n  staleIfError: 0s\nproviderConcurrency: 4\ncircuitBreaker:\n  failureThreshold: 2\n  cooldown: 1m\n",
        )
        .unwrap();
        assert_eq!(c.cache.ttl, Duration::from_secs(600));
        assert_eq!(c.cache.stale_if_error, Duration::ZERO);
        assert_eq!(c.circuit_breaker.cooldown, Duration::from_secs(60));
        let e = err("cache:\n  tll: 5m\n");
        assert!(e.contains("tll"), "{e}");
        let e = err("cache:\n  ttl: soon\n");
        assert!(e.contains("cache.ttl"), "{e}");
        let e = err("circuitBreaker:\n  failureThreshold: 0\n");
        assert!(e.contains("circuitBreaker.failureThreshold"), "{e}");
    }

    #[test]
    fn provider_timeout() {
        assert_eq!(Config::default().provider_timeout, Duration::from_secs(2));
        assert_eq!(
            Config::from_yaml("providerTimeout: 500ms\n").unwrap().provider_timeout,
            Duration::from_millis(500)
        );
        let e = err("providerTimeout: soon\n");
        assert!(e.contains("providerTimeout"), "{e}");
        let e = err("providerTimeout: 0s\n");
        assert!(e.contains("providerTimeout"), "{e}");
    }

    #[test]
    fn duplicate_hosts_are_refused() {
        let e = err(
            "providers:\n  - {kind: github, host: a.org, apiUrl: https://a.org/api/v3}\n  - {kind: gitlab, host: A.org, apiUrl: https://a.org/api/v4}\n",
        );
        assert!(e.contains("providers[1].host") && e.contains("more than once"), "{e}");
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use serde_json::Value;

    /// Every key of the file, with its schema: (dotted path, schema), `$ref`s followed.
    fn keys(schema: &Value) -> Vec<(String, Value)> {
        fn resolve<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
            match s.get("$ref").and_then(Value::as_str) {
                Some(r) => r
                    .strip_prefix("#/$defs/")
                    .and_then(|name| root["$defs"].get(name))
                    .unwrap_or(s),
                None => s,
            }
        }
        fn walk(root: &Value, s: &Value, path: &str, out: &mut Vec<(String, Value)>) {
            let s = resolve(root, s);
            // `Option<T>` is `anyOf: [T, null]`.
            let s = s["anyOf"]
                .as_array()
                .and_then(|a| a.iter().find(|v| v["type"] != "null"))
                .map(|v| resolve(root, v))
                .unwrap_or(s);
            if let Some(props) = s["properties"].as_object() {
                for (k, v) in props {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    out.push((p.clone(), v.clone()));
                    walk(root, v, &p, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(schema, schema, "", &mut out);
        out
    }

    #[test]
    fn every_key_is_described_and_unknown_keys_are_refused() {
        let schema = schema();
        let keys = keys(&schema);
        assert!(keys.len() > 40, "{keys:?}");
        for (path, s) in &keys {
            let described = s.get("description").is_some()
                || s["$ref"].is_string()
                || s["anyOf"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|v| v["$ref"].is_string()));
            assert!(described, "{path} has no description: {s}");
        }
        assert_eq!(schema["additionalProperties"], false);
    }

    /// A default the schema states is the default the parser applies: the key set to it alone gives
    /// the defaults' configuration.
    #[test]
    fn every_default_in_the_schema_is_the_parsers() {
        let schema = schema();
        let mut checked = 0;
        for (path, s) in keys(&schema) {
            let Some(default) = s.get("default") else { continue };
            let value = serde_json::to_string(default).unwrap();
            let mut yaml = String::new();
            let parts: Vec<&str> = path.split('.').collect();
            for (depth, part) in parts.iter().enumerate() {
                yaml.push_str(&"  ".repeat(depth));
                yaml.push_str(part);
                yaml.push(':');
                yaml.push(if depth + 1 == parts.len() { ' ' } else { '\n' });
            }
            yaml.push_str(&value);
            yaml.push('\n');
            // Inside entries that require other keys (a provider's kind and host, a proxy's url).
            if path.starts_with("providers") || path.starts_with("proxy") {
                continue;
            }
            let parsed = Config::from_yaml(&yaml).unwrap_or_else(|e| panic!("{path}: {yaml}: {e}"));
            assert_eq!(
                parsed,
                Config::default(),
                "{path}'s documented default {value} is not the default"
            );
            checked += 1;
        }
        assert!(checked >= 20, "{checked} defaults checked");
        // writeProbes' default, inside a provider entry.
        let with = Config::from_yaml(
            "providers:\n  - {kind: github, host: github.com, apiUrl: https://api.github.com, writeProbes: true}\n",
        )
        .unwrap();
        assert_eq!(with, Config::default());
    }
}
