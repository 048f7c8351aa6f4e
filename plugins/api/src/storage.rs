//! Rust mirrors of `wit/storage/storage.wit` (`ixn:storage`), and the trait a
//! storage plugin implements.
#![allow(missing_docs, reason = "the WIT file documents every type and field")]

use crate::{wit_enum, wit_record, wit_variant};

/// The WIT package this module mirrors.
pub const CONTRACT: &str = "ixn:storage@0.4.0";

/// Earlier versions of the package whose plugins this host still loads: each
/// is [`CONTRACT`] less methods added since (their types are the same), and
/// the host does not call those methods on them (see [`StorageClient::wait_for_work`]).
/// `wit/storage-0.3.0/` keeps 0.3.0 as it was.
pub const COMPATIBLE: &[&str] = &["ixn:storage@0.3.0"];

wit_variant! { "value" pub enum Value { Str(String), Int(i64), Float(f64), Boolean(bool), Timestamp(i64) } }

wit_record! { "property" pub struct Property { pub key: String, pub value: Value } }

wit_enum! { "state" pub enum State { Queued, Cached, Routing, Handled } }

impl State {
    /// The original's numeric state code.
    pub fn code(self) -> i64 {
        match self {
            State::Queued => 0,
            State::Cached => 1,
            State::Routing => 2,
            State::Handled => 3,
        }
    }
    /// The state of a numeric code, if it is one.
    pub fn from_code(code: i64) -> Option<State> {
        Some(match code {
            0 => State::Queued,
            1 => State::Cached,
            2 => State::Routing,
            3 => State::Handled,
            _ => return None,
        })
    }
}

wit_record! { "interaction" pub struct Interaction {
    pub id: String,
    pub tenant: String,
    pub media_type: String,
    pub interaction_type: String,
    pub interaction_subtype: String,
    pub external_id: Option<String>,
    pub parent_id: Option<String>,
    pub queue: String,
    pub state: State,
    pub is_locked: bool,
    pub priority: i32,
    pub submitted_by: String,
    pub submitted_at: i64,
    pub placed_in_queue_at: i64,
    pub moved_to_queue_at: Option<i64>,
    pub delivered_at: Option<i64>,
    pub assigned_to: Option<String>,
    pub workbin: Option<String>,
    pub scheduled_at: Option<i64>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub lease_expiries: u32,
    pub stopped_at: Option<i64>,
    pub stop_reason: Option<String>,
    pub component_version: Option<String>,
    pub properties: Vec<Property>,
} }

wit_record! { "new-interaction" pub struct NewInteraction {
    pub id: String,
    pub tenant: String,
    pub media_type: String,
    pub interaction_type: String,
    pub interaction_subtype: String,
    pub external_id: Option<String>,
    pub parent_id: Option<String>,
    pub queue: String,
    pub priority: i32,
    pub submitted_by: String,
    pub submitted_at: i64,
    pub properties: Vec<Property>,
} }

wit_enum! { "field-type" pub enum FieldType { Text, Integer, Timestamp } }

wit_record! { "custom-field" pub struct CustomField {
    pub key: String,
    pub column: String,
    pub field_type: FieldType,
    pub length: u32,
    pub to_delete: bool,
} }

impl CustomField {
    /// Whether `value` fits this field's column: text takes a string of at most
    /// `length` characters (0: no limit), integer an integer, timestamp a
    /// timestamp or an integer (milliseconds). The one rule of every backend
    /// and of the host's check before a decision reaches storage.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        match (self.field_type, value) {
            (FieldType::Text, Value::Str(s)) => {
                let chars = s.chars().count();
                if self.length > 0 && chars > self.length as usize {
                    return Err(format!(
                        "attached data `{}`: text of {chars} characters is longer than the {} of custom field column `{}`",
                        self.key, self.length, self.column
                    ));
                }
                Ok(())
            }
            (FieldType::Integer, Value::Int(_))
            | (FieldType::Timestamp, Value::Timestamp(_) | Value::Int(_)) => Ok(()),
            (field_type, other) => Err(format!(
                "attached data `{}` is custom field column `{}` of type {}, got a {} value",
                self.key,
                self.column,
                field_type.name(),
                other.type_name()
            )),
        }
    }
}

impl FieldType {
    /// The type's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Integer => "integer",
            FieldType::Timestamp => "timestamp",
        }
    }
}

impl Value {
    /// The value's type in messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Boolean(_) => "boolean",
            Value::Timestamp(_) => "timestamp",
        }
    }
}

/// Whether attached data `key = value` can be stored: checked against its
/// custom field when `key` is one, else as a blob value (no NaN or infinity:
/// JSON and the databases' numeric types have none).
pub fn check_property(
    custom_fields: &[CustomField],
    key: &str,
    value: &Value,
) -> Result<(), String> {
    // A `to-delete` field's values go to the blob, which holds any type.
    match custom_fields.iter().find(|f| f.key == key && !f.to_delete) {
        Some(field) => field.check(value),
        None => match value {
            Value::Float(f) if !f.is_finite() => Err(format!(
                "attached data `{key}`: the float {f} cannot be stored"
            )),
            _ => Ok(()),
        },
    }
}

wit_record! { "open-settings" pub struct OpenSettings {
    pub settings: String,
    pub custom_fields: Vec<CustomField>,
} }

wit_variant! { "literal" pub enum Literal { Null, Str(String), Int(i64), Float(f64), Boolean(bool) } }

wit_enum! { "compare-op" pub enum CompareOp { Eq, Ne, Lt, Le, Gt, Ge } }

wit_variant! { "expr-node" pub enum ExprNode {
    Column(String),
    TimeInQueue,
    Literal(Literal),
    Compare((CompareOp, u32, u32)),
    All(Vec<u32>),
    Any(Vec<u32>),
    Negate(u32),
    IsNull(u32),
    IsNotNull(u32),
    InList((u32, Vec<u32>)),
    Like((u32, u32)),
} }

wit_record! { "condition" pub struct Condition { pub nodes: Vec<ExprNode>, pub root: u32 } }

wit_record! { "order-by" pub struct OrderBy { pub column: String, pub descending: bool } }

wit_record! { "claim-request" pub struct ClaimRequest {
    pub queue: String,
    pub state: State,
    pub condition: Option<Condition>,
    pub order: Vec<OrderBy>,
    pub limit: u32,
    pub owner: String,
    pub lease_ms: u32,
    pub now: i64,
} }

wit_variant! { "outcome" pub enum Outcome {
    MoveToQueue(String),
    Stop(String),
    Release(Option<i64>),
} }

wit_record! { "decision-record" pub struct DecisionRecord {
    pub id: String,
    pub owner: String,
    pub outcome: Outcome,
    pub set_properties: Vec<Property>,
    pub remove_properties: Vec<String>,
    pub component_version: Option<String>,
    pub now: i64,
} }

wit_variant! { "apply-outcome" pub enum ApplyOutcome { Applied, LeaseLost, Refused(String) } }

wit_record! { "queue-count" pub struct QueueCount {
    pub queue: String,
    pub queued: u64,
    pub cached: u64,
    pub routing: u64,
    pub handled: u64,
    pub stopped: u64,
} }

wit_record! { "convert-progress" pub struct ConvertProgress {
    pub done: u64,
    pub total: u64,
    pub to_columns: u64,
    pub to_blob: u64,
    pub kept: u64,
    pub finished: bool,
} }

wit_record! { "recovered" pub struct Recovered { pub id: String, pub queue: String } }

/// The parameters of `move-queue`, encoded as one request (not a WIT type).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MoveQueue {
    pub from: String,
    pub to: String,
    pub now: i64,
}

wit_variant! { "work-notice" pub enum WorkNotice { Unsupported, Queues(Vec<String>), Everything } }

wit_enum! { "error-kind" pub enum ErrorKind { Retriable, Permanent } }

wit_record! { "storage-error" pub struct StorageError { pub kind: ErrorKind, pub message: String } }

wit_record! { "setting-problem" pub struct SettingProblem { pub key: String, pub message: String } }

impl SettingProblem {
    /// A problem with one setting.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        SettingProblem {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The problem of a settings document that does not deserialise.
    pub fn from_document(e: crate::settings::DocumentError) -> Self {
        SettingProblem::new(e.key, e.message)
    }
}

impl StorageError {
    /// A permanent error with a message.
    pub fn permanent(message: impl Into<String>) -> Self {
        StorageError {
            kind: ErrorKind::Permanent,
            message: message.into(),
        }
    }
    /// A retriable error with a message.
    pub fn retriable(message: impl Into<String>) -> Self {
        StorageError {
            kind: ErrorKind::Retriable,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} storage error: {}", self.kind, self.message)
    }
}
impl std::error::Error for StorageError {}

/// The `backend` interface of `ixn:storage`, as a plugin implements it.
///
/// Calls may come from several host threads at once.
pub trait StorageBackend: Send + Sync + Sized + 'static {
    /// `validate`: every problem with what `open` would get, found without
    /// connecting or creating anything.
    fn validate(settings: &OpenSettings) -> Vec<SettingProblem>;
    /// `open`: connect and migrate.
    fn open(settings: OpenSettings) -> Result<Self, StorageError>;
    /// `submit`: store a batch, all or nothing.
    fn submit(&self, batch: Vec<NewInteraction>) -> Result<(), StorageError>;
    /// `claim`: atomically claim interactions for a view.
    fn claim(&self, request: ClaimRequest) -> Result<Vec<Interaction>, StorageError>;
    /// `apply`: apply decisions in one transaction, one outcome per record.
    fn apply(&self, batch: Vec<DecisionRecord>) -> Result<Vec<ApplyOutcome>, StorageError>;
    /// `get`: one interaction by id.
    fn get(&self, id: String) -> Result<Option<Interaction>, StorageError>;
    /// `counts`: interactions per queue and state.
    fn counts(&self) -> Result<Vec<QueueCount>, StorageError>;
    /// `recover-expired`: put back interactions whose lease ended.
    fn recover_expired(&self, now: i64) -> Result<Vec<Recovered>, StorageError>;
    /// `release-leases`: put back what owners with this name prefix hold.
    fn release_leases(&self, owner_prefix: String) -> Result<Vec<Recovered>, StorageError>;
    fn move_queue(&self, request: MoveQueue) -> Result<Vec<Recovered>, StorageError>;
    fn update_fields(&self, fields: Vec<CustomField>) -> Result<(), StorageError>;
    fn convert_start(&self, reset: bool) -> Result<ConvertProgress, StorageError>;
    fn convert_step(&self, bulk_size: u32) -> Result<ConvertProgress, StorageError>;
    /// `wait-for-work` (0.4.0): where work was placed since the last call,
    /// waiting at most `timeout_ms`. A backend with nothing to tell keeps
    /// this default.
    fn wait_for_work(&self, timeout_ms: u32) -> Result<WorkNotice, StorageError> {
        let _ = timeout_ms;
        Ok(WorkNotice::Unsupported)
    }
}

/// Method numbers of the `backend` interface on the C ABI (`open` is the table's own entry).
#[allow(missing_docs)]
pub mod method {
    pub const SUBMIT: u32 = 1;
    pub const CLAIM: u32 = 2;
    pub const APPLY: u32 = 3;
    pub const GET: u32 = 4;
    pub const COUNTS: u32 = 5;
    pub const RECOVER_EXPIRED: u32 = 6;
    pub const RELEASE_LEASES: u32 = 7;
    pub const UPDATE_FIELDS: u32 = 8;
    pub const CONVERT_START: u32 = 9;
    pub const CONVERT_STEP: u32 = 10;
    pub const MOVE_QUEUE: u32 = 11;
    /// Since `ixn:storage@0.4.0`.
    pub const WAIT_FOR_WORK: u32 = 12;
}

/// Decodes a request, runs the method, encodes the answer: the plugin side of `call`.
pub fn dispatch<B: StorageBackend>(
    backend: &B,
    method: u32,
    request: &[u8],
) -> Result<Vec<u8>, StorageError> {
    use crate::abi::{decode, encode};
    let bad = |e: crate::abi::CodecError| StorageError::permanent(e.to_string());
    match method {
        method::SUBMIT => encode(&backend.submit(decode(request).map_err(bad)?)?),
        method::CLAIM => encode(&backend.claim(decode(request).map_err(bad)?)?),
        method::APPLY => encode(&backend.apply(decode(request).map_err(bad)?)?),
        method::GET => encode(&backend.get(decode(request).map_err(bad)?)?),
        method::COUNTS => encode(&backend.counts()?),
        method::RECOVER_EXPIRED => encode(&backend.recover_expired(decode(request).map_err(bad)?)?),
        method::RELEASE_LEASES => encode(&backend.release_leases(decode(request).map_err(bad)?)?),
        method::UPDATE_FIELDS => encode(&backend.update_fields(decode(request).map_err(bad)?)?),
        method::CONVERT_START => encode(&backend.convert_start(decode(request).map_err(bad)?)?),
        method::CONVERT_STEP => encode(&backend.convert_step(decode(request).map_err(bad)?)?),
        method::MOVE_QUEUE => encode(&backend.move_queue(decode(request).map_err(bad)?)?),
        method::WAIT_FOR_WORK => encode(&backend.wait_for_work(decode(request).map_err(bad)?)?),
        other => {
            return Err(StorageError::permanent(format!(
                "unknown storage method {other}"
            )));
        }
    }
    .map_err(bad)
}

/// The host side of `validate`: asks a storage plugin's table about settings.
pub fn validate(
    table: &'static crate::abi::PluginTable,
    settings: &OpenSettings,
) -> Result<Vec<SettingProblem>, StorageError> {
    let name = table.name();
    let bytes = crate::abi::encode(settings).map_err(|e| StorageError::permanent(e.to_string()))?;
    let answer = crate::abi::validate_raw(table, &bytes).map_err(|f| failure(&name, f))?;
    crate::abi::decode(&answer).map_err(|e| failure(&name, crate::abi::CallFailure::Codec(e)))
}

/// The host side of `ixn:storage`: typed calls through an open plugin instance.
pub struct StorageClient {
    instance: crate::abi::PluginInstance,
    name: String,
    /// The table's contract is this host's [`CONTRACT`], not one of [`COMPATIBLE`].
    current: bool,
}

impl StorageClient {
    /// Opens (connects and migrates) a storage plugin from its checked table.
    pub fn open(
        table: &'static crate::abi::PluginTable,
        settings: &OpenSettings,
        library: Option<std::sync::Arc<dyn std::any::Any + Send + Sync>>,
    ) -> Result<Self, StorageError> {
        let name = table.name();
        let bytes =
            crate::abi::encode(settings).map_err(|e| StorageError::permanent(e.to_string()))?;
        let instance = crate::abi::PluginInstance::open(table, &bytes, library)
            .map_err(|f| failure(&name, f))?;
        Ok(StorageClient {
            instance,
            name,
            current: table.contract() == CONTRACT,
        })
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn call<Req: serde::Serialize + ?Sized, Resp: serde::de::DeserializeOwned>(
        &self,
        m: u32,
        req: &Req,
    ) -> Result<Resp, StorageError> {
        let bytes = crate::abi::encode(&req).map_err(|e| StorageError::permanent(e.to_string()))?;
        let answer = self
            .instance
            .call_raw(m, &bytes)
            .map_err(|f| failure(&self.name, f))?;
        crate::abi::decode(&answer)
            .map_err(|e| failure(&self.name, crate::abi::CallFailure::Codec(e)))
    }

    /// See [`StorageBackend::submit`].
    pub fn submit(&self, batch: &[NewInteraction]) -> Result<(), StorageError> {
        self.call(method::SUBMIT, batch)
    }
    /// See [`StorageBackend::claim`].
    pub fn claim(&self, request: &ClaimRequest) -> Result<Vec<Interaction>, StorageError> {
        self.call(method::CLAIM, request)
    }
    /// See [`StorageBackend::apply`].
    pub fn apply(&self, batch: &[DecisionRecord]) -> Result<Vec<ApplyOutcome>, StorageError> {
        self.call(method::APPLY, batch)
    }
    /// See [`StorageBackend::get`].
    pub fn get(&self, id: &str) -> Result<Option<Interaction>, StorageError> {
        self.call(method::GET, id)
    }
    /// See [`StorageBackend::counts`].
    pub fn counts(&self) -> Result<Vec<QueueCount>, StorageError> {
        self.call(method::COUNTS, &())
    }
    /// See [`StorageBackend::recover_expired`].
    pub fn recover_expired(&self, now: i64) -> Result<Vec<Recovered>, StorageError> {
        self.call(method::RECOVER_EXPIRED, &now)
    }
    /// See [`StorageBackend::release_leases`].
    pub fn release_leases(&self, owner_prefix: &str) -> Result<Vec<Recovered>, StorageError> {
        self.call(method::RELEASE_LEASES, owner_prefix)
    }
    pub fn move_queue(&self, request: &MoveQueue) -> Result<Vec<Recovered>, StorageError> {
        self.call(method::MOVE_QUEUE, request)
    }
    pub fn update_fields(&self, fields: &[CustomField]) -> Result<(), StorageError> {
        self.call(method::UPDATE_FIELDS, fields)
    }
    pub fn convert_start(&self, reset: bool) -> Result<ConvertProgress, StorageError> {
        self.call(method::CONVERT_START, &reset)
    }
    pub fn convert_step(&self, bulk_size: u32) -> Result<ConvertProgress, StorageError> {
        self.call(method::CONVERT_STEP, &bulk_size)
    }
    /// See [`StorageBackend::wait_for_work`]; `Unsupported` at once from a
    /// plugin of a [`COMPATIBLE`] contract, which predates the method.
    pub fn wait_for_work(&self, timeout_ms: u32) -> Result<WorkNotice, StorageError> {
        if !self.current {
            return Ok(WorkNotice::Unsupported);
        }
        self.call(method::WAIT_FOR_WORK, &timeout_ms)
    }
}

fn failure(name: &str, f: crate::abi::CallFailure) -> StorageError {
    use crate::abi::CallFailure;
    match f {
        CallFailure::Contract(bytes) => crate::abi::decode::<StorageError>(&bytes)
            .map(|mut e| {
                e.message = format!("storage plugin `{name}`: {}", e.message);
                e
            })
            .unwrap_or_else(|e| {
                StorageError::permanent(format!("storage plugin `{name}`: undecodable error: {e}"))
            }),
        CallFailure::Panic(msg) => {
            StorageError::permanent(format!("storage plugin `{name}` panicked: {msg}"))
        }
        CallFailure::Codec(e) => StorageError::permanent(format!("storage plugin `{name}`: {e}")),
    }
}
