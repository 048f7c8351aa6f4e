//! Assembling a running host from a validated config: storage, event
//! loggers, WASM components, view pullers, submission batching, HTTP API.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use ixn_plugin_api::storage::{NewInteraction, OpenSettings, StorageError};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::bp::scheduler::BpRuntime;
use crate::config::Config;
use crate::events::{Endpoint, Event, EventBus, EventKind, EventLogger};
use crate::plugins::Registry;
use crate::storage::Storage;
use crate::wasm::{BpComponent, HostEnv, WasmEngine};

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
    /// The config it runs.
    pub config: Arc<Config>,
    /// Where the HTTP API listens.
    pub addr: SocketAddr,
    /// The business-process runtime.
    pub runtime: Arc<BpRuntime>,
    /// Submission entry point.
    pub submitter: Submitter,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    logger_cancel: CancellationToken,
    logger_tasks: Vec<JoinHandle<()>>,
}

impl Server {
    /// Opens the plugins, loads the components and starts everything.
    pub async fn start(config: Config, registry: &Registry) -> anyhow::Result<Server> {
        let config = Arc::new(config);
        // Everything the config names must be there and fit before anything is created.
        let (c, reg) = (config.clone(), registry.clone());
        tokio::task::spawn_blocking(move || crate::check::runnable(&c, &reg)).await??;
        std::fs::create_dir_all(&config.server.data_dir).with_context(|| {
            format!(
                "creating data directory {}",
                config.server.data_dir.display()
            )
        })?;
        let cancel = CancellationToken::new();
        // Loggers stop after processing has, so they store the last events too.
        let logger_cancel = CancellationToken::new();
        let mut logger_tasks = Vec::new();

        let settings = OpenSettings {
            settings: config.storage_settings.clone(),
            custom_fields: config.custom_fields.clone(),
        };
        let (reg, r) = (registry.clone(), config.storage.clone());
        let client = tokio::task::spawn_blocking(move || reg.open_storage(&r, &settings))
            .await?
            .with_context(|| format!("opening storage {}", config.storage))?;
        let storage = Storage::new(client);
        tracing::info!(plugin = %storage.name(), "Storage open.");

        let mut loggers = Vec::new();
        for l in &config.event_loggers {
            let (reg, r, s) = (registry.clone(), l.sink.clone(), l.sink_settings.clone());
            let sink = tokio::task::spawn_blocking(move || reg.open_sink(&r, &s))
                .await?
                .with_context(|| format!("opening the sink of event logger `{}`", l.name))?;
            let (logger, task) = EventLogger::start(l, sink, logger_cancel.clone());
            loggers.push(logger);
            logger_tasks.push(task);
            tracing::info!(logger = %l.name, sink = %l.sink, "Event logger started.");
        }
        let bus = Arc::new(EventBus::new(&config.server.node_id, loggers));

        let engine = WasmEngine::new(&config.wasm)?;
        let env = Arc::new(HostEnv {
            lookup_tables: config.lookup_tables.clone(),
            // Every configured queue is known from the start, even should the
            // first count fail.
            queue_depths: std::sync::RwLock::new(
                config.queues().map(|q| (q.name.clone(), 0)).collect(),
            ),
        });
        let mut components = BTreeMap::new();
        for strategy in config.strategies.values() {
            let (e, v, s) = (engine.clone(), env.clone(), strategy.clone());
            let c = tokio::task::spawn_blocking(move || BpComponent::load(&e, &v, &s))
                .await?
                .with_context(|| format!("loading strategy `{}`", strategy.name))?;
            tracing::info!(strategy = %strategy.name, component = %strategy.component.display(), "Strategy loaded.");
            components.insert(strategy.name.clone(), c);
        }

        let runtime = BpRuntime::new(
            config.clone(),
            storage.clone(),
            bus.clone(),
            components,
            env,
        );
        runtime.refresh_depths_once().await;
        let released = runtime.release_own_leases("restart").await;
        if released > 0 {
            tracing::info!(released, node = %config.server.node_id, "Interactions a previous run of this node left leased put back.");
        }
        let mut tasks = runtime.spawn(&cancel);

        let (tx, rx) = mpsc::channel(SUBMIT_BATCH * 4);
        let submitter = Submitter { tx };
        tasks.push(tokio::spawn(submit_loop(
            rx,
            runtime.clone(),
            cancel.clone(),
        )));

        let listener = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("binding the HTTP API to {}", config.server.listen))?;
        let addr = listener.local_addr()?;
        let app = crate::api::router(crate::api::ApiState {
            runtime: runtime.clone(),
            submitter: submitter.clone(),
            body_read_timeout: config.server.body_read_timeout,
            config_applied_at: crate::time::now_ms(),
        });
        let limits = crate::api::serve::Limits {
            header_read_timeout: config.server.header_read_timeout,
            max_connections: config.server.max_connections,
        };
        tasks.push(tokio::spawn(crate::api::serve::serve(
            listener,
            app,
            limits,
            cancel.clone(),
        )));
        tracing::info!(%addr, "ixn is up.");
        Ok(Server {
            config,
            addr,
            runtime,
            submitter,
            cancel,
            tasks,
            logger_cancel,
            logger_tasks,
        })
    }

    /// The event bus.
    pub fn bus(&self) -> &Arc<EventBus> {
        &self.runtime.bus
    }

    /// Stops gracefully, the path SIGTERM and SIGINT take: the API stops
    /// taking requests (those in flight are answered), views stop claiming and
    /// finish the batches they hold (calls not yet started are released),
    /// waiting at most `shutdown-timeout`; whatever this node still leases
    /// then goes back to its queue at once; last, the loggers write what they
    /// hold and their sinks flush.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        let deadline = tokio::time::Instant::now() + self.config.server.shutdown_timeout;
        let mut unfinished = 0;
        for t in self.tasks {
            if tokio::time::timeout_at(deadline, t).await.is_err() {
                unfinished += 1;
            }
        }
        if unfinished > 0 {
            tracing::warn!(tasks = unfinished, timeout = ?self.config.server.shutdown_timeout, "Shutdown timeout passed with work in flight; releasing what is leased.");
        }
        let released = self.runtime.release_own_leases("shutdown").await;
        if released > 0 {
            tracing::info!(released, "Leased interactions released.");
        }
        self.logger_cancel.cancel();
        for t in self.logger_tasks {
            let _ = t.await;
        }
        let bus = &self.runtime.bus;
        for l in bus.loggers() {
            let st = l.stats();
            use std::sync::atomic::Ordering::Relaxed;
            tracing::info!(
                logger = %l.name(),
                written = st.written.load(Relaxed),
                filtered = st.filtered.load(Relaxed),
                discarded = st.discarded_overflow.load(Relaxed) + st.discarded_rejected.load(Relaxed) + st.discarded_shutdown.load(Relaxed),
                "Event logger stopped."
            );
        }
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
