//! The HTTP listener: HTTP/1.1 connections with a header read timeout, a cap
//! on the connections open at once, and graceful shutdown.
//!
//! HTTP/1 only, on purpose: hyper-util's protocol auto-detection waits for
//! the first bytes without any timeout, which is the very hole this closes.
//!
//! `axum::serve` has neither a read timeout nor a cap: a client that sent half
//! a request kept its connection forever, and 20 000 of them exhausted the
//! file descriptors until `/health` stopped answering. Here a connection that
//! has not sent a request's headers within `header-read-timeout` (an idle
//! keep-alive one included) is closed, a body has `body-read-timeout` to
//! arrive (see `submit.rs`), and beyond `max-connections` new connections
//! wait in the listen backlog until one closes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// How the listener treats its clients.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time to send a request's headers, or to start the next request.
    pub header_read_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
}

/// Serves `app` until `stop` is cancelled, then stops accepting and waits
/// for the connections to finish the requests they are in (the caller
/// bounds that wait).
pub async fn serve(listener: TcpListener, app: Router, limits: Limits, stop: CancellationToken) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            _ = stop.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: back off rather than spin.
                    tracing::warn!(error = %e, "Accepting an HTTP connection failed; retrying shortly.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "HTTP connection ended with an error.");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
