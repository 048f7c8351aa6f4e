//! Several hosts, one PostgreSQL: three `ixn serve` processes share the work
//! of one business process through the `postgres` storage backend while one
//! of them is killed with SIGKILL in the middle of the run.
//!
//! Counted where it arrives: every interaction ends in one final state in
//! the table, no decision is applied twice (no interaction has two
//! `EventProcessingStopped` in the three hosts' event files together), and
//! the survivors finish what the dead host held once its leases expire.
//!
//! Uses the PostgreSQL at `IXN_TEST_PG_URL` (skipped, saying so, when
//! unset), in a schema of its own that is dropped afterwards.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ixn_tests::ServeProcess;
use ixn_tests::pg::{DropSchema, scalar};
use sqlx::{Connection, PgConnection};

/// Interactions of the run: 6 000, or `IXN_HOSTS_INTERACTIONS` (the issue's
/// 100 000 takes about 100 s here, too long for every CI run).
fn interactions() -> usize {
    std::env::var("IXN_HOSTS_INTERACTIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(6_000)
}
const CLIENTS: usize = 12;

/// The one-step process of the other tests (the router stops every
/// interaction) on PostgreSQL, as host `node` of several, with the entry
/// queue in a partition of its own.
fn host_config(url: &str, schema: &str, node: &str) -> String {
    ixn_tests::postgres_host_config(
        url,
        schema,
        node,
        3,
        "\n[[storage.settings.partitions]]\nname = \"inbound\"\nqueues = [\"bp.In\"]",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hosts_share_the_work_and_survive_one_killed() {
    let Ok(url) = std::env::var("IXN_TEST_PG_URL") else {
        eprintln!(
            "SKIPPED three_hosts_share_the_work_and_survive_one_killed: IXN_TEST_PG_URL is not set"
        );
        return;
    };
    let schema = format!("ixn_hosts_{}", std::process::id());
    let total = interactions();
    // Host 1 is killed once a third has stopped.
    let kill_at = (total / 3) as i64;
    let mut conn = PgConnection::connect(&url).await.expect("connect");
    let _drop_schema = DropSchema::now_and_at_end(&mut conn, &url, &schema).await;

    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let mut hosts: Vec<ServeProcess> = dirs
        .iter()
        .enumerate()
        .map(|(n, dir)| {
            let config = host_config(&url, &schema, &format!("pg-host-{n}"));
            assert!(config.contains("plugin = \"postgres\""), "{config}");
            ServeProcess::start(dir.path(), &config).expect("ixn serve")
        })
        .collect();
    let run = Instant::now();
    let bases: Arc<Vec<String>> = Arc::new(hosts.iter().map(|h| h.base.clone()).collect());

    // Clients submit to hosts 0 and 2 in turn; all three claim.
    let next = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (next, bases) = (next.clone(), bases.clone());
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return;
                }
                // Host 1 only claims: no submission of a client is in
                // flight to it when it dies, so every accepted one counts.
                let host = if i % 2 == 0 { 0 } else { 2 };
                let body = ixn_tests::email(&format!("multi-host {i}"));
                let r = http
                    .post(format!("{}/v1/interactions", bases[host]))
                    .json(&body)
                    .send()
                    .await
                    .expect("submit");
                assert_eq!(r.status().as_u16(), 201, "submission {i}");
            }
        }));
    }

    // The per-queue counts `apply` keeps: no scan of the table while it grows.
    let stopped_sql =
        "SELECT COALESCE(SUM(stopped), 0)::bigint FROM \"{schema}\".queue_stopped_counts"
            .replace("{schema}", &schema);
    let held_sql = format!(
        "SELECT COUNT(*) FROM \"{schema}\".interactions WHERE lease_owner LIKE 'pg-host-1/%' AND stopped_at IS NULL"
    );
    let start = Instant::now();
    loop {
        let stopped = scalar(&mut conn, &stopped_sql).await;
        // Killed while it holds leases: its work must come back to the
        // others. Frozen first, and what it holds read once the statements
        // it had sent are done, so that no commit lands between the count
        // and the kill; thawed to try again when it held nothing.
        if stopped >= kill_at && scalar(&mut conn, &held_sql).await > 0 {
            hosts[1].signal("STOP").expect("stop");
            tokio::time::sleep(Duration::from_millis(200)).await;
            if scalar(&mut conn, &held_sql).await > 0 {
                break;
            }
            hosts[1].signal("CONT").expect("cont");
        }
        assert!(
            start.elapsed() < Duration::from_secs(120 + total as u64 / 100),
            "only {stopped} stopped; host 0 logged: {:#?}",
            hosts[0]
                .log
                .lock()
                .map(|l| l.iter().rev().take(15).cloned().collect::<Vec<_>>())
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    hosts[1].signal("KILL").expect("kill");
    let _ = hosts[1].wait(Duration::from_secs(10));
    let held = scalar(&mut conn, &held_sql).await;
    for c in clients {
        c.await.expect("client");
    }

    // The survivors finish everything, the dead host's leases included.
    let start = Instant::now();
    loop {
        let stopped = scalar(&mut conn, &stopped_sql).await;
        if stopped as usize >= total {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180 + total as u64 / 100),
            "only {stopped} of {total} stopped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for n in [0, 2] {
        hosts[n].signal("TERM").expect("term");
        hosts[n]
            .wait(Duration::from_secs(60))
            .expect("graceful stop");
    }

    let count = |sql: &str| sql.replace("{schema}", &schema);
    let rows = scalar(
        &mut conn,
        &count("SELECT COUNT(*) FROM \"{schema}\".interactions"),
    )
    .await;
    let live = scalar(
        &mut conn,
        &count("SELECT COUNT(*) FROM \"{schema}\".interactions WHERE stopped_at IS NULL"),
    )
    .await;
    let recovered = scalar(
        &mut conn,
        &count("SELECT COUNT(*) FROM \"{schema}\".interactions WHERE lease_expiries > 0"),
    )
    .await;
    let counted = scalar(
        &mut conn,
        &count("SELECT COALESCE(SUM(stopped), 0)::bigint FROM \"{schema}\".queue_stopped_counts"),
    )
    .await;
    assert_eq!(rows as usize, total, "one row per accepted submission");
    assert_eq!(live, 0, "every interaction ended in a final state");
    assert_eq!(counted as usize, total, "each stop counted once");

    // No decision applied twice: no interaction stopped twice in the three
    // hosts' event files together.
    let mut stops: HashMap<String, usize> = HashMap::new();
    for (n, dir) in dirs.iter().enumerate() {
        let text = std::fs::read_to_string(dir.path().join("data/events.jsonl"))
            .unwrap_or_else(|e| panic!("events of host {n}: {e}"));
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue; // the killed host's last line may be cut short
            };
            if v["event_name"] == "EventProcessingStopped"
                && let Some(id) = v["interaction_id"].as_str()
            {
                *stops.entry(id.to_string()).or_default() += 1;
            }
        }
    }
    let twice: Vec<_> = stops.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stopped twice: {twice:?}");

    // Every row is in the entry queue's partition (the router stops them
    // there), as `ixn partitions` reports.
    let report = std::process::Command::new(ixn_tests::profile_dir().join("ixn"))
        .arg("partitions")
        .arg("--config")
        .arg(dirs[0].path().join("ixn.toml"))
        .output()
        .expect("ixn partitions");
    let report = String::from_utf8_lossy(&report.stdout);
    let rows_of = |table: &str| -> Option<usize> {
        let line = report.lines().find(|l| l.starts_with(table))?;
        line.split_whitespace().nth(2)?.parse().ok()
    };
    assert_eq!(
        rows_of("interactions_part_inbound"),
        Some(total),
        "{report}"
    );
    assert_eq!(rows_of("interactions_default"), Some(0), "{report}");
    // The dead host's events of its last moments never reached its file;
    // every other stop is there once.
    let missing = total - stops.len();
    eprintln!(
        "3 hosts, {total} interactions in {:.1} s: host 1 killed holding {held} leases; \
         {recovered} recovered after their lease expired; {missing} stop events lost with the killed host",
        run.elapsed().as_secs_f64()
    );
    assert!(held > 0, "the killed host held work when it died");
    assert!(
        recovered >= held,
        "the survivors took over what the dead host held ({recovered} of {held})"
    );
}
