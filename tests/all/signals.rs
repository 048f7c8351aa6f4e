//! `ixn serve` stopped by the signals docker, systemd and Kubernetes send.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ixn_tests::{ServeProcess, sqlite_count};

/// The one-step business process with both sinks, as a process of its own.
fn serve_config() -> String {
    ixn_tests::serve_config_with_reporting(20)
}

/// Submits from `clients` concurrent clients until the server stops answering;
/// returns the ids it acknowledged (201).
async fn submit_until_refused(base: String, clients: usize) -> BTreeSet<String> {
    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (base, acknowledged) = (base.clone(), acknowledged.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0.. {
                let body = ixn_tests::email(&format!("client {c} message {i}"));
                let Ok(r) = client
                    .post(format!("{base}/v1/interactions"))
                    .json(&body)
                    .send()
                    .await
                else {
                    return; // the server is gone
                };
                if r.status().as_u16() == 201 {
                    let v: serde_json::Value = r.json().await.unwrap_or_default();
                    if let (Some(id), Ok(mut a)) = (v["id"].as_str(), acknowledged.lock()) {
                        a.insert(id.to_string());
                    }
                } else if r.status().as_u16() != 503 {
                    panic!("unexpected answer {}", r.status());
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("a client failed");
    }
    acknowledged.lock().map(|a| a.clone()).unwrap_or_default()
}

/// Issue 6: SIGTERM killed the process at once (exit 143), leaving
/// interactions leased until their lease expired and unwritten events lost.
/// Now SIGTERM under load takes the graceful path: exit 0, no lease left,
/// every acknowledged interaction stored, every event of the run in every sink.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_stops_gracefully_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut serve = ServeProcess::start(dir.path(), &serve_config()).expect("ixn serve starts");
    let load = tokio::spawn(submit_until_refused(serve.base.clone(), 16));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    serve.signal("TERM").expect("kill -TERM");
    let status = tokio::task::block_in_place(|| serve.wait(Duration::from_secs(60)))
        .expect("ixn serve stops");
    let acknowledged = load.await.expect("load");
    let log = serve.log.lock().map(|l| l.join("\n")).unwrap_or_default();
    assert!(status.success(), "exit status {status}\n{log}");
    assert!(
        acknowledged.len() > 50,
        "the load was light: {}",
        acknowledged.len()
    );

    let data = dir.path().join("data");
    let db = data.join("ixn.db");
    assert_eq!(
        sqlite_count(
            &db,
            "SELECT COUNT(*) FROM interactions WHERE lease_owner IS NOT NULL"
        )
        .await
        .expect("count leases"),
        0,
        "no lease left\n{log}"
    );
    let stored = sqlite_count(&db, "SELECT COUNT(*) FROM interactions")
        .await
        .expect("count");
    assert!(
        stored as usize >= acknowledged.len(),
        "{stored} stored, {} acknowledged",
        acknowledged.len()
    );

    let produced: i64 = serve
        .logged("ixn stopped.", "events_produced")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no final line with events_produced\n{log}"));
    assert!(
        produced >= 2 * acknowledged.len() as i64,
        "{produced} events"
    );
    let in_sql = sqlite_count(
        &data.join("reporting.db"),
        "SELECT (SELECT COUNT(*) FROM rpt_interaction) + (SELECT COUNT(*) FROM rpt_agent) \
         + (SELECT COUNT(*) FROM rpt_esp) + (SELECT COUNT(*) FROM rpt_custom)",
    )
    .await
    .expect("count reporting rows");
    let in_file = std::fs::read_to_string(data.join("events.jsonl"))
        .expect("events.jsonl")
        .lines()
        .count() as i64;
    assert_eq!(
        (in_sql, in_file),
        (produced, produced),
        "every event in every sink\n{log}"
    );
}
