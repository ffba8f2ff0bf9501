//! The decision: a pure function of the credential, what the provider said, and the configuration.
//!
//! [`evaluate`] compares a grant with the requirement table and returns a [`Verdict`] (what scopegate
//! found, for annotations, logs and reports) and the [`Problem`]s (what is wrong, for messages).
//! [`severity`] says what each problem does under the configuration; the review layer applies the mode.

pub mod requirements;
pub mod scopes;

use std::fmt;

use jiff::Timestamp;

use crate::config::{Config, OnFailure, OnUnverified, ProviderKind};
use crate::credential::{Malformed, Role};
use crate::kind::TokenKind;
use crate::providers::{Grant, IntrospectError};
pub use requirements::{ScopeFamily, required};

/// The verdict values, as annotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Ok,
    Insufficient,
    Invalid,
    Unverified,
    NotAToken,
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Insufficient => "insufficient",
            Outcome::Invalid => "invalid",
            Outcome::Unverified => "unverified",
            Outcome::NotAToken => "not-a-token",
            Outcome::Skipped => "skipped",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything scopegate found about one credential, computed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    pub provider: Option<ProviderKind>,
    /// A [`TokenKind`] name, or what the credential is when it is not a token (`ssh-key`, …).
    pub token_kind: Option<&'static str>,
    pub role: Option<Role>,
    /// Granted scopes as the provider reported them, sorted.
    pub scopes: Vec<String>,
    /// Required scopes the token lacks, in the requirement's order.
    pub missing: Vec<String>,
    pub expires_at: Option<Timestamp>,
    pub owner: Option<String>,
    /// One line on why the verdict is not `ok`, when there is more to say than the verdict.
    pub reason: Option<String>,
}

impl Verdict {
    pub fn new(outcome: Outcome, role: Option<Role>) -> Self {
        Self {
            outcome,
            provider: None,
            token_kind: None,
            role,
            scopes: Vec::new(),
            missing: Vec::new(),
            expires_at: None,
            owner: None,
            reason: None,
        }
    }
}

/// Something wrong with a credential Secret or its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A field cannot be used as written.
    Malformed(Malformed),
    /// The token lacks required scopes.
    Insufficient { family: ScopeFamily, missing: Vec<String> },
    /// The provider refused the token, or it cannot work at all.
    Invalid { detail: String },
    /// The token's prefix belongs to another provider than the URL's host; it was not sent anywhere.
    ForeignToken { token_provider: ProviderKind },
    /// The provider could not be asked.
    ProviderFailed { detail: String, rate_limited: bool },
    /// The provider answered but what the token may do cannot be established.
    Unverified { reason: String },
    /// The URL's host is not a configured provider; nothing was asked.
    UnknownHost { host: String },
    /// A Helm or OCI repository: its password is not a Git token.
    NotGit { repo_type: String },
    /// `skip-validation` asked by someone not allowed to.
    SkipNotAllowed { user: String },
    /// `skip-validation` honoured.
    Skipped { user: String },
    /// The role annotation asked for a weaker role, or for no role at all.
    RoleIgnored { asked: String, derived: Role },
}

impl Problem {
    /// Whether the problem is about the credential (and so excused on an UPDATE that leaves the
    /// credential as it was, under `allowExistingViolations`), rather than about this request.
    pub fn about_credential(&self) -> bool {
        !matches!(
            self,
            Problem::SkipNotAllowed { .. } | Problem::Skipped { .. } | Problem::RoleIgnored { .. }
        )
    }
}

/// What a problem does at admission, before the mode is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Deny, with this HTTP status code in `status.code`.
    Deny(u16),
    Warn,
}

/// What the configuration makes of a problem.
pub fn severity(problem: &Problem, config: &Config) -> Severity {
    match problem {
        Problem::Malformed(_) => Severity::Deny(400),
        Problem::Insufficient { .. }
        | Problem::Invalid { .. }
        | Problem::ForeignToken { .. }
        | Problem::SkipNotAllowed { .. } => Severity::Deny(403),
        Problem::ProviderFailed { .. } => match config.on_provider_error {
            OnFailure::Deny => Severity::Deny(403),
            OnFailure::Allow => Severity::Warn,
        },
        Problem::Unverified { .. } => match config.on_unverified {
            OnUnverified::Deny => Severity::Deny(403),
            OnUnverified::Allow => Severity::Warn,
        },
        Problem::UnknownHost { .. }
        | Problem::NotGit { .. }
        | Problem::Skipped { .. }
        | Problem::RoleIgnored { .. } => Severity::Warn,
    }
}

/// Which scope table applies to a token kind, if any.
pub fn family_of(provider: ProviderKind, kind: TokenKind) -> Option<ScopeFamily> {
    match (provider, kind) {
        (ProviderKind::Github, TokenKind::Classic | TokenKind::Oauth) => Some(ScopeFamily::GithubClassic),
        (ProviderKind::Gitlab, TokenKind::Personal | TokenKind::Project | TokenKind::Group) => {
            Some(ScopeFamily::Gitlab)
        }
        (
            ProviderKind::BitbucketCloud,
            TokenKind::AccessToken
            | TokenKind::RepoAccessToken
            | TokenKind::ProjectAccessToken
            | TokenKind::WorkspaceAccessToken,
        ) => Some(ScopeFamily::BitbucketCloud),
        _ => None,
    }
}

/// Judge what the provider said about a token in a role.
pub fn evaluate(
    provider: ProviderKind,
    kind: TokenKind,
    role: Role,
    result: &Result<Grant, IntrospectError>,
    now: Timestamp,
) -> (Verdict, Option<Problem>) {
    let mut v = Verdict::new(Outcome::Unverified, Some(role));
    v.provider = Some(provider);
    v.token_kind = Some(kind.as_str());
    let grant = match result {
        Ok(g) => g,
        Err(e) => {
            let reason = e.to_string();
            v.reason = Some(reason.clone());
            let problem = match e {
                IntrospectError::Rejected { detail } => {
                    v.outcome = Outcome::Invalid;
                    Problem::Invalid { detail: detail.clone() }
                }
                IntrospectError::RateLimited { detail, .. } => Problem::ProviderFailed {
                    detail: detail.clone(),
                    rate_limited: true,
                },
                IntrospectError::Unavailable { detail } => Problem::ProviderFailed {
                    detail: detail.clone(),
                    rate_limited: false,
                },
                IntrospectError::NotIntrospectable { reason } => Problem::Unverified { reason: reason.clone() },
            };
            return (v, Some(problem));
        }
    };
    v.token_kind = Some(grant.kind.as_str());
    v.owner = grant.owner.clone();
    v.expires_at = grant.expires_at;
    v.scopes = grant.scopes.iter().flatten().cloned().collect();
    if let Some(exp) = grant.expires_at
        && exp <= now
    {
        let detail = format!("the token expired at {}", exp.round(jiff::Unit::Second).unwrap_or(exp));
        v.outcome = Outcome::Invalid;
        v.reason = Some(detail.clone());
        return (v, Some(Problem::Invalid { detail }));
    }
    if let Some(reason) = &grant.unverified {
        v.reason = Some(reason.clone());
        return (v, Some(Problem::Unverified { reason: reason.clone() }));
    }
    let (Some(family), Some(scopes)) = (family_of(provider, grant.kind), grant.scopes.as_ref()) else {
        let reason = format!(
            "scopegate has no scope table for {} {}s",
            provider.display_name(),
            grant.kind.describe()
        );
        v.reason = Some(reason.clone());
        return (v, Some(Problem::Unverified { reason }));
    };
    v.missing = scopes::missing(family, required(family, role), scopes.iter().map(String::as_str));
    if v.missing.is_empty() {
        v.outcome = Outcome::Ok;
        (v, None)
    } else {
        v.outcome = Outcome::Insufficient;
        let missing = v.missing.clone();
        (v, Some(Problem::Insufficient { family, missing }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn grant(kind: TokenKind, scopes: &[&str]) -> Result<Grant, IntrospectError> {
        let mut g = Grant::new(kind);
        g.scopes = Some(scopes.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>());
        g.owner = Some("octocat".into());
        Ok(g)
    }

    fn now() -> Timestamp {
        "2026-11-25T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn enough_scopes_is_ok() {
        let (v, p) = evaluate(
            ProviderKind::Github,
            TokenKind::Classic,
            Role::Runtime,
            &grant(TokenKind::Classic, &["repo", "admin:repo_hook", "user"]),
            now(),
        );
        assert_eq!(v.outcome, Outcome::Ok);
        assert_eq!(v.scopes, ["admin:repo_hook", "repo", "user"]);
        assert!(v.missing.is_empty() && p.is_none());
        assert_eq!(v.owner.as_deref(), Some("octocat"));
    }

    #[test]
    fn missing_scopes_are_insufficient() {
        let (v, p) = evaluate(
            ProviderKind::Github,
            TokenKind::Classic,
            Role::Runtime,
            &grant(TokenKind::Classic, &["repo"]),
            now(),
        );
        assert_eq!(v.outcome, Outcome::Insufficient);
        assert_eq!(v.missing, ["admin:repo_hook"]);
        assert_eq!(
            p,
            Some(Problem::Insufficient {
                family: ScopeFamily::GithubClassic,
                missing: vec!["admin:repo_hook".into()]
            })
        );
        let (v, _) = evaluate(
            ProviderKind::Gitlab,
            TokenKind::Personal,
            Role::User,
            &grant(TokenKind::Personal, &["read_repository"]),
            now(),
        );
        assert_eq!(v.missing, ["write_repository", "read_api"]);
    }

    #[test]
    fn an_expired_grant_is_invalid() {
        let mut g = grant(TokenKind::Classic, &["repo"]).unwrap();
        g.expires_at = Some("2026-11-01T00:00:00Z".parse().unwrap());
        let (v, p) = evaluate(ProviderKind::Github, TokenKind::Classic, Role::Read, &Ok(g), now());
        assert_eq!(v.outcome, Outcome::Invalid);
        assert!(matches!(p, Some(Problem::Invalid { .. })));
        assert!(v.reason.unwrap().contains("2026-11-01"));
    }

    #[test]
    fn errors_map_to_verdicts() {
        let cases = [
            (IntrospectError::Rejected { detail: "401".into() }, Outcome::Invalid),
            (
                IntrospectError::RateLimited {
                    detail: "429".into(),
                    retry_after: None,
                },
                Outcome::Unverified,
            ),
            (
                IntrospectError::Unavailable { detail: "500".into() },
                Outcome::Unverified,
            ),
            (
                IntrospectError::NotIntrospectable { reason: "n/a".into() },
                Outcome::Unverified,
            ),
        ];
        for (e, want) in cases {
            let (v, p) = evaluate(
                ProviderKind::Github,
                TokenKind::Classic,
                Role::Read,
                &Err(e.clone()),
                now(),
            );
            assert_eq!(v.outcome, want, "{e:?}");
            assert!(p.is_some());
            assert_eq!(v.reason.as_deref(), Some(e.to_string().as_str()));
        }
    }

    #[test]
    fn unverifiable_grants_are_never_ok() {
        let mut g = Grant::new(TokenKind::FineGrained);
        g.unverified = Some("no permissions API".into());
        let (v, _) = evaluate(ProviderKind::Github, TokenKind::FineGrained, Role::Read, &Ok(g), now());
        assert_eq!(v.outcome, Outcome::Unverified);
        // A kind without a table, even with scopes, is unverified.
        let (v, _) = evaluate(
            ProviderKind::Github,
            TokenKind::AppUser,
            Role::Read,
            &grant(TokenKind::AppUser, &["repo"]),
            now(),
        );
        assert_eq!(v.outcome, Outcome::Unverified);
    }

    #[test]
    fn severities_follow_the_configuration() {
        let mut c = Config::default();
        let failed = Problem::ProviderFailed {
            detail: String::new(),
            rate_limited: false,
        };
        let unverified = Problem::Unverified { reason: String::new() };
        assert_eq!(severity(&failed, &c), Severity::Deny(403));
        assert_eq!(severity(&unverified, &c), Severity::Warn);
        c.on_provider_error = OnFailure::Allow;
        c.on_unverified = OnUnverified::Deny;
        assert_eq!(severity(&failed, &c), Severity::Warn);
        assert_eq!(severity(&unverified, &c), Severity::Deny(403));
        let m = Problem::Malformed(Malformed {
            field: "url".into(),
            problem: String::new(),
            whitespace: false,
        });
        assert_eq!(severity(&m, &c), Severity::Deny(400));
        assert_eq!(severity(&Problem::UnknownHost { host: "x".into() }, &c), Severity::Warn);
    }
}
