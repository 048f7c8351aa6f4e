//! The sink's settings: the logger's `sink-settings`, `schema-name` and the
//! custom data sections, deserialised from the document the host hands over.
//!
//! | key | meaning |
//! |---|---|
//! | `path` | the SQLite database file (required; created if missing, its directory must exist) |
//! | `schema-name` | the original's schema option; on SQLite only empty or `main` |
//! | `max-size-mb` | the most the database file may grow to, in MiB; 0 (default) sets no limit. A full database is a retriable error: the logger keeps the batch until there is room |
//! | `delete-on-stop` | `true` (default) or `false`: delete an interaction's rows when its `EventProcessingStopped` is stored |
//! | `itx-custom-data` | `Key = "field;type;length"` for events of activity `interaction` (`rpt_interaction`) |
//! | `agent-custom-data.<Key>` | the same for activity `agent` (`rpt_agent`) |
//! | `esp-custom-data.<Key>`, `esp-service-data.<Key>` | the same for activity `esp` (`rpt_esp`) |
//! | `custom-customdata.<Key>` | the same for activity `custom` (`rpt_custom`) |
//!
//! Any other key is refused, naming it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ixn_plugin_api::settings::read_document;
use ixn_plugin_api::sink::{SettingProblem, SinkError};
use serde::Deserialize;

use crate::schema::{BASE_COLUMNS, Table};

/// The longest identifier accepted for a custom column (PostgreSQL's limit).
const MAX_IDENTIFIER_LEN: usize = 63;

/// The custom data sections of the original and the table each one fills.
const CUSTOM_SECTIONS: [(&str, Table); 5] = [
    ("itx-custom-data", Table::Interaction),
    ("agent-custom-data", Table::Agent),
    ("esp-custom-data", Table::Esp),
    ("esp-service-data", Table::Esp),
    ("custom-customdata", Table::Custom),
];

/// The type of a custom column, the second part of a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Text of at most `length` bytes; takes `str` values.
    String,
    /// A 64-bit integer; takes `int` values.
    Integer,
    /// Milliseconds since the epoch; takes `timestamp` and `int` values.
    Timestamp,
}

/// One custom data mapping: a field of the event (by name) into a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomColumn {
    /// The event field (the user data key), case-sensitive.
    pub key: String,
    /// The column that stores it.
    pub column: String,
    /// Its type.
    pub kind: ColumnType,
    /// For strings, the longest value kept, in UTF-8 bytes (default 64).
    pub length: u32,
}

/// Parsed settings of an SQL sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The SQLite database file.
    pub path: PathBuf,
    /// The schema the tables live in; `None` for the default one.
    pub schema: Option<String>,
    /// Whether an interaction's rows go when its processing stops.
    pub delete_on_stop: bool,
    /// The file's size limit in MiB; 0 for none.
    pub max_size_mb: u64,
    /// Custom columns per table, in [`Table::ALL`] order.
    pub custom: [Vec<CustomColumn>; 4],
}

impl Settings {
    /// The custom columns of one table.
    pub fn custom_columns(&self, table: Table) -> &[CustomColumn] {
        &self.custom[table.index()]
    }

    /// Parses the document for `open`: the first problem as a permanent error.
    pub fn parse(document: &str) -> Result<Settings, SinkError> {
        Settings::read(document, &mut |_, e| Err(e))
    }

    /// Every problem with the document, each with its key.
    pub fn problems(document: &str) -> Vec<SettingProblem> {
        let mut problems = Vec::new();
        let _ = Settings::read(document, &mut |key, e| {
            // The key is the problem's own field: not again in its message.
            let message = e.message.strip_prefix(PREFIX).unwrap_or(&e.message);
            let named = format!("`{key}`");
            let message = message
                .strip_prefix(&named)
                .map(|rest| rest.trim_start_matches(':').trim_start())
                .unwrap_or(message);
            problems.push(SettingProblem::new(key, message));
            Ok(())
        });
        problems
    }

    /// Reads the document; each problem goes to `problem` (with its key),
    /// which stops the reading by answering `Err`.
    fn read(
        document: &str,
        problem: &mut dyn FnMut(&str, SinkError) -> Result<(), SinkError>,
    ) -> Result<Settings, SinkError> {
        let doc: Document = match read_document(document) {
            Ok(doc) => doc,
            Err(all) => {
                let first = all.first().map(|e| e.message.clone()).unwrap_or_default();
                for e in all {
                    problem(&e.key, bad(format!("`{}`: {}", e.key, e.message)))?;
                }
                return Err(bad(first));
            }
        };
        if doc.path.trim().is_empty() {
            problem("path", bad("`path` must name the SQLite database file"))?;
        }
        let schema = match parse_schema(doc.schema_name.as_deref().unwrap_or_default()) {
            Ok(schema) => schema,
            Err(e) => {
                problem("schema-name", e)?;
                None
            }
        };
        let mut custom: [Vec<CustomColumn>; 4] = Default::default();
        for (section, table) in CUSTOM_SECTIONS {
            for (data_key, value) in doc.section(section) {
                let key = format!("{section}.{data_key}");
                let added = parse_mapping(&key, data_key, value)
                    .and_then(|column| add_column(&mut custom[table.index()], table, &key, column));
                if let Err(e) = added {
                    problem(&key, e)?;
                }
            }
        }
        Ok(Settings {
            path: PathBuf::from(doc.path),
            schema,
            delete_on_stop: doc.delete_on_stop,
            max_size_mb: doc.max_size_mb,
            custom,
        })
    }
}

/// The settings document as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Document {
    path: String,
    #[serde(default)]
    schema_name: Option<String>,
    #[serde(default = "default_true")]
    delete_on_stop: bool,
    #[serde(default)]
    max_size_mb: u64,
    #[serde(default)]
    itx_custom_data: BTreeMap<String, String>,
    #[serde(default)]
    agent_custom_data: BTreeMap<String, String>,
    #[serde(default)]
    esp_custom_data: BTreeMap<String, String>,
    #[serde(default)]
    esp_service_data: BTreeMap<String, String>,
    #[serde(default)]
    custom_customdata: BTreeMap<String, String>,
}

fn default_true() -> bool {
    true
}

impl Document {
    /// The mappings of one custom data section, by its name.
    fn section(&self, name: &str) -> &BTreeMap<String, String> {
        match name {
            "itx-custom-data" => &self.itx_custom_data,
            "agent-custom-data" => &self.agent_custom_data,
            "esp-custom-data" => &self.esp_custom_data,
            "esp-service-data" => &self.esp_service_data,
            _ => &self.custom_customdata,
        }
    }
}

/// What every settings error of this sink starts with.
const PREFIX: &str = "sql sink settings: ";

fn bad(message: impl Into<String>) -> SinkError {
    SinkError::permanent(format!("{PREFIX}{}", message.into()))
}

/// `schema-name`: SQLite has only `main` (attached databases are not used).
fn parse_schema(value: &str) -> Result<Option<String>, SinkError> {
    let value = value.trim();
    if value.is_empty() || value.eq_ignore_ascii_case("main") {
        Ok(None)
    } else {
        Err(bad(format!(
            "`schema-name` is `{value}`, but on SQLite it must be empty or `main`"
        )))
    }
}

/// Parses `field;type;length`: field required, type `string` (default),
/// `integer` or `timestamp`, length a positive number (default 64, strings only).
fn parse_mapping(key: &str, data_key: &str, value: &str) -> Result<CustomColumn, SinkError> {
    if data_key.is_empty() {
        return Err(bad(format!(
            "`{key}` names no user data key after the section"
        )));
    }
    let parts: Vec<&str> = value.split(';').map(str::trim).collect();
    if parts.len() > 3 {
        return Err(bad(format!(
            "`{key}` is `{value}`, expected `field;type;length`"
        )));
    }
    let column = parts.first().copied().unwrap_or_default();
    if column.is_empty() {
        return Err(bad(format!(
            "`{key}` is `{value}`: the field name is required"
        )));
    }
    check_identifier(key, column)?;
    let kind = match parts
        .get(1)
        .copied()
        .unwrap_or_default()
        .to_ascii_lowercase()
        .as_str()
    {
        "" | "string" => ColumnType::String,
        "integer" => ColumnType::Integer,
        "timestamp" => ColumnType::Timestamp,
        other => {
            return Err(bad(format!(
                "`{key}` has type `{other}`, expected string, integer or timestamp"
            )));
        }
    };
    let length = match parts.get(2).copied().unwrap_or_default() {
        "" => 64,
        text => match text.parse::<u32>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(bad(format!(
                    "`{key}` has length `{text}`, expected a positive number"
                )));
            }
        },
    };
    Ok(CustomColumn {
        key: data_key.to_string(),
        column: column.to_string(),
        kind,
        length,
    })
}

/// Column names are spliced into SQL, so only plain identifiers pass.
fn check_identifier(key: &str, column: &str) -> Result<(), SinkError> {
    let mut chars = column.chars();
    let starts_well = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_well = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !starts_well || !rest_well || column.len() > MAX_IDENTIFIER_LEN {
        return Err(bad(format!(
            "`{key}` maps to field `{column}`, which is not a plain identifier \
             (letters, digits and `_`, not starting with a digit, at most {MAX_IDENTIFIER_LEN} characters)"
        )));
    }
    if BASE_COLUMNS
        .iter()
        .any(|base| base.eq_ignore_ascii_case(column))
    {
        return Err(bad(format!(
            "`{key}` maps to field `{column}`, which is one of the table's own columns"
        )));
    }
    Ok(())
}

fn add_column(
    columns: &mut Vec<CustomColumn>,
    table: Table,
    key: &str,
    column: CustomColumn,
) -> Result<(), SinkError> {
    if let Some(other) = columns
        .iter()
        .find(|c| c.column.eq_ignore_ascii_case(&column.column))
    {
        return Err(bad(format!(
            "`{key}` maps to field `{}` of {}, which `{}` already fills",
            column.column,
            table.name(),
            other.key
        )));
    }
    if let Some(index) = columns.iter().position(|c| c.key == column.key) {
        // The same key given twice for one table (through esp-custom-data and
        // esp-service-data): one value cannot fill two columns of one row.
        return Err(bad(format!(
            "`{key}`: the user data key `{}` is already mapped to field `{}` of {}",
            column.key,
            columns[index].column,
            table.name()
        )));
    }
    columns.push(column);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    /// A settings document from flat `key = value` items: `section.Key`
    /// nests, `true`/`false` and numbers keep their type.
    fn pairs(items: &[(&str, &str)]) -> String {
        let mut doc = serde_json::Map::new();
        for (key, value) in items {
            let value = if let Ok(b) = value.parse::<bool>() {
                serde_json::json!(b)
            } else if let Ok(n) = value.parse::<u64>() {
                serde_json::json!(n)
            } else {
                serde_json::json!(value)
            };
            match key.split_once('.') {
                Some((section, data_key)) => {
                    let entry = doc
                        .entry(section.to_string())
                        .or_insert_with(|| serde_json::json!({}));
                    entry[data_key] = value;
                }
                None => {
                    doc.insert(key.to_string(), value);
                }
            }
        }
        serde_json::Value::Object(doc).to_string()
    }

    fn message(result: Result<Settings, SinkError>) -> String {
        match result {
            Ok(s) => panic!("expected an error, got {s:?}"),
            Err(e) => {
                assert_eq!(e.kind, ixn_plugin_api::sink::ErrorKind::Permanent);
                e.message
            }
        }
    }

    #[test]
    fn defaults() {
        let s = Settings::parse(&pairs(&[("path", "/tmp/x.db")])).unwrap();
        assert_eq!(s.path, PathBuf::from("/tmp/x.db"));
        assert!(s.delete_on_stop);
        assert_eq!(s.schema, None);
        assert!(s.custom.iter().all(Vec::is_empty));
    }

    #[test]
    fn mappings_with_defaults() {
        let s = Settings::parse(&pairs(&[
            ("path", "x.db"),
            ("schema-name", "main"),
            ("delete-on-stop", "false"),
            ("itx-custom-data.CustomerSegment", "customer_segment"),
            ("itx-custom-data.Priority", "prio;integer"),
            ("agent-custom-data.Since", "since;timestamp"),
            ("custom-customdata.Note", "note;string;10"),
            ("esp-custom-data.Svc", "svc;;32"),
        ]))
        .unwrap();
        assert!(!s.delete_on_stop);
        let itx = s.custom_columns(Table::Interaction);
        assert_eq!(
            itx[0],
            CustomColumn {
                key: "CustomerSegment".into(),
                column: "customer_segment".into(),
                kind: ColumnType::String,
                length: 64
            }
        );
        assert_eq!(itx[1].kind, ColumnType::Integer);
        assert_eq!(
            s.custom_columns(Table::Agent)[0].kind,
            ColumnType::Timestamp
        );
        assert_eq!(s.custom_columns(Table::Custom)[0].length, 10);
        assert_eq!(s.custom_columns(Table::Esp)[0].length, 32);
    }

    #[test]
    fn refusals() {
        assert!(message(Settings::parse(&pairs(&[]))).contains("`path`"));
        assert!(message(Settings::parse(&pairs(&[("path", " ")]))).contains("`path`"));
        assert!(
            message(Settings::parse(&pairs(&[
                ("path", "x"),
                ("batch-size", "5")
            ])))
            .contains("`batch-size`")
        );
        assert!(
            message(Settings::parse(&pairs(&[
                ("path", "x"),
                ("schema-name", "dbo")
            ])))
            .contains("dbo")
        );
        assert!(
            message(Settings::parse(&pairs(&[
                ("path", "x"),
                ("delete-on-stop", "yes")
            ])))
            .contains("yes")
        );
        for (key, value, needle) in [
            ("itx-custom-data.K", "", "required"),
            ("itx-custom-data.K", ";integer", "required"),
            ("itx-custom-data.K", "f;float", "float"),
            ("itx-custom-data.K", "f;string;0", "length"),
            ("itx-custom-data.K", "f;string;abc", "abc"),
            ("itx-custom-data.K", "f;string;1;2", "field;type;length"),
            ("itx-custom-data.K", "bad name", "identifier"),
            ("itx-custom-data.K", "x\"; DROP TABLE t; --", "identifier"),
            ("itx-custom-data.K", "attributes", "own columns"),
            ("itx-custom-data.", "f", "no user data key"),
            ("other-data.K", "f", "other-data"),
        ] {
            let m = message(Settings::parse(&pairs(&[("path", "x"), (key, value)])));
            assert!(m.contains(needle), "{key}={value}: {m}");
        }
        let m = message(Settings::parse(&pairs(&[
            ("path", "x"),
            ("itx-custom-data.A", "f"),
            ("itx-custom-data.B", "F;integer"),
        ])));
        assert!(m.contains("already fills"), "{m}");
        let m = message(Settings::parse(&pairs(&[
            ("path", "x"),
            ("esp-custom-data.A", "f"),
            ("esp-service-data.A", "g"),
        ])));
        assert!(m.contains("already mapped"), "{m}");
    }
}
