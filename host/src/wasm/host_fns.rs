//! The `ixn:bp/host` functions a BP component may call.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use wasmtime::StoreLimits;

use super::bindings::ixn::bp::{host, types};

/// What host functions read, shared by every instance of every component.
#[derive(Default)]
pub struct HostEnv {
    /// `[lookup-table.NAME]` tables; a reload swaps them, and the next
    /// `lookup` sees the new ones.
    pub lookup_tables: arc_swap::ArcSwap<BTreeMap<String, BTreeMap<String, String>>>,
    /// Waiting interactions per configured queue, refreshed by the server.
    pub queue_depths: RwLock<HashMap<String, u32>>,
}

impl HostEnv {
    /// Host data for these lookup tables, every queue of `queues` at depth 0
    /// (so a configured queue is known even before the first count).
    pub fn new<'a>(
        lookup_tables: BTreeMap<String, BTreeMap<String, String>>,
        queues: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        HostEnv {
            lookup_tables: arc_swap::ArcSwap::from_pointee(lookup_tables),
            queue_depths: RwLock::new(queues.into_iter().map(|q| (q.to_string(), 0)).collect()),
        }
    }
}

/// A host fault: traps the guest's call (the guest cannot handle it).
#[derive(Debug, thiserror::Error)]
#[error("host fault: {0}")]
pub struct HostFault(pub String);

/// The data of one instance's store.
pub struct StoreState {
    /// Memory and table limits.
    pub limits: StoreLimits,
    /// Shared host data.
    pub env: Arc<HostEnv>,
    /// The strategy's name, for logs.
    pub strategy: Arc<str>,
    /// The strategy's `config` table.
    pub config: Arc<BTreeMap<String, String>>,
    /// What `report` was given during the current call, taken after it.
    pub reports: Vec<Report>,
}

/// One `report` call: an EventCustomReporting to emit with the call's outcome.
#[derive(Debug, Clone)]
pub struct Report {
    /// What `custom-events` maps to a table.
    pub custom_event_id: u32,
    /// The event's content.
    pub content: Vec<types::Property>,
}

/// Reports one call may make.
pub const MAX_REPORTS: usize = 16;
/// Bytes of keys and text values all reports of one call may carry.
pub const MAX_REPORT_BYTES: usize = 64 * 1024;

fn content_bytes(content: &[types::Property]) -> usize {
    content
        .iter()
        .map(|p| {
            p.key.len()
                + match &p.value {
                    types::Value::Str(s) => s.len(),
                    _ => 8,
                }
        })
        .sum()
}

impl types::Host for StoreState {}

impl host::Host for StoreState {
    fn log(&mut self, level: types::LogLevel, message: String) -> wasmtime::Result<()> {
        let strategy = &*self.strategy;
        match level {
            types::LogLevel::Trace => tracing::trace!(strategy, "{message}"),
            types::LogLevel::Debug => tracing::debug!(strategy, "{message}"),
            types::LogLevel::Info => tracing::info!(strategy, "{message}"),
            types::LogLevel::Warn => tracing::warn!(strategy, "{message}"),
            types::LogLevel::Error => tracing::error!(strategy, "{message}"),
        }
        Ok(())
    }

    fn now(&mut self) -> wasmtime::Result<i64> {
        Ok(crate::time::now_ms())
    }

    fn config_get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.config.get(&key).cloned())
    }

    fn lookup(
        &mut self,
        table: String,
        key: String,
    ) -> wasmtime::Result<Result<Option<String>, String>> {
        Ok(match self.env.lookup_tables.load().get(&table) {
            Some(t) => Ok(t.get(&key).cloned()),
            None => Err(format!("no lookup table `{table}`")),
        })
    }

    fn report(
        &mut self,
        custom_event_id: u32,
        content: Vec<types::Property>,
    ) -> wasmtime::Result<Result<(), String>> {
        if self.reports.len() >= MAX_REPORTS {
            return Ok(Err(format!("at most {MAX_REPORTS} reports per call")));
        }
        let used: usize = self.reports.iter().map(|r| content_bytes(&r.content)).sum();
        if used + content_bytes(&content) > MAX_REPORT_BYTES {
            return Ok(Err(format!(
                "reports of one call may carry at most {MAX_REPORT_BYTES} bytes"
            )));
        }
        self.reports.push(Report {
            custom_event_id,
            content,
        });
        Ok(Ok(()))
    }

    fn queue_depth(&mut self, queue: String) -> wasmtime::Result<Result<u32, String>> {
        // A poisoned lock means the refresher panicked: a host fault, not the guest's business.
        let depths = self
            .env
            .queue_depths
            .read()
            .map_err(|_| HostFault("queue depths unavailable".into()))?;
        Ok(depths
            .get(&queue)
            .copied()
            .ok_or_else(|| format!("no queue `{queue}`")))
    }
}
