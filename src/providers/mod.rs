//! Provider introspection: ask a Git provider, read-only, what a credential is and may do. I/O and
//! nothing else: no policy, no caching, no metrics (calls are reported to a [`CallObserver`]).
//!
//! Each provider module turns one or a few `GET`s into a [`Grant`] or an [`IntrospectError`]. Requests
//! go only to the configured API and Git base URLs, redirects are never followed, and the token
//! travels only in a header marked sensitive ([`client`]). [`upstream`] bounds the calls in flight to
//! each provider and stops calling one that fails.

pub mod azure_devops;
pub mod bitbucket_cloud;
pub mod bitbucket_server;
pub mod client;
pub mod git;
pub mod gitea;
pub mod github;
pub mod github_app;
pub mod gitlab;
pub mod refusal;
pub mod scm;
mod transport;
pub mod upstream;

use std::future::Future;

use url::Url;

pub use client::{Auth, CallObserver, CallOutcome, NoObserver, ProviderClient, Refusals, noting};
pub use git::{Advertisement, GitService, git_auth, git_repo_url};
pub use github_app::AppRequest;
pub use scm::{Listed, Listing};
pub use transport::TransportError;

use crate::config::{Provider, ProviderKind};
use crate::credential::{TokenField, TokenKind};
use crate::grant::{Grant, IntrospectError};
use crate::token::Token;

/// What to introspect.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub kind: TokenKind,
    pub token: &'a Token,
    pub username: Option<&'a str>,
    /// Which Secret field held the token (Bitbucket Data Center: `bearerToken` means Bearer).
    pub field: TokenField,
    /// `forceHttpBasicAuth`: the password goes as HTTP Basic with the username as written.
    pub force_basic: bool,
    /// The repository (or prefix) path from the Secret's URL, e.g. `org/repo`.
    pub repo_path: &'a str,
    /// Repositories (paths on this host) to probe, for kinds whose permissions no API lists.
    pub targets: &'a [String],
    /// The permissions the role needs, in the provider's vocabulary, for those probes.
    pub wanted: &'a [String],
}

/// The questions the engine asks providers. [`ProviderClient`] asks them over HTTPS; the engine's
/// own tests answer them from memory.
pub trait ProviderApi: Send + Sync + 'static {
    /// What a token is and may do.
    fn introspect(
        &self,
        provider: &Provider,
        req: &Request<'_>,
    ) -> impl Future<Output = Result<Grant, IntrospectError>> + Send;

    /// What a GitHub App installation may do, asked as the app.
    fn introspect_app(
        &self,
        provider: &Provider,
        req: &AppRequest<'_>,
    ) -> impl Future<Output = Result<Grant, IntrospectError>> + Send;

    /// A Git advertisement of the repository at `path` on the provider's Git host.
    fn advertisement(
        &self,
        provider: &Provider,
        path: &str,
        auth: Auth<'_>,
        service: GitService,
    ) -> impl Future<Output = Result<Advertisement, IntrospectError>> + Send;

    /// One page of what an ApplicationSet generator lists.
    fn list(
        &self,
        provider: &Provider,
        listing: &Listing<'_>,
        auth: Auth<'_>,
    ) -> impl Future<Output = Result<Listed, IntrospectError>> + Send;
}

impl ProviderApi for ProviderClient {
    async fn introspect(&self, provider: &Provider, req: &Request<'_>) -> Result<Grant, IntrospectError> {
        match provider.kind {
            ProviderKind::Github => github::introspect(self, provider, req).await,
            ProviderKind::Gitlab => gitlab::introspect(self, provider, req).await,
            ProviderKind::BitbucketCloud => bitbucket_cloud::introspect(self, provider, req).await,
            ProviderKind::BitbucketServer => bitbucket_server::introspect(self, provider, req).await,
            ProviderKind::Gitea => gitea::introspect(self, provider, req).await,
            ProviderKind::AzureDevops => azure_devops::introspect(self, provider, req).await,
        }
    }

    async fn introspect_app(&self, provider: &Provider, req: &AppRequest<'_>) -> Result<Grant, IntrospectError> {
        github_app::introspect(self, provider, req).await
    }

    async fn advertisement(
        &self,
        provider: &Provider,
        path: &str,
        auth: Auth<'_>,
        service: GitService,
    ) -> Result<Advertisement, IntrospectError> {
        self.advertisement_at(provider, git_repo_url(provider, path), auth, service)
            .await
    }

    async fn list(
        &self,
        provider: &Provider,
        listing: &Listing<'_>,
        auth: Auth<'_>,
    ) -> Result<Listed, IntrospectError> {
        scm::list(self, provider, listing, auth).await
    }
}

/// A repository's path on its provider, as the provider's calls name it ([`provider_path`] of the
/// URL's path).
pub fn repository_path(provider: &Provider, url: &crate::repo_url::RepoUrl) -> String {
    provider_path(provider, &url.host, url.repo_path())
}

/// A path on `host` as the provider's calls name it: unchanged, but for `{org}.visualstudio.com`,
/// whose organisation goes in front (as on `dev.azure.com`).
pub fn provider_path(provider: &Provider, host: &str, path: String) -> String {
    match crate::config::visualstudio_org(host) {
        Some(org) if provider.kind == ProviderKind::AzureDevops => format!("{org}/{path}"),
        _ => path,
    }
}

/// `{api_url}/{segments…}`, each segment escaped.
pub(crate) fn api_url(provider: &Provider, segments: &[&str]) -> Url {
    join_url(&provider.api_url, segments)
}

/// `{base}/{segments…}`, each segment escaped. The URL parser drops tabs and newlines and reads `.`
/// and `..` as steps up the path; a segment that would be one is escaped instead (`%252E`), so that
/// nothing from a Secret's URL can climb out of the configured base path (found by the
/// `url_and_host` fuzz target: `host/./.\t./x` reached `https://bitbucket.corp/rest/api/x`).
pub(crate) fn join_url(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        for segment in segments {
            let bare: String = segment.chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).collect();
            if bare == "." || bare == ".." {
                path.push(&bare.replace('.', "%2E"));
            } else {
                path.push(&bare);
            }
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_segment_climbs_out_of_the_base_path() {
        let p = Provider::new(
            ProviderKind::BitbucketServer,
            "bitbucket.corp",
            Url::parse("https://bitbucket.corp/rest/api/1.0").unwrap(),
            Url::parse("https://bitbucket.corp/scm").unwrap(),
        );
        for segments in [
            &["..", "..", "admin"][..],
            &[".", ".\t.", ",."],
            &["..\n", "x"],
            &["%2e%2e", "x"],
        ] {
            let url = api_url(&p, segments);
            assert!(url.path().starts_with("/rest/api/1.0/"), "{url}");
            assert!(url.path_segments().unwrap().all(|s| s != ".." && s != "."), "{url}");
        }
        assert_eq!(
            api_url(&p, &["..", "x"]).as_str(),
            "https://bitbucket.corp/rest/api/1.0/%252E%252E/x"
        );
        let git = git_repo_url(&p, "../../x");
        assert!(git.path().starts_with("/scm/"), "{git}");
    }

    #[test]
    fn azure_repositories_are_addressed_without_dot_git() {
        let p = Provider::new(
            ProviderKind::AzureDevops,
            "dev.azure.com",
            Url::parse("https://dev.azure.com").unwrap(),
            Url::parse("https://dev.azure.com").unwrap(),
        );
        assert_eq!(
            git_repo_url(&p, "acme/Platform/_git/gitops").as_str(),
            "https://dev.azure.com/acme/Platform/_git/gitops/info/refs"
        );
        let url = crate::repo_url::RepoUrl::parse("https://acme.visualstudio.com/Platform/_git/gitops").unwrap();
        assert_eq!(repository_path(&p, &url), "acme/Platform/_git/gitops");
    }

    #[test]
    fn api_urls_escape_segments() {
        let p = Provider::new(
            ProviderKind::BitbucketCloud,
            "bitbucket.org",
            Url::parse("https://api.bitbucket.org/2.0").unwrap(),
            Url::parse("https://bitbucket.org").unwrap(),
        );
        assert_eq!(
            api_url(&p, &["repositories", "ws", "re po"]).as_str(),
            "https://api.bitbucket.org/2.0/repositories/ws/re%20po"
        );
        let p = Provider {
            api_url: Url::parse("http://127.0.0.1:1/gh/").unwrap(),
            ..p
        };
        assert_eq!(api_url(&p, &["user"]).as_str(), "http://127.0.0.1:1/gh/user");
        assert_eq!(
            git_repo_url(&p, "ws/repo").as_str(),
            "https://bitbucket.org/ws/repo.git/info/refs"
        );
        assert_eq!(
            git_repo_url(&p, "scm/KEY/r.git").as_str(),
            "https://bitbucket.org/scm/KEY/r.git/info/refs"
        );
    }
}
