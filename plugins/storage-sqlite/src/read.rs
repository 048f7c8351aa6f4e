//! `get` and `counts`: reads outside any write transaction.

use ixn_plugin_api::storage::{Interaction, QueueCount, StorageError};
use sqlx::Row;

use crate::error::{context, db_with};
use crate::row;
use crate::sql::SqlBuilder;
use crate::store::Store;

impl Store {
    /// One interaction by id.
    pub(crate) async fn get(&self, id: String) -> Result<Option<Interaction>, StorageError> {
        let what = format!("get interaction `{id}`");
        let mut select = SqlBuilder::new(&format!(
            "SELECT {} FROM \"interactions\" WHERE \"id\" = ",
            self.schema.select_list
        ));
        select.param(id);
        let found = select
            .build()
            .fetch_optional(&self.pool)
            .await
            .map_err(db_with(&what))?;
        found
            .map(|r| row::interaction(&r, &self.schema))
            .transpose()
            .map_err(context(&what))
    }

    /// Live interactions per queue and state, and those stopped in each queue.
    pub(crate) async fn counts(&self) -> Result<Vec<QueueCount>, StorageError> {
        let what = "count interactions per queue";
        let rows = sqlx::query(
            "SELECT \"queue\",
                SUM(\"stopped_at\" IS NULL AND \"state\" = 0) AS queued,
                SUM(\"stopped_at\" IS NULL AND \"state\" = 1) AS cached,
                SUM(\"stopped_at\" IS NULL AND \"state\" = 2) AS routing,
                SUM(\"stopped_at\" IS NULL AND \"state\" = 3) AS handled,
                SUM(\"stopped_at\" IS NOT NULL) AS stopped
             FROM \"interactions\" GROUP BY \"queue\" ORDER BY \"queue\"",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_with(what))?;
        let count = |row: &sqlx::sqlite::SqliteRow, column: &str| -> Result<u64, StorageError> {
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
