//! A row of `interactions` (selected with [`Schema::select_list`]) as an [`Interaction`].

use ixn_plugin_api::storage::{FieldType, Interaction, State, StorageError};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::schema::{BLOB_COLUMN, Schema};
use ixn_sql::interactions::properties::{self, column_value};

/// Converts a row; a value this backend would never have written (unknown
/// state code, unreadable blob) is a permanent error naming the interaction.
pub(crate) fn interaction(row: &SqliteRow, schema: &Schema) -> Result<Interaction, StorageError> {
    let id: String = get(row, "id", "?")?;
    let bad = |what: String| StorageError::permanent(format!("interaction `{id}`: {what}"));

    let state_code: i64 = get(row, "state", &id)?;
    let state = State::from_code(state_code)
        .ok_or_else(|| bad(format!("unknown state code {state_code}")))?;
    let priority: i64 = get(row, "priority", &id)?;
    let priority =
        i32::try_from(priority).map_err(|_| bad(format!("priority {priority} is out of range")))?;
    let lease_expiries: i64 = get(row, "lease_expiries", &id)?;
    // A count; clamp rather than fail on a value no real system reaches.
    let lease_expiries = u32::try_from(lease_expiries.max(0)).unwrap_or(u32::MAX);
    let is_locked: i64 = get(row, "is_locked", &id)?;

    let blob: Option<Vec<u8>> = get(row, BLOB_COLUMN, &id)?;
    let blob = properties::decode_blob(blob.as_deref()).map_err(bad)?;
    let mut columns = Vec::new();
    for field in &schema.custom {
        let value = match field.field_type {
            FieldType::Text => column_value(field, get(row, &field.column, &id)?, None),
            FieldType::Integer | FieldType::Timestamp => {
                column_value(field, None, get(row, &field.column, &id)?)
            }
        };
        if let Some(value) = value {
            columns.push((field.key.clone(), value));
        }
    }

    Ok(Interaction {
        tenant: get(row, "tenant", &id)?,
        media_type: get(row, "media_type", &id)?,
        interaction_type: get(row, "interaction_type", &id)?,
        interaction_subtype: get(row, "interaction_subtype", &id)?,
        external_id: get(row, "external_id", &id)?,
        parent_id: get(row, "parent_id", &id)?,
        queue: get(row, "queue", &id)?,
        state,
        is_locked: is_locked != 0,
        priority,
        submitted_by: get(row, "submitted_by", &id)?,
        submitted_at: get(row, "submitted_at", &id)?,
        placed_in_queue_at: get(row, "placed_in_queue_at", &id)?,
        moved_to_queue_at: get(row, "moved_to_queue_at", &id)?,
        delivered_at: get(row, "delivered_at", &id)?,
        assigned_to: get(row, "assigned_to", &id)?,
        workbin: get(row, "workbin", &id)?,
        scheduled_at: get(row, "scheduled_at", &id)?,
        lease_owner: get(row, "lease_owner", &id)?,
        lease_until: get(row, "lease_until", &id)?,
        lease_expiries,
        stopped_at: get(row, "stopped_at", &id)?,
        stop_reason: get(row, "stop_reason", &id)?,
        component_version: get(row, "component_version", &id)?,
        properties: properties::merge(blob, columns),
        id,
    })
}

fn get<'r, T>(row: &'r SqliteRow, column: &str, id: &str) -> Result<T, StorageError>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(column).map_err(|e| {
        StorageError::permanent(format!("interaction `{id}`: read column `{column}`: {e}"))
    })
}
