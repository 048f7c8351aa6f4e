//! From the host's synchronous plugin call to the plugin's own async runtime.
//!
//! A plugin loaded as a `.so` has its own copy of tokio that cannot see the
//! host's runtime (DESIGN.md §9), so each SQL plugin owns a small runtime and
//! runs every call there as a task.

use std::future::Future;
use std::sync::mpsc;
use std::time::Duration;

use ixn_plugin_api::storage::StorageError;
use tokio::runtime::Runtime;

/// Spawns `fut` on `runtime` and blocks the calling thread until it answers;
/// `lost` makes the error for a task that ended without answering (it panicked).
///
/// Spawning and waiting on a std channel, rather than `Runtime::block_on`,
/// works from any thread: a plain one, a `spawn_blocking` thread of the
/// host's runtime, and even (at the cost of blocking it) an async task of a
/// runtime sharing the plugin's tokio when it is linked in as a built-in,
/// where `block_on` would panic.
pub fn run_on<T, E>(
    runtime: &Runtime,
    fut: impl Future<Output = Result<T, E>> + Send + 'static,
    lost: impl FnOnce() -> E,
) -> Result<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel(1);
    runtime.spawn(async move {
        // The caller is gone only if its thread died; nothing to tell then.
        let _ = tx.send(fut.await);
    });
    rx.recv().unwrap_or_else(|_| Err(lost()))
}

/// A storage plugin's private runtime: started at `open`, every call run
/// on it ([`BackendRuntime::run`]), stopped without blocking when dropped.
pub struct BackendRuntime {
    /// `Some` until shut down.
    runtime: Option<Runtime>,
    /// The backend's name in errors (`sqlite`, `postgres`).
    name: &'static str,
}

impl BackendRuntime {
    /// A runtime of one worker thread named `ixn-storage-<name>`.
    pub fn start(name: &'static str) -> Result<Self, StorageError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(format!("ixn-storage-{name}"))
            .enable_all()
            .build()
            .map_err(|e| {
                StorageError::permanent(format!("{name} storage: start its runtime: {e}"))
            })?;
        Ok(BackendRuntime {
            runtime: Some(runtime),
            name,
        })
    }

    /// Runs `fut` on the runtime and waits for its answer ([`run_on`]).
    pub fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, StorageError>> + Send + 'static,
    ) -> Result<T, StorageError> {
        let name = self.name;
        let Some(runtime) = &self.runtime else {
            return Err(StorageError::permanent(format!("{name} storage is closed")));
        };
        run_on(runtime, fut, || {
            StorageError::permanent(format!(
                "{name} storage: the operation ended without an answer"
            ))
        })
    }

    /// Runs `close` (closing the backend's pool), waiting at most `timeout`,
    /// then stops the runtime without blocking: dropping a runtime the
    /// ordinary way panics inside an async context. Later calls are refused.
    pub fn shut_down(
        &mut self,
        close: impl Future<Output = ()> + Send + 'static,
        timeout: Duration,
    ) {
        if let Some(runtime) = self.runtime.take() {
            let (tx, rx) = mpsc::sync_channel(1);
            runtime.spawn(async move {
                close.await;
                let _ = tx.send(());
            });
            let _ = rx.recv_timeout(timeout);
            runtime.shutdown_background();
        }
    }
}

impl Drop for BackendRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Never blocks nor panics, whatever thread this is.
            runtime.shutdown_background();
        }
    }
}
