//! The database file as SQLite holds it: typed columns, the other attached
//! data as JSON text in the blob, a write-ahead log. (The suite's
//! `custom_fields_have_typed_columns` checks the columns and their indexes
//! in SQL that any database runs.)

use ixn_plugin_api::storage::{StorageBackend, Value};
use ixn_storage_conformance::Db;
use ixn_storage_conformance::common::*;

use crate::harness::{SqliteHarness, new_db};

/// A database holding `a`, with two custom fields and a `Subject`, closed.
fn stored() -> Db<'static, SqliteHarness> {
    let db = new_db();
    let b = db.open();
    let mut n = new_ix("a", "q");
    n.properties = vec![
        str_prop("Category", "gold"),
        prop("Score", Value::Int(9)),
        str_prop("Subject", "s"),
    ];
    b.submit(vec![n]).unwrap();
    drop(b);
    db
}

/// Runs `f` on a connection of its own to the file.
fn look<T>(db: &Db<'_, SqliteHarness>, f: impl AsyncFnOnce(&mut sqlx::SqliteConnection) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
            "sqlite://{}",
            db.database().path()
        ))
        .await
        .unwrap();
        f(&mut conn).await
    })
}

#[test]
fn custom_fields_have_typed_columns_and_the_rest_is_json_text() {
    let db = stored();
    // Look at the file directly: the custom fields are in their columns, the rest in the blob.
    look(&db, async |conn| {
        use sqlx::Row;
        let row = sqlx::query(
            "SELECT category, score, due, flexible_properties FROM interactions WHERE id = 'a'",
        )
        .fetch_one(conn)
        .await
        .unwrap();
        assert_eq!(row.get::<String, _>("category"), "gold");
        assert_eq!(row.get::<i64, _>("score"), 9);
        assert_eq!(row.get::<Option<i64>, _>("due"), None);
        let blob: Vec<u8> = row.get("flexible_properties");
        assert_eq!(
            String::from_utf8(blob).unwrap(),
            r#"{"Subject":{"str":"s"}}"#
        );
    });
}

#[test]
fn the_journal_is_wal() {
    let db = stored();
    let mode: String = look(&db, async |conn| {
        sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(conn)
            .await
            .unwrap()
    });
    assert_eq!(mode, "wal");
}
