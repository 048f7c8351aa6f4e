//! Issue 8: `event-filtering` end to end. Loggers with different filters
//! watch the same run; each file is counted by event type against the
//! logger that filters nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use ixn_tests::TestHost;
use serde_json::Value as Json;

/// A jsonl logger writing `${data-dir}/NAME.jsonl` with `filtering` as its
/// `event-filtering` table body.
fn logger(name: &str, filtering: &str) -> String {
    format!(
        r#"
[[event-logger]]
name = "{name}"
  [event-logger.logger-settings]
  delivery-protocol = "jsonl"
  storing-timeout = 500
  [event-logger.sink-settings]
  path = "${{data-dir}}/{name}.jsonl"
  [event-logger.event-filtering]
  {filtering}
"#
    )
}

/// Events in a logger's file, by event name.
fn counts(data: &Path, name: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    let text = std::fs::read_to_string(data.join(format!("{name}.jsonl"))).unwrap_or_default();
    for line in text.lines() {
        let v: Json = serde_json::from_str(line).expect("a JSON line");
        *counts
            .entry(v["event_name"].as_str().expect("event_name").to_string())
            .or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_filter_drops_what_the_seed_says_and_nothing_else() {
    let config = ixn_tests::one_step_config(ixn_bp_artifacts::ROUTER, "")
        + &logger("all", "")
        + &logger("no-queue", "log-queue = false")
        + &logger("no-strategy", "log-strategy = false")
        + &logger(
            "no-agents-no-esp",
            "log-agent-state = false\n  log-agent-activity = false\n  log-esp-service = false",
        )
        + &logger("by-id", "event-filter-by-id = \"155, 156, 159\"")
        + &logger(
            "by-id-no-queue",
            "event-filter-by-id = \"155, 159\"\n  log-queue = false",
        );
    let host = TestHost::start(&config).await.expect("host starts");
    const N: u64 = 40;
    for i in 0..N {
        let (status, _) = host
            .submit(&ixn_tests::email(&format!("filtered {i}")))
            .await
            .expect("submit");
        assert_eq!(status, 201);
    }
    host.wait_finished("bp.Error", N, Duration::from_secs(20))
        .await
        .expect("processed");
    let TestHost { server, dir, .. } = host;
    server.shutdown().await;
    let data = dir.path().join("data");

    let all = counts(&data, "all");
    for kind in [
        "EventInteractionSubmitted",
        "EventPlacedInQueue",
        "EventTakenFromQueue",
        "EventPartyAdded",
        "EventPartyRemoved",
        "EventPropertiesChanged",
    ] {
        assert!(
            all.get(kind).copied().unwrap_or(0) >= N,
            "{kind} in {all:?}"
        );
    }
    // What each logger must not hold; everything else exactly as `all` has it.
    let expect = |name: &str, dropped: &dyn Fn(&str) -> bool| {
        let got = counts(&data, name);
        let want: BTreeMap<String, u64> = all
            .iter()
            .filter(|(kind, _)| !dropped(kind))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        assert_eq!(got, want, "logger `{name}`");
    };
    let queue_events = |k: &str| {
        matches!(
            k,
            "EventPlacedInQueue"
                | "EventTakenFromQueue"
                | "EventPlacedInWorkbin"
                | "EventTakenFromWorkbin"
        )
    };
    expect("no-queue", &queue_events);
    // The router is a strategy: its party events go; nothing else does.
    expect("no-strategy", &|k| {
        matches!(k, "EventPartyAdded" | "EventPartyRemoved")
    });
    // No agent or ESP events in this run: these filters drop nothing of it.
    expect("no-agents-no-esp", &|_| false);
    expect("by-id", &|k| {
        !matches!(
            k,
            "EventInteractionSubmitted" | "EventProcessingStopped" | "EventPlacedInQueue"
        )
    });
    // The id list and an endpoint option together: both apply.
    expect("by-id-no-queue", &|k| k != "EventInteractionSubmitted");
}
