//! Bitbucket Data Center / Server: HTTP access tokens, in `password` (user tokens, Basic with the
//! username) or `bearerToken` (project and repository tokens, Bearer; Argo CD 3).
//!
//! No API lists a token's permissions to the token, so: identity from the `X-AUSERNAME` header of
//! `GET /application-properties`; then, per repository, probes that change nothing:
//!
//! | permission   | probes (all `GET`)                                                                      |
//! |--------------|-----------------------------------------------------------------------------------------|
//! | `REPO_READ`  | `/projects/{KEY}/repos/{slug}`                                                           |
//! | `REPO_WRITE` | the receive-pack advertisement `{gitUrl}/scm/{key}/{slug}.git/info/refs?service=git-receive-pack`, and `/repos?name={slug}&permission=REPO_WRITE` |
//! | `REPO_ADMIN` | `/projects/{KEY}/repos/{slug}/permissions/users` and `/projects/{KEY}/repos/{slug}/webhooks` |
//!
//! The write and admin probes are not confirmed against a live Data Center (whether receive-pack is
//! refused at the advertisement, whether the permission filter honours a token's own limit), so each
//! permission needs two independent probes to agree: when they disagree it is unknown, never granted.

use std::collections::BTreeMap;

use futures::future::try_join_all;

use serde::Deserialize;

use super::client::{Auth, ProviderClient};
use super::git::{Advertisement, GitService};
use super::{Request, api_url, join_url};
use crate::config::Provider;
use crate::credential::{TokenField, TokenKind};
use crate::grant::{Check, Grant, IntrospectError, merge_check};

/// `(project key, repository slug)` from a Bitbucket Data Center URL path: `scm/KEY/slug.git`,
/// `projects/KEY/repos/slug/…`, with any context path in front.
pub fn key_and_slug(path: &str) -> Option<(String, String)> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let i = segs.iter().position(|s| *s == "scm" || *s == "projects")?;
    let (key, slug) = match segs[i] {
        "scm" => (segs.get(i + 1)?, segs.get(i + 2)?),
        _ => (
            segs.get(i + 1)?,
            segs.get(i + 3).filter(|_| segs.get(i + 2) == Some(&"repos"))?,
        ),
    };
    Some((key.to_string(), slug.trim_end_matches(".git").to_owned()))
}

#[derive(Deserialize)]
struct RepoPage {
    #[serde(default)]
    values: Vec<Repo>,
}

#[derive(Deserialize)]
struct Repo {
    slug: String,
    project: RepoProject,
}

#[derive(Deserialize)]
struct RepoProject {
    key: String,
}

pub async fn introspect(
    client: &ProviderClient,
    provider: &Provider,
    req: &Request<'_>,
) -> Result<Grant, IntrospectError> {
    let auth = match (req.field, req.username) {
        (TokenField::Password, user) if req.force_basic => Auth::Basic(user.unwrap_or_default(), req.token),
        (TokenField::Password, Some(user)) => Auth::Basic(user, req.token),
        _ => Auth::Bearer(req.token),
    };
    let resp = client
        .get(provider, api_url(provider, &["application-properties"]), auth, &[])
        .await?;
    match resp.status.as_u16() {
        200 => {}
        401 => {
            return Err(IntrospectError::Rejected {
                detail:
                    "Bitbucket Data Center answered 401: the token is wrong, revoked or expired (or, for a project or \
                         repository token, was sent as a password instead of in bearerToken)"
                        .into(),
            });
        }
        _ => return Err(resp.unexpected("Bitbucket Data Center", req.token)),
    }
    let mut grant = Grant::new(TokenKind::HttpAccessToken);
    grant.owner = resp.header("x-ausername").map(std::sync::Arc::from);
    if grant.owner.is_none() {
        return Err(IntrospectError::Rejected {
            detail: "Bitbucket Data Center did not recognise the token (no X-AUSERNAME in its answer)".into(),
        });
    }
    if req.targets.is_empty() {
        grant.unverified = Some(
            "no repository to probe: Bitbucket Data Center lists no token permissions, and this credential template \
             names none (scopegate.dev/probe-repositories, sharedConfigurationRepo)"
                .into(),
        );
        return Ok(grant);
    }
    // Every permission on every repository at once (the client bounds the calls in flight).
    let probes = req
        .targets
        .iter()
        .flat_map(|target| req.wanted.iter().map(move |w| (target, w)))
        .map(|(target, w)| async move {
            let check = match key_and_slug(target) {
                None => Check::Unknown(format!("{target} names no project and repository")),
                Some((key, slug)) => match w.as_str() {
                    "REPO_READ" => read(client, provider, auth, &key, &slug).await?,
                    "REPO_WRITE" => write(client, provider, auth, &key, &slug).await?,
                    "REPO_ADMIN" => admin(client, provider, auth, &key, &slug).await?,
                    other => Check::Unknown(format!(
                        "{other} is a project permission: scopegate checks repository permissions (REPO_READ, REPO_WRITE, REPO_ADMIN)"
                    )),
                },
            };
            Ok::<_, IntrospectError>((w, check))
        });
    let mut checks = BTreeMap::new();
    for (w, check) in try_join_all(probes).await? {
        merge_check(&mut checks, w, check);
    }
    grant.checks = checks;
    Ok(grant)
}

/// 2xx → yes, 401/403/404 → no (Data Center answers 401 to authenticated-but-forbidden calls too).
async fn api_says(
    client: &ProviderClient,
    provider: &Provider,
    auth: Auth<'_>,
    segs: &[&str],
    query: Option<&str>,
) -> Result<Option<bool>, IntrospectError> {
    let mut url = api_url(provider, segs);
    url.set_query(query);
    let resp = client.get(provider, url, auth, &[]).await?;
    if resp.rate_limit().is_some() || resp.status.is_server_error() {
        return Err(resp.unexpected("Bitbucket Data Center", auth.secret()));
    }
    Ok(match resp.status.as_u16() {
        200..=299 => Some(true),
        401 | 403 | 404 => Some(false),
        _ => None,
    })
}

async fn read(
    client: &ProviderClient,
    provider: &Provider,
    auth: Auth<'_>,
    key: &str,
    slug: &str,
) -> Result<Check, IntrospectError> {
    Ok(
        match api_says(client, provider, auth, &["projects", key, "repos", slug], None).await? {
            Some(true) => Check::Granted,
            Some(false) => Check::Denied(format!("{key}/{slug} is not readable with the token")),
            None => Check::Unknown(format!(
                "Bitbucket Data Center's answer about {key}/{slug} said neither yes nor no"
            )),
        },
    )
}

fn agree(a: Option<bool>, b: Option<bool>, what: &str, key: &str, slug: &str) -> Check {
    match (a, b) {
        (Some(true), Some(true)) => Check::Granted,
        (Some(false), Some(false)) => Check::Denied(format!("the token lacks {what} on {key}/{slug}")),
        _ => Check::Unknown(format!(
            "{what} on {key}/{slug} could not be established: the two read-only probes disagree or are inconclusive"
        )),
    }
}

async fn write(
    client: &ProviderClient,
    provider: &Provider,
    auth: Auth<'_>,
    key: &str,
    slug: &str,
) -> Result<Check, IntrospectError> {
    let git = join_url(
        &provider.git_url,
        &["scm", &key.to_ascii_lowercase(), &format!("{slug}.git"), "info", "refs"],
    );
    let advertised = async {
        Ok::<_, IntrospectError>(
            match client
                .advertisement_at(provider, git, auth, GitService::GitReceivePack)
                .await?
            {
                Advertisement::Advertised => Some(true),
                Advertisement::Refused(_) => Some(false),
                Advertisement::Inconclusive { .. } => None,
            },
        )
    };
    let mut url = api_url(provider, &["repos"]);
    url.query_pairs_mut()
        .append_pair("name", slug)
        .append_pair("permission", "REPO_WRITE")
        .append_pair("limit", "100");
    let listed = async {
        let resp = client.get(provider, url, auth, &[]).await?;
        Ok(match resp.status.as_u16() {
            200 => serde_json::from_slice::<RepoPage>(&resp.body).ok().map(|p| {
                p.values
                    .iter()
                    .any(|r| r.slug == slug && r.project.key.eq_ignore_ascii_case(key))
            }),
            _ => None,
        })
    };
    let (advertised, listed) = futures::try_join!(advertised, listed)?;
    Ok(agree(advertised, listed, "REPO_WRITE", key, slug))
}

async fn admin(
    client: &ProviderClient,
    provider: &Provider,
    auth: Auth<'_>,
    key: &str,
    slug: &str,
) -> Result<Check, IntrospectError> {
    let base = ["projects", key, "repos", slug];
    let users_path = [&base[..], &["permissions", "users"]].concat();
    let hooks_path = [&base[..], &["webhooks"]].concat();
    let (users, hooks) = futures::try_join!(
        api_says(client, provider, auth, &users_path, Some("limit=1")),
        api_says(client, provider, auth, &hooks_path, Some("limit=1")),
    )?;
    Ok(agree(users, hooks, "REPO_ADMIN", key, slug))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_paths() {
        assert_eq!(
            key_and_slug("scm/PLAT/gitops.git"),
            Some(("PLAT".into(), "gitops".into()))
        );
        assert_eq!(
            key_and_slug("bitbucket/scm/PLAT/gitops.git"),
            Some(("PLAT".into(), "gitops".into()))
        );
        assert_eq!(
            key_and_slug("projects/PLAT/repos/gitops/browse"),
            Some(("PLAT".into(), "gitops".into()))
        );
        assert_eq!(
            key_and_slug("scm/~alice/dotfiles.git"),
            Some(("~alice".into(), "dotfiles".into()))
        );
        assert_eq!(key_and_slug("scm/PLAT"), None);
        assert_eq!(key_and_slug("PLAT/gitops"), None);
    }
}
