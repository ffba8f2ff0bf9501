//! A Git server on loopback: real bare repositories served by Git's own `git http-backend` (the CGI
//! program Git ships for smart HTTP), behind an access table of which token may read or push which
//! repository, answering refusals as GitHub does. Every advertisement request is counted, per
//! repository and service, so that tests can hold scopegate to one probe per credential and
//! repository per interval.
//!
//! Answers, for `GET /{owner}/{repo}.git/info/refs?service=…`:
//! - no credential: the advertisement for a public repository's upload-pack; otherwise 401 with
//!   `WWW-Authenticate: Basic realm="GitHub"`;
//! - a token it does not know: 401;
//! - a token without access: 404 `Repository not found.`;
//! - a read-only token asking for receive-pack: 403 `Write access to repository not granted.`;
//! - otherwise what `git http-backend` answers (200, `application/x-git-…-advertisement`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;

use crate::standin::Level;

#[derive(Default)]
struct Repo {
    public: bool,
    access: BTreeMap<String, Level>,
}

#[derive(Default)]
struct Table {
    repos: BTreeMap<String, Repo>,
    /// Tokens the server knows (a token it does not know gets 401).
    tokens: std::collections::BTreeSet<String>,
    counts: BTreeMap<(String, String), usize>,
}

#[derive(Clone)]
pub struct GitServer {
    pub addr: SocketAddr,
    root: Arc<PathBuf>,
    table: Arc<Mutex<Table>>,
    _dir: Arc<tempfile::TempDir>,
}

fn answer(status: StatusCode, headers: &[(&str, &str)], body: impl Into<Body>) -> Response {
    let mut r = Response::builder().status(status);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.body(body.into()).unwrap_or_default()
}

/// The token of an `Authorization` header: Basic's password, or Bearer's token.
fn token_of(req: &Request) -> Option<String> {
    let h = req.headers().get("authorization")?.to_str().ok()?;
    if let Some(b) = h.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        return text.split_once(':').map(|(_, p)| p.to_owned());
    }
    h.strip_prefix("Bearer ").map(str::to_owned)
}

async fn handle(State(server): State<GitServer>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let Some(repo) = path
        .strip_prefix('/')
        .and_then(|p| p.strip_suffix("/info/refs"))
        .and_then(|p| p.strip_suffix(".git"))
        .map(str::to_owned)
    else {
        return answer(StatusCode::NOT_FOUND, &[], "Not Found\n");
    };
    let service = query.strip_prefix("service=").unwrap_or_default().to_owned();
    if service != "git-upload-pack" && service != "git-receive-pack" {
        return answer(StatusCode::FORBIDDEN, &[], "dumb HTTP is not served\n");
    }
    let token = token_of(&req);
    let decision = {
        let mut t = server.table.lock().unwrap_or_else(|p| p.into_inner());
        *t.counts.entry((repo.clone(), service.clone())).or_default() += 1;
        let known = token.as_ref().is_some_and(|tok| t.tokens.contains(tok));
        let r = t.repos.get(&repo);
        let level = token
            .as_ref()
            .and_then(|tok| r.and_then(|r| r.access.get(tok)).copied())
            .unwrap_or(Level::None);
        let public = r.is_some_and(|r| r.public);
        match (token.is_some(), known, service.as_str()) {
            (false, _, "git-upload-pack") if public => Ok(()),
            (false, _, _) => Err(answer(
                StatusCode::UNAUTHORIZED,
                &[
                    ("www-authenticate", "Basic realm=\"GitHub\""),
                    ("content-type", "text/plain"),
                ],
                "Authentication required\n",
            )),
            (true, false, _) => Err(answer(
                StatusCode::UNAUTHORIZED,
                &[
                    ("www-authenticate", "Basic realm=\"GitHub\""),
                    ("content-type", "text/plain"),
                ],
                "Invalid username or token. Password authentication is not supported for Git operations.\n",
            )),
            (true, true, "git-upload-pack") if level >= Level::Read || public => Ok(()),
            (true, true, "git-receive-pack") if level >= Level::Write => Ok(()),
            (true, true, _) if level >= Level::Read || public => Err(answer(
                StatusCode::FORBIDDEN,
                &[("content-type", "text/plain; charset=UTF-8")],
                "Write access to repository not granted.\n",
            )),
            (true, true, _) => Err(answer(
                StatusCode::NOT_FOUND,
                &[("content-type", "text/plain; charset=UTF-8")],
                "Repository not found.\n",
            )),
        }
    };
    if let Err(refused) = decision {
        return refused;
    }
    backend(&server.root, &path, &query).await
}

/// Run `git http-backend` for one request and turn its CGI output into a response.
async fn backend(root: &std::path::Path, path: &str, query: &str) -> Response {
    let out = tokio::process::Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REQUEST_METHOD", "GET")
        .env("REMOTE_USER", "token")
        .output()
        .await;
    let Ok(out) = out else {
        return answer(StatusCode::INTERNAL_SERVER_ERROR, &[], "git http-backend did not run\n");
    };
    let text = out.stdout;
    let split = text.windows(4).position(|w| w == b"\r\n\r\n");
    let Some(at) = split else {
        return answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            &[],
            "git http-backend answered no headers\n",
        );
    };
    let head = String::from_utf8_lossy(&text[..at]).into_owned();
    let body = text[at + 4..].to_vec();
    let mut status = StatusCode::OK;
    let mut r = Response::builder();
    for line in head.split("\r\n") {
        let Some((k, v)) = line.split_once(':') else { continue };
        let v = v.trim();
        if k.eq_ignore_ascii_case("status") {
            status = v
                .split_whitespace()
                .next()
                .and_then(|c| c.parse::<u16>().ok())
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        } else {
            r = r.header(k.trim(), v);
        }
    }
    r.status(status).body(Body::from(body)).unwrap_or_default()
}

impl GitServer {
    pub async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let server = GitServer {
            addr: listener.local_addr()?,
            root: Arc::new(dir.path().to_path_buf()),
            table: Arc::default(),
            _dir: Arc::new(dir),
        };
        let app = axum::Router::new().fallback(handle).with_state(server.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(server)
    }

    /// The base URL to configure as a provider's `gitUrl`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Create the bare repository `owner/name` (once).
    pub fn repository(&self, path: &str) -> anyhow::Result<()> {
        let dir = self.root.join(format!("{path}.git"));
        if !dir.exists() {
            std::fs::create_dir_all(&dir)?;
            let status = std::process::Command::new("git")
                .args(["init", "--quiet", "--bare"])
                .arg(&dir)
                .status()?;
            anyhow::ensure!(status.success(), "git init --bare {path} failed");
        }
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        t.repos.entry(path.to_owned()).or_default();
        Ok(())
    }

    /// `token` may do `level` on `path` (creating the repository).
    pub fn grant(&self, path: &str, token: &str, level: Level) -> anyhow::Result<()> {
        self.repository(path)?;
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        t.tokens.insert(token.to_owned());
        t.repos
            .entry(path.to_owned())
            .or_default()
            .access
            .insert(token.to_owned(), level);
        Ok(())
    }

    /// A token the server knows, with no access to anything yet.
    pub fn know(&self, token: &str) {
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        t.tokens.insert(token.to_owned());
    }

    /// Anyone may clone `path` (creating the repository).
    pub fn public(&self, path: &str) -> anyhow::Result<()> {
        self.repository(path)?;
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        t.repos.entry(path.to_owned()).or_default().public = true;
        Ok(())
    }

    /// How many advertisements of `service` (`git-upload-pack`, `git-receive-pack`) `path` was asked for.
    pub fn asked(&self, path: &str, service: &str) -> usize {
        let t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        t.counts
            .get(&(path.to_owned(), service.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Every advertisement asked for.
    pub fn total(&self) -> usize {
        let t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        t.counts.values().sum()
    }
}
