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

/// The keys every broker sink has, and reading a sink's settings document:
/// a sink's `Settings` implements the three accessors and [`check`], and
/// gets [`parse`] (for `open`) and [`problems`] (for `validate`).
///
/// [`check`]: BrokerSettings::check
/// [`parse`]: BrokerSettings::parse
/// [`problems`]: BrokerSettings::problems
pub trait BrokerSettings: DeserializeOwned {
    /// The sink's name, as its messages start (`amqp sink settings: …`).
    const SINK: &'static str;
    /// The URL schemes it takes.
    const SCHEMES: &'static [&'static str];

    /// `url`.
    fn url(&self) -> &str;
    /// `connect-timeout`, milliseconds.
    fn connect_timeout_ms(&self) -> u64;
    /// `publish-timeout`, milliseconds.
    fn publish_timeout_ms(&self) -> u64;

    /// The sink's own problems beyond types, added to `problems`, which
    /// holds those of the common keys already.
    fn check(&self, problems: &mut Vec<SettingProblem>);

    /// Every problem with the document, each with its key.
    fn problems(document: &str) -> Vec<SettingProblem> {
        Self::read(document).err().unwrap_or_default()
    }

    /// Parses the document for `open`: the first problem as a permanent error.
    fn parse(document: &str) -> Result<Self, SinkError> {
        Self::read(document).map_err(|p| first_problem(Self::SINK, p))
    }

    /// The settings, or every problem: types, then common keys, then [`BrokerSettings::check`].
    fn read(document: &str) -> Result<Self, Vec<SettingProblem>> {
        read_settings(document, |s: &Self| {
            let mut problems = s.common_problems(Self::SCHEMES);
            s.check(&mut problems);
            problems
        })
    }

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
                    redact(self.url()),
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

/// The URL with its password as `***`, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_a_message() {
        assert_eq!(
            redact("amqp://guest:secret@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(redact("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        // The password may hold an `@`: everything up to the last one goes.
        assert_eq!(redact("amqp://u:p@ss@h/v"), "amqp://u:***@h/v");

        struct S(String);
        impl BrokerSettings for S {
            const SINK: &'static str = "test";
            const SCHEMES: &'static [&'static str] = &["amqp"];
            fn url(&self) -> &str {
                &self.0
            }
            fn connect_timeout_ms(&self) -> u64 {
                5_000
            }
            fn publish_timeout_ms(&self) -> u64 {
                10_000
            }
            fn check(&self, _: &mut Vec<SettingProblem>) {}
        }
        impl<'de> serde::Deserialize<'de> for S {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d).map(S)
            }
        }
        let problems = S("http://user:hunter2@host".into()).common_problems(S::SCHEMES);
        assert_eq!(problems.len(), 1);
        assert!(
            !problems[0].message.contains("hunter2"),
            "{}",
            problems[0].message
        );
    }
}
