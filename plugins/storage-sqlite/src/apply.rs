//! `apply`: decisions of BP plugins on claimed interactions.

use ixn_plugin_api::storage::{DecisionRecord, Outcome, StorageError};
use sqlx::Row;

use crate::error::{context, db_with};
use crate::properties::{apply_changes, decode_blob, encode_blob};
use crate::schema::BLOB_COLUMN;
use crate::sql::{SqlBuilder, quote};
use crate::store::{BEGIN_WRITE, Store};

impl Store {
    /// Applies the batch in one transaction. A record whose `owner` no longer
    /// holds the lease (or whose interaction is gone) changes nothing and
    /// yields `false`. A property change that breaks a custom field's type or
    /// length fails the whole batch.
    pub(crate) async fn apply(
        &self,
        batch: Vec<DecisionRecord>,
    ) -> Result<Vec<bool>, StorageError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(db_with("apply decisions: begin"))?;
        let mut results = Vec::with_capacity(batch.len());
        for rec in batch {
            let what = format!("apply decision to interaction `{}`", rec.id);
            let row = sqlx::query("SELECT \"lease_owner\", \"flexible_properties\" FROM \"interactions\" WHERE \"id\" = ?")
                .bind(rec.id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_with(&what))?;
            let Some(row) = row else {
                results.push(false);
                continue;
            };
            let owner: Option<String> = row.try_get("lease_owner").map_err(db_with(&what))?;
            if owner.as_deref() != Some(rec.owner.as_str()) {
                results.push(false);
                continue;
            }

            let mut update = SqlBuilder::new("UPDATE \"interactions\" SET ");
            match rec.outcome {
                Outcome::MoveToQueue(queue) => {
                    if queue.is_empty() {
                        return Err(StorageError::permanent(format!(
                            "{what}: move to an empty queue name"
                        )));
                    }
                    update
                        .push("\"queue\" = ")
                        .param(queue)
                        .push(", \"state\" = 0, \"placed_in_queue_at\" = ")
                        .param(rec.now)
                        .push(", \"moved_to_queue_at\" = COALESCE(\"moved_to_queue_at\", ")
                        .param(rec.now)
                        .push("), \"scheduled_at\" = NULL");
                }
                Outcome::Stop(reason) => {
                    update
                        .push("\"stopped_at\" = ")
                        .param(rec.now)
                        .push(", \"stop_reason\" = ")
                        .param(reason);
                    update.push(", \"state\" = 0");
                }
                Outcome::Release(at) => {
                    update.push("\"state\" = 0, \"scheduled_at\" = ").param(at);
                }
            }
            update.push(", \"lease_owner\" = NULL, \"lease_until\" = NULL");

            // The blob is only read and rewritten when attached data changes.
            if !rec.set_properties.is_empty() || !rec.remove_properties.is_empty() {
                let bytes: Option<Vec<u8>> = row.try_get(BLOB_COLUMN).map_err(db_with(&what))?;
                let mut blob = decode_blob(bytes.as_deref())
                    .map_err(|m| StorageError::permanent(format!("{what}: {m}")))?;
                let columns = apply_changes(
                    &self.schema,
                    &mut blob,
                    rec.set_properties,
                    rec.remove_properties,
                )
                .map_err(context(&what))?;
                update
                    .push(", \"flexible_properties\" = ")
                    .param(encode_blob(&blob)?);
                for (i, value) in columns {
                    update
                        .push(&format!(", {} = ", quote(&self.schema.custom[i].column)))
                        .param(value);
                }
            }
            update.push(" WHERE \"id\" = ").param(rec.id);
            update
                .build()
                .execute(&mut *tx)
                .await
                .map_err(db_with(&what))?;
            results.push(true);
        }
        tx.commit()
            .await
            .map_err(db_with("apply decisions: commit"))?;
        Ok(results)
    }
}
