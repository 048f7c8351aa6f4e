//! `spool = "disk"` and the dead-letter file, counted where the events end
//! up: in the sink's table, across a dead sink and a SIGKILL.
//!
//! The sink is made dead from outside, as in `sinks.rs`: the test holds the
//! write lock of the sql sink's SQLite file, so every write waits out its
//! busy timeout and fails as retriable.

use std::time::Duration;

use ixn_tests::ServeProcess;
use serde_json::Value as Json;

const RPT_ROWS: &str = "SELECT (SELECT COUNT(*) FROM rpt_interaction) + (SELECT COUNT(*) FROM rpt_agent) + (SELECT COUNT(*) FROM rpt_esp) + (SELECT COUNT(*) FROM rpt_custom)";

/// `ixn serve` config: `hostile-err` stops every interaction; the logger
/// `reporting` (sql sink) spools to disk.
fn spooling_config() -> String {
    ixn_tests::one_step_config(ixn_bp_artifacts::HOSTILE_ERR, "").replace(
        "[server]",
        "[server]\ndata-dir = \"data\"\nlisten = \"127.0.0.1:0\"\nshutdown-timeout = 10",
    ) + r#"
[[event-logger]]
name = "reporting"
  [event-logger.logger-settings]
  delivery-protocol = "event-log"
  storing-timeout = 500
  reconnect-timeout = 1
  spool = "disk"
  spool-max-size = 64
  [event-logger.sink-settings]
  path = "${data-dir}/reporting.db"
  delete-on-stop = false
"#
}

async fn health(client: &reqwest::Client, base: &str) -> Json {
    client
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("GET /health")
        .json()
        .await
        .expect("health is JSON")
}

fn logger_json<'a>(health: &'a Json, logger: &str) -> &'a Json {
    health["loggers"]
        .as_array()
        .and_then(|ls| ls.iter().find(|l| l["name"] == logger))
        .unwrap_or_else(|| panic!("no logger `{logger}` in {health}"))
}

fn logger_stat(health: &Json, logger: &str, key: &str) -> u64 {
    logger_json(health, logger)[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no `{key}` of logger `{logger}` in {health}"))
}

/// Interactions stopped in `bp.In`.
async fn stopped(client: &reqwest::Client, base: &str) -> u64 {
    let r: Json = client
        .get(format!("{base}/v1/queues"))
        .send()
        .await
        .expect("GET /v1/queues")
        .json()
        .await
        .expect("queues are JSON");
    r["queues"]
        .as_array()
        .and_then(|qs| qs.iter().find(|q| q["queue"] == "bp.In"))
        .and_then(|q| q["stopped"].as_u64())
        .unwrap_or(0)
}

async fn submit(client: &reqwest::Client, base: &str, n: usize) {
    for i in 0..n {
        let r = client
            .post(format!("{base}/v1/interactions"))
            .json(&ixn_tests::email(&format!("spooled {i}")))
            .send()
            .await
            .expect("submit");
        assert_eq!(r.status().as_u16(), 201);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_spool_keeps_events_through_a_dead_sink_and_a_sigkill() {
    const N: usize = 60;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = spooling_config();
    let client = reqwest::Client::new();
    let mut serve = ServeProcess::start(dir.path(), &config).expect("ixn serve starts");
    let db = dir.path().join("data").join("reporting.db");
    let holder = ixn_tests::lock_sqlite(&db).await;

    submit(&client, &serve.base, N).await;
    // Every event goes to the spool while the sink cannot write.
    let (produced, spooled) = crate::sinks::wait_for(
        Duration::from_secs(60),
        "every event of the run in the spool",
        || {
            let (client, base) = (client.clone(), serve.base.clone());
            async move {
                let stopped = stopped(&client, &base).await;
                let h = health(&client, &base).await;
                let produced = h["events_produced"].as_u64().unwrap_or(0);
                let in_spool = logger_stat(&h, "reporting", "spool_records");
                if stopped == N as u64 && in_spool == produced {
                    Ok((produced, h))
                } else {
                    Err(format!("{in_spool} of {produced} spooled: {h}"))
                }
            }
        },
    )
    .await;
    assert_eq!(logger_stat(&spooled, "reporting", "written"), 0);
    assert_eq!(logger_stat(&spooled, "reporting", "discarded_overflow"), 0);
    assert!(logger_stat(&spooled, "reporting", "retried") > 0);
    assert_eq!(logger_json(&spooled, "reporting")["sink_state"], "failing");

    // Killed while the spool holds every event; the sink comes back.
    serve.signal("KILL").expect("kill -KILL");
    serve.wait(Duration::from_secs(10)).expect("it dies");
    ixn_tests::release_sqlite(holder).await;
    let serve = ServeProcess::start(dir.path(), &config).expect("ixn serve starts again");
    crate::sinks::wait_for(
        Duration::from_secs(60),
        "the spooled events in the table after the restart",
        || {
            let db = db.clone();
            async move {
                let rows = ixn_tests::sqlite_count(&db, RPT_ROWS)
                    .await
                    .map_err(|e| e.to_string())?;
                if rows as u64 == produced {
                    Ok(())
                } else {
                    Err(format!("{rows} of {produced} rows"))
                }
            }
        },
    )
    .await;
    // The writer records the delivery in the spool just after the sink took it.
    crate::sinks::wait_for(Duration::from_secs(30), "the spool emptied", || {
        let (client, base) = (client.clone(), serve.base.clone());
        async move {
            let h = health(&client, &base).await;
            if logger_stat(&h, "reporting", "spool_records") == 0
                && logger_stat(&h, "reporting", "written") == produced
            {
                Ok(())
            } else {
                Err(h.to_string())
            }
        }
    })
    .await;
    // Each event once: the table has one row per (origin, sequence).
    let distinct = ixn_tests::sqlite_count(
        &db,
        "SELECT COUNT(*) FROM (SELECT DISTINCT origin, sequence FROM rpt_interaction)",
    )
    .await
    .expect("count");
    let interaction_rows = ixn_tests::sqlite_count(&db, "SELECT COUNT(*) FROM rpt_interaction")
        .await
        .expect("count");
    assert_eq!(distinct, interaction_rows, "no event twice");
}
