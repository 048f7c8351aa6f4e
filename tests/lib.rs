//! Shared helpers of ixn's end-to-end tests: start a real host on a config
//! written to a temporary directory, talk to it over its HTTP API.

pub mod pg;
pub mod soak;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ixn::config::{Config, Overrides};
use ixn::server::Server;
use serde_json::Value as Json;
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The directory cargo put this test binary's profile outputs in (`target/release`),
/// where the plugin `.so` files of `cargo build --release --workspace` are.
pub fn profile_dir() -> PathBuf {
    // The test binary lives in <target>/<profile>/deps/.
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().and_then(Path::parent).map(Path::to_path_buf))
        .unwrap_or_else(|| repo_root().join("target/release"))
}

/// A plugin `.so` of this workspace, built by `cargo build --release --workspace`.
pub fn plugin_so(crate_name: &str) -> anyhow::Result<PathBuf> {
    let path = profile_dir().join(format!("lib{}.so", crate_name.replace('-', "_")));
    if !path.is_file() {
        bail!(
            "{} is missing: build the workspace first (`cargo build --release --workspace`)",
            path.display()
        );
    }
    Ok(path)
}

/// A running host in a temporary directory.
pub struct TestHost {
    /// The server.
    pub server: Server,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// An HTTP client.
    pub client: reqwest::Client,
    /// Holds the config and data; removed on drop.
    pub dir: tempfile::TempDir,
}

impl TestHost {
    /// Writes `config` to a temporary `ixn.toml` and starts a host on it with the built-in plugins.
    pub async fn start(config: &str) -> anyhow::Result<TestHost> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("ixn.toml");
        std::fs::write(&path, config)?;
        let overrides = Overrides {
            data_dir: Some(dir.path().join("data")),
            listen: Some(([127, 0, 0, 1], 0).into()),
        };
        let config = Config::load_with(&path, &overrides)?;
        let server = Server::start(config, &ixn::builtins::registry()).await?;
        let base = format!("http://{}", server.addr());
        Ok(TestHost {
            server,
            base,
            client: reqwest::Client::new(),
            dir,
        })
    }

    /// Stops the host gracefully and starts a new one on the same config and
    /// data directory, as an operator's restart does.
    pub async fn restart(self) -> anyhow::Result<TestHost> {
        self.restart_with(None).await
    }

    /// [`TestHost::restart`], with `config` written over the old one first.
    pub async fn restart_with(self, config: Option<&str>) -> anyhow::Result<TestHost> {
        let TestHost {
            server,
            client,
            dir,
            ..
        } = self;
        server.shutdown().await;
        if let Some(config) = config {
            std::fs::write(dir.path().join("ixn.toml"), config)?;
        }
        let overrides = Overrides {
            data_dir: Some(dir.path().join("data")),
            listen: Some(([127, 0, 0, 1], 0).into()),
        };
        let config = Config::load_with(&dir.path().join("ixn.toml"), &overrides)?;
        let server = Server::start(config, &ixn::builtins::registry()).await?;
        let base = format!("http://{}", server.addr());
        Ok(TestHost {
            server,
            base,
            client,
            dir,
        })
    }

    /// `GET /health`: status code and JSON body.
    pub async fn health(&self) -> anyhow::Result<(u16, Json)> {
        let r = self
            .client
            .get(format!("{}/health", self.base))
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((
            status,
            r.json().await.context("/health did not answer JSON")?,
        ))
    }

    /// `POST /v1/interactions`; returns status and JSON body.
    pub async fn submit(&self, body: &Json) -> anyhow::Result<(u16, Json)> {
        let r = self
            .client
            .post(format!("{}/v1/interactions", self.base))
            .json(body)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.context("response body is not JSON")?))
    }

    /// `POST /v1/interactions` with a raw body.
    pub async fn submit_raw(&self, body: &str, content_type: &str) -> anyhow::Result<(u16, Json)> {
        let r = self
            .client
            .post(format!("{}/v1/interactions", self.base))
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.context("response body is not JSON")?))
    }

    /// `GET /v1/interactions/{id}`.
    pub async fn get(&self, id: &str) -> anyhow::Result<(u16, Json)> {
        let r = self
            .client
            .get(format!("{}/v1/interactions/{id}", self.base))
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await?))
    }

    /// `GET path`, answered with JSON (any status).
    pub async fn get_json(&self, path: &str) -> anyhow::Result<Json> {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await?;
        r.json()
            .await
            .with_context(|| format!("{path} did not answer JSON"))
    }

    /// `POST /v1/admin/reload`: status code and JSON body.
    pub async fn post_reload(&self) -> anyhow::Result<(u16, Json)> {
        let r = self
            .client
            .post(format!("{}/v1/admin/reload", self.base))
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((
            status,
            r.json().await.context("the reload did not answer JSON")?,
        ))
    }

    /// `GET /v1/queues` as queue → row.
    pub async fn queues(&self) -> anyhow::Result<Vec<Json>> {
        let r: Json = self
            .client
            .get(format!("{}/v1/queues", self.base))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(r["queues"].as_array().cloned().unwrap_or_default())
    }

    /// One count of one queue (`queued`, `stopped`, …).
    pub async fn count(&self, queue: &str, what: &str) -> anyhow::Result<u64> {
        Ok(self
            .queues()
            .await?
            .iter()
            .find(|r| r["queue"] == queue)
            .and_then(|r| r[what].as_u64())
            .unwrap_or(0))
    }

    /// Total stopped plus waiting in `error_queue`.
    pub async fn finished(&self, error_queue: &str) -> anyhow::Result<u64> {
        let rows = self.queues().await?;
        let stopped: u64 = rows
            .iter()
            .map(|r| r["stopped"].as_u64().unwrap_or(0))
            .sum();
        let errors: u64 = rows
            .iter()
            .filter(|r| r["queue"] == error_queue)
            .map(|r| r["queued"].as_u64().unwrap_or(0))
            .sum();
        Ok(stopped + errors)
    }

    /// Polls until `finished(error_queue) >= n` or the timeout passes.
    pub async fn wait_finished(
        &self,
        error_queue: &str,
        n: u64,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let done = self.finished(error_queue).await?;
            if done >= n {
                return Ok(());
            }
            if start.elapsed() > timeout {
                bail!(
                    "only {done} of {n} interactions finished within {timeout:?}: {:#?}",
                    self.queues().await?
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A config with one business process `bp`: queue `bp.In` whose view `work`
/// runs `component` as strategy `s`, error queue `bp.Error`, one jsonl event
/// logger, and `[wasm]` limits for tests with `extra_wasm` lines added to that table.
pub fn one_step_config(component: &str, extra_wasm: &str) -> String {
    format!(
        r#"
[server]
lease-timeout = 30
recovery-interval = 1
# Tests that change a file say when it applies (POST /v1/admin/reload): a
# watch would race them to it. The watch's own tests turn it on.
watch-files = false

[storage]
plugin = "sqlite"
[storage.settings]
path = "${{data-dir}}/ixn.db"

[wasm]
cache-dir = "${{data-dir}}/wasm-cache"
call-timeout-ms = 300
memory-limit-mb = 32
instances-per-component = 2
{extra_wasm}

[strategy.s]
component = "{component}"

[[business-process]]
name = "bp"
entry-queue = "bp.In"
error-queue = "bp.Error"
  [[business-process.queue]]
  name = "bp.In"
    [[business-process.queue.view]]
    name = "work"
    strategy = "s"
    check-interval = 0.05
    limit = 20
    concurrency = 2
  [[business-process.queue]]
  name = "bp.Error"

[[event-logger]]
name = "file"
  [event-logger.logger-settings]
  delivery-protocol = "jsonl"
  storing-timeout = 500
  [event-logger.sink-settings]
  path = "${{data-dir}}/events.jsonl"
"#
    )
}

/// [`one_step_config`] with the router (it stops every interaction) on the
/// PostgreSQL at `url`, schema `schema`, as host `node` of several for
/// `ixn serve` as a process of its own (`data-dir = "data"`, a free port),
/// with `lease-timeout` seconds and `storage_extra` added to
/// `[storage.settings]` (TOML lines).
pub fn postgres_host_config(
    url: &str,
    schema: &str,
    node: &str,
    lease_timeout: u32,
    storage_extra: &str,
) -> String {
    one_step_config(ixn_bp_artifacts::ROUTER, "")
        .replace(
            "[storage]\nplugin = \"sqlite\"\n[storage.settings]\npath = \"${data-dir}/ixn.db\"",
            &format!(
                "[storage]\nplugin = \"postgres\"\n[storage.settings]\nurl = \"{url}\"\nschema = \"{schema}\"\n{storage_extra}"
            ),
        )
        .replace(
            "[server]\nlease-timeout = 30",
            &format!(
                "[server]\nnode-id = \"{node}\"\ndata-dir = \"data\"\nlisten = \"127.0.0.1:0\"\nshutdown-timeout = 30\nlease-timeout = {lease_timeout}"
            ),
        )
        + "\n[lookup-table.vip-senders]\n\"vip@example.com\" = \"gold\"\n"
}

/// [`one_step_config`] with `hostile-err` for `ixn serve` as a process of its
/// own (`data-dir = "data"`, a free port, `shutdown-timeout`), with a second
/// event logger `reporting`: the sql sink on `${data-dir}/reporting.db`, its
/// rows kept when interactions stop, so that every event can be counted.
pub fn serve_config_with_reporting(shutdown_timeout: u32) -> String {
    one_step_config(ixn_bp_artifacts::HOSTILE_ERR, "").replace(
        "[server]",
        &format!(
            "[server]\ndata-dir = \"data\"\nlisten = \"127.0.0.1:0\"\nshutdown-timeout = {shutdown_timeout}"
        ),
    ) + r#"
[[event-logger]]
name = "reporting"
  [event-logger.logger-settings]
  delivery-protocol = "event-log"
  storing-timeout = 500
  [event-logger.sink-settings]
  path = "${data-dir}/reporting.db"
  delete-on-stop = false
"#
}

/// The component at `path` with a custom section holding `n`: the same logic,
/// another version (another content hash), as a new build of it would be.
/// Custom sections may follow any section of a component.
pub fn component_version(path: &str, n: u32) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap_or_default();
    let name = b"ixn-test-version";
    let payload = n.to_le_bytes();
    let size = 1 + name.len() + payload.len();
    bytes.push(0);
    bytes.push(size as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(&payload);
    bytes
}

/// An e-mail submission with a subject.
pub fn email(subject: &str) -> Json {
    serde_json::json!({
        "media_type": "email",
        "properties": { "Subject": subject, "Body": "body text", "FromAddress": "someone@example.com" }
    })
}

/// Takes the write lock of a SQLite database on a separate connection and
/// keeps it until [`release_sqlite`]: every other writer waits out its busy timeout
/// and fails with SQLITE_BUSY.
pub async fn lock_sqlite(path: &Path) -> SqliteConnection {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(Duration::from_secs(10));
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .expect("opening the database from the test");
    // The sink keeps the file in WAL mode with its connection open, which holds
    // a SHARED lock on the file: `PRAGMA locking_mode = EXCLUSIVE` could not
    // get its exclusive file lock ("database is locked"). In WAL mode BEGIN
    // EXCLUSIVE takes the WAL write lock, which is what the sink's
    // BEGIN IMMEDIATE needs; the write makes sure it is held.
    sqlx::raw_sql(
        "BEGIN EXCLUSIVE; \
         CREATE TABLE IF NOT EXISTS test_lock_holder (x INTEGER); \
         INSERT INTO test_lock_holder VALUES (1);",
    )
    .execute(&mut conn)
    .await
    .expect("locking the database");
    conn
}

/// Rolls the lock holder's transaction back (it leaves nothing behind) and closes it.
pub async fn release_sqlite(mut conn: SqliteConnection) {
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut conn)
        .await
        .expect("releasing the lock");
    conn.close().await.expect("closing the lock holder");
}

/// `ixn serve` as its own process (the binary `cargo build --release
/// --workspace` made), on a config written to a temporary directory whose
/// `[server]` has `data-dir = "data"` and `listen = "127.0.0.1:0"`.
pub struct ServeProcess {
    /// The process.
    pub child: std::process::Child,
    /// `http://127.0.0.1:PORT`, read from its "ixn is up." line.
    pub base: String,
    /// Every line it wrote to stderr so far.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Holds the config and data.
    pub dir: PathBuf,
}

impl ServeProcess {
    /// Starts `ixn serve` on `config` in `dir` and waits until it listens.
    pub fn start(dir: &Path, config: &str) -> anyhow::Result<ServeProcess> {
        use std::io::BufRead;
        let binary = profile_dir().join("ixn");
        if !binary.is_file() {
            bail!(
                "{} is missing: build the workspace first (`cargo build --release --workspace`)",
                binary.display()
            );
        }
        let path = dir.join("ixn.toml");
        std::fs::write(&path, config)?;
        let mut child = std::process::Command::new(&binary)
            .arg("serve")
            .arg("--config")
            .arg(&path)
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stderr = child.stderr.take().context("no stderr")?;
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if line.contains("ixn is up.")
                    && let Some(addr) = line.split("addr=").nth(1)
                {
                    let _ = tx.send(addr.trim().to_string());
                }
                if let Ok(mut l) = lines.lock() {
                    l.push(line);
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                bail!(
                    "ixn serve did not come up: {:#?}",
                    log.lock().map(|l| l.clone())
                );
            }
        };
        Ok(ServeProcess {
            child,
            base: format!("http://{addr}"),
            log,
            dir: dir.to_path_buf(),
        })
    }

    /// Sends a signal (`TERM`, `INT`, `KILL`) with `kill(1)`.
    pub fn signal(&self, name: &str) -> anyhow::Result<()> {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()?;
        if !status.success() {
            bail!("kill -{name} failed: {status}");
        }
        Ok(())
    }

    /// Waits for the process to end, at most `timeout`; kills it after that.
    pub fn wait(&mut self, timeout: Duration) -> anyhow::Result<std::process::ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                bail!("ixn serve did not stop within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The value of `key=` in the last log line containing `message`.
    pub fn logged(&self, message: &str, key: &str) -> Option<String> {
        let log = self.log.lock().ok()?;
        let line = log.iter().rev().find(|l| l.contains(message))?;
        let value = line.split(&format!("{key}=")).nth(1)?;
        Some(
            value
                .split_whitespace()
                .next()?
                .trim_matches('"')
                .to_string(),
        )
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Rows of a SQLite file matching one `SELECT COUNT(*) …`.
pub async fn sqlite_count(path: &Path, sql: &str) -> anyhow::Result<i64> {
    let options = SqliteConnectOptions::new().filename(path);
    let mut conn = SqliteConnection::connect_with(&options).await?;
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    Ok(n)
}

/// An event logger made in code rather than read from a file, as the seed's
/// defaults have it except where said: `protocol` delivered by the built-in
/// sink `sink` with `sink_settings`, every event let through, no spool,
/// batches of 500 or every second, a 10 000-event queue, reconnecting every
/// second. Change what a test needs with struct update syntax.
pub fn logger_config(
    protocol: &str,
    sink: &str,
    sink_settings: Json,
    dead_letter_dir: PathBuf,
) -> ixn::config::EventLoggerConfig {
    ixn::config::EventLoggerConfig {
        name: protocol.into(),
        protocol: protocol.into(),
        sink: ixn::config::PluginRef::Builtin(sink.into()),
        sink_settings: sink_settings.to_string(),
        setting_places: ixn::config::SettingPlaces::default(),
        batch_size: 500,
        max_queue_size: 10_000,
        storing_timeout: Duration::from_secs(1),
        reconnect_timeout: Duration::from_secs(1),
        filter: ixn::config::EventFilter::default(),
        itx_custom_keys: Vec::new(),
        spool: None,
        dead_letter_dir,
        custom_events: Default::default(),
    }
}
