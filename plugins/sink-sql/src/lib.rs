//! `ixn-sink-sql`: the Event Logger's database tables, on SQLite or PostgreSQL.
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
//! Every table has the columns `id` (filled by the database), `origin` and
//! `sequence` (unique together: a re-sent batch adds no rows), `generation`
//! (the config generation that produced the event), `event_id`,
//! `event_name`, `endpoint`, `occurred_at` (ms since the epoch),
//! `interaction_id` (NULL where the event has none, as for agent events) and
//! `attributes` (a JSON object of all the event's fields; JSONB on
//! PostgreSQL), then `agent_id` in `rpt_agent`, `request_id` in `rpt_esp`
//! and `stored_at` (ms since the epoch) in `rpt_custom`,
//! then one column per custom data mapping of that table (see [`settings`]).
//!
//! The seed's retention rules run in the transaction that stores the event
//! ending the rows (see [`write`]); each can be switched off to keep the data,
//! like disabling the original's triggers.
//!
//! The host calls the synchronous [`Sink`] methods from its blocking threads.
//! sqlx is async, so the sink owns a one-worker tokio runtime (its own copy
//! when loaded as a `.so`) and runs each call there as a task, waiting for the
//! answer on a channel ([`ixn_sql::bridge::run_on`]).
//!
//! All SQL text comes from [`dialect`]; [`db`] runs it on either database.
#![deny(missing_docs)]

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::sync_channel;
use std::time::Duration;

use ixn_plugin_api::sink::{EventRecord, SettingProblem, Sink, SinkError};
use tokio::runtime::Runtime;

pub mod db;
pub mod dialect;
pub mod error;
pub mod insert;
pub mod schema;
pub mod settings;
pub mod write;

use db::Pool;
use settings::{Database, Settings};

ixn_plugin_api::export_sink_plugin!(ixn_plugin_entry_sql, "sql", SqlSink);

/// How long closing waits for the connections to shut down cleanly.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQL sink: an open database holding the Event Logger's tables.
pub struct SqlSink {
    /// `Some` until dropped.
    runtime: Option<Runtime>,
    pool: Pool,
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

/// Runs `task` on `runtime` and blocks the calling thread until it answers.
fn run_on<T, F>(runtime: &Runtime, task: F) -> Result<T, SinkError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, SinkError>> + Send + 'static,
{
    ixn_sql::bridge::run_on(runtime, task, || {
        SinkError::permanent("sql sink: the database task ended without an answer (it panicked)")
    })
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

    /// Parses the settings, opens the database (a SQLite file is created if
    /// missing, in WAL mode with `synchronous = NORMAL`), and creates the
    /// schema, missing tables, indexes and custom columns.
    fn open(document: String) -> Result<Self, SinkError> {
        let settings = Arc::new(Settings::parse(&document)?);
        if let Database::Sqlite(path) = &settings.database {
            check_directory(path)?;
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ixn-sink-sql")
            .enable_all()
            .build()
            .map_err(|e| SinkError::permanent(format!("sql sink: starting its runtime: {e}")))?;
        let task_settings = Arc::clone(&settings);
        let opened = run_on(&runtime, async move {
            let pool = Pool::connect(&task_settings).await?;
            match schema::ensure(&pool, &task_settings).await {
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
                settings,
            }),
            Err(e) => {
                runtime.shutdown_background();
                Err(e)
            }
        }
    }

    /// Stores the batch in one transaction: its rows (skipping events
    /// stored before), then the deletions of the retention rules.
    fn write(&self, batch: Vec<EventRecord>) -> Result<(), SinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        let now = write::now_ms();
        let prepared = insert::prepare(batch, &self.settings, now)?;
        let (pool, settings) = (self.pool.clone(), Arc::clone(&self.settings));
        self.run(async move { write::write(&pool, &settings, prepared, now).await })
    }

    /// Nothing to do: every successful `write` has committed its transaction.
    fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }

    /// The rows of the four tables together.
    fn stored_count(&self) -> Result<Option<u64>, SinkError> {
        let (pool, settings) = (self.pool.clone(), Arc::clone(&self.settings));
        self.run(async move { schema::count(&pool, &settings).await })
            .map(Some)
    }
}

impl Drop for SqlSink {
    /// Closes the connections (checkpointing SQLite's WAL) and stops the runtime
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
