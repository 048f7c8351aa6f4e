//! The PostgreSQL storage measured against baselines taken in the same run:
//!
//! ```text
//! cargo bench -p ixn-tests --bench postgres [-- seed claims end-to-end]
//! ```
//!
//! Sections named after `--` run alone (`seed` is [1] and [3]); none, all.
//!
//! On the server at `IXN_TEST_PG_URL` (default the local
//! `postgres://postgres@127.0.0.1:5432/test`), in schemas of its own that
//! are dropped afterwards:
//!
//! 1. **The seed's experiment** ("Important" in "Improving the Performance of
//!    the Interaction Server Database"): 1 000 000 interactions in ten
//!    archive queues and 3 000 in three active queues, in a schema without a
//!    partition plan (the one default partition) and in one whose plan puts
//!    the archive queues and the active queues in partitions of their own.
//!    The same view SELECTs — the claim SELECT of a view on an active queue,
//!    without and with a condition on a custom field — run 3 000 times each
//!    on both; median and p99 of each, and the ratio partitioned / not; the
//!    sorted view again once a claim of it through ixn made its index.
//! 2. **Claims per second**: 100 000 queued interactions in one queue, taken
//!    in batches of 100 by 4 claimers until none is left, through ixn's
//!    `claim` (`PostgresBackend`: SELECT … FOR UPDATE SKIP LOCKED, lease
//!    UPDATE, rows decoded into interactions) and through the bare claim
//!    statement of the peers (one `UPDATE … WHERE id IN (SELECT … FOR
//!    UPDATE SKIP LOCKED) RETURNING *`, rows fetched), from the same process,
//!    best of three runs each; and graphile-worker (npm) on the same server,
//!    tuned as its docs advise (`tests/benches/graphile-worker`; skipped,
//!    saying so, without `node`).
//!    Also ixn's claim followed by a stop decision applied to each claimed
//!    interaction (`apply`, one per batch), which is what a graphile-worker
//!    job's figure counts (fetched, run, completed); and graphile-worker
//!    without its batching too.
//! 3. **Start-up with 1 000 000 stored**: `Server::start` on
//!    `config/postgres.toml` pointed at the unpartitioned schema of (1),
//!    until `/health` answers.
//! 4. **End to end**: `ixn demo` on `config/postgres.toml` (10 000 e-mails,
//!    32 clients, the WASM classifier and router, the event loggers), alone
//!    and with two more `ixn serve` processes claiming from the same schema
//!    (woken by LISTEN/NOTIFY); interactions per second, the 3-host figure
//!    as a ratio of the 1-host one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use std::path::Path;

use ixn::config::{Config, Overrides};
use ixn::demo::DemoArgs;
use ixn::server::Server;
use ixn_plugin_api::storage::{
    ApplyOutcome, ClaimRequest, CustomField, DecisionRecord, FieldType, OpenSettings, Outcome,
    State, StorageBackend,
};
use ixn_storage_postgres::PostgresBackend;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

const ARCHIVED: i64 = 1_000_000;
const ARCHIVE_QUEUES: i64 = 10;
const ACTIVE_QUEUES: [&str; 3] = ["email.Inbound", "email.Billing", "email.Technical"];
const ACTIVE_PER_QUEUE: i64 = 1_000;
const SELECTS: usize = 3_000;

const E2E_INTERACTIONS: usize = 10_000;
const E2E_CLIENTS: usize = 32;

const CLAIMABLE: i64 = 100_000;
const CLAIM_BATCH: u32 = 100;
const CLAIMERS: usize = 4;
const RUNS: usize = 3;

/// graphile-worker's settings without its batching (`bench.mjs` merges them
/// over the tuned ones): no local queue, each completion its own statement,
/// its defaults (the docs' "without batching" run).
const GW_UNBATCHED: &str =
    r#"{"localQueue": {"size": -1}, "completeJobBatchDelay": -1, "failJobBatchDelay": -1}"#;

/// The schemas of a run, dropped at its end.
struct Schemas {
    flat: String,
    parted: String,
    claims: String,
    e2e_one: String,
    e2e_three: String,
}

fn main() -> anyhow::Result<()> {
    let url = std::env::var("IXN_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        if PgConnection::connect(&url).await.is_err() {
            bail!("no PostgreSQL answers at {url} (set IXN_TEST_PG_URL)");
        }
        let name = |what: &str| format!("ixn_bench_{what}_{}", std::process::id());
        let schemas = Schemas {
            flat: name("flat"),
            parted: name("parted"),
            claims: name("claims"),
            e2e_one: name("e2e1"),
            e2e_three: name("e2e3"),
        };
        // `cargo bench` adds `--bench`; the rest name sections.
        let sections: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with("--"))
            .collect();
        let result = run(&url, &schemas, &sections).await;
        for schema in [
            &schemas.flat,
            &schemas.parted,
            &schemas.claims,
            &schemas.e2e_one,
            &schemas.e2e_three,
        ] {
            let _ = execute(&url, &format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")).await;
        }
        result
    })
}

/// The sections the command line names (`seed`: [1] and [3], `claims`:
/// [2], `end-to-end`: [4]), or all of them; each on schemas of its own.
async fn run(url: &str, schemas: &Schemas, sections: &[String]) -> anyhow::Result<()> {
    let wanted = |name: &str| sections.is_empty() || sections.iter().any(|s| s == name);
    if wanted("seed") {
        seed_experiment(url, &schemas.flat, &schemas.parted).await?;
        println!();
    }
    if wanted("claims") {
        claims_per_second(url, &schemas.claims).await?;
        println!();
    }
    if wanted("seed") {
        start_up_with_stored(url, &schemas.flat).await?;
        println!();
    }
    if wanted("end-to-end") {
        end_to_end(url, &schemas.e2e_one, &schemas.e2e_three).await?;
    }
    Ok(())
}

/// [1]
async fn seed_experiment(url: &str, flat: &str, parted: &str) -> anyhow::Result<()> {
    println!(
        "[1] the seed's experiment: {ARCHIVED} interactions in {ARCHIVE_QUEUES} archive queues, {} in {} active queues",
        ACTIVE_PER_QUEUE * ACTIVE_QUEUES.len() as i64,
        ACTIVE_QUEUES.len()
    );
    let archive: Vec<String> = (0..ARCHIVE_QUEUES)
        .map(|q| format!("email.Archive.{q}"))
        .collect();
    for (schema, plan) in [(flat, serde_json::json!([])), (parted, plan_json(&archive))] {
        let t = Instant::now();
        drop(open(url, schema, plan)?);
        fill_seed_experiment(url, schema).await?;
        eprintln!("  filled {schema} in {:.1} s", t.elapsed().as_secs_f64());
    }
    let views = [
        ("claim SELECT, id order", ""),
        (
            "claim SELECT, Category = 'Billing', priority desc",
            "category",
        ),
    ];
    println!(
        "    {:<52} {:>16} {:>16} {:>8}",
        "view SELECT (LIMIT 100), median / p99 in µs", "no plan", "partitioned", "p99 ratio"
    );
    for (name, kind) in views {
        let a = time_view_selects(url, flat, kind).await?;
        let b = time_view_selects(url, parted, kind).await?;
        println!(
            "    {name:<52} {:>7.0} / {:>6.0} {:>7.0} / {:>6.0} {:>8.2}x",
            a.0,
            a.1,
            b.0,
            b.1,
            b.1 / a.1
        );
    }
    // What a claim of the sorted view makes: the view's index.
    for (schema, plan) in [(flat, serde_json::json!([])), (parted, plan_json(&archive))] {
        make_view_index(url, schema, plan).await?;
    }
    let a = time_view_selects(url, flat, "category").await?;
    let b = time_view_selects(url, parted, "category").await?;
    println!(
        "    {:<52} {:>7.0} / {:>6.0} {:>7.0} / {:>6.0} {:>8.2}x",
        "the same, once a claim made the view's index",
        a.0,
        a.1,
        b.0,
        b.1,
        b.1 / a.1
    );

    Ok(())
}

/// [2]
async fn claims_per_second(url: &str, claims: &str) -> anyhow::Result<()> {
    println!(
        "[2] claims per second: {CLAIMABLE} queued in one queue, batches of {CLAIM_BATCH}, {CLAIMERS} claimers, best of {RUNS}"
    );
    drop(open(url, claims, serde_json::json!([]))?);
    let (mut ixn, mut bare, mut ixn_stop) = (0.0f64, 0.0f64, 0.0f64);
    for _ in 0..RUNS {
        fill_claimable(url, claims).await?;
        ixn = ixn.max(claims_through_ixn(url, claims, false)?);
        fill_claimable(url, claims).await?;
        bare = bare.max(claims_bare(url, claims).await?);
        fill_claimable(url, claims).await?;
        ixn_stop = ixn_stop.max(claims_through_ixn(url, claims, true)?);
        let mut conn = PgConnection::connect(url).await?;
        let stopped: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM \"{claims}\".interactions WHERE stopped_at IS NOT NULL"
        )))
        .fetch_one(&mut conn)
        .await?;
        anyhow::ensure!(stopped == CLAIMABLE, "{stopped} of {CLAIMABLE} stopped");
    }
    println!(
        "    {:<52} {:>10.0} claims/s  baseline",
        "bare UPDATE … FOR UPDATE SKIP LOCKED RETURNING *", bare
    );
    println!(
        "    {:<52} {:>10.0} claims/s  {:.2}x bare",
        "ixn claim (PostgresBackend::claim)",
        ixn,
        ixn / bare
    );
    println!(
        "    {:<52} {:>10.0} claims/s  {:.2}x bare",
        "ixn claim, then apply a stop to each (a job's life)",
        ixn_stop,
        ixn_stop / bare
    );
    // A graphile-worker job is fetched, run and completed (deleted): its
    // figure is set against ixn's claim and its claim-and-stop.
    for (name, settings) in [
        ("graphile-worker (npm), tuned per its docs", "{}"),
        ("graphile-worker, the same without batching", GW_UNBATCHED),
    ] {
        match graphile_worker(url, settings) {
            Ok(gw) => println!(
                "    {name:<52} {gw:>10.0} jobs/s    ixn claim {:.2}x, claim-and-stop {:.2}x",
                ixn / gw,
                ixn_stop / gw
            ),
            Err(e) => println!("    {name}: skipped: {e:#}"),
        }
    }

    Ok(())
}

/// [3]
async fn start_up_with_stored(url: &str, flat: &str) -> anyhow::Result<()> {
    println!(
        "[3] start-up of `ixn serve` with {} stored (config/postgres.toml, no plan)",
        ARCHIVED + ACTIVE_PER_QUEUE * ACTIVE_QUEUES.len() as i64
    );
    let started = start_up(url, flat).await?;
    println!(
        "    Server::start until /health answers          {:>10.0} ms",
        started.as_secs_f64() * 1000.0
    );

    Ok(())
}

/// [4]
async fn end_to_end(url: &str, e2e_one: &str, e2e_three: &str) -> anyhow::Result<()> {
    println!(
        "[4] end to end: `ixn demo` on config/postgres.toml, {E2E_INTERACTIONS} e-mails from {E2E_CLIENTS} clients through the sample business process"
    );
    let one = demo_on_hosts(url, e2e_one, 1).await?;
    println!(
        "    {:<52} {:>10.0} interactions/s  baseline",
        "1 host (the demo's own)", one
    );
    let three = demo_on_hosts(url, e2e_three, 3).await?;
    println!(
        "    {:<52} {:>10.0} interactions/s  {:.2}x 1 host",
        "3 hosts (the demo's and 2 `ixn serve` claiming too)",
        three,
        three / one
    );
    Ok(())
}

/// `ixn demo` on `config/postgres.toml` in `schema`, with `hosts - 1` more
/// `ixn serve` processes on the same schema sharing the work (the demo
/// submits to its own host only; every host's views claim); the demo's
/// interactions per second, once it checked every e-mail stopped.
async fn demo_on_hosts(url: &str, schema: &str, hosts: usize) -> anyhow::Result<f64> {
    execute(url, &format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")).await?;
    let dir = tempfile::tempdir()?;
    let mut others = Vec::new();
    for n in 2..=hosts {
        let host_dir = dir.path().join(format!("host-{n}"));
        std::fs::create_dir_all(&host_dir)?;
        let config = e2e_config(
            url,
            schema,
            &format!("ixn-bench-{n}"),
            &host_dir.join("data"),
        )?;
        others.push(ixn_tests::ServeProcess::start(&host_dir, &config)?);
    }
    let path = dir.path().join("demo.toml");
    std::fs::write(
        &path,
        e2e_config(url, schema, "ixn-bench-1", &dir.path().join("data"))?,
    )?;
    let args = DemoArgs {
        interactions: E2E_INTERACTIONS,
        clients: E2E_CLIENTS,
        seed: 7,
        json: false,
        stall_timeout: 120,
    };
    let demo = ixn::demo::run_demo(&path, &args).await;
    for host in &mut others {
        host.signal("TERM")?;
        host.wait(Duration::from_secs(60))?;
    }
    let demo = demo.context("ixn demo")?;
    if demo.submitted != E2E_INTERACTIONS
        || demo.stopped as usize != E2E_INTERACTIONS
        || demo.in_error != 0
    {
        bail!(
            "the demo on {hosts} hosts did not process every e-mail: {} submitted, {} stopped, {} in error",
            demo.submitted,
            demo.stopped,
            demo.in_error
        );
    }
    Ok(demo.interactions_per_sec)
}

/// `config/postgres.toml` on the server at `url`, in `schema`, with the
/// components (and every other `../target/` path) where the build put them.
fn postgres_toml(url: &str, schema: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(ixn_tests::repo_root().join("config/postgres.toml"))?;
    let text = replace(
        text,
        "url = \"postgres://postgres@127.0.0.1:5432/test\"",
        &format!("url = \"{url}\""),
    )?;
    let text = replace(
        text,
        "schema = \"ixn_demo\"",
        &format!("schema = \"{schema}\""),
    )?;
    replace(
        text,
        "\"../target/",
        &format!("\"{}/", target_dir().display()),
    )
}

/// The workspace's `target` directory.
fn target_dir() -> std::path::PathBuf {
    ixn_tests::repo_root().join("target")
}

/// `text` with `from` replaced by `to`; an error when `from` is not there
/// (`config/postgres.toml` changed under the benchmark).
fn replace(text: String, from: &str, to: &str) -> anyhow::Result<String> {
    anyhow::ensure!(text.contains(from), "config/postgres.toml has no `{from}`");
    Ok(text.replace(from, to))
}

/// [`postgres_toml`] as host `node`, its data in `data_dir`, on a free port.
fn e2e_config(url: &str, schema: &str, node: &str, data_dir: &Path) -> anyhow::Result<String> {
    let text = postgres_toml(url, schema)?;
    let text = replace(
        text,
        "node-id = \"ixn-pg-1\"",
        &format!("node-id = \"{node}\""),
    )?;
    let text = replace(
        text,
        "listen = \"127.0.0.1:7480\"",
        "listen = \"127.0.0.1:0\"",
    )?;
    replace(
        text,
        &format!(
            "data-dir = \"{}\"",
            target_dir().join("ixn-data-postgres").display()
        ),
        &format!("data-dir = \"{}\"", data_dir.display()),
    )
}

/// The partition plan of the partitioned schema.
fn plan_json(archive: &[String]) -> serde_json::Value {
    serde_json::json!([
        { "name": "archive", "queues": archive },
        { "name": "active", "queues": ACTIVE_QUEUES },
    ])
}

/// One claim of the priority-ordered view through ixn (on an empty queue,
/// so nothing is leased), then waits until the index it starts is made.
async fn make_view_index(url: &str, schema: &str, plan: serde_json::Value) -> anyhow::Result<()> {
    let (u, s) = (url.to_string(), schema.to_string());
    let backend = tokio::task::spawn_blocking(move || -> anyhow::Result<PostgresBackend> {
        let backend = open(&u, &s, plan)?;
        backend
            .claim(ClaimRequest {
                queue: "email.None".into(),
                state: State::Routing,
                condition: None,
                order: vec![ixn_plugin_api::storage::OrderBy {
                    column: "priority".into(),
                    descending: true,
                }],
                limit: 1,
                owner: "bench".into(),
                lease_ms: 1000,
                now: 1_800_000_000_000,
            })
            .map_err(|e| anyhow::anyhow!("claim: {e}"))?;
        Ok(backend)
    })
    .await??;
    let mut conn = PgConnection::connect(url).await?;
    let start = Instant::now();
    loop {
        let valid: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid \
             WHERE c.relnamespace = $1::regnamespace AND c.relname LIKE 'interactions_view_%' \
               AND c.relkind = 'I' AND i.indisvalid",
        )
        .bind(schema)
        .fetch_one(&mut conn)
        .await?;
        if valid > 0 {
            break;
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(300),
            "no view index in {schema}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::task::spawn_blocking(move || drop(backend)).await?;
    eprintln!(
        "  view index of {schema} made in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The custom fields of `config/postgres.toml`.
fn custom_fields() -> Vec<CustomField> {
    let field = |key: &str, column: &str, length| CustomField {
        key: key.into(),
        column: column.into(),
        field_type: FieldType::Text,
        length,
        to_delete: false,
    };
    vec![
        field("Category", "category", 32),
        field("Language", "language", 8),
    ]
}

/// Opens (creating and migrating) `schema` with `plan`.
fn open(url: &str, schema: &str, plan: serde_json::Value) -> anyhow::Result<PostgresBackend> {
    PostgresBackend::open(OpenSettings {
        settings: serde_json::json!({ "url": url, "schema": schema, "partitions": plan })
            .to_string(),
        custom_fields: custom_fields(),
    })
    .map_err(|e| anyhow::anyhow!("open {schema}: {e}"))
}

async fn execute(url: &str, sql: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(url).await?;
    sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .map_err(|e| anyhow::anyhow!("{e}: {}", sql.chars().take(80).collect::<String>()))?;
    Ok(())
}

/// `n` queued interactions numbered from `first`, in `queue_expr` (SQL over `g`).
fn insert_sql(prefix: &str, first: i64, n: i64, queue_expr: &str) -> String {
    format!(
        "INSERT INTO interactions (id, tenant, media_type, interaction_type, interaction_subtype, \
           queue, priority, submitted_by, submitted_at, placed_in_queue_at, category) \
         SELECT '{prefix}-' || lpad(g::text, 8, '0'), 'Resources', 'email', 'Inbound', 'InboundNew', \
           {queue_expr}, g % 5, 'bench', 1700000000000 + g, 1700000000000 + g, \
           (ARRAY['Billing','Technical','Sales','General'])[1 + g % 4] \
         FROM generate_series({first}, {}) g;",
        first + n - 1
    )
}

async fn fill_seed_experiment(url: &str, schema: &str) -> anyhow::Result<()> {
    let mut sql = format!("SET search_path TO \"{schema}\";");
    sql += &insert_sql(
        "arch",
        1,
        ARCHIVED,
        &format!("'email.Archive.' || (g % {ARCHIVE_QUEUES})"),
    );
    let active = ACTIVE_QUEUES.map(|q| format!("'{q}'")).join(", ");
    sql += &insert_sql(
        "act",
        1,
        ACTIVE_PER_QUEUE * ACTIVE_QUEUES.len() as i64,
        &format!("(ARRAY[{active}])[1 + g % {}]", ACTIVE_QUEUES.len()),
    );
    sql += "INSERT INTO interaction_ids (id) SELECT id FROM interactions;";
    execute(url, &sql).await?;
    vacuum_analyze(url, schema).await
}

/// Statistics for the planner (this server runs without autovacuum), and
/// the visibility map index-only scans use. Alone: VACUUM refuses to run in
/// the implicit transaction of a multi-statement string.
async fn vacuum_analyze(url: &str, schema: &str) -> anyhow::Result<()> {
    execute(url, &format!("VACUUM ANALYZE \"{schema}\".interactions")).await
}

/// Median and p99 in µs of `SELECTS` view SELECTs round the active queues.
async fn time_view_selects(url: &str, schema: &str, kind: &str) -> anyhow::Result<(f64, f64)> {
    let mut conn = PgConnection::connect(url).await?;
    sqlx::raw_sql(AssertSqlSafe(format!("SET search_path TO \"{schema}\"")))
        .execute(&mut conn)
        .await?;
    // The SELECT of ixn's claim (claim.rs) for a view of each kind.
    let sql = match kind {
        "" => {
            "SELECT * FROM interactions WHERE queue = $1 AND state = 0 AND is_locked = 0 \
               AND stopped_at IS NULL AND workbin IS NULL AND (scheduled_at IS NULL OR scheduled_at <= $2) \
               ORDER BY id LIMIT 100"
        }
        _ => {
            "SELECT * FROM interactions WHERE queue = $1 AND state = 0 AND is_locked = 0 \
              AND stopped_at IS NULL AND workbin IS NULL AND (scheduled_at IS NULL OR scheduled_at <= $2) \
              AND (category = 'Billing') ORDER BY priority DESC NULLS LAST, id LIMIT 100"
        }
    };
    let mut times = Vec::with_capacity(SELECTS);
    for i in 0..SELECTS + 200 {
        let queue = ACTIVE_QUEUES[i % ACTIVE_QUEUES.len()];
        let t = Instant::now();
        let rows = sqlx::query(sql)
            .bind(queue)
            .bind(1_800_000_000_000i64)
            .fetch_all(&mut conn)
            .await?;
        let took = t.elapsed();
        anyhow::ensure!(!rows.is_empty(), "no rows in {queue} of {schema}");
        if i >= 200 {
            times.push(took.as_secs_f64() * 1e6);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], times[times.len() * 99 / 100]))
}

/// `CLAIMABLE` queued interactions in `bench.In`, nothing else.
async fn fill_claimable(url: &str, schema: &str) -> anyhow::Result<()> {
    let sql = format!(
        "SET search_path TO \"{schema}\"; TRUNCATE interactions, interaction_ids; {} \
         INSERT INTO interaction_ids (id) SELECT id FROM interactions;",
        insert_sql("claim", 1, CLAIMABLE, "'bench.In'")
    );
    execute(url, &sql).await?;
    vacuum_analyze(url, schema).await
}

/// Claims through `PostgresBackend::claim` from `CLAIMERS` threads until the
/// queue is empty, with `stop` applying a stop decision to every claimed
/// interaction (one `apply` per batch) before the next claim; claims per second.
fn claims_through_ixn(url: &str, schema: &str, stop: bool) -> anyhow::Result<f64> {
    let backend = Arc::new(open(url, schema, serde_json::json!([]))?);
    let claimed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..CLAIMERS)
        .map(|t| {
            let (backend, claimed) = (backend.clone(), claimed.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                loop {
                    let got = backend
                        .claim(ClaimRequest {
                            queue: "bench.In".into(),
                            state: State::Routing,
                            condition: None,
                            order: Vec::new(),
                            limit: CLAIM_BATCH,
                            owner: format!("bench/{t}"),
                            lease_ms: 60_000,
                            now: 1_800_000_000_000,
                        })
                        .map_err(|e| anyhow::anyhow!("claim: {e}"))?;
                    if got.is_empty() {
                        return Ok(());
                    }
                    claimed.fetch_add(got.len() as u64, Ordering::Relaxed);
                    if stop {
                        let decisions = got
                            .iter()
                            .map(|i| DecisionRecord {
                                id: i.id.clone(),
                                owner: format!("bench/{t}"),
                                outcome: Outcome::Stop("done".into()),
                                set_properties: Vec::new(),
                                remove_properties: Vec::new(),
                                component_version: None,
                                now: 1_800_000_000_001,
                            })
                            .collect();
                        let outcomes = backend
                            .apply(decisions)
                            .map_err(|e| anyhow::anyhow!("apply: {e}"))?;
                        anyhow::ensure!(
                            outcomes.iter().all(|o| *o == ApplyOutcome::Applied),
                            "a stop was not applied: {outcomes:?}"
                        );
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join()
            .map_err(|_| anyhow::anyhow!("a claimer panicked"))??;
    }
    let elapsed = start.elapsed();
    let n = claimed.load(Ordering::Relaxed);
    anyhow::ensure!(n == CLAIMABLE as u64, "ixn claimed {n} of {CLAIMABLE}");
    Ok(n as f64 / elapsed.as_secs_f64())
}

/// The peers' claim statement, from `CLAIMERS` connections until the queue
/// is empty; claims per second.
async fn claims_bare(url: &str, schema: &str) -> anyhow::Result<f64> {
    let sql = "UPDATE interactions SET state = 2, lease_owner = $2, lease_until = $3 \
               WHERE id IN (SELECT id FROM interactions WHERE queue = $1 AND state = 0 AND is_locked = 0 \
                 AND stopped_at IS NULL ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) \
               RETURNING *";
    let mut tasks = Vec::new();
    let start = Instant::now();
    for t in 0..CLAIMERS {
        let (url, schema) = (url.to_string(), schema.to_string());
        tasks.push(tokio::spawn(async move {
            let mut conn = PgConnection::connect(&url).await?;
            sqlx::raw_sql(AssertSqlSafe(format!("SET search_path TO \"{schema}\"")))
                .execute(&mut conn)
                .await?;
            let mut claimed = 0u64;
            loop {
                let rows = sqlx::query(sql)
                    .bind("bench.In")
                    .bind(format!("bare/{t}"))
                    .bind(1_800_000_060_000i64)
                    .bind(i64::from(CLAIM_BATCH))
                    .fetch_all(&mut conn)
                    .await?;
                if rows.is_empty() {
                    return anyhow::Ok(claimed);
                }
                claimed += rows.len() as u64;
            }
        }));
    }
    let mut n = 0;
    for t in tasks {
        n += t.await??;
    }
    let elapsed = start.elapsed();
    anyhow::ensure!(n == CLAIMABLE as u64, "bare claimed {n} of {CLAIMABLE}");
    Ok(n as f64 / elapsed.as_secs_f64())
}

/// graphile-worker's jobs per second on the same server (its own schema),
/// best of `RUNS`, installing its npm package on first use.
fn graphile_worker(url: &str, settings: &str) -> anyhow::Result<f64> {
    let dir = ixn_tests::repo_root().join("tests/benches/graphile-worker");
    which("node")?;
    if !dir.join("node_modules").is_dir() {
        let status = std::process::Command::new("npm")
            .args(["ci", "--silent", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .context("npm ci")?;
        anyhow::ensure!(status.success(), "npm ci in {} failed", dir.display());
    }
    let mut best = 0.0f64;
    for _ in 0..RUNS {
        let out = std::process::Command::new("node")
            .arg("bench.mjs")
            .arg(url)
            .arg(CLAIMABLE.to_string())
            .env("GW_BENCH_SETTINGS", settings)
            .current_dir(&dir)
            .stderr(std::process::Stdio::inherit())
            .output()
            .context("node bench.mjs")?;
        anyhow::ensure!(out.status.success(), "bench.mjs: {}", out.status);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout.lines().last().context("bench.mjs printed nothing")?;
        let v: serde_json::Value = serde_json::from_str(last).context("bench.mjs's last line")?;
        let rate = v["jobs_per_second"]
            .as_f64()
            .context("no jobs_per_second")?;
        best = best.max(rate);
    }
    Ok(best)
}

fn which(program: &str) -> anyhow::Result<()> {
    let found = std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    anyhow::ensure!(found, "`{program}` is not installed");
    Ok(())
}

/// `config/postgres.toml` on `schema`, without its partition plan (the
/// schema has none: a plan would move rows at start), in a data directory of
/// its own on a free port; the time from `Server::start` to a `/health` answer.
async fn start_up(url: &str, schema: &str) -> anyhow::Result<Duration> {
    let text = postgres_toml(url, schema)?;
    let plan_at = text
        .find("[[storage.settings.partitions]]")
        .context("no plan in config/postgres.toml")?;
    let wasm_at = text
        .find("[wasm]")
        .context("no [wasm] in config/postgres.toml")?;
    let text = format!("{}{}", &text[..plan_at], &text[wasm_at..]);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ixn.toml");
    std::fs::write(&path, text)?;
    let overrides = Overrides {
        data_dir: Some(dir.path().join("data")),
        listen: Some(([127, 0, 0, 1], 0).into()),
    };
    let config = Config::load_with(&path, &overrides)?;
    let client = reqwest::Client::new();
    let started = Instant::now();
    let server = Server::start(config, &ixn::builtins::registry()).await?;
    let health = client
        .get(format!("http://{}/health", server.addr()))
        .send()
        .await?;
    let took = started.elapsed();
    anyhow::ensure!(health.status().is_success(), "/health: {}", health.status());
    server.shutdown().await;
    Ok(took)
}
