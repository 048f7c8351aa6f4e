//! Event loggers as a reload sees them: started from their config, kept
//! while it does not change, drained when replaced or removed.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{EventLogger, Writer};
use crate::config::EventLoggerConfig;
use crate::plugins::Registry;

/// A logger, the config it was built from, and its writer task.
pub struct RunningLogger {
    /// What it was built from: a reload keeps it while this is unchanged.
    pub config: EventLoggerConfig,
    /// The SHA-256 of its sink's `.so` file as loaded; `None` for a built-in.
    /// A reload reopens the sink when the file holds another version.
    pub plugin_version: Option<String>,
    /// What the bus offers events to.
    pub logger: Arc<EventLogger>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// A logger whose sink is open and whose writer has not started yet.
pub struct OpenedLogger {
    config: EventLoggerConfig,
    plugin_version: Option<String>,
    logger: Arc<EventLogger>,
    writer: Writer,
}

impl OpenedLogger {
    /// Opens the sink `config` names (blocking plugin call, run off the runtime).
    pub async fn open(registry: &Registry, config: &EventLoggerConfig) -> anyhow::Result<Self> {
        let (reg, r, s) = (
            registry.clone(),
            config.sink.clone(),
            config.sink_settings.clone(),
        );
        let (sink, plugin_version) =
            tokio::task::spawn_blocking(move || reg.open_sink_versioned(&r, &s))
                .await?
                .with_context(|| format!("opening the sink of event logger `{}`", config.name))?;
        let (logger, writer) = EventLogger::new(config, sink);
        Ok(OpenedLogger {
            config: config.clone(),
            plugin_version,
            logger,
            writer,
        })
    }

    /// What it was built from.
    pub fn config(&self) -> &EventLoggerConfig {
        &self.config
    }

    /// The logger, to hand to the bus before its writer runs.
    pub fn logger(&self) -> &Arc<EventLogger> {
        &self.logger
    }

    /// Starts writing now.
    pub fn start(self) -> RunningLogger {
        self.start_after(None)
    }

    /// Starts writing once `previous` has drained, so one logger's records
    /// reach its sinks in order and two writers never share a file.
    pub fn start_after(self, previous: Option<RunningLogger>) -> RunningLogger {
        let cancel = CancellationToken::new();
        let (writer, c) = (self.writer, cancel.clone());
        let task = tokio::spawn(async move {
            if let Some(previous) = previous {
                previous.drain().await;
            }
            writer.run(c).await;
        });
        tracing::info!(logger = %self.config.name, sink = %self.config.sink, "Event logger started.");
        RunningLogger {
            config: self.config,
            plugin_version: self.plugin_version,
            logger: self.logger,
            cancel,
            task,
        }
    }
}

impl RunningLogger {
    /// Writes what it holds, flushes its sink and stops. Call once the bus
    /// offers it nothing more ([`super::EventBus::replace_loggers`]).
    pub async fn drain(self) {
        self.cancel.cancel();
        if let Err(e) = self.task.await {
            tracing::error!(logger = %self.config.name, error = %e, "Event logger writer failed.");
        }
        let st = self.logger.stats();
        tracing::info!(
            logger = %self.config.name,
            written = st.written.load(Relaxed),
            filtered = st.filtered.load(Relaxed),
            discarded = st.discarded_overflow.load(Relaxed) + st.discarded_rejected.load(Relaxed) + st.discarded_shutdown.load(Relaxed),
            "Event logger stopped."
        );
    }
}
