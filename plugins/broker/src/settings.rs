//! Reading a message-queue sink's settings document.
//!
//! Every such sink takes, besides its own keys:
//!
//! | key | meaning |
//! |---|---|
//! | `url` | the broker (required) |
//! | `delivery-queue-name` | the queue, subject or topic (set by the host from `logger-settings`) |
//! | `recoverable` | persistent delivery (set by the host from `logger-settings`; default false) |
//! | `connect-timeout` | milliseconds a connection attempt may take (100–60000, default 5000) |
//! | `publish-timeout` | milliseconds a batch may wait for the broker's acknowledgements (100–600000, default 10000) |

use std::time::Duration;

use ixn_plugin_api::settings::read_document;
use ixn_plugin_api::sink::{SettingProblem, SinkError};
use serde::de::DeserializeOwned;

/// The keys every broker sink has.
pub trait BrokerSettings {
    /// `url`.
    fn url(&self) -> &str;
    /// `connect-timeout`, milliseconds.
    fn connect_timeout_ms(&self) -> u64;
    /// `publish-timeout`, milliseconds.
    fn publish_timeout_ms(&self) -> u64;

    /// How long a connection attempt may take.
    fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms())
    }

    /// How long a batch may wait for its acknowledgements.
    fn publish_timeout(&self) -> Duration {
        Duration::from_millis(self.publish_timeout_ms())
    }

    /// Problems of the common keys beyond their types.
    fn common_problems(&self, scheme: &[&str]) -> Vec<SettingProblem> {
        let mut problems = Vec::new();
        if !scheme
            .iter()
            .any(|s| self.url().starts_with(&format!("{s}://")))
        {
            problems.push(SettingProblem::new(
                "url",
                format!(
                    "`{}` is not a broker URL: want {}",
                    self.url(),
                    scheme
                        .iter()
                        .map(|s| format!("{s}://host:port"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            ));
        }
        for (key, value, min, max) in [
            ("connect-timeout", self.connect_timeout_ms(), 100, 60_000),
            ("publish-timeout", self.publish_timeout_ms(), 100, 600_000),
        ] {
            if !(min..=max).contains(&value) {
                problems.push(SettingProblem::new(
                    key,
                    format!("{value} is out of range: want {min}..={max} (milliseconds)"),
                ));
            }
        }
        problems
    }
}

/// Default `connect-timeout`.
pub fn default_connect_timeout() -> u64 {
    5_000
}

/// Default `publish-timeout`.
pub fn default_publish_timeout() -> u64 {
    10_000
}

/// The custom-data sections a logger may have. A message carries every
/// field the host mapped into the event as it is, so a broker sink has
/// nothing more to do with them than check they are maps of text.
pub const CUSTOM_DATA_SECTIONS: [&str; 5] = [
    "itx-custom-data",
    "esp-custom-data",
    "esp-service-data",
    "agent-custom-data",
    "custom-customdata",
];

/// `document` as the settings `T`, or every problem with it: type problems
/// first, then those `check` finds in settings that deserialise.
pub fn read_settings<T: DeserializeOwned>(
    document: &str,
    check: impl Fn(&T) -> Vec<SettingProblem>,
) -> Result<T, Vec<SettingProblem>> {
    let mut problems = Vec::new();
    let document = match serde_json::from_str::<serde_json::Value>(document) {
        Ok(serde_json::Value::Object(mut map)) => {
            for section in CUSTOM_DATA_SECTIONS {
                match map.remove(section) {
                    None => {}
                    Some(serde_json::Value::Object(entries)) => {
                        for (key, spec) in entries {
                            if !spec.is_string() {
                                problems.push(SettingProblem::new(
                                    format!("{section}.{key}"),
                                    "want a text `field;type;length`",
                                ));
                            }
                        }
                    }
                    Some(_) => problems.push(SettingProblem::new(section, "want a table")),
                }
            }
            serde_json::Value::Object(map).to_string()
        }
        _ => document.to_string(),
    };
    let settings: T = read_document(&document).map_err(|all| {
        problems
            .drain(..)
            .chain(all.into_iter().map(SettingProblem::from_document))
            .collect::<Vec<_>>()
    })?;
    if !problems.is_empty() {
        return Err(problems);
    }
    let problems = check(&settings);
    if problems.is_empty() {
        Ok(settings)
    } else {
        Err(problems)
    }
}

/// The first problem as the permanent error `open` returns.
pub fn first_problem(sink: &str, problems: Vec<SettingProblem>) -> SinkError {
    let (key, message) = problems
        .first()
        .map(|p| (p.key.as_str(), p.message.as_str()))
        .unwrap_or_default();
    SinkError::permanent(format!("{sink} sink settings: `{key}`: {message}"))
}
