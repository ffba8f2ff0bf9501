//! The one HTTP client every provider call goes through: `GET`, or one of the requests built to be
//! refused that [`RefusalProbe`] lists (and nothing else); no redirects, a timeout per request, at
//! most 1 MiB of an answer read, the credential in a header marked sensitive. Each request is reported
//! to a [`CallObserver`] (the front end's metrics), typed: this module imports nothing above it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use jiff::Timestamp;
use url::Url;

use super::refusal::{self, RefusalProbe};
use super::transport::{Transport, TransportError};
use crate::config::{Config, Provider};
use crate::grant::{IntrospectError, Unavailability};
use crate::token::Token;

/// How one provider call ended: the `outcome` label of `scopegate_provider_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum CallOutcome {
    Ok,
    Unauthorized,
    RateLimited,
    ClientError,
    ServerError,
    Redirect,
    Timeout,
    ConnectionError,
    /// Not made: the provider's circuit is open.
    CircuitOpen,
}

impl CallOutcome {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    fn of(result: &Result<Response, IntrospectError>) -> Self {
        match result {
            Ok(r) if r.rate_limit().is_some() => Self::RateLimited,
            Ok(r) if r.status.is_success() => Self::Ok,
            Ok(r) if r.status == StatusCode::UNAUTHORIZED => Self::Unauthorized,
            Ok(r) if r.status.is_redirection() => Self::Redirect,
            Ok(r) if r.status.is_server_error() => Self::ServerError,
            Ok(_) => Self::ClientError,
            Err(IntrospectError::Unavailable {
                why: Unavailability::Timeout,
                ..
            }) => Self::Timeout,
            Err(_) => Self::ConnectionError,
        }
    }
}

/// Where provider calls are reported. Implemented by the front end's metrics; [`NoObserver`] reports
/// nowhere.
pub trait CallObserver: Send + Sync {
    /// One HTTP request to the provider at `host`, how it ended and how long it took; a call not
    /// made (circuit open) has no duration.
    fn provider_call(&self, host: &str, outcome: CallOutcome, elapsed: Option<Duration>);
    /// The provider's circuit breaker opened (`true`) or closed.
    fn provider_circuit(&self, host: &str, open: bool);
    /// The provider at `host` accepted a request built to be refused ([`RefusalProbe`]).
    fn unexpected_success(&self, host: &str);
}

/// Reports nowhere.
pub struct NoObserver;

impl CallObserver for NoObserver {
    fn provider_call(&self, _: &str, _: CallOutcome, _: Option<Duration>) {}
    fn provider_circuit(&self, _: &str, _: bool) {}
    fn unexpected_success(&self, _: &str) {}
}

/// What a judgement's provider calls said about the credential's sender, noted as they are made: the
/// engine charges the client that sent a refused token (`server.invalidTokenBudget`). Scoped to the
/// task that makes the calls ([`noting`]); calls outside a scope note nothing.
#[derive(Debug, Default)]
pub struct Refusals {
    /// A provider answered 401: the token is wrong, revoked or expired.
    pub unauthorized: std::sync::atomic::AtomicBool,
    /// A provider refused the login after too many failed ones.
    pub throttled: std::sync::atomic::AtomicBool,
}

tokio::task_local! {
    static REFUSALS: Arc<Refusals>;
}

/// Run `calls` noting, in `into`, the refusals their answers carry (with `None`, just run them).
pub async fn noting<F: Future>(into: Option<Arc<Refusals>>, calls: F) -> F::Output {
    match into {
        Some(into) => REFUSALS.scope(into, calls).await,
        None => calls.await,
    }
}

/// Note a refusal in the current scope, if any.
pub fn note(what: impl FnOnce(&Refusals)) {
    let _ = REFUSALS.try_with(|r| what(r));
}

/// The most of a provider's answer scopegate will read.
const MAX_BODY: usize = 1 << 20;

/// A provider's answer.
pub(crate) struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A rate-limit refusal, and how long the provider asks to wait when it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateLimit {
    pub retry_after: Option<Duration>,
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

    /// Whether this answer is a rate-limit refusal: 429, or 403 with `retry-after` or no requests left.
    pub fn rate_limit(&self) -> Option<RateLimit> {
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
        Some(RateLimit {
            retry_after: retry_after.or(until_reset),
        })
    }

    /// The usual answer to a status that is neither success nor a refusal of the token.
    pub fn unexpected(&self, name: &str, token: &Token) -> IntrospectError {
        if let Some(limit) = self.rate_limit() {
            return IntrospectError::RateLimited {
                detail: format!("{name} is rate limiting (HTTP {})", self.status.as_u16()),
                retry_after: limit.retry_after,
            };
        }
        let text = self.error_text(token).map(|t| format!(": {t}")).unwrap_or_default();
        IntrospectError::unavailable(format!("{name} answered HTTP {}{text}", self.status.as_u16()))
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
pub enum Auth<'a> {
    /// No credential: what a client without one is told (a public repository's advertisement).
    Anonymous,
    Bearer(&'a Token),
    /// HTTP Basic, as Git clients send it.
    Basic(&'a str, &'a Token),
    /// A signed JWT (GitHub App).
    Jwt(&'a Token),
}

impl<'a> Auth<'a> {
    /// The secret this authentication carries, to scrub from provider texts (empty: none).
    pub(crate) fn secret(&self) -> &'a Token {
        static NONE: std::sync::LazyLock<Token> = std::sync::LazyLock::new(|| Token::new(String::new()));
        match self {
            Auth::Anonymous => &NONE,
            Auth::Bearer(t) | Auth::Basic(_, t) | Auth::Jwt(t) => t,
        }
    }

    fn header(&self) -> Option<HeaderValue> {
        let text = match self {
            Auth::Anonymous => return None,
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

/// What a request does: `GET`, or one request built to be refused. There is no other.
#[derive(Clone, Copy)]
enum Verb {
    Get,
    Refusal(RefusalProbe),
}

impl Verb {
    #[cfg(any(test, feature = "fuzzing"))]
    fn method(self) -> http::Method {
        match self {
            Verb::Get => http::Method::GET,
            Verb::Refusal(p) => p.method(),
        }
    }
}

/// One provider's way out and its bound on calls in flight.
struct Endpoint {
    transport: Transport,
    permits: tokio::sync::Semaphore,
}

/// The HTTP client every provider call goes through: per provider, its own transport (CA bundle,
/// proxy; pooled connections, HTTP/2 where offered, no redirects, a timeout per request) and at most
/// `providerConcurrency` calls in flight — however many judgements, and probes within one, want to
/// call at once.
#[derive(Clone)]
pub struct ProviderClient {
    endpoints: Arc<Mutex<HashMap<String, Arc<Endpoint>>>>,
    timeout: Duration,
    concurrency: usize,
    observer: Arc<dyn CallObserver>,
}

impl ProviderClient {
    /// A client for the configured providers; a CA bundle that does not load fails here, at start-up.
    pub fn new(config: &Config, observer: Arc<dyn CallObserver>) -> Result<Self, TransportError> {
        crate::install_crypto_provider();
        let client = Self {
            endpoints: Arc::new(Mutex::new(HashMap::new())),
            timeout: config.provider_timeout,
            concurrency: config.provider_concurrency,
            observer,
        };
        for provider in &config.providers {
            client.endpoint(provider)?;
        }
        Ok(client)
    }

    /// The endpoint for `provider`, made on first use (or when the provider's settings differ).
    fn endpoint(&self, provider: &Provider) -> Result<Arc<Endpoint>, TransportError> {
        let mut endpoints = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = endpoints.get(&provider.host)
            && e.transport.serves(provider)
        {
            return Ok(e.clone());
        }
        let e = Arc::new(Endpoint {
            transport: Transport::new(provider, self.timeout)?,
            permits: tokio::sync::Semaphore::new(self.concurrency),
        });
        endpoints.insert(provider.host.clone(), e.clone());
        Ok(e)
    }

    /// `GET url` with the credential; the answer, whatever its status, or `Unavailable` when none came.
    pub(crate) async fn get(
        &self,
        provider: &Provider,
        url: Url,
        auth: Auth<'_>,
        headers: &[(&'static str, &'static str)],
    ) -> Result<Response, IntrospectError> {
        self.send(provider, url, Verb::Get, auth, headers).await
    }

    /// A request built to be refused ([`RefusalProbe`]) on `owner/repo` of the provider's API, with the
    /// credential; the answer, whatever its status. Sent only to a provider whose `writeProbes` allows
    /// it (`Unavailable` otherwise: callers check first and say why). A 2xx — the provider accepted what
    /// it must refuse — is logged as an error and reported to the observer.
    pub(crate) async fn refuse(
        &self,
        provider: &Provider,
        probe: RefusalProbe,
        owner: &str,
        repo: &str,
        auth: Auth<'_>,
        headers: &[(&'static str, &'static str)],
    ) -> Result<Response, IntrospectError> {
        if !provider.write_probes {
            return Err(IntrospectError::unavailable(format!(
                "writeProbes is false for {}: scopegate sends it only GET and HEAD",
                provider.host
            )));
        }
        let url = super::api_url(provider, &probe.segments(owner, repo));
        let resp = self.send(provider, url, Verb::Refusal(probe), auth, headers).await?;
        if resp.status.is_success() {
            tracing::error!(
                provider = provider.host.as_str(),
                method = probe.method().as_str(),
                path = probe.path_template().as_str(),
                status = resp.status.as_u16(),
                "the provider accepted a request built to be refused; it is not read as a grant"
            );
            self.observer.unexpected_success(&provider.host);
        }
        Ok(resp)
    }

    /// Send one request: this is the only way scopegate talks to a provider, and it only ever sends
    /// `GET` or one of the [`RefusalProbe`]s, with their fixed method and body.
    async fn send(
        &self,
        provider: &Provider,
        url: Url,
        verb: Verb,
        auth: Auth<'_>,
        headers: &[(&'static str, &'static str)],
    ) -> Result<Response, IntrospectError> {
        #[cfg(any(test, feature = "fuzzing"))]
        if let Some(result) = scripted::answer(&url, verb.method(), auth) {
            return self.answered(provider, result, None);
        }
        let endpoint = self
            .endpoint(provider)
            .map_err(|e| IntrospectError::unavailable(e.to_string()))?;
        let Ok(_permit) = endpoint.permits.acquire().await else {
            return Err(IntrospectError::unavailable("scopegate is shutting down"));
        };
        let http = endpoint.transport.client();
        let started = std::time::Instant::now();
        let result = self
            .fetch(&http, url, verb, auth, headers)
            .await
            .map_err(|e| scrub_error(e, endpoint.transport.proxy_password()));
        self.answered(provider, result, Some(started.elapsed()))
    }

    /// Note a refusal of the token and report the call.
    fn answered(
        &self,
        provider: &Provider,
        result: Result<Response, IntrospectError>,
        elapsed: Option<Duration>,
    ) -> Result<Response, IntrospectError> {
        if let Ok(r) = &result
            && r.status == StatusCode::UNAUTHORIZED
        {
            note(|n| n.unauthorized.store(true, std::sync::atomic::Ordering::Relaxed));
        }
        self.observer
            .provider_call(&provider.host, CallOutcome::of(&result), elapsed);
        result
    }

    async fn fetch(
        &self,
        http: &reqwest::Client,
        url: Url,
        verb: Verb,
        auth: Auth<'_>,
        headers: &[(&'static str, &'static str)],
    ) -> Result<Response, IntrospectError> {
        let mut req = match verb {
            Verb::Get => http.get(url),
            Verb::Refusal(probe) => http
                .request(probe.method(), url)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(refusal::BODY),
        };
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if !matches!(auth, Auth::Anonymous) {
            let value = auth.header().ok_or_else(|| IntrospectError::Rejected {
                detail: "the credential contains characters that cannot be sent in an HTTP header".into(),
            })?;
            req = req.header(http::header::AUTHORIZATION, value);
        }
        let mut resp = req.send().await.map_err(|e| self.transport_error(&e))?;
        let status = resp.status();
        let headers = std::mem::take(resp.headers_mut());
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport_error(&e))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(IntrospectError::Unavailable {
                    detail: format!("the answer is larger than {} KiB", MAX_BODY / 1024),
                    why: Unavailability::Connection,
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
        let (detail, why) = if e.is_timeout() {
            (
                format!("no answer within {}", humantime::format_duration(self.timeout)),
                Unavailability::Timeout,
            )
        } else if e.is_connect() {
            (format!("cannot connect: {}", root_cause(e)), Unavailability::Connection)
        } else {
            (
                format!("the request failed: {}", root_cause(e)),
                Unavailability::Connection,
            )
        };
        IntrospectError::Unavailable { detail, why }
    }
}

/// Answers from a script instead of the network, for the fuzz targets and the tests of how each
/// provider's answers are read (the fuzz harnesses). Compiled only into those builds: scopegate itself
/// has no way to answer a call but the provider.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod scripted {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use url::Url;

    use super::{Auth, Response};
    use crate::grant::IntrospectError;

    /// The answers still to give, in order, and what was asked.
    #[derive(Default)]
    pub struct Script {
        pub answers: VecDeque<Response>,
        /// Each call's URL.
        pub asked: Vec<Url>,
        /// Each call's method.
        pub methods: Vec<http::Method>,
        /// The secrets the calls carried (to check that none ends up in what scopegate shows).
        pub secrets: Vec<String>,
    }

    tokio::task_local! {
        static SCRIPT: Arc<Mutex<Script>>;
    }

    /// Run `calls` with their provider answers taken from `script`.
    pub async fn with<F: Future>(script: Arc<Mutex<Script>>, calls: F) -> F::Output {
        SCRIPT.scope(script, calls).await
    }

    /// The next scripted answer, when a script is in force; once it has run out, no answer came.
    pub(super) fn answer(url: &Url, method: http::Method, auth: Auth<'_>) -> Option<Result<Response, IntrospectError>> {
        SCRIPT
            .try_with(|s| {
                let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
                s.asked.push(url.clone());
                s.methods.push(method);
                s.secrets.push(auth.secret().expose().to_owned());
                s.answers
                    .pop_front()
                    .ok_or_else(|| IntrospectError::unavailable("cannot connect: the script has no more answers"))
            })
            .ok()
    }
}

/// Keep the proxy's password out of an error's text, should a transport error ever quote it.
fn scrub_error(e: IntrospectError, password: Option<String>) -> IntrospectError {
    match (e, password) {
        (IntrospectError::Unavailable { detail, why }, Some(p)) if !p.is_empty() => IntrospectError::Unavailable {
            detail: detail.replace(&p, "<redacted>"),
            why,
        },
        (e, _) => e,
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

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn resp(status: u16, headers: &[(&'static str, &str)], body: &str) -> Response {
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
        let limited = |r: Response| r.rate_limit().map(|l| l.retry_after);
        assert_eq!(limited(resp(429, &[], "")), Some(None));
        assert_eq!(
            limited(resp(429, &[("retry-after", "30")], "")),
            Some(Some(Duration::from_secs(30)))
        );
        assert!(limited(resp(403, &[("x-ratelimit-remaining", "0")], "")).is_some());
        assert!(limited(resp(403, &[("retry-after", "60")], "")).is_some());
        assert!(limited(resp(403, &[("ratelimit-remaining", "0")], "")).is_some());
        assert_eq!(limited(resp(403, &[("x-ratelimit-remaining", "4999")], "")), None);
        assert_eq!(limited(resp(401, &[], "")), None);
        let reset = (Timestamp::now().as_second() + 120).to_string();
        let wait = limited(resp(
            403,
            &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset)],
            "",
        ))
        .flatten()
        .unwrap();
        // The reset is 120 s away when the answer is built; the margin covers a slow test machine.
        assert!(
            wait <= Duration::from_secs(120) && wait >= Duration::from_secs(100),
            "{wait:?}"
        );
    }

    #[test]
    fn error_text_is_short_and_scrubbed() {
        let t = Token::new("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".into());
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
            resp(
                401,
                &[],
                r#"{"message":"bad 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 here"}"#
            )
            .error_text(&t)
            .unwrap(),
            "bad <redacted> here"
        );
        assert!(resp(500, &[], "<html>").error_text(&t).is_none());
        let long = format!(r#"{{"message":"{}"}}"#, "x".repeat(500));
        assert!(resp(500, &[], &long).error_text(&t).unwrap().chars().count() <= 201);
    }

    #[test]
    fn outcomes_are_the_metric_label_values() {
        use strum::IntoEnumIterator;
        let names: Vec<&str> = CallOutcome::iter().map(CallOutcome::as_str).collect();
        assert_eq!(
            names,
            [
                "ok",
                "unauthorized",
                "rate_limited",
                "client_error",
                "server_error",
                "redirect",
                "timeout",
                "connection_error",
                "circuit_open"
            ]
        );
        assert_eq!(CallOutcome::of(&Ok(resp(404, &[], ""))), CallOutcome::ClientError);
        assert_eq!(
            CallOutcome::of(&Err(IntrospectError::Unavailable {
                detail: String::new(),
                why: Unavailability::Timeout
            })),
            CallOutcome::Timeout
        );
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
