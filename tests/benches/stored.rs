//! What an idle server costs as stopped interactions pile up:
//!
//! ```text
//! cargo bench -p ixn-tests --bench stored
//! ```
//!
//! For 10 000 and then 1 000 000 stopped interactions in the SQLite storage
//! of `config/ixn.toml` (the sample business process, its views polling every
//! 0.5 s, both event loggers), a host is started in this process on that data
//! and, with nothing to do, measured for
//!
//! - start-up: `Server::start` until `/health` answers;
//! - idle CPU: the process's user + system time over 10 s of wall time, as a
//!   share of one core (the depth refresh, the views' polls, the recovery);
//! - `GET /v1/queues`: median latency of 31 requests.
//!
//! Each figure is printed with its ratio of 1 000 000 to 10 000 stored. The
//! baseline, measured in the same run on the same file, is the query the
//! host ran before issue 6 — `SELECT queue, COUNT(*) … GROUP BY queue` over
//! the whole table, once per second for the depths and once per
//! `/v1/queues` — which is what grew with what is stored.
//!
//! The rows are written with one SQL statement, as `apply` leaves stopped
//! interactions (in their last queue, `stopped_at` set, unleased), and
//! `queue_stopped_counts` is set to match, as `apply` keeps it.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use ixn::config::{Config, Overrides};
use ixn::server::Server;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

const SIZES: [u64; 2] = [10_000, 1_000_000];
const IDLE_WINDOW: Duration = Duration::from_secs(10);
const QUEUE_REQUESTS: usize = 31;
/// Where the stopped interactions stay.
const QUEUE: &str = "email.General";

/// One size's figures.
struct Figures {
    stored: u64,
    start_up: Duration,
    idle_cpu: f64,
    queues_latency: Duration,
    full_count: Duration,
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut figures = Vec::new();
    for stored in SIZES {
        let dir = tempfile::tempdir()?;
        figures.push(runtime.block_on(measure(dir.path(), stored))?);
    }
    print(&figures);
    Ok(())
}

fn config(data_dir: &Path) -> anyhow::Result<Config> {
    let path = ixn_tests::repo_root().join("config/ixn.toml");
    let overrides = Overrides {
        data_dir: Some(data_dir.to_path_buf()),
        listen: Some(([127, 0, 0, 1], 0).into()),
    };
    Config::load_with(&path, &overrides).with_context(|| format!("loading {}", path.display()))
}

async fn measure(dir: &Path, stored: u64) -> anyhow::Result<Figures> {
    // A first start makes the schema; then the stopped rows go in.
    let server = Server::start(config(dir)?, &ixn::builtins::registry()).await?;
    server.shutdown().await;
    let db = dir.join("ixn.db");
    fill(&db, stored).await?;
    let full_count = time_full_count(&db).await?;

    let client = reqwest::Client::new();
    let started = Instant::now();
    let server = Server::start(config(dir)?, &ixn::builtins::registry()).await?;
    let base = format!("http://{}", server.addr());
    let health = client.get(format!("{base}/health")).send().await?;
    anyhow::ensure!(health.status().is_success(), "/health: {}", health.status());
    let start_up = started.elapsed();

    // Let the first polls and refreshes pass, then measure a quiet window.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu_before = process_cpu()?;
    let wall = Instant::now();
    tokio::time::sleep(IDLE_WINDOW).await;
    let idle_cpu = (process_cpu()? - cpu_before).as_secs_f64() / wall.elapsed().as_secs_f64();

    let mut latencies = Vec::new();
    for _ in 0..QUEUE_REQUESTS {
        let t = Instant::now();
        let r = client.get(format!("{base}/v1/queues")).send().await?;
        anyhow::ensure!(r.status().is_success(), "/v1/queues: {}", r.status());
        let body: serde_json::Value = r.json().await?;
        latencies.push(t.elapsed());
        let shown: u64 = body["queues"]
            .as_array()
            .context("no queues")?
            .iter()
            .filter_map(|q| q["stopped"].as_u64())
            .sum();
        anyhow::ensure!(
            shown == stored,
            "/v1/queues shows {shown} stopped of {stored}"
        );
    }
    latencies.sort();
    server.shutdown().await;
    Ok(Figures {
        stored,
        start_up,
        idle_cpu,
        queues_latency: latencies[latencies.len() / 2],
        full_count,
    })
}

/// Writes `n` stopped interactions and the per-queue count `apply` keeps.
async fn fill(db: &Path, n: u64) -> anyhow::Result<()> {
    let mut conn =
        SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(db)).await?;
    let mut tx = conn.begin().await?;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
         INSERT INTO interactions (id, tenant, media_type, interaction_type, interaction_subtype, \
           queue, submitted_by, submitted_at, placed_in_queue_at, stopped_at, stop_reason) \
         SELECT printf('stored-%08d', i), 'Resources', 'email', 'Inbound', 'InboundNew', ?2, \
           'bench', 1700000000000 + i, 1700000000000 + i, 1700000001000 + i, 'done' FROM n",
    )
    .bind(n as i64)
    .bind(QUEUE)
    .execute(&mut *tx)
    .await
    .context("filling interactions")?;
    sqlx::query(
        "INSERT INTO queue_stopped_counts (queue, stopped) VALUES (?1, ?2) \
         ON CONFLICT (queue) DO UPDATE SET stopped = stopped + excluded.stopped",
    )
    .bind(QUEUE)
    .bind(n as i64)
    .execute(&mut *tx)
    .await
    .context("setting the stopped count")?;
    tx.commit().await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// Median time of the whole-table count the host used to run.
async fn time_full_count(db: &Path) -> anyhow::Result<Duration> {
    let mut conn =
        SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(db)).await?;
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT queue, COUNT(*) FROM interactions GROUP BY queue")
                .fetch_all(&mut conn)
                .await?;
        times.push(t.elapsed());
        std::hint::black_box(rows);
    }
    conn.close().await?;
    times.sort();
    Ok(times[times.len() / 2])
}

/// User + system CPU time of this process so far, from `/proc/self/stat`.
fn process_cpu() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces) closed by ')'.
    let rest = stat.rsplit_once(')').context("odd /proc/self/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<u64> {
        Ok(fields.get(i).context("short /proc/self/stat")?.parse()?)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'.
    let total = ticks(11)? + ticks(12)?;
    let hz = 100; // USER_HZ, fixed at 100 on Linux
    Ok(Duration::from_millis(total * 1000 / hz))
}

fn print(figures: &[Figures]) {
    let [small, large] = figures else { return };
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("cost of an idle host against what is stored (SQLite, config/ixn.toml)");
    println!(
        "                                        {:>12} {:>12}   ratio",
        format!("{} stored", small.stored),
        format!("{} stored", large.stored)
    );
    println!(
        "  start-up to /health                   {:>9.1} ms {:>9.1} ms   {:.2}x",
        ms(small.start_up),
        ms(large.start_up),
        ratio(ms(large.start_up), ms(small.start_up))
    );
    println!(
        "  idle CPU, share of one core           {:>10.1} % {:>10.1} %   {:.2}x",
        small.idle_cpu * 100.0,
        large.idle_cpu * 100.0,
        ratio(large.idle_cpu, small.idle_cpu)
    );
    println!(
        "  GET /v1/queues, median of {QUEUE_REQUESTS}          {:>9.2} ms {:>9.2} ms   {:.2}x",
        ms(small.queues_latency),
        ms(large.queues_latency),
        ratio(ms(large.queues_latency), ms(small.queues_latency))
    );
    println!(
        "  baseline: whole-table GROUP BY count  {:>9.2} ms {:>9.2} ms   {:.2}x",
        ms(small.full_count),
        ms(large.full_count),
        ratio(ms(large.full_count), ms(small.full_count))
    );
    println!(
        "  baseline time / GET /v1/queues time   {:>11.1}x {:>11.1}x",
        ratio(ms(small.full_count), ms(small.queues_latency)),
        ratio(ms(large.full_count), ms(large.queues_latency))
    );
    println!(
        "  the baseline once a second (the old depth refresh) would cost {:.1} % of a core at {} stored",
        ms(large.full_count) / 10.0,
        large.stored
    );
}
