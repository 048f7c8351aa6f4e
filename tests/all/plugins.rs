//! Native plugins loaded from their `.so` files through the host's loader (the
//! dynamic path, not the built-ins): real round trips through the C ABI, the
//! refusal of files that are not plugins or speak another ABI or contract, and
//! panics that stop at the boundary.
//!
//! The `.so` files come from `cargo build --release --workspace`, which builds
//! the plugins and the fixtures in `tests/fixtures/`.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use ixn::config::PluginRef;
use ixn::plugins::Registry;
use ixn_plugin_api::sink::{self, EventRecord, SinkClient};
use ixn_plugin_api::storage::{
    ApplyOutcome, ClaimRequest, CompareOp, Condition, CustomField, DecisionRecord, ErrorKind,
    ExprNode, FieldType, Literal, NewInteraction, OpenSettings, OrderBy, Outcome, Property,
    QueueCount, State, StorageClient, StorageError, Value,
};

/// The `.so` of a workspace crate; fails with the build hint when it is missing.
fn so(crate_name: &str) -> PathBuf {
    ixn_tests::plugin_so(crate_name).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Milliseconds since the epoch.
fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since.as_millis()).expect("milliseconds fit in i64")
}

/// Storage settings for an SQLite file with one custom field, `Segment` in column `segment`.
fn sqlite_settings(db: &Path) -> OpenSettings {
    OpenSettings {
        settings: serde_json::json!({ "path": db.display().to_string() }).to_string(),
        custom_fields: vec![CustomField {
            key: "Segment".into(),
            column: "segment".into(),
            field_type: FieldType::Text,
            length: 32,
            to_delete: false,
        }],
    }
}

/// Opens a storage plugin file.
fn open_storage(path: &Path, settings: &OpenSettings) -> Result<StorageClient, String> {
    Registry::new()
        .open_storage(&PluginRef::Library(path.to_path_buf()), settings)
        .map_err(|e| e.to_string())
}

/// Opens a sink plugin file.
fn open_sink(path: &Path, settings: &[(&str, String)]) -> Result<SinkClient, String> {
    let settings: serde_json::Map<String, serde_json::Value> = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone().into()))
        .collect();
    let settings = serde_json::Value::Object(settings).to_string();
    Registry::new()
        .open_sink(&PluginRef::Library(path.to_path_buf()), &settings)
        .map_err(|e| e.to_string())
}

/// The refusal of a file asked for as storage (with harmless settings).
fn storage_refusal(path: &Path) -> String {
    match open_storage(
        path,
        &OpenSettings {
            settings: "{}".into(),
            custom_fields: Vec::new(),
        },
    ) {
        Ok(client) => panic!(
            "{} was accepted as storage plugin `{}`",
            path.display(),
            client.name()
        ),
        Err(e) => e,
    }
}

/// Asserts that `error` names the file (by its file name) and contains `needle`.
fn assert_names(error: &str, path: &Path, needle: &str) {
    let file = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a UTF-8 file name");
    assert!(
        error.contains(file) && error.contains(needle),
        "the error should name `{file}` and say \"{needle}\": {error}"
    );
}

/// A new interaction in `bp.In`.
fn interaction(id: &str, priority: i32, segment: &str, now: i64) -> NewInteraction {
    NewInteraction {
        id: id.into(),
        tenant: "Resources".into(),
        media_type: "email".into(),
        interaction_type: "Inbound".into(),
        interaction_subtype: "InboundNew".into(),
        external_id: Some(format!("ext-{id}")),
        parent_id: None,
        queue: "bp.In".into(),
        priority,
        submitted_by: "plugins-test".into(),
        submitted_at: now,
        properties: vec![
            Property {
                key: "Segment".into(),
                value: Value::Str(segment.into()),
            },
            Property {
                key: "Subject".into(),
                value: Value::Str(format!("subject of {id}")),
            },
            Property {
                key: "Amount".into(),
                value: Value::Int(i64::from(priority) * 10),
            },
        ],
    }
}

/// The count row of one queue.
fn count_of(counts: &[QueueCount], queue: &str) -> QueueCount {
    counts
        .iter()
        .find(|c| c.queue == queue)
        .cloned()
        .unwrap_or_else(|| panic!("no count row for `{queue}`: {counts:?}"))
}

/// A property's value by key.
fn property<'a>(properties: &'a [Property], key: &str) -> Option<&'a Value> {
    properties.iter().find(|p| p.key == key).map(|p| &p.value)
}

#[test]
fn sqlite_storage_so_round_trip() {
    let path = so("ixn-storage-sqlite");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("ixn.db");
    let settings = sqlite_settings(&db);
    let storage = open_storage(&path, &settings).expect("the sqlite .so opens");
    assert_eq!(storage.name(), "sqlite");
    let now = now_ms();

    storage
        .submit(&[
            interaction("it-1", 1, "gold", now),
            interaction("it-2", 5, "silver", now),
            interaction("it-3", 3, "gold", now),
        ])
        .expect("submit");
    let counts = storage.counts().expect("counts");
    assert_eq!(
        counts,
        vec![QueueCount {
            queue: "bp.In".into(),
            queued: 3,
            cached: 0,
            routing: 0,
            handled: 0,
            stopped: 0
        }]
    );

    // `segment = 'gold'`, highest priority first: the condition and the order cross the ABI too.
    let claimed = storage
        .claim(&ClaimRequest {
            queue: "bp.In".into(),
            state: State::Routing,
            condition: Some(Condition {
                nodes: vec![
                    ExprNode::Column("segment".into()),
                    ExprNode::Literal(Literal::Str("gold".into())),
                    ExprNode::Compare((CompareOp::Eq, 0, 1)),
                ],
                root: 2,
            }),
            order: vec![OrderBy {
                column: "priority".into(),
                descending: true,
            }],
            limit: 10,
            owner: "test-owner".into(),
            lease_ms: 60_000,
            now,
        })
        .expect("claim");
    let ids: Vec<&str> = claimed.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["it-3", "it-1"]);
    for i in &claimed {
        assert_eq!(i.state, State::Routing);
        assert_eq!(i.lease_owner.as_deref(), Some("test-owner"));
        assert_eq!(i.lease_until, Some(now + 60_000));
        assert_eq!(i.external_id, Some(format!("ext-{}", i.id)));
        assert_eq!(
            property(&i.properties, "Segment"),
            Some(&Value::Str("gold".into()))
        );
    }
    let counts = storage.counts().expect("counts after claim");
    assert_eq!(
        (
            count_of(&counts, "bp.In").queued,
            count_of(&counts, "bp.In").routing
        ),
        (1, 2)
    );

    let applied = storage
        .apply(&[
            DecisionRecord {
                id: "it-3".into(),
                owner: "test-owner".into(),
                outcome: Outcome::MoveToQueue("bp.Done".into()),
                set_properties: vec![Property {
                    key: "Result".into(),
                    value: Value::Boolean(true),
                }],
                remove_properties: vec!["Subject".into()],
                component_version: None,
                now: now + 1,
            },
            DecisionRecord {
                id: "it-1".into(),
                owner: "test-owner".into(),
                outcome: Outcome::Stop("done".into()),
                set_properties: Vec::new(),
                remove_properties: Vec::new(),
                component_version: Some("v-test".into()),
                now: now + 1,
            },
            // Not claimed by this owner: changes nothing.
            DecisionRecord {
                id: "it-2".into(),
                owner: "someone-else".into(),
                outcome: Outcome::Stop("not mine".into()),
                set_properties: Vec::new(),
                remove_properties: Vec::new(),
                component_version: Some("not mine".into()),
                now: now + 1,
            },
        ])
        .expect("apply");
    assert_eq!(
        applied,
        [
            ApplyOutcome::Applied,
            ApplyOutcome::Applied,
            ApplyOutcome::LeaseLost
        ]
    );

    let moved = storage.get("it-3").expect("get it-3").expect("it-3 exists");
    assert_eq!(moved.queue, "bp.Done");
    assert_eq!(moved.state, State::Queued);
    assert_eq!(moved.lease_owner, None);
    assert_eq!(moved.placed_in_queue_at, now + 1);
    assert_eq!(
        property(&moved.properties, "Result"),
        Some(&Value::Boolean(true))
    );
    assert_eq!(property(&moved.properties, "Subject"), None);
    assert_eq!(property(&moved.properties, "Amount"), Some(&Value::Int(30)));
    assert_eq!(
        moved.component_version, None,
        "no version given, none stored"
    );
    let stopped = storage.get("it-1").expect("get it-1").expect("it-1 exists");
    assert_eq!(
        (stopped.stopped_at, stopped.stop_reason.as_deref()),
        (Some(now + 1), Some("done"))
    );
    assert_eq!(stopped.component_version.as_deref(), Some("v-test"));
    let not_mine = storage.get("it-2").expect("get it-2").expect("it-2 exists");
    assert_eq!(
        not_mine.component_version, None,
        "a lost lease stores nothing"
    );
    assert_eq!(storage.get("no-such-id").expect("get a missing id"), None);

    let counts = storage.counts().expect("counts after apply");
    let done = count_of(&counts, "bp.Done");
    let inbound = count_of(&counts, "bp.In");
    assert_eq!((done.queued, done.stopped), (1, 0));
    assert_eq!(
        (inbound.queued, inbound.routing, inbound.stopped),
        (1, 0, 1)
    );
    assert!(
        storage
            .recover_expired(now + 1)
            .expect("recover-expired")
            .is_empty()
    );

    // Closing the instance and opening the file again finds the same rows.
    drop(storage);
    let again = open_storage(&path, &settings).expect("the sqlite .so opens again");
    assert_eq!(
        again
            .get("it-3")
            .expect("get after reopen")
            .map(|i| i.queue),
        Some("bp.Done".into())
    );
}

/// Three interaction events with sequences 1 to 3.
fn events(now: i64) -> Vec<EventRecord> {
    [
        "EventInteractionSubmitted",
        "EventPlacedInQueue",
        "EventRouteRequested",
    ]
    .iter()
    .zip(1u64..)
    .map(|(name, sequence)| EventRecord {
        event_id: 100 + sequence as u32,
        event_name: (*name).into(),
        activity: "interaction".into(),
        endpoint: Some("queue".into()),
        occurred_at: now,
        origin: "test:1".into(),
        sequence,
        generation: 1,
        interaction_id: Some("it-1".into()),
        fields: vec![
            sink::Field {
                name: "Queue".into(),
                value: sink::Value::Str("bp.In".into()),
            },
            sink::Field {
                name: "Priority".into(),
                value: sink::Value::Int(3),
            },
            sink::Field {
                name: "At".into(),
                value: sink::Value::Timestamp(now),
            },
        ],
    })
    .collect()
}

#[test]
fn jsonl_sink_so_writes_a_batch() {
    let path = so("ixn-sink-jsonl");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("events.jsonl");
    let sink =
        open_sink(&path, &[("path", file.display().to_string())]).expect("the jsonl .so opens");
    assert_eq!(sink.name(), "jsonl");
    assert_eq!(sink.stored_count().expect("stored-count"), Some(0));
    sink.write(&events(now_ms())).expect("write");
    sink.flush().expect("flush");
    assert_eq!(sink.stored_count().expect("stored-count"), Some(3));
    let text = std::fs::read_to_string(&file).expect("the events file");
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains("EventPlacedInQueue"), "{text}");
}

#[test]
fn sql_sink_so_writes_a_batch() {
    let path = so("ixn-sink-sql");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("events.db");
    let sink = open_sink(&path, &[("path", db.display().to_string())]).expect("the sql .so opens");
    assert_eq!(sink.name(), "sql");
    let batch = events(now_ms());
    sink.write(&batch).expect("write");
    sink.flush().expect("flush");
    assert_eq!(sink.stored_count().expect("stored-count"), Some(3));
    // The same sequences again add no rows.
    sink.write(&batch).expect("write again");
    assert_eq!(sink.stored_count().expect("stored-count"), Some(3));
}

#[test]
fn a_plugin_of_another_abi_version_is_refused() {
    let path = so("ixn-test-wrong-abi-plugin");
    assert_names(&storage_refusal(&path), &path, "ABI version");
    // Only the version field is read: asked for as a sink, the version is still what is refused.
    match open_sink(&path, &[]) {
        Ok(_) => panic!("{} was accepted as a sink", path.display()),
        Err(e) => assert_names(&e, &path, "ABI version"),
    }
}

#[test]
fn a_text_file_named_like_a_library_is_not_a_plugin() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("libfake.so");
    std::fs::write(&path, "this is a text file, not a shared library\n").expect("write libfake.so");
    assert_names(&storage_refusal(&path), &path, "not an ixn plugin");
}

#[test]
fn a_shared_library_without_an_entry_is_not_a_plugin() {
    let Some(path) = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file()) else {
        println!("skipped: no libm.so.6 in /lib/x86_64-linux-gnu or /usr/lib/x86_64-linux-gnu");
        return;
    };
    let error = storage_refusal(&path);
    assert_names(&error, &path, "not an ixn plugin");
    assert!(
        error.contains("ixn_plugin_entry_"),
        "the error should say which symbol is missing: {error}"
    );
}

#[test]
fn a_sink_is_refused_as_storage() {
    let path = so("ixn-sink-jsonl");
    let error = storage_refusal(&path);
    assert_names(&error, &path, sink::CONTRACT);
    assert!(
        error.contains(ixn_plugin_api::storage::CONTRACT),
        "the error should name the wanted contract: {error}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("libmissing.so");
    let error = storage_refusal(&path);
    assert!(
        error.contains(&path.display().to_string()),
        "the error should name {}: {error}",
        path.display()
    );
}

/// Asserts that a call failed because the plugin panicked in `method`.
fn assert_panicked<T: std::fmt::Debug>(result: Result<T, StorageError>, method: &str) {
    let error = result.expect_err("the panicking fixture never answers");
    assert_eq!(error.kind, ErrorKind::Permanent, "{error}");
    let message = format!("panicking fixture: `{method}` panics on purpose");
    assert!(
        error.message.contains("panicked") && error.message.contains(&message),
        "the error should say the plugin panicked, with its message ({message}): {error}"
    );
}

#[test]
fn a_panic_in_a_plugin_becomes_an_error() {
    let path = so("ixn-test-panicking-plugin");
    let storage = open_storage(
        &path,
        &OpenSettings {
            settings: "{}".into(),
            custom_fields: Vec::new(),
        },
    )
    .expect("the panicking fixture opens");
    assert_eq!(storage.name(), "panicking");
    let now = now_ms();
    let claim = ClaimRequest {
        queue: "bp.In".into(),
        state: State::Routing,
        condition: None,
        order: Vec::new(),
        limit: 1,
        owner: "test-owner".into(),
        lease_ms: 1000,
        now,
    };
    // Twice: the first panics leave the plugin and this process able to go on.
    for _ in 0..2 {
        assert_panicked(
            storage.submit(&[interaction("it-1", 1, "gold", now)]),
            "submit",
        );
        assert_panicked(storage.claim(&claim), "claim");
        assert_panicked(storage.apply(&[]), "apply");
        assert_panicked(storage.get("it-1"), "get");
        assert_panicked(storage.counts(), "counts");
        assert_panicked(storage.recover_expired(now), "recover-expired");
    }
    drop(storage);
}
