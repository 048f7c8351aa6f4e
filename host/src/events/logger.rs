//! One event logger: filter, map, batch, write to its sink.
//!
//! Events wait in a bounded queue of `max-queue-size` records; a batch is
//! written when `batch-size` records are waiting or `storing-timeout` has
//! passed since the first of them. A retriable sink error keeps the batch and
//! retries after `reconnect-timeout` while new events keep queueing (and, past
//! the bound, are discarded and counted); a permanent error drops the batch,
//! counted and logged.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ixn_plugin_api::sink::{ErrorKind, EventRecord, Field, SinkClient};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{Endpoint, Event};
use crate::config::{EventFilter, EventLoggerConfig};

enum Message {
    Record(EventRecord),
    Flush(oneshot::Sender<()>),
}

/// Counters of one logger.
#[derive(Debug, Default)]
pub struct LoggerStats {
    /// Records accepted into the queue.
    pub queued: AtomicU64,
    /// Records the sink acknowledged.
    pub written: AtomicU64,
    /// Records discarded because the queue was full.
    pub discarded_overflow: AtomicU64,
    /// Records dropped because the sink refused them permanently.
    pub discarded_rejected: AtomicU64,
    /// Records left out by `event-filtering`.
    pub filtered: AtomicU64,
    /// Write attempts that failed.
    pub write_errors: AtomicU64,
    /// Records still unwritten when the host stopped while the sink was down.
    pub discarded_shutdown: AtomicU64,
    /// When the logger last discarded or dropped a record (ms since the epoch; 0: never).
    pub last_loss_at: AtomicI64,
    /// `Some` while the sink fails: since when, and its latest error.
    pub failing: Mutex<Option<crate::storage::Failing>>,
}

impl LoggerStats {
    fn lost(&self) {
        self.last_loss_at
            .store(crate::time::now_ms(), Ordering::Relaxed);
    }

    fn sink_failed(&self, error: &str) {
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
            rx,
        };
        let logger = Arc::new(EventLogger {
            name: config.name.clone(),
            filter: config.filter.clone(),
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
            activity: event.kind.activity().as_str().to_string(),
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

/// Writes a logger's queue to its sink, in batches.
pub struct Writer {
    name: String,
    sink: Arc<SinkClient>,
    stats: Arc<LoggerStats>,
    batch_size: usize,
    storing_timeout: Duration,
    reconnect_timeout: Duration,
    rx: mpsc::Receiver<Message>,
}

impl Writer {
    /// Writes until `cancel`, then stores what is queued, flushes the sink
    /// and returns what it could not write: a sink that is down when the
    /// logger stops leaves its records to the logger that replaces it.
    /// `carried` are such records of a predecessor, written first.
    pub async fn run(
        mut self,
        cancel: CancellationToken,
        carried: Vec<EventRecord>,
    ) -> Vec<EventRecord> {
        let mut rx = std::mem::replace(&mut self.rx, mpsc::channel(1).1);
        if !carried.is_empty() {
            tracing::info!(logger = %self.name, records = carried.len(), "Writing the records the replaced logger could not.");
            if let Err(left) = self.write_all(carried, &cancel).await {
                return self.stop(left, &mut rx).await;
            }
        }
        let mut batch: Vec<EventRecord> = Vec::with_capacity(self.batch_size);
        let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
        loop {
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
                let written = if closed {
                    self.write_all(std::mem::take(&mut batch), &cancel).await
                } else {
                    self.write(std::mem::take(&mut batch), &cancel).await
                };
                if let Err(unwritten) = written {
                    left = unwritten;
                }
            }
            for w in waiters.drain(..) {
                let _ = w.send(());
            }
            if closed || !left.is_empty() {
                return self.stop(left, &mut rx).await;
            }
        }
    }

    /// Collects what is still queued after `left`, flushes the sink and
    /// returns the records never written.
    async fn stop(
        &self,
        mut left: Vec<EventRecord>,
        rx: &mut mpsc::Receiver<Message>,
    ) -> Vec<EventRecord> {
        while let Ok(m) = rx.try_recv() {
            match m {
                Message::Record(r) => left.push(r),
                Message::Flush(w) => {
                    let _ = w.send(());
                }
            }
        }
        let sink = self.sink.clone();
        let _ = tokio::task::spawn_blocking(move || sink.flush()).await;
        if !left.is_empty() {
            tracing::warn!(logger = %self.name, records = left.len(), "Stopping with records the sink did not take; they go to the logger that replaces this one.");
        }
        left
    }

    /// Writes `records` in batches of `batch-size`; on cancellation, returns
    /// the ones not written.
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

    /// Writes one batch, retrying while the sink is down; gives the batch
    /// back when cancelled first. A permanent refusal drops it, counted.
    async fn write(
        &self,
        batch: Vec<EventRecord>,
        cancel: &CancellationToken,
    ) -> Result<(), Vec<EventRecord>> {
        let batch = Arc::new(batch);
        loop {
            let sink = self.sink.clone();
            let records = batch.clone();
            let result = tokio::task::spawn_blocking(move || sink.write(&records)).await;
            let error = match result {
                Ok(Ok(())) => {
                    self.stats
                        .written
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    self.stats.sink_works();
                    return Ok(());
                }
                Ok(Err(e)) => e,
                Err(join) => {
                    ixn_plugin_api::sink::SinkError::permanent(format!("sink call failed: {join}"))
                }
            };
            self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
            if error.kind == ErrorKind::Permanent {
                self.stats.lost();
                self.stats
                    .discarded_rejected
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                tracing::error!(logger = %self.name, records = batch.len(), error = %error, "Sink refused a batch; it is dropped.");
                return Ok(());
            }
            self.stats.sink_failed(&error.message);
            if cancel.is_cancelled() {
                return Err(Arc::unwrap_or_clone(batch));
            }
            tracing::warn!(logger = %self.name, records = batch.len(), error = %error, retry_in = ?self.reconnect_timeout, "Sink is unavailable; the batch is kept and retried.");
            tokio::select! {
                _ = tokio::time::sleep(self.reconnect_timeout) => {}
                _ = cancel.cancelled() => return Err(Arc::unwrap_or_clone(batch)),
            }
        }
    }
}

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

    fn all_on() -> EventFilter {
        EventFilter {
            log_agent_state: true,
            log_agent_activity: true,
            log_queue: true,
            log_strategy: true,
            log_esp_service: true,
            log_userdata: true,
            only_ids: None,
        }
    }

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
            let mut f = all_on();
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
    fn filter_by_id_keeps_only_the_listed_ids_and_endpoint_options_still_apply() {
        let mut f = all_on();
        f.only_ids = Some([156, 159].into_iter().collect());
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
