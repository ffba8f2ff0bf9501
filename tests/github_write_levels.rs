//! GitHub fine-grained write levels established, not guessed (reference §1.8): Administration write
//! from the rule suites, Webhooks, Commit statuses and Pull requests write from requests built to be
//! refused — against a stand-in that answers as GitHub does (the permission checked before the lookup
//! and the body), per token and per repository; what a misbehaving or rate-limiting GitHub makes of
//! them; `writeProbes: false`; and every front end.

mod common;

use common::*;
use scopegate_testkit::kube_api::FakeKube;
use scopegate_testkit::standin::{Level, Refusals, RepoGrant};
use serde_json::Value;
use wiremock::MockServer;

fn token(n: usize) -> String {
    format!("github_pat_11AAAAAAA0{n:012}_WriteLevelsStandInToken{n:031}")
}

const SHARED: &str = "https://github.com/acme/isc";

/// The runtime Secret (a credential template, probed on the Shared Configuration Repository).
fn runtime_secret(token: &str) -> Value {
    SecretBuilder::argocd("runtime-repo-creds-secret", "repo-creds")
        .https("https://github.com/acme", "git", token)
        .build()
}

fn config(server: &MockServer, extra: &str) -> String {
    format!(
        "sharedConfigurationRepo: {SHARED}\nserviceAccounts: [gitops-bot]\n{extra}{}",
        providers_yaml(server)
    )
}

/// Codefresh's current fine-grained runtime row (reference §9).
const CODEFRESH_SIX: &str = "requirements:\n  runtime:\n    github-fine-grained: {administration: write, contents: write, \
                             metadata: read, webhooks: write, pull_requests: write, statuses: write}\n";

/// The requests `server` received that are not `GET`: (method, path).
async fn non_gets(server: &MockServer) -> Vec<(String, String)> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() != "GET")
        .map(|r| (r.method.to_string(), r.url.path().to_owned()))
        .collect()
}

#[tokio::test]
async fn codefreshs_six_permissions_each_established_both_ways() {
    let server = MockServer::start().await;
    let gh = Github::on(&server);
    let h = Harness::start(&config(&server, CODEFRESH_SIX)).await;

    let all = token(1);
    gh.fine_grained(&all, "gitops-bot", "2027-03-31 00:00:00 UTC").await;
    gh.fine_grained_repo(&all, "/git", &RepoGrant::all("acme", "isc")).await;
    let (v, a) = judge_secret(&h, runtime_secret(&all)).await;
    assert_eq!(a["scopegate.dev/verdict"], "ok", "{a:?}");
    assert_eq!(v["allowed"], true);
    for p in [
        "administration:write",
        "contents:write",
        "metadata:read",
        "webhooks:write",
        "pull_requests:write",
        "statuses:write",
    ] {
        assert!(a["scopegate.dev/scopes"].split(',').any(|s| s == p), "{p}: {a:?}");
    }
    // The three requests built to be refused went out, once each.
    let mut sent = non_gets(&server).await;
    sent.sort();
    assert_eq!(
        sent,
        [
            ("PATCH".to_owned(), "/repos/acme/isc/hooks/4294967289".to_owned()),
            ("POST".to_owned(), "/repos/acme/isc/pulls".to_owned()),
            (
                "POST".to_owned(),
                "/repos/acme/isc/statuses/scopegate-refusal-probe-no-such-commit".to_owned()
            ),
        ]
    );

    type Weaken = fn(&mut RepoGrant);
    let cases: [(&str, Weaken, &str); 12] = [
        (
            "administration:write",
            |g| g.administration = Level::Read,
            "administration=write",
        ),
        (
            "administration:write",
            |g| g.administration = Level::None,
            "administration=read",
        ),
        ("contents:write", |g| g.contents = Level::Read, "receive-pack"),
        ("contents:write", |g| g.contents = Level::None, "contents=read"),
        ("webhooks:write", |g| g.webhooks = Level::Read, "repository_hooks=write"),
        ("webhooks:write", |g| g.webhooks = Level::None, "repository_hooks=read"),
        (
            "pull_requests:write",
            |g| g.pull_requests = Level::Read,
            "pull_requests=write",
        ),
        (
            "pull_requests:write",
            |g| g.pull_requests = Level::None,
            "pull_requests=read",
        ),
        ("statuses:write", |g| g.statuses = Level::Read, "statuses=write"),
        ("statuses:write", |g| g.statuses = Level::None, "statuses=read"),
        ("metadata:read", |g| g.visible = false, "not visible"),
        ("webhooks:write", |g| g.webhooks = Level::Read, "Webhooks: read only"),
    ];
    for (i, (missing, weaken, said)) in cases.into_iter().enumerate() {
        let t = token(10 + i);
        gh.fine_grained(&t, "gitops-bot", "2027-03-31 00:00:00 UTC").await;
        let mut g = RepoGrant::all("acme", "isc");
        weaken(&mut g);
        gh.fine_grained_repo(&t, "/git", &g).await;
        let (v, a) = judge_secret(&h, runtime_secret(&t)).await;
        assert_eq!(a["scopegate.dev/verdict"], "insufficient", "without {missing}: {a:?}");
        assert!(
            a["scopegate.dev/missing"].split(',').any(|m| m == missing),
            "{missing}: {a:?}"
        );
        let msg = message(&v);
        assert!(msg.contains(said), "{missing}: {msg}");
        // The token form, pre-filled with all six permissions as configured.
        assert!(
            msg.contains("&pull_requests=write&statuses=write"),
            "the link follows the override: {msg}"
        );
        assert!(!msg.contains(&t));
    }
}

#[tokio::test]
async fn refusals_go_out_only_after_their_read_answered_200_and_only_for_a_role_that_needs_them() {
    let server = MockServer::start().await;
    let gh = Github::on(&server);
    let h = Harness::start(&config(&server, "")).await;

    // The write role needs no Webhooks: nothing but GETs.
    let push = token(40);
    gh.fine_grained(&push, "gitops-bot", "2027-03-31 00:00:00 UTC").await;
    gh.fine_grained_repo(&push, "/git", &RepoGrant::all("acme", "app"))
        .await;
    let s = SecretBuilder::argocd("push", "repository-write")
        .https("https://github.com/acme/app", "git", &push)
        .build();
    let (_, a) = judge_secret(&h, s).await;
    assert_eq!(a["scopegate.dev/verdict"], "ok");
    assert!(non_gets(&server).await.is_empty(), "no refusal for the write role");

    // Runtime, Webhooks read refused: the write request is never sent (a 404 after a refused read
    // would prove nothing).
    let none = token(41);
    gh.fine_grained(&none, "gitops-bot", "2027-03-31 00:00:00 UTC").await;
    let mut g = RepoGrant::all("acme", "isc");
    g.webhooks = Level::None;
    gh.fine_grained_repo(&none, "/git", &g).await;
    let (_, a) = judge_secret(&h, runtime_secret(&none)).await;
    assert_eq!(a["scopegate.dev/missing"], "webhooks:write");
    assert!(
        non_gets(&server).await.is_empty(),
        "no refusal without a read that answered 200"
    );

    // Runtime with everything: the PATCH comes after the hooks listing it waits for, on the same repository.
    let all = token(42);
    gh.fine_grained(&all, "gitops-bot", "2027-03-31 00:00:00 UTC").await;
    gh.fine_grained_repo(&all, "/git", &RepoGrant::all("acme", "isc")).await;
    let (_, a) = judge_secret(&h, runtime_secret(&all)).await;
    assert_eq!(a["scopegate.dev/verdict"], "ok");
    let requests = server.received_requests().await.unwrap();
    let auth = scopegate_testkit::standin::bearer(&all);
    let mine: Vec<_> = requests
        .iter()
        .filter(|r| r.headers.get("authorization").is_some_and(|v| v == auth.as_str()))
        .collect();
    let listing = mine
        .iter()
        .position(|r| r.url.path() == "/repos/acme/isc/hooks")
        .expect("the hooks were listed");
    let patch = mine
        .iter()
        .position(|r| r.method.as_str() == "PATCH")
        .expect("the refusal was sent");
    assert!(listing < patch, "the read first");
    let patch = mine[patch];
    assert_eq!(patch.body, b"{}", "an empty body");
    assert_eq!(
        patch.headers.get("content-type").map(|v| v.to_str().unwrap()),
        Some("application/json")
    );
}

#[tokio::test]
async fn a_token_pending_the_organisations_approval_is_insufficient_and_says_why_it_may_be() {
    let server = MockServer::start().await;
    let gh = Github::on(&server);
    let h = Harness::start(&config(&server, "")).await;
    // Pending: reads only public repositories; the private ones answer 404 like any not selected.
    let pending = token(50);
    gh.fine_grained(&pending, "gitops-bot", "2027-03-31 00:00:00 UTC").await;
    let mut g = RepoGrant::all("acme", "isc");
    g.visible = false;
    gh.fine_grained_repo(&pending, "/git", &g).await;
    let (v, a) = judge_secret(&h, runtime_secret(&pending)).await;
    assert_eq!(a["scopegate.dev/verdict"], "insufficient");
    assert_eq!(v["allowed"], false);
    let msg = message(&v);
    assert!(msg.contains("acme/isc is not visible to the token"), "{msg}");
    assert!(msg.contains("awaits the organisation's approval"), "{msg}");
    assert!(non_gets(&server).await.is_empty());
}

#[tokio::test]
async fn a_rate_limited_refusal_is_unverified_and_holds_the_provider_back() {
    let server = MockServer::start().await;
    let gh = Github::on(&server);
    let h = Harness::start(&config(&server, "onProviderError: allow\n")).await;
    let t = token(60);
    gh.fine_grained(&t, "gitops-bot", "2027-03-31 00:00:00 UTC").await;
    let mut g = RepoGrant::all("acme", "isc");
    g.refusals = Refusals::RateLimited;
    gh.fine_grained_repo(&t, "/git", &g).await;
    let (v, a) = judge_secret(&h, runtime_secret(&t)).await;
    assert_eq!(a["scopegate.dev/verdict"], "unverified", "{a:?}");
    assert!(a["scopegate.dev/reason"].contains("rate limiting"), "{a:?}");
    assert_eq!(v["allowed"], true, "onProviderError: allow");
    assert_eq!(
        h.metric("scopegate_provider_circuit_open{provider=\"github.com\"}")
            .await,
        1.0,
        "the rate limit opened the circuit as for any other call"
    );
}

#[tokio::test]
async fn a_refusal_github_accepts_is_never_a_grant_and_is_said_loudly_without_the_token() {
    let server = MockServer::start().await;
    let gh = Github::on(&server);
    let t = token(70);
    gh.fine_grained(&t, "gitops-bot", "2027-03-31 00:00:00 UTC").await;
    let mut g = RepoGrant::all("acme", "isc");
    g.refusals = Refusals::Accept;
    gh.fine_grained_repo(&t, "/git", &g).await;
    // The real binary, to read its log.
    let dir = tempfile::tempdir().unwrap();
    loopback_certs(dir.path());
    std::fs::write(dir.path().join("config.yaml"), config(&server, CODEFRESH_SIX)).unwrap();
    let arg = |f: &str| dir.path().join(f).to_string_lossy().into_owned();
    let served = Served::start(
        &[
            "serve",
            "--config",
            &arg("config.yaml"),
            "--tls-cert",
            &arg("tls.crt"),
            "--tls-key",
            &arg("tls.key"),
        ],
        &[("RUST_LOG", "trace")],
    );
    let before = served.admin_get("/metrics");
    assert!(
        before.contains("scopegate_probe_unexpected_success_total{provider=\"github.com\"} 0"),
        "the series exists from the start"
    );
    let client = scopegate_testkit::https_client(std::fs::read(dir.path().join("ca.crt")).unwrap().as_slice()).unwrap();
    let review = scopegate_testkit::review::ReviewBuilder::create(runtime_secret(&t));
    let resp: Value = client
        .post(format!("https://127.0.0.1:{}/mutate?timeout=10s", served.port))
        .json(&review.build())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let a = patched_annotations(&review.build()["request"]["object"], &resp["response"]);
    assert_eq!(a["scopegate.dev/verdict"], "unverified", "{a:?}");
    let reason = &a["scopegate.dev/reason"];
    assert!(
        reason.contains("accepted (HTTP 200) a request built to be refused"),
        "{reason}"
    );
    for p in ["webhooks:write", "statuses:write", "pull_requests:write"] {
        assert!(reason.contains(p), "{p}: {reason}");
        assert!(
            !a["scopegate.dev/scopes"].split(',').any(|s| s == p),
            "{p} never granted: {a:?}"
        );
    }
    let line = served.wait_for_line("the provider accepted a request built to be refused");
    assert!(line.contains("ERROR"), "{line}");
    let after = served.admin_get("/metrics");
    assert!(
        after.contains("scopegate_probe_unexpected_success_total{provider=\"github.com\"} 3"),
        "{after}"
    );
    served.terminate();
    let Served { mut child, logs, .. } = served;
    // Wait off the runtime, so the client's connection can answer the server's HTTP/2 GOAWAY.
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success());
    let logs = logs.join().unwrap();
    assert!(!logs.contains(&t) && !logs.contains(&t[11..40]), "no token in the log");
}

#[tokio::test]
async fn write_probes_false_keeps_github_to_get_and_head_and_says_which_key() {
    let server = MockServer::start().await;
    let gh = Github::on(&server);
    let yaml = format!(
        "sharedConfigurationRepo: {SHARED}\nserviceAccounts: [gitops-bot]\n{CODEFRESH_SIX}providers:\n  - kind: github\n    host: github.com\n    apiUrl: {u}\n    gitUrl: {u}/git\n    writeProbes: false\n",
        u = server.uri()
    );
    let h = Harness::start(&yaml).await;
    let t = token(80);
    gh.fine_grained(&t, "gitops-bot", "2027-03-31 00:00:00 UTC").await;
    gh.fine_grained_repo(&t, "/git", &RepoGrant::all("acme", "isc")).await;
    let (v, a) = judge_secret(&h, runtime_secret(&t)).await;
    assert_eq!(a["scopegate.dev/verdict"], "unverified", "{a:?}");
    assert!(a["scopegate.dev/reason"].contains("writeProbes"), "{a:?}");
    assert!(warnings(&v).join(" ").contains("writeProbes"), "{v}");
    // What GETs can prove still is: Administration and Contents write.
    for p in ["administration:write", "contents:write"] {
        assert!(a["scopegate.dev/scopes"].split(',').any(|s| s == p), "{p}: {a:?}");
    }
    let methods: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.method.to_string())
        .collect();
    assert!(!methods.is_empty());
    assert!(
        methods.iter().all(|m| m == "GET" || m == "HEAD"),
        "only GET and HEAD: {methods:?}"
    );
    assert!(
        h.admin_get("/metrics")
            .await
            .1
            .lines()
            .all(|l| !l.starts_with("scopegate_probe_unexpected_success_total{")),
        "no such series for a provider that is never sent one"
    );
}

#[tokio::test]
async fn write_probes_is_refused_on_other_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        "providers:\n  - kind: gitlab\n    host: gitlab.corp\n    apiUrl: https://gitlab.corp/api/v4\n    writeProbes: true\n",
    )
    .unwrap();
    let run = run_scopegate(
        args(&[
            "check",
            "--config",
            cfg.to_str().unwrap(),
            "--url",
            "https://gitlab.corp/a/b",
            "--token-file",
            "-",
        ]),
        Some("glpat-x\n".into()),
    )
    .await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("providers[0].writeProbes"), "{}", run.stderr);
}

/// The same fine-grained runtime tokens through `check`, `audit` and `watch`: the same verdicts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_front_end_gives_the_same_verdicts() {
    let server = MockServer::start().await;
    let gh = Github::on(&server);
    let ok = token(90);
    let no_hooks = token(91);
    for (t, hooks) in [(&ok, Level::Write), (&no_hooks, Level::Read)] {
        gh.fine_grained(t, "gitops-bot", "2027-03-31 00:00:00 UTC").await;
        let mut g = RepoGrant::all("acme", "isc");
        g.webhooks = hooks;
        g.has_ruleset = false;
        gh.fine_grained_repo(t, "/git", &g).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(&cfg, config(&server, "")).unwrap();
    let cfg = cfg.to_str().unwrap().to_owned();

    // check, one token per role
    for (t, verdict, code) in [(&ok, "ok", 0), (&no_hooks, "insufficient", 1)] {
        let run = run_scopegate(
            args(&[
                "check",
                "--config",
                &cfg,
                "--url",
                "https://github.com/acme",
                "--token-file",
                "-",
                "--role",
                "runtime",
                "-o",
                "json",
            ]),
            Some(format!("{t}\n")),
        )
        .await;
        assert_eq!(run.code, Some(code), "{run:?}");
        // --url names no Secret: a template is probed on the Shared Configuration Repository.
        assert_eq!(run.json()[0]["verdict"], verdict, "{run:?}");
    }

    // audit
    let kube = FakeKube::start().await.unwrap();
    for (ns, t) in [("codefresh", &ok), ("codefresh-dev", &no_hooks)] {
        let mut s = runtime_secret(t);
        s["metadata"]["namespace"] = ns.into();
        kube.add(s);
    }
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, kube.kubeconfig("default")).unwrap();
    let run = run_scopegate(
        args(&[
            "audit",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--config",
            &cfg,
            "-A",
            "-o",
            "json",
            "--no-coverage",
        ]),
        None,
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    let found: Vec<(String, String)> = run
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["namespace"].as_str().unwrap().to_owned(),
                e["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("codefresh".to_owned(), "ok".to_owned()),
            ("codefresh-dev".to_owned(), "insufficient".to_owned())
        ]
    );

    // watch
    let w = Served::watch(
        &[
            "watch",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--config",
            &cfg,
            "--no-leader-election",
        ],
        &[("RUST_LOG", "info")],
    );
    w.wait_for_all(&["verdict changed", "namespace=codefresh ", "new=ok"]);
    w.wait_for_all(&["verdict changed", "namespace=codefresh-dev", "new=insufficient"]);
    let event = kube
        .wait_for("events", "codefresh-dev", std::time::Duration::from_secs(30), |e| {
            e["reason"] == "TokenInsufficient"
        })
        .await
        .expect("a Warning Event");
    assert!(event["note"].as_str().unwrap().contains("webhooks:write"), "{event}");
    let metrics = w.admin_get("/metrics");
    assert!(
        metrics.contains("scopegate_credential_verdict{namespace=\"codefresh\",name=\"runtime-repo-creds-secret\",verdict=\"ok\",provider=\"github\",token_kind=\"fine-grained\",role=\"runtime\"} 1"),
        "{metrics}"
    );
    w.terminate();
    let Served { mut child, logs, .. } = w;
    child.wait().unwrap();
    let logs = logs.join().unwrap();
    assert!(!logs.contains(ok.as_str()) && !logs.contains(no_hooks.as_str()));
}
