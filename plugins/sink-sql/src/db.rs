//! The open database, SQLite or PostgreSQL, behind the few operations the
//! rest of the sink needs: run a statement, list a table's columns, count.
//!
//! Statement text comes from [`Dialect`]; this module only knows how each
//! driver runs it.

use std::str::FromStr;
use std::time::Duration;

use ixn_plugin_api::sink::SinkError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, PgPool, SqlitePool};

use crate::dialect::Dialect;
use crate::error::{Context, db_error};
use crate::schema::Table;
use crate::settings::{Database, Settings};

/// How long SQLite waits for another writer before a call fails as retriable.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a call waits for a connection before failing as retriable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a call waits for a PostgreSQL connection, connecting included,
/// before failing as retriable: the logger tries again after `reconnect-timeout`.
const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// PostgreSQL: one connection writes, one more answers `stored_count` meanwhile.
const PG_CONNECTIONS: u32 = 2;

/// A pool of connections to the sink's database.
#[derive(Clone)]
pub enum Pool {
    /// One connection to a SQLite file.
    Sqlite(SqlitePool),
    /// Connections to a PostgreSQL server.
    Postgres(PgPool),
}

impl Pool {
    /// Connects as the settings say. A server that does not answer is a
    /// retriable error; the message never shows the URL's password.
    pub async fn connect(settings: &Settings) -> Result<Pool, SinkError> {
        let doing = format!("opening the {}", settings.database.describe());
        match &settings.database {
            Database::Sqlite(path) => {
                let options = SqliteConnectOptions::new()
                    .filename(path)
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
                    .map(Pool::Sqlite)
                    .context(&doing)
            }
            Database::Postgres(url) => {
                // `doing` names the URL without its credentials; sqlx's
                // message says what is wrong with it (a port, a parameter).
                let options = PgConnectOptions::from_str(url)
                    .map_err(|e| {
                        SinkError::permanent(format!(
                            "sql sink: {doing}: the URL does not parse: {e}"
                        ))
                    })?
                    .application_name("ixn-sink-sql");
                PgPoolOptions::new()
                    .max_connections(PG_CONNECTIONS)
                    .min_connections(0)
                    .acquire_timeout(PG_ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await
                    .map(Pool::Postgres)
                    .context(&doing)
            }
        }
    }

    /// The dialect of SQL this database speaks.
    pub fn dialect(&self) -> Dialect {
        match self {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs statements without parameters (several, separated by `;`).
    pub async fn execute(
        &self,
        sql: String,
        doing: impl FnOnce() -> String,
    ) -> Result<(), SinkError> {
        let result = match self {
            Pool::Sqlite(pool) => sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(pool)
                .await
                .map(drop),
            Pool::Postgres(pool) => sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(pool)
                .await
                .map(drop),
        };
        result.map_err(db_error(doing))
    }

    /// The column names of a table in `schema` (or the default schema).
    pub async fn columns(
        &self,
        schema: Option<&str>,
        table: Table,
    ) -> Result<Vec<String>, SinkError> {
        let sql = self.dialect().list_columns();
        let result = match self {
            Pool::Sqlite(pool) => {
                sqlx::query_scalar(AssertSqlSafe(sql))
                    .bind(table.name())
                    .fetch_all(pool)
                    .await
            }
            Pool::Postgres(pool) => {
                sqlx::query_scalar(AssertSqlSafe(sql))
                    .bind(schema)
                    .bind(table.name())
                    .fetch_all(pool)
                    .await
            }
        };
        result.map_err(db_error(|| {
            format!("reading the columns of {}", table.name())
        }))
    }

    /// A query answering one integer.
    pub async fn scalar(&self, sql: String, doing: &str) -> Result<i64, SinkError> {
        let result = match self {
            Pool::Sqlite(pool) => sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(pool).await,
            Pool::Postgres(pool) => sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(pool).await,
        };
        result.context(doing)
    }

    /// Closes every connection (SQLite checkpoints its WAL).
    pub async fn close(&self) {
        match self {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}
