//! Partitioning by queue: rows land in the partition of their queue, a
//! changed plan moves them without losing any, a decision that moves an
//! interaction to a queue of another partition relocates its row, and the
//! table of version 1 becomes the default partition with its rows.

use std::borrow::Cow;

use ixn_plugin_api::storage::{
    ApplyOutcome, DecisionRecord, ErrorKind, OpenSettings, Outcome, StorageBackend, Value,
};
use ixn_storage_conformance::{Db, common::*, count};
use ixn_storage_postgres::PostgresBackend;
use serde_json::json;
use sqlx::SqlSafeStr;

use crate::harness::{PgHarness, PgSchema, on_own_connection, url};

macro_rules! need_server {
    () => {
        if url().is_none() {
            eprintln!("skipped: IXN_TEST_PG_URL is not set (PostgreSQL partitions)");
            return;
        }
    };
}

/// Opens `db` with the partition plan `partitions` (a JSON array).
fn open_with_plan(
    db: &Db<'_, PgHarness>,
    partitions: serde_json::Value,
) -> Result<PostgresBackend, ixn_plugin_api::storage::StorageError> {
    let s = db.database();
    PostgresBackend::open(OpenSettings {
        settings: json!({ "url": s.url, "schema": s.name, "partitions": partitions }).to_string(),
        custom_fields: standard_fields(),
    })
}

/// Rows per partition table, from outside: `[(table, rows)]` sorted.
fn rows_per_partition(s: &PgSchema) -> Vec<(String, i64)> {
    on_own_connection(&s.url, Some(&s.name), async |c| {
        sqlx::query_as(
            "SELECT c.relname::text, COUNT(*) FROM interactions x \
             JOIN pg_class c ON c.oid = x.tableoid GROUP BY 1 ORDER BY 1",
        )
        .fetch_all(c)
        .await
        .unwrap()
    })
}

fn pairs(v: &[(&str, i64)]) -> Vec<(String, i64)> {
    v.iter().map(|(t, n)| (t.to_string(), *n)).collect()
}

#[test]
fn rows_land_in_their_queues_partition_and_a_changed_plan_moves_them() {
    need_server!();
    let h = PgHarness::new();
    let db = Db::new(&h);
    let b = open_with_plan(&db, json!([{ "name": "archive", "queues": ["q.arch"] }])).unwrap();
    let mut with_data = new_ix("b", "q.arch");
    with_data.properties = vec![str_prop("Subject", "kept"), prop("N", Value::Int(7))];
    b.submit(vec![new_ix("a", "q.live"), with_data, new_ix("c", "q.new")])
        .unwrap();
    assert_eq!(
        rows_per_partition(db.database()),
        pairs(&[
            ("interactions_default", 2),
            ("interactions_part_archive", 1)
        ])
    );
    drop(b);

    // `q.new` joins the archive, `q.live` gets a partition of its own.
    let b = open_with_plan(
        &db,
        json!([
            { "name": "archive", "queues": ["q.arch", "q.new"] },
            { "name": "live", "queues": ["q.live"] }
        ]),
    )
    .unwrap();
    assert_eq!(
        rows_per_partition(db.database()),
        pairs(&[
            ("interactions_part_archive", 2),
            ("interactions_part_live", 1)
        ])
    );
    let got = b.get("b".into()).unwrap().unwrap();
    assert_eq!(got.queue, "q.arch");
    assert_eq!(got.properties.len(), 2, "attached data moved with the row");
    // A new submission goes where the plan says.
    b.submit(vec![new_ix("d", "q.new"), new_ix("e", "q.other")])
        .unwrap();
    assert_eq!(
        rows_per_partition(db.database()),
        pairs(&[
            ("interactions_default", 1),
            ("interactions_part_archive", 3),
            ("interactions_part_live", 1)
        ])
    );
    drop(b);

    // No plan: every row back in the default partition, the tables gone.
    let b = open_with_plan(&db, json!([])).unwrap();
    assert_eq!(
        rows_per_partition(db.database()),
        pairs(&[("interactions_default", 5)])
    );
    let tables = count(
        &db,
        "SELECT COUNT(*) FROM pg_tables \
         WHERE schemaname = current_schema() AND tablename LIKE 'interactions_part_%'",
    );
    assert_eq!(tables, 0);
    for id in ["a", "b", "c", "d", "e"] {
        assert!(b.get(id.into()).unwrap().is_some(), "{id}");
    }
    assert_eq!(b.counts().unwrap().iter().map(|c| c.queued).sum::<u64>(), 5);
}

#[test]
fn a_decision_moving_to_a_queue_of_another_partition_relocates_the_row() {
    need_server!();
    let h = PgHarness::new();
    let db = Db::new(&h);
    let b = open_with_plan(&db, json!([{ "name": "archive", "queues": ["q.arch"] }])).unwrap();
    b.submit(vec![new_ix("a", "q.live")]).unwrap();
    let claimed = b.claim(claim_req("q.live", "host-1", 10, 2000)).unwrap();
    assert_eq!(ids(&claimed), ["a"]);
    let outcome = b
        .apply(vec![DecisionRecord {
            id: "a".into(),
            owner: "host-1".into(),
            outcome: Outcome::MoveToQueue("q.arch".into()),
            set_properties: vec![str_prop("Subject", "moved")],
            remove_properties: vec![],
            component_version: None,
            now: 3000,
        }])
        .unwrap();
    assert_eq!(outcome, [ApplyOutcome::Applied]);
    assert_eq!(
        rows_per_partition(db.database()),
        pairs(&[("interactions_part_archive", 1)])
    );
    let got = b.get("a".into()).unwrap().unwrap();
    assert_eq!(
        (got.queue.as_str(), got.placed_in_queue_at),
        ("q.arch", 3000)
    );
    assert_eq!(
        ids(&b.claim(claim_req("q.arch", "host-1", 10, 4000)).unwrap()),
        ["a"]
    );
}

#[test]
fn an_id_is_unique_across_partitions() {
    need_server!();
    let h = PgHarness::new();
    let db = Db::new(&h);
    let b = open_with_plan(&db, json!([{ "name": "archive", "queues": ["q.arch"] }])).unwrap();
    b.submit(vec![new_ix("a", "q.live")]).unwrap();
    let e = b.submit(vec![new_ix("a", "q.arch")]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
    assert!(
        e.message.contains("`a`") && e.message.contains("already exists"),
        "{e}"
    );
    assert_eq!(b.get("a".into()).unwrap().unwrap().queue, "q.live");
    assert_eq!(
        rows_per_partition(db.database()),
        pairs(&[("interactions_default", 1)])
    );
}

#[test]
fn a_plan_that_cannot_be_applied_is_refused_and_changes_nothing() {
    need_server!();
    let h = PgHarness::new();
    let db = Db::new(&h);
    let b = open_with_plan(&db, json!([{ "name": "archive", "queues": ["q.arch"] }])).unwrap();
    b.submit(vec![new_ix("a", "q.arch"), new_ix("b", "q.live")])
        .unwrap();
    drop(b);
    let e = open_with_plan(
        &db,
        json!([
            { "name": "archive", "queues": ["q.arch", "q.live"], "tablespace": "no_such_space" }
        ]),
    )
    .err()
    .unwrap();
    assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
    assert!(
        e.message.contains("create partition `archive`") && e.message.contains("no_such_space"),
        "{e}"
    );
    // The transaction rolled back: the old plan, every row where it was.
    assert_eq!(
        rows_per_partition(db.database()),
        pairs(&[
            ("interactions_default", 1),
            ("interactions_part_archive", 1)
        ])
    );
    let b = open_with_plan(&db, json!([{ "name": "archive", "queues": ["q.arch"] }])).unwrap();
    assert_eq!(b.get("a".into()).unwrap().unwrap().queue, "q.arch");
}

#[test]
fn the_report_names_each_partition_with_its_queues_tablespace_and_rows() {
    need_server!();
    let h = PgHarness::new();
    let db = Db::new(&h);
    let b = open_with_plan(
        &db,
        json!([{ "name": "archive", "queues": ["q.arch", "it's"], "tablespace": "pg_default" }]),
    )
    .unwrap();
    b.submit(vec![
        new_ix("a", "q.arch"),
        new_ix("b", "it's"),
        new_ix("c", "q.live"),
    ])
    .unwrap();
    let s = db.database();
    let settings = json!({ "url": s.url, "schema": s.name }).to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt
        .block_on(ixn_storage_postgres::partition_report(&settings))
        .unwrap();
    let seen: Vec<(&str, &str, &str, i64)> = report
        .iter()
        .map(|r| {
            (
                r.table.as_str(),
                r.bound.as_str(),
                r.tablespace.as_str(),
                r.rows,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("interactions_default", "DEFAULT", "pg_default", 1),
            (
                "interactions_part_archive",
                "FOR VALUES IN ('it''s', 'q.arch')",
                "pg_default",
                2
            ),
        ]
    );
}

#[test]
fn the_version_1_table_becomes_the_default_partition_with_its_rows() {
    need_server!();
    let h = PgHarness::new();
    let db = Db::new(&h);
    let s = db.database();
    // The schema as the previous release left it: migration 1 only, rows in it.
    on_own_connection(&s.url, None, async |c| {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA \"{0}\"; SET search_path TO \"{0}\"",
            s.name
        )))
        .execute(&mut *c)
        .await
        .unwrap();
        let first = sqlx::migrate::Migration::new(
            1,
            Cow::Borrowed("interactions"),
            sqlx::migrate::MigrationType::Simple,
            sqlx::AssertSqlSafe(include_str!("../../migrations/0001_interactions.sql"))
                .into_sql_str(),
            false,
        );
        let migrator = sqlx::migrate::Migrator {
            migrations: Cow::Owned(vec![first]),
            table_name: Cow::Borrowed("_ixn_migrations"),
            ..sqlx::migrate::Migrator::DEFAULT
        };
        migrator.run(&mut *c).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO interactions (id, tenant, media_type, interaction_type, interaction_subtype, \
             queue, submitted_by, submitted_at, placed_in_queue_at) VALUES \
             ('old-1', 't1', 'email', 'Inbound', 'InboundNew', 'q.arch', 'tester', 1, 1), \
             ('old-2', 't1', 'email', 'Inbound', 'InboundNew', 'q.live', 'tester', 1, 1)",
        )
        .execute(&mut *c)
        .await
        .unwrap();
    });
    let b = open_with_plan(&db, json!([{ "name": "archive", "queues": ["q.arch"] }])).unwrap();
    assert_eq!(
        rows_per_partition(s),
        pairs(&[
            ("interactions_default", 1),
            ("interactions_part_archive", 1)
        ])
    );
    assert_eq!(b.get("old-1".into()).unwrap().unwrap().queue, "q.arch");
    // Old ids are registered: a duplicate of one is refused.
    let e = b.submit(vec![new_ix("old-2", "q.arch")]).unwrap_err();
    assert!(e.message.contains("already exists"), "{e}");
    for index in [
        "interactions_pkey",
        "interactions_claim",
        "interactions_claimable",
        "interactions_lease_until",
    ] {
        assert!(db.has_index(index), "{index}");
    }
}
