//! GitHub and GitHub Enterprise Server.
//!
//! `GET /user` tells whether a token is valid, who it acts as and when it expires; for classic and OAuth
//! tokens the `X-OAuth-Scopes` header lists its scopes. No API lists a fine-grained token's permissions,
//! so they are established per repository by probes that change nothing:
//!
//! | permission            | probe (all `GET`)                                                    | granted       | refused |
//! |-----------------------|----------------------------------------------------------------------|---------------|---------|
//! | Metadata read         | `/repos/{o}/{r}`                                                     | 200           | 403, 404 (the repository is not visible to the token) |
//! | Contents read         | `/repos/{o}/{r}/commits?per_page=1`                                  | 200, 409 (empty repository) | 403 |
//! | Contents write        | `{gitUrl}/{o}/{r}.git/info/refs?service=git-receive-pack` (the first request of `git push`) | 200 advertisement | 403, 404 |
//! | Webhooks read         | `/repos/{o}/{r}/hooks?per_page=1`                                    | 200           | 403     |
//! | Webhooks write        | none: every webhook `GET` needs only read                            | —             | when read is refused |
//! | Administration read   | `/repos/{o}/{r}/rulesets/rule-suites?per_page=1`                     | 200           | 403     |
//! | Administration write  | `/repos/{o}/{r}/rulesets/{id}/history` for a ruleset listed by `/repos/{o}/{r}/rulesets` (the `GET` that GitHub documents as requiring Administration: write) | 200 | 403, or read refused |
//!
//! What no probe can establish stays unknown, with the reason; the policy then reports `unverified`.

use std::collections::BTreeMap;

use futures::future::try_join_all;

use http::StatusCode;
use jiff::Timestamp;
use serde::Deserialize;

use super::client::{Auth, ProviderClient, Response};
use super::git::{Advertisement, GitService, git_repo_url};
use super::{Request, api_url};
use crate::config::Provider;
use crate::credential::TokenKind;
use crate::grant::{Check, Grant, IntrospectError, Scopes, merge_check, parse_scope_list};

pub(crate) const HEADERS: &[(&str, &str)] = &[
    ("accept", "application/vnd.github+json"),
    ("x-github-api-version", "2022-11-28"),
];

#[derive(Deserialize)]
struct User {
    login: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

pub async fn introspect(
    client: &ProviderClient,
    provider: &Provider,
    req: &Request<'_>,
) -> Result<Grant, IntrospectError> {
    match req.kind {
        TokenKind::AppInstallation => {
            return Err(IntrospectError::NotIntrospectable {
                reason: "a GitHub App installation token (ghs_) expires within an hour and Argo CD cannot renew it; \
                         store the app's githubAppID, githubAppInstallationID and githubAppPrivateKey instead"
                    .into(),
            });
        }
        TokenKind::AppRefresh => {
            return Err(IntrospectError::Rejected {
                detail: "a GitHub App refresh token (ghr_) cannot authenticate Git or API requests".into(),
            });
        }
        _ => {}
    }
    let resp = client
        .get(provider, api_url(provider, &["user"]), Auth::Bearer(req.token), HEADERS)
        .await?;
    match resp.status {
        StatusCode::OK => {}
        StatusCode::UNAUTHORIZED => {
            let text = resp.error_text(req.token).unwrap_or_else(|| "Bad credentials".into());
            return Err(IntrospectError::Rejected {
                detail: format!("GitHub answered 401 ({text}): the token is wrong, revoked or expired"),
            });
        }
        StatusCode::FORBIDDEN if login_throttled(&resp) => {
            super::client::note(|n| n.throttled.store(true, std::sync::atomic::Ordering::Relaxed));
            return Err(IntrospectError::Throttled {
                detail:
                    "GitHub refuses logins from scopegate for now (\"Maximum number of login attempts exceeded\"): \
                         too many tokens it refused were sent to it"
                        .into(),
                retry_after: resp.rate_limit().and_then(|l| l.retry_after),
            });
        }
        _ => return Err(resp.unexpected("GitHub", req.token)),
    }
    let user: User = serde_json::from_slice(&resp.body)
        .map_err(|_| IntrospectError::unavailable("GitHub answered GET /user with something that is not a user"))?;
    let scopes: Option<Scopes> = resp.header("x-oauth-scopes").map(parse_scope_list);
    let expires_at = match resp.header("github-authentication-token-expiration") {
        None => None,
        Some(v) => Some(parse_expiration(v).ok_or_else(|| {
            IntrospectError::unavailable(format!("GitHub sent an expiration date scopegate cannot read: {v:?}"))
        })?),
    };
    let kind = match (req.kind, &scopes) {
        (TokenKind::Unknown, Some(_)) => TokenKind::Classic,
        (TokenKind::Unknown, None) => TokenKind::FineGrained,
        (k, _) => k,
    };
    let mut grant = Grant::new(kind);
    grant.expires_at = expires_at;
    grant.owner = Some(user.login.into());
    grant.owner_is_bot = user.kind.map(|k| k.eq_ignore_ascii_case("bot"));
    match (kind, scopes) {
        (TokenKind::FineGrained, _) => fine_grained(client, provider, req, &mut grant).await?,
        (TokenKind::AppUser, _) => {
            grant.unverified = Some(
                "a GitHub App user access token carries the app's permissions, which GitHub does not list to the token"
                    .into(),
            );
        }
        (_, None) => {
            grant.unverified = Some("GitHub did not report the token's scopes (no X-OAuth-Scopes header)".into());
        }
        (_, Some(s)) => grant.scopes = Some(s),
    }
    Ok(grant)
}

/// GitHub's answer to too many failed logins from one address: 403, "Maximum number of login attempts
/// exceeded. Please try again later."
fn login_throttled(resp: &Response) -> bool {
    serde_json::from_slice::<serde_json::Value>(&resp.body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .is_some_and(|m| m.contains("Maximum number of login attempts exceeded"))
}

/// Establish the wanted permissions of a fine-grained token on each target repository: every
/// repository, and every probe of one repository, at once (the per-provider bound on calls in flight
/// still applies, in the client).
async fn fine_grained(
    client: &ProviderClient,
    provider: &Provider,
    req: &Request<'_>,
    grant: &mut Grant,
) -> Result<(), IntrospectError> {
    if req.targets.is_empty() {
        grant.unverified = Some(
            "no repository to probe: a credential template's permissions are checked on the repositories named in \
             scopegate.dev/probe-repositories or on the configured sharedConfigurationRepo, and this Secret names none"
                .into(),
        );
        return Ok(());
    }
    let per_repository = try_join_all(
        req.targets
            .iter()
            .map(|target| probe_repository(client, provider, req, target)),
    )
    .await?;
    let mut checks = BTreeMap::new();
    for found in per_repository {
        for (cap, check) in found {
            merge_check(&mut checks, &cap, check);
        }
    }
    grant.checks = checks;
    Ok(())
}

fn owner_repo(target: &str) -> Option<(&str, &str)> {
    let mut it = target.split('/').filter(|s| !s.is_empty());
    let owner = it.next()?;
    let repo = it.next()?;
    Some((owner, repo.strip_suffix(".git").unwrap_or(repo)))
}

/// Classify an API probe: 2xx (or an extra "granted" status) → granted, 403 → refused.
fn classify(resp: &Response, what: &str, target: &str, also_granted: &[u16]) -> Result<Check, IntrospectError> {
    if let Some(limit) = resp.rate_limit() {
        return Err(IntrospectError::RateLimited {
            detail: format!("GitHub is rate limiting (HTTP {})", resp.status.as_u16()),
            retry_after: limit.retry_after,
        });
    }
    let s = resp.status.as_u16();
    Ok(if resp.status.is_success() || also_granted.contains(&s) {
        Check::Granted
    } else if s == 403 {
        Check::Denied(format!("GitHub refused {what} on {target} (403)"))
    } else if s >= 500 {
        return Err(IntrospectError::unavailable(format!(
            "GitHub answered HTTP {s} while probing {target}"
        )));
    } else {
        Check::Unknown(format!("GitHub answered HTTP {s} to the {what} probe on {target}"))
    })
}

#[derive(Deserialize)]
struct Ruleset {
    id: u64,
}

/// The `GET` under `/repos/{o}/{r}/` that needs a permission's read level and changes nothing (GitHub
/// docs, "Permissions required for fine-grained personal access tokens"), with statuses that also mean
/// granted (409: an empty repository has no commits to list).
const READ_PROBES: &[(&str, &[&str], &str, &[u16])] = &[
    ("contents", &["commits"], "per_page=1", &[409]),
    ("webhooks", &["hooks"], "per_page=1", &[]),
    ("administration", &["rulesets", "rule-suites"], "per_page=1", &[]),
    ("pull_requests", &["pulls"], "per_page=1&state=all", &[]),
    ("issues", &["issues"], "per_page=1&state=all", &[]),
    ("actions", &["actions", "runs"], "per_page=1", &[]),
    ("deployments", &["deployments"], "per_page=1", &[]),
    ("statuses", &["commits", "HEAD", "statuses"], "per_page=1", &[]),
];

/// The permission names and the levels `wanted` asks of each (`name:level`), in order.
fn wanted_levels(wanted: &[String]) -> Vec<(&str, Vec<&str>)> {
    let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
    for w in wanted {
        let (name, level) = w.rsplit_once(':').unwrap_or((w.as_str(), "read"));
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, levels)) => levels.push(level),
            None => out.push((name, vec![level])),
        }
    }
    out
}

/// Probe one repository for the wanted permissions: the Metadata probe, each permission's read probe
/// and the write probes that exist, all at once; then a refused Metadata (the repository is not
/// visible) refuses everything, and a refused read refuses the write.
async fn probe_repository(
    client: &ProviderClient,
    provider: &Provider,
    req: &Request<'_>,
    target: &str,
) -> Result<BTreeMap<String, Check>, IntrospectError> {
    let mut out = BTreeMap::new();
    let Some((owner, repo)) = owner_repo(target) else {
        for w in req.wanted {
            out.insert(
                w.clone(),
                Check::Unknown(format!("{target} is not an owner/repository path")),
            );
        }
        return Ok(out);
    };
    let get = |segments: Vec<&str>, query: Option<&str>| {
        let mut url = api_url(provider, &[&["repos", owner, repo][..], &segments].concat());
        url.set_query(query);
        client.get(provider, url, Auth::Bearer(req.token), HEADERS)
    };
    let wanted = wanted_levels(req.wanted);
    let metadata = get(vec![], None);
    let permissions = try_join_all(wanted.iter().filter(|(name, _)| *name != "metadata").map(
        |(name, levels)| async move {
            let wants_write = levels.iter().any(|l| *l != "read");
            let read = async {
                match READ_PROBES.iter().find(|(n, ..)| n == name) {
                    Some((_, path, query, also)) => {
                        let resp = get(path.to_vec(), Some(query)).await?;
                        classify(&resp, &format!("{}: read", title(name)), target, also)
                    }
                    None => Ok(Check::Unknown(format!(
                        "GitHub has no request that needs {}: read and changes nothing, so scopegate cannot verify it",
                        title(name)
                    ))),
                }
            };
            let write = async {
                if !wants_write {
                    return Ok(None);
                }
                Ok(Some(match *name {
                    "contents" => contents_write(client, provider, req, owner, repo, target).await?,
                    "administration" => administration_write(client, provider, req, owner, repo, target).await?,
                    "webhooks" => Check::Unknown(
                        "Webhooks: write cannot be verified: every GitHub endpoint that needs it changes something"
                            .into(),
                    ),
                    other => Check::Unknown(format!(
                        "{}: write cannot be verified: every GitHub endpoint that needs it changes something",
                        title(other)
                    )),
                }))
            };
            let (read, write) = futures::try_join!(read, write)?;
            Ok::<_, IntrospectError>((*name, levels.clone(), read, write))
        },
    ));
    let (metadata, permissions) = futures::try_join!(metadata, permissions)?;

    // Metadata: can the token see the repository at all?
    match metadata.status.as_u16() {
        200 => {
            out.insert("metadata:read".into(), Check::Granted);
        }
        403 | 404 => {
            let why = format!(
                "{owner}/{repo} is not visible to the token (HTTP {}): it is not among the token's repositories, or does not exist",
                metadata.status.as_u16()
            );
            for w in req.wanted {
                out.insert(w.clone(), Check::Denied(why.clone()));
            }
            return Ok(out);
        }
        _ => {
            out.insert("metadata:read".into(), classify(&metadata, "Metadata", target, &[])?);
        }
    }
    for (name, levels, read, write) in permissions {
        out.insert(format!("{name}:read"), read.clone());
        if let Some(write) = write {
            let write = match read {
                Check::Denied(why) => Check::Denied(why),
                _ => write,
            };
            for level in levels.into_iter().filter(|l| *l != "read") {
                let check = match (level, &write) {
                    // Nothing short of changing something shows an admin level.
                    ("admin", Check::Granted) => Check::Unknown(format!(
                        "{}: admin cannot be verified without changing something",
                        title(name)
                    )),
                    _ => write.clone(),
                };
                out.insert(format!("{name}:{level}"), check);
            }
        }
    }
    Ok(out)
}

/// A permission's name as GitHub's settings page writes it.
fn title(name: &str) -> String {
    let spaced = name.replace('_', " ");
    let mut chars = spaced.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

/// Contents: write, through the first request of `git push`: the receive-pack advertisement.
async fn contents_write(
    client: &ProviderClient,
    provider: &Provider,
    req: &Request<'_>,
    owner: &str,
    repo: &str,
    target: &str,
) -> Result<Check, IntrospectError> {
    let user = req.username.unwrap_or("x-access-token");
    Ok(
        match client
            .advertisement_at(
                provider,
                git_repo_url(provider, &format!("{owner}/{repo}")),
                Auth::Basic(user, req.token),
                GitService::GitReceivePack,
            )
            .await?
        {
            Advertisement::Advertised => Check::Granted,
            Advertisement::Refused(_) => Check::Denied(format!(
                "GitHub refused to push to {target} (receive-pack advertisement refused)"
            )),
            Advertisement::Inconclusive { .. } => Check::Unknown(format!(
                "the receive-pack advertisement of {target} answered neither yes nor no"
            )),
        },
    )
}

/// Administration: write, through the one `GET` that requires it: a ruleset's history.
async fn administration_write(
    client: &ProviderClient,
    provider: &Provider,
    req: &Request<'_>,
    owner: &str,
    repo: &str,
    target: &str,
) -> Result<Check, IntrospectError> {
    let mut url = api_url(provider, &["repos", owner, repo, "rulesets"]);
    url.set_query(Some("per_page=1&includes_parents=false"));
    let resp = client.get(provider, url, Auth::Bearer(req.token), HEADERS).await?;
    if let Check::Denied(why) | Check::Unknown(why) = classify(&resp, "rulesets", target, &[])? {
        return Ok(Check::Unknown(format!(
            "Administration: write cannot be verified: {why}"
        )));
    }
    let rulesets: Vec<Ruleset> = serde_json::from_slice(&resp.body).unwrap_or_default();
    let Some(first) = rulesets.first() else {
        return Ok(Check::Unknown(format!(
            "Administration: write cannot be verified on {target}: it has no ruleset, and reading a ruleset's history \
             is the only GitHub endpoint that needs Administration: write without changing anything"
        )));
    };
    let id = first.id.to_string();
    let resp = client
        .get(
            provider,
            api_url(provider, &["repos", owner, repo, "rulesets", &id, "history"]),
            Auth::Bearer(req.token),
            HEADERS,
        )
        .await?;
    classify(&resp, "Administration: write", target, &[])
}

/// `GitHub-Authentication-Token-Expiration`, in either documented form: `2021-10-07 19:07:53 UTC` or
/// `2027-03-31 00:00:00 +0900`.
pub fn parse_expiration(v: &str) -> Option<Timestamp> {
    let v = v.trim();
    let normalized = match v.strip_suffix(" UTC") {
        Some(rest) => format!("{rest} +0000"),
        None => v.to_owned(),
    };
    jiff::fmt::strtime::parse("%Y-%m-%d %H:%M:%S %z", &normalized)
        .ok()?
        .to_timestamp()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_expiration_formats() {
        assert_eq!(
            parse_expiration("2025-02-04 16:42:10 UTC").unwrap().to_string(),
            "2025-02-04T16:42:10Z"
        );
        assert_eq!(
            parse_expiration("2027-03-31 00:00:00 +0900").unwrap().to_string(),
            "2027-03-30T15:00:00Z"
        );
        assert_eq!(
            parse_expiration("2024-02-19 10:58:06 +0100").unwrap().to_string(),
            "2024-02-19T09:58:06Z"
        );
        assert!(parse_expiration("tomorrow").is_none());
    }

    #[test]
    fn owner_and_repository() {
        assert_eq!(owner_repo("acme/app"), Some(("acme", "app")));
        assert_eq!(owner_repo("acme/app.git"), Some(("acme", "app")));
        assert_eq!(owner_repo("acme"), None);
    }
}
