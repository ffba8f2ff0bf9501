//! Upstream manners: a circuit breaker that stops calling a provider that rate limits or keeps
//! failing — scopegate answers at once instead (`unverified`, or from the last known grant) until the
//! provider's `retry-after`, or the cooldown, has passed; then one call tries again. (The bound on
//! calls in flight is the client's, per request.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::client::{CallObserver, CallOutcome};
use crate::config::{BreakerConfig, Provider};
use crate::grant::IntrospectError;

/// The longest a `retry-after` is honoured for, so a wild header cannot stop checks for a day.
const MAX_BACKOFF: Duration = Duration::from_secs(900);

#[derive(Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    trial_in_flight: bool,
    why: String,
}

pub struct Upstream {
    breakers: Mutex<HashMap<String, Breaker>>,
    config: BreakerConfig,
    observer: Arc<dyn CallObserver>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Upstream {
    pub fn new(config: BreakerConfig, observer: Arc<dyn CallObserver>) -> Self {
        Self {
            breakers: Mutex::new(HashMap::new()),
            config,
            observer,
        }
    }

    /// Whether a call may go out now; an open circuit answers at once.
    fn admit(&self, provider: &Provider) -> Result<(), IntrospectError> {
        let mut breakers = lock(&self.breakers);
        let b = breakers.entry(provider.api_url.to_string()).or_default();
        let now = Instant::now();
        match b.open_until {
            Some(until) if until > now => Err(IntrospectError::unavailable(format!(
                "scopegate stopped calling it for {}s after {}",
                (until - now).as_secs().max(1),
                b.why
            ))),
            // Half open: one call tries; the others keep answering at once.
            Some(_) if b.trial_in_flight => Err(IntrospectError::unavailable(format!(
                "scopegate is trying it again after {}",
                b.why
            ))),
            Some(_) => {
                b.trial_in_flight = true;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn record<T>(&self, provider: &Provider, result: &Result<T, IntrospectError>) {
        let mut breakers = lock(&self.breakers);
        let b = breakers.entry(provider.api_url.to_string()).or_default();
        b.trial_in_flight = false;
        let open = |b: &mut Breaker, for_: Duration, why: String| {
            b.open_until = Some(Instant::now() + for_.min(MAX_BACKOFF));
            b.why = why;
        };
        match result {
            Err(IntrospectError::RateLimited { detail, retry_after }) => {
                b.failures += 1;
                open(b, retry_after.unwrap_or(self.config.cooldown), detail.clone());
            }
            Err(IntrospectError::Unavailable { detail, .. }) => {
                b.failures += 1;
                if b.failures >= self.config.failure_threshold {
                    open(
                        b,
                        self.config.cooldown,
                        format!("{} failures in a row ({detail})", b.failures),
                    );
                }
            }
            // Refused logins from scopegate, caused by whoever sent those tokens: not the provider
            // failing, and not a reason to stop asking it about other tokens.
            Err(IntrospectError::Throttled { .. }) => {}
            // The provider answered: it is healthy, whatever it said about the token.
            _ => *b = Breaker::default(),
        }
        self.observer.provider_circuit(&provider.host, b.open_until.is_some());
    }

    /// Run a provider call (one judgement's calls) under the breaker. The bound on calls in flight
    /// is the client's, per request.
    pub async fn call<T, F>(&self, provider: &Provider, call: F) -> Result<T, IntrospectError>
    where
        F: Future<Output = Result<T, IntrospectError>>,
    {
        if let Err(e) = self.admit(provider) {
            self.observer
                .provider_call(&provider.host, CallOutcome::CircuitOpen, None);
            return Err(e);
        }
        let result = call.await;
        self.record(provider, &result);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProviderKind;
    use crate::credential::TokenKind;
    use crate::grant::Grant;
    use crate::providers::NoObserver;

    fn provider() -> Provider {
        Provider::new(
            ProviderKind::Github,
            "github.com",
            url::Url::parse("https://api.github.com").unwrap(),
            url::Url::parse("https://github.com").unwrap(),
        )
    }

    fn upstream(threshold: u32, cooldown: Duration) -> Upstream {
        Upstream::new(
            BreakerConfig {
                failure_threshold: threshold,
                cooldown,
            },
            Arc::new(NoObserver),
        )
    }

    #[tokio::test]
    async fn repeated_failures_open_the_circuit() {
        let u = upstream(3, Duration::from_secs(60));
        let p = provider();
        let fail = || async { Err::<Grant, _>(IntrospectError::unavailable("HTTP 500")) };
        for _ in 0..3 {
            let _ = u.call(&p, fail()).await;
        }
        let e = u
            .call::<Grant, _>(&p, async { unreachable!("the circuit is open") })
            .await
            .unwrap_err();
        assert!(e.to_string().contains("stopped calling it"), "{e}");
        assert!(e.to_string().contains("3 failures in a row"), "{e}");
    }

    #[tokio::test]
    async fn retry_after_opens_at_once_and_an_answer_closes() {
        let u = upstream(5, Duration::from_secs(60));
        let p = provider();
        let limited = async {
            Err(IntrospectError::RateLimited {
                detail: "GitHub is rate limiting (HTTP 429)".into(),
                retry_after: Some(Duration::ZERO),
            })
        };
        let _ = u.call::<Grant, _>(&p, limited).await;
        // retry-after 0: half open at once; one trial goes through and, answered, closes the circuit.
        assert!(u.call(&p, async { Ok(Grant::new(TokenKind::Classic)) }).await.is_ok());
        assert!(u.call(&p, async { Ok(Grant::new(TokenKind::Classic)) }).await.is_ok());
    }

    #[tokio::test]
    async fn refusals_are_answers_not_failures() {
        let u = upstream(1, Duration::from_secs(60));
        let p = provider();
        let _ = u
            .call::<Grant, _>(&p, async { Err(IntrospectError::Rejected { detail: "401".into() }) })
            .await;
        assert!(u.call(&p, async { Ok(Grant::new(TokenKind::Classic)) }).await.is_ok());
    }
}
