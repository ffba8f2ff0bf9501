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

/// Establish the wanted permissions of a fine-grained token on each target repository.
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
    let mut checks = BTreeMap::new();
    for target in req.targets {
        for (cap, check) in probe_repository(client, provider, req, target).await? {
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

/// Probe one repository for the wanted permissions.
async fn probe_repository(
    client: &ProviderClient,
    provider: &Provider,
    req: &Request<'_>,
    target: &str,
) -> Result<BTreeMap<String, Check>, IntrospectError> {
    let mut out = BTreeMap::new();
    let wants = |name: &str| req.wanted.iter().any(|w| w.split(':').next() == Some(name));
    let Some((owner, repo)) = owner_repo(target) else {
        for w in req.wanted {
            out.insert(
                (*w).to_owned(),
                Check::Unknown(format!("{target} is not an owner/repository path")),
            );
        }
        return Ok(out);
    };
    let bearer = Auth::Bearer(req.token);
    let get = |segments: Vec<&str>, query: Option<&str>| {
        let mut url = api_url(provider, &segments);
        url.set_query(query);
        client.get(provider, url, bearer, HEADERS)
    };

    // Metadata: can the token see the repository at all?
    let resp = get(vec!["repos", owner, repo], None).await?;
    match resp.status.as_u16() {
        200 => {
            out.insert("metadata:read".into(), Check::Granted);
        }
        403 | 404 => {
            let why = format!(
                "{owner}/{repo} is not visible to the token (HTTP {}): it is not among the token's repositories, or does not exist",
                resp.status.as_u16()
            );
            for w in req.wanted {
                out.insert((*w).to_owned(), Check::Denied(why.clone()));
            }
            return Ok(out);
        }
        _ => {
            let c = classify(&resp, "Metadata", target, &[])?;
            out.insert("metadata:read".into(), c);
        }
    }

    if wants("contents") {
        let resp = get(vec!["repos", owner, repo, "commits"], Some("per_page=1")).await?;
        let read = classify(&resp, "Contents: read", target, &[409])?;
        out.insert("contents:read".into(), read.clone());
        if req.wanted.contains(&"contents:write") {
            let user = req.username.unwrap_or("x-access-token");
            let write = match read {
                Check::Denied(why) => Check::Denied(why),
                _ => match client
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
            };
            out.insert("contents:write".into(), write);
        }
    }

    if wants("webhooks") {
        let resp = get(vec!["repos", owner, repo, "hooks"], Some("per_page=1")).await?;
        let read = classify(&resp, "Webhooks: read", target, &[])?;
        out.insert("webhooks:read".into(), read.clone());
        if req.wanted.contains(&"webhooks:write") {
            out.insert(
                "webhooks:write".into(),
                match read {
                    Check::Denied(why) => Check::Denied(why),
                    _ => Check::Unknown(
                        "Webhooks: write cannot be verified: every GitHub endpoint that needs it changes something"
                            .into(),
                    ),
                },
            );
        }
    }

    if wants("administration") {
        let resp = get(
            vec!["repos", owner, repo, "rulesets", "rule-suites"],
            Some("per_page=1"),
        )
        .await?;
        let read = classify(&resp, "Administration: read", target, &[])?;
        out.insert("administration:read".into(), read.clone());
        if req.wanted.contains(&"administration:write") {
            let write = match read {
                Check::Denied(why) => Check::Denied(why),
                _ => administration_write(client, provider, req, owner, repo, target).await?,
            };
            out.insert("administration:write".into(), write);
        }
    }
    Ok(out)
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
