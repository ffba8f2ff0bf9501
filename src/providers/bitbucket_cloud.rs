//! Bitbucket Cloud.
//!
//! - Workspace, project and repository access tokens (`ATCT…`, Bearer) report their scopes in the
//!   `x-oauth-scopes` header and their kind in `x-credential-type` on any API answer (Atlassian KB).
//! - API tokens (`ATAT…`, Basic with the Atlassian account e-mail or the Bitbucket username) use
//!   granular scope names. Whether they get the same headers is not documented: scopegate reads the
//!   header when it is there, else the `detail.granted` list that a 403 "lack one or more required
//!   privilege scopes" body carries, else reports the token unverified.
//! - App passwords (`ATBB…`) no longer work: Bitbucket Cloud removed them on 2026-07-28.

use std::collections::BTreeSet;

use http::StatusCode;
use serde_json::Value;

use super::client::{Auth, ProviderClient, Response};
use super::{Request, api_url};
use crate::config::Provider;
use crate::credential::TokenKind;
use crate::grant::{Grant, IntrospectError, parse_scope_list};

/// The date Bitbucket Cloud turned app passwords off for good.
pub const APP_PASSWORDS_REMOVED: &str = "2026-07-28";

/// Git usernames that are not an account, so cannot authenticate an API call.
const STATIC_GIT_USERNAMES: [&str; 3] = ["x-bitbucket-api-token-auth", "x-token-auth", "x-access-token"];

pub async fn introspect(
    client: &ProviderClient,
    provider: &Provider,
    req: &Request<'_>,
) -> Result<Grant, IntrospectError> {
    match req.kind {
        TokenKind::AccessToken => access_token(client, provider, req).await,
        TokenKind::ApiToken => api_token(client, provider, req).await,
        TokenKind::AppPassword => Err(IntrospectError::Rejected {
            detail: format!(
                "Bitbucket Cloud removed app passwords on {APP_PASSWORDS_REMOVED}: this one no longer authenticates. \
                 Use an API token (ATAT…, with the account e-mail or Bitbucket username as username) or a repository, \
                 project or workspace access token (ATCT…, username x-token-auth)"
            ),
        }),
        _ => Err(IntrospectError::NotIntrospectable {
            reason: "the token has none of Bitbucket Cloud's prefixes (ATCT access token, ATAT API token, ATBB app password)"
                .into(),
        }),
    }
}

/// The repository itself when the URL names one, else its workspace: the documented read-only calls.
fn repository_path(req: &Request<'_>) -> Vec<String> {
    let source = req.targets.first().map(String::as_str).unwrap_or(req.repo_path);
    let mut path = vec!["repositories".to_owned()];
    path.extend(
        source
            .split('/')
            .filter(|s| !s.is_empty())
            .take(2)
            .map(|s| s.trim_end_matches(".git").to_owned()),
    );
    path
}

async fn get(
    client: &ProviderClient,
    provider: &Provider,
    path: &[String],
    auth: Auth<'_>,
) -> Result<Response, IntrospectError> {
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();
    client.get(provider, api_url(provider, &segs), auth, &[]).await
}

fn refused(resp: &Response, req: &Request<'_>) -> Option<IntrospectError> {
    if resp.status == StatusCode::UNAUTHORIZED {
        let text = resp.error_text(req.token).unwrap_or_else(|| "Unauthorized".into());
        return Some(IntrospectError::Rejected {
            detail: format!("Bitbucket Cloud answered 401 ({text}): the token is wrong, revoked or expired"),
        });
    }
    if resp.status.is_server_error() || resp.rate_limit().is_some() {
        return Some(resp.unexpected("Bitbucket Cloud", req.token));
    }
    None
}

async fn access_token(
    client: &ProviderClient,
    provider: &Provider,
    req: &Request<'_>,
) -> Result<Grant, IntrospectError> {
    let resp = get(client, provider, &repository_path(req), Auth::Bearer(req.token)).await?;
    if let Some(e) = refused(&resp, req) {
        return Err(e);
    }
    // 200, 403 and 404 all carry the token's scopes: a 404 only says the repository is not visible to it.
    let Some(scopes) = resp.header("x-oauth-scopes") else {
        return Err(IntrospectError::unavailable(format!(
            "Bitbucket Cloud answered HTTP {} without an x-oauth-scopes header",
            resp.status.as_u16()
        )));
    };
    let kind = match resp.header("x-credential-type") {
        Some("repo_access_token") => TokenKind::RepoAccessToken,
        Some("project_access_token") => TokenKind::ProjectAccessToken,
        Some("workspace_access_token") => TokenKind::WorkspaceAccessToken,
        _ => TokenKind::AccessToken,
    };
    let mut grant = Grant::new(kind);
    grant.scopes = Some(parse_scope_list(scopes));
    Ok(grant)
}

/// The scopes a 403 "lack one or more required privilege scopes" body lists as granted.
fn granted_in_body(resp: &Response) -> Option<BTreeSet<String>> {
    let v: Value = serde_json::from_slice(&resp.body).ok()?;
    let granted = v.pointer("/error/detail/granted")?.as_array()?;
    Some(granted.iter().filter_map(|g| g.as_str().map(str::to_owned)).collect())
}

async fn api_token(client: &ProviderClient, provider: &Provider, req: &Request<'_>) -> Result<Grant, IntrospectError> {
    let Some(user) = req.username.filter(|u| !STATIC_GIT_USERNAMES.contains(u)) else {
        return Err(IntrospectError::NotIntrospectable {
            reason: "a Bitbucket Cloud API token authenticates API calls with the Atlassian account e-mail (or the \
                     Bitbucket username), and the Secret's username is a static Git username; put the account's \
                     Bitbucket username in username to have the token checked"
                .into(),
        });
    };
    let auth = Auth::Basic(user, req.token);
    let mut grant = Grant::new(TokenKind::ApiToken);
    // The repository (or workspace) and the account, asked together: the first answer that lists the
    // scopes tells.
    let (repository_path, account_path) = (repository_path(req), ["user".to_owned()]);
    let (repository, account) = futures::try_join!(
        get(client, provider, &repository_path, auth),
        get(client, provider, &account_path, auth)
    )?;
    for resp in [repository, account] {
        if let Some(e) = refused(&resp, req) {
            return Err(e);
        }
        if let Some(h) = resp.header("x-oauth-scopes") {
            grant.scopes = Some(parse_scope_list(h));
            return Ok(grant);
        }
        if resp.status == StatusCode::FORBIDDEN
            && let Some(granted) = granted_in_body(&resp)
        {
            grant.scopes = Some(std::sync::Arc::new(granted));
            return Ok(grant);
        }
    }
    grant.unverified = Some(
        "Bitbucket Cloud reported neither an x-oauth-scopes header nor the granted scopes for this API token".into(),
    );
    Ok(grant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::HeaderMap;

    #[test]
    fn granted_scopes_from_a_403_body() {
        let resp = Response {
            status: StatusCode::FORBIDDEN,
            headers: HeaderMap::new(),
            body: Bytes::from_static(
                br#"{"type":"error","error":{"message":"Your credentials lack one or more required privilege scopes.","detail":{"required":["read:user:bitbucket"],"granted":["write:repository:bitbucket","read:pullrequest:bitbucket"]}}}"#,
            ),
        };
        let g = granted_in_body(&resp).unwrap();
        assert_eq!(g.len(), 2);
        assert!(g.contains("write:repository:bitbucket"));
    }
}
