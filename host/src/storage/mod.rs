//! The storage port: async calls over the storage plugin's (blocking) C ABI.
//!
//! Every call runs on tokio's blocking pool so a slow database never stalls
//! the runtime's worker threads. The port also remembers whether the backend
//! is failing right now (a retriable error with no success since), which
//! `/health` reports.

use std::sync::{Arc, Mutex};

use ixn_plugin_api::storage::{
    ApplyOutcome, ClaimRequest, ConvertProgress, CustomField, DecisionRecord, ErrorKind,
    Interaction, MoveQueue, NewInteraction, QueueCount, Recovered, StorageClient, StorageError,
    WorkNotice,
};

use anyhow::Context;

use crate::config::Config;
use crate::plugins::Registry;
use crate::time::now_ms;

/// A shared handle on the open storage plugin.
#[derive(Clone)]
pub struct Storage {
    client: Arc<StorageClient>,
    failing: Arc<Mutex<Option<Failing>>>,
    /// The SHA-256 of the plugin `.so` it was opened from; `None` for a built-in.
    plugin_version: Option<String>,
}

/// Since when the backend fails, and its latest error.
#[derive(Debug, Clone, PartialEq)]
pub struct Failing {
    /// When the first failure of this stretch happened (ms since the epoch).
    pub since: i64,
    /// The latest error.
    pub error: String,
}

impl Storage {
    /// Wraps an open plugin.
    pub fn new(client: StorageClient) -> Self {
        Storage {
            client: Arc::new(client),
            failing: Arc::default(),
            plugin_version: None,
        }
    }

    /// Creates the data directory and opens the storage `config` names with
    /// its custom fields (the plugin connects and migrates: blocking, so run
    /// off the async runtime). `serve` and `convert-fields` open it this way.
    pub async fn open(config: &Config, registry: &Registry) -> anyhow::Result<Storage> {
        let dir = &config.server.data_dir;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating data directory {}", dir.display()))?;
        let (reg, r, settings) = (
            registry.clone(),
            config.storage.clone(),
            config.storage_open_settings(),
        );
        let (client, version) =
            tokio::task::spawn_blocking(move || reg.open_storage_versioned(&r, &settings))
                .await?
                .with_context(|| format!("opening storage {}", config.storage))?;
        Ok(Storage {
            plugin_version: version,
            ..Storage::new(client)
        })
    }

    /// The SHA-256 of the plugin file it was opened from; `None` for a built-in.
    pub fn plugin_version(&self) -> Option<&str> {
        self.plugin_version.as_deref()
    }

    /// `Some` while the backend cannot store: its last call failed as
    /// retriable (busy, full, read-only, unreachable) and none succeeded since.
    pub fn failing(&self) -> Option<Failing> {
        self.failing.lock().ok().and_then(|f| f.clone())
    }

    /// Runs a plugin call on the blocking pool and notes whether the backend works.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let result = on_blocking_pool(f).await;
        if let Ok(mut failing) = self.failing.lock() {
            match &result {
                Ok(_) => *failing = None,
                Err(e) if e.kind == ErrorKind::Retriable => {
                    let since = failing.as_ref().map_or_else(now_ms, |f| f.since);
                    *failing = Some(Failing {
                        since,
                        error: e.message.clone(),
                    });
                }
                // A permanent error is about the request (a duplicate id), not the backend.
                Err(_) => {}
            }
        }
        result
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        self.client.name()
    }

    /// Stores a batch, all or nothing.
    pub async fn submit(&self, batch: Vec<NewInteraction>) -> Result<(), StorageError> {
        let c = self.client.clone();
        self.blocking(move || c.submit(&batch)).await
    }

    /// Claims interactions for a view.
    pub async fn claim(&self, request: ClaimRequest) -> Result<Vec<Interaction>, StorageError> {
        let c = self.client.clone();
        self.blocking(move || c.claim(&request)).await
    }

    /// Applies decisions in one transaction, one outcome per record.
    pub async fn apply(
        &self,
        batch: Vec<DecisionRecord>,
    ) -> Result<Vec<ApplyOutcome>, StorageError> {
        let c = self.client.clone();
        self.blocking(move || c.apply(&batch)).await
    }

    /// One interaction.
    pub async fn get(&self, id: String) -> Result<Option<Interaction>, StorageError> {
        let c = self.client.clone();
        self.blocking(move || c.get(&id)).await
    }

    /// Counts per queue.
    pub async fn counts(&self) -> Result<Vec<QueueCount>, StorageError> {
        let c = self.client.clone();
        self.blocking(move || c.counts()).await
    }

    /// Puts back interactions whose lease ended before `now`.
    pub async fn recover_expired(&self, now: i64) -> Result<Vec<Recovered>, StorageError> {
        let c = self.client.clone();
        self.blocking(move || c.recover_expired(now)).await
    }

    /// Puts back what owners whose name starts with `owner_prefix` hold.
    pub async fn release_leases(
        &self,
        owner_prefix: String,
    ) -> Result<Vec<Recovered>, StorageError> {
        let c = self.client.clone();
        self.blocking(move || c.release_leases(&owner_prefix)).await
    }

    /// Moves every live interaction of the removed queue `from` to `to`.
    pub async fn move_queue(
        &self,
        from: String,
        to: String,
        now: i64,
    ) -> Result<Vec<Recovered>, StorageError> {
        let c = self.client.clone();
        self.blocking(move || c.move_queue(&MoveQueue { from, to, now }))
            .await
    }

    /// Takes new custom fields (a reload): adds their columns and indexes, or
    /// refuses, changing nothing, what would hide or break stored values.
    pub async fn update_fields(&self, fields: Vec<CustomField>) -> Result<(), StorageError> {
        let c = self.client.clone();
        self.blocking(move || c.update_fields(&fields)).await
    }

    /// Where the conversion of attached data stands; `reset` starts over.
    pub async fn convert_start(&self, reset: bool) -> Result<ConvertProgress, StorageError> {
        let c = self.client.clone();
        self.blocking(move || c.convert_start(reset)).await
    }

    /// Where work was placed since the last call, waiting at most `timeout_ms`.
    /// Not counted in [`Storage::failing`]: a backend whose notices fail
    /// still stores, and its views poll.
    pub async fn wait_for_work(&self, timeout_ms: u32) -> Result<WorkNotice, StorageError> {
        let c = self.client.clone();
        on_blocking_pool(move || c.wait_for_work(timeout_ms)).await
    }

    /// Converts the next `bulk_size` records and moves the checkpoint.
    pub async fn convert_step(&self, bulk_size: u32) -> Result<ConvertProgress, StorageError> {
        let c = self.client.clone();
        self.blocking(move || c.convert_step(bulk_size)).await
    }
}

/// Runs a plugin call on tokio's blocking pool; a call that panicked or was
/// cancelled is a permanent error.
async fn on_blocking_pool<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(StorageError::permanent(format!(
            "storage call did not complete: {e}"
        )))
    })
}
