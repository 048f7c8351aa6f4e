//! The `event-log` logger on PostgreSQL, end to end: every event the host
//! produces is a row in the reporting tables exactly once, even when the
//! server kills the sink's connections again and again while events flow.
//!
//! Uses the PostgreSQL at `IXN_TEST_PG_URL` (skipped, saying so, when unset),
//! in a schema of its own that is dropped afterwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ixn_tests::TestHost;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::sinks::{config, logger, stats_line, submit_emails, wait_for};

fn pg_url(test: &str) -> Option<String> {
    match std::env::var("IXN_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "SKIPPED {test}: IXN_TEST_PG_URL is not set (`.ci/run` sets it after starting PostgreSQL)"
            );
            None
        }
    }
}

fn pg_logger(url: &str, schema: &str) -> String {
    format!(
        r#"
[[event-logger]]
name = "reporting"
  [event-logger.logger-settings]
  delivery-protocol = "event-log"
  schema-name = "{schema}"
  batch-size = 100
  storing-timeout = 500
  reconnect-timeout = 1
  [event-logger.sink-settings]
  url = "{url}"
  delete-on-stop = false
  delete-custom-after = 0
"#
    )
}

/// (rows, distinct origin/sequence pairs, interactions stopped) in the schema.
async fn stored(url: &str, schema: &str) -> Result<(i64, i64, i64), String> {
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    let all = format!(
        "SELECT origin, sequence, event_name, interaction_id FROM \"{schema}\".rpt_interaction \
         UNION ALL SELECT origin, sequence, event_name, interaction_id FROM \"{schema}\".rpt_agent \
         UNION ALL SELECT origin, sequence, event_name, interaction_id FROM \"{schema}\".rpt_esp \
         UNION ALL SELECT origin, sequence, event_name, interaction_id FROM \"{schema}\".rpt_custom"
    );
    let counted: (i64, i64, i64) = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT COUNT(*), COUNT(DISTINCT (origin, sequence)), \
         COUNT(DISTINCT interaction_id) FILTER (WHERE event_name = 'EventProcessingStopped') FROM ({all}) e"
    )))
    .fetch_one(&mut conn)
    .await
    .map_err(|e| e.to_string())?;
    let _ = conn.close().await;
    Ok(counted)
}

/// Kills every connection of the sql sink (`application_name` ixn-sink-sql)
/// to this database; answers how many it killed.
async fn kill_sink_connections(url: &str) -> Result<u64, sqlx::Error> {
    let mut conn = PgConnection::connect(url).await?;
    let killed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'ixn-sink-sql' AND datname = current_database()) k",
    )
    .fetch_one(&mut conn)
    .await?;
    let _ = conn.close().await;
    Ok(u64::try_from(killed).unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_one_row_in_postgres_though_its_connections_are_killed() {
    const N: usize = 300;
    let test = "every_event_is_one_row_in_postgres_though_its_connections_are_killed";
    let Some(url) = pg_url(test) else { return };
    let schema = format!(
        "ixn_test_{}_{}",
        std::process::id(),
        ixn::ids::new_id().replace('-', "_").to_ascii_lowercase()
    );
    let host = TestHost::start(&config(&pg_logger(&url, &schema)))
        .await
        .expect("host starts");
    let sql = logger(&host, "reporting");
    let bus = host.server.bus().clone();

    // Kill the sink's connections every 200 ms while the work runs.
    let stop = Arc::new(AtomicBool::new(false));
    let killed = Arc::new(AtomicU64::new(0));
    let killer = {
        let (url, stop, killed) = (url.clone(), stop.clone(), killed.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(n) = kill_sink_connections(&url).await {
                    killed.fetch_add(n, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    submit_emails(&host, N, 8).await;
    host.wait_finished("bp.Error", N as u64, Duration::from_secs(60))
        .await
        .expect("all interactions finish");
    // Let the killing go on over a few more writes, then stop it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    killer.await.expect("the killer task");
    let produced = bus.produced();
    assert!(produced >= 6 * N as u64, "{produced} events produced");

    let (url2, schema2) = (url.clone(), schema.clone());
    let counted = wait_for(
        Duration::from_secs(60),
        "every event stored in PostgreSQL",
        || {
            let (url, schema, sql) = (url2.clone(), schema2.clone(), sql.clone());
            async move {
                let counted = stored(&url, &schema).await?;
                if counted.0 as u64 == produced {
                    Ok(counted)
                } else {
                    Err(format!(
                        "{produced} produced, stored {counted:?}; {}",
                        stats_line(&sql)
                    ))
                }
            }
        },
    )
    .await;
    let killed = killed.load(Ordering::Relaxed);
    assert!(killed > 0, "the test killed no connection of the sink");
    assert_eq!(
        counted,
        (produced as i64, produced as i64, N as i64),
        "one row per event, every interaction's stop stored; {} connections killed",
        killed
    );
    let s = sql.stats();
    assert_eq!(
        s.discarded_overflow.load(Ordering::Relaxed),
        0,
        "{}",
        stats_line(&sql)
    );
    assert_eq!(
        s.discarded_rejected.load(Ordering::Relaxed),
        0,
        "{}",
        stats_line(&sql)
    );
    assert_eq!(
        s.dead_lettered.load(Ordering::Relaxed),
        0,
        "{}",
        stats_line(&sql)
    );
    eprintln!(
        "{test}: {produced} events, {killed} sink connections killed; {}",
        stats_line(&sql)
    );

    let TestHost { server, dir, .. } = host;
    server.shutdown().await;
    drop(dir);
    if let Ok(mut conn) = PgConnection::connect(&url).await {
        let _ = sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
        )))
        .execute(&mut conn)
        .await;
    }
}
