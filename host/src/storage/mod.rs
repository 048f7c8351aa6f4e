//! The storage port: async calls over the storage plugin's (blocking) C ABI.
//!
//! Every call runs on tokio's blocking pool so a slow database never stalls
//! the runtime's worker threads.

use std::sync::Arc;

use ixn_plugin_api::storage::{
    ClaimRequest, DecisionRecord, Interaction, NewInteraction, QueueCount, Recovered,
    StorageClient, StorageError,
};

/// A shared handle on the open storage plugin.
#[derive(Clone)]
pub struct Storage {
    client: Arc<StorageClient>,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(StorageError::permanent(format!(
            "storage call did not complete: {e}"
        )))
    })
}

impl Storage {
    /// Wraps an open plugin.
    pub fn new(client: StorageClient) -> Self {
        Storage {
            client: Arc::new(client),
        }
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        self.client.name()
    }

    /// Stores a batch, all or nothing.
    pub async fn submit(&self, batch: Vec<NewInteraction>) -> Result<(), StorageError> {
        let c = self.client.clone();
        blocking(move || c.submit(&batch)).await
    }

    /// Claims interactions for a view.
    pub async fn claim(&self, request: ClaimRequest) -> Result<Vec<Interaction>, StorageError> {
        let c = self.client.clone();
        blocking(move || c.claim(&request)).await
    }

    /// Applies decisions in one transaction.
    pub async fn apply(&self, batch: Vec<DecisionRecord>) -> Result<Vec<bool>, StorageError> {
        let c = self.client.clone();
        blocking(move || c.apply(&batch)).await
    }

    /// One interaction.
    pub async fn get(&self, id: String) -> Result<Option<Interaction>, StorageError> {
        let c = self.client.clone();
        blocking(move || c.get(&id)).await
    }

    /// Counts per queue.
    pub async fn counts(&self) -> Result<Vec<QueueCount>, StorageError> {
        let c = self.client.clone();
        blocking(move || c.counts()).await
    }

    /// Puts back interactions whose lease ended before `now`.
    pub async fn recover_expired(&self, now: i64) -> Result<Vec<Recovered>, StorageError> {
        let c = self.client.clone();
        blocking(move || c.recover_expired(now)).await
    }
}
