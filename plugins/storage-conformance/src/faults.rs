//! Faults around the database: a host giving back its leases, counts that
//! cost what is live. (A full database is each backend's own test: how to
//! fill one differs.)

use ixn_plugin_api::storage::{ApplyOutcome, DecisionRecord, Outcome, StorageBackend};

use crate::common::*;
use crate::{Db, Harness};

/// A host that stops gives back what its pullers still hold at once, not
/// when the leases expire; another owner's leases stay.
pub fn release_leases_gives_back_one_owners_work_only<H: Harness>(h: &H) {
    let db = Db::new(h);
    let b = db.open();
    b.submit((0..6).map(|n| new_ix(&format!("i{n}"), "q")).collect())
        .unwrap();
    assert_eq!(
        b.claim(claim_req("q", "node-1/view/0", 2, 2000))
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        b.claim(claim_req("q", "node-1/view/1", 2, 2000))
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        b.claim(claim_req("q", "node-10/view/0", 1, 2000))
            .unwrap()
            .len(),
        1
    );
    let released = b.release_leases("node-1/".into()).unwrap();
    assert_eq!(ids_of(&released), ["i0", "i1", "i2", "i3"]);
    assert!(released.iter().all(|r| r.queue == "q"));
    // Back in the queue, claimable at once, lease_expiries untouched.
    let again = b.claim(claim_req("q", "node-2/view/0", 10, 2001)).unwrap();
    assert_eq!(ids(&again), ["i0", "i1", "i2", "i3", "i5"]);
    assert!(again.iter().all(|i| i.lease_expiries == 0));
    assert!(b.release_leases("node-1/".into()).unwrap().is_empty());
}

fn ids_of(r: &[ixn_plugin_api::storage::Recovered]) -> Vec<&str> {
    r.iter().map(|r| r.id.as_str()).collect()
}

/// Counts of stopped interactions are kept as they stop, and survive a reopen.
pub fn stopped_counts_are_kept_per_queue<H: Harness>(h: &H) {
    let db = Db::new(h);
    let b = db.open();
    b.submit((0..5).map(|n| new_ix(&format!("i{n}"), "q")).collect())
        .unwrap();
    let claimed = b.claim(claim_req("q", "w", 3, 2000)).unwrap();
    let stop = |id: &str| DecisionRecord {
        id: id.into(),
        owner: "w".into(),
        outcome: Outcome::Stop("done".into()),
        set_properties: vec![],
        remove_properties: vec![],
        component_version: None,
        now: 3000,
    };
    b.apply(claimed.iter().map(|i| stop(&i.id)).collect())
        .unwrap();
    // Stopping twice (a lost lease) counts once.
    assert_eq!(
        b.apply(vec![stop("i0")]).unwrap(),
        [ApplyOutcome::LeaseLost]
    );
    drop(b);
    let b = db.open();
    let counts = b.counts().unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!((counts[0].queued, counts[0].stopped), (2, 3));
}
