//! PostgreSQL helpers of the tests that run `ixn serve` on the server at
//! `IXN_TEST_PG_URL`: a schema dropped however the test ends, and one
//! integer read from a query.

use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// Drops a test's schema when it is dropped, failed test or not.
pub struct DropSchema {
    url: String,
    sql: String,
}

impl DropSchema {
    /// Drops `schema` on the server at `url` now (what an earlier run left)
    /// and again when the guard is dropped.
    pub async fn now_and_at_end(conn: &mut PgConnection, url: &str, schema: &str) -> DropSchema {
        let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
        sqlx::raw_sql(AssertSqlSafe(sql.clone()))
            .execute(conn)
            .await
            .expect("drop schema");
        DropSchema {
            url: url.to_string(),
            sql,
        }
    }
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        let (url, sql) = (self.url.clone(), self.sql.clone());
        // Its own thread and runtime: the test's runtime cannot block here.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&url).await {
                    let _ = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}

/// The one integer `sql` selects.
pub async fn scalar(conn: &mut PgConnection, sql: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(sql.to_string()))
        .fetch_one(conn)
        .await
        .expect("query")
}
