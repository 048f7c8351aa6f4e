//! The fault probe's crash run: 20 000 submissions from 32 clients, the
//! server SIGKILLed in the middle and started again, the clients retrying
//! what was not acknowledged. Counted where it should arrive: in the
//! interactions table and in each sink, not at the sender.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use ixn_tests::{ServeProcess, sqlite_count};
use sqlx::{Connection, Row, SqliteConnection, sqlite::SqliteConnectOptions};

const CLIENTS: usize = 32;
const PER_CLIENT: usize = 625; // 20 000 in all
const KILL_AFTER: usize = 6_000;

/// Both sinks, a one-step process that stops every interaction.
fn serve_config() -> String {
    ixn_tests::serve_config_with_reporting(30)
}

/// What the clients saw.
#[derive(Default)]
struct Seen {
    /// external id → interaction id, for every acknowledged submission.
    acknowledged: BTreeMap<String, String>,
    /// External ids of which one attempt got no answer (it may be stored).
    interrupted: BTreeSet<String>,
}

/// One client: submits its keys in order, each until acknowledged, reading
/// the server's address afresh at each attempt (it changes at the restart).
async fn client(
    c: usize,
    base: Arc<RwLock<String>>,
    seen: Arc<Mutex<Seen>>,
    acked: Arc<AtomicUsize>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    for i in 0..PER_CLIENT {
        let key = format!("c{c}-m{i}");
        let mut body = ixn_tests::email(&format!("crash run {key}"));
        body["external_id"] = key.clone().into();
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            assert!(Instant::now() < deadline, "{key} was never acknowledged");
            let url = format!("{}/v1/interactions", base.read().expect("base").clone());
            match http.post(url).json(&body).send().await {
                Ok(r) if r.status().as_u16() == 201 => {
                    let v: serde_json::Value = r.json().await.unwrap_or_default();
                    let id = v["id"].as_str().expect("an id").to_string();
                    seen.lock().expect("seen").acknowledged.insert(key, id);
                    acked.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Ok(r) if r.status().as_u16() == 503 => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(r) => panic!("{key}: unexpected answer {}", r.status()),
                Err(_) => {
                    seen.lock().expect("seen").interrupted.insert(key.clone());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// Issue 6, acceptance: every acknowledged interaction stored and stopped
/// exactly once, every event produced after the restart in each sink.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_run_loses_no_acknowledged_interaction_and_no_later_event() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut serve = ServeProcess::start(dir.path(), &serve_config()).expect("ixn serve starts");
    let base = Arc::new(RwLock::new(serve.base.clone()));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let acked = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| tokio::spawn(client(c, base.clone(), seen.clone(), acked.clone())))
        .collect();

    // Kill it mid-run, as the probe did, and start it again on the same data.
    let start = Instant::now();
    while acked.load(Ordering::Relaxed) < KILL_AFTER {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the load is stuck"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    serve.signal("KILL").expect("kill -KILL");
    tokio::task::block_in_place(|| serve.wait(Duration::from_secs(30))).expect("killed");
    let killed_at = acked.load(Ordering::Relaxed);
    drop(serve);
    let mut serve = ServeProcess::start(dir.path(), &serve_config()).expect("ixn serve restarts");
    *base.write().expect("base") = serve.base.clone();
    for c in clients {
        c.await.expect("a client failed");
    }
    let seen = std::mem::take(&mut *seen.lock().expect("seen"));
    assert_eq!(seen.acknowledged.len(), CLIENTS * PER_CLIENT);
    assert!(
        killed_at < CLIENTS * PER_CLIENT,
        "the kill came after the run"
    );

    // Let the restarted server stop everything, then stop it gracefully.
    let db = dir.path().join("data/ixn.db");
    let start = Instant::now();
    loop {
        let open = sqlite_count(
            &db,
            "SELECT COUNT(*) FROM interactions WHERE stopped_at IS NULL",
        )
        .await
        .expect("count");
        if open == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{open} interactions never stopped"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    serve.signal("TERM").expect("kill -TERM");
    let status =
        tokio::task::block_in_place(|| serve.wait(Duration::from_secs(60))).expect("stops");
    let log = serve.log.lock().map(|l| l.join("\n")).unwrap_or_default();
    assert!(status.success(), "exit status {status}\n{log}");

    // The table: every acknowledged id once, stopped; a key twice only where
    // an attempt was cut off by the kill and retried.
    let mut conn = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&db))
        .await
        .expect("open ixn.db");
    let rows = sqlx::query("SELECT id, external_id, stopped_at, lease_owner FROM interactions")
        .fetch_all(&mut conn)
        .await
        .expect("read interactions");
    let mut by_id = BTreeMap::new();
    let mut per_key: BTreeMap<String, usize> = BTreeMap::new();
    for row in &rows {
        let id: String = row.get("id");
        let key: String = row.get("external_id");
        let stopped: Option<i64> = row.get("stopped_at");
        let owner: Option<String> = row.get("lease_owner");
        assert!(
            stopped.is_some() && owner.is_none(),
            "{id} ({key}) not stopped or still leased"
        );
        *per_key.entry(key.clone()).or_default() += 1;
        by_id.insert(id, key);
    }
    for (key, id) in &seen.acknowledged {
        assert_eq!(
            by_id.get(id),
            Some(key),
            "acknowledged {key} as {id}, not stored"
        );
    }
    for (key, n) in &per_key {
        assert!(
            *n == 1 || seen.interrupted.contains(key),
            "{key} stored {n} times though every attempt was answered"
        );
    }

    // The events: each stop reported once in the file, and every event of
    // the second run in each sink.
    let data = dir.path().join("data");
    let origin = serve
        .logged("ixn stopped.", "origin")
        .unwrap_or_else(|| panic!("no final line with origin\n{log}"));
    let produced: i64 = serve
        .logged("ixn stopped.", "events_produced")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no final line with events_produced\n{log}"));
    let mut stops: BTreeMap<String, usize> = BTreeMap::new();
    let mut in_file = 0;
    let mut seqs = BTreeSet::new();
    for line in std::fs::read_to_string(data.join("events.jsonl"))
        .expect("events.jsonl")
        .lines()
    {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        assert!(
            seqs.insert((v["origin"].to_string(), v["sequence"].as_u64())),
            "an event twice: {line}"
        );
        if v["origin"] == origin.as_str() {
            in_file += 1;
        }
        // No reload happened: every event was produced by generation 1.
        assert_eq!(v["generation"], 1, "{line}");
        if v["event_name"] == "EventProcessingStopped"
            && let Some(id) = v["interaction_id"].as_str()
        {
            *stops.entry(id.to_string()).or_default() += 1;
        }
    }
    eprintln!(
        "crash run: killed after {killed_at} acknowledged, {} attempts cut off, {} rows for {} keys, \
         {produced} events after the restart; restart log: {:?}",
        seen.interrupted.len(),
        rows.len(),
        per_key.len(),
        serve.logged("previous run of this node", "released"),
    );
    let twice: Vec<_> = stops.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stopped more than once: {twice:?}");
    let in_sql = sqlite_count(
        &data.join("reporting.db"),
        &format!(
            "SELECT (SELECT COUNT(*) FROM rpt_interaction WHERE origin = '{origin}') \
             + (SELECT COUNT(*) FROM rpt_agent WHERE origin = '{origin}') \
             + (SELECT COUNT(*) FROM rpt_esp WHERE origin = '{origin}') \
             + (SELECT COUNT(*) FROM rpt_custom WHERE origin = '{origin}')"
        ),
    )
    .await
    .expect("count reporting rows");
    let other_generation = sqlite_count(
        &data.join("reporting.db"),
        "SELECT COUNT(*) FROM rpt_interaction WHERE generation <> 1",
    )
    .await
    .expect("count generations");
    assert_eq!(other_generation, 0, "events of another generation");
    assert!(produced > 0, "the second run produced nothing\n{log}");
    assert_eq!(
        (in_file, in_sql),
        (produced, produced),
        "every event after the restart in every sink"
    );
}
