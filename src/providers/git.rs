//! Git's smart-HTTP advertisements, `GET {repo}.git/info/refs?service=…`: the first request of
//! `git clone` / `git fetch` (upload-pack) and of `git push` (receive-pack). They list refs and change
//! nothing, so they say whether a credential can read or push without doing either.

use url::Url;

use super::client::{Auth, ProviderClient};
use crate::config::{Provider, ProviderKind};
use crate::credential::TokenField;
use crate::grant::IntrospectError;
use crate::token::Token;

/// Which advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum GitService {
    /// Clone and fetch.
    GitUploadPack,
    /// Push.
    GitReceivePack,
}

impl GitService {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The statuses that refuse this service: 401 refuses a read; for a push some servers answer 401
    /// to a credential they accept for reading, so it says nothing there.
    fn refuses(self, status: u16) -> bool {
        match self {
            GitService::GitUploadPack => matches!(status, 401 | 403 | 404),
            GitService::GitReceivePack => matches!(status, 403 | 404),
        }
    }
}

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advertisement {
    /// The service's advertisement: the credential may read (upload-pack) or push (receive-pack).
    Advertised,
    /// Refused, with this status.
    Refused(u16),
    /// Neither: another status, or a 200 that is not the advertisement.
    Inconclusive { status: u16, content_type: Option<String> },
}

impl ProviderClient {
    /// `GET {repo_git_url}?service={service}` (`repo_git_url` ends in `info/refs`); rate limits and
    /// server errors are errors.
    pub(crate) async fn advertisement_at(
        &self,
        provider: &Provider,
        repo_git_url: Url,
        auth: Auth<'_>,
        service: GitService,
    ) -> Result<Advertisement, IntrospectError> {
        let mut url = repo_git_url;
        url.set_query(Some(&format!("service={}", service.as_str())));
        let resp = self.get(provider, url, auth, &[("git-protocol", "version=2")]).await?;
        if let Some(limit) = resp.rate_limit() {
            return Err(IntrospectError::RateLimited {
                detail: format!("the Git server is rate limiting (HTTP {})", resp.status.as_u16()),
                retry_after: limit.retry_after,
            });
        }
        let status = resp.status.as_u16();
        if resp.status.is_server_error() {
            return Err(IntrospectError::unavailable(format!(
                "the Git server answered HTTP {status}"
            )));
        }
        let content_type = resp.header("content-type");
        let advertised = status == 200
            && content_type
                .is_some_and(|c| c.starts_with(&format!("application/x-{}-advertisement", service.as_str())));
        Ok(if advertised {
            Advertisement::Advertised
        } else if service.refuses(status) {
            Advertisement::Refused(status)
        } else {
            Advertisement::Inconclusive {
                status,
                content_type: content_type.map(str::to_owned),
            }
        })
    }
}

/// How a Git client (Argo CD's repo server) authenticates with a token over HTTPS: HTTP Basic with the
/// Secret's `username`, or the name each provider documents for tokens when it has none; a
/// `bearerToken` (Bitbucket Data Center) as Bearer; with `forceHttpBasicAuth`, Basic with the username
/// exactly as written, as Argo CD sends it then.
pub fn git_auth<'a>(
    kind: ProviderKind,
    field: TokenField,
    force_basic: bool,
    username: Option<&'a str>,
    token: &'a Token,
) -> Auth<'a> {
    if field == TokenField::BearerToken {
        return Auth::Bearer(token);
    }
    if force_basic {
        return Auth::Basic(username.unwrap_or_default(), token);
    }
    let default = match kind {
        ProviderKind::Github => "x-access-token",
        ProviderKind::Gitlab => "oauth2",
        ProviderKind::BitbucketCloud => "x-token-auth",
        ProviderKind::BitbucketServer => return username.map_or(Auth::Bearer(token), |u| Auth::Basic(u, token)),
        // Gitea takes a token as the Basic password and acts as its owner, whatever the username.
        ProviderKind::Gitea => "git",
        // Azure DevOps takes a PAT as the Basic password with any username.
        ProviderKind::AzureDevops => return Auth::Basic(username.unwrap_or_default(), token),
    };
    Auth::Basic(username.filter(|u| !u.is_empty()).unwrap_or(default), token)
}

/// `{git_url}/{path}.git/info/refs`, the repository's Git-over-HTTPS advertisement address.
pub fn git_repo_url(provider: &Provider, path: &str) -> Url {
    let mut segs: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect();
    // Azure DevOps repositories are `…/_git/{repo}`, without `.git`.
    if let Some(last) = segs.last_mut()
        && !last.ends_with(".git")
        && provider.kind != ProviderKind::AzureDevops
    {
        last.push_str(".git");
    }
    segs.extend(["info".to_owned(), "refs".to_owned()]);
    let refs: Vec<&str> = segs.iter().map(String::as_str).collect();
    super::join_url(&provider.git_url, &refs)
}
