//! Provider introspection: ask a Git provider, read-only, what a token is and may do.
//!
//! Each provider module turns one or a few `GET`s into a [`Grant`] or an [`IntrospectError`]; it makes
//! no policy decision. Requests go only to the configured API base URL, redirects are never followed, and
//! the token travels only in a header marked sensitive.

pub mod bitbucket_cloud;
pub mod bitbucket_server;
pub mod github;
pub mod github_app;
pub mod gitlab;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use jiff::Timestamp;
use url::Url;

use crate::config::{Provider, ProviderKind};
use crate::credential::TokenField;
use crate::kind::TokenKind;
use crate::token::Token;

/// What a probe established about one permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Granted,
    /// Refused, and why (which repository, which answer).
    Denied(String),
    /// Could not be established without a side effect, or the answers disagreed.
    Unknown(String),
}

/// A GitLab project or group access token's role on the project it was checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub project: String,
    /// `permissions.*.access_level`, the higher of project and group; `None` when not a member.
    pub level: Option<u8>,
    /// Why the level could not be read, when it could not.
    pub error: Option<String>,
}

/// A set of scopes, shared: many tokens carry the same scopes, and the grant cache keeps one copy.
pub type Scopes = std::sync::Arc<BTreeSet<String>>;

/// What the provider said about a token it accepted. Kept small: a cache holds many of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The token kind, refined by what the provider reported.
    pub kind: TokenKind,
    /// The complete list of scopes (or permissions) the provider reports for the token; `None` when it
    /// lists none for this kind.
    pub scopes: Option<Scopes>,
    /// Per-permission results of probes, for kinds whose permissions no API lists.
    pub checks: BTreeMap<String, Check>,
    /// A project or group access token's role on the probed project.
    pub access: Option<Box<Access>>,
    /// Repositories the credential was asked about and cannot reach.
    pub unreachable: Vec<String>,
    pub expires_at: Option<Timestamp>,
    /// Who the token acts as (a login or bot name).
    pub owner: Option<std::sync::Arc<str>>,
    pub owner_is_bot: Option<bool>,
    /// Why what the token may do could not be established at all, when it could not.
    pub unverified: Option<String>,
}

impl Grant {
    pub fn new(kind: TokenKind) -> Self {
        Self {
            kind,
            scopes: None,
            checks: BTreeMap::new(),
            access: None,
            unreachable: Vec::new(),
            expires_at: None,
            owner: None,
            owner_is_bot: None,
            unverified: None,
        }
    }
}

/// Why introspection gave no grant. Only `Rejected` makes a token invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntrospectError {
    /// The provider refused the token itself (401, revoked, expired), or it cannot work at all.
    #[error("{detail}")]
    Rejected { detail: String },
    /// The provider is rate limiting; try again later.
    #[error("{detail}")]
    RateLimited {
        detail: String,
        retry_after: Option<Duration>,
    },
    /// The provider could not be asked (unreachable, timeout, 5xx, an answer that makes no sense).
    #[error("{detail}")]
    Unavailable { detail: String },
    /// The token kind has no way to be inspected.
    #[error("{reason}")]
    NotIntrospectable { reason: String },
}

/// What to introspect.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub kind: TokenKind,
    pub token: &'a Token,
    pub username: Option<&'a str>,
    /// Which Secret field held the token (Bitbucket Data Center: `bearerToken` means Bearer).
    pub field: TokenField,
    /// The repository (or prefix) path from the Secret's URL, e.g. `org/repo`.
    pub repo_path: &'a str,
    /// Repositories (paths on this host) to probe, for kinds whose permissions no API lists.
    pub targets: &'a [String],
    /// The permissions the role needs, in the provider's vocabulary, for those probes.
    pub wanted: &'a [&'static str],
}

/// The HTTP client every provider call goes through: pooled connections (keep-alive, HTTP/2 where
/// offered), no redirects, a timeout per request.
#[derive(Clone)]
pub struct ProviderClient {
    http: reqwest::Client,
    timeout: Duration,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

/// The most of a provider's answer scopegate will read.
const MAX_BODY: usize = 1 << 20;
const USER_AGENT: &str = concat!("scopegate/", env!("CARGO_PKG_VERSION"));

/// A provider's answer.
pub(crate) struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
    }

    /// The provider's own error text, for a message: `message`, `error_description` or `error.message`,
    /// shortened, with the token scrubbed should a provider ever echo it.
    pub fn error_text(&self, token: &Token) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        let text = v
            .get("error_description")
            .or_else(|| v.get("message"))
            .or_else(|| v.get("error").and_then(|e| e.get("message")))
            .or_else(|| v.get("error"))
            .and_then(|m| m.as_str())?;
        Some(scrub(text, token))
    }

    /// When this answer is a rate-limit refusal: how long the provider asks to wait.
    pub fn rate_limited(&self) -> Option<Option<Duration>> {
        let retry_after = self
            .header("retry-after")
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs);
        let remaining_zero = ["x-ratelimit-remaining", "ratelimit-remaining"]
            .iter()
            .any(|h| self.header(h) == Some("0"));
        let limited = self.status == StatusCode::TOO_MANY_REQUESTS
            || (self.status == StatusCode::FORBIDDEN && (remaining_zero || retry_after.is_some()));
        if !limited {
            return None;
        }
        let until_reset = ["x-ratelimit-reset", "ratelimit-reset"]
            .iter()
            .find_map(|h| self.header(h).and_then(|v| v.parse::<i64>().ok()))
            .and_then(|reset| {
                let now = Timestamp::now().as_second();
                u64::try_from(reset - now).ok().map(Duration::from_secs)
            });
        Some(retry_after.or(until_reset))
    }
}

/// Replace the token in provider-sourced text and keep it short.
pub(crate) fn scrub(text: &str, token: &Token) -> String {
    let mut s = if token.is_empty() {
        text.to_owned()
    } else {
        text.replace(token.expose(), "<redacted>")
    };
    if s.chars().count() > 200 {
        s = s.chars().take(200).collect::<String>() + "…";
    }
    s.replace(['\n', '\r'], " ")
}

/// How a request authenticates.
#[derive(Clone, Copy)]
pub(crate) enum Auth<'a> {
    Bearer(&'a Token),
    /// HTTP Basic, as Git clients send it.
    Basic(&'a str, &'a Token),
    /// A signed JWT (GitHub App).
    Jwt(&'a Token),
}

impl<'a> Auth<'a> {
    /// The secret this authentication carries, to scrub from provider texts.
    pub(crate) fn secret(&self) -> &'a Token {
        match self {
            Auth::Bearer(t) | Auth::Basic(_, t) | Auth::Jwt(t) => t,
        }
    }

    fn header(&self) -> Option<HeaderValue> {
        let text = match self {
            Auth::Bearer(t) => format!("Bearer {}", t.expose()),
            Auth::Basic(user, t) => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", t.expose()))
            ),
            Auth::Jwt(jwt) => format!("Bearer {}", jwt.expose()),
        };
        let mut v = HeaderValue::from_str(&text).ok()?;
        v.set_sensitive(true);
        Some(v)
    }
}

impl ProviderClient {
    pub fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(32)
            .build()?;
        Ok(Self {
            http,
            timeout,
            metrics: None,
        })
    }

    /// Count and time every request in these metrics.
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// `GET url` with the token; the answer, whatever its status, or `Unavailable` when none came.
    ///
    /// This is the only way scopegate talks to a provider, and it only ever sends `GET`: every probe is
    /// side-effect free by construction.
    pub(crate) async fn get(
        &self,
        provider: &Provider,
        url: Url,
        auth: Auth<'_>,
        headers: &[(&'static str, &'static str)],
    ) -> Result<Response, IntrospectError> {
        let started = std::time::Instant::now();
        let result = self.fetch(url, auth, headers).await;
        let outcome = match &result {
            Ok(r) if r.rate_limited().is_some() => "rate_limited",
            Ok(r) if r.status.is_success() => "ok",
            Ok(r) if r.status == StatusCode::UNAUTHORIZED => "unauthorized",
            Ok(r) if r.status.is_redirection() => "redirect",
            Ok(r) if r.status.is_server_error() => "server_error",
            Ok(_) => "client_error",
            Err(IntrospectError::Unavailable { detail }) if detail.starts_with("no answer within") => "timeout",
            Err(_) => "connection_error",
        };
        if let Some(m) = &self.metrics {
            let provider = provider.host.clone();
            m.provider_requests
                .get_or_create(&crate::metrics::ProviderOutcomeLabels {
                    provider: provider.clone(),
                    outcome,
                })
                .inc();
            m.provider_duration
                .get_or_create(&crate::metrics::ProviderLabels { provider })
                .observe(started.elapsed().as_secs_f64());
        }
        result
    }

    async fn fetch(
        &self,
        url: Url,
        auth: Auth<'_>,
        headers: &[(&'static str, &'static str)],
    ) -> Result<Response, IntrospectError> {
        let mut req = self.http.get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let value = auth.header().ok_or_else(|| IntrospectError::Rejected {
            detail: "the credential contains characters that cannot be sent in an HTTP header".into(),
        })?;
        req = req.header(http::header::AUTHORIZATION, value);
        let mut resp = req.send().await.map_err(|e| self.transport_error(&e))?;
        let status = resp.status();
        let headers = std::mem::take(resp.headers_mut());
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport_error(&e))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(IntrospectError::Unavailable {
                    detail: format!("the answer is larger than {} KiB", MAX_BODY / 1024),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            headers,
            body: body.into(),
        })
    }

    fn transport_error(&self, e: &reqwest::Error) -> IntrospectError {
        let detail = if e.is_timeout() {
            format!("no answer within {}", humantime::format_duration(self.timeout))
        } else if e.is_connect() {
            format!("cannot connect: {}", root_cause(e))
        } else {
            format!("the request failed: {}", root_cause(e))
        };
        IntrospectError::Unavailable { detail }
    }

    /// Ask the provider about a token.
    pub async fn introspect(&self, provider: &Provider, req: &Request<'_>) -> Result<Grant, IntrospectError> {
        match provider.kind {
            ProviderKind::Github => github::introspect(self, provider, req).await,
            ProviderKind::Gitlab => gitlab::introspect(self, provider, req).await,
            ProviderKind::BitbucketCloud => bitbucket_cloud::introspect(self, provider, req).await,
            ProviderKind::BitbucketServer => bitbucket_server::introspect(self, provider, req).await,
        }
    }

    /// Ask GitHub about an app installation.
    pub async fn introspect_app(
        &self,
        provider: &Provider,
        req: &github_app::AppRequest<'_>,
    ) -> Result<Grant, IntrospectError> {
        github_app::introspect(self, provider, req).await
    }

    /// The Git receive-pack advertisement, `GET {repo}.git/info/refs?service=git-receive-pack`: the
    /// first request of `git push`, which lists refs and changes nothing. `Some(true)` when the server
    /// advertises (push allowed), `Some(false)` when it refuses, `None` when the answer says neither.
    pub(crate) async fn receive_pack(
        &self,
        provider: &Provider,
        repo_git_url: Url,
        auth: Auth<'_>,
    ) -> Result<Option<bool>, IntrospectError> {
        let resp = self
            .advertisement(provider, repo_git_url, auth, "git-receive-pack")
            .await?;
        Ok(match resp.status.as_u16() {
            200 if advertises(&resp, "git-receive-pack") => Some(true),
            403 | 404 => Some(false),
            _ => None,
        })
    }

    /// The Git upload-pack advertisement, `GET {repo}.git/info/refs?service=git-upload-pack`: the first
    /// request of `git clone` and `git fetch` (what Argo CD's repo server sends), which lists refs and
    /// changes nothing. `Ok(Ok(()))` when the server advertises (the credential can read the
    /// repository), `Ok(Err(why))` when it refuses, `Err` when it cannot be asked or says neither.
    pub(crate) async fn upload_pack(
        &self,
        provider: &Provider,
        repo_git_url: Url,
        auth: Auth<'_>,
    ) -> Result<Result<(), String>, IntrospectError> {
        let resp = self
            .advertisement(provider, repo_git_url, auth, "git-upload-pack")
            .await?;
        match resp.status.as_u16() {
            200 if advertises(&resp, "git-upload-pack") => Ok(Ok(())),
            s @ (401 | 403 | 404) => Ok(Err(format!(
                "the Git server answered HTTP {s}: the repository does not exist or this credential cannot read it"
            ))),
            s => Err(IntrospectError::Unavailable {
                detail: format!(
                    "the Git server answered HTTP {s}{}, not a Git advertisement",
                    resp.header("content-type")
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default()
                ),
            }),
        }
    }

    /// `GET {repo}.git/info/refs?service={service}`, with rate limits and server errors as errors.
    async fn advertisement(
        &self,
        provider: &Provider,
        repo_git_url: Url,
        auth: Auth<'_>,
        service: &str,
    ) -> Result<Response, IntrospectError> {
        let mut url = repo_git_url;
        url.set_query(Some(&format!("service={service}")));
        let resp = self.get(provider, url, auth, &[("git-protocol", "version=2")]).await?;
        if let Some(retry_after) = resp.rate_limited() {
            return Err(IntrospectError::RateLimited {
                detail: format!("the Git server is rate limiting (HTTP {})", resp.status.as_u16()),
                retry_after,
            });
        }
        if resp.status.is_server_error() {
            return Err(IntrospectError::Unavailable {
                detail: format!("the Git server answered HTTP {}", resp.status.as_u16()),
            });
        }
        Ok(resp)
    }
}

/// How a Git client (Argo CD's repo server) authenticates with a token over HTTPS: HTTP Basic with the
/// Secret's `username`, or the name each provider documents for tokens when it has none; a
/// `bearerToken` (Bitbucket Data Center) as Bearer.
pub(crate) fn git_auth<'a>(
    kind: ProviderKind,
    field: TokenField,
    username: Option<&'a str>,
    token: &'a Token,
) -> Auth<'a> {
    if field == TokenField::BearerToken {
        return Auth::Bearer(token);
    }
    let default = match kind {
        ProviderKind::Github => "x-access-token",
        ProviderKind::Gitlab => "oauth2",
        ProviderKind::BitbucketCloud => "x-token-auth",
        ProviderKind::BitbucketServer => return username.map_or(Auth::Bearer(token), |u| Auth::Basic(u, token)),
    };
    Auth::Basic(username.filter(|u| !u.is_empty()).unwrap_or(default), token)
}

/// Whether a 200 answer is the Git smart-HTTP advertisement of `service`.
fn advertises(resp: &Response, service: &str) -> bool {
    resp.header("content-type")
        .is_some_and(|c| c.starts_with(&format!("application/x-{service}-advertisement")))
}

/// The innermost cause of an error (the OS error or TLS alert), which is what a person can act on.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// `{api_url}/{segments…}`, each segment escaped.
pub(crate) fn api_url(provider: &Provider, segments: &[&str]) -> Url {
    join_url(&provider.api_url, segments)
}

/// `{base}/{segments…}`, each segment escaped.
pub(crate) fn join_url(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        path.extend(segments);
    }
    url
}

/// `{git_url}/{path}.git`, the repository's Git-over-HTTPS address.
pub(crate) fn git_repo_url(provider: &Provider, path: &str) -> Url {
    let mut segs: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect();
    if let Some(last) = segs.last_mut()
        && !last.ends_with(".git")
    {
        last.push_str(".git");
    }
    segs.extend(["info".to_owned(), "refs".to_owned()]);
    let refs: Vec<&str> = segs.iter().map(String::as_str).collect();
    join_url(&provider.git_url, &refs)
}

/// A comma-separated scope header (`X-OAuth-Scopes: repo, user`) as a set. An empty header is no scopes.
pub fn parse_scope_list(v: &str) -> Scopes {
    std::sync::Arc::new(
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

/// Fold per-repository probe results: denied anywhere is denied, else unknown anywhere is unknown.
pub(crate) fn merge_check(into: &mut BTreeMap<String, Check>, cap: &str, check: Check) {
    let merged = match (into.remove(cap), check) {
        (None, c) => c,
        (Some(Check::Denied(a)), _) => Check::Denied(a),
        (_, Check::Denied(b)) => Check::Denied(b),
        (Some(Check::Unknown(a)), _) => Check::Unknown(a),
        (_, Check::Unknown(b)) => Check::Unknown(b),
        (Some(Check::Granted), Check::Granted) => Check::Granted,
    };
    into.insert(cap.to_owned(), merged);
}

/// The usual answer to a status that is neither success nor a refusal of the token.
pub(crate) fn unexpected(name: &str, resp: &Response, token: &Token) -> IntrospectError {
    if let Some(retry_after) = resp.rate_limited() {
        return IntrospectError::RateLimited {
            detail: format!("{name} is rate limiting (HTTP {})", resp.status.as_u16()),
            retry_after,
        };
    }
    let text = resp.error_text(token).map(|t| format!(": {t}")).unwrap_or_default();
    IntrospectError::Unavailable {
        detail: format!("{name} answered HTTP {}{text}", resp.status.as_u16()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&'static str, &str)], body: &str) -> Response {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers: h,
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn rate_limit_signals() {
        assert_eq!(resp(429, &[], "").rate_limited(), Some(None));
        assert_eq!(
            resp(429, &[("retry-after", "30")], "").rate_limited(),
            Some(Some(Duration::from_secs(30)))
        );
        assert!(
            resp(403, &[("x-ratelimit-remaining", "0")], "")
                .rate_limited()
                .is_some()
        );
        assert!(resp(403, &[("retry-after", "60")], "").rate_limited().is_some());
        assert!(resp(403, &[("ratelimit-remaining", "0")], "").rate_limited().is_some());
        assert_eq!(resp(403, &[("x-ratelimit-remaining", "4999")], "").rate_limited(), None);
        assert_eq!(resp(401, &[], "").rate_limited(), None);
        let reset = (Timestamp::now().as_second() + 120).to_string();
        let wait = resp(
            403,
            &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset)],
            "",
        )
        .rate_limited()
        .flatten()
        .unwrap();
        assert!(
            wait <= Duration::from_secs(120) && wait >= Duration::from_secs(100),
            "{wait:?}"
        );
    }

    #[test]
    fn error_text_is_short_and_scrubbed() {
        let t = Token::new("ghp_secret".into());
        assert_eq!(
            resp(401, &[], r#"{"message":"Bad credentials"}"#)
                .error_text(&t)
                .unwrap(),
            "Bad credentials"
        );
        assert_eq!(
            resp(
                401,
                &[],
                r#"{"error":"invalid_token","error_description":"Token is expired."}"#
            )
            .error_text(&t)
            .unwrap(),
            "Token is expired."
        );
        assert_eq!(
            resp(401, &[], r#"{"type":"error","error":{"message":"Token is invalid"}}"#)
                .error_text(&t)
                .unwrap(),
            "Token is invalid"
        );
        assert_eq!(
            resp(401, &[], r#"{"message":"bad ghp_secret here"}"#)
                .error_text(&t)
                .unwrap(),
            "bad <redacted> here"
        );
        assert!(resp(500, &[], "<html>").error_text(&t).is_none());
        let long = format!(r#"{{"message":"{}"}}"#, "x".repeat(500));
        assert!(resp(500, &[], &long).error_text(&t).unwrap().chars().count() <= 201);
    }

    #[test]
    fn api_urls_escape_segments() {
        let p = Provider {
            kind: ProviderKind::BitbucketCloud,
            host: "bitbucket.org".into(),
            api_url: Url::parse("https://api.bitbucket.org/2.0").unwrap(),
            git_url: Url::parse("https://bitbucket.org").unwrap(),
        };
        assert_eq!(
            api_url(&p, &["repositories", "ws", "re po"]).as_str(),
            "https://api.bitbucket.org/2.0/repositories/ws/re%20po"
        );
        let p = Provider {
            api_url: Url::parse("http://127.0.0.1:1/gh/").unwrap(),
            ..p
        };
        assert_eq!(api_url(&p, &["user"]).as_str(), "http://127.0.0.1:1/gh/user");
        assert_eq!(
            git_repo_url(&p, "ws/repo").as_str(),
            "https://bitbucket.org/ws/repo.git/info/refs"
        );
        assert_eq!(
            git_repo_url(&p, "scm/KEY/r.git").as_str(),
            "https://bitbucket.org/scm/KEY/r.git/info/refs"
        );
    }

    #[test]
    fn checks_merge_pessimistically() {
        let mut m = BTreeMap::new();
        merge_check(&mut m, "c", Check::Granted);
        assert_eq!(m["c"], Check::Granted);
        merge_check(&mut m, "c", Check::Unknown("u".into()));
        assert_eq!(m["c"], Check::Unknown("u".into()));
        merge_check(&mut m, "c", Check::Denied("d".into()));
        assert_eq!(m["c"], Check::Denied("d".into()));
        merge_check(&mut m, "c", Check::Granted);
        assert_eq!(m["c"], Check::Denied("d".into()));
    }

    #[test]
    fn basic_auth_is_what_git_sends() {
        let t = Token::new("tok".into());
        let h = Auth::Basic("x-access-token", &t).header().unwrap();
        assert_eq!(h.to_str().unwrap(), "Basic eC1hY2Nlc3MtdG9rZW46dG9r");
        assert!(h.is_sensitive());
        assert!(Auth::Bearer(&t).header().unwrap().is_sensitive());
    }
}
