//! `scopegate-demo`: send each example Secret to a running scopegate as the API server would (an
//! `admission.k8s.io/v1` AdmissionReview over HTTPS, to `/mutate` and then `/validate`), and print
//! what a person applying it would see.
//!
//! Usage: scopegate-demo [--server https://127.0.0.1:18443] [--ca certs/ca.crt] [--standin 127.0.0.1:18480] DIR|FILE…

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use scopegate_testkit::review::ReviewBuilder;
use scopegate_testkit::secret::admitted;
use serde_json::Value;

struct Args {
    server: String,
    ca: PathBuf,
    standin: Option<String>,
    inputs: Vec<PathBuf>,
}

fn args() -> Result<Args> {
    let mut a = Args {
        server: "https://127.0.0.1:18443".into(),
        ca: "certs/ca.crt".into(),
        standin: None,
        inputs: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--server" => a.server = it.next().context("--server needs a value")?,
            "--ca" => a.ca = it.next().context("--ca needs a value")?.into(),
            "--standin" => a.standin = Some(it.next().context("--standin needs a value")?),
            other if other.starts_with("--") => bail!("unknown flag {other}"),
            path => a.inputs.push(path.into()),
        }
    }
    if a.inputs.is_empty() {
        a.inputs.push("examples/secrets".into());
    }
    Ok(a)
}

fn files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")))
                .collect();
            v.sort();
            out.extend(v);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

async fn wait_until_ready(client: &reqwest::Client, server: &str, standin: Option<&str>) -> Result<()> {
    for _ in 0..100 {
        let up = client
            .get(format!("{server}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        let standin_up = match standin {
            None => true,
            Some(addr) => tokio::net::TcpStream::connect(addr).await.is_ok(),
        };
        if up && standin_up {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("scopegate at {server} did not become ready within 10s")
}

fn tty() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}

fn bold(s: &str) -> String {
    if tty() {
        format!("\x1b[1m{s}\x1b[0m")
    } else {
        s.to_owned()
    }
}

fn colour(ok: bool, s: &str) -> String {
    match (tty(), ok) {
        (false, _) => s.to_owned(),
        (true, true) => format!("\x1b[32m{s}\x1b[0m"),
        (true, false) => format!("\x1b[31m{s}\x1b[0m"),
    }
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> Result<Value> {
    let r = client
        .post(url)
        .json(body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = r.status();
    let v: Value = r.json().await?;
    if !status.is_success() {
        bail!("{url} answered HTTP {status}: {v}");
    }
    Ok(v["response"].clone())
}

fn patched(object: &Value, response: &Value) -> Result<Value> {
    let mut obj = object.clone();
    if let Some(p) = response["patch"].as_str() {
        let bytes = base64::engine::general_purpose::STANDARD.decode(p)?;
        let patch: json_patch::Patch = serde_json::from_slice(&bytes)?;
        json_patch::patch(&mut obj, &patch)?;
    }
    Ok(obj)
}

async fn show(client: &reqwest::Client, server: &str, path: &Path) -> Result<()> {
    let text = std::fs::read_to_string(path)?;
    let secret: Value = serde_norway::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let secret = admitted(secret);
    let ns = secret["metadata"]["namespace"].as_str().unwrap_or("default");
    let name = secret["metadata"]["name"].as_str().unwrap_or("?");
    println!("\n{} {}  ({ns}/{name})", bold("──"), bold(&path.display().to_string()));
    let review = ReviewBuilder::create(secret).user("jane@acme.example", &["system:authenticated"]);
    let body = review.build();
    let mutated = post(client, &format!("{server}/mutate?timeout=10s"), &body).await?;
    let object = patched(&body["request"]["object"], &mutated)?;
    // The validating webhook sees the object after mutation, as in the API server.
    let mut body = body;
    body["request"]["object"] = object.clone();
    let validated = post(client, &format!("{server}/validate?timeout=10s"), &body).await?;
    if validated["allowed"].as_bool() == Some(true) {
        println!("   {}", colour(true, "ADMITTED"));
    } else {
        println!(
            "   {} (HTTP {}): {}",
            colour(false, "DENIED"),
            validated["status"]["code"],
            validated["status"]["message"].as_str().unwrap_or_default()
        );
    }
    for w in validated["warnings"].as_array().into_iter().flatten() {
        println!("   warning: {}", w.as_str().unwrap_or_default());
    }
    if let Some(a) = object["metadata"]["annotations"].as_object() {
        for (k, v) in a.iter().filter(|(k, _)| k.starts_with("scopegate.dev/")) {
            println!("   {k}: {}", v.as_str().unwrap_or_default());
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = args()?;
    let ca = std::fs::read(&a.ca).with_context(|| format!("reading {}", a.ca.display()))?;
    let client = scopegate_testkit::https_client(&ca)?;
    wait_until_ready(&client, &a.server, a.standin.as_deref()).await?;
    for f in files(&a.inputs)? {
        show(&client, &a.server, &f).await?;
    }
    println!();
    Ok(())
}
