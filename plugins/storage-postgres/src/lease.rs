//! `recover-expired`, `release-leases` and `move-queue`: interactions put
//! (back) in a queue, queued, their lease ended. Each is one statement, so
//! atomic without an explicit transaction.

use std::collections::BTreeSet;

use ixn_plugin_api::storage::{Recovered, StorageError};
use ixn_sql::interactions::errors::db_with;
use ixn_sql::interactions::leases::recovered;

use crate::store::Store;

impl Store {
    /// Every live interaction whose lease ended before `now` is queued again,
    /// its lease cleared and `lease_expiries` counted up: a killed host's
    /// work comes back to the others.
    pub(crate) async fn recover_expired(&self, now: i64) -> Result<Vec<Recovered>, StorageError> {
        let what = "recover interactions with expired leases";
        let rows: Vec<(String, String)> = sqlx::query_as(
            "UPDATE \"interactions\"
                SET \"state\" = 0, \"lease_owner\" = NULL, \"lease_until\" = NULL,
                    \"lease_expiries\" = \"lease_expiries\" + 1
              WHERE \"lease_until\" < $1 AND \"stopped_at\" IS NULL
              RETURNING \"id\", \"queue\"",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db_with(what))?;
        self.put_back(rows).await
    }

    /// Every live interaction leased by an owner whose name starts with
    /// `prefix` is queued again at once (a host shutting down gives back what
    /// it still holds). Not counted as a lease expiry.
    pub(crate) async fn release_leases(
        &self,
        prefix: String,
    ) -> Result<Vec<Recovered>, StorageError> {
        let what = format!("release the leases of `{prefix}*`");
        // starts_with, not LIKE: an owner name may hold `%` or `_`.
        let rows: Vec<(String, String)> = sqlx::query_as(
            "UPDATE \"interactions\"
                SET \"state\" = 0, \"lease_owner\" = NULL, \"lease_until\" = NULL
              WHERE \"lease_owner\" IS NOT NULL AND starts_with(\"lease_owner\", $1)
                AND \"stopped_at\" IS NULL
              RETURNING \"id\", \"queue\"",
        )
        .bind(prefix.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db_with(&what))?;
        self.put_back(rows).await
    }

    /// Every live interaction of the removed queue `from` goes to `to`,
    /// queued, its lease ended.
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
                SET \"queue\" = $2, \"state\" = 0, \"lease_owner\" = NULL, \"lease_until\" = NULL,
                    \"placed_in_queue_at\" = $3, \"moved_to_queue_at\" = $3
              WHERE \"queue\" = $1 AND \"stopped_at\" IS NULL
              RETURNING \"id\", \"queue\"",
        )
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db_with(&what))?;
        self.put_back(rows).await
    }
}

impl Store {
    /// Announces the queues the rows were put back in (after the statement's
    /// commit: a listener that claims at once finds them) and answers them.
    /// A failed announcement is only logged: the rows are back either way,
    /// and the other hosts' views find them at their next check.
    async fn put_back(&self, rows: Vec<(String, String)>) -> Result<Vec<Recovered>, StorageError> {
        let queues: BTreeSet<String> = rows.iter().map(|(_, q)| q.clone()).collect();
        if let Err(e) = self.announce(&self.pool, &queues).await {
            tracing::warn!(error = %e, "postgres storage: could not announce interactions put back in their queues");
        }
        Ok(recovered(rows))
    }
}
