//! `recover-expired`, `release-leases` and `move-queue`: interactions put
//! (back) in a queue, queued, their lease ended.

use ixn_plugin_api::storage::{Recovered, StorageError};
use ixn_sql::interactions::leases::recovered;

use crate::error::db_with;
use crate::store::Store;

impl Store {
    /// Every live interaction whose lease ended before `now` is queued again,
    /// its lease cleared and `lease_expiries` counted up. One statement, so
    /// it is atomic without an explicit transaction.
    pub(crate) async fn recover_expired(&self, now: i64) -> Result<Vec<Recovered>, StorageError> {
        let what = "recover interactions with expired leases";
        let rows: Vec<(String, String)> = sqlx::query_as(
            "UPDATE \"interactions\"
                SET \"state\" = 0, \"lease_owner\" = NULL, \"lease_until\" = NULL,
                    \"lease_expiries\" = \"lease_expiries\" + 1
              WHERE \"lease_until\" < ? AND \"stopped_at\" IS NULL
              RETURNING \"id\", \"queue\"",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db_with(what))?;
        Ok(recovered(rows))
    }

    /// Every live interaction leased by an owner whose name starts with
    /// `prefix` is queued again at once (a host shutting down gives back what
    /// it still holds). Not counted as a lease expiry.
    pub(crate) async fn release_leases(
        &self,
        prefix: String,
    ) -> Result<Vec<Recovered>, StorageError> {
        let what = format!("release the leases of `{prefix}*`");
        // substr, not LIKE: an owner name may hold `%` or `_`.
        let rows: Vec<(String, String)> = sqlx::query_as(
            "UPDATE \"interactions\"
                SET \"state\" = 0, \"lease_owner\" = NULL, \"lease_until\" = NULL
              WHERE \"lease_owner\" IS NOT NULL AND substr(\"lease_owner\", 1, length(?1)) = ?1
                AND \"stopped_at\" IS NULL
              RETURNING \"id\", \"queue\"",
        )
        .bind(prefix.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db_with(&what))?;
        Ok(recovered(rows))
    }

    /// Every live interaction of the removed queue `from` goes to `to`,
    /// queued, its lease ended. One statement, so atomic.
    pub(crate) async fn move_queue(
        &self,
        from: String,
        to: String,
        now: i64,
    ) -> Result<Vec<Recovered>, StorageError> {
        let what = format!("move the interactions of removed queue `{from}` to `{to}`");
        if to.is_empty() || from == to {
            return Err(StorageError::permanent(format!(
                "{what}: the target must be another queue"
            )));
        }
        let rows: Vec<(String, String)> = sqlx::query_as(
            "UPDATE \"interactions\"
                SET \"queue\" = ?2, \"state\" = 0, \"lease_owner\" = NULL, \"lease_until\" = NULL,
                    \"placed_in_queue_at\" = ?3, \"moved_to_queue_at\" = ?3
              WHERE \"queue\" = ?1 AND \"stopped_at\" IS NULL
              RETURNING \"id\", \"queue\"",
        )
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db_with(&what))?;
        Ok(recovered(rows))
    }
}
