//! Gitea and Forgejo (`apiUrl: https://HOST/api/v1`): access tokens, in `password` (any username) or
//! `bearerToken`. Gitea scopes (`read:`/`write:` × category, `all`; write implies read) cannot be
//! read by the token itself on every version, so each requirement is established by a call that
//! changes nothing (docs/concepts/providers-and-token-kinds.md; facts: the shared reference's §11):
//!
//! | requirement        | established by (all `GET`)                                                           |
//! |--------------------|--------------------------------------------------------------------------------------|
//! | validity, owner    | `/user`: 200 (the owner's `login`), 401 (the token is wrong), 403 naming a scope the token lacks (valid, without `read:user`) |
//! | `read:user`        | the same answer                                                                      |
//! | `read:repository`  | `/repos/{owner}/{repo}`: 200 readable; 403 naming the scope; 404 not readable; and the upload-pack advertisement (sent with HTTP Basic, as Argo CD clones) |
//! | `write:repository` | the receive-pack advertisement sent with HTTP Basic (Gitea checks a token's scope there only for Basic): 200 with the advertisement proves the scope, 403 refuses it; and the owner's `permissions.push` from `/repos/{owner}/{repo}` (when the server's Git supports proc-receive the advertisement only checks read access) |
//! | `repository-admin` | `/repos/{owner}/{repo}/hooks` (needs the owner to administer the repository) and `permissions.admin` |
//!
//! Where the owner's token list is readable with the token (`/users/{login}/tokens` with HTTP Basic;
//! version-dependent, so probed, never assumed), the token's own entry — matched by its last eight
//! characters — gives its scopes and, on Forgejo, the repositories it is limited to; a scope missing
//! from that list is missing whatever the probes say. Answers that say neither yes nor no leave the
//! requirement unknown: `unverified`, never `ok`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::client::{Auth, ProviderClient, Response};
use super::git::{Advertisement, GitService};
use super::{Request, api_url, join_url};
use crate::config::Provider;
use crate::credential::TokenKind;
use crate::grant::{Check, Grant, IntrospectError, merge_check};

const NAME: &str = "Gitea";

#[derive(Deserialize)]
struct User {
    login: String,
}

#[derive(Deserialize)]
struct AccessToken {
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    token_last_eight: String,
    /// Forgejo: the repositories the token is limited to (`null`: all the owner's).
    #[serde(default)]
    repositories: Option<Vec<TokenRepository>>,
}

#[derive(Deserialize)]
struct TokenRepository {
    #[serde(default)]
    full_name: String,
}

#[derive(Deserialize, Default)]
struct RepoPermissions {
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    push: bool,
}

#[derive(Deserialize)]
struct Repo {
    #[serde(default)]
    permissions: Option<RepoPermissions>,
}

/// The scope a 403 says the token lacks: Gitea's `token does not have at least one of required
/// scope(s): [read:user]` (`routers/api/v1/api.go` `tokenRequiresScopes`).
fn lacking_scope(resp: &Response) -> Option<String> {
    if resp.status.as_u16() != 403 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&resp.body).ok()?;
    let message = v.get("message")?.as_str()?;
    let rest = message.strip_prefix("token does not have at least one of required scope(s): ")?;
    let list = rest.trim().strip_prefix('[')?.strip_suffix(']')?;
    Some(list.split_whitespace().collect::<Vec<_>>().join(", "))
}

/// What the token's own entry in its owner's token list says, when the list could be read.
struct Listed {
    scopes: BTreeSet<String>,
    /// Forgejo: the repositories the token is limited to, if it is.
    repositories: Option<Vec<String>>,
}

pub async fn introspect(
    client: &ProviderClient,
    provider: &Provider,
    req: &Request<'_>,
) -> Result<Grant, IntrospectError> {
    let api = Auth::Bearer(req.token);
    let resp = client.get(provider, api_url(provider, &["user"]), api, &[]).await?;
    let mut grant = Grant::new(TokenKind::AccessToken);
    let mut checks = BTreeMap::new();
    let user_check = match resp.status.as_u16() {
        200 => {
            let user: User = serde_json::from_slice(&resp.body).map_err(|_| {
                IntrospectError::unavailable(format!("{NAME} answered /user with something that is not a user"))
            })?;
            grant.owner = Some(std::sync::Arc::from(user.login.as_str()));
            Check::Granted
        }
        401 => {
            return Err(IntrospectError::Rejected {
                detail: format!("{NAME} answered 401: the token is wrong, or was deleted"),
            });
        }
        403 => match lacking_scope(&resp) {
            Some(scope) => Check::Denied(format!("{NAME} answered /user: the token does not have {scope}")),
            None => return Err(resp.unexpected(NAME, req.token)),
        },
        _ => return Err(resp.unexpected(NAME, req.token)),
    };
    merge_check(&mut checks, "read:user", user_check);

    let listed = match grant.owner.as_deref() {
        Some(login) => token_list(client, provider, login, req).await?,
        None => None,
    };

    let repo_wanted: Vec<&String> = req.wanted.iter().filter(|w| *w != "read:user").collect();
    if !repo_wanted.is_empty() && req.targets.is_empty() {
        grant.unverified = Some(format!(
            "no repository to probe: {NAME} scopes say nothing of repository access, and this credential template names \
             none (scopegate.dev/probe-repositories, sharedConfigurationRepo)"
        ));
        grant.checks = checks;
        return Ok(grant);
    }
    let login = grant.owner.as_deref();
    let probes = req.targets.iter().map(|target| {
        let repo_wanted = &repo_wanted;
        let listed = &listed;
        async move {
            let found = probe_repository(client, provider, req, login, target, repo_wanted, listed.as_ref()).await?;
            Ok::<_, IntrospectError>(found)
        }
    });
    for found in futures::future::try_join_all(probes).await? {
        for (w, check) in found {
            merge_check(&mut checks, &w, check);
        }
    }
    grant.checks = checks;
    Ok(grant)
}

/// The token's own entry in its owner's token list, when the server lets the token read it.
async fn token_list(
    client: &ProviderClient,
    provider: &Provider,
    login: &str,
    req: &Request<'_>,
) -> Result<Option<Listed>, IntrospectError> {
    let mut url = api_url(provider, &["users", login, "tokens"]);
    url.set_query(Some("limit=50"));
    let resp = client.get(provider, url, Auth::Basic(login, req.token), &[]).await?;
    if resp.rate_limit().is_some() || resp.status.is_server_error() {
        return Err(resp.unexpected(NAME, req.token));
    }
    if resp.status.as_u16() != 200 {
        // Not readable with this token on this version: the probes decide.
        return Ok(None);
    }
    let Ok(tokens) = serde_json::from_slice::<Vec<AccessToken>>(&resp.body) else {
        return Ok(None);
    };
    let secret = req.token.expose();
    let last_eight = secret.get(secret.len().saturating_sub(8)..).unwrap_or_default();
    let mine: Vec<&AccessToken> = tokens
        .iter()
        .filter(|t| !last_eight.is_empty() && t.token_last_eight == last_eight)
        .collect();
    // Two tokens ending alike: the list cannot say which is this one.
    let [token] = mine[..] else { return Ok(None) };
    let Some(scopes) = &token.scopes else { return Ok(None) };
    Ok(Some(Listed {
        scopes: scopes.iter().map(|s| s.trim().to_owned()).collect(),
        repositories: token
            .repositories
            .as_ref()
            .map(|r| r.iter().map(|r| r.full_name.to_ascii_lowercase()).collect()),
    }))
}

/// Whether a listed scope set covers `scope`: Gitea's rule, write implies read and `all` implies
/// everything (`models/auth/access_token_scope.go`; the policy's table says the same).
fn covers(scopes: &BTreeSet<String>, scope: &str) -> bool {
    scopes.contains("all")
        || scopes.contains(scope)
        || scope
            .strip_prefix("read:")
            .is_some_and(|category| scopes.contains(&format!("write:{category}")))
}

/// The same answer for every wanted requirement.
fn every(wanted: &[&String], check: Check) -> Vec<(String, Check)> {
    wanted.iter().map(|w| ((*w).clone(), check.clone())).collect()
}

/// Every wanted requirement on one repository.
async fn probe_repository(
    client: &ProviderClient,
    provider: &Provider,
    req: &Request<'_>,
    login: Option<&str>,
    target: &str,
    wanted: &[&String],
    listed: Option<&Listed>,
) -> Result<Vec<(String, Check)>, IntrospectError> {
    let api = Auth::Bearer(req.token);
    let segs: Vec<&str> = target.split('/').filter(|s| !s.is_empty()).collect();
    let [owner, repo] = segs[..] else {
        return Ok(every(
            wanted,
            Check::Unknown(format!("{target} is not owner/repository")),
        ));
    };
    let repo = repo.trim_end_matches(".git");
    let full = format!("{owner}/{repo}");
    if let Some(limited) = listed.and_then(|l| l.repositories.as_ref())
        && !limited.contains(&full.to_ascii_lowercase())
    {
        return Ok(every(
            wanted,
            Check::Denied(format!("the token is limited to other repositories than {full}")),
        ));
    }
    let resp = client
        .get(provider, api_url(provider, &["repos", owner, repo]), api, &[])
        .await?;
    if resp.rate_limit().is_some() || resp.status.is_server_error() {
        return Err(resp.unexpected(NAME, req.token));
    }
    let (read, permissions) = match resp.status.as_u16() {
        200 => (
            Check::Granted,
            serde_json::from_slice::<Repo>(&resp.body)
                .ok()
                .and_then(|r| r.permissions),
        ),
        403 => match lacking_scope(&resp) {
            Some(scope) => (Check::Denied(format!("the token does not have {scope}")), None),
            None => (
                Check::Denied(format!("{full} is not readable with the token (403)")),
                None,
            ),
        },
        404 => (
            Check::Denied(format!("{full} is not readable with the token (404)")),
            None,
        ),
        s => (Check::Unknown(format!("{NAME} answered {s} for {full}")), None),
    };
    // Cloning asks the upload-pack advertisement, which Gitea checks with the token's scope too (for
    // HTTP Basic, as Argo CD sends it): the API's yes must be Git's yes.
    let read = match read {
        Check::Granted if wanted.iter().any(|w| *w == "read:repository") => {
            match advertisement(client, provider, req, login, owner, repo, GitService::GitUploadPack).await? {
                Advertisement::Advertised => Check::Granted,
                Advertisement::Refused(status @ (401 | 403 | 404)) => Check::Denied(format!(
                    "{NAME} refused the upload-pack advertisement of {full} ({status}), so Argo CD could not clone it"
                )),
                Advertisement::Refused(status) | Advertisement::Inconclusive { status, .. } => Check::Unknown(format!(
                    "{NAME}'s upload-pack advertisement of {full} answered {status}, neither yes nor no"
                )),
            }
        }
        other => other,
    };
    let mut out = Vec::new();
    for w in wanted {
        let listed_lacks = listed.is_some_and(|l| w.contains(':') && !covers(&l.scopes, w));
        let check = if listed_lacks {
            Check::Denied(format!(
                "the token's scopes ({}) do not include {w}",
                listed
                    .map(|l| l.scopes.iter().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            ))
        } else {
            match w.as_str() {
                "read:repository" => read.clone(),
                "write:repository" => {
                    write(client, provider, req, login, owner, repo, &read, permissions.as_ref()).await?
                }
                "repository-admin" => admin(client, provider, req, owner, repo, &read, permissions.as_ref()).await?,
                other => Check::Unknown(format!(
                    "{other}: scopegate has no side-effect-free probe for it on {NAME} (its owner's token list was not readable)"
                )),
            }
        };
        out.push(((*w).clone(), check));
    }
    Ok(out)
}

/// A Git advertisement of `owner/repo`, asked with HTTP Basic whatever field holds the token: only
/// then does Gitea check the token's scope there. Gitea takes a token as the password and acts as its
/// owner, whatever the username.
async fn advertisement(
    client: &ProviderClient,
    provider: &Provider,
    req: &Request<'_>,
    login: Option<&str>,
    owner: &str,
    repo: &str,
    service: GitService,
) -> Result<Advertisement, IntrospectError> {
    let user = req.username.filter(|u| !u.is_empty()).or(login).unwrap_or("git");
    let git = join_url(&provider.git_url, &[owner, &format!("{repo}.git"), "info", "refs"]);
    client
        .advertisement_at(provider, git, Auth::Basic(user, req.token), service)
        .await
}

#[allow(clippy::too_many_arguments)]
async fn write(
    client: &ProviderClient,
    provider: &Provider,
    req: &Request<'_>,
    login: Option<&str>,
    owner: &str,
    repo: &str,
    read: &Check,
    permissions: Option<&RepoPermissions>,
) -> Result<Check, IntrospectError> {
    if let Check::Denied(why) = read {
        return Ok(Check::Denied(why.clone()));
    }
    let full = format!("{owner}/{repo}");
    let scope = match advertisement(client, provider, req, login, owner, repo, GitService::GitReceivePack).await? {
        Advertisement::Advertised => Some(true),
        Advertisement::Refused(403) => Some(false),
        Advertisement::Refused(_) | Advertisement::Inconclusive { .. } => None,
    };
    Ok(match (scope, permissions.map(|p| p.push)) {
        (Some(false), _) => Check::Denied(format!(
            "{NAME} refused the token at the receive-pack advertisement of {full} (403): it lacks write:repository"
        )),
        (Some(true), Some(true)) => Check::Granted,
        (Some(true), Some(false)) => Check::Denied(format!("the token's owner may not push to {full}")),
        (Some(true), None) => Check::Unknown(format!(
            "the token has write:repository, but {NAME} did not say whether its owner may push to {full}"
        )),
        (None, _) => Check::Unknown(format!(
            "{NAME}'s receive-pack advertisement of {full} said neither yes nor no"
        )),
    })
}

async fn admin(
    client: &ProviderClient,
    provider: &Provider,
    req: &Request<'_>,
    owner: &str,
    repo: &str,
    read: &Check,
    permissions: Option<&RepoPermissions>,
) -> Result<Check, IntrospectError> {
    if let Check::Denied(why) = read {
        return Ok(Check::Denied(why.clone()));
    }
    let full = format!("{owner}/{repo}");
    let mut url = api_url(provider, &["repos", owner, repo, "hooks"]);
    url.set_query(Some("limit=1"));
    let resp = client.get(provider, url, Auth::Bearer(req.token), &[]).await?;
    if resp.rate_limit().is_some() || resp.status.is_server_error() {
        return Err(resp.unexpected(NAME, req.token));
    }
    let hooks = match resp.status.as_u16() {
        200 => Some(true),
        403 | 404 => Some(false),
        _ => None,
    };
    Ok(match (hooks, permissions.map(|p| p.admin)) {
        (Some(true), Some(true)) => Check::Granted,
        (Some(false), Some(false)) => Check::Denied(format!(
            "the token's owner does not administer {full}, and its webhooks need that"
        )),
        (Some(false), None) => Check::Denied(format!("{NAME} refused to list the webhooks of {full}")),
        _ => Check::Unknown(format!(
            "whether the token's owner administers {full} could not be established: the read-only probes disagree or are inconclusive"
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::{HeaderMap, StatusCode};

    fn resp(status: u16, body: &str) -> Response {
        Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn a_scope_refusal_names_the_scope() {
        // The body Gitea writes (routers/api/v1/api.go), as captured from codeberg.org.
        let r = resp(
            403,
            r#"{"message":"token does not have at least one of required scope(s): [read:user]","url":"https://codeberg.org/api/swagger"}"#,
        );
        assert_eq!(lacking_scope(&r).as_deref(), Some("read:user"));
        assert_eq!(
            lacking_scope(&resp(403, r#"{"message":"token does not have at least one of required scope(s): [read:repository write:repository]"}"#)).as_deref(),
            Some("read:repository, write:repository")
        );
        assert_eq!(lacking_scope(&resp(403, r#"{"message":"Forbidden"}"#)), None);
        assert_eq!(
            lacking_scope(&resp(
                401,
                r#"{"message":"token does not have at least one of required scope(s): [x]"}"#
            )),
            None
        );
    }

    #[test]
    fn listed_scopes_imply_as_gitea_says() {
        let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
        assert!(covers(&s(&["write:repository"]), "read:repository"));
        assert!(covers(&s(&["all"]), "write:repository"));
        assert!(covers(&s(&["all"]), "read:user"));
        assert!(!covers(&s(&["read:repository"]), "write:repository"));
        assert!(!covers(&s(&["write:user"]), "write:repository"));
    }
}
