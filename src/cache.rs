//! The grant cache: a provider's answer about a credential, reused for a while, keyed by a keyed hash
//! of what identifies it (API URL, username, token, and what was probed) — never the token itself.
//!
//! Concurrent reviews of the same uncached credential make one provider call and all wait for it
//! (moka's single flight). Answers about valid tokens live `ttl` (never past the token's own expiry),
//! refusals `negativeTtl`; provider failures are not cached (the circuit breaker handles those). The last
//! good answer is also kept for `staleIfError`, to answer from while the provider fails.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use ring::hmac;
use ring::rand::SystemRandom;

use crate::config::CacheConfig;
use crate::metrics::Metrics;
use crate::providers::{Grant, IntrospectError};

/// HMAC-SHA256 of a credential's identity, under a key made at start-up and never stored.
pub type CacheKey = [u8; 32];

type Answer = Arc<Result<Grant, IntrospectError>>;

/// How a credential's answer was obtained.
#[derive(Debug, Clone)]
pub enum Fetched {
    /// From the cache.
    Hit(Answer),
    /// From the provider, now.
    Miss(Answer),
    /// The provider failed; this is the last good answer, `age` old.
    Stale {
        grant: Arc<Grant>,
        age: Duration,
        error: IntrospectError,
    },
}

impl Fetched {
    pub fn result(&self) -> Result<Grant, IntrospectError> {
        match self {
            Fetched::Hit(a) | Fetched::Miss(a) => a.as_ref().clone(),
            Fetched::Stale { grant, .. } => Ok(grant.as_ref().clone()),
        }
    }

    pub fn hit(&self) -> bool {
        matches!(self, Fetched::Hit(_))
    }
}

struct Lifetimes {
    ttl: Duration,
    negative_ttl: Duration,
}

impl Expiry<CacheKey, Answer> for Lifetimes {
    fn expire_after_create(&self, _key: &CacheKey, value: &Answer, _created_at: Instant) -> Option<Duration> {
        Some(match value.as_ref() {
            Ok(grant) => match grant.expires_at {
                // Never reuse "valid" past the moment the token stops being valid.
                Some(exp) => {
                    let left = exp.as_second() - jiff::Timestamp::now().as_second();
                    self.ttl.min(Duration::from_secs(u64::try_from(left).unwrap_or(0)))
                }
                None => self.ttl,
            },
            Err(IntrospectError::Rejected { .. }) => self.negative_ttl,
            Err(_) => self.ttl,
        })
    }
}

pub struct GrantCache {
    key: hmac::Key,
    answers: moka::future::Cache<CacheKey, Answer>,
    last_good: Option<moka::future::Cache<CacheKey, (Arc<Grant>, Instant)>>,
    metrics: Arc<Metrics>,
}

impl GrantCache {
    pub fn new(config: &CacheConfig, metrics: Arc<Metrics>) -> Result<Self, ring::error::Unspecified> {
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new())?;
        let answers = moka::future::Cache::builder()
            .max_capacity(config.max_entries)
            .expire_after(Lifetimes {
                ttl: config.ttl,
                negative_ttl: config.negative_ttl,
            })
            .build();
        let last_good = (!config.stale_if_error.is_zero()).then(|| {
            moka::future::Cache::builder()
                .max_capacity(config.max_entries)
                .time_to_live(config.stale_if_error)
                .build()
        });
        Ok(Self {
            key,
            answers,
            last_good,
            metrics,
        })
    }

    /// The key for a credential: every part length-prefixed, so no two identities share bytes.
    pub fn key(&self, parts: &[&[u8]]) -> CacheKey {
        let mut ctx = hmac::Context::with_key(&self.key);
        for p in parts {
            ctx.update(&(p.len() as u64).to_be_bytes());
            ctx.update(p);
        }
        let tag = ctx.sign();
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// The cached answer, or `fetch`'s — run once however many reviews ask at the same time.
    pub async fn get_or_fetch<F>(&self, key: CacheKey, fetch: F) -> Fetched
    where
        F: Future<Output = Result<Grant, IntrospectError>>,
    {
        if let Some(answer) = self.answers.get(&key).await {
            self.metrics.cache_hits.inc();
            return Fetched::Hit(answer);
        }
        self.metrics.cache_misses.inc();
        let outcome = self
            .answers
            .try_get_with(key, async {
                match fetch.await {
                    // Provider failures are not answers: not cached, shared only with concurrent waiters.
                    Err(e @ (IntrospectError::RateLimited { .. } | IntrospectError::Unavailable { .. })) => Err(e),
                    other => Ok(Arc::new(other)),
                }
            })
            .await;
        self.metrics
            .cache_entries
            .set(i64::try_from(self.answers.entry_count()).unwrap_or(i64::MAX));
        match outcome {
            Ok(answer) => {
                if let (Some(last), Ok(grant)) = (&self.last_good, answer.as_ref()) {
                    last.insert(key, (Arc::new(grant.clone()), Instant::now())).await;
                }
                Fetched::Miss(answer)
            }
            Err(error) => {
                let error = error.as_ref().clone();
                if let Some(last) = &self.last_good
                    && let Some((grant, at)) = last.get(&key).await
                {
                    return Fetched::Stale {
                        grant,
                        age: at.elapsed(),
                        error,
                    };
                }
                Fetched::Miss(Arc::new(Err(error)))
            }
        }
    }

    /// Entries held (approximate, as moka counts them).
    pub fn len(&self) -> u64 {
        self.answers.entry_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::TokenKind;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn cache(stale: Duration) -> GrantCache {
        let config = CacheConfig {
            ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(1),
            max_entries: 100,
            stale_if_error: stale,
        };
        GrantCache::new(&config, Arc::new(Metrics::new())).unwrap()
    }

    #[test]
    fn keys_are_keyed_and_unambiguous() {
        let c = cache(Duration::ZERO);
        let other = cache(Duration::ZERO);
        assert_eq!(c.key(&[b"a", b"bc"]), c.key(&[b"a", b"bc"]));
        assert_ne!(c.key(&[b"a", b"bc"]), c.key(&[b"ab", b"c"]), "length-prefixed parts");
        assert_ne!(c.key(&[b"a"]), other.key(&[b"a"]), "a per-process key");
    }

    #[tokio::test]
    async fn one_fetch_for_many_concurrent_askers() {
        let c = Arc::new(cache(Duration::ZERO));
        let calls = Arc::new(AtomicUsize::new(0));
        let key = c.key(&[b"token"]);
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (c, calls) = (c.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                c.get_or_fetch(key, async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    Ok(Grant::new(TokenKind::Classic))
                })
                .await
                .result()
            }));
        }
        for t in tasks {
            assert!(t.await.unwrap().is_ok());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(c.get_or_fetch(key, async { unreachable!() }).await.hit());
    }

    #[tokio::test]
    async fn failures_are_not_cached_but_the_last_good_answer_is_used() {
        let c = cache(Duration::from_secs(60));
        let key = c.key(&[b"t"]);
        let down = || async { Err(IntrospectError::Unavailable { detail: "503".into() }) };
        assert!(matches!(c.get_or_fetch(key, down()).await, Fetched::Miss(a) if a.is_err()));
        assert!(!c.get_or_fetch(key, down()).await.hit(), "a failure is asked again");
        let key2 = c.key(&[b"t2"]);
        let _ = c.get_or_fetch(key2, async { Ok(Grant::new(TokenKind::Classic)) }).await;
        c.answers.invalidate(&key2).await;
        assert!(matches!(c.get_or_fetch(key2, down()).await, Fetched::Stale { .. }));
    }
}
