//! `scopegate-bench` (`make bench`): load against `scopegate serve` over TLS with keep-alive, and, in the
//! same run, against a bare rustls + axum endpoint that only parses the AdmissionReview and answers
//! `allowed: true` — the limit of this stack on this machine.
//!
//! (a) cached verdicts, (b) the bare endpoint, and a/b; (c) uncached tokens against a stand-in provider
//! with 50 ms latency; (d) peak RSS with 100 000 cached grants; (f) one judgement of a fine-grained
//! runtime token with three repositories to probe against one of a classic token, one at a time, the
//! provider 50 ms away; (e) `scopegate watch`.
//!
//! Usage: scopegate-bench [--scopegate target/release/scopegate] [--seconds 10] [--connections 32]
//!        scopegate-bench bare --listen ADDR --cert FILE --key FILE   (the bare endpoint, as a process)
//!        scopegate-bench review-body   (the cached run's AdmissionReview, on stdout)

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use scopegate_testkit::procs::{Proc, scopegate_certs, serve, status_kib, tempfile_dir, wait_ready};
use scopegate_testkit::review::ReviewBuilder;
use scopegate_testkit::secret::SecretBuilder;
use scopegate_testkit::standin::Github;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

struct Args {
    scopegate: PathBuf,
    seconds: u64,
    connections: usize,
    grants: usize,
    /// Run one part only: `webhook` (a–d, f), `cached` (a and b only), `watch` (e) or `doors` (g).
    only: Option<String>,
}

fn args() -> Result<Args> {
    let mut a = Args {
        scopegate: "target/release/scopegate".into(),
        seconds: 10,
        connections: 32,
        grants: 100_000,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().context("a flag needs a value");
        match arg.as_str() {
            "--scopegate" => a.scopegate = value()?.into(),
            "--seconds" => a.seconds = value()?.parse()?,
            "--connections" => a.connections = value()?.parse()?,
            "--grants" => a.grants = value()?.parse()?,
            "--only" => a.only = Some(value()?),
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(a)
}

/// CPU time (user + system) a process has used, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let ticks = 100.0; // USER_HZ on Linux
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name (which is in parentheses and may contain spaces).
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) / ticks)
        })
        .unwrap_or(0.0)
}

/// The HTTP version a load speaks, and its shape: HTTP/1.1 with one request in flight per connection,
/// or HTTP/2 (negotiated by ALPN, as the API server does) with several streams per connection, as
/// h2load sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2 { streams: usize },
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::Http1 => "HTTP/1.1",
            Protocol::Http2 { .. } => "HTTP/2",
        }
    }
}

fn client(ca: &[u8]) -> Result<reqwest::Client> {
    client_for(ca, Protocol::Http1)
}

fn client_for(ca: &[u8], protocol: Protocol) -> Result<reqwest::Client> {
    scopegate_testkit::install_crypto_provider();
    let b = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca)?])
        .pool_max_idle_per_host(1);
    Ok(match protocol {
        Protocol::Http1 => b.http1_only(),
        // Over TLS this offers only `h2` by ALPN: one connection, its streams multiplexed.
        Protocol::Http2 { .. } => b.http2_prior_knowledge(),
    }
    .build()?)
}

#[derive(Debug, Default)]
struct Run {
    requests: usize,
    errors: usize,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Per-round throughputs, for the median.
    rounds: Vec<f64>,
    latencies: Vec<Duration>,
    seconds: f64,
}

/// Cached reviews against the bare endpoint over one protocol, in alternating rounds: each side's load
/// and the CPU its server (and the load generator) used.
#[derive(Debug)]
struct Compared {
    protocol: Protocol,
    connections: usize,
    cached: Run,
    bare: Run,
    cached_cpu: f64,
    bare_cpu: f64,
    cached_client_cpu: f64,
    bare_client_cpu: f64,
}

impl Default for Compared {
    fn default() -> Self {
        Self {
            protocol: Protocol::Http1,
            connections: 0,
            cached: Run::default(),
            bare: Run::default(),
            cached_cpu: 0.0,
            bare_cpu: 0.0,
            cached_client_cpu: 0.0,
            bare_client_cpu: 0.0,
        }
    }
}

impl Compared {
    fn shape(&self) -> String {
        match self.protocol {
            Protocol::Http1 => format!("{} connections", self.connections),
            Protocol::Http2 { streams } => format!("{} connections x {streams} streams", self.connections),
        }
    }
}

/// a/b over each protocol, against the targets.
fn print_ratios(compared: &[Compared], rounds: u64) {
    for c in compared {
        let throughput = c.cached.rps / c.bare.rps;
        let median = c.cached.median_rps() / c.bare.median_rps();
        let cpu = (c.cached_cpu / c.cached.requests.max(1) as f64) / (c.bare_cpu / c.bare.requests.max(1) as f64);
        let p99 = c.cached.p99_ms / c.bare.p99_ms;
        let want = match c.protocol {
            Protocol::Http1 => 0.85,
            Protocol::Http2 { .. } => 0.95,
        };
        let verdict = |met: bool| if met { "met" } else { "NOT met" };
        println!(
            "{} ({}), a/b over {rounds} alternating rounds: throughput {throughput:.3} ({median:.3} of the per-round medians; target >= {want}: {}); server CPU per review {cpu:.3}x (target <= 1.25: {}); p99 {p99:.3}x (target <= 1.2: {}); load generator CPU per review: scopegate {:.1} us, bare {:.1} us",
            c.protocol.name(),
            c.shape(),
            verdict(throughput >= want),
            verdict(cpu <= 1.25),
            verdict(p99 <= 1.2),
            c.cached_client_cpu / c.cached.requests.max(1) as f64 * 1e6,
            c.bare_client_cpu / c.bare.requests.max(1) as f64 * 1e6,
        );
    }
}

/// The `p` quantile of sorted latencies, in milliseconds.
fn quantile_ms(sorted: &[Duration], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(f64::NAN)
}

impl Run {
    fn from_latencies(mut latencies: Vec<Duration>, errors: usize, seconds: f64) -> Run {
        latencies.sort();
        Run {
            requests: latencies.len(),
            errors,
            rps: latencies.len() as f64 / seconds,
            p50_ms: quantile_ms(&latencies, 0.50),
            p99_ms: quantile_ms(&latencies, 0.99),
            rounds: Vec::new(),
            latencies,
            seconds,
        }
    }

    /// Fold another round into this one.
    fn merge(&mut self, other: Run) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.seconds += other.seconds;
        self.rounds.push(other.rps);
        self.latencies.extend(other.latencies);
        self.latencies.sort();
        self.rps = self.requests as f64 / self.seconds;
        self.p50_ms = quantile_ms(&self.latencies, 0.50);
        self.p99_ms = quantile_ms(&self.latencies, 0.99);
    }

    fn median_rps(&self) -> f64 {
        let mut r = self.rounds.clone();
        r.sort_by(|a, b| a.total_cmp(b));
        r.get(r.len() / 2).copied().unwrap_or(self.rps)
    }
}

/// Closed-loop load: `connections` keep-alive connections, each sending the next request as soon as the
/// previous one is answered, for `seconds`. `body(i)` makes the i-th request.
async fn load(
    ca: &[u8],
    url: &str,
    connections: usize,
    seconds: u64,
    body: Arc<dyn Fn(usize) -> Vec<u8> + Send + Sync>,
) -> Result<Run> {
    load_over(ca, url, Protocol::Http1, connections, seconds, body).await
}

/// Closed-loop load over `protocol`: `connections` connections, and on each one request in flight
/// (HTTP/1.1) or `streams` (HTTP/2), each sending the next request as soon as the previous one is
/// answered, for `seconds`.
async fn load_over(
    ca: &[u8],
    url: &str,
    protocol: Protocol,
    connections: usize,
    seconds: u64,
    body: Arc<dyn Fn(usize) -> Vec<u8> + Send + Sync>,
) -> Result<Run> {
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let per_connection = match protocol {
        Protocol::Http1 => 1,
        Protocol::Http2 { streams } => streams,
    };
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let c = client_for(ca, protocol)?;
        for _ in 0..per_connection {
            let (c, url, body, counter) = (c.clone(), url.to_owned(), body.clone(), counter.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0;
                while Instant::now() < until {
                    let i = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let b = body(i);
                    let t = Instant::now();
                    let ok = match c
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(b)
                        .send()
                        .await
                    {
                        Ok(r) => {
                            r.status() == 200
                                && (protocol == Protocol::Http1 || r.version() == reqwest::Version::HTTP_2)
                                && r.bytes().await.is_ok()
                        }
                        Err(_) => false,
                    };
                    if ok {
                        lat.push(t.elapsed());
                    } else {
                        errors += 1;
                    }
                }
                (lat, errors)
            }));
        }
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        lat.extend(l);
        errors += e;
    }
    Ok(Run::from_latencies(lat, errors, started.elapsed().as_secs_f64()))
}

/// Closed-loop GETs against a plain-HTTP URL: the stand-in provider's own latency.
async fn load_get(url: &str, connections: usize, seconds: u64) -> Result<Run> {
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let c = reqwest::Client::new();
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < until {
                let t = Instant::now();
                if let Ok(r) = c
                    .get(&url)
                    .header("authorization", "token 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")
                    .send()
                    .await
                    && r.bytes().await.is_ok()
                {
                    lat.push(t.elapsed());
                }
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await?);
    }
    Ok(Run::from_latencies(lat, 0, started.elapsed().as_secs_f64()))
}

fn review_body(token: &str) -> Vec<u8> {
    let s = SecretBuilder::argocd("app", "repository")
        .https("https://github.com/acme/app", "x", token)
        .build();
    serde_json::to_vec(&ReviewBuilder::create(s).build()).unwrap_or_default()
}

/// The runtime token's Secret, a credential template whose permissions are probed on three
/// repositories.
fn fine_grained_review_body(token: &str) -> Vec<u8> {
    let s = SecretBuilder::argocd("runtime-repo-creds-secret", "repo-creds")
        .https("https://github.com/acme", "x", token)
        .annotation("scopegate.dev/probe-repositories", "acme/one, acme/two, acme/three")
        .build();
    serde_json::to_vec(&ReviewBuilder::create(s).build()).unwrap_or_default()
}

/// Every fine-grained probe of repositories `acme/*`, granted, for any token, `delay` away.
async fn mount_fine_grained_probes(server: &MockServer, delay: Duration) {
    use wiremock::ResponseTemplate;
    use wiremock::matchers::path_regex;
    let json = |v: Value| ResponseTemplate::new(200).set_body_json(v).set_delay(delay);
    for (re, answer) in [
        (
            r"^/repos/acme/[^/]+$",
            json(serde_json::json!({"id": 1, "name": "r", "private": true})),
        ),
        (
            r"^/repos/acme/[^/]+/commits$",
            json(serde_json::json!([{"sha": "6dcb09b5"}])),
        ),
        (r"^/repos/acme/[^/]+/hooks$", json(serde_json::json!([]))),
        (
            r"^/repos/acme/[^/]+/actions/permissions$",
            json(serde_json::json!({"enabled": true})),
        ),
        (r"^/repos/acme/[^/]+/rulesets/rule-suites$", json(serde_json::json!([]))),
        (
            r"^/git/acme/[^/]+\.git/info/refs$",
            ResponseTemplate::new(200)
                .set_body_raw(
                    "001f# service=git-receive-pack\n0000",
                    "application/x-git-receive-pack-advertisement",
                )
                .set_delay(delay),
        ),
    ] {
        Mock::given(method("GET"))
            .and(path_regex(re))
            .respond_with(answer)
            .mount(server)
            .await;
    }
    // The request built to be refused: past the permission check, the hook does not exist.
    Mock::given(method("PATCH"))
        .and(path_regex(r"^/repos/acme/[^/]+/hooks/4294967289$"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(serde_json::json!({"message": "Not Found"}))
                .set_delay(delay),
        )
        .mount(server)
        .await;
}

fn token(n: usize) -> String {
    scopegate_testkit::github_token("ghp_", &format!("Bench{n:025}"))
}

fn config(dir: &Path, provider: &str) -> Result<PathBuf> {
    let p = dir.join("config.yaml");
    std::fs::write(
        &p,
        format!(
            "providers:\n  - kind: github\n    host: github.com\n    apiUrl: {provider}\n    gitUrl: {provider}/git\ncache:\n  maxEntries: 200000\n"
        ),
    )?;
    Ok(p)
}

async fn bench(a: Args) -> Result<()> {
    let run = |part: &str| a.only.as_deref().is_none_or(|o| o == part);
    if run("webhook") || a.only.as_deref() == Some("cached") {
        webhook(&a).await?;
    }
    if run("watch") {
        watch(&a).await?;
    }
    if run("uses") || a.only.as_deref() == Some("watch") {
        uses(&a).await?;
    }
    if run("doors") {
        front_door(&a).await?;
    }
    Ok(())
}

/// (g) The front door under 10 000 stalled connections, half stopped in the TLS handshake, half in an
/// HTTP/1 request head, against the default `server:` bounds: peak RSS, whether and how fast the
/// server closed them, and real reviews meanwhile — how long each waited to be accepted (in the
/// backlog, beyond `maxConnections`) and how long its answer took once sent.
async fn front_door(_a: &Args) -> Result<()> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    const ATTACKERS: usize = 10_000;
    let dir = tempfile_dir()?.join("doors");
    std::fs::create_dir_all(&dir)?;
    let ca = scopegate_certs(&_a.scopegate, &dir)?;
    let fast = MockServer::builder().disable_request_recording().start().await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(Github::classic_answer("bench-bot", "repo", None))
        .mount(&fast)
        .await;
    let cfg = config(&dir, &fast.uri())?;
    let (sg, port, admin) = serve(&_a.scopegate, &dir, &cfg, &[]).await?;
    let admin_client = reqwest::Client::new();
    wait_ready(&admin_client, &format!("http://127.0.0.1:{admin}/readyz")).await?;
    let idle_rss = status_kib(sg.0.id(), "VmRSS:");

    scopegate_testkit::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::pem::PemObject::pem_slice_iter(&ca) {
        roots.add(c?)?;
    }
    let mut tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let body = review_body(&token(0));

    // One real review on a new connection: (wait to be accepted and shake hands, answer once sent).
    let real = {
        let (connector, body) = (connector.clone(), body.clone());
        move || {
            let (connector, body) = (connector.clone(), body.clone());
            async move {
                let started = Instant::now();
                let tcp = tokio::net::TcpStream::connect(addr).await?;
                let mut s = connector.connect("127.0.0.1".try_into()?, tcp).await?;
                let accepted = started.elapsed();
                let head = format!(
                    "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let sent = Instant::now();
                s.write_all(head.as_bytes()).await?;
                s.write_all(&body).await?;
                let mut answer = Vec::new();
                s.read_to_end(&mut answer).await?;
                let answered = sent.elapsed();
                if !String::from_utf8_lossy(&answer).contains("\"allowed\":true") {
                    bail!("the real review was not admitted");
                }
                Ok::<_, anyhow::Error>((accepted, answered))
            }
        }
    };
    let (_, warm) = real().await?;
    let mut quiet = Vec::new();
    for _ in 0..20 {
        quiet.push(real().await?.1);
    }
    quiet.sort();

    // The attackers: each holds its connection until the server closes it, and says how long the
    // connection lived after its handshake (the mid-header ones) and whether the server closed it.
    let started = Instant::now();
    let mut attackers = Vec::new();
    for i in 0..ATTACKERS {
        let connector = connector.clone();
        attackers.push(tokio::spawn(async move {
            let Ok(mut tcp) = tokio::net::TcpStream::connect(addr).await else {
                return (false, None);
            };
            if i % 2 == 0 {
                // Mid-handshake: the first bytes of a TLS record, then nothing.
                let _ = tcp.write_all(&[0x16, 0x03, 0x01]).await;
                let mut buf = [0u8; 512];
                loop {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return (true, None),
                        Ok(_) => {}
                    }
                }
            }
            let Ok(mut s) = connector
                .connect("127.0.0.1".try_into().unwrap_or_else(|_| unreachable!()), tcp)
                .await
            else {
                return (true, None);
            };
            let accepted = Instant::now();
            let _ = s
                .write_all(b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
                .await;
            let mut buf = [0u8; 512];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return (true, Some(accepted.elapsed())),
                    Ok(_) => {}
                }
            }
        }));
    }
    // Real reviews while the attack goes on.
    let mut during = Vec::new();
    while attackers.iter().any(|t| !t.is_finished()) && during.len() < 40 {
        during.push(real().await?);
    }
    let mut lifetimes = Vec::new();
    let mut closed = 0;
    for t in attackers {
        let (c, life) = t.await?;
        closed += usize::from(c);
        lifetimes.extend(life);
    }
    let attack = started.elapsed();
    let peak = status_kib(sg.0.id(), "VmHWM:");
    let metrics = admin_client
        .get(format!("http://127.0.0.1:{admin}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let series = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .unwrap_or("?")
            .to_owned()
    };
    drop(sg);
    lifetimes.sort();
    let mut accepted: Vec<Duration> = during.iter().map(|d| d.0).collect();
    let mut answered: Vec<Duration> = during.iter().map(|d| d.1).collect();
    accepted.sort();
    answered.sort();
    let ms = |d: Option<&Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
    println!();
    println!("| (g) {ATTACKERS} stalled connections, default server: bounds | figure | target |");
    println!("|---|---:|---|");
    println!(
        "| peak RSS (idle before: {:.1} MiB) | {:.1} MiB | <= 96 MiB |",
        idle_rss as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    println!(
        "| attackers closed by the server | {closed} of {ATTACKERS} in {:.1} s | all |",
        attack.as_secs_f64()
    );
    println!(
        "| mid-header connections: lifetime after the handshake, p50 / max | {:.0} / {:.0} ms | <= headerTimeout (5 s) |",
        ms(lifetimes.get(lifetimes.len() / 2)),
        ms(lifetimes.last())
    );
    println!(
        "| handshake timeouts counted / limited accepts | {} / {} | |",
        series("scopegate_connections_timed_out_total{phase=\"handshake\"}"),
        series("scopegate_connections_limited_total")
    );
    println!(
        "| real reviews during the attack: waited to be accepted, p50 / max | {:.0} / {:.0} ms | reported |",
        ms(accepted.get(accepted.len() / 2)),
        ms(accepted.last())
    );
    println!(
        "| real reviews during the attack: answer once sent, p50 / max ({} reviews) | {:.1} / {:.1} ms | <= 50 ms |",
        answered.len(),
        ms(answered.get(answered.len() / 2)),
        ms(answered.last())
    );
    println!(
        "| the same, no attack (baseline, same run): p50 / max | {:.1} / {:.1} ms (first {:.1}) | |",
        ms(quiet.get(quiet.len() / 2)),
        ms(quiet.last()),
        warm.as_secs_f64() * 1000.0
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

async fn webhook(a: &Args) -> Result<()> {
    let dir = tempfile_dir()?;
    let ca = scopegate_certs(&a.scopegate, &dir)?;
    let admin_client = reqwest::Client::new();

    // The stand-in: instant answers for the cached and memory runs, 50 ms for the uncached run.
    let fast = MockServer::builder().disable_request_recording().start().await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(Github::classic_answer("bench-bot", "repo", None))
        .mount(&fast)
        .await;
    let slow = MockServer::builder().disable_request_recording().start().await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(Github::classic_answer("bench-bot", "repo", None).set_delay(Duration::from_millis(50)))
        .mount(&slow)
        .await;
    mount_fine_grained_probes(&slow, Duration::from_millis(50)).await;

    println!(
        "scopegate-bench: {} s per endpoint ({} alternating rounds), {} connections, {} cores",
        a.seconds,
        5,
        a.connections,
        num_cpus()
    );

    // (b) the bare endpoint, (a) scopegate with a cached verdict: same body, same client, same machine.
    let me = std::env::current_exe()?;
    let mut _bare = Proc(
        Command::new(&me)
            .args(["bare", "--listen", "127.0.0.1:0"])
            .arg("--cert")
            .arg(dir.join("tls.crt"))
            .arg("--key")
            .arg(dir.join("tls.key"))
            .stdout(Stdio::piped())
            .spawn()?,
    );
    // The bare endpoint prints the address it bound, then nothing more.
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(_bare.0.stdout.take().context("the bare endpoint's stdout")?),
        &mut first,
    )?;
    let bare_port: u16 = first
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("the bare endpoint said {first:?}, not its address"))?;
    let c = client(&ca)?;
    wait_ready(&c, &format!("https://127.0.0.1:{bare_port}/healthz")).await?;
    let cfg = config(&dir, &fast.uri())?;
    let (sg, port, admin) = serve(&a.scopegate, &dir, &cfg, &[]).await?;
    wait_ready(&admin_client, &format!("http://127.0.0.1:{admin}/readyz")).await?;
    let cached_body = review_body(&token(0));
    let warm = c
        .post(format!("https://127.0.0.1:{port}/validate"))
        .header("content-type", "application/json")
        .body(cached_body.clone())
        .send()
        .await?
        .json::<Value>()
        .await?;
    if warm["response"]["allowed"] != true {
        bail!("the warm-up review was not admitted: {warm}");
    }
    // Alternate short rounds of each, so that whatever else the machine does falls on both alike;
    // HTTP/1.1 with `connections` connections, then HTTP/2 with 4 connections of 8 streams each.
    let rounds = 5u64;
    let per_round = (a.seconds / rounds).max(1);
    let mut compared = Vec::new();
    for (protocol, connections) in [(Protocol::Http1, a.connections), (Protocol::Http2 { streams: 8 }, 4)] {
        let mut c = Compared {
            protocol,
            connections,
            ..Compared::default()
        };
        for _ in 0..rounds {
            for (pid, url, run, cpu, client_cpu) in [
                (
                    _bare.0.id(),
                    format!("https://127.0.0.1:{bare_port}/validate"),
                    &mut c.bare,
                    &mut c.bare_cpu,
                    &mut c.bare_client_cpu,
                ),
                (
                    sg.0.id(),
                    format!("https://127.0.0.1:{port}/validate"),
                    &mut c.cached,
                    &mut c.cached_cpu,
                    &mut c.cached_client_cpu,
                ),
            ] {
                let b = cached_body.clone();
                let me_before = cpu_seconds(std::process::id());
                let before = cpu_seconds(pid);
                run.merge(
                    load_over(
                        &ca,
                        &url,
                        protocol,
                        connections,
                        per_round,
                        Arc::new(move |_| b.clone()),
                    )
                    .await?,
                );
                *cpu += cpu_seconds(pid) - before;
                *client_cpu += cpu_seconds(std::process::id()) - me_before;
            }
        }
        compared.push(c);
    }
    drop(sg);
    if a.only.as_deref() == Some("cached") {
        for c in &compared {
            for (name, r, cpu) in [
                ("(a) scopegate", &c.cached, c.cached_cpu),
                ("(b) bare", &c.bare, c.bare_cpu),
            ] {
                println!(
                    "{name} {} ({}): {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, server CPU {:.1} us/review",
                    c.protocol.name(),
                    c.shape(),
                    r.rps,
                    r.p50_ms,
                    r.p99_ms,
                    cpu / r.requests.max(1) as f64 * 1e6
                );
            }
        }
        print_ratios(&compared, rounds);
        return Ok(());
    }

    // The provider's latency as a client sees it (the stand-in's 50 ms plus its own and the timer's
    // share), measured the same way: the yardstick for the uncached run.
    let direct = load_get(&format!("{}/user", slow.uri()), 8, 3).await?;

    // (c) uncached: every review a new token, the provider 50 ms away.
    let cfg = config(&dir, &slow.uri())?;
    let (sg, port, admin) = serve(&a.scopegate, &dir, &cfg, &[]).await?;
    wait_ready(&admin_client, &format!("http://127.0.0.1:{admin}/readyz")).await?;
    let uncached = load(
        &ca,
        &format!("https://127.0.0.1:{port}/validate"),
        8,
        a.seconds,
        Arc::new(|i| review_body(&token(1_000_000 + i))),
    )
    .await?;

    // (f) one judgement at a time: a classic token (one call), and a fine-grained runtime token with
    // three repositories to probe (its /user, then 18 probes, then the 3 requests built to be refused,
    // each after its repository's hooks listing answered).
    let per = (a.seconds / 2).max(2);
    let classic_one = load(
        &ca,
        &format!("https://127.0.0.1:{port}/validate"),
        1,
        per,
        Arc::new(|i| review_body(&token(5_000_000 + i))),
    )
    .await?;
    let fine_grained_one = load(
        &ca,
        &format!("https://127.0.0.1:{port}/validate"),
        1,
        per,
        Arc::new(|i| fine_grained_review_body(&format!("github_pat_11Bench{i:071}"))),
    )
    .await?;
    let direct_one = load_get(&format!("{}/user", slow.uri()), 1, 2).await?;
    drop(sg);

    // (d) memory: fill the cache with distinct grants, then read the process's peak RSS.
    let cfg = config(&dir, &fast.uri())?;
    let (sg, port, admin) = serve(&a.scopegate, &dir, &cfg, &[]).await?;
    wait_ready(&admin_client, &format!("http://127.0.0.1:{admin}/readyz")).await?;
    let idle_rss = status_kib(sg.0.id(), "VmRSS:");
    let fill_started = Instant::now();
    let filled = fill(&ca, port, a.grants, a.connections).await?;
    let fill_secs = fill_started.elapsed().as_secs_f64();
    let metrics = admin_client
        .get(format!("http://127.0.0.1:{admin}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let entries = metrics
        .lines()
        .find(|l| l.starts_with("scopegate_cache_entries "))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or("?")
        .to_owned();
    let peak = status_kib(sg.0.id(), "VmHWM:");
    let rss = status_kib(sg.0.id(), "VmRSS:");
    drop(sg);

    println!();
    println!(
        "| run | protocol | requests | errors | throughput (req/s) | p50 (ms) | p99 (ms) | server CPU per review (us) |"
    );
    println!(
        "|-----|----------|---------:|-------:|-------------------:|---------:|---------:|---------------------------:|"
    );
    for c in &compared {
        for (name, r, cpu) in [
            ("(a) scopegate, cached verdict", &c.cached, c.cached_cpu),
            ("(b) bare endpoint", &c.bare, c.bare_cpu),
        ] {
            println!(
                "| {name} | {} ({}) | {} | {} | {:.0} | {:.3} | {:.3} | {:.1} |",
                c.protocol.name(),
                c.shape(),
                r.requests,
                r.errors,
                r.rps,
                r.p50_ms,
                r.p99_ms,
                cpu / r.requests.max(1) as f64 * 1e6
            );
        }
    }
    for (name, r) in [
        ("(c) scopegate, uncached, provider 50 ms, 8 connections", &uncached),
        ("(c') the 50 ms stand-in itself, asked directly, 8 connections", &direct),
    ] {
        println!(
            "| {name} | HTTP/1.1 | {} | {} | {:.0} | {:.3} | {:.3} | |",
            r.requests, r.errors, r.rps, r.p50_ms, r.p99_ms
        );
    }
    println!();
    print_ratios(&compared, rounds);
    println!(
        "uncached p50/p99: {:.1}/{:.1} ms; the provider asked directly: {:.1}/{:.1} ms; scopegate adds {:.2}/{:.2} ms (target <= 2 ms)",
        uncached.p50_ms,
        uncached.p99_ms,
        direct.p50_ms,
        direct.p99_ms,
        uncached.p50_ms - direct.p50_ms,
        uncached.p99_ms - direct.p99_ms
    );
    println!();
    println!("| (f) one uncached judgement at a time, provider 50 ms away | judgements | p50 (ms) | p99 (ms) |");
    println!("|---|---:|---:|---:|");
    for (name, r) in [
        ("classic token: 1 call", &classic_one),
        (
            "fine-grained runtime token, 3 repositories: 22 calls",
            &fine_grained_one,
        ),
        ("the stand-in asked directly (one round trip)", &direct_one),
    ] {
        println!("| {name} | {} | {:.1} | {:.1} |", r.requests, r.p50_ms, r.p99_ms);
    }
    println!(
        "fine-grained / classic: {:.2} (p50); round trips: {:.2}; target <= 3 round trips + 2 ms = {:.1} ms: {}",
        fine_grained_one.p50_ms / classic_one.p50_ms,
        fine_grained_one.p50_ms / direct_one.p50_ms,
        3.0 * direct_one.p50_ms + 2.0,
        if fine_grained_one.p50_ms <= 3.0 * direct_one.p50_ms + 2.0 {
            "met"
        } else {
            "not met"
        }
    );
    println!(
        "memory: {filled} distinct grants in {fill_secs:.1} s, cache entries {entries}; RSS idle {:.1} MiB, after {:.1} MiB, peak {:.1} MiB (target <= 64 MiB)",
        idle_rss as f64 / 1024.0,
        rss as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A provider stand-in `delay` away that answers any token as a classic one with `repo`, counting calls.
#[derive(Clone)]
struct Counting {
    calls: Arc<std::sync::atomic::AtomicUsize>,
    delay: Duration,
}

impl wiremock::Respond for Counting {
    fn respond(&self, _: &wiremock::Request) -> wiremock::ResponseTemplate {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Github::classic_answer("gitops-bot", "repo", None).set_delay(self.delay)
    }
}

/// Timestamps of log lines, for durations measured by the process itself.
fn log_time(line: &str) -> Option<jiff::Timestamp> {
    line.split_whitespace().next()?.parse().ok()
}

/// (e) `scopegate watch`: 10 000 credential Secrets sharing 1 000 tokens, the provider 50 ms away,
/// providerConcurrency 16. The first full judgement against the provider calls alone at that
/// concurrency; one introspection per token per interval; RSS.
async fn watch(a: &Args) -> Result<()> {
    const SECRETS: usize = 10_000;
    const TOKENS: usize = 1_000;
    const CONCURRENCY: usize = 16;
    let interval = Duration::from_secs(20);
    let dir = tempfile_dir()?.join("watch");
    std::fs::create_dir_all(&dir)?;
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let provider = MockServer::builder().disable_request_recording().start().await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(Counting {
            calls: calls.clone(),
            delay: Duration::from_millis(50),
        })
        .mount(&provider)
        .await;
    // The yardstick: the 1 000 calls alone, 16 at a time, asked directly.
    let yardstick = {
        let client = reqwest::Client::new();
        let started = Instant::now();
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..CONCURRENCY)
            .map(|_| {
                let (client, next, url) = (client.clone(), next.clone(), format!("{}/user", provider.uri()));
                tokio::spawn(async move {
                    while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < TOKENS {
                        let _ = client
                            .get(&url)
                            .bearer_auth("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")
                            .send()
                            .await
                            .and_then(|r| r.error_for_status());
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await?;
        }
        started.elapsed()
    };
    calls.store(0, std::sync::atomic::Ordering::Relaxed);

    let kube = scopegate_testkit::kube_api::FakeKube::start().await?;
    kube.record_requests(false);
    kube.set_page_size(500);
    for i in 0..SECRETS {
        let token = scopegate_testkit::github_token("ghp_", &format!("WatchBench{:020}", i % TOKENS));
        kube.add(
            SecretBuilder::new(&format!("repo-{i:05}"), &format!("team-{}", i % 10))
                .label("argocd.argoproj.io/secret-type", "repository")
                .https("https://github.com/acme/app", "git", &token)
                .build(),
        );
    }
    std::fs::write(dir.join("kubeconfig"), kube.kubeconfig("scopegate"))?;
    std::fs::write(
        dir.join("config.yaml"),
        format!(
            "providerConcurrency: {CONCURRENCY}\nproviders:\n  - kind: github\n    host: github.com\n    apiUrl: {}\nwatch:\n  recheckInterval: {}s\n",
            provider.uri(),
            interval.as_secs()
        ),
    )?;
    let log = dir.join("watch.log");
    let spawned = Instant::now();
    let child = Proc(
        Command::new(&a.scopegate)
            .args(["watch", "--no-leader-election", "--admin-listen", "127.0.0.1:0"])
            .arg("--kubeconfig")
            .arg(dir.join("kubeconfig"))
            .arg("--config")
            .arg(dir.join("config.yaml"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting scopegate watch")?,
    );
    let judged = |text: &str| text.lines().filter(|l| l.contains("verdict changed")).count();
    let mut text = String::new();
    for _ in 0..1200 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if judged(&text) >= SECRETS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if judged(&text) < SECRETS {
        bail!("the watcher judged {} of {SECRETS} Secrets in 2 minutes", judged(&text));
    }
    let first_calls = calls.load(std::sync::atomic::Ordering::Relaxed);
    let started = text
        .lines()
        .find(|l| l.contains("watching credential Secrets"))
        .and_then(log_time)
        .context("no start line")?;
    let listed = text
        .lines()
        .find(|l| l.contains("every watch has listed"))
        .and_then(log_time)
        .context("no listed line")?;
    let done = text
        .lines()
        .filter(|l| l.contains("verdict changed"))
        .filter_map(log_time)
        .max()
        .context("no verdicts")?;
    let full = (done - started).as_secs_f64();
    let rss_judged = status_kib(child.0.id(), "VmRSS:");
    // In steady state, any window one interval long holds one re-check of each credential (the
    // first ones spread over the interval after the next).
    let calls_at = |at: Instant| {
        let calls = calls.clone();
        async move {
            tokio::time::sleep_until(at.into()).await;
            calls.load(std::sync::atomic::Ordering::Relaxed)
        }
    };
    let margin = Duration::from_secs(5);
    let window_start = calls_at(spawned + interval + margin).await;
    let window_end = calls_at(spawned + 2 * interval + margin).await;
    let per_interval = window_end - window_start;
    let rss = status_kib(child.0.id(), "VmRSS:");
    let peak = status_kib(child.0.id(), "VmHWM:");
    drop(child);
    println!();
    println!("| (e) scopegate watch | figure | target |");
    println!("|---|---:|---|");
    println!(
        "| first full judgement of {SECRETS} Secrets ({TOKENS} tokens, provider 50 ms, concurrency {CONCURRENCY}) | {full:.2} s (listed after {:.2} s) | |",
        (listed - started).as_secs_f64()
    );
    println!(
        "| the {TOKENS} provider calls alone, {CONCURRENCY} at a time | {:.2} s | |",
        yardstick.as_secs_f64()
    );
    println!("| ratio | {:.3} | <= 1.10 |", full / yardstick.as_secs_f64());
    println!("| provider calls for the first judgement | {first_calls} | {TOKENS} |");
    println!(
        "| provider calls in one re-check interval ({}s) in steady state | {per_interval} | {TOKENS} |",
        interval.as_secs()
    );
    println!(
        "| RSS after the first judgement / after a re-check round / peak | {:.1} / {:.1} / {:.1} MiB | <= 128 MiB |",
        rss_judged as f64 / 1024.0,
        rss as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// (h) `scopegate watch` following the uses of credentials: 5 000 Applications over 500 repositories
/// (ten Applications each) and 50 credential templates (one per organisation, ten repositories each),
/// probed on a real Git server (`git http-backend`). Probes per re-check interval in steady state (at
/// most one per distinct credential and repository), the time to the first verdict of every
/// Application, and RSS.
async fn uses(a: &Args) -> Result<()> {
    use scopegate_testkit::git_server::GitServer;
    use scopegate_testkit::standin::Level;
    const APPS: usize = 5_000;
    const REPOS: usize = 500;
    const CREDS: usize = 50;
    let interval = Duration::from_secs(30);
    let dir = tempfile_dir()?.join("uses");
    std::fs::create_dir_all(&dir)?;
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let provider = MockServer::builder().disable_request_recording().start().await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(Counting {
            calls: calls.clone(),
            delay: Duration::ZERO,
        })
        .mount(&provider)
        .await;
    let git = GitServer::start().await?;
    let cred_token = |k: usize| scopegate_testkit::github_token("ghp_", &format!("UsesBench{k:020}"));
    let repo = |r: usize| format!("org-{:02}/repo-{r:03}", r / (REPOS / CREDS));
    for r in 0..REPOS {
        git.grant(&repo(r), &cred_token(r / (REPOS / CREDS)), Level::Read)?;
    }
    let kube = scopegate_testkit::kube_api::FakeKube::start().await?;
    kube.record_requests(false);
    kube.set_page_size(500);
    for k in 0..CREDS {
        kube.add(
            SecretBuilder::argocd(&format!("org-{k:02}"), "repo-creds")
                .https(&format!("https://github.com/org-{k:02}"), "git", &cred_token(k))
                .build(),
        );
    }
    for i in 0..APPS {
        kube.add(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": format!("app-{i:04}"), "namespace": "argocd",
                         "labels": {"team": format!("team-{}", i % 20)}},
            "spec": {"project": "default",
                     "source": {"repoURL": format!("https://github.com/{}.git", repo(i % REPOS)), "path": format!("apps/app-{i:04}"),
                                "targetRevision": "HEAD"},
                     "destination": {"server": "https://kubernetes.default.svc", "namespace": format!("app-{i:04}")},
                     "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}},
            "status": {"sync": {"status": "Synced", "revision": "6dcb09b5b57875f334f61aebed695e2e4193db5e"},
                       "health": {"status": "Healthy"},
                       "resources": (0..10).map(|n| serde_json::json!({"kind": "Deployment", "name": format!("web-{n}"), "status": "Synced"})).collect::<Vec<_>>()}
        }));
    }
    std::fs::write(dir.join("kubeconfig"), kube.kubeconfig("scopegate"))?;
    std::fs::write(
        dir.join("config.yaml"),
        format!(
            "providers:\n  - kind: github\n    host: github.com\n    apiUrl: {}\n    gitUrl: {}\nwatch:\n  recheckInterval: {}s\n",
            provider.uri(),
            git.url(),
            interval.as_secs()
        ),
    )?;
    let log = dir.join("watch.log");
    let spawned = Instant::now();
    let child = Proc(
        Command::new(&a.scopegate)
            .args(["watch", "--no-leader-election", "--admin-listen", "127.0.0.1:0"])
            .arg("--kubeconfig")
            .arg(dir.join("kubeconfig"))
            .arg("--config")
            .arg(dir.join("config.yaml"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting scopegate watch")?,
    );
    let judged = |text: &str| {
        text.lines()
            .filter(|l| l.contains("use verdict changed") && l.contains("new=ok"))
            .count()
    };
    let mut text = String::new();
    for _ in 0..1200 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if judged(&text) >= APPS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if judged(&text) < APPS {
        bail!(
            "the watcher found {} of {APPS} Applications ok in 2 minutes",
            judged(&text)
        );
    }
    let first_probes = git.total();
    let started = text
        .lines()
        .find(|l| l.contains("watching credential Secrets"))
        .and_then(log_time)
        .context("no start line")?;
    let done = text
        .lines()
        .filter(|l| l.contains("use verdict changed"))
        .filter_map(log_time)
        .max()
        .context("no verdicts")?;
    let rss_judged = status_kib(child.0.id(), "VmRSS:");
    let probes_at = |at: Instant| {
        let git = git.clone();
        async move {
            tokio::time::sleep_until(at.into()).await;
            git.total()
        }
    };
    let margin = Duration::from_secs(5);
    let window_start = probes_at(spawned + interval + margin).await;
    let window_end = probes_at(spawned + 2 * interval + margin).await;
    let per_interval = window_end - window_start;
    let rss = status_kib(child.0.id(), "VmRSS:");
    let peak = status_kib(child.0.id(), "VmHWM:");
    drop(child);
    println!();
    println!("| (h) scopegate watch, uses of credentials | figure | target |");
    println!("|---|---:|---|");
    println!(
        "| first verdict of every one of {APPS} Applications ({REPOS} repositories, {CREDS} credentials) | {:.2} s | |",
        (done - started).as_secs_f64()
    );
    println!("| repository probes for the first judgement | {first_probes} | {REPOS} |");
    println!(
        "| repository probes in one re-check interval ({}s) in steady state | {per_interval} | <= {REPOS} |",
        interval.as_secs()
    );
    println!(
        "| provider calls (the 50 templates' own judgement) | {} | |",
        calls.load(std::sync::atomic::Ordering::Relaxed)
    );
    println!(
        "| RSS after the first judgement / after a re-check round / peak | {:.1} / {:.1} / {:.1} MiB | <= 160 MiB |",
        rss_judged as f64 / 1024.0,
        rss as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Send `n` reviews with distinct tokens.
async fn fill(ca: &[u8], port: u16, n: usize, connections: usize) -> Result<usize> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let c = client(ca)?;
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0usize;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break ok;
                }
                let r = c
                    .post(format!("https://127.0.0.1:{port}/validate"))
                    .header("content-type", "application/json")
                    .body(review_body(&token(2_000_000 + i)))
                    .send()
                    .await;
                if let Ok(r) = r
                    && r.status() == 200
                    && r.bytes().await.is_ok()
                {
                    ok += 1;
                }
            }
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await?;
    }
    Ok(total)
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

// ---------------------------------------------------------------------------------------------------
// The bare endpoint: the same stack (rustls, hyper-util, axum), no work: the review parsed into a
// `serde_json::Value` and answered `allowed: true` with its uid — how the issue that set the targets
// measured it.

mod bare {
    use super::*;
    use axum::body::Bytes;
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    async fn validate(body: Bytes) -> axum::response::Response {
        let review: Value = match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return (axum::http::StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        };
        let Some(uid) = review["request"]["uid"].as_str() else {
            return (axum::http::StatusCode::BAD_REQUEST, "no request").into_response();
        };
        axum::Json(serde_json::json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": {"uid": uid, "allowed": true}
        }))
        .into_response()
    }

    pub async fn run(listen: SocketAddr, cert: &Path, key: &Path) -> Result<()> {
        scopegate_testkit::install_crypto_provider();
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)?.collect::<Result<_, _>>()?;
        let key = PrivateKeyDer::from_pem_file(key)?;
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let app = axum::Router::new()
            .route("/validate", post(validate))
            .route("/healthz", get(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind(listen).await?;
        println!("{}", listener.local_addr()?);
        scopegate_testkit::serve_tls(listener, acceptor, app).await?;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    scopegate_testkit::install_crypto_provider();
    let argv: Vec<String> = std::env::args().collect();
    // The cached run's review body, for driving scopegate with other load generators (wrk, h2load).
    if argv.get(1).map(String::as_str) == Some("review-body") {
        use std::io::Write as _;
        std::io::stdout().write_all(&review_body(&token(0)))?;
        return Ok(());
    }
    if argv.get(1).map(String::as_str) == Some("bare") {
        let get = |flag: &str| {
            argv.iter()
                .position(|a| a == flag)
                .and_then(|i| argv.get(i + 1))
                .cloned()
                .with_context(|| format!("bare needs {flag}"))
        };
        return bare::run(
            get("--listen")?.parse()?,
            Path::new(&get("--cert")?),
            Path::new(&get("--key")?),
        )
        .await;
    }
    bench(args()?).await
}

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
