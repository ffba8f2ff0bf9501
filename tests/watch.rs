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

const OK: &str = "ghp_WatchOkToken000000000000000000000001";
const SHORT: &str = "ghp_WatchShortToken00000000000000000002";
const ROTATED: &str = "ghp_WatchRotatedToken000000000000000003";
const REVOKE: &str = "ghp_WatchRevokeToken0000000000000000004";
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
