//! Enterprise Git hosts (docs/how-to/enterprise-ca-and-proxy.md): a provider whose certificate a
//! private CA signed, trusted only through `caFile` and re-read when the file changes; calls through
//! a CONNECT proxy (configured, per provider, bypassed by `noProxy`, or from the environment), never
//! through a Secret's own `proxy`; Argo CD's credential precedence; custom requirements; and the
//! provider calls of one judgement overlapping, within `providerConcurrency`.

mod common;

use common::*;
use scopegate_testkit::network::{ConnectProxy, HoldingFront, TestCa, TlsFront};
use scopegate_testkit::review::ReviewBuilder;
use scopegate_testkit::standin::{BitbucketServer, RepoGrant, RepoPermission, basic, bearer};
use serde_json::Value;
use wiremock::MockServer;

const GHE_TOKEN: &str = "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";
/// A second token, so that a judgement is not the first one's (a provider failure is shared with the
/// reviews of the same credential for a second).
const GHE_TOKEN_2: &str = "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";
const GHE_TOKEN_3: &str = "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";

/// A GitHub Enterprise Server stand-in behind a TLS front whose certificate `ca` signed: the
/// stand-in, the front, and the `apiUrl` to configure.
async fn enterprise_github(ca: &TestCa) -> (MockServer, TlsFront, String) {
    let server = MockServer::start().await;
    let gh = Github::with_prefix(&server, "/api/v3");
    gh.classic(GHE_TOKEN, "gitops-bot", "repo", None).await;
    gh.classic(GHE_TOKEN_2, "gitops-bot", "repo", None).await;
    gh.classic(GHE_TOKEN_3, "gitops-bot", "repo", None).await;
    let front = TlsFront::start(*server.address(), ca).await.unwrap();
    let api = format!("https://127.0.0.1:{}/api/v3", front.addr.port());
    (server, front, api)
}

fn ghe_secret(extra: &[(&str, &str)]) -> Value {
    let mut b =
        SecretBuilder::argocd("ghe-repo", "repository").https("https://ghe.corp.example/acme/app", "git", GHE_TOKEN);
    for (k, v) in extra {
        b = b.data(k, v);
    }
    b.build()
}

fn ghe_provider(api: &str, extra: &str) -> String {
    format!("providers:\n  - kind: github\n    host: ghe.corp.example\n    apiUrl: {api}\n{extra}")
}

async fn verdict(h: &Harness, secret: Value) -> (String, Value) {
    let review = ReviewBuilder::create(secret);
    let m = h.mutate(&review).await;
    let a = patched_annotations(&review.build()["request"]["object"], &m);
    let v = h.validate(&review).await;
    (a.get("scopegate.dev/verdict").cloned().unwrap_or_default(), v)
}

#[tokio::test]
async fn a_private_ca_is_trusted_through_ca_file_only_and_reread_when_it_changes() {
    let ca = TestCa::new("corp root").unwrap();
    let (_server, front, api) = enterprise_github(&ca).await;

    // The system roots do not know the private CA: the provider cannot be asked, and the message
    // says why.
    let h = Harness::start(&ghe_provider(&api, "")).await;
    let (v, answer) = verdict(&h, ghe_secret(&[])).await;
    assert_eq!(v, "unverified");
    assert_eq!(answer["allowed"], false, "onProviderError: deny");
    let m = message(&answer);
    assert!(m.contains("certificate") || m.contains("UnknownIssuer"), "{m}");
    assert_eq!(front.handshakes(), 0);
    h.stop().await;

    // A bundle with another CA: still not trusted. The file then gets the right CA, as kubelet
    // updates a mounted ConfigMap (a new file swapped in): the next call trusts it.
    let dir = tempfile::tempdir().unwrap();
    let other = TestCa::new("someone else").unwrap();
    let bundle = dir.path().join("ca.pem");
    std::fs::write(&bundle, &other.pem).unwrap();
    let h = Harness::start(&ghe_provider(&api, &format!("    caFile: {}\n", bundle.display()))).await;
    let (v, _) = verdict(&h, ghe_secret(&[])).await;
    assert_eq!(v, "unverified");
    let swapped = dir.path().join("ca.pem.new");
    std::fs::write(&swapped, format!("{}{}", other.pem, ca.pem)).unwrap();
    std::fs::rename(&swapped, &bundle).unwrap();
    let second = SecretBuilder::argocd("ghe-repo", "repository")
        .https("https://ghe.corp.example/acme/app", "git", GHE_TOKEN_2)
        .build();
    let (v, answer) = verdict(&h, second).await;
    assert_eq!(v, "ok", "{answer}");
    assert!(front.handshakes() >= 1);

    // A file that stops loading keeps the last good bundle.
    std::fs::write(&bundle, "garbage\n").unwrap();
    let third = SecretBuilder::argocd("ghe-repo", "repository")
        .https("https://ghe.corp.example/acme/app", "git", GHE_TOKEN_3)
        .build();
    let (v, _) = verdict(&h, third).await;
    assert_eq!(v, "ok", "the last good bundle stays in use");
    h.stop().await;
}

#[tokio::test]
async fn insecure_does_not_change_how_scopegate_connects_and_is_warned_about() {
    let ca = TestCa::new("corp root").unwrap();
    let (_server, _front, api) = enterprise_github(&ca).await;
    let h = Harness::start(&ghe_provider(&api, "")).await;
    // Argo CD would skip verification; scopegate still verifies (and fails: no caFile).
    let (v, answer) = verdict(&h, ghe_secret(&[("insecure", "true")])).await;
    assert_eq!(v, "unverified", "{answer}");
    h.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("ca.pem");
    std::fs::write(&bundle, &ca.pem).unwrap();
    let h = Harness::start(&ghe_provider(&api, &format!("    caFile: {}\n", bundle.display()))).await;
    let (v, answer) = verdict(&h, ghe_secret(&[("insecure", "true")])).await;
    assert_eq!(v, "ok");
    assert_eq!(answer["allowed"], true);
    let w = warnings(&answer).join("\n");
    assert!(w.contains("sets insecure") && w.contains("does not verify"), "{w}");
    let (_, answer) = verdict(&h, ghe_secret(&[])).await;
    assert!(warnings(&answer).is_empty(), "{answer}");
    h.stop().await;
}

#[tokio::test]
async fn calls_go_through_the_configured_proxy_and_no_proxy_bypasses_it() {
    let ca = TestCa::new("corp root").unwrap();
    let (_server, front, api) = enterprise_github(&ca).await;
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("ca.pem");
    std::fs::write(&bundle, &ca.pem).unwrap();
    let ca_line = format!("    caFile: {}\n", bundle.display());
    let target = format!("127.0.0.1:{}", front.addr.port());

    // The top-level proxy: HTTPS goes through CONNECT to the provider.
    let proxy = ConnectProxy::start(None).await.unwrap();
    let yaml = format!("proxy:\n  url: http://{}\n{}", proxy.addr, ghe_provider(&api, &ca_line));
    let h = Harness::start(&yaml).await;
    let (v, answer) = verdict(&h, ghe_secret(&[])).await;
    assert_eq!(v, "ok", "{answer}");
    assert!(!proxy.tunnels().is_empty());
    assert!(
        proxy.tunnels().iter().all(|t| t.target == target),
        "{:?}",
        proxy.tunnels()
    );
    h.stop().await;

    // noProxy, by CIDR and by host name: straight to the provider.
    for (api, no_proxy) in [
        (api.clone(), "127.0.0.0/8"),
        (api.replace("127.0.0.1", "localhost"), "localhost"),
    ] {
        let proxy = ConnectProxy::start(None).await.unwrap();
        let yaml = format!(
            "proxy:\n  url: http://{}\n  noProxy: [internal.corp, \"{no_proxy}\"]\n{}",
            proxy.addr,
            ghe_provider(&api, &ca_line)
        );
        let h = Harness::start(&yaml).await;
        let (v, answer) = verdict(&h, ghe_secret(&[])).await;
        assert_eq!(v, "ok", "{no_proxy}: {answer}");
        assert_eq!(proxy.connections(), 0, "{no_proxy}");
        h.stop().await;
    }

    // A provider's own proxy wins over the top-level one, with credentials the proxy checks and
    // that no answer shows.
    let top = ConnectProxy::start(None).await.unwrap();
    let own = ConnectProxy::start(Some(("scopegate", "pr0xy-s3cret"))).await.unwrap();
    let yaml = format!(
        "proxy:\n  url: http://{}\n{}    proxy:\n      url: http://scopegate:pr0xy-s3cret@{}\n",
        top.addr,
        ghe_provider(&api, &ca_line),
        own.addr
    );
    let h = Harness::start(&yaml).await;
    let (v, answer) = verdict(&h, ghe_secret(&[])).await;
    assert_eq!(v, "ok", "{answer}");
    assert_eq!(top.connections(), 0);
    let tunnels = own.tunnels();
    assert!(!tunnels.is_empty());
    assert_eq!(
        tunnels[0].authorization.as_deref(),
        Some(basic("scopegate", "pr0xy-s3cret").as_str())
    );
    h.stop().await;

    // Wrong proxy credentials: the provider cannot be asked; the password is in no answer.
    let yaml = format!(
        "{}    proxy:\n      url: http://scopegate:wr0ng-pa55@{}\n",
        ghe_provider(&api, &ca_line),
        own.addr
    );
    let h = Harness::start(&yaml).await;
    let (v, answer) = verdict(&h, ghe_secret(&[])).await;
    assert_eq!(v, "unverified");
    assert!(!answer.to_string().contains("wr0ng-pa55"), "{answer}");
    h.stop().await;
}

#[tokio::test]
async fn a_secrets_own_proxy_is_never_used() {
    let ca = TestCa::new("corp root").unwrap();
    let (_server, _front, api) = enterprise_github(&ca).await;
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("ca.pem");
    std::fs::write(&bundle, &ca.pem).unwrap();
    let trap = ConnectProxy::start(None).await.unwrap();
    let configured = ConnectProxy::start(None).await.unwrap();
    for (yaml, through) in [
        // No proxy anywhere: straight to the provider.
        (ghe_provider(&api, &format!("    caFile: {}\n", bundle.display())), None),
        // A configured proxy: that one.
        (
            format!(
                "proxy:\n  url: http://{}\n{}",
                configured.addr,
                ghe_provider(&api, &format!("    caFile: {}\n", bundle.display()))
            ),
            Some(&configured),
        ),
    ] {
        let h = Harness::start(&yaml).await;
        let secret = ghe_secret(&[
            ("proxy", &format!("http://{}", trap.addr)),
            ("noProxy", "ghe.corp.example"),
        ]);
        let (v, answer) = verdict(&h, secret).await;
        assert_eq!(v, "ok", "{answer}");
        if let Some(p) = through {
            assert!(!p.tunnels().is_empty());
        }
        h.stop().await;
    }
    assert_eq!(trap.connections(), 0, "the Secret's proxy was connected to");
}

#[test]
fn without_a_proxy_key_the_environment_decides() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ca = TestCa::new("corp root").unwrap();
    let (_server, _front, api) = rt.block_on(enterprise_github(&ca));
    let proxy = rt.block_on(ConnectProxy::start(None)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("ca.pem");
    std::fs::write(&bundle, &ca.pem).unwrap();
    let ca_pem = loopback_certs(dir.path());
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        ghe_provider(&api, &format!("    caFile: {}\n", bundle.display())),
    )
    .unwrap();
    let args = |c: &std::path::Path| {
        vec![
            "serve".to_owned(),
            "--config".into(),
            c.display().to_string(),
            "--tls-cert".into(),
            dir.path().join("tls.crt").display().to_string(),
            "--tls-key".into(),
            dir.path().join("tls.key").display().to_string(),
        ]
    };
    let ask = |port: u16| {
        rt.block_on(async {
            let client = scopegate_testkit::https_client(ca_pem.as_bytes()).unwrap();
            let review = ReviewBuilder::create(ghe_secret(&[]));
            let v: Value = client
                .post(format!("https://127.0.0.1:{port}/validate"))
                .json(&review.build())
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["response"].clone()
        })
    };
    let https_proxy = format!("http://{}", proxy.addr);
    // HTTPS_PROXY applies...
    let s = Served::start(&args(&config), &[("HTTPS_PROXY", &https_proxy), ("NO_PROXY", "")]);
    let answer = ask(s.port);
    assert_eq!(answer["allowed"], true, "{answer}");
    assert_eq!(proxy.tunnels().len(), 1);
    s.terminate();
    let _ = s.logs.join();
    // ...and NO_PROXY exempts hosts from it.
    let s = Served::start(
        &args(&config),
        &[("HTTPS_PROXY", &https_proxy), ("NO_PROXY", "127.0.0.1")],
    );
    let answer = ask(s.port);
    assert_eq!(answer["allowed"], true, "{answer}");
    assert_eq!(proxy.tunnels().len(), 1, "NO_PROXY bypasses the proxy");
    s.terminate();
    let _ = s.logs.join();
    // A proxy key in the configuration (here for another provider) switches the environment off.
    let with_key = dir.path().join("with-key.yaml");
    std::fs::write(
        &with_key,
        format!(
            "{}  - kind: gitlab\n    host: gitlab.corp.example\n    apiUrl: https://gitlab.corp.example/api/v4\n    proxy:\n      url: http://127.0.0.1:9\n",
            ghe_provider(&api, &format!("    caFile: {}\n", bundle.display()))
        ),
    )
    .unwrap();
    let s = Served::start(&args(&with_key), &[("HTTPS_PROXY", &https_proxy), ("NO_PROXY", "")]);
    let answer = ask(s.port);
    assert_eq!(answer["allowed"], true, "{answer}");
    assert_eq!(proxy.tunnels().len(), 1, "the environment's proxy is not used");
    s.terminate();
    let _ = s.logs.join();

    // Proxy credentials, from the configuration or the environment, appear in no log line, even at
    // trace level.
    let guarded = rt
        .block_on(ConnectProxy::start(Some(("scopegate", "Pr0xyPa55w0rd"))))
        .unwrap();
    let with_credentials = dir.path().join("with-credentials.yaml");
    std::fs::write(
        &with_credentials,
        format!(
            "proxy:\n  url: http://scopegate:Pr0xyPa55w0rd@{}\n{}",
            guarded.addr,
            ghe_provider(&api, &format!("    caFile: {}\n", bundle.display()))
        ),
    )
    .unwrap();
    let s = Served::start(&args(&with_credentials), &[("RUST_LOG", "trace"), ("NO_PROXY", "")]);
    assert_eq!(ask(s.port)["allowed"], true);
    s.terminate();
    let logs = s.logs.join().unwrap();
    assert!(!guarded.tunnels().is_empty());
    assert!(!logs.contains("Pr0xyPa55w0rd"), "the proxy password is in the logs");
    let encoded = basic("scopegate", "Pr0xyPa55w0rd");
    let encoded = encoded.trim_start_matches("Basic ");
    assert!(!logs.contains(encoded), "the proxy credentials are in the logs");
    let env_proxy = format!("http://scopegate:Pr0xyPa55w0rd@{}", guarded.addr);
    let s = Served::start(
        &args(&config),
        &[("RUST_LOG", "trace"), ("HTTPS_PROXY", &env_proxy), ("NO_PROXY", "")],
    );
    assert_eq!(ask(s.port)["allowed"], true);
    s.terminate();
    let logs = s.logs.join().unwrap();
    assert!(guarded.tunnels().len() >= 2);
    assert!(!logs.contains("Pr0xyPa55w0rd"), "the proxy password is in the logs");
}

/// Argo CD's precedence (argo-cd util/git/creds.go): with forceHttpBasicAuth and a password, the
/// password goes as HTTP Basic even beside a bearer token; otherwise the bearer token.
#[tokio::test]
async fn the_credential_judged_is_the_one_argo_cd_sends() {
    let server = MockServer::start().await;
    let dc = BitbucketServer::on(&server);
    // The password works with Basic, the bearer token with Bearer; each is refused the other way.
    dc.token(
        &basic("bot", "pw-basic-0001"),
        "bot",
        "PLAT",
        "app",
        RepoPermission::Read,
    )
    .await;
    dc.token(
        &bearer("BBDC-BearerToken0002"),
        "bot",
        "PLAT",
        "app",
        RepoPermission::Read,
    )
    .await;
    dc.reject_others().await;
    let h = Harness::start(&providers_yaml(&server)).await;
    let secret = |fields: &[(&str, &str)]| {
        let mut b = SecretBuilder::argocd("dc-repo", "repository")
            .data("url", "https://bitbucket.corp/scm/PLAT/app.git")
            .data("username", "bot");
        for (k, v) in fields {
            b = b.data(k, v);
        }
        b.build()
    };
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[("password", "pw-basic-0001"), ("bearerToken", "BBDC-BearerToken0002")],
            "ok",
        ),
        (&[("password", "wrong"), ("bearerToken", "BBDC-BearerToken0002")], "ok"),
        (
            &[
                ("password", "wrong"),
                ("bearerToken", "BBDC-BearerToken0002"),
                ("forceHttpBasicAuth", "true"),
            ],
            "invalid",
        ),
        (
            &[
                ("password", "pw-basic-0001"),
                ("bearerToken", "wrong"),
                ("forceHttpBasicAuth", "true"),
            ],
            "ok",
        ),
        (
            &[
                ("password", ""),
                ("bearerToken", "BBDC-BearerToken0002"),
                ("forceHttpBasicAuth", "true"),
            ],
            "ok",
        ),
    ];
    for (fields, want) in cases {
        let (v, answer) = verdict(&h, secret(fields)).await;
        assert_eq!(v, want, "{fields:?}: {answer}");
    }
    let (v, answer) = verdict(
        &h,
        secret(&[("password", "pw-basic-0001"), ("forceHttpBasicAuth", "yes")]),
    )
    .await;
    assert_eq!(v, "invalid");
    assert!(message(&answer).contains("forceHttpBasicAuth"), "{answer}");
    h.stop().await;
}

#[tokio::test]
async fn custom_requirements_turn_ok_and_insufficient_both_ways() {
    let server = MockServer::start().await;
    let gh = Github::on(&server);
    gh.classic("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", "alice", "repo", None)
        .await;
    gh.classic("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", "gitops-bot", "repo", None)
        .await;
    let user = SecretBuilder::argocd("git-default-1", "repository")
        .https(
            "https://github.com/acme/app",
            "git",
            "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",
        )
        .build();
    let runtime = SecretBuilder::argocd("runtime-repo-creds-secret", "repo-creds")
        .https(
            "https://github.com/acme",
            "git",
            "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",
        )
        .build();
    let base = format!("serviceAccounts: [gitops-bot]\n{}", providers_yaml(&server));

    let h = Harness::start(&base).await;
    assert_eq!(verdict(&h, user.clone()).await.0, "ok");
    assert_eq!(verdict(&h, runtime.clone()).await.0, "insufficient");
    h.stop().await;

    let custom = format!(
        "{base}requirements:\n  user:\n    github-classic: [repo, admin:repo_hook]\n  runtime:\n    github-classic: [repo]\n"
    );
    let h = Harness::start(&custom).await;
    let (v, answer) = verdict(&h, user).await;
    assert_eq!(v, "insufficient");
    let m = message(&answer);
    assert!(m.contains("lacks scope: admin:repo_hook"), "{m}");
    assert!(
        m.contains("scopes=repo,admin:repo_hook"),
        "the token form follows the table: {m}"
    );
    assert_eq!(verdict(&h, runtime).await.0, "ok");
    h.stop().await;
}

#[tokio::test]
async fn one_judgements_probes_overlap_within_provider_concurrency() {
    const TOKEN: &str = "github_pat_11FineGrainedRuntime_0000000000000000000000000000000000000000000001";
    let server = MockServer::start().await;
    let gh = Github::on(&server);
    gh.fine_grained(TOKEN, "gitops-bot", "2027-06-30 00:00:00 UTC").await;
    for repo in ["one", "two", "three"] {
        gh.fine_grained_repo(TOKEN, "/git", &RepoGrant::all("acme", repo)).await;
    }
    // Held: every repository probe but the request built to be refused (which waits for the hooks
    // listing's answer). Three repositories × six probes = 18 at once when nothing waits for anything.
    fn held(path: &str) -> bool {
        (path.starts_with("/repos/") && !path.ends_with("/hooks/4294967289")) || path.ends_with("/info/refs")
    }
    let secret = SecretBuilder::argocd("runtime-repo-creds-secret", "repo-creds")
        .https("https://github.com/acme", "git", TOKEN)
        .annotation("scopegate.dev/probe-repositories", "acme/one, acme/two, acme/three")
        .build();
    for (concurrency, expect) in [(32usize, 18usize), (4, 4)] {
        let front = HoldingFront::start(*server.address(), expect, held).await.unwrap();
        let u = format!("http://{}", front.addr);
        let h = Harness::start(&format!(
            "serviceAccounts: [gitops-bot]\nproviderTimeout: 10s\nproviderConcurrency: {concurrency}\nproviders:\n  - kind: github\n    host: github.com\n    apiUrl: {u}\n    gitUrl: {u}/git\n"
        ))
        .await;
        let (v, answer) = verdict(&h, secret.clone()).await;
        assert_eq!(v, "ok", "{answer}");
        assert_eq!(front.max_in_flight(), expect, "providerConcurrency {concurrency}");
        h.stop().await;
    }
}
