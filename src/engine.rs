//! The engine: one pipeline behind every front end. A Secret goes in; a [`Decision`] comes out.
//!
//! ```text
//! SecretObject ──classify──▶ Subject ──introspect──▶ Grant ──evaluate──▶ Verdict + Problems ──▶ Decision
//!   (pure)                             (provider I/O)          (pure)                       (findings in words)
//! ```

use std::sync::Arc;

use jiff::Timestamp;
use tokio::time::Instant;

use crate::cache::{Fetched, GrantCache};
use crate::config::{Config, Provider, ProviderKind};
use crate::credential::{self, AppCredential, Credential, CredentialFields, SKIP_ANNOTATION, SecretObject, Subject};
use crate::kind::{self, TokenKind};
use crate::metrics::Metrics;
use crate::policy::{self, Outcome, Problem, ScopeFamily, Severity, Verdict};
use crate::providers::github_app::AppRequest;
use crate::providers::{Grant, IntrospectError, ProviderClient, Request};
use crate::report;
use crate::upstream::Upstream;

/// Who is asking, and about what change.
#[derive(Debug, Clone, Default)]
pub struct ReviewContext {
    /// The Secret as it was, for an UPDATE.
    pub old: Option<SecretObject>,
    pub username: String,
    pub groups: Vec<String>,
    /// When the answer is due (the API server's timeout, less a margin).
    pub deadline: Option<Instant>,
}

/// A problem in words, with what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub message: String,
}

/// The engine's answer for one Secret.
#[derive(Debug, Clone)]
pub struct Decision {
    /// `None` when the Secret is not a credential Secret scopegate handles.
    pub verdict: Option<Verdict>,
    pub problems: Vec<Problem>,
    pub findings: Vec<Finding>,
    pub checked_at: Timestamp,
    /// Whether the provider's answer came from the grant cache (`None`: no provider was asked).
    pub cache_hit: Option<bool>,
}

impl Decision {
    fn ignored() -> Self {
        Self {
            verdict: None,
            problems: Vec::new(),
            findings: Vec::new(),
            checked_at: Timestamp::now(),
            cache_hit: None,
        }
    }

    /// The denials (status code and message) under enforcement.
    pub fn denials(&self) -> impl Iterator<Item = (u16, &str)> {
        self.findings.iter().filter_map(|f| match f.severity {
            Severity::Deny(code) => Some((code, f.message.as_str())),
            Severity::Warn | Severity::Silent => None,
        })
    }

    /// The warnings that are not denials (silent findings excluded).
    pub fn warnings(&self) -> impl Iterator<Item = &str> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warn)
            .map(|f| f.message.as_str())
    }
}

/// Configuration, provider clients, the grant cache: everything a decision needs besides the Secret.
pub struct Engine {
    config: Arc<Config>,
    client: ProviderClient,
    cache: GrantCache,
    upstream: Upstream,
    metrics: Arc<Metrics>,
    /// Coverage probe results (audit), keyed like the grant cache: one probe per credential and
    /// repository however many Secrets share them.
    reach: quick_cache::sync::Cache<crate::cache::CacheKey, Reach>,
}

/// Whether a credential can reach one repository, as a Git client would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    Reachable,
    /// Refused: the repository does not exist for this credential, or it may not read (write) it.
    Unreachable(String),
    /// Could not be established (not a token, an unconfigured host, the provider failing, …).
    Unknown(String),
}

/// Which access a coverage probe establishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    /// Clone and fetch: the upload-pack advertisement.
    Read,
    /// Push: the receive-pack advertisement.
    Write,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
        }
    }
}

/// Why an engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("building the provider HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("making the cache key: no system randomness")]
    Random,
}

const EXISTING: &str = "existing violation, admitted because this update leaves the credential as it was:";

impl Engine {
    pub fn new(config: Config) -> Result<Self, EngineError> {
        Self::with_metrics(config, Arc::new(Metrics::new()))
    }

    pub fn with_metrics(config: Config, metrics: Arc<Metrics>) -> Result<Self, EngineError> {
        let client = ProviderClient::new(config.provider_timeout)?.with_metrics(metrics.clone());
        let cache = GrantCache::new(&config.cache, metrics.clone()).map_err(|_| EngineError::Random)?;
        let upstream = Upstream::new(
            config.provider_concurrency,
            config.circuit_breaker.clone(),
            metrics.clone(),
        );
        Ok(Self {
            config: Arc::new(config),
            client,
            cache,
            upstream,
            metrics,
            reach: quick_cache::sync::Cache::new(10_000),
        })
    }

    /// Whether the token in `secret` can read (or push to) the repository at `repo`, asked the way
    /// a Git client asks: the smart-HTTP advertisement, which changes nothing. Only configured hosts
    /// are asked, and only with a token credential for the same host.
    pub async fn reach(&self, secret: &SecretObject, repo: &str, access: Access) -> Reach {
        let cred = match credential::classify(secret) {
            Subject::Token(cred) => cred,
            Subject::GithubApp(app) => return self.reach_app(&app, repo, access).await,
            Subject::NotAToken { what, .. } => {
                return Reach::Unknown(format!("the credential is {}, not a token", what.as_str()));
            }
            Subject::Malformed { problem, .. } => {
                return Reach::Unknown(format!("the Secret's {} {}", problem.field, problem.problem));
            }
            Subject::Ignored => return Reach::Unknown("not a credential Secret".into()),
        };
        let Some(url) = credential::RepoUrl::parse(repo) else {
            return Reach::Unknown("not a repository URL".into());
        };
        if url.scheme != "https" && url.scheme != "http" {
            return Reach::Unknown(format!("a {} URL: scopegate probes Git over HTTPS only", url.scheme));
        }
        if url.host != cred.url.host {
            return Reach::Unknown(format!(
                "{} is not on the credential's host {}",
                url.display(),
                cred.url.host
            ));
        }
        let Some(provider) = self.config.provider_for_host(&url.host) else {
            return Reach::Unknown(format!("{} is not a configured provider: nothing was asked", url.host));
        };
        let path = url.repo_path();
        let auth = crate::providers::git_auth(provider.kind, cred.token_field, cred.username.as_deref(), &cred.token);
        let key = self.cache.key(&[
            provider.api_url.as_str().as_bytes(),
            cred.username.as_deref().unwrap_or("").as_bytes(),
            cred.token.expose().as_bytes(),
            path.as_bytes(),
            access.as_str().as_bytes(),
        ]);
        let target = crate::providers::git_repo_url(provider, &path);
        let ask = async move {
            let answer = match access {
                Access::Read => {
                    self.upstream
                        .call(provider, self.client.upload_pack(provider, target, auth))
                        .await
                }
                Access::Write => self
                    .upstream
                    .call(provider, self.client.receive_pack(provider, target, auth))
                    .await
                    .and_then(|advertised| match advertised {
                        Some(true) => Ok(Ok(())),
                        Some(false) => Ok(Err(
                            "the Git server refused the push advertisement: this credential cannot push to it".into(),
                        )),
                        None => Err(IntrospectError::Unavailable {
                            detail: "its answer to the push advertisement says neither yes nor no".into(),
                        }),
                    }),
            };
            answer.map(|a| match a {
                Ok(()) => Reach::Reachable,
                Err(why) => Reach::Unreachable(why),
            })
        };
        self.cached_reach(key, provider, ask).await
    }

    /// A probe's answer through the reach cache (single flight per key). When the provider could not
    /// be asked, the answer is `unknown` and not kept: the next audit asks again.
    async fn cached_reach(
        &self,
        key: crate::cache::CacheKey,
        provider: &Provider,
        ask: impl Future<Output = Result<Reach, IntrospectError>>,
    ) -> Reach {
        let guard = match self.reach.get_value_or_guard_async(&key).await {
            Ok(known) => return known,
            Err(guard) => guard,
        };
        match ask.await {
            Ok(reach) => {
                let _ = guard.insert(reach.clone());
                reach
            }
            Err(e) => Reach::Unknown(format!("{} could not be asked: {e}", provider.host)),
        }
    }

    /// [`Engine::reach`] for GitHub App credentials, asked as the app (never minting a token): the
    /// installation must include the repository (`GET /repos/{o}/{r}/installation`) and grant
    /// Contents read (to read) or write (to push).
    async fn reach_app(&self, app: &AppCredential, repo: &str, access: Access) -> Reach {
        let Some(url) = credential::RepoUrl::parse(repo) else {
            return Reach::Unknown("not a repository URL".into());
        };
        if url.host != app.url.host {
            return Reach::Unknown(format!(
                "{} is not on the credential's host {}",
                url.display(),
                app.url.host
            ));
        }
        let provider = match &app.enterprise_base_url {
            Some(api) => self.config.provider_for_api(api),
            None => self.config.provider_for_host(&app.url.host),
        }
        .filter(|p| p.kind == ProviderKind::Github);
        let Some(provider) = provider else {
            return Reach::Unknown(format!(
                "{} is not a configured GitHub host: nothing was asked",
                url.host
            ));
        };
        let path = url.repo_path();
        let app_id = app.app_id.to_string();
        let installation = app.installation_id.map(|i| i.to_string()).unwrap_or_default();
        let key = self.cache.key(&[
            b"github-app-reach",
            provider.api_url.as_str().as_bytes(),
            app_id.as_bytes(),
            installation.as_bytes(),
            app.private_key.expose().as_bytes(),
            path.as_bytes(),
            access.as_str().as_bytes(),
        ]);
        let targets = [path.clone()];
        let request = AppRequest {
            app_id: app.app_id,
            installation_id: app.installation_id,
            private_key: &app.private_key,
            owner: url.path.first().map(String::as_str),
            targets: &targets,
        };
        let ask = async {
            Ok(
                match self
                    .upstream
                    .call(provider, self.client.introspect_app(provider, &request))
                    .await
                {
                    Ok(grant) if grant.unreachable.contains(&path) => {
                        Reach::Unreachable("the GitHub App installation does not include this repository".into())
                    }
                    Ok(grant) => {
                        let has = |p: &str| grant.scopes.as_ref().is_some_and(|s| s.contains(p));
                        let enough = match access {
                            Access::Read => has("contents:read") || has("contents:write"),
                            Access::Write => has("contents:write"),
                        };
                        if enough {
                            Reach::Reachable
                        } else {
                            Reach::Unreachable(format!(
                                "the GitHub App installation lacks the Contents permission to {}",
                                if access == Access::Read { "read" } else { "push" }
                            ))
                        }
                    }
                    Err(IntrospectError::Rejected { detail }) => Reach::Unreachable(detail),
                    Err(e) => return Err(e),
                },
            )
        };
        self.cached_reach(key, provider, ask).await
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Provider answers held in the grant cache.
    pub fn cached_grants(&self) -> u64 {
        self.cache.len()
    }

    /// Ask a provider through the cache, the circuit breaker and the concurrency bound, and within the
    /// admission deadline.
    async fn fetch<F, Fut>(
        &self,
        provider: &Provider,
        key_parts: &[&[u8]],
        call: F,
        deadline: Option<Instant>,
    ) -> Fetched
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Grant, IntrospectError>>,
    {
        let key = self.cache.key(key_parts);
        let fetched = self.cache.get_or_fetch(key, || self.upstream.call(provider, call()));
        match deadline {
            None => fetched.await,
            Some(d) => tokio::time::timeout_at(d, fetched).await.unwrap_or_else(|_| {
                Fetched::Miss(Arc::new(crate::cache::Entry::now(Err(IntrospectError::Unavailable {
                    detail: "no answer before the admission deadline".into(),
                }))))
            }),
        }
    }

    /// Judge a Secret.
    pub async fn judge(&self, secret: &SecretObject, ctx: &ReviewContext) -> Decision {
        let checked_at = Timestamp::now();
        let subject = credential::classify(secret);
        let (role, mut verdict, mut problems, mut scene) = match &subject {
            Subject::Ignored => return Decision::ignored(),
            Subject::Malformed { role, problem } => {
                let mut v = Verdict::new(Outcome::Invalid, Some(role.effective));
                v.reason = Some(format!("{} {}", problem.field, problem.problem));
                (role, v, vec![Problem::Malformed(problem.clone())], Scene::default())
            }
            Subject::NotAToken { role, url, what } => {
                let mut v = Verdict::new(Outcome::NotAToken, Some(role.effective));
                v.token_kind = Some(what.as_str());
                let provider = url.as_ref().and_then(|u| self.config.provider_for_host(&u.host));
                v.provider = provider.map(|p| p.kind);
                (role, v, Vec::new(), Scene::default())
            }
            Subject::Token(cred) => {
                let (v, p, scene) = self.judge_token(cred, secret, ctx, checked_at).await;
                (&cred.role, v, p, scene)
            }
            Subject::GithubApp(app) => {
                let (v, p, scene) = self.judge_app(app, secret, ctx, checked_at).await;
                (&app.role, v, p, scene)
            }
        };
        if let Some(asked) = &role.ignored_request {
            problems.push(Problem::RoleIgnored {
                asked: asked.clone(),
                derived: role.derived,
            });
        }
        let excused = ctx
            .old
            .as_ref()
            .is_some_and(|old| self.config.allow_existing_violations && same_credential(old, secret));
        let ctx_words = report::Context {
            namespace: &secret.namespace,
            name: secret.display_name(),
            provider: scene.provider,
            verdict: &verdict,
            token_field: scene.token_field,
            repo: scene.repo,
            config: &self.config,
        };
        let findings = problems
            .iter()
            .map(|p| {
                let message = report::message(p, &ctx_words);
                match policy::severity(p, &self.config) {
                    Severity::Deny(_) if excused && p.about_credential() => Finding {
                        severity: Severity::Warn,
                        message: format!("{EXISTING} {message}"),
                    },
                    severity => Finding { severity, message },
                }
            })
            .collect();
        if verdict.reason.is_none()
            && let Some(p) = problems
                .iter()
                .find(|p| matches!(p, Problem::UnknownHost { .. } | Problem::NotGit { .. }))
        {
            verdict.reason = Some(report::message(p, &ctx_words));
        }
        Decision {
            verdict: Some(verdict),
            problems,
            findings,
            checked_at,
            cache_hit: scene.cache_hit.take(),
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

    async fn judge_token<'a>(
        &'a self,
        cred: &'a Credential,
        secret: &SecretObject,
        ctx: &ReviewContext,
        now: Timestamp,
    ) -> (Verdict, Vec<Problem>, Scene<'a>) {
        let role = cred.role.effective;
        let provider = self.config.provider_for_host(&cred.url.host);
        let mut scene = Scene {
            provider,
            token_field: Some(cred.token_field),
            repo: Some(&cred.url),
            cache_hit: None,
        };
        let mut problems = Vec::new();
        let mut v = Verdict::new(Outcome::Unverified, Some(role));
        v.provider = provider.map(|p| p.kind);
        let detected = provider.map(|p| kind::detect(p.kind, &cred.token));
        v.token_kind = detected.map(TokenKind::as_str);
        if self.skip(secret, ctx, &mut problems) {
            v.outcome = Outcome::Skipped;
            return (v, problems, scene);
        }
        if matches!(cred.repo_type.as_str(), "helm" | "oci") || cred.url.scheme == "oci" {
            let repo_type = if cred.url.scheme == "oci" {
                "oci".to_owned()
            } else {
                cred.repo_type.clone()
            };
            problems.push(Problem::NotGit { repo_type });
            return (v, problems, scene);
        }
        let Some(provider) = provider else {
            problems.push(Problem::UnknownHost {
                host: cred.url.host.clone(),
            });
            return (v, problems, scene);
        };
        if let Some(other) = kind::provider_by_prefix(&cred.token)
            && other != provider.kind
        {
            v.outcome = Outcome::Invalid;
            v.reason = Some(format!(
                "a {} token on a {} host",
                other.display_name(),
                provider.kind.display_name()
            ));
            problems.push(Problem::ForeignToken { token_provider: other });
            return (v, problems, scene);
        }
        let kind = detected.unwrap_or(TokenKind::Unknown);
        let repo_path = cred.url.repo_path();
        // Kinds whose answer depends on the repositories probed; for the others (a classic token's
        // scopes, an access token's headers) the answer is the token's alone.
        let probes = match provider.kind {
            ProviderKind::Github => matches!(kind, TokenKind::FineGrained | TokenKind::Unknown),
            ProviderKind::Gitlab | ProviderKind::BitbucketServer => true,
            ProviderKind::BitbucketCloud => false,
        };
        let targets = if probes {
            credential::probe_targets(secret, &cred.url, self.config.shared_configuration_repo.as_deref())
        } else {
            Vec::new()
        };
        let wanted = match provider.kind {
            ProviderKind::Github if probes => policy::required(ScopeFamily::GithubPermissions, role),
            ProviderKind::BitbucketServer => policy::required(ScopeFamily::BitbucketServer, role),
            _ => &[],
        };
        let request = Request {
            kind,
            token: &cred.token,
            username: cred.username.as_deref(),
            field: cred.token_field,
            repo_path: &repo_path,
            targets: &targets,
            wanted,
        };
        let username = cred.username.as_deref().unwrap_or_default().as_bytes();
        let (targets_key, wanted_key) = if probes {
            (targets.join("\n"), wanted.join(","))
        } else {
            (String::new(), String::new())
        };
        let key: &[&[u8]] = &[
            b"token",
            provider.api_url.as_str().as_bytes(),
            username,
            cred.token.expose().as_bytes(),
            provider.git_url.as_str().as_bytes(),
            cred.token_field.key().as_bytes(),
            if probes { repo_path.as_bytes() } else { b"" },
            targets_key.as_bytes(),
            wanted_key.as_bytes(),
        ];
        let fetched = self
            .fetch(
                provider,
                key,
                || self.client.introspect(provider, &request),
                ctx.deadline,
            )
            .await;
        let (v, found) = self.judged(provider, kind, role, &fetched, now, &mut scene);
        problems.extend(found);
        (v, problems, scene)
    }

    async fn judge_app<'a>(
        &'a self,
        app: &'a AppCredential,
        secret: &SecretObject,
        ctx: &ReviewContext,
        now: Timestamp,
    ) -> (Verdict, Vec<Problem>, Scene<'a>) {
        let role = app.role.effective;
        let provider = match &app.enterprise_base_url {
            Some(api) => self.config.provider_for_api(api),
            None => self.config.provider_for_host(&app.url.host),
        }
        .filter(|p| p.kind == ProviderKind::Github);
        let mut scene = Scene {
            provider,
            token_field: None,
            repo: Some(&app.url),
            cache_hit: None,
        };
        let mut problems = Vec::new();
        let mut v = Verdict::new(Outcome::Unverified, Some(role));
        v.provider = provider.map(|p| p.kind);
        v.token_kind = Some(TokenKind::GithubApp.as_str());
        if self.skip(secret, ctx, &mut problems) {
            v.outcome = Outcome::Skipped;
            return (v, problems, scene);
        }
        let Some(provider) = provider else {
            problems.push(Problem::UnknownHost {
                host: app.enterprise_base_url.clone().unwrap_or_else(|| app.url.host.clone()),
            });
            return (v, problems, scene);
        };
        let targets = credential::probe_targets(secret, &app.url, self.config.shared_configuration_repo.as_deref());
        let request = AppRequest {
            app_id: app.app_id,
            installation_id: app.installation_id,
            private_key: &app.private_key,
            owner: app.url.path.first().map(String::as_str),
            targets: &targets,
        };
        let app_id = app.app_id.to_string();
        let installation = app.installation_id.map(|i| i.to_string()).unwrap_or_default();
        let targets_key = targets.join("\n");
        let parts: [&[u8]; 6] = [
            b"github-app",
            provider.api_url.as_str().as_bytes(),
            app_id.as_bytes(),
            installation.as_bytes(),
            app.private_key.expose().as_bytes(),
            targets_key.as_bytes(),
        ];
        let fetched = self
            .fetch(
                provider,
                &parts,
                || self.client.introspect_app(provider, &request),
                ctx.deadline,
            )
            .await;
        let (v, found) = self.judged(provider, TokenKind::GithubApp, role, &fetched, now, &mut scene);
        problems.extend(found);
        (v, problems, scene)
    }

    /// Evaluate what was fetched; an answer from the last known grant says so.
    fn judged(
        &self,
        provider: &Provider,
        kind: TokenKind,
        role: crate::credential::Role,
        fetched: &Fetched,
        now: Timestamp,
        scene: &mut Scene<'_>,
    ) -> (Verdict, Vec<Problem>) {
        scene.cache_hit = Some(fetched.hit());
        let (v, mut found) = policy::evaluate(provider.kind, kind, role, &fetched.result(), now, &self.config);
        if let Fetched::Stale { age, error, .. } = fetched {
            found.push(Problem::Stale {
                age: *age,
                detail: error.to_string(),
            });
        }
        (v, found)
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
            old.annotations.get(SKIP_ANNOTATION).is_some_and(|v| v.trim() == "true") && same_credential(old, secret)
        })
    }
}

/// What a message may refer to beyond the verdict.
#[derive(Default)]
struct Scene<'a> {
    provider: Option<&'a Provider>,
    token_field: Option<credential::TokenField>,
    /// The Secret's URL (for messages, and the owner in pre-filled token forms).
    repo: Option<&'a credential::RepoUrl>,
    cache_hit: Option<bool>,
}

fn requester(ctx: &ReviewContext) -> String {
    if ctx.username.is_empty() {
        "the requester".into()
    } else {
        ctx.username.clone()
    }
}

/// Whether two versions of a Secret hold the same credential (url, username, password, bearerToken).
pub fn same_credential(old: &SecretObject, new: &SecretObject) -> bool {
    match (CredentialFields::read(old), CredentialFields::read(new)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
