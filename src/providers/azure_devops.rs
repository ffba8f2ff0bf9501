//! Azure DevOps Services (`dev.azure.com`, `{org}.visualstudio.com`) and Azure DevOps Server:
//! personal access tokens, sent as the HTTP Basic password with any username, as Argo CD sends them.
//!
//! A PAT can read neither its scopes nor its expiry (the PAT lifecycle API takes only Microsoft Entra
//! tokens), and a valid PAT that lacks the scope a call needs is answered 401 just like a wrong one.
//! So only calls within the role's own scopes decide anything (facts: the shared reference's §10):
//!
//! | question          | established by (all `GET`)                                                            |
//! |-------------------|---------------------------------------------------------------------------------------|
//! | validity, owner   | `{apiUrl}/{org}/_apis/connectionData`: 200 (`authenticatedUser`); 203 with a sign-in page, or "has expired", is `invalid`; another 401 decides nothing |
//! | `vso.code`        | the upload-pack advertisement `{gitUrl}/{org}/{project}/_git/{repo}/info/refs?service=git-upload-pack`: 200 reads; 203 `invalid`; 401/403/404 does not read (with the identity call answered, the token is valid: it lacks Code (Read) or the repository) |
//! | `vso.code_write`  | the receive-pack advertisement: 403 (`TF401027 … GenericContribute`) refuses it; a 200 is not confirmed to mean push, so it stays unknown |
//! | `edit-subscriptions` and other scopes | nothing side-effect free shows them: unknown, with the reason |

use std::collections::BTreeMap;

use serde::Deserialize;

use super::client::{Auth, ProviderClient, Response};
use super::{Request, join_url};
use crate::config::Provider;
use crate::credential::TokenKind;
use crate::grant::{Check, Grant, IntrospectError, merge_check};

const NAME: &str = "Azure DevOps";

/// Where a repository is: organisation (or a Server's collection), project, repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub org: String,
    pub project: String,
    pub repo: String,
}

/// The location a repository path names, relative to the provider's `gitUrl` (its path, e.g. a
/// Server's `/tfs`, is dropped first): `{org}/{project}/_git/{repo}`, or `{org}/_git/{repo}` for a
/// project named as its repository. Paths of `{org}.visualstudio.com` URLs start with the
/// organisation (the engine puts it there) and may carry `DefaultCollection`.
pub fn location(provider: &Provider, path: &str) -> Option<Location> {
    let mut segs = relative(provider, path);
    if segs.get(1).is_some_and(|s| s.eq_ignore_ascii_case("DefaultCollection")) {
        segs.remove(1);
    }
    let git = segs.iter().position(|s| *s == "_git")?;
    let repo = segs.get(git + 1)?.trim_end_matches(".git");
    let (org, project) = match git {
        1 => (segs[0], repo),
        2 => (segs[0], segs[1]),
        _ => return None,
    };
    if org.is_empty() || repo.is_empty() {
        return None;
    }
    Some(Location {
        org: org.to_owned(),
        project: project.to_owned(),
        repo: repo.to_owned(),
    })
}

/// A path's segments below the provider's `gitUrl` path (a Server's `/tfs`).
fn relative<'p>(provider: &Provider, path: &'p str) -> Vec<&'p str> {
    let base: Vec<&str> = provider
        .git_url
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let mut segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segs.len() > base.len()
        && segs[..base.len()]
            .iter()
            .zip(&base)
            .all(|(a, b)| a.eq_ignore_ascii_case(b))
    {
        segs.drain(..base.len());
    }
    segs
}

/// The organisation (or collection) a path names: a repository's, or a credential template's
/// (`https://dev.azure.com/{org}`).
pub fn organisation(provider: &Provider, path: &str) -> Option<String> {
    location(provider, path)
        .map(|l| l.org)
        .or_else(|| relative(provider, path).first().map(|s| (*s).to_owned()))
}

#[derive(Deserialize)]
struct ConnectionData {
    #[serde(rename = "authenticatedUser")]
    authenticated_user: Option<Identity>,
}

#[derive(Deserialize)]
struct Identity {
    #[serde(rename = "providerDisplayName", default)]
    provider_display_name: Option<String>,
    #[serde(default)]
    properties: Option<serde_json::Value>,
}

impl Identity {
    /// The account (an e-mail address or name) where the answer has it, else the display name.
    fn owner(&self) -> Option<String> {
        self.properties
            .as_ref()
            .and_then(|p| p.get("Account"))
            .and_then(|a| a.get("$value").or(Some(a)))
            .and_then(|a| a.as_str())
            .map(str::to_owned)
            .or_else(|| self.provider_display_name.clone())
            .filter(|o| !o.is_empty())
    }
}

/// Azure DevOps's "bad credentials" answers: 203 with a sign-in page, or the text of an expired PAT.
fn refused(resp: &Response) -> Option<String> {
    let body = String::from_utf8_lossy(&resp.body);
    if resp.status.as_u16() == 203 {
        return Some(format!(
            "{NAME} answered 203 with its sign-in page: the token is wrong, revoked or expired"
        ));
    }
    if resp.status.as_u16() == 401 && body.contains("Personal Access Token used has expired") {
        return Some(format!("{NAME} answered: the Personal Access Token used has expired"));
    }
    None
}

pub async fn introspect(
    client: &ProviderClient,
    provider: &Provider,
    req: &Request<'_>,
) -> Result<Grant, IntrospectError> {
    let auth = Auth::Basic(req.username.unwrap_or_default(), req.token);
    let mut grant = Grant::new(TokenKind::Personal);
    let org = req
        .targets
        .iter()
        .find_map(|t| location(provider, t).map(|l| l.org))
        .or_else(|| organisation(provider, req.repo_path))
        .ok_or_else(|| IntrospectError::NotIntrospectable {
            reason: format!("the repository URL names no {NAME} organisation (…/{{org}}/{{project}}/_git/{{repo}})"),
        })?;
    // Identity: within every role's scopes (any valid PAT may ask who it is).
    let mut url = join_url(&provider.api_url, &[&org, "_apis", "connectionData"]);
    url.set_query(Some("api-version=7.1-preview"));
    let resp = client.get(provider, url, auth, &[]).await?;
    if let Some(detail) = refused(&resp) {
        return Err(IntrospectError::Rejected { detail });
    }
    let identified = match resp.status.as_u16() {
        200 => {
            let data: ConnectionData = serde_json::from_slice(&resp.body).map_err(|_| {
                IntrospectError::unavailable(format!("{NAME} answered connectionData with something that is not one"))
            })?;
            grant.owner = data
                .authenticated_user
                .as_ref()
                .and_then(Identity::owner)
                .map(|o| std::sync::Arc::from(o.as_str()));
            true
        }
        // A 401 is also how a valid PAT without the scope a call needs is answered: it decides nothing.
        401 | 403 => false,
        _ if resp.rate_limit().is_some() || resp.status.is_server_error() => {
            return Err(resp.unexpected(NAME, req.token));
        }
        _ => false,
    };
    if req.targets.is_empty() {
        grant.unverified = Some(format!(
            "no repository to probe: {NAME} does not let a token read its scopes, and this credential template names \
             none (scopegate.dev/probe-repositories, sharedConfigurationRepo)"
        ));
        return Ok(grant);
    }
    let probes = req.targets.iter().map(|target| async move {
        let Some(at) = location(provider, target) else {
            return Ok::<_, IntrospectError>(
                req.wanted
                    .iter()
                    .map(|w| (w.clone(), Check::Unknown(format!("{target} is not {{org}}/{{project}}/_git/{{repo}}"))))
                    .collect::<Vec<_>>(),
            );
        };
        let full = format!("{}/{}/{}", at.org, at.project, at.repo);
        let read = advertisement(client, provider, auth, &at, "git-upload-pack").await?;
        let read_check = match read {
            Answer::Yes => Check::Granted,
            Answer::Refused(detail) => return Err(IntrospectError::Rejected { detail }),
            Answer::No(status) if identified => Check::Denied(format!(
                "{NAME} answered {status} at the upload-pack advertisement of {full}: the token lacks Code (Read) or access to the repository"
            )),
            Answer::No(status) => Check::Unknown(format!(
                "{NAME} answered {status} at the upload-pack advertisement of {full} and to the identity call: the token is wrong, or lacks Code (Read); {NAME} answers both alike"
            )),
            Answer::Unclear(what) => Check::Unknown(format!("{NAME}'s upload-pack advertisement of {full}: {what}")),
        };
        let mut out = Vec::new();
        for w in req.wanted {
            let check = match w.as_str() {
                "vso.code" => read_check.clone(),
                "vso.code_write" | "vso.code_manage" | "vso.code_full" => {
                    if let Check::Denied(why) = &read_check {
                        Check::Denied(why.clone())
                    } else {
                        match advertisement(client, provider, auth, &at, "git-receive-pack").await? {
                            Answer::No(403) => Check::Denied(format!(
                                "{NAME} refused to push to {full} at the receive-pack advertisement (403, TF401027: no Contribute permission, or no Code (Read & write))"
                            )),
                            Answer::Refused(detail) => return Err(IntrospectError::Rejected { detail }),
                            Answer::Yes => Check::Unknown(format!(
                                "{NAME} advertised receive-pack for {full}, which is not confirmed to mean the token may push (Code (Read & write) cannot be read from a PAT)"
                            )),
                            Answer::No(status) => Check::Unknown(format!(
                                "{NAME} answered {status} at the receive-pack advertisement of {full}"
                            )),
                            Answer::Unclear(what) => Check::Unknown(format!(
                                "{NAME}'s receive-pack advertisement of {full}: {what}"
                            )),
                        }
                    }
                }
                "edit-subscriptions" => Check::Unknown(format!(
                    "webhooks on {NAME} are service hook subscriptions, which need the project permission Edit subscriptions; nothing shows it without creating one"
                )),
                other => Check::Unknown(format!(
                    "{other}: {NAME} does not let a personal access token read its scopes"
                )),
            };
            out.push((w.clone(), check));
        }
        Ok(out)
    });
    let mut checks = BTreeMap::new();
    for found in futures::future::try_join_all(probes).await? {
        for (w, check) in found {
            merge_check(&mut checks, &w, check);
        }
    }
    grant.checks = checks;
    Ok(grant)
}

enum Answer {
    Yes,
    /// The token was refused as a credential (`invalid`).
    Refused(String),
    /// Refused, with this status.
    No(u16),
    Unclear(String),
}

async fn advertisement(
    client: &ProviderClient,
    provider: &Provider,
    auth: Auth<'_>,
    at: &Location,
    service: &str,
) -> Result<Answer, IntrospectError> {
    let mut url = join_url(
        &provider.git_url,
        &[&at.org, &at.project, "_git", &at.repo, "info", "refs"],
    );
    url.set_query(Some(&format!("service={service}")));
    let resp = client.get(provider, url, auth, &[]).await?;
    if let Some(detail) = refused(&resp) {
        return Ok(Answer::Refused(detail));
    }
    if resp.rate_limit().is_some() || resp.status.is_server_error() {
        return Err(resp.unexpected(NAME, auth.secret()));
    }
    let status = resp.status.as_u16();
    let advertised = status == 200
        && resp
            .header("content-type")
            .is_some_and(|c| c.starts_with(&format!("application/x-{service}-advertisement")));
    Ok(match status {
        200 if advertised => Answer::Yes,
        401 | 403 | 404 => Answer::No(status),
        200 => Answer::Unclear(format!(
            "200 without an advertisement ({})",
            resp.header("content-type").unwrap_or("no content type")
        )),
        s => Answer::Unclear(format!("HTTP {s}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ProviderKind};

    #[test]
    fn repository_locations() {
        let c = Config::from_yaml(
            "providers:\n  - kind: azure-devops\n    host: tfs.corp\n    apiUrl: https://tfs.corp/tfs\n    gitUrl: https://tfs.corp/tfs\n",
        )
        .unwrap();
        let cloud = c.provider_for_host("dev.azure.com").unwrap();
        assert_eq!(cloud.kind, ProviderKind::AzureDevops);
        let at = |p: &Provider, path: &str| location(p, path).map(|l| (l.org, l.project, l.repo));
        let l = |o: &str, p: &str, r: &str| Some((o.to_owned(), p.to_owned(), r.to_owned()));
        assert_eq!(at(cloud, "acme/Platform/_git/gitops"), l("acme", "Platform", "gitops"));
        assert_eq!(at(cloud, "acme/_git/gitops"), l("acme", "gitops", "gitops"));
        assert_eq!(
            at(cloud, "acme/DefaultCollection/Platform/_git/gitops.git"),
            l("acme", "Platform", "gitops")
        );
        assert_eq!(at(cloud, "acme/Platform"), None);
        assert_eq!(at(cloud, "acme/a/b/_git/x"), None);
        let server = c.provider_for_host("tfs.corp").unwrap();
        assert_eq!(
            at(server, "tfs/Main/Platform/_git/gitops"),
            l("Main", "Platform", "gitops")
        );
        // The organisation from a {org}.visualstudio.com host: the same provider.
        assert_eq!(
            c.provider_for_host("acme.visualstudio.com").unwrap().host,
            "dev.azure.com"
        );
        assert!(c.provider_for_host("visualstudio.com").is_none());
    }

    #[test]
    fn owners_from_the_identity() {
        let id: Identity = serde_json::from_value(serde_json::json!({
            "providerDisplayName": "GitOps Bot",
            "properties": {"Account": {"$type": "System.String", "$value": "gitops-bot@acme.example"}}
        }))
        .unwrap();
        assert_eq!(id.owner().as_deref(), Some("gitops-bot@acme.example"));
        let id: Identity = serde_json::from_value(serde_json::json!({"providerDisplayName": "GitOps Bot"})).unwrap();
        assert_eq!(id.owner().as_deref(), Some("GitOps Bot"));
    }
}
