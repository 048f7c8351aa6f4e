//! `classifier`: the first step of the sample business process.
//!
//! It reads an e-mail's `Subject` and `Body`, decides a category and a language,
//! records both as attached data and moves the e-mail to the queue configured for
//! its category.
//!
//! World: `business-process-with-init` (the host calls `init` with this component's
//! `config` table once per instance, before the first `handle`).
//!
//! Config keys:
//!
//! | key               | meaning                                                           |
//! |-------------------|-------------------------------------------------------------------|
//! | `queue.general`   | required: queue for `general`, and the fallback for every other one |
//! | `queue.billing`   | queue for `billing` (default: `queue.general`)                    |
//! | `queue.technical` | queue for `technical` (default: `queue.general`)                  |
//! | `queue.sales`     | queue for `sales` (default: `queue.general`)                      |
//! | `else-queue`      | queue for anything that is not an e-mail (default: `queue.general`) |
//!
//! For each interaction:
//!
//! - `Subject` and `Body` are read as strings, a missing one counting as empty. If
//!   either holds another type, `handle` returns `err("Subject is not a string")`
//!   (or `Body …`) and the host sends the interaction to the error queue.
//! - An interaction whose media type is not `email` moves to `else-queue`,
//!   unchanged.
//! - An e-mail gets `Category` (`billing`, `technical`, `sales` or `general`) and
//!   `Language` (`en`, `de`, `fr`, `es`, `ru`, `ja` or `ar`) and moves to
//!   `queue.<Category>`.
//!
//! The rules are deliberately simple keyword and script checks: replace them with
//! whatever your business needs, the plumbing around them stays the same. They live
//! in [`logic`], plain Rust without WIT types; this file only adapts them to the
//! `ixn:bp` world.

wit_bindgen::generate!({
    path: "../../../wit/bp",
    world: "business-process-with-init",
});

pub mod logic;

use std::sync::{Mutex, PoisonError};

use ixn::bp::host;
use ixn::bp::types::{Action, LogLevel, Property, Value};
use logic::{Choice, Config};

/// The component's configuration, set by `init`.
///
/// One instance handles one call at a time, so the lock is never contended; it is
/// only there because a `static` must be `Sync`.
static CONFIG: Mutex<Option<Config>> = Mutex::new(None);

struct Classifier;

impl Guest for Classifier {
    fn init(config: Vec<(String, String)>) -> Result<(), String> {
        let config = Config::from_table(config)?;
        host::log(
            LogLevel::Debug,
            &format!(
                "Classifier configured: general queue {:?}, {} category queue(s), else-queue {:?}.",
                config.general_queue,
                config.category_queues.len(),
                config.else_queue,
            ),
        );
        *CONFIG.lock().unwrap_or_else(PoisonError::into_inner) = Some(config);
        Ok(())
    }

    fn handle(interaction: Interaction, _context: ViewContext) -> Result<Decision, String> {
        let guard = CONFIG.lock().unwrap_or_else(PoisonError::into_inner);
        let config = guard
            .as_ref()
            .ok_or("classifier is not configured: init was not called")?;

        let subject = string_property(&interaction, "Subject")?;
        let body = string_property(&interaction, "Body")?;

        match logic::decide(config, &interaction.media_type, subject, body) {
            Choice::NotEmail { queue } => {
                host::log(
                    LogLevel::Debug,
                    &format!(
                        "Interaction {} has media type {:?}, not email: moved to {queue:?}.",
                        interaction.id, interaction.media_type,
                    ),
                );
                Ok(Decision {
                    action: Action::MoveToQueue(queue.to_string()),
                    set_properties: Vec::new(),
                    remove_properties: Vec::new(),
                })
            }
            Choice::Email {
                category,
                language,
                queue,
            } => {
                let language = language.code();
                host::log(
                    LogLevel::Debug,
                    &format!(
                        "Interaction {} classified as {} in {language}: moved to {queue:?}.",
                        interaction.id,
                        category.name(),
                    ),
                );
                Ok(Decision {
                    action: Action::MoveToQueue(queue.to_string()),
                    set_properties: vec![
                        string_value("Category", category.name()),
                        string_value("Language", language),
                    ],
                    remove_properties: Vec::new(),
                })
            }
        }
    }
}

export!(Classifier);

// ---------------------------------------------------------------------------------
// Attached data
// ---------------------------------------------------------------------------------

/// The string value of property `key`: `""` when the property is missing, an error
/// when it holds a value of another type.
fn string_property<'a>(interaction: &'a Interaction, key: &str) -> Result<&'a str, String> {
    match interaction.properties.iter().find(|p| p.key == key) {
        None => Ok(""),
        Some(Property {
            value: Value::Str(s),
            ..
        }) => Ok(s),
        Some(_) => Err(format!("{key} is not a string")),
    }
}

/// A string property to set.
fn string_value(key: &str, value: &str) -> Property {
    Property {
        key: key.to_string(),
        value: Value::Str(value.to_string()),
    }
}
