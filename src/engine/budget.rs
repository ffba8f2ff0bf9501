//! The invalid-token budget (`server.invalidTokenBudget`): how many provider refusals (401) a
//! requester may cause. Without one, whoever may write a Secret could make scopegate ask a provider
//! about endless made-up tokens, and a provider that sees many failed logins from one address refuses
//! them all for a while. A requester whose tokens are real never spends any: only refusals count (and
//! checksum failures, decided offline, cost nothing).
//!
//! Reviews come from the API server, so the address is the API server's for every user of the
//! cluster: the budget is kept per requesting user (`request.userInfo.username`), so that one user's
//! refusals hold back that user alone. Where the user name is only claimed — the webhook port without
//! client certificates, which any pod can reach — the client address also keeps a budget of ten times
//! the user's, which a stream of invented names cannot widen. Where the API server proves who it is
//! (`--client-ca`), the user's budget alone applies.
//!
//! No user name is kept: users are told apart by a keyed hash of their name, with a key made at
//! start-up.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::config::TokenBudget;
use crate::grant::BudgetSpent;

/// Requesters (users, or client addresses) tracked at most, each; beyond it, buckets that have
/// refilled (no different from none) are dropped first.
const MAX_TRACKED: usize = 65_536;

/// How much wider a client address's budget is than a user's.
pub const CLIENT_FACTOR: u32 = 10;

/// Where a review came from, for the budgets that hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A client at this address; the user name is only claimed (no client certificate).
    Address(IpAddr),
    /// The API server, which proved who it is with its client certificate.
    Verified,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets, one per key, refilled over time.
struct Buckets<K> {
    config: TokenBudget,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Copy> Buckets<K> {
    fn new(config: TokenBudget) -> Self {
        Self {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, b: Bucket, now: Instant) -> f64 {
        let per_second = f64::from(self.config.per_minute) / 60.0;
        (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_second).min(f64::from(self.config.burst))
    }

    fn exhausted(&self, key: K, now: Instant) -> bool {
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets.get(&key).is_some_and(|b| self.refilled(*b, now) < 1.0)
    }

    fn spend(&self, key: K, now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let full = f64::from(self.config.burst);
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&key) {
            buckets.retain(|_, b| self.refilled(*b, now) < full);
            if buckets.len() >= MAX_TRACKED {
                // Still full of requesters that all spent: forget the one that spent longest ago.
                if let Some(oldest) = buckets.iter().min_by_key(|(_, b)| b.at).map(|(k, _)| *k) {
                    buckets.remove(&oldest);
                }
            }
        }
        let b = buckets.entry(key).or_insert(Bucket { tokens: full, at: now });
        let tokens = self.refilled(*b, now);
        *b = Bucket {
            tokens: (tokens - 1.0).max(0.0),
            at: now,
        };
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// The refusals each user, and each client address where names are only claimed, may still cause.
pub struct Budget {
    users: Buckets<u64>,
    clients: Buckets<IpAddr>,
    /// Keys the hash users are told apart by (a random key per process).
    names: std::collections::hash_map::RandomState,
}

impl Budget {
    pub fn new(config: TokenBudget) -> Self {
        Self {
            users: Buckets::new(config),
            clients: Buckets::new(TokenBudget {
                per_minute: config.per_minute.saturating_mul(CLIENT_FACTOR),
                burst: config.burst.saturating_mul(CLIENT_FACTOR),
            }),
            names: std::collections::hash_map::RandomState::new(),
        }
    }

    fn user(&self, name: &str) -> u64 {
        self.names.hash_one(name)
    }

    /// Which budget is spent, if one is: the requester's reviews of tokens not in the cache are not
    /// asked about. The user's is named first: where both are spent, the user's is the one to say.
    pub fn exhausted(&self, user: &str, origin: Origin, now: Instant) -> Option<BudgetSpent> {
        if self.users.exhausted(self.user(user), now) {
            return Some(BudgetSpent::User);
        }
        match origin {
            Origin::Address(ip) if self.clients.exhausted(ip, now) => Some(BudgetSpent::Client),
            _ => None,
        }
    }

    /// One refusal caused by `user`, through `origin`.
    pub fn spend(&self, user: &str, origin: Origin, now: Instant) {
        self.users.spend(self.user(user), now);
        if let Origin::Address(ip) = origin {
            self.clients.spend(ip, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn budget(per_minute: u32, burst: u32) -> Budget {
        Budget::new(TokenBudget { per_minute, burst })
    }

    #[test]
    fn a_user_spends_its_burst_then_refills_at_the_rate() {
        let b = budget(20, 40);
        let via = Origin::Verified;
        let t0 = Instant::now();
        for i in 0..40 {
            assert_eq!(b.exhausted("alice", via, t0), None, "after {i}");
            b.spend("alice", via, t0);
        }
        assert_eq!(b.exhausted("alice", via, t0), Some(BudgetSpent::User));
        assert_eq!(b.exhausted("bob", via, t0), None, "another user is untouched");
        // 20 a minute: one more after three seconds.
        assert!(b.exhausted("alice", via, t0 + Duration::from_millis(2900)).is_some());
        assert_eq!(b.exhausted("alice", via, t0 + Duration::from_secs(3)), None);
        b.spend("alice", via, t0 + Duration::from_secs(3));
        assert!(b.exhausted("alice", via, t0 + Duration::from_secs(3)).is_some());
        // Refilled to the burst, never beyond.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..40 {
            assert_eq!(b.exhausted("alice", via, later), None);
            b.spend("alice", via, later);
        }
        assert!(b.exhausted("alice", via, later).is_some());
    }

    #[test]
    fn invented_names_do_not_widen_an_address_past_ten_times() {
        let b = budget(1, 3);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let now = Instant::now();
        // Each refusal under a new name: the users never run out, the address does, at 10 × 3.
        for i in 0..30 {
            assert_eq!(b.exhausted(&format!("made-up-{i}"), Origin::Address(ip), now), None);
            b.spend(&format!("made-up-{i}"), Origin::Address(ip), now);
        }
        assert_eq!(
            b.exhausted("made-up-30", Origin::Address(ip), now),
            Some(BudgetSpent::Client)
        );
        assert_eq!(
            b.exhausted("alice", Origin::Address(ip), now),
            Some(BudgetSpent::Client)
        );
        assert_eq!(b.exhausted("alice", Origin::Address(other), now), None);
        // Through the API server's verified connection, the address plays no part.
        assert_eq!(b.exhausted("alice", Origin::Verified, now), None);
        // A user who spent their own is told so first, wherever they come from.
        for _ in 0..3 {
            b.spend("mallory", Origin::Verified, now);
        }
        assert_eq!(
            b.exhausted("mallory", Origin::Address(ip), now),
            Some(BudgetSpent::User)
        );
    }

    #[test]
    fn what_is_tracked_is_bounded_and_names_are_not_kept() {
        let b = budget(1, 1);
        let now = Instant::now();
        for i in 0..(MAX_TRACKED as u32 + 10) {
            b.spend(
                &format!("user-{i}"),
                Origin::Address(IpAddr::from(i.to_be_bytes())),
                now,
            );
        }
        assert!(b.users.tracked() <= MAX_TRACKED);
        assert!(b.clients.tracked() <= MAX_TRACKED);
    }
}
