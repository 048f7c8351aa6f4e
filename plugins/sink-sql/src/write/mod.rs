//! Storing a prepared batch: all its rows and the deletions its retention
//! rules ask for, in one transaction, on either database.
//!
//! - SQLite ([`sqlite`]): multi-row `INSERT OR IGNORE` statements.
//! - PostgreSQL ([`postgres`]): `COPY` per table, the fastest way in; if the
//!   batch holds an event already stored (a batch sent again after a commit
//!   whose answer was lost), the transaction is rolled back and the batch is
//!   written again with multi-row `INSERT … ON CONFLICT DO NOTHING`.

pub mod copy_text;
mod postgres;
mod sqlite;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ixn_plugin_api::sink::SinkError;

use crate::db::Pool;
use crate::dialect::Dialect;
use crate::insert::{Cell, Prepared};
use crate::schema::{INSERT_COLUMNS, Table};
use crate::settings::Settings;

/// At most this many rows go into one insert statement, however narrow the table.
const MAX_ROWS_PER_STATEMENT: usize = 500;

/// One statement with the values it binds, and what it does (for errors).
#[derive(Debug, Clone)]
pub struct Statement {
    /// The SQL text, from [`Dialect`].
    pub sql: String,
    /// The values bound to its placeholders, in order.
    pub cells: Vec<Cell>,
    /// What it does, as an error message says it.
    pub doing: String,
    /// How many rows it inserts (0 for a deletion): fewer stored are duplicates.
    pub rows: usize,
}

/// Writes a prepared batch in one transaction: all rows and deletions, or none.
pub async fn write(
    pool: &Pool,
    settings: &Settings,
    prepared: Prepared,
    now_ms: i64,
) -> Result<(), SinkError> {
    let deletions = retention(pool.dialect(), settings, &prepared, now_ms);
    match pool {
        Pool::Sqlite(pool) => sqlite::write(pool, settings, prepared, deletions).await,
        Pool::Postgres(pool) => postgres::write(pool, settings, prepared, deletions).await,
    }
}

/// The multi-row inserts of a batch, chunked under the dialect's bind limit.
pub fn inserts(dialect: Dialect, settings: &Settings, rows: [Vec<Vec<Cell>>; 4]) -> Vec<Statement> {
    let schema = settings.schema.as_deref();
    let mut statements = Vec::new();
    for (table, rows) in Table::ALL.into_iter().zip(rows) {
        let custom = settings.custom_columns(table);
        let width = INSERT_COLUMNS.len() + custom.len();
        let per_statement = (dialect.max_bind_params() / width).clamp(1, MAX_ROWS_PER_STATEMENT);
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<Vec<Cell>> = rows.by_ref().take(per_statement).collect();
            let count = chunk.len();
            statements.push(Statement {
                sql: dialect.insert(schema, table, custom, count),
                cells: chunk.into_iter().flatten().collect(),
                doing: format!("inserting {count} rows into {}", table.name()),
                rows: count,
            });
        }
    }
    statements
}

/// The deletions of the seed's retention rules for this batch, run after its
/// inserts in the same transaction: the rows of stopped interactions, of
/// logged-out agents (up to the logout), of answered requests, and custom
/// rows stored longer ago than `delete-custom-after` (the purge runs with
/// every write, like the original's event-driven trigger).
fn retention(
    dialect: Dialect,
    settings: &Settings,
    prepared: &Prepared,
    now_ms: i64,
) -> Vec<Statement> {
    let schema = settings.schema.as_deref();
    let chunk = dialect.max_bind_params().min(MAX_ROWS_PER_STATEMENT);
    let mut statements = Vec::new();
    let text = |id: &String| Cell::Text(Some(id.clone()));
    for (table, ids, why) in [
        (
            Table::Interaction,
            &prepared.stopped,
            "stopped interactions",
        ),
        (Table::Esp, &prepared.responded, "answered requests"),
    ] {
        for ids in ids.chunks(chunk) {
            statements.push(Statement {
                sql: dialect.delete_where_in(schema, table, table.retention_column(), ids.len()),
                cells: ids.iter().map(text).collect(),
                doing: format!(
                    "deleting the rows of {} {why} from {}",
                    ids.len(),
                    table.name()
                ),
                rows: 0,
            });
        }
    }
    for (agent, until) in &prepared.logged_out {
        statements.push(Statement {
            sql: dialect.delete_agent_until(schema),
            cells: vec![text(agent), Cell::Int(Some(*until))],
            doing: format!(
                "deleting the rows of agent `{agent}`, logged out, from {}",
                Table::Agent.name()
            ),
            rows: 0,
        });
    }
    if let Some(after) = settings.retention.custom_after {
        let after = i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
        statements.push(Statement {
            sql: dialect.purge_before(schema, Table::Custom),
            cells: vec![Cell::Int(Some(now_ms.saturating_sub(after)))],
            doing: format!(
                "purging {} rows older than `delete-custom-after`",
                Table::Custom.name()
            ),
            rows: 0,
        });
    }
    statements
}

/// Milliseconds since the epoch, as events count `occurred_at` and rows `stored_at`.
pub fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// Says, once per write, that events stored before were not stored again.
fn report_duplicates(duplicates: u64) {
    if duplicates > 0 {
        // Events stored before (same origin and sequence): a batch sent again
        // after a commit whose answer was lost. Nothing is lost; say so.
        tracing::info!(
            duplicates,
            "sql sink: events already stored were not stored twice."
        );
    }
}
