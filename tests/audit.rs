//! `scopegate audit` as an operator runs it: the binary, a kubeconfig pointing at a loopback stand-in
//! of the Kubernetes API (real list responses with `resourceVersion` and `continue` tokens, pages of
//! two, metadata-only lists, server-side apply), and provider stand-ins answering as the documented
//! APIs and Git's smart HTTP do.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use scopegate_testkit::kube_api::{FakeKube, Recorded};
use scopegate_testkit::secret::SecretBuilder;
use scopegate_testkit::standin::{Level, bearer};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer};

const ACME: &str = "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";
const PLATFORM: &str = "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";
const PRIVATE: &str = "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";
const RUNTIME: &str = "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";
const WRITE: &str = "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";
const REVOKED: &str = "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";
const GITLAB_SOON: &str = "glpat-AuditExpiresSoon00007";
const GITLAB_USER: &str = "glpat-AuditUserToken000008";
const GITEA: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432";
const IN_AN_APPLICATION: &str = "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";
const TOKENS: [&str; 10] = [
    ACME,
    PLATFORM,
    PRIVATE,
    RUNTIME,
    WRITE,
    REVOKED,
    GITLAB_SOON,
    GITLAB_USER,
    GITEA,
    IN_AN_APPLICATION,
];

fn days_from_now(days: i64) -> jiff::Timestamp {
    jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(24 * days))
        .unwrap()
}

fn application(namespace: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec
    })
}

/// Two Argo CD instances (`argocd`, and a Codefresh runtime in `codefresh`) and what they sync.
struct Scene {
    kube: FakeKube,
    git: MockServer,
    /// Holds the kubeconfig and configuration files.
    _dir: tempfile::TempDir,
    kubeconfig: String,
    config: String,
}

impl Scene {
    async fn new() -> Self {
        let git = MockServer::start().await;
        let gh = Github::on(&git);
        let soon = days_from_now(10);
        let in_20_days = days_from_now(20);
        let later = days_from_now(200);
        let gh_time = |t: jiff::Timestamp| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
        gh.classic(ACME, "argocd-bot", "repo", Some(&gh_time(later))).await;
        gh.classic(PLATFORM, "argocd-bot", "repo", None).await;
        gh.classic(PRIVATE, "argocd-bot", "read:org", None).await;
        gh.classic(
            RUNTIME,
            "gitops-bot",
            "admin:repo_hook, repo",
            Some(&gh_time(in_20_days)),
        )
        .await;
        gh.classic(WRITE, "argocd-bot", "repo", None).await;
        gh.reject_others().await;
        Gitlab::on(&git)
            .token(
                GITLAB_SOON,
                &["read_repository"],
                Some(&soon.strftime("%Y-%m-%d").to_string()),
            )
            .await;
        Gitlab::on(&git).token(GITLAB_USER, &["api"], None).await;
        // Git over HTTPS (gitUrl {uri}/git).
        for (token, repo, level) in [
            (ACME, "acme/guestbook", Level::Read),
            (ACME, "acme/clusters", Level::Read),
            (ACME, "acme/hydrated", Level::Read),
            (PLATFORM, "acme/platform-secrets", Level::None),
            (WRITE, "acme/hydrated", Level::Read),
            (RUNTIME, "acme/codefresh-isc", Level::Write),
        ] {
            gh.git_repository("/git", token, repo, level).await;
        }

        let kube = FakeKube::start().await.unwrap();
        let secret = |b: SecretBuilder| kube.add(b.build());
        let argocd = |name: &str, t: &str| SecretBuilder::argocd(name, t);
        secret(argocd("acme-creds", "repo-creds").https("https://github.com/acme", "git", ACME));
        secret(argocd("acme-platform-creds", "repo-creds").https("https://github.com/acme/platform-", "git", PLATFORM));
        secret(argocd("acme-write-creds", "repo-write-creds").https("https://github.com/acme", "git", WRITE));
        secret(
            argocd("guestbook", "repository")
                .data("url", "https://github.com/acme/guestbook")
                .data("type", "git"),
        );
        secret(argocd("private", "repository").https("https://github.com/acme/private", "git", PRIVATE));
        secret(argocd("legacy", "repository").https("https://github.com/acme/legacy", "git", REVOKED));
        secret(argocd("gl-app", "repository").https("https://gitlab.com/acme/gl-app.git", "oauth2", GITLAB_SOON));
        secret(argocd("gitea", "repository").https("https://gitea.example/acme/tools.git", "ci", GITEA));
        // Not a credential Secret: listed by metadata only, never read.
        secret(SecretBuilder::new("unrelated", "argocd").data("password", "not-a-git-token"));
        secret(
            SecretBuilder::new("runtime-repo-creds-secret", "codefresh")
                .label("argocd.argoproj.io/secret-type", "repo-creds")
                .https("https://github.com/acme", "git", RUNTIME),
        );
        // A Codefresh user token: no label, found by its name.
        secret(SecretBuilder::new("git-default-5f0c2a", "codefresh").https(
            "https://gitlab.com/acme/gitops.git",
            "oauth2",
            GITLAB_USER,
        ));
        kube.add(application(
            "argocd",
            "guestbook",
            json!({"source": {"repoURL": "https://github.com/acme/guestbook.git", "path": "guestbook"}}),
        ));
        kube.add(application(
            "argocd",
            "platform",
            json!({"sources": [
                {"repoURL": "https://github.com/acme/platform-secrets", "path": "sealed"},
                {"repoURL": "https://charts.example.com", "chart": "nginx", "targetRevision": "15.0.0"}
            ]}),
        ));
        kube.add(application(
            "argocd",
            "private",
            json!({"source": {"repoURL": "https://github.com/acme/private", "path": "."}}),
        ));
        kube.add(application(
            "argocd",
            "hydrated",
            json!({"sourceHydrator": {
                "drySource": {"repoURL": "https://github.com/acme/hydrated", "targetRevision": "HEAD", "path": "apps"},
                "syncSource": {"targetBranch": "env/prod", "path": "apps"}
            }}),
        ));
        // A token written into an Application: Argo CD uses it; the audit says so without printing it.
        kube.add(application(
            "argocd",
            "embedded",
            json!({"source": {"repoURL": format!("https://bot:{IN_AN_APPLICATION}@github.com/acme/guestbook.git"), "path": "."}}),
        ));
        kube.add(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": "clusters", "namespace": "argocd"},
            "spec": {
                "generators": [{"git": {"repoURL": "https://github.com/acme/clusters", "revision": "HEAD",
                                        "directories": [{"path": "clusters/*"}]}}],
                "template": {"metadata": {"name": "{{path.basename}}"},
                             "spec": {"source": {"repoURL": "{{url}}", "path": "{{path}}"}}}
            }
        }));
        Self::with(kube, git, "argocd").await
    }

    async fn with(kube: FakeKube, git: MockServer, namespace: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, kube.kubeconfig(namespace)).unwrap();
        let config = dir.path().join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "{}  - kind: gitea\n    host: code.corp\n    apiUrl: {u}/gitea/api/v1\n    gitUrl: {u}/gitea\n  - kind: azure-devops\n    host: dev.azure.com\n    apiUrl: {u}/azure\n    gitUrl: {u}/azure\nexpiryWarningDays: 14\nserviceAccounts: [argocd-bot, gitops-bot]\nsharedConfigurationRepo: https://github.com/acme/codefresh-isc\n",
                providers_yaml(&git),
                u = git.uri()
            ),
        )
        .unwrap();
        Self {
            kube,
            git,
            kubeconfig: kubeconfig.to_string_lossy().into_owned(),
            config: config.to_string_lossy().into_owned(),
            _dir: dir,
        }
    }

    async fn audit(&self, extra: &[&str]) -> Run {
        let mut a = args(&["audit", "--kubeconfig", &self.kubeconfig, "--config", &self.config]);
        a.extend(args(extra));
        let run = run_scopegate(a, None).await;
        let out = run.all_output();
        for t in TOKENS {
            assert!(!out.contains(t), "a token leaked into the output: {out}");
        }
        run
    }
}

fn by_name(v: &Value) -> BTreeMap<String, Value> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                format!("{}/{}", e["namespace"].as_str().unwrap(), e["name"].as_str().unwrap()),
                e.clone(),
            )
        })
        .collect()
}

/// (url, access, result, used by) of a credential's repositories.
fn repositories(e: &Value) -> Vec<(String, String, String, Vec<String>)> {
    e["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["url"].as_str().unwrap().to_owned(),
                r["access"].as_str().unwrap().to_owned(),
                r["result"].as_str().unwrap().to_owned(),
                r["usedBy"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|u| u.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

fn owned(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn lists(requests: &[Recorded], plural: &str) -> Vec<Recorded> {
    requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(&format!("/{plural}")))
        .cloned()
        .collect()
}

#[tokio::test]
async fn every_namespace_as_json_with_coverage() {
    let scene = Scene::new().await;
    let run = scene.audit(&["-A", "-o", "json"]).await;
    assert_eq!(run.code, Some(1), "findings: {run:?}");
    let all = by_name(&run.json());
    let names: Vec<&str> = all.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "argocd/acme-creds",
            "argocd/acme-platform-creds",
            "argocd/acme-write-creds",
            "argocd/gitea",
            "argocd/gl-app",
            "argocd/guestbook",
            "argocd/legacy",
            "argocd/private",
            "codefresh/git-default-5f0c2a",
            "codefresh/runtime-repo-creds-secret",
        ],
        "the labelled Secrets and the git-default-* one, not the unrelated one"
    );
    let verdicts: BTreeMap<&str, (&str, bool)> = all
        .iter()
        .map(|(k, e)| {
            (
                k.as_str(),
                (e["verdict"].as_str().unwrap(), e["allowed"].as_bool().unwrap()),
            )
        })
        .collect();
    assert_eq!(verdicts["argocd/acme-creds"], ("ok", true));
    assert_eq!(verdicts["argocd/private"], ("insufficient", false));
    assert_eq!(verdicts["argocd/legacy"], ("invalid", false));
    assert_eq!(verdicts["argocd/gitea"], ("unverified", true));
    assert_eq!(verdicts["argocd/gl-app"], ("ok", true));
    assert_eq!(verdicts["codefresh/git-default-5f0c2a"].0, "ok");
    assert_eq!(verdicts["codefresh/runtime-repo-creds-secret"], ("ok", true));
    assert_eq!(all["argocd/private"]["missing"], json!(["repo"]));
    assert_eq!(all["argocd/gl-app"]["expiring"], true);
    assert_eq!(all["codefresh/git-default-5f0c2a"]["role"], "user");
    assert_eq!(all["codefresh/runtime-repo-creds-secret"]["role"], "runtime");

    // Coverage, by Argo CD's rule: the longest matching prefix, and never for a repository that has
    // credentials of its own (argocd/private); Helm chart sources and templated URLs are not Git.
    assert_eq!(
        repositories(&all["argocd/acme-creds"]),
        [
            (
                "https://github.com/acme/clusters".into(),
                "read".into(),
                "reachable".into(),
                owned(&["ApplicationSet argocd/clusters"])
            ),
            (
                "https://github.com/acme/guestbook".into(),
                "read".into(),
                "reachable".into(),
                owned(&["Secret argocd/guestbook", "Application argocd/guestbook"])
            ),
            (
                "https://github.com/acme/hydrated".into(),
                "read".into(),
                "reachable".into(),
                owned(&["Application argocd/hydrated"])
            ),
        ]
    );
    assert_eq!(all["argocd/acme-creds"]["unreachable"], json!([]));
    assert_eq!(
        repositories(&all["argocd/acme-platform-creds"]),
        [(
            "https://github.com/acme/platform-secrets".into(),
            "read".into(),
            "unreachable".into(),
            owned(&["Application argocd/platform"])
        )]
    );
    assert_eq!(
        all["argocd/acme-platform-creds"]["unreachable"],
        json!(["https://github.com/acme/platform-secrets"])
    );
    let reason = all["argocd/acme-platform-creds"]["repositories"][0]["reason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("404"), "{reason}");
    // The source hydrator pushes through the write template, which may only read.
    assert_eq!(
        repositories(&all["argocd/acme-write-creds"]),
        [(
            "https://github.com/acme/hydrated".into(),
            "write".into(),
            "unreachable".into(),
            owned(&["Application argocd/hydrated"])
        )]
    );
    // The runtime token writes the Shared Configuration Repository; the Applications of argocd are
    // not the runtime's.
    assert_eq!(
        repositories(&all["codefresh/runtime-repo-creds-secret"]),
        [(
            "https://github.com/acme/codefresh-isc".into(),
            "write".into(),
            "reachable".into(),
            owned(&["sharedConfigurationRepo"])
        )]
    );
    for e in all.values() {
        for key in [
            "namespace",
            "name",
            "allowed",
            "verdict",
            "provider",
            "tokenKind",
            "role",
            "scopes",
            "missing",
            "excess",
            "expiresAt",
            "owner",
            "message",
            "repositories",
            "unreachable",
        ] {
            assert!(e.get(key).is_some(), "{key} in {e}");
        }
    }

    // What was asked of the API server: every list paged (two per page here), Secrets by label and
    // by metadata, no Secret read but the git-default-* one, nothing written.
    let requests = scene.kube.requests();
    let secret_lists = lists(&requests, "secrets");
    assert!(
        secret_lists.iter().all(|r| r.path == "/api/v1/secrets"),
        "{secret_lists:?}"
    );
    let labelled: Vec<&Recorded> = secret_lists
        .iter()
        .filter(|r| r.query.contains_key("labelSelector"))
        .collect();
    assert_eq!(
        labelled[0].query["labelSelector"],
        "argocd.argoproj.io/secret-type in (repository,repo-creds,repository-write,repo-write-creds)"
    );
    assert_eq!(labelled.len(), 5, "9 labelled Secrets in pages of 2");
    assert!(!labelled[0].query.contains_key("continue"));
    assert_eq!(labelled[1].query["continue"], "offset-2");
    assert!(labelled.iter().all(|r| r.query["limit"] == "250"));
    let metadata: Vec<&Recorded> = secret_lists
        .iter()
        .filter(|r| r.accept.contains("as=PartialObjectMetadataList"))
        .collect();
    assert_eq!(metadata.len(), 6, "all 11 Secrets' metadata in pages of 2");
    let reads: Vec<&str> = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("/secrets/"))
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(reads, ["/api/v1/namespaces/codefresh/secrets/git-default-5f0c2a"]);
    let apps = lists(&requests, "applications");
    assert_eq!(apps.len(), 3, "5 Applications in pages of 2");
    assert!(apps.iter().all(|r| r.path == "/apis/argoproj.io/v1alpha1/applications"));
    assert_eq!(lists(&requests, "applicationsets").len(), 1);
    assert!(
        requests.iter().all(|r| r.method == "GET"),
        "an audit without --apply-reports writes nothing"
    );
    assert!(
        run.stderr
            .contains("Application argocd/embedded has credentials in a repository URL"),
        "{}",
        run.stderr
    );

    // The providers were asked once per token, and Git once per credential and repository.
    let asked = scene.git.received_requests().await.unwrap();
    let user_calls = asked
        .iter()
        .filter(|r| r.url.path() == "/user" && r.headers.get("authorization").unwrap() == bearer(ACME).as_str())
        .count();
    assert_eq!(user_calls, 1);
    let git_calls: Vec<String> = asked
        .iter()
        .filter(|r| r.url.path().starts_with("/git/"))
        .map(|r| format!("{}?{}", r.url.path(), r.url.query().unwrap_or_default()))
        .collect();
    let distinct: BTreeSet<&String> = git_calls.iter().collect();
    assert_eq!(git_calls.len(), distinct.len(), "no probe twice: {git_calls:?}");
    assert!(git_calls.contains(&"/git/acme/codefresh-isc.git/info/refs?service=git-receive-pack".to_owned()));
}

#[tokio::test]
async fn the_table_summarises_and_lists_what_each_credential_cannot_reach() {
    let scene = Scene::new().await;
    let run = scene.audit(&["-A"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    let out = &run.stdout;
    assert!(out.starts_with("SECRET "), "{out}");
    assert!(
        out.contains(
            "10 credential Secrets: 6 ok, 1 insufficient, 1 invalid, 1 expiring, 1 unverified, 1 other; 2 would be denied; 2 unreachable repositories"
        ),
        "{out}"
    );
    let unreachable: Vec<&str> = out.lines().filter(|l| l.contains("  unreachable  ")).collect();
    assert_eq!(unreachable.len(), 2, "{out}");
    assert!(
        unreachable[0].starts_with("argocd/acme-platform-creds"),
        "{}",
        unreachable[0]
    );
    assert!(unreachable[0].contains("https://github.com/acme/platform-secrets"));
    assert!(unreachable[0].contains("Application argocd/platform"));
    assert!(
        unreachable[1].starts_with("argocd/acme-write-creds"),
        "{}",
        unreachable[1]
    );
    assert!(unreachable[1].contains(" write "), "{}", unreachable[1]);
    assert!(!out.contains('\x1b'), "no colour off a terminal");
    // Off a terminal stderr has the audit's notes and no progress bar.
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| !l.starts_with("scopegate audit: "))
            .count(),
        0,
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("judging Secrets"), "{}", run.stderr);
}

#[tokio::test]
async fn policy_reports_follow_the_crd_schema_and_apply_server_side() {
    let validator = policy_report_validator();
    let scene = Scene::new().await;
    let run = scene.audit(&["-A", "-o", "policyreport"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    let reports = scopegate_testkit::secret::yaml_documents(&run.stdout).unwrap();
    assert_eq!(reports.len(), 2, "one per namespace: {}", run.stdout);
    for r in &reports {
        let errors: Vec<String> = validator
            .iter_errors(r)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:?}\n{r:#}");
        assert_eq!(r["apiVersion"], "wgpolicyk8s.io/v1alpha2");
        assert_eq!(r["kind"], "PolicyReport");
        assert_eq!(r["metadata"]["name"], "scopegate");
        // The summary counts the results.
        let mut counted: BTreeMap<String, u64> = BTreeMap::new();
        for res in r["results"].as_array().unwrap() {
            assert!(res["severity"].is_string(), "every result has a severity: {res}");
            assert!(
                res["message"].as_str().is_some_and(|m| !m.is_empty()),
                "and a message: {res}"
            );
            *counted.entry(res["result"].as_str().unwrap().to_owned()).or_default() += 1;
        }
        for (k, n) in r["summary"].as_object().unwrap() {
            assert_eq!(
                counted.get(k).copied().unwrap_or(0),
                n.as_u64().unwrap(),
                "{k} in {r:#}"
            );
        }
    }
    let argocd = &reports[0];
    assert_eq!(argocd["metadata"]["namespace"], "argocd");
    let result = |rule: &str, secret: &str| -> Value {
        argocd["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"] == rule && r["resources"][0]["name"] == secret)
            .cloned()
            .unwrap_or_else(|| panic!("{rule} {secret}"))
    };
    let private = result("token-scopes", "private");
    assert_eq!(private["result"], "fail");
    assert_eq!(private["severity"], "high");
    assert_eq!(private["properties"]["missing"], "repo");
    assert_eq!(private["resources"][0]["kind"], "Secret");
    assert!(private["resources"][0]["uid"].as_str().is_some_and(|u| !u.is_empty()));
    assert_eq!(result("token-scopes", "legacy")["result"], "fail");
    assert_eq!(result("token-scopes", "gl-app")["result"], "warn");
    assert_eq!(result("token-scopes", "gitea")["result"], "warn");
    assert_eq!(result("token-scopes", "guestbook")["result"], "skip");
    assert_eq!(result("token-scopes", "acme-creds")["result"], "pass");
    assert_eq!(result("repository-access", "acme-creds")["result"], "pass");
    let platform = result("repository-access", "acme-platform-creds");
    assert_eq!(platform["result"], "fail");
    assert_eq!(
        platform["properties"]["unreachable"],
        "https://github.com/acme/platform-secrets"
    );
    assert!(platform["message"].as_str().unwrap().contains("platform-secrets"));
    // Each Application's uses: the repositories it needs, with the credential Argo CD would choose.
    let app = |name: &str| -> Value {
        argocd["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resources"][0]["kind"] == "Application" && r["resources"][0]["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("Application {name}"))
    };
    assert_eq!(app("guestbook")["result"], "pass");
    assert_eq!(app("guestbook")["rule"], "repository-access");
    assert_eq!(app("guestbook")["resources"][0]["apiVersion"], "argoproj.io/v1alpha1");
    assert!(
        app("guestbook")["resources"][0]["uid"]
            .as_str()
            .is_some_and(|u| !u.is_empty())
    );
    assert_eq!(app("platform")["result"], "fail");
    assert_eq!(app("platform")["properties"]["verdict"], "unreachable");
    assert_eq!(app("private")["properties"]["verdict"], "unreachable");
    assert_eq!(app("hydrated")["properties"]["verdict"], "insufficient");
    assert!(app("hydrated")["message"].as_str().unwrap().contains("push"));
    // 4 Secrets' findings and 3 Applications'.
    assert_eq!(argocd["summary"]["fail"], 7, "{argocd:#}");
    assert_eq!(reports[1]["metadata"]["namespace"], "codefresh");

    // --apply-reports: the same reports, server-side applied (field manager scopegate, forced).
    let run = scene.audit(&["-A", "--apply-reports", "-o", "json"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("applied 2 PolicyReport(s)"), "{}", run.stderr);
    let patches: Vec<Recorded> = scene
        .kube
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(patches.len(), 2);
    for (p, ns) in patches.iter().zip(["argocd", "codefresh"]) {
        assert_eq!(
            p.path,
            format!("/apis/wgpolicyk8s.io/v1alpha2/namespaces/{ns}/policyreports/scopegate")
        );
        assert_eq!(p.content_type, "application/apply-patch+yaml");
        assert_eq!(p.query["fieldManager"], "scopegate");
        assert_eq!(p.query["force"], "true");
        let body = p.body.as_ref().unwrap();
        assert!(validator.is_valid(body), "{body:#}");
        assert_eq!(body["metadata"]["namespace"], ns);
    }
    // The codefresh report (applied with kind and apiVersion, as kubectl would show them).
    assert_eq!(scene.kube.objects("policyreports", "codefresh").len(), 1);
    let stored = scene.kube.objects("policyreports", "argocd");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["summary"], argocd["summary"]);
    // Applying again changes the same object.
    let run = scene.audit(&["-A", "--apply-reports", "-o", "json"]).await;
    assert_eq!(run.code, Some(1));
    assert_eq!(scene.kube.objects("policyreports", "argocd").len(), 1);

    // The codefresh runtime is uninstalled: its report goes with it; other tools' reports stay.
    scene.kube.add(json!({
        "apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
        "metadata": {"name": "kyverno-pod-security", "namespace": "codefresh",
                     "labels": {"app.kubernetes.io/managed-by": "kyverno"}},
        "results": []
    }));
    for name in ["runtime-repo-creds-secret", "git-default-5f0c2a"] {
        scene.kube.delete("secrets", "codefresh", name);
    }
    let run = scene.audit(&["-A", "--apply-reports", "-o", "json"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("applied 1 PolicyReport(s)")
            && run
                .stderr
                .contains("deleted 1 left from Secrets since removed (codefresh/scopegate)"),
        "{}",
        run.stderr
    );
    let left: Vec<Value> = scene.kube.objects("policyreports", "codefresh");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["metadata"]["name"], "kyverno-pod-security");
    let deletes: Vec<Recorded> = scene
        .kube
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .collect();
    assert_eq!(deletes.len(), 1);
    assert_eq!(
        deletes[0].path,
        "/apis/wgpolicyk8s.io/v1alpha2/namespaces/codefresh/policyreports/scopegate"
    );
}

#[tokio::test]
async fn without_the_policyreport_crd_the_findings_are_still_printed() {
    let scene = Scene::new().await;
    scene.kube.remove_api("policyreports");
    let run = scene.audit(&["-A", "--apply-reports", "-o", "json"]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr
            .contains("the PolicyReport API (wgpolicyk8s.io/v1alpha2) is not installed"),
        "{}",
        run.stderr
    );
    assert_eq!(run.json().as_array().unwrap().len(), 10, "what was found is not lost");
}

#[tokio::test]
async fn expiring_lists_the_tokens_that_expire_soonest_first() {
    let scene = Scene::new().await;
    let run = scene.audit(&["-A", "--expiring", "30d", "-o", "json"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    let names: Vec<String> = run
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{}/{}", e["namespace"].as_str().unwrap(), e["name"].as_str().unwrap()))
        .collect();
    assert_eq!(names, ["argocd/gl-app", "codefresh/runtime-repo-creds-secret"]);
    let run = scene.audit(&["-A", "--expiring", "30d"]).await;
    assert_eq!(run.code, Some(1));
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with("SECRET") && lines[0].contains("EXPIRES"),
        "{}",
        run.stdout
    );
    assert!(lines[1].starts_with("argocd/gl-app "), "{}", run.stdout);
    assert!(
        lines[2].starts_with("codefresh/runtime-repo-creds-secret "),
        "{}",
        run.stdout
    );
    assert!(lines[2].contains("gitops-bot"), "{}", lines[2]);
    assert!(run.stdout.contains("2 token(s) expire within 30d"), "{}", run.stdout);
    // Nothing within a day: clean.
    let run = scene.audit(&["-A", "--expiring", "1d"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("0 token(s) expire within 1d"), "{}", run.stdout);
    // The expiry view does no coverage probes.
    let asked = scene.git.received_requests().await.unwrap();
    assert!(!asked.iter().any(|r| r.url.path().starts_with("/git/")));
    // A partial view is never applied as the reports.
    let run = scene.audit(&["-A", "--expiring", "30d", "--apply-reports"]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("--apply-reports"), "{}", run.stderr);
}

#[tokio::test]
async fn one_namespace_or_the_contexts() {
    let scene = Scene::new().await;
    let run = scene.audit(&["-n", "codefresh", "-o", "json"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let names: Vec<String> = by_name(&run.json()).into_keys().collect();
    assert_eq!(
        names,
        ["codefresh/git-default-5f0c2a", "codefresh/runtime-repo-creds-secret"]
    );
    let requests = scene.kube.requests();
    assert!(
        lists(&requests, "secrets")
            .iter()
            .all(|r| r.path == "/api/v1/namespaces/codefresh/secrets"),
        "only the namespace is listed"
    );
    // Without -n or -A: the kubeconfig context's namespace (argocd).
    let run = scene.audit(&["-o", "json"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(by_name(&run.json()).keys().all(|k| k.starts_with("argocd/")));
}

#[tokio::test]
async fn user_token_namespaces_narrow_where_git_default_secrets_are_looked_for() {
    let scene = Scene::new().await;
    let narrowed = format!(
        "{}watch:\n  userTokenNamespaces: [codefresh]\n",
        std::fs::read_to_string(&scene.config).unwrap()
    );
    std::fs::write(&scene.config, narrowed).unwrap();
    let run = scene.audit(&["-A", "-o", "json"]).await;
    assert!(run.code == Some(0) || run.code == Some(1), "{run:?}");
    assert!(by_name(&run.json()).contains_key("codefresh/git-default-5f0c2a"));
    let metadata: Vec<Recorded> = scene
        .kube
        .requests()
        .into_iter()
        .filter(|r| r.accept.contains("as=PartialObjectMetadataList") && r.path.ends_with("/secrets"))
        .collect();
    assert!(!metadata.is_empty());
    assert!(
        metadata
            .iter()
            .all(|r| r.path == "/api/v1/namespaces/codefresh/secrets"),
        "names are looked for in codefresh only: {metadata:?}"
    );
}

#[tokio::test]
async fn a_token_shared_by_300_secrets_is_introspected_once() {
    let git = MockServer::start().await;
    let token = "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";
    Mock::given(method("GET"))
        .and(path("/user"))
        .and(header("authorization", bearer(token).as_str()))
        .respond_with(Github::classic_answer("argocd-bot", "repo", None))
        .expect(1)
        .mount(&git)
        .await;
    let kube = FakeKube::start().await.unwrap();
    kube.set_page_size(100);
    for i in 0..300 {
        kube.add(
            SecretBuilder::new(&format!("repo-{i:03}"), "bulk")
                .label("argocd.argoproj.io/secret-type", "repository")
                .https(&format!("https://github.com/acme/app-{i:03}"), "git", token)
                .build(),
        );
    }
    let scene = Scene::with(kube, git, "bulk").await;
    let run = scene.audit(&["--concurrency", "16", "-o", "json"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let all = run.json();
    assert_eq!(all.as_array().unwrap().len(), 300);
    assert!(all.as_array().unwrap().iter().all(|e| e["verdict"] == "ok"));
    assert!(!run.stdout.contains(token));
    scene.git.verify().await;
    let pages = lists(&scene.kube.requests(), "secrets")
        .into_iter()
        .filter(|r| r.query.contains_key("labelSelector"))
        .count();
    assert_eq!(pages, 3, "300 Secrets in pages of 100");
}

#[tokio::test]
async fn what_the_cluster_refuses_or_lacks_is_said_plainly() {
    let scene = Scene::new().await;
    // Not allowed to list Applications: coverage cannot be done, and the way around it is named.
    scene.kube.forbid("applications");
    let run = scene.audit(&["-A"]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("--no-coverage"), "{}", run.stderr);
    assert!(
        run.stderr.contains("not allowed to list Applications"),
        "{}",
        run.stderr
    );
    let run = scene.audit(&["-A", "--no-coverage", "-o", "json"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.json()
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["repositories"] == json!([]))
    );

    scene.kube.forbid_none();

    // No Argo CD API in the cluster: the Secrets are still judged, and the audit says what it could not see.
    scene.kube.remove_api("applications");
    scene.kube.remove_api("applicationsets");
    let run = scene.audit(&["-A", "-o", "json"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("the argoproj.io Application API is not installed"),
        "{}",
        run.stderr
    );
    let all = by_name(&run.json());
    // The repository Secret still counts as a use of its template.
    assert_eq!(
        repositories(&all["argocd/acme-creds"]),
        [(
            "https://github.com/acme/guestbook".into(),
            "read".into(),
            "reachable".into(),
            owned(&["Secret argocd/guestbook"])
        )]
    );

    // Not allowed to list Secrets: exit 2, naming the RBAC that would allow it.
    scene.kube.forbid("secrets");
    let run = scene.audit(&["-A"]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr.contains("not allowed to list Secrets in all namespaces"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("scopegate-audit"), "{}", run.stderr);
    assert!(run.stdout.is_empty());

    // Without sharedConfigurationRepo in the configuration, the audit says what it did not check.
    std::fs::write(&scene.config, providers_yaml(&scene.git)).unwrap();
    scene.kube.forbid_none();
    let run = scene.audit(&["-n", "codefresh"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stderr
            .contains("sharedConfigurationRepo is not in the configuration"),
        "{}",
        run.stderr
    );

    // No API server at all.
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let unreachable = scene
        .kube
        .kubeconfig("argocd")
        .replace(&format!("https://{}", scene.kube.addr), "https://127.0.0.1:9");
    std::fs::write(&kubeconfig, unreachable).unwrap();
    let run = run_scopegate(
        args(&["audit", "--kubeconfig", &kubeconfig.to_string_lossy(), "-A"]),
        None,
    )
    .await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("cannot list Secrets"), "{}", run.stderr);
    // A kubeconfig that is not one.
    std::fs::write(&kubeconfig, "clusters: [").unwrap();
    let run = run_scopegate(
        args(&["audit", "--kubeconfig", &kubeconfig.to_string_lossy(), "-A"]),
        None,
    )
    .await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("reading the kubeconfig"), "{}", run.stderr);
}

/// On a terminal, stderr shows progress; stdout, redirected, stays clean JSON.
#[tokio::test]
async fn a_progress_bar_on_stderr_when_it_is_a_terminal() {
    let scene = Scene::new().await;
    let out = scene._dir.path().join("out.json");
    let command = format!(
        "{} audit --kubeconfig {} --config {} -A -o json >{}",
        env!("CARGO_BIN_EXE_scopegate"),
        scene.kubeconfig,
        scene.config,
        out.display()
    );
    // `script` runs the command on a new pseudo-terminal and copies what it shows to its stdout.
    let shown = tokio::task::spawn_blocking(move || {
        std::process::Command::new("script")
            .args(["-q", "-e", "-c", &command, "/dev/null"])
            .env_remove("NO_COLOR")
            .env("TERM", "xterm")
            .output()
            .expect("script (util-linux) runs")
    })
    .await
    .unwrap();
    assert_eq!(shown.status.code(), Some(1), "{shown:?}");
    let terminal = String::from_utf8_lossy(&shown.stdout);
    assert!(terminal.contains("judging Secrets"), "{terminal:?}");
    assert!(terminal.contains("probing repositories"), "{terminal:?}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 10);
}

const APP_KEY: &str = include_str!("fixtures/keys/github-app-test.pem");
const APP_PUB: &[u8] = include_bytes!("fixtures/keys/github-app-test.pub.der");

/// A GitHub App template is asked as the app, never minting a token: does the installation include
/// the repository, and may it read (push) there?
#[tokio::test]
async fn github_app_templates_reach_what_their_installation_includes() {
    let git = MockServer::start().await;
    Github::on(&git)
        .app_installation(
            4242,
            APP_PUB,
            scopegate_testkit::standin::github_installation(
                77,
                "apps-org",
                "selected",
                json!({"contents": "read", "metadata": "read"}),
            ),
            &["apps-org/included"],
        )
        .await;
    let kube = FakeKube::start().await.unwrap();
    for (name, secret_type) in [("app-creds", "repo-creds"), ("app-write-creds", "repo-write-creds")] {
        kube.add(
            SecretBuilder::new(name, "apps")
                .label("argocd.argoproj.io/secret-type", secret_type)
                .data("type", "git")
                .data("url", "https://github.com/apps-org")
                .data("githubAppID", "4242")
                .data("githubAppInstallationID", "77")
                .data("githubAppPrivateKey", APP_KEY)
                .build(),
        );
    }
    kube.add(application(
        "apps",
        "included",
        json!({"source": {"repoURL": "https://github.com/apps-org/included.git", "path": "."}}),
    ));
    kube.add(application(
        "apps",
        "excluded",
        json!({"source": {"repoURL": "https://github.com/apps-org/excluded.git", "path": "."}}),
    ));
    kube.add(application(
        "apps",
        "hydrated",
        json!({"sourceHydrator": {"drySource": {"repoURL": "https://github.com/apps-org/included"},
                                  "syncSource": {"targetBranch": "env", "path": "."}}}),
    ));
    let scene = Scene::with(kube, git, "apps").await;
    let run = scene.audit(&["-o", "json"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(!run.all_output().contains("PRIVATE KEY"), "{}", run.all_output());
    let all = by_name(&run.json());
    let got: Vec<(String, String, String)> = repositories(&all["apps/app-creds"])
        .into_iter()
        .map(|(u, a, r, _)| (u, a, r))
        .collect();
    assert_eq!(
        got,
        [
            (
                "https://github.com/apps-org/excluded.git".into(),
                "read".into(),
                "unreachable".into()
            ),
            (
                "https://github.com/apps-org/included.git".into(),
                "read".into(),
                "reachable".into()
            ),
        ]
    );
    assert!(
        all["apps/app-creds"]["repositories"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("does not include this repository")
    );
    let push = &all["apps/app-write-creds"]["repositories"][0];
    assert_eq!(push["access"], "write");
    assert_eq!(push["result"], "unreachable");
    assert!(
        push["reason"]
            .as_str()
            .unwrap()
            .contains("lacks the Contents permission to push"),
        "{push}"
    );
    // Only GETs, authenticated as the app; no installation token minted.
    let asked = scene.git.received_requests().await.unwrap();
    assert!(asked.iter().all(|r| r.method.as_str() == "GET"), "{asked:?}");
    assert!(!asked.iter().any(|r| r.url.path().ends_with("/access_tokens")));
}

#[tokio::test]
async fn gitea_and_azure_devops_templates_reach_what_their_tokens_read() {
    use scopegate_testkit::standin::{AzureDevops, AzurePat, Gitea, GiteaRepo, GiteaToken};
    let git = MockServer::start().await;
    let gitea_token = "5c09e0de0000000000000000000000000000a001";
    let pat = "auditazurepat000000000000000000000000000000000000001";
    let forgejo = Gitea::with_prefix(&git, "/gitea");
    forgejo
        .token(GiteaToken {
            token: gitea_token,
            login: "gitops-bot",
            scopes: &["read:repository"],
            repos: &[
                GiteaRepo {
                    full_name: "platform/gitops",
                    pull: true,
                    push: false,
                    admin: false,
                },
                GiteaRepo {
                    full_name: "platform/secret",
                    pull: false,
                    push: false,
                    admin: false,
                },
            ],
            list_readable: false,
            limited_to: None,
        })
        .await;
    forgejo.reject_others().await;
    let azure = AzureDevops::with_prefix(&git, "/azure");
    azure
        .pat(AzurePat {
            pat,
            org: "acme",
            account: "gitops-bot@acme.example",
            scopes: &["vso.code"],
            repos: &[("Platform/apps", false)],
            expired: false,
        })
        .await;
    azure.reject_others().await;
    let kube = FakeKube::start().await.unwrap();
    kube.add(
        SecretBuilder::new("forgejo-creds", "argocd")
            .label("argocd.argoproj.io/secret-type", "repo-creds")
            .data("url", "https://code.corp/platform")
            .data("password", gitea_token)
            .build(),
    );
    kube.add(
        SecretBuilder::new("azure-creds", "argocd")
            .label("argocd.argoproj.io/secret-type", "repo-creds")
            .data("url", "https://dev.azure.com/acme")
            .data("password", pat)
            .build(),
    );
    for (name, url) in [
        ("gitops", "https://code.corp/platform/gitops.git"),
        ("secret", "https://code.corp/platform/secret.git"),
        ("apps", "https://dev.azure.com/acme/Platform/_git/apps"),
        ("hidden", "https://dev.azure.com/acme/Platform/_git/hidden"),
    ] {
        kube.add(application(
            "argocd",
            name,
            json!({"source": {"repoURL": url, "path": "."}}),
        ));
    }
    let scene = Scene::with(kube, git, "argocd").await;
    let run = scene.audit(&["-o", "json"]).await;
    assert!(!run.all_output().contains(gitea_token) && !run.all_output().contains(pat));
    let all = by_name(&run.json());
    // Templates name no repository to probe: their tokens are unverified, and say why.
    for name in ["argocd/forgejo-creds", "argocd/azure-creds"] {
        assert_eq!(all[name]["verdict"], "unverified", "{all:#?}");
        assert!(
            all[name]["message"]
                .as_str()
                .unwrap()
                .contains("no repository to probe"),
            "{all:#?}"
        );
    }
    let reach = |name: &str| -> Vec<(String, String)> {
        repositories(&all[name])
            .into_iter()
            .map(|(u, _, r, _)| (u, r))
            .collect()
    };
    assert_eq!(
        reach("argocd/forgejo-creds"),
        [
            (
                "https://code.corp/platform/gitops.git".to_owned(),
                "reachable".to_owned()
            ),
            (
                "https://code.corp/platform/secret.git".to_owned(),
                "unreachable".to_owned()
            ),
        ],
        "{all:#?}"
    );
    assert_eq!(
        reach("argocd/azure-creds"),
        [
            (
                "https://dev.azure.com/acme/Platform/_git/apps".to_owned(),
                "reachable".to_owned()
            ),
            (
                "https://dev.azure.com/acme/Platform/_git/hidden".to_owned(),
                "unreachable".to_owned()
            ),
        ],
        "{all:#?}"
    );
    let asked = scene.git.received_requests().await.unwrap();
    assert!(asked.iter().all(|r| r.method.as_str() == "GET"), "{asked:?}");
}

/// The uses of credentials, as `--uses -o json` reports them: each Application and ApplicationSet of the
/// scene, with the credential Argo CD would choose for each repository; an ImageUpdater's write-back
/// with a read-only template; an ApplicationSet generator whose token Secret is missing; and the
/// objects read to judge them: ImageUpdaters listed, the Secrets generators name read one by one.
#[tokio::test]
async fn uses_are_judged_with_the_credential_argo_cd_would_choose() {
    let scene = Scene::new().await;
    scene.kube.add(json!({
        "apiVersion": "argocd-image-updater.argoproj.io/v1alpha1", "kind": "ImageUpdater",
        "metadata": {"name": "images", "namespace": "argocd"},
        "spec": {"writeBackConfig": {"method": "git"}, "applicationRefs": [{"namePattern": "guestbook"}]}
    }));
    scene.kube.add(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "previews", "namespace": "argocd"},
        "spec": {"generators": [{"pullRequest": {"github": {"owner": "acme", "repo": "guestbook",
                 "tokenRef": {"secretName": "github-pr-token", "key": "token"}}}}],
                 "template": {"metadata": {"name": "pr-{{number}}"}, "spec": {"source": {"repoURL": "https://github.com/acme/guestbook"}}}}
    }));
    let run = scene.audit(&["-A", "--uses", "-o", "json"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    let uses = run.json();
    let by: BTreeMap<String, Value> = uses
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                format!("{} {}", u["kind"].as_str().unwrap(), u["name"].as_str().unwrap()),
                u.clone(),
            )
        })
        .collect();
    let guestbook = &by["Application guestbook"];
    assert_eq!(guestbook["repositories"][0]["verdict"], "ok");
    assert_eq!(guestbook["repositories"][0]["credential"], "argocd/acme-creds");
    // Image Updater pushes with the read template, which may only read.
    let write_back = &guestbook["repositories"][1];
    assert_eq!(write_back["purpose"], "write-back");
    assert_eq!(write_back["credential"], "argocd/acme-creds");
    assert_eq!(write_back["verdict"], "insufficient");
    assert_eq!(
        by["Application private"]["repositories"][0]["credential"],
        "argocd/private"
    );
    assert_eq!(by["Application hydrated"]["repositories"][1]["verdict"], "insufficient");
    let previews = &by["ApplicationSet previews"];
    assert_eq!(previews["generators"][0]["verdict"], "no-credential");
    assert_eq!(previews["generators"][0]["kind"], "pullRequest");
    assert!(
        previews["message"].as_str().unwrap().contains("github-pr-token"),
        "{previews}"
    );
    assert_eq!(by["ApplicationSet clusters"]["repositories"][0]["verdict"], "ok");
    // The table says the same, after the Secrets'.
    let table = scene.audit(&["-A"]).await;
    assert!(
        table.stdout.contains("Application argocd/guestbook") && table.stdout.contains("write-back"),
        "{}",
        table.stdout
    );
    assert!(
        table.stdout.contains("5 Applications and 2 ApplicationSets"),
        "{}",
        table.stdout
    );
    // What was read: ImageUpdaters listed (paged), the generator's Secret read by name, nothing written.
    let requests = scene.kube.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.path == "/apis/argocd-image-updater.argoproj.io/v1alpha1/imageupdaters")
    );
    assert!(
        requests
            .iter()
            .any(|r| r.path == "/api/v1/namespaces/argocd/secrets/github-pr-token")
    );
    assert!(requests.iter().all(|r| r.method == "GET"));
}
