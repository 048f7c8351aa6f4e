//! The reload soak: config changes of every live kind written the three ways
//! deployers write files, invalid ones among them, while interactions are
//! submitted and processed without pause. Shared by the integration test
//! (`reload::soak`) and the figures command
//! (`cargo bench -p ixn-tests --bench reload`).
//!
//! It counts what arrived, not what was sent: every submitted interaction in
//! exactly one final state, and every event of the run in exactly one of the
//! files its logger wrote over the run (each logger change points it at a new
//! file, so a lost or doubled event shows).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::Value as Json;

use crate::TestHost;

/// How an editor or a deployer puts a new config in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Truncate and write the same inode.
    InPlace,
    /// Write a temporary file beside it and rename it over the old one.
    Rename,
    /// A mounted Kubernetes ConfigMap: `ixn.toml -> ..data/ixn.toml`, and
    /// `..data` a symlink swapped to a new timestamped directory.
    SymlinkSwap,
}

static SWAPS: AtomicU32 = AtomicU32::new(0);

/// Writes `text` as `dir/ixn.toml` the way `how` says.
pub fn write_config(dir: &Path, how: Write, text: &str) -> anyhow::Result<()> {
    let path = dir.join("ixn.toml");
    match how {
        Write::InPlace => std::fs::write(&path, text)?,
        Write::Rename => {
            let tmp = dir.join(".ixn.toml.tmp");
            std::fs::write(&tmp, text)?;
            std::fs::rename(&tmp, &path)?;
        }
        Write::SymlinkSwap => {
            let n = SWAPS.fetch_add(1, Ordering::Relaxed);
            let version = dir.join(format!("..2026_11_24_{n}"));
            std::fs::create_dir(&version)?;
            std::fs::write(version.join("ixn.toml"), text)?;
            let tmp = dir.join("..data_tmp");
            std::os::unix::fs::symlink(version.file_name().context("a name")?, &tmp)?;
            std::fs::rename(&tmp, dir.join("..data"))?;
            if !path.is_symlink() {
                // The first swap turns the plain file into the ConfigMap layout.
                let link = dir.join(".ixn.toml.link");
                std::os::unix::fs::symlink("..data/ixn.toml", &link)?;
                std::fs::rename(&link, &path)?;
            }
        }
    }
    Ok(())
}

/// What a soak measured.
#[derive(Debug)]
pub struct Figures {
    /// Valid changes applied.
    pub applied: usize,
    /// Invalid changes refused.
    pub rejected: usize,
    /// File written → new generation serving, per applied change, sorted.
    pub latencies: Vec<Duration>,
    /// The slowest applied change of each kind, slowest first.
    pub slowest_by_kind: Vec<(&'static str, Duration)>,
    /// Interactions submitted (all finished).
    pub submitted: u64,
    /// Events produced (all in the sinks, once).
    pub events: u64,
    /// From the first submission to the last change applied.
    pub elapsed: Duration,
}

impl Figures {
    /// The `q` quantile of the latencies (0.5 = median).
    pub fn quantile(&self, q: f64) -> Duration {
        let i = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
        self.latencies.get(i).copied().unwrap_or_default()
    }

    /// Interactions submitted per second over the run.
    pub fn rate(&self) -> f64 {
        self.submitted as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// One state of the config the soak moves through.
struct State {
    component: PathBuf,
    /// A second build of the router, the canary when `canary` > 0.
    canary_component: PathBuf,
    /// The jsonl sink as a plugin `.so`, rebuilt in place by one kind of change.
    sink: PathBuf,
    /// Percent of interactions on the canary; 0: no canary line.
    canary: u32,
    /// Custom fields `Soak0`… added one per change of that kind.
    fields: u32,
    limit: u32,
    concurrency: u32,
    check_interval: f64,
    vip: u32,
    queues: u32,
    events_file: u32,
    batch_size: u32,
    strategy_key: u32,
}

impl State {
    fn text(&self, invalid: bool) -> String {
        let extra_queues: String = (0..self.queues)
            .map(|i| format!("  [[business-process.queue]]\n  name = \"bp.Extra{i}\"\n"))
            .collect();
        let vip: String = (0..self.vip)
            .map(|i| format!("\"vip{i}@example.com\" = \"gold\"\n"))
            .collect();
        let fields: String = (0..self.fields)
            .map(|i| format!("Soak{i} = {{ column = \"soak_{i}\", type = \"integer\" }}\n"))
            .collect();
        let canary = match self.canary {
            0 => String::new(),
            percent => format!(
                "canary = {{ component = \"{}\", percent = {percent} }}\n",
                self.canary_component.display()
            ),
        };
        // An invalid change: a wrong type the soak expects at its line.
        let limit = if invalid {
            "\"many\"".to_string()
        } else {
            self.limit.to_string()
        };
        format!(
            r#"[server]
lease-timeout = 30
recovery-interval = 1

[storage]
plugin = "sqlite"
[storage.settings]
path = "${{data-dir}}/ixn.db"

[wasm]
cache-dir = "${{data-dir}}/wasm-cache"
call-timeout-ms = 300
memory-limit-mb = 32
instances-per-component = 2

[custom-fields]
{fields}
[strategy.s]
component = "{component}"
{canary}[strategy.s.config]
soak = "{key}"

[lookup-table.vip-senders]
"ceo@bigcustomer.example" = "gold"
{vip}
[[business-process]]
name = "bp"
entry-queue = "bp.In"
error-queue = "bp.Error"
  [[business-process.queue]]
  name = "bp.In"
    [[business-process.queue.view]]
    name = "work"
    strategy = "s"
    check-interval = {check_interval:.3}
    limit = {limit}
    concurrency = {concurrency}
{extra_queues}  [[business-process.queue]]
  name = "bp.Error"

[[event-logger]]
name = "file"
  [event-logger.logger-settings]
  delivery-protocol = "jsonl"
  plugin = "{sink}"
  storing-timeout = 500
  batch-size = {batch_size}
  [event-logger.sink-settings]
  path = "${{data-dir}}/events-{file}.jsonl"
"#,
            component = self.component.display(),
            key = self.strategy_key,
            check_interval = self.check_interval,
            concurrency = self.concurrency,
            batch_size = self.batch_size,
            file = self.events_file,
            sink = self.sink.display(),
        )
    }
}

/// Polls `/v1/config` every 2 ms until `done`; 30 s at most.
async fn wait_config(host: &TestHost, done: impl Fn(&Json) -> bool) -> anyhow::Result<Json> {
    let start = Instant::now();
    loop {
        let c = host.get_json("/v1/config").await?;
        if done(&c) {
            return Ok(c);
        }
        if start.elapsed() > Duration::from_secs(30) {
            bail!("waited 30 s for a reload: {c:#}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The kinds of change, in the order the soak makes them.
const KINDS: [&str; 12] = [
    "view limit",
    "view check-interval",
    "lookup table",
    "queues",
    "logger file",
    "logger batch-size",
    "strategy config",
    "component",
    "custom field",
    "canary",
    "sink plugin build",
    "view concurrency",
];

/// The state a soak starts from, with its component (version 0 of the
/// router) in a directory of its own that the caller keeps.
fn first_state() -> anyhow::Result<(tempfile::TempDir, State)> {
    let work = tempfile::tempdir()?;
    let component = work.path().join("router.wasm");
    std::fs::write(
        &component,
        crate::component_version(ixn_bp_artifacts::ROUTER, 0),
    )?;
    let canary_component = work.path().join("router-canary.wasm");
    std::fs::write(
        &canary_component,
        crate::component_version(ixn_bp_artifacts::ROUTER, 1_000_000),
    )?;
    let sink = work.path().join("sink-jsonl.so");
    std::fs::copy(crate::plugin_so("ixn-sink-jsonl")?, &sink)?;
    let state = State {
        component,
        canary_component,
        sink,
        canary: 0,
        fields: 0,
        limit: 20,
        concurrency: 2,
        check_interval: 0.05,
        vip: 0,
        queues: 0,
        events_file: 0,
        batch_size: 500,
        strategy_key: 0,
    };
    Ok((work, state))
}

/// Runs `changes` valid changes (an invalid one before one in ten) under
/// `clients` submitting without pause; checks what arrived.
pub async fn run(changes: usize, clients: usize) -> anyhow::Result<Figures> {
    run_for(changes, clients, Duration::ZERO).await
}

/// [`run`], submitting for `at_least` even when the changes are done sooner
/// (with no changes: the same load on a config that stays, a baseline).
pub async fn run_for(
    changes: usize,
    clients: usize,
    at_least: Duration,
) -> anyhow::Result<Figures> {
    let (work, mut state) = first_state()?;
    let component = state.component.clone();
    let host = Arc::new(TestHost::start(&state.text(false)).await?);
    let dir = host.dir.path().to_path_buf();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (host, stop) = (host.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let (status, body) = host.submit(&crate::email(&format!("{c}/{n}"))).await?;
                ensure!(status == 201, "submission refused: {status} {body}");
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }

    let mut latencies = Vec::new();
    let mut slowest = std::collections::BTreeMap::<&'static str, Duration>::new();
    let mut rejected = 0;
    let mut last_rejected_at = Json::Null;
    // Generation 1 is the start; change `i` makes generation `i + 2`.
    for (i, running) in (0..changes).zip(1u64..) {
        let how = [Write::InPlace, Write::Rename, Write::SymlinkSwap][i % 3];
        // One invalid change in ten, at most; it must be refused with its place.
        if i % 10 == 5 {
            let text = state.text(true);
            write_config(&dir, how, &text)?;
            let c = wait_config(&host, |c| c["last_rejected"]["at"] != last_rejected_at).await?;
            last_rejected_at = c["last_rejected"]["at"].clone();
            let line = text
                .lines()
                .position(|l| l.contains("\"many\""))
                .context("the invalid line")?
                + 1;
            let errors = c["last_rejected"]["errors"].to_string();
            ensure!(
                errors.contains(&format!("ixn.toml:{line}:")),
                "change {i}: the refusal has no position: {c:#}"
            );
            ensure!(
                c["generation"] == running,
                "an invalid change applied: {c:#}"
            );
            rejected += 1;
        }
        // Each change differs from the state before it, so each is a new generation.
        let n = i as u32 + 1;
        match i % KINDS.len() {
            0 => state.limit = 5 + n,
            1 => state.check_interval = 0.02 + f64::from(n) / 1000.0,
            2 => state.vip += 1,
            3 => state.queues = (state.queues + 1) % 4,
            4 => state.events_file += 1,
            5 => state.batch_size = 100 + n,
            6 => state.strategy_key += 1,
            7 => {
                // A build is put in place whole, as a deployer does.
                let tmp = work.path().join("router.wasm.tmp");
                std::fs::write(&tmp, crate::component_version(ixn_bp_artifacts::ROUTER, n))?;
                std::fs::rename(&tmp, &component)?;
            }
            8 => state.fields += 1,
            9 => state.canary = [10, 30, 0][(i / KINDS.len()) % 3],
            10 => {
                // Another build of the sink: other bytes after its ELF
                // sections, put in place whole.
                let mut build = std::fs::read(crate::plugin_so("ixn-sink-jsonl")?)?;
                build.extend_from_slice(format!("ixn-soak build {n}").as_bytes());
                let tmp = work.path().join("sink-jsonl.so.tmp");
                std::fs::write(&tmp, build)?;
                std::fs::rename(&tmp, &state.sink)?;
            }
            _ => state.concurrency = 1 + (state.concurrency % 3),
        }
        let written = Instant::now();
        // A component change is a file of its own; the config is rewritten
        // anyway (the same text when only the component changed).
        write_config(&dir, how, &state.text(false))?;
        wait_config(&host, |c| c["generation"] == running + 1).await?;
        latencies.push(written.elapsed());
        let kind = KINDS[i % KINDS.len()];
        let worst = slowest.entry(kind).or_default();
        *worst = (*worst).max(written.elapsed());
    }
    tokio::time::sleep(at_least.saturating_sub(started.elapsed())).await;
    let elapsed = started.elapsed();

    stop.store(true, Ordering::Relaxed);
    let mut submitted = 0;
    for t in tasks {
        submitted += t.await??;
    }
    host.wait_finished("bp.Error", submitted, Duration::from_secs(60))
        .await?;
    let Ok(host) = Arc::try_unwrap(host) else {
        bail!("a client still holds the host");
    };
    // Every interaction in exactly one final state: stopped by the router.
    let rows = host.queues().await?;
    let stopped: u64 = rows
        .iter()
        .map(|r| r["stopped"].as_u64().unwrap_or(0))
        .sum();
    let open: u64 = rows
        .iter()
        .map(|r| {
            ["queued", "cached", "routing", "handled"]
                .iter()
                .map(|k| r[*k].as_u64().unwrap_or(0))
                .sum::<u64>()
        })
        .sum();
    ensure!(
        (stopped, open) == (submitted, 0),
        "{submitted} submitted, {stopped} stopped, {open} not finished: {rows:#?}"
    );
    let origin = host.server.bus().origin().to_string();
    // Counted after the shutdown: the last batch's events may be emitted
    // after its decisions are stored, which is what the wait above sees.
    let bus = host.server.bus().clone();
    let data = dir.join("data");
    host.server.shutdown().await;
    let produced = bus.produced();

    let mut seen = BTreeSet::new();
    for n in 0..=state.events_file {
        let file = data.join(format!("events-{n}.jsonl"));
        let text = std::fs::read_to_string(&file).with_context(|| file.display().to_string())?;
        for line in text.lines() {
            let v: Json = serde_json::from_str(line)?;
            if v["origin"] == origin.as_str() {
                let seq = v["sequence"].as_u64().context("a sequence")?;
                ensure!(
                    seen.insert(seq),
                    "event {seq} written twice ({})",
                    file.display()
                );
            }
        }
    }
    ensure!(
        seen.len() as u64 == produced && seen.last().copied() == Some(produced),
        "{produced} events produced, {} in the sinks",
        seen.len()
    );
    latencies.sort();
    let mut slowest_by_kind: Vec<_> = slowest.into_iter().collect();
    slowest_by_kind.sort_by_key(|(_, d)| std::cmp::Reverse(*d));
    Ok(Figures {
        slowest_by_kind,
        applied: changes,
        rejected,
        latencies,
        submitted,
        events: produced,
        elapsed,
    })
}

/// What the reload spares, for comparison: `rounds` restarts of a host on
/// the soak's config, each from the stop of the old host to the new one
/// answering `/health`, sorted.
pub async fn restart_latencies(rounds: usize) -> anyhow::Result<Vec<Duration>> {
    let (_work, mut state) = first_state()?;
    let mut host = TestHost::start(&state.text(false)).await?;
    let mut latencies = Vec::new();
    for _ in 0..rounds {
        state.limit += 1;
        let written = Instant::now();
        host = host.restart_with(Some(&state.text(false))).await?;
        let (status, _) = host.health().await?;
        ensure!(status == 200, "the restarted host is not healthy: {status}");
        latencies.push(written.elapsed());
    }
    host.server.shutdown().await;
    latencies.sort();
    Ok(latencies)
}
