use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use pricealert::cli::{self, Cli, Command};
use pricealert::config::Config;

fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn main() -> ExitCode {
    pricealert::memory::return_large_blocks_to_the_os();
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(run()),
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    // One process-wide TLS crypto provider (ring) for the exchange, REST and SMTP clients.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The spec does not depend on configuration, so a broken config.toml cannot hide it.
    if matches!(cli.command, Command::Openapi) {
        print!("{}", pricealert::api::spec_yaml());
        return ExitCode::SUCCESS;
    }
    let loaded = match Config::load(&cli.overrides(), std::env::vars()) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    if matches!(cli.command, Command::CheckConfig) {
        match &loaded.file {
            Some(path) => println!("# loaded from {}", path.display()),
            None => println!(
                "# no config file (none given, no ./config.toml): built-in defaults and \
                 PRICEALERT_* variables"
            ),
        }
    }
    match cli::dispatch(cli.command, loaded.config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
