//! Earlier versions of `ixn:bp`, served beside the current one.
//!
//! wasmtime resolves an import of `ixn:bp/host@0.1.0` to the `0.1.1` the
//! bindings define (semver-compatible), but the host also stubs the WASI
//! imports Rust's std drags into a component, and that stubbing creates an
//! empty instance under the exact name `ixn:bp/host@0.1.0`, which then hides
//! the `0.1.1` one. So the functions of `0.1.0` are defined under their own
//! name here, each calling the same host implementation.

use wasmtime::component::Linker;

use super::bindings::LogLevel;
use super::bindings::ixn::bp::host::Host;
use super::host_fns::StoreState;

/// Defines `ixn:bp/host@0.1.0`: every function of the first contract.
pub fn add_host_v0_1_0(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    let mut host = linker.instance("ixn:bp/host@0.1.0")?;
    host.func_wrap("log", |mut cx, (level, message): (LogLevel, String)| {
        cx.data_mut().log(level, message)
    })?;
    host.func_wrap("now", |mut cx, (): ()| Ok((cx.data_mut().now()?,)))?;
    host.func_wrap("config-get", |mut cx, (key,): (String,)| {
        Ok((cx.data_mut().config_get(key)?,))
    })?;
    host.func_wrap("lookup", |mut cx, (table, key): (String, String)| {
        Ok((cx.data_mut().lookup(table, key)?,))
    })?;
    host.func_wrap("queue-depth", |mut cx, (queue,): (String,)| {
        Ok((cx.data_mut().queue_depth(queue)?,))
    })?;
    Ok(())
}
