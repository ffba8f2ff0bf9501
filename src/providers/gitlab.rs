//! GitLab (gitlab.com and self-managed): `GET /personal_access_tokens/self` reports a personal, project
//! or group access token's scopes, state and expiry, whatever scopes it has.

use std::collections::BTreeSet;

use http::StatusCode;
use jiff::Timestamp;
use serde::Deserialize;

use super::{Auth, Grant, IntrospectError, ProviderClient, Request, api_url, unexpected};
use crate::config::Provider;
use crate::kind::TokenKind;

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
        _ => return Err(unexpected("GitLab", &resp, req.token)),
    }
    let info: SelfInfo = serde_json::from_slice(&resp.body).map_err(|_| IntrospectError::Unavailable {
        detail: "GitLab answered /personal_access_tokens/self with something that is not a token".into(),
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
        Some(d) => Some(parse_expiry_date(d).ok_or_else(|| IntrospectError::Unavailable {
            detail: format!("GitLab sent an expiry date scopegate cannot read: {d:?}"),
        })?),
    };
    Ok(Grant {
        kind: req.kind,
        scopes: Some(info.scopes.into_iter().collect::<BTreeSet<_>>()),
        expires_at,
        owner: None,
        owner_is_bot: None,
        unverified: None,
    })
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
