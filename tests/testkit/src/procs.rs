//! Running scopegate as a process, for `scopegate-bench` and `scopegate-soak`: start `serve` on
//! loopback port 0 and read its ports from its log, wait for readiness, read its memory from /proc.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// The port in the `addr=HOST:PORT` field of the first log line containing `what`.
pub fn logged_port(log: &str, what: &str) -> Option<u16> {
    let line = log.lines().find(|l| l.contains(what))?;
    let addr = line.split_whitespace().find_map(|f| f.strip_prefix("addr="))?;
    addr.rsplit(':').next()?.parse().ok()
}

/// A child process killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `/proc/PID/status` field in KiB (`VmRSS:`, `VmHWM:`).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Wait until `url` answers 2xx (10 s at most).
pub async fn wait_ready(client: &reqwest::Client, url: &str) -> Result<()> {
    for _ in 0..200 {
        if client.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{url} did not become ready")
}

/// `scopegate serve` on loopback port 0; its ports as it logs them. The log goes to a file (as to a
/// log collector), so that reading it costs the load generator nothing while it measures.
pub async fn serve(bin: &Path, dir: &Path, config: &Path, extra: &[&str]) -> Result<(Proc, u16, u16)> {
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let log = dir.join(format!(
        "serve-{}.log",
        RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .arg("--config")
        .arg(config)
        .args(extra)
        .arg("--tls-cert")
        .arg(dir.join("tls.crt"))
        .arg("--tls-key")
        .arg(dir.join("tls.key"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let child = Proc(child);
    for _ in 0..600 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let (Some(port), Some(admin)) = (
            logged_port(&text, "serving HTTPS"),
            logged_port(&text, "serving the admin port"),
        ) {
            return Ok((child, port, admin));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{} did not report its ports in {}", bin.display(), log.display())
}

/// A directory of this process's own under the system's temporary directory.
pub fn tempfile_dir() -> Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("scopegate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

/// `scopegate certs --san 127.0.0.1 --out-dir DIR` (a CA and a serving pair); the CA's PEM.
pub fn scopegate_certs(bin: &Path, dir: &Path) -> Result<Vec<u8>> {
    std::fs::create_dir_all(dir)?;
    let out = Command::new(bin)
        .args(["certs", "--san", "127.0.0.1", "--out-dir"])
        .arg(dir)
        .output()
        .context("scopegate certs")?;
    if !out.status.success() {
        bail!("scopegate certs failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(std::fs::read(dir.join("ca.crt"))?)
}
