//! Issue 7: a running host reloads its config — from a saved file however it
//! was written, from `POST /v1/admin/reload` — applies only what changed,
//! refuses a bad config with every reason while the running one stays, and
//! loses no event when a logger's sink is swapped under load.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ixn_tests::TestHost;
use ixn_tests::soak::{Write, write_config};
use serde_json::Value as Json;
use sqlx::Connection;

/// The one-step process with `component` and the lookup table `router` reads.
fn config_with(component: &str) -> String {
    ixn_tests::one_step_config(component, "")
        + "\n[lookup-table.vip-senders]\n\"ceo@bigcustomer.example\" = \"gold\"\n"
}

/// The one-step process with `router` (it stops every interaction).
fn config() -> String {
    config_with(ixn_bp_artifacts::ROUTER)
}

async fn get_config(host: &TestHost) -> Json {
    host.get_json("/v1/config").await.expect("GET /v1/config")
}

/// Polls `GET /v1/config` until `done` holds (10 s at most).
async fn wait_config(host: &TestHost, what: &str, done: impl Fn(&Json) -> bool) -> Json {
    let start = Instant::now();
    loop {
        let c = get_config(host).await;
        if done(&c) {
            return c;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "waited 10 s for {what}: {c:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn reload(host: &TestHost) -> (u16, Json) {
    host.post_reload().await.expect("POST /v1/admin/reload")
}

/// Acceptance: adding a queue by saving the file yields a new generation that
/// `/v1/queues` lists; an invalid edit leaves the generation as it was and
/// shows its position in `last_rejected`. Each write pattern is exercised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saving_the_file_reloads_however_it_is_written() {
    let watched = || config().replace("watch-files = false", "watch-files = true");
    let host = TestHost::start(&watched()).await.expect("host starts");
    let dir = host.dir.path().to_path_buf();
    let first = get_config(&host).await;
    assert_eq!(first["generation"], 1, "{first:#}");
    assert!(first["last_rejected"].is_null(), "{first:#}");
    let mut text = watched();
    for (i, how) in [
        Write::InPlace,
        Write::Rename,
        Write::SymlinkSwap,
        Write::SymlinkSwap,
    ]
    .into_iter()
    .enumerate()
    {
        let queue = format!("bp.Added{i}");
        text = text.replace(
            "  [[business-process.queue]]\n  name = \"bp.Error\"",
            &format!("  [[business-process.queue]]\n  name = \"{queue}\"\n  [[business-process.queue]]\n  name = \"bp.Error\""),
        );
        write_config(&dir, how, &text).expect("write the config");
        let generation = i as u64 + 2;
        let c = wait_config(
            &host,
            &format!("generation {generation} after {how:?}"),
            // `last_applied` is recorded just after the swap.
            |c| c["generation"] == generation && c["last_applied"]["generation"] == generation,
        )
        .await;
        let hash = ixn::digest::sha256_hex(text.as_bytes());
        assert_eq!(c["hash"], hash.as_str(), "{how:?}: {c:#}");
        // What the watch applied is shown: an operator's own reload would
        // have found nothing left to apply.
        let applied = &c["last_applied"];
        assert_eq!(applied["generation"], generation, "{c:#}");
        assert_eq!(applied["trigger"], "file change", "{c:#}");
        assert!(
            applied["changes"]
                .to_string()
                .contains(&format!("Queue `{queue}` added.")),
            "{c:#}"
        );
        let queues = host.queues().await.expect("GET /v1/queues");
        assert!(
            queues.iter().any(|q| q["queue"] == queue.as_str()),
            "{how:?}: {queue} not listed: {queues:#?}"
        );
    }

    // An invalid edit: the running generation stays, the error has its place.
    let applied = get_config(&host).await;
    let broken = text.replace("limit = 20", "limit = \"lots\"");
    write_config(&dir, Write::Rename, &broken).expect("write the config");
    let c = wait_config(&host, "the invalid edit in last_rejected", |c| {
        !c["last_rejected"].is_null()
    })
    .await;
    assert_eq!(c["generation"], applied["generation"], "{c:#}");
    assert_eq!(c["hash"], applied["hash"], "{c:#}");
    let errors = c["last_rejected"]["errors"].to_string();
    let line = broken
        .lines()
        .position(|l| l.contains("\"lots\""))
        .expect("the broken line")
        + 1;
    assert!(
        errors.contains(&format!("ixn.toml:{line}:")) && errors.contains("`limit`"),
        "the error names file:line and the key: {c:#}"
    );
    assert_eq!(c["last_rejected"]["trigger"], "file change", "{c:#}");

    // Processing went on under the running generation.
    let (status, _) = host
        .submit(&ixn_tests::email("after the rejection"))
        .await
        .expect("submit");
    assert_eq!(status, 201);
    host.wait_finished("bp.Error", 1, Duration::from_secs(10))
        .await
        .expect("processed by the running config");

    // `watch-files = false`, saved, applies; from then on a saved change
    // waits for an explicit reload, and `watch-files = true` applied that
    // way turns the watch back on.
    let generation = applied["generation"].as_u64().expect("generation");
    let unwatched = text.replace("watch-files = true", "watch-files = false");
    write_config(&dir, Write::Rename, &unwatched).expect("write the config");
    wait_config(&host, "watch-files = false applied", |c| {
        c["generation"] == generation + 1
    })
    .await;
    let held = unwatched.replace(
        "  [[business-process.queue]]\n  name = \"bp.Error\"",
        "  [[business-process.queue]]\n  name = \"bp.Held\"\n  [[business-process.queue]]\n  name = \"bp.Error\"",
    );
    write_config(&dir, Write::InPlace, &held).expect("write the config");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        get_config(&host).await["generation"],
        generation + 1,
        "a saved file does not reload with the watch off"
    );
    let (status, answer) = reload(&host).await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(answer["changes"][0], "Queue `bp.Held` added.", "{answer:#}");
    assert_eq!(
        get_config(&host).await["last_applied"]["trigger"],
        "POST /v1/admin/reload"
    );
    let rewatched = held.replace("watch-files = false", "watch-files = true");
    write_config(&dir, Write::InPlace, &rewatched).expect("write the config");
    let (status, answer) = reload(&host).await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(
        answer["changes"][0], "[server] changed: watch-files.",
        "{answer:#}"
    );
    write_config(&dir, Write::Rename, &text).expect("write the config");
    wait_config(&host, "the watch back on", |c| {
        c["generation"] == generation + 4
    })
    .await;
    host.server.shutdown().await;
}

/// What only a restart can change is refused naming the key; a queue that
/// still holds interactions cannot be removed; the running config stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_that_would_need_a_restart_or_strand_work_are_refused() {
    // The view is disabled so that what is submitted stays queued.
    let text = config().replace("concurrency = 2", "concurrency = 2\n    enabled = false");
    let host = TestHost::start(&text).await.expect("host starts");
    let dir = host.dir.path().to_path_buf();

    std::fs::write(
        dir.join("ixn.toml"),
        text.replace("[server]", "[server]\nnode-id = \"other\""),
    )
    .expect("write");
    let (status, answer) = reload(&host).await;
    assert_eq!(status, 422, "{answer:#}");
    let errors = answer["rejected"]["errors"].to_string();
    assert!(
        errors.contains("node-id") && errors.contains("needs a restart"),
        "{answer:#}"
    );

    for i in 0..3 {
        let (status, _) = host
            .submit(&ixn_tests::email(&format!("waiting {i}")))
            .await
            .expect("submit");
        assert_eq!(status, 201);
    }
    // bp.In removed, bp.New takes its place as the entry queue.
    let moved = text
        .replace("entry-queue = \"bp.In\"", "entry-queue = \"bp.New\"")
        .replace("name = \"bp.In\"", "name = \"bp.New\"");
    std::fs::write(dir.join("ixn.toml"), &moved).expect("write");
    let (status, answer) = reload(&host).await;
    assert_eq!(status, 422, "{answer:#}");
    let errors = answer["rejected"]["errors"].to_string();
    assert!(
        errors.contains("`bp.In`") && errors.contains("holds 3 interaction"),
        "{answer:#}"
    );
    let c = get_config(&host).await;
    assert_eq!(c["generation"], 1, "{c:#}");
    assert_eq!(host.count("bp.In", "queued").await.expect("count"), 3);

    // Writing back what runs changes nothing.
    std::fs::write(dir.join("ixn.toml"), &text).expect("write");
    let (status, answer) = reload(&host).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("unchanged")),
        "{answer:#}"
    );

    // A queue may replace one that is still configured: refused, naming both.
    let both = text.replace(
        "name = \"bp.Error\"",
        "name = \"bp.Error\"\n  replaces = [\"bp.In\"]",
    );
    std::fs::write(dir.join("ixn.toml"), &both).expect("write");
    let (status, answer) = reload(&host).await;
    assert_eq!(status, 422, "{answer:#}");
    assert!(
        answer["rejected"]["errors"]
            .to_string()
            .contains("queue `bp.Error` replaces `bp.In`, which is still configured"),
        "{answer:#}"
    );

    // The new config says where they go: applied, and they are there when the reload answers.
    let replaced = moved.replace(
        "name = \"bp.New\"",
        "name = \"bp.New\"\n  replaces = [\"bp.In\"]",
    );
    std::fs::write(dir.join("ixn.toml"), &replaced).expect("write");
    let (status, answer) = reload(&host).await;
    assert_eq!(status, 200, "{answer:#}");
    let changes = answer["changes"].to_string();
    assert!(
        changes.contains("Queue `bp.In` removed.") && changes.contains("Queue `bp.New` added."),
        "{answer:#}"
    );
    assert_eq!(host.count("bp.New", "queued").await.expect("count"), 3);
    assert_eq!(host.count("bp.In", "queued").await.unwrap_or(0), 0);
    host.server.shutdown().await;
}

/// A view is disabled, changed and enabled again live; the interactions
/// that waited meanwhile are processed, each once, and the other view kept
/// pulling throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_change_live() {
    let text = config();
    let host = TestHost::start(&text).await.expect("host starts");
    let dir = host.dir.path().to_path_buf();

    let disabled = text.replace("concurrency = 2", "concurrency = 2\n    enabled = false");
    std::fs::write(dir.join("ixn.toml"), &disabled).expect("write");
    let (status, answer) = reload(&host).await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(
        answer["changes"][0], "View `work` changed: enabled.",
        "{answer:#}"
    );
    for i in 0..20 {
        let (status, _) = host
            .submit(&ixn_tests::email(&format!("held {i}")))
            .await
            .expect("submit");
        assert_eq!(status, 201);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        host.count("bp.In", "queued").await.expect("count"),
        20,
        "a disabled view pulls nothing"
    );

    let changed = text
        .replace("limit = 20", "limit = 3")
        .replace("concurrency = 2", "concurrency = 1");
    std::fs::write(dir.join("ixn.toml"), &changed).expect("write");
    let (status, answer) = reload(&host).await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(
        answer["changes"][0], "View `work` changed: limit, concurrency, enabled.",
        "{answer:#}"
    );
    assert_eq!(answer["generation"], 3);
    host.wait_finished("bp.Error", 20, Duration::from_secs(10))
        .await
        .expect("all processed after the view came back");
    let (_, health) = host.health().await.expect("health");
    let work = &health["views"][0];
    assert_eq!(
        work["claimed"], 20,
        "each interaction claimed once: {health:#}"
    );
    assert_eq!(work["decided"], 20, "{health:#}");
    host.server.shutdown().await;
}

/// A component file rebuilt at the same path is a new version: a reload
/// loads it, later decisions carry its hash, and a file that is not a
/// component is refused while the running version keeps deciding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_component_version_is_loaded_and_a_broken_one_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let component = dir.path().join("strategy.wasm");
    std::fs::copy(ixn_bp_artifacts::HOSTILE_ERR, &component).expect("copy hostile-err");
    let text = config_with(&component.display().to_string());
    let host = TestHost::start(&text).await.expect("host starts");
    let old_version = get_config(&host).await["components"]["s"].clone();

    // A broken build: refused, the old version stays.
    std::fs::write(&component, b"\0asm\x0d\0\x01\0garbage").expect("write garbage");
    let (status, answer) = reload(&host).await;
    assert_eq!(status, 422, "{answer:#}");
    assert!(
        answer["rejected"]["errors"]
            .to_string()
            .contains("strategy `s`"),
        "{answer:#}"
    );
    assert_eq!(get_config(&host).await["components"]["s"], old_version);

    std::fs::copy(ixn_bp_artifacts::ROUTER, &component).expect("copy router");
    let (status, answer) = reload(&host).await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(
        answer["changes"][0], "Strategy `s` changed: component version.",
        "{answer:#}"
    );
    let new_version = get_config(&host).await["components"]["s"].clone();
    assert_ne!(new_version, old_version);
    assert_eq!(
        new_version.as_str(),
        Some(
            ixn::digest::sha256_hex(&std::fs::read(ixn_bp_artifacts::ROUTER).expect("read"))
                .as_str()
        )
    );

    for i in 0..10 {
        host.submit(&ixn_tests::email(&format!("after {i}")))
            .await
            .expect("submit");
    }
    host.wait_finished("bp.Error", 10, Duration::from_secs(10))
        .await
        .expect("processed");
    // Router stops interactions; hostile-err would have sent them to bp.Error.
    assert_eq!(host.count("bp.Error", "queued").await.expect("count"), 0);
    host.server.bus().flush().await;
    let events =
        std::fs::read_to_string(host.dir.path().join("data/events.jsonl")).expect("events");
    let decided: Vec<Json> = events
        .lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .filter(|e| e["event_name"] == "EventPartyRemoved")
        .collect();
    assert_eq!(decided.len(), 10, "one decision each");
    for e in &decided {
        assert_eq!(e["fields"]["component_version"], new_version, "{e}");
        assert_eq!(e["generation"], 2, "{e}");
    }
    host.server.shutdown().await;
}

/// Clients submitting e-mails without pause until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    clients: Vec<tokio::task::JoinHandle<u64>>,
}

impl Load {
    fn start(host: &Arc<TestHost>, clients: u32) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let clients = (0..clients)
            .map(|c| {
                let (host, stop) = (host.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let (status, _) = host
                            .submit(&ixn_tests::email(&format!("{c}/{n}")))
                            .await
                            .expect("submit");
                        assert_eq!(status, 201);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        Load { stop, clients }
    }

    /// Stops the clients; how many they submitted.
    async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let mut submitted = 0;
        for c in self.clients {
            submitted += c.await.expect("a client");
        }
        submitted
    }
}

/// Waits until every submitted interaction finished, shuts the host down and
/// answers its events' origin, how many it produced and its directory (kept
/// until the caller drops it; the data is in `data/`).
async fn finish(host: Arc<TestHost>, submitted: u64) -> (String, u64, tempfile::TempDir) {
    host.wait_finished("bp.Error", submitted, Duration::from_secs(30))
        .await
        .expect("all processed");
    let Ok(host) = Arc::try_unwrap(host) else {
        panic!("the clients still hold the host");
    };
    // Counted after the shutdown: the last batch's events may be emitted
    // after its decisions are stored, which is what `wait_finished` sees.
    let TestHost { server, dir, .. } = host;
    let bus = server.bus().clone();
    server.shutdown().await;
    (bus.origin().to_string(), bus.produced(), dir)
}

/// Sequences of `origin` in `events.jsonl`.
fn jsonl_sequences(data: &Path, origin: &str) -> Vec<u64> {
    let mut in_file = Vec::new();
    for line in std::fs::read_to_string(data.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
    {
        let v: Json = serde_json::from_str(line).expect("a JSON line");
        if v["origin"] == origin {
            in_file.push(v["sequence"].as_u64().expect("a sequence"));
        }
    }
    in_file
}

/// Sequences of `origin` in the jsonl file and in the sql sink's tables.
async fn sequences(data: &Path, origin: &str) -> (Vec<u64>, Vec<u64>) {
    let in_file = jsonl_sequences(data, origin);
    let mut conn = sqlx::SqliteConnection::connect(&format!(
        "sqlite://{}",
        data.join("reporting.db").display()
    ))
    .await
    .expect("open reporting.db");
    let in_sql: Vec<i64> = sqlx::query_scalar(
        "SELECT sequence FROM rpt_interaction WHERE origin = ?1 UNION ALL \
         SELECT sequence FROM rpt_agent WHERE origin = ?1 UNION ALL \
         SELECT sequence FROM rpt_esp WHERE origin = ?1 UNION ALL \
         SELECT sequence FROM rpt_custom WHERE origin = ?1",
    )
    .bind(origin)
    .fetch_all(&mut conn)
    .await
    .expect("read the sequences");
    (in_file, in_sql.into_iter().map(|s| s as u64).collect())
}

/// A logger's sink swapped for another plugin under continuous submission:
/// the old sink is drained first, and every event of the run is in exactly
/// one of the two — none lost, none twice (counted in the sinks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_swapped_under_load_gets_every_event_exactly_once() {
    let text = config();
    let host = Arc::new(TestHost::start(&text).await.expect("host starts"));
    let load = Load::start(&host, 4);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let swapped = text.replace(
        "  delivery-protocol = \"jsonl\"\n  storing-timeout = 500\n  [event-logger.sink-settings]\n  path = \"${data-dir}/events.jsonl\"",
        "  delivery-protocol = \"event-log\"\n  storing-timeout = 500\n  [event-logger.sink-settings]\n  path = \"${data-dir}/reporting.db\"\n  delete-on-stop = false",
    );
    assert_ne!(swapped, text, "the logger section was found");
    std::fs::write(host.dir.path().join("ixn.toml"), &swapped).expect("write");
    let (status, answer) = reload(&host).await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(
        answer["changes"][0], "Event logger `file` changed: sink, sink-settings.",
        "{answer:#}"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    let submitted = load.stop().await;
    let (origin, produced, dir) = finish(host, submitted).await;
    let data = dir.path().join("data");

    let (in_file, in_sql) = sequences(&data, &origin).await;
    assert!(
        !in_file.is_empty() && !in_sql.is_empty(),
        "both sinks got events: {} / {}",
        in_file.len(),
        in_sql.len()
    );
    let all: BTreeSet<u64> = in_file.iter().chain(&in_sql).copied().collect();
    assert_eq!(
        in_file.len() + in_sql.len(),
        all.len(),
        "an event in both sinks or twice in one"
    );
    assert_eq!(
        all.len() as u64,
        produced,
        "every event in one of the sinks"
    );
    assert_eq!(
        all.last().copied(),
        Some(produced),
        "sequences 1..=produced"
    );
    eprintln!(
        "sink swap under load: {submitted} submitted, {produced} events: {} in the old sink, {} in the new",
        in_file.len(),
        in_sql.len()
    );
}

/// A sink plugin `.so` rebuilt at the same path under continuous
/// submission: the reload loads the new build from its own content-addressed
/// copy (a `dlopen` of the same path would answer the library it already has)
/// and swaps the logger like a changed one; the old build stays mapped until
/// its last write. Every event of the run is in the file exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_plugin_rebuilt_at_the_same_path_is_loaded_as_a_new_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let so = dir.path().join("sink.so");
    let build = std::fs::read(ixn_tests::plugin_so("ixn-sink-jsonl").expect("the jsonl .so"))
        .expect("read the .so");
    std::fs::write(&so, &build).expect("copy the .so");
    let text = config().replace(
        "  delivery-protocol = \"jsonl\"\n",
        &format!(
            "  delivery-protocol = \"jsonl\"\n  plugin = \"{}\"\n",
            so.display()
        ),
    );
    assert!(text.contains("sink.so"), "the logger section was found");
    let host = Arc::new(TestHost::start(&text).await.expect("host starts"));
    let loaded_copies = || {
        let maps = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
        maps.lines()
            .filter(|l| l.contains("/ixn-plugins/"))
            .map(|l| l.rsplit('/').next().unwrap_or_default().to_string())
            .collect::<BTreeSet<String>>()
    };
    let before = loaded_copies();
    let load = Load::start(&host, 2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A new build: the same code with other bytes (data after the ELF
    // sections, which the loader ignores), written over the file in place.
    let mut rebuilt = build.clone();
    rebuilt.extend_from_slice(b"ixn-test: another build of the same sink");
    std::fs::write(&so, &rebuilt).expect("rebuild the .so");
    let (status, answer) = reload(&host).await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(
        answer["changes"][0], "Event logger `file` changed: plugin file.",
        "{answer:#}"
    );
    let copy_of = |bytes: &[u8]| {
        use sha2::Digest;
        let hash: String = sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{hash}.so")
    };
    let after = loaded_copies();
    assert!(
        !before.contains(&copy_of(&rebuilt)) && after.contains(&copy_of(&rebuilt)),
        "the new build is loaded from its own copy: {before:?} -> {after:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let submitted = load.stop().await;
    // Saved again with the same bytes: nothing to reload.
    std::fs::write(&so, &rebuilt).expect("write the same build");
    let (status, answer) = reload(&host).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("unchanged")),
        "{answer:#}"
    );
    let (origin, produced, dir) = finish(host, submitted).await;
    let data = dir.path().join("data");

    let in_file = jsonl_sequences(&data, &origin);
    let all: BTreeSet<u64> = in_file.iter().copied().collect();
    assert_eq!(in_file.len(), all.len(), "an event written twice");
    assert_eq!(all.len() as u64, produced, "every event written");
    assert_eq!(
        all.last().copied(),
        Some(produced),
        "sequences 1..=produced"
    );
}

/// A storage plugin `.so` rebuilt under a running host cannot be taken
/// live (storage is opened once per process): the reload is refused, saying
/// it needs a restart, and the running storage keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuilt_storage_plugin_needs_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let so = dir.path().join("storage.so");
    let build = std::fs::read(ixn_tests::plugin_so("ixn-storage-sqlite").expect("the sqlite .so"))
        .expect("read the .so");
    std::fs::write(&so, &build).expect("copy the .so");
    let text = config().replace(
        "plugin = \"sqlite\"",
        &format!("plugin = \"{}\"", so.display()),
    );
    assert!(text.contains("storage.so"), "the storage section was found");
    let host = TestHost::start(&text).await.expect("host starts");

    let mut rebuilt = build;
    rebuilt.extend_from_slice(b"ixn-test: another build of the storage");
    std::fs::write(&so, &rebuilt).expect("rebuild the .so");
    let (status, answer) = reload(&host).await;
    assert_eq!(status, 422, "{answer:#}");
    assert!(
        answer["rejected"]["errors"]
            .to_string()
            .contains("[storage] changed: plugin file; this needs a restart."),
        "{answer:#}"
    );
    assert_eq!(get_config(&host).await["generation"], 1);
    let (status, _) = host
        .submit(&ixn_tests::email("still stored"))
        .await
        .expect("submit");
    assert_eq!(status, 201);
    host.wait_finished("bp.Error", 1, Duration::from_secs(10))
        .await
        .expect("processed");
    host.server.shutdown().await;
}

/// A lookup table changed live: the next call sees the new entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_tables_change_live() {
    let text = config();
    let host = TestHost::start(&text).await.expect("host starts");
    let from_boss = |subject: &str| {
        serde_json::json!({
            "media_type": "email",
            "properties": { "Subject": subject, "FromAddress": "boss@example.com" }
        })
    };
    let segment = |id: String| {
        let host = &host;
        async move {
            let (_, ix) = host.get(&id).await.expect("GET the interaction");
            ix["properties"]["Segment"].clone()
        }
    };
    let (_, before) = host.submit(&from_boss("before")).await.expect("submit");
    host.wait_finished("bp.Error", 1, Duration::from_secs(10))
        .await
        .expect("processed");
    assert_eq!(
        segment(before["id"].as_str().expect("id").into()).await,
        "standard"
    );

    let vip = text.replace(
        "\"ceo@bigcustomer.example\" = \"gold\"",
        "\"ceo@bigcustomer.example\" = \"gold\"\n\"boss@example.com\" = \"platinum\"",
    );
    std::fs::write(host.dir.path().join("ixn.toml"), vip).expect("write");
    let (status, answer) = reload(&host).await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(
        answer["changes"][0],
        "Lookup table `vip-senders` changed: entries."
    );
    let (_, after) = host.submit(&from_boss("after")).await.expect("submit");
    host.wait_finished("bp.Error", 2, Duration::from_secs(10))
        .await
        .expect("processed");
    assert_eq!(
        segment(after["id"].as_str().expect("id").into()).await,
        "platinum"
    );
    assert_eq!(host.count("bp.Error", "queued").await.expect("count"), 0);
    host.server.shutdown().await;
}

/// Custom fields change live: a new one gets its column and index at once
/// (new values go there, older ones wait in the blob for `ixn convert-fields`
/// and reads still show them); removing or re-typing one whose column holds
/// values is refused, naming the way through; `to-delete` sends new values
/// to the blob.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_fields_change_live() {
    let text = config().replace("concurrency = 2", "concurrency = 2\n    enabled = false");
    let host = TestHost::start(&text).await.expect("host starts");
    let db = host.dir.path().join("data/ixn.db");
    let write = |fields: &str| {
        std::fs::write(
            host.dir.path().join("ixn.toml"),
            format!("{text}\n[custom-fields]\n{fields}\n"),
        )
        .expect("write")
    };
    let submit = |subject: &'static str| {
        let host = &host;
        async move {
            let mut body = ixn_tests::email(subject);
            body["properties"]["Region"] = "north".into();
            let (status, answer) = host.submit(&body).await.expect("submit");
            assert_eq!(status, 201, "{answer:#}");
            answer["id"].as_str().expect("id").to_string()
        }
    };
    let in_column = || {
        let db = db.clone();
        async move {
            ixn_tests::sqlite_count(
                &db,
                "SELECT COUNT(*) FROM interactions WHERE region IS NOT NULL",
            )
            .await
            .expect("count")
        }
    };
    let old = submit("before the field").await;

    write("Region = { column = \"region\", type = \"string(8)\" }");
    let (status, answer) = reload(&host).await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(
        answer["changes"][0], "Custom field `Region` added.",
        "{answer:#}"
    );
    let indexed = ixn_tests::sqlite_count(
        &db,
        "SELECT COUNT(*) FROM sqlite_master WHERE name = 'interactions_cf_region'",
    )
    .await
    .expect("count");
    assert_eq!(indexed, 1, "the new column is indexed");
    assert_eq!(in_column().await, 0, "older values wait for convert-fields");
    submit("after the field").await;
    assert_eq!(in_column().await, 1, "a new value goes to the column");
    let (_, ix) = host.get(&old).await.expect("GET");
    assert_eq!(ix["properties"]["Region"], "north", "{ix:#}");

    for (fields, needle) in [
        ("", "mark it `to-delete = true`, run `ixn convert-fields`"),
        (
            "Region = { column = \"region\", type = \"integer\" }",
            "cannot become integer",
        ),
    ] {
        write(fields);
        let (status, answer) = reload(&host).await;
        assert_eq!(status, 422, "{answer:#}");
        let errors = answer["rejected"]["errors"].to_string();
        assert!(errors.contains(needle), "{answer:#}");
        assert_eq!(get_config(&host).await["generation"], 2);
    }

    write("Region = { column = \"region\", type = \"string(8)\", to-delete = true }");
    let (status, answer) = reload(&host).await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(
        answer["changes"][0], "Custom field `Region` changed: to-delete.",
        "{answer:#}"
    );
    let last = submit("to be deleted").await;
    assert_eq!(
        in_column().await,
        1,
        "a to-delete field's new value goes to the blob"
    );
    let (_, ix) = host.get(&last).await.expect("GET");
    assert_eq!(ix["properties"]["Region"], "north", "{ix:#}");
    host.server.shutdown().await;
}

/// The shipped config under `ixn serve` as its own process: saving it with a
/// new queue yields a new generation that `/v1/queues` lists; SIGHUP takes
/// the same path; `ixn reload` prints a refused edit's errors and exits 1
/// while the running generation stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ixn_serve_reloads_the_shipped_config() {
    let repo = ixn_tests::repo_root();
    let shipped = std::fs::read_to_string(repo.join("config/ixn.toml")).expect("config/ixn.toml");
    let text = shipped
        .replace("data-dir = \"../target/ixn-data\"", "data-dir = \"data\"")
        .replace(
            "\"../target/bp-components/wasm32-wasip2/release/classifier.wasm\"",
            &format!("{:?}", ixn_bp_artifacts::CLASSIFIER),
        )
        .replace(
            "\"../target/bp-components/wasm32-wasip2/release/router.wasm\"",
            &format!("{:?}", ixn_bp_artifacts::ROUTER),
        )
        .replace("listen = \"127.0.0.1:7480\"", "listen = \"127.0.0.1:0\"");
    assert!(
        text.contains("data-dir = \"data\"")
            && text.contains("127.0.0.1:0")
            && !text.contains("../target"),
        "the shipped config changed shape"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let serve = ixn_tests::ServeProcess::start(dir.path(), &text).expect("ixn serve starts");
    let client = reqwest::Client::new();
    let get = |path: &'static str| {
        let (client, base) = (client.clone(), serve.base.clone());
        async move {
            client
                .get(format!("{base}{path}"))
                .send()
                .await
                .expect("GET")
                .json::<Json>()
                .await
                .expect("JSON")
        }
    };
    assert_eq!(get("/v1/config").await["generation"], 1);

    let added = text.replace(
        "  [[business-process.queue]]\n  name = \"email.Billing\"",
        "  [[business-process.queue]]\n  name = \"email.Escalations\"\n  [[business-process.queue]]\n  name = \"email.Billing\"",
    );
    assert_ne!(added, text);
    std::fs::write(dir.path().join("ixn.toml"), &added).expect("write");
    let start = Instant::now();
    loop {
        let q = get("/v1/queues").await;
        if q["generation"] == 2 {
            assert!(
                q["queues"]
                    .as_array()
                    .expect("rows")
                    .iter()
                    .any(|r| r["queue"] == "email.Escalations"),
                "{q:#}"
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no generation 2: {q:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    serve.signal("HUP").expect("kill -HUP");
    let start = Instant::now();
    while serve
        .logged("Reload: the files hold what runs", "trigger")
        .as_deref()
        != Some("SIGHUP")
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "SIGHUP did not reload: {:#?}",
            serve.log.lock().map(|l| l.clone())
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let broken = added.replace("limit = 200", "limit = -1");
    std::fs::write(dir.path().join("ixn.toml"), &broken).expect("write");
    let reload = std::process::Command::new(ixn_tests::profile_dir().join("ixn"))
        .args(["reload", "--url", &serve.base])
        .output()
        .expect("ixn reload runs");
    let stderr = String::from_utf8_lossy(&reload.stderr);
    assert_eq!(reload.status.code(), Some(1), "{stderr}");
    let line = broken
        .lines()
        .position(|l| l.contains("limit = -1"))
        .expect("the line")
        + 1;
    assert!(stderr.contains(&format!("ixn.toml:{line}:")), "{stderr}");
    let c = get("/v1/config").await;
    assert_eq!(c["generation"], 2, "{c:#}");
    assert!(!c["last_rejected"].is_null(), "{c:#}");

    // `[server] listen` moves live: a port in use is refused, a free one is
    // taken and the old one closed.
    let post_reload = |base: String| {
        let client = client.clone();
        async move {
            let r = client
                .post(format!("{base}/v1/admin/reload"))
                .send()
                .await
                .expect("POST /v1/admin/reload");
            (r.status().as_u16(), r.json::<Json>().await.expect("JSON"))
        }
    };
    // The watch is turned off first: it would move the API before the POST
    // that is to say so. Whether the watch or the POST applies this, it is
    // applied once.
    let unwatched = added.replace(
        "listen = \"127.0.0.1:0\"",
        "listen = \"127.0.0.1:0\"\nwatch-files = false",
    );
    std::fs::write(dir.path().join("ixn.toml"), &unwatched).expect("write");
    let (status, answer) = post_reload(serve.base.clone()).await;
    assert_eq!(status, 200, "{answer:#}");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy = taken.local_addr().expect("addr");
    let to = |addr: std::net::SocketAddr| {
        unwatched.replace("listen = \"127.0.0.1:0\"", &format!("listen = \"{addr}\""))
    };
    std::fs::write(dir.path().join("ixn.toml"), to(busy)).expect("write");
    let (status, answer) = post_reload(serve.base.clone()).await;
    assert_eq!(status, 422, "{answer:#}");
    assert!(
        answer["rejected"]["errors"]
            .to_string()
            .contains("cannot bind"),
        "{answer:#}"
    );
    let free = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    std::fs::write(dir.path().join("ixn.toml"), to(free)).expect("write");
    let (status, answer) = post_reload(serve.base.clone()).await;
    assert_eq!(status, 200, "{answer:#}");
    let moved: Json = client
        .get(format!("http://{free}/v1/config"))
        .send()
        .await
        .expect("the new address answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(moved["generation"], answer["generation"], "{moved:#}");
    // A new connection: one kept alive from before may finish its requests.
    assert!(
        reqwest::Client::new()
            .get(format!("{}/health", serve.base))
            .send()
            .await
            .is_err(),
        "the old address still answers"
    );
    drop(taken);
}

/// Acceptance soak, bounded: 100 changes by the three write patterns, of 12
/// kinds (view limit, check-interval and concurrency, lookup table, queues
/// added and removed, logger file and batch-size, strategy config, a new
/// component build, a custom field added, a canary added/changed/removed, a
/// new build of the sink `.so`; `[server] listen` moves the clients'
/// address and is tested on its own) and 10 invalid ones under continuous
/// submission; every
/// interaction finishes once, every event is in exactly one sink file, every
/// invalid change is refused with its position. Figures:
/// `cargo bench -p ixn-tests --bench reload`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_of_100_changes_loses_nothing() {
    let f = ixn_tests::soak::run(100, 2).await.expect("the soak holds");
    assert_eq!((f.applied, f.rejected), (100, 10));
    eprintln!(
        "reload soak: {} applied, {} rejected, {} interactions, {} events; change to applied p50 {:?} p99 {:?} max {:?}",
        f.applied,
        f.rejected,
        f.submitted,
        f.events,
        f.quantile(0.5),
        f.quantile(0.99),
        f.quantile(1.0)
    );
}
