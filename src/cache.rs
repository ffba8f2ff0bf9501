//! The grant cache: a provider's answer about a credential, reused for a while, keyed by a keyed hash
//! of what identifies it (API URL, username, token, and what was probed) — never the token itself.
//!
//! Concurrent reviews of the same uncached credential make one provider call and all wait for it
//! (quick_cache's placeholder guard: the first review fetches, the others wait for its answer).
//! Answers about valid tokens are fresh for `ttl` (never past the token's own expiry), refusals for
//! `negativeTtl`. A provider failure is shared for a moment with the reviews that waited for it, and
//! not kept beyond that (the circuit breaker deals with failing providers). The last good answer is also
//! kept, for `staleIfError`, to answer from while the provider fails. The cache is bounded by
//! `maxEntries` (S3-FIFO eviction).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ring::hmac;
use ring::rand::SystemRandom;

use crate::config::CacheConfig;
use crate::grant::{Grant, IntrospectError, Scopes};

/// Where cache lookups are reported (the front end's metrics); [`NoCacheObserver`] reports nowhere.
pub trait CacheObserver: Send + Sync {
    /// A lookup answered from the cache (`true`) or by asking the provider.
    fn cache_lookup(&self, hit: bool);
    /// How many answers the cache holds now.
    fn cache_size(&self, entries: u64);
}

/// Reports nowhere.
pub struct NoCacheObserver;

impl CacheObserver for NoCacheObserver {
    fn cache_lookup(&self, _: bool) {}
    fn cache_size(&self, _: u64) {}
}

/// HMAC-SHA256 of a credential's identity, under a key made at start-up and never stored.
pub type CacheKey = [u8; 32];

/// How long a provider failure is shared with the reviews that were waiting for the same call.
const FAILURE_SHARED_FOR: Duration = Duration::from_secs(1);
/// How long a credential whose login the provider throttled is not asked about again, when the
/// provider does not say.
const THROTTLED_FOR: Duration = Duration::from_secs(60);

/// One provider answer, and until when it may be reused.
#[derive(Debug)]
pub struct Entry {
    pub answer: Result<Grant, IntrospectError>,
    fetched_at: Instant,
    fresh_until: Instant,
}

impl Entry {
    fn is_failure(&self) -> bool {
        self.answer.as_ref().is_err_and(IntrospectError::is_failure)
    }
}

type Answer = Arc<Entry>;

/// How a credential's answer was obtained.
#[derive(Debug, Clone)]
pub enum Fetched {
    /// From the cache.
    Hit(Answer),
    /// From the provider, now (this review's call, or the one it waited for).
    Miss(Answer),
    /// The provider failed; this is the last good answer, `age` old.
    Stale {
        last: Answer,
        age: Duration,
        error: IntrospectError,
    },
}

impl Fetched {
    /// The answer of a call that was not made.
    pub fn not_asked(error: IntrospectError) -> Self {
        let now = Instant::now();
        Fetched::Miss(Arc::new(Entry {
            answer: Err(error),
            fetched_at: now,
            fresh_until: now,
        }))
    }

    pub fn result(&self) -> Result<Grant, IntrospectError> {
        match self {
            Fetched::Hit(a) | Fetched::Miss(a) | Fetched::Stale { last: a, .. } => a.answer.clone(),
        }
    }

    pub fn hit(&self) -> bool {
        matches!(self, Fetched::Hit(_))
    }

    /// When the provider gave the answer used (for a failure: none was given).
    pub fn answered_at(&self) -> Option<jiff::Timestamp> {
        let entry = match self {
            Fetched::Hit(a) | Fetched::Miss(a) if !a.is_failure() => a,
            Fetched::Stale { last, .. } => last,
            Fetched::Hit(_) | Fetched::Miss(_) => return None,
        };
        let age = jiff::SignedDuration::try_from(entry.fetched_at.elapsed()).unwrap_or(jiff::SignedDuration::ZERO);
        jiff::Timestamp::now().checked_sub(age).ok()
    }
}

/// Distinct scope sets and owners are few, grants many: each is kept once.
#[derive(Default)]
struct Interner {
    scopes: Mutex<HashSet<Scopes>>,
    owners: Mutex<HashSet<Arc<str>>>,
}

/// Interning stops growing here; beyond it, grants keep their own copies.
const MAX_INTERNED: usize = 4096;

fn intern<T: ?Sized + std::hash::Hash + Eq>(set: &Mutex<HashSet<Arc<T>>>, value: &mut Arc<T>) {
    let mut set = set.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(existing) = set.get(&**value) {
        *value = existing.clone();
    } else if set.len() < MAX_INTERNED {
        set.insert(value.clone());
    }
}

impl Interner {
    fn grant(&self, answer: &mut Result<Grant, IntrospectError>) {
        if let Ok(grant) = answer {
            if let Some(s) = grant.scopes.as_mut() {
                intern(&self.scopes, s);
            }
            if let Some(o) = grant.owner.as_mut() {
                intern(&self.owners, o);
            }
        }
    }
}

pub struct GrantCache {
    key: hmac::Key,
    interner: Interner,
    answers: quick_cache::sync::Cache<CacheKey, Answer>,
    last_good: Option<quick_cache::sync::Cache<CacheKey, Answer>>,
    ttl: Duration,
    negative_ttl: Duration,
    stale_if_error: Duration,
    observer: Arc<dyn CacheObserver>,
}

impl GrantCache {
    pub fn new(config: &CacheConfig, observer: Arc<dyn CacheObserver>) -> Result<Self, ring::error::Unspecified> {
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new())?;
        let capacity = usize::try_from(config.max_entries).unwrap_or(usize::MAX);
        Ok(Self {
            key,
            interner: Interner::default(),
            answers: quick_cache::sync::Cache::new(capacity),
            last_good: (!config.stale_if_error.is_zero()).then(|| quick_cache::sync::Cache::new(capacity)),
            ttl: config.ttl,
            negative_ttl: config.negative_ttl,
            stale_if_error: config.stale_if_error,
            observer,
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

    /// The fresh answer held for `key`, when it is one (not a failure): a cached review's whole lookup,
    /// without the single-flight machinery a miss needs. Counted as a hit.
    pub fn fresh(&self, key: &CacheKey) -> Option<Fetched> {
        let entry = self.answers.get(key)?;
        if entry.fresh_until <= Instant::now() || entry.is_failure() {
            return None;
        }
        self.observer.cache_lookup(true);
        Some(Fetched::Hit(entry))
    }

    /// Whether a fresh answer (not a failure) is held for `key`: a review of it makes no call.
    pub fn holds_fresh(&self, key: &CacheKey) -> bool {
        self.answers
            .peek(key)
            .is_some_and(|e| e.fresh_until > Instant::now() && !e.is_failure())
    }

    /// How long an answer is fresh.
    fn lifetime(&self, answer: &Result<Grant, IntrospectError>) -> Duration {
        match answer {
            Ok(grant) => match grant.expires_at {
                // Never reuse "valid" past the moment the token stops being valid.
                Some(exp) => {
                    let left = exp.as_second() - jiff::Timestamp::now().as_second();
                    self.ttl.min(Duration::from_secs(u64::try_from(left).unwrap_or(0)))
                }
                None => self.ttl,
            },
            Err(IntrospectError::Rejected { .. }) => self.negative_ttl,
            Err(IntrospectError::NotIntrospectable { .. }) => self.ttl,
            // Asked again only once the provider would take this login again.
            Err(IntrospectError::Throttled { retry_after, .. }) => {
                retry_after.unwrap_or(THROTTLED_FOR).min(Duration::from_secs(900))
            }
            Err(_) => FAILURE_SHARED_FOR,
        }
    }

    /// The cached answer, or the answer of the call `fetch` makes — made once however many reviews ask
    /// at the same time. The call is only built on a miss, and on the heap: a provider call's state is
    /// large, and a cache hit should not carry it.
    ///
    /// With `fresh_since`, an answer obtained before that moment is not used, fresh or not (a re-check
    /// asks the provider again); one obtained since, by a call this caller waited for or by another
    /// caller re-checking, is.
    pub async fn get_or_fetch<F, Fut>(&self, key: CacheKey, fresh_since: Option<Instant>, fetch: F) -> Fetched
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Grant, IntrospectError>>,
    {
        let asked_at = Instant::now();
        let mut fetch = Some(fetch);
        loop {
            match self.answers.get_value_or_guard_async(&key).await {
                Ok(entry)
                    if entry.fresh_until > Instant::now() && fresh_since.is_none_or(|t| entry.fetched_at >= t) =>
                {
                    // Fetched after this review asked: it waited for the call, so it is a miss.
                    let waited = entry.fetched_at >= asked_at;
                    self.observer.cache_lookup(!waited);
                    if entry.is_failure() {
                        return self.stale_or(key, entry);
                    }
                    return if waited {
                        Fetched::Miss(entry)
                    } else {
                        Fetched::Hit(entry)
                    };
                }
                Ok(expired) => {
                    // Retire it (unless another review already replaced it) and ask again.
                    self.answers.remove_if(&key, |current| Arc::ptr_eq(current, &expired));
                }
                Err(guard) => {
                    self.observer.cache_lookup(false);
                    let Some(fetch) = fetch.take() else {
                        // Unreachable: a review takes the guard at most once, and returns after.
                        continue;
                    };
                    let mut answer = Box::pin(fetch()).await;
                    self.interner.grant(&mut answer);
                    let now = Instant::now();
                    let entry = Arc::new(Entry {
                        fresh_until: now + self.lifetime(&answer),
                        fetched_at: now,
                        answer,
                    });
                    let _ = guard.insert(entry.clone());
                    self.observer.cache_size(self.answers.len() as u64);
                    if entry.is_failure() {
                        return self.stale_or(key, entry);
                    }
                    if let (Some(last), Ok(_)) = (&self.last_good, &entry.answer) {
                        last.insert(key, entry.clone());
                    }
                    return Fetched::Miss(entry);
                }
            }
        }
    }

    /// After a failure: the last good answer if it is recent enough, else the failure.
    fn stale_or(&self, key: CacheKey, failure: Answer) -> Fetched {
        let last = self.last_good.as_ref().and_then(|c| c.get(&key));
        match (last, &failure.answer) {
            (Some(last), Err(error)) if last.fetched_at.elapsed() <= self.stale_if_error => Fetched::Stale {
                age: last.fetched_at.elapsed(),
                error: error.clone(),
                last,
            },
            _ => Fetched::Miss(failure),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::TokenKind;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn cache(stale: Duration) -> GrantCache {
        cache_with(stale, Duration::from_secs(60))
    }

    fn cache_with(stale: Duration, ttl: Duration) -> GrantCache {
        let config = CacheConfig {
            ttl,
            negative_ttl: Duration::from_secs(1),
            max_entries: 100,
            stale_if_error: stale,
        };
        GrantCache::new(&config, Arc::new(NoCacheObserver)).unwrap()
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
                c.get_or_fetch(key, None, || async {
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
        assert!(c.get_or_fetch(key, None, || async { unreachable!() }).await.hit());
    }

    #[tokio::test]
    async fn expired_answers_are_asked_again_and_failures_fall_back_to_the_last_good_one() {
        let c = cache_with(Duration::from_secs(60), Duration::ZERO);
        let key = c.key(&[b"t"]);
        let down = || async { Err(IntrospectError::unavailable("503")) };
        assert!(matches!(c.get_or_fetch(key, None, &down).await, Fetched::Miss(a) if a.answer.is_err()));
        let key2 = c.key(&[b"t2"]);
        assert!(
            c.get_or_fetch(key2, None, || async { Ok(Grant::new(TokenKind::Classic)) })
                .await
                .result()
                .is_ok()
        );
        // ttl 0: the answer is never fresh, so the next review asks again — and the provider is down.
        match c.get_or_fetch(key2, None, down).await {
            Fetched::Stale { last, error, .. } => {
                assert!(last.answer.is_ok());
                assert!(error.to_string().contains("503"));
            }
            other => panic!("expected the last good answer, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn equal_scope_sets_and_owners_are_stored_once() {
        let c = cache(Duration::ZERO);
        let grant = || {
            let mut g = Grant::new(TokenKind::Classic);
            g.scopes = Some(crate::grant::parse_scope_list("repo, user"));
            g.owner = Some("bot".into());
            Ok(g)
        };
        let a = c
            .get_or_fetch(c.key(&[b"a"]), None, || async { grant() })
            .await
            .result()
            .unwrap();
        let b = c
            .get_or_fetch(c.key(&[b"b"]), None, || async { grant() })
            .await
            .result()
            .unwrap();
        assert!(Arc::ptr_eq(a.scopes.as_ref().unwrap(), b.scopes.as_ref().unwrap()));
        assert!(Arc::ptr_eq(a.owner.as_ref().unwrap(), b.owner.as_ref().unwrap()));
    }

    #[tokio::test]
    async fn a_recheck_asks_again_whatever_is_cached_and_shares_its_answer() {
        let c = cache(Duration::ZERO);
        let key = c.key(&[b"recheck"]);
        let valid = || async { Ok(Grant::new(TokenKind::Classic)) };
        assert!(!c.get_or_fetch(key, None, valid).await.hit());
        assert!(c.get_or_fetch(key, None, || async { unreachable!() }).await.hit());
        let since = Instant::now();
        let revoked = || async { Err(IntrospectError::Rejected { detail: "401".into() }) };
        let fetched = c.get_or_fetch(key, Some(since), revoked).await;
        assert!(
            !fetched.hit() && fetched.result().is_err(),
            "the valid answer was not used"
        );
        let again = c.get_or_fetch(key, Some(since), || async { unreachable!() }).await;
        assert!(again.result().is_err(), "an answer since the re-check began is shared");
        let plain = c.get_or_fetch(key, None, || async { unreachable!() }).await;
        assert!(
            plain.hit() && plain.result().is_err(),
            "and serves reviews from the cache"
        );
    }

    #[tokio::test]
    async fn refusals_live_their_own_time() {
        let c = cache(Duration::ZERO);
        let key = c.key(&[b"bad"]);
        let refused = async { Err(IntrospectError::Rejected { detail: "401".into() }) };
        assert!(!c.get_or_fetch(key, None, || refused).await.hit());
        assert!(
            c.get_or_fetch(key, None, || async { unreachable!() }).await.hit(),
            "cached for negativeTtl"
        );
    }
}
