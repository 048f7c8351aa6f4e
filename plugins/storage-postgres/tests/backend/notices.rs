//! LISTEN/NOTIFY as PostgreSQL does it: `poll-only` turns it off, and the
//! listening connection, killed by the server, comes back and says that
//! notices may have been missed.

use std::time::{Duration, Instant};

use ixn_plugin_api::storage::{StorageBackend, WorkNotice};
use ixn_storage_conformance::{Db, common::*};
use ixn_storage_postgres::PostgresBackend;
use serde_json::json;

use crate::harness::{PgHarness, on_own_connection, url};

macro_rules! need_server {
    () => {
        if url().is_none() {
            eprintln!("skipped: IXN_TEST_PG_URL is not set (PostgreSQL notices)");
            return;
        }
    };
}

const PATIENCE: Duration = Duration::from_secs(20);

/// Waits until `b` answers a notice `wanted` accepts; panics after [`PATIENCE`].
fn wait_until(b: &PostgresBackend, what: &str, wanted: impl Fn(&WorkNotice) -> bool) {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        if wanted(&b.wait_for_work(500).unwrap()) {
            return;
        }
    }
    panic!("{what}: not within {PATIENCE:?}");
}

/// The listening connections of a schema, from outside: they say who they
/// are in `application_name`.
fn listeners(url: &str, schema: &str) -> Vec<i32> {
    on_own_connection(url, None, async |c| {
        sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE application_name = $1")
            .bind(format!("ixn-listen:{schema}"))
            .fetch_all(c)
            .await
            .unwrap()
    })
}

#[test]
fn poll_only_tells_nothing_and_listens_nowhere() {
    need_server!();
    let h = PgHarness::new();
    let db = Db::new(&h);
    let s = db.database();
    let settings = |poll_only: bool| ixn_plugin_api::storage::OpenSettings {
        settings: json!({ "url": s.url, "schema": s.name, "poll-only": poll_only }).to_string(),
        custom_fields: standard_fields(),
    };
    let polling = PostgresBackend::open(settings(true)).unwrap();
    assert_eq!(polling.wait_for_work(10).unwrap(), WorkNotice::Unsupported);
    // Nor does it send: a listener of the schema hears nothing of its submissions.
    let listening = PostgresBackend::open(settings(false)).unwrap();
    wait_until(&listening, "the first answer of a new listener", |n| {
        *n == WorkNotice::Everything
    });
    polling.submit(vec![new_ix("quiet", "q.polled")]).unwrap();
    assert_eq!(
        listening.wait_for_work(1000).unwrap(),
        WorkNotice::Queues(Vec::new())
    );
    // The listener's own submissions it hears.
    listening.submit(vec![new_ix("loud", "q.heard")]).unwrap();
    wait_until(&listening, "its own submission", |n| {
        *n == WorkNotice::Queues(vec!["q.heard".into()])
    });
}

#[test]
fn a_killed_listening_connection_comes_back_and_says_notices_were_missed() {
    need_server!();
    let h = PgHarness::new();
    let db = Db::new(&h);
    let (url, schema) = (db.database().url.clone(), db.database().name.clone());
    let listening = db.open();
    let placing = db.open();
    wait_until(&listening, "the first answer of a new listener", |n| {
        *n == WorkNotice::Everything
    });
    // One per open backend.
    let before = listeners(&url, &schema);
    assert_eq!(before.len(), 2, "{before:?}");
    on_own_connection(&url, None, async |c| {
        for pid in &before {
            sqlx::query("SELECT pg_terminate_backend($1)")
                .bind(pid)
                .execute(&mut *c)
                .await
                .unwrap();
        }
    });
    wait_until(&listening, "the answer after the kill", |n| {
        *n == WorkNotice::Everything
    });
    // The other backend's listener reconnects on its own time.
    let start = Instant::now();
    loop {
        let after = listeners(&url, &schema);
        if after.len() == 2 && after.iter().all(|pid| !before.contains(pid)) {
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "listeners before {before:?}, now {after:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    placing.submit(vec![new_ix("after", "q.after")]).unwrap();
    wait_until(
        &listening,
        "a submission after the reconnect",
        |n| matches!(n, WorkNotice::Queues(q) if q.iter().any(|q| q == "q.after")),
    );
}
