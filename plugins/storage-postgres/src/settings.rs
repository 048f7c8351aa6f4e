//! The `[storage.settings]` keys this backend understands, deserialised from
//! the settings document the host hands over.

use std::time::Duration;

use ixn_plugin_api::columns::is_identifier;
use ixn_plugin_api::settings::read_document;
use ixn_plugin_api::storage::{SettingProblem, StorageError};
use serde::Deserialize;

/// Default of `schema`.
pub const DEFAULT_SCHEMA: &str = "ixn";
/// Default of `max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;
/// Default of `connect-timeout-ms`.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5000;

/// `[storage.settings]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Document {
    url: String,
    #[serde(default = "default_schema")]
    schema: String,
    #[serde(default = "default_max_connections")]
    max_connections: u32,
    #[serde(default = "default_connect_timeout_ms")]
    connect_timeout_ms: u64,
}

fn default_schema() -> String {
    DEFAULT_SCHEMA.to_string()
}
fn default_max_connections() -> u32 {
    DEFAULT_MAX_CONNECTIONS
}
fn default_connect_timeout_ms() -> u64 {
    DEFAULT_CONNECT_TIMEOUT_MS
}

/// Parsed backend settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `url`: `postgres://user@host:port/database`.
    pub url: String,
    /// `schema`: the PostgreSQL schema holding ixn's tables, created when
    /// missing; a plain lower-case identifier.
    pub schema: String,
    /// `max-connections`: size of the connection pool.
    pub max_connections: u32,
    /// `connect-timeout-ms`: how long taking a connection may wait, at open
    /// and when every connection is busy or the server is away.
    pub connect_timeout: Duration,
}

impl Settings {
    /// Every problem with the document, each with its key, connecting to nothing.
    pub fn problems(document: &str) -> Vec<SettingProblem> {
        match Settings::read(document) {
            Ok(_) => Vec::new(),
            Err(problems) => problems,
        }
    }

    /// Parses the document for `open`: the problems of [`Settings::problems`]
    /// as one permanent error.
    pub fn parse(document: &str) -> Result<Settings, StorageError> {
        Settings::read(document).map_err(|problems| {
            let lines: Vec<String> = problems
                .iter()
                .map(|p| format!("`{}`: {}", p.key, p.message))
                .collect();
            StorageError::permanent(format!("postgres settings: {}", lines.join("; ")))
        })
    }

    fn read(document: &str) -> Result<Settings, Vec<SettingProblem>> {
        let doc: Document = read_document(document).map_err(|all| {
            all.into_iter()
                .map(SettingProblem::from_document)
                .collect::<Vec<_>>()
        })?;
        let mut problems = Vec::new();
        if !(doc.url.starts_with("postgres://") || doc.url.starts_with("postgresql://")) {
            problems.push(SettingProblem::new(
                "url",
                "must be a postgres:// URL (postgres://user@host:5432/database)",
            ));
        }
        if !is_identifier(&doc.schema) {
            problems.push(SettingProblem::new(
                "schema",
                "must be a plain lower-case identifier (^[a-z_][a-z0-9_]{0,62}$)",
            ));
        }
        if doc.max_connections == 0 {
            problems.push(SettingProblem::new("max-connections", "must be at least 1"));
        }
        if doc.connect_timeout_ms == 0 {
            problems.push(SettingProblem::new(
                "connect-timeout-ms",
                "must be at least 1",
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Settings {
            url: doc.url,
            schema: doc.schema,
            max_connections: doc.max_connections,
            connect_timeout: Duration::from_millis(doc.connect_timeout_ms),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let s = Settings::parse(r#"{"url": "postgres://u@h/db"}"#).unwrap();
        assert_eq!(s.schema, "ixn");
        assert_eq!(s.max_connections, 8);
        assert_eq!(s.connect_timeout, Duration::from_secs(5));
        let s = Settings::parse(
            r#"{"url": "postgres://u@h/db", "schema": "t1", "max-connections": 2, "connect-timeout-ms": 10}"#,
        )
        .unwrap();
        assert_eq!((s.schema.as_str(), s.max_connections), ("t1", 2));
        assert_eq!(s.connect_timeout, Duration::from_millis(10));
    }

    #[test]
    fn refusals_name_their_key() {
        let keys = |doc: &str| -> Vec<String> {
            Settings::problems(doc).into_iter().map(|p| p.key).collect()
        };
        assert_eq!(keys("{}"), ["url"]);
        assert_eq!(keys(r#"{"url": "mysql://x"}"#), ["url"]);
        assert_eq!(
            keys(r#"{"url": "postgres://x", "schema": "Bad\"; DROP", "max-connections": 0}"#),
            ["schema", "max-connections"]
        );
        assert_eq!(keys(r#"{"url": "postgres://x", "path": "x.db"}"#), ["path"]);
    }
}
