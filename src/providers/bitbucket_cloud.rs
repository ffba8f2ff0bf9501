//! Bitbucket Cloud: workspace, project and repository access tokens (`ATCT…`, Bearer) report their
//! scopes in the `x-oauth-scopes` header and their kind in `x-credential-type` on any API answer.

use http::StatusCode;

use super::{Auth, Grant, IntrospectError, ProviderClient, Request, api_url, unexpected};
use crate::config::Provider;
use crate::kind::TokenKind;

pub async fn introspect(
    client: &ProviderClient,
    provider: &Provider,
    req: &Request<'_>,
) -> Result<Grant, IntrospectError> {
    match req.kind {
        TokenKind::AccessToken => {}
        TokenKind::ApiToken => {
            return Err(IntrospectError::NotIntrospectable {
                reason:
                    "Bitbucket Cloud API tokens (ATAT…) are not inspected yet: their scopes are not reported in headers"
                        .into(),
            });
        }
        TokenKind::AppPassword => {
            return Err(IntrospectError::NotIntrospectable {
                reason: "Bitbucket Cloud app passwords (ATBB…) are not inspected yet".into(),
            });
        }
        _ => {
            return Err(IntrospectError::NotIntrospectable {
                reason: "the token has none of Bitbucket Cloud's prefixes (ATCT access token, ATAT API token, ATBB app password)".into(),
            });
        }
    }
    // The repository itself when the URL names one, else its workspace: the documented read-only calls.
    let segs: Vec<&str> = req.repo_path.split('/').filter(|s| !s.is_empty()).take(2).collect();
    let mut path = vec!["repositories"];
    path.extend(segs.iter().copied());
    let resp = client
        .get(api_url(provider, &path), Auth::Bearer(req.token), &[])
        .await?;
    if resp.status == StatusCode::UNAUTHORIZED {
        let text = resp.error_text(req.token).unwrap_or_else(|| "Unauthorized".into());
        return Err(IntrospectError::Rejected {
            detail: format!("Bitbucket Cloud answered 401 ({text}): the token is wrong, revoked or expired"),
        });
    }
    if resp.status.is_server_error() || resp.rate_limited().is_some() {
        return Err(unexpected("Bitbucket Cloud", &resp, req.token));
    }
    // 200, 403 and 404 all carry the token's scopes: a 404 only says the repository is not visible to it.
    let Some(scopes) = resp.header("x-oauth-scopes") else {
        return Err(IntrospectError::Unavailable {
            detail: format!(
                "Bitbucket Cloud answered HTTP {} without an x-oauth-scopes header",
                resp.status.as_u16()
            ),
        });
    };
    let kind = match resp.header("x-credential-type") {
        Some("repo_access_token") => TokenKind::RepoAccessToken,
        Some("project_access_token") => TokenKind::ProjectAccessToken,
        Some("workspace_access_token") => TokenKind::WorkspaceAccessToken,
        _ => TokenKind::AccessToken,
    };
    let mut grant = Grant::new(kind);
    grant.scopes = Some(super::github::parse_scopes(scopes));
    Ok(grant)
}
