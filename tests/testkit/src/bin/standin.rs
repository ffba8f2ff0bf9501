//! `scopegate-standin`: the demo's stand-in for GitHub, GitLab and Bitbucket Cloud on one loopback port
//! (`/github`, `/gitlab/api/v4`, `/bitbucket/2.0`), knowing the tokens in examples/. A test double: it
//! is never part of the scopegate binary.

use std::net::TcpListener;

use scopegate_testkit::examples::mount_examples;
use wiremock::MockServer;

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
