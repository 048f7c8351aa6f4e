//! From the host's synchronous plugin call to the plugin's own async runtime.
//!
//! A plugin loaded as a `.so` has its own copy of tokio that cannot see the
//! host's runtime (DESIGN.md §9), so each SQL plugin owns a small runtime and
//! runs every call there as a task.

use std::future::Future;
use std::sync::mpsc;

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
