//! Every use of a credential, judged for that use, through `scopegate check -f` (the real binary, the
//! way a pipeline runs it before applying manifests): Applications' repositories with the credential
//! Argo CD would choose, probed on a real Git server (`git http-backend`) that answers per repository
//! and per token; ApplicationSet generators' tokens against a GitHub stand-in that answers as GitHub's
//! documented API does; Image Updater's write-back. Each finding both ways.

mod common;

use std::collections::BTreeMap;

use common::*;
use scopegate_testkit::git_server::GitServer;
use scopegate_testkit::github_token;
use scopegate_testkit::secret::SecretBuilder;
use scopegate_testkit::standin::{Github, Level, RepoGrant};
use serde_json::{Value, json};
use wiremock::MockServer;

fn read() -> String {
    github_token("ghp_", "UsesReadToken")
}
fn write() -> String {
    github_token("ghp_", "UsesWriteToken")
}
fn scm_ok() -> String {
    github_token("ghp_", "UsesScmToken")
}
fn scm_narrow() -> String {
    github_token("ghp_", "UsesScmNarrowToken")
}
const PR_FINE: &str =
    "github_pat_11USES000000000000000000_PullRequestsFineGrainedToken00000000000000000000000000000001";
const PR_FINE_NO_PULLS: &str =
    "github_pat_11USES000000000000000000_NoPullRequestsFineGrainedToken000000000000000000000000000002";

fn tokens() -> Vec<String> {
    vec![
        read(),
        write(),
        scm_ok(),
        scm_narrow(),
        PR_FINE.into(),
        PR_FINE_NO_PULLS.into(),
    ]
}

struct Scene {
    api: MockServer,
    git: GitServer,
    /// An API base no provider is configured for: nothing may ever reach it.
    elsewhere: MockServer,
    dir: tempfile::TempDir,
    config: String,
}

impl Scene {
    async fn new() -> Self {
        let api = MockServer::start().await;
        let elsewhere = MockServer::start().await;
        let git = GitServer::start().await.unwrap();
        let gh = Github::on(&api);
        for t in [read(), write(), scm_ok()] {
            gh.classic(&t, "argocd-bot", "repo", None).await;
        }
        gh.classic(&scm_narrow(), "argocd-bot", "read:org", None).await;
        gh.fine_grained(PR_FINE, "argocd-bot", "2027-06-01 00:00:00 UTC").await;
        gh.fine_grained(PR_FINE_NO_PULLS, "argocd-bot", "2027-06-01 00:00:00 UTC")
            .await;
        let mut with_pulls = RepoGrant::all("acme", "app");
        with_pulls.contents = Level::Read;
        gh.fine_grained_repo(PR_FINE, "/unused", &with_pulls).await;
        let mut without = with_pulls.clone();
        without.pull_requests = Level::None;
        gh.fine_grained_repo(PR_FINE_NO_PULLS, "/unused", &without).await;
        for t in [scm_ok(), scm_narrow()] {
            gh.org_repos(Some(&t), "acme", Ok(&["app"])).await;
        }
        gh.reject_others().await;
        for (repo, token, level) in [
            ("acme/app", read(), Level::Read),
            ("acme/hydrated", read(), Level::Read),
            ("acme/deploy", read(), Level::Read),
            ("acme/hydrated", write(), Level::Write),
            ("acme/deploy", write(), Level::Write),
        ] {
            git.grant(repo, &token, level).unwrap();
        }
        git.repository("acme/secret").unwrap();
        git.know(&read());
        git.public("public/charts").unwrap();
        git.repository("other/private").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "providers:\n  - kind: github\n    host: github.com\n    apiUrl: {}\n    gitUrl: {}\n",
                api.uri(),
                git.url()
            ),
        )
        .unwrap();
        Self {
            api,
            git,
            elsewhere,
            config: config.to_string_lossy().into_owned(),
            dir,
        }
    }

    /// Write `objects` as one manifest file and check it; the uses as JSON, by object.
    async fn check(&self, name: &str, objects: &[Value]) -> (Run, BTreeMap<String, Value>) {
        let text: Vec<String> = objects.iter().map(|o| serde_norway::to_string(o).unwrap()).collect();
        let file = self.dir.path().join(format!("{name}.yaml"));
        std::fs::write(&file, text.join("---\n")).unwrap();
        let file = file.to_string_lossy().into_owned();
        let run = run_scopegate(
            args(&["check", "--config", &self.config, "-f", &file, "--uses", "-o", "json"]),
            None,
        )
        .await;
        let out = run.all_output();
        for t in tokens() {
            assert!(!out.contains(&t), "a token leaked: {out}");
        }
        let by: BTreeMap<String, Value> = run
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|u| (u["name"].as_str().unwrap().to_owned(), u.clone()))
            .collect();
        (run, by)
    }
}

fn application(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
           "metadata": {"name": name, "namespace": "argocd"}, "spec": spec})
}

fn application_with(name: &str, annotations: Value, spec: Value) -> Value {
    let mut a = application(name, spec);
    a["metadata"]["annotations"] = annotations;
    a
}

fn appset(name: &str, generators: Value) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
           "metadata": {"name": name, "namespace": "argocd"},
           "spec": {"generators": generators, "template": {"metadata": {"name": "{{name}}"}, "spec": {"source": {"repoURL": "{{url}}"}}}}})
}

fn source(url: &str) -> Value {
    json!({"source": {"repoURL": url, "path": "k8s"}})
}

/// (verdict, purpose, credential) of each repository of a use object.
fn repos(u: &Value) -> Vec<(String, String, String, Value)> {
    u["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["url"].as_str().unwrap().to_owned(),
                r["purpose"].as_str().unwrap().to_owned(),
                r["verdict"].as_str().unwrap().to_owned(),
                r["credential"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn each_repository_an_application_needs_is_judged_with_the_credential_argo_cd_would_choose() {
    let s = Scene::new().await;
    let creds = |write_token: &str| {
        vec![
            SecretBuilder::argocd("acme", "repo-creds")
                .https("https://github.com/acme", "git", &read())
                .build(),
            SecretBuilder::argocd("acme-write", "repo-write-creds")
                .https("https://github.com/acme", "git", write_token)
                .build(),
        ]
    };
    let apps = vec![
        application("synced", source("https://github.com/acme/app.git")),
        // The same repository, written otherwise: one probe for both.
        application("also-synced", source("https://github.com/Acme/App")),
        application("refused", source("https://github.com/acme/secret")),
        application("public", source("https://github.com/public/charts")),
        application("uncovered", source("https://github.com/other/private")),
        application(
            "hydrated",
            json!({"sourceHydrator": {"drySource": {"repoURL": "https://github.com/acme/hydrated", "path": "apps", "targetRevision": "HEAD"},
                                       "syncSource": {"targetBranch": "env/prod", "path": "apps"}}}),
        ),
        application_with(
            "updated",
            json!({"argocd-image-updater.argoproj.io/image-list": "web=ghcr.io/acme/web",
                   "argocd-image-updater.argoproj.io/write-back-method": "git"}),
            source("https://github.com/acme/deploy"),
        ),
    ];
    // The write template holds the read token: the hydrator's push is refused; Image Updater pushes
    // with the read credential (repo-creds), which may not push either.
    let mut objects = creds(&read());
    objects.extend(apps.clone());
    let (run, by) = s.check("before", &objects).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        s.git.asked("acme/app", "git-upload-pack"),
        1,
        "one probe for two Applications"
    );
    assert_eq!(by["also-synced"]["verdict"], "ok");
    let acme = json!("argocd/acme");
    assert_eq!(
        repos(&by["synced"]),
        [(
            "https://github.com/acme/app.git".into(),
            "sync".into(),
            "ok".into(),
            acme.clone()
        )]
    );
    assert_eq!(by["refused"]["verdict"], "unreachable");
    assert!(
        by["refused"]["message"].as_str().unwrap().contains("404"),
        "{}",
        by["refused"]
    );
    assert_eq!(
        repos(&by["public"]),
        [(
            "https://github.com/public/charts".into(),
            "sync".into(),
            "ok".into(),
            Value::Null
        )]
    );
    assert_eq!(by["uncovered"]["verdict"], "no-credential");
    assert_eq!(by["uncovered"]["repositories"][0]["credential"], Value::Null);
    let hydrated = repos(&by["hydrated"]);
    assert_eq!(hydrated[0].2, "ok", "the dry source reads: {hydrated:?}");
    assert_eq!(
        hydrated[1],
        (
            "https://github.com/acme/hydrated".into(),
            "hydrate".into(),
            "insufficient".into(),
            json!("argocd/acme-write")
        )
    );
    let updated = repos(&by["updated"]);
    assert_eq!(
        updated[1],
        (
            "https://github.com/acme/deploy".into(),
            "write-back".into(),
            "insufficient".into(),
            acme.clone()
        )
    );
    let why = by["updated"]["repositories"][1]["message"].as_str().unwrap();
    assert!(why.contains("Image Updater writes back"), "{why}");
    // The table says the same.
    let table = run_scopegate(
        args(&[
            "check",
            "--config",
            &s.config,
            "-f",
            &s.dir.path().join("before.yaml").to_string_lossy(),
        ]),
        None,
    )
    .await;
    assert_eq!(table.code, Some(1));
    assert!(
        table.stdout.contains("Application argocd/uncovered") && table.stdout.contains("no-credential"),
        "{}",
        table.stdout
    );
    assert!(
        table.stdout.contains("7 Applications and 0 ApplicationSets"),
        "{}",
        table.stdout
    );

    // Fixed: the write template holds the write token, and Image Updater is told to use it.
    let mut objects = creds(&write());
    objects.push(
        SecretBuilder::new("deploy-creds", "argocd")
            .data("username", "bot")
            .data("password", &write())
            .build(),
    );
    objects.push(application("synced", source("https://github.com/acme/app.git")));
    objects.push(application(
        "hydrated",
        json!({"sourceHydrator": {"drySource": {"repoURL": "https://github.com/acme/hydrated", "path": "apps", "targetRevision": "HEAD"},
                                   "syncSource": {"targetBranch": "env/prod", "path": "apps"}}}),
    ));
    objects.push(application_with(
        "updated",
        json!({"argocd-image-updater.argoproj.io/image-list": "web=ghcr.io/acme/web",
               "argocd-image-updater.argoproj.io/write-back-method": "git:secret:argocd/deploy-creds"}),
        source("https://github.com/acme/deploy"),
    ));
    let (run, by) = s.check("after", &objects).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(by.values().all(|u| u["verdict"] == "ok"), "{by:?}");
    assert_eq!(by["updated"]["repositories"][1]["credential"], "argocd/deploy-creds");
    assert!(s.elsewhere.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_image_updater_resource_decides_the_write_back_of_the_applications_it_selects() {
    let s = Scene::new().await;
    let objects = vec![
        SecretBuilder::argocd("acme", "repo-creds")
            .https("https://github.com/acme", "git", &read())
            .build(),
        application("web-shop", source("https://github.com/acme/deploy")),
        application("api", source("https://github.com/acme/app")),
        json!({"apiVersion": "argocd-image-updater.argoproj.io/v1alpha1", "kind": "ImageUpdater",
               "metadata": {"name": "images", "namespace": "argocd"},
               "spec": {"writeBackConfig": {"method": "git:repocreds"},
                        "applicationRefs": [{"namePattern": "web-*", "images": [{"alias": "web", "imageName": "ghcr.io/acme/web:1.0"}]}]}}),
    ];
    let (run, by) = s.check("updater", &objects).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    // web-shop is selected: a read-only repo-creds credential cannot take the write-back.
    assert_eq!(by["web-shop"]["verdict"], "insufficient");
    assert!(
        by["web-shop"]["message"]
            .as_str()
            .unwrap()
            .contains("Image Updater writes back with it"),
        "{}",
        by["web-shop"]
    );
    // api is not: only its sync is judged.
    assert_eq!(repos(&by["api"]).len(), 1);
    assert_eq!(by["api"]["verdict"], "ok");
}

fn scm(org: &str, api: Option<&str>, secret: &str) -> Value {
    let mut g = json!({"organization": org, "tokenRef": {"secretName": secret, "key": "token"}});
    if let Some(a) = api {
        g["api"] = json!(a);
    }
    json!({"scmProvider": {"github": g}})
}

fn token_secret(name: &str, token: &str, labelled: bool) -> Value {
    let mut b = SecretBuilder::new(name, "argocd").data("token", token);
    if labelled {
        b = b.label("argocd.argoproj.io/secret-type", "scm-creds");
    }
    b.build()
}

#[tokio::test]
async fn each_generator_s_token_is_judged_for_the_scm_role() {
    let s = Scene::new().await;
    let objects = vec![
        token_secret("gh-ok", &scm_ok(), false),
        token_secret("gh-narrow", &scm_narrow(), false),
        SecretBuilder::new("pr-fine", "argocd").data("token", PR_FINE).build(),
        SecretBuilder::new("pr-fine-no-pulls", "argocd")
            .data("token", PR_FINE_NO_PULLS)
            .build(),
        appset("ok", json!([scm("acme", None, "gh-ok")])),
        appset("narrow", json!([scm("acme", None, "gh-narrow")])),
        appset("missing", json!([scm("acme", None, "gh-missing")])),
        appset("elsewhere", json!([scm("acme", Some(&s.elsewhere.uri()), "gh-ok")])),
        appset(
            "nested",
            json!([{"matrix": {"generators": [
                {"git": {"repoURL": "https://github.com/acme/app", "revision": "HEAD", "directories": [{"path": "*"}]}},
                {"merge": {"mergeKeys": ["branch"], "generators": [
                    {"pullRequest": {"github": {"owner": "acme", "repo": "app", "tokenRef": {"secretName": "pr-fine", "key": "token"}}}},
                    {"pullRequest": {"github": {"owner": "acme", "repo": "app", "tokenRef": {"secretName": "pr-fine-no-pulls", "key": "token"}}}}
                ]}}
            ]}}]),
        ),
    ];
    let (run, by) = s.check("generators", &objects).await;
    assert_eq!(run.code, Some(1), "{run:?}");

    let generator = |set: &str, i: usize| by[set]["generators"][i].clone();
    assert_eq!(generator("ok", 0)["verdict"], "ok", "{}", by["ok"]);
    assert_eq!(generator("ok", 0)["generator"], "generators[0].scmProvider");
    assert_eq!(generator("ok", 0)["secret"], "argocd/gh-ok");
    assert_eq!(generator("narrow", 0)["verdict"], "insufficient");
    assert_eq!(generator("narrow", 0)["missing"], json!(["repo"]));
    assert_eq!(generator("missing", 0)["verdict"], "no-credential");
    assert!(
        generator("missing", 0)["message"]
            .as_str()
            .unwrap()
            .contains("gh-missing")
    );
    // A generator pointing at an API no provider is configured for: not judged, and nothing sent there.
    assert_eq!(generator("elsewhere", 0)["verdict"], "unverified");
    assert!(
        generator("elsewhere", 0)["message"]
            .as_str()
            .unwrap()
            .contains("no configured provider")
    );
    assert!(
        s.elsewhere.received_requests().await.unwrap().is_empty(),
        "nothing was sent elsewhere"
    );
    // Nested generators, each judged: the Pull Request generator also needs Pull requests: read.
    let nested = &by["nested"]["generators"];
    assert_eq!(
        nested[0]["generator"],
        "generators[0].matrix.generators[1].merge.generators[0].pullRequest"
    );
    assert_eq!(nested[0]["verdict"], "ok", "{nested}");
    assert_eq!(nested[1]["verdict"], "insufficient", "{nested}");
    // The matrix's Git generator reads a repository: no credential covers it, and it is private.
    assert_eq!(
        by["nested"]["repositories"][0]["verdict"], "no-credential",
        "{}",
        by["nested"]
    );
    let listed: Vec<String> = s
        .api
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert!(listed.iter().any(|r| r == "GET /orgs/acme/repos"), "{listed:?}");
    assert!(listed.iter().all(|r| r.starts_with("GET ")), "only GETs: {listed:?}");
}

#[tokio::test]
async fn strict_mode_requires_the_scm_creds_label_and_says_so() {
    let s = Scene::new().await;
    let strict = |on: bool| {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cmd-params-cm", "namespace": "argocd"},
               "data": {"applicationsetcontroller.enable.tokenref.strict.mode": if on { "true" } else { "false" }}})
    };
    let objects = |on: bool| {
        vec![
            strict(on),
            token_secret("plain", &scm_ok(), false),
            token_secret("labelled", &scm_ok(), true),
            appset("plain", json!([scm("acme", None, "plain")])),
            appset("labelled", json!([scm("acme", None, "labelled")])),
        ]
    };
    let (run, by) = s.check("strict", &objects(true)).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    let plain = &by["plain"]["generators"][0];
    assert_eq!(plain["verdict"], "invalid");
    let words = plain["message"].as_str().unwrap();
    assert!(
        words.contains("argocd.argoproj.io/secret-type=scm-creds") && words.contains("strict mode"),
        "{words}"
    );
    assert_eq!(by["labelled"]["generators"][0]["verdict"], "ok");
    // Strict mode off (Argo CD's default): no label needed.
    let (run, by) = s.check("lenient", &objects(false)).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(by["plain"]["generators"][0]["verdict"], "ok");
}

const APP_KEY: &str = include_str!("fixtures/keys/github-app-test.pem");
const APP_PUB: &[u8] = include_bytes!("fixtures/keys/github-app-test.pub.der");

/// A generator with `appSecretName`: the GitHub App's Secret in Argo CD's namespace, judged as the app
/// (never minting a token) for the `scm` role — its installation's permissions on the repository.
#[tokio::test]
async fn a_github_app_generator_is_judged_by_its_installation() {
    let s = Scene::new().await;
    for (app_id, installation, permissions) in [
        (
            4242,
            77,
            json!({"contents": "read", "metadata": "read", "pull_requests": "read"}),
        ),
        (4343, 78, json!({"metadata": "read"})),
    ] {
        Github::on(&s.api)
            .app_installation(
                app_id,
                APP_PUB,
                scopegate_testkit::standin::github_installation(installation, "acme", "selected", permissions),
                &["acme/app"],
            )
            .await;
    }
    let app_secret = |name: &str, app_id: &str, installation: &str| {
        SecretBuilder::new(name, "argocd")
            .label("argocd.argoproj.io/secret-type", "repo-creds")
            .data("url", "https://github.com/acme")
            .data("githubAppID", app_id)
            .data("githubAppInstallationID", installation)
            .data("githubAppPrivateKey", APP_KEY)
            .build()
    };
    let pr =
        |secret: &str| json!([{"pullRequest": {"github": {"owner": "acme", "repo": "app", "appSecretName": secret}}}]);
    let objects = vec![
        app_secret("gh-app", "4242", "77"),
        app_secret("gh-app-narrow", "4343", "78"),
        appset("app-ok", pr("gh-app")),
        appset("app-narrow", pr("gh-app-narrow")),
        appset("app-missing", pr("no-such-app")),
    ];
    let (run, by) = s.check("apps", &objects).await;
    assert!(!run.all_output().contains("PRIVATE KEY"));
    let verdict = |set: &str| by[set]["generators"][0]["verdict"].as_str().unwrap().to_owned();
    assert_eq!(verdict("app-ok"), "ok", "{}", by["app-ok"]);
    assert_eq!(by["app-ok"]["generators"][0]["tokenKind"], "github-app");
    assert_eq!(by["app-ok"]["generators"][0]["secret"], "argocd/gh-app");
    assert_eq!(verdict("app-narrow"), "insufficient", "{}", by["app-narrow"]);
    assert_eq!(verdict("app-missing"), "no-credential");
    // Never a listing as the app: scopegate does not mint installation tokens.
    let asked = s.api.received_requests().await.unwrap();
    assert!(
        !asked.iter().any(|r| r.url.path().ends_with("/access_tokens")),
        "no token minted"
    );
}

const WB_FINE: &str =
    "github_pat_11USES000000000000000000_WriteBackPullRequestsToken0000000000000000000000000000000003";
const WB_FINE_NO_PR: &str =
    "github_pat_11USES000000000000000000_WriteBackNoPullRequestsToken00000000000000000000000000000004";

/// Image Updater's pull-request mode needs the provider's pull-request write permission besides the
/// push: a fine-grained token that may push but not open pull requests is `insufficient`.
#[tokio::test]
async fn image_updater_pull_requests_need_the_pull_request_permission() {
    let s = Scene::new().await;
    let gh = Github::on(&s.api);
    for (token, pulls) in [(WB_FINE, Level::Write), (WB_FINE_NO_PR, Level::Read)] {
        gh.fine_grained(token, "argocd-bot", "2027-06-01 00:00:00 UTC").await;
        let mut g = RepoGrant::all("acme", "deploy");
        g.pull_requests = pulls;
        gh.fine_grained_repo(token, "/unused", &g).await;
        s.git.grant("acme/deploy", token, Level::Write).unwrap();
    }
    let updater = |name: &str| {
        json!({"apiVersion": "argocd-image-updater.argoproj.io/v1alpha1", "kind": "ImageUpdater",
               "metadata": {"name": name, "namespace": "argocd"},
               "spec": {"writeBackConfig": {"method": format!("git:secret:{name}"),
                                            "gitConfig": {"branch": "main", "pullRequest": {"github": {}}}},
                        "applicationRefs": [{"namePattern": name}]}})
    };
    let secret = |name: &str, token: &str| {
        SecretBuilder::new(name, "argocd")
            .data("username", "bot")
            .data("password", token)
            .build()
    };
    let objects = vec![
        secret("with-prs", WB_FINE),
        secret("without-prs", WB_FINE_NO_PR),
        updater("with-prs"),
        updater("without-prs"),
        application("with-prs", source("https://github.com/acme/deploy")),
        application("without-prs", source("https://github.com/acme/deploy")),
    ];
    let (run, by) = s.check("pull-requests", &objects).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    let write_back = |name: &str| by[name]["repositories"][1].clone();
    assert_eq!(write_back("with-prs")["purpose"], "write-back-pull-request");
    assert_eq!(write_back("with-prs")["verdict"], "ok", "{}", by["with-prs"]);
    assert_eq!(
        write_back("without-prs")["verdict"],
        "insufficient",
        "{}",
        by["without-prs"]
    );
    let why = write_back("without-prs")["message"].as_str().unwrap().to_owned();
    assert!(
        why.contains("pull requests") && why.contains("pull_requests:write"),
        "{why}"
    );
}
