//! `claim`: hand queued interactions of a queue to one owner, with several
//! hosts claiming from the same table at once.
//!
//! The rows are selected `FOR UPDATE SKIP LOCKED` and leased in the same
//! transaction: a second claimer, on this host or another, skips the rows a
//! first one holds instead of waiting for them, and once the first commits
//! they are no longer queued (the peers River, Oban and graphile-worker
//! claim the same way).

use ixn_plugin_api::storage::{ClaimRequest, Interaction, StorageError};
use ixn_sql::PushParam;
use ixn_sql::condition::{render_condition, render_order};
use ixn_sql::interactions::errors::{context, db_with};
use ixn_sql::interactions::row;
use sqlx::{Postgres, QueryBuilder};

use crate::store::{Layout, Store};

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
        let lease_until = req.now.saturating_add(i64::from(req.lease_ms));
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
        for i in &mut claimed {
            i.state = req.state;
            i.lease_owner = Some(req.owner.clone());
            i.lease_until = Some(lease_until);
        }
        Ok(claimed)
    }
}

/// The SELECT of a claim: the claimable rows of the request's queue that
/// match its condition, in its order, up to its limit, locked with SKIP
/// LOCKED; `head` goes before it (`EXPLAIN` for `explain-views`).
pub(crate) fn claimable(
    layout: &Layout,
    req: &ClaimRequest,
    head: &str,
) -> Result<QueryBuilder<Postgres>, StorageError> {
    let schema = &layout.schema;
    let queryable = |c: &str| schema.is_queryable(c);
    let mut select = QueryBuilder::<Postgres>::new(format!(
        "{head}SELECT {} FROM \"interactions\" WHERE \"queue\" = ",
        layout.select_list
    ));
    select
        .push_param(req.queue.as_str())
        .push(" AND \"state\" = 0 AND \"is_locked\" = 0 AND \"stopped_at\" IS NULL AND \"workbin\" IS NULL")
        .push(" AND (\"scheduled_at\" IS NULL OR \"scheduled_at\" <= ")
        .push_param(req.now)
        .push(")");
    if let Some(condition) = &req.condition {
        select.push(" AND (");
        render_condition(condition, &queryable, req.now, &mut select)?;
        select.push(")");
    }
    let order = render_order::<Postgres>(&req.order, &queryable)?;
    select
        .push(" ORDER BY ")
        .push(order)
        .push(" LIMIT ")
        .push_param(i64::from(req.limit))
        .push(" FOR UPDATE SKIP LOCKED");
    Ok(select)
}
