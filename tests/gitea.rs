//! Gitea and Forgejo (`kind: gitea`), end to end: the real server judges Secrets whose tokens a
//! stand-in answers by the rules of the shared reference's §11 (scope refusals with the body naming
//! the scope, Basic-only token lists, the receive-pack advertisement checking the scope for Basic
//! only and the owner's read access only). Each role both ways; what the probes cannot settle is
//! `unverified`, never `ok`; every call is a `GET`.

mod common;

use common::*;
use scopegate_testkit::standin::{Gitea, GiteaRepo, GiteaToken};
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const HOST: &str = "gitea.corp";

fn config(server: &MockServer) -> String {
    let g = Gitea::on(server);
    format!(
        "serviceAccounts: [gitops-bot]\nproviders:\n  - kind: gitea\n    host: {HOST}\n    apiUrl: {}\n    gitUrl: {}\n",
        g.api_url(),
        g.git_url()
    )
}

/// A Secret of `secret_type` for platform/gitops with `token`, in `role` when given.
fn secret(name: &str, secret_type: &str, token: &str, role: Option<&str>) -> Value {
    let mut b =
        SecretBuilder::argocd(name, secret_type).https(&format!("https://{HOST}/platform/gitops.git"), "argocd", token);
    if let Some(r) = role {
        b = b.annotation("scopegate.dev/role", r);
    }
    b.build()
}

const REPO: GiteaRepo<'static> = GiteaRepo {
    full_name: "platform/gitops",
    pull: true,
    push: true,
    admin: true,
};

fn tok<'a>(token: &'a str, scopes: &'a [&'a str], repos: &'a [GiteaRepo<'a>]) -> GiteaToken<'a> {
    GiteaToken {
        token,
        login: "gitops-bot",
        scopes,
        repos,
        list_readable: false,
        limited_to: None,
    }
}

fn token(n: u8) -> String {
    format!("{:040x}", 0x5c09_e000_u64 + u64::from(n))
}

#[tokio::test]
async fn each_role_both_ways() {
    let server = MockServer::start().await;
    let g = Gitea::on(&server);
    let (reader, no_read, writer, read_only, runtime, no_admin, no_user, not_member) = (
        token(1),
        token(2),
        token(3),
        token(4),
        token(5),
        token(6),
        token(7),
        token(8),
    );
    let member_only = [GiteaRepo { admin: false, ..REPO }];
    let reader_only = [GiteaRepo {
        push: false,
        admin: false,
        ..REPO
    }];
    let stranger = [GiteaRepo {
        pull: false,
        push: false,
        admin: false,
        ..REPO
    }];
    let all = [REPO];
    let ninth = token(9);
    for t in [
        tok(&reader, &["read:repository", "read:user"], &all),
        tok(&no_read, &["read:user"], &all),
        tok(&writer, &["write:repository"], &all),
        tok(&read_only, &["read:repository", "read:user"], &all),
        tok(&runtime, &["write:repository", "read:user"], &all),
        tok(&no_admin, &["write:repository", "read:user"], &member_only),
        tok(&no_user, &["write:repository"], &all),
        tok(&not_member, &["all"], &stranger),
        tok(&ninth, &["write:repository", "read:user"], &reader_only),
    ] {
        g.token(t).await;
    }
    g.reject_others().await;
    let h = Harness::start(&config(&server)).await;

    // read: read:repository and a readable repository.
    let (v, a) = judge_secret(&h, secret("read", "repository", &reader, None)).await;
    assert_eq!(v["allowed"], true, "{v} {a:?}");
    assert_eq!(a["scopegate.dev/provider"], "gitea");
    assert_eq!(a["scopegate.dev/token-kind"], "access-token");
    assert_eq!(a["scopegate.dev/owner"], "gitops-bot");
    let (v, a) = judge_secret(&h, secret("read-no-scope", "repository", &no_read, None)).await;
    assert_eq!(v["allowed"], false, "{v}");
    assert_eq!(a["scopegate.dev/verdict"], "insufficient");
    assert_eq!(a["scopegate.dev/missing"], "read:repository");
    let msg = message(&v);
    assert!(msg.contains("does not have read:repository"), "{msg}");
    assert!(
        msg.contains(&format!("https://{HOST}/user/settings/applications")),
        "the denial links to the token page: {msg}"
    );
    let (v, a) = judge_secret(&h, secret("read-stranger", "repository", &not_member, None)).await;
    assert_eq!(v["allowed"], false, "{v}");
    assert!(
        message(&v).contains("not readable with the token (404)"),
        "{}",
        message(&v)
    );
    assert_eq!(a["scopegate.dev/verdict"], "insufficient");

    // write: write:repository (the advertisement, sent with Basic) and the owner's push.
    let (v, _) = judge_secret(&h, secret("push", "repository-write", &writer, None)).await;
    assert_eq!(v["allowed"], true, "{v}");
    // The same token in bearerToken: the API is asked with it as Bearer, Git with HTTP Basic.
    let bearer = SecretBuilder::argocd("push-bearer", "repository-write")
        .data("url", &format!("https://{HOST}/platform/gitops.git"))
        .data("bearerToken", &writer)
        .build();
    let (v, a) = judge_secret(&h, bearer).await;
    assert_eq!(v["allowed"], true, "{v} {a:?}");
    let (v, a) = judge_secret(
        &h,
        SecretBuilder::argocd("push-bearer-ro", "repository-write")
            .data("url", &format!("https://{HOST}/platform/gitops.git"))
            .data("bearerToken", &read_only)
            .build(),
    )
    .await;
    assert_eq!(v["allowed"], false, "{v}");
    assert_eq!(a["scopegate.dev/missing"], "write:repository");
    let (v, a) = judge_secret(&h, secret("push-ro", "repository-write", &read_only, None)).await;
    assert_eq!(v["allowed"], false, "{v}");
    assert_eq!(a["scopegate.dev/missing"], "write:repository");
    assert!(message(&v).contains("receive-pack advertisement"), "{}", message(&v));
    // The scope, but an owner who may only read: the advertisement (proc-receive) says yes, the
    // repository's permissions say no.
    let (v, a) = judge_secret(&h, secret("push-reader", "repository-write", &token(9), None)).await;
    assert_eq!(v["allowed"], false, "{v}");
    assert!(message(&v).contains("may not push"), "{}", message(&v));
    assert_eq!(a["scopegate.dev/verdict"], "insufficient");

    // runtime: write:repository, repository-admin (webhooks) and read:user.
    let (v, a) = judge_secret(&h, secret("rt", "repository", &runtime, Some("runtime"))).await;
    assert_eq!(v["allowed"], true, "{v}");
    assert_eq!(a["scopegate.dev/role"], "runtime");
    let (v, a) = judge_secret(&h, secret("rt-no-admin", "repository", &no_admin, Some("runtime"))).await;
    assert_eq!(v["allowed"], false, "{v}");
    assert_eq!(a["scopegate.dev/missing"], "repository-admin");
    let (v, a) = judge_secret(&h, secret("rt-no-user", "repository", &no_user, Some("runtime"))).await;
    assert_eq!(v["allowed"], false, "{v}");
    assert_eq!(a["scopegate.dev/missing"], "read:user");
    assert!(
        message(&v).contains("does not have read:user"),
        "the 403 body is read: {}",
        message(&v)
    );
    // user (Codefresh Git user token): write:repository.
    let (v, _) = judge_secret(&h, secret("user", "repository", &no_user, Some("user"))).await;
    assert_eq!(v["allowed"], true, "{v}");

    // A token Gitea does not know: invalid.
    let (v, a) = judge_secret(&h, secret("wrong", "repository", &token(99), None)).await;
    assert_eq!(v["allowed"], false, "{v}");
    assert_eq!(a["scopegate.dev/verdict"], "invalid");

    // Every call was a GET.
    assert_only_gets(&server).await;
    h.stop().await;
}

#[tokio::test]
async fn a_readable_token_list_is_the_authority_on_scopes() {
    let server = MockServer::start().await;
    let g = Gitea::on(&server);
    let listed = token(20);
    let limited = token(21);
    let repos = [REPO];
    g.token(GiteaToken {
        token: &listed,
        login: "gitops-bot",
        scopes: &["read:repository", "read:user"],
        repos: &repos,
        list_readable: true,
        limited_to: None,
    })
    .await;
    g.token(GiteaToken {
        token: &limited,
        login: "gitops-bot",
        scopes: &["all"],
        repos: &repos,
        list_readable: true,
        limited_to: Some(&["platform/other"]),
    })
    .await;
    // A server that advertises receive-pack to every token (it defers the check): the token list
    // still says the scope is missing.
    Mock::given(method("GET"))
        .and(wiremock::matchers::path("/platform/gitops.git/info/refs"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "001f# service=git-receive-pack\n0000",
            "application/x-git-receive-pack-advertisement",
        ))
        .with_priority(1)
        .mount(&server)
        .await;
    g.reject_others().await;
    let h = Harness::start(&config(&server)).await;
    let (v, a) = judge_secret(&h, secret("push", "repository-write", &listed, None)).await;
    assert_eq!(v["allowed"], false, "{v}");
    assert_eq!(a["scopegate.dev/missing"], "write:repository");
    assert!(
        message(&v).contains("do not include write:repository"),
        "{}",
        message(&v)
    );
    // Forgejo: a token limited to other repositories does not reach this one.
    let (v, _) = judge_secret(&h, secret("limited", "repository", &limited, None)).await;
    assert_eq!(v["allowed"], false, "{v}");
    assert!(message(&v).contains("limited to other repositories"), "{}", message(&v));
    h.stop().await;
}

#[tokio::test]
async fn answers_the_probes_cannot_read_are_unverified_never_ok() {
    let server = MockServer::start().await;
    let g = Gitea::on(&server);
    let tok = token(30);
    let repos = [REPO];
    g.token(GiteaToken {
        token: &tok,
        login: "gitops-bot",
        scopes: &["write:repository", "read:user"],
        repos: &repos,
        list_readable: false,
        limited_to: None,
    })
    .await;
    // A proxy in front of Git that answers the advertisement with a login page.
    Mock::given(method("GET"))
        .and(wiremock::matchers::path("/platform/gitops.git/info/refs"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("<html>sign in</html>", "text/html"))
        .with_priority(1)
        .mount(&server)
        .await;
    // Hooks listed although the repository says its owner is no administrator.
    Mock::given(method("GET"))
        .and(wiremock::matchers::path("/api/v1/repos/platform/gitops"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "full_name": "platform/gitops", "permissions": {"admin": false, "push": true, "pull": true}})))
        .with_priority(1)
        .mount(&server)
        .await;
    g.reject_others().await;
    let h = Harness::start(&config(&server)).await;
    let (_, a) = judge_secret(&h, secret("push", "repository-write", &tok, None)).await;
    assert_eq!(a["scopegate.dev/verdict"], "unverified", "{a:?}");
    assert!(a["scopegate.dev/reason"].contains("neither yes nor no"), "{a:?}");
    let (_, a) = judge_secret(&h, secret("rt", "repository", &tok, Some("runtime"))).await;
    assert_eq!(a["scopegate.dev/verdict"], "unverified", "{a:?}");
    // Reading: the API says yes, Git's upload-pack advertisement answers a login page.
    let (_, a) = judge_secret(&h, secret("read", "repository", &tok, None)).await;
    assert_eq!(a["scopegate.dev/verdict"], "unverified", "{a:?}");
    assert!(a["scopegate.dev/reason"].contains("upload-pack advertisement"), "{a:?}");
    h.stop().await;
}
