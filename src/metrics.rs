//! Prometheus metrics (prometheus-client), served on the admin port at `/metrics`. The engine's
//! lower layers report through observer traits they own ([`CallObserver`], [`CacheObserver`]); this
//! module implements them and imports nothing that imports it.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::cache::CacheObserver;
use crate::policy::Outcome;
use crate::providers::{CallObserver, CallOutcome};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdmissionLabels {
    pub webhook: &'static str,
    pub operation: &'static str,
    pub verdict: &'static str,
    pub allowed: &'static str,
    pub dry_run: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    pub webhook: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderOutcomeLabels {
    /// The provider's host (`github.com`, a GitHub Enterprise host, …).
    pub provider: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabels {
    pub provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SecretLabels {
    pub namespace: String,
    pub name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// Every metric scopegate exports.
pub struct Metrics {
    registry: Registry,
    pub admission_requests: Family<AdmissionLabels, Counter>,
    pub admission_duration: Family<WebhookLabels, Histogram>,
    pub provider_requests: Family<ProviderOutcomeLabels, Counter>,
    pub provider_duration: Family<ProviderLabels, Histogram>,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub cache_entries: Gauge,
    pub token_expiry: Family<SecretLabels, FloatGauge>,
    pub circuit_open: Family<ProviderLabels, Gauge>,
    pub tls_reloads: Family<ResultLabels, Counter>,
    pub certificate_expiry: FloatGauge,
}

/// Latency buckets from 0.5 ms to 10 s: cached answers take well under a millisecond, provider calls
/// tens to hundreds, the API server gives up at its timeout.
fn latency_buckets() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("scopegate");
        let admission_requests = Family::<AdmissionLabels, Counter>::default();
        registry.register(
            "admission_requests",
            "Admission reviews answered, by webhook, operation, verdict, whether allowed, and dry run",
            admission_requests.clone(),
        );
        let admission_duration =
            Family::<WebhookLabels, Histogram>::new_with_constructor(latency_buckets as fn() -> Histogram);
        registry.register(
            "admission_duration_seconds",
            "Time to answer an admission review",
            admission_duration.clone(),
        );
        let provider_requests = Family::<ProviderOutcomeLabels, Counter>::default();
        registry.register(
            "provider_requests",
            "HTTP requests to Git providers, by provider host and outcome (ok, unauthorized, rate_limited, client_error, server_error, redirect, timeout, connection_error, circuit_open)",
            provider_requests.clone(),
        );
        let provider_duration =
            Family::<ProviderLabels, Histogram>::new_with_constructor(latency_buckets as fn() -> Histogram);
        registry.register(
            "provider_duration_seconds",
            "Time of one HTTP request to a Git provider",
            provider_duration.clone(),
        );
        let cache_hits = Counter::default();
        registry.register(
            "cache_hits",
            "Token introspections answered from the grant cache",
            cache_hits.clone(),
        );
        let cache_misses = Counter::default();
        registry.register(
            "cache_misses",
            "Token introspections that had to ask the provider",
            cache_misses.clone(),
        );
        let cache_entries = Gauge::default();
        registry.register(
            "cache_entries",
            "Provider answers held in the grant cache",
            cache_entries.clone(),
        );
        let token_expiry = Family::<SecretLabels, FloatGauge>::default();
        registry.register(
            "token_expiry_timestamp_seconds",
            "When the token in an admitted credential Secret expires (Unix time), as its provider reports",
            token_expiry.clone(),
        );
        let circuit_open = Family::<ProviderLabels, Gauge>::default();
        registry.register(
            "provider_circuit_open",
            "1 while scopegate stops calling a failing or rate-limiting provider",
            circuit_open.clone(),
        );
        let tls_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "tls_reloads",
            "Serving certificate reloads after the files changed, by result (ok, error)",
            tls_reloads.clone(),
        );
        let certificate_expiry = FloatGauge::default();
        registry.register(
            "certificate_expiry_timestamp_seconds",
            "When the serving certificate expires (Unix time)",
            certificate_expiry.clone(),
        );
        Self {
            registry,
            admission_requests,
            admission_duration,
            provider_requests,
            provider_duration,
            cache_hits,
            cache_misses,
            cache_entries,
            token_expiry,
            circuit_open,
            tls_reloads,
            certificate_expiry,
        }
    }

    /// Create, at zero, the series that alerts watch for a first increase: a counter series that only
    /// appears with its first increment is invisible to `increase()` and `rate()` until its second.
    /// Validating-webhook reviews by operation, verdict, allowed and dry run; provider calls by
    /// outcome for each configured provider; certificate reloads by result; and each provider's
    /// circuit, closed.
    pub fn initialise<'a>(&self, providers: impl IntoIterator<Item = &'a str>) {
        for operation in ["CREATE", "UPDATE"] {
            for verdict in Outcome::all().map(Outcome::as_str) {
                for allowed in [true, false] {
                    for dry_run in [true, false] {
                        self.admission_requests
                            .get_or_create(&AdmissionLabels {
                                webhook: "validate",
                                operation,
                                verdict,
                                allowed: flag(allowed),
                                dry_run: flag(dry_run),
                            })
                            .inc_by(0);
                    }
                }
            }
        }
        for provider in providers {
            for outcome in <CallOutcome as strum::IntoEnumIterator>::iter() {
                self.provider_requests
                    .get_or_create(&ProviderOutcomeLabels {
                        provider: provider.to_owned(),
                        outcome: outcome.as_str(),
                    })
                    .inc_by(0);
            }
            self.circuit_open
                .get_or_create(&ProviderLabels {
                    provider: provider.to_owned(),
                })
                .set(0);
        }
        for result in ["ok", "error"] {
            self.tls_reloads.get_or_create(&ResultLabels { result }).inc_by(0);
        }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl CallObserver for Metrics {
    fn provider_call(&self, host: &str, outcome: CallOutcome, elapsed: Option<Duration>) {
        self.provider_requests
            .get_or_create(&ProviderOutcomeLabels {
                provider: host.to_owned(),
                outcome: outcome.as_str(),
            })
            .inc();
        if let Some(elapsed) = elapsed {
            self.provider_duration
                .get_or_create(&ProviderLabels {
                    provider: host.to_owned(),
                })
                .observe(elapsed.as_secs_f64());
        }
    }

    fn provider_circuit(&self, host: &str, open: bool) {
        self.circuit_open
            .get_or_create(&ProviderLabels {
                provider: host.to_owned(),
            })
            .set(i64::from(open));
    }
}

impl CacheObserver for Metrics {
    fn cache_lookup(&self, hit: bool) {
        if hit {
            self.cache_hits.inc();
        } else {
            self.cache_misses.inc();
        }
    }

    fn cache_size(&self, entries: u64) {
        self.cache_entries.set(i64::try_from(entries).unwrap_or(i64::MAX));
    }
}

/// `"true"` / `"false"` for labels.
pub fn flag(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_metric_is_exported() {
        let m = Metrics::new();
        m.admission_requests
            .get_or_create(&AdmissionLabels {
                webhook: "validate",
                operation: "CREATE",
                verdict: "ok",
                allowed: "true",
                dry_run: "false",
            })
            .inc();
        m.admission_duration
            .get_or_create(&WebhookLabels { webhook: "validate" })
            .observe(0.001);
        m.provider_requests
            .get_or_create(&ProviderOutcomeLabels {
                provider: "github.com".into(),
                outcome: "ok",
            })
            .inc();
        m.provider_duration
            .get_or_create(&ProviderLabels {
                provider: "github.com".into(),
            })
            .observe(0.05);
        m.token_expiry
            .get_or_create(&SecretLabels {
                namespace: "argocd".into(),
                name: "repo".into(),
            })
            .set(1.8e9);
        let text = m.encode();
        for name in [
            "scopegate_admission_requests_total{webhook=\"validate\",operation=\"CREATE\",verdict=\"ok\",allowed=\"true\",dry_run=\"false\"} 1",
            "scopegate_admission_duration_seconds_bucket",
            "scopegate_provider_requests_total{provider=\"github.com\",outcome=\"ok\"} 1",
            "scopegate_provider_duration_seconds_bucket",
            "scopegate_cache_hits_total",
            "scopegate_cache_misses_total",
            "scopegate_token_expiry_timestamp_seconds{namespace=\"argocd\",name=\"repo\"} 1800000000",
            "scopegate_certificate_expiry_timestamp_seconds",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }
}
