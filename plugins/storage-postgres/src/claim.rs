//! `claim`: hand queued interactions of a queue to one owner, with several
//! hosts claiming from the same table at once.
//!
//! The rows are selected `FOR UPDATE SKIP LOCKED` and leased in the same
//! transaction: a second claimer, on this host or another, skips the rows a
//! first one holds instead of waiting for them, and once the first commits
//! they are no longer queued (the peers River, Oban and graphile-worker
//! claim the same way).

use ixn_plugin_api::storage::{ClaimRequest, Interaction, StorageError};
use ixn_sql::condition::render_order;
use ixn_sql::interactions::claim::{lease_until, mark_leased, select_claimable};
use ixn_sql::interactions::errors::{context, db_with};
use ixn_sql::interactions::row;
use sqlx::{Postgres, QueryBuilder};

use crate::store::{Layout, Store};
use crate::view_index::{self, ViewIndex};

impl Store {
    /// Selects up to `limit` claimable rows in the requested order, skipping
    /// rows another claimer holds, and leases them to `owner`.
    pub(crate) async fn claim(&self, req: ClaimRequest) -> Result<Vec<Interaction>, StorageError> {
        let what = format!("claim from queue `{}`", req.queue);
        if req.limit == 0 {
            return Ok(Vec::new());
        }
        let layout = self.layout();
        let schema = &layout.schema;
        let mut select = claimable(&layout, &req, "").map_err(context(&what))?;
        self.ensure_view_index(&layout, &req);

        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db_with(format!("{what}: begin")))?;
        let rows = select
            .build()
            .fetch_all(&mut *tx)
            .await
            .map_err(db_with(&what))?;
        let mut claimed = rows
            .iter()
            .map(|r| row::interaction(r, schema))
            .collect::<Result<Vec<_>, _>>()
            .map_err(context(&what))?;
        let lease_until = lease_until(&req);
        let ids: Vec<String> = claimed.iter().map(|i| i.id.clone()).collect();
        if !ids.is_empty() {
            sqlx::query(
                "UPDATE \"interactions\" SET \"state\" = $1, \"lease_owner\" = $2, \"lease_until\" = $3 \
                 WHERE \"id\" = ANY($4)",
            )
            .bind(req.state.code())
            .bind(req.owner.as_str())
            .bind(lease_until)
            .bind(&ids)
            .execute(&mut *tx)
            .await
            .map_err(db_with(format!("{what}: lease")))?;
        }
        tx.commit()
            .await
            .map_err(db_with(format!("{what}: commit")))?;
        mark_leased(&mut claimed, &req, lease_until);
        Ok(claimed)
    }
}

impl Store {
    /// Starts making the index of the request's order, the first time this
    /// store sees that order (`view_index.rs`); does not wait for it.
    fn ensure_view_index(&self, layout: &Layout, req: &ClaimRequest) {
        if req.order.is_empty() {
            return; // id order: the claimable index serves it
        }
        let queryable = |c: &str| layout.schema.is_queryable(c);
        let Ok(order) = render_order::<Postgres>(&req.order, &queryable) else {
            return; // the claim itself reports the bad order
        };
        if let Some(index) = ViewIndex::for_order(&order)
            && self.view_indexes.first_time(&index.name)
        {
            tokio::spawn(view_index::ensure(self.pool.clone(), index));
        }
    }
}

/// The SELECT of a claim ([`select_claimable`]) with this layout.
pub(crate) fn claimable(
    layout: &Layout,
    req: &ClaimRequest,
    head: &str,
) -> Result<QueryBuilder<Postgres>, StorageError> {
    select_claimable::<Postgres>(
        &layout.select_list,
        req,
        &|c| layout.schema.is_queryable(c),
        head,
    )
}
