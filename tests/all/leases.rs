//! Leases: an interaction claimed by a node that then goes silent comes back
//! to its queue when the lease expires, and is processed again.

use std::time::Duration;

use ixn_plugin_api::storage::{ClaimRequest, State};
use ixn_tests::{TestHost, email, one_step_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_brings_the_interaction_back() {
    // The view only takes interactions whose lease expired before, so the
    // "crashed node" below gets the fresh one.
    let config = one_step_config(ixn_bp_artifacts::HOSTILE_ERR, "").replace(
        "strategy = \"s\"\n",
        "strategy = \"s\"\n    condition = \"lease_expiries > 0\"\n",
    );
    let host = TestHost::start(&config).await.expect("host starts");
    let (_, body) = host.submit(&email("hello")).await.expect("submit");
    let id = body["id"].as_str().expect("id").to_string();

    // Another node claims it and dies: nobody will ever apply a decision.
    let claimed = host
        .server
        .runtime
        .storage
        .claim(ClaimRequest {
            queue: "bp.In".into(),
            state: State::Routing,
            condition: None,
            order: vec![],
            limit: 10,
            owner: "crashed-node/view/0".into(),
            lease_ms: 300,
            now: ixn::time::now_ms(),
        })
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    let (_, ix) = host.get(&id).await.expect("get");
    assert_eq!(ix["state"], 2, "routing while leased: {ix:#}");
    assert_eq!(ix["lease_owner"], "crashed-node/view/0");

    // The sweep (every second) puts it back; the view then processes it.
    host.wait_finished("bp.Error", 1, Duration::from_secs(20))
        .await
        .expect("it comes back and finishes");
    let (_, ix) = host.get(&id).await.expect("get");
    assert_eq!(ix["lease_expiries"], 1, "{ix:#}");
    assert_eq!(ix["stop_reason"], "ok");
    assert_eq!(ix["lease_owner"], serde_json::Value::Null);

    host.server.bus().flush().await;
    let events =
        std::fs::read_to_string(host.dir.path().join("data/events.jsonl")).expect("events file");
    assert!(
        events.lines().any(|l| l.contains("EventPlacedInQueue")
            && l.contains("lease-expired")
            && l.contains(&id)),
        "an EventPlacedInQueue with reason lease-expired is logged"
    );
    host.server.shutdown().await;
}
