//! The `ixn` binary: serve · demo · reload · check-config · convert-fields · partitions · explain-views.

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
    /// Ask the server running this config to read it again and apply what changed (as SIGHUP does); prints what changed, or every error of a refused config.
    Reload {
        /// The server's API, when not the config's `[server] listen`.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
    /// Utility mode: move attached data into the custom-field columns the
    /// config declares, and that of fields marked `to-delete` back into the
    /// blob; commits every bulk, resumes where a previous run stopped. Opens no
    /// port and processes nothing.
    ConvertFields(ixn::convert::ConvertArgs),
    /// Print the partitions of the PostgreSQL interactions table: the queues
    /// each holds, its tablespace and its rows (the seed's verification query).
    Partitions,
    /// Print each view's claim SELECT on the PostgreSQL storage with
    /// PostgreSQL's plan, warning where it reads a large table or partition
    /// sequentially.
    ExplainViews,
    /// Validate the configuration and exit: 0 when valid, 1 with every file:line error when not.
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

/// SIGTERM (docker, systemd, Kubernetes) and SIGINT (Ctrl-C): both take the
/// graceful path. SIGHUP reloads the config.
struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

/// What a signal asks for.
enum Signalled {
    Stop(&'static str),
    Reload,
}

impl StopSignals {
    /// Installed before the server starts, so a signal during start-up is not lost.
    fn new() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals {
            term: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
            hup: signal(SignalKind::hangup()).context("listening for SIGHUP")?,
        })
    }

    async fn next(&mut self) -> anyhow::Result<Signalled> {
        tokio::select! {
            s = self.term.recv() => s.map(|()| Signalled::Stop("SIGTERM")),
            s = self.int.recv() => s.map(|()| Signalled::Stop("SIGINT")),
            s = self.hup.recv() => s.map(|()| Signalled::Reload),
        }
        .context("the signal stream ended")
    }

    /// The next stop signal; SIGHUPs meanwhile reload `server`.
    async fn next_stop(
        &mut self,
        server: Option<&ixn::server::Server>,
    ) -> anyhow::Result<&'static str> {
        loop {
            match self.next().await? {
                Signalled::Stop(name) => return Ok(name),
                Signalled::Reload => match server {
                    Some(server) => {
                        // The reload logs what it applied or why it refused.
                        let reloads = server.reloads().clone();
                        tokio::spawn(async move { reloads.reload("SIGHUP").await });
                    }
                    None => tracing::warn!("SIGHUP while stopping: not reloaded."),
                },
            }
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::CheckConfig { diff } => match Config::load(&cli.config) {
            Ok(c) => {
                let registry = ixn::builtins::registry();
                if let Err(e) = ixn::check::runnable(&c, &registry) {
                    eprintln!("{}: {e}", cli.config.display());
                    return Ok(ExitCode::FAILURE);
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
                            return Ok(ExitCode::FAILURE);
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
                Ok(ExitCode::FAILURE)
            }
        },
        Command::Serve => {
            let config = Config::load(&cli.config)?;
            let mut signals = StopSignals::new()?;
            let server = ixn::server::Server::start(config, &ixn::builtins::registry()).await?;
            let signal = signals.next_stop(Some(&server)).await?;
            tracing::info!(
                signal,
                "Stopping gracefully; a second signal stops at once."
            );
            tokio::spawn(async move {
                if let Ok(signal) = signals.next_stop(None).await {
                    tracing::warn!(signal, "Second signal: stopping at once.");
                    std::process::exit(130);
                }
            });
            server.shutdown().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => ixn::demo::run(&cli.config, args).await,
        Command::Reload { url } => reload(&cli.config, url).await,
        Command::Partitions => {
            let rows = ixn::partitions::run(&cli.config).await?;
            print!("{}", ixn::partitions::table(&rows));
            Ok(ExitCode::SUCCESS)
        }
        Command::ExplainViews => {
            let plans = ixn::explain::run(&cli.config).await?;
            print!("{}", ixn::explain::report(&plans));
            Ok(ExitCode::SUCCESS)
        }
        Command::ConvertFields(args) => {
            let progress =
                ixn::convert::run(&cli.config, &args, &ixn::builtins::registry()).await?;
            println!("{}", ixn::convert::summary(&progress));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `ixn reload`: POST /v1/admin/reload to the server running `config`.
async fn reload(config: &std::path::Path, url: Option<String>) -> anyhow::Result<ExitCode> {
    let base = match url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            // Only `[server] listen` is needed; the file may be the one just
            // broken, so read it leniently.
            let listen = ixn::config::listen_of(config)?;
            format!("http://{listen}")
        }
    };
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/admin/reload"))
        .send()
        .await
        .with_context(|| format!("asking {base} to reload (is `ixn serve` running there?)"))?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .with_context(|| format!("reading the answer of {base}"))?;
    match body["outcome"].as_str() {
        Some("applied") => {
            println!("applied: generation {}", body["generation"]);
            for change in body["changes"].as_array().into_iter().flatten() {
                println!("  {}", change.as_str().unwrap_or_default());
            }
            Ok(ExitCode::SUCCESS)
        }
        Some("unchanged") => {
            println!(
                "unchanged: generation {} runs what the files hold",
                body["generation"]
            );
            Ok(ExitCode::SUCCESS)
        }
        Some("rejected") => {
            eprintln!("rejected; the running config stays:");
            for line in body["rejected"]["errors"].as_array().into_iter().flatten() {
                eprintln!("  {}", line.as_str().unwrap_or_default());
            }
            Ok(ExitCode::FAILURE)
        }
        _ => anyhow::bail!("{base} answered {status}: {body}"),
    }
}
