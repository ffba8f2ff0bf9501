//! Real Secret manifests through the webhook: files written by the kubectl client, and the Secrets of
//! Argo CD's own documentation, exactly as it writes them.

mod common;

use common::*;
use scopegate_testkit::review::ReviewBuilder;
use scopegate_testkit::secret::{admitted, yaml_documents};
use serde_json::Value;
use wiremock::MockServer;

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn kubectl(name: &str) -> Value {
    serde_json::from_str(&read(&format!("kubectl/{name}"))).unwrap()
}

/// The test kit's Secrets are exactly what kubectl writes.
#[test]
fn the_builder_writes_what_kubectl_writes() {
    let built = SecretBuilder::argocd("runtime-repo-creds-secret", "repo-creds")
        .https(
            "https://github.com/acme",
            "git",
            "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",
        )
        .build();
    assert_eq!(built, kubectl("runtime-repo-creds-secret.json"));
    let built = SecretBuilder::argocd("infra", "repository")
        .data("url", "https://github.com/acme/infra")
        .data("password", "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\n")
        .build();
    assert_eq!(built, kubectl("repository-token-with-newline.json"));
}

#[tokio::test]
async fn kubectl_written_secrets() {
    let server = MockServer::start().await;
    Github::on(&server)
        .classic(
            "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",
            "bot",
            "repo, admin:repo_hook",
            None,
        )
        .await;
    Gitlab::on(&server)
        .token("glpat-KubectlFixture0002", &["read_repository"], None)
        .await;
    let h = Harness::start(&providers_yaml(&server)).await;
    let v = h
        .validate(&ReviewBuilder::create(kubectl("runtime-repo-creds-secret.json")))
        .await;
    assert_eq!(v["allowed"], true, "{v}");
    let v = h
        .validate(&ReviewBuilder::create(kubectl("repository-gitlab.json")))
        .await;
    assert_eq!(v["allowed"], true, "{v}");
    let v = h
        .validate(&ReviewBuilder::create(kubectl("repository-token-with-newline.json")))
        .await;
    assert_eq!(v["status"]["code"], 400);
    assert!(message(&v).contains("echo -n"));
}

/// Argo CD's documented Secrets. Their tokens are placeholders (`my-password`), which GitHub refuses.
#[tokio::test]
async fn argo_cd_documentation_secrets() {
    let server = MockServer::start().await;
    Github::on(&server).reject_others().await;
    let h = Harness::start(&providers_yaml(&server)).await;
    let expected = argocd_docs_expectations();
    let mut seen = 0;
    for file in expected
        .keys()
        .map(|(f, _)| *f)
        .collect::<std::collections::BTreeSet<_>>()
    {
        for doc in yaml_documents(&read(&format!("shared/{file}"))).unwrap() {
            let name = doc["metadata"]["name"].as_str().unwrap().to_owned();
            let Some((verdict, allowed)) = expected.get(&(file, name.as_str())) else {
                panic!("{file}: {name} has no expectation");
            };
            let review = ReviewBuilder::create(admitted(doc));
            let v = h.validate(&review).await;
            assert_eq!(v["allowed"], *allowed, "{file} {name}: {v}");
            let a = patched_annotations(&review.build()["request"]["object"], &h.mutate(&review).await);
            assert_eq!(a["scopegate.dev/verdict"], *verdict, "{file} {name}");
            seen += 1;
        }
    }
    assert_eq!(seen, expected.len());
    let calls = server.received_requests().await.unwrap();
    assert!(
        calls.iter().all(|r| r.url.path() == "/user"),
        "only GET /user was asked"
    );
}
