//! `submit`: a batch of new interactions in one transaction.

use std::collections::BTreeSet;

use ixn_plugin_api::storage::{NewInteraction, State, StorageError};
use ixn_sql::interactions::errors::{context, db, db_with, is_unique_violation};
use ixn_sql::interactions::properties::split_new;
use ixn_sql::{Param, PushParam};
use sqlx::{Postgres, QueryBuilder};

use crate::blob::push_blob;
use crate::store::Store;

impl Store {
    /// Stores the batch, all or nothing: new rows are queued, unlocked, placed
    /// in their queue at `submitted_at`.
    pub(crate) async fn submit(&self, batch: Vec<NewInteraction>) -> Result<(), StorageError> {
        if batch.is_empty() {
            return Ok(());
        }
        // Check every row before touching the database.
        let layout = self.layout();
        let schema = &layout.schema;
        let mut rows = Vec::with_capacity(batch.len());
        let mut queues = BTreeSet::new();
        for n in batch {
            let what = format!("submit interaction `{}`", n.id);
            if n.id.is_empty() {
                return Err(StorageError::permanent(
                    "submit: an interaction has an empty id",
                ));
            }
            if n.queue.is_empty() {
                return Err(StorageError::permanent(format!(
                    "{what}: the queue is empty"
                )));
            }
            let split = split_new(schema, n.properties).map_err(context(&what))?;
            queues.insert(n.queue.clone());
            let standard = vec![
                Param::Text(n.id),
                Param::Text(n.tenant),
                Param::Text(n.media_type),
                Param::Text(n.interaction_type),
                Param::Text(n.interaction_subtype),
                n.external_id.into(),
                n.parent_id.into(),
                Param::Text(n.queue),
                Param::Int(State::Queued.code()),
                Param::Int(0),
                Param::Int(i64::from(n.priority)),
                Param::Text(n.submitted_by),
                Param::Int(n.submitted_at),
                Param::Int(n.submitted_at),
            ];
            rows.push((what, standard, split.blob, split.columns));
        }
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db_with("submit: begin transaction"))?;
        for (what, standard, blob, columns) in rows {
            // The columns in `INSERT_COLUMNS` order: the blob comes last of them.
            // An id is unique across partitions through `interaction_ids`
            // (a partitioned table's unique index holds the queue too).
            let mut insert = QueryBuilder::<Postgres>::new(
                "WITH \"registered\" AS (INSERT INTO \"interaction_ids\" (\"id\") VALUES (",
            );
            insert.push_param(standard[0].clone()).push(")) ");
            insert.push(schema.insert_head.as_str());
            insert.push_params(standard).push(", ");
            push_blob(&mut insert, blob);
            for column in columns {
                insert.push(", ").push_param(column);
            }
            insert.push(")");
            insert.build().execute(&mut *tx).await.map_err(|e| {
                if is_unique_violation(&e) {
                    StorageError::permanent(format!(
                        "{what}: an interaction with this id already exists"
                    ))
                } else {
                    db(&what, e)
                }
            })?;
        }
        self.announce(&mut *tx, &queues).await?;
        tx.commit().await.map_err(db_with("submit: commit"))
    }
}
