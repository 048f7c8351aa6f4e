//! What is PostgreSQL's own: settings, an unreachable server, the
//! migrations recorded once, and the JSONB blob.

use ixn_plugin_api::storage::{ErrorKind, OpenSettings, StorageBackend, Value};
use ixn_storage_conformance::{Db, common::*};
use ixn_storage_postgres::PostgresBackend;

use crate::harness::{PgHarness, on_own_connection, url};

macro_rules! need_server {
    () => {
        if url().is_none() {
            eprintln!("skipped: IXN_TEST_PG_URL is not set (PostgreSQL storage)");
            return;
        }
    };
}

#[test]
fn settings_are_checked_without_connecting() {
    let problems = PostgresBackend::validate(&OpenSettings {
        settings: r#"{"url": "mysql://x", "schema": "A-B", "max-connections": 0, "pool": 1}"#
            .into(),
        custom_fields: vec![],
    });
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["pool"], "an unknown key is reported first, alone");
    let problems = PostgresBackend::validate(&OpenSettings {
        settings: r#"{"url": "mysql://x", "schema": "A-B", "max-connections": 0}"#.into(),
        custom_fields: vec![],
    });
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["url", "schema", "max-connections"]);
}

#[test]
fn an_unreachable_server_is_retriable() {
    let e = PostgresBackend::open(OpenSettings {
        settings: r#"{"url": "postgres://postgres@127.0.0.1:1/test", "connect-timeout-ms": 500}"#
            .into(),
        custom_fields: vec![],
    })
    .err()
    .unwrap();
    assert_eq!(e.kind, ErrorKind::Retriable, "{e}");
    assert!(e.message.contains("open postgres schema `ixn`"), "{e}");
}

#[test]
fn migrations_run_once_and_a_second_host_opens_the_same_schema() {
    need_server!();
    let h = PgHarness::new();
    let db = Db::new(&h);
    let first = db.open();
    let second = db.open();
    let mut n = new_ix("a", "q");
    n.properties = vec![str_prop("Subject", "s"), prop("Score", Value::Int(3))];
    first.submit(vec![n]).unwrap();
    assert_eq!(second.get("a".into()).unwrap().unwrap().properties.len(), 2);
    let applied = on_own_connection(&db.database().url, Some(&db.database().name), async |c| {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM \"_ixn_migrations\" WHERE success")
            .fetch_one(c)
            .await
            .unwrap()
    });
    assert_eq!(applied, 3, "migrations 1, 2 and 3, each once");
}

#[test]
fn attached_data_outside_columns_is_jsonb() {
    need_server!();
    let h = PgHarness::new();
    let db = Db::new(&h);
    let b = db.open();
    let mut n = new_ix("a", "q");
    n.properties = vec![
        str_prop("Subject", "tab\there \"quoted\" ünï"),
        prop("N", Value::Int(7)),
    ];
    b.submit(vec![n]).unwrap();
    // Queryable as JSON from outside, as an operator would.
    let subject = on_own_connection(&db.database().url, Some(&db.database().name), async |c| {
        sqlx::query_scalar::<_, String>(
            "SELECT flexible_properties -> 'Subject' ->> 'str' FROM interactions WHERE id = 'a'",
        )
        .fetch_one(c)
        .await
        .unwrap()
    });
    assert_eq!(subject, "tab\there \"quoted\" ünï");
}
