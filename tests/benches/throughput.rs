//! Throughput of ixn, each figure next to a baseline measured in the same run:
//!
//! ```text
//! cargo bench -p ixn-tests --bench throughput
//! ```
//!
//! 1. **One WASM `handle` call against the same logic in native Rust.** The
//!    classifier component (`ixn_bp_artifacts::CLASSIFIER`) runs in the host's own
//!    runtime (`WasmEngine`, `BpComponent`) with the `[wasm]` limits and the
//!    `[strategy.classifier.config]` table of `config/ixn.toml`, on demo e-mails in
//!    rotation. The baseline calls the component's decision logic
//!    (`bp-examples/components/classifier/src/logic.rs`, compiled natively into
//!    this benchmark) on the same e-mails and builds the same `decision` value.
//!    A second line shows the cost with a fresh instance per call
//!    (`recycle-after-calls = 1`) against pooled instances.
//! 2. **End to end.** `ixn::demo::run_demo` on `config/ixn.toml`, in process: a
//!    real host on a free port, 10 000 e-mails submitted through the HTTP API by
//!    32 clients, the sample business process run until every e-mail stopped. The
//!    baseline is the storage work the process needs, as the fewest SQL statements
//!    that do it, with sqlx on a fresh SQLite file (WAL, `synchronous = NORMAL`, one
//!    connection, the same table and indexes): one 500-row `INSERT` per transaction,
//!    then a classify pass and an acknowledge pass, each a loop of one claim
//!    (`UPDATE … WHERE id IN (SELECT … LIMIT 200) RETURNING …`, setting the lease)
//!    and one `UPDATE` that moves or stops the claimed rows. It leaves out what
//!    the host adds around that: HTTP, attached-data rewrites, events, the WASM
//!    calls.
//!
//! Method: a plain `main`, not criterion's sampler, because the end-to-end run is
//! one long measurement and every figure must be printed with its ratio. The
//! per-call figures are medians over several rounds in which the variants
//! alternate, after a warm-up that also sizes the rounds; the spread printed next
//! to them is the fastest and slowest round. Before timing, every e-mail's WASM
//! decision is checked against the native one, and the end-to-end runs are checked
//! to have stopped every e-mail, so that the figures compare the same work.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ixn::config::{Config, StrategyConfig, WasmConfig};
use ixn::demo::DemoArgs;
use ixn::wasm::bindings as bp;
use ixn::wasm::{BpComponent, HostEnv, WasmEngine};
use serde_json::{Value as Json, json};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, Row};

// The classifier's decision logic, compiled natively. The benchmark uses only part of it.
#[allow(dead_code)]
#[path = "../../bp-examples/components/classifier/src/logic.rs"]
mod classifier_logic;

use classifier_logic::Choice;

/// Distinct demo e-mails the per-call measurements rotate through.
const MAILS: usize = 256;
/// Seed of the demo e-mail generator (the same as `ixn demo`'s default).
const SEED: u64 = 7;
/// Timed rounds per variant.
const ROUNDS: usize = 7;
/// Wall time of one round of one variant.
const ROUND_TIME: Duration = Duration::from_millis(150);
/// Wall time of the warm-up that sizes the rounds.
const WARM_UP: Duration = Duration::from_millis(150);

/// The end-to-end run.
const INTERACTIONS: usize = 10_000;
const CLIENTS: usize = 32;
/// Rows per insert transaction of the raw-SQL baseline.
const INSERT_BATCH: usize = 500;
/// Rows per claim of the raw-SQL baseline, as `limit = 200` of the demo's views.
const CLAIM_BATCH: usize = 200;

fn main() -> anyhow::Result<()> {
    let root = ixn_tests::repo_root();
    let config_path = root.join("config/ixn.toml");
    let config =
        Config::load(&config_path).with_context(|| format!("loading {}", config_path.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    println!("ixn throughput benchmark: every figure with its baseline from this run");
    println!();
    wasm_vs_native(&config)?;
    println!();
    runtime.block_on(end_to_end(&config_path))?;
    Ok(())
}

// -------------------------------------------------------------------------------------
// 1. One WASM `handle` call against native Rust
// -------------------------------------------------------------------------------------

fn wasm_vs_native(config: &Config) -> anyhow::Result<()> {
    let strategy = config
        .strategies
        .get("classifier")
        .context("config/ixn.toml has no [strategy.classifier]")?;
    let strategy = StrategyConfig {
        name: strategy.name.clone(),
        component: ixn_bp_artifacts::CLASSIFIER.into(),
        config: strategy.config.clone(),
        canary: None,
    };
    let cache = tempfile::tempdir()?;
    let env = Arc::new(HostEnv::new(config.lookup_tables.clone(), []));
    let wasm = |recycle_after_calls: u64| WasmConfig {
        cache_dir: cache.path().to_path_buf(),
        recycle_after_calls,
        ..config.wasm.clone()
    };
    let load = |recycle_after_calls: u64| -> anyhow::Result<Arc<BpComponent>> {
        let engine = WasmEngine::new(&wasm(recycle_after_calls))?;
        Ok(BpComponent::load(&engine, &env, &strategy)?)
    };
    let pooled = load(config.wasm.recycle_after_calls)?;
    let fresh = load(1)?;
    let native_config = classifier_logic::Config::from_table(strategy.config.clone())
        .map_err(|e| anyhow::anyhow!("classifier config: {e}"))?;

    let interactions: Vec<bp::Interaction> = ixn::demo::generate(MAILS, SEED)
        .iter()
        .map(to_bp_interaction)
        .collect();
    let context = bp::ViewContext {
        business_process: "email".into(),
        queue: "email.Inbound".into(),
        view: "classify".into(),
        now: ixn::time::now_ms(),
    };

    // Same work on both sides: the component must decide exactly what the native logic does.
    for ix in &interactions {
        let native = native_handle(&native_config, ix);
        for (what, component) in [("pooled", &pooled), ("fresh", &fresh)] {
            let wasm = component.handle(ix, &context).map_err(|e| e.to_string());
            if format!("{wasm:?}") != format!("{native:?}") {
                bail!(
                    "{what} WASM and native decisions differ for {:?}:\n  wasm   {wasm:?}\n  native {native:?}",
                    ix.properties
                );
            }
            // A pool that miscounts its instances blocks a later call for ever: stop here instead.
            let live = component.live_instances();
            if live > config.wasm.instances_per_component {
                bail!("the {what} component counts {live} live instances, more than its limit");
            }
        }
    }

    let n = interactions.len();
    let recycle = config.wasm.recycle_after_calls;
    let mut variants: Vec<Variant> = vec![
        Variant::new(
            "native Rust: logic.rs + the same decision value".into(),
            |i| {
                black_box(native_handle(
                    &native_config,
                    black_box(&interactions[i % n]),
                ))
                .map(drop)
                .map_err(|e| anyhow::anyhow!(e))
            },
        ),
        Variant::new(
            format!("WASM `handle`, pooled instances (recycle after {recycle})"),
            |i| {
                black_box(pooled.handle(black_box(&interactions[i % n]), &context))
                    .map(drop)
                    .map_err(Into::into)
            },
        ),
        Variant::new(
            "WASM `handle`, fresh instance per call (recycle after 1)".into(),
            |i| {
                black_box(fresh.handle(black_box(&interactions[i % n]), &context))
                    .map(drop)
                    .map_err(Into::into)
            },
        ),
    ];
    measure(&mut variants)?;

    let [native, pooled_ns, fresh_ns] = [0, 1, 2].map(|v| variants[v].median());
    let ratios = [
        "baseline".to_string(),
        format!("{:.2}x native", pooled_ns / native),
        format!(
            "{:.2}x pooled, {:.1}x native",
            fresh_ns / pooled_ns,
            fresh_ns / native
        ),
    ];
    println!(
        "[1] classifier `handle` on {MAILS} demo e-mails in rotation: ns/call, median of {ROUNDS} rounds \
         [fastest, slowest round]"
    );
    for (v, ratio) in variants.iter().zip(ratios) {
        println!(
            "    {:<58} {:>7.0} ns  [{:.0}, {:.0}]  {ratio}",
            v.name,
            v.median(),
            v.min(),
            v.max()
        );
    }
    println!(
        "    (component: wasm32-wasip2 with opt-level \"s\" and LTO, its size profile; native: the bench profile.\n     \
         The WASM figures include the guest's debug-log call and the host's per-call pool and deadline handling.)"
    );
    Ok(())
}

/// A demo submission as the lean record a component gets.
fn to_bp_interaction(mail: &Json) -> bp::Interaction {
    let text = |key: &str| mail[key].as_str().unwrap_or_default().to_string();
    let now = ixn::time::now_ms();
    let properties = mail["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(key, value)| bp::Property {
            key: key.clone(),
            value: bp::Value::Str(value.as_str().unwrap_or_default().to_string()),
        })
        .collect();
    bp::Interaction {
        id: ixn::ids::new_id(),
        tenant: "default".into(),
        media_type: text("media_type"),
        interaction_type: text("interaction_type"),
        interaction_subtype: text("interaction_subtype"),
        queue: "email.Inbound".into(),
        priority: mail["priority"].as_i64().unwrap_or(0) as i32,
        submitted_by: text("submitted_by"),
        submitted_at: now,
        placed_in_queue_at: now,
        properties,
    }
}

/// The component's `handle` as a native function: the same property reads, the
/// same logic, the same decision value (without the guest's debug log line).
fn native_handle(
    config: &classifier_logic::Config,
    ix: &bp::Interaction,
) -> Result<bp::Decision, String> {
    let subject = string_property(ix, "Subject")?;
    let body = string_property(ix, "Body")?;
    let string_value = |key: &str, value: &str| bp::Property {
        key: key.into(),
        value: bp::Value::Str(value.into()),
    };
    Ok(
        match classifier_logic::decide(config, &ix.media_type, subject, body) {
            Choice::NotEmail { queue } => bp::Decision {
                action: bp::Action::MoveToQueue(queue.into()),
                set_properties: Vec::new(),
                remove_properties: Vec::new(),
            },
            Choice::Email {
                category,
                language,
                queue,
            } => bp::Decision {
                action: bp::Action::MoveToQueue(queue.into()),
                set_properties: vec![
                    string_value("Category", category.name()),
                    string_value("Language", language.code()),
                ],
                remove_properties: Vec::new(),
            },
        },
    )
}

fn string_property<'a>(ix: &'a bp::Interaction, key: &str) -> Result<&'a str, String> {
    match ix.properties.iter().find(|p| p.key == key) {
        None => Ok(""),
        Some(bp::Property {
            value: bp::Value::Str(s),
            ..
        }) => Ok(s),
        Some(_) => Err(format!("{key} is not a string")),
    }
}

/// One measured way of making a call; `call(i)` makes call number `i`.
struct Variant<'a> {
    name: String,
    call: Box<dyn FnMut(usize) -> anyhow::Result<()> + 'a>,
    calls_per_round: usize,
    /// Nanoseconds per call of each round.
    rounds: Vec<f64>,
}

impl<'a> Variant<'a> {
    fn new(name: String, call: impl FnMut(usize) -> anyhow::Result<()> + 'a) -> Self {
        Variant {
            name,
            call: Box::new(call),
            calls_per_round: 0,
            rounds: Vec::new(),
        }
    }

    /// Makes `calls` calls; returns nanoseconds per call.
    fn run(&mut self, calls: usize) -> anyhow::Result<f64> {
        let started = Instant::now();
        for i in 0..calls {
            (self.call)(i)?;
        }
        Ok(started.elapsed().as_nanos() as f64 / calls as f64)
    }

    fn sorted(&self) -> Vec<f64> {
        let mut r = self.rounds.clone();
        r.sort_by(f64::total_cmp);
        r
    }

    fn median(&self) -> f64 {
        let r = self.sorted();
        r.get(r.len() / 2).copied().unwrap_or(f64::NAN)
    }

    fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }

    fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }
}

/// Warms every variant up for [`WARM_UP`] (sizing its rounds from the warm-up's
/// rate), then runs [`ROUNDS`] rounds of [`ROUND_TIME`], the variants taking
/// turns so that a slow phase of the machine hits them all alike.
fn measure(variants: &mut [Variant]) -> anyhow::Result<()> {
    for v in variants.iter_mut() {
        let started = Instant::now();
        let mut calls = 0usize;
        let mut batch = 1usize;
        while started.elapsed() < WARM_UP {
            v.run(batch)?;
            calls += batch;
            batch *= 2;
        }
        let ns_per_call = started.elapsed().as_nanos() as f64 / calls as f64;
        v.calls_per_round = ((ROUND_TIME.as_nanos() as f64 / ns_per_call) as usize).max(10);
    }
    for _ in 0..ROUNDS {
        for v in variants.iter_mut() {
            let ns = v.run(v.calls_per_round)?;
            v.rounds.push(ns);
        }
    }
    Ok(())
}

// -------------------------------------------------------------------------------------
// 2. End to end
// -------------------------------------------------------------------------------------

async fn end_to_end(config_path: &Path) -> anyhow::Result<()> {
    let raw = raw_sql_baseline().await.context("raw SQL baseline")?;

    let args = DemoArgs {
        interactions: INTERACTIONS,
        clients: CLIENTS,
        seed: SEED,
        json: false,
        stall_timeout: 120,
    };
    let demo = ixn::demo::run_demo(config_path, &args)
        .await
        .context("ixn demo")?;
    if demo.submitted != INTERACTIONS || demo.stopped as usize != INTERACTIONS || demo.in_error != 0
    {
        bail!(
            "the demo did not process every e-mail: {} submitted, {} stopped, {} in error",
            demo.submitted,
            demo.stopped,
            demo.in_error
        );
    }

    let raw_rate = INTERACTIONS as f64 / raw.total().as_secs_f64();
    println!(
        "[2] end to end: {INTERACTIONS} e-mails through the sample business process of config/ixn.toml"
    );
    println!(
        "    {:<58} {:>7.0} rows/s          {:>6} ms  baseline",
        "raw SQL: the same storage work, minimum statements",
        raw_rate,
        raw.total().as_millis()
    );
    println!(
        "        sqlx, 1 connection, SQLite WAL + synchronous=NORMAL: insert (one {INSERT_BATCH}-row INSERT per \
         transaction) {} ms,\n        classify pass (claim {CLAIM_BATCH}, one UPDATE moving them) {} ms, \
         acknowledge pass (claim {CLAIM_BATCH}, one UPDATE stopping them) {} ms",
        raw.insert.as_millis(),
        raw.classify.as_millis(),
        raw.acknowledge.as_millis()
    );
    println!(
        "    {:<58} {:>7.0} interactions/s  {:>6} ms  {:.2}x raw SQL",
        format!(
            "ixn demo: HTTP API, {CLIENTS} clients, WASM BP, {} event loggers",
            demo.events_logged_by_logger.len()
        ),
        demo.interactions_per_sec,
        demo.elapsed_ms,
        demo.interactions_per_sec / raw_rate
    );
    Ok(())
}

struct RawTimes {
    insert: Duration,
    classify: Duration,
    acknowledge: Duration,
}

impl RawTimes {
    fn total(&self) -> Duration {
        self.insert + self.classify + self.acknowledge
    }
}

/// Rows of the baseline, prepared before the clock starts.
struct RawRow {
    id: String,
    priority: i64,
    external_id: String,
    submitted_by: String,
    properties: Vec<u8>,
    /// Where the classify pass moves it, with the category and language it sets.
    queue: &'static str,
    category: &'static str,
    language: &'static str,
}

/// The queues of the sample process, per category.
fn category_queue(category: classifier_logic::Category) -> &'static str {
    match category {
        classifier_logic::Category::Billing => "email.Billing",
        classifier_logic::Category::Technical => "email.Technical",
        classifier_logic::Category::Sales => "email.Sales",
        classifier_logic::Category::General => "email.General",
    }
}

const RAW_SCHEMA: &[&str] = &[
    "CREATE TABLE interactions (
        id TEXT NOT NULL PRIMARY KEY, tenant TEXT NOT NULL, media_type TEXT NOT NULL,
        interaction_type TEXT NOT NULL, interaction_subtype TEXT NOT NULL, external_id TEXT,
        parent_id TEXT, queue TEXT NOT NULL, state INTEGER NOT NULL DEFAULT 0,
        is_locked INTEGER NOT NULL DEFAULT 0, priority INTEGER NOT NULL DEFAULT 0,
        submitted_by TEXT NOT NULL, submitted_at INTEGER NOT NULL, placed_in_queue_at INTEGER NOT NULL,
        moved_to_queue_at INTEGER, delivered_at INTEGER, assigned_to TEXT, workbin TEXT,
        scheduled_at INTEGER, lease_owner TEXT, lease_until INTEGER,
        lease_expiries INTEGER NOT NULL DEFAULT 0, stopped_at INTEGER, stop_reason TEXT,
        flexible_properties BLOB, category TEXT, language TEXT
    )",
    "CREATE INDEX interactions_claim ON interactions (queue, state, is_locked, scheduled_at) WHERE stopped_at IS NULL",
    "CREATE INDEX interactions_lease_until ON interactions (lease_until)",
    "CREATE INDEX interactions_category ON interactions (category)",
    "CREATE INDEX interactions_language ON interactions (language)",
];

/// Leases up to [`CLAIM_BATCH`] claimable rows of a queue in the views' order and
/// returns them (what a view reads).
const CLAIM: &str = "UPDATE interactions SET state = 1, lease_owner = ?1, lease_until = ?2
    WHERE id IN (
        SELECT id FROM interactions
        WHERE queue = ?3 AND state = 0 AND is_locked = 0 AND stopped_at IS NULL AND workbin IS NULL
          AND (scheduled_at IS NULL OR scheduled_at <= ?4)
        ORDER BY priority DESC, submitted_at ASC
        LIMIT ?5)
    RETURNING id, flexible_properties";

/// The same storage work as the demo, as the minimum SQL: the inserts, then per
/// pass claims of [`CLAIM_BATCH`] rows each followed by the decision's update.
async fn raw_sql_baseline() -> anyhow::Result<RawTimes> {
    let rows: Vec<RawRow> = ixn::demo::generate(INTERACTIONS, SEED)
        .iter()
        .map(|mail| {
            let props = &mail["properties"];
            let text = |v: &Json| v.as_str().unwrap_or_default().to_string();
            let (category, language) = classifier_logic::classify(
                props["Subject"].as_str().unwrap_or_default(),
                props["Body"].as_str().unwrap_or_default(),
            );
            // Attached data as the SQLite storage plugin stores it: tagged JSON.
            let tagged: serde_json::Map<String, Json> = props
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), json!({ "str": v })))
                .collect();
            Ok(RawRow {
                id: ixn::ids::new_id(),
                priority: mail["priority"].as_i64().unwrap_or(0),
                external_id: text(&mail["external_id"]),
                submitted_by: text(&mail["submitted_by"]),
                properties: serde_json::to_vec(&tagged)?,
                queue: category_queue(category),
                category: category.name(),
                language: language.code(),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let by_id: HashMap<&str, &RawRow> = rows.iter().map(|r| (r.id.as_str(), r)).collect();

    let dir = tempfile::tempdir()?;
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("raw.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let mut conn = SqliteConnection::connect_with(&options).await?;
    for ddl in RAW_SCHEMA {
        sqlx::query(*ddl).execute(&mut conn).await?;
    }

    let started = Instant::now();
    // One statement per 500 rows: each batch is one transaction.
    for chunk in rows.chunks(INSERT_BATCH) {
        let now = ixn::time::now_ms();
        let values = vec![
            "(?, 'default', 'email', 'Inbound', 'InboundNew', ?, 'email.Inbound', ?, ?, ?, ?, ?)";
            chunk.len()
        ];
        let sql = format!(
            "INSERT INTO interactions (id, tenant, media_type, interaction_type, interaction_subtype,
                external_id, queue, priority, submitted_by, submitted_at, placed_in_queue_at,
                flexible_properties)
             VALUES {}",
            values.join(", ")
        );
        // Only `?` placeholders are spliced in, here and below.
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            insert = insert
                .bind(&r.id)
                .bind(&r.external_id)
                .bind(r.priority)
                .bind(&r.submitted_by)
                .bind(now)
                .bind(now)
                .bind(&r.properties);
        }
        insert.execute(&mut conn).await?;
    }
    let insert = started.elapsed();

    // Classify: claim from the entry queue, move each to the queue of its category
    // with its Category and Language, in one statement per batch.
    let started = Instant::now();
    let mut batch = 0u64;
    loop {
        batch += 1;
        let owner = format!("raw-classify-{batch}");
        let claimed = claim(&mut conn, &owner, "email.Inbound").await?;
        if claimed.is_empty() {
            break;
        }
        let now = ixn::time::now_ms();
        let sql = format!(
            "UPDATE interactions SET queue = d.column2, category = d.column3, language = d.column4,
                state = 0, placed_in_queue_at = ?, moved_to_queue_at = COALESCE(moved_to_queue_at, ?),
                scheduled_at = NULL, lease_owner = NULL, lease_until = NULL
             FROM (VALUES {}) AS d
             WHERE interactions.id = d.column1 AND interactions.lease_owner = ?",
            vec!["(?, ?, ?, ?)"; claimed.len()].join(", ")
        );
        let mut update = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(now);
        for id in &claimed {
            let r = by_id.get(id.as_str()).context("claimed an unknown row")?;
            update = update
                .bind(id)
                .bind(r.queue)
                .bind(r.category)
                .bind(r.language);
        }
        let moved = update
            .bind(&owner)
            .execute(&mut conn)
            .await?
            .rows_affected();
        if moved as usize != claimed.len() {
            bail!(
                "the raw SQL baseline moved {moved} of {} claimed rows",
                claimed.len()
            );
        }
    }
    let classify = started.elapsed();

    // Acknowledge: claim from each category queue, stop the batch in one statement.
    let started = Instant::now();
    for queue in [
        "email.Billing",
        "email.Technical",
        "email.Sales",
        "email.General",
    ] {
        loop {
            batch += 1;
            let owner = format!("raw-acknowledge-{batch}");
            let claimed = claim(&mut conn, &owner, queue).await?;
            if claimed.is_empty() {
                break;
            }
            let sql = format!(
                "UPDATE interactions SET stopped_at = ?, stop_reason = 'acknowledged', state = 0,
                    lease_owner = NULL, lease_until = NULL
                 WHERE lease_owner = ? AND id IN ({})",
                vec!["?"; claimed.len()].join(", ")
            );
            let mut stop = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(ixn::time::now_ms())
                .bind(&owner);
            for id in &claimed {
                stop = stop.bind(id);
            }
            stop.execute(&mut conn).await?;
        }
    }
    let acknowledge = started.elapsed();

    let stopped: i64 =
        sqlx::query("SELECT COUNT(*) FROM interactions WHERE stopped_at IS NOT NULL")
            .fetch_one(&mut conn)
            .await?
            .try_get(0)?;
    if stopped as usize != INTERACTIONS {
        bail!("the raw SQL baseline stopped {stopped} of {INTERACTIONS} rows");
    }
    conn.close().await?;
    Ok(RawTimes {
        insert,
        classify,
        acknowledge,
    })
}

/// One claim (one statement, so one transaction); returns the ids it leased.
async fn claim(
    conn: &mut SqliteConnection,
    owner: &str,
    queue: &str,
) -> anyhow::Result<Vec<String>> {
    let now = ixn::time::now_ms();
    let rows = sqlx::query(CLAIM)
        .bind(owner)
        .bind(now + 60_000)
        .bind(queue)
        .bind(now)
        .bind(CLAIM_BATCH as i64)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| {
            // What the BP reads: the id and the attached data.
            let _properties: Option<Vec<u8>> = row.try_get(1)?;
            Ok(row.try_get(0)?)
        })
        .collect()
}
