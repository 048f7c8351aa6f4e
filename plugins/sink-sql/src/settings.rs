//! The sink's settings: the logger's `sink-settings`, `schema-name` and the
//! custom data sections, deserialised from the document the host hands over.
//!
//! | key | meaning |
//! |---|---|
//! | `path` | a SQLite database file (created if missing, its directory must exist) |
//! | `url` | a PostgreSQL database, `postgres://user:password@host:port/database`; exactly one of `path` and `url` |
//! | `schema-name` | the original's schema option: on PostgreSQL the schema of the tables (created if missing; default the connection's `search_path`); on SQLite only empty or `main` |
//! | `max-size-mb` | SQLite only: the most the database file may grow to, in MiB; 0 (default) sets no limit. A full database is a retriable error: the logger keeps the batch until there is room |
//! | `delete-on-stop` | `true` (default) or `false`: delete an interaction's rows when its `EventProcessingStopped` is stored (the original's trigger `trg_delete_stopped`) |
//! | `delete-on-logout` | `true` (default) or `false`: delete an agent's `rpt_agent` rows when its `EventAgentLogout` is stored (`trg_delete_logout`); the agent is the event's `AgentId` field |
//! | `delete-on-response` | `true` (default) or `false`: delete a request's `rpt_esp` rows when its `EventExternalServiceResponded` is stored (`trg_delete_resp`); the request is the event's `RequestId` field |
//! | `delete-custom-after` | seconds after which `rpt_custom` rows are purged (`trg_del_cust_delay`), counted from when the sink stored them (`stored_at`); default 600, 0 keeps them |
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

/// The field of agent events naming the agent (`rpt_agent.agent_id`).
pub const AGENT_KEY: &str = "AgentId";
/// The field of ESP events naming the request (`rpt_esp.request_id`).
pub const REQUEST_KEY: &str = "RequestId";
/// How much of an agent or request id the key columns keep, in bytes.
const KEY_COLUMN_LENGTH: u32 = 255;

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
    /// Milliseconds since the epoch when the sink stored the row; filled by
    /// the sink, not from a field (`rpt_custom.stored_at`, which the delayed
    /// purge goes by). Not a type a mapping can name.
    StoredAt,
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

/// The database a sink writes to.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server, by URL (which may hold a password: never shown).
    Postgres(String),
}

impl Database {
    /// The database as messages name it: the file, or the server and
    /// database name without the user's credentials.
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite(path) => format!("SQLite database `{}`", path.display()),
            Database::Postgres(url) => {
                format!("PostgreSQL database `{}`", without_credentials(url))
            }
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// `postgres://user:secret@host/db` as `postgres://host/db`.
pub fn without_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit('@').next().unwrap_or(authority);
            let query_free = path.split('?').next().unwrap_or(path);
            format!("{scheme}://{host}{query_free}")
        }
        None => "(not a URL)".to_string(),
    }
}

/// The seed's retention rules, each switchable off to keep the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Delete an interaction's `rpt_interaction` rows when its processing stops.
    pub on_stop: bool,
    /// Delete an agent's `rpt_agent` rows when it logs out.
    pub on_logout: bool,
    /// Delete a request's `rpt_esp` rows when the service responds.
    pub on_response: bool,
    /// Purge `rpt_custom` rows that occurred longer ago than this; `None` keeps them.
    pub custom_after: Option<std::time::Duration>,
}

/// Parsed settings of an SQL sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Where the tables are.
    pub database: Database,
    /// The schema the tables live in; `None` for the default one.
    pub schema: Option<String>,
    /// What is deleted when.
    pub retention: Retention,
    /// The SQLite file's size limit in MiB; 0 for none.
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
        let database = match (
            doc.path.as_deref().map(str::trim),
            doc.url.as_deref().map(str::trim),
        ) {
            (Some(path), None) if !path.is_empty() => Database::Sqlite(PathBuf::from(path)),
            (None, Some(url))
                if url.starts_with("postgres://") || url.starts_with("postgresql://") =>
            {
                Database::Postgres(url.to_string())
            }
            (None, Some(url)) => {
                problem(
                    "url",
                    bad(format!(
                        "`url` is `{}`, expected postgres://user@host:port/database",
                        without_credentials(url)
                    )),
                )?;
                Database::Postgres(String::new())
            }
            (Some(_), Some(_)) => {
                problem(
                    "url",
                    bad(
                        "`url` and `path` are both given: choose PostgreSQL (`url`) or SQLite (`path`)",
                    ),
                )?;
                Database::Sqlite(PathBuf::new())
            }
            _ => {
                problem(
                    "path",
                    bad(
                        "`path` must name the SQLite database file (or `url` a PostgreSQL database)",
                    ),
                )?;
                Database::Sqlite(PathBuf::new())
            }
        };
        let postgres = matches!(database, Database::Postgres(_));
        let schema = match parse_schema(doc.schema_name.as_deref().unwrap_or_default(), postgres) {
            Ok(schema) => schema,
            Err(e) => {
                problem("schema-name", e)?;
                None
            }
        };
        if postgres && doc.max_size_mb != 0 {
            problem(
                "max-size-mb",
                bad(
                    "`max-size-mb` limits a SQLite file; on PostgreSQL leave it out and size the server",
                ),
            )?;
        }
        let mut custom: [Vec<CustomColumn>; 4] = Default::default();
        for (table, column) in key_columns() {
            custom[table.index()].push(column);
        }
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
            database,
            schema,
            retention: Retention {
                on_stop: doc.delete_on_stop,
                on_logout: doc.delete_on_logout,
                on_response: doc.delete_on_response,
                custom_after: (doc.delete_custom_after > 0)
                    .then(|| std::time::Duration::from_secs(doc.delete_custom_after)),
            },
            max_size_mb: doc.max_size_mb,
            custom,
        })
    }
}

/// The columns the retention rules find rows by, beyond `interaction_id`:
/// filled from an event field like a custom data mapping (or, for
/// `stored_at`, by the sink), present whatever the configuration says so
/// that turning a rule on later finds its rows.
fn key_columns() -> [(Table, CustomColumn); 3] {
    let key = |field: &str, column: &str| CustomColumn {
        key: field.to_string(),
        column: column.to_string(),
        kind: ColumnType::String,
        length: KEY_COLUMN_LENGTH,
    };
    let stored_at = CustomColumn {
        kind: ColumnType::StoredAt,
        ..key("", "stored_at")
    };
    [
        (Table::Agent, key(AGENT_KEY, "agent_id")),
        (Table::Esp, key(REQUEST_KEY, "request_id")),
        (Table::Custom, stored_at),
    ]
}

/// The settings document as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Document {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    schema_name: Option<String>,
    #[serde(default = "default_true")]
    delete_on_stop: bool,
    #[serde(default = "default_true")]
    delete_on_logout: bool,
    #[serde(default = "default_true")]
    delete_on_response: bool,
    #[serde(default = "default_custom_after")]
    delete_custom_after: u64,
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

/// The original's `trg_del_cust_delay` default: 10 minutes.
fn default_custom_after() -> u64 {
    600
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

/// `schema-name`: a plain identifier on PostgreSQL; SQLite has only `main`
/// (attached databases are not used).
fn parse_schema(value: &str, postgres: bool) -> Result<Option<String>, SinkError> {
    let value = value.trim();
    if value.is_empty() || (!postgres && value.eq_ignore_ascii_case("main")) {
        Ok(None)
    } else if !postgres {
        Err(bad(format!(
            "`schema-name` is `{value}`, but on SQLite it must be empty or `main`"
        )))
    } else if is_identifier(value) {
        Ok(Some(value.to_string()))
    } else {
        Err(bad(format!(
            "`schema-name` is `{value}`, which is not a plain identifier \
             (letters, digits and `_`, not starting with a digit, at most {MAX_IDENTIFIER_LEN} characters)"
        )))
    }
}

/// Letters, digits and `_`, not starting with a digit, at most 63 bytes.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let starts_well = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    starts_well
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= MAX_IDENTIFIER_LEN
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
    if !is_identifier(column) {
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
        assert_eq!(s.database, Database::Sqlite(PathBuf::from("/tmp/x.db")));
        assert_eq!(
            s.retention,
            Retention {
                on_stop: true,
                on_logout: true,
                on_response: true,
                custom_after: Some(std::time::Duration::from_secs(600)),
            }
        );
        assert_eq!(s.schema, None);
        // Only the retention rules' key columns.
        assert!(s.custom_columns(Table::Interaction).is_empty());
        assert_eq!(
            s.custom_columns(Table::Custom)[0].kind,
            ColumnType::StoredAt
        );
        assert_eq!(s.custom_columns(Table::Agent)[0].column, "agent_id");
        assert_eq!(s.custom_columns(Table::Esp)[0].column, "request_id");
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
        assert!(!s.retention.on_stop);
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
            s.custom_columns(Table::Agent)[1].kind,
            ColumnType::Timestamp
        );
        assert_eq!(s.custom_columns(Table::Custom)[1].length, 10);
        assert_eq!(s.custom_columns(Table::Esp)[1].length, 32);
    }

    #[test]
    fn postgres_and_retention() {
        let s = Settings::parse(&pairs(&[
            (
                "url",
                "postgres://ixn:secret@db.example:5433/reports?sslmode=require",
            ),
            ("schema-name", "reporting"),
            ("delete-on-logout", "false"),
            ("delete-on-response", "false"),
            ("delete-custom-after", "0"),
        ]))
        .unwrap();
        assert_eq!(s.schema.as_deref(), Some("reporting"));
        assert_eq!(
            format!("{:?}", s.database),
            "PostgreSQL database `postgres://db.example:5433/reports`"
        );
        assert!(s.retention.on_stop && !s.retention.on_logout && !s.retention.on_response);
        assert_eq!(s.retention.custom_after, None);
        let m = message(Settings::parse(&pairs(&[
            ("url", "postgres://h/db"),
            ("schema-name", "bad-name"),
        ])));
        assert!(m.contains("bad-name") && m.contains("identifier"), "{m}");
        let m = message(Settings::parse(&pairs(&[
            ("url", "postgres://h/db"),
            ("max-size-mb", "10"),
        ])));
        assert!(m.contains("max-size-mb"), "{m}");
        let m = message(Settings::parse(&pairs(&[("url", "mysql://u:pw@h/db")])));
        assert!(m.contains("mysql://h/db") && !m.contains("pw"), "{m}");
        let m = message(Settings::parse(&pairs(&[
            ("url", "postgres://h/db"),
            ("path", "x"),
        ])));
        assert!(m.contains("both"), "{m}");
        let m = message(Settings::parse(&pairs(&[
            ("path", "x"),
            ("agent-custom-data.A", "agent_id"),
        ])));
        assert!(m.contains("already fills"), "{m}");
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
