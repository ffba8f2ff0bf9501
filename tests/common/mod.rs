//! The harness: scopegate's real server on a loopback port over real TLS, with rcgen certificates, and
//! provider stand-ins.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;

use base64::Engine as _;
use reqwest::StatusCode;
use scopegate::certs::{self, CertRequest};
use scopegate::config::Config;
use scopegate::server::{ServeOptions, Server};
use scopegate_testkit::review::ReviewBuilder;
use serde_json::Value;
use tokio::sync::oneshot;
use wiremock::MockServer;

#[allow(unused_imports)]
pub use scopegate_testkit::secret::SecretBuilder;
#[allow(unused_imports)]
pub use scopegate_testkit::standin::{BitbucketCloud, Github, Gitlab};

/// A validator for the PolicyReport CRD's schema (`tests/fixtures/schemas/`, from the wg-policy types).
pub fn policy_report_validator() -> jsonschema::Validator {
    let path = format!(
        "{}/tests/fixtures/schemas/policyreport-v1alpha2.schema.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

/// A CA and a serving certificate for `localhost` and 127.0.0.1, written into `dir` as `scopegate
/// certs` writes them (`ca.crt`, `ca.key`, `tls.crt`, `tls.key`); the CA's PEM.
pub fn loopback_certs(dir: &std::path::Path) -> String {
    let mut req = CertRequest::new("scopegate", "scopegate");
    req.extra_sans = vec!["localhost".into(), "127.0.0.1".into()];
    let issued = certs::issue(&req).unwrap();
    certs::write(dir, &issued).unwrap();
    issued.ca_cert
}

/// `promtool check metrics` (the Prometheus project's linter) on a `/metrics` exposition: what it
/// reports (empty when it finds nothing). promtool is Debian's `prometheus` package; `.ci/run` installs it.
pub fn promtool_check_metrics(exposition: &str) -> String {
    use std::io::Write as _;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool not found: install Debian's prometheus package (.ci/run does)");
    child.stdin.take().unwrap().write_all(exposition.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .trim()
    .to_owned()
}

/// A running scopegate.
pub struct Harness {
    pub addr: SocketAddr,
    /// The plain-HTTP admin port.
    pub admin: SocketAddr,
    pub client: reqwest::Client,
    pub ca_pem: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub dir: tempfile::TempDir,
}

/// Configuration YAML pointing github.com, gitlab.com, bitbucket.org and a Bitbucket Data Center at
/// `bitbucket.corp` at one stand-in (GitHub's Git-over-HTTPS under `/git`, Data Center's under `/scm`).
pub fn providers_yaml(server: &MockServer) -> String {
    format!(
        "providers:\n  - kind: github\n    host: github.com\n    apiUrl: {u}\n    gitUrl: {u}/git\n  - kind: gitlab\n    host: gitlab.com\n    apiUrl: {u}/api/v4\n  - kind: bitbucket-cloud\n    host: bitbucket.org\n    apiUrl: {u}/2.0\n  - kind: bitbucket-server\n    host: bitbucket.corp\n    apiUrl: {u}/rest/api/1.0\n    gitUrl: {u}\n",
        u = server.uri()
    )
}

impl Harness {
    /// Start with configuration YAML.
    pub async fn start(yaml: &str) -> Self {
        let config = Config::from_yaml(yaml).expect("test configuration");
        Self::start_with(config).await
    }

    pub async fn start_with(config: Config) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca_pem = loopback_certs(dir.path());
        let mut opts = ServeOptions::new(
            "127.0.0.1:0".parse().unwrap(),
            dir.path().join("tls.crt"),
            dir.path().join("tls.key"),
            config,
        );
        opts.admin_listen = Some("127.0.0.1:0".parse().unwrap());
        let server = Server::bind(opts).await.unwrap();
        let admin = server.admin_addr().unwrap();
        let addr = server.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        let client = scopegate_testkit::https_client(ca_pem.as_bytes()).unwrap();
        Self {
            addr,
            admin,
            client,
            ca_pem,
            stop: Some(tx),
            task: Some(task),
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }

    /// POST a body; the status and the JSON answer.
    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let resp = self.client.post(self.url(path)).json(body).send().await.unwrap();
        let status = resp.status();
        let v = resp.json::<Value>().await.unwrap();
        (status, v)
    }

    /// POST raw bytes.
    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> (StatusCode, String) {
        let resp = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    /// The `response` of a review sent to a webhook; asserts HTTP 200 and the uid.
    pub async fn review(&self, webhook: &str, review: &ReviewBuilder) -> Value {
        let (status, v) = self.post(&format!("/{webhook}?timeout=10s"), &review.build()).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(v["kind"], "AdmissionReview");
        let resp = v["response"].clone();
        assert_eq!(resp["uid"], review.uid(), "the response echoes the request uid");
        resp
    }

    pub async fn validate(&self, review: &ReviewBuilder) -> Value {
        self.review("validate", review).await
    }

    pub async fn mutate(&self, review: &ReviewBuilder) -> Value {
        self.review("mutate", review).await
    }

    /// `GET` on the admin port.
    pub async fn admin_get(&self, path: &str) -> (StatusCode, String) {
        let r = reqwest::get(format!("http://{}{path}", self.admin)).await.unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// The value of one sample in `/metrics` (a line starting with `series`), or 0.
    pub async fn metric(&self, series: &str) -> f64 {
        let (_, text) = self.admin_get("/metrics").await;
        text.lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }
}

/// Apply a mutating response's patch to the object and return the resulting annotations.
pub fn patched_annotations(object: &Value, response: &Value) -> BTreeMap<String, String> {
    let patched = apply_patch(object, response);
    patched["metadata"]["annotations"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Apply a mutating response's patch (checking its type) to the object.
pub fn apply_patch(object: &Value, response: &Value) -> Value {
    let mut obj = object.clone();
    if response.get("patch").is_none() {
        return obj;
    }
    assert_eq!(response["patchType"], "JSONPatch");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(response["patch"].as_str().unwrap())
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
    json_patch::patch(&mut obj, &patch).expect("the patch applies");
    obj
}

/// The decoded patch text, for leak checks.
pub fn patch_text(response: &Value) -> String {
    response["patch"]
        .as_str()
        .map(|p| String::from_utf8(base64::engine::general_purpose::STANDARD.decode(p).unwrap()).unwrap())
        .unwrap_or_default()
}

/// The warnings of a response.
pub fn warnings(response: &Value) -> Vec<String> {
    response["warnings"]
        .as_array()
        .map(|a| a.iter().map(|w| w.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

pub fn message(response: &Value) -> String {
    response["status"]["message"].as_str().unwrap_or_default().to_owned()
}

/// What one run of the scopegate binary did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Both streams, for leak checks.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// `-o json` output.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
}

/// Run the scopegate binary with `args` (and `stdin`), off the async runtime so that stand-ins on
/// it keep answering.
pub async fn run_scopegate(args: Vec<String>, stdin: Option<String>) -> Run {
    tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        use std::process::{Command, Stdio};
        let mut child = Command::new(env!("CARGO_BIN_EXE_scopegate"))
            .args(&args)
            .env_remove("KUBECONFIG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the scopegate binary starts");
        let mut input = child.stdin.take().expect("stdin is piped");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("writing stdin");
        }
        drop(input);
        let out = child.wait_with_output().expect("scopegate runs");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .expect("the run finishes")
}

/// Arguments from string slices.
pub fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

/// Argo CD's documented Secrets (tests/fixtures/shared/argocd-docs-*.yaml), with placeholder tokens
/// GitHub refuses: (file, Secret name) → (verdict, admitted).
pub fn argocd_docs_expectations() -> BTreeMap<(&'static str, &'static str), (&'static str, bool)> {
    [
        // (file, Secret name) → (verdict, admitted)
        (
            ("argocd-docs-argocd-repositories.yaml", "my-private-https-repo"),
            ("invalid", false),
        ),
        (
            ("argocd-docs-argocd-repositories.yaml", "my-private-ssh-repo"),
            ("not-a-token", true),
        ),
        (
            ("argocd-docs-argocd-repositories.yaml", "istio-helm-repo"),
            ("not-a-token", true),
        ),
        (
            ("argocd-docs-argocd-repositories.yaml", "private-helm-repo"),
            ("unverified", true),
        ),
        (
            ("argocd-docs-argocd-repositories.yaml", "private-repo"),
            ("not-a-token", true),
        ),
        (
            ("argocd-docs-argocd-repositories.yaml", "aci-private-repo"),
            ("not-a-token", true),
        ),
        (
            ("argocd-docs-argocd-repositories.yaml", "private-oci-repo"),
            ("unverified", true),
        ),
        (
            ("argocd-docs-argocd-repo-creds.yaml", "argoproj-https-creds"),
            ("unverified", true),
        ),
        (
            ("argocd-docs-argocd-repo-creds.yaml", "argoproj-ssh-creds"),
            ("not-a-token", true),
        ),
        (
            ("argocd-docs-argocd-repo-creds.yaml", "github-creds"),
            ("invalid", false),
        ),
        (
            ("argocd-docs-argocd-repo-creds.yaml", "github-enterprise-creds"),
            ("invalid", false),
        ),
        (
            ("argocd-docs-argocd-repo-creds.yaml", "private-oci-repo"),
            ("unverified", true),
        ),
        (
            ("argocd-docs-repository-https.yaml", "private-repo"),
            ("invalid", false),
        ),
        (
            ("argocd-docs-repository-https-proxy.yaml", "private-repo"),
            ("invalid", false),
        ),
        (
            ("argocd-docs-repository-ssh.yaml", "private-repo"),
            ("not-a-token", true),
        ),
        (
            ("argocd-docs-repository-githubapp.yaml", "github-repo"),
            ("invalid", false),
        ),
        (
            ("argocd-docs-repository-githubapp.yaml", "github-enterprise-repo"),
            ("invalid", false),
        ),
        (
            (
                "argocd-docs-repository-azure-sp.yaml",
                "service-principal-for-azure-public-cloud",
            ),
            ("not-a-token", true),
        ),
        (
            (
                "argocd-docs-repository-azure-sp.yaml",
                "service-principal-for-azure-other-cloud",
            ),
            ("not-a-token", true),
        ),
        (
            ("argocd-docs-repo-creds-template-https.yaml", "first-repo"),
            ("not-a-token", true),
        ),
        (
            ("argocd-docs-repo-creds-template-https.yaml", "second-repo"),
            ("not-a-token", true),
        ),
        (
            ("argocd-docs-repo-creds-template-https.yaml", "private-repo-creds"),
            ("invalid", false),
        ),
        (
            ("argocd-docs-repo-write-creds-https.yaml", "private-repo"),
            ("invalid", false),
        ),
        (
            (
                "argocd-docs-repository-write-githubapp-push-pull.yaml",
                "my-push-secret",
            ),
            ("invalid", false),
        ),
        (
            (
                "argocd-docs-repository-write-githubapp-push-pull.yaml",
                "my-pull-secret",
            ),
            ("invalid", false),
        ),
    ]
    .into_iter()
    .collect()
}

/// The real binary serving: `scopegate serve` on loopback port 0 (HTTPS and admin), the ports read
/// from its own log lines, everything it writes on stderr kept.
pub struct Served {
    pub child: std::process::Child,
    pub port: u16,
    pub admin: u16,
    /// Each stderr line, as it comes.
    pub lines: std::sync::mpsc::Receiver<String>,
    /// The lines received so far (waits search them all, in order).
    seen: std::sync::Mutex<Vec<String>>,
    /// Everything on stderr, once the process has ended.
    pub logs: std::thread::JoinHandle<String>,
}

impl Served {
    /// Send SIGTERM.
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Wait for a stderr line containing `text` (at most 30 s).
    pub fn wait_for_line(&self, text: &str) -> String {
        self.wait_for(|l| l.contains(text), text)
    }

    /// Wait for a stderr line containing every one of `parts` (at most 30 s).
    pub fn wait_for_all(&self, parts: &[&str]) -> String {
        self.wait_for(|l| parts.iter().all(|p| l.contains(p)), &parts.join(" … "))
    }

    /// The first line logged since the start that satisfies `pred`, waiting for it if need be.
    fn wait_for(&self, pred: impl Fn(&str) -> bool, what: &str) -> String {
        let mut seen = self.seen.lock().unwrap();
        if let Some(l) = seen.iter().find(|l| pred(l)) {
            return l.clone();
        }
        // One deadline for the whole wait: a process that keeps logging other lines does not extend it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let line = self
                .lines
                .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
                .unwrap_or_else(|_| panic!("scopegate did not log {what:?}; it logged:\n{}", seen.join("\n")));
            seen.push(line.clone());
            if pred(&line) {
                return line;
            }
        }
    }

    /// `GET` on the admin port (off the async runtime's threads).
    pub fn admin_get(&self, path: &str) -> String {
        let mut tcp = std::net::TcpStream::connect(("127.0.0.1", self.admin)).expect("the admin port answers");
        use std::io::{Read, Write};
        write!(tcp, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut out = String::new();
        tcp.read_to_string(&mut out).unwrap();
        out.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default()
    }
}

/// The port in a log line's `addr` field (`addr=HOST:PORT` in text, `"addr":"HOST:PORT"` in JSON).
fn logged_port(line: &str) -> Option<u16> {
    let addr = match serde_json::from_str::<Value>(line) {
        Ok(v) => v["addr"].as_str()?.to_owned(),
        Err(_) => line
            .split_whitespace()
            .find_map(|f| f.strip_prefix("addr="))?
            .trim_matches('"')
            .to_owned(),
    };
    addr.rsplit(':').next()?.parse().ok()
}

impl Served {
    /// Start `scopegate ARGS --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0` (ARGS: `serve` and its
    /// flags) with `env`, and wait (at most 30 s) for both ports to be reported.
    pub fn start<S: AsRef<std::ffi::OsStr>>(args: &[S], env: &[(&str, &str)]) -> Self {
        Self::spawn(
            args,
            &["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"],
            env,
            true,
        )
    }

    /// Start `scopegate ARGS --admin-listen 127.0.0.1:0` (ARGS: `watch` and its flags) with `env`, and
    /// wait for the admin port to be reported.
    pub fn watch<S: AsRef<std::ffi::OsStr>>(args: &[S], env: &[(&str, &str)]) -> Self {
        Self::spawn(args, &["--admin-listen", "127.0.0.1:0"], env, false)
    }

    fn spawn<S: AsRef<std::ffi::OsStr>>(args: &[S], ports: &[&str], env: &[(&str, &str)], https: bool) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_scopegate"))
            .args(args)
            .args(ports)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the scopegate binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = std::sync::mpsc::channel();
        let logs = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stderr).lines() {
                let line = line.unwrap_or_default();
                all.push_str(&line);
                all.push('\n');
                let _ = tx.send(line);
            }
            all
        });
        let (mut port, mut admin) = (if https { None } else { Some(0) }, None);
        while port.is_none() || admin.is_none() {
            let line = lines
                .recv_timeout(std::time::Duration::from_secs(30))
                .expect("scopegate reports the ports it serves");
            if line.contains("serving HTTPS") {
                port = logged_port(&line);
            } else if line.contains("serving the admin port") {
                admin = logged_port(&line);
            }
        }
        Self {
            child,
            port: port.unwrap_or_default(),
            admin: admin.unwrap_or_default(),
            lines,
            seen: std::sync::Mutex::new(Vec::new()),
            logs,
        }
    }
}

/// A CA for clients (the API server's proxy client certificate, say), written to `dir/client-ca.crt`,
/// and a client certificate it signed: the identity a client presents (certificate and key, PEM).
#[allow(dead_code)]
pub fn client_ca_and_identity(dir: &std::path::Path) -> reqwest::Identity {
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
    let client_ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let client_ca_cert = ca.self_signed(&client_ca_key).unwrap();
    let issuer = Issuer::new(ca, &client_ca_key);
    let client_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["kube-apiserver".to_owned()]).unwrap();
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = leaf.signed_by(&client_key, &issuer).unwrap();
    std::fs::write(dir.join("client-ca.crt"), client_ca_cert.pem()).unwrap();
    reqwest::Identity::from_pem(format!("{}{}", client_cert.pem(), client_key.serialize_pem()).as_bytes()).unwrap()
}

/// A review of `secret`'s creation through the validating and the mutating webhook: the validating
/// answer, and the annotations the mutating one's patch leaves on the Secret.
#[allow(dead_code)]
pub async fn judge_secret(h: &Harness, secret: Value) -> (Value, BTreeMap<String, String>) {
    let review = ReviewBuilder::create(secret);
    let v = h.validate(&review).await;
    let a = patched_annotations(&review.build()["request"]["object"], &h.mutate(&review).await);
    (v, a)
}

/// Every request `server` received was a `GET` (and there was at least one).
#[allow(dead_code)]
pub async fn assert_only_gets(server: &MockServer) {
    let methods: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.method.to_string())
        .collect();
    assert!(!methods.is_empty() && methods.iter().all(|m| m == "GET"), "{methods:?}");
}
