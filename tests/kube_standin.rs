//! The Kubernetes API stand-in (`tests/testkit/src/kube_api.rs`) checked with a real client, kubectl:
//! discovery, lists with selectors, watches from a resourceVersion with bookmarks, 410 Gone after
//! compaction, create conflicts, stale updates, server-side apply conflicts between field managers,
//! and Events read back through the `v1` API as `kubectl get events` (and `kubectl events`) read them.

use std::process::Command;

use scopegate_testkit::kube_api::FakeKube;
use serde_json::{Value, json};

struct Kubectl {
    kubeconfig: tempfile::NamedTempFile,
}

impl Kubectl {
    fn new(kube: &FakeKube) -> Self {
        let kubeconfig = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(kubeconfig.path(), kube.kubeconfig("argocd")).unwrap();
        Self { kubeconfig }
    }

    /// Run kubectl off the async runtime (the stand-in answers on it); (exit ok, stdout, stderr).
    async fn run(&self, args: &[&str], stdin: Option<String>) -> (bool, String, String) {
        let path = self.kubeconfig.path().to_owned();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            use std::io::Write as _;
            let mut child = Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(&path)
                .args(&args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("kubectl not found: install it, or Debian's kubernetes-client package (.ci/run does)");
            let mut input = child.stdin.take().unwrap();
            if let Some(text) = stdin {
                input.write_all(text.as_bytes()).unwrap();
            }
            drop(input);
            let out = child.wait_with_output().unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
        .await
        .unwrap()
    }

    async fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args, None).await;
        assert!(ok, "kubectl {args:?} failed: {err}");
        out
    }

    /// kubectl's minor version.
    async fn minor(&self) -> u32 {
        let out = self.ok(&["version", "--client", "-o", "json"]).await;
        let v: Value = serde_json::from_str(&out).unwrap();
        v["clientVersion"]["minor"]
            .as_str()
            .and_then(|m| m.trim_end_matches('+').parse().ok())
            .unwrap_or(0)
    }
}

fn secret(name: &str, secret_type: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": "argocd", "labels": {"argocd.argoproj.io/secret-type": secret_type}},
        "data": {"url": "aHR0cHM6Ly9naXRodWIuY29tL2FjbWUvYXBw"},
    })
}

fn lines(out: &str) -> Vec<Value> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_lists_watches_and_writes_as_against_a_real_api_server() {
    let kube = FakeKube::start().await.unwrap();
    let k = Kubectl::new(&kube);
    kube.add(secret("pull", "repository"));
    kube.add(secret("cluster", "cluster"));

    // Discovery, a label selector, across namespaces.
    let out = k
        .ok(&[
            "get",
            "secrets",
            "-A",
            "-l",
            "argocd.argoproj.io/secret-type in (repository,repo-creds)",
            "-o",
            "json",
        ])
        .await;
    let list: Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pull"]);
    let rv: u64 = serde_json::from_str::<Value>(&k.ok(&["get", "--raw", "/api/v1/namespaces/argocd/secrets"]).await)
        .unwrap()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // A watch from that resourceVersion sees what changed since, with bookmarks; the stream ends at
    // timeoutSeconds.
    kube.add(secret("push", "repository-write"));
    kube.delete("secrets", "argocd", "pull");
    let watch = format!(
        "/api/v1/namespaces/argocd/secrets?watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=1&labelSelector=argocd.argoproj.io%2Fsecret-type"
    );
    let events = lines(&k.ok(&["get", "--raw", &watch]).await);
    let seen: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap(),
                e["object"]["metadata"]["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(&seen[..2], [("ADDED", "push"), ("DELETED", "pull")], "{events:?}");
    assert!(seen.iter().any(|(t, _)| *t == "BOOKMARK"), "{events:?}");

    // After compaction that resourceVersion is gone: 410 Expired, in the stream.
    kube.compact();
    let events = lines(&k.ok(&["get", "--raw", &watch]).await);
    assert_eq!(events[0]["type"], "ERROR");
    assert_eq!(events[0]["object"]["code"], 410);
    assert_eq!(events[0]["object"]["reason"], "Expired");

    // Leases: create, conflict on create, stale replace, server-side apply conflicts between managers.
    let lease = |holder: &str| {
        format!(
            "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: scopegate-watch\n  namespace: argocd\nspec:\n  holderIdentity: {holder}\n  leaseDurationSeconds: 15\n"
        )
    };
    let (ok, _, err) = k
        .run(&["create", "--validate=false", "-f", "-"], Some(lease("a")))
        .await;
    assert!(ok, "{err}");
    let (ok, _, err) = k
        .run(&["create", "--validate=false", "-f", "-"], Some(lease("a")))
        .await;
    assert!(!ok && err.contains("AlreadyExists"), "{err}");
    let current: Value = serde_json::from_str(
        &k.ok(&["get", "lease", "scopegate-watch", "-n", "argocd", "-o", "json"])
            .await,
    )
    .unwrap();
    let mut stale = current.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    stale["spec"]["holderIdentity"] = json!("b");
    let (ok, _, err) = k
        .run(&["replace", "--validate=false", "-f", "-"], Some(stale.to_string()))
        .await;
    assert!(!ok && err.contains("the object has been modified"), "{err}");
    let (ok, _, err) = k
        .run(
            &[
                "apply",
                "--server-side",
                "--field-manager=one",
                "--validate=false",
                "-f",
                "-",
            ],
            Some(lease("one")),
        )
        .await;
    assert!(ok, "{err}");
    let (ok, _, err) = k
        .run(
            &[
                "apply",
                "--server-side",
                "--field-manager=two",
                "--validate=false",
                "-f",
                "-",
            ],
            Some(lease("two")),
        )
        .await;
    assert!(!ok && err.contains("conflict"), "another manager's field: {err}");
    let (ok, _, err) = k
        .run(
            &[
                "apply",
                "--server-side",
                "--field-manager=two",
                "--force-conflicts",
                "--validate=false",
                "-f",
                "-",
            ],
            Some(lease("two")),
        )
        .await;
    assert!(ok, "{err}");
    assert!(
        k.ok(&["get", "lease", "-n", "argocd"])
            .await
            .contains("scopegate-watch")
    );

    // An events.k8s.io Event, read back through v1 as kubectl reads it.
    let event = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "push.1", "namespace": "argocd"},
        "regarding": {"apiVersion": "v1", "kind": "Secret", "name": "push", "namespace": "argocd"},
        "reason": "TokenInsufficient", "note": "lacks contents:write", "type": "Warning", "action": "Judged",
        "eventTime": "2026-12-01T10:00:00.000000Z", "reportingController": "scopegate.dev/watch",
        "reportingInstance": "scopegate-watch-0",
    });
    let (ok, _, err) = k
        .run(&["create", "--validate=false", "-f", "-"], Some(event.to_string()))
        .await;
    assert!(ok, "{err}");
    let out = k
        .ok(&[
            "get",
            "events.v1.",
            "-n",
            "argocd",
            "--field-selector",
            "involvedObject.kind=Secret,involvedObject.name=push",
            "-o",
            "json",
        ])
        .await;
    let list: Value = serde_json::from_str(&out).unwrap();
    let e = &list["items"][0];
    assert_eq!(
        (e["reason"].as_str(), e["message"].as_str(), e["type"].as_str()),
        (Some("TokenInsufficient"), Some("lacks contents:write"), Some("Warning")),
        "{out}"
    );
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    if k.minor().await >= 26 {
        let out = k.ok(&["events", "--for", "secret/push", "-n", "argocd"]).await;
        assert!(
            out.contains("TokenInsufficient") && out.contains("lacks contents:write"),
            "{out}"
        );
    }
}
