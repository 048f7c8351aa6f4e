//! The native plugin ABI of ixn.
//!
//! `wit/storage` and `wit/sink` are the contracts; this crate holds their Rust
//! mirrors ([`storage`], [`sink`]) — checked field by field against the WIT
//! files by `tests/wit_mirror.rs` — and the C function table ([`abi`]) through
//! which a host calls a plugin, whether the plugin was loaded from a `.so` or
//! linked in as a built-in.
#![deny(missing_docs)]

pub mod abi;
pub mod columns;
pub mod event_json;
pub mod mirror;
pub mod settings;
pub mod sink;
pub mod storage;

pub use abi::{ABI_VERSION, PluginKind, PluginTable};
