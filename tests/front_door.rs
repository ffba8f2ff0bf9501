//! The front door (docs/operations/security.md, docs/operations/performance.md): what a client without credentials can hold.
//! Connections beyond `server.maxConnections` wait in the listen backlog; connections stalled in the
//! TLS handshake, in an HTTP/1 request head, or before an HTTP/2 connection's first request are closed
//! within the timeouts; an HTTP/2 connection left idle is closed after `idleTimeout`; HTTP/2 announces
//! its stream and header-list limits; and a real review is answered all along.
//!
//! Timeouts here are short (300 ms); each wait for a close is bounded at 10 s, a margin for a loaded
//! machine, not a measurement (`make bench` measures).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use scopegate_testkit::review::ReviewBuilder;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use wiremock::MockServer;

const CLOSE_WITHIN: Duration = Duration::from_secs(10);

async fn setup() -> (MockServer, Harness) {
    let gh = MockServer::start().await;
    Github::on(&gh)
        .classic(
            &scopegate_testkit::github_token("ghp_", "FrontDoor"),
            "bot",
            "repo",
            None,
        )
        .await;
    let h = Harness::start(&format!(
        "server:\n  maxConnections: 16\n  handshakeTimeout: 300ms\n  headerTimeout: 300ms\n  idleTimeout: 1s\n  maxConcurrentStreams: 64\n{}",
        providers_yaml(&gh)
    ))
    .await;
    (gh, h)
}

fn tls_connector(h: &Harness, alpn: &[u8]) -> tokio_rustls::TlsConnector {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    scopegate::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(h.ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// A TLS connection to the webhook port, `alpn` offered.
async fn connect(h: &Harness, alpn: &[u8]) -> tokio_rustls::client::TlsStream<TcpStream> {
    tls_connector(h, alpn)
        .connect(
            "127.0.0.1".try_into().unwrap(),
            TcpStream::connect(h.addr).await.unwrap(),
        )
        .await
        .unwrap()
}

/// Wait for the server to close the connection (EOF or a reset), at most `CLOSE_WITHIN`.
async fn closed<S: tokio::io::AsyncRead + Unpin>(mut s: S) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(CLOSE_WITHIN, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

async fn review_ok(h: &Harness) {
    let secret = SecretBuilder::argocd("app", "repository")
        .https(
            "https://github.com/acme/app",
            "git",
            &scopegate_testkit::github_token("ghp_", "FrontDoor"),
        )
        .build();
    let v = h.validate(&ReviewBuilder::create(secret)).await;
    assert_eq!(v["allowed"], true, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_connections_are_closed_within_the_timeouts_and_beyond_the_limit_wait() {
    let (_gh, h) = setup().await;
    // 40 connections that never start the handshake: 16 are taken, the rest wait in the backlog.
    let mut stalled = Vec::new();
    for _ in 0..40 {
        stalled.push(TcpStream::connect(h.addr).await.unwrap());
    }
    // A real review gets through: its connection waits its turn, then is answered.
    review_ok(&h).await;
    // Each stalled connection is closed by the handshake timeout once it is taken.
    let all = futures::future::join_all(stalled.into_iter().map(closed)).await;
    assert!(all.iter().all(|c| *c), "a stalled handshake stayed open");
    let (_, m) = h.admin_get("/metrics").await;
    let timed_out = sample(&m, "scopegate_connections_timed_out_total{phase=\"handshake\"}").unwrap_or(0.0);
    assert!(timed_out >= 40.0, "{m}");
    assert!(
        sample(&m, "scopegate_connections_limited_total").unwrap_or(0.0) >= 1.0,
        "{m}"
    );
    assert!(sample(&m, "scopegate_connections_open").unwrap_or(99.0) <= 16.0, "{m}");

    // Half a request head over HTTP/1.1, then nothing: closed at the header timeout.
    let mut tls = connect(&h, b"http/1.1").await;
    tls.write_all(b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
        .await
        .unwrap();
    assert!(closed(tls).await, "a stalled request head stayed open");

    // HTTP/2 negotiated, then no preface at all: closed at the header timeout too.
    let tls = connect(&h, b"h2").await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    assert!(closed(tls).await, "an HTTP/2 connection without a request stayed open");
    review_ok(&h).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_announces_its_limits_and_idle_connections_close() {
    let (_gh, h) = setup().await;
    let tls = connect(&h, b"h2").await;
    let (mut send, connection) = h2::client::handshake(tls).await.unwrap();
    let connection = tokio::spawn(connection);
    // One request, so the server's SETTINGS have been read by the time it is answered.
    let req = http::Request::builder()
        .method("GET")
        .uri(format!("https://127.0.0.1:{}/healthz", h.addr.port()))
        .body(())
        .unwrap();
    let (answer, _) = send.send_request(req, true).unwrap();
    let answer = answer.await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(send.current_max_send_streams(), 64, "SETTINGS_MAX_CONCURRENT_STREAMS");
    // Nothing more is asked: the server closes the connection after idleTimeout.
    let ended = tokio::time::timeout(CLOSE_WITHIN, connection).await;
    assert!(ended.is_ok(), "an idle HTTP/2 connection stayed open");
    let (_, m) = h.admin_get("/metrics").await;
    assert!(
        sample(&m, "scopegate_connections_timed_out_total{phase=\"idle\"}").unwrap_or(0.0) >= 1.0,
        "{m}"
    );
    h.stop().await;
}

/// Read an HTTP/1.1 answer's head, at most `CLOSE_WITHIN`.
async fn answer_head<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(CLOSE_WITHIN, async {
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_are_refused_unread_and_a_stalled_body_holds_nothing() {
    let (_gh, h) = setup().await;
    // A body declared larger than 8 MiB: 413 at once, before a byte of it is sent.
    let mut big = connect(&h, b"http/1.1").await;
    big.write_all(
        b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 9437184\r\n\r\n",
    )
    .await
    .unwrap();
    let head = answer_head(&mut big).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");

    // Bodies declared at 8 MiB on more connections than the room for bodies holds, a few bytes
    // sent: they take no room, and a real review is answered meanwhile.
    let mut stalled = Vec::new();
    for _ in 0..12 {
        let mut s = connect(&h, b"http/1.1").await;
        s.write_all(
            b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 8388608\r\n\r\n{\"kind\"",
        )
        .await
        .unwrap();
        stalled.push(s);
    }
    review_ok(&h).await;
    drop(stalled);
    h.stop().await;
}

/// The value of a series in a `/metrics` text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
