//! The WASM runtime for BP components (`ixn:bp`).

pub mod bindings;
pub mod compat;
pub mod component;
pub mod engine;
pub mod host_fns;

pub use component::{BpComponent, CallError};
pub use engine::{EngineError, WasmEngine};
pub use host_fns::{HostEnv, Report};
