//! `hostile-trap`: a misbehaving BP component for the host's tests.
//!
//! For an interaction whose `Subject` property contains `boom`, `handle` executes
//! the WebAssembly `unreachable` instruction: the call traps. The host must send
//! only that interaction to the business process's error queue and replace the
//! trapped instance. Every other interaction stops with the reason `ok`.
//!
//! World: `business-process`. Config keys: none.

wit_bindgen::generate!({
    // Built against the first contract on purpose: the host must keep loading
    // components of ixn:bp@0.1.0 (see wit/bp-0.1.0).
    path: "../../../wit/bp-0.1.0",
    world: "business-process",
});

use ixn::bp::types::{Action, Value};

struct HostileTrap;

impl Guest for HostileTrap {
    fn handle(interaction: Interaction, _context: ViewContext) -> Result<Decision, String> {
        if subject(&interaction).contains("boom") {
            // An explicit trap, not a panic: a panic would first try to print its
            // message through WASI stderr, which this host does not provide.
            core::arch::wasm32::unreachable();
        }
        Ok(Decision {
            action: Action::Stop("ok".to_string()),
            set_properties: Vec::new(),
            remove_properties: Vec::new(),
        })
    }
}

/// The `Subject` property, or `""` when it is missing or not a string.
fn subject(interaction: &Interaction) -> &str {
    interaction
        .properties
        .iter()
        .find(|p| p.key == "Subject")
        .and_then(|p| match &p.value {
            Value::Str(s) => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or("")
}

export!(HostileTrap);
