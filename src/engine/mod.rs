//! The engine: one pipeline behind every front end. A Secret goes in; a [`Judgement`] comes out.
//!
//! ```text
//! SecretObject ──classify──▶ Classified ──introspect (cached)──▶ Grant ──evaluate──▶ Verdict + findings
//!   (credential: pure)          (providers: I/O, through the cache,    (policy: pure)   (messages: words)
//!                                the breaker and the concurrency bound)
//! ```
//!
//! [`judge`](Engine::judge) is the admission judgement ([`judge`] module); [`reach`](Engine::reach)
//! asks whether a credential can read or push to one repository ([`reach`] module), for the audit's
//! coverage. Both share the configuration, the provider client and its upstream manners.

mod budget;
mod judge;
pub(crate) mod messages;
pub(crate) mod reach;
mod targets;
pub(crate) mod uses;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use jiff::Timestamp;
use tokio::time::Instant;

use crate::cache::{CacheKey, CacheObserver, Fetched, GrantCache, NoCacheObserver};
use crate::config::{Config, Provider};
use crate::credential::SecretObject;
use crate::grant::{BudgetSpent, Grant, IntrospectError, Unavailability};
use crate::policy::{Outcome, Problem, Severity, Verdict};
use crate::providers::upstream::Upstream;
use crate::providers::{CallObserver, NoObserver, ProviderApi, ProviderClient, Refusals};

pub use budget::Origin;
pub use reach::{Access, Reach};

/// Who is asking, and about what change.
#[derive(Debug, Clone, Default)]
pub struct ReviewContext {
    /// The Secret as it was, for an UPDATE.
    pub old: Option<SecretObject>,
    pub username: String,
    pub groups: Vec<String>,
    /// When the answer is due (the API server's timeout, less a margin).
    pub deadline: Option<Instant>,
    /// A re-check: the provider is asked again unless it was asked since this moment (the grant
    /// cache's earlier answers, valid or refused, are not used).
    pub fresh_since: Option<std::time::Instant>,
    /// Where the review came from, when its requester (`username`) is held to
    /// `server.invalidTokenBudget` (the webhook port); `None` for everything else.
    pub origin: Option<Origin>,
    /// A judgement for one use of the credential: what it is held to instead of its Secret's role
    /// (the `scm` role of a generator's token, the `write` role of Image Updater's write-back).
    pub need: Option<crate::policy::Need>,
    /// The repositories (paths on the credential's host) its permissions are probed on, instead of
    /// those its Secret names.
    pub targets: Option<Vec<String>>,
}

/// One thing wrong with a Secret or its request: what, what it does under the configuration, and
/// the words for the person who wrote the Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub problem: Problem,
    pub severity: Severity,
    pub message: String,
}

/// The engine's answer for one Secret.
#[derive(Debug, Clone)]
pub struct Judgement {
    /// What scopegate found; outcome `Ignored` when the Secret is not one scopegate handles.
    pub verdict: Verdict,
    /// What is wrong, most important first; empty when nothing is.
    pub findings: Vec<Finding>,
    pub checked_at: Timestamp,
    /// Whether the provider's answer came from the grant cache (`None`: no provider was asked).
    pub cache_hit: Option<bool>,
    /// When the provider gave the answer this judgement rests on (`None`: none did, or it failed).
    pub answered_at: Option<Timestamp>,
    /// The invalid-token budget that kept the provider from being asked, if one did.
    pub budget_spent: Option<BudgetSpent>,
}

impl Judgement {
    fn ignored() -> Self {
        Self {
            verdict: Verdict::new(Outcome::Ignored, None),
            findings: Vec::new(),
            checked_at: Timestamp::now(),
            cache_hit: None,
            answered_at: None,
            budget_spent: None,
        }
    }

    /// Whether the provider could not be asked (or failed, and the verdict comes from its last answer).
    pub fn provider_failed(&self) -> bool {
        self.has(|p| matches!(p, Problem::ProviderFailed { .. } | Problem::Stale { .. }))
    }

    pub fn is_ignored(&self) -> bool {
        self.verdict.outcome == Outcome::Ignored
    }

    /// The denials (status code and message) under enforcement.
    pub fn denials(&self) -> impl Iterator<Item = (u16, &str)> {
        self.findings.iter().filter_map(|f| match f.severity {
            Severity::Deny(code) => Some((code, f.message.as_str())),
            Severity::Warn | Severity::Silent => None,
        })
    }

    /// The warnings that are not denials (silent findings excluded).
    pub fn warnings(&self) -> impl Iterator<Item = &str> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warn)
            .map(|f| f.message.as_str())
    }

    /// Whether any finding is this kind of problem.
    pub fn has(&self, kind: impl Fn(&Problem) -> bool) -> bool {
        self.findings.iter().any(|f| kind(&f.problem))
    }
}

/// Why an engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Transport(#[from] crate::providers::TransportError),
    #[error("making the cache key: no system randomness")]
    Random,
}

/// Configuration, provider client, grant cache and upstream manners: everything a judgement needs
/// besides the Secret. `P` is how providers are asked: over HTTPS in scopegate, from memory in the
/// engine's tests.
pub struct Engine<P = ProviderClient> {
    config: Arc<Config>,
    providers: P,
    cache: GrantCache,
    upstream: Upstream,
    reach: reach::ReachCache,
    budget: budget::Budget,
}

impl Engine<ProviderClient> {
    /// An engine that reports its calls nowhere (`check`, `audit`).
    pub fn new(config: Config) -> Result<Self, EngineError> {
        Self::with_observers(config, Arc::new(NoObserver), Arc::new(NoCacheObserver))
    }

    /// An engine that reports provider calls and cache lookups (the front end's metrics).
    pub fn with_observers(
        config: Config,
        calls: Arc<dyn CallObserver>,
        lookups: Arc<dyn CacheObserver>,
    ) -> Result<Self, EngineError> {
        let client = ProviderClient::new(&config, calls.clone())?;
        Self::with_providers(config, client, calls, lookups)
    }
}

impl<P: ProviderApi> Engine<P> {
    pub fn with_providers(
        config: Config,
        providers: P,
        calls: Arc<dyn CallObserver>,
        lookups: Arc<dyn CacheObserver>,
    ) -> Result<Self, EngineError> {
        let cache = GrantCache::new(&config.cache, lookups).map_err(|_| EngineError::Random)?;
        let upstream = Upstream::new(config.circuit_breaker.clone(), calls);
        let reach = reach::reach_cache();
        let budget = budget::Budget::new(config.server.invalid_token_budget);
        Ok(Self {
            budget,
            config: Arc::new(config),
            providers,
            cache,
            upstream,
            reach,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Ask a provider through the cache, the circuit breaker and the concurrency bound, and within the
    /// admission deadline; `None` when the deadline passed first. A requester past an invalid-token
    /// budget gets only what the cache holds: nothing is asked on their behalf. A call this review
    /// made that the provider refused (401, or a throttled login) is charged to the requester.
    async fn fetch<F, Fut>(&self, provider: &Provider, key: CacheKey, call: F, ctx: &ReviewContext) -> Option<Fetched>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Grant, IntrospectError>>,
    {
        if let Some(origin) = ctx.origin
            && let Some(spent) = self.budget.exhausted(&ctx.username, origin, std::time::Instant::now())
            && !self.cache.holds_fresh(&key)
        {
            return Some(Fetched::not_asked(IntrospectError::Unavailable {
                detail: self.held_back(spent, &ctx.username, origin),
                why: Unavailability::Budget(spent),
            }));
        }
        // Refusals are noted only for a requester held to a budget.
        let refusals = ctx.origin.map(|_| Arc::new(Refusals::default()));
        let noted = refusals.clone();
        let fetched = self.cache.get_or_fetch(key, ctx.fresh_since, move || {
            crate::providers::noting(noted, self.upstream.call(provider, call()))
        });
        let fetched = match ctx.deadline {
            None => Some(fetched.await),
            Some(d) => tokio::time::timeout_at(d, fetched).await.ok(),
        };
        if let (Some(origin), Some(r)) = (ctx.origin, &refusals)
            && (r.unauthorized.load(Ordering::Relaxed) || r.throttled.load(Ordering::Relaxed))
        {
            self.budget.spend(&ctx.username, origin, std::time::Instant::now());
        }
        fetched
    }

    /// Why a review was not asked about: the budget spent, named for the person who reads it.
    fn held_back(&self, spent: BudgetSpent, user: &str, origin: Origin) -> String {
        let per_minute = self.config.server.invalid_token_budget.per_minute;
        match (spent, origin) {
            (BudgetSpent::User, _) => format!(
                "not asked: {} sent more tokens the provider refused than server.invalidTokenBudget allows a user \
                 ({per_minute} a minute)",
                if user.is_empty() {
                    "the requesting user".to_owned()
                } else {
                    format!("user {user}")
                }
            ),
            (BudgetSpent::Client, Origin::Address(ip)) => format!(
                "not asked: this client ({ip}) sent more tokens the provider refused than server.invalidTokenBudget allows \
                 a client address ({} a minute, {}× a user's, whatever user names its reviews claim)",
                per_minute.saturating_mul(budget::CLIENT_FACTOR),
                budget::CLIENT_FACTOR
            ),
            (BudgetSpent::Client, Origin::Verified) => "not asked: a client budget is spent".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests;
