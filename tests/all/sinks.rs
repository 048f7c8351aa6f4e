//! Event loggers and their sinks, end to end: a slow or dead sink never blocks
//! processing, keeps what it cannot write yet and loses nothing once it is back,
//! and when its queue overflows the loss is counted, not silent.
//!
//! The sink is made "dead" from outside: the test holds the write lock of the
//! SQL sink's SQLite file on a connection of its own, so every write of the
//! sink waits out its busy timeout and fails as retriable.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ixn::events::EventLogger;
use ixn_tests::TestHost;
use serde_json::json;
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

/// One business process `bp` whose view stops every interaction with `ok`
/// (`hostile-err`), then the given event logger sections.
pub(crate) fn config(loggers: &str) -> String {
    format!(
        r#"
[server]
lease-timeout = 30
recovery-interval = 1

[storage]
plugin = "sqlite"
[storage.settings]
path = "${{data-dir}}/ixn.db"

[wasm]
cache-dir = "${{data-dir}}/wasm-cache"
call-timeout-ms = 1000
memory-limit-mb = 32
instances-per-component = 2

[strategy.s]
component = "{component}"

[[business-process]]
name = "bp"
entry-queue = "bp.In"
error-queue = "bp.Error"
  [[business-process.queue]]
  name = "bp.In"
    [[business-process.queue.view]]
    name = "work"
    strategy = "s"
    check-interval = 0.05
    limit = 100
    concurrency = 2
  [[business-process.queue]]
  name = "bp.Error"
{loggers}
"#,
        component = ixn_bp_artifacts::HOSTILE_ERR
    )
}

/// The `event-log` (sql sink) logger `reporting` on `${data-dir}/reporting.db`.
fn sql_logger(max_queue_size: u32) -> String {
    format!(
        r#"
[[event-logger]]
name = "reporting"
  [event-logger.logger-settings]
  delivery-protocol = "event-log"
  batch-size = 500
  max-queue-size = {max_queue_size}
  storing-timeout = 500
  reconnect-timeout = 1
  [event-logger.sink-settings]
  path = "${{data-dir}}/reporting.db"
  delete-on-stop = false
"#
    )
}

/// The `jsonl` logger `file` on `${data-dir}/events.jsonl`.
const JSONL_LOGGER: &str = r#"
[[event-logger]]
name = "file"
  [event-logger.logger-settings]
  delivery-protocol = "jsonl"
  batch-size = 500
  storing-timeout = 500
  [event-logger.sink-settings]
  path = "${data-dir}/events.jsonl"
"#;

pub(crate) fn logger(host: &TestHost, name: &str) -> Arc<EventLogger> {
    host.server
        .bus()
        .loggers()
        .iter()
        .find(|l| l.name() == name)
        .cloned()
        .unwrap_or_else(|| panic!("no event logger `{name}`"))
}

/// The sql sink's file: `TestHost` puts the data directory in `dir/data`.
fn reporting_db(host: &TestHost) -> PathBuf {
    let path = host.dir.path().join("data").join("reporting.db");
    assert_eq!(
        path.parent(),
        Some(host.server.config().server.data_dir.as_path()),
        "the test's idea of the data directory differs from the host's"
    );
    assert!(
        path.is_file(),
        "the sql sink did not create {} when it opened",
        path.display()
    );
    path
}

/// Submits `n` e-mails, `concurrency` at a time; panics unless all are stored.
pub(crate) async fn submit_emails(host: &TestHost, n: usize, concurrency: usize) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, base, next) = (host.client.clone(), host.base.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                let body = ixn_tests::email(&format!("message {i}"));
                let r = client
                    .post(format!("{base}/v1/interactions"))
                    .json(&body)
                    .send()
                    .await
                    .expect("submit");
                let status = r.status().as_u16();
                assert_eq!(
                    status,
                    201,
                    "submission {i}: {status} {}",
                    r.text().await.unwrap_or_default()
                );
            }
        }));
    }
    for t in tasks {
        t.await.expect("a submitting task failed");
    }
}

/// Polls `probe` every 50 ms until it yields `Some`, or panics with `what` and its last state.
pub(crate) async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(state) if start.elapsed() > timeout => {
                panic!("{what} did not happen within {timeout:?}: {state}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Waits up to a minute until `logger`'s sink holds exactly `expected` events.
async fn wait_stored(logger: &Arc<EventLogger>, expected: u64, what: &str) {
    wait_for(Duration::from_secs(60), what, || {
        let logger = logger.clone();
        async move {
            let stored = logger.stored_count().await.map_err(|e| e.to_string())?;
            if stored == Some(expected) {
                Ok(())
            } else {
                Err(format!(
                    "{expected} expected, the sink holds {stored:?}; {}",
                    stats_line(&logger)
                ))
            }
        }
    })
    .await
}

/// Waits up to 10 s until one of `logger`'s counters reads `expected`: the
/// logger counts a batch once the sink's call returned, just after the
/// sink's own count can see it.
pub(crate) async fn wait_counter(
    logger: &Arc<EventLogger>,
    counter: fn(&ixn::events::LoggerStats) -> &std::sync::atomic::AtomicU64,
    expected: u64,
    what: &str,
) {
    wait_for(Duration::from_secs(10), what, || {
        let logger = logger.clone();
        async move {
            if counter(logger.stats()).load(Ordering::Relaxed) == expected {
                Ok(())
            } else {
                Err(stats_line(&logger))
            }
        }
    })
    .await
}

pub(crate) fn stats_line(l: &EventLogger) -> String {
    let s = l.stats();
    format!(
        "logger `{}`: queued {}, written {}, write_errors {}, discarded_overflow {}, discarded_rejected {}, filtered {}",
        l.name(),
        s.queued.load(Ordering::Relaxed),
        s.written.load(Ordering::Relaxed),
        s.write_errors.load(Ordering::Relaxed),
        s.discarded_overflow.load(Ordering::Relaxed),
        s.discarded_rejected.load(Ordering::Relaxed),
        s.filtered.load(Ordering::Relaxed),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_sink_never_blocks_processing_and_loses_nothing() {
    const N: usize = 200;
    let host = TestHost::start(&config(&format!("{}{JSONL_LOGGER}", sql_logger(100_000))))
        .await
        .expect("host starts");
    let bus = host.server.bus().clone();
    let (sql, jsonl) = (logger(&host, "reporting"), logger(&host, "file"));
    let db = reporting_db(&host);
    let holder = ixn_tests::lock_sqlite(&db).await;

    submit_emails(&host, N, 8).await;
    // Processing goes on while the sink cannot write a thing.
    host.wait_finished("bp.Error", N as u64, Duration::from_secs(60))
        .await
        .expect("all interactions finish");
    assert_eq!(
        host.count("bp.In", "stopped").await.expect("count"),
        N as u64,
        "{:#?}",
        host.queues().await
    );
    assert_eq!(host.count("bp.Error", "queued").await.expect("count"), 0);
    let produced = bus.produced();
    assert!(
        produced >= 6 * N as u64,
        "each interaction makes at least 6 events; {produced} produced"
    );

    // The other logger wrote everything meanwhile.
    wait_for(
        Duration::from_secs(30),
        "the jsonl logger writing every event",
        || {
            let jsonl = jsonl.clone();
            async move {
                let stored = jsonl.stored_count().await.map_err(|e| e.to_string())?;
                let written = jsonl.stats().written.load(Ordering::Relaxed);
                if written == produced && stored == Some(produced) {
                    Ok(())
                } else {
                    Err(format!(
                        "{produced} produced, file holds {stored:?}; {}",
                        stats_line(&jsonl)
                    ))
                }
            }
        },
    )
    .await;
    let lines =
        std::fs::read_to_string(host.dir.path().join("data/events.jsonl")).expect("events.jsonl");
    assert_eq!(
        lines.lines().count() as u64,
        produced,
        "events.jsonl line count"
    );

    // The sql logger has tried and failed, written nothing, and kept every event.
    wait_for(
        Duration::from_secs(60),
        "a failed write of the sql sink",
        || {
            let sql = sql.clone();
            async move {
                if sql.stats().write_errors.load(Ordering::Relaxed) > 0 {
                    Ok(())
                } else {
                    Err(stats_line(&sql))
                }
            }
        },
    )
    .await;
    let s = sql.stats();
    assert_eq!(
        s.written.load(Ordering::Relaxed),
        0,
        "the sql sink wrote through the lock: {}",
        stats_line(&sql)
    );
    assert_eq!(
        s.queued.load(Ordering::Relaxed),
        produced,
        "{}",
        stats_line(&sql)
    );
    assert_eq!(
        s.discarded_overflow.load(Ordering::Relaxed),
        0,
        "{}",
        stats_line(&sql)
    );
    assert_eq!(
        s.discarded_rejected.load(Ordering::Relaxed),
        0,
        "a busy database is retriable: {}",
        stats_line(&sql)
    );

    // Issue 6: /health said `ok` while a sink had failed for minutes. It is
    // degraded now, naming the logger, but still takes work (200).
    let (code, health) = host.health().await.expect("/health");
    assert_eq!(code, 200, "{health}");
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(
        health["reasons"].as_array().is_some_and(|r| r
            .iter()
            .any(|r| r.as_str().is_some_and(|r| r.contains("`reporting`")))),
        "{health}"
    );

    ixn_tests::release_sqlite(holder).await;

    // Back up: every event ends up in the database, none twice.
    wait_stored(
        &sql,
        produced,
        "the sql sink storing every event after the lock went",
    )
    .await;
    // The logger counts a batch written once the sink's call has returned,
    // just after the rows became visible.
    wait_counter(
        &sql,
        |s| &s.written,
        produced,
        "the logger counting every event written",
    )
    .await;
    assert_eq!(
        bus.produced(),
        produced,
        "events were produced after processing finished"
    );
    assert_eq!(
        sql.stats().discarded_rejected.load(Ordering::Relaxed),
        0,
        "{}",
        stats_line(&sql)
    );

    // Every interaction's stop is in the reporting tables (delete-on-stop = false).
    let mut conn =
        SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&db).read_only(true))
            .await
            .expect("opening reporting.db");
    let stops: i64 =
        sqlx::query_scalar("SELECT COUNT(DISTINCT interaction_id) FROM rpt_interaction WHERE event_name = 'EventProcessingStopped'")
            .fetch_one(&mut conn)
            .await
            .expect("counting stops");
    assert_eq!(stops, N as i64);
    let (rows, sequences): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT sequence) FROM \
         (SELECT sequence FROM rpt_interaction UNION ALL SELECT sequence FROM rpt_agent \
          UNION ALL SELECT sequence FROM rpt_esp UNION ALL SELECT sequence FROM rpt_custom)",
    )
    .fetch_one(&mut conn)
    .await
    .expect("counting rows");
    assert_eq!(
        (rows, sequences),
        (produced as i64, produced as i64),
        "one row per event"
    );
    conn.close().await.expect("closing");

    let TestHost { server, dir, .. } = host;
    server.shutdown().await;
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overflowing_logger_counts_what_it_discards() {
    // 6 events per interaction (submitted, placed, taken, party added and
    // removed, stopped): 2500 make 15000, beyond the queue of 10000 plus the
    // one batch of 500 the writer holds while it retries.
    const N: usize = 2500;
    const MAX_QUEUE: u64 = 10_000;
    let host = TestHost::start(&config(&sql_logger(MAX_QUEUE as u32)))
        .await
        .expect("host starts");
    let bus = host.server.bus().clone();
    let sql = logger(&host, "reporting");
    let holder = ixn_tests::lock_sqlite(&reporting_db(&host)).await;

    submit_emails(&host, N, 16).await;
    host.wait_finished("bp.Error", N as u64, Duration::from_secs(120))
        .await
        .expect("all interactions finish");
    assert_eq!(
        host.count("bp.In", "stopped").await.expect("count"),
        N as u64,
        "{:#?}",
        host.queues().await
    );
    let produced = bus.produced();
    assert!(
        produced > MAX_QUEUE + 500,
        "the test must produce more events than the logger holds; {produced} produced"
    );

    let s = sql.stats();
    let (queued, overflow) = (
        s.queued.load(Ordering::Relaxed),
        s.discarded_overflow.load(Ordering::Relaxed),
    );
    assert!(
        overflow > 0,
        "{produced} events into a queue of {MAX_QUEUE}, none discarded: {}",
        stats_line(&sql)
    );
    assert_eq!(
        queued + overflow + s.filtered.load(Ordering::Relaxed),
        produced,
        "every event is either queued or counted as discarded: {}",
        stats_line(&sql)
    );
    assert!(
        queued <= MAX_QUEUE + 500,
        "more queued than the bound allows: {}",
        stats_line(&sql)
    );
    assert_eq!(s.written.load(Ordering::Relaxed), 0, "{}", stats_line(&sql));

    // What was queued is not lost: it is all written once the database is free.
    ixn_tests::release_sqlite(holder).await;
    wait_stored(&sql, queued, "the sql sink storing what it had queued").await;
    wait_counter(
        &sql,
        |s| &s.written,
        queued,
        "the logger counting what it wrote",
    )
    .await;
    assert_eq!(
        s.written.load(Ordering::Relaxed) + s.discarded_overflow.load(Ordering::Relaxed),
        produced,
        "{}",
        stats_line(&sql)
    );

    // `/health` reports the loss too.
    let health: serde_json::Value = host
        .client
        .get(format!("{}/health", host.base))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("JSON");
    let row = health["loggers"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["name"] == "reporting"))
        .cloned();
    assert_eq!(
        row.as_ref().map(|r| r["discarded_overflow"].clone()),
        Some(json!(overflow)),
        "{health:#}"
    );

    let TestHost { server, dir, .. } = host;
    server.shutdown().await;
    drop(dir);
}

/// Issue 6: the event sequence started again at 1 at every start, and the sql
/// sink ignored every event whose number it already held: after a restart the
/// reporting database silently lost them all while `/health` said
/// `write_errors: 0`. Every event of both runs must be in every sink, counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_every_run_reach_every_sink_across_restarts() {
    const N: usize = 150;
    let host = TestHost::start(&config(&format!("{}{JSONL_LOGGER}", sql_logger(100_000))))
        .await
        .expect("host starts");
    submit_emails(&host, N, 8).await;
    host.wait_finished("bp.Error", N as u64, Duration::from_secs(60))
        .await
        .expect("first run finishes");
    let first_origin = host.server.bus().origin().to_string();
    let first = host.server.bus().produced();

    let host = host.restart().await.expect("host restarts");
    assert_ne!(host.server.bus().origin(), first_origin);
    submit_emails(&host, N, 8).await;
    host.wait_finished("bp.Error", 2 * N as u64, Duration::from_secs(60))
        .await
        .expect("second run finishes");
    host.server.bus().flush().await;
    let total = first + host.server.bus().produced();
    assert!(total >= 12 * N as u64, "{total} events in two runs");

    for name in ["reporting", "file"] {
        let l = logger(&host, name);
        wait_stored(&l, total, &format!("logger `{name}` holding both runs")).await;
        assert_eq!(
            l.stats().write_errors.load(Ordering::Relaxed),
            0,
            "{}",
            stats_line(&l)
        );
    }
    // The file has each (origin, sequence) once, from exactly two origins.
    let text =
        std::fs::read_to_string(host.dir.path().join("data/events.jsonl")).expect("events.jsonl");
    let mut ids = std::collections::BTreeSet::new();
    let mut origins = std::collections::BTreeSet::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        origins.insert(v["origin"].as_str().unwrap_or_default().to_string());
        ids.insert((v["origin"].to_string(), v["sequence"].as_u64()));
    }
    assert_eq!(ids.len() as u64, total, "distinct events in the file");
    assert_eq!(origins.len(), 2, "{origins:?}");
    assert!(origins.contains(&first_origin), "{origins:?}");
    host.server.shutdown().await;
}

/// Issue 6, the poison batch: one decision whose property breaks its custom
/// field failed `apply` for its whole batch, which stayed leased, came back
/// after every lease expiry and was refused again, forever. Now the one
/// interaction goes to the error queue with the reason, the others of its
/// batch are applied at once, and nothing is claimed twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_decision_goes_to_the_error_queue_and_the_batch_is_applied() {
    const N: usize = 200;
    let config = config(JSONL_LOGGER)
        .replace(
            "limit = 100\n    concurrency = 2",
            "limit = 200\n    concurrency = 1",
        )
        .replace(
            "[wasm]",
            "[custom-fields]\nNote = { column = \"note\", type = \"string(16)\" }\n\n[wasm]",
        );
    assert!(
        config.contains("limit = 200"),
        "the view takes the whole batch at once"
    );
    let host = TestHost::start(&config).await.expect("host starts");
    // The view takes up to 200 at a time: the bad one shares its batch with others.
    let mut bodies: Vec<serde_json::Value> = (0..N - 1)
        .map(|i| ixn_tests::email(&format!("fine {i}")))
        .collect();
    bodies.insert(N / 2, ixn_tests::email("an oversize note"));
    let mut bad_id = String::new();
    for body in &bodies {
        let (status, reply) = host.submit(body).await.expect("submit");
        assert_eq!(status, 201, "{reply}");
        if body["properties"]["Subject"] == "an oversize note" {
            bad_id = reply["id"].as_str().unwrap_or_default().to_string();
        }
    }
    host.wait_finished("bp.Error", N as u64, Duration::from_secs(60))
        .await
        .expect("all finish");
    assert_eq!(
        host.count("bp.In", "stopped").await.expect("count"),
        N as u64 - 1
    );
    assert_eq!(host.count("bp.Error", "queued").await.expect("count"), 1);

    let view = host
        .server
        .runtime
        .view_stats("work")
        .expect("view stats")
        .clone();
    assert_eq!(
        view.claimed.load(Ordering::Relaxed),
        N as u64,
        "nothing claimed twice"
    );
    assert_eq!(view.failed.load(Ordering::Relaxed), 1);
    assert_eq!(view.decided.load(Ordering::Relaxed), N as u64);

    // The one in the error queue says why, and kept its attached data as it was.
    let (status, bad) = host.get(&bad_id).await.expect("get");
    assert_eq!(status, 200, "{bad}");
    assert_eq!(bad["queue"], "bp.Error", "{bad}");
    let reason = bad["properties"]["ErrorReason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.contains("`Note`") && reason.contains("100 characters"),
        "{bad}"
    );
    assert!(bad["properties"].get("Note").is_none(), "{bad}");
    host.server.shutdown().await;
}
