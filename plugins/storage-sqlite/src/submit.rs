//! `submit`: a batch of new interactions in one transaction.

use ixn_plugin_api::storage::{NewInteraction, State, StorageError};
use ixn_sql::WriteTx;
use sqlx::SqliteConnection;

use crate::error::{context, db, db_with, is_unique_violation};
use crate::store::{BEGIN_WRITE, Store};
use ixn_sql::interactions::properties::split_new;
use ixn_sql::{Param, PushParam};
use sqlx::{QueryBuilder, Sqlite};

impl Store {
    /// Stores the batch, all or nothing: new rows are queued, unlocked, placed
    /// in their queue at `submitted_at`.
    pub(crate) async fn submit(&self, batch: Vec<NewInteraction>) -> Result<(), StorageError> {
        if batch.is_empty() {
            return Ok(());
        }
        // Check every row before touching the database, against the schema
        // the insert uses (a reload may swap it meanwhile).
        let schema = self.schema();
        let mut rows = Vec::with_capacity(batch.len());
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
            let split = split_new(&schema, n.properties).map_err(context(&what))?;
            let mut params = vec![
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
                split.blob,
            ];
            params.extend(split.columns);
            rows.push((what, params));
        }
        let mut tx = WriteTx::begin(&self.pool, BEGIN_WRITE)
            .await
            .map_err(db_with("submit: begin transaction"))?;
        let inserted = match self.refresh_schema(tx.conn()).await {
            Ok(()) => self.insert(tx.conn(), &schema.insert_head, rows).await,
            Err(e) => Err(e),
        };
        tx.finish(inserted, db_with("submit: commit")).await
    }

    async fn insert(
        &self,
        conn: &mut SqliteConnection,
        insert_head: &str,
        rows: Vec<(String, Vec<Param>)>,
    ) -> Result<(), StorageError> {
        for (what, params) in rows {
            let mut insert = QueryBuilder::<Sqlite>::new(insert_head);
            insert.push_params(params).push(")");
            insert.build().execute(&mut *conn).await.map_err(|e| {
                if is_unique_violation(&e) {
                    StorageError::permanent(format!(
                        "{what}: an interaction with this id already exists"
                    ))
                } else {
                    db(&what, e)
                }
            })?;
        }
        Ok(())
    }
}
