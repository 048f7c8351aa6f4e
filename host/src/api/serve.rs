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
use tokio::sync::{Semaphore, watch};
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
/// bounds that wait). A reload sends new `limits`: later connections get
/// the new header timeout, and the cap grows or shrinks as connections close.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    mut limits: watch::Receiver<Limits>,
    stop: CancellationToken,
) {
    let mut current = *limits.borrow_and_update();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(current.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(current.max_connections));
    loop {
        if limits.has_changed().unwrap_or(false) {
            let new = *limits.borrow_and_update();
            builder.header_read_timeout(new.header_read_timeout);
            if new.max_connections > current.max_connections {
                slots.add_permits(new.max_connections - current.max_connections);
            } else {
                // Permits held by open connections cannot be taken back: what is
                // not forgotten now is forgotten as it frees.
                let fewer = current.max_connections - new.max_connections;
                let forgotten = slots.forget_permits(fewer);
                if forgotten < fewer {
                    let slots = slots.clone();
                    tokio::spawn(async move {
                        if let Ok(p) = slots.acquire_many_owned((fewer - forgotten) as u32).await {
                            p.forget();
                        }
                    });
                }
            }
            current = new;
        }
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

/// The API being served on one address.
pub struct Listening {
    /// The address it is bound to (the port the OS chose for port 0).
    pub addr: std::net::SocketAddr,
    limits: watch::Sender<Limits>,
    stop: CancellationToken,
}

impl Listening {
    /// Serves `app` on a bound listener until `stop` (a child of it here) is
    /// cancelled; the task is held by `tracker`.
    pub fn start(
        listener: TcpListener,
        app: Router,
        limits: Limits,
        stop: &CancellationToken,
        tracker: &tokio_util::task::TaskTracker,
    ) -> std::io::Result<Listening> {
        let addr = listener.local_addr()?;
        let (tx, rx) = watch::channel(limits);
        let stop = stop.child_token();
        tracker.spawn(serve(listener, app, rx, stop.clone()));
        Ok(Listening {
            addr,
            limits: tx,
            stop,
        })
    }

    /// Applies new limits to later connections.
    pub fn set_limits(&self, limits: Limits) {
        self.limits.send_replace(limits);
    }

    /// Stops accepting; requests in flight are answered.
    pub fn stop(self) {
        self.stop.cancel();
    }
}
