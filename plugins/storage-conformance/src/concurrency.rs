//! Concurrent claimers, and calls from threads of other tokio runtimes.

use std::collections::HashSet;
use std::sync::Arc;

use ixn_plugin_api::storage::StorageBackend;

use crate::common::*;
use crate::{Db, Harness};

pub fn concurrent_claimers_never_share_an_interaction<H: Harness>(h: &H) {
    let db = Db::new(h);
    let b = Arc::new(db.open());
    let (total, per_claim) = (2000, 10);
    for chunk in (0..total).collect::<Vec<_>>().chunks(500) {
        b.submit(
            chunk
                .iter()
                .map(|i| new_ix(&format!("ix-{i:05}"), "q"))
                .collect(),
        )
        .unwrap();
    }
    // The workers claim in lock step: a barrier starts every round, so both
    // claims of a round race each other, and no worker can run ahead and drain
    // the queue alone however the threads are scheduled (on a loaded machine
    // one thread could otherwise finish before the other starts).
    let rounds = total / (2 * per_claim);
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let workers: Vec<_> = ["w1", "w2"]
        .into_iter()
        .map(|owner| {
            let (b, barrier) = (b.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut got = Vec::new();
                for _ in 0..rounds {
                    barrier.wait();
                    let batch = b
                        .claim(claim_req("q", owner, per_claim as u32, 5000))
                        .unwrap();
                    assert!(
                        batch
                            .iter()
                            .all(|i| i.lease_owner.as_deref() == Some(owner))
                    );
                    got.extend(ids(&batch));
                }
                got
            })
        })
        .collect();
    let results: Vec<Vec<String>> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let mut seen = HashSet::new();
    for id in results.iter().flatten() {
        assert!(seen.insert(id.clone()), "{id} claimed twice");
    }
    assert_eq!(seen.len(), total);
    // Each round offers 2 × per_claim interactions to two claims of per_claim.
    assert_eq!(
        (results[0].len(), results[1].len()),
        (total / 2, total / 2),
        "every claim of a round got a full batch"
    );
    assert!(b.claim(claim_req("q", "w3", 10, 5000)).unwrap().is_empty());
    let counts = b.counts().unwrap();
    assert_eq!((counts[0].queued, counts[0].routing), (0, total as u64));
}

pub fn callable_from_spawn_blocking_of_another_runtime<H: Harness>(h: &H) {
    let db = Db::new(h);
    let b = Arc::new(db.open());
    let host = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let got = host.block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|t| {
                let b = b.clone();
                tokio::task::spawn_blocking(move || {
                    b.submit(vec![new_ix(&format!("t{t}"), "q")]).unwrap();
                    b.claim(claim_req("q", &format!("o{t}"), 1, 2000))
                        .unwrap()
                        .len()
                })
            })
            .collect();
        let mut n = 0;
        for t in tasks {
            n += t.await.unwrap();
        }
        n
    });
    assert_eq!(got, 4);
    // Even straight from an async task (blocking it, but without a panic).
    let count = host.block_on(async { b.counts().unwrap() });
    assert_eq!(count[0].routing, 4);
    // And the backend can be dropped inside an async context.
    host.block_on(async move { drop(Arc::try_unwrap(b).ok().unwrap()) });
}
