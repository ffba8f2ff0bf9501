//! Prometheus metrics (prometheus-client), served on the admin port at `/metrics`. The engine's
//! lower layers report through observer traits they own ([`CallObserver`], [`CacheObserver`]); this
//! module implements them and imports nothing that imports it.
//!
//! Each front end registers what it exports in one [`Registry`]: [`EngineMetrics`] (provider calls,
//! grant cache, circuit breakers) for both `serve` and `watch`, [`ServeMetrics`] for the webhooks,
//! [`WatchMetrics`] for the watcher's per-Secret series.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

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

/// `scopegate_invalid_token_budget_refusals_total`'s label: which budget held the review back
/// (`user` or `client`; never a user name).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BudgetLabels {
    pub budget: &'static str,
}

/// `scopegate_connections_timed_out_total`'s label: which timeout closed the connection.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub phase: &'static str,
}

/// `scopegate_credential_verdict`'s labels: the Secret and what it holds.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CredentialLabels {
    pub namespace: String,
    pub name: String,
    pub verdict: &'static str,
    /// Empty where unknown.
    pub provider: &'static str,
    /// Empty where unknown.
    pub token_kind: &'static str,
    pub role: &'static str,
}

/// `scopegate_repository_access`'s labels: a repository (in Argo CD's normal form), the credential
/// Secret Argo CD (or Image Updater) uses for it (empty when none covers it), and the verdict.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct RepositoryLabels {
    pub repo_url: String,
    pub verdict: &'static str,
    /// The credential Secret's namespace; empty when none covers the repository.
    pub namespace: String,
    /// The credential Secret's name; empty when none covers the repository.
    pub name: String,
}

/// `scopegate_scm_credential_verdict`'s labels: an ApplicationSet generator and its token's verdict.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct ScmLabels {
    pub namespace: String,
    pub applicationset: String,
    /// Its path in the ApplicationSet (`generators[0].scmProvider`).
    pub generator: String,
    pub provider: &'static str,
    pub verdict: &'static str,
}

/// `scopegate_credential_expiry_timestamp_seconds`'s labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExpiryLabels {
    pub namespace: String,
    pub name: String,
    pub provider: &'static str,
    pub owner: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    pub verdict: &'static str,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// Latency buckets from 0.5 ms to 10 s: cached answers take well under a millisecond, provider calls
/// tens to hundreds, the API server gives up at its timeout.
fn latency_buckets() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

/// The registry a front end exports on its admin port, and the names registered in it.
pub struct Registry(prometheus_client::registry::Registry, Vec<String>);

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    pub fn new() -> Self {
        Self(
            prometheus_client::registry::Registry::with_prefix("scopegate"),
            Vec::new(),
        )
    }

    fn register<M: prometheus_client::registry::Metric + Clone>(&mut self, name: &str, help: &str, metric: &M) {
        self.0.register(name, help, metric.clone());
        self.1.push(format!("scopegate_{name}"));
    }

    /// The OpenMetrics text exposition (`application/openmetrics-text`), as prometheus-client
    /// writes it.
    pub fn encode_openmetrics(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.0);
        out
    }

    /// The Prometheus text format 0.0.4 (`text/plain; version=0.0.4`), what `promtool check metrics`
    /// and scrapers that do not ask for OpenMetrics read.
    pub fn encode_text(&self) -> String {
        openmetrics_to_text(&self.encode_openmetrics())
    }
}

/// OpenMetrics names a counter family without `_total` in `# HELP` and `# TYPE` and ends with
/// `# EOF`; the 0.0.4 text format names the series itself (`…_total`) and has no `# EOF` or `# UNIT`.
/// prometheus-client writes OpenMetrics only, so the few lines that differ are rewritten here.
fn openmetrics_to_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let rewritten = ["# HELP ", "# TYPE "].iter().find_map(|kind| {
            let rest = line.strip_prefix(kind)?;
            let (name, tail) = rest.split_once(' ')?;
            (counters.contains(name) && !name.ends_with("_total")).then(|| format!("{kind}{name}_total {tail}"))
        });
        out.push_str(rewritten.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// Provider calls, the grant cache and the circuit breakers: what the engine reports.
pub struct EngineMetrics {
    pub provider_requests: Family<ProviderOutcomeLabels, Counter>,
    pub provider_duration: Family<ProviderLabels, Histogram>,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub cache_entries: Gauge,
    pub circuit_open: Family<ProviderLabels, Gauge>,
    pub probe_unexpected_success: Family<ProviderLabels, Counter>,
}

impl EngineMetrics {
    pub fn register(r: &mut Registry) -> Self {
        let m = Self {
            provider_requests: Family::default(),
            provider_duration: Family::new_with_constructor(latency_buckets as fn() -> Histogram),
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
            cache_entries: Gauge::default(),
            circuit_open: Family::default(),
            probe_unexpected_success: Family::default(),
        };
        r.register(
            "provider_requests",
            "HTTP requests to Git providers, by provider host and outcome (ok, unauthorized, rate_limited, client_error, server_error, redirect, timeout, connection_error, circuit_open)",
            &m.provider_requests,
        );
        r.register(
            "provider_duration_seconds",
            "Time of one HTTP request to a Git provider",
            &m.provider_duration,
        );
        r.register(
            "cache_hits",
            "Token introspections answered from the grant cache",
            &m.cache_hits,
        );
        r.register(
            "cache_misses",
            "Token introspections that had to ask the provider",
            &m.cache_misses,
        );
        r.register(
            "cache_entries",
            "Provider answers held in the grant cache",
            &m.cache_entries,
        );
        r.register(
            "provider_circuit_open",
            "1 while scopegate stops calling a failing or rate-limiting provider",
            &m.circuit_open,
        );
        r.register(
            "probe_unexpected_success",
            "Requests built to be refused (GitHub write-level probes) that the provider accepted; never read as a grant",
            &m.probe_unexpected_success,
        );
        m
    }

    /// Create, at zero, the series alerts watch for a first increase (a counter series that appears
    /// only with its first increment is invisible to `increase()` until its second): provider calls by
    /// outcome for each configured provider, each provider's circuit, closed, and for each provider
    /// that may be sent requests built to be refused, the count of those it accepted.
    pub fn initialise<'a>(&self, providers: impl IntoIterator<Item = &'a crate::config::Provider>) {
        for p in providers {
            let provider = p.host.as_str();
            if p.write_probes {
                self.probe_unexpected_success
                    .get_or_create(&ProviderLabels {
                        provider: provider.to_owned(),
                    })
                    .inc_by(0);
            }
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
    }
}

impl CallObserver for EngineMetrics {
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

    fn unexpected_success(&self, host: &str) {
        self.probe_unexpected_success
            .get_or_create(&ProviderLabels {
                provider: host.to_owned(),
            })
            .inc();
    }
}

impl CacheObserver for EngineMetrics {
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

/// The webhooks' metrics.
pub struct ServeMetrics {
    pub admission_requests: Family<AdmissionLabels, Counter>,
    pub admission_duration: Family<WebhookLabels, Histogram>,
    pub token_expiry: Family<SecretLabels, FloatGauge>,
    pub tls_reloads: Family<ResultLabels, Counter>,
    pub certificate_expiry: FloatGauge,
    pub connections_open: Gauge,
    pub connections_limited: Counter,
    pub connections_timed_out: Family<PhaseLabels, Counter>,
    pub budget_refusals: Family<BudgetLabels, Counter>,
}

impl ServeMetrics {
    pub fn register(r: &mut Registry) -> Self {
        let m = Self {
            admission_requests: Family::default(),
            admission_duration: Family::new_with_constructor(latency_buckets as fn() -> Histogram),
            token_expiry: Family::default(),
            tls_reloads: Family::default(),
            certificate_expiry: FloatGauge::default(),
            connections_open: Gauge::default(),
            connections_limited: Counter::default(),
            connections_timed_out: Family::default(),
            budget_refusals: Family::default(),
        };
        r.register(
            "admission_requests",
            "Admission reviews answered, by webhook, operation, verdict, whether allowed, and dry run",
            &m.admission_requests,
        );
        r.register(
            "admission_duration_seconds",
            "Time to answer an admission review",
            &m.admission_duration,
        );
        r.register(
            "token_expiry_timestamp_seconds",
            "When the token in an admitted credential Secret expires (Unix time), as its provider reports",
            &m.token_expiry,
        );
        r.register(
            "tls_reloads",
            "Serving certificate reloads after the files changed, by result (ok, error)",
            &m.tls_reloads,
        );
        r.register(
            "certificate_expiry_timestamp_seconds",
            "When the serving certificate expires (Unix time)",
            &m.certificate_expiry,
        );
        r.register(
            "connections_open",
            "Connections open on the webhook port (at most server.maxConnections)",
            &m.connections_open,
        );
        r.register(
            "connections_limited",
            "Times a new connection waited in the listen backlog because server.maxConnections were open",
            &m.connections_limited,
        );
        r.register(
            "connections_timed_out",
            "Connections closed by a timeout, by phase (handshake: server.handshakeTimeout; idle: server.idleTimeout)",
            &m.connections_timed_out,
        );
        r.register(
            "invalid_token_budget_refusals",
            "Reviews of tokens not in the cache answered without asking the provider, because the requesting user's or the client address's server.invalidTokenBudget was spent, by budget (user, client)",
            &m.budget_refusals,
        );
        m
    }

    /// Create, at zero, the series that alerts watch for a first increase: validating-webhook reviews
    /// by operation, verdict, allowed and dry run, and certificate reloads by result.
    pub fn initialise(&self) {
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
        for phase in ["handshake", "idle"] {
            self.connections_timed_out
                .get_or_create(&PhaseLabels { phase })
                .inc_by(0);
        }
        for result in ["ok", "error"] {
            self.tls_reloads.get_or_create(&ResultLabels { result }).inc_by(0);
        }
        for budget in <crate::grant::BudgetSpent as strum::IntoEnumIterator>::iter() {
            self.budget_refusals
                .get_or_create(&BudgetLabels {
                    budget: budget.as_str(),
                })
                .inc_by(0);
        }
    }
}

/// The watcher's metrics: per credential Secret (exported by the leader only), and its own state.
pub struct WatchMetrics {
    pub credential_verdict: Family<CredentialLabels, Gauge>,
    pub credential_expiry: Family<ExpiryLabels, FloatGauge>,
    pub credential_last_checked: Family<SecretLabels, FloatGauge>,
    pub credentials: Family<VerdictLabels, Gauge>,
    pub repository_access: Family<RepositoryLabels, Gauge>,
    pub scm_credential_verdict: Family<ScmLabels, Gauge>,
    pub leader: Gauge,
}

impl WatchMetrics {
    pub fn register(r: &mut Registry) -> Self {
        let m = Self {
            credential_verdict: Family::default(),
            credential_expiry: Family::default(),
            credential_last_checked: Family::default(),
            credentials: Family::default(),
            repository_access: Family::default(),
            scm_credential_verdict: Family::default(),
            leader: Gauge::default(),
        };
        r.register(
            "credential_verdict",
            "1 for the current verdict of each credential Secret the watcher keeps judged (exported by the leader)",
            &m.credential_verdict,
        );
        r.register(
            "credential_expiry_timestamp_seconds",
            "When the token in a credential Secret expires (Unix time), as its provider reports (exported by the leader)",
            &m.credential_expiry,
        );
        r.register(
            "credential_last_checked_timestamp_seconds",
            "When a credential Secret's verdict was last established with its provider's answer (Unix time; exported by the leader)",
            &m.credential_last_checked,
        );
        r.register(
            "watch_credentials",
            "Credential Secrets the watcher keeps judged, by verdict",
            &m.credentials,
        );
        r.register(
            "repository_access",
            "1 for the verdict of each repository the followed Applications and ApplicationSets need, with the credential Argo CD (or Image Updater) uses for it (exported by the leader)",
            &m.repository_access,
        );
        r.register(
            "scm_credential_verdict",
            "1 for the verdict of each ApplicationSet generator's SCM token, judged for the scm role (exported by the leader)",
            &m.scm_credential_verdict,
        );
        r.register(
            "watch_leader",
            "1 while this watcher is the leader (calls providers, writes Events and reports, exports per-Secret series)",
            &m.leader,
        );
        for verdict in Outcome::all().filter(|o| *o != Outcome::Ignored) {
            m.credentials
                .get_or_create(&VerdictLabels {
                    verdict: verdict.as_str(),
                })
                .set(0);
        }
        m
    }
}

/// `"true"` / `"false"` for labels.
pub fn flag(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// One metric, as the reference lists it: from the registry itself (name, type, help) and a sample of
/// each family (its labels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricDoc {
    pub name: String,
    pub kind: String,
    pub help: String,
    pub labels: Vec<String>,
    /// Which command's admin port serves it: `serve`, `watch`, or both.
    pub served_by: &'static str,
}

/// Every metric scopegate exports, read from a registry with every group registered and one sample of
/// each family (placeholder label values), encoded as `/metrics` encodes it.
pub fn catalogue() -> Vec<MetricDoc> {
    let mut r = Registry::new();
    let engine = EngineMetrics::register(&mut r);
    let engine_names = names(&r);
    let serve = ServeMetrics::register(&mut r);
    let serve_names: Vec<String> = names(&r).into_iter().filter(|n| !engine_names.contains(n)).collect();
    let watch = WatchMetrics::register(&mut r);
    engine.initialise(&crate::config::Config::default().providers);
    engine.provider_call("github.com", CallOutcome::Ok, Some(Duration::ZERO));
    serve.initialise();
    serve
        .admission_duration
        .get_or_create(&WebhookLabels { webhook: "validate" })
        .observe(0.0);
    let secret = SecretLabels {
        namespace: "ns".into(),
        name: "name".into(),
    };
    serve.token_expiry.get_or_create(&secret).set(0.0);
    watch
        .credential_verdict
        .get_or_create(&CredentialLabels {
            namespace: "ns".into(),
            name: "name".into(),
            verdict: "ok",
            provider: "github",
            token_kind: "classic",
            role: "read",
        })
        .set(1);
    watch
        .credential_expiry
        .get_or_create(&ExpiryLabels {
            namespace: "ns".into(),
            name: "name".into(),
            provider: "github",
            owner: "owner".into(),
        })
        .set(0.0);
    watch.credential_last_checked.get_or_create(&secret).set(0.0);
    watch
        .repository_access
        .get_or_create(&RepositoryLabels {
            repo_url: "url".into(),
            verdict: "ok",
            namespace: "ns".into(),
            name: "name".into(),
        })
        .set(1);
    watch
        .scm_credential_verdict
        .get_or_create(&ScmLabels {
            namespace: "ns".into(),
            applicationset: "name".into(),
            generator: "generators[0].scmProvider".into(),
            provider: "github",
            verdict: "ok",
        })
        .set(1);
    parse_exposition(&r.encode_text())
        .into_iter()
        .map(|mut m| {
            m.served_by = if engine_names.iter().any(|n| m.name.starts_with(n.as_str())) {
                "serve, watch"
            } else if serve_names.iter().any(|n| m.name.starts_with(n.as_str())) {
                "serve"
            } else {
                "watch"
            };
            m
        })
        .collect()
}

/// The names registered so far (without a counter's `_total`).
fn names(r: &Registry) -> Vec<String> {
    r.1.clone()
}

/// `# HELP`, `# TYPE` and sample lines of the text format into one entry per metric, with the label
/// names its samples carry (a histogram's `le` left out).
fn parse_exposition(text: &str) -> Vec<MetricDoc> {
    let mut out: Vec<MetricDoc> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push(MetricDoc {
                name: name.to_owned(),
                kind: String::new(),
                help: help.to_owned(),
                labels: Vec::new(),
                served_by: "",
            });
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let (Some((_, kind)), Some(m)) = (rest.split_once(' '), out.last_mut()) {
                m.kind = kind.to_owned();
            }
        } else if let (Some(m), Some((_, labels))) = (out.last_mut(), line.split_once('{')) {
            let labels = labels.split('}').next().unwrap_or_default();
            for pair in labels.split(',') {
                if let Some((k, _)) = pair.split_once('=')
                    && k != "le"
                    && !m.labels.iter().any(|l| l == k)
                {
                    m.labels.push(k.to_owned());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The catalogue the reference is made from names every metric, and knows each family's labels
    /// (a family with no sample would list none).
    #[test]
    fn the_catalogue_has_every_metric_and_its_labels() {
        let c = catalogue();
        let mut r = Registry::new();
        EngineMetrics::register(&mut r);
        ServeMetrics::register(&mut r);
        WatchMetrics::register(&mut r);
        // A family with no sample is not encoded at all: every registered name must be there.
        for name in &r.1 {
            assert!(
                c.iter().any(|m| m.name == *name || m.name == format!("{name}_total")),
                "{name} has no sample in the catalogue: give it one"
            );
        }
        assert_eq!(c.len(), r.1.len());
        for m in &c {
            assert!(!m.kind.is_empty() && !m.help.is_empty(), "{m:?}");
        }
        let budget = c
            .iter()
            .find(|m| m.name == "scopegate_invalid_token_budget_refusals_total")
            .unwrap();
        assert_eq!(budget.labels, ["budget"]);
        assert_eq!(budget.served_by, "serve");
        let calls = c
            .iter()
            .find(|m| m.name == "scopegate_provider_requests_total")
            .unwrap();
        assert_eq!(calls.labels, ["provider", "outcome"]);
        assert_eq!(calls.served_by, "serve, watch");
    }

    #[test]
    fn every_documented_metric_is_exported() {
        let mut r = Registry::new();
        let engine = EngineMetrics::register(&mut r);
        let serve = ServeMetrics::register(&mut r);
        let watch = WatchMetrics::register(&mut r);
        serve.initialise();
        serve
            .admission_requests
            .get_or_create(&AdmissionLabels {
                webhook: "validate",
                operation: "CREATE",
                verdict: "ok",
                allowed: "true",
                dry_run: "false",
            })
            .inc();
        serve
            .admission_duration
            .get_or_create(&WebhookLabels { webhook: "validate" })
            .observe(0.001);
        engine.provider_call("github.com", CallOutcome::Ok, Some(Duration::from_millis(50)));
        engine.unexpected_success("github.com");
        serve
            .token_expiry
            .get_or_create(&SecretLabels {
                namespace: "argocd".into(),
                name: "repo".into(),
            })
            .set(1.8e9);
        watch
            .credential_verdict
            .get_or_create(&CredentialLabels {
                namespace: "argocd".into(),
                name: "repo".into(),
                verdict: "ok",
                provider: "github",
                token_kind: "classic",
                role: "read",
            })
            .set(1);
        let text = r.encode_text();
        for name in [
            "scopegate_admission_requests_total{webhook=\"validate\",operation=\"CREATE\",verdict=\"ok\",allowed=\"true\",dry_run=\"false\"} 1",
            "scopegate_admission_duration_seconds_bucket",
            "scopegate_provider_requests_total{provider=\"github.com\",outcome=\"ok\"} 1",
            "scopegate_provider_duration_seconds_bucket",
            "scopegate_probe_unexpected_success_total{provider=\"github.com\"} 1",
            "scopegate_cache_hits_total",
            "scopegate_cache_misses_total",
            "scopegate_token_expiry_timestamp_seconds{namespace=\"argocd\",name=\"repo\"} 1800000000",
            "scopegate_certificate_expiry_timestamp_seconds",
            "scopegate_credential_verdict{namespace=\"argocd\",name=\"repo\",verdict=\"ok\",provider=\"github\",token_kind=\"classic\",role=\"read\"} 1",
            "scopegate_watch_credentials{verdict=\"invalid\"} 0",
            "scopegate_watch_leader 0",
            "scopegate_invalid_token_budget_refusals_total{budget=\"user\"} 0",
            "scopegate_invalid_token_budget_refusals_total{budget=\"client\"} 0",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
        // The 0.0.4 text names counters with `_total` in HELP and TYPE, and has no `# EOF`.
        assert!(text.contains("# HELP scopegate_admission_requests_total Admission reviews"));
        assert!(text.contains("# TYPE scopegate_admission_requests_total counter"));
        assert!(text.contains("# TYPE scopegate_admission_duration_seconds histogram"));
        assert!(!text.contains("# EOF"));
        let open = r.encode_openmetrics();
        assert!(open.contains("# TYPE scopegate_admission_requests counter") && open.ends_with("# EOF\n"));
    }
}
