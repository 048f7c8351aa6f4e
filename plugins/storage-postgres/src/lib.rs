//! `postgres`: the PostgreSQL storage backend of ixn, for several hosts
//! sharing one database.
//!
//! Interactions live in the table `interactions` of one PostgreSQL schema
//! (`schema`, default `ixn`, created when missing), with the same layout as
//! on SQLite ([`ixn_sql::interactions`]): standard columns, one typed,
//! indexed column per custom field, and the `flexible_properties` blob as
//! JSONB. The standard tables come from versioned migrations run by sqlx's
//! migrator (`migrations/`, under an advisory lock, so hosts starting
//! together migrate once); custom-field columns are added at open and by
//! `update-fields`, as configuration changes them.
//!
//! Claims select `FOR UPDATE SKIP LOCKED` and lease in one transaction, so
//! several hosts claim from one queue without waiting on or sharing a row;
//! `apply` checks the lease under a row lock.
//!
//! The table is partitioned by queue (`PARTITION BY LIST`): a default
//! partition, and one per `[[storage.settings.partitions]]` of the plan,
//! applied at open ([`partitions`]).
//!
//! Settings (`[storage.settings]`): `url` (required, `postgres://…`),
//! `schema` (default `ixn`), `max-connections` (default 8),
//! `connect-timeout-ms` (default 5000), `partitions` (an array of tables with
//! `name`, `queues` and an optional `tablespace`), `poll-only` (default
//! false: idle views on every host are woken by LISTEN/NOTIFY, `notices.rs`).
//!
//! The crate is both a `cdylib` (a plugin `.so` exporting
//! `ixn_plugin_entry_postgres`) and an `rlib` the host links in as a
//! built-in through [`plugin_table`].
#![deny(missing_docs)]

mod apply;
mod apply_bulk;
mod blob;
mod claim;
mod convert;
mod explain;
mod lease;
mod notices;
mod partitions;
mod read;
mod schema;
mod settings;
mod store;
mod submit;
mod view_index;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ixn_plugin_api::storage::{
    ApplyOutcome, ClaimRequest, ConvertProgress, CustomField, DecisionRecord, Interaction,
    MoveQueue, NewInteraction, OpenSettings, QueueCount, Recovered, SettingProblem, StorageBackend,
    StorageError, WorkNotice,
};
use ixn_sql::bridge::BackendRuntime;

use crate::schema::Schema;
use crate::settings::Settings;
use crate::store::Store;

pub use crate::explain::{LARGE_RELATION_ROWS, ViewPlan};
pub use crate::partitions::{DEFAULT_PARTITION_TABLE, PartitionRow};

/// `ixn explain-views`: each `(view, claim request)`'s SELECT as `claim`
/// sends it, PostgreSQL's plan for it, and a warning for each sequential
/// scan of a relation above [`LARGE_RELATION_ROWS`] rows. Changes nothing.
pub async fn explain_views(
    settings: &str,
    custom_fields: Vec<CustomField>,
    views: Vec<(String, ClaimRequest)>,
) -> Result<Vec<ViewPlan>, StorageError> {
    let settings = Settings::parse(settings)?;
    let what = format!("explain the views on postgres schema `{}`", settings.schema);
    let pool = store::connect(&settings)
        .await
        .map_err(ixn_sql::interactions::errors::context(&what))?;
    let plans = explain::explain(&pool, custom_fields, views).await;
    pool.close().await;
    plans
}

/// `ixn partitions`: every partition of the interactions table in the schema
/// `settings` (a `[storage.settings]` document) names, with its bound,
/// tablespace and rows. Reads only; the plan is applied when a host opens
/// the storage.
pub async fn partition_report(settings: &str) -> Result<Vec<PartitionRow>, StorageError> {
    let settings = Settings::parse(settings)?;
    let what = format!(
        "read the partitions of postgres schema `{}`",
        settings.schema
    );
    let pool = store::connect(&settings)
        .await
        .map_err(ixn_sql::interactions::errors::context(&what))?;
    let report = partitions::report(&pool)
        .await
        .map_err(ixn_sql::interactions::errors::context(&what));
    pool.close().await;
    report
}

ixn_plugin_api::export_storage_plugin!(ixn_plugin_entry_postgres, "postgres", PostgresBackend);

/// FNV-1a of `text`'s bytes: a hash stable across processes and hosts
/// (stop-count shards, view index names), unlike std's.
pub(crate) fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// How long dropping the backend waits for the pool to close its connections.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The PostgreSQL storage backend: a connection pool driven by a private tokio runtime.
///
/// Its methods are synchronous and may be called from many threads at once.
pub struct PostgresBackend {
    /// The backend owns its runtime because, loaded as a `.so`, it has its
    /// own copy of tokio that cannot see the host's.
    runtime: BackendRuntime,
    store: Arc<Store>,
}

impl PostgresBackend {
    /// Runs one operation on the backend's runtime and waits for its answer.
    fn run<T, F, Fut>(&self, op: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Store>) -> Fut,
        Fut: Future<Output = Result<T, StorageError>> + Send + 'static,
    {
        self.runtime.run(op(self.store.clone()))
    }
}

impl StorageBackend for PostgresBackend {
    fn validate(settings: &OpenSettings) -> Vec<SettingProblem> {
        let mut problems = Settings::problems(&settings.settings);
        if let Err(e) = Schema::new(settings.custom_fields.clone()) {
            problems.push(SettingProblem::new("custom-fields", e.message));
        }
        problems
    }

    fn open(settings: OpenSettings) -> Result<Self, StorageError> {
        let parsed = Settings::parse(&settings.settings)?;
        let schema = Schema::new(settings.custom_fields)?;
        let runtime = BackendRuntime::start("postgres")?;
        // On an error the runtime is dropped, which stops it without blocking.
        let store = runtime.run(Store::open(parsed, schema))?;
        Ok(PostgresBackend {
            runtime,
            store: Arc::new(store),
        })
    }

    fn submit(&self, batch: Vec<NewInteraction>) -> Result<(), StorageError> {
        self.run(|s| async move { s.submit(batch).await })
    }

    fn claim(&self, request: ClaimRequest) -> Result<Vec<Interaction>, StorageError> {
        self.run(|s| async move { s.claim(request).await })
    }

    fn apply(&self, batch: Vec<DecisionRecord>) -> Result<Vec<ApplyOutcome>, StorageError> {
        self.run(|s| async move { s.apply(batch).await })
    }

    fn get(&self, id: String) -> Result<Option<Interaction>, StorageError> {
        self.run(|s| async move { s.get(id).await })
    }

    fn counts(&self) -> Result<Vec<QueueCount>, StorageError> {
        self.run(|s| async move { s.counts().await })
    }

    fn recover_expired(&self, now: i64) -> Result<Vec<Recovered>, StorageError> {
        self.run(|s| async move { s.recover_expired(now).await })
    }

    fn release_leases(&self, owner_prefix: String) -> Result<Vec<Recovered>, StorageError> {
        self.run(|s| async move { s.release_leases(owner_prefix).await })
    }

    fn move_queue(&self, request: MoveQueue) -> Result<Vec<Recovered>, StorageError> {
        let MoveQueue { from, to, now } = request;
        self.run(|s| async move { s.move_queue(from, to, now).await })
    }

    fn update_fields(&self, fields: Vec<CustomField>) -> Result<(), StorageError> {
        self.run(|s| async move { s.update_fields(fields).await })
    }

    fn convert_start(&self, reset: bool) -> Result<ConvertProgress, StorageError> {
        self.run(|s| async move { s.convert_start(reset).await })
    }

    fn convert_step(&self, bulk_size: u32) -> Result<ConvertProgress, StorageError> {
        self.run(|s| async move { s.convert_step(bulk_size).await })
    }

    fn wait_for_work(&self, timeout_ms: u32) -> Result<WorkNotice, StorageError> {
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        self.run(|s| async move { Ok(s.wait_for_work(timeout).await) })
    }
}

impl Drop for PostgresBackend {
    /// Closes the pool, waiting at most [`CLOSE_TIMEOUT`], then stops the
    /// runtime without blocking: dropping a runtime the ordinary way panics
    /// inside an async context.
    fn drop(&mut self) {
        let pool = self.store.pool.clone();
        self.runtime
            .shut_down(async move { pool.close().await }, CLOSE_TIMEOUT);
    }
}
