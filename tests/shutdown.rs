//! A rolling update loses nothing: SIGTERM during a burst stops new connections, and every accepted
//! review still gets its answer before the process exits. The real binary, as a subprocess.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use scopegate_testkit::review::ReviewBuilder;
use scopegate_testkit::standin::Notify;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_burst_answers_every_accepted_review() {
    let gh = MockServer::start().await;
    let (notify, asked) =
        Notify::new(Github::classic_answer("bot", "repo", None).set_delay(Duration::from_millis(800)));
    Mock::given(method("GET")).respond_with(notify).mount(&gh).await;

    let dir = tempfile::tempdir().unwrap();
    let mut req = scopegate::certs::CertRequest::new("scopegate", "scopegate");
    req.extra_sans = vec!["127.0.0.1".into()];
    let issued = scopegate::certs::issue(&req).unwrap();
    scopegate::certs::write(dir.path(), &issued).unwrap();
    std::fs::write(dir.path().join("config.yaml"), providers_yaml(&gh)).unwrap();
    let (port, admin) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_scopegate"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--admin-listen",
            &format!("127.0.0.1:{admin}"),
        ])
        .arg("--config")
        .arg(dir.path().join("config.yaml"))
        .arg("--tls-cert")
        .arg(dir.path().join("tls.crt"))
        .arg("--tls-key")
        .arg(dir.path().join("tls.key"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (ready_tx, ready_rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        let mut ready = Some(ready_tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("serving HTTPS")
                && let Some(tx) = ready.take()
            {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("scopegate started");

    let client = scopegate_testkit::https_client(issued.ca_cert.as_bytes()).unwrap();
    let mut reviews = Vec::new();
    for i in 0..20 {
        let review = ReviewBuilder::create(
            SecretBuilder::argocd(&format!("repo-{i}"), "repository")
                .https("https://github.com/acme/app", "x", &format!("ghp_Shutdown{i:028}"))
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
    // Every review is in flight, waiting on the provider, when the signal comes.
    let all_in_flight =
        tokio::task::spawn_blocking(move || (0..20).all(|_| asked.recv_timeout(Duration::from_secs(20)).is_ok()));
    assert!(all_in_flight.await.unwrap());
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );

    for r in reviews {
        let (uid, status, v) = r.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(v["response"]["uid"], uid);
        assert_eq!(v["response"]["allowed"], true);
    }
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    let logs = reader.join().unwrap();
    assert!(logs.contains("stopping: no new connections"), "{logs}");
    assert!(logs.contains("stopped"), "{logs}");
    assert_eq!(logs.matches("admission review").count(), 20, "{logs}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "no new connections once stopped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_one_line_per_review_with_its_fields() {
    let gh = MockServer::start().await;
    Github::on(&gh)
        .classic("ghp_JsonLogs000000000000000000000000000001", "bot", "repo", None)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut req = scopegate::certs::CertRequest::new("scopegate", "scopegate");
    req.extra_sans = vec!["127.0.0.1".into()];
    let issued = scopegate::certs::issue(&req).unwrap();
    scopegate::certs::write(dir.path(), &issued).unwrap();
    std::fs::write(dir.path().join("config.yaml"), providers_yaml(&gh)).unwrap();
    let (port, admin) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_scopegate"))
        .args(["--log-format", "json", "serve"])
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--admin-listen",
            &format!("127.0.0.1:{admin}"),
        ])
        .arg("--config")
        .arg(dir.path().join("config.yaml"))
        .arg("--tls-cert")
        .arg(dir.path().join("tls.crt"))
        .arg("--tls-key")
        .arg(dir.path().join("tls.key"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (ready_tx, ready_rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        let mut ready = Some(ready_tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("serving HTTPS")
                && let Some(tx) = ready.take()
            {
                let _ = tx.send(());
            }
            lines.push(line);
        }
        lines
    });
    ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("scopegate started");
    let client = scopegate_testkit::https_client(issued.ca_cert.as_bytes()).unwrap();
    let review = ReviewBuilder::create(
        SecretBuilder::argocd("app", "repository")
            .https(
                "https://github.com/acme/app",
                "x",
                "ghp_JsonLogs000000000000000000000000000001",
            )
            .build(),
    );
    for _ in 0..2 {
        let r = client
            .post(format!("https://127.0.0.1:{port}/validate"))
            .json(&review.build())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let _ = tokio::task::spawn_blocking(move || child.wait()).await.unwrap();
    let lines = reader.join().unwrap();
    let reviews: Vec<serde_json::Value> = lines
        .iter()
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
