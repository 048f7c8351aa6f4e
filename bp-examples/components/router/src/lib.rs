//! `router`: the second step of the sample business process.
//!
//! It runs on the queues the `classifier` fills. It looks the sender up in the
//! `vip-senders` lookup table, stamps the interaction with routing facts, and
//! finishes it: auto-replies stop with the reason `auto-reply`, everything else is
//! acknowledged and stops with the reason `acknowledged`.
//!
//! World: `business-process`. Config keys: none.
//!
//! Host functions it uses:
//!
//! - `lookup("vip-senders", <FromAddress>)`: the sender's segment. The table must
//!   exist (a `[lookup-table.vip-senders]` in ixn.toml), keyed by the address
//!   exactly as it arrives in `FromAddress`.
//! - `queue-depth(<the queue the view pulls from>)`.
//! - `now()`: the host's clock.
//! - `log` at debug level, one line per interaction.
//! - `report(VIP_ROUTED, [Segment, FromAddress])` for a sender found in
//!   `vip-senders`: an EventCustomReporting (custom event id 1) that an event
//!   logger's `custom-events` can send to the table it wants.
//!
//! Attached data it reads (all optional strings; another type is an error):
//! `Category` (default `general`), `Language` (default `en`), `Subject` and
//! `FromAddress` (default empty); and the interaction's `priority`, which it
//! only logs.
//!
//! Attached data it sets:
//!
//! | key                   | value                                                      |
//! |-----------------------|------------------------------------------------------------|
//! | `Segment`             | string: the segment from `vip-senders`, or `standard`      |
//! | `RoutedAt`            | timestamp: the host's `now()`                              |
//! | `QueueDepthAtRouting` | int: depth of the pulled queue (left out if it is unknown) |
//! | `AckTemplate`         | string: `ack-<Language>`, only when acknowledged           |
//!
//! Decision:
//!
//! - `stop("auto-reply")` when `Category` is `general` and the subject looks like an
//!   out-of-office or automatic reply;
//! - otherwise `stop("acknowledged")`;
//! - `err(…)` when the lookup table does not exist or a property has the wrong type.

wit_bindgen::generate!({
    path: "../../../wit/bp",
    world: "business-process",
});

use ixn::bp::host;
use ixn::bp::types::{Action, LogLevel, Property, Value};

/// Subject fragments (lower case) of automatic replies, in several languages.
const AUTO_REPLY_MARKERS: &[&str] = &[
    "out of office",
    "automatic reply",
    "auto-reply",
    "autoreply",
    "abwesenheit",
    "automatische antwort",
    "réponse automatique",
    "respuesta automática",
    "автоответ",
    "自動返信",
];

/// The segment of a sender that is not in `vip-senders`.
const STANDARD_SEGMENT: &str = "standard";

/// Custom event id of the report made for a VIP sender.
const VIP_ROUTED: u32 = 1;

struct Router;

impl Guest for Router {
    fn handle(interaction: Interaction, context: ViewContext) -> Result<Decision, String> {
        let category = string_property(&interaction, "Category")?.unwrap_or("general");
        let language = string_property(&interaction, "Language")?.unwrap_or("en");
        let subject = string_property(&interaction, "Subject")?.unwrap_or("");
        let from_address = string_property(&interaction, "FromAddress")?.unwrap_or("");

        // A missing table is a configuration error: let the host put the
        // interaction in the error queue rather than silently treat everyone
        // as standard.
        let segment = match host::lookup("vip-senders", from_address) {
            Ok(Some(segment)) => segment,
            Ok(None) => STANDARD_SEGMENT.to_string(),
            Err(message) => return Err(format!("lookup in vip-senders failed: {message}")),
        };

        if segment != STANDARD_SEGMENT {
            let content = [
                Property {
                    key: "Segment".to_string(),
                    value: Value::Str(segment.clone()),
                },
                Property {
                    key: "FromAddress".to_string(),
                    value: Value::Str(from_address.to_string()),
                },
            ];
            // Reporting is informative: a refused report does not stop routing.
            if let Err(message) = host::report(VIP_ROUTED, &content) {
                host::log(LogLevel::Warn, &format!("Report refused: {message}."));
            }
        }

        let mut set_properties = vec![
            Property {
                key: "Segment".to_string(),
                value: Value::Str(segment.clone()),
            },
            Property {
                key: "RoutedAt".to_string(),
                value: Value::Timestamp(host::now()),
            },
        ];

        // The depth is only informative: if the host cannot tell it, route anyway.
        match host::queue_depth(&context.queue) {
            Ok(depth) => set_properties.push(Property {
                key: "QueueDepthAtRouting".to_string(),
                value: Value::Int(i64::from(depth)),
            }),
            Err(message) => host::log(
                LogLevel::Warn,
                &format!("Queue depth of {:?} unknown: {message}.", context.queue),
            ),
        }

        let reason = if category == "general" && is_auto_reply(subject) {
            "auto-reply"
        } else {
            set_properties.push(Property {
                key: "AckTemplate".to_string(),
                value: Value::Str(format!("ack-{language}")),
            });
            "acknowledged"
        };

        host::log(
            LogLevel::Debug,
            &format!(
                "Interaction {} (category {category}, language {language}, priority {}, \
                 segment {segment}) stopped: {reason}.",
                interaction.id, interaction.priority,
            ),
        );

        Ok(Decision {
            action: Action::Stop(reason.to_string()),
            set_properties,
            remove_properties: Vec::new(),
        })
    }
}

export!(Router);

/// The string value of property `key`: `None` when the property is missing, an
/// error when it holds a value of another type.
fn string_property<'a>(interaction: &'a Interaction, key: &str) -> Result<Option<&'a str>, String> {
    match interaction.properties.iter().find(|p| p.key == key) {
        None => Ok(None),
        Some(Property {
            value: Value::Str(s),
            ..
        }) => Ok(Some(s)),
        Some(_) => Err(format!("{key} is not a string")),
    }
}

/// Whether `subject` looks like an out-of-office or other automatic reply.
fn is_auto_reply(subject: &str) -> bool {
    let subject = subject.to_lowercase();
    AUTO_REPLY_MARKERS
        .iter()
        .any(|marker| subject.contains(marker))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_replies() {
        assert!(is_auto_reply("Out of Office: back on Monday"));
        assert!(is_auto_reply("Automatic reply: Your invoice"));
        assert!(is_auto_reply("Abwesenheitsnotiz"));
        assert!(is_auto_reply("Réponse automatique : absent"));
        assert!(!is_auto_reply("Where is my invoice?"));
        assert!(!is_auto_reply(""));
    }
}
