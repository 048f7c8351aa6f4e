//! Writing a batch to SQLite: multi-row `INSERT OR IGNORE`, then the deletions.

use ixn_plugin_api::sink::SinkError;
use ixn_sql::WriteTx;
use sqlx::{AssertSqlSafe, Sqlite, SqliteConnection, SqlitePool};

use super::{Statement, inserts, report_duplicates};
use crate::dialect::Dialect;
use crate::error::{Context, db_error};
use crate::insert::{Cell, Prepared};
use crate::settings::Settings;

type Query<'q> = sqlx::query::Query<'q, Sqlite, <Sqlite as sqlx::Database>::Arguments>;

fn bind(query: Query<'_>, cell: Cell) -> Query<'_> {
    match cell {
        Cell::Int(n) | Cell::Timestamp(n) => query.bind(n),
        Cell::Text(text) => query.bind(text),
        Cell::Json(json) => query.bind(json),
    }
}

/// Runs a statement; answers the rows it changed.
async fn execute(conn: &mut SqliteConnection, statement: Statement) -> Result<u64, SinkError> {
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

pub(super) async fn write(
    pool: &SqlitePool,
    settings: &Settings,
    prepared: Prepared,
    deletions: Vec<Statement>,
) -> Result<(), SinkError> {
    let dialect = Dialect::Sqlite;
    let mut tx = WriteTx::begin(pool, dialect.begin_write())
        .await
        .context("starting the write transaction")?;
    let written = async {
        let mut duplicates = 0;
        for statement in inserts(dialect, settings, prepared.rows) {
            let rows = statement.rows as u64;
            duplicates += rows.saturating_sub(execute(tx.conn(), statement).await?);
        }
        for statement in deletions {
            execute(tx.conn(), statement).await?;
        }
        Ok(duplicates)
    }
    .await;
    let duplicates = tx
        .finish(written, |e| {
            crate::error::classify("committing the write transaction", e)
        })
        .await?;
    report_duplicates(duplicates);
    Ok(())
}
