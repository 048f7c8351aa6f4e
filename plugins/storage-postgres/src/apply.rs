//! `apply`: decisions of BP plugins on claimed interactions.

use std::collections::{BTreeMap, BTreeSet};

use ixn_plugin_api::storage::{ApplyOutcome, DecisionRecord, Outcome, StorageError};
use ixn_sql::interactions::errors::{db, db_with};
use ixn_sql::interactions::properties::{apply_changes, decode_blob, encode_blob};
use ixn_sql::{PushParam, quote};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use crate::blob::push_blob;
use crate::fnv1a;
use crate::schema::{BLOB_COLUMN, Schema};
use crate::store::Store;

/// Rolls back one record's statements after a constraint it breaks, keeping
/// the rest of the batch (PostgreSQL aborts the whole transaction otherwise).
const RECORD_SAVEPOINT: &str = "ixn_apply_record";

impl Store {
    /// Applies the batch in one transaction and answers one outcome per
    /// record: a record whose `owner` no longer holds the lease (or whose
    /// interaction is gone) is `LeaseLost`, one whose property changes break a
    /// custom field is `Refused` with the reason; neither changes anything,
    /// and neither stops the rest of the batch. Only a database failure fails
    /// the whole batch.
    pub(crate) async fn apply(
        &self,
        batch: Vec<DecisionRecord>,
    ) -> Result<Vec<ApplyOutcome>, StorageError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let layout = self.layout();
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db_with("apply decisions: begin"))?;
        // One shard for the whole batch, its queues counted at the end in
        // order: two batches lock count rows in the same order, never in a
        // cycle (a shard per record deadlocked under three hosts).
        let shard = shard(&batch[0].id);
        let mut touched = Touched::default();
        let mut outcomes = Vec::with_capacity(batch.len());
        for rec in batch {
            outcomes.push(apply_one(&mut tx, &layout.schema, rec, &mut touched).await?);
        }
        self.announce(&mut *tx, &touched.placed_in).await?;
        for (queue, n) in touched.stopped_in {
            sqlx::query(
                "INSERT INTO \"queue_stopped_counts\" (\"queue\", \"shard\", \"stopped\") VALUES ($1, $2, $3) \
                 ON CONFLICT (\"queue\", \"shard\") DO UPDATE \
                 SET \"stopped\" = \"queue_stopped_counts\".\"stopped\" + EXCLUDED.\"stopped\"",
            )
            .bind(queue.as_str())
            .bind(shard)
            .bind(n)
            .execute(&mut *tx)
            .await
            .map_err(db_with(format!("apply decisions: count the stops in `{queue}`")))?;
        }
        tx.commit()
            .await
            .map_err(db_with("apply decisions: commit"))?;
        Ok(outcomes)
    }
}

/// What the applied records of a batch did to queues.
#[derive(Default)]
struct Touched {
    /// Stops per queue.
    stopped_in: BTreeMap<String, i64>,
    /// Queues an interaction was moved to or released in.
    placed_in: BTreeSet<String>,
}

/// Applies one record, noting in `touched` what it did to its queues.
async fn apply_one(
    conn: &mut PgConnection,
    schema: &Schema,
    rec: DecisionRecord,
    touched: &mut Touched,
) -> Result<ApplyOutcome, StorageError> {
    let what = format!("apply decision to interaction `{}`", rec.id);
    // FOR UPDATE: the lease is checked and the row changed with no other
    // host's claim or decision in between.
    let row = sqlx::query(
        "SELECT \"lease_owner\", \"queue\", \"flexible_properties\"::text AS \"flexible_properties\" \
         FROM \"interactions\" WHERE \"id\" = $1 FOR UPDATE",
    )
    .bind(rec.id.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_with(&what))?;
    let Some(row) = row else {
        return Ok(ApplyOutcome::LeaseLost);
    };
    let owner: Option<String> = row.try_get("lease_owner").map_err(db_with(&what))?;
    if owner.as_deref() != Some(rec.owner.as_str()) {
        return Ok(ApplyOutcome::LeaseLost);
    }
    let queue: String = row.try_get("queue").map_err(db_with(&what))?;

    let mut update = QueryBuilder::<Postgres>::new("UPDATE \"interactions\" SET ");
    let stopped = matches!(rec.outcome, Outcome::Stop(_));
    let placed_in = match &rec.outcome {
        Outcome::MoveToQueue(to) => Some(to.clone()),
        Outcome::Release(_) => Some(queue.clone()),
        Outcome::Stop(_) => None,
    };
    match rec.outcome {
        Outcome::MoveToQueue(queue) => {
            if queue.is_empty() {
                return Ok(ApplyOutcome::Refused(
                    "the decision moves to an empty queue name".into(),
                ));
            }
            update
                .push("\"queue\" = ")
                .push_param(queue)
                .push(", \"state\" = 0, \"placed_in_queue_at\" = ")
                .push_param(rec.now)
                .push(", \"moved_to_queue_at\" = COALESCE(\"moved_to_queue_at\", ")
                .push_param(rec.now)
                .push("), \"scheduled_at\" = NULL");
        }
        Outcome::Stop(reason) => {
            update
                .push("\"stopped_at\" = ")
                .push_param(rec.now)
                .push(", \"stop_reason\" = ")
                .push_param(reason)
                .push(", \"state\" = 0");
        }
        Outcome::Release(at) => {
            update
                .push("\"state\" = 0, \"scheduled_at\" = ")
                .push_param(at);
        }
    }
    update.push(", \"lease_owner\" = NULL, \"lease_until\" = NULL");
    if let Some(version) = rec.component_version {
        update
            .push(", \"component_version\" = ")
            .push_param(version);
    }

    // The blob is only read and rewritten when attached data changes.
    if !rec.set_properties.is_empty() || !rec.remove_properties.is_empty() {
        let text: Option<String> = row.try_get(BLOB_COLUMN).map_err(db_with(&what))?;
        let mut blob = match decode_blob(text.as_deref().map(str::as_bytes)) {
            Ok(blob) => blob,
            Err(m) => return Ok(ApplyOutcome::Refused(m)),
        };
        let columns =
            match apply_changes(schema, &mut blob, rec.set_properties, rec.remove_properties) {
                Ok(columns) => columns,
                // A value this record carries breaks a custom field: refuse this record only.
                Err(e) => return Ok(ApplyOutcome::Refused(e.message)),
            };
        update.push(", \"flexible_properties\" = ");
        push_blob(&mut update, encode_blob(&blob)?);
        for (i, value) in columns {
            update
                .push(format_args!(", {} = ", quote(&schema.custom[i].column)))
                .push_param(value);
        }
    }
    update.push(" WHERE \"id\" = ").push_param(rec.id);

    savepoint(conn, "SAVEPOINT", &what).await?;
    if let Err(e) = update.build().execute(&mut *conn).await {
        // A constraint this one row breaks refuses the row (its statement is
        // rolled back to the savepoint, the batch goes on); anything else
        // fails the batch.
        use sqlx::error::ErrorKind as K;
        let broken_constraint = e.as_database_error().is_some_and(|d| {
            matches!(
                d.kind(),
                K::UniqueViolation
                    | K::ForeignKeyViolation
                    | K::NotNullViolation
                    | K::CheckViolation
            )
        });
        if broken_constraint {
            savepoint(conn, "ROLLBACK TO SAVEPOINT", &what).await?;
            return Ok(ApplyOutcome::Refused(e.to_string()));
        }
        return Err(db(&what, e));
    }
    savepoint(conn, "RELEASE SAVEPOINT", &what).await?;
    if stopped {
        *touched.stopped_in.entry(queue).or_default() += 1;
    }
    touched.placed_in.extend(placed_in);
    Ok(ApplyOutcome::Applied)
}

/// Shards of a queue's stopped count (see the first migration).
const STOPPED_SHARDS: u64 = 16;

/// The stopped-count shard of a batch, from an interaction id.
fn shard(id: &str) -> i64 {
    // Below 16: fits.
    i64::try_from(fnv1a(id) % STOPPED_SHARDS).unwrap_or(0)
}

/// `SAVEPOINT`, `RELEASE SAVEPOINT` or `ROLLBACK TO SAVEPOINT` of the record's savepoint.
async fn savepoint(conn: &mut PgConnection, verb: &str, what: &str) -> Result<(), StorageError> {
    sqlx::query(sqlx::AssertSqlSafe(format!("{verb} {RECORD_SAVEPOINT}")))
        .execute(&mut *conn)
        .await
        .map_err(db_with(format!("{what}: {verb}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_spread_over_every_shard() {
        let mut seen = [0u32; STOPPED_SHARDS as usize];
        for n in 0..1600 {
            let s = shard(&format!("1M891SNJ{n:08}"));
            assert!((0..16).contains(&s));
            seen[s as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
    }
}
