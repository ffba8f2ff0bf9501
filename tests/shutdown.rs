//! A rolling update loses nothing: SIGTERM during a burst stops new connections, and every accepted
//! review still gets its answer before the process exits. The real binary, as a subprocess.

mod common;

use common::*;
use scopegate_testkit::held::HeldGithub;
use scopegate_testkit::review::ReviewBuilder;
use wiremock::MockServer;

/// Certificates for 127.0.0.1 and a configuration file, in a temporary directory.
fn setup(config: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let ca = loopback_certs(dir.path());
    std::fs::write(dir.path().join("config.yaml"), config).unwrap();
    (dir, ca)
}

fn serve_args(dir: &tempfile::TempDir, global: &[&str]) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = global.iter().map(Into::into).collect();
    args.push("serve".into());
    for (flag, file) in [
        ("--config", "config.yaml"),
        ("--tls-cert", "tls.crt"),
        ("--tls-key", "tls.key"),
    ] {
        args.push(flag.into());
        args.push(dir.path().join(file).into());
    }
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_burst_answers_every_accepted_review() {
    // The provider holds every answer until the test releases it: the reviews are surely in flight
    // when the signal comes, and answered only once scopegate is stopping.
    let gh = HeldGithub::start("bot", "repo", None).await;
    // 20 calls out at once: more than the default providerConcurrency of 16.
    let (dir, ca) = setup(&format!(
        "providerConcurrency: 32\nproviders:\n  - kind: github\n    host: github.com\n    apiUrl: {}\n",
        gh.uri
    ));
    let served = Served::start(&serve_args(&dir, &[]), &[]);
    let port = served.port;
    let client = scopegate_testkit::https_client(ca.as_bytes()).unwrap();
    let mut reviews = Vec::new();
    for i in 0..20 {
        let review = ReviewBuilder::create(
            SecretBuilder::argocd(&format!("repo-{i}"), "repository")
                .https(
                    "https://github.com/acme/app",
                    "x",
                    &scopegate_testkit::github_token("ghp_", &format!("Shutdown{i:022}")),
                )
                .build(),
        );
        let uid = review.uid().to_owned();
        let client = client.clone();
        reviews.push(tokio::spawn(async move {
            let r = client
                .post(format!("https://127.0.0.1:{port}/validate?timeout=10s"))
                .json(&review.build())
                .send()
                .await
                .expect("an accepted review is answered");
            let status = r.status();
            let v: serde_json::Value = r.json().await.unwrap();
            (uid, status, v)
        }));
    }
    gh.arrived(20).await;
    served.terminate();
    let served = tokio::task::spawn_blocking(move || {
        served.wait_for_line("stopping: no new connections");
        served
    })
    .await
    .unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "no new connections once stopping"
    );
    gh.release();
    for r in reviews {
        let (uid, status, v) = r.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(v["response"]["uid"], uid);
        assert_eq!(v["response"]["allowed"], true, "{v}");
    }
    let Served { mut child, logs, .. } = served;
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    let logs = logs.join().unwrap();
    assert!(logs.contains("stopped"), "{logs}");
    assert_eq!(logs.matches("admission review").count(), 20, "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_one_line_per_review_with_its_fields() {
    let gh = MockServer::start().await;
    Github::on(&gh)
        .classic("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", "bot", "repo", None)
        .await;
    let (dir, ca) = setup(&providers_yaml(&gh));
    let served = Served::start(&serve_args(&dir, &["--log-format", "json"]), &[]);
    let client = scopegate_testkit::https_client(ca.as_bytes()).unwrap();
    let review = ReviewBuilder::create(
        SecretBuilder::argocd("app", "repository")
            .https(
                "https://github.com/acme/app",
                "x",
                "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",
            )
            .build(),
    );
    for _ in 0..2 {
        let r = client
            .post(format!("https://127.0.0.1:{}/validate", served.port))
            .json(&review.build())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    served.terminate();
    let Served { mut child, logs, .. } = served;
    let _ = tokio::task::spawn_blocking(move || child.wait()).await.unwrap();
    let logs = logs.join().unwrap();
    let reviews: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("every log line is JSON"))
        .filter(|v| v["message"] == "admission review")
        .collect();
    assert_eq!(reviews.len(), 2);
    for (i, v) in reviews.iter().enumerate() {
        assert_eq!(v["uid"], review.uid());
        assert_eq!(v["namespace"], "argocd");
        assert_eq!(v["name"], "app");
        assert_eq!(v["operation"], "CREATE");
        assert_eq!(v["verdict"], "ok");
        assert_eq!(v["allowed"], true);
        assert_eq!(v["cache_hit"], i == 1, "the second review is answered from the cache");
        assert!(v["duration_ms"].as_f64().is_some());
    }
}
