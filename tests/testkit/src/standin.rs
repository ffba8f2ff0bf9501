//! Loopback stand-ins for GitHub, GitLab and Bitbucket Cloud, answering as their documented APIs do.
//!
//! Each answer copies the status, headers and body shape of a recorded or documented response (see
//! tests/fixtures/shared/SOURCES.md): GitHub's `GET /user` with `X-OAuth-Scopes`, the expiration header
//! and rate-limit headers; GitLab's `GET /personal_access_tokens/self`; Bitbucket Cloud's
//! `x-oauth-scopes`/`x-credential-type` headers.

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// `Authorization: Bearer <token>`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn join(prefix: &str, p: &str) -> String {
    format!("{}{}", prefix.trim_end_matches('/'), p)
}

/// A stand-in for the GitHub REST API (github.com or GitHub Enterprise Server).
pub struct Github<'a> {
    pub server: &'a MockServer,
    pub prefix: String,
}

/// The body of `GET /user`, as api.github.com returns it (trimmed to the fields that matter).
pub fn github_user(login: &str, kind: &str) -> Value {
    json!({
        "login": login, "id": 44700269, "node_id": "MDQ6VXNlcjQ0NzAwMjY5",
        "avatar_url": "https://avatars.githubusercontent.com/u/44700269?v=4",
        "url": format!("https://api.github.com/users/{login}"),
        "html_url": format!("https://github.com/{login}"),
        "type": kind, "user_view_type": "public", "site_admin": false,
        "name": null, "company": null, "public_repos": 46, "followers": 71, "following": 1,
        "created_at": "2018-11-02T11:17:22Z", "updated_at": "2024-12-21T12:42:47Z"
    })
}

/// api.github.com's rate-limit headers.
pub fn github_rate_headers(t: ResponseTemplate, remaining: u32) -> ResponseTemplate {
    t.insert_header("x-ratelimit-limit", "5000")
        .insert_header("x-ratelimit-remaining", remaining.to_string().as_str())
        .insert_header("x-ratelimit-reset", "1735916356")
        .insert_header("x-ratelimit-used", (5000 - remaining).to_string().as_str())
        .insert_header("x-ratelimit-resource", "core")
}

impl<'a> Github<'a> {
    pub fn on(server: &'a MockServer) -> Self {
        Self {
            server,
            prefix: String::new(),
        }
    }

    pub fn with_prefix(server: &'a MockServer, prefix: &str) -> Self {
        Self {
            server,
            prefix: prefix.into(),
        }
    }

    /// The `apiUrl` to configure.
    pub fn api_url(&self) -> String {
        join(&self.server.uri(), &self.prefix)
    }

    /// `GET /user` answers `template` for this token.
    pub async fn user_answers(&self, token: &str, template: ResponseTemplate) {
        Mock::given(method("GET"))
            .and(path(join(&self.prefix, "/user")))
            .and(header("authorization", bearer(token).as_str()))
            .respond_with(template)
            .mount(self.server)
            .await;
    }

    /// The 200 a classic PAT gets: `X-OAuth-Scopes` lists its scopes (`", "`-separated).
    pub fn classic_answer(login: &str, scopes: &str, expires: Option<&str>) -> ResponseTemplate {
        let mut t = ResponseTemplate::new(200)
            .insert_header("content-type", "application/json; charset=utf-8")
            .insert_header("x-oauth-scopes", scopes)
            .insert_header("x-accepted-oauth-scopes", "")
            .insert_header("x-github-api-version-selected", "2022-11-28")
            .set_body_json(github_user(login, "User"));
        if let Some(e) = expires {
            t = t.insert_header("github-authentication-token-expiration", e);
        }
        github_rate_headers(t, 4999)
    }

    pub async fn classic(&self, token: &str, login: &str, scopes: &str, expires: Option<&str>) {
        self.user_answers(token, Self::classic_answer(login, scopes, expires))
            .await;
    }

    /// A fine-grained PAT: no `X-OAuth-Scopes` header at all; an expiration header.
    pub async fn fine_grained(&self, token: &str, login: &str, expires: &str) {
        let t = ResponseTemplate::new(200)
            .insert_header("content-type", "application/json; charset=utf-8")
            .insert_header("github-authentication-token-expiration", expires)
            .insert_header("x-github-api-version-selected", "2022-11-28")
            .set_body_json(github_user(login, "User"));
        self.user_answers(token, github_rate_headers(t, 4998)).await;
    }

    /// The 401 for a wrong, revoked or expired token (`status` is a string, as GitHub sends it).
    pub fn bad_credentials_answer() -> ResponseTemplate {
        ResponseTemplate::new(401)
            .insert_header("content-type", "application/json; charset=utf-8")
            .set_body_json(json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}))
    }

    pub async fn bad_credentials(&self, token: &str) {
        self.user_answers(token, Self::bad_credentials_answer()).await;
    }

    /// Every token not mounted otherwise gets 401.
    pub async fn reject_others(&self) {
        Mock::given(method("GET"))
            .and(path(join(&self.prefix, "/user")))
            .respond_with(Self::bad_credentials_answer())
            .with_priority(10)
            .mount(self.server)
            .await;
    }
}

/// A stand-in for the GitLab REST API (`…/api/v4`).
pub struct Gitlab<'a> {
    pub server: &'a MockServer,
    pub prefix: String,
}

/// `GET /personal_access_tokens/self`, as the GitLab docs show it.
pub fn gitlab_token_info(scopes: &[&str], expires_at: Option<&str>, active: bool, revoked: bool) -> Value {
    json!({
        "id": 4, "name": "Test Token", "revoked": revoked,
        "created_at": "2020-07-23T14:31:47.729Z", "description": "Test Token description",
        "scopes": scopes, "user_id": 3, "last_used_at": "2021-10-06T17:58:37.550Z",
        "active": active, "expires_at": expires_at
    })
}

impl<'a> Gitlab<'a> {
    pub fn on(server: &'a MockServer) -> Self {
        Self {
            server,
            prefix: "/api/v4".into(),
        }
    }

    pub fn with_prefix(server: &'a MockServer, prefix: &str) -> Self {
        Self {
            server,
            prefix: prefix.into(),
        }
    }

    pub fn api_url(&self) -> String {
        join(&self.server.uri(), &self.prefix)
    }

    pub async fn self_answers(&self, token: &str, template: ResponseTemplate) {
        Mock::given(method("GET"))
            .and(path(join(&self.prefix, "/personal_access_tokens/self")))
            .and(header("authorization", bearer(token).as_str()))
            .respond_with(template)
            .mount(self.server)
            .await;
    }

    pub async fn token(&self, token: &str, scopes: &[&str], expires_at: Option<&str>) {
        self.self_answers(
            token,
            ResponseTemplate::new(200).set_body_json(gitlab_token_info(scopes, expires_at, true, false)),
        )
        .await;
    }

    /// GitLab's 401 bodies: `{"message":"401 Unauthorized"}` or an `invalid_token` description.
    pub fn unauthorized_answer(description: Option<&str>) -> ResponseTemplate {
        let body = match description {
            None => json!({"message": "401 Unauthorized"}),
            Some(d) => json!({"error": "invalid_token", "error_description": d}),
        };
        ResponseTemplate::new(401).set_body_json(body)
    }

    pub async fn unauthorized(&self, token: &str, description: Option<&str>) {
        self.self_answers(token, Self::unauthorized_answer(description)).await;
    }

    pub async fn reject_others(&self) {
        Mock::given(method("GET"))
            .and(path(join(&self.prefix, "/personal_access_tokens/self")))
            .respond_with(Self::unauthorized_answer(None))
            .with_priority(10)
            .mount(self.server)
            .await;
    }
}

/// A stand-in for the Bitbucket Cloud REST API (`…/2.0`).
pub struct BitbucketCloud<'a> {
    pub server: &'a MockServer,
    pub prefix: String,
}

impl<'a> BitbucketCloud<'a> {
    pub fn on(server: &'a MockServer) -> Self {
        Self {
            server,
            prefix: "/2.0".into(),
        }
    }

    pub fn with_prefix(server: &'a MockServer, prefix: &str) -> Self {
        Self {
            server,
            prefix: prefix.into(),
        }
    }

    pub fn api_url(&self) -> String {
        join(&self.server.uri(), &self.prefix)
    }

    /// An access token: any `GET` under `/repositories` answers with its scopes and credential type
    /// in headers, as the Atlassian KB shows.
    pub async fn access_token(&self, token: &str, scopes: &str, credential_type: &str) {
        let t = ResponseTemplate::new(200)
            .insert_header("content-type", "application/json; charset=utf-8")
            .insert_header("x-accepted-oauth-scopes", "repository")
            .insert_header("x-credential-type", credential_type)
            .insert_header("x-oauth-scopes", scopes)
            .set_body_json(json!({"type": "repository", "full_name": "ws/repo", "is_private": true}));
        Mock::given(method("GET"))
            .and(wiremock::matchers::path_regex(format!(
                "^{}/repositories(/.*)?$",
                regex_escape(&self.prefix)
            )))
            .and(header("authorization", bearer(token).as_str()))
            .respond_with(t)
            .mount(self.server)
            .await;
    }

    pub fn unauthorized_answer() -> ResponseTemplate {
        ResponseTemplate::new(401).set_body_json(
            json!({"type": "error", "error": {"message": "Token is invalid, expired, or not supported for this endpoint."}}),
        )
    }

    pub async fn reject_others(&self) {
        Mock::given(method("GET"))
            .and(wiremock::matchers::path_regex(format!(
                "^{}/.*$",
                regex_escape(&self.prefix)
            )))
            .respond_with(Self::unauthorized_answer())
            .with_priority(10)
            .mount(self.server)
            .await;
    }
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' {
                vec![c]
            } else {
                vec!['\\', c]
            }
        })
        .collect()
}
