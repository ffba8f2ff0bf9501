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

// ---------------------------------------------------------------------------------------------------
// Matchers

/// Matches `Authorization: Basic base64(user:password)` by its password, whatever the username
/// (Git clients send various ones), so a stand-in can key on the token.
#[derive(Debug, Clone)]
pub struct BasicPassword(pub String);

impl wiremock::Match for BasicPassword {
    fn matches(&self, request: &wiremock::Request) -> bool {
        use base64::Engine as _;
        request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|pair| pair.split_once(':').map(|(_, p)| p == self.0))
            .unwrap_or(false)
    }
}

/// Matches a request without an `Authorization` header.
#[derive(Debug, Clone)]
pub struct Anonymous;

impl wiremock::Match for Anonymous {
    fn matches(&self, request: &wiremock::Request) -> bool {
        !request.headers.contains_key("authorization")
    }
}

/// Matches `Authorization: Bearer <token>`, or no `Authorization` at all for `None`.
#[derive(Debug, Clone)]
pub struct BearerOrNone(pub Option<String>);

impl wiremock::Match for BearerOrNone {
    fn matches(&self, request: &wiremock::Request) -> bool {
        let got = request.headers.get("authorization").and_then(|v| v.to_str().ok());
        match &self.0 {
            None => got.is_none(),
            Some(t) => got == Some(bearer(t).as_str()),
        }
    }
}

/// Matches `Authorization: Basic` with exactly this user and password.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Matches a GitHub App JWT: RS256 over the test key, issued by `app_id`.
pub struct AppJwt {
    pub app_id: u64,
    pub public_key_der: Vec<u8>,
}

impl wiremock::Match for AppJwt {
    fn matches(&self, request: &wiremock::Request) -> bool {
        use base64::Engine as _;
        let Some(jwt) = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        let parts: Vec<&str> = jwt.split('.').collect();
        if parts.len() != 3 {
            return false;
        }
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (Ok(claims), Ok(sig)) = (b64.decode(parts[1]), b64.decode(parts[2])) else {
            return false;
        };
        let key =
            ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, &self.public_key_der);
        let signed = format!("{}.{}", parts[0], parts[1]);
        key.verify(signed.as_bytes(), &sig).is_ok()
            && serde_json::from_slice::<Value>(&claims)
                .is_ok_and(|c| c["iss"].as_str() == Some(self.app_id.to_string().as_str()))
    }
}

// ---------------------------------------------------------------------------------------------------
// GitHub fine-grained tokens and Apps

/// A permission level on a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    None,
    Read,
    Write,
}

/// How the stand-in answers the requests built to be refused (`PATCH …/hooks/{id}`, `POST …/statuses/{sha}`,
/// `POST …/pulls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusals {
    /// As GitHub does: the permission checked first (403 "Resource not accessible by personal access
    /// token" without it), then the target and the body (404 for a hook that does not exist, 422 for a
    /// status without a state or a pull request without head and base).
    AsGithub,
    /// A GitHub that misbehaves: it accepts them (200, 201).
    Accept,
    /// Rate limited: 403 with `x-ratelimit-remaining: 0`.
    RateLimited,
}

/// What a fine-grained token may do on one repository, for the stand-in to answer probes with.
#[derive(Debug, Clone)]
pub struct RepoGrant {
    pub owner: String,
    pub repo: String,
    pub visible: bool,
    pub contents: Level,
    pub webhooks: Level,
    pub administration: Level,
    /// Commit statuses.
    pub statuses: Level,
    pub pull_requests: Level,
    /// Whether the repository has rulesets (and so rule suites to list); the verdict must not depend on it.
    pub has_ruleset: bool,
    pub refusals: Refusals,
}

impl RepoGrant {
    /// Every permission the runtime role needs, and the other write levels scopegate can establish.
    pub fn all(owner: &str, repo: &str) -> Self {
        Self {
            owner: owner.into(),
            repo: repo.into(),
            visible: true,
            contents: Level::Write,
            webhooks: Level::Write,
            administration: Level::Write,
            statuses: Level::Write,
            pull_requests: Level::Write,
            has_ruleset: true,
            refusals: Refusals::AsGithub,
        }
    }
}

fn not_accessible() -> ResponseTemplate {
    ResponseTemplate::new(403).set_body_json(json!({
        "message": "Resource not accessible by personal access token",
        "documentation_url": "https://docs.github.com/rest",
        "status": "403"
    }))
}

/// GitHub's answer to a request that failed validation.
fn validation_failed(detail: &str) -> ResponseTemplate {
    ResponseTemplate::new(422).set_body_json(json!({
        "message": "Validation Failed",
        "errors": [{"resource": "Request", "code": "missing_field", "field": detail}],
        "documentation_url": "https://docs.github.com/rest",
        "status": "422"
    }))
}

/// One endpoint of a fine-grained token's repository: the level it needs (and the name GitHub gives
/// it in `X-Accepted-GitHub-Permissions`), and the answer once past the permission check.
struct Endpoint {
    method: &'static str,
    path: String,
    needs: Level,
    has: Level,
    accepted: String,
    answer: ResponseTemplate,
    refusal: bool,
}

impl<'a> Github<'a> {
    /// Answer a fine-grained token's probes on one repository as GitHub would for this grant. The Git
    /// receive-pack advertisement is served under `git_prefix` (the provider's `gitUrl` path).
    pub async fn fine_grained_repo(&self, token: &str, git_prefix: &str, g: &RepoGrant) {
        let auth = bearer(token);
        let base = format!("/repos/{}/{}", g.owner, g.repo);
        if !g.visible {
            Mock::given(wiremock::matchers::path_regex(format!(
                "^{}{}(/.*)?$",
                regex_escape(&self.prefix),
                regex_escape(&base)
            )))
            .and(header("authorization", auth.as_str()))
            .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found", "status": "404"})))
            .mount(self.server)
            .await;
            return;
        }
        let ok = |v: Value| ResponseTemplate::new(200).set_body_json(v);
        let suites = if g.has_ruleset {
            json!([{"id": 21, "actor_name": "octocat", "ref": "refs/heads/main", "result": "pass"}])
        } else {
            json!([])
        };
        let endpoints = [
            Endpoint {
                method: "GET",
                path: base.clone(),
                needs: Level::None,
                has: Level::Read,
                accepted: "metadata=read".into(),
                answer: ok(
                    json!({"id": 1, "name": g.repo, "full_name": format!("{}/{}", g.owner, g.repo), "private": true,
                                  "permissions": {"admin": true, "maintain": true, "push": true, "triage": true, "pull": true}}),
                ),
                refusal: false,
            },
            Endpoint {
                method: "GET",
                path: format!("{base}/commits"),
                needs: Level::Read,
                has: g.contents,
                accepted: "contents=read".into(),
                answer: ok(json!([{"sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e"}])),
                refusal: false,
            },
            Endpoint {
                method: "GET",
                path: format!("{base}/hooks"),
                needs: Level::Read,
                has: g.webhooks,
                accepted: "repository_hooks=read".into(),
                answer: ok(json!([])),
                refusal: false,
            },
            Endpoint {
                method: "GET",
                path: format!("{base}/actions/permissions"),
                needs: Level::Read,
                has: g.administration,
                accepted: "administration=read".into(),
                answer: ok(json!({"enabled": true, "allowed_actions": "all"})),
                refusal: false,
            },
            // Documented as needing Administration: write.
            Endpoint {
                method: "GET",
                path: format!("{base}/rulesets/rule-suites"),
                needs: Level::Write,
                has: g.administration,
                accepted: "administration=write".into(),
                answer: ok(suites),
                refusal: false,
            },
            Endpoint {
                method: "GET",
                path: format!("{base}/pulls"),
                needs: Level::Read,
                has: g.pull_requests,
                accepted: "pull_requests=read".into(),
                answer: ok(json!([])),
                refusal: false,
            },
            Endpoint {
                method: "GET",
                path: format!("{base}/commits/HEAD/statuses"),
                needs: Level::Read,
                has: g.statuses,
                accepted: "statuses=read".into(),
                answer: ok(json!([])),
                refusal: false,
            },
            // Requests built to be refused: past the permission check, the hook does not exist and the
            // bodies lack what the calls require.
            Endpoint {
                method: "PATCH",
                path: format!("{base}/hooks/4294967289"),
                needs: Level::Write,
                has: g.webhooks,
                accepted: "repository_hooks=write".into(),
                answer: ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found", "status": "404"})),
                refusal: true,
            },
            Endpoint {
                method: "POST",
                path: format!("{base}/statuses/scopegate-refusal-probe-no-such-commit"),
                needs: Level::Write,
                has: g.statuses,
                accepted: "statuses=write".into(),
                answer: validation_failed("state"),
                refusal: true,
            },
            Endpoint {
                method: "POST",
                path: format!("{base}/pulls"),
                needs: Level::Write,
                has: g.pull_requests,
                accepted: "pull_requests=write".into(),
                answer: validation_failed("head"),
                refusal: true,
            },
        ];
        for e in endpoints {
            let answer = match (e.refusal, g.refusals) {
                (true, Refusals::Accept) => ResponseTemplate::new(if e.method == "PATCH" { 200 } else { 201 })
                    .set_body_json(json!({"id": 1})),
                (true, Refusals::RateLimited) => github_rate_headers(
                    ResponseTemplate::new(403).set_body_json(json!({
                        "message": "API rate limit exceeded for user ID 1.",
                        "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"
                    })),
                    0,
                ),
                _ if e.has >= e.needs => e.answer,
                _ => not_accessible().insert_header("x-accepted-github-permissions", e.accepted.as_str()),
            };
            Mock::given(method(e.method))
                .and(path(join(&self.prefix, &e.path)))
                .and(header("authorization", auth.as_str()))
                .respond_with(answer)
                .mount(self.server)
                .await;
        }
        let receive = if g.contents >= Level::Write {
            ResponseTemplate::new(200).set_body_raw(
                "001f# service=git-receive-pack\n0000",
                "application/x-git-receive-pack-advertisement",
            )
        } else {
            ResponseTemplate::new(403).set_body_string("Write access to repository not granted.\n")
        };
        Mock::given(method("GET"))
            .and(path(format!(
                "{}/{}/{}.git/info/refs",
                git_prefix.trim_end_matches('/'),
                g.owner,
                g.repo
            )))
            .and(wiremock::matchers::query_param("service", "git-receive-pack"))
            .and(BasicPassword(token.to_owned()))
            .respond_with(receive)
            .mount(self.server)
            .await;
    }

    /// `GET /orgs/{org}/repos` (the SCM Provider generator's listing) for `token` (`None`: without
    /// credentials): a page of the repositories it sees, or the status GitHub refuses with (404 for an
    /// organisation the token cannot see, as GitHub hides it).
    pub async fn org_repos(&self, token: Option<&str>, org: &str, answer: Result<&[&str], u16>) {
        let template = match answer {
            Ok(repos) => github_rate_headers(
                ResponseTemplate::new(200).set_body_json(
                    repos
                        .iter()
                        .map(|r| {
                            json!({"id": 1, "name": r, "full_name": format!("{org}/{r}"), "private": true,
                                         "owner": {"login": org, "type": "Organization"}})
                        })
                        .collect::<Vec<_>>(),
                ),
                4990,
            ),
            Err(status) => ResponseTemplate::new(status).set_body_json(json!({
                "message": if status == 404 { "Not Found" } else { "Resource not accessible by personal access token" },
                "documentation_url": "https://docs.github.com/rest/repos/repos#list-organization-repositories",
                "status": status.to_string()
            })),
        };
        Mock::given(method("GET"))
            .and(path(join(&self.prefix, &format!("/orgs/{org}/repos"))))
            .and(BearerOrNone(token.map(str::to_owned)))
            .respond_with(template)
            .mount(self.server)
            .await;
    }

    /// `GET /repos/{owner}/{repo}/pulls` (the Pull Request generator's listing) for `token`: an empty
    /// page, or the status GitHub refuses with.
    pub async fn pulls(&self, token: Option<&str>, owner: &str, repo: &str, answer: Result<(), u16>) {
        let template = match answer {
            Ok(()) => ResponseTemplate::new(200).set_body_json(json!([])),
            Err(status) => ResponseTemplate::new(status)
                .set_body_json(json!({"message": "Not Found", "status": status.to_string()})),
        };
        Mock::given(method("GET"))
            .and(path(join(&self.prefix, &format!("/repos/{owner}/{repo}/pulls"))))
            .and(BearerOrNone(token.map(str::to_owned)))
            .respond_with(template)
            .mount(self.server)
            .await;
    }

    /// Git over HTTPS for one repository, as GitHub answers a credential whose token (the Basic
    /// password, whatever the username) is `token`; see [`git_repository`].
    pub async fn git_repository(&self, git_prefix: &str, token: &str, repo: &str, level: Level) {
        git_repository(self.server, git_prefix, BasicPassword(token.to_owned()), repo, level).await;
    }

    /// A GitHub App installation, answered to JWTs of `app_id` signed with the test key.
    pub async fn app_installation(&self, app_id: u64, public_key_der: &[u8], installation: Value, repos: &[&str]) {
        let jwt = || AppJwt {
            app_id,
            public_key_der: public_key_der.to_vec(),
        };
        let id = installation["id"].as_u64().unwrap_or(1);
        Mock::given(method("GET"))
            .and(path(join(&self.prefix, &format!("/app/installations/{id}"))))
            .and(jwt())
            .respond_with(ResponseTemplate::new(200).set_body_json(installation.clone()))
            .mount(self.server)
            .await;
        if let Some(login) = installation.pointer("/account/login").and_then(Value::as_str) {
            Mock::given(method("GET"))
                .and(path(join(&self.prefix, &format!("/orgs/{login}/installation"))))
                .and(jwt())
                .respond_with(ResponseTemplate::new(200).set_body_json(installation.clone()))
                .mount(self.server)
                .await;
        }
        for r in repos {
            Mock::given(method("GET"))
                .and(path(join(&self.prefix, &format!("/repos/{r}/installation"))))
                .and(jwt())
                .respond_with(ResponseTemplate::new(200).set_body_json(installation.clone()))
                .mount(self.server)
                .await;
        }
        // Anything else the app asks about: not installed there (404), as GitHub answers.
        Mock::given(method("GET"))
            .and(jwt())
            .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found", "status": "404"})))
            .with_priority(10)
            .mount(self.server)
            .await;
    }
}

/// An installation object as `GET /app/installations/{id}` returns it.
pub fn github_installation(id: u64, login: &str, selection: &str, permissions: Value) -> Value {
    json!({
        "id": id, "client_id": "Iv1.8a61f9b3a7aba766", "app_id": 4242, "app_slug": "gitops-bot",
        "account": {"login": login, "id": 1, "type": "Organization"},
        "repository_selection": selection, "permissions": permissions,
        "events": ["push", "pull_request"], "target_type": "Organization",
        "created_at": "2025-01-10T09:52:53Z", "updated_at": "2026-08-18T20:26:54Z", "suspended_at": null
    })
}

// ---------------------------------------------------------------------------------------------------
// GitLab users and projects

impl<'a> Gitlab<'a> {
    /// `GET /user` for this token (`bot: true` for project and group access tokens).
    pub async fn user(&self, token: &str, username: &str, bot: bool) {
        Mock::given(method("GET"))
            .and(path(join(&self.prefix, "/user")))
            .and(header("authorization", bearer(token).as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": 3, "username": username, "name": username, "state": "active", "bot": bot,
                "web_url": format!("https://gitlab.example.com/{username}"), "created_at": "2024-01-01T00:00:00Z"
            })))
            .mount(self.server)
            .await;
    }

    /// `GET /projects/:id` (URL-encoded path) with the token's access level on it.
    pub async fn project(&self, token: &str, project_path: &str, access_level: u8) {
        let encoded = project_path.replace('/', "%2F");
        Mock::given(method("GET"))
            .and(wiremock::matchers::path_regex(format!(
                "^{}/projects/({}|{})$",
                regex_escape(&self.prefix),
                regex_escape(&encoded),
                regex_escape(project_path)
            )))
            .and(header("authorization", bearer(token).as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": 7, "path_with_namespace": project_path, "default_branch": "main",
                "permissions": {"project_access": {"access_level": access_level, "notification_level": 3}, "group_access": null}
            })))
            .mount(self.server)
            .await;
    }
}

// ---------------------------------------------------------------------------------------------------
// Bitbucket Cloud API tokens

impl<'a> BitbucketCloud<'a> {
    /// An API token (Basic with `user`): the repository answers without scope headers, and `GET /user`
    /// answers 403 listing the granted scopes, as Bitbucket does for a token without read:user.
    pub async fn api_token_listing_scopes_in_403(&self, user: &str, token: &str, granted: &[&str]) {
        let auth = basic(user, token);
        Mock::given(method("GET"))
            .and(wiremock::matchers::path_regex(format!(
                "^{}/repositories(/.*)?$",
                regex_escape(&self.prefix)
            )))
            .and(header("authorization", auth.as_str()))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"type": "repository", "full_name": "ws/repo"})),
            )
            .mount(self.server)
            .await;
        Mock::given(method("GET"))
            .and(path(join(&self.prefix, "/user")))
            .and(header("authorization", auth.as_str()))
            .respond_with(ResponseTemplate::new(403).set_body_json(json!({
                "type": "error",
                "error": {"message": "Your credentials lack one or more required privilege scopes.",
                          "detail": {"required": ["read:user:bitbucket"], "granted": granted}}
            })))
            .mount(self.server)
            .await;
    }
}

// ---------------------------------------------------------------------------------------------------
// Bitbucket Data Center

/// A stand-in for Bitbucket Data Center's REST API (`…/rest/api/1.0`) and Git (`…/scm`).
pub struct BitbucketServer<'a> {
    pub server: &'a MockServer,
    pub prefix: String,
    pub git_prefix: String,
}

/// A Data Center repository permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RepoPermission {
    None,
    Read,
    Write,
    Admin,
}

impl<'a> BitbucketServer<'a> {
    pub fn on(server: &'a MockServer) -> Self {
        Self {
            server,
            prefix: "/rest/api/1.0".into(),
            git_prefix: "/scm".into(),
        }
    }

    pub fn api_url(&self) -> String {
        join(&self.server.uri(), &self.prefix)
    }

    pub fn git_url(&self) -> String {
        self.server.uri()
    }

    /// A token that acts as `username` and holds `permission` on KEY/slug. `auth` is the exact
    /// Authorization header value the token is sent with (Bearer or Basic).
    pub async fn token(&self, auth: &str, username: &str, key: &str, slug: &str, permission: RepoPermission) {
        let ok = |body: Value| ResponseTemplate::new(200).set_body_json(body);
        let refused = || {
            ResponseTemplate::new(401).set_body_json(json!({"errors": [{"context": null,
                "message": "You are not permitted to access this resource",
                "exceptionName": "com.atlassian.bitbucket.AuthorisationException"}]}))
        };
        Mock::given(method("GET"))
            .and(path(join(&self.prefix, "/application-properties")))
            .and(header("authorization", auth))
            .respond_with(
                ok(json!({"version": "8.19.1", "buildNumber": "8019001", "displayName": "Bitbucket"}))
                    .insert_header("x-ausername", username)
                    .insert_header("x-auserid", "42"),
            )
            .mount(self.server)
            .await;
        let repo = json!({"slug": slug, "name": slug, "project": {"key": key, "name": key}, "public": false});
        let base = format!("/projects/{key}/repos/{slug}");
        let answer = |granted: bool, body: Value| if granted { ok(body) } else { refused() };
        for (p, granted, body) in [
            (base.clone(), permission >= RepoPermission::Read, repo.clone()),
            (
                format!("{base}/permissions/users"),
                permission >= RepoPermission::Admin,
                json!({"values": [], "size": 0, "isLastPage": true}),
            ),
            (
                format!("{base}/webhooks"),
                permission >= RepoPermission::Admin,
                json!({"values": [], "size": 0, "isLastPage": true}),
            ),
        ] {
            Mock::given(method("GET"))
                .and(path(join(&self.prefix, &p)))
                .and(header("authorization", auth))
                .respond_with(answer(granted, body))
                .mount(self.server)
                .await;
        }
        let listed = if permission >= RepoPermission::Write {
            json!([repo])
        } else {
            json!([])
        };
        Mock::given(method("GET"))
            .and(path(join(&self.prefix, "/repos")))
            .and(wiremock::matchers::query_param("permission", "REPO_WRITE"))
            .and(header("authorization", auth))
            .respond_with(ok(
                json!({"values": listed, "size": 1, "isLastPage": true, "start": 0, "limit": 100}),
            ))
            .mount(self.server)
            .await;
        let receive = if permission >= RepoPermission::Write {
            ResponseTemplate::new(200).set_body_raw(
                "001f# service=git-receive-pack\n0000",
                "application/x-git-receive-pack-advertisement",
            )
        } else {
            ResponseTemplate::new(403).set_body_string("You are not permitted to push to this repository")
        };
        Mock::given(method("GET"))
            .and(path(format!(
                "{}/{}/{}.git/info/refs",
                self.git_prefix,
                key.to_ascii_lowercase(),
                slug
            )))
            .and(header("authorization", auth))
            .respond_with(receive)
            .mount(self.server)
            .await;
    }

    /// Every other credential: 401.
    pub async fn reject_others(&self) {
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(401).set_body_json(
                json!({"errors": [{"message": "Authentication failed. Please check your credentials and try again."}]}),
            ))
            .with_priority(10)
            .mount(self.server)
            .await;
    }
}

// ---------------------------------------------------------------------------------------------------
// Faults

/// A responder that reports each request on a channel before answering, so a test can wait for "the
/// provider has been asked N times" instead of sleeping.
pub struct Notify {
    pub tx: std::sync::Mutex<std::sync::mpsc::Sender<()>>,
    pub template: ResponseTemplate,
}

impl Notify {
    pub fn new(template: ResponseTemplate) -> (Self, std::sync::mpsc::Receiver<()>) {
        let (tx, rx) = std::sync::mpsc::channel();
        (
            Self {
                tx: std::sync::Mutex::new(tx),
                template,
            },
            rx,
        )
    }
}

impl wiremock::Respond for Notify {
    fn respond(&self, _request: &wiremock::Request) -> ResponseTemplate {
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.send(());
        }
        self.template.clone()
    }
}

/// A TCP server on loopback that accepts connections and resets them at once, counting them.
pub async fn resetting_server() -> (std::net::SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // SO_LINGER 0: close sends a RST instead of a FIN.
            let _ = stream.set_zero_linger();
            drop(stream);
        }
    });
    (addr, count)
}

// ---------------------------------------------------------------------------------------------------
// Git over HTTPS

/// Git's smart-HTTP answers for `repo` (`owner/name`, served under `git_prefix` as `{repo}.git`) to
/// requests `auth` matches: `GET info/refs?service=git-upload-pack` (the first request of `git clone`
/// and `git fetch`) advertises when `level` is at least `Read`, `…=git-receive-pack` (the first
/// request of `git push`) when it is `Write`. A repository the credential cannot see answers 404
/// `Repository not found.`; a push it may not make, 403 `Write access to repository not granted.`,
/// as GitHub answers both.
pub async fn git_repository(
    server: &MockServer,
    git_prefix: &str,
    auth: impl wiremock::Match + Clone + 'static,
    repo: &str,
    level: Level,
) {
    let refs = format!("{}/{repo}.git/info/refs", git_prefix.trim_end_matches('/'));
    let advertisement = |service: &str| {
        let first = format!("# service={service}\n");
        ResponseTemplate::new(200)
            .insert_header("cache-control", "no-cache, max-age=0, must-revalidate")
            .set_body_raw(
                format!("{:04x}{first}0000", first.len() + 4),
                format!("application/x-{service}-advertisement").as_str(),
            )
    };
    let not_found = || {
        ResponseTemplate::new(404)
            .insert_header("content-type", "text/plain; charset=UTF-8")
            .set_body_string("Repository not found.\n")
    };
    for (service, granted) in [
        ("git-upload-pack", level >= Level::Read),
        ("git-receive-pack", level >= Level::Write),
    ] {
        let answer = match (granted, level) {
            (true, _) => advertisement(service),
            (false, Level::None) => not_found(),
            (false, _) => ResponseTemplate::new(403)
                .insert_header("content-type", "text/plain; charset=UTF-8")
                .set_body_string("Write access to repository not granted.\n"),
        };
        Mock::given(method("GET"))
            .and(path(refs.as_str()))
            .and(wiremock::matchers::query_param("service", service))
            .and(auth.clone())
            .respond_with(answer)
            .mount(server)
            .await;
    }
}

/// What [`GithubTokens`] answers for a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenAnswer {
    /// A classic token of `login` with `scopes` (`", "`-separated), expiring at `expires` (GitHub's form).
    Classic {
        login: String,
        scopes: String,
        expires: Option<String>,
    },
    /// Revoked: 401 Bad credentials.
    Revoked,
    /// GitHub failing: 503.
    Down,
}

/// A GitHub `GET /user` stand-in whose answers a test changes while scopegate runs: a token revoked,
/// restored, GitHub failing. Counts the calls for each token. Tokens it does not know get 401.
#[derive(Clone)]
pub struct GithubTokens {
    answers: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, TokenAnswer>>>,
    calls: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, usize>>>,
    /// Every call, counted, for tests that wait for one.
    called: std::sync::Arc<tokio::sync::watch::Sender<usize>>,
}

impl GithubTokens {
    /// Answer `GET /user` on `server` from this table.
    pub async fn mount(server: &MockServer) -> Self {
        let tokens = Self {
            answers: Default::default(),
            calls: Default::default(),
            called: std::sync::Arc::new(tokio::sync::watch::channel(0).0),
        };
        Mock::given(method("GET"))
            .and(path("/user"))
            .respond_with(tokens.clone())
            .mount(server)
            .await;
        tokens
    }

    pub fn set(&self, token: &str, answer: TokenAnswer) {
        if let Ok(mut a) = self.answers.lock() {
            a.insert(token.to_owned(), answer);
        }
    }

    /// A classic token with `scopes`, valid.
    pub fn classic(&self, token: &str, login: &str, scopes: &str) {
        self.set(
            token,
            TokenAnswer::Classic {
                login: login.into(),
                scopes: scopes.into(),
                expires: None,
            },
        );
    }

    /// Calls made with `token`.
    pub fn calls(&self, token: &str) -> usize {
        self.calls.lock().ok().and_then(|c| c.get(token).copied()).unwrap_or(0)
    }

    /// Calls made in all.
    pub fn total_calls(&self) -> usize {
        self.calls.lock().map(|c| c.values().sum()).unwrap_or(0)
    }

    /// Wait until `token` has been asked about `n` times in all.
    pub async fn asked(&self, token: &str, n: usize) {
        let mut rx = self.called.subscribe();
        while self.calls(token) < n {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}

impl wiremock::Respond for GithubTokens {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let token = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default()
            .to_owned();
        if let Ok(mut c) = self.calls.lock() {
            *c.entry(token.clone()).or_default() += 1;
        }
        self.called.send_modify(|n| *n += 1);
        let answer = self.answers.lock().ok().and_then(|a| a.get(&token).cloned());
        match answer {
            Some(TokenAnswer::Classic { login, scopes, expires }) => {
                Github::classic_answer(&login, &scopes, expires.as_deref())
            }
            Some(TokenAnswer::Down) => ResponseTemplate::new(503).set_body_string("upstream connect error"),
            Some(TokenAnswer::Revoked) | None => Github::bad_credentials_answer(),
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Gitea and Forgejo

/// A Gitea (or Forgejo) instance as its API and Git-over-HTTP answer a token, by the rules of the
/// shared reference's §11: a call its scopes do not cover answers 403 with the body naming the scope
/// (`tokenRequiresScopes`); `GET` needs `read:<category>`; write implies read and `all` everything; the
/// owner's token list answers only HTTP Basic (401 to a Bearer token); the receive-pack advertisement
/// checks the token's scope only for Basic, and, the server's Git supporting proc-receive, checks
/// the owner's read access only there (a 200 proves the scope, not the right to push).
pub struct Gitea<'a> {
    pub server: &'a MockServer,
    /// Where on the server the instance lives (`""` for the root).
    pub prefix: String,
}

/// The token owner's permissions on one repository, as `GET /repos/{o}/{r}` reports them.
#[derive(Debug, Clone, Copy)]
pub struct GiteaRepo<'a> {
    pub full_name: &'a str,
    pub pull: bool,
    pub push: bool,
    pub admin: bool,
}

/// One token of a Gitea instance.
#[derive(Debug, Clone, Copy)]
pub struct GiteaToken<'a> {
    pub token: &'a str,
    pub login: &'a str,
    pub scopes: &'a [&'a str],
    pub repos: &'a [GiteaRepo<'a>],
    /// Whether this version lets a `read:user` token list its owner's tokens with HTTP Basic.
    pub list_readable: bool,
    /// Forgejo: the repositories the token is limited to.
    pub limited_to: Option<&'a [&'a str]>,
}

/// Whether Gitea scopes `have` cover `want` (write implies read; `all` implies everything).
pub fn gitea_covers(have: &[&str], want: &str) -> bool {
    have.contains(&"all")
        || have.contains(&want)
        || want
            .strip_prefix("read:")
            .is_some_and(|c| have.contains(&format!("write:{c}").as_str()))
}

/// Gitea's answer to a call the token's scopes do not cover.
pub fn gitea_scope_refusal(server: &MockServer, scope: &str) -> ResponseTemplate {
    ResponseTemplate::new(403)
        .insert_header("content-type", "application/json;charset=utf-8")
        .set_body_string(format!(
            r#"{{"message":"token does not have at least one of required scope(s): [{scope}]","url":"{}/api/swagger"}}"#,
            server.uri()
        ))
}

impl<'a> Gitea<'a> {
    pub fn on(server: &'a MockServer) -> Self {
        Self::with_prefix(server, "")
    }

    pub fn with_prefix(server: &'a MockServer, prefix: &str) -> Self {
        Self {
            server,
            prefix: prefix.to_owned(),
        }
    }

    pub fn api_url(&self) -> String {
        format!("{}{}/api/v1", self.server.uri(), self.prefix)
    }

    pub fn git_url(&self) -> String {
        format!("{}{}", self.server.uri(), self.prefix)
    }

    fn path(&self, p: &str) -> wiremock::matchers::PathExactMatcher {
        path(format!("{}{p}", self.prefix))
    }

    pub async fn token(&self, t: GiteaToken<'_>) {
        let bearer = format!("Bearer {}", t.token);
        let json = |status: u16, body: Value| {
            ResponseTemplate::new(status)
                .insert_header("content-type", "application/json;charset=utf-8")
                .set_body_json(body)
        };
        let scoped = |scope: &str, ok: ResponseTemplate| {
            if gitea_covers(t.scopes, scope) {
                ok
            } else {
                gitea_scope_refusal(self.server, scope)
            }
        };
        Mock::given(method("GET"))
            .and(self.path("/api/v1/user"))
            .and(header("authorization", bearer.as_str()))
            .respond_with(scoped(
                "read:user",
                json(
                    200,
                    json!({"id": 7, "login": t.login, "full_name": "", "email": format!("{}@example.com", t.login), "is_admin": false}),
                ),
            ))
            .mount(self.server)
            .await;
        // The token list: Basic only.
        let tokens = json(
            200,
            json!([
                {"id": 1, "name": "other", "scopes": ["all"], "token_last_eight": "00000000"},
                {"id": 2, "name": "argocd", "scopes": t.scopes, "token_last_eight": &t.token[t.token.len().saturating_sub(8)..],
                 "repositories": t.limited_to.map(|r| r.iter().map(|n| json!({"full_name": n})).collect::<Vec<_>>())},
            ]),
        );
        Mock::given(method("GET"))
            .and(self.path(&format!("/api/v1/users/{}/tokens", t.login)))
            .and(BasicPassword(t.token.to_owned()))
            .respond_with(if t.list_readable {
                scoped("read:user", tokens)
            } else {
                json(
                    403,
                    json!({"message": "user should have specific permission or be a site admin"}),
                )
            })
            .mount(self.server)
            .await;
        Mock::given(method("GET"))
            .and(self.path(&format!("/api/v1/users/{}/tokens", t.login)))
            .and(header("authorization", bearer.as_str()))
            .respond_with(json(401, json!({"message": "auth required"})))
            .mount(self.server)
            .await;
        for r in t.repos {
            let not_found = json(
                404,
                json!({"errors": ["repository does not exist"], "message": "The target couldn't be found."}),
            );
            let repo = json!({"full_name": r.full_name, "private": true,
                "permissions": {"admin": r.admin, "push": r.push, "pull": r.pull}});
            Mock::given(method("GET"))
                .and(self.path(&format!("/api/v1/repos/{}", r.full_name)))
                .and(header("authorization", bearer.as_str()))
                .respond_with(scoped(
                    "read:repository",
                    if r.pull { json(200, repo) } else { not_found.clone() },
                ))
                .mount(self.server)
                .await;
            Mock::given(method("GET"))
                .and(self.path(&format!("/api/v1/repos/{}/hooks", r.full_name)))
                .and(header("authorization", bearer.as_str()))
                .respond_with(scoped(
                    "read:repository",
                    match (r.pull, r.admin) {
                        (true, true) => json(200, json!([])),
                        (true, false) => json(
                            403,
                            json!({"message": "token does not have admin permission on the repository"}),
                        ),
                        _ => not_found.clone(),
                    },
                ))
                .mount(self.server)
                .await;
            let receive = if !r.pull {
                ResponseTemplate::new(404).set_body_string("Repository not found")
            } else if !gitea_covers(t.scopes, "write:repository") {
                ResponseTemplate::new(403)
                    .insert_header("content-type", "text/plain; charset=utf-8")
                    .set_body_string("Forbidden\n")
            } else {
                ResponseTemplate::new(200).set_body_raw(
                    "001f# service=git-receive-pack\n0000",
                    "application/x-git-receive-pack-advertisement",
                )
            };
            let upload = if r.pull && gitea_covers(t.scopes, "read:repository") {
                ResponseTemplate::new(200).set_body_raw(
                    "001e# service=git-upload-pack\n0000",
                    "application/x-git-upload-pack-advertisement",
                )
            } else {
                ResponseTemplate::new(404).set_body_string("Repository not found")
            };
            Mock::given(method("GET"))
                .and(self.path(&format!("/{}.git/info/refs", r.full_name)))
                .and(wiremock::matchers::query_param("service", "git-upload-pack"))
                .and(BasicPassword(t.token.to_owned()))
                .respond_with(upload)
                .mount(self.server)
                .await;
            Mock::given(method("GET"))
                .and(self.path(&format!("/{}.git/info/refs", r.full_name)))
                .and(wiremock::matchers::query_param("service", "git-receive-pack"))
                .and(BasicPassword(t.token.to_owned()))
                .respond_with(receive)
                .mount(self.server)
                .await;
        }
    }

    /// Every other credential: 401 (the API), or asked for Basic (Git).
    pub async fn reject_others(&self) {
        Mock::given(method("GET"))
            .and(wiremock::matchers::path_regex(format!("^{}/", self.prefix)))
            .respond_with(
                ResponseTemplate::new(401)
                    .insert_header("www-authenticate", "Basic realm=\"Gitea\"")
                    .set_body_json(json!({"message": "user does not exist [uid: 0, name: ]"})),
            )
            .with_priority(10)
            .mount(self.server)
            .await;
    }
}

// ---------------------------------------------------------------------------------------------------
// Azure DevOps

/// Azure DevOps Services as it answers a PAT, by the shared reference's §10: a wrong PAT gets 203 with
/// the sign-in page; an expired one a 401 saying so; a valid PAT without the scope a call needs a 401;
/// `connectionData` wants a `-preview` api-version; the receive-pack advertisement refuses an identity
/// without Contribute with 403 and TF401027. Whether a Code (Read)-only PAT is refused at the
/// receive-pack advertisement is not confirmed: this stand-in advertises, the worst case.
pub struct AzureDevops<'a> {
    pub server: &'a MockServer,
    /// Where on the server the service root lives (`""` for the root).
    pub prefix: String,
}

/// One PAT: its organisation, scopes, and the repositories (`project/repo`) its user may read and
/// contribute to.
#[derive(Debug, Clone, Copy)]
pub struct AzurePat<'a> {
    pub pat: &'a str,
    pub org: &'a str,
    pub account: &'a str,
    pub scopes: &'a [&'a str],
    /// `(project/repo, contribute)`.
    pub repos: &'a [(&'a str, bool)],
    pub expired: bool,
}

/// Azure DevOps's answer to bad credentials: 203 with its sign-in page.
pub fn azure_sign_in() -> ResponseTemplate {
    ResponseTemplate::new(203).set_body_raw(
        "<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head><body></body></html>",
        "text/html; charset=utf-8",
    )
}

impl<'a> AzureDevops<'a> {
    pub fn on(server: &'a MockServer) -> Self {
        Self::with_prefix(server, "")
    }

    pub fn with_prefix(server: &'a MockServer, prefix: &str) -> Self {
        Self {
            server,
            prefix: prefix.to_owned(),
        }
    }

    /// The service root (`apiUrl` and `gitUrl`).
    pub fn url(&self) -> String {
        format!("{}{}", self.server.uri(), self.prefix)
    }

    fn within(&self) -> wiremock::matchers::PathRegexMatcher {
        wiremock::matchers::path_regex(format!("^{}/", self.prefix))
    }

    pub async fn pat(&self, p: AzurePat<'_>) {
        let has = |s: &str| {
            let code = ["vso.code", "vso.code_write", "vso.code_manage", "vso.code_full"];
            let rank = |x: &str| code.iter().position(|c| *c == x);
            match rank(s) {
                Some(want) => p.scopes.iter().any(|h| rank(h).is_some_and(|r| r >= want)),
                None => p.scopes.contains(&s),
            }
        };
        let auth = BasicPassword(p.pat.to_owned());
        if p.expired {
            Mock::given(method("GET"))
                .and(self.within())
                .and(auth)
                .respond_with(
                    ResponseTemplate::new(401)
                        .set_body_string("Access Denied: The Personal Access Token used has expired."),
                )
                .mount(self.server)
                .await;
            return;
        }
        Mock::given(method("GET"))
            .and(path(format!("{}/{}/_apis/connectionData", self.prefix, p.org)))
            .and(wiremock::matchers::query_param("api-version", "7.1-preview"))
            .and(BasicPassword(p.pat.to_owned()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "authenticatedUser": {
                    "id": "6a1b9a9e-0000-0000-0000-000000000001",
                    "descriptor": "Microsoft.IdentityModel.Claims.ClaimsIdentity;acme\\\\gitops-bot",
                    "providerDisplayName": "GitOps Bot",
                    "isActive": true,
                    "properties": {"Account": {"$type": "System.String", "$value": p.account}}
                },
                "instanceId": "00000000-0000-0000-0000-00000000abcd",
                "locationServiceData": {"serviceOwner": "00025394-6065-48ca-87d9-7f5672854ef7"}
            })))
            .mount(self.server)
            .await;
        for (repo, contribute) in p.repos {
            let (project, name) = repo.split_once('/').unwrap_or((repo, repo));
            let refs = format!("{}/{}/{project}/_git/{name}/info/refs", self.prefix, p.org);
            let upload = if has("vso.code") {
                ResponseTemplate::new(200).set_body_raw(
                    "001e# service=git-upload-pack\n0000",
                    "application/x-git-upload-pack-advertisement",
                )
            } else {
                ResponseTemplate::new(401).insert_header("www-authenticate", "Basic realm=\"https://dev.azure.com/\"")
            };
            Mock::given(method("GET"))
                .and(path(refs.clone()))
                .and(wiremock::matchers::query_param("service", "git-upload-pack"))
                .and(BasicPassword(p.pat.to_owned()))
                .respond_with(upload)
                .mount(self.server)
                .await;
            let receive = if !has("vso.code") {
                ResponseTemplate::new(401)
            } else if !contribute {
                ResponseTemplate::new(403).set_body_raw(
                    "001f# service=git-receive-pack\n0000009cTF401027: You need the Git 'GenericContribute' permission to perform this action. Details: identity 'GitOps Bot', scope 'repository'.\n0000",
                    "application/x-git-receive-pack-advertisement",
                )
            } else {
                ResponseTemplate::new(200).set_body_raw(
                    "001f# service=git-receive-pack\n0000",
                    "application/x-git-receive-pack-advertisement",
                )
            };
            Mock::given(method("GET"))
                .and(path(refs))
                .and(wiremock::matchers::query_param("service", "git-receive-pack"))
                .and(BasicPassword(p.pat.to_owned()))
                .respond_with(receive)
                .mount(self.server)
                .await;
        }
        // Whatever else this PAT asks: a valid PAT without the scope (or the repository) gets 401.
        Mock::given(method("GET"))
            .and(self.within())
            .and(BasicPassword(p.pat.to_owned()))
            .respond_with(ResponseTemplate::new(401))
            .with_priority(9)
            .mount(self.server)
            .await;
    }

    /// Every other credential: the sign-in page.
    pub async fn reject_others(&self) {
        Mock::given(method("GET"))
            .and(self.within())
            .respond_with(azure_sign_in())
            .with_priority(10)
            .mount(self.server)
            .await;
    }
}
