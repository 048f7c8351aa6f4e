//! `claim`: atomically hand queued interactions of a queue to one owner.

use ixn_plugin_api::storage::{ClaimRequest, Interaction, StorageError};
use ixn_sql::WriteTx;
use sqlx::SqliteConnection;

use crate::error::{context, db_with};
use crate::schema::Schema;
use crate::store::{BEGIN_WRITE, Store};
use ixn_sql::interactions::claim::{lease_until, mark_leased, select_claimable};
use ixn_sql::interactions::row;
use ixn_sql::{Param, PushParam};
use sqlx::{QueryBuilder, Sqlite};

/// Ids per `UPDATE … WHERE id IN (…)`, well under SQLite's parameter limit.
const UPDATE_CHUNK: usize = 500;

impl Store {
    /// Selects up to `limit` claimable rows in the requested order and leases
    /// them to `owner`, in one write transaction: a second claimer waits for
    /// the first to commit and then no longer sees its rows as queued.
    pub(crate) async fn claim(&self, req: ClaimRequest) -> Result<Vec<Interaction>, StorageError> {
        let what = format!("claim from queue `{}`", req.queue);
        if req.limit == 0 {
            return Ok(Vec::new());
        }
        let schema = self.schema();
        let select =
            select_claimable::<Sqlite>(&schema.select_list, &req, &|c| schema.is_queryable(c), "")
                .map_err(context(&what))?;

        let mut tx = WriteTx::begin(&self.pool, BEGIN_WRITE)
            .await
            .map_err(db_with(format!("{what}: begin")))?;
        let leased = match self.refresh_schema(tx.conn()).await {
            Ok(()) => self.lease(tx.conn(), &schema, select, &req, &what).await,
            Err(e) => Err(e),
        };
        tx.finish(leased, db_with(format!("{what}: commit"))).await
    }

    /// Selects and leases in the caller's transaction; answers the claimed rows as they are now.
    async fn lease(
        &self,
        conn: &mut SqliteConnection,
        schema: &Schema,
        mut select: QueryBuilder<Sqlite>,
        req: &ClaimRequest,
        what: &str,
    ) -> Result<Vec<Interaction>, StorageError> {
        let rows = select
            .build()
            .fetch_all(&mut *conn)
            .await
            .map_err(db_with(what))?;
        let mut claimed = rows
            .iter()
            .map(|r| row::interaction(r, schema))
            .collect::<Result<Vec<_>, _>>()
            .map_err(context(what))?;
        let lease_until = lease_until(req);
        for chunk in claimed.chunks(UPDATE_CHUNK) {
            let mut update =
                QueryBuilder::<Sqlite>::new("UPDATE \"interactions\" SET \"state\" = ");
            update
                .push_param(req.state.code())
                .push(", \"lease_owner\" = ")
                .push_param(req.owner.as_str())
                .push(", \"lease_until\" = ")
                .push_param(lease_until)
                .push(" WHERE \"id\" IN (")
                .push_params(chunk.iter().map(|i| Param::Text(i.id.clone())))
                .push(")");
            update
                .build()
                .execute(&mut *conn)
                .await
                .map_err(db_with(format!("{what}: lease")))?;
        }
        mark_leased(&mut claimed, req, lease_until);
        Ok(claimed)
    }
}
