//! The command line. Every flag can also be set from the environment (`SCOPEGATE_…`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "scopegate",
    version,
    about = "Checks the Git tokens in Argo CD credential Secrets against the scopes their role needs"
)]
pub struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "SCOPEGATE_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the validating and mutating admission webhooks over HTTPS.
    Serve(ServeArgs),
    /// Write a CA and a serving certificate for the webhook Service, and print the CA bundle.
    Certs(CertsArgs),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Configuration file (YAML). Without one the defaults apply.
    #[arg(long, env = "SCOPEGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to serve the webhooks on.
    #[arg(long, default_value = "0.0.0.0:8443", env = "SCOPEGATE_LISTEN")]
    pub listen: SocketAddr,
    /// PEM certificate chain for the webhook Service.
    #[arg(long, env = "SCOPEGATE_TLS_CERT")]
    pub tls_cert: PathBuf,
    /// PEM private key of the certificate.
    #[arg(long, env = "SCOPEGATE_TLS_KEY")]
    pub tls_key: PathBuf,
    /// Require client certificates signed by this CA (PEM), for API servers configured to present one.
    #[arg(long, env = "SCOPEGATE_CLIENT_CA")]
    pub client_ca: Option<PathBuf>,
    /// Plain-HTTP admin address: /healthz, /readyz, /metrics.
    #[arg(long, default_value = "0.0.0.0:9090", env = "SCOPEGATE_ADMIN_LISTEN")]
    pub admin_listen: SocketAddr,
    /// How often to check the certificate files for a new certificate.
    #[arg(long, default_value = "5s", value_parser = parse_interval, env = "SCOPEGATE_TLS_RELOAD_INTERVAL")]
    pub tls_reload_interval: std::time::Duration,
}

fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    let d = crate::config::parse_duration(s)?;
    if d.is_zero() {
        return Err("must be more than 0s".into());
    }
    Ok(d)
}

#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    /// Directory to write ca.crt, ca.key, tls.crt and tls.key to.
    #[arg(long, env = "SCOPEGATE_CERTS_OUT_DIR")]
    pub out_dir: PathBuf,
    /// The webhook Service's name.
    #[arg(long, default_value = "scopegate", env = "SCOPEGATE_SERVICE")]
    pub service: String,
    /// The webhook Service's namespace.
    #[arg(long, default_value = "scopegate", env = "SCOPEGATE_NAMESPACE")]
    pub namespace: String,
    /// An extra subject alternative name (DNS name or IP address); repeat for more. `make run` adds
    /// localhost and 127.0.0.1.
    #[arg(long = "san", value_name = "NAME")]
    pub extra_sans: Vec<String>,
    /// How many days the serving certificate is valid.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
}
