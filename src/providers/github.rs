//! GitHub and GitHub Enterprise Server: `GET /user` tells whether the token is valid, who it acts as and
//! when it expires; for classic and OAuth tokens the `X-OAuth-Scopes` header lists its scopes.

use std::collections::BTreeSet;

use http::StatusCode;
use jiff::Timestamp;
use serde::Deserialize;

use super::{Auth, Grant, IntrospectError, ProviderClient, Request, api_url, unexpected};
use crate::config::Provider;
use crate::kind::TokenKind;

const HEADERS: &[(&str, &str)] = &[
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
        .get(api_url(provider, &["user"]), Auth::Bearer(req.token), HEADERS)
        .await?;
    match resp.status {
        StatusCode::OK => {}
        StatusCode::UNAUTHORIZED => {
            let text = resp.error_text(req.token).unwrap_or_else(|| "Bad credentials".into());
            return Err(IntrospectError::Rejected {
                detail: format!("GitHub answered 401 ({text}): the token is wrong, revoked or expired"),
            });
        }
        _ => return Err(unexpected("GitHub", &resp, req.token)),
    }
    let user: User = serde_json::from_slice(&resp.body).map_err(|_| IntrospectError::Unavailable {
        detail: "GitHub answered GET /user with something that is not a user".into(),
    })?;
    let scopes: Option<BTreeSet<String>> = resp.header("x-oauth-scopes").map(parse_scopes);
    let expires_at = match resp.header("github-authentication-token-expiration") {
        None => None,
        Some(v) => Some(parse_expiration(v).ok_or_else(|| IntrospectError::Unavailable {
            detail: format!("GitHub sent an expiration date scopegate cannot read: {v:?}"),
        })?),
    };
    let kind = match (req.kind, &scopes) {
        (TokenKind::Unknown, Some(_)) => TokenKind::Classic,
        (k, _) => k,
    };
    let unverified = match (kind, &scopes) {
        (TokenKind::FineGrained, _) => Some(
            "GitHub lists no permissions for fine-grained tokens; only its validity, owner and expiry were checked"
                .to_owned(),
        ),
        (TokenKind::AppUser, _) => Some(
            "a GitHub App user access token carries the app's permissions, which GitHub does not list to the token"
                .to_owned(),
        ),
        (_, None) => Some("GitHub did not report the token's scopes (no X-OAuth-Scopes header)".to_owned()),
        _ => None,
    };
    Ok(Grant {
        kind,
        scopes: if unverified.is_some() { None } else { scopes },
        expires_at,
        owner: Some(user.login),
        owner_is_bot: user.kind.map(|k| k.eq_ignore_ascii_case("bot")),
        unverified,
    })
}

/// `X-OAuth-Scopes: repo, user` → {repo, user}. An empty header means no scopes.
pub fn parse_scopes(v: &str) -> BTreeSet<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
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
    fn scopes_header() {
        let s = parse_scopes("admin:gpg_key, admin:org, repo, user, workflow");
        assert_eq!(s.len(), 5);
        assert!(s.contains("admin:org") && s.contains("workflow"));
        assert!(parse_scopes("").is_empty());
        assert_eq!(parse_scopes("repo,user").len(), 2);
    }

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
}
