//! The SQL sink against real SQLite files in temporary directories.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::path::{Path, PathBuf};

use ixn_plugin_api::sink::{ErrorKind, EventRecord, Field, Sink, SinkClient, SinkError, Value};
use ixn_sink_sql::SqlSink;
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{ConnectOptions, FromRow};

/// sequence, event_id, event_name, endpoint, occurred_at, interaction_id,
/// attributes, customer_segment, priority, note.
type InteractionRow = (
    i64,
    i64,
    String,
    Option<String>,
    i64,
    Option<String>,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
);

/// sequence, interaction_id, reason, since, endpoint.
type AgentRow = (
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

/// The settings document: `path` and `extra`, where `section.Key` nests and
/// `true`/`false` and numbers keep their type.
fn settings(path: &Path, extra: &[(&str, &str)]) -> String {
    let mut doc = serde_json::Map::new();
    doc.insert("path".into(), serde_json::json!(path.display().to_string()));
    for (key, value) in extra {
        let value = if let Ok(b) = value.parse::<bool>() {
            serde_json::json!(b)
        } else if let Ok(n) = value.parse::<u64>() {
            serde_json::json!(n)
        } else {
            serde_json::json!(value)
        };
        match key.split_once('.') {
            Some((section, data_key)) => {
                doc.entry(section.to_string())
                    .or_insert_with(|| serde_json::json!({}))[data_key] = value;
            }
            None => {
                doc.insert(key.to_string(), value);
            }
        }
    }
    serde_json::Value::Object(doc).to_string()
}

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
        occurred_at: 1_700_000_000_000 + sequence as i64,
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

fn str_value(s: &str) -> Value {
    Value::Str(s.to_string())
}

/// Runs a query on its own connection (and its own runtime).
fn rows<T>(path: &Path, sql: &'static str) -> Vec<T>
where
    T: for<'r> FromRow<'r, SqliteRow> + Send + Unpin + 'static,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let path = path.to_path_buf();
    rt.block_on(async move {
        let mut conn = SqliteConnectOptions::new()
            .filename(&path)
            .connect()
            .await
            .unwrap();
        sqlx::query_as::<_, T>(sql)
            .fetch_all(&mut conn)
            .await
            .unwrap()
    })
}

fn count(path: &Path, sql: &'static str) -> i64 {
    rows::<(i64,)>(path, sql)[0].0
}

fn open(path: &Path, extra: &[(&str, &str)]) -> SqlSink {
    SqlSink::open(settings(path, extra)).unwrap()
}

fn open_err(pairs: String) -> SinkError {
    match SqlSink::open(pairs) {
        Ok(_) => panic!("open should have failed"),
        Err(e) => e,
    }
}

fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    (dir, path)
}

#[test]
fn settings_errors_are_permanent_and_named() {
    let (_dir, path) = temp_db();
    let e = open_err(settings(&path, &[("batch-size", "10")]));
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(e.message.contains("`batch-size`"), "{}", e.message);

    let e = open_err(settings(
        &path,
        &[("itx-custom-data.Segment", "segment;float")],
    ));
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(
        e.message.contains("itx-custom-data.Segment") && e.message.contains("float"),
        "{}",
        e.message
    );

    let e = open_err(settings(
        &path,
        &[("agent-custom-data.Segment", ";string;10")],
    ));
    assert!(
        e.message.contains("field name is required"),
        "{}",
        e.message
    );

    let e = open_err(serde_json::json!({ "delete-on-stop": true }).to_string());
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(e.message.contains("`path`"), "{}", e.message);

    let e = open_err(settings(&path, &[("schema-name", "reporting")]));
    assert!(e.message.contains("schema-name"), "{}", e.message);

    let missing = path.parent().unwrap().join("no-such-dir").join("x.db");
    let e = open_err(settings(&missing, &[]));
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(e.message.contains("does not exist"), "{}", e.message);
    assert!(!path.exists(), "a refused open creates nothing");
}

#[test]
fn records_land_in_their_tables_with_custom_columns() {
    let (_dir, path) = temp_db();
    let sink = open(
        &path,
        &[
            ("schema-name", "main"),
            // The records occurred in 2023: keep the custom one.
            ("delete-custom-after", "0"),
            ("itx-custom-data.CustomerSegment", "customer_segment"),
            ("itx-custom-data.Priority", "priority;integer"),
            ("itx-custom-data.Note", "note;string;5"),
            ("agent-custom-data.Reason", "reason;string;16"),
            ("agent-custom-data.Since", "since;timestamp"),
            ("custom-customdata.Score", "score;integer"),
            ("esp-custom-data.Service", "service"),
        ],
    );
    sink.write(vec![
        record(
            1,
            "EventPlacedInQueue",
            "interaction",
            Some("itx-1"),
            &[
                ("CustomerSegment", str_value("Gold")),
                // A wrong type: NULL in the column, kept in attributes.
                ("Priority", str_value("high")),
                ("Note", str_value("truncated")),
                ("Queue", str_value("inbound")),
            ],
        ),
        record(
            2,
            "EventPartyAdded",
            "interaction",
            Some("itx-1"),
            &[("Priority", Value::Int(7))],
        ),
        record(
            3,
            "EventNotReadyForMedia",
            "agent",
            None,
            &[
                ("Reason", str_value("lunch")),
                ("Since", Value::Timestamp(1_699_999_000_000)),
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
            &[("Service", str_value("crm"))],
        ),
    ])
    .unwrap();
    sink.flush().unwrap();
    drop(sink);

    let itx: Vec<InteractionRow> = rows(
        &path,
        "SELECT sequence, event_id, event_name, endpoint, occurred_at, interaction_id, attributes, \
             customer_segment, priority, note FROM rpt_interaction ORDER BY sequence",
    );
    assert_eq!(itx.len(), 2);
    let first = &itx[0];
    assert_eq!((first.0, first.1), (1, 101));
    assert_eq!(first.2, "EventPlacedInQueue");
    assert_eq!(first.3.as_deref(), Some("queue"));
    assert_eq!(first.4, 1_700_000_000_001);
    assert_eq!(first.5.as_deref(), Some("itx-1"));
    let attributes: serde_json::Value = serde_json::from_str(&first.6).unwrap();
    assert_eq!(
        attributes,
        serde_json::json!({"CustomerSegment": "Gold", "Priority": "high", "Note": "truncated", "Queue": "inbound"})
    );
    assert_eq!(first.7.as_deref(), Some("Gold"));
    assert_eq!(
        first.8, None,
        "a string in an integer column is stored as NULL"
    );
    assert_eq!(
        first.9.as_deref(),
        Some("trunc"),
        "cut to the column's length"
    );
    assert_eq!(itx[1].8, Some(7));
    assert_eq!(itx[1].7, None, "an absent key is NULL");

    let agent: Vec<AgentRow> = rows(
        &path,
        "SELECT sequence, interaction_id, reason, since, endpoint FROM rpt_agent",
    );
    assert_eq!(
        agent,
        vec![(3, None, Some("lunch".into()), Some(1_699_999_000_000), None)]
    );

    let custom: Vec<(i64, Option<i64>)> = rows(&path, "SELECT sequence, score FROM rpt_custom");
    assert_eq!(custom, vec![(4, Some(42))]);
    let esp: Vec<(i64, Option<String>)> = rows(&path, "SELECT sequence, service FROM rpt_esp");
    assert_eq!(esp, vec![(5, Some("crm".into()))]);

    let journal: Vec<(String,)> = rows(&path, "PRAGMA journal_mode");
    assert_eq!(journal[0].0, "wal");
}

#[test]
fn delete_on_stop_removes_the_interaction_rows() {
    let (_dir, path) = temp_db();
    let sink = open(&path, &[]);
    sink.write(vec![
        record(
            1,
            "EventInteractionSubmitted",
            "interaction",
            Some("a"),
            &[],
        ),
        record(
            2,
            "EventInteractionSubmitted",
            "interaction",
            Some("b"),
            &[],
        ),
        record(3, "EventPlacedInQueue", "interaction", Some("a"), &[]),
        record(4, "EventAgentLogin", "agent", None, &[]),
    ])
    .unwrap();
    assert_eq!(sink.stored_count().unwrap(), Some(4));
    sink.write(vec![record(
        5,
        "EventProcessingStopped",
        "interaction",
        Some("a"),
        &[],
    )])
    .unwrap();
    let left: Vec<(i64, Option<String>)> = rows(
        &path,
        "SELECT sequence, interaction_id FROM rpt_interaction ORDER BY sequence",
    );
    assert_eq!(left, vec![(2, Some("b".into()))]);
    assert_eq!(
        sink.stored_count().unwrap(),
        Some(2),
        "b's row and the agent's"
    );

    // A stop in the same batch as the interaction's other events.
    sink.write(vec![
        record(6, "EventPlacedInQueue", "interaction", Some("b"), &[]),
        record(7, "EventProcessingStopped", "interaction", Some("b"), &[]),
    ])
    .unwrap();
    assert_eq!(count(&path, "SELECT COUNT(*) FROM rpt_interaction"), 0);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM rpt_agent"), 1);
}

#[test]
fn delete_on_stop_false_keeps_the_rows() {
    let (_dir, path) = temp_db();
    let sink = open(&path, &[("delete-on-stop", "false")]);
    sink.write(vec![
        record(
            1,
            "EventInteractionSubmitted",
            "interaction",
            Some("a"),
            &[],
        ),
        record(2, "EventProcessingStopped", "interaction", Some("a"), &[]),
    ])
    .unwrap();
    assert_eq!(sink.stored_count().unwrap(), Some(2));
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM rpt_interaction WHERE interaction_id = 'a'"
        ),
        2
    );
}

#[test]
fn non_latin_text_round_trips() {
    let (_dir, path) = temp_db();
    let sink = open(&path, &[("itx-custom-data.Subject", "subject;string;7")]);
    let subject = "Заказ №5 — 注文 🚚";
    sink.write(vec![record(
        1,
        "EventPropertiesChanged",
        "interaction",
        Some("взаимодействие-1"),
        &[("Subject", str_value(subject))],
    )])
    .unwrap();
    let got: Vec<(String, String, String)> = rows(
        &path,
        "SELECT interaction_id, attributes, subject FROM rpt_interaction",
    );
    assert_eq!(got[0].0, "взаимодействие-1");
    let attributes: serde_json::Value = serde_json::from_str(&got[0].1).unwrap();
    assert_eq!(attributes["Subject"], subject);
    assert!(
        got[0].1.contains(subject),
        "stored as UTF-8, not escaped: {}",
        got[0].1
    );
    // 7 bytes: "Зак" is 6 bytes, the next 2-byte letter would not fit whole.
    assert_eq!(got[0].2, "Зак");
}

#[test]
fn a_bad_record_refuses_the_whole_batch() {
    let (_dir, path) = temp_db();
    let sink = open(&path, &[]);
    let e = sink
        .write(vec![
            record(1, "EventHeld", "interaction", Some("a"), &[]),
            record(2, "EventSomething", "queue-stats", None, &[]),
        ])
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(e.message.contains("queue-stats"), "{}", e.message);
    assert_eq!(sink.stored_count().unwrap(), Some(0));
}

#[test]
fn events_of_a_restarted_host_are_all_stored() {
    let (_dir, path) = temp_db();
    let run = |origin: &str| -> Vec<EventRecord> {
        (1..=100)
            .map(|i| {
                let mut r = record(i, "EventPlacedInQueue", "interaction", Some("x"), &[]);
                r.origin = origin.to_string();
                r
            })
            .collect()
    };
    let sink = open(&path, &[("delete-on-stop", "false")]);
    sink.write(run("node-1:first")).unwrap();
    drop(sink);
    let sink = open(&path, &[("delete-on-stop", "false")]);
    sink.write(run("node-1:second")).unwrap();
    sink.write(run("node-2:first")).unwrap();
    assert_eq!(sink.stored_count().unwrap(), Some(300));
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(DISTINCT origin || '/' || sequence) FROM rpt_interaction"
        ),
        300
    );
}

/// A reporting database of the first layout (`sequence` unique on its own)
/// is set aside with its rows, and the new table takes events of any origin.
#[test]
fn a_table_of_the_first_layout_is_kept_aside() {
    let (_dir, path) = temp_db();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE TABLE rpt_interaction (id INTEGER PRIMARY KEY, sequence INTEGER NOT NULL UNIQUE, \
             event_id INTEGER NOT NULL, event_name TEXT NOT NULL, endpoint TEXT, occurred_at INTEGER NOT NULL, \
             interaction_id TEXT, attributes TEXT NOT NULL); \
             CREATE INDEX rpt_interaction_interaction_id ON rpt_interaction (interaction_id); \
             INSERT INTO rpt_interaction (sequence, event_id, event_name, occurred_at, attributes) \
             VALUES (1, 159, 'EventPlacedInQueue', 1, '{}'), (2, 159, 'EventPlacedInQueue', 2, '{}');",
        )
        .execute(&mut conn)
        .await
        .unwrap();
    });
    let sink = open(&path, &[("delete-on-stop", "false")]);
    sink.write(vec![record(1, "EventHeld", "interaction", Some("a"), &[])])
        .unwrap();
    assert_eq!(count(&path, "SELECT COUNT(*) FROM rpt_interaction_v1"), 2);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM rpt_interaction"), 1);
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'rpt_interaction'"
        ),
        2,
        "the new table has its interaction_id index (and its unique one)"
    );
}

/// Issue 6: a full database made the sink's pooled connection answer every
/// later write with "attempted to call begin_with at non-zero transaction
/// depth", classified permanent: every batch after was dropped. Full is
/// retriable now, and once there is room the same sink writes again.
#[test]
fn a_full_database_is_retriable_and_writes_resume_when_there_is_room() {
    let (_dir, path) = temp_db();
    let sink = open(&path, &[("max-size-mb", "1"), ("delete-on-stop", "false")]);
    let big = "x".repeat(2000);
    let mut stored = 0;
    let mut sequence = 0;
    let full = loop {
        let batch: Vec<EventRecord> = (0..50)
            .map(|_| {
                sequence += 1;
                record(
                    sequence,
                    "EventHeld",
                    "interaction",
                    Some("a"),
                    &[("Big", str_value(&big))],
                )
            })
            .collect();
        match sink.write(batch) {
            Ok(()) => stored += 50,
            Err(e) => break e,
        }
        assert!(stored < 10_000, "a 1 MiB database never filled");
    };
    assert_eq!(full.kind, ErrorKind::Retriable, "{}", full.message);
    assert!(full.message.contains("full"), "{}", full.message);
    assert_eq!(sink.stored_count().unwrap(), Some(stored));

    // Make room from outside, as an operator would: the same sink writes again.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = SqliteConnectOptions::new()
            .filename(&path)
            .connect()
            .await
            .unwrap();
        sqlx::raw_sql("DELETE FROM rpt_interaction WHERE id % 2 = 0")
            .execute(&mut conn)
            .await
            .unwrap();
    });
    let left = sink.stored_count().unwrap().unwrap();
    sink.write(vec![record(
        sequence + 1,
        "EventHeld",
        "interaction",
        Some("a"),
        &[],
    )])
    .unwrap();
    assert_eq!(sink.stored_count().unwrap(), Some(left + 1));
}

#[test]
fn a_locked_database_is_retriable() {
    let (_dir, path) = temp_db();
    let sink = open(&path, &[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut conn = rt
        .block_on(SqliteConnectOptions::new().filename(&path).connect())
        .unwrap();
    rt.block_on(sqlx::raw_sql("BEGIN EXCLUSIVE").execute(&mut conn))
        .unwrap();
    let e = sink
        .write(vec![record(1, "EventHeld", "interaction", Some("a"), &[])])
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Retriable, "{}", e.message);
    assert!(
        e.message.contains("locked") || e.message.contains("busy"),
        "{}",
        e.message
    );
    rt.block_on(sqlx::raw_sql("ROLLBACK").execute(&mut conn))
        .unwrap();
    sink.write(vec![record(1, "EventHeld", "interaction", Some("a"), &[])])
        .unwrap();
    assert_eq!(sink.stored_count().unwrap(), Some(1));
}

#[test]
fn through_the_c_abi() {
    let (_dir, path) = temp_db();
    let table = ixn_sink_sql::plugin_table();
    assert_eq!(table.name(), "sql");
    let client = SinkClient::open(
        table,
        &settings(&path, &[("agent-custom-data.Reason", "reason")]),
        None,
    )
    .unwrap();
    client
        .write(&[
            record(
                1,
                "EventAgentLogin",
                "agent",
                None,
                &[("Reason", str_value("начало смены"))],
            ),
            record(
                2,
                "EventInteractionSubmitted",
                "interaction",
                Some("x"),
                &[("Flag", Value::Boolean(true))],
            ),
        ])
        .unwrap();
    client.flush().unwrap();
    assert_eq!(client.stored_count().unwrap(), Some(2));
    let e = client
        .write(&[record(3, "EventHeld", "nowhere", None, &[])])
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(e.message.starts_with("sink plugin `sql`:"), "{}", e.message);
    drop(client);
    let got: Vec<(String,)> = rows(&path, "SELECT reason FROM rpt_agent");
    assert_eq!(got[0].0, "начало смены");

    let e = SinkClient::open(table, &settings(&path, &[("nope", "1")]), None)
        .err()
        .unwrap();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(e.message.contains("`nope`"), "{}", e.message);
}

#[test]
fn called_from_spawn_blocking_on_another_runtime() {
    let (_dir, path) = temp_db();
    let host = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    host.block_on(async move {
        let sink = tokio::task::spawn_blocking(move || open(&path, &[]))
            .await
            .unwrap();
        let sink = std::sync::Arc::new(sink);
        let mut tasks = Vec::new();
        for t in 0..4u64 {
            let sink = std::sync::Arc::clone(&sink);
            tasks.push(tokio::task::spawn_blocking(move || {
                let batch: Vec<EventRecord> = (0..50)
                    .map(|i| record(t * 1000 + i + 1, "EventHeld", "interaction", Some("a"), &[]))
                    .collect();
                sink.write(batch)
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let counted = {
            let sink = std::sync::Arc::clone(&sink);
            tokio::task::spawn_blocking(move || sink.stored_count())
                .await
                .unwrap()
                .unwrap()
        };
        assert_eq!(counted, Some(200));
        // Dropping the sink inside an async task must not panic either
        // (it would with a nested runtime's blocking drop).
        drop(sink);
    });
}
