//! Write transactions on pooled SQLite connections.
//!
//! sqlx's own `Transaction` counts its depth on the connection and trusts
//! that `COMMIT` or `ROLLBACK` succeeds. When SQLite fails a transaction by
//! itself (disk full, I/O error) it rolls it back automatically; sqlx's
//! rollback on drop then fails with "no transaction is active", the depth
//! stays at one, and the connection goes back to the pool answering every
//! later `BEGIN` with "attempted to call begin_with at non-zero transaction
//! depth" — one failed commit wedged the server until restart. [`WriteTx`]
//! issues the statements itself and gives a connection back to the pool only
//! when it knows the transaction ended; in every other case the connection is
//! closed (which rolls back whatever SQLite still holds) and the pool opens a
//! fresh one when it needs it.

use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, Sqlite, SqliteConnection, SqlitePool};

/// A write transaction on one pooled connection.
///
/// End it with [`WriteTx::commit`], [`WriteTx::rollback`] or
/// [`WriteTx::finish`]; dropped otherwise (an early return, a cancelled
/// task), its connection is closed instead of returned.
pub struct WriteTx {
    /// `Some` until the transaction ends.
    conn: Option<PoolConnection<Sqlite>>,
}

impl WriteTx {
    /// Takes a connection from the pool and runs `begin` on it (e.g.
    /// `BEGIN IMMEDIATE`, which takes the write lock at once).
    pub async fn begin(pool: &SqlitePool, begin: &'static str) -> Result<WriteTx, sqlx::Error> {
        let mut conn = pool.acquire().await?;
        if let Err(e) = sqlx::raw_sql(AssertSqlSafe(begin))
            .execute(&mut *conn)
            .await
        {
            // The connection's state is unknown now: do not reuse it.
            conn.close_on_drop();
            return Err(e);
        }
        Ok(WriteTx { conn: Some(conn) })
    }

    /// The connection to run the transaction's statements on.
    pub fn conn(&mut self) -> &mut SqliteConnection {
        match self.conn.as_mut() {
            Some(conn) => conn,
            // Commit, rollback and finish consume `self`: no caller can get here.
            None => unreachable!("a WriteTx is used after it ended"),
        }
    }

    /// Commits. On failure the transaction is rolled back (or the connection
    /// closed) and the commit's error returned.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        let Some(mut conn) = self.conn.take() else {
            return Ok(());
        };
        match sqlx::raw_sql("COMMIT").execute(&mut *conn).await {
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "COMMIT failed; the transaction is rolled back.");
                end_with_rollback(conn).await;
                Err(e)
            }
        }
    }

    /// Rolls back; a connection that cannot roll back is closed.
    pub async fn rollback(mut self) {
        if let Some(conn) = self.conn.take() {
            end_with_rollback(conn).await;
        }
    }

    /// Commits when `result` is `Ok` and rolls back when it is `Err`, then
    /// returns it; a failed commit becomes the error `commit_failed` makes.
    pub async fn finish<T, E>(
        self,
        result: Result<T, E>,
        commit_failed: impl FnOnce(sqlx::Error) -> E,
    ) -> Result<T, E> {
        match result {
            Ok(value) => self.commit().await.map(|()| value).map_err(commit_failed),
            Err(e) => {
                self.rollback().await;
                Err(e)
            }
        }
    }
}

/// Rolls back; if that fails too (SQLite may already have rolled back by
/// itself, or the connection is broken), the connection is closed, never reused.
async fn end_with_rollback(mut conn: PoolConnection<Sqlite>) {
    if let Err(e) = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await {
        tracing::debug!(error = %e, "ROLLBACK failed; the connection is closed instead of reused.");
        conn.close_on_drop();
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            conn.close_on_drop();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    async fn pool(dir: &tempfile::TempDir) -> SqlitePool {
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("t.db"))
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .unwrap();
        sqlx::raw_sql("CREATE TABLE t (x TEXT NOT NULL)")
            .execute(&pool)
            .await
            .unwrap();
        pool
    }

    async fn count(pool: &SqlitePool) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(pool)
            .await
            .unwrap()
    }

    /// The wedge of issue 6: SQLite rolls a transaction back by itself when
    /// the database is full; the one pooled connection must still begin the
    /// next transaction, and commit it once there is room again.
    #[tokio::test]
    async fn a_transaction_failed_by_a_full_database_leaves_the_pool_usable() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir).await;
        // Cap the file at its current size on the pool's only connection.
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&pool)
            .await
            .unwrap();
        sqlx::raw_sql(AssertSqlSafe(format!("PRAGMA max_page_count = {pages}")))
            .execute(&pool)
            .await
            .unwrap();

        let mut tx = WriteTx::begin(&pool, "BEGIN IMMEDIATE").await.unwrap();
        let big = "x".repeat(100_000);
        let err = sqlx::query("INSERT INTO t VALUES (?)")
            .bind(&big)
            .execute(tx.conn())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("full"), "{err}");
        assert_eq!(crate::classify(&err), crate::Retry::Later);
        tx.rollback().await;

        // Room again: raise the cap on whatever connection the pool holds now.
        sqlx::raw_sql("PRAGMA max_page_count = 1000000")
            .execute(&pool)
            .await
            .unwrap();
        let mut tx = WriteTx::begin(&pool, "BEGIN IMMEDIATE").await.unwrap();
        sqlx::query("INSERT INTO t VALUES (?)")
            .bind(&big)
            .execute(tx.conn())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(count(&pool).await, 1);
    }

    #[tokio::test]
    async fn an_abandoned_transaction_is_rolled_back_and_its_connection_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir).await;
        {
            let mut tx = WriteTx::begin(&pool, "BEGIN IMMEDIATE").await.unwrap();
            sqlx::query("INSERT INTO t VALUES ('lost')")
                .execute(tx.conn())
                .await
                .unwrap();
            // Dropped without an ending, as by an early `?`.
        }
        let mut tx = WriteTx::begin(&pool, "BEGIN IMMEDIATE").await.unwrap();
        sqlx::query("INSERT INTO t VALUES ('kept')")
            .execute(tx.conn())
            .await
            .unwrap();
        tx.finish(Ok::<_, sqlx::Error>(()), |e| e).await.unwrap();
        assert_eq!(count(&pool).await, 1);
    }
}
