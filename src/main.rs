//! The scopegate binary: parse the command line, set up logging, run.

use anyhow::{Context, Result};
use clap::Parser;
use tracing_subscriber::EnvFilter;

use scopegate::cli::{AuditArgs, CertsArgs, CheckArgs, CheckOutput, Cli, Command, LogFormat, RoleArg, ServeArgs};
use scopegate::config::Config;
use scopegate::engine::Engine;
use scopegate::{audit, certs, check, server};

/// Logs go to stderr through a buffer that a writer thread empties every few milliseconds: a review
/// never waits on the terminal or the log collector, and nothing is dropped (see `logsink`). The guard
/// flushes what is left on exit.
fn init_logging(format: LogFormat, default_level: &str) -> scopegate::logsink::LogGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let (writer, guard) = scopegate::logsink::start(std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder
            .with_ansi(false)
            .fmt_fields(scopegate::logfmt::LeanFields)
            .init(),
    }
    guard
}

fn main() -> std::process::ExitCode {
    scopegate::install_crypto_provider();
    let cli = Cli::parse();
    // The server logs each review; the one-shot commands print their results and log only trouble.
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    let log_guard = init_logging(cli.log_format, default_level);
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Certs(args) => certs_cmd(args),
        Command::Check(args) => check_cmd(args),
        Command::Audit(args) => audit_cmd(args),
    };
    // Flush the log lines before the last words.
    drop(log_guard);
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("scopegate: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
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

fn serve(args: ServeArgs) -> Result<std::process::ExitCode> {
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
    Ok(std::process::ExitCode::SUCCESS)
}

fn check_cmd(args: CheckArgs) -> Result<std::process::ExitCode> {
    let config = load_config(args.config.as_deref())?;
    let input = match (args.url, args.token_file) {
        (Some(url), Some(token_file)) => check::Input::Token {
            url,
            token_file,
            username: args.username,
            role: args.role.unwrap_or(RoleArg::Read).into(),
        },
        _ => check::Input::Files(args.files),
    };
    let format = match args.output {
        CheckOutput::Table => check::Format::Table,
        CheckOutput::Json => check::Format::Json,
    };
    let status = runtime()?.block_on(async {
        let engine = Engine::new(config).context("building the engine")?;
        check::run(&engine, &input, format).await
    })?;
    Ok(std::process::ExitCode::from(status as u8))
}

fn audit_cmd(args: AuditArgs) -> Result<std::process::ExitCode> {
    let config = load_config(args.config.as_deref())?;
    let status = runtime()?.block_on(audit::run(config, args))?;
    Ok(std::process::ExitCode::from(status as u8))
}

fn certs_cmd(args: CertsArgs) -> Result<std::process::ExitCode> {
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
    Ok(std::process::ExitCode::SUCCESS)
}

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
