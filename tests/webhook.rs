//! The admission webhook end to end: real TLS on loopback, AdmissionReviews shaped as the API server
//! sends them, Secrets shaped as kubectl writes them, providers answered by documented-shape stand-ins.

mod common;

use common::*;
use scopegate_testkit::review::ReviewBuilder;
use serde_json::{Value, json};
use wiremock::MockServer;

const RUNTIME_OK: &str = "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";
const RUNTIME_NO_HOOK: &str = "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";
const REVOKED: &str = "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";

async fn github_setup() -> (MockServer, Harness) {
    let gh = MockServer::start().await;
    let stand = Github::on(&gh);
    stand
        .classic(
            RUNTIME_OK,
            "gitops-bot",
            "admin:repo_hook, repo, user",
            Some("2027-06-30 12:00:00 UTC"),
        )
        .await;
    stand
        .classic(
            RUNTIME_NO_HOOK,
            "alice",
            "repo, user",
            Some("2027-01-15 09:30:00 +0100"),
        )
        .await;
    stand.bad_credentials(REVOKED).await;
    let h = Harness::start(&format!("serviceAccounts: [gitops-bot]\n{}", providers_yaml(&gh))).await;
    (gh, h)
}

fn runtime_secret(token: &str) -> Value {
    SecretBuilder::argocd("runtime-repo-creds-secret", "repo-creds")
        .https("https://github.com/acme", "git", token)
        .build()
}

#[tokio::test]
async fn a_runtime_token_with_its_scopes_is_admitted_and_annotated() {
    let (_gh, h) = github_setup().await;
    let secret = runtime_secret(RUNTIME_OK);
    let review = ReviewBuilder::create(secret.clone());
    let v = h.validate(&review).await;
    assert_eq!(v["allowed"], true, "{v}");
    assert!(v.get("patch").is_none(), "the validating webhook never patches");
    assert!(warnings(&v).is_empty(), "{v}");

    let m = h.mutate(&review).await;
    assert_eq!(m["allowed"], true);
    let a = patched_annotations(&review.build()["request"]["object"], &m);
    assert_eq!(a["scopegate.dev/verdict"], "ok");
    assert_eq!(a["scopegate.dev/provider"], "github");
    assert_eq!(a["scopegate.dev/token-kind"], "classic");
    assert_eq!(a["scopegate.dev/role"], "runtime");
    assert_eq!(a["scopegate.dev/scopes"], "admin:repo_hook,repo,user");
    assert_eq!(a["scopegate.dev/missing"], "");
    assert_eq!(a["scopegate.dev/expires-at"], "2027-06-30T12:00:00Z");
    assert_eq!(a["scopegate.dev/owner"], "gitops-bot");
    assert!(a["scopegate.dev/checked-at"].ends_with('Z'));
    assert!(!patch_text(&m).contains(RUNTIME_OK));
    let _ = secret;
}

#[tokio::test]
async fn a_runtime_token_without_admin_repo_hook_is_denied_with_a_link() {
    let (_gh, h) = github_setup().await;
    let review = ReviewBuilder::create(runtime_secret(RUNTIME_NO_HOOK));
    let v = h.validate(&review).await;
    assert_eq!(v["allowed"], false);
    assert_eq!(v["status"]["code"], 403);
    let msg = message(&v);
    for part in [
        "Secret argocd/runtime-repo-creds-secret",
        "GitHub classic personal access token",
        "role runtime",
        "lacks scope: admin:repo_hook",
        "it has repo, user",
        "https://github.com/settings/tokens/new?scopes=repo,admin:repo_hook&description=argocd%2Fruntime-repo-creds-secret",
    ] {
        assert!(msg.contains(part), "{part:?} not in {msg}");
    }
    assert!(!msg.contains(RUNTIME_NO_HOOK));

    let m = h.mutate(&review).await;
    assert_eq!(
        m["allowed"], true,
        "the mutating webhook never denies a well-formed request"
    );
    let a = patched_annotations(&review.build()["request"]["object"], &m);
    assert_eq!(a["scopegate.dev/verdict"], "insufficient");
    assert_eq!(a["scopegate.dev/missing"], "admin:repo_hook");
    assert_eq!(
        a["scopegate.dev/expires-at"], "2027-01-15T08:30:00Z",
        "offset form of the expiration header"
    );
}

#[tokio::test]
async fn a_revoked_token_is_invalid() {
    let (_gh, h) = github_setup().await;
    let review = ReviewBuilder::create(runtime_secret(REVOKED));
    let v = h.validate(&review).await;
    assert_eq!(
        (v["allowed"].clone(), v["status"]["code"].clone()),
        (json!(false), json!(403))
    );
    assert!(message(&v).contains("Bad credentials"), "{}", message(&v));
    let m = h.mutate(&review).await;
    let a = patched_annotations(&review.build()["request"]["object"], &m);
    assert_eq!(a["scopegate.dev/verdict"], "invalid");
    assert!(a["scopegate.dev/reason"].contains("401"));
}

#[tokio::test]
async fn read_and_write_roles_need_only_repo_on_github() {
    let (_gh, h) = github_setup().await;
    for t in ["repository", "repo-creds", "repository-write", "repo-write-creds"] {
        let s = SecretBuilder::argocd("acme-repo", t)
            .https("https://github.com/acme/app.git", "x", RUNTIME_NO_HOOK)
            .build();
        let v = h.validate(&ReviewBuilder::create(s.clone())).await;
        assert_eq!(v["allowed"], true, "{t}: {v}");
        let review = ReviewBuilder::create(s);
        let a = patched_annotations(&review.build()["request"]["object"], &h.mutate(&review).await);
        let want = if t.contains("write") { "write" } else { "read" };
        assert_eq!(a["scopegate.dev/role"], want, "{t}");
    }
}

#[tokio::test]
async fn gitlab_user_tokens_need_write_repository_and_read_api() {
    let gl_server = MockServer::start().await;
    let gl = Gitlab::on(&gl_server);
    gl.token(
        "glpat-userTokenReadOnly",
        &["read_repository", "read_api"],
        Some("2027-08-15"),
    )
    .await;
    gl.token("glpat-userTokenApi", &["api"], None).await;
    gl.unauthorized(
        "glpat-revoked",
        Some("Token was revoked. You have to re-authorize from the user."),
    )
    .await;
    let h = Harness::start(&providers_yaml(&gl_server)).await;
    let user = |token: &str| {
        SecretBuilder::new("git-default-65f1c0d2", "codefresh")
            .https("https://gitlab.com/acme/gitops.git", "oauth2", token)
            .build()
    };
    let review = ReviewBuilder::create(user("glpat-userTokenReadOnly"));
    let v = h.validate(&review).await;
    assert_eq!(v["allowed"], false);
    let msg = message(&v);
    assert!(msg.contains("GitLab personal access token"), "{msg}");
    assert!(msg.contains("lacks scope: write_repository"), "{msg}");
    assert!(
        msg.contains("https://gitlab.com/-/user_settings/personal_access_tokens?name=codefresh%2Fgit-default-65f1c0d2&scopes=write_repository,read_api"),
        "{msg}"
    );
    let a = patched_annotations(&review.build()["request"]["object"], &h.mutate(&review).await);
    assert_eq!(a["scopegate.dev/role"], "user");
    assert_eq!(a["scopegate.dev/expires-at"], "2027-08-15T00:00:00Z");
    assert_eq!(a["scopegate.dev/scopes"], "read_api,read_repository");

    let v = h.validate(&ReviewBuilder::create(user("glpat-userTokenApi"))).await;
    assert_eq!(v["allowed"], true, "api implies write_repository and read_api: {v}");

    let review = ReviewBuilder::create(user("glpat-revoked"));
    let v = h.validate(&review).await;
    assert_eq!(v["allowed"], false);
    assert!(message(&v).contains("Token was revoked"), "{}", message(&v));
}

#[tokio::test]
async fn generate_name_git_default_secrets_are_user_tokens() {
    let gl_server = MockServer::start().await;
    Gitlab::on(&gl_server)
        .token("glpat-x", &["read_repository"], None)
        .await;
    let h = Harness::start(&providers_yaml(&gl_server)).await;
    let s = SecretBuilder::new("git-default-", "codefresh")
        .generate_name()
        .https("https://gitlab.com/acme/gitops.git", "u", "glpat-x")
        .build();
    let v = h.validate(&ReviewBuilder::create(s)).await;
    assert_eq!(v["allowed"], false);
    assert!(message(&v).contains("role user"), "{}", message(&v));
}

#[tokio::test]
async fn bitbucket_cloud_access_tokens_report_scopes_in_headers() {
    let bb_server = MockServer::start().await;
    BitbucketCloud::on(&bb_server)
        .access_token("ATCTT3xFfGN0RepoWrite", "repository:write", "repo_access_token")
        .await;
    let h = Harness::start(&providers_yaml(&bb_server)).await;
    let push = SecretBuilder::argocd("push", "repository-write")
        .https(
            "https://bitbucket.org/acme/gitops.git",
            "x-token-auth",
            "ATCTT3xFfGN0RepoWrite",
        )
        .build();
    let review = ReviewBuilder::create(push);
    assert_eq!(h.validate(&review).await["allowed"], true);
    let a = patched_annotations(&review.build()["request"]["object"], &h.mutate(&review).await);
    assert_eq!(a["scopegate.dev/token-kind"], "repo-access-token");
    assert_eq!(a["scopegate.dev/provider"], "bitbucket-cloud");

    let runtime = SecretBuilder::argocd("runtime-repo-creds-secret", "repo-creds")
        .https("https://bitbucket.org/acme", "x-token-auth", "ATCTT3xFfGN0RepoWrite")
        .build();
    let v = h.validate(&ReviewBuilder::create(runtime)).await;
    assert_eq!(v["allowed"], false);
    let msg = message(&v);
    assert!(
        msg.contains("lacks scopes: account, team, webhook, repository:admin"),
        "{msg}"
    );
    assert!(msg.contains("Access tokens"), "{msg}");
    let paths: Vec<String> = bb_server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    // The access token's scopes are the token's, whatever the repository: asked once, then cached.
    assert_eq!(paths, ["/2.0/repositories/acme/gitops"], "{paths:?}");
}

#[tokio::test]
async fn warn_mode_admits_with_the_same_text_as_warnings() {
    let gh = MockServer::start().await;
    Github::on(&gh).classic(RUNTIME_NO_HOOK, "alice", "repo", None).await;
    let enforce = Harness::start(&providers_yaml(&gh)).await;
    let warn = Harness::start(&format!("mode: warn\n{}", providers_yaml(&gh))).await;
    let audit = Harness::start(&format!("mode: audit\n{}", providers_yaml(&gh))).await;
    let review = ReviewBuilder::create(runtime_secret(RUNTIME_NO_HOOK));
    let denied = enforce.validate(&review).await;
    let warned = warn.validate(&review).await;
    assert_eq!(warned["allowed"], true);
    let w = warnings(&warned);
    assert!(w.len() >= 2, "a long message becomes several warnings: {w:?}");
    assert!(w.iter().all(|x| x.chars().count() <= 256), "{w:?}");
    assert!(
        w.iter()
            .any(|x| x.contains("https://github.com/settings/tokens/new?scopes=repo,admin:repo_hook")),
        "links stay whole: {w:?}"
    );
    let joined = w.join(" ");
    let denial = message(&denied);
    let core = denial.split_once(": ").unwrap().1;
    assert!(joined.contains(core), "same text:\n{joined}\n{core}");
    let audited = audit.validate(&review).await;
    assert_eq!(audited["allowed"], true);
    assert!(warnings(&audited).is_empty());
    // The mutating webhook records the verdict in every mode.
    let a = patched_annotations(&review.build()["request"]["object"], &audit.mutate(&review).await);
    assert_eq!(a["scopegate.dev/verdict"], "insufficient");
}

#[tokio::test]
async fn dry_run_gets_exactly_the_same_answer() {
    let (_gh, h) = github_setup().await;
    for token in [RUNTIME_OK, RUNTIME_NO_HOOK, REVOKED] {
        let secret = runtime_secret(token);
        for webhook in ["validate", "mutate"] {
            let real = h.review(webhook, &ReviewBuilder::create(secret.clone())).await;
            let dry = h
                .review(webhook, &ReviewBuilder::create(secret.clone()).dry_run())
                .await;
            let strip = |mut v: Value| {
                v.as_object_mut().unwrap().remove("uid");
                v.as_object_mut().unwrap().remove("patch");
                v
            };
            let (real_patch, dry_patch) = (patch_text(&real), patch_text(&dry));
            assert_eq!(strip(real), strip(dry), "{webhook} {token}");
            // The patches differ only in checked-at.
            let cut = |p: &str| p.split("checked-at").next().unwrap().to_owned();
            assert_eq!(cut(&real_patch), cut(&dry_patch));
        }
    }
}

#[tokio::test]
async fn forged_annotations_are_replaced_or_removed() {
    let (_gh, h) = github_setup().await;
    let s = SecretBuilder::argocd("runtime-repo-creds-secret", "repo-creds")
        .https("https://github.com/acme", "git", RUNTIME_NO_HOOK)
        .annotation("scopegate.dev/verdict", "ok")
        .annotation("scopegate.dev/missing", "")
        .annotation("scopegate.dev/scopes", "repo,admin:repo_hook")
        .annotation("scopegate.dev/approved-by", "security-team")
        .annotation("scopegate.dev/role", "read")
        .annotation("team", "platform")
        .build();
    let review = ReviewBuilder::create(s);
    let v = h.validate(&review).await;
    assert_eq!(v["allowed"], false, "a forged verdict changes nothing");
    let m = h.mutate(&review).await;
    let a = patched_annotations(&review.build()["request"]["object"], &m);
    assert_eq!(a["scopegate.dev/verdict"], "insufficient");
    assert_eq!(a["scopegate.dev/missing"], "admin:repo_hook");
    assert_eq!(a["scopegate.dev/scopes"], "repo,user");
    assert_eq!(
        a["scopegate.dev/role"], "runtime",
        "the weaker ask is replaced by the role that applies"
    );
    assert!(!a.contains_key("scopegate.dev/approved-by"));
    assert_eq!(a["team"], "platform", "other annotations are untouched");
    let w = warnings(&m);
    assert!(
        w.iter().any(|x| x.contains("scopegate.dev/role \"read\" ignored")),
        "{w:?}"
    );
}

#[tokio::test]
async fn a_role_annotation_can_only_make_the_check_stricter() {
    let (_gh, h) = github_setup().await;
    let read_as_runtime = SecretBuilder::argocd("acme", "repository")
        .https("https://github.com/acme/app", "x", RUNTIME_NO_HOOK)
        .annotation("scopegate.dev/role", "runtime")
        .build();
    let v = h.validate(&ReviewBuilder::create(read_as_runtime)).await;
    assert_eq!(v["allowed"], false);
    assert!(message(&v).contains("role runtime"));

    let runtime_as_read = SecretBuilder::argocd("runtime-repo-creds-secret", "repo-creds")
        .https("https://github.com/acme", "x", RUNTIME_NO_HOOK)
        .annotation("scopegate.dev/role", "read")
        .build();
    let v = h.validate(&ReviewBuilder::create(runtime_as_read)).await;
    assert_eq!(v["allowed"], false, "a weaker ask is ignored");
    let w = warnings(&v);
    assert!(
        w.iter().any(|x| x.contains("ignored") && x.contains("stricter")),
        "{w:?}"
    );
}

#[tokio::test]
async fn skip_validation_is_honoured_only_for_allowed_users_and_groups() {
    let gh = MockServer::start().await;
    let yaml = format!(
        "skipValidation:\n  allowedUsers: [alice]\n  allowedGroups: [platform-admins]\n{}",
        providers_yaml(&gh)
    );
    let h = Harness::start(&yaml).await;
    let s = SecretBuilder::argocd("custom-scopes", "repository")
        .https("https://github.com/acme/app", "x", "github_pat_custom")
        .annotation("scopegate.dev/skip-validation", "true")
        .build();

    let by_alice = ReviewBuilder::create(s.clone()).user("alice", &["system:authenticated"]);
    let v = h.validate(&by_alice).await;
    assert_eq!(v["allowed"], true);
    assert!(
        warnings(&v)
            .iter()
            .any(|w| w.contains("onus of a valid and secure token is on you")),
        "{v}"
    );
    let a = patched_annotations(&by_alice.build()["request"]["object"], &h.mutate(&by_alice).await);
    assert_eq!(a["scopegate.dev/verdict"], "skipped");
    assert_eq!(
        a["scopegate.dev/skip-validation"], "true",
        "the input annotation is kept"
    );

    let by_admin_group = ReviewBuilder::create(s.clone()).user("bob", &["platform-admins", "system:authenticated"]);
    assert_eq!(h.validate(&by_admin_group).await["allowed"], true);

    let by_mallory = ReviewBuilder::create(s.clone()).user("mallory", &["system:authenticated"]);
    let v = h.validate(&by_mallory).await;
    assert_eq!(v["allowed"], false);
    assert_eq!(v["status"]["code"], 403);
    let msg = message(&v);
    assert!(
        msg.contains("mallory") && msg.contains("skipValidation.allowedUsers"),
        "{msg}"
    );
}

#[tokio::test]
async fn skipped_secrets_cost_no_provider_call() {
    let gh = MockServer::start().await;
    let h = Harness::start(&format!(
        "skipValidation:\n  allowedUsers: [alice]\n{}",
        providers_yaml(&gh)
    ))
    .await;
    let s = SecretBuilder::argocd("custom", "repository")
        .https(
            "https://github.com/acme/app",
            "x",
            "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",
        )
        .annotation("scopegate.dev/skip-validation", "true")
        .build();
    let v = h.validate(&ReviewBuilder::create(s).user("alice", &[])).await;
    assert_eq!(v["allowed"], true);
    assert!(gh.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn updates_that_keep_the_credential_are_not_blocked() {
    let (_gh, h) = github_setup().await;
    let old = runtime_secret(RUNTIME_NO_HOOK);
    let mut relabelled = old.clone();
    relabelled["metadata"]["labels"]["app.kubernetes.io/part-of"] = json!("argocd");
    let review =
        ReviewBuilder::update(old.clone(), relabelled.clone()).user("system:serviceaccount:argocd:argocd-server", &[]);
    let v = h.validate(&review).await;
    assert_eq!(v["allowed"], true, "{v}");
    let w = warnings(&v).join(" ");
    assert!(w.contains("existing violation") && w.contains("admin:repo_hook"), "{w}");
    let a = patched_annotations(&review.build()["request"]["object"], &h.mutate(&review).await);
    assert_eq!(a["scopegate.dev/verdict"], "insufficient", "annotations are refreshed");

    // The same credential written as stringData is the same credential.
    let as_string_data = SecretBuilder::argocd("runtime-repo-creds-secret", "repo-creds")
        .string_data("url", "https://github.com/acme")
        .string_data("username", "git")
        .string_data("password", RUNTIME_NO_HOOK)
        .build();
    assert_eq!(
        h.validate(&ReviewBuilder::update(old.clone(), as_string_data)).await["allowed"],
        true
    );

    // Changing the token is judged like a CREATE.
    let changed = runtime_secret(REVOKED);
    let v = h.validate(&ReviewBuilder::update(old.clone(), changed)).await;
    assert_eq!(v["allowed"], false);
    // Changing the URL too.
    let moved = SecretBuilder::argocd("runtime-repo-creds-secret", "repo-creds")
        .https("https://github.com/other", "git", RUNTIME_NO_HOOK)
        .build();
    assert_eq!(
        h.validate(&ReviewBuilder::update(old.clone(), moved)).await["allowed"],
        false
    );
}

#[tokio::test]
async fn updates_are_judged_strictly_when_existing_violations_are_not_allowed() {
    let gh = MockServer::start().await;
    Github::on(&gh).classic(RUNTIME_NO_HOOK, "alice", "repo", None).await;
    let h = Harness::start(&format!("allowExistingViolations: false\n{}", providers_yaml(&gh))).await;
    let old = runtime_secret(RUNTIME_NO_HOOK);
    let mut relabelled = old.clone();
    relabelled["metadata"]["labels"]["x"] = json!("y");
    let v = h.validate(&ReviewBuilder::update(old, relabelled)).await;
    assert_eq!(v["allowed"], false);
}

#[tokio::test]
async fn credentials_that_are_not_tokens_are_admitted_without_a_call() {
    let gh = MockServer::start().await;
    let h = Harness::start(&providers_yaml(&gh)).await;
    let cases = [
        (
            SecretBuilder::argocd("ssh", "repository")
                .data("url", "git@github.com:argoproj/argocd-example-apps")
                .data(
                    "sshPrivateKey",
                    "-----BEGIN OPENSSH PRIVATE KEY-----\n...\n-----END OPENSSH PRIVATE KEY-----\n",
                ),
            "ssh-key",
        ),
        (
            SecretBuilder::argocd("tls", "repository")
                .data("url", "https://git.corp/repo")
                .data("tlsClientCertData", "cert")
                .data("tlsClientCertKey", "key"),
            "tls-client-cert",
        ),
        (
            SecretBuilder::argocd("none", "repository").data("url", "https://github.com/argoproj/private-repo"),
            "none",
        ),
    ];
    for (b, kind) in cases {
        let review = ReviewBuilder::create(b.build());
        let v = h.validate(&review).await;
        assert_eq!(v["allowed"], true, "{kind}: {v}");
        assert!(warnings(&v).is_empty(), "{kind}");
        let a = patched_annotations(&review.build()["request"]["object"], &h.mutate(&review).await);
        assert_eq!(a["scopegate.dev/verdict"], "not-a-token", "{kind}");
        assert_eq!(a["scopegate.dev/token-kind"], kind);
    }
    assert!(gh.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn unknown_hosts_are_admitted_with_a_warning_and_never_called() {
    let gh = MockServer::start().await;
    let h = Harness::start(&providers_yaml(&gh)).await;
    let s = SecretBuilder::argocd("gitea", "repository")
        .https(
            "https://gitea.corp.example/platform/apps.git",
            "bot",
            "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",
        )
        .build();
    let review = ReviewBuilder::create(s);
    let v = h.validate(&review).await;
    assert_eq!(v["allowed"], true);
    let w = warnings(&v).join(" ");
    assert!(w.contains("gitea.corp.example is not a configured Git provider"), "{w}");
    let a = patched_annotations(&review.build()["request"]["object"], &h.mutate(&review).await);
    assert_eq!(a["scopegate.dev/verdict"], "unverified");
    assert!(a["scopegate.dev/reason"].contains("not a configured Git provider"));
    assert!(
        gh.received_requests().await.unwrap().is_empty(),
        "the stand-in received no call"
    );
}

#[tokio::test]
async fn a_token_for_another_provider_is_not_sent_anywhere() {
    let gh = MockServer::start().await;
    let h = Harness::start(&providers_yaml(&gh)).await;
    let s = SecretBuilder::argocd("mixup", "repository")
        .https("https://github.com/acme/app", "x", "glpat-ThisIsAGitlabToken")
        .build();
    let v = h.validate(&ReviewBuilder::create(s)).await;
    assert_eq!(v["allowed"], false);
    assert!(message(&v).contains("looks like a GitLab token"), "{}", message(&v));
    assert!(gh.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn malformed_secrets_are_denied_with_400_naming_the_field() {
    let gh = MockServer::start().await;
    let h = Harness::start(&providers_yaml(&gh)).await;
    let bad_b64 = SecretBuilder::argocd("r", "repository")
        .data("url", "https://github.com/acme/app")
        .raw_data("password", "not base64!!")
        .build();
    let v = h.validate(&ReviewBuilder::create(bad_b64)).await;
    assert_eq!(
        (v["allowed"].clone(), v["status"]["code"].clone()),
        (json!(false), json!(400))
    );
    assert!(
        message(&v).contains("data.password") && message(&v).contains("base64"),
        "{}",
        message(&v)
    );

    let no_url = SecretBuilder::argocd("r", "repo-creds")
        .data("username", "git")
        .data("password", "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")
        .build();
    let v = h.validate(&ReviewBuilder::create(no_url)).await;
    assert_eq!(v["status"]["code"], 400);
    assert!(message(&v).contains("url is missing"), "{}", message(&v));

    let newline = SecretBuilder::argocd("r", "repository")
        .https(
            "https://github.com/acme/app",
            "git",
            "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\n",
        )
        .build();
    let review = ReviewBuilder::create(newline);
    let v = h.validate(&review).await;
    assert_eq!(v["status"]["code"], 400);
    let msg = message(&v);
    assert!(msg.contains("data.password ends with a newline"), "{msg}");
    assert!(msg.contains("echo -n"), "{msg}");
    assert!(msg.contains("authentication required"), "{msg}");
    assert!(!msg.contains("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"), "{msg}");
    let a = patched_annotations(&review.build()["request"]["object"], &h.mutate(&review).await);
    assert_eq!(a["scopegate.dev/verdict"], "invalid");
    assert!(gh.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn secrets_scopegate_does_not_handle_are_admitted_untouched() {
    let gh = MockServer::start().await;
    let h = Harness::start(&providers_yaml(&gh)).await;
    // A Secret CREATE captured from a live API server (a registry credential).
    let captured: Value = serde_json::from_str(include_str!(
        "fixtures/shared/admission-v1-secret-create-openshift.trufflehog.json"
    ))
    .unwrap();
    for webhook in ["validate", "mutate"] {
        let (status, v) = h.post(&format!("/{webhook}"), &captured).await;
        assert_eq!(status, 200);
        assert_eq!(v["response"]["uid"], "b9d17c49-1b2c-421a-8ae8-3b3d252d2f61");
        assert_eq!(v["response"]["allowed"], true);
        assert!(v["response"].get("patch").is_none(), "{webhook}: no patch");
        assert!(v["response"].get("warnings").is_none());
    }
    // A cluster Secret, and a Secret named like the runtime one but not labelled.
    for s in [
        SecretBuilder::argocd("cluster", "cluster")
            .data("server", "https://k8s")
            .build(),
        SecretBuilder::new("runtime-repo-creds-secret", "argocd")
            .data("password", "x")
            .build(),
    ] {
        let m = h.mutate(&ReviewBuilder::create(s)).await;
        assert_eq!(m["allowed"], true);
        assert!(m.get("patch").is_none());
    }
    // DELETE is none of scopegate's business.
    let del = ReviewBuilder::delete(runtime_secret(RUNTIME_NO_HOOK));
    assert_eq!(h.validate(&del).await["allowed"], true);
    assert!(gh.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_fine_grained_template_without_a_repository_to_probe_is_unverified_never_ok() {
    let gh = MockServer::start().await;
    let fine = "github_pat_11ABCDEFG0123456789abc_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVW";
    Github::on(&gh)
        .fine_grained(fine, "alice", "2027-03-31 00:00:00 +0900")
        .await;
    let h = Harness::start(&providers_yaml(&gh)).await;
    let review = ReviewBuilder::create(
        SecretBuilder::argocd("fg", "repo-creds")
            .https("https://github.com/acme", "x", fine)
            .build(),
    );
    let v = h.validate(&review).await;
    assert_eq!(v["allowed"], true);
    assert!(warnings(&v).join(" ").contains("no repository to probe"), "{v}");
    let a = patched_annotations(&review.build()["request"]["object"], &h.mutate(&review).await);
    assert_eq!(a["scopegate.dev/verdict"], "unverified");
    assert_eq!(a["scopegate.dev/token-kind"], "fine-grained");
    assert_eq!(a["scopegate.dev/expires-at"], "2027-03-30T15:00:00Z");
    assert_eq!(a["scopegate.dev/owner"], "alice");

    let strict = Harness::start(&format!("onUnverified: deny\n{}", providers_yaml(&gh))).await;
    let v = strict.validate(&review).await;
    assert_eq!(v["allowed"], false);
    assert!(message(&v).contains("onUnverified is deny"));
}
