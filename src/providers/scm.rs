//! What an ApplicationSet generator asks a provider, asked once the same way and read for whether it
//! works: a page (one item) of an organisation's repositories for the SCM Provider generator, a page of
//! one repository's pull requests for the Pull Request generator. `GET`s that list and change nothing,
//! as Argo CD's generators send them (argo-cd `applicationset/services/{scm_provider,pull_request}`):
//!
//! | provider | repositories | pull requests |
//! |----------|--------------|---------------|
//! | GitHub | `GET /orgs/{org}/repos?per_page=1` | `GET /repos/{owner}/{repo}/pulls?per_page=1` |
//! | GitLab | `GET /groups/{group}/projects?per_page=1` | `GET /projects/{project}/merge_requests?per_page=1` |
//! | Gitea, Forgejo | `GET /orgs/{owner}/repos?limit=1` | `GET /repos/{owner}/{repo}/pulls?limit=1` |
//! | Bitbucket Data Center | `GET /projects/{key}/repos?limit=1` | `GET /projects/{key}/repos/{repo}/pull-requests?limit=1` |
//! | Bitbucket Cloud | `GET /repositories/{workspace}?pagelen=1` | `GET /repositories/{workspace}/{repo}/pullrequests?pagelen=1` |
//! | Azure DevOps | `GET /{org}/{project}/_apis/git/repositories` | `GET /{org}/{project}/_apis/git/repositories/{repo}/pullrequests?$top=1` |
//!
//! (paths under the provider's `apiUrl`). 401 refuses the token; 403 and 404 refuse the listing (the
//! organisation or repository does not exist for this token, or it may not list it).

use http::StatusCode;
use serde_json::Value;

use super::client::{Auth, ProviderClient};
use super::{api_url, github};
use crate::config::{Provider, ProviderKind};
use crate::grant::IntrospectError;

/// What to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing<'a> {
    /// An organisation's (group's, workspace's, project's) repositories.
    Repositories { owner: &'a str, project: Option<&'a str> },
    /// One repository's pull requests (GitLab: `owner` is the project, `repo` unused).
    PullRequests {
        owner: &'a str,
        project: Option<&'a str>,
        repo: &'a str,
    },
}

/// What the provider answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    /// It listed: the first repository listed (`owner/name`, as the provider's other calls name it),
    /// when it was a repository listing with one.
    Listed { first: Option<String> },
    /// It refused to list (403, 404), in the provider's words.
    Refused { status: u16, detail: String },
}

fn segments<'a>(kind: ProviderKind, listing: &Listing<'a>) -> (Vec<&'a str>, &'static str) {
    use Listing::*;
    match (kind, *listing) {
        (ProviderKind::Github, Repositories { owner, .. }) => (vec!["orgs", owner, "repos"], "per_page=1"),
        (ProviderKind::Github, PullRequests { owner, repo, .. }) => (vec!["repos", owner, repo, "pulls"], "per_page=1"),
        (ProviderKind::Gitlab, Repositories { owner, .. }) => (vec!["groups", owner, "projects"], "per_page=1"),
        (ProviderKind::Gitlab, PullRequests { owner, .. }) => (vec!["projects", owner, "merge_requests"], "per_page=1"),
        (ProviderKind::Gitea, Repositories { owner, .. }) => (vec!["orgs", owner, "repos"], "limit=1"),
        (ProviderKind::Gitea, PullRequests { owner, repo, .. }) => (vec!["repos", owner, repo, "pulls"], "limit=1"),
        (ProviderKind::BitbucketServer, Repositories { owner, .. }) => (vec!["projects", owner, "repos"], "limit=1"),
        (ProviderKind::BitbucketServer, PullRequests { owner, repo, .. }) => {
            (vec!["projects", owner, "repos", repo, "pull-requests"], "limit=1")
        }
        (ProviderKind::BitbucketCloud, Repositories { owner, .. }) => (vec!["repositories", owner], "pagelen=1"),
        (ProviderKind::BitbucketCloud, PullRequests { owner, repo, .. }) => {
            (vec!["repositories", owner, repo, "pullrequests"], "pagelen=1")
        }
        (ProviderKind::AzureDevops, Repositories { owner, project }) => (
            vec![owner, project.unwrap_or_default(), "_apis", "git", "repositories"],
            "api-version=7.1",
        ),
        (ProviderKind::AzureDevops, PullRequests { owner, project, repo }) => (
            vec![
                owner,
                project.unwrap_or_default(),
                "_apis",
                "git",
                "repositories",
                repo,
                "pullrequests",
            ],
            "$top=1&api-version=7.1",
        ),
    }
}

/// The first repository of a listing, as the provider's other calls name it: `owner/name` (Bitbucket
/// Data Center: `scm/KEY/slug`; Azure DevOps: `org/project/_git/name`).
fn first_repository(kind: ProviderKind, listing: &Listing<'_>, body: &Value) -> Option<String> {
    let first = match kind {
        ProviderKind::BitbucketServer | ProviderKind::BitbucketCloud => body["values"].get(0)?,
        ProviderKind::AzureDevops => body["value"].get(0)?,
        _ => body.get(0)?,
    };
    let text = |v: &Value| v.as_str().map(str::to_owned);
    match kind {
        ProviderKind::Github | ProviderKind::Gitea | ProviderKind::BitbucketCloud => text(&first["full_name"]),
        ProviderKind::Gitlab => text(&first["path_with_namespace"]),
        ProviderKind::BitbucketServer => Some(format!(
            "scm/{}/{}",
            first["project"]["key"].as_str()?,
            first["slug"].as_str()?
        )),
        ProviderKind::AzureDevops => match listing {
            Listing::Repositories { owner, project } => Some(format!(
                "{owner}/{}/_git/{}",
                project.unwrap_or_default(),
                first["name"].as_str()?
            )),
            Listing::PullRequests { .. } => None,
        },
    }
}

/// List one page, with the generator's credential (`Auth::Anonymous` when it names none).
pub async fn list(
    client: &ProviderClient,
    provider: &Provider,
    listing: &Listing<'_>,
    auth: Auth<'_>,
) -> Result<Listed, IntrospectError> {
    let (segs, query) = segments(provider.kind, listing);
    let mut url = api_url(provider, &segs);
    url.set_query(Some(query));
    let headers: &[(&str, &str)] = if provider.kind == ProviderKind::Github {
        github::HEADERS
    } else {
        &[("accept", "application/json")]
    };
    let resp = client.get(provider, url, auth, headers).await?;
    let name = provider.kind.display_name();
    let secret = auth.secret();
    let anonymous = matches!(auth, Auth::Anonymous);
    let words = |fallback: &str| resp.error_text(secret).unwrap_or_else(|| fallback.to_owned());
    if let Some(limit) = resp.rate_limit()
        && !resp.status.is_success()
    {
        return Err(IntrospectError::RateLimited {
            detail: format!("{name} is rate limiting (HTTP {})", resp.status.as_u16()),
            retry_after: limit.retry_after,
        });
    }
    match resp.status {
        s if s.is_success() => {
            let body: Value = serde_json::from_slice(&resp.body).map_err(|_| {
                IntrospectError::unavailable(format!("{name} answered the listing with something that is not JSON"))
            })?;
            Ok(Listed::Listed {
                first: match listing {
                    Listing::Repositories { .. } => first_repository(provider.kind, listing, &body),
                    Listing::PullRequests { .. } => None,
                },
            })
        }
        StatusCode::UNAUTHORIZED if !anonymous => Err(IntrospectError::Rejected {
            detail: format!(
                "{name} answered 401 ({}): the token is wrong, revoked or expired",
                words("Unauthorized")
            ),
        }),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
            let mut detail = words(resp.status.canonical_reason().unwrap_or("refused"));
            // GitHub names the permission a fine-grained token lacks.
            if let Some(needs) = resp.header("x-accepted-github-permissions").filter(|v| !v.is_empty()) {
                detail.push_str(&format!(
                    "; GitHub accepts it with {}",
                    crate::providers::client::scrub(needs, secret)
                ));
            }
            Ok(Listed::Refused {
                status: resp.status.as_u16(),
                detail,
            })
        }
        _ => Err(resp.unexpected(name, secret)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_provider_is_asked_what_its_generator_asks() {
        let repos = Listing::Repositories {
            owner: "acme",
            project: Some("Platform"),
        };
        let pulls = Listing::PullRequests {
            owner: "acme",
            project: Some("Platform"),
            repo: "app",
        };
        assert_eq!(segments(ProviderKind::Github, &repos).0, ["orgs", "acme", "repos"]);
        assert_eq!(
            segments(ProviderKind::Github, &pulls).0,
            ["repos", "acme", "app", "pulls"]
        );
        assert_eq!(
            segments(ProviderKind::Gitlab, &pulls).0,
            ["projects", "acme", "merge_requests"]
        );
        assert_eq!(
            segments(ProviderKind::AzureDevops, &repos).0,
            ["acme", "Platform", "_apis", "git", "repositories"]
        );
        assert_eq!(
            segments(ProviderKind::BitbucketServer, &pulls).0,
            ["projects", "acme", "repos", "app", "pull-requests"]
        );
    }

    #[test]
    fn the_first_repository_names_what_to_probe() {
        let repos = Listing::Repositories {
            owner: "acme",
            project: Some("Platform"),
        };
        assert_eq!(
            first_repository(ProviderKind::Github, &repos, &json!([{"full_name": "acme/app"}])),
            Some("acme/app".into())
        );
        assert_eq!(
            first_repository(
                ProviderKind::Gitlab,
                &repos,
                &json!([{"path_with_namespace": "acme/sub/app"}])
            ),
            Some("acme/sub/app".into())
        );
        assert_eq!(
            first_repository(
                ProviderKind::BitbucketServer,
                &repos,
                &json!({"values": [{"slug": "app", "project": {"key": "KEY"}}]})
            ),
            Some("scm/KEY/app".into())
        );
        assert_eq!(
            first_repository(
                ProviderKind::AzureDevops,
                &repos,
                &json!({"value": [{"name": "gitops"}]})
            ),
            Some("acme/Platform/_git/gitops".into())
        );
        assert_eq!(first_repository(ProviderKind::Github, &repos, &json!([])), None);
    }
}
