//! The `[storage.settings]` keys this backend understands, deserialised from
//! the settings document the host hands over.

use std::path::PathBuf;
use std::time::Duration;

use ixn_plugin_api::settings::read_document;
use ixn_plugin_api::storage::{SettingProblem, StorageError};
use serde::Deserialize;

/// Default of `busy-timeout-ms`.
pub const DEFAULT_BUSY_TIMEOUT_MS: u64 = 5000;
/// Default of `max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 4;

/// `[storage.settings]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Document {
    path: String,
    #[serde(default = "default_busy_timeout_ms")]
    busy_timeout_ms: u64,
    #[serde(default = "default_max_connections")]
    max_connections: u32,
    #[serde(default)]
    max_size_mb: u64,
}

fn default_busy_timeout_ms() -> u64 {
    DEFAULT_BUSY_TIMEOUT_MS
}
fn default_max_connections() -> u32 {
    DEFAULT_MAX_CONNECTIONS
}

/// Parsed backend settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `path`: the database file; created when missing, its directory must exist.
    pub path: PathBuf,
    /// `busy-timeout-ms`: how long a statement waits for another writer's lock.
    pub busy_timeout: Duration,
    /// `max-connections`: size of the connection pool.
    pub max_connections: u32,
    /// `max-size-mb`: the most the database file may grow to, in MiB (SQLite's
    /// `max_page_count`); 0, the default, sets no limit. A full database makes
    /// submissions fail as retriable (503) until there is room again.
    pub max_size_mb: u64,
}

impl Settings {
    /// Every problem with the document, each with its key, touching no file
    /// (`validate`: the data directory may not exist yet).
    pub fn problems(document: &str) -> Vec<SettingProblem> {
        match Settings::read(document) {
            Ok(_) => Vec::new(),
            Err(problems) => problems,
        }
    }

    /// Parses the document for `open`: the problems of [`Settings::problems`]
    /// as one permanent error, and the database file's directory must exist.
    pub fn parse(document: &str) -> Result<Settings, StorageError> {
        let settings = Settings::read(document).map_err(|problems| {
            let lines: Vec<String> = problems
                .iter()
                .map(|p| format!("`{}`: {}", p.key, p.message))
                .collect();
            StorageError::permanent(format!("sqlite settings: {}", lines.join("; ")))
        })?;
        // SQLite would report a bare "unable to open database file"; say why instead.
        let path = &settings.path;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.is_dir()
        {
            return Err(StorageError::permanent(format!(
                "sqlite database `{}`: directory `{}` does not exist",
                path.display(),
                parent.display()
            )));
        }
        Ok(settings)
    }

    fn read(document: &str) -> Result<Settings, Vec<SettingProblem>> {
        let doc: Document = read_document(document).map_err(|all| {
            all.into_iter()
                .map(SettingProblem::from_document)
                .collect::<Vec<_>>()
        })?;
        let mut problems = Vec::new();
        if doc.path.trim().is_empty() {
            problems.push(SettingProblem::new(
                "path",
                "is empty: name the database file",
            ));
        }
        if doc.max_connections == 0 {
            problems.push(SettingProblem::new("max-connections", "must be at least 1"));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Settings {
            path: PathBuf::from(doc.path),
            busy_timeout: Duration::from_millis(doc.busy_timeout_ms),
            max_connections: doc.max_connections,
            max_size_mb: doc.max_size_mb,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let s = Settings::parse(r#"{"path": "x.db"}"#).unwrap();
        assert_eq!(s.busy_timeout, Duration::from_millis(5000));
        assert_eq!(s.max_connections, 4);
        let s = Settings::parse(r#"{"path": "x.db", "busy-timeout-ms": 10, "max-connections": 2}"#)
            .unwrap();
        assert_eq!(s.busy_timeout, Duration::from_millis(10));
        assert_eq!(s.max_connections, 2);
    }

    #[test]
    fn refusals_name_their_key() {
        let keys = |doc: &str| -> Vec<String> {
            Settings::problems(doc).into_iter().map(|p| p.key).collect()
        };
        assert_eq!(keys(r#"{"path": "x.db", "jurnal": "wal"}"#), ["jurnal"]);
        assert_eq!(keys("{}"), ["path"]);
        assert_eq!(
            keys(r#"{"path": " ", "max-connections": 0}"#),
            ["path", "max-connections"]
        );
        assert_eq!(
            keys(r#"{"path": "x.db", "busy-timeout-ms": "soon"}"#),
            ["busy-timeout-ms"]
        );
        assert!(
            keys(r#"{"path": "/no/such/dir/x.db"}"#).is_empty(),
            "validate reads no file"
        );
        let e = Settings::parse(r#"{"path": "/no/such/dir/x.db"}"#).unwrap_err();
        assert!(e.message.contains("does not exist"), "{e}");
    }
}
