//! The `interactions` table's layout for one set of custom fields, the same
//! on every SQL backend: which columns exist, which a view may name, and
//! where each attached-data key is written.

use std::collections::HashMap;

use ixn_plugin_api::columns::{STANDARD_COLUMNS, is_identifier, standard_column};
use ixn_plugin_api::storage::{CustomField, StorageError};

use crate::query::quote;

pub use ixn_plugin_api::columns::BLOB_COLUMN;

/// The table name.
pub const TABLE: &str = "interactions";

/// Interactions stopped per queue, kept up to date by `apply`: counting them
/// must not cost a scan of every interaction ever stopped (they stay in the
/// table), only the live ones are counted from `interactions`.
pub const STOPPED_COUNTS: &str = "queue_stopped_counts";

/// Standard columns a submit writes, in the order [`Schema::insert_head`] names them.
pub const INSERT_COLUMNS: &[&str] = &[
    "id",
    "tenant",
    "media_type",
    "interaction_type",
    "interaction_subtype",
    "external_id",
    "parent_id",
    "queue",
    "state",
    "is_locked",
    "priority",
    "submitted_by",
    "submitted_at",
    "placed_in_queue_at",
    "flexible_properties",
];

/// The table layout for one set of custom fields: what the queries need to
/// know, computed once at `open`.
#[derive(Debug)]
pub struct Schema {
    /// The custom fields, validated.
    pub custom: Vec<CustomField>,
    by_key: HashMap<String, usize>,
    by_column: HashMap<String, usize>,
    /// Every column, quoted, for `SELECT`: the standard ones then the custom ones.
    pub select_list: String,
    /// `INSERT … VALUES (` of [`INSERT_COLUMNS`] then every custom column:
    /// a submit appends one row's values and `)`.
    pub insert_head: String,
}

impl Schema {
    /// Validates the custom fields: column names must be plain identifiers
    /// that are not standard columns; keys and columns must be unique.
    pub fn new(custom: Vec<CustomField>) -> Result<Schema, StorageError> {
        let mut by_key = HashMap::new();
        let mut by_column = HashMap::new();
        for (i, f) in custom.iter().enumerate() {
            if f.key.is_empty() {
                return Err(StorageError::permanent(format!(
                    "custom field with column `{}` has an empty key",
                    f.column
                )));
            }
            if !is_identifier(&f.column) {
                return Err(StorageError::permanent(format!(
                    "custom field `{}`: column name `{}` must match ^[a-z_][a-z0-9_]{{0,62}}$",
                    f.key, f.column
                )));
            }
            if is_standard(&f.column) {
                return Err(StorageError::permanent(format!(
                    "custom field `{}`: column `{}` is a standard column of `{TABLE}`",
                    f.key, f.column
                )));
            }
            if by_key.insert(f.key.clone(), i).is_some() {
                return Err(StorageError::permanent(format!(
                    "custom field `{}` is declared twice",
                    f.key
                )));
            }
            if by_column.insert(f.column.clone(), i).is_some() {
                return Err(StorageError::permanent(format!(
                    "custom field `{}`: column `{}` is used by another custom field",
                    f.key, f.column
                )));
            }
        }
        let all: Vec<String> = STANDARD_COLUMNS
            .iter()
            .map(|c| quote(c.name))
            .chain(custom.iter().map(|f| quote(&f.column)))
            .collect();
        let insert: Vec<String> = INSERT_COLUMNS
            .iter()
            .map(|n| quote(n))
            .chain(custom.iter().map(|f| quote(&f.column)))
            .collect();
        let insert_head = format!(
            "INSERT INTO {} ({}) VALUES (",
            quote(TABLE),
            insert.join(", "),
        );
        Ok(Schema {
            custom,
            by_key,
            by_column,
            select_list: all.join(", "),
            insert_head,
        })
    }

    /// The index of the custom field for an attached-data key, `to-delete` ones included.
    pub fn field_index(&self, key: &str) -> Option<usize> {
        self.by_key.get(key).copied()
    }

    /// Where a new value of an attached-data key is written.
    pub fn target(&self, key: &str) -> Target {
        match self.field_index(key) {
            Some(i) if self.custom[i].to_delete => Target::BlobEmptying(i),
            Some(i) => Target::Column(i),
            None => Target::Blob,
        }
    }

    /// Whether a condition or an order may name `column`: a standard column
    /// the catalogue marks queryable (as the host checks views) or the column of a
    /// custom field not marked `to-delete` (that one empties as it is converted).
    pub fn is_queryable(&self, column: &str) -> bool {
        standard_column(column).is_some_and(|c| c.queryable)
            || self
                .by_column
                .get(column)
                .is_some_and(|&i| !self.custom[i].to_delete)
    }

    /// What identifies this set of custom fields for a conversion checkpoint:
    /// a checkpoint made for another set does not apply.
    pub fn fingerprint(&self) -> String {
        self.custom
            .iter()
            .map(|f| {
                format!(
                    "{}={}:{}({}){}",
                    f.key,
                    f.column,
                    f.field_type.name(),
                    f.length,
                    if f.to_delete { ":to-delete" } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// Where a value of one attached-data key goes when written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The custom field's column (and out of the blob).
    Column(usize),
    /// The blob, and the column of this `to-delete` field is emptied so a
    /// stale value there cannot shadow the new one.
    BlobEmptying(usize),
    /// The blob: no custom field has this key.
    Blob,
}

/// Whether `name` is one of the standard columns.
pub fn is_standard(name: &str) -> bool {
    standard_column(name).is_some()
}

/// The name of the index on a custom-field column.
pub fn custom_index_name(column: &str) -> String {
    format!("{TABLE}_cf_{column}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;
    use ixn_plugin_api::storage::FieldType;

    fn field(key: &str, column: &str) -> CustomField {
        CustomField {
            key: key.into(),
            column: column.into(),
            field_type: FieldType::Text,
            length: 10,
            to_delete: false,
        }
    }

    #[test]
    fn refuses_bad_custom_columns() {
        for (fields, needle) in [
            (vec![field("A", "Bad")], "must match"),
            (vec![field("A", "a;drop")], "must match"),
            (vec![field("A", "queue")], "standard column"),
            (vec![field("A", "flexible_properties")], "standard column"),
            (vec![field("A", "a"), field("A", "b")], "declared twice"),
            (
                vec![field("A", "a"), field("B", "a")],
                "another custom field",
            ),
            (vec![field("", "a")], "empty key"),
        ] {
            let e = Schema::new(fields).unwrap_err();
            assert!(e.message.contains(needle), "{e}");
        }
    }

    #[test]
    fn queryable_columns() {
        let s = Schema::new(vec![field("Category", "category")]).unwrap();
        assert!(s.is_queryable("priority"));
        assert!(s.is_queryable("category"));
        assert!(!s.is_queryable("Category"));
        assert!(!s.is_queryable("flexible_properties"));
        // The claim's own columns: the host refuses a view naming them too.
        assert!(!s.is_queryable("lease_owner"));
        assert!(!s.is_queryable("lease_until"));
        assert!(!s.is_queryable("nope"));
        assert_eq!(s.field_index("Category"), Some(0));
        assert!(s.insert_head.contains("\"category\""));
    }
}
