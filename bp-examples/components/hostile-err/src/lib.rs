//! `hostile-err`: a misbehaving BP component for the host's tests.
//!
//! For an interaction whose `Subject` property contains `refuse`, `handle` returns
//! `err("refused by hostile-err")`. Unlike a trap this is an ordinary answer: the
//! instance stays usable, and the host sends only that interaction to the business
//! process's error queue with the reason. For one whose `Subject` contains
//! `oversize`, it stops with reason `ok` and sets `Note` to 100 characters: a
//! decision that a host mapping `Note` to a shorter custom field must refuse
//! for that interaction alone (the poison-batch test). Every other interaction
//! stops with the reason `ok`.
//!
//! It logs the refusal through `host.log`, so that it imports the host
//! interface of `ixn:bp@0.1.0`: the contract it is built against on purpose,
//! to prove that the host keeps loading components of the first version.
//!
//! World: `business-process`. Config keys: none.

wit_bindgen::generate!({
    // Built against the first contract on purpose: the host must keep loading
    // components of ixn:bp@0.1.0 (see wit/bp-0.1.0).
    path: "../../../wit/bp-0.1.0",
    world: "business-process",
});

use ixn::bp::host;
use ixn::bp::types::{Action, LogLevel, Property, Value};

struct HostileErr;

impl Guest for HostileErr {
    fn handle(interaction: Interaction, _context: ViewContext) -> Result<Decision, String> {
        if subject(&interaction).contains("refuse") {
            host::log(LogLevel::Debug, "hostile-err refuses this interaction.");
            return Err("refused by hostile-err".to_string());
        }
        let set_properties = if subject(&interaction).contains("oversize") {
            vec![Property {
                key: "Note".to_string(),
                value: Value::Str("n".repeat(100)),
            }]
        } else {
            Vec::new()
        };
        Ok(Decision {
            action: Action::Stop("ok".to_string()),
            set_properties,
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

export!(HostileErr);
