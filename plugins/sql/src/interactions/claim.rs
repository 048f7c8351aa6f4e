//! A claim's SELECT and the leased rows as the claimer gets them, the same
//! on every SQL backend; each backend runs them in its own transaction.

use ixn_plugin_api::storage::{ClaimRequest, Interaction, StorageError};
use sqlx::QueryBuilder;

use crate::condition::{Queryable, render_condition, render_order};
use crate::{PushParam, SqlDialect};

/// What makes a live row claimable (besides its queue, workbin and
/// schedule): the predicate of the claim SELECT, and of every index meant
/// to serve it (PostgreSQL's `interactions_claimable` and view indexes).
pub const CLAIMABLE: &str = "\"stopped_at\" IS NULL AND \"state\" = 0 AND \"is_locked\" = 0";

/// The claimable rows of the request's queue — queued, unlocked, live, in
/// no workbin, due — that match its condition, in its order, up to its
/// limit, locked as the dialect claims; `head` goes before the SELECT
/// (`EXPLAIN` for `explain-views`).
pub fn select_claimable<DB: SqlDialect>(
    select_list: &str,
    req: &ClaimRequest,
    queryable: Queryable<'_>,
    head: &str,
) -> Result<QueryBuilder<DB>, StorageError> {
    let mut select = QueryBuilder::<DB>::new(format!(
        "{head}SELECT {select_list} FROM \"interactions\" WHERE \"queue\" = "
    ));
    select
        .push_param(req.queue.as_str())
        .push(" AND ")
        .push(CLAIMABLE)
        .push(" AND \"workbin\" IS NULL")
        .push(" AND (\"scheduled_at\" IS NULL OR \"scheduled_at\" <= ")
        .push_param(req.now)
        .push(")");
    if let Some(condition) = &req.condition {
        select.push(" AND (");
        render_condition(condition, queryable, req.now, &mut select)?;
        select.push(")");
    }
    let order = render_order::<DB>(&req.order, queryable)?;
    select
        .push(" ORDER BY ")
        .push(order)
        .push(" LIMIT ")
        .push_param(i64::from(req.limit))
        .push(DB::CLAIM_LOCK);
    Ok(select)
}

/// When the leases of a claim made by `req` end.
pub fn lease_until(req: &ClaimRequest) -> i64 {
    req.now.saturating_add(i64::from(req.lease_ms))
}

/// The claimed rows as they are once leased: in the claim's state, owned
/// by its owner until `lease_until`.
pub fn mark_leased(claimed: &mut [Interaction], req: &ClaimRequest, lease_until: i64) {
    for i in claimed {
        i.state = req.state;
        i.lease_owner = Some(req.owner.clone());
        i.lease_until = Some(lease_until);
    }
}
