//! Issue 7 §4: `ixn convert-fields`, the seed's "Converting to and From
//! BLOB". 100 000 stored interactions are converted into custom-field columns
//! and back again, each way killed with SIGKILL at five random points and
//! resumed; then every record is compared with what it must hold.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ixn_plugin_api::storage::{NewInteraction, OpenSettings, Property, Value};
use serde_json::Value as Json;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, Row, SqliteConnection};

const RECORDS: usize = 100_000;
/// Small bulks, so a run lasts long enough to be killed at many points.
const KILL_BULK: &str = "25";

/// Every tenth record's `Region` is longer than its `string(8)` column: it
/// must stay in the blob.
fn region(i: usize) -> String {
    if i.is_multiple_of(10) {
        format!("far-away-region-{i}")
    } else {
        format!("r{}", i % 7)
    }
}

fn id(i: usize) -> String {
    format!("ix-{i:06}")
}

/// The one-step config for `ixn convert-fields`, with `fields` as its
/// `[custom-fields]` body; data in `dir/data`.
fn config(fields: &str) -> String {
    ixn_tests::one_step_config(ixn_bp_artifacts::ROUTER, "")
        .replace("[server]", "[server]\ndata-dir = \"data\"")
        + "\n[custom-fields]\n"
        + fields
}

const TO_COLUMNS: &str = "Region = { column = \"region\", type = \"string(8)\" }\n\
                          Score = { column = \"score\", type = \"integer\" }\n";
const REGION_BACK: &str = "Region = { column = \"region\", type = \"string(8)\", to-delete = true }\n\
     Score = { column = \"score\", type = \"integer\" }\n";

/// Stores the records with every key in the blob (no custom fields yet).
fn store_records(db: &Path) {
    let settings = OpenSettings {
        settings: serde_json::json!({ "path": db }).to_string(),
        custom_fields: Vec::new(),
    };
    let storage = ixn::builtins::registry()
        .open_storage(&ixn::config::PluginRef::Builtin("sqlite".into()), &settings)
        .expect("open the storage plugin");
    let ids: Vec<usize> = (0..RECORDS).collect();
    for chunk in ids.chunks(2000) {
        let batch: Vec<NewInteraction> = chunk
            .iter()
            .map(|&i| NewInteraction {
                id: id(i),
                tenant: "t1".into(),
                media_type: "email".into(),
                interaction_type: "Inbound".into(),
                interaction_subtype: "InboundNew".into(),
                external_id: None,
                parent_id: None,
                queue: "bp.In".into(),
                priority: 0,
                submitted_by: "convert-test".into(),
                submitted_at: 1000,
                properties: vec![
                    Property {
                        key: "Region".into(),
                        value: Value::Str(region(i)),
                    },
                    Property {
                        key: "Score".into(),
                        value: Value::Int(i as i64),
                    },
                    Property {
                        key: "Note".into(),
                        value: Value::Str(format!("note {i}")),
                    },
                ],
            })
            .collect();
        storage.submit(&batch).expect("submit a batch");
    }
}

fn ixn(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(ixn_tests::profile_dir().join("ixn"));
    c.arg("convert-fields")
        .args(args)
        .arg("--config")
        .arg(dir.join("ixn.toml"))
        .env("RUST_LOG", "warn");
    c
}

fn run_to_end(dir: &Path, args: &[&str]) -> Output {
    let out = ixn(dir, args).output().expect("run ixn convert-fields");
    assert!(
        out.status.success(),
        "convert-fields {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The checkpoint: the custom fields its pass converts to and its record
/// count; `None` before the first run creates it.
async fn checkpoint(db: &Path) -> Option<(String, u64)> {
    let mut conn = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(db))
        .await
        .ok()?;
    let row =
        sqlx::query("SELECT \"fields\", \"done\" FROM \"convert_checkpoint\" WHERE \"slot\" = 1")
            .fetch_optional(&mut conn)
            .await
            .ok()
            .flatten();
    let _ = conn.close().await;
    let row = row?;
    Some((row.get("fields"), row.get::<i64, _>("done").max(0) as u64))
}

/// A small PRNG (xorshift64*): the test prints its seed, and `IXN_TEST_SEED`
/// replays a failing run.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("IXN_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(7)
                    | 1
            });
        println!("convert-fields kill points: IXN_TEST_SEED={seed}");
        Rng(seed)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Runs the conversion killed with SIGKILL once the checkpoint passes each
/// of five random record counts, then to its end. Each kill must hit a
/// running process, and each run must resume after the last commit.
async fn convert_with_kills(dir: &Path, db: &Path, rng: &mut Rng) -> Output {
    let mut points: Vec<u64> = (0..5)
        .map(|_| 1 + rng.below(RECORDS as u64 - 2000))
        .collect();
    points.sort_unstable();
    println!("killing at records {points:?}");
    // A checkpoint left by the previous pass (other fields) does not count:
    // this pass's is the one the first run writes.
    let stale = checkpoint(db).await.map(|(fields, _)| fields);
    let mut this_pass: Option<String> = None;
    let mut last = 0;
    for point in points {
        let mut child: Child = ixn(dir, &["--bulk-size", KILL_BULK])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ixn convert-fields");
        let started = Instant::now();
        loop {
            if let Some((fields, done)) = checkpoint(db).await {
                if this_pass.is_none() && Some(&fields) != stale.as_ref() {
                    this_pass = Some(fields.clone());
                }
                if this_pass.as_ref() == Some(&fields) && done >= point {
                    break;
                }
            }
            assert!(
                child.try_wait().expect("poll the child").is_none(),
                "convert-fields ended before record {point}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "convert-fields did not reach record {point} in 120 s"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert!(
            child.try_wait().expect("poll the child").is_none(),
            "convert-fields finished before the kill at record {point}"
        );
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let now = checkpoint(db).await.map_or(0, |(_, done)| done);
        assert!(
            now >= point && now >= last && now < RECORDS as u64,
            "after the kill at {point} the checkpoint is at {now} (was {last})"
        );
        last = now;
    }
    run_to_end(dir, &["--bulk-size", KILL_BULK])
}

/// One row as stored: the two columns and the blob's keys and values.
struct Stored {
    region: Option<String>,
    score: Option<i64>,
    blob: BTreeMap<String, Json>,
}

async fn read_all(db: &Path) -> BTreeMap<String, Stored> {
    let mut conn = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(db))
        .await
        .expect("open the database");
    let rows = sqlx::query(
        "SELECT \"id\", \"region\", \"score\", \"flexible_properties\" FROM \"interactions\"",
    )
    .fetch_all(&mut conn)
    .await
    .expect("read every row");
    let mut out = BTreeMap::new();
    for row in rows {
        let bytes: Option<Vec<u8>> = row.get("flexible_properties");
        let blob = match bytes {
            Some(b) => serde_json::from_slice(&b).expect("the blob is JSON"),
            None => BTreeMap::new(),
        };
        out.insert(
            row.get("id"),
            Stored {
                region: row.get("region"),
                score: row.get("score"),
                blob,
            },
        );
    }
    let _ = conn.close().await;
    out
}

/// Every record against what it must hold: `region_in_column` says where
/// a `Region` that fits its column must be.
fn compare_all(stored: &BTreeMap<String, Stored>, region_in_column: bool) {
    assert_eq!(stored.len(), RECORDS, "no record lost or added");
    let mut wrong = Vec::new();
    for i in 0..RECORDS {
        let Some(s) = stored.get(&id(i)) else {
            wrong.push(format!("{} missing", id(i)));
            continue;
        };
        let r = region(i);
        let fits = r.chars().count() <= 8;
        let blob_region = s.blob.get("Region").and_then(|v| v["str"].as_str());
        let (want_column, want_blob) = if region_in_column && fits {
            (Some(r.as_str()), None)
        } else {
            (None, Some(r.as_str()))
        };
        let mut expected_keys = vec!["Note"];
        if want_blob.is_some() {
            expected_keys.push("Region");
        }
        let keys: Vec<&str> = s.blob.keys().map(String::as_str).collect();
        let ok = s.region.as_deref() == want_column
            && blob_region == want_blob
            && s.score == Some(i as i64)
            && keys == expected_keys
            && s.blob["Note"]["str"] == format!("note {i}").as_str();
        if !ok {
            wrong.push(format!(
                "{}: region column {:?}, score column {:?}, blob {:?}",
                id(i),
                s.region,
                s.score,
                s.blob
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} records wrong, first: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converts_100_000_records_both_ways_through_five_sigkills_each() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("data")).expect("data dir");
    let db: PathBuf = dir.join("data/ixn.db");
    let (store_db, started) = (db.clone(), Instant::now());
    tokio::task::spawn_blocking(move || store_records(&store_db))
        .await
        .expect("stored");
    println!("stored {RECORDS} records in {:?}", started.elapsed());
    let mut rng = Rng::new();

    // Into the columns.
    std::fs::write(dir.join("ixn.toml"), config(TO_COLUMNS)).expect("write config");
    let out = convert_with_kills(dir, &db, &mut rng).await;
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        summary.contains(&format!("converted {RECORDS} records")),
        "{summary}"
    );
    // Kills never lose a bulk nor count one twice: every value moved is counted once.
    assert!(
        summary.contains(&format!(
            "{} values moved into custom-field columns",
            RECORDS + RECORDS * 9 / 10
        )) && summary.contains(&format!("{} left in the blob", RECORDS / 10)),
        "{summary}"
    );
    compare_all(&read_all(&db).await, true);

    // Run again: the pass is complete, nothing changes. `--reset` visits every record again.
    let again = String::from_utf8_lossy(&run_to_end(dir, &[]).stdout).to_string();
    assert!(
        again.contains(&format!("converted {RECORDS} records")),
        "{again}"
    );
    let reset =
        String::from_utf8_lossy(&run_to_end(dir, &["--reset", "--bulk-size", "1000"]).stdout)
            .to_string();
    assert!(
        reset.contains("0 values moved into custom-field columns")
            && reset.contains(&format!("{} left in the blob", RECORDS / 10)),
        "{reset}"
    );
    compare_all(&read_all(&db).await, true);

    // And back: `Region` marked to-delete returns to the blob, its column emptied.
    std::fs::write(dir.join("ixn.toml"), config(REGION_BACK)).expect("write config");
    let out = convert_with_kills(dir, &db, &mut rng).await;
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        summary.contains(&format!("{} moved back into the blob", RECORDS * 9 / 10)),
        "{summary}"
    );
    compare_all(&read_all(&db).await, false);
}

#[test]
fn bulk_size_out_of_range_is_refused_naming_the_range() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("ixn.toml"), config(TO_COLUMNS)).expect("write config");
    for bad in ["0", "1001", "-5", "many"] {
        let out = ixn(tmp.path(), &[&format!("--bulk-size={bad}")])
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains("--bulk-size"), "{bad}: {stderr}");
        if bad == "0" || bad == "1001" {
            assert!(stderr.contains("1..=1000"), "{bad}: {stderr}");
        }
    }
    // Nothing was opened or created.
    assert!(!tmp.path().join("data").exists());
}
