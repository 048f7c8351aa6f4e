//! The JSON Lines sink against real files in temporary directories.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::path::{Path, PathBuf};

use ixn_plugin_api::sink::{ErrorKind, EventRecord, Field, Sink, SinkClient, SinkError, Value};
use ixn_sink_jsonl::JsonlSink;
use serde_json::json;

/// The settings document: `path` and `extra`, where `"true"` and `"false"`
/// become booleans.
fn settings(path: &Path, extra: &[(&str, &str)]) -> String {
    let mut doc = serde_json::Map::new();
    doc.insert("path".into(), json!(path.display().to_string()));
    for (k, v) in extra {
        let value = v.parse::<bool>().map_or_else(|_| json!(v), |b| json!(b));
        doc.insert(k.to_string(), value);
    }
    serde_json::Value::Object(doc).to_string()
}

fn record(
    sequence: u64,
    name: &str,
    activity: &str,
    interaction: Option<&str>,
    fields: Vec<(&str, Value)>,
) -> EventRecord {
    EventRecord {
        event_id: 1000 + sequence as u32,
        event_name: name.to_string(),
        activity: activity.to_string(),
        endpoint: (activity == "interaction").then(|| "queue".to_string()),
        occurred_at: 1_700_000_000_000 + sequence as i64,
        origin: "test:1".to_string(),
        sequence,
        generation: 1,
        interaction_id: interaction.map(str::to_string),
        fields: fields
            .into_iter()
            .map(|(n, value)| Field {
                name: n.to_string(),
                value,
            })
            .collect(),
    }
}

fn temp_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    (dir, path)
}

fn open(path: &Path, extra: &[(&str, &str)]) -> JsonlSink {
    JsonlSink::open(settings(path, extra)).unwrap()
}

fn open_err(pairs: String) -> SinkError {
    match JsonlSink::open(pairs) {
        Ok(_) => panic!("open should have failed"),
        Err(e) => e,
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn settings_errors() {
    let (dir, path) = temp_file();
    let e = open_err(settings(&path, &[("rotate", "daily")]));
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(e.message.contains("`rotate`"), "{}", e.message);

    let e = open_err(json!({ "fsync": true }).to_string());
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(e.message.contains("`path`"), "{}", e.message);

    let e = open_err(settings(&path, &[("fsync", "sometimes")]));
    assert!(e.message.contains("`fsync`"), "{}", e.message);

    let missing = dir.path().join("no-such-dir").join("events.jsonl");
    let e = open_err(settings(&missing, &[]));
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(
        e.message.contains("does not exist") && e.message.contains("no-such-dir"),
        "{}",
        e.message
    );

    let e = open_err(settings(dir.path(), &[]));
    assert_eq!(
        e.kind,
        ErrorKind::Permanent,
        "a directory is not a file: {}",
        e.message
    );
    assert!(!path.exists());
}

#[test]
fn one_json_line_per_record() {
    let (_dir, path) = temp_file();
    let sink = open(&path, &[]);
    sink.write(vec![
        record(
            1,
            "EventPlacedInQueue",
            "interaction",
            Some("itx-1"),
            vec![
                ("Queue", Value::Str("inbound".into())),
                ("Priority", Value::Int(5)),
                ("Weight", Value::Float(0.5)),
                ("Urgent", Value::Boolean(true)),
                ("ReceivedAt", Value::Timestamp(1_699_000_000_000)),
            ],
        ),
        record(2, "EventAgentLogin", "agent", None, vec![]),
    ])
    .unwrap();
    sink.flush().unwrap();
    assert_eq!(sink.stored_count().unwrap(), Some(2));

    let got = lines(&path);
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0],
        "{\"origin\":\"test:1\",\"sequence\":1,\"generation\":1,\"event_id\":1001,\"event_name\":\"EventPlacedInQueue\",\"activity\":\"interaction\",\
         \"endpoint\":\"queue\",\"occurred_at\":1700000000001,\"interaction_id\":\"itx-1\",\"fields\":{\
         \"Queue\":\"inbound\",\"Priority\":5,\"Weight\":0.5,\"Urgent\":true,\"ReceivedAt\":1699000000000}}"
    );
    let second: serde_json::Value = serde_json::from_str(&got[1]).unwrap();
    assert_eq!(
        second,
        json!({
            "origin": "test:1", "sequence": 2, "generation": 1, "event_id": 1002, "event_name": "EventAgentLogin", "activity": "agent",
            "endpoint": null, "occurred_at": 1_700_000_000_002i64, "interaction_id": null, "fields": {}
        })
    );
}

#[test]
fn non_latin_text_stays_utf8() {
    let (_dir, path) = temp_file();
    let sink = open(&path, &[]);
    let subject = "Заказ №5 — 注文 🚚";
    sink.write(vec![record(
        1,
        "EventPropertiesChanged",
        "interaction",
        Some("взаимодействие-1"),
        vec![("Тема", Value::Str(subject.into()))],
    )])
    .unwrap();
    let raw = std::fs::read_to_string(&path).unwrap();
    assert!(
        raw.contains(subject) && raw.contains("\"Тема\"") && !raw.contains("\\u"),
        "{raw}"
    );
    let parsed: serde_json::Value = serde_json::from_str(raw.trim_end()).unwrap();
    assert_eq!(parsed["fields"]["Тема"], subject);
    assert_eq!(parsed["interaction_id"], "взаимодействие-1");
}

#[test]
fn reopening_counts_existing_lines_and_appends() {
    let (_dir, path) = temp_file();
    let sink = open(&path, &[("fsync", "true")]);
    let batch: Vec<EventRecord> = (1..=25)
        .map(|i| record(i, "EventHeld", "interaction", Some("a"), vec![]))
        .collect();
    sink.write(batch).unwrap();
    sink.flush().unwrap();
    drop(sink);

    let sink = open(&path, &[]);
    assert_eq!(sink.stored_count().unwrap(), Some(25));
    sink.write(vec![record(
        26,
        "EventResumed",
        "interaction",
        Some("a"),
        vec![],
    )])
    .unwrap();
    assert_eq!(sink.stored_count().unwrap(), Some(26));
    sink.write(Vec::new()).unwrap();
    assert_eq!(sink.stored_count().unwrap(), Some(26));
    drop(sink);
    let got = lines(&path);
    assert_eq!(got.len(), 26);
    let last: serde_json::Value = serde_json::from_str(&got[25]).unwrap();
    assert_eq!(last["sequence"], 26);
}

#[test]
fn an_unfinished_last_line_is_closed_on_open() {
    let (_dir, path) = temp_file();
    std::fs::write(&path, "{\"sequence\":1}\n{\"sequence\":2,\"ev").unwrap();
    let sink = open(&path, &[]);
    assert_eq!(sink.stored_count().unwrap(), Some(2));
    sink.write(vec![record(
        3,
        "EventHeld",
        "interaction",
        Some("a"),
        vec![],
    )])
    .unwrap();
    assert_eq!(sink.stored_count().unwrap(), Some(3));
    let got = lines(&path);
    assert_eq!(got.len(), 3);
    assert_eq!(got[1], "{\"sequence\":2,\"ev");
    assert!(
        got[2].starts_with("{\"origin\":\"test:1\",\"sequence\":3,"),
        "{}",
        got[2]
    );
}

#[test]
fn through_the_c_abi() {
    let (_dir, path) = temp_file();
    let table = ixn_sink_jsonl::plugin_table();
    assert_eq!(table.name(), "jsonl");
    let client = SinkClient::open(table, &settings(&path, &[("fsync", "true")]), None).unwrap();
    client
        .write(&[
            record(
                1,
                "EventAgentLogin",
                "agent",
                None,
                vec![("Причина", Value::Str("начало смены".into()))],
            ),
            record(
                2,
                "EventCustomReporting",
                "custom",
                Some("x"),
                vec![("N", Value::Int(-3))],
            ),
        ])
        .unwrap();
    client.flush().unwrap();
    assert_eq!(client.stored_count().unwrap(), Some(2));
    drop(client);
    let got = lines(&path);
    let first: serde_json::Value = serde_json::from_str(&got[0]).unwrap();
    assert_eq!(first["fields"]["Причина"], "начало смены");

    let e = SinkClient::open(table, &settings(&path, &[("nope", "1")]), None)
        .err()
        .unwrap();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(
        e.message.starts_with("sink plugin `jsonl`:") && e.message.contains("`nope`"),
        "{}",
        e.message
    );
}

#[test]
fn called_from_spawn_blocking_on_another_runtime() {
    let (_dir, path) = temp_file();
    let host = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let file = path.clone();
    host.block_on(async move {
        let sink = std::sync::Arc::new(
            tokio::task::spawn_blocking(move || open(&file, &[]))
                .await
                .unwrap(),
        );
        let mut tasks = Vec::new();
        for t in 0..4u64 {
            let sink = std::sync::Arc::clone(&sink);
            tasks.push(tokio::task::spawn_blocking(move || {
                let batch: Vec<EventRecord> = (0..50)
                    .map(|i| record(t * 1000 + i, "EventHeld", "interaction", Some("a"), vec![]))
                    .collect();
                sink.write(batch)?;
                sink.flush()
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let sink2 = std::sync::Arc::clone(&sink);
        let counted = tokio::task::spawn_blocking(move || sink2.stored_count())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(counted, Some(200));
    });
    // Batches are whole lines, never interleaved.
    let got = lines(&path);
    assert_eq!(got.len(), 200);
    for line in &got {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
}
