//! The webhook as an HTTPS endpoint: what it answers to bodies that are not AdmissionReviews, which
//! protocols it speaks, and how it behaves when a provider misbehaves.

mod common;

use std::time::Duration;

use common::*;
use scopegate_testkit::review::ReviewBuilder;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/shared/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

async fn plain() -> Harness {
    Harness::start("").await
}

#[tokio::test]
async fn bodies_that_are_not_admission_reviews_get_400_with_a_json_reason() {
    let h = plain().await;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not json at all".to_vec(), "not JSON"),
        (b"".to_vec(), "not JSON"),
        (b"[1,2,3]".to_vec(), "not an admission.k8s.io/v1 AdmissionReview"),
        (br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}"#.to_vec(), "not an admission.k8s.io/v1 AdmissionReview"),
        (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(), "has no request"),
        (fixture("admission-v1beta1-pod-create.sighupio.json"), "admission.k8s.io/v1beta1"),
        // A real UPDATE request without its AdmissionReview envelope.
        (fixture("admission-v1-crd-update-with-oldobject.deckhouse.review.json"), "not an admission.k8s.io/v1 AdmissionReview"),
        (
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"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"}}"#.to_vec(),
            "not an admission.k8s.io/v1 AdmissionReview",
        ),
    ];
    for path in ["/validate", "/mutate"] {
        for (body, want) in &cases {
            let (status, text) = h.post_raw(path, body.clone()).await;
            assert_eq!(status, 400, "{path} {text}");
            let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON body: {text}"));
            let e = v["error"].as_str().unwrap();
            assert!(e.contains(want), "{want:?} not in {e:?}");
            assert!(
                !text.contains("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"),
                "values from the body are never echoed: {text}"
            );
        }
    }
}

#[tokio::test]
async fn reviews_of_other_kinds_are_answered_allowed() {
    let h = plain().await;
    for (name, uid) in [
        (
            "admission-v1-pod-create-gke.kube-rs.json",
            "0c9a8d74-9cb7-44dd-b98e-09fd62def2f4",
        ),
        ("admission-v1-pod-create.kubewarden-policy-server.json", ""),
    ] {
        let body: Value = serde_json::from_slice(&fixture(name)).unwrap();
        let (status, v) = h.post("/validate", &body).await;
        assert_eq!(status, 200);
        let want = if uid.is_empty() {
            body["request"]["uid"].clone()
        } else {
            json!(uid)
        };
        assert_eq!(v["response"]["uid"], want);
        assert_eq!(v["response"]["allowed"], true);
    }
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let h = plain().await;
    let (status, text) = h
        .post_raw("/validate", vec![b' '; scopegate::server::MAX_BODY + 1])
        .await;
    assert_eq!(status, 413);
    assert!(text.contains("larger than"), "{text}");
}

#[tokio::test]
async fn health_readiness_and_unknown_paths() {
    let h = plain().await;
    for p in ["/healthz", "/readyz"] {
        let r = h.client.get(h.url(p)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{p}");
    }
    let r = h.client.get(h.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("POST /validate"));
    let r = h.client.get(h.url("/validate")).send().await.unwrap();
    assert_eq!(r.status(), 405);
}

#[tokio::test]
async fn speaks_http2_when_offered_and_http1_otherwise() {
    let h = plain().await;
    let s = SecretBuilder::argocd("ssh", "repository")
        .data("url", "git@github.com:o/r")
        .data("sshPrivateKey", "k")
        .build();
    let body = ReviewBuilder::create(s).build();
    let r = h.client.post(h.url("/validate")).json(&body).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2, "ALPN h2 is negotiated");
    assert_eq!(r.status(), 200);
    scopegate::install_crypto_provider();
    let h1 = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(h.ca_pem.as_bytes()).unwrap()])
        .http1_only()
        .build()
        .unwrap();
    let r = h1.post(h.url("/validate")).json(&body).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_cannot_connect() {
    let h = plain().await;
    let other = scopegate::certs::issue(&scopegate::certs::CertRequest::new("x", "y")).unwrap();
    let c = scopegate_testkit::https_client(other.ca_cert.as_bytes()).unwrap();
    assert!(c.get(h.url("/healthz")).send().await.is_err());
}

const TOKEN: &str = "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";

fn secret() -> Value {
    SecretBuilder::argocd("app", "repository")
        .https("https://github.com/acme/app", "x", TOKEN)
        .build()
}

async fn with_github_answer(template: ResponseTemplate, extra_yaml: &str) -> (MockServer, Harness) {
    let gh = MockServer::start().await;
    Mock::given(method("GET")).respond_with(template).mount(&gh).await;
    let h = Harness::start(&format!("{extra_yaml}{}", providers_yaml(&gh))).await;
    (gh, h)
}

#[tokio::test]
async fn provider_errors_are_unverified_and_on_provider_error_decides() {
    let cases = [
        (ResponseTemplate::new(500).set_body_string("oops"), "HTTP 500"),
        (
            ResponseTemplate::new(503).set_body_json(json!({"message": "Service Unavailable"})),
            "Service Unavailable",
        ),
        (
            ResponseTemplate::new(200).set_body_string("<html>captive portal</html>"),
            "not a user",
        ),
        (
            ResponseTemplate::new(429)
                .insert_header("retry-after", "60")
                .set_body_json(json!({"message": "API rate limit exceeded"})),
            "rate limiting",
        ),
        (github_rate_limited(), "rate limiting"),
    ];
    for (template, want) in cases {
        let (_gh, deny) = with_github_answer(template.clone(), "").await;
        let review = ReviewBuilder::create(secret());
        let v = deny.validate(&review).await;
        assert_eq!(v["allowed"], false, "{want}");
        assert_eq!(v["status"]["code"], 403);
        let msg = message(&v);
        assert!(
            msg.contains("GitHub at http://127.0.0.1") && msg.contains(want),
            "{want:?}: {msg}"
        );
        assert!(msg.contains("onProviderError is deny"), "{msg}");
        let a = patched_annotations(&review.build()["request"]["object"], &deny.mutate(&review).await);
        assert_eq!(a["scopegate.dev/verdict"], "unverified", "{want}: never invalid");

        let (_gh, allow) = with_github_answer(template, "onProviderError: allow\n").await;
        let v = allow.validate(&review).await;
        assert_eq!(v["allowed"], true);
        assert!(warnings(&v).join(" ").contains("admitted unverified"), "{v}");
    }
}

fn github_rate_limited() -> ResponseTemplate {
    scopegate_testkit::standin::github_rate_headers(
        ResponseTemplate::new(403).set_body_json(json!({"message": "API rate limit exceeded for user ID 1."})),
        0,
    )
}

#[tokio::test]
async fn an_unreachable_provider_is_unverified() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let h = Harness::start(&format!(
        "providers:\n  - kind: github\n    host: github.com\n    apiUrl: http://127.0.0.1:{port}\n"
    ))
    .await;
    let v = h.validate(&ReviewBuilder::create(secret())).await;
    assert_eq!(v["allowed"], false);
    assert!(message(&v).contains("cannot connect"), "{}", message(&v));
}

#[tokio::test]
async fn a_slow_provider_is_cut_off_by_the_provider_timeout() {
    let (_gh, h) = with_github_answer(
        Github::classic_answer("slow", "repo", None).set_delay(Duration::from_secs(5)),
        "providerTimeout: 300ms\n",
    )
    .await;
    let v = h.validate(&ReviewBuilder::create(secret())).await;
    assert_eq!(v["allowed"], false);
    assert!(message(&v).contains("no answer within 300ms"), "{}", message(&v));
}

#[tokio::test]
async fn the_api_servers_timeout_bounds_the_review() {
    let (_gh, h) = with_github_answer(
        Github::classic_answer("slow", "repo", None).set_delay(Duration::from_secs(5)),
        "providerTimeout: 4s\n",
    )
    .await;
    let review = ReviewBuilder::create(secret());
    let (status, v) = h.post("/validate?timeout=1s", &review.build()).await;
    assert_eq!(status, 200);
    assert_eq!(v["response"]["allowed"], false);
    assert!(
        message(&v["response"]).contains("no answer before the admission deadline"),
        "{v}"
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let elsewhere = MockServer::start().await;
    let (_gh, h) = with_github_answer(
        ResponseTemplate::new(302).insert_header("location", format!("{}/user", elsewhere.uri()).as_str()),
        "",
    )
    .await;
    let v = h.validate(&ReviewBuilder::create(secret())).await;
    assert_eq!(v["allowed"], false);
    assert!(message(&v).contains("HTTP 302"), "{}", message(&v));
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "the redirect target got nothing"
    );
}

#[tokio::test]
async fn the_token_travels_only_in_the_authorization_header() {
    let gh = MockServer::start().await;
    Github::on(&gh).classic(TOKEN, "octocat", "repo", None).await;
    let h = Harness::start(&providers_yaml(&gh)).await;
    assert_eq!(h.validate(&ReviewBuilder::create(secret())).await["allowed"], true);
    let reqs = gh.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method.as_str(), "GET");
    assert_eq!(r.url.path(), "/user");
    assert!(!r.url.as_str().contains(TOKEN));
    assert!(r.body.is_empty());
    assert_eq!(r.headers.get("authorization").unwrap(), &format!("Bearer {TOKEN}"));
    assert!(
        r.headers
            .get("user-agent")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("scopegate/")
    );
    assert_eq!(r.headers.get("x-github-api-version").unwrap(), "2022-11-28");
}
