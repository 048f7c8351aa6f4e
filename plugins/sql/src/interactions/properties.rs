//! Attached data (`properties`): keys mapped to custom-field columns live in
//! those typed columns, every other key in the `flexible_properties` blob, a
//! JSON object of tagged values (its format is [`crate::attached`]).

use std::collections::BTreeMap;

use ixn_plugin_api::storage::{
    CustomField, FieldType, Property, StorageError, Value, check_property,
};

use crate::attached::Blob;
use crate::interactions::layout::{Schema, Target};
use crate::query::Param;

pub use crate::attached::decode as decode_blob;

/// The blob column's value: NULL when there is no attached data left.
pub fn encode_blob(blob: &Blob) -> Result<Param, StorageError> {
    crate::attached::encode(blob)
        .map(|bytes| bytes.map_or(Param::Null, Param::Blob))
        .map_err(StorageError::permanent)
}

/// The column value of a custom field, after checking type and length.
///
/// Text takes `Str` of at most `length` characters (0: no limit); integer
/// takes `Int`; timestamp takes `Timestamp` or `Int` (milliseconds).
pub fn column_param(field: &CustomField, value: &Value) -> Result<Param, StorageError> {
    field.check(value).map_err(StorageError::permanent)?;
    Ok(match value {
        Value::Str(s) => Param::Text(s.clone()),
        Value::Int(i) | Value::Timestamp(i) => Param::Int(*i),
        // `check` lets no float or boolean into a column.
        Value::Float(_) | Value::Boolean(_) => {
            return Err(StorageError::permanent(format!(
                "attached data `{}`: a {} is not a column value",
                field.key,
                value.type_name()
            )));
        }
    })
}

/// Checks a value bound for the blob: JSON has no NaN or infinity.
fn blob_value(key: &str, value: Value) -> Result<Value, StorageError> {
    check_property(&[], key, &value).map_err(StorageError::permanent)?;
    Ok(value)
}

/// Attached data of a new interaction, split between blob and columns.
#[derive(Debug)]
pub struct Split {
    /// The blob column's value.
    pub blob: Param,
    /// One value per custom field, in schema order (NULL when absent).
    pub columns: Vec<Param>,
}

/// Splits a new interaction's attached data; on a repeated key the last value wins.
pub fn split_new(schema: &Schema, properties: Vec<Property>) -> Result<Split, StorageError> {
    let mut blob = Blob::new();
    let mut columns = vec![Param::Null; schema.custom.len()];
    for Property { key, value } in properties {
        match schema.target(&key) {
            Target::Column(i) => columns[i] = column_param(&schema.custom[i], &value)?,
            Target::BlobEmptying(i) => {
                columns[i] = Param::Null;
                let value = blob_value(&key, value)?;
                blob.insert(key, value);
            }
            Target::Blob => {
                let value = blob_value(&key, value)?;
                blob.insert(key, value);
            }
        }
    }
    Ok(Split {
        blob: encode_blob(&blob)?,
        columns,
    })
}

/// Applies removals, then sets (so a key in both ends up set), to a row's
/// blob; returns the custom-field columns to write, by schema index.
///
/// A custom-field key is also taken out of the blob: a value stored there
/// before the key had a column must not reappear once the column is cleared.
/// The key of a `to-delete` field goes to the blob and empties its column.
pub fn apply_changes(
    schema: &Schema,
    blob: &mut Blob,
    set: Vec<Property>,
    remove: Vec<String>,
) -> Result<BTreeMap<usize, Param>, StorageError> {
    let mut columns = BTreeMap::new();
    for key in remove {
        if let Some(i) = schema.field_index(&key) {
            columns.insert(i, Param::Null);
        }
        blob.remove(&key);
    }
    for Property { key, value } in set {
        match schema.target(&key) {
            Target::Column(i) => {
                columns.insert(i, column_param(&schema.custom[i], &value)?);
                blob.remove(&key);
            }
            Target::BlobEmptying(i) => {
                columns.insert(i, Param::Null);
                let value = blob_value(&key, value)?;
                blob.insert(key, value);
            }
            Target::Blob => {
                let value = blob_value(&key, value)?;
                blob.insert(key, value);
            }
        }
    }
    Ok(columns)
}

/// The attached data of a row: the blob merged with the non-NULL custom-field
/// columns (a column wins over a stale blob entry of the same key), sorted by key.
pub fn merge(mut blob: Blob, columns: Vec<(String, Value)>) -> Vec<Property> {
    for (key, value) in columns {
        blob.insert(key, value);
    }
    blob.into_iter()
        .map(|(key, value)| Property { key, value })
        .collect()
}

/// The value of a custom-field column read back as attached data.
pub fn column_value(field: &CustomField, text: Option<String>, int: Option<i64>) -> Option<Value> {
    match field.field_type {
        FieldType::Text => text.map(Value::Str),
        FieldType::Integer => int.map(Value::Int),
        FieldType::Timestamp => int.map(Value::Timestamp),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    fn schema() -> Schema {
        Schema::new(vec![
            CustomField {
                key: "Category".into(),
                column: "category".into(),
                field_type: FieldType::Text,
                length: 5,
                to_delete: false,
            },
            CustomField {
                key: "Score".into(),
                column: "score".into(),
                field_type: FieldType::Integer,
                length: 0,
                to_delete: false,
            },
            CustomField {
                key: "Due".into(),
                column: "due".into(),
                field_type: FieldType::Timestamp,
                length: 0,
                to_delete: false,
            },
        ])
        .unwrap()
    }

    fn prop(key: &str, value: Value) -> Property {
        Property {
            key: key.into(),
            value,
        }
    }

    #[test]
    fn split_routes_custom_fields_to_columns() {
        let s = schema();
        let split = split_new(
            &s,
            vec![
                prop("Category", Value::Str("ab".into())),
                prop("Score", Value::Int(4)),
                prop("Due", Value::Int(99)),
                prop("Subject", Value::Str("x".into())),
            ],
        )
        .unwrap();
        assert_eq!(
            split.columns,
            vec![Param::Text("ab".into()), Param::Int(4), Param::Int(99)]
        );
        let Param::Blob(bytes) = split.blob else {
            panic!("no blob")
        };
        assert_eq!(decode_blob(Some(&bytes)).unwrap().len(), 1);
    }

    #[test]
    fn type_and_length_checks() {
        let s = schema();
        let e = split_new(&s, vec![prop("Category", Value::Str("ééééééé".into()))]).unwrap_err();
        assert!(
            e.message.contains("`Category`") && e.message.contains("7 characters"),
            "{e}"
        );
        assert!(split_new(&s, vec![prop("Category", Value::Str("ééééé".into()))]).is_ok());
        let e = split_new(&s, vec![prop("Score", Value::Str("1".into()))]).unwrap_err();
        assert!(e.message.contains("`Score`"), "{e}");
        assert!(split_new(&s, vec![prop("Due", Value::Timestamp(1))]).is_ok());
        assert!(split_new(&s, vec![prop("Due", Value::Float(1.0))]).is_err());
        assert!(split_new(&s, vec![prop("X", Value::Float(f64::NAN))]).is_err());
    }

    #[test]
    fn changes_remove_then_set() {
        let s = schema();
        let mut blob = Blob::new();
        blob.insert("A".into(), Value::Int(1));
        blob.insert("Score".into(), Value::Int(5)); // stored before Score had a column
        let cols = apply_changes(
            &s,
            &mut blob,
            vec![prop("B", Value::Int(2)), prop("A", Value::Int(3))],
            vec!["A".into(), "Score".into(), "Category".into()],
        )
        .unwrap();
        assert_eq!(cols.get(&1), Some(&Param::Null));
        assert_eq!(cols.get(&0), Some(&Param::Null));
        assert_eq!(blob.get("A"), Some(&Value::Int(3)));
        assert_eq!(blob.get("B"), Some(&Value::Int(2)));
        assert!(!blob.contains_key("Score"));
    }

    #[test]
    fn merge_prefers_columns() {
        let mut blob = Blob::new();
        blob.insert("K".into(), Value::Int(1));
        blob.insert("A".into(), Value::Int(0));
        let props = merge(blob, vec![("K".into(), Value::Str("col".into()))]);
        assert_eq!(
            props,
            vec![
                prop("A", Value::Int(0)),
                prop("K", Value::Str("col".into()))
            ]
        );
    }
}
