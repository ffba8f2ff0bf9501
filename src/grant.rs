//! What a provider said about a credential: a [`Grant`], or why there is none ([`IntrospectError`]).
//! The providers produce these, the grant cache keeps them, the policy judges them; none of those
//! three knows the others.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use crate::credential::TokenKind;

/// What a probe established about one permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Granted,
    /// Refused, and why (which repository, which answer).
    Denied(String),
    /// Could not be established without a side effect, or the answers disagreed.
    Unknown(String),
}

/// A GitLab project or group access token's role on the project it was checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitlabProjectAccess {
    pub project: String,
    /// `permissions.*.access_level`, the higher of project and group; `None` when not a member.
    pub level: Option<u8>,
    /// Why the level could not be read, when it could not.
    pub error: Option<String>,
}

/// A set of scopes, shared: many tokens carry the same scopes, and the grant cache keeps one copy.
pub type Scopes = Arc<BTreeSet<String>>;

/// A comma-separated scope list (`X-OAuth-Scopes: repo, user`) as a set. An empty list is no scopes.
pub fn parse_scope_list(v: &str) -> Scopes {
    Arc::new(
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

/// What the provider said about a token it accepted. Kept small: a cache holds many of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The token kind, refined by what the provider reported.
    pub kind: TokenKind,
    /// The complete list of scopes (or permissions) the provider reports for the token; `None` when it
    /// lists none for this kind.
    pub scopes: Option<Scopes>,
    /// Per-permission results of probes, for kinds whose permissions no API lists.
    pub checks: BTreeMap<String, Check>,
    /// A project or group access token's role on the probed project.
    pub access: Option<Box<GitlabProjectAccess>>,
    /// Repositories the credential was asked about and cannot reach.
    pub unreachable: Vec<String>,
    pub expires_at: Option<Timestamp>,
    /// Who the token acts as (a login or bot name).
    pub owner: Option<Arc<str>>,
    pub owner_is_bot: Option<bool>,
    /// Why what the token may do could not be established at all, when it could not.
    pub unverified: Option<String>,
}

impl Grant {
    pub fn new(kind: TokenKind) -> Self {
        Self {
            kind,
            scopes: None,
            checks: BTreeMap::new(),
            access: None,
            unreachable: Vec::new(),
            expires_at: None,
            owner: None,
            owner_is_bot: None,
            unverified: None,
        }
    }
}

/// Fold per-repository probe results: denied anywhere is denied, else unknown anywhere is unknown.
pub fn merge_check(into: &mut BTreeMap<String, Check>, permission: &str, check: Check) {
    let merged = match (into.remove(permission), check) {
        (None, c) => c,
        (Some(Check::Denied(a)), _) => Check::Denied(a),
        (_, Check::Denied(b)) => Check::Denied(b),
        (Some(Check::Unknown(a)), _) => Check::Unknown(a),
        (_, Check::Unknown(b)) => Check::Unknown(b),
        (Some(Check::Granted), Check::Granted) => Check::Granted,
    };
    into.insert(permission.to_owned(), merged);
}

/// Why a provider call failed to be made or answered: what the `timeout` and `connection_error`
/// outcomes of `scopegate_provider_requests_total` count, told apart by type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailability {
    /// No answer within `providerTimeout`.
    Timeout,
    /// The connection could not be made or broke.
    Connection,
    /// The provider answered with something scopegate cannot use (5xx, garbage, too large), or
    /// scopegate itself did not call (circuit open, deadline, shutting down).
    Answer,
    /// Not asked: the requester spent an invalid-token budget, the user's or the client address's.
    Budget(BudgetSpent),
}

/// Which invalid-token budget held a review back: the requesting user's, or (where user names are only
/// claimed) the client address's. The `budget` label of `scopegate_invalid_token_budget_refusals_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "lowercase")]
pub enum BudgetSpent {
    User,
    Client,
}

impl BudgetSpent {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Why introspection gave no grant. Only `Rejected` makes a token invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntrospectError {
    /// The provider refused the token itself (401, revoked, expired), or it cannot work at all.
    #[error("{detail}")]
    Rejected { detail: String },
    /// The provider is rate limiting; try again later.
    #[error("{detail}")]
    RateLimited {
        detail: String,
        retry_after: Option<Duration>,
    },
    /// The provider could not be asked (unreachable, timeout, 5xx, an answer that makes no sense).
    #[error("{detail}")]
    Unavailable { detail: String, why: Unavailability },
    /// The token kind has no way to be inspected.
    #[error("{reason}")]
    NotIntrospectable { reason: String },
    /// The provider refuses logins from scopegate for a while after too many failed ones (GitHub's
    /// "Maximum number of login attempts exceeded"): no answer about this token, and no sign that the
    /// provider itself fails.
    #[error("{detail}")]
    Throttled {
        detail: String,
        retry_after: Option<Duration>,
    },
}

impl IntrospectError {
    /// A provider answer (or its absence) that cannot be used.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::Unavailable {
            detail: detail.into(),
            why: Unavailability::Answer,
        }
    }

    /// The provider failed rather than answered (rate limited or unavailable).
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Unavailable { .. } | Self::Throttled { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_merge_pessimistically() {
        let mut m = BTreeMap::new();
        merge_check(&mut m, "c", Check::Granted);
        assert_eq!(m["c"], Check::Granted);
        merge_check(&mut m, "c", Check::Unknown("u".into()));
        assert_eq!(m["c"], Check::Unknown("u".into()));
        merge_check(&mut m, "c", Check::Denied("d".into()));
        assert_eq!(m["c"], Check::Denied("d".into()));
        merge_check(&mut m, "c", Check::Granted);
        assert_eq!(m["c"], Check::Denied("d".into()));
    }

    #[test]
    fn scope_lists() {
        let s = parse_scope_list("admin:gpg_key, admin:org, repo, user, workflow");
        assert_eq!(s.len(), 5);
        assert!(s.contains("admin:org") && s.contains("workflow"));
        assert!(parse_scope_list("").is_empty());
        assert_eq!(parse_scope_list("repo,user").len(), 2);
    }
}
