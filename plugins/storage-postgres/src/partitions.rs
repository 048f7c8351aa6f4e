//! Partitioning by queue: the plan of `[[storage.settings.partitions]]` made
//! into `PARTITION BY LIST ("queue")` partitions of the interactions table,
//! and the seed's verification query (partition, tablespace, rows).
//!
//! Migration 0002 makes the table partitioned, with one default partition
//! holding every queue. At open, [`apply_plan`] compares the configured plan
//! with the one recorded in `partition_plan` and, only when they differ,
//! re-creates the partitions that changed and moves their rows, in one
//! transaction: a failure leaves the table as it was, and a start-up with an
//! unchanged plan reads one small table and nothing of the interactions.
//! Once a partition exists PostgreSQL routes every insert and moves a row
//! whose queue changes to another partition's queue (an UPDATE of the
//! partition key), so a queue added by a reload lands where the plan says.

use std::collections::BTreeMap;

use ixn_plugin_api::storage::StorageError;
use ixn_sql::interactions::errors::db_with;
use ixn_sql::quote;
use sqlx::{AssertSqlSafe, PgConnection, PgPool};

use crate::schema::execute;
use crate::settings::Partition;

/// The default partition: every queue no named partition lists.
pub const DEFAULT_PARTITION_TABLE: &str = "interactions_default";

/// What applying a plan changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct PlanChange {
    /// Partitions created or re-created, by name.
    pub created: Vec<String>,
    /// Partitions dropped (their rows moved), by name.
    pub dropped: Vec<String>,
    /// Rows moved to the partition the plan now gives their queue.
    pub moved: u64,
}

/// Makes the table's partitions what `plan` says, moving the rows of every
/// queue whose partition changes. Runs in the caller's transaction; takes an
/// advisory lock, so two hosts opening at once apply one after the other
/// (the second finds nothing to do), and locks the table only when
/// something changes.
pub(crate) async fn apply_plan(
    conn: &mut PgConnection,
    plan: &[Partition],
) -> Result<PlanChange, StorageError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('ixn:partitions:' || current_schema()))")
        .execute(&mut *conn)
        .await
        .map_err(db_with("lock the partition plan"))?;
    let recorded = recorded_plan(conn).await?;
    let wanted: BTreeMap<&str, &Partition> = plan.iter().map(|p| (p.name.as_str(), p)).collect();
    let gone: Vec<&Partition> = recorded
        .values()
        .filter(|r| wanted.get(r.name.as_str()) != Some(r))
        .collect();
    let new: Vec<&Partition> = plan
        .iter()
        .filter(|p| recorded.get(&p.name) != Some(*p))
        .collect();
    let mut change = PlanChange::default();
    if gone.is_empty() && new.is_empty() {
        return Ok(change);
    }

    execute(
        conn,
        "LOCK TABLE \"interactions\" IN ACCESS EXCLUSIVE MODE".into(),
        "lock the interactions table",
    )
    .await?;
    let columns = column_list(conn).await?;
    execute(
        conn,
        "CREATE TEMPORARY TABLE \"_ixn_moving\" (LIKE \"interactions\") ON COMMIT DROP".into(),
        "create the table of moving rows",
    )
    .await?;
    // The rows of every partition that changes, and those of the default
    // partition whose queue a partition now lists, wait in `_ixn_moving`.
    for old in &gone {
        let table = quote(&old.table());
        execute(
            conn,
            format!("INSERT INTO \"_ixn_moving\" ({columns}) SELECT {columns} FROM {table}"),
            format!("keep the rows of partition `{}`", old.name),
        )
        .await?;
        execute(
            conn,
            format!("DROP TABLE {table}"),
            format!("drop partition `{}`", old.name),
        )
        .await?;
        sqlx::query("DELETE FROM \"partition_plan\" WHERE \"name\" = $1")
            .bind(old.name.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db_with("update the recorded plan"))?;
        change.dropped.push(old.name.clone());
    }
    let listed: Vec<&str> = new
        .iter()
        .flat_map(|p| p.queues.iter().map(String::as_str))
        .collect();
    sqlx::query(AssertSqlSafe(format!(
        "WITH \"m\" AS (DELETE FROM {} WHERE \"queue\" = ANY($1) RETURNING {columns}) \
         INSERT INTO \"_ixn_moving\" ({columns}) SELECT {columns} FROM \"m\"",
        quote(DEFAULT_PARTITION_TABLE)
    )))
    .bind(&listed)
    .execute(&mut *conn)
    .await
    .map_err(db_with(
        "take the rows of newly listed queues out of the default partition",
    ))?;

    for p in &new {
        let values: Vec<String> = p.queues.iter().map(|q| literal(q)).collect();
        let mut ddl = format!(
            "CREATE TABLE {} PARTITION OF \"interactions\" FOR VALUES IN ({})",
            quote(&p.table()),
            values.join(", ")
        );
        if let Some(t) = &p.tablespace {
            ddl.push_str(&format!(" TABLESPACE {}", quote(t)));
        }
        execute(conn, ddl, format!("create partition `{}`", p.name)).await?;
        sqlx::query("INSERT INTO \"partition_plan\" (\"name\", \"queues\", \"tablespace\") VALUES ($1, $2, $3)")
            .bind(p.name.as_str())
            .bind(&p.queues)
            .bind(p.tablespace.as_deref())
            .execute(&mut *conn)
            .await
            .map_err(db_with("record the plan"))?;
        change.created.push(p.name.clone());
    }
    let moved = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO \"interactions\" ({columns}) SELECT {columns} FROM \"_ixn_moving\""
    )))
    .execute(&mut *conn)
    .await
    .map_err(db_with("move the rows to their partitions"))?;
    change.moved = moved.rows_affected();
    Ok(change)
}

/// The plan as last applied, by name.
async fn recorded_plan(
    conn: &mut PgConnection,
) -> Result<BTreeMap<String, Partition>, StorageError> {
    let rows: Vec<(String, Vec<String>, Option<String>)> =
        sqlx::query_as("SELECT \"name\", \"queues\", \"tablespace\" FROM \"partition_plan\"")
            .fetch_all(&mut *conn)
            .await
            .map_err(db_with("read the recorded partition plan"))?;
    Ok(rows
        .into_iter()
        .map(|(name, queues, tablespace)| {
            (
                name.clone(),
                Partition {
                    name,
                    queues,
                    tablespace,
                },
            )
        })
        .collect())
}

/// The interactions table's columns, quoted, in table order.
async fn column_list(conn: &mut PgConnection) -> Result<String, StorageError> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT \"attname\"::text FROM \"pg_attribute\" \
         WHERE \"attrelid\" = '\"interactions\"'::regclass AND \"attnum\" > 0 AND NOT \"attisdropped\" \
         ORDER BY \"attnum\"",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_with("read the columns of `interactions`"))?;
    Ok(names
        .iter()
        .map(|n| quote(n))
        .collect::<Vec<_>>()
        .join(", "))
}

/// A text value as an SQL literal, for DDL, which takes no parameters.
/// Quotes are doubled; `standard_conforming_strings` (on since PostgreSQL
/// 9.1) keeps backslashes literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// One partition as `ixn partitions` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRow {
    /// The partition's table.
    pub table: String,
    /// Its bound as PostgreSQL states it: `FOR VALUES IN (…)` or `DEFAULT`.
    pub bound: String,
    /// The tablespace holding it.
    pub tablespace: String,
    /// The rows it holds now (counted).
    pub rows: i64,
}

/// The seed's verification query for PostgreSQL: every partition of the
/// interactions table with its bound, tablespace and rows, in table order.
pub async fn report(pool: &PgPool) -> Result<Vec<PartitionRow>, StorageError> {
    let counted: BTreeMap<String, i64> = sqlx::query_as(
        "SELECT c.relname::text, COUNT(*) FROM \"interactions\" x \
         JOIN pg_class c ON c.oid = x.tableoid GROUP BY c.relname",
    )
    .fetch_all(pool)
    .await
    .map_err(db_with("count the rows of each partition"))?
    .into_iter()
    .collect();
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid), \
                COALESCE(t.spcname, d.spcname)::text \
         FROM pg_inherits i \
         JOIN pg_class c ON c.oid = i.inhrelid \
         LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace \
         CROSS JOIN (SELECT ts.spcname FROM pg_database db \
                     JOIN pg_tablespace ts ON ts.oid = db.dattablespace \
                     WHERE db.datname = current_database()) d \
         WHERE i.inhparent = '\"interactions\"'::regclass \
         ORDER BY c.relname",
    )
    .fetch_all(pool)
    .await
    .map_err(db_with("read the partitions of `interactions`"))?;
    Ok(rows
        .into_iter()
        .map(|(table, bound, tablespace)| PartitionRow {
            rows: counted.get(&table).copied().unwrap_or(0),
            table,
            bound,
            tablespace,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_double_their_quotes() {
        assert_eq!(literal("q"), "'q'");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal("a\\'; DROP"), "'a\\''; DROP'");
    }
}
