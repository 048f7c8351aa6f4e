//! What `recover-expired`, `release-leases` and `move-queue` answer.

use ixn_plugin_api::storage::Recovered;

/// The `id` and `queue` pairs an UPDATE's RETURNING gave, sorted by id
/// (RETURNING gives no defined order; sorted answers are stable).
pub fn recovered(rows: Vec<(String, String)>) -> Vec<Recovered> {
    let mut recovered: Vec<Recovered> = rows
        .into_iter()
        .map(|(id, queue)| Recovered { id, queue })
        .collect();
    recovered.sort_by(|a, b| a.id.cmp(&b.id));
    recovered
}
