//! The sink's settings: the logger's `logger-settings` options and the custom
//! data sections, as the host passes them (string pairs).
//!
//! | key | meaning |
//! |---|---|
//! | `path` | the SQLite database file (required; created if missing, its directory must exist) |
//! | `schema-name` | the original's schema option; on SQLite only empty or `main` |
//! | `max-size-mb` | the most the database file may grow to, in MiB; 0 (default) sets no limit. A full database is a retriable error: the logger keeps the batch until there is room |
//! | `delete-on-stop` | `true` (default) or `false`: delete an interaction's rows when its `EventProcessingStopped` is stored |
//! | `itx-custom-data.<Key>` | `field;type;length` for events of activity `interaction` (`rpt_interaction`) |
//! | `agent-custom-data.<Key>` | the same for activity `agent` (`rpt_agent`) |
//! | `esp-custom-data.<Key>`, `esp-service-data.<Key>` | the same for activity `esp` (`rpt_esp`) |
//! | `custom-customdata.<Key>` | the same for activity `custom` (`rpt_custom`) |
//!
//! Any other key is refused, naming it.

use std::path::PathBuf;

use ixn_plugin_api::sink::{SettingProblem, SinkError};

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

    /// Parses the host's string pairs.
    pub fn parse(pairs: &[(String, String)]) -> Result<Settings, SinkError> {
        Settings::read(pairs, &mut |_, e| Err(e))
    }

    /// Every problem with the pairs, each with its key.
    pub fn problems(pairs: &[(String, String)]) -> Vec<SettingProblem> {
        let mut problems = Vec::new();
        let _ = Settings::read(pairs, &mut |key, e| {
            problems.push(SettingProblem::new(key, e.message));
            Ok(())
        });
        problems
    }

    /// Reads the pairs; each problem goes to `problem` (with its key), which
    /// stops the reading by answering `Err`.
    fn read(
        pairs: &[(String, String)],
        problem: &mut dyn FnMut(&str, SinkError) -> Result<(), SinkError>,
    ) -> Result<Settings, SinkError> {
        let mut path = None;
        let mut schema = None;
        let mut delete_on_stop = true;
        let mut max_size_mb = 0;
        let mut custom: [Vec<CustomColumn>; 4] = Default::default();
        for (key, value) in pairs {
            let read = (|| {
                match key.as_str() {
                    "path" => {
                        if value.trim().is_empty() {
                            return Err(bad("`path` must name the SQLite database file"));
                        }
                        path = Some(PathBuf::from(value));
                    }
                    "schema-name" => schema = parse_schema(value)?,
                    "delete-on-stop" => delete_on_stop = parse_bool(key, value)?,
                    "max-size-mb" => {
                        max_size_mb = value.trim().parse().map_err(|_| {
                            bad(format!(
                                "`{key}` is `{value}`, expected a whole number of MiB"
                            ))
                        })?;
                    }
                    _ => {
                        let Some((table, data_key)) = custom_key(key) else {
                            return Err(bad(format!("unknown setting `{key}`")));
                        };
                        let column = parse_mapping(key, data_key, value)?;
                        add_column(&mut custom[table.index()], table, key, column)?;
                    }
                }
                Ok(())
            })();
            if let Err(e) = read {
                problem(key, e)?;
            }
        }
        if path.is_none() && !pairs.iter().any(|(k, _)| k == "path") {
            problem(
                "path",
                bad("the setting `path` (the SQLite database file) is required"),
            )?;
        }
        Ok(Settings {
            path: path.unwrap_or_default(),
            schema,
            delete_on_stop,
            max_size_mb,
            custom,
        })
    }
}

fn bad(message: impl Into<String>) -> SinkError {
    SinkError::permanent(format!("sql sink settings: {}", message.into()))
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

fn parse_bool(key: &str, value: &str) -> Result<bool, SinkError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(format!(
            "`{key}` is `{value}`, expected `true` or `false`"
        ))),
    }
}

/// `itx-custom-data.CustomerSegment` → (rpt_interaction, `CustomerSegment`).
fn custom_key(key: &str) -> Option<(Table, &str)> {
    let (section, data_key) = key.split_once('.')?;
    CUSTOM_SECTIONS
        .iter()
        .find(|(name, _)| *name == section)
        .map(|(_, table)| (*table, data_key))
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

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
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
            ("other-data.K", "f", "unknown setting"),
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
