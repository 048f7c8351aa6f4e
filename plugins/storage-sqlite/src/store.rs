//! The connection pool and the schema, shared by the operations
//! (`submit.rs`, `claim.rs`, `apply.rs`, `read.rs`, `lease.rs`).

use ixn_plugin_api::storage::StorageError;
use ixn_sql::WriteTx;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

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
    pub schema: Schema,
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
        Ok(Store { pool, schema })
    }
}
