//! Writing a batch to PostgreSQL: `COPY` per table, then the deletions; a
//! batch that holds an event already stored is written again with
//! `INSERT … ON CONFLICT DO NOTHING`.
//!
//! `COPY` cannot skip a row that breaks the `(origin, sequence)` unique
//! constraint, but such a row only comes with a batch sent again after a
//! commit whose answer was lost: rare, and then the slower insert path keeps
//! the events exactly once. Every other batch goes in at `COPY`'s speed.

use ixn_plugin_api::sink::SinkError;
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Postgres};

use super::{Statement, copy_text, inserts, report_duplicates};
use crate::dialect::Dialect;
use crate::error::{Context, db_error};
use crate::insert::{Cell, Prepared};
use crate::schema::Table;
use crate::settings::Settings;

type Query<'q> = sqlx::query::Query<'q, Postgres, <Postgres as sqlx::Database>::Arguments>;

/// Timestamps and JSON are bound as text and cast by the statement
/// (`$n::timestamptz`, `$n::jsonb`): one encoding for both paths.
fn bind(query: Query<'_>, cell: Cell) -> Query<'_> {
    match cell {
        Cell::Int(n) => query.bind(n),
        Cell::Timestamp(ms) => query.bind(ms.and_then(copy_text::timestamp)),
        Cell::Text(text) => query.bind(text),
        Cell::Json(json) => query.bind(json),
    }
}

async fn execute(conn: &mut PgConnection, statement: Statement) -> Result<u64, SinkError> {
    let Statement {
        sql, cells, doing, ..
    } = statement;
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for cell in cells {
        query = bind(query, cell);
    }
    query
        .execute(conn)
        .await
        .map(|done| done.rows_affected())
        .map_err(db_error(|| doing))
}

/// Why a first attempt did not commit.
enum Failed {
    /// An event of the batch is stored already: write it again, skipping those.
    Duplicate,
    /// Anything else, as the logger should see it.
    Error(SinkError),
}

pub(super) async fn write(
    pool: &PgPool,
    settings: &Settings,
    prepared: Prepared,
    deletions: Vec<Statement>,
) -> Result<(), SinkError> {
    let rows = prepared.len();
    match copy_all(pool, settings, &prepared, &deletions).await {
        Ok(()) => return Ok(()),
        Err(Failed::Error(e)) => return Err(e),
        Err(Failed::Duplicate) => {
            tracing::debug!(
                rows,
                "sql sink: the batch holds stored events; inserting it without them"
            );
        }
    }
    let mut tx = pool
        .begin()
        .await
        .context("starting the write transaction")?;
    let mut duplicates = 0;
    for statement in inserts(Dialect::Postgres, settings, prepared.rows) {
        let rows = statement.rows as u64;
        duplicates += rows.saturating_sub(execute(&mut tx, statement).await?);
    }
    for statement in deletions {
        execute(&mut tx, statement).await?;
    }
    tx.commit()
        .await
        .context("committing the write transaction")?;
    report_duplicates(duplicates);
    Ok(())
}

/// How much `COPY` text is rendered before it is sent.
const COPY_CHUNK: usize = 64 * 1024;

/// The fast path: one transaction of `COPY`s and the deletions.
async fn copy_all(
    pool: &PgPool,
    settings: &Settings,
    prepared: &Prepared,
    deletions: &[Statement],
) -> Result<(), Failed> {
    let schema = settings.schema.as_deref();
    let mut tx = pool
        .begin()
        .await
        .context("starting the write transaction")
        .map_err(Failed::Error)?;
    let mut text = String::with_capacity(COPY_CHUNK + COPY_CHUNK / 4);
    for (table, rows) in Table::ALL.into_iter().zip(&prepared.rows) {
        if rows.is_empty() {
            continue;
        }
        let statement = Dialect::Postgres.copy_in(schema, table, settings.custom_columns(table));
        let doing = || format!("copying {} rows into {}", rows.len(), table.name());
        // Rows are sent as they are rendered, a chunk at a time, so that the
        // server parses one chunk while the next is rendered.
        let copied = async {
            let mut copy = tx.copy_in_raw(&statement).await?;
            for row in rows {
                copy_text::push_row(&mut text, row);
                if text.len() >= COPY_CHUNK {
                    copy.send(text.as_bytes()).await?;
                    text.clear();
                }
            }
            if !text.is_empty() {
                copy.send(text.as_bytes()).await?;
                text.clear();
            }
            copy.finish().await
        }
        .await;
        match copied {
            Ok(_) => {}
            // The transaction is rolled back when `tx` drops.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(Failed::Duplicate);
            }
            Err(e) => return Err(Failed::Error(db_error(doing)(e))),
        }
    }
    for statement in deletions {
        execute(&mut tx, statement.clone())
            .await
            .map_err(Failed::Error)?;
    }
    tx.commit()
        .await
        .context("committing the write transaction")
        .map_err(Failed::Error)
}
