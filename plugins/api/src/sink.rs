//! Rust mirrors of `wit/sink/sink.wit` (`ixn:sink`), and the trait a sink plugin implements.
#![allow(missing_docs, reason = "the WIT file documents every type and field")]

use crate::{wit_enum, wit_record, wit_variant};

/// The WIT package this module mirrors.
pub const CONTRACT: &str = "ixn:sink@0.2.0";

wit_variant! { "value" pub enum Value { Str(String), Int(i64), Float(f64), Boolean(bool), Timestamp(i64) } }

wit_record! { "field" pub struct Field { pub name: String, pub value: Value } }

wit_record! { "event-record" pub struct EventRecord {
    pub event_id: u32,
    pub event_name: String,
    pub activity: String,
    pub endpoint: Option<String>,
    pub occurred_at: i64,
    pub origin: String,
    pub sequence: u64,
    pub generation: u64,
    pub interaction_id: Option<String>,
    pub fields: Vec<Field>,
} }

wit_enum! { "error-kind" pub enum ErrorKind { Retriable, Permanent } }

wit_record! { "sink-error" pub struct SinkError { pub kind: ErrorKind, pub message: String } }

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

impl SinkError {
    /// A permanent error with a message.
    pub fn permanent(message: impl Into<String>) -> Self {
        SinkError {
            kind: ErrorKind::Permanent,
            message: message.into(),
        }
    }
    /// A retriable error with a message.
    pub fn retriable(message: impl Into<String>) -> Self {
        SinkError {
            kind: ErrorKind::Retriable,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for SinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} sink error: {}", self.kind, self.message)
    }
}
impl std::error::Error for SinkError {}

/// The `sink` interface of `ixn:sink`, as a plugin implements it.
pub trait Sink: Send + Sync + Sized + 'static {
    /// `validate`: every problem with the settings `open` would get, found
    /// without opening anything.
    fn validate(settings: &str) -> Vec<SettingProblem>;
    /// `open`: connect with the logger's settings.
    fn open(settings: String) -> Result<Self, SinkError>;
    /// `write`: store or send a batch, all or nothing.
    fn write(&self, batch: Vec<EventRecord>) -> Result<(), SinkError>;
    /// `flush`: make what was written durable.
    fn flush(&self) -> Result<(), SinkError>;
    /// `stored-count`: records the sink holds, where it can tell.
    fn stored_count(&self) -> Result<Option<u64>, SinkError>;
}

/// Method numbers of the `sink` interface on the C ABI (`open` is the table's own entry).
#[allow(missing_docs)]
pub mod method {
    pub const WRITE: u32 = 1;
    pub const FLUSH: u32 = 2;
    pub const STORED_COUNT: u32 = 3;
}

/// Decodes a request, runs the method, encodes the answer: the plugin side of `call`.
pub fn dispatch<S: Sink>(sink: &S, method: u32, request: &[u8]) -> Result<Vec<u8>, SinkError> {
    use crate::abi::{decode, encode};
    let bad = |e: crate::abi::CodecError| SinkError::permanent(e.to_string());
    match method {
        method::WRITE => encode(&sink.write(decode(request).map_err(bad)?)?),
        method::FLUSH => encode(&sink.flush()?),
        method::STORED_COUNT => encode(&sink.stored_count()?),
        other => return Err(SinkError::permanent(format!("unknown sink method {other}"))),
    }
    .map_err(bad)
}

/// The host side of `validate`: asks a sink plugin's table about settings.
pub fn validate(
    table: &'static crate::abi::PluginTable,
    settings: &str,
) -> Result<Vec<SettingProblem>, SinkError> {
    let name = table.name();
    let bytes = crate::abi::encode(&settings).map_err(|e| SinkError::permanent(e.to_string()))?;
    let answer = crate::abi::validate_raw(table, &bytes).map_err(|f| failure(&name, f))?;
    crate::abi::decode(&answer).map_err(|e| failure(&name, crate::abi::CallFailure::Codec(e)))
}

/// The host side of `ixn:sink`: typed calls through an open plugin instance.
pub struct SinkClient {
    instance: crate::abi::PluginInstance,
    name: String,
}

impl SinkClient {
    /// Opens a sink plugin from its checked table.
    pub fn open(
        table: &'static crate::abi::PluginTable,
        settings: &str,
        library: Option<std::sync::Arc<dyn std::any::Any + Send + Sync>>,
    ) -> Result<Self, SinkError> {
        let name = table.name();
        let bytes =
            crate::abi::encode(&settings).map_err(|e| SinkError::permanent(e.to_string()))?;
        let instance = crate::abi::PluginInstance::open(table, &bytes, library)
            .map_err(|f| failure(&name, f))?;
        Ok(SinkClient { instance, name })
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn call<Req: serde::Serialize + ?Sized, Resp: serde::de::DeserializeOwned>(
        &self,
        m: u32,
        req: &Req,
    ) -> Result<Resp, SinkError> {
        let bytes = crate::abi::encode(&req).map_err(|e| SinkError::permanent(e.to_string()))?;
        let answer = self
            .instance
            .call_raw(m, &bytes)
            .map_err(|f| failure(&self.name, f))?;
        crate::abi::decode(&answer)
            .map_err(|e| failure(&self.name, crate::abi::CallFailure::Codec(e)))
    }

    /// See [`Sink::write`].
    pub fn write(&self, batch: &[EventRecord]) -> Result<(), SinkError> {
        self.call(method::WRITE, batch)
    }
    /// See [`Sink::flush`].
    pub fn flush(&self) -> Result<(), SinkError> {
        self.call(method::FLUSH, &())
    }
    /// See [`Sink::stored_count`].
    pub fn stored_count(&self) -> Result<Option<u64>, SinkError> {
        self.call(method::STORED_COUNT, &())
    }
}

fn failure(name: &str, f: crate::abi::CallFailure) -> SinkError {
    use crate::abi::CallFailure;
    match f {
        CallFailure::Contract(bytes) => crate::abi::decode::<SinkError>(&bytes)
            .map(|mut e| {
                e.message = format!("sink plugin `{name}`: {}", e.message);
                e
            })
            .unwrap_or_else(|e| {
                SinkError::permanent(format!("sink plugin `{name}`: undecodable error: {e}"))
            }),
        CallFailure::Panic(msg) => {
            SinkError::permanent(format!("sink plugin `{name}` panicked: {msg}"))
        }
        CallFailure::Codec(e) => SinkError::permanent(format!("sink plugin `{name}`: {e}")),
    }
}
