//! What is PostgreSQL's own: settings, an unreachable server, the
//! migrations recorded once, the JSONB blob, and a constraint of the
//! database broken by one record of a batch.

use ixn_plugin_api::storage::{
    ApplyOutcome, DecisionRecord, ErrorKind, OpenSettings, Outcome, StorageBackend, Value,
};
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

/// A record whose UPDATE breaks a constraint of the database (here one an
/// operator added) is refused alone: the batch is applied again with a
/// savepoint around each record, and the others are applied. Records with
/// attached data are one UPDATE each, records without go in one bulk
/// UPDATE first: both are tried.
#[test]
fn a_record_breaking_a_database_constraint_is_refused_alone() {
    need_server!();
    let h = PgHarness::new();
    let db = Db::new(&h);
    let b = db.open();
    on_own_connection(&db.database().url, Some(&db.database().name), async |c| {
        sqlx::query(
            "ALTER TABLE interactions ADD CONSTRAINT no_forbidden \
             CHECK (stop_reason IS DISTINCT FROM 'forbidden')",
        )
        .execute(c)
        .await
        .unwrap()
    });
    for (ids, attached) in [(["a", "b", "c"], true), (["d", "e", "f"], false)] {
        b.submit(ids.iter().map(|id| new_ix(id, "q")).collect())
            .unwrap();
        assert_eq!(b.claim(claim_req("q", "o", 3, 2000)).unwrap().len(), 3);
        let stop = |id: &str, reason: &str| DecisionRecord {
            id: id.into(),
            owner: "o".into(),
            outcome: Outcome::Stop(reason.into()),
            set_properties: if attached {
                vec![str_prop("Subject", "kept")]
            } else {
                Vec::new()
            },
            remove_properties: Vec::new(),
            component_version: None,
            now: 2001,
        };
        let outcomes = b
            .apply(vec![
                stop(ids[0], "done"),
                stop(ids[1], "forbidden"),
                stop(ids[2], "done"),
            ])
            .unwrap();
        assert_eq!(outcomes[0], ApplyOutcome::Applied);
        assert!(
            matches!(&outcomes[1], ApplyOutcome::Refused(m) if m.contains("no_forbidden")),
            "{outcomes:?}"
        );
        assert_eq!(outcomes[2], ApplyOutcome::Applied);
        for id in [ids[0], ids[2]] {
            let ix = b.get(id.into()).unwrap().unwrap();
            assert_eq!(ix.stop_reason.as_deref(), Some("done"), "{id}");
            assert_eq!(ix.properties.iter().any(|p| p.key == "Subject"), attached);
        }
        // Unchanged: still leased, not stopped, no new attached data.
        let refused = b.get(ids[1].into()).unwrap().unwrap();
        assert_eq!(refused.stopped_at, None);
        assert_eq!(refused.lease_owner.as_deref(), Some("o"));
        assert!(refused.properties.iter().all(|p| p.key != "Subject"));
    }
}
