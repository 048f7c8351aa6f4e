//! `claim`: hand queued interactions of a queue to one owner, with several
//! hosts claiming from the same table at once.
//!
//! The rows are selected `FOR UPDATE SKIP LOCKED` and leased in the same
//! statement: a second claimer, on this host or another, skips the rows a
//! first one holds instead of waiting for them, and once the first commits
//! they are no longer queued (the peers River, Oban and graphile-worker
//! claim the same way).

use ixn_plugin_api::storage::{ClaimRequest, Interaction, StorageError};
use ixn_sql::PushParam;
use ixn_sql::condition::render_order;
use ixn_sql::interactions::claim::{lease_until, select_claimable};
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
        let lease_until = lease_until(&req);
        let mut claim = lease_claimable(&layout, &req, lease_until).map_err(context(&what))?;
        self.ensure_view_index(&layout, &req);
        let rows = claim
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(db_with(&what))?;
        // RETURNING gave the rows as leased.
        rows.iter()
            .map(|r| row::interaction(r, schema))
            .collect::<Result<Vec<_>, _>>()
            .map_err(context(&what))
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

/// The whole claim as one statement (one round trip, its own transaction):
/// the claimable rows selected `FOR UPDATE SKIP LOCKED` in a CTE, leased by
/// an UPDATE joined to it, and answered in the claim's order (RETURNING has
/// none).
fn lease_claimable(
    layout: &Layout,
    req: &ClaimRequest,
    lease_until: i64,
) -> Result<QueryBuilder<Postgres>, StorageError> {
    let mut claim = select_claimable::<Postgres>(
        "\"id\" AS \"claimed_id\"",
        req,
        &|c| layout.schema.is_queryable(c),
        "WITH \"claimed\" AS (",
    )?;
    let order = render_order::<Postgres>(&req.order, &|c| layout.schema.is_queryable(c))?;
    // The queue named again lets PostgreSQL look in its partition only.
    claim
        .push("), \"leased\" AS (UPDATE \"interactions\" SET \"state\" = ")
        .push_param(req.state.code())
        .push(", \"lease_owner\" = ")
        .push_param(req.owner.as_str())
        .push(", \"lease_until\" = ")
        .push_param(lease_until)
        .push(" FROM \"claimed\" WHERE \"id\" = \"claimed_id\" AND \"queue\" = ")
        .push_param(req.queue.as_str())
        .push(format_args!(" RETURNING {}", layout.select_list))
        .push(") SELECT * FROM \"leased\" ORDER BY ")
        .push(order);
    Ok(claim)
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
