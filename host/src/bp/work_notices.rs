//! Hearing of work placed by other hosts: the storage's `wait-for-work`
//! in a loop, waking the views of each queue it names.
//!
//! A host wakes its own views when it places something (submit, a decision,
//! a recovered lease); what another host sharing the database places is only
//! seen at the next `check-interval`, unless the backend tells. PostgreSQL
//! does, by LISTEN/NOTIFY (not with `poll-only`); SQLite, one process per
//! file, does not, and this loop ends at its first answer.

use std::sync::Arc;
use std::time::Duration;

use ixn_plugin_api::storage::WorkNotice;

use super::scheduler::BpRuntime;

/// How long one `wait-for-work` call may block a thread of the blocking
/// pool: it bounds how long a stopping host waits for the call to return.
const WAIT_MS: u32 = 500;

/// After a failed call, the pause before the next (the views poll meanwhile).
const AFTER_ERROR: Duration = Duration::from_secs(1);

/// Wakes views on the backend's notices until the host stops or the backend
/// says it has none.
pub(super) async fn listen(rt: Arc<BpRuntime>) {
    let stop = rt.stopping().clone();
    let mut failing = false;
    loop {
        let notice = tokio::select! {
            notice = rt.storage().wait_for_work(WAIT_MS) => notice,
            _ = stop.cancelled() => return,
        };
        match notice {
            Ok(WorkNotice::Unsupported) => {
                tracing::debug!(
                    storage = rt.storage().name(),
                    "Storage tells of no work placed by other processes; views rely on their check intervals."
                );
                return;
            }
            Ok(WorkNotice::Queues(queues)) => {
                if std::mem::take(&mut failing) {
                    tracing::info!("Hearing of placed work again.");
                }
                for queue in &queues {
                    rt.wake(queue);
                }
            }
            Ok(WorkNotice::Everything) => {
                tracing::debug!("Storage may have missed notices; waking every view.");
                rt.wake_all();
            }
            Err(e) => {
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(error = %e, "Cannot hear of work placed by other hosts; views rely on their check intervals until this works again.");
                }
                tokio::select! {
                    _ = tokio::time::sleep(AFTER_ERROR) => {}
                    _ = stop.cancelled() => return,
                }
            }
        }
    }
}
