//! Records become rows: each record goes to its activity's table as cells
//! ready to bind or copy, and the retention rules note what the batch ends
//! (stopped interactions, logged-out agents, answered requests).

use ixn_plugin_api::sink::{EventRecord, Field, SinkError, Value};

use crate::schema::{INSERT_COLUMNS, Table};
use crate::settings::{AGENT_KEY, ColumnType, CustomColumn, REQUEST_KEY, Settings};

/// The event whose arrival ends an interaction's rows when `delete-on-stop` is set.
pub const PROCESSING_STOPPED: &str = "EventProcessingStopped";
/// The event whose arrival ends an agent's rows when `delete-on-logout` is set.
pub const AGENT_LOGOUT: &str = "EventAgentLogout";
/// The event whose arrival ends a request's rows when `delete-on-response` is set.
pub const SERVICE_RESPONDED: &str = "EventExternalServiceResponded";

/// One value bound to a column; `None` is SQL NULL of the column's type
/// (PostgreSQL wants a NULL to have the type of its column).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// An integer column.
    Int(Option<i64>),
    /// A timestamp column, in milliseconds since the epoch (an integer on
    /// SQLite, a `timestamptz` on PostgreSQL).
    Timestamp(Option<i64>),
    /// A text column.
    Text(Option<String>),
    /// The `attributes` column: a JSON object (text on SQLite, JSONB on PostgreSQL).
    Json(String),
}

/// A batch sorted into rows per table, ready to bind, and what it ends.
#[derive(Debug, Default)]
pub struct Prepared {
    /// Rows per table, in [`Table::ALL`] order; each row holds
    /// [`INSERT_COLUMNS`] then the table's custom columns.
    pub rows: [Vec<Vec<Cell>>; 4],
    /// Interactions whose `EventProcessingStopped` is in the batch (when `delete-on-stop`).
    pub stopped: Vec<String>,
    /// Agents whose `EventAgentLogout` is in the batch, with the logout's
    /// time (when `delete-on-logout`).
    pub logged_out: Vec<(String, i64)>,
    /// Requests whose `EventExternalServiceResponded` is in the batch (when `delete-on-response`).
    pub responded: Vec<String>,
}

impl Prepared {
    /// How many rows the batch holds.
    pub fn len(&self) -> usize {
        self.rows.iter().map(Vec::len).sum()
    }

    /// Whether the batch holds no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The text value of a record's field, if it has one.
fn text_field<'r>(record: &'r EventRecord, name: &str) -> Option<&'r str> {
    record.fields.iter().rev().find_map(|f| match &f.value {
        Value::Str(text) if f.name == name => Some(text.as_str()),
        _ => None,
    })
}

fn push_once(list: &mut Vec<String>, id: &str) {
    if !list.iter().any(|known| known == id) {
        list.push(id.to_string());
    }
}

/// Sorts and converts a batch, stored at `now_ms` (ms since the epoch);
/// refuses it whole if one record cannot be stored.
pub fn prepare(
    batch: Vec<EventRecord>,
    settings: &Settings,
    now_ms: i64,
) -> Result<Prepared, SinkError> {
    let mut prepared = Prepared::default();
    for record in batch {
        let Some(table) = Table::for_activity(&record.activity) else {
            return Err(SinkError::permanent(format!(
                "sql sink: event {} ({}, sequence {}) has activity `{}`; expected interaction, agent, esp or custom",
                record.event_name, record.event_id, record.sequence, record.activity
            )));
        };
        let retention = settings.retention;
        match record.event_name.as_str() {
            PROCESSING_STOPPED if retention.on_stop => {
                if let Some(id) = &record.interaction_id {
                    push_once(&mut prepared.stopped, id);
                }
            }
            AGENT_LOGOUT if retention.on_logout => {
                if let Some(agent) = text_field(&record, AGENT_KEY) {
                    prepared
                        .logged_out
                        .push((agent.to_string(), record.occurred_at));
                }
            }
            SERVICE_RESPONDED if retention.on_response => {
                if let Some(request) = text_field(&record, REQUEST_KEY) {
                    push_once(&mut prepared.responded, request);
                }
            }
            _ => {}
        }
        let row = row(record, settings.custom_columns(table), now_ms)?;
        prepared.rows[table.index()].push(row);
    }
    Ok(prepared)
}

/// One record as the cells of its row.
fn row(record: EventRecord, custom: &[CustomColumn], now_ms: i64) -> Result<Vec<Cell>, SinkError> {
    let sequence = i64::try_from(record.sequence).map_err(|_| {
        SinkError::permanent(format!(
            "sql sink: event {} has sequence {}, beyond the 64-bit signed integer a column holds",
            record.event_name, record.sequence
        ))
    })?;
    let attributes = serde_json::to_string(&Attributes::of(&record.fields)).map_err(|e| {
        SinkError::permanent(format!(
            "sql sink: encoding the attributes of event {}: {e}",
            record.event_name
        ))
    })?;
    let mut cells = Vec::with_capacity(INSERT_COLUMNS.len() + custom.len());
    cells.push(Cell::Text(Some(record.origin)));
    cells.push(Cell::Int(Some(sequence)));
    let generation = i64::try_from(record.generation).map_err(|_| {
        SinkError::permanent(format!(
            "sql sink: event {} has generation {}, beyond the 64-bit signed integer a column holds",
            record.event_name, record.generation
        ))
    })?;
    cells.push(Cell::Int(Some(generation)));
    cells.push(Cell::Int(Some(i64::from(record.event_id))));
    cells.push(Cell::Text(Some(record.event_name)));
    cells.push(Cell::Text(record.endpoint));
    cells.push(Cell::Int(Some(record.occurred_at)));
    cells.push(Cell::Text(record.interaction_id));
    cells.push(Cell::Json(attributes));
    for column in custom {
        if column.kind == ColumnType::StoredAt {
            cells.push(Cell::Int(Some(now_ms)));
            continue;
        }
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
/// column's, else NULL of the column's type (the value stays in `attributes` either way).
///
/// `string` takes `str`, `integer` takes `int`, `timestamp` takes `timestamp`
/// and `int` (milliseconds). A string longer than the column's length (in UTF-8
/// bytes) is truncated at a char boundary: a character that would be split is
/// dropped whole, so the stored text may be up to three bytes shorter than the length.
pub fn custom_cell(column: &CustomColumn, value: Option<&Value>) -> Cell {
    match (column.kind, value) {
        (ColumnType::String, Some(Value::Str(text))) => Cell::Text(Some(
            truncate(text, usize::try_from(column.length).unwrap_or(usize::MAX)).to_string(),
        )),
        (ColumnType::Integer, Some(Value::Int(n))) => Cell::Int(Some(*n)),
        (ColumnType::Timestamp, Some(Value::Timestamp(ms) | Value::Int(ms))) => {
            Cell::Timestamp(Some(*ms))
        }
        (ColumnType::String, _) => Cell::Text(None),
        (ColumnType::Integer | ColumnType::StoredAt, _) => Cell::Int(None),
        (ColumnType::Timestamp, _) => Cell::Timestamp(None),
    }
}

/// `text` cut to at most `max_bytes` bytes at a char boundary (never inside a character).
pub fn truncate(text: &str, max_bytes: usize) -> &str {
    &text[..text.floor_char_boundary(max_bytes)]
}

/// A record's fields as one JSON object, written as a map of them would be
/// (keys sorted, the last field of a name winning) without building one:
/// this runs for every row.
struct Attributes<'r>(Vec<&'r Field>);

impl<'r> Attributes<'r> {
    fn of(fields: &'r [Field]) -> Self {
        let mut sorted: Vec<&Field> = fields.iter().collect();
        // Stable: fields of one name keep their order, so the last one
        // replaces the others below.
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        let mut unique: Vec<&Field> = Vec::with_capacity(sorted.len());
        for field in sorted {
            match unique.last_mut() {
                Some(last) if last.name == field.name => *last = field,
                _ => unique.push(field),
            }
        }
        Attributes(unique)
    }
}

impl serde::Serialize for Attributes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for field in &self.0 {
            match &field.value {
                Value::Str(text) => map.serialize_entry(&field.name, text)?,
                Value::Int(n) | Value::Timestamp(n) => map.serialize_entry(&field.name, n)?,
                Value::Float(f) if f.is_finite() => map.serialize_entry(&field.name, f)?,
                Value::Float(_) => map.serialize_entry(&field.name, &())?,
                Value::Boolean(b) => map.serialize_entry(&field.name, b)?,
            }
        }
        map.end()
    }
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
            Cell::Text(Some("Go".into()))
        );
        assert_eq!(
            custom_cell(&column(ColumnType::Integer, 64), Some(&s)),
            Cell::Int(None)
        );
        assert_eq!(
            custom_cell(&column(ColumnType::Integer, 64), Some(&Value::Int(7))),
            Cell::Int(Some(7))
        );
        assert_eq!(
            custom_cell(&column(ColumnType::String, 64), Some(&Value::Int(7))),
            Cell::Text(None)
        );
        assert_eq!(
            custom_cell(
                &column(ColumnType::Timestamp, 64),
                Some(&Value::Timestamp(9))
            ),
            Cell::Timestamp(Some(9))
        );
        assert_eq!(
            custom_cell(&column(ColumnType::Timestamp, 64), Some(&Value::Int(9))),
            Cell::Timestamp(Some(9))
        );
        assert_eq!(
            custom_cell(&column(ColumnType::Timestamp, 64), Some(&Value::Float(9.0))),
            Cell::Timestamp(None)
        );
        assert_eq!(
            custom_cell(&column(ColumnType::String, 64), None),
            Cell::Text(None)
        );
    }

    #[test]
    fn attributes_are_the_json_object_of_the_fields() {
        let field = |name: &str, value: Value| Field {
            name: name.into(),
            value,
        };
        let fields = [
            field("b", Value::Str("tab\t\"quote\" Жук".into())),
            field("a", Value::Float(f64::NAN)),
            field("c", Value::Float(1.5)),
            field("b", Value::Boolean(true)),
            field("d", Value::Timestamp(5)),
            field("b", Value::Int(-7)),
            field("e", Value::Str(String::new())),
        ];
        let written = serde_json::to_string(&Attributes::of(&fields)).expect("encodes");
        // Keys sorted, the last `b` wins, a non-finite float is null.
        assert_eq!(written, r#"{"a":null,"b":-7,"c":1.5,"d":5,"e":""}"#);
        let only = serde_json::to_string(&Attributes::of(&fields[..1])).expect("encodes");
        assert_eq!(only, r#"{"b":"tab\t\"quote\" Жук"}"#);
        assert_eq!(
            serde_json::to_string(&Attributes::of(&[])).expect("encodes"),
            "{}"
        );
    }
}
