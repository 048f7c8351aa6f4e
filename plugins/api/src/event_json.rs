//! One event record as one JSON object: the format of the `jsonl` sink's
//! lines and of every message-queue sink's messages, described by
//! `wit/sink/event.schema.json` (a test checks what the sinks send against it).
//!
//! `{"origin":..,"sequence":..,"generation":..,"event_id":..,"event_name":..,"activity":..,"endpoint":..,
//! "occurred_at":..,"interaction_id":..,"fields":{name: value}}`, keys in that
//! order, no trailing newline, text as UTF-8 (non-ASCII is not escaped). Field values are plain
//! JSON: strings, numbers (timestamps as milliseconds since the epoch),
//! booleans; a non-finite float becomes `null`. When a record repeats a field
//! name, the last value wins and sits where the name first appeared.

use std::collections::{HashMap, HashSet};

use crate::sink::{EventRecord, Field, Value};
use serde::ser::{Serialize, SerializeMap, Serializer};

#[derive(serde::Serialize)]
struct Line<'a> {
    origin: &'a str,
    sequence: u64,
    generation: u64,
    event_id: u32,
    event_name: &'a str,
    activity: &'a str,
    endpoint: Option<&'a str>,
    occurred_at: i64,
    interaction_id: Option<&'a str>,
    fields: Fields<'a>,
}

struct Fields<'a>(&'a [Field]);

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !has_repeated_name(self.0) {
            // The usual case, and the fast one: every name once, in order.
            let mut map = serializer.serialize_map(Some(self.0.len()))?;
            for field in self.0 {
                map.serialize_entry(&field.name, &Plain(&field.value))?;
            }
            return map.end();
        }
        // Index of each name's last value, so a repeated name is written once.
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(self.0.len());
        for (i, field) in self.0.iter().enumerate() {
            last.insert(field.name.as_str(), i);
        }
        let mut map = serializer.serialize_map(Some(last.len()))?;
        let mut written: HashSet<&str> = HashSet::with_capacity(last.len());
        for field in self.0 {
            let name = field.name.as_str();
            if !written.insert(name) {
                continue;
            }
            let value = last
                .get(name)
                .and_then(|&i| self.0.get(i))
                .map_or(&field.value, |f| &f.value);
            map.serialize_entry(name, &Plain(value))?;
        }
        map.end()
    }
}

/// Whether a name occurs twice: compared pairwise for the few fields an
/// event has, hashed beyond that.
fn has_repeated_name(fields: &[Field]) -> bool {
    if fields.len() <= 16 {
        (1..fields.len()).any(|i| fields[..i].iter().any(|f| f.name == fields[i].name))
    } else {
        let mut seen = HashSet::with_capacity(fields.len());
        !fields.iter().all(|f| seen.insert(f.name.as_str()))
    }
}

struct Plain<'a>(&'a Value);

impl Serialize for Plain<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Str(s) => serializer.serialize_str(s),
            Value::Int(n) | Value::Timestamp(n) => serializer.serialize_i64(*n),
            Value::Float(f) if f.is_finite() => serializer.serialize_f64(*f),
            Value::Float(_) => serializer.serialize_none(),
            Value::Boolean(b) => serializer.serialize_bool(*b),
        }
    }
}

/// `record` as a JSON object.
pub fn encode(record: &EventRecord) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(256 + record.fields.len() * 32);
    encode_into(&mut out, record)?;
    Ok(out)
}

/// The identity of a record as message ids carry it: `origin/sequence`,
/// unique across restarts and hosts (see the WIT's `origin`).
pub fn message_id(record: &EventRecord) -> String {
    format!("{}/{}", record.origin, record.sequence)
}

/// Appends `record` as a JSON object (no newline) to `out`.
pub fn encode_into(out: &mut Vec<u8>, record: &EventRecord) -> Result<(), serde_json::Error> {
    let line = Line {
        origin: &record.origin,
        sequence: record.sequence,
        generation: record.generation,
        event_id: record.event_id,
        event_name: &record.event_name,
        activity: &record.activity,
        endpoint: record.endpoint.as_deref(),
        occurred_at: record.occurred_at,
        interaction_id: record.interaction_id.as_deref(),
        fields: Fields(&record.fields),
    };
    serde_json::to_writer(&mut *out, &line)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn one_line_in_key_order() {
        let record = EventRecord {
            event_id: 168,
            event_name: "EventRejected".into(),
            activity: "interaction".into(),
            endpoint: Some("agent".into()),
            occurred_at: 1_700_000_000_000,
            origin: "n1:0001".into(),
            sequence: 9,
            generation: 3,
            interaction_id: None,
            fields: vec![
                Field {
                    name: "Тема".into(),
                    value: Value::Str("日本語".into()),
                },
                Field {
                    name: "Score".into(),
                    value: Value::Float(f64::INFINITY),
                },
                Field {
                    name: "Тема".into(),
                    value: Value::Str("последнее".into()),
                },
                Field {
                    name: "At".into(),
                    value: Value::Timestamp(5),
                },
                Field {
                    name: "Ok".into(),
                    value: Value::Boolean(false),
                },
            ],
        };
        let mut out = Vec::new();
        encode_into(&mut out, &record).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"origin\":\"n1:0001\",\"sequence\":9,\"generation\":3,\"event_id\":168,\"event_name\":\"EventRejected\",\"activity\":\"interaction\",\
             \"endpoint\":\"agent\",\"occurred_at\":1700000000000,\"interaction_id\":null,\
             \"fields\":{\"Тема\":\"последнее\",\"Score\":null,\"At\":5,\"Ok\":false}}"
        );
    }
}
