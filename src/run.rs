//! Each command run from its parsed arguments: logging set up, configuration loaded, the front end
//! run, an exit code returned. `main` only parses the command line and calls [`main`].

use std::process::ExitCode;

use anyhow::{Context, Result};
use tracing_subscriber::EnvFilter;

use crate::cli::{CertsArgs, CheckArgs, Cli, Command, ConfigCommand, LogFormat, ServeArgs};
use crate::config::Config;
use crate::credential::Role;
use crate::engine::Engine;
use crate::{audit, certs, check, server};

/// Run a parsed command line; the process's exit code (2 on any error, said on stderr).
pub fn main(cli: Cli) -> ExitCode {
    crate::install_crypto_provider();
    // The server logs each review; the one-shot commands print their results and log only trouble.
    let default_level = match cli.command {
        Command::Serve(_) | Command::Watch(_) => "info",
        _ => "warn",
    };
    let log_guard = init_logging(cli.log_format, default_level);
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Certs(args) => certs_cmd(args),
        Command::Check(args) => check_cmd(args),
        Command::Audit(args) => audit_cmd(args),
        Command::Watch(args) => watch_cmd(args),
        Command::Config(c) => config_cmd(c),
    };
    // Flush the log lines before the last words.
    drop(log_guard);
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("scopegate: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Logs go to stderr through a buffer that a writer thread empties every few milliseconds: a review
/// never waits on the terminal or the log collector, and nothing is dropped (see `logsink`). The guard
/// flushes what is left on exit.
fn init_logging(format: LogFormat, default_level: &str) -> crate::logsink::LogGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let (writer, guard) = crate::logsink::start(std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.with_ansi(false).fmt_fields(crate::logfmt::LeanFields).init(),
    }
    guard
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn load_config(path: Option<&std::path::Path>) -> Result<Config> {
    Ok(match path {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    })
}

/// Raise the soft limit on open files to the hard one (as Go programs do since 1.19): a server with
/// `server.maxConnections` connections, provider calls and files open needs more than the 1024 many
/// systems start processes with.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open file limit"),
    }
}

fn serve(args: ServeArgs) -> Result<ExitCode> {
    raise_open_file_limit();
    let config = load_config(args.config.as_deref())?;
    let opts = server::ServeOptions {
        listen: args.listen,
        admin_listen: Some(args.admin_listen),
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        client_ca: args.client_ca,
        tls_reload_interval: args.tls_reload_interval,
        config,
    };
    runtime()?.block_on(async {
        let server = server::Server::bind(opts).await?;
        server.run(server::shutdown_signal()).await
    })?;
    Ok(ExitCode::SUCCESS)
}

fn check_cmd(args: CheckArgs) -> Result<ExitCode> {
    let config = load_config(args.config.as_deref())?;
    let input = match (args.url, args.token_file) {
        (Some(url), Some(token_file)) => check::Input::Token {
            url,
            token_file,
            username: args.username,
            role: args.role.unwrap_or(Role::Read),
        },
        _ => check::Input::Files(args.files),
    };
    let status = runtime()?.block_on(async {
        let engine = Engine::new(config).context("building the engine")?;
        check::run(&engine, &input, args.output, args.uses).await
    })?;
    Ok(ExitCode::from(status as u8))
}

fn audit_cmd(args: audit::Options) -> Result<ExitCode> {
    let config = load_config(args.config.as_deref())?;
    let status = runtime()?.block_on(audit::run(config, args))?;
    Ok(ExitCode::from(status as u8))
}

fn watch_cmd(args: crate::watch::Options) -> Result<ExitCode> {
    raise_open_file_limit();
    let config = load_config(args.config.as_deref())?;
    runtime()?.block_on(crate::watch::run(config, args, server::shutdown_signal()))?;
    Ok(ExitCode::SUCCESS)
}

fn config_cmd(c: ConfigCommand) -> Result<ExitCode> {
    match c {
        ConfigCommand::Schema => {
            use std::io::Write as _;
            // A closed pipe (`| head`) is the reader's choice, not an error.
            let _ = writeln!(std::io::stdout().lock(), "{:#}", crate::config::schema());
        }
        ConfigCommand::Check(args) => {
            // What `serve` does with the file before it binds anything: load it, and build the engine
            // (provider clients, CA bundles, proxies); no network, no port.
            let config = load_config(Some(&args.file))?;
            Engine::new(config).context("building the engine")?;
            eprintln!("scopegate: {} is a valid configuration", args.file.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn certs_cmd(args: CertsArgs) -> Result<ExitCode> {
    let mut req = certs::CertRequest::new(&args.service, &args.namespace);
    req.extra_sans = args.extra_sans;
    req.serving_days = args.days;
    let issued = certs::issue(&req)?;
    certs::write(&args.out_dir, &issued)?;
    eprintln!(
        "scopegate: wrote ca.crt, ca.key, tls.crt and tls.key for {} to {}; the caBundle follows on stdout",
        req.sans()[2],
        args.out_dir.display()
    );
    println!("{}", issued.ca_bundle());
    Ok(ExitCode::SUCCESS)
}
