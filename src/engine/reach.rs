//! Repository reach: can a Secret's credential (or no credential at all) read or push to one
//! repository, asked the way a Git client asks — the smart-HTTP advertisement, which changes nothing —
//! or, for GitHub App credentials, as the app. Each answer is kept, keyed like the grant cache, so a
//! credential and repository are probed once however many Secrets and Applications share them (and,
//! for the watcher, once per re-check interval: an answer older than `fresh_since` is asked again).

use std::future::Future;

use super::Engine;
use crate::cache::CacheKey;
use crate::config::Provider;
use crate::credential::{self, AppCredential, Classified, SecretObject};
use crate::grant::IntrospectError;
use crate::providers::{Advertisement, AppRequest, Auth, GitService, ProviderApi, git_auth};
use crate::repo_url::RepoUrl;

pub use crate::uses::Access;

fn service(access: Access) -> GitService {
    match access {
        Access::Read => GitService::GitUploadPack,
        Access::Write => GitService::GitReceivePack,
    }
}

/// Whether a credential can reach one repository, as a Git client would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    Reachable,
    /// Refused: the repository does not exist for this credential, or it may not read (write) it.
    Unreachable(String),
    /// Could not be established: not a token, an unconfigured host, another host than the
    /// credential's, not HTTPS.
    Unknown(String),
    /// The provider could not be asked (failing, rate limiting, unreachable): try again later.
    Failed(String),
}

/// Probe answers, by keyed hash of credential, repository and access, with when they were given.
pub(crate) type ReachCache = quick_cache::sync::Cache<CacheKey, (Reach, std::time::Instant)>;

pub(super) fn reach_cache() -> ReachCache {
    quick_cache::sync::Cache::new(10_000)
}

impl<P: ProviderApi> Engine<P> {
    /// Whether the credential in `secret` can read (or push to) the repository at `repo`. Only
    /// configured hosts are asked, and only with a credential for the same host.
    pub async fn reach(&self, secret: &SecretObject, repo: &str, access: Access) -> Reach {
        self.reach_fresh(Some(secret), repo, access, None).await
    }

    /// [`Engine::reach`], or without a credential (`None`: what Argo CD gets for a repository no
    /// Secret covers); an answer kept from before `fresh_since` is not used.
    pub async fn reach_fresh(
        &self,
        secret: Option<&SecretObject>,
        repo: &str,
        access: Access,
        fresh_since: Option<std::time::Instant>,
    ) -> Reach {
        let Some(secret) = secret else {
            return self.reach_anonymously(repo, access, fresh_since).await;
        };
        let cred = match credential::classify(secret) {
            Classified::Token(cred) => cred,
            Classified::GithubApp(app) => return self.reach_app(&app, repo, access, fresh_since).await,
            Classified::NotAToken { what, .. } => {
                return Reach::Unknown(format!("the credential is {}, not a token", what.as_str()));
            }
            Classified::Malformed { problem, .. } => {
                return Reach::Unknown(format!("the Secret's {} {}", problem.field, problem.defect));
            }
            Classified::Ignored => return Reach::Unknown("not a credential Secret".into()),
        };
        let Some(url) = RepoUrl::parse(repo) else {
            return Reach::Unknown("not a repository URL".into());
        };
        if !url.is_http() {
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
        let path = crate::providers::repository_path(provider, &url);
        let auth = git_auth(
            provider.kind,
            cred.token_field,
            cred.force_basic,
            cred.username.as_deref(),
            &cred.token,
        );
        let key = self.cache.key(&[
            provider.api_url.as_str().as_bytes(),
            cred.username.as_deref().unwrap_or("").as_bytes(),
            cred.token.expose().as_bytes(),
            path.as_bytes(),
            access.as_str().as_bytes(),
        ]);
        let ask = async {
            let answer = self
                .upstream
                .call(
                    provider,
                    self.providers.advertisement(provider, &path, auth, service(access)),
                )
                .await?;
            read_answer(answer, access)
        };
        self.cached_reach(key, provider, fresh_since, ask).await
    }

    /// What a Git client without credentials gets: a public repository answers.
    async fn reach_anonymously(&self, repo: &str, access: Access, fresh_since: Option<std::time::Instant>) -> Reach {
        let Some(url) = RepoUrl::parse(repo) else {
            return Reach::Unknown("not a repository URL".into());
        };
        if !url.is_http() {
            return Reach::Unknown(format!("a {} URL: scopegate probes Git over HTTPS only", url.scheme));
        }
        let Some(provider) = self.config.provider_for_host(&url.host) else {
            return Reach::Unknown(format!("{} is not a configured provider: nothing was asked", url.host));
        };
        let path = crate::providers::repository_path(provider, &url);
        let key = self.cache.key(&[
            b"anonymous",
            provider.api_url.as_str().as_bytes(),
            path.as_bytes(),
            access.as_str().as_bytes(),
        ]);
        let ask = async {
            let answer = self
                .upstream
                .call(
                    provider,
                    self.providers
                        .advertisement(provider, &path, Auth::Anonymous, service(access)),
                )
                .await?;
            read_answer(answer, access)
        };
        self.cached_reach(key, provider, fresh_since, ask).await
    }
}

/// What an advertisement's answer says about reaching the repository.
fn read_answer(answer: Advertisement, access: Access) -> Result<Reach, IntrospectError> {
    {
        {
            match (answer, access) {
                (Advertisement::Advertised, _) => Ok(Reach::Reachable),
                (Advertisement::Refused(status), Access::Read) => Ok(Reach::Unreachable(format!(
                    "the Git server answered HTTP {status}: the repository does not exist or this credential cannot read it"
                ))),
                (Advertisement::Refused(_), Access::Write) => Ok(Reach::Unreachable(
                    "the Git server refused the push advertisement: this credential cannot push to it".into(),
                )),
                (Advertisement::Inconclusive { status, content_type }, Access::Read) => {
                    Err(IntrospectError::unavailable(format!(
                        "the Git server answered HTTP {status}{}, not a Git advertisement",
                        content_type.map(|c| format!(" ({c})")).unwrap_or_default()
                    )))
                }
                (Advertisement::Inconclusive { .. }, Access::Write) => Err(IntrospectError::unavailable(
                    "its answer to the push advertisement says neither yes nor no",
                )),
            }
        }
    }
}

impl<P: ProviderApi> Engine<P> {
    /// A probe's answer through the reach cache (single flight per key; an answer from before
    /// `fresh_since` is asked again). When the provider could not be asked, the answer is `failed` and
    /// not kept: the next probe asks again.
    async fn cached_reach(
        &self,
        key: CacheKey,
        provider: &Provider,
        fresh_since: Option<std::time::Instant>,
        ask: impl Future<Output = Result<Reach, IntrospectError>>,
    ) -> Reach {
        if let Some(since) = fresh_since
            && self.reach.get(&key).is_some_and(|(_, at)| at < since)
        {
            self.reach.remove(&key);
        }
        let guard = match self.reach.get_value_or_guard_async(&key).await {
            Ok((known, _)) => return known,
            Err(guard) => guard,
        };
        match ask.await {
            Ok(reach) => {
                let _ = guard.insert((reach.clone(), std::time::Instant::now()));
                reach
            }
            Err(e) => Reach::Failed(format!("{} could not be asked: {e}", provider.host)),
        }
    }

    /// [`Engine::reach`] for GitHub App credentials, asked as the app (never minting a token): the
    /// installation must include the repository (`GET /repos/{o}/{r}/installation`) and grant
    /// Contents read (to read) or write (to push).
    async fn reach_app(
        &self,
        app: &AppCredential,
        repo: &str,
        access: Access,
        fresh_since: Option<std::time::Instant>,
    ) -> Reach {
        let Some(url) = RepoUrl::parse(repo) else {
            return Reach::Unknown("not a repository URL".into());
        };
        if url.host != app.url.host {
            return Reach::Unknown(format!(
                "{} is not on the credential's host {}",
                url.display(),
                app.url.host
            ));
        }
        let Some(provider) = self.app_provider(app) else {
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
            owner: url.owner(),
            targets: &targets,
        };
        let ask = async {
            let grant = match self
                .upstream
                .call(provider, self.providers.introspect_app(provider, &request))
                .await
            {
                Ok(grant) => grant,
                Err(IntrospectError::Rejected { detail }) => return Ok(Reach::Unreachable(detail)),
                Err(e) => return Err(e),
            };
            if grant.unreachable.contains(&path) {
                return Ok(Reach::Unreachable(
                    "the GitHub App installation does not include this repository".into(),
                ));
            }
            let has = |p: &str| grant.scopes.as_ref().is_some_and(|s| s.contains(p));
            let enough = match access {
                Access::Read => has("contents:read") || has("contents:write"),
                Access::Write => has("contents:write"),
            };
            Ok(if enough {
                Reach::Reachable
            } else {
                Reach::Unreachable(format!(
                    "the GitHub App installation lacks the Contents permission to {}",
                    match access {
                        Access::Read => "read",
                        Access::Write => "push",
                    }
                ))
            })
        };
        self.cached_reach(key, provider, fresh_since, ask).await
    }
}
