//! The SQL sink's promises checked on both databases: a SQLite file in a
//! temporary directory, and a fresh schema of the PostgreSQL at
//! `IXN_TEST_PG_URL` (skipped, saying so, when that is not set).
//!
//! Every count is read back from the tables on a connection of the test's own.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use ixn_plugin_api::sink::{ErrorKind, EventRecord, Field, Sink, Value};
use ixn_sink_sql::SqlSink;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

/// Where one test's tables are.
enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres { url: String, schema: String },
}

impl Backend {
    /// SQLite always; PostgreSQL when `IXN_TEST_PG_URL` is set, in a schema of its own.
    fn all(test: &str) -> Vec<Backend> {
        let mut backends = vec![Backend::Sqlite(tempfile::tempdir().unwrap())];
        match std::env::var("IXN_TEST_PG_URL") {
            Ok(url) => {
                static N: AtomicU32 = AtomicU32::new(0);
                let schema = format!(
                    "ixn_sink_{}_{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                );
                backends.push(Backend::Postgres { url, schema });
            }
            Err(_) => eprintln!(
                "SKIPPED {test} on PostgreSQL: IXN_TEST_PG_URL is not set (`.ci/run` sets it after starting the server)"
            ),
        }
        backends
    }

    fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }

    /// The settings document with `extra` (`section.Key` nests; booleans and numbers keep their type).
    fn settings(&self, extra: &[(&str, &str)]) -> String {
        let mut doc = serde_json::Map::new();
        match self {
            Backend::Sqlite(dir) => {
                doc.insert(
                    "path".into(),
                    dir.path().join("events.db").display().to_string().into(),
                );
            }
            Backend::Postgres { url, schema } => {
                doc.insert("url".into(), url.clone().into());
                doc.insert("schema-name".into(), schema.clone().into());
            }
        }
        for (key, value) in extra {
            let value = if let Ok(b) = value.parse::<bool>() {
                serde_json::json!(b)
            } else if let Ok(n) = value.parse::<u64>() {
                serde_json::json!(n)
            } else {
                serde_json::json!(value)
            };
            match key.split_once('.') {
                Some((section, key)) => {
                    doc.entry(section.to_string())
                        .or_insert_with(|| serde_json::json!({}))[key] = value;
                }
                None => {
                    doc.insert(key.to_string(), value);
                }
            }
        }
        serde_json::Value::Object(doc).to_string()
    }

    fn open(&self, extra: &[(&str, &str)]) -> SqlSink {
        SqlSink::open(self.settings(extra))
            .unwrap_or_else(|e| panic!("{}: {}", self.name(), e.message))
    }

    /// One integer answered by `sql` over the unqualified table names.
    fn count(&self, sql: &str) -> i64 {
        let sql = sql.to_string();
        runtime().block_on(async move {
            match self {
                Backend::Sqlite(dir) => {
                    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
                        .filename(dir.path().join("events.db"))
                        .connect()
                        .await
                        .unwrap();
                    sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql))
                        .fetch_one(&mut conn)
                        .await
                        .unwrap()
                }
                Backend::Postgres { url, schema } => {
                    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                    sqlx::raw_sql(AssertSqlSafe(format!("SET search_path TO \"{schema}\"")))
                        .execute(&mut conn)
                        .await
                        .unwrap();
                    sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql))
                        .fetch_one(&mut conn)
                        .await
                        .unwrap()
                }
            }
        })
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Backend::Postgres { url, schema } = self {
            let (url, schema) = (url.clone(), schema.clone());
            runtime().block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await {
                    let _ = sqlx::raw_sql(AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A record that occurred `sequence` ms after `at`.
fn record(
    sequence: u64,
    name: &str,
    activity: &str,
    interaction: Option<&str>,
    fields: &[(&str, Value)],
) -> EventRecord {
    EventRecord {
        event_id: 100 + (sequence % 50) as u32,
        event_name: name.to_string(),
        activity: activity.to_string(),
        endpoint: (activity == "interaction").then(|| "queue".to_string()),
        occurred_at: now_ms() + sequence as i64,
        origin: "test:1".to_string(),
        sequence,
        generation: 1,
        interaction_id: interaction.map(str::to_string),
        fields: fields
            .iter()
            .map(|(n, v)| Field {
                name: n.to_string(),
                value: v.clone(),
            })
            .collect(),
    }
}

fn text(s: &str) -> Value {
    Value::Str(s.to_string())
}

#[test]
fn rows_and_custom_columns_arrive_with_their_text_intact() {
    for db in Backend::all("rows_and_custom_columns_arrive_with_their_text_intact") {
        let sink = db.open(&[
            ("itx-custom-data.Segment", "segment;string;8"),
            ("itx-custom-data.Priority", "priority;integer"),
            ("agent-custom-data.Since", "since;timestamp"),
            ("custom-customdata.Score", "score;integer"),
            ("esp-service-data.Service", "service"),
        ]);
        // Tabs, newlines, backslashes, quotes and non-Latin text: what COPY's text format escapes.
        let awkward = "tab\there\nnew \\ line \"q\" 'q' Жук 日本";
        sink.write(vec![
            record(
                1,
                "EventPlacedInQueue",
                "interaction",
                Some("itx-1"),
                &[
                    ("Segment", text("Gold-and-more")),
                    ("Priority", Value::Int(7)),
                    ("Subject", text(awkward)),
                ],
            ),
            record(
                2,
                "EventPartyAdded",
                "interaction",
                Some("itx-1"),
                &[("Priority", text("high"))],
            ),
            record(
                3,
                "EventNotReadyForMedia",
                "agent",
                None,
                &[
                    ("AgentId", text("agent-7")),
                    ("Since", Value::Timestamp(1_700_000_000_123)),
                ],
            ),
            record(
                4,
                "EventCustomReporting",
                "custom",
                Some("itx-1"),
                &[("Score", Value::Int(42))],
            ),
            record(
                5,
                "EventExternalServiceRequested",
                "esp",
                Some("itx-1"),
                &[("RequestId", text("req-1")), ("Service", text("crm"))],
            ),
        ])
        .unwrap();
        let name = db.name();
        assert_eq!(sink.stored_count().unwrap(), Some(5), "{name}");
        assert_eq!(
            db.count("SELECT COUNT(*) FROM rpt_interaction WHERE segment = 'Gold-and'"),
            1,
            "{name}: cut to 8 bytes"
        );
        assert_eq!(
            db.count("SELECT COUNT(*) FROM rpt_interaction WHERE priority = 7"),
            1,
            "{name}"
        );
        assert_eq!(
            db.count("SELECT COUNT(*) FROM rpt_interaction WHERE priority IS NULL"),
            1,
            "{name}: a string is NULL in an integer column"
        );
        assert_eq!(
            db.count("SELECT COUNT(*) FROM rpt_agent WHERE agent_id = 'agent-7'"),
            1,
            "{name}"
        );
        assert_eq!(
            db.count("SELECT COUNT(*) FROM rpt_custom WHERE score = 42"),
            1,
            "{name}"
        );
        assert_eq!(
            db.count("SELECT COUNT(*) FROM rpt_esp WHERE request_id = 'req-1' AND service = 'crm'"),
            1,
            "{name}"
        );
        // The awkward text came back byte for byte inside the JSON attributes.
        let stored = match &db {
            Backend::Sqlite(_) => {
                "SELECT COUNT(*) FROM rpt_interaction WHERE json_extract(attributes, '$.Subject') = "
            }
            Backend::Postgres { .. } => {
                "SELECT COUNT(*) FROM rpt_interaction WHERE attributes->>'Subject' = "
            }
        };
        let literal = format!("'{}'", awkward.replace('\'', "''"));
        assert_eq!(
            db.count(&format!("{stored}{literal}")),
            1,
            "{name}: {awkward:?} stored as it was"
        );
        let since = match &db {
            Backend::Sqlite(_) => "SELECT since FROM rpt_agent",
            Backend::Postgres { .. } => {
                "SELECT (EXTRACT(EPOCH FROM since) * 1000)::BIGINT FROM rpt_agent"
            }
        };
        assert_eq!(
            db.count(since),
            1_700_000_000_123,
            "{name}: the timestamp column"
        );
    }
}

#[test]
fn a_batch_sent_again_stores_each_event_once() {
    for db in Backend::all("a_batch_sent_again_stores_each_event_once") {
        let sink = db.open(&[("delete-on-stop", "false")]);
        let batch: Vec<EventRecord> = (1..=10)
            .map(|i| {
                record(
                    i,
                    "EventPropertiesChanged",
                    "interaction",
                    Some("itx-9"),
                    &[("N", Value::Int(i as i64))],
                )
            })
            .collect();
        sink.write(batch.clone()).unwrap();
        sink.write(batch.clone()).unwrap();
        // Half stored, half new, and a table the first batch did not touch.
        let mut overlap = batch[5..].to_vec();
        overlap.push(record(11, "EventHeld", "interaction", Some("itx-9"), &[]));
        overlap.push(record(
            12,
            "EventAgentLogin",
            "agent",
            None,
            &[("AgentId", text("a"))],
        ));
        sink.write(overlap).unwrap();
        let name = db.name();
        assert_eq!(sink.stored_count().unwrap(), Some(12), "{name}");
        assert_eq!(
            db.count("SELECT COUNT(DISTINCT sequence) FROM rpt_interaction"),
            11,
            "{name}"
        );
        // And the fast path still works after the slow one.
        sink.write(vec![record(
            13,
            "EventResumed",
            "interaction",
            Some("itx-9"),
            &[],
        )])
        .unwrap();
        assert_eq!(sink.stored_count().unwrap(), Some(13), "{name}");
    }
}

/// The seed's four retention rules, each with its switch on (the default) and off.
#[test]
fn each_retention_rule_deletes_what_the_seed_says_and_can_be_switched_off() {
    for db in Backend::all("each_retention_rule_deletes_what_the_seed_says_and_can_be_switched_off")
    {
        let name = db.name();
        let batch = |base: u64| {
            vec![
                record(
                    base + 1,
                    "EventInteractionSubmitted",
                    "interaction",
                    Some("stops"),
                    &[],
                ),
                record(
                    base + 2,
                    "EventInteractionSubmitted",
                    "interaction",
                    Some("stays"),
                    &[],
                ),
                record(
                    base + 3,
                    "EventAgentLogin",
                    "agent",
                    None,
                    &[("AgentId", text("leaves"))],
                ),
                record(
                    base + 4,
                    "EventAgentLogin",
                    "agent",
                    None,
                    &[("AgentId", text("stays"))],
                ),
                record(
                    base + 5,
                    "EventExternalServiceRequested",
                    "esp",
                    Some("stops"),
                    &[("RequestId", text("answered"))],
                ),
                record(
                    base + 6,
                    "EventExternalServiceRequested",
                    "esp",
                    Some("stays"),
                    &[("RequestId", text("open"))],
                ),
            ]
        };
        let enders = |base: u64| {
            let mut late_login = record(
                base + 14,
                "EventAgentLogin",
                "agent",
                None,
                &[("AgentId", text("leaves"))],
            );
            late_login.occurred_at += 60_000;
            vec![
                record(
                    base + 11,
                    "EventProcessingStopped",
                    "interaction",
                    Some("stops"),
                    &[],
                ),
                record(
                    base + 12,
                    "EventAgentLogout",
                    "agent",
                    None,
                    &[("AgentId", text("leaves"))],
                ),
                // Logged in again after the logout, in the same batch: stays.
                late_login,
                record(
                    base + 13,
                    "EventExternalServiceResponded",
                    "esp",
                    Some("stops"),
                    &[("RequestId", text("answered"))],
                ),
            ]
        };
        let mut old = record(100, "EventCustomReporting", "custom", Some("stays"), &[]);
        old.occurred_at -= 11 * 60 * 1000;
        let fresh = record(101, "EventCustomReporting", "custom", Some("stays"), &[]);

        // On, with the defaults.
        let sink = db.open(&[]);
        sink.write(batch(0)).unwrap();
        sink.write(enders(0)).unwrap();
        sink.write(vec![old.clone(), fresh.clone()]).unwrap();
        assert_eq!(
            db.count("SELECT COUNT(*) FROM rpt_interaction WHERE interaction_id = 'stops'"),
            0,
            "{name}: stopped"
        );
        assert_eq!(
            db.count("SELECT COUNT(*) FROM rpt_interaction WHERE interaction_id = 'stays'"),
            1,
            "{name}"
        );
        assert_eq!(
            db.count("SELECT COUNT(*) FROM rpt_agent WHERE agent_id = 'leaves'"),
            1,
            "{name}: only the later login"
        );
        assert_eq!(
            db.count("SELECT COUNT(*) FROM rpt_agent WHERE agent_id = 'stays'"),
            1,
            "{name}"
        );
        assert_eq!(
            db.count("SELECT COUNT(*) FROM rpt_esp WHERE request_id = 'answered'"),
            0,
            "{name}: answered"
        );
        assert_eq!(
            db.count("SELECT COUNT(*) FROM rpt_esp WHERE request_id = 'open'"),
            1,
            "{name}"
        );
        // Counted from when it was stored: an event that occurred 11 minutes
        // ago (delivered late, from a spool) is kept like a fresh one.
        assert_eq!(
            db.count("SELECT COUNT(*) FROM rpt_custom"),
            2,
            "{name}: both just stored"
        );
        drop(sink);

        // Off: every row stays.
        let sink = db.open(&[
            ("delete-on-stop", "false"),
            ("delete-on-logout", "false"),
            ("delete-on-response", "false"),
            ("delete-custom-after", "0"),
        ]);
        sink.write(batch(1000)).unwrap();
        sink.write(enders(1000)).unwrap();
        let mut old = old.clone();
        old.sequence = 1100;
        sink.write(vec![old]).unwrap();
        assert_eq!(
            db.count("SELECT COUNT(*) FROM rpt_interaction WHERE sequence > 1000"),
            3,
            "{name}"
        );
        assert_eq!(
            db.count("SELECT COUNT(*) FROM rpt_agent WHERE sequence > 1000"),
            4,
            "{name}"
        );
        assert_eq!(
            db.count("SELECT COUNT(*) FROM rpt_esp WHERE sequence > 1000"),
            3,
            "{name}"
        );
        assert_eq!(db.count("SELECT COUNT(*) FROM rpt_custom"), 3, "{name}");
        drop(sink);

        // A shorter purge delay: the rows stored more than a second ago go.
        let sink = db.open(&[("delete-custom-after", "1")]);
        std::thread::sleep(std::time::Duration::from_millis(1200));
        sink.write(vec![record(
            2000,
            "EventCustomReporting",
            "custom",
            None,
            &[],
        )])
        .unwrap();
        assert_eq!(
            db.count("SELECT COUNT(*) FROM rpt_custom"),
            1,
            "{name}: only the row just stored"
        );
    }
}

#[test]
fn reopening_adds_new_custom_columns_and_keeps_the_rows() {
    for db in Backend::all("reopening_adds_new_custom_columns_and_keeps_the_rows") {
        let sink = db.open(&[("itx-custom-data.A", "a")]);
        sink.write(vec![record(
            1,
            "EventHeld",
            "interaction",
            Some("x"),
            &[("A", text("1")), ("B", Value::Int(2))],
        )])
        .unwrap();
        drop(sink);
        let sink = db.open(&[
            ("itx-custom-data.A", "a"),
            ("itx-custom-data.B", "b;integer"),
        ]);
        sink.write(vec![record(
            2,
            "EventHeld",
            "interaction",
            Some("x"),
            &[("A", text("1")), ("B", Value::Int(2))],
        )])
        .unwrap();
        let name = db.name();
        assert_eq!(
            db.count("SELECT COUNT(*) FROM rpt_interaction WHERE a = '1'"),
            2,
            "{name}"
        );
        assert_eq!(
            db.count("SELECT COUNT(*) FROM rpt_interaction WHERE b = 2"),
            1,
            "{name}: only the row stored after"
        );
    }
}

#[test]
fn large_mixed_batches_are_stored_whole() {
    for db in Backend::all("large_mixed_batches_are_stored_whole") {
        let sink = db.open(&[
            ("itx-custom-data.B", "b;integer"),
            ("delete-custom-after", "0"),
        ]);
        let batch: Vec<EventRecord> = (1..=5_000)
            .map(|i| {
                let activity = ["interaction", "agent", "esp", "custom"][(i % 4) as usize];
                record(
                    i,
                    "EventPropertiesChanged",
                    activity,
                    Some("itx"),
                    &[("B", Value::Int(i as i64))],
                )
            })
            .collect();
        sink.write(batch).unwrap();
        let name = db.name();
        assert_eq!(sink.stored_count().unwrap(), Some(5_000), "{name}");
        assert_eq!(db.count("SELECT COUNT(*) FROM rpt_esp"), 1_250, "{name}");
        assert_eq!(
            db.count("SELECT CAST(SUM(b) AS BIGINT) FROM rpt_interaction"),
            (1..=5_000i64).filter(|i| i % 4 == 0).sum::<i64>(),
            "{name}"
        );
    }
}

#[test]
fn a_record_the_database_refuses_fails_the_batch_whole() {
    for db in Backend::all("a_record_the_database_refuses_fails_the_batch_whole") {
        let sink = db.open(&[]);
        let mut bad = record(2, "EventHeld", "interaction", Some("x"), &[]);
        // An unknown activity is refused before the database is asked.
        bad.activity = "queue-stats".into();
        let e = sink
            .write(vec![
                record(1, "EventHeld", "interaction", Some("x"), &[]),
                bad,
            ])
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Permanent, "{}", db.name());
        assert_eq!(sink.stored_count().unwrap(), Some(0), "{}", db.name());
    }
}

/// A server that does not answer is retriable (the logger keeps the events)
/// and the message names it without the password.
#[test]
fn an_unreachable_postgres_is_retriable_and_keeps_the_password_out() {
    let e =
        match SqlSink::open(r#"{"url": "postgres://ixn:hunter2@127.0.0.1:1/reports"}"#.to_string())
        {
            Ok(_) => panic!("nothing listens on port 1"),
            Err(e) => e,
        };
    assert_eq!(e.kind, ErrorKind::Retriable, "{}", e.message);
    assert!(
        e.message.contains("postgres://127.0.0.1:1/reports"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("hunter2"), "{}", e.message);
}

/// A URL that does not parse says why, still without the password.
#[test]
fn a_postgres_url_that_does_not_parse_says_why() {
    let e = match SqlSink::open(
        r#"{"url": "postgres://ixn:hunter2@127.0.0.1:notaport/reports"}"#.to_string(),
    ) {
        Ok(_) => panic!("the port is not a number"),
        Err(e) => e,
    };
    assert_eq!(e.kind, ErrorKind::Permanent, "{}", e.message);
    assert!(e.message.contains("does not parse"), "{}", e.message);
    assert!(e.message.contains("port"), "{}", e.message);
    assert!(!e.message.contains("hunter2"), "{}", e.message);
}
