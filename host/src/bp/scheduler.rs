//! The view scheduler: pullers that claim interactions for each view, hand
//! them to the view's BP component, and apply the decisions.
//!
//! Each view runs `concurrency` pullers. A puller claims up to `limit`
//! interactions with a lease, runs the component on a blocking thread, then
//! applies every decision of the batch in one storage transaction. When the
//! queue has nothing for it, it sleeps until `check-interval` passes or
//! something is placed in its queue, whichever comes first. A batch whose
//! decisions cannot be applied stays leased and comes back when the lease expires.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use ixn_plugin_api::storage::{ApplyOutcome, ClaimRequest, Interaction, State};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::decision::{self, Planned, Site};
use super::snapshot::Snapshot;
use super::strategy::{Arm, CallStats, Strategy};
use crate::config::{Config, View, diff};
use crate::events::{Endpoint, Event, EventBus, EventKind};
use crate::storage::Storage;
use crate::time::now_ms;
use crate::wasm::bindings::ViewContext;
use crate::wasm::{BpComponent, HostEnv};

/// Counters of one view.
#[derive(Debug, Default)]
pub struct ViewStats {
    /// Interactions claimed.
    pub claimed: AtomicU64,
    /// Decisions applied.
    pub decided: AtomicU64,
    /// Interactions sent to the error queue.
    pub failed: AtomicU64,
    /// Decisions dropped because the lease was lost meanwhile.
    pub lease_lost: AtomicU64,
}

/// Where a batch's decisions are made: one site per arm of its strategy.
#[derive(Clone, Copy)]
struct Sites<'a> {
    primary: &'a Site<'a>,
    canary: Option<&'a Site<'a>>,
}

impl<'a> Sites<'a> {
    /// The site of `arm` (the primary's when the strategy has no canary).
    fn of(&self, arm: Arm) -> &'a Site<'a> {
        match arm {
            Arm::Canary => self.canary.unwrap_or(self.primary),
            Arm::Primary => self.primary,
        }
    }
}

/// The site of `view`'s decisions made by component `version`.
fn site<'a>(view: &'a View, error_queue: &'a str, owner: &'a str, version: &'a str) -> Site<'a> {
    Site {
        business_process: &view.business_process,
        queue: &view.queue,
        view: &view.name,
        strategy: &view.strategy,
        component_version: version,
        error_queue,
        check_interval: view.check_interval,
        owner,
    }
}

/// What the pullers share.
pub struct BpRuntime {
    /// The applied config and its components; see [`Snapshot`].
    snapshot: ArcSwap<Snapshot>,
    /// The interactions table.
    pub storage: Storage,
    /// Where events go.
    pub bus: Arc<EventBus>,
    /// Shared host-function data.
    pub env: Arc<HostEnv>,
    /// Per queue; kept across reloads (a puller waits on its queue's).
    wakers: RwLock<HashMap<String, Arc<Notify>>>,
    /// Per view name; kept across reloads, so counters survive a change.
    stats: RwLock<HashMap<String, Arc<ViewStats>>>,
    /// Per strategy and component version; kept while the host runs, so a
    /// version rolled back still shows what its calls did.
    calls: RwLock<BTreeMap<(String, String), Arc<CallStats>>>,
    /// The views whose pullers run, with the definition they run.
    running: Mutex<HashMap<String, RunningView>>,
    /// The host's stop: no more claims, and calls not started are released.
    stop: CancellationToken,
    /// Every task the runtime spawned, for a bounded wait at shutdown.
    tracker: TaskTracker,
}

/// The log line for each interaction whose lease ended or was given back.
const LEASE_ENDED: Option<&str> = Some("Lease ended; interaction back in its queue.");

/// A view's pullers: the definition they were started with and their own
/// stop, so a reload stops one view without touching the others.
struct RunningView {
    view: View,
    cancel: CancellationToken,
    /// Held shared by each puller for the length of one claim; a reload that
    /// stops the view takes it exclusively (see [`StoppedViews::settled`]).
    claiming: Arc<tokio::sync::RwLock<()>>,
}

/// The views a swap stopped. Their pullers claim nothing after
/// [`StoppedViews::settled`] returns: a claim already in flight when the stop
/// came has returned by then (its batch is processed as usual). Without this,
/// an interaction submitted right after a reload that disabled its view
/// could still be taken by that in-flight claim.
#[must_use = "await `settled` before saying the views stopped"]
pub struct StoppedViews(Vec<Arc<tokio::sync::RwLock<()>>>);

impl StoppedViews {
    /// Waits for claims in flight in the stopped views (one storage call each, at most).
    pub async fn settled(self) {
        for gate in self.0 {
            drop(gate.write().await);
        }
    }
}

impl BpRuntime {
    /// A runtime for a validated config and its loaded components. Nothing
    /// runs until [`BpRuntime::start`]; `stop` stops it all, and `tracker`
    /// holds every task it spawns.
    pub fn new(
        snapshot: Snapshot,
        storage: Storage,
        bus: Arc<EventBus>,
        env: Arc<HostEnv>,
        stop: CancellationToken,
        tracker: TaskTracker,
    ) -> Arc<Self> {
        Arc::new(BpRuntime {
            snapshot: ArcSwap::from_pointee(snapshot),
            storage,
            bus,
            env,
            wakers: RwLock::default(),
            stats: RwLock::default(),
            calls: RwLock::default(),
            running: Mutex::default(),
            stop,
            tracker,
        })
    }

    /// The applied config and its components.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// The applied config.
    pub fn config(&self) -> Arc<Config> {
        self.snapshot.load().config.clone()
    }

    /// Makes `snapshot` the one later claims run, then stops the pullers of
    /// views it removed or changed and starts those it added or changed;
    /// views it did not change keep pulling undisturbed.
    pub fn swap(self: &Arc<Self>, snapshot: Snapshot) -> StoppedViews {
        self.snapshot.store(Arc::new(snapshot));
        self.sync_views()
    }

    fn waker(&self, queue: &str) -> Arc<Notify> {
        if let Some(n) = self.wakers.read().ok().and_then(|w| w.get(queue).cloned()) {
            return n;
        }
        let mut wakers = self.wakers.write().unwrap_or_else(|p| p.into_inner());
        wakers.entry(queue.to_string()).or_default().clone()
    }

    /// Wakes the views of a queue after something was placed in it.
    pub fn wake(&self, queue: &str) {
        if let Some(n) = self.wakers.read().ok().and_then(|w| w.get(queue).cloned()) {
            n.notify_waiters();
        }
    }

    /// Wakes every view: notices of placements may have been missed.
    pub fn wake_all(&self) {
        if let Ok(wakers) = self.wakers.read() {
            for n in wakers.values() {
                n.notify_waiters();
            }
        }
    }

    /// The storage the views claim from.
    pub(super) fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The host's stop.
    pub(super) fn stopping(&self) -> &CancellationToken {
        &self.stop
    }

    /// A view's counters (since the host started, across reloads).
    pub fn view_stats(&self, view: &str) -> Option<Arc<ViewStats>> {
        self.stats.read().ok()?.get(view).cloned()
    }

    fn stats_of(&self, view: &str) -> Arc<ViewStats> {
        if let Some(s) = self.view_stats(view) {
            return s;
        }
        let mut stats = self.stats.write().unwrap_or_else(|p| p.into_inner());
        stats.entry(view.to_string()).or_default().clone()
    }

    /// What the calls of `strategy`'s component `version` did.
    pub fn call_stats(&self, strategy: &str, version: &str) -> Arc<CallStats> {
        let key = (strategy.to_string(), version.to_string());
        if let Some(s) = self.calls.read().ok().and_then(|c| c.get(&key).cloned()) {
            return s;
        }
        let mut calls = self.calls.write().unwrap_or_else(|p| p.into_inner());
        calls.entry(key).or_default().clone()
    }

    /// Every component version that made a call, by strategy and version.
    pub fn all_call_stats(&self) -> Vec<((String, String), Arc<CallStats>)> {
        self.calls
            .read()
            .map(|c| c.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// Starts every enabled view's pullers, the lease sweeper, the
    /// queue-depth refresher and the listener for work placed by other hosts.
    pub fn start(self: &Arc<Self>) {
        // Nothing ran before: no view to stop.
        let _none = self.sync_views();
        let rt = self.clone();
        self.tracker.spawn(async move { rt.sweep_leases().await });
        let rt = self.clone();
        self.tracker.spawn(async move { rt.refresh_depths().await });
        let rt = self.clone();
        self.tracker
            .spawn(async move { super::work_notices::listen(rt).await });
    }

    /// Brings the running pullers in line with the snapshot's views.
    fn sync_views(self: &Arc<Self>) -> StoppedViews {
        let config = self.config();
        let wanted: HashMap<&str, &View> = config
            .views()
            .filter(|v| v.enabled)
            .map(|v| (v.name.as_str(), v))
            .collect();
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let mut stopped = Vec::new();
        running.retain(|name, r| {
            let keep = wanted
                .get(name.as_str())
                .is_some_and(|v| diff::view_changes(&r.view, v).is_empty());
            if !keep {
                // Its pullers finish the batch they hold and stop.
                r.cancel.cancel();
                stopped.push(r.claiming.clone());
            }
            keep
        });
        for (name, view) in wanted {
            if running.contains_key(name) {
                continue;
            }
            let cancel = self.stop.child_token();
            let claiming = Arc::new(tokio::sync::RwLock::new(()));
            for worker in 0..view.concurrency {
                let (rt, v, c, g) = (self.clone(), view.clone(), cancel.clone(), claiming.clone());
                self.tracker
                    .spawn(async move { rt.puller(v, worker, c, g).await });
            }
            running.insert(
                name.to_string(),
                RunningView {
                    view: view.clone(),
                    cancel,
                    claiming,
                },
            );
        }
        StoppedViews(stopped)
    }

    async fn puller(
        self: Arc<Self>,
        view: View,
        worker: u32,
        cancel: CancellationToken,
        claiming: Arc<tokio::sync::RwLock<()>>,
    ) {
        let owner = format!("{}/{}/{}", self.config().server.node_id, view.name, worker);
        let waker = self.waker(&view.queue);
        let stats = self.stats_of(&view.name);
        tracing::debug!(view = %view.name, worker, "View puller started.");
        loop {
            // A view a reload stopped claims nothing more, even when a wake-up
            // and its stop arrived together.
            if cancel.is_cancelled() {
                return;
            }
            // Register for a wake-up before claiming, so a placement between the
            // claim and the wait is not missed.
            let notified = waker.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let claimed_at = std::time::Instant::now();
            // One snapshot per batch: the batch runs on one generation.
            let snapshot = self.snapshot();
            let Some(strategy) = snapshot.components.get(&view.strategy).cloned() else {
                // Config validation makes this unreachable; say so rather than spin.
                tracing::error!(view = %view.name, strategy = %view.strategy, "View's strategy is not loaded; the view waits for a reload.");
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(view.check_interval) => continue,
                }
            };
            let error_queue = snapshot
                .config
                .process_of(&view.queue)
                .map(|bp| bp.error_queue.clone())
                .unwrap_or_default();
            let lease_ms = snapshot
                .config
                .server
                .lease_timeout
                .as_millis()
                .min(u32::MAX as u128) as u32;
            let request = ClaimRequest {
                queue: view.queue.clone(),
                state: State::Routing,
                condition: view.condition.clone(),
                order: view.order.clone(),
                limit: view.limit,
                owner: owner.clone(),
                lease_ms,
                now: now_ms(),
            };
            let claimed = {
                let _claiming = claiming.read().await;
                // Checked under the gate: a stop taken before this point is
                // seen here, one taken after waits for this claim to return.
                if cancel.is_cancelled() {
                    return;
                }
                self.storage.claim(request).await
            };
            let idle = match claimed {
                Ok(batch) if batch.is_empty() => true,
                Ok(batch) => {
                    stats
                        .claimed
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    let primary = site(&view, &error_queue, &owner, strategy.primary.version());
                    let canary = strategy
                        .canary
                        .as_ref()
                        .map(|c| site(&view, &error_queue, &owner, c.component.version()));
                    let sites = Sites {
                        primary: &primary,
                        canary: canary.as_ref(),
                    };
                    self.process(&snapshot, &strategy, batch, sites, &stats, claimed_at)
                        .await;
                    false
                }
                Err(e) => {
                    tracing::warn!(view = %view.name, error = %e, "Claim failed; retrying after the check interval.");
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = &mut notified => {}
                    _ = tokio::time::sleep(view.check_interval) => {}
                    _ = cancel.cancelled() => return,
                }
            }
        }
    }

    async fn process(
        &self,
        snapshot: &Snapshot,
        strategy: &Strategy,
        batch: Vec<Interaction>,
        sites: Sites<'_>,
        stats: &ViewStats,
        claimed_at: std::time::Instant,
    ) {
        let config = &snapshot.config;
        let now = now_ms();
        let arms: Vec<Arm> = batch
            .iter()
            .map(|ix| strategy.pick(sites.primary.view, &ix.id))
            .collect();
        let taken: Vec<Event> = batch
            .iter()
            .zip(&arms)
            .flat_map(|(ix, arm)| decision::taken_events(&self.bus, ix, sites.of(*arm), now))
            .collect();
        self.bus.emit_for(snapshot.generation, taken);

        let context = ViewContext {
            business_process: sites.primary.business_process.to_string(),
            queue: sites.primary.queue.to_string(),
            view: sites.primary.view.to_string(),
            now,
        };
        let with_stats = |c: &Arc<BpComponent>| (c.clone(), self.call_stats(c.name(), c.version()));
        let primary = with_stats(&strategy.primary);
        let canary = strategy.canary.as_ref().map(|c| with_stats(&c.component));
        // Stop starting calls while the batch's leases still have room for one
        // more call to time out and the batch to be applied: what is not handled
        // by then is released, not left to expire and be taken twice (a batch of
        // slow calls can outlast its lease). Config validation keeps the lease
        // longer than twice the call timeout.
        let lease = config.server.lease_timeout;
        let margin = (config.wasm.call_timeout * 2).max(lease / 4).min(lease);
        let deadline = claimed_at + (lease - margin);
        // A host that is stopping starts no more calls either: what is not yet
        // handled goes back to its queue at once.
        let stopping = self.stop.clone();
        let picks = arms.clone();
        let (batch, results) = match tokio::task::spawn_blocking(move || {
            let results: Vec<_> = batch
                .iter()
                .zip(picks)
                .map(|(ix, arm)| {
                    let (c, calls) = match (arm, &canary) {
                        (Arm::Canary, Some(canary)) => canary,
                        _ => &primary,
                    };
                    (std::time::Instant::now() < deadline && !stopping.is_cancelled()).then(|| {
                        let started = std::time::Instant::now();
                        let (result, reports) =
                            c.handle_reporting(&decision::to_bp_interaction(ix), &context);
                        calls.record(started.elapsed(), &result);
                        (result, reports)
                    })
                })
                .collect();
            (batch, results)
        })
        .await
        {
            Ok(r) => r,
            Err(e) => {
                // The batch stays leased and comes back when the lease expires.
                tracing::error!(view = sites.primary.view, error = %e, "Strategy batch did not complete.");
                return;
            }
        };

        let now = now_ms();
        let custom_fields = &config.custom_fields;
        let planned: Vec<(&Interaction, Planned, Arm)> = batch
            .iter()
            .zip(results)
            .zip(arms)
            .map(|((ix, called), arm)| {
                let site = sites.of(arm);
                let (result, reports) = match called {
                    Some((result, reports)) => (Some(result), reports),
                    None => (None, Vec::new()),
                };
                let mut p = match result {
                    None if self.stop.is_cancelled() => decision::plan_release(&self.bus, ix, site, now, "shutdown"),
                    None => decision::plan_release(&self.bus, ix, site, now, "lease-deadline"),
                    Some(Ok(d)) => {
                        let p = decision::plan_decision(&self.bus, ix, d, site, |q| config.process_of(q).is_some(), custom_fields, now);
                        if p.failure {
                            stats.failed.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(interaction = %ix.id, view = site.view, strategy = site.strategy, "Decision refused; interaction sent to the error queue.");
                        }
                        p
                    }
                    Some(Err(e)) => {
                        stats.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(interaction = %ix.id, view = site.view, strategy = site.strategy, error = %e, "Strategy failed; interaction sent to the error queue.");
                        decision::plan_failure(&self.bus, ix, &e, site, now)
                    }
                };
                // What the strategy reported during the call comes first: it
                // happened before the outcome.
                p.events.splice(0..0, decision::report_events(ix, &reports, site, now));
                (ix, p, arm)
            })
            .collect();
        self.apply_planned(planned, sites, stats, snapshot.generation)
            .await;
    }

    /// Applies a batch's planned decisions in one storage call. A record the
    /// storage refuses (a value its custom field cannot hold) sends that one
    /// interaction to the error queue with the reason, in a second, smaller
    /// call; the rest of the batch is applied at once and nothing is left
    /// leased to be claimed and refused again.
    async fn apply_planned(
        &self,
        mut round: Vec<(&Interaction, Planned, Arm)>,
        sites: Sites<'_>,
        stats: &ViewStats,
        generation: u64,
    ) {
        // Round 0: the decisions; 1: error-queue moves with the reason; 2: the
        // same moves without attached data, should even the reason be refused.
        for attempt in 0..3 {
            if round.is_empty() {
                return;
            }
            let site = sites.primary;
            let records: Vec<_> = round.iter().map(|(_, p, _)| p.record.clone()).collect();
            let outcomes = match self.storage.apply(records).await {
                Ok(outcomes) if outcomes.len() == round.len() => outcomes,
                Ok(outcomes) => {
                    tracing::error!(
                        view = site.view,
                        asked = round.len(),
                        answered = outcomes.len(),
                        "Storage answered a different number of outcomes; the batch comes back when its leases expire."
                    );
                    return;
                }
                Err(e) => {
                    tracing::error!(view = site.view, error = %e, "Applying decisions failed; the batch comes back when its leases expire.");
                    return;
                }
            };
            let mut events = Vec::new();
            let mut wake: Vec<String> = Vec::new();
            let mut refused = Vec::new();
            for ((ix, p, arm), outcome) in round.into_iter().zip(outcomes) {
                match outcome {
                    ApplyOutcome::Applied => {
                        stats.decided.fetch_add(1, Ordering::Relaxed);
                        events.extend(p.events);
                        if let Some(q) = p.placed_in
                            && !wake.contains(&q)
                        {
                            wake.push(q);
                        }
                    }
                    ApplyOutcome::LeaseLost => {
                        stats.lease_lost.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(interaction = %p.record.id, view = site.view, "Lease lost before the decision was applied; decision dropped.");
                    }
                    ApplyOutcome::Refused(why) => {
                        let reason = format!("storage refused the decision: {why}");
                        let now = now_ms();
                        let next = if attempt == 0 {
                            stats.failed.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(interaction = %ix.id, view = site.view, reason = %why, "Storage refused a decision; interaction sent to the error queue.");
                            decision::plan_failure(&self.bus, ix, &reason, sites.of(arm), now)
                        } else {
                            tracing::warn!(interaction = %ix.id, view = site.view, reason = %why, "Storage refused the error data too; the interaction goes to the error queue without it.");
                            decision::plan_failure_without_data(
                                &self.bus,
                                ix,
                                &reason,
                                sites.of(arm),
                                now,
                            )
                        };
                        refused.push((ix, next, arm));
                    }
                }
            }
            self.bus.emit_for(generation, events);
            for q in wake {
                self.wake(&q);
            }
            round = refused;
        }
        for (ix, _, _) in round {
            tracing::error!(interaction = %ix.id, view = sites.primary.view, "Storage refused even a bare move to the error queue; the interaction comes back when its lease expires.");
        }
    }

    async fn sweep_leases(self: Arc<Self>) {
        loop {
            // Read each round: a reload may change it.
            let period = self.config().server.recovery_interval;
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = self.stop.cancelled() => return,
            }
            self.recover_once().await;
            // A batch that ran on an older config may still have sent
            // something to a queue a reload removed: it moves on from there too.
            self.move_replaced_once().await;
        }
    }

    /// Puts back interactions whose lease expired; returns how many.
    pub async fn recover_once(&self) -> usize {
        let now = now_ms();
        let recovered = self.storage.recover_expired(now).await;
        self.requeued(recovered, "lease-expired", now, LEASE_ENDED)
    }

    /// Puts back at once everything this node's pullers hold: at a stop, a
    /// batch that outlived the shutdown timeout (`reason` "shutdown"); at a
    /// start, what a killed predecessor of the same `node-id` left leased
    /// ("restart"), so it is not stranded until its lease expires. Both rely
    /// on `node-id` being unique among the hosts sharing a storage. Returns
    /// how many.
    pub async fn release_own_leases(&self, reason: &str) -> usize {
        let prefix = format!("{}/", self.config().server.node_id);
        let released = self.storage.release_leases(prefix).await;
        self.requeued(released, reason, now_ms(), LEASE_ENDED)
    }

    /// Moves what removed queues still hold to the queues that replace them
    /// (`replaces` in the config); returns how many moved.
    pub async fn move_replaced_once(&self) -> usize {
        let config = self.config();
        let mut moved = 0;
        for q in config.queues() {
            for from in &q.replaces {
                let now = now_ms();
                let result = self
                    .storage
                    .move_queue(from.clone(), q.name.clone(), now)
                    .await;
                // One line for the move, not one per interaction.
                let n = self.requeued(result, "queue-removed", now, None);
                if n > 0 {
                    tracing::info!(moved = n, from = %from, to = %q.name, "Interactions of a removed queue moved to the queue that replaces it.");
                }
                moved += n;
            }
        }
        moved
    }

    /// Reports interactions (re)queued, each with `reason` on its event, logs
    /// `each` once per interaction when given, and wakes their views.
    fn requeued(
        &self,
        result: Result<
            Vec<ixn_plugin_api::storage::Recovered>,
            ixn_plugin_api::storage::StorageError,
        >,
        reason: &str,
        now: i64,
        each: Option<&str>,
    ) -> usize {
        match result {
            Ok(recovered) => {
                let events = recovered
                    .iter()
                    .map(|r| {
                        Event::interaction(
                            EventKind::PlacedInQueue,
                            Some(Endpoint::Queue),
                            &r.id,
                            now,
                        )
                        .attr("queue", r.queue.as_str())
                        .attr("reason", reason)
                    })
                    .collect();
                self.bus.emit(events);
                for r in &recovered {
                    if let Some(message) = each {
                        tracing::warn!(interaction = %r.id, queue = %r.queue, reason, "{message}");
                    }
                    self.wake(&r.queue);
                }
                recovered.len()
            }
            Err(e) => {
                tracing::warn!(error = %e, reason, "Queuing interactions again failed.");
                0
            }
        }
    }

    /// Counts what waits in each configured queue, for the `queue-depth` host
    /// function. The server runs it once before the first view pulls, so a
    /// component never sees a configured queue as unknown.
    pub async fn refresh_depths_once(&self) {
        match self.storage.counts().await {
            Ok(counts) => {
                let mut depths: HashMap<String, u32> = self
                    .config()
                    .queues()
                    .map(|q| (q.name.clone(), 0))
                    .collect();
                for c in counts {
                    if let Some(d) = depths.get_mut(&c.queue) {
                        *d = c.queued.min(u32::MAX as u64) as u32;
                    }
                }
                if let Ok(mut w) = self.env.queue_depths.write() {
                    *w = depths;
                }
            }
            Err(e) => tracing::warn!(error = %e, "Queue depth refresh failed."),
        }
    }

    async fn refresh_depths(self: Arc<Self>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = self.stop.cancelled() => return,
            }
            self.refresh_depths_once().await;
        }
    }
}
