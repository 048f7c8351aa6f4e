//! PostgreSQL restarted in the middle of a run (`pg_ctlcluster … restart`):
//! two `ixn serve` processes share one business process on the database
//! while the server goes away and comes back. Submissions that fail get 503
//! and are retried by the client (with their id, so a retry of one that was
//! stored is refused as a duplicate, not stored twice); claims and
//! decisions retry inside the hosts.
//!
//! Counted where it arrives, as in the multi-host test: one row per
//! interaction, every one in a final state, each stop counted once, and one
//! `EventProcessingStopped` per interaction in the hosts' event files.
//!
//! A test binary of its own: `cargo test` runs test binaries one after the
//! other, so no other test's connection sees the restart. Needs
//! `IXN_TEST_PG_URL` and `IXN_TEST_PG_RESTART` (the command that restarts
//! that server, which `.ci/run` sets); skipped, saying so, without them.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ixn_tests::ServeProcess;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

const TOTAL: usize = 4_000;
const CLIENTS: usize = 12;
/// When the server started, in microseconds: a restart changes it.
const POSTMASTER_START: &str =
    "SELECT (extract(epoch FROM pg_postmaster_start_time()) * 1000000)::bigint";
/// How long a client keeps retrying one submission.
const RETRY_FOR: Duration = Duration::from_secs(90);

/// The one-step process (the router stops every interaction) on
/// PostgreSQL, as host `node`. A wait for a connection gives up after 50 ms,
/// less than the restart's gap (about 0.2 s here), so that submissions do
/// meet the outage as 503 and claims as retriable errors instead of waiting
/// it out in the pool.
fn host_config(url: &str, schema: &str, node: &str) -> String {
    ixn_tests::postgres_host_config(url, schema, node, 5, "connect-timeout-ms = 50")
}

/// One number from a connection of its own; `None` while the server is away.
async fn scalar(url: &str, sql: &str) -> Option<i64> {
    let mut conn = PgConnection::connect(url).await.ok()?;
    sqlx::query_scalar(AssertSqlSafe(sql.to_string()))
        .fetch_one(&mut conn)
        .await
        .ok()
}

/// Submits interaction `i` until it is stored: 503 and a dropped
/// connection are retried; a duplicate refused after a retry means an
/// earlier attempt was stored. Answers how many retries it took.
async fn submit(http: &reqwest::Client, base: &str, i: usize) -> u64 {
    let mut body = ixn_tests::email(&format!("restart {i}"));
    body["id"] = format!("restart-{i:06}").into();
    let start = Instant::now();
    let mut retries = 0;
    loop {
        match http
            .post(format!("{base}/v1/interactions"))
            .json(&body)
            .send()
            .await
        {
            Ok(r) if r.status().as_u16() == 201 => return retries,
            Ok(r) if r.status().as_u16() == 503 => {}
            Ok(r) => {
                let (status, text) = (r.status(), r.text().await.unwrap_or_default());
                if retries > 0 && status.as_u16() == 422 && text.contains("already exists") {
                    return retries;
                }
                panic!("submission {i}: {status} {text}");
            }
            Err(e) => assert!(e.is_connect() || e.is_request(), "submission {i}: {e}"),
        }
        assert!(start.elapsed() < RETRY_FOR, "submission {i} never stored");
        retries += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_mid_run_loses_nothing_and_applies_nothing_twice() {
    let (Ok(url), Ok(restart)) = (
        std::env::var("IXN_TEST_PG_URL"),
        std::env::var("IXN_TEST_PG_RESTART"),
    ) else {
        eprintln!(
            "SKIPPED postgres_restarted_mid_run_loses_nothing_and_applies_nothing_twice: \
             IXN_TEST_PG_URL and IXN_TEST_PG_RESTART (the command restarting that server) are not both set"
        );
        return;
    };
    let schema = format!("ixn_restart_{}", std::process::id());
    let drop_schema = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
    let mut conn = PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(drop_schema.clone()))
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);

    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut hosts: Vec<ServeProcess> = dirs
        .iter()
        .enumerate()
        .map(|(n, dir)| {
            let config = host_config(&url, &schema, &format!("restart-host-{n}"));
            ServeProcess::start(dir.path(), &config).expect("ixn serve")
        })
        .collect();
    let bases: Arc<Vec<String>> = Arc::new(hosts.iter().map(|h| h.base.clone()).collect());
    let started = scalar(&url, POSTMASTER_START).await.unwrap();

    let next = Arc::new(AtomicUsize::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (next, bases, retries) = (next.clone(), bases.clone(), retries.clone());
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= TOTAL {
                    return;
                }
                let n = submit(&http, &bases[i % 2], i).await;
                retries.fetch_add(n, Ordering::Relaxed);
            }
        }));
    }

    // Restart once a third is submitted: submissions, claims and decisions
    // are all under way.
    let stopped_sql =
        format!("SELECT COALESCE(SUM(stopped), 0)::bigint FROM \"{schema}\".queue_stopped_counts");
    let start = Instant::now();
    while next.load(Ordering::Relaxed) < TOTAL / 3
        || scalar(&url, &stopped_sql).await.unwrap_or(0) == 0
    {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the run did not get going"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let submitted_before = next.load(Ordering::Relaxed).min(TOTAL);
    let restart_began = Instant::now();
    let restarted = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .args(["-c", &restart])
            .status()
    })
    .await
    .unwrap()
    .expect("run the restart command");
    assert!(
        restarted.success(),
        "the restart command failed: {restarted}"
    );
    let restart_took = restart_began.elapsed();
    let submitted_during = next.load(Ordering::Relaxed).min(TOTAL) - submitted_before;
    let after = scalar(&url, POSTMASTER_START).await;
    assert!(
        after.is_some_and(|t| t > started),
        "the server is back, started anew ({started:?} then {after:?})"
    );

    for c in clients {
        c.await.unwrap();
    }
    let start = Instant::now();
    loop {
        let stopped = scalar(&url, &stopped_sql).await.unwrap_or(0);
        if stopped as usize >= TOTAL {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "only {stopped} of {TOTAL} stopped; host 0 logged: {:#?}",
            hosts[0]
                .log
                .lock()
                .map(|l| l.iter().rev().take(20).cloned().collect::<Vec<_>>())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for h in &mut hosts {
        h.signal("TERM").unwrap();
        h.wait(Duration::from_secs(60)).expect("graceful stop");
    }

    let q = |sql: &str| sql.replace("{schema}", &schema);
    let rows = scalar(&url, &q("SELECT COUNT(*) FROM \"{schema}\".interactions")).await;
    let live = scalar(
        &url,
        &q("SELECT COUNT(*) FROM \"{schema}\".interactions WHERE stopped_at IS NULL"),
    )
    .await;
    let counted = scalar(&url, &stopped_sql).await;
    assert_eq!(rows, Some(TOTAL as i64), "one row per interaction");
    assert_eq!(live, Some(0), "every interaction ended in a final state");
    assert_eq!(counted, Some(TOTAL as i64), "each stop counted once");

    let mut stops: HashMap<String, usize> = HashMap::new();
    for (n, dir) in dirs.iter().enumerate() {
        let text = std::fs::read_to_string(dir.path().join("data/events.jsonl"))
            .unwrap_or_else(|e| panic!("events of host {n}: {e}"));
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v["event_name"] == "EventProcessingStopped"
                && let Some(id) = v["interaction_id"].as_str()
            {
                *stops.entry(id.to_string()).or_default() += 1;
            }
        }
    }
    let twice: Vec<_> = stops.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stopped twice: {twice:?}");
    assert_eq!(stops.len(), TOTAL, "one stop event per interaction");
    let _ = scalar(&url, &drop_schema).await;
    let warned = hosts
        .iter()
        .map(|h| {
            h.log
                .lock()
                .map_or(0, |l| l.iter().filter(|l| l.contains("WARN")).count())
        })
        .sum::<usize>();
    assert!(
        warned > 0,
        "the hosts met the restart (their connections were cut)"
    );
    eprintln!(
        "PostgreSQL restarted mid-run ({:.1} s, after {submitted_before} submissions, {submitted_during} more begun meanwhile): \
         {TOTAL} interactions on 2 hosts, {} submission attempts retried by their clients, {} warnings logged by the hosts; \
         every one stored once and stopped once",
        restart_took.as_secs_f64(),
        retries.load(Ordering::Relaxed),
        warned
    );
}
