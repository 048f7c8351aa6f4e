//! A row of `interactions` (selected with [`Schema::select_list`]) as an
//! [`Interaction`], on any database whose rows implement [`Columns`].

use ixn_plugin_api::storage::{FieldType, Interaction, State, StorageError};
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::interactions::layout::{BLOB_COLUMN, Schema};
use crate::interactions::properties::{self, column_value};

/// Reading the columns of a selected row, typed as the layout stores them:
/// text, integers (timestamps are milliseconds), and the attached-data
/// blob's bytes.
pub trait Columns {
    /// A text column; `None` for NULL.
    fn text(&self, column: &str) -> Result<Option<String>, sqlx::Error>;
    /// An integer column; `None` for NULL.
    fn int(&self, column: &str) -> Result<Option<i64>, sqlx::Error>;
    /// The bytes of the attached-data blob ([`crate::attached`]); `None` for NULL.
    fn blob(&self) -> Result<Option<Vec<u8>>, sqlx::Error>;
}

impl Columns for SqliteRow {
    fn text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
        self.try_get(column)
    }
    fn int(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
        self.try_get(column)
    }
    fn blob(&self) -> Result<Option<Vec<u8>>, sqlx::Error> {
        self.try_get(BLOB_COLUMN)
    }
}

/// On PostgreSQL the blob is JSONB, selected as text
/// (`"flexible_properties"::text`, see [`select_list_with_blob_as_text`]).
impl Columns for PgRow {
    fn text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
        self.try_get(column)
    }
    fn int(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
        self.try_get(column)
    }
    fn blob(&self) -> Result<Option<Vec<u8>>, sqlx::Error> {
        let text: Option<String> = self.try_get(BLOB_COLUMN)?;
        Ok(text.map(String::into_bytes))
    }
}

/// `schema`'s select list with the blob column read as text, for a
/// database whose blob is JSON (PostgreSQL's JSONB).
pub fn select_list_with_blob_as_text(schema: &Schema) -> String {
    let blob = crate::quote(BLOB_COLUMN);
    schema
        .select_list
        .replacen(&blob, &format!("{blob}::text AS {blob}"), 1)
}

/// `value` of a column the layout declares NOT NULL.
fn required<T>(value: Option<T>, column: &str, id: &str) -> Result<T, StorageError> {
    value.ok_or_else(|| {
        StorageError::permanent(format!("interaction `{id}`: column `{column}` is NULL"))
    })
}

/// Converts a row; a value a backend would never have written (NULL in a
/// required column, unknown state code, unreadable blob) is a permanent
/// error naming the interaction.
pub fn interaction(row: &impl Columns, schema: &Schema) -> Result<Interaction, StorageError> {
    let read = |column: &str, id: &str, e: sqlx::Error| {
        StorageError::permanent(format!("interaction `{id}`: read column `{column}`: {e}"))
    };
    let text = |column: &str, id: &str| row.text(column).map_err(|e| read(column, id, e));
    let int = |column: &str, id: &str| row.int(column).map_err(|e| read(column, id, e));
    let id: String = required(text("id", "?")?, "id", "?")?;
    let bad = |what: String| StorageError::permanent(format!("interaction `{id}`: {what}"));
    let text_req = |column: &str| required(text(column, &id)?, column, &id);
    let int_req = |column: &str| required(int(column, &id)?, column, &id);

    let state_code = int_req("state")?;
    let state = State::from_code(state_code)
        .ok_or_else(|| bad(format!("unknown state code {state_code}")))?;
    let priority = int_req("priority")?;
    let priority =
        i32::try_from(priority).map_err(|_| bad(format!("priority {priority} is out of range")))?;
    // A count; clamp rather than fail on a value no real system reaches.
    let lease_expiries = u32::try_from(int_req("lease_expiries")?.max(0)).unwrap_or(u32::MAX);
    let is_locked = int_req("is_locked")?;

    let blob = row.blob().map_err(|e| read(BLOB_COLUMN, &id, e))?;
    let blob = properties::decode_blob(blob.as_deref()).map_err(bad)?;
    let mut columns = Vec::new();
    for field in &schema.custom {
        let value = match field.field_type {
            FieldType::Text => column_value(field, text(&field.column, &id)?, None),
            FieldType::Integer | FieldType::Timestamp => {
                column_value(field, None, int(&field.column, &id)?)
            }
        };
        if let Some(value) = value {
            columns.push((field.key.clone(), value));
        }
    }

    Ok(Interaction {
        tenant: text_req("tenant")?,
        media_type: text_req("media_type")?,
        interaction_type: text_req("interaction_type")?,
        interaction_subtype: text_req("interaction_subtype")?,
        external_id: text("external_id", &id)?,
        parent_id: text("parent_id", &id)?,
        queue: text_req("queue")?,
        state,
        is_locked: is_locked != 0,
        priority,
        submitted_by: text_req("submitted_by")?,
        submitted_at: int_req("submitted_at")?,
        placed_in_queue_at: int_req("placed_in_queue_at")?,
        moved_to_queue_at: int("moved_to_queue_at", &id)?,
        delivered_at: int("delivered_at", &id)?,
        assigned_to: text("assigned_to", &id)?,
        workbin: text("workbin", &id)?,
        scheduled_at: int("scheduled_at", &id)?,
        lease_owner: text("lease_owner", &id)?,
        lease_until: int("lease_until", &id)?,
        lease_expiries,
        stopped_at: int("stopped_at", &id)?,
        stop_reason: text("stop_reason", &id)?,
        component_version: text("component_version", &id)?,
        properties: properties::merge(blob, columns),
        id,
    })
}
