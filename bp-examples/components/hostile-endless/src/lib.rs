//! `hostile-endless`: a misbehaving BP component for the host's tests.
//!
//! For an interaction whose `Subject` property contains `spin`, `handle` never
//! returns: it counts forever. The host must interrupt it (epoch deadline or fuel),
//! send only that interaction to the business process's error queue and replace
//! the instance. Every other interaction stops with the reason `ok`.
//!
//! World: `business-process`. Config keys: none.

wit_bindgen::generate!({
    // Built against the first contract on purpose: the host must keep loading
    // components of ixn:bp@0.1.0 (see wit/bp-0.1.0).
    path: "../../../wit/bp-0.1.0",
    world: "business-process",
});

use core::hint::black_box;
use ixn::bp::types::{Action, Value};

struct HostileEndless;

impl Guest for HostileEndless {
    fn handle(interaction: Interaction, _context: ViewContext) -> Result<Decision, String> {
        if subject(&interaction).contains("spin") {
            spin_forever();
        }
        Ok(Decision {
            action: Action::Stop("ok".to_string()),
            set_properties: Vec::new(),
            remove_properties: Vec::new(),
        })
    }
}

/// Busy-loops forever. `black_box` hides the counter from the optimiser, so the
/// loop stays a real loop of instructions that burns fuel and CPU time.
fn spin_forever() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter).wrapping_add(1);
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

export!(HostileEndless);
