//! One reload path: SIGHUP, `POST /v1/admin/reload`, `ixn reload` and a
//! change to any watched file all end in [`Parts::reload`], one at a time.
//!
//! A reload reads the config file again and validates all of it before it
//! touches anything: the TOML, what restarts only can change, queues that
//! would strand interactions, every plugin's settings (by the plugin), and
//! every component it would run (by loading it, off the hot path). A config
//! refused at any step leaves the running one as it was and is kept, with
//! every error line, as "last rejected". A valid one is diffed against the
//! running one and only what changed is rebuilt: views whose definition
//! changed get new pullers, components whose file or settings changed are
//! loaded anew, loggers whose settings changed are drained and replaced,
//! and the rest keeps running undisturbed. Each applied config is a new
//! generation, stamped on the events it produces.

pub mod components;
pub mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::{Value as Json, json};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::serve::{Limits, Listening};
use crate::bp::scheduler::{BpRuntime, StoppedViews};
use crate::bp::snapshot::Snapshot;
use crate::config::diff::{self, Change, ChangeKind};
use crate::config::{Config, PluginRef};
use crate::events::{OpenedLogger, RunningLogger};
use crate::plugins::Registry;
use crate::plugins::loader::file_version;
use crate::wasm::WasmEngine;

/// A config a reload refused.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    /// When, ms since the epoch.
    pub at: i64,
    /// What asked for the reload.
    pub trigger: String,
    /// The refused file's hash, when it could be read.
    pub hash: Option<String>,
    /// Every reason, `file:line:column: reason` where there is a place.
    pub errors: Vec<String>,
}

/// A config a reload applied: what an operator whose own reload found
/// nothing to apply (the watch was first) looks at.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// When it was swapped in, ms since the epoch.
    pub at: i64,
    /// What asked for the reload.
    pub trigger: String,
    /// The generation it started.
    pub generation: u64,
    /// What changed, one line each.
    pub changes: Vec<String>,
}

/// What a reload did.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A new generation runs.
    Applied {
        /// Its number.
        generation: u64,
        /// One line per change.
        changes: Vec<String>,
    },
    /// The files hold what already runs.
    Unchanged {
        /// The generation that keeps running.
        generation: u64,
    },
    /// Refused; the running config stays.
    Rejected(Rejected),
    /// The host is stopping and reloads no more.
    Stopping,
}

impl Outcome {
    /// The API's answer.
    pub fn to_json(&self) -> Json {
        match self {
            Outcome::Applied {
                generation,
                changes,
            } => json!({ "outcome": "applied", "generation": generation, "changes": changes }),
            Outcome::Unchanged { generation } => {
                json!({ "outcome": "unchanged", "generation": generation })
            }
            Outcome::Rejected(r) => json!({ "outcome": "rejected", "rejected": r }),
            Outcome::Stopping => json!({ "outcome": "stopping" }),
        }
    }
}

/// A request to the reload task.
pub struct ReloadRequest {
    trigger: String,
    reply: Option<oneshot::Sender<Outcome>>,
}

/// What reload status the API shows, shared with the reload task.
#[derive(Default)]
struct Status {
    last_rejected: Mutex<Option<Rejected>>,
    last_applied: Mutex<Option<Applied>>,
    /// Where the API listens now (a reload may move it).
    listening: Mutex<Option<std::net::SocketAddr>>,
}

/// Asks the reload task to reload; cheap to clone.
#[derive(Clone)]
pub struct ReloadHandle {
    tx: mpsc::Sender<ReloadRequest>,
    status: Arc<Status>,
}

impl ReloadHandle {
    /// Reloads now (after any reload already under way) and says what happened.
    pub async fn reload(&self, trigger: &str) -> Outcome {
        let (reply, answer) = oneshot::channel();
        let request = ReloadRequest {
            trigger: trigger.to_string(),
            reply: Some(reply),
        };
        if self.tx.send(request).await.is_err() {
            return Outcome::Stopping;
        }
        answer.await.unwrap_or(Outcome::Stopping)
    }

    /// Where the API listens now.
    pub fn api_addr(&self) -> Option<std::net::SocketAddr> {
        self.status.listening.lock().ok().and_then(|a| *a)
    }

    pub(crate) fn set_api_addr(&self, addr: std::net::SocketAddr) {
        if let Ok(mut a) = self.status.listening.lock() {
            *a = Some(addr);
        }
    }

    /// The last config applied by a reload since the host started.
    pub fn last_applied(&self) -> Option<Applied> {
        self.status.last_applied.lock().ok().and_then(|a| a.clone())
    }

    /// The last config refused since the host started.
    pub fn last_rejected(&self) -> Option<Rejected> {
        self.status
            .last_rejected
            .lock()
            .ok()
            .and_then(|r| r.clone())
    }
}

/// The parts of a running host that a reload rebuilds; the reload task owns
/// them while the host runs, and hands them back to stop.
pub struct Parts {
    /// Where plugins come from.
    pub registry: Registry,
    /// The pullers and the applied snapshot.
    pub runtime: Arc<BpRuntime>,
    /// The engine the components were compiled with.
    pub engine: Arc<WasmEngine>,
    /// The loggers events go to.
    pub loggers: Vec<RunningLogger>,
    /// Loggers a reload removed, still writing what they hold.
    pub draining: TaskTracker,
    /// The HTTP API.
    pub api: Listening,
    /// Builds the API's router for a new listener.
    pub app: axum::Router,
    /// The host's stop.
    pub stop: CancellationToken,
    /// Where the host's tasks are tracked.
    pub tracker: TaskTracker,
    /// Watches the files the config names; `None` where watching failed.
    pub watcher: Option<watch::Watcher>,
}

/// The channel a reload task serves, made before the API that sends on it.
pub fn channel() -> (ReloadHandle, mpsc::Receiver<ReloadRequest>) {
    let (tx, rx) = mpsc::channel(16);
    (
        ReloadHandle {
            tx,
            status: Arc::default(),
        },
        rx,
    )
}

/// Serves reload requests one at a time until the host stops; returns the
/// parts for the shutdown.
pub async fn run(
    mut parts: Parts,
    handle: ReloadHandle,
    mut requests: mpsc::Receiver<ReloadRequest>,
) -> Parts {
    loop {
        let request = tokio::select! {
            r = requests.recv() => match r {
                Some(r) => r,
                None => break,
            },
            _ = parts.stop.cancelled() => break,
        };
        // A change the watch saw before a reload turned it off is not applied:
        // with `watch-files = false` only an explicit reload applies.
        if request.trigger == watch::TRIGGER && !parts.runtime.config().server.watch_files {
            continue;
        }
        let mut outcome = parts.reload(&request.trigger).await;
        // A file written in place can be read half-written. A refusal of a
        // file that has changed since it was read is not reported: the write
        // that changed it is read again once it has settled. Nor is that of
        // an empty file, which no config is: a writer that truncated it and
        // has not written yet (a busy machine can hold it there longer than
        // the debounce).
        for _ in 0..MAX_UNSETTLED_READS {
            match &outcome {
                Outcome::Rejected(r)
                    if request.reply.is_none()
                        && (parts.changed_since(r) || r.hash == Some(empty_file_hash())) =>
                {
                    tokio::time::sleep(watch::DEBOUNCE).await;
                    outcome = parts.reload(&request.trigger).await;
                }
                _ => break,
            }
        }
        handle.set_api_addr(parts.api.addr);
        match &outcome {
            Outcome::Rejected(r) => {
                if let Ok(mut last) = handle.status.last_rejected.lock() {
                    *last = Some(r.clone());
                }
            }
            Outcome::Applied {
                generation,
                changes,
            } => {
                if let Ok(mut last) = handle.status.last_applied.lock() {
                    *last = Some(Applied {
                        // The swapped-in snapshot's own time: `applied_at` of
                        // `/v1/config` while this generation runs.
                        at: parts.runtime.snapshot().applied_at,
                        trigger: request.trigger.clone(),
                        generation: *generation,
                        changes: changes.clone(),
                    });
                }
            }
            Outcome::Unchanged { .. } | Outcome::Stopping => {}
        }
        if let Some(reply) = request.reply {
            let _ = reply.send(outcome);
        }
    }
    // Whoever waits for an answer gets one.
    requests.close();
    while let Ok(r) = requests.try_recv() {
        if let Some(reply) = r.reply {
            let _ = reply.send(Outcome::Stopping);
        }
    }
    parts
}

/// How often a refused file that keeps changing (or stays empty) is read again.
const MAX_UNSETTLED_READS: usize = 10;

/// The hash of a file with nothing in it.
fn empty_file_hash() -> String {
    crate::digest::sha256_hex(b"")
}

/// What a reload builds before it swaps anything in.
struct Built {
    config: Arc<Config>,
    engine: Arc<WasmEngine>,
    components: BTreeMap<String, crate::bp::strategy::Strategy>,
    changes: Vec<Change>,
    opened: Vec<OpenedLogger>,
    listener: Option<tokio::net::TcpListener>,
}

impl Parts {
    /// Whether the config file no longer holds what `rejected` refused.
    fn changed_since(&self, rejected: &Rejected) -> bool {
        let now = std::fs::read(&self.runtime.config().source)
            .ok()
            .map(|bytes| crate::digest::sha256_hex(&bytes));
        now.is_some() && now != rejected.hash
    }

    /// Reads, validates and applies the config file; see the module doc.
    pub async fn reload(&mut self, trigger: &str) -> Outcome {
        let started = std::time::Instant::now();
        let running = self.runtime.snapshot();
        let built = match self.build(&running).await {
            Ok(Some(built)) => built,
            Ok(None) => {
                tracing::info!(
                    trigger,
                    generation = running.generation,
                    "Reload: the files hold what runs; nothing to apply."
                );
                return Outcome::Unchanged {
                    generation: running.generation,
                };
            }
            Err((hash, errors)) => {
                tracing::warn!(
                    trigger,
                    "Config rejected; the running config (generation {}) stays:\n  {}",
                    running.generation,
                    errors.join("\n  ")
                );
                return Outcome::Rejected(Rejected {
                    at: crate::time::now_ms(),
                    trigger: trigger.to_string(),
                    hash,
                    errors,
                });
            }
        };
        let generation = running.generation + 1;
        let (changes, stopped) = self.swap(built, generation);
        // Answered only once no stopped view can claim any more, and what
        // removed queues held is in the queues that replace them.
        stopped.settled().await;
        self.runtime.move_replaced_once().await;
        for change in &changes {
            tracing::info!(generation, trigger, "{change}");
        }
        tracing::info!(generation, trigger, elapsed = ?started.elapsed(), "Config applied.");
        Outcome::Applied {
            generation,
            changes,
        }
    }

    /// Everything that can fail, with nothing running touched: `Ok(None)`
    /// when the files hold what runs, `Err` with the file's hash (when read)
    /// and every error line when refused.
    async fn build(
        &self,
        running: &Snapshot,
    ) -> Result<Option<Built>, (Option<String>, Vec<String>)> {
        let source = &running.config.source;
        let text = std::fs::read_to_string(source)
            .map_err(|e| (None, vec![format!("cannot read {}: {e}", source.display())]))?;
        let hash = crate::digest::sha256_hex(text.as_bytes());
        let new = match Config::parse_with(source, &text, &running.config.overrides) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                let lines = match e.problems() {
                    [] => vec![e.to_string()],
                    problems => problems.iter().map(ToString::to_string).collect(),
                };
                return Err((Some(hash), lines));
            }
        };
        let refuse = |errors: Vec<String>| (Some(hash.clone()), errors);
        let versions = components::versions(&new).map_err(refuse)?;
        let mut changes = diff::diff(&running.config, &new);
        changes.extend(components::rebuilt(&running.components, &new, &versions));
        if let Some(change) = self
            .rebuilt_storage(&running.config, &new)
            .map_err(refuse)?
        {
            changes.push(change);
        }
        let rebuilt_sinks = self.rebuilt_sinks(&new).map_err(refuse)?;
        changes.extend(rebuilt_sinks.iter().map(|name| Change {
            subject: format!("Event logger `{name}`"),
            kind: ChangeKind::Changed(vec!["plugin file"]),
        }));
        if changes.is_empty() {
            return Ok(None);
        }

        let mut errors: Vec<String> = changes
            .iter()
            .filter(|c| c.needs_restart())
            .map(|c| format!("{}: {c}", source.display()))
            .collect();
        errors.extend(self.stranded(&running.config, &new).await);
        let (reg, c) = (self.registry.clone(), new.clone());
        match tokio::task::spawn_blocking(move || crate::check::plugins(&c, &reg)).await {
            Ok(problems) => errors.extend(problems),
            Err(e) => errors.push(format!("validating plugin settings failed: {e}")),
        }
        if !errors.is_empty() {
            return Err(refuse(errors));
        }

        let engine = if changes.iter().any(|c| c.subject == "[wasm]") {
            WasmEngine::new(&new.wasm).map_err(|e| refuse(vec![e.to_string()]))?
        } else {
            self.engine.clone()
        };
        let components = components::load(
            &engine,
            &self.runtime.env,
            &new,
            &versions,
            &running.components,
        )
        .await
        .map_err(refuse)?;

        let mut opened = Vec::new();
        for l in &new.event_loggers {
            let keep = !rebuilt_sinks.contains(&l.name)
                && self.loggers.iter().any(|r| {
                    r.config.name == l.name && diff::logger_changes(&r.config, l).is_empty()
                });
            if !keep {
                // Opened loggers not started yet are dropped with their sinks on refusal.
                let o = OpenedLogger::open(&self.registry, l)
                    .await
                    .map_err(|e| refuse(vec![format!("{e:#}")]))?;
                opened.push(o);
            }
        }

        let listener = if new.server.listen != running.config.server.listen {
            let l = tokio::net::TcpListener::bind(new.server.listen)
                .await
                .map_err(|e| {
                    refuse(vec![format!(
                        "{}: [server] listen: cannot bind {}: {e}",
                        source.display(),
                        new.server.listen
                    )])
                })?;
            Some(l)
        } else {
            None
        };
        // Last, because it is the one step the running host sees: the storage
        // adds columns and indexes and takes the new fields for later calls
        // (the host's own checks follow at the swap). It refuses what would
        // hide or break stored values, and then nothing changed.
        if new.custom_fields != running.config.custom_fields {
            self.runtime
                .storage
                .update_fields(new.custom_fields.clone())
                .await
                .map_err(|e| {
                    refuse(vec![format!(
                        "{}: [custom-fields]: {}",
                        source.display(),
                        e.message
                    )])
                })?;
        }
        Ok(Some(Built {
            config: new,
            engine,
            components,
            changes,
            opened,
            listener,
        }))
    }

    /// A storage plugin `.so` rebuilt at the path the running one was opened
    /// from: storage is opened once per process, so this needs a restart.
    fn rebuilt_storage(&self, old: &Config, new: &Config) -> Result<Option<Change>, Vec<String>> {
        let (PluginRef::Library(path), Some(loaded)) =
            (&old.storage, self.runtime.storage.plugin_version())
        else {
            return Ok(None);
        };
        if new.storage != old.storage {
            // Another plugin: the config diff already says it needs a restart.
            return Ok(None);
        }
        let now = file_version(path).map_err(|e| vec![format!("[storage] plugin: {e}")])?;
        Ok((now != loaded).then(|| Change {
            subject: "[storage]".into(),
            kind: ChangeKind::NeedsRestart(vec!["plugin file"]),
        }))
    }

    /// Loggers the new config keeps as they are whose sink `.so` file now
    /// holds another build than the one loaded: each is reopened on the new
    /// build (loaded from its own content-addressed copy) and swapped like a
    /// changed logger. The old build stays mapped until its last call returns.
    fn rebuilt_sinks(&self, new: &Config) -> Result<BTreeSet<String>, Vec<String>> {
        let mut rebuilt = BTreeSet::new();
        for r in &self.loggers {
            let (Some(loaded), PluginRef::Library(path)) = (&r.plugin_version, &r.config.sink)
            else {
                continue;
            };
            let unchanged = new
                .event_loggers
                .iter()
                .any(|l| l.name == r.config.name && diff::logger_changes(&r.config, l).is_empty());
            if !unchanged {
                // Reopened anyway, from whatever the file holds then.
                continue;
            }
            let now = file_version(path)
                .map_err(|e| vec![format!("event logger `{}`: {e}", r.config.name)])?;
            if &now != loaded {
                rebuilt.insert(r.config.name.clone());
            }
        }
        Ok(rebuilt)
    }

    /// Queues the new config removes while they still hold interactions.
    async fn stranded(&self, old: &Config, new: &Config) -> Vec<String> {
        let removed: Vec<&str> = old
            .queues()
            .filter(|q| new.process_of(&q.name).is_none() && new.replacement_of(&q.name).is_none())
            .map(|q| q.name.as_str())
            .collect();
        if removed.is_empty() {
            return Vec::new();
        }
        match self.runtime.storage.counts().await {
            Ok(counts) => counts
                .iter()
                .filter(|c| removed.contains(&c.queue.as_str()))
                .map(|c| (c, c.queued + c.cached + c.routing + c.handled))
                .filter(|(_, n)| *n > 0)
                .map(|(c, n)| {
                    format!(
                        "{}: queue `{}` is removed but holds {n} interaction(s) that would be stranded; keep it until they have left, or name it in another queue's `replaces`",
                        new.source.display(),
                        c.queue
                    )
                })
                .collect(),
            Err(e) => vec![format!(
                "cannot count what the removed queues {} hold: {e}",
                removed.join(", ")
            )],
        }
    }

    /// Swaps the built parts in; nothing here fails. Returns one line per
    /// change, and the views it stopped.
    fn swap(&mut self, built: Built, generation: u64) -> (Vec<String>, StoppedViews) {
        let Built {
            config,
            engine,
            components,
            changes,
            opened,
            listener,
        } = built;
        let bus = self.runtime.bus.clone();
        bus.set_generation(generation);
        self.runtime
            .env
            .lookup_tables
            .store(Arc::new(config.lookup_tables.clone()));
        self.engine = engine;
        let stopped = self.runtime.swap(Snapshot {
            generation,
            config: config.clone(),
            components,
            applied_at: crate::time::now_ms(),
        });

        // Loggers: the bus offers to the new set before any replaced logger
        // drains, so each event goes to exactly one of the two.
        let mut previous: BTreeMap<String, RunningLogger> = std::mem::take(&mut self.loggers)
            .into_iter()
            .map(|r| (r.config.name.clone(), r))
            .collect();
        let mut opened: BTreeMap<String, OpenedLogger> = opened
            .into_iter()
            .map(|o| (o.config().name.clone(), o))
            .collect();
        let order: Vec<String> = config
            .event_loggers
            .iter()
            .map(|l| l.name.clone())
            .collect();
        let set = order
            .iter()
            .filter_map(|name| match opened.get(name) {
                Some(o) => Some(o.logger().clone()),
                None => previous.get(name).map(|r| r.logger.clone()),
            })
            .collect();
        bus.replace_loggers(set);
        for name in &order {
            match opened.remove(name) {
                Some(o) => self.loggers.push(o.start_after(previous.remove(name))),
                None => {
                    if let Some(r) = previous.remove(name) {
                        self.loggers.push(r);
                    }
                }
            }
        }
        for (_, gone) in previous {
            self.draining.spawn(gone.drain());
        }

        let limits = Limits {
            header_read_timeout: config.server.header_read_timeout,
            max_connections: config.server.max_connections,
        };
        match listener
            .map(|l| Listening::start(l, self.app.clone(), limits, &self.stop, &self.tracker))
        {
            Some(Ok(new)) => {
                let old = std::mem::replace(&mut self.api, new);
                tracing::info!(from = %old.addr, to = %self.api.addr, "HTTP API moved.");
                old.stop();
            }
            Some(Err(e)) => {
                tracing::error!(error = %e, "The new listener has no address; the API stays where it was.")
            }
            None => self.api.set_limits(limits),
        }
        if let Some(w) = &mut self.watcher {
            w.watch(&watch::watched(&config));
        }
        let rt = self.runtime.clone();
        tokio::spawn(async move { rt.refresh_depths_once().await });
        (changes.iter().map(ToString::to_string).collect(), stopped)
    }
}
