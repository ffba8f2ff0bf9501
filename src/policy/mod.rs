//! The decision: a pure function of the credential, what the provider said, and the configuration.
//!
//! [`evaluate`] compares a grant with the requirement table and returns a [`Verdict`] (what scopegate
//! found, for annotations, logs and reports) and the [`Problem`]s (what is wrong, for messages).
//! [`severity`] says what each problem does under the configuration; the review layer applies the mode.

pub mod scopes;

use jiff::Timestamp;

use crate::config::{Config, ExcessPolicy, OnFailure, OnUnverified, ProviderKind};
use crate::credential::{CredentialKind, MalformedField, Role, TokenKind};
use crate::grant::{Check, Grant, IntrospectError, Scopes};
use crate::requirements;
pub use crate::requirements::Need;
pub use crate::requirements::ScopeFamily;

/// The verdict values: what `scopegate.dev/verdict` says, and the `verdict` of reports and metrics.
/// `Ignored` is the verdict of a Secret scopegate does not handle, which is never annotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "kebab-case")]
pub enum Outcome {
    Ok,
    Insufficient,
    Invalid,
    Unverified,
    NotAToken,
    Skipped,
    Ignored,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Every verdict.
    pub fn all() -> impl Iterator<Item = Outcome> {
        <Self as strum::IntoEnumIterator>::iter()
    }
}

/// Everything scopegate found about one credential, computed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    pub provider: Option<ProviderKind>,
    /// The token's kind, or what the credential is when it is not a token (`ssh-key`, …).
    pub token_kind: Option<CredentialKind>,
    pub role: Option<Role>,
    /// Granted scopes (or permissions) as the provider reported them, or as probes established them;
    /// sorted, and shared with the grant.
    pub scopes: Scopes,
    /// What the role needs and the token lacks, in the requirement's order.
    pub missing: Vec<String>,
    /// Dangerous scopes the role does not need.
    pub excess: Vec<String>,
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
            scopes: Default::default(),
            missing: Vec::new(),
            excess: Vec::new(),
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
    Malformed(MalformedField),
    /// The token lacks what the role needs; `why` says what refused, where probes did.
    Insufficient {
        family: ScopeFamily,
        missing: Vec<String>,
        why: Vec<String>,
    },
    /// The provider refused the token, or it cannot work at all.
    Invalid { detail: String },
    /// The token's prefix belongs to another provider than the URL's host; it was not sent anywhere.
    ForeignToken { token_provider: ProviderKind },
    /// The provider could not be asked.
    ProviderFailed { detail: String, rate_limited: bool },
    /// The provider answered but what the token may do cannot be (fully) established.
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
    /// The token expires within `expiryWarningDays`.
    ExpiresSoon { at: Timestamp, days: i64 },
    /// Dangerous scopes beyond the role's needs.
    Excess { scopes: Vec<String> },
    /// A runtime token that acts as a person rather than a service or robot account.
    PersonalRuntimeToken { owner: String },
    /// The provider failed; the verdict comes from its last known answer, `age` old.
    Stale { age: std::time::Duration, detail: String },
    /// `insecure: "true"`: Argo CD skips certificate verification for the repository (scopegate does
    /// not: its own calls verify as always).
    InsecureRepository,
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
    /// Recorded (annotations, reports), not said at admission.
    Silent,
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
        Problem::Excess { .. } => match config.excess_privileges {
            ExcessPolicy::Deny => Severity::Deny(403),
            ExcessPolicy::Warn => Severity::Warn,
            ExcessPolicy::Ignore => Severity::Silent,
        },
        Problem::UnknownHost { .. }
        | Problem::NotGit { .. }
        | Problem::Skipped { .. }
        | Problem::RoleIgnored { .. }
        | Problem::ExpiresSoon { .. }
        | Problem::PersonalRuntimeToken { .. }
        | Problem::Stale { .. }
        | Problem::InsecureRepository => Severity::Warn,
    }
}

/// Which requirement table applies to a token kind, if any.
pub fn family_of(provider: ProviderKind, kind: TokenKind) -> Option<ScopeFamily> {
    use TokenKind::*;
    match (provider, kind) {
        (ProviderKind::Github, Classic | Oauth) => Some(ScopeFamily::GithubClassic),
        (ProviderKind::Github, FineGrained | GithubApp) => Some(ScopeFamily::GithubPermissions),
        (ProviderKind::Gitlab, Personal | Project | Group) => Some(ScopeFamily::Gitlab),
        (ProviderKind::BitbucketCloud, AccessToken | RepoAccessToken | ProjectAccessToken | WorkspaceAccessToken) => {
            Some(ScopeFamily::BitbucketCloud)
        }
        (ProviderKind::BitbucketCloud, ApiToken) => Some(ScopeFamily::BitbucketApiToken),
        (ProviderKind::BitbucketServer, HttpAccessToken) => Some(ScopeFamily::BitbucketServer),
        (ProviderKind::Gitea, AccessToken) => Some(ScopeFamily::Gitea),
        (ProviderKind::AzureDevops, Personal) => Some(ScopeFamily::AzureDevops),
        _ => None,
    }
}

/// Judge what the provider said about a credential in a role (or, for an ApplicationSet generator's
/// token, a [`Need`]: the `scm` role and whether it lists pull requests).
pub fn evaluate(
    provider: ProviderKind,
    kind: TokenKind,
    need: impl Into<Need>,
    result: &Result<Grant, IntrospectError>,
    now: Timestamp,
    config: &Config,
) -> (Verdict, Vec<Problem>) {
    let need = need.into();
    let role = need.role;
    let mut v = Verdict::new(Outcome::Unverified, Some(role));
    v.provider = Some(provider);
    v.token_kind = Some(CredentialKind::Token(kind));
    let grant = match result {
        Ok(g) => g,
        Err(e) => {
            v.reason = Some(e.to_string());
            let problem = match e {
                IntrospectError::Rejected { detail } => {
                    v.outcome = Outcome::Invalid;
                    Problem::Invalid { detail: detail.clone() }
                }
                IntrospectError::RateLimited { detail, .. } => Problem::ProviderFailed {
                    detail: detail.clone(),
                    rate_limited: true,
                },
                IntrospectError::Unavailable { detail, .. } => Problem::ProviderFailed {
                    detail: detail.clone(),
                    rate_limited: false,
                },
                IntrospectError::NotIntrospectable { reason } => Problem::Unverified { reason: reason.clone() },
                IntrospectError::Throttled { detail, .. } => Problem::ProviderFailed {
                    detail: detail.clone(),
                    rate_limited: true,
                },
            };
            return (v, vec![problem]);
        }
    };
    v.token_kind = Some(CredentialKind::Token(grant.kind));
    v.owner = grant.owner.as_deref().map(str::to_owned);
    v.expires_at = grant.expires_at;
    let mut problems = Vec::new();
    if let Some(exp) = grant.expires_at {
        let at = exp.round(jiff::Unit::Second).unwrap_or(exp);
        if exp <= now {
            let detail = format!("the token expired at {at}");
            v.outcome = Outcome::Invalid;
            v.reason = Some(detail.clone());
            return (v, vec![Problem::Invalid { detail }]);
        }
        let days = (exp.as_second() - now.as_second()) / 86_400;
        if days < i64::from(config.expiry_warning_days) {
            problems.push(Problem::ExpiresSoon { at, days });
        }
    }
    if role == Role::Runtime
        && let Some(owner) = grant.owner.as_deref()
        && grant.owner_is_bot != Some(true)
        && !config.service_accounts.contains(owner)
    {
        problems.push(Problem::PersonalRuntimeToken {
            owner: owner.to_owned(),
        });
    }
    let family = family_of(provider, grant.kind);
    let assessment = match (family, &grant.scopes) {
        (Some(f), Some(scopes)) => Some(scopes::assess(f, role, config.requirements.needed(f, need), scopes)),
        _ => None,
    };
    if let (Some(a), Some(scopes)) = (&assessment, &grant.scopes) {
        v.scopes = scopes.clone();
        v.excess = a.excess.clone();
    } else {
        v.scopes = std::sync::Arc::new(
            grant
                .checks
                .iter()
                .filter(|(_, c)| **c == Check::Granted)
                .map(|(k, _)| k.clone())
                .collect(),
        );
    }
    if !v.excess.is_empty() {
        problems.push(Problem::Excess {
            scopes: v.excess.clone(),
        });
    }
    if let Some(reason) = &grant.unverified {
        v.reason = Some(reason.clone());
        problems.insert(0, Problem::Unverified { reason: reason.clone() });
        return (v, problems);
    }
    let Some(family) = family else {
        let reason = format!(
            "scopegate has no requirement table for {} {}s",
            provider.display_name(),
            grant.kind.describe()
        );
        v.reason = Some(reason.clone());
        problems.insert(0, Problem::Unverified { reason });
        return (v, problems);
    };

    let needed = config.requirements.needed(family, need);
    let mut why = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    if let Some(scopes) = &grant.scopes {
        v.missing = match &assessment {
            Some(a) => a.missing.clone(),
            None => scopes::missing(family, needed, scopes.iter().map(String::as_str)),
        };
    } else {
        for r in needed.iter() {
            match grant.checks.get(r) {
                Some(Check::Granted) => {}
                Some(Check::Denied(w)) => {
                    v.missing.push(r.clone());
                    // One refusal (a repository not visible) can deny several permissions: say it once.
                    if !why.contains(w) {
                        why.push(w.clone());
                    }
                }
                Some(Check::Unknown(w)) => unknown.push(format!("{r}: {w}")),
                None => unknown.push(format!("{r}: not probed")),
            }
        }
    }
    if let Some(access) = &grant.access {
        let min = config.requirements.gitlab_access(role);
        match (access.level, &access.error) {
            (_, Some(e)) => unknown.push(format!("the bot's role on {}: {e}", access.project)),
            (Some(l), None) if l >= min => {}
            (level, None) => {
                v.missing
                    .push(format!("role:{}", requirements::gitlab_access_name(min)));
                why.push(format!(
                    "the token's bot has {} on {} and the {role} role needs {}",
                    level.map(requirements::gitlab_access_name).unwrap_or("no access"),
                    access.project,
                    requirements::gitlab_access_name(min)
                ));
            }
        }
    }
    for repo in &grant.unreachable {
        v.missing.push(format!("access:{repo}"));
        why.push(format!("the credential does not reach {repo}"));
    }
    if !v.missing.is_empty() {
        v.outcome = Outcome::Insufficient;
        if !why.is_empty() {
            v.reason = Some(why.join("; "));
        }
        problems.insert(
            0,
            Problem::Insufficient {
                family,
                missing: v.missing.clone(),
                why,
            },
        );
    } else if !unknown.is_empty() {
        let reason = unknown.join("; ");
        v.reason = Some(reason.clone());
        problems.insert(0, Problem::Unverified { reason });
    } else {
        v.outcome = Outcome::Ok;
    }
    (v, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::GitlabProjectAccess;
    use std::collections::BTreeSet;

    fn grant(kind: TokenKind, scopes: &[&str]) -> Result<Grant, IntrospectError> {
        let mut g = Grant::new(kind);
        g.scopes = Some(std::sync::Arc::new(
            scopes.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(),
        ));
        g.owner = Some("octocat".into());
        Ok(g)
    }

    fn now() -> Timestamp {
        "2026-11-25T12:00:00Z".parse().unwrap()
    }

    fn eval(
        provider: ProviderKind,
        kind: TokenKind,
        role: Role,
        r: &Result<Grant, IntrospectError>,
    ) -> (Verdict, Vec<Problem>) {
        evaluate(provider, kind, role, r, now(), &Config::default())
    }

    #[test]
    fn enough_scopes_is_ok() {
        let (v, p) = eval(
            ProviderKind::Github,
            TokenKind::Classic,
            Role::Write,
            &grant(TokenKind::Classic, &["repo", "user"]),
        );
        assert_eq!(v.outcome, Outcome::Ok);
        assert_eq!(v.scopes.iter().collect::<Vec<_>>(), ["repo", "user"]);
        assert!(v.missing.is_empty() && p.is_empty());
        assert_eq!(v.owner.as_deref(), Some("octocat"));
    }

    #[test]
    fn missing_scopes_are_insufficient() {
        let (v, p) = eval(
            ProviderKind::Github,
            TokenKind::Classic,
            Role::Runtime,
            &grant(TokenKind::Classic, &["repo"]),
        );
        assert_eq!(v.outcome, Outcome::Insufficient);
        assert_eq!(v.missing, ["admin:repo_hook"]);
        assert!(matches!(&p[0], Problem::Insufficient { missing, .. } if missing == &["admin:repo_hook"]));
        let (v, _) = eval(
            ProviderKind::Gitlab,
            TokenKind::Personal,
            Role::User,
            &grant(TokenKind::Personal, &["read_repository"]),
        );
        assert_eq!(v.missing, ["write_repository", "read_api"]);
    }

    #[test]
    fn an_expired_grant_is_invalid_and_a_soon_expiring_one_warns() {
        let mut g = grant(TokenKind::Classic, &["repo"]).unwrap();
        g.expires_at = Some("2026-11-01T00:00:00Z".parse().unwrap());
        let (v, p) = eval(ProviderKind::Github, TokenKind::Classic, Role::Read, &Ok(g.clone()));
        assert_eq!(v.outcome, Outcome::Invalid);
        assert!(matches!(p[0], Problem::Invalid { .. }));
        assert!(v.reason.unwrap().contains("2026-11-01"));
        g.expires_at = Some("2026-12-02T00:00:00Z".parse().unwrap());
        let (v, p) = eval(ProviderKind::Github, TokenKind::Classic, Role::Read, &Ok(g.clone()));
        assert_eq!(v.outcome, Outcome::Ok);
        assert!(matches!(p[0], Problem::ExpiresSoon { days: 6, .. }), "{p:?}");
        g.expires_at = Some("2027-06-02T00:00:00Z".parse().unwrap());
        assert!(
            eval(ProviderKind::Github, TokenKind::Classic, Role::Read, &Ok(g))
                .1
                .is_empty()
        );
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
            (IntrospectError::unavailable("500"), Outcome::Unverified),
            (
                IntrospectError::NotIntrospectable { reason: "n/a".into() },
                Outcome::Unverified,
            ),
        ];
        for (e, want) in cases {
            let (v, p) = eval(ProviderKind::Github, TokenKind::Classic, Role::Read, &Err(e.clone()));
            assert_eq!(v.outcome, want, "{e:?}");
            assert_eq!(p.len(), 1);
            assert_eq!(v.reason.as_deref(), Some(e.to_string().as_str()));
        }
    }

    #[test]
    fn unverifiable_grants_are_never_ok() {
        let mut g = Grant::new(TokenKind::FineGrained);
        g.unverified = Some("no repository to probe".into());
        let (v, _) = eval(ProviderKind::Github, TokenKind::FineGrained, Role::Read, &Ok(g));
        assert_eq!(v.outcome, Outcome::Unverified);
        let (v, _) = eval(
            ProviderKind::Github,
            TokenKind::AppUser,
            Role::Read,
            &grant(TokenKind::AppUser, &["repo"]),
        );
        assert_eq!(v.outcome, Outcome::Unverified);
    }

    fn probed(checks: &[(&str, Check)]) -> Result<Grant, IntrospectError> {
        let mut g = Grant::new(TokenKind::FineGrained);
        for (k, c) in checks {
            g.checks.insert((*k).to_owned(), c.clone());
        }
        Ok(g)
    }

    #[test]
    fn probed_permissions() {
        let gh = ProviderKind::Github;
        let fg = TokenKind::FineGrained;
        let all = probed(&[("contents:read", Check::Granted), ("metadata:read", Check::Granted)]);
        assert_eq!(eval(gh, fg, Role::Read, &all).0.outcome, Outcome::Ok);
        let denied = probed(&[
            ("contents:read", Check::Denied("403 on acme/app".into())),
            ("metadata:read", Check::Granted),
        ]);
        let (v, p) = eval(gh, fg, Role::Read, &denied);
        assert_eq!(v.outcome, Outcome::Insufficient);
        assert_eq!(v.missing, ["contents:read"]);
        assert!(matches!(&p[0], Problem::Insufficient { why, .. } if why[0].contains("acme/app")));
        let unknown = probed(&[
            ("administration:write", Check::Granted),
            ("contents:write", Check::Granted),
            ("metadata:read", Check::Granted),
            ("webhooks:write", Check::Unknown("no read-only probe".into())),
        ]);
        let (v, _) = eval(gh, fg, Role::Runtime, &unknown);
        assert_eq!(v.outcome, Outcome::Unverified, "one unknown permission is never ok");
        assert!(v.reason.unwrap().contains("webhooks:write"));
        // A refusal wins over an unknown.
        let both = probed(&[
            ("contents:write", Check::Denied("x".into())),
            ("metadata:read", Check::Unknown("y".into())),
        ]);
        assert_eq!(eval(gh, fg, Role::Write, &both).0.outcome, Outcome::Insufficient);
    }

    #[test]
    fn gitlab_bots_need_a_role_on_the_project() {
        let mut g = grant(TokenKind::Project, &["write_repository"]).unwrap();
        g.access = Some(Box::new(GitlabProjectAccess {
            project: "acme/app".into(),
            level: Some(20),
            error: None,
        }));
        let (v, p) = eval(ProviderKind::Gitlab, TokenKind::Project, Role::Write, &Ok(g.clone()));
        assert_eq!(v.outcome, Outcome::Insufficient);
        assert_eq!(v.missing, ["role:Developer"]);
        assert!(matches!(&p[0], Problem::Insufficient { why, .. } if why[0].contains("Reporter")));
        g.access = Some(Box::new(GitlabProjectAccess {
            project: "acme/app".into(),
            level: Some(30),
            error: None,
        }));
        assert_eq!(
            eval(ProviderKind::Gitlab, TokenKind::Project, Role::Write, &Ok(g.clone()))
                .0
                .outcome,
            Outcome::Ok
        );
        g.access = Some(Box::new(GitlabProjectAccess {
            project: "acme/app".into(),
            level: None,
            error: Some("needs read_api".into()),
        }));
        assert_eq!(
            eval(ProviderKind::Gitlab, TokenKind::Project, Role::Write, &Ok(g))
                .0
                .outcome,
            Outcome::Unverified
        );
    }

    #[test]
    fn excess_and_personal_runtime_tokens() {
        let (v, p) = eval(
            ProviderKind::Github,
            TokenKind::Classic,
            Role::Runtime,
            &grant(TokenKind::Classic, &["repo", "admin:repo_hook", "delete_repo"]),
        );
        assert_eq!(v.outcome, Outcome::Ok);
        assert_eq!(v.excess, ["delete_repo"]);
        assert!(p.iter().any(|p| matches!(p, Problem::Excess { .. })));
        assert!(
            p.iter()
                .any(|p| matches!(p, Problem::PersonalRuntimeToken { owner } if owner == "octocat"))
        );
        let mut c = Config::default();
        c.service_accounts.insert("octocat".into());
        let (_, p) = evaluate(
            ProviderKind::Github,
            TokenKind::Classic,
            Role::Runtime,
            &grant(TokenKind::Classic, &["repo", "admin:repo_hook"]),
            now(),
            &c,
        );
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn severities_follow_the_configuration() {
        let mut c = Config::default();
        let failed = Problem::ProviderFailed {
            detail: String::new(),
            rate_limited: false,
        };
        let unverified = Problem::Unverified { reason: String::new() };
        let excess = Problem::Excess { scopes: vec![] };
        assert_eq!(severity(&failed, &c), Severity::Deny(403));
        assert_eq!(severity(&unverified, &c), Severity::Warn);
        assert_eq!(severity(&excess, &c), Severity::Warn);
        c.on_provider_error = OnFailure::Allow;
        c.on_unverified = OnUnverified::Deny;
        c.excess_privileges = ExcessPolicy::Deny;
        assert_eq!(severity(&failed, &c), Severity::Warn);
        assert_eq!(severity(&unverified, &c), Severity::Deny(403));
        assert_eq!(severity(&excess, &c), Severity::Deny(403));
        c.excess_privileges = ExcessPolicy::Ignore;
        assert_eq!(severity(&excess, &c), Severity::Silent);
        let m = Problem::Malformed(MalformedField {
            field: "url".into(),
            defect: String::new(),
            whitespace: false,
        });
        assert_eq!(severity(&m, &c), Severity::Deny(400));
        assert_eq!(severity(&Problem::UnknownHost { host: "x".into() }, &c), Severity::Warn);
    }
}
