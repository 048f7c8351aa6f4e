//! `get` and `counts`: reads outside any write transaction.

use ixn_plugin_api::storage::{Interaction, QueueCount, StorageError};
use ixn_sql::interactions::errors::{context, db_with};
use ixn_sql::interactions::row;
use sqlx::Row;

use crate::store::Store;

impl Store {
    /// One interaction by id.
    pub(crate) async fn get(&self, id: String) -> Result<Option<Interaction>, StorageError> {
        let what = format!("get interaction `{id}`");
        let layout = self.layout();
        let found = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM \"interactions\" WHERE \"id\" = $1",
            layout.select_list
        )))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_with(&what))?;
        found
            .map(|r| row::interaction(&r, &layout.schema))
            .transpose()
            .map_err(context(&what))
    }

    /// Live interactions per queue and state, and those stopped in each queue.
    ///
    /// Costs what is live, not what is stored: the live rows are counted
    /// through the partial claim index (`WHERE stopped_at IS NULL`), the
    /// stopped ones are read from their per-queue counts.
    pub(crate) async fn counts(&self) -> Result<Vec<QueueCount>, StorageError> {
        let what = "count interactions per queue";
        let rows = sqlx::query(
            "WITH live AS (
                SELECT \"queue\",
                    COUNT(*) FILTER (WHERE \"state\" = 0) AS queued,
                    COUNT(*) FILTER (WHERE \"state\" = 1) AS cached,
                    COUNT(*) FILTER (WHERE \"state\" = 2) AS routing,
                    COUNT(*) FILTER (WHERE \"state\" = 3) AS handled
                FROM \"interactions\" WHERE \"stopped_at\" IS NULL GROUP BY \"queue\"),
             stopped AS (
                SELECT \"queue\", SUM(\"stopped\")::bigint AS \"stopped\"
                FROM \"queue_stopped_counts\" GROUP BY \"queue\"),
             queues AS (
                SELECT \"queue\" FROM live UNION SELECT \"queue\" FROM stopped)
             SELECT q.\"queue\",
                COALESCE(l.queued, 0) AS queued, COALESCE(l.cached, 0) AS cached,
                COALESCE(l.routing, 0) AS routing, COALESCE(l.handled, 0) AS handled,
                COALESCE(s.\"stopped\", 0) AS stopped
             FROM queues q
             LEFT JOIN live l ON l.\"queue\" = q.\"queue\"
             LEFT JOIN stopped s ON s.\"queue\" = q.\"queue\"
             ORDER BY q.\"queue\"",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_with(what))?;
        let count = |row: &sqlx::postgres::PgRow, column: &str| -> Result<u64, StorageError> {
            let n: i64 = row.try_get(column).map_err(db_with(what))?;
            Ok(u64::try_from(n).unwrap_or(0))
        };
        rows.iter()
            .map(|r| {
                Ok(QueueCount {
                    queue: r.try_get("queue").map_err(db_with(what))?,
                    queued: count(r, "queued")?,
                    cached: count(r, "cached")?,
                    routing: count(r, "routing")?,
                    handled: count(r, "handled")?,
                    stopped: count(r, "stopped")?,
                })
            })
            .collect()
    }
}
