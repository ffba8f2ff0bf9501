//! Production grade: the grant cache and its single flight, provider faults and the circuit breaker,
//! answering from the last known grant, the admin port and its metrics, certificate rotation by
//! kubelet's symlink swap, client certificates, and a soak of mixed reviews.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use scopegate::certs::{self, CertRequest};
use scopegate::config::Config;
use scopegate::server::{ServeOptions, Server};
use scopegate_testkit::review::ReviewBuilder;
use scopegate_testkit::standin::resetting_server;
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn secret(token: &str) -> Value {
    SecretBuilder::argocd("app", "repository")
        .https("https://github.com/acme/app", "x", token)
        .build()
}

fn token(n: usize) -> String {
    scopegate_testkit::github_token("ghp_", &format!("Production{n:020}"))
}

// --- The grant cache ----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_reviews_of_one_token_make_one_provider_call() {
    let gh = MockServer::start().await;
    // The one call is held 1.5 s. 500 reviews over a few HTTP/2 connections reach the server within tens
    // of milliseconds on loopback; the assertion below needs only a fifth of them to arrive in time.
    Mock::given(method("GET"))
        .respond_with(Github::classic_answer("bot", "repo", None).set_delay(Duration::from_millis(1500)))
        .expect(1)
        .mount(&gh)
        .await;
    let h = Arc::new(Harness::start(&providers_yaml(&gh)).await);
    let body = Arc::new(ReviewBuilder::create(secret(&token(1))));
    let mut tasks = Vec::new();
    for i in 0..500 {
        let (h, body) = (h.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let webhook = if i % 2 == 0 { "validate" } else { "mutate" };
            h.review(webhook, &body).await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap()["allowed"], true);
    }
    gh.verify().await;
    assert_eq!(gh.received_requests().await.unwrap().len(), 1);
    // HTTP/2 lets 200 streams in at once; those waited for the one call, the rest found its answer.
    let (misses, hits) = (
        h.metric("scopegate_cache_misses_total").await,
        h.metric("scopegate_cache_hits_total").await,
    );
    assert_eq!(misses + hits, 500.0);
    assert!(misses >= 100.0, "many reviews were in flight together: {misses} waited");
}

#[tokio::test]
async fn refusals_are_cached_too() {
    let gh = MockServer::start().await;
    Github::on(&gh).bad_credentials(&token(2)).await;
    let h = Harness::start(&format!("cache:\n  negativeTtl: 1h\n{}", providers_yaml(&gh))).await;
    for _ in 0..5 {
        let v = h.validate(&ReviewBuilder::create(secret(&token(2)))).await;
        assert_eq!(v["allowed"], false);
    }
    assert_eq!(gh.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_failing_provider_is_answered_for_from_the_last_known_grant() {
    let gh = MockServer::start().await;
    Github::on(&gh).classic(&token(3), "bot", "repo", None).await;
    // No reuse of answers (ttl 0), but a last good answer kept for an hour.
    let h = Harness::start(&format!(
        "cache:\n  ttl: 0s\n  staleIfError: 1h\n{}",
        providers_yaml(&gh)
    ))
    .await;
    assert_eq!(
        h.validate(&ReviewBuilder::create(secret(&token(3)))).await["allowed"],
        true
    );
    gh.reset().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&gh)
        .await;
    let v = h.validate(&ReviewBuilder::create(secret(&token(3)))).await;
    assert_eq!(v["allowed"], true, "the last known grant answers: {v}");
    assert!(warnings(&v).join(" ").contains("comes from its last answer"), "{v}");
    // A token never seen before has no last answer: onProviderError decides.
    let v = h.validate(&ReviewBuilder::create(secret(&token(4)))).await;
    assert_eq!(v["allowed"], false);
}

// --- Faults and the circuit breaker -------------------------------------------------------------------

/// The reviews go out with `?timeout=2s`, as an API server with `timeoutSeconds: 2` sends them.
async fn review_within_deadline(h: &Harness, token: &str) -> Value {
    let started = Instant::now();
    let (status, v) = h
        .post("/validate?timeout=2s", &ReviewBuilder::create(secret(token)).build())
        .await;
    assert_eq!(status, 200);
    // The requirement itself: the API server gives up at its 2 s timeout. scopegate's deadline is
    // 1.6 s (the timeout less a fifth), so this leaves 400 ms for the loopback round trip.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered before the API server gives up"
    );
    v["response"].clone()
}

const BREAKER: &str = "providerTimeout: 300ms\ncircuitBreaker:\n  failureThreshold: 3\n  cooldown: 10m\n";

#[tokio::test]
async fn faults_are_unverified_within_the_deadline_and_the_breaker_stops_the_hammering() {
    let faults: Vec<(&str, ResponseTemplate, &str)> = vec![
        (
            "hangs",
            ResponseTemplate::new(200).set_delay(Duration::from_secs(30)),
            "no answer within 300ms",
        ),
        (
            "answers slowly",
            Github::classic_answer("bot", "repo", None).set_delay(Duration::from_millis(900)),
            "no answer within 300ms",
        ),
        (
            "returns 500",
            ResponseTemplate::new(500).set_body_string("Internal Server Error"),
            "HTTP 500",
        ),
        (
            "returns garbage JSON",
            ResponseTemplate::new(200).set_body_string("{\"login\": tru"),
            "not a user",
        ),
    ];
    for (what, template, says) in faults {
        let gh = MockServer::start().await;
        Mock::given(method("GET")).respond_with(template).mount(&gh).await;
        let h = Harness::start(&format!("{BREAKER}{}", providers_yaml(&gh))).await;
        for i in 0..12 {
            let v = review_within_deadline(&h, &token(100 + i)).await;
            assert_eq!(v["allowed"], false, "{what}: onProviderError deny");
            let msg = message(&v);
            if i == 0 {
                assert!(msg.contains(says), "{what}: {msg}");
            }
            if i >= 3 {
                assert!(msg.contains("stopped calling it"), "{what}: the circuit is open: {msg}");
            }
        }
        assert_eq!(
            gh.received_requests().await.unwrap().len(),
            3,
            "{what}: three calls, then none"
        );
        assert_eq!(
            h.metric("scopegate_provider_circuit_open{provider=\"github.com\"}")
                .await,
            1.0
        );
    }
}

#[tokio::test]
async fn a_rate_limit_with_retry_after_stops_calls_at_once() {
    let gh = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "120")
                .set_body_json(serde_json::json!({"message": "API rate limit exceeded"})),
        )
        .mount(&gh)
        .await;
    let h = Harness::start(&format!("onProviderError: allow\n{BREAKER}{}", providers_yaml(&gh))).await;
    for i in 0..10 {
        let v = review_within_deadline(&h, &token(200 + i)).await;
        assert_eq!(v["allowed"], true, "onProviderError allow");
        assert!(warnings(&v).join(" ").contains("rate limit"), "{v}");
    }
    assert_eq!(
        gh.received_requests().await.unwrap().len(),
        1,
        "one call, then retry-after is respected"
    );
    let (_, metrics) = h.admin_get("/metrics").await;
    assert!(
        metrics.contains("scopegate_provider_requests_total{provider=\"github.com\",outcome=\"rate_limited\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("outcome=\"circuit_open\"} 9"), "{metrics}");
}

#[tokio::test]
async fn a_provider_that_resets_connections() {
    let (addr, hits) = resetting_server().await;
    let h = Harness::start(&format!(
        "{BREAKER}providers:\n  - kind: github\n    host: github.com\n    apiUrl: http://{addr}\n"
    ))
    .await;
    for i in 0..8 {
        let v = review_within_deadline(&h, &token(300 + i)).await;
        assert_eq!(v["allowed"], false);
        if i == 0 {
            assert!(message(&v).contains("could not be asked"), "{}", message(&v));
        }
    }
    // reqwest may retry a reset once on a fresh connection; the breaker still stops after three reviews.
    assert!(hits.load(Ordering::SeqCst) <= 6, "{}", hits.load(Ordering::SeqCst));
}

#[tokio::test]
async fn missing_headers_are_unverified_not_a_failure() {
    let gh = MockServer::start().await;
    // A 200 from /user for a classic token, without X-OAuth-Scopes.
    Github::on(&gh)
        .user_answers(
            &token(400),
            ResponseTemplate::new(200).set_body_json(scopegate_testkit::standin::github_user("bot", "User")),
        )
        .await;
    BitbucketCloud::on(&gh);
    Mock::given(method("GET"))
        .and(wiremock::matchers::path("/2.0/repositories/acme/app"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"type": "repository"})))
        .mount(&gh)
        .await;
    let h = Harness::start(&providers_yaml(&gh)).await;
    let v = review_within_deadline(&h, &token(400)).await;
    assert_eq!(v["allowed"], true);
    assert!(warnings(&v).join(" ").contains("X-OAuth-Scopes"), "{v}");
    let bb = SecretBuilder::argocd("bb", "repository")
        .https(
            "https://bitbucket.org/acme/app.git",
            "x-token-auth",
            "ATCTT3xFfGN0NoHeaders",
        )
        .build();
    let v = h.validate(&ReviewBuilder::create(bb)).await;
    assert_eq!(v["allowed"], false, "onProviderError deny");
    assert!(
        message(&v).contains("without an x-oauth-scopes header"),
        "{}",
        message(&v)
    );
}

// --- The admin port -----------------------------------------------------------------------------------

#[tokio::test]
async fn the_admin_port_serves_health_readiness_and_metrics() {
    let gh = MockServer::start().await;
    Github::on(&gh)
        .classic(&token(500), "bot", "repo", Some("2027-06-30 12:00:00 UTC"))
        .await;
    let h = Harness::start(&providers_yaml(&gh)).await;
    assert_eq!(h.admin_get("/healthz").await.0, 200);
    assert_eq!(h.admin_get("/readyz").await.0, 200);
    let _ = h.validate(&ReviewBuilder::create(secret(&token(500)))).await;
    let _ = h.validate(&ReviewBuilder::create(secret(&token(500))).dry_run()).await;
    let _ = h.mutate(&ReviewBuilder::create(secret(&token(500)))).await;
    let (status, text) = h.admin_get("/metrics").await;
    assert_eq!(status, 200);
    for line in [
        "scopegate_admission_requests_total{webhook=\"validate\",operation=\"CREATE\",verdict=\"ok\",allowed=\"true\",dry_run=\"false\"} 1",
        "scopegate_admission_requests_total{webhook=\"validate\",operation=\"CREATE\",verdict=\"ok\",allowed=\"true\",dry_run=\"true\"} 1",
        "scopegate_admission_requests_total{webhook=\"mutate\",operation=\"CREATE\",verdict=\"ok\",allowed=\"true\",dry_run=\"false\"} 1",
        "scopegate_admission_duration_seconds_count{webhook=\"validate\"} 2",
        "scopegate_provider_requests_total{provider=\"github.com\",outcome=\"ok\"} 1",
        "scopegate_provider_duration_seconds_count{provider=\"github.com\"} 1",
        "scopegate_cache_hits_total 2",
        "scopegate_cache_misses_total 1",
        "scopegate_token_expiry_timestamp_seconds{namespace=\"argocd\",name=\"app\"} 1814356800",
    ] {
        assert!(text.contains(line), "{line} not in:\n{text}");
    }
    let cert = h.metric("scopegate_certificate_expiry_timestamp_seconds").await;
    assert!(cert > jiff::Timestamp::now().as_second() as f64, "{cert}");
    assert!(!text.contains(&token(500)));
    // The Prometheus project's own linter finds nothing to say.
    assert_eq!(promtool_check_metrics(&text), "", "{text}");
}

// --- Certificate rotation -----------------------------------------------------------------------------

/// Lay out certificates as kubelet does for a mounted Secret: `..TIMESTAMP/` holds the files, `..data`
/// points at it, and `tls.crt`/`tls.key` point through `..data`.
fn kubelet_mount(dir: &Path, version: &str, issued: &certs::Issued) {
    let v = dir.join(version);
    std::fs::create_dir_all(&v).unwrap();
    std::fs::write(v.join("tls.crt"), &issued.cert).unwrap();
    std::fs::write(v.join("tls.key"), &issued.key).unwrap();
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(version, &tmp).unwrap();
    // The atomic swap: rename over the old link.
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    for f in ["tls.crt", "tls.key"] {
        if std::fs::symlink_metadata(dir.join(f)).is_err() {
            std::os::unix::fs::symlink(format!("..data/{f}"), dir.join(f)).unwrap();
        }
    }
}

fn issue_local() -> certs::Issued {
    let mut req = CertRequest::new("scopegate", "scopegate");
    req.extra_sans = vec!["127.0.0.1".into()];
    certs::issue(&req).unwrap()
}

/// The CAs a client trusts.
#[derive(Clone)]
struct Trust(Vec<reqwest::Certificate>);

fn trusting(cas: &[&str]) -> Trust {
    scopegate::install_crypto_provider();
    Trust(
        cas.iter()
            .map(|c| reqwest::Certificate::from_pem(c.as_bytes()).unwrap())
            .collect(),
    )
}

/// The certificate the server presents on a new connection (a new client has no pooled one).
async fn served_cert(trust: &Trust, port: u16) -> Result<Vec<u8>, reqwest::Error> {
    let client = reqwest::Client::builder()
        .tls_certs_only(trust.0.clone())
        .tls_info(true)
        .build()?;
    let r = client.get(format!("https://127.0.0.1:{port}/healthz")).send().await?;
    Ok(r.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .map(<[u8]>::to_vec)
        .unwrap_or_default())
}

fn der(pem: &str) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_rotate_by_symlink_swap_without_failing_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (issue_local(), issue_local());
    kubelet_mount(dir.path(), "..2026_11_25_10_00_00.1", &first);
    let mut opts = ServeOptions::new(
        "127.0.0.1:0".parse().unwrap(),
        dir.path().join("tls.crt"),
        dir.path().join("tls.key"),
        Config::default(),
    );
    opts.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    opts.tls_reload_interval = Duration::from_millis(50);
    let server = Server::bind(opts).await.unwrap();
    let port = server.local_addr().unwrap().port();
    let admin = server.admin_addr().unwrap();
    tokio::spawn(server.run(std::future::pending()));

    // A client keeps sending, on new connections, across the rotation.
    let client = trusting(&[&first.ca_cert, &second.ca_cert]);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let (client, stop) = (client.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut ok, mut failed) = (0usize, 0usize);
            while !stop.load(Ordering::SeqCst) {
                match served_cert(&client, port).await {
                    Ok(_) => ok += 1,
                    Err(_) => failed += 1,
                }
            }
            (ok, failed)
        })
    };
    assert_eq!(served_cert(&client, port).await.unwrap(), der(&first.cert));
    kubelet_mount(dir.path(), "..2026_11_25_11_00_00.2", &second);
    // Waits for the reload (files polled every 50 ms); the 10 s bound only stops a broken reload from
    // hanging the test.
    let deadline = Instant::now() + Duration::from_secs(10);
    while served_cert(&client, port).await.unwrap() != der(&second.cert) {
        if Instant::now() >= deadline {
            let text = reqwest::get(format!("http://{admin}/metrics"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let reloads: Vec<&str> = text.lines().filter(|l| l.contains("tls_reloads")).collect();
            panic!("the new certificate was not picked up: {reloads:?}");
        }
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::SeqCst);
    let (ok, failed) = sender.await.unwrap();
    assert_eq!(failed, 0, "no request failed during the rotation ({ok} succeeded)");
    assert!(ok > 0);

    // A broken new certificate: the previous one keeps serving, and the failure is counted.
    let broken = dir.path().join("..2026_11_25_12_00_00.3");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("tls.crt"), "-----BEGIN CERTIFICATE-----\nnot base64\n").unwrap();
    std::fs::write(broken.join("tls.key"), &second.key).unwrap();
    std::os::unix::fs::symlink("..2026_11_25_12_00_00.3", dir.path().join("..data_tmp")).unwrap();
    std::fs::rename(dir.path().join("..data_tmp"), dir.path().join("..data")).unwrap();
    let errors = || async {
        let text = reqwest::get(format!("http://{admin}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| l.starts_with("scopegate_tls_reloads_total{result=\"error\"}"))
            .and_then(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .unwrap_or(0.0)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while errors().await < 1.0 {
        assert!(Instant::now() < deadline, "the broken certificate was not noticed");
        tokio::task::yield_now().await;
    }
    assert_eq!(served_cert(&client, port).await.unwrap(), der(&second.cert));
}

// --- Client certificates ------------------------------------------------------------------------------

#[tokio::test]
async fn client_certificates_are_required_when_a_client_ca_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let serving = issue_local();
    certs::write(dir.path(), &serving).unwrap();
    // A CA for clients (the API server's proxy client certificate, say) and a client certificate.
    let identity = client_ca_and_identity(dir.path());

    let mut opts = ServeOptions::new(
        "127.0.0.1:0".parse().unwrap(),
        dir.path().join("tls.crt"),
        dir.path().join("tls.key"),
        Config::default(),
    );
    opts.client_ca = Some(dir.path().join("client-ca.crt"));
    let server = Server::bind(opts).await.unwrap();
    let port = server.local_addr().unwrap().port();
    tokio::spawn(server.run(std::future::pending()));

    scopegate::install_crypto_provider();
    let ca = reqwest::Certificate::from_pem(serving.ca_cert.as_bytes()).unwrap();
    let anonymous = reqwest::Client::builder().tls_certs_only([ca.clone()]).build().unwrap();
    assert!(
        anonymous
            .get(format!("https://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_err()
    );
    let authenticated = reqwest::Client::builder()
        .tls_certs_only([ca])
        .identity(identity)
        .build()
        .unwrap();
    let r = authenticated
        .get(format!("https://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

// --- Soak ---------------------------------------------------------------------------------------------

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soak_of_mixed_reviews_answers_every_one_and_holds_its_memory() {
    let gh = MockServer::start().await;
    let stand = Github::on(&gh);
    for i in 0..20 {
        stand
            .classic(&token(600 + i), "bot", if i % 2 == 0 { "repo" } else { "user" }, None)
            .await;
    }
    let h = Arc::new(Harness::start(&providers_yaml(&gh)).await);
    let mixed = |i: usize| -> Value {
        match i % 5 {
            0 | 1 => ReviewBuilder::create(secret(&token(600 + i % 20))).build(),
            2 => ReviewBuilder::create(
                SecretBuilder::argocd("ssh", "repository")
                    .data("url", "git@github.com:o/r")
                    .data("sshPrivateKey", "k")
                    .build(),
            )
            .build(),
            3 => ReviewBuilder::create(
                SecretBuilder::argocd("bad", "repository")
                    .data("url", "https://github.com/o/r")
                    .data("password", "t\n")
                    .build(),
            )
            .dry_run()
            .build(),
            _ => ReviewBuilder::update(secret(&token(600 + i % 20)), secret(&token(600 + i % 20))).build(),
        }
    };
    let round = |h: Arc<Harness>, n: usize| async move {
        let mut tasks = Vec::new();
        for worker in 0..32 {
            let h = h.clone();
            tasks.push(tokio::spawn(async move {
                let mut non_200 = 0;
                for i in (worker..n).step_by(32) {
                    let path = if i % 3 == 0 { "/mutate" } else { "/validate" };
                    let (status, _) = h.post(path, &mixed(i)).await;
                    if status != 200 {
                        non_200 += 1;
                    }
                }
                non_200
            }));
        }
        let mut non_200 = 0;
        for t in tasks {
            non_200 += t.await.unwrap();
        }
        non_200
    };
    assert_eq!(round(h.clone(), 1000).await, 0);
    let warm = rss_kib();
    for _ in 0..3 {
        assert_eq!(round(h.clone(), 1000).await, 0, "zero non-200 answers");
    }
    let after = rss_kib();
    assert!(
        after < warm + 32 * 1024,
        "memory grew from {warm} KiB to {after} KiB over 3000 reviews"
    );
    // The mix uses twelve of the twenty tokens; each was asked once.
    assert_eq!(gh.received_requests().await.unwrap().len(), 12);
}

/// Reviews of different tokens are served side by side: the stand-in holds every answer until all eight
/// calls are waiting together, which they can only be if scopegate made them at once (made one after
/// another, the first would wait alone until providerTimeout cut it off, and be denied).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_wait_for_a_slow_provider_not_for_each_other() {
    let gh = scopegate_testkit::held::HeldGithub::start("bot", "repo", Some(8)).await;
    let h = Arc::new(
        Harness::start(&format!(
            "providers:\n  - kind: github\n    host: github.com\n    apiUrl: {}\n",
            gh.uri
        ))
        .await,
    );
    let mut tasks = Vec::new();
    for i in 0..8 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            h.validate(&ReviewBuilder::create(secret(&token(700 + i)))).await
        }));
    }
    for t in tasks {
        let v = t.await.unwrap();
        assert_eq!(v["allowed"], true, "{v}");
    }
    assert_eq!(gh.max_in_flight(), 8, "the eight calls were out together");
}
