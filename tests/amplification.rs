//! No amplification (docs/operations/security.md): a requester that sends made-up tokens cannot make scopegate
//! call providers on its behalf without bound. GitHub tokens whose checksum does not match are
//! invalid without a call and without cost; provider refusals (401) are budgeted per requesting user
//! (`server.invalidTokenBudget`), and where user names are only claimed (no client certificates) per
//! client address too, at ten times a user's, which invented names cannot widen; past a budget, the
//! reviews it holds of tokens not in the cache are answered `unverified` without a call; requesters
//! whose tokens are real, and other users, are never affected; refusals never open the circuit, and
//! GitHub's "too many failed logins" answer holds back that credential, not the provider.

mod common;

use common::*;
use scopegate_testkit::github_token;
use scopegate_testkit::review::ReviewBuilder;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn secret(name: &str, token: &str) -> Value {
    SecretBuilder::argocd(name, "repository")
        .https("https://github.com/acme/app", "git", token)
        .build()
}

/// A made-up token, checksum-valid: GitHub would have to be asked.
fn made_up(i: usize) -> String {
    github_token("ghp_", &format!("MadeUp{i:024}"))
}

fn real(i: usize) -> String {
    github_token("ghp_", &format!("RealToken{i:021}"))
}

/// `/user` calls the stand-in received, for any token.
async fn user_calls(gh: &MockServer) -> usize {
    gh.received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/user")
        .count()
}

/// A client of the harness connecting from `local` (an address of 127.0.0.0/8).
fn client_from(h: &Harness, local: &str) -> reqwest::Client {
    scopegate::install_crypto_provider();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(h.ca_pem.as_bytes()).unwrap()])
        .local_address(Some(local.parse().unwrap()))
        .build()
        .unwrap()
}

/// `secret`'s creation by `user`, reviewed through `client`.
async fn validate_as(h: &Harness, client: &reqwest::Client, user: &str, secret: Value) -> Value {
    validate_at(client, &h.url("/validate?timeout=10s"), user, secret).await
}

/// The `response` of the AdmissionReview answering `secret`'s creation by `user`, posted to `url` by
/// `client`.
async fn validate_at(client: &reqwest::Client, url: &str, user: &str, secret: Value) -> Value {
    let v: Value = client
        .post(url)
        .json(
            &ReviewBuilder::create(secret)
                .user(user, &["system:authenticated"])
                .build(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["response"].clone()
}

async fn setup(extra: &str) -> (MockServer, Harness) {
    let gh = MockServer::start().await;
    let stand = Github::on(&gh);
    for i in 0..50 {
        stand.classic(&real(i), "gitops-bot", "repo", None).await;
    }
    stand.reject_others().await;
    let h = Harness::start(&format!("{extra}{}", providers_yaml(&gh))).await;
    (gh, h)
}

#[tokio::test]
async fn a_mistyped_github_token_is_invalid_without_a_call_or_a_cost() {
    let (gh, h) = setup("server:\n  invalidTokenBudget: {perMinute: 1, burst: 2}\n").await;
    let good = real(0);
    let mut typo = good.clone().into_bytes();
    typo[10] = if typo[10] == b'x' { b'y' } else { b'x' };
    let typo = String::from_utf8(typo).unwrap();
    for (i, token) in [typo.clone(), good[..39].to_owned(), format!("{good}7")]
        .iter()
        .enumerate()
    {
        let v = h
            .validate(&ReviewBuilder::create(secret(&format!("s{i}"), token)))
            .await;
        assert_eq!(v["allowed"], false);
        let m = message(&v);
        assert!(
            m.contains("truncated or mistyped") && m.contains("nothing was sent to GitHub"),
            "{m}"
        );
        assert!(!m.contains(token.as_str()), "the message never quotes the token");
    }
    assert_eq!(user_calls(&gh).await, 0, "no call for a checksum failure");
    // Nor did they cost budget: the two refusals this client may cause are still there.
    for i in 0..2 {
        let v = h.validate(&ReviewBuilder::create(secret("x", &made_up(i)))).await;
        assert!(message(&v).contains("401"), "{v}");
    }
    assert_eq!(user_calls(&gh).await, 2);
    h.stop().await;
}

#[tokio::test]
async fn refusals_are_budgeted_per_user_and_other_users_and_real_tokens_never_are() {
    // 5 refusals at once, one more a minute: within this test's run, at most one more.
    let (gh, h) = setup("server:\n  invalidTokenBudget: {perMinute: 1, burst: 5}\n").await;
    // Everyone comes through the API server: one address.
    let api_server = client_from(&h, "127.0.0.1");
    let mut verdicts = Vec::new();
    for i in 0..20 {
        let v = validate_as(&h, &api_server, "mallory", secret("made-up", &made_up(i))).await;
        verdicts.push(v);
    }
    let calls = user_calls(&gh).await;
    assert!((5..=6).contains(&calls), "{calls} calls for 20 made-up tokens");
    let not_asked: Vec<&Value> = verdicts
        .iter()
        .filter(|v| message(v).contains("server.invalidTokenBudget"))
        .collect();
    assert!(not_asked.len() >= 14, "{verdicts:?}");
    for v in &not_asked {
        // unverified, decided by onProviderError (deny by default), the user's budget named.
        assert_eq!(v["allowed"], false);
        let m = message(v);
        assert!(m.contains("could not be asked") && m.contains("user mallory"), "{m}");
        assert!(!m.contains("this client"), "the user's budget is the one spent: {m}");
    }
    // Past the budget, mallory's reviews of tokens not in the cache are not asked about...
    let v = validate_as(&h, &api_server, "mallory", secret("real", &real(1))).await;
    assert!(message(&v).contains("user mallory"), "{v}");
    assert!(user_calls(&gh).await <= 6);

    // ...while another user, through the same API server, is untouched; and the cache serves all.
    let v = validate_as(&h, &api_server, "alice", secret("real", &real(1))).await;
    assert_eq!(v["allowed"], true, "{v}");
    let v = validate_as(&h, &api_server, "mallory", secret("real", &real(1))).await;
    assert_eq!(v["allowed"], true, "a cached answer costs nothing: {v}");
    assert!(
        h.metric("scopegate_invalid_token_budget_refusals_total{budget=\"user\"}")
            .await
            >= 14.0
    );
    assert_eq!(
        h.metric("scopegate_invalid_token_budget_refusals_total{budget=\"client\"}")
            .await,
        0.0
    );

    // Requesters whose tokens are real send 500 reviews of 50 tokens: all answered, 50 calls.
    let before = user_calls(&gh).await;
    let reviews = (0..500).map(|i| {
        let api_server = api_server.clone();
        let h = &h;
        async move {
            validate_as(
                h,
                &api_server,
                &format!("user-{}", i % 7),
                secret(&format!("s{i}"), &real(i % 50)),
            )
            .await
        }
    });
    let answers = futures::future::join_all(reviews).await;
    assert!(
        answers.iter().all(|v| v["allowed"] == true),
        "every real token admitted"
    );
    let made = user_calls(&gh).await - before;
    assert!(
        made <= 49,
        "{made} calls: token 1 was cached, the others asked once each"
    );
    h.stop().await;
}

#[tokio::test]
async fn invented_user_names_do_not_widen_a_client_address_past_ten_times_a_user() {
    // A user may cause 2 refusals; an address where names are only claimed, 20.
    let (gh, h) = setup("server:\n  invalidTokenBudget: {perMinute: 1, burst: 2}\n").await;
    let pod = client_from(&h, "127.0.0.1");
    let mut last = Value::Null;
    for i in 0..40 {
        last = validate_as(&h, &pod, &format!("invented-{i}"), secret("made-up", &made_up(i))).await;
    }
    let calls = user_calls(&gh).await;
    assert!((20..=21).contains(&calls), "{calls} calls for 40 names");
    let m = message(&last);
    assert!(
        m.contains("this client (127.0.0.1)") && m.contains("whatever user names"),
        "{m}"
    );
    assert!(m.contains("10 a minute"), "10 × perMinute: {m}");
    assert!(
        h.metric("scopegate_invalid_token_budget_refusals_total{budget=\"client\"}")
            .await
            >= 19.0
    );
    // A real user elsewhere is untouched.
    let elsewhere = client_from(&h, "127.0.0.2");
    let v = validate_as(&h, &elsewhere, "alice", secret("real", &real(3))).await;
    assert_eq!(v["allowed"], true, "{v}");
    h.stop().await;
}

#[tokio::test]
async fn with_client_certificates_the_users_budget_holds_and_other_users_are_untouched() {
    use scopegate::config::Config;
    use scopegate::server::{ServeOptions, Server};
    let gh = MockServer::start().await;
    Github::on(&gh).classic(&real(7), "gitops-bot", "repo", None).await;
    Github::on(&gh).reject_others().await;
    let dir = tempfile::tempdir().unwrap();
    let serving_ca = loopback_certs(dir.path());
    let identity = client_ca_and_identity(dir.path());
    let config = Config::from_yaml(&format!(
        "server:\n  invalidTokenBudget: {{perMinute: 1, burst: 2}}\n{}",
        providers_yaml(&gh)
    ))
    .unwrap();
    let mut opts = ServeOptions::new(
        "127.0.0.1:0".parse().unwrap(),
        dir.path().join("tls.crt"),
        dir.path().join("tls.key"),
        config,
    );
    opts.client_ca = Some(dir.path().join("client-ca.crt"));
    let server = Server::bind(opts).await.unwrap();
    let port = server.local_addr().unwrap().port();
    tokio::spawn(server.run(std::future::pending()));
    let api_server = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(serving_ca.as_bytes()).unwrap()])
        .identity(identity)
        .build()
        .unwrap();
    let url = format!("https://127.0.0.1:{port}/validate?timeout=10s");
    // mallory's budget: two refusals, then not asked.
    let mut held = 0;
    for i in 0..6 {
        let v = validate_at(&api_server, &url, "mallory", secret("s", &made_up(i))).await;
        if message(&v).contains("user mallory") {
            held += 1;
        } else {
            assert!(message(&v).contains("401"), "{v}");
        }
    }
    assert!(
        held >= 3,
        "the user's budget holds through the API server's certificate: {held}"
    );
    assert!(user_calls(&gh).await <= 3);
    // Other users are untouched: each may still cause its own refusals, and real tokens pass. No
    // address budget applies here: the API server proves who it is, and names the user.
    for (i, user) in [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "ken", "leo",
    ]
    .iter()
    .enumerate()
    {
        let v = validate_at(&api_server, &url, user, secret("s", &made_up(100 + i))).await;
        assert!(message(&v).contains("401"), "{user}: {v}");
    }
    let v = validate_at(&api_server, &url, "alice", secret("r", &real(7))).await;
    assert_eq!(v["allowed"], true, "{v}");
}

#[tokio::test]
async fn refusals_never_open_the_circuit_and_throttled_logins_hold_back_only_their_credential() {
    let gh = MockServer::start().await;
    let stand = Github::on(&gh);
    stand.classic(&real(0), "gitops-bot", "repo", None).await;
    let throttled = made_up(999);
    Mock::given(method("GET"))
        .and(path("/user"))
        .and(header("authorization", format!("Bearer {throttled}").as_str()))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "message": "Maximum number of login attempts exceeded. Please try again later.",
            "documentation_url": "https://docs.github.com/rest"
        })))
        .mount(&gh)
        .await;
    stand.reject_others().await;
    let h = Harness::start(&format!(
        "circuitBreaker: {{failureThreshold: 2}}\nserver:\n  invalidTokenBudget: {{perMinute: 1, burst: 100}}\n{}",
        providers_yaml(&gh)
    ))
    .await;
    // Twenty refusals in a row (the breaker opens after two failures): still answering.
    for i in 0..20 {
        let v = h.validate(&ReviewBuilder::create(secret("s", &made_up(i)))).await;
        assert!(message(&v).contains("401"), "{v}");
    }
    // Throttled logins: unverified for that credential, asked once, however often it comes back.
    for _ in 0..5 {
        let v = h.validate(&ReviewBuilder::create(secret("t", &throttled))).await;
        let m = message(&v);
        assert!(m.contains("Maximum number of login attempts exceeded"), "{m}");
    }
    let asked_throttled = gh
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| {
            r.headers
                .get("authorization")
                .is_some_and(|a| a.to_str().unwrap_or_default().contains(&throttled))
        })
        .count();
    assert_eq!(asked_throttled, 1);
    // The provider itself was never taken for failing: a real token is verified.
    let v = h.validate(&ReviewBuilder::create(secret("r", &real(0)))).await;
    assert_eq!(v["allowed"], true, "{v}");
    let (_, metrics) = h.admin_get("/metrics").await;
    assert!(
        metrics.contains("scopegate_provider_circuit_open{provider=\"github.com\"} 0"),
        "{metrics}"
    );
    h.stop().await;
}
