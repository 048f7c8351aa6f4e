//! `explain-views`: each view's claim SELECT with PostgreSQL's plan, and a
//! warning for a sequential scan of a large relation — and none where the
//! claim index serves the view.

use ixn_plugin_api::storage::{OrderBy, StorageBackend};
use ixn_storage_conformance::{Db, common::*, count, outside};
use serde_json::json;

use crate::harness::{PgHarness, url};

#[test]
fn a_view_reading_a_large_partition_whole_is_warned_of_and_an_indexed_one_is_not() {
    if url().is_none() {
        eprintln!("skipped: IXN_TEST_PG_URL is not set (PostgreSQL explain-views)");
        return;
    }
    let h = PgHarness::new();
    let db = Db::new(&h);
    drop(db.open());
    // 20 000 queued in one queue, with statistics (this server runs
    // without autovacuum): the planner reads that queue's rows whole.
    outside(
        &db,
        "INSERT INTO interactions (id, tenant, media_type, interaction_type, interaction_subtype, \
           queue, priority, submitted_by, submitted_at, placed_in_queue_at, category) \
         SELECT 'x' || g, 't1', 'email', 'Inbound', 'InboundNew', 'q.big', g % 7, 'tester', g, g, 'Billing' \
         FROM generate_series(1, 20000) g; \
         INSERT INTO interaction_ids SELECT id FROM interactions; ANALYZE interactions;",
    );
    let s = db.database();
    let settings = json!({ "url": s.url, "schema": s.name }).to_string();
    let by_priority = |queue: &str| {
        let mut r = claim_req(queue, "explain", 10, 5000);
        r.order = vec![OrderBy {
            column: "priority".into(),
            descending: true,
        }];
        r
    };
    let views = vec![
        ("big".to_string(), by_priority("q.big")),
        (
            "small".to_string(),
            claim_req("q.small", "explain", 10, 5000),
        ),
    ];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let plans = rt
        .block_on(ixn_storage_postgres::explain_views(
            &settings,
            standard_fields(),
            views,
        ))
        .unwrap();
    assert_eq!(plans.len(), 2);
    let (big, small) = (&plans[0], &plans[1]);
    assert!(
        big.sql.starts_with("SELECT ") && big.sql.ends_with("FOR UPDATE SKIP LOCKED"),
        "{}",
        big.sql
    );
    assert!(big.sql.contains("\"queue\" = $1"), "{}", big.sql);
    assert!(
        big.plan.contains("Seq Scan on interactions_default"),
        "{}",
        big.plan
    );
    assert_eq!(big.warnings.len(), 1, "{:?}", big.warnings);
    assert!(
        big.warnings[0].contains("`interactions_default` (about 20000 rows)")
            && big.warnings[0].contains("queue `q.big`"),
        "{}",
        big.warnings[0]
    );
    assert!(small.plan.contains("Index"), "{}", small.plan);
    assert!(small.warnings.is_empty(), "{:?}", small.warnings);
}

#[test]
fn a_view_ordered_by_priority_gets_its_index_on_every_partition_and_its_plan_uses_it() {
    if url().is_none() {
        eprintln!("skipped: IXN_TEST_PG_URL is not set (PostgreSQL view indexes)");
        return;
    }
    let h = PgHarness::new();
    let db = Db::new(&h);
    let s = db.database();
    let b = ixn_storage_postgres::PostgresBackend::open(ixn_plugin_api::storage::OpenSettings {
        settings: json!({ "url": s.url, "schema": s.name,
            "partitions": [{ "name": "archive", "queues": ["q.arch"] }] })
        .to_string(),
        custom_fields: standard_fields(),
    })
    .unwrap();
    outside(
        &db,
        "INSERT INTO interactions (id, tenant, media_type, interaction_type, interaction_subtype, \
           queue, priority, submitted_by, submitted_at, placed_in_queue_at) \
         SELECT 'x' || g, 't1', 'email', 'Inbound', 'InboundNew', \
           CASE WHEN g % 10 = 0 THEN 'q.live' ELSE 'q.arch' END, g % 7, 'tester', g, g \
         FROM generate_series(1, 30000) g; \
         INSERT INTO interaction_ids SELECT id FROM interactions; ANALYZE interactions;",
    );
    let mut by_priority = claim_req("q.live", "host-1", 10, 5000);
    by_priority.order = vec![OrderBy {
        column: "priority".into(),
        descending: true,
    }];
    // The claim answers at once, in order; the index comes in the background.
    let claimed = b.claim(by_priority.clone()).unwrap();
    assert_eq!(claimed.len(), 10);
    assert!(
        claimed.iter().all(|i| i.priority == 6),
        "highest priority first"
    );
    let indexes = || {
        count(
            &db,
            "SELECT COUNT(*) FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid \
             WHERE c.relnamespace = current_schema()::regnamespace \
               AND c.relname LIKE 'interactions_view_%' AND i.indisvalid",
        )
    };
    let start = std::time::Instant::now();
    // One on the parent, one per partition (default and archive).
    while indexes() < 3 {
        assert!(
            start.elapsed().as_secs() < 30,
            "the view's index never came"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    b.claim(by_priority.clone()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(indexes(), 3, "made once");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let settings = json!({ "url": s.url, "schema": s.name }).to_string();
    let plans = rt
        .block_on(ixn_storage_postgres::explain_views(
            &settings,
            standard_fields(),
            vec![("live".into(), by_priority)],
        ))
        .unwrap();
    assert!(
        plans[0].plan.contains("interactions_view_") && !plans[0].plan.contains("Sort"),
        "{}",
        plans[0].plan
    );
}
