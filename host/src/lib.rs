//! ixn: an interaction server built as a configuration-driven plugin host.
//!
//! Interactions are stored by a storage plugin (`ixn:storage`), moved through
//! business processes of queues and views ([`bp`]) by WASM components
//! (`ixn:bp`, [`wasm`]), and every step is reported to event loggers whose
//! sinks are plugins too (`ixn:sink`, [`events`]). See DESIGN.md for the
//! architecture.

pub mod api;
pub mod bp;
pub mod builtins;
pub mod check;
pub mod config;
pub mod convert;
pub mod demo;
pub mod digest;
pub mod events;
pub mod explain;
pub mod ids;
pub mod partitions;
pub mod plugins;
pub mod reload;
pub mod server;
pub mod storage;
pub mod time;
pub mod wasm;
