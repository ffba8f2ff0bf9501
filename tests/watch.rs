//! `scopegate watch`, the real binary, against the Kubernetes API stand-in and a GitHub stand-in whose
//! tokens a test revokes and restores. Each test waits on what the watcher itself says (its log lines,
//! what it writes to the API, what it serves on /metrics), never on a clock.

mod common;

use std::time::Duration;

use common::*;
use scopegate_testkit::kube_api::FakeKube;
use scopegate_testkit::standin::{GithubTokens, TokenAnswer};
use serde_json::Value;
use wiremock::MockServer;

const OK: &str = "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";
const SHORT: &str = "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";
const ROTATED: &str = "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";
const REVOKE: &str = "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";
const ALL_TOKENS: [&str; 4] = [OK, SHORT, ROTATED, REVOKE];

/// Waits that end as soon as what they wait for happens; the bound only stops a broken run.
const WITHIN: Duration = Duration::from_secs(30);

struct Setup {
    kube: FakeKube,
    github: GithubTokens,
    _gh: MockServer,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn new(config: &str) -> Self {
        let kube = FakeKube::start().await.unwrap();
        let gh = MockServer::start().await;
        let github = GithubTokens::mount(&gh).await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kubeconfig"), kube.kubeconfig("scopegate")).unwrap();
        std::fs::write(
            dir.path().join("config.yaml"),
            format!(
                "{config}providers:\n  - kind: github\n    host: github.com\n    apiUrl: {}\n",
                gh.uri()
            ),
        )
        .unwrap();
        Self {
            kube,
            github,
            _gh: gh,
            dir,
        }
    }

    fn args(&self, extra: &[&str]) -> Vec<std::ffi::OsString> {
        let mut a: Vec<std::ffi::OsString> = vec!["watch".into()];
        for (flag, file) in [("--kubeconfig", "kubeconfig"), ("--config", "config.yaml")] {
            a.push(flag.into());
            a.push(self.dir.path().join(file).into());
        }
        a.extend(extra.iter().map(Into::into));
        a
    }

    /// One watcher that leads without a Lease.
    fn watch_alone(&self) -> Served {
        Served::watch(&self.args(&["--no-leader-election"]), &[("RUST_LOG", "info")])
    }

    fn secret(&self, name: &str, secret_type: &str, token: &str) -> Value {
        SecretBuilder::argocd(name, secret_type)
            .https("https://github.com/acme/app", "git", token)
            .build()
    }

    /// The Events written about a Secret, as `kubectl events --for secret/NAME` lists them.
    fn events(&self, name: &str) -> Vec<Value> {
        self.kube
            .objects("events", "argocd")
            .into_iter()
            .filter(|e| e["regarding"]["name"] == name)
            .collect()
    }

    async fn event(&self, name: &str, reason: &str) -> Value {
        self.kube
            .wait_for("events", "argocd", WITHIN, |e| {
                e["regarding"]["name"] == name && e["reason"] == reason
            })
            .await
            .unwrap_or_else(|| panic!("no {reason} Event for {name}"))
    }
}

/// The value of one sample of `/metrics` (a line starting with `series`).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn verdict_series(namespace: &str, name: &str, verdict: &str, role: &str) -> String {
    format!(
        "scopegate_credential_verdict{{namespace=\"{namespace}\",name=\"{name}\",verdict=\"{verdict}\",provider=\"github\",token_kind=\"classic\",role=\"{role}\"}}"
    )
}

/// Stop a watcher with SIGTERM; everything it logged.
fn stop(w: Served) -> String {
    w.terminate();
    let Served { mut child, logs, .. } = w;
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    logs.join().unwrap()
}

fn assert_no_token(what: &str, text: &str) {
    for t in ALL_TOKENS {
        assert!(!text.contains(t), "a token in {what}");
        assert!(!text.contains(&t[..16]), "a token's start in {what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_judged_at_start_when_created_changed_and_forgotten_when_deleted() {
    let s = Setup::new("").await;
    s.github.classic(OK, "gitops-bot", "repo");
    s.github.classic(ROTATED, "gitops-bot", "repo");
    s.github.classic(SHORT, "alice", "read:user");
    s.kube.add(s.secret("present-ok", "repository", OK));
    s.kube.add(s.secret("present-short", "repository", SHORT));
    let w = s.watch_alone();

    // Present at start: judged; the failing one gets its Warning at once.
    w.wait_for_all(&["verdict changed", "name=present-short", "new=insufficient"]);
    w.wait_for_all(&["verdict changed", "name=present-ok", "new=ok"]);
    let warning = s.event("present-short", "TokenInsufficient").await;
    assert_eq!(warning["type"], "Warning");
    assert_eq!(warning["reportingController"], "scopegate.dev/watch");
    assert!(
        warning["note"].as_str().unwrap().contains("lacks scope: repo"),
        "{warning}"
    );
    assert!(s.events("present-ok").is_empty(), "ok from the start: no Event");
    let m = w.admin_get("/metrics");
    assert_eq!(
        sample(&m, &verdict_series("argocd", "present-ok", "ok", "read")),
        Some(1.0)
    );
    assert_eq!(promtool_check_metrics(&m), "", "{m}");
    assert_eq!(
        sample(&m, &verdict_series("argocd", "present-short", "insufficient", "read")),
        Some(1.0)
    );
    assert!(
        sample(
            &m,
            "scopegate_credential_last_checked_timestamp_seconds{namespace=\"argocd\",name=\"present-ok\"}"
        )
        .is_some()
    );
    assert_eq!(sample(&m, "scopegate_watch_credentials{verdict=\"ok\"}"), Some(1.0));
    assert_eq!(sample(&m, "scopegate_watch_leader"), Some(1.0));

    // Created: judged at once.
    s.kube.add(s.secret("created", "repository-write", OK));
    w.wait_for_all(&["verdict changed", "name=created", "new=ok"]);

    // Its token rotated to one that lacks the scope: judged at once, long before the hour is up.
    s.kube.add(s.secret("created", "repository-write", SHORT));
    w.wait_for_all(&["verdict changed", "name=created", "old=ok", "new=insufficient"]);
    s.event("created", "TokenInsufficient").await;
    // And back to a good token: the Warning is answered by TokenVerified.
    s.kube.add(s.secret("created", "repository-write", ROTATED));
    w.wait_for_all(&["verdict changed", "name=created", "old=insufficient", "new=ok"]);
    let verified = s.event("created", "TokenVerified").await;
    assert_eq!(verified["type"], "Normal");
    let m = w.admin_get("/metrics");
    assert_eq!(
        sample(&m, &verdict_series("argocd", "created", "ok", "write")),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, &verdict_series("argocd", "created", "insufficient", "write")),
        None,
        "the series of the old verdict went"
    );

    // Deleted: its series go at once.
    s.kube.delete("secrets", "argocd", "present-short");
    w.wait_for_all(&["credential Secret gone", "name=present-short"]);
    let m = w.admin_get("/metrics");
    assert!(!m.contains("name=\"present-short\""), "its series went:\n{m}");
    assert_eq!(
        sample(&m, "scopegate_watch_credentials{verdict=\"insufficient\"}"),
        Some(0.0)
    );

    let logs = stop(w);
    assert_no_token("the logs", &logs);
    assert_no_token(
        "the Events",
        &serde_json::to_string(&s.kube.objects("events", "argocd")).unwrap(),
    );
    assert_eq!(
        s.github.calls(OK),
        1,
        "one introspection: the other judgements of the token came from the cache"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_flips_at_the_next_recheck_and_a_failing_provider_changes_nothing() {
    let s = Setup::new("watch:\n  recheckInterval: 1s\n").await;
    s.github.classic(REVOKE, "gitops-bot", "repo");
    s.kube.add(s.secret("repo", "repository", REVOKE));
    let w = s.watch_alone();
    w.wait_for_all(&["verdict changed", "name=repo", "new=ok"]);
    let checked = |m: &str| {
        sample(
            m,
            "scopegate_credential_last_checked_timestamp_seconds{namespace=\"argocd\",name=\"repo\"}",
        )
    };

    // GitHub fails: the verdict stays, the last check ages, no Event.
    s.github.set(REVOKE, TokenAnswer::Down);
    let before = s.github.calls(REVOKE);
    s.github.asked(REVOKE, before + 2).await;
    let m = w.admin_get("/metrics");
    assert_eq!(
        sample(&m, &verdict_series("argocd", "repo", "ok", "read")),
        Some(1.0),
        "kept"
    );
    let stale = checked(&m).unwrap();
    assert!(s.events("repo").is_empty(), "no Event for a provider failure");

    // Revoked: the next re-check really asks (the cache's valid answer is not used), and flips.
    s.github.set(REVOKE, TokenAnswer::Revoked);
    w.wait_for_all(&["verdict changed", "name=repo", "old=ok", "new=invalid"]);
    let warning = s.event("repo", "TokenInvalid").await;
    assert!(warning["note"].as_str().unwrap().contains("401"), "{warning}");
    let m = w.admin_get("/metrics");
    assert_eq!(
        sample(&m, &verdict_series("argocd", "repo", "invalid", "read")),
        Some(1.0)
    );
    assert!(checked(&m).unwrap() >= stale);

    // Restored: TokenVerified; and exactly one Warning over the whole story.
    s.github.classic(REVOKE, "gitops-bot", "repo");
    w.wait_for_all(&["verdict changed", "name=repo", "old=invalid", "new=ok"]);
    s.event("repo", "TokenVerified").await;
    let warnings: Vec<Value> = s
        .events("repo")
        .into_iter()
        .filter(|e| e["type"] == "Warning")
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0]["series"].is_null(), "written once, not repeated");
    stop(w);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_default_secrets_are_found_without_reading_any_other_secrets_data() {
    let s = Setup::new("watch:\n  userTokenNamespaces: [codefresh]\n").await;
    s.github.classic(SHORT, "alice", "read:user");
    let user = SecretBuilder::new("git-default-7f3a", "codefresh")
        .https("https://github.com/acme/app", "alice", SHORT)
        .build();
    // Another Secret, in the same namespace: a TLS key, and a last-applied annotation holding a copy.
    let other = SecretBuilder::new("webhook-tls", "codefresh")
        .data("tls.key", "-----BEGIN PRIVATE KEY-----")
        .annotation(
            "kubectl.kubernetes.io/last-applied-configuration",
            "{\"data\":{\"tls.key\":\"LS0t\"}}",
        )
        .build();
    // A git-default-* Secret outside userTokenNamespaces is not looked for.
    let elsewhere = SecretBuilder::new("git-default-9b1c", "team-a")
        .https("https://github.com/acme/app", "bob", SHORT)
        .build();
    s.kube.add(user);
    s.kube.add(other);
    s.kube.add(elsewhere);
    let w = s.watch_alone();
    w.wait_for_all(&[
        "verdict changed",
        "namespace=codefresh",
        "name=git-default-7f3a",
        "new=insufficient",
    ]);
    let e = s
        .kube
        .wait_for("events", "codefresh", WITHIN, |e| {
            e["regarding"]["name"] == "git-default-7f3a"
        })
        .await
        .unwrap();
    assert_eq!(e["reason"], "TokenInsufficient");
    assert!(e["note"].as_str().unwrap().contains("role user"), "{e}");
    stop(w);
    // What was read: full Secrets only by the label selector and by name for git-default-*; every
    // other read of Secrets was metadata-only.
    for r in s.kube.requests().iter().filter(|r| r.path.contains("/secrets")) {
        let metadata_only = r.accept.contains("as=PartialObjectMetadata");
        let labelled = r
            .query
            .get("labelSelector")
            .is_some_and(|l| l.contains("argocd.argoproj.io/secret-type"));
        let by_name = r.path.ends_with("/secrets/git-default-7f3a");
        assert!(metadata_only || labelled || by_name, "{r:?}");
        assert!(
            !r.path.contains("webhook-tls") && !r.path.contains("git-default-9b1c"),
            "{r:?}"
        );
        if metadata_only {
            assert!(
                r.path.starts_with("/api/v1/namespaces/codefresh/"),
                "only where user tokens are: {r:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_secrets_sharing_ten_tokens_cost_ten_introspections() {
    let s = Setup::new("").await;
    s.kube.set_page_size(500);
    s.kube.record_requests(false);
    let tokens: Vec<String> = (0..10)
        .map(|i| scopegate_testkit::github_token("ghp_", &format!("WatchShared{i:019}")))
        .collect();
    for t in &tokens {
        s.github.classic(t, "gitops-bot", "repo");
    }
    for i in 0..1000 {
        let name = format!("repo-{i:04}");
        s.kube.add(s.secret(&name, "repository", &tokens[i % 10]));
    }
    let w = s.watch_alone();
    w.wait_for_line("every watch has listed its Secrets");
    // Every one judged: the count of ok verdicts reaches 1000.
    for i in 0..1000 {
        w.wait_for_all(&["verdict changed", &format!("name=repo-{i:04} "), "new=ok"]);
    }
    let m = w.admin_get("/metrics");
    assert_eq!(sample(&m, "scopegate_watch_credentials{verdict=\"ok\"}"), Some(1000.0));
    assert_eq!(s.github.total_calls(), 10, "one introspection per distinct token");
    for t in &tokens {
        assert_eq!(s.github.calls(t), 1);
    }
    stop(w);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_resumes_after_a_cut_and_relists_after_410_missing_nothing() {
    let s = Setup::new("").await;
    s.github.classic(OK, "gitops-bot", "repo");
    s.github.classic(SHORT, "alice", "read:user");
    s.kube.add(s.secret("first", "repository", OK));
    let w = s.watch_alone();
    w.wait_for_all(&["verdict changed", "name=first", "new=ok"]);

    // The server ends every watch; a Secret created meanwhile is seen when the watch resumes from its
    // resourceVersion.
    s.kube.cut_watches();
    s.kube.add(s.secret("during-cut", "repository", SHORT));
    w.wait_for_all(&["verdict changed", "name=during-cut", "new=insufficient"]);

    // The history is compacted and the watches cut: resuming gets 410, the watcher lists again, and
    // sees what changed and what went.
    s.kube.compact();
    s.kube.cut_watches();
    s.kube.add(s.secret("first", "repository", SHORT));
    s.kube.delete("secrets", "argocd", "during-cut");
    w.wait_for_all(&["verdict changed", "name=first", "old=ok", "new=insufficient"]);
    w.wait_for_all(&["credential Secret gone", "name=during-cut"]);
    let relists = s
        .kube
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/secrets" && !r.query.contains_key("watch"))
        .count();
    assert!(
        relists >= 2,
        "the labelled watch listed again after the 410 ({relists} lists)"
    );
    stop(w);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_reports_are_kept_current_and_follow_the_crd_schema() {
    let s = Setup::new("watch:\n  policyReports: true\n  reportDebounce: 100ms\n").await;
    s.github.classic(OK, "gitops-bot", "repo");
    s.github.classic(SHORT, "alice", "read:user");
    s.kube.add(s.secret("good", "repository", OK));
    s.kube.add(s.secret("short", "repository", SHORT));
    // A report left from Secrets deleted while no watcher ran.
    s.kube.add(serde_json::json!({
        "apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
        "metadata": {"name": "scopegate", "namespace": "gone", "labels": {"app.kubernetes.io/managed-by": "scopegate"}},
        "results": [],
    }));
    let validator = policy_report_validator();
    let w = s.watch_alone();
    let report = s
        .kube
        .wait_for("policyreports", "argocd", WITHIN, |r| {
            r["results"].as_array().is_some_and(|a| a.len() == 2)
        })
        .await
        .expect("a report for argocd");
    assert!(validator.is_valid(&report), "{report:#}");
    assert_eq!(report["metadata"]["name"], "scopegate");
    assert_eq!(report["summary"]["fail"], 1);
    assert_eq!(report["summary"]["pass"], 1);
    let rule = |r: &Value| -> Vec<String> {
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["rule"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(rule(&report), ["token-scopes", "token-scopes"], "no coverage results");
    assert!(
        s.kube.wait_gone("policyreports", "gone", "scopegate", WITHIN).await,
        "the report left in a namespace without credential Secrets went"
    );

    // A verdict changes while the API server refuses report writes: the write is tried again, and
    // the report follows once it is accepted.
    s.kube.forbid("policyreports");
    s.kube.add(s.secret("short", "repository", OK));
    w.wait_for_all(&["writing the PolicyReport failed", "namespace=argocd", "retry_in=1s"]);
    s.kube.forbid_none();
    let report = s
        .kube
        .wait_for("policyreports", "argocd", WITHIN, |r| r["summary"]["pass"] == 2)
        .await
        .expect("the report follows the change");
    assert!(validator.is_valid(&report));
    // The namespace loses its credential Secrets: the report goes.
    s.kube.delete("secrets", "argocd", "good");
    s.kube.delete("secrets", "argocd", "short");
    w.wait_for_all(&["credential Secret gone", "name=short"]);
    w.wait_for_all(&["credential Secret gone", "name=good"]);
    assert!(
        s.kube.wait_gone("policyreports", "argocd", "scopegate", WITHIN).await,
        "the report of a namespace left without credential Secrets is deleted"
    );
    assert_no_token(
        "the reports",
        &serde_json::to_string(&s.kube.objects("policyreports", "argocd")).unwrap(),
    );
    stop(w);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_watchers_elect_one_leader_and_the_other_takes_over_when_it_dies() {
    let s = Setup::new("watch:\n  leaseDuration: 3s\n").await;
    s.github.classic(SHORT, "alice", "read:user");
    s.kube.add(s.secret("short", "repository", SHORT));
    let start = |name: &str| {
        Served::watch(
            &s.args(&[]),
            &[("RUST_LOG", "info"), ("POD_NAME", name), ("POD_NAMESPACE", "scopegate")],
        )
    };
    let a = start("watcher-a");
    let b = start("watcher-b");
    let lease = s
        .kube
        .wait_for("leases", "scopegate", WITHIN, |l| {
            l["spec"]["holderIdentity"].is_string()
        })
        .await
        .expect("a Lease with a holder");
    let leader = lease["spec"]["holderIdentity"].as_str().unwrap().to_owned();
    let (leading, following) = if leader == "watcher-a" { (a, b) } else { (b, a) };
    leading.wait_for_line("leading: judging every credential Secret");
    leading.wait_for_all(&["verdict changed", "name=short", "new=insufficient"]);
    s.event("short", "TokenInsufficient").await;
    following.wait_for_line("every watch has listed its Secrets");
    let (lm, fm) = (leading.admin_get("/metrics"), following.admin_get("/metrics"));
    assert_eq!(sample(&lm, "scopegate_watch_leader"), Some(1.0));
    assert_eq!(sample(&fm, "scopegate_watch_leader"), Some(0.0));
    assert!(lm.contains("scopegate_credential_verdict{"));
    assert!(
        !fm.contains("scopegate_credential_verdict{"),
        "a follower exports no per-Secret series"
    );
    let events = s.events("short");
    assert_eq!(events.len(), 1, "written once, by the leader: {events:?}");
    assert_eq!(events[0]["reportingInstance"], leader.as_str());
    assert_eq!(s.github.calls(SHORT), 1, "only the leader asks the provider");

    // The leader dies without a word: the other takes over once the Lease runs out.
    let Served { mut child, .. } = leading;
    child.kill().unwrap();
    let killed = std::time::Instant::now();
    let _ = child.wait();
    following.wait_for_line("leading: judging every credential Secret");
    // The Lease lasts 3 s from its last renewal (at most 3 s before the kill); kube-lease-manager then
    // waits up to 1 s before taking it. The margin covers the test machine's scheduling.
    assert!(
        killed.elapsed() < Duration::from_secs(3 + 1 + 2),
        "took over {:?} after the leader died",
        killed.elapsed()
    );
    following.wait_for_all(&["verdict changed", "name=short", "new=insufficient"]);
    let lease = s.kube.objects("leases", "scopegate");
    assert_no_token("the Lease", &serde_json::to_string(&lease).unwrap());

    // On SIGTERM the new leader releases the Lease.
    let survivor = following.child.id();
    stop(following);
    let released = s
        .kube
        .wait_for("leases", "scopegate", WITHIN, |l| l["spec"]["holderIdentity"].is_null())
        .await;
    assert!(released.is_some(), "watcher {survivor} released the Lease on SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_in_any_log_line_event_metric_report_or_lease() {
    let s = Setup::new("watch:\n  policyReports: true\n  reportDebounce: 100ms\n").await;
    s.github.classic(OK, "gitops-bot", "repo");
    s.github.set(REVOKE, TokenAnswer::Revoked);
    s.github.classic(SHORT, "alice", "read:user");
    s.kube.add(s.secret("ok", "repository", OK));
    s.kube.add(s.secret("revoked", "repository", REVOKE));
    s.kube.add(
        SecretBuilder::argocd("newline", "repository")
            .https("https://github.com/acme/app", "git", &format!("{SHORT}\n"))
            .annotation(
                "kubectl.kubernetes.io/last-applied-configuration",
                &format!("{{\"stringData\":{{\"password\":\"{ROTATED}\"}}}}"),
            )
            .build(),
    );
    let w = Served::watch(
        &s.args(&[]),
        &[
            ("RUST_LOG", "trace"),
            ("POD_NAME", "leak-check"),
            ("POD_NAMESPACE", "scopegate"),
        ],
    );
    w.wait_for_all(&["verdict changed", "name=revoked", "new=invalid"]);
    w.wait_for_all(&["verdict changed", "name=newline", "new=invalid"]);
    s.event("revoked", "TokenInvalid").await;
    s.event("newline", "TokenInvalid").await;
    s.kube
        .wait_for("policyreports", "argocd", WITHIN, |r| {
            r["results"].as_array().is_some_and(|a| a.len() == 3)
        })
        .await
        .expect("the report");
    let metrics = w.admin_get("/metrics");
    let logs = stop(w);
    assert!(logs.contains("TRACE"), "trace logging was on");
    let b64 = |t: &str| scopegate_testkit::secret::b64(t);
    for (what, text) in [
        ("the logs", logs),
        ("the metrics", metrics),
        (
            "the Events",
            serde_json::to_string(&s.kube.objects("events", "argocd")).unwrap(),
        ),
        (
            "the reports",
            serde_json::to_string(&s.kube.objects("policyreports", "argocd")).unwrap(),
        ),
        (
            "the Lease",
            serde_json::to_string(&s.kube.objects("leases", "scopegate")).unwrap(),
        ),
    ] {
        assert_no_token(what, &text);
        for t in ALL_TOKENS {
            assert!(!text.contains(&b64(t)), "a base64 token in {what}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitea_and_azure_devops_credentials_are_watched_like_the_others() {
    use scopegate_testkit::standin::{AzureDevops, AzurePat, Gitea, GiteaRepo, GiteaToken};
    let s = Setup::new("").await;
    let providers = MockServer::start().await;
    let gitea_token = "5c09e0de0000000000000000000000000000b001";
    let pat = "watchazurepat000000000000000000000000000000000000001";
    let forgejo = Gitea::with_prefix(&providers, "/forgejo");
    forgejo
        .token(GiteaToken {
            token: gitea_token,
            login: "gitops-bot",
            scopes: &["write:repository", "read:user"],
            repos: &[GiteaRepo {
                full_name: "platform/gitops",
                pull: true,
                push: true,
                admin: false,
            }],
            list_readable: false,
            limited_to: None,
        })
        .await;
    forgejo.reject_others().await;
    let azure = AzureDevops::with_prefix(&providers, "/azure");
    azure
        .pat(AzurePat {
            pat,
            org: "acme",
            account: "gitops-bot@acme.example",
            scopes: &["vso.work"],
            repos: &[("Platform/apps", false)],
            expired: false,
        })
        .await;
    azure.reject_others().await;
    std::fs::write(
        s.dir.path().join("config.yaml"),
        format!(
            "providers:\n  - kind: gitea\n    host: code.corp\n    apiUrl: {u}/forgejo/api/v1\n    gitUrl: {u}/forgejo\n  - kind: azure-devops\n    host: dev.azure.com\n    apiUrl: {u}/azure\n    gitUrl: {u}/azure\n",
            u = providers.uri()
        ),
    )
    .unwrap();
    s.kube.add(
        SecretBuilder::argocd("forgejo-push", "repository-write")
            .https("https://code.corp/platform/gitops.git", "argocd", gitea_token)
            .build(),
    );
    s.kube.add(
        SecretBuilder::argocd("azure-read", "repository")
            .https("https://dev.azure.com/acme/Platform/_git/apps", "argocd", pat)
            .build(),
    );
    let w = s.watch_alone();
    w.wait_for_all(&["verdict changed", "name=forgejo-push", "new=ok"]);
    w.wait_for_all(&["verdict changed", "name=azure-read", "new=insufficient"]);
    let warning = s.event("azure-read", "TokenInsufficient").await;
    assert!(
        warning["note"].as_str().unwrap().contains("lacks Code (Read)"),
        "{warning}"
    );
    let m = w.admin_get("/metrics");
    assert!(
        m.contains(
            "name=\"forgejo-push\",verdict=\"ok\",provider=\"gitea\",token_kind=\"access-token\",role=\"write\"} 1"
        ),
        "{m}"
    );
    assert!(
        m.contains(
            "name=\"azure-read\",verdict=\"insufficient\",provider=\"azure-devops\",token_kind=\"personal\",role=\"read\"} 1"
        ),
        "{m}"
    );
    let logs = stop(w);
    assert!(
        !logs.contains(gitea_token) && !logs.contains(pat),
        "a token in the logs"
    );
}
