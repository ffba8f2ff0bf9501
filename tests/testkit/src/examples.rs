//! The demo's stand-in answers: what each provider says about the tokens in `examples/secrets/`, on one
//! loopback server (`/github`, `/github-git`, `/gitlab/api/v4`, `/bitbucket/2.0`, `/bitbucket-dc`,
//! `/forgejo`, `/azure`) —
//! for `make demo` (scopegate-standin) and for tests that use the examples; and a cluster holding
//! those Secrets and a few Applications, for `scopegate audit` in the demo.

use serde_json::json;
use wiremock::MockServer;

use crate::kube_api::FakeKube;
use crate::secret::{admitted, yaml_documents};
use crate::standin::{
    AzureDevops, AzurePat, BitbucketCloud, BitbucketServer, Gitea, GiteaRepo, GiteaToken, Github, Gitlab, Level,
    RepoGrant, RepoPermission, bearer,
};

/// The provider entries of a scopegate configuration pointing at `server` as the examples' stand-in.
pub fn providers_yaml(server: &MockServer) -> String {
    let u = server.uri();
    format!(
        "providers:\n  - kind: github\n    host: github.com\n    apiUrl: {u}/github\n    gitUrl: {u}/github-git\n  - kind: gitlab\n    host: gitlab.com\n    apiUrl: {u}/gitlab/api/v4\n  - kind: bitbucket-cloud\n    host: bitbucket.org\n    apiUrl: {u}/bitbucket/2.0\n  - kind: bitbucket-server\n    host: bitbucket.internal.example\n    apiUrl: {u}/bitbucket-dc/rest/api/1.0\n    gitUrl: {u}/bitbucket-dc\n  - kind: gitea\n    host: code.internal.example\n    apiUrl: {u}/forgejo/api/v1\n    gitUrl: {u}/forgejo\n  - kind: azure-devops\n    host: dev.azure.com\n    apiUrl: {u}/azure\n    gitUrl: {u}/azure\n"
    )
}

/// The token of examples/secrets/01 (the runtime token, with every scope it needs).
pub const RUNTIME_TOKEN: &str = "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";

/// The token of examples/secrets/14 (a fine-grained runtime token with every permission it needs).
pub const FINE_RUNTIME_TOKEN: &str =
    "github_pat_11DEMO0000000000000000_FineGrainedRuntimeToken000000000000000000000000000000000014";
/// The token of examples/secrets/15 (a fine-grained runtime token whose Webhooks permission is read-only).
pub const FINE_RUNTIME_NO_HOOKS_TOKEN: &str =
    "github_pat_11DEMO0000000000000000_FineGrainedRuntimeNoHooks0000000000000000000000000000000015";

/// The example tokens and what each provider says about them.
pub async fn mount_examples(server: &MockServer) {
    let gh = Github::with_prefix(server, "/github");
    gh.classic(
        "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",
        "gitops-bot",
        "admin:repo_hook, repo, read:org",
        Some("2027-06-30 12:00:00 UTC"),
    )
    .await;
    gh.classic(
        "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",
        "alice",
        "repo, user",
        Some("2027-01-15 09:30:00 +0100"),
    )
    .await;
    let fine = "github_pat_11DEMO0000000000000000_FineGrainedDemoToken000000000000000000000000000000000000003";
    gh.fine_grained(fine, "alice", "2027-03-31 00:00:00 +0900").await;
    let mut guestbook = RepoGrant::all("acme", "guestbook");
    guestbook.administration = crate::standin::Level::None;
    guestbook.webhooks = crate::standin::Level::None;
    gh.fine_grained_repo(fine, "/github-git", &guestbook).await;
    // The fine-grained runtime tokens (examples 14 and 15), on the Shared Configuration Repository:
    // one with the four permissions the seed asks for, one whose Webhooks permission is read-only.
    gh.fine_grained(FINE_RUNTIME_TOKEN, "gitops-bot", "2027-05-31 00:00:00 +0000")
        .await;
    let mut isc = RepoGrant::all("acme", "codefresh-isc");
    isc.has_ruleset = false;
    gh.fine_grained_repo(FINE_RUNTIME_TOKEN, "/github-git", &isc).await;
    gh.fine_grained(FINE_RUNTIME_NO_HOOKS_TOKEN, "gitops-bot", "2027-05-31 00:00:00 +0000")
        .await;
    isc.webhooks = Level::Read;
    gh.fine_grained_repo(FINE_RUNTIME_NO_HOOKS_TOKEN, "/github-git", &isc)
        .await;
    // What the runtime token reaches over Git: the Shared Configuration Repository (push) and the
    // apps repository; not acme/retired, which no longer exists.
    let runtime = "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";
    gh.git_repository("/github-git", runtime, "acme/codefresh-isc", Level::Write)
        .await;
    gh.git_repository("/github-git", runtime, "acme/apps", Level::Read)
        .await;
    gh.reject_others().await;
    let gl = Gitlab::with_prefix(server, "/gitlab/api/v4");
    gl.token(
        "glpat-DemoUserToken0000004",
        &["read_repository", "read_api"],
        Some("2027-08-15"),
    )
    .await;
    gl.reject_others().await;
    let bb = BitbucketCloud::with_prefix(server, "/bitbucket/2.0");
    bb.access_token(
        "ATCTT3xFfGN0DemoRepoAccessToken0000005",
        "repository:write",
        "repo_access_token",
    )
    .await;
    bb.reject_others().await;
    let dc = BitbucketServer {
        server,
        prefix: "/bitbucket-dc/rest/api/1.0".into(),
        git_prefix: "/bitbucket-dc/scm".into(),
    };
    dc.token(
        &bearer("BBDC-DemoProjectTokenWithWrite000000000000007"),
        "platform-bot",
        "PLAT",
        "gitops",
        RepoPermission::Write,
    )
    .await;
    let forgejo = Gitea::with_prefix(server, "/forgejo");
    forgejo
        .token(GiteaToken {
            token: "5c09e0de0000000000000000000000000000f012",
            login: "platform-bot",
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
    let azure = AzureDevops::with_prefix(server, "/azure");
    azure
        .pat(AzurePat {
            pat: "demoazurepat00000000000000000000000000000000000013",
            org: "acme",
            account: "gitops-bot@acme.example",
            scopes: &["vso.code"],
            repos: &[("Platform/apps", false)],
            expired: false,
        })
        .await;
    azure.reject_others().await;
}

/// Load the example Secrets (every document of every `.yaml` file in `dir`, as the API server stores
/// them) into `kube`, with Applications of the `codefresh` runtime that sync through its template.
pub fn populate_cluster(kube: &FakeKube, dir: &std::path::Path) -> anyhow::Result<usize> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut n = 0;
    for f in files {
        for doc in yaml_documents(&std::fs::read_to_string(&f)?)? {
            if doc["kind"] == "Secret" {
                kube.add(admitted(doc));
                n += 1;
            }
        }
    }
    for (name, repo) in [
        ("apps", "https://github.com/acme/apps.git"),
        ("retired", "https://github.com/acme/retired"),
    ] {
        kube.add(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "codefresh"},
            "spec": {"project": "default", "source": {"repoURL": repo, "path": ".", "targetRevision": "HEAD"},
                     "destination": {"server": "https://kubernetes.default.svc", "namespace": name}}
        }));
    }
    Ok(n)
}
