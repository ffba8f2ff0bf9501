//! GitLab (gitlab.com and self-managed): `GET /personal_access_tokens/self` reports a personal, project
//! or group access token's scopes, state and expiry, whatever scopes it has. `GET /user` tells who the
//! token acts as, and whether that is a bot (project and group access tokens act as one); for those,
//! `GET /projects/:id` gives the bot's role on the project (`permissions.*.access_level`).

use std::collections::BTreeSet;

use http::StatusCode;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use super::client::{Auth, ProviderClient};
use super::{Request, api_url};
use crate::config::Provider;
use crate::credential::TokenKind;
use crate::grant::{GitlabProjectAccess, Grant, IntrospectError};

#[derive(Deserialize)]
struct SelfInfo {
    scopes: Vec<String>,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    revoked: Option<bool>,
    #[serde(default)]
    expired: Option<bool>,
    #[serde(default)]
    expires_at: Option<String>,
    /// Fine-grained ("granular") personal access tokens, on instances that have them.
    #[serde(default)]
    granular: Option<bool>,
    #[serde(default)]
    granular_scopes: Option<Value>,
}

#[derive(Deserialize)]
struct User {
    username: String,
    #[serde(default)]
    bot: Option<bool>,
}

#[derive(Deserialize)]
struct ProjectAccess {
    access_level: Option<u8>,
}

#[derive(Deserialize, Default)]
struct Permissions {
    project_access: Option<ProjectAccess>,
    group_access: Option<ProjectAccess>,
}

#[derive(Deserialize)]
struct Project {
    #[serde(default)]
    permissions: Option<Permissions>,
}

pub async fn introspect(
    client: &ProviderClient,
    provider: &Provider,
    req: &Request<'_>,
) -> Result<Grant, IntrospectError> {
    match req.kind {
        TokenKind::DeployToken => {
            return Err(IntrospectError::NotIntrospectable {
                reason:
                    "GitLab deploy tokens (gldt-) cannot be used with the GitLab API, so their scopes cannot be read; \
                         Argo CD needs the token's own username (gitlab+deploy-token-N) with it"
                        .into(),
            });
        }
        TokenKind::CiJobToken => {
            return Err(IntrospectError::Rejected {
                detail: "a GitLab CI/CD job token (glcbt-) is valid only while its job runs".into(),
            });
        }
        TokenKind::OtherGitlabToken => {
            return Err(IntrospectError::Rejected {
                detail: "this kind of GitLab token (runner, trigger, feed, OAuth application secret, …) cannot authenticate Git over HTTPS".into(),
            });
        }
        _ => {}
    }
    let resp = client
        .get(
            provider,
            api_url(provider, &["personal_access_tokens", "self"]),
            Auth::Bearer(req.token),
            &[],
        )
        .await?;
    match resp.status {
        StatusCode::OK => {}
        StatusCode::UNAUTHORIZED => {
            let text = resp.error_text(req.token).unwrap_or_else(|| "401 Unauthorized".into());
            return Err(IntrospectError::Rejected {
                detail: format!("GitLab answered 401 ({text}): the token is wrong, revoked or expired"),
            });
        }
        StatusCode::BAD_REQUEST => {
            return Err(IntrospectError::NotIntrospectable {
                reason: "GitLab says this is not a personal, project or group access token (an OAuth token?); \
                         GitLab reports scopes only for those"
                    .into(),
            });
        }
        StatusCode::NOT_FOUND => {
            return Err(IntrospectError::NotIntrospectable {
                reason: "GitLab has no /personal_access_tokens/self here (GitLab before 15.5, or a wrong apiUrl)"
                    .into(),
            });
        }
        _ => return Err(resp.unexpected("GitLab", req.token)),
    }
    let info: SelfInfo = serde_json::from_slice(&resp.body).map_err(|_| {
        IntrospectError::unavailable("GitLab answered /personal_access_tokens/self with something that is not a token")
    })?;
    if info.revoked == Some(true) {
        return Err(IntrospectError::Rejected {
            detail: "GitLab reports the token revoked".into(),
        });
    }
    if info.expired == Some(true) {
        return Err(IntrospectError::Rejected {
            detail: "GitLab reports the token expired".into(),
        });
    }
    if info.active == Some(false) {
        return Err(IntrospectError::Rejected {
            detail: "GitLab reports the token inactive (revoked or expired)".into(),
        });
    }
    let expires_at = match info.expires_at.as_deref() {
        None => None,
        Some(d) => Some(parse_expiry_date(d).ok_or_else(|| {
            IntrospectError::unavailable(format!("GitLab sent an expiry date scopegate cannot read: {d:?}"))
        })?),
    };
    let mut grant = Grant::new(req.kind);
    grant.expires_at = expires_at;
    let scopes: BTreeSet<String> = info.scopes.into_iter().collect();
    if info.granular == Some(true) {
        match granular_to_scopes(info.granular_scopes.as_ref()) {
            Ok(mapped) => grant.scopes = Some(std::sync::Arc::new(scopes.into_iter().chain(mapped).collect())),
            Err(reason) => grant.unverified = Some(reason),
        }
    } else {
        grant.scopes = Some(std::sync::Arc::new(scopes));
    }
    // Who the token acts as, and its role on the project, asked together: the role matters only when
    // the answer about the user shows a project or group token's bot.
    let (user, access) = futures::try_join!(
        current_user(client, provider, req),
        project_access(client, provider, req)
    )?;
    if let Some(user) = user {
        grant.kind = match (user.bot, user.username.as_str()) {
            (Some(true), u) if u.starts_with("project_") => TokenKind::Project,
            (Some(true), u) if u.starts_with("group_") => TokenKind::Group,
            _ => grant.kind,
        };
        grant.owner_is_bot = user.bot;
        grant.owner = Some(user.username.into());
    }
    if matches!(grant.kind, TokenKind::Project | TokenKind::Group) {
        grant.access = access.map(Box::new);
    }
    Ok(grant)
}

/// `GET /user`: who the token acts as. Tokens without `read_user`, `read_api` or `api` cannot ask;
/// then the owner stays unknown.
async fn current_user(
    client: &ProviderClient,
    provider: &Provider,
    req: &Request<'_>,
) -> Result<Option<User>, IntrospectError> {
    let resp = client
        .get(provider, api_url(provider, &["user"]), Auth::Bearer(req.token), &[])
        .await?;
    if let Some(limit) = resp.rate_limit() {
        return Err(IntrospectError::RateLimited {
            detail: "GitLab is rate limiting (HTTP 429)".into(),
            retry_after: limit.retry_after,
        });
    }
    Ok(match resp.status {
        StatusCode::OK => serde_json::from_slice(&resp.body).ok(),
        _ => None,
    })
}

/// The bot's role on the project the Secret points at (or the first probe target).
async fn project_access(
    client: &ProviderClient,
    provider: &Provider,
    req: &Request<'_>,
) -> Result<Option<GitlabProjectAccess>, IntrospectError> {
    let project = req
        .targets
        .first()
        .map(String::as_str)
        .unwrap_or(req.repo_path)
        .trim_end_matches(".git")
        .to_owned();
    if project.split('/').filter(|s| !s.is_empty()).count() < 2 {
        return Ok(Some(GitlabProjectAccess {
            project,
            level: None,
            error: Some("the Secret names a group, not a project, and no project to check the token's role on".into()),
        }));
    }
    let resp = client
        .get(
            provider,
            api_url(provider, &["projects", &project]),
            Auth::Bearer(req.token),
            &[],
        )
        .await?;
    let (level, error) = match resp.status.as_u16() {
        200 => {
            let p: Project = serde_json::from_slice(&resp.body).map_err(|_| {
                IntrospectError::unavailable("GitLab answered GET /projects/:id with something that is not a project")
            })?;
            let perms = p.permissions.unwrap_or_default();
            let level = [perms.project_access, perms.group_access]
                .into_iter()
                .flatten()
                .filter_map(|a| a.access_level)
                .max();
            (level, None)
        }
        404 => (None, None),
        403 => (
            None,
            Some(format!(
                "GitLab refused to show {project} to the token (403{}): it needs read_api or api to read its role",
                resp.error_text(req.token).map(|t| format!(", {t}")).unwrap_or_default()
            )),
        ),
        429 => return Err(resp.unexpected("GitLab", req.token)),
        s if s >= 500 => return Err(resp.unexpected("GitLab", req.token)),
        s => (
            None,
            Some(format!("GitLab answered HTTP {s} to GET /projects/{project}")),
        ),
    };
    Ok(Some(GitlabProjectAccess { project, level, error }))
}

/// A granular token's permissions as the classic scopes they amount to for Git: "Code: Download"
/// clones (`read_repository`), "Code: Push" pushes (`write_repository`). Anything scopegate cannot map
/// makes the token unverified rather than guessed.
fn granular_to_scopes(granular: Option<&Value>) -> Result<BTreeSet<String>, String> {
    let mut names = Vec::new();
    fn collect(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.to_ascii_lowercase()),
            Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
            Value::Object(o) => o.values().for_each(|x| collect(x, out)),
            _ => {}
        }
    }
    if let Some(v) = granular {
        collect(v, &mut names);
    }
    let norm = |s: &str| s.replace([' ', ':', '-'], "_").replace("__", "_");
    let mut out = BTreeSet::new();
    for n in names.iter().map(|n| norm(n)) {
        if n.contains("download_code") || n == "code_download" || n.contains("read_code") {
            out.insert("read_repository".to_owned());
        }
        if n.contains("push_code") || n == "code_push" {
            out.insert("write_repository".to_owned());
            out.insert("read_repository".to_owned());
        }
    }
    if out.is_empty() {
        return Err(format!(
            "a GitLab fine-grained (granular) token whose permissions scopegate cannot map onto the role's needs (reported: {})",
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        ));
    }
    Ok(out)
}

/// `expires_at` is a date (`2025-08-15`); the token stops working as that day begins (UTC). Newer
/// versions may send a full timestamp, which is taken as is.
pub fn parse_expiry_date(s: &str) -> Option<Timestamp> {
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Some(ts);
    }
    let date: jiff::civil::Date = s.parse().ok()?;
    date.to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn granular_permissions_map_to_git_scopes_or_stay_unverified() {
        let v = serde_json::json!([{"permission": "Code: Download"}, {"permission": "Code: Push"}]);
        let s = granular_to_scopes(Some(&v)).unwrap();
        assert!(s.contains("read_repository") && s.contains("write_repository"));
        let v = serde_json::json!(["download_code"]);
        assert_eq!(granular_to_scopes(Some(&v)).unwrap().len(), 1);
        let e = granular_to_scopes(Some(&serde_json::json!(["read_issue"]))).unwrap_err();
        assert!(e.contains("read_issue"), "{e}");
        assert!(granular_to_scopes(None).is_err());
    }

    #[test]
    fn expiry_dates() {
        assert_eq!(
            parse_expiry_date("2025-08-15").unwrap().to_string(),
            "2025-08-15T00:00:00Z"
        );
        assert_eq!(
            parse_expiry_date("2025-08-15T10:00:00Z").unwrap().to_string(),
            "2025-08-15T10:00:00Z"
        );
        assert!(parse_expiry_date("soon").is_none());
    }
}
