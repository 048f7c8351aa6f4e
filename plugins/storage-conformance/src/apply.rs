//! apply: outcomes, attached-data changes, lost leases, batch atomicity.

use ixn_plugin_api::storage::ApplyOutcome;
use ixn_plugin_api::storage::{DecisionRecord, Interaction, Outcome, State, StorageBackend, Value};

use crate::common::*;
use crate::{Db, Harness};

fn record(id: &str, owner: &str, outcome: Outcome, now: i64) -> DecisionRecord {
    DecisionRecord {
        id: id.into(),
        owner: owner.into(),
        outcome,
        set_properties: vec![],
        remove_properties: vec![],
        component_version: None,
        now,
    }
}

/// Three interactions in `in`, with attached data, claimed by `bp`.
fn claimed<H: Harness>(h: &H) -> (Db<'_, H>, H::Backend) {
    let db = Db::new(h);
    let b = db.open();
    let batch = ["m", "s", "r"]
        .iter()
        .map(|id| {
            let mut n = new_ix(id, "in");
            n.properties = vec![
                str_prop("Category", "gold"),
                prop("Score", Value::Int(1)),
                str_prop("Subject", "hello"),
                prop("Old", Value::Int(0)),
            ];
            n
        })
        .collect();
    b.submit(batch).unwrap();
    assert_eq!(b.claim(claim_req("in", "bp", 10, 2000)).unwrap().len(), 3);
    (db, b)
}

fn get(b: &impl StorageBackend, id: &str) -> Interaction {
    b.get(id.into()).unwrap().unwrap()
}

pub fn move_stop_release_with_property_changes<H: Harness>(h: &H) {
    let (_db, b) = claimed(h);
    let mut mv = record("m", "bp", Outcome::MoveToQueue("out".into()), 5000);
    mv.set_properties = vec![
        str_prop("Category", "silver"),
        str_prop("Subject", "Тема письма"),
        prop("New", Value::Float(2.5)),
    ];
    mv.remove_properties = vec!["Old".into(), "Score".into(), "NotThere".into()];
    let mut stop = record("s", "bp", Outcome::Stop("completed".into()), 6000);
    stop.set_properties = vec![prop("Due", Value::Timestamp(99))];
    stop.remove_properties = vec!["Category".into()];
    let release = record("r", "bp", Outcome::Release(Some(9000)), 7000);
    assert_eq!(
        b.apply(vec![mv, stop, release]).unwrap(),
        [
            ApplyOutcome::Applied,
            ApplyOutcome::Applied,
            ApplyOutcome::Applied
        ]
    );

    let m = get(&b, "m");
    assert_eq!((m.queue.as_str(), m.state), ("out", State::Queued));
    assert_eq!(
        (m.placed_in_queue_at, m.moved_to_queue_at, m.scheduled_at),
        (5000, Some(5000), None)
    );
    assert_eq!((m.lease_owner, m.lease_until), (None, None));
    assert_eq!(
        m.properties,
        vec![
            str_prop("Category", "silver"),
            prop("New", Value::Float(2.5)),
            str_prop("Subject", "Тема письма"),
        ]
    );

    let s = get(&b, "s");
    assert_eq!((s.queue.as_str(), s.state), ("in", State::Queued));
    assert_eq!(
        (s.stopped_at, s.stop_reason.as_deref()),
        (Some(6000), Some("completed"))
    );
    assert_eq!((s.lease_owner, s.lease_until), (None, None));
    assert_eq!(
        s.properties,
        vec![
            prop("Due", Value::Timestamp(99)),
            prop("Old", Value::Int(0)),
            prop("Score", Value::Int(1)),
            str_prop("Subject", "hello"),
        ]
    );

    let r = get(&b, "r");
    assert_eq!(
        (r.queue.as_str(), r.state, r.scheduled_at),
        ("in", State::Queued, Some(9000))
    );
    assert_eq!(
        (r.placed_in_queue_at, r.moved_to_queue_at, r.stopped_at),
        (1000, None, None)
    );
    assert_eq!(r.lease_owner, None);
    assert_eq!(r.properties.len(), 4, "no changes asked, none made");

    // A second move keeps the first moved_to_queue_at; a stopped one is never claimed.
    assert_eq!(
        ids(&b.claim(claim_req("out", "bp2", 10, 8000)).unwrap()),
        ["m"]
    );
    assert_eq!(
        b.apply(vec![record(
            "m",
            "bp2",
            Outcome::MoveToQueue("third".into()),
            8500
        )])
        .unwrap(),
        [ApplyOutcome::Applied]
    );
    let m = get(&b, "m");
    assert_eq!(
        (m.queue.as_str(), m.placed_in_queue_at, m.moved_to_queue_at),
        ("third", 8500, Some(5000))
    );
    assert_eq!(
        ids(&b.claim(claim_req("in", "bp2", 10, 9000)).unwrap()),
        ["r"]
    );
}

pub fn wrong_owner_changes_nothing<H: Harness>(h: &H) {
    let (_db, b) = claimed(h);
    let before: Vec<Interaction> = ["m", "s", "r"].iter().map(|id| get(&b, id)).collect();
    let mut thief = record("m", "someone-else", Outcome::Stop("stolen".into()), 5000);
    thief.set_properties = vec![str_prop("Subject", "changed")];
    thief.remove_properties = vec!["Category".into()];
    let unknown = record("ghost", "bp", Outcome::Release(None), 5000);
    let ok = record("r", "bp", Outcome::Release(None), 5000);
    assert_eq!(
        b.apply(vec![thief, unknown, ok]).unwrap(),
        [
            ApplyOutcome::LeaseLost,
            ApplyOutcome::LeaseLost,
            ApplyOutcome::Applied
        ]
    );
    assert_eq!(get(&b, "m"), before[0]);
    assert_eq!(get(&b, "s"), before[1]);
    assert_eq!(get(&b, "r").lease_owner, None);
    assert!(b.apply(vec![]).unwrap().is_empty());
}

/// Issue 6, the poison batch: one record whose property breaks its custom
/// field used to fail the whole batch, which stayed leased and was claimed,
/// decided and refused again after every lease expiry. Now only that record
/// is refused, with the reason; the rest are applied at once.
pub fn a_bad_property_refuses_only_its_record<H: Harness>(h: &H) {
    let (_db, b) = claimed(h);
    let good = record("m", "bp", Outcome::Stop("done".into()), 5000);
    let mut too_long = record("s", "bp", Outcome::Stop("done".into()), 5000);
    too_long.set_properties = vec![str_prop("Category", &"x".repeat(17))];
    let mut nan = record("r", "bp", Outcome::Release(None), 5000);
    nan.set_properties = vec![prop("Weight", Value::Float(f64::NAN))];
    let outcomes = b.apply(vec![good, too_long, nan]).unwrap();
    assert_eq!(outcomes[0], ApplyOutcome::Applied);
    let ApplyOutcome::Refused(why) = &outcomes[1] else {
        panic!("{outcomes:?}")
    };
    assert!(
        why.contains("`Category`") && why.contains("17 characters"),
        "{why}"
    );
    let ApplyOutcome::Refused(why) = &outcomes[2] else {
        panic!("{outcomes:?}")
    };
    assert!(why.contains("`Weight`"), "{why}");

    // The good one is stopped; the refused ones are untouched and still leased.
    assert_eq!(get(&b, "m").stopped_at, Some(5000));
    for id in ["s", "r"] {
        let i = get(&b, id);
        assert_eq!(
            (i.stopped_at, i.lease_owner.as_deref()),
            (None, Some("bp")),
            "{id}"
        );
        assert_eq!(
            i.properties.len(),
            4,
            "{id}: nothing of the refused record applied"
        );
    }
    // The lease holder can still move a refused one elsewhere (the error queue).
    assert_eq!(
        b.apply(vec![record(
            "s",
            "bp",
            Outcome::MoveToQueue("err".into()),
            6000
        )])
        .unwrap(),
        [ApplyOutcome::Applied]
    );
    assert_eq!(get(&b, "s").queue, "err");
}
