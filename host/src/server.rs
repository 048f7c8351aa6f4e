//! Assembling a running host from a validated config: storage, event
//! loggers, WASM components, view pullers, submission batching, HTTP API.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use ixn_plugin_api::storage::{NewInteraction, StorageError};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::serve::Listening;
use crate::bp::scheduler::BpRuntime;
use crate::bp::snapshot::Snapshot;
use crate::config::Config;
use crate::events::{Endpoint, Event, EventBus, EventKind, OpenedLogger};
use crate::plugins::Registry;
use crate::reload::watch::Watcher;
use crate::reload::{Parts, ReloadHandle};
use crate::storage::Storage;
use crate::wasm::{HostEnv, WasmEngine};

/// Submissions waiting to be stored together: one transaction for all that
/// arrive while the previous one commits (group commit).
const SUBMIT_BATCH: usize = 500;

type SubmitReply = oneshot::Sender<Result<(), StorageError>>;

/// Hands submissions to the batching task.
#[derive(Clone)]
pub struct Submitter {
    tx: mpsc::Sender<(NewInteraction, SubmitReply)>,
}

impl Submitter {
    /// Stores one interaction (batched with concurrent ones) and reports it.
    pub async fn submit(&self, ix: NewInteraction) -> Result<(), StorageError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send((ix, tx))
            .await
            .map_err(|_| StorageError::retriable("the server is shutting down"))?;
        rx.await
            .unwrap_or_else(|_| Err(StorageError::retriable("the server is shutting down")))
    }
}

/// A running host.
pub struct Server {
    /// The business-process runtime (and through it the applied config).
    pub runtime: Arc<BpRuntime>,
    /// Submission entry point.
    pub submitter: Submitter,
    reloads: ReloadHandle,
    reload_task: JoinHandle<Parts>,
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl Server {
    /// Opens the plugins, loads the components and starts everything.
    pub async fn start(config: Config, registry: &Registry) -> anyhow::Result<Server> {
        let config = Arc::new(config);
        // Everything the config names must be there and fit before anything is created.
        let (c, reg) = (config.clone(), registry.clone());
        tokio::task::spawn_blocking(move || crate::check::runnable(&c, &reg)).await??;
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();

        let storage = Storage::open(&config, registry).await?;
        tracing::info!(plugin = %storage.name(), "Storage open.");

        // Loggers stop after processing has, so they store the last events too.
        let mut loggers = Vec::new();
        for l in &config.event_loggers {
            loggers.push(OpenedLogger::open(registry, l).await?.start());
        }
        let bus = Arc::new(EventBus::new(
            &config.server.node_id,
            loggers.iter().map(|l| l.logger.clone()).collect(),
        ));

        let engine = WasmEngine::new(&config.wasm)?;
        let env = Arc::new(HostEnv::new(
            config.lookup_tables.clone(),
            config.queues().map(|q| q.name.as_str()),
        ));
        let versions = crate::reload::components::versions(&config)
            .map_err(|e| anyhow::anyhow!("{}", e.join("\n")))?;
        let components =
            crate::reload::components::load(&engine, &env, &config, &versions, &BTreeMap::new())
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.join("\n")))?;

        let snapshot = Snapshot {
            generation: 1,
            config: config.clone(),
            components,
            applied_at: crate::time::now_ms(),
        };
        let runtime = BpRuntime::new(
            snapshot,
            storage.clone(),
            bus.clone(),
            env,
            stop.clone(),
            tracker.clone(),
        );
        runtime.refresh_depths_once().await;
        let released = runtime.release_own_leases("restart").await;
        if released > 0 {
            tracing::info!(released, node = %config.server.node_id, "Interactions a previous run of this node left leased put back.");
        }
        runtime.move_replaced_once().await;
        runtime.start();

        let (tx, rx) = mpsc::channel(SUBMIT_BATCH * 4);
        let submitter = Submitter { tx };
        tracker.spawn(submit_loop(rx, runtime.clone(), stop.clone()));

        let (reloads, requests) = crate::reload::channel();
        let listener = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("binding the HTTP API to {}", config.server.listen))?;
        let app = crate::api::router(crate::api::ApiState {
            runtime: runtime.clone(),
            submitter: submitter.clone(),
            reloads: reloads.clone(),
        });
        let limits = crate::api::serve::Limits {
            header_read_timeout: config.server.header_read_timeout,
            max_connections: config.server.max_connections,
        };
        let api = Listening::start(listener, app.clone(), limits, &stop, &tracker)?;
        let watcher = match Watcher::start(
            &crate::reload::watch::watched(&config),
            &reloads,
            stop.clone(),
        ) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "Cannot watch the config files; reload with SIGHUP or POST /v1/admin/reload.");
                None
            }
        };
        tracing::info!(addr = %api.addr, "ixn is up.");
        let parts = Parts {
            registry: registry.clone(),
            runtime: runtime.clone(),
            engine,
            loggers,
            draining: TaskTracker::new(),
            api,
            app,
            stop: stop.clone(),
            tracker: tracker.clone(),
            watcher,
        };
        reloads.set_api_addr(parts.api.addr);
        let reload_task = tokio::spawn(crate::reload::run(parts, reloads.clone(), requests));
        Ok(Server {
            runtime,
            submitter,
            reloads,
            reload_task,
            stop,
            tracker,
        })
    }

    /// The config applied now.
    pub fn config(&self) -> Arc<Config> {
        self.runtime.config()
    }

    /// Where the HTTP API listens now.
    pub fn addr(&self) -> SocketAddr {
        self.reloads
            .api_addr()
            .unwrap_or_else(|| self.config().server.listen)
    }

    /// The reload path, as SIGHUP and the API take it.
    pub fn reloads(&self) -> &ReloadHandle {
        &self.reloads
    }

    /// The event bus.
    pub fn bus(&self) -> &Arc<EventBus> {
        &self.runtime.bus
    }

    /// Stops gracefully, the path SIGTERM and SIGINT take: reloads stop (one
    /// under way finishes), the API stops taking requests (those in flight
    /// are answered), views stop claiming and finish the batches they hold
    /// (calls not yet started are released), waiting at most
    /// `shutdown-timeout`; whatever this node still leases then goes back to
    /// its queue at once; last, the loggers write what they hold and their
    /// sinks flush.
    pub async fn shutdown(self) {
        let shutdown_timeout = self.config().server.shutdown_timeout;
        self.stop.cancel();
        let parts = match self.reload_task.await {
            Ok(parts) => Some(parts),
            Err(e) => {
                tracing::error!(error = %e, "The reload task failed; loggers are not drained.");
                None
            }
        };
        self.tracker.close();
        let deadline = tokio::time::Instant::now() + shutdown_timeout;
        if tokio::time::timeout_at(deadline, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(tasks = self.tracker.len(), timeout = ?shutdown_timeout, "Shutdown timeout passed with work in flight; releasing what is leased.");
        }
        let released = self.runtime.release_own_leases("shutdown").await;
        if released > 0 {
            tracing::info!(released, "Leased interactions released.");
        }
        if let Some(parts) = parts {
            for l in parts.loggers {
                l.drain().await;
            }
            parts.draining.close();
            parts.draining.wait().await;
        }
        let bus = &self.runtime.bus;
        tracing::info!(events_produced = bus.produced(), origin = %bus.origin(), "ixn stopped.");
    }
}

async fn submit_loop(
    mut rx: mpsc::Receiver<(NewInteraction, SubmitReply)>,
    runtime: Arc<BpRuntime>,
    cancel: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            next = rx.recv() => match next {
                Some(item) => item,
                None => return,
            },
            _ = cancel.cancelled() => {
                // Take no more, but store and answer what is already waiting:
                // a request in flight gets its real answer, not a lost one.
                rx.close();
                match rx.recv().await {
                    Some(item) => item,
                    None => return,
                }
            }
        };
        let mut batch = vec![first];
        while batch.len() < SUBMIT_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let items: Vec<NewInteraction> = batch.iter().map(|(ix, _)| ix.clone()).collect();
        match runtime.storage.submit(items).await {
            Ok(()) => {
                report_submitted(&runtime, batch.iter().map(|(ix, _)| ix));
                for (_, reply) in batch {
                    let _ = reply.send(Ok(()));
                }
            }
            // One bad interaction must not fail the others: store them one by one.
            Err(_) if batch.len() > 1 => {
                for (ix, reply) in batch {
                    let result = runtime.storage.submit(vec![ix.clone()]).await;
                    if result.is_ok() {
                        report_submitted(&runtime, std::iter::once(&ix));
                    }
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                for (_, reply) in batch {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

fn report_submitted<'a>(runtime: &BpRuntime, submitted: impl Iterator<Item = &'a NewInteraction>) {
    let mut events = Vec::new();
    let mut queues: Vec<&str> = Vec::new();
    for ix in submitted {
        let userdata = runtime.bus.userdata_of(&ix.properties);
        let mut s = Event::interaction(
            EventKind::InteractionSubmitted,
            None,
            &ix.id,
            ix.submitted_at,
        )
        .attr("media_type", ix.media_type.as_str())
        .attr("interaction_type", ix.interaction_type.as_str())
        .attr("tenant", ix.tenant.as_str())
        .attr("actor", ix.submitted_by.as_str());
        s.userdata = userdata.clone();
        let mut p = Event::interaction(
            EventKind::PlacedInQueue,
            Some(Endpoint::Queue),
            &ix.id,
            ix.submitted_at,
        )
        .attr("queue", ix.queue.as_str())
        .attr("actor", ix.submitted_by.as_str())
        .attr("reason", "submitted");
        p.userdata = userdata;
        events.push(s);
        events.push(p);
        if !queues.contains(&ix.queue.as_str()) {
            queues.push(&ix.queue);
        }
    }
    runtime.bus.emit(events);
    for q in queues {
        runtime.wake(q);
    }
}
