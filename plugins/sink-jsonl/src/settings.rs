//! The sink's settings, deserialised from the document the host hands over.
//!
//! | key | meaning |
//! |---|---|
//! | `path` | the file the events are appended to (required; created if missing, its directory must exist) |
//! | `fsync` | `false` (default) or `true`: `flush` also syncs the file's data to disk |
//!
//! Any other key is refused, naming it: a JSON line carries every field of
//! an event as it is, so the custom-data mappings of the `sql` sink
//! (`itx-custom-data` …) have nothing to map here.

use std::path::PathBuf;

use ixn_plugin_api::settings::read_document;
use ixn_plugin_api::sink::{SettingProblem, SinkError};
use serde::Deserialize;

/// Parsed settings of a JSON Lines sink.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    /// The file the lines go to.
    pub path: PathBuf,
    /// Whether `flush` calls `sync_data`.
    #[serde(default)]
    pub fsync: bool,
}

impl Settings {
    /// Every problem with the document, each with its key.
    pub fn problems(document: &str) -> Vec<SettingProblem> {
        Settings::read(document).err().unwrap_or_default()
    }

    /// Parses the document for `open`: the first problem as a permanent error.
    pub fn parse(document: &str) -> Result<Settings, SinkError> {
        Settings::read(document).map_err(|problems| {
            let (key, message) = problems
                .first()
                .map(|p| (p.key.as_str(), p.message.as_str()))
                .unwrap_or_default();
            SinkError::permanent(format!("jsonl sink settings: `{key}`: {message}"))
        })
    }

    fn read(document: &str) -> Result<Settings, Vec<SettingProblem>> {
        let settings: Settings = read_document(document).map_err(|all| {
            all.into_iter()
                .map(SettingProblem::from_document)
                .collect::<Vec<_>>()
        })?;
        if settings.path.as_os_str().is_empty() {
            return Err(vec![SettingProblem::new(
                "path",
                "is empty: name the file to append to",
            )]);
        }
        Ok(settings)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let s = Settings::parse(r#"{"path": "a.jsonl"}"#).unwrap();
        assert_eq!(
            s,
            Settings {
                path: "a.jsonl".into(),
                fsync: false
            }
        );
        assert!(
            Settings::parse(r#"{"path": "a", "fsync": true}"#)
                .unwrap()
                .fsync
        );
        for (doc, key) in [
            ("{}", "path"),
            (r#"{"path": ""}"#, "path"),
            (r#"{"path": "a", "fsync": "1"}"#, "fsync"),
            (r#"{"path": "a", "rotate": "daily"}"#, "rotate"),
            (
                r#"{"path": "a", "itx-custom-data": {"A": "a"}}"#,
                "itx-custom-data",
            ),
        ] {
            let problems = Settings::problems(doc);
            assert_eq!(problems.len(), 1, "{doc}: {problems:?}");
            assert_eq!(problems[0].key, key, "{doc}");
            let e = Settings::parse(doc).unwrap_err();
            assert_eq!(e.kind, ixn_plugin_api::sink::ErrorKind::Permanent);
            assert!(e.message.contains(&format!("`{key}`")), "{}", e.message);
        }
    }
}
