//! When each distinct credential is asked about again: once per interval, the first re-checks of the
//! credentials judged together (at start, or when this replica becomes the leader) spread evenly over
//! the interval rather than all falling due at once; after a provider failure, sooner, backing off
//! (1 s, 2 s, 4 s, … never later than the interval).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use crate::cache::CacheKey;

/// Re-checks by key: a credential's (its [`CacheKey`]), or one job of the uses of credentials.
pub(crate) struct Schedule<K = CacheKey> {
    due: BTreeSet<(Instant, K)>,
    by_key: HashMap<K, Instant>,
    /// Failed re-checks in a row, per key.
    failures: HashMap<K, u32>,
    /// Keys whose re-check is out now.
    in_flight: BTreeSet<K>,
}

impl<K> Default for Schedule<K> {
    fn default() -> Self {
        Self {
            due: BTreeSet::new(),
            by_key: HashMap::new(),
            failures: HashMap::new(),
            in_flight: BTreeSet::new(),
        }
    }
}

impl<K: Copy + Ord + std::hash::Hash> Schedule<K> {
    /// (Re)schedule `key` at `at`.
    pub fn set(&mut self, key: K, at: Instant) {
        if let Some(old) = self.by_key.insert(key, at) {
            self.due.remove(&(old, key));
        }
        self.due.insert((at, key));
    }

    /// Whether `key` is scheduled or out.
    pub fn has(&self, key: &K) -> bool {
        self.by_key.contains_key(key) || self.in_flight.contains(key)
    }

    /// Forget `key` (no Secret carries it any more).
    pub fn remove(&mut self, key: &K) {
        if let Some(at) = self.by_key.remove(key) {
            self.due.remove(&(at, *key));
        }
        self.failures.remove(key);
        self.in_flight.remove(key);
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// When the next re-check falls due.
    pub fn next(&self) -> Option<Instant> {
        self.due.first().map(|(at, _)| *at)
    }

    /// The credentials due at `now`, marked out.
    pub fn take_due(&mut self, now: Instant) -> Vec<K> {
        let mut out = Vec::new();
        while let Some(&(at, key)) = self.due.first() {
            if at > now {
                break;
            }
            self.due.remove(&(at, key));
            self.by_key.remove(&key);
            self.in_flight.insert(key);
            out.push(key);
        }
        out
    }

    /// A re-check of `key` is done: next at `now + interval`, or after a failure sooner, backing off.
    pub fn done(&mut self, key: K, failed: bool, now: Instant, interval: Duration) {
        self.in_flight.remove(&key);
        let wait = if failed {
            let n = self.failures.entry(key).or_default();
            *n = n.saturating_add(1);
            Duration::from_secs(1u64 << (*n - 1).min(20)).min(interval)
        } else {
            self.failures.remove(&key);
            interval
        };
        self.set(key, now + wait);
    }

    /// The first re-checks of `keys`, judged together at `now`, spread evenly over the interval after
    /// the next: the i-th of n at `now + interval·(1 + (i+1)/n)` — never sooner than an interval after
    /// the judgement, and from then on each one an interval after the last.
    pub fn spread(&mut self, keys: &[K], now: Instant, interval: Duration) {
        let n = keys.len() as u32;
        for (i, key) in keys.iter().enumerate() {
            let offset = interval.mul_f64(f64::from(i as u32 + 1) / f64::from(n.max(1)));
            self.set(*key, now + interval + offset);
        }
    }

    /// How many re-checks fall due in each of `bins` equal parts of `[from, from + span)` (for tests
    /// and the benchmark).
    #[cfg(test)]
    pub fn histogram(&self, from: Instant, span: Duration, bins: u32) -> std::collections::BTreeMap<u32, usize> {
        let mut h = std::collections::BTreeMap::new();
        for (at, _) in &self.due {
            let offset = at.saturating_duration_since(from);
            if offset < span {
                let bin = (offset.as_secs_f64() / span.as_secs_f64() * f64::from(bins)) as u32;
                *h.entry(bin).or_default() += 1;
            }
        }
        h
    }
}

/// Sleep until `at`, or forever.
pub(super) async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> CacheKey {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&i.to_be_bytes());
        k
    }

    #[test]
    fn credentials_judged_together_fall_due_evenly_over_the_interval() {
        let mut s = Schedule::default();
        let now = Instant::now();
        let keys: Vec<CacheKey> = (0..1000).map(key).collect();
        let hour = Duration::from_secs(3600);
        s.spread(&keys, now, hour);
        let h = s.histogram(now + hour, hour + Duration::from_secs(1), 10);
        assert_eq!(h.values().sum::<usize>(), 1000);
        assert!(h.values().all(|n| (99..=101).contains(n)), "{h:?}");
        assert!(
            s.take_due(now + hour).is_empty(),
            "none within an interval of the judgement"
        );
        assert_eq!(s.take_due(now + hour + hour / 10).len(), 100);
    }

    #[test]
    fn failures_back_off_up_to_the_interval_and_success_resets() {
        let mut s = Schedule::default();
        let now = Instant::now();
        let k = key(1);
        let minute = Duration::from_secs(60);
        s.set(k, now);
        assert_eq!(s.take_due(now), [k]);
        assert!(s.has(&k), "out counts as scheduled");
        let mut waits = Vec::new();
        for _ in 0..8 {
            s.done(k, true, now, minute);
            waits.push(s.next().unwrap() - now);
            s.take_due(now + Duration::from_secs(3600));
        }
        let secs: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60]);
        s.done(k, false, now, minute);
        assert_eq!(s.next().unwrap() - now, minute);
        s.remove(&k);
        assert!(s.next().is_none() && !s.has(&k));
    }
}
