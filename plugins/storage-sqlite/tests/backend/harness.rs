//! The conformance suite's [`Harness`] for SQLite: a database is a file in a
//! temporary directory, looked into from a connection of the test's own.

use ixn_plugin_api::storage::{CustomField, OpenSettings};
use ixn_storage_conformance::{Db, Harness};
use ixn_storage_sqlite::SqliteBackend;
use tempfile::TempDir;

/// Makes SQLite databases in temporary directories.
#[derive(Debug, Default, Clone, Copy)]
pub struct SqliteHarness;

impl SqliteHarness {
    pub fn new() -> Self {
        SqliteHarness
    }
}

/// A temporary directory and the database path in it.
pub struct SqliteDb {
    pub dir: TempDir,
}

impl SqliteDb {
    pub fn path(&self) -> String {
        self.dir
            .path()
            .join("ixn.db")
            .to_string_lossy()
            .into_owned()
    }
}

/// A fresh database for a SQLite-only test.
pub fn new_db() -> Db<'static, SqliteHarness> {
    Db::new(&SqliteHarness)
}

impl Harness for SqliteHarness {
    type Backend = SqliteBackend;
    type Database = SqliteDb;

    fn fresh(&self) -> SqliteDb {
        SqliteDb {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn settings(&self, db: &SqliteDb, custom_fields: Vec<CustomField>) -> OpenSettings {
        OpenSettings {
            settings: serde_json::json!({ "path": db.path() }).to_string(),
            custom_fields,
        }
    }

    fn outside(&self, db: &SqliteDb, sql: &str) {
        on_own_connection(db, async |conn| {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(conn)
                .await
                .unwrap();
        });
    }

    fn count(&self, db: &SqliteDb, sql: &str) -> i64 {
        on_own_connection(db, async |conn| {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(conn)
                .await
                .unwrap()
        })
    }

    fn has_index(&self, db: &SqliteDb, name: &str) -> bool {
        let n: i64 = on_own_connection(db, async |conn| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM sqlite_master \
                 WHERE type = 'index' AND tbl_name = 'interactions' AND name = ?",
            )
            .bind(name)
            .fetch_one(conn)
            .await
            .unwrap()
        });
        n == 1
    }
}

/// Runs `f` on a connection of its own to the database, as an operator
/// would from outside.
fn on_own_connection<T>(db: &SqliteDb, f: impl AsyncFnOnce(&mut sqlx::SqliteConnection) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::ConnectOptions;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db.path())
            .connect()
            .await
            .unwrap();
        f(&mut conn).await
    })
}
