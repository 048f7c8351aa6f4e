//! `apply`: decisions of BP plugins on claimed interactions.

use ixn_plugin_api::storage::{ApplyOutcome, DecisionRecord, Outcome, StorageError};
use ixn_sql::WriteTx;
use sqlx::{Row, SqliteConnection};

use crate::error::db_with;
use crate::schema::{BLOB_COLUMN, STOPPED_COUNTS, Schema};
use crate::store::{BEGIN_WRITE, Store};
use ixn_sql::interactions::properties::{apply_changes, decode_blob, encode_blob};
use ixn_sql::{PushParam, quote};
use sqlx::{QueryBuilder, Sqlite};

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
        let mut tx = WriteTx::begin(&self.pool, BEGIN_WRITE)
            .await
            .map_err(db_with("apply decisions: begin"))?;
        // One schema for the whole batch, even if a reload swaps it meanwhile.
        let schema = self.schema();
        let mut outcomes = self
            .refresh_schema(tx.conn())
            .await
            .map(|()| Vec::with_capacity(batch.len()));
        for rec in batch {
            if outcomes.is_err() {
                break;
            }
            match self.apply_one(tx.conn(), &schema, rec).await {
                Ok(outcome) => {
                    if let Ok(o) = &mut outcomes {
                        o.push(outcome);
                    }
                }
                Err(e) => {
                    outcomes = Err(e);
                    break;
                }
            }
        }
        tx.finish(outcomes, db_with("apply decisions: commit"))
            .await
    }

    async fn apply_one(
        &self,
        conn: &mut SqliteConnection,
        schema: &Schema,
        rec: DecisionRecord,
    ) -> Result<ApplyOutcome, StorageError> {
        let what = format!("apply decision to interaction `{}`", rec.id);
        let row = sqlx::query(
            "SELECT \"lease_owner\", \"queue\", \"flexible_properties\" FROM \"interactions\" WHERE \"id\" = ?",
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

        let mut update = QueryBuilder::<Sqlite>::new("UPDATE \"interactions\" SET ");
        let stopped = matches!(rec.outcome, Outcome::Stop(_));
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
                    .push_param(reason);
                update.push(", \"state\" = 0");
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
            let bytes: Option<Vec<u8>> = row.try_get(BLOB_COLUMN).map_err(db_with(&what))?;
            let mut blob = match decode_blob(bytes.as_deref()) {
                Ok(blob) => blob,
                Err(m) => return Ok(ApplyOutcome::Refused(m)),
            };
            let columns =
                match apply_changes(schema, &mut blob, rec.set_properties, rec.remove_properties) {
                    Ok(columns) => columns,
                    // A value this record carries breaks a custom field: refuse this record only.
                    Err(e) => return Ok(ApplyOutcome::Refused(e.message)),
                };
            update
                .push(", \"flexible_properties\" = ")
                .push_param(encode_blob(&blob)?);
            for (i, value) in columns {
                update
                    .push(format_args!(", {} = ", quote(&schema.custom[i].column)))
                    .push_param(value);
            }
        }
        update.push(" WHERE \"id\" = ").push_param(rec.id);
        if let Err(e) = update.build().execute(&mut *conn).await {
            // A constraint this one row breaks refuses the row (SQLite undid the
            // statement, the transaction goes on); anything else fails the batch.
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
            return if broken_constraint {
                Ok(ApplyOutcome::Refused(e.to_string()))
            } else {
                Err(crate::error::db(&what, e))
            };
        }
        if stopped {
            count_stopped(conn, &queue).await.map_err(db_with(&what))?;
        }
        Ok(ApplyOutcome::Applied)
    }
}

/// One more interaction stopped in `queue`: the per-queue count that keeps
/// `counts` from scanning every stopped interaction ever stored.
async fn count_stopped(conn: &mut SqliteConnection, queue: &str) -> Result<(), sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {} (\"queue\", \"stopped\") VALUES (?, 1) \
         ON CONFLICT (\"queue\") DO UPDATE SET \"stopped\" = \"stopped\" + 1",
        quote(STOPPED_COUNTS)
    )))
    .bind(queue)
    .execute(conn)
    .await
    .map(|_| ())
}
