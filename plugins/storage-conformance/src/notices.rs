//! `wait-for-work`: a backend either tells of nothing (`unsupported`, the
//! host's views then poll) or tells one instance of the work another
//! instance on the same database placed, naming its queue.

use std::time::{Duration, Instant};

use ixn_plugin_api::storage::{DecisionRecord, Outcome, StorageBackend, WorkNotice};

use crate::common::*;
use crate::{Db, Harness};

/// How long a notice may take before the test gives up on it: far above
/// any real delivery, far below a view's default check interval.
const PATIENCE: Duration = Duration::from_secs(20);

/// Waits on `b` until a notice names `queue`; `everything` answers (the
/// listener was (re)connecting) are passed over. Panics after [`PATIENCE`].
fn hear<B: StorageBackend>(b: &B, queue: &str, what: &str) {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        match b.wait_for_work(500).unwrap() {
            WorkNotice::Queues(q) if q.iter().any(|q| q == queue) => return,
            WorkNotice::Unsupported => panic!("{what}: wait-for-work became unsupported"),
            _ => {}
        }
    }
    panic!("{what}: no notice named `{queue}` within {PATIENCE:?}");
}

/// Answers until a quiet wait answers an empty list.
fn drain<B: StorageBackend>(b: &B) {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        if b.wait_for_work(200).unwrap() == WorkNotice::Queues(Vec::new()) {
            return;
        }
    }
    panic!("wait-for-work never went quiet");
}

pub fn work_placed_by_another_instance_is_told_by_queue<H: Harness>(h: &H) {
    let db = Db::new(h);
    let listening = db.open();
    let placing = db.open();
    if listening.wait_for_work(10).unwrap() == WorkNotice::Unsupported {
        // Allowed: the views of a host on this backend poll.
        assert_eq!(
            placing.wait_for_work(10).unwrap(),
            WorkNotice::Unsupported,
            "a backend tells for every instance or for none"
        );
        return;
    }
    // Until the listener listens, a submission may go unheard: submit
    // until one is heard (each is a new interaction).
    let start = Instant::now();
    let mut n = 0;
    loop {
        assert!(start.elapsed() < PATIENCE, "no submission heard");
        placing
            .submit(vec![new_ix(&format!("early-{n}"), "q.submitted")])
            .unwrap();
        n += 1;
        if let WorkNotice::Queues(q) = listening.wait_for_work(500).unwrap()
            && q.iter().any(|q| q == "q.submitted")
        {
            break;
        }
    }
    drain(&listening);

    // Submit: every queue of the batch, once each.
    placing
        .submit(vec![
            new_ix("s1", "q.a"),
            new_ix("s2", "q.b"),
            new_ix("s3", "q.a"),
        ])
        .unwrap();
    let mut heard = Vec::new();
    let start = Instant::now();
    while heard.len() < 2 && start.elapsed() < PATIENCE {
        if let WorkNotice::Queues(q) = listening.wait_for_work(500).unwrap() {
            heard.extend(q);
        }
    }
    heard.sort();
    assert_eq!(heard, ["q.a", "q.b"], "each queue of a batch, once");
    drain(&listening);

    // A quiet wait answers nothing once its timeout passed.
    let quiet = Instant::now();
    assert_eq!(
        listening.wait_for_work(300).unwrap(),
        WorkNotice::Queues(Vec::new())
    );
    assert!(quiet.elapsed() >= Duration::from_millis(250), "it waited");

    // A decision moving an interaction to another queue.
    let claimed = placing
        .claim(claim_req("q.a", "other/v/0", 2, 2000))
        .unwrap();
    assert_eq!(ids(&claimed), ["s1", "s3"]);
    let outcomes = placing
        .apply(vec![DecisionRecord {
            id: "s1".into(),
            owner: "other/v/0".into(),
            outcome: Outcome::MoveToQueue("q.moved".into()),
            set_properties: Vec::new(),
            remove_properties: Vec::new(),
            component_version: None,
            now: 2001,
        }])
        .unwrap();
    assert_eq!(outcomes.len(), 1);
    hear(&listening, "q.moved", "a decision's move");
    drain(&listening);

    // Leases given back by a stopping host.
    assert_eq!(placing.release_leases("other/".into()).unwrap().len(), 1);
    hear(&listening, "q.a", "released leases");
    drain(&listening);

    // Leases that expired.
    placing
        .claim(claim_req("q.b", "dead/v/0", 1, 3000))
        .unwrap();
    assert_eq!(placing.recover_expired(3000 + 60_001).unwrap().len(), 1);
    hear(&listening, "q.b", "recovered leases");
}
