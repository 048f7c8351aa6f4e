//! The one `bindgen!` over `wit/bp`: the rest of the host uses these types.

wasmtime::component::bindgen!({
    path: "../wit/bp",
    world: "business-process",
    // Every host function may trap: its outer `Result` is a host fault that
    // aborts the call, the inner one (where the WIT has `result`) is an error
    // the guest sees and handles.
    imports: { default: trappable },
});

pub use self::ixn::bp::types::{Action, LogLevel, Property, Value};
