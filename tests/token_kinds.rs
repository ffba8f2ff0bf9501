//! Every token kind the seed names, end to end: GitHub fine-grained tokens (every row of the requirement
//! table both ways), GitHub Enterprise, GitHub Apps, GitLab project and group tokens, Bitbucket Cloud API
//! tokens and app passwords, Bitbucket Data Center; expiry, excess privileges and owners; and proof that
//! every probe scopegate sends is a `GET`.

mod common;

use std::collections::BTreeMap;

use common::*;
use scopegate_testkit::review::ReviewBuilder;
use scopegate_testkit::standin::{
    BitbucketServer, Level, RepoGrant, RepoPermission, basic, bearer, github_installation, github_user,
};
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Validate and mutate one Secret: (validating response, annotations after the mutation).
async fn judge(h: &Harness, secret: Value) -> (Value, BTreeMap<String, String>) {
    let review = ReviewBuilder::create(secret);
    let v = h.validate(&review).await;
    let a = patched_annotations(&review.build()["request"]["object"], &h.mutate(&review).await);
    (v, a)
}

// --- GitHub fine-grained tokens ----------------------------------------------------------------------

const SHARED: &str = "https://github.com/acme/isc";

fn fg_token(n: usize) -> String {
    format!("github_pat_11AAAAAAA0{n:012}_FineGrainedStandInToken{n:032}")
}

/// A Secret for each role, pointing at acme/app (templates: at acme, probed via sharedConfigurationRepo).
fn fg_secret(role: &str, token: &str) -> Value {
    match role {
        "read" => SecretBuilder::argocd("app", "repository").https("https://github.com/acme/app", "x", token),
        "write" => {
            SecretBuilder::argocd("app-push", "repository-write").https("https://github.com/acme/app", "x", token)
        }
        "user" => SecretBuilder::new("git-default-1", "codefresh").https("https://github.com/acme/app", "x", token),
        _ => SecretBuilder::argocd("runtime-repo-creds-secret", "repo-creds").https(
            "https://github.com/acme",
            "x",
            token,
        ),
    }
    .build()
}

fn fg_repo(role: &str) -> &'static str {
    if role == "runtime" { "isc" } else { "app" }
}

async fn fg_setup(server: &MockServer) -> Harness {
    Harness::start(&format!(
        "sharedConfigurationRepo: {SHARED}\nserviceAccounts: [gitops-bot]\n{}",
        providers_yaml(server)
    ))
    .await
}

#[tokio::test]
async fn fine_grained_tokens_with_every_permission_their_role_needs() {
    let server = MockServer::start().await;
    let gh = Github::on(&server);
    let h = fg_setup(&server).await;
    for (i, role) in ["read", "write", "user", "runtime"].into_iter().enumerate() {
        // The runtime role both on a repository with rulesets and on one without: Administration write
        // is read from the rule suites, which answer either way.
        for has_ruleset in [true, false] {
            let token = fg_token(i * 2 + usize::from(has_ruleset));
            gh.fine_grained(&token, "gitops-bot", "2027-03-31 00:00:00 UTC").await;
            let mut g = RepoGrant::all("acme", fg_repo(role));
            g.has_ruleset = has_ruleset;
            gh.fine_grained_repo(&token, "/git", &g).await;
            let (v, a) = judge(&h, fg_secret(role, &token)).await;
            assert_eq!(v["allowed"], true, "{role}: {v}");
            assert_eq!(a["scopegate.dev/token-kind"], "fine-grained");
            assert_eq!(
                a["scopegate.dev/verdict"], "ok",
                "{role}, rulesets {has_ruleset}: {a:?}"
            );
            assert!(warnings(&v).is_empty(), "{role}: {v}");
        }
    }
}

#[tokio::test]
async fn fine_grained_tokens_missing_each_permission_are_refused() {
    let server = MockServer::start().await;
    let gh = Github::on(&server);
    let h = fg_setup(&server).await;
    type Weaken = fn(&mut RepoGrant);
    // For every cell of the fine-grained table: a grant lacking exactly that permission, and what the
    // refusal that established it quotes (X-Accepted-GitHub-Permissions), when one did.
    let cases: Vec<(&str, &str, Weaken, Option<&str>)> = vec![
        (
            "read",
            "contents:read",
            |g| g.contents = Level::None,
            Some("contents=read"),
        ),
        ("read", "metadata:read", |g| g.visible = false, None),
        ("write", "contents:write", |g| g.contents = Level::Read, None),
        ("write", "metadata:read", |g| g.visible = false, None),
        ("user", "contents:write", |g| g.contents = Level::Read, None),
        ("user", "metadata:read", |g| g.visible = false, None),
        ("runtime", "contents:write", |g| g.contents = Level::Read, None),
        // Read only: the rule suites (Administration write) refuse; the settings (read) answer.
        (
            "runtime",
            "administration:write",
            |g| g.administration = Level::Read,
            Some("administration=write"),
        ),
        (
            "runtime",
            "administration:write",
            |g| g.administration = Level::None,
            Some("administration=read"),
        ),
        // Read only: the request built to be refused is refused for the permission.
        (
            "runtime",
            "webhooks:write",
            |g| g.webhooks = Level::Read,
            Some("repository_hooks=write"),
        ),
        (
            "runtime",
            "webhooks:write",
            |g| g.webhooks = Level::None,
            Some("repository_hooks=read"),
        ),
        ("runtime", "metadata:read", |g| g.visible = false, None),
    ];
    for (i, (role, permission, weaken, quoted)) in cases.into_iter().enumerate() {
        let token = fg_token(100 + i);
        gh.fine_grained(&token, "gitops-bot", "2027-03-31 00:00:00 UTC").await;
        let mut g = RepoGrant::all("acme", fg_repo(role));
        weaken(&mut g);
        gh.fine_grained_repo(&token, "/git", &g).await;
        let (v, a) = judge(&h, fg_secret(role, &token)).await;
        assert_eq!(v["allowed"], false, "{role} without {permission}: {v}");
        assert_eq!(v["status"]["code"], 403);
        assert_eq!(
            a["scopegate.dev/verdict"], "insufficient",
            "{role} without {permission}: {a:?}"
        );
        assert!(
            a["scopegate.dev/missing"].split(',').any(|m| m == permission),
            "{role}: {a:?}"
        );
        let msg = message(&v);
        assert!(msg.contains(permission), "the message names {permission}: {msg}");
        assert!(
            msg.contains("https://github.com/settings/personal-access-tokens/new?"),
            "{msg}"
        );
        assert!(msg.contains("target_name=acme"), "{msg}");
        if let Some(quoted) = quoted {
            assert!(
                msg.contains(quoted),
                "the refusal's accepted permissions are quoted: {msg}"
            );
        }
        assert!(!msg.contains(&token));
    }
}

#[tokio::test]
async fn administration_read_is_not_taken_for_write() {
    // The rule suites need Administration: write; a token with read alone is refused there (before,
    // their 200 was read as read, and a read-only token passed a write requirement).
    let server = MockServer::start().await;
    let gh = Github::on(&server);
    let h = Harness::start(&format!(
        "{}requirements:\n  read:\n    github-fine-grained: [contents:read, metadata:read, administration:read]\n",
        providers_yaml(&server)
    ))
    .await;
    let token = fg_token(200);
    gh.fine_grained(&token, "gitops-bot", "2027-03-31 00:00:00 UTC").await;
    let mut g = RepoGrant::all("acme", "app");
    g.administration = Level::Read;
    g.has_ruleset = false;
    gh.fine_grained_repo(&token, "/git", &g).await;
    let (v, a) = judge(&h, fg_secret("read", &token)).await;
    assert_eq!(
        a["scopegate.dev/verdict"], "ok",
        "administration:read from actions/permissions: {a:?}"
    );
    assert_eq!(v["allowed"], true);
    assert!(
        !a["scopegate.dev/scopes"]
            .split(',')
            .any(|s| s == "administration:write"),
        "{a:?}"
    );
    // A read requirement never sends the rule-suites probe, nor any request built to be refused.
    let requests = server.received_requests().await.unwrap();
    assert!(requests.iter().all(|r| r.method.as_str() == "GET"));
    assert!(!requests.iter().any(|r| r.url.path().ends_with("/rule-suites")));
}

#[tokio::test]
async fn a_template_is_probed_on_the_repositories_its_annotation_names() {
    let server = MockServer::start().await;
    let gh = Github::on(&server);
    let h = Harness::start(&providers_yaml(&server)).await;
    let token = fg_token(300);
    gh.fine_grained(&token, "alice", "2027-03-31 00:00:00 UTC").await;
    gh.fine_grained_repo(&token, "/git", &RepoGrant::all("acme", "one"))
        .await;
    let mut two = RepoGrant::all("acme", "two");
    two.contents = Level::None;
    gh.fine_grained_repo(&token, "/git", &two).await;
    let s = SecretBuilder::argocd("acme-creds", "repo-creds")
        .https("https://github.com/acme", "x", &token)
        .annotation(
            "scopegate.dev/probe-repositories",
            "https://github.com/acme/one.git, acme/two",
        )
        .build();
    let (v, a) = judge(&h, s).await;
    assert_eq!(v["allowed"], false);
    assert!(
        message(&v).contains("acme/two"),
        "the refusing repository is named: {}",
        message(&v)
    );
    assert_eq!(a["scopegate.dev/missing"], "contents:read");
    assert_eq!(
        a["scopegate.dev/probe-repositories"], "https://github.com/acme/one.git, acme/two",
        "an input, kept"
    );
}

// --- GitHub Enterprise Server -------------------------------------------------------------------------

#[tokio::test]
async fn github_enterprise_server_without_rate_limit_headers() {
    let server = MockServer::start().await;
    let ghes = Github::with_prefix(&server, "/api/v3");
    // GHES has rate limits off by default: no x-ratelimit-* headers at all.
    ghes.user_answers(
        "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",
        ResponseTemplate::new(200)
            .insert_header("x-oauth-scopes", "repo, admin:repo_hook")
            .insert_header("x-github-enterprise-version", "3.14.2")
            .set_body_json(github_user("ghe-bot", "User")),
    )
    .await;
    let h = Harness::start(&format!(
        "serviceAccounts: [ghe-bot]\nproviders:\n  - kind: github\n    host: ghe.corp.example\n    apiUrl: {}\n    gitUrl: {}/git\n",
        ghes.api_url(),
        server.uri()
    ))
    .await;
    let s = SecretBuilder::argocd("runtime-repo-creds-secret", "repo-creds")
        .https(
            "https://ghe.corp.example/platform",
            "git",
            "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",
        )
        .build();
    let (v, a) = judge(&h, s).await;
    assert_eq!(v["allowed"], true, "{v}");
    assert_eq!(a["scopegate.dev/verdict"], "ok");
    assert!(
        server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .all(|r| r.url.path() == "/api/v3/user")
    );
    let short = SecretBuilder::argocd("runtime-repo-creds-secret", "repo-creds")
        .https(
            "https://ghe.corp.example/platform",
            "git",
            "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",
        )
        .annotation("scopegate.dev/role", "runtime")
        .build();
    let _ = judge(&h, short).await;
}

// --- GitHub Apps --------------------------------------------------------------------------------------

const APP_KEY: &str = include_str!("fixtures/keys/github-app-test.pem");
const APP_PUB: &[u8] = include_bytes!("fixtures/keys/github-app-test.pub.der");

fn app_secret(name: &str, secret_type: &str, url: &str, installation: Option<&str>) -> Value {
    let mut b = SecretBuilder::argocd(name, secret_type)
        .data("type", "git")
        .data("url", url)
        .data("githubAppID", "4242")
        .data("githubAppPrivateKey", APP_KEY);
    if let Some(i) = installation {
        b = b.data("githubAppInstallationID", i);
    }
    b.build()
}

#[tokio::test]
async fn github_app_installations_are_checked_like_fine_grained_tokens() {
    let server = MockServer::start().await;
    let gh = Github::on(&server);
    gh.app_installation(
        4242,
        APP_PUB,
        github_installation(
            77,
            "acme",
            "all",
            json!({"contents": "write", "metadata": "read", "pull_requests": "write"}),
        ),
        &["acme/app"],
    )
    .await;
    let h = Harness::start(&providers_yaml(&server)).await;

    let (v, a) = judge(
        &h,
        app_secret("push", "repository-write", "https://github.com/acme/app", Some("77")),
    )
    .await;
    assert_eq!(v["allowed"], true, "{v}");
    assert_eq!(a["scopegate.dev/verdict"], "ok");
    assert_eq!(a["scopegate.dev/token-kind"], "github-app");
    assert_eq!(a["scopegate.dev/owner"], "acme");
    assert_eq!(
        a["scopegate.dev/scopes"],
        "contents:write,metadata:read,pull_requests:write"
    );

    // Without an installation ID (Argo CD 3.3 discovers it): found through the repository.
    let (v, _) = judge(
        &h,
        app_secret("pull", "repository", "https://github.com/acme/app", None),
    )
    .await;
    assert_eq!(v["allowed"], true, "{v}");

    // The runtime role needs more than this app was given.
    let (v, a) = judge(
        &h,
        app_secret(
            "runtime-repo-creds-secret",
            "repo-creds",
            "https://github.com/acme",
            Some("77"),
        ),
    )
    .await;
    assert_eq!(v["allowed"], false);
    assert_eq!(a["scopegate.dev/missing"], "administration:write,webhooks:write");
    assert!(message(&v).contains("Permissions & events"), "{}", message(&v));

    // A wrong installation ID is an invalid credential.
    let (v, a) = judge(
        &h,
        app_secret("push", "repository-write", "https://github.com/acme/app", Some("78")),
    )
    .await;
    assert_eq!(v["allowed"], false);
    assert_eq!(a["scopegate.dev/verdict"], "invalid");

    // Nothing was minted: only GETs, never POST /app/installations/{id}/access_tokens.
    for r in server.received_requests().await.unwrap() {
        assert_eq!(r.method.as_str(), "GET", "{}", r.url);
        assert!(!r.url.path().contains("access_tokens"));
    }
}

#[tokio::test]
async fn a_selected_repositories_installation_must_include_the_repository() {
    let server = MockServer::start().await;
    Github::on(&server)
        .app_installation(
            4242,
            APP_PUB,
            github_installation(78, "acme", "selected", json!({"contents": "read", "metadata": "read"})),
            &["acme/included"],
        )
        .await;
    let h = Harness::start(&providers_yaml(&server)).await;
    let (v, _) = judge(
        &h,
        app_secret("ok", "repository", "https://github.com/acme/included", Some("78")),
    )
    .await;
    assert_eq!(v["allowed"], true, "{v}");
    let (v, a) = judge(
        &h,
        app_secret("no", "repository", "https://github.com/acme/elsewhere", Some("78")),
    )
    .await;
    assert_eq!(v["allowed"], false);
    assert_eq!(a["scopegate.dev/missing"], "access:acme/elsewhere");
}

#[tokio::test]
async fn a_wrong_app_key_and_an_unconfigured_enterprise_url() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"message": "A JSON web token could not be decoded", "documentation_url": "https://docs.github.com/rest"}),
        ))
        .mount(&server)
        .await;
    let h = Harness::start(&providers_yaml(&server)).await;
    let (v, a) = judge(
        &h,
        app_secret("push", "repository-write", "https://github.com/acme/app", Some("1")),
    )
    .await;
    assert_eq!(v["allowed"], false);
    assert_eq!(a["scopegate.dev/verdict"], "invalid");
    assert!(
        message(&v).contains("githubAppID or githubAppPrivateKey is wrong"),
        "{}",
        message(&v)
    );

    let calls = server.received_requests().await.unwrap().len();
    let mut ghe = app_secret("ghe", "repository", "https://ghe.example.com/acme/app", Some("1"));
    ghe["data"]["githubAppEnterpriseBaseUrl"] = json!(scopegate_testkit::secret::b64("https://ghe.example.com/api/v3"));
    let (v, a) = judge(&h, ghe).await;
    assert_eq!(v["allowed"], true, "an unconfigured host is admitted with a warning");
    assert_eq!(a["scopegate.dev/verdict"], "unverified");
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        calls,
        "no call to an unconfigured host"
    );
}

// --- GitLab -------------------------------------------------------------------------------------------

#[tokio::test]
async fn gitlab_project_and_group_tokens_need_a_role_on_the_project() {
    let server = MockServer::start().await;
    let gl = Gitlab::on(&server);
    gl.token(
        "glpat-ProjectBotDeveloper",
        &["write_repository", "read_api"],
        Some("2027-08-15"),
    )
    .await;
    gl.user("glpat-ProjectBotDeveloper", "project_7_bot_4ffca233d8298ea1", true)
        .await;
    gl.project("glpat-ProjectBotDeveloper", "acme/gitops", 30).await;
    gl.token("glpat-ProjectBotReporter", &["write_repository", "read_api"], None)
        .await;
    gl.user("glpat-ProjectBotReporter", "project_7_bot_0aa0aa0aa0aa0aa0", true)
        .await;
    gl.project("glpat-ProjectBotReporter", "acme/gitops", 20).await;
    gl.token("glpat-GroupBot", &["api"], None).await;
    gl.user("glpat-GroupBot", "group_3_bot_9c8b7a6f5e4d3c2b", true).await;
    gl.project("glpat-GroupBot", "acme/gitops", 40).await;
    let h = Harness::start(&providers_yaml(&server)).await;
    let push = |token: &str| {
        SecretBuilder::argocd("push", "repository-write")
            .https("https://gitlab.com/acme/gitops.git", "bot", token)
            .build()
    };
    let (v, a) = judge(&h, push("glpat-ProjectBotDeveloper")).await;
    assert_eq!(v["allowed"], true, "{v}");
    assert_eq!(a["scopegate.dev/token-kind"], "project");
    assert_eq!(a["scopegate.dev/owner"], "project_7_bot_4ffca233d8298ea1");

    let (v, a) = judge(&h, push("glpat-ProjectBotReporter")).await;
    assert_eq!(v["allowed"], false);
    assert_eq!(a["scopegate.dev/missing"], "role:Developer");
    assert!(message(&v).contains("Reporter on acme/gitops"), "{}", message(&v));

    let runtime = SecretBuilder::argocd("runtime-repo-creds-secret", "repo-creds")
        .https("https://gitlab.com/acme/gitops.git", "bot", "glpat-GroupBot")
        .build();
    let (v, a) = judge(&h, runtime).await;
    assert_eq!(v["allowed"], true, "{v}");
    assert_eq!(a["scopegate.dev/token-kind"], "group");
    assert!(warnings(&v).is_empty(), "a bot is not a person: {v}");
}

#[tokio::test]
async fn gitlab_tokens_that_cannot_be_inspected_say_why() {
    let server = MockServer::start().await;
    let gl = Gitlab::on(&server);
    gl.self_answers(
        "oauth-access-token-from-an-app",
        ResponseTemplate::new(400).set_body_json(
            json!({"message": "400 Bad request - This endpoint requires token type to be a personal access token"}),
        ),
    )
    .await;
    let h = Harness::start(&providers_yaml(&server)).await;
    let s = |token: &str, user: &str| {
        SecretBuilder::argocd("r", "repository")
            .https("https://gitlab.com/acme/gitops.git", user, token)
            .build()
    };
    let (v, a) = judge(&h, s("gldt-DeployToken000000000", "gitlab+deploy-token-5")).await;
    assert_eq!(v["allowed"], true);
    assert_eq!(a["scopegate.dev/verdict"], "unverified");
    assert_eq!(a["scopegate.dev/token-kind"], "deploy-token");
    assert!(a["scopegate.dev/reason"].contains("deploy tokens"), "{a:?}");
    let (_, a) = judge(&h, s("oauth-access-token-from-an-app", "oauth2")).await;
    assert_eq!(a["scopegate.dev/verdict"], "unverified");
    assert!(a["scopegate.dev/reason"].contains("OAuth"), "{a:?}");
    let (v, a) = judge(&h, s("glcbt-JobToken", "gitlab-ci-token")).await;
    assert_eq!(v["allowed"], false);
    assert_eq!(a["scopegate.dev/verdict"], "invalid");
}

#[tokio::test]
async fn self_managed_gitlab_with_a_custom_token_prefix() {
    let server = MockServer::start().await;
    let gl = Gitlab::with_prefix(&server, "/gitlab/api/v4");
    gl.token("corptoken_9f8e7d6c5b4a", &["read_repository"], None).await;
    gl.self_answers(
        "corptoken_revoked",
        ResponseTemplate::new(200).set_body_json(scopegate_testkit::standin::gitlab_token_info(
            &["api"],
            None,
            false,
            true,
        )),
    )
    .await;
    let h = Harness::start(&format!(
        "providers:\n  - kind: gitlab\n    host: git.corp.example\n    apiUrl: {}\n",
        gl.api_url()
    ))
    .await;
    let s = |t: &str| {
        SecretBuilder::argocd("r", "repository")
            .https("https://git.corp.example/platform/apps.git", "x", t)
            .build()
    };
    let (v, a) = judge(&h, s("corptoken_9f8e7d6c5b4a")).await;
    assert_eq!(v["allowed"], true, "{v}");
    assert_eq!(a["scopegate.dev/token-kind"], "personal");
    let (v, a) = judge(&h, s("corptoken_revoked")).await;
    assert_eq!(v["allowed"], false);
    assert!(a["scopegate.dev/reason"].contains("revoked"), "{a:?}");
}

// --- Bitbucket Cloud ----------------------------------------------------------------------------------

#[tokio::test]
async fn bitbucket_api_tokens_use_granular_scopes_where_write_does_not_imply_read() {
    let server = MockServer::start().await;
    let bb = BitbucketCloud::on(&server);
    bb.api_token_listing_scopes_in_403(
        "alice",
        "ATATT3xFfGF0ReadWrite",
        &[
            "read:repository:bitbucket",
            "write:repository:bitbucket",
            "read:pullrequest:bitbucket",
        ],
    )
    .await;
    bb.api_token_listing_scopes_in_403("alice", "ATATT3xFfGF0WriteOnly", &["write:repository:bitbucket"])
        .await;
    let h = Harness::start(&providers_yaml(&server)).await;
    let push = |token: &str, user: &str| {
        SecretBuilder::argocd("push", "repository-write")
            .https("https://bitbucket.org/acme/gitops.git", user, token)
            .build()
    };
    let (v, a) = judge(&h, push("ATATT3xFfGF0ReadWrite", "alice")).await;
    assert_eq!(v["allowed"], true, "{v}");
    assert_eq!(a["scopegate.dev/token-kind"], "api-token");
    let (v, a) = judge(&h, push("ATATT3xFfGF0WriteOnly", "alice")).await;
    assert_eq!(v["allowed"], false);
    assert_eq!(a["scopegate.dev/missing"], "read:repository:bitbucket");
    assert!(message(&v).contains("id.atlassian.com"), "{}", message(&v));
    // The static Git username cannot authenticate an API call: said precisely, not guessed.
    let (v, a) = judge(&h, push("ATATT3xFfGF0ReadWrite", "x-bitbucket-api-token-auth")).await;
    assert_eq!(v["allowed"], true);
    assert_eq!(a["scopegate.dev/verdict"], "unverified");
    assert!(a["scopegate.dev/reason"].contains("username"), "{a:?}");
    // Basic with the account, never Bearer.
    let auths: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| r.headers.get("authorization").map(|v| v.to_str().unwrap().to_owned()))
        .collect();
    assert!(auths.contains(&basic("alice", "ATATT3xFfGF0ReadWrite")));
}

#[tokio::test]
async fn bitbucket_app_passwords_are_denied_since_their_removal() {
    let server = MockServer::start().await;
    let h = Harness::start(&providers_yaml(&server)).await;
    let s = SecretBuilder::argocd("legacy", "repository")
        .https(
            "https://bitbucket.org/acme/gitops.git",
            "alice",
            "ATBBlegacyAppPassword00000000",
        )
        .build();
    let (v, a) = judge(&h, s).await;
    assert_eq!(v["allowed"], false);
    assert_eq!(a["scopegate.dev/verdict"], "invalid");
    assert_eq!(a["scopegate.dev/token-kind"], "app-password");
    let msg = message(&v);
    assert!(msg.contains("removed app passwords on 2026-07-28"), "{msg}");
    assert!(msg.contains("API token") && msg.contains("access token"), "{msg}");
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "a removed credential is not sent"
    );
}

#[tokio::test]
async fn bitbucket_access_token_kinds() {
    let server = MockServer::start().await;
    let bb = BitbucketCloud::on(&server);
    bb.access_token(
        "ATCTT3xFfGN0Project",
        "repository, repository:write",
        "project_access_token",
    )
    .await;
    bb.access_token("ATCTT3xFfGN0Workspace", "repository", "workspace_access_token")
        .await;
    let h = Harness::start(&providers_yaml(&server)).await;
    let s = |t: &str| {
        SecretBuilder::argocd("r", "repository")
            .https("https://bitbucket.org/acme/gitops.git", "x-token-auth", t)
            .build()
    };
    assert_eq!(
        judge(&h, s("ATCTT3xFfGN0Project")).await.1["scopegate.dev/token-kind"],
        "project-access-token"
    );
    assert_eq!(
        judge(&h, s("ATCTT3xFfGN0Workspace")).await.1["scopegate.dev/token-kind"],
        "workspace-access-token"
    );
}

// --- Bitbucket Data Center ----------------------------------------------------------------------------

#[tokio::test]
async fn bitbucket_data_center_http_access_tokens() {
    let server = MockServer::start().await;
    let dc = BitbucketServer::on(&server);
    let writer = "BBDC-ProjectTokenWithWrite000000000000000001";
    let reader = "BBDC-UserTokenWithReadOnly00000000000000002";
    let admin = "BBDC-RepoTokenWithAdmin000000000000000000003";
    dc.token(
        &bearer(writer),
        "project-token-bot",
        "PLAT",
        "gitops",
        RepoPermission::Write,
    )
    .await;
    dc.token(&basic("alice", reader), "alice", "PLAT", "gitops", RepoPermission::Read)
        .await;
    dc.token(&bearer(admin), "repo-token-bot", "PLAT", "isc", RepoPermission::Admin)
        .await;
    dc.reject_others().await;
    let h = Harness::start(&format!(
        "serviceAccounts: [repo-token-bot]\n{}",
        providers_yaml(&server)
    ))
    .await;

    // A project token in bearerToken (Argo CD 3), pushing.
    let push = SecretBuilder::argocd("push", "repository-write")
        .data("url", "https://bitbucket.corp/scm/plat/gitops.git")
        .data("bearerToken", writer)
        .build();
    let (v, a) = judge(&h, push).await;
    assert_eq!(v["allowed"], true, "{v}");
    assert_eq!(a["scopegate.dev/provider"], "bitbucket-server");
    assert_eq!(a["scopegate.dev/token-kind"], "http-access-token");
    assert_eq!(
        a["scopegate.dev/owner"], "project-token-bot",
        "identity from X-AUSERNAME"
    );

    // A user token as password, read-only, asked to push.
    let push_ro = SecretBuilder::argocd("push-ro", "repository-write")
        .https("https://bitbucket.corp/scm/PLAT/gitops.git", "alice", reader)
        .build();
    let (v, a) = judge(&h, push_ro).await;
    assert_eq!(v["allowed"], false);
    assert_eq!(a["scopegate.dev/missing"], "REPO_WRITE");

    // The runtime role needs REPO_ADMIN; this repository token has it.
    let runtime = SecretBuilder::argocd("runtime-repo-creds-secret", "repo-creds")
        .data("url", "https://bitbucket.corp/scm/PLAT")
        .data("bearerToken", admin)
        .annotation(
            "scopegate.dev/probe-repositories",
            "https://bitbucket.corp/projects/PLAT/repos/isc/browse",
        )
        .build();
    let (v, a) = judge(&h, runtime).await;
    assert_eq!(v["allowed"], true, "{v}");
    assert_eq!(a["scopegate.dev/verdict"], "ok");

    let revoked = SecretBuilder::argocd("gone", "repository")
        .data("url", "https://bitbucket.corp/scm/PLAT/gitops.git")
        .data("bearerToken", "BBDC-Revoked000000000000000000000000000000004")
        .build();
    let (v, a) = judge(&h, revoked).await;
    assert_eq!(v["allowed"], false);
    assert_eq!(a["scopegate.dev/verdict"], "invalid");
}

#[tokio::test]
async fn bitbucket_data_center_probes_that_disagree_are_unverified_never_ok() {
    let server = MockServer::start().await;
    let dc = BitbucketServer::on(&server);
    let token = "BBDC-DeferredAuthorisation0000000000000000005";
    dc.token(&bearer(token), "bot", "PLAT", "gitops", RepoPermission::Read)
        .await;
    // A server that defers push authorisation: it advertises receive-pack to a read-only token.
    Mock::given(method("GET"))
        .and(wiremock::matchers::path("/scm/plat/gitops.git/info/refs"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "001f# service=git-receive-pack\n0000",
            "application/x-git-receive-pack-advertisement",
        ))
        .with_priority(1)
        .mount(&server)
        .await;
    let h = Harness::start(&providers_yaml(&server)).await;
    let push = SecretBuilder::argocd("push", "repository-write")
        .data("url", "https://bitbucket.corp/scm/PLAT/gitops.git")
        .data("bearerToken", token)
        .build();
    let (_, a) = judge(&h, push).await;
    assert_eq!(a["scopegate.dev/verdict"], "unverified");
    assert!(a["scopegate.dev/reason"].contains("disagree"), "{a:?}");
}

// --- Beyond scopes ------------------------------------------------------------------------------------

#[tokio::test]
async fn expiry_excess_and_owner() {
    let server = MockServer::start().await;
    let gh = Github::on(&server);
    let soon = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 5))
        .strftime("%Y-%m-%d %H:%M:%S UTC")
        .to_string();
    gh.classic(
        "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",
        "gitops-bot",
        "repo",
        Some(&soon),
    )
    .await;
    gh.classic(
        "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",
        "gitops-bot",
        "repo, delete_repo, admin:org",
        None,
    )
    .await;
    gh.classic(
        "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",
        "alice",
        "repo, admin:repo_hook",
        None,
    )
    .await;
    let yaml = format!("serviceAccounts: [gitops-bot]\n{}", providers_yaml(&server));
    let h = Harness::start(&yaml).await;
    let deny_excess = Harness::start(&format!("excessPrivileges: deny\n{yaml}")).await;
    let ignore_excess = Harness::start(&format!("excessPrivileges: ignore\n{yaml}")).await;
    let repo = |t: &str| {
        SecretBuilder::argocd("app", "repository")
            .https("https://github.com/acme/app", "x", t)
            .build()
    };

    let (v, a) = judge(&h, repo("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")).await;
    assert_eq!(v["allowed"], true);
    assert_eq!(a["scopegate.dev/verdict"], "ok");
    let w = warnings(&v).join(" ");
    assert!(
        w.contains("expires on") && w.contains("in 4 days") || w.contains("in 5 days"),
        "{w}"
    );

    let (v, a) = judge(&h, repo("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")).await;
    assert_eq!(v["allowed"], true);
    assert_eq!(a["scopegate.dev/excess"], "delete_repo,admin:org");
    assert!(
        warnings(&v).join(" ").contains("dangerous: delete_repo, admin:org"),
        "{v}"
    );
    let (v, _) = judge(&deny_excess, repo("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")).await;
    assert_eq!(v["allowed"], false);
    assert_eq!(v["status"]["code"], 403);
    assert!(message(&v).contains("excessPrivileges is deny"));
    let (v, a) = judge(&ignore_excess, repo("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")).await;
    assert!(warnings(&v).is_empty(), "{v}");
    assert_eq!(a["scopegate.dev/excess"], "delete_repo,admin:org", "still recorded");

    let runtime = SecretBuilder::argocd("runtime-repo-creds-secret", "repo-creds")
        .https(
            "https://github.com/acme",
            "x",
            "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",
        )
        .build();
    let (v, a) = judge(&h, runtime).await;
    assert_eq!(v["allowed"], true);
    assert_eq!(a["scopegate.dev/owner"], "alice");
    assert!(
        warnings(&v).join(" ").contains("acts as alice, a person's account"),
        "{v}"
    );
}

// --- Side effects -------------------------------------------------------------------------------------

/// The requests other than `GET` that the documentation lists ("What scopegate sends"): method, path
/// pattern (`{owner}` and `{repo}` standing for one segment each) and body.
fn documented_non_gets() -> Vec<(String, regex::Regex, String)> {
    let doc = std::fs::read_to_string(format!(
        "{}/{}",
        env!("CARGO_MANIFEST_DIR"),
        scopegate_testkit::WHAT_SCOPEGATE_SENDS
    ))
    .unwrap();
    let mut out = Vec::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 5 || !matches!(cells[1], "`POST`" | "`PATCH`" | "`PUT`" | "`DELETE`") {
            continue;
        }
        let unquote = |c: &str| c.trim_matches('`').to_owned();
        let pattern = regex::escape(&unquote(cells[2]))
            .replace(r"\{owner\}", "[^/]+")
            .replace(r"\{repo\}", "[^/]+");
        out.push((
            unquote(cells[1]),
            regex::Regex::new(&format!("^{pattern}$")).unwrap(),
            unquote(cells[3]),
        ));
    }
    out
}

/// Every kind above judged against one recording stand-in (with Codefresh's six permissions for the
/// runtime role, so that every request built to be refused is wanted): the requests it received.
async fn every_kind_judged(write_probes: bool) -> Vec<wiremock::Request> {
    let server = MockServer::start().await;
    let gh = Github::on(&server);
    let fine = fg_token(900);
    gh.fine_grained(&fine, "gitops-bot", "2027-03-31 00:00:00 UTC").await;
    gh.fine_grained_repo(&fine, "/git", &RepoGrant::all("acme", "isc"))
        .await;
    gh.fine_grained_repo(&fine, "/git", &RepoGrant::all("acme", "app"))
        .await;
    gh.classic("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", "gitops-bot", "repo", None)
        .await;
    gh.app_installation(
        4242,
        APP_PUB,
        github_installation(77, "acme", "selected", json!({"contents": "write"})),
        &["acme/app"],
    )
    .await;
    let gl = Gitlab::on(&server);
    gl.token("glpat-Probe", &["api"], None).await;
    gl.user("glpat-Probe", "project_1_bot_x", true).await;
    gl.project("glpat-Probe", "acme/app", 40).await;
    BitbucketCloud::on(&server)
        .access_token("ATCTT3xFfGN0Probe", "repository", "repo_access_token")
        .await;
    BitbucketCloud::on(&server)
        .api_token_listing_scopes_in_403("alice", "ATATT3xFfGF0Probe", &["read:repository:bitbucket"])
        .await;
    BitbucketServer::on(&server)
        .token(
            &bearer("BBDC-Probe00000000000000000000000000000000001"),
            "bot",
            "PLAT",
            "app",
            RepoPermission::Admin,
        )
        .await;
    let providers = providers_yaml(&server).replace(
        "    gitUrl: {u}/git\n".replace("{u}", &server.uri()).as_str(),
        &format!("    gitUrl: {}/git\n    writeProbes: {write_probes}\n", server.uri()),
    );
    assert!(providers.contains("writeProbes"), "{providers}");
    let h = Harness::start(&format!(
        "sharedConfigurationRepo: {SHARED}\nserviceAccounts: [gitops-bot]\nrequirements:\n  runtime:\n    github-fine-grained: \
         {{administration: write, contents: write, metadata: read, webhooks: write, pull_requests: write, statuses: write}}\n{providers}"
    ))
    .await;
    let secrets = vec![
        fg_secret("runtime", &fine),
        fg_secret("write", &fine),
        fg_secret("read", "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"),
        app_secret("a", "repository-write", "https://github.com/acme/app", Some("77")),
        app_secret(
            "runtime-repo-creds-secret",
            "repo-creds",
            "https://github.com/acme",
            None,
        ),
        SecretBuilder::argocd("gl", "repository-write")
            .https("https://gitlab.com/acme/app.git", "x", "glpat-Probe")
            .build(),
        SecretBuilder::argocd("bb", "repository")
            .https(
                "https://bitbucket.org/acme/app.git",
                "x-token-auth",
                "ATCTT3xFfGN0Probe",
            )
            .build(),
        SecretBuilder::argocd("bba", "repository")
            .https("https://bitbucket.org/acme/app.git", "alice", "ATATT3xFfGF0Probe")
            .build(),
        SecretBuilder::argocd("runtime-repo-creds-secret", "repo-creds")
            .data("url", "https://bitbucket.corp/scm/PLAT")
            .data("bearerToken", "BBDC-Probe00000000000000000000000000000000001")
            .annotation("scopegate.dev/probe-repositories", "scm/PLAT/app.git")
            .build(),
        SecretBuilder::argocd("dc-push", "repository-write")
            .data("url", "https://bitbucket.corp/scm/PLAT/app.git")
            .data("bearerToken", "BBDC-Probe00000000000000000000000000000000001")
            .build(),
    ];
    for s in secrets {
        let _ = judge(&h, s).await;
    }
    let requests = server.received_requests().await.unwrap();
    assert!(requests.len() > 20, "the probes ran: {}", requests.len());
    let paths: Vec<&str> = requests.iter().map(|r| r.url.path()).collect();
    for needle in [
        "/git/acme/isc.git/info/refs",
        "/repos/acme/isc/rulesets/rule-suites",
        "/repos/acme/isc/actions/permissions",
        "/app/installations/77",
        "/api/v4/projects/acme%2Fapp",
        "/scm/plat/app.git/info/refs",
        "/rest/api/1.0/projects/PLAT/repos/app/webhooks",
    ] {
        assert!(paths.contains(&needle), "{needle} was probed: {paths:?}");
    }
    requests
}

/// With the defaults, every request is a bodiless `GET`, or one of the requests built to be refused
/// exactly as the documentation lists them (any other method, path or body fails).
#[tokio::test]
async fn every_request_is_a_get_or_one_listed_here() {
    let listed = documented_non_gets();
    assert_eq!(listed.len(), 3, "the documentation lists three: {listed:?}");
    let mut used = std::collections::BTreeSet::new();
    for r in every_kind_judged(true).await {
        if r.method.as_str() == "GET" {
            assert!(r.body.is_empty(), "{} has a body", r.url);
            continue;
        }
        let body = String::from_utf8_lossy(&r.body);
        let found = listed
            .iter()
            .position(|(m, path, b)| m == r.method.as_str() && path.is_match(r.url.path()) && *b == body)
            .unwrap_or_else(|| {
                panic!(
                    "{} {} with body {body:?} is not listed in the documentation",
                    r.method, r.url
                )
            });
        assert!(r.url.query().is_none(), "{}", r.url);
        used.insert(found);
    }
    assert_eq!(used.len(), listed.len(), "each listed request was exercised");
}

/// With `writeProbes: false`, every probe of every kind is a bodiless `GET`.
#[tokio::test]
async fn with_write_probes_off_every_probe_is_a_get() {
    for r in every_kind_judged(false).await {
        assert_eq!(r.method.as_str(), "GET", "{} {}", r.method, r.url);
        assert!(r.body.is_empty(), "{} has a body", r.url);
    }
}
