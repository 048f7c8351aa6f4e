//! open: settings, error kinds, an earlier version's table. (The suite's
//! `open` checks the custom fields.)

use ixn_plugin_api::storage::{ErrorKind, OpenSettings, StorageBackend};
use ixn_storage_conformance::common::*;
use ixn_storage_conformance::outside;
use ixn_storage_sqlite::SqliteBackend;
use serde_json::json;

use crate::harness::new_db;

fn open_with(
    settings: serde_json::Value,
) -> Result<SqliteBackend, ixn_plugin_api::storage::StorageError> {
    SqliteBackend::open(OpenSettings {
        settings: settings.to_string(),
        custom_fields: vec![],
    })
}

#[test]
fn settings_are_checked() {
    let db = new_db();
    let path = db.database().path();
    let e = open_with(json!({"path": path, "journal": "delete"}))
        .err()
        .unwrap();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(e.message.contains("`journal`"), "{e}");
    let e = open_with(json!({})).err().unwrap();
    assert!(e.message.contains("`path`"), "{e}");
    let missing = db.database().dir.path().join("no-such-dir").join("x.db");
    let e = open_with(json!({"path": missing.to_string_lossy()}))
        .err()
        .unwrap();
    assert!(e.message.contains("does not exist"), "{e}");
    let e = open_with(json!({"path": path, "max-connections": "many"}))
        .err()
        .unwrap();
    assert!(e.message.contains("`max-connections`"), "{e}");
    let b = open_with(json!({"path": path, "busy-timeout-ms": 100, "max-connections": 1})).unwrap();
    b.submit(vec![new_ix("a", "q")]).unwrap();
    assert!(std::path::Path::new(&path).exists());
}

#[test]
fn not_a_database_is_a_permanent_error() {
    let db = new_db();
    std::fs::write(db.database().path(), vec![b'z'; 4096]).unwrap();
    let e = db.open_with(vec![]).err().unwrap();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(e.message.contains("open sqlite database"), "{e}");
}

#[test]
fn a_held_write_lock_is_retriable() {
    let db = new_db();
    let b = SqliteBackend::open(OpenSettings {
        settings: json!({"path": db.database().path(), "busy-timeout-ms": 50}).to_string(),
        custom_fields: vec![],
    })
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut conn = rt
        .block_on(<sqlx::SqliteConnection as sqlx::Connection>::connect(
            &format!("sqlite://{}", db.database().path()),
        ))
        .unwrap();
    rt.block_on(sqlx::query("BEGIN IMMEDIATE").execute(&mut conn))
        .unwrap();
    let e = b.submit(vec![new_ix("a", "q")]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Retriable, "{e}");
    assert!(e.message.contains("submit"), "{e}");
    let e = b.claim(claim_req("q", "o", 1, 0)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Retriable, "{e}");
    assert!(e.message.contains("claim from queue `q`"), "{e}");
    rt.block_on(sqlx::query("ROLLBACK").execute(&mut conn))
        .unwrap();
    b.submit(vec![new_ix("a", "q")]).unwrap();
}

/// A table created before `component_version` existed gains the column at
/// `open`, its rows kept; decisions store their version in it from then on.
#[test]
fn a_table_from_an_earlier_version_gains_the_component_version_column() {
    let db = new_db();
    let b = db.open();
    b.submit(vec![new_ix("old", "in")]).unwrap();
    drop(b);
    outside(
        &db,
        "ALTER TABLE interactions DROP COLUMN component_version",
    );

    let b = db.open();
    let before = b.get("old".into()).unwrap().expect("the row stays");
    assert_eq!(before.component_version, None);
    let claimed = b.claim(claim_req("in", "bp", 10, 1000)).unwrap();
    assert_eq!(ids(&claimed), ["old"]);
    let applied = b
        .apply(vec![ixn_plugin_api::storage::DecisionRecord {
            id: "old".into(),
            owner: "bp".into(),
            outcome: ixn_plugin_api::storage::Outcome::Stop("done".into()),
            set_properties: vec![],
            remove_properties: vec![],
            component_version: Some("v9".into()),
            now: 1001,
        }])
        .unwrap();
    assert_eq!(applied, [ixn_plugin_api::storage::ApplyOutcome::Applied]);
    let after = b.get("old".into()).unwrap().expect("the row stays");
    assert_eq!(after.component_version.as_deref(), Some("v9"));
}
