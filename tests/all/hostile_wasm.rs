//! Broken and hostile BP components: a trap, an endless loop, a memory bomb
//! and an `err` result each send only their own interaction to the error
//! queue, with the reason in its attached data, while the rest complete.

use std::time::Duration;

use ixn_tests::{TestHost, email, one_step_config};
use serde_json::Value as Json;

/// Submits `good` harmless e-mails and `bad` ones whose subject contains
/// `trigger`, waits for all of them, and checks where each one ended.
async fn only_the_bad_ones_fail(component: &str, trigger: &str, reason: &str, extra_wasm: &str) {
    let host = TestHost::start(&one_step_config(component, extra_wasm))
        .await
        .expect("host starts");
    let (good, bad) = (30, 3);
    let mut bad_ids = Vec::new();
    let mut good_ids = Vec::new();
    for i in 0..good + bad {
        let subject = if i % 11 == 5 && bad_ids.len() < bad {
            format!("please {trigger} now")
        } else {
            format!("hello {i}")
        };
        let (status, body) = host.submit(&email(&subject)).await.expect("submit");
        assert_eq!(status, 201, "{body}");
        let id = body["id"].as_str().expect("id").to_string();
        if subject.contains(trigger) {
            bad_ids.push(id)
        } else {
            good_ids.push(id)
        }
    }
    assert_eq!(bad_ids.len(), bad);
    host.wait_finished("bp.Error", (good + bad) as u64, Duration::from_secs(60))
        .await
        .expect("all finish");

    for id in &bad_ids {
        let (_, ix) = host.get(id).await.expect("get");
        assert_eq!(ix["queue"], "bp.Error", "{ix:#}");
        assert_eq!(ix["stopped_at"], Json::Null);
        let why = ix["properties"]["ErrorReason"].as_str().unwrap_or_default();
        assert!(
            why.contains(reason),
            "ErrorReason `{why}` should mention `{reason}`"
        );
        assert_eq!(ix["properties"]["ErrorStrategy"], "s");
        assert_eq!(ix["properties"]["ErrorView"], "work");
    }
    for id in &good_ids {
        let (_, ix) = host.get(id).await.expect("get");
        assert_eq!(ix["stop_reason"], "ok", "{ix:#}");
        assert_eq!(ix["queue"], "bp.In");
    }
    // The host goes on: fresh instances replace the broken ones.
    for i in 0..10 {
        host.submit(&email(&format!("after {i}")))
            .await
            .expect("submit after");
    }
    host.wait_finished(
        "bp.Error",
        (good + bad + 10) as u64,
        Duration::from_secs(30),
    )
    .await
    .expect("later ones finish");
    assert_eq!(
        host.count("bp.Error", "queued").await.expect("count"),
        bad as u64
    );
    host.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_component_fails_only_its_interaction() {
    only_the_bad_ones_fail(ixn_bp_artifacts::HOSTILE_TRAP, "boom", "trap", "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_loop_times_out() {
    only_the_bad_ones_fail(ixn_bp_artifacts::HOSTILE_ENDLESS, "spin", "timeout", "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_loop_runs_out_of_fuel_where_fuel_is_configured() {
    only_the_bad_ones_fail(
        ixn_bp_artifacts::HOSTILE_ENDLESS,
        "spin",
        "out of fuel",
        "fuel = 50000000",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_bomb_hits_the_memory_limit() {
    only_the_bad_ones_fail(
        ixn_bp_artifacts::HOSTILE_MEMBOMB,
        "grow",
        "memory limit",
        "",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_err_result_goes_to_the_error_queue() {
    only_the_bad_ones_fail(
        ixn_bp_artifacts::HOSTILE_ERR,
        "refuse",
        "refused by hostile-err",
        "",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_a_component_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"\0asm not really").expect("write");
    let err = match TestHost::start(&one_step_config(&junk.to_string_lossy(), "")).await {
        Ok(_) => panic!("a junk component must be refused"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("strategy `s`") && err.contains("junk.wasm"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_slow_calls_does_not_outlive_its_lease() {
    // 10 calls of 300 ms each would hold a batch for 3 s against a 1 s lease:
    // the puller releases what it cannot reach in time instead of letting the
    // lease expire under it.
    let config = one_step_config(ixn_bp_artifacts::HOSTILE_ENDLESS, "")
        .replace("lease-timeout = 30", "lease-timeout = 1");
    let host = TestHost::start(&config).await.expect("host starts");
    for i in 0..20 {
        let subject = if i % 2 == 0 {
            format!("spin {i}")
        } else {
            format!("fine {i}")
        };
        host.submit(&email(&subject)).await.expect("submit");
    }
    host.wait_finished("bp.Error", 20, Duration::from_secs(60))
        .await
        .expect("all finish");
    assert_eq!(host.count("bp.Error", "queued").await.expect("count"), 10);
    let stats = host.server.runtime.view_stats("work").expect("view stats");
    assert_eq!(
        stats.lease_lost.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "no decision lost its lease"
    );
    host.server.shutdown().await;
}

/// Submits `n` e-mails whose component call leaks 2 MiB each, and returns how
/// many ended in the error queue.
async fn leaking_calls_that_fail(recycle_after_calls: u32, n: usize) -> u64 {
    let extra = format!("recycle-after-calls = {recycle_after_calls}");
    let host = TestHost::start(&one_step_config(ixn_bp_artifacts::HOSTILE_MEMBOMB, &extra))
        .await
        .expect("host starts");
    for i in 0..n {
        host.submit(&email(&format!("leak {i}")))
            .await
            .expect("submit");
    }
    host.wait_finished("bp.Error", n as u64, Duration::from_secs(60))
        .await
        .expect("all finish");
    let failed = host.count("bp.Error", "queued").await.expect("count");
    host.server.shutdown().await;
    failed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recycling_instances_keeps_a_leaking_guest_under_its_memory_limit() {
    // 32 MiB per instance, 2 MiB leaked per call: an instance that is never
    // replaced runs out after about a dozen calls…
    assert!(
        leaking_calls_that_fail(10_000, 60).await > 0,
        "without recycling the leak must hit the limit"
    );
    // …one replaced every 5 calls never does.
    assert_eq!(
        leaking_calls_that_fail(5, 60).await,
        0,
        "recycled instances stay under the limit"
    );
}
