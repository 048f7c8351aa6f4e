//! The connection pool and the schema, shared by the operations
//! (`submit.rs`, `claim.rs`, `apply.rs`, `read.rs`, `lease.rs`, `convert.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use ixn_plugin_api::storage::{CustomField, StorageError};
use ixn_sql::WriteTx;
use ixn_sql::interactions::fields_change::check_change;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqliteConnection, SqlitePool};

use crate::error::{context, db_with};
use crate::schema::{self, Schema};
use crate::settings::Settings;

/// Every write transaction starts with this: it takes the write lock at once,
/// so two writers queue on the busy timeout instead of one of them failing
/// with SQLITE_BUSY when it upgrades a read transaction to a write.
pub(crate) const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// An open database.
pub(crate) struct Store {
    pub pool: SqlitePool,
    /// Swapped whole by `update_fields`; each operation takes it once.
    schema: RwLock<Arc<Schema>>,
    /// Set once `update_fields` has added columns: from then on a read
    /// outside a write transaction first makes its connection see them.
    fields_changed: AtomicBool,
}

impl Store {
    /// Connects (creating the file if missing) and migrates the table.
    pub async fn open(settings: Settings, schema: Schema) -> Result<Store, StorageError> {
        let what = format!("open sqlite database `{}`", settings.path.display());
        let options = SqliteConnectOptions::new()
            .filename(&settings.path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(settings.busy_timeout);
        // SQLite's page size is 4096 bytes unless the file says otherwise: 256 pages a MiB.
        let options = match settings.max_size_mb {
            0 => options,
            mb => options.pragma("max_page_count", mb.saturating_mul(256).to_string()),
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(settings.max_connections)
            .connect_with(options)
            .await
            .map_err(db_with(&what))?;
        let mut tx = WriteTx::begin(&pool, BEGIN_WRITE)
            .await
            .map_err(db_with(format!("{what}: begin migration")))?;
        let migrated = schema::migrate(tx.conn(), &schema)
            .await
            .map_err(context(&what));
        tx.finish(migrated, db_with(format!("{what}: commit migration")))
            .await?;
        Ok(Store {
            pool,
            schema: RwLock::new(Arc::new(schema)),
            fields_changed: AtomicBool::new(false),
        })
    }

    /// The schema now; an operation holds on to it from start to end.
    pub fn schema(&self) -> Arc<Schema> {
        // A poisoned lock still holds a whole schema: only a swap writes it.
        match self.schema.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Takes a new set of custom fields: checks, in one write transaction,
    /// that no stored value would be hidden or broken by it, adds the new
    /// columns and indexes, then swaps the schema.
    pub async fn update_fields(&self, fields: Vec<CustomField>) -> Result<(), StorageError> {
        let what = "take new custom fields";
        let new = Schema::new(fields)?;
        let old = self.schema();
        let mut tx = WriteTx::begin(&self.pool, BEGIN_WRITE)
            .await
            .map_err(db_with(format!("{what}: begin")))?;
        let checked = async {
            check_change(tx.conn(), &old, &new).await?;
            schema::migrate(tx.conn(), &new).await
        }
        .await
        .map_err(context(what));
        tx.finish(checked, db_with(format!("{what}: commit")))
            .await?;
        let mut slot = match self.schema.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = Arc::new(new);
        self.fields_changed.store(true, Ordering::Release);
        Ok(())
    }

    /// Makes a pooled connection see columns added since it last read the
    /// schema. SQLite checks its cached schema when a statement runs, not
    /// when one is prepared: a statement prepared on a stale cache reads a
    /// new column's quoted name `"region"` as a string literal (SQLite's
    /// double-quoted-string fallback), and sqlx keeps the column names of that
    /// first preparation. Running any statement on the table first reloads
    /// the cache. Free until the fields change; then one tiny statement per
    /// operation.
    pub async fn refresh_schema(&self, conn: &mut SqliteConnection) -> Result<(), StorageError> {
        if !self.fields_changed.load(Ordering::Acquire) {
            return Ok(());
        }
        sqlx::raw_sql("SELECT 1 FROM \"interactions\" LIMIT 0")
            .execute(&mut *conn)
            .await
            .map_err(db_with("reload the table's columns"))?;
        Ok(())
    }
}
