//! GitHub and GitHub Enterprise Server.
//!
//! `GET /user` tells whether a token is valid, who it acts as and when it expires; for classic and OAuth
//! tokens the `X-OAuth-Scopes` header lists its scopes. No API lists a fine-grained token's permissions,
//! so they are established per repository (reference §1.6, §1.8):
//!
//! | permission            | request                                                              | granted       | refused |
//! |-----------------------|----------------------------------------------------------------------|---------------|---------|
//! | Metadata read         | `GET /repos/{o}/{r}`                                                 | 200           | 403, 404 (the repository is not visible to the token) |
//! | Contents read         | `GET /repos/{o}/{r}/commits?per_page=1`                              | 200, 409 (empty repository) | 403 |
//! | Contents write        | `GET {gitUrl}/{o}/{r}.git/info/refs?service=git-receive-pack` (the first request of `git push`) | 200 advertisement | 403, 404 |
//! | Administration read   | `GET /repos/{o}/{r}/actions/permissions` (documented: Administration read) | 200     | 403     |
//! | Administration write  | `GET /repos/{o}/{r}/rulesets/rule-suites?per_page=1` (documented: Administration **write**) | 200 | 403 "Resource not accessible by …" |
//! | Webhooks read         | `GET /repos/{o}/{r}/hooks?per_page=1`                                | 200           | 403     |
//! | Webhooks write        | `PATCH /repos/{o}/{r}/hooks/4294967289` `{}`, after the read answered 200 | 404      | 403 "Resource not accessible by …" |
//! | Commit statuses write | `POST /repos/{o}/{r}/statuses/{no such commit}` `{}`, after the read answered 200 | 422 | 403 "Resource not accessible by …" |
//! | Pull requests write   | `POST /repos/{o}/{r}/pulls` `{}`, after the read answered 200        | 422           | 403 "Resource not accessible by …" |
//!
//! The last three are the requests built to be refused ([`RefusalProbe`]): sent only when the role
//! needs that write level and the provider's `writeProbes` allows them; a 2xx to any of them is never
//! read as a grant. What no request can establish stays unknown, with the reason; the policy then
//! reports `unverified`.

use std::collections::BTreeMap;

use futures::future::try_join_all;

use http::StatusCode;
use jiff::Timestamp;
use serde::Deserialize;

use super::client::{Auth, ProviderClient, Response};
use super::git::{Advertisement, GitService, git_repo_url};
use super::refusal::RefusalProbe;
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

/// The provider's error message of a 403 and, when GitHub sent it, what the endpoint accepts
/// (`X-Accepted-GitHub-Permissions`: what the request needs, never what the token holds), for a reason.
fn refusal_words(resp: &Response, token: &crate::token::Token) -> String {
    let mut words = format!("HTTP {}", resp.status.as_u16());
    if let Some(text) = resp.error_text(token) {
        words.push_str(&format!(": {text}"));
    }
    if let Some(accepted) = resp.header("x-accepted-github-permissions").filter(|a| !a.is_empty()) {
        let accepted = super::client::scrub(accepted, token);
        words.push_str(&format!("; the request needs {accepted}"));
    }
    words
}

/// GitHub's answer to a fine-grained token (or an App) lacking a permission: 403 with exactly this
/// message (troubleshooting-the-rest-api.md, "Resource not accessible"). Any other 403 — a rate limit,
/// an organisation's policy, a plan without the feature — says nothing about the permission.
fn lacks_permission(resp: &Response) -> bool {
    resp.status == StatusCode::FORBIDDEN
        && serde_json::from_slice::<serde_json::Value>(&resp.body)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .is_some_and(|m| {
                m == "Resource not accessible by personal access token" || m == "Resource not accessible by integration"
            })
}

fn rate_limited(resp: &Response) -> Result<(), IntrospectError> {
    match resp.rate_limit() {
        Some(limit) => Err(IntrospectError::RateLimited {
            detail: format!("GitHub is rate limiting (HTTP {})", resp.status.as_u16()),
            retry_after: limit.retry_after,
        }),
        None => Ok(()),
    }
}

/// Classify a read probe: 2xx (or an extra "granted" status) → granted, 403 → refused.
fn classify(
    resp: &Response,
    what: &str,
    target: &str,
    also_granted: &[u16],
    token: &crate::token::Token,
) -> Result<Check, IntrospectError> {
    rate_limited(resp)?;
    let s = resp.status.as_u16();
    Ok(if resp.status.is_success() || also_granted.contains(&s) {
        Check::Granted
    } else if s == 403 {
        Check::Denied(format!(
            "GitHub refused {what} on {target} ({})",
            refusal_words(resp, token)
        ))
    } else if s >= 500 {
        return Err(IntrospectError::unavailable(format!(
            "GitHub answered HTTP {s} while probing {target}"
        )));
    } else {
        Check::Unknown(format!("GitHub answered HTTP {s} to the {what} probe on {target}"))
    })
}

/// Read a write level's answer strictly: the status that proves it (`granted_status`, or 200 for a
/// `GET` GitHub documents as needing it) is a grant; 403 "Resource not accessible by …" is a refusal;
/// a rate limit is the provider failing; a 5xx is the provider failing; anything else — above all a
/// 2xx to a request built to be refused — proves nothing.
fn classify_write(
    resp: &Response,
    permission: &str,
    target: &str,
    granted_status: u16,
    refusal: bool,
    token: &crate::token::Token,
) -> Result<Check, IntrospectError> {
    rate_limited(resp)?;
    let s = resp.status.as_u16();
    let what = format!("{}: write", title(permission));
    Ok(if refusal && resp.status.is_success() {
        Check::Unknown(format!(
            "{what} cannot be verified on {target}: GitHub accepted (HTTP {s}) a request built to be refused, so its answer proves nothing"
        ))
    } else if s == granted_status {
        Check::Granted
    } else if lacks_permission(resp) && refusal {
        // Sent only after the read answered 200: the token holds the read level and no more.
        Check::Denied(format!(
            "GitHub refused {what} on {target}, so the token holds {}: read only ({})",
            title(permission),
            refusal_words(resp, token)
        ))
    } else if lacks_permission(resp) {
        Check::Denied(format!(
            "GitHub refused {what} on {target} ({})",
            refusal_words(resp, token)
        ))
    } else if s >= 500 {
        return Err(IntrospectError::unavailable(format!(
            "GitHub answered HTTP {s} while probing {target}"
        )));
    } else {
        Check::Unknown(format!(
            "{what} cannot be verified on {target}: GitHub answered {}",
            refusal_words(resp, token)
        ))
    })
}

/// The `GET` under `/repos/{o}/{r}/` that needs a permission's read level and changes nothing (GitHub
/// docs, "Permissions required for fine-grained personal access tokens"), with statuses that also mean
/// granted (409: an empty repository has no commits to list).
struct ReadProbe {
    permission: &'static str,
    path: &'static [&'static str],
    query: Option<&'static str>,
    also_granted: &'static [u16],
}

#[rustfmt::skip]
const READ_PROBES: &[ReadProbe] = &[
    ReadProbe { permission: "contents", path: &["commits"], query: Some("per_page=1"), also_granted: &[409] },
    ReadProbe { permission: "webhooks", path: &["hooks"], query: Some("per_page=1"), also_granted: &[] },
    ReadProbe { permission: "administration", path: &["actions", "permissions"], query: None, also_granted: &[] },
    ReadProbe { permission: "pull_requests", path: &["pulls"], query: Some("per_page=1&state=all"), also_granted: &[] },
    ReadProbe { permission: "issues", path: &["issues"], query: Some("per_page=1&state=all"), also_granted: &[] },
    ReadProbe { permission: "actions", path: &["actions", "runs"], query: Some("per_page=1"), also_granted: &[] },
    ReadProbe { permission: "deployments", path: &["deployments"], query: Some("per_page=1"), also_granted: &[] },
    ReadProbe {
        permission: "statuses",
        path: &["commits", "HEAD", "statuses"],
        query: Some("per_page=1"),
        also_granted: &[],
    },
];

/// The permission names and the levels `wanted` asks of each (`name:level`): those whose write level
/// waits for their read probe's answer first, so that their read probes are among the first calls to
/// get a permit and the requests that wait for them go out a round trip later, not two.
fn wanted_levels(wanted: &[String]) -> Vec<(&str, Vec<&str>)> {
    let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
    for w in wanted {
        let (name, level) = w.rsplit_once(':').unwrap_or((w.as_str(), "read"));
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, levels)) => levels.push(level),
            None => out.push((name, vec![level])),
        }
    }
    out.sort_by_key(|(name, _)| RefusalProbe::for_permission(name).is_none());
    out
}

/// What a read probe found, and whether GitHub answered it 200 (what a request built to be refused
/// waits for: a 404 after it cannot mean "not visible").
struct Read {
    check: Check,
    ok: bool,
}

/// Probe one repository for the wanted permissions: each permission's read probe and the write
/// probes that need no earlier answer, and the Metadata probe, at once; a request built to be refused
/// once its permission's read probe answered 200. Then a refused Metadata (the repository is not
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
    let permissions = try_join_all(wanted.iter().filter(|(name, _)| *name != "metadata").map(
        |(name, levels)| async move {
            let wants_write = levels.iter().any(|l| *l != "read");
            let read = async {
                match READ_PROBES.iter().find(|p| p.permission == *name) {
                    Some(p) => {
                        let resp = get(p.path.to_vec(), p.query).await?;
                        Ok::<_, IntrospectError>(Read {
                            check: classify(
                                &resp,
                                &format!("{}: read", title(name)),
                                target,
                                p.also_granted,
                                req.token,
                            )?,
                            ok: resp.status == StatusCode::OK,
                        })
                    }
                    None => Ok(Read {
                        check: Check::Unknown(format!(
                            "GitHub has no request that needs {}: read and changes nothing, so scopegate cannot verify it",
                            title(name)
                        )),
                        ok: false,
                    }),
                }
            };
            let (read, write) = match *name {
                _ if !wants_write => (read.await?, None),
                "contents" => {
                    let write = contents_write(client, provider, req, owner, repo, target);
                    let (read, write) = futures::try_join!(read, write)?;
                    (read, Some(write))
                }
                "administration" => {
                    let write = async {
                        let mut url = api_url(provider, &["repos", owner, repo, "rulesets", "rule-suites"]);
                        url.set_query(Some("per_page=1"));
                        let resp = client.get(provider, url, Auth::Bearer(req.token), HEADERS).await?;
                        classify_write(&resp, name, target, 200, false, req.token)
                    };
                    let (mut read, write) = futures::try_join!(read, write)?;
                    // Write includes read: a token that may read the rule suites may read the settings.
                    if write == Check::Granted {
                        read.check = Check::Granted;
                    }
                    (read, Some(write))
                }
                _ => match RefusalProbe::for_permission(name) {
                    Some(probe) => {
                        let read = read.await?;
                        let write = refused_write(client, provider, req, probe, owner, repo, target, &read).await?;
                        (read, Some(write))
                    }
                    None => (
                        read.await?,
                        Some(Check::Unknown(format!(
                            "{}: write cannot be verified: every GitHub endpoint that needs it changes something",
                            title(name)
                        ))),
                    ),
                },
            };
            Ok::<_, IntrospectError>((*name, levels.clone(), read.check, write))
        },
    ));
    let (permissions, metadata) = futures::try_join!(permissions, get(vec![], None))?;

    // Metadata: can the token see the repository at all?
    match metadata.status.as_u16() {
        200 => {
            out.insert("metadata:read".into(), Check::Granted);
        }
        403 | 404 => {
            let why = format!(
                "{owner}/{repo} is not visible to the token (HTTP {}): it is not among the repositories the token \
                 was given, it does not exist, or the token still awaits the organisation's approval (until an \
                 owner approves it, a fine-grained token reads only public repositories)",
                metadata.status.as_u16()
            );
            for w in req.wanted {
                out.insert(w.clone(), Check::Denied(why.clone()));
            }
            return Ok(out);
        }
        _ => {
            out.insert(
                "metadata:read".into(),
                classify(&metadata, "Metadata", target, &[], req.token)?,
            );
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

/// A write level no `GET` needs, by a request built to be refused — sent only after the same
/// permission's read probe on the same repository answered 200, and only where `writeProbes` allows.
#[allow(clippy::too_many_arguments)]
async fn refused_write(
    client: &ProviderClient,
    provider: &Provider,
    req: &Request<'_>,
    probe: RefusalProbe,
    owner: &str,
    repo: &str,
    target: &str,
    read: &Read,
) -> Result<Check, IntrospectError> {
    let what = format!("{}: write", title(probe.permission()));
    if !read.ok {
        return Ok(match &read.check {
            Check::Denied(why) => Check::Denied(why.clone()),
            _ => Check::Unknown(format!(
                "{what} cannot be verified on {target}: its read probe did not answer 200, and only then does a \
                 refusal say anything"
            )),
        });
    }
    if !provider.write_probes {
        return Ok(Check::Unknown(format!(
            "{what} cannot be verified: no GET needs it, and writeProbes is false for {} (providers[].writeProbes), so \
             scopegate sends it only GET and HEAD",
            provider.host
        )));
    }
    let resp = client
        .refuse(provider, probe, owner, repo, Auth::Bearer(req.token), HEADERS)
        .await?;
    classify_write(&resp, probe.permission(), target, probe.write_status(), true, req.token)
}

/// A permission's name as GitHub's settings page writes it.
fn title(name: &str) -> String {
    match name {
        "statuses" => return "Commit statuses".into(),
        "pull_requests" => return "Pull requests".into(),
        _ => {}
    }
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

    fn answer(status: u16, headers: &[(&'static str, &str)], body: &str) -> Response {
        let mut h = http::HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, http::HeaderValue::from_str(v).unwrap());
        }
        Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers: h,
            body: bytes::Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn refusals_are_read_strictly() {
        let t = crate::token::Token::new("github_pat_secret".into());
        let read = |r: Response| classify_write(&r, "webhooks", "acme/isc", 404, true, &t);
        let not_accessible = r#"{"message":"Resource not accessible by personal access token","status":"403"}"#;
        assert_eq!(
            read(answer(404, &[], r#"{"message":"Not Found"}"#)).unwrap(),
            Check::Granted
        );
        let Check::Denied(why) = read(answer(
            403,
            &[("x-accepted-github-permissions", "repository_hooks=write")],
            not_accessible,
        ))
        .unwrap() else {
            panic!("a refusal for the permission")
        };
        assert!(why.contains("Webhooks: read only"), "{why}");
        assert!(why.contains("the request needs repository_hooks=write"), "{why}");
        let app = r#"{"message":"Resource not accessible by integration"}"#;
        assert!(matches!(read(answer(403, &[], app)).unwrap(), Check::Denied(_)));
        // Any 2xx is never a grant.
        for s in [200, 201, 204] {
            assert!(matches!(read(answer(s, &[], "{}")).unwrap(), Check::Unknown(_)), "{s}");
        }
        // A 403 that is not about the permission says nothing about it.
        let plan = r#"{"message":"Upgrade to GitHub Pro or make this repository public to enable this feature."}"#;
        assert!(matches!(read(answer(403, &[], plan)).unwrap(), Check::Unknown(_)));
        // Rate limits and server errors are the provider failing.
        assert!(matches!(
            read(answer(403, &[("x-ratelimit-remaining", "0")], "{}")),
            Err(IntrospectError::RateLimited { .. })
        ));
        assert!(matches!(
            read(answer(429, &[], "{}")),
            Err(IntrospectError::RateLimited { .. })
        ));
        assert!(matches!(
            read(answer(502, &[], "")),
            Err(IntrospectError::Unavailable { .. })
        ));
        // Another status proves nothing, and says which.
        let Check::Unknown(why) = read(answer(422, &[], r#"{"message":"Validation Failed"}"#)).unwrap() else {
            panic!("422 is not the Webhooks answer")
        };
        assert!(why.contains("HTTP 422"), "{why}");
        // The rule suites: a GET GitHub documents as needing write; 200 is write.
        let suites = |r: Response| classify_write(&r, "administration", "acme/isc", 200, false, &t);
        assert_eq!(suites(answer(200, &[], "[]")).unwrap(), Check::Granted);
        assert!(matches!(
            suites(answer(403, &[], not_accessible)).unwrap(),
            Check::Denied(_)
        ));
        assert!(matches!(suites(answer(404, &[], "{}")).unwrap(), Check::Unknown(_)));
    }

    #[test]
    fn reads_that_gate_a_refusal_come_first() {
        let wanted: Vec<String> = [
            "administration:write",
            "contents:write",
            "metadata:read",
            "webhooks:write",
        ]
        .map(String::from)
        .to_vec();
        let order: Vec<&str> = wanted_levels(&wanted).into_iter().map(|(n, _)| n).collect();
        assert_eq!(order, ["webhooks", "administration", "contents", "metadata"]);
    }

    #[test]
    fn owner_and_repository() {
        assert_eq!(owner_repo("acme/app"), Some(("acme", "app")));
        assert_eq!(owner_repo("acme/app.git"), Some(("acme", "app")));
        assert_eq!(owner_repo("acme"), None);
    }
}
