//! `wait-for-work` by LISTEN/NOTIFY: how an idle view on one host hears of
//! work another host placed in its queue.
//!
//! Every transaction that places work (submit, a decision's move or
//! release, a recovered or released lease, a removed queue's move) sends
//! `pg_notify(channel, queue)` once per queue; PostgreSQL delivers it at
//! commit, to every listener of the schema's channel, and folds repeats
//! within one transaction. A background task of each backend holds one
//! connection that LISTENs and gathers the queues; `wait-for-work` hands
//! them over. When that connection was (re)established, notices sent
//! meanwhile are lost, and the next answer is `everything`.
//!
//! With `poll-only` none of this runs: transaction-mode poolers (PgBouncer)
//! do not keep a LISTEN, and views poll at their check interval.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ixn_plugin_api::storage::WorkNotice;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::Notify;

use crate::fnv1a;

/// How long the listener waits before connecting again after a failure.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// The NOTIFY channel of a schema: hosts on other schemas of the same
/// database hear nothing of it. A channel name is at most 63 bytes.
pub(crate) fn channel(schema: &str) -> String {
    let channel = format!("ixn_work.{schema}");
    if channel.len() <= 63 {
        channel
    } else {
        format!("ixn_work.{:016x}", fnv1a(schema))
    }
}

/// Tells the schema's listeners that work was placed in `queues`; part of
/// the caller's transaction when `conn` is one (delivered at its commit).
pub(crate) async fn announce<'c>(
    conn: impl sqlx::PgExecutor<'c>,
    channel: &str,
    queues: &BTreeSet<String>,
) -> Result<(), sqlx::Error> {
    if queues.is_empty() {
        return Ok(());
    }
    let queues: Vec<&str> = queues.iter().map(String::as_str).collect();
    sqlx::query("SELECT pg_notify($1, q) FROM unnest($2::text[]) AS q")
        .bind(channel)
        .bind(queues)
        .execute(conn)
        .await?;
    Ok(())
}

/// What the listener gathered since the last `wait`.
#[derive(Default)]
struct Heard {
    queues: BTreeSet<String>,
    everything: bool,
}

impl Heard {
    fn take(&mut self) -> Option<WorkNotice> {
        if std::mem::take(&mut self.everything) {
            self.queues.clear();
            Some(WorkNotice::Everything)
        } else if self.queues.is_empty() {
            None
        } else {
            Some(WorkNotice::Queues(
                std::mem::take(&mut self.queues).into_iter().collect(),
            ))
        }
    }
}

/// The listening side: a background task on the backend's runtime and
/// what it heard. The task ends with the runtime.
pub(crate) struct Listener {
    heard: Arc<Mutex<Heard>>,
    signal: Arc<Notify>,
}

impl Listener {
    /// Starts listening on `channel` with a connection of its own (never
    /// one of the pool's: it is held for good). Must run on the runtime.
    pub fn start(options: PgConnectOptions, channel: String, connect_timeout: Duration) -> Self {
        let heard = Arc::new(Mutex::new(Heard::default()));
        let signal = Arc::new(Notify::new());
        tokio::spawn(listen(
            options,
            channel,
            connect_timeout,
            heard.clone(),
            signal.clone(),
        ));
        Listener { heard, signal }
    }

    /// What was heard since the last call, waiting up to `timeout` for
    /// something; `Queues([])` when nothing came.
    pub async fn wait(&self, timeout: Duration) -> WorkNotice {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before looking, so a notice between the look and
            // the wait is not slept through.
            let notified = self.signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(notice) = lock(&self.heard).take() {
                return notice;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return WorkNotice::Queues(Vec::new());
            }
        }
    }
}

fn lock(heard: &Mutex<Heard>) -> std::sync::MutexGuard<'_, Heard> {
    // A poisoned lock still holds sets of names.
    heard.lock().unwrap_or_else(|p| p.into_inner())
}

/// Listens until the runtime stops: connects, LISTENs, then gathers each
/// notice's queue; reconnects after any failure.
async fn listen(
    options: PgConnectOptions,
    channel: String,
    connect_timeout: Duration,
    heard: Arc<Mutex<Heard>>,
    signal: Arc<Notify>,
) {
    let mut warned = false;
    loop {
        match listen_once(
            &options,
            &channel,
            connect_timeout,
            &heard,
            &signal,
            &mut warned,
        )
        .await
        {
            Ok(()) => {}
            Err(e) => {
                if !std::mem::replace(&mut warned, true) {
                    tracing::warn!(channel, error = %e, "postgres storage: cannot listen for placed work; views poll until it works again");
                }
            }
        }
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }
}

/// One connection's life: returns on an error it does not recover from
/// (its warning, once, is `warned`; a LISTEN that works again says so).
async fn listen_once(
    options: &PgConnectOptions,
    channel: &str,
    connect_timeout: Duration,
    heard: &Mutex<Heard>,
    signal: &Notify,
    warned: &mut bool,
) -> Result<(), sqlx::Error> {
    // A pool of one, as PgListener::connect makes, with the host's timeout:
    // the listener takes its connection (and a new one after a drop) from it.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(connect_timeout)
        .connect_lazy_with(options.clone());
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(channel).await?;
    if std::mem::take(warned) {
        tracing::info!(channel, "postgres storage: listening for placed work again");
    } else {
        tracing::debug!(channel, "postgres storage: listening for placed work");
    }
    let heard_everything = || {
        lock(heard).everything = true;
        signal.notify_waiters();
    };
    // What was placed before the LISTEN took effect went unheard.
    heard_everything();
    loop {
        match listener.try_recv().await? {
            Some(notice) => {
                {
                    let mut heard = lock(heard);
                    heard.queues.insert(notice.payload().to_string());
                    while let Some(more) = listener.next_buffered() {
                        heard.queues.insert(more.payload().to_string());
                    }
                }
                signal.notify_waiters();
            }
            // The connection dropped and PgListener made a new one, LISTENing
            // again: notices in between are lost.
            None => heard_everything(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_fit_postgres() {
        assert_eq!(channel("ixn"), "ixn_work.ixn");
        let long = "s".repeat(63);
        let c = channel(&long);
        assert!(c.len() <= 63 && c.starts_with("ixn_work."), "{c}");
        assert_ne!(c, channel(&"t".repeat(63)));
    }

    #[test]
    fn everything_supersedes_queues() {
        let mut heard = Heard::default();
        assert_eq!(heard.take(), None);
        heard.queues.insert("b".into());
        heard.queues.insert("a".into());
        assert_eq!(
            heard.take(),
            Some(WorkNotice::Queues(vec!["a".into(), "b".into()]))
        );
        heard.queues.insert("a".into());
        heard.everything = true;
        assert_eq!(heard.take(), Some(WorkNotice::Everything));
        assert_eq!(heard.take(), None);
    }
}
