//! Issue 7: a canary version of a component gets its share of the
//! interactions, each interaction pinned to one version for its stay in the
//! view; removing the canary rolls back at once and a new build of the
//! primary takes over, with no call lost — counted in the event sink.
//!
//! The component is `second-look`: it keeps each interaction once and stops
//! it at its second call, so every interaction makes two calls in the view
//! and pinning shows as both calls on one version.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ixn_tests::TestHost;
use ixn_tests::soak::{Write, write_config};
use serde_json::Value as Json;

const INTERACTIONS: u64 = 10_000;

/// The one-step process running `primary`, with `canary` at `percent` if given.
fn config(primary: &Path, canary: Option<(&Path, f64)>) -> String {
    let strategy = format!("component = \"{}\"\n", primary.display());
    let with_canary = match canary {
        Some((c, percent)) => format!(
            "{strategy}canary = {{ component = \"{}\", percent = {percent} }}\n",
            c.display()
        ),
        None => strategy.clone(),
    };
    ixn_tests::one_step_config(&primary.display().to_string(), "")
        .replace(&strategy, &with_canary)
        // Many small batches: more claims, more chances to get pinning wrong.
        .replace("limit = 20", "limit = 50")
}

async fn get(host: &TestHost, path: &str) -> Json {
    host.get_json(path).await.expect("GET")
}

/// Reloads; answers the generation that runs after it.
async fn reload(host: &TestHost) -> u64 {
    let (_, r) = host.post_reload().await.expect("POST /v1/admin/reload");
    r["generation"].as_u64().unwrap_or_else(|| panic!("{r:#}"))
}

/// Submits `n` e-mails from 8 clients; answers their ids.
async fn submit(host: &Arc<TestHost>, n: u64, tag: &str) -> Vec<String> {
    let mut tasks = Vec::new();
    for c in 0..8 {
        let (host, tag) = (host.clone(), tag.to_string());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in (c..n).step_by(8) {
                let (status, body) = host
                    .submit(&ixn_tests::email(&format!("{tag} {i}")))
                    .await
                    .expect("submit");
                assert_eq!(status, 201, "{body}");
                ids.push(body["id"].as_str().expect("an id").to_string());
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.expect("client"));
    }
    ids
}

/// `EventPartyAdded` (a call begins) of each interaction: (version, generation).
fn calls(host: &TestHost) -> BTreeMap<String, Vec<(String, u64)>> {
    let text = std::fs::read_to_string(host.dir.path().join("data/events.jsonl")).expect("events");
    let mut calls: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for line in text.lines() {
        let e: Json = serde_json::from_str(line).expect("a JSON line");
        if e["event_name"] == "EventPartyAdded" {
            calls
                .entry(e["interaction_id"].as_str().expect("an id").to_string())
                .or_default()
                .push((
                    e["fields"]["component_version"]
                        .as_str()
                        .expect("a version")
                        .to_string(),
                    e["generation"].as_u64().expect("a generation"),
                ));
        }
    }
    calls
}

/// `/v1/strategies` figures of strategy `s`'s `version`.
fn version_figures<'a>(strategies: &'a Json, version: &str) -> &'a Json {
    strategies["strategies"]["s"]["versions"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["version"] == version))
        .unwrap_or_else(|| panic!("{version} not listed: {strategies:#}"))
}

/// Acceptance: a 10 % canary gets 10 % ± 2 of 10 000 interactions, each
/// pinned (both calls on one version, and the choice is the interaction's
/// bucket, so a retry after a lease expiry or a restart makes the same
/// one); removing the canary under load rolls back with no call lost; a new
/// build of the primary then decides everything claimed after its reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_gets_its_share_pinned_and_rolls_back_without_losing_a_call() {
    let work = tempfile::tempdir().expect("temp dir");
    let primary = work.path().join("second-look.wasm");
    let canary = work.path().join("second-look-canary.wasm");
    let v0 = ixn_tests::component_version(ixn_bp_artifacts::SECOND_LOOK, 0);
    let v1 = ixn_tests::component_version(ixn_bp_artifacts::SECOND_LOOK, 1);
    let v2 = ixn_tests::component_version(ixn_bp_artifacts::SECOND_LOOK, 2);
    let (h0, h1, h2) = (
        ixn::digest::sha256_hex(&v0),
        ixn::digest::sha256_hex(&v1),
        ixn::digest::sha256_hex(&v2),
    );
    std::fs::write(&primary, &v0).expect("write primary");
    std::fs::write(&canary, &v1).expect("write canary");
    let host = Arc::new(
        TestHost::start(&config(&primary, Some((&canary, 10.0))))
            .await
            .expect("host starts"),
    );
    let c = get(&host, "/v1/config").await;
    assert_eq!(c["canaries"]["s"]["version"], h1.as_str(), "{c:#}");

    // 1. The share, and pinning.
    let ids = submit(&host, INTERACTIONS, "canary").await;
    host.wait_finished("bp.Error", INTERACTIONS, Duration::from_secs(180))
        .await
        .expect("all finished");
    assert_eq!(host.count("bp.Error", "queued").await.expect("count"), 0);
    host.server.bus().flush().await;
    let made = calls(&host);
    let mut on_canary = 0;
    for id in &ids {
        let versions = &made[id];
        assert_eq!(versions.len(), 2, "{id}: two looks, {versions:?}");
        assert_eq!(
            versions[0].0, versions[1].0,
            "{id} changed version: {versions:?}"
        );
        let expected = if ixn::bp::strategy::bucket("work", id) < 1_000 {
            &h1
        } else {
            &h0
        };
        assert_eq!(&versions[0].0, expected, "{id}: not its bucket's version");
        on_canary += u64::from(versions[0].0 == h1);
    }
    // The version that decided is stored on the interaction too.
    for id in ids.iter().take(200) {
        let (status, ix) = host.get(id).await.expect("GET interaction");
        assert_eq!(status, 200, "{ix}");
        assert_eq!(ix["component_version"], made[id][1].0.as_str(), "{ix:#}");
    }
    println!("10 % canary: {on_canary} of {INTERACTIONS} interactions");
    assert!(
        (800..=1_200).contains(&on_canary),
        "{on_canary} of {INTERACTIONS} on the canary"
    );
    let strategies = get(&host, "/v1/strategies").await;
    let (p, k) = (
        version_figures(&strategies, &h0),
        version_figures(&strategies, &h1),
    );
    assert_eq!(p["arm"], "primary", "{strategies:#}");
    assert_eq!(k["arm"], "canary", "{strategies:#}");
    assert_eq!(k["percent"], 10.0, "{strategies:#}");
    assert_eq!(p["calls"]["calls"], 2 * (INTERACTIONS - on_canary));
    assert_eq!(k["calls"]["calls"], 2 * on_canary);
    assert_eq!(k["calls"]["errors"], 0);
    assert_eq!(k["calls"]["traps"], 0);
    assert!(k["calls"]["latency_us"]["p99"].as_u64().is_some(), "{k:#}");

    // 2. Rollback under load, then a new build of the primary.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (host, stop) = (host.clone(), stop.clone());
        tokio::spawn(async move {
            let mut ids = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                ids.extend(submit(&host, 16, "load").await);
            }
            ids
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    write_config(host.dir.path(), Write::Rename, &config(&primary, None)).expect("write");
    let rolled_back = reload(&host).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let tmp = work.path().join("second-look.wasm.tmp");
    std::fs::write(&tmp, &v2).expect("write build");
    std::fs::rename(&tmp, &primary).expect("put build in place");
    let rebuilt = reload(&host).await;
    assert!(rebuilt > rolled_back, "{rolled_back} then {rebuilt}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let more = load.await.expect("load");
    let total = INTERACTIONS + more.len() as u64;
    host.wait_finished("bp.Error", total, Duration::from_secs(120))
        .await
        .expect("all finished");
    assert_eq!(host.count("bp.Error", "queued").await.expect("count"), 0);
    host.server.bus().flush().await;

    // Every call went to the version its generation ran: the canary only
    // before the rollback, v0 only before the new build, v2 from then on.
    let made = calls(&host);
    let mut by_version: BTreeMap<&str, u64> = BTreeMap::new();
    for (id, versions) in &made {
        assert_eq!(
            versions.len(),
            2,
            "{id}: two looks, no call lost: {versions:?}"
        );
        for (version, generation) in versions {
            *by_version.entry(version.as_str()).or_default() += 1;
            let allowed: &[&String] = if *generation >= rebuilt {
                &[&h2]
            } else if *generation >= rolled_back {
                &[&h0]
            } else {
                &[&h0, &h1]
            };
            assert!(
                allowed.contains(&version),
                "{id}: {version} decided in generation {generation} (rollback {rolled_back}, build {rebuilt})"
            );
        }
    }
    assert_eq!(made.len() as u64, total, "every interaction called");
    assert!(
        by_version.get(h2.as_str()).copied().unwrap_or(0) > 0,
        "{by_version:?}"
    );
    println!("calls by version after rollback and build: {by_version:?}");

    // The rolled-back canary is still listed, with what its calls did.
    let strategies = get(&host, "/v1/strategies").await;
    let k = version_figures(&strategies, &h1);
    assert_eq!(k["arm"], Json::Null, "{strategies:#}");
    assert_eq!(
        k["calls"]["calls"],
        by_version[h1.as_str()],
        "{strategies:#}"
    );
    assert_eq!(version_figures(&strategies, &h2)["arm"], "primary");

    let Ok(host) = Arc::try_unwrap(host) else {
        panic!("a client still holds the host")
    };
    host.server.shutdown().await;
}

/// A canary's percent is checked with the rest of the config, and a canary
/// file that is not a component refuses the reload naming the canary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_canary_is_refused() {
    let work = tempfile::tempdir().expect("temp dir");
    let primary = work.path().join("second-look.wasm");
    std::fs::copy(ixn_bp_artifacts::SECOND_LOOK, &primary).expect("copy");
    let host = TestHost::start(&config(&primary, None))
        .await
        .expect("host starts");

    let text = config(&primary, Some((&primary, 150.0)));
    write_config(host.dir.path(), Write::Rename, &text).expect("write");
    let (_, r) = host.post_reload().await.expect("reload");
    let errors = r["rejected"]["errors"].to_string();
    let line = text
        .lines()
        .position(|l| l.contains("canary"))
        .expect("line")
        + 1;
    assert!(
        errors.contains(&format!("ixn.toml:{line}:"))
            && errors.contains("canary percent must be 0 to 100"),
        "{r:#}"
    );

    let broken = work.path().join("broken.wasm");
    std::fs::write(&broken, b"\0asm\x0d\0\x01\0garbage").expect("write");
    write_config(
        host.dir.path(),
        Write::Rename,
        &config(&primary, Some((&broken, 5.0))),
    )
    .expect("write");
    let (_, r) = host.post_reload().await.expect("reload");
    assert!(
        r["rejected"]["errors"]
            .to_string()
            .contains("strategy `s` canary"),
        "{r:#}"
    );
    assert_eq!(get(&host, "/v1/config").await["generation"], 1);
    host.server.shutdown().await;
}
