//! `sqlite`: the embedded default storage backend of ixn.
//!
//! Interactions live in one table, `interactions`, of a SQLite database file
//! (WAL journal, `synchronous = NORMAL`). Attached data whose key is a
//! configured custom field has its own typed, indexed column; every other key
//! goes to the `flexible_properties` blob (JSON of tagged values). A reload
//! may add fields (`update-fields`); `convert-start`/`convert-step` move
//! stored values between blob and columns in committed bulks (`convert.rs`).
//!
//! Settings (`[storage.settings]`): `path` (required; the database file,
//! created when missing; its directory must exist), `busy-timeout-ms`
//! (default 5000), `max-connections` (default 4).
//!
//! The crate is both a `cdylib` (a plugin `.so` exporting
//! `ixn_plugin_entry_sqlite`) and an `rlib` the host links in as a built-in
//! through [`plugin_table`].
#![deny(missing_docs)]

mod apply;
mod claim;
mod convert;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod lease;
mod read;
mod schema;
mod settings;
mod store;
mod submit;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ixn_plugin_api::storage::{
    ApplyOutcome, ClaimRequest, ConvertProgress, CustomField, DecisionRecord, Interaction,
    MoveQueue, NewInteraction, OpenSettings, QueueCount, Recovered, SettingProblem, StorageBackend,
    StorageError,
};
use ixn_sql::bridge::BackendRuntime;

use crate::schema::Schema;
use crate::settings::Settings;
use crate::store::Store;

ixn_plugin_api::export_storage_plugin!(ixn_plugin_entry_sqlite, "sqlite", SqliteBackend);

/// How long dropping the backend waits for the pool to close its connections.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite storage backend: a connection pool driven by a private tokio runtime.
///
/// Its methods are synchronous and may be called from many threads at once.
pub struct SqliteBackend {
    /// The backend owns its runtime because, loaded as a `.so`, it has its
    /// own copy of tokio that cannot see the host's.
    runtime: BackendRuntime,
    store: Arc<Store>,
}

impl SqliteBackend {
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

impl StorageBackend for SqliteBackend {
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
        let runtime = BackendRuntime::start("sqlite")?;
        // On an error the runtime is dropped, which stops it without blocking.
        let store = runtime.run(Store::open(parsed, schema))?;
        Ok(SqliteBackend {
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
}

impl Drop for SqliteBackend {
    /// Closes the pool (so the last connection checkpoints the WAL), waiting
    /// at most [`CLOSE_TIMEOUT`], then stops the runtime without blocking:
    /// dropping a runtime the ordinary way panics inside an async context.
    fn drop(&mut self) {
        let pool = self.store.pool.clone();
        self.runtime
            .shut_down(async move { pool.close().await }, CLOSE_TIMEOUT);
    }
}
