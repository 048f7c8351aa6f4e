//! The C ABI between the host and a native plugin.
//!
//! A plugin exports one entry function (named `ixn_plugin_entry_<plugin>`, so
//! several plugins can be linked into one binary as built-ins) that returns a
//! pointer to a static [`PluginTable`]. The host checks `abi_version` first,
//! then `struct_size`, kind and contract, before it calls anything else.
//! Requests and answers cross as postcard-encoded bytes of the mirror types in
//! [`crate::storage`] and [`crate::sink`]; every export runs under
//! `catch_unwind`, so a panic becomes an error value, never an abort.

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

use serde::{Serialize, de::DeserializeOwned};

/// Bumped on any incompatible change of [`PluginTable`] or of the encoding.
pub const ABI_VERSION: u32 = 2;

/// Every plugin entry symbol starts with this; the rest names the plugin.
pub const ENTRY_PREFIX: &str = "ixn_plugin_entry_";

/// The signature of a plugin's entry symbol.
pub type EntryFn = unsafe extern "C" fn() -> *const PluginTable;

/// Borrowed bytes.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct RawSlice {
    /// Start of the bytes.
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
}

impl RawSlice {
    /// Borrows a byte slice.
    pub const fn new(bytes: &[u8]) -> Self {
        RawSlice {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }
    /// # Safety
    /// `ptr` must point to `len` readable bytes that outlive the returned slice.
    pub unsafe fn as_bytes<'a>(self) -> &'a [u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: guaranteed by the caller.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// Bytes allocated by the plugin and handed to the host, which copies them and
/// gives them back through [`PluginTable::free_buf`].
#[repr(C)]
pub struct RawBuf {
    /// Start of the allocation (null when empty).
    pub ptr: *mut u8,
    /// Bytes in use.
    pub len: usize,
    /// Bytes allocated.
    pub cap: usize,
}

impl RawBuf {
    /// An empty buffer.
    pub const EMPTY: RawBuf = RawBuf {
        ptr: std::ptr::null_mut(),
        len: 0,
        cap: 0,
    };

    fn from_vec(v: Vec<u8>) -> Self {
        let mut v = std::mem::ManuallyDrop::new(v);
        RawBuf {
            ptr: v.as_mut_ptr(),
            len: v.len(),
            cap: v.capacity(),
        }
    }
}

/// What a table is for.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    /// `ixn:storage`: the interactions table.
    Storage = 1,
    /// `ixn:sink`: an event logger's destination.
    Sink = 2,
}

impl PluginKind {
    /// The WIT package a plugin of this kind implements.
    pub fn contract(self) -> &'static str {
        match self {
            PluginKind::Storage => crate::storage::CONTRACT,
            PluginKind::Sink => crate::sink::CONTRACT,
        }
    }

    /// Whether this host loads a plugin of this kind that implements
    /// `contract`: its own, or an earlier one it still speaks.
    pub fn accepts(self, contract: &str) -> bool {
        contract == self.contract()
            || match self {
                PluginKind::Storage => crate::storage::COMPATIBLE.contains(&contract),
                PluginKind::Sink => false,
            }
    }
}

/// Status codes of `open` and `call`.
pub mod status {
    /// Success: the buffer holds the encoded answer.
    pub const OK: i32 = 0;
    /// The plugin returned its contract's error: the buffer holds it encoded.
    pub const ERROR: i32 = 1;
    /// The plugin panicked: the buffer holds the panic message as UTF-8.
    pub const PANIC: i32 = 2;
}

/// `open(settings, out_handle, out_buf) -> status`.
pub type OpenFn = unsafe extern "C" fn(RawSlice, *mut *mut c_void, *mut RawBuf) -> i32;
/// `call(handle, method, request, out_buf) -> status`.
pub type CallFn = unsafe extern "C" fn(*mut c_void, u32, RawSlice, *mut RawBuf) -> i32;
/// `validate(settings, out_buf) -> status`: the contract's `validate`, no
/// instance needed; the answer is the encoded list of problems.
pub type ValidateFn = unsafe extern "C" fn(RawSlice, *mut RawBuf) -> i32;
/// `free_buf(buf)`: releases a buffer the plugin handed out.
pub type FreeBufFn = unsafe extern "C" fn(RawBuf);
/// `close(handle)`: drops a handle from `open`.
pub type CloseFn = unsafe extern "C" fn(*mut c_void);

/// The versioned function table a plugin's entry symbol returns.
#[repr(C)]
pub struct PluginTable {
    /// Must equal the host's [`ABI_VERSION`]; read before anything else.
    pub abi_version: u32,
    /// `size_of::<PluginTable>()` as the plugin was compiled.
    pub struct_size: u32,
    /// [`PluginKind`] as a number.
    pub kind: u32,
    /// The plugin's name, e.g. `sqlite` (UTF-8).
    pub name: RawSlice,
    /// The WIT package it implements, e.g. `ixn:storage@0.1.0`.
    pub contract: RawSlice,
    /// The `ixn-plugin-api` version the plugin was built with.
    pub api_version: RawSlice,
    /// Opens an instance: the request is the contract's open settings, encoded.
    pub open: OpenFn,
    /// Calls a method of an open instance.
    pub call: CallFn,
    /// Frees a buffer from `open` or `call`.
    pub free_buf: FreeBufFn,
    /// Closes an instance.
    pub close: CloseFn,
    /// Checks settings without opening an instance (ABI 2).
    pub validate: ValidateFn,
}

// SAFETY: the table only holds pointers to 'static, immutable data and functions.
unsafe impl Sync for PluginTable {}

impl PluginTable {
    /// A table for the given kind and functions (used by the export macros).
    pub const fn new(
        kind: PluginKind,
        name: &'static str,
        validate: ValidateFn,
        open: OpenFn,
        call: CallFn,
    ) -> Self {
        PluginTable {
            abi_version: ABI_VERSION,
            struct_size: std::mem::size_of::<PluginTable>() as u32,
            kind: kind as u32,
            name: RawSlice::new(name.as_bytes()),
            contract: RawSlice::new(match kind {
                PluginKind::Storage => crate::storage::CONTRACT.as_bytes(),
                PluginKind::Sink => crate::sink::CONTRACT.as_bytes(),
            }),
            api_version: RawSlice::new(env!("CARGO_PKG_VERSION").as_bytes()),
            open,
            call,
            free_buf: free_buf_impl,
            close: close_unsupported,
            validate,
        }
    }

    /// The same table with a `close` function.
    pub const fn with_close(mut self, close: CloseFn) -> Self {
        self.close = close;
        self
    }

    /// The plugin's name.
    pub fn name(&self) -> String {
        // SAFETY: a checked table points at static UTF-8.
        String::from_utf8_lossy(unsafe { self.name.as_bytes() }).into_owned()
    }

    /// The WIT package the plugin implements.
    pub fn contract(&self) -> String {
        // SAFETY: a checked table points at static UTF-8.
        String::from_utf8_lossy(unsafe { self.contract.as_bytes() }).into_owned()
    }
}

/// Why a table was refused.
#[derive(Debug, thiserror::Error)]
pub enum AbiMismatch {
    /// The entry returned null.
    #[error("the plugin's entry returned no function table")]
    NullTable,
    /// Another ABI version.
    #[error("plugin ABI version {found}, this host speaks ABI version {expected}")]
    Version {
        /// The plugin's.
        found: u32,
        /// The host's.
        expected: u32,
    },
    /// Same version number, different layout: built from another revision of the API.
    #[error(
        "plugin function table is {found} bytes, this host expects {expected} (built against another ixn-plugin-api)"
    )]
    Size {
        /// The plugin's.
        found: u32,
        /// The host's.
        expected: u32,
    },
    /// A storage plugin where a sink was wanted, or the reverse.
    #[error("plugin implements `{found}`, `{expected}` was wanted")]
    Contract {
        /// The plugin's contract.
        found: String,
        /// The wanted contract.
        expected: String,
    },
}

/// Checks a table returned by an entry symbol, reading only its first field
/// until that field says the rest has the layout this host knows.
///
/// # Safety
/// `table` must be null or point to at least 4 readable bytes that live as long as the plugin.
pub unsafe fn check_table(
    table: *const PluginTable,
    want: PluginKind,
) -> Result<&'static PluginTable, AbiMismatch> {
    if table.is_null() {
        return Err(AbiMismatch::NullTable);
    }
    // SAFETY: every ABI version starts with the u32 version field.
    let version = unsafe { std::ptr::read(table as *const u32) };
    if version != ABI_VERSION {
        return Err(AbiMismatch::Version {
            found: version,
            expected: ABI_VERSION,
        });
    }
    // SAFETY: same version: the second field is the struct size.
    let size = unsafe { std::ptr::read((table as *const u32).add(1)) };
    let expected = std::mem::size_of::<PluginTable>() as u32;
    if size != expected {
        return Err(AbiMismatch::Size {
            found: size,
            expected,
        });
    }
    // SAFETY: version and size match this layout.
    let table: &'static PluginTable = unsafe { &*table };
    let contract = table.contract();
    if table.kind != want as u32 || !want.accepts(&contract) {
        return Err(AbiMismatch::Contract {
            found: contract,
            expected: want.contract().to_string(),
        });
    }
    Ok(table)
}

/// An encoding or decoding failure.
#[derive(Debug, thiserror::Error)]
#[error("plugin ABI encoding: {0}")]
pub struct CodecError(#[from] postcard::Error);

/// Encodes a value for the boundary.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    Ok(postcard::to_stdvec(value)?)
}

/// Decodes a value from the boundary.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    Ok(postcard::from_bytes(bytes)?)
}

unsafe extern "C" fn free_buf_impl(buf: RawBuf) {
    if !buf.ptr.is_null() {
        // SAFETY: the buffer came from `RawBuf::from_vec` in this same library.
        drop(unsafe { Vec::from_raw_parts(buf.ptr, buf.len, buf.cap) });
    }
}

unsafe extern "C" fn close_unsupported(_: *mut c_void) {}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Runs one export under `catch_unwind` and writes its answer to `out`.
fn guarded<E: Serialize>(out: *mut RawBuf, f: impl FnOnce() -> Result<Vec<u8>, E>) -> i32 {
    let (code, bytes) = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(bytes)) => (status::OK, bytes),
        Ok(Err(e)) => match encode(&e) {
            Ok(bytes) => (status::ERROR, bytes),
            Err(c) => (status::PANIC, c.to_string().into_bytes()),
        },
        Err(payload) => (status::PANIC, panic_message(payload).into_bytes()),
    };
    if !out.is_null() {
        // SAFETY: the host passes a valid, writable RawBuf.
        unsafe { out.write(RawBuf::from_vec(bytes)) };
    }
    code
}

macro_rules! plugin_side {
    ($validate:ident, $open:ident, $call:ident, $close:ident, $trait:path, $settings:ty, $err:ty, $dispatch:path) => {
        /// The table's `validate` for a plugin type.
        ///
        /// # Safety
        /// Called by the host through the table with valid pointers.
        pub unsafe extern "C" fn $validate<P: $trait>(settings: RawSlice, out: *mut RawBuf) -> i32 {
            guarded::<$err>(out, || {
                // SAFETY: the host passes a valid slice for the duration of the call.
                let settings: $settings = decode(unsafe { settings.as_bytes() })
                    .map_err(|e| <$err>::permanent(e.to_string()))?;
                encode(&P::validate(&settings)).map_err(|e| <$err>::permanent(e.to_string()))
            })
        }

        /// The table's `open` for a plugin type.
        ///
        /// # Safety
        /// Called by the host through the table with valid pointers.
        pub unsafe extern "C" fn $open<P: $trait>(
            settings: RawSlice,
            handle: *mut *mut c_void,
            out: *mut RawBuf,
        ) -> i32 {
            guarded::<$err>(out, || {
                // SAFETY: the host passes a valid slice for the duration of the call.
                let settings: $settings = decode(unsafe { settings.as_bytes() })
                    .map_err(|e| <$err>::permanent(e.to_string()))?;
                let plugin = P::open(settings)?;
                let raw = Box::into_raw(Box::new(plugin)) as *mut c_void;
                // SAFETY: the host passes a writable handle slot.
                unsafe { handle.write(raw) };
                Ok(Vec::new())
            })
        }

        /// The table's `call` for a plugin type.
        ///
        /// # Safety
        /// `handle` must come from the same type's `open` and not be closed.
        pub unsafe extern "C" fn $call<P: $trait>(
            handle: *mut c_void,
            method: u32,
            request: RawSlice,
            out: *mut RawBuf,
        ) -> i32 {
            guarded::<$err>(out, || {
                // SAFETY: the handle is a live `Box<P>` from `open`.
                let plugin = unsafe { &*(handle as *const P) };
                // SAFETY: the host passes a valid slice for the duration of the call.
                $dispatch(plugin, method, unsafe { request.as_bytes() })
            })
        }

        /// The table's `close` for a plugin type.
        ///
        /// # Safety
        /// `handle` must come from the same type's `open`; it is invalid afterwards.
        pub unsafe extern "C" fn $close<P: $trait>(handle: *mut c_void) {
            if handle.is_null() {
                return;
            }
            let _ = catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: the handle is a `Box<P>` from `open`, closed once.
                drop(unsafe { Box::from_raw(handle as *mut P) });
            }));
        }
    };
}

plugin_side!(
    storage_validate,
    storage_open,
    storage_call,
    storage_close,
    crate::storage::StorageBackend,
    crate::storage::OpenSettings,
    crate::storage::StorageError,
    crate::storage::dispatch
);
plugin_side!(
    sink_validate,
    sink_open,
    sink_call,
    sink_close,
    crate::sink::Sink,
    String,
    crate::sink::SinkError,
    crate::sink::dispatch
);

/// Exports a type implementing [`crate::storage::StorageBackend`] as a storage plugin.
///
/// `export_storage_plugin!(ixn_plugin_entry_sqlite, "sqlite", SqliteBackend);`
/// defines the entry symbol for `.so` loading and `plugin_table()` for linking
/// the plugin in as a built-in.
#[macro_export]
macro_rules! export_storage_plugin {
    ($symbol:ident, $name:literal, $ty:ty) => {
        /// This plugin's function table (the built-in path).
        pub fn plugin_table() -> &'static $crate::abi::PluginTable {
            static TABLE: $crate::abi::PluginTable = $crate::abi::PluginTable::new(
                $crate::abi::PluginKind::Storage,
                $name,
                $crate::abi::storage_validate::<$ty>,
                $crate::abi::storage_open::<$ty>,
                $crate::abi::storage_call::<$ty>,
            )
            .with_close($crate::abi::storage_close::<$ty>);
            &TABLE
        }
        /// This plugin's entry symbol (the `.so` path).
        #[unsafe(no_mangle)]
        pub extern "C" fn $symbol() -> *const $crate::abi::PluginTable {
            plugin_table()
        }
    };
}

/// Exports a type implementing [`crate::sink::Sink`] as a sink plugin; see [`export_storage_plugin!`].
#[macro_export]
macro_rules! export_sink_plugin {
    ($symbol:ident, $name:literal, $ty:ty) => {
        /// This plugin's function table (the built-in path).
        pub fn plugin_table() -> &'static $crate::abi::PluginTable {
            static TABLE: $crate::abi::PluginTable = $crate::abi::PluginTable::new(
                $crate::abi::PluginKind::Sink,
                $name,
                $crate::abi::sink_validate::<$ty>,
                $crate::abi::sink_open::<$ty>,
                $crate::abi::sink_call::<$ty>,
            )
            .with_close($crate::abi::sink_close::<$ty>);
            &TABLE
        }
        /// This plugin's entry symbol (the `.so` path).
        #[unsafe(no_mangle)]
        pub extern "C" fn $symbol() -> *const $crate::abi::PluginTable {
            plugin_table()
        }
    };
}

/// A failed call, seen from the host.
#[derive(Debug)]
pub enum CallFailure {
    /// The contract's error, still encoded.
    Contract(Vec<u8>),
    /// The plugin panicked (the panic was caught at the boundary).
    Panic(String),
    /// The answer could not be decoded.
    Codec(CodecError),
}

/// An open plugin instance, seen from the host: calls go through the table.
pub struct PluginInstance {
    table: &'static PluginTable,
    handle: NonNull<c_void>,
    /// Keeps the shared library loaded while the instance lives.
    _library: Option<std::sync::Arc<dyn std::any::Any + Send + Sync>>,
}

// SAFETY: plugin traits require Send + Sync of the plugin type behind the handle.
unsafe impl Send for PluginInstance {}
// SAFETY: as above.
unsafe impl Sync for PluginInstance {}

impl PluginInstance {
    /// Opens an instance with encoded settings.
    pub fn open(
        table: &'static PluginTable,
        settings: &[u8],
        library: Option<std::sync::Arc<dyn std::any::Any + Send + Sync>>,
    ) -> Result<Self, CallFailure> {
        let mut handle: *mut c_void = std::ptr::null_mut();
        let mut out = RawBuf::EMPTY;
        // SAFETY: a checked table; valid pointers for the call's duration.
        let code = unsafe { (table.open)(RawSlice::new(settings), &mut handle, &mut out) };
        let bytes = take(table, out);
        match (code, NonNull::new(handle)) {
            (status::OK, Some(handle)) => Ok(PluginInstance {
                table,
                handle,
                _library: library,
            }),
            (status::OK, None) => Err(CallFailure::Panic(
                "open succeeded but returned no handle".into(),
            )),
            (status::ERROR, _) => Err(CallFailure::Contract(bytes)),
            _ => Err(CallFailure::Panic(
                String::from_utf8_lossy(&bytes).into_owned(),
            )),
        }
    }

    /// The table this instance was opened from.
    pub fn table(&self) -> &'static PluginTable {
        self.table
    }

    /// Calls a method with an encoded request.
    pub fn call_raw(&self, method: u32, request: &[u8]) -> Result<Vec<u8>, CallFailure> {
        let mut out = RawBuf::EMPTY;
        // SAFETY: the handle is open; valid pointers for the call's duration.
        let code = unsafe {
            (self.table.call)(
                self.handle.as_ptr(),
                method,
                RawSlice::new(request),
                &mut out,
            )
        };
        let bytes = take(self.table, out);
        match code {
            status::OK => Ok(bytes),
            status::ERROR => Err(CallFailure::Contract(bytes)),
            _ => Err(CallFailure::Panic(
                String::from_utf8_lossy(&bytes).into_owned(),
            )),
        }
    }

    /// Calls a method with a typed request and answer.
    pub fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: u32,
        request: &Req,
    ) -> Result<Resp, CallFailure> {
        let bytes = encode(request).map_err(CallFailure::Codec)?;
        let answer = self.call_raw(method, &bytes)?;
        decode(&answer).map_err(CallFailure::Codec)
    }
}

impl Drop for PluginInstance {
    fn drop(&mut self) {
        // SAFETY: the handle is open and is closed exactly once here.
        unsafe { (self.table.close)(self.handle.as_ptr()) };
    }
}

/// Copies a plugin's buffer into a host vector and frees it on the plugin's side.
/// Calls a checked table's `validate` with encoded settings.
pub fn validate_raw(table: &'static PluginTable, settings: &[u8]) -> Result<Vec<u8>, CallFailure> {
    let mut out = RawBuf::EMPTY;
    // SAFETY: a checked table; valid pointers for the call's duration.
    let code = unsafe { (table.validate)(RawSlice::new(settings), &mut out) };
    let bytes = take(table, out);
    match code {
        status::OK => Ok(bytes),
        status::ERROR => Err(CallFailure::Contract(bytes)),
        _ => Err(CallFailure::Panic(
            String::from_utf8_lossy(&bytes).into_owned(),
        )),
    }
}

fn take(table: &PluginTable, buf: RawBuf) -> Vec<u8> {
    let bytes = if buf.ptr.is_null() {
        Vec::new()
    } else {
        // SAFETY: the plugin wrote `len` initialised bytes at `ptr`.
        unsafe { std::slice::from_raw_parts(buf.ptr, buf.len) }.to_vec()
    };
    // SAFETY: the buffer came from this table's plugin and is freed once.
    unsafe { (table.free_buf)(buf) };
    bytes
}
