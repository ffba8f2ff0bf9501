//! `scopegate-standin`: the demo's stand-in for GitHub, GitLab and Bitbucket Cloud on one loopback port
//! (`/github`, `/gitlab/api/v4`, `/bitbucket/2.0`), knowing the tokens in examples/. A test double: it
//! is never part of the scopegate binary.

use std::net::TcpListener;

use scopegate_testkit::standin::{BitbucketCloud, BitbucketServer, Github, Gitlab, RepoGrant, RepoPermission, bearer};
use wiremock::MockServer;

/// The example tokens and what each provider says about them.
async fn mount_examples(server: &MockServer) {
    let gh = Github::with_prefix(server, "/github");
    gh.classic(
        "ghp_DemoRuntimeTokenWithAllScopes00000001",
        "gitops-bot",
        "admin:repo_hook, repo, read:org",
        Some("2027-06-30 12:00:00 UTC"),
    )
    .await;
    gh.classic(
        "ghp_DemoReadOnlyTokenMissingHookScope0002",
        "alice",
        "repo, user",
        Some("2027-01-15 09:30:00 +0100"),
    )
    .await;
    let fine = "github_pat_11DEMO0000000000000000_FineGrainedDemoToken000000000000000000000000000000000000003";
    gh.fine_grained(fine, "alice", "2027-03-31 00:00:00 +0900").await;
    let mut guestbook = RepoGrant::all("acme", "guestbook");
    guestbook.administration = scopegate_testkit::standin::Level::None;
    guestbook.webhooks = scopegate_testkit::standin::Level::None;
    gh.fine_grained_repo(fine, "/github-git", &guestbook).await;
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18480".into());
    let listener = TcpListener::bind(&addr).map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let server = MockServer::builder().listener(listener).start().await;
    mount_examples(&server).await;
    eprintln!(
        "scopegate-standin: GitHub, GitLab and Bitbucket Cloud stand-ins on {}",
        server.uri()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
