//! claim: conditions, order, eligibility, leases; counts and lease recovery.

use ixn_plugin_api::storage::ApplyOutcome;
use ixn_plugin_api::storage::{
    CompareOp, Condition, DecisionRecord, ErrorKind, ExprNode, Literal, OrderBy, Outcome,
    QueueCount, State, StorageBackend, Value,
};

use crate::common::*;
use crate::{Db, Harness};

use ExprNode::*;

/// Five interactions in `q`, placed at 1000 (a, b, c) or 50 000 (d, e), with
/// various categories, subjects and priorities.
fn seeded<H: Harness>(h: &H) -> (Db<'_, H>, H::Backend) {
    let db = Db::new(h);
    let b = db.open();
    let rows: [(&str, i64, i32, Option<&str>, &str); 5] = [
        ("a", 1000, 1, Some("gold"), "Refund please"),
        ("b", 1000, 5, Some("silver"), "x' OR '1'='1"),
        ("c", 1000, 3, None, "Привет"),
        ("d", 50_000, 9, Some("gold"), "refund again"),
        ("e", 50_000, 2, Some("bronze"), "other"),
    ];
    let batch = rows
        .iter()
        .map(|(id, at, priority, category, subject)| {
            let mut n = new_ix(id, "q");
            n.submitted_at = *at;
            n.priority = *priority;
            n.properties = vec![str_prop("Subject", subject)];
            if let Some(c) = category {
                n.properties.push(str_prop("Category", c));
            }
            n
        })
        .collect();
    b.submit(batch).unwrap();
    b.submit(vec![new_ix("other-queue", "elsewhere")]).unwrap();
    (db, b)
}

fn lit_str(s: &str) -> ExprNode {
    Literal(Literal::Str(s.into()))
}

fn lit_int(i: i64) -> ExprNode {
    Literal(Literal::Int(i))
}

/// Claims everything matching `condition` at `now` = 61 000, by id.
fn matching(b: &impl StorageBackend, nodes: Vec<ExprNode>, root: u32) -> Vec<String> {
    let mut req = claim_req("q", "probe", 100, 61_000);
    req.condition = Some(Condition { nodes, root });
    req.order = vec![OrderBy {
        column: "id".into(),
        descending: false,
    }];
    let got = ids(&b.claim(req).unwrap());
    // Put them back for the next probe.
    let records = got
        .iter()
        .map(|id| DecisionRecord {
            id: id.clone(),
            owner: "probe".into(),
            outcome: Outcome::Release(None),
            set_properties: vec![],
            remove_properties: vec![],
            component_version: None,
            now: 61_000,
        })
        .collect();
    assert!(
        b.apply(records)
            .unwrap()
            .iter()
            .all(|o| *o == ApplyOutcome::Applied)
    );
    got
}

pub fn conditions<H: Harness>(h: &H) {
    let (_db, b) = seeded(h);
    // _time_in_queue[] >= 60: placed at 1000, now 61 000 → 60 s; placed at 50 000 → 11 s.
    assert_eq!(
        matching(
            &b,
            vec![TimeInQueue, lit_int(60), Compare((CompareOp::Ge, 0, 1))],
            2
        ),
        ["a", "b", "c"]
    );
    assert_eq!(
        matching(
            &b,
            vec![TimeInQueue, lit_int(11), Compare((CompareOp::Eq, 0, 1))],
            2
        ),
        ["d", "e"]
    );
    // IN on a custom field.
    assert_eq!(
        matching(
            &b,
            vec![
                Column("category".into()),
                lit_str("gold"),
                lit_str("bronze"),
                InList((0, vec![1, 2]))
            ],
            3
        ),
        ["a", "d", "e"]
    );
    // NOT IN: NULL category is neither in nor not in.
    assert_eq!(
        matching(
            &b,
            vec![
                Column("category".into()),
                lit_str("gold"),
                InList((0, vec![1])),
                Negate(2)
            ],
            3
        ),
        ["b", "e"]
    );
    // IS NULL / IS NOT NULL.
    assert_eq!(
        matching(&b, vec![Column("category".into()), IsNull(0)], 1),
        ["c"]
    );
    assert_eq!(
        matching(&b, vec![Column("category".into()), IsNotNull(0)], 1).len(),
        4
    );
    // LIKE on a standard column and on a custom one; AND / OR.
    assert_eq!(
        matching(
            &b,
            vec![Column("category".into()), lit_str("%ol%"), Like((0, 1))],
            2
        ),
        ["a", "d"]
    );
    assert_eq!(
        matching(
            &b,
            vec![
                Column("priority".into()),
                lit_int(3),
                Compare((CompareOp::Gt, 0, 1)),
                Column("category".into()),
                lit_str("gold"),
                Compare((CompareOp::Eq, 3, 4)),
                All(vec![2, 5]),
                Compare((CompareOp::Lt, 0, 1)),
                Any(vec![6, 7]),
            ],
            8
        ),
        ["a", "d", "e"]
    );
    // A float literal and a boolean literal are bound too.
    assert_eq!(
        matching(
            &b,
            vec![
                Column("priority".into()),
                Literal(Literal::Float(4.5)),
                Compare((CompareOp::Ge, 0, 1))
            ],
            2
        ),
        ["b", "d"]
    );
    assert_eq!(
        matching(&b, vec![Literal(Literal::Boolean(false))], 0),
        Vec::<String>::new()
    );
    assert_eq!(
        matching(
            &b,
            vec![
                Column("category".into()),
                Literal(Literal::Null),
                InList((0, vec![1]))
            ],
            2
        ),
        Vec::<String>::new()
    );
}

pub fn injection_in_a_string_literal_matches_literally<H: Harness>(h: &H) {
    let (_db, b) = seeded(h);
    let mut ib = new_ix("inj", "q");
    ib.properties = vec![str_prop("Category", "x' OR '1'='1")];
    b.submit(vec![ib]).unwrap();
    let nodes = vec![
        Column("category".into()),
        lit_str("x' OR '1'='1"),
        Compare((CompareOp::Eq, 0, 1)),
    ];
    assert_eq!(matching(&b, nodes, 2), ["inj"]);
    let nodes = vec![
        Column("category".into()),
        lit_str("gold'); DROP TABLE interactions; --"),
        Compare((CompareOp::Eq, 0, 1)),
    ];
    assert!(matching(&b, nodes, 2).is_empty());
    assert_eq!(b.counts().unwrap().iter().map(|c| c.queued).sum::<u64>(), 7);
}

pub fn bad_conditions_are_permanent_errors_and_claim_nothing<H: Harness>(h: &H) {
    let (_db, b) = seeded(h);
    let cases: Vec<(Vec<ExprNode>, u32, &str)> = vec![
        (
            vec![Column("nope".into()), IsNull(0)],
            1,
            "unknown column `nope`",
        ),
        (
            vec![Column("queue\" OR 1=1 --".into()), IsNull(0)],
            1,
            "unknown column",
        ),
        (vec![Negate(7)], 0, "node 7 does not exist"),
        (vec![Negate(1), Negate(0)], 0, "cycle"),
        (vec![], 0, "does not exist"),
    ];
    for (nodes, root, needle) in cases {
        let mut req = claim_req("q", "o", 10, 61_000);
        req.condition = Some(Condition { nodes, root });
        let e = b.claim(req).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Permanent);
        assert!(
            e.message.contains(needle) && e.message.contains("claim from queue `q`"),
            "{e}"
        );
    }
    let mut req = claim_req("q", "o", 10, 61_000);
    req.order = vec![OrderBy {
        column: "priority desc".into(),
        descending: false,
    }];
    assert!(b.claim(req).unwrap_err().message.contains("unknown column"));
    assert_eq!(b.counts().unwrap()[1].queued, 5);
}

pub fn order_by_priority_desc_then_id<H: Harness>(h: &H) {
    let (_db, b) = seeded(h);
    let mut n = new_ix("f", "q");
    n.priority = 9;
    b.submit(vec![n]).unwrap();
    let mut req = claim_req("q", "o", 4, 61_000);
    req.order = vec![OrderBy {
        column: "priority".into(),
        descending: true,
    }];
    let got = b.claim(req.clone()).unwrap();
    assert_eq!(ids(&got), ["d", "f", "b", "c"]);
    for i in &got {
        assert_eq!(i.state, State::Routing);
        assert_eq!(i.lease_owner.as_deref(), Some("o"));
        assert_eq!(i.lease_until, Some(121_000));
        assert_eq!(b.get(i.id.clone()).unwrap().as_ref(), Some(i));
    }
    // The rest, then nothing.
    assert_eq!(ids(&b.claim(req.clone()).unwrap()), ["e", "a"]);
    assert!(b.claim(req).unwrap().is_empty());
    // Order on a custom column, ascending (NULLs first in SQLite).
    // NULLs first is the contract: a PostgreSQL backend has to ask for it
    // (`NULLS FIRST`), its default being last.
    let (_db, b) = seeded(h);
    let mut req = claim_req("q", "o", 10, 61_000);
    req.order = vec![OrderBy {
        column: "category".into(),
        descending: false,
    }];
    assert_eq!(ids(&b.claim(req).unwrap()), ["c", "e", "a", "d", "b"]);
}

pub fn claim_respects_queue_state_schedule_and_limit<H: Harness>(h: &H) {
    let db = Db::new(h);
    let b = db.open();
    b.submit((0..5).map(|i| new_ix(&format!("i{i}"), "q")).collect())
        .unwrap();
    assert!(b.claim(claim_req("q", "o", 0, 2000)).unwrap().is_empty());
    let mut req = claim_req("q", "viewer", 2, 2000);
    req.state = State::Cached;
    let got = b.claim(req).unwrap();
    assert_eq!(ids(&got), ["i0", "i1"]);
    assert!(got.iter().all(|i| i.state == State::Cached));
    // Released to later: not claimable before its time.
    let rec = |id: &str, owner: &str, outcome| DecisionRecord {
        id: id.into(),
        owner: owner.into(),
        outcome,
        set_properties: vec![],
        remove_properties: vec![],
        component_version: None,
        now: 2000,
    };
    assert_eq!(
        b.apply(vec![rec("i0", "viewer", Outcome::Release(Some(10_000)))])
            .unwrap(),
        [ApplyOutcome::Applied]
    );
    assert_eq!(
        ids(&b.claim(claim_req("q", "o", 10, 9_999)).unwrap()),
        ["i2", "i3", "i4"]
    );
    assert_eq!(
        ids(&b.claim(claim_req("q", "o", 10, 10_000)).unwrap()),
        ["i0"]
    );
    assert!(
        b.claim(claim_req("other", "o", 10, 10_000))
            .unwrap()
            .is_empty()
    );
}

pub fn lease_expiry_puts_interactions_back<H: Harness>(h: &H) {
    let db = Db::new(h);
    let b = db.open();
    b.submit(vec![new_ix("a", "q"), new_ix("b", "q"), new_ix("c", "q2")])
        .unwrap();
    let mut req = claim_req("q", "dead-worker", 10, 2000);
    req.lease_ms = 10;
    assert_eq!(b.claim(req).unwrap().len(), 2);
    let mut req = claim_req("q2", "live-worker", 10, 2000);
    req.lease_ms = 60_000;
    assert_eq!(b.claim(req).unwrap().len(), 1);

    assert!(
        b.recover_expired(2010).unwrap().is_empty(),
        "lease_until is not before now yet"
    );
    let back = b.recover_expired(2011).unwrap();
    assert_eq!(
        back.iter()
            .map(|r| (r.id.as_str(), r.queue.as_str()))
            .collect::<Vec<_>>(),
        [("a", "q"), ("b", "q")]
    );
    for id in ["a", "b"] {
        let i = b.get(id.into()).unwrap().unwrap();
        assert_eq!(i.state, State::Queued);
        assert_eq!(i.lease_owner, None);
        assert_eq!(i.lease_until, None);
        assert_eq!(i.lease_expiries, 1);
    }
    assert_eq!(b.get("c".into()).unwrap().unwrap().state, State::Routing);
    // The dead worker's late decision is ignored; the rows can be claimed again.
    let late = DecisionRecord {
        id: "a".into(),
        owner: "dead-worker".into(),
        outcome: Outcome::Stop("done".into()),
        set_properties: vec![],
        remove_properties: vec![],
        component_version: None,
        now: 3000,
    };
    assert_eq!(b.apply(vec![late]).unwrap(), [ApplyOutcome::LeaseLost]);
    assert_eq!(b.claim(claim_req("q", "w2", 10, 3000)).unwrap().len(), 2);
    assert!(b.recover_expired(3001).unwrap().is_empty());
}

pub fn counts_per_queue_and_state<H: Harness>(h: &H) {
    let db = Db::new(h);
    let b = db.open();
    assert!(b.counts().unwrap().is_empty());
    b.submit((0..6).map(|i| new_ix(&format!("a{i}"), "alpha")).collect())
        .unwrap();
    b.submit(vec![new_ix("b0", "beta")]).unwrap();
    let mut req = claim_req("alpha", "o", 1, 2000);
    req.state = State::Cached;
    b.claim(req).unwrap();
    b.claim(claim_req("alpha", "o", 2, 2000)).unwrap(); // a1, a2 routing
    let mut req = claim_req("alpha", "o", 1, 2000);
    req.state = State::Handled;
    b.claim(req).unwrap(); // a3
    let stop = DecisionRecord {
        id: "a1".into(),
        owner: "o".into(),
        outcome: Outcome::Stop("finished".into()),
        set_properties: vec![prop("Done", Value::Boolean(true))],
        remove_properties: vec![],
        component_version: None,
        now: 3000,
    };
    assert_eq!(b.apply(vec![stop]).unwrap(), [ApplyOutcome::Applied]);
    assert_eq!(
        b.counts().unwrap(),
        vec![
            QueueCount {
                queue: "alpha".into(),
                queued: 2,
                cached: 1,
                routing: 1,
                handled: 1,
                stopped: 1
            },
            QueueCount {
                queue: "beta".into(),
                queued: 1,
                cached: 0,
                routing: 0,
                handled: 0,
                stopped: 0
            },
        ]
    );
}

pub fn a_removed_queue_moves_live_interactions_with_their_leases_ended<H: Harness>(h: &H) {
    let db = Db::new(h);
    let b = db.open();
    b.submit(vec![
        new_ix("a", "old"),
        new_ix("b", "old"),
        new_ix("c", "old"),
    ])
    .unwrap();
    let leased = b.claim(claim_req("old", "bp", 1, 2000)).unwrap();
    let stopped = b.claim(claim_req("old", "bp", 1, 2000)).unwrap();
    let applied = b
        .apply(vec![ixn_plugin_api::storage::DecisionRecord {
            id: stopped[0].id.clone(),
            owner: "bp".into(),
            outcome: ixn_plugin_api::storage::Outcome::Stop("done".into()),
            set_properties: vec![],
            remove_properties: vec![],
            component_version: None,
            now: 2001,
        }])
        .unwrap();
    assert_eq!(applied, [ixn_plugin_api::storage::ApplyOutcome::Applied]);

    let moved = b
        .move_queue(ixn_plugin_api::storage::MoveQueue {
            from: "old".into(),
            to: "new".into(),
            now: 3000,
        })
        .unwrap();
    assert_eq!(moved.len(), 2, "the stopped one stays: {moved:?}");
    assert!(moved.iter().all(|m| m.queue == "new"));
    let was_leased = b.get(leased[0].id.clone()).unwrap().unwrap();
    assert_eq!(
        (
            was_leased.queue.as_str(),
            was_leased.lease_owner,
            was_leased.placed_in_queue_at
        ),
        ("new", None, 3000)
    );
    // The holder of the ended lease decides too late: nothing changes.
    let late = b
        .apply(vec![ixn_plugin_api::storage::DecisionRecord {
            id: leased[0].id.clone(),
            owner: "bp".into(),
            outcome: ixn_plugin_api::storage::Outcome::Release(None),
            set_properties: vec![],
            remove_properties: vec![],
            component_version: None,
            now: 3001,
        }])
        .unwrap();
    assert_eq!(late, [ixn_plugin_api::storage::ApplyOutcome::LeaseLost]);
    assert_eq!(
        ids(&b.claim(claim_req("new", "bp2", 10, 3002)).unwrap()).len(),
        2
    );
    assert!(
        b.move_queue(ixn_plugin_api::storage::MoveQueue {
            from: "new".into(),
            to: "new".into(),
            now: 3003,
        })
        .is_err()
    );
}
