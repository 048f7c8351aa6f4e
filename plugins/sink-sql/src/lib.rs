//! `ixn-sink-sql`: the Event Logger's database tables, on SQLite.
//!
//! The host's event logger hands this sink batches of reporting events that it
//! has already filtered and mapped; each record goes to the table of its
//! activity, as in the original's `elddb_*.sql` schema:
//!
//! | activity | table |
//! |---|---|
//! | `interaction` | `rpt_interaction` |
//! | `agent` | `rpt_agent` |
//! | `esp` | `rpt_esp` |
//! | `custom` | `rpt_custom` |
//!
//! Every table has the columns `id INTEGER PRIMARY KEY`, `origin` and
//! `sequence` (unique together: a re-sent batch adds no rows), `generation`
//! (the config generation that produced the event), `event_id`,
//! `event_name`, `endpoint`, `occurred_at` (ms since the epoch),
//! `interaction_id` (NULL where the event has none, as for agent events) and
//! `attributes` (a JSON object of all the event's fields), then one column per
//! custom data mapping of that table (see [`settings`]). With `delete-on-stop`
//! (the default, like the original's trigger `trg_delete_stopped`) the
//! `rpt_interaction` rows of an interaction are deleted in the same transaction
//! that stores its `EventProcessingStopped`.
//!
//! The host calls the synchronous [`Sink`] methods from its blocking threads.
//! sqlx is async, so the sink owns a one-worker tokio runtime (its own copy
//! when loaded as a `.so`) and runs each call there as a task, waiting for the
//! answer on a channel. Unlike `Runtime::block_on`, that works from any thread,
//! even one inside another runtime's async context, so a built-in sink sharing
//! the host's tokio cannot panic with "cannot start a runtime from within a runtime".
//!
//! All SQL text comes from [`dialect`], so that a second database fits there.
#![deny(missing_docs)]

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::sync_channel;
use std::time::Duration;

use ixn_plugin_api::sink::{EventRecord, SettingProblem, Sink, SinkError};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::runtime::Runtime;

pub mod dialect;
pub mod error;
pub mod insert;
pub mod schema;
pub mod settings;

use dialect::Dialect;
use error::Context;
use settings::Settings;

ixn_plugin_api::export_sink_plugin!(ixn_plugin_entry_sql, "sql", SqlSink);

/// How long SQLite waits for another writer before a call fails as retriable.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a call waits for the (single) connection before failing as retriable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long closing waits for the connection to shut down cleanly.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQL sink: an open SQLite database holding the Event Logger's tables.
pub struct SqlSink {
    /// `Some` until dropped.
    runtime: Option<Runtime>,
    pool: SqlitePool,
    dialect: Dialect,
    settings: Arc<Settings>,
}

impl SqlSink {
    /// The parsed settings this sink was opened with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Runs a database task on the sink's runtime and waits for its answer.
    fn run<T, F>(&self, task: F) -> Result<T, SinkError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, SinkError>> + Send + 'static,
    {
        match &self.runtime {
            Some(runtime) => run_on(runtime, task),
            None => Err(SinkError::permanent("sql sink: already closed")),
        }
    }
}

/// Spawns `task` on `runtime` and blocks the calling thread until it answers.
fn run_on<T, F>(runtime: &Runtime, task: F) -> Result<T, SinkError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, SinkError>> + Send + 'static,
{
    let (tx, rx) = sync_channel(1);
    runtime.spawn(async move {
        // The receiver only goes away if the caller is gone too.
        let _ = tx.send(task.await);
    });
    rx.recv().map_err(|_| {
        SinkError::permanent("sql sink: the database task ended without an answer (it panicked)")
    })?
}

async fn connect(settings: &Settings) -> Result<SqlitePool, SinkError> {
    let options = SqliteConnectOptions::new()
        .filename(&settings.path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT);
    // SQLite's page size is 4096 bytes unless the file says otherwise: 256 pages a MiB.
    let options = match settings.max_size_mb {
        0 => options,
        mb => options.pragma("max_page_count", mb.saturating_mul(256).to_string()),
    };
    SqlitePoolOptions::new()
        // SQLite has one writer at a time; one connection keeps the sink from
        // queueing behind itself on the database lock.
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options)
        .await
        .context(&format!(
            "opening SQLite database `{}`",
            settings.path.display()
        ))
}

/// Refuses a database path whose directory is missing, with a clearer message than SQLite's.
fn check_directory(path: &Path) -> Result<(), SinkError> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() && !parent.is_dir() => {
            Err(SinkError::permanent(format!(
                "sql sink: the directory `{}` of the database `{}` does not exist",
                parent.display(),
                path.display()
            )))
        }
        _ => Ok(()),
    }
}

impl Sink for SqlSink {
    fn validate(settings: &str) -> Vec<SettingProblem> {
        Settings::problems(settings)
    }

    /// Parses the settings, opens (or creates) the database in WAL mode with
    /// `synchronous = NORMAL`, and creates missing tables and custom columns.
    fn open(document: String) -> Result<Self, SinkError> {
        let settings = Arc::new(Settings::parse(&document)?);
        check_directory(&settings.path)?;
        let dialect = Dialect::Sqlite;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ixn-sink-sql")
            .enable_all()
            .build()
            .map_err(|e| SinkError::permanent(format!("sql sink: starting its runtime: {e}")))?;
        let task_settings = Arc::clone(&settings);
        let opened = run_on(&runtime, async move {
            let pool = connect(&task_settings).await?;
            match schema::ensure(&pool, dialect, &task_settings).await {
                Ok(()) => Ok(pool),
                Err(e) => {
                    pool.close().await;
                    Err(e)
                }
            }
        });
        match opened {
            Ok(pool) => Ok(SqlSink {
                runtime: Some(runtime),
                pool,
                dialect,
                settings,
            }),
            Err(e) => {
                runtime.shutdown_background();
                Err(e)
            }
        }
    }

    /// Stores the batch in one transaction: multi-row inserts per table that
    /// skip already-stored sequences, then the deletion of stopped interactions.
    fn write(&self, batch: Vec<EventRecord>) -> Result<(), SinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        let prepared = insert::prepare(batch, &self.settings)?;
        let (pool, dialect, settings) =
            (self.pool.clone(), self.dialect, Arc::clone(&self.settings));
        self.run(async move { insert::write(&pool, dialect, &settings, prepared).await })
    }

    /// Nothing to do: every successful `write` has committed its transaction.
    fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }

    /// The rows of the four tables together.
    fn stored_count(&self) -> Result<Option<u64>, SinkError> {
        let (pool, dialect, settings) =
            (self.pool.clone(), self.dialect, Arc::clone(&self.settings));
        self.run(async move { schema::count(&pool, dialect, &settings).await })
            .map(Some)
    }
}

impl Drop for SqlSink {
    /// Closes the connection (checkpointing the WAL) and stops the runtime
    /// without blocking on it, so dropping is safe from any thread.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            let pool = self.pool.clone();
            let (tx, rx) = sync_channel(1);
            runtime.spawn(async move {
                pool.close().await;
                let _ = tx.send(());
            });
            let _ = rx.recv_timeout(CLOSE_TIMEOUT);
            runtime.shutdown_background();
        }
    }
}
