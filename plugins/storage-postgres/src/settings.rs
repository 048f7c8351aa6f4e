//! The `[storage.settings]` keys this backend understands, deserialised from
//! the settings document the host hands over.

use std::collections::{HashMap, HashSet};
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
    #[serde(default)]
    partitions: Vec<PartitionDocument>,
    #[serde(default)]
    poll_only: bool,
}

/// One `[[storage.settings.partitions]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct PartitionDocument {
    name: String,
    queues: Vec<String>,
    tablespace: Option<String>,
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
    /// `[[partitions]]`: the named partitions of the interactions table, in
    /// the order written; every queue they do not list is in the default
    /// partition.
    pub partitions: Vec<Partition>,
    /// `poll-only`: no LISTEN/NOTIFY, so idle views hear of work placed by
    /// other hosts only at their `check-interval` (for a connection pooler
    /// in transaction mode, such as PgBouncer's, where LISTEN does not work;
    /// River's `PollOnly`). Every host of one schema should say the same:
    /// a poll-only host sends no notices either.
    pub poll_only: bool,
}

/// A named partition of the plan: the interactions of `queues`, in the
/// table `interactions_part_<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// `name`: a plain lower-case identifier of at most [`MAX_PARTITION_NAME`] bytes.
    pub name: String,
    /// `queues`: sorted, each in no other partition.
    pub queues: Vec<String>,
    /// `tablespace`: where PostgreSQL keeps the partition (the database's default when absent).
    pub tablespace: Option<String>,
}

/// The prefix of a named partition's table.
pub const PARTITION_TABLE_PREFIX: &str = "interactions_part_";

/// Longest partition name: its table name must fit PostgreSQL's 63 bytes.
pub const MAX_PARTITION_NAME: usize = 63 - PARTITION_TABLE_PREFIX.len();

impl Partition {
    /// The partition's table.
    pub fn table(&self) -> String {
        format!("{PARTITION_TABLE_PREFIX}{}", self.name)
    }
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
        let partitions = plan(doc.partitions, &mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Settings {
            url: doc.url,
            schema: doc.schema,
            max_connections: doc.max_connections,
            connect_timeout: Duration::from_millis(doc.connect_timeout_ms),
            partitions,
            poll_only: doc.poll_only,
        })
    }
}

/// The partition plan, each problem under the key `partitions` and naming
/// its partition.
fn plan(written: Vec<PartitionDocument>, problems: &mut Vec<SettingProblem>) -> Vec<Partition> {
    let mut problem = |m: String| problems.push(SettingProblem::new("partitions", m));
    let mut names = HashSet::new();
    let mut owner: HashMap<String, String> = HashMap::new();
    let mut plan = Vec::with_capacity(written.len());
    for p in written {
        if !is_identifier(&p.name) || p.name.len() > MAX_PARTITION_NAME {
            problem(format!(
                "partition `{}`: the name must be a plain lower-case identifier of at most {MAX_PARTITION_NAME} bytes",
                p.name
            ));
        } else if p.name == "default" {
            problem("partition `default`: the default partition is not declared; it holds every queue no partition lists".into());
        } else if !names.insert(p.name.clone()) {
            problem(format!("partition `{}` is declared twice", p.name));
        }
        if p.queues.is_empty() {
            problem(format!("partition `{}` lists no queue", p.name));
        }
        for q in &p.queues {
            if q.is_empty() {
                problem(format!("partition `{}` lists an empty queue name", p.name));
            } else if let Some(first) = owner.insert(q.clone(), p.name.clone())
                && first != p.name
            {
                problem(format!(
                    "queue `{q}` is in partition `{first}` and in partition `{}`: a queue is in one partition",
                    p.name
                ));
            }
        }
        if let Some(t) = &p.tablespace
            && !is_identifier(t)
        {
            problem(format!(
                "partition `{}`: tablespace `{t}` must be a plain lower-case identifier",
                p.name
            ));
        }
        let mut queues = p.queues;
        queues.sort();
        queues.dedup();
        plan.push(Partition {
            name: p.name,
            queues,
            tablespace: p.tablespace,
        });
    }
    plan
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

    #[test]
    fn the_partition_plan_is_read_sorted_and_checked() {
        let s = Settings::parse(
            r#"{"url": "postgres://x", "partitions": [
                {"name": "archive", "queues": ["q.b", "q.a", "q.b"], "tablespace": "slow"},
                {"name": "live", "queues": ["q.c"]}]}"#,
        )
        .unwrap();
        assert_eq!(s.partitions.len(), 2);
        assert_eq!(s.partitions[0].queues, ["q.a", "q.b"]);
        assert_eq!(s.partitions[0].table(), "interactions_part_archive");
        assert_eq!(s.partitions[0].tablespace.as_deref(), Some("slow"));
        assert_eq!(s.partitions[1].tablespace, None);

        let messages = |doc: &str| -> Vec<String> {
            Settings::problems(doc)
                .into_iter()
                .inspect(|p| assert_eq!(p.key, "partitions"))
                .map(|p| p.message)
                .collect()
        };
        let m = messages(
            r#"{"url": "postgres://x", "partitions": [
                {"name": "a", "queues": ["q"]},
                {"name": "a", "queues": ["q", ""]},
                {"name": "Bad-Name", "queues": []},
                {"name": "b", "queues": ["q"]},
                {"name": "default", "queues": ["r"], "tablespace": "x y"}]}"#,
        );
        assert_eq!(
            m,
            [
                "partition `a` is declared twice",
                "partition `a` lists an empty queue name",
                "partition `Bad-Name`: the name must be a plain lower-case identifier of at most 45 bytes",
                "partition `Bad-Name` lists no queue",
                "queue `q` is in partition `a` and in partition `b`: a queue is in one partition",
                "partition `default`: the default partition is not declared; it holds every queue no partition lists",
                "partition `default`: tablespace `x y` must be a plain lower-case identifier",
            ]
        );
    }
}
