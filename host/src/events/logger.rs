//! One event logger: filter, map, batch, write to its sink.
//!
//! Events wait in a bounded queue of `max-queue-size` records; a batch is
//! written when `batch-size` records are waiting or `storing-timeout` has
//! passed since the first of them. A retriable sink error keeps the batch and
//! retries after `reconnect-timeout` while new events keep queueing (and, past
//! the bound, are discarded and counted, as the seed says). With
//! `spool = "disk"` what the sink cannot take goes to the logger's disk
//! spool instead, which is delivered, oldest first, before anything newer
//! and survives restarts. A permanent refusal is narrowed down to the
//! records at fault, which go to the dead-letter file with the reason; the
//! rest of the batch is written.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ixn_plugin_api::sink::{ErrorKind, EventRecord, Field, SinkClient};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::dead_letter::DeadLetter;
use super::spool::SpoolHandle;
use super::{Endpoint, Event};
use crate::config::{EventFilter, EventLoggerConfig};

enum Message {
    Record(EventRecord),
    Flush(oneshot::Sender<()>),
}

/// Counters of one logger.
#[derive(Debug, Default)]
pub struct LoggerStats {
    /// Events offered to the logger.
    pub received: AtomicU64,
    /// Records accepted into the queue.
    pub queued: AtomicU64,
    /// Records the sink acknowledged.
    pub written: AtomicU64,
    /// Records discarded because the queue was full.
    pub discarded_overflow: AtomicU64,
    /// Records the sink refused for good that the dead-letter file could not take either.
    pub discarded_rejected: AtomicU64,
    /// Records left out by `event-filtering`.
    pub filtered: AtomicU64,
    /// Write attempts that failed.
    pub write_errors: AtomicU64,
    /// Write attempts that failed as retriable (the sink down): kept and retried.
    pub retried: AtomicU64,
    /// Records appended to the disk spool.
    pub spooled: AtomicU64,
    /// Records in the disk spool now.
    pub spool_records: AtomicU64,
    /// Bytes in the disk spool now.
    pub spool_bytes: AtomicU64,
    /// Records discarded because the disk spool was full (`spool-max-size`).
    pub discarded_spool_full: AtomicU64,
    /// Records the sink refused for good, kept in the dead-letter file.
    pub dead_lettered: AtomicU64,
    /// Records still unwritten when the host stopped while the sink was down.
    pub discarded_shutdown: AtomicU64,
    /// When the logger last discarded or dropped a record (ms since the epoch; 0: never).
    pub last_loss_at: AtomicI64,
    /// `Some` while the sink fails: since when, and its latest error.
    pub failing: Mutex<Option<crate::storage::Failing>>,
    /// The latest error of the sink, kept after it works again: when
    /// (`since`) and what.
    pub last_error: Mutex<Option<crate::storage::Failing>>,
}

impl LoggerStats {
    fn lost(&self) {
        self.last_loss_at
            .store(crate::time::now_ms(), Ordering::Relaxed);
    }

    fn note_error(&self, error: &str) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(crate::storage::Failing {
                since: crate::time::now_ms(),
                error: error.to_string(),
            });
        }
    }

    /// The sink's latest error, if it ever failed.
    pub fn last_error(&self) -> Option<crate::storage::Failing> {
        self.last_error.lock().ok().and_then(|f| f.clone())
    }

    fn sink_failed(&self, error: &str) {
        self.note_error(error);
        if let Ok(mut failing) = self.failing.lock() {
            let since = failing
                .as_ref()
                .map_or_else(crate::time::now_ms, |f| f.since);
            *failing = Some(crate::storage::Failing {
                since,
                error: error.to_string(),
            });
        }
    }

    fn spool_gauges(&self, spool: &SpoolHandle) {
        self.spool_records.store(spool.records(), Ordering::Relaxed);
        self.spool_bytes.store(spool.bytes(), Ordering::Relaxed);
    }

    fn sink_works(&self) {
        if let Ok(mut failing) = self.failing.lock() {
            *failing = None;
        }
    }

    /// `Some` while the sink fails.
    pub fn failing(&self) -> Option<crate::storage::Failing> {
        self.failing.lock().ok().and_then(|f| f.clone())
    }
}

/// A running event logger.
pub struct EventLogger {
    name: String,
    filter: EventFilter,
    custom_events: std::collections::BTreeMap<u32, super::Activity>,
    userdata_keys: Vec<String>,
    tx: mpsc::Sender<Message>,
    sink: Arc<SinkClient>,
    stats: Arc<LoggerStats>,
}

impl EventLogger {
    /// A logger over an open sink and the writer that stores what it is
    /// offered. Offers queue until the writer runs ([`Writer::run`]), so a
    /// logger replacing another can take events at once and write them only
    /// after the old one drained.
    pub fn new(config: &EventLoggerConfig, sink: SinkClient) -> (Arc<Self>, Writer) {
        let (tx, rx) = mpsc::channel(config.max_queue_size);
        let sink = Arc::new(sink);
        let stats = Arc::new(LoggerStats::default());
        let writer = Writer {
            name: config.name.clone(),
            sink: sink.clone(),
            stats: stats.clone(),
            batch_size: config.batch_size,
            storing_timeout: config.storing_timeout,
            reconnect_timeout: config.reconnect_timeout,
            spool: config.spool.clone(),
            dead_letter: DeadLetter::new(&config.dead_letter_dir, &config.name),
            rx,
        };
        let logger = Arc::new(EventLogger {
            name: config.name.clone(),
            filter: config.filter.clone(),
            custom_events: config.custom_events.clone(),
            userdata_keys: if config.filter.log_userdata {
                config.itx_custom_keys.clone()
            } else {
                Vec::new()
            },
            tx,
            sink,
            stats,
        });
        (logger, writer)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its counters.
    pub fn stats(&self) -> &LoggerStats {
        &self.stats
    }

    /// Records waiting in its memory queue.
    pub fn queue_length(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Attached-data keys this logger maps.
    pub fn userdata_keys(&self) -> &[String] {
        &self.userdata_keys
    }

    /// Records its sink holds, where the sink can tell.
    pub async fn stored_count(&self) -> anyhow::Result<Option<u64>> {
        let sink = self.sink.clone();
        Ok(tokio::task::spawn_blocking(move || sink.stored_count()).await??)
    }

    fn wanted(&self, event: &Event) -> bool {
        wants(&self.filter, event)
    }

    fn record(&self, origin: &str, generation: u64, sequence: u64, event: &Event) -> EventRecord {
        let mut fields: Vec<Field> = event
            .attributes
            .iter()
            .map(|(name, value)| Field {
                name: name.clone(),
                value: value.clone(),
            })
            .collect();
        if self.filter.log_userdata {
            fields.extend(
                event
                    .userdata
                    .iter()
                    .filter(|(k, _)| self.userdata_keys.contains(k))
                    .map(|(name, value)| Field {
                        name: name.clone(),
                        value: value.clone(),
                    }),
            );
        }
        EventRecord {
            event_id: event.kind.id(),
            event_name: event.kind.name().to_string(),
            activity: activity(&self.custom_events, event).as_str().to_string(),
            endpoint: event.endpoint.map(|e| e.as_str().to_string()),
            occurred_at: event.occurred_at,
            origin: origin.to_string(),
            sequence,
            generation,
            interaction_id: event.interaction_id.clone(),
            fields,
        }
    }

    /// Offers events of `origin` and config `generation` numbered from
    /// `first_sequence`; never waits.
    pub fn offer(&self, origin: &str, generation: u64, first_sequence: u64, events: &[Event]) {
        self.stats
            .received
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        for (i, event) in events.iter().enumerate() {
            if !self.wanted(event) {
                self.stats.filtered.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let record = self.record(origin, generation, first_sequence + i as u64, event);
            match self.tx.try_send(Message::Record(record)) {
                Ok(()) => {
                    self.stats.queued.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    self.stats.lost();
                    let n = self
                        .stats
                        .discarded_overflow
                        .fetch_add(1, Ordering::Relaxed)
                        + 1;
                    // One line per thousand, not one per event: an overflowing logger must not flood the log.
                    if n == 1 || n.is_multiple_of(1000) {
                        tracing::warn!(logger = %self.name, discarded = n, "Event logger queue is full (max-queue-size); events discarded.");
                    }
                }
            }
        }
    }

    /// Waits until everything offered before this call is written (or given up on).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Message::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Where a logger keeps what its sink cannot take yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolConfig {
    /// The spool's directory.
    pub dir: std::path::PathBuf,
    /// Bytes of undelivered records it may hold.
    pub max_bytes: u64,
}

/// Writes a logger's queue to its sink, in batches.
pub struct Writer {
    name: String,
    sink: Arc<SinkClient>,
    stats: Arc<LoggerStats>,
    batch_size: usize,
    storing_timeout: Duration,
    reconnect_timeout: Duration,
    spool: Option<SpoolConfig>,
    dead_letter: DeadLetter,
    rx: mpsc::Receiver<Message>,
}

impl Writer {
    /// Writes until `cancel`, then stores what is queued, flushes the sink
    /// and returns what it could not write: a sink that is down when the
    /// logger stops leaves its records to the logger that replaces it (with
    /// a disk spool, nothing is left: the spool keeps it). `carried` are
    /// such records of a predecessor, written first.
    pub async fn run(
        mut self,
        cancel: CancellationToken,
        carried: Vec<EventRecord>,
    ) -> Vec<EventRecord> {
        let mut rx = std::mem::replace(&mut self.rx, mpsc::channel(1).1);
        let spool = self.open_spool().await;
        let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
        if !carried.is_empty() {
            tracing::info!(logger = %self.name, records = carried.len(), "Writing the records the replaced logger could not.");
            match spool.as_ref() {
                Some(sp) => self.to_spool(sp, carried).await,
                None => {
                    if let Err(left) = self.write_all(carried, &cancel).await {
                        return self.stop(left, &mut rx, waiters).await;
                    }
                }
            }
        }
        let mut batch: Vec<EventRecord> = Vec::with_capacity(self.batch_size);
        loop {
            if let Some(sp) = spool.as_ref().filter(|sp| !sp.is_empty()) {
                let cancelled = self
                    .deliver_spooled(sp, &mut rx, &mut waiters, &cancel)
                    .await;
                if cancelled {
                    self.spool_queued(sp, &mut rx, &mut waiters).await;
                    return self.stop(Vec::new(), &mut rx, waiters).await;
                }
                continue;
            }
            // Wait for the first record of a batch, then until the batch is full or the timeout passes.
            let deadline = tokio::time::Instant::now() + self.storing_timeout;
            let mut closed = false;
            while batch.len() < self.batch_size && waiters.is_empty() {
                let next = if batch.is_empty() {
                    tokio::select! {
                        m = rx.recv() => m,
                        _ = cancel.cancelled() => None,
                    }
                } else {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(m) => m,
                        Err(_) => break,
                    }
                };
                match next {
                    Some(Message::Record(r)) => batch.push(r),
                    Some(Message::Flush(w)) => waiters.push(w),
                    None => {
                        closed = true;
                        break;
                    }
                }
            }
            if closed {
                // Drain what is already queued before stopping.
                while let Ok(m) = rx.try_recv() {
                    match m {
                        Message::Record(r) => batch.push(r),
                        Message::Flush(w) => waiters.push(w),
                    }
                }
            }
            let mut left = Vec::new();
            if !batch.is_empty() {
                let batch = std::mem::take(&mut batch);
                match spool.as_ref() {
                    // One attempt; what the sink does not take goes to the
                    // spool, and the spool is delivered before anything newer.
                    Some(sp) => {
                        if let Err(unwritten) = self.try_write(batch).await {
                            self.to_spool(sp, unwritten).await;
                        }
                    }
                    None if closed => {
                        if let Err(unwritten) = self.write_all(batch, &cancel).await {
                            left = unwritten;
                        }
                    }
                    None => {
                        if let Err(unwritten) = self.write(batch, &cancel).await {
                            left = unwritten;
                        }
                    }
                }
            }
            if spool.as_ref().is_none_or(|sp| sp.is_empty()) {
                for w in waiters.drain(..) {
                    let _ = w.send(());
                }
            }
            if closed || !left.is_empty() {
                if let Some(sp) = spool.as_ref() {
                    self.spool_queued(sp, &mut rx, &mut waiters).await;
                }
                return self.stop(left, &mut rx, waiters).await;
            }
        }
    }

    /// Opens the disk spool, when configured; one that cannot be opened is
    /// reported and the logger goes on with its memory queue alone.
    async fn open_spool(&self) -> Option<SpoolHandle> {
        let config = self.spool.clone()?;
        match SpoolHandle::open(config.dir, config.max_bytes).await {
            Ok(spool) => {
                self.stats.spool_gauges(&spool);
                Some(spool)
            }
            Err(e) => {
                tracing::error!(logger = %self.name, error = %e, "Event spool unusable; this logger keeps events in memory only.");
                self.stats.sink_failed(&e.to_string());
                None
            }
        }
    }

    /// Appends `records` to the spool; what does not fit (the size cap) or
    /// cannot be written is discarded, counted and logged.
    async fn to_spool(&self, spool: &SpoolHandle, records: Vec<EventRecord>) {
        if records.is_empty() {
            return;
        }
        let n = records.len();
        let appended = match spool.append(records).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(logger = %self.name, error = %e, "Appending to the event spool failed.");
                0
            }
        };
        self.stats
            .spooled
            .fetch_add(appended as u64, Ordering::Relaxed);
        self.stats.spool_gauges(spool);
        if appended < n {
            self.stats.lost();
            let d = (n - appended) as u64;
            let total = self
                .stats
                .discarded_spool_full
                .fetch_add(d, Ordering::Relaxed)
                + d;
            tracing::error!(logger = %self.name, discarded = d, total, "Event spool is full (spool-max-size) or unwritable; events discarded.");
        }
    }

    /// Moves what waits in the memory queue to the spool; flush requests wait for the spool to empty.
    async fn spool_queued(
        &self,
        spool: &SpoolHandle,
        rx: &mut mpsc::Receiver<Message>,
        waiters: &mut Vec<oneshot::Sender<()>>,
    ) {
        let mut records = Vec::new();
        while let Ok(m) = rx.try_recv() {
            match m {
                Message::Record(r) => records.push(r),
                Message::Flush(w) => waiters.push(w),
            }
        }
        self.to_spool(spool, records).await;
    }

    /// Delivers the spool, oldest first, while new records join it behind;
    /// returns once it is empty (false) or when cancelled (true).
    async fn deliver_spooled(
        &self,
        spool: &SpoolHandle,
        rx: &mut mpsc::Receiver<Message>,
        waiters: &mut Vec<oneshot::Sender<()>>,
        cancel: &CancellationToken,
    ) -> bool {
        loop {
            self.spool_queued(spool, rx, waiters).await;
            if spool.is_empty() {
                for w in waiters.drain(..) {
                    let _ = w.send(());
                }
                return false;
            }
            let batch = match spool.peek(self.batch_size).await {
                Ok(batch) => batch,
                Err(e) => {
                    // An unreadable spool cannot be delivered: say so and wait for an operator.
                    tracing::error!(logger = %self.name, error = %e, "Reading the event spool failed.");
                    self.stats.sink_failed(&e.to_string());
                    Vec::new()
                }
            };
            let n = batch.len();
            let done = if n == 0 {
                0
            } else {
                match self.try_write(batch).await {
                    Ok(()) => n,
                    Err(rest) => n - rest.len(),
                }
            };
            if done > 0 {
                if let Err(e) = spool.consume(done).await {
                    tracing::error!(logger = %self.name, error = %e, "Recording delivery in the event spool failed; those records may be sent again.");
                }
                self.stats.spool_gauges(spool);
            }
            if done == n && n > 0 {
                continue;
            }
            // The sink is down: keep taking new records into the spool until it is time to retry.
            let retry_at = tokio::time::Instant::now() + self.reconnect_timeout;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(retry_at) => break,
                    _ = cancel.cancelled() => return true,
                    m = rx.recv() => match m {
                        Some(Message::Record(r)) => {
                            let mut records = vec![r];
                            while records.len() < self.batch_size {
                                match rx.try_recv() {
                                    Ok(Message::Record(r)) => records.push(r),
                                    Ok(Message::Flush(w)) => waiters.push(w),
                                    Err(_) => break,
                                }
                            }
                            self.to_spool(spool, records).await;
                        }
                        Some(Message::Flush(w)) => waiters.push(w),
                        None => return true,
                    },
                }
            }
        }
    }

    /// Collects what is still queued after `left`, answers flush requests,
    /// flushes the sink and returns the records never written.
    async fn stop(
        &self,
        mut left: Vec<EventRecord>,
        rx: &mut mpsc::Receiver<Message>,
        waiters: Vec<oneshot::Sender<()>>,
    ) -> Vec<EventRecord> {
        while let Ok(m) = rx.try_recv() {
            match m {
                Message::Record(r) => left.push(r),
                Message::Flush(w) => {
                    let _ = w.send(());
                }
            }
        }
        for w in waiters {
            let _ = w.send(());
        }
        let sink = self.sink.clone();
        let _ = tokio::task::spawn_blocking(move || sink.flush()).await;
        if !left.is_empty() {
            tracing::warn!(logger = %self.name, records = left.len(), "Stopping with records the sink did not take.");
        }
        left
    }

    /// Writes `records` in batches of `batch-size`, retrying while the sink
    /// is down; on cancellation, returns the ones not written.
    async fn write_all(
        &self,
        records: Vec<EventRecord>,
        cancel: &CancellationToken,
    ) -> Result<(), Vec<EventRecord>> {
        let mut rest = records.into_iter().peekable();
        while rest.peek().is_some() {
            let batch: Vec<EventRecord> = rest.by_ref().take(self.batch_size).collect();
            if let Err(mut left) = self.write(batch, cancel).await {
                left.extend(rest);
                return Err(left);
            }
        }
        Ok(())
    }

    /// Writes one batch, retrying after `reconnect-timeout` while the sink
    /// is down; gives back what is unwritten when cancelled first.
    async fn write(
        &self,
        mut batch: Vec<EventRecord>,
        cancel: &CancellationToken,
    ) -> Result<(), Vec<EventRecord>> {
        loop {
            match self.try_write(batch).await {
                Ok(()) => return Ok(()),
                Err(rest) => batch = rest,
            }
            if cancel.is_cancelled() {
                return Err(batch);
            }
            tokio::select! {
                _ = tokio::time::sleep(self.reconnect_timeout) => {}
                _ = cancel.cancelled() => return Err(batch),
            }
        }
    }

    /// One attempt at a batch. A permanent refusal is narrowed down by
    /// halving the batch until the refused records stand alone; those go to
    /// the dead-letter file with the sink's reason, the rest are written.
    /// A retriable failure gives back the records not written yet, in order
    /// (those before it were written).
    async fn try_write(&self, batch: Vec<EventRecord>) -> Result<(), Vec<EventRecord>> {
        // Pieces still to write, the next one last.
        let mut pieces = vec![batch];
        while let Some(piece) = pieces.pop() {
            if piece.is_empty() {
                continue;
            }
            let piece = Arc::new(piece);
            let (sink, records) = (self.sink.clone(), piece.clone());
            let result = tokio::task::spawn_blocking(move || sink.write(&records)).await;
            let error = match result {
                Ok(Ok(())) => {
                    self.stats
                        .written
                        .fetch_add(piece.len() as u64, Ordering::Relaxed);
                    self.stats.sink_works();
                    continue;
                }
                Ok(Err(e)) => e,
                Err(join) => {
                    ixn_plugin_api::sink::SinkError::permanent(format!("sink call failed: {join}"))
                }
            };
            self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
            self.stats.note_error(&error.message);
            let mut piece = Arc::unwrap_or_clone(piece);
            if error.kind == ErrorKind::Retriable {
                self.stats.retried.fetch_add(1, Ordering::Relaxed);
                self.stats.sink_failed(&error.message);
                tracing::warn!(logger = %self.name, records = piece.len(), error = %error, retry_in = ?self.reconnect_timeout, "Sink is unavailable; the records are kept and retried.");
                while let Some(later) = pieces.pop() {
                    piece.extend(later);
                }
                return Err(piece);
            }
            if piece.len() > 1 {
                let second = piece.split_off(piece.len() / 2);
                pieces.push(second);
                pieces.push(piece);
                continue;
            }
            for record in piece {
                self.dead_letter(record, &error.message).await;
            }
        }
        Ok(())
    }

    /// Puts one record the sink refused into the dead-letter file.
    async fn dead_letter(&self, record: EventRecord, reason: &str) {
        let (dl, why) = (self.dead_letter.clone(), reason.to_string());
        let sequence = record.sequence;
        let put = tokio::task::spawn_blocking(move || dl.put(&record, &why)).await;
        match put {
            Ok(Ok(())) => {
                self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                tracing::error!(logger = %self.name, sequence, reason, file = %self.dead_letter.path().display(), "Sink refused an event for good; it is in the dead-letter file.");
            }
            Ok(Err(e)) => self.rejected_lost(sequence, reason, &e.to_string()),
            Err(e) => self.rejected_lost(sequence, reason, &e.to_string()),
        }
    }

    fn rejected_lost(&self, sequence: u64, reason: &str, error: &str) {
        self.stats.lost();
        self.stats
            .discarded_rejected
            .fetch_add(1, Ordering::Relaxed);
        tracing::error!(logger = %self.name, sequence, reason, error, "Sink refused an event and the dead-letter file cannot take it; it is lost.");
    }
}

/// The table an event belongs to: its kind's, except that
/// EventCustomReporting goes where `custom-events` maps its
/// `custom_event_id` attribute (the custom table when unlisted).
fn activity(
    custom_events: &std::collections::BTreeMap<u32, super::Activity>,
    event: &Event,
) -> super::Activity {
    if event.kind != super::EventKind::CustomReporting {
        return event.kind.activity();
    }
    event
        .attributes
        .iter()
        .find(|(name, _)| name == CUSTOM_EVENT_ID)
        .and_then(|(_, value)| match value {
            ixn_plugin_api::sink::Value::Int(id) => u32::try_from(*id).ok(),
            _ => None,
        })
        .and_then(|id| custom_events.get(&id).copied())
        .unwrap_or(super::Activity::Custom)
}

/// The attribute of EventCustomReporting that `custom-events` maps.
pub const CUSTOM_EVENT_ID: &str = "custom_event_id";

/// The seed's `event-filtering`: `event-filter-by-id`, when set, keeps only
/// those ids; each `log-*` option set to false drops the events of its
/// endpoint type. Events without an endpoint type (properties changed,
/// submitted, processing stopped, held, resumed, custom reporting) cannot be
/// filtered by endpoint.
fn wants(f: &EventFilter, event: &Event) -> bool {
    if let Some(ids) = &f.only_ids
        && !ids.contains(&event.kind.id())
    {
        return false;
    }
    match event.endpoint {
        Some(Endpoint::Queue) => f.log_queue,
        Some(Endpoint::Strategy) => f.log_strategy,
        Some(Endpoint::Agent) => f.log_agent_activity,
        Some(Endpoint::AgentState) => f.log_agent_state,
        Some(Endpoint::Esp) => f.log_esp_service,
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventKind;

    fn event(kind: EventKind, endpoint: Option<Endpoint>) -> Event {
        Event::interaction(kind, endpoint, "ix", 0)
    }

    /// Turns one `log-*` option off.
    type SwitchOff = fn(&mut EventFilter);

    #[test]
    fn each_endpoint_option_drops_its_endpoint_only() {
        let cases: [(SwitchOff, EventKind, Endpoint); 5] = [
            (
                |f| f.log_queue = false,
                EventKind::TakenFromQueue,
                Endpoint::Queue,
            ),
            (
                |f| f.log_strategy = false,
                EventKind::PartyAdded,
                Endpoint::Strategy,
            ),
            (
                |f| f.log_agent_activity = false,
                EventKind::PartyAdded,
                Endpoint::Agent,
            ),
            (
                |f| f.log_agent_state = false,
                EventKind::AgentLogin,
                Endpoint::AgentState,
            ),
            (
                |f| f.log_esp_service = false,
                EventKind::PlacedInQueue,
                Endpoint::Esp,
            ),
        ];
        let endpoints = [
            Endpoint::Queue,
            Endpoint::Strategy,
            Endpoint::Agent,
            Endpoint::AgentState,
            Endpoint::Esp,
        ];
        for (switch_off, kind, dropped) in cases {
            let mut f = EventFilter::default();
            switch_off(&mut f);
            for e in endpoints {
                assert_eq!(
                    wants(&f, &event(kind, Some(e))),
                    e != dropped,
                    "{dropped:?} off, event of {e:?}"
                );
            }
            // Without an endpoint type an event cannot be filtered by endpoint.
            assert!(wants(&f, &event(EventKind::ProcessingStopped, None)));
        }
    }

    #[test]
    fn custom_reporting_goes_to_the_table_custom_events_names() {
        let map: std::collections::BTreeMap<u32, crate::events::Activity> = [
            (7, crate::events::Activity::Agent),
            (8, crate::events::Activity::Interaction),
        ]
        .into_iter()
        .collect();
        let custom = |id: i64| {
            event(EventKind::CustomReporting, None)
                .attr_value(CUSTOM_EVENT_ID, ixn_plugin_api::sink::Value::Int(id))
        };
        assert_eq!(activity(&map, &custom(7)), crate::events::Activity::Agent);
        assert_eq!(
            activity(&map, &custom(8)),
            crate::events::Activity::Interaction
        );
        assert_eq!(activity(&map, &custom(9)), crate::events::Activity::Custom);
        assert_eq!(
            activity(&map, &event(EventKind::CustomReporting, None)),
            crate::events::Activity::Custom
        );
        assert_eq!(
            activity(
                &map,
                &event(EventKind::PlacedInQueue, Some(Endpoint::Queue))
            ),
            crate::events::Activity::Interaction
        );
    }

    #[test]
    fn filter_by_id_keeps_only_the_listed_ids_and_endpoint_options_still_apply() {
        let mut f = EventFilter {
            only_ids: Some([156, 159].into_iter().collect()),
            ..EventFilter::default()
        };
        assert!(wants(&f, &event(EventKind::ProcessingStopped, None)));
        assert!(wants(
            &f,
            &event(EventKind::PlacedInQueue, Some(Endpoint::Queue))
        ));
        assert!(!wants(&f, &event(EventKind::InteractionSubmitted, None)));
        f.log_queue = false;
        assert!(!wants(
            &f,
            &event(EventKind::PlacedInQueue, Some(Endpoint::Queue))
        ));
    }
}
