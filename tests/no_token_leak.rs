//! The token never appears in scopegate's output, at any log level: the real binary runs with
//! `RUST_LOG=trace` and every kind of review goes through it, then its whole output is searched.

mod common;

use std::io::Read;

use base64::Engine as _;
use common::*;
use scopegate_testkit::review::ReviewBuilder;
use scopegate_testkit::standin::Gitlab;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const OK: &str = "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";
const SHORT: &str = "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";
const BAD: &str = "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";
const FAILING: &str = "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";
const NEWLINE: &str = "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";
const GITLAB: &str = "glpat-LeakCheckGitlabToken0006";
const IN_BAD_BODY: &str = "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";
const BEARER: &str = "BBDC-LeakCheckBearerToken000000000000000008";
const SKIPPED: &str = "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";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_in_trace_logs() {
    let gh = MockServer::start().await;
    let stand = Github::on(&gh);
    stand
        .classic(OK, "bot", "repo, admin:repo_hook", Some("2027-01-01 00:00:00 UTC"))
        .await;
    stand.classic(SHORT, "bot", "repo", None).await;
    stand.bad_credentials(BAD).await;
    Mock::given(method("GET"))
        .and(wiremock::matchers::header(
            "authorization",
            format!("Bearer {FAILING}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(500))
        .mount(&gh)
        .await;
    Gitlab::on(&gh).token(GITLAB, &["read_repository"], None).await;

    let dir = tempfile::tempdir().unwrap();
    let ca_pem = loopback_certs(dir.path());
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "mode: enforce\nskipValidation:\n  allowedUsers: [alice]\n{}",
            providers_yaml(&gh)
        ),
    )
    .unwrap();
    let served = Served::start(
        &[
            "serve".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
            "--tls-cert".as_ref(),
            dir.path().join("tls.crt").as_os_str(),
            "--tls-key".as_ref(),
            dir.path().join("tls.key").as_os_str(),
        ],
        &[("RUST_LOG", "trace")],
    );
    let port = served.port;

    let client = scopegate_testkit::https_client(ca_pem.as_bytes()).unwrap();
    let url = |p: &str| format!("https://127.0.0.1:{port}{p}");
    let secrets = vec![
        SecretBuilder::argocd("runtime-repo-creds-secret", "repo-creds")
            .https("https://github.com/acme", "git", OK)
            .build(),
        SecretBuilder::argocd("runtime-repo-creds-secret", "repo-creds")
            .https("https://github.com/acme", "git", SHORT)
            .build(),
        SecretBuilder::argocd("a", "repository")
            .https("https://github.com/acme/a", "git", BAD)
            .build(),
        SecretBuilder::argocd("b", "repository")
            .https("https://github.com/acme/b", "git", FAILING)
            .build(),
        SecretBuilder::argocd("c", "repository")
            .https("https://github.com/acme/c", "git", &format!("{NEWLINE}\n"))
            .build(),
        SecretBuilder::new("git-default-1", "cf")
            .https("https://gitlab.com/acme/c", "u", GITLAB)
            .build(),
        SecretBuilder::argocd("d", "repository")
            .data("url", "https://bitbucket.example.com/scm/p/r.git")
            .data("bearerToken", BEARER)
            .build(),
        SecretBuilder::argocd("e", "repository")
            .https("https://github.com/acme/e", "git", SKIPPED)
            .annotation("scopegate.dev/skip-validation", "true")
            .build(),
    ];
    let mut answered = 0;
    for s in &secrets {
        for path in ["/validate?timeout=10s", "/mutate?timeout=10s"] {
            for user in ["alice", "mallory"] {
                let body = ReviewBuilder::create(s.clone())
                    .user(user, &["system:authenticated"])
                    .build();
                let r = client.post(url(path)).json(&body).send().await.unwrap();
                assert_eq!(r.status(), 200);
                let text = r.text().await.unwrap();
                for t in [OK, SHORT, BAD, FAILING, NEWLINE, GITLAB, BEARER, SKIPPED] {
                    assert!(!text.contains(t), "a response carries a token: {text}");
                }
                answered += 1;
            }
        }
        let update = ReviewBuilder::update(s.clone(), s.clone()).build();
        assert_eq!(
            client
                .post(url("/validate"))
                .json(&update)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let bad_body = format!(
        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"x","operation":"{IN_BAD_BODY}"}}}}"#
    );
    let r = client.post(url("/validate")).body(bad_body).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(!r.text().await.unwrap().contains(IN_BAD_BODY));

    served.terminate();
    let Served {
        mut child,
        logs: reader,
        ..
    } = served;
    // Wait off the runtime, so the client's connections can answer the server's HTTP/2 GOAWAY.
    let (exit, mut child) = tokio::task::spawn_blocking(move || (child.wait().unwrap(), child))
        .await
        .unwrap();
    assert!(exit.success(), "a SIGTERM stop exits 0: {exit:?}");
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let logs = reader.join().unwrap() + &stdout;

    // The logs are real: trace output from the server and its HTTP stack, one line per review.
    assert!(logs.contains("TRACE"), "trace logging was on");
    assert_eq!(
        logs.matches("admission review").count(),
        answered + secrets.len(),
        "one line per review"
    );
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for t in [OK, SHORT, BAD, FAILING, NEWLINE, GITLAB, IN_BAD_BODY, BEARER, SKIPPED] {
        for form in [t.to_owned(), b64(t), b64(&format!("{t}\n")), format!("Bearer {t}")] {
            assert!(!logs.contains(&form), "a token form appears in the logs: {form}");
        }
        // Even a fragment long enough to be useful must not appear.
        assert!(
            !logs.contains(&t[..20]),
            "a token fragment appears in the logs: {}",
            &t[..20]
        );
    }
}
