//! The conformance suite's [`Harness`] for PostgreSQL: a database is a fresh
//! schema on the server at `IXN_TEST_PG_URL`, dropped with it, looked into
//! from a connection of the test's own.

use std::sync::atomic::{AtomicU64, Ordering};

use ixn_plugin_api::storage::{CustomField, OpenSettings};
use ixn_storage_conformance::Harness;
use ixn_storage_postgres::PostgresBackend;
use sqlx::Connection;

/// The server's URL, from `IXN_TEST_PG_URL`.
pub fn url() -> Option<String> {
    std::env::var("IXN_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Makes PostgreSQL schemas on the test server.
#[derive(Debug, Clone)]
pub struct PgHarness {
    url: Option<String>,
}

impl PgHarness {
    pub fn new() -> Self {
        PgHarness { url: url() }
    }

    fn url(&self) -> &str {
        self.url.as_deref().unwrap_or_default()
    }
}

/// A schema of its own, dropped (with everything in it) when the test ends.
pub struct PgSchema {
    pub url: String,
    pub name: String,
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name);
        // Best effort: a schema left behind by a panic is dropped by the next run's name reuse.
        let _ = on_own_connection(&self.url, None, async |conn| {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(conn).await
        });
    }
}

/// A schema name unique to this process and test.
fn schema_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "ixn_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl Harness for PgHarness {
    type Backend = PostgresBackend;
    type Database = PgSchema;

    fn fresh(&self) -> PgSchema {
        let name = schema_name();
        let drop_first = format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE");
        on_own_connection(self.url(), None, async |conn| {
            sqlx::raw_sql(sqlx::AssertSqlSafe(drop_first))
                .execute(conn)
                .await
                .unwrap();
        });
        PgSchema {
            url: self.url().to_string(),
            name,
        }
    }

    fn settings(&self, db: &PgSchema, custom_fields: Vec<CustomField>) -> OpenSettings {
        OpenSettings {
            settings: serde_json::json!({ "url": db.url, "schema": db.name }).to_string(),
            custom_fields,
        }
    }

    fn outside(&self, db: &PgSchema, sql: &str) {
        on_own_connection(&db.url, Some(&db.name), async |conn| {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(conn)
                .await
                .unwrap();
        });
    }

    fn count(&self, db: &PgSchema, sql: &str) -> i64 {
        on_own_connection(&db.url, Some(&db.name), async |conn| {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
                .fetch_one(conn)
                .await
                .unwrap()
        })
    }

    fn has_index(&self, db: &PgSchema, name: &str) -> bool {
        let n: i64 = on_own_connection(&db.url, Some(&db.name), async |conn| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_indexes \
                 WHERE schemaname = current_schema() AND tablename = 'interactions' AND indexname = $1",
            )
            .bind(name)
            .fetch_one(conn)
            .await
            .unwrap()
        });
        n == 1
    }

    fn skip_reason(&self) -> Option<String> {
        match self.url {
            Some(_) => None,
            None => Some("IXN_TEST_PG_URL is not set (PostgreSQL storage conformance)".into()),
        }
    }
}

/// Runs `f` on a connection of its own, with `search_path` set to `schema`.
pub fn on_own_connection<T>(
    url: &str,
    schema: Option<&str>,
    f: impl AsyncFnOnce(&mut sqlx::PgConnection) -> T,
) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        if let Some(schema) = schema {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "SET search_path TO \"{schema}\""
            )))
            .execute(&mut conn)
            .await
            .unwrap();
        }
        f(&mut conn).await
    })
}
