//! The runtime a message-queue sink runs its broker client on.

use std::future::Future;
use std::time::Duration;

use ixn_plugin_api::sink::SinkError;

/// A one-worker tokio runtime owned by one sink instance.
///
/// Dropped without waiting for its tasks: the host may close a sink from an
/// async context, where dropping a runtime the usual way would panic.
pub struct ClientRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl ClientRuntime {
    /// A runtime whose worker thread is named after the sink.
    pub fn new(sink: &str) -> Result<Self, SinkError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(format!("ixn-sink-{sink}"))
            .enable_all()
            .build()
            .map_err(|e| SinkError::permanent(format!("{sink} sink: starting its runtime: {e}")))?;
        Ok(ClientRuntime {
            runtime: Some(runtime),
        })
    }

    /// Runs `future` to completion on this runtime, from a thread outside it.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        match &self.runtime {
            Some(rt) => rt.block_on(future),
            // Only `drop` takes the runtime.
            None => unreachable!("the runtime is only taken when the sink is dropped"),
        }
    }

    /// Runs `future` with a time limit; past it, a retriable error saying what timed out.
    pub fn block_on_within<T, F>(
        &self,
        limit: Duration,
        what: &str,
        future: F,
    ) -> Result<T, SinkError>
    where
        F: Future<Output = Result<T, SinkError>>,
    {
        self.block_on(async {
            match tokio::time::timeout(limit, future).await {
                Ok(result) => result,
                Err(_) => Err(SinkError::retriable(format!(
                    "{what}: no answer within {} ms",
                    limit.as_millis()
                ))),
            }
        })
    }

    /// Runs `future` as a task on the runtime's worker, beside the client's
    /// own I/O tasks (so a message and its acknowledgement need no hop
    /// between threads), and waits for it from this thread at most `limit`;
    /// past it the task is dropped and the error is retriable.
    pub fn run_within<T, F>(&self, limit: Duration, what: &str, future: F) -> Result<T, SinkError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, SinkError>> + Send + 'static,
    {
        let Some(handle) = self.handle() else {
            return Err(SinkError::permanent(format!("{what}: the sink is closing")));
        };
        // The timer is made on the worker: this thread may have no runtime.
        let task = handle.spawn(async move { tokio::time::timeout(limit, future).await });
        match self.block_on(task) {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(SinkError::retriable(format!(
                "{what}: no answer within {} ms",
                limit.as_millis()
            ))),
            Err(e) => Err(SinkError::permanent(format!(
                "{what}: the task failed: {e}"
            ))),
        }
    }

    /// Runs `future` (a polite goodbye to the broker) from any thread, even
    /// one that drives a runtime, as a sink's `Drop` may: on a thread of
    /// its own, at most `limit` long.
    pub fn finish<F>(&self, limit: Duration, future: F)
    where
        F: Future<Output = ()> + Send,
    {
        std::thread::scope(|scope| {
            let _ = scope
                .spawn(|| {
                    self.block_on(async {
                        let _ = tokio::time::timeout(limit, future).await;
                    })
                })
                .join();
        });
    }

    /// A handle to spawn the client's background tasks on.
    pub fn handle(&self) -> Option<tokio::runtime::Handle> {
        self.runtime.as_ref().map(|rt| rt.handle().clone())
    }
}

impl Drop for ClientRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
