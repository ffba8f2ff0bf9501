//! The scopegate binary: parse the command line, set up logging, run.

use anyhow::{Context, Result};
use clap::Parser;
use tracing_subscriber::EnvFilter;

use scopegate::cli::{CertsArgs, Cli, Command, LogFormat, ServeArgs};
use scopegate::config::Config;
use scopegate::{certs, server};

/// Logs go to stderr through a buffer that a writer thread empties every few milliseconds: a review
/// never waits on the terminal or the log collector, and nothing is dropped (see `logsink`). The guard
/// flushes what is left on exit.
fn init_logging(format: LogFormat) -> scopegate::logsink::LogGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
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
    let log_guard = init_logging(cli.log_format);
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Certs(args) => certs_cmd(args),
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
