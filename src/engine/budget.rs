//! The invalid-token budget (`server.invalidTokenBudget`): how many provider refusals (401) one client
//! address may cause. Any pod can reach the webhook port; without a budget it could make scopegate ask
//! a provider about endless made-up tokens, and a provider that sees many failed logins from one
//! address refuses them all for a while. A client whose tokens are real never spends any: only
//! refusals count (and checksum failures, decided offline, cost nothing).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::config::TokenBudget;

/// Client addresses tracked at most; beyond it, buckets that have refilled (no different from none)
/// are dropped first.
const MAX_CLIENTS: usize = 65_536;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Refusals each client address may still cause, refilled over time.
pub struct Budget {
    config: TokenBudget,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl Budget {
    pub fn new(config: TokenBudget) -> Self {
        Self {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, b: Bucket, now: Instant) -> f64 {
        let per_second = f64::from(self.config.per_minute) / 60.0;
        (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_second).min(f64::from(self.config.burst))
    }

    /// Whether `client` has spent its budget: its reviews of tokens not in the cache are not asked
    /// about.
    pub fn exhausted(&self, client: IpAddr, now: Instant) -> bool {
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets.get(&client).is_some_and(|b| self.refilled(*b, now) < 1.0)
    }

    /// One refusal caused by `client`.
    pub fn spend(&self, client: IpAddr, now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let full = f64::from(self.config.burst);
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(&client) {
            buckets.retain(|_, b| self.refilled(*b, now) < full);
            if buckets.len() >= MAX_CLIENTS {
                // Still full of clients that all spent: forget the one that spent longest ago.
                if let Some(oldest) = buckets.iter().min_by_key(|(_, b)| b.at).map(|(ip, _)| *ip) {
                    buckets.remove(&oldest);
                }
            }
        }
        let b = buckets.entry(client).or_insert(Bucket { tokens: full, at: now });
        let tokens = self.refilled(*b, now);
        *b = Bucket {
            tokens: (tokens - 1.0).max(0.0),
            at: now,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_client_spends_its_burst_then_refills_at_the_rate() {
        let budget = Budget::new(TokenBudget {
            per_minute: 20,
            burst: 40,
        });
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        for i in 0..40 {
            assert!(!budget.exhausted(a, t0), "after {i}");
            budget.spend(a, t0);
        }
        assert!(budget.exhausted(a, t0));
        assert!(!budget.exhausted(b, t0), "another client is untouched");
        // 20 a minute: one more after three seconds.
        assert!(budget.exhausted(a, t0 + Duration::from_millis(2900)));
        assert!(!budget.exhausted(a, t0 + Duration::from_secs(3)));
        budget.spend(a, t0 + Duration::from_secs(3));
        assert!(budget.exhausted(a, t0 + Duration::from_secs(3)));
        // Refilled to the burst, never beyond.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..40 {
            assert!(!budget.exhausted(a, later));
            budget.spend(a, later);
        }
        assert!(budget.exhausted(a, later));
    }

    #[test]
    fn the_client_table_is_bounded() {
        let budget = Budget::new(TokenBudget {
            per_minute: 1,
            burst: 1,
        });
        let now = Instant::now();
        for i in 0..(MAX_CLIENTS as u32 + 10) {
            budget.spend(IpAddr::from(i.to_be_bytes()), now);
        }
        assert!(budget.buckets.lock().unwrap().len() <= MAX_CLIENTS);
    }
}
