//! The command line. The flags of `serve` and `certs` can also be set from the environment
//! (`SCOPEGATE_…`); `check` and `audit` take `SCOPEGATE_CONFIG`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgGroup, Parser, Subcommand, ValueEnum};

use crate::check;
use crate::credential::Role;

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

/// Each command's exit statuses (the reference's words).
pub const EXIT_STATUS: &[(&str, &[(u8, &str)])] = &[
    (
        "serve",
        &[
            (0, "Stopped on SIGTERM or SIGINT, every accepted review answered."),
            (
                2,
                "Could not start: a bad configuration, certificate or flag (said on stderr).",
            ),
        ],
    ),
    (
        "check",
        &[
            (0, "Every Secret would be admitted."),
            (1, "At least one would be denied."),
            (
                2,
                "An error: unreadable or unparsable input, no Secret in it, a bad configuration or flag; no provider was asked.",
            ),
        ],
    ),
    (
        "audit",
        &[
            (
                0,
                "Everything would be admitted and every credential reaches what it must.",
            ),
            (1, "Findings (or, with --expiring, tokens expiring within the window)."),
            (
                2,
                "An error: no cluster, not allowed to list (the scopegate-audit ClusterRole), a bad kubeconfig or configuration, or --apply-reports without the PolicyReport CRD.",
            ),
        ],
    ),
    (
        "watch",
        &[
            (0, "Stopped on SIGTERM or SIGINT (the Lease released)."),
            (2, "Could not start: a bad configuration, kubeconfig or flag."),
        ],
    ),
    ("certs", &[(0, "Written."), (2, "Could not write the files.")]),
    ("config schema", &[(0, "Printed.")]),
    (
        "config check",
        &[
            (0, "The file is a valid configuration."),
            (
                2,
                "It is not: the message serve would give, naming the key by its path.",
            ),
        ],
    ),
];

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
    /// Judge Secret manifests, or one token, as the webhook would — and the Applications and
    /// ApplicationSets beside them for their uses of those Secrets — without a cluster (the providers
    /// are asked). Exit 0: all would be admitted and every use works; 1: findings; 2: an error.
    Check(CheckArgs),
    /// Judge the credential Secrets in a cluster and every use of them (the repositories Applications
    /// sync and push to, ApplicationSet generators' tokens, Image Updater's write-back), and report.
    /// Exit 0: all clean; 1: findings; 2: an error.
    Audit(crate::audit::Options),
    /// Keep every credential Secret in the cluster, and every use of one, judged: at once when it
    /// changes, and each distinct credential (and credential and repository) again every
    /// watch.recheckInterval; report changes as metrics, Events, PolicyReports and log lines. Replicas
    /// elect a leader on a Lease.
    Watch(crate::watch::Options),
    /// The configuration file: its JSON Schema, or whether a file is valid.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the JSON Schema of the configuration file (for editors and CI), made from the types that
    /// parse it.
    Schema,
    /// Validate a configuration file without starting anything. Exit 0: valid; 2: not, with the
    /// message `serve` would give (the key named by its path).
    Check(ConfigCheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct ConfigCheckArgs {
    /// The configuration file (YAML).
    pub file: PathBuf,
}

#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("input").required(true).args(["files", "url"])))]
pub struct CheckArgs {
    /// Configuration file (YAML), as the webhook's. Without one the defaults apply.
    #[arg(long, env = "SCOPEGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Manifests: YAML or JSON, several documents, Lists, AdmissionReviews; a directory's .yaml,
    /// .yml and .json files; `-` for standard input. Repeat for more. Secrets are judged; Argo CD
    /// Applications and ApplicationSets beside them have their uses of those Secrets judged.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub files: Vec<String>,
    /// Check one token for this repository URL (or credential template prefix) instead.
    #[arg(long, requires = "token_file", conflicts_with = "files")]
    pub url: Option<String>,
    /// The file holding the token for --url (`-` for standard input; one trailing newline is
    /// trimmed). Never an argument: arguments are visible to every user of the machine.
    #[arg(long, value_name = "FILE", requires = "url")]
    pub token_file: Option<String>,
    /// The username for --url (Bitbucket, Bitbucket Data Center, or as Argo CD would send it).
    #[arg(long, requires = "url")]
    pub username: Option<String>,
    /// The role the --url token plays.
    #[arg(long, value_enum, requires = "url")]
    pub role: Option<Role>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = check::Format::Table)]
    pub output: check::Format,
    /// Report the uses of credentials — each Application and ApplicationSet in the files, with what it
    /// needs of which repository and its generators' tokens — instead of the Secrets.
    #[arg(long, conflicts_with = "url")]
    pub uses: bool,
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
    #[arg(long, default_value = "5s", value_parser = crate::config::positive_duration, env = "SCOPEGATE_TLS_RELOAD_INTERVAL")]
    pub tls_reload_interval: std::time::Duration,
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
