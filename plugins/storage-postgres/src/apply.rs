//! `apply`: decisions of BP plugins on claimed interactions.
//!
//! A batch is one transaction: its rows are locked and read in one
//! statement, then the records that still hold their lease are applied:
//! those that change attached data one UPDATE each, the others one UPDATE
//! per outcome kind (`apply_bulk.rs`).
//! PostgreSQL aborts a whole transaction on an error, so a record that
//! breaks a constraint would take the batch with it: when one does, the
//! batch is rolled back and applied again with a savepoint around each
//! record, which refuses that record alone. Most batches break nothing and
//! pay no savepoint.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ixn_plugin_api::storage::{ApplyOutcome, DecisionRecord, Outcome, StorageError};
use ixn_sql::interactions::errors::{db, db_with};
use ixn_sql::interactions::properties::{apply_changes, decode_blob, encode_blob};
use ixn_sql::{Param, PushParam, quote};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use crate::apply_bulk::{Bulk, BulkError};
use crate::blob::push_blob;
use crate::fnv1a;
use crate::schema::{BLOB_COLUMN, Schema};
use crate::store::Store;

/// Rolls back one record's statements after a constraint it breaks, keeping
/// the rest of the batch (PostgreSQL aborts the whole transaction otherwise).
const RECORD_SAVEPOINT: &str = "ixn_apply_record";

/// How a batch is tried.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Isolation {
    /// No savepoints, records without attached-data changes in bulk: a
    /// broken constraint ends the attempt.
    None,
    /// A savepoint around each record: a broken constraint refuses it.
    PerRecord,
}

/// What an attempt came to.
enum Attempt {
    /// Committed, one outcome per record.
    Done(Vec<ApplyOutcome>),
    /// A record broke a constraint without a savepoint: rolled back.
    Broken,
}

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
        if let Attempt::Done(outcomes) = self.apply_batch(&batch, Isolation::None).await? {
            return Ok(outcomes);
        }
        match self.apply_batch(&batch, Isolation::PerRecord).await? {
            Attempt::Done(outcomes) => Ok(outcomes),
            // A savepoint turns every broken constraint into a refusal.
            Attempt::Broken => Err(StorageError::permanent(
                "apply decisions: a record broke a constraint even with its own savepoint",
            )),
        }
    }

    async fn apply_batch(
        &self,
        batch: &[DecisionRecord],
        isolation: Isolation,
    ) -> Result<Attempt, StorageError> {
        let layout = self.layout();
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db_with("apply decisions: begin"))?;
        let mut locked = lock_rows(&mut tx, batch).await?;
        // One shard for the whole batch, its queues counted at the end in
        // order: two batches lock count rows in the same order, never in a
        // cycle (a shard per record deadlocked under three hosts).
        let shard = shard(&batch[0].id);
        let mut touched = Touched::default();
        let mut bulk = (isolation == Isolation::None).then(Bulk::default);
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut broken = false;
        for rec in batch {
            let outcome = apply_one(
                &mut tx,
                &layout.schema,
                rec,
                &mut locked,
                &mut touched,
                bulk.as_mut(),
            )
            .await?;
            match outcome {
                Some(outcome) => outcomes.push(outcome),
                None => {
                    broken = true;
                    break;
                }
            }
        }
        if !broken && let Some(bulk) = bulk {
            match bulk.run(&mut tx).await {
                Ok(()) => {}
                Err(BulkError::Broken) => broken = true,
                Err(BulkError::Failed(e)) => return Err(e),
            }
        }
        if broken {
            tx.rollback()
                .await
                .map_err(db_with("apply decisions: roll back"))?;
            return Ok(Attempt::Broken);
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
        Ok(Attempt::Done(outcomes))
    }
}

/// A row of the batch as locked: who holds its lease, where it is, its blob.
struct Locked {
    owner: Option<String>,
    queue: String,
    blob: Option<String>,
}

/// Locks and reads every row the batch names, in id order (two batches
/// lock shared rows in the same order, never in a cycle). FOR UPDATE: the
/// leases are checked and the rows changed with no other host's claim or
/// decision in between.
async fn lock_rows(
    conn: &mut PgConnection,
    batch: &[DecisionRecord],
) -> Result<HashMap<String, Locked>, StorageError> {
    let ids: Vec<&str> = batch.iter().map(|r| r.id.as_str()).collect();
    let rows = sqlx::query(
        "SELECT \"id\", \"lease_owner\", \"queue\", \"flexible_properties\"::text AS \"flexible_properties\" \
         FROM \"interactions\" WHERE \"id\" = ANY($1) ORDER BY \"id\" FOR UPDATE",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_with("apply decisions: lock the interactions"))?;
    let what = "apply decisions: read the locked interactions";
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("id").map_err(db_with(what))?,
                Locked {
                    owner: row.try_get("lease_owner").map_err(db_with(what))?,
                    queue: row.try_get("queue").map_err(db_with(what))?,
                    blob: row.try_get(BLOB_COLUMN).map_err(db_with(what))?,
                },
            ))
        })
        .collect()
}

/// What the applied records of a batch did to queues.
#[derive(Default)]
struct Touched {
    /// Stops per queue.
    stopped_in: BTreeMap<String, i64>,
    /// Queues an interaction was moved to or released in.
    placed_in: BTreeSet<String>,
}

/// Applies one record, noting in `touched` what it did to its queues and in
/// `locked` that its lease ended; `None` when, without a savepoint, it broke
/// a constraint (the transaction is aborted). With `bulk` (no savepoints),
/// a record that changes no attached data is added to it, to be applied
/// with the others like it after the loop.
async fn apply_one(
    conn: &mut PgConnection,
    schema: &Schema,
    rec: &DecisionRecord,
    locked: &mut HashMap<String, Locked>,
    touched: &mut Touched,
    bulk: Option<&mut Bulk>,
) -> Result<Option<ApplyOutcome>, StorageError> {
    let isolation = if bulk.is_some() {
        Isolation::None
    } else {
        Isolation::PerRecord
    };
    let Some(row) = locked.get_mut(&rec.id) else {
        return Ok(Some(ApplyOutcome::LeaseLost));
    };
    if row.owner.as_deref() != Some(rec.owner.as_str()) {
        return Ok(Some(ApplyOutcome::LeaseLost));
    }
    let queue = row.queue.clone();
    let stopped = matches!(rec.outcome, Outcome::Stop(_));
    let placed_in = match &rec.outcome {
        Outcome::MoveToQueue(to) => Some(to.clone()),
        Outcome::Release(_) => Some(queue.clone()),
        Outcome::Stop(_) => None,
    };
    if let Some(bulk) = bulk
        && Bulk::takes(rec)
    {
        bulk.add(rec, &queue);
        ended(row, rec, None, stopped, queue, placed_in, touched);
        return Ok(Some(ApplyOutcome::Applied));
    }

    // A statement of its own: built only for a record that needs one.
    let what = format!("apply decision to interaction `{}`", rec.id);
    let mut update = QueryBuilder::<Postgres>::new("UPDATE \"interactions\" SET ");
    match &rec.outcome {
        Outcome::MoveToQueue(queue) => {
            if queue.is_empty() {
                return Ok(Some(ApplyOutcome::Refused(
                    "the decision moves to an empty queue name".into(),
                )));
            }
            update
                .push("\"queue\" = ")
                .push_param(queue.as_str())
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
                .push_param(reason.as_str())
                .push(", \"state\" = 0");
        }
        Outcome::Release(at) => {
            update
                .push("\"state\" = 0, \"scheduled_at\" = ")
                .push_param(*at);
        }
    }
    update.push(", \"lease_owner\" = NULL, \"lease_until\" = NULL");
    if let Some(version) = &rec.component_version {
        update
            .push(", \"component_version\" = ")
            .push_param(version.as_str());
    }

    // The blob is only rewritten when attached data changes.
    let mut new_blob = None;
    if !rec.set_properties.is_empty() || !rec.remove_properties.is_empty() {
        let mut blob = match decode_blob(row.blob.as_deref().map(str::as_bytes)) {
            Ok(blob) => blob,
            Err(m) => return Ok(Some(ApplyOutcome::Refused(m))),
        };
        let columns = match apply_changes(
            schema,
            &mut blob,
            rec.set_properties.clone(),
            rec.remove_properties.clone(),
        ) {
            Ok(columns) => columns,
            // A value this record carries breaks a custom field: refuse this record only.
            Err(e) => return Ok(Some(ApplyOutcome::Refused(e.message))),
        };
        let encoded = encode_blob(&blob)?;
        new_blob = Some(match &encoded {
            Param::Blob(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        });
        update.push(", \"flexible_properties\" = ");
        push_blob(&mut update, encoded);
        for (i, value) in columns {
            update
                .push(format_args!(", {} = ", quote(&schema.custom[i].column)))
                .push_param(value);
        }
    }
    // The queue too: PostgreSQL looks in the row's partition only.
    update
        .push(" WHERE \"id\" = ")
        .push_param(rec.id.as_str())
        .push(" AND \"queue\" = ")
        .push_param(queue.as_str());

    if isolation == Isolation::PerRecord {
        savepoint(conn, "SAVEPOINT", &what).await?;
    }
    if let Err(e) = update.build().execute(&mut *conn).await {
        // A constraint this one row breaks refuses the row (with a savepoint,
        // its statement is rolled back and the batch goes on; without one,
        // the batch is tried again with savepoints); anything else fails the
        // batch.
        if !breaks_a_constraint(&e) {
            return Err(db(&what, e));
        }
        if isolation == Isolation::None {
            return Ok(None);
        }
        savepoint(conn, "ROLLBACK TO SAVEPOINT", &what).await?;
        return Ok(Some(ApplyOutcome::Refused(e.to_string())));
    }
    if isolation == Isolation::PerRecord {
        savepoint(conn, "RELEASE SAVEPOINT", &what).await?;
    }
    ended(row, rec, new_blob, stopped, queue, placed_in, touched);
    Ok(Some(ApplyOutcome::Applied))
}

/// Notes an applied record: a later record of the same interaction in this
/// batch finds its lease ended (and its row where the record put it), and
/// the queues it stopped in or placed it in are counted and announced.
fn ended(
    row: &mut Locked,
    rec: &DecisionRecord,
    new_blob: Option<Option<String>>,
    stopped: bool,
    queue: String,
    placed_in: Option<String>,
    touched: &mut Touched,
) {
    row.owner = None;
    if let Some(blob) = new_blob {
        row.blob = blob;
    }
    if let Outcome::MoveToQueue(to) = &rec.outcome {
        row.queue = to.clone();
    }
    if stopped {
        *touched.stopped_in.entry(queue).or_default() += 1;
    }
    touched.placed_in.extend(placed_in);
}

/// Whether `e` is a constraint one row broke (its record can be refused
/// alone) rather than a failure of the database.
pub(crate) fn breaks_a_constraint(e: &sqlx::Error) -> bool {
    use sqlx::error::ErrorKind as K;
    e.as_database_error().is_some_and(|d| {
        matches!(
            d.kind(),
            K::UniqueViolation | K::ForeignKeyViolation | K::NotNullViolation | K::CheckViolation
        )
    })
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
