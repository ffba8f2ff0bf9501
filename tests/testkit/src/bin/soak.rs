//! `scopegate-soak` (`make soak`): `scopegate serve` under a minute of everything at once, as a
//! cluster's webhook sees it on a bad day.
//!
//! - Reviews over HTTP/1.1 and HTTP/2 (keep-alive, several workers each), mixed: real tokens (a pool,
//!   so most come from the cache), tokens the provider refuses (401), tokens whose checksum is wrong,
//!   tokens whose provider call hangs past the timeout, answers 502, answers 429, answers that are
//!   garbage; bodies that are not JSON, reviews of something else, bodies over the size limit.
//! - Slow-connection attackers: a few hundred connections at any time, stalled mid-handshake or
//!   mid-header, renewed as the server closes them.
//! - A certificate rotation half-way (a new key pair of another CA written over the served files).
//! - SIGTERM at the end, with reviews in flight.
//!
//! It fails (exit 1) when a request sent before SIGTERM got no HTTP answer, when an answer is not the
//! one its kind calls for, when the new certificate is not served, when scopegate does not exit
//! cleanly, or when its memory keeps growing (RSS at the end more than 25 % above RSS after the
//! warm-up). It prints its figures as a Markdown table for docs/operations/performance.md.
//!
//! Usage: scopegate-soak [--scopegate target/release/scopegate] [--seconds 60]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use scopegate_testkit::procs::{scopegate_certs, serve, status_kib, tempfile_dir, wait_ready};
use scopegate_testkit::review::ReviewBuilder;
use scopegate_testkit::secret::SecretBuilder;
use scopegate_testkit::standin::Github;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use wiremock::matchers::{header_regex, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Workers per HTTP version.
const WORKERS: usize = 6;
/// Stalled connections held open at any time.
const ATTACKERS: usize = 300;
/// Real tokens in the pool.
const GOOD_TOKENS: usize = 300;

/// What a request was, and so what its answer must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Real,
    Refused,
    BadChecksum,
    Hang,
    ServerError,
    RateLimited,
    Garbage,
    NotJson,
    NotASecret,
    TooLarge,
}

impl Kind {
    fn of(n: usize) -> Self {
        match n % 40 {
            0..=19 => Kind::Real,
            20..=23 => Kind::Refused,
            24..=25 => Kind::BadChecksum,
            26 => Kind::Hang,
            27..=28 => Kind::ServerError,
            29..=30 => Kind::RateLimited,
            31..=32 => Kind::Garbage,
            33..=35 => Kind::NotJson,
            36..=38 => Kind::NotASecret,
            _ if n % 400 == 39 => Kind::TooLarge,
            _ => Kind::Real,
        }
    }

    /// The token's 30 random characters' stem: the stand-in answers by it.
    /// Where the token's repository is: the provider faults on a host of their own (a GitHub
    /// Enterprise server that misbehaves), so that its circuit breaker is not github.com's.
    fn repository(self) -> &'static str {
        match self {
            Kind::Hang | Kind::ServerError | Kind::RateLimited | Kind::Garbage => "https://ghe.soak/acme/app",
            _ => "https://github.com/acme/app",
        }
    }

    fn stem(self) -> &'static str {
        match self {
            Kind::Refused => "Refused",
            Kind::Hang => "Hang",
            Kind::ServerError => "Fail",
            Kind::RateLimited => "Limit",
            Kind::Garbage => "Junk",
            _ => "Good",
        }
    }
}

fn token(kind: Kind, n: usize) -> String {
    let n = if kind == Kind::Real { n % GOOD_TOKENS } else { n };
    let stem = kind.stem();
    let body = format!("{stem}{n:0width$}", width = 30 - stem.len());
    let t = scopegate_testkit::github_token("ghp_", &body);
    if kind == Kind::BadChecksum {
        // A typo in the last character: the checksum no longer matches.
        let mut t = t.into_bytes();
        if let Some(last) = t.last_mut() {
            *last = if *last == b'a' { b'b' } else { b'a' };
        }
        return String::from_utf8_lossy(&t).into_owned();
    }
    t
}

/// The body of request `n`, and its AdmissionReview uid when it has one.
fn body(kind: Kind, n: usize) -> (Vec<u8>, Option<String>) {
    let review = |secret: Value| {
        let r = ReviewBuilder::create(secret);
        let uid = r.uid().to_owned();
        (serde_json::to_vec(&r.build()).unwrap_or_default(), Some(uid))
    };
    match kind {
        Kind::NotJson => (
            b"{\"kind\": \"AdmissionReview\", \"request\": {\"uid\": ".to_vec(),
            None,
        ),
        Kind::NotASecret => review(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cm-{n}"), "namespace": "argocd"},
            "data": {"k": "v"},
        })),
        _ => review(
            SecretBuilder::argocd(&format!("repo-{n}"), "repository")
                .https(kind.repository(), "x", &token(kind, n))
                .build(),
        ),
    }
}

#[derive(Default)]
struct Tally {
    /// Requests sent, by kind.
    sent: BTreeMap<Kind, usize>,
    /// Answers, by kind and (status, verdict).
    answers: BTreeMap<(Kind, u16, String), usize>,
    /// Requests that got no HTTP answer, with why.
    unanswered: Vec<String>,
    /// Answers that are not what the kind calls for.
    wrong: Vec<String>,
    latencies: Vec<Duration>,
    in_flight_at_stop: usize,
}

fn check(kind: Kind, status: u16, uid: Option<&str>, body: &[u8]) -> Result<String, String> {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let expected_status = match kind {
        Kind::NotJson => 400,
        Kind::TooLarge => 413,
        _ => 200,
    };
    if status != expected_status {
        return Err(format!("{kind:?}: HTTP {status}, wanted {expected_status}"));
    }
    if status != 200 {
        return Ok(String::new());
    }
    let resp = &v["response"];
    if resp["uid"].as_str() != uid {
        return Err(format!("{kind:?}: the answer's uid is {:?}", resp["uid"]));
    }
    let allowed = resp["allowed"].as_bool();
    let message = resp["status"]["message"].as_str().unwrap_or_default();
    let verdict = if allowed == Some(true) { "allowed" } else { "denied" };
    let fits = match kind {
        // Asked once before the mix (the cache holds them): never affected by the faults, the
        // refusals or the attackers.
        Kind::Real => allowed == Some(true),
        Kind::Refused => allowed == Some(false),
        Kind::BadChecksum => allowed == Some(false) && message.contains("truncated or mistyped"),
        Kind::Hang | Kind::ServerError | Kind::RateLimited | Kind::Garbage => allowed == Some(false),
        Kind::NotASecret => allowed == Some(true),
        Kind::NotJson | Kind::TooLarge => true,
    };
    if !fits {
        return Err(format!("{kind:?}: allowed {allowed:?}: {message}"));
    }
    Ok(verdict.to_owned())
}

fn client(cas: &[&[u8]], h2: bool) -> Result<reqwest::Client> {
    let mut certs = Vec::new();
    for ca in cas {
        certs.push(reqwest::Certificate::from_pem(ca)?);
    }
    let b = reqwest::Client::builder()
        .tls_certs_only(certs)
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(4);
    Ok(if h2 { b.http2_prior_knowledge() } else { b.http1_only() }.build()?)
}

/// One worker: requests one after another on its client until `stop`.
#[allow(clippy::too_many_arguments)]
async fn worker(
    http: reqwest::Client,
    tls: tokio_rustls::TlsConnector,
    addr: SocketAddr,
    since: Instant,
    url: String,
    next: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    in_flight: Arc<AtomicUsize>,
    tally: Arc<Mutex<Tally>>,
) {
    while !stop.load(Ordering::SeqCst) {
        let n = next.fetch_add(1, Ordering::Relaxed);
        let kind = Kind::of(n);
        in_flight.fetch_add(1, Ordering::SeqCst);
        let started = Instant::now();
        let result = if kind == Kind::TooLarge {
            too_large(&tls, addr).await
        } else {
            let (payload, uid) = body(kind, n);
            send(&http, &url, payload).await.map(|(status, b)| (status, b, uid))
        };
        in_flight.fetch_sub(1, Ordering::SeqCst);
        let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
        *t.sent.entry(kind).or_default() += 1;
        match result {
            Ok((status, b, uid)) => {
                t.latencies.push(started.elapsed());
                match check(kind, status, uid.as_deref(), &b) {
                    Ok(verdict) => *t.answers.entry((kind, status, verdict)).or_default() += 1,
                    Err(why) => t.wrong.push(why),
                }
            }
            Err(e) => t
                .unanswered
                .push(format!("{kind:?} at {:.1} s: {e}", since.elapsed().as_secs_f64())),
        }
    }
}

/// A review over `http`: its status and body, or why none came (the error's chain).
async fn send(http: &reqwest::Client, url: &str, payload: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
    let chain = |e: reqwest::Error| {
        let mut text = e.to_string();
        let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(&e);
        while let Some(c) = cur {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cur = c.source();
        }
        text
    };
    let r = http
        .post(url)
        .header("content-type", "application/json")
        .body(payload)
        .send()
        .await
        .map_err(chain)?;
    let status = r.status().as_u16();
    let b = r.bytes().await.map_err(chain)?;
    Ok((status, b.to_vec()))
}

/// A request head declaring a 9 MiB body, on a connection of its own: the answer's status, before
/// any of the body is sent.
async fn too_large(
    tls: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
) -> Result<(u16, Vec<u8>, Option<String>), String> {
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").map_err(|e| e.to_string())?;
    let mut s = tls.connect(name, tcp).await.map_err(|e| e.to_string())?;
    s.write_all(
        b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 9437184\r\n\r\n",
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) => return Err("closed without an answer".into()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return Err(e.to_string()),
        }
    }
    let head = String::from_utf8_lossy(&got);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {head}"))?;
    Ok((status, Vec::new(), None))
}

/// Stalled connections, `ATTACKERS` at any time, each renewed when the server closes it; counts
/// the closes.
async fn attackers(addr: SocketAddr, stop: Arc<AtomicBool>, closed: Arc<AtomicUsize>, tls: tokio_rustls::TlsConnector) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..ATTACKERS {
        let (stop, closed, tls) = (stop.clone(), closed.clone(), tls.clone());
        tasks.spawn(async move {
            let mut round = 0usize;
            while !stop.load(Ordering::SeqCst) {
                round += 1;
                let Ok(mut tcp) = tokio::net::TcpStream::connect(addr).await else {
                    continue;
                };
                let mut buf = [0u8; 256];
                if (i + round).is_multiple_of(2) {
                    let _ = tcp.write_all(&[0x16, 0x03, 0x01]).await;
                    while let Ok(n) = tcp.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                    }
                } else {
                    let Ok(name) = rustls_pki_types::ServerName::try_from("127.0.0.1") else {
                        return;
                    };
                    let Ok(mut s) = tls.connect(name, tcp).await else {
                        continue;
                    };
                    let _ = s
                        .write_all(b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
                        .await;
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                    }
                }
                closed.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Whether a TLS handshake trusting only `ca` succeeds: the server presents a certificate of that CA.
async fn serves_cert_of(addr: SocketAddr, ca: &[u8]) -> bool {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::pem::PemObject::pem_slice_iter(ca).flatten() {
        let _ = roots.add(c);
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let Ok(tcp) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let Ok(name) = rustls_pki_types::ServerName::try_from("127.0.0.1") else {
        return false;
    };
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .is_ok()
}

/// github.com: real tokens and refused ones, by the token's stem.
async fn provider() -> MockServer {
    mount(&[
        ("Good", Github::classic_answer("soak-bot", "repo", None)),
        (
            "Refused",
            ResponseTemplate::new(401).set_body_json(json!({"message": "Bad credentials"})),
        ),
    ])
    .await
}

/// The misbehaving GitHub Enterprise server: hangs, 502, 429, garbage, by the token's stem.
async fn provider_faults() -> MockServer {
    mount(&[
        ("Hang", ResponseTemplate::new(200).set_delay(Duration::from_secs(20))),
        (
            "Fail",
            ResponseTemplate::new(502).set_body_string("<html>Bad gateway</html>"),
        ),
        (
            "Limit",
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(json!({"message": "You have exceeded a secondary rate limit"})),
        ),
        (
            "Junk",
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/json")
                .set_body_string("\u{0}\u{1}<<< not json"),
        ),
    ])
    .await
}

async fn mount(answers: &[(&str, ResponseTemplate)]) -> MockServer {
    let server = MockServer::builder().disable_request_recording().start().await;
    let by = |stem: &str| header_regex("authorization", &format!("^Bearer ghp_{stem}"));
    for (stem, answer) in answers {
        Mock::given(method("GET"))
            .and(path("/user"))
            .and(by(stem))
            .respond_with(answer.clone())
            .mount(&server)
            .await;
    }
    server
}

fn args() -> Result<(PathBuf, u64)> {
    let mut bin = PathBuf::from("target/release/scopegate");
    let mut seconds = 60;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--scopegate" => bin = it.next().context("--scopegate needs a path")?.into(),
            "--seconds" => seconds = it.next().context("--seconds needs a number")?.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    Ok((bin, seconds))
}

fn ms(d: Option<&Duration>) -> f64 {
    d.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> Result<()> {
    scopegate_testkit::install_crypto_provider();
    let (bin, seconds) = args()?;
    let dir = tempfile_dir()?.join("soak");
    let _ = std::fs::remove_dir_all(&dir);
    let ca_a = scopegate_certs(&bin, &dir)?;
    let ca_b = scopegate_certs(&bin, &dir.join("next"))?;
    let provider = provider().await;
    let faulty = provider_faults().await;
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "providers:\n  - kind: github\n    host: github.com\n    apiUrl: {0}\n    gitUrl: {0}/git\n\
             \x20 - kind: github\n    host: ghe.soak\n    apiUrl: {1}\n    gitUrl: {1}/git\n\
             providerTimeout: 2s\n",
            provider.uri(),
            faulty.uri()
        ),
    )?;
    let (sg, port, admin) = serve(&bin, &dir, &config, &["--tls-reload-interval", "1s"]).await?;
    let pid = sg.0.id();
    let admin_http = reqwest::Client::new();
    wait_ready(&admin_http, &format!("http://127.0.0.1:{admin}/readyz")).await?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let url = format!("https://127.0.0.1:{port}/validate");
    let idle_rss = status_kib(pid, "VmRSS:");

    // The real tokens, asked about once before the mix (as a cluster's tokens are, long before an
    // attack): the cache holds them from then on.
    let warm = client(&[&ca_a], false)?;
    for n in 0..GOOD_TOKENS {
        let (payload, uid) = body(Kind::Real, n);
        let (status, b) = send(&warm, &url, payload).await.map_err(anyhow::Error::msg)?;
        check(Kind::Real, status, uid.as_deref(), &b).map_err(anyhow::Error::msg)?;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let stop_attack = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::pem::PemObject::pem_slice_iter(&ca_a)
        .chain(rustls_pki_types::pem::PemObject::pem_slice_iter(&ca_b))
    {
        roots.add(c?)?;
    }
    let mut tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tls = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let closed = Arc::new(AtomicUsize::new(0));
    let since = Instant::now();
    let mut workers = Vec::new();
    for h2 in [false, true] {
        for _ in 0..WORKERS {
            workers.push(tokio::spawn(worker(
                client(&[&ca_a, &ca_b], h2)?,
                tls.clone(),
                addr,
                since,
                url.clone(),
                next.clone(),
                stop.clone(),
                in_flight.clone(),
                tally.clone(),
            )));
        }
    }
    let attack = tokio::spawn(attackers(addr, stop_attack.clone(), closed.clone(), tls.clone()));

    // Sample memory each second; rotate the certificate half-way.
    let started = Instant::now();
    let mut rss = Vec::new();
    let mut rotated_at = None;
    let mut new_cert_served_after = None;
    let warmup = Duration::from_secs(seconds / 4);
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        rss.push((started.elapsed(), status_kib(pid, "VmRSS:")));
        if rotated_at.is_none() && started.elapsed() >= Duration::from_secs(seconds / 2) {
            for f in ["tls.crt", "tls.key"] {
                let tmp = dir.join(format!("{f}.new"));
                std::fs::copy(dir.join("next").join(f), &tmp)?;
                std::fs::rename(&tmp, dir.join(f))?;
            }
            rotated_at = Some(Instant::now());
        }
        if let Some(at) = rotated_at
            && new_cert_served_after.is_none()
            && serves_cert_of(addr, &ca_b).await
        {
            new_cert_served_after = Some(at.elapsed());
        }
    }

    // SIGTERM with reviews in flight: every one of them must be answered.
    stop.store(true, Ordering::SeqCst);
    let in_flight_at_stop = in_flight.load(Ordering::SeqCst);
    let term = Instant::now();
    let status = Command::new("kill").args(["-TERM", &pid.to_string()]).status()?;
    if !status.success() {
        bail!("kill -TERM {pid} failed");
    }
    for w in workers {
        w.await?;
    }
    stop_attack.store(true, Ordering::SeqCst);
    let mut sg = sg;
    let exit = tokio::task::spawn_blocking(move || {
        let s = sg.0.wait();
        (s, sg)
    })
    .await?;
    let exited_after = term.elapsed();
    let (exit_status, _sg) = exit;
    attack.abort();
    let metrics_after = closed.load(Ordering::Relaxed);

    let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
    t.in_flight_at_stop = in_flight_at_stop;
    t.latencies.sort();
    let sent: usize = t.sent.values().sum();
    let answered: usize = t.answers.values().sum::<usize>() + t.wrong.len();
    let after_warmup = rss.iter().find(|(at, _)| *at >= warmup).map_or(0, |(_, k)| *k);
    let end = rss.last().map_or(0, |(_, k)| *k);
    let peak = rss.iter().map(|(_, k)| *k).max().unwrap_or(0);
    let mib = |k: u64| k as f64 / 1024.0;
    let elapsed = started.elapsed().as_secs_f64();

    println!();
    println!(
        "| soak: {seconds} s, HTTP/1.1 and HTTP/2 × {WORKERS} workers each, {ATTACKERS} stalled connections, provider faults, a certificate rotation, SIGTERM | figure |"
    );
    println!("|---|---:|");
    println!(
        "| requests sent / answered / unanswered | {sent} / {answered} / {} |",
        t.unanswered.len()
    );
    println!("| answers not what their request called for | {} |", t.wrong.len());
    println!("| throughput | {:.0} reviews/s |", sent as f64 / elapsed);
    println!(
        "| latency p50 / p99 / max | {:.1} / {:.1} / {:.0} ms |",
        ms(t.latencies.get(t.latencies.len() / 2)),
        ms(t.latencies.get(t.latencies.len() * 99 / 100)),
        ms(t.latencies.last())
    );
    let mut by_kind: BTreeMap<Kind, Vec<String>> = BTreeMap::new();
    for ((kind, status, verdict), n) in &t.answers {
        let what = if verdict.is_empty() {
            format!("HTTP {status} × {n}")
        } else {
            format!("{verdict} × {n}")
        };
        by_kind.entry(*kind).or_default().push(what);
    }
    for (kind, whats) in &by_kind {
        println!(
            "| {kind:?} ({} sent) | {} |",
            t.sent.get(kind).copied().unwrap_or(0),
            whats.join(", ")
        );
    }
    println!("| stalled connections closed by the server | {metrics_after} |");
    println!(
        "| RSS idle / after warm-up ({} s) / end / peak | {:.1} / {:.1} / {:.1} / {:.1} MiB |",
        warmup.as_secs(),
        mib(idle_rss),
        mib(after_warmup),
        mib(end),
        mib(peak)
    );
    println!(
        "| new certificate served after the rotation | {} |",
        new_cert_served_after.map_or("never".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()))
    );
    println!(
        "| SIGTERM: reviews in flight / exit after / exit status | {} / {:.1} s / {} |",
        t.in_flight_at_stop,
        exited_after.as_secs_f64(),
        exit_status.as_ref().map_or("?".to_owned(), |s| s.to_string())
    );

    let mut failures = Vec::new();
    if !t.unanswered.is_empty() {
        failures.push(format!("{} requests got no answer", t.unanswered.len()));
        for u in t.unanswered.iter().take(8) {
            eprintln!("  no answer: {u}");
        }
    }
    if !t.wrong.is_empty() {
        failures.push(format!("{} answers were wrong, e.g. {}", t.wrong.len(), t.wrong[0]));
    }
    if new_cert_served_after.is_none() {
        failures.push("the new certificate was never served".into());
    }
    if !exit_status.as_ref().is_ok_and(|s| s.success()) {
        failures.push(format!("scopegate did not exit cleanly: {exit_status:?}"));
    }
    if end > after_warmup + after_warmup / 4 {
        failures.push(format!(
            "RSS grew from {:.1} MiB after the warm-up to {:.1} MiB",
            mib(after_warmup),
            mib(end)
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("soak FAILED: {f}");
        }
        std::process::exit(1);
    }
    println!("\nsoak passed");
    Ok(())
}

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
