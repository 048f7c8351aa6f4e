//! The TOML file as written: serde types whose doc comments are the user's
//! documentation of every option. Validation turns them into [`super::Config`].

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The whole `ixn.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawConfig {
    /// Node identity, HTTP listener, leases.
    pub server: ServerSection,
    /// The storage plugin that holds the interactions table.
    pub storage: StorageSection,
    /// Limits of the WASM runtime that runs BP components.
    #[serde(default)]
    pub wasm: WasmSection,
    /// Attached-data keys mapped to typed columns: `Key = { column = "c", type = "string(32)" }`.
    #[serde(default)]
    pub custom_fields: BTreeMap<String, Spanned<CustomFieldSpec>>,
    /// Lookup tables BP components read through the `lookup` host function.
    #[serde(default, rename = "lookup-table")]
    pub lookup_tables: BTreeMap<String, BTreeMap<String, String>>,
    /// BP components ("strategies") by name.
    #[serde(default, rename = "strategy")]
    pub strategies: BTreeMap<String, Spanned<StrategySection>>,
    /// Business processes: queues and their views.
    #[serde(default, rename = "business-process")]
    pub business_processes: Vec<BusinessProcessSection>,
    /// Event logger instances, each with one sink.
    #[serde(default, rename = "event-logger")]
    pub event_loggers: Vec<EventLoggerSection>,
}

/// `[server]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServerSection {
    /// This host's name; it owns the leases it takes. Default `ixn-1`.
    #[serde(default = "default_node_id")]
    pub node_id: String,
    /// HTTP API address. Default `127.0.0.1:7480`.
    #[serde(default = "default_listen")]
    pub listen: Spanned<String>,
    /// Where the host keeps its files; relative to this file. `${data-dir}` in
    /// other settings expands to it. Default `data`.
    #[serde(default = "default_data_dir")]
    pub data_dir: String,
    /// Seconds a BP plugin may hold a claimed interaction before the lease
    /// expires and it goes back to its queue (1–86400, default 60).
    #[serde(default = "default_lease_timeout")]
    pub lease_timeout: Spanned<u64>,
    /// Seconds between sweeps for expired leases (1–3600, default 5).
    #[serde(default = "default_recovery_interval")]
    pub recovery_interval: Spanned<u64>,
    /// Seconds a graceful stop (SIGTERM, SIGINT) waits for the views to finish
    /// the batches they hold before releasing what is still leased (1–3600,
    /// default 30). Loggers then write what they hold.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout: Spanned<u64>,
    /// Seconds a client has to send a request's headers (and an idle
    /// keep-alive connection to start its next request) before the connection
    /// is closed (1–3600, default 10).
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout: Spanned<u64>,
    /// Seconds a client has to send a request's whole body before it is
    /// answered 408 (1–3600, default 30).
    #[serde(default = "default_body_read_timeout")]
    pub body_read_timeout: Spanned<u64>,
    /// Most HTTP connections open at once (1–100000, default 1024); beyond it
    /// new connections wait in the listen backlog until one closes. Keep it
    /// well under the process's open-file limit.
    #[serde(default = "default_max_connections")]
    pub max_connections: Spanned<u64>,
    /// Whether saving the config file, or a file it names, reloads (default
    /// true). Off, only SIGHUP, `ixn reload` and `POST /v1/admin/reload`
    /// reload: for edits that span several files and must apply together.
    #[serde(default = "default_true")]
    pub watch_files: bool,
}

/// `[storage]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StorageSection {
    /// A built-in plugin name (`sqlite`, `postgres`) or the path of a plugin `.so`, relative to this file.
    pub plugin: Spanned<String>,
    /// Passed to the plugin as one document; `${data-dir}` is expanded.
    #[serde(default)]
    pub settings: BTreeMap<String, Spanned<toml::Value>>,
}

/// `[wasm]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WasmSection {
    /// Where compiled components are cached. Default `${data-dir}/wasm-cache`.
    #[serde(default = "default_cache_dir")]
    pub cache_dir: String,
    /// Linear memory one instance may grow to, in MiB (1–4096, default 64).
    #[serde(default = "default_memory_limit")]
    pub memory_limit_mb: Spanned<u64>,
    /// Wall-clock budget of one `handle` call in milliseconds, enforced by epoch
    /// interruption (10–600000, default 1000).
    #[serde(default = "default_call_timeout")]
    pub call_timeout_ms: Spanned<u64>,
    /// Fuel (roughly, instructions) per call; 0 turns fuel metering off (default 0).
    #[serde(default)]
    pub fuel: u64,
    /// Calls after which an instance is replaced by a fresh one, so a leaking
    /// guest cannot grow forever (1–10000000, default 10000).
    #[serde(default = "default_recycle")]
    pub recycle_after_calls: Spanned<u64>,
    /// Instances kept per component: at most this many calls of one component
    /// run at once (1–256, default 4).
    #[serde(default = "default_instances")]
    pub instances_per_component: Spanned<u32>,
}

impl Default for WasmSection {
    fn default() -> Self {
        WasmSection {
            cache_dir: default_cache_dir(),
            memory_limit_mb: Spanned::new(0..0, default_memory_limit_raw()),
            call_timeout_ms: Spanned::new(0..0, 1000),
            fuel: 0,
            recycle_after_calls: Spanned::new(0..0, 10_000),
            instances_per_component: Spanned::new(0..0, 4),
        }
    }
}

/// One entry of `[custom-fields]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CustomFieldSpec {
    /// The column of the interactions table (lower case, `[a-z_][a-z0-9_]*`).
    pub column: String,
    /// `string(N)` (N 1–4000), `integer` or `timestamp`.
    #[serde(rename = "type")]
    pub field_type: String,
    /// Marks the field to be folded back into the blob by `ixn convert-fields`.
    #[serde(default)]
    pub to_delete: bool,
}

/// `[strategy.NAME]`: a BP component.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StrategySection {
    /// The component file (`.wasm`), relative to this file.
    pub component: String,
    /// Handed to the component's `init` and readable with `config-get`.
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
    /// A second version that gets a share of the interactions:
    /// `canary = { component = "router-v2.wasm", percent = 10 }`. Remove the
    /// line to roll back.
    pub canary: Option<Spanned<CanarySection>>,
}

/// `[strategy.NAME] canary`: a second component and its share.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CanarySection {
    /// The canary's component file (`.wasm`), relative to this file. It gets
    /// the strategy's `config` table too.
    pub component: String,
    /// Share of the interactions each view of the strategy hands to the
    /// canary, 0 to 100 (fractions allowed).
    pub percent: f64,
}

/// `[[business-process]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BusinessProcessSection {
    /// Unique name.
    pub name: Spanned<String>,
    /// Where submitted interactions are placed unless the submitter names a queue of this process.
    pub entry_queue: Spanned<String>,
    /// Where an interaction goes when its BP plugin traps, times out or returns an error.
    pub error_queue: Spanned<String>,
    /// The queues of this process.
    #[serde(default, rename = "queue")]
    pub queues: Vec<QueueSection>,
}

/// `[[business-process.queue]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct QueueSection {
    /// Unique across processes; at most 64 characters, no `,` or `;`.
    pub name: Spanned<String>,
    /// Free text for operators.
    #[serde(default)]
    pub description: String,
    /// Views that pull from this queue.
    #[serde(default, rename = "view")]
    pub views: Vec<ViewSection>,
    /// Queues this config removes whose interactions come here: a running
    /// server moves what they still hold (and anything that lands in them
    /// later) into this queue, so removing them strands nothing. Keep the
    /// line until the removed queues are empty.
    #[serde(default)]
    pub replaces: Vec<Spanned<String>>,
}

/// `[[business-process.queue.view]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ViewSection {
    /// Unique across the configuration.
    pub name: Spanned<String>,
    /// The `[strategy.NAME]` that processes what this view selects.
    pub strategy: Spanned<String>,
    /// SQL-like boolean over columns and custom fields, e.g.
    /// `media_type = 'email' AND _time_in_queue[] > 30`. Empty selects everything.
    #[serde(default)]
    pub condition: Option<Spanned<String>>,
    /// `column [asc|desc], …`. Default `submitted_at asc`.
    #[serde(default)]
    pub order: Option<Spanned<String>>,
    /// Seconds between pulls when the queue had nothing to give (0.01–3600, default 1).
    #[serde(default = "default_check_interval")]
    pub check_interval: Spanned<f64>,
    /// Interactions taken per pull (the original's `max-interactions-per-pull`; 1–1000, default 100).
    #[serde(default = "default_limit")]
    pub limit: Spanned<u32>,
    /// Pullers working this view at once (1–64, default 1).
    #[serde(default = "default_concurrency")]
    pub concurrency: Spanned<u32>,
    /// A disabled view pulls nothing.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

/// `[[event-logger]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EventLoggerSection {
    /// Unique name.
    pub name: Spanned<String>,
    /// Batching, queueing and the sink (the original's `logger-settings` section).
    pub logger_settings: LoggerSettingsSection,
    /// Passed to the sink plugin as strings; `${data-dir}` is expanded.
    #[serde(default)]
    pub sink_settings: BTreeMap<String, Spanned<toml::Value>>,
    /// Which events are stored.
    #[serde(default)]
    pub event_filtering: EventFilteringSection,
    /// Custom-event id → `interaction`, `agent` or `custom` table.
    #[serde(default)]
    pub custom_events: BTreeMap<String, Spanned<String>>,
    /// Attached-data key → `field;type;length` of `rpt_interaction`.
    #[serde(default)]
    pub itx_custom_data: BTreeMap<String, Spanned<String>>,
    /// As `itx-custom-data`, for `rpt_esp` from ESP user data.
    #[serde(default)]
    pub esp_custom_data: BTreeMap<String, Spanned<String>>,
    /// As `itx-custom-data`, for `rpt_esp` from the request envelope.
    #[serde(default)]
    pub esp_service_data: BTreeMap<String, Spanned<String>>,
    /// As `itx-custom-data`, for `rpt_agent`.
    #[serde(default)]
    pub agent_custom_data: BTreeMap<String, Spanned<String>>,
    /// As `itx-custom-data`, for `rpt_custom`.
    #[serde(default)]
    pub custom_customdata: BTreeMap<String, Spanned<String>>,
}

/// `logger-settings`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LoggerSettingsSection {
    /// `event-log` (database tables, the `sql` sink), `jsonl` (a file),
    /// `amqp`, `nats` or `mqtt` (a message broker).
    #[serde(default = "default_protocol")]
    pub delivery_protocol: Spanned<String>,
    /// A sink plugin `.so` to use instead of the protocol's built-in one, relative to this file.
    #[serde(default)]
    pub plugin: Option<String>,
    /// Queue or topic name for message-queue protocols.
    #[serde(default)]
    pub delivery_queue_name: Option<String>,
    /// Records that trigger a write (1–5000, default 500).
    #[serde(default = "default_batch_size")]
    pub batch_size: Spanned<u32>,
    /// Records kept in memory while waiting to be written; beyond it events are
    /// discarded, counted and logged (10000–100000, default 20000).
    #[serde(default = "default_max_queue_size")]
    pub max_queue_size: Spanned<u32>,
    /// Milliseconds between writes (500–60000, default 1000).
    #[serde(default = "default_storing_timeout")]
    pub storing_timeout: Spanned<u64>,
    /// Schema of the logger tables (database sinks).
    #[serde(default)]
    pub schema_name: Option<String>,
    /// Seconds to wait before retrying a sink that is down (1–3600, default 10).
    #[serde(default = "default_reconnect")]
    pub reconnect_timeout: Spanned<u64>,
    /// Persistent delivery (the seed's `DeliveryMode.PERSISTENT`): handed to
    /// the sink as `recoverable`; message-queue sinks only.
    #[serde(default)]
    pub recoverable: Option<Spanned<bool>>,
    /// `memory` (default: the seed's behaviour, overflow discarded) or
    /// `disk`: what the sink cannot take waits in a spool under the data
    /// directory, across restarts.
    #[serde(default)]
    pub spool: Option<Spanned<String>>,
    /// Megabytes the disk spool may hold (1–1048576, default 1024).
    #[serde(default = "default_spool_max_size")]
    pub spool_max_size: Spanned<u64>,
}

/// `event-filtering`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EventFilteringSection {
    /// Events of endpoint type agent state.
    #[serde(default = "default_true")]
    pub log_agent_state: bool,
    /// Events of endpoint type agent.
    #[serde(default = "default_true")]
    pub log_agent_activity: bool,
    /// EventPlacedInQueue, EventPlacedInWorkbin, EventTakenFromQueue, EventTakenFromWorkbin.
    #[serde(default = "default_true")]
    pub log_queue: bool,
    /// Events of endpoint type strategy (party added/removed for a BP plugin).
    #[serde(default = "default_true")]
    pub log_strategy: bool,
    /// Events of endpoint type ESP server.
    #[serde(default = "default_true")]
    pub log_esp_service: bool,
    /// With false, mapped custom data is left out of the records.
    #[serde(default = "default_true")]
    pub log_userdata: bool,
    /// Comma-separated event ids; when present and non-empty only these are stored.
    #[serde(default)]
    pub event_filter_by_id: Option<Spanned<String>>,
}

impl Default for EventFilteringSection {
    fn default() -> Self {
        EventFilteringSection {
            log_agent_state: true,
            log_agent_activity: true,
            log_queue: true,
            log_strategy: true,
            log_esp_service: true,
            log_userdata: true,
            event_filter_by_id: None,
        }
    }
}

fn default_node_id() -> String {
    "ixn-1".into()
}
pub(super) fn default_listen() -> Spanned<String> {
    Spanned::new(0..0, "127.0.0.1:7480".into())
}
fn default_data_dir() -> String {
    "data".into()
}
fn default_lease_timeout() -> Spanned<u64> {
    Spanned::new(0..0, 60)
}
fn default_recovery_interval() -> Spanned<u64> {
    Spanned::new(0..0, 5)
}
fn default_shutdown_timeout() -> Spanned<u64> {
    Spanned::new(0..0, 30)
}
fn default_header_read_timeout() -> Spanned<u64> {
    Spanned::new(0..0, 10)
}
fn default_body_read_timeout() -> Spanned<u64> {
    Spanned::new(0..0, 30)
}
fn default_max_connections() -> Spanned<u64> {
    Spanned::new(0..0, 1024)
}
fn default_cache_dir() -> String {
    "${data-dir}/wasm-cache".into()
}
fn default_memory_limit_raw() -> u64 {
    64
}
fn default_memory_limit() -> Spanned<u64> {
    Spanned::new(0..0, default_memory_limit_raw())
}
fn default_call_timeout() -> Spanned<u64> {
    Spanned::new(0..0, 1000)
}
fn default_recycle() -> Spanned<u64> {
    Spanned::new(0..0, 10_000)
}
fn default_instances() -> Spanned<u32> {
    Spanned::new(0..0, 4)
}
fn default_check_interval() -> Spanned<f64> {
    Spanned::new(0..0, 1.0)
}
fn default_limit() -> Spanned<u32> {
    Spanned::new(0..0, 100)
}
fn default_concurrency() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}
fn default_true() -> bool {
    true
}
fn default_protocol() -> Spanned<String> {
    Spanned::new(0..0, "event-log".into())
}
fn default_batch_size() -> Spanned<u32> {
    Spanned::new(0..0, 500)
}
fn default_max_queue_size() -> Spanned<u32> {
    Spanned::new(0..0, 20_000)
}
fn default_storing_timeout() -> Spanned<u64> {
    Spanned::new(0..0, 1000)
}
fn default_spool_max_size() -> Spanned<u64> {
    Spanned::new(0..0, 1024)
}

fn default_reconnect() -> Spanned<u64> {
    Spanned::new(0..0, 10)
}
