//! Idle views on one host hear of work placed through another: host A only
//! takes submissions (its view is disabled), host B only claims, with a
//! check interval of an hour, so nothing but PostgreSQL's NOTIFY can wake
//! it. With `poll-only` the same two hosts still finish the work, B finding
//! it at its (short) check interval.
//!
//! Uses the PostgreSQL at `IXN_TEST_PG_URL` (skipped, saying so, when
//! unset), in a schema of its own that is dropped afterwards.

use std::time::{Duration, Instant};

use ixn_tests::ServeProcess;
use ixn_tests::pg::{DropSchema, scalar};
use sqlx::{Connection, PgConnection};

const INTERACTIONS: usize = 20;

/// Far longer than the test waits for B: only a notice gets it there.
const CHECK_INTERVAL_NOTIFIED: &str = "3600";

/// Host `node`'s config: the view with `check_interval`, enabled or not,
/// on the schema, `storage_extra` in `[storage.settings]`.
fn config(
    url: &str,
    schema: &str,
    node: &str,
    view_enabled: bool,
    check_interval: &str,
    storage_extra: &str,
) -> String {
    let config = ixn_tests::postgres_host_config(url, schema, node, 30, storage_extra);
    assert!(config.contains("check-interval = 0.05"), "{config}");
    config.replace(
        "check-interval = 0.05",
        &format!("check-interval = {check_interval}\n    enabled = {view_enabled}"),
    )
}

/// Starts A (submits) and B (claims), submits [`INTERACTIONS`] to A and
/// waits until every one is stopped; B's log is shown if they are not.
/// `listening` says whether each host holds a LISTEN connection (named
/// `ixn-listen:<schema>`).
async fn run(
    url: &str,
    schema: &str,
    check_interval_b: &str,
    storage_extra: &str,
    listening: bool,
) {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    let _drop_schema = DropSchema::now_and_at_end(&mut conn, url, schema).await;
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    // B first, so that its first claim (at start) finds nothing.
    let mut b = ServeProcess::start(
        dir_b.path(),
        &config(url, schema, "wake-b", true, check_interval_b, storage_extra),
    )
    .expect("host B");
    let mut a = ServeProcess::start(
        dir_a.path(),
        &config(url, schema, "wake-a", false, "1", storage_extra),
    )
    .expect("host A");
    let http = reqwest::Client::new();
    for i in 0..INTERACTIONS {
        let r = http
            .post(format!("{}/v1/interactions", a.base))
            .json(&ixn_tests::email(&format!("wake {i}")))
            .send()
            .await
            .expect("submit");
        assert_eq!(r.status().as_u16(), 201, "submission {i}");
    }
    let stopped_sql = format!(
        "SELECT COUNT(*) FROM \"{schema}\".interactions WHERE stopped_at IS NOT NULL \
         AND component_version IS NOT NULL"
    );
    let start = Instant::now();
    loop {
        let stopped = scalar(&mut conn, &stopped_sql).await;
        if stopped as usize == INTERACTIONS {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{stopped} of {INTERACTIONS} stopped; host B logged: {:#?}",
            b.log.lock().map(|l| l.clone())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let listeners = scalar(
        &mut conn,
        &format!(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'ixn-listen:{schema}'"
        ),
    )
    .await;
    assert_eq!(
        listeners,
        if listening { 2 } else { 0 },
        "LISTEN connections"
    );
    for host in [&mut a, &mut b] {
        host.signal("TERM").expect("term");
        host.wait(Duration::from_secs(30)).expect("graceful stop");
    }
    // Only B's view claims: every decision is its own.
    let stops = |dir: &tempfile::TempDir| {
        std::fs::read_to_string(dir.path().join("data/events.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"EventProcessingStopped\""))
            .count()
    };
    assert_eq!((stops(&dir_a), stops(&dir_b)), (0, INTERACTIONS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_view_wakes_on_work_another_host_placed() {
    let Ok(url) = std::env::var("IXN_TEST_PG_URL") else {
        eprintln!(
            "SKIPPED an_idle_view_wakes_on_work_another_host_placed: IXN_TEST_PG_URL is not set"
        );
        return;
    };
    let schema = format!("ixn_wake_{}", std::process::id());
    run(&url, &schema, CHECK_INTERVAL_NOTIFIED, "", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_only_hosts_find_the_work_at_their_check_interval() {
    let Ok(url) = std::env::var("IXN_TEST_PG_URL") else {
        eprintln!(
            "SKIPPED poll_only_hosts_find_the_work_at_their_check_interval: IXN_TEST_PG_URL is not set"
        );
        return;
    };
    let schema = format!("ixn_poll_{}", std::process::id());
    run(&url, &schema, "1", "poll-only = true", false).await;
}
