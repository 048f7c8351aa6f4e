//! The interactions database going away: submissions are refused with a
//! retriable 503 (nothing half-stored), pullers keep retrying, and when the
//! database is back everything waiting is processed, nothing lost.

use std::time::Duration;

use ixn_tests::{TestHost, email, lock_sqlite, one_step_config, release_sqlite};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_refuses_cleanly_and_processing_resumes() {
    let config = one_step_config(ixn_bp_artifacts::HOSTILE_ERR, "").replace(
        "path = \"${data-dir}/ixn.db\"",
        "path = \"${data-dir}/ixn.db\"\nbusy-timeout-ms = 200",
    );
    let host = TestHost::start(&config).await.expect("host starts");
    for i in 0..20 {
        host.submit(&email(&format!("before {i}")))
            .await
            .expect("submit");
    }
    host.wait_finished("bp.Error", 20, Duration::from_secs(30))
        .await
        .expect("first ones finish");

    let holder = lock_sqlite(&host.dir.path().join("data/ixn.db")).await;
    let (status, body) = host
        .submit(&email("during the outage"))
        .await
        .expect("answer");
    assert_eq!(
        status, 503,
        "a busy database is a retriable refusal: {body}"
    );
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    // Issue 6: /health said `ok` while nothing could be stored. It says why now,
    // with 503: this server cannot take submissions.
    let (code, health) = host.health().await.expect("/health");
    assert_eq!(code, 503, "{health}");
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["accepting_submissions"], false, "{health}");
    assert!(
        health["reasons"][0]
            .as_str()
            .is_some_and(|r| r.contains("storage") && r.contains("locked")),
        "{health}"
    );
    // Pullers meet the same lock on their claims and keep retrying.
    tokio::time::sleep(Duration::from_millis(600)).await;
    release_sqlite(holder).await;

    for i in 0..20 {
        let (status, body) = host
            .submit(&email(&format!("after {i}")))
            .await
            .expect("submit");
        assert_eq!(status, 201, "{body}");
    }
    host.wait_finished("bp.Error", 40, Duration::from_secs(30))
        .await
        .expect("processing resumes");
    let rows = host.queues().await.expect("queues");
    let stopped: u64 = rows
        .iter()
        .map(|r| r["stopped"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        stopped, 40,
        "exactly the accepted ones, the refused one was not stored: {rows:#?}"
    );
    assert_eq!(host.count("bp.Error", "queued").await.expect("count"), 0);
    let (code, health) = host.health().await.expect("/health");
    assert_eq!((code, &health["status"]), (200, &"ok".into()), "{health}");
    host.server.shutdown().await;
}
