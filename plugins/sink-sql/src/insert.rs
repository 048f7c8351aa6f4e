//! Storing a batch: records become rows of their activity's table, written in
//! one transaction with multi-row inserts, then stopped interactions are deleted.

use ixn_plugin_api::sink::{EventRecord, SinkError, Value};
use ixn_sql::WriteTx;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};

use crate::dialect::Dialect;
use crate::error::{Context, db_error};
use crate::schema::{INSERT_COLUMNS, Table};
use crate::settings::{ColumnType, CustomColumn, Settings};

/// The event whose arrival ends an interaction's rows when `delete-on-stop` is set.
pub const PROCESSING_STOPPED: &str = "EventProcessingStopped";

/// At most this many rows go into one statement, however narrow the table.
const MAX_ROWS_PER_STATEMENT: usize = 500;

/// One value bound to a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// Milliseconds since the epoch (an integer on SQLite).
    Timestamp(i64),
    /// Text.
    Text(String),
}

/// A batch sorted into rows per table, ready to bind.
#[derive(Debug, Default)]
pub struct Prepared {
    /// Rows per table, in [`Table::ALL`] order; each row holds
    /// [`INSERT_COLUMNS`] then the table's custom columns.
    pub rows: [Vec<Vec<Cell>>; 4],
    /// Interactions whose `EventProcessingStopped` is in the batch (when `delete-on-stop`).
    pub stopped: Vec<String>,
}

/// Sorts and converts a batch; refuses it whole if one record cannot be stored.
pub fn prepare(batch: Vec<EventRecord>, settings: &Settings) -> Result<Prepared, SinkError> {
    let mut prepared = Prepared::default();
    for record in batch {
        let Some(table) = Table::for_activity(&record.activity) else {
            return Err(SinkError::permanent(format!(
                "sql sink: event {} ({}, sequence {}) has activity `{}`; expected interaction, agent, esp or custom",
                record.event_name, record.event_id, record.sequence, record.activity
            )));
        };
        if settings.delete_on_stop
            && record.event_name == PROCESSING_STOPPED
            && let Some(id) = &record.interaction_id
            && !prepared.stopped.contains(id)
        {
            prepared.stopped.push(id.clone());
        }
        let row = row(record, settings.custom_columns(table))?;
        prepared.rows[table.index()].push(row);
    }
    Ok(prepared)
}

/// One record as the cells of its row.
fn row(record: EventRecord, custom: &[CustomColumn]) -> Result<Vec<Cell>, SinkError> {
    let sequence = i64::try_from(record.sequence).map_err(|_| {
        SinkError::permanent(format!(
            "sql sink: event {} has sequence {}, beyond the 64-bit signed integer a column holds",
            record.event_name, record.sequence
        ))
    })?;
    let mut attributes = serde_json::Map::with_capacity(record.fields.len());
    for field in &record.fields {
        attributes.insert(field.name.clone(), json_value(&field.value));
    }
    let attributes = serde_json::to_string(&attributes).map_err(|e| {
        SinkError::permanent(format!(
            "sql sink: encoding the attributes of event {}: {e}",
            record.event_name
        ))
    })?;
    let mut cells = Vec::with_capacity(INSERT_COLUMNS.len() + custom.len());
    cells.push(Cell::Text(record.origin));
    cells.push(Cell::Int(sequence));
    let generation = i64::try_from(record.generation).map_err(|_| {
        SinkError::permanent(format!(
            "sql sink: event {} has generation {}, beyond the 64-bit signed integer a column holds",
            record.event_name, record.generation
        ))
    })?;
    cells.push(Cell::Int(generation));
    cells.push(Cell::Int(i64::from(record.event_id)));
    cells.push(Cell::Text(record.event_name));
    cells.push(record.endpoint.map_or(Cell::Null, Cell::Text));
    cells.push(Cell::Int(record.occurred_at));
    cells.push(record.interaction_id.map_or(Cell::Null, Cell::Text));
    cells.push(Cell::Text(attributes));
    for column in custom {
        // The last field of that name wins, as it does in `attributes`.
        let value = record
            .fields
            .iter()
            .rev()
            .find(|f| f.name == column.key)
            .map(|f| &f.value);
        cells.push(custom_cell(column, value));
    }
    Ok(cells)
}

/// The cell of a custom column: the field's value if its type fits the
/// column's, else NULL (the value stays in `attributes` either way).
///
/// `string` takes `str`, `integer` takes `int`, `timestamp` takes `timestamp`
/// and `int` (milliseconds). A string longer than the column's length (in UTF-8
/// bytes) is truncated at a char boundary: a character that would be split is
/// dropped whole, so the stored text may be up to three bytes shorter than the length.
pub fn custom_cell(column: &CustomColumn, value: Option<&Value>) -> Cell {
    match (column.kind, value) {
        (ColumnType::String, Some(Value::Str(text))) => Cell::Text(
            truncate(text, usize::try_from(column.length).unwrap_or(usize::MAX)).to_string(),
        ),
        (ColumnType::Integer, Some(Value::Int(n))) => Cell::Int(*n),
        (ColumnType::Timestamp, Some(Value::Timestamp(ms) | Value::Int(ms))) => {
            Cell::Timestamp(*ms)
        }
        _ => Cell::Null,
    }
}

/// `text` cut to at most `max_bytes` bytes at a char boundary (never inside a character).
pub fn truncate(text: &str, max_bytes: usize) -> &str {
    &text[..text.floor_char_boundary(max_bytes)]
}

/// A field value as plain JSON; a non-finite float becomes `null`.
pub fn json_value(value: &Value) -> serde_json::Value {
    match value {
        Value::Str(s) => serde_json::Value::String(s.clone()),
        Value::Int(n) | Value::Timestamp(n) => serde_json::Value::from(*n),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::Boolean(b) => serde_json::Value::Bool(*b),
    }
}

type Query<'q> = sqlx::query::Query<'q, Sqlite, <Sqlite as sqlx::Database>::Arguments>;

fn bind(query: Query<'_>, cell: Cell) -> Query<'_> {
    match cell {
        Cell::Null => query.bind(None::<i64>),
        Cell::Int(n) | Cell::Timestamp(n) => query.bind(n),
        Cell::Text(text) => query.bind(text),
    }
}

/// Writes a prepared batch in one transaction: all rows or none.
pub async fn write(
    pool: &SqlitePool,
    dialect: Dialect,
    settings: &Settings,
    prepared: Prepared,
) -> Result<(), SinkError> {
    let mut tx = WriteTx::begin(pool, dialect.begin_write())
        .await
        .context("starting the write transaction")?;
    let written = insert(tx.conn(), dialect, settings, prepared).await;
    tx.finish(written, |e| {
        crate::error::classify("committing the write transaction", e)
    })
    .await
}

async fn insert(
    conn: &mut SqliteConnection,
    dialect: Dialect,
    settings: &Settings,
    prepared: Prepared,
) -> Result<(), SinkError> {
    let schema = settings.schema.as_deref();
    let mut duplicates = 0;
    for (table, rows) in Table::ALL.into_iter().zip(prepared.rows) {
        if rows.is_empty() {
            continue;
        }
        let custom = settings.custom_columns(table);
        let width = INSERT_COLUMNS.len() + custom.len();
        let per_statement = (dialect.max_bind_params() / width).clamp(1, MAX_ROWS_PER_STATEMENT);
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<Vec<Cell>> = rows.by_ref().take(per_statement).collect();
            let sql = dialect.insert(schema, table, custom, chunk.len());
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            let count = chunk.len();
            for cell in chunk.into_iter().flatten() {
                query = bind(query, cell);
            }
            let inserted = query
                .execute(&mut *conn)
                .await
                .map_err(db_error(|| {
                    format!("inserting {count} rows into {}", table.name())
                }))?
                .rows_affected();
            duplicates += (count as u64).saturating_sub(inserted);
        }
    }
    for ids in prepared
        .stopped
        .chunks(dialect.max_bind_params().min(MAX_ROWS_PER_STATEMENT))
    {
        let sql = dialect.delete_interactions(schema, Table::Interaction, ids.len());
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in ids {
            query = query.bind(id.clone());
        }
        query.execute(&mut *conn).await.map_err(db_error(|| {
            format!(
                "deleting the rows of {} stopped interactions from {}",
                ids.len(),
                Table::Interaction.name()
            )
        }))?;
    }
    if duplicates > 0 {
        // Events stored before (same origin and sequence): a batch sent again
        // after a commit whose answer was lost. Nothing is lost; say so.
        tracing::info!(
            duplicates,
            "sql sink: events already stored were not stored twice."
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(kind: ColumnType, length: u32) -> CustomColumn {
        CustomColumn {
            key: "K".into(),
            column: "k".into(),
            kind,
            length,
        }
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("abcdef", 4), "abcd");
        assert_eq!(truncate("abc", 64), "abc");
        // "Жук" is 6 bytes: 5 keeps two characters, not half of the third.
        assert_eq!(truncate("Жук", 5), "Жу");
        assert_eq!(truncate("日本", 2), "");
    }

    #[test]
    fn custom_cells_are_type_checked() {
        let s = Value::Str("Gold".into());
        assert_eq!(
            custom_cell(&column(ColumnType::String, 2), Some(&s)),
            Cell::Text("Go".into())
        );
        assert_eq!(
            custom_cell(&column(ColumnType::Integer, 64), Some(&s)),
            Cell::Null
        );
        assert_eq!(
            custom_cell(&column(ColumnType::Integer, 64), Some(&Value::Int(7))),
            Cell::Int(7)
        );
        assert_eq!(
            custom_cell(&column(ColumnType::String, 64), Some(&Value::Int(7))),
            Cell::Null
        );
        assert_eq!(
            custom_cell(
                &column(ColumnType::Timestamp, 64),
                Some(&Value::Timestamp(9))
            ),
            Cell::Timestamp(9)
        );
        assert_eq!(
            custom_cell(&column(ColumnType::Timestamp, 64), Some(&Value::Int(9))),
            Cell::Timestamp(9)
        );
        assert_eq!(
            custom_cell(&column(ColumnType::Timestamp, 64), Some(&Value::Float(9.0))),
            Cell::Null
        );
        assert_eq!(
            custom_cell(&column(ColumnType::String, 64), None),
            Cell::Null
        );
    }

    #[test]
    fn json_values() {
        assert_eq!(json_value(&Value::Float(f64::NAN)), serde_json::Value::Null);
        assert_eq!(json_value(&Value::Float(1.5)), serde_json::json!(1.5));
        assert_eq!(json_value(&Value::Boolean(true)), serde_json::json!(true));
        assert_eq!(json_value(&Value::Timestamp(5)), serde_json::json!(5));
    }
}
