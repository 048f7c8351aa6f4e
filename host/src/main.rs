//! The `ixn` binary: serve · demo · check-config.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ixn::config::Config;

#[derive(Parser)]
#[command(
    name = "ixn",
    version,
    about = "Interaction server: business processes of queues and views, WASM strategies, plugin storage and sinks."
)]
struct Cli {
    /// The configuration file.
    #[arg(long, short, global = true, default_value = "config/ixn.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server until Ctrl-C.
    Serve,
    /// Start the server on the config, submit realistic e-mails through the HTTP API, run the business process to completion and print a summary.
    Demo(ixn::demo::DemoArgs),
    /// Validate the configuration and exit (non-zero with file:line errors when invalid).
    CheckConfig,
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = matches!(cli.command, Command::Demo(_));
    init_tracing(if quiet { "warn" } else { "info" });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::CheckConfig => match Config::load(&cli.config) {
            Ok(c) => {
                println!(
                    "{}: ok ({} business processes, {} queues, {} views, {} strategies, {} event loggers)",
                    cli.config.display(),
                    c.business_processes.len(),
                    c.queues().count(),
                    c.views().count(),
                    c.strategies.len(),
                    c.event_loggers.len()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("{e}");
                Ok(ExitCode::from(2))
            }
        },
        Command::Serve => {
            let config = Config::load(&cli.config)?;
            let server = ixn::server::Server::start(config, &ixn::builtins::registry()).await?;
            tokio::signal::ctrl_c()
                .await
                .context("waiting for Ctrl-C")?;
            tracing::info!("Shutting down.");
            server.shutdown().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => ixn::demo::run(&cli.config, args).await,
    }
}
