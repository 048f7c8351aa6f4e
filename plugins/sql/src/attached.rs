//! The attached-data blob: the keys of an interaction's attached data that
//! have no custom-field column, stored as one JSON object of tagged values,
//! `{"Subject":{"str":"hi"},"Count":{"int":3}}` — in SQLite's BLOB column
//! and, as the same text, in PostgreSQL's JSONB one.

use std::collections::BTreeMap;

use ixn_plugin_api::storage::Value;
use serde::{Deserialize, Serialize};

/// The blob's attached data, by key.
pub type Blob = BTreeMap<String, Value>;

/// How one value is written in the blob: an object with a single tag.
///
/// Kept separate from [`Value`] so the stored format does not change when
/// the contract's Rust mirror does.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Tagged {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Timestamp(i64),
}

impl From<Tagged> for Value {
    fn from(t: Tagged) -> Value {
        match t {
            Tagged::Str(s) => Value::Str(s),
            Tagged::Int(i) => Value::Int(i),
            Tagged::Float(f) => Value::Float(f),
            Tagged::Bool(b) => Value::Boolean(b),
            Tagged::Timestamp(t) => Value::Timestamp(t),
        }
    }
}

impl From<&Value> for Tagged {
    fn from(v: &Value) -> Tagged {
        match v {
            Value::Str(s) => Tagged::Str(s.clone()),
            Value::Int(i) => Tagged::Int(*i),
            Value::Float(f) => Tagged::Float(*f),
            Value::Boolean(b) => Tagged::Bool(*b),
            Value::Timestamp(t) => Tagged::Timestamp(*t),
        }
    }
}

/// Reads a blob; `None` (SQL NULL) is no attached data.
pub fn decode(bytes: Option<&[u8]>) -> Result<Blob, String> {
    let Some(bytes) = bytes else {
        return Ok(Blob::new());
    };
    let tagged: BTreeMap<String, Tagged> = serde_json::from_slice(bytes)
        .map_err(|e| format!("attached data blob is not valid: {e}"))?;
    Ok(tagged.into_iter().map(|(k, v)| (k, v.into())).collect())
}

/// The blob's bytes; `None` (SQL NULL) when there is no attached data left.
/// A non-finite float cannot be written (JSON has none): callers check
/// values before they reach the blob.
pub fn encode(blob: &Blob) -> Result<Option<Vec<u8>>, String> {
    if blob.is_empty() {
        return Ok(None);
    }
    let tagged: BTreeMap<&str, Tagged> = blob.iter().map(|(k, v)| (k.as_str(), v.into())).collect();
    serde_json::to_vec(&tagged)
        .map(Some)
        .map_err(|e| format!("encode attached data: {e}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn blob_format_is_tagged_json() {
        let mut blob = Blob::new();
        blob.insert("Subject".into(), Value::Str("hi".into()));
        blob.insert("Count".into(), Value::Int(3));
        blob.insert("Ok".into(), Value::Boolean(true));
        blob.insert("At".into(), Value::Timestamp(7));
        blob.insert("F".into(), Value::Float(1.5));
        let bytes = encode(&blob).unwrap().expect("a blob");
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"At":{"timestamp":7},"Count":{"int":3},"F":{"float":1.5},"Ok":{"bool":true},"Subject":{"str":"hi"}}"#
        );
        assert_eq!(decode(Some(&bytes)).unwrap(), blob);
        assert_eq!(encode(&Blob::new()).unwrap(), None);
        assert!(decode(None).unwrap().is_empty());
        assert!(decode(Some(b"{\"x\":{\"nope\":1}}")).is_err());
        assert!(decode(Some(b"\xff")).is_err());
    }
}
