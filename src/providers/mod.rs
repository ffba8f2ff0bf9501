//! Provider introspection: ask a Git provider, read-only, what a token is and may do.
//!
//! Each provider module turns one or a few `GET`s into a [`Grant`] or an [`IntrospectError`]; it makes
//! no policy decision. Requests go only to the configured API base URL, redirects are never followed, and
//! the token travels only in a header marked sensitive.

pub mod bitbucket_cloud;
pub mod github;
pub mod gitlab;

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use jiff::Timestamp;
use url::Url;

use crate::config::{Provider, ProviderKind};
use crate::kind::TokenKind;
use crate::token::Token;

/// What the provider said about a token it accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The token kind, refined by what the provider reported.
    pub kind: TokenKind,
    /// The scopes as the provider reported them; `None` when it does not report any for this kind.
    pub scopes: Option<BTreeSet<String>>,
    pub expires_at: Option<Timestamp>,
    /// Who the token acts as (a login or bot name).
    pub owner: Option<String>,
    pub owner_is_bot: Option<bool>,
    /// Why the scopes could not be established, when they could not.
    pub unverified: Option<String>,
}

impl Grant {
    pub fn new(kind: TokenKind) -> Self {
        Self {
            kind,
            scopes: None,
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
    /// The provider refused the token itself (401, revoked, expired).
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
    /// The repository (or prefix) path from the Secret's URL, e.g. `org/repo`.
    pub repo_path: &'a str,
}

/// The HTTP client every provider call goes through.
#[derive(Clone)]
pub struct ProviderClient {
    http: reqwest::Client,
    timeout: Duration,
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
pub(crate) enum Auth<'a> {
    Bearer(&'a Token),
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
            .build()?;
        Ok(Self { http, timeout })
    }

    /// `GET url` with the token; the answer, whatever its status, or `Unavailable` when none came.
    pub(crate) async fn get(
        &self,
        url: Url,
        auth: Auth<'_>,
        headers: &[(&'static str, &'static str)],
    ) -> Result<Response, IntrospectError> {
        let mut req = self.http.get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let Auth::Bearer(token) = auth;
        let mut value =
            HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| IntrospectError::Rejected {
                detail: "the token contains characters that cannot be sent in an HTTP header".into(),
            })?;
        value.set_sensitive(true);
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
        }
    }
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
    let mut url = provider.api_url.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        path.extend(segments);
    }
    url
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
    }
}
