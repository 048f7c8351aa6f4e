//! The indexes views need: a view that orders its queue by anything but id
//! gets `(queue, <its order>, id)` over the claimable rows, so that a claim
//! reads the first rows of its queue in order and stops at its limit instead
//! of sorting the whole backlog (the seed's "create appropriate indexes",
//! done by ixn). The claim index serves views in id order.
//!
//! An index is made the first time a claim of its shape runs, in the
//! background: the claim does not wait for it. A partitioned table cannot
//! be indexed CONCURRENTLY as a whole, so each partition is, and the
//! partitions' indexes are attached to one on the parent made `ON ONLY` it
//! — writers are never held for the length of a build. A session advisory
//! lock lets one host build while the others skip it. Partitions made later
//! get the index with the table. Indexes are kept when a view goes.

use std::collections::HashSet;
use std::sync::Mutex;

use ixn_plugin_api::storage::StorageError;
use ixn_sql::interactions::claim::CLAIMABLE;
use ixn_sql::interactions::errors::db_with;
use ixn_sql::quote;
use sqlx::{PgConnection, PgPool};

use crate::fnv1a;
use crate::schema::execute;

/// A view index: its name and its rendered key columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ViewIndex {
    pub name: String,
    pub columns: String,
}

impl ViewIndex {
    /// The index of a view whose rendered ORDER BY is `order` (ending in
    /// `"id"`); `None` for the id order, which the claim index serves.
    pub fn for_order(order: &str) -> Option<ViewIndex> {
        if order == quote("id") {
            return None;
        }
        let columns = format!("{}, {order}", quote("queue"));
        Some(ViewIndex {
            name: format!("interactions_view_{:016x}", fnv1a(&columns)),
            columns,
        })
    }
}

/// The view indexes this store made or found, so each is looked at once.
#[derive(Debug, Default)]
pub(crate) struct Known(Mutex<HashSet<String>>);

impl Known {
    /// True the first time `name` is seen. Every claim of a sorted view
    /// asks: a name already known costs a lookup, not a copy.
    pub fn first_time(&self, name: &str) -> bool {
        let mut known = match self.0.lock() {
            Ok(known) => known,
            Err(poisoned) => poisoned.into_inner(),
        };
        !known.contains(name) && known.insert(name.to_string())
    }
}

/// Makes `index` unless it exists or another host is making it. Logs what
/// it did; an error is logged, not returned: the view works without it.
pub(crate) async fn ensure(pool: PgPool, index: ViewIndex) {
    match build(&pool, &index).await {
        Ok(true) => {
            tracing::info!(index = %index.name, columns = %index.columns, "postgres storage: made the index of a view")
        }
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(index = %index.name, error = %e, "postgres storage: could not make the index of a view; its claims sort instead")
        }
    }
}

/// True when this call made the index.
async fn build(pool: &PgPool, index: &ViewIndex) -> Result<bool, StorageError> {
    let what = format!("make index `{}`", index.name);
    let mut conn = pool.acquire().await.map_err(db_with(&what))?;
    let lock_key = format!("ixn:view-index:{}", index.name);
    let locked: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext(current_schema() || $1))")
            .bind(lock_key.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(db_with(&what))?;
    if !locked {
        return Ok(false);
    }
    let built = build_locked(&mut conn, index, &what).await;
    // Released on this connection whatever happened; a lost connection
    // releases it too.
    let _ = sqlx::query("SELECT pg_advisory_unlock(hashtext(current_schema() || $1))")
        .bind(lock_key.as_str())
        .execute(&mut *conn)
        .await;
    built
}

async fn build_locked(
    conn: &mut PgConnection,
    index: &ViewIndex,
    what: &str,
) -> Result<bool, StorageError> {
    let valid: Option<bool> = sqlx::query_scalar(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace",
    )
    .bind(index.name.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_with(what))?;
    if valid == Some(true) {
        return Ok(false);
    }
    execute(
        conn,
        format!(
            "CREATE INDEX IF NOT EXISTS {} ON ONLY \"interactions\" ({}) WHERE {CLAIMABLE}",
            quote(&index.name),
            index.columns
        ),
        what,
    )
    .await?;
    let partitions: Vec<(String, i64)> = sqlx::query_as(
        "SELECT c.relname::text, c.oid::bigint FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = '\"interactions\"'::regclass",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_with(what))?;
    for (partition, oid) in partitions {
        let child = format!("{}_{oid}", index.name);
        // What an earlier build cut short may have left: (valid, attached).
        let left: Option<(bool, bool)> = sqlx::query_as(
            "SELECT i.indisvalid, EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = c.oid) \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace",
        )
        .bind(child.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_with(what))?;
        match left {
            Some((true, true)) => continue,
            Some((true, false)) => {}
            Some((false, _)) | None => {
                if left.is_some() {
                    execute(
                        conn,
                        format!("DROP INDEX CONCURRENTLY {}", quote(&child)),
                        what,
                    )
                    .await?;
                }
                execute(
                    conn,
                    format!(
                        "CREATE INDEX CONCURRENTLY {} ON {} ({}) WHERE {CLAIMABLE}",
                        quote(&child),
                        quote(&partition),
                        index.columns
                    ),
                    what,
                )
                .await?;
            }
        }
        execute(
            conn,
            format!(
                "ALTER INDEX {} ATTACH PARTITION {}",
                quote(&index.name),
                quote(&child)
            ),
            what,
        )
        .await?;
    }
    Ok(true)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn only_an_order_other_than_id_gets_an_index_named_by_its_columns() {
        assert_eq!(ViewIndex::for_order("\"id\""), None);
        let a = ViewIndex::for_order("\"priority\" DESC NULLS LAST, \"id\"").unwrap();
        let b = ViewIndex::for_order("\"priority\" DESC NULLS LAST, \"id\"").unwrap();
        let c = ViewIndex::for_order("\"priority\" NULLS FIRST, \"id\"").unwrap();
        assert_eq!(a, b);
        assert_ne!(a.name, c.name);
        assert_eq!(a.columns, "\"queue\", \"priority\" DESC NULLS LAST, \"id\"");
        assert!(a.name.len() <= 63 - 12, "room for a partition's oid");
    }
}
