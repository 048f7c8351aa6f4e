//! What a host knows from the moment it starts.

use std::time::Duration;

use ixn_tests::{TestHost, email};

/// The router on `bp.In`, its view `enabled` or not.
fn router_config(enabled: bool) -> String {
    format!(
        r#"
[server]
lease-timeout = 30

[storage]
plugin = "sqlite"
[storage.settings]
path = "${{data-dir}}/ixn.db"

[wasm]
cache-dir = "${{data-dir}}/wasm-cache"

[lookup-table.vip-senders]
"boss@example.com" = "gold"

[strategy.route]
component = "{router}"

[[business-process]]
name = "bp"
entry-queue = "bp.In"
error-queue = "bp.Error"
  [[business-process.queue]]
  name = "bp.In"
    [[business-process.queue.view]]
    name = "route"
    strategy = "route"
    enabled = {enabled}
  [[business-process.queue]]
  name = "bp.Error"
"#,
        router = ixn_bp_artifacts::ROUTER
    )
}

/// Issue 6: `queue-depth` answered "no queue" for configured queues until the
/// first refresh after start, so interactions waiting when a host started
/// were routed without their depth. Depths are counted before any view pulls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_depths_are_known_before_the_first_pull() {
    let host = TestHost::start(&router_config(false))
        .await
        .expect("host starts");
    let mut ids = Vec::new();
    for i in 0..30 {
        let (status, reply) = host
            .submit(&email(&format!("waiting {i}")))
            .await
            .expect("submit");
        assert_eq!(status, 201, "{reply}");
        ids.push(reply["id"].as_str().unwrap_or_default().to_string());
    }
    let host = host
        .restart_with(Some(&router_config(true)))
        .await
        .expect("host restarts with the view enabled");
    host.wait_finished("bp.Error", 30, Duration::from_secs(60))
        .await
        .expect("all routed");
    assert_eq!(host.count("bp.In", "stopped").await.expect("count"), 30);
    for id in &ids {
        let (_, ix) = host.get(id).await.expect("get");
        // 30 when counted at start; a later refresh may count fewer waiting.
        let depth = ix["properties"]["QueueDepthAtRouting"].as_i64();
        assert!(
            depth.is_some_and(|d| (0..=30).contains(&d)),
            "the router knew the depth of its queue: {ix}"
        );
    }
    host.server.shutdown().await;
}
