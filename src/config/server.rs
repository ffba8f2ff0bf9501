//! `server:` — what the webhook port lets one client hold, and how long it may take: bounds that keep
//! a client without credentials (any pod can reach the port) from exhausting memory or making
//! scopegate call providers on its behalf.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, invalid};

/// The validated `server:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Open connections on the webhook port at most; beyond it, new ones wait in the listen backlog.
    pub max_connections: usize,
    /// How long a client may take to finish the TLS handshake.
    pub handshake_timeout: Duration,
    /// How long a client may take to send an HTTP/1 request head (also how long an idle HTTP/1
    /// keep-alive connection stays open).
    pub header_timeout: Duration,
    /// How long an HTTP/2 connection may stay open with no stream.
    pub idle_timeout: Duration,
    /// HTTP/2 streams one connection may have open at once.
    pub max_concurrent_streams: u32,
    /// Provider refusals (401) a client address may cause before its reviews of tokens not in the
    /// cache are no longer asked about.
    pub invalid_token_budget: TokenBudget,
}

/// A token bucket: `burst` refusals at once, refilled at `per_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBudget {
    pub per_minute: u32,
    pub burst: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            handshake_timeout: Duration::from_secs(5),
            header_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(90),
            max_concurrent_streams: 128,
            invalid_token_budget: TokenBudget {
                per_minute: 20,
                burst: 40,
            },
        }
    }
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawServer {
    /// Connections open at once (1 to 1000000); beyond it, new ones wait in the listen backlog.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1_000_000), extend("default" = 1024))]
    max_connections: Option<usize>,
    /// How long a TLS handshake may take (100ms to 60s).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::config::HumanDuration>", extend("default" = "5s"))]
    handshake_timeout: Option<Duration>,
    /// How long an HTTP/1 request head, or an HTTP/2 connection's first request, may take to arrive
    /// (100ms to 60s); an idle HTTP/1 keep-alive connection is closed after it too, as hyper does.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::config::HumanDuration>", extend("default" = "5s"))]
    header_timeout: Option<Duration>,
    /// How long a connection may stay without a request in flight (1s to 1h).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::config::HumanDuration>", extend("default" = "90s"))]
    idle_timeout: Option<Duration>,
    /// HTTP/2 streams per connection (1 to 10000).
    #[serde(default)]
    #[schemars(range(min = 1, max = 10_000), extend("default" = 128))]
    max_concurrent_streams: Option<u32>,
    /// Provider refusals (401) one requesting user may cause; a client address, where user names are
    /// only claimed (no `--client-ca`), ten times this.
    #[serde(default)]
    invalid_token_budget: Option<RawBudget>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawBudget {
    /// Refusals a minute, refilled continuously.
    #[serde(default)]
    #[schemars(extend("default" = 20))]
    per_minute: Option<u32>,
    /// Refusals at once (at least 1).
    #[serde(default)]
    #[schemars(range(min = 1), extend("default" = 40))]
    burst: Option<u32>,
}

/// A duration between `min` and `max`, naming the key otherwise.
fn bounded(
    key: &str,
    value: Option<Duration>,
    default: Duration,
    min: Duration,
    max: Duration,
) -> Result<Duration, ConfigError> {
    let v = value.unwrap_or(default);
    if v < min || v > max {
        return Err(invalid(
            key,
            format!(
                "must be between {} and {}",
                humantime::format_duration(min),
                humantime::format_duration(max)
            ),
        ));
    }
    Ok(v)
}

impl RawServer {
    pub(super) fn validate(self) -> Result<ServerConfig, ConfigError> {
        let d = ServerConfig::default();
        let max_connections = self.max_connections.unwrap_or(d.max_connections);
        if !(1..=1_000_000).contains(&max_connections) {
            return Err(invalid("server.maxConnections", "must be between 1 and 1000000"));
        }
        let max_concurrent_streams = self.max_concurrent_streams.unwrap_or(d.max_concurrent_streams);
        if !(1..=10_000).contains(&max_concurrent_streams) {
            return Err(invalid("server.maxConcurrentStreams", "must be between 1 and 10000"));
        }
        let ms = Duration::from_millis;
        let budget = match self.invalid_token_budget {
            None => d.invalid_token_budget,
            Some(b) => TokenBudget {
                per_minute: b.per_minute.unwrap_or(d.invalid_token_budget.per_minute),
                burst: b.burst.unwrap_or(d.invalid_token_budget.burst),
            },
        };
        if budget.burst == 0 {
            return Err(invalid(
                "server.invalidTokenBudget.burst",
                "must be at least 1 (a client needs room for one mistyped token)",
            ));
        }
        Ok(ServerConfig {
            max_connections,
            handshake_timeout: bounded(
                "server.handshakeTimeout",
                self.handshake_timeout,
                d.handshake_timeout,
                ms(100),
                Duration::from_secs(60),
            )?,
            header_timeout: bounded(
                "server.headerTimeout",
                self.header_timeout,
                d.header_timeout,
                ms(100),
                Duration::from_secs(60),
            )?,
            idle_timeout: bounded(
                "server.idleTimeout",
                self.idle_timeout,
                d.idle_timeout,
                Duration::from_secs(1),
                Duration::from_secs(3600),
            )?,
            max_concurrent_streams,
            invalid_token_budget: budget,
        })
    }
}
