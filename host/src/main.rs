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
    /// Run the server until SIGTERM or SIGINT (Ctrl-C), then stop gracefully.
    Serve,
    /// Start the server on the config, submit realistic e-mails through the HTTP API, run the business process to completion and print a summary.
    Demo(ixn::demo::DemoArgs),
    /// Validate the configuration and exit (non-zero with file:line errors when invalid).
    CheckConfig {
        /// Also print what changes from FILE (the config running now) to
        /// this one: one line per change, those that need a restart marked.
        #[arg(long, value_name = "FILE")]
        diff: Option<PathBuf>,
    },
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Escape codes only for a terminal, not in a log file or a pipe.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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

/// SIGTERM (docker, systemd, Kubernetes) and SIGINT (Ctrl-C): both take the graceful path.
struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Installed before the server starts, so a signal during start-up is not lost.
    fn new() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals {
            term: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
        })
    }

    async fn next(&mut self) -> anyhow::Result<&'static str> {
        tokio::select! {
            s = self.term.recv() => s.map(|()| "SIGTERM"),
            s = self.int.recv() => s.map(|()| "SIGINT"),
        }
        .context("the signal stream ended")
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::CheckConfig { diff } => match Config::load(&cli.config) {
            Ok(c) => {
                let registry = ixn::builtins::registry();
                if let Err(e) = ixn::check::runnable(&c, &registry) {
                    eprintln!("{}: {e}", cli.config.display());
                    return Ok(ExitCode::from(2));
                }
                println!(
                    "{}: ok ({} business processes, {} queues, {} views, {} strategies, {} event loggers)",
                    cli.config.display(),
                    c.business_processes.len(),
                    c.queues().count(),
                    c.views().count(),
                    c.strategies.len(),
                    c.event_loggers.len()
                );
                if let Some(running) = diff {
                    let old = match Config::load(&running) {
                        Ok(old) => old,
                        Err(e) => {
                            eprintln!("{e}");
                            return Ok(ExitCode::from(2));
                        }
                    };
                    let changes = ixn::config::diff::diff(&old, &c);
                    println!("{} change(s) from {}:", changes.len(), running.display());
                    for change in &changes {
                        println!("  {change}");
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("{e}");
                Ok(ExitCode::from(2))
            }
        },
        Command::Serve => {
            let config = Config::load(&cli.config)?;
            let mut signals = StopSignals::new()?;
            let server = ixn::server::Server::start(config, &ixn::builtins::registry()).await?;
            let signal = signals.next().await?;
            tracing::info!(
                signal,
                "Stopping gracefully; a second signal stops at once."
            );
            tokio::spawn(async move {
                if let Ok(signal) = signals.next().await {
                    tracing::warn!(signal, "Second signal: stopping at once.");
                    std::process::exit(130);
                }
            });
            server.shutdown().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => ixn::demo::run(&cli.config, args).await,
    }
}
