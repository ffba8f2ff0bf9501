//! `scopegate-standin`: the demo's stand-in for GitHub, GitLab and Bitbucket Cloud on one loopback port
//! (`/github`, `/gitlab/api/v4`, `/bitbucket/2.0`), knowing the tokens in examples/; with `--kube
//! KUBECONFIG SECRETS_DIR`, also a stand-in Kubernetes API holding those Secrets, and a kubeconfig for
//! it. It prints every Event written to that API. On SIGUSR1 GitHub "revokes" the runtime token of
//! examples/secrets/01 (it answers 401 Bad credentials from then on). A test double: it is never part
//! of the scopegate binary.
//!
//! Usage: scopegate-standin [ADDR] [--kube KUBECONFIG SECRETS_DIR]

use std::net::TcpListener;

use anyhow::Context;
use scopegate_testkit::examples::{RUNTIME_TOKEN, mount_examples, populate_cluster};
use scopegate_testkit::kube_api::FakeKube;
use scopegate_testkit::standin::{Github, bearer};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer};

/// Print the Events written to the stand-in cluster, one line each.
async fn print_events(cluster: FakeKube) {
    let mut changes = cluster.changes();
    while let Ok(c) = changes.recv().await {
        if c.plural != "events" || c.kind != "ADDED" {
            continue;
        }
        let e = &c.object;
        eprintln!(
            "scopegate-standin: Event {} {} on {} {}/{}: {}",
            e["type"].as_str().unwrap_or_default(),
            e["reason"].as_str().unwrap_or_default(),
            e["regarding"]["kind"].as_str().unwrap_or_default(),
            e["regarding"]["namespace"].as_str().unwrap_or_default(),
            e["regarding"]["name"].as_str().unwrap_or_default(),
            e["note"].as_str().unwrap_or_default(),
        );
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:18480".to_owned();
    let mut kube: Option<(String, String)> = None;
    while let Some(a) = args.next() {
        if a == "--kube" {
            let config = args.next().context("--kube needs KUBECONFIG SECRETS_DIR")?;
            let dir = args.next().context("--kube needs KUBECONFIG SECRETS_DIR")?;
            kube = Some((config, dir));
        } else {
            addr = a;
        }
    }
    let listener = TcpListener::bind(&addr).map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let server = MockServer::builder().listener(listener).start().await;
    mount_examples(&server).await;
    eprintln!(
        "scopegate-standin: GitHub, GitLab and Bitbucket Cloud stand-ins on {}",
        server.uri()
    );
    let _cluster = match kube {
        None => None,
        Some((config, dir)) => {
            let cluster = FakeKube::start().await?;
            let n = populate_cluster(&cluster, std::path::Path::new(&dir))?;
            tokio::spawn(print_events(cluster.clone()));
            // Written whole, then renamed: whoever waits for the file never reads half of it.
            let partial = format!("{config}.partial");
            std::fs::write(&partial, cluster.kubeconfig("argocd"))?;
            std::fs::rename(&partial, &config)?;
            eprintln!(
                "scopegate-standin: a Kubernetes API stand-in on {} holding {n} Secrets (kubeconfig {config})",
                cluster.addr
            );
            Some(cluster)
        }
    };
    let mut revoke = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            Some(()) = revoke.recv() => {
                Mock::given(method("GET"))
                    .and(path("/github/user"))
                    .and(header("authorization", bearer(RUNTIME_TOKEN).as_str()))
                    .respond_with(Github::bad_credentials_answer())
                    .with_priority(1)
                    .mount(&server)
                    .await;
                eprintln!("scopegate-standin: GitHub revoked the runtime token of codefresh/runtime-repo-creds-secret");
            }
        }
    }
}
