//! Faults of the database itself: a full file, a host giving back its leases,
//! counts that cost what is live.

use ixn_plugin_api::storage::{
    ApplyOutcome, DecisionRecord, ErrorKind, Outcome, StorageBackend, StorageError,
};
use ixn_storage_sqlite::SqliteBackend;

use crate::common::*;

fn big_ix(n: usize) -> ixn_plugin_api::storage::NewInteraction {
    let mut ix = new_ix(&format!("big-{n:05}"), "in");
    ix.properties = vec![str_prop("Body", &"x".repeat(4000))];
    ix
}

/// Issue 6, the wedge: after one transaction failed because the database was
/// full, every later BEGIN on that pooled connection failed with "attempted to
/// call begin_with at non-zero transaction depth" (permanent: 422), after the
/// disk had room again too. Full is now retriable (503), and once there is
/// room submissions and claims resume on the same backend, nothing
/// acknowledged lost.
#[test]
fn a_full_database_is_retriable_and_work_resumes_when_there_is_room() {
    let db = Db::new();
    let mut settings = db.settings(standard_fields());
    settings.settings =
        serde_json::json!({"path": db.path(), "max-size-mb": 1, "max-connections": 2}).to_string();
    let b = SqliteBackend::open(settings).unwrap();
    let mut acknowledged = 0;
    let full: StorageError = loop {
        match b.submit(vec![big_ix(acknowledged)]) {
            Ok(()) => acknowledged += 1,
            Err(e) => break e,
        }
        assert!(acknowledged < 5000, "a 1 MiB database never filled");
    };
    assert_eq!(full.kind, ErrorKind::Retriable, "{}", full.message);
    assert!(full.message.contains("full"), "{}", full.message);
    // Still full: still retriable, never the wedge's permanent error.
    for _ in 0..5 {
        let e = b.submit(vec![big_ix(acknowledged)]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Retriable, "{}", e.message);
    }

    // Room again: an operator removes other data (here a few of the rows).
    outside(&db, "DELETE FROM interactions WHERE id < 'big-00010'");
    let removed = acknowledged.min(10);
    for n in 0..3 {
        b.submit(vec![big_ix(acknowledged + n)]).unwrap();
    }
    let total = acknowledged - removed + 3;
    let claimed = b.claim(claim_req("in", "w", 10_000, 2000)).unwrap();
    assert_eq!(
        claimed.len(),
        total,
        "every acknowledged interaction is there"
    );
    let stops: Vec<DecisionRecord> = claimed
        .iter()
        .map(|i| DecisionRecord {
            id: i.id.clone(),
            owner: "w".into(),
            outcome: Outcome::Stop("done".into()),
            set_properties: vec![],
            remove_properties: vec![],
            component_version: None,
            now: 3000,
        })
        .collect();
    assert!(
        b.apply(stops)
            .unwrap()
            .iter()
            .all(|o| *o == ApplyOutcome::Applied)
    );
}

/// A host that stops gives back what its pullers still hold at once, not
/// when the leases expire; another owner's leases stay.
#[test]
fn release_leases_gives_back_one_owners_work_only() {
    let db = Db::new();
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
#[test]
fn stopped_counts_are_kept_per_queue() {
    let db = Db::new();
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
