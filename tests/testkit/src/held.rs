//! A GitHub `GET /user` stand-in that holds its answers: every request waits until the test releases
//! them, or until a given number of requests are waiting together. A test then knows, without
//! sleeping, that calls overlap (they cannot all arrive if they were made one after another) or that
//! something happened while calls were out.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;

struct Shared {
    /// Requests that arrived, ever.
    arrived: watch::Sender<usize>,
    released: watch::Sender<bool>,
    release_at: Option<usize>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    login: String,
    scopes: String,
}

/// The stand-in; its server runs until the test's runtime ends.
pub struct HeldGithub {
    /// The `apiUrl` to configure.
    pub uri: String,
    shared: Arc<Shared>,
}

async fn answer(State(s): State<Arc<Shared>>) -> Response {
    let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    s.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let mut arrived = 0;
    s.arrived.send_modify(|n| {
        *n += 1;
        arrived = *n;
    });
    if s.release_at.is_some_and(|at| arrived >= at) {
        s.released.send_replace(true);
    }
    let mut released = s.released.subscribe();
    let _ = released.wait_for(|r| *r).await;
    s.in_flight.fetch_sub(1, Ordering::SeqCst);
    let mut headers = HeaderMap::new();
    for (k, v) in [
        ("content-type", "application/json; charset=utf-8"),
        ("x-oauth-scopes", s.scopes.as_str()),
        ("x-github-api-version-selected", "2022-11-28"),
        ("x-ratelimit-remaining", "4999"),
    ] {
        if let Ok(v) = v.parse() {
            headers.insert(k, v);
        }
    }
    (headers, axum::Json(crate::standin::github_user(&s.login, "User"))).into_response()
}

impl HeldGithub {
    /// Answers for a classic token of `login` with `scopes`, held until [`release`](Self::release),
    /// or, with `release_at`, until that many requests are waiting at once.
    pub async fn start(login: &str, scopes: &str, release_at: Option<usize>) -> Self {
        let shared = Arc::new(Shared {
            arrived: watch::channel(0).0,
            released: watch::channel(false).0,
            release_at,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            login: login.into(),
            scopes: scopes.into(),
        });
        let app = axum::Router::new().fallback(answer).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            uri: format!("http://{addr}"),
            shared,
        }
    }

    /// Wait until `n` requests have arrived (they are held until released).
    pub async fn arrived(&self, n: usize) {
        let mut rx = self.shared.arrived.subscribe();
        let _ = rx.wait_for(|a| *a >= n).await;
    }

    /// Let every held request, and every later one, have its answer.
    pub fn release(&self) {
        self.shared.released.send_replace(true);
    }

    /// The most requests that were waiting at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Requests that arrived.
    pub fn count(&self) -> usize {
        *self.shared.arrived.borrow()
    }
}
