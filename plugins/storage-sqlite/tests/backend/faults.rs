//! Faults of the database file itself: a full one. (The suite's `faults`
//! holds the rest.)

use ixn_plugin_api::storage::{
    ApplyOutcome, DecisionRecord, ErrorKind, Outcome, StorageBackend, StorageError,
};
use ixn_storage_conformance::common::*;
use ixn_storage_conformance::outside;
use ixn_storage_sqlite::SqliteBackend;

use crate::harness::new_db;

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
    let db = new_db();
    let mut settings = db.settings(standard_fields());
    settings.settings =
        serde_json::json!({"path": db.database().path(), "max-size-mb": 1, "max-connections": 2})
            .to_string();
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
