//! The admission judgement: a Secret and who writes it in, a [`Judgement`] out.

use jiff::Timestamp;

use super::messages::{self, MessageContext};
use super::targets::probe_targets;
use super::{Engine, Finding, Judgement, ReviewContext};
use crate::cache::{CacheKey, Fetched};
use crate::config::{Provider, ProviderKind};
use crate::credential::{
    self, AppCredential, Classified, Credential, CredentialKind, Role, SKIP_ANNOTATION, SecretObject, TokenField,
    TokenKind,
};
use crate::grant::IntrospectError;
use crate::policy::{self, Need, Outcome, Problem, ScopeFamily, Severity, Verdict};
use crate::providers::{AppRequest, ProviderApi, Request};
use crate::repo_url::RepoUrl;

/// What a token's provider is asked: where, about which kind, on which repositories, and the key its
/// answer is kept under.
struct TokenQuestion<'a> {
    provider: &'a Provider,
    kind: TokenKind,
    repo_path: String,
    targets: Vec<String>,
    wanted: &'a [String],
    key: CacheKey,
}

/// What a GitHub App's provider is asked.
struct AppQuestion<'a> {
    provider: &'a Provider,
    targets: Vec<String>,
    key: CacheKey,
}

const EXISTING: &str = "existing violation, admitted because this update leaves the credential as it was:";

/// One credential looked into: the verdict and problems so far, and what the messages about them may
/// name (the provider asked, the field the token was in, the Secret's URL).
struct Inquiry<'a> {
    verdict: Verdict,
    problems: Vec<Problem>,
    provider: Option<&'a Provider>,
    token_field: Option<TokenField>,
    repo: Option<&'a RepoUrl>,
    cache_hit: Option<bool>,
    answered_at: Option<Timestamp>,
    budget_spent: Option<crate::grant::BudgetSpent>,
}

impl<'a> Inquiry<'a> {
    fn new(verdict: Verdict) -> Self {
        Self {
            verdict,
            problems: Vec::new(),
            provider: None,
            token_field: None,
            repo: None,
            cache_hit: None,
            answered_at: None,
            budget_spent: None,
        }
    }
}

impl<P: ProviderApi> Engine<P> {
    /// Judge a Secret as the validating webhook judges a write of it.
    ///
    /// Inputs: the Secret (as it would be stored) and the request's context — who writes it, the
    /// Secret as it was for an UPDATE, and when the answer is due. The Secret is classified (pure);
    /// a token or GitHub App credential is then asked about at its provider — through the grant cache
    /// (single flight, TTLs, the last good answer while the provider fails), the circuit breaker and
    /// the per-provider concurrency bound, and never past the deadline — and the answer evaluated
    /// against the requirement table (pure). Nothing else is called, and nothing is written.
    ///
    /// The [`Judgement`]'s verdict says what scopegate found (`ignored` for a Secret it does not
    /// handle); each finding carries a problem, its severity under the configuration (deny with a
    /// status code, warn, or silent) and its message. An UPDATE that keeps the credential as it was
    /// has its credential's denials turned into warnings under `allowExistingViolations`.
    pub async fn judge(&self, secret: &SecretObject, ctx: &ReviewContext) -> Judgement {
        let checked_at = Timestamp::now();
        let mut classified = credential::classify(secret);
        if let Some(need) = ctx.need {
            match &mut classified {
                Classified::Token(c) => c.role.effective = need.role,
                Classified::GithubApp(a) => a.role.effective = need.role,
                Classified::Malformed { role, .. } | Classified::NotAToken { role, .. } => role.effective = need.role,
                Classified::Ignored => {}
            }
        }
        let (role, mut inquiry) = match &classified {
            Classified::Ignored => return Judgement::ignored(),
            Classified::Malformed { role, problem } => {
                let mut v = Verdict::new(Outcome::Invalid, Some(role.effective));
                v.reason = Some(format!("{} {}", problem.field, problem.defect));
                let mut inquiry = Inquiry::new(v);
                inquiry.problems.push(Problem::Malformed(problem.clone()));
                (role, inquiry)
            }
            Classified::NotAToken { role, url, what } => {
                let mut v = Verdict::new(Outcome::NotAToken, Some(role.effective));
                v.token_kind = Some(CredentialKind::Other(*what));
                v.provider = url
                    .as_ref()
                    .and_then(|u| self.config.provider_for_host(&u.host))
                    .map(|p| p.kind);
                (role, Inquiry::new(v))
            }
            Classified::Token(cred) => (&cred.role, self.judge_token(cred, secret, ctx, checked_at).await),
            Classified::GithubApp(app) => (&app.role, self.judge_app(app, secret, ctx, checked_at).await),
        };
        if secret.insecure() == Ok(true) {
            inquiry.problems.push(Problem::InsecureRepository);
        }
        if let Some(asked) = &role.ignored_request {
            inquiry.problems.push(Problem::RoleIgnored {
                asked: asked.clone(),
                derived: role.derived,
            });
        }
        let excused = ctx
            .old
            .as_ref()
            .is_some_and(|old| self.config.allow_existing_violations && old.same_credential(secret));
        let words = MessageContext {
            namespace: &secret.namespace,
            name: secret.display_name(),
            provider: inquiry.provider,
            verdict: &inquiry.verdict,
            token_field: inquiry.token_field,
            repo: inquiry.repo,
            config: &self.config,
        };
        let findings: Vec<Finding> = inquiry
            .problems
            .iter()
            .map(|p| {
                let message = messages::message(p, &words);
                match policy::severity(p, &self.config) {
                    Severity::Deny(_) if excused && p.about_credential() => Finding {
                        problem: p.clone(),
                        severity: Severity::Warn,
                        message: format!("{EXISTING} {message}"),
                    },
                    severity => Finding {
                        problem: p.clone(),
                        severity,
                        message,
                    },
                }
            })
            .collect();
        let reason = match &inquiry.verdict.reason {
            Some(_) => None,
            None => findings
                .iter()
                .find(|f| matches!(f.problem, Problem::UnknownHost { .. } | Problem::NotGit { .. }))
                .map(|f| f.message.clone()),
        };
        let mut verdict = inquiry.verdict;
        if reason.is_some() {
            verdict.reason = reason;
        }
        Judgement {
            verdict,
            findings,
            checked_at,
            cache_hit: inquiry.cache_hit,
            answered_at: inquiry.answered_at,
            budget_spent: inquiry.budget_spent,
        }
    }

    /// Judge a Secret at rest (`check`, `audit`): as the validating webhook would judge its creation by
    /// nobody in particular. A `scopegate.dev/skip-validation` annotation is set aside (the token itself
    /// is judged), and the second value says so: who may skip depends on who writes the Secret, which
    /// nobody knows here.
    ///
    /// `fresh_since` makes it a re-check: the provider is asked again unless it was since then.
    pub async fn judge_stored(
        &self,
        secret: &SecretObject,
        fresh_since: Option<std::time::Instant>,
    ) -> (Judgement, bool) {
        let ctx = ReviewContext {
            fresh_since,
            ..ReviewContext::default()
        };
        if secret.annotations.contains_key(SKIP_ANNOTATION) {
            let mut judged = secret.clone();
            judged.annotations.remove(SKIP_ANNOTATION);
            (self.judge(&judged, &ctx).await, true)
        } else {
            (self.judge(secret, &ctx).await, false)
        }
    }

    /// The skip annotation, honoured or refused: `true` when the check stops here (honoured).
    fn skip(&self, secret: &SecretObject, ctx: &ReviewContext, problems: &mut Vec<Problem>) -> bool {
        if secret
            .annotations
            .get(SKIP_ANNOTATION)
            .is_none_or(|v| v.trim() != "true")
        {
            return false;
        }
        if self.may_skip(secret, ctx) {
            problems.push(Problem::Skipped { user: requester(ctx) });
            return true;
        }
        problems.push(Problem::SkipNotAllowed { user: requester(ctx) });
        false
    }

    /// What a token credential's provider is asked, or the problem that means nothing is asked.
    fn token_question<'a>(
        &'a self,
        cred: &Credential,
        secret: &SecretObject,
        ctx: &ReviewContext,
    ) -> Result<TokenQuestion<'a>, Problem> {
        if matches!(cred.repo_type.as_str(), "helm" | "oci") || cred.url.scheme == "oci" {
            let repo_type = if cred.url.scheme == "oci" {
                "oci".to_owned()
            } else {
                cred.repo_type.clone()
            };
            return Err(Problem::NotGit { repo_type });
        }
        let Some(provider) = self.config.provider_for_host(&cred.url.host) else {
            return Err(Problem::UnknownHost {
                host: cred.url.host.clone(),
            });
        };
        if let Some(other) = credential::kind::provider_by_prefix(&cred.token)
            && other != provider.kind
        {
            return Err(Problem::ForeignToken { token_provider: other });
        }
        let kind = credential::kind::detect(provider.kind, &cred.token);
        let need = need_of(cred.role.effective, ctx);
        // Kinds whose answer depends on the repositories probed; for the others (a classic token's
        // scopes, an access token's headers) the answer is the token's alone.
        let probes = match provider.kind {
            ProviderKind::Github => matches!(kind, TokenKind::FineGrained | TokenKind::Unknown),
            ProviderKind::Gitlab | ProviderKind::BitbucketServer | ProviderKind::Gitea | ProviderKind::AzureDevops => {
                true
            }
            ProviderKind::BitbucketCloud => false,
        };
        let targets = match (&ctx.targets, probes) {
            (_, false) => Vec::new(),
            (Some(t), true) => t.clone(),
            (None, true) => probe_targets(secret, &cred.url, self.config.shared_configuration_repo.as_deref()),
        };
        let requirements = &self.config.requirements;
        let wanted = match provider.kind {
            ProviderKind::Github if probes => &requirements.needed(ScopeFamily::GithubPermissions, need)[..],
            ProviderKind::BitbucketServer => &requirements.needed(ScopeFamily::BitbucketServer, need)[..],
            ProviderKind::Gitea => &requirements.needed(ScopeFamily::Gitea, need)[..],
            ProviderKind::AzureDevops => &requirements.needed(ScopeFamily::AzureDevops, need)[..],
            _ => &[],
        };
        let repo_path = crate::providers::repository_path(provider, &cred.url);
        let targets: Vec<String> = targets
            .into_iter()
            .map(|t| crate::providers::provider_path(provider, &cred.url.host, t))
            .collect();
        let (targets_key, wanted_key) = if probes {
            (targets.join("\n"), wanted.join(","))
        } else {
            (String::new(), String::new())
        };
        let key = self.cache.key(&[
            b"token",
            provider.api_url.as_str().as_bytes(),
            cred.username.as_deref().unwrap_or_default().as_bytes(),
            cred.token.expose().as_bytes(),
            provider.git_url.as_str().as_bytes(),
            cred.token_field.key().as_bytes(),
            if cred.force_basic { b"basic" } else { b"" },
            if probes { repo_path.as_bytes() } else { b"" },
            targets_key.as_bytes(),
            wanted_key.as_bytes(),
        ]);
        Ok(TokenQuestion {
            provider,
            kind,
            repo_path,
            targets,
            wanted,
            key,
        })
    }

    /// What a GitHub App credential's provider is asked, or the problem that means nothing is asked.
    fn app_question<'a>(
        &'a self,
        app: &AppCredential,
        secret: &SecretObject,
        ctx: &ReviewContext,
    ) -> Result<AppQuestion<'a>, Problem> {
        let Some(provider) = self.app_provider(app) else {
            return Err(Problem::UnknownHost {
                host: app.enterprise_base_url.clone().unwrap_or_else(|| app.url.host.clone()),
            });
        };
        let targets = match &ctx.targets {
            Some(t) => t.clone(),
            None => probe_targets(secret, &app.url, self.config.shared_configuration_repo.as_deref()),
        };
        let app_id = app.app_id.to_string();
        let installation = app.installation_id.map(|i| i.to_string()).unwrap_or_default();
        let key = self.cache.key(&[
            b"github-app",
            provider.api_url.as_str().as_bytes(),
            app_id.as_bytes(),
            installation.as_bytes(),
            app.private_key.expose().as_bytes(),
            targets.join("\n").as_bytes(),
        ]);
        Ok(AppQuestion { provider, targets, key })
    }

    /// The grant cache key of the question a Secret's credential puts to its provider, as a judgement
    /// at rest would ask it; `None` when no provider would be asked. Secrets with the same key share
    /// one provider answer.
    pub fn credential_key(&self, secret: &SecretObject) -> Option<CacheKey> {
        match credential::classify(secret) {
            Classified::Token(cred) => self
                .token_question(&cred, secret, &ReviewContext::default())
                .ok()
                .filter(|q| self.checksum(q.provider, &cred).is_ok())
                .map(|q| q.key),
            Classified::GithubApp(app) => self
                .app_question(&app, secret, &ReviewContext::default())
                .ok()
                .map(|q| q.key),
            Classified::Ignored | Classified::Malformed { .. } | Classified::NotAToken { .. } => None,
        }
    }

    async fn judge_token<'a>(
        &'a self,
        cred: &'a Credential,
        secret: &SecretObject,
        ctx: &ReviewContext,
        now: Timestamp,
    ) -> Inquiry<'a> {
        let role = cred.role.effective;
        let provider = self.config.provider_for_host(&cred.url.host);
        let mut v = Verdict::new(Outcome::Unverified, Some(role));
        v.provider = provider.map(|p| p.kind);
        v.token_kind = provider.map(|p| CredentialKind::Token(credential::kind::detect(p.kind, &cred.token)));
        let mut inquiry = Inquiry {
            provider,
            token_field: Some(cred.token_field),
            repo: Some(&cred.url),
            ..Inquiry::new(v)
        };
        if self.skip(secret, ctx, &mut inquiry.problems) {
            inquiry.verdict.outcome = Outcome::Skipped;
            return inquiry;
        }
        let q = match self.token_question(cred, secret, ctx) {
            Ok(q) => q,
            Err(problem) => {
                match (&problem, provider) {
                    (Problem::ForeignToken { token_provider }, Some(provider)) => {
                        inquiry.verdict.outcome = Outcome::Invalid;
                        inquiry.verdict.reason = Some(format!(
                            "a {} token on a {} host",
                            token_provider.display_name(),
                            provider.kind.display_name()
                        ));
                    }
                    (Problem::Invalid { detail }, _) => {
                        inquiry.verdict.outcome = Outcome::Invalid;
                        inquiry.verdict.reason = Some(detail.clone());
                    }
                    _ => {}
                }
                inquiry.problems.push(problem);
                return inquiry;
            }
        };
        // A cached answer is the whole lookup: no single flight, no deadline, no checksum (the token
        // was checked when the answer was asked for).
        let cached = ctx.fresh_since.is_none().then(|| self.cache.fresh(&q.key)).flatten();
        if cached.is_none()
            && let Err(problem) = self.checksum(q.provider, cred)
        {
            if let Problem::Invalid { detail } = &problem {
                inquiry.verdict.outcome = Outcome::Invalid;
                inquiry.verdict.reason = Some(detail.clone());
            }
            inquiry.problems.push(problem);
            return inquiry;
        }
        let request = Request {
            kind: q.kind,
            token: &cred.token,
            username: cred.username.as_deref(),
            field: cred.token_field,
            force_basic: cred.force_basic,
            repo_path: &q.repo_path,
            targets: &q.targets,
            wanted: q.wanted,
        };
        let fetched = match cached {
            Some(hit) => Some(hit),
            None => {
                self.fetch(
                    q.provider,
                    q.key,
                    || self.providers.introspect(q.provider, &request),
                    ctx,
                )
                .await
            }
        };
        self.evaluate_answer(q.provider, q.kind, need_of(role, ctx), fetched, now, &mut inquiry);
        inquiry
    }

    /// GitHub's tokens carry a checksum: one that does not match was never issued, and is not sent.
    fn checksum(&self, provider: &Provider, cred: &Credential) -> Result<(), Problem> {
        if provider.kind == ProviderKind::Github
            && let Some(Err(why)) = credential::kind::github_checksum(&cred.token)
        {
            return Err(Problem::Invalid {
                detail: format!("the token is truncated or mistyped ({why}); nothing was sent to GitHub"),
            });
        }
        Ok(())
    }

    async fn judge_app<'a>(
        &'a self,
        app: &'a AppCredential,
        secret: &SecretObject,
        ctx: &ReviewContext,
        now: Timestamp,
    ) -> Inquiry<'a> {
        let role = app.role.effective;
        let provider = self.app_provider(app);
        let mut v = Verdict::new(Outcome::Unverified, Some(role));
        v.provider = provider.map(|p| p.kind);
        v.token_kind = Some(CredentialKind::Token(TokenKind::GithubApp));
        let mut inquiry = Inquiry {
            provider,
            repo: Some(&app.url),
            ..Inquiry::new(v)
        };
        if self.skip(secret, ctx, &mut inquiry.problems) {
            inquiry.verdict.outcome = Outcome::Skipped;
            return inquiry;
        }
        let q = match self.app_question(app, secret, ctx) {
            Ok(q) => q,
            Err(problem) => {
                inquiry.problems.push(problem);
                return inquiry;
            }
        };
        let request = AppRequest {
            app_id: app.app_id,
            installation_id: app.installation_id,
            private_key: &app.private_key,
            owner: app.url.owner(),
            targets: &q.targets,
        };
        let fetched = self
            .fetch(
                q.provider,
                q.key,
                || self.providers.introspect_app(q.provider, &request),
                ctx,
            )
            .await;
        self.evaluate_answer(
            q.provider,
            TokenKind::GithubApp,
            need_of(role, ctx),
            fetched,
            now,
            &mut inquiry,
        );
        inquiry
    }

    /// The configured GitHub provider a GitHub App lives on: `githubAppEnterpriseBaseUrl`'s, else the
    /// URL host's.
    pub(super) fn app_provider(&self, app: &AppCredential) -> Option<&Provider> {
        match &app.enterprise_base_url {
            Some(api) => self.config.provider_for_api(api),
            None => self.config.provider_for_host(&app.url.host),
        }
        .filter(|p| p.kind == ProviderKind::Github)
    }

    /// Evaluate the provider's answer (`None`: none came before the admission deadline); an answer
    /// from the last known grant says so.
    fn evaluate_answer(
        &self,
        provider: &Provider,
        kind: TokenKind,
        need: Need,
        fetched: Option<Fetched>,
        now: Timestamp,
        inquiry: &mut Inquiry<'_>,
    ) {
        let answer = match &fetched {
            Some(f) => f.result(),
            None => Err(IntrospectError::unavailable("no answer before the admission deadline")),
        };
        inquiry.cache_hit = Some(fetched.as_ref().is_some_and(Fetched::hit));
        if let Err(IntrospectError::Unavailable {
            why: crate::grant::Unavailability::Budget(spent),
            ..
        }) = &answer
        {
            inquiry.budget_spent = Some(*spent);
        }
        inquiry.answered_at = fetched.as_ref().and_then(Fetched::answered_at);
        let (v, mut found) = policy::evaluate(provider.kind, kind, need, &answer, now, &self.config);
        if let Some(Fetched::Stale { age, error, .. }) = fetched {
            found.push(Problem::Stale {
                age,
                detail: error.to_string(),
            });
        }
        inquiry.verdict = v;
        inquiry.problems.extend(found);
    }

    /// Whether the requester may skip validation: listed in configuration, or (on an UPDATE that keeps
    /// the credential and the annotation as they were) someone allowed already granted it.
    fn may_skip(&self, secret: &SecretObject, ctx: &ReviewContext) -> bool {
        let allowed = &self.config.skip_validation;
        if allowed.allowed_users.contains(&ctx.username)
            || ctx.groups.iter().any(|g| allowed.allowed_groups.contains(g))
        {
            return true;
        }
        ctx.old.as_ref().is_some_and(|old| {
            old.annotations.get(SKIP_ANNOTATION).is_some_and(|v| v.trim() == "true") && old.same_credential(secret)
        })
    }
}

/// What a judgement holds the credential to: its role, with the use's pull requests when the
/// judgement is for a use.
fn need_of(role: Role, ctx: &ReviewContext) -> Need {
    Need {
        role,
        pull_requests: ctx.need.is_some_and(|n| n.pull_requests),
    }
}

fn requester(ctx: &ReviewContext) -> String {
    if ctx.username.is_empty() {
        "the requester".into()
    } else {
        ctx.username.clone()
    }
}
