//! Event loggers as a reload sees them: started from their config, kept
//! while it does not change, drained when replaced or removed.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use ixn_plugin_api::sink::EventRecord;

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
    /// Ends with the records the sink did not take.
    task: JoinHandle<Vec<EventRecord>>,
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
    /// reach its sinks in order and two writers never share a file. What
    /// `previous` could not write (its sink down) is written first.
    pub fn start_after(self, previous: Option<RunningLogger>) -> RunningLogger {
        let cancel = CancellationToken::new();
        let (writer, c) = (self.writer, cancel.clone());
        let task = tokio::spawn(async move {
            let carried = match previous {
                Some(previous) => previous.hand_over().await,
                None => Vec::new(),
            };
            writer.run(c, carried).await
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
    /// Writes what it holds, flushes its sink and stops, for good: what the
    /// sink did not take is lost, counted as `discarded_shutdown`. Call once
    /// the bus offers it nothing more ([`super::EventBus::replace_loggers`]).
    pub async fn drain(self) {
        let logger = self.logger.clone();
        let name = self.config.name.clone();
        let left = self.hand_over().await;
        if !left.is_empty() {
            let st = logger.stats();
            st.discarded_shutdown.fetch_add(left.len() as u64, Relaxed);
            st.last_loss_at.store(crate::time::now_ms(), Relaxed);
            tracing::error!(logger = %name, records = left.len(), "Event logger stopped with records its sink did not take; they are lost.");
        }
    }

    /// Writes what it holds, flushes its sink, stops and returns what the
    /// sink did not take, for the logger that replaces it.
    pub async fn hand_over(self) -> Vec<EventRecord> {
        self.cancel.cancel();
        let left = match self.task.await {
            Ok(left) => left,
            Err(e) => {
                tracing::error!(logger = %self.config.name, error = %e, "Event logger writer failed.");
                Vec::new()
            }
        };
        let st = self.logger.stats();
        tracing::info!(
            logger = %self.config.name,
            written = st.written.load(Relaxed),
            filtered = st.filtered.load(Relaxed),
            discarded = st.discarded_overflow.load(Relaxed) + st.discarded_rejected.load(Relaxed) + st.discarded_shutdown.load(Relaxed),
            "Event logger stopped."
        );
        left
    }
}
