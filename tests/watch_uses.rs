//! `scopegate watch` following the uses of credentials: the real binary against the Kubernetes API
//! stand-in (Applications, ApplicationSets, ImageUpdaters, a ConfigMap — and their absence), a GitHub
//! stand-in, and a real Git server (`git http-backend`) that answers per repository and per token.
//! Each test waits on what the watcher says (its log lines, its Events, its /metrics), never on a clock.

mod common;

use std::time::Duration;

use common::*;
use scopegate_testkit::git_server::GitServer;
use scopegate_testkit::github_token;
use scopegate_testkit::kube_api::FakeKube;
use scopegate_testkit::secret::SecretBuilder;
use scopegate_testkit::standin::{Github, GithubTokens, Level};
use serde_json::{Value, json};
use wiremock::MockServer;

const WITHIN: Duration = Duration::from_secs(30);

fn read() -> String {
    github_token("ghp_", "WatchUsesRead")
}
fn narrow() -> String {
    github_token("ghp_", "WatchUsesNarrow")
}
fn tokens() -> [String; 2] {
    [read(), narrow()]
}

struct Setup {
    kube: FakeKube,
    git: GitServer,
    _gh: MockServer,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn new(extra_config: &str) -> Self {
        let kube = FakeKube::start().await.unwrap();
        let gh = MockServer::start().await;
        let github = GithubTokens::mount(&gh).await;
        github.classic(&read(), "argocd-bot", "repo");
        github.classic(&narrow(), "argocd-bot", "read:org");
        Github::on(&gh).org_repos(Some(&narrow()), "acme", Ok(&["app"])).await;
        let git = GitServer::start().await.unwrap();
        for repo in ["acme/app", "acme/app2"] {
            git.grant(repo, &read(), Level::Read).unwrap();
        }
        git.repository("acme/secret").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kubeconfig"), kube.kubeconfig("scopegate")).unwrap();
        std::fs::write(
            dir.path().join("config.yaml"),
            format!(
                "watch:\n  policyReports: true\n  reportDebounce: 0s\n{extra_config}providers:\n  - kind: github\n    host: github.com\n    apiUrl: {}\n    gitUrl: {}\n",
                gh.uri(),
                git.url()
            ),
        )
        .unwrap();
        kube.add(
            SecretBuilder::argocd("acme", "repo-creds")
                .https("https://github.com/acme", "git", &read())
                .build(),
        );
        Self {
            kube,
            git,
            _gh: gh,
            dir,
        }
    }

    fn watch(&self) -> Served {
        let mut a: Vec<std::ffi::OsString> = vec!["watch".into(), "--no-leader-election".into()];
        for (flag, file) in [("--kubeconfig", "kubeconfig"), ("--config", "config.yaml")] {
            a.push(flag.into());
            a.push(self.dir.path().join(file).into());
        }
        Served::watch(&a, &[("RUST_LOG", "info")])
    }

    async fn event(&self, kind: &str, name: &str, reason: &str) -> Value {
        self.kube
            .wait_for("events", "argocd", WITHIN, |e| {
                e["regarding"]["kind"] == kind && e["regarding"]["name"] == name && e["reason"] == reason
            })
            .await
            .unwrap_or_else(|| {
                panic!(
                    "no {reason} Event for {kind} {name}: {:#?}",
                    self.kube.objects("events", "argocd")
                )
            })
    }
}

fn application(name: &str, repo: &str) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
           "metadata": {"name": name, "namespace": "argocd"},
           "spec": {"project": "default", "source": {"repoURL": repo, "path": "k8s"},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": "apps"}},
           "status": {"sync": {"status": "Synced"}, "resources": [{"kind": "Deployment", "name": "web"}]}})
}

fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn access(repo: &str, verdict: &str, credential: &str) -> String {
    format!(
        "scopegate_repository_access{{repo_url=\"{repo}\",verdict=\"{verdict}\",namespace=\"argocd\",name=\"{credential}\"}}"
    )
}

fn stop(w: Served) -> String {
    w.terminate();
    let Served { mut child, logs, .. } = w;
    assert!(child.wait().unwrap().success());
    logs.join().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_repositories_are_probed_once_each_and_their_changes_become_events_and_series() {
    let s = Setup::new("").await;
    s.kube.add(application("a1", "https://github.com/acme/app.git"));
    s.kube.add(application("a2", "https://github.com/Acme/App"));
    s.kube.add(application("broken", "https://github.com/acme/secret"));
    let w = s.watch();
    w.wait_for_line("every watch has listed its Secrets");
    w.wait_for_all(&["use verdict changed", "name=broken", "new=unreachable"]);
    w.wait_for_all(&["use verdict changed", "name=a1", "new=ok"]);
    w.wait_for_all(&["use verdict changed", "name=a2", "new=ok"]);
    let warning = s.event("Application", "broken", "RepositoryUnreachable").await;
    assert_eq!(warning["type"], "Warning");
    assert_eq!(warning["regarding"]["apiVersion"], "argoproj.io/v1alpha1");
    assert!(
        warning["note"]
            .as_str()
            .unwrap()
            .contains("https://github.com/acme/secret"),
        "{warning}"
    );
    assert!(
        !s.kube
            .objects("events", "argocd")
            .iter()
            .any(|e| e["regarding"]["name"] == "a1"),
        "ok from the start: no Event"
    );
    // Two Applications on one repository with one credential: one probe.
    assert_eq!(s.git.asked("acme/app", "git-upload-pack"), 1);
    let m = w.admin_get("/metrics");
    assert_eq!(
        sample(&m, &access("https://github.com/acme/app", "ok", "acme")),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, &access("https://github.com/acme/secret", "unreachable", "acme")),
        Some(1.0)
    );
    assert_eq!(promtool_check_metrics(&m), "", "{m}");

    // Fixed: the Application now syncs a repository the credential reads.
    s.kube.add(application("broken", "https://github.com/acme/app2"));
    let normal = s.event("Application", "broken", "RepositoryReachable").await;
    assert_eq!(normal["type"], "Normal");
    let m = w.admin_get("/metrics");
    assert_eq!(
        sample(&m, &access("https://github.com/acme/secret", "unreachable", "acme")),
        None,
        "{m}"
    );
    assert_eq!(
        sample(&m, &access("https://github.com/acme/app2", "ok", "acme")),
        Some(1.0),
        "{m}"
    );
    // The report of argocd holds the Applications' results.
    let report = s
        .kube
        .wait_for("policyreports", "argocd", WITHIN, |r| {
            r["results"].as_array().is_some_and(|rs| {
                rs.iter()
                    .any(|x| x["resources"][0]["name"] == "broken" && x["result"] == "pass")
            })
        })
        .await
        .expect("the PolicyReport follows");
    assert!(
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["resources"][0]["kind"] == "Application")
    );

    // Deleted: its probes and series go with the last Application that used them.
    s.kube.delete("applications", "argocd", "broken");
    s.kube.delete("applications", "argocd", "a1");
    s.kube.delete("applications", "argocd", "a2");
    for name in ["broken", "a1", "a2"] {
        w.wait_for_all(&["followed object gone", &format!("name={name}")]);
    }
    let m = w.admin_get("/metrics");
    assert!(!m.contains("scopegate_repository_access{"), "{m}");
    let logs = stop(w);
    for t in tokens() {
        assert!(!logs.contains(&t), "a token in the log");
        for e in s.kube.objects("events", "argocd") {
            assert!(!e.to_string().contains(&t), "a token in an Event");
        }
    }
}

fn scm_appset(name: &str, secret: &str) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
           "metadata": {"name": name, "namespace": "argocd"},
           "spec": {"generators": [{"matrix": {"generators": [
                        {"list": {"elements": [{"env": "prod"}]}},
                        {"scmProvider": {"github": {"organization": "acme", "tokenRef": {"secretName": secret, "key": "token"}}}}
                    ]}}],
                    "template": {"metadata": {"name": "{{repository}}"}, "spec": {"source": {"repoURL": "{{url}}"}}}}})
}

fn scm_series(set: &str, verdict: &str) -> String {
    format!(
        "scopegate_scm_credential_verdict{{namespace=\"argocd\",applicationset=\"{set}\",generator=\"generators[0].matrix.generators[1].scmProvider\",provider=\"github\",verdict=\"{verdict}\"}}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generator_tokens_are_judged_for_the_scm_role_strict_mode_included() {
    let s = Setup::new("").await;
    s.kube.add(json!({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "argocd-cmd-params-cm", "namespace": "argocd"},
                      "data": {"applicationsetcontroller.enable.tokenref.strict.mode": "true"}}));
    s.kube.add(
        SecretBuilder::new("narrow", "argocd")
            .label("argocd.argoproj.io/secret-type", "scm-creds")
            .data("token", &narrow())
            .build(),
    );
    s.kube.add(
        SecretBuilder::new("unlabelled", "argocd")
            .data("token", &read())
            .build(),
    );
    s.kube.add(scm_appset("narrow", "narrow"));
    s.kube.add(scm_appset("unlabelled", "unlabelled"));
    s.kube.add(scm_appset("missing", "no-such-secret"));
    let w = s.watch();
    w.wait_for_all(&["use verdict changed", "name=narrow", "new=insufficient"]);
    w.wait_for_all(&["use verdict changed", "name=unlabelled", "new=invalid"]);
    w.wait_for_all(&["use verdict changed", "name=missing", "new=no-credential"]);
    let e = s.event("ApplicationSet", "narrow", "TokenInsufficient").await;
    assert!(e["note"].as_str().unwrap().contains("lacks scope: repo"), "{e}");
    let e = s.event("ApplicationSet", "unlabelled", "TokenInvalid").await;
    assert!(
        e["note"]
            .as_str()
            .unwrap()
            .contains("argocd.argoproj.io/secret-type=scm-creds"),
        "{e}"
    );
    let m = w.admin_get("/metrics");
    assert_eq!(sample(&m, &scm_series("narrow", "insufficient")), Some(1.0), "{m}");
    assert_eq!(sample(&m, &scm_series("unlabelled", "invalid")), Some(1.0), "{m}");
    assert_eq!(sample(&m, &scm_series("missing", "no-credential")), Some(1.0), "{m}");
    // The Secrets it names are read one by one, the ConfigMap by name: nothing else of the namespace.
    let logs = stop(w);
    for t in tokens() {
        assert!(!logs.contains(&t), "a token in the log");
        assert!(!m.contains(&t), "a token in the metrics");
        for e in s.kube.objects("events", "argocd") {
            assert!(!e.to_string().contains(&t), "a token in an Event");
        }
        for r in s.kube.objects("policyreports", "argocd") {
            assert!(!r.to_string().contains(&t), "a token in a report");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_updater_writing_back_with_a_read_only_credential_is_insufficient() {
    let s = Setup::new("").await;
    s.kube.add(application("web", "https://github.com/acme/app"));
    s.kube.add(
        json!({"apiVersion": "argocd-image-updater.argoproj.io/v1alpha1", "kind": "ImageUpdater",
                      "metadata": {"name": "images", "namespace": "argocd"},
                      "spec": {"writeBackConfig": {"method": "git:repocreds"},
                               "applicationRefs": [{"namePattern": "web*"}]}}),
    );
    let w = s.watch();
    w.wait_for_all(&["use verdict changed", "name=web", "new=insufficient"]);
    let e = s.event("Application", "web", "RepositoryUnreachable").await;
    assert!(
        e["note"]
            .as_str()
            .unwrap()
            .contains("Image Updater writes back with it"),
        "{e}"
    );
    // The write-back goes to method argocd: nothing to push, the Application is ok again.
    s.kube.add(
        json!({"apiVersion": "argocd-image-updater.argoproj.io/v1alpha1", "kind": "ImageUpdater",
                      "metadata": {"name": "images", "namespace": "argocd"},
                      "spec": {"writeBackConfig": {"method": "argocd"}, "applicationRefs": [{"namePattern": "web*"}]}}),
    );
    s.event("Application", "web", "RepositoryReachable").await;
    stop(w);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_without_the_apis_is_watched_as_it_is() {
    let s = Setup::new("  follow: {applicationSets: false}\n").await;
    s.kube.remove_api("imageupdaters");
    s.kube.remove_api("applications");
    let w = s.watch();
    w.wait_for_line("every watch has listed its Secrets");
    w.wait_for_all(&["not installed in this cluster", "kind=Application"]);
    w.wait_for_all(&["not installed in this cluster", "kind=ImageUpdater"]);
    assert_eq!(w.admin_get("/readyz").trim(), "ok");
    let logs = stop(w);
    assert!(!logs.contains("kind=ApplicationSet"), "not followed: {logs}");
    // Discovery, never a list or watch of what is not there.
    assert!(
        !s.kube.requests().iter().any(|r| r.path.ends_with("/imageupdaters")),
        "{:?}",
        s.kube.requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_scopegate_may_not_list_is_said_and_holds_nothing_back_until_it_is_granted() {
    // An upgrade that kept the old ClusterRole: Applications exist, scopegate may not list them.
    let s = Setup::new("  follow: {applicationSets: false, imageUpdater: false}\n").await;
    s.kube.forbid("applications");
    s.kube.add(application("broken", "https://github.com/acme/secret"));
    let w = s.watch();
    let said = w.wait_for_all(&["may not list", "kind=Application"]);
    assert!(said.contains("get, list, watch"), "names what to grant: {said}");
    // The Secrets are watched and judged as before; the watcher is ready.
    w.wait_for_line("every watch has listed its Secrets");
    assert_eq!(w.admin_get("/readyz").trim(), "ok");
    assert!(!w.admin_get("/metrics").contains("scopegate_repository_access{"));
    // Granted: followed from the watcher's next list, without a restart.
    s.kube.forbid_none();
    w.wait_for_all(&["use verdict changed", "name=broken", "new=unreachable"]);
    s.event("Application", "broken", "RepositoryUnreachable").await;
    let logs = stop(w);
    assert_eq!(
        logs.matches("may not list").count(),
        1,
        "said once, not at every retry: {logs}"
    );
}
