//! Configuration: the TOML schema ([`raw`]), validation into [`Config`], and
//! errors with file positions ([`error`]).
//!
//! Validation is pure (no I/O beyond reading the file): a reload can reject a
//! bad file before touching anything that runs.

pub mod diff;
pub mod error;
pub mod raw;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ixn_plugin_api::storage::{Condition, CustomField, FieldType, OpenSettings, OrderBy};
use toml::Spanned;

use crate::bp::condition::{self, Schema};
use error::Problems;
pub use error::{ConfigError, ConfigProblem};

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub source: PathBuf,
    /// SHA-256 of the file's text, hex: what `GET /v1/config` reports, so an
    /// operator can tell which file a server runs.
    pub hash: String,
    /// What replaced the file's settings; a reload reads the file again with the same.
    pub overrides: Overrides,
    /// `[server]`
    pub server: ServerConfig,
    /// `[storage]`
    pub storage: PluginRef,
    /// `[storage.settings]`, `${data-dir}` expanded, as the JSON document
    /// the plugin deserialises (TOML types kept).
    pub storage_settings: String,
    /// Where each storage setting was written, for the plugin's problems.
    pub storage_setting_places: SettingPlaces,
    /// `[wasm]`
    pub wasm: WasmConfig,
    /// `[custom-fields]`
    pub custom_fields: Vec<CustomField>,
    /// `[lookup-table.*]`
    pub lookup_tables: BTreeMap<String, BTreeMap<String, String>>,
    /// `[strategy.*]`
    pub strategies: BTreeMap<String, StrategyConfig>,
    /// `[[business-process]]`
    pub business_processes: Vec<BusinessProcess>,
    /// `[[event-logger]]`
    pub event_loggers: Vec<EventLoggerConfig>,
}

/// Settings that replace the file's (before `${data-dir}` is expanded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Replaces `server.data-dir`.
    pub data_dir: Option<PathBuf>,
    /// Replaces `server.listen`.
    pub listen: Option<std::net::SocketAddr>,
}

/// `[server]`, validated.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Lease owner prefix.
    pub node_id: String,
    /// HTTP API address.
    pub listen: std::net::SocketAddr,
    /// Absolute data directory.
    pub data_dir: PathBuf,
    /// How long a claim holds.
    pub lease_timeout: Duration,
    /// Expired-lease sweep period.
    pub recovery_interval: Duration,
    /// How long a graceful stop waits for views to finish their batches.
    pub shutdown_timeout: Duration,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's body.
    pub body_read_timeout: Duration,
    /// Most HTTP connections open at once.
    pub max_connections: usize,
    /// Whether a saved file reloads.
    pub watch_files: bool,
}

/// A plugin named in config: built into the binary or loaded from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginRef {
    /// A built-in plugin by name.
    Builtin(String),
    /// A `.so` file (absolute path).
    Library(PathBuf),
}

impl std::fmt::Display for PluginRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginRef::Builtin(n) => write!(f, "built-in `{n}`"),
            PluginRef::Library(p) => write!(f, "{}", p.display()),
        }
    }
}

/// `[wasm]`, validated.
#[derive(Debug, Clone)]
pub struct WasmConfig {
    /// Absolute cache directory.
    pub cache_dir: PathBuf,
    /// Bytes of linear memory per instance.
    pub memory_limit_bytes: u64,
    /// Budget of one call.
    pub call_timeout: Duration,
    /// Fuel per call, if metering is on.
    pub fuel: Option<u64>,
    /// Calls before an instance is replaced.
    pub recycle_after_calls: u64,
    /// Instances per component.
    pub instances_per_component: u32,
}

/// `[strategy.NAME]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyConfig {
    /// Its name.
    pub name: String,
    /// Absolute path of the `.wasm`.
    pub component: PathBuf,
    /// Its `config` table as strings.
    pub config: Vec<(String, String)>,
    /// A second component that gets a share of the interactions.
    pub canary: Option<CanaryConfig>,
}

/// `[strategy.NAME] canary`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryConfig {
    /// Absolute path of the canary's `.wasm`.
    pub component: PathBuf,
    /// Share of the interactions, 0 to 100.
    pub percent: f64,
}

impl StrategyConfig {
    /// What the primary component is loaded for: the strategy without its canary.
    pub fn primary(&self) -> StrategyConfig {
        StrategyConfig {
            canary: None,
            ..self.clone()
        }
    }

    /// What the canary component is loaded for: the strategy's name and
    /// `config` with the canary's file.
    pub fn canary_arm(&self) -> Option<StrategyConfig> {
        let canary = self.canary.as_ref()?;
        Some(StrategyConfig {
            component: canary.component.clone(),
            canary: None,
            ..self.clone()
        })
    }
}

/// A business process with its queues.
#[derive(Debug, Clone)]
pub struct BusinessProcess {
    /// Its name.
    pub name: String,
    /// Submission target.
    pub entry_queue: String,
    /// Where failures go.
    pub error_queue: String,
    /// Its queues in file order.
    pub queues: Vec<Queue>,
}

/// A queue with its views.
#[derive(Debug, Clone)]
pub struct Queue {
    /// Its name.
    pub name: String,
    /// The process it belongs to.
    pub business_process: String,
    /// Its views.
    pub views: Vec<View>,
    /// Removed queues whose interactions are moved here.
    pub replaces: Vec<String>,
}

/// A view, its condition already parsed.
#[derive(Debug, Clone)]
pub struct View {
    /// Its name.
    pub name: String,
    /// The queue it pulls from.
    pub queue: String,
    /// The process of that queue.
    pub business_process: String,
    /// The strategy it hands interactions to.
    pub strategy: String,
    /// The condition as written.
    pub condition_text: String,
    /// The condition as an AST for the storage plugin.
    pub condition: Option<Condition>,
    /// Sort order.
    pub order: Vec<OrderBy>,
    /// Idle pull period.
    pub check_interval: Duration,
    /// Interactions per pull.
    pub limit: u32,
    /// Parallel pullers.
    pub concurrency: u32,
    /// Whether it pulls.
    pub enabled: bool,
}

/// An event logger, validated.
#[derive(Debug, Clone)]
pub struct EventLoggerConfig {
    /// Its name.
    pub name: String,
    /// `delivery-protocol`: event-log, jsonl, amqp, nats or mqtt.
    pub protocol: String,
    /// The sink plugin.
    pub sink: PluginRef,
    /// The JSON document handed to the sink: `sink-settings` (types kept,
    /// `${data-dir}` expanded), `schema-name` and `delivery-queue-name` when
    /// set, and each non-empty custom-data section as an object.
    pub sink_settings: String,
    /// Where each of those settings was written, for the plugin's problems.
    pub setting_places: SettingPlaces,
    /// Records per write.
    pub batch_size: usize,
    /// Records waiting at most.
    pub max_queue_size: usize,
    /// Write period.
    pub storing_timeout: Duration,
    /// Retry period of a sink that is down.
    pub reconnect_timeout: Duration,
    /// The disk spool, with `spool = "disk"`.
    pub spool: Option<crate::events::SpoolConfig>,
    /// Where records the sink refuses for good are kept (`<name>.jsonl` in it).
    pub dead_letter_dir: PathBuf,
    /// `custom-events`: the table (activity) of EventCustomReporting per
    /// custom event id; unlisted ids go to the custom table.
    pub custom_events: BTreeMap<u32, crate::events::Activity>,
    /// What is stored.
    pub filter: EventFilter,
    /// Attached-data keys copied into interaction records (`itx-custom-data`).
    pub itx_custom_keys: Vec<String>,
}

/// `event-filtering`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter {
    /// Agent-state endpoint events.
    pub log_agent_state: bool,
    /// Agent endpoint events.
    pub log_agent_activity: bool,
    /// Queue endpoint events.
    pub log_queue: bool,
    /// Strategy endpoint events.
    pub log_strategy: bool,
    /// ESP endpoint events.
    pub log_esp_service: bool,
    /// Mapped custom data.
    pub log_userdata: bool,
    /// Only these ids, when set.
    pub only_ids: Option<BTreeSet<u32>>,
}

/// The seed's defaults: every event is logged.
impl Default for EventFilter {
    fn default() -> Self {
        EventFilter {
            log_agent_state: true,
            log_agent_activity: true,
            log_queue: true,
            log_strategy: true,
            log_esp_service: true,
            log_userdata: true,
            only_ids: None,
        }
    }
}

impl Config {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with(path, &Overrides::default())
    }

    /// Reads and validates a file, with some settings replaced (the demo and tests run
    /// the sample config in a fresh data directory on a free port).
    pub fn load_with(path: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        Config::parse_with(&absolute, &text, overrides)
    }

    /// Validates text as if read from `path` (relative paths resolve against its directory).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        Config::parse_with(path, text, &Overrides::default())
    }

    /// [`Config::parse`] with overrides.
    pub fn parse_with(
        path: &Path,
        text: &str,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut problems = Problems::new(path, text);
        let raw: raw::RawConfig = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                let offset = e.span().map(|s| s.start).unwrap_or(0);
                let message = e.message().trim();
                // serde names the type it wanted, not the key: name it.
                let message = match key_before(text, offset) {
                    Some(key) if !message.contains('`') => format!("`{key}`: {message}"),
                    _ => message.to_string(),
                };
                problems.at(offset, message);
                return Err(problems.into_error());
            }
        };
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let mut config = validate(path, &base, raw, overrides, &mut problems);
        config.hash = crate::digest::sha256_hex(text.as_bytes());
        if let Some(listen) = overrides.listen {
            config.server.listen = listen;
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems.into_error())
        }
    }

    /// Every queue of every process.
    pub fn queues(&self) -> impl Iterator<Item = &Queue> {
        self.business_processes
            .iter()
            .flat_map(|bp| bp.queues.iter())
    }

    /// Every view of every queue.
    pub fn views(&self) -> impl Iterator<Item = &View> {
        self.queues().flat_map(|q| q.views.iter())
    }

    /// What the storage plugin's `validate` and `open` get: its settings
    /// document and the custom fields.
    pub fn storage_open_settings(&self) -> OpenSettings {
        OpenSettings {
            settings: self.storage_settings.clone(),
            custom_fields: self.custom_fields.clone(),
        }
    }

    /// The queue that takes the interactions of the removed queue `queue`, if one does.
    pub fn replacement_of(&self, queue: &str) -> Option<&Queue> {
        self.queues()
            .find(|q| q.replaces.iter().any(|r| r == queue))
    }

    /// The process a queue belongs to.
    pub fn process_of(&self, queue: &str) -> Option<&BusinessProcess> {
        self.business_processes
            .iter()
            .find(|bp| bp.queues.iter().any(|q| q.name == queue))
    }
}

fn range<T: PartialOrd + Copy + std::fmt::Display>(
    p: &mut Problems,
    v: &Spanned<T>,
    lo: T,
    hi: T,
    what: &str,
) -> T {
    let value = *v.get_ref();
    if value < lo || value > hi {
        p.at(
            v.span().start,
            format!("{what} must be between {lo} and {hi}, not {value}"),
        );
    }
    value
}

fn expand(value: &str, data_dir: &Path) -> String {
    value.replace("${data-dir}", &data_dir.to_string_lossy())
}

/// Where each setting of a plugin's document was written, so that the
/// problems its `validate` names by key are shown at `file:line:column`.
#[derive(Debug, Clone, Default)]
pub struct SettingPlaces {
    /// The place of what names the plugin: for a key never written (a
    /// missing one) or nested inside a value.
    pub table: String,
    /// The place of each written key, by dotted key.
    pub keys: BTreeMap<String, String>,
}

impl SettingPlaces {
    /// The place of `key`, or of the nearest written key holding it.
    pub fn of(&self, key: &str) -> &str {
        let mut key = key;
        loop {
            if let Some(place) = self.keys.get(key) {
                return place;
            }
            match key.rsplit_once('.') {
                Some((holder, _)) => key = holder,
                None => return &self.table,
            }
        }
    }
}

/// The places of a settings table's keys, under `prefix` (`""` or `section.`).
fn places_of<T>(
    table: &BTreeMap<String, Spanned<T>>,
    prefix: &str,
    p: &Problems,
) -> impl Iterator<Item = (String, String)> {
    table
        .iter()
        .map(move |(k, v)| (format!("{prefix}{k}"), p.place(v.span().start)))
}

/// A plugin's settings table as the JSON document it deserialises.
fn settings_document(
    table: &BTreeMap<String, Spanned<toml::Value>>,
    data_dir: &Path,
) -> serde_json::Map<String, serde_json::Value> {
    fn expanded(v: serde_json::Value, data_dir: &Path) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::String(s) => Value::String(expand(&s, data_dir)),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| expanded(v, data_dir)).collect())
            }
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| (k, expanded(v, data_dir)))
                    .collect(),
            ),
            other => other,
        }
    }
    table
        .iter()
        .map(|(k, v)| {
            // A TOML value always has a JSON form (a datetime becomes its text).
            let v = v.get_ref();
            let json = serde_json::to_value(v).unwrap_or_else(|_| v.to_string().into());
            (k.clone(), expanded(json, data_dir))
        })
        .collect()
}

fn settings_strings(
    table: &BTreeMap<String, toml::Value>,
    data_dir: &Path,
) -> Vec<(String, String)> {
    table
        .iter()
        .map(|(k, v)| {
            let s = match v {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), expand(&s, data_dir))
        })
        .collect()
}

fn plugin_ref(value: &str, base: &Path) -> PluginRef {
    if value.contains('/') || value.ends_with(".so") {
        PluginRef::Library(base.join(value))
    } else {
        PluginRef::Builtin(value.to_string())
    }
}

/// Queue names: at most 64 characters, no `,` or `;` (the original's rule).
pub fn check_queue_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("queue name is empty".into());
    }
    if name.chars().count() > 64 {
        return Err(format!("queue name `{name}` is longer than 64 characters"));
    }
    if let Some(c) = name.chars().find(|c| *c == ',' || *c == ';') {
        return Err(format!(
            "queue name `{name}` contains `{c}`; `,` and `;` are not allowed in queue names"
        ));
    }
    Ok(())
}

/// The key of the `key = value` line whose value starts at or before
/// `offset`, when the offset is in the value.
fn key_before(text: &str, offset: usize) -> Option<&str> {
    let start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let (key, _) = text.get(start..offset)?.split_once('=')?;
    let key = key.trim();
    let bare = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '"');
    (!key.is_empty() && key.chars().all(bare)).then_some(key)
}

/// Where the server running `path` listens, read leniently (only TOML
/// syntax and `[server] listen` matter), for `ixn reload` to reach it while
/// the rest of the file may be the invalid edit to report. An unspecified
/// address (`0.0.0.0`) is reached on loopback.
pub fn listen_of(path: &Path) -> Result<std::net::SocketAddr, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut problems = Problems::new(path, &text);
    let table: toml::Table = match toml::from_str(&text) {
        Ok(t) => t,
        Err(e) => {
            problems.at(
                e.span().map(|s| s.start).unwrap_or(0),
                e.message().trim().to_string(),
            );
            return Err(problems.into_error());
        }
    };
    let listen = table
        .get("server")
        .and_then(|s| s.get("listen"))
        .and_then(|l| l.as_str())
        .map_or_else(|| raw::default_listen().into_inner(), str::to_string);
    let Ok(mut addr) = listen.parse::<std::net::SocketAddr>() else {
        problems.at(
            0,
            format!("[server] listen `{listen}` is not an address:port"),
        );
        return Err(problems.into_error());
    };
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    Ok(addr)
}

fn parse_field_type(spec: &str) -> Result<(FieldType, u32), String> {
    let spec = spec.trim();
    match spec {
        "integer" => Ok((FieldType::Integer, 0)),
        "timestamp" => Ok((FieldType::Timestamp, 0)),
        "string" => Ok((FieldType::Text, 64)),
        s if s.starts_with("string(") && s.ends_with(')') => {
            let n: u32 = s["string(".len()..s.len() - 1]
                .trim()
                .parse()
                .map_err(|_| format!("`{s}`: the length of string(N) must be a number"))?;
            if !(1..=4000).contains(&n) {
                return Err(format!(
                    "`{s}`: string length must be between 1 and 4000 (very long text types are not allowed)"
                ));
            }
            Ok((FieldType::Text, n))
        }
        other => Err(format!(
            "unknown custom field type `{other}`; use string(N), integer or timestamp"
        )),
    }
}

fn validate(
    path: &Path,
    base: &Path,
    raw: raw::RawConfig,
    overrides: &Overrides,
    p: &mut Problems,
) -> Config {
    let data_dir = overrides
        .data_dir
        .clone()
        .unwrap_or_else(|| base.join(&raw.server.data_dir));
    let listen = match raw.server.listen.get_ref().parse() {
        Ok(a) => a,
        Err(e) => {
            p.at(
                raw.server.listen.span().start,
                format!(
                    "listen: `{}` is not an address: {e}",
                    raw.server.listen.get_ref()
                ),
            );
            std::net::SocketAddr::from(([127, 0, 0, 1], 7480))
        }
    };
    let server = ServerConfig {
        node_id: raw.server.node_id.clone(),
        listen,
        data_dir: data_dir.clone(),
        lease_timeout: Duration::from_secs(range(
            p,
            &raw.server.lease_timeout,
            1,
            86_400,
            "lease-timeout",
        )),
        recovery_interval: Duration::from_secs(range(
            p,
            &raw.server.recovery_interval,
            1,
            3600,
            "recovery-interval",
        )),
        shutdown_timeout: Duration::from_secs(range(
            p,
            &raw.server.shutdown_timeout,
            1,
            3600,
            "shutdown-timeout",
        )),
        header_read_timeout: Duration::from_secs(range(
            p,
            &raw.server.header_read_timeout,
            1,
            3600,
            "header-read-timeout",
        )),
        body_read_timeout: Duration::from_secs(range(
            p,
            &raw.server.body_read_timeout,
            1,
            3600,
            "body-read-timeout",
        )),
        max_connections: range(
            p,
            &raw.server.max_connections,
            1,
            100_000,
            "max-connections",
        ) as usize,
        watch_files: raw.server.watch_files,
    };

    let storage_name = raw.storage.plugin.get_ref();
    if storage_name.trim().is_empty() {
        p.at(raw.storage.plugin.span().start, "storage plugin is empty");
    }
    let storage = plugin_ref(storage_name, base);
    let storage_settings =
        serde_json::Value::Object(settings_document(&raw.storage.settings, &data_dir)).to_string();
    let storage_setting_places = SettingPlaces {
        table: p.place(raw.storage.plugin.span().start),
        keys: places_of(&raw.storage.settings, "", p).collect(),
    };

    let fuel = raw.wasm.fuel;
    let wasm = WasmConfig {
        cache_dir: base.join(expand(&raw.wasm.cache_dir, &data_dir)),
        memory_limit_bytes: range(p, &raw.wasm.memory_limit_mb, 1, 4096, "memory-limit-mb") << 20,
        call_timeout: Duration::from_millis(range(
            p,
            &raw.wasm.call_timeout_ms,
            10,
            600_000,
            "call-timeout-ms",
        )),
        fuel: (fuel > 0).then_some(fuel),
        recycle_after_calls: range(
            p,
            &raw.wasm.recycle_after_calls,
            1,
            10_000_000,
            "recycle-after-calls",
        ),
        instances_per_component: range(
            p,
            &raw.wasm.instances_per_component,
            1,
            256,
            "instances-per-component",
        ),
    };

    if server.lease_timeout <= wasm.call_timeout * 2 {
        p.at(
            raw.server.lease_timeout.span().start,
            format!(
                "lease-timeout ({} s) must be longer than twice [wasm] call-timeout-ms ({} ms): a claimed interaction must outlive the calls made for it",
                server.lease_timeout.as_secs(),
                wasm.call_timeout.as_millis()
            ),
        );
    }

    let mut custom_fields = Vec::new();
    let mut columns = BTreeSet::new();
    for (key, spec) in &raw.custom_fields {
        let at = spec.span().start;
        let spec = spec.get_ref();
        if !condition::is_identifier(&spec.column) {
            p.at(at, format!("custom field `{key}`: column `{}` must match [a-z_][a-z0-9_]* (at most 63 characters)", spec.column));
        } else if ixn_plugin_api::columns::standard_column(&spec.column).is_some() {
            p.at(
                at,
                format!(
                    "custom field `{key}`: column `{}` is a standard column",
                    spec.column
                ),
            );
        } else if !columns.insert(spec.column.clone()) {
            p.at(
                at,
                format!(
                    "custom field `{key}`: column `{}` is mapped twice",
                    spec.column
                ),
            );
        }
        match parse_field_type(&spec.field_type) {
            Ok((field_type, length)) => custom_fields.push(CustomField {
                key: key.clone(),
                column: spec.column.clone(),
                field_type,
                length,
                to_delete: spec.to_delete,
            }),
            Err(e) => p.at(at, format!("custom field `{key}`: {e}")),
        }
    }
    let schema = Schema::new(&custom_fields);

    let mut strategies = BTreeMap::new();
    for (name, s) in &raw.strategies {
        let spec = s.get_ref();
        if spec.component.trim().is_empty() {
            p.at(
                s.span().start,
                format!("strategy `{name}`: component is empty"),
            );
        }
        let canary = spec.canary.as_ref().map(|c| {
            let at = c.span().start;
            let c = c.get_ref();
            if c.component.trim().is_empty() {
                p.at(at, format!("strategy `{name}`: canary component is empty"));
            }
            if !(0.0..=100.0).contains(&c.percent) {
                p.at(
                    at,
                    format!(
                        "strategy `{name}`: canary percent must be 0 to 100, not {}",
                        c.percent
                    ),
                );
            }
            CanaryConfig {
                component: base.join(expand(&c.component, &data_dir)),
                percent: c.percent,
            }
        });
        strategies.insert(
            name.clone(),
            StrategyConfig {
                name: name.clone(),
                component: base.join(expand(&spec.component, &data_dir)),
                config: settings_strings(&spec.config, &data_dir),
                canary,
            },
        );
    }

    let mut business_processes = Vec::new();
    let mut queue_names = BTreeSet::new();
    let mut view_names = BTreeSet::new();
    let mut bp_names = BTreeSet::new();
    for bp in &raw.business_processes {
        let bp_name = bp.name.get_ref().clone();
        if !bp_names.insert(bp_name.clone()) {
            p.at(
                bp.name.span().start,
                format!("business process `{bp_name}` is defined twice"),
            );
        }
        let mut queues = Vec::new();
        for q in &bp.queues {
            let qname = q.name.get_ref().clone();
            if let Err(e) = check_queue_name(&qname) {
                p.at(q.name.span().start, e);
            } else if !queue_names.insert(qname.clone()) {
                p.at(
                    q.name.span().start,
                    format!("queue `{qname}` is defined twice"),
                );
            }
            let mut views = Vec::new();
            for v in &q.views {
                views.push(validate_view(
                    v,
                    &qname,
                    &bp_name,
                    &schema,
                    &raw.strategies,
                    &mut view_names,
                    p,
                ));
            }
            queues.push(Queue {
                name: qname,
                business_process: bp_name.clone(),
                views,
                replaces: q.replaces.iter().map(|r| r.get_ref().clone()).collect(),
            });
        }
        for (what, q) in [
            ("entry-queue", &bp.entry_queue),
            ("error-queue", &bp.error_queue),
        ] {
            if !bp.queues.iter().any(|x| x.name.get_ref() == q.get_ref()) {
                p.at(
                    q.span().start,
                    format!(
                        "business process `{bp_name}`: {what} `{}` is not one of its queues",
                        q.get_ref()
                    ),
                );
            }
        }
        business_processes.push(BusinessProcess {
            name: bp_name,
            entry_queue: bp.entry_queue.get_ref().clone(),
            error_queue: bp.error_queue.get_ref().clone(),
            queues,
        });
    }

    // Checked once every queue is known: what a queue replaces must be gone.
    let mut replaced = BTreeSet::new();
    for q in raw
        .business_processes
        .iter()
        .flat_map(|bp| bp.queues.iter())
    {
        for r in &q.replaces {
            let (name, at) = (r.get_ref(), r.span().start);
            if queue_names.contains(name) {
                p.at(at, format!("queue `{}` replaces `{name}`, which is still configured: remove `{name}`, or this entry", q.name.get_ref()));
            } else if !replaced.insert(name.clone()) {
                p.at(at, format!("queue `{name}` is replaced twice: its interactions can go to one queue only"));
            }
        }
    }

    let mut event_loggers = Vec::new();
    let mut logger_names = BTreeSet::new();
    for l in &raw.event_loggers {
        event_loggers.push(validate_logger(l, base, &data_dir, &mut logger_names, p));
    }

    Config {
        source: path.to_path_buf(),
        hash: String::new(),
        overrides: overrides.clone(),
        server,
        storage,
        storage_settings,
        storage_setting_places,
        wasm,
        custom_fields,
        lookup_tables: raw.lookup_tables,
        strategies,
        business_processes,
        event_loggers,
    }
}

fn validate_view(
    v: &raw::ViewSection,
    queue: &str,
    bp: &str,
    schema: &Schema,
    strategies: &BTreeMap<String, Spanned<raw::StrategySection>>,
    names: &mut BTreeSet<String>,
    p: &mut Problems,
) -> View {
    let name = v.name.get_ref().clone();
    if !names.insert(name.clone()) {
        p.at(
            v.name.span().start,
            format!("view `{name}` is defined twice"),
        );
    }
    if !strategies.contains_key(v.strategy.get_ref()) {
        p.at(
            v.strategy.span().start,
            format!(
                "view `{name}`: strategy `{}` is not defined in [strategy]",
                v.strategy.get_ref()
            ),
        );
    }
    let (condition_text, condition) = match &v.condition {
        Some(c) if !c.get_ref().trim().is_empty() => {
            match condition::parse_condition(c.get_ref(), schema) {
                Ok(ast) => (c.get_ref().clone(), Some(ast)),
                Err(e) => {
                    // Point inside the string literal: one past its opening quote.
                    p.at(
                        c.span().start + 1 + e.offset,
                        format!("view `{name}`: condition: {}", e.message),
                    );
                    (c.get_ref().clone(), None)
                }
            }
        }
        _ => (String::new(), None),
    };
    let order = match &v.order {
        Some(o) => condition::parse_order(o.get_ref(), schema).unwrap_or_else(|e| {
            p.at(o.span().start + 1, format!("view `{name}`: order: {e}"));
            Vec::new()
        }),
        None => vec![OrderBy {
            column: "submitted_at".into(),
            descending: false,
        }],
    };
    View {
        name: name.clone(),
        queue: queue.to_string(),
        business_process: bp.to_string(),
        strategy: v.strategy.get_ref().clone(),
        condition_text,
        condition,
        order,
        check_interval: Duration::from_secs_f64(range(
            p,
            &v.check_interval,
            0.01,
            3600.0,
            &format!("view `{name}`: check-interval"),
        )),
        limit: range(p, &v.limit, 1, 1000, &format!("view `{name}`: limit")),
        concurrency: range(
            p,
            &v.concurrency,
            1,
            64,
            &format!("view `{name}`: concurrency"),
        ),
        enabled: v.enabled,
    }
}

fn validate_logger(
    l: &raw::EventLoggerSection,
    base: &Path,
    data_dir: &Path,
    names: &mut BTreeSet<String>,
    p: &mut Problems,
) -> EventLoggerConfig {
    let name = l.name.get_ref().clone();
    if !names.insert(name.clone()) {
        p.at(
            l.name.span().start,
            format!("event logger `{name}` is defined twice"),
        );
    }
    let s = &l.logger_settings;
    let protocol = s.delivery_protocol.get_ref().as_str();
    let known = matches!(protocol, "event-log" | "jsonl" | "amqp" | "nats" | "mqtt");
    if s.plugin.is_some() && !known {
        // A sink plugin says how it delivers, but the protocol names what an
        // administrator of the original reads first: it must be one of them.
        p.at(s.delivery_protocol.span().start, format!("event logger `{name}`: unknown delivery-protocol `{protocol}`; use event-log, jsonl, amqp, nats or mqtt"));
    }
    if matches!(protocol, "amqp" | "nats" | "mqtt") && s.delivery_queue_name.is_none() {
        p.at(
            s.delivery_protocol.span().start,
            format!("event logger `{name}`: delivery-protocol `{protocol}` needs delivery-queue-name (the queue, subject or topic events go to)"),
        );
    }
    let broker = matches!(protocol, "amqp" | "nats" | "mqtt");
    let sink = match (&s.plugin, protocol) {
        (Some(path), _) => PluginRef::Library(base.join(path)),
        (None, "event-log") => PluginRef::Builtin("sql".into()),
        (None, other @ ("jsonl" | "amqp" | "nats" | "mqtt")) => PluginRef::Builtin(other.into()),
        (None, other) => {
            p.at(s.delivery_protocol.span().start, format!("event logger `{name}`: unknown delivery-protocol `{other}`; use event-log, jsonl, amqp, nats or mqtt"));
            PluginRef::Builtin(other.into())
        }
    };
    let mut sink_settings = settings_document(&l.sink_settings, data_dir);
    let mut setting_places = SettingPlaces {
        table: p.place(l.name.span().start),
        keys: places_of(&l.sink_settings, "", p).collect(),
    };
    if let Some(schema) = &s.schema_name {
        sink_settings.insert("schema-name".into(), schema.clone().into());
    }
    if let Some(q) = &s.delivery_queue_name {
        sink_settings.insert("delivery-queue-name".into(), q.clone().into());
    }
    if let Some(recoverable) = &s.recoverable {
        if !broker {
            p.at(recoverable.span().start, format!("event logger `{name}`: recoverable applies to message-queue delivery (amqp, nats, mqtt), not `{protocol}`"));
        }
        sink_settings.insert("recoverable".into(), (*recoverable.get_ref()).into());
    }
    for (section, map) in [
        ("itx-custom-data", &l.itx_custom_data),
        ("esp-custom-data", &l.esp_custom_data),
        ("esp-service-data", &l.esp_service_data),
        ("agent-custom-data", &l.agent_custom_data),
        ("custom-customdata", &l.custom_customdata),
    ] {
        // The sink judges its mappings (`validate`, see `check.rs`): a host
        // check of its own disagreed with the sql sink and knew nothing of others.
        if !map.is_empty() {
            setting_places
                .keys
                .extend(places_of(map, &format!("{section}."), p));
            let mappings = map
                .iter()
                .map(|(key, spec)| (key.clone(), serde_json::Value::from(spec.get_ref().clone())))
                .collect();
            sink_settings.insert(section.into(), serde_json::Value::Object(mappings));
        }
    }
    let mut custom_events = BTreeMap::new();
    for (id, table) in &l.custom_events {
        let activity = match table.get_ref().as_str() {
            "interaction" => Some(crate::events::Activity::Interaction),
            "agent" => Some(crate::events::Activity::Agent),
            "custom" => Some(crate::events::Activity::Custom),
            _ => None,
        };
        match (id.parse::<u32>(), activity) {
            (Ok(id), Some(activity)) => {
                custom_events.insert(id, activity);
            }
            _ => p.at(
                table.span().start,
                format!(
                    "event logger `{name}`: custom-events `{id} = \"{}\"`: want a numeric custom event id and interaction, agent or custom",
                    table.get_ref()
                ),
            ),
        }
    }
    let spool_max_mb = range(
        p,
        &s.spool_max_size,
        1,
        1_048_576,
        &format!("event logger `{name}`: spool-max-size (MB)"),
    );
    let spool = match s.spool.as_ref().map(|v| (v.get_ref().as_str(), v.span())) {
        None | Some(("memory", _)) => None,
        Some(("disk", _)) => Some(crate::events::SpoolConfig {
            dir: data_dir
                .join("spool")
                .join(crate::events::dead_letter::file_name(&name)),
            max_bytes: spool_max_mb * 1024 * 1024,
        }),
        Some((other, span)) => {
            p.at(
                span.start,
                format!("event logger `{name}`: spool `{other}`: use memory or disk"),
            );
            None
        }
    };
    let f = &l.event_filtering;
    let only_ids = f.event_filter_by_id.as_ref().and_then(|ids| {
        let mut set = BTreeSet::new();
        for part in ids
            .get_ref()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match part.parse::<u32>() {
                Ok(id) => {
                    set.insert(id);
                }
                Err(_) => p.at(
                    ids.span().start,
                    format!(
                        "event logger `{name}`: event-filter-by-id: `{part}` is not an event id"
                    ),
                ),
            }
        }
        (!set.is_empty()).then_some(set)
    });
    EventLoggerConfig {
        name: name.clone(),
        protocol: protocol.to_string(),
        sink,
        sink_settings: serde_json::Value::Object(sink_settings).to_string(),
        setting_places,
        batch_size: range(
            p,
            &s.batch_size,
            1,
            5000,
            &format!("event logger `{name}`: batch-size"),
        ) as usize,
        max_queue_size: range(
            p,
            &s.max_queue_size,
            10_000,
            100_000,
            &format!("event logger `{name}`: max-queue-size"),
        ) as usize,
        storing_timeout: Duration::from_millis(range(
            p,
            &s.storing_timeout,
            500,
            60_000,
            &format!("event logger `{name}`: storing-timeout (ms)"),
        )),
        reconnect_timeout: Duration::from_secs(range(
            p,
            &s.reconnect_timeout,
            1,
            3600,
            &format!("event logger `{name}`: reconnect-timeout (s)"),
        )),
        filter: EventFilter {
            log_agent_state: f.log_agent_state,
            log_agent_activity: f.log_agent_activity,
            log_queue: f.log_queue,
            log_strategy: f.log_strategy,
            log_esp_service: f.log_esp_service,
            log_userdata: f.log_userdata,
            only_ids,
        },
        itx_custom_keys: l.itx_custom_data.keys().cloned().collect(),
        spool,
        dead_letter_dir: data_dir.join("dead-letter"),
        custom_events,
    }
}
