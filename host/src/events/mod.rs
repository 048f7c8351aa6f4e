//! Reporting events and the event loggers that store them.
//!
//! Processing code builds [`Event`]s and hands them to the [`EventBus`], which
//! numbers them and offers each to every logger without ever waiting. An
//! event is identified by its bus's *origin* — the node id and a unique,
//! time-ordered id made when the host starts — and its sequence number in
//! that origin, so events of a restarted host or of another host never take
//! the identity of earlier ones (sinks deduplicate on the pair). A slow
//! or dead sink fills its logger's bounded queue, and what does not fit is
//! discarded, counted and logged (the seed's `max-queue-size`).

pub mod dead_letter;
pub mod kind;
pub mod logger;
pub mod running;
pub mod spool;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use ixn_plugin_api::sink::Value;

pub use kind::{Activity, Endpoint, EventKind};
pub use logger::{EventLogger, LoggerStats, SpoolConfig, Writer};
pub use running::{OpenedLogger, RunningLogger};

/// One reporting event as processing produces it.
#[derive(Debug, Clone)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// What it is about, for filtering; `None` for unclassified events.
    pub endpoint: Option<Endpoint>,
    /// Milliseconds since the epoch.
    pub occurred_at: i64,
    /// The interaction, for interaction events.
    pub interaction_id: Option<String>,
    /// Event attributes (queue, actor, reason, party…).
    pub attributes: Vec<(String, Value)>,
    /// The interaction's attached data that loggers map (`itx-custom-data`).
    pub userdata: Vec<(String, Value)>,
}

impl Event {
    /// An interaction event with no attributes yet.
    pub fn interaction(kind: EventKind, endpoint: Option<Endpoint>, id: &str, at: i64) -> Self {
        Event {
            kind,
            endpoint,
            occurred_at: at,
            interaction_id: Some(id.to_string()),
            attributes: Vec::new(),
            userdata: Vec::new(),
        }
    }

    /// Adds a text attribute.
    pub fn attr(mut self, name: &str, value: impl Into<String>) -> Self {
        self.attributes
            .push((name.to_string(), Value::Str(value.into())));
        self
    }

    /// Adds an attribute of any value.
    pub fn attr_value(mut self, name: &str, value: Value) -> Self {
        self.attributes.push((name.to_string(), value));
        self
    }
}

/// Converts attached data to the sink contract's value type.
pub fn sink_value(v: &ixn_plugin_api::storage::Value) -> Value {
    use ixn_plugin_api::storage::Value as S;
    match v {
        S::Str(s) => Value::Str(s.clone()),
        S::Int(i) => Value::Int(*i),
        S::Float(f) => Value::Float(*f),
        S::Boolean(b) => Value::Boolean(*b),
        S::Timestamp(t) => Value::Timestamp(*t),
    }
}

/// Fans events out to the loggers.
pub struct EventBus {
    origin: Arc<str>,
    sequence: AtomicU64,
    /// The config generation stamped on events (1 until a reload applies).
    generation: AtomicU64,
    produced: AtomicU64,
    /// The loggers events go to. `emit` offers under the read lock, so once
    /// [`EventBus::replace_loggers`] holds the write lock no event is on its
    /// way to a replaced logger: each goes to the old or the new one, never
    /// both, never neither.
    loggers: RwLock<LoggerSet>,
}

#[derive(Default)]
struct LoggerSet {
    loggers: Vec<Arc<EventLogger>>,
    userdata_keys: Arc<[String]>,
}

impl LoggerSet {
    fn new(loggers: Vec<Arc<EventLogger>>) -> Self {
        let mut keys: Vec<String> = loggers
            .iter()
            .flat_map(|l| l.userdata_keys().iter().cloned())
            .collect();
        keys.sort();
        keys.dedup();
        LoggerSet {
            loggers,
            userdata_keys: keys.into(),
        }
    }
}

impl EventBus {
    /// A bus over running loggers; its events' origin is `node_id` and a fresh
    /// time-ordered id.
    pub fn new(node_id: &str, loggers: Vec<Arc<EventLogger>>) -> Self {
        EventBus {
            origin: format!("{node_id}:{}", crate::ids::new_id()).into(),
            sequence: AtomicU64::new(0),
            generation: AtomicU64::new(1),
            produced: AtomicU64::new(0),
            loggers: RwLock::new(LoggerSet::new(loggers)),
        }
    }

    /// Makes `loggers` the set events go to from now on and returns the
    /// previous set. When this returns, no `emit` offers to a logger that is
    /// not in `loggers` any more: the caller may drain and stop those.
    pub fn replace_loggers(&self, loggers: Vec<Arc<EventLogger>>) -> Vec<Arc<EventLogger>> {
        let new = LoggerSet::new(loggers);
        match self.loggers.write() {
            Ok(mut set) => std::mem::replace(&mut *set, new).loggers,
            Err(poisoned) => std::mem::replace(&mut *poisoned.into_inner(), new).loggers,
        }
    }

    /// The origin of this bus's events.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The config generation stamped on the events emitted from now on.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Sets the generation stamped on later events (when a reload applies).
    pub fn set_generation(&self, generation: u64) {
        self.generation.store(generation, Ordering::Relaxed);
    }

    fn set(&self) -> std::sync::RwLockReadGuard<'_, LoggerSet> {
        // A poisoned lock only means a panic elsewhere while it was held; the
        // set itself is whole (it is replaced in one assignment).
        self.loggers.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Attached-data keys some logger maps: copy only these into events.
    pub fn userdata_keys(&self) -> Arc<[String]> {
        self.set().userdata_keys.clone()
    }

    /// Picks the mapped keys out of an interaction's attached data.
    pub fn userdata_of(
        &self,
        properties: &[ixn_plugin_api::storage::Property],
    ) -> Vec<(String, Value)> {
        let keys = self.userdata_keys();
        if keys.is_empty() {
            return Vec::new();
        }
        properties
            .iter()
            .filter(|p| keys.binary_search(&p.key).is_ok())
            .map(|p| (p.key.clone(), sink_value(&p.value)))
            .collect()
    }

    /// Numbers and offers events to every logger, stamped with the current
    /// generation; never waits.
    pub fn emit(&self, events: Vec<Event>) {
        self.emit_for(self.generation(), events);
    }

    /// [`EventBus::emit`] for events a given generation produced: a batch
    /// claimed before a reload reports the generation it ran on.
    pub fn emit_for(&self, generation: u64, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let n = events.len() as u64;
        let first = self.sequence.fetch_add(n, Ordering::Relaxed) + 1;
        self.produced.fetch_add(n, Ordering::Relaxed);
        let events: Arc<[Event]> = events.into();
        for logger in &self.set().loggers {
            logger.offer(&self.origin, generation, first, &events);
        }
    }

    /// Events produced so far.
    pub fn produced(&self) -> u64 {
        self.produced.load(Ordering::Relaxed)
    }

    /// The loggers events go to now.
    pub fn loggers(&self) -> Vec<Arc<EventLogger>> {
        self.set().loggers.clone()
    }

    /// Waits until every logger has written what it was offered so far.
    pub async fn flush(&self) {
        for logger in self.loggers() {
            logger.flush().await;
        }
    }
}
