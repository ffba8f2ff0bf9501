//! Azure DevOps (`kind: azure-devops`), end to end: the real server judges Secrets whose PATs a
//! stand-in answers by the rules of the shared reference's §10 (203 sign-in page for bad
//! credentials, 401 for a valid PAT without the scope, TF401027 at the receive-pack advertisement).
//! What a PAT cannot show about itself is `unverified` with the reason, never `ok`; a valid Code-only
//! PAT is never called invalid; every call is a `GET`.

mod common;

use common::*;
use scopegate_testkit::standin::{AzureDevops, AzurePat};
use serde_json::Value;
use wiremock::MockServer;

fn config(server: &MockServer) -> String {
    format!(
        "providers:\n  - kind: azure-devops\n    host: dev.azure.com\n    apiUrl: {u}\n    gitUrl: {u}\n",
        u = server.uri()
    )
}

fn secret(name: &str, secret_type: &str, url: &str, pat: &str, role: Option<&str>) -> Value {
    let mut b = SecretBuilder::argocd(name, secret_type).https(url, "argocd", pat);
    if let Some(r) = role {
        b = b.annotation("scopegate.dev/role", r);
    }
    b.build()
}

const URL: &str = "https://acme@dev.azure.com/acme/Platform/_git/gitops";

fn pat(n: u8) -> String {
    format!("{:a>52}", format!("zq{n}"))
}

fn azure<'a>(pat: &'a str, scopes: &'a [&'a str], repos: &'a [(&'a str, bool)]) -> AzurePat<'a> {
    AzurePat {
        pat,
        org: "acme",
        account: "gitops-bot@acme.example",
        scopes,
        repos,
        expired: false,
    }
}

#[tokio::test]
async fn reading_is_verified_and_what_a_pat_cannot_show_stays_unverified() {
    let server = MockServer::start().await;
    let az = AzureDevops::on(&server);
    let (code, work, writer, no_contribute, expired) = (pat(1), pat(2), pat(3), pat(4), pat(5));
    let contributor = [("Platform/gitops", true)];
    let reader = [("Platform/gitops", false)];
    az.pat(azure(&code, &["vso.code"], &contributor)).await;
    az.pat(azure(&work, &["vso.work"], &contributor)).await;
    az.pat(azure(&writer, &["vso.code_write"], &contributor)).await;
    az.pat(azure(&no_contribute, &["vso.code_write"], &reader)).await;
    az.pat(AzurePat {
        expired: true,
        ..azure(&expired, &["vso.code"], &contributor)
    })
    .await;
    az.reject_others().await;
    let h = Harness::start(&config(&server)).await;

    // read: Code (Read) proven by the upload-pack advertisement; the owner from the identity call.
    let (v, a) = judge_secret(&h, secret("read", "repository", URL, &code, None)).await;
    assert_eq!(v["allowed"], true, "{v} {a:?}");
    assert_eq!(a["scopegate.dev/provider"], "azure-devops");
    assert_eq!(a["scopegate.dev/token-kind"], "personal");
    assert_eq!(a["scopegate.dev/verdict"], "ok");
    assert_eq!(a["scopegate.dev/owner"], "gitops-bot@acme.example");
    assert!(
        !a.contains_key("scopegate.dev/expires-at"),
        "a PAT's expiry cannot be read"
    );
    // The older host form names the organisation in the host: the same answer.
    let (v, _) = judge_secret(
        &h,
        secret(
            "read-vs",
            "repository",
            "https://acme.visualstudio.com/Platform/_git/gitops",
            &code,
            None,
        ),
    )
    .await;
    assert_eq!(v["allowed"], true, "{v}");
    let (v, a) = judge_secret(
        &h,
        secret(
            "read-dc",
            "repository",
            "https://acme.visualstudio.com/DefaultCollection/Platform/_git/gitops",
            &code,
            None,
        ),
    )
    .await;
    assert_eq!(v["allowed"], true, "{v} {a:?}");

    // A valid PAT without Code (Read): insufficient, not invalid.
    let (v, a) = judge_secret(&h, secret("read-work", "repository", URL, &work, None)).await;
    assert_eq!(v["allowed"], false, "{v}");
    assert_eq!(a["scopegate.dev/verdict"], "insufficient");
    assert_eq!(a["scopegate.dev/missing"], "vso.code");
    let msg = message(&v);
    assert!(msg.contains("lacks Code (Read)"), "{msg}");
    assert!(
        msg.contains("/acme/_usersSettings/tokens"),
        "the denial links to the token page: {msg}"
    );

    // Bad and expired PATs: invalid.
    let (_, a) = judge_secret(&h, secret("wrong", "repository", URL, &pat(99), None)).await;
    assert_eq!(a["scopegate.dev/verdict"], "invalid");
    assert!(a["scopegate.dev/reason"].contains("sign-in page"), "{a:?}");
    let (_, a) = judge_secret(&h, secret("expired", "repository", URL, &expired, None)).await;
    assert_eq!(a["scopegate.dev/verdict"], "invalid");
    assert!(a["scopegate.dev/reason"].contains("expired"), "{a:?}");

    // write: a 403 at the receive-pack advertisement refuses; a 200 is not confirmed to mean push.
    let (v, a) = judge_secret(&h, secret("push-ro", "repository-write", URL, &no_contribute, None)).await;
    assert_eq!(v["allowed"], false, "{v}");
    assert_eq!(a["scopegate.dev/verdict"], "insufficient");
    assert!(message(&v).contains("TF401027"), "{}", message(&v));
    let (_, a) = judge_secret(&h, secret("push", "repository-write", URL, &writer, None)).await;
    assert_eq!(a["scopegate.dev/verdict"], "unverified", "{a:?}");
    assert!(a["scopegate.dev/reason"].contains("not confirmed"), "{a:?}");
    // A Code (Read)-only PAT asked to push: the stand-in advertises (the unconfirmed case): unverified.
    let (_, a) = judge_secret(&h, secret("push-code", "repository-write", URL, &code, None)).await;
    assert_eq!(a["scopegate.dev/verdict"], "unverified", "{a:?}");

    // runtime: service hooks cannot be shown without creating one.
    let (_, a) = judge_secret(&h, secret("rt", "repository", URL, &writer, Some("runtime"))).await;
    assert_eq!(a["scopegate.dev/verdict"], "unverified", "{a:?}");
    assert!(a["scopegate.dev/reason"].contains("Edit subscriptions"), "{a:?}");
    // ... and a runtime PAT that cannot push is insufficient, whatever the service hooks.
    let (v, a) = judge_secret(&h, secret("rt-ro", "repository", URL, &no_contribute, Some("runtime"))).await;
    assert_eq!(v["allowed"], false, "{v}");
    assert_eq!(a["scopegate.dev/verdict"], "insufficient", "{a:?}");
    assert_eq!(a["scopegate.dev/missing"], "vso.code_write");

    assert_only_gets(&server).await;
    h.stop().await;
}

#[tokio::test]
async fn refused_everywhere_is_unverified_not_invalid() {
    // A server that answers this PAT 401 to the identity call and the advertisement alike: a wrong
    // PAT or one without Code (Read)? Azure DevOps answers both alike: unverified, with that reason.
    let server = MockServer::start().await;
    let az = AzureDevops::on(&server);
    let p = pat(7);
    az.pat(azure(&p, &["vso.work"], &[("Platform/gitops", false)])).await;
    // This server answers the identity call 401 too (a PAT without a scope it wants, or an older server).
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path("/acme/_apis/connectionData"))
        .and(scopegate_testkit::standin::BasicPassword(p.clone()))
        .respond_with(wiremock::ResponseTemplate::new(401))
        .with_priority(1)
        .mount(&server)
        .await;
    az.reject_others().await;
    let h = Harness::start(&config(&server)).await;
    let (_, a) = judge_secret(&h, secret("r", "repository", URL, &p, None)).await;
    assert_eq!(a["scopegate.dev/verdict"], "unverified", "{a:?}");
    assert!(a["scopegate.dev/reason"].contains("answers both alike"), "{a:?}");
    h.stop().await;
}
