//! A plugin's settings: one JSON document (an object) the host builds from
//! the plugin's config table, which the plugin deserialises into its own
//! typed struct (serde, `deny_unknown_fields`).
//!
//! The host converts TOML to JSON keeping the types (integers, booleans,
//! nested tables), so a plugin reads `max-connections = 4` as a number and
//! `[event-logger.itx-custom-data]` as a map.

use serde::de::DeserializeOwned;

/// A setting that does not fit: the dotted key (`path`,
/// `itx-custom-data.Segment`; empty for the document itself) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentError {
    /// Where.
    pub key: String,
    /// What.
    pub message: String,
}

/// Deserialises `document` into `T`, naming the key of the first problem.
pub fn from_document<T: DeserializeOwned>(document: &str) -> Result<T, DocumentError> {
    let mut de = serde_json::Deserializer::from_str(document);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        // A missing field is reported at the table that lacks it: the field
        // is named only in the message.
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        let key = match (path.as_str(), missing) {
            (".", Some(field)) => field.to_string(),
            (".", None) => String::new(),
            (path, Some(field)) => format!("{path}.{field}"),
            (path, None) => path.to_string(),
        };
        // serde_json adds " at line 1 column N": the position in a document
        // the user never wrote.
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_string(),
            None => message,
        };
        DocumentError { key, message }
    })
}

/// `document` as a `T`, or every problem with it, each with its key: after
/// each problem the setting at fault is taken out and the rest read again,
/// so one bad key does not hide the next (serde stops at the first).
pub fn read_document<T: DeserializeOwned>(document: &str) -> Result<T, Vec<DocumentError>> {
    match from_document(document) {
        Ok(value) => Ok(value),
        Err(_) => Err(all_problems::<T>(document)),
    }
}

/// Every problem with `document` as a `T` (see [`read_document`]).
fn all_problems<T: DeserializeOwned>(document: &str) -> Vec<DocumentError> {
    let mut value: serde_json::Value = match serde_json::from_str(document) {
        Ok(value) => value,
        Err(e) => {
            return vec![DocumentError {
                key: String::new(),
                message: format!("not a JSON document: {e}"),
            }];
        }
    };
    if !value.is_object() {
        return vec![DocumentError {
            key: String::new(),
            message: "the settings are not a table".into(),
        }];
    }
    let mut problems = Vec::new();
    // Each round removes one key, so the rounds are bounded by the keys.
    loop {
        let Err(e) = from_document::<T>(&value.to_string()) else {
            break;
        };
        let removed = remove_path(&mut value, &e.key);
        problems.push(e);
        if !removed {
            break;
        }
    }
    problems
}

/// Removes the setting at a dotted key; false when there is none.
fn remove_path(value: &mut serde_json::Value, key: &str) -> bool {
    let mut parts: Vec<&str> = key.split('.').collect();
    let Some(last) = parts.pop() else {
        return false;
    };
    let mut at = value;
    for part in parts {
        match at.get_mut(part) {
            Some(next) => at = next,
            None => return false,
        }
    }
    at.as_object_mut()
        .is_some_and(|map| map.remove(last).is_some())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    #[allow(dead_code, reason = "only deserialised")]
    struct Doc {
        path: String,
        #[serde(default)]
        max_connections: u32,
        #[serde(default)]
        itx_custom_data: std::collections::BTreeMap<String, String>,
    }

    #[test]
    fn names_the_key_of_each_kind_of_problem() {
        let e = from_document::<Doc>(r#"{"path": "x", "jurnal": 1}"#).unwrap_err();
        assert_eq!(e.key, "jurnal");
        assert!(e.message.starts_with("unknown field `jurnal`"), "{e:?}");
        let e = from_document::<Doc>(r#"{}"#).unwrap_err();
        assert_eq!(e.key, "path");
        let e = from_document::<Doc>(r#"{"path": "x", "max-connections": "four"}"#).unwrap_err();
        assert_eq!(e.key, "max-connections");
        assert!(!e.message.contains("line 1"), "{e:?}");
        let e = from_document::<Doc>(r#"{"path": "x", "itx-custom-data": {"A": 3}}"#).unwrap_err();
        assert_eq!(e.key, "itx-custom-data.A");
    }

    #[test]
    fn all_problems_are_found_one_key_at_a_time() {
        let keys = |doc: &str| -> Vec<String> {
            all_problems::<Doc>(doc)
                .into_iter()
                .map(|e| e.key)
                .collect()
        };
        assert_eq!(
            keys(
                r#"{"jurnal": 1, "max-connections": "0", "itx-custom-data": {"A": 3, "B": "b", "C": []}}"#
            ),
            // In key order (the document is a sorted map), then what is missing.
            [
                "itx-custom-data.A",
                "itx-custom-data.C",
                "jurnal",
                "max-connections",
                "path"
            ]
        );
        assert!(keys(r#"{"path": "x"}"#).is_empty());
        assert_eq!(keys("[1, 2]"), [""]);
        assert_eq!(keys("not json"), [""]);
    }
}
