//! `second-look`: a view that looks at each interaction twice.
//!
//! The first time it sees an interaction it sets `Looks` to 1 and keeps it:
//! the interaction goes back to its queue and is not taken again before the
//! view's next check interval (as a strategy waiting for an agent or a reply
//! does). The second time it sets `Looks` to 2 and stops it with the reason
//! `looked-twice`. So every interaction makes two calls in the same view —
//! what the host's canary tests need to show that both calls of one
//! interaction go to the same component version.
//!
//! World: `business-process`. Config keys: none.
//!
//! Attached data it reads: `Looks` (int; missing means 0, another type is an
//! error). Attached data it sets: `Looks`.

wit_bindgen::generate!({
    path: "../../../wit/bp",
    world: "business-process",
});

use ixn::bp::types::{Action, Property, Value};

struct SecondLook;

impl Guest for SecondLook {
    fn handle(interaction: Interaction, _context: ViewContext) -> Result<Decision, String> {
        let looks = match interaction.properties.iter().find(|p| p.key == "Looks") {
            None => 0,
            Some(Property {
                value: Value::Int(n),
                ..
            }) => *n,
            Some(_) => return Err("Looks is not an int".to_string()),
        };
        let action = if looks == 0 {
            Action::Keep
        } else {
            Action::Stop("looked-twice".to_string())
        };
        Ok(Decision {
            action,
            set_properties: vec![Property {
                key: "Looks".to_string(),
                value: Value::Int(looks + 1),
            }],
            remove_properties: Vec::new(),
        })
    }
}

export!(SecondLook);
